//! kubeadm's configuration file: the `InitConfiguration`, `ClusterConfiguration` and
//! `JoinConfiguration` kinds of `kubeadm.k8s.io/v1beta3` and `v1beta4`, plus the component configs
//! kubeadm carries (`KubeletConfiguration`, `KubeProxyConfiguration`), read as kubeadm does
//! (cmd/kubeadm/app/util/config/initconfiguration.go `BytesToInitConfiguration`,
//! `documentMapToInitConfiguration`; cmd/kubeadm/app/util/config/common.go
//! `validateSupportedVersion`; cmd/kubeadm/app/util/config/strict/strict.go):
//! - documents are split on `---` lines and identified by `apiVersion` + `kind`;
//! - a removed kubeadm API version is an error naming the kubeadm release to use; a deprecated one
//!   (v1beta3 from 1.31) is a klog warning;
//! - a version this kubeadm does not have (v1beta4 before 1.31) cannot be decoded: "no kind … is
//!   registered for version …";
//! - unknown fields are **warnings** (strict decoding is only verified, `strictErrors` is false for
//!   `init --config`), unknown kinds are ignored with `[config] WARNING: Ignored YAML document …`;
//! - wrong value types are decoding errors; invalid values are validation errors
//!   (cmd/kubeadm/app/apis/kubeadm/validation/validation.go), both fatal;
//! - defaults are kubeadm's (cmd/kubeadm/app/apis/kubeadm/v1beta4/defaults.go, v1beta3 likewise).

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::version::{KubeadmApi, Minor};

/// Errors reading a kubeadm configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read (Go's `os.ReadFile` text).
    #[error("unable to read config from {path:?} : {detail}")]
    Read {
        /// The path as given.
        path: String,
        /// `open x: no such file or directory`.
        detail: String,
    },
    /// A document is not YAML.
    #[error("error converting YAML to JSON: {0}")]
    Yaml(String),
    /// A document lacks `apiVersion` or `kind`.
    #[error(
        "invalid configuration for GroupVersionKind {0}: kind and apiVersion is mandatory information that must be specified"
    )]
    MissingTypeMeta(String),
    /// A kubeadm API version that this kubeadm no longer reads.
    #[error(
        "your configuration file uses an old API spec: {gv:?}{kind_part}. Please use kubeadm {use_version} instead and run 'kubeadm config migrate --old-config old.yaml --new-config new.yaml', which will write the new, similar spec using a newer API version."
    )]
    OldApi {
        /// `kubeadm.k8s.io/v1beta2`.
        gv: String,
        /// ` (kind: "InitConfiguration")` where the version prints it, else empty.
        kind_part: String,
        /// The last kubeadm that read it (`v1.22`).
        use_version: String,
    },
    /// A kubeadm kind in an API version this kubeadm does not know.
    #[error(
        "no kind {kind:?} is registered for version {gv:?} in scheme \"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31\""
    )]
    NotRegistered {
        /// The kind.
        kind: String,
        /// The group/version.
        gv: String,
    },
    /// A value of the wrong type (Go's `json.Unmarshal` text).
    #[error("json: cannot unmarshal {found} into Go struct field {field} of type {want}")]
    Type {
        /// `string`, `number`, `object`, `array`, `bool`.
        found: &'static str,
        /// `APIEndpoint.localAPIEndpoint.bindPort`.
        field: String,
        /// `int32`, `string`, …
        want: &'static str,
    },
    /// Values that fail validation (field.ErrorList, aggregated).
    #[error("{}", aggregate(.0))]
    Invalid(Vec<String>),
    /// A document says `InitConfiguration`/`ClusterConfiguration` twice, or the file has neither.
    #[error("{0}")]
    Other(String),
}

/// `utilerrors.NewAggregate(errs).Error()`: one message alone, several as `[a, b]`.
pub fn aggregate(errs: &[String]) -> String {
    if errs.len() == 1 {
        errs[0].clone()
    } else {
        format!("[{}]", errs.join(", "))
    }
}

/// One YAML document of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// The whole document.
    pub value: Value,
}

/// Splits a multi-document YAML text on `---` separator lines (k8s.io/apimachinery
/// `yaml.NewYAMLReader`) and parses each non-empty document.
///
/// # Errors
/// [`ConfigError::Yaml`] or [`ConfigError::MissingTypeMeta`].
pub fn split_documents(text: &str) -> Result<Vec<Document>, ConfigError> {
    let mut docs = vec![];
    let mut current = String::new();
    let mut flush = |current: &mut String| -> Result<(), ConfigError> {
        let body = std::mem::take(current);
        if body
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(());
        }
        let value: Value =
            serde_saphyr::from_str(&body).map_err(|e| ConfigError::Yaml(e.to_string()))?;
        if value.is_null() {
            return Ok(());
        }
        let api_version = value["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        if api_version.is_empty() || kind.is_empty() {
            let (g, v) = split_gv(&api_version);
            return Err(ConfigError::MissingTypeMeta(format!(
                "{g}/{v}, Kind={kind}"
            )));
        }
        docs.push(Document {
            api_version,
            kind,
            value,
        });
        Ok(())
    };
    for line in text.lines() {
        if line.trim_end() == "---" {
            flush(&mut current)?;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    flush(&mut current)?;
    Ok(docs)
}

fn split_gv(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// A `{name, value}` argument (v1beta4 `Arg`; v1beta3 maps are converted, sorted by name).
pub type Arg = (String, String);

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (may be empty).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule`, `NoExecute`.
    pub effect: String,
}

/// `nodeRegistration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistration {
    /// The Node's name (default: the hostname).
    pub name: String,
    /// `criSocket` (default: containerd's socket, as kubeadm detects it).
    pub cri_socket: String,
    /// Taints (None: kubeadm's default for the command; Some(empty): none).
    pub taints: Option<Vec<Taint>>,
    /// `kubeletExtraArgs`.
    pub kubelet_extra_args: Vec<Arg>,
    /// `ignorePreflightErrors`.
    pub ignore_preflight_errors: Vec<String>,
    /// `imagePullPolicy`.
    pub image_pull_policy: String,
}

/// One `bootstrapTokens` entry.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    /// `abcdef.0123456789abcdef` (None: generate one).
    pub token: Option<String>,
    /// Description.
    pub description: String,
    /// Time to live.
    pub ttl: Duration,
    /// `signing`, `authentication`.
    pub usages: Vec<String>,
    /// Extra groups.
    pub groups: Vec<String>,
}

impl std::fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ttl", &self.ttl)
            .field("usages", &self.usages)
            .field("groups", &self.groups)
            .finish()
    }
}

/// `ClusterConfiguration`, defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `kubernetesVersion` as written (`v1.33.7`).
    pub kubernetes_version: String,
    /// `clusterName` (default `kubernetes`).
    pub cluster_name: String,
    /// `certificatesDir` (default `/etc/kubernetes/pki`).
    pub certificates_dir: String,
    /// `imageRepository` (default `registry.k8s.io`).
    pub image_repository: String,
    /// `controlPlaneEndpoint`.
    pub control_plane_endpoint: String,
    /// `networking.dnsDomain`.
    pub dns_domain: String,
    /// `networking.podSubnet`.
    pub pod_subnet: String,
    /// `networking.serviceSubnet`.
    pub service_subnet: String,
    /// `etcd.local.dataDir`.
    pub etcd_data_dir: String,
    /// `etcd.local.extraArgs`.
    pub etcd_extra_args: Vec<Arg>,
    /// `etcd.local.serverCertSANs`.
    pub etcd_server_cert_sans: Vec<String>,
    /// `etcd.local.peerCertSANs`.
    pub etcd_peer_cert_sans: Vec<String>,
    /// `apiServer.extraArgs`.
    pub apiserver_extra_args: Vec<Arg>,
    /// `apiServer.certSANs`.
    pub apiserver_cert_sans: Vec<String>,
    /// `controllerManager.extraArgs`.
    pub controller_manager_extra_args: Vec<Arg>,
    /// `scheduler.extraArgs`.
    pub scheduler_extra_args: Vec<Arg>,
    /// `dns.imageRepository` / `dns.imageTag` overrides.
    pub dns_image: (Option<String>, Option<String>),
    /// `dns.disabled` (v1beta4).
    pub dns_disabled: bool,
    /// `proxy.disabled` (v1beta4).
    pub proxy_disabled: bool,
    /// `encryptionAlgorithm` (v1beta4; labsim always makes ECDSA-P256 keys).
    pub encryption_algorithm: String,
    /// The document as given (uploaded to `kubeadm-config` after defaulting).
    pub raw: Value,
}

/// Timeouts (v1beta4 `timeouts`; v1beta3 only had `apiServer.timeoutForControlPlane`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `controlPlaneComponentHealthCheck` (4m0s).
    pub control_plane: Duration,
    /// `kubeletHealthCheck` (4m0s).
    pub kubelet_health: Duration,
    /// `kubernetesAPICall` (1m0s).
    pub api_call: Duration,
    /// `discovery` (5m0s).
    pub discovery: Duration,
    /// `tlsBootstrap` (5m0s).
    pub tls_bootstrap: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        // cmd/kubeadm/app/constants/constants.go: ControlPlaneComponentHealthCheckTimeout 4m,
        // KubeletHealthCheckTimeout 4m, KubernetesAPICallTimeout 1m, DiscoveryTimeout 5m,
        // TLSBootstrapTimeout 5m.
        Timeouts {
            control_plane: Duration::from_secs(240),
            kubelet_health: Duration::from_secs(240),
            api_call: Duration::from_secs(60),
            discovery: Duration::from_secs(300),
            tls_bootstrap: Duration::from_secs(300),
        }
    }
}

/// Everything `kubeadm init --config` read, defaulted and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct InitConfig {
    /// The kubeadm API version of the file.
    pub api: KubeadmApi,
    /// `bootstrapTokens`.
    pub bootstrap_tokens: Vec<BootstrapToken>,
    /// `nodeRegistration`.
    pub node: NodeRegistration,
    /// `localAPIEndpoint.advertiseAddress`.
    pub advertise_address: IpAddr,
    /// `localAPIEndpoint.bindPort` (default 6443).
    pub bind_port: u16,
    /// `skipPhases`.
    pub skip_phases: Vec<String>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// The cluster configuration.
    pub cluster: ClusterConfig,
    /// The `KubeletConfiguration` document given (fields over kubeadm's defaults), if any.
    pub kubelet: Option<Value>,
    /// The `KubeProxyConfiguration` document given, if any.
    pub kube_proxy: Option<Value>,
}

/// What parsing noticed without failing: klog warnings and `[config]` lines, in kubeadm's words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notices {
    /// klog `W` messages (printed to stderr with a klog header).
    pub warnings: Vec<String>,
    /// Lines printed to stdout (`[config] WARNING: Ignored YAML document …`).
    pub stdout: Vec<String>,
}

/// What the node looks like, for defaults kubeadm detects.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// The node's hostname (nodeRegistration.name default).
    pub hostname: String,
    /// The address of the default route's interface (advertiseAddress default).
    pub default_ip: IpAddr,
    /// The kubeadm binary's version (`v1.33.7`).
    pub kubeadm_version: String,
}

const KUBEADM_GROUP: &str = "kubeadm.k8s.io";
const KUBELET_GV: &str = "kubelet.config.k8s.io/v1beta1";
const KUBE_PROXY_GV: &str = "kubeproxy.config.k8s.io/v1alpha1";

/// Checks a kubeadm API version as `validateSupportedVersion` does for `minor`.
///
/// # Errors
/// [`ConfigError::OldApi`] for removed versions, [`ConfigError::NotRegistered`] for versions newer
/// than this kubeadm.
pub fn check_api_version(
    minor: Minor,
    doc: &Document,
    notices: &mut Notices,
) -> Result<Option<KubeadmApi>, ConfigError> {
    let (group, version) = split_gv(&doc.api_version);
    if group != KUBEADM_GROUP {
        return Ok(None);
    }
    // The table of removed versions grows with each release (common.go oldKnownAPIVersions):
    // v1beta2 was removed in 1.27 (read-only since 1.22), v1beta3 in 1.36.
    let mut old: Vec<(&str, &str)> = vec![
        ("v1alpha1", "v1.11"),
        ("v1alpha2", "v1.12"),
        ("v1alpha3", "v1.14"),
        ("v1beta1", "v1.15"),
    ];
    if minor.minor() >= 27 {
        old.push(("v1beta2", "v1.22"));
    }
    if !minor.kubeadm_accepts(KubeadmApi::V1beta3) {
        old.push(("v1beta3", "v1.35"));
    }
    if let Some((_, use_version)) = old.iter().find(|(v, _)| *v == version) {
        // The "(kind: …)" part was added to the message together with the v1beta2 removal (1.27).
        let kind_part = if minor.minor() >= 27 {
            format!(" (kind: {:?})", doc.kind)
        } else {
            String::new()
        };
        return Err(ConfigError::OldApi {
            gv: doc.api_version.clone(),
            kind_part,
            use_version: use_version.to_string(),
        });
    }
    let api = match version {
        "v1beta3" => KubeadmApi::V1beta3,
        "v1beta4" => KubeadmApi::V1beta4,
        "v1beta2" => {
            // 1.26 still reads v1beta2 for conversion; labsim does not implement that shape.
            return Err(ConfigError::Other(format!(
                "labsim's kubeadm does not read {:?}: write the file as kubeadm.k8s.io/v1beta3",
                doc.api_version
            )));
        }
        _ => {
            return Err(ConfigError::NotRegistered {
                kind: doc.kind.clone(),
                gv: doc.api_version.clone(),
            });
        }
    };
    if !minor.kubeadm_accepts(api) {
        return Err(ConfigError::NotRegistered {
            kind: doc.kind.clone(),
            gv: doc.api_version.clone(),
        });
    }
    if api == KubeadmApi::V1beta3 && minor.minor() >= 31 {
        notices.warnings.push(format!(
            "your configuration file uses a deprecated API spec: {:?} (kind: {:?}). Please use 'kubeadm config migrate --old-config old.yaml --new-config new.yaml', which will write the new, similar spec using a newer API version.",
            doc.api_version, doc.kind
        ));
    }
    Ok(Some(api))
}

/// Reads an `init --config` file.
///
/// # Errors
/// [`ConfigError`] with kubeadm's message.
pub fn load_init(
    text: &str,
    minor: Minor,
    host: &HostFacts,
) -> Result<(InitConfig, Notices), ConfigError> {
    let docs = split_documents(text)?;
    let mut notices = Notices::default();
    let mut init: Option<(KubeadmApi, Value)> = None;
    let mut cluster: Option<(KubeadmApi, Value)> = None;
    let mut kubelet = None;
    let mut kube_proxy = None;
    for doc in &docs {
        let api = check_api_version(minor, doc, &mut notices)?;
        let known = match (api, doc.kind.as_str()) {
            (Some(api), "InitConfiguration") => {
                if init.is_some() {
                    return Err(ConfigError::Other(
                        "found multiple InitConfiguration objects".into(),
                    ));
                }
                init = Some((api, doc.value.clone()));
                true
            }
            (Some(api), "ClusterConfiguration") => {
                if cluster.is_some() {
                    return Err(ConfigError::Other(
                        "found multiple ClusterConfiguration objects".into(),
                    ));
                }
                cluster = Some((api, doc.value.clone()));
                true
            }
            (Some(_), "JoinConfiguration" | "ResetConfiguration" | "UpgradeConfiguration") => {
                // Other kubeadm kinds are valid documents that `init` does not use.
                true
            }
            (Some(_), _) => {
                return Err(ConfigError::NotRegistered {
                    kind: doc.kind.clone(),
                    gv: doc.api_version.clone(),
                });
            }
            (None, "KubeletConfiguration") if doc.api_version == KUBELET_GV => {
                kubelet = Some(doc.value.clone());
                true
            }
            (None, "KubeProxyConfiguration") if doc.api_version == KUBE_PROXY_GV => {
                kube_proxy = Some(doc.value.clone());
                true
            }
            _ => false,
        };
        if !known {
            let (g, v) = split_gv(&doc.api_version);
            notices.stdout.push(format!(
                "[config] WARNING: Ignored YAML document with GroupVersionKind {g}/{v}, Kind={}",
                doc.kind
            ));
            continue;
        }
        let unknown = unknown_fields(doc);
        if !unknown.is_empty() {
            let (g, v) = split_gv(&doc.api_version);
            let list = unknown
                .iter()
                .map(|f| format!("unknown field {f:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            notices.warnings.push(format!(
                "error unmarshaling configuration schema.GroupVersionKind{{Group:{g:?}, Version:{v:?}, Kind:{:?}}}: strict decoding error: {list}",
                doc.kind
            ));
        }
    }
    if init.is_none() && cluster.is_none() {
        return Err(ConfigError::Other(
            "no InitConfiguration or ClusterConfiguration kind was found in the YAML file".into(),
        ));
    }
    let api = init
        .as_ref()
        .or(cluster.as_ref())
        .map(|(a, _)| *a)
        .expect("one of them");
    let init_v = init
        .map(|(_, v)| v)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let cluster_v = cluster
        .map(|(_, v)| v)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let cfg = build_init(
        api,
        &init_v,
        &cluster_v,
        kubelet,
        kube_proxy,
        minor,
        host,
        &mut notices,
    )?;
    Ok((cfg, notices))
}

/// Type checks in Go's words: the field path uses the Go struct name and the JSON path.
struct Reader<'a> {
    errs: Vec<ConfigError>,
    _p: std::marker::PhantomData<&'a ()>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

impl<'a> Reader<'a> {
    fn new() -> Self {
        Reader {
            errs: vec![],
            _p: std::marker::PhantomData,
        }
    }

    fn get<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
        let mut cur = v;
        for p in path.split('.') {
            cur = cur.get(p)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    fn string(&mut self, v: &Value, path: &str, go: &str) -> Option<String> {
        match Self::get(v, path)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.errs.push(ConfigError::Type {
                    found: type_name(other),
                    field: format!("{go}.{path}"),
                    want: "string",
                });
                None
            }
        }
    }

    fn int(&mut self, v: &Value, path: &str, go: &str) -> Option<i64> {
        match Self::get(v, path)? {
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            other => {
                self.errs.push(ConfigError::Type {
                    found: type_name(other),
                    field: format!("{go}.{path}"),
                    want: "int32",
                });
                None
            }
        }
    }

    fn bool(&mut self, v: &Value, path: &str, go: &str) -> Option<bool> {
        match Self::get(v, path)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.errs.push(ConfigError::Type {
                    found: type_name(other),
                    field: format!("{go}.{path}"),
                    want: "bool",
                });
                None
            }
        }
    }

    fn strings(&mut self, v: &Value, path: &str, go: &str) -> Vec<String> {
        match Self::get(v, path) {
            None => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| match x {
                    Value::String(s) => Some(s.clone()),
                    other => {
                        self.errs.push(ConfigError::Type {
                            found: type_name(other),
                            field: format!("{go}.{path}"),
                            want: "string",
                        });
                        None
                    }
                })
                .collect(),
            Some(other) => {
                self.errs.push(ConfigError::Type {
                    found: type_name(other),
                    field: format!("{go}.{path}"),
                    want: "[]string",
                });
                vec![]
            }
        }
    }

    fn duration(&mut self, v: &Value, path: &str, go: &str) -> Option<Duration> {
        let s = self.string(v, path, go)?;
        match crate::cli::gofmt::parse_go_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.errs.push(ConfigError::Other(e));
                None
            }
        }
    }

    /// extraArgs: a map in v1beta3 (sorted by name, as Go ranges over it sorted in
    /// BuildArgumentListFromMap), a list of `{name, value}` in v1beta4.
    fn args(&mut self, api: KubeadmApi, v: &Value, path: &str, go: &str) -> Vec<Arg> {
        let Some(x) = Self::get(v, path) else {
            return vec![];
        };
        match (api, x) {
            (KubeadmApi::V1beta3, Value::Object(m)) => {
                let mut out: Vec<Arg> =
                    m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect();
                out.sort();
                out
            }
            (KubeadmApi::V1beta4, Value::Array(a)) => a
                .iter()
                .filter_map(|item| {
                    let name = item["name"].as_str();
                    let value = item.get("value").map(scalar_text).unwrap_or_default();
                    match name {
                        Some(n) => Some((n.to_string(), value)),
                        None => {
                            self.errs.push(ConfigError::Type {
                                found: type_name(item),
                                field: format!("{go}.{path}"),
                                want: "v1beta4.Arg",
                            });
                            None
                        }
                    }
                })
                .collect(),
            (KubeadmApi::V1beta3, other) => {
                self.errs.push(ConfigError::Type {
                    found: type_name(other),
                    field: format!("{go}.{path}"),
                    want: "map[string]string",
                });
                vec![]
            }
            (KubeadmApi::V1beta4, other) => {
                self.errs.push(ConfigError::Type {
                    found: type_name(other),
                    field: format!("{go}.{path}"),
                    want: "[]v1beta4.Arg",
                });
                vec![]
            }
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn build_init(
    api: KubeadmApi,
    init: &Value,
    cluster: &Value,
    kubelet: Option<Value>,
    kube_proxy: Option<Value>,
    minor: Minor,
    host: &HostFacts,
    notices: &mut Notices,
) -> Result<InitConfig, ConfigError> {
    let mut r = Reader::new();
    let ic = "InitConfiguration";
    let cc = "ClusterConfiguration";
    // nodeRegistration
    let name = r
        .string(init, "nodeRegistration.name", ic)
        .unwrap_or_else(|| host.hostname.to_lowercase());
    let cri_socket = r
        .string(init, "nodeRegistration.criSocket", ic)
        .unwrap_or_else(|| "unix:///var/run/containerd/containerd.sock".into());
    let taints = match Reader::get(init, "nodeRegistration.taints") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|t| Taint {
                    key: t["key"].as_str().unwrap_or_default().into(),
                    value: t["value"].as_str().unwrap_or_default().into(),
                    effect: t["effect"].as_str().unwrap_or_default().into(),
                })
                .collect(),
        ),
        Some(other) => {
            r.errs.push(ConfigError::Type {
                found: type_name(other),
                field: format!("{ic}.nodeRegistration.taints"),
                want: "[]v1.Taint",
            });
            None
        }
    };
    let kubelet_extra_args = r.args(api, init, "nodeRegistration.kubeletExtraArgs", ic);
    let ignore_preflight_errors = r.strings(init, "nodeRegistration.ignorePreflightErrors", ic);
    let image_pull_policy = r
        .string(init, "nodeRegistration.imagePullPolicy", ic)
        .unwrap_or_else(|| "IfNotPresent".into());
    let advertise = r.string(init, "localAPIEndpoint.advertiseAddress", ic);
    let bind_port = r.int(init, "localAPIEndpoint.bindPort", ic).unwrap_or(6443);
    let skip_phases = r.strings(init, "skipPhases", ic);
    // bootstrapTokens (cmd/kubeadm/app/apis/bootstraptoken/v1: default TTL 24h, usages signing +
    // authentication, group system:bootstrappers:kubeadm:default-node-token).
    let mut bootstrap_tokens = vec![];
    match Reader::get(init, "bootstrapTokens") {
        None => bootstrap_tokens.push(default_token()),
        Some(Value::Array(a)) => {
            for t in a {
                let mut bt = default_token();
                bt.token = r.string(t, "token", "BootstrapToken");
                if let Some(d) = r.string(t, "description", "BootstrapToken") {
                    bt.description = d;
                }
                if let Some(ttl) = r.duration(t, "ttl", "BootstrapToken") {
                    bt.ttl = ttl;
                }
                let usages = r.strings(t, "usages", "BootstrapToken");
                if !usages.is_empty() {
                    bt.usages = usages;
                }
                let groups = r.strings(t, "groups", "BootstrapToken");
                if !groups.is_empty() {
                    bt.groups = groups;
                }
                bootstrap_tokens.push(bt);
            }
        }
        Some(other) => r.errs.push(ConfigError::Type {
            found: type_name(other),
            field: format!("{ic}.bootstrapTokens"),
            want: "[]v1.BootstrapToken",
        }),
    }
    let mut timeouts = Timeouts::default();
    match api {
        KubeadmApi::V1beta3 => {
            if let Some(d) = r.duration(cluster, "apiServer.timeoutForControlPlane", cc) {
                timeouts.control_plane = d;
            }
        }
        KubeadmApi::V1beta4 => {
            for (key, slot) in [
                (
                    "timeouts.controlPlaneComponentHealthCheck",
                    &mut timeouts.control_plane,
                ),
                ("timeouts.kubeletHealthCheck", &mut timeouts.kubelet_health),
                ("timeouts.kubernetesAPICall", &mut timeouts.api_call),
                ("timeouts.discovery", &mut timeouts.discovery),
                ("timeouts.tlsBootstrap", &mut timeouts.tls_bootstrap),
            ] {
                if let Some(d) = r.duration(init, key, ic) {
                    *slot = d;
                }
            }
        }
    }
    // ClusterConfiguration defaults (SetDefaults_ClusterConfiguration).
    let kubernetes_version = match r.string(cluster, "kubernetesVersion", cc) {
        Some(v) => v,
        None => {
            // The default "stable-1" needs dl.k8s.io; offline kubeadm falls back to its own
            // version (cmd/kubeadm/app/util/version.go).
            notices.warnings.push(
                "could not fetch a Kubernetes version from the internet: unable to get URL \"https://dl.k8s.io/release/stable-1.txt\": Get \"https://dl.k8s.io/release/stable-1.txt\": dial tcp: lookup dl.k8s.io on 127.0.0.53:53: server misbehaving".to_string(),
            );
            notices.warnings.push(format!(
                "falling back to the local client version: {}",
                host.kubeadm_version
            ));
            host.kubeadm_version.clone()
        }
    };
    let cluster_cfg = ClusterConfig {
        kubernetes_version,
        cluster_name: r
            .string(cluster, "clusterName", cc)
            .unwrap_or_else(|| "kubernetes".into()),
        certificates_dir: r
            .string(cluster, "certificatesDir", cc)
            .unwrap_or_else(|| "/etc/kubernetes/pki".into()),
        image_repository: r
            .string(cluster, "imageRepository", cc)
            .unwrap_or_else(|| "registry.k8s.io".into()),
        control_plane_endpoint: r
            .string(cluster, "controlPlaneEndpoint", cc)
            .unwrap_or_default(),
        dns_domain: r
            .string(cluster, "networking.dnsDomain", cc)
            .unwrap_or_else(|| "cluster.local".into()),
        pod_subnet: r
            .string(cluster, "networking.podSubnet", cc)
            .unwrap_or_default(),
        service_subnet: r
            .string(cluster, "networking.serviceSubnet", cc)
            .unwrap_or_else(|| "10.96.0.0/12".into()),
        etcd_data_dir: r
            .string(cluster, "etcd.local.dataDir", cc)
            .unwrap_or_else(|| "/var/lib/etcd".into()),
        etcd_extra_args: r.args(api, cluster, "etcd.local.extraArgs", cc),
        etcd_server_cert_sans: r.strings(cluster, "etcd.local.serverCertSANs", cc),
        etcd_peer_cert_sans: r.strings(cluster, "etcd.local.peerCertSANs", cc),
        apiserver_extra_args: r.args(api, cluster, "apiServer.extraArgs", cc),
        apiserver_cert_sans: r.strings(cluster, "apiServer.certSANs", cc),
        controller_manager_extra_args: r.args(api, cluster, "controllerManager.extraArgs", cc),
        scheduler_extra_args: r.args(api, cluster, "scheduler.extraArgs", cc),
        dns_image: (
            r.string(cluster, "dns.imageRepository", cc),
            r.string(cluster, "dns.imageTag", cc),
        ),
        dns_disabled: r.bool(cluster, "dns.disabled", cc).unwrap_or(false),
        proxy_disabled: r.bool(cluster, "proxy.disabled", cc).unwrap_or(false),
        encryption_algorithm: r
            .string(cluster, "encryptionAlgorithm", cc)
            .unwrap_or_else(|| "RSA-2048".into()),
        raw: cluster.clone(),
    };
    if Reader::get(cluster, "etcd.external").is_some() {
        r.errs.push(ConfigError::Other(
            "labsim's kubeadm runs a local (stacked) etcd only: remove etcd.external from the ClusterConfiguration".into(),
        ));
    }
    if let Some(e) = r.errs.into_iter().next() {
        return Err(e);
    }
    // Validation (cmd/kubeadm/app/apis/kubeadm/validation/validation.go).
    let mut invalid = vec![];
    let advertise_address = match advertise {
        None => host.default_ip,
        Some(a) => match a.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                invalid.push(format!(
                    "localAPIEndpoint.advertiseAddress: Invalid value: {a:?}: ParseAddr({a:?}): unable to parse IP"
                ));
                host.default_ip
            }
        },
    };
    if !(1..=65535).contains(&bind_port) {
        invalid.push(format!(
            "localAPIEndpoint.bindPort: Invalid value: {bind_port}: must be between 1 and 65535, inclusive"
        ));
    }
    if !is_dns1123_subdomain(&name) {
        invalid.push(format!(
            "nodeRegistration.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ));
    }
    for (field, cidr) in [
        ("networking.serviceSubnet", &cluster_cfg.service_subnet),
        ("networking.podSubnet", &cluster_cfg.pod_subnet),
    ] {
        if !cidr.is_empty() && parse_cidr(cidr).is_none() {
            invalid.push(format!(
                "{field}: Invalid value: {cidr:?}: couldn't parse subnet"
            ));
        }
    }
    for (i, t) in bootstrap_tokens.iter().enumerate() {
        if let Some(tok) = &t.token
            && !super::token::is_valid_token(tok)
        {
            invalid.push(format!(
                "bootstrapTokens[{i}].token: Invalid value: \"\": the bootstrap token is invalid"
            ));
        }
    }
    if ignore_preflight_errors
        .iter()
        .any(|e| e.eq_ignore_ascii_case("all"))
        && ignore_preflight_errors.len() > 1
    {
        invalid.push(format!(
            "nodeRegistration.ignorePreflightErrors: Invalid value: {:?}: don't specify individual checks if 'all' is used",
            ignore_preflight_errors
        ));
    }
    match cluster_cfg.kubernetes_version.parse::<Minor>() {
        Ok(v) => {
            // kubeadm deploys its own minor and the one before (MinimumControlPlaneVersion);
            // newer than kubeadm is refused by NormalizeKubernetesVersion.
            if v.minor() + 1 < minor.minor() {
                return Err(ConfigError::Other(format!(
                    "this version of kubeadm only supports deploying clusters with the control plane version >= 1.{}.0. Current version: {}",
                    minor.minor() - 1,
                    cluster_cfg.kubernetes_version
                )));
            }
            if v.minor() > minor.minor() {
                return Err(ConfigError::Other(format!(
                    "the kubeadm version is older than the control plane version: kubeadm {} cannot deploy Kubernetes {}: use a kubeadm of version {} or newer",
                    host.kubeadm_version,
                    cluster_cfg.kubernetes_version,
                    cluster_cfg.kubernetes_version
                )));
            }
        }
        Err(_) => {
            return Err(ConfigError::Other(format!(
                "unable to parse Kubernetes version {:?}: use a version such as v{}",
                cluster_cfg.kubernetes_version,
                host.kubeadm_version.trim_start_matches('v')
            )));
        }
    }
    if !invalid.is_empty() {
        return Err(ConfigError::Invalid(invalid));
    }
    Ok(InitConfig {
        api,
        bootstrap_tokens,
        node: NodeRegistration {
            name,
            cri_socket,
            taints,
            kubelet_extra_args,
            ignore_preflight_errors,
            image_pull_policy,
        },
        advertise_address,
        bind_port: bind_port as u16,
        skip_phases,
        timeouts,
        cluster: cluster_cfg,
        kubelet,
        kube_proxy,
    })
}

fn default_token() -> BootstrapToken {
    BootstrapToken {
        token: None,
        description: String::new(),
        ttl: Duration::from_secs(24 * 3600),
        usages: vec!["signing".into(), "authentication".into()],
        groups: vec!["system:bootstrappers:kubeadm:default-node-token".into()],
    }
}

/// RFC 1123 subdomain (k8s.io/apimachinery validation `IsDNS1123Subdomain`).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Parses an IPv4 CIDR (`10.96.0.0/12`) into (network, prefix).
pub fn parse_cidr(s: &str) -> Option<(std::net::Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 32).then_some((ip, len))
}

/// The `n`-th address of an IPv4 CIDR (`10.96.0.0/12`, 1 → `10.96.0.1`; kubeadm's
/// `GetAPIServerVirtualIP` and the DNS IP at index 10).
pub fn cidr_host(cidr: &str, n: u32) -> Option<std::net::Ipv4Addr> {
    let (ip, len) = parse_cidr(cidr)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some(std::net::Ipv4Addr::from((u32::from(ip) & mask) + n))
}

// ---------------------------------------------------------------------------------------------
// Known fields, for the strict-decoding warning.

/// The shape of a field.
enum F {
    /// A scalar (or anything we do not descend into).
    Leaf,
    /// An object with these fields.
    Obj(&'static [(&'static str, F)]),
    /// A list of objects with these fields.
    List(&'static [(&'static str, F)]),
}

const TAINT: &[(&str, F)] = &[
    ("key", F::Leaf),
    ("value", F::Leaf),
    ("effect", F::Leaf),
    ("timeAdded", F::Leaf),
];
const ARG: &[(&str, F)] = &[("name", F::Leaf), ("value", F::Leaf)];
const ENV: &[(&str, F)] = &[
    ("name", F::Leaf),
    ("value", F::Leaf),
    ("valueFrom", F::Leaf),
];
const TOKEN: &[(&str, F)] = &[
    ("token", F::Leaf),
    ("description", F::Leaf),
    ("ttl", F::Leaf),
    ("expires", F::Leaf),
    ("usages", F::Leaf),
    ("groups", F::Leaf),
];
const ENDPOINT: &[(&str, F)] = &[("advertiseAddress", F::Leaf), ("bindPort", F::Leaf)];
const VOLUME: &[(&str, F)] = &[
    ("name", F::Leaf),
    ("hostPath", F::Leaf),
    ("mountPath", F::Leaf),
    ("readOnly", F::Leaf),
    ("pathType", F::Leaf),
];

const NODE_REG_V3: &[(&str, F)] = &[
    ("name", F::Leaf),
    ("criSocket", F::Leaf),
    ("taints", F::List(TAINT)),
    ("kubeletExtraArgs", F::Leaf),
    ("ignorePreflightErrors", F::Leaf),
    ("imagePullPolicy", F::Leaf),
];
const NODE_REG_V4: &[(&str, F)] = &[
    ("name", F::Leaf),
    ("criSocket", F::Leaf),
    ("taints", F::List(TAINT)),
    ("kubeletExtraArgs", F::List(ARG)),
    ("ignorePreflightErrors", F::Leaf),
    ("imagePullPolicy", F::Leaf),
    ("imagePullSerial", F::Leaf),
];
const TIMEOUTS: &[(&str, F)] = &[
    ("controlPlaneComponentHealthCheck", F::Leaf),
    ("kubeletHealthCheck", F::Leaf),
    ("kubernetesAPICall", F::Leaf),
    ("etcdAPICall", F::Leaf),
    ("tlsBootstrap", F::Leaf),
    ("discovery", F::Leaf),
    ("upgradeManifests", F::Leaf),
];
const PATCHES: &[(&str, F)] = &[("directory", F::Leaf)];
const INIT_V3: &[(&str, F)] = &[
    ("apiVersion", F::Leaf),
    ("kind", F::Leaf),
    ("bootstrapTokens", F::List(TOKEN)),
    ("nodeRegistration", F::Obj(NODE_REG_V3)),
    ("localAPIEndpoint", F::Obj(ENDPOINT)),
    ("certificateKey", F::Leaf),
    ("skipPhases", F::Leaf),
    ("patches", F::Obj(PATCHES)),
];
const INIT_V4: &[(&str, F)] = &[
    ("apiVersion", F::Leaf),
    ("kind", F::Leaf),
    ("bootstrapTokens", F::List(TOKEN)),
    ("dryRun", F::Leaf),
    ("nodeRegistration", F::Obj(NODE_REG_V4)),
    ("localAPIEndpoint", F::Obj(ENDPOINT)),
    ("certificateKey", F::Leaf),
    ("skipPhases", F::Leaf),
    ("patches", F::Obj(PATCHES)),
    ("timeouts", F::Obj(TIMEOUTS)),
];
const ETCD_LOCAL_V3: &[(&str, F)] = &[
    ("imageRepository", F::Leaf),
    ("imageTag", F::Leaf),
    ("dataDir", F::Leaf),
    ("extraArgs", F::Leaf),
    ("serverCertSANs", F::Leaf),
    ("peerCertSANs", F::Leaf),
];
const ETCD_LOCAL_V4: &[(&str, F)] = &[
    ("imageRepository", F::Leaf),
    ("imageTag", F::Leaf),
    ("dataDir", F::Leaf),
    ("extraArgs", F::List(ARG)),
    ("extraEnvs", F::List(ENV)),
    ("serverCertSANs", F::Leaf),
    ("peerCertSANs", F::Leaf),
];
const ETCD_EXTERNAL: &[(&str, F)] = &[
    ("endpoints", F::Leaf),
    ("caFile", F::Leaf),
    ("certFile", F::Leaf),
    ("keyFile", F::Leaf),
];
const ETCD_V3: &[(&str, F)] = &[
    ("local", F::Obj(ETCD_LOCAL_V3)),
    ("external", F::Obj(ETCD_EXTERNAL)),
];
const ETCD_V4: &[(&str, F)] = &[
    ("local", F::Obj(ETCD_LOCAL_V4)),
    ("external", F::Obj(ETCD_EXTERNAL)),
];
const NETWORKING: &[(&str, F)] = &[
    ("serviceSubnet", F::Leaf),
    ("podSubnet", F::Leaf),
    ("dnsDomain", F::Leaf),
];
const CP_V3: &[(&str, F)] = &[("extraArgs", F::Leaf), ("extraVolumes", F::List(VOLUME))];
const APISERVER_V3: &[(&str, F)] = &[
    ("extraArgs", F::Leaf),
    ("extraVolumes", F::List(VOLUME)),
    ("certSANs", F::Leaf),
    ("timeoutForControlPlane", F::Leaf),
];
const CP_V4: &[(&str, F)] = &[
    ("extraArgs", F::List(ARG)),
    ("extraVolumes", F::List(VOLUME)),
    ("extraEnvs", F::List(ENV)),
];
const APISERVER_V4: &[(&str, F)] = &[
    ("extraArgs", F::List(ARG)),
    ("extraVolumes", F::List(VOLUME)),
    ("extraEnvs", F::List(ENV)),
    ("certSANs", F::Leaf),
];
const DNS_V3: &[(&str, F)] = &[("imageRepository", F::Leaf), ("imageTag", F::Leaf)];
const DNS_V4: &[(&str, F)] = &[
    ("imageRepository", F::Leaf),
    ("imageTag", F::Leaf),
    ("disabled", F::Leaf),
];
const PROXY_V4: &[(&str, F)] = &[("disabled", F::Leaf)];
const CLUSTER_V3: &[(&str, F)] = &[
    ("apiVersion", F::Leaf),
    ("kind", F::Leaf),
    ("etcd", F::Obj(ETCD_V3)),
    ("networking", F::Obj(NETWORKING)),
    ("kubernetesVersion", F::Leaf),
    ("controlPlaneEndpoint", F::Leaf),
    ("apiServer", F::Obj(APISERVER_V3)),
    ("controllerManager", F::Obj(CP_V3)),
    ("scheduler", F::Obj(CP_V3)),
    ("dns", F::Obj(DNS_V3)),
    ("certificatesDir", F::Leaf),
    ("imageRepository", F::Leaf),
    ("featureGates", F::Leaf),
    ("clusterName", F::Leaf),
];
const CLUSTER_V4: &[(&str, F)] = &[
    ("apiVersion", F::Leaf),
    ("kind", F::Leaf),
    ("etcd", F::Obj(ETCD_V4)),
    ("networking", F::Obj(NETWORKING)),
    ("kubernetesVersion", F::Leaf),
    ("controlPlaneEndpoint", F::Leaf),
    ("apiServer", F::Obj(APISERVER_V4)),
    ("controllerManager", F::Obj(CP_V4)),
    ("scheduler", F::Obj(CP_V4)),
    ("dns", F::Obj(DNS_V4)),
    ("proxy", F::Obj(PROXY_V4)),
    ("certificatesDir", F::Leaf),
    ("imageRepository", F::Leaf),
    ("featureGates", F::Leaf),
    ("clusterName", F::Leaf),
    ("encryptionAlgorithm", F::Leaf),
    ("certificateValidityPeriod", F::Leaf),
    ("caCertificateValidityPeriod", F::Leaf),
];
const DISCOVERY_TOKEN: &[(&str, F)] = &[
    ("token", F::Leaf),
    ("apiServerEndpoint", F::Leaf),
    ("caCertHashes", F::Leaf),
    ("unsafeSkipCAVerification", F::Leaf),
];
const DISCOVERY_V3: &[(&str, F)] = &[
    ("bootstrapToken", F::Obj(DISCOVERY_TOKEN)),
    ("file", F::Leaf),
    ("tlsBootstrapToken", F::Leaf),
    ("timeout", F::Leaf),
];
const DISCOVERY_V4: &[(&str, F)] = &[
    ("bootstrapToken", F::Obj(DISCOVERY_TOKEN)),
    ("file", F::Leaf),
    ("tlsBootstrapToken", F::Leaf),
];
const JOIN_CP: &[(&str, F)] = &[
    ("localAPIEndpoint", F::Obj(ENDPOINT)),
    ("certificateKey", F::Leaf),
];
const JOIN_V3: &[(&str, F)] = &[
    ("apiVersion", F::Leaf),
    ("kind", F::Leaf),
    ("dryRun", F::Leaf),
    ("nodeRegistration", F::Obj(NODE_REG_V3)),
    ("caCertPath", F::Leaf),
    ("discovery", F::Obj(DISCOVERY_V3)),
    ("controlPlane", F::Obj(JOIN_CP)),
    ("skipPhases", F::Leaf),
    ("patches", F::Obj(PATCHES)),
];
const JOIN_V4: &[(&str, F)] = &[
    ("apiVersion", F::Leaf),
    ("kind", F::Leaf),
    ("dryRun", F::Leaf),
    ("nodeRegistration", F::Obj(NODE_REG_V4)),
    ("caCertPath", F::Leaf),
    ("discovery", F::Obj(DISCOVERY_V4)),
    ("controlPlane", F::Obj(JOIN_CP)),
    ("skipPhases", F::Leaf),
    ("patches", F::Obj(PATCHES)),
    ("timeouts", F::Obj(TIMEOUTS)),
];

/// Top-level fields of `KubeletConfiguration` (k8s.io/kubelet/config/v1beta1/types.go).
const KUBELET_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "enableServer",
    "staticPodPath",
    "podLogsDir",
    "syncFrequency",
    "fileCheckFrequency",
    "httpCheckFrequency",
    "staticPodURL",
    "staticPodURLHeader",
    "address",
    "port",
    "readOnlyPort",
    "tlsCertFile",
    "tlsPrivateKeyFile",
    "tlsCipherSuites",
    "tlsMinVersion",
    "rotateCertificates",
    "serverTLSBootstrap",
    "authentication",
    "authorization",
    "registryPullQPS",
    "registryBurst",
    "imagePullCredentialsVerificationPolicy",
    "preloadedImagesVerificationAllowlist",
    "eventRecordQPS",
    "eventBurst",
    "enableDebuggingHandlers",
    "enableContentionProfiling",
    "healthzPort",
    "healthzBindAddress",
    "oomScoreAdj",
    "clusterDomain",
    "clusterDNS",
    "streamingConnectionIdleTimeout",
    "nodeStatusUpdateFrequency",
    "nodeStatusReportFrequency",
    "nodeLeaseDurationSeconds",
    "imageMinimumGCAge",
    "imageMaximumGCAge",
    "imageGCHighThresholdPercent",
    "imageGCLowThresholdPercent",
    "volumeStatsAggPeriod",
    "kubeletCgroups",
    "systemCgroups",
    "cgroupRoot",
    "cgroupsPerQOS",
    "cgroupDriver",
    "cpuManagerPolicy",
    "singleProcessOOMKill",
    "cpuManagerPolicyOptions",
    "cpuManagerReconcilePeriod",
    "memoryManagerPolicy",
    "topologyManagerPolicy",
    "topologyManagerScope",
    "topologyManagerPolicyOptions",
    "qosReserved",
    "runtimeRequestTimeout",
    "hairpinMode",
    "maxPods",
    "podCIDR",
    "podPidsLimit",
    "resolvConf",
    "runOnce",
    "cpuCFSQuota",
    "cpuCFSQuotaPeriod",
    "nodeStatusMaxImages",
    "maxOpenFiles",
    "contentType",
    "kubeAPIQPS",
    "kubeAPIBurst",
    "serializeImagePulls",
    "maxParallelImagePulls",
    "evictionHard",
    "evictionSoft",
    "evictionSoftGracePeriod",
    "evictionPressureTransitionPeriod",
    "evictionMaxPodGracePeriod",
    "evictionMinimumReclaim",
    "mergeDefaultEvictionSettings",
    "podsPerCore",
    "enableControllerAttachDetach",
    "protectKernelDefaults",
    "makeIPTablesUtilChains",
    "iptablesMasqueradeBit",
    "iptablesDropBit",
    "featureGates",
    "failSwapOn",
    "memorySwap",
    "containerLogMaxSize",
    "containerLogMaxFiles",
    "containerLogMaxWorkers",
    "containerLogMonitorInterval",
    "configMapAndSecretChangeDetectionStrategy",
    "systemReserved",
    "kubeReserved",
    "reservedSystemCPUs",
    "showHiddenMetricsForVersion",
    "systemReservedCgroup",
    "kubeReservedCgroup",
    "enforceNodeAllocatable",
    "allowedUnsafeSysctls",
    "volumePluginDir",
    "providerID",
    "kernelMemcgNotification",
    "logging",
    "enableSystemLogHandler",
    "enableSystemLogQuery",
    "shutdownGracePeriod",
    "shutdownGracePeriodCriticalPods",
    "shutdownGracePeriodByPodPriority",
    "crashLoopBackOff",
    "reservedMemory",
    "enableProfilingHandler",
    "enableDebugFlagsHandler",
    "seccompDefault",
    "memoryThrottlingFactor",
    "registerWithTaints",
    "registerNode",
    "tracing",
    "localStorageCapacityIsolation",
    "containerRuntimeEndpoint",
    "imageServiceEndpoint",
    "failCgroupV1",
    "userNamespaces",
];

/// Top-level fields of `KubeProxyConfiguration` (k8s.io/kube-proxy/config/v1alpha1/types.go).
const KUBE_PROXY_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "featureGates",
    "clientConnection",
    "logging",
    "hostnameOverride",
    "bindAddress",
    "healthzBindAddress",
    "metricsBindAddress",
    "bindAddressHardFail",
    "enableProfiling",
    "showHiddenMetricsForVersion",
    "mode",
    "iptables",
    "ipvs",
    "nftables",
    "winkernel",
    "detectLocalMode",
    "detectLocal",
    "clusterCIDR",
    "nodePortAddresses",
    "oomScoreAdj",
    "conntrack",
    "configSyncPeriod",
    "portRange",
    "windowsRunAsService",
];

fn walk(v: &Value, spec: &'static [(&'static str, F)], prefix: &str, out: &mut Vec<String>) {
    let Some(m) = v.as_object() else {
        return;
    };
    for (k, child) in m {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match spec.iter().find(|(n, _)| n == k) {
            None => out.push(path),
            Some((_, F::Leaf)) => {}
            Some((_, F::Obj(inner))) => walk(child, inner, &path, out),
            Some((_, F::List(inner))) => {
                if let Some(a) = child.as_array() {
                    for (i, item) in a.iter().enumerate() {
                        walk(item, inner, &format!("{path}[{i}]"), out);
                    }
                }
            }
        }
    }
}

/// The unknown fields of a document, as JSON paths (`networking.foo`, `apiServer.extraArgs[0].x`).
pub fn unknown_fields(doc: &Document) -> Vec<String> {
    let v4 = doc.api_version.ends_with("/v1beta4");
    let spec: &'static [(&'static str, F)] = match (doc.kind.as_str(), v4) {
        ("InitConfiguration", false) => INIT_V3,
        ("InitConfiguration", true) => INIT_V4,
        ("ClusterConfiguration", false) => CLUSTER_V3,
        ("ClusterConfiguration", true) => CLUSTER_V4,
        ("JoinConfiguration", false) => JOIN_V3,
        ("JoinConfiguration", true) => JOIN_V4,
        ("KubeletConfiguration", _) | ("KubeProxyConfiguration", _) => {
            let known = if doc.kind == "KubeletConfiguration" {
                KUBELET_FIELDS
            } else {
                KUBE_PROXY_FIELDS
            };
            return doc
                .value
                .as_object()
                .map(|m| {
                    m.keys()
                        .filter(|k| !known.contains(&k.as_str()))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
        }
        _ => return vec![],
    };
    let mut out = vec![];
    walk(&doc.value, spec, "", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostFacts {
        HostFacts {
            hostname: "minikube".into(),
            default_ip: "127.100.49.2".parse().unwrap(),
            kubeadm_version: "v1.33.7".into(),
        }
    }

    fn m(n: u32) -> Minor {
        Minor::new(n).unwrap()
    }

    const V4: &str = r#"
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 127.100.49.2
  bindPort: 8443
nodeRegistration:
  name: minikube
  kubeletExtraArgs:
    - name: node-ip
      value: "127.100.49.2"
  ignorePreflightErrors:
    - SystemVerification
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.33.7
certificatesDir: /var/lib/minikube/certs
networking:
  podSubnet: 10.244.0.0/16
apiServer:
  extraArgs:
    - name: default-not-ready-toleration-seconds
      value: "20"
controllerManager:
  extraArgs:
    - name: node-monitor-grace-period
      value: 10s
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
nodeLeaseDurationSeconds: 8
"#;

    #[test]
    fn reads_v1beta4_with_defaults() {
        let (c, n) = load_init(V4, m(33), &host()).unwrap();
        assert_eq!(n, Notices::default());
        assert_eq!(c.api, KubeadmApi::V1beta4);
        assert_eq!(c.bind_port, 8443);
        assert_eq!(c.advertise_address.to_string(), "127.100.49.2");
        assert_eq!(
            c.node.kubelet_extra_args,
            vec![("node-ip".into(), "127.100.49.2".into())]
        );
        assert_eq!(
            c.node.cri_socket,
            "unix:///var/run/containerd/containerd.sock"
        );
        assert_eq!(c.cluster.certificates_dir, "/var/lib/minikube/certs");
        assert_eq!(c.cluster.service_subnet, "10.96.0.0/12");
        assert_eq!(c.cluster.cluster_name, "kubernetes");
        assert_eq!(c.cluster.etcd_data_dir, "/var/lib/etcd");
        assert_eq!(
            c.cluster.controller_manager_extra_args,
            vec![("node-monitor-grace-period".into(), "10s".into())]
        );
        assert_eq!(c.kubelet.unwrap()["nodeLeaseDurationSeconds"], 8);
        assert_eq!(c.bootstrap_tokens.len(), 1);
        assert_eq!(c.bootstrap_tokens[0].ttl, Duration::from_secs(86400));
        assert_eq!(c.timeouts.control_plane, Duration::from_secs(240));
    }

    #[test]
    fn reads_v1beta3_maps_sorted() {
        let text = r#"
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.30.14
apiServer:
  timeoutForControlPlane: 2m0s
  extraArgs:
    z-last: "1"
    default-unreachable-toleration-seconds: "20"
"#;
        let (c, n) = load_init(text, m(30), &host()).unwrap();
        assert!(n.warnings.is_empty());
        assert_eq!(c.api, KubeadmApi::V1beta3);
        assert_eq!(c.bind_port, 6443);
        assert_eq!(
            c.cluster.apiserver_extra_args[0].0,
            "default-unreachable-toleration-seconds"
        );
        assert_eq!(c.timeouts.control_plane, Duration::from_secs(120));
        // The same file on 1.31 is deprecated, on 1.36 gone.
        let (_, n) = load_init(&text.replace("v1.30.14", "v1.31.1"), m(31), &host()).unwrap();
        assert!(n.warnings[0].starts_with("your configuration file uses a deprecated API spec: \"kubeadm.k8s.io/v1beta3\" (kind: \"ClusterConfiguration\")"));
        let e = load_init(&text.replace("v1.30.14", "v1.36.1"), m(36), &host()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "your configuration file uses an old API spec: \"kubeadm.k8s.io/v1beta3\" (kind: \"ClusterConfiguration\"). Please use kubeadm v1.35 instead and run 'kubeadm config migrate --old-config old.yaml --new-config new.yaml', which will write the new, similar spec using a newer API version."
        );
    }

    #[test]
    fn v1beta4_before_1_31_is_not_registered() {
        let e = load_init(&V4.replace("v1.33.7", "v1.30.1"), m(30), &host()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no kind \"InitConfiguration\" is registered for version \"kubeadm.k8s.io/v1beta4\" in scheme \"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31\""
        );
    }

    #[test]
    fn unknown_fields_warn_and_unknown_kinds_are_ignored() {
        let text = format!("{V4}foo: bar\n---\napiVersion: example.com/v1\nkind: Thing\n").replace(
            "  podSubnet: 10.244.0.0/16",
            "  podSubnet: 10.244.0.0/16\n  podSubnets: x",
        );
        let (_, n) = load_init(&text, m(33), &host()).unwrap();
        assert_eq!(
            n.warnings,
            vec![
                "error unmarshaling configuration schema.GroupVersionKind{Group:\"kubeadm.k8s.io\", Version:\"v1beta4\", Kind:\"ClusterConfiguration\"}: strict decoding error: unknown field \"networking.podSubnets\"".to_string(),
                "error unmarshaling configuration schema.GroupVersionKind{Group:\"kubelet.config.k8s.io\", Version:\"v1beta1\", Kind:\"KubeletConfiguration\"}: strict decoding error: unknown field \"foo\"".to_string(),
            ]
        );
        assert_eq!(
            n.stdout,
            vec![
                "[config] WARNING: Ignored YAML document with GroupVersionKind example.com/v1, Kind=Thing"
            ]
        );
    }

    #[test]
    fn wrong_types_and_invalid_values_fail() {
        let e = load_init(
            &V4.replace("bindPort: 8443", "bindPort: \"x\""),
            m(33),
            &host(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "json: cannot unmarshal string into Go struct field InitConfiguration.localAPIEndpoint.bindPort of type int32"
        );
        let e = load_init(
            &V4.replace("advertiseAddress: 127.100.49.2", "advertiseAddress: nope")
                .replace("podSubnet: 10.244.0.0/16", "podSubnet: 10.244.0.0/40"),
            m(33),
            &host(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "[localAPIEndpoint.advertiseAddress: Invalid value: \"nope\": ParseAddr(\"nope\"): unable to parse IP, networking.podSubnet: Invalid value: \"10.244.0.0/40\": couldn't parse subnet]"
        );
        let e = load_init("kind: InitConfiguration\n", m(33), &host()).unwrap_err();
        assert!(matches!(e, ConfigError::MissingTypeMeta(_)), "{e}");
        let e = load_init(&V4.replace("v1.33.7", "v1.30.0"), m(33), &host()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "this version of kubeadm only supports deploying clusters with the control plane version >= 1.32.0. Current version: v1.30.0"
        );
    }

    #[test]
    fn cidr_helpers() {
        assert_eq!(
            cidr_host("10.96.0.0/12", 1).unwrap().to_string(),
            "10.96.0.1"
        );
        assert_eq!(
            cidr_host("10.96.0.0/12", 10).unwrap().to_string(),
            "10.96.0.10"
        );
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }
}
