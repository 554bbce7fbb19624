//! The evaluator skips the PostgreSQL work of tenants whose inputs did not change since
//! their last completed evaluation. A skipping pass must be indistinguishable from a pass
//! that does every tenant's work: two stacks get the same random sequences of changes
//! (spend, spend by model in LiteLLM's daily activity, budget, a temporary increase and its
//! expiry, a key changed behind our back, time passing across days and budget resets), one
//! is evaluated with skipping passes and one with full passes, and after every pass both
//! hold the same alerts, deliveries, audit events (repairs, expiries), fleet statuses (with
//! their run-out dates), daily spend and spend by model, and report the same counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::{SIM_MASTER_KEY, Stack, StackOptions, config};
use budget_proto::v1 as pb;
use chrono::{DateTime, Duration, TimeZone, Utc};

const TENANTS: [(&str, &str); 4] = [
    ("t-a", "30d"),
    ("t-b", "60d"),
    ("t-c", "30d"),
    ("t-d", "90d"),
];

/// A small deterministic generator (xorshift), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const MODELS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "llama3"];

#[derive(Clone, Debug)]
enum Change {
    Spend(usize, f64),
    Budget(usize, i64),
    Grant(usize, i64, i64),
    Drift(usize),
    /// Spend on one of a few models today, in LiteLLM's daily activity.
    Models(usize, usize, f64),
    Advance(i64),
    Nothing,
}

fn change(rng: &mut Rng) -> Change {
    let tenant = usize::try_from(rng.below(TENANTS.len() as u64)).unwrap();
    match rng.below(10) {
        0..=2 => Change::Spend(tenant, rng.below(260) as f64 / 2.0),
        3 => Change::Budget(tenant, 50 + i64::try_from(rng.below(100)).unwrap()),
        4 => Change::Grant(
            tenant,
            10 + i64::try_from(rng.below(50)).unwrap(),
            1 + i64::try_from(rng.below(30)).unwrap(),
        ),
        5 => Change::Drift(tenant),
        // Hours (a new UTC day now and then) or days (budget periods end).
        6 => Change::Advance(1 + i64::try_from(rng.below(20)).unwrap()),
        7 => Change::Advance(24 * (3 + i64::try_from(rng.below(12)).unwrap())),
        8 => Change::Models(
            tenant,
            usize::try_from(rng.below(MODELS.len() as u64)).unwrap(),
            1.0 + rng.below(40) as f64 / 4.0,
        ),
        _ => Change::Nothing,
    }
}

/// One stack and its tenants' raw keys.
struct Side {
    stack: Stack,
    keys: Vec<String>,
}

impl Side {
    async fn start(at: DateTime<Utc>) -> Side {
        let stack = Stack::start_with(StackOptions {
            start_at: Some(at),
            ..StackOptions::default()
        })
        .await;
        let mut keys = Vec::new();
        for (id, duration) in TENANTS {
            stack.sim().set_clock(at);
            let created = stack
                .create_tenant_with(id, config(100, 80, 110, duration))
                .await;
            keys.push(created.virtual_key);
        }
        stack
            .client()
            .set_notification_targets(pb::SetNotificationTargetsRequest {
                tenant_id: TENANTS[0].0.into(),
                targets: vec![pb::NotificationTarget {
                    kind: pb::NotificationKind::Slack.into(),
                    url: "https://hooks.slack.com/services/T/B/C".into(),
                    ..Default::default()
                }],
            })
            .await
            .unwrap();
        Side { stack, keys }
    }

    /// Applies the change; says whether the API accepted it.
    async fn apply(&self, change: &Change, at: DateTime<Utc>) -> bool {
        let sim = self.stack.sim();
        sim.set_clock(at);
        match *change {
            Change::Spend(t, usd) => sim.set_spend(&self.keys[t], usd).is_ok(),
            Change::Models(t, model, usd) => sim
                .add_model_spend(&self.keys[t], at.date_naive(), MODELS[model], usd)
                .is_ok(),
            Change::Budget(t, usd) => {
                let duration = TENANTS[t].1;
                self.stack
                    .update_config(TENANTS[t].0, config(usd, 80, 110, duration), "")
                    .await
                    .is_ok()
            }
            Change::Grant(t, usd, hours) => {
                let expire = at + Duration::hours(hours);
                self.stack
                    .client()
                    .grant_temporary_increase(pb::GrantTemporaryIncreaseRequest {
                        tenant_id: TENANTS[t].0.into(),
                        amount_micros: usd * 1_000_000,
                        expire_time: Some(prost_types::Timestamp {
                            seconds: expire.timestamp(),
                            nanos: 0,
                        }),
                        reason: "launch".into(),
                    })
                    .await
                    .is_ok()
            }
            Change::Drift(t) => reqwest::Client::new()
                .post(format!("{}/key/update", self.stack.sim.base_url()))
                .bearer_auth(SIM_MASTER_KEY)
                .json(&serde_json::json!({"key": self.keys[t], "max_budget": 5.0, "soft_budget": 1.0}))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
            Change::Advance(_) | Change::Nothing => true,
        }
    }

    /// Everything an evaluation writes, in a form comparable across the two stacks: each
    /// row as PostgreSQL prints it. Statuses say whether this pass marked them checked, and
    /// whether they have a run-out time: its instant is "now" plus the time left at the
    /// day's rate, so it differs between two stacks by their clocks' microseconds, and an
    /// unchanged tenant keeps the one of its last changed evaluation (the same UTC day).
    async fn snapshot(&self, pass_started: DateTime<Utc>) -> Vec<String> {
        const TABLES: [&str; 7] = [
            "SELECT (a.tenant_id, a.alert_type, a.spend_micros, a.max_budget_micros, a.threshold_percent, \
             a.message, a.dedupe_key, (SELECT count(*) FROM notification_deliveries d \
             WHERE d.alert_id = a.alert_id))::text FROM budget_alert_history a ORDER BY a.dedupe_key",
            "SELECT (tenant_id, action, count(*))::text FROM audit_events \
             WHERE actor = 'budget-evaluator' GROUP BY tenant_id, action ORDER BY tenant_id, action",
            "SELECT (tenant_id, spend_micros, max_budget_micros, percent_used, state, reset_time, \
             run_out_time IS NOT NULL, fetch_time >= $1)::text FROM tenant_status ORDER BY tenant_id",
            "SELECT (tenant_id, day, spend_micros)::text FROM daily_spend ORDER BY tenant_id, day",
            "SELECT (tenant_id, day, model, spend_micros)::text FROM model_spend \
             ORDER BY tenant_id, day, model",
            "SELECT (tenant_id, max_budget_micros, budget_reset_at)::text FROM tenant_configs ORDER BY tenant_id",
            "SELECT (tenant_id, amount_micros)::text FROM temporary_increases ORDER BY tenant_id",
        ];
        let mut lines = Vec::new();
        for sql in TABLES {
            let query = sqlx::query_as::<_, (String,)>(sql);
            let query = if sql.contains("$1") {
                query.bind(pass_started)
            } else {
                query
            };
            let rows = query.fetch_all(self.stack.store.pool()).await.unwrap();
            lines.extend(rows.into_iter().map(|(row,)| row));
        }
        lines
    }
}

/// A pass's counts that both kinds of pass must agree on.
fn outcome(report: &budget_service::service::PassReport) -> [usize; 6] {
    [
        report.tenants,
        report.evaluated,
        report.alerts_recorded,
        report.keys_repaired,
        report.failed,
        report.increases_expired,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_skipping_pass_records_exactly_what_a_full_pass_records() {
    let (mut unchanged, mut alerts, mut repaired, mut expired) = (0, 0, 0, 0);
    for seed in [0x9e37_79b9_7f4a_7c15_u64, 0x2545_f491_4f6c_dd1d] {
        let mut at = Utc.with_ymd_and_hms(2026, 3, 9, 10, 17, 0).unwrap();
        let skipping = Side::start(at).await;
        let full = Side::start(at).await;
        let (_keep, stop) = tokio::sync::watch::channel(false);
        let mut rng = Rng(seed);
        let mut history = Vec::new();
        for step in 0..40 {
            let change = change(&mut rng);
            if let Change::Advance(hours) = change {
                at += Duration::hours(hours);
            }
            history.push(change.clone());
            let accepted = (
                skipping.apply(&change, at).await,
                full.apply(&change, at).await,
            );
            assert_eq!(
                accepted.0, accepted.1,
                "seed {seed:#x} step {step}: {history:?}"
            );
            // A few seconds between steps, as between passes; both sims read the same time.
            at += Duration::seconds(7);
            skipping.stack.sim().set_clock(at);
            full.stack.sim().set_clock(at);
            let a = skipping.stack.budgets.evaluation_pass(&stop).await.unwrap();
            let b = full
                .stack
                .budgets
                .evaluation_full_pass(&stop)
                .await
                .unwrap();
            assert_eq!(b.unchanged, 0);
            unchanged += a.unchanged;
            alerts += a.alerts_recorded;
            repaired += a.keys_repaired;
            expired += a.increases_expired;
            assert_eq!(
                outcome(&a),
                outcome(&b),
                "seed {seed:#x} step {step}: {history:?}\n{a:?}\n{b:?}"
            );
            assert_eq!(
                skipping.snapshot(at).await,
                full.snapshot(at).await,
                "seed {seed:#x} step {step}: {history:?}"
            );
        }
        skipping.stack.stop().await;
        full.stack.stop().await;
    }
    // The property holds with skipping actually happening, not by never skipping, and over
    // sequences that record alerts, repair keys and expire increases.
    assert!(unchanged > 20, "only {unchanged} tenants were skipped");
    assert!(
        alerts > 5 && repaired > 2 && expired > 2,
        "alerts {alerts}, repairs {repaired}, expiries {expired}"
    );
}
