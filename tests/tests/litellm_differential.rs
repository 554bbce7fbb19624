//! litellm-sim against the real LiteLLM proxy 1.108.7, differentially.
//!
//! One scripted sequence of calls runs in lockstep against an in-process litellm-sim and
//! against the real proxy named by `budget_e2e::real_proxy` (each with its own master key, and
//! key aliases under a prefix of this run's own, so reruns against one proxy never clash).
//! The script covers every LiteLLM path and parameter budget-service uses
//! (`services/budget-service/src/litellm/`): `/key/generate` (with `max_budget`, `soft_budget`,
//! `budget_duration`, `key_alias`, `metadata`, and for replacement keys `spend` and `blocked`),
//! `/key/update` with and without `budget_duration`, `/key/info`, `/key/list` (by alias and by
//! page, `return_full_object`), `/key/delete`, `/key/block`, `/key/unblock`, `/key/regenerate`
//! and `/user/daily/activity/aggregated` (one key and the whole proxy); the `budget_reset_at`
//! of every period the product offers and of LiteLLM's other spellings; and the chat calls
//! that make spend (within budget, over budget, blocked, expired, deleted), plus the error
//! answers: unknown and deleted keys, duplicate aliases, bodies that are not JSON or carry
//! wrong types, missing dates, and bad, missing or malformed credentials.
//!
//! Every step records facts about both answers: the HTTP status, `error.type`, `error.code`
//! and `error.param` (or the shape of a FastAPI `detail`), the answer's top-level field set
//! (and `info`'s for `/key/info`), and the values budget-service depends on (`max_budget`,
//! where the soft budget lives, `spend`, `budget_duration`, `budget_reset_at` as a UTC
//! instant, `blocked`, `status`, `key_alias`). Values that differ by nature (ids, tokens,
//! timestamps) are never recorded; the few recorded facts allowed to differ are in
//! [`ALLOWED`], each with its reason. Every other difference is collected, and the test
//! fails once, listing them all.
//!
//! The real proxy writes spend 1 to 6 s after a call, so the script makes all its chat calls
//! first and polls for spend once, at the end. Without the proxy's variables the test says it
//! was skipped (unless `LITELLM_E2E_REQUIRED=1`).
//!
//! The second test runs the shared conformance checker against the real proxy and allows
//! only the failures where the checker itself is known to be wrong ([`TOOL_IS_WRONG`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use budget_e2e::key_hash;
use budget_e2e::real_proxy::RealProxy;
use chrono::{DateTime, NaiveDateTime, Utc};
use litellm_sim::SimServer;
use reqwest::Method;
use serde_json::{Value, json};

const SIM_MASTER_KEY: &str = "sk-differential-master";
/// What one chat call costs on both sides (the real proxy's `fake-gpt`; the sim is told).
const CALL_USD: f64 = 0.05;
/// How long a step may poll for the real proxy's late spend.
const POLL_LIMIT: Duration = Duration::from_secs(40);

/// Recorded facts that may differ, as (step, fact, why). `*` matches every step.
const ALLOWED: &[(&str, &str, &str)] = &[
    // Free text: budget-service matches on the status and `error.type`, never on messages
    // (which carry key hashes, timestamps and Python reprs).
    ("*", "error.message", "message text"),
    // pydantic's `detail[0].msg` / `input` are free text too; `type` and `loc` are compared.
    ("*", "detail.0.msg", "message text"),
    // The sim prices a chat call at a flat 0.05 USD but counts tokens its own way (a quarter
    // of the prompt's characters, `max_tokens` for the answer); the real proxy's fake upstream
    // always answers 10 prompt + 20 completion tokens. Nothing in the product reads tokens.
    ("*", "tokens", "token counts of the fake model"),
];

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// Who a request claims to be.
#[derive(Clone, Debug)]
enum Auth {
    /// `Authorization: Bearer <the side's master key>`.
    Master,
    /// No credentials at all.
    Missing,
    /// `Authorization: Bearer <template>`.
    Bearer(String),
    /// A raw header, e.g. `Authorization: sk-...` without `Bearer `.
    Header(&'static str, String),
}

#[derive(Clone, Debug)]
enum Body {
    Empty,
    Json(Value),
    /// Sent as is with `Content-Type: application/json`.
    Raw(&'static str),
}

/// A request whose path and body may name the side's variables as `{name}`.
#[derive(Clone, Debug)]
struct Req {
    method: Method,
    path: String,
    auth: Auth,
    body: Body,
}

fn get(path: &str) -> Req {
    Req {
        method: Method::GET,
        path: path.to_owned(),
        auth: Auth::Master,
        body: Body::Empty,
    }
}

fn post(path: &str, body: Value) -> Req {
    Req {
        method: Method::POST,
        path: path.to_owned(),
        auth: Auth::Master,
        body: Body::Json(body),
    }
}

fn post_raw(path: &str, body: &'static str) -> Req {
    Req {
        method: Method::POST,
        path: path.to_owned(),
        auth: Auth::Master,
        body: Body::Raw(body),
    }
}

/// A chat call with a virtual key (`max_tokens` keeps the real proxy's budget reservation
/// to the call's size).
fn chat(key_var: &str) -> Req {
    Req {
        auth: Auth::Bearer(format!("{{{key_var}}}")),
        ..post(
            "/chat/completions",
            json!({"model": "{model}", "max_tokens": 50,
                   "messages": [{"role": "user", "content": "How much budget is left?"}]}),
        )
    }
}

impl Req {
    fn auth(mut self, auth: Auth) -> Req {
        self.auth = auth;
        self
    }
}

/// One answer: the status and the JSON body (a string when the body is not JSON).
#[derive(Clone, Debug, Default)]
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn at(&self, path: &str) -> Option<&Value> {
        lookup(&self.body, path)
    }

    fn f64_at(&self, path: &str) -> f64 {
        self.at(path).and_then(Value::as_f64).unwrap_or(0.0)
    }
}

/// `a.b.0.c`: object fields and array indexes; "" is the value itself.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.')
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

// ---------------------------------------------------------------------------------------
// What is recorded about an answer
// ---------------------------------------------------------------------------------------

/// A fact to record about an answer; paths may name the side's variables as `{name}`.
#[derive(Clone, Copy, Debug)]
enum Look {
    /// The sorted field names of the object at the path.
    Fields(&'static str),
    /// The value at the path (numbers rounded to 1e-9).
    Val(&'static str),
    /// The datetime at the path, as a UTC instant.
    Time(&'static str),
    /// The number of items of the array (or entries of the object) at the path.
    Len(&'static str),
    /// Whether the value at the path equals the variable (e.g. `token` is `{main.hash}`).
    Is(&'static str, &'static str),
    /// Whether the value at the path is present and not null.
    Set(&'static str),
    /// Token counts at the path (`.prompt_tokens`, `.completion_tokens`, `.total_tokens`),
    /// recorded as one `tokens` fact.
    Tokens(&'static str),
}

fn render(value: Option<&Value>) -> String {
    match value {
        None => "<absent>".into(),
        Some(Value::Number(n)) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let rounded = (x * 1e9).round() / 1e9;
            format!("{rounded}")
        }
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

/// LiteLLM's datetimes: RFC 3339, or naive (UTC).
fn instant(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
            })
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_else(|_| format!("unparseable {text:?}")),
        other => render(other),
    }
}

fn fields(value: Option<&Value>) -> String {
    match value {
        Some(Value::Object(map)) => {
            let names: BTreeSet<&str> = map.keys().map(String::as_str).collect();
            format!("{{{}}}", names.into_iter().collect::<Vec<_>>().join(","))
        }
        other => format!("not an object: {}", render(other)),
    }
}

// ---------------------------------------------------------------------------------------
// One side of the comparison
// ---------------------------------------------------------------------------------------

struct Side {
    name: &'static str,
    base_url: String,
    master_key: String,
    http: reqwest::Client,
    /// `{P}` (the alias prefix), `{model}`, and what the script saved (`{main.key}`, ...).
    vars: HashMap<String, String>,
    /// (step number, step, fact) → value.
    facts: BTreeMap<(usize, String, String), String>,
    last: Answer,
    /// How long to wait after a successful chat call: the real proxy reconciles the call's
    /// budget reservation (the worst case of `max_tokens`) with its cost just after
    /// answering, and a call made before that sees the reservation still held (422).
    settle_after_chat: Duration,
    /// Set between the first chat call and the polls for spend: the real proxy's spend is
    /// late then, so no spend is recorded.
    spend_lags: bool,
}

impl Side {
    fn new(
        name: &'static str,
        base_url: &str,
        master_key: &str,
        model: &str,
        prefix: &str,
    ) -> Side {
        let vars = HashMap::from([
            ("P".to_owned(), prefix.to_owned()),
            ("model".to_owned(), model.to_owned()),
        ]);
        Side {
            name,
            base_url: base_url.trim_end_matches('/').to_owned(),
            master_key: master_key.to_owned(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            vars,
            facts: BTreeMap::new(),
            last: Answer::default(),
            settle_after_chat: Duration::ZERO,
            spend_lags: false,
        }
    }

    fn fill(&self, template: &str) -> String {
        let mut text = template.to_owned();
        for (name, value) in &self.vars {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    fn fill_json(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.fill(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.fill_json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.fill_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    async fn send(&self, req: &Req) -> Answer {
        let url = format!("{}{}", self.base_url, self.fill(&req.path));
        let mut request = self.http.request(req.method.clone(), url);
        request = match &req.auth {
            Auth::Master => request.bearer_auth(&self.master_key),
            Auth::Missing => request,
            Auth::Bearer(key) => request.bearer_auth(self.fill(key)),
            Auth::Header(name, value) => request.header(*name, self.fill(value)),
        };
        request = match &req.body {
            Body::Empty => request,
            Body::Json(body) => request.json(&self.fill_json(body)),
            Body::Raw(text) => request
                .header("content-type", "application/json")
                .body(*text),
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} does not answer {req:?}: {e}", self.name));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer { status, body }
    }

    /// Sends `req` (again every 250 ms until `until` holds, at most [`POLL_LIMIT`]) and records
    /// the facts about the last answer.
    async fn step(
        &mut self,
        number: usize,
        step: &str,
        req: &Req,
        looks: &[Look],
        until: Option<&Until>,
    ) {
        let started = Instant::now();
        let mut answer = self.send(req).await;
        if req.path.ends_with("/chat/completions") && answer.status == 200 {
            tokio::time::sleep(self.settle_after_chat).await;
        }
        if let Some(until) = until {
            while !until(&answer, self) && started.elapsed() < POLL_LIMIT {
                tokio::time::sleep(Duration::from_millis(250)).await;
                answer = self.send(req).await;
            }
            self.record(
                number,
                step,
                "condition met",
                until(&answer, self).to_string(),
            );
        }
        self.record(number, step, "status", answer.status.to_string());
        self.record(number, step, "fields()", fields(Some(&answer.body)));
        if let Some(error) = answer.at("error").filter(|e| e.is_object()) {
            for part in ["type", "code", "param", "message"] {
                let mut value = render(error.get(part));
                // An expired key's `param` is its name (`sk-...` and its last four
                // characters), different on each side: only its form is compared.
                if part == "param" && value.starts_with("\"sk-...") && value.len() == 12 {
                    value = "\"sk-...<last 4>\"".into();
                }
                self.record(number, step, &format!("error.{part}"), value);
            }
        }
        if answer.at("detail").is_some_and(Value::is_array) {
            for part in ["type", "loc", "msg"] {
                let path = format!("detail.0.{part}");
                self.record(number, step, &path, render(answer.at(&path)));
            }
        }
        for look in looks {
            let (name, value) = match *look {
                Look::Fields(path) => (
                    format!("fields({path})"),
                    fields(answer.at(&self.fill(path))),
                ),
                Look::Val(path) => (path.to_owned(), render(answer.at(&self.fill(path)))),
                Look::Time(path) => (path.to_owned(), instant(answer.at(&self.fill(path)))),
                Look::Len(path) => (
                    format!("len({path})"),
                    match answer.at(&self.fill(path)) {
                        Some(Value::Array(items)) => items.len().to_string(),
                        Some(Value::Object(map)) => map.len().to_string(),
                        _ => "not a list".into(),
                    },
                ),
                Look::Is(path, var) => (
                    format!("{path} == {{{var}}}"),
                    (answer.at(&self.fill(path)).and_then(Value::as_str)
                        == self.vars.get(var).map(String::as_str))
                    .to_string(),
                ),
                Look::Set(path) => (
                    format!("{path} is set"),
                    answer
                        .at(&self.fill(path))
                        .is_some_and(|v| !v.is_null())
                        .to_string(),
                ),
                Look::Tokens(path) => {
                    let path = self.fill(path);
                    let count = |name: &str| render(answer.at(&format!("{path}.{name}")));
                    (
                        "tokens".to_owned(),
                        format!(
                            "{}+{}={}",
                            count("prompt_tokens"),
                            count("completion_tokens"),
                            count("total_tokens")
                        ),
                    )
                }
            };
            self.record(number, step, &name, value);
        }
        self.last = answer;
    }

    fn record(&mut self, number: usize, step: &str, fact: &str, value: String) {
        if self.spend_lags && fact.ends_with("spend") {
            return;
        }
        self.facts
            .insert((number, step.to_owned(), fact.to_owned()), value);
    }

    /// Saves the last answer's raw `key` as `{name.key}` and its hash as `{name.hash}`.
    fn keep_key(&mut self, name: &str) {
        let key = self
            .last
            .at("key")
            .and_then(Value::as_str)
            .unwrap_or_else(|| {
                panic!(
                    "{}: no key in the answer to keep as {name}: {:?}",
                    self.name, self.last
                )
            });
        let key = key.to_owned();
        self.vars.insert(format!("{name}.hash"), key_hash(&key));
        self.vars.insert(format!("{name}.key"), key);
    }
}

/// Both sides, driven in lockstep: each step runs on both at the same moment.
struct Differential {
    sim: Side,
    real: Side,
    steps: usize,
}

/// What a polled step waits for, judged on each side's answer.
type Until = dyn Fn(&Answer, &Side) -> bool + Sync;

impl Differential {
    async fn step(&mut self, step: &str, req: Req, looks: &[Look]) {
        self.steps += 1;
        let number = self.steps;
        let (sim, real) = (&mut self.sim, &mut self.real);
        tokio::join!(
            sim.step(number, step, &req, looks, None),
            real.step(number, step, &req, looks, None)
        );
    }

    /// A step polled until `until` holds on each side (the real proxy's spend is late).
    async fn step_until(&mut self, step: &str, req: Req, looks: &[Look], until: &Until) {
        self.steps += 1;
        let number = self.steps;
        let (sim, real) = (&mut self.sim, &mut self.real);
        tokio::join!(
            sim.step(number, step, &req, looks, Some(until)),
            real.step(number, step, &req, looks, Some(until))
        );
    }

    fn spend_lags(&mut self, lags: bool) {
        self.sim.spend_lags = lags;
        self.real.spend_lags = lags;
    }

    fn keep_key(&mut self, name: &str) {
        self.sim.keep_key(name);
        self.real.keep_key(name);
    }

    fn set_var(&mut self, name: &str, sim: String, real: String) {
        self.sim.vars.insert(name.to_owned(), sim);
        self.real.vars.insert(name.to_owned(), real);
    }

    /// Every difference not in [`ALLOWED`], one readable line each; the allowed ones are
    /// printed.
    fn differences(&self) -> Vec<String> {
        let keys: BTreeSet<&(usize, String, String)> = self
            .sim
            .facts
            .keys()
            .chain(self.real.facts.keys())
            .collect();
        let mut found = Vec::new();
        for key in keys {
            let (number, step, fact) = key;
            let absent = "<not recorded>".to_owned();
            let sim = self.sim.facts.get(key).unwrap_or(&absent);
            let real = self.real.facts.get(key).unwrap_or(&absent);
            if sim == real {
                continue;
            }
            let line = if fact.starts_with("fields(") {
                field_difference(sim, real)
            } else {
                format!("sim {sim} | real {real}")
            };
            let line = format!("#{number:02} {step} | {fact}: {line}");
            let allowed = ALLOWED
                .iter()
                .find(|(s, f, _)| (*s == "*" || s == step) && f == fact);
            match allowed {
                Some((_, _, why)) => eprintln!("allowed ({why}): {line}"),
                None => found.push(line),
            }
        }
        found
    }
}

/// Which field names only one side has.
fn field_difference(sim: &str, real: &str) -> String {
    let set = |s: &str| -> Option<BTreeSet<String>> {
        s.strip_prefix('{')?.strip_suffix('}').map(|inner| {
            inner
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect()
        })
    };
    match (set(sim), set(real)) {
        (Some(sim), Some(real)) => format!(
            "only sim has [{}], only real has [{}]",
            sim.difference(&real)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            real.difference(&sim)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => format!("sim {sim} | real {real}"),
    }
}

// ---------------------------------------------------------------------------------------
// The script
// ---------------------------------------------------------------------------------------

/// What `/key/info` is compared on.
const INFO: &[Look] = &[
    Look::Fields(""),
    Look::Fields("info"),
    Look::Fields("info.litellm_budget_table"),
    Look::Val("info.key_alias"),
    Look::Val("info.spend"),
    Look::Val("info.max_budget"),
    Look::Val("info.litellm_budget_table.soft_budget"),
    Look::Val("info.litellm_budget_table.max_budget"),
    Look::Val("info.soft_budget"),
    Look::Val("info.budget_duration"),
    Look::Time("info.budget_reset_at"),
    Look::Val("info.blocked"),
    Look::Val("info.status"),
    Look::Val("info.metadata"),
    Look::Set("info.expires"),
    Look::Set("info.budget_id"),
];

/// What a key row (`/key/update`'s, `/key/block`'s answer) is compared on.
const ROW: &[Look] = &[
    Look::Fields(""),
    Look::Fields("litellm_budget_table"),
    Look::Val("key_alias"),
    Look::Val("spend"),
    Look::Val("max_budget"),
    Look::Val("litellm_budget_table.soft_budget"),
    Look::Val("budget_duration"),
    Look::Time("budget_reset_at"),
    Look::Val("blocked"),
    Look::Val("metadata"),
    Look::Val("status"),
];

/// What `/key/list`'s first full object is compared on.
const LISTED: &[Look] = &[
    Look::Fields("keys.0"),
    Look::Fields("keys.0.litellm_budget_table"),
    Look::Val("keys.0.key_alias"),
    Look::Val("keys.0.spend"),
    Look::Val("keys.0.max_budget"),
    Look::Val("keys.0.litellm_budget_table.soft_budget"),
    Look::Val("keys.0.budget_duration"),
    Look::Time("keys.0.budget_reset_at"),
    Look::Val("keys.0.blocked"),
    Look::Val("keys.0.metadata"),
    Look::Val("keys.0.status"),
];

/// What a generated key's answer is compared on.
const GENERATED: &[Look] = &[
    Look::Val("key_alias"),
    Look::Val("max_budget"),
    Look::Val("soft_budget"),
    Look::Val("budget_duration"),
    Look::Time("budget_reset_at"),
    Look::Val("spend"),
    Look::Val("blocked"),
    Look::Val("metadata"),
    Look::Val("duration"),
    Look::Set("expires"),
    Look::Set("budget_id"),
    Look::Fields("litellm_budget_table"),
    Look::Val("litellm_budget_table.soft_budget"),
    Look::Val("litellm_budget_table.max_budget"),
];

/// Every `budget_duration` compared: the product's periods (`BudgetDuration`: 30d, 60d, 90d),
/// and LiteLLM's other spellings and snapping rules.
const DURATIONS: &[&str] = &[
    "30d", "60d", "90d", "1d", "7d", "14d", "45d", "1h", "2h", "12h", "30m", "1mo", "24h", "1w",
    "2w", "daily", "weekly", "monthly", "hourly",
];

/// `budget_duration`s LiteLLM refuses (or, for some, accepts) at `/key/generate`.
const ODD_DURATIONS: &[&str] = &["abc", "0d", "-1d", "2mo", "30", "1y", "", "30D", " 30d"];

async fn script(d: &mut Differential) {
    // A key that expires in a second; it is used once the chat calls are done.
    d.step(
        "generate expiring key",
        post(
            "/key/generate",
            json!({"key_alias": "{P}-exp", "max_budget": 1.0, "duration": "1s"}),
        ),
        &[Look::Set("expires"), Look::Val("duration")],
    )
    .await;
    d.keep_key("exp");

    // budget-service's generate_key.
    let main_body = json!({
        "key_alias": "{P}-main", "max_budget": 0.2, "soft_budget": 0.1,
        "budget_duration": "30d", "metadata": {"tenant_id": "{P}-tenant"},
    });
    d.step(
        "generate",
        post("/key/generate", main_body.clone()),
        GENERATED,
    )
    .await;
    d.keep_key("main");
    d.step(
        "generate: token is sha256(key)",
        get("/key/info?key={main.hash}"),
        &[Look::Is("key", "main.hash")],
    )
    .await;
    d.step("info by hash", get("/key/info?key={main.hash}"), INFO)
        .await;
    d.step(
        "info by raw key",
        get("/key/info?key={main.key}"),
        &[&[Look::Is("key", "main.key")][..], INFO].concat(),
    )
    .await;

    // keys_with_alias, and list_keys (one page of every key).
    let mut looks = vec![
        Look::Val("total_count"),
        Look::Val("current_page"),
        Look::Val("total_pages"),
        Look::Len("keys"),
        Look::Is("keys.0.token", "main.hash"),
    ];
    looks.extend(LISTED);
    d.step(
        "list by alias, full objects",
        get("/key/list?key_alias={P}-main&return_full_object=true&size=100"),
        &looks,
    )
    .await;
    d.step(
        "list by alias, hashes",
        get("/key/list?key_alias={P}-main"),
        &[Look::Is("keys.0", "main.hash"), Look::Val("total_count")],
    )
    .await;
    d.step(
        "list a page of every key",
        get("/key/list?return_full_object=true&page=1&size=100"),
        &[
            Look::Val("current_page"),
            Look::Fields("keys.0"),
            Look::Set("total_count"),
        ],
    )
    .await;
    d.step(
        "list: page past the end",
        get("/key/list?return_full_object=true&page=100000&size=100"),
        &[Look::Len("keys"), Look::Val("current_page")],
    )
    .await;

    // update_key without and with budget_duration.
    let mut looks = vec![Look::Is("key", "main.hash")];
    looks.extend(ROW);
    d.step(
        "update limits without budget_duration",
        post(
            "/key/update",
            json!({"key": "{main.hash}", "max_budget": 0.25, "soft_budget": 0.12}),
        ),
        &looks,
    )
    .await;
    d.step("info after update", get("/key/info?key={main.hash}"), INFO)
        .await;
    d.step(
        "update limits with budget_duration",
        post(
            "/key/update",
            json!({"key": "{main.hash}", "max_budget": 0.25, "soft_budget": 0.12, "budget_duration": "60d"}),
        ),
        &looks,
    )
    .await;
    d.step(
        "info after period change",
        get("/key/info?key={main.hash}"),
        INFO,
    )
    .await;
    d.step(
        "update back to 30d",
        post(
            "/key/update",
            json!({"key": "{main.hash}", "max_budget": 0.25, "soft_budget": 0.12, "budget_duration": "30d"}),
        ),
        &looks,
    )
    .await;
    d.step(
        "update by raw key",
        post(
            "/key/update",
            json!({"key": "{main.key}", "max_budget": 0.25, "soft_budget": 0.12}),
        ),
        &[Look::Is("key", "main.key"), Look::Val("max_budget")],
    )
    .await;

    // generate_replacement_key: the old spend carried over, blocked for a suspended tenant.
    d.step(
        "generate replacement (spend, blocked)",
        post(
            "/key/generate",
            json!({"key_alias": "{P}-repl", "max_budget": 0.2, "soft_budget": 0.1,
                   "budget_duration": "30d", "spend": 0.07, "blocked": true,
                   "metadata": {"tenant_id": "{P}-tenant"}}),
        ),
        GENERATED,
    )
    .await;
    d.keep_key("repl");
    d.step(
        "info of replacement",
        get("/key/info?key={repl.hash}"),
        INFO,
    )
    .await;

    // budget_reset_at for every period (read from /key/info: generate does not return it).
    for duration in DURATIONS {
        let step = format!("budget_duration {duration}");
        d.step(
            &format!("{step}: generate"),
            post(
                "/key/generate",
                json!({"key_alias": format!("{{P}}-d-{duration}"), "max_budget": 1.0, "budget_duration": duration}),
            ),
            &[Look::Val("budget_duration")],
        )
        .await;
        d.keep_key("dur");
        d.step(
            &format!("{step}: info"),
            get("/key/info?key={dur.hash}"),
            &[
                Look::Val("info.budget_duration"),
                Look::Time("info.budget_reset_at"),
            ],
        )
        .await;
    }
    for (i, duration) in ODD_DURATIONS.iter().enumerate() {
        d.step(
            &format!("odd budget_duration {duration:?}"),
            post(
                "/key/generate",
                json!({"key_alias": format!("{{P}}-odd-{i}"), "max_budget": 1.0, "budget_duration": duration}),
            ),
            &[Look::Val("budget_duration")],
        )
        .await;
        if d.sim.last.status == 200 && d.real.last.status == 200 {
            d.keep_key("odd");
            d.step(
                &format!("odd budget_duration {duration:?}: info"),
                get("/key/info?key={odd.hash}"),
                &[
                    Look::Val("info.budget_duration"),
                    Look::Time("info.budget_reset_at"),
                ],
            )
            .await;
        }
    }
    d.step(
        "update with a bad budget_duration",
        post(
            "/key/update",
            json!({"key": "{main.hash}", "budget_duration": "abc"}),
        ),
        &[],
    )
    .await;

    // Spend: three 0.05 calls on a 0.12 budget pass, the fourth is refused.
    d.step(
        "generate chat key",
        post(
            "/key/generate",
            json!({"key_alias": "{P}-chat", "max_budget": 0.12, "soft_budget": 0.08, "budget_duration": "30d"}),
        ),
        &[],
    )
    .await;
    d.keep_key("chat");
    d.spend_lags(true);
    for call in 1..=3 {
        d.step(
            &format!("chat call {call} within budget"),
            chat("chat.key"),
            &[
                Look::Fields("usage"),
                Look::Val("model"),
                Look::Val("object"),
            ],
        )
        .await;
    }
    d.step("chat call 4 over budget", chat("chat.key"), &[])
        .await;
    d.step(
        "chat key is still readable over budget",
        get("/key/info?key={chat.hash}"),
        &[Look::Val("info.status")],
    )
    .await;

    // Block and unblock (budget-service suspends and resumes tenants this way).
    d.step("chat with main key", chat("main.key"), &[]).await;
    let mut looks = vec![Look::Is("token", "main.hash")];
    looks.extend(ROW);
    d.step(
        "block",
        post("/key/block", json!({"key": "{main.hash}"})),
        &looks,
    )
    .await;
    d.step(
        "info of blocked key",
        get("/key/info?key={main.hash}"),
        INFO,
    )
    .await;
    d.step("chat with blocked key", chat("main.key"), &[]).await;
    d.step(
        "list by alias shows blocked",
        get("/key/list?key_alias={P}-main&return_full_object=true&size=100"),
        &[Look::Val("keys.0.blocked"), Look::Val("keys.0.status")],
    )
    .await;
    d.step(
        "block again",
        post("/key/block", json!({"key": "{main.hash}"})),
        &[Look::Val("blocked")],
    )
    .await;
    d.step(
        "unblock",
        post("/key/unblock", json!({"key": "{main.hash}"})),
        &looks,
    )
    .await;
    d.step(
        "info of unblocked key",
        get("/key/info?key={main.hash}"),
        INFO,
    )
    .await;
    d.step("chat with unblocked key", chat("main.key"), &[])
        .await;
    d.step("chat with blocked replacement key", chat("repl.key"), &[])
        .await;
    // A replacement key carrying more spend than its budget is refused at once.
    d.step(
        "generate replacement over budget",
        post(
            "/key/generate",
            json!({"key_alias": "{P}-over", "max_budget": 0.2, "soft_budget": 0.1,
                   "budget_duration": "30d", "spend": 0.3, "metadata": {"tenant_id": "{P}-tenant"}}),
        ),
        &[Look::Val("spend")],
    )
    .await;
    d.keep_key("over");
    d.step("chat with replacement over budget", chat("over.key"), &[])
        .await;
    // A budget lowered below the spend refuses the next call.
    d.step(
        "lower the budget below the spend",
        post(
            "/key/update",
            json!({"key": "{main.hash}", "max_budget": 0.05, "soft_budget": 0.04}),
        ),
        &[Look::Val("max_budget")],
    )
    .await;
    d.step("chat over a lowered budget", chat("main.key"), &[])
        .await;

    // The expiring key (generated first) has expired by now.
    d.step("chat with expired key", chat("exp.key"), &[]).await;
    d.step(
        "info of expired key",
        get("/key/info?key={exp.hash}"),
        &[Look::Val("info.status")],
    )
    .await;

    // Errors.
    d.set_var(
        "unknown.hash",
        key_hash("sk-differential-unknown"),
        key_hash("sk-differential-unknown"),
    );
    d.step(
        "info of unknown hash",
        get("/key/info?key={unknown.hash}"),
        &[],
    )
    .await;
    d.step(
        "info of unknown sk- key",
        get("/key/info?key=sk-differential-unknown"),
        &[],
    )
    .await;
    d.step("info without key", get("/key/info"), &[]).await;
    d.step(
        "update unknown key",
        post(
            "/key/update",
            json!({"key": "{unknown.hash}", "max_budget": 1.0}),
        ),
        &[],
    )
    .await;
    d.step(
        "update without key",
        post("/key/update", json!({"max_budget": 1.0})),
        &[],
    )
    .await;
    d.step(
        "generate duplicate alias",
        post("/key/generate", main_body.clone()),
        &[],
    )
    .await;
    d.step(
        "update to a duplicate alias",
        post(
            "/key/update",
            json!({"key": "{chat.hash}", "key_alias": "{P}-main"}),
        ),
        &[],
    )
    .await;
    d.step(
        "generate: body not JSON",
        post_raw("/key/generate", "not json"),
        &[],
    )
    .await;
    d.step("generate: empty body", post_raw("/key/generate", ""), &[])
        .await;
    // (A JSON body that is not an object, such as `[1]`, makes the real proxy fail with an
    // unhandled AttributeError, a 500 and a dropped connection: not a contract to copy.)
    // Wrong values, at generate and at update (of a key of their own).
    d.step(
        "generate a key for bad updates",
        post(
            "/key/generate",
            json!({"key_alias": "{P}-bad", "max_budget": 1.0, "soft_budget": 0.5}),
        ),
        &[],
    )
    .await;
    d.keep_key("bad");
    for (name, body) in [
        ("max_budget \"abc\"", json!({"max_budget": "abc"})),
        ("max_budget -1", json!({"max_budget": -1})),
        ("max_budget true", json!({"max_budget": true})),
        ("max_budget [1]", json!({"max_budget": [1]})),
        ("soft_budget -1", json!({"soft_budget": -1})),
        ("soft_budget \"abc\"", json!({"soft_budget": "abc"})),
        ("metadata \"x\"", json!({"metadata": "x"})),
        ("key_alias 5", json!({"key_alias": 5})),
        ("spend \"abc\"", json!({"spend": "abc"})),
        ("blocked \"maybe\"", json!({"blocked": "maybe"})),
        ("max_budget \"\"", json!({"max_budget": ""})),
        ("max_budget \"0.3\"", json!({"max_budget": "0.3"})),
    ] {
        let mut generate = body.clone();
        if generate.get("key_alias").is_none() {
            generate["key_alias"] = json!(format!("{{P}}-bad-{}", d.steps));
        }
        d.step(
            &format!("generate: {name}"),
            post("/key/generate", generate),
            &[
                Look::Val("max_budget"),
                Look::Val("spend"),
                Look::Val("blocked"),
            ],
        )
        .await;
        let mut update = body;
        update["key"] = json!("{bad.hash}");
        d.step(
            &format!("update: {name}"),
            post("/key/update", update),
            &[Look::Val("max_budget"), Look::Val("spend")],
        )
        .await;
        d.step(
            &format!("update: {name}: info"),
            get("/key/info?key={bad.hash}"),
            &[
                Look::Val("info.max_budget"),
                Look::Val("info.litellm_budget_table.soft_budget"),
                Look::Val("info.spend"),
            ],
        )
        .await;
    }
    d.step("update: body not JSON", post_raw("/key/update", "{"), &[])
        .await;
    d.step(
        "delete unknown key",
        post("/key/delete", json!({"keys": ["{unknown.hash}"]})),
        &[],
    )
    .await;
    d.step(
        "delete nothing",
        post("/key/delete", json!({"keys": []})),
        &[],
    )
    .await;
    d.step(
        "block unknown key",
        post("/key/block", json!({"key": "{unknown.hash}"})),
        &[],
    )
    .await;
    d.step(
        "unblock unknown key",
        post("/key/unblock", json!({"key": "{unknown.hash}"})),
        &[],
    )
    .await;
    d.step("block without key", post("/key/block", json!({})), &[])
        .await;
    d.step(
        "regenerate (enterprise)",
        post(
            "/key/regenerate",
            json!({"key": "{main.hash}", "key_alias": "{P}-main"}),
        ),
        &[],
    )
    .await;
    d.step(
        "regenerate by path (enterprise)",
        post("/key/{main.hash}/regenerate", json!({})),
        &[],
    )
    .await;
    d.step(
        "main key survives regenerate",
        get("/key/info?key={main.hash}"),
        &[Look::Val("info.status")],
    )
    .await;
    for (name, query) in [
        ("no dates", ""),
        ("no end_date", "start_date=2026-01-01"),
        ("no start_date", "end_date=2026-01-01"),
        ("bad date", "start_date=2026-1-1&end_date=2026-01-31"),
        ("not a date", "start_date=yesterday&end_date=today"),
    ] {
        d.step(
            &format!("activity: {name}"),
            get(&format!("/user/daily/activity/aggregated?{query}")),
            &[],
        )
        .await;
    }
    d.step(
        "activity: start after end",
        get("/user/daily/activity/aggregated?start_date=2026-02-01&end_date=2026-01-01&api_key={main.hash}"),
        &[Look::Len("results"), Look::Fields("metadata")],
    )
    .await;

    // Credentials.
    let admin = || get("/key/info?key={main.hash}");
    d.step(
        "bad master key",
        admin().auth(Auth::Bearer("sk-differential-wrong".into())),
        &[],
    )
    .await;
    d.step("no credentials", admin().auth(Auth::Missing), &[])
        .await;
    d.step(
        "key without sk-",
        admin().auth(Auth::Bearer("differential-key".into())),
        &[],
    )
    .await;
    d.step(
        "short key without sk-",
        admin().auth(Auth::Bearer("abc".into())),
        &[],
    )
    .await;
    d.step(
        "Authorization without Bearer",
        admin().auth(Auth::Header("authorization", "{main.key}".into())),
        &[],
    )
    .await;
    d.step(
        "x-litellm-api-key header",
        admin().auth(Auth::Header(
            "x-litellm-api-key",
            "Bearer sk-differential-wrong".into(),
        )),
        &[],
    )
    .await;
    d.step(
        "virtual key on an admin route",
        post("/key/generate", json!({"max_budget": 1.0})).auth(Auth::Bearer("{chat.key}".into())),
        &[],
    )
    .await;
    d.step(
        "virtual key reads its own info",
        get("/key/info?key={chat.hash}").auth(Auth::Bearer("{chat.key}".into())),
        &[Look::Val("info.key_alias")],
    )
    .await;
    d.step(
        "virtual key reads another key's info",
        get("/key/info?key={main.hash}").auth(Auth::Bearer("{chat.key}".into())),
        &[],
    )
    .await;
    d.step(
        "chat with unknown key",
        chat("unknown").auth(Auth::Bearer("sk-differential-unknown".into())),
        &[],
    )
    .await;
    d.step(
        "chat without key",
        chat("chat.key").auth(Auth::Missing),
        &[],
    )
    .await;

    // Spend arrives late on the real proxy: poll once for everything charged above.
    d.spend_lags(false);
    let spend_reaches =
        |usd: f64| move |answer: &Answer, _: &Side| answer.f64_at("info.spend") + 1e-9 >= usd;
    let mut looks = INFO.to_vec();
    looks.extend([
        Look::Val("info.total_spend"),
        Look::Set("info.last_active"),
        Look::Fields("info.model_spend"),
    ]);
    d.step_until(
        "spend of 3 calls",
        get("/key/info?key={chat.hash}"),
        &looks,
        &spend_reaches(3.0 * CALL_USD),
    )
    .await;
    d.step_until(
        "spend of 2 calls",
        get("/key/info?key={main.hash}"),
        &looks,
        &spend_reaches(2.0 * CALL_USD),
    )
    .await;
    d.step(
        "replacement key spend unchanged",
        get("/key/info?key={repl.hash}"),
        &[Look::Val("info.spend")],
    )
    .await;

    // get_daily_spend: one key's days, today included.
    let today = Utc::now().date_naive();
    let window = format!(
        "start_date={}&end_date={}&include_current_utc_day=true",
        today.pred_opt().unwrap(),
        today
    );
    let day_looks: &[Look] = &[
        Look::Fields("metadata"),
        Look::Len("results"),
        Look::Fields("results.0"),
        Look::Val("results.0.date"),
        Look::Fields("results.0.metrics"),
        Look::Val("results.0.metrics.spend"),
        Look::Val("results.0.metrics.api_requests"),
        Look::Val("results.0.metrics.successful_requests"),
        Look::Val("results.0.metrics.failed_requests"),
        Look::Tokens("results.0.metrics"),
        Look::Fields("results.0.breakdown"),
        Look::Len("results.0.breakdown.api_keys"),
        Look::Fields("results.0.breakdown.api_keys.{chat.hash}"),
        Look::Val("results.0.breakdown.api_keys.{chat.hash}.metrics.spend"),
        Look::Val("results.0.breakdown.api_keys.{chat.hash}.metadata"),
        Look::Fields("results.0.breakdown.models"),
        // Spend by model, as budget-service reads it (`litellm/wire.rs`): the deployment
        // `openai/fake-gpt`, its spend and its per-key breakdown.
        Look::Fields("results.0.breakdown.models.openai/fake-gpt"),
        Look::Val("results.0.breakdown.models.openai/fake-gpt.metrics.spend"),
        Look::Val(
            "results.0.breakdown.models.openai/fake-gpt.api_key_breakdown.{chat.hash}.metrics.spend",
        ),
        Look::Val("metadata.total_spend"),
        Look::Val("metadata.total_api_requests"),
        Look::Val("metadata.total_successful_requests"),
        Look::Val("metadata.total_failed_requests"),
        Look::Val("metadata.page"),
        Look::Val("metadata.total_pages"),
        Look::Val("metadata.has_more"),
    ];
    let day_spend = |usd: f64| {
        move |answer: &Answer, _: &Side| answer.f64_at("results.0.metrics.spend") + 1e-9 >= usd
    };
    d.step_until(
        "daily activity of the chat key",
        get(&format!(
            "/user/daily/activity/aggregated?{window}&api_key={{chat.hash}}"
        )),
        day_looks,
        &day_spend(3.0 * CALL_USD),
    )
    .await;
    d.step_until(
        "daily activity of the main key",
        get(&format!(
            "/user/daily/activity/aggregated?{window}&api_key={{main.hash}}"
        )),
        &[
            Look::Val("results.0.metrics.spend"),
            Look::Val("results.0.metrics.api_requests"),
            Look::Val("results.0.metrics.successful_requests"),
            Look::Val("results.0.metrics.failed_requests"),
            Look::Val("results.0.breakdown.api_keys.{main.hash}.metadata"),
        ],
        // Refused calls reach the real proxy's daily table as late as spend does: wait for
        // the two the script made (the over-budget call and the one after the lowered budget).
        &move |answer: &Answer, side: &Side| {
            day_spend(2.0 * CALL_USD)(answer, side)
                && answer.f64_at("results.0.metrics.failed_requests") >= 2.0
        },
    )
    .await;
    d.step_until(
        "daily activity of a key without spend",
        get(&format!(
            "/user/daily/activity/aggregated?{window}&api_key={{repl.hash}}"
        )),
        &[Look::Len("results"), Look::Val("metadata.total_spend")],
        // Its one refused call, counted as late as spend.
        &|answer: &Answer, _: &Side| answer.at("results.0").is_some(),
    )
    .await;
    d.step(
        "daily activity without include_current_utc_day",
        get(&format!(
            "/user/daily/activity/aggregated?start_date={}&end_date={today}&api_key={{chat.hash}}",
            today.pred_opt().unwrap()
        )),
        &[Look::Len("results"), Look::Val("results.0.metrics.spend")],
    )
    .await;
    // get_daily_spend_by_key: the whole proxy (other runs' keys too on a shared proxy, so
    // only this run's keys are compared).
    d.step(
        "daily activity of the whole proxy",
        get(&format!("/user/daily/activity/aggregated?{window}")),
        &[
            Look::Fields("metadata"),
            Look::Val("results.0.date"),
            Look::Val("results.0.breakdown.api_keys.{chat.hash}.metrics.spend"),
            Look::Val("results.0.breakdown.api_keys.{main.hash}.metrics.spend"),
            Look::Val("results.0.breakdown.api_keys.{main.hash}.metadata"),
            Look::Val("results.0.breakdown.models.openai/fake-gpt.api_key_breakdown.{chat.hash}.metrics.spend"),
            Look::Val("results.0.breakdown.models.openai/fake-gpt.api_key_breakdown.{main.hash}.metrics.spend"),
        ],
    )
    .await;

    // delete_key: the row is archived; /key/info still answers.
    d.step(
        "delete",
        post("/key/delete", json!({"keys": ["{main.hash}"]})),
        &[
            Look::Len("deleted_keys"),
            Look::Is("deleted_keys.0", "main.hash"),
        ],
    )
    .await;
    let mut looks = INFO.to_vec();
    looks.extend([Look::Set("info.deleted_at"), Look::Val("info.deleted_by")]);
    d.step(
        "info of deleted key",
        get("/key/info?key={main.hash}"),
        &looks,
    )
    .await;
    d.step(
        "info of deleted key by raw key",
        get("/key/info?key={main.key}"),
        &[Look::Val("info.status")],
    )
    .await;
    d.step("chat with deleted key", chat("main.key"), &[]).await;
    d.step(
        "delete again",
        post("/key/delete", json!({"keys": ["{main.hash}"]})),
        &[],
    )
    .await;
    d.step(
        "update deleted key",
        post(
            "/key/update",
            json!({"key": "{main.hash}", "max_budget": 1.0}),
        ),
        &[],
    )
    .await;
    d.step(
        "block deleted key",
        post("/key/block", json!({"key": "{main.hash}"})),
        &[],
    )
    .await;
    d.step(
        "list by alias after delete",
        get("/key/list?key_alias={P}-main&return_full_object=true&size=100"),
        &[Look::Val("total_count"), Look::Len("keys")],
    )
    .await;
    d.step(
        "daily activity of a deleted key",
        get(&format!(
            "/user/daily/activity/aggregated?{window}&api_key={{main.hash}}"
        )),
        &[
            Look::Val("results.0.metrics.spend"),
            Look::Val("results.0.breakdown.api_keys.{main.hash}.metadata"),
        ],
    )
    .await;
    d.step(
        "generate with a deleted key's alias",
        post("/key/generate", main_body),
        &[Look::Val("key_alias")],
    )
    .await;
    if d.sim.last.status == 200 && d.real.last.status == 200 {
        d.keep_key("again");
    }
    d.step(
        "delete by alias",
        post("/key/delete", json!({"key_aliases": ["{P}-chat"]})),
        &[Look::Val("deleted_keys")],
    )
    .await;
    d.step(
        "info of key deleted by alias",
        get("/key/info?key={chat.hash}"),
        &[Look::Val("info.status")],
    )
    .await;
}

/// Deletes the keys a run left behind on the real proxy (best effort).
async fn clean_up(side: &Side) {
    let listed = side
        .send(&get(
            "/key/list?key_alias={P}&substring_matching=true&size=100",
        ))
        .await;
    let keys = listed.at("keys").cloned().unwrap_or(json!([]));
    if keys.as_array().is_some_and(|k| !k.is_empty()) {
        let _ = side
            .send(&post("/key/delete", json!({ "keys": keys })))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litellm_sim_answers_like_the_real_proxy() {
    let Some(proxy) = RealProxy::from_env() else {
        return;
    };
    let started = Instant::now();
    let server = SimServer::start("127.0.0.1:0", SIM_MASTER_KEY)
        .await
        .expect("sim starts");
    // The real proxy's fake-gpt costs exactly this per call.
    server.control().set_chat_cost(Some(CALL_USD));
    let prefix = format!(
        "diff-{}-{}",
        Utc::now().format("%Y%m%d%H%M%S"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let mut d = Differential {
        sim: Side::new(
            "sim",
            &server.base_url(),
            SIM_MASTER_KEY,
            &proxy.model,
            &prefix,
        ),
        real: Side::new(
            "real",
            &proxy.base_url,
            &proxy.master_key,
            &proxy.model,
            &prefix,
        ),
        steps: 0,
    };
    d.real.settle_after_chat = Duration::from_secs(1);
    script(&mut d).await;
    clean_up(&d.real).await;
    let differences = d.differences();
    eprintln!(
        "{} steps, {} facts compared in {:.1} s",
        d.steps,
        d.real.facts.len(),
        started.elapsed().as_secs_f64()
    );
    server.shutdown().await;
    assert!(
        differences.is_empty(),
        "litellm-sim differs from the real LiteLLM proxy in {} facts:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// The conformance checker against the real proxy
// ---------------------------------------------------------------------------------------

/// Checks of `shared/tools/litellm-conformance` that fail against the real proxy because the
/// tool expects something the real proxy does not do, as (check, evidence).
const TOOL_IS_WRONG: &[(&str, &str)] = &[(
    // The tool calls GET /key/list with `Authorization: Bearer sk-conformance-invalid-<hex>`
    // and expects 401 `auth_error`. LiteLLM 1.108.7 answers, observed on the real proxy:
    //   HTTP/1.1 401 Unauthorized
    //   {"error":{"message":"Authentication Error, Invalid API key provided.",
    //             "type":"token_not_found_in_db","param":"key","code":"401"}}
    // (`auth_checks.py` `get_key_object`: `ProxyErrorTypes.token_not_found_in_db` for an
    // `sk-` key that is not in the database; `auth_error` is only for a missing key or one
    // without `sk-`.) The tool reports:
    //   error.type is 'token_not_found_in_db', expected 'auth_error'
    "auth.invalid-key",
    "401 token_not_found_in_db for an sk- key not in the database",
)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_tool_fails_on_the_real_proxy_only_where_the_tool_is_wrong() {
    let Some(proxy) = RealProxy::from_env() else {
        return;
    };
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools/litellm-conformance");
    assert!(
        tool.exists(),
        "conformance tool not found at {}",
        tool.display()
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(&tool)
            .args([
                "--base-url",
                &proxy.base_url,
                "--master-key",
                &proxy.master_key,
                "--chat",
                "--model",
                &proxy.model,
                "--json",
            ])
            .output()
    })
    .await
    .unwrap()
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("the tool's --json report does not parse ({e}):\n{stdout}\n{stderr}")
    });
    let checks = report["checks"].as_array().expect("checks");
    assert!(
        checks.iter().any(|c| c["status"] == "pass"),
        "nothing passed: {report:#}"
    );
    let unexpected: Vec<String> = checks
        .iter()
        .filter(|c| c["status"] == "fail")
        .filter(|c| !TOOL_IS_WRONG.iter().any(|(name, _)| c["name"] == *name))
        .map(|c| format!("{}: {}", c["name"], c["detail"]))
        .collect();
    for (name, evidence) in TOOL_IS_WRONG {
        let failed = checks
            .iter()
            .any(|c| c["name"] == *name && c["status"] == "fail");
        eprintln!(
            "{name}: {} (known tool error: {evidence})",
            if failed {
                "fails as expected"
            } else {
                "passes now; the allow-list entry can go"
            }
        );
    }
    assert!(
        unexpected.is_empty(),
        "the conformance tool fails against the real proxy beyond the known tool errors:\n{}",
        unexpected.join("\n")
    );
}
