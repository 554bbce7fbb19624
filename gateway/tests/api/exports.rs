//! `GET /export/{tenant_id}/{kind}.csv`: the session's token goes upstream to ExportTenantData,
//! the CSV comes back as a download, and failures as short text pages with HTTP statuses.

use crate::helpers::{TENANT_TOKEN, TestGateway, spawn_fake_budget_service};

const RANGE: &str = "?start=2026-11-01&end=2026-11-30";

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn downloads_csv_as_the_signed_in_caller() {
    let gateway = TestGateway::signed_in().await;
    for (file, kind) in [
        ("daily-spend", "EXPORT_KIND_DAILY_SPEND"),
        ("alerts", "EXPORT_KIND_ALERTS"),
        ("audit-events", "EXPORT_KIND_AUDIT_EVENTS"),
    ] {
        let response = gateway
            .get(&format!("/export/acme/{file}.csv{RANGE}"))
            .await;
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(header(&response, "content-type"), "text/csv; charset=utf-8");
        assert_eq!(
            header(&response, "content-disposition"),
            format!("attachment; filename=\"acme-{kind}-2026-11-01-2026-11-30.csv\"")
        );
        assert_eq!(header(&response, "cache-control"), "no-store");
        assert!(!header(&response, "content-security-policy").is_empty());
        let body = response.text().await.unwrap();
        assert_eq!(body, "caller,note\r\nadmin,\"a, \"\"b\"\"\"\r\n");
    }
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let response = gateway
        .get(&format!("/export/acme/alerts.csv{RANGE}"))
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/signin");
}

#[tokio::test]
async fn failures_are_text_pages_with_http_statuses() {
    let mut gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    gateway.sign_in_as(TENANT_TOKEN).await;
    let own = gateway
        .get(&format!("/export/acme/alerts.csv{RANGE}"))
        .await;
    assert_eq!(own.status(), 200);
    assert!(own.text().await.unwrap().contains("acme-admin"));
    for (path, status, says) in [
        (
            format!("/export/globex/alerts.csv{RANGE}"),
            403,
            "You do not have access to tenant globex.",
        ),
        (
            "/export/acme/alerts.csv?start=bad&end=2026-11-30".to_owned(),
            400,
            "Start date must be a date as YYYY-MM-DD",
        ),
        (
            "/export/acme/alerts.csv".to_owned(),
            400,
            "Choose a date range",
        ),
        (
            format!("/export/acme/users.csv{RANGE}"),
            404,
            "No such export",
        ),
        (format!("/export/acme/alerts{RANGE}"), 404, "No such export"),
    ] {
        let response = gateway.get(&path).await;
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/plain; charset=utf-8",
            "{path}"
        );
        assert!(response.text().await.unwrap().contains(says), "{path}");
    }
    let admin = TestGateway::signed_in().await;
    let response = admin
        .get(&format!("/export/nobody/alerts.csv{RANGE}"))
        .await;
    assert_eq!(response.status(), 404);
    let response = admin.get(&format!("/export/down/alerts.csv{RANGE}")).await;
    assert_eq!(response.status(), 503);
    assert!(response.text().await.unwrap().contains("unavailable"));
}
