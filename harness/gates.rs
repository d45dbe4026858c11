//! Version gates: `@k8s(...)` tags that say which Kubernetes versions a scenario describes.
//!
//! A gate is a tag such as `@k8s(>=1.27)`, `@k8s(<1.32)` or `@k8s(>=1.27,<1.32)` (comparisons
//! joined by `,` must all hold) on a feature, a rule, a scenario, or an outline's `Examples:` block
//! (cucumber copies an `Examples:` block's tags onto the scenarios it expands to, so one outline
//! can hold one `Examples:` block per version range: that is how a step's expectation varies by
//! version). All gates that apply to a scenario must hold.
//!
//! cucumber's own `--tags` filter runs before anything else and silently drops what it does not
//! select, so gates are not tags to filter on: [`Gated`] wraps the feature parser and, for the
//! run's `--k8s-version`, rewrites each scenario whose gates do not hold into one step that no
//! step definition matches, `Given skipped: <reason>`. cucumber reports it as skipped, with the
//! reason in the step text (terminal, cucumber JSON, JUnit), and [`should_fail_on_skipped`]
//! (given to cucumber's `fail_on_skipped_with`) does not turn that skip into a failure, while any
//! other skipped step still fails the run. A background would still run before a skipped
//! scenario, so in a feature or rule where a scenario is gated out the background's steps are
//! moved into the scenarios that do run (same order, same effect). A malformed gate skips its
//! scenario *without* that exemption: the run fails and names the tag.

use std::fmt;
use std::pin::Pin;

use cucumber::gherkin;
use cucumber::parser::{self, Parser};
use futures::{Stream, StreamExt as _};

use crate::versions::K8sVersion;

/// The tag cucumber sees on a scenario this module skipped because of its gates.
pub const GATED_TAG: &str = "k8s-gated";
/// The tag that lets a scenario's skipped steps pass (cucumber's own convention).
pub const ALLOW_SKIPPED_TAG: &str = "allow.skipped";

/// A gate that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// The tag is `@k8s(...)` but what is inside is not a list of comparisons.
    #[error(
        "version gate @{tag} cannot be read: {problem}; write comparisons such as @k8s(>=1.27) or @k8s(>=1.27,<1.32)"
    )]
    Malformed {
        /// The tag (without `@`).
        tag: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `=`
    Eq,
}

impl Op {
    const fn symbol(self) -> &'static str {
        match self {
            Self::Ge => ">=",
            Self::Gt => ">",
            Self::Le => "<=",
            Self::Lt => "<",
            Self::Eq => "=",
        }
    }
}

/// Versions a scenario applies to: every comparison must hold. Versions are compared by minor;
/// the bound need not be a version the labs support (`<1.40` is fine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReq {
    clauses: Vec<(Op, u32)>,
}

impl VersionReq {
    /// Reads the inside of a gate, e.g. `>=1.27,<1.32`.
    ///
    /// # Errors
    /// A description of what is wrong.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let clauses = spec
            .split(',')
            .map(|clause| {
                let c = clause.trim();
                let (op, rest) = [
                    (">=", Op::Ge),
                    ("<=", Op::Le),
                    (">", Op::Gt),
                    ("<", Op::Lt),
                    ("=", Op::Eq),
                ]
                .iter()
                .find_map(|(s, op)| c.strip_prefix(s).map(|rest| (*op, rest)))
                .ok_or_else(|| format!("{c:?} does not start with >=, >, <=, < or ="))?;
                let rest = rest.trim().trim_start_matches('v');
                let minor = rest
                    .strip_prefix("1.")
                    .and_then(|m| m.parse::<u32>().ok())
                    .ok_or_else(|| format!("{rest:?} is not a Kubernetes version 1.Y"))?;
                Ok((op, minor))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self { clauses })
    }

    /// Whether `version` satisfies every comparison.
    #[must_use]
    pub fn matches(&self, version: K8sVersion) -> bool {
        let v = version.minor();
        self.clauses.iter().all(|&(op, m)| match op {
            Op::Ge => v >= m,
            Op::Gt => v > m,
            Op::Le => v <= m,
            Op::Lt => v < m,
            Op::Eq => v == m,
        })
    }
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .clauses
            .iter()
            .map(|(op, m)| format!("{}1.{m}", op.symbol()))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// If `tag` (without `@`) is a version gate, its requirement.
///
/// # Errors
/// [`GateError::Malformed`] for `k8s(...)` tags that cannot be read.
pub fn gate_of(tag: &str) -> Result<Option<VersionReq>, GateError> {
    let Some(inner) = tag.strip_prefix("k8s(") else {
        return Ok(None);
    };
    let malformed = |problem: String| GateError::Malformed {
        tag: tag.to_string(),
        problem,
    };
    let inner = inner
        .strip_suffix(')')
        .ok_or_else(|| malformed("it does not end with `)`".into()))?;
    VersionReq::parse(inner).map(Some).map_err(malformed)
}

/// What the gates of one scenario decide for one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run it.
    Run,
    /// Skip it: the reason names the gates and the version.
    Skip(String),
    /// A gate is malformed: skip it and fail the run.
    Invalid(GateError),
}

/// Decides a scenario from all the tags that apply to it (feature, rule, and the scenario's own,
/// which after cucumber expands an outline include its `Examples:` block's tags).
#[must_use]
pub fn decide<'a>(tags: impl IntoIterator<Item = &'a String>, version: K8sVersion) -> Decision {
    let mut unmet = Vec::new();
    for tag in tags {
        match gate_of(tag) {
            Ok(None) => {}
            Ok(Some(req)) if req.matches(version) => {}
            Ok(Some(req)) => {
                let text = format!("Kubernetes {req}");
                if !unmet.contains(&text) {
                    unmet.push(text);
                }
            }
            Err(e) => return Decision::Invalid(e),
        }
    }
    if unmet.is_empty() {
        Decision::Run
    } else {
        Decision::Skip(format!(
            "this scenario describes {}; this run targets Kubernetes {version} (--k8s-version)",
            unmet.join(" and ")
        ))
    }
}

/// Applies the gates of every scenario of `feature` for `version` (see the module docs).
#[must_use]
pub fn gate_feature(mut feature: gherkin::Feature, version: K8sVersion) -> gherkin::Feature {
    let feature_tags = feature.tags.clone();
    let feature_background = feature.background.take();
    let mut any_gated = false;
    for scenario in &mut feature.scenarios {
        any_gated |= gate_scenario(scenario, &feature_tags, &[], version);
    }
    for rule in &mut feature.rules {
        let rule_tags = rule.tags.clone();
        let rule_background = rule.background.take();
        let mut rule_gated = false;
        for scenario in &mut rule.scenarios {
            rule_gated |= gate_scenario(scenario, &feature_tags, &rule_tags, version);
        }
        if rule_gated {
            inline_background(&mut rule.scenarios, rule_background.as_ref());
        } else {
            rule.background = rule_background;
        }
        any_gated |= rule_gated;
    }
    if any_gated {
        inline_background(&mut feature.scenarios, feature_background.as_ref());
        for rule in &mut feature.rules {
            inline_background(&mut rule.scenarios, feature_background.as_ref());
        }
    } else {
        feature.background = feature_background;
    }
    feature
}

/// Rewrites `scenario` if its gates say so; returns whether it was rewritten.
fn gate_scenario(
    scenario: &mut gherkin::Scenario,
    feature_tags: &[String],
    rule_tags: &[String],
    version: K8sVersion,
) -> bool {
    let decision = decide(
        feature_tags.iter().chain(rule_tags).chain(&scenario.tags),
        version,
    );
    let text = match decision {
        Decision::Run => return false,
        Decision::Skip(reason) => {
            scenario.tags.push(GATED_TAG.to_string());
            format!("skipped: {reason}")
        }
        Decision::Invalid(e) => format!("skipped: {e}"),
    };
    let (span, position) = (scenario.span, scenario.position);
    scenario.steps = vec![gherkin::Step {
        keyword: "Given ".to_string(),
        ty: gherkin::StepType::Given,
        value: text,
        docstring: None,
        table: None,
        span,
        position,
    }];
    true
}

/// Puts `background`'s steps in front of the steps of every scenario that was not gated out.
fn inline_background(
    scenarios: &mut [gherkin::Scenario],
    background: Option<&gherkin::Background>,
) {
    let Some(background) = background else { return };
    for scenario in scenarios {
        if is_rewritten(scenario) {
            continue;
        }
        let mut steps = background.steps.clone();
        steps.append(&mut scenario.steps);
        scenario.steps = steps;
    }
}

fn is_rewritten(scenario: &gherkin::Scenario) -> bool {
    matches!(scenario.steps.as_slice(), [only] if only.value.starts_with("skipped: "))
}

/// Whether a skipped step of this scenario fails the run: yes, unless the scenario was gated out
/// by version, or carries `@allow.skipped` (on itself, its rule or its feature). Give it to
/// cucumber's `fail_on_skipped_with`.
#[must_use]
pub fn should_fail_on_skipped(
    feature: &gherkin::Feature,
    rule: Option<&gherkin::Rule>,
    scenario: &gherkin::Scenario,
) -> bool {
    let mut tags = scenario
        .tags
        .iter()
        .chain(rule.iter().flat_map(|r| &r.tags))
        .chain(&feature.tags);
    !tags.any(|t| t == GATED_TAG || t == ALLOW_SKIPPED_TAG)
}

/// A feature parser that applies version gates for one Kubernetes version (see the module docs).
#[derive(Debug, Clone)]
pub struct Gated<P> {
    inner: P,
    version: K8sVersion,
}

impl<P> Gated<P> {
    /// Wraps `inner` (cucumber's basic parser) for `version` (the run's `--k8s-version`).
    #[must_use]
    pub fn new(inner: P, version: K8sVersion) -> Self {
        Self { inner, version }
    }
}

impl<I, P: Parser<I>> Parser<I> for Gated<P> {
    type Cli = P::Cli;
    type Output = Pin<Box<dyn Stream<Item = parser::Result<gherkin::Feature>>>>;

    fn parse(self, input: I, cli: Self::Cli) -> Self::Output {
        let version = self.version;
        Box::pin(
            self.inner
                .parse(input, cli)
                .map(move |feature| feature.map(|f| gate_feature(f, version))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(minor: u32) -> K8sVersion {
        K8sVersion::from_minor(minor).unwrap()
    }

    fn feature(text: &str) -> gherkin::Feature {
        gherkin::Feature::parse(text, gherkin::GherkinEnv::default()).expect("valid gherkin")
    }

    /// Feature → scenario name → step texts, for assertions.
    fn outline(f: &gherkin::Feature) -> String {
        let mut out = String::new();
        if let Some(b) = &f.background {
            out.push_str(&format!("background: {:?}\n", step_texts(&b.steps)));
        }
        for s in &f.scenarios {
            out.push_str(&format!(
                "{} {:?}: {:?}\n",
                s.name,
                s.tags,
                step_texts(&s.steps)
            ));
        }
        for r in &f.rules {
            if let Some(b) = &r.background {
                out.push_str(&format!(
                    "rule {} background: {:?}\n",
                    r.name,
                    step_texts(&b.steps)
                ));
            }
            for s in &r.scenarios {
                out.push_str(&format!(
                    "rule {} / {} {:?}: {:?}\n",
                    r.name,
                    s.name,
                    s.tags,
                    step_texts(&s.steps)
                ));
            }
        }
        out
    }

    fn step_texts(steps: &[gherkin::Step]) -> Vec<String> {
        steps.iter().map(|s| s.value.clone()).collect()
    }

    #[test]
    fn requirements_parse_and_match_by_minor() {
        let req = gate_of("k8s(>=1.27,<1.32)").unwrap().unwrap();
        assert_eq!(req.to_string(), ">=1.27,<1.32");
        let matched: Vec<u32> = K8sVersion::all()
            .filter(|&x| req.matches(x))
            .map(K8sVersion::minor)
            .collect();
        assert_eq!(matched, (27..32).collect::<Vec<_>>());
        assert!(gate_of("k8s(=1.26)").unwrap().unwrap().matches(v(26)));
        assert!(!gate_of("k8s(>1.36)").unwrap().unwrap().matches(v(36)));
        assert!(gate_of("k8s(<=v1.30)").unwrap().unwrap().matches(v(30)));
        assert_eq!(gate_of("chapter-2"), Ok(None));
        assert_eq!(gate_of("k8s"), Ok(None));
    }

    #[test]
    fn malformed_gates_say_what_is_wrong() {
        for (tag, problem) in [
            ("k8s(>=1.27", "does not end with `)`"),
            ("k8s(1.27)", "\"1.27\" does not start with"),
            ("k8s(>=2.0)", "\"2.0\" is not a Kubernetes version"),
            ("k8s(>=1.x)", "\"1.x\" is not a Kubernetes version"),
            ("k8s()", "\"\" does not start with"),
        ] {
            let err = gate_of(tag).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("version gate @{tag} cannot be read")),
                "{err}"
            );
            assert!(err.contains(problem), "{tag}: {err}");
        }
    }

    const FEATURE: &str = r"@chapter-7
Feature: Resiliency
  Background:
    Given a cluster

  @k8s(<1.27)
  Scenario: The old flag
    When kube-controller-manager gets --pod-eviction-timeout
    Then it starts

  Scenario: Always
    Then the nodes are Ready

  Scenario Outline: Scaling events
    When the reader scales to <n>
    Then an event says <message>

    @k8s(<1.31)
    Examples: before the reorder
      | n | message  |
      | 5 | to 5     |

    @k8s(>=1.31)
    Examples: after the reorder
      | n | message     |
      | 5 | from 2 to 5 |
";

    #[test]
    fn gated_scenarios_become_one_skipped_step_and_the_background_moves_into_the_others() {
        let gated = gate_feature(feature(FEATURE).expand_examples_for_test(), v(33));
        insta::assert_snapshot!(outline(&gated), @r#"
        The old flag ["k8s(<1.27)", "k8s-gated"]: ["skipped: this scenario describes Kubernetes <1.27; this run targets Kubernetes 1.33 (--k8s-version)"]
        Always []: ["a cluster", "the nodes are Ready"]
        Scaling events ["k8s(<1.31)", "k8s-gated"]: ["skipped: this scenario describes Kubernetes <1.31; this run targets Kubernetes 1.33 (--k8s-version)"]
        Scaling events ["k8s(>=1.31)"]: ["a cluster", "the reader scales to 5", "an event says from 2 to 5"]
        "#);
    }

    #[test]
    fn nothing_changes_when_every_gate_holds() {
        let original = feature(FEATURE).expand_examples_for_test();
        let plain = feature("Feature: F\n  Background:\n    Given a\n  Scenario: S\n    Then b\n");
        assert_eq!(gate_feature(plain.clone(), v(26)), plain);
        let gated = gate_feature(original, v(26));
        // 1.26 runs the old flag and the first examples; only the second examples are skipped.
        assert!(gated.background.is_none());
        let names: Vec<(&str, bool)> = gated
            .scenarios
            .iter()
            .map(|s| (s.name.as_str(), s.tags.iter().any(|t| t == GATED_TAG)))
            .collect();
        assert_eq!(
            names,
            [
                ("The old flag", false),
                ("Always", false),
                ("Scaling events", false),
                ("Scaling events", true)
            ]
        );
    }

    #[test]
    fn feature_and_rule_gates_apply_to_their_scenarios() {
        let text = "@k8s(>=1.30)\nFeature: F\n  Rule: R\n    Background:\n      Given rb\n    @k8s(<1.32)\n    Scenario: A\n      Then a\n    Scenario: B\n      Then b\n";
        insta::assert_snapshot!(outline(&gate_feature(feature(text), v(29))), @r#"
        rule R / A ["k8s(<1.32)", "k8s-gated"]: ["skipped: this scenario describes Kubernetes >=1.30; this run targets Kubernetes 1.29 (--k8s-version)"]
        rule R / B ["k8s-gated"]: ["skipped: this scenario describes Kubernetes >=1.30; this run targets Kubernetes 1.29 (--k8s-version)"]
        "#);
        insta::assert_snapshot!(outline(&gate_feature(feature(text), v(33))), @r#"
        rule R / A ["k8s(<1.32)", "k8s-gated"]: ["skipped: this scenario describes Kubernetes <1.32; this run targets Kubernetes 1.33 (--k8s-version)"]
        rule R / B []: ["rb", "b"]
        "#);
    }

    #[test]
    fn a_malformed_gate_skips_without_the_exemption_so_the_run_fails() {
        let f = gate_feature(
            feature("Feature: F\n  @k8s(1.27)\n  Scenario: S\n    Then b\n"),
            v(30),
        );
        let s = &f.scenarios[0];
        assert_eq!(s.steps.len(), 1);
        assert!(
            s.steps[0]
                .value
                .starts_with("skipped: version gate @k8s(1.27) cannot be read")
        );
        assert!(should_fail_on_skipped(&f, None, s));
    }

    #[test]
    fn only_gated_or_allowed_scenarios_may_skip() {
        let f = gate_feature(feature(FEATURE).expand_examples_for_test(), v(33));
        let fails: Vec<bool> = f
            .scenarios
            .iter()
            .map(|s| should_fail_on_skipped(&f, None, s))
            .collect();
        assert_eq!(fails, [false, true, false, true]);
        let allowed = feature("@allow.skipped\nFeature: F\n  Scenario: S\n    Then b\n");
        assert!(!should_fail_on_skipped(
            &allowed,
            None,
            &allowed.scenarios[0]
        ));
    }

    /// cucumber expands outlines in its parser (`cucumber::feature::Ext::expand_examples`); the
    /// tests do the same so they see what [`Gated`] sees.
    trait ExpandForTest {
        fn expand_examples_for_test(self) -> Self;
    }

    impl ExpandForTest for gherkin::Feature {
        fn expand_examples_for_test(self) -> Self {
            use cucumber::feature::Ext as _;
            self.expand_examples().expect("examples expand")
        }
    }
}
