//! A key's rows as LiteLLM stores them: `LiteLLM_VerificationToken` ([`KeyRecord`]), its
//! `LiteLLM_BudgetTable` row ([`BudgetRow`]) and the archive of deleted keys ([`DeletedKey`]).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::periods;
use crate::util::fmt_ts;

/// Who LiteLLM records as `created_by` / `updated_by` for the master key.
pub(crate) const ADMIN_USER_ID: &str = "default_user_id";

/// A key's `LiteLLM_BudgetTable` row (created for `soft_budget`).
#[derive(Debug, Clone)]
pub(crate) struct BudgetRow {
    pub budget_id: String,
    pub soft_budget: Option<f64>,
    pub temp_budget_increase: Option<f64>,
    pub temp_budget_expiry: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BudgetRow {
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Self {
            budget_id: uuid::Uuid::new_v4().to_string(),
            soft_budget: None,
            temp_budget_increase: None,
            temp_budget_expiry: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "budget_id": self.budget_id,
            "max_budget": null,
            "soft_budget": self.soft_budget,
            "max_parallel_requests": null,
            "tpm_limit": null,
            "rpm_limit": null,
            "tpd_limit": null,
            "model_max_budget": {},
            "budget_duration": null,
            "budget_reset_at": null,
            "allowed_models": [],
            "temp_budget_increase": self.temp_budget_increase,
            "temp_budget_expiry": self.temp_budget_expiry.map(fmt_ts),
            "created_at": fmt_ts(self.created_at),
            "created_by": ADMIN_USER_ID,
            "updated_at": fmt_ts(self.updated_at),
            "updated_by": ADMIN_USER_ID,
            "organization": null,
            "projects": null,
            "keys": null,
            "end_users": null,
            "tags": null,
            "model_access_groups": null,
            "team_membership": null,
            "organization_membership": null,
        })
    }
}

/// One virtual key.
#[derive(Debug, Clone)]
pub(crate) struct KeyRecord {
    pub token: String,
    pub key_name: String,
    pub key_alias: Option<String>,
    pub spend: f64,
    pub total_spend: f64,
    pub max_budget: Option<f64>,
    pub budget_duration: Option<String>,
    pub budget_reset_at: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub blocked: Option<bool>,
    pub models: Vec<Value>,
    pub metadata: Map<String, Value>,
    pub tpm_limit: Option<i64>,
    pub rpm_limit: Option<i64>,
    pub tpd_limit: Option<i64>,
    pub max_parallel_requests: Option<i64>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub organization_id: Option<String>,
    pub project_id: Option<String>,
    pub agent_id: Option<String>,
    pub budget_id: Option<String>,
    pub key_type: String,
    pub budget: Option<BudgetRow>,
    pub model_spend: Map<String, Value>,
    /// Other columns sent by the client (aliases, config, permissions, allowed_routes, ...),
    /// stored verbatim and shown over the defaults.
    pub other: Map<String, Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_active: Option<DateTime<Utc>>,
    /// The `spend` in LiteLLM's cached auth object for the key, and when that entry expires
    /// (see [`KeyRecord::cached_auth_spend`]).
    pub auth_cache: Option<(f64, DateTime<Utc>)>,
    /// Creation order, to list keys stably.
    pub seq: u64,
}

/// A key's derived `status` (`_derive_key_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Revoked,
    Expired,
    Deleted,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Expired => "expired",
            KeyStatus::Deleted => "deleted",
        }
    }
}

impl KeyRecord {
    pub(crate) fn new(token: String, key_name: String, now: DateTime<Utc>, seq: u64) -> Self {
        Self {
            token,
            key_name,
            key_alias: None,
            spend: 0.0,
            total_spend: 0.0,
            max_budget: None,
            budget_duration: None,
            budget_reset_at: None,
            expires: None,
            blocked: None,
            models: Vec::new(),
            metadata: Map::new(),
            tpm_limit: None,
            rpm_limit: None,
            tpd_limit: None,
            max_parallel_requests: None,
            user_id: None,
            team_id: None,
            organization_id: None,
            project_id: None,
            agent_id: None,
            budget_id: None,
            key_type: "default".into(),
            budget: None,
            model_spend: Map::new(),
            other: Map::new(),
            created_at: now,
            updated_at: now,
            last_active: None,
            auth_cache: None,
            seq,
        }
    }

    pub(crate) fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|at| at < now)
    }

    pub(crate) fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        if self.blocked == Some(true) {
            KeyStatus::Revoked
        } else if self.is_expired(now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    pub(crate) fn soft_budget(&self) -> Option<f64> {
        self.budget.as_ref().and_then(|b| b.soft_budget)
    }

    /// `max_budget` plus an unexpired `temp_budget_increase`.
    pub(crate) fn effective_max_budget(&self, now: DateTime<Utc>) -> Option<f64> {
        let max = self.max_budget?;
        let increase = self
            .budget
            .as_ref()
            .filter(|b| b.temp_budget_expiry.is_some_and(|at| at > now))
            .and_then(|b| b.temp_budget_increase)
            .unwrap_or(0.0);
        Some(max + increase)
    }

    /// The spend LiteLLM's cached auth object holds for the key. LiteLLM caches the key's row
    /// when a request first needs it (`get_key_object` → `cache_key_object`, in memory for
    /// `DEFAULT_MANAGEMENT_OBJECT_IN_MEMORY_CACHE_TTL` = 60 s) and never adds spend to it;
    /// admin edits drop the entry. Its budget checks read live spend counters, but the
    /// projection after a charged call (`_update_key_cache`) reads this stale spend. The sim
    /// loads the entry on an LLM call when there is none or it expired.
    pub(crate) fn cached_auth_spend(&mut self, now: DateTime<Utc>) -> f64 {
        match self.auth_cache {
            Some((spend, expires)) if now < expires => spend,
            _ => {
                self.auth_cache = Some((self.spend, now + chrono::Duration::seconds(60)));
                self.spend
            }
        }
    }

    /// The reset job's rule for this key (see the module docs).
    pub(crate) fn apply_reset(&mut self, now: DateTime<Utc>) {
        let (Some(duration), Some(reset_at)) = (&self.budget_duration, self.budget_reset_at) else {
            return;
        };
        if reset_at < now && !self.is_expired(now) {
            self.spend = 0.0;
            self.budget_reset_at = Some(periods::next_reset(duration, now));
            self.updated_at = now;
        }
    }

    /// Every column of the row, `token` included, with `litellm_budget_table` joined.
    pub(crate) fn row_json(&self) -> Map<String, Value> {
        let ts = |t: Option<DateTime<Utc>>| t.map(fmt_ts);
        let value = json!({
            "token": self.token,
            "key_name": self.key_name,
            "key_alias": self.key_alias,
            "soft_budget_cooldown": false,
            "spend": self.spend,
            "total_spend": self.total_spend,
            "expires": ts(self.expires),
            "models": self.models,
            "aliases": {},
            "config": {},
            "router_settings": {},
            "user_id": self.user_id,
            "team_id": self.team_id,
            "agent_id": self.agent_id,
            "project_id": self.project_id,
            "permissions": {},
            "max_parallel_requests": self.max_parallel_requests,
            "metadata": self.metadata,
            "blocked": self.blocked,
            "tpm_limit": self.tpm_limit,
            "rpm_limit": self.rpm_limit,
            "tpd_limit": self.tpd_limit,
            "max_budget": self.max_budget,
            "budget_duration": self.budget_duration,
            "budget_reset_at": ts(self.budget_reset_at),
            "allowed_cache_controls": [],
            "allowed_routes": [],
            "key_type": self.key_type,
            "policies": [],
            "access_group_ids": [],
            "model_spend": self.model_spend,
            "model_max_budget": {},
            "budget_fallbacks": {},
            "budget_id": self.budget_id,
            "organization_id": self.organization_id,
            "object_permission_id": null,
            "created_at": fmt_ts(self.created_at),
            "created_by": ADMIN_USER_ID,
            "updated_at": fmt_ts(self.updated_at),
            "updated_by": ADMIN_USER_ID,
            "settings_updated_at": null,
            "last_active": ts(self.last_active),
            "rotation_count": 0,
            "auto_rotate": false,
            "rotation_interval": null,
            "last_rotation_at": null,
            "key_rotation_at": null,
            "budget_limits": null,
            "litellm_budget_table": self.budget.as_ref().map(BudgetRow::to_json),
            "litellm_organization_table": null,
            "litellm_project_table": null,
            "object_permission": null,
            "jwt_key_mappings": null,
        });
        self.with_stored_columns(value)
    }

    /// `/key/info`'s `info`: the row without `token`, plus `status`.
    pub(crate) fn info_json(&self, now: DateTime<Utc>) -> Map<String, Value> {
        let mut row = self.row_json();
        row.remove("token");
        row.insert("status".into(), json!(self.status(now).as_str()));
        row
    }

    /// `/key/update`'s row (after `"key"`): the table row as Prisma returns it from the update,
    /// without the joined budget row (`litellm_budget_table` null, so no soft budget).
    pub(crate) fn updated_row_json(&self) -> Map<String, Value> {
        let mut row = self.row_json();
        row.insert("litellm_budget_table".into(), Value::Null);
        row
    }

    /// The key as LiteLLM's pydantic `LiteLLM_VerificationToken` dumps it: `/key/block` and
    /// `/key/unblock` answer this (with `litellm_budget_table` null), and it is the base of
    /// `/key/list`'s full objects and of a deleted key's `/key/info`.
    pub(crate) fn token_model_json(&self, budget_table: bool) -> Map<String, Value> {
        let ts = |t: Option<DateTime<Utc>>| t.map(fmt_ts);
        let table = if budget_table {
            self.budget.as_ref().map(BudgetRow::to_json)
        } else {
            None
        };
        let value = json!({
            "token": self.token,
            "key_name": self.key_name,
            "key_alias": self.key_alias,
            "spend": self.spend,
            "total_spend": self.total_spend,
            "max_budget": self.max_budget,
            "expires": ts(self.expires),
            "models": self.models,
            "aliases": {},
            "config": {},
            "user_id": self.user_id,
            "team_id": self.team_id,
            "agent_id": self.agent_id,
            "project_id": self.project_id,
            "max_parallel_requests": self.max_parallel_requests,
            "metadata": self.metadata,
            "tpm_limit": self.tpm_limit,
            "rpm_limit": self.rpm_limit,
            "tpd_limit": self.tpd_limit,
            "budget_duration": self.budget_duration,
            "budget_reset_at": ts(self.budget_reset_at),
            "allowed_cache_controls": [],
            "allowed_routes": [],
            "key_type": self.key_type,
            "permissions": {},
            "model_spend": self.model_spend,
            "model_max_budget": {},
            "budget_fallbacks": {},
            "soft_budget_cooldown": false,
            "blocked": self.blocked,
            "litellm_budget_table": table,
            "budget_id": self.budget_id,
            "org_id": null,
            "created_at": fmt_ts(self.created_at),
            "created_by": ADMIN_USER_ID,
            "updated_at": fmt_ts(self.updated_at),
            "updated_by": ADMIN_USER_ID,
            "settings_updated_at": null,
            "last_active": ts(self.last_active),
            "object_permission_id": null,
            "object_permission": null,
            "access_group_ids": [],
            "rotation_count": 0,
            "auto_rotate": false,
            "rotation_interval": null,
            "last_rotation_at": null,
            "key_rotation_at": null,
            "router_settings": {},
            "budget_limits": null,
        });
        self.with_stored_columns(value)
    }

    /// `/key/list`'s full object: LiteLLM's `UserAPIKeyAuth` for the key (the token model with
    /// its budget row, then the auth object's own fields, null without teams, users or
    /// organizations).
    pub(crate) fn listed_json(&self) -> Map<String, Value> {
        let mut row = self.token_model_json(true);
        let extras = json!({
            "team_spend": null, "team_alias": null, "team_tpm_limit": null,
            "team_rpm_limit": null, "team_tpd_limit": null, "team_max_budget": null,
            "team_soft_budget": null, "team_model_max_budget": null, "team_models": [],
            "team_blocked": false, "soft_budget": null, "team_model_aliases": null,
            "team_member": null, "team_metadata": null, "team_object_permission_id": null,
            "team_member_spend": null, "team_member_tpm_limit": null,
            "team_member_rpm_limit": null, "end_user_id": null, "end_user_tpm_limit": null,
            "end_user_rpm_limit": null, "end_user_tpd_limit": null, "end_user_max_budget": null,
            "end_user_model_max_budget": null, "organization_alias": null,
            "organization_max_budget": null, "organization_tpm_limit": null,
            "organization_rpm_limit": null, "organization_metadata": null,
            "project_alias": null, "project_metadata": null, "last_refreshed_at": null,
            "api_key": null, "user_role": null, "allowed_model_region": null,
            "parent_otel_span": null, "rpm_limit_per_model": null, "tpm_limit_per_model": null,
            "user_tpm_limit": null, "user_rpm_limit": null, "user_email": null,
            "user_spend": null, "user_max_budget": null, "user_model_max_budget": null,
            "request_route": null, "is_session_token": false, "user": null,
            "created_by_user": null, "end_user_object_permission": null,
            "team_object_permission": null, "jwt_claims": null,
        });
        if let Value::Object(extras) = extras {
            row.extend(extras);
        }
        row
    }

    fn with_stored_columns(&self, value: Value) -> Map<String, Value> {
        let mut row = match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        for (name, value) in &self.other {
            row.insert(name.clone(), value.clone());
        }
        row
    }
}

/// A deleted key, kept like `LiteLLM_DeletedVerificationToken`.
#[derive(Debug, Clone)]
pub(crate) struct DeletedKey {
    pub record: KeyRecord,
    /// The archive row's own id.
    pub id: String,
    pub deleted_at: DateTime<Utc>,
    pub deleted_by: String,
}

impl DeletedKey {
    /// `/key/info`'s `info` for a deleted key: the archived row as LiteLLM's pydantic model
    /// dumps it (no joined budget row, so no soft budget), without `token`.
    pub(crate) fn info_json(&self) -> Map<String, Value> {
        let mut row = self.record.token_model_json(false);
        row.remove("token");
        row.insert("id".into(), json!(self.id));
        row.insert("organization_id".into(), json!(self.record.organization_id));
        row.insert("deleted_at".into(), json!(fmt_ts(self.deleted_at)));
        row.insert("deleted_by".into(), json!(self.deleted_by));
        // Who deleted it: LiteLLM records the master key by this name.
        row.insert(
            "deleted_by_api_key".into(),
            json!("litellm_proxy_master_key"),
        );
        row.insert("litellm_changed_by".into(), Value::Null);
        row.insert("status".into(), json!(KeyStatus::Deleted.as_str()));
        row
    }
}
