//! What a run leaves for its reports: `run.json`, the one document every report (JUnit, HTML,
//! Markdown, the drift page) is rendered from.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::claims::{Claim, Measurement, Verdict};
use crate::report::environment::{ClusterEnvironment, Environment};

/// The version of `run.json`'s shape.
pub const SCHEMA: u32 = 1;

/// A step's, attempt's or scenario's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It failed.
    Failed,
    /// It failed at first and passed on a retry (scenarios only).
    Flaky,
    /// It was skipped (allowed with `@allow.skipped`).
    Skipped,
    /// It did not run (a step after a failed one).
    NotRun,
    /// It passed.
    Passed,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Failed => "failed",
            Self::Flaky => "flaky",
            Self::Skipped => "skipped",
            Self::NotRun => "not run",
            Self::Passed => "passed",
        })
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The run's id (its folder name by default).
    pub run_id: String,
    /// When the run started.
    pub started: Timestamp,
    /// When the report was written.
    pub finished: Timestamp,
    /// Where and with what it ran.
    pub environment: Environment,
    /// The features, in the order they ran.
    pub features: Vec<FeatureReport>,
    /// Problems outside any scenario (feature files that do not parse, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// One feature file (one chapter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureReport {
    /// Its name.
    pub name: String,
    /// Its file, relative to the checkout when possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its tags (`@chapter-7`, …).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its scenarios.
    pub scenarios: Vec<ScenarioReport>,
}

/// One scenario (one example row of an outline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Its name.
    pub name: String,
    /// Its line in the feature file.
    pub line: usize,
    /// Its tags, the feature's included.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Every attempt (more than one with `--retry`).
    pub attempts: Vec<Attempt>,
}

/// One attempt at a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started.
    pub started: Timestamp,
    /// When it finished.
    pub finished: Timestamp,
    /// Passed, failed or skipped.
    pub status: Status,
    /// Its steps (background first), including those that did not run.
    pub steps: Vec<StepReport>,
    /// Failures of the before/after hooks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hook_errors: Vec<String>,
    /// What the scenario logged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    /// What its lab recorded (absent if the lab could not be created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab: Option<LabRecord>,
}

impl Attempt {
    /// How long it took.
    #[must_use]
    pub fn duration(&self) -> Duration {
        crate::timeline::duration_between(self.started, self.finished)
    }

    /// The step that failed, if one did.
    #[must_use]
    pub fn failed_step(&self) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.status == Status::Failed)
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// `Given `, `When `, `Then `, `And `, …
    pub keyword: String,
    /// The step's text.
    pub text: String,
    /// Its line.
    pub line: usize,
    /// Whether it comes from the feature's background.
    #[serde(default)]
    pub background: bool,
    /// Its status.
    pub status: Status,
    /// How long it ran, in seconds.
    #[serde(default)]
    pub duration_s: f64,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The last command a scenario ran (for failure messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCommand {
    /// The command line (redacted).
    pub command: String,
    /// How it ended.
    pub ending: String,
    /// The end of what it printed (redacted).
    pub tail: String,
}

/// One file of a diagnostics bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticItem {
    /// What it shows ("kubelet journal of k8s-labs-m02").
    pub title: String,
    /// The command that produced it (redacted), or why none could run.
    pub command: String,
    /// Its file, relative to the reports folder, if it could be collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Why it is missing or incomplete ("no cluster API yet", "exit 1").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a failed scenario's diagnostics bundle holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticsRecord {
    /// Its folder, relative to the reports folder.
    pub dir: String,
    /// Its files, in the order they were collected.
    pub items: Vec<DiagnosticItem>,
}

/// What one scenario's lab recorded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LabRecord {
    /// The scenario's folder, relative to the reports folder.
    pub dir: String,
    /// The minikube profile it used.
    pub profile: String,
    /// Its transcript (`transcript.txt`), relative to the reports folder.
    pub transcript: String,
    /// Its timeline (`timeline.jsonl`), relative to the reports folder, if anything was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<String>,
    /// Its marks, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<(String, Timestamp)>,
    /// Named outcomes (`containerd on k8s-labs-m02` → `v1.7.13`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outcomes: BTreeMap<String, String>,
    /// Measured durations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    /// Claims.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
    /// The cluster it ran on, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterEnvironment>,
    /// Its diagnostics bundle (failed scenarios).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<DiagnosticsRecord>,
    /// The last command it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_command: Option<LastCommand>,
    /// What went wrong while recording (a timeline that could not be written, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl ScenarioReport {
    /// The scenario's outcome over its attempts: the last attempt's status, or `flaky` when an
    /// earlier attempt failed and the last passed.
    #[must_use]
    pub fn status(&self) -> Status {
        let Some(last) = self.attempts.last() else {
            return Status::NotRun;
        };
        if last.status == Status::Passed
            && self.attempts[..self.attempts.len() - 1]
                .iter()
                .any(|a| a.status == Status::Failed)
        {
            Status::Flaky
        } else {
            last.status
        }
    }

    /// The last attempt.
    #[must_use]
    pub fn last(&self) -> Option<&Attempt> {
        self.attempts.last()
    }

    /// From the first attempt's start to the last one's end.
    #[must_use]
    pub fn duration(&self) -> Duration {
        match (self.attempts.first(), self.attempts.last()) {
            (Some(a), Some(b)) => crate::timeline::duration_between(a.started, b.finished),
            _ => Duration::ZERO,
        }
    }
}

/// Counts of scenario outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Passed after a retry.
    pub flaky: usize,
    /// Skipped or not run.
    pub skipped: usize,
}

impl Counts {
    /// All scenarios.
    #[must_use]
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.flaky + self.skipped
    }

    fn add(&mut self, status: Status) {
        match status {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::Flaky => self.flaky += 1,
            Status::Skipped | Status::NotRun => self.skipped += 1,
        }
    }
}

impl RunReport {
    /// Scenario outcome counts.
    #[must_use]
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in self.features.iter().flat_map(|f| &f.scenarios) {
            c.add(s.status());
        }
        c
    }

    /// How long the run took.
    #[must_use]
    pub fn duration(&self) -> Duration {
        crate::timeline::duration_between(self.started, self.finished)
    }

    /// Every claim of the run's last attempts, with the feature and scenario it belongs to.
    pub fn claims(&self) -> impl Iterator<Item = (&FeatureReport, &ScenarioReport, &Claim)> {
        self.features.iter().flat_map(|f| {
            f.scenarios.iter().flat_map(move |s| {
                s.last()
                    .and_then(|a| a.lab.as_ref())
                    .into_iter()
                    .flat_map(move |lab| lab.claims.iter().map(move |c| (f, s, c)))
            })
        })
    }

    /// Every measurement of the run's last attempts.
    pub fn measurements(
        &self,
    ) -> impl Iterator<Item = (&FeatureReport, &ScenarioReport, &Measurement)> {
        self.features.iter().flat_map(|f| {
            f.scenarios.iter().flat_map(move |s| {
                s.last()
                    .and_then(|a| a.lab.as_ref())
                    .into_iter()
                    .flat_map(move |lab| lab.measurements.iter().map(move |m| (f, s, m)))
            })
        })
    }

    /// Claims by verdict.
    #[must_use]
    pub fn claim_counts(&self) -> BTreeMap<Verdict, usize> {
        let mut out = BTreeMap::new();
        for (_, _, c) in self.claims() {
            *out.entry(c.verdict()).or_insert(0) += 1;
        }
        out
    }

    /// The Kubernetes version it ran against: the one the cluster reported, else the one
    /// requested (`1.33 (requested)`).
    #[must_use]
    pub fn kubernetes_version(&self) -> String {
        self.environment
            .cluster
            .as_ref()
            .and_then(|c| c.kubernetes_version.clone())
            .unwrap_or_else(|| format!("{} (requested)", self.environment.requested_k8s_version))
    }

    /// Reads `run.json`.
    ///
    /// # Errors
    /// A message naming the file when it cannot be read or is not a run report.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not a k8s-labs run report (run.json schema {SCHEMA}): {e}",
                path.display()
            )
        })
    }
}
