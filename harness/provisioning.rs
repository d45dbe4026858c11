//! Which provisioning scripts the nodes run (`--scripts ours|published`), and the course's commands
//! that fetch and run them ("Bootstrapping the primary node", "Connecting worker Nodes").
//!
//! - `ours` (default): `fixtures/scripts/master.sh` and `worker.sh`, copied into the node with
//!   `minikube cp`, parameterised by the run's Kubernetes version and timing profile. `sudo`
//!   resets the environment (sudoers `env_reset`, the default on minikube's kicbase image), so the
//!   parameters are given on sudo's command line as the scripts' own usage line shows.
//! - `published`: what readers actually download, with the course's own commands, verbatim:
//!   `curl -s -o master.sh https://academy.learnk8s.io/master.sh` then `sudo bash master.sh auto`.
//!   Those scripts choose their own Kubernetes version; the run's `--k8s-version` cannot change it
//!   (the version the cluster reports is what the run then measures). labsim has no network, so
//!   this needs the real minikube provider.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::fixtures::{self, FixtureError};
use crate::settings::{ProviderKind, Timing};
use crate::transcript::shell_quote;
use crate::versions::K8sVersion;

/// The course's script for the control plane (chapter 2, "Bootstrapping the primary node").
pub const PUBLISHED_MASTER_URL: &str = "https://academy.learnk8s.io/master.sh";
/// The course's script for the workers (chapter 2, "Connecting worker Nodes").
pub const PUBLISHED_WORKER_URL: &str = "https://academy.learnk8s.io/worker.sh";

/// Which scripts provision the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scripts {
    /// This repository's `fixtures/scripts/` (versioned, offline-capable).
    #[default]
    Ours,
    /// The scripts the course's readers download.
    Published,
}

impl FromStr for Scripts {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ours" => Ok(Self::Ours),
            "published" => Ok(Self::Published),
            other => Err(format!(
                "unknown scripts {other:?}: choose ours or published"
            )),
        }
    }
}

impl fmt::Display for Scripts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ours => "ours",
            Self::Published => "published",
        })
    }
}

/// A node's role in the course's cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The primary node (`master.sh`).
    ControlPlane,
    /// A worker (`worker.sh`).
    Worker,
}

impl Role {
    /// The script's file name, as the course saves it in the node user's home.
    #[must_use]
    pub const fn script(self) -> &'static str {
        match self {
            Self::ControlPlane => "master.sh",
            Self::Worker => "worker.sh",
        }
    }

    /// The course's published URL of the script.
    #[must_use]
    pub const fn published_url(self) -> &'static str {
        match self {
            Self::ControlPlane => PUBLISHED_MASTER_URL,
            Self::Worker => PUBLISHED_WORKER_URL,
        }
    }
}

/// Errors choosing the scripts.
#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// `--scripts published` on labsim.
    #[error(
        "--scripts published downloads the course's scripts ({PUBLISHED_MASTER_URL}, {PUBLISHED_WORKER_URL}), and labsim is offline: use --scripts ours with labsim, or --provider minikube to check the published scripts"
    )]
    PublishedOffline,
    /// Our script is missing from the checkout.
    #[error(transparent)]
    Fixture(#[from] FixtureError),
}

/// How a node gets its script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// `minikube cp LOCAL NODE:REMOTE`.
    Copy {
        /// The fixture on the host.
        local: PathBuf,
        /// Where it goes on the node (the docker user's home, where the course's `curl -o` puts
        /// it).
        remote: String,
    },
    /// A command run on the node (the course's `curl -s -o …`).
    Download {
        /// The command.
        command: String,
    },
}

/// The docker user's home on a minikube node (kicbase `deploy/kicbase/Dockerfile`).
pub const NODE_HOME: &str = "/home/docker";

/// Checks that `scripts` can be used with `provider`.
///
/// # Errors
/// [`ProvisioningError::PublishedOffline`] for published scripts on labsim.
pub fn check(scripts: Scripts, provider: ProviderKind) -> Result<(), ProvisioningError> {
    match (scripts, provider) {
        (Scripts::Published, ProviderKind::Labsim) => Err(ProvisioningError::PublishedOffline),
        _ => Ok(()),
    }
}

/// How the node of `role` gets its script.
///
/// # Errors
/// [`ProvisioningError`] when the combination is impossible or our script is missing.
pub fn fetch(
    role: Role,
    scripts: Scripts,
    provider: ProviderKind,
) -> Result<Fetch, ProvisioningError> {
    check(scripts, provider)?;
    Ok(match scripts {
        Scripts::Ours => Fetch::Copy {
            local: fixtures::path(&format!("scripts/{}", role.script()))?,
            remote: format!("{NODE_HOME}/{}", role.script()),
        },
        Scripts::Published => Fetch::Download {
            command: format!("curl -s -o {} {}", role.script(), role.published_url()),
        },
    })
}

/// The command that runs the script on the node, from the docker user's home.
#[must_use]
pub fn run_command(role: Role, scripts: Scripts, version: K8sVersion, timing: Timing) -> String {
    match scripts {
        Scripts::Published => format!("sudo bash {} auto", role.script()),
        Scripts::Ours => format!(
            "sudo KUBERNETES_VERSION={} TIMING_PROFILE={} bash {} auto",
            shell_quote(&version.to_string()),
            shell_quote(&timing.to_string()),
            role.script()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_scripts_use_the_course_s_commands_verbatim() {
        assert_eq!(
            fetch(
                Role::ControlPlane,
                Scripts::Published,
                ProviderKind::Minikube
            )
            .unwrap(),
            Fetch::Download {
                command: "curl -s -o master.sh https://academy.learnk8s.io/master.sh".into()
            }
        );
        assert_eq!(
            fetch(Role::Worker, Scripts::Published, ProviderKind::Minikube).unwrap(),
            Fetch::Download {
                command: "curl -s -o worker.sh https://academy.learnk8s.io/worker.sh".into()
            }
        );
        let v = K8sVersion::default();
        assert_eq!(
            run_command(Role::Worker, Scripts::Published, v, Timing::Fast),
            "sudo bash worker.sh auto"
        );
    }

    #[test]
    fn published_scripts_are_refused_offline() {
        let err = fetch(Role::ControlPlane, Scripts::Published, ProviderKind::Labsim)
            .unwrap_err()
            .to_string();
        assert!(err.contains("labsim is offline"), "{err}");
        assert!(check(Scripts::Ours, ProviderKind::Labsim).is_ok());
    }

    #[test]
    fn our_scripts_are_copied_and_get_the_version_through_sudo() {
        let Fetch::Copy { local, remote } =
            fetch(Role::ControlPlane, Scripts::Ours, ProviderKind::Labsim).unwrap()
        else {
            panic!("ours are copied");
        };
        assert!(local.ends_with("fixtures/scripts/master.sh") && local.exists());
        assert_eq!(remote, "/home/docker/master.sh");
        let v = "1.30".parse().unwrap();
        assert_eq!(
            run_command(Role::ControlPlane, Scripts::Ours, v, Timing::Fast),
            "sudo KUBERNETES_VERSION=1.30 TIMING_PROFILE=fast bash master.sh auto"
        );
    }

    #[test]
    fn words_parse() {
        assert_eq!("published".parse::<Scripts>(), Ok(Scripts::Published));
        assert_eq!(Scripts::default(), Scripts::Ours);
        assert!("theirs".parse::<Scripts>().is_err());
    }
}
