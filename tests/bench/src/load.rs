//! The one load generator (figures 1, 4 and 5) and the bare tonic echo service that is
//! figure 1's baseline.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use budget_proto::v1 as pb;
use hdrhistogram::Histogram;

/// What one load round measured.
#[derive(Clone, Debug)]
pub struct Load {
    pub calls: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency of successful calls in microseconds.
    pub latency_us: Histogram<u64>,
}

impl Load {
    pub fn throughput(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn p50_ms(&self) -> f64 {
        self.latency_us.value_at_quantile(0.5) as f64 / 1000.0
    }
    pub fn p99_ms(&self) -> f64 {
        self.latency_us.value_at_quantile(0.99) as f64 / 1000.0
    }
    pub fn summary(&self) -> String {
        format!(
            "{:.0} calls/s, p50 {:.3} ms, p99 {:.3} ms ({} calls, {} errors)",
            self.throughput(),
            self.p50_ms(),
            self.p99_ms(),
            self.calls,
            self.errors
        )
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// `callers` tasks each calling `call(caller)` back to back for `duration`; a call answering
/// `false` counts as an error.
pub async fn drive<F, Fut>(callers: usize, duration: Duration, call: F) -> Load
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..callers.max(1))
        .map(|caller| {
            let call = Arc::clone(&call);
            tokio::spawn(async move {
                let mut latency = histogram();
                let (mut calls, mut errors) = (0_u64, 0_u64);
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    if call(caller).await {
                        calls += 1;
                        let _ = latency.record(sent.elapsed().as_micros().max(1) as u64);
                    } else {
                        errors += 1;
                    }
                }
                (calls, errors, latency)
            })
        })
        .collect();
    let mut load = Load {
        calls: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency_us: histogram(),
    };
    for task in tasks {
        if let Ok((calls, errors, latency)) = task.await {
            load.calls += calls;
            load.errors += errors;
            let _ = load.latency_us.add(&latency);
        }
    }
    load.elapsed = started.elapsed();
    load
}

/// The round with the median throughput.
pub fn median_round(mut rounds: Vec<Load>) -> Option<Load> {
    rounds.sort_by(|a, b| a.throughput().total_cmp(&b.throughput()));
    let middle = rounds.len() / 2;
    rounds.into_iter().nth(middle)
}

/// A bare tonic server answering every unary call on `budget.v1.BudgetService` with one canned
/// GetBudgetStatus answer: the same framing, codec and message size as the product, and no
/// product code at all.
#[derive(Clone)]
pub struct Echo {
    answer: Arc<pb::GetBudgetStatusResponse>,
}

impl tonic::server::NamedService for Echo {
    const NAME: &'static str = "budget.v1.BudgetService";
}

struct Canned(Arc<pb::GetBudgetStatusResponse>);

impl tonic::server::UnaryService<pb::GetBudgetStatusRequest> for Canned {
    type Response = pb::GetBudgetStatusResponse;
    type Future = std::future::Ready<Result<tonic::Response<Self::Response>, tonic::Status>>;
    fn call(&mut self, _request: tonic::Request<pb::GetBudgetStatusRequest>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new((*self.0).clone())))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Echo {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let answer = Arc::clone(&self.answer);
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(Canned(answer), request).await)
        })
    }
}

/// Starts the echo server on a random loopback port.
pub async fn start_echo(
    answer: pb::GetBudgetStatusResponse,
) -> anyhow::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let echo = Echo {
        answer: Arc::new(answer),
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(echo)
            .serve_with_incoming_shutdown(tokio_stream_incoming(listener), async {
                let _ = stopped.await;
            }),
    );
    Ok((addr, stop))
}

fn tokio_stream_incoming(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let next = listener.accept().await.map(|(stream, _)| {
            let _ = stream.set_nodelay(true);
            stream
        });
        Some((next, listener))
    })
}

/// Percent formatting helper for ratios.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}
