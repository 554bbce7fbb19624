//! `budget-gateway health`: one `GET /healthz` to a running gateway, for container health
//! checks and Kubernetes exec probes (no shell or curl needed in the image).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Asks the gateway at `addr` (`host:port`, or `http://host:port`) for `/healthz` within
/// `timeout`; `Ok` on HTTP 200, otherwise a one-line reason.
pub async fn check(addr: &str, timeout: Duration) -> Result<(), String> {
    let host = addr
        .strip_prefix("http://")
        .unwrap_or(addr)
        .trim_end_matches('/');
    if host.is_empty() || host.contains('/') || host.contains("://") {
        return Err(format!(
            "--addr {addr} is not host:port or http://host:port"
        ));
    }
    let call = async {
        let mut stream = TcpStream::connect(host)
            .await
            .map_err(|_| format!("cannot connect to {host}"))?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|_| format!("cannot send to {host}"))?;
        // The status line is all that is read: "HTTP/1.1 200 OK".
        let mut head = [0u8; 64];
        let mut read = 0;
        while read < head.len() && !head[..read].contains(&b'\n') {
            match stream.read(&mut head[read..]).await {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(_) => return Err(format!("no answer from {host}")),
            }
        }
        let line = String::from_utf8_lossy(&head[..read]);
        let status = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        if status == "200" {
            Ok(())
        } else if status.is_empty() {
            Err(format!("{host} did not answer HTTP"))
        } else {
            Err(format!("{host}/healthz answered HTTP {status}"))
        }
    };
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| format!("no answer from {host} within {}s", timeout.as_secs()))?
}
