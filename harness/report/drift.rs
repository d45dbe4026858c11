//! Drift across runs: several runs' `run.json` (one per Kubernetes version from the nightly
//! matrix, several nights each) merged into one comparison, as Markdown and as a self-contained
//! HTML page: scenarios × versions (pass/fail), claims × versions (measured values and verdicts),
//! timings × versions (median and spread when several runs share a version).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use super::html::escape;
use super::markdown::cell;
use super::model::{RunReport, Status};
use crate::claims::{Measured, Verdict, human};

/// Runs merged for comparison, grouped by the Kubernetes version they ran against.
#[derive(Debug, Clone)]
pub struct Drift {
    runs: Vec<RunReport>,
}

/// Median, spread and count of some durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    /// The median (the mean of the two middle values for an even count).
    pub median: Duration,
    /// The smallest.
    pub min: Duration,
    /// The largest.
    pub max: Duration,
    /// How many.
    pub n: usize,
}

impl Spread {
    /// The spread of `values` (`None` when empty).
    #[must_use]
    pub fn of(values: &[Duration]) -> Option<Self> {
        let mut v = values.to_vec();
        v.sort();
        let n = v.len();
        if n == 0 {
            return None;
        }
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2
        };
        Some(Self {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.n == 1 {
            f.write_str(&human(self.median))
        } else if self.min == self.max {
            write!(f, "{} (n={})", human(self.median), self.n)
        } else {
            write!(
                f,
                "{} ({}–{}, n={})",
                human(self.median),
                human(self.min),
                human(self.max),
                self.n
            )
        }
    }
}

/// Orders versions like `v1.9.0` < `v1.33.7` (numbers compared as numbers).
fn version_key(v: &str) -> Vec<u64> {
    v.trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Counts of statuses as a cell: `passed`, `failed`, or `2 passed, 1 failed` over several runs.
fn status_cell(statuses: &[Status]) -> String {
    if statuses.is_empty() {
        return "—".into();
    }
    let mut counts: BTreeMap<Status, usize> = BTreeMap::new();
    for s in statuses {
        *counts.entry(*s).or_insert(0) += 1;
    }
    if counts.len() == 1 && statuses.len() == 1 {
        return statuses[0].to_string();
    }
    counts
        .iter()
        .rev()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct ClaimCell {
    measured: Vec<Measured>,
    verdicts: Vec<Verdict>,
}

impl ClaimCell {
    fn text(&self) -> String {
        if self.measured.is_empty() {
            return "—".into();
        }
        let durations: Vec<Duration> = self
            .measured
            .iter()
            .filter_map(Measured::duration)
            .collect();
        let value = if durations.len() == self.measured.len() {
            Spread::of(&durations)
                .map(|s| s.to_string())
                .unwrap_or_default()
        } else {
            let distinct: BTreeSet<String> =
                self.measured.iter().map(ToString::to_string).collect();
            distinct.into_iter().collect::<Vec<_>>().join(" / ")
        };
        let holds = self
            .verdicts
            .iter()
            .filter(|v| **v == Verdict::Holds)
            .count();
        let drifted = self
            .verdicts
            .iter()
            .filter(|v| **v == Verdict::Drifted)
            .count();
        let verdict = if self.verdicts.len() == 1 {
            self.verdicts[0].to_string()
        } else if drifted == 0 && holds == self.verdicts.len() {
            format!("holds {holds}/{}", self.verdicts.len())
        } else {
            format!("drifted {drifted}/{}", self.verdicts.len())
        };
        format!("{value} — {verdict}")
    }

    fn drifted(&self) -> bool {
        self.verdicts.contains(&Verdict::Drifted)
    }
}

impl Drift {
    /// The runs to compare.
    #[must_use]
    pub fn new(runs: Vec<RunReport>) -> Self {
        Self { runs }
    }

    /// The Kubernetes versions, oldest first.
    #[must_use]
    pub fn versions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .runs
            .iter()
            .map(RunReport::kubernetes_version)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        v.sort_by_key(|x| version_key(x));
        v
    }

    fn runs_of<'a>(&'a self, version: &'a str) -> impl Iterator<Item = &'a RunReport> + 'a {
        self.runs
            .iter()
            .filter(move |r| r.kubernetes_version() == version)
    }

    /// `(feature, scenario)` rows, in first-seen order.
    fn scenario_rows(&self) -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = Vec::new();
        for r in &self.runs {
            for f in &r.features {
                for sc in &f.scenarios {
                    let key = (f.name.clone(), sc.name.clone());
                    if !rows.contains(&key) {
                        rows.push(key);
                    }
                }
            }
        }
        rows
    }

    fn scenario_statuses(&self, version: &str, feature: &str, scenario: &str) -> Vec<Status> {
        self.runs_of(version)
            .flat_map(|r| r.features.iter())
            .filter(|f| f.name == feature)
            .flat_map(|f| f.scenarios.iter())
            .filter(|s| s.name == scenario)
            .map(super::model::ScenarioReport::status)
            .collect()
    }

    /// Claim id → the course's text, in first-seen order.
    fn claim_rows(&self) -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = Vec::new();
        for r in &self.runs {
            for (_, _, c) in r.claims() {
                if !rows.iter().any(|(id, _)| *id == c.id) {
                    rows.push((c.id.clone(), c.text.clone()));
                }
            }
        }
        rows
    }

    fn claim_cell(&self, version: &str, id: &str) -> ClaimCell {
        let mut cell = ClaimCell {
            measured: Vec::new(),
            verdicts: Vec::new(),
        };
        for r in self.runs_of(version) {
            for (_, _, c) in r.claims().filter(|(_, _, c)| c.id == id) {
                cell.measured.push(c.measured.clone());
                cell.verdicts.push(c.verdict());
            }
        }
        cell
    }

    /// `(scenario, measurement)` rows.
    fn timing_rows(&self) -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = Vec::new();
        for r in &self.runs {
            for (_, sc, m) in r.measurements() {
                let key = (sc.name.clone(), m.name.clone());
                if !rows.contains(&key) {
                    rows.push(key);
                }
            }
        }
        rows
    }

    fn timing_spread(&self, version: &str, scenario: &str, name: &str) -> Option<Spread> {
        let values: Vec<Duration> = self
            .runs_of(version)
            .flat_map(|r| r.measurements().collect::<Vec<_>>())
            .filter(|(_, sc, m)| sc.name == scenario && m.name == name)
            .filter_map(|(_, _, m)| m.value)
            .collect();
        Spread::of(&values)
    }

    /// The Markdown comparison.
    #[must_use]
    pub fn markdown(&self) -> String {
        let versions = self.versions();
        let mut s = String::from("# k8s-labs: drift across runs\n\n");
        s.push_str("| run | started | Kubernetes | provider | timing | passed | failed | flaky | drifted claims |\n|---|---|---|---|---|---|---|---|---|\n");
        for r in &self.runs {
            let c = r.counts();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&r.run_id),
                r.started.strftime("%Y-%m-%d %H:%M"),
                r.kubernetes_version(),
                r.environment.provider,
                r.environment.timing_profile,
                c.passed,
                c.failed,
                c.flaky,
                r.claim_counts().get(&Verdict::Drifted).unwrap_or(&0)
            );
        }
        let header = |first: &str| {
            let mut h = format!("| {first} |");
            let mut sep = String::from("|---|");
            for v in &versions {
                let _ = write!(h, " {v} |");
                sep.push_str("---|");
            }
            format!("{h}\n{sep}\n")
        };
        s.push_str("\n## Scenarios\n\n");
        s.push_str(&header("scenario"));
        for (f, sc) in self.scenario_rows() {
            let _ = write!(s, "| {} — {} |", cell(&f), cell(&sc));
            for v in &versions {
                let _ = write!(s, " {} |", status_cell(&self.scenario_statuses(v, &f, &sc)));
            }
            s.push('\n');
        }
        let claims = self.claim_rows();
        if !claims.is_empty() {
            s.push_str("\n## Claims\n\n");
            s.push_str(&header("claim"));
            for (id, text) in claims {
                let _ = write!(s, "| `{id}` {} |", cell(&text));
                for v in &versions {
                    let _ = write!(s, " {} |", cell(&self.claim_cell(v, &id).text()));
                }
                s.push('\n');
            }
        }
        let timings = self.timing_rows();
        if !timings.is_empty() {
            s.push_str("\n## Timings (median, min–max, runs)\n\n");
            s.push_str(&header("measurement"));
            for (sc, name) in timings {
                let _ = write!(s, "| {} ({}) |", cell(&name), cell(&sc));
                for v in &versions {
                    let text = self
                        .timing_spread(v, &sc, &name)
                        .map_or_else(|| "—".to_string(), |x| x.to_string());
                    let _ = write!(s, " {text} |");
                }
                s.push('\n');
            }
        }
        s
    }

    /// The HTML comparison page (self-contained).
    #[must_use]
    pub fn html(&self) -> String {
        let versions = self.versions();
        let mut s = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>k8s-labs — drift across runs</title><style>",
        );
        s.push_str("body{font:14px/1.45 system-ui,\"DejaVu Sans\",sans-serif;margin:0}main{max-width:1200px;margin:0 auto;padding:20px 24px}h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;margin-top:28px}table{border-collapse:collapse;width:100%;font-size:13px}th,td{border:1px solid #e3e3e3;padding:5px 8px;text-align:left;vertical-align:top}th{background:#f6f7f8}td.passed,td.holds{background:#e6f4ea}td.failed,td.drifted{background:#fce8e6}td.flaky{background:#fef7e0}td.none{color:#999}code{font-size:12px}");
        s.push_str("</style></head><body><main><h1>k8s-labs — drift across runs</h1>");
        let _ = write!(
            s,
            "<p>{} runs over {} Kubernetes versions.</p>",
            self.runs.len(),
            versions.len()
        );
        s.push_str("<h2>Runs</h2><table><tr><th>run</th><th>started</th><th>Kubernetes</th><th>provider</th><th>timing</th><th>passed</th><th>failed</th><th>flaky</th><th>drifted claims</th></tr>");
        for r in &self.runs {
            let c = r.counts();
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.run_id),
                r.started.strftime("%Y-%m-%d %H:%M"),
                escape(&r.kubernetes_version()),
                escape(&r.environment.provider),
                escape(&r.environment.timing_profile),
                c.passed,
                c.failed,
                c.flaky,
                r.claim_counts().get(&Verdict::Drifted).unwrap_or(&0)
            );
        }
        s.push_str("</table>");
        let header = |first: &str| {
            let mut h = format!("<table><tr><th>{first}</th>");
            for v in &versions {
                let _ = write!(h, "<th>{}</th>", escape(v));
            }
            h.push_str("</tr>");
            h
        };
        s.push_str("<h2>Scenarios</h2>");
        s.push_str(&header("scenario"));
        for (f, sc) in self.scenario_rows() {
            let _ = write!(s, "<tr><td>{} — {}</td>", escape(&f), escape(&sc));
            for v in &versions {
                let st = self.scenario_statuses(v, &f, &sc);
                let class = if st.is_empty() {
                    "none"
                } else if st.contains(&Status::Failed) {
                    "failed"
                } else if st.contains(&Status::Flaky) {
                    "flaky"
                } else if !st.contains(&Status::Passed) {
                    "none"
                } else {
                    "passed"
                };
                let _ = write!(
                    s,
                    "<td class=\"{class}\">{}</td>",
                    escape(&status_cell(&st))
                );
            }
            s.push_str("</tr>");
        }
        s.push_str("</table>");
        let claims = self.claim_rows();
        if !claims.is_empty() {
            s.push_str("<h2>Claims</h2>");
            s.push_str(&header("claim"));
            for (id, text) in claims {
                let _ = write!(
                    s,
                    "<tr><td><code>{}</code><br>“{}”</td>",
                    escape(&id),
                    escape(&text)
                );
                for v in &versions {
                    let c = self.claim_cell(v, &id);
                    let class = if c.measured.is_empty() {
                        "none"
                    } else if c.drifted() {
                        "drifted"
                    } else {
                        "holds"
                    };
                    let _ = write!(s, "<td class=\"{class}\">{}</td>", escape(&c.text()));
                }
                s.push_str("</tr>");
            }
            s.push_str("</table>");
        }
        let timings = self.timing_rows();
        if !timings.is_empty() {
            s.push_str("<h2>Timings (median, min–max, runs)</h2>");
            s.push_str(&header("measurement"));
            for (sc, name) in timings {
                let _ = write!(
                    s,
                    "<tr><td>{}<br><small>{}</small></td>",
                    escape(&name),
                    escape(&sc)
                );
                for v in &versions {
                    let text = self
                        .timing_spread(v, &sc, &name)
                        .map_or_else(|| "—".to_string(), |x| x.to_string());
                    let _ = write!(s, "<td>{}</td>", escape(&text));
                }
                s.push_str("</tr>");
            }
            s.push_str("</table>");
        }
        s.push_str("</main></body></html>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_and_versions() {
        let d = |s: u64| Duration::from_secs(s);
        let sp = Spread::of(&[d(52), d(41), d(50)]).unwrap();
        assert_eq!((sp.median, sp.min, sp.max, sp.n), (d(50), d(41), d(52), 3));
        assert_eq!(sp.to_string(), "50 s (41 s–52 s, n=3)");
        assert_eq!(Spread::of(&[d(40), d(50)]).unwrap().median, d(45));
        assert!(Spread::of(&[]).is_none());
        let mut v = vec![
            "v1.33.7".to_string(),
            "v1.9.0".to_string(),
            "v1.26.2".to_string(),
        ];
        v.sort_by_key(|x| version_key(x));
        assert_eq!(v, ["v1.9.0", "v1.26.2", "v1.33.7"]);
        assert_eq!(
            status_cell(&[Status::Passed, Status::Failed, Status::Passed]),
            "2 passed, 1 failed"
        );
        assert_eq!(status_cell(&[Status::Passed]), "passed");
    }
}
