//! The environment record every report carries: what ran (k8s-labs version and commit, provider
//! and its version, kubectl, OS, timing profile) and what it ran against (Kubernetes version as
//! the API server reports it, container runtime, etcd, CNI and ingress versions, the timing values
//! the cluster is configured with).
//!
//! Everything is best effort: what cannot be learned is left out with a note saying why, never a
//! reason to fail the run.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{Api, ListParams};
use serde::{Deserialize, Serialize};

use crate::provider::Minikube;
use crate::runner::{Command, Runner};
use crate::settings::Settings;
use crate::versions::K8sVersion;

/// Where and with what a run ran.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Environment {
    /// k8s-labs' version.
    pub labs_version: String,
    /// The checkout's commit (`-dirty` when it has uncommitted changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `minikube` or `labsim`.
    pub provider: String,
    /// What `minikube version` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_version: Option<String>,
    /// The Kubernetes version asked for (`--k8s-version`).
    pub requested_k8s_version: String,
    /// The timing profile (`default`, `fast`).
    pub timing_profile: String,
    /// What `kubectl version --client` says on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubectl_version: Option<String>,
    /// The host's OS and kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The cluster, as the last scenario that had one found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterEnvironment>,
    /// What could not be learned, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A cluster as a scenario found it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClusterEnvironment {
    /// `gitVersion` from the API server's `/version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// The kubectl client the host's kubectl runs against this server (the dispatcher picks it by
    /// the server's version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubectl_client: Option<String>,
    /// Container runtime per node (`containerd://1.7.13`), from the nodes' `nodeInfo`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub container_runtimes: BTreeMap<String, String>,
    /// Kubelet version per node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kubelets: BTreeMap<String, String>,
    /// etcd's version as etcd reports it (`/version`), else its pod's image tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd_version: Option<String>,
    /// The CNI's image (`flannel:v0.24.2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni: Option<String>,
    /// The ingress controller's image (`traefik:v3.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    /// The timing values in force: setting → value and where it comes from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timing: BTreeMap<String, TimingValue>,
    /// What could not be learned, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One timing value in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimingValue {
    /// The value as configured or defaulted (`40s`, `300`).
    pub value: String,
    /// The value as a duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    /// `kubeadm-config` (set in the cluster's kubeadm configuration) or `default` (the
    /// component's default for this Kubernetes version).
    pub source: String,
}

impl TimingValue {
    /// The value as a duration, if it is one.
    #[must_use]
    pub fn duration(&self) -> Option<Duration> {
        self.seconds.map(Duration::from_secs)
    }
}

/// The node lifecycle controller's grace period flag.
pub const NODE_MONITOR_GRACE_PERIOD: &str = "kube-controller-manager --node-monitor-grace-period";
/// The node lifecycle controller's monitor period flag.
pub const NODE_MONITOR_PERIOD: &str = "kube-controller-manager --node-monitor-period";
/// The removed eviction flag (refused from 1.27).
pub const POD_EVICTION_TIMEOUT: &str = "kube-controller-manager --pod-eviction-timeout";
/// DefaultTolerationSeconds admission: the `unreachable` toleration.
pub const UNREACHABLE_TOLERATION: &str = "kube-apiserver --default-unreachable-toleration-seconds";
/// DefaultTolerationSeconds admission: the `not-ready` toleration.
pub const NOT_READY_TOLERATION: &str = "kube-apiserver --default-not-ready-toleration-seconds";

/// Reads a Go duration (`40s`, `1m30s`, `500ms`) or plain seconds (`300`).
#[must_use]
pub fn parse_seconds(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Some(n);
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = t.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        any = true;
    }
    (any && number.is_empty()).then(|| total.round() as u64)
}

/// The `extraArgs` of a kubeadm ClusterConfiguration component, in either shape (v1beta3: a map;
/// v1beta4: a list of `{name, value}`, K8S-FACTS.md "kubeadm").
fn extra_arg(cluster_config: &serde_json::Value, component: &str, flag: &str) -> Option<String> {
    let args = cluster_config.get(component)?.get("extraArgs")?;
    match args {
        serde_json::Value::Object(m) => m.get(flag)?.as_str().map(str::to_string),
        serde_json::Value::Array(items) => items
            .iter()
            .rev()
            .find(|i| i.get("name").and_then(|n| n.as_str()) == Some(flag))
            .and_then(|i| i.get("value"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        _ => None,
    }
}

/// The timing values in force, from kubeadm's `ClusterConfiguration` (the `kubeadm-config`
/// ConfigMap's text) or, when a flag is not set there, the default of `version`.
#[must_use]
pub fn timing_values(
    cluster_config: Option<&str>,
    version: K8sVersion,
) -> BTreeMap<String, TimingValue> {
    let config: serde_json::Value = cluster_config
        .and_then(|t| serde_saphyr::from_str(t).ok())
        .unwrap_or(serde_json::Value::Null);
    // kube-controller-manager's --node-monitor-grace-period: 40s, 50s since 1.32 (PR 126287,
    // pkg/controller/nodelifecycle/config/v1alpha1/defaults.go); --node-monitor-period 5s
    // (KubeCloudSharedConfiguration, staging/src/k8s.io/cloud-provider/config/v1alpha1/defaults.go).
    // kube-apiserver's DefaultTolerationSeconds admission: 300 s for both tolerations
    // (plugin/pkg/admission/defaulttolerationseconds/admission.go).
    let grace = if version.minor() >= 32 { "50s" } else { "40s" };
    let rows: [(&str, &str, &str, Option<&str>); 5] = [
        (
            NODE_MONITOR_GRACE_PERIOD,
            "controllerManager",
            "node-monitor-grace-period",
            Some(grace),
        ),
        (
            NODE_MONITOR_PERIOD,
            "controllerManager",
            "node-monitor-period",
            Some("5s"),
        ),
        (
            UNREACHABLE_TOLERATION,
            "apiServer",
            "default-unreachable-toleration-seconds",
            Some("300"),
        ),
        (
            NOT_READY_TOLERATION,
            "apiServer",
            "default-not-ready-toleration-seconds",
            Some("300"),
        ),
        // Removed in 1.27 (kube-controller-manager refuses it); no default worth showing.
        (
            POD_EVICTION_TIMEOUT,
            "controllerManager",
            "pod-eviction-timeout",
            None,
        ),
    ];
    let mut out = BTreeMap::new();
    for (name, component, flag, default) in rows {
        let (value, source) = match extra_arg(&config, component, flag) {
            Some(v) => (v, "kubeadm-config"),
            None => match default {
                Some(d) => (d.to_string(), "default"),
                None => continue,
            },
        };
        out.insert(
            name.to_string(),
            TimingValue {
                seconds: parse_seconds(&value),
                value,
                source: source.to_string(),
            },
        );
    }
    out
}

/// The tag of an image reference (`registry.k8s.io/etcd:3.5.21-0` → `3.5.21-0`).
fn image_tag(image: &str) -> Option<&str> {
    let last = image.rsplit('/').next()?;
    last.split_once(':')
        .map(|(_, t)| t.split('@').next().unwrap_or(t))
}

/// The short image name with its tag (`ghcr.io/flannel-io/flannel:v0.24.2` → `flannel:v0.24.2`).
fn short_image(image: &str) -> String {
    image.rsplit('/').next().unwrap_or(image).to_string()
}

/// The first container image among `images` whose short name contains one of `names`.
fn find_image(images: &[String], names: &[&str]) -> Option<String> {
    images
        .iter()
        .find(|i| {
            let short = short_image(i);
            names.iter().any(|n| short.starts_with(n))
        })
        .map(|i| short_image(i))
}

/// Reads the run-level facts: version, commit, provider and kubectl versions, OS.
pub async fn collect_run(runner: &Runner, settings: &Settings, checkout: &Path) -> Environment {
    let mut env = Environment {
        labs_version: env!("CARGO_PKG_VERSION").to_string(),
        provider: settings.provider.to_string(),
        requested_k8s_version: settings.k8s_version.to_string(),
        timing_profile: settings.timing.to_string(),
        ..Environment::default()
    };
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(checkout.to_string_lossy())
            .args(args.iter().copied())
            .timeout(Duration::from_secs(10))
            .note("environment record: the checkout's commit")
    };
    match runner.run(&git(&["rev-parse", "--short=12", "HEAD"])).await {
        Ok(out) if out.success() => {
            let mut commit = out.stdout.trim().to_string();
            if let Ok(status) = runner
                .run(&git(&["status", "--porcelain", "--untracked-files=no"]))
                .await
                && status.success()
                && !status.stdout.trim().is_empty()
            {
                commit.push_str("-dirty");
            }
            env.commit = Some(commit);
        }
        Ok(out) => env
            .notes
            .push(format!("commit unknown: git exited {}", out.ending)),
        Err(e) => env.notes.push(format!("commit unknown: {e}")),
    }
    let minikube = Command::new(settings.minikube.to_string_lossy())
        .arg("version")
        .timeout(Duration::from_secs(30))
        .note("environment record: the provider's version");
    match runner.run(&minikube).await {
        Ok(out) if out.success() => {
            env.provider_version = Some(
                out.stdout
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        Ok(out) => env.notes.push(format!(
            "provider version unknown: `minikube version` exited {}",
            out.ending
        )),
        Err(e) => env.notes.push(format!("provider version unknown: {e}")),
    }
    let kubectl = Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .timeout(Duration::from_secs(30))
        .note("environment record: the host's kubectl");
    match runner.run(&kubectl).await {
        Ok(out) if out.success() => env.kubectl_version = client_version(&out.stdout),
        Ok(out) => env
            .notes
            .push(format!("kubectl version unknown: exited {}", out.ending)),
        Err(e) => env.notes.push(format!("kubectl version unknown: {e}")),
    }
    env.os = os_description();
    env
}

/// `clientVersion.gitVersion` of `kubectl version -o json`.
fn client_version(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["clientVersion"]["gitVersion"]
        .as_str()
        .map(str::to_string)
}

/// `PRETTY_NAME` of `/etc/os-release` and the kernel release.
fn os_description() -> Option<String> {
    let release = std::fs::read_to_string("/etc/os-release").ok();
    let pretty = release.as_deref().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|k| k.trim().to_string());
    match (pretty, kernel) {
        (Some(p), Some(k)) => Some(format!("{p}, Linux {k}")),
        (Some(p), None) => Some(p),
        (None, Some(k)) => Some(format!("Linux {k}")),
        (None, None) => None,
    }
}

/// What a cluster says about itself, through its API (kube-rs), the host's kubectl (through the
/// runner) and, for etcd's own version, a `curl` on the control-plane node (through the provider).
pub async fn collect_cluster(
    client: &kube::Client,
    kubeconfig: &Path,
    runner: &Runner,
    minikube: &Minikube,
    version: K8sVersion,
) -> ClusterEnvironment {
    let mut env = ClusterEnvironment::default();
    match client.apiserver_version().await {
        Ok(info) => env.kubernetes_version = Some(info.git_version),
        Err(e) => env.notes.push(format!(
            "Kubernetes version unknown: GET /version failed: {e}"
        )),
    }
    let kubectl = Command::new("kubectl")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(["version", "-o", "json"])
        .timeout(Duration::from_secs(30))
        .note("environment record: the kubectl client used against this cluster");
    if let Ok(out) = runner.run(&kubectl).await {
        env.kubectl_client = client_version(&out.stdout);
    }
    match Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(nodes) => {
            for node in nodes.items {
                let name = node.metadata.name.clone().unwrap_or_default();
                if let Some(info) = node.status.and_then(|s| s.node_info) {
                    env.container_runtimes
                        .insert(name.clone(), info.container_runtime_version);
                    env.kubelets.insert(name, info.kubelet_version);
                }
            }
        }
        Err(e) => env.notes.push(format!(
            "container runtime unknown: listing nodes failed: {e}"
        )),
    }
    let mut images = Vec::new();
    if let Ok(list) = Api::<DaemonSet>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        for ds in list.items {
            images.extend(pod_images(ds.spec.and_then(|s| s.template.spec)));
        }
    }
    if let Ok(list) = Api::<Deployment>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        for d in list.items {
            images.extend(pod_images(d.spec.and_then(|s| s.template.spec)));
        }
    }
    env.cni = find_image(
        &images,
        &["flannel", "calico", "cilium", "weave", "kindnet"],
    );
    env.ingress = find_image(&images, &["traefik", "ingress-nginx", "haproxy"]);
    if env.cni.is_none() {
        env.notes
            .push("no CNI DaemonSet found (flannel, calico, cilium, weave, kindnet)".into());
    }
    if env.ingress.is_none() {
        env.notes
            .push("no ingress controller found (traefik, ingress-nginx, haproxy)".into());
    }
    env.etcd_version = etcd_version(client, minikube, &mut env.notes).await;
    let cluster_config = Api::<ConfigMap>::namespaced(client.clone(), "kube-system")
        .get_opt("kubeadm-config")
        .await
        .ok()
        .flatten()
        .and_then(|cm| cm.data)
        .and_then(|d| d.get("ClusterConfiguration").cloned());
    if cluster_config.is_none() {
        env.notes
            .push("no kube-system/kubeadm-config ConfigMap: timing values are the defaults".into());
    }
    env.timing = timing_values(cluster_config.as_deref(), version);
    env
}

fn pod_images(spec: Option<k8s_openapi::api::core::v1::PodSpec>) -> Vec<String> {
    spec.map(|s| s.containers.into_iter().filter_map(|c| c.image).collect())
        .unwrap_or_default()
}

/// The value of `--flag=value` in a command line.
fn flag<'a>(command: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    command.iter().find_map(|a| a.strip_prefix(prefix.as_str()))
}

/// etcd's version: asked of etcd itself (`GET /version` on its client URL, with the certificate
/// files its static pod uses: kubeadm's etcd server certificate is also a client certificate,
/// `cmd/kubeadm/app/phases/certs/certlist.go`), else its pod's image tag.
async fn etcd_version(
    client: &kube::Client,
    minikube: &Minikube,
    notes: &mut Vec<String>,
) -> Option<String> {
    let pods = Api::<Pod>::namespaced(client.clone(), "kube-system")
        .list(&ListParams::default().labels("component=etcd"))
        .await
        .ok()?;
    let pod = pods.items.into_iter().next()?;
    let node = pod.spec.as_ref()?.node_name.clone()?;
    let container = pod.spec.as_ref()?.containers.first()?.clone();
    let image = container.image.clone().unwrap_or_default();
    let tag = image_tag(&image).map(|t| format!("{t} (image)"));
    let mut command = container.command.clone().unwrap_or_default();
    command.extend(container.args.clone().unwrap_or_default());
    let (Some(url), Some(ca), Some(cert), Some(key)) = (
        flag(&command, "listen-client-urls").and_then(|u| u.split(',').next()),
        flag(&command, "trusted-ca-file"),
        flag(&command, "cert-file"),
        flag(&command, "key-file"),
    ) else {
        return tag;
    };
    let script =
        format!("sudo curl -sS --max-time 5 --cacert {ca} --cert {cert} --key {key} {url}/version");
    match minikube
        .ssh_with_timeout(&node, &script, Duration::from_secs(30))
        .await
    {
        Ok(out) if out.success() => {
            let v: serde_json::Value = serde_json::from_str(out.output.trim()).unwrap_or_default();
            match v["etcdserver"].as_str() {
                Some(server) => Some(server.to_string()),
                None => tag,
            }
        }
        Ok(out) => {
            notes.push(format!(
                "etcd did not answer /version on {node} (exit {}): its image tag is shown",
                out.code
            ));
            tag
        }
        Err(e) => {
            notes.push(format!("etcd's version could not be asked on {node}: {e}"));
            tag
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_values_from_either_kubeadm_shape_or_the_defaults() {
        let v1beta4 = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n  - name: node-monitor-grace-period\n    value: 10s\napiServer:\n  extraArgs:\n  - name: default-unreachable-toleration-seconds\n    value: \"20\"\n";
        let t = timing_values(Some(v1beta4), "1.33".parse().unwrap());
        assert_eq!(
            t[NODE_MONITOR_GRACE_PERIOD],
            TimingValue {
                value: "10s".into(),
                seconds: Some(10),
                source: "kubeadm-config".into()
            }
        );
        assert_eq!(
            t[UNREACHABLE_TOLERATION].duration(),
            Some(Duration::from_secs(20))
        );
        assert_eq!(t[NOT_READY_TOLERATION].source, "default");
        assert!(!t.contains_key(POD_EVICTION_TIMEOUT));

        let v1beta3 = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n    pod-eviction-timeout: 1m30s\n";
        let t = timing_values(Some(v1beta3), "1.26".parse().unwrap());
        assert_eq!(t[NODE_MONITOR_GRACE_PERIOD].value, "40s");
        assert_eq!(t[POD_EVICTION_TIMEOUT].seconds, Some(90));
        let t = timing_values(None, "1.32".parse().unwrap());
        assert_eq!(t[NODE_MONITOR_GRACE_PERIOD].value, "50s");
    }

    #[test]
    fn durations_and_images() {
        assert_eq!(parse_seconds("40s"), Some(40));
        assert_eq!(parse_seconds("1m30s"), Some(90));
        assert_eq!(parse_seconds("300"), Some(300));
        assert_eq!(parse_seconds("1h"), Some(3600));
        assert_eq!(parse_seconds("soon"), None);
        assert_eq!(parse_seconds("5"), Some(5));
        assert_eq!(image_tag("registry.k8s.io/etcd:3.5.21-0"), Some("3.5.21-0"));
        assert_eq!(image_tag("localhost:5000/etcd"), None);
        let images = vec![
            "docker.io/flannel/flannel-cni-plugin:v1.4.0-flannel1".to_string(),
            "ghcr.io/flannel-io/flannel:v0.24.2".to_string(),
            "traefik:v3.0".to_string(),
        ];
        assert_eq!(
            find_image(&images, &["flannel"]),
            Some("flannel-cni-plugin:v1.4.0-flannel1".into())
        );
        assert_eq!(
            find_image(&images, &["traefik"]),
            Some("traefik:v3.0".into())
        );
        assert_eq!(
            client_version(r#"{"clientVersion":{"gitVersion":"v1.33.1"}}"#),
            Some("v1.33.1".into())
        );
        assert_eq!(
            flag(&["etcd".into(), "--cert-file=/a/b.crt".into()], "cert-file"),
            Some("/a/b.crt")
        );
    }
}
