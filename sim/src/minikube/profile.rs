//! A profile (minikube's "cluster"): its configuration in `profile.json` and its nodes, named as
//! minikube names machines (`pkg/minikube/config/profile.go MachineName`: the primary is named
//! after the profile, others `<profile>-m02`, `<profile>-m03`, …; `pkg/minikube/node/node.go`).

use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::node::{CgroupVersion, NodeInfo};
use crate::paths::{Home, NodePaths};
use crate::version::Minor;

/// One node of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Machine name (`demo`, `demo-m02`).
    pub name: String,
    /// 0 for the primary.
    pub index: usize,
    /// The node's IP.
    pub ip: Ipv4Addr,
}

/// A profile's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The profile name.
    pub name: String,
    /// Its machine-wide slot (see [`crate::net`]).
    pub slot: u8,
    /// The Kubernetes version its nodes come with (`1.33`).
    pub kubernetes_version: String,
    /// Always `docker` (the only driver labsim emulates).
    pub driver: String,
    /// Always `containerd`.
    pub container_runtime: String,
    /// `--cpus` as shown in `Creating docker container (CPUs=…)`.
    pub cpus: String,
    /// Memory in MB, or `None` for no limit.
    pub memory_mb: Option<u64>,
    /// The nodes, primary first.
    pub nodes: Vec<NodeRecord>,
    /// When the profile was created (RFC 3339).
    pub created: String,
    /// Whether the profile keeps labsim's event log (`LABSIM_EVENT_LOG=1` at creation).
    #[serde(default)]
    pub event_log: bool,
    /// The cgroup hierarchy its nodes report (`$LABSIM_CGROUP_VERSION` at creation; v2).
    #[serde(default)]
    pub cgroup_version: CgroupVersion,
}

/// A profile could not be read, written or locked.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A file or directory of the profile.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `profile.json` is damaged.
    #[error(
        "{path} is not a valid labsim profile ({source}): delete the profile with `minikube delete -p NAME`"
    )]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ProfileError {
    let path = path.to_path_buf();
    move |source| ProfileError::Io {
        action,
        path,
        source,
    }
}

/// The machine name of node `index` of profile `profile`.
pub fn machine_name(profile: &str, index: usize) -> String {
    if index == 0 {
        profile.to_string()
    } else {
        format!("{profile}-m{:02}", index + 1)
    }
}

impl Profile {
    /// Reads profile `name` from `home`, `None` if it does not exist.
    ///
    /// # Errors
    /// [`ProfileError`] when it exists but cannot be read.
    pub fn load(home: &Home, name: &str) -> Result<Option<Profile>, ProfileError> {
        let path = home.profile(name).profile_json();
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|source| ProfileError::Json { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("cannot read", &path)(e)),
        }
    }

    /// Every profile in `home`, by name.
    pub fn list(home: &Home) -> Vec<Profile> {
        let mut names: Vec<String> = fs::read_dir(home.profiles_dir())
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|n| Profile::load(home, n).ok().flatten())
            .collect()
    }

    /// Writes `profile.json`.
    ///
    /// # Errors
    /// [`ProfileError::Io`].
    pub fn save(&self, home: &Home) -> Result<(), ProfileError> {
        let path = home.profile(&self.name).profile_json();
        let text = serde_json::to_string_pretty(self).expect("profile serialises");
        crate::node::write_atomic(&path, format!("{text}\n").as_bytes(), 0o644).map_err(|e| {
            ProfileError::Io {
                action: "cannot write",
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            }
        })
    }

    /// The node minikube's `node.Retrieve` finds for `name`: its config name (`m02`) or its
    /// machine name (`demo-m02`).
    pub fn retrieve(&self, name: &str) -> Option<&NodeRecord> {
        self.nodes
            .iter()
            .find(|n| n.name == name || (n.index > 0 && format!("m{:02}", n.index + 1) == name))
    }

    /// The primary (control-plane) node.
    pub fn primary(&self) -> &NodeRecord {
        &self.nodes[0]
    }

    /// The host-side paths of a node.
    pub fn node_paths(&self, home: &Home, node: &NodeRecord) -> NodePaths {
        home.profile(&self.name).node(&node.name)
    }

    /// The Kubernetes version.
    pub fn minor(&self) -> Minor {
        self.kubernetes_version.parse().unwrap_or_default()
    }

    /// The identity a node of this profile gets.
    pub fn node_info(&self, node: &NodeRecord, labsim: &Path) -> NodeInfo {
        NodeInfo {
            profile: self.name.clone(),
            node: node.name.clone(),
            index: node.index,
            ip: node.ip,
            slot: self.slot,
            kubernetes_version: self.minor(),
            labsim: labsim.to_path_buf(),
            event_log: self.event_log,
            cgroup_version: self.cgroup_version,
        }
    }
}

/// An exclusive lock on `$LABSIM_HOME` (held while profiles or nodes change state).
pub struct HomeLock {
    _lock: Flock<fs::File>,
}

impl HomeLock {
    /// Takes the lock, waiting for other labsim commands on the same home.
    ///
    /// # Errors
    /// [`ProfileError::Io`].
    pub fn take(home: &Home) -> Result<HomeLock, ProfileError> {
        fs::create_dir_all(home.root()).map_err(io("cannot create", home.root()))?;
        let path = home.lock_file();
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("cannot open", &path))?;
        let lock = Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| io("cannot lock", &path)(std::io::Error::from(e)))?;
        Ok(HomeLock { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Profile {
        Profile {
            name: "demo".into(),
            slot: 0,
            kubernetes_version: "1.33".into(),
            driver: "docker".into(),
            container_runtime: "containerd".into(),
            cpus: "2".into(),
            memory_mb: Some(2200),
            nodes: (0..3)
                .map(|i| NodeRecord {
                    name: machine_name("demo", i),
                    index: i,
                    ip: crate::net::node_ip(0, i).unwrap(),
                })
                .collect(),
            created: "2026-01-01T00:00:00Z".into(),
            event_log: false,
            cgroup_version: CgroupVersion::V2,
        }
    }

    #[test]
    fn machine_names_and_retrieval() {
        assert_eq!(machine_name("minikube", 0), "minikube");
        assert_eq!(machine_name("minikube", 2), "minikube-m03");
        let p = demo();
        assert_eq!(p.retrieve("m02").unwrap().name, "demo-m02");
        assert_eq!(p.retrieve("demo-m03").unwrap().index, 2);
        assert_eq!(p.retrieve("demo").unwrap().index, 0);
        assert!(p.retrieve("m05").is_none());
        assert!(p.retrieve("m01").is_none(), "the primary has no m01 name");
        assert!(p.retrieve("").is_none());
    }
}
