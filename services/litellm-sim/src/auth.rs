//! Authentication as `user_api_key_auth` does it: which header carries the key, the master key
//! for admin routes, and virtual keys (blocked, expired, model access) for LLM routes.

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::store::{KeyRecord, State};
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

/// The 401 for a key that is not in the verification table (never existed or deleted).
pub(crate) fn invalid_token(raw: &str) -> ApiError {
    ApiError::auth(&format!(
        "Invalid proxy server token passed. Received API Key = {}, Key Hash (Token) ={}. \
         Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
        abbreviate(raw),
        hash_token(raw)
    ))
}

fn blocked() -> ApiError {
    ApiError::auth("Key is blocked. Update via `/key/unblock` if you're an admin.")
}

fn expired(record: &KeyRecord, raw: &str, now: DateTime<Utc>) -> ApiError {
    let expiry = record.expires.map(py_datetime).unwrap_or_default();
    ApiError::proxy(
        StatusCode::BAD_REQUEST,
        format!(
            "Authentication Error - Expired Key. Key Expiry time {expiry} and current time {}",
            py_datetime(now)
        ),
        "expired_key",
        Some(&abbreviate(raw)),
    )
}

/// Authenticates any caller: the master key, or a live, unblocked, unexpired virtual key.
pub(crate) fn authenticate(
    headers: &HeaderMap,
    master_key: &str,
    state: &State,
    now: DateTime<Utc>,
) -> Result<(Caller, String), ApiError> {
    let key = extract_key(headers).unwrap_or_default();
    if key.is_empty() {
        return Err(no_key());
    }
    if key == master_key {
        return Ok((Caller::Master, key));
    }
    if !key.starts_with("sk-") {
        return Err(ApiError::auth(&format!(
            "LiteLLM Virtual Key expected. Received={}, expected to start with 'sk-'.",
            mask(&key)
        )));
    }
    let token = hash_token(&key);
    let Some(record) = state.keys.get(&token) else {
        return Err(invalid_token(&key));
    };
    if record.blocked == Some(true) {
        return Err(blocked());
    }
    if record.is_expired(now) {
        return Err(expired(record, &key, now));
    }
    Ok((Caller::Virtual(token), key))
}

/// Admin routes: the master key only. A virtual key is refused (with `allow_own_key_info`, the
/// caller may still read its own key).
pub(crate) fn require_admin(
    headers: &HeaderMap,
    master_key: &str,
    state: &State,
    now: DateTime<Utc>,
    route: &str,
) -> Result<Caller, ApiError> {
    let (caller, _) = authenticate(headers, master_key, state, now)?;
    match caller {
        Caller::Master => Ok(caller),
        Caller::Virtual(_) if route == "/key/info" => Ok(caller),
        Caller::Virtual(_) => Err(ApiError::auth(&format!(
            "Only proxy admin can be used to generate, delete, update info for new keys/users/teams. \
             Route={route}. Your role=None. You can only use /key/info for your own key."
        ))),
    }
}

/// `x...****` style masking of a value that is not a LiteLLM key, for error messages.
fn mask(value: &str) -> String {
    let head: String = value.chars().take(4).collect();
    format!("{head}****")
}
