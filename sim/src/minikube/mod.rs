//! The minikube CLI front end: `start`, `stop`, `node list|stop|start`, `ssh`, `ip`, `cp`,
//! `delete`, `profile list`, `status`, `version`, with minikube's output text, streams and exit
//! codes (CLI-REFERENCE.md §1; minikube `cmd/minikube/cmd/`, `pkg/minikube/out`,
//! `pkg/minikube/exit`, `pkg/minikube/reason`). `labsim` behaves as minikube when invoked as
//! `minikube` (a symlink) or as `labsim minikube ARGS`.
//!
//! labsim emulates minikube's docker driver with the containerd runtime, for clusters started with
//! `--no-kubernetes` (the course installs Kubernetes on the nodes itself). Nodes are described in
//! [`crate::node`]; state lives in `$LABSIM_HOME` ([`crate::paths`]).

mod commands;
pub mod flags;
pub mod machine;
pub mod out;
pub mod profile;

use std::process::ExitCode;

use flags::{Kind, Spec, spec};
use out::{Console, Style};

use crate::paths::Home;

/// The minikube release labsim answers as (CLI-REFERENCE.md: HEAD ≈ v1.38.1).
pub const MINIKUBE_VERSION: &str = "v1.38.1";
/// The kicbase image version that release uses (`pkg/drivers/kic/types.go`).
pub const KICBASE_VERSION: &str = "v0.0.50";
/// The containerd version `minikube start` prints (`Preparing containerd 2.2.0 ...`): what the
/// node's `containerd --version` says, without the `v` (minikube `pkg/minikube/cruntime`
/// `containerd.Version` parses that line), [`crate::runtime::CONTAINERD_VERSION`].
pub fn containerd_version() -> &'static str {
    crate::runtime::CONTAINERD_VERSION.trim_start_matches('v')
}
/// The profile used without `-p` (`constants.DefaultClusterName`).
pub const DEFAULT_PROFILE: &str = "minikube";

/// Exit codes (`pkg/minikube/reason/exitcodes.go`).
pub mod exit {
    /// Generic failure.
    pub const FAILURE: u8 = 1;
    /// `ExProgramError`.
    pub const PROGRAM_ERROR: u8 = 10;
    /// `ExProgramUsage`.
    pub const USAGE: u8 = 14;
    /// `ExProgramUnsupported`.
    pub const UNSUPPORTED: u8 = 16;
    /// `ExHostNotFound`.
    pub const HOST_NOT_FOUND: u8 = 35;
    /// `ExDriverUnsupported`.
    pub const DRIVER_UNSUPPORTED: u8 = 56;
    /// `ExGuestError`.
    pub const GUEST_ERROR: u8 = 80;
    /// `ExGuestNotRunning`.
    pub const GUEST_NOT_RUNNING: u8 = 83;
    /// `ExGuestNotFound`.
    pub const GUEST_NOT_FOUND: u8 = 85;
}

/// Why a minikube command failed; [`MinikubeError::render`] prints it as minikube would.
#[derive(Debug, thiserror::Error)]
pub enum MinikubeError {
    /// cobra/pflag rejected the command line.
    #[error("{message}")]
    Flags {
        /// pflag's message.
        message: String,
        /// The command path (`minikube start`).
        command: String,
    },
    /// No such command (cobra's "unknown command").
    #[error("unknown command {name:?} for {parent:?}")]
    UnknownCommand {
        /// What was typed.
        name: String,
        /// The parent command path.
        parent: String,
        /// cobra's "Did you mean this?" suggestions.
        suggestions: Vec<String>,
    },
    /// `exit.Message`/`exit.Error`: `❌  Exiting due to <ID>: <message>`.
    #[error("Exiting due to {id}: {message}")]
    Exit {
        /// The reason ID (`MK_USAGE`, `GUEST_NODE_RETRIEVE`, …).
        id: &'static str,
        /// Exit code.
        code: u8,
        /// The message.
        message: String,
        /// Whether the "please let us know" box follows (`exit.Error` without a known issue).
        issue_box: bool,
    },
    /// `mustload`: the profile does not exist.
    #[error("Profile {0:?} not found")]
    ProfileNotFound(String),
    /// `mustload.Running`: the primary control-plane node is not running.
    #[error("The control-plane node {machine} host is not running: state={state}")]
    ControlPlaneNotRunning {
        /// The profile.
        profile: String,
        /// The primary's machine name.
        machine: String,
        /// Its state.
        state: String,
    },
    /// `minikube ssh`: the remote command failed (the real status is not passed on).
    #[error("Process exited with status {0}")]
    RemoteExit(String),
    /// `minikube ssh` to a stopped node.
    #[error("{0:?} is not running")]
    SshNotRunning(String),
    /// Exit with a code after output that has already been printed (`minikube status`).
    #[error("exit status {0}")]
    Silent(u8),
}

impl MinikubeError {
    /// `exit.Message`: no issue box.
    pub fn message(id: &'static str, code: u8, message: impl Into<String>) -> MinikubeError {
        MinikubeError::Exit {
            id,
            code,
            message: message.into(),
            issue_box: false,
        }
    }

    /// `exit.Error`: with the issue box.
    pub fn error(id: &'static str, code: u8, message: impl Into<String>) -> MinikubeError {
        MinikubeError::Exit {
            id,
            code,
            message: message.into(),
            issue_box: true,
        }
    }

    /// `MK_USAGE`, exit 14.
    pub fn usage(message: impl Into<String>) -> MinikubeError {
        MinikubeError::message("MK_USAGE", exit::USAGE, message)
    }

    /// Something labsim does not emulate: `MK_UNIMPLEMENTED`, exit 16.
    pub fn unimplemented(message: impl Into<String>) -> MinikubeError {
        MinikubeError::message("MK_UNIMPLEMENTED", exit::UNSUPPORTED, message)
    }

    fn profile_arg(profile: &str) -> String {
        if profile == DEFAULT_PROFILE {
            String::new()
        } else {
            format!(" -p {profile}")
        }
    }

    /// Prints the error as minikube does and returns the exit code.
    pub fn render(&self, console: &Console, command: &str, log_file: Option<&str>) -> u8 {
        match self {
            MinikubeError::Flags { message, command } => {
                console.err(&format!(
                    "Error: {message}\nSee '{command} --help' for usage.\n"
                ));
                exit::USAGE
            }
            MinikubeError::UnknownCommand {
                name,
                parent,
                suggestions,
            } => {
                let mut msg = format!("Error: unknown command {name:?} for {parent:?}\n");
                if !suggestions.is_empty() {
                    msg.push_str("\nDid you mean this?\n");
                    for s in suggestions {
                        msg.push_str(&format!("\t{s}\n"));
                    }
                    msg.push('\n');
                }
                msg.push_str(&format!("Run '{parent} --help' for usage.\n"));
                console.err(&msg);
                exit::USAGE
            }
            MinikubeError::Exit {
                id,
                code,
                message,
                issue_box,
            } => {
                console.out("\n");
                console.err_step(Style::Failure, &format!("Exiting due to {id}: {message}"));
                if *issue_box {
                    console.err("\n");
                    console.err(&out::issue_box(command, log_file));
                }
                console.out("\n");
                *code
            }
            MinikubeError::ProfileNotFound(p) => {
                console.step(
                    Style::Shrug,
                    &format!(
                        "Profile \"{p}\" not found. Run \"minikube profile list\" to view all profiles."
                    ),
                );
                console.step(
                    Style::Pointer,
                    &format!(
                        "To start a cluster, run: \"minikube start{}\"",
                        Self::profile_arg(p)
                    ),
                );
                exit::GUEST_NOT_FOUND
            }
            MinikubeError::ControlPlaneNotRunning {
                profile,
                machine,
                state,
            } => {
                console.step(
                    Style::Shrug,
                    &format!("The control-plane node {machine} host is not running: state={state}"),
                );
                console.step(
                    Style::Pointer,
                    &format!(
                        "To start a cluster, run: \"minikube start{}\"",
                        Self::profile_arg(profile)
                    ),
                );
                exit::GUEST_NOT_RUNNING
            }
            MinikubeError::RemoteExit(status) => {
                console.err(&format!("ssh: Process exited with status {status}\n"));
                exit::FAILURE
            }
            MinikubeError::SshNotRunning(machine) => {
                console.err(&format!("ssh: \"{machine}\" is not running\n"));
                exit::FAILURE
            }
            MinikubeError::Silent(code) => *code,
        }
    }
}

/// Flags every command accepts (minikube's persistent flags and klog's).
pub const GLOBAL_FLAGS: &[Spec] = &[
    spec("profile", Some('p'), Kind::Str),
    spec("alsologtostderr", None, Kind::Bool),
    spec("logtostderr", None, Kind::Bool),
    spec("v", Some('v'), Kind::Int),
    spec("log_dir", None, Kind::Str),
    spec("log_file", None, Kind::Str),
    spec("user", None, Kind::Str),
    spec("skip-audit", None, Kind::Bool),
    spec("rootless", None, Kind::Bool),
    spec("bootstrapper", Some('b'), Kind::Str),
    spec("help", Some('h'), Kind::Bool),
];

/// The commands labsim's minikube has, and real minikube commands it does not emulate.
const COMMANDS: &[&str] = &[
    "start", "stop", "delete", "node", "ssh", "ip", "cp", "profile", "status", "version",
];
const NOT_EMULATED: &[&str] = &[
    "addons",
    "config",
    "dashboard",
    "docker-env",
    "podman-env",
    "cache",
    "image",
    "kubectl",
    "logs",
    "mount",
    "pause",
    "unpause",
    "service",
    "tunnel",
    "update-context",
    "update-check",
    "completion",
    "options",
    "license",
    "ssh-key",
    "ssh-host",
    "license",
];

/// cobra's suggestions: commands at Levenshtein distance ≤ 2 or having the typed word as prefix
/// (`command.go SuggestionsFor`).
pub fn suggestions(typed: &str, commands: &[&str]) -> Vec<String> {
    fn lev(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.to_lowercase().chars().collect();
        let b: Vec<char> = b.to_lowercase().chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let cost = usize::from(ca != cb);
                cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    commands
        .iter()
        .filter(|c| lev(typed, c) <= 2 || c.starts_with(&typed.to_lowercase()))
        .map(|c| c.to_string())
        .collect()
}

/// Finds the command words (`node`, `stop`) among `args`, skipping global flags and their values
/// as cobra's `Find` does, and returns them with the remaining arguments.
fn split_command(args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut words: Vec<String> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    let mut i = 0;
    let mut want = 2; // at most "node stop" / "profile list"
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            rest.extend(args[i..].iter().cloned());
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            rest.push(a.clone());
            let takes_value = |name: &str| {
                GLOBAL_FLAGS
                    .iter()
                    .any(|s| s.long == name && s.kind != Kind::Bool)
            };
            let needs_next = if let Some(long) = a.strip_prefix("--") {
                !long.contains('=') && takes_value(long)
            } else {
                a.len() == 2
                    && GLOBAL_FLAGS
                        .iter()
                        .any(|s| s.short == a.chars().nth(1) && s.kind != Kind::Bool)
            };
            if needs_next && i + 1 < args.len() {
                rest.push(args[i + 1].clone());
                i += 1;
            }
        } else if want > 0 && (words.is_empty() || matches!(words[0].as_str(), "node" | "profile"))
        {
            words.push(a.clone());
            want -= 1;
            if words.len() == 1 && !matches!(a.as_str(), "node" | "profile") {
                want = 0;
            }
        } else {
            rest.push(a.clone());
        }
        i += 1;
    }
    (words, rest)
}

/// The log file named in error boxes: `$LABSIM_HOME/logs/minikube_<cmd>_<sha1 of args>_0.log`
/// (minikube writes `$TMPDIR/minikube_<cmd>_<sha1>_0.log`).
fn write_log(
    home: Option<&Home>,
    command: &str,
    args: &[String],
    err: &MinikubeError,
) -> Option<String> {
    let home = home?;
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        args.join(" ").as_bytes(),
    );
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let dir = home.logs_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!(
        "minikube_{}_{hex}_0.log",
        command.replace(' ', "_")
    ));
    let text = format!(
        "Log file created at: {}\nCommand: minikube {}\nError: {err}\n",
        jiff::Timestamp::now(),
        args.join(" ")
    );
    std::fs::write(&path, text).ok()?;
    Some(path.display().to_string())
}

/// Entry point: `minikube ARGS` (or `labsim minikube ARGS`).
pub fn main(args: Vec<String>) -> ExitCode {
    let console = Console;
    let (words, rest) = split_command(&args);
    let command = words.join(" ");
    let home = Home::from_env();
    let result = match &home {
        Ok(h) => commands::run(&console, h, &words, &rest),
        Err(e) => Err(MinikubeError::error(
            "HOST_HOME_PERMISSION",
            37,
            e.to_string(),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let log = match &e {
                MinikubeError::Exit {
                    issue_box: true, ..
                } => write_log(home.as_ref().ok(), &command, &args, &e),
                _ => None,
            };
            let first = words.first().map(String::as_str).unwrap_or("");
            ExitCode::from(e.render(&console, first, log.as_deref()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_words_are_found_among_flags() {
        let (w, r) = split_command(&v(&["-p", "demo", "node", "stop", "demo-m02"]));
        assert_eq!(w, v(&["node", "stop"]));
        assert_eq!(r, v(&["-p", "demo", "demo-m02"]));
        let (w, r) = split_command(&v(&["ssh", "-n", "m02", "--", "echo", "node"]));
        assert_eq!(w, v(&["ssh"]));
        assert_eq!(r, v(&["-n", "m02", "--", "echo", "node"]));
        let (w, r) = split_command(&v(&["--profile=demo", "node", "list"]));
        assert_eq!(w, v(&["node", "list"]));
        assert_eq!(r, v(&["--profile=demo"]));
        let (w, _) = split_command(&v(&["ssh", "cat", "/x"]));
        assert_eq!(w, v(&["ssh"]));
    }

    #[test]
    fn suggestions_like_cobra() {
        assert_eq!(suggestions("strat", COMMANDS), v(&["start"]));
        assert_eq!(suggestions("nod", COMMANDS), v(&["node"]));
        assert!(suggestions("frobnicate", COMMANDS).is_empty());
    }
}
