//! CSV downloads: `GET /export/{tenant_id}/{kind}.csv?start=YYYY-MM-DD&end=YYYY-MM-DD` calls
//! budget-service's ExportTenantData as the session's caller and answers with the file.
//! Errors are short text pages with the matching HTTP status.

use std::collections::HashMap;
use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use budget_proto::v1::budget_service_client::BudgetServiceClient;
use budget_proto::v1::{ExportKind, ExportTenantDataRequest};
use http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use tonic::Code;
use tonic::transport::Channel;

use crate::session::Sessions;
use crate::signin;

/// Calls ExportTenantData over the gateway's channel.
#[derive(Debug, Clone)]
pub(crate) struct Exporter {
    client: BudgetServiceClient<Channel>,
}

impl Exporter {
    pub(crate) fn new(channel: Channel) -> Self {
        Self {
            client: BudgetServiceClient::new(channel),
        }
    }
}

/// The kind in the URL (`daily-spend.csv`, `alerts.csv`, `audit-events.csv`).
fn kind(file: &str) -> Option<ExportKind> {
    match file.strip_suffix(".csv")? {
        "daily-spend" => Some(ExportKind::DailySpend),
        "alerts" => Some(ExportKind::Alerts),
        "audit-events" => Some(ExportKind::AuditEvents),
        _ => None,
    }
}

/// `GET /export/{tenant_id}/{kind}.csv`.
pub(crate) async fn download(
    State(sessions): State<Sessions>,
    State(exporter): State<Exporter>,
    Path((tenant_id, file)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = sessions.current(&headers, SystemTime::now()) else {
        return signin::signed_out_page(&headers);
    };
    let Ok(mut bearer) =
        tonic::metadata::MetadataValue::try_from(format!("Bearer {}", session.token))
    else {
        return text(
            StatusCode::UNAUTHORIZED,
            "Sign in again to download exports.",
        );
    };
    bearer.set_sensitive(true);
    let Some(kind) = kind(&file) else {
        return text(
            StatusCode::NOT_FOUND,
            "No such export. Choose daily-spend.csv, alerts.csv or audit-events.csv.",
        );
    };
    let (Some(start), Some(end)) = (query.get("start"), query.get("end")) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Choose a date range: ?start=YYYY-MM-DD&end=YYYY-MM-DD.",
        );
    };
    let mut request = tonic::Request::new(ExportTenantDataRequest {
        tenant_id: tenant_id.clone(),
        kind: kind.into(),
        start_date: start.clone(),
        end_date: end.clone(),
    });
    request.metadata_mut().insert("authorization", bearer);
    match exporter.client.clone().export_tenant_data(request).await {
        Ok(answer) => {
            let answer = answer.into_inner();
            let disposition = format!("attachment; filename=\"{}\"", safe_name(&answer.filename));
            let disposition = HeaderValue::try_from(disposition).unwrap_or_else(|_| {
                HeaderValue::from_static("attachment; filename=\"export.csv\"")
            });
            (
                StatusCode::OK,
                [
                    (
                        CONTENT_TYPE,
                        HeaderValue::from_static("text/csv; charset=utf-8"),
                    ),
                    (CONTENT_DISPOSITION, disposition),
                    (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                answer.csv,
            )
                .into_response()
        }
        Err(status) => {
            let (code, message) = match status.code() {
                Code::InvalidArgument => (StatusCode::BAD_REQUEST, status.message().to_owned()),
                Code::PermissionDenied => (
                    StatusCode::FORBIDDEN,
                    format!("You do not have access to tenant {tenant_id}."),
                ),
                Code::NotFound => (
                    StatusCode::NOT_FOUND,
                    format!("Tenant {tenant_id} was not found."),
                ),
                Code::Unauthenticated => (
                    StatusCode::UNAUTHORIZED,
                    "Your session has ended. Sign in again.".to_owned(),
                ),
                Code::Unavailable | Code::DeadlineExceeded => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The budget service is unavailable. Try again in a moment.".to_owned(),
                ),
                other => {
                    tracing::warn!(code = ?other, message = %status.message(), "export failed");
                    (
                        StatusCode::BAD_GATEWAY,
                        "The export failed. Try again in a moment.".to_owned(),
                    )
                }
            };
            text(code, &format!("{message}\n"))
        }
    }
}

/// Keeps a file name to letters, digits, dots, dashes and underscores.
fn safe_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    if name.is_empty() {
        "export.csv".to_owned()
    } else {
        name
    }
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        message.to_owned(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_names() {
        assert_eq!(kind("alerts.csv"), Some(ExportKind::Alerts));
        assert_eq!(kind("daily-spend.csv"), Some(ExportKind::DailySpend));
        assert_eq!(kind("audit-events.csv"), Some(ExportKind::AuditEvents));
        assert_eq!(kind("alerts"), None);
        assert_eq!(kind("users.csv"), None);
        assert_eq!(
            safe_name("acme-alerts-2026-11-01.csv"),
            "acme-alerts-2026-11-01.csv"
        );
        assert_eq!(safe_name("a\"b\r\n.csv"), "ab.csv");
        assert_eq!(safe_name("\""), "export.csv");
    }
}
