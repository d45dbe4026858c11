//! The container runtime (containerd's role on a node): pod sandboxes, containers as processes,
//! images, pod networking, and the CRI-shaped API ([`cri`]) that the kubelet, `crictl` and `ctr`
//! use on `/run/containerd/containerd.sock`.
//!
//! The node agent (`crate::node::agent`) hosts the runtime, as a node's containerd runs beside its
//! systemd: at every node start, before the enabled units start, the agent calls [`start`]; at
//! shutdown, after the units are stopped, [`Runtime::shutdown`]. The runtime runs in the agent's
//! tokio runtime, in the node's namespaces: the processes it starts are the node's.
//!
//! - **Sandboxes** ([`RuntimeService.RunPodSandbox`](cri::Request::RunPodSandbox)): a 64-hex ID
//!   shared with the pause container and task, the pause process (the image program of the
//!   sandbox image), an IP from the node's CNI network ([`cni`]) unless host-network, and
//!   `hostPort` forwarders ([`portmap`]) while the sandbox lives. The sandbox image is containerd's
//!   `sandbox_image` from `/etc/containerd/config.toml` if set there, else
//!   `registry.k8s.io/pause:<version::Minor::pause_tag>`.
//! - **Containers**: processes started per the contract in docs/labsim.md (`<labsim> image run`
//!   with the `LABSIM_*` environment), output to their CRI log file ([`task`]), states and exit
//!   codes as containerd reports them; `StopContainer` sends the image's stop signal (SIGTERM by
//!   default) and SIGKILL after the timeout, at once when it is 0 (containerd
//!   `internal/cri/server/container_stop.go`).
//! - **Images** ([`images`]): pulled from labsim's catalogue; unknown references fail as from an
//!   unreachable registry.
//! - **Metadata** ([`state`]) is kept under `/var/lib/containerd/labsim`; after a node restart the
//!   old sandboxes are `NOTREADY` and their containers exited (code 255, reason `Unknown`).
//! - **containerd's own view** (`ctr`): one container per sandbox (the pause image) and per app
//!   container in namespace `k8s.io`; a task per running process with its host PID; `CtrKill`
//!   signals a task's process like `ctr task kill` (pause exits on SIGTERM: the sandbox becomes
//!   `NOTREADY`).

pub mod client;
pub mod cni;
pub mod cri;
pub mod images;
pub mod portmap;
pub mod state;
pub mod task;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::node::NodeInfo;
use crate::node::agent::AgentContext;
use crate::node::journal::Journal;
use cri::{
    Container, ContainerConfig, ContainerState, CtrContainer, CtrTask, PodSandbox,
    PodSandboxConfig, Reply, Request, Response, RpcError, RuntimeCondition, RuntimeStatus,
    SandboxState, VersionInfo,
};
use images::ImageStore;
use state::{Lookup, State};
use task::{Spawn, Task};

/// Where the runtime keeps its metadata inside a node.
pub const STATE_DIR: &str = "/var/lib/containerd/labsim";
/// containerd's configuration file (read for `sandbox_image`).
pub const CONFIG_FILE: &str = "/etc/containerd/config.toml";
/// The containerd namespace the CRI plugin uses.
pub const K8S_NAMESPACE: &str = "k8s.io";
/// containerd's runtime type for runc (shown by `ctr containers list` and `crictl inspect`).
pub const RUNTIME_TYPE: &str = "io.containerd.runc.v2";

/// The containerd every labsim node has, whatever its Kubernetes version, as one kicbase image
/// has one containerd: 2.2.0 from containerd's release (`containerd --version` prints the Go
/// package `github.com/containerd/containerd/v2`), the version and commit minikube pins for its
/// ISO in PR 21409 (`containerd-bin.mk`), which kicbase follows (minikube issue 21986: "both iso
/// and kic … bump to containerd 2"). 2.2 is the line Kubernetes 1.36 needs and serves CRI v1, which
/// every kubelet from 1.26 on speaks (K8S-FACTS.md; containerd RELEASES.md "Kubernetes support").
/// minikube's `Preparing containerd …` line, the CRI `Version` (`crictl version`, the Node's
/// `containerRuntimeVersion`), `ctr version` and the node's `containerd --version` all use it.
pub const CONTAINERD_VERSION: &str = "v2.2.0";
/// The commit of [`CONTAINERD_VERSION`] (`containerd --version`'s last field).
pub const CONTAINERD_REVISION: &str = "1c4457e00facac03ce1d75f7b6777a7a851e5c41";
/// The Go package containerd 2.x reports (containerd `version/version.go` `Package`).
pub const CONTAINERD_PACKAGE: &str = "github.com/containerd/containerd/v2";

/// The container runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The socket could not be created.
    #[error("cannot listen on {path}: {source}")]
    Listen {
        /// The socket path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Unix time in nanoseconds.
pub fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// A new 64-hex ID (containerd's `util.GenerateID`: 32 random bytes).
pub fn new_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the OS random source works");
    crate::pki::hex(&b)
}

/// The paths the runtime uses (the real ones inside a node; tests point them elsewhere).
#[derive(Debug, Clone)]
pub struct RuntimePaths {
    /// Metadata directory.
    pub state_dir: PathBuf,
    /// containerd's config file.
    pub config_file: PathBuf,
    /// CNI paths.
    pub cni: cni::CniPaths,
}

impl Default for RuntimePaths {
    fn default() -> Self {
        RuntimePaths {
            state_dir: STATE_DIR.into(),
            config_file: CONFIG_FILE.into(),
            cni: cni::CniPaths::default(),
        }
    }
}

/// containerd's sandbox image from its config: `sandbox_image = "…"` (containerd 1.x,
/// `[plugins."io.containerd.grpc.v1.cri"]`) or `sandbox = "…"` under `pinned_images`
/// (containerd 2.x).
pub fn configured_sandbox_image(config_toml: &str) -> Option<String> {
    let mut in_pinned = false;
    for line in config_toml.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_pinned = l.contains("pinned_images");
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        let k = k.trim();
        if k == "sandbox_image" || (in_pinned && k == "sandbox") {
            let v = v.trim().trim_matches('"').trim_matches('\'');
            if !v.is_empty() {
                return Some(v.to_string());
            }
        }
    }
    None
}

struct Inner {
    node: NodeInfo,
    journal: Option<Arc<Journal>>,
    paths: RuntimePaths,
    labsim: PathBuf,
    state: Mutex<State>,
    images: Mutex<ImageStore>,
    tasks: Mutex<HashMap<String, Task>>,
    forwarders: Mutex<HashMap<String, Vec<portmap::Forwarder>>>,
}

/// A started container runtime (cheap to clone).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
    server: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("node", &self.inner.node.node)
            .finish_non_exhaustive()
    }
}

fn rpc(code: &str, message: impl Into<String>) -> RpcError {
    RpcError {
        code: code.to_string(),
        message: message.into(),
    }
}

fn not_found_container(id: &str) -> RpcError {
    rpc(
        "NotFound",
        format!("an error occurred when try to find container {id:?}: not found"),
    )
}

fn not_found_sandbox(id: &str) -> RpcError {
    rpc(
        "NotFound",
        format!("an error occurred when try to find sandbox {id:?}: not found"),
    )
}

fn ambiguous(id: &str) -> RpcError {
    rpc(
        "Unknown",
        format!("an error occurred when try to find {id:?}: multiple IDs with the prefix"),
    )
}

/// Docker's rules for the effective argv: the pod's `command` replaces the entrypoint (and drops
/// the image's cmd), `args` replace the cmd.
pub fn effective_argv(
    entrypoint: &[String],
    cmd: &[String],
    command: &[String],
    args: &[String],
) -> Vec<String> {
    if !command.is_empty() {
        command.iter().chain(args).cloned().collect()
    } else if !args.is_empty() {
        entrypoint.iter().chain(args).cloned().collect()
    } else {
        entrypoint.iter().chain(cmd).cloned().collect()
    }
}

impl Runtime {
    /// A runtime for `node` with explicit paths (tests); [`start`] is the node agent's way in.
    pub fn new(node: NodeInfo, journal: Option<Arc<Journal>>, paths: RuntimePaths) -> Runtime {
        let state = State::load(&paths.state_dir, now_ns());
        let images = ImageStore::load(&paths.state_dir.join("images.json"));
        Runtime {
            inner: Arc::new(Inner {
                labsim: node.labsim.clone(),
                node,
                journal,
                paths,
                state: Mutex::new(state),
                images: Mutex::new(images),
                tasks: Mutex::new(HashMap::new()),
                forwarders: Mutex::new(HashMap::new()),
            }),
            server: Arc::new(Mutex::new(None)),
        }
    }

    /// Serves the API on `socket` (root-only, like containerd's socket).
    ///
    /// # Errors
    /// [`RuntimeError::Listen`] when the socket cannot be created.
    pub fn serve(&self, socket: &Path) -> Result<(), RuntimeError> {
        let err = |source| RuntimeError::Listen {
            path: socket.display().to_string(),
            source,
        };
        if let Some(dir) = socket.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket).map_err(err)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))
                .map_err(err)?;
        }
        let me = self.clone();
        let handle = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let me = me.clone();
                tokio::spawn(async move {
                    let _ = me.connection(stream).await;
                });
            }
        });
        *self.server.lock().expect("server lock") = Some(handle);
        Ok(())
    }

    async fn connection(&self, stream: UnixStream) -> std::io::Result<()> {
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        while let Some(line) = lines.next_line().await? {
            if line.trim().is_empty() {
                continue;
            }
            let resp = match serde_json::from_str::<Request>(&line) {
                Ok(req) => match self.handle(req).await {
                    Ok(r) => Response {
                        result: Some(r),
                        error: None,
                    },
                    Err(e) => Response {
                        result: None,
                        error: Some(e),
                    },
                },
                Err(e) => Response {
                    result: None,
                    error: Some(rpc("InvalidArgument", format!("bad request: {e}"))),
                },
            };
            let mut out = serde_json::to_string(&resp).expect("responses serialise");
            out.push('\n');
            w.write_all(out.as_bytes()).await?;
        }
        Ok(())
    }

    /// Stops every task (the node is going down: tasks die with it) and the server. The metadata
    /// stays as it is; the next start sees the tasks as gone.
    pub async fn shutdown(self) {
        if let Some(h) = self.server.lock().expect("server lock").take() {
            h.abort();
        }
        let tasks: Vec<Task> = self
            .inner
            .tasks
            .lock()
            .expect("tasks lock")
            .values()
            .cloned()
            .collect();
        for t in &tasks {
            t.signal(Signal::SIGKILL, true);
        }
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t.wait()).await;
        }
        self.inner.forwarders.lock().expect("fw lock").clear();
    }

    fn log(&self, level: &str, msg: &str) {
        if let Some(j) = &self.inner.journal {
            let line = format!(
                "time=\"{}\" level={level} msg={}",
                task::rfc3339nano(now_ns()),
                go_quote(msg)
            );
            j.log(
                Some("containerd.service"),
                "containerd",
                std::process::id(),
                &line,
            );
        }
    }

    fn sandbox_image(&self) -> String {
        std::fs::read_to_string(&self.inner.paths.config_file)
            .ok()
            .and_then(|t| configured_sandbox_image(&t))
            .unwrap_or_else(|| {
                format!(
                    "registry.k8s.io/pause:{}",
                    self.inner.node.kubernetes_version.pause_tag()
                )
            })
    }

    fn network_status(&self) -> RuntimeStatus {
        let net = cni::status(&self.inner.paths.cni);
        RuntimeStatus {
            conditions: vec![
                RuntimeCondition {
                    type_: "RuntimeReady".into(),
                    status: true,
                    reason: String::new(),
                    message: String::new(),
                },
                match net {
                    Ok(()) => RuntimeCondition {
                        type_: "NetworkReady".into(),
                        status: true,
                        reason: String::new(),
                        message: String::new(),
                    },
                    Err(e) => RuntimeCondition {
                        type_: "NetworkReady".into(),
                        status: false,
                        // containerd internal/cri/server/status.go
                        reason: "NetworkPluginNotReady".into(),
                        message: format!("Network plugin returns error: {e}"),
                    },
                },
            ],
        }
    }

    /// Handles one request.
    ///
    /// # Errors
    /// The [`RpcError`] containerd would return.
    pub async fn handle(&self, req: Request) -> Result<Reply, RpcError> {
        match req {
            Request::Version => Ok(Reply::Version(VersionInfo {
                version: "0.1.0".into(),
                runtime_name: "containerd".into(),
                runtime_version: CONTAINERD_VERSION.into(),
                runtime_api_version: "v1".into(),
            })),
            Request::Status => Ok(Reply::Status(self.network_status())),
            Request::RunPodSandbox { config } => self.run_pod_sandbox(config).await,
            Request::StopPodSandbox { id } => self.stop_pod_sandbox(&id).await,
            Request::RemovePodSandbox { id } => self.remove_pod_sandbox(&id).await,
            Request::PodSandboxStatus { id } => {
                let st = self.inner.state.lock().expect("state lock");
                let id = st.sandbox_id(&id).map_err(|e| match e {
                    Lookup::NotFound => not_found_sandbox(&id),
                    Lookup::Ambiguous => ambiguous(&id),
                })?;
                Ok(Reply::Sandbox(Box::new(st.sandboxes[&id].clone())))
            }
            Request::ListPodSandbox { filter } => {
                let st = self.inner.state.lock().expect("state lock");
                let mut items: Vec<PodSandbox> = st
                    .sandboxes
                    .values()
                    .filter(|s| filter.id.as_ref().is_none_or(|p| s.id.starts_with(p)))
                    .filter(|s| filter.state.is_none_or(|want| s.state == want))
                    .filter(|s| {
                        filter
                            .label_selector
                            .iter()
                            .all(|(k, v)| s.labels.get(k) == Some(v))
                    })
                    .cloned()
                    .collect();
                items.sort_by_key(|x| std::cmp::Reverse(x.created_at));
                Ok(Reply::Sandboxes { items })
            }
            Request::CreateContainer {
                pod_sandbox_id,
                config,
            } => self.create_container(&pod_sandbox_id, config),
            Request::StartContainer { id } => self.start_container(&id),
            Request::StopContainer { id, timeout } => self.stop_container(&id, timeout).await,
            Request::RemoveContainer { id } => self.remove_container(&id).await,
            Request::ListContainers { filter } => {
                let st = self.inner.state.lock().expect("state lock");
                let mut items: Vec<Container> = st
                    .containers
                    .values()
                    .filter(|c| filter.id.as_ref().is_none_or(|p| c.id.starts_with(p)))
                    .filter(|c| filter.state.is_none_or(|want| c.state == want))
                    .filter(|c| {
                        filter
                            .pod_sandbox_id
                            .as_ref()
                            .is_none_or(|p| c.pod_sandbox_id.starts_with(p))
                    })
                    .filter(|c| {
                        filter
                            .label_selector
                            .iter()
                            .all(|(k, v)| c.labels.get(k) == Some(v))
                    })
                    .cloned()
                    .collect();
                items.sort_by_key(|x| std::cmp::Reverse(x.created_at));
                Ok(Reply::Containers { items })
            }
            Request::ContainerStatus { id } => {
                let st = self.inner.state.lock().expect("state lock");
                let id = st.container_id(&id).map_err(|e| match e {
                    Lookup::NotFound => not_found_container(&id),
                    Lookup::Ambiguous => ambiguous(&id),
                })?;
                let mut c = st.containers[&id].clone();
                // containerd reports the image by its first tag and its repo digest
                // (internal/cri/server/container_status.go).
                if let Some(img) = self.inner.images.lock().expect("images").find(&c.image_ref) {
                    if let Some(tag) = img.tags.first() {
                        c.image = tag.clone();
                    }
                    c.image_ref = img.meta.repo_digest.clone();
                }
                Ok(Reply::Container(Box::new(c)))
            }
            Request::PullImage { image } => {
                let mut store = self.inner.images.lock().expect("images");
                match store.pull(&image, false) {
                    Ok(i) => {
                        drop(store);
                        self.log(
                            "info",
                            &format!(
                                "PullImage {image:?} returns image reference {:?}",
                                i.meta.id
                            ),
                        );
                        Ok(Reply::Image {
                            image_ref: i.meta.id,
                        })
                    }
                    Err(e) => {
                        drop(store);
                        self.log("error", &format!("PullImage {image:?} failed"));
                        Err(rpc("Unknown", e))
                    }
                }
            }
            Request::ListImages => Ok(Reply::Images {
                items: self
                    .inner
                    .images
                    .lock()
                    .expect("images")
                    .list()
                    .iter()
                    .map(|i| i.to_cri())
                    .collect(),
            }),
            Request::ImageStatus { image } => Ok(Reply::ImageInfo {
                image: self
                    .inner
                    .images
                    .lock()
                    .expect("images")
                    .find(&image)
                    .map(|i| i.to_cri()),
            }),
            Request::RemoveImage { image } => {
                self.inner.images.lock().expect("images").remove(&image);
                Ok(Reply::Empty)
            }
            Request::CtrContainers { namespace } => Ok(Reply::CtrContainers {
                items: self.ctr_containers(&namespace),
            }),
            Request::CtrTasks { namespace } => Ok(Reply::CtrTasks {
                items: self.ctr_tasks(&namespace),
            }),
            Request::CtrKill {
                namespace,
                id,
                signal,
                all,
            } => self.ctr_kill(&namespace, &id, signal, all),
        }
    }

    async fn run_pod_sandbox(&self, config: PodSandboxConfig) -> Result<Reply, RpcError> {
        let id = new_id();
        let meta = config.metadata.clone();
        self.log(
            "info",
            &format!(
                "RunPodSandbox for &PodSandboxMetadata{{Name:{},Uid:{},Namespace:{},Attempt:{},}}",
                meta.name, meta.uid, meta.namespace, meta.attempt
            ),
        );
        // Sandbox names are reserved like container names (containerd `makeSandboxName`).
        let reserved = format!(
            "{}_{}_{}_{}",
            meta.name, meta.namespace, meta.uid, meta.attempt
        );
        {
            let st = self.inner.state.lock().expect("state lock");
            if let Some(other) = st.sandboxes.values().find(|s| {
                let m = &s.metadata;
                format!("{}_{}_{}_{}", m.name, m.namespace, m.uid, m.attempt) == reserved
            }) {
                return Err(rpc(
                    "Unknown",
                    format!(
                        "failed to reserve sandbox name {reserved:?}: name {reserved:?} is reserved for {:?}",
                        other.id
                    ),
                ));
            }
        }
        let pause_ref = self.sandbox_image();
        let pause = {
            let mut store = self.inner.images.lock().expect("images");
            match store.find(&pause_ref).cloned() {
                Some(i) => i,
                None => store.pull(&pause_ref, true).map_err(|e| {
                    rpc(
                        "Unknown",
                        format!("failed to get sandbox image {pause_ref:?}: failed to pull image {pause_ref:?}: {e}"),
                    )
                })?,
            }
        };
        let node_ip = self.inner.node.ip;
        let (pod_ip, bind_ip) = if config.host_network {
            (String::new(), node_ip)
        } else {
            let paths = self.inner.paths.cni.clone();
            let sid = id.clone();
            let ip = tokio::task::spawn_blocking(move || cni::setup(&paths, &sid))
                .await
                .map_err(|e| rpc("Unknown", e.to_string()))?
                .map_err(|e| {
                    rpc(
                        "Unknown",
                        format!("failed to setup network for sandbox {id:?}: {e}"),
                    )
                })?;
            let mapped = crate::net::pod_host_addr(self.inner.node.slot, ip).map_err(|e| {
                cni::teardown(&self.inner.paths.cni, &id);
                rpc(
                    "Unknown",
                    format!("failed to setup network for sandbox {id:?}: {e}"),
                )
            })?;
            (ip.to_string(), mapped)
        };
        let mut env: Vec<(String, String)> = vec![(
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        )];
        env.extend(pause.meta.env.iter().cloned());
        env.push(("HOSTNAME".into(), config.hostname.clone()));
        env.extend(self.labsim_env(
            pause.tags.first().map(String::as_str).unwrap_or(&pause_ref),
            &effective_argv(&pause.meta.entrypoint, &pause.meta.cmd, &[], &[]),
            &[],
            &pod_ip,
            bind_ip,
            &id,
        ));
        let spawned = task::spawn(Spawn {
            program: self.inner.labsim.clone(),
            args: vec!["image".into(), "run".into()],
            env,
            log: None,
        });
        let t = match spawned {
            Ok(t) => t,
            Err(e) => {
                if !config.host_network {
                    cni::teardown(&self.inner.paths.cni, &id);
                }
                return Err(rpc(
                    "Unknown",
                    format!("failed to start sandbox container task {id:?}: {e}"),
                ));
            }
        };
        let mut forwarders = vec![];
        if !config.host_network {
            for m in &config.port_mappings {
                if m.host_port == 0 {
                    continue;
                }
                if !m.protocol.eq_ignore_ascii_case("TCP") {
                    self.log(
                        "warning",
                        &format!(
                            "labsim forwards only TCP host ports; {} hostPort {} of sandbox {id:?} is not served",
                            m.protocol, m.host_port
                        ),
                    );
                    continue;
                }
                let listen =
                    SocketAddrV4::new(portmap::listen_ip(&m.host_ip, node_ip), m.host_port);
                let target = SocketAddrV4::new(bind_ip, m.container_port);
                match portmap::forward(listen, target).await {
                    Ok(f) => forwarders.push(f),
                    Err(e) => self.log(
                        "error",
                        &format!(
                            "failed to map host port {listen} to {target} for sandbox {id:?}: {e}"
                        ),
                    ),
                }
            }
        }
        let sb = PodSandbox {
            id: id.clone(),
            metadata: meta,
            state: SandboxState::Ready,
            created_at: now_ns(),
            ip: pod_ip,
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            runtime_handler: String::new(),
            pid: Some(t.pid),
            pause_image: pause.tags.first().cloned().unwrap_or(pause_ref),
            config,
            bind_ip: bind_ip.to_string(),
        };
        {
            let mut st = self.inner.state.lock().expect("state lock");
            st.sandboxes.insert(id.clone(), sb);
            st.save_sandbox(&id);
        }
        self.inner
            .tasks
            .lock()
            .expect("tasks lock")
            .insert(id.clone(), t.clone());
        self.inner
            .forwarders
            .lock()
            .expect("fw lock")
            .insert(id.clone(), forwarders);
        let me = self.clone();
        let sid = id.clone();
        tokio::spawn(async move {
            let exit = t.wait().await;
            me.inner.tasks.lock().expect("tasks lock").remove(&sid);
            let mut st = me.inner.state.lock().expect("state lock");
            if let Some(sb) = st.sandboxes.get_mut(&sid) {
                sb.state = SandboxState::NotReady;
                sb.pid = None;
                st.save_sandbox(&sid);
            }
            drop(st);
            me.log(
                "info",
                &format!("shim disconnected id={sid} namespace=k8s.io (sandbox task exited with status {})", exit.code),
            );
        });
        self.log(
            "info",
            &format!("RunPodSandbox for {reserved:?} returns sandbox id {id:?}"),
        );
        Ok(Reply::Id { id })
    }

    fn labsim_env(
        &self,
        image: &str,
        argv: &[String],
        mounts: &[cri::Mount],
        pod_ip: &str,
        bind_ip: Ipv4Addr,
        id: &str,
    ) -> Vec<(String, String)> {
        let mounts: Vec<serde_json::Value> = mounts
            .iter()
            .map(|m| {
                serde_json::json!({"containerPath": m.container_path, "hostPath": m.host_path, "readonly": m.readonly})
            })
            .collect();
        vec![
            ("LABSIM_IMAGE".into(), image.to_string()),
            (
                "LABSIM_ARGV".into(),
                serde_json::to_string(argv).expect("JSON"),
            ),
            (
                "LABSIM_MOUNTS".into(),
                serde_json::to_string(&mounts).expect("JSON"),
            ),
            ("LABSIM_POD_IP".into(), pod_ip.to_string()),
            ("LABSIM_BIND_IP".into(), bind_ip.to_string()),
            ("LABSIM_NODE_NAME".into(), self.inner.node.node.clone()),
            ("LABSIM_NODE_IP".into(), self.inner.node.ip.to_string()),
            ("LABSIM_SLOT".into(), self.inner.node.slot.to_string()),
            ("LABSIM_CONTAINER_ID".into(), id.to_string()),
        ]
    }

    fn running_containers_of(&self, sandbox: &str) -> Vec<String> {
        let st = self.inner.state.lock().expect("state lock");
        st.containers
            .values()
            .filter(|c| c.pod_sandbox_id == sandbox && c.state == ContainerState::Running)
            .map(|c| c.id.clone())
            .collect()
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<Reply, RpcError> {
        let id = {
            let st = self.inner.state.lock().expect("state lock");
            st.sandbox_id(id).map_err(|e| match e {
                Lookup::NotFound => not_found_sandbox(id),
                Lookup::Ambiguous => ambiguous(id),
            })?
        };
        self.log("info", &format!("StopPodSandbox for {id:?}"));
        for c in self.running_containers_of(&id) {
            let _ = self.stop_container(&c, 0).await;
        }
        let t = self
            .inner
            .tasks
            .lock()
            .expect("tasks lock")
            .get(&id)
            .cloned();
        if let Some(t) = t {
            t.signal(Signal::SIGKILL, true);
            let _ = tokio::time::timeout(Duration::from_secs(5), t.wait()).await;
        }
        let host_network = {
            let mut st = self.inner.state.lock().expect("state lock");
            let hn = st
                .sandboxes
                .get(&id)
                .map(|s| s.config.host_network)
                .unwrap_or(true);
            if let Some(sb) = st.sandboxes.get_mut(&id) {
                sb.state = SandboxState::NotReady;
                sb.pid = None;
            }
            st.save_sandbox(&id);
            hn
        };
        self.inner.forwarders.lock().expect("fw lock").remove(&id);
        if !host_network {
            cni::teardown(&self.inner.paths.cni, &id);
        }
        self.log(
            "info",
            &format!("StopPodSandbox for {id:?} returns successfully"),
        );
        Ok(Reply::Empty)
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<Reply, RpcError> {
        let id = {
            let st = self.inner.state.lock().expect("state lock");
            match st.sandbox_id(id) {
                Ok(id) => id,
                // Removing what is gone is not an error (CRI: idempotent).
                Err(Lookup::NotFound) => return Ok(Reply::Empty),
                Err(Lookup::Ambiguous) => return Err(ambiguous(id)),
            }
        };
        let ready = {
            let st = self.inner.state.lock().expect("state lock");
            st.sandboxes[&id].state == SandboxState::Ready
        };
        if ready {
            self.log("info", &format!("Forcibly stopping sandbox {id:?}"));
            self.stop_pod_sandbox(&id).await?;
        }
        let containers: Vec<String> = {
            let st = self.inner.state.lock().expect("state lock");
            st.containers
                .values()
                .filter(|c| c.pod_sandbox_id == id)
                .map(|c| c.id.clone())
                .collect()
        };
        for c in containers {
            self.remove_container(&c).await?;
        }
        self.inner
            .state
            .lock()
            .expect("state lock")
            .remove_sandbox(&id);
        self.log(
            "info",
            &format!("RemovePodSandbox {id:?} returns successfully"),
        );
        Ok(Reply::Empty)
    }

    fn create_container(
        &self,
        sandbox_id: &str,
        config: ContainerConfig,
    ) -> Result<Reply, RpcError> {
        let mut st = self.inner.state.lock().expect("state lock");
        let sid = st.sandbox_id(sandbox_id).map_err(|e| match e {
            Lookup::NotFound => not_found_sandbox(sandbox_id),
            Lookup::Ambiguous => ambiguous(sandbox_id),
        })?;
        let sb = st.sandboxes[&sid].clone();
        if sb.state != SandboxState::Ready {
            return Err(rpc(
                "Unknown",
                format!(
                    "failed to get sandbox container task: no running task found: task {sid} not found: not found"
                ),
            ));
        }
        // containerd's CRI creates a bind mount's missing source as a directory (0755), as Docker
        // did: a hostPath volume of type "" may name a directory that does not exist yet
        // (internal/cri/opts/spec_linux_opts.go, WithMounts).
        for m in &config.mounts {
            let src = std::path::Path::new(&m.host_path);
            if !src.exists() {
                std::fs::create_dir_all(src).map_err(|e| {
                    rpc(
                        "Unknown",
                        format!(
                            "failed to generate container spec: failed to mkdir {:?}: {e}",
                            m.host_path
                        ),
                    )
                })?;
            }
        }
        let img = self
            .inner
            .images
            .lock()
            .expect("images")
            .find(&config.image)
            .cloned()
            .ok_or_else(|| {
                rpc(
                    "NotFound",
                    format!(
                        "failed to resolve image {:?}: {:?}: not found",
                        config.image, config.image
                    ),
                )
            })?;
        // containerd reserves `<name>_<pod>_<namespace>_<uid>_<attempt>` (util.MakeContainerName).
        let m = &sb.metadata;
        let reserved = format!(
            "{}_{}_{}_{}_{}",
            config.metadata.name, m.name, m.namespace, m.uid, config.metadata.attempt
        );
        if let Some(other) = st.containers.values().find(|c| {
            c.pod_sandbox_id == sid
                && c.metadata.name == config.metadata.name
                && c.metadata.attempt == config.metadata.attempt
        }) {
            return Err(rpc(
                "Unknown",
                format!(
                    "failed to reserve container name {reserved:?}: name {reserved:?} is reserved for {:?}",
                    other.id
                ),
            ));
        }
        let id = new_id();
        let log_path = if config.log_path.is_empty() {
            String::new()
        } else {
            Path::new(&sb.config.log_directory)
                .join(&config.log_path)
                .display()
                .to_string()
        };
        let c = Container {
            id: id.clone(),
            pod_sandbox_id: sid,
            metadata: config.metadata.clone(),
            image: config.image.clone(),
            image_ref: img.meta.id.clone(),
            state: ContainerState::Created,
            created_at: now_ns(),
            started_at: 0,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
            mounts: config.mounts.clone(),
            log_path,
            pid: None,
            config,
        };
        st.containers.insert(id.clone(), c);
        st.save_container(&id);
        drop(st);
        self.log(
            "info",
            &format!("CreateContainer within sandbox {sandbox_id:?} for {reserved:?} returns container id {id:?}"),
        );
        Ok(Reply::Id { id })
    }

    fn start_container(&self, id: &str) -> Result<Reply, RpcError> {
        let (c, sb) = {
            let st = self.inner.state.lock().expect("state lock");
            let cid = st.container_id(id).map_err(|e| match e {
                Lookup::NotFound => not_found_container(id),
                Lookup::Ambiguous => ambiguous(id),
            })?;
            let c = st.containers[&cid].clone();
            let sb = st.sandboxes.get(&c.pod_sandbox_id).cloned();
            (c, sb)
        };
        if c.state != ContainerState::Created {
            let s = serde_json::to_value(c.state).expect("state");
            return Err(rpc(
                "Unknown",
                format!(
                    "failed to set starting state for container {:?}: container is in {} state",
                    c.id,
                    s.as_str().unwrap_or_default()
                ),
            ));
        }
        let Some(sb) = sb.filter(|s| s.state == SandboxState::Ready) else {
            return Err(rpc(
                "Unknown",
                format!("sandbox container {:?} is not running", c.pod_sandbox_id),
            ));
        };
        let img = self
            .inner
            .images
            .lock()
            .expect("images")
            .find(&c.image_ref)
            .cloned();
        let (entrypoint, cmd, image_env, image_name) = match &img {
            Some(i) => (
                i.meta.entrypoint.clone(),
                i.meta.cmd.clone(),
                i.meta.env.clone(),
                i.tags.first().cloned().unwrap_or(i.meta.reference.clone()),
            ),
            None => (vec![], vec![], vec![], c.config.image.clone()),
        };
        let user_image = if c.config.user_specified_image.is_empty() {
            image_name
        } else {
            c.config.user_specified_image.clone()
        };
        let argv = effective_argv(&entrypoint, &cmd, &c.config.command, &c.config.args);
        // runc execs the argv's first element in the image: a missing executable fails the
        // start (StartError, exit 128), as containerd reports it.
        if let Some(spec) = crate::images::catalog::lookup(&user_image)
            && let Err(e) = spec.resolve(&argv)
        {
            let msg = e.runc_message();
            let mut st = self.inner.state.lock().expect("state lock");
            if let Some(rec) = st.containers.get_mut(&c.id) {
                rec.state = ContainerState::Exited;
                rec.exit_code = 128;
                rec.reason = "StartError".into();
                rec.message = msg.clone();
                rec.finished_at = now_ns();
            }
            st.save_container(&c.id);
            return Err(rpc("Unknown", msg));
        }
        let bind_ip: Ipv4Addr = sb.bind_ip.parse().unwrap_or(self.inner.node.ip);
        let mut env: Vec<(String, String)> = vec![(
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        )];
        env.extend(image_env);
        env.push(("HOSTNAME".into(), sb.config.hostname.clone()));
        env.extend(self.labsim_env(&user_image, &argv, &c.mounts, &sb.ip, bind_ip, &c.id));
        env.extend(c.config.envs.iter().cloned());
        let spawned = task::spawn(Spawn {
            program: self.inner.labsim.clone(),
            args: vec!["image".into(), "run".into()],
            env,
            log: (!c.log_path.is_empty()).then(|| PathBuf::from(&c.log_path)),
        });
        let t = match spawned {
            Ok(t) => t,
            Err(e) => {
                let mut st = self.inner.state.lock().expect("state lock");
                if let Some(rec) = st.containers.get_mut(&c.id) {
                    rec.state = ContainerState::Exited;
                    rec.exit_code = 128;
                    rec.reason = "StartError".into();
                    rec.message = e.to_string();
                    rec.finished_at = now_ns();
                }
                st.save_container(&c.id);
                return Err(rpc(
                    "Unknown",
                    format!("failed to create containerd task: {e}"),
                ));
            }
        };
        {
            let mut st = self.inner.state.lock().expect("state lock");
            if let Some(rec) = st.containers.get_mut(&c.id) {
                rec.state = ContainerState::Running;
                rec.started_at = now_ns();
                rec.pid = Some(t.pid);
            }
            st.save_container(&c.id);
        }
        self.inner
            .tasks
            .lock()
            .expect("tasks lock")
            .insert(c.id.clone(), t.clone());
        let me = self.clone();
        let cid = c.id.clone();
        tokio::spawn(async move {
            let exit = t.wait().await;
            me.inner.tasks.lock().expect("tasks lock").remove(&cid);
            let mut st = me.inner.state.lock().expect("state lock");
            if let Some(rec) = st.containers.get_mut(&cid) {
                rec.state = ContainerState::Exited;
                rec.exit_code = exit.code;
                rec.finished_at = exit.at_ns;
                rec.pid = None;
                // containerd: exit 0 is Completed, anything else Error (no OOM killer here).
                rec.reason = if exit.code == 0 { "Completed" } else { "Error" }.into();
            }
            st.save_container(&cid);
        });
        self.log(
            "info",
            &format!("StartContainer for {:?} returns successfully", c.id),
        );
        Ok(Reply::Empty)
    }

    async fn stop_container(&self, id: &str, timeout: i64) -> Result<Reply, RpcError> {
        let (cid, stop_signal) = {
            let st = self.inner.state.lock().expect("state lock");
            let cid = st.container_id(id).map_err(|e| match e {
                Lookup::NotFound => not_found_container(id),
                Lookup::Ambiguous => ambiguous(id),
            })?;
            let img = self
                .inner
                .images
                .lock()
                .expect("images")
                .find(&st.containers[&cid].image_ref)
                .cloned();
            (cid, img.and_then(|i| i.meta.stop_signal))
        };
        self.log(
            "info",
            &format!("StopContainer for {cid:?} with timeout {timeout} (s)"),
        );
        let t = self
            .inner
            .tasks
            .lock()
            .expect("tasks lock")
            .get(&cid)
            .cloned();
        let Some(t) = t else {
            return Ok(Reply::Empty);
        };
        if timeout > 0 {
            let sig = stop_signal
                .and_then(|s| Signal::try_from(s).ok())
                .unwrap_or(Signal::SIGTERM);
            self.log(
                "info",
                &format!("Stop container {cid:?} with signal {}", go_signal_name(sig)),
            );
            t.signal(sig, false);
            if tokio::time::timeout(Duration::from_secs(timeout as u64), t.wait())
                .await
                .is_ok()
            {
                self.settle(&cid).await;
                self.log(
                    "info",
                    &format!("StopContainer for {cid:?} returns successfully"),
                );
                return Ok(Reply::Empty);
            }
        }
        t.signal(Signal::SIGKILL, false);
        let _ = tokio::time::timeout(Duration::from_secs(10), t.wait()).await;
        self.settle(&cid).await;
        self.log(
            "info",
            &format!("StopContainer for {cid:?} returns successfully"),
        );
        Ok(Reply::Empty)
    }

    /// Waits until the exit watcher has recorded a container's exit.
    async fn settle(&self, cid: &str) {
        for _ in 0..200 {
            let done = self
                .inner
                .state
                .lock()
                .expect("state lock")
                .containers
                .get(cid)
                .is_none_or(|c| c.state != ContainerState::Running);
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn remove_container(&self, id: &str) -> Result<Reply, RpcError> {
        let cid = {
            let st = self.inner.state.lock().expect("state lock");
            match st.container_id(id) {
                Ok(c) => c,
                Err(Lookup::NotFound) => return Ok(Reply::Empty),
                Err(Lookup::Ambiguous) => return Err(ambiguous(id)),
            }
        };
        let running = self
            .inner
            .state
            .lock()
            .expect("state lock")
            .containers
            .get(&cid)
            .is_some_and(|c| c.state == ContainerState::Running);
        if running {
            // containerd forcibly stops a running container it is asked to remove.
            self.stop_container(&cid, 0).await?;
        }
        self.inner
            .state
            .lock()
            .expect("state lock")
            .remove_container(&cid);
        self.log(
            "info",
            &format!("RemoveContainer for {cid:?} returns successfully"),
        );
        Ok(Reply::Empty)
    }

    fn ctr_containers(&self, namespace: &str) -> Vec<CtrContainer> {
        if namespace != K8S_NAMESPACE {
            return vec![];
        }
        let st = self.inner.state.lock().expect("state lock");
        let images = self.inner.images.lock().expect("images");
        let mut out: Vec<CtrContainer> = st
            .sandboxes
            .values()
            .map(|s| CtrContainer {
                id: s.id.clone(),
                image: images::normalize(&s.pause_image),
                runtime: RUNTIME_TYPE.into(),
            })
            .chain(st.containers.values().map(|c| {
                CtrContainer {
                    id: c.id.clone(),
                    image: images
                        .find(&c.image_ref)
                        .and_then(|i| i.tags.first().cloned())
                        .unwrap_or_else(|| "-".into()),
                    runtime: RUNTIME_TYPE.into(),
                }
            }))
            .collect();
        // containerd lists containers by ID (its metadata store is a sorted bucket).
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn ctr_tasks(&self, namespace: &str) -> Vec<CtrTask> {
        if namespace != K8S_NAMESPACE {
            return vec![];
        }
        let tasks = self.inner.tasks.lock().expect("tasks lock");
        let mut out: Vec<CtrTask> = tasks
            .iter()
            .filter(|(_, t)| t.running())
            .map(|(id, t)| CtrTask {
                id: id.clone(),
                pid: t.pid,
                status: "RUNNING".into(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn ctr_kill(
        &self,
        namespace: &str,
        id: &str,
        signal: i32,
        all: bool,
    ) -> Result<Reply, RpcError> {
        let known = namespace == K8S_NAMESPACE && {
            let st = self.inner.state.lock().expect("state lock");
            st.sandboxes.contains_key(id) || st.containers.contains_key(id)
        };
        if !known {
            return Err(rpc(
                "NotFound",
                format!("container \"{id}\" in namespace \"{namespace}\": not found"),
            ));
        }
        let t = self
            .inner
            .tasks
            .lock()
            .expect("tasks lock")
            .get(id)
            .cloned();
        let Some(t) = t.filter(Task::running) else {
            return Err(rpc(
                "NotFound",
                format!("no running task found: task {id} not found: not found"),
            ));
        };
        let sig = Signal::try_from(signal)
            .map_err(|_| rpc("InvalidArgument", format!("invalid signal {signal}")))?;
        t.signal(sig, all);
        Ok(Reply::Empty)
    }

    /// The sandboxes and containers, for tests.
    pub fn snapshot(&self) -> (BTreeMap<String, PodSandbox>, BTreeMap<String, Container>) {
        let st = self.inner.state.lock().expect("state lock");
        (st.sandboxes.clone(), st.containers.clone())
    }
}

/// Go's `%q` of a string (logrus quotes messages with `strconv.Quote` rules for the common cases).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's name of a signal (`syscall.Signal.String()`): `terminated`, `killed`, `interrupt`, …
pub fn go_signal_name(sig: Signal) -> &'static str {
    match sig {
        Signal::SIGTERM => "terminated",
        Signal::SIGKILL => "killed",
        Signal::SIGINT => "interrupt",
        Signal::SIGQUIT => "quit",
        Signal::SIGHUP => "hangup",
        Signal::SIGUSR1 => "user defined signal 1",
        Signal::SIGUSR2 => "user defined signal 2",
        _ => "signal",
    }
}

/// Starts the node's container runtime: loads the metadata, serves [`cri::SOCKET`].
///
/// # Errors
/// [`RuntimeError`] when the socket cannot be created; the agent logs it and keeps the node running.
pub async fn start(ctx: AgentContext) -> Result<Runtime, RuntimeError> {
    let rt = Runtime::new(
        ctx.node.clone(),
        Some(ctx.journal.clone()),
        RuntimePaths::default(),
    );
    rt.serve(Path::new(cri::SOCKET))?;
    rt.log(
        "info",
        &format!(
            "containerd successfully booted (labsim runtime {}, CRI v1 on {})",
            CONTAINERD_VERSION,
            cri::SOCKET
        ),
    );
    Ok(rt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_follows_dockers_rules() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (ep, cmd) = (s(&["/podinfo"]), s(&["--port=9898"]));
        assert_eq!(
            effective_argv(&ep, &cmd, &[], &[]),
            s(&["/podinfo", "--port=9898"])
        );
        assert_eq!(
            effective_argv(&ep, &cmd, &[], &s(&["--level=debug"])),
            s(&["/podinfo", "--level=debug"])
        );
        assert_eq!(
            effective_argv(&ep, &cmd, &s(&["sh", "-c"]), &[]),
            s(&["sh", "-c"])
        );
        assert_eq!(
            effective_argv(&ep, &cmd, &s(&["sh"]), &s(&["-c", "x"])),
            s(&["sh", "-c", "x"])
        );
    }

    #[test]
    fn sandbox_image_comes_from_containerds_config() {
        assert_eq!(
            configured_sandbox_image(
                "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.9\"\n"
            )
            .as_deref(),
            Some("registry.k8s.io/pause:3.9")
        );
        assert_eq!(
            configured_sandbox_image(
                "version = 3\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = 'registry.k8s.io/pause:3.10'\n"
            )
            .as_deref(),
            Some("registry.k8s.io/pause:3.10")
        );
        assert_eq!(configured_sandbox_image("[x]\nsandbox = \"no\"\n"), None);
        assert_eq!(go_quote("a \"b\"\n"), "\"a \\\"b\\\"\\n\"");
    }
}
