//! Tenant identifiers: `[a-z0-9][a-z0-9-]{0,62}`, safe in URLs, key aliases and logs.

use std::fmt;

use chrono::{DateTime, Utc};

use super::budget::BudgetSettings;

/// A validated tenant id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

/// The description given when a tenant id is malformed.
pub const TENANT_ID_RULE: &str = "Tenant id must be 1 to 63 lowercase letters, digits or dashes, starting with a letter or digit";

impl TenantId {
    /// Parses a tenant id, or returns `None` when it does not match the pattern.
    pub fn parse(raw: &str) -> Option<TenantId> {
        let bytes = raw.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        (first_ok && rest_ok && bytes.len() <= 63).then(|| TenantId(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The alias of the tenant's first LiteLLM virtual key.
    pub fn key_alias(&self) -> String {
        format!("tenant-{}", self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_pattern_and_nothing_else() {
        for ok in ["a", "acme", "0", "team-42", &"a".repeat(63)] {
            assert!(TenantId::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "-acme",
            "Acme",
            "acme_1",
            "ac me",
            "acmé",
            &"a".repeat(64),
            "a;drop",
        ] {
            assert!(TenantId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn key_alias_is_prefixed() {
        assert_eq!(
            TenantId::parse("acme").map(|t| t.key_alias()).as_deref(),
            Some("tenant-acme")
        );
    }
}

/// A tenant: its name and the LiteLLM key that enforces its budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Tenant {
    pub tenant_id: TenantId,
    pub display_name: String,
    pub key_alias: String,
    /// sha256 of the LiteLLM virtual key.
    pub key_hash: String,
    pub created_at: DateTime<Utc>,
    /// When DeleteTenant deleted it; `None` while it exists.
    pub deleted_at: Option<DateTime<Utc>>,
    /// When SuspendTenant blocked its key; `None` unless suspended.
    pub suspended_at: Option<DateTime<Utc>>,
}

/// A tenant's budget settings as saved, with the version its etag names.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantConfig {
    pub tenant_id: TenantId,
    pub settings: BudgetSettings,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub budget_reset_at: Option<DateTime<Utc>>,
}

impl TenantConfig {
    /// The opaque etag callers send back to detect concurrent edits.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}
