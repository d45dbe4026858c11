//! Fault injection on labsim, for tests of what the harness rides through: `labsim fault -p P …`
//! (restart the API server or etcd, drop every watch, delay the API, stop a kubelet's heartbeats)
//! and labsim's own event log, `labsim audit -p P -o json` (the API server's audit log: every
//! change with the server's time, and the faults applied), to compare the timeline with. Both run
//! through the lab's runner, so they are in the scenario's transcript. Real minikube has neither:
//! [`Faults::for_lab`] refuses it with the reason, for the caller to skip.

use std::path::PathBuf;

use crate::lab::Lab;
use crate::runner::{Command, RunError, Runner};
use crate::settings::ProviderKind;

/// Errors injecting faults or reading labsim's event log.
#[derive(Debug, thiserror::Error)]
pub enum FaultsError {
    /// The lab does not run on labsim.
    #[error(
        "fault injection needs labsim (this run uses {0}): real minikube has no `labsim fault`; run with --provider labsim"
    )]
    NotLabsim(ProviderKind),
    /// The labsim binary behind the `minikube` link cannot be found.
    #[error("cannot find labsim behind {link}: {source}")]
    NoBinary {
        /// The `minikube` link.
        link: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The command could not be run.
    #[error(transparent)]
    Run(#[from] RunError),
    /// labsim refused or failed.
    #[error("`{command}` failed ({ending}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// How it ended.
        ending: String,
        /// What it said.
        stderr: String,
    },
    /// `labsim audit -o json` printed something else than JSON.
    #[error("`labsim audit` printed no JSON: {0}")]
    Json(String),
}

/// labsim's fault injection and event log for one lab's profile.
#[derive(Debug, Clone)]
pub struct Faults {
    labsim: PathBuf,
    profile: String,
    runner: Runner,
}

impl Faults {
    /// The faults of `lab`'s profile.
    ///
    /// # Errors
    /// [`FaultsError::NotLabsim`] on real minikube; [`FaultsError::NoBinary`].
    pub fn for_lab(lab: &Lab) -> Result<Self, FaultsError> {
        if lab.settings().provider != ProviderKind::Labsim {
            return Err(FaultsError::NotLabsim(lab.settings().provider));
        }
        let link = lab.minikube().binary().to_path_buf();
        // labsim acts by its executable's name: `minikube` is the link, `labsim` the binary.
        let labsim = std::fs::canonicalize(&link)
            .map_err(|source| FaultsError::NoBinary { link, source })?;
        Ok(Self {
            labsim,
            profile: lab.profile().to_string(),
            runner: lab.minikube().runner().clone(),
        })
    }

    async fn labsim(&self, args: &[&str]) -> Result<String, FaultsError> {
        let cmd = Command::new(self.labsim.to_string_lossy()).args(args.iter().copied());
        let out = self.runner.run(&cmd).await?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(FaultsError::Failed {
                command: format!("labsim {}", args.join(" ")),
                ending: out.ending.to_string(),
                stderr: out.stderr.trim().to_string(),
            })
        }
    }

    /// `labsim fault -p P <fault…>` (`restart-apiserver`, `drop-watches`, `delay-api 2s --for
    /// 30s`, …); returns what labsim printed.
    ///
    /// # Errors
    /// [`FaultsError`] when labsim refuses or fails.
    pub async fn inject(&self, fault: &[&str]) -> Result<String, FaultsError> {
        let mut args = vec!["fault", "-p", self.profile.as_str()];
        args.extend_from_slice(fault);
        self.labsim(&args).await
    }

    /// labsim's event log of the profile (`labsim audit -p P -o json`): `changes` (per object:
    /// `object`, `changes` with `time`, `verb`, `subresource`, `deleted`, …) and `faults`. The
    /// profile must have been started with `LABSIM_EVENT_LOG=1`.
    ///
    /// # Errors
    /// [`FaultsError`] when labsim fails or prints no JSON.
    pub async fn audit(&self) -> Result<serde_json::Value, FaultsError> {
        let out = self
            .labsim(&["audit", "-p", &self.profile, "-o", "json"])
            .await?;
        serde_json::from_str(&out).map_err(|e| FaultsError::Json(e.to_string()))
    }
}
