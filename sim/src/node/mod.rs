//! A node: its namespaces and mounts (`node-init`, PID 1) and its agent (systemd, journald and the
//! container runtime's host).
//!
//! The process model (docs/labsim.md, "Processes of a node"):
//! ```text
//! labsim node-init            host side: new session; unshares mount, UTS and PID namespaces
//! └── labsim node-init --pid1 PID 1 of the node: mounts, hostname, /etc/labsim/node.json, reaper
//!     └── labsim node-agent   systemd (units), journald, sshd's host, container runtime's host
//!         ├── <unit processes> each in its own session, which stands in for the unit's cgroup
//!         └── …
//! ```
//! Everything here that other modules use is re-exported: [`NodeInfo`] (who am I, on a node),
//! [`fs`] (preparing a node's directory on the host), [`proto`] (talking to the agent),
//! [`agent::AgentContext`] (what the container runtime gets from the agent).

pub mod agent;
pub mod fs;
pub mod init;
pub mod journal;
pub mod procs;
pub mod proto;
pub mod sshd;
pub mod systemd;
pub mod unit;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::paths;
use crate::version::Minor;

/// The identity of a node, as node-init writes it to `/etc/labsim/node.json` inside the node (and
/// the host keeps it in the node directory's `info.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The profile (cluster) name, e.g. `minikube`.
    pub profile: String,
    /// The node (machine) name, e.g. `minikube-m02`; also the node's hostname.
    pub node: String,
    /// 0 for the primary node, 1 for `-m02`, …
    pub index: usize,
    /// The node's IP (`127.(100+slot).49.(2+index)`).
    pub ip: Ipv4Addr,
    /// The profile's slot (see [`crate::net`]).
    pub slot: u8,
    /// The Kubernetes version the node's Kubernetes binaries behave as.
    #[serde(with = "minor_string")]
    pub kubernetes_version: Minor,
    /// Absolute path of the labsim binary the node runs.
    pub labsim: PathBuf,
    /// The profile asked for labsim's event log (`LABSIM_EVENT_LOG=1` at `minikube start`): labsim's
    /// kubeadm then turns on the API server's audit log (docs/labsim.md, "labsim's event log").
    #[serde(default)]
    pub event_log: bool,
    /// The cgroup hierarchy the node reports (absent in older `node.json` files: v2).
    #[serde(default)]
    pub cgroup_version: CgroupVersion,
}

/// The cgroup hierarchy of a node, as kubeadm's SystemVerification and the kubelet see it.
///
/// labsim nodes stand for kicbase containers on the GitHub runners the course's CI uses (Ubuntu
/// 22.04/24.04, unified cgroup v2), so a node reports v2 whatever the host has: on a cgroup-v1 host
/// kubeadm would otherwise warn (1.31–1.34, KEP-4569) or refuse (1.35+, KEP-5573, the kubelet's
/// `failCgroupV1`) as it does on a v1 machine. `$LABSIM_CGROUP_VERSION=v1` at `minikube start`
/// makes a profile's nodes report v1 (the harness never sets it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    /// Legacy hierarchies (`/proc/cgroups`).
    V1,
    /// The unified hierarchy (`/sys/fs/cgroup/cgroup.controllers`).
    #[default]
    V2,
}

impl std::str::FromStr for CgroupVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<CgroupVersion, String> {
        match s {
            "v1" | "1" => Ok(CgroupVersion::V1),
            "v2" | "2" => Ok(CgroupVersion::V2),
            other => Err(format!("{other:?} is not a cgroup version: use v1 or v2")),
        }
    }
}

mod minor_string {
    use super::Minor;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &Minor, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&m.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Minor, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Errors about a node's identity, filesystem or namespaces.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// `/etc/labsim/node.json` is missing: the caller does not run inside a labsim node.
    #[error(
        "not inside a labsim node ({path} does not exist): run this on a node, e.g. `minikube ssh -- sudo {program} …`"
    )]
    NotInNode {
        /// The file that was looked for.
        path: PathBuf,
        /// The program that needs a node.
        program: String,
    },
    /// A file of the node could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot create", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file of the node is not valid.
    #[error("{path} is not valid: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A system call failed while setting the node up.
    #[error("cannot {action}: {source}")]
    Sys {
        /// What was being done.
        action: String,
        /// The error number.
        #[source]
        source: nix::Error,
    },
    /// The command line of a node program is wrong.
    #[error("{0}")]
    Usage(String),
}

impl NodeError {
    pub(crate) fn io(
        action: &'static str,
        path: &Path,
    ) -> impl FnOnce(std::io::Error) -> NodeError {
        let path = path.to_path_buf();
        move |source| NodeError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn sys(action: impl Into<String>) -> impl FnOnce(nix::Error) -> NodeError {
        let action = action.into();
        move |source| NodeError::Sys { action, source }
    }
}

impl NodeInfo {
    /// The identity of the node this process runs in (`/etc/labsim/node.json`).
    ///
    /// # Errors
    /// [`NodeError::NotInNode`] outside a node; [`NodeError::Json`] when the file is damaged.
    pub fn current(program: &str) -> Result<NodeInfo, NodeError> {
        let path = Path::new(paths::node::NODE_JSON);
        if !path.exists() {
            return Err(NodeError::NotInNode {
                path: path.to_path_buf(),
                program: program.to_string(),
            });
        }
        NodeInfo::read(path)
    }

    /// Reads a node identity from `path`.
    ///
    /// # Errors
    /// [`NodeError::Io`] or [`NodeError::Json`].
    pub fn read(path: &Path) -> Result<NodeInfo, NodeError> {
        let text = std::fs::read_to_string(path).map_err(NodeError::io("cannot read", path))?;
        serde_json::from_str(&text).map_err(|source| NodeError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the identity to `path` (pretty JSON, mode 0644).
    ///
    /// # Errors
    /// [`NodeError::Io`].
    pub fn write(&self, path: &Path) -> Result<(), NodeError> {
        let text = serde_json::to_string_pretty(self).expect("NodeInfo serialises");
        write_atomic(path, format!("{text}\n").as_bytes(), 0o644)
    }

    /// Whether this is the profile's primary (control-plane) node.
    pub fn is_primary(&self) -> bool {
        self.index == 0
    }
}

/// Writes `data` to `path` through a temporary file and a rename, with `mode`.
pub(crate) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), NodeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(NodeError::io("cannot create", dir))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(NodeError::io("cannot create", &tmp))?;
    f.write_all(data)
        .map_err(NodeError::io("cannot write", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(NodeError::io("cannot write", path))
}

/// Entry point of `labsim node-init` (see [`init`]).
pub fn init_main(args: Vec<String>) -> ExitCode {
    init::main(args)
}

/// Entry point of `labsim node-agent` (see [`agent`]).
pub fn agent_main(args: Vec<String>) -> ExitCode {
    agent::main(args)
}

/// Entry point of the node's stand-in `sshd` (see [`sshd`]).
pub fn sshd_main(args: Vec<String>) -> ExitCode {
    sshd::main(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_info_round_trips_with_the_version_as_text() {
        let info = NodeInfo {
            profile: "demo".into(),
            node: "demo-m02".into(),
            index: 1,
            ip: Ipv4Addr::new(127, 100, 49, 3),
            slot: 0,
            kubernetes_version: "1.31".parse().unwrap(),
            labsim: "/usr/local/bin/labsim".into(),
            event_log: false,
            cgroup_version: CgroupVersion::V1,
        };
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["kubernetes_version"], "1.31");
        assert_eq!(json["ip"], "127.100.49.3");
        assert_eq!(json["cgroup_version"], "v1");
        let back: NodeInfo = serde_json::from_value(json).unwrap();
        assert_eq!(back, info);
        assert!(!back.is_primary());
        let bad = serde_json::json!({"profile":"p","node":"p","index":0,"ip":"127.100.49.2",
            "slot":0,"kubernetes_version":"1.99","labsim":"/x"});
        assert!(serde_json::from_value::<NodeInfo>(bad).is_err());
        // A node.json from before cgroup_version reports v2.
        let old = serde_json::json!({"profile":"p","node":"p","index":0,"ip":"127.100.49.2",
            "slot":0,"kubernetes_version":"1.33","labsim":"/x"});
        let old: NodeInfo = serde_json::from_value(old).unwrap();
        assert_eq!(old.cgroup_version, CgroupVersion::V2);
        assert_eq!("1".parse::<CgroupVersion>(), Ok(CgroupVersion::V1));
        assert!("v3".parse::<CgroupVersion>().is_err());
    }
}
