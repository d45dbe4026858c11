//! labsim's own event log, read from the host: what changed in a profile's cluster, per object and
//! in order, with the API server's timestamps and resulting resourceVersions (its audit log,
//! [`crate::apiserver::audit::reader`]), and the faults injected into it with the agents'
//! timestamps ([`crate::faults`]). A profile keeps the log when it was created with
//! `LABSIM_EVENT_LOG=1` (labsim's kubeadm then enables the API server's audit log).
//!
//! `labsim audit [-p PROFILE] [--object RESOURCE/[NAMESPACE/]NAME] [-o text|json]` prints it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::apiserver::audit::reader::{self, Change, ObjectKey};
use crate::faults::FaultRecord;
use crate::minikube::profile::Profile;
use crate::paths::Home;

/// A profile's event log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventLog {
    /// The changes per object.
    #[serde(serialize_with = "objects")]
    pub changes: BTreeMap<ObjectKey, Vec<Change>>,
    /// The faults injected, oldest first.
    pub faults: Vec<FaultRecord>,
}

fn objects<S: serde::Serializer>(
    m: &BTreeMap<ObjectKey, Vec<Change>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Entry<'a> {
        object: String,
        #[serde(flatten)]
        key: &'a ObjectKey,
        changes: &'a [Change],
    }
    s.collect_seq(m.iter().map(|(k, v)| Entry {
        object: k.to_string(),
        key: k,
        changes: v,
    }))
}

impl EventLog {
    /// The changes of one object, named as [`ObjectKey`] prints it (`pods/default/web`,
    /// `nodes/minikube-m02`, `deployments.apps/default/web`).
    pub fn of(&self, object: &str) -> &[Change] {
        self.changes
            .iter()
            .find(|(k, _)| k.to_string() == object)
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default()
    }
}

/// The event log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// labsim's state directory is unusable.
    #[error(transparent)]
    Home(#[from] crate::paths::PathsError),
    /// The profile's configuration cannot be read.
    #[error(transparent)]
    Profile(#[from] crate::minikube::profile::ProfileError),
    /// No such profile.
    #[error("profile {profile:?} not found: {}", if .existing.is_empty() { "there are no profiles".to_string() } else { format!("the profiles are {}", .existing.join(", ")) })]
    NoProfile {
        /// The profile asked for.
        profile: String,
        /// The profiles there are.
        existing: Vec<String>,
    },
    /// The profile was created without the event log.
    #[error(
        "profile {0:?} keeps no event log: create it with LABSIM_EVENT_LOG=1 (`LABSIM_EVENT_LOG=1 minikube start -p {0} …`) so labsim's kubeadm enables the API server's audit log"
    )]
    NotEnabled(String),
    /// The audit log does not exist (yet).
    #[error(
        "no audit log at {0}: the API server writes it once `kubeadm init` has started the control plane"
    )]
    NoLog(PathBuf),
    /// The audit log is unreadable.
    #[error(transparent)]
    Read(#[from] reader::ReadError),
    /// A fault log line is not a fault record.
    #[error("{path}:{line}: not a labsim fault record: {source}")]
    Fault {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

fn load_profile(home: &Home, profile: &str) -> Result<Profile, EventLogError> {
    Profile::load(home, profile)?.ok_or_else(|| EventLogError::NoProfile {
        profile: profile.to_string(),
        existing: Profile::list(home).into_iter().map(|p| p.name).collect(),
    })
}

/// Where the host finds a profile's audit log (the control-plane node's
/// `/var/log/kubernetes/audit/audit.log`).
///
/// # Errors
/// [`EventLogError::NoProfile`], [`EventLogError::NotEnabled`].
pub fn audit_log_path(home: &Home, profile: &str) -> Result<PathBuf, EventLogError> {
    let prof = load_profile(home, profile)?;
    if !prof.event_log {
        return Err(EventLogError::NotEnabled(profile.to_string()));
    }
    Ok(prof
        .node_paths(home, prof.primary())
        .in_root(crate::apiserver::audit::LOG_PATH))
}

/// Reads a profile's event log.
///
/// # Errors
/// [`EventLogError`]: an unknown profile (naming the ones there are), a profile without the event
/// log, no log yet, unreadable lines.
pub fn load(home: &Home, profile: &str) -> Result<EventLog, EventLogError> {
    let path = audit_log_path(home, profile)?;
    if reader::log_files(&path).is_empty() {
        return Err(EventLogError::NoLog(path));
    }
    let events = reader::read_events(&path)?;
    let prof = load_profile(home, profile)?;
    let mut faults = vec![];
    for n in &prof.nodes {
        let p = crate::faults::host_fault_log(home, profile, &n.name);
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        for (i, l) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            faults.push(serde_json::from_str::<FaultRecord>(l).map_err(|source| {
                EventLogError::Fault {
                    path: p.clone(),
                    line: i + 1,
                    source,
                }
            })?);
        }
    }
    faults.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(EventLog {
        changes: reader::changes(&events),
        faults,
    })
}

/// The text form: each object's changes, then the faults.
pub fn render(log: &EventLog, object: Option<&str>) -> String {
    let mut out = String::new();
    for (k, changes) in &log.changes {
        let name = k.to_string();
        if object.is_some_and(|o| o != name) {
            continue;
        }
        out.push_str(&name);
        out.push('\n');
        for c in changes {
            let verb = if c.subresource.is_empty() {
                c.verb.clone()
            } else {
                format!("{} {}", c.verb, c.subresource)
            };
            let rv = c
                .resource_version
                .as_deref()
                .map(|r| format!("rv={r}"))
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "  {}  {verb:<18} {rv:<12} {}{}\n",
                c.time,
                c.user,
                if c.deleted { "  (deleted)" } else { "" }
            ));
        }
    }
    if object.is_none() && !log.faults.is_empty() {
        out.push_str("faults\n");
        for f in &log.faults {
            out.push_str(&format!("  {f}\n"));
        }
    }
    out
}

const USAGE: &str =
    "usage: labsim audit [-p PROFILE] [--object RESOURCE/[NAMESPACE/]NAME] [-o text|json]";

/// Entry point of `labsim audit …`.
pub fn main(args: Vec<String>) -> ExitCode {
    let mut profile = crate::minikube::DEFAULT_PROFILE.to_string();
    let mut object = None;
    let mut output = "text".to_string();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].clone();
        i += 1;
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with('-') => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || -> Option<String> {
            inline.clone().or_else(|| {
                let v = args.get(i).cloned();
                i += 1;
                v
            })
        };
        match name.as_str() {
            "-p" | "--profile" | "--object" | "-o" | "--output" => {
                let Some(v) = value() else {
                    eprintln!("labsim audit: flag needs an argument: {name}\n{USAGE}");
                    return ExitCode::from(2);
                };
                match name.as_str() {
                    "-p" | "--profile" => profile = v,
                    "--object" => object = Some(v),
                    _ => output = v,
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("labsim audit: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if output != "text" && output != "json" {
        eprintln!("labsim audit: -o must be text or json, not {output:?}");
        return ExitCode::from(2);
    }
    let log = match Home::from_env()
        .map_err(EventLogError::from)
        .and_then(|h| load(&h, &profile))
    {
        Ok(l) => l,
        Err(e) => {
            eprintln!("labsim audit: {e}");
            return ExitCode::from(1);
        }
    };
    if output == "json" {
        let mut log = log;
        if let Some(o) = &object {
            log.changes.retain(|k, _| k.to_string() == *o);
            log.faults.clear();
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&log).expect("the log serialises")
        );
    } else {
        print!("{}", render(&log, object.as_deref()));
    }
    ExitCode::SUCCESS
}
