//! The container runtime (containerd's role): pod sandboxes, containers as processes, CRI-like API.
//!
//! **Extension point (not built yet).** The node agent (`crate::node::agent`) hosts the runtime,
//! as a node's containerd runs beside its systemd: once at every node start, before the enabled
//! units (the kubelet among them) start, the agent calls [`start`] with an
//! [`AgentContext`](crate::node::agent::AgentContext), which gives the runtime
//! - the node's identity ([`crate::node::NodeInfo`]: name, IP, slot, Kubernetes version),
//! - the node's journal ([`crate::node::journal::Journal::log`], e.g. as `containerd[<pid>]`),
//! - the node's service manager ([`crate::node::systemd::Systemd`]).
//!
//! The runtime runs inside the agent's tokio runtime, in the node's namespaces: processes it
//! spawns are the node's (they die with it on `minikube node stop`), sockets it binds under `/run`
//! are on the node's tmpfs (e.g. `/run/containerd/containerd.sock`). At shutdown the agent stops
//! the units first, then calls [`Runtime::shutdown`].
//!
//! The implementation below does nothing but say so in the node's journal.

use crate::node::agent::AgentContext;

/// The container runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime failed to start (reserved for the real implementation).
    #[error("the container runtime failed to start: {0}")]
    Start(String),
}

/// A started container runtime.
#[derive(Debug)]
pub struct Runtime {
    _ctx: AgentContext,
}

impl Runtime {
    /// Stops the runtime's containers and sockets (called by the agent at node shutdown).
    pub async fn shutdown(self) {}
}

/// Starts the node's container runtime.
///
/// # Errors
/// [`RuntimeError`] when it cannot start; the agent logs it and keeps the node running.
pub async fn start(ctx: AgentContext) -> Result<Runtime, RuntimeError> {
    ctx.journal.log(
        None,
        "labsim",
        std::process::id(),
        "container runtime: not built yet (crate::runtime::start is a placeholder); no containerd on this node",
    );
    Ok(Runtime { _ctx: ctx })
}
