//! Static checks of deploy/'s hardening and rollout rules, beside what tests/deploy-check.sh's
//! validators check: pods fit the "restricted" Pod Security Standard, the HPAs own replica
//! counts, terminating pods drain within their grace period, NetworkPolicies let only the
//! right peers in, and compose's services are healthchecked, restarted, published on loopback
//! only, with every secret from `.env` (listed in `.env.example`); the image is Debian 13 with
//! a HEALTHCHECK per runtime stage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("deploy")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy().join(path)).unwrap()
}

/// Every document of the Kubernetes manifests kustomization.yaml lists.
fn k8s() -> Vec<Value> {
    let kustomization: Value = serde_yaml_ng::from_str(&read("k8s/kustomization.yaml")).unwrap();
    let mut docs = Vec::new();
    for file in kustomization
        .get("resources")
        .unwrap()
        .as_sequence()
        .unwrap()
    {
        let text = read(&format!("k8s/{}", file.as_str().unwrap()));
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = <Value as serde::Deserialize>::deserialize(doc).unwrap();
            if !value.is_null() {
                docs.push(value);
            }
        }
    }
    docs
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap()
}

/// The value of KEY in one of the kustomize env files.
fn env_file_value(file: &str, key: &str) -> u64 {
    read(&format!("k8s/{file}"))
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} not in {file}"))
        .parse()
        .unwrap()
}

#[test]
fn every_pod_fits_the_restricted_pod_security_standard() {
    let docs = k8s();
    let namespace = of_kind(&docs, "Namespace")[0];
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"].as_str(),
        Some("restricted")
    );
    let deployments = of_kind(&docs, "Deployment");
    assert_eq!(deployments.len(), 2);
    for deployment in deployments {
        let pod = &deployment["spec"]["template"]["spec"];
        let context = name(deployment);
        assert_eq!(
            pod["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{context}"
        );
        let security = &pod["securityContext"];
        assert_eq!(security["runAsNonRoot"].as_bool(), Some(true), "{context}");
        assert!(security["runAsUser"].as_u64().unwrap() > 0, "{context}");
        assert_eq!(
            security["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault"),
            "{context}"
        );
        let init = pod["initContainers"].as_sequence().into_iter().flatten();
        for container in init.chain(pod["containers"].as_sequence().unwrap()) {
            let security = &container["securityContext"];
            let context = format!("{context}/{}", container["name"].as_str().unwrap());
            assert_eq!(
                security["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{context}"
            );
            assert_eq!(
                security["readOnlyRootFilesystem"].as_bool(),
                Some(true),
                "{context}"
            );
            assert_eq!(
                security["capabilities"]["drop"].as_sequence().unwrap(),
                &[Value::from("ALL")],
                "{context}"
            );
            assert!(
                container["resources"]["limits"]["memory"].is_string(),
                "{context}"
            );
        }
    }
}

#[test]
fn hpas_own_the_replica_counts_and_pods_drain_before_they_stop() {
    let docs = k8s();
    for hpa in of_kind(&docs, "HorizontalPodAutoscaler") {
        let target = hpa["spec"]["scaleTargetRef"]["name"].as_str().unwrap();
        let deployment = of_kind(&docs, "Deployment")
            .into_iter()
            .find(|d| name(d) == target)
            .unwrap();
        assert!(
            deployment["spec"].get("replicas").is_none(),
            "{target}: `replicas` fights the HPA on every apply"
        );
        let pod = &deployment["spec"]["template"]["spec"];
        let sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
            .as_u64()
            .unwrap_or_else(|| panic!("{target}: no preStop sleep"));
        let termination = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
        if target == "budget-service" {
            let drain = env_file_value("budget-service.env", "BUDGET_SHUTDOWN_DRAIN_SECS");
            let grace = env_file_value("budget-service.env", "BUDGET_SHUTDOWN_GRACE_SECS");
            assert!(drain > 0, "NOT_SERVING before the listener closes");
            assert!(
                sleep + drain + grace < termination,
                "preStop {sleep} + drain {drain} + grace {grace} within {termination}"
            );
            let age = env_file_value("budget-service.env", "BUDGET_GRPC_MAX_CONNECTION_AGE_SECS");
            assert!(age > 0, "connections are re-balanced");
        } else {
            assert!(sleep < termination, "{target}");
        }
    }
}

/// The `app.kubernetes.io/name` labels of the pods a NetworkPolicy rule's `from` or `to` names.
fn peers(rule: &Value, direction: &str) -> BTreeSet<String> {
    rule[direction]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|peer| {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                .as_str()
                .or(peer["podSelector"]["matchLabels"]["k8s-app"].as_str())
                .expect("peers are pods selected by name")
                .to_owned()
        })
        .collect()
}

fn ports(rule: &Value) -> Vec<u64> {
    rule["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect()
}

#[test]
fn network_policies_let_only_the_gateway_reach_grpc_and_only_litellm_the_webhooks() {
    let docs = k8s();
    let policy = |target: &str| -> &Value {
        of_kind(&docs, "NetworkPolicy")
            .into_iter()
            .find(|p| {
                p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"].as_str()
                    == Some(target)
            })
            .unwrap_or_else(|| panic!("no NetworkPolicy for {target}"))
    };
    let service = policy("budget-service");
    let mut callers = Vec::new();
    for rule in service["spec"]["ingress"].as_sequence().unwrap() {
        for port in ports(rule) {
            callers.push((port, peers(rule, "from")));
        }
    }
    let gateway = BTreeSet::from(["budget-gateway".to_owned()]);
    let litellm = BTreeSet::from(["litellm".to_owned()]);
    let prometheus = BTreeSet::from(["prometheus".to_owned()]);
    assert_eq!(
        callers,
        [(50051, gateway), (8081, litellm), (8081, prometheus)],
        "every ingress rule names its peers"
    );
    let egress = service["spec"]["egress"].as_sequence().unwrap();
    let reaches = |port: u64| egress.iter().any(|r| ports(r).contains(&port));
    for port in [53, 5432, 4000, 443] {
        assert!(reaches(port), "budget-service cannot reach port {port}");
    }
    let gateway_policy = policy("budget-gateway");
    let to_service = gateway_policy["spec"]["egress"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|r| peers(r, "to").contains("budget-service") && ports(r) == [50051]);
    assert!(to_service, "the gateway reaches budget-service's gRPC port");
}

/// The `${NAME...}` variables a compose file interpolates.
fn interpolated(text: &str) -> BTreeSet<String> {
    text.match_indices("${")
        .map(|(at, _)| {
            text[at + 2..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn compose_services_are_healthchecked_restarted_on_loopback_with_secrets_from_env() {
    let text = read("compose.yaml");
    let compose: Value = serde_yaml_ng::from_str(&text).unwrap();
    let services = compose["services"].as_mapping().unwrap();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        if service["command"].as_sequence().and_then(|c| c[0].as_str()) == Some("migrate") {
            assert_eq!(service["restart"].as_str(), Some("no"), "{name}: a one-off");
            continue;
        }
        assert_eq!(
            service["restart"].as_str(),
            Some("unless-stopped"),
            "{name}"
        );
        assert!(
            service["healthcheck"]["test"].is_sequence(),
            "{name}: no healthcheck"
        );
        for port in service["ports"].as_sequence().into_iter().flatten() {
            assert!(
                port.as_str().unwrap().starts_with("127.0.0.1:"),
                "{name}: {port:?} is published on every interface"
            );
        }
        // Services that wait for another wait for it to be healthy (or done).
        for (_, dependency) in service["depends_on"].as_mapping().into_iter().flatten() {
            let condition = dependency["condition"].as_str().unwrap();
            assert!(
                ["service_healthy", "service_completed_successfully"].contains(&condition),
                "{name}: {condition}"
            );
        }
    }
    // The two profiles: the real proxy, or litellm-sim answering as `litellm`.
    assert_eq!(
        compose["services"]["litellm"]["profiles"][0].as_str(),
        Some("real")
    );
    let sim = &compose["services"]["litellm-sim"];
    assert_eq!(sim["profiles"][0].as_str(), Some("sim"));
    assert_eq!(
        sim["networks"]["default"]["aliases"][0].as_str(),
        Some("litellm")
    );
    assert!(compose["services"]["litellm"]["environment"]["LITELLM_SALT_KEY"].is_string());
    // No password is written down: each comes from .env, which .env.example documents.
    assert!(!text.contains("POSTGRES_PASSWORD: budget") && !text.contains(":litellm@"));
    let example = read(".env.example");
    let documented: BTreeSet<String> = example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .collect();
    assert_eq!(
        interpolated(&text),
        documented,
        ".env.example lists every variable"
    );
}

#[test]
fn the_images_are_debian_13_with_labels_and_a_healthcheck() {
    let text = read("Dockerfile");
    let stages: Vec<&str> = text.split("\nFROM ").skip(1).collect();
    assert_eq!(
        stages.len(),
        4,
        "build, budget-service, budget-gateway, litellm-sim"
    );
    assert!(stages[0].starts_with("rust:") && stages[0].contains("-trixie"));
    for stage in &stages[1..] {
        let base = stage.split_whitespace().next().unwrap();
        assert!(base.starts_with("gcr.io/distroless/cc-debian13:"), "{base}");
        assert!(stage.contains("HEALTHCHECK"), "{base}: no HEALTHCHECK");
        assert!(stage.contains("USER 65532:65532"), "{base}");
        for label in ["title", "description", "version", "licenses"] {
            assert!(stage.contains(&format!("org.opencontainers.image.{label}=")));
        }
    }
    assert!(stages[1].contains(r#"CMD ["budget-service", "health"]"#));
    assert!(stages[2].contains(r#"CMD ["budget-gateway", "health"]"#));
}
