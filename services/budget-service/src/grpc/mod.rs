//! The `budget.v1.BudgetService` gRPC surface: decodes requests, calls [`Budgets`], encodes
//! answers. The only module that knows protobuf types and `tonic::Status`.

mod convert;
pub mod status;

use std::sync::Arc;

use budget_proto::v1 as pb;
use budget_proto::v1::budget_service_server::BudgetService;
use tonic::{Request, Response, Status};

use crate::service::{Actor, Budgets};

/// Until authentication lands, every change is recorded as made by this actor.
const ANONYMOUS_ACTOR: &str = "unauthenticated";

/// The gRPC handler over the budget use cases.
pub struct BudgetApi {
    budgets: Arc<Budgets>,
}

impl BudgetApi {
    pub fn new(budgets: Arc<Budgets>) -> BudgetApi {
        BudgetApi { budgets }
    }
}

fn actor<T>(_request: &Request<T>) -> Actor {
    Actor(ANONYMOUS_ACTOR.to_owned())
}

#[tonic::async_trait]
impl BudgetService for BudgetApi {
    async fn get_budget_status(
        &self,
        request: Request<pb::GetBudgetStatusRequest>,
    ) -> Result<Response<pb::GetBudgetStatusResponse>, Status> {
        let status = self.budgets.status(&request.get_ref().tenant_id).await?;
        Ok(Response::new(pb::GetBudgetStatusResponse {
            status: Some(convert::status(&status)),
        }))
    }

    async fn get_budget_config(
        &self,
        request: Request<pb::GetBudgetConfigRequest>,
    ) -> Result<Response<pb::GetBudgetConfigResponse>, Status> {
        let config = self.budgets.config(&request.get_ref().tenant_id).await?;
        Ok(Response::new(pb::GetBudgetConfigResponse {
            config: Some(convert::config(&config)),
        }))
    }

    async fn update_budget_config(
        &self,
        request: Request<pb::UpdateBudgetConfigRequest>,
    ) -> Result<Response<pb::UpdateBudgetConfigResponse>, Status> {
        let actor = actor(&request);
        let req = request.into_inner();
        let raw = convert::raw_settings(req.config.as_ref());
        let config = self
            .budgets
            .update_config(&req.tenant_id, &raw, &req.etag, &actor)
            .await?;
        Ok(Response::new(pb::UpdateBudgetConfigResponse {
            config: Some(convert::config(&config)),
        }))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let req = request.get_ref();
        let (page, total) = self
            .budgets
            .list_alerts(&req.tenant_id, req.page_size, &req.page_token)
            .await?;
        Ok(Response::new(pb::ListAlertsResponse {
            alerts: page.items.iter().map(convert::alert).collect(),
            next_page_token: page.next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn get_spend_history(
        &self,
        request: Request<pb::GetSpendHistoryRequest>,
    ) -> Result<Response<pb::GetSpendHistoryResponse>, Status> {
        let req = request.get_ref();
        let history = self.budgets.spend_history(&req.tenant_id, req.days).await?;
        Ok(Response::new(pb::GetSpendHistoryResponse {
            days: history
                .days
                .iter()
                .map(|(date, spend)| pb::DailySpend {
                    date: date.format("%Y-%m-%d").to_string(),
                    spend_micros: *spend,
                })
                .collect(),
            days_with_data: i32::try_from(history.days_with_data).unwrap_or(i32::MAX),
        }))
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        let req = request.get_ref();
        let page = self
            .budgets
            .list_tenants(&req.filter, &req.order_by, req.page_size, &req.page_token)
            .await?;
        Ok(Response::new(pb::ListTenantsResponse {
            tenants: page.items.iter().map(convert::tenant_summary).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_tenant(
        &self,
        request: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::CreateTenantResponse>, Status> {
        let actor = actor(&request);
        let req = request.into_inner();
        let raw = convert::raw_settings(req.config.as_ref());
        let created = self
            .budgets
            .create_tenant(&req.tenant_id, &req.display_name, &raw, &actor)
            .await?;
        Ok(Response::new(pb::CreateTenantResponse {
            tenant: Some(convert::tenant(&created.tenant)),
            virtual_key: created.virtual_key,
            config: Some(convert::config(&created.config)),
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let req = request.get_ref();
        let page = self
            .budgets
            .list_audit(&req.tenant_id, req.page_size, &req.page_token)
            .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: page.items.iter().map(convert::audit).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_notification_targets(
        &self,
        request: Request<pb::ListNotificationTargetsRequest>,
    ) -> Result<Response<pb::ListNotificationTargetsResponse>, Status> {
        let targets = self
            .budgets
            .notification_targets(&request.get_ref().tenant_id)
            .await?;
        Ok(Response::new(pb::ListNotificationTargetsResponse {
            targets: targets.iter().map(convert::target).collect(),
        }))
    }

    async fn set_notification_targets(
        &self,
        request: Request<pb::SetNotificationTargetsRequest>,
    ) -> Result<Response<pb::SetNotificationTargetsResponse>, Status> {
        let actor = actor(&request);
        let req = request.into_inner();
        let raw: Vec<_> = req.targets.iter().map(convert::raw_target).collect();
        let targets = self
            .budgets
            .set_notification_targets(&req.tenant_id, &raw, &actor)
            .await?;
        Ok(Response::new(pb::SetNotificationTargetsResponse {
            targets: targets.iter().map(convert::target).collect(),
        }))
    }
}
