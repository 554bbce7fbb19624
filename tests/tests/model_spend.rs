//! Where the money goes: spend by model from LiteLLM's daily activity (`breakdown.models`),
//! stored with the daily history on the first load, refreshed by every evaluation pass
//! (yesterday and today), capped per tenant-day against hostile model names, shown as the
//! period's top five and "other" by GetSpendHistory (same roles), and split by model in the
//! daily-spend CSV. Real PostgreSQL, litellm-sim, real gRPC.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::{Stack, StackOptions};
use budget_proto::v1 as pb;
use budget_service::domain::auth::Role;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::Connection as _;
use tonic::Code;

const USD: i64 = 1_000_000;

/// 2026-11-20 12:00 UTC: a "30d" key resets on 2026-12-01, so the period began 2026-11-01.
fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

async fn start() -> Stack {
    Stack::start_with(StackOptions {
        start_at: Some(noon()),
        ..StackOptions::default()
    })
    .await
}

async fn history(stack: &Stack, tenant: &str) -> pb::GetSpendHistoryResponse {
    stack
        .client()
        .get_spend_history(pb::GetSpendHistoryRequest {
            tenant_id: tenant.into(),
            days: 30,
        })
        .await
        .unwrap()
        .into_inner()
}

fn named(model: &str, usd: i64) -> pb::ModelSpend {
    pb::ModelSpend {
        model: model.into(),
        spend_micros: usd * USD,
        other: false,
    }
}

fn other(micros: i64) -> pb::ModelSpend {
    pb::ModelSpend {
        model: String::new(),
        spend_micros: micros,
        other: true,
    }
}

fn csv_rows(csv: &[u8]) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(csv);
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["date", "model", "spend_usd"]
    );
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn the_periods_spend_by_model_is_the_top_five_and_other_kept_fresh_by_the_evaluator() {
    let stack = start().await;
    let key = stack.create_tenant("acme", 500).await.virtual_key;
    let sim = stack.sim();
    // Before the period: not this period's money.
    sim.add_model_spend(
        &key,
        NaiveDate::from_ymd_opt(2026, 10, 30).unwrap(),
        "legacy",
        100.0,
    )
    .unwrap();
    for (d, model, usd) in [
        (2, "gpt-4o", 30.0),
        (2, "claude-3-5-sonnet", 12.0),
        (10, "gpt-4o", 10.0),
        (10, "gpt-4o-mini", 9.0),
        (10, "o1", 8.0),
        (10, "llama3", 3.0),
        (10, "mistral-large", 2.0),
        (10, "gemini-pro", 1.0),
    ] {
        sim.add_model_spend(&key, day(d), model, usd).unwrap();
    }
    // The status read records LiteLLM's reset time; the first read loads the 90 days.
    stack.evaluate().await;
    let first = history(&stack, "acme").await;
    assert_eq!(first.period_start, "2026-11-01");
    assert_eq!(
        first.models,
        vec![
            named("openai/gpt-4o", 40),
            named("openai/claude-3-5-sonnet", 12),
            named("openai/gpt-4o-mini", 9),
            named("openai/o1", 8),
            named("openai/llama3", 3),
            other(3 * USD),
        ]
    );

    // Today's and yesterday's calls reach the page through the next pass, and days older
    // than yesterday are not read again.
    sim.add_model_spend(&key, day(19), "llama3", 20.0).unwrap();
    sim.add_model_spend(&key, day(20), "gemini-pro", 7.5)
        .unwrap();
    sim.add_model_spend(&key, day(10), "o1", 1000.0).unwrap();
    stack.evaluate().await;
    let later = history(&stack, "acme").await;
    assert_eq!(
        later.models,
        vec![
            named("openai/gpt-4o", 40),
            named("openai/llama3", 23),
            named("openai/claude-3-5-sonnet", 12),
            named("openai/gpt-4o-mini", 9),
            pb::ModelSpend {
                model: "openai/gemini-pro".into(),
                spend_micros: 8_500_000,
                other: false,
            },
            other(10 * USD),
        ]
    );
    // The day totals and the models agree: what GetSpendHistory charts is what it splits.
    let charted: i64 = later
        .days
        .iter()
        .filter(|d| d.date.as_str() >= "2026-11-01")
        .map(|d| d.spend_micros)
        .sum();
    assert_eq!(charted, 102_500_000);

    // The CSV splits each day by model, most first; the day's rows add up to its spend.
    let export = stack
        .client()
        .export_tenant_data(pb::ExportTenantDataRequest {
            tenant_id: "acme".into(),
            kind: pb::ExportKind::DailySpend.into(),
            start_date: "2026-11-09".into(),
            end_date: "2026-11-10".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let rows = csv_rows(&export.csv);
    let rows: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["2026-11-09", "", "0.00"],
            vec!["2026-11-10", "openai/gpt-4o", "10.00"],
            vec!["2026-11-10", "openai/gpt-4o-mini", "9.00"],
            vec!["2026-11-10", "openai/o1", "8.00"],
            vec!["2026-11-10", "openai/llama3", "3.00"],
            vec!["2026-11-10", "openai/mistral-large", "2.00"],
            vec!["2026-11-10", "openai/gemini-pro", "1.00"],
        ]
    );
    stack.stop().await;
}

#[tokio::test]
async fn hostile_model_names_are_capped_per_day_and_never_stored_raw() {
    let stack = start().await;
    let key = stack.create_tenant("acme", 500).await.virtual_key;
    let sim = stack.sim();
    // 500 distinct model names today, a name with a control character, an overlong one.
    for i in 0..500 {
        sim.add_model_spend(&key, day(20), &format!("m{i:03}"), 0.01)
            .unwrap();
    }
    sim.add_model_spend(&key, day(20), "evil\u{1b}[2Jname", 50.0)
        .unwrap();
    sim.add_model_spend(&key, day(20), &"x".repeat(300), 40.0)
        .unwrap();
    sim.add_model_spend(&key, day(20), "gpt-4o", 1.0).unwrap();
    stack.evaluate().await;

    let mut conn = sqlx::PgConnection::connect(&stack.db.url).await.unwrap();
    let (rows, longest, total): (i64, i32, i64) = sqlx::query_as(
        "SELECT count(*), max(length(model)), sum(spend_micros)::bigint FROM model_spend WHERE tenant_id = 'acme'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // 20 named models and the other entry; nothing of the skipped names, but their money.
    assert_eq!(rows, 21);
    assert!(longest <= 256, "{longest}");
    assert_eq!(total, 500 * 10_000 + 91 * USD);
    let (controls,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM model_spend WHERE model ~ '[[:cntrl:]]'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(controls, 0);

    // The page's view: the top five named, the other 90-odd dollars as "other".
    let models = history(&stack, "acme").await.models;
    assert_eq!(models.len(), 6);
    assert_eq!(models[0], named("openai/gpt-4o", 1));
    assert_eq!(
        models.iter().map(|m| m.spend_micros).sum::<i64>(),
        500 * 10_000 + 91 * USD
    );
    assert_eq!(models[5].spend_micros, 90 * USD + 496 * 10_000);
    stack.stop().await;
}

#[tokio::test]
async fn spend_by_model_follows_get_spend_historys_roles() {
    let stack = start().await;
    let key = stack.create_tenant("acme", 500).await.virtual_key;
    stack.create_tenant("globex", 500).await;
    stack
        .sim()
        .add_model_spend(&key, day(20), "gpt-4o", 2.0)
        .unwrap();
    let own = stack
        .token("acme-admin", Role::TenantAdmin, Some("acme"))
        .await;
    let mut client = stack.client_with(Some(&own));
    let answer = client
        .get_spend_history(pb::GetSpendHistoryRequest {
            tenant_id: "acme".into(),
            days: 7,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.models, vec![named("openai/gpt-4o", 2)]);
    for tenant in ["globex", "nobody"] {
        let err = client
            .get_spend_history(pb::GetSpendHistoryRequest {
                tenant_id: tenant.into(),
                days: 7,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{tenant}");
    }
    // The models are the period's, from 2026-11-01, whatever `days` the chart asks for.
    assert_eq!(answer.period_start, "2026-11-01");
    stack.stop().await;
}
