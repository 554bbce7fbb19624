//! `budget-service health`: asks a running server's grpc.health.v1 whether it is SERVING,
//! for Docker HEALTHCHECK and Kubernetes exec probes (no shell or grpc_health_probe needed).

use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Checks the server's overall health (the empty service name) at `addr`, an
/// `http://host:port` (h2c) or `https://host:port` URL, within `timeout`; over https the
/// server's certificate must chain to `ca_pem` (PEM). `Err` is a one-line reason.
pub async fn check(addr: &str, ca_pem: Option<&[u8]>, timeout: Duration) -> Result<(), String> {
    let mut endpoint = tonic::transport::Endpoint::from_shared(addr.to_owned())
        .map_err(|_| format!("--addr {addr} is not a URL like http://127.0.0.1:50051"))?
        .connect_timeout(timeout)
        .timeout(timeout);
    if addr.starts_with("https://") {
        let ca = ca_pem.ok_or("an https:// --addr needs --ca-file")?;
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca));
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|_| "--ca-file is not a PEM certificate".to_owned())?;
    }
    let call = async {
        let channel = endpoint
            .connect()
            .await
            .map_err(|_| format!("cannot connect to {addr}"))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map_err(|status| format!("health check failed: {}", status.code()))
    };
    let response = tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| format!("no answer from {addr} within {}s", timeout.as_secs_f32()))??;
    match response.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("{addr} is {}", other.as_str_name())),
    }
}
