//! The real LiteLLM proxy the test command starts (`tests/real-litellm.sh`, around the
//! `real-litellm` tool in `../shared/tools`), or any other proxy named by the opt-in
//! variables:
//!
//! | variable | meaning |
//! |---|---|
//! | `LITELLM_E2E_URL`, `LITELLM_E2E_MASTER_KEY` | the proxy and its master key |
//! | `LITELLM_E2E_MODEL` | a model every key may call (default `fake-gpt`, 0.05 USD a call) |
//! | `LITELLM_E2E_WEBHOOK_ADDR`, `LITELLM_E2E_WEBHOOK_SECRET` | where the proxy POSTs its budget alerts: `http://ADDR/hooks/litellm/SECRET` (the webhook test serves budget-service's HTTP side there) |
//! | `LITELLM_E2E_DATABASE_URL` | the proxy's own PostgreSQL database, when the tests may write past days of spend into it (LiteLLM's daily table); without it the forecast checks are skipped |
//! | `LITELLM_E2E_REQUIRED=1` | the test command sets it: a missing proxy fails the tests instead of skipping them |
//!
//! Without the variables (a plain `cargo nextest run`), each real-proxy test says it was
//! skipped and returns.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

/// A LiteLLM proxy reached over HTTP with its master key.
#[derive(Clone, Debug)]
pub struct RealProxy {
    pub base_url: String,
    pub master_key: String,
    /// A model every key may call.
    pub model: String,
    /// Where the proxy sends budget-alert webhooks, when it was started with a URL.
    pub webhook: Option<WebhookTarget>,
    /// The proxy's own database, for writing days that have passed (see [`RealProxy::backdate_spend`]).
    pub database_url: Option<String>,
    http: reqwest::Client,
}

/// `http://{addr}/hooks/litellm/{secret}`: the URL the proxy was started with.
#[derive(Clone, Debug)]
pub struct WebhookTarget {
    pub addr: SocketAddr,
    pub secret: String,
}

/// What LiteLLM answered a chat call made with a virtual key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatOutcome {
    pub status: u16,
    /// `error.type` of a refusal ("budget_exceeded", "auth_error", ...).
    pub error_type: Option<String>,
}

impl ChatOutcome {
    pub fn ok(&self) -> bool {
        self.status == 200
    }
}

impl RealProxy {
    /// The proxy named by the environment, or `None` (after saying so) when there is none
    /// and `LITELLM_E2E_REQUIRED` is not set.
    pub fn from_env() -> Option<RealProxy> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(base_url), Some(master_key)) =
            (var("LITELLM_E2E_URL"), var("LITELLM_E2E_MASTER_KEY"))
        else {
            assert!(
                var("LITELLM_E2E_REQUIRED").as_deref() != Some("1"),
                "LITELLM_E2E_REQUIRED=1 but LITELLM_E2E_URL / LITELLM_E2E_MASTER_KEY are unset: \
                 the real proxy did not start (see tests/real-litellm.sh)"
            );
            eprintln!(
                "skipped: set LITELLM_E2E_URL and LITELLM_E2E_MASTER_KEY to run against a real \
                 LiteLLM proxy (bash tests/real-litellm.sh does)"
            );
            return None;
        };
        let webhook = match (
            var("LITELLM_E2E_WEBHOOK_ADDR"),
            var("LITELLM_E2E_WEBHOOK_SECRET"),
        ) {
            (Some(addr), Some(secret)) => Some(WebhookTarget {
                addr: addr.parse().expect("LITELLM_E2E_WEBHOOK_ADDR is host:port"),
                secret,
            }),
            _ => None,
        };
        Some(RealProxy {
            base_url: base_url.trim_end_matches('/').to_owned(),
            master_key,
            model: var("LITELLM_E2E_MODEL").unwrap_or_else(|| "fake-gpt".into()),
            webhook,
            database_url: var("LITELLM_E2E_DATABASE_URL"),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client"),
        })
    }

    /// Records `usd` of spend for the key on a past UTC `day` in LiteLLM's own daily table
    /// (`LiteLLM_DailyUserSpend`, which `/user/daily/activity*` reads), as the proxy's batch
    /// writer would have on that day. A proxy cannot be made to live through yesterday;
    /// this is how the forecast gets a day of history. `None` without
    /// `LITELLM_E2E_DATABASE_URL`.
    pub async fn backdate_spend(
        &self,
        key_hash: &str,
        day: chrono::NaiveDate,
        usd: f64,
    ) -> Option<()> {
        use sqlx::Connection;
        let url = self.database_url.as_deref()?;
        let mut db = sqlx::PgConnection::connect(url)
            .await
            .expect("the proxy's database accepts connections");
        sqlx::query(
            r#"INSERT INTO "LiteLLM_DailyUserSpend"
                 (id, date, api_key, model, model_group, custom_llm_provider, endpoint,
                  prompt_tokens, completion_tokens, spend, api_requests, successful_requests,
                  updated_at)
               VALUES (gen_random_uuid()::text, $1, $2, 'openai/' || $3, $3, 'openai',
                       '/chat/completions', 10, 20, $4, 1, 1, now())"#,
        )
        .bind(day.format("%Y-%m-%d").to_string())
        .bind(key_hash)
        .bind(&self.model)
        .bind(usd)
        .execute(&mut db)
        .await
        .expect("a past day of spend is written");
        Some(())
    }

    /// One chat call with a virtual key. `max_tokens` keeps LiteLLM's budget reservation
    /// to the call's real size (without it, it reserves 16384 output tokens).
    pub async fn chat(&self, raw_key: &str) -> ChatOutcome {
        let response = self
            .http
            .post(format!("{}/chat/completions", self.base_url))
            .bearer_auth(raw_key)
            .json(&json!({
                "model": self.model,
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "How much budget is left?"}],
            }))
            .send()
            .await
            .expect("the proxy answers a chat call");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        ChatOutcome {
            status,
            error_type: body["error"]["type"].as_str().map(str::to_owned),
        }
    }

    /// An admin call with the master key: the status and the JSON answer (`null` when the
    /// answer is not JSON).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.master_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .expect("the proxy answers an admin call");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `/key/info`'s `info` for a key hash.
    pub async fn key_info(&self, key_hash: &str) -> Value {
        let (status, body) = self
            .admin(
                reqwest::Method::GET,
                &format!("/key/info?key={key_hash}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "/key/info answered {status}: {body}");
        body["info"].clone()
    }

    /// Waits until the key's spend in `/key/info` reaches `usd` and returns it. The real
    /// proxy writes spend in batches 1 to 6 s after a call.
    pub async fn await_spend(&self, key_hash: &str, usd: f64) -> f64 {
        eventually(&format!("spend of {usd} USD in /key/info"), || async {
            let spend = self.key_info(key_hash).await["spend"]
                .as_f64()
                .unwrap_or(0.0);
            (spend + 1e-9 >= usd).then_some(spend)
        })
        .await
    }
}

/// How long [`eventually`] waits: the real proxy's spend writer runs every 1 to 6 s, and
/// two cores run the rest of the test command beside it.
pub const EVENTUALLY: Duration = Duration::from_secs(60);

/// Polls `probe` every 250 ms until it gives a value; panics after [`EVENTUALLY`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {EVENTUALLY:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
