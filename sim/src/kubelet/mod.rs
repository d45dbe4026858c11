//! The kubelet (`labsim kubelet`, the `kubelet` unit's ExecStart): the real kubelet's flags and
//! `KubeletConfiguration` ([`config`]), TLS bootstrap ([`bootstrap`]), node registration, status
//! and lease ([`node`]), static and API pods run through the node's container runtime
//! ([`pods`]: pod workers, sandbox and container lifecycle, restart back-off, PLEG, garbage
//! collection), probes ([`probes`]), volumes ([`volumes`]), the environment ([`env`]), the pod
//! status it reports ([`status`]) and its HTTPS server on :10250 and healthz on :10248
//! ([`server`]). It logs in klog's format to stderr ([`klog`]), which the node's journald keeps.
//!
//! Startup follows cmd/kubelet/app/server.go: flags and `--config` (a missing file fails with the
//! real error and exit 1, so systemd restarts the unit every 10 s until `kubeadm init/join` writes
//! it), client credentials (bootstrap if needed), the runtime connection, the servers, then the
//! loops. Listeners that the real kubelet puts on 127.0.0.1 (healthz) use the node IP
//! (docs/labsim.md, "127.0.0.1 listeners").

pub mod backoff;
pub mod bootstrap;
pub mod config;
pub mod env;
pub mod klog;
pub mod node;
pub mod pods;
pub mod probes;
pub mod server;
pub mod static_pods;
pub mod status;
pub mod volumes;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::client::events::Recorder;
use crate::client::{Client, ListParams, Reflector, ReflectorStore, path};
use crate::runtime::client::RuntimeClient;
use crate::runtime::cri::{Reply, Request};
use crate::version::Minor;
use config::KubeletConfig;
use klog::{Klog, Kv};

/// Errors that stop the kubelet (printed as `"command failed" err="…"`, exit 1).
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// Flags or configuration file.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Credentials.
    #[error("failed to run Kubelet: {0}")]
    Bootstrap(#[from] bootstrap::BootstrapError),
    /// The node identity is unknown (not on a labsim node).
    #[error("failed to run Kubelet: {0}")]
    Node(String),
    /// The runtime cannot be reached.
    #[error(
        "failed to run Kubelet: validate service connection: validate CRI v1 runtime API for endpoint {endpoint:?}: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: {detail}\""
    )]
    Runtime {
        /// The endpoint.
        endpoint: String,
        /// What failed.
        detail: String,
    },
    /// A server could not listen.
    #[error("failed to run Kubelet: {0}")]
    Listen(String),
    /// Something else (TLS setup, the API client).
    #[error("failed to run Kubelet: {0}")]
    Other(String),
    /// The configuration does not suit the node (cmd/kubelet/app/server.go wraps
    /// `ValidateKubeletConfiguration`'s error with the configuration printed by `%s`, which shows
    /// its empty TypeMeta).
    #[error(
        "failed to validate kubelet configuration, error: {0}, path: &TypeMeta{{Kind:,APIVersion:,}}"
    )]
    Validation(String),
}

/// The validation error of a kubelet that must not run on the node's cgroup v1
/// (pkg/kubelet/apis/config/validation/validation_linux.go `validateKubeletOSConfiguration`; the
/// node's hierarchy is its own, [`crate::node::CgroupVersion`]): 1.31–1.34 say maintenance mode,
/// 1.35 and later that v1 is unsupported (KEP-5573).
pub fn cgroup_v1_refusal(
    cfg: &KubeletConfig,
    minor: u32,
    cgroup: crate::node::CgroupVersion,
) -> Option<String> {
    if minor < 31 || cgroup != crate::node::CgroupVersion::V1 || !cfg.fails_on_cgroup_v1(minor) {
        return None;
    }
    let why = if minor >= 35 {
        "cgroup v1 support is unsupported and will be removed in a future release"
    } else {
        "cgroup v1 support is in maintenance mode"
    };
    Some(format!(
        "kubelet is configured to not run on a host using cgroup v1. {why}"
    ))
}

/// `metav1.Time` now.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `metav1.MicroTime` now.
pub fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// One event to record.
#[derive(Debug, Clone)]
struct EventReq {
    obj: Value,
    typ: String,
    reason: String,
    message: String,
    field_path: Option<String>,
}

/// Why containers wait to (re)start, by pod UID and container name: (reason, message).
pub(crate) type Reasons = HashMap<String, HashMap<String, (String, String)>>;

/// The running kubelet (shared by its tasks).
pub struct Kubelet {
    /// Configuration.
    pub cfg: KubeletConfig,
    /// Logger.
    pub log: Klog,
    /// The node name.
    pub node_name: String,
    /// The node IP.
    pub node_ip: Ipv4Addr,
    /// The profile's slot (for pod address mapping).
    pub slot: u8,
    /// The Kubernetes minor this kubelet is.
    pub minor: Minor,
    /// The API client (None in standalone mode).
    pub client: Option<Client>,
    /// The runtime.
    pub runtime: RuntimeClient,
    /// `containerd://…`.
    pub runtime_version: String,
    /// What containers get as `LABSIM_APISERVER`.
    pub apiserver_url: String,
    /// The machine.
    pub machine: node::Machine,
    /// Node capacity.
    pub capacity: Value,
    /// Node allocatable.
    pub allocatable: Value,
    events: mpsc::UnboundedSender<EventReq>,
    network_error: Mutex<Option<String>>,
    node: Mutex<Option<Value>>,
    /// Pods by UID.
    pub(crate) pods: Mutex<BTreeMap<String, pods::PodEntry>>,
    pub(crate) workers: Mutex<HashMap<String, mpsc::UnboundedSender<()>>>,
    pub(crate) backoff: Mutex<backoff::Backoff>,
    pub(crate) image_backoff: Mutex<backoff::Backoff>,
    pub(crate) reasons: Mutex<Reasons>,
    pub(crate) probe_state: Mutex<HashMap<String, pods::ProbeFlags>>,
    pub(crate) probe_tasks: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    pub(crate) posted: Mutex<HashMap<String, Value>>,
    pub(crate) tokens: tokio::sync::Mutex<HashMap<String, volumes::CachedToken>>,
    pub(crate) services: Mutex<Option<ReflectorStore>>,
    pub(crate) api_pods: Mutex<Option<ReflectorStore>>,
    pub(crate) started: std::time::Instant,
    pub(crate) deleted_once: Mutex<std::collections::HashSet<String>>,
    pub(crate) static_seen: std::sync::atomic::AtomicBool,
    pub(crate) sources_ready: std::sync::atomic::AtomicBool,
    pub(crate) volumes_refreshed: Mutex<HashMap<String, std::time::Instant>>,
    /// The node's injected faults (`labsim fault stop-heartbeats`).
    pub(crate) faults: crate::faults::watcher::FaultWatcher,
    /// Which heartbeats have logged that the fault holds them.
    pub(crate) heartbeat_fault_logged: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet")
            .field("node", &self.node_name)
            .finish_non_exhaustive()
    }
}

impl Kubelet {
    /// Queues an event (sent in order, best effort, as client-go's broadcaster does).
    pub(crate) fn event_raw(
        &self,
        obj: Value,
        typ: &str,
        reason: &str,
        message: &str,
        field_path: Option<String>,
    ) {
        let _ = self.events.send(EventReq {
            obj,
            typ: typ.into(),
            reason: reason.into(),
            message: message.into(),
            field_path,
        });
    }

    /// The runtime's errors as the Ready condition reports them (empty when ready).
    pub fn runtime_errors(&self) -> Vec<String> {
        self.network_error
            .lock()
            .expect("lock")
            .iter()
            .cloned()
            .collect()
    }

    /// The network error pods without host networking are held back by.
    pub(crate) fn network_error(&self) -> Option<String> {
        self.network_error.lock().expect("lock").clone()
    }

    fn set_node(&self, node: &Value) {
        *self.node.lock().expect("lock") = Some(node.clone());
    }

    /// The Node's UID once registered.
    pub fn node_uid(&self) -> Option<String> {
        self.node
            .lock()
            .expect("lock")
            .as_ref()
            .and_then(|n| n["metadata"]["uid"].as_str().map(str::to_string))
    }

    /// Checks the runtime every 5 s (kubelet.go `updateRuntimeUp`): readiness of its network.
    async fn run_runtime_status(self: Arc<Self>) {
        loop {
            match self.runtime.call(Request::Status).await {
                Ok(Reply::Status(st)) => {
                    let net = st.conditions.iter().find(|c| c.type_ == "NetworkReady");
                    let err = match net {
                        Some(c) if !c.status => {
                            let text = format!(
                                "{}={} reason:{} message:{}",
                                c.type_, c.status, c.reason, c.message
                            );
                            self.log.error(
                                "kubelet.go:3017",
                                None,
                                "Container runtime network not ready",
                                &[("networkReady", Kv::S(text.clone()))],
                            );
                            Some(format!("container runtime network not ready: {text}"))
                        }
                        Some(_) => None,
                        None => Some("container runtime network not ready: NetworkReady condition is missing".into()),
                    };
                    *self.network_error.lock().expect("lock") = err;
                }
                Ok(_) => {}
                Err(e) => {
                    self.log.error(
                        "kubelet.go:2970",
                        Some(&e.to_string()),
                        "Container runtime sanity check failed",
                        &[],
                    );
                    *self.network_error.lock().expect("lock") =
                        Some(format!("container runtime is down: {e}"));
                }
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }

    async fn run_events(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<EventReq>) {
        let Some(client) = self.client.clone() else {
            while rx.recv().await.is_some() {}
            return;
        };
        let recorder = Recorder::new(client, "kubelet", &self.node_name);
        while let Some(e) = rx.recv().await {
            for attempt in 0..3 {
                let r = recorder
                    .event(
                        &e.obj,
                        &e.typ,
                        &e.reason,
                        &e.message,
                        e.field_path.as_deref(),
                    )
                    .await;
                if r.is_ok() {
                    break;
                }
                if attempt < 2 {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Services for environments (pod namespace + `default/kubernetes`).
    pub(crate) fn services(&self) -> Vec<Value> {
        self.services
            .lock()
            .expect("lock")
            .as_ref()
            .map(|s| s.list())
            .unwrap_or_default()
    }

    /// An API pod by namespace and name (mirror pods included).
    pub(crate) fn api_pod(&self, ns: &str, name: &str) -> Option<Value> {
        self.api_pods
            .lock()
            .expect("lock")
            .as_ref()
            .and_then(|s| s.get(&format!("{ns}/{name}")))
    }
}

fn apiserver_url(client: &Option<crate::client::Config>) -> String {
    client
        .as_ref()
        .map(|c| c.server.clone())
        .unwrap_or_default()
}

async fn run(args: Vec<String>) -> Result<(), KubeletError> {
    let node_info = crate::node::NodeInfo::current("kubelet");
    // component-base/version/verflag: `--version` (NoOptDefVal "true") prints the version and
    // exits before anything else is read; kubeadm's preflight runs `kubelet --version`.
    if let Some(mode) = version_flag(&args) {
        let minor = node_info
            .as_ref()
            .map(|n| n.kubernetes_version)
            .unwrap_or_default();
        match mode {
            "false" => {}
            "raw" => {
                println!(
                    "version.Info{{Major:\"1\", Minor:\"{}\", GitVersion:\"{}\", GoVersion:\"go1.24\", Compiler:\"gc\", Platform:\"linux/amd64\"}}",
                    minor.minor(),
                    minor.git_version()
                );
                return Ok(());
            }
            _ => {
                println!("Kubernetes {}", minor.git_version());
                return Ok(());
            }
        }
    }
    let (cfg, flags) = KubeletConfig::load_for(
        &args,
        node_info
            .as_ref()
            .ok()
            .map(|n| n.kubernetes_version.minor()),
    )?;
    let log = Klog::new(cfg.verbosity);
    let info = node_info.map_err(|e| KubeletError::Node(e.to_string()))?;
    let minor = info.kubernetes_version;
    if let Some(e) = cgroup_v1_refusal(&cfg, minor.minor(), info.cgroup_version) {
        return Err(KubeletError::Validation(e));
    }
    log.info(
        "server.go:487",
        "Kubelet version",
        &[("kubeletVersion", Kv::S(minor.git_version()))],
    );
    // cliflag.PrintFlags at V(1).
    for (k, v) in &flags.set {
        log.vinfof(1, "flags.go:64", &format!("FLAG: --{k}={v:?}"));
    }
    let node_name = cfg
        .hostname_override
        .clone()
        .unwrap_or_else(|| info.node.to_lowercase());
    let node_ip = cfg.node_ip.unwrap_or(info.ip);
    let setup = bootstrap::client_config(
        cfg.kubeconfig.as_deref(),
        cfg.bootstrap_kubeconfig.as_deref(),
        &cfg.cert_dir,
        &node_name,
        cfg.rotate_certificates,
        &log,
    )
    .await?;
    let client_cfg = setup.config;
    let client = match &client_cfg {
        Some(c) => {
            let mut c = c.clone();
            c.user_agent = format!(
                "kubelet/{} (linux/amd64) kubernetes/labsim",
                minor.git_version()
            );
            Some(Client::new(&c).map_err(|e| KubeletError::Other(e.to_string()))?)
        }
        None => None,
    };
    let runtime = RuntimeClient::new(&cfg.runtime_endpoint, cfg.runtime_request_timeout);
    let version = match runtime.call(Request::Version).await {
        Ok(Reply::Version(v)) => v,
        Ok(_) => {
            return Err(KubeletError::Runtime {
                endpoint: cfg.runtime_endpoint.clone(),
                detail: "unexpected reply".into(),
            });
        }
        Err(e) => {
            return Err(KubeletError::Runtime {
                endpoint: cfg.runtime_endpoint.clone(),
                detail: e.to_string(),
            });
        }
    };
    let runtime_version = format!(
        "{}://{}",
        version.runtime_name,
        version.runtime_version.trim_start_matches('v')
    );
    log.info(
        "kuberuntime_manager.go:262",
        "Container runtime initialized",
        &[
            ("containerRuntime", Kv::S(version.runtime_name.clone())),
            ("version", Kv::S(version.runtime_version.clone())),
            ("apiVersion", Kv::S(version.runtime_api_version.clone())),
        ],
    );
    let machine = node::machine(&cfg.root_dir);
    let (capacity, allocatable) = node::resources(&machine, &cfg);
    let (tx, rx) = mpsc::unbounded_channel();
    let k = Arc::new(Kubelet {
        apiserver_url: apiserver_url(&client_cfg),
        cfg,
        log,
        node_name,
        node_ip,
        slot: info.slot,
        minor,
        client,
        runtime,
        runtime_version,
        machine,
        capacity,
        allocatable,
        events: tx,
        network_error: Mutex::new(Some(
            "container runtime status check may not have completed yet".into(),
        )),
        node: Mutex::new(None),
        pods: Mutex::new(BTreeMap::new()),
        workers: Mutex::new(HashMap::new()),
        backoff: Mutex::new(backoff::Backoff::kubelet()),
        image_backoff: Mutex::new(backoff::Backoff::kubelet()),
        reasons: Mutex::new(HashMap::new()),
        probe_state: Mutex::new(HashMap::new()),
        probe_tasks: Mutex::new(HashMap::new()),
        posted: Mutex::new(HashMap::new()),
        tokens: tokio::sync::Mutex::new(HashMap::new()),
        services: Mutex::new(None),
        api_pods: Mutex::new(None),
        started: std::time::Instant::now(),
        deleted_once: Mutex::new(Default::default()),
        static_seen: std::sync::atomic::AtomicBool::new(false),
        sources_ready: std::sync::atomic::AtomicBool::new(false),
        volumes_refreshed: Mutex::new(HashMap::new()),
        faults: crate::faults::watcher::FaultWatcher::start("kubelet"),
        heartbeat_fault_logged: Mutex::new(Default::default()),
    });
    tokio::spawn(k.clone().run_events(rx));
    // The first runtime status before anything reports it.
    if let Ok(Reply::Status(st)) = k.runtime.call(Request::Status).await {
        let err = st
            .conditions
            .iter()
            .find(|c| c.type_ == "NetworkReady" && !c.status)
            .map(|c| {
                format!(
                    "container runtime network not ready: {}={} reason:{} message:{}",
                    c.type_, c.status, c.reason, c.message
                )
            });
        *k.network_error.lock().expect("lock") = err;
    }
    tokio::spawn(k.clone().run_runtime_status());
    server::start(k.clone()).await?;
    if let Some(client) = k.client.clone() {
        if setup.rotate_now {
            tokio::spawn(bootstrap::rotate_client_cert(
                client.clone(),
                k.cfg.cert_dir.clone(),
                k.node_name.clone(),
                k.log.clone(),
            ));
        }
        let pods = Reflector::new(
            client.clone(),
            path("", "v1", "pods", None, None),
            ListParams {
                field_selector: Some(format!("spec.nodeName={}", k.node_name)),
                ..Default::default()
            },
        );
        *k.api_pods.lock().expect("lock") = Some(pods.store());
        let changes = pods.subscribe();
        tokio::spawn(pods.run());
        tokio::spawn(k.clone().run_api_source(changes));
        let services = Reflector::new(
            client,
            path("", "v1", "services", None, None),
            ListParams::default(),
        );
        *k.services.lock().expect("lock") = Some(services.store());
        tokio::spawn(services.run());
        tokio::spawn(k.clone().run_node_status());
    }
    tokio::spawn(k.clone().run_static_source());
    tokio::spawn(k.clone().run_pleg());
    tokio::spawn(k.clone().run_housekeeping());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| KubeletError::Other(e.to_string()))?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| KubeletError::Other(e.to_string()))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    k.log.info("kubelet.go:1620", "Shutting down kubelet", &[]);
    Ok(())
}

/// Entry point: `labsim kubelet …` (or the `kubelet` symlink).
pub fn main(args: Vec<String>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kubelet: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // component-base/cli/run.go: klog.ErrorS(err, "command failed") and exit 1.
            Klog::new(0).error("run.go:72", Some(&e.to_string()), "command failed", &[]);
            ExitCode::from(1)
        }
    }
}

/// The object reference of a pod for events (kind and apiVersion filled in).
pub(crate) fn pod_ref(pod: &Value) -> Value {
    let mut p = json!({"kind": "Pod", "apiVersion": "v1", "metadata": pod["metadata"].clone()});
    if p["metadata"]["namespace"].is_null() {
        p["metadata"]["namespace"] = json!("default");
    }
    p
}

/// The value of a `--version` flag among `args`: `true` when given bare, as verflag's NoOptDefVal.
fn version_flag(args: &[String]) -> Option<&str> {
    args.iter().rev().find_map(|a| match a.as_str() {
        "--version" | "-version" => Some("true"),
        other => other
            .strip_prefix("--version=")
            .or_else(|| other.strip_prefix("-version=")),
    })
}
