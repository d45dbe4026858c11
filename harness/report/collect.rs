//! A cucumber writer that collects the run's results (features, scenarios with every retry, steps
//! with durations and errors) for [`RunReport`](super::RunReport). It sits in the labs' writer
//! chain next to the terminal output and cucumber's JSON, after `fail_on_skipped` (so an undefined
//! step is a failure here too).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cucumber::event::{self, Cucumber, Feature, Rule};
use cucumber::gherkin;
use cucumber::{Event, World, Writer, cli, parser};
use jiff::Timestamp;

use super::environment::Environment;
use super::model::{
    Attempt, FeatureReport, LabRecord, RunReport, ScenarioReport, Status, StepReport,
};

/// The key of a feature: its file when it has one, else its name.
#[must_use]
pub fn feature_key(feature: &gherkin::Feature) -> String {
    feature
        .path
        .as_ref()
        .map_or_else(|| feature.name.clone(), |p| p.display().to_string())
}

/// Identifies a scenario across the cucumber events and the lab's hooks: the feature's key and
/// the scenario's line (an outline's example rows have lines of their own).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScenarioKey {
    /// [`feature_key`].
    pub feature: String,
    /// The scenario's line.
    pub line: usize,
}

impl ScenarioKey {
    /// The key of `scenario` in `feature`.
    #[must_use]
    pub fn of(feature: &gherkin::Feature, scenario: &gherkin::Scenario) -> Self {
        Self {
            feature: feature_key(feature),
            line: scenario.position.line,
        }
    }
}

#[derive(Debug, Default)]
struct Collected {
    started: Option<Timestamp>,
    finished: Option<Timestamp>,
    features: Vec<(String, FeatureReport)>,
    step_started: BTreeMap<(String, usize, bool, usize), Timestamp>,
    problems: Vec<String>,
}

/// The collecting writer. Cheap to clone; clones share what was collected.
#[derive(Debug, Clone, Default)]
pub struct Collector {
    inner: Arc<Mutex<Collected>>,
}

fn ts(at: SystemTime) -> Timestamp {
    Timestamp::try_from(at).unwrap_or_else(|_| Timestamp::now())
}

/// cucumber wraps a step's panic (and a returned `Err`, which it turns into one) as "Step
/// panicked. Captured output: …": keep the message.
fn step_error(err: &event::StepError) -> String {
    let text = err.to_string();
    text.strip_prefix("Step panicked. Captured output: ")
        .map_or(text.clone(), str::to_string)
}

impl Collector {
    /// A collector with nothing collected.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Collected> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Builds the run report from what was collected, each attempt with its lab's record (the
    /// `n`-th attempt of a scenario gets the `n`-th record under its key).
    #[must_use]
    pub fn report(
        &self,
        run_id: &str,
        environment: Environment,
        mut labs: BTreeMap<ScenarioKey, Vec<LabRecord>>,
    ) -> RunReport {
        let data = self.data();
        let mut features = Vec::new();
        for (key, feature) in &data.features {
            let mut feature = feature.clone();
            for scenario in &mut feature.scenarios {
                let records = labs
                    .remove(&ScenarioKey {
                        feature: key.clone(),
                        line: scenario.line,
                    })
                    .unwrap_or_default();
                for (attempt, record) in scenario.attempts.iter_mut().zip(records) {
                    attempt.lab = Some(record);
                }
            }
            features.push(feature);
        }
        let now = Timestamp::now();
        RunReport {
            schema: super::model::SCHEMA,
            run_id: run_id.to_string(),
            started: data.started.unwrap_or(now),
            finished: data.finished.unwrap_or(now),
            environment,
            features,
            problems: data.problems.clone(),
        }
    }

    fn feature<'a>(
        features: &'a mut Vec<(String, FeatureReport)>,
        feature: &gherkin::Feature,
    ) -> (&'a mut FeatureReport, String) {
        let key = feature_key(feature);
        let i = match features.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                features.push((
                    key.clone(),
                    FeatureReport {
                        name: feature.name.clone(),
                        path: feature.path.as_ref().map(|p| relative(p)),
                        tags: feature.tags.iter().map(|t| format!("@{t}")).collect(),
                        scenarios: Vec::new(),
                    },
                ));
                features.len() - 1
            }
        };
        (&mut features[i].1, key)
    }

    fn scenario_event<W>(
        &self,
        feature: &gherkin::Feature,
        rule: Option<&gherkin::Rule>,
        scenario: &gherkin::Scenario,
        ev: event::Scenario<W>,
        at: Timestamp,
    ) {
        let mut data = self.data();
        let data = &mut *data;
        let (report, key) = Self::feature(&mut data.features, feature);
        let line = scenario.position.line;
        let sc = match report.scenarios.iter().position(|s| s.line == line) {
            Some(i) => &mut report.scenarios[i],
            None => {
                let mut tags: Vec<String> = feature.tags.iter().map(|t| format!("@{t}")).collect();
                if let Some(r) = rule {
                    tags.extend(r.tags.iter().map(|t| format!("@{t}")));
                }
                tags.extend(scenario.tags.iter().map(|t| format!("@{t}")));
                report.scenarios.push(ScenarioReport {
                    name: scenario.name.clone(),
                    line,
                    tags,
                    attempts: Vec::new(),
                });
                report.scenarios.last_mut().expect("just pushed")
            }
        };
        match ev {
            event::Scenario::Started => {
                let background = feature
                    .background
                    .iter()
                    .chain(rule.and_then(|r| r.background.as_ref()))
                    .flat_map(|b| b.steps.iter())
                    .map(|s| (s, true));
                let steps = background
                    .chain(scenario.steps.iter().map(|s| (s, false)))
                    .map(|(s, bg)| StepReport {
                        keyword: s.keyword.clone(),
                        text: s.value.clone(),
                        line: s.position.line,
                        background: bg,
                        status: Status::NotRun,
                        duration_s: 0.0,
                        error: None,
                    })
                    .collect();
                sc.attempts.push(Attempt {
                    started: at,
                    finished: at,
                    status: Status::Passed,
                    steps,
                    hook_errors: Vec::new(),
                    logs: Vec::new(),
                    lab: None,
                });
            }
            event::Scenario::Hook(ty, event::Hook::Failed(_, info)) => {
                if let Some(attempt) = sc.attempts.last_mut() {
                    let msg = panic_text(&info);
                    attempt.hook_errors.push(format!("{ty} hook failed: {msg}"));
                    attempt.status = Status::Failed;
                }
            }
            event::Scenario::Hook(..) => {}
            event::Scenario::Background(step, ev) => {
                Self::step_event(&mut data.step_started, &key, line, sc, &step, true, ev, at);
            }
            event::Scenario::Step(step, ev) => {
                Self::step_event(&mut data.step_started, &key, line, sc, &step, false, ev, at);
            }
            event::Scenario::Log(msg) => {
                if let Some(attempt) = sc.attempts.last_mut() {
                    attempt.logs.push(msg);
                }
            }
            event::Scenario::Finished => {
                if let Some(attempt) = sc.attempts.last_mut() {
                    attempt.finished = at;
                    if attempt.steps.iter().any(|s| s.status == Status::Failed) {
                        attempt.status = Status::Failed;
                    } else if attempt.status != Status::Failed
                        && attempt.steps.iter().any(|s| s.status == Status::Skipped)
                    {
                        attempt.status = Status::Skipped;
                    }
                }
            }
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one place that files a step event"
    )]
    fn step_event<W>(
        started: &mut BTreeMap<(String, usize, bool, usize), Timestamp>,
        key: &str,
        line: usize,
        sc: &mut ScenarioReport,
        step: &gherkin::Step,
        background: bool,
        ev: event::Step<W>,
        at: Timestamp,
    ) {
        let id = (key.to_string(), line, background, step.position.line);
        let Some(attempt) = sc.attempts.last_mut() else {
            return;
        };
        let Some(report) = attempt
            .steps
            .iter_mut()
            .find(|s| s.line == step.position.line && s.background == background)
        else {
            return;
        };
        let (status, error) = match ev {
            event::Step::Started => {
                started.insert(id, at);
                return;
            }
            event::Step::Passed(..) => (Status::Passed, None),
            event::Step::Skipped => (Status::Skipped, None),
            event::Step::Failed(_, loc, _, err) => {
                let location = loc
                    .map(|l| format!(" (step defined at {}:{})", l.path, l.line))
                    .unwrap_or_default();
                (
                    Status::Failed,
                    Some(format!("{}{location}", step_error(&err))),
                )
            }
        };
        let began = started.remove(&id).unwrap_or(at);
        report.status = status;
        report.error = error;
        report.duration_s = crate::timeline::duration_between(began, at).as_secs_f64();
    }
}

/// The text of a hook's panic.
fn panic_text(info: &event::Info) -> String {
    if let Some(s) = info.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = info.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "(the hook panicked with a value that is not text)".to_string()
    }
}

/// `path` relative to the current directory when it is inside it.
fn relative(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

impl<W: World> Writer<W> for Collector {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, event: parser::Result<Event<Cucumber<W>>>, _: &Self::Cli) {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                self.data()
                    .problems
                    .push(format!("cannot read a feature: {e}"));
                return;
            }
        };
        let at = ts(event.at);
        match event.value {
            Cucumber::Started => self.data().started = Some(at),
            Cucumber::Finished => self.data().finished = Some(at),
            Cucumber::Feature(f, Feature::Started) => {
                let mut data = self.data();
                let _ = Self::feature(&mut data.features, &f);
            }
            Cucumber::Feature(f, Feature::Scenario(sc, ev)) => {
                self.scenario_event(&f, None, &sc, ev.event, at);
            }
            Cucumber::Feature(f, Feature::Rule(r, Rule::Scenario(sc, ev))) => {
                self.scenario_event(&f, Some(&r), &sc, ev.event, at);
            }
            _ => {}
        }
    }
}

impl cucumber::writer::NonTransforming for Collector {}
