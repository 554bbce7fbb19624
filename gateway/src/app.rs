//! The HTTP surface: which paths go where, and the layers every response passes through.

use axum::Router;
use axum::routing::get;
use budget_proto::v1::budget_service_server::SERVICE_NAME;
use http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderMap, HeaderValue, Method, Uri};
use tonic_web::GrpcWebLayer;
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::assets::Assets;
use crate::grpc_proxy::GrpcProxy;

/// Allows nothing but this origin's own files and API; the dashboard needs nothing else.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub(crate) fn router(assets: Assets, proxy: GrpcProxy) -> Router {
    // Only `/budget.v1.BudgetService/{Method}` is forwarded. Any other gRPC path (health,
    // reflection, other services) falls through to the static files and gets an HTTP 404,
    // which gRPC-web clients read as UNIMPLEMENTED.
    let grpc_web_to_budget_service = ServiceBuilder::new()
        .layer(GrpcWebLayer::new())
        .service(proxy);

    // Layers run top to bottom on the request and bottom to top on the response:
    // 1. Trace is outermost so its span covers everything and it logs the final status.
    // 2. The security headers are set on every response, including 404, 503 and gRPC-web
    //    answers, overriding anything inside, so no page can go out without them.
    // The gRPC-web translation is not here but on its route only, so pages never pass through it.
    let layers = ServiceBuilder::new()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ));

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route_service(
            &format!("/{SERVICE_NAME}/{{method}}"),
            grpc_web_to_budget_service,
        )
        .fallback(
            move |method: Method, uri: Uri, headers: HeaderMap| async move {
                assets.respond(&method, uri.path(), &headers)
            },
        )
        .layer(layers)
}
