//! The etcd image: execs the real etcd (`$LABSIM_ETCD` or `/usr/bin/etcd`, Debian's 3.4 by default)
//! with the command line of kubeadm's static pod manifest, made acceptable to that binary:
//!
//! - flags the binary lists in its `--help` pass unchanged;
//! - etcd 3.6 names (kubeadm ≥ 1.34, cmd/kubeadm/app/phases/etcd/local.go `getEtcdCommand`) become
//!   the `--experimental-…` flags of 3.4/3.5 and back (`--watch-progress-notify-interval`,
//!   `--corrupt-check-time`, …), and `--feature-gates=InitialCorruptCheck=true,…` becomes the
//!   matching `--experimental-…=true` flags when the binary has no `--feature-gates`
//!   (etcd 3.6 `server/features`);
//! - flags the binary does not have and that have no equivalent are dropped, each with a
//!   `labsim:` line on stderr;
//! - listen URLs on 127.0.0.1 use the node IP instead (docs/labsim.md, "127.0.0.1 listeners"),
//!   without duplicates;
//! - with an etcd that still defaults to the capnslog logger (3.4), `--logger=zap` is added so
//!   the log is etcd 3.5's JSON;
//! - the plain-HTTP metrics URLs are served by [`super::etcd_metrics`] (etcd 3.5.11+'s `/livez`
//!   and `/readyz` on top of the real etcd's `/health` and `/metrics`), which gets them before
//!   etcd starts; etcd serves its metrics on a private port instead.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use super::contract::ContainerEnv;

/// 3.6 flag name → the 3.4/3.5 experimental name.
const RENAMED: &[(&str, &str)] = &[
    (
        "watch-progress-notify-interval",
        "experimental-watch-progress-notify-interval",
    ),
    ("corrupt-check-time", "experimental-corrupt-check-time"),
    (
        "compaction-batch-limit",
        "experimental-compaction-batch-limit",
    ),
    (
        "warning-apply-duration",
        "experimental-warning-apply-duration",
    ),
    (
        "peer-skip-client-san-verification",
        "experimental-peer-skip-client-san-verification",
    ),
    (
        "backend-bbolt-freelist-type",
        "experimental-backend-bbolt-freelist-type",
    ),
    (
        "compact-hash-check-time",
        "experimental-compact-hash-check-time",
    ),
    ("downgrade-check-time", "experimental-downgrade-check-time"),
    ("memory-mlock", "experimental-memory-mlock"),
    (
        "snapshot-catchup-entries",
        "experimental-snapshot-catchup-entries",
    ),
    ("max-learners", "experimental-max-learners"),
    (
        "compaction-sleep-interval",
        "experimental-compaction-sleep-interval",
    ),
    (
        "bootstrap-defrag-threshold-megabytes",
        "experimental-bootstrap-defrag-threshold-megabytes",
    ),
];

/// 3.6 feature gate → the 3.4/3.5 boolean flag.
const GATES: &[(&str, &str)] = &[
    ("InitialCorruptCheck", "experimental-initial-corrupt-check"),
    (
        "CompactHashCheck",
        "experimental-compact-hash-check-enabled",
    ),
    (
        "StopGRPCServiceOnDefrag",
        "experimental-stop-grpc-service-on-defrag",
    ),
    (
        "TxnModeWriteWithSharedBuffer",
        "experimental-txn-mode-write-with-shared-buffer",
    ),
    ("LeaseCheckpoint", "experimental-enable-lease-checkpoint"),
    (
        "LeaseCheckpointPersist",
        "experimental-enable-lease-checkpoint-persist",
    ),
    ("SetMemberLocalAddr", "experimental-set-member-localaddr"),
];

/// The flags an etcd binary lists in `--help`.
pub fn known_flags(help: &str) -> BTreeSet<String> {
    let mut known: BTreeSet<String> = ["help", "h", "version", "config-file"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    known.extend(
        help.lines()
            .filter_map(|l| l.trim_start().strip_prefix("--"))
            .map(|rest| {
                rest.split(|c: char| c.is_whitespace() || c == '=' || c == '\'')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .filter(|f| !f.is_empty()),
    );
    known
}

fn localhost_urls(value: &str, node_ip: Option<IpAddr>) -> (String, bool) {
    let Some(ip) = node_ip else {
        return (value.to_string(), false);
    };
    let mut changed = false;
    let mut out: Vec<String> = vec![];
    for u in value.split(',') {
        let u = if u.contains("://127.0.0.1:")
            || u.contains("://localhost:")
            || u.contains("://[::1]:")
        {
            changed = true;
            u.replace("127.0.0.1", &ip.to_string())
                .replace("localhost", &ip.to_string())
                .replace("[::1]", &ip.to_string())
        } else {
            u.to_string()
        };
        if !out.contains(&u) {
            out.push(u);
        }
    }
    (out.join(","), changed)
}

/// Translates kubeadm's etcd argv (without `etcd`) for a binary that knows `known`; returns the
/// arguments and what was changed.
pub fn translate(
    args: &[String],
    known: &BTreeSet<String>,
    node_ip: Option<IpAddr>,
) -> (Vec<String>, Vec<String>) {
    let mut out = vec![];
    let mut notes = vec![];
    let mut i = 0;
    let mut has_logger = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(flag) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            out.push(a.clone());
            continue;
        };
        let (name, mut value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (flag.to_string(), None),
        };
        if value.is_none() && i < args.len() && !args[i].starts_with('-') {
            value = Some(args[i].clone());
            i += 1;
        }
        if name == "logger" {
            has_logger = true;
        }
        let emit = |out: &mut Vec<String>, n: &str, v: &Option<String>| match v {
            Some(v) => out.push(format!("--{n}={v}")),
            None => out.push(format!("--{n}")),
        };
        if matches!(
            name.as_str(),
            "listen-client-urls" | "listen-metrics-urls" | "listen-peer-urls"
        ) && let Some(v) = &value
        {
            let (v2, changed) = localhost_urls(v, node_ip);
            if changed {
                notes.push(format!(
                    "--{name}={v} listens on the node IP instead of 127.0.0.1: --{name}={v2}"
                ));
            }
            emit(&mut out, &name, &Some(v2));
            continue;
        }
        if known.contains(&name) {
            emit(&mut out, &name, &value);
            continue;
        }
        if name == "feature-gates" {
            for gate in value
                .clone()
                .unwrap_or_default()
                .split(',')
                .filter(|g| !g.is_empty())
            {
                let (g, on) = gate.split_once('=').unwrap_or((gate, "true"));
                match GATES.iter().find(|(k, _)| *k == g) {
                    Some((_, f)) if known.contains(*f) => {
                        out.push(format!("--{f}={on}"));
                        notes.push(format!(
                            "--feature-gates={g}={on} is --{f}={on} for this etcd"
                        ));
                    }
                    _ => notes.push(format!(
                        "this etcd has no feature gate {g}: dropped --feature-gates={g}={on}"
                    )),
                }
            }
            continue;
        }
        let alt = RENAMED
            .iter()
            .find_map(|(new, old)| {
                if *new == name {
                    Some(old.to_string())
                } else if *old == name {
                    Some(new.to_string())
                } else {
                    None
                }
            })
            .filter(|n| known.contains(n));
        match alt {
            Some(n) => {
                notes.push(format!("--{name} is --{n} for this etcd"));
                emit(&mut out, &n, &value);
            }
            None => notes.push(format!(
                "this etcd does not know --{name}: dropped {}",
                match &value {
                    Some(v) => format!("--{name}={v}"),
                    None => format!("--{name}"),
                }
            )),
        }
    }
    if !has_logger && known.contains("logger") && known.contains("log-package-levels") {
        // etcd 3.4 (it still has capnslog's --log-package-levels) defaults to capnslog; 3.5+
        // logs with zap.
        out.push("--logger=zap".into());
    }
    (out, notes)
}

/// Runs etcd: translates `argv` and execs the binary (never returns on success).
pub fn main(argv: &[String], env: &ContainerEnv) -> ExitCode {
    let binary = crate::etcd::launch::etcd_binary();
    let help = match Command::new(&binary).arg("--help").output() {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            eprintln!(
                "labsim: cannot run etcd ({binary}): {e}; install etcd-server or set LABSIM_ETCD"
            );
            return ExitCode::from(1);
        }
    };
    let known = known_flags(&help);
    let (mut args, notes) = translate(argv.get(1..).unwrap_or_default(), &known, env.node_ip);
    for n in notes {
        eprintln!("labsim: {n}");
    }
    match super::etcd_metrics::plan(&mut args, super::etcd_metrics::free_port) {
        Ok(None) => {}
        Ok(Some(plan)) => {
            if let Err(e) = super::etcd_metrics::start(&plan) {
                eprintln!("labsim: {e}");
                return ExitCode::from(1);
            }
        }
        Err(e) => {
            eprintln!("labsim: no free port for etcd's private metrics listener: {e}");
            return ExitCode::from(1);
        }
    }
    let err = Command::new(&binary).arg0("etcd").args(&args).exec();
    eprintln!("labsim: cannot exec etcd ({binary}): {err}; install etcd-server or set LABSIM_ETCD");
    ExitCode::from(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    const HELP_34: &str = "Usage:
  etcd [flags]
Member:
  --name 'default'
    Human-readable name for this member.
  --listen-client-urls 'http://localhost:2379'
  --listen-metrics-urls ''
  --advertise-client-urls
  --client-cert-auth 'false'
  --experimental-initial-corrupt-check 'false'
  --experimental-watch-progress-notify-interval '10m'
  --logger 'capnslog'
  --log-package-levels ''
";

    #[test]
    fn kubeadm_1_34_flags_on_etcd_3_4() {
        let known = known_flags(HELP_34);
        assert!(known.contains("experimental-initial-corrupt-check"));
        assert!(known.contains("name"));
        let ip: IpAddr = "127.100.49.2".parse().unwrap();
        let (args, notes) = translate(
            &s(&[
                "--name=minikube",
                "--feature-gates=InitialCorruptCheck=true",
                "--listen-client-urls=https://127.0.0.1:2379,https://127.100.49.2:2379",
                "--listen-metrics-urls=http://127.0.0.1:2381",
                "--watch-progress-notify-interval=5s",
                "--client-cert-auth=true",
                "--snapshot-count=10000",
            ]),
            &known,
            Some(ip),
        );
        assert_eq!(
            args,
            s(&[
                "--name=minikube",
                "--experimental-initial-corrupt-check=true",
                "--listen-client-urls=https://127.100.49.2:2379",
                "--listen-metrics-urls=http://127.100.49.2:2381",
                "--experimental-watch-progress-notify-interval=5s",
                "--client-cert-auth=true",
                "--logger=zap",
            ])
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("does not know --snapshot-count"))
        );
        assert!(notes.iter().any(|n| n.contains("InitialCorruptCheck")));
    }

    #[test]
    fn old_names_on_a_binary_that_only_knows_new_ones() {
        let known: BTreeSet<String> = [
            "name",
            "watch-progress-notify-interval",
            "feature-gates",
            "logger",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (args, _) = translate(
            &s(&[
                "--experimental-watch-progress-notify-interval=5s",
                "--feature-gates=InitialCorruptCheck=true",
                "--logger=zap",
            ]),
            &known,
            None,
        );
        assert_eq!(
            args,
            s(&[
                "--watch-progress-notify-interval=5s",
                "--feature-gates=InitialCorruptCheck=true",
                "--logger=zap",
            ])
        );
    }
}
