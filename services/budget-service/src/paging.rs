//! Opaque page tokens (AIP-158): callers pass back what we gave them and never parse it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::domain::FieldViolation;

/// Clamps a requested page size: 0 means `default`, above `max` means `max`, negative is invalid.
pub(crate) fn page_size(requested: i32, default: i64, max: i64) -> Result<i64, FieldViolation> {
    match requested {
        0 => Ok(default),
        n if n < 0 => Err(FieldViolation::new(
            "page_size",
            "Page size must not be negative",
        )),
        n => Ok(i64::from(n).min(max)),
    }
}

/// Encodes a newest-first position (time, id) for `kind`.
pub(crate) fn encode_cursor(kind: &str, (time, id): (DateTime<Utc>, i64)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{}:{id}", time.timestamp_micros()))
}

/// The latest time a cursor may name (the end of year 9999): every time we page by was
/// written by PostgreSQL's `now()`, and times outside PostgreSQL's range would fail the query.
const MAX_CURSOR_MICROS: i64 = 253_402_300_799_999_999;

/// Decodes a token made by [`encode_cursor`] for the same `kind`; empty means the first page.
pub(crate) fn decode_cursor(
    kind: &str,
    token: &str,
) -> Result<Option<(DateTime<Utc>, i64)>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    let text = decode(token)?;
    let mut parts = text.splitn(3, ':');
    let parsed = match (parts.next(), parts.next(), parts.next()) {
        (Some(k), Some(micros), Some(id)) if k == kind => micros
            .parse::<i64>()
            .ok()
            .filter(|micros| (0..=MAX_CURSOR_MICROS).contains(micros))
            .and_then(DateTime::from_timestamp_micros)
            .zip(id.parse::<i64>().ok()),
        _ => None,
    };
    parsed.map(Some).ok_or_else(invalid)
}

/// Encodes the last key of a page ordered by a text key.
pub(crate) fn encode_key(kind: &str, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

/// Decodes a token made by [`encode_key`] for the same `kind`.
pub(crate) fn decode_key(kind: &str, token: &str) -> Result<Option<String>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    let text = decode(token)?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(|key| Some(key.to_owned()))
        .ok_or_else(invalid)
}

/// Tokens we make never hold control characters; one that does (a NUL would reach SQL) is
/// not ours.
fn decode(token: &str) -> Result<String, FieldViolation> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|text| !text.chars().any(char::is_control))
        .ok_or_else(invalid)
}

fn invalid() -> FieldViolation {
    FieldViolation::new(
        "page_token",
        "Page token is invalid; start again from the first page",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_tokens() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let token = encode_cursor("alerts", (at, 42));
        assert_eq!(decode_cursor("alerts", &token), Ok(Some((at, 42))));
        assert!(decode_cursor("audit", &token).is_err());
        assert!(decode_cursor("alerts", "not base64!").is_err());
        assert_eq!(decode_cursor("alerts", ""), Ok(None));
        let key = encode_key("tenants", "acme");
        assert_eq!(decode_key("tenants", &key), Ok(Some("acme".into())));
        assert!(decode_key("alerts", &key).is_err());
        for micros in [
            -1,
            i64::MIN,
            -8_000_000_000_000_000_000,
            MAX_CURSOR_MICROS + 1,
        ] {
            let token = URL_SAFE_NO_PAD.encode(format!("alerts:{micros}:1"));
            assert!(decode_cursor("alerts", &token).is_err(), "{micros}");
        }
        let nul = URL_SAFE_NO_PAD.encode("tenants:a\0");
        assert!(decode_key("tenants", &nul).is_err());
    }

    #[test]
    fn page_sizes_are_clamped() {
        assert_eq!(page_size(0, 10, 100), Ok(10));
        assert_eq!(page_size(500, 10, 100), Ok(100));
        assert_eq!(page_size(7, 10, 100), Ok(7));
        assert!(page_size(-1, 10, 100).is_err());
    }
}
