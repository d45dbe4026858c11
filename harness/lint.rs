//! Checks made before a run creates anything, so that a mistake in the features or the fixtures
//! fails in a second with what to fix instead of half-way through a cluster: every feature file
//! parses, every step has exactly one definition (an undefined step names the closest defined
//! phrases), and every YAML fixture is well-formed Kubernetes objects (file, line, what was
//! expected).

use std::fmt;
use std::path::{Path, PathBuf};

use cucumber::gherkin;
use regex::Regex;

/// What the checks found wrong; each problem on its own lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LintError {
    /// Features or fixtures with problems.
    #[error("{} problem{} found before the run started (nothing was created):\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, list(.0))]
    Problems(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("- {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A feature file that does not parse as Gherkin.
    MalformedFeature {
        /// The parser's message (file, line and column, what it expected).
        detail: String,
    },
    /// A step no definition matches.
    Undefined {
        /// `file:line`.
        at: String,
        /// The step as written (`When the reader …`).
        step: String,
        /// The closest defined phrases, closest first.
        closest: Vec<String>,
    },
    /// A step more than one definition matches.
    Ambiguous {
        /// `file:line`.
        at: String,
        /// The step as written.
        step: String,
        /// The phrases that match it.
        matches: Vec<String>,
    },
    /// A YAML fixture that is not what it should be.
    Fixture {
        /// The file.
        file: PathBuf,
        /// The line (1-based), when known.
        line: Option<usize>,
        /// What was wrong and what was expected.
        detail: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedFeature { detail } => write!(f, "malformed feature file: {detail}"),
            Self::Undefined { at, step, closest } => {
                write!(f, "{at}: undefined step `{step}`")?;
                if closest.is_empty() {
                    write!(f, "; no step definitions are known")
                } else {
                    write!(f, "; the closest defined steps are:")?;
                    for c in closest {
                        write!(f, "\n    {c}")?;
                    }
                    write!(
                        f,
                        "\n  reword the step to one of them, or define it in steps/"
                    )
                }
            }
            Self::Ambiguous { at, step, matches } => {
                write!(
                    f,
                    "{at}: step `{step}` matches {} definitions:",
                    matches.len()
                )?;
                for m in matches {
                    write!(f, "\n    {m}")?;
                }
                write!(f, "\n  make the definitions' expressions disjoint")
            }
            Self::Fixture { file, line, detail } => match line {
                Some(line) => write!(f, "{}:{line}: {detail}", file.display()),
                None => write!(f, "{}: {detail}", file.display()),
            },
        }
    }
}

/// A step definition: its keyword and its regular expression.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Given, When or Then.
    pub ty: gherkin::StepType,
    /// The expression, as cucumber compiled it.
    pub regex: Regex,
}

impl Definition {
    /// The definition for people: `When the reader runs {…} on {…}`.
    #[must_use]
    pub fn phrase(&self) -> String {
        format!("{} {}", keyword(self.ty), phrase(self.regex.as_str()))
    }
}

fn keyword(ty: gherkin::StepType) -> &'static str {
    match ty {
        gherkin::StepType::Given => "Given",
        gherkin::StepType::When => "When",
        gherkin::StepType::Then => "Then",
    }
}

/// A step expression's regex for people: anchors dropped, each group (a parameter) shown as
/// `{…}`, escapes undone.
#[must_use]
pub fn phrase(regex: &str) -> String {
    let body = regex.strip_prefix('^').unwrap_or(regex);
    let body = body.strip_suffix('$').unwrap_or(body);
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    let mut depth = 0usize;
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next();
                if depth == 0
                    && let Some(n) = next
                {
                    out.push(n);
                }
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            _ if in_class => {}
            '(' => {
                if depth == 0 {
                    out.push_str("{…}");
                }
                depth += 1;
            }
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    // A quantifier on the group belongs to it.
                    while chars.peek().is_some_and(|q| matches!(q, '?' | '*' | '+')) {
                        chars.next();
                    }
                }
            }
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let swap = prev[j] + usize::from(ca != cb);
            cur[j + 1] = swap.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The `n` definitions closest to `text` (same keyword first), as phrases.
#[must_use]
pub fn closest(text: &str, ty: gherkin::StepType, defs: &[Definition], n: usize) -> Vec<String> {
    // Parameters are compared as what they replace: quoted strings and numbers become `{…}`.
    let params = Regex::new(r#""[^"]*"|'[^']*'|\b\d+\b"#).expect("a valid regex");
    let text = params.replace_all(text, "{…}");
    let mut ranked: Vec<(bool, usize, String)> = defs
        .iter()
        .map(|d| {
            let p = phrase(d.regex.as_str());
            (d.ty != ty, distance(&text, &p), d.phrase())
        })
        .collect();
    ranked.sort();
    ranked.dedup_by(|a, b| a.2 == b.2);
    ranked.into_iter().take(n).map(|(.., p)| p).collect()
}

/// Checks every step of `features` against `defs`; `at` names a step's place.
///
/// # Errors
/// [`LintError::Problems`] listing each malformed feature, undefined and ambiguous step.
pub fn check_features(
    features: &[Result<gherkin::Feature, String>],
    defs: &[Definition],
) -> Result<(), LintError> {
    let mut problems = Vec::new();
    for feature in features {
        let feature = match feature {
            Ok(f) => f,
            Err(detail) => {
                problems.push(Problem::MalformedFeature {
                    detail: detail.clone(),
                });
                continue;
            }
        };
        let file = feature
            .path
            .as_deref()
            .map_or_else(|| feature.name.clone(), |p| p.display().to_string());
        let mut steps: Vec<&gherkin::Step> = Vec::new();
        let scenarios = feature
            .scenarios
            .iter()
            .chain(feature.rules.iter().flat_map(|r| r.scenarios.iter()));
        steps.extend(feature.background.iter().flat_map(|b| b.steps.iter()));
        steps.extend(
            feature
                .rules
                .iter()
                .filter_map(|r| r.background.as_ref())
                .flat_map(|b| b.steps.iter()),
        );
        for scenario in scenarios {
            steps.extend(scenario.steps.iter());
        }
        let mut seen = std::collections::BTreeSet::new();
        for step in steps {
            if !seen.insert(step.position.line) {
                continue; // An outline's expansions share their lines.
            }
            let at = format!("{file}:{}", step.position.line);
            let written = format!("{} {}", step.keyword.trim(), step.value);
            let matching: Vec<&Definition> = defs
                .iter()
                .filter(|d| d.ty == step.ty && d.regex.is_match(&step.value))
                .collect();
            match matching.len() {
                1 => {}
                0 => problems.push(Problem::Undefined {
                    at,
                    step: written,
                    closest: closest(&step.value, step.ty, defs, 3),
                }),
                _ => problems.push(Problem::Ambiguous {
                    at,
                    step: written,
                    matches: matching.iter().map(|d| d.phrase()).collect(),
                }),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LintError::Problems(problems))
    }
}

/// A cucumber parse error in full: the file, then the parser's line, column and expectation.
#[must_use]
pub fn describe_parse_error(error: &cucumber::parser::Error) -> String {
    match error {
        cucumber::parser::Error::Parsing(e) => match e.as_ref() {
            gherkin::ParseFileError::Reading { path, source } => {
                format!("cannot read {}: {source}", path.display())
            }
            gherkin::ParseFileError::Parsing {
                path,
                error,
                source,
            } => {
                let mut text = format!("{}: {source}", path.display());
                if let Some(e) = error {
                    text.push_str(&format!(" ({e})"));
                }
                text.push_str("; expected Gherkin: `Feature:`, then `Scenario:` blocks of Given/When/Then steps");
                text
            }
        },
        cucumber::parser::Error::ExampleExpansion(e) => e.to_string(),
    }
}

/// Checks every `*.yaml` under `dir` (recursively): each document parses, and is a Kubernetes
/// object with `apiVersion`, `kind` and `metadata.name`.
///
/// # Errors
/// [`LintError::Problems`] with the file, line and what was expected.
pub fn check_fixtures(dir: &Path) -> Result<(), LintError> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    collect_yaml(dir, &mut files);
    files.sort();
    for file in files {
        problems.extend(check_yaml_file(&file));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LintError::Problems(problems))
    }
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_yaml(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

/// The problems of one YAML fixture.
#[must_use]
pub fn check_yaml_file(file: &Path) -> Vec<Problem> {
    let problem = |line: Option<usize>, detail: String| Problem::Fixture {
        file: file.to_path_buf(),
        line,
        detail,
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return vec![problem(None, format!("cannot read it: {e}"))],
    };
    let docs: Vec<serde_json::Value> = match serde_saphyr::from_multiple(&text) {
        Ok(d) => d,
        Err(e) => {
            let msg = e.to_string();
            let line = Regex::new(r"line (\d+)")
                .expect("a valid regex")
                .captures(&msg)
                .and_then(|c| c[1].parse().ok());
            return vec![problem(
                line,
                format!("not valid YAML: {msg}; expected Kubernetes objects separated by `---`"),
            )];
        }
    };
    // Where each document starts, for the objects' own problems.
    let mut starts = vec![1];
    for (i, l) in text.lines().enumerate() {
        if l.trim_end() == "---" && i > 0 {
            starts.push(i + 2);
        }
    }
    let mut problems = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let line = starts.get(i).copied();
        let missing: Vec<&str> = [
            ("apiVersion", doc.get("apiVersion")),
            ("kind", doc.get("kind")),
            ("metadata.name", doc.pointer("/metadata/name")),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_some_and(serde_json::Value::is_string))
        .map(|(k, _)| k)
        .collect();
        if !missing.is_empty() {
            problems.push(problem(
                line,
                format!(
                    "document {} is not a Kubernetes object: expected a string at {}",
                    i + 1,
                    missing.join(", ")
                ),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use gherkin::StepType::{Given, Then, When};

    fn def(ty: gherkin::StepType, re: &str) -> Definition {
        Definition {
            ty,
            regex: Regex::new(re).unwrap(),
        }
    }

    fn defs() -> Vec<Definition> {
        vec![
            def(
                When,
                r#"^the reader runs (?:"([^"\\]*(?:\\.[^"\\]*)*)"|'([^'\\]*(?:\\.[^'\\]*)*)') on (?:"([^"\\]*(?:\\.[^"\\]*)*)"|'([^'\\]*(?:\\.[^'\\]*)*)')$"#,
            ),
            def(Then, r"^(\d+) hello-world pods are Running$"),
            def(Then, r"^the hello-world pods run one on each worker$"),
            def(Given, r"^a cluster where the reader has completed (.*)$"),
        ]
    }

    #[test]
    fn phrases_show_parameters_as_placeholders() {
        let d = defs();
        assert_eq!(d[0].phrase(), "When the reader runs {…} on {…}");
        assert_eq!(d[1].phrase(), "Then {…} hello-world pods are Running");
        assert_eq!(phrase(r"^a \(b\) c$"), "a (b) c");
    }

    #[test]
    fn closest_ranks_same_keyword_and_similar_text_first() {
        let got = closest("the reader types \"ls\" on \"minikube\"", When, &defs(), 2);
        assert_eq!(got[0], "When the reader runs {…} on {…}");
        let got = closest("3 hello-world pod are running", Then, &defs(), 1);
        assert_eq!(got, ["Then {…} hello-world pods are Running"]);
    }

    fn feature(text: &str) -> gherkin::Feature {
        gherkin::Feature::parse(text, gherkin::GherkinEnv::default()).unwrap()
    }

    #[test]
    fn undefined_and_ambiguous_steps_are_named_with_their_place() {
        let f = feature(
            "Feature: F\n  Scenario: S\n    Given a cluster where the reader has completed \"x\"\n    Then 2 hello-world pod are running\n",
        );
        let err = check_features(&[Ok(f)], &defs()).unwrap_err().to_string();
        assert!(
            err.starts_with("1 problem found before the run started (nothing was created):\n- F:4: undefined step `Then 2 hello-world pod are running`; the closest defined steps are:\n    Then {…} hello-world pods are Running\n"),
            "{err}"
        );
        let mut twice = defs();
        twice.push(def(Given, r"^a cluster where (.*)$"));
        let f = feature(
            "Feature: F\n  Scenario: S\n    Given a cluster where the reader has completed \"x\"\n",
        );
        let err = check_features(&[Ok(f)], &twice).unwrap_err().to_string();
        assert!(err.contains("F:3: step `Given a cluster where the reader has completed \"x\"` matches 2 definitions"), "{err}");
        let f = feature("Feature: F\n  Scenario: S\n    Then 2 hello-world pods are Running\n");
        assert_eq!(check_features(&[Ok(f)], &defs()), Ok(()));
    }

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!(
            "k8s-labs-lint-{name}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    #[test]
    fn malformed_yaml_fixtures_name_file_line_and_expectation() {
        let d = dir("yaml");
        let bad = d.0.join("bad.yaml");
        std::fs::write(
            &bad,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: hello\nspec:\n  ports: [80\n",
        )
        .unwrap();
        let err = check_fixtures(&d.0).unwrap_err().to_string();
        let want = format!("- {}:", bad.display());
        assert!(err.contains(&want), "{err}");
        assert!(err.contains("not valid YAML"), "{err}");
        assert!(err.contains("expected Kubernetes objects"), "{err}");
        std::fs::write(
            &bad,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\nkind: Service\nmetadata:\n  name: b\n",
        )
        .unwrap();
        let err = check_fixtures(&d.0).unwrap_err().to_string();
        assert!(
            err.ends_with(&format!(
                "{}:6: document 2 is not a Kubernetes object: expected a string at apiVersion",
                bad.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn the_course_fixtures_are_well_formed() {
        assert_eq!(check_fixtures(&crate::fixtures::dir()), Ok(()));
    }
}
