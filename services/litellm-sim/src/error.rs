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
        Self { status, body }
    }

    /// An `HTTPException(detail={"error": msg})` from a management route, as
    /// `handle_exception_on_proxy` renders it: the message is `str(detail)`.
    pub fn http_exception(status: StatusCode, error: &str) -> Self {
        let message = format!("{{'error': {}}}", py_repr_str(error));
        Self::proxy(status, message, "internal_server_error", Some("None"))
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

    pub fn bad_request(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::proxy(StatusCode::BAD_REQUEST, message, "bad_request_error", param)
    }

    pub fn not_found(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::proxy(StatusCode::NOT_FOUND, message, "not_found_error", param)
    }

    /// FastAPI/pydantic request validation: 422 `{"detail": [{"type", "loc", "msg", "input"}]}`.
    pub fn validation(loc: &[&str], kind: &str, msg: &str, input: Value) -> Self {
        let body = json!({"detail": [{"type": kind, "loc": loc, "msg": msg, "input": input}]});
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body,
        }
    }

    /// A body that is not JSON at all, as FastAPI reports it.
    pub fn json_decode(err: &serde_json::Error) -> Self {
        let body = json!({"detail": [{
            "type": "json_invalid",
            "loc": ["body", err.column()],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": err.to_string()},
        }]});
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
