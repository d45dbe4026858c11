//! What real minikube's command line accepts, so that every invocation the harness makes can be
//! checked against it (labsim answers the same CLI and might be more lenient than minikube).
//!
//! Sources: minikube's generated command reference, `site/content/en/docs/commands/*.md`
//! (v1.34–v1.38: `ssh.md`, `ip.md`, `cp.md`, `node.md`, `delete.md`, `start.md`), and the flag
//! definitions they are generated from: `cmd/minikube/cmd/root.go` (persistent flags, plus klog's
//! flags that minikube adds to the same set), `cmd/minikube/cmd/start_flags.go`, `ssh.go`,
//! `ip.go`, `delete.go`, `node_*.go`. minikube parses with cobra/pflag: long flags `--name` or
//! `--name=value`, shorthands `-n value`, `-nvalue` or `-n=value`, flags anywhere among the
//! arguments, everything after `--` positional. A command minikube does not know, or a flag it
//! does not define for that command, makes it print `Error: unknown flag: --x` and exit 14 (the
//! harness would then fail on real minikube only).

use std::fmt;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A boolean: `--flag`, `--flag=true|false` (never a separate value).
    Bool,
    /// Takes a value: `--flag value` or `--flag=value`.
    Value,
}

/// One flag: long name, optional shorthand, kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// Long name without `--`.
    pub long: &'static str,
    /// Shorthand letter, if any.
    pub short: Option<char>,
    /// Bool or value.
    pub kind: Kind,
}

const fn b(long: &'static str) -> Flag {
    Flag {
        long,
        short: None,
        kind: Kind::Bool,
    }
}

const fn val(long: &'static str) -> Flag {
    Flag {
        long,
        short: None,
        kind: Kind::Value,
    }
}

const fn short(mut flag: Flag, c: char) -> Flag {
    flag.short = Some(c);
    flag
}

/// Flags every minikube command takes ("Options inherited from parent commands").
pub const GLOBAL: &[Flag] = &[
    b("add_dir_header"),
    b("alsologtostderr"),
    val("alsologtostderrthreshold"),
    short(val("bootstrapper"), 'b'),
    short(b("help"), 'h'),
    b("legacy_stderr_threshold_behavior"),
    val("log_backtrace_at"),
    val("log_dir"),
    val("log_file"),
    val("log_file_max_size"),
    b("logtostderr"),
    b("one_output"),
    short(val("profile"), 'p'),
    b("rootless"),
    b("skip-audit"),
    b("skip_headers"),
    b("skip_log_headers"),
    val("stderrthreshold"),
    val("user"),
    short(val("v"), 'v'),
    val("vmodule"),
];

/// `minikube start`'s own flags (`start.md`, `start_flags.go`).
pub const START: &[Flag] = &[
    val("addons"),
    val("apiserver-ips"),
    val("apiserver-name"),
    val("apiserver-names"),
    val("apiserver-port"),
    val("auto-pause-interval"),
    b("auto-update-drivers"),
    val("base-image"),
    val("binary-mirror"),
    b("cache-images"),
    val("cert-expiration"),
    val("cni"),
    short(val("container-runtime"), 'c'),
    val("cpus"),
    val("cri-socket"),
    b("delete-on-failure"),
    b("disable-driver-mounts"),
    b("disable-metrics"),
    b("disable-optimizations"),
    val("disk-size"),
    val("dns-domain"),
    b("dns-proxy"),
    val("docker-env"),
    val("docker-opt"),
    b("download-only"),
    short(val("driver"), 'd'),
    b("dry-run"),
    b("embed-certs"),
    b("enable-default-cni"),
    val("extra-config"),
    val("extra-disks"),
    val("feature-gates"),
    b("force"),
    b("force-systemd"),
    short(val("gpus"), 'g'),
    b("ha"),
    b("host-dns-resolver"),
    val("host-only-cidr"),
    val("host-only-nic-type"),
    val("hyperkit-vpnkit-sock"),
    val("hyperkit-vsock-ports"),
    val("hyperv-external-adapter"),
    b("hyperv-use-external-switch"),
    val("hyperv-virtual-switch"),
    val("image-mirror-country"),
    val("image-repository"),
    val("insecure-registry"),
    b("install-addons"),
    b("interactive"),
    val("iso-url"),
    b("keep-context"),
    val("kubernetes-version"),
    b("kvm-gpu"),
    b("kvm-hidden"),
    val("kvm-network"),
    val("kvm-numa-count"),
    val("kvm-qemu-uri"),
    val("listen-address"),
    val("memory"),
    b("mount"),
    val("mount-9p-version"),
    val("mount-gid"),
    val("mount-ip"),
    val("mount-msize"),
    val("mount-options"),
    val("mount-port"),
    val("mount-string"),
    val("mount-type"),
    val("mount-uid"),
    val("namespace"),
    val("nat-nic-type"),
    b("native-ssh"),
    val("network"),
    val("network-plugin"),
    val("nfs-share"),
    val("nfs-shares-root"),
    b("no-kubernetes"),
    b("no-vtx-check"),
    short(val("nodes"), 'n'),
    short(val("output"), 'o'),
    val("ports"),
    b("preload"),
    val("qemu-firmware-path"),
    val("registry-mirror"),
    val("service-cluster-ip-range"),
    val("socket-vmnet-client-path"),
    val("socket-vmnet-path"),
    val("ssh-ip-address"),
    val("ssh-key"),
    val("ssh-port"),
    val("ssh-user"),
    val("static-ip"),
    val("subnet"),
    val("trace"),
    val("uuid"),
    b("vm"),
    val("vm-driver"),
    val("wait"),
    val("wait-timeout"),
];

/// How many positional arguments a command takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Args {
    /// None.
    None,
    /// Exactly this many.
    Exactly(usize),
    /// A command for the node after `--` (ssh); nothing positional before it.
    RemoteCommand,
}

/// One minikube (sub)command the harness may call.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The command words (`["node", "stop"]`).
    pub words: &'static [&'static str],
    /// Its own flags (on top of [`GLOBAL`]).
    pub flags: &'static [Flag],
    /// Its positional arguments.
    pub args: Args,
}

/// The commands the harness uses, with their own flags.
pub const COMMANDS: &[Spec] = &[
    Spec {
        words: &["start"],
        flags: START,
        args: Args::None,
    },
    Spec {
        words: &["node", "list"],
        flags: &[],
        args: Args::None,
    },
    Spec {
        words: &["node", "start"],
        flags: &[b("delete-on-failure")],
        args: Args::Exactly(1),
    },
    Spec {
        words: &["node", "stop"],
        flags: &[],
        args: Args::Exactly(1),
    },
    Spec {
        words: &["ssh"],
        flags: &[b("native-ssh"), short(val("node"), 'n')],
        args: Args::RemoteCommand,
    },
    Spec {
        words: &["ip"],
        flags: &[short(val("node"), 'n')],
        args: Args::None,
    },
    Spec {
        words: &["cp"],
        flags: &[],
        args: Args::Exactly(2),
    },
    Spec {
        words: &["delete"],
        flags: &[b("all"), b("purge"), short(val("output"), 'o')],
        args: Args::None,
    },
];

/// An invocation real minikube would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliViolation {
    /// No (known) command.
    #[error("`minikube {0}` is not a command the harness knows real minikube to have")]
    UnknownCommand(String),
    /// A flag the command does not define.
    #[error("`minikube {command}` has no flag {flag} (real minikube exits 14: unknown flag)")]
    UnknownFlag {
        /// The command words.
        command: String,
        /// The flag as written.
        flag: String,
    },
    /// A value flag without its value.
    #[error("`minikube {command}`: flag {flag} needs a value")]
    MissingValue {
        /// The command words.
        command: String,
        /// The flag.
        flag: String,
    },
    /// A value given to a boolean flag (`--flag=maybe`).
    #[error(
        "`minikube {command}`: flag {flag} is a boolean and takes true or false, not {value:?}"
    )]
    NotABool {
        /// The command words.
        command: String,
        /// The flag.
        flag: String,
        /// The value.
        value: String,
    },
    /// Wrong number of positional arguments.
    #[error("`minikube {command}` takes {expected}, got {got:?}")]
    Arguments {
        /// The command words.
        command: String,
        /// What it takes.
        expected: String,
        /// What it got.
        got: Vec<String>,
    },
    /// A combination minikube refuses.
    #[error("`minikube {command}`: {problem}")]
    Refused {
        /// The command words.
        command: String,
        /// minikube's reason.
        problem: String,
    },
}

/// A checked invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The command words.
    pub command: Vec<String>,
    /// Flags by long name, with their values (`true` for booleans given bare).
    pub flags: Vec<(String, String)>,
    /// Positional arguments (for ssh: the remote command).
    pub args: Vec<String>,
}

impl Invocation {
    /// The value of flag `long`, if given (the last one wins, as in pflag).
    #[must_use]
    pub fn flag(&self, long: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(name, _)| name == long)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "minikube {}", self.command.join(" "))
    }
}

/// Checks `args` (what follows the `minikube` binary) against real minikube's command line.
///
/// # Errors
/// The first [`CliViolation`].
pub fn check(args: &[String]) -> Result<Invocation, CliViolation> {
    // Command words are the leading arguments that are not flags (cobra finds subcommands
    // before parsing flags; global flags may come first, so skip them with their values).
    let (spec, positions) = find_command(args)?;
    let command = spec.words.join(" ");
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut remote = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if positions.contains(&i) {
            i += 1;
            continue;
        }
        if a == "--" {
            remote = Some(args[i + 1..].to_vec());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let flag =
                lookup(spec, |f| f.long == name).ok_or_else(|| CliViolation::UnknownFlag {
                    command: command.clone(),
                    flag: format!("--{name}"),
                })?;
            let value = take_value(&command, flag, &format!("--{name}"), inline, args, &mut i)?;
            flags.push((flag.long.to_string(), value));
        } else if let Some(body) = a.strip_prefix('-').filter(|b| !b.is_empty()) {
            let mut chars = body.chars();
            let c = chars.next().expect("non-empty");
            let rest: String = chars.collect();
            let flag =
                lookup(spec, |f| f.short == Some(c)).ok_or_else(|| CliViolation::UnknownFlag {
                    command: command.clone(),
                    flag: format!("-{c}"),
                })?;
            let inline = if rest.is_empty() {
                None
            } else {
                Some(rest.strip_prefix('=').unwrap_or(&rest).to_string())
            };
            let value = take_value(&command, flag, &format!("-{c}"), inline, args, &mut i)?;
            flags.push((flag.long.to_string(), value));
        } else {
            positional.push(a.clone());
        }
        i += 1;
    }
    let invocation = match spec.args {
        Args::None | Args::Exactly(_) => {
            let wanted = match spec.args {
                Args::Exactly(n) => n,
                _ => 0,
            };
            let mut all = positional;
            all.extend(remote.unwrap_or_default());
            if all.len() != wanted {
                return Err(CliViolation::Arguments {
                    command,
                    expected: match wanted {
                        0 => "no arguments".to_string(),
                        1 => "one argument".to_string(),
                        n => format!("{n} arguments"),
                    },
                    got: all,
                });
            }
            Invocation {
                command: spec.words.iter().map(ToString::to_string).collect(),
                flags,
                args: all,
            }
        }
        Args::RemoteCommand => {
            // minikube ssh joins positional arguments (before or after `--`) into the remote
            // command; the harness always passes exactly one, after `--`.
            let mut all = positional;
            all.extend(remote.unwrap_or_default());
            Invocation {
                command: spec.words.iter().map(ToString::to_string).collect(),
                flags,
                args: all,
            }
        }
    };
    semantic_checks(&invocation)?;
    Ok(invocation)
}

fn lookup(spec: &Spec, pred: impl Fn(&Flag) -> bool) -> Option<&'static Flag> {
    spec.flags.iter().chain(GLOBAL).find(|f| pred(f))
}

fn take_value(
    command: &str,
    flag: &Flag,
    shown: &str,
    inline: Option<String>,
    args: &[String],
    i: &mut usize,
) -> Result<String, CliViolation> {
    match (flag.kind, inline) {
        (Kind::Bool, None) => Ok("true".into()),
        (Kind::Bool, Some(v)) => match v.as_str() {
            "true" | "false" | "1" | "0" | "t" | "f" | "TRUE" | "FALSE" | "True" | "False" => Ok(v),
            _ => Err(CliViolation::NotABool {
                command: command.into(),
                flag: shown.into(),
                value: v,
            }),
        },
        (Kind::Value, Some(v)) => Ok(v),
        (Kind::Value, None) => {
            let next = args.get(*i + 1).filter(|n| *n != "--");
            match next {
                Some(v) => {
                    *i += 1;
                    Ok(v.clone())
                }
                None => Err(CliViolation::MissingValue {
                    command: command.into(),
                    flag: shown.into(),
                }),
            }
        }
    }
}

/// Finds the command: its words in order among the arguments, skipping global flags (and their
/// values) placed before them. Returns the spec and the positions of its words.
fn find_command(args: &[String]) -> Result<(&'static Spec, Vec<usize>), CliViolation> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() && words.len() < 2 {
        let a = &args[i];
        if a == "--" {
            break;
        }
        if a.starts_with('-') {
            // A global flag before the command: skip its value too.
            let takes_value = if let Some(body) = a.strip_prefix("--") {
                !body.contains('=')
                    && GLOBAL
                        .iter()
                        .any(|f| f.long == body && f.kind == Kind::Value)
            } else {
                a.len() == 2
                    && GLOBAL
                        .iter()
                        .any(|f| f.short == a.chars().nth(1) && f.kind == Kind::Value)
            };
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        words.push(i);
        i += 1;
    }
    let candidates: Vec<&'static Spec> = COMMANDS
        .iter()
        .filter(|s| {
            s.words.iter().zip(&words).all(|(w, &at)| *w == args[at])
                && s.words.len() <= words.len()
        })
        .collect();
    // The longest match (`node stop` over a hypothetical `node`).
    let spec = candidates
        .into_iter()
        .max_by_key(|s| s.words.len())
        .ok_or_else(|| {
            CliViolation::UnknownCommand(
                words
                    .iter()
                    .map(|&at| args[at].as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })?;
    Ok((spec, words[..spec.words.len()].to_vec()))
}

/// Combinations real minikube refuses although each flag exists.
fn semantic_checks(inv: &Invocation) -> Result<(), CliViolation> {
    let command = inv.command.join(" ");
    if command == "start"
        && is_true(inv.flag("no-kubernetes"))
        && inv.flag("kubernetes-version").is_some()
    {
        // cmd/minikube/cmd/start.go getKubernetesVersion: exit.Message(reason.Usage,
        // "cannot specify --kubernetes-version with --no-kubernetes, ...").
        return Err(CliViolation::Refused {
            command,
            problem: "cannot specify --kubernetes-version with --no-kubernetes".into(),
        });
    }
    if command == "ssh" && inv.args.is_empty() {
        // Without a command minikube opens an interactive shell, which the harness never wants
        // (it would wait for a terminal).
        return Err(CliViolation::Arguments {
            command,
            expected: "a command after `--`".into(),
            got: Vec::new(),
        });
    }
    if let Some(n) = inv.flag("nodes")
        && n.parse::<u32>().map_or(true, |n| n == 0)
    {
        return Err(CliViolation::Refused {
            command,
            problem: format!("--nodes must be a positive number, not {n:?}"),
        });
    }
    Ok(())
}

fn is_true(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1" | "t" | "TRUE" | "True"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(line: &[&str]) -> Result<Invocation, CliViolation> {
        check(&line.iter().map(ToString::to_string).collect::<Vec<_>>())
    }

    #[test]
    fn the_course_s_commands_are_accepted() {
        for line in [
            &[
                "start",
                "--no-kubernetes",
                "--container-runtime=containerd",
                "--driver=docker",
                "--nodes",
                "3",
            ][..],
            &["node", "list"],
            &["ssh", "--node", "minikube"],
            &[
                "ssh",
                "-n",
                "minikube-m02",
                "--",
                "sudo bash master.sh auto",
            ],
            &["ssh", "--node", "minikube", "cat", "$HOME/.kube/config"],
            &["node", "stop", "minikube-m02"],
            &["node", "start", "m02"],
            &["ip", "-n", "minikube-m03"],
            &["delete", "-p", "demo"],
            &["-p", "demo", "node", "list"],
            &["--profile=demo", "ip"],
            &[
                "cp",
                "./a.txt",
                "minikube-m02:/home/docker/a.txt",
                "-p",
                "x",
            ],
        ] {
            if line == ["ssh", "--node", "minikube"] {
                // Interactive: valid for a person, refused for the harness.
                assert!(c(line).is_err());
                continue;
            }
            c(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        }
    }

    #[test]
    fn values_are_read_as_pflag_reads_them() {
        let inv = c(&[
            "start",
            "-p",
            "demo",
            "-n3",
            "-c=containerd",
            "--driver",
            "docker",
        ])
        .unwrap();
        assert_eq!(inv.flag("profile"), Some("demo"));
        assert_eq!(inv.flag("nodes"), Some("3"));
        assert_eq!(inv.flag("container-runtime"), Some("containerd"));
        assert_eq!(inv.flag("driver"), Some("docker"));
        let ssh = c(&[
            "ssh",
            "-p",
            "demo",
            "-n",
            "demo-m02",
            "--",
            "bash -c 'exit 3' -n x",
        ])
        .unwrap();
        assert_eq!(ssh.args, ["bash -c 'exit 3' -n x"]);
        assert_eq!(ssh.flag("node"), Some("demo-m02"));
    }

    #[test]
    fn what_real_minikube_refuses_is_refused() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["start", "--no-kubernetes", "--kubernetes-version=v1.33.0"],
                "cannot specify --kubernetes-version with --no-kubernetes",
            ),
            (&["start", "--nodes"], "flag --nodes needs a value"),
            (
                &["start", "--nodes", "0"],
                "--nodes must be a positive number",
            ),
            (
                &["start", "--k8s-version", "1.33"],
                "has no flag --k8s-version",
            ),
            (&["ssh", "--node=m02", "--wait", "1"], "has no flag --wait"),
            (&["ip", "--nodes", "m02"], "has no flag --nodes"),
            (&["node", "stop"], "takes one argument, got []"),
            (&["node", "stop", "a", "b"], "takes one argument"),
            (&["node", "list", "extra"], "takes no arguments"),
            (&["delete", "--purge=maybe"], "is a boolean"),
            (&["ssh", "-n", "m02"], "takes a command after `--`"),
            (&["nodes", "list"], "is not a command"),
            (&["node", "remove", "m02"], "is not a command"),
            (&["delete", "-x"], "has no flag -x"),
        ];
        for (line, expected) in cases {
            let err = c(line).unwrap_err().to_string();
            assert!(err.contains(expected), "{line:?}: {err}");
        }
    }

    #[test]
    fn every_shorthand_is_unique_per_command() {
        for spec in COMMANDS {
            let mut seen = std::collections::BTreeMap::new();
            for f in spec.flags.iter().chain(GLOBAL) {
                if let Some(s) = f.short {
                    assert!(
                        seen.insert(s, f.long).is_none(),
                        "{:?}: -{s} twice",
                        spec.words
                    );
                }
                assert_eq!(
                    spec.flags
                        .iter()
                        .chain(GLOBAL)
                        .filter(|g| g.long == f.long)
                        .count(),
                    1,
                    "{:?}: --{} twice",
                    spec.words,
                    f.long
                );
            }
        }
    }
}
