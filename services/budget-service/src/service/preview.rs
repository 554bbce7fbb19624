//! PreviewBudgetConfig: what proposed settings would mean at the current rate, before saving.
//!
//! Called as an admin types, so it costs no more than a cached status read: the settings are
//! checked as UpdateBudgetConfig checks them, merged onto the settings the cached status holds,
//! and read against that status's forecast. Nothing is written; LiteLLM is read only on a cache
//! miss, as for GetBudgetStatus.

use super::Budgets;
use super::shared::tenant_and;
use crate::domain::{BudgetPreview, RawConfigUpdate};
use crate::error::BudgetError;

impl Budgets {
    /// The preview of `raw` (its etags are not looked at) for the tenant.
    pub(crate) async fn preview_config(
        &self,
        tenant_id: &str,
        raw: &RawConfigUpdate,
    ) -> Result<BudgetPreview, BudgetError> {
        let (_, update) = tenant_and(tenant_id, raw.validate())?;
        let status = self.status(tenant_id).await?;
        let proposed = update
            .applied_to(&status.base_settings())
            .map_err(BudgetError::InvalidArgument)?;
        Ok(BudgetPreview::compute(&status, proposed))
    }
}
