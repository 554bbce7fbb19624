//! Static checks of deploy/: every YAML file parses (multi-document Kubernetes files too), and
//! the compose file, the Kubernetes manifests and the Dockerfile agree with the binaries' real
//! configuration, read from the `env = "…"` attributes in their source.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, keep, out);
        } else if keep(&path) {
            out.push(path);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Binary {
    Service,
    Gateway,
}

/// Every environment variable a binary reads: clap's `env = "…"` attributes and direct
/// `env::var("…")` reads in its source and in `budget-telemetry`'s (whose `OTEL_*` arguments
/// both configs flatten), plus RUST_LOG where tracing's EnvFilter reads it.
fn code_env_vars(binary: Binary) -> BTreeSet<String> {
    let dir = match binary {
        Binary::Service => root().join("services/budget-service/src"),
        Binary::Gateway => root().join("gateway/src"),
    };
    let mut files = Vec::new();
    for dir in [dir, root().join("telemetry/src")] {
        files_under(
            &dir,
            &|p| p.extension().is_some_and(|e| e == "rs"),
            &mut files,
        );
    }
    let mut names = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for marker in ["env = \"", "env::var(\"", "env::var_os(\""] {
            for (at, _) in text.match_indices(marker) {
                let rest = &text[at + marker.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if !name.is_empty() && rest[name.len()..].starts_with('"') {
                    names.insert(name);
                }
            }
        }
        if text.contains("EnvFilter::try_from_default_env")
            || text.contains("EnvFilter::from_default_env")
        {
            names.insert("RUST_LOG".to_owned());
        }
    }
    names
}

const REQUIRED_SERVE: [&str; 3] = ["DATABASE_URL", "LITELLM_BASE_URL", "LITELLM_MASTER_KEY"];
const SECRETS: [&str; 5] = [
    "DATABASE_URL",
    "LITELLM_MASTER_KEY",
    "BUDGET_BOOTSTRAP_TOKEN",
    "BUDGET_WEBHOOK_SECRET",
    "GATEWAY_SESSION_KEY",
];

/// Every document of every YAML file under deploy/.
fn deploy_yaml() -> Vec<(PathBuf, Value)> {
    let mut files = Vec::new();
    files_under(
        &root().join("deploy"),
        &|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"),
        &mut files,
    );
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = <Value as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if !value.is_null() {
                docs.push((file.clone(), value));
            }
        }
    }
    docs
}

fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Value::String(text) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// The port of a `host:port` address or of a URL's authority.
fn port_of(address: &str) -> u16 {
    let authority = address
        .split("://")
        .last()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    authority
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{address} has no port"))
        .1
        .parse()
        .unwrap_or_else(|_| panic!("{address}: bad port"))
}

fn which_binary(image: &str, target: Option<&str>) -> Option<Binary> {
    let name = target.unwrap_or(image);
    if name.contains("budget-gateway") {
        Some(Binary::Gateway)
    } else if name.contains("budget-service") {
        Some(Binary::Service)
    } else {
        None
    }
}

fn check_env_names(context: &str, binary: Binary, env: &BTreeMap<String, String>) {
    let known = code_env_vars(binary);
    for name in env.keys() {
        assert!(
            known.contains(name),
            "{context}: {name} is not read by {binary:?} (known: {known:?})"
        );
    }
}

#[test]
fn the_source_parser_finds_the_known_settings() {
    let service = code_env_vars(Binary::Service);
    for name in [
        "DATABASE_URL",
        "LITELLM_BASE_URL",
        "LITELLM_MASTER_KEY",
        "BUDGET_GRPC_ADDR",
        "BUDGET_HTTP_ADDR",
        "BUDGET_WEBHOOK_SECRET",
        "BUDGET_BOOTSTRAP_TOKEN",
        "BUDGET_LOG_FORMAT",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        assert!(service.contains(name), "{name} missing from {service:?}");
    }
    let gateway = code_env_vars(Binary::Gateway);
    for name in [
        "GATEWAY_ADDR",
        "BUDGET_SERVICE_URL",
        "GATEWAY_SESSION_KEY",
        "RUST_LOG",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        assert!(gateway.contains(name), "{name} missing from {gateway:?}");
    }
    assert!(!gateway.contains("DATABASE_URL"));
}

#[test]
fn every_yaml_file_under_deploy_parses() {
    let docs = deploy_yaml();
    let files: BTreeSet<_> = docs.iter().map(|(f, _)| f.clone()).collect();
    for expected in [
        "deploy/compose.yaml",
        "deploy/litellm/config.yaml",
        "deploy/k8s/budget-service.yaml",
        "deploy/k8s/gateway.yaml",
        "deploy/k8s/migrate-job.yaml",
        "deploy/k8s/configmap.yaml",
    ] {
        assert!(files.contains(&root().join(expected)), "{expected} missing");
    }
    // Every Kubernetes document names its kind and has a name.
    for (file, doc) in &docs {
        if file.starts_with(root().join("deploy/k8s")) {
            assert!(
                doc.get("kind").and_then(s).is_some(),
                "{}: no kind",
                file.display()
            );
            if doc.get("kind").and_then(s) != Some("Kustomization") {
                assert!(
                    doc.get("metadata")
                        .and_then(|m| m.get("name"))
                        .and_then(s)
                        .is_some(),
                    "{}: no metadata.name",
                    file.display()
                );
            }
        }
    }
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("deploy/compose.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn compose_env(service: &Value) -> BTreeMap<String, String> {
    match service.get("environment") {
        Some(Value::Mapping(map)) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(text) => text.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => String::new(),
                };
                (k.as_str().unwrap().to_owned(), value)
            })
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(|i| i.as_str())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The container side of compose `ports` entries.
fn compose_container_ports(service: &Value) -> Vec<u16> {
    service
        .get("ports")
        .map(strings)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            p.rsplit(':')
                .next()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

fn compose_binary(service: &Value) -> Option<Binary> {
    let target = service
        .get("build")
        .and_then(|b| b.get("target"))
        .and_then(s);
    which_binary(service.get("image").and_then(s).unwrap_or(""), target)
}

#[test]
fn compose_matches_the_binaries_configuration() {
    let compose = compose();
    let services = compose.get("services").and_then(Value::as_mapping).unwrap();
    let mut serve_grpc_port = None;
    let mut seen = BTreeSet::new();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        let Some(binary) = compose_binary(service) else {
            continue;
        };
        let env = compose_env(service);
        check_env_names(&format!("compose {name}"), binary, &env);
        let command = service.get("command").map(strings).unwrap_or_default();
        for address in ["BUDGET_GRPC_ADDR", "BUDGET_HTTP_ADDR", "GATEWAY_ADDR"] {
            if let Some(addr) = env.get(address) {
                assert!(
                    addr.starts_with("0.0.0.0:"),
                    "{name}: {address} must listen on all interfaces"
                );
            }
        }
        match binary {
            Binary::Service if command.first().map(String::as_str) == Some("migrate") => {
                seen.insert("migrate");
                assert!(
                    env.contains_key("DATABASE_URL"),
                    "{name}: migrate needs DATABASE_URL"
                );
            }
            Binary::Service => {
                seen.insert("serve");
                assert_eq!(command, ["serve", "--no-migrate"], "{name}");
                for required in REQUIRED_SERVE {
                    assert!(env.contains_key(required), "{name}: {required} not set");
                }
                let grpc = port_of(env.get("BUDGET_GRPC_ADDR").expect("BUDGET_GRPC_ADDR set"));
                let http = port_of(env.get("BUDGET_HTTP_ADDR").expect("BUDGET_HTTP_ADDR set"));
                for port in compose_container_ports(service) {
                    assert!(
                        port == grpc || port == http,
                        "{name}: port {port} not served"
                    );
                }
                assert!(env.contains_key("BUDGET_WEBHOOK_SECRET"));
                let depends = service.get("depends_on").unwrap();
                let migrate_dep = depends.as_mapping().unwrap().iter().find(|(_, v)| {
                    v.get("condition").and_then(s) == Some("service_completed_successfully")
                });
                assert!(
                    migrate_dep.is_some(),
                    "{name}: must wait for the migrations"
                );
                serve_grpc_port = Some((name.to_owned(), grpc));
            }
            Binary::Gateway => {
                seen.insert("gateway");
                let addr = port_of(env.get("GATEWAY_ADDR").expect("GATEWAY_ADDR set"));
                // Only the public port is published; /metrics has a port of its own.
                assert_eq!(compose_container_ports(service), [addr], "{name}");
                let metrics = env
                    .get("GATEWAY_METRICS_ADDR")
                    .expect("GATEWAY_METRICS_ADDR");
                assert_ne!(port_of(metrics), addr, "{name}: metrics on the public port");
                assert!(
                    env.contains_key("GATEWAY_SESSION_KEY"),
                    "{name}: sessions need a fixed key"
                );
            }
        }
    }
    assert_eq!(seen, BTreeSet::from(["migrate", "serve", "gateway"]));
    // The gateway reaches budget-service's gRPC port by its service name.
    let (service_name, grpc) = serve_grpc_port.unwrap();
    let gateway = services
        .iter()
        .find(|(_, v)| compose_binary(v) == Some(Binary::Gateway))
        .unwrap()
        .1;
    let url = compose_env(gateway)["BUDGET_SERVICE_URL"].clone();
    assert_eq!(url, format!("http://{service_name}:{grpc}"));
}

#[test]
fn compose_runs_litellm_with_its_own_database_and_webhook() {
    let compose = compose();
    let services = compose.get("services").unwrap();
    let litellm = services.get("litellm").expect("a litellm service");
    let image = litellm.get("image").and_then(s).unwrap();
    assert!(image.starts_with("ghcr.io/berriai/litellm:"), "{image}");
    assert!(
        image.contains("1.108.7"),
        "pin the contract's version: {image}"
    );
    let env = compose_env(litellm);
    let service_name = "budget-service";
    let service_env = compose_env(services.get(service_name).unwrap());
    let http = port_of(&service_env["BUDGET_HTTP_ADDR"]);
    assert_eq!(
        env["WEBHOOK_URL"],
        format!(
            "http://{service_name}:{http}/hooks/litellm/${{BUDGET_WEBHOOK_SECRET:?set BUDGET_WEBHOOK_SECRET}}"
        )
    );
    assert!(service_env["BUDGET_WEBHOOK_SECRET"].contains("${BUDGET_WEBHOOK_SECRET"));
    // Its own database, not budget-service's.
    let litellm_db = env["DATABASE_URL"].clone();
    assert_ne!(litellm_db, service_env["DATABASE_URL"]);
    let db_host = litellm_db
        .split('@')
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    assert!(
        services.get(db_host).is_some(),
        "{db_host} is not a compose service"
    );
    assert!(service_env["LITELLM_BASE_URL"].starts_with("http://litellm:"));
    assert_eq!(
        port_of(&service_env["LITELLM_BASE_URL"]),
        compose_container_ports(litellm)[0]
    );
    // The mounted config turns the webhook alerting on.
    let mount = litellm.get("volumes").map(strings).unwrap()[0].clone();
    let host_path = mount.split(':').next().unwrap();
    let config: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("deploy").join(host_path)).unwrap(),
    )
    .unwrap();
    let alerting = config
        .get("general_settings")
        .and_then(|g| g.get("alerting"))
        .map(strings)
        .unwrap();
    assert!(alerting.contains(&"webhook".to_owned()));
}

/// Kubernetes documents by kind.
fn k8s() -> Vec<Value> {
    deploy_yaml()
        .into_iter()
        .filter(|(f, _)| f.starts_with(root().join("deploy/k8s")))
        .map(|(_, v)| v)
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d.get("kind").and_then(s) == Some(kind))
        .collect()
}

fn name(doc: &Value) -> &str {
    doc.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(s)
        .unwrap()
}

fn pod_spec(workload: &Value) -> &Value {
    workload
        .get("spec")
        .unwrap()
        .get("template")
        .unwrap()
        .get("spec")
        .unwrap()
}

/// A container's environment: each name with its literal or ConfigMap value ("<secret>" for
/// secretKeyRef), envFrom ConfigMaps expanded.
fn container_env(docs: &[Value], container: &Value) -> BTreeMap<String, String> {
    let configmap = |wanted: &str| -> &Value {
        kind(docs, "ConfigMap")
            .into_iter()
            .find(|c| name(c) == wanted)
            .unwrap_or_else(|| panic!("ConfigMap {wanted} missing"))
            .get("data")
            .unwrap()
    };
    let mut env = BTreeMap::new();
    for from in container
        .get("envFrom")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        assert!(
            from.get("secretRef").is_none(),
            "use secretKeyRef per variable"
        );
        let cm = from
            .get("configMapRef")
            .unwrap()
            .get("name")
            .and_then(s)
            .unwrap();
        for (k, v) in configmap(cm).as_mapping().unwrap() {
            env.insert(
                k.as_str().unwrap().to_owned(),
                v.as_str().unwrap().to_owned(),
            );
        }
    }
    for var in container
        .get("env")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let key = var.get("name").and_then(s).unwrap().to_owned();
        let value = if let Some(v) = var.get("value") {
            assert!(
                !SECRETS.contains(&key.as_str()),
                "{key} must come from a Secret"
            );
            v.as_str().unwrap().to_owned()
        } else {
            let from = var.get("valueFrom").unwrap();
            if let Some(secret) = from.get("secretKeyRef") {
                assert!(
                    secret.get("name").and_then(s).is_some()
                        && secret.get("key").and_then(s).is_some()
                );
                "<secret>".to_owned()
            } else {
                let r = from.get("configMapKeyRef").unwrap();
                configmap(r.get("name").and_then(s).unwrap())
                    .get(r.get("key").and_then(s).unwrap())
                    .and_then(s)
                    .unwrap()
                    .to_owned()
            }
        };
        env.insert(key, value);
    }
    for secret in SECRETS {
        if let Some(value) = env.get(secret) {
            assert_eq!(value, "<secret>", "{secret} must be a secretKeyRef");
        }
    }
    env
}

fn container_ports(container: &Value) -> BTreeMap<String, u16> {
    container
        .get("ports")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p.get("name").and_then(s).unwrap_or("").to_owned(),
                u16::try_from(p.get("containerPort").and_then(Value::as_u64).unwrap()).unwrap(),
            )
        })
        .collect()
}

fn probe_port(container: &Value, probe: &str, how: &str) -> u16 {
    let port = container
        .get(probe)
        .unwrap_or_else(|| panic!("{probe} missing"))
        .get(how)
        .unwrap_or_else(|| panic!("{probe} is not {how}"))
        .get("port")
        .unwrap();
    match port {
        Value::Number(n) => u16::try_from(n.as_u64().unwrap()).unwrap(),
        Value::String(named) => container_ports(container)[named.as_str()],
        _ => panic!("bad probe port"),
    }
}

#[test]
fn k8s_containers_use_only_real_env_vars_and_matching_ports() {
    let docs = k8s();
    let mut checked = 0;
    for workload in kind(&docs, "Deployment")
        .into_iter()
        .chain(kind(&docs, "Job"))
    {
        let spec = pod_spec(workload);
        assert_eq!(
            spec.get("securityContext")
                .and_then(|c| c.get("runAsNonRoot"))
                .and_then(Value::as_bool),
            Some(true),
            "{}: runAsNonRoot",
            name(workload)
        );
        for container in spec.get("containers").and_then(Value::as_sequence).unwrap() {
            let image = container.get("image").and_then(s).unwrap();
            let Some(binary) = which_binary(image, None) else {
                continue;
            };
            let context = format!("{} {}", name(workload), image);
            let env = container_env(&docs, container);
            check_env_names(&context, binary, &env);
            let args = container.get("args").map(strings).unwrap_or_default();
            let ports = container_ports(container);
            checked += 1;
            match (binary, args.first().map(String::as_str)) {
                (Binary::Service, Some("migrate")) => {
                    assert!(env.contains_key("DATABASE_URL"), "{context}");
                }
                (Binary::Service, _) => {
                    assert_eq!(args, ["serve", "--no-migrate"], "{context}");
                    for required in REQUIRED_SERVE {
                        assert!(env.contains_key(required), "{context}: {required} not set");
                    }
                    let grpc = port_of(&env["BUDGET_GRPC_ADDR"]);
                    let http = port_of(&env["BUDGET_HTTP_ADDR"]);
                    assert_eq!(
                        ports.values().copied().collect::<BTreeSet<_>>(),
                        BTreeSet::from([grpc, http]),
                        "{context}: containerPorts"
                    );
                    assert_eq!(probe_port(container, "readinessProbe", "grpc"), grpc);
                    assert_eq!(probe_port(container, "livenessProbe", "grpc"), grpc);
                    assert!(env.contains_key("BUDGET_WEBHOOK_SECRET"));
                    assert!(env.contains_key("BUDGET_BOOTSTRAP_TOKEN"));
                }
                (Binary::Gateway, _) => {
                    let addr = port_of(&env["GATEWAY_ADDR"]);
                    let metrics = port_of(&env["GATEWAY_METRICS_ADDR"]);
                    assert_ne!(metrics, addr, "{context}: metrics on the public port");
                    assert_eq!(
                        ports.values().copied().collect::<BTreeSet<_>>(),
                        BTreeSet::from([addr, metrics]),
                        "{context}"
                    );
                    // The gateway's Service routes the public port only.
                    let public = kind(&docs, "Service")
                        .into_iter()
                        .find(|svc| name(svc) == "budget-gateway")
                        .expect("the gateway's Service");
                    let routed: Vec<_> = public
                        .get("spec")
                        .unwrap()
                        .get("ports")
                        .unwrap()
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .filter_map(|p| p.get("targetPort").and_then(s))
                        .collect();
                    assert_eq!(routed, ["http"], "{context}");
                    for probe in ["readinessProbe", "livenessProbe"] {
                        assert_eq!(probe_port(container, probe, "httpGet"), addr);
                        let path = container
                            .get(probe)
                            .unwrap()
                            .get("httpGet")
                            .unwrap()
                            .get("path");
                        assert_eq!(path.and_then(s), Some("/healthz"));
                    }
                    assert!(env.contains_key("GATEWAY_SESSION_KEY"));
                    // Reaches budget-service's Service on its gRPC port.
                    let url = &env["BUDGET_SERVICE_URL"];
                    let service = kind(&docs, "Service")
                        .into_iter()
                        .find(|svc| url.contains(&format!("//{}:", name(svc))))
                        .unwrap_or_else(|| panic!("no Service for {url}"));
                    let grpc = service
                        .get("spec")
                        .unwrap()
                        .get("ports")
                        .unwrap()
                        .as_sequence()
                        .unwrap()
                        .iter()
                        .find(|p| p.get("name").and_then(s) == Some("grpc"))
                        .unwrap();
                    assert_eq!(
                        grpc.get("port").and_then(Value::as_u64),
                        Some(u64::from(port_of(url)))
                    );
                }
            }
        }
    }
    assert_eq!(checked, 3, "budget-service, gateway and the migration job");
}

#[test]
fn k8s_has_services_pdbs_hpas_and_a_migration_job() {
    let docs = k8s();
    let deployments = kind(&docs, "Deployment");
    assert_eq!(deployments.len(), 2);
    for deployment in deployments {
        let labels = deployment
            .get("spec")
            .unwrap()
            .get("selector")
            .unwrap()
            .get("matchLabels")
            .unwrap();
        let template_labels = deployment
            .get("spec")
            .unwrap()
            .get("template")
            .unwrap()
            .get("metadata")
            .unwrap()
            .get("labels")
            .unwrap();
        for (k, v) in labels.as_mapping().unwrap() {
            assert_eq!(template_labels.get(k.as_str().unwrap()), Some(v));
        }
        let selects = |doc: &&Value| {
            let spec = doc.get("spec").unwrap();
            let selector = spec
                .get("selector")
                .map(|sel| sel.get("matchLabels").unwrap_or(sel));
            selector == Some(labels)
        };
        let containers = pod_spec(deployment)
            .get("containers")
            .unwrap()
            .as_sequence()
            .unwrap();
        let port_names: BTreeSet<String> = containers
            .iter()
            .flat_map(|c| container_ports(c).into_keys())
            .collect();
        let service = kind(&docs, "Service")
            .into_iter()
            .find(selects)
            .unwrap_or_else(|| panic!("no Service for {}", name(deployment)));
        for port in service
            .get("spec")
            .unwrap()
            .get("ports")
            .unwrap()
            .as_sequence()
            .unwrap()
        {
            let target = port.get("targetPort").and_then(s).unwrap();
            assert!(
                port_names.contains(target),
                "{}: targetPort {target}",
                name(service)
            );
        }
        assert!(
            kind(&docs, "PodDisruptionBudget")
                .into_iter()
                .any(|d| selects(&d)),
            "PDB for {}",
            name(deployment)
        );
        assert!(
            kind(&docs, "HorizontalPodAutoscaler").into_iter().any(|h| {
                let target = h.get("spec").unwrap().get("scaleTargetRef").unwrap();
                target.get("kind").and_then(s) == Some("Deployment")
                    && target.get("name").and_then(s) == Some(name(deployment))
            }),
            "HPA for {}",
            name(deployment)
        );
    }
    let jobs = kind(&docs, "Job");
    assert_eq!(jobs.len(), 1);
    let container = &pod_spec(jobs[0])
        .get("containers")
        .unwrap()
        .as_sequence()
        .unwrap()[0];
    assert_eq!(container.get("args").map(strings).unwrap(), ["migrate"]);
}

#[test]
fn no_secret_values_are_committed() {
    for (file, doc) in deploy_yaml() {
        assert_ne!(
            doc.get("kind").and_then(s),
            Some("Secret"),
            "{}: a Secret",
            file.display()
        );
    }
    // compose takes every secret from the environment.
    let compose = compose();
    for (_, service) in compose.get("services").unwrap().as_mapping().unwrap() {
        for (key, value) in compose_env(service) {
            if SECRETS.contains(&key.as_str()) && key != "DATABASE_URL" {
                assert!(
                    value.starts_with("${"),
                    "{key} must come from the environment"
                );
            }
        }
    }
}

#[test]
fn the_dockerfile_builds_locked_as_non_root_without_protoc_or_node() {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    // Logical lines (backslash continuations joined), comments dropped.
    let joined = text.replace("\\\n", " ");
    let lines: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let builds: Vec<&&str> = lines.iter().filter(|l| l.contains("cargo build")).collect();
    assert!(!builds.is_empty());
    for build in &builds {
        assert!(build.contains("--locked"), "{build}");
        assert!(build.contains("--release"), "{build}");
    }
    for line in &lines {
        let lower = line.to_lowercase();
        for banned in [
            "protoc",
            "protobuf-compiler",
            "nodejs",
            "npm ",
            "node_",
            "nodesource",
            "yarn",
        ] {
            assert!(!lower.contains(banned), "installs {banned}: {line}");
        }
    }
    // Each runtime stage (every stage but the build) ends as a non-root user and exposes the
    // port its address variable names.
    let mut stages: Vec<(String, Vec<&str>)> = Vec::new();
    for line in &lines {
        if let Some(from) = line.strip_prefix("FROM ") {
            let stage = from.split_whitespace().last().unwrap().to_owned();
            stages.push((stage, Vec::new()));
        } else if let Some((_, body)) = stages.last_mut() {
            body.push(line);
        }
    }
    let runtime: Vec<_> = stages.iter().filter(|(name, _)| name != "build").collect();
    assert_eq!(
        runtime
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["budget-service", "budget-gateway"])
    );
    for (stage, body) in runtime {
        let base = stages
            .iter()
            .find(|(n, _)| n == stage)
            .map(|_| ())
            .is_some();
        assert!(base);
        let user = body
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("USER "))
            .expect("USER");
        let uid = user.split(':').next().unwrap();
        assert!(uid != "0" && uid != "root", "{stage}: USER {user}");
        let exposed: BTreeSet<u16> = body
            .iter()
            .filter_map(|l| l.strip_prefix("EXPOSE "))
            .flat_map(|ports| ports.split_whitespace().map(|p| p.parse::<u16>().unwrap()))
            .collect();
        let binary = which_binary(stage, None).unwrap();
        let mut env_ports = BTreeSet::new();
        for line in body.iter().filter_map(|l| l.strip_prefix("ENV ")) {
            for pair in line.split_whitespace() {
                let (key, value) = pair.split_once('=').unwrap();
                assert!(code_env_vars(binary).contains(key), "{stage}: ENV {key}");
                if key.ends_with("_ADDR") {
                    env_ports.insert(port_of(value));
                }
            }
        }
        assert_eq!(exposed, env_ports, "{stage}: EXPOSE vs addresses");
    }
    // The runtime images are small Debian slim or distroless ones.
    for line in lines.iter().filter(|l| l.starts_with("FROM ")) {
        if !line.ends_with(" AS build") {
            assert!(
                line.contains("-slim") || line.contains("distroless"),
                "{line}"
            );
        }
    }
}
