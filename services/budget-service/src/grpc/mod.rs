//! The `budget.v1.BudgetService` gRPC surface: decodes requests, calls [`Budgets`], encodes
//! answers. The only module that knows protobuf types and `tonic::Status`.

mod convert;
pub mod layer;
pub mod metrics;
pub mod panic;
pub mod probe;
pub mod status;

use std::sync::Arc;

use budget_proto::v1 as pb;
use budget_proto::v1::budget_service_server::BudgetService;
use tonic::{Request, Response, Status};

use crate::domain::TenantId;
use crate::domain::auth::{Access, Principal, Role};
use crate::domain::export::ExportKind;
use crate::error::BudgetError;
use crate::service::auth::Authenticator;
use crate::service::{Actor, Budgets};

/// The gRPC handler over the budget use cases. Every RPC first authenticates the caller's
/// bearer token, then checks the role table, then (for writes) the caller's write rate.
pub struct BudgetApi {
    budgets: Arc<Budgets>,
    auth: Arc<Authenticator>,
}

impl BudgetApi {
    pub fn new(budgets: Arc<Budgets>, auth: Arc<Authenticator>) -> BudgetApi {
        BudgetApi { budgets, auth }
    }

    /// The caller, if it may do `access` on `tenant_id` (empty: no particular tenant).
    async fn caller<T>(
        &self,
        request: &Request<T>,
        access: Access,
        tenant_id: &str,
    ) -> Result<Arc<Principal>, Status> {
        layer::record_tenant(tenant_id);
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let peer = request.remote_addr().map(|addr| addr.ip());
        let principal = self.auth.authenticate(authorization, peer).await?;
        // An id that does not parse matches no scope; unscoped callers get the validation error later.
        let tenant = TenantId::parse(tenant_id);
        let allowed = match (&tenant, tenant_id.is_empty()) {
            (None, false) => principal.tenant.is_none() && principal.may(access, None),
            _ => principal.may(access, tenant.as_ref()),
        };
        if !allowed {
            let what = if tenant_id.is_empty() {
                "this".to_owned()
            } else {
                format!("tenant {tenant_id}")
            };
            return Err(BudgetError::PermissionDenied(format!(
                "The token {} ({}) may not do this for {what}",
                principal.name,
                principal.role.as_str()
            ))
            .into());
        }
        if matches!(
            access,
            Access::WriteTenant | Access::Administer | Access::Suspend
        ) {
            self.auth.take_write(&principal)?;
        }
        Ok(principal)
    }
}

fn actor(principal: &Principal) -> Actor {
    Actor(principal.name.clone())
}

#[tonic::async_trait]
impl BudgetService for BudgetApi {
    async fn get_budget_status(
        &self,
        request: Request<pb::GetBudgetStatusRequest>,
    ) -> Result<Response<pb::GetBudgetStatusResponse>, Status> {
        self.caller(&request, Access::ReadTenant, &request.get_ref().tenant_id)
            .await?;
        let status = self.budgets.status(&request.get_ref().tenant_id).await?;
        Ok(Response::new(pb::GetBudgetStatusResponse {
            status: Some(convert::status(&status)),
        }))
    }

    async fn get_budget_config(
        &self,
        request: Request<pb::GetBudgetConfigRequest>,
    ) -> Result<Response<pb::GetBudgetConfigResponse>, Status> {
        self.caller(&request, Access::ReadTenant, &request.get_ref().tenant_id)
            .await?;
        let config = self.budgets.config(&request.get_ref().tenant_id).await?;
        Ok(Response::new(pb::GetBudgetConfigResponse {
            config: Some(convert::config(&config)),
        }))
    }

    async fn update_budget_config(
        &self,
        request: Request<pb::UpdateBudgetConfigRequest>,
    ) -> Result<Response<pb::UpdateBudgetConfigResponse>, Status> {
        let caller = self
            .caller(&request, Access::WriteTenant, &request.get_ref().tenant_id)
            .await?;
        let actor = actor(&caller);
        let req = request.into_inner();
        let update = convert::raw_config_update(&req);
        let config = self
            .budgets
            .update_config(&req.tenant_id, &update, &actor)
            .await?;
        Ok(Response::new(pb::UpdateBudgetConfigResponse {
            config: Some(convert::config(&config)),
        }))
    }

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        self.caller(&request, Access::ReadTenant, &request.get_ref().tenant_id)
            .await?;
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
        self.caller(&request, Access::ReadTenant, &request.get_ref().tenant_id)
            .await?;
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
            period_start: history.period_start.format("%Y-%m-%d").to_string(),
            models: history.models.iter().map(convert::model_spend).collect(),
        }))
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        let caller = self.caller(&request, Access::ListTenants, "").await?;
        let req = request.get_ref();
        let state = convert::fleet_state_filter(req.state).map_err(BudgetError::from)?;
        let page = self
            .budgets
            .list_tenants(
                caller.tenant.as_ref(),
                &req.filter,
                state,
                &req.order_by,
                req.page_size,
                &req.page_token,
                req.include_deleted,
            )
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
        let caller = self
            .caller(&request, Access::Administer, &request.get_ref().tenant_id)
            .await?;
        let actor = actor(&caller);
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
        self.caller(&request, Access::ReadTenant, &request.get_ref().tenant_id)
            .await?;
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
        self.caller(&request, Access::ReadTenant, &request.get_ref().tenant_id)
            .await?;
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
        let caller = self
            .caller(&request, Access::WriteTenant, &request.get_ref().tenant_id)
            .await?;
        let actor = actor(&caller);
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

    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = self.caller(&request, Access::Identity, "").await?;
        let role = match caller.role {
            Role::PlatformAdmin => pb::Role::PlatformAdmin,
            Role::TenantAdmin => pb::Role::TenantAdmin,
            Role::Service => pb::Role::Service,
        };
        Ok(Response::new(pb::WhoAmIResponse {
            name: caller.name.clone(),
            role: role.into(),
            tenant_id: caller
                .tenant
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }))
    }

    async fn delete_tenant(
        &self,
        request: Request<pb::DeleteTenantRequest>,
    ) -> Result<Response<pb::DeleteTenantResponse>, Status> {
        let caller = self
            .caller(&request, Access::Administer, &request.get_ref().tenant_id)
            .await?;
        let tenant = self
            .budgets
            .delete_tenant(&request.get_ref().tenant_id, &actor(&caller))
            .await?;
        Ok(Response::new(pb::DeleteTenantResponse {
            tenant: Some(convert::tenant(&tenant)),
        }))
    }

    async fn rotate_tenant_key(
        &self,
        request: Request<pb::RotateTenantKeyRequest>,
    ) -> Result<Response<pb::RotateTenantKeyResponse>, Status> {
        let caller = self
            .caller(&request, Access::Administer, &request.get_ref().tenant_id)
            .await?;
        let (tenant, virtual_key) = self
            .budgets
            .rotate_tenant_key(&request.get_ref().tenant_id, &actor(&caller))
            .await?;
        Ok(Response::new(pb::RotateTenantKeyResponse {
            tenant: Some(convert::tenant(&tenant)),
            virtual_key,
        }))
    }

    async fn attach_tenant_key(
        &self,
        request: Request<pb::AttachTenantKeyRequest>,
    ) -> Result<Response<pb::AttachTenantKeyResponse>, Status> {
        let caller = self
            .caller(&request, Access::Administer, &request.get_ref().tenant_id)
            .await?;
        let req = request.get_ref();
        let tenant = self
            .budgets
            .attach_tenant_key(&req.tenant_id, &req.key_hash, &actor(&caller))
            .await?;
        Ok(Response::new(pb::AttachTenantKeyResponse {
            tenant: Some(convert::tenant(&tenant)),
        }))
    }

    async fn suspend_tenant(
        &self,
        request: Request<pb::SuspendTenantRequest>,
    ) -> Result<Response<pb::SuspendTenantResponse>, Status> {
        let caller = self
            .caller(&request, Access::Suspend, &request.get_ref().tenant_id)
            .await?;
        let req = request.get_ref();
        let tenant = self
            .budgets
            .suspend_tenant(&req.tenant_id, &req.reason, &actor(&caller))
            .await?;
        Ok(Response::new(pb::SuspendTenantResponse {
            tenant: Some(convert::tenant(&tenant)),
        }))
    }

    async fn resume_tenant(
        &self,
        request: Request<pb::ResumeTenantRequest>,
    ) -> Result<Response<pb::ResumeTenantResponse>, Status> {
        let caller = self
            .caller(&request, Access::Administer, &request.get_ref().tenant_id)
            .await?;
        let tenant = self
            .budgets
            .resume_tenant(&request.get_ref().tenant_id, &actor(&caller))
            .await?;
        Ok(Response::new(pb::ResumeTenantResponse {
            tenant: Some(convert::tenant(&tenant)),
        }))
    }

    async fn grant_temporary_increase(
        &self,
        request: Request<pb::GrantTemporaryIncreaseRequest>,
    ) -> Result<Response<pb::GrantTemporaryIncreaseResponse>, Status> {
        let caller = self
            .caller(&request, Access::Administer, &request.get_ref().tenant_id)
            .await?;
        let actor = actor(&caller);
        let req = request.get_ref();
        let increase = self
            .budgets
            .grant_increase(&req.tenant_id, &convert::raw_increase(req), &actor)
            .await?;
        Ok(Response::new(pb::GrantTemporaryIncreaseResponse {
            increase: Some(convert::increase(&increase)),
        }))
    }

    async fn export_tenant_data(
        &self,
        request: Request<pb::ExportTenantDataRequest>,
    ) -> Result<Response<pb::ExportTenantDataResponse>, Status> {
        self.caller(&request, Access::ReadTenant, &request.get_ref().tenant_id)
            .await?;
        let req = request.get_ref();
        let kind = match pb::ExportKind::try_from(req.kind) {
            Ok(pb::ExportKind::DailySpend) => Some(ExportKind::DailySpend),
            Ok(pb::ExportKind::Alerts) => Some(ExportKind::Alerts),
            Ok(pb::ExportKind::AuditEvents) => Some(ExportKind::AuditEvents),
            Ok(pb::ExportKind::Unspecified) | Err(_) => None,
        };
        let export = self
            .budgets
            .export(&req.tenant_id, kind, &req.start_date, &req.end_date)
            .await?;
        Ok(Response::new(pb::ExportTenantDataResponse {
            filename: export.filename,
            csv: export.csv.into_bytes(),
        }))
    }

    async fn preview_budget_config(
        &self,
        request: Request<pb::PreviewBudgetConfigRequest>,
    ) -> Result<Response<pb::PreviewBudgetConfigResponse>, Status> {
        // A read: no write rate taken, and the use case costs a cached status read.
        self.caller(&request, Access::ReadTenant, &request.get_ref().tenant_id)
            .await?;
        let req = request.get_ref();
        let preview = self
            .budgets
            .preview_config(&req.tenant_id, &convert::raw_preview(req))
            .await?;
        Ok(Response::new(pb::PreviewBudgetConfigResponse {
            preview: Some(convert::preview(&req.tenant_id, &preview)),
        }))
    }

    async fn get_fleet_summary(
        &self,
        request: Request<pb::GetFleetSummaryRequest>,
    ) -> Result<Response<pb::GetFleetSummaryResponse>, Status> {
        self.caller(&request, Access::ReadFleet, "").await?;
        let summary = self.budgets.fleet_summary().await?;
        Ok(Response::new(convert::fleet_summary(&summary)))
    }
}
