//! The labsim state directory (`$LABSIM_HOME`) and the layout of profiles and nodes in it, plus the
//! fixed paths inside a node (docs/labsim.md, "State directory" and "Node filesystem").
//!
//! ```text
//! $LABSIM_HOME/                         (default $HOME/.labsim)
//!   profiles.lock                       flock held while profiles are created or deleted
//!   logs/                               one log per failed minikube command (named in error boxes)
//!   profiles/<profile>/profile.json     the profile: slot, version, driver, nodes
//!   profiles/<profile>/.lock            flock held while one of its nodes changes state
//!   profiles/<profile>/nodes/<node>/
//!       info.json                       the node's identity (`node::NodeInfo`)
//!       state.json                      node-init's host PID and start time while it runs
//!       console.log                     what node-init and the agent print
//!       root/…                          the node's own directories, bound over the host's
//! ```

use std::path::{Path, PathBuf};

/// The environment variable naming the state directory.
pub const ENV_HOME: &str = "LABSIM_HOME";

/// The state directory could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum PathsError {
    /// Neither `$LABSIM_HOME` nor `$HOME` is set.
    #[error(
        "cannot find labsim's state directory: set LABSIM_HOME (or HOME) to a writable directory"
    )]
    NoHome,
    /// `$LABSIM_HOME` is relative.
    #[error("LABSIM_HOME must be an absolute path, got {0:?}")]
    Relative(PathBuf),
}

/// The labsim state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `$LABSIM_HOME`, or `$HOME/.labsim`.
    ///
    /// # Errors
    /// [`PathsError`] when neither variable is usable.
    pub fn from_env() -> Result<Home, PathsError> {
        if let Some(h) = std::env::var_os(ENV_HOME).filter(|h| !h.is_empty()) {
            let p = PathBuf::from(h);
            if !p.is_absolute() {
                return Err(PathsError::Relative(p));
            }
            return Ok(Home { root: p });
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or(PathsError::NoHome)?;
        Ok(Home {
            root: PathBuf::from(home).join(".labsim"),
        })
    }

    /// A state directory at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The state directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `profiles.lock`: held while profiles are created or deleted.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("profiles.lock")
    }

    /// `logs/`: where failed commands leave their log.
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `profiles/`.
    pub fn profiles_dir(&self) -> PathBuf {
        self.root.join("profiles")
    }

    /// The paths of profile `name`.
    pub fn profile(&self, name: &str) -> ProfilePaths {
        ProfilePaths {
            dir: self.profiles_dir().join(name),
        }
    }
}

/// The paths of one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfilePaths {
    dir: PathBuf,
}

impl ProfilePaths {
    /// `profiles/<profile>/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `profile.json`.
    pub fn profile_json(&self) -> PathBuf {
        self.dir.join("profile.json")
    }

    /// `.lock`: held while a node of the profile changes state.
    pub fn lock_file(&self) -> PathBuf {
        self.dir.join(".lock")
    }

    /// The paths of node `name`.
    pub fn node(&self, name: &str) -> NodePaths {
        NodePaths {
            dir: self.dir.join("nodes").join(name),
        }
    }
}

/// The host-side paths of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePaths {
    dir: PathBuf,
}

impl NodePaths {
    /// A node kept in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> NodePaths {
        NodePaths { dir: dir.into() }
    }

    /// `profiles/<profile>/nodes/<node>/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `info.json`: the node's identity, written when the node is created.
    pub fn info_json(&self) -> PathBuf {
        self.dir.join("info.json")
    }

    /// `state.json`: node-init's host PID while the node runs.
    pub fn state_json(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// `console.log`: what node-init and the agent print.
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }

    /// `root/`: the node's own directories.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Where the node path `abs` (absolute, e.g. `/etc/kubernetes`) is kept on the host.
    pub fn in_root(&self, abs: &str) -> PathBuf {
        self.root().join(abs.trim_start_matches('/'))
    }
}

/// Fixed paths inside every node.
pub mod node {
    /// The agent's control socket (JSON lines), used by the node-side CLIs.
    pub const AGENT_SOCKET: &str = "/run/labsim/agent.sock";
    /// The node's identity, written by node-init at every start.
    pub const NODE_JSON: &str = "/etc/labsim/node.json";
    /// Where journald keeps its entries (persistent, like `Storage=persistent`).
    pub const JOURNAL_DIR: &str = "/var/log/journal";
    /// Where the agent's systemd reads unit files from.
    pub const UNIT_DIR: &str = "/etc/systemd/system";
    /// The node's labsim programs (symlinks to the labsim binary).
    pub const LABSIM_BIN: &str = "/opt/labsim/bin";
    /// The labsim binary as the node sees it (a bind mount of the host's binary): the host path may
    /// lie under a directory the node replaces (e.g. a checkout under `/root`).
    pub const LABSIM_EXE: &str = "/opt/labsim/labsim";
    /// Where node-init briefly mounts the node's `root/` while it sets up the node's mounts, so that
    /// the sources stay reachable whatever directories the node replaces (`$LABSIM_HOME` may lie
    /// under `/root`, `/home` or `/tmp`). Unmounted once the node's mounts are in place.
    pub const STAGING: &str = "/opt/labsim/.node-root";
    /// The programs in [`LABSIM_BIN`].
    pub const LABSIM_PROGRAMS: &[&str] = &[
        "kubeadm",
        "kubelet",
        "crictl",
        "ctr",
        "containerd",
        "systemctl",
        "journalctl",
        "sshd",
    ];
    /// Host programs that are labsim's inside a node: the node's own binaries take their place
    /// (bind mounts of the labsim binary), so `systemctl` typed without `sudo` or a PATH change
    /// reaches the node's systemd, as on a real node. Skipped when the host lacks the file.
    pub const OVERLAID_PROGRAMS: &[(&str, &str)] = &[
        ("/usr/bin/systemctl", "systemctl"),
        ("/usr/bin/journalctl", "journalctl"),
        ("/usr/bin/containerd", "containerd"),
    ];
    /// The docker user's home.
    pub const DOCKER_HOME: &str = "/home/docker";
    /// Directories that are the node's own (bind mounts of `root/<dir>`). Those missing on the
    /// host are created there as empty directories, to serve as mountpoints.
    pub const BIND_DIRS: &[&str] = &[
        "/etc/kubernetes",
        "/etc/containerd",
        "/etc/cni",
        "/etc/systemd/system",
        "/etc/labsim",
        "/var/lib/minikube",
        "/var/lib/kubelet",
        "/var/lib/etcd",
        "/var/lib/containerd",
        "/var/lib/cni",
        "/var/log",
        "/opt/cni",
        "/opt/labsim/bin",
        "/home",
        "/root",
    ];
    /// Files that are the node's own (bind mounts of `root/<file>`). Those missing on the host are
    /// created there as empty files.
    pub const BIND_FILES: &[&str] = &[
        "/etc/passwd",
        "/etc/group",
        "/etc/shadow",
        "/etc/sudoers",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/environment",
    ];
    /// Directories that start empty at every node start (fresh tmpfs, like a reboot).
    pub const TMPFS_DIRS: &[(&str, u32)] = &[("/run", 0o755), ("/tmp", 0o1777)];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let home = Home::at("/h");
        let p = home.profile("demo");
        assert_eq!(
            p.profile_json(),
            PathBuf::from("/h/profiles/demo/profile.json")
        );
        let n = p.node("demo-m02");
        assert_eq!(n.dir(), Path::new("/h/profiles/demo/nodes/demo-m02"));
        assert_eq!(
            n.in_root("/etc/kubernetes"),
            PathBuf::from("/h/profiles/demo/nodes/demo-m02/root/etc/kubernetes")
        );
        assert_eq!(home.lock_file(), PathBuf::from("/h/profiles.lock"));
    }

    #[test]
    fn every_node_path_is_absolute() {
        for p in node::BIND_DIRS.iter().chain(node::BIND_FILES) {
            assert!(p.starts_with('/'), "{p}");
        }
        assert!(node::BIND_DIRS.contains(&node::LABSIM_BIN));
        assert!(node::BIND_DIRS.contains(&node::UNIT_DIR));
    }
}
