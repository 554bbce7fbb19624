//! PreviewBudgetConfig over a real tonic channel, PostgreSQL and litellm-sim: its dates are the
//! ones GetBudgetStatus's forecast gives for the same settings, it checks settings exactly as
//! UpdateBudgetConfig does, it changes nothing, costs no LiteLLM call beyond the cached status,
//! and takes nothing from the write rate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::{AuthedClient, Stack, StackOptions, config, field_violations};
use budget_proto::v1 as pb;
use budget_service::domain::auth::Role;
use chrono::{DateTime, Days, Duration, Utc};
use tonic::Code;

const USD: i64 = 1_000_000;

async fn preview(
    client: &mut AuthedClient,
    tenant: &str,
    cfg: pb::BudgetConfig,
    mask: Option<&[&str]>,
) -> Result<pb::BudgetPreview, tonic::Status> {
    client
        .preview_budget_config(pb::PreviewBudgetConfigRequest {
            tenant_id: tenant.into(),
            config: Some(cfg),
            update_mask: mask.map(|paths| prost_types::FieldMask {
                paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            }),
        })
        .await
        .map(|r| r.into_inner().preview.unwrap())
}

fn time(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
}

/// (crossing, time) of a milestone.
fn reach(m: Option<&pb::Milestone>) -> (pb::Crossing, Option<DateTime<Utc>>) {
    let m = m.unwrap();
    (m.crossing(), time(m.time.as_ref()))
}

/// acme: $500 budget, alert 80 %, grace 110 %, "30d"; $210 spent, $20 on each of the last 7
/// days, on 2027-04-15 at noon, so LiteLLM resets on 2027-05-01 (15.5 days on).
async fn seeded_stack(options: StackOptions) -> Stack {
    let stack = Stack::start_with(StackOptions {
        start_at: Some("2027-04-15T12:00:00Z".parse().unwrap()),
        ..options
    })
    .await;
    let key = stack.create_tenant("acme", 500).await.virtual_key;
    stack.sim().set_spend(&key, 210.0).unwrap();
    let today = stack.sim().now().date_naive();
    for back in 1..=7u64 {
        let day = today.checked_sub_days(Days::new(back)).unwrap();
        stack.sim().set_daily_spend(&key, day, 20.0).unwrap();
    }
    stack
}

#[tokio::test]
async fn dates_are_the_status_forecast_for_the_proposed_settings() {
    let stack = seeded_stack(StackOptions::default()).await;
    let mut client = stack.client();
    let status = stack.status("acme").await.unwrap();
    let now = time(status.fetch_time.as_ref()).unwrap();
    let reset = time(status.reset_time.as_ref()).unwrap();
    assert_eq!(
        reset,
        "2027-05-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let calls_after_status = stack.sim().all_calls();

    // The rate is the mean of GetSpendHistory's last 7 complete days.
    let history = client
        .get_spend_history(pb::GetSpendHistoryRequest {
            tenant_id: "acme".into(),
            days: 8,
        })
        .await
        .unwrap()
        .into_inner();
    let week: i64 = history.days[..7].iter().map(|d| d.spend_micros).sum();
    assert_eq!(week / 7, 20 * USD);

    // The current settings repeat GetBudgetStatus: the budget is reached at its projected
    // exhaustion time, $290 / $20 = 14.5 days on.
    let same = preview(&mut client, "acme", config(500, 80, 110, "30d"), None)
        .await
        .unwrap();
    assert_eq!(same.tenant_id, "acme");
    assert_eq!(same.daily_rate_micros, status.daily_rate_micros);
    assert_eq!(same.daily_rate_micros, week / 7);
    assert_eq!(same.spend_micros, 210 * USD);
    assert_eq!(same.projected_spend_micros, status.projected_spend_micros);
    assert_eq!(same.fetch_time, status.fetch_time);
    assert_eq!(same.reset_time, status.reset_time);
    let exhaustion = time(status.projected_exhaustion_time.as_ref()).unwrap();
    assert_eq!(exhaustion, now + Duration::hours(14 * 24 + 12));
    assert_eq!(
        reach(same.budget.as_ref()),
        (pb::Crossing::BeforeReset, Some(exhaustion))
    );
    let alert = same.alert.as_ref().unwrap();
    assert_eq!(alert.amount_micros, status.alert_at_micros);
    assert_eq!(
        reach(Some(alert)),
        (
            pb::Crossing::BeforeReset,
            Some(now + Duration::hours(9 * 24 + 12))
        )
    );
    // Blocked at $550: 17 days on, after the reset.
    assert_eq!(
        same.block.as_ref().unwrap().amount_micros,
        status.block_at_micros
    );
    assert_eq!(
        reach(same.block.as_ref()),
        (pb::Crossing::NotBeforeReset, None)
    );
    assert!(!same.period_changes);

    // $300 at 80 % / 120 %: alert at $240 in 1.5 days, budget in 4.5, blocked at $360 in 7.5.
    let lower = preview(&mut client, "acme", config(300, 80, 120, "30d"), None)
        .await
        .unwrap();
    assert_eq!(lower.block.as_ref().unwrap().amount_micros, 360 * USD);
    for (milestone, hours) in [
        (&lower.alert, 36),
        (&lower.budget, 4 * 24 + 12),
        (&lower.block, 7 * 24 + 12),
    ] {
        assert_eq!(
            reach(milestone.as_ref()),
            (
                pb::Crossing::BeforeReset,
                Some(now + Duration::hours(hours))
            )
        );
    }
    assert_eq!(
        lower.config.as_ref().map(|c| c.max_budget_micros),
        Some(300 * USD)
    );

    // $200: the $210 spent is past every amount already.
    let past = preview(&mut client, "acme", config(200, 50, 100, "30d"), None)
        .await
        .unwrap();
    for milestone in [&past.alert, &past.budget, &past.block] {
        assert_eq!(reach(milestone.as_ref()), (pb::Crossing::Reached, None));
    }

    // A mask proposes only what it names: $1,000 with the stored 80 % / 110 % / "30d".
    let masked = preview(
        &mut client,
        "acme",
        config(1000, 0, 0, ""),
        Some(&["max_budget_micros"]),
    )
    .await
    .unwrap();
    let proposed = masked.config.unwrap();
    assert_eq!(
        (
            proposed.max_budget_micros,
            proposed.alert_threshold_percent,
            proposed.grace_threshold_percent,
            proposed.budget_duration.as_str()
        ),
        (1000 * USD, 80, 110, "30d")
    );
    assert_eq!(
        reach(masked.alert.as_ref()),
        (pb::Crossing::NotBeforeReset, None)
    );

    // A new period is flagged; the reset stays LiteLLM's.
    let longer = preview(&mut client, "acme", config(500, 80, 110, "90d"), None)
        .await
        .unwrap();
    assert!(longer.period_changes);
    assert_eq!(longer.reset_time, status.reset_time);

    // Every preview was answered from the cached status: not one LiteLLM call.
    assert_eq!(stack.sim().all_calls(), calls_after_status);
    stack.stop().await;
}

#[tokio::test]
async fn invalid_settings_get_updates_violations_and_nothing_changes() {
    let stack = seeded_stack(StackOptions::default()).await;
    let mut client = stack.client();
    let key_before = {
        let status = stack.status("acme").await.unwrap();
        assert_eq!(status.spend_micros, 210 * USD);
        stack.sim().all_calls()
    };
    let config_before = stack.config("acme").await.unwrap();
    let audit_before = audit_len(&stack).await;
    let cases: Vec<(pb::BudgetConfig, Option<&[&str]>)> = vec![
        (config(0, 80, 110, "30d"), None),
        (config(10_000_001, 80, 110, "30d"), None),
        (config(500, 49, 110, "30d"), None),
        (config(500, 80, 151, "30d"), None),
        (config(500, 80, 110, "45d"), None),
        (pb::BudgetConfig::default(), None),
        (config(500, 80, 110, "30d"), Some(&["etag"])),
        (config(-1, 0, 0, ""), Some(&["max_budget_micros"])),
    ];
    for (cfg, mask) in cases {
        let previewed = preview(&mut client, "acme", cfg.clone(), mask)
            .await
            .unwrap_err();
        assert_eq!(previewed.code(), Code::InvalidArgument, "{cfg:?}");
        let updated = client
            .update_budget_config(pb::UpdateBudgetConfigRequest {
                tenant_id: "acme".into(),
                config: Some(cfg.clone()),
                etag: String::new(),
                update_mask: mask.map(|paths| prost_types::FieldMask {
                    paths: paths.iter().map(|p| (*p).to_owned()).collect(),
                }),
            })
            .await
            .unwrap_err();
        let violations = field_violations(&previewed);
        assert!(!violations.is_empty(), "{cfg:?}");
        assert_eq!(violations, field_violations(&updated), "{cfg:?}");
    }
    let bad_id = preview(&mut client, "Not An Id", config(500, 80, 110, "30d"), None)
        .await
        .unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&bad_id)[0].0, "tenant_id");
    let unknown = preview(&mut client, "nobody", config(500, 80, 110, "30d"), None)
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    assert_eq!(stack.config("acme").await.unwrap(), config_before);
    assert_eq!(audit_len(&stack).await, audit_before);
    // Nothing reached LiteLLM: neither the previews nor the refused updates.
    assert_eq!(stack.sim().all_calls(), key_before);
    stack.stop().await;
}

async fn audit_len(stack: &Stack) -> usize {
    stack
        .client()
        .list_audit_events(pb::ListAuditEventsRequest {
            tenant_id: "acme".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
        .len()
}

#[tokio::test]
async fn previews_take_nothing_from_the_write_rate() {
    // One write per token, refilled only every 100 s.
    let stack = seeded_stack(StackOptions {
        write_rate_per_sec: 0.01,
        write_burst: 1.0,
        ..StackOptions::default()
    })
    .await;
    let token = stack
        .token("acme-admin", Role::TenantAdmin, Some("acme"))
        .await;
    let mut client = stack.client_with(Some(&token));
    for budget in 100..150 {
        preview(&mut client, "acme", config(budget, 80, 110, "30d"), None)
            .await
            .unwrap();
    }
    let update = |budget| pb::UpdateBudgetConfigRequest {
        tenant_id: "acme".into(),
        config: Some(config(budget, 80, 110, "30d")),
        etag: String::new(),
        update_mask: None,
    };
    // The token's one write is still there after 50 previews; the limit itself is in force.
    client.update_budget_config(update(600)).await.unwrap();
    let limited = client.update_budget_config(update(700)).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);
    // Previews go on while writes are limited, and see the saved settings' status.
    let after = preview(&mut client, "acme", config(600, 80, 110, "30d"), Some(&[]))
        .await
        .unwrap();
    assert_eq!(after.block.as_ref().unwrap().amount_micros, 660 * USD);
    stack.stop().await;
}
