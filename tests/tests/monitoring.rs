//! deploy/monitoring against the binaries: every metric name the Grafana dashboard's queries
//! and the alerting rules use is one budget-service or the gateway exports (scraped from their
//! real `/metrics` after a few calls), and the dashboard shows every exported family; the
//! PrometheusRule carries exactly the rule groups promtool checks; each alert has a severity,
//! annotations and a runbook section in the README; the scrape configs name real ports. The
//! delivery backlog behind the notification alerts is counted from the database.
//! (`tests/monitoring-check.sh` runs promtool on the same files.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use budget_e2e::Stack;
use budget_proto::v1 as pb;
use litellm_sim::{Fault, FaultRule};
use serde_json::Value as Json;
use serde_yaml_ng::Value;

fn monitoring(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/monitoring")
        .join(file)
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn yaml_docs(file: &Path) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(&read(file))
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .collect()
}

fn rules() -> Value {
    yaml_docs(&monitoring("rules.yaml")).remove(0)
}

fn dashboard() -> Json {
    serde_json::from_str(&read(&monitoring("dashboard.json"))).unwrap()
}

/// Every rule of every group of rules.yaml.
fn every_rule() -> Vec<Value> {
    rules()["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_sequence().unwrap().clone())
        .collect()
}

/// The queries of the dashboard's panels and the metric its namespace variable lists.
fn dashboard_queries() -> Vec<String> {
    let dashboard = dashboard();
    let mut queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|panel| panel["targets"].as_array())
        .flatten()
        .map(|target| target["expr"].as_str().unwrap().to_owned())
        .collect();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(definition) = variable["definition"].as_str() {
            // label_values(metric, label): the metric is a query of its own.
            let inner = definition
                .strip_prefix("label_values(")
                .and_then(|rest| rest.split_once(','))
                .map(|(metric, _)| metric.trim())
                .unwrap_or_else(|| panic!("unexpected variable query {definition}"));
            queries.push(inner.to_owned());
        }
    }
    queries
}

/// Operators, and aggregations, which may come before their grouping rather than a `(`.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression selects: identifiers that are not functions,
/// keywords, label names (in braces or grouping lists), strings, numbers or durations.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let (mut names, mut i, mut braces) = (BTreeSet::new(), 0, 0usize);
    let (mut label_list, mut grouping_next) = (false, false);
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                // Ends on the closing quote, which the loop's step passes.
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
            }
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
            }
            '{' => braces += 1,
            '}' => braces = braces.saturating_sub(1),
            '(' => {
                label_list = grouping_next;
                grouping_next = false;
            }
            ')' => label_list = false,
            _ if c.is_ascii_digit() || c == '.' => {
                while i + 1 < chars.len()
                    && (chars[i + 1].is_ascii_alphanumeric() || chars[i + 1] == '.')
                {
                    i += 1;
                }
            }
            _ if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i + 1 < chars.len()
                    && (chars[i + 1].is_ascii_alphanumeric() || matches!(chars[i + 1], '_' | ':'))
                {
                    i += 1;
                }
                let word: String = chars[start..=i].iter().collect();
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if braces > 0 || label_list || KEYWORDS.contains(&word.as_str()) {
                    // A label name, a label list's member or an operator.
                } else if GROUPING.contains(&word.as_str()) {
                    grouping_next = true;
                } else if next != Some(&'(') {
                    names.insert(word);
                }
            }
            _ => {}
        }
        i += 1;
    }
    names
}

#[test]
fn metric_names_are_told_from_functions_labels_and_strings() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (method, le) (rate(a_bucket{code=~\"x|}y\", \
         job!='b_total'}[$__rate_interval]))) / ignoring (pod) group_left (c) sum(b_total) \
         > 3 * max(c:recorded offset 5m) and on (job) d",
    );
    let want: BTreeSet<String> = ["a_bucket", "b_total", "c:recorded", "d"]
        .map(String::from)
        .into();
    assert_eq!(names, want);
}

/// The metric names a scrape exports: each family's name, and a histogram's three series.
fn exported_names(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name.to_owned());
        }
    }
    names
}

/// A family's name from a series name (a histogram's `_bucket`, `_sum`, `_count` dropped).
fn family(name: &str, histograms: &BTreeSet<String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && histograms.contains(base)
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let response = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// budget-service and a gateway in front of it after a few calls: a status read, one that
/// LiteLLM fails, an evaluation pass, a page and a gRPC-web call at the gateway. Everything
/// else (panics, restarts, skipped tenants, the backlog) is exported from startup, at 0.
async fn scrape_both() -> (String, String) {
    let stack = Stack::start().await;
    stack.create_tenant("acme", 100).await;
    let status = pb::GetBudgetStatusRequest {
        tenant_id: "acme".into(),
    };
    stack.client().get_budget_status(status).await.unwrap();
    // A tenant read first while LiteLLM fails: a cache miss whose /key/info call errs.
    stack.create_tenant("beta", 100).await;
    stack
        .sim()
        .inject(FaultRule::new("/key/info", Fault::Status500).times(1));
    let failing = pb::GetBudgetStatusRequest {
        tenant_id: "beta".into(),
    };
    let _ = stack.client().get_budget_status(failing).await;
    stack.evaluate().await;

    let gateway = budget_gateway::Gateway::build(budget_e2e::gateway_config(&format!(
        "http://{}",
        stack.addr
    )))
    .await
    .unwrap();
    let (gateway_addr, gateway_metrics) = (gateway.local_addr(), gateway.metrics_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let page = http
        .get(format!("http://{gateway_addr}/"))
        .send()
        .await
        .unwrap();
    assert!(page.status().is_success() || page.status().is_redirection());
    // Without a session the gateway answers UNAUTHENTICATED itself: still a counted call.
    let call = http
        .post(format!(
            "http://{gateway_addr}/budget.v1.BudgetService/GetBudgetStatus"
        ))
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    call.bytes().await.unwrap();

    let service = scrape(stack.http_addr).await;
    let gateway = scrape(gateway_metrics).await;
    let _ = stop.send(());
    let _ = task.await;
    stack.stop().await;
    (service, gateway)
}

#[tokio::test]
async fn the_dashboard_and_the_rules_use_only_metrics_the_binaries_export() {
    let (service, gateway) = scrape_both().await;
    let exported: BTreeSet<String> = exported_names(&service)
        .into_iter()
        .chain(exported_names(&gateway))
        .collect();

    let rule_names: BTreeSet<String> = every_rule()
        .iter()
        .flat_map(|rule| metric_names(rule["expr"].as_str().unwrap()))
        .collect();
    let dashboard_names: BTreeSet<String> = dashboard_queries()
        .iter()
        .flat_map(|query| metric_names(query))
        .collect();
    for (what, names) in [
        ("rules.yaml", &rule_names),
        ("dashboard.json", &dashboard_names),
    ] {
        let unknown: Vec<_> = names.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{what} uses {unknown:?}, which neither binary exports:\n{service}\n{gateway}"
        );
    }
    // The alerts cover the service and the gateway; the dashboard every exported family.
    for name in [
        "budget_evaluation_lag_seconds",
        "budget_notification_oldest_pending_age_seconds",
        "budget_grpc_request_duration_seconds_bucket",
        "gateway_grpc_web_requests_total",
    ] {
        assert!(rule_names.contains(name), "no rule uses {name}");
    }
    let histograms: BTreeSet<String> = exported
        .iter()
        .filter_map(|name| name.strip_suffix("_bucket").map(str::to_owned))
        .collect();
    let shown: BTreeSet<String> = dashboard_names
        .iter()
        .map(|name| family(name, &histograms))
        .collect();
    let families: BTreeSet<String> = exported.iter().map(|n| family(n, &histograms)).collect();
    let missing: Vec<_> = families.difference(&shown).collect();
    assert!(missing.is_empty(), "no dashboard panel shows {missing:?}");
    assert!(families.len() >= 18, "{families:?}");
}

#[test]
fn the_prometheus_rule_carries_exactly_the_rules_promtool_checks() {
    let docs = yaml_docs(&monitoring("prometheusrule.yaml"));
    assert_eq!(docs.len(), 1);
    let rule = &docs[0];
    assert_eq!(
        rule["apiVersion"].as_str(),
        Some("monitoring.coreos.com/v1")
    );
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"));
    assert!(rule["metadata"]["name"].as_str().is_some());
    assert_eq!(
        rule["spec"],
        rules(),
        "prometheusrule.yaml is stale: bash tests/monitoring-check.sh --write"
    );
}

/// GitHub's anchor of a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_alert_has_a_severity_annotations_and_a_runbook_in_the_readme() {
    let readme = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"));
    let anchors: BTreeSet<String> = readme
        .lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| anchor(heading.trim_start_matches('#')))
        .collect();
    let rules = every_rule();
    assert!(rules.len() >= 10, "{rules:?}");
    let mut names = BTreeSet::new();
    for rule in &rules {
        let name = rule["alert"].as_str().expect("only alerting rules");
        assert!(names.insert(name.to_owned()), "{name} twice");
        let severity = rule["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("warning" | "critical")),
            "{name}: severity {severity:?}"
        );
        let annotations = &rule["annotations"];
        for key in ["summary", "description"] {
            let text = annotations[key].as_str().unwrap_or_default();
            assert!(text.contains("$value"), "{name}: {key} without the value");
        }
        let runbook = annotations["runbook_url"].as_str().unwrap_or_default();
        let section = runbook
            .strip_prefix("README.md#")
            .unwrap_or_else(|| panic!("{name}: runbook {runbook:?} is not a README section"));
        assert_eq!(section, name.to_lowercase(), "{name}: runbook section");
        assert!(
            anchors.contains(section),
            "README has no section #{section}"
        );
    }
}

#[test]
fn the_scrape_configs_name_the_manifests_ports_and_labels() {
    let k8s = |file: &str| {
        yaml_docs(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../deploy/k8s")
                .join(file),
        )
    };
    let of_kind = |docs: &[Value], kind: &str| {
        docs.iter()
            .find(|doc| doc["kind"].as_str() == Some(kind))
            .unwrap_or_else(|| panic!("no {kind}"))
            .clone()
    };
    let monitors = yaml_docs(&monitoring("servicemonitor.yaml"));

    // budget-service: the Service's port by name, the Service's labels.
    let service = of_kind(&k8s("budget-service.yaml"), "Service");
    let monitor = of_kind(&monitors, "ServiceMonitor");
    for (label, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(&service["metadata"]["labels"][label], value);
    }
    let port = monitor["spec"]["endpoints"][0]["port"].as_str().unwrap();
    let service_port = service["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(port))
        .unwrap_or_else(|| panic!("the budget-service Service has no port {port}"));
    assert_eq!(service_port["port"].as_u64(), Some(8081));

    // The gateway: its pods' port by name (the Service does not route /metrics).
    let deployment = of_kind(&k8s("gateway.yaml"), "Deployment");
    let pod = &deployment["spec"]["template"];
    let monitor = of_kind(&monitors, "PodMonitor");
    for (label, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(&pod["metadata"]["labels"][label], value);
    }
    let port = monitor["spec"]["podMetricsEndpoints"][0]["port"]
        .as_str()
        .unwrap();
    let container_port = pod["spec"]["containers"][0]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some(port))
        .unwrap_or_else(|| panic!("the gateway's pods have no port {port}"));
    assert_eq!(container_port["containerPort"].as_u64(), Some(9090));

    // The kustomization lists files that are here.
    let kustomization = yaml_docs(&monitoring("kustomization.yaml")).remove(0);
    for resource in kustomization["resources"].as_sequence().unwrap() {
        assert!(
            monitoring(resource.as_str().unwrap()).is_file(),
            "{resource:?}"
        );
    }
}

#[tokio::test]
async fn the_delivery_backlog_counts_pending_deliveries_and_their_age() {
    let stack = Stack::start().await;
    assert_eq!(stack.deliveries.backlog().await.unwrap().pending, 0);
    let key = stack.create_tenant("acme", 100).await.virtual_key;
    // A receiver that refuses connections: the delivery stays pending, retried.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    stack
        .client()
        .set_notification_targets(pb::SetNotificationTargetsRequest {
            tenant_id: "acme".into(),
            targets: vec![pb::NotificationTarget {
                kind: pb::NotificationKind::Webhook.into(),
                url,
                secret: "a-webhook-secret-of-some-length".into(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    stack.sim().set_spend(&key, 101.0).unwrap();
    stack.evaluate().await;

    // Threshold and budget exceeded: one delivery each, to the one target, queued two hours
    // ago as far as the database is concerned.
    let pool = sqlx::PgPool::connect(&stack.db.url).await.unwrap();
    sqlx::query("UPDATE notification_deliveries SET created_at = created_at - interval '2 hours'")
        .execute(&pool)
        .await
        .unwrap();
    let backlog = stack.deliveries.backlog().await.unwrap();
    assert_eq!(backlog.pending, 2, "{backlog:?}");
    let two_hours = Duration::from_secs(7200);
    assert!(backlog.oldest_age >= two_hours, "{backlog:?}");
    assert!(
        backlog.oldest_age < two_hours + Duration::from_secs(600),
        "{backlog:?}"
    );

    // Delivered or given up, a delivery leaves the backlog.
    sqlx::query("UPDATE notification_deliveries SET status = 'failed'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let backlog = stack.deliveries.backlog().await.unwrap();
    assert_eq!(backlog.pending, 0, "{backlog:?}");
    assert_eq!(backlog.oldest_age, Duration::ZERO);
    stack.stop().await;
}
