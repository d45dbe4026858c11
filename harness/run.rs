//! One labs run: its settings, reports folder, shared redactor, and the profiles its scenarios use.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::lab::{Lab, LiveProfiles};
use crate::provider::Minikube;
use crate::redact::Redactor;
use crate::reports::Reports;
use crate::runner::Runner;
use crate::settings::Settings;
use crate::transcript::{Transcript, TranscriptError};

/// Default timeout of a process the harness runs (provider calls set their own).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A labs run.
#[derive(Debug)]
pub struct Run {
    settings: Settings,
    reports: Reports,
    redactor: Redactor,
    profiles: Arc<Mutex<BTreeSet<u32>>>,
    live: LiveProfiles,
    setup: OnceLock<Runner>,
}

/// A profile name held by a running scenario; released when dropped.
#[derive(Debug)]
pub struct ProfileLease {
    name: String,
    index: u32,
    pool: Arc<Mutex<BTreeSet<u32>>>,
}

impl ProfileLease {
    /// The profile name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ProfileLease {
    fn drop(&mut self) {
        self.pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.index);
    }
}

impl Run {
    /// A run with `settings`, writing under `reports`.
    #[must_use]
    pub fn new(settings: Settings, reports: Reports, redactor: Redactor) -> Self {
        Self {
            settings,
            reports,
            redactor,
            profiles: Arc::default(),
            live: LiveProfiles::default(),
            setup: OnceLock::new(),
        }
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Sets the minikube binary (for labsim, known only once it is built).
    pub fn set_minikube(&mut self, minikube: impl Into<std::path::PathBuf>) {
        self.settings.minikube = minikube.into();
    }

    /// The reports folder.
    #[must_use]
    pub fn reports(&self) -> &Reports {
        &self.reports
    }

    /// A runner for the run's own set-up (building labsim, preflight), recording under `setup/`.
    ///
    /// # Errors
    /// [`TranscriptError`] when the transcript cannot be created.
    pub fn setup_runner(&self) -> Result<Runner, TranscriptError> {
        if let Some(runner) = self.setup.get() {
            return Ok(runner.clone());
        }
        let transcript =
            Transcript::create(self.reports.root().join("setup"), self.redactor.clone())?;
        let runner = Runner::new(transcript, self.settings.env(), DEFAULT_TIMEOUT);
        Ok(self.setup.get_or_init(|| runner).clone())
    }

    /// Takes a profile name for a scenario: the base name (`--profile`) for the first scenario
    /// running, `<base>-2`, `<base>-3`, … for scenarios running at the same time.
    #[must_use]
    pub fn lease_profile(&self) -> ProfileLease {
        let mut taken = self
            .profiles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = (1..)
            .find(|i| !taken.contains(i))
            .expect("a free index exists");
        taken.insert(index);
        let base = &self.settings.profile;
        ProfileLease {
            name: if index == 1 {
                base.clone()
            } else {
                format!("{base}-{index}")
            },
            index,
            pool: Arc::clone(&self.profiles),
        }
    }

    /// A lab for a scenario, on `profile`, recording into the scenario's own transcript folder.
    ///
    /// # Errors
    /// [`TranscriptError`] when the transcript cannot be created.
    pub fn new_lab(
        &self,
        feature: &str,
        scenario: &str,
        profile: &ProfileLease,
    ) -> Result<Lab, TranscriptError> {
        let dir = self.reports.scenario_dir(feature, scenario);
        let transcript = Transcript::create(dir, self.redactor.clone())?;
        let runner = Runner::new(transcript, self.settings.env(), DEFAULT_TIMEOUT);
        let minikube = Minikube::new(&self.settings.minikube, profile.name(), runner);
        Ok(Lab::new(minikube, self.settings.clone()).tracked_by(self.live.clone()))
    }

    /// Deletes every profile a lab created and did not delete (an interrupted run), or with
    /// `--keep-on-failure` says how to; returns one line per profile.
    ///
    /// # Errors
    /// [`TranscriptError`] when the setup transcript cannot be opened; deletion failures are
    /// reported in the returned lines.
    pub async fn clean_up_live_profiles(&self) -> Result<Vec<String>, TranscriptError> {
        let runner = self.setup_runner()?;
        let mut lines = Vec::new();
        for profile in self.live.snapshot() {
            let minikube = Minikube::new(&self.settings.minikube, &profile, runner.clone());
            let delete = format!("{} delete -p {profile}", self.settings.minikube.display());
            if self.settings.keep_on_failure {
                lines.push(format!(
                    "kept minikube profile {profile} (--keep-on-failure); delete it with: {delete}"
                ));
                continue;
            }
            lines.push(match minikube.delete().await {
                Ok(()) => format!("deleted minikube profile {profile}"),
                Err(e) => format!(
                    "could not delete minikube profile {profile}: {e}
delete it with: {delete}"
                ),
            });
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{ProviderKind, Timing};
    use crate::versions::K8sVersion;

    #[test]
    fn concurrent_scenarios_get_distinct_profiles_and_names_are_reused() {
        let root = std::env::temp_dir().join(format!("k8s-labs-run-{}", std::process::id()));
        let settings = Settings {
            provider: ProviderKind::Labsim,
            minikube: "/bin/true".into(),
            profile: "labs".into(),
            k8s_version: K8sVersion::default(),
            timing: Timing::Fast,
            keep_on_failure: false,
            scripts: crate::provisioning::Scripts::Ours,
        };
        let run = Run::new(settings, Reports::create(&root).unwrap(), Redactor::new());
        let a = run.lease_profile();
        let b = run.lease_profile();
        assert_eq!((a.name(), b.name()), ("labs", "labs-2"));
        drop(a);
        assert_eq!(run.lease_profile().name(), "labs");
        let lab = run.new_lab("Bootstrapping", "Create nodes", &b).unwrap();
        assert_eq!(lab.profile(), "labs-2");
        assert!(
            root.join("bootstrapping/create-nodes/transcript.txt")
                .exists()
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
