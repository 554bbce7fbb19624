//! Small helpers shared by the endpoints: key hashing, LiteLLM-style formatting of numbers,
//! timestamps and Python reprs, and a JSON reader as lenient as Python's.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

/// `hash_token` in LiteLLM: the sha256 hex digest of the raw key.
pub fn hash_token(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

/// `hash_token_if_needed`: a value starting with `sk-` is hashed, any other is taken as the hash.
pub fn hash_if_needed(value: &str) -> String {
    if value.starts_with("sk-") {
        hash_token(value)
    } else {
        value.to_string()
    }
}

/// LiteLLM's `key_name` / `abbreviate_api_key`: `sk-...` and the last four characters.
pub fn abbreviate(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("sk-...{tail}")
}

const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `"sk-" + secrets.token_urlsafe(16)`: 22 URL-safe characters after the prefix.
pub fn generate_raw_key() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..22)
        .map(|_| char::from(URL_SAFE[rng.random_range(0..URL_SAFE.len())]))
        .collect();
    format!("sk-{tail}")
}

/// RFC 3339 in UTC with a `Z`, whole seconds when there is no fraction, else microseconds.
pub fn fmt_ts(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_nanos() == 0 {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

/// Python's `str(datetime)` for an aware UTC datetime: `2026-09-12 20:36:47.844000+00:00`.
pub fn py_datetime(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
    }
}

/// Python's `repr(float)`, which LiteLLM's messages print (`50.0`, `0.000126`, `1e-07`).
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let exponent = x.abs().log10().floor() as i32;
    if !(-4..16).contains(&exponent) {
        // Rust prints the shortest round-trip digits as `1.5e-7`; Python writes `1.5e-07`.
        let s = format!("{x:e}");
        return match s.split_once('e') {
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                format!("{mantissa}e{sign}{digits:0>2}")
            }
            None => s,
        };
    }
    let s = format!("{x}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Python's `repr(str)`: single quotes unless the text has a single quote and no double quote.
pub fn py_repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Parses a request body the way Python's `json.loads` does, which also accepts the bare
/// literals `NaN`, `Infinity` and `-Infinity`. Those become the strings `"NaN"`, `"Infinity"`
/// and `"-Infinity"`, which the numeric field readers then turn into non-finite floats (and so
/// into LiteLLM's 400 for a non-finite budget).
pub fn parse_json_lenient(body: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(err) => {
            let Ok(text) = std::str::from_utf8(body) else {
                return Err(err);
            };
            serde_json::from_str(&quote_non_finite_literals(text)).map_err(|_| err)
        }
    }
}

fn quote_non_finite_literals(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        let literal = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|lit| rest.starts_with(lit));
        if let Some(lit) = literal {
            out.push('"');
            out.push_str(lit);
            out.push('"');
            rest = &rest[lit.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        assert_eq!(py_float(50.0), "50.0");
        assert_eq!(py_float(50.02), "50.02");
        assert_eq!(py_float(0.000126), "0.000126");
        assert_eq!(py_float(1e-7), "1e-07");
        assert_eq!(py_float(1.5e-7), "1.5e-07");
        assert_eq!(py_float(0.0), "0.0");
        assert_eq!(py_float(1e16), "1e+16");
        assert_eq!(py_float(10000.701821100023), "10000.701821100023");
    }

    #[test]
    fn python_str_repr() {
        assert_eq!(py_repr_str("abc"), "'abc'");
        assert_eq!(py_repr_str("it's"), "\"it's\"");
    }

    #[test]
    fn lenient_json_accepts_python_literals() {
        let v = parse_json_lenient(br#"{"a": NaN, "b": "NaN", "c": -Infinity}"#).unwrap();
        assert_eq!(v["a"], "NaN");
        assert_eq!(v["b"], "NaN");
        assert_eq!(v["c"], "-Infinity");
    }

    #[test]
    fn generated_keys_look_like_litellm_keys() {
        let key = generate_raw_key();
        assert!(key.starts_with("sk-"));
        assert_eq!(key.len(), 25);
        assert_eq!(abbreviate(&key).len(), 10);
    }
}
