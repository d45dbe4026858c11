//! One labs run: its settings, reports folder, shared redactor, and the profiles its scenarios use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::cleanup::{Outcome, Registry, Released, Urgency};
use crate::course::KeptCluster;
use crate::deadline::Deadlines;
use crate::lab::Lab;
use crate::provider::Minikube;
use crate::redact::Redactor;
use crate::report::environment::Environment;
use crate::report::{Collector, LabRecord, ReportError, ScenarioKey};
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
    registry: Registry,
    setup: OnceLock<Runner>,
    strict_claims: bool,
    deadlines: Deadlines,
    environment: Mutex<Environment>,
    labs: Mutex<BTreeMap<ScenarioKey, Vec<LabRecord>>>,
    collector: Collector,
    kept: Mutex<Option<KeptCluster>>,
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

impl ProfileLease {
    /// Keeps the name taken until the run ends (a cluster kept for inspection holds it).
    pub fn hold_for_run(self) {
        std::mem::forget(self);
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
            deadlines: Deadlines::for_run(settings.provider, settings.timing),
            settings,
            reports,
            redactor,
            profiles: Arc::default(),
            registry: Registry::new(),
            setup: OnceLock::new(),
            strict_claims: false,
            environment: Mutex::default(),
            labs: Mutex::default(),
            collector: Collector::new(),
            kept: Mutex::default(),
        }
    }

    /// Sets the step and scenario deadlines (`--step-timeout`, `--scenario-timeout`).
    pub fn set_deadlines(&mut self, deadlines: Deadlines) {
        self.deadlines = deadlines;
    }

    /// The step and scenario deadlines (by default scaled to the provider and timing profile).
    #[must_use]
    pub fn deadlines(&self) -> Deadlines {
        self.deadlines
    }

    /// The run's registry of what it created (see [`crate::cleanup`]).
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Makes drifted claims fail their step (`--strict-claims`).
    pub fn set_strict_claims(&mut self, strict: bool) {
        self.strict_claims = strict;
    }

    /// The run's redactor.
    #[must_use]
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The cucumber writer that collects the run's results (tee it into the writer chain).
    #[must_use]
    pub fn collector(&self) -> Collector {
        self.collector.clone()
    }

    /// The run's id: its reports folder's name.
    #[must_use]
    pub fn run_id(&self) -> String {
        self.reports
            .root()
            .file_name()
            .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// Reads the run-level environment (commit, provider and kubectl versions, OS) through the
    /// setup runner, for every report.
    ///
    /// # Errors
    /// [`TranscriptError`] when the setup transcript cannot be created.
    pub async fn record_environment(&self, checkout: &Path) -> Result<(), TranscriptError> {
        let runner = self.setup_runner()?;
        let env = crate::report::environment::collect_run(&runner, &self.settings, checkout).await;
        *self
            .environment
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = env;
        Ok(())
    }

    /// Ends a scenario's recording (before its profile is deleted: diagnostics need the
    /// cluster) and keeps its record for the reports.
    pub async fn conclude_lab(&self, key: ScenarioKey, lab: &mut Lab, failed: bool) {
        let record = lab.conclude(failed, self.reports.root()).await;
        self.labs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key)
            .or_default()
            .push(record);
    }

    /// Writes the run's reports (`run.json`, `junit.xml`, `report.html`, `summary.md`) from what
    /// the collector and the labs recorded; returns the files written.
    ///
    /// # Errors
    /// [`ReportError`] when a file cannot be written.
    pub fn write_reports(&self) -> Result<Vec<PathBuf>, ReportError> {
        let labs = std::mem::take(
            &mut *self
                .labs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let mut env = self
            .environment
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // The run's cluster facts: those of the last scenario (in feature order) that reached one.
        env.cluster = labs
            .values()
            .flatten()
            .filter_map(|r| r.cluster.clone())
            .next_back();
        let report = self.collector.report(&self.run_id(), env, labs);
        crate::report::write_all(&report, self.reports.root(), &self.redactor)
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
        let runner = Runner::new(transcript, self.settings.env(), DEFAULT_TIMEOUT)
            .registered_in(&self.registry);
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
        let runner = Runner::new(transcript, self.settings.env(), DEFAULT_TIMEOUT)
            .registered_in(&self.registry);
        let minikube = Minikube::new(&self.settings.minikube, profile.name(), runner);
        Ok(Lab::new(minikube, self.settings.clone())
            .tracked_by(self.registry.clone())
            .strict_claims(self.strict_claims))
    }

    /// Takes the course's cluster kept by an earlier scenario, to offer to the next one.
    pub fn take_kept(&self) -> Option<KeptCluster> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Keeps the course's cluster for the next scenario; returns the one kept before, if any
    /// (the caller deletes it: the run keeps one cluster at a time).
    pub fn keep(&self, cluster: KeptCluster) -> Option<KeptCluster> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(cluster)
    }

    /// Deletes a kept cluster (at the end of the run, or when another replaces it), reporting in
    /// the run's setup transcript; returns a line saying what happened.
    pub async fn delete_kept(&self, mut cluster: KeptCluster) -> String {
        let Some(registration) = cluster.registration.take() else {
            return format!(
                "the course's cluster {} was not registered",
                cluster.profile
            );
        };
        if let Ok(runner) = self.setup_runner() {
            registration.report_to(runner.transcript(), self.settings.env());
            cluster.state.files().report_to(runner.transcript());
        }
        let released = registration.release(Urgency::Orderly).await;
        // Its host files go with it.
        drop(cluster);
        match released.outcome {
            Outcome::Released(_) => format!("deleted the course's cluster ({})", released.what),
            _ => released.to_string(),
        }
    }

    /// Releases everything the run created and still holds (an interrupted or failed run: its
    /// profiles, background processes, temp directories), newest first or, `Fast`, all at once;
    /// returns one report per resource. Clusters kept with `--keep-on-failure` are not released:
    /// see [`Run::kept`].
    pub async fn release_all(&self, urgency: Urgency) -> Vec<Released> {
        // The course's cluster kept between scenarios goes too (its host files with it).
        if let Some(kept) = self.take_kept() {
            drop(kept);
        }
        self.registry.release_all(urgency).await
    }

    /// The clusters kept for inspection (`--keep-on-failure`), with how to reach and delete them.
    #[must_use]
    pub fn kept(&self) -> Vec<Released> {
        self.registry.kept()
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
