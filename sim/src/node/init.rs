//! `labsim node-init`: starts a node.
//!
//! Run by `minikube start`/`minikube node start` as `labsim node-init --dir <node dir>` with its
//! output going to the node's `console.log`. That first process ("outer") leaves the caller's
//! session (the node survives the minikube command that started it), unshares the UTS and PID
//! namespaces, records in `state.json` the host PID of the process it then starts, and waits for
//! it. That second process, `labsim node-init --pid1 --dir <node dir>`, is PID 1 of the node:
//! - unshares its own mount namespace, with private propagation (nothing reaches the host);
//! - binds the node's own directories and files from `root/` over the host's
//!   ([`crate::paths::node::BIND_DIRS`], [`crate::paths::node::BIND_FILES`]), mounts a fresh tmpfs
//!   on `/run` and `/tmp` (emptied at every start, like a reboot) and the node's own `/proc`;
//! - overlays the node programs that exist on the host (`/usr/bin/systemctl`, `/usr/bin/journalctl`)
//!   with the labsim binary and points `/opt/labsim/bin/*` at it;
//! - sets the hostname to the node name and writes `/etc/labsim/node.json`;
//! - runs `labsim node-agent`, reaps every orphan of the namespace, forwards SIGTERM to the agent,
//!   and exits when the agent does. When PID 1 of a PID namespace exits, the kernel kills every
//!   other process in it: that is how `minikube node stop` leaves nothing behind.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::{NodeError, NodeInfo, procs, write_atomic};
use crate::paths::{NodePaths, node};

/// What `state.json` in a node's directory records about the running node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// Host PID of the node's PID 1.
    pub init_pid: i32,
    /// Its start time (`/proc/<pid>/stat` field 22), so a recycled PID is not mistaken for it.
    pub init_start_time: u64,
    /// Inode of the node's PID namespace.
    pub pid_ns: u64,
    /// When the node was started (RFC 3339).
    pub started: String,
}

impl RunState {
    /// Reads `state.json` of a node, if present and readable.
    pub fn read(paths: &NodePaths) -> Option<RunState> {
        serde_json::from_str(&std::fs::read_to_string(paths.state_json()).ok()?).ok()
    }

    /// Whether the node's PID 1 recorded here is still alive.
    pub fn is_running(&self) -> bool {
        procs::is_alive(self.init_pid, self.init_start_time)
    }
}

/// Entry point: `labsim node-init --dir DIR [--pid1]`.
pub fn main(args: Vec<String>) -> ExitCode {
    let mut dir = None;
    let mut pid1 = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => dir = it.next().map(PathBuf::from),
            "--pid1" => pid1 = true,
            other => {
                eprintln!(
                    "labsim node-init: unknown argument {other:?}; usage: labsim node-init --dir NODE_DIR"
                );
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!(
            "labsim node-init: missing --dir NODE_DIR (the node's directory under $LABSIM_HOME)"
        );
        return ExitCode::from(2);
    };
    let paths = NodePaths::at(dir);
    let result = if pid1 {
        pid1_main(&paths)
    } else {
        outer_main(&paths)
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("labsim node-init: {e}");
            ExitCode::from(1)
        }
    }
}

fn labsim_exe() -> Result<PathBuf, NodeError> {
    std::env::current_exe().map_err(NodeError::io("cannot find", Path::new("/proc/self/exe")))
}

fn outer_main(paths: &NodePaths) -> Result<u8, NodeError> {
    // A new session: the node must not die with the terminal or the minikube command.
    let _ = nix::unistd::setsid();
    // The mount namespace is PID 1's own (see `pid1_main`): this process keeps the host's /proc to
    // read its child's identity from.
    nix::sched::unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWPID).map_err(
        NodeError::sys("unshare the UTS and PID namespaces (labsim needs root)"),
    )?;
    let mut child = Command::new(labsim_exe()?)
        .arg("node-init")
        .arg("--pid1")
        .arg("--dir")
        .arg(paths.dir())
        .stdin(Stdio::null())
        .spawn()
        .map_err(NodeError::io(
            "cannot start",
            Path::new("labsim node-init --pid1"),
        ))?;
    let pid = child.id() as i32;
    let state = RunState {
        init_pid: pid,
        init_start_time: procs::stat(pid).map(|s| s.start_time).unwrap_or(0),
        pid_ns: procs::namespace(pid, "pid").unwrap_or(0),
        started: jiff::Timestamp::now().to_string(),
    };
    let json = serde_json::to_string_pretty(&state).expect("RunState serialises");
    write_atomic(&paths.state_json(), format!("{json}\n").as_bytes(), 0o644)?;
    let status = child.wait().map_err(NodeError::io(
        "cannot wait for",
        Path::new("labsim node-init --pid1"),
    ))?;
    Ok(status.code().unwrap_or(1) as u8)
}

fn bind(src: &Path, target: &Path) -> Result<(), NodeError> {
    nix::mount::mount(
        Some(src),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(NodeError::sys(format!(
        "bind {} over {}",
        src.display(),
        target.display()
    )))
}

fn setup_mounts(paths: &NodePaths, labsim: &Path) -> Result<(), NodeError> {
    for d in node::BIND_DIRS {
        let src = paths.in_root(d);
        std::fs::create_dir_all(&src).map_err(NodeError::io("cannot create", &src))?;
        // A mountpoint that the host lacks is created there as an empty directory.
        std::fs::create_dir_all(d).map_err(NodeError::io("cannot create", Path::new(d)))?;
        bind(&src, Path::new(d))?;
    }
    for f in node::BIND_FILES {
        let src = paths.in_root(f);
        if !src.exists() {
            write_atomic(&src, b"", 0o644)?;
        }
        if !Path::new(f).exists() {
            write_atomic(Path::new(f), b"", 0o644)?;
        }
        bind(&src, Path::new(f))?;
    }
    for (host_path, _) in node::OVERLAID_PROGRAMS {
        if Path::new(host_path).is_file() {
            bind(labsim, Path::new(host_path))?;
        }
    }
    for (dir, mode) in node::TMPFS_DIRS {
        nix::mount::mount(
            Some("tmpfs"),
            *dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(format!("mode={mode:o}").as_str()),
        )
        .map_err(NodeError::sys(format!("mount a tmpfs on {dir}")))?;
    }
    nix::mount::mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(NodeError::sys("mount the node's /proc"))?;
    Ok(())
}

fn pid1_main(paths: &NodePaths) -> Result<u8, NodeError> {
    let labsim = labsim_exe()?;
    let mut info = NodeInfo::read(&paths.info_json())?;
    info.labsim = labsim.clone();
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)
        .map_err(NodeError::sys("unshare the mount namespace"))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(NodeError::sys("make the node's mounts private"))?;
    setup_mounts(paths, &labsim)?;
    std::env::set_current_dir("/").map_err(NodeError::io("cannot enter", Path::new("/")))?;
    nix::unistd::sethostname(&info.node).map_err(NodeError::sys("set the hostname"))?;
    info.write(Path::new(node::NODE_JSON))?;
    super::fs::link_programs(Path::new(node::LABSIM_BIN), &labsim)?;

    // Spawned before signals are blocked below: a child inherits its parent's signal mask.
    let agent = Command::new(&labsim)
        .arg("node-agent")
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                node::LABSIM_BIN
            ),
        )
        .env("HOME", "/root")
        .envs(std::env::var("RUST_BACKTRACE").map(|v| ("RUST_BACKTRACE", v)))
        .envs(std::env::var("TZ").map(|v| ("TZ", v)))
        .stdin(Stdio::null())
        .spawn()
        .map_err(NodeError::io(
            "cannot start",
            Path::new("labsim node-agent"),
        ))?;
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGPWR,
    ] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(NodeError::sys("block signals in node-init"))?;
    // A SIGTERM sent before this point is lost (PID 1 ignores signals it does not handle);
    // `minikube node stop` then kills the node after its grace period.
    let sfd = SignalFd::new(&mask).map_err(NodeError::sys("create a signalfd"))?;

    let agent_pid = Pid::from_raw(agent.id() as i32);
    println!(
        "labsim node-init: node {} is up (hostname {}, IP {}), agent PID {}",
        info.node, info.node, info.ip, agent_pid
    );
    loop {
        // Reap everything that has exited; the agent's exit ends the node.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == agent_pid => {
                    println!(
                        "labsim node-init: agent exited with status {code}; stopping the node"
                    );
                    return Ok(code as u8);
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == agent_pid => {
                    println!("labsim node-init: agent killed by {sig}; stopping the node");
                    return Ok(128 + sig as u8);
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        match sfd.read_signal() {
            Ok(Some(info)) => {
                let signo = info.ssi_signo as i32;
                if signo != Signal::SIGCHLD as i32 {
                    // Shutdown request (node stop): the agent stops its units, then exits.
                    let _ = nix::sys::signal::kill(agent_pid, Signal::SIGTERM);
                }
            }
            Ok(None) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(NodeError::sys("read the signalfd")(e)),
        }
    }
}
