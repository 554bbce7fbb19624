//! Sessions: the sealed cookie that carries a signed-in person's token, and reading it back.
//!
//! The cookie value is `base64url(version ‖ nonce ‖ XChaCha20-Poly1305(json))`, sealed with
//! `GATEWAY_SESSION_KEY`: the browser can neither read the token inside nor change a byte of it,
//! and every gateway replica with the same key can open it. The JSON holds the token, when the
//! session ends, and who budget-service said the token belongs to. Nothing is stored on the
//! server, so signing out forgets the cookie in the browser only.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use http::HeaderValue;
use http::header::COOKIE;
use serde::{Deserialize, Serialize};

/// The first byte of every sealed cookie; a new format gets a new number.
const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// Authenticated with every cookie, so nothing sealed with the same key for another purpose opens.
const ASSOCIATED_DATA: &[u8] = b"budget-gateway session";
/// The longest token accepted. Browsers keep cookies of up to 4096 bytes, and the sealed,
/// base64-encoded JSON is about 4/3 of the token plus 200 bytes.
pub(crate) const MAX_TOKEN_LEN: usize = 1024;
/// The `__Host-` prefix makes the browser refuse the cookie unless it is Secure, for Path=/ and
/// without Domain, so no other host or plain-HTTP page can set it. It needs Secure, hence the
/// plain name on loopback.
const SECURE_COOKIE_NAME: &str = "__Host-budget_session";
const LOOPBACK_COOKIE_NAME: &str = "budget_session";

/// The 32-byte key that seals session cookies (`GATEWAY_SESSION_KEY`, base64). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Builds a key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads a key written in base64 (standard or URL-safe alphabet, padded or not), e.g. the
    /// output of `openssl rand -base64 32`. The error never repeats the input.
    pub fn from_base64(text: &str) -> Result<Self, InvalidSessionKey> {
        let text = text.trim().trim_end_matches('=');
        let bytes = [STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or(InvalidSessionKey::NotBase64)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| InvalidSessionKey::Length(bytes.len()))?;
        Ok(Self(bytes))
    }

    /// A key from the operating system's random source, for a gateway given none.
    pub(crate) fn random() -> Result<Self, RandomSourceError> {
        let key = Key::try_generate().map_err(|err| RandomSourceError(err.to_string()))?;
        Ok(Self(key.into()))
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

/// Why a `GATEWAY_SESSION_KEY` was refused. Says nothing about the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSessionKey {
    /// Not base64 at all.
    #[error("is not base64; make one with `openssl rand -base64 32`")]
    NotBase64,
    /// Base64, but not of 32 bytes.
    #[error("must decode to 32 bytes, got {0}; make one with `openssl rand -base64 32`")]
    Length(usize),
}

/// The operating system could not provide random bytes.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomSourceError(String);

/// Who a token belongs to, as budget-service's WhoAmI answered at sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub(crate) name: String,
    /// The `Role` enum's name, e.g. `ROLE_TENANT_ADMIN`.
    pub(crate) role: String,
    /// Empty for every tenant.
    pub(crate) tenant_id: String,
}

/// What a sealed cookie holds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    pub(crate) token: String,
    /// Seconds since the Unix epoch; the session is over from this second on.
    pub(crate) expires_at: u64,
    pub(crate) identity: Identity,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("identity", &self.identity)
            .finish()
    }
}

impl Session {
    /// The `authorization` header budget-service expects, marked sensitive so that hyper and
    /// h2 never index or print it.
    pub(crate) fn bearer(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::try_from(format!("Bearer {}", self.token)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

/// Why a session could not be sealed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SealError {
    #[error(transparent)]
    Random(#[from] RandomSourceError),
    #[error("encrypting the session failed")]
    Encrypt,
    #[error("the sealed session is {0} bytes, more than a browser keeps in a cookie")]
    TooLarge(usize),
}

/// Seals and opens session cookies; one per gateway, shared by its handlers.
#[derive(Clone)]
pub(crate) struct Sessions {
    cipher: XChaCha20Poly1305,
    ttl: Duration,
    cookie_name: &'static str,
    secure: bool,
    clear_cookie: HeaderValue,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("ttl", &self.ttl)
            .field("cookie_name", &self.cookie_name)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// `secure` adds the cookie's Secure flag (and its `__Host-` name): the browser then sends it
    /// over HTTPS only, and to `http://localhost`.
    pub(crate) fn new(key: &SessionKey, ttl: Duration, secure: bool) -> Self {
        let cookie_name = if secure {
            SECURE_COOKIE_NAME
        } else {
            LOOPBACK_COOKIE_NAME
        };
        let clear_cookie = HeaderValue::try_from(format!(
            "{cookie_name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict{}",
            if secure { "; Secure" } else { "" },
        ))
        .expect("a fixed cookie name and attributes are a valid header value");
        Self {
            cipher: XChaCha20Poly1305::new(&Key::from(key.0)),
            ttl,
            cookie_name,
            secure,
            clear_cookie,
        }
    }

    /// How long a session lasts.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A session for `token` starting at `now`, lasting the configured time.
    pub(crate) fn start(&self, token: String, identity: Identity, now: SystemTime) -> Session {
        Session {
            token,
            expires_at: unix_secs(now).saturating_add(self.ttl.as_secs()),
            identity,
        }
    }

    /// The `Set-Cookie` value that stores `session` in the browser until it expires.
    pub(crate) fn set_cookie(&self, session: &Session) -> Result<HeaderValue, SealError> {
        let sealed = self.seal(session)?;
        let cookie = format!(
            "{}={sealed}; Max-Age={}; Path=/; HttpOnly; SameSite=Strict{}",
            self.cookie_name,
            self.ttl.as_secs(),
            if self.secure { "; Secure" } else { "" },
        );
        if cookie.len() > 4096 {
            return Err(SealError::TooLarge(cookie.len()));
        }
        let mut value = HeaderValue::try_from(cookie).map_err(|_| SealError::Encrypt)?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// The `Set-Cookie` value that makes the browser forget the session cookie.
    pub(crate) fn clear_cookie(&self) -> HeaderValue {
        self.clear_cookie.clone()
    }

    /// The session in the request's cookies, if one opens with this key and has not expired.
    pub(crate) fn current(&self, headers: &http::HeaderMap, now: SystemTime) -> Option<Session> {
        let now = unix_secs(now);
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(name, _)| *name == self.cookie_name)
            .filter_map(|(_, value)| self.open(value))
            .find(|session| now < session.expires_at)
    }

    fn seal(&self, session: &Session) -> Result<String, SealError> {
        let plaintext = serde_json::to_vec(session).map_err(|_| SealError::Encrypt)?;
        let nonce = XNonce::try_generate().map_err(|err| RandomSourceError(err.to_string()))?;
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plaintext,
                    aad: ASSOCIATED_DATA,
                },
            )
            .map_err(|_| SealError::Encrypt)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The session sealed in a cookie value; None when it was not sealed by this key, was
    /// changed, or is in a format this gateway does not know.
    fn open(&self, value: &str) -> Option<Session> {
        let sealed = URL_SAFE_NO_PAD.decode(value).ok()?;
        let (&version, rest) = sealed.split_first()?;
        if version != FORMAT_VERSION || rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).ok()?;
        let plaintext = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: ASSOCIATED_DATA,
                },
            )
            .ok()?;
        serde_json::from_slice(&plaintext).ok()
    }
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use http::HeaderMap;

    use super::*;

    fn identity() -> Identity {
        Identity {
            name: "alice".to_owned(),
            role: "ROLE_TENANT_ADMIN".to_owned(),
            tenant_id: "acme".to_owned(),
        }
    }

    fn sessions(key: u8, secure: bool) -> Sessions {
        Sessions::new(
            &SessionKey::from_bytes([key; 32]),
            Duration::from_secs(3600),
            secure,
        )
    }

    /// The request headers a browser sends back for a `Set-Cookie` value.
    fn cookie_header(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::try_from(pair).unwrap());
        headers
    }

    #[test]
    fn a_sealed_session_opens_with_the_same_key_until_it_expires() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let sessions = sessions(7, false);
        let session = sessions.start("tok-123".to_owned(), identity(), now);
        assert_eq!(session.expires_at, 1_003_600);
        let headers = cookie_header(&sessions.set_cookie(&session).unwrap());

        assert_eq!(sessions.current(&headers, now), Some(session.clone()));
        let same_key_elsewhere = super::tests::sessions(7, false);
        assert_eq!(same_key_elsewhere.current(&headers, now), Some(session));
        let last_second = now + Duration::from_secs(3599);
        assert!(sessions.current(&headers, last_second).is_some());
        let expired = now + Duration::from_secs(3600);
        assert!(sessions.current(&headers, expired).is_none());
        assert!(
            super::tests::sessions(8, false)
                .current(&headers, now)
                .is_none()
        );
    }

    #[test]
    fn the_cookie_hides_the_token_and_any_change_breaks_it() {
        let now = SystemTime::now();
        let sessions = sessions(1, false);
        let session = sessions.start("very-secret-token".to_owned(), identity(), now);
        let set_cookie = sessions.set_cookie(&session).unwrap();
        let text = set_cookie.to_str().unwrap();
        assert!(!text.contains("very-secret-token"));
        assert!(!text.contains("alice"));
        assert!(set_cookie.is_sensitive());

        let pair = text.split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        for index in [0, 1, 10, value.len() / 2, value.len() - 1] {
            let mut bytes = value.as_bytes().to_vec();
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            let mut headers = HeaderMap::new();
            let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
            headers.insert(COOKIE, HeaderValue::try_from(tampered).unwrap());
            assert!(sessions.current(&headers, now).is_none(), "byte {index}");
        }
        for junk in ["", "x", "AAAA", "budget_session", "%%%"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                COOKIE,
                HeaderValue::try_from(format!("{name}={junk}")).unwrap(),
            );
            assert!(sessions.current(&headers, now).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let now = SystemTime::now();
        let sessions = sessions(2, false);
        let session = sessions.start("t".to_owned(), identity(), now);
        let set_cookie = sessions.set_cookie(&session).unwrap();
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.append(
            COOKIE,
            HeaderValue::from_static("theme=dark; budget_session=junk"),
        );
        headers.append(
            COOKIE,
            HeaderValue::try_from(format!("other=1; {pair}")).unwrap(),
        );
        assert_eq!(sessions.current(&headers, now), Some(session));
    }

    #[test]
    fn cookie_attributes_follow_the_address() {
        let session = sessions(3, false).start("t".to_owned(), identity(), SystemTime::now());
        let loopback = sessions(3, false).set_cookie(&session).unwrap();
        let loopback = loopback.to_str().unwrap();
        assert!(loopback.starts_with("budget_session="), "{loopback}");
        assert!(
            loopback.ends_with("; Max-Age=3600; Path=/; HttpOnly; SameSite=Strict"),
            "{loopback}"
        );

        let public = sessions(3, true).set_cookie(&session).unwrap();
        let public = public.to_str().unwrap();
        assert!(public.starts_with("__Host-budget_session="), "{public}");
        assert!(
            public.ends_with("; Max-Age=3600; Path=/; HttpOnly; SameSite=Strict; Secure"),
            "{public}"
        );
        assert_eq!(
            sessions(3, true).clear_cookie(),
            "__Host-budget_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn session_keys_are_read_from_base64_and_never_printed() {
        let bytes: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 7).unwrap());
        let standard = base64::engine::general_purpose::STANDARD.encode(bytes);
        let url_safe = URL_SAFE_NO_PAD.encode(bytes);
        for text in [
            standard.clone(),
            format!("{standard}\n"),
            url_safe.clone(),
            standard.trim_end_matches('=').to_owned(),
        ] {
            assert_eq!(
                SessionKey::from_base64(&text),
                Ok(SessionKey(bytes)),
                "{text}"
            );
        }
        assert_eq!(
            SessionKey::from_base64(&URL_SAFE_NO_PAD.encode([1u8; 16])),
            Err(InvalidSessionKey::Length(16))
        );
        assert_eq!(
            SessionKey::from_base64("not base64!"),
            Err(InvalidSessionKey::NotBase64)
        );
        assert_eq!(format!("{:?}", SessionKey(bytes)), "SessionKey(<redacted>)");
        let session = sessions(4, false).start("tok-xyz".to_owned(), identity(), SystemTime::now());
        assert!(!format!("{session:?}").contains("tok-xyz"));
        assert_ne!(SessionKey::random().unwrap(), SessionKey::random().unwrap());
    }
}
