//! Pure budget logic: money, settings and their validation, states, forecasts, periods, and
//! notification targets, where they may point, and retries.
//! Nothing here does I/O or reads the clock; "now" is always passed in.

// Tenant data reaches every line here: no arithmetic that can overflow or panic, and no
// `as` cast that could silently saturate or truncate a value. Checked operations only
// (tests compute expectations freely).
#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss
    )
)]

pub mod alert;
pub mod audit;
pub mod auth;
pub mod budget;
pub mod egress;
pub mod export;
pub mod forecast;
pub mod history;
pub mod increase;
pub mod model_spend;
pub mod money;
pub mod notification;
pub mod preview;
pub mod status;
pub mod targets;
pub mod tenant;

pub use alert::{Alert, AlertKind, DueAlert, due_alerts};
pub use audit::AuditEvent;
pub use budget::{
    BudgetDuration, BudgetSettings, BudgetState, ConfigUpdate, FieldViolation, RawConfigUpdate,
    RawSettings, SettingField, SettingFields, Violations, days_until_reset, is_short_text,
};
pub use forecast::Forecast;
pub use history::DailyHistory;
pub use increase::{RawIncrease, TemporaryIncrease};
pub use model_spend::ModelSpend;
pub use notification::{DeliveryStatus, NotificationKind};
pub use preview::{BudgetPreview, Crossing, Milestone};
pub use status::{BudgetStatus, EvaluatedStatus, FleetState};
pub use targets::{Delivery, DeliveryBacklog, NotificationTarget};
pub use tenant::{Tenant, TenantConfig, TenantId};
