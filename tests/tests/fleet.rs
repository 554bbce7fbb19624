//! The fleet overview over a real tonic channel and PostgreSQL: GetFleetSummary's counts by
//! state, totals and "runs out before reset" (the evaluator's forecast, stored with each
//! tenant's status), ListTenants' state filter and its orders with page tokens, the role check
//! and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use budget_e2e::{AuthedClient, Stack, StackOptions, field_violations};
use budget_proto::v1 as pb;
use budget_service::domain::auth::Role;
use chrono::{DateTime, Days, Utc};
use tonic::Code;

const USD: i64 = 1_000_000;

/// A tenant of the fixture: id, budget, spend and the daily rate of its last 7 days (dollars).
struct Seed {
    id: &'static str,
    budget: i64,
    spend: f64,
    daily: f64,
}

/// Budgets with the default thresholds (alert 80 %, grace 110 %). On 10 November the reset is
/// 1 December, 20.5 days away: acme and globex run out before it, hooli does not, initech and
/// umbrella are past their budget already, halted would run out but is suspended.
const FLEET: [Seed; 7] = [
    Seed {
        id: "acme",
        budget: 100,
        spend: 50.0,
        daily: 20.0,
    }, // ok, runs out in 2.5 days
    Seed {
        id: "globex",
        budget: 1000,
        spend: 880.0,
        daily: 40.0,
    }, // warning, runs out in 3 days
    Seed {
        id: "hooli",
        budget: 500,
        spend: 15.0,
        daily: 1.0,
    }, // ok, not before the reset
    Seed {
        id: "initech",
        budget: 200,
        spend: 208.0,
        daily: 10.0,
    }, // grace
    Seed {
        id: "umbrella",
        budget: 300,
        spend: 348.0,
        daily: 5.0,
    }, // blocked
    Seed {
        id: "halted",
        budget: 100,
        spend: 60.0,
        daily: 30.0,
    }, // suspended
    Seed {
        id: "gone",
        budget: 900,
        spend: 10.0,
        daily: 90.0,
    }, // deleted
];

const START: &str = "2026-11-10T12:00:00Z";

/// The fixture: the tenants above, evaluated once; halted suspended, gone deleted, and zeta
/// created afterwards, so it has never been evaluated. Also returns the virtual keys by tenant.
async fn fleet_with_keys() -> (Stack, HashMap<&'static str, String>) {
    let stack = Stack::start_with(StackOptions {
        start_at: Some(START.parse().unwrap()),
        ..StackOptions::default()
    })
    .await;
    let today = stack.sim().now().date_naive();
    let mut keys = HashMap::new();
    for seed in &FLEET {
        let key = stack.create_tenant(seed.id, seed.budget).await.virtual_key;
        keys.insert(seed.id, key.clone());
        stack.sim().set_spend(&key, seed.spend).unwrap();
        stack
            .sim()
            .seed_daily_history(
                &key,
                today.checked_sub_days(Days::new(1)).unwrap(),
                &[seed.daily; 7],
            )
            .unwrap();
    }
    let mut admin = stack.client();
    admin
        .suspend_tenant(pb::SuspendTenantRequest {
            tenant_id: "halted".into(),
            reason: "fleet test".into(),
        })
        .await
        .unwrap();
    let report = stack.evaluate().await;
    assert_eq!(report.failed, 0);
    admin
        .delete_tenant(pb::DeleteTenantRequest {
            tenant_id: "gone".into(),
        })
        .await
        .unwrap();
    stack.create_tenant("zeta", 50).await;
    (stack, keys)
}

async fn fleet() -> Stack {
    fleet_with_keys().await.0
}

async fn summary(client: &mut AuthedClient) -> Result<pb::GetFleetSummaryResponse, tonic::Status> {
    client
        .get_fleet_summary(pb::GetFleetSummaryRequest {})
        .await
        .map(tonic::Response::into_inner)
}

fn time(ts: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    let ts = ts.expect("a time");
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap()).unwrap()
}

#[tokio::test]
async fn the_summary_counts_each_state_sums_the_period_and_lists_who_runs_out_soonest() {
    let stack = fleet().await;
    let s = summary(&mut stack.client()).await.unwrap();
    assert_eq!(
        (
            s.ok_count,
            s.warning_count,
            s.grace_count,
            s.blocked_count,
            s.suspended_count,
            s.unavailable_count
        ),
        (2, 1, 1, 1, 1, 1),
        "acme+hooli ok, globex warning, initech grace, umbrella blocked, halted suspended, zeta unavailable"
    );
    // The six evaluated live tenants (the deleted one and zeta are not in the sums).
    assert_eq!(s.evaluated_count, 6);
    assert_eq!(s.total_spend_micros, (50 + 880 + 15 + 208 + 348 + 60) * USD);
    assert_eq!(
        s.total_budget_micros,
        (100 + 1000 + 500 + 200 + 300 + 100) * USD
    );

    // Runs out before reset: soonest first, neither the suspended nor the deleted tenant.
    assert_eq!(s.runs_out_count, 2);
    let ids: Vec<&str> = s.runs_out.iter().map(|t| t.tenant_id.as_str()).collect();
    assert_eq!(ids, ["acme", "globex"]);
    let start: DateTime<Utc> = START.parse().unwrap();
    for (t, days_left) in s.runs_out.iter().zip([2.5, 3.0]) {
        let run_out = time(t.run_out_time.as_ref());
        // (budget - spend) / rate from when the evaluator read it, a few seconds after START.
        let expected = start + chrono::Duration::minutes((days_left * 1440.0) as i64);
        assert!(
            (run_out - expected).num_seconds().abs() < 60,
            "{}: {run_out} vs {expected}",
            t.tenant_id
        );
        assert_eq!(
            time(t.reset_time.as_ref()),
            "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // The very forecast GetBudgetStatus reports for the same reading.
        let status = stack.status(&t.tenant_id).await.unwrap();
        assert_eq!(
            t.run_out_time, status.projected_exhaustion_time,
            "{}",
            t.tenant_id
        );
    }
    stack.stop().await;
}

#[tokio::test]
async fn a_new_pass_moves_a_tenant_out_of_runs_out_when_its_forecast_changes() {
    let (stack, keys) = fleet_with_keys().await;
    // hooli's spend jumps to just under its budget: at $1 a day it now runs out in 2 days.
    stack.sim().set_spend(&keys["hooli"], 498.0).unwrap();
    // acme reaches its budget: no run-out date any more (it is in its grace period).
    stack.sim().set_spend(&keys["acme"], 100.0).unwrap();
    stack.evaluate().await;
    let s = summary(&mut stack.client()).await.unwrap();
    let ids: Vec<&str> = s.runs_out.iter().map(|t| t.tenant_id.as_str()).collect();
    assert_eq!(
        ids,
        ["hooli", "globex"],
        "hooli (2 days) before globex (3 days)"
    );
    assert_eq!(s.runs_out_count, 2);
    // hooli warning and acme in its grace period now; zeta, evaluated this time, is ok at $0.
    assert_eq!(
        (
            s.ok_count,
            s.warning_count,
            s.grace_count,
            s.unavailable_count
        ),
        (1, 2, 2, 0)
    );
    stack.stop().await;
}

/// Every page of ListTenants in `order_by` (and `state`), `page_size` at a time.
async fn all_pages(
    client: &mut AuthedClient,
    order_by: &str,
    state: pb::FleetState,
    page_size: i32,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut page_token = String::new();
    for _ in 0..20 {
        let page = client
            .list_tenants(pb::ListTenantsRequest {
                page_size,
                page_token,
                order_by: order_by.into(),
                state: state.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        ids.extend(page.tenants.into_iter().map(|t| t.tenant_id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
    panic!("{order_by}: more pages than tenants");
}

#[tokio::test]
async fn every_order_pages_through_every_tenant_once_in_order() {
    let stack = fleet().await;
    let mut client = stack.client();
    // zeta (never evaluated) comes last by spend, percent and state, in either direction.
    let orders: [(&str, [&str; 7]); 10] = [
        (
            "tenant_id",
            [
                "acme", "globex", "halted", "hooli", "initech", "umbrella", "zeta",
            ],
        ),
        (
            "tenant_id desc",
            [
                "zeta", "umbrella", "initech", "hooli", "halted", "globex", "acme",
            ],
        ),
        (
            "spend_micros",
            [
                "hooli", "acme", "halted", "initech", "umbrella", "globex", "zeta",
            ],
        ),
        (
            "spend_micros desc",
            [
                "globex", "umbrella", "initech", "halted", "acme", "hooli", "zeta",
            ],
        ),
        // Equal budgets go by tenant id in the same direction.
        (
            "max_budget_micros",
            [
                "zeta", "acme", "halted", "initech", "umbrella", "hooli", "globex",
            ],
        ),
        (
            "max_budget_micros desc",
            [
                "globex", "hooli", "umbrella", "initech", "halted", "acme", "zeta",
            ],
        ),
        (
            "percent_used",
            [
                "hooli", "acme", "halted", "globex", "initech", "umbrella", "zeta",
            ],
        ),
        (
            "percent_used desc",
            [
                "umbrella", "initech", "globex", "halted", "acme", "hooli", "zeta",
            ],
        ),
        // By severity: ok, warning, grace, blocked, suspended.
        (
            "state",
            [
                "acme", "hooli", "globex", "initech", "umbrella", "halted", "zeta",
            ],
        ),
        (
            "state desc",
            [
                "halted", "umbrella", "initech", "globex", "hooli", "acme", "zeta",
            ],
        ),
    ];
    for (order_by, expected) in orders {
        for page_size in [1, 2, 3, 500] {
            assert_eq!(
                all_pages(
                    &mut client,
                    order_by,
                    pb::FleetState::Unspecified,
                    page_size
                )
                .await,
                expected,
                "{order_by}, {page_size} a page"
            );
        }
    }
    // "asc" may be said; the default is tenant id.
    assert_eq!(
        all_pages(
            &mut client,
            "spend_micros asc",
            pb::FleetState::Unspecified,
            2
        )
        .await,
        orders[2].1
    );
    assert_eq!(
        all_pages(&mut client, "", pb::FleetState::Unspecified, 2).await,
        orders[0].1
    );
    stack.stop().await;
}

#[tokio::test]
async fn the_state_filter_lists_exactly_the_tenants_each_count_counts() {
    let stack = fleet().await;
    let mut client = stack.client();
    let s = summary(&mut client).await.unwrap();
    let cases = [
        (pb::FleetState::Ok, s.ok_count, vec!["hooli", "acme"]),
        (pb::FleetState::Warning, s.warning_count, vec!["globex"]),
        (pb::FleetState::Grace, s.grace_count, vec!["initech"]),
        (pb::FleetState::Blocked, s.blocked_count, vec!["umbrella"]),
        (pb::FleetState::Suspended, s.suspended_count, vec!["halted"]),
        (
            pb::FleetState::Unavailable,
            s.unavailable_count,
            vec!["zeta"],
        ),
    ];
    for (state, count, expected) in cases {
        // Paged one at a time in a non-default order, so the filter holds across pages.
        let ids = all_pages(&mut client, "spend_micros", state, 1).await;
        assert_eq!(ids, expected, "{state:?}");
        assert_eq!(usize::try_from(count).unwrap(), ids.len(), "{state:?}");
    }
    // The filter combines with the search prefix.
    let page = client
        .list_tenants(pb::ListTenantsRequest {
            filter: "h".into(),
            state: pb::FleetState::Ok.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = page.tenants.iter().map(|t| t.tenant_id.as_str()).collect();
    assert_eq!(ids, ["hooli"]);
    let first = &page.tenants[0];
    assert!(
        first.run_out_time.is_none(),
        "hooli does not run out before its reset"
    );
    assert_eq!(
        time(first.reset_time.as_ref()),
        "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    stack.stop().await;
}

#[tokio::test]
async fn only_platform_admins_read_the_fleet_summary() {
    let stack = fleet().await;
    let tenant_admin = stack
        .token("acme-admin", Role::TenantAdmin, Some("acme"))
        .await;
    let service_all = stack.token("reader", Role::Service, None).await;
    let service_one = stack
        .token("acme-reader", Role::Service, Some("acme"))
        .await;
    for token in [&tenant_admin, &service_all, &service_one] {
        let err = summary(&mut stack.client_with(Some(token)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    }
    let err = summary(&mut stack.client_with(None)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let platform = stack.token("platform", Role::PlatformAdmin, None).await;
    assert!(
        summary(&mut stack.client_with(Some(&platform)))
            .await
            .is_ok()
    );
    // A scoped caller's list stays its own tenant, whatever state it asks for.
    let mut own = stack.client_with(Some(&tenant_admin));
    assert_eq!(
        all_pages(&mut own, "state desc", pb::FleetState::Ok, 1).await,
        ["acme"]
    );
    assert!(
        all_pages(&mut own, "", pb::FleetState::Blocked, 1)
            .await
            .is_empty()
    );
    stack.stop().await;
}

#[tokio::test]
async fn bad_orders_states_and_page_tokens_are_refused_with_a_clear_message() {
    let stack = fleet().await;
    let mut client = stack.client();
    let list = |order_by: &str, state: i32, page_token: String| pb::ListTenantsRequest {
        page_size: 2,
        order_by: order_by.into(),
        state,
        page_token,
        ..Default::default()
    };
    for order_by in [
        "spend",
        "percent_used descending",
        "percent_used desc desc",
        "display_name",
        "state DESC",
        "desc",
    ] {
        let err = client
            .list_tenants(list(order_by, 0, String::new()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{order_by}");
        assert_eq!(
            field_violations(&err),
            [(
                "order_by".to_owned(),
                "Order must be tenant_id, spend_micros, max_budget_micros, percent_used or state, \
                 optionally followed by \"desc\" (for example \"percent_used desc\")"
                    .to_owned()
            )],
            "{order_by}"
        );
    }
    for state in [7, -1, i32::MAX] {
        let err = client
            .list_tenants(list("", state, String::new()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{state}");
        assert_eq!(
            field_violations(&err),
            [(
                "state".to_owned(),
                "State must be one of the FleetState values (0 to 6)".to_owned()
            )]
        );
    }
    // A token continues only the order it was made for.
    let by_spend = client
        .list_tenants(list("spend_micros", 0, String::new()))
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert!(!by_spend.is_empty());
    for other in [
        "spend_micros desc",
        "tenant_id",
        "percent_used",
        "state",
        "max_budget_micros",
    ] {
        let err = client
            .list_tenants(list(other, 0, by_spend.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{other}");
        assert_eq!(
            field_violations(&err),
            [(
                "page_token".to_owned(),
                "Page token is invalid; start again from the first page".to_owned()
            )]
        );
    }
    use base64::Engine;
    let token = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    for (order_by, payload) in [
        ("spend_micros", "tenants-by-spend:12.5:acme"),
        ("spend_micros", "tenants-by-spend:99999999999999999999:acme"),
        ("spend_micros", "tenants-by-spend:acme"),
        ("state desc", "tenants-by-state-desc::acme"),
        ("percent_used", "tenants-by-percent-asc:lots:acme"),
        ("tenant_id desc", "tenants:acme"),
    ] {
        let err = client
            .list_tenants(list(order_by, 0, token(payload)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{payload}");
    }
    // A well-formed position in the order is just a position, even between tenants.
    let page = client
        .list_tenants(list(
            "spend_micros",
            0,
            token("tenants-by-spend:200000000:a"),
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = page.tenants.iter().map(|t| t.tenant_id.as_str()).collect();
    assert_eq!(ids, ["initech", "umbrella"]);
    stack.stop().await;
}

#[tokio::test]
async fn totals_beyond_int64_are_held_at_its_maximum() {
    use sqlx::Connection;
    let stack = Stack::start().await;
    for id in ["big-a", "big-b", "big-c"] {
        stack.create_tenant(id, 100).await;
    }
    stack.evaluate().await;
    // Amounts this large cannot come through the API (budgets are capped far lower), only from
    // the database: three of them sum past i64::MAX, which PostgreSQL's NUMERIC holds.
    let mut conn = sqlx::PgConnection::connect(&stack.db.url).await.unwrap();
    sqlx::query("UPDATE tenant_status SET spend_micros = $1, max_budget_micros = $1")
        .bind(i64::MAX / 2)
        .execute(&mut conn)
        .await
        .unwrap();
    let s = summary(&mut stack.client()).await.unwrap();
    assert_eq!(s.evaluated_count, 3);
    assert_eq!(s.total_spend_micros, i64::MAX);
    assert_eq!(s.total_budget_micros, i64::MAX);
    sqlx::query("UPDATE tenant_status SET spend_micros = $1")
        .bind(i64::MIN / 2)
        .execute(&mut conn)
        .await
        .unwrap();
    let s = summary(&mut stack.client()).await.unwrap();
    assert_eq!(s.total_spend_micros, i64::MIN, "held at the minimum too");
    stack.stop().await;
}
