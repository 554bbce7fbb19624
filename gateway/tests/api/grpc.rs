//! Plain gRPC (HTTP/2 without TLS) at the gateway, as API callers and tools speak it: calls with
//! the caller's own bearer token, and server reflection of the public API over gRPC and over
//! Connect's streaming protocol (which `buf curl --protocol connect` uses for reflection).

use budget_proto::v1::budget_service_client::BudgetServiceClient;
use budget_proto::v1::*;
use prost::Message;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use crate::helpers::{ADMIN_TOKEN, TestGateway, spawn_fake_budget_service};

async fn channel(gateway: &TestGateway) -> Channel {
    Channel::from_shared(gateway.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn grpc_calls_carry_the_callers_own_bearer_token() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let mut client = BudgetServiceClient::new(channel(&gateway).await);

    let mut request = tonic::Request::new(WhoAmIRequest {});
    let token: MetadataValue<_> = format!("Bearer {ADMIN_TOKEN}").parse().unwrap();
    request.metadata_mut().insert("authorization", token);
    let answer = client.who_am_i(request).await.unwrap();
    assert_eq!(answer.get_ref().name, "admin");
    assert_eq!(answer.metadata().get("x-request-id").unwrap().len(), 32);

    let refused = client
        .who_am_i(tonic::Request::new(WhoAmIRequest {}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
}

fn list_services() -> ServerReflectionRequest {
    ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    }
}

fn service_names(response: &ServerReflectionResponse) -> Vec<String> {
    match &response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => list
            .service
            .iter()
            .map(|service| service.name.clone())
            .collect(),
        other => panic!("not a service list: {other:?}"),
    }
}

#[tokio::test]
async fn reflection_over_grpc_lists_the_public_api_only() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let mut client = ServerReflectionClient::new(channel(&gateway).await);
    let symbol = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "budget.v1.BudgetService".to_owned(),
        )),
    };
    let requests = tokio_stream::iter([list_services(), symbol]);
    let mut answers = client
        .server_reflection_info(requests)
        .await
        .unwrap()
        .into_inner();
    let first = answers.message().await.unwrap().unwrap();
    assert_eq!(service_names(&first), ["budget.v1.BudgetService"]);
    let second = answers.message().await.unwrap().unwrap();
    match second.message_response {
        Some(MessageResponse::FileDescriptorResponse(files)) => {
            let names: Vec<String> = files
                .file_descriptor_proto
                .iter()
                .map(|bytes| {
                    prost_types::FileDescriptorProto::decode(bytes.as_slice())
                        .unwrap()
                        .name()
                        .to_owned()
                })
                .collect();
            assert!(
                names.contains(&"budget/v1/budget.proto".to_owned()),
                "{names:?}"
            );
        }
        other => panic!("not a file descriptor: {other:?}"),
    }
}

/// One 5-byte envelope.
fn envelope(flags: u8, message: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Splits a body into its envelopes.
fn envelopes(mut body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let length = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        out.push((body[0], body[5..5 + length].to_vec()));
        body = &body[5 + length..];
    }
    out
}

#[tokio::test]
async fn reflection_over_connect_streams_ends_with_an_end_of_stream_frame() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let url = gateway.url("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");

    let response = client
        .post(&url)
        .header("content-type", "application/connect+proto")
        .header("connect-protocol-version", "1")
        .body(envelope(0, &list_services().encode_to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/connect+proto"
    );
    let frames = envelopes(&response.bytes().await.unwrap());
    assert_eq!(frames.len(), 2, "{frames:?}");
    let answer = ServerReflectionResponse::decode(frames[0].1.as_slice()).unwrap();
    assert_eq!(service_names(&answer), ["budget.v1.BudgetService"]);
    assert_eq!(frames[1].0, 0x02);
    let end: serde_json::Value = serde_json::from_slice(&frames[1].1).unwrap();
    assert!(end.get("error").is_none(), "{end}");

    // The same in JSON, and an unknown field ending the stream with invalid_argument.
    let response = client
        .post(&url)
        .header("content-type", "application/connect+json")
        .body(envelope(0, br#"{"listServices":""}"#))
        .send()
        .await
        .unwrap();
    let frames = envelopes(&response.bytes().await.unwrap());
    let answer: serde_json::Value = serde_json::from_slice(&frames[0].1).unwrap();
    assert_eq!(
        answer["listServicesResponse"]["service"][0]["name"],
        "budget.v1.BudgetService"
    );
    let response = client
        .post(&url)
        .header("content-type", "application/connect+json")
        .body(envelope(0, br#"{"listEverything":""}"#))
        .send()
        .await
        .unwrap();
    let frames = envelopes(&response.bytes().await.unwrap());
    let (flags, end) = frames.last().unwrap();
    assert_eq!(*flags, 0x02);
    let end: serde_json::Value = serde_json::from_slice(end).unwrap();
    assert_eq!(end["error"]["code"], "invalid_argument", "{end}");
}

#[tokio::test]
async fn connect_calls_are_counted_like_grpc_web_calls() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let response = gateway
        .client
        .post(gateway.url("/budget.v1.BudgetService/GetBudgetStatus"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(r#"{"tenantId":"acme"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = gateway
        .client
        .post(gateway.url("/budget.v1.BudgetService/GetBudgetStatus"))
        .header("content-type", "application/json")
        .body(r#"{"tenantId":"acme"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Refused by the gateway itself, before any upstream call: counted all the same.
    let response = gateway
        .client
        .post(gateway.url("/budget.v1.BudgetService/GetBudgetStatus"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(r#"{"tenantId":"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-request-id"].len(), 32);
    let metrics = gateway
        .client
        .get(format!("http://{}/metrics", gateway.metrics_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "gateway_grpc_web_requests_total{code=\"OK\",method=\"GetBudgetStatus\"} 1",
        "gateway_grpc_web_requests_total{code=\"UNAUTHENTICATED\",method=\"GetBudgetStatus\"} 1",
        "gateway_grpc_web_requests_total{code=\"INVALID_ARGUMENT\",method=\"GetBudgetStatus\"} 1",
    ] {
        assert!(metrics.contains(series), "{series}\n{metrics}");
    }
}
