//! The run's Markdown summary (`summary.md`), short enough for a CI job summary: the verdict, the
//! claims, the scenarios, what failed and where its diagnostics are, and the environment.

use std::fmt::Write as _;

use super::model::{RunReport, Status};
use crate::claims::{Verdict, human};

/// Escapes `|` and line breaks for a Markdown table cell.
#[must_use]
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The summary.
#[must_use]
pub fn summary(report: &RunReport) -> String {
    let mut s = String::new();
    let c = report.counts();
    let claims = report.claim_counts();
    let _ = writeln!(s, "# k8s-labs run {}\n", report.run_id);
    let _ = writeln!(
        s,
        "**{} passed, {} failed, {} flaky, {} skipped** — Kubernetes {} on {}, timing profile `{}`, took {}. Claims: {} hold, {} drifted, {} not measured.\n",
        c.passed,
        c.failed,
        c.flaky,
        c.skipped,
        report.kubernetes_version(),
        report.environment.provider,
        report.environment.timing_profile,
        human(report.duration()),
        claims.get(&Verdict::Holds).unwrap_or(&0),
        claims.get(&Verdict::Drifted).unwrap_or(&0),
        claims.get(&Verdict::NotMeasured).unwrap_or(&0),
    );
    let mut all: Vec<_> = report.claims().collect();
    if !all.is_empty() {
        all.sort_by_key(|(_, _, c)| c.verdict());
        s.push_str("## Claims\n\n| claim | the course says | expected | measured | verdict |\n|---|---|---|---|---|\n");
        for (_, _, claim) in all {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} ({}) | {} | {} |",
                claim.id,
                cell(&claim.text),
                cell(&claim.expected.to_string()),
                cell(&claim.expected.source().to_string()),
                cell(&claim.measured.to_string()),
                claim.verdict_text()
            );
        }
        s.push('\n');
    }
    s.push_str("## Scenarios\n\n| chapter | scenario | status | duration |\n|---|---|---|---|\n");
    for f in &report.features {
        for sc in &f.scenarios {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                cell(&f.name),
                cell(&sc.name),
                sc.status(),
                human(sc.duration())
            );
        }
    }
    let failed: Vec<_> = report
        .features
        .iter()
        .flat_map(|f| f.scenarios.iter().map(move |sc| (f, sc)))
        .filter(|(_, sc)| sc.status() == Status::Failed)
        .collect();
    if !failed.is_empty() {
        s.push_str("\n## Failures\n");
        for (f, sc) in failed {
            let _ = writeln!(s, "\n### {} — {}\n", f.name, sc.name);
            if let Some(a) = sc.last() {
                if let Some(step) = a.failed_step() {
                    let _ = writeln!(s, "Failed step: `{}{}`\n", step.keyword, step.text);
                    if let Some(e) = &step.error {
                        let _ = writeln!(s, "```\n{}\n```", e.trim_end());
                    }
                }
                for h in &a.hook_errors {
                    let _ = writeln!(s, "```\n{}\n```", h.trim_end());
                }
                if let Some(lab) = &a.lab {
                    let _ = writeln!(s, "Transcript: `{}`", lab.transcript);
                    if let Some(d) = &lab.diagnostics {
                        let _ = writeln!(s, "Diagnostics: `{}/`", d.dir);
                    }
                }
            }
        }
    }
    let env = &report.environment;
    s.push_str("\n## Environment\n\n| | |\n|---|---|\n");
    let _ = writeln!(
        s,
        "| k8s-labs | {} ({}) |",
        env.labs_version,
        env.commit.as_deref().unwrap_or("commit unknown")
    );
    let _ = writeln!(
        s,
        "| provider | {} — {} |",
        env.provider,
        cell(env.provider_version.as_deref().unwrap_or("version unknown"))
    );
    let _ = writeln!(
        s,
        "| Kubernetes | {} (requested {}) |",
        report.kubernetes_version(),
        env.requested_k8s_version
    );
    if let Some(cl) = &env.cluster {
        let runtimes: Vec<String> = cl
            .container_runtimes
            .values()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let _ = writeln!(s, "| container runtime | {} |", cell(&runtimes.join(", ")));
        let _ = writeln!(
            s,
            "| etcd | {} |",
            cell(cl.etcd_version.as_deref().unwrap_or("unknown"))
        );
        let _ = writeln!(
            s,
            "| CNI / ingress | {} / {} |",
            cell(cl.cni.as_deref().unwrap_or("unknown")),
            cell(cl.ingress.as_deref().unwrap_or("unknown"))
        );
        for (k, v) in &cl.timing {
            let _ = writeln!(s, "| {} | {} ({}) |", cell(k), cell(&v.value), v.source);
        }
    }
    let _ = writeln!(
        s,
        "| kubectl | {} |",
        cell(env.kubectl_version.as_deref().unwrap_or("unknown"))
    );
    let _ = writeln!(
        s,
        "| OS | {} |",
        cell(env.os.as_deref().unwrap_or("unknown"))
    );
    let _ = writeln!(s, "| timing profile | {} |", env.timing_profile);
    s
}
