//! Checks, before a run, that the chosen provider has what it needs, and says how to get what is
//! missing. Fast by design: file lookups only, plus one bounded `docker version` for real minikube.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::runner::{Command, Runner};
use crate::settings::{is_executable, which};

/// How long the Docker daemon probe may take (the whole preflight stays under 5 s).
pub const DOCKER_PROBE_TIMEOUT: Duration = Duration::from_secs(4);

/// One thing a provider needs that is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is missing.
    pub what: String,
    /// Why the provider needs it.
    pub why: String,
    /// How to get it.
    pub fix: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.what, self.why, self.fix)
    }
}

/// Preflight failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreflightError {
    /// Some prerequisites are missing.
    #[error("the {provider} provider cannot run on this machine:\n{}", list(.missing))]
    Missing {
        /// The provider checked.
        provider: String,
        /// What is missing.
        missing: Vec<Missing>,
    },
}

fn list(missing: &[Missing]) -> String {
    missing
        .iter()
        .map(|m| format!("  - {m}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A program labsim needs, why, and the Debian package that provides it.
const LABSIM_PROGRAMS: &[(&str, &str, &str)] = &[
    (
        "bash",
        "node shells run the course's commands with bash",
        "apt-get install -y bash",
    ),
    (
        "unshare",
        "labsim creates each node's namespaces with it",
        "apt-get install -y util-linux",
    ),
    (
        "nsenter",
        "`minikube ssh` enters a node with it",
        "apt-get install -y util-linux",
    ),
    (
        "setpriv",
        "`minikube ssh` becomes the node's docker user with it",
        "apt-get install -y util-linux",
    ),
    (
        "sudo",
        "the course runs `sudo` on nodes",
        "apt-get install -y sudo",
    ),
    (
        "etcd",
        "labsim runs a real etcd for the control plane",
        "apt-get install -y etcd-server",
    ),
    (
        "etcdctl",
        "chapter 4 runs the real etcdctl",
        "apt-get install -y etcd-client",
    ),
    (
        "kubectl",
        "the course's kubectl commands run the real kubectl",
        "install kubectl (Debian/Ubuntu: the `kubectl` package from the Kubernetes apt repository, pkgs.k8s.io)",
    ),
];

/// What labsim needs that `is_root` and `found` say is missing.
#[must_use]
pub fn labsim_missing(is_root: bool, found: impl Fn(&str) -> bool) -> Vec<Missing> {
    let mut missing = Vec::new();
    if !is_root {
        missing.push(Missing {
            what: "root".into(),
            why: "labsim creates mount, UTS and PID namespaces and binds node IPs".into(),
            fix: "run as root (e.g. `sudo -E scripts/labs`)".into(),
        });
    }
    for (program, why, fix) in LABSIM_PROGRAMS {
        if !found(program) {
            missing.push(Missing {
                what: format!("`{program}` not found on PATH"),
                why: (*why).into(),
                fix: (*fix).into(),
            });
        }
    }
    missing
}

/// Checks labsim's prerequisites on this machine.
///
/// # Errors
/// [`PreflightError::Missing`] listing every missing prerequisite.
pub fn check_labsim() -> Result<(), PreflightError> {
    let missing = labsim_missing(nix::unistd::geteuid().is_root(), |p| which(p).is_some());
    result("labsim", missing)
}

/// Checks real minikube's prerequisites: the binary, a Docker daemon that answers the CLI (the
/// course's `--driver=docker`), and its API socket (the jumpbox, started through testcontainers).
///
/// # Errors
/// [`PreflightError::Missing`] listing what is missing.
pub async fn check_minikube(binary: Option<&Path>, runner: &Runner) -> Result<(), PreflightError> {
    let mut missing = Vec::new();
    match binary {
        Some(b) if is_executable(b) => {}
        Some(b) => missing.push(Missing {
            what: format!("minikube at {} is not an executable file", b.display()),
            why: "every lab starts its nodes with minikube".into(),
            fix: "point --minikube (or LABS_MINIKUBE) at the minikube binary".into(),
        }),
        None => missing.push(Missing {
            what: "minikube not found on PATH".into(),
            why: "every lab starts its nodes with minikube".into(),
            fix: "install it (https://minikube.sigs.k8s.io/docs/start/) or pass --minikube PATH, or run with --provider labsim".into(),
        }),
    }
    match which("docker") {
        None => missing.push(Missing {
            what: "`docker` not found on PATH".into(),
            why: "the course uses minikube's docker driver".into(),
            fix: "install Docker Engine (https://docs.docker.com/engine/install/) or run with --provider labsim".into(),
        }),
        Some(docker) => {
            let probe = Command::new(docker.to_string_lossy())
                .args(["version", "--format", "{{.Server.Version}}"])
                .timeout(DOCKER_PROBE_TIMEOUT);
            let answer = runner.run(&probe).await;
            let reachable = matches!(&answer, Ok(o) if o.success() && !o.stdout.trim().is_empty());
            if !reachable {
                let seen = match answer {
                    Ok(o) => o.stderr.lines().last().unwrap_or("no answer").to_string(),
                    Err(e) => e.to_string(),
                };
                missing.push(Missing {
                    what: format!("the Docker daemon does not answer ({})", runner.redact(seen.trim())),
                    why: "the course uses minikube's docker driver".into(),
                    fix: "start Docker (`sudo systemctl start docker`) and make sure this user may use it, or run with --provider labsim".into(),
                });
            } else if let Err(e) = crate::jumpbox::docker_reachable().await {
                // The CLI reaches the daemon (through its context) but the API client the jumpbox
                // uses does not: Docker Desktop's socket is not at the default path.
                missing.push(Missing {
                    what: format!("the Docker API socket does not answer: {e}"),
                    why: "the jumpbox (the course's netshoot container) is started through Docker's API".into(),
                    fix: "set DOCKER_HOST to your Docker context's socket: export DOCKER_HOST=$(docker context inspect -f '{{.Endpoints.docker.Host}}')".into(),
                });
            }
        }
    }
    result("minikube", missing)
}

fn result(provider: &str, missing: Vec<Missing>) -> Result<(), PreflightError> {
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PreflightError::Missing {
            provider: provider.into(),
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labsim_reports_each_missing_prerequisite_with_its_install_command() {
        let err = result(
            "labsim",
            labsim_missing(false, |p| !matches!(p, "etcd" | "sudo")),
        )
        .unwrap_err();
        insta::assert_snapshot!(err.to_string());
    }

    #[test]
    fn labsim_with_everything_is_fine() {
        assert!(labsim_missing(true, |_| true).is_empty());
    }
}
