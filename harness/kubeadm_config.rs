//! The kubeadm configuration our provisioning script writes (`fixtures/scripts/master.sh
//! print-config`, left on the control-plane node as `config.yaml`), as the harness's own serde
//! types, and the timing values the harness asserts against.
//!
//! The types cover exactly what `master.sh` writes, with `deny_unknown_fields`: a field the script
//! starts writing must be added here on purpose. Both kubeadm API shapes are read:
//! `kubeadm.k8s.io/v1beta3` (`extraArgs` maps) and `v1beta4` (`extraArgs` lists of `{name, value}`;
//! K8S-FACTS.md "kubeadm"). They are the harness's copy, independent of labsim's parser, so that
//! the two cannot share a mistake.
//!
//! ```
//! let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 192.168.49.2\n  bindPort: 8443\nnodeRegistration:\n  criSocket: unix:///run/containerd/containerd.sock\n  name: minikube\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n  - name: node-monitor-grace-period\n    value: 10s\n";
//! let cfg = k8s_labs::kubeadm_config::KubeadmConfig::parse(text).unwrap();
//! assert_eq!(cfg.timings().node_monitor_grace_period, Some(std::time::Duration::from_secs(10)));
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Errors reading a kubeadm configuration file.
#[derive(Debug, thiserror::Error)]
pub enum KubeadmConfigError {
    /// The file could not be read.
    #[error(
        "cannot read kubeadm config {path}: {source}; was it copied from the control-plane node?"
    )]
    Read {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML.
    #[error("kubeadm config is not valid YAML: {0}")]
    Yaml(String),
    /// A document does not match our types (unknown field, wrong type).
    #[error(
        "kubeadm config document {kind} ({api_version}) does not match the harness's types: {detail}"
    )]
    Shape {
        /// The document's kind.
        kind: String,
        /// The document's apiVersion.
        api_version: String,
        /// serde's message (names the field).
        detail: String,
    },
    /// A document kind or API version the script does not write.
    #[error(
        "unexpected document {kind} ({api_version}) in the kubeadm config: master.sh writes InitConfiguration, ClusterConfiguration (kubeadm.k8s.io/v1beta3 or v1beta4) and KubeletConfiguration"
    )]
    UnexpectedDocument {
        /// The kind.
        kind: String,
        /// The apiVersion.
        api_version: String,
    },
    /// A required document is missing.
    #[error("the kubeadm config has no {0} document")]
    Missing(&'static str),
    /// `extraArgs` of the wrong shape for the API version.
    #[error("{field} is written as a {found} but {api_version} needs a {expected}")]
    ArgsShape {
        /// Where.
        field: String,
        /// `map` or `list`.
        found: &'static str,
        /// `map` or `list`.
        expected: &'static str,
        /// The API version.
        api_version: String,
    },
    /// The InitConfiguration and ClusterConfiguration use different API versions.
    #[error(
        "InitConfiguration is {init} but ClusterConfiguration is {cluster}: use one kubeadm API version"
    )]
    MixedVersions {
        /// The InitConfiguration's.
        init: String,
        /// The ClusterConfiguration's.
        cluster: String,
    },
    /// A timing value that does not parse.
    #[error("{field}={value:?} is not a duration such as 40s or 1m30s")]
    BadDuration {
        /// The flag.
        field: String,
        /// The value.
        value: String,
    },
}

/// The kubeadm config API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeadmApi {
    /// `kubeadm.k8s.io/v1beta3` (Kubernetes 1.22–1.35).
    V1beta3,
    /// `kubeadm.k8s.io/v1beta4` (Kubernetes 1.31+).
    V1beta4,
}

/// `extraArgs` / `kubeletExtraArgs` in either shape.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ExtraArgs {
    /// v1beta3: a map.
    Map(BTreeMap<String, String>),
    /// v1beta4: a list of `{name, value}`.
    List(Vec<Arg>),
}

impl ExtraArgs {
    /// The value of `name` (the last one in a list).
    pub fn get(&self, name: &str) -> Option<&str> {
        match self {
            ExtraArgs::Map(m) => m.get(name).map(String::as_str),
            ExtraArgs::List(l) => l
                .iter()
                .rev()
                .find(|a| a.name == name)
                .map(|a| a.value.as_str()),
        }
    }

    fn shape(&self) -> &'static str {
        match self {
            ExtraArgs::Map(_) => "map",
            ExtraArgs::List(_) => "list",
        }
    }
}

/// A v1beta4 argument.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    /// Flag name without dashes.
    pub name: String,
    /// Value.
    pub value: String,
}

/// `InitConfiguration` as master.sh writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitConfiguration {
    /// `kubeadm.k8s.io/v1beta3|v1beta4`.
    pub api_version: String,
    /// `InitConfiguration`.
    pub kind: String,
    /// Where the API server listens.
    #[serde(rename = "localAPIEndpoint")]
    pub local_api_endpoint: ApiEndpoint,
    /// The node's registration.
    pub node_registration: NodeRegistration,
}

/// `localAPIEndpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiEndpoint {
    /// The node IP.
    pub advertise_address: String,
    /// 8443 in the course.
    pub bind_port: u16,
}

/// `nodeRegistration`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRegistration {
    /// The CRI socket.
    pub cri_socket: String,
    /// The node name.
    pub name: String,
    /// Checks to ignore.
    #[serde(default)]
    pub ignore_preflight_errors: Vec<String>,
    /// Extra kubelet flags.
    pub kubelet_extra_args: Option<ExtraArgs>,
}

/// `ClusterConfiguration` as master.sh writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterConfiguration {
    /// `kubeadm.k8s.io/v1beta3|v1beta4`.
    pub api_version: String,
    /// `ClusterConfiguration`.
    pub kind: String,
    /// `clusterName`.
    pub cluster_name: Option<String>,
    /// `kubernetesVersion` (`v1.33.7`).
    pub kubernetes_version: Option<String>,
    /// `certificatesDir` (`/var/lib/minikube/certs` for the course's etcdctl alias).
    pub certificates_dir: Option<String>,
    /// `networking`.
    pub networking: Option<Networking>,
    /// `etcd`.
    pub etcd: Option<Etcd>,
    /// `apiServer`.
    pub api_server: Option<Component>,
    /// `controllerManager`.
    pub controller_manager: Option<Component>,
    /// `scheduler`.
    pub scheduler: Option<Component>,
}

/// `networking`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    /// `cluster.local`.
    pub dns_domain: Option<String>,
    /// `10.244.0.0/16` (flannel's).
    pub pod_subnet: Option<String>,
    /// `10.96.0.0/12`.
    pub service_subnet: Option<String>,
}

/// `etcd`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Etcd {
    /// The stacked etcd.
    pub local: Option<EtcdLocal>,
}

/// `etcd.local`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EtcdLocal {
    /// `dataDir`.
    pub data_dir: Option<String>,
    /// `extraArgs`.
    pub extra_args: Option<ExtraArgs>,
}

/// `apiServer`, `controllerManager`, `scheduler`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Component {
    /// `extraArgs`.
    pub extra_args: Option<ExtraArgs>,
}

/// `KubeletConfiguration` (kubelet.config.k8s.io/v1beta1) as master.sh writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeletConfiguration {
    /// `kubelet.config.k8s.io/v1beta1`.
    pub api_version: String,
    /// `KubeletConfiguration`.
    pub kind: String,
    /// `systemd` or `cgroupfs`.
    pub cgroup_driver: Option<String>,
    /// `failSwapOn`.
    pub fail_swap_on: Option<bool>,
    /// `nodeLeaseDurationSeconds` (default 40; the lease is renewed every quarter of it).
    pub node_lease_duration_seconds: Option<u32>,
    /// `authentication` (only the client CA is set by the provisioning script).
    pub authentication: Option<KubeletAuthentication>,
}

/// `KubeletConfiguration.authentication`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeletAuthentication {
    /// `x509`.
    pub x509: Option<KubeletX509Authentication>,
}

/// `KubeletConfiguration.authentication.x509`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubeletX509Authentication {
    /// `clientCAFile`: the CA that signs the certificates of clients of the kubelet's API.
    #[serde(rename = "clientCAFile")]
    pub client_ca_file: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeadmConfig {
    /// The kubeadm API version of the file.
    pub api: KubeadmApi,
    /// `InitConfiguration`.
    pub init: InitConfiguration,
    /// `ClusterConfiguration`.
    pub cluster: ClusterConfiguration,
    /// `KubeletConfiguration`, if present.
    pub kubelet: Option<KubeletConfiguration>,
}

/// The timing values a config sets (None: the Kubernetes default applies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// kube-controller-manager `--node-monitor-grace-period`.
    pub node_monitor_grace_period: Option<Duration>,
    /// kube-apiserver `--default-not-ready-toleration-seconds`.
    pub default_not_ready_toleration: Option<Duration>,
    /// kube-apiserver `--default-unreachable-toleration-seconds`.
    pub default_unreachable_toleration: Option<Duration>,
    /// kubelet `nodeLeaseDurationSeconds`.
    pub node_lease_duration: Option<Duration>,
}

fn shape_err(doc: &Value, e: serde_json::Error) -> KubeadmConfigError {
    KubeadmConfigError::Shape {
        kind: doc["kind"].as_str().unwrap_or_default().to_string(),
        api_version: doc["apiVersion"].as_str().unwrap_or_default().to_string(),
        detail: e.to_string(),
    }
}

/// Go duration text (`10s`, `1m30s`, `500ms`, `1h`).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += num * scale;
        rest = &rest[u..];
    }
    Some(Duration::from_secs_f64(total))
}

impl KubeadmConfig {
    /// Parses the multi-document YAML text.
    ///
    /// # Errors
    /// [`KubeadmConfigError`] naming the document and field.
    pub fn parse(text: &str) -> Result<KubeadmConfig, KubeadmConfigError> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text)
            .map_err(|e| KubeadmConfigError::Yaml(e.to_string()))?;
        let mut init = None;
        let mut cluster = None;
        let mut kubelet = None;
        for doc in docs.into_iter().filter(|d| !d.is_null()) {
            let api_version = doc["apiVersion"].as_str().unwrap_or_default().to_string();
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            match (api_version.as_str(), kind.as_str()) {
                ("kubeadm.k8s.io/v1beta3" | "kubeadm.k8s.io/v1beta4", "InitConfiguration") => {
                    init = Some(
                        serde_json::from_value::<InitConfiguration>(doc.clone())
                            .map_err(|e| shape_err(&doc, e))?,
                    );
                }
                ("kubeadm.k8s.io/v1beta3" | "kubeadm.k8s.io/v1beta4", "ClusterConfiguration") => {
                    cluster = Some(
                        serde_json::from_value::<ClusterConfiguration>(doc.clone())
                            .map_err(|e| shape_err(&doc, e))?,
                    );
                }
                ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration") => {
                    kubelet = Some(
                        serde_json::from_value::<KubeletConfiguration>(doc.clone())
                            .map_err(|e| shape_err(&doc, e))?,
                    );
                }
                _ => return Err(KubeadmConfigError::UnexpectedDocument { kind, api_version }),
            }
        }
        let init: InitConfiguration =
            init.ok_or(KubeadmConfigError::Missing("InitConfiguration"))?;
        let cluster: ClusterConfiguration =
            cluster.ok_or(KubeadmConfigError::Missing("ClusterConfiguration"))?;
        if init.api_version != cluster.api_version {
            return Err(KubeadmConfigError::MixedVersions {
                init: init.api_version,
                cluster: cluster.api_version,
            });
        }
        let api = if cluster.api_version.ends_with("v1beta4") {
            KubeadmApi::V1beta4
        } else {
            KubeadmApi::V1beta3
        };
        let cfg = KubeadmConfig {
            api,
            init,
            cluster,
            kubelet,
        };
        cfg.check_args_shape()?;
        Ok(cfg)
    }

    /// Checks that every `extraArgs` has the shape of the file's API version.
    fn check_args_shape(&self) -> Result<(), KubeadmConfigError> {
        let expected = match self.api {
            KubeadmApi::V1beta3 => "map",
            KubeadmApi::V1beta4 => "list",
        };
        let c = &self.cluster;
        let fields = [
            (
                "nodeRegistration.kubeletExtraArgs",
                self.init.node_registration.kubelet_extra_args.as_ref(),
            ),
            (
                "apiServer.extraArgs",
                c.api_server.as_ref().and_then(|x| x.extra_args.as_ref()),
            ),
            (
                "controllerManager.extraArgs",
                c.controller_manager
                    .as_ref()
                    .and_then(|x| x.extra_args.as_ref()),
            ),
            (
                "scheduler.extraArgs",
                c.scheduler.as_ref().and_then(|x| x.extra_args.as_ref()),
            ),
            (
                "etcd.local.extraArgs",
                c.etcd
                    .as_ref()
                    .and_then(|e| e.local.as_ref())
                    .and_then(|l| l.extra_args.as_ref()),
            ),
        ];
        for (field, args) in fields {
            if let Some(a) = args
                && a.shape() != expected
            {
                return Err(KubeadmConfigError::ArgsShape {
                    field: field.into(),
                    found: a.shape(),
                    expected,
                    api_version: c.api_version.clone(),
                });
            }
        }
        Ok(())
    }

    /// Reads a config file.
    ///
    /// # Errors
    /// [`KubeadmConfigError`].
    pub fn read(path: &Path) -> Result<KubeadmConfig, KubeadmConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| KubeadmConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The timing values the config sets.
    pub fn timings(&self) -> Timings {
        self.try_timings().unwrap_or_default()
    }

    /// The timing values, failing on values that do not parse.
    ///
    /// # Errors
    /// [`KubeadmConfigError::BadDuration`].
    pub fn try_timings(&self) -> Result<Timings, KubeadmConfigError> {
        let arg = |c: &Option<Component>, name: &str| {
            c.as_ref()
                .and_then(|x| x.extra_args.as_ref())
                .and_then(|a| a.get(name))
                .map(str::to_string)
        };
        let dur =
            |field: &str, v: Option<String>| -> Result<Option<Duration>, KubeadmConfigError> {
                v.map(|v| {
                    parse_go_duration(&v).ok_or(KubeadmConfigError::BadDuration {
                        field: field.into(),
                        value: v,
                    })
                })
                .transpose()
            };
        let secs =
            |field: &str, v: Option<String>| -> Result<Option<Duration>, KubeadmConfigError> {
                v.map(|v| {
                    v.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                        KubeadmConfigError::BadDuration {
                            field: field.into(),
                            value: v,
                        }
                    })
                })
                .transpose()
            };
        Ok(Timings {
            node_monitor_grace_period: dur(
                "node-monitor-grace-period",
                arg(
                    &self.cluster.controller_manager,
                    "node-monitor-grace-period",
                ),
            )?,
            default_not_ready_toleration: secs(
                "default-not-ready-toleration-seconds",
                arg(
                    &self.cluster.api_server,
                    "default-not-ready-toleration-seconds",
                ),
            )?,
            default_unreachable_toleration: secs(
                "default-unreachable-toleration-seconds",
                arg(
                    &self.cluster.api_server,
                    "default-unreachable-toleration-seconds",
                ),
            )?,
            node_lease_duration: self
                .kubelet
                .as_ref()
                .and_then(|k| k.node_lease_duration_seconds)
                .map(|s| Duration::from_secs(s.into())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3: &str = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 192.168.49.2\n  bindPort: 8443\nnodeRegistration:\n  criSocket: unix:///run/containerd/containerd.sock\n  name: minikube\n  kubeletExtraArgs:\n    node-ip: \"192.168.49.2\"\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n    node-monitor-grace-period: \"10s\"\napiServer:\n  extraArgs:\n    default-not-ready-toleration-seconds: \"20\"\n    default-unreachable-toleration-seconds: \"20\"\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nnodeLeaseDurationSeconds: 8\n";

    #[test]
    fn reads_timings_from_v1beta3() {
        let c = KubeadmConfig::parse(V3).unwrap();
        assert_eq!(c.api, KubeadmApi::V1beta3);
        let t = c.timings();
        assert_eq!(t.node_monitor_grace_period, Some(Duration::from_secs(10)));
        assert_eq!(
            t.default_not_ready_toleration,
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            t.default_unreachable_toleration,
            Some(Duration::from_secs(20))
        );
        assert_eq!(t.node_lease_duration, Some(Duration::from_secs(8)));
    }

    #[test]
    fn rejects_unknown_fields_and_wrong_shapes() {
        let e =
            KubeadmConfig::parse(&V3.replace("bindPort: 8443", "bindPort: 8443\n  bindPorts: 1"))
                .unwrap_err();
        assert!(e.to_string().contains("unknown field `bindPorts`"), "{e}");
        let e =
            KubeadmConfig::parse(&V3.replace("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"))
                .unwrap_err();
        assert!(
            matches!(
                e,
                KubeadmConfigError::ArgsShape {
                    expected: "list",
                    ..
                }
            ),
            "{e}"
        );
        let e = KubeadmConfig::parse(&V3.replacen(
            "kubeadm.k8s.io/v1beta3",
            "kubeadm.k8s.io/v1beta4",
            1,
        ))
        .unwrap_err();
        assert!(matches!(e, KubeadmConfigError::MixedVersions { .. }), "{e}");
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("10"), None);
    }
}
