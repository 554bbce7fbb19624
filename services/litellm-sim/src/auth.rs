//! Authentication as `user_api_key_auth` does it: which header carries the key, the master key
//! for admin routes, and virtual keys (blocked, expired, model access) for LLM routes.

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::records::KeyRecord;
use crate::store::State;
use crate::util::{abbreviate, hash_token, py_datetime};

/// The key a request carries, by LiteLLM's header order; the first header present wins.
///
/// `None` when no header is present; `Some("")` when `Authorization` is present but not in a
/// form LiteLLM reads (for example a bare `sk-...`), which LiteLLM treats as no key.
pub(crate) fn extract_key(headers: &HeaderMap) -> Option<String> {
    let get = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("").trim().to_string())
    };
    if let Some(value) = get("x-litellm-api-key") {
        return Some(strip_bearer(&value).unwrap_or(&value).trim().to_string());
    }
    if let Some(value) = get("authorization") {
        return Some(authorization_key(&value));
    }
    [
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "ocp-apim-subscription-key",
    ]
    .into_iter()
    .find_map(get)
}

fn strip_bearer(value: &str) -> Option<&str> {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
}

fn authorization_key(value: &str) -> String {
    if let Some(key) = strip_bearer(value).or_else(|| value.strip_prefix("Basic ")) {
        return key.trim().to_string();
    }
    // AWS SigV4: `AWS4-HMAC-SHA256 Credential=Bearer sk-.../...`.
    if let Some((_, rest)) = value.split_once("Credential=Bearer ") {
        let end = rest.find(['/', ',', ' ']).unwrap_or(rest.len());
        return rest[..end].to_string();
    }
    String::new()
}

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    Master,
    /// A live virtual key (its hash).
    Virtual(String),
}

fn no_key() -> ApiError {
    ApiError::auth("No api key passed in.")
}

/// An `Authorization` header LiteLLM cannot read a key from (no `Bearer `).
fn malformed_key() -> ApiError {
    ApiError::auth("Malformed API Key passed in. Ensure Key has `Bearer ` prefix.")
}

/// The 401 for an `sk-` key that is not in the verification table (never existed, or
/// deleted): `token_not_found_in_db`, `param` "key".
pub(crate) fn invalid_token() -> ApiError {
    ApiError::token_not_found()
}

fn blocked() -> ApiError {
    ApiError::auth("Key is blocked. Update via `/key/unblock` if you're an admin.")
}

fn expired(record: &KeyRecord, raw: &str, now: DateTime<Utc>) -> ApiError {
    let expiry = record.expires.map(py_datetime).unwrap_or_default();
    ApiError::proxy(
        StatusCode::UNAUTHORIZED,
        format!(
            "Authentication Error - Expired Key. Key Expiry time {expiry} and current time {}",
            py_datetime(now)
        ),
        "expired_key",
        Some(&abbreviate(raw)),
    )
}

/// The key a request presents, when it presents one that is not empty.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<String> {
    extract_key(headers).filter(|key| !key.is_empty())
}

/// Authenticates any caller: the master key, or a live, unblocked, unexpired virtual key.
pub(crate) fn authenticate(
    headers: &HeaderMap,
    master_key: &str,
    state: &State,
    now: DateTime<Utc>,
) -> Result<(Caller, String), ApiError> {
    let key = match extract_key(headers) {
        None => return Err(no_key()),
        Some(key) if key.is_empty() => return Err(malformed_key()),
        Some(key) => key,
    };
    if key == master_key {
        return Ok((Caller::Master, key));
    }
    if !key.starts_with("sk-") {
        // An `HTTPException(401, detail=...)`: no "Authentication Error, " prefix.
        return Err(ApiError::proxy(
            StatusCode::UNAUTHORIZED,
            format!(
                "LiteLLM Virtual Key expected. Received={}, expected to start with 'sk-'.",
                mask(&key)
            ),
            "auth_error",
            Some("None"),
        ));
    }
    let token = hash_token(&key);
    let Some(record) = state.keys.get(&token) else {
        return Err(invalid_token());
    };
    if record.blocked == Some(true) {
        return Err(blocked());
    }
    if record.is_expired(now) {
        return Err(expired(record, &key, now));
    }
    Ok((Caller::Virtual(token), key))
}

/// Admin routes: the master key only. A virtual key is refused, except on `/key/info`, where
/// the route decides what it may read.
///
/// A request refused because its key does not authenticate (unknown, not `sk-`, blocked,
/// expired) is counted, as LiteLLM counts it, as a failed request of that key (by the hash of
/// what was presented) in the daily spend table, with no model and no endpoint.
pub(crate) fn require_admin(
    headers: &HeaderMap,
    master_key: &str,
    state: &mut State,
    now: DateTime<Utc>,
    route: &str,
) -> Result<Caller, ApiError> {
    let (caller, _) = authenticate(headers, master_key, state, now).inspect_err(|_| {
        if let Some(key) = presented_key(headers) {
            state
                .daily
                .record_failed_request(now.date_naive(), &hash_token(&key), "", "");
        }
    })?;
    match caller {
        Caller::Master => Ok(caller),
        Caller::Virtual(_) if route == "/key/info" => Ok(caller),
        Caller::Virtual(_) => Err(ApiError::auth(&format!(
            "Only proxy admin can be used to generate, delete, update info for new keys/users/teams. \
             Route={route}. Your role=unknown. Your user_id=*******"
        ))),
    }
}

/// How LiteLLM masks a value that is not a LiteLLM key in its error message: the first and
/// last four characters around `****`, or only `****` for 8 characters or fewer.
fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 8 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_litellm() {
        // Observed on LiteLLM 1.108.7.
        assert_eq!(mask("nonsk-123456"), "nons****3456");
        assert_eq!(mask("differential-key"), "diff****-key");
        assert_eq!(mask("abc"), "****");
        assert_eq!(mask("12345678"), "****");
    }
}
