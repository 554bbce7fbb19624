//! Notification targets and deliveries: which target sets are valid, how a target's URL is
//! shown without its credentials, and when a failed delivery is tried again or given up.

use std::ops::RangeInclusive;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::FieldViolation;

/// The most targets a tenant may have.
pub const MAX_TARGETS: usize = 10;
/// The longest URL accepted, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// The accepted length of a webhook secret, in characters.
pub const SECRET_CHARS: RangeInclusive<usize> = 16..=256;
/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// A delivery is retried until this long after it was created, then given up.
pub const DELIVERY_WINDOW: TimeDelta = TimeDelta::hours(24);
/// The longest wait between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

pub const MSG_TOO_MANY_TARGETS: &str = "At most 10 notification targets";
pub const MSG_UNKNOWN_TARGET: &str = "Unknown target id; leave it empty to add a new target";
pub const MSG_REPEATED_TARGET: &str = "Each target may appear only once";
pub const MSG_KIND: &str = "Kind must be webhook or Slack";
pub const MSG_URL: &str =
    "URL must be an http or https address with a host, at most 2,048 characters";
pub const MSG_SECRET_LENGTH: &str = "Webhook secret must be 16 to 256 characters";
/// PostgreSQL cannot store NUL, and no signing key needs control characters.
pub const MSG_SECRET_CONTROL: &str = "Webhook secret must not contain control characters";
pub const MSG_SECRET_SLACK: &str = "Slack targets are not signed; leave the secret empty";
pub const MSG_DESCRIPTION: &str =
    "Description must be at most 200 characters, without control characters";

/// How an alert reaches a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    /// A signed JSON POST.
    Webhook,
    /// A Slack-compatible incoming webhook: `{"text": ...}`, unsigned.
    Slack,
}

impl NotificationKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Webhook => "webhook",
            NotificationKind::Slack => "slack",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(raw: &str) -> Option<NotificationKind> {
        [NotificationKind::Webhook, NotificationKind::Slack]
            .into_iter()
            .find(|kind| kind.as_str() == raw)
    }
}

/// Where the delivery of one alert to one target stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(raw: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == raw)
    }
}

/// A target exactly as a caller sent it, before validation.
#[derive(Clone, Debug, Default)]
pub struct RawTarget {
    /// Empty for a new target.
    pub target_id: String,
    /// `None` when the caller named no known kind.
    pub kind: Option<NotificationKind>,
    pub url: String,
    pub secret: String,
    pub description: String,
}

/// What a new set is checked against: one of the tenant's current targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExistingTarget {
    pub target_id: i64,
    pub has_secret: bool,
}

/// What happens to a target's stored secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretChange {
    Keep,
    Set(String),
    Clear,
}

/// One valid target of a new set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSpec {
    /// The existing target this keeps; `None` adds a new one.
    pub target_id: Option<i64>,
    pub kind: NotificationKind,
    /// The URL, normalised; `None` keeps the stored one (existing targets only).
    pub url: Option<String>,
    pub secret: SecretChange,
    pub description: String,
}

/// Validates a whole new set of targets against the tenant's current ones, reporting one
/// violation per bad field, named like "targets[1].url".
pub fn validate_targets(
    raw: &[RawTarget],
    existing: &[ExistingTarget],
) -> Result<Vec<TargetSpec>, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    if raw.len() > MAX_TARGETS {
        violations.push(FieldViolation::new("targets", MSG_TOO_MANY_TARGETS));
    }
    let mut specs = Vec::with_capacity(raw.len());
    let mut seen = Vec::new();
    for (i, target) in raw.iter().enumerate() {
        let field = |name: &str| format!("targets[{i}].{name}");
        let mut bad = |name: &str, message: &str| {
            violations.push(FieldViolation::new(field(name), message));
        };
        let current = match target.target_id.trim() {
            "" => None,
            id => match id
                .parse::<i64>()
                .ok()
                .and_then(|id| existing.iter().find(|e| e.target_id == id))
            {
                Some(found) if seen.contains(&found.target_id) => {
                    bad("target_id", MSG_REPEATED_TARGET);
                    Some(*found)
                }
                Some(found) => {
                    seen.push(found.target_id);
                    Some(*found)
                }
                None => {
                    bad("target_id", MSG_UNKNOWN_TARGET);
                    None
                }
            },
        };
        let url = match target.url.trim() {
            "" if current.is_some() => Some(None),
            raw_url => normalise_url(raw_url).map(Some),
        };
        if url.is_none() {
            bad("url", MSG_URL);
        }
        let secret = match target.kind {
            None => {
                bad("kind", MSG_KIND);
                None
            }
            Some(NotificationKind::Slack) if !target.secret.is_empty() => {
                bad("secret", MSG_SECRET_SLACK);
                None
            }
            Some(NotificationKind::Slack) => Some(SecretChange::Clear),
            Some(NotificationKind::Webhook) => {
                let length = target.secret.chars().count();
                if target.secret.chars().any(char::is_control) {
                    bad("secret", MSG_SECRET_CONTROL);
                    None
                } else if SECRET_CHARS.contains(&length) {
                    Some(SecretChange::Set(target.secret.clone()))
                } else if length == 0 && current.is_some_and(|c| c.has_secret) {
                    Some(SecretChange::Keep)
                } else {
                    bad("secret", MSG_SECRET_LENGTH);
                    None
                }
            }
        };
        let description = target.description.trim();
        if description.chars().count() > MAX_DESCRIPTION_CHARS
            || description.chars().any(char::is_control)
        {
            bad("description", MSG_DESCRIPTION);
        }
        if let (Some(kind), Some(url), Some(secret)) = (target.kind, url, secret) {
            specs.push(TargetSpec {
                target_id: current.map(|c| c.target_id),
                kind,
                url,
                secret,
                description: description.to_owned(),
            });
        }
    }
    if violations.is_empty() {
        Ok(specs)
    } else {
        Err(violations)
    }
}

/// The URL as it will be requested, when it is an http(s) URL with a host and fits.
fn normalise_url(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    let fits = url.as_str().chars().count() <= MAX_URL_CHARS;
    let web = matches!(url.scheme(), "http" | "https");
    (fits && web && url.host_str().is_some_and(|h| !h.is_empty())).then(|| url.into())
}

/// The scheme, host and port of a URL ("https://hooks.slack.com"), which is safe to show:
/// paths, queries and user info, where credentials live, are left out.
pub fn url_origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// The audit trail's summary of a set of targets: kinds and origins, never URLs or secrets.
pub fn targets_summary<'a>(
    targets: impl IntoIterator<Item = (NotificationKind, &'a str, &'a str)>,
) -> String {
    let items: Vec<String> = targets
        .into_iter()
        .map(|(kind, url, description)| {
            let kind = match kind {
                NotificationKind::Webhook => "webhook",
                NotificationKind::Slack => "Slack",
            };
            match description {
                "" => format!("{kind} {}", url_origin(url)),
                note => format!("{kind} {} ({note})", url_origin(url)),
            }
        })
        .collect();
    if items.is_empty() {
        "No notification targets".to_owned()
    } else {
        items.join("; ")
    }
}

/// The wait before attempt `attempts + 1`: `base` doubled per earlier attempt, at most an hour.
pub fn retry_delay(attempts: u32, base: Duration) -> Duration {
    let doublings = attempts.saturating_sub(1).min(31);
    base.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY)
}

/// What follows a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again then.
    RetryAt(DateTime<Utc>),
    /// The delivery window is over.
    GiveUp,
}

/// Decides after attempt number `attempts` failed at `now`: retry after the backoff, but
/// never later than the end of the window (so the last attempt falls on it), or give up
/// once the window is over.
pub fn after_failure(
    now: DateTime<Utc>,
    created_at: DateTime<Utc>,
    attempts: u32,
    base: Duration,
) -> AfterFailure {
    let deadline = created_at
        .checked_add_signed(DELIVERY_WINDOW)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if now >= deadline {
        return AfterFailure::GiveUp;
    }
    let delay = TimeDelta::from_std(retry_delay(attempts, base)).unwrap_or(TimeDelta::hours(1));
    AfterFailure::RetryAt(
        now.checked_add_signed(delay)
            .map_or(deadline, |at| at.min(deadline)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn raw(id: &str, kind: Option<NotificationKind>, url: &str, secret: &str) -> RawTarget {
        RawTarget {
            target_id: id.into(),
            kind,
            url: url.into(),
            secret: secret.into(),
            description: String::new(),
        }
    }

    const HOOK: Option<NotificationKind> = Some(NotificationKind::Webhook);
    const SLACK: Option<NotificationKind> = Some(NotificationKind::Slack);
    const SECRET: &str = "0123456789abcdef";

    fn fields(result: Result<Vec<TargetSpec>, Vec<FieldViolation>>) -> Vec<(String, String)> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.field, v.description))
            .collect()
    }

    #[test]
    fn valid_targets_are_normalised() {
        let specs = validate_targets(
            &[
                raw("", HOOK, " https://Hooks.Example.com/a?b=c ", SECRET),
                raw("", SLACK, "https://hooks.slack.com/services/T/B/x", ""),
            ],
            &[],
        )
        .unwrap_or_default();
        assert_eq!(specs.len(), 2);
        assert_eq!(
            specs[0].url.as_deref(),
            Some("https://hooks.example.com/a?b=c")
        );
        assert_eq!(specs[0].secret, SecretChange::Set(SECRET.into()));
        assert_eq!(specs[1].secret, SecretChange::Clear);
        assert_eq!(specs[1].target_id, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let got = fields(validate_targets(
            &[
                raw("", HOOK, "ftp://example.com/x", "short"),
                raw("", None, "", ""),
                raw("99", SLACK, "https://", "not allowed"),
                RawTarget {
                    description: "a\nb".into(),
                    ..raw("", SLACK, "http://127.0.0.1:9/x", "")
                },
            ],
            &[],
        ));
        assert_eq!(
            got,
            vec![
                ("targets[0].url".into(), MSG_URL.into()),
                ("targets[0].secret".into(), MSG_SECRET_LENGTH.into()),
                ("targets[1].url".into(), MSG_URL.into()),
                ("targets[1].kind".into(), MSG_KIND.into()),
                ("targets[2].target_id".into(), MSG_UNKNOWN_TARGET.into()),
                ("targets[2].url".into(), MSG_URL.into()),
                ("targets[2].secret".into(), MSG_SECRET_SLACK.into()),
                ("targets[3].description".into(), MSG_DESCRIPTION.into()),
            ]
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(
            fields(validate_targets(&[raw("", SLACK, &long, "")], &[])),
            vec![("targets[0].url".into(), MSG_URL.into())]
        );
        let eleven = vec![raw("", SLACK, "https://example.com", ""); 11];
        assert_eq!(
            fields(validate_targets(&eleven, &[])),
            vec![("targets".into(), MSG_TOO_MANY_TARGETS.into())]
        );
        let long_secret = "s".repeat(257);
        assert_eq!(
            fields(validate_targets(
                &[raw("", HOOK, "https://example.com", &long_secret)],
                &[]
            )),
            vec![("targets[0].secret".into(), MSG_SECRET_LENGTH.into())]
        );
    }

    #[test]
    fn secrets_with_control_characters_are_refused() {
        for secret in ["\0".repeat(16), format!("{}\n", "s".repeat(20))] {
            let raw = RawTarget {
                kind: Some(NotificationKind::Webhook),
                url: "https://hooks.example.com/x".into(),
                secret,
                ..RawTarget::default()
            };
            let violations = validate_targets(&[raw], &[]).unwrap_err();
            assert_eq!(
                violations,
                vec![FieldViolation::new("targets[0].secret", MSG_SECRET_CONTROL)]
            );
        }
    }

    #[test]
    fn existing_targets_keep_their_url_and_secret_when_omitted() {
        let existing = [
            ExistingTarget {
                target_id: 7,
                has_secret: true,
            },
            ExistingTarget {
                target_id: 8,
                has_secret: false,
            },
        ];
        let specs = validate_targets(&[raw("7", HOOK, "", "")], &existing).unwrap_or_default();
        assert_eq!(
            specs,
            vec![TargetSpec {
                target_id: Some(7),
                kind: NotificationKind::Webhook,
                url: None,
                secret: SecretChange::Keep,
                description: String::new(),
            }]
        );
        // A Slack target turned into a webhook has no secret to keep.
        assert_eq!(
            fields(validate_targets(&[raw("8", HOOK, "", "")], &existing)),
            vec![("targets[0].secret".into(), MSG_SECRET_LENGTH.into())]
        );
        assert_eq!(
            fields(validate_targets(
                &[raw("7", SLACK, "", ""), raw("7", SLACK, "", "")],
                &existing
            )),
            vec![("targets[1].target_id".into(), MSG_REPEATED_TARGET.into())]
        );
    }

    #[test]
    fn origins_leave_out_paths_queries_and_user_info() {
        assert_eq!(
            url_origin("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            url_origin("http://user:pw@127.0.0.1:8099/hook?token=x"),
            "http://127.0.0.1:8099"
        );
        assert_eq!(url_origin("not a url"), "");
        assert_eq!(
            targets_summary([
                (
                    NotificationKind::Webhook,
                    "https://a.example/x?k=1",
                    "Pager"
                ),
                (
                    NotificationKind::Slack,
                    "https://hooks.slack.com/services/T/B/c",
                    ""
                ),
            ]),
            "webhook https://a.example (Pager); Slack https://hooks.slack.com"
        );
        assert_eq!(targets_summary([]), "No notification targets");
    }

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let base = Duration::from_secs(1);
        let delays: Vec<u64> = (1..=5).map(|n| retry_delay(n, base).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16]);
        assert_eq!(retry_delay(13, base), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(u32::MAX, base), MAX_RETRY_DELAY);
    }

    #[test]
    fn retries_stop_at_the_end_of_the_window() {
        let created = Utc
            .with_ymd_and_hms(2026, 11, 20, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let base = Duration::from_secs(1);
        assert_eq!(
            after_failure(created, created, 1, base),
            AfterFailure::RetryAt(created + TimeDelta::seconds(1))
        );
        let late = created + TimeDelta::hours(23) + TimeDelta::minutes(30);
        assert_eq!(
            after_failure(late, created, 20, base),
            AfterFailure::RetryAt(created + DELIVERY_WINDOW),
            "the last attempt falls on the end of the window"
        );
        assert_eq!(
            after_failure(created + DELIVERY_WINDOW, created, 21, base),
            AfterFailure::GiveUp
        );
    }
}
