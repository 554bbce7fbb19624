//! A panic inside one call's handler is answered INTERNAL ("Internal error"), logged and
//! counted (`budget_grpc_panics_total`), instead of resetting the HTTP/2 stream with no gRPC
//! status at all. The panic's text never reaches the caller. Sits inside `RpcLayer`, so the
//! call is also counted under its method with code INTERNAL.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt as _;
use http::{Request, Response};
use tower::{Layer, Service};

use budget_proto::wire::method_label;

use super::layer::KNOWN_METHODS;
use super::metrics::GrpcMetrics;
use crate::error::{ErrorCode, INTERNAL_MESSAGE};
use crate::panic_points::panic_text;

/// Adds [`CatchPanic`] to a service.
#[derive(Clone)]
pub struct CatchPanicLayer {
    metrics: Arc<GrpcMetrics>,
}

impl CatchPanicLayer {
    pub fn new(metrics: Arc<GrpcMetrics>) -> CatchPanicLayer {
        CatchPanicLayer { metrics }
    }
}

impl<S> Layer<S> for CatchPanicLayer {
    type Service = CatchPanic<S>;

    fn layer(&self, inner: S) -> CatchPanic<S> {
        CatchPanic {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct CatchPanic<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CatchPanic<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = method_label(request.uri().path(), &KNOWN_METHODS);
        let metrics = self.metrics.clone();
        // A panic may come while the call is made or while its future runs.
        let future = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)));
        Box::pin(async move {
            let answered = match future {
                Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
                Err(panic) => Err(panic),
            };
            match answered {
                Ok(result) => result,
                Err(panic) => {
                    let what = panic_text(&*panic);
                    tracing::error!(method = %method, panic = %what, "gRPC handler panicked; answered INTERNAL");
                    metrics.rpc_panicked(method);
                    Ok(
                        super::status::with_reason(ErrorCode::Internal, INTERNAL_MESSAGE)
                            .into_http(),
                    )
                }
            }
        })
    }
}
