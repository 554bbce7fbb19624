//! A tenant's notification targets and where each alert's delivery to them stands.

use chrono::{DateTime, Utc};

use super::notification::{DeliveryStatus, NotificationKind};
use super::tenant::TenantId;

/// A tenant's notification target (its secret is never read back).
#[derive(Clone, Debug, PartialEq)]
pub struct NotificationTarget {
    pub target_id: i64,
    pub tenant_id: TenantId,
    pub kind: NotificationKind,
    /// May carry credentials: never returned to callers.
    pub url: String,
    pub has_secret: bool,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// Where the delivery of one alert to one target stands.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub alert_id: i64,
    pub target_id: i64,
    pub kind: NotificationKind,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Set only while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The deliveries still pending (due now or waiting for a retry) across all tenants, and how
/// long the oldest of them has waited since its alert was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DeliveryBacklog {
    pub pending: i64,
    pub oldest_age: std::time::Duration,
}
