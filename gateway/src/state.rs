//! What the gateway's handlers share. Each handler takes only the parts it uses (axum's
//! `FromRef`), so the handler modules never name the whole state and the router stays the one
//! place that knows them all.

use axum::extract::FromRef;
use budget_proto::throttle::FailureThrottle;

use crate::assets::Assets;
use crate::export::Exporter;
use crate::session::Sessions;
use crate::signin::TokenCheck;

/// What the handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) assets: Assets,
    pub(crate) sessions: Sessions,
    pub(crate) token_check: TokenCheck,
    pub(crate) exporter: Exporter,
    /// Failed sign-ins per client address.
    pub(crate) signin_throttle: FailureThrottle,
}

impl FromRef<AppState> for Assets {
    fn from_ref(state: &AppState) -> Self {
        state.assets
    }
}

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

impl FromRef<AppState> for TokenCheck {
    fn from_ref(state: &AppState) -> Self {
        state.token_check.clone()
    }
}

impl FromRef<AppState> for Exporter {
    fn from_ref(state: &AppState) -> Self {
        state.exporter.clone()
    }
}

impl FromRef<AppState> for FailureThrottle {
    fn from_ref(state: &AppState) -> Self {
        state.signin_throttle.clone()
    }
}
