//! The provisioning fixtures, checked as data: `master.sh print-config` for every supported minor
//! and both timing profiles must deserialise into the harness's kubeadm types in the right API
//! shape, and the manifests the course applies (`master.sh print-manifest flannel|traefik`,
//! `fixtures/manifests/hello-world.yaml`) must be valid Kubernetes objects (k8s-openapi types,
//! with nothing dropped in a round trip) that have what labsim's image programs implement.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_labs::kubeadm_config::{KubeadmApi, KubeadmConfig};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `bash fixtures/scripts/master.sh ARGS` with a fixed node identity.
fn master(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("bash")
        .arg(root().join("fixtures/scripts/master.sh"))
        .args(args)
        .env("NODE_IP", "192.168.49.2")
        .env("NODE_NAME", "minikube")
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "master.sh {args:?} {env:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn print_config_parses_for_every_minor_and_profile() {
    for minor in 26..=36 {
        let version = format!("1.{minor}");
        for profile in ["default", "fast"] {
            let text = master(
                &["print-config"],
                &[
                    ("KUBERNETES_VERSION", &version),
                    ("TIMING_PROFILE", profile),
                ],
            );
            let cfg = KubeadmConfig::parse(&text)
                .unwrap_or_else(|e| panic!("1.{minor} {profile}: {e}\n{text}"));
            // v1beta4 from 1.31, v1beta3 before (v1beta3 is gone in 1.36).
            let want = if minor >= 31 {
                KubeadmApi::V1beta4
            } else {
                KubeadmApi::V1beta3
            };
            assert_eq!(cfg.api, want, "1.{minor}");
            assert_eq!(
                cfg.init.local_api_endpoint.advertise_address,
                "192.168.49.2"
            );
            assert_eq!(cfg.init.local_api_endpoint.bind_port, 8443);
            assert_eq!(cfg.init.node_registration.name, "minikube");
            assert_eq!(
                cfg.cluster.certificates_dir.as_deref(),
                Some("/var/lib/minikube/certs")
            );
            let net = cfg.cluster.networking.as_ref().expect("networking");
            assert_eq!(net.pod_subnet.as_deref(), Some("10.244.0.0/16"));
            assert!(
                cfg.cluster
                    .kubernetes_version
                    .as_deref()
                    .is_some_and(|v| v.starts_with(&format!("v1.{minor}."))),
                "{:?}",
                cfg.cluster.kubernetes_version
            );
            let t = cfg.try_timings().expect("timings parse");
            if profile == "fast" {
                assert_eq!(t.node_monitor_grace_period, Some(Duration::from_secs(10)));
                assert_eq!(
                    t.default_not_ready_toleration,
                    Some(Duration::from_secs(20))
                );
                assert_eq!(
                    t.default_unreachable_toleration,
                    Some(Duration::from_secs(20))
                );
                let lease = t
                    .node_lease_duration
                    .expect("fast profile shortens the lease");
                assert!(
                    lease < Duration::from_secs(10),
                    "the lease must be renewed within the 10 s grace period: {lease:?}"
                );
            } else {
                assert_eq!(
                    t,
                    Default::default(),
                    "default profile keeps Kubernetes' defaults"
                );
            }
        }
    }
}

#[test]
fn print_config_rejects_bad_inputs() {
    for (k, v) in [
        ("KUBERNETES_VERSION", "1.25"),
        ("KUBERNETES_VERSION", "latest"),
        ("TIMING_PROFILE", "slow"),
    ] {
        let out = Command::new("bash")
            .arg(root().join("fixtures/scripts/master.sh"))
            .arg("print-config")
            .env("NODE_IP", "192.168.49.2")
            .env("NODE_NAME", "minikube")
            .env(k, v)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{k}={v} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("master.sh: "),
            "{k}={v}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Deserialises `doc` into its k8s-openapi type and back, and checks nothing was dropped or
/// changed (k8s-openapi ignores unknown fields, so a typo would otherwise pass).
fn check_typed(doc: &Value) {
    use k8s_openapi::api::{apps, core, networking, rbac};
    fn round<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) -> Value {
        let typed: T = serde_json::from_value(doc.clone())
            .unwrap_or_else(|e| panic!("{} {}: {e}", doc["kind"], doc["metadata"]["name"]));
        serde_json::to_value(typed).unwrap()
    }
    let back = match doc["kind"].as_str().unwrap_or_default() {
        "Namespace" => round::<core::v1::Namespace>(doc),
        "ServiceAccount" => round::<core::v1::ServiceAccount>(doc),
        "ConfigMap" => round::<core::v1::ConfigMap>(doc),
        "Service" => round::<core::v1::Service>(doc),
        "ClusterRole" => round::<rbac::v1::ClusterRole>(doc),
        "ClusterRoleBinding" => round::<rbac::v1::ClusterRoleBinding>(doc),
        "DaemonSet" => round::<apps::v1::DaemonSet>(doc),
        "Deployment" => round::<apps::v1::Deployment>(doc),
        "Ingress" => round::<networking::v1::Ingress>(doc),
        other => panic!("unexpected kind {other} in a course manifest"),
    };
    assert_eq!(
        &back, doc,
        "{} {} changed in a round trip",
        doc["kind"], doc["metadata"]["name"]
    );
}

fn docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn flannel_manifest_is_valid_and_has_two_init_containers() {
    let d = docs(&master(&["print-manifest", "flannel"], &[]));
    d.iter().for_each(check_typed);
    let kinds: Vec<&str> = d.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    // The course's `kubectl apply -f flannel.yaml` output order.
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ClusterRole",
            "ClusterRoleBinding",
            "ServiceAccount",
            "ConfigMap",
            "DaemonSet"
        ]
    );
    let ds = find(&d, "DaemonSet");
    assert_eq!(ds["metadata"]["name"], "kube-flannel-ds");
    assert_eq!(ds["metadata"]["namespace"], "kube-flannel");
    let spec = &ds["spec"]["template"]["spec"];
    let init: Vec<&str> = spec["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(init, ["install-cni-plugin", "install-cni"]);
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["containers"][0]["args"][1], "--kube-subnet-mgr");
    let net: Value = serde_json::from_str(
        find(&d, "ConfigMap")["data"]["net-conf.json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(net["Network"], "10.244.0.0/16");
}

#[test]
fn traefik_manifest_is_a_daemonset_on_port_80_with_a_ping_probe() {
    let d = docs(&master(&["print-manifest", "traefik"], &[]));
    d.iter().for_each(check_typed);
    let kinds: Vec<&str> = d.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "DaemonSet"
        ]
    );
    let c = &find(&d, "DaemonSet")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["ports"][0]["hostPort"], 80);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ping");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], 8080);
    assert!(c["args"].as_array().unwrap().iter().any(|a| a == "--ping"));
}

#[test]
fn hello_world_manifest_matches_the_course() {
    let text = std::fs::read_to_string(root().join("fixtures/manifests/hello-world.yaml")).unwrap();
    let d = docs(&text);
    d.iter().for_each(check_typed);
    let dep = find(&d, "Deployment");
    assert_eq!(dep["metadata"]["name"], "hello-world");
    assert_eq!(dep["spec"]["replicas"], 2);
    assert_eq!(
        dep["spec"]["template"]["metadata"]["labels"]["app"],
        "hello"
    );
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
        9898
    );
    assert_eq!(find(&d, "Service")["spec"]["selector"]["app"], "hello");
    assert_eq!(
        find(&d, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["path"],
        "/"
    );
}

#[test]
fn scripts_are_shellcheck_clean() {
    let Ok(out) = Command::new("shellcheck")
        .arg(root().join("fixtures/scripts/master.sh"))
        .arg(root().join("fixtures/scripts/worker.sh"))
        .output()
    else {
        panic!("shellcheck is not installed: apt-get install shellcheck");
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
