//! The HTTP surface: which paths go where, who may use them, and the layers every response
//! passes through.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use budget_proto::v1::FILE_DESCRIPTOR_SET;
use budget_proto::v1::budget_service_server::SERVICE_NAME;
use http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Method, Uri};
use tonic_web::GrpcWebLayer;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceBuilder};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::assets::Assets;
use crate::connect::{Descriptors, GrpcService, Protocols};
use crate::cross_site::refuse_cross_site;
use crate::export;
use crate::grpc_proxy::GrpcProxy;
use crate::metrics::{self, GrpcMetricsLayer, Metrics};
use crate::session::Sessions;
use crate::signin::{self, SIGN_IN_PATH};
use crate::state::AppState;

/// Allows nothing but this origin's own files and API; the dashboard needs nothing else.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A year, the usual HSTS lifetime; subdomains are not the gateway's to decide.
const HSTS_VALUE: &str = "max-age=31536000";

/// The sign-in form is one field; anything much larger is not a sign-in.
const SIGN_IN_BODY_LIMIT: usize = 8 * 1024;

/// The public port's routes. `hsts` adds Strict-Transport-Security to every response (the
/// gateway is reached over HTTPS). `/metrics` is not here but on a listener of its own.
pub(crate) fn router(
    state: AppState,
    proxy: GrpcProxy,
    metrics: Arc<Metrics>,
    hsts: bool,
) -> Router {
    // Only `/budget.v1.BudgetService/{Method}` is forwarded, and gRPC server reflection is
    // answered here. Any other gRPC path (health, other services) falls through to the static
    // files and gets an HTTP 404, which gRPC-web and Connect clients read as UNIMPLEMENTED. The
    // proxy passes an API caller's own bearer token on, else adds the session's, and answers
    // UNAUTHENTICATED without either.
    // gRPC and gRPC-web pass tonic-web, Connect calls the Connect translation; both then go
    // through the metrics layer, which sees plain gRPC (the code in the headers or trailers)
    // and sets `x-request-id` on the upstream call and the answer, and then the proxy.
    let descriptors = Descriptors::new();
    let upstream: GrpcService = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .map_response(|response: Response<_>| response.map(tonic::body::Body::new))
            .layer(GrpcMetricsLayer::new(metrics.clone()))
            .service(proxy),
    );
    let budget_service = Protocols::new(
        grpc_and_web(upstream.clone()),
        upstream,
        descriptors.clone(),
        Some(metrics.clone()),
    );
    let reflection = reflection_service();
    let reflection = Protocols::new(
        grpc_and_web(reflection.clone()),
        reflection,
        descriptors,
        None,
    );

    // Everything that acts for the signed-in person refuses requests from other sites' pages.
    let acting = Router::new()
        .route(
            "/session",
            post(signin::sign_in).layer(DefaultBodyLimit::max(SIGN_IN_BODY_LIMIT)),
        )
        .route("/signout", post(signin::sign_out))
        .route_service(&format!("/{SERVICE_NAME}/{{method}}"), budget_service)
        .route_layer(from_fn(refuse_cross_site));

    // Layers run top to bottom on the request and bottom to top on the response:
    // 1. Trace is outermost so its span covers everything and it logs the final status.
    // 2. The HTTP metrics count every response but gRPC-web calls (counted on their route).
    // 3. The security headers are set on every response, including 404, 503 and gRPC-web
    //    answers, overriding anything inside, so no page can go out without them. HSTS only
    //    when the gateway is reached over HTTPS (GATEWAY_COOKIE_SECURE): browsers then refuse
    //    plain HTTP to this host for a year, so a network attacker cannot downgrade a visit.
    // The gRPC-web translation is not here but on its route only, so pages never pass through it.
    let layers = ServiceBuilder::new()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(from_fn_with_state(metrics.clone(), metrics::count_http))
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` with
        // the sign-in and sign-out forms, which the cross-site check must refuse.
        .layer(SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .option_layer(hsts.then(|| {
            SetResponseHeaderLayer::overriding(
                STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS_VALUE),
            )
        }));

    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(SIGN_IN_PATH, get(signin::page))
        .route("/export/{tenant_id}/{file}", get(export::download))
        .route_service(REFLECTION_V1, reflection.clone())
        .route_service(REFLECTION_V1ALPHA, reflection)
        .merge(acting)
        .fallback(pages_and_files)
        .with_state(state)
        .layer(layers)
}

/// gRPC's server reflection, both versions, at one path each.
const REFLECTION_V1: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const REFLECTION_V1ALPHA: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

/// gRPC and gRPC-web in front of `service`.
fn grpc_and_web(service: GrpcService) -> GrpcService {
    BoxCloneSyncService::new(GrpcWebLayer::new().layer(service))
}

/// Server reflection for the public API only (budget-proto's descriptor set; not reflection's
/// own service), so tools like `buf curl` and grpcurl find the schema at the gateway. It needs
/// no sign-in: the schema is public, as the dashboard's code already holds it, and it acts for
/// nobody.
fn reflection_service() -> GrpcService {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .include_reflection_service(false)
        .build_v1()
        .expect("budget-proto's descriptor set is valid");
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .include_reflection_service(false)
        .build_v1alpha()
        .expect("budget-proto's descriptor set is valid");
    let routes = tonic::service::Routes::new(v1)
        .add_service(v1alpha)
        .prepare();
    BoxCloneSyncService::new(routes)
}

/// The dashboard's pages for signed-in visitors, the sign-in page for the others; the static
/// files (`/assets/*`) for everyone, as they hold nothing but the dashboard's code.
async fn pages_and_files(
    State(assets): State<Assets>,
    State(sessions): State<Sessions>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    let is_page = (method == Method::GET || method == Method::HEAD) && assets.is_page(path);
    if is_page && sessions.current(&headers, SystemTime::now()).is_none() {
        return signin::signed_out_page(&headers);
    }
    assets.respond(&method, path, &headers)
}
