//! Reading request bodies and query strings with pydantic/FastAPI's lax coercions and their
//! 422 `{"detail": [...]}` errors.

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::util::parse_json_lenient;

/// The request body as a JSON object (422 when it is not JSON or not an object).
pub(crate) fn body_object(body: &Bytes) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation(
            &["body"],
            "missing",
            "Field required",
            Value::Null,
        ));
    }
    match parse_json_lenient(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::validation(
            &["body"],
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from",
            other,
        )),
        Err(err) => Err(ApiError::json_decode(&err, body)),
    }
}

/// `None`: field absent; `Some(None)`: explicit null; `Some(Some(v))`: a value.
pub(crate) type Patch<T> = Option<Option<T>>;

fn invalid(name: &str, kind: &str, msg: &str, input: &Value) -> ApiError {
    ApiError::validation(&["body", name], kind, msg, input.clone())
}

pub(crate) fn opt_string(body: &Map<String, Value>, name: &str) -> ApiResult<Patch<String>> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(other) => Err(invalid(
            name,
            "string_type",
            "Input should be a valid string",
            other,
        )),
    }
}

/// A float the way pydantic's lax mode reads one: numbers and numeric strings (`"NaN"` and
/// `"inf"` included). With `empty_is_null`, `""` counts as null (LiteLLM's budget fields).
pub(crate) fn opt_f64(
    body: &Map<String, Value>,
    name: &str,
    empty_is_null: bool,
) -> ApiResult<Patch<f64>> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => Ok(Some(n.as_f64())),
        // pydantic's lax mode reads booleans as 0 and 1 (`max_budget: true` is 1.0).
        Some(Value::Bool(b)) => Ok(Some(Some(if *b { 1.0 } else { 0.0 }))),
        Some(Value::String(s)) if empty_is_null && s.trim().is_empty() => Ok(Some(None)),
        Some(value @ Value::String(s)) => {
            s.trim().parse::<f64>().map(|v| Some(Some(v))).map_err(|_| {
                invalid(
                    name,
                    "float_parsing",
                    "Input should be a valid number, unable to parse string as a number",
                    value,
                )
            })
        }
        Some(other) => Err(invalid(
            name,
            "float_type",
            "Input should be a valid number",
            other,
        )),
    }
}

pub(crate) fn opt_i64(body: &Map<String, Value>, name: &str) -> ApiResult<Patch<i64>> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(value @ Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(Some(i)));
            }
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(Some(f as i64))),
                _ => Err(invalid(
                    name,
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part",
                    value,
                )),
            }
        }
        Some(Value::Bool(b)) => Ok(Some(Some(i64::from(*b)))),
        Some(value @ Value::String(s)) => {
            s.trim().parse::<i64>().map(|v| Some(Some(v))).map_err(|_| {
                invalid(
                    name,
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                    value,
                )
            })
        }
        Some(other) => Err(invalid(
            name,
            "int_type",
            "Input should be a valid integer",
            other,
        )),
    }
}

pub(crate) fn opt_bool(body: &Map<String, Value>, name: &str) -> ApiResult<Patch<bool>> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Bool(b)) => Ok(Some(Some(*b))),
        Some(value @ Value::String(s)) => parse_bool(s).map(|b| Some(Some(b))).ok_or_else(|| {
            invalid(
                name,
                "bool_parsing",
                "Input should be a valid boolean, unable to interpret input",
                value,
            )
        }),
        Some(value @ Value::Number(n)) => match n.as_i64() {
            Some(0) => Ok(Some(Some(false))),
            Some(1) => Ok(Some(Some(true))),
            _ => Err(invalid(
                name,
                "bool_parsing",
                "Input should be a valid boolean",
                value,
            )),
        },
        Some(other) => Err(invalid(
            name,
            "bool_type",
            "Input should be a valid boolean",
            other,
        )),
    }
}

pub(crate) fn opt_object(
    body: &Map<String, Value>,
    name: &str,
) -> ApiResult<Patch<Map<String, Value>>> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Object(map)) => Ok(Some(Some(map.clone()))),
        Some(other) => Err(invalid(
            name,
            "dict_type",
            "Input should be a valid dictionary",
            other,
        )),
    }
}

pub(crate) fn opt_list(body: &Map<String, Value>, name: &str) -> ApiResult<Patch<Vec<Value>>> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Array(items)) => Ok(Some(Some(items.clone()))),
        Some(other) => Err(invalid(
            name,
            "list_type",
            "Input should be a valid list",
            other,
        )),
    }
}

pub(crate) fn opt_string_list(
    body: &Map<String, Value>,
    name: &str,
) -> ApiResult<Patch<Vec<String>>> {
    let Some(list) = opt_list(body, name)? else {
        return Ok(None);
    };
    let Some(items) = list else {
        return Ok(Some(None));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(ApiError::validation(
                &["body", name, "0"],
                "string_type",
                "Input should be a valid string",
                other.clone(),
            )),
        })
        .collect::<ApiResult<Vec<String>>>()
        .map(|v| Some(Some(v)))
}

pub(crate) fn opt_datetime(
    body: &Map<String, Value>,
    name: &str,
) -> ApiResult<Patch<DateTime<Utc>>> {
    match opt_string(body, name)? {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(text)) => parse_datetime(&text).map(|t| Some(Some(t))).ok_or_else(|| {
            ApiError::validation(
                &["body", name],
                "datetime_from_date_parsing",
                "Input should be a valid datetime",
                Value::String(text),
            )
        }),
    }
}

/// ISO 8601 with or without an offset (naive values are UTC, as LiteLLM assumes).
pub(crate) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    None
}

/// FastAPI's boolean query/body strings.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// A query parameter read as an integer, 422 when it is not one.
pub(crate) fn query_int(value: Option<&String>, name: &str, default: i64) -> ApiResult<i64> {
    match value {
        None => Ok(default),
        Some(text) => text.trim().parse::<i64>().map_err(|_| {
            ApiError::validation(
                &["query", name],
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
                Value::String(text.clone()),
            )
        }),
    }
}

/// A query parameter read as a boolean, 422 when it is not one.
pub(crate) fn query_bool(value: Option<&String>, name: &str) -> ApiResult<bool> {
    match value {
        None => Ok(false),
        Some(text) => parse_bool(text).ok_or_else(|| {
            ApiError::validation(
                &["query", name],
                "bool_parsing",
                "Input should be a valid boolean, unable to interpret input",
                Value::String(text.clone()),
            )
        }),
    }
}
