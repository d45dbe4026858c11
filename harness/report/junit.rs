//! JUnit XML from the run report, with quick-junit: one testsuite per feature, one testcase per
//! scenario. A scenario that failed and then passed on a retry is a success with Surefire's
//! `<flakyFailure>` for each failed attempt (GitHub's action-junit-report and Jenkins read them);
//! one that kept failing carries its earlier attempts as `<rerunFailure>`. A failure's message names
//! the failing step and its error; its text adds the last command and the end of its output, and
//! where the diagnostics bundle is. Measured timings, claims and the environment are properties
//! of the suite (the JUnit schema has no properties on test cases).

use std::fmt::Write as _;

use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::model::{Attempt, FeatureReport, RunReport, ScenarioReport, Status};

/// The environment as `env.*` properties.
fn environment_properties(report: &RunReport) -> Vec<Property> {
    let env = &report.environment;
    let mut props = vec![
        Property::new("env.k8s-labs", &env.labs_version),
        Property::new("env.provider", &env.provider),
        Property::new("env.kubernetes.requested", &env.requested_k8s_version),
        Property::new("env.timing-profile", &env.timing_profile),
    ];
    let mut opt = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            props.push(Property::new(name, v));
        }
    };
    opt("env.commit", &env.commit);
    opt("env.provider.version", &env.provider_version);
    opt("env.kubectl", &env.kubectl_version);
    opt("env.os", &env.os);
    if let Some(c) = &env.cluster {
        let mut opt = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                props.push(Property::new(name, v));
            }
        };
        opt("env.kubernetes", &c.kubernetes_version);
        opt("env.kubectl.client", &c.kubectl_client);
        opt("env.etcd", &c.etcd_version);
        opt("env.cni", &c.cni);
        opt("env.ingress", &c.ingress);
        for (node, runtime) in &c.container_runtimes {
            props.push(Property::new(format!("env.runtime.{node}"), runtime));
        }
        for (name, value) in &c.timing {
            props.push(Property::new(
                format!("env.timing.{name}"),
                format!("{} ({})", value.value, value.source),
            ));
        }
    }
    props
}

/// Measurements and claims of the scenario's last attempt as properties.
fn scenario_properties(scenario: &ScenarioReport) -> Vec<Property> {
    let Some(lab) = scenario.last().and_then(|a| a.lab.as_ref()) else {
        return Vec::new();
    };
    let mut props = Vec::new();
    for m in &lab.measurements {
        let value = m
            .value
            .map_or_else(|| "not measured".to_string(), crate::claims::human);
        let expected = m
            .expected
            .as_ref()
            .map(|e| format!(", expected {e} ({})", e.source))
            .unwrap_or_default();
        props.push(Property::new(
            format!("timing.{}.{}", scenario.name, m.name),
            format!("{value}{expected}: {}", m.verdict()),
        ));
    }
    for c in &lab.claims {
        props.push(Property::new(
            format!("claim.{}", c.id),
            format!(
                "{}: measured {}, expected {} ({})",
                c.verdict_text(),
                c.measured,
                c.expected,
                c.expected.source()
            ),
        ));
    }
    props
}

/// One line about why `attempt` failed: the failing step and the first line of its error.
fn failure_message(attempt: &Attempt) -> String {
    if let Some(step) = attempt.failed_step() {
        let first = step
            .error
            .as_deref()
            .and_then(|e| e.lines().next())
            .unwrap_or("failed");
        format!("step `{}{}` failed: {first}", step.keyword, step.text)
    } else if let Some(hook) = attempt.hook_errors.first() {
        hook.lines().next().unwrap_or("hook failed").to_string()
    } else {
        "failed".to_string()
    }
}

/// The full story of a failed attempt.
fn failure_text(attempt: &Attempt) -> String {
    let mut s = String::new();
    if let Some(step) = attempt.failed_step() {
        let _ = writeln!(
            s,
            "Failed step (line {}): {}{}",
            step.line, step.keyword, step.text
        );
        if let Some(e) = &step.error {
            let _ = writeln!(s, "Error:\n{e}");
        }
    }
    for hook in &attempt.hook_errors {
        let _ = writeln!(s, "{hook}");
    }
    if let Some(lab) = &attempt.lab {
        if let Some(last) = &lab.last_command {
            let _ = writeln!(
                s,
                "\nLast command: {}\nEnded: {}\nEnd of its output:\n{}",
                last.command, last.ending, last.tail
            );
        }
        let _ = writeln!(s, "\nTranscript: {}", lab.transcript);
        if let Some(d) = &lab.diagnostics {
            let _ = writeln!(s, "Diagnostics: {}/", d.dir);
        }
    }
    s
}

/// The steps, measurements and claims of an attempt, for `<system-out>`.
fn attempt_log(attempt: &Attempt) -> String {
    let mut s = String::new();
    for step in &attempt.steps {
        let _ = writeln!(
            s,
            "[{}] {}{} ({:.3}s)",
            step.status, step.keyword, step.text, step.duration_s
        );
    }
    if let Some(lab) = &attempt.lab {
        for m in &lab.measurements {
            match m.value {
                Some(v) => {
                    let _ = writeln!(
                        s,
                        "measured {}: {} ({})",
                        m.name,
                        crate::claims::human(v),
                        m.verdict()
                    );
                }
                None => {
                    let why = m.note.as_deref().unwrap_or("the transition did not come");
                    let _ = writeln!(s, "measured {}: nothing ({why})", m.name);
                }
            }
        }
        for c in &lab.claims {
            let _ = writeln!(s, "claim {}: {} — {:?}", c.id, c.verdict_text(), c.text);
        }
        let _ = writeln!(s, "transcript: {}", lab.transcript);
        if let Some(t) = &lab.timeline {
            let _ = writeln!(s, "timeline: {t}");
        }
        if let Some(d) = &lab.diagnostics {
            let _ = writeln!(s, "diagnostics: {}/", d.dir);
        }
    }
    s
}

fn rerun(attempt: &Attempt) -> TestRerun {
    let mut r = TestRerun::new(NonSuccessKind::Failure);
    r.set_time(attempt.duration())
        .set_message(failure_message(attempt))
        .set_type(failure_type(attempt))
        .set_stack_trace(failure_text(attempt));
    r
}

fn failure_type(attempt: &Attempt) -> &'static str {
    if attempt.failed_step().is_some() {
        "step failed"
    } else {
        "hook failed"
    }
}

fn test_case(feature: &FeatureReport, scenario: &ScenarioReport) -> TestCase {
    let Some(last) = scenario.last() else {
        return TestCase::new(&scenario.name, TestCaseStatus::skipped());
    };
    let earlier = &scenario.attempts[..scenario.attempts.len() - 1];
    let failed_before: Vec<TestRerun> = earlier
        .iter()
        .filter(|a| a.status == Status::Failed)
        .map(rerun)
        .collect();
    let status = match scenario.status() {
        Status::Passed => TestCaseStatus::success(),
        Status::Flaky => TestCaseStatus::Success {
            flaky_runs: failed_before,
        },
        Status::Failed => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(failure_message(last))
                .set_type(failure_type(last))
                .set_description(failure_text(last))
                .add_reruns(failed_before)
                .set_rerun_kind(FlakyOrRerun::Rerun);
            st
        }
        Status::Skipped | Status::NotRun => {
            let mut st = TestCaseStatus::skipped();
            st.set_message("a step was skipped");
            st
        }
    };
    let mut case = TestCase::new(&scenario.name, status);
    case.set_classname(&feature.name)
        .set_time(last.duration())
        .set_system_out(attempt_log(last));
    case
}

/// The JUnit XML document.
///
/// # Errors
/// quick-junit's serialisation error, as text.
pub fn render(report: &RunReport) -> Result<String, String> {
    let mut junit = Report::new(format!("k8s-labs {}", report.run_id));
    junit.set_time(report.duration());
    let env = environment_properties(report);
    for feature in &report.features {
        let mut suite = TestSuite::new(&feature.name);
        suite.add_properties(env.iter().cloned());
        for scenario in &feature.scenarios {
            suite.add_properties(scenario_properties(scenario));
            suite.add_test_case(test_case(feature, scenario));
        }
        suite.set_time(feature.scenarios.iter().map(ScenarioReport::duration).sum());
        junit.add_test_suite(suite);
    }
    junit.to_string().map_err(|e| e.to_string())
}
