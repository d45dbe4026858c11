//! The agent's control protocol: JSON lines over the unix socket `/run/labsim/agent.sock`. A client
//! sends one [`Request`] line and reads [`Response`] lines: one for most requests, a stream of
//! [`Response::Entry`] ended by [`Response::End`] for journal queries (never ended when following).
//! The agent learns the caller's user from the socket (`SO_PEERCRED`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::journal::{Entry, Query};

/// What `systemctl` asks of the agent's systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnitAction {
    /// `systemctl start`.
    Start,
    /// `systemctl stop`.
    Stop,
    /// `systemctl restart`.
    Restart,
    /// `systemctl enable` (`--now` also starts).
    Enable,
    /// `systemctl disable` (`--now` also stops).
    Disable,
    /// `systemctl is-active`.
    IsActive,
    /// `systemctl is-enabled`.
    IsEnabled,
    /// `systemctl status`.
    Status,
    /// `systemctl daemon-reload`.
    DaemonReload,
    /// `systemctl reset-failed`.
    ResetFailed,
}

impl UnitAction {
    /// Whether the action changes state (only root may do that).
    pub fn is_privileged(self) -> bool {
        !matches!(
            self,
            UnitAction::IsActive | UnitAction::IsEnabled | UnitAction::Status
        )
    }
}

/// A request to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Is the agent up, and has it finished starting the node's units?
    Ping,
    /// A systemctl action on units.
    Units {
        /// The action.
        action: UnitAction,
        /// Unit names as typed (`kubelet` or `kubelet.service`).
        units: Vec<String>,
        /// `--now` (with enable/disable).
        #[serde(default)]
        now: bool,
        /// Journal lines to include with `status` (`-n`, default 10).
        #[serde(default)]
        lines: usize,
    },
    /// Inject a fault (root only; [`crate::faults`]).
    Fault {
        /// The fault.
        fault: crate::faults::Fault,
    },
    /// Follow the node's fault state: a [`Response::Faults`] now and at every change, until the
    /// client goes away.
    WatchFaults,
    /// A journal query.
    Journal {
        /// What to select.
        query: Query,
        /// `-f`: keep the connection open and send new entries as they are written.
        #[serde(default)]
        follow: bool,
    },
}

/// One change `enable`/`disable` made to the unit directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum InstallChange {
    /// A symlink was created.
    Symlink {
        /// The link.
        path: String,
        /// What it points to.
        target: String,
    },
    /// A symlink was removed.
    Unlink {
        /// The link.
        path: String,
    },
}

/// Why an action on a unit failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum UnitFailure {
    /// No such unit file.
    NotFound,
    /// The unit is not loaded (stopping a unit systemd does not know).
    NotLoaded,
    /// The unit file has a bad setting.
    BadSetting,
    /// The caller is not root.
    AccessDenied,
    /// `enable` of a unit without an `[Install]` section (a notice, not an error).
    NoInstallSection,
    /// The start job failed (e.g. start-limit-hit).
    JobFailed,
    /// labsim cannot do this to the unit: stopping or restarting `containerd.service`, which is
    /// the container runtime inside the node agent.
    NotImplemented,
}

/// The outcome of an action on one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitOutcome {
    /// The full unit name.
    pub unit: String,
    /// The failure, if any.
    #[serde(default)]
    pub failure: Option<UnitFailure>,
    /// `is-active`/`is-enabled` answer (`active`, `enabled`, …).
    #[serde(default)]
    pub state: Option<String>,
    /// The unit's files changed on disk since they were loaded.
    #[serde(default)]
    pub changed_on_disk: bool,
    /// Changes made by enable/disable.
    #[serde(default)]
    pub changes: Vec<InstallChange>,
    /// The unit's status (for `status`).
    #[serde(default)]
    pub status: Option<UnitStatus>,
}

/// How a unit's main process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Its PID.
    pub pid: u32,
    /// The command line as written in the unit (`ExecStart=` value).
    pub exec: String,
    /// `exited` or `killed`.
    pub code: String,
    /// The exit status or signal number.
    pub status: i32,
}

/// What `systemctl status` shows about a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitStatus {
    /// `kubelet.service`.
    pub name: String,
    /// `Description=`.
    pub description: String,
    /// `loaded`, `not-found` or `bad-setting`.
    pub load_state: String,
    /// The load error's explanation (for `bad-setting`).
    #[serde(default)]
    pub load_error: Option<String>,
    /// The unit file.
    #[serde(default)]
    pub fragment_path: Option<String>,
    /// Drop-in files.
    #[serde(default)]
    pub dropins: Vec<String>,
    /// `enabled`, `disabled` or `static`.
    pub unit_file_state: String,
    /// The vendor preset (`enabled`: Debian presets enable everything).
    pub preset: String,
    /// `active`, `activating`, `deactivating`, `inactive`, `failed`.
    pub active_state: String,
    /// `running`, `auto-restart`, `stop-sigterm`, `dead`, `failed`.
    pub sub_state: String,
    /// `success`, `exit-code`, `signal`, `timeout`, `start-limit-hit`, `resources`.
    pub result: String,
    /// When the unit entered its active state (µs since the epoch).
    #[serde(default)]
    pub since_us: Option<i64>,
    /// `Documentation=`.
    #[serde(default)]
    pub documentation: Vec<String>,
    /// The running main process: PID and name.
    #[serde(default)]
    pub main_pid: Option<(u32, String)>,
    /// How the last main process ended, when none runs.
    #[serde(default)]
    pub last_exit: Option<ExitRecord>,
    /// The unit's processes (PID, command line), sorted by PID.
    #[serde(default)]
    pub processes: Vec<(u32, String)>,
    /// Threads in the unit's processes.
    pub tasks: u64,
    /// The last journal entries of the unit.
    #[serde(default)]
    pub journal: Vec<Entry>,
}

/// A response from the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Response {
    /// Answer to [`Request::Ping`].
    Pong {
        /// The boot ID of this node start.
        boot: String,
        /// Whether the units enabled at boot have been started.
        booted: bool,
    },
    /// Answer to [`Request::Units`].
    Units {
        /// One outcome per unit (one in total for daemon-reload).
        outcomes: Vec<UnitOutcome>,
    },
    /// A fault was applied.
    FaultApplied {
        /// What the agent recorded.
        record: crate::faults::FaultRecord,
    },
    /// The node's fault state.
    Faults {
        /// The state.
        state: crate::faults::FaultState,
    },
    /// A journal entry.
    Entry {
        /// The entry.
        entry: Entry,
    },
    /// End of a journal listing.
    End {
        /// The caller may not read the system journal (not root): systemd's hint applies.
        #[serde(default)]
        restricted: bool,
    },
    /// The request was not understood or failed.
    Error {
        /// What went wrong.
        message: String,
    },
}

/// The agent could not be reached or answered nonsense.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The socket does not exist: not on a node, or the node's agent is not up.
    #[error(
        "cannot reach the node agent at {path}: {source} (is this a labsim node, and is it running? From the host use `minikube ssh`)"
    )]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("talking to the node agent: {0}")]
    Io(#[from] std::io::Error),
    /// A line was not a valid response.
    #[error("the node agent answered something labsim does not understand: {0}")]
    Decode(#[from] serde_json::Error),
    /// The agent closed the connection early.
    #[error("the node agent closed the connection before answering (is the node stopping?)")]
    Closed,
}

/// A connection to an agent.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// Connects to the agent socket at `path`.
    ///
    /// # Errors
    /// [`ProtoError::Connect`].
    pub fn connect(path: &Path) -> Result<Client, ProtoError> {
        let s = UnixStream::connect(path).map_err(|source| ProtoError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        let writer = s.try_clone()?;
        Ok(Client {
            reader: BufReader::new(s),
            writer,
        })
    }

    /// Sets a read timeout.
    ///
    /// # Errors
    /// [`ProtoError::Io`].
    pub fn set_timeout(&self, t: Option<std::time::Duration>) -> Result<(), ProtoError> {
        self.writer.set_read_timeout(t)?;
        Ok(())
    }

    /// Sends a request.
    ///
    /// # Errors
    /// [`ProtoError::Io`].
    pub fn send(&mut self, req: &Request) -> Result<(), ProtoError> {
        let line = serde_json::to_string(req)?;
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()?;
        Ok(())
    }

    /// Reads the next response.
    ///
    /// # Errors
    /// [`ProtoError`] on I/O or decoding errors, [`ProtoError::Closed`] at end of stream.
    pub fn recv(&mut self) -> Result<Response, ProtoError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ProtoError::Closed);
        }
        Ok(serde_json::from_str(&line)?)
    }

    /// Sends a request and reads one response.
    ///
    /// # Errors
    /// As [`Client::send`] and [`Client::recv`].
    pub fn call(&mut self, req: &Request) -> Result<Response, ProtoError> {
        self.send(req)?;
        self.recv()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_tagged_json() {
        let r = Request::Units {
            action: UnitAction::IsActive,
            units: vec!["kubelet".into()],
            now: false,
            lines: 0,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"op":"units","action":"is-active","units":["kubelet"],"now":false,"lines":0}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        let ping: Request = serde_json::from_str(r#"{"op":"ping"}"#).unwrap();
        assert_eq!(ping, Request::Ping);
        let end: Response = serde_json::from_str(r#"{"reply":"end"}"#).unwrap();
        assert_eq!(end, Response::End { restricted: false });
        assert!(UnitAction::Enable.is_privileged());
        assert!(!UnitAction::Status.is_privileged());
    }
}
