//! The embedded dashboard. These tests hold for whatever `build.rs` embedded: the real
//! `web/dist/`, a fixture via `GATEWAY_WEB_DIST`, or nothing (then pages answer 503).

use std::io::Read as _;

use crate::helpers::{TestGateway, admin_cookie, unreachable_url};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

pub fn assert_security_headers(response: &reqwest::Response) {
    let headers = response.headers();
    assert_eq!(headers["content-security-policy"], CSP);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
}

#[tokio::test]
async fn healthz_is_ok() {
    let gateway = TestGateway::spawn(unreachable_url().await).await;
    let response = gateway.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn page_routes_serve_index_html_with_strict_headers() {
    let mut gateway = TestGateway::spawn(unreachable_url().await).await;
    gateway.cookie = Some(admin_cookie().await);

    for path in ["/", "/tenants/acme"] {
        let response = gateway.get(path).await;
        assert_security_headers(&response);
        match response.status().as_u16() {
            200 => {
                assert_eq!(
                    response.headers()["content-type"],
                    "text/html; charset=utf-8"
                );
                assert_eq!(response.headers()["cache-control"], "no-cache");
                let body = response.text().await.unwrap();
                assert!(
                    body.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("<!doctype html"),
                    "{path}: {body}"
                );
            }
            503 => {
                assert_eq!(response.text().await.unwrap(), "dashboard not built");
            }
            other => panic!("{path}: unexpected status {other}"),
        }
    }
}

#[tokio::test]
async fn assets_are_immutable_and_compressed_on_request() {
    let mut gateway = TestGateway::spawn(unreachable_url().await).await;
    gateway.cookie = Some(admin_cookie().await);
    let index = gateway.get("/").await;
    if index.status() == 503 {
        eprintln!("dashboard not built: no assets to check");
        return;
    }
    let index = index.text().await.unwrap();
    let assets = referenced_assets(&index);
    assert!(
        !assets.is_empty(),
        "index.html references /assets/*: {index}"
    );

    // Assets are fetched without the session cookie: they are public.
    for asset in assets {
        let plain = gateway
            .client
            .get(gateway.url(&asset))
            .header("accept-encoding", "identity")
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 200, "{asset}");
        assert_security_headers(&plain);
        assert_eq!(
            plain.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let content_type = plain.headers()["content-type"].to_str().unwrap().to_owned();
        if asset.ends_with(".js") {
            assert_eq!(content_type, "text/javascript; charset=utf-8");
        } else if asset.ends_with(".css") {
            assert_eq!(content_type, "text/css; charset=utf-8");
        }
        assert!(plain.headers().get("content-encoding").is_none());
        let plain = plain.bytes().await.unwrap();

        let gzipped = gateway
            .client
            .get(gateway.url(&asset))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(gzipped.status(), 200);
        assert_eq!(gzipped.headers()["content-type"], content_type.as_str());
        if gzipped.headers().get("content-encoding").is_some() {
            assert_eq!(gzipped.headers()["content-encoding"], "gzip");
            assert_eq!(gzipped.headers()["vary"], "accept-encoding");
            let compressed = gzipped.bytes().await.unwrap();
            let mut unzipped = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut unzipped)
                .unwrap();
            assert_eq!(unzipped, plain, "{asset}");
        } else {
            // Only tiny files are left uncompressed, where gzip would not make them smaller.
            assert!(plain.len() < 256, "{asset} should be gzipped");
        }

        let brotli = gateway
            .client
            .get(gateway.url(&asset))
            .header("accept-encoding", "gzip, deflate, br")
            .send()
            .await
            .unwrap();
        let encoding = brotli.headers().get("content-encoding");
        assert!(
            encoding.is_none() || encoding.unwrap() == "br",
            "{asset}: {encoding:?}"
        );
    }
}

#[tokio::test]
async fn unknown_assets_and_files_are_not_found() {
    let gateway = TestGateway::spawn(unreachable_url().await).await;
    for path in ["/assets/missing-00000000.js", "/favicon-missing.ico"] {
        let response = gateway.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_security_headers(&response);
    }
}

/// The `/assets/...` URLs in `src="..."` and `href="..."` attributes.
fn referenced_assets(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}
