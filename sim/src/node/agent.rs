//! `labsim node-agent`: the node's systemd, journald, and the host of its container runtime.
//!
//! At start it opens the journal (new boot ID), starts the container runtime
//! ([`crate::runtime::start`]) as `containerd.service` ([`Systemd::host`]), starts the units enabled for `multi-user.target` (among them the
//! stand-in `ssh.service`), then serves [`super::proto`] requests on `/run/labsim/agent.sock`
//! until SIGTERM, when it stops every unit and the runtime, and exits (node-init then ends the
//! node).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::journal::Journal;
use super::proto::{Request, Response, UnitAction, UnitFailure, UnitOutcome};
use super::systemd::Systemd;
use super::unit::unit_name;
use super::{NodeError, NodeInfo};
use crate::paths::node::{AGENT_SOCKET, JOURNAL_DIR, UNIT_DIR};

/// What the agent gives the container runtime it hosts.
#[derive(Debug, Clone)]
pub struct AgentContext {
    /// The node's identity.
    pub node: NodeInfo,
    /// The node's journal (the runtime logs as `containerd[<pid>]`, say).
    pub journal: Arc<Journal>,
    /// The node's service manager.
    pub systemd: Systemd,
    /// The node's fault state (restarts go through the runtime's socket).
    pub faults: crate::faults::hub::FaultHub,
}

/// The agent could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The node identity is missing or damaged.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The journal cannot be opened.
    #[error(transparent)]
    Journal(#[from] super::journal::JournalError),
    /// The control socket cannot be created.
    #[error("cannot listen on {path}: {source}")]
    Listen {
        /// The socket path.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Entry point: `labsim node-agent`.
pub fn main(_args: Vec<String>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labsim node-agent: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labsim node-agent: {e}");
            ExitCode::from(1)
        }
    }
}

fn new_boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|u| u.trim().replace('-', ""))
        .unwrap_or_else(|_| format!("{:032x}", jiff::Timestamp::now().as_nanosecond()))
}

async fn run() -> Result<(), AgentError> {
    let info = NodeInfo::current("node-agent")?;
    let boot = new_boot_id();
    let journal = Arc::new(Journal::open(Path::new(JOURNAL_DIR), &boot, &info.node)?);
    let systemd = Systemd::new(Path::new(UNIT_DIR), journal.clone());

    let sock = Path::new(AGENT_SOCKET);
    let listen_err = |source| AgentError::Listen {
        path: AGENT_SOCKET.to_string(),
        source,
    };
    if let Some(dir) = sock.parent() {
        std::fs::create_dir_all(dir).map_err(listen_err)?;
    }
    let _ = std::fs::remove_file(sock);
    let listener = UnixListener::bind(sock).map_err(listen_err)?;
    {
        use std::os::unix::fs::PermissionsExt;
        // Everyone may ask; the agent checks the caller's user for changes.
        std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o666))
            .map_err(listen_err)?;
    }
    let ctx = AgentContext {
        node: info.clone(),
        journal: journal.clone(),
        systemd: systemd.clone(),
        faults: crate::faults::hub::FaultHub::new(
            &info.node,
            Path::new(crate::faults::FAULT_LOG).to_path_buf(),
            Some(journal.clone()),
            Path::new(crate::runtime::cri::SOCKET).to_path_buf(),
        ),
    };
    install_containerd_unit(Path::new(UNIT_DIR));
    systemd.host(CONTAINERD_UNIT);
    let runtime = match crate::runtime::start(ctx.clone()).await {
        Ok(r) => {
            systemd.hosted_started(CONTAINERD_UNIT, true);
            Some(r)
        }
        Err(e) => {
            systemd.hosted_started(CONTAINERD_UNIT, false);
            eprintln!("labsim node-agent: container runtime: {e}");
            journal.log(
                None,
                "labsim",
                std::process::id(),
                &format!("container runtime: {e}"),
            );
            None
        }
    };
    let booted = Arc::new(AtomicBool::new(false));
    systemd.boot();
    booted.store(true, Ordering::SeqCst);
    println!("labsim node-agent: node {} booted (boot {boot})", info.node);

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(listen_err)?;
    loop {
        tokio::select! {
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn {
                    let ctx = ctx.clone();
                    let booted = booted.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(stream, ctx, booted).await {
                            eprintln!("labsim node-agent: client: {e}");
                        }
                    });
                }
            }
            _ = term.recv() => break,
        }
    }
    println!("labsim node-agent: shutting down node {}", info.node);
    systemd.shutdown().await;
    if let Some(r) = runtime {
        r.shutdown().await;
        systemd.unhost(CONTAINERD_UNIT);
    }
    let _ = std::fs::remove_file(sock);
    Ok(())
}

/// The unit that stands for the container runtime the agent hosts.
pub const CONTAINERD_UNIT: &str = "containerd.service";

/// containerd's own unit file (containerd `containerd.service`), with the binary where Debian
/// packages (and kicbase) install it. On labsim it describes the runtime inside the agent
/// ([`Systemd::host`]); nothing executes its `ExecStart`.
pub const CONTAINERD_UNIT_FILE: &str = "[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/bin/containerd

Restart=always
Delegate=yes
KillMode=process
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=1048576
TasksMax=infinity

[Install]
WantedBy=multi-user.target
";

/// Writes `containerd.service`, enabled for `multi-user.target`, when the node has no such unit
/// file yet (a kicbase node comes with it; an existing file is the node's and left alone).
fn install_containerd_unit(unit_dir: &Path) {
    let file = unit_dir.join(CONTAINERD_UNIT);
    if file.exists() {
        return;
    }
    let wants = unit_dir.join("multi-user.target.wants");
    let written = std::fs::create_dir_all(&wants)
        .and_then(|()| std::fs::write(&file, CONTAINERD_UNIT_FILE))
        .and_then(|()| std::os::unix::fs::symlink(&file, wants.join(CONTAINERD_UNIT)));
    if let Err(e) = written {
        eprintln!(
            "labsim node-agent: cannot write {}: {e}; systemctl will not know containerd",
            file.display()
        );
    }
}

async fn send(w: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_string(r).expect("responses serialise");
    line.push('\n');
    w.write_all(line.as_bytes()).await
}

async fn serve(
    stream: UnixStream,
    ctx: AgentContext,
    booted: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let uid = stream.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(());
    }
    let req: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            return send(
                &mut w,
                &Response::Error {
                    message: format!("bad request: {e}"),
                },
            )
            .await;
        }
    };
    match req {
        Request::Ping => {
            send(
                &mut w,
                &Response::Pong {
                    boot: ctx.journal.boot().to_string(),
                    booted: booted.load(Ordering::SeqCst),
                },
            )
            .await
        }
        Request::Units {
            action,
            units,
            now,
            lines,
        } => {
            let outcomes = units_request(&ctx.systemd, uid, action, &units, now, lines).await;
            send(&mut w, &Response::Units { outcomes }).await
        }
        Request::Fault { fault } => {
            if uid != 0 {
                return send(
                    &mut w,
                    &Response::Error {
                        message: "injecting faults needs root".into(),
                    },
                )
                .await;
            }
            let reply = match ctx.faults.apply(&fault).await {
                Ok(record) => Response::FaultApplied { record },
                Err(message) => Response::Error { message },
            };
            send(&mut w, &reply).await
        }
        Request::WatchFaults => {
            let mut rx = ctx.faults.subscribe();
            let mut eof = [0u8; 1];
            loop {
                let state = rx.borrow_and_update().clone();
                send(&mut w, &Response::Faults { state }).await?;
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return Ok(());
                        }
                    }
                    n = reader.read(&mut eof) => {
                        if n.unwrap_or(0) == 0 {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Request::Journal { query, follow } => {
            // Without root (or the adm/systemd-journal groups, which the docker user lacks) only
            // the caller's own user journal is readable, and labsim has no user units.
            if uid != 0 {
                return send(&mut w, &Response::End { restricted: true }).await;
            }
            let mut rx = follow.then(|| ctx.journal.subscribe());
            let listed = ctx.journal.query(&query);
            let mut last_seq = listed.last().map(|e| e.seq).unwrap_or(0);
            for entry in listed {
                send(&mut w, &Response::Entry { entry }).await?;
            }
            let Some(rx) = rx.as_mut() else {
                return send(&mut w, &Response::End { restricted: false }).await;
            };
            let mut live = query.clone();
            live.lines = None;
            let mut eof = [0u8; 1];
            loop {
                tokio::select! {
                    got = rx.recv() => match got {
                        Ok(entry) if entry.seq > last_seq && live.matches(&entry) => {
                            last_seq = entry.seq;
                            send(&mut w, &Response::Entry { entry }).await?;
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                    n = reader.read(&mut eof) => {
                        if n.unwrap_or(0) == 0 {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

fn denied(unit: String) -> UnitOutcome {
    UnitOutcome {
        unit,
        failure: Some(UnitFailure::AccessDenied),
        state: None,
        changed_on_disk: false,
        changes: Vec::new(),
        status: None,
    }
}

async fn units_request(
    systemd: &Systemd,
    uid: u32,
    action: UnitAction,
    units: &[String],
    now: bool,
    lines: usize,
) -> Vec<UnitOutcome> {
    let names: Vec<String> = units.iter().map(|u| unit_name(u)).collect();
    if action.is_privileged() && uid != 0 {
        if action == UnitAction::DaemonReload {
            return vec![denied(String::new())];
        }
        return names.into_iter().map(denied).collect();
    }
    let mut out = Vec::new();
    if action == UnitAction::DaemonReload {
        systemd.daemon_reload();
        return out;
    }
    for n in names {
        let o = match action {
            UnitAction::Start => systemd.start(&n).await,
            UnitAction::Stop => systemd.stop(&n).await,
            UnitAction::Restart => systemd.restart(&n).await,
            UnitAction::ResetFailed => systemd.reset_failed(&n),
            UnitAction::Enable => {
                let mut o = systemd.enable(&n);
                // --now starts the unit even when it has nothing to enable (static units).
                let enabled = matches!(o.failure, None | Some(UnitFailure::NoInstallSection));
                if now && enabled {
                    let s = systemd.start(&n).await;
                    if s.failure.is_some() {
                        o.failure = s.failure;
                        o.state = s.state;
                    }
                }
                o
            }
            UnitAction::Disable => {
                let mut o = systemd.disable(&n);
                if now && o.failure.is_none() {
                    let s = systemd.stop(&n).await;
                    o.failure = s.failure.filter(|f| *f != UnitFailure::NotLoaded);
                }
                o
            }
            UnitAction::IsActive => UnitOutcome {
                state: Some(systemd.is_active(&n)),
                ..denied(n.clone())
            }
            .with_failure(None),
            UnitAction::IsEnabled => match systemd.is_enabled(&n) {
                Ok(s) => UnitOutcome {
                    state: Some(s),
                    ..denied(n.clone())
                }
                .with_failure(None),
                Err(f) => denied(n.clone()).with_failure(Some(f)),
            },
            UnitAction::Status => {
                let lines = if uid == 0 { lines } else { 0 };
                match systemd.status(&n, lines) {
                    Ok((st, changed)) => UnitOutcome {
                        status: Some(st),
                        changed_on_disk: changed,
                        ..denied(n.clone())
                    }
                    .with_failure(None),
                    Err(f) => denied(n.clone()).with_failure(Some(f)),
                }
            }
            UnitAction::DaemonReload => unreachable!("handled above"),
        };
        out.push(o);
    }
    out
}

impl UnitOutcome {
    fn with_failure(mut self, f: Option<UnitFailure>) -> UnitOutcome {
        self.failure = f;
        self
    }
}
