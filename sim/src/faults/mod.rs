//! Fault injection: `labsim fault -p PROFILE <fault> …` and [`inject`], for tests of what rides
//! through a misbehaving cluster (never used by the harness in normal runs).
//!
//! | fault | what happens | where |
//! |---|---|---|
//! | `restart-apiserver` | the kube-apiserver container is stopped through the runtime (as `crictl stop` does: SIGKILL at once); the kubelet restarts its static pod | primary node |
//! | `restart-etcd` | the same for etcd; the API server rides through as kube-apiserver does | primary node |
//! | `drop-watches` | the API server breaks every open watch connection at once (a connection reset) | primary node |
//! | `delay-api D [--for T]` | every API response is held back D | primary node |
//! | `stop-heartbeats NODE [--for T]` | that node's kubelet stops renewing its Lease and posting its status; its pods keep running | NODE |
//! | `clear` | ends the time-bounded faults (delay-api, stop-heartbeats) on every node | every running node |
//!
//! Faults go through each node's agent (`/run/labsim/agent.sock`, [`crate::node::proto`]): the
//! agent applies restarts through the container runtime and holds the state of the others
//! ([`hub::FaultHub`]), which the API server and the kubelet follow ([`watcher::FaultWatcher`]).
//! Every fault is recorded with the agent's timestamp in the node's `/var/log/labsim/faults.log`
//! (JSON lines, [`FaultRecord`]) and its journal (`labsim-fault`), next to the audit log of
//! labsim's event log ([`crate::eventlog`]). Faults do not survive a node restart.

pub mod hub;
pub mod watcher;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::gofmt::parse_go_duration;
use crate::minikube::machine;
use crate::minikube::profile::Profile;
use crate::node::proto::{Client, Request, Response};
use crate::paths::Home;

/// Where a node keeps its fault log.
pub const FAULT_LOG: &str = "/var/log/labsim/faults.log";

/// A fault to inject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// Stop the kube-apiserver container; the kubelet restarts it.
    RestartApiserver,
    /// Stop the etcd container; the kubelet restarts it.
    RestartEtcd,
    /// Break every open watch connection of the API server.
    DropWatches,
    /// Hold every API response back.
    DelayApi {
        /// How long.
        #[serde(with = "millis")]
        delay: Duration,
        /// For how long the fault lasts (None: until `clear`).
        #[serde(default, with = "opt_millis")]
        duration: Option<Duration>,
    },
    /// Make a node's kubelet stop heartbeating.
    StopHeartbeats {
        /// The node.
        node: String,
        /// For how long (None: until `clear`).
        #[serde(default, with = "opt_millis")]
        duration: Option<Duration>,
    },
    /// End the time-bounded faults.
    Clear,
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

impl Fault {
    /// The fault's name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::RestartApiserver => "restart-apiserver",
            Fault::RestartEtcd => "restart-etcd",
            Fault::DropWatches => "drop-watches",
            Fault::DelayApi { .. } => "delay-api",
            Fault::StopHeartbeats { .. } => "stop-heartbeats",
            Fault::Clear => "clear",
        }
    }

    /// Parses `<fault> [args] [--for D]` (the words after `labsim fault -p P`).
    ///
    /// # Errors
    /// What is wrong with the words, and the usage.
    pub fn parse(words: &[String]) -> Result<Fault, FaultError> {
        let usage = |msg: String| FaultError::Usage(format!("{msg}\n{USAGE}"));
        let mut positional = vec![];
        let mut duration_for: Option<Duration> = None;
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            i += 1;
            let value = if let Some(v) = w.strip_prefix("--for=") {
                Some(v.to_string())
            } else if w == "--for" {
                let v = words
                    .get(i)
                    .ok_or_else(|| usage("flag needs an argument: --for".into()))?;
                i += 1;
                Some(v.clone())
            } else if w.starts_with('-') {
                return Err(usage(format!("unknown flag: {w}")));
            } else {
                positional.push(w.as_str());
                None
            };
            if let Some(v) = value {
                let d = parse_go_duration(&v).map_err(|e| usage(format!("--for {v}: {e}")))?;
                if d.is_zero() {
                    return Err(usage("--for must be longer than 0s".into()));
                }
                duration_for = Some(d);
            }
        }
        let Some((&name, args)) = positional.split_first() else {
            return Err(usage("which fault?".into()));
        };
        let no_for = |f: Fault| {
            if duration_for.is_some() {
                Err(usage(format!(
                    "{name} is not time-bounded: --for does not apply"
                )))
            } else {
                Ok(f)
            }
        };
        let want_args = |n: usize, what: &str| {
            if args.len() == n {
                Ok(())
            } else {
                Err(usage(format!(
                    "{name} takes {what}, got {}",
                    if args.is_empty() {
                        "nothing".to_string()
                    } else {
                        format!("{args:?}")
                    }
                )))
            }
        };
        match name {
            "restart-apiserver" => {
                want_args(0, "no arguments").and_then(|_| no_for(Fault::RestartApiserver))
            }
            "restart-etcd" => want_args(0, "no arguments").and_then(|_| no_for(Fault::RestartEtcd)),
            "drop-watches" => want_args(0, "no arguments").and_then(|_| no_for(Fault::DropWatches)),
            "clear" => want_args(0, "no arguments").and_then(|_| no_for(Fault::Clear)),
            "delay-api" => {
                want_args(1, "one duration (e.g. 2s)")?;
                let delay = parse_go_duration(args[0])
                    .map_err(|e| usage(format!("delay-api {}: {e}", args[0])))?;
                Ok(Fault::DelayApi {
                    delay,
                    duration: duration_for,
                })
            }
            "stop-heartbeats" => {
                want_args(1, "one node name")?;
                Ok(Fault::StopHeartbeats {
                    node: args[0].to_string(),
                    duration: duration_for,
                })
            }
            other => Err(usage(format!("unknown fault {other:?}"))),
        }
    }
}

/// The command line of `labsim fault`.
pub const USAGE: &str = "usage: labsim fault [-p PROFILE] FAULT [ARGS] [--for DURATION]
faults:
  restart-apiserver            stop the kube-apiserver container; the kubelet restarts it
  restart-etcd                 stop the etcd container; the kubelet restarts it
  drop-watches                 the API server breaks every open watch connection
  delay-api DURATION           every API response is held back DURATION (--for: then it ends)
  stop-heartbeats NODE         NODE's kubelet stops renewing its Lease and posting status (--for)
  clear                        end delay-api and stop-heartbeats on every node
  status                       show the faults in force on every running node";

/// The faults in force on a node, as its agent publishes them to the node's components.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultState {
    /// How many `drop-watches` the node has seen: the API server breaks its watches whenever
    /// this grows.
    #[serde(default)]
    pub drop_watches: u64,
    /// The API response delay in force, in milliseconds.
    #[serde(default)]
    pub api_delay_ms: Option<u64>,
    /// Whether the kubelet must not heartbeat.
    #[serde(default)]
    pub heartbeats_stopped: bool,
    /// When the time-bounded faults end by themselves (RFC 3339, per fault name).
    #[serde(default)]
    pub until: std::collections::BTreeMap<String, String>,
}

/// One line of a node's fault log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// When the agent applied it (RFC 3339, µs, UTC).
    pub time: String,
    /// The node whose agent applied it.
    pub node: String,
    /// The fault's name (`delay-api`).
    pub fault: String,
    /// `injected`, `expired` (a `--for` ran out) or `cleared`.
    pub event: String,
    /// What was done, in words.
    pub detail: String,
    /// When a time-bounded fault will end by itself (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl std::fmt::Display for FaultRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}: {}",
            self.time, self.node, self.fault, self.event, self.detail
        )?;
        if let Some(u) = &self.until {
            write!(f, " (until {u})")?;
        }
        Ok(())
    }
}

/// A fault could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// labsim's state directory is unusable.
    #[error(transparent)]
    Home(#[from] crate::paths::PathsError),
    /// The profile's configuration cannot be read.
    #[error(transparent)]
    Profile(#[from] crate::minikube::profile::ProfileError),
    /// No such profile.
    #[error("profile {profile:?} not found: {}", existing_list(.existing, "profiles"))]
    NoProfile {
        /// The profile asked for.
        profile: String,
        /// The profiles there are.
        existing: Vec<String>,
    },
    /// No such node in the profile.
    #[error("node {node:?} not found in profile {profile:?}: {}", existing_list(.nodes, "nodes"))]
    NoNode {
        /// The node asked for.
        node: String,
        /// The profile.
        profile: String,
        /// Its nodes.
        nodes: Vec<String>,
    },
    /// The node the fault needs is stopped.
    #[error(
        "node {node:?} is not running: start it with `minikube node start -p {profile} {node}`"
    )]
    NotRunning {
        /// The node.
        node: String,
        /// The profile.
        profile: String,
    },
    /// The node's agent could not be asked.
    #[error("cannot reach the agent of node {node:?}: {source}")]
    Agent {
        /// The node.
        node: String,
        /// The cause.
        #[source]
        source: crate::node::proto::ProtoError,
    },
    /// The agent refused the fault.
    #[error("node {node:?}: {message}")]
    Refused {
        /// The node.
        node: String,
        /// The agent's reason.
        message: String,
    },
}

fn existing_list(names: &[String], what: &str) -> String {
    if names.is_empty() {
        format!("there are no {what}")
    } else {
        format!("the {what} are {}", names.join(", "))
    }
}

/// A running node of a profile, as faults address it.
struct Target {
    name: String,
    socket: PathBuf,
}

fn load_profile(home: &Home, profile: &str) -> Result<Profile, FaultError> {
    Profile::load(home, profile)?.ok_or_else(|| FaultError::NoProfile {
        profile: profile.to_string(),
        existing: Profile::list(home).into_iter().map(|p| p.name).collect(),
    })
}

fn target(home: &Home, prof: &Profile, node: &str) -> Result<Target, FaultError> {
    // Node names as minikube takes them: `demo-m02` or `m02`.
    let rec = prof.retrieve(node).ok_or_else(|| FaultError::NoNode {
        node: node.to_string(),
        profile: prof.name.clone(),
        nodes: prof.nodes.iter().map(|n| n.name.clone()).collect(),
    })?;
    let rs =
        machine::running(&prof.node_paths(home, rec)).ok_or_else(|| FaultError::NotRunning {
            node: node.to_string(),
            profile: prof.name.clone(),
        })?;
    Ok(Target {
        name: rec.name.clone(),
        socket: machine::agent_socket(&rs),
    })
}

fn ask(t: &Target, req: &Request, timeout: Duration) -> Result<Response, FaultError> {
    let agent = |source| FaultError::Agent {
        node: t.name.clone(),
        source,
    };
    let mut c = Client::connect(&t.socket).map_err(agent)?;
    c.set_timeout(Some(timeout)).map_err(agent)?;
    c.call(req).map_err(agent)
}

/// Injects `fault` into profile `profile` of `home` and returns what the agents recorded.
///
/// # Errors
/// [`FaultError`]: an unknown profile or node (naming the ones there are), a stopped node, an
/// agent that cannot be reached or refuses (e.g. no kube-apiserver container to restart yet).
pub fn inject(home: &Home, profile: &str, fault: &Fault) -> Result<Vec<FaultRecord>, FaultError> {
    let prof = load_profile(home, profile)?;
    let mut fault = fault.clone();
    let targets = match &mut fault {
        Fault::StopHeartbeats { node, .. } => {
            let t = target(home, &prof, node)?;
            node.clone_from(&t.name);
            vec![t]
        }
        Fault::Clear => prof
            .nodes
            .iter()
            .filter_map(|n| target(home, &prof, &n.name).ok())
            .collect(),
        _ => vec![target(home, &prof, &prof.primary().name)?],
    };
    let mut records = vec![];
    for t in &targets {
        // Restarts wait for the runtime to stop the container.
        match ask(
            t,
            &Request::Fault {
                fault: fault.clone(),
            },
            Duration::from_secs(30),
        )? {
            Response::FaultApplied { record } => records.push(record),
            Response::Error { message } => {
                return Err(FaultError::Refused {
                    node: t.name.clone(),
                    message,
                });
            }
            other => {
                return Err(FaultError::Refused {
                    node: t.name.clone(),
                    message: format!("unexpected answer {other:?}"),
                });
            }
        }
    }
    Ok(records)
}

/// The fault state of every running node of a profile.
///
/// # Errors
/// [`FaultError`] for an unknown profile or an agent that does not answer.
pub fn status(home: &Home, profile: &str) -> Result<Vec<(String, FaultState)>, FaultError> {
    let prof = load_profile(home, profile)?;
    let mut out = vec![];
    for n in &prof.nodes {
        let Ok(t) = target(home, &prof, &n.name) else {
            continue;
        };
        match ask(&t, &Request::WatchFaults, Duration::from_secs(5))? {
            Response::Faults { state } => out.push((n.name.clone(), state)),
            other => {
                return Err(FaultError::Refused {
                    node: n.name.clone(),
                    message: format!("unexpected answer {other:?}"),
                });
            }
        }
    }
    Ok(out)
}

/// The host-side path of a node's fault log.
pub fn host_fault_log(home: &Home, profile: &str, node: &str) -> PathBuf {
    home.profile(profile).node(node).in_root(FAULT_LOG)
}

/// Entry point of `labsim fault …`.
pub fn main(args: Vec<String>) -> ExitCode {
    let mut profile = crate::minikube::DEFAULT_PROFILE.to_string();
    let mut rest = vec![];
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "-p" || a == "--profile" {
            match args.get(i) {
                Some(p) => profile = p.clone(),
                None => {
                    eprintln!("labsim fault: flag needs an argument: {a}\n{USAGE}");
                    return ExitCode::from(2);
                }
            }
            i += 1;
        } else if let Some(p) = a
            .strip_prefix("--profile=")
            .or_else(|| a.strip_prefix("-p="))
        {
            profile = p.to_string();
        } else if a == "-h" || a == "--help" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        } else {
            rest.push(a.clone());
        }
    }
    let home = match Home::from_env() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("labsim fault: {e}");
            return ExitCode::from(1);
        }
    };
    if rest.first().map(String::as_str) == Some("status") && rest.len() == 1 {
        return match status(&home, &profile) {
            Ok(states) => {
                for (node, s) in states {
                    println!(
                        "{node}: {}",
                        serde_json::to_string(&s).expect("states serialise")
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("labsim fault: {e}");
                ExitCode::from(1)
            }
        };
    }
    let fault = match Fault::parse(&rest) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("labsim fault: {e}");
            return ExitCode::from(2);
        }
    };
    match inject(&home, &profile, &fault) {
        Ok(records) => {
            for r in records {
                println!("{r}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("labsim fault: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            Fault::parse(&w("restart-etcd")).unwrap(),
            Fault::RestartEtcd
        );
        assert_eq!(
            Fault::parse(&w("delay-api 1500ms --for 1m")).unwrap(),
            Fault::DelayApi {
                delay: Duration::from_millis(1500),
                duration: Some(Duration::from_secs(60))
            }
        );
        assert_eq!(
            Fault::parse(&w("stop-heartbeats --for=30s demo-m02")).unwrap(),
            Fault::StopHeartbeats {
                node: "demo-m02".into(),
                duration: Some(Duration::from_secs(30))
            }
        );
        let err = |s: &str| Fault::parse(&w(s)).unwrap_err().to_string();
        assert!(err("drop-watches --for 3s").starts_with("drop-watches is not time-bounded"));
        assert!(
            err("delay-api").starts_with("delay-api takes one duration (e.g. 2s), got nothing")
        );
        assert!(
            err("delay-api soon").starts_with("delay-api soon: time: invalid duration \"soon\"")
        );
        assert!(err("explode").starts_with("unknown fault \"explode\""));
        assert!(err("clear --force").starts_with("unknown flag: --force"));
        assert!(err("").starts_with("which fault?"));
        // The wire format the agent reads.
        assert_eq!(
            serde_json::to_string(&Fault::DelayApi {
                delay: Duration::from_secs(2),
                duration: None
            })
            .unwrap(),
            r#"{"fault":"delay-api","delay":2000,"duration":null}"#
        );
    }

    #[test]
    fn missing_profiles_and_nodes_list_what_exists() {
        let e = FaultError::NoProfile {
            profile: "x".into(),
            existing: vec!["demo".into(), "other".into()],
        };
        assert_eq!(
            e.to_string(),
            "profile \"x\" not found: the profiles are demo, other"
        );
        let e = FaultError::NoNode {
            node: "m09".into(),
            profile: "demo".into(),
            nodes: vec!["demo".into(), "demo-m02".into()],
        };
        assert_eq!(
            e.to_string(),
            "node \"m09\" not found in profile \"demo\": the nodes are demo, demo-m02"
        );
        let dir = std::env::temp_dir().join(format!("labsim-faults-{}", std::process::id()));
        let home = Home::at(&dir);
        let e = inject(&home, "nope", &Fault::DropWatches).unwrap_err();
        assert_eq!(
            e.to_string(),
            "profile \"nope\" not found: there are no profiles"
        );
    }
}
