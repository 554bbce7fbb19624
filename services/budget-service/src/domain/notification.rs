//! Notification targets and deliveries: which target sets are valid, how a target's URL is
//! shown without its credentials, and when a failed delivery is tried again or given up.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::egress::{EgressPolicy, UrlRefusal};
use super::{FieldViolation, is_short_text};

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
pub const MSG_URL_HTTP: &str =
    "Notification URL must use https; this service does not send plain http";
pub const MSG_URL_PRIVATE: &str = "Notification URL must not point to a private or local address";
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

/// Validates a whole new set of targets against the tenant's current ones and the operator's
/// egress rules, reporting one violation per bad field, named like "targets[1].url". The
/// caller resolves the host names (this does no I/O) and names the targets whose host
/// resolves to an address the rules do not allow in `resolves_inside`.
pub fn validate_targets(
    raw: &[RawTarget],
    existing: &[ExistingTarget],
    policy: &EgressPolicy,
    resolves_inside: &[usize],
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
            "" if current.is_some() => Ok(None),
            raw_url => normalise_url(raw_url, policy).and_then(|url| {
                if resolves_inside.contains(&i) {
                    Err(MSG_URL_PRIVATE)
                } else {
                    Ok(Some(url))
                }
            }),
        };
        let url = url.map_err(|message| bad("url", message)).ok();
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
        if !is_short_text(description, MAX_DESCRIPTION_CHARS) {
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

/// The URL as it will be requested, when it is an http(s) URL with a host, fits, and passes
/// the egress rules; else the violation's message.
fn normalise_url(raw: &str, policy: &EgressPolicy) -> Result<String, &'static str> {
    let url = url::Url::parse(raw).map_err(|_| MSG_URL)?;
    let fits = url.as_str().chars().count() <= MAX_URL_CHARS;
    let web = matches!(url.scheme(), "http" | "https");
    if !(fits && web && url.host_str().is_some_and(|h| !h.is_empty())) {
        return Err(MSG_URL);
    }
    match policy.check_url(&url) {
        Ok(_) => Ok(url.into()),
        Err(UrlRefusal::NotWeb) => Err(MSG_URL),
        Err(UrlRefusal::PlainHttp) => Err(MSG_URL_HTTP),
        Err(UrlRefusal::LocalAddress) => Err(MSG_URL_PRIVATE),
    }
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

/// How hard a failed delivery backs off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// The receiver answered (or refused the connection at once): `base` doubled per attempt.
    Standard,
    /// The receiver let the attempt time out, holding a sending slot all that while: four
    /// times the standard wait.
    Slow,
}

/// How much longer a [`Backoff::Slow`] wait is than a standard one.
pub const SLOW_BACKOFF_FACTOR: u32 = 4;

/// The wait before attempt `attempts + 1`: `base` doubled per earlier attempt (times
/// [`SLOW_BACKOFF_FACTOR`] after a timeout), at most an hour.
pub fn retry_delay(attempts: u32, base: Duration, backoff: Backoff) -> Duration {
    let doublings = attempts.saturating_sub(1).min(31);
    let base = match backoff {
        Backoff::Standard => base,
        Backoff::Slow => base.saturating_mul(SLOW_BACKOFF_FACTOR),
    };
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
    backoff: Backoff,
) -> AfterFailure {
    let deadline = created_at
        .checked_add_signed(DELIVERY_WINDOW)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if now >= deadline {
        return AfterFailure::GiveUp;
    }
    let delay =
        TimeDelta::from_std(retry_delay(attempts, base, backoff)).unwrap_or(TimeDelta::hours(1));
    AfterFailure::RetryAt(
        now.checked_add_signed(delay)
            .map_or(deadline, |at| at.min(deadline)),
    )
}

/// How many deliveries one replica sends at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryLimits {
    /// In flight in all (`BUDGET_DELIVERY_CONCURRENCY`).
    pub total: usize,
    /// In flight per tenant (`BUDGET_DELIVERY_PER_TENANT`), so one tenant's slow receivers
    /// cannot hold every slot.
    pub per_tenant: usize,
    /// In flight per receiver, host and port (`BUDGET_DELIVERY_PER_RECEIVER`), so no
    /// receiver, whoever points at it, is sent more than this at once.
    pub per_receiver: usize,
}

/// What is being sent right now, counted against [`DeliveryLimits`].
#[derive(Clone, Debug)]
pub struct InFlight {
    limits: DeliveryLimits,
    total: usize,
    tenants: HashMap<String, usize>,
    targets: HashMap<i64, usize>,
    receivers: HashMap<String, usize>,
}

/// What one delivery in flight counts against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub tenant_id: String,
    pub target_id: i64,
    /// [`super::egress::receiver_key`] of the target's URL.
    pub receiver: String,
}

impl InFlight {
    pub fn new(limits: DeliveryLimits) -> InFlight {
        InFlight {
            limits,
            total: 0,
            tenants: HashMap::new(),
            targets: HashMap::new(),
            receivers: HashMap::new(),
        }
    }

    pub fn limits(&self) -> DeliveryLimits {
        self.limits
    }

    /// How many more may start.
    pub fn free(&self) -> usize {
        self.limits.total.saturating_sub(self.total)
    }

    /// Each tenant with deliveries in flight and how many.
    pub fn by_tenant(&self) -> impl Iterator<Item = (&str, usize)> {
        self.tenants.iter().map(|(id, n)| (id.as_str(), *n))
    }

    /// Each target with deliveries in flight and how many (a target's URL is one receiver).
    pub fn by_target(&self) -> impl Iterator<Item = (i64, usize)> {
        self.targets.iter().map(|(id, n)| (*id, *n))
    }

    /// Counts the delivery in when every limit has room for it.
    pub fn try_start(&mut self, slot: &Slot) -> bool {
        let count = |map: &HashMap<String, usize>, key: &str| map.get(key).copied().unwrap_or(0);
        let fits = self.total < self.limits.total
            && count(&self.tenants, &slot.tenant_id) < self.limits.per_tenant
            && count(&self.receivers, &slot.receiver) < self.limits.per_receiver;
        if fits {
            fn take<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: K) {
                let n = map.entry(key).or_default();
                *n = n.saturating_add(1);
            }
            self.total = self.total.saturating_add(1);
            take(&mut self.tenants, slot.tenant_id.clone());
            take(&mut self.targets, slot.target_id);
            take(&mut self.receivers, slot.receiver.clone());
        }
        fits
    }

    /// Counts a delivery out once it is done (whatever its outcome).
    pub fn finish(&mut self, slot: &Slot) {
        fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
            if let Some(n) = map.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
        self.total = self.total.saturating_sub(1);
        release(&mut self.tenants, &slot.tenant_id);
        release(&mut self.targets, &slot.target_id);
        release(&mut self.receivers, &slot.receiver);
    }
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

    /// Plain http and 127.0.0.1 allowed, as in the integration tests.
    fn open() -> EgressPolicy {
        EgressPolicy {
            allow_http: true,
            allow: "127.0.0.1".parse().unwrap(),
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
            &open(),
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
            &open(),
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
            fields(validate_targets(
                &[raw("", SLACK, &long, "")],
                &[],
                &open(),
                &[]
            )),
            vec![("targets[0].url".into(), MSG_URL.into())]
        );
        let eleven = vec![raw("", SLACK, "https://example.com", ""); 11];
        assert_eq!(
            fields(validate_targets(&eleven, &[], &open(), &[])),
            vec![("targets".into(), MSG_TOO_MANY_TARGETS.into())]
        );
        let long_secret = "s".repeat(257);
        assert_eq!(
            fields(validate_targets(
                &[raw("", HOOK, "https://example.com", &long_secret)],
                &[],
                &open(),
                &[],
            )),
            vec![("targets[0].secret".into(), MSG_SECRET_LENGTH.into())]
        );
    }

    #[test]
    fn urls_reaching_inside_or_plain_http_are_refused() {
        let strict = EgressPolicy::default();
        let got = fields(validate_targets(
            &[
                raw("", SLACK, "http://hooks.example.com/x", ""),
                raw("", SLACK, "https://127.0.0.1/x", ""),
                raw("", SLACK, "https://169.254.169.254/latest/meta-data", ""),
                raw("", SLACK, "https://[::ffff:10.0.0.1]/", ""),
                raw("", SLACK, "https://hooks.example.com/x", ""),
            ],
            &[],
            &strict,
            &[],
        ));
        assert_eq!(
            got,
            vec![
                ("targets[0].url".into(), MSG_URL_HTTP.into()),
                ("targets[1].url".into(), MSG_URL_PRIVATE.into()),
                ("targets[2].url".into(), MSG_URL_PRIVATE.into()),
                ("targets[3].url".into(), MSG_URL_PRIVATE.into()),
            ]
        );
        assert_eq!(
            MSG_URL_PRIVATE,
            "Notification URL must not point to a private or local address"
        );
        // A host name that resolves inside (told by the caller, who resolved it).
        assert_eq!(
            fields(validate_targets(
                &[
                    raw("", SLACK, "https://a.example/", ""),
                    raw("", SLACK, "https://b.example/", "")
                ],
                &[],
                &strict,
                &[1],
            )),
            vec![("targets[1].url".into(), MSG_URL_PRIVATE.into())]
        );
        // The allow-list lets the operator's own receivers through.
        assert!(
            validate_targets(
                &[raw("", SLACK, "http://127.0.0.1:9/x", "")],
                &[],
                &open(),
                &[]
            )
            .is_ok()
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
            let violations = validate_targets(&[raw], &[], &open(), &[]).unwrap_err();
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
        let specs = validate_targets(&[raw("7", HOOK, "", "")], &existing, &open(), &[])
            .unwrap_or_default();
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
            fields(validate_targets(
                &[raw("8", HOOK, "", "")],
                &existing,
                &open(),
                &[],
            )),
            vec![("targets[0].secret".into(), MSG_SECRET_LENGTH.into())]
        );
        assert_eq!(
            fields(validate_targets(
                &[raw("7", SLACK, "", ""), raw("7", SLACK, "", "")],
                &existing,
                &open(),
                &[],
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
        let delays: Vec<u64> = (1..=5)
            .map(|n| retry_delay(n, base, Backoff::Standard).as_secs())
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16]);
        let slow: Vec<u64> = (1..=5)
            .map(|n| retry_delay(n, base, Backoff::Slow).as_secs())
            .collect();
        assert_eq!(slow, vec![4, 8, 16, 32, 64], "timeouts back off harder");
        assert_eq!(retry_delay(13, base, Backoff::Standard), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(11, base, Backoff::Slow), MAX_RETRY_DELAY);
        assert_eq!(
            retry_delay(u32::MAX, base, Backoff::Standard),
            MAX_RETRY_DELAY
        );
    }

    #[test]
    fn in_flight_deliveries_are_capped_in_all_per_tenant_and_per_receiver() {
        let mut load = InFlight::new(DeliveryLimits {
            total: 4,
            per_tenant: 2,
            per_receiver: 2,
        });
        let slot = |tenant: &str, target_id: i64, receiver: &str| Slot {
            tenant_id: tenant.into(),
            target_id,
            receiver: receiver.into(),
        };
        assert!(load.try_start(&slot("a", 1, "tarpit:1")));
        assert!(load.try_start(&slot("a", 2, "tarpit:2")));
        assert!(
            !load.try_start(&slot("a", 3, "fine:1")),
            "tenant a is at its cap"
        );
        assert!(load.try_start(&slot("b", 4, "tarpit:1")));
        assert!(
            !load.try_start(&slot("c", 5, "tarpit:1")),
            "the receiver is at its cap"
        );
        assert!(load.try_start(&slot("c", 6, "fine:1")));
        assert_eq!(load.free(), 0);
        assert!(!load.try_start(&slot("d", 7, "other:1")), "all slots taken");
        let mut tenants: Vec<_> = load.by_tenant().collect();
        tenants.sort();
        assert_eq!(tenants, vec![("a", 2), ("b", 1), ("c", 1)]);
        load.finish(&slot("a", 1, "tarpit:1"));
        assert_eq!(load.free(), 1);
        assert!(load.try_start(&slot("c", 5, "tarpit:1")));
        for s in [
            slot("a", 2, "tarpit:2"),
            slot("b", 4, "tarpit:1"),
            slot("c", 6, "fine:1"),
            slot("c", 5, "tarpit:1"),
        ] {
            load.finish(&s);
        }
        assert_eq!(load.free(), 4);
        assert_eq!(load.by_tenant().count(), 0);
        assert_eq!(load.by_target().count(), 0);
    }

    #[test]
    fn retries_stop_at_the_end_of_the_window() {
        let created = Utc
            .with_ymd_and_hms(2026, 11, 20, 12, 0, 0)
            .single()
            .unwrap_or_default();
        let base = Duration::from_secs(1);
        assert_eq!(
            after_failure(created, created, 1, base, Backoff::Standard),
            AfterFailure::RetryAt(created + TimeDelta::seconds(1))
        );
        let late = created + TimeDelta::hours(23) + TimeDelta::minutes(30);
        assert_eq!(
            after_failure(late, created, 20, base, Backoff::Slow),
            AfterFailure::RetryAt(created + DELIVERY_WINDOW),
            "the last attempt falls on the end of the window"
        );
        assert_eq!(
            after_failure(
                created + DELIVERY_WINDOW,
                created,
                21,
                base,
                Backoff::Standard
            ),
            AfterFailure::GiveUp
        );
    }
}
