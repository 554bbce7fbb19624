//! Signing in and out, the sealed session cookie, and who may call budget-service through the
//! gateway: a browser's view over real sockets, against the fake budget-service (which knows the
//! tokens `good-admin` and `good-tenant`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use budget_proto::v1::*;
use tonic::Code;

use crate::helpers::{
    ADMIN_TOKEN, GatewayOptions, SetCookie, TENANT_TOKEN, TestGateway, Wire,
    spawn_counting_fake_budget_service, spawn_fake_budget_service, unreachable_url,
};
use crate::static_files::assert_security_headers;

const NOT_ACCEPTED: &str = "That token was not accepted.";

fn config_request() -> GetBudgetConfigRequest {
    GetBudgetConfigRequest {
        tenant_id: "acme".to_owned(),
    }
}

/// The `authorization` header budget-service received, as the fake echoes it.
async fn upstream_authorization(gateway: &TestGateway, extra_headers: &[(&str, &str)]) -> String {
    let reply = gateway
        .grpc_web_call(
            "GetBudgetConfig",
            &config_request(),
            Wire::Binary,
            extra_headers,
        )
        .await;
    assert_eq!(reply.code(), Code::Ok, "{reply:?}");
    reply
        .only_message::<GetBudgetConfigResponse>()
        .expect("one message")
        .config
        .unwrap()
        .budget_duration
}

#[tokio::test]
async fn signing_in_sets_a_sealed_http_only_strict_cookie_and_opens_the_dashboard() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;

    let response = gateway.post_sign_in(ADMIN_TOKEN, &[]).await;

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_security_headers(&response);
    let cookie = SetCookie::from(&response).expect("a session cookie");
    assert_eq!(cookie.name, "budget_session");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(cookie.has(attribute), "{attribute}: {cookie:?}");
    }
    assert!(
        !cookie.has("Secure"),
        "a gateway on loopback is used over plain HTTP: {cookie:?}"
    );
    assert!(!cookie.value.contains(ADMIN_TOKEN), "the token is sealed");
    assert!(cookie.value.len() > 60, "{cookie:?}");
}

#[tokio::test]
async fn a_gateway_on_a_public_address_sets_a_secure_host_only_cookie() {
    let options = GatewayOptions {
        addr: "0.0.0.0:0".parse().unwrap(),
        ..GatewayOptions::default()
    };
    let mut gateway = TestGateway::spawn_with(spawn_fake_budget_service().await, options).await;

    let response = gateway.post_sign_in(ADMIN_TOKEN, &[]).await;

    assert_eq!(response.status(), 303);
    let cookie = SetCookie::from(&response).unwrap();
    // `__Host-`: browsers accept it only with Secure, Path=/ and no Domain.
    assert_eq!(cookie.name, "__Host-budget_session");
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.has(attribute), "{attribute}: {cookie:?}");
    }
    assert!(!cookie.attributes.iter().any(|a| a.starts_with("Domain")));
    gateway.cookie = Some(cookie.pair());
    assert_eq!(
        upstream_authorization(&gateway, &[]).await,
        "Bearer good-admin"
    );
}

#[tokio::test]
async fn a_tokens_surrounding_whitespace_is_ignored() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let response = gateway.post_sign_in(" good-tenant\n", &[]).await;
    assert_eq!(response.status(), 303);
    assert!(SetCookie::from(&response).is_some());
}

#[tokio::test]
async fn a_bad_token_gets_401_the_form_again_and_no_cookie() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let too_long = "x".repeat(5000);

    for token in [
        "wrong",
        "",
        "   ",
        "good-admin but longer",
        "good\u{e9}admin",
        too_long.as_str(),
    ] {
        let response = gateway.post_sign_in(token, &[]).await;
        assert_eq!(response.status(), 401, "{token:?}");
        assert!(SetCookie::from(&response).is_none(), "{token:?}");
        assert_security_headers(&response);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = response.text().await.unwrap();
        assert!(body.contains(NOT_ACCEPTED), "{body}");
        assert!(body.contains("<label for=\"token\">"), "{body}");
        if !token.trim().is_empty() {
            assert!(!body.contains(token.trim()), "the token is not echoed");
        }
    }
}

#[tokio::test]
async fn signing_in_while_budget_service_is_down_says_so() {
    let gateway = TestGateway::spawn(unreachable_url().await).await;

    let response = gateway.post_sign_in(ADMIN_TOKEN, &[]).await;

    assert_eq!(response.status(), 503);
    assert!(SetCookie::from(&response).is_none());
    let body = response.text().await.unwrap();
    assert!(
        body.contains("The budget service could not check the token."),
        "{body}"
    );
}

#[tokio::test]
async fn the_sign_in_page_is_a_labelled_form_without_inline_script() {
    let gateway = TestGateway::spawn(unreachable_url().await).await;

    let response = gateway.get("/signin").await;

    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response.text().await.unwrap();
    assert!(
        body.contains(
            "<form id=\"signin-form\" class=\"card signin\" method=\"post\" action=\"/session\">"
        ),
        "{body}"
    );
    assert!(body.contains("<label for=\"token\">API token</label>"));
    assert!(body.contains("name=\"token\" type=\"password\""));
    assert!(body.contains("for 1 hour"), "the session's length: {body}");
    assert!(!body.contains(NOT_ACCEPTED));
    assert!(!body.contains("<script"));
    assert!(!body.contains("<style"));
    assert!(!body.contains(" style="));
    // The dashboard's stylesheet, when one is embedded, and it is public.
    if let Some(start) = body.find("href=\"/assets/") {
        let href = &body[start + 6..];
        let href = &href[..href.find('"').unwrap()];
        assert!(href.ends_with(".css"), "{href}");
        let css = gateway.client.get(gateway.url(href)).send().await.unwrap();
        assert_eq!(css.status(), 200, "{href}");
    }
}

#[tokio::test]
async fn grpc_web_calls_carry_the_sessions_token_unless_the_caller_sends_its_own() {
    let mut gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    gateway.sign_in_as(TENANT_TOKEN).await;

    assert_eq!(
        upstream_authorization(&gateway, &[]).await,
        "Bearer good-tenant"
    );
    // A caller's own authorization header is the caller, passed on unchanged and never next to
    // the session's (the fake refuses a call with two); the cookie stays with the gateway (the
    // fake refuses any call with one). Only the gateway's own pages or non-browser callers can
    // send one: another site's would need a CORS preflight the gateway never grants.
    let own = upstream_authorization(&gateway, &[("authorization", "Bearer good-admin")]).await;
    assert_eq!(own, "Bearer good-admin");

    let reply = gateway
        .grpc_web_call("WhoAmI", &WhoAmIRequest {}, Wire::Text, &[])
        .await;
    assert_eq!(
        reply.only_message::<WhoAmIResponse>().expect("one message"),
        WhoAmIResponse {
            name: "acme-admin".to_owned(),
            role: Role::TenantAdmin as i32,
            tenant_id: "acme".to_owned(),
        }
    );
    // budget-service's own refusals pass through unchanged.
    let other = GetBudgetStatusRequest {
        tenant_id: "globex".to_owned(),
    };
    let reply = gateway
        .grpc_web_call("GetBudgetStatus", &other, Wire::Binary, &[])
        .await;
    assert_eq!(reply.code(), Code::PermissionDenied, "{reply:?}");
}

#[tokio::test]
async fn without_credentials_grpc_web_calls_are_unauthenticated_and_not_forwarded() {
    let (url, calls) = spawn_counting_fake_budget_service().await;
    let gateway = TestGateway::spawn(url).await;

    for wire in [Wire::Binary, Wire::Text] {
        let reply = gateway
            .grpc_web_call("GetBudgetConfig", &config_request(), wire, &[])
            .await;
        assert_eq!(reply.http_status, 200, "a gRPC status, not an HTTP error");
        assert_eq!(reply.headers["content-type"], wire.response_content_type());
        assert_eq!(reply.code(), Code::Unauthenticated, "{reply:?}");
        assert!(reply.messages.is_empty());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // Two authorization headers are nobody's.
    let reply = gateway
        .grpc_web_call(
            "GetBudgetConfig",
            &config_request(),
            Wire::Binary,
            &[
                ("authorization", "Bearer good-admin"),
                ("authorization", "Bearer good-tenant"),
            ],
        )
        .await;
    assert_eq!(reply.code(), Code::Unauthenticated, "{reply:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // An API caller's own token is enough, with no session.
    let reply = gateway
        .grpc_web_call(
            "GetBudgetConfig",
            &config_request(),
            Wire::Binary,
            &[("authorization", "Bearer good-admin")],
        )
        .await;
    assert_eq!(reply.code(), Code::Ok, "{reply:?}");
}

#[tokio::test]
async fn a_cookie_works_on_every_gateway_with_the_same_key_and_no_other() {
    let first = TestGateway::signed_in().await;
    let cookie = first.cookie.clone().unwrap();
    let url = spawn_fake_budget_service().await;

    let mut same_key = TestGateway::spawn(url.clone()).await;
    same_key.cookie = Some(cookie.clone());
    assert_eq!(
        upstream_authorization(&same_key, &[]).await,
        "Bearer good-admin"
    );
    assert_ne!(same_key.get("/").await.status(), 303);

    let other_key = GatewayOptions {
        session_key: [9; 32],
        ..GatewayOptions::default()
    };
    let mut other = TestGateway::spawn_with(url, other_key).await;
    other.cookie = Some(cookie);
    let reply = other
        .grpc_web_call("GetBudgetConfig", &config_request(), Wire::Binary, &[])
        .await;
    assert_eq!(reply.code(), Code::Unauthenticated);
    assert_eq!(other.get("/").await.status(), 303);
}

#[tokio::test]
async fn a_tampered_cookie_is_refused() {
    let mut gateway = TestGateway::signed_in().await;
    let cookie = gateway.cookie.clone().unwrap();
    let (name, value) = cookie.split_once('=').unwrap();

    let mut tampered = Vec::new();
    for index in [0, value.len() / 3, value.len() / 2, value.len() - 2] {
        let mut bytes = value.as_bytes().to_vec();
        bytes[index] = if bytes[index] == b'Q' { b'R' } else { b'Q' };
        tampered.push(format!("{name}={}", String::from_utf8(bytes).unwrap()));
    }
    tampered.push(format!("{name}={}", &value[..value.len() - 4]));
    tampered.push(format!("{name}={value}AAAA"));
    tampered.push(format!("{name}="));

    for cookie in tampered {
        gateway.cookie = Some(cookie.clone());
        let reply = gateway
            .grpc_web_call("GetBudgetConfig", &config_request(), Wire::Binary, &[])
            .await;
        assert_eq!(reply.code(), Code::Unauthenticated, "{cookie}");
        assert_eq!(gateway.get("/tenants/acme").await.status(), 303, "{cookie}");
    }
}

#[tokio::test]
async fn a_session_ends_after_its_time() {
    let options = GatewayOptions {
        session_ttl: Duration::from_secs(1),
        ..GatewayOptions::default()
    };
    let mut gateway = TestGateway::spawn_with(spawn_fake_budget_service().await, options).await;
    let response = gateway.post_sign_in(ADMIN_TOKEN, &[]).await;
    let cookie = SetCookie::from(&response).unwrap();
    assert!(cookie.has("Max-Age=1"), "{cookie:?}");
    gateway.cookie = Some(cookie.pair());
    assert_eq!(
        upstream_authorization(&gateway, &[]).await,
        "Bearer good-admin"
    );

    // The expiry is sealed in the cookie, so a browser that keeps it longer gets nothing more.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let reply = gateway
        .grpc_web_call("GetBudgetConfig", &config_request(), Wire::Binary, &[])
        .await;
    assert_eq!(reply.code(), Code::Unauthenticated);
    assert_eq!(gateway.get("/").await.status(), 303);
}

#[tokio::test]
async fn cross_site_requests_are_refused_before_reaching_budget_service() {
    let (url, calls) = spawn_counting_fake_budget_service().await;
    let mut gateway = TestGateway::spawn(url).await;
    gateway.sign_in_as(ADMIN_TOKEN).await;
    let accepted = calls.load(Ordering::SeqCst);

    let own_origin = gateway.origin();
    let other_port = format!("http://127.0.0.1:{}", gateway.addr.port() + 1);
    let refusals: [&[(&str, &str)]; 4] = [
        &[("origin", "http://evil.example")],
        &[("origin", other_port.as_str())],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
    ];
    for headers in refusals {
        let call = gateway
            .client
            .post(gateway.url("/budget.v1.BudgetService/GetBudgetConfig"))
            .header("content-type", "application/grpc-web")
            .header("x-grpc-web", "1")
            .header("cookie", gateway.cookie.as_deref().unwrap())
            .header(headers[0].0, headers[0].1)
            .body(crate::helpers::frame(0, &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(call.status(), 403, "{headers:?}");
        assert_security_headers(&call);
        assert!(call.headers().get("grpc-status").is_none());

        let sign_in = gateway.post_sign_in(ADMIN_TOKEN, headers).await;
        assert_eq!(sign_in.status(), 403, "{headers:?}");
        assert!(SetCookie::from(&sign_in).is_none());

        let sign_out = gateway
            .client
            .post(gateway.url("/signout"))
            .header(headers[0].0, headers[0].1)
            .send()
            .await
            .unwrap();
        assert_eq!(sign_out.status(), 403, "{headers:?}");
        assert!(SetCookie::from(&sign_out).is_none());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        accepted,
        "nothing was forwarded"
    );

    // The dashboard's own calls name the gateway's origin.
    let same_origin = [
        ("origin", own_origin.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    assert_eq!(
        upstream_authorization(&gateway, &same_origin).await,
        "Bearer good-admin"
    );
    assert_eq!(
        gateway
            .post_sign_in(ADMIN_TOKEN, &same_origin)
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn signed_out_visitors_of_a_page_are_sent_to_sign_in() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;

    for path in ["/", "/tenants/x", "/tenants/acme/", "/index.html"] {
        let response = gateway.get(path).await;
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/signin", "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_security_headers(&response);
        let head = gateway.client.head(gateway.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 303, "HEAD {path}");
    }
    // Unknown files stay 404, signed in or not.
    assert_eq!(gateway.get("/favicon.ico").await.status(), 404);
}

#[tokio::test]
async fn a_link_from_another_site_is_retried_from_this_origin_to_carry_the_cookie() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;

    let response = gateway
        .client
        .get(gateway.url("/tenants/acme"))
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response.text().await.unwrap();
    assert!(
        body.contains("<meta http-equiv=\"refresh\" content=\"0\">"),
        "{body}"
    );
    assert!(!body.contains("<script"));
}

#[tokio::test]
async fn signed_in_visitors_get_the_dashboard() {
    let gateway = TestGateway::signed_in().await;
    for path in ["/", "/tenants/acme"] {
        let status = gateway.get(path).await.status();
        // 503 when the dashboard was not built into this binary.
        assert!(status == 200 || status == 503, "{path}: {status}");
    }
}

#[tokio::test]
async fn signing_out_clears_the_cookie() {
    let gateway = TestGateway::signed_in().await;

    let response = gateway
        .client
        .post(gateway.url("/signout"))
        .header("cookie", gateway.cookie.as_deref().unwrap())
        .header("origin", gateway.origin())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/signin");
    assert_security_headers(&response);
    let cleared = SetCookie::from(&response).expect("a Set-Cookie that clears the session");
    assert_eq!(cleared.name, "budget_session");
    assert_eq!(cleared.value, "");
    for attribute in ["Max-Age=0", "Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(cleared.has(attribute), "{attribute}: {cleared:?}");
    }
}

#[tokio::test]
async fn cookie_secure_can_be_set_either_way_and_brings_hsts() {
    // (listen address, GATEWAY_COOKIE_SECURE) -> Secure cookie and HSTS?
    let cases = [
        ("127.0.0.1:0", None, false),
        ("0.0.0.0:0", None, true),
        ("127.0.0.1:0", Some(true), true),
        ("0.0.0.0:0", Some(false), false),
    ];
    for (addr, cookie_secure, secure) in cases {
        let options = GatewayOptions {
            addr: addr.parse().unwrap(),
            cookie_secure,
            ..GatewayOptions::default()
        };
        let gateway = TestGateway::spawn_with(spawn_fake_budget_service().await, options).await;
        let signed_in = gateway.post_sign_in(ADMIN_TOKEN, &[]).await;
        let cookie = SetCookie::from(&signed_in).unwrap();
        let case = format!("{addr} {cookie_secure:?}");
        assert_eq!(cookie.has("Secure"), secure, "{case}: {cookie:?}");
        assert_eq!(cookie.name.starts_with("__Host-"), secure, "{case}");
        let missing = gateway.get("/assets/missing.js").await;
        for response in [&signed_in, &missing] {
            let hsts = response.headers().get("strict-transport-security");
            if secure {
                assert_eq!(hsts.unwrap(), "max-age=31536000", "{case}");
            } else {
                assert!(hsts.is_none(), "{case}: plain HTTP gets no HSTS");
            }
        }
    }
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_address_and_successes_never_count() {
    let (url, calls) = spawn_counting_fake_budget_service().await;
    let options = GatewayOptions {
        signin_failure_burst: 3,
        signin_failures_per_min: 1,
        ..GatewayOptions::default()
    };
    let gateway = TestGateway::spawn_with(url, options).await;
    // Many good sign-ins from one address (as the browser tests make) never count.
    for _ in 0..30 {
        assert_eq!(gateway.post_sign_in(ADMIN_TOKEN, &[]).await.status(), 303);
    }
    for _ in 0..3 {
        assert_eq!(gateway.post_sign_in("wrong", &[]).await.status(), 401);
    }
    let calls_before = calls.load(Ordering::SeqCst);
    let throttled = gateway.post_sign_in("wrong-again", &[]).await;
    assert_eq!(throttled.status(), 429);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_security_headers(&throttled);
    assert!(SetCookie::from(&throttled).is_none());
    let body = throttled.text().await.unwrap();
    assert!(body.contains("Too many failed sign-ins"), "{body}");
    // While throttled even a good token waits: it is not sent to budget-service at all.
    assert_eq!(gateway.post_sign_in(ADMIN_TOKEN, &[]).await.status(), 429);
    assert_eq!(calls.load(Ordering::SeqCst), calls_before);
    // Signed-in people keep working.
    let mut signed_in = TestGateway::spawn(spawn_fake_budget_service().await).await;
    signed_in.sign_in_as(ADMIN_TOKEN).await;
}

#[tokio::test]
async fn budget_service_throttling_the_gateway_reads_as_429() {
    let gateway = TestGateway::spawn(spawn_fake_budget_service().await).await;
    let response = gateway.post_sign_in("throttled-by-service", &[]).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "8");
    // Not this address's failure: it does not use up its tries.
    for _ in 0..20 {
        let again = gateway.post_sign_in("throttled-by-service", &[]).await;
        assert_eq!(again.status(), 429);
    }
    assert_eq!(gateway.post_sign_in(ADMIN_TOKEN, &[]).await.status(), 303);
}
