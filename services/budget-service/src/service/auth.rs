//! Who is calling: bearer tokens checked against their stored SHA-256 hashes, cached
//! briefly in memory (a revocation takes effect within the cache lifetime), plus the
//! per-token write rate limit.
//!
//! Unauthenticated traffic is cheap and bounded. Failed authentications are throttled per
//! peer address ([`FailureThrottle`]: RESOURCE_EXHAUSTED with a retry delay once a peer's
//! burst is used up; successes never count). A token not seen valid lately is looked up in
//! the database only while holding one of `lookup_connections` permits (a quarter of the
//! pool), so made-up tokens never hold more than that share of PostgreSQL; tokens seen valid
//! within the last hour skip both, so a flood through the gateway (one peer for all its
//! users) does not lock out people who are already signed in.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use budget_proto::throttle::{Attempt, DEFAULT_PEER_CAPACITY, FailureThrottle};
use moka::future::Cache;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::domain::auth::{Principal, Role};
use crate::domain::{FieldViolation, TenantId};
use crate::error::BudgetError;
use crate::store::{Store, StoreError, TokenRecord};

/// The name the bootstrap token (BUDGET_BOOTSTRAP_TOKEN) is known by.
pub const BOOTSTRAP_NAME: &str = "bootstrap";

/// Settings of the authenticator.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub token_cache_ttl: Duration,
    pub bootstrap_token: Option<String>,
    pub write_rate_per_sec: f64,
    pub write_burst: f64,
    /// Failed authentications a peer address may make in a burst.
    pub failure_burst: u32,
    /// Failed authentications a peer address regains per minute.
    pub failures_per_min: u32,
    /// Database connections lookups of tokens not seen valid lately may hold at once.
    pub lookup_connections: u32,
    /// How long such a lookup waits for one before the call is UNAVAILABLE.
    pub lookup_wait: Duration,
}

/// Checks tokens and write rates.
pub struct Authenticator {
    store: Store,
    /// token hash -> principal, or `None` for an unknown token (so floods of bad tokens do
    /// not reach the database either).
    tokens: Cache<String, Option<Arc<Principal>>>,
    /// Tokens whose last_used_at was written within the last minute.
    touched: Cache<String, ()>,
    bootstrap_hash: Option<String>,
    buckets: Mutex<HashMap<String, Bucket>>,
    rate: f64,
    burst: f64,
    /// Hashes of tokens found valid and used within the last hour: not throttled, not limited
    /// to the lookup share (they are still looked up, so revocations apply as before).
    seen_valid: Cache<String, ()>,
    failures: FailureThrottle,
    lookups: Arc<Semaphore>,
    lookup_wait: Duration,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Authenticator {
    pub fn new(store: Store, settings: &AuthSettings) -> Authenticator {
        Authenticator {
            store,
            tokens: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(settings.token_cache_ttl)
                .build(),
            touched: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
            bootstrap_hash: settings
                .bootstrap_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(hash_token),
            buckets: Mutex::new(HashMap::new()),
            rate: settings.write_rate_per_sec.max(0.001),
            burst: settings.write_burst.max(1.0),
            seen_valid: Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            failures: FailureThrottle::new(
                settings.failure_burst,
                settings.failures_per_min,
                DEFAULT_PEER_CAPACITY,
            ),
            lookups: Arc::new(Semaphore::new(
                usize::try_from(settings.lookup_connections.max(1)).unwrap_or(1),
            )),
            lookup_wait: settings.lookup_wait,
        }
    }

    /// The caller behind `authorization: Bearer <token>`; UNAUTHENTICATED when missing,
    /// unknown or revoked; RESOURCE_EXHAUSTED (`AuthThrottled`) while `peer` has used up its
    /// failed attempts. `None` for the peer (no socket address) counts as one shared peer.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        peer: Option<IpAddr>,
    ) -> Result<Arc<Principal>, BudgetError> {
        let peer = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let token = authorization
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 512);
        let Some(token) = token else {
            let _failed = self.attempt(peer).await?;
            return Err(BudgetError::Unauthenticated);
        };
        let hash = hash_token(token);
        if self.bootstrap_hash.as_deref() == Some(hash.as_str()) {
            return Ok(Arc::new(Principal {
                name: BOOTSTRAP_NAME.into(),
                role: Role::PlatformAdmin,
                tenant: None,
            }));
        }
        // A token in the cache costs nothing: valid, it passes; known bad, it is a failure.
        // Otherwise a token seen valid lately is looked up freely, any other is throttled and
        // limited to the lookup share first.
        let cached = self.tokens.get(&hash).await;
        let seen_valid = self.seen_valid.get(&hash).await.is_some();
        let attempt = match &cached {
            Some(Some(_)) => None,
            None if seen_valid => None,
            _ => Some(self.attempt(peer).await?),
        };
        let principal = match cached {
            Some(found) => found,
            None => self.look_up(hash.clone(), attempt.is_some()).await?,
        };
        let Some(principal) = principal else {
            // `attempt` stays counted.
            return Err(BudgetError::Unauthenticated);
        };
        if let Some(attempt) = attempt {
            attempt.succeeded();
        }
        if !seen_valid {
            self.seen_valid.insert(hash, ()).await;
        }
        // Only the call that inserts the entry writes, so a burst of first uses of one
        // token makes one UPDATE, not one per call.
        let first_use_this_minute = self
            .touched
            .entry(principal.name.clone())
            .or_insert(())
            .await
            .is_fresh();
        if first_use_this_minute && let Err(error) = self.store.touch_token(&principal.name).await {
            tracing::warn!(error = %error, "could not record a token's last use");
        }
        Ok(principal)
    }

    /// Reserves a failed attempt for `peer`, or refuses it while the peer must wait.
    async fn attempt(&self, peer: IpAddr) -> Result<Attempt, BudgetError> {
        self.failures.begin(peer).await.map_err(|retry_after| {
            tracing::info!(%peer, ?retry_after, "authentication throttled after failed attempts");
            BudgetError::AuthThrottled { retry_after }
        })
    }

    /// The principal of a token hash from the database (through the short cache; concurrent
    /// misses share one query). `limited`: the query waits for one of the lookup permits.
    async fn look_up(
        &self,
        hash: String,
        limited: bool,
    ) -> Result<Option<Arc<Principal>>, BudgetError> {
        let store = self.store.clone();
        let lookups = self.lookups.clone();
        let wait = self.lookup_wait;
        let key = hash.clone();
        let lookup = async move {
            let _permit = if limited {
                match tokio::time::timeout(wait, lookups.acquire_owned()).await {
                    Ok(Ok(permit)) => Some(permit),
                    _ => return Err(LookupError::Busy),
                }
            } else {
                None
            };
            store
                .principal_by_token_hash(&hash)
                .await
                .map(|found| found.map(Arc::new))
                .map_err(LookupError::Store)
        };
        self.tokens
            .try_get_with(key, lookup)
            .await
            .map_err(|error: Arc<LookupError>| {
                if let LookupError::Store(cause) = &*error {
                    tracing::warn!(error = %cause, "cannot check a token");
                } else {
                    tracing::warn!("token lookups are at their share of the database pool");
                }
                BudgetError::AuthUnavailable
            })
    }

    /// Takes one write from the caller's bucket, or says how long to wait.
    pub fn take_write(&self, principal: &Principal) -> Result<(), BudgetError> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let bucket = buckets.entry(principal.name.clone()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err(BudgetError::RateLimited {
                retry_after: Duration::from_secs_f64(wait),
            })
        }
    }

    /// Creates a token and returns its value, shown this once; audited.
    pub async fn create_token(
        &self,
        actor: &str,
        name: &str,
        role: Role,
        tenant: Option<&str>,
    ) -> Result<String, BudgetError> {
        let name = name.trim();
        let mut violations = Vec::new();
        if name.is_empty()
            || name.len() > 100
            || name.chars().any(char::is_control)
            || name == BOOTSTRAP_NAME
        {
            violations.push(FieldViolation::new(
                "name",
                "Token name must be 1 to 100 characters and not \"bootstrap\"",
            ));
        }
        let tenant = match (role, tenant) {
            (Role::PlatformAdmin, None) => None,
            (Role::PlatformAdmin, Some(_)) => {
                violations.push(FieldViolation::new(
                    "tenant",
                    "A platform admin token has no tenant",
                ));
                None
            }
            (Role::TenantAdmin, None) => {
                violations.push(FieldViolation::new(
                    "tenant",
                    "A tenant admin token needs --tenant",
                ));
                None
            }
            (_, Some(raw)) => {
                let parsed = TenantId::parse(raw);
                if parsed.is_none() {
                    violations.push(FieldViolation::new(
                        "tenant",
                        crate::domain::tenant::TENANT_ID_RULE,
                    ));
                }
                parsed
            }
            (Role::Service, None) => None,
        };
        if !violations.is_empty() {
            return Err(BudgetError::InvalidArgument(violations));
        }
        if let Some(id) = &tenant
            && self.store.tenant_config(id).await?.is_none()
        {
            return Err(BudgetError::TenantNotFound(id.clone()));
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = format!("bgt_{}", URL_SAFE_NO_PAD.encode(bytes));
        let principal = Principal {
            name: name.to_owned(),
            role,
            tenant,
        };
        self.store
            .insert_token(&principal, &hash_token(&token))
            .await
            .map_err(|e| match e {
                StoreError::UniqueViolation { .. } => {
                    BudgetError::InvalidArgument(vec![FieldViolation::new(
                        "name",
                        "A token with this name exists",
                    )])
                }
                other => other.into(),
            })?;
        self.store
            .audit_token(actor, "token_created", &principal)
            .await?;
        Ok(token)
    }

    /// Revokes a token by name; audited. Takes effect within the token cache lifetime.
    pub async fn revoke_token(&self, actor: &str, name: &str) -> Result<(), BudgetError> {
        let tokens = self.store.list_tokens().await?;
        let Some(token) = tokens
            .iter()
            .find(|t| t.name == name && t.revoked_at.is_none())
        else {
            return Err(BudgetError::InvalidArgument(vec![FieldViolation::new(
                "name",
                "No live token has this name",
            )]));
        };
        self.store.revoke_token(name).await?;
        let principal = Principal {
            name: token.name.clone(),
            role: token.role,
            tenant: token.tenant.clone(),
        };
        self.store
            .audit_token(actor, "token_revoked", &principal)
            .await?;
        Ok(())
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, BudgetError> {
        Ok(self.store.list_tokens().await?)
    }
}

/// sha256 hex of a token, as stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why a token could not be looked up.
#[derive(Debug)]
enum LookupError {
    /// No lookup permit came free in time.
    Busy,
    Store(StoreError),
}
