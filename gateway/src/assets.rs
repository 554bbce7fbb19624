//! The dashboard's files, embedded at compile time by `build.rs`, and how they are served:
//! hashed `/assets/*` forever, everything that looks like a page as `index.html` (SPA routing).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

/// One file from `web/dist/`, with its pre-compressed variants when they are smaller.
#[derive(Debug)]
pub(crate) struct EmbeddedFile {
    /// The path relative to `dist/`, with `/` separators, e.g. `assets/app-3f2a1c.js`.
    path: &'static str,
    content_type: &'static str,
    identity: &'static [u8],
    gzip: Option<&'static [u8]>,
    brotli: Option<&'static [u8]>,
}

// Defines `static EMBEDDED_FILES: &[EmbeddedFile]`, sorted by path.
include!(concat!(env!("OUT_DIR"), "/embedded_files.rs"));

/// Hashed file names change with their content, so browsers may keep them forever.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// `index.html` names the current hashed assets, so browsers must revalidate it every time.
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// A set of files sorted by path: the embedded dashboard, or a fixture in unit tests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Assets {
    files: &'static [EmbeddedFile],
}

impl Assets {
    /// The files `build.rs` embedded from `web/dist/` (none when it was not built).
    pub(crate) fn embedded() -> Self {
        Self::new(EMBEDDED_FILES)
    }

    fn new(files: &'static [EmbeddedFile]) -> Self {
        debug_assert!(files.is_sorted_by_key(|file| file.path));
        Self { files }
    }

    /// Answers a request for anything that is not an API route.
    pub(crate) fn respond(&self, method: &Method, path: &str, headers: &HeaderMap) -> Response {
        // Other methods find nothing here, and a gRPC-web client reads 404 as UNIMPLEMENTED.
        if method != Method::GET && method != Method::HEAD {
            return not_found();
        }
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.starts_with("assets/") {
            return match self.find(path) {
                Some(file) => file.respond(IMMUTABLE, headers),
                None => not_found(),
            };
        }
        if let Some(file) = self.find(path) {
            return file.respond(NO_CACHE, headers);
        }
        if !is_page_route(path) {
            return not_found();
        }
        match self.find("index.html") {
            Some(index) => index.respond(NO_CACHE, headers),
            None => (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    (CONTENT_TYPE, TEXT_PLAIN),
                    (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                "dashboard not built",
            )
                .into_response(),
        }
    }

    /// Whether `path` names a page of the dashboard (`index.html`, or a route it serves as
    /// `index.html`) rather than a static file; pages are for signed-in visitors only.
    pub(crate) fn is_page(&self, path: &str) -> bool {
        let path = path.strip_prefix('/').unwrap_or(path);
        path == "index.html"
            || (!path.starts_with("assets/") && self.find(path).is_none() && is_page_route(path))
    }

    /// The dashboard's stylesheet (`assets/app-<hash>.css`), which the sign-in page uses too.
    pub(crate) fn stylesheet(&self) -> Option<&'static str> {
        self.files
            .iter()
            .map(|file| file.path)
            .find(|path| path.starts_with("assets/") && path.ends_with(".css"))
    }

    fn find(&self, path: &str) -> Option<&'static EmbeddedFile> {
        let files = self.files;
        files
            .binary_search_by(|file| file.path.cmp(path))
            .ok()
            .map(|index| &files[index])
    }
}

/// Client-side routes such as `/`, `/tenants/acme`: no dot anywhere, so neither a file name
/// nor a gRPC path (`/budget.v1.BudgetService/...`, `/grpc.health.v1.Health/...`).
fn is_page_route(path: &str) -> bool {
    !path.contains('.')
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, TEXT_PLAIN)],
        "not found",
    )
        .into_response()
}

impl EmbeddedFile {
    fn respond(&self, cache_control: HeaderValue, request_headers: &HeaderMap) -> Response {
        let accept = AcceptEncoding::parse(request_headers);
        let (body, content_encoding) = match (self.brotli, self.gzip) {
            (Some(brotli), _) if accept.prefers_brotli() => (brotli, Some("br")),
            (_, Some(gzip)) if accept.gzip > 0.0 => (gzip, Some("gzip")),
            (Some(brotli), _) if accept.brotli > 0.0 => (brotli, Some("br")),
            _ => (self.identity, None),
        };
        let mut response = Response::new(Body::from(body));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        headers.insert(CACHE_CONTROL, cache_control);
        if self.gzip.is_some() || self.brotli.is_some() {
            headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        }
        if let Some(encoding) = content_encoding {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    }
}

/// The quality values (0 = refused) a request's `Accept-Encoding` gives brotli and gzip.
#[derive(Debug, PartialEq)]
struct AcceptEncoding {
    brotli: f32,
    gzip: f32,
}

impl AcceptEncoding {
    fn parse(headers: &HeaderMap) -> Self {
        let mut brotli = None;
        let mut gzip = None;
        let mut wildcard = None;
        let codings = headers
            .get_all(http::header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        for coding in codings {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let quality = parts
                .find_map(|param| param.trim().strip_prefix("q="))
                .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
            if name.eq_ignore_ascii_case("br") {
                brotli = Some(quality);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(quality);
            } else if name == "*" {
                wildcard = Some(quality);
            }
        }
        Self {
            brotli: brotli.or(wildcard).unwrap_or(0.0),
            gzip: gzip.or(wildcard).unwrap_or(0.0),
        }
    }

    /// Brotli wins ties because it is smaller.
    fn prefers_brotli(&self) -> bool {
        self.brotli > 0.0 && self.brotli >= self.gzip
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    static FIXTURE: &[EmbeddedFile] = &[
        EmbeddedFile {
            path: "assets/app-1a2b3c.css",
            content_type: "text/css; charset=utf-8",
            identity: b"body{}",
            gzip: None,
            brotli: None,
        },
        EmbeddedFile {
            path: "assets/app-1a2b3c.js",
            content_type: "text/javascript; charset=utf-8",
            identity: b"console.log('identity')",
            gzip: Some(b"gzip bytes"),
            brotli: Some(b"br bytes"),
        },
        EmbeddedFile {
            path: "assets/logo-9f8e7d.png",
            content_type: "image/png",
            identity: b"png bytes",
            gzip: None,
            brotli: None,
        },
        EmbeddedFile {
            path: "index.html",
            content_type: "text/html; charset=utf-8",
            identity: b"<!doctype html><title>Budgets</title>",
            gzip: None,
            brotli: None,
        },
    ];

    fn get(assets: Assets, path: &str, accept_encoding: Option<&'static str>) -> Response {
        let mut headers = HeaderMap::new();
        if let Some(value) = accept_encoding {
            headers.insert(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_static(value),
            );
        }
        assets.respond(&Method::GET, path, &headers)
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response.headers().get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn page_routes_serve_index_without_caching() {
        for path in ["/", "/tenants/acme", "/tenants/acme/alerts", "/index.html"] {
            let response = get(Assets::new(FIXTURE), path, None);
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(
                header(&response, "content-type"),
                Some("text/html; charset=utf-8")
            );
            assert_eq!(header(&response, "cache-control"), Some("no-cache"));
        }
    }

    #[test]
    fn assets_are_immutable_and_negotiate_encoding() {
        let assets = Assets::new(FIXTURE);
        let cases = [
            (None, None),
            (Some("gzip, deflate"), Some("gzip")),
            (Some("gzip, deflate, br"), Some("br")),
            (Some("br;q=0.5, gzip"), Some("gzip")),
            (Some("br;q=0, gzip;q=0"), None),
            (Some("*"), Some("br")),
            (Some("identity"), None),
        ];
        for (accept, expected) in cases {
            let response = get(assets, "/assets/app-1a2b3c.js", accept);
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                header(&response, "cache-control"),
                Some("public, max-age=31536000, immutable")
            );
            assert_eq!(
                header(&response, "content-encoding"),
                expected,
                "{accept:?}"
            );
            assert_eq!(header(&response, "vary"), Some("accept-encoding"));
        }
    }

    #[test]
    fn incompressible_assets_are_sent_as_they_are() {
        let response = get(
            Assets::new(FIXTURE),
            "/assets/logo-9f8e7d.png",
            Some("br, gzip"),
        );
        assert_eq!(header(&response, "content-type"), Some("image/png"));
        assert_eq!(header(&response, "content-encoding"), None);
        assert_eq!(header(&response, "vary"), None);
    }

    #[test]
    fn unknown_files_and_api_paths_are_not_found() {
        for path in [
            "/assets/missing-000000.js",
            "/assets/",
            "/favicon.ico",
            "/budget.v1.BudgetService/GetBudgetStatus",
            "/grpc.health.v1.Health/Check",
        ] {
            let response = get(Assets::new(FIXTURE), path, None);
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn pages_are_unavailable_until_the_dashboard_is_built() {
        let response = get(Assets::new(&[]), "/tenants/acme", None);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = get(Assets::new(&[]), "/assets/app-1a2b3c.js", None);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn only_get_and_head_find_anything() {
        let assets = Assets::new(FIXTURE);
        let head = assets.respond(&Method::HEAD, "/", &HeaderMap::new());
        assert_eq!(head.status(), StatusCode::OK);
        let post = assets.respond(&Method::POST, "/", &HeaderMap::new());
        assert_eq!(post.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn pages_are_told_apart_from_files() {
        let assets = Assets::new(FIXTURE);
        for page in ["/", "/index.html", "/tenants/acme", "/tenants/acme/"] {
            assert!(assets.is_page(page), "{page}");
        }
        for file in [
            "/assets/app-1a2b3c.js",
            "/assets/missing",
            "/favicon.ico",
            "/budget.v1.BudgetService/WhoAmI",
        ] {
            assert!(!assets.is_page(file), "{file}");
        }
        assert_eq!(assets.stylesheet(), Some("assets/app-1a2b3c.css"));
        assert_eq!(Assets::new(&[]).stylesheet(), None);
    }

    #[test]
    fn embedded_table_is_sorted_and_has_index_if_anything() {
        let files = EMBEDDED_FILES;
        assert!(files.is_sorted_by_key(|file| file.path));
        if !files.is_empty() {
            assert!(Assets::embedded().find("index.html").is_some());
        }
    }
}
