//! The agent's side of fault injection: it applies a fault (restarts through the container
//! runtime, the others as state), publishes the node's [`FaultState`] to the components that
//! follow it, ends time-bounded faults when their `--for` runs out, and records every step in the
//! node's fault log and journal.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{Fault, FaultRecord, FaultState};
use crate::cli::gofmt::format_go_duration;
use crate::node::journal::Journal;
use crate::runtime::cri::{ContainerFilter, ContainerState, Reply, Request};

/// The node's fault state and log.
#[derive(Debug, Clone)]
pub struct FaultHub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    node: String,
    tx: watch::Sender<FaultState>,
    /// Bumped whenever a time-bounded fault is set or cleared, so a stale expiry does nothing.
    generations: Mutex<HashMap<&'static str, u64>>,
    log_path: PathBuf,
    journal: Option<Arc<Journal>>,
    runtime_socket: PathBuf,
}

fn now_micro() -> String {
    crate::apiserver::audit::event::micro_time(jiff::Timestamp::now())
}

impl FaultHub {
    /// A hub for node `node` logging to `log_path` (and `journal`), restarting containers through
    /// the runtime at `runtime_socket`.
    pub fn new(
        node: &str,
        log_path: PathBuf,
        journal: Option<Arc<Journal>>,
        runtime_socket: PathBuf,
    ) -> FaultHub {
        FaultHub {
            inner: Arc::new(Inner {
                node: node.to_string(),
                tx: watch::channel(FaultState::default()).0,
                generations: Mutex::new(HashMap::new()),
                log_path,
                journal,
                runtime_socket,
            }),
        }
    }

    /// The state now.
    pub fn state(&self) -> FaultState {
        self.inner.tx.borrow().clone()
    }

    /// Follows the state.
    pub fn subscribe(&self) -> watch::Receiver<FaultState> {
        self.inner.tx.subscribe()
    }

    fn record(
        &self,
        fault: &str,
        event: &str,
        detail: String,
        until: Option<String>,
    ) -> FaultRecord {
        let r = FaultRecord {
            time: now_micro(),
            node: self.inner.node.clone(),
            fault: fault.to_string(),
            event: event.to_string(),
            detail,
            until,
        };
        if let Some(j) = &self.inner.journal {
            j.log(None, "labsim-fault", std::process::id(), &r.to_string());
        }
        let line = format!(
            "{}\n",
            serde_json::to_string(&r).expect("records serialise")
        );
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            if let Some(d) = self.inner.log_path.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.inner.log_path)?
                .write_all(line.as_bytes())
        };
        if let Err(e) = write() {
            eprintln!(
                "labsim node-agent: cannot write the fault log {}: {e}",
                self.inner.log_path.display()
            );
        }
        r
    }

    fn bump(&self, fault: &'static str) -> u64 {
        let mut g = self.inner.generations.lock().expect("generations lock");
        let n = g.entry(fault).or_default();
        *n += 1;
        *n
    }

    fn generation(&self, fault: &'static str) -> u64 {
        *self
            .inner
            .generations
            .lock()
            .expect("generations lock")
            .get(fault)
            .unwrap_or(&0)
    }

    /// Ends a time-bounded fault when `after` has passed, unless it was set again or cleared.
    fn expire_after(&self, fault: &'static str, after: Duration, generation: u64) {
        let hub = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if hub.generation(fault) != generation {
                return;
            }
            hub.bump(fault);
            hub.inner.tx.send_modify(|s| {
                match fault {
                    "delay-api" => s.api_delay_ms = None,
                    _ => s.heartbeats_stopped = false,
                }
                s.until.remove(fault);
            });
            hub.record(
                fault,
                "expired",
                format!("{fault} ended after {}", format_go_duration(after)),
                None,
            );
        });
    }

    fn until(after: Option<Duration>) -> Option<String> {
        after.map(|d| {
            crate::apiserver::audit::event::micro_time(
                jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::try_from(d).unwrap_or_default())
                    .unwrap_or_else(|_| jiff::Timestamp::now()),
            )
        })
    }

    /// Applies a fault.
    ///
    /// # Errors
    /// Why it cannot be applied on this node (no container to restart, a heartbeat fault for
    /// another node).
    pub async fn apply(&self, fault: &Fault) -> Result<FaultRecord, String> {
        match fault {
            Fault::RestartApiserver => self.restart("restart-apiserver", "kube-apiserver").await,
            Fault::RestartEtcd => self.restart("restart-etcd", "etcd").await,
            Fault::DropWatches => {
                self.inner.tx.send_modify(|s| s.drop_watches += 1);
                Ok(self.record(
                    "drop-watches",
                    "injected",
                    "the API server breaks every open watch connection".into(),
                    None,
                ))
            }
            Fault::DelayApi { delay, duration: d } => {
                let g = self.bump("delay-api");
                let until = Self::until(*d);
                self.inner.tx.send_modify(|s| {
                    s.api_delay_ms = Some(delay.as_millis() as u64);
                    match &until {
                        Some(u) => s.until.insert("delay-api".into(), u.clone()),
                        None => s.until.remove("delay-api"),
                    };
                });
                if let Some(after) = d {
                    self.expire_after("delay-api", *after, g);
                }
                Ok(self.record(
                    "delay-api",
                    "injected",
                    format!(
                        "every API response is held back {}{}",
                        format_go_duration(*delay),
                        d.map(|x| format!(" for {}", format_go_duration(x)))
                            .unwrap_or_default()
                    ),
                    until,
                ))
            }
            Fault::StopHeartbeats { node, duration: d } => {
                if *node != self.inner.node {
                    return Err(format!(
                        "stop-heartbeats for node {node:?} was sent to node {:?}",
                        self.inner.node
                    ));
                }
                let g = self.bump("stop-heartbeats");
                let until = Self::until(*d);
                self.inner.tx.send_modify(|s| {
                    s.heartbeats_stopped = true;
                    match &until {
                        Some(u) => s.until.insert("stop-heartbeats".into(), u.clone()),
                        None => s.until.remove("stop-heartbeats"),
                    };
                });
                if let Some(after) = d {
                    self.expire_after("stop-heartbeats", *after, g);
                }
                Ok(self.record(
                    "stop-heartbeats",
                    "injected",
                    format!(
                        "the kubelet stops renewing its Lease and posting node status{}; its pods keep running",
                        d.map(|x| format!(" for {}", format_go_duration(x)))
                            .unwrap_or_default()
                    ),
                    until,
                ))
            }
            Fault::Clear => {
                let before = self.state();
                let mut ended = vec![];
                if before.api_delay_ms.is_some() {
                    ended.push("delay-api");
                }
                if before.heartbeats_stopped {
                    ended.push("stop-heartbeats");
                }
                self.bump("delay-api");
                self.bump("stop-heartbeats");
                self.inner.tx.send_modify(|s| {
                    s.api_delay_ms = None;
                    s.heartbeats_stopped = false;
                    s.until.clear();
                });
                Ok(self.record(
                    "clear",
                    "cleared",
                    if ended.is_empty() {
                        "no time-bounded fault was in force".into()
                    } else {
                        format!("ended {}", ended.join(", "))
                    },
                    None,
                ))
            }
        }
    }

    /// Stops the running container `name` of a kube-system pod as `crictl stop` does (timeout 0:
    /// SIGKILL at once, containerd `container_stop.go`); the kubelet sees it exit and restarts it
    /// (restartPolicy Always).
    async fn restart(&self, fault: &str, name: &str) -> Result<FaultRecord, String> {
        let rt = crate::runtime::client::RuntimeClient::new(
            &self.inner.runtime_socket.display().to_string(),
            Duration::from_secs(30),
        );
        let mut filter = ContainerFilter {
            state: Some(ContainerState::Running),
            ..Default::default()
        };
        filter
            .label_selector
            .insert("io.kubernetes.container.name".into(), name.into());
        filter
            .label_selector
            .insert("io.kubernetes.pod.namespace".into(), "kube-system".into());
        let items = match rt.call(Request::ListContainers { filter }).await {
            Ok(Reply::Containers { items }) => items,
            Ok(other) => return Err(format!("the runtime answered {other:?}")),
            Err(e) => return Err(format!("the container runtime: {e}")),
        };
        let Some(c) = items.first() else {
            return Err(format!(
                "no running {name} container on this node: the control plane runs once `kubeadm init` has started it (and while the kubelet runs)"
            ));
        };
        rt.call(Request::StopContainer {
            id: c.id.clone(),
            timeout: 0,
        })
        .await
        .map_err(|e| format!("stopping container {}: {e}", &c.id[..13.min(c.id.len())]))?;
        Ok(self.record(
            fault,
            "injected",
            format!(
                "stopped the {name} container {} (crictl stop); the kubelet restarts it",
                &c.id[..13.min(c.id.len())]
            ),
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn state_changes_expire_and_clear() {
        let dir = std::env::temp_dir().join(format!("labsim-hub-{}", std::process::id()));
        let log = dir.join("faults.log");
        let hub = FaultHub::new("demo", log.clone(), None, dir.join("no.sock"));
        let mut rx = hub.subscribe();
        hub.apply(&Fault::DropWatches).await.unwrap();
        assert_eq!(rx.borrow_and_update().drop_watches, 1);
        let r = hub
            .apply(&Fault::DelayApi {
                delay: Duration::from_millis(700),
                duration: Some(Duration::from_millis(200)),
            })
            .await
            .unwrap();
        assert_eq!(r.detail, "every API response is held back 700ms for 200ms");
        assert!(r.until.is_some());
        assert_eq!(hub.state().api_delay_ms, Some(700));
        let e = hub
            .apply(&Fault::StopHeartbeats {
                node: "other".into(),
                duration: None,
            })
            .await
            .unwrap_err();
        assert!(e.contains("was sent to node \"demo\""), "{e}");
        hub.apply(&Fault::StopHeartbeats {
            node: "demo".into(),
            duration: None,
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let s = hub.state();
        assert_eq!(s.api_delay_ms, None, "expired");
        assert!(s.heartbeats_stopped, "no --for: until cleared");
        let c = hub.apply(&Fault::Clear).await.unwrap();
        assert_eq!(c.detail, "ended stop-heartbeats");
        assert!(!hub.state().heartbeats_stopped);
        let e = hub.apply(&Fault::RestartApiserver).await.unwrap_err();
        assert!(e.starts_with("the container runtime: dial unix"), "{e}");
        let lines: Vec<FaultRecord> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let events: Vec<(&str, &str)> = lines
            .iter()
            .map(|r| (r.fault.as_str(), r.event.as_str()))
            .collect();
        assert_eq!(
            events,
            [
                ("drop-watches", "injected"),
                ("delay-api", "injected"),
                ("stop-heartbeats", "injected"),
                ("delay-api", "expired"),
                ("clear", "cleared"),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
