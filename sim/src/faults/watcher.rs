//! The components' side of fault injection: a process running in a node (the API server, the
//! kubelet) follows its node's [`FaultState`] through the agent socket. Outside a node (tests that
//! run the API server on the host) nothing is followed and no fault is ever in force.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use super::FaultState;
use crate::node::proto::{Request, Response};
use crate::paths::node::{AGENT_SOCKET, NODE_JSON};

/// The node's fault state as this process sees it.
#[derive(Debug, Clone)]
pub struct FaultWatcher {
    rx: watch::Receiver<FaultState>,
    /// Keeps an inert watcher's channel open, so `changed()` waits instead of failing.
    _keep: Option<std::sync::Arc<watch::Sender<FaultState>>>,
}

impl FaultWatcher {
    /// A watcher that never sees a fault.
    pub fn inert() -> FaultWatcher {
        let (tx, rx) = watch::channel(FaultState::default());
        FaultWatcher {
            rx,
            _keep: Some(std::sync::Arc::new(tx)),
        }
    }

    /// Follows the faults of the node this process runs in (a task on the current tokio
    /// runtime that reconnects to the agent when the connection breaks); inert outside a node.
    pub fn start(program: &'static str) -> FaultWatcher {
        if !Path::new(NODE_JSON).exists() {
            return FaultWatcher::inert();
        }
        let (tx, rx) = watch::channel(FaultState::default());
        tokio::spawn(async move {
            let mut warned = false;
            loop {
                if let Err(e) = follow(&tx).await
                    && !warned
                {
                    eprintln!("labsim {program}: following the node's faults: {e} (retrying)");
                    warned = true;
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        FaultWatcher { rx, _keep: None }
    }

    /// The state now.
    pub fn current(&self) -> FaultState {
        self.rx.borrow().clone()
    }

    /// The API response delay in force.
    pub fn api_delay(&self) -> Option<Duration> {
        self.rx.borrow().api_delay_ms.map(Duration::from_millis)
    }

    /// Whether the kubelet must not heartbeat.
    pub fn heartbeats_stopped(&self) -> bool {
        self.rx.borrow().heartbeats_stopped
    }

    /// A receiver of every change.
    pub fn subscribe(&self) -> watch::Receiver<FaultState> {
        self.rx.clone()
    }
}

async fn follow(tx: &watch::Sender<FaultState>) -> std::io::Result<()> {
    let s = tokio::net::UnixStream::connect(AGENT_SOCKET).await?;
    let (r, mut w) = s.into_split();
    let mut line = serde_json::to_string(&Request::WatchFaults).expect("requests serialise");
    line.push('\n');
    w.write_all(line.as_bytes()).await?;
    let mut lines = BufReader::new(r).lines();
    while let Some(l) = lines.next_line().await? {
        match serde_json::from_str::<Response>(&l) {
            Ok(Response::Faults { state }) => {
                tx.send_if_modified(|cur| {
                    if *cur == state {
                        false
                    } else {
                        *cur = state;
                        true
                    }
                });
            }
            Ok(other) => {
                return Err(std::io::Error::other(format!(
                    "unexpected answer {other:?}"
                )));
            }
            Err(e) => return Err(std::io::Error::other(e)),
        }
        if tx.is_closed() {
            return Ok(());
        }
    }
    Err(std::io::Error::other("the agent closed the connection"))
}
