//! Run settings chosen on the command line, and which provider binary they lead to.

use std::fmt;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::provisioning::Scripts;
use crate::versions::K8sVersion;

/// Environment variable naming the minikube binary (same as `--minikube PATH`).
pub const MINIKUBE_ENV: &str = "LABS_MINIKUBE";

/// Which provider a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Real minikube (docker driver).
    Minikube,
    /// labsim, the offline stand-in, answering the minikube CLI.
    Labsim,
}

impl FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "minikube" => Ok(Self::Minikube),
            "labsim" => Ok(Self::Labsim),
            other => Err(format!(
                "unknown provider {other:?}: choose minikube or labsim"
            )),
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Minikube => "minikube",
            Self::Labsim => "labsim",
        })
    }
}

/// Which timing profile the cluster is configured with (ARCHITECTURE.md, "Timing profiles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timing {
    /// Kubernetes defaults; the only profile that judges the course's timing claims.
    #[default]
    Default,
    /// Shortened node grace period and eviction tolerations, for pull requests and labsim CI.
    Fast,
}

impl FromStr for Timing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(Self::Default),
            "fast" => Ok(Self::Fast),
            other => Err(format!("unknown timing {other:?}: choose default or fast")),
        }
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::Fast => "fast",
        })
    }
}

/// Everything a run was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The provider.
    pub provider: ProviderKind,
    /// The minikube binary (for labsim: the `minikube` link to the labsim binary).
    pub minikube: PathBuf,
    /// Base name of the profiles the run creates.
    pub profile: String,
    /// Kubernetes version, exported as `KUBERNETES_VERSION`.
    pub k8s_version: K8sVersion,
    /// Timing profile.
    pub timing: Timing,
    /// Keep a failed scenario's profile for inspection instead of deleting it.
    pub keep_on_failure: bool,
    /// Which provisioning scripts the nodes run (`--scripts ours|published`).
    pub scripts: Scripts,
}

impl Settings {
    /// Environment given to every process the harness runs, and to every script on a node.
    #[must_use]
    pub fn env(&self) -> Vec<(String, String)> {
        vec![(
            "KUBERNETES_VERSION".to_string(),
            self.k8s_version.to_string(),
        )]
    }
}

/// The provider a run ends up with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderChoice {
    /// Real minikube; `None` when asked for but not found (preflight reports it).
    Minikube(Option<PathBuf>),
    /// labsim; `banner` when it was chosen because no minikube was configured or found.
    Labsim {
        /// Whether to print the one-line banner.
        banner: bool,
    },
}

/// The banner printed when labsim is chosen by default.
pub const LABSIM_BANNER: &str = "k8s-labs: no minikube configured (--minikube PATH, LABS_MINIKUBE) or on PATH: running on labsim, the offline stand-in; use --provider minikube --minikube PATH for real minikube";

/// Chooses the provider: `--provider` wins; without it, a configured (`--minikube`, then
/// `LABS_MINIKUBE`) or found (`minikube` on PATH) minikube is used, else labsim with a banner.
#[must_use]
pub fn choose_provider(
    requested: Option<ProviderKind>,
    flag: Option<PathBuf>,
    env: Option<PathBuf>,
    on_path: Option<PathBuf>,
) -> ProviderChoice {
    let configured = flag.or(env);
    match requested {
        Some(ProviderKind::Labsim) => ProviderChoice::Labsim { banner: false },
        Some(ProviderKind::Minikube) => ProviderChoice::Minikube(configured.or(on_path)),
        None => match configured.or(on_path) {
            Some(path) => ProviderChoice::Minikube(Some(path)),
            None => ProviderChoice::Labsim { banner: true },
        },
    }
}

/// Finds an executable named `name` on `path` (a `PATH`-style list), like `command -v`.
#[must_use]
pub fn which_in(name: &str, path: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// [`which_in`] over this process's `PATH`.
#[must_use]
pub fn which(name: &str) -> Option<PathBuf> {
    which_in(name, &std::env::var("PATH").unwrap_or_default())
}

/// Whether `path` is a file with an execute bit.
#[must_use]
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<PathBuf> {
        Some(PathBuf::from(s))
    }

    #[test]
    fn explicit_provider_wins() {
        assert_eq!(
            choose_provider(
                Some(ProviderKind::Labsim),
                p("/x/minikube"),
                None,
                p("/usr/bin/minikube")
            ),
            ProviderChoice::Labsim { banner: false }
        );
        assert_eq!(
            choose_provider(Some(ProviderKind::Minikube), None, None, None),
            ProviderChoice::Minikube(None)
        );
    }

    #[test]
    fn flag_then_env_then_path_then_labsim() {
        assert_eq!(
            choose_provider(None, p("/flag"), p("/env"), p("/path")),
            ProviderChoice::Minikube(p("/flag"))
        );
        assert_eq!(
            choose_provider(None, None, p("/env"), p("/path")),
            ProviderChoice::Minikube(p("/env"))
        );
        assert_eq!(
            choose_provider(None, None, None, p("/path")),
            ProviderChoice::Minikube(p("/path"))
        );
        assert_eq!(
            choose_provider(None, None, None, None),
            ProviderChoice::Labsim { banner: true }
        );
    }

    #[test]
    fn which_finds_executables_only() {
        assert!(which_in("sh", "/nonexistent:/bin:/usr/bin").is_some());
        assert!(which_in("no-such-program-k8s-labs", "/bin:/usr/bin").is_none());
        let plain = std::env::temp_dir().join(format!("k8s-labs-plain-{}", std::process::id()));
        std::fs::write(&plain, "").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let found = which_in(&plain.to_string_lossy(), "");
        std::fs::remove_file(&plain).unwrap();
        assert!(found.is_none(), "not executable");
    }

    #[test]
    fn words_parse() {
        assert_eq!("fast".parse::<Timing>(), Ok(Timing::Fast));
        assert!("slow".parse::<Timing>().is_err());
        assert_eq!("labsim".parse::<ProviderKind>(), Ok(ProviderKind::Labsim));
    }
}
