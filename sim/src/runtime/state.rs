//! The runtime's metadata (what containerd keeps in its bolt database): sandboxes and containers,
//! one JSON file each under the state directory, so that after a node restart the old sandboxes
//! and containers are still listed. Tasks (processes) do not survive a restart: when the state is
//! loaded, a sandbox is `SANDBOX_NOTREADY` and a container that was running is exited with code 255
//! and reason `Unknown`, as containerd's recovery marks a container whose task is gone
//! (containerd `internal/cri/server/restart.go`, `unknownExitCode`/`unknownExitReason`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::cri::{Container, ContainerState, PodSandbox, SandboxState};

/// containerd's exit code for a container whose task vanished (restart.go `unknownExitCode`).
pub const UNKNOWN_EXIT_CODE: i32 = 255;
/// containerd's reason for such a container (restart.go `unknownExitReason`).
pub const UNKNOWN_EXIT_REASON: &str = "Unknown";

/// Writes `data` to `path` through a temporary file and a rename (mode 0600: the runtime's
/// metadata holds container environments, which may carry secrets).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f")
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(data)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// The metadata of every sandbox and container.
#[derive(Debug, Default)]
pub struct State {
    dir: PathBuf,
    /// Sandboxes by ID.
    pub sandboxes: BTreeMap<String, PodSandbox>,
    /// Containers by ID.
    pub containers: BTreeMap<String, Container>,
}

impl State {
    /// An empty state kept in `dir` (`sandboxes/`, `containers/`).
    pub fn new(dir: &Path) -> State {
        State {
            dir: dir.to_path_buf(),
            ..State::default()
        }
    }

    /// Loads the state from `dir` as a restarted containerd sees it: no task runs.
    pub fn load(dir: &Path, now_ns: i64) -> State {
        let mut s = State::new(dir);
        for (sub, is_sandbox) in [("sandboxes", true), ("containers", false)] {
            let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().and_then(|x| x.to_str()) != Some("json") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&p) else {
                    continue;
                };
                if is_sandbox {
                    if let Ok(mut sb) = serde_json::from_str::<PodSandbox>(&text) {
                        sb.state = SandboxState::NotReady;
                        sb.pid = None;
                        s.sandboxes.insert(sb.id.clone(), sb);
                    }
                } else if let Ok(mut c) = serde_json::from_str::<Container>(&text) {
                    if matches!(c.state, ContainerState::Running | ContainerState::Unknown) {
                        c.state = ContainerState::Exited;
                        c.finished_at = now_ns;
                        c.exit_code = UNKNOWN_EXIT_CODE;
                        c.reason = UNKNOWN_EXIT_REASON.to_string();
                    }
                    c.pid = None;
                    s.containers.insert(c.id.clone(), c);
                }
            }
        }
        s.save_all();
        s
    }

    fn path(&self, sub: &str, id: &str) -> PathBuf {
        self.dir.join(sub).join(format!("{id}.json"))
    }

    /// Persists one sandbox.
    pub fn save_sandbox(&self, id: &str) {
        if let Some(sb) = self.sandboxes.get(id) {
            let text = serde_json::to_string_pretty(sb).expect("sandbox serialises");
            let _ = write_atomic(&self.path("sandboxes", id), text.as_bytes());
        }
    }

    /// Persists one container.
    pub fn save_container(&self, id: &str) {
        if let Some(c) = self.containers.get(id) {
            let text = serde_json::to_string_pretty(c).expect("container serialises");
            let _ = write_atomic(&self.path("containers", id), text.as_bytes());
        }
    }

    fn save_all(&self) {
        for id in self.sandboxes.keys() {
            self.save_sandbox(id);
        }
        for id in self.containers.keys() {
            self.save_container(id);
        }
    }

    /// Forgets a sandbox (its file too).
    pub fn remove_sandbox(&mut self, id: &str) {
        self.sandboxes.remove(id);
        let _ = std::fs::remove_file(self.path("sandboxes", id));
    }

    /// Forgets a container (its file too).
    pub fn remove_container(&mut self, id: &str) {
        self.containers.remove(id);
        let _ = std::fs::remove_file(self.path("containers", id));
    }

    /// The sandbox with this ID or unique ID prefix.
    ///
    /// # Errors
    /// `NotFound`-style message when none or several match.
    pub fn sandbox_id(&self, id_or_prefix: &str) -> Result<String, Lookup> {
        resolve(self.sandboxes.keys(), id_or_prefix)
    }

    /// The container with this ID or unique ID prefix.
    ///
    /// # Errors
    /// [`Lookup`] when none or several match.
    pub fn container_id(&self, id_or_prefix: &str) -> Result<String, Lookup> {
        resolve(self.containers.keys(), id_or_prefix)
    }
}

/// Why an ID (prefix) did not name exactly one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing matches.
    NotFound,
    /// Several objects match the prefix.
    Ambiguous,
}

fn resolve<'a>(ids: impl Iterator<Item = &'a String>, want: &str) -> Result<String, Lookup> {
    if want.is_empty() {
        return Err(Lookup::NotFound);
    }
    let matches: Vec<&String> = ids.filter(|id| id.starts_with(want)).collect();
    if let Some(exact) = matches.iter().find(|id| id.as_str() == want) {
        return Ok((*exact).clone());
    }
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Lookup::NotFound),
        _ => Err(Lookup::Ambiguous),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cri::{ContainerConfig, ContainerMetadata, PodSandboxMetadata};

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "labsim-rt-state-{tag}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn a_restart_leaves_sandboxes_not_ready_and_running_containers_unknown_exited() {
        let dir = tmp("restart");
        let mut s = State::new(&dir);
        s.sandboxes.insert(
            "aa11".into(),
            PodSandbox {
                id: "aa11".into(),
                metadata: PodSandboxMetadata {
                    name: "p".into(),
                    uid: "u".into(),
                    namespace: "default".into(),
                    attempt: 0,
                },
                state: SandboxState::Ready,
                created_at: 1,
                ip: "10.244.1.2".into(),
                labels: Default::default(),
                annotations: Default::default(),
                runtime_handler: String::new(),
                pid: Some(42),
                pause_image: "registry.k8s.io/pause:3.10".into(),
                config: Default::default(),
                bind_ip: String::new(),
            },
        );
        let c = |id: &str, state| Container {
            id: id.into(),
            pod_sandbox_id: "aa11".into(),
            metadata: ContainerMetadata {
                name: "app".into(),
                attempt: 0,
            },
            image: "sha256:1".into(),
            image_ref: "sha256:1".into(),
            state,
            created_at: 1,
            started_at: 2,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            labels: Default::default(),
            annotations: Default::default(),
            mounts: vec![],
            log_path: String::new(),
            pid: Some(7),
            config: ContainerConfig {
                metadata: ContainerMetadata::default(),
                ..Default::default()
            },
        };
        s.containers
            .insert("bb22".into(), c("bb22", ContainerState::Running));
        let mut done = c("cc33", ContainerState::Exited);
        done.exit_code = 137;
        done.reason = "Error".into();
        s.containers.insert("cc33".into(), done);
        s.save_all();

        let back = State::load(&dir, 99);
        assert_eq!(back.sandboxes["aa11"].state, SandboxState::NotReady);
        assert_eq!(back.sandboxes["aa11"].pid, None);
        let r = &back.containers["bb22"];
        assert_eq!(
            (r.state, r.exit_code, r.reason.as_str(), r.finished_at),
            (ContainerState::Exited, 255, "Unknown", 99)
        );
        let e = &back.containers["cc33"];
        assert_eq!((e.exit_code, e.reason.as_str()), (137, "Error"));
        assert_eq!(back.container_id("bb").unwrap(), "bb22");
        assert_eq!(back.container_id("zz"), Err(Lookup::NotFound));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn prefixes_must_be_unique() {
        let ids = ["abc1".to_string(), "abc2".to_string(), "abd".to_string()];
        assert_eq!(resolve(ids.iter(), "abd"), Ok("abd".into()));
        assert_eq!(resolve(ids.iter(), "abc"), Err(Lookup::Ambiguous));
        assert_eq!(resolve(ids.iter(), "abc2"), Ok("abc2".into()));
        assert_eq!(resolve(ids.iter(), ""), Err(Lookup::NotFound));
    }
}
