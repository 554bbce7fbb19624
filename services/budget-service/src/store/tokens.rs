//! API tokens: only their SHA-256 hashes are stored.

use chrono::{DateTime, Utc};

use super::{Store, StoreError};
use crate::domain::TenantId;
use crate::domain::auth::{Principal, Role};

/// A token as listed (never its value).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenRecord {
    pub name: String,
    pub role: Role,
    pub tenant: Option<TenantId>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    name: String,
    role: String,
    tenant_id: Option<String>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    fn into_record(self) -> Result<TokenRecord, StoreError> {
        let role = Role::parse(&self.role)
            .ok_or_else(|| StoreError::Corrupt(format!("role {:?}", self.role)))?;
        let tenant = self
            .tenant_id
            .map(|id| {
                TenantId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("tenant id {id:?}")))
            })
            .transpose()?;
        Ok(TokenRecord {
            name: self.name,
            role,
            tenant,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
        })
    }
}

impl Store {
    /// Stores a new token by its hash; fails with a unique violation when the name is taken.
    pub(crate) async fn insert_token(
        &self,
        principal: &Principal,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, role, tenant_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(&principal.name)
        .bind(token_hash)
        .bind(principal.role.as_str())
        .bind(principal.tenant.as_ref().map(TenantId::as_str))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The live (not revoked) token with this hash.
    pub(crate) async fn principal_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Principal>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(
            "SELECT name, role, tenant_id, created_at, revoked_at, last_used_at FROM api_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            r.into_record().map(|t| Principal {
                name: t.name,
                role: t.role,
                tenant: t.tenant,
            })
        })
        .transpose()
    }

    /// Every token, newest first.
    pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT name, role, tenant_id, created_at, revoked_at, last_used_at FROM api_tokens ORDER BY created_at DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TokenRow::into_record).collect()
    }

    /// Revokes a token by name; false when no live token has that name.
    pub(crate) async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
        )
        .bind(name)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that a token was used (callers limit this to once a minute per token).
    pub(crate) async fn touch_token(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a token's creation or revocation in the audit trail.
    pub(crate) async fn audit_token(
        &self,
        actor: &str,
        action: &str,
        token: &Principal,
    ) -> Result<(), StoreError> {
        let scope = token.tenant.as_ref().map_or("*", TenantId::as_str);
        let detail = format!(
            "token {} ({}, tenant {scope})",
            token.name,
            token.role.as_str()
        );
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, actor, action, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(scope)
        .bind(actor)
        .bind(action)
        .bind(detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
