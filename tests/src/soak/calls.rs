//! One RPC of the mix, direct over gRPC or as gRPC-web through the gateway, timed.

use std::time::Instant;

use budget_proto::v1 as pb;
use prost::Message;
use tonic::Code;

use super::Via;
use super::load::{Outcome, Target};
use grpc_web_client::{Reply, Wire};

/// Sends one RPC by `via` and times it.
pub(super) async fn call<Q, R>(
    target: &Target,
    via: Via,
    method: &'static str,
    tenant: &str,
    request: Q,
) -> (Outcome, Option<R>)
where
    Q: Message + Send + 'static + Into<AnyRequest>,
    R: Message + Default + FromAny,
{
    let started = Instant::now();
    let result = match via {
        Via::Grpc => direct_call::<R>(target, request.into()).await,
        Via::Gateway => web_call::<Q, R>(target, method, &request).await,
    };
    let (result, answer) = match result {
        Ok(answer) => (Ok(()), Some(answer)),
        Err(failure) => (Err(failure), None),
    };
    (
        Outcome {
            method,
            tenant: tenant.to_owned(),
            via,
            started,
            finished: Instant::now(),
            result,
        },
        answer,
    )
}

/// The requests the mix sends, for the typed direct client.
pub enum AnyRequest {
    Status(pb::GetBudgetStatusRequest),
    History(pb::GetSpendHistoryRequest),
    Alerts(pb::ListAlertsRequest),
    Tenants(pb::ListTenantsRequest),
    Config(pb::GetBudgetConfigRequest),
    Update(pb::UpdateBudgetConfigRequest),
}

/// The answers the mix reads, from the typed direct client.
pub enum AnyResponse {
    Config(pb::GetBudgetConfigResponse),
    Update(pb::UpdateBudgetConfigResponse),
    Other,
}

/// Picks a typed answer out of [`AnyResponse`].
pub trait FromAny: Sized {
    fn from_any(answer: AnyResponse) -> Option<Self>;
}

macro_rules! requests {
    ($($variant:ident($request:ty)),*) => {
        $(impl From<$request> for AnyRequest {
            fn from(request: $request) -> AnyRequest {
                AnyRequest::$variant(request)
            }
        })*
    };
}
requests!(
    Status(pb::GetBudgetStatusRequest),
    History(pb::GetSpendHistoryRequest),
    Alerts(pb::ListAlertsRequest),
    Tenants(pb::ListTenantsRequest),
    Config(pb::GetBudgetConfigRequest),
    Update(pb::UpdateBudgetConfigRequest)
);

impl FromAny for pb::GetBudgetConfigResponse {
    fn from_any(answer: AnyResponse) -> Option<Self> {
        match answer {
            AnyResponse::Config(c) => Some(c),
            _ => None,
        }
    }
}

impl FromAny for pb::UpdateBudgetConfigResponse {
    fn from_any(answer: AnyResponse) -> Option<Self> {
        match answer {
            AnyResponse::Update(u) => Some(u),
            _ => None,
        }
    }
}

macro_rules! discarded_answers {
    ($($response:ty),*) => {
        $(impl FromAny for $response {
            fn from_any(_: AnyResponse) -> Option<Self> {
                Some(Self::default())
            }
        })*
    };
}
discarded_answers!(
    pb::GetBudgetStatusResponse,
    pb::GetSpendHistoryResponse,
    pb::ListAlertsResponse,
    pb::ListTenantsResponse
);

pub(super) async fn direct_call<R: FromAny>(
    target: &Target,
    request: AnyRequest,
) -> Result<R, (Code, String)> {
    let mut client = target.direct.clone();
    let answer = match request {
        AnyRequest::Status(r) => client
            .get_budget_status(r)
            .await
            .map(|_| AnyResponse::Other),
        AnyRequest::History(r) => client
            .get_spend_history(r)
            .await
            .map(|_| AnyResponse::Other),
        AnyRequest::Alerts(r) => client.list_alerts(r).await.map(|_| AnyResponse::Other),
        AnyRequest::Tenants(r) => client.list_tenants(r).await.map(|_| AnyResponse::Other),
        AnyRequest::Config(r) => client
            .get_budget_config(r)
            .await
            .map(|a| AnyResponse::Config(a.into_inner())),
        AnyRequest::Update(r) => client
            .update_budget_config(r)
            .await
            .map(|a| AnyResponse::Update(a.into_inner())),
    };
    match answer {
        Ok(answer) => R::from_any(answer).ok_or((Code::Internal, "wrong answer type".into())),
        Err(status) => Err((status.code(), status.message().to_owned())),
    }
}

/// One gRPC-web call through the gateway, as the dashboard makes it (session cookie, same-origin
/// `Origin`).
async fn web_call<Q: Message, R: Message + Default>(
    target: &Target,
    method: &str,
    request: &Q,
) -> Result<R, (Code, String)> {
    let transport = |e: reqwest::Error| (Code::Unknown, format!("gateway transport: {e}"));
    let response = grpc_web_client::post(
        &target.http,
        &format!("{}/budget.v1.BudgetService/{method}", target.gateway),
        grpc_web_client::CONTENT_TYPE_PROTO,
        grpc_web_client::data_frame(request),
    )
    .header("origin", &target.gateway)
    .header("sec-fetch-site", "same-origin")
    .header("cookie", &target.cookie)
    .send()
    .await
    .map_err(transport)?;
    if response.status() != 200 {
        return Err((Code::Unknown, format!("gateway HTTP {}", response.status())));
    }
    let reply = Reply::read(response, Wire::Binary)
        .await
        .map_err(transport)?;
    if reply.truncated {
        return Err((Code::Unknown, "gateway: truncated gRPC-web frame".into()));
    }
    match (reply.code(), reply.decode::<R>()) {
        (Code::Ok, Some(answer)) => Ok(answer),
        (Code::Ok, None) => Err((Code::Unknown, "gateway: OK without a message".into())),
        (code, _) => Err((code, reply.grpc_message())),
    }
}
