//! Starting, stopping and entering nodes from the host (minikube's `machine` package for labsim's
//! "containers"). A node runs as `labsim node-init` (see [`crate::node::init`]); its state is
//! whether the PID 1 recorded in `state.json` is alive.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::node::init::RunState;
use crate::node::proto::{Client, Request, Response, UnitAction};
use crate::node::{NodeInfo, procs};
use crate::paths::NodePaths;
use crate::paths::node::{AGENT_SOCKET, DOCKER_HOME};

/// How long a node may take to boot.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node's agent gets to stop its units before the node is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A node could not be started, stopped or entered.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// The node's processes could not be started.
    #[error("cannot start node {node}: {source}")]
    Spawn {
        /// The node.
        node: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The node did not come up.
    #[error(
        "node {node} did not come up within {secs}s: {why}; its console ({console}) ends with:\n{tail}"
    )]
    Boot {
        /// The node.
        node: String,
        /// Seconds waited.
        secs: u64,
        /// What was missing.
        why: String,
        /// The console log.
        console: PathBuf,
        /// Its last lines.
        tail: String,
    },
    /// The node's processes did not go away.
    #[error("node {node} did not stop: processes {pids:?} are still running in its namespace")]
    Stop {
        /// The node.
        node: String,
        /// What is left.
        pids: Vec<i32>,
    },
    /// The node directory could not be prepared.
    #[error(transparent)]
    Prepare(#[from] crate::node::NodeError),
}

/// Whether a node runs (`Running`) or not (`Stopped`), as minikube's machine states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// node-init is alive.
    Running,
    /// It is not.
    Stopped,
}

impl State {
    /// `Running` / `Stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "Running",
            State::Stopped => "Stopped",
        }
    }
}

/// The state of a node.
pub fn state(paths: &NodePaths) -> State {
    match RunState::read(paths) {
        Some(rs) if rs.is_running() => State::Running,
        _ => State::Stopped,
    }
}

/// The running node's recorded state, if it runs.
pub fn running(paths: &NodePaths) -> Option<RunState> {
    RunState::read(paths).filter(RunState::is_running)
}

/// The agent socket of a running node, reached from the host through its PID 1's root.
pub fn agent_socket(rs: &RunState) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root{AGENT_SOCKET}", rs.init_pid))
}

/// Asks a node's agent whether it has booted.
pub fn ping(rs: &RunState) -> Option<bool> {
    let mut c = Client::connect(&agent_socket(rs)).ok()?;
    c.set_timeout(Some(Duration::from_secs(5))).ok()?;
    match c.call(&Request::Ping).ok()? {
        Response::Pong { booted, .. } => Some(booted),
        _ => None,
    }
}

/// `systemctl is-active UNIT` on a running node (what `minikube status` asks about the kubelet).
pub fn is_active(rs: &RunState, unit: &str) -> Option<String> {
    let mut c = Client::connect(&agent_socket(rs)).ok()?;
    c.set_timeout(Some(Duration::from_secs(5))).ok()?;
    match c
        .call(&Request::Units {
            action: UnitAction::IsActive,
            units: vec![unit.to_string()],
            now: false,
            lines: 0,
        })
        .ok()?
    {
        Response::Units { outcomes } => outcomes.into_iter().next()?.state,
        _ => None,
    }
}

fn tail(path: &Path, max: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return "(no console output)".into();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max as u64)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

/// The labsim binary (what `minikube` and every node runs).
pub fn labsim_exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("labsim"))
}

/// Starts a stopped node and waits until its agent has started the enabled units.
///
/// # Errors
/// [`MachineError`] when it cannot start or does not boot in time.
pub fn start(paths: &NodePaths, info: &NodeInfo) -> Result<(), MachineError> {
    crate::node::fs::prepare(paths, info)?;
    let _ = std::fs::remove_file(paths.state_json());
    let console = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.console_log())
        .map_err(|source| MachineError::Spawn {
            node: info.node.clone(),
            source,
        })?;
    let console2 = console.try_clone().map_err(|source| MachineError::Spawn {
        node: info.node.clone(),
        source,
    })?;
    let mut cmd = Command::new(labsim_exe());
    cmd.arg("node-init")
        .arg("--dir")
        .arg(paths.dir())
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(console2);
    for var in ["TZ", "RUST_BACKTRACE"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    let mut child = cmd.spawn().map_err(|source| MachineError::Spawn {
        node: info.node.clone(),
        source,
    })?;
    let started = Instant::now();
    let boot_err = |why: &str| MachineError::Boot {
        node: info.node.clone(),
        secs: BOOT_TIMEOUT.as_secs(),
        why: why.to_string(),
        console: paths.console_log(),
        tail: tail(&paths.console_log(), 2000),
    };
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(boot_err(&format!("node-init exited ({status})")));
        }
        if let Some(rs) = running(paths)
            && ping(&rs) == Some(true)
        {
            // The child is left to run; it belongs to the node now.
            drop(child);
            return Ok(());
        }
        if started.elapsed() > BOOT_TIMEOUT {
            let err = boot_err("its agent never reported that it had booted");
            let _ = stop(paths, &info.node);
            let _ = child.kill();
            let _ = child.wait();
            return Err(err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every live `labsim node-init` process serving the node directory `dir` (the recorded one, and
/// any left behind by an interrupted start).
fn node_inits(dir: &Path) -> Vec<i32> {
    let dir = dir.display().to_string();
    procs::pids_in(Path::new("/proc"))
        .into_iter()
        .filter(|&pid| {
            let a = procs::argv(pid);
            a.iter().any(|x| x == "node-init")
                && a.windows(2).any(|w| w[0] == "--dir" && w[1] == dir)
        })
        .filter(|&pid| procs::stat(pid).is_some_and(|s| s.state != 'Z'))
        .collect()
}

/// Stops a node: SIGTERM to its PID 1 (the agent stops its units), SIGKILL after a grace period,
/// then waits until every process that was in its PID and mount namespaces is gone. Returns whether
/// it was running.
///
/// Processes are told apart by PID and start time, not by namespace: a freed namespace's inode
/// number is soon reused by a new one, possibly another node's.
///
/// # Errors
/// [`MachineError::Stop`] when processes survive.
pub fn stop(paths: &NodePaths, node: &str) -> Result<bool, MachineError> {
    let recorded = running(paths);
    let inits = node_inits(paths.dir());
    if recorded.is_none() && inits.is_empty() {
        return Ok(false);
    }
    let me = std::process::id() as i32;
    let mut members: Vec<(i32, u64)> = Vec::new();
    for &pid in &inits {
        for kind in ["pid", "mnt"] {
            if let Some(ns) = procs::namespace(pid, kind)
                && procs::namespace(me, kind) != Some(ns)
            {
                for p in procs::processes_in_namespace(kind, ns) {
                    if let Some(st) = procs::stat(p) {
                        members.push((p, st.start_time));
                    }
                }
            }
        }
        if let Some(st) = procs::stat(pid) {
            members.push((pid, st.start_time));
        }
    }
    members.sort_unstable();
    members.dedup();
    // SIGTERM to each node's PID 1 only: its parent (the outer node-init) then reaps it and exits.
    for &pid in &inits {
        if procs::argv(pid).iter().any(|a| a == "--pid1") {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let alive = || -> Vec<i32> {
        members
            .iter()
            .filter(|(p, t)| procs::is_alive(*p, *t))
            .map(|(p, _)| *p)
            .collect()
    };
    let init_alive = || {
        inits.iter().any(|&p| {
            members
                .iter()
                .any(|(m, t)| *m == p && procs::is_alive(p, *t))
        })
    };
    let deadline = Instant::now() + STOP_GRACE;
    while init_alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // When PID 1 of a namespace dies the kernel kills the rest; wait for them to be gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = alive();
        if left.is_empty() {
            return Ok(recorded.is_some());
        }
        if Instant::now() > deadline {
            return Err(MachineError::Stop {
                node: node.to_string(),
                pids: left,
            });
        }
        for (p, t) in &members {
            if procs::is_alive(*p, *t) {
                let _ = nix::sys::signal::kill(Pid::from_raw(*p), Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The environment of a login on a node, as sshd gives it (plus `ETCDCTL_ENDPOINTS`, see
/// docs/labsim.md "Addresses").
pub fn login_env(info: &NodeInfo) -> Vec<(String, String)> {
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".to_string());
    let endpoints = crate::node::fs::etcdctl_endpoints(info);
    let (k, v) = endpoints.split_once('=').expect("KEY=VALUE");
    vec![
        ("HOME".into(), DOCKER_HOME.into()),
        ("USER".into(), "docker".into()),
        ("LOGNAME".into(), "docker".into()),
        ("SHELL".into(), "/bin/bash".into()),
        (
            "PATH".into(),
            format!(
                "{}:/usr/local/bin:/usr/bin:/bin:/usr/games",
                crate::paths::node::LABSIM_BIN
            ),
        ),
        ("MAIL".into(), "/var/mail/docker".into()),
        ("TERM".into(), term),
        ("LANG".into(), "C.UTF-8".into()),
        (k.to_string(), v.to_string()),
    ]
}

/// A command that runs `bash -c <script>` (or a login shell when `script` is `None`) as the docker
/// user in `/home/docker` inside a running node: `nsenter` into PID 1's mount, UTS and PID
/// namespaces, then `setpriv` to the docker user and its groups.
pub fn login_command(rs: &RunState, info: &NodeInfo, script: Option<&str>) -> Command {
    let mut c = Command::new("nsenter");
    c.arg("--target")
        .arg(rs.init_pid.to_string())
        .args([
            "--mount",
            "--uts",
            "--pid",
            "--",
            "setpriv",
            "--reuid=docker",
            "--regid=docker",
            "--init-groups",
            "--",
            // nsenter's --wd resolves the directory before entering the node; env -C after.
            "env",
        ])
        .arg(format!("--chdir={DOCKER_HOME}"))
        .arg("/bin/bash");
    match script {
        Some(s) => {
            c.arg("-c").arg(s);
        }
        None => {
            c.arg("-l");
        }
    }
    c.env_clear().envs(login_env(info));
    c
}

/// A command run as root inside a running node (used by `minikube cp`).
pub fn root_command(rs: &RunState, args: &[&str]) -> Command {
    let mut c = Command::new("nsenter");
    c.arg("--target")
        .arg(rs.init_pid.to_string())
        .args(["--mount", "--uts", "--pid", "--"])
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    c
}
