//! The runtime's API: a JSON-lines rendering of the parts of the Container Runtime Interface
//! (CRI v1, `k8s.io/cri-api/pkg/apis/runtime/v1/api.proto`) that the kubelet, `crictl` and `ctr` use,
//! plus the containerd task view that `ctr` shows.
//!
//! Transport: a unix socket at [`SOCKET`] inside the node (the path real containerd uses, so `crictl`'s
//! default endpoint matches). Each request is one JSON line ([`Request`]); the runtime answers with
//! one JSON line ([`Response`]) and keeps the connection open for further requests.
//!
//! Field names follow the CRI protobuf's JSON names (camelCase) so that `crictl inspect` can print
//! them as the real one does. Timestamps are Unix nanoseconds, as in CRI.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where the runtime listens inside a node (containerd's default address).
pub const SOCKET: &str = "/run/containerd/containerd.sock";

/// A request to the runtime.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "method", content = "params")]
pub enum Request {
    /// `RuntimeService.Version`.
    Version,
    /// `RuntimeService.Status`: runtime and network readiness.
    Status,
    /// `RuntimeService.RunPodSandbox`: creates and starts a sandbox (pause process, IP, port mappings).
    RunPodSandbox {
        /// The sandbox's configuration.
        config: PodSandboxConfig,
    },
    /// `RuntimeService.StopPodSandbox`: stops the sandbox's containers and its pause process.
    StopPodSandbox {
        /// Sandbox ID.
        id: String,
    },
    /// `RuntimeService.RemovePodSandbox`: removes a stopped sandbox and its containers.
    RemovePodSandbox {
        /// Sandbox ID.
        id: String,
    },
    /// `RuntimeService.PodSandboxStatus`.
    PodSandboxStatus {
        /// Sandbox ID (or a unique prefix).
        id: String,
    },
    /// `RuntimeService.ListPodSandbox`.
    ListPodSandbox {
        /// Which sandboxes to list.
        #[serde(default)]
        filter: SandboxFilter,
    },
    /// `RuntimeService.CreateContainer`.
    CreateContainer {
        /// The sandbox the container belongs to.
        pod_sandbox_id: String,
        /// The container's configuration.
        config: ContainerConfig,
    },
    /// `RuntimeService.StartContainer`.
    StartContainer {
        /// Container ID.
        id: String,
    },
    /// `RuntimeService.StopContainer`: SIGTERM, then SIGKILL after `timeout` seconds (0 = at once).
    StopContainer {
        /// Container ID (or a unique prefix).
        id: String,
        /// Grace period in seconds.
        timeout: i64,
    },
    /// `RuntimeService.RemoveContainer`.
    RemoveContainer {
        /// Container ID.
        id: String,
    },
    /// `RuntimeService.ListContainers`.
    ListContainers {
        /// Which containers to list.
        #[serde(default)]
        filter: ContainerFilter,
    },
    /// `RuntimeService.ContainerStatus` (with containerd's verbose `info`).
    ContainerStatus {
        /// Container ID (or a unique prefix).
        id: String,
    },
    /// `ImageService.PullImage`.
    PullImage {
        /// Image reference as written in the pod spec.
        image: String,
    },
    /// `ImageService.ListImages`.
    ListImages,
    /// `ImageService.ImageStatus`: whether an image is present (by reference or ID).
    ImageStatus {
        /// Image reference as written in the pod spec, or an image ID (`sha256:…`).
        image: String,
    },
    /// `ImageService.RemoveImage`.
    RemoveImage {
        /// Image reference or ID.
        image: String,
    },
    /// containerd's own view (`ctr -n <ns> containers list`): sandboxes' pause containers and app
    /// containers alike.
    CtrContainers {
        /// containerd namespace (`k8s.io` for Kubernetes).
        namespace: String,
    },
    /// containerd's tasks (`ctr -n <ns> tasks list`).
    CtrTasks {
        /// containerd namespace.
        namespace: String,
    },
    /// `ctr tasks kill`: signals a task's process like containerd does.
    CtrKill {
        /// containerd namespace.
        namespace: String,
        /// Container/task ID (full).
        id: String,
        /// Signal number.
        signal: i32,
        /// Signal every process of the task (`--all`).
        all: bool,
    },
}

/// The runtime's answer: exactly one of `result` or `error`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The method's result, shaped per method (see [`Reply`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Reply>,
    /// A gRPC-style error, as containerd returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

/// An error with a gRPC status code name (`NotFound`, `Unknown`, `InvalidArgument`, …) and
/// containerd's message, e.g. `an error occurred when try to find container "x": not found`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, thiserror::Error)]
#[error("rpc error: code = {code} desc = {message}")]
pub struct RpcError {
    /// gRPC code name.
    pub code: String,
    /// Human-readable description.
    pub message: String,
}

/// Results, one variant per method family.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind")]
pub enum Reply {
    /// For `Version`.
    Version(VersionInfo),
    /// For `Status`.
    Status(RuntimeStatus),
    /// For `RunPodSandbox` and `CreateContainer`: the new ID.
    Id {
        /// The ID.
        id: String,
    },
    /// For calls that return nothing.
    Empty,
    /// For `PodSandboxStatus`.
    Sandbox(Box<PodSandbox>),
    /// For `ListPodSandbox`.
    Sandboxes {
        /// The sandboxes, newest first.
        items: Vec<PodSandbox>,
    },
    /// For `ContainerStatus`.
    Container(Box<Container>),
    /// For `ListContainers`.
    Containers {
        /// The containers, newest first.
        items: Vec<Container>,
    },
    /// For `PullImage`: the image ID it resolved to (`sha256:…`).
    Image {
        /// The image reference.
        image_ref: String,
    },
    /// For `ListImages`.
    Images {
        /// Images present on the node.
        items: Vec<Image>,
    },
    /// For `ImageStatus`: the image, or `None` when it is not present (CRI answers an empty
    /// status rather than an error).
    ImageInfo {
        /// The image if present.
        image: Option<Image>,
    },
    /// For `CtrContainers`.
    CtrContainers {
        /// containerd containers.
        items: Vec<CtrContainer>,
    },
    /// For `CtrTasks`.
    CtrTasks {
        /// containerd tasks.
        items: Vec<CtrTask>,
    },
}

/// `VersionResponse`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// CRI version of the kubelet-facing API ("0.1.0" for containerd).
    pub version: String,
    /// "containerd".
    pub runtime_name: String,
    /// containerd's version, e.g. "v2.2.0".
    pub runtime_version: String,
    /// "v1".
    pub runtime_api_version: String,
}

/// `StatusResponse.status`: the `RuntimeReady` and `NetworkReady` conditions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStatus {
    /// Conditions (`RuntimeReady`, `NetworkReady`).
    pub conditions: Vec<RuntimeCondition>,
}

/// One runtime condition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeCondition {
    /// `RuntimeReady` or `NetworkReady`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Whether it holds.
    pub status: bool,
    /// e.g. `NetworkPluginNotReady`.
    #[serde(default)]
    pub reason: String,
    /// e.g. `Network plugin returns error: cni plugin not initialized`.
    #[serde(default)]
    pub message: String,
}

/// `PodSandboxMetadata`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodSandboxMetadata {
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Pod namespace.
    pub namespace: String,
    /// How many sandboxes this pod had before this one.
    pub attempt: u32,
}

/// `PortMapping` (what CNI's portmap plugin implements for `hostPort`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// `TCP` or `UDP`.
    pub protocol: String,
    /// Port inside the pod.
    pub container_port: u16,
    /// Port on the node.
    pub host_port: u16,
    /// Node address to bind ("" = the node IP).
    #[serde(default)]
    pub host_ip: String,
}

/// `PodSandboxConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodSandboxConfig {
    /// Identity of the pod.
    pub metadata: PodSandboxMetadata,
    /// Hostname inside the sandbox (the pod name, or the node's for host-network pods).
    #[serde(default)]
    pub hostname: String,
    /// Directory for the pod's container logs (`/var/log/pods/<ns>_<name>_<uid>`).
    #[serde(default)]
    pub log_directory: String,
    /// Port mappings (`hostPort`).
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// Labels (the kubelet puts `io.kubernetes.pod.*` here).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Share the node's network (`hostNetwork: true`): no pod IP of its own.
    #[serde(default)]
    pub host_network: bool,
}

/// `PodSandboxState`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum SandboxState {
    /// `SANDBOX_READY`.
    #[serde(rename = "SANDBOX_READY")]
    Ready,
    /// `SANDBOX_NOTREADY`.
    #[serde(rename = "SANDBOX_NOTREADY")]
    NotReady,
}

/// A sandbox as `PodSandboxStatus`/`ListPodSandbox` report it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodSandbox {
    /// 64-hex ID (also the pause container's and task's ID in containerd).
    pub id: String,
    /// Identity.
    pub metadata: PodSandboxMetadata,
    /// Ready while the pause process lives.
    pub state: SandboxState,
    /// Creation time, Unix ns.
    pub created_at: i64,
    /// The pod IP as Kubernetes sees it (`10.244.N.M`), empty for host-network sandboxes.
    #[serde(default)]
    pub ip: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Runtime handler (`""` = default).
    #[serde(default)]
    pub runtime_handler: String,
    /// Host PID of the pause process while it runs.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The pause image, e.g. `registry.k8s.io/pause:3.10`.
    pub pause_image: String,
    /// The configuration it was created with (what `crictl inspectp` shows as `info.config`).
    #[serde(default)]
    pub config: PodSandboxConfig,
    /// The address its processes serve on: the mapped pod address (`net::pod_host_addr`) or the
    /// node IP for host-network sandboxes.
    #[serde(default)]
    pub bind_ip: String,
}

/// `ContainerMetadata`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerMetadata {
    /// Container name in the pod spec.
    pub name: String,
    /// Restart attempt (the kubelet's restart count for this container).
    pub attempt: u32,
}

/// A mount: where a host (node) path appears inside the container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// Path inside the container.
    pub container_path: String,
    /// Path on the node.
    pub host_path: String,
    /// Read-only.
    #[serde(default)]
    pub readonly: bool,
}

/// `ContainerConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerConfig {
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// Image reference or ID (the kubelet passes the image ID it resolved).
    pub image: String,
    /// The image as the pod spec names it (CRI `ImageSpec.user_specified_image`).
    #[serde(default)]
    pub user_specified_image: String,
    /// Entrypoint override (pod spec `command`).
    #[serde(default)]
    pub command: Vec<String>,
    /// Arguments (pod spec `args`).
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory.
    #[serde(default)]
    pub working_dir: String,
    /// Environment, in order.
    #[serde(default)]
    pub envs: Vec<(String, String)>,
    /// Mounts.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Labels (`io.kubernetes.container.name`, `io.kubernetes.pod.*`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (`io.kubernetes.container.restartCount`, …).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Log path relative to the sandbox's log directory (`<name>/<attempt>.log`).
    #[serde(default)]
    pub log_path: String,
}

/// `ContainerState`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, not started.
    #[serde(rename = "CONTAINER_CREATED")]
    Created,
    /// Running.
    #[serde(rename = "CONTAINER_RUNNING")]
    Running,
    /// Exited.
    #[serde(rename = "CONTAINER_EXITED")]
    Exited,
    /// Unknown.
    #[serde(rename = "CONTAINER_UNKNOWN")]
    Unknown,
}

/// A container as `ContainerStatus`/`ListContainers` report it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// 64-hex ID.
    pub id: String,
    /// The sandbox it belongs to.
    pub pod_sandbox_id: String,
    /// Name and attempt.
    pub metadata: ContainerMetadata,
    /// Image reference as requested.
    pub image: String,
    /// Resolved image ID (`sha256:…`).
    pub image_ref: String,
    /// State.
    pub state: ContainerState,
    /// Unix ns.
    pub created_at: i64,
    /// Unix ns, 0 if never started.
    #[serde(default)]
    pub started_at: i64,
    /// Unix ns, 0 unless exited.
    #[serde(default)]
    pub finished_at: i64,
    /// Exit code once exited.
    #[serde(default)]
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`, or empty.
    #[serde(default)]
    pub reason: String,
    /// Detail for `reason`.
    #[serde(default)]
    pub message: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Mounts.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Absolute log path on the node.
    #[serde(default)]
    pub log_path: String,
    /// Host PID while running.
    #[serde(default)]
    pub pid: Option<u32>,
    /// The configuration it was created with (containerd's `info.config`).
    pub config: ContainerConfig,
}

/// An image present on the node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// `sha256:…`.
    pub id: String,
    /// Tags, e.g. `ghcr.io/learnk8s/podinfo:2023.03`.
    pub repo_tags: Vec<String>,
    /// Digests, e.g. `ghcr.io/learnk8s/podinfo@sha256:…`.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// Pinned images are never garbage-collected (containerd pins the sandbox image).
    #[serde(default)]
    pub pinned: bool,
}

/// Filter for `ListPodSandbox`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SandboxFilter {
    /// Exact ID or unique prefix.
    #[serde(default)]
    pub id: Option<String>,
    /// Only sandboxes in this state.
    #[serde(default)]
    pub state: Option<SandboxState>,
    /// Labels that must all match.
    #[serde(default)]
    pub label_selector: BTreeMap<String, String>,
}

/// Filter for `ListContainers`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerFilter {
    /// Exact ID or unique prefix.
    #[serde(default)]
    pub id: Option<String>,
    /// Only containers in this state.
    #[serde(default)]
    pub state: Option<ContainerState>,
    /// Only containers of this sandbox.
    #[serde(default)]
    pub pod_sandbox_id: Option<String>,
    /// Labels that must all match.
    #[serde(default)]
    pub label_selector: BTreeMap<String, String>,
}

/// containerd's container record (`ctr containers list`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CtrContainer {
    /// Full ID.
    pub id: String,
    /// Image name (`-` if none).
    pub image: String,
    /// `io.containerd.runc.v2`.
    pub runtime: String,
}

/// containerd's task record (`ctr tasks list`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CtrTask {
    /// Task ID (= container ID).
    pub id: String,
    /// Host PID.
    pub pid: u32,
    /// `RUNNING`, `STOPPED`, `PAUSED`, `CREATED`, …
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_one_json_line() {
        let req = Request::StopContainer {
            id: "abc".into(),
            timeout: 0,
        };
        let line = serde_json::to_string(&req).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(
            line,
            r#"{"method":"StopContainer","params":{"id":"abc","timeout":0}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&line).unwrap(), req);
        let unit = serde_json::to_string(&Request::Version).unwrap();
        assert_eq!(unit, r#"{"method":"Version"}"#);
    }

    #[test]
    fn errors_print_like_grpc_status() {
        let e = RpcError {
            code: "NotFound".into(),
            message: "an error occurred when try to find container \"x\": not found".into(),
        };
        assert_eq!(
            e.to_string(),
            "rpc error: code = NotFound desc = an error occurred when try to find container \"x\": not found"
        );
    }
}
