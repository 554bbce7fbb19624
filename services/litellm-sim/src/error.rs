//! LiteLLM's error bodies: the `{"error": {message, type, param, code}}` envelope that
//! `ProxyException` renders, and FastAPI's `{"detail": [...]}` for request validation.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::util::py_repr_str;

/// An error answer, ready to be sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    /// Raised as a FastAPI `HTTPException` inside a management route: `/key/update` renders
    /// those differently from the other routes (see [`ApiError::in_update`]).
    pub(crate) http_exception: bool,
}

impl ApiError {
    /// A `ProxyException`: `code` is the status as a string; `param` null when `None`.
    pub fn proxy(
        status: StatusCode,
        message: impl Into<String>,
        kind: &str,
        param: Option<&str>,
    ) -> Self {
        let body = json!({
            "error": {
                "message": message.into(),
                "type": kind,
                "param": param,
                "code": status.as_u16().to_string(),
            }
        });
        Self {
            status,
            body,
            http_exception: false,
        }
    }

    /// An `HTTPException(detail={"error": msg})` from a management route, as
    /// `handle_exception_on_proxy` renders it: the message is `str(detail)`, the type
    /// `internal_server_error` whatever the status, `param` null.
    pub fn http_exception(status: StatusCode, error: &str) -> Self {
        let message = format!("{{'error': {}}}", py_repr_str(error));
        Self::http_exception_text(status, message)
    }

    /// An `HTTPException(detail="text")` (a plain string detail) from a management route.
    pub fn http_exception_text(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            http_exception: true,
            ..Self::proxy(status, message, "internal_server_error", None)
        }
    }

    /// How `update_key_fn` re-raises what it catches: an `HTTPException` becomes a
    /// `ProxyException` of type `auth_error` with `param` "None" (same status and message);
    /// anything else passes through.
    pub fn in_update(self) -> Self {
        if !self.http_exception {
            return self;
        }
        let message = self.body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Self::proxy(self.status, message, "auth_error", Some("None"))
    }

    /// FastAPI's own rendering of an `HTTPException` raised outside the proxy's handlers:
    /// `{"detail": <detail>}` (the daily-activity routes answer this way).
    pub fn fastapi_detail(status: StatusCode, detail: Value) -> Self {
        Self {
            status,
            body: json!({ "detail": detail }),
            http_exception: false,
        }
    }

    /// 401 `auth_error`, with the "Authentication Error, " prefix LiteLLM adds.
    pub fn auth(detail: &str) -> Self {
        Self::proxy(
            StatusCode::UNAUTHORIZED,
            format!("Authentication Error, {detail}"),
            "auth_error",
            Some("None"),
        )
    }

    /// 401 `token_not_found_in_db`: an `sk-` key that is not (or no longer) in the
    /// verification table (`auth_checks.py` `get_key_object`).
    pub fn token_not_found() -> Self {
        Self::proxy(
            StatusCode::UNAUTHORIZED,
            "Authentication Error, Invalid API key provided.",
            "token_not_found_in_db",
            Some("key"),
        )
    }

    pub fn bad_request(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::proxy(StatusCode::BAD_REQUEST, message, "bad_request_error", param)
    }

    pub fn not_found(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::proxy(StatusCode::NOT_FOUND, message, "not_found_error", param)
    }

    /// FastAPI/pydantic request validation: 422 `{"detail": [{"type", "loc", "msg"}]}` (the
    /// proxy hides the offending input). `input` is kept for the sim's own logs only.
    pub fn validation(loc: &[&str], kind: &str, msg: &str, input: Value) -> Self {
        tracing::debug!(?loc, %input, "request validation failed");
        let body = json!({"detail": [{"type": kind, "loc": loc, "msg": msg}]});
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body,
            http_exception: false,
        }
    }

    /// A body that is not JSON at all, as FastAPI reports it: the location is the character
    /// offset where Python's `json.loads` gave up ([`python_json_error_offset`]).
    pub fn json_decode(err: &serde_json::Error, body: &[u8]) -> Self {
        let offset = python_json_error_offset(err, &String::from_utf8_lossy(body));
        let body = json!({"detail": [{
            "type": "json_invalid",
            "loc": ["body", offset],
            "msg": "JSON decode error",
        }]});
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body,
            http_exception: false,
        }
    }
}

/// Where Python's `json.loads` reports a syntax error, from serde_json's line and column:
/// Python points at the start of the value it could not read (a bare word such as `not`, an
/// unterminated string) and past the end at end of input, serde_json at the character where
/// it stopped.
pub(crate) fn python_json_error_offset(err: &serde_json::Error, text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let line_start: usize = text
        .split('\n')
        .take(err.line().saturating_sub(1))
        .map(|line| line.chars().count() + 1)
        .sum();
    let mut offset = if err.is_eof() {
        chars.len()
    } else {
        (line_start + err.column().saturating_sub(1)).min(chars.len())
    };
    if err.is_eof() && err.to_string().contains("while parsing a string") {
        // "Unterminated string starting at": the opening quote.
        if let Some(quote) = chars[..offset].iter().rposition(|c| *c == '"') {
            return quote;
        }
    }
    while offset > 0 && chars[offset - 1].is_ascii_alphabetic() {
        offset -= 1;
    }
    offset
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(text: &str) -> usize {
        let err = serde_json::from_str::<Value>(text).expect_err("not JSON");
        python_json_error_offset(&err, text)
    }

    #[test]
    fn json_error_offsets_are_pythons() {
        // Observed on LiteLLM 1.108.7: `loc: ["body", offset]`.
        assert_eq!(offset("not json"), 0);
        assert_eq!(offset("{"), 1);
        assert_eq!(offset(r#"{"a": 1,}"#), 8);
        assert_eq!(offset(r#"{"max_budget": 1"#), 16);
        assert_eq!(offset("  nul"), 2);
        assert_eq!(offset(r#"{"a"#), 1);
    }
}
