//! The kubelet's command line and `KubeletConfiguration` (kubelet.config.k8s.io/v1beta1): the
//! flags kubeadm's drop-in and `kubeadm-flags.env` pass, the config file kubeadm writes to
//! `/var/lib/kubelet/config.yaml`, upstream defaults (pkg/kubelet/apis/config/v1beta1/defaults.go),
//! and flag precedence over the file (cmd/kubelet/app/server.go `kubeletConfigFlagPrecedence`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// Errors reading the command line or the configuration file, with the real kubelet's texts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A flag the kubelet does not have (pflag).
    #[error("failed to parse kubelet flag: unknown flag: --{0}")]
    UnknownFlag(String),
    /// A flag without its value.
    #[error("failed to parse kubelet flag: flag needs an argument: --{0}")]
    MissingValue(String),
    /// A flag value of the wrong type.
    #[error(
        "failed to parse kubelet flag: invalid argument {value:?} for \"--{flag}\" flag: {detail}"
    )]
    BadValue {
        /// The flag.
        flag: String,
        /// Its value.
        value: String,
        /// Why it is wrong.
        detail: String,
    },
    /// The `--config` file cannot be read (cmd/kubelet/app/server.go `loadConfigFile`).
    #[error(
        "failed to load kubelet config file, path: {path}, error: failed to load Kubelet config file {path}, error failed to read kubelet config file \"{path}\", error: {cause}"
    )]
    ConfigFile {
        /// The file.
        path: String,
        /// Go's error text (`open …: no such file or directory`).
        cause: String,
    },
    /// The `--config` file is not a KubeletConfiguration.
    #[error(
        "failed to load kubelet config file, path: {path}, error: failed to load Kubelet config file {path}, error failed to decode: {detail}"
    )]
    Decode {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A non-flag argument.
    #[error("unknown command {0}")]
    UnknownCommand(String),
    /// Another command-line error of pflag's.
    #[error("failed to parse kubelet flag: {0}")]
    Flag(FlagError),
}

impl From<FlagError> for ConfigError {
    fn from(e: FlagError) -> ConfigError {
        match e {
            FlagError::Unknown(name) => ConfigError::UnknownFlag(name),
            FlagError::MissingValue(name) => ConfigError::MissingValue(name),
            FlagError::BadValue {
                flag,
                value,
                detail,
            } => ConfigError::BadValue {
                flag,
                value,
                detail,
            },
            other => ConfigError::Flag(other),
        }
    }
}

/// Parses a Go duration (`10s`, `1m0s`, `5m`, `300ms`, `1h30m`, `0`):
/// [`crate::cli::gofmt::parse_go_duration`], `None` when it does not parse.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    crate::cli::gofmt::parse_go_duration(s.trim()).ok()
}

/// The kubelet's effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct KubeletConfig {
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--bootstrap-kubeconfig`.
    pub bootstrap_kubeconfig: Option<PathBuf>,
    /// `--config`.
    pub config_file: Option<PathBuf>,
    /// `--cert-dir` (`/var/lib/kubelet/pki`).
    pub cert_dir: PathBuf,
    /// `--root-dir` (`/var/lib/kubelet`).
    pub root_dir: PathBuf,
    /// `--hostname-override`.
    pub hostname_override: Option<String>,
    /// `--node-ip`.
    pub node_ip: Option<Ipv4Addr>,
    /// `--node-labels`.
    pub node_labels: BTreeMap<String, String>,
    /// `--register-with-taints` (as Taint objects).
    pub register_with_taints: Vec<Value>,
    /// `--v`.
    pub verbosity: u32,
    /// `containerRuntimeEndpoint` / `--container-runtime-endpoint`.
    pub runtime_endpoint: String,
    /// `--pod-infra-container-image` (only pins the image against GC; containerd picks the
    /// sandbox image).
    pub pod_infra_image: Option<String>,
    /// `staticPodPath` / `--pod-manifest-path`.
    pub static_pod_path: Option<PathBuf>,
    /// `fileCheckFrequency` (20 s).
    pub file_check_frequency: Duration,
    /// `syncFrequency` (1 min).
    pub sync_frequency: Duration,
    /// `nodeStatusUpdateFrequency` (10 s).
    pub node_status_update_frequency: Duration,
    /// `nodeStatusReportFrequency` (5 min).
    pub node_status_report_frequency: Duration,
    /// `nodeLeaseDurationSeconds` (40).
    pub node_lease_duration_seconds: i64,
    /// `clusterDNS`.
    pub cluster_dns: Vec<String>,
    /// `clusterDomain`.
    pub cluster_domain: String,
    /// `authentication.x509.clientCAFile`.
    pub client_ca_file: Option<PathBuf>,
    /// `authentication.anonymous.enabled` (false).
    pub anonymous_auth: bool,
    /// `authentication.webhook.enabled` (true).
    pub webhook_authentication: bool,
    /// `authorization.mode` (`Webhook`).
    pub authorization_mode: String,
    /// `healthzBindAddress` (`127.0.0.1`).
    pub healthz_bind_address: String,
    /// `healthzPort` (10248).
    pub healthz_port: u16,
    /// `address` (`0.0.0.0`).
    pub address: String,
    /// `port` (10250).
    pub port: u16,
    /// `readOnlyPort` (0: off).
    pub read_only_port: u16,
    /// `tlsCertFile`.
    pub tls_cert_file: Option<PathBuf>,
    /// `tlsPrivateKeyFile`.
    pub tls_private_key_file: Option<PathBuf>,
    /// `cgroupDriver` (`cgroupfs`; kubeadm sets `systemd`).
    pub cgroup_driver: String,
    /// `maxPods` (110).
    pub max_pods: u32,
    /// `rotateCertificates`.
    pub rotate_certificates: bool,
    /// `serverTLSBootstrap`.
    pub server_tls_bootstrap: bool,
    /// `runtimeRequestTimeout` (2 min).
    pub runtime_request_timeout: Duration,
    /// `resolvConf`.
    pub resolv_conf: String,
    /// `registerNode` (true).
    pub register_node: bool,
    /// `evictionHard`.
    pub eviction_hard: BTreeMap<String, String>,
    /// `systemReserved`.
    pub system_reserved: BTreeMap<String, String>,
    /// `kubeReserved`.
    pub kube_reserved: BTreeMap<String, String>,
    /// `failSwapOn`.
    pub fail_swap_on: bool,
    /// `failCgroupV1` (`--fail-cgroupv1`, 1.31+) when set; unset means the version's default
    /// ([`KubeletConfig::fails_on_cgroup_v1`]).
    pub fail_cgroup_v1: Option<bool>,
    /// `shutdownGracePeriod`.
    pub shutdown_grace_period: Duration,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        let mut eviction_hard = BTreeMap::new();
        // pkg/kubelet/eviction/defaults_linux.go DefaultEvictionHard
        eviction_hard.insert("memory.available".into(), "100Mi".into());
        eviction_hard.insert("nodefs.available".into(), "10%".into());
        eviction_hard.insert("nodefs.inodesFree".into(), "5%".into());
        eviction_hard.insert("imagefs.available".into(), "15%".into());
        KubeletConfig {
            kubeconfig: None,
            bootstrap_kubeconfig: None,
            config_file: None,
            cert_dir: "/var/lib/kubelet/pki".into(),
            root_dir: "/var/lib/kubelet".into(),
            hostname_override: None,
            node_ip: None,
            node_labels: BTreeMap::new(),
            register_with_taints: vec![],
            verbosity: 0,
            runtime_endpoint: "unix:///run/containerd/containerd.sock".into(),
            pod_infra_image: None,
            static_pod_path: None,
            file_check_frequency: Duration::from_secs(20),
            sync_frequency: Duration::from_secs(60),
            node_status_update_frequency: Duration::from_secs(10),
            node_status_report_frequency: Duration::from_secs(300),
            node_lease_duration_seconds: 40,
            cluster_dns: vec![],
            cluster_domain: String::new(),
            client_ca_file: None,
            anonymous_auth: false,
            webhook_authentication: true,
            authorization_mode: "Webhook".into(),
            healthz_bind_address: "127.0.0.1".into(),
            healthz_port: 10248,
            address: "0.0.0.0".into(),
            port: 10250,
            read_only_port: 0,
            tls_cert_file: None,
            tls_private_key_file: None,
            cgroup_driver: "cgroupfs".into(),
            max_pods: 110,
            rotate_certificates: false,
            server_tls_bootstrap: false,
            runtime_request_timeout: Duration::from_secs(120),
            resolv_conf: "/etc/resolv.conf".into(),
            register_node: true,
            eviction_hard,
            system_reserved: BTreeMap::new(),
            kube_reserved: BTreeMap::new(),
            fail_swap_on: true,
            fail_cgroup_v1: None,
            shutdown_grace_period: Duration::ZERO,
        }
    }
}

use crate::gocli::{FlagDef, FlagError, Kind, Pflag};

/// Flags of the kubelet labsim knows (the node flags, plus config-file fields' flag forms). Flags
/// removed upstream (`--network-plugin` 1.24, `--container-runtime` 1.27) are unknown here, too.
const FLAGS: &[(&str, Kind)] = &[
    ("kubeconfig", Kind::Str),
    ("bootstrap-kubeconfig", Kind::Str),
    ("config", Kind::Str),
    ("config-dir", Kind::Str),
    ("cert-dir", Kind::Str),
    ("root-dir", Kind::Str),
    ("hostname-override", Kind::Str),
    ("node-ip", Kind::Str),
    ("node-labels", Kind::Str),
    ("register-with-taints", Kind::Str),
    ("register-node", Kind::Bool),
    ("v", Kind::Int),
    ("vmodule", Kind::Str),
    ("logging-format", Kind::Str),
    ("container-runtime-endpoint", Kind::Str),
    ("image-service-endpoint", Kind::Str),
    ("pod-infra-container-image", Kind::Str),
    ("pod-manifest-path", Kind::Str),
    ("file-check-frequency", Kind::Duration),
    ("sync-frequency", Kind::Duration),
    ("node-status-update-frequency", Kind::Duration),
    ("cluster-dns", Kind::Str),
    ("cluster-domain", Kind::Str),
    ("client-ca-file", Kind::Str),
    ("anonymous-auth", Kind::Bool),
    ("authentication-token-webhook", Kind::Bool),
    ("authorization-mode", Kind::Str),
    ("healthz-bind-address", Kind::Str),
    ("healthz-port", Kind::Int),
    ("address", Kind::Str),
    ("port", Kind::Int),
    ("read-only-port", Kind::Int),
    ("tls-cert-file", Kind::Str),
    ("tls-private-key-file", Kind::Str),
    ("cgroup-driver", Kind::Str),
    ("max-pods", Kind::Int),
    ("rotate-certificates", Kind::Bool),
    ("runtime-request-timeout", Kind::Duration),
    ("resolv-conf", Kind::Str),
    ("fail-swap-on", Kind::Bool),
    ("fail-cgroupv1", Kind::Bool),
    ("cloud-provider", Kind::Str),
    ("provider-id", Kind::Str),
    ("feature-gates", Kind::Str),
    ("eviction-hard", Kind::Str),
    ("system-reserved", Kind::Str),
    ("kube-reserved", Kind::Str),
    ("cgroups-per-qos", Kind::Bool),
    ("enforce-node-allocatable", Kind::Str),
    ("hairpin-mode", Kind::Str),
    ("container-log-max-size", Kind::Str),
    ("container-log-max-files", Kind::Int),
    ("serialize-image-pulls", Kind::Bool),
    ("volume-plugin-dir", Kind::Str),
    ("runtime-cgroups", Kind::Str),
    ("kubelet-cgroups", Kind::Str),
    ("protect-kernel-defaults", Kind::Bool),
    ("seccomp-default", Kind::Bool),
    ("pod-cidr", Kind::Str),
    ("housekeeping-interval", Kind::Duration),
    ("log-flush-frequency", Kind::Duration),
    ("help", Kind::Bool),
    // component-base verflag: `--version` alone means true (NoOptDefVal).
    ("version", Kind::OptStr),
];

/// Parsed command-line flags (`name` → value; booleans as `true`/`false`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Flags in the order given.
    pub set: Vec<(String, String)>,
}

impl Flags {
    /// Parses the kubelet's arguments with pflag's rules ([`crate::gocli`]: `--name=value`,
    /// `--name value`, `--bool`, `_` and `-` interchangeable in names), flags sorted by name.
    ///
    /// # Errors
    /// [`ConfigError`] for unknown flags, missing values and non-flag arguments.
    pub fn parse(args: &[String]) -> Result<Flags, ConfigError> {
        Flags::parse_for(args, None)
    }

    /// Like [`Flags::parse`] for the kubelet of Kubernetes 1.`minor`: 1.26 still has the
    /// deprecated `--container-runtime` (only `remote` is meaningful since dockershim's removal;
    /// the flag was removed in 1.27, kubernetes PR 114017).
    ///
    /// # Errors
    /// [`ConfigError`] for unknown flags, missing values and non-flag arguments.
    pub fn parse_for(args: &[String], minor: Option<u32>) -> Result<Flags, ConfigError> {
        let defs: Vec<FlagDef> = FLAGS
            .iter()
            // --fail-cgroupv1 came with KEP-4569 in 1.31.
            .filter(|(n, _)| !(*n == "fail-cgroupv1" && minor.is_some_and(|m| m < 31)))
            .chain(
                [("container-runtime", Kind::Str)]
                    .iter()
                    .filter(|_| minor.is_some_and(|m| m < 27)),
            )
            .map(|&(name, kind)| FlagDef {
                name,
                short: (name.len() == 1).then(|| name.chars().next().unwrap_or('v')),
                kind,
                default: "",
                usage: "",
            })
            .collect();
        let parsed = Pflag::KUBERNETES.parse(&defs, args)?;
        // cmd/kubelet/app/server.go: the kubelet takes no arguments.
        if let Some(a) = parsed.args.first() {
            return Err(ConfigError::UnknownCommand(a.clone()));
        }
        let set = parsed
            .given()
            .flat_map(|(name, values)| values.iter().map(move |v| (name.to_string(), v.clone())))
            .collect();
        Ok(Flags { set })
    }

    /// The last value of a flag.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.set
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn map_of(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn kv_list(s: &str) -> BTreeMap<String, String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Parses `--register-with-taints` (`key=value:Effect,key:Effect`).
pub fn parse_taints(s: &str) -> Vec<Value> {
    s.split(',')
        .filter(|t| !t.is_empty())
        .filter_map(|t| {
            let (kv, effect) = t.rsplit_once(':')?;
            let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
            let mut taint = serde_json::json!({"key": key, "effect": effect});
            if !value.is_empty() {
                taint["value"] = serde_json::json!(value);
            }
            Some(taint)
        })
        .collect()
}

impl KubeletConfig {
    /// Applies a KubeletConfiguration document.
    ///
    /// # Errors
    /// [`ConfigError::Decode`] when it is not one.
    pub fn apply_file(&mut self, path: &str, doc: &Value) -> Result<(), ConfigError> {
        let decode = |detail: String| ConfigError::Decode {
            path: path.to_string(),
            detail,
        };
        if doc["kind"] != "KubeletConfiguration" {
            return Err(decode(format!(
                "no kind {:?} is registered for version {:?} in scheme \"pkg/kubelet/apis/config/scheme/scheme.go:33\"",
                doc["kind"].as_str().unwrap_or_default(),
                doc["apiVersion"].as_str().unwrap_or_default()
            )));
        }
        if doc["apiVersion"] != "kubelet.config.k8s.io/v1beta1" {
            return Err(decode(format!(
                "no kind \"KubeletConfiguration\" is registered for version {:?} in scheme \"pkg/kubelet/apis/config/scheme/scheme.go:33\"",
                doc["apiVersion"].as_str().unwrap_or_default()
            )));
        }
        let s = |k: &str| doc[k].as_str().map(str::to_string);
        // A zero duration means "the default" (pkg/kubelet/apis/config/v1beta1/defaults.go);
        // kubeadm writes `0s` for the ones it leaves alone.
        let dur = |k: &str| {
            doc[k]
                .as_str()
                .and_then(parse_go_duration)
                .filter(|d| !d.is_zero())
        };
        if let Some(p) = s("staticPodPath").filter(|p| !p.is_empty()) {
            self.static_pod_path = Some(p.into());
        }
        if let Some(d) = dur("fileCheckFrequency") {
            self.file_check_frequency = d;
        }
        if let Some(d) = dur("syncFrequency") {
            self.sync_frequency = d;
        }
        // The report frequency defaults to an explicitly set update frequency, else 5 min.
        match (
            dur("nodeStatusReportFrequency"),
            dur("nodeStatusUpdateFrequency"),
        ) {
            (Some(r), _) => self.node_status_report_frequency = r,
            (None, Some(u)) => self.node_status_report_frequency = u,
            (None, None) => {}
        }
        if let Some(d) = dur("nodeStatusUpdateFrequency") {
            self.node_status_update_frequency = d;
        }
        if let Some(n) = doc["nodeLeaseDurationSeconds"].as_i64().filter(|n| *n > 0) {
            self.node_lease_duration_seconds = n;
        }
        if let Some(list) = doc["clusterDNS"].as_array() {
            self.cluster_dns = list
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
        }
        if let Some(d) = s("clusterDomain") {
            self.cluster_domain = d;
        }
        let authn = &doc["authentication"];
        if let Some(f) = authn["x509"]["clientCAFile"]
            .as_str()
            .filter(|f| !f.is_empty())
        {
            self.client_ca_file = Some(f.into());
        }
        if let Some(b) = authn["anonymous"]["enabled"].as_bool() {
            self.anonymous_auth = b;
        }
        if let Some(b) = authn["webhook"]["enabled"].as_bool() {
            self.webhook_authentication = b;
        }
        if let Some(m) = doc["authorization"]["mode"].as_str() {
            self.authorization_mode = m.to_string();
        }
        if let Some(a) = s("healthzBindAddress") {
            self.healthz_bind_address = a;
        }
        if let Some(p) = doc["healthzPort"].as_u64() {
            self.healthz_port = p as u16;
        }
        if let Some(a) = s("address") {
            self.address = a;
        }
        if let Some(p) = doc["port"].as_u64() {
            self.port = p as u16;
        }
        if let Some(p) = doc["readOnlyPort"].as_u64() {
            self.read_only_port = p as u16;
        }
        if let Some(f) = s("tlsCertFile").filter(|f| !f.is_empty()) {
            self.tls_cert_file = Some(f.into());
        }
        if let Some(f) = s("tlsPrivateKeyFile").filter(|f| !f.is_empty()) {
            self.tls_private_key_file = Some(f.into());
        }
        if let Some(c) = s("cgroupDriver") {
            self.cgroup_driver = c;
        }
        if let Some(n) = doc["maxPods"].as_u64() {
            self.max_pods = n as u32;
        }
        if let Some(b) = doc["rotateCertificates"].as_bool() {
            self.rotate_certificates = b;
        }
        if let Some(b) = doc["serverTLSBootstrap"].as_bool() {
            self.server_tls_bootstrap = b;
        }
        if let Some(d) = dur("runtimeRequestTimeout") {
            self.runtime_request_timeout = d;
        }
        if let Some(r) = s("resolvConf") {
            self.resolv_conf = r;
        }
        if let Some(b) = doc["registerNode"].as_bool() {
            self.register_node = b;
        }
        if let Some(e) = s("containerRuntimeEndpoint").filter(|e| !e.is_empty()) {
            self.runtime_endpoint = e;
        }
        if doc["evictionHard"].is_object() {
            self.eviction_hard = map_of(&doc["evictionHard"]);
        }
        if doc["systemReserved"].is_object() {
            self.system_reserved = map_of(&doc["systemReserved"]);
        }
        if doc["kubeReserved"].is_object() {
            self.kube_reserved = map_of(&doc["kubeReserved"]);
        }
        if let Some(b) = doc["failSwapOn"].as_bool() {
            self.fail_swap_on = b;
        }
        if let Some(b) = doc["failCgroupV1"].as_bool() {
            self.fail_cgroup_v1 = Some(b);
        }
        if let Some(d) = dur("shutdownGracePeriod") {
            self.shutdown_grace_period = d;
        }
        if let Some(list) = doc["registerWithTaints"].as_array() {
            self.register_with_taints = list.clone();
        }
        Ok(())
    }

    /// Applies the command line (after the file: flags take precedence).
    pub fn apply_flags(&mut self, f: &Flags) {
        for (name, v) in &f.set {
            let b = || v.parse::<bool>().unwrap_or(false);
            let n = || v.parse::<i64>().unwrap_or(0);
            let d = || parse_go_duration(v).unwrap_or_default();
            match name.as_str() {
                "kubeconfig" => self.kubeconfig = Some(v.into()),
                "bootstrap-kubeconfig" => self.bootstrap_kubeconfig = Some(v.into()),
                "config" => self.config_file = Some(v.into()),
                "cert-dir" => self.cert_dir = v.into(),
                "root-dir" => self.root_dir = v.into(),
                "hostname-override" => self.hostname_override = Some(v.to_lowercase()),
                "node-ip" => self.node_ip = v.split(',').next().and_then(|i| i.parse().ok()),
                "node-labels" => self.node_labels.extend(kv_list(v)),
                "register-with-taints" => self.register_with_taints = parse_taints(v),
                "register-node" => self.register_node = b(),
                "v" => self.verbosity = n().max(0) as u32,
                "container-runtime-endpoint" => self.runtime_endpoint = v.clone(),
                "pod-infra-container-image" => self.pod_infra_image = Some(v.clone()),
                "pod-manifest-path" => self.static_pod_path = Some(v.into()),
                "file-check-frequency" => self.file_check_frequency = d(),
                "sync-frequency" => self.sync_frequency = d(),
                "node-status-update-frequency" => self.node_status_update_frequency = d(),
                "cluster-dns" => {
                    self.cluster_dns = v
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                }
                "cluster-domain" => self.cluster_domain = v.clone(),
                "client-ca-file" => self.client_ca_file = Some(v.into()),
                "anonymous-auth" => self.anonymous_auth = b(),
                "authentication-token-webhook" => self.webhook_authentication = b(),
                "authorization-mode" => self.authorization_mode = v.clone(),
                "healthz-bind-address" => self.healthz_bind_address = v.clone(),
                "healthz-port" => self.healthz_port = n() as u16,
                "address" => self.address = v.clone(),
                "port" => self.port = n() as u16,
                "read-only-port" => self.read_only_port = n() as u16,
                "tls-cert-file" => self.tls_cert_file = Some(v.into()),
                "tls-private-key-file" => self.tls_private_key_file = Some(v.into()),
                "cgroup-driver" => self.cgroup_driver = v.clone(),
                "max-pods" => self.max_pods = n() as u32,
                "rotate-certificates" => self.rotate_certificates = b(),
                "runtime-request-timeout" => self.runtime_request_timeout = d(),
                "resolv-conf" => self.resolv_conf = v.clone(),
                "fail-swap-on" => self.fail_swap_on = b(),
                "fail-cgroupv1" => self.fail_cgroup_v1 = Some(b()),
                "eviction-hard" => self.eviction_hard = kv_list(&v.replace('<', "=")),
                "system-reserved" => self.system_reserved = kv_list(v),
                "kube-reserved" => self.kube_reserved = kv_list(v),
                _ => {}
            }
        }
    }

    /// Builds the configuration from the command line, reading `--config` if given.
    ///
    /// # Errors
    /// [`ConfigError`] as the real kubelet reports it.
    pub fn load(args: &[String]) -> Result<(KubeletConfig, Flags), ConfigError> {
        KubeletConfig::load_for(args, None)
    }

    /// [`KubeletConfig::load`] for the kubelet of Kubernetes 1.`minor` (see [`Flags::parse_for`]).
    ///
    /// # Errors
    /// [`ConfigError`] as the real kubelet reports it.
    pub fn load_for(
        args: &[String],
        minor: Option<u32>,
    ) -> Result<(KubeletConfig, Flags), ConfigError> {
        let flags = Flags::parse_for(args, minor)?;
        let mut cfg = KubeletConfig::default();
        if let Some(path) = flags.get("config").filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::ConfigFile {
                path: path.to_string(),
                cause: format!("open {path}: {}", crate::runtime::client::go_errno_text(&e)),
            })?;
            let doc: Value = serde_saphyr::from_str(&text).map_err(|e| ConfigError::Decode {
                path: path.to_string(),
                detail: e.to_string(),
            })?;
            cfg.apply_file(path, &doc)?;
        }
        cfg.apply_flags(&flags);
        Ok((cfg, flags))
    }

    /// Whether the kubelet of 1.`minor` refuses a cgroup v1 node: `failCgroupV1` when set, else
    /// the default, false from 1.31 (KEP-4569) and true from 1.35 (KEP-5573).
    pub fn fails_on_cgroup_v1(&self, minor: u32) -> bool {
        self.fail_cgroup_v1.unwrap_or(minor >= 35)
    }

    /// The lease renewal interval: a quarter of the lease duration (pkg/kubelet/nodelease
    /// `renewIntervalFraction` 0.25), so 10 s for the default 40 s.
    pub fn lease_renew_interval(&self) -> Duration {
        Duration::from_secs_f64(self.node_lease_duration_seconds as f64 * 0.25)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fail_cgroupv1_by_version() {
        let cfg = KubeletConfig::default();
        assert!(!cfg.fails_on_cgroup_v1(34));
        assert!(cfg.fails_on_cgroup_v1(35));
        let (set, _) =
            KubeletConfig::load_for(&args(&["--fail-cgroupv1=false"]), Some(36)).unwrap();
        assert!(!set.fails_on_cgroup_v1(36));
        assert!(matches!(
            Flags::parse_for(&args(&["--fail-cgroupv1"]), Some(30)),
            Err(ConfigError::UnknownFlag(f)) if f == "fail-cgroupv1"
        ));
        use crate::node::CgroupVersion::{V1, V2};
        assert_eq!(super::super::cgroup_v1_refusal(&cfg, 35, V2), None);
        assert_eq!(super::super::cgroup_v1_refusal(&cfg, 34, V1), None);
        assert_eq!(
            super::super::cgroup_v1_refusal(&set, 34, V1),
            None,
            "failCgroupV1=false"
        );
        let on = KubeletConfig {
            fail_cgroup_v1: Some(true),
            ..Default::default()
        };
        assert_eq!(
            super::super::cgroup_v1_refusal(&on, 32, V1).as_deref(),
            Some(
                "kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is in maintenance mode"
            )
        );
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("x"), None);
    }

    #[test]
    fn flags_as_kubeadm_passes_them() {
        let f = Flags::parse(&args(&[
            "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
            "--kubeconfig=/etc/kubernetes/kubelet.conf",
            "--config=/var/lib/kubelet/config.yaml",
            "--container-runtime-endpoint=unix:///run/containerd/containerd.sock",
            "--pod-infra-container-image=registry.k8s.io/pause:3.10",
            "--node-ip",
            "127.100.49.3",
            "--hostname-override=Minikube-M02",
            "--v=2",
        ]))
        .unwrap();
        let mut c = KubeletConfig::default();
        c.apply_flags(&f);
        assert_eq!(c.node_ip, Some(Ipv4Addr::new(127, 100, 49, 3)));
        assert_eq!(c.hostname_override.as_deref(), Some("minikube-m02"));
        assert_eq!(c.verbosity, 2);
        assert_eq!(
            Flags::parse(&args(&["--network-plugin=cni"])),
            Err(ConfigError::UnknownFlag("network-plugin".into()))
        );
        assert_eq!(
            Flags::parse(&args(&["--kubeconfig"])),
            Err(ConfigError::MissingValue("kubeconfig".into()))
        );
        assert!(Flags::parse_for(&args(&["--container-runtime=remote"]), Some(26)).is_ok());
        assert_eq!(
            Flags::parse_for(&args(&["--container-runtime=remote"]), Some(27)),
            Err(ConfigError::UnknownFlag("container-runtime".into()))
        );
        assert!(matches!(
            Flags::parse(&args(&["--v=x"])),
            Err(ConfigError::BadValue { .. })
        ));
    }

    #[test]
    fn missing_config_file_fails_like_the_kubelet() {
        let e = KubeletConfig::load(&args(&["--config=/nonexistent/config.yaml"])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to load kubelet config file, path: /nonexistent/config.yaml, error: failed to load Kubelet config file /nonexistent/config.yaml, error failed to read kubelet config file \"/nonexistent/config.yaml\", error: open /nonexistent/config.yaml: no such file or directory"
        );
    }

    #[test]
    fn kubeadm_config_file_is_read_and_flags_win() {
        let doc: Value = serde_saphyr::from_str(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: false\n  webhook:\n    cacheTTL: 0s\n    enabled: true\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nauthorization:\n  mode: Webhook\ncgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\nhealthzBindAddress: 127.0.0.1\nhealthzPort: 10248\nnodeStatusUpdateFrequency: 0s\nnodeStatusReportFrequency: 0s\nrotateCertificates: true\nruntimeRequestTimeout: 0s\nstaticPodPath: /etc/kubernetes/manifests\n",
        )
        .unwrap();
        let mut c = KubeletConfig::default();
        c.apply_file("/var/lib/kubelet/config.yaml", &doc).unwrap();
        assert_eq!(c.static_pod_path, Some("/etc/kubernetes/manifests".into()));
        assert_eq!(c.cluster_dns, vec!["10.96.0.10".to_string()]);
        assert_eq!(c.cgroup_driver, "systemd");
        assert_eq!(c.client_ca_file, Some("/etc/kubernetes/pki/ca.crt".into()));
        assert_eq!(c.lease_renew_interval(), Duration::from_secs(10));
        c.apply_flags(&Flags::parse(&args(&["--healthz-port=9999"])).unwrap());
        assert_eq!(c.healthz_port, 9999);
        let bad: Value = serde_saphyr::from_str("apiVersion: v1\nkind: ConfigMap\n").unwrap();
        assert!(matches!(
            c.apply_file("/x", &bad),
            Err(ConfigError::Decode { .. })
        ));
    }
}
