//! `kube-controller-manager`: the controllers of cmd/kube-controller-manager, each in its own module
//! where a Kubernetes engineer would look for it (pkg/controller/<name>):
//!
//! | `--controllers` name | module | upstream |
//! |---|---|---|
//! | deployment | [`deployment`] | pkg/controller/deployment |
//! | replicaset | [`replicaset`] | pkg/controller/replicaset |
//! | daemonset | [`daemonset`] | pkg/controller/daemon |
//! | endpoint, endpointslice | [`endpoints`] | pkg/controller/endpoint, endpointslice |
//! | garbagecollector | [`gc`] | pkg/controller/garbagecollector |
//! | namespace | [`namespace`] | pkg/controller/namespace |
//! | serviceaccount | [`serviceaccount`] | pkg/controller/serviceaccount |
//! | root-ca-cert-publisher | [`rootca`] | pkg/controller/certificates/rootcacertpublisher |
//! | nodeipam | [`nodeipam`] | pkg/controller/nodeipam |
//! | csrapproving, csrsigning | [`certificates`] | pkg/controller/certificates |
//! | bootstrapsigner, tokencleaner | [`bootstrap`] | pkg/controller/bootstrap |
//! | podgc | [`podgc`] | pkg/controller/podgc |
//! | nodelifecycle | [`nodelifecycle`] | pkg/controller/nodelifecycle |
//! | taint-eviction-controller | [`tainteviction`] | pkg/controller/tainteviction |
//!
//! The process takes kubeadm's static-pod flags ([`options`]), elects a leader with the
//! `kube-system/kube-controller-manager` Lease ([`leader`]), then runs the enabled controllers on
//! shared informers ([`informers`]). The Kubernetes version it behaves as comes from
//! `$LABSIM_KUBERNETES_VERSION` (set by the kubelet from the image tag).

pub mod bootstrap;
pub mod certificates;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod flags;
pub mod gc;
pub mod hash;
pub mod health;
pub mod informers;
pub mod leader;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod options;
pub mod podgc;
pub mod queue;
pub mod replicaset;
pub mod rootca;
pub mod serviceaccount;
pub mod tainteviction;
pub mod util;

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::client::events::Recorder;
use crate::client::{Change, Client, ClientError, Config};
use crate::version::Minor;
use informers::{Informer, Informers};
use options::Options;
use queue::WorkQueue;

/// Errors of a controller's sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The API refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A certificate or key could not be used.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// The object is not what the controller can work with.
    #[error("{0}")]
    Invalid(String),
}

/// Errors starting the controller manager.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// `$LABSIM_KUBERNETES_VERSION` is not a supported version.
    #[error("LABSIM_KUBERNETES_VERSION: {0}")]
    Version(#[from] crate::version::VersionError),
    /// The kubeconfig cannot be used.
    #[error("invalid configuration: {0}")]
    Client(#[from] ClientError),
    /// The secure (health) port cannot be served.
    #[error(transparent)]
    Health(#[from] health::HealthError),
    /// A file named by a flag cannot be read.
    #[error("cannot read {path}: {source}: check the flag that names it")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// What every controller gets: the API client, the shared informers, the options.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The API client.
    pub client: Client,
    /// Shared informers.
    pub informers: Informers,
    /// The options.
    pub opts: Arc<Options>,
    /// The CA bundle of the kubeconfig (the root CA when `--root-ca-file` is not given).
    pub kubeconfig_ca: Option<String>,
}

impl Ctx {
    /// An event recorder reporting as `component` (`deployment-controller`, …).
    pub fn recorder(&self, component: &str) -> Arc<Recorder> {
        Arc::new(Recorder::new(self.client.clone(), component, ""))
    }

    /// The Kubernetes minor.
    pub fn minor(&self) -> Minor {
        self.opts.minor
    }
}

/// Writes a klog-formatted line to stderr (`I1128 04:38:54.588330       7 file.go] msg`).
pub fn klog(level: char, file: &str, msg: &str) {
    eprintln!(
        "{level}{} {:>7} {file}] {msg}",
        jiff::Timestamp::now().strftime("%m%d %H:%M:%S%.6f"),
        std::process::id()
    );
}

/// Feeds a queue from an informer: every change is mapped to keys by `map`; a (re)list
/// (`Change::Restarted`) enqueues `all()`.
pub fn feed<M, A>(informer: &Informer, queue: Arc<WorkQueue>, map: M, all: A)
where
    M: Fn(&Change) -> Vec<String> + Send + 'static,
    A: Fn() -> Vec<String> + Send + 'static,
{
    let mut rx = informer.subscribe();
    let inf = informer.clone();
    tokio::spawn(async move {
        inf.wait_ready().await;
        for k in all() {
            queue.add(&k);
        }
        while let Some(c) = informers::next_change(&mut rx).await {
            let keys = match c {
                Change::Restarted => all(),
                ref c => map(c),
            };
            for k in keys {
                queue.add(&k);
            }
        }
    });
}

/// Runs a queue's worker: `sync(key)` for every key; `Ok(Some(d))` requeues after `d`, an error
/// requeues with backoff and is logged.
pub async fn work<F, Fut>(name: &'static str, queue: Arc<WorkQueue>, sync: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Duration>, SyncError>>,
{
    loop {
        let key = queue.get().await;
        match sync(key.clone()).await {
            Ok(again) => {
                queue.forget(&key);
                if let Some(d) = again {
                    queue.add_after(&key, d);
                }
            }
            Err(e) => {
                // A conflict only means the cache was stale; retry without noise.
                if !matches!(&e, SyncError::Client(c) if c.is_conflict()) {
                    klog(
                        'E',
                        name,
                        &format!("\"Error syncing\" key=\"{key}\" err=\"{e}\""),
                    );
                }
                queue.add_rate_limited(&key);
            }
        }
        queue.done(&key);
    }
}

/// The key of an object's namespace-level owner for `feed` maps: the object's own key.
pub fn own_key(c: &Change) -> Vec<String> {
    informers::changed_object(c)
        .map(|o| vec![util::key(o)])
        .unwrap_or_default()
}

/// Keys of every object of an informer.
pub fn all_keys(inf: &Informer) -> Vec<String> {
    inf.store.list().iter().map(util::key).collect()
}

/// Runs a controller whose key is a namespace (the root CA publisher, the ServiceAccounts
/// controller): every namespace added or changed is queued (all of them at each relist), and so
/// are the namespaces `owned` picks from changes of `resource`, the objects it keeps in each
/// namespace; `sync(namespaces, objects, namespace)` reconciles one.
pub async fn run_per_namespace<O, F, Fut>(
    ctx: &Ctx,
    resource: &str,
    owned: O,
    name: &'static str,
    sync: F,
) where
    O: Fn(&Change) -> Vec<String> + Send + 'static,
    F: Fn(Informer, Informer, String) -> Fut,
    Fut: Future<Output = Result<Option<Duration>, SyncError>>,
{
    let namespaces = ctx.informers.get("namespaces");
    let objects = ctx.informers.get(resource);
    let q = WorkQueue::new();
    let ns_all = namespaces.clone();
    feed(
        &namespaces,
        q.clone(),
        |c| match c {
            Change::Applied(o) => vec![util::name(o).to_string()],
            _ => vec![],
        },
        move || all_keys(&ns_all),
    );
    feed(&objects, q.clone(), owned, Vec::new);
    work(name, q, |ns| sync(namespaces.clone(), objects.clone(), ns)).await;
}

fn version_from_env() -> Result<Minor, crate::version::VersionError> {
    match std::env::var("LABSIM_KUBERNETES_VERSION") {
        Ok(v) if !v.trim().is_empty() => v.parse(),
        _ => Ok(Minor::default()),
    }
}

/// What a control-plane component's command does (kube-controller-manager, kube-scheduler):
/// its flags, its help text, its options, its run loop and how it reports a failed run.
pub struct Component<O, OE, Fut> {
    /// The flags of the version (`$LABSIM_KUBERNETES_VERSION`, the image tag).
    pub flag_set: fn(Minor) -> flags::FlagSet,
    /// What `--help` prints before the usage.
    pub help: &'static str,
    /// The options from the flags.
    pub options: fn(&flags::Flags, Minor) -> Result<O, OE>,
    /// The component's loops.
    pub run: fn(O) -> Fut,
    /// klog's source file and message for a failed run (`controllermanager.go`, `Error running
    /// controller manager`).
    pub failure: (&'static str, &'static str),
}

/// The command of a control-plane component, as component-base/cli/run.go runs one: flag errors
/// print the usage, then `Error: …`, exit 1; `--help` prints the help; the component runs until it
/// fails (klog error, exit 1) or SIGTERM/SIGINT (exit 0).
pub fn component_main<O, OE, Fut, RE>(c: Component<O, OE, Fut>, args: &[String]) -> ExitCode
where
    OE: std::fmt::Display,
    Fut: Future<Output = Result<(), RE>>,
    RE: std::fmt::Display,
{
    let minor = match version_from_env() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("Error: LABSIM_KUBERNETES_VERSION: {e}");
            return ExitCode::from(1);
        }
    };
    let set = (c.flag_set)(minor);
    let flags = match set.parse(args) {
        Ok(f) => f,
        Err(e) => {
            // component-base/cli/run.go: usage first, then the error; exit 1.
            eprintln!("{}", set.usage());
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    if flags.bool("help", false) {
        println!("{}\n\n{}", c.help, set.usage());
        return ExitCode::SUCCESS;
    }
    let opts = match (c.options)(&flags, minor) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let (site, what) = c.failure;
    runtime.block_on(async move {
        tokio::select! {
            r = (c.run)(opts) => match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    klog('E', site, &format!("\"{what}\" err=\"{e}\""));
                    ExitCode::from(1)
                }
            },
            _ = terminated() => ExitCode::SUCCESS,
        }
    })
}

/// Entry point of `labsim kube-controller-manager …`.
pub fn main(args: Vec<String>) -> ExitCode {
    component_main(
        Component {
            flag_set: options::flag_set,
            help: "The Kubernetes controller manager is a daemon that embeds\nthe core control loops shipped with Kubernetes (labsim).",
            options: Options::from_flags,
            run,
            failure: ("controllermanager.go", "Error running controller manager"),
        },
        &args,
    )
}

/// Serves a component's secure port (health endpoints) when `secure_port` is not 0 and, when
/// `leader` is given, waits until this candidate holds the Lease (client-go leaderelection logs the
/// attempt): what kube-controller-manager and kube-scheduler do before their loops start.
///
/// # Errors
/// [`health::HealthError`] when the secure port cannot be served.
pub async fn serve_and_elect(
    client: &Client,
    component: &'static str,
    bind_address: Option<&str>,
    secure_port: u16,
    leader: Option<leader::LeaderConfig>,
) -> Result<Option<leader::Elector>, health::HealthError> {
    if secure_port != 0 {
        let addr = health::listen_addr(bind_address, secure_port)?;
        health::serve(addr, component).await?;
    }
    let Some(config) = leader else {
        return Ok(None);
    };
    klog(
        'I',
        "leaderelection.go",
        &format!(
            "\"attempting to acquire leader lease...\" lease=\"{}/{}\"",
            config.namespace, config.name
        ),
    );
    let mut e = leader::Elector::new(client.clone(), config);
    e.acquire(&Recorder::new(client.clone(), component, ""))
        .await;
    Ok(Some(e))
}

/// Resolves on SIGTERM or SIGINT.
pub async fn terminated() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// The user agent of the real component (`kube-controller-manager/v1.33.7 (linux/amd64)
/// kubernetes/labsim`); the API server names the field manager after its first segment.
pub fn user_agent(component: &str, minor: Minor) -> String {
    format!(
        "{component}/{} (linux/amd64) kubernetes/labsim",
        minor.git_version()
    )
}

/// Runs the controller manager until leadership is lost (an error) or forever.
///
/// # Errors
/// [`ManagerError`] when the configuration is unusable or leadership is lost.
pub async fn run(opts: Options) -> Result<(), ManagerError> {
    let mut config = Config::from_kubeconfig(&opts.kubeconfig)?;
    config.user_agent = user_agent("kube-controller-manager", opts.minor);
    let client = Client::new(&config)?;
    klog(
        'I',
        "controllermanager.go",
        &format!("\"Starting\" version=\"{}\"", opts.minor.git_version()),
    );
    let leader = opts.leader_elect.then(|| {
        leader::LeaderConfig::candidate(
            &opts.lease_namespace,
            &opts.lease_name,
            (opts.lease_duration, opts.renew_deadline, opts.retry_period),
        )
    });
    let mut elector = serve_and_elect(
        &client,
        "kube-controller-manager",
        opts.bind_address.as_deref(),
        opts.secure_port,
        leader,
    )
    .await?;
    let opts = Arc::new(opts);
    let ctx = Ctx {
        informers: Informers::new(client.clone()),
        client,
        kubeconfig_ca: config.ca_pem.clone(),
        opts: opts.clone(),
    };
    start_controllers(&ctx)?;
    match elector.as_mut() {
        Some(e) => {
            e.keep().await;
            klog('E', "controllermanager.go", "\"leaderelection lost\"");
            std::process::exit(1);
        }
        None => {
            std::future::pending::<()>().await;
            Ok(())
        }
    }
}

/// The ServiceAccount each controller gets in kube-system with `--use-service-account-credentials`
/// (the names cmd/kube-controller-manager/app passes to `ClientBuilder.ClientOrDie`).
pub const CONTROLLER_SERVICE_ACCOUNTS: &[(&str, &str)] = &[
    ("bootstrapsigner", "bootstrap-signer"),
    ("csrapproving", "certificate-controller"),
    ("csrsigning", "certificate-controller"),
    ("daemonset", "daemon-set-controller"),
    ("deployment", "deployment-controller"),
    ("endpoint", "endpoint-controller"),
    ("endpointslice", "endpointslice-controller"),
    ("garbagecollector", "generic-garbage-collector"),
    ("namespace", "namespace-controller"),
    ("nodeipam", "node-controller"),
    ("nodelifecycle", "node-controller"),
    ("podgc", "pod-garbage-collector"),
    ("replicaset", "replicaset-controller"),
    ("root-ca-cert-publisher", "root-ca-cert-publisher"),
    ("serviceaccount", "service-account-controller"),
    ("tokencleaner", "token-cleaner"),
];

/// With `--use-service-account-credentials`, the controller manager's client builder creates a
/// ServiceAccount in kube-system for each controller it starts
/// (staging/src/k8s.io/controller-manager/pkg/clientbuilder `getOrCreateServiceAccount`). labsim
/// creates the same accounts; its controllers keep making their requests with the kubeconfig's
/// credentials instead of the accounts' tokens (labsim's API server does not enforce RBAC for
/// authenticated users, so the permissions are the same).
async fn ensure_controller_service_accounts(ctx: Ctx) {
    let mut names: Vec<&str> = CONTROLLER_SERVICE_ACCOUNTS
        .iter()
        .filter(|(c, _)| ctx.opts.enabled(c))
        .map(|(_, sa)| *sa)
        .collect();
    names.sort();
    names.dedup();
    let collection = crate::client::path("", "v1", "serviceaccounts", Some("kube-system"), None);
    for name in names {
        loop {
            let body = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount",
                                          "metadata": {"name": name, "namespace": "kube-system"}});
            match ctx.client.create(&collection, &body).await {
                Ok(_) => break,
                Err(e) if e.is_already_exists() => break,
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
}

/// Starts every enabled controller as a task.
///
/// # Errors
/// [`ManagerError::Read`] when a file a controller needs cannot be read.
pub fn start_controllers(ctx: &Ctx) -> Result<(), ManagerError> {
    let on = |n: &str| ctx.opts.enabled(n);
    if ctx.opts.use_service_account_credentials {
        tokio::spawn(ensure_controller_service_accounts(ctx.clone()));
    }
    for c in options::KNOWN_CONTROLLERS {
        if on(c) && !options::IMPLEMENTED.contains(c) {
            klog(
                'W',
                "controllermanager.go",
                &format!("\"Skipping a controller labsim does not provide\" controller=\"{c}\""),
            );
        }
    }
    let spawn = |name: &str, fut: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>| {
        klog(
            'I',
            "controllermanager.go",
            &format!("\"Started controller\" controller=\"{name}\""),
        );
        tokio::spawn(fut);
    };
    if on("serviceaccount") {
        spawn(
            "serviceaccount-controller",
            Box::pin(serviceaccount::run(ctx.clone())),
        );
    }
    if on("root-ca-cert-publisher") {
        let ca = match &ctx.opts.root_ca_file {
            Some(p) => std::fs::read_to_string(p).map_err(|e| ManagerError::Read {
                path: p.display().to_string(),
                source: e,
            })?,
            None => ctx.kubeconfig_ca.clone().unwrap_or_default(),
        };
        spawn(
            "root-ca-certificate-publisher-controller",
            Box::pin(rootca::run(ctx.clone(), ca)),
        );
    }
    if on("nodeipam") && ctx.opts.allocate_node_cidrs {
        spawn("node-ipam-controller", Box::pin(nodeipam::run(ctx.clone())));
    }
    if on("csrapproving") {
        spawn(
            "certificatesigningrequest-approving-controller",
            Box::pin(certificates::run_approver(ctx.clone())),
        );
    }
    if on("csrsigning") {
        match &ctx.opts.cluster_signing {
            Some((cert, key)) => {
                let signer =
                    certificates::Signer::load(cert, key, ctx.opts.cluster_signing_duration)
                        .map_err(|e| ManagerError::Read {
                            path: cert.display().to_string(),
                            source: std::io::Error::other(e.to_string()),
                        })?;
                spawn(
                    "certificatesigningrequest-signing-controller",
                    Box::pin(certificates::run_signer(ctx.clone(), signer)),
                );
            }
            None => klog(
                'I',
                "certificates.go",
                "\"Skipping CSR signer controller because no csr cert/key was specified\"",
            ),
        }
    }
    if on("bootstrapsigner") {
        spawn(
            "bootstrap-signer-controller",
            Box::pin(bootstrap::run_signer(ctx.clone())),
        );
    }
    if on("tokencleaner") {
        spawn(
            "token-cleaner-controller",
            Box::pin(bootstrap::run_cleaner(ctx.clone())),
        );
    }
    if on("replicaset") {
        spawn(
            "replicaset-controller",
            Box::pin(replicaset::run(ctx.clone())),
        );
    }
    if on("deployment") {
        spawn(
            "deployment-controller",
            Box::pin(deployment::run(ctx.clone())),
        );
    }
    if on("daemonset") {
        spawn(
            "daemonset-controller",
            Box::pin(daemonset::run(ctx.clone())),
        );
    }
    if on("endpoint") {
        spawn(
            "endpoints-controller",
            Box::pin(endpoints::run_endpoints(ctx.clone())),
        );
    }
    if on("endpointslice") {
        spawn(
            "endpointslice-controller",
            Box::pin(endpoints::run_endpointslices(ctx.clone())),
        );
    }
    if on("garbagecollector") {
        spawn(
            "garbage-collector-controller",
            Box::pin(gc::run(ctx.clone())),
        );
    }
    if on("namespace") {
        spawn(
            "namespace-controller",
            Box::pin(namespace::run(ctx.clone())),
        );
    }
    if on("podgc") {
        spawn(
            "pod-garbage-collector-controller",
            Box::pin(podgc::run(ctx.clone())),
        );
    }
    if on("nodelifecycle") {
        spawn(
            "node-lifecycle-controller",
            Box::pin(nodelifecycle::run(ctx.clone())),
        );
    }
    // Before 1.29 the NoExecute taint manager ran inside the node lifecycle controller; from 1.29
    // it is the separate taint-eviction-controller (KEP-3902).
    let taint_manager = if ctx.minor().minor() >= 29 {
        on("taint-eviction-controller")
    } else {
        on("nodelifecycle")
    };
    if taint_manager {
        spawn(
            "taint-eviction-controller",
            Box::pin(tainteviction::run(ctx.clone())),
        );
    }
    Ok(())
}

/// A JSON object's string map as `(key, value)` pairs.
pub fn string_map(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}
