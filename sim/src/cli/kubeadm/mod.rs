//! labsim's `kubeadm`: `version`, `init`, `join`, `token create|list|generate|delete`, `reset`,
//! with kubeadm's syntax, phases, files, cluster objects and texts for the node's Kubernetes
//! version (CLI-REFERENCE.md §2; upstream: cmd/kubeadm/app/cmd/). It works inside a labsim node
//! (its version and IP come from `/etc/labsim/node.json`), talks to the node's systemd through the
//! agent socket, and to the API server with labsim's client.
//!
//! Module map: [`config`] (the config file), [`preflight`] (checks), [`manifests`] (static Pods,
//! kubelet files), [`addons`] (cluster objects), [`token`] (bootstrap tokens), [`discovery`]
//! (join's cluster-info validation), [`init`] and [`join`] (the workflows), [`yaml`] (kubeadm's
//! YAML rendering), [`duration`] (Go durations).

pub mod addons;
pub mod config;
pub mod discovery;
pub mod init;
pub mod join;
pub mod manifests;
pub mod preflight;
pub mod token;
pub mod yaml;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::node::NodeInfo;
use crate::version::Minor;

/// Why a kubeadm command failed: kubeadm's message and exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// A command-line or configuration error (printed as is).
    #[error("{0}")]
    Plain(String),
    /// A phase failed: `error execution phase <phase>: <msg>`.
    #[error("error execution phase {phase}: {message}")]
    Phase {
        /// The phase (`preflight`, `wait-control-plane`, …).
        phase: String,
        /// The cause.
        message: String,
    },
    /// Preflight errors (the block of `[ERROR …]` lines).
    #[error("preflight checks failed")]
    Preflight {
        /// The `\t[ERROR Name]: msg` lines.
        errors: Vec<String>,
    },
}

impl Failure {
    /// A phase failure.
    pub fn phase(phase: &str, message: impl Into<String>) -> Failure {
        Failure::Phase {
            phase: phase.into(),
            message: message.into(),
        }
    }
}

/// Prints a failure as kubeadm does for `minor` (cmd/kubeadm/app/util/errors: `error: ` prefix
/// from 1.34; preflight blocks formatted per version) and returns the exit code (1).
pub fn report_failure(err: &mut dyn Write, minor: Minor, f: &Failure) -> u8 {
    let prefix = if minor.kubeadm_error_prefix() {
        "error: "
    } else {
        ""
    };
    let hint = "[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`";
    let _ = match f {
        Failure::Preflight { errors } if minor.kubeadm_error_prefix() => writeln!(
            err,
            "[preflight] Some fatal errors occurred:\n{}\n{hint}\n{prefix}error execution phase preflight: preflight checks failed",
            errors.join("\n")
        ),
        Failure::Preflight { errors } => writeln!(
            err,
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n{}\n{hint}",
            errors.join("\n")
        ),
        other => writeln!(err, "{prefix}{other}"),
    };
    let _ = writeln!(
        err,
        "To see the stack trace of this error execute with --v=5 or higher"
    );
    1
}

/// A klog line as kubeadm's warnings print them: `W0123 10:00:00.123456   12345 file.go:N] msg`.
pub fn klog(level: char, file_line: &str, msg: &str) -> String {
    let now = jiff::Zoned::now();
    format!(
        "{level}{} {:>7} {file_line}] {msg}",
        now.strftime("%m%d %H:%M:%S.%6f"),
        std::process::id()
    )
}

/// Parsed command line: positional words and `--flag[=value]`s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// Positional arguments.
    pub positional: Vec<String>,
    /// Flags in order (name without dashes, value).
    pub flags: Vec<(String, String)>,
}

impl Args {
    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.flags
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    /// Whether a boolean flag is set (`--x` or `--x=true`).
    pub fn bool(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true"))
    }
}

/// Parses a kubeadm command line with pflag's rules ([`crate::gocli`], names normalised as
/// kubeadm's `Run` does with `cliflag.WordSepNormalizeFunc`): `value_flags` take `--f=v` or
/// `--f v` and may repeat, `bool_flags` are booleans; klog's `-v`/`--v` and `--help` always exist,
/// and the shorthands kubeadm has (`-f` for `--force`, `-o` for `--output`) where their flag does.
///
/// # Errors
/// cobra's and pflag's texts (`unknown flag: --x`, `flag needs an argument: --x`, …).
pub fn parse_args(
    args: &[String],
    value_flags: &[&'static str],
    bool_flags: &[&'static str],
) -> Result<Args, String> {
    use crate::gocli::{FlagDef, Kind, Pflag};
    let short = |name: &str| match name {
        "force" => Some('f'),
        "output" => Some('o'),
        _ => None,
    };
    let mut defs: Vec<FlagDef> = vec![crate::gocli::KLOG_V, crate::gocli::bool_flag("help")];
    for (names, kind) in [(value_flags, Kind::List), (bool_flags, Kind::Bool)] {
        for n in names.iter().filter(|n| **n != "v" && **n != "help") {
            defs.push(FlagDef {
                name: n,
                short: short(n),
                kind,
                default: "",
                usage: "",
            });
        }
    }
    let parsed = Pflag::KUBERNETES
        .parse(&defs, args)
        .map_err(|e| e.to_string())?;
    let flags = crate::gocli::Flags::from_parsed(&parsed, &defs);
    let mut out = Args {
        positional: parsed.args.clone(),
        flags: vec![],
    };
    for (name, values) in parsed.given() {
        if bool_flags.contains(&name) || name == "help" {
            out.flags.push((
                name.to_string(),
                flags.get(name).unwrap_or("true").to_string(),
            ));
        } else {
            out.flags
                .extend(values.iter().map(|v| (name.to_string(), v.clone())));
        }
    }
    Ok(out)
}

/// Where kubeadm keeps its files (cmd/kubeadm/app/constants).
pub mod paths {
    /// `/etc/kubernetes`.
    pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
    /// `/etc/kubernetes/manifests`.
    pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
    /// `/etc/kubernetes/admin.conf`.
    pub const ADMIN_CONF: &str = "/etc/kubernetes/admin.conf";
    /// `/etc/kubernetes/super-admin.conf` (1.29+).
    pub const SUPER_ADMIN_CONF: &str = "/etc/kubernetes/super-admin.conf";
    /// `/etc/kubernetes/kubelet.conf`.
    pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
    /// `/etc/kubernetes/bootstrap-kubelet.conf`.
    pub const BOOTSTRAP_KUBELET_CONF: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
    /// `/etc/kubernetes/controller-manager.conf`.
    pub const CONTROLLER_MANAGER_CONF: &str = "/etc/kubernetes/controller-manager.conf";
    /// `/etc/kubernetes/scheduler.conf`.
    pub const SCHEDULER_CONF: &str = "/etc/kubernetes/scheduler.conf";
    /// `/var/lib/kubelet`.
    pub const KUBELET_DIR: &str = "/var/lib/kubelet";
    /// `/var/lib/kubelet/config.yaml`.
    pub const KUBELET_CONFIG: &str = "/var/lib/kubelet/config.yaml";
    /// `/var/lib/kubelet/kubeadm-flags.env`.
    pub const KUBEADM_FLAGS_ENV: &str = "/var/lib/kubelet/kubeadm-flags.env";
    /// The kubelet's rotated client certificate.
    pub const KUBELET_CLIENT_PEM: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";
    /// `/etc/kubernetes/pki` (the default certificatesDir, and join's CA path).
    pub const DEFAULT_PKI: &str = "/etc/kubernetes/pki";
}

/// What kubeadm knows about the node it runs on.
#[derive(Debug, Clone)]
pub struct Node {
    /// The node's identity (labsim's `/etc/labsim/node.json`).
    pub info: NodeInfo,
    /// The hostname.
    pub hostname: String,
}

impl Node {
    /// The current node.
    ///
    /// # Errors
    /// A message saying this is labsim's kubeadm and only works in a node.
    pub fn current() -> Result<Node, String> {
        let info = NodeInfo::current("kubeadm").map_err(|e| e.to_string())?;
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| info.node.clone());
        Ok(Node { info, hostname })
    }

    /// The Kubernetes version of the node's kubeadm.
    pub fn minor(&self) -> Minor {
        self.info.kubernetes_version
    }
}

/// Runs `kubeadm <args>`; returns the exit code.
pub fn main(args: &[String]) -> u8 {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    run(args, &mut out, &mut err)
}

fn usage() -> &'static str {
    "\n    ┌──────────────────────────────────────────────────────────┐\n    │ KUBEADM                                                  │\n    │ Easily bootstrap a secure Kubernetes cluster             │\n    └──────────────────────────────────────────────────────────┘\n\nUsage:\n  kubeadm [command]\n\nAvailable Commands:\n  init        Run this command in order to set up the Kubernetes control plane\n  join        Run this on any machine you wish to join an existing cluster\n  reset       Performs a best effort revert of changes made to this host by 'kubeadm init' or 'kubeadm join'\n  token       Manage bootstrap tokens\n  version     Print the version of kubeadm\n\nlabsim's kubeadm implements the commands above (see docs/labsim.md).\n"
}

/// The subcommands of real kubeadm (cmd/kubeadm/app/cmd/cmd.go), for cobra's suggestions.
const SUBCOMMANDS: &[&str] = &[
    "certs",
    "completion",
    "config",
    "help",
    "init",
    "join",
    "kubeconfig",
    "reset",
    "token",
    "upgrade",
    "version",
];

/// Flags of kubeadm's root command (its persistent flags: klog's `--v`, `--rootfs`, help).
const ROOT_VALUE_FLAGS: &[&str] = &["rootfs"];

/// Levenshtein distance, as cobra's `ld` (case-insensitive there too).
fn distance(a: &str, b: &str) -> usize {
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

/// cobra's `unknown command` error with its suggestions (command.go `findSuggestions`: names
/// within distance 2, or starting with the typed word).
pub fn unknown_command(typed: &str, path: &str, names: &[&str]) -> String {
    let suggestions: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| {
            *n != "help"
                && (distance(typed, n) <= 2 || n.to_lowercase().starts_with(&typed.to_lowercase()))
        })
        .collect();
    let mut msg = format!("unknown command {typed:?} for {path:?}");
    if !suggestions.is_empty() {
        msg.push_str("\n\nDid you mean this?\n");
        for s in suggestions {
            msg.push_str(&format!("\t{s}\n"));
        }
    }
    msg
}

/// Runs kubeadm with explicit output streams.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(cmd) = args.iter().find(|a| !a.starts_with('-')).cloned() else {
        // The root command alone: its own flags are parsed first (cobra), then it prints its
        // help. kubeadm silences cobra's errors and prints them through its CheckErr.
        if let Err(e) = parse_args(args, ROOT_VALUE_FLAGS, &[]) {
            let minor = Node::current().map(|n| n.minor()).unwrap_or_default();
            return report_failure(err, minor, &Failure::Plain(e));
        }
        let _ = write!(out, "{}", usage());
        return 0;
    };
    let rest: Vec<String> = {
        let pos = args.iter().position(|a| *a == cmd).expect("found");
        args[..pos]
            .iter()
            .chain(args[pos + 1..].iter())
            .cloned()
            .collect()
    };
    let node = match Node::current() {
        Ok(n) => n,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 1;
        }
    };
    let minor = node.minor();
    let result = match cmd.as_str() {
        "version" => init::version_cmd(&node, &rest, out),
        "init" => init::init_cmd(&node, &rest, out, err),
        "join" => join::join_cmd(&node, &rest, out, err),
        "token" => join::token_cmd(&node, &rest, out, err),
        "reset" => init::reset_cmd(&node, &rest, out, err),
        "config" | "upgrade" | "certs" | "kubeconfig" | "completion" | "alpha" => {
            Err(Failure::Plain(format!(
                "labsim's kubeadm does not implement \"kubeadm {cmd}\": only init, join, token, reset and version are available (docs/labsim.md)"
            )))
        }
        other => Err(Failure::Plain(unknown_command(
            other,
            "kubeadm",
            SUBCOMMANDS,
        ))),
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            let _ = out.flush();
            report_failure(err, minor, &f)
        }
    }
}

/// Writes a file, creating its directory (0755 dirs; `mode` for the file).
///
/// # Errors
/// A phase-ready message naming the path.
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| format!("failed to create directory {:?}: {e}", d))?;
    }
    crate::pki::write_file(path, data, mode).map_err(|e| e.to_string())
}

/// `p` under `root` (absolute paths of the node; `root` is `/` on a node).
pub fn under(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_parse_like_pflag() {
        let a = parse_args(
            &s(&[
                "--config",
                "c.yaml",
                "--ignore-preflight-errors=A,B",
                "--skip-token-print",
                "x",
            ]),
            &["config", "ignore-preflight-errors"],
            &["skip-token-print"],
        )
        .unwrap();
        assert_eq!(a.get("config"), Some("c.yaml"));
        assert_eq!(a.get("ignore-preflight-errors"), Some("A,B"));
        assert!(a.bool("skip-token-print"));
        assert_eq!(a.positional, ["x"]);
        assert_eq!(
            parse_args(&s(&["--nope"]), &[], &[]).unwrap_err(),
            "unknown flag: --nope"
        );
        assert_eq!(
            parse_args(&s(&["--config"]), &["config"], &[]).unwrap_err(),
            "flag needs an argument: --config"
        );
        let a = parse_args(&s(&["-o", "short", "-f"]), &["output"], &["force"]).unwrap();
        assert_eq!(a.get("output"), Some("short"));
        assert!(a.bool("force"));
    }

    #[test]
    fn unknown_commands_get_cobras_suggestions() {
        assert_eq!(
            unknown_command("int", "kubeadm", SUBCOMMANDS),
            "unknown command \"int\" for \"kubeadm\"\n\nDid you mean this?\n\tinit\n"
        );
        assert_eq!(
            unknown_command("frobnicate", "kubeadm", SUBCOMMANDS),
            "unknown command \"frobnicate\" for \"kubeadm\""
        );
        assert_eq!(
            unknown_command("ver", "kubeadm", SUBCOMMANDS),
            "unknown command \"ver\" for \"kubeadm\"\n\nDid you mean this?\n\tversion\n"
        );
    }

    #[test]
    fn failures_print_per_version() {
        let mut buf = vec![];
        report_failure(
            &mut buf,
            Minor::new(33).unwrap(),
            &Failure::Preflight {
                errors: vec!["\t[ERROR Mem]: low".into()],
            },
        );
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n\t[ERROR Mem]: low\n[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\nTo see the stack trace of this error execute with --v=5 or higher\n"
        );
        let mut buf = vec![];
        report_failure(
            &mut buf,
            Minor::new(34).unwrap(),
            &Failure::Preflight {
                errors: vec!["\t[ERROR Mem]: low".into()],
            },
        );
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "[preflight] Some fatal errors occurred:\n\t[ERROR Mem]: low\n[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\nerror: error execution phase preflight: preflight checks failed\nTo see the stack trace of this error execute with --v=5 or higher\n"
        );
        let mut buf = vec![];
        report_failure(
            &mut buf,
            Minor::new(35).unwrap(),
            &Failure::phase(
                "preflight",
                "couldn't validate the identity of the API Server: x",
            ),
        );
        assert!(
            String::from_utf8(buf)
                .unwrap()
                .starts_with("error: error execution phase preflight: couldn't validate")
        );
    }
}
