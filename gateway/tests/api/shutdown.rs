//! Graceful shutdown: stop accepting, finish what is in flight, then return.

use std::time::Duration;

use budget_proto::v1::{ListAlertsRequest, ListAlertsResponse};
use tonic::Code;

use crate::helpers::{TestGateway, Wire};

#[tokio::test]
async fn shutdown_finishes_in_flight_calls_then_stops() {
    let mut gateway = TestGateway::signed_in().await;
    let (stop, server) = gateway.take_shutdown();
    let slow = ListAlertsRequest {
        page_size: 500,
        ..Default::default()
    };

    let (reply, stopped) = tokio::join!(
        gateway.grpc_web_call("ListAlerts", &slow, Wire::Binary, &[]),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            stop.send(()).unwrap();
            tokio::time::timeout(Duration::from_secs(5), server).await
        }
    );

    assert_eq!(reply.code(), Code::Ok, "{reply:?}");
    assert_eq!(
        reply
            .only_message::<ListAlertsResponse>()
            .expect("one message")
            .total_size,
        500
    );
    stopped
        .expect("stops well within the drain timeout")
        .unwrap()
        .unwrap();
    let refused = gateway.client.get(gateway.url("/healthz")).send().await;
    assert!(refused.is_err(), "no new connections after shutdown");
}
