//! The HTML report: one self-contained page (inline CSS, inline SVG, no scripts, nothing fetched)
//! that opens from disk. From the top: the verdict and run summary, the claims table (drifted
//! claims first), the environment, then per chapter its scenarios with status and duration, and
//! per scenario its steps, failure, timeline chart, measurements, claims, diagnostics and its
//! command transcript (collapsed).

use std::fmt::Write as _;
use std::path::Path;

use super::chart;
use super::model::{Attempt, FeatureReport, LabRecord, RunReport, ScenarioReport, Status};
use crate::claims::{Claim, Verdict, human};
use crate::timeline::Entry;

/// How much of a transcript the page embeds (its end); the rest is in the file.
pub const TRANSCRIPT_LIMIT: usize = 200_000;

/// Escapes text for HTML (element content and quoted attributes).
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d1d1f;background:#fff}
main{max-width:1120px;margin:0 auto;padding:20px 24px 60px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}h4{font-size:13px;margin:12px 0 4px;color:#444;text-transform:uppercase;letter-spacing:.04em}
.sub{color:#555;margin:0 0 12px}
.banner{padding:12px 16px;border-radius:6px;font-size:16px;font-weight:600;margin:12px 0}
.banner.passed{background:#e6f4ea;color:#146c2e}.banner.failed{background:#fce8e6;color:#a50e0e}.banner.flaky{background:#fef7e0;color:#8a5300}
.pills span{display:inline-block;margin:0 6px 6px 0;padding:3px 10px;border-radius:12px;background:#f1f3f4;font-size:13px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid #e6e6e6;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f7f8;font-weight:600}
td.num{text-align:right;white-space:nowrap}
.st{display:inline-block;min-width:64px;text-align:center;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.st.passed,.st.holds{background:#e6f4ea;color:#146c2e}.st.failed,.st.drifted{background:#fce8e6;color:#a50e0e}
.st.flaky{background:#fef7e0;color:#8a5300}.st.skipped,.st.not-run,.st.not-measured{background:#eee;color:#555}
tr.drifted td{background:#fff6f5}
details{margin:6px 0}summary{cursor:pointer}
details.scenario{border:1px solid #ddd;border-radius:6px;padding:6px 12px;margin:10px 0}
details.scenario>summary{font-weight:600;font-size:14px}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:4px;padding:8px;overflow:auto;font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre-wrap;word-break:break-word}
pre.transcript{max-height:520px}
.failure{border-left:4px solid #d93025;background:#fff8f7;padding:8px 12px;margin:8px 0}
.note{color:#666;font-size:12px}
svg.timeline{max-width:100%;height:auto;font:11px "DejaVu Sans",sans-serif}
svg .lane{fill:#333}svg .seglabel{fill:#fff;font-size:10px}svg .axis{fill:#666;font-size:10px}
svg .grid{stroke:#e5e5e5}svg .mark{stroke:#1a73e8;stroke-dasharray:4 3}svg .marklabel{fill:#1a73e8;font-size:11px;font-weight:600}
svg .seg.ready,svg .seg.running{fill:#34a853}svg .seg.started{fill:#81c995}svg .seg.notready,svg .seg.failed{fill:#d93025}
svg .seg.unknown{fill:#f29900}svg .seg.pending{fill:#fbbc04}svg .seg.terminating{fill:#9334e6}svg .seg.done,svg .seg.nostatus{fill:#9aa0a6}
svg .tick.taint{fill:#5f6368}svg .tick.restart{fill:#e8710a}svg .tick.warning{fill:#d93025}svg .tick.normal{fill:#1a73e8}svg .tick.deleted{fill:#202124}
svg circle.late{fill:#fff;stroke:#202124;stroke-width:1.5}
.legend span{display:inline-block;margin-right:12px;font-size:12px}.legend i{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle;border-radius:2px}
a{color:#1a73e8}
"#;

fn status_pill(status: Status) -> String {
    let class = status.to_string().replace(' ', "-");
    format!(r#"<span class="st {class}">{status}</span>"#)
}

fn verdict_pill(verdict: Verdict) -> String {
    let class = verdict.to_string().replace(' ', "-");
    format!(r#"<span class="st {class}">{verdict}</span>"#)
}

fn rel_link(path: &str, text: &str) -> String {
    format!(r#"<a href="{}">{}</a>"#, escape(path), escape(text))
}

fn read_timeline(root: &Path, lab: &LabRecord) -> Vec<Entry> {
    let Some(rel) = &lab.timeline else {
        return Vec::new();
    };
    std::fs::read_to_string(root.join(rel))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The page.
#[must_use]
pub fn render(report: &RunReport, root: &Path) -> String {
    let mut s = String::new();
    let counts = report.counts();
    let claims = report.claim_counts();
    let overall = if counts.failed > 0 {
        Status::Failed
    } else if counts.flaky > 0 {
        Status::Flaky
    } else {
        Status::Passed
    };
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>k8s-labs {} — {}</title><style>{CSS}</style></head><body><main>",
        escape(&report.run_id),
        overall
    );
    let _ = write!(
        s,
        "<h1>Kubernetes architecture course — lab run</h1><p class=\"sub\">Run {} · started {} · took {} · Kubernetes {} on {} · timing profile <b>{}</b></p>",
        escape(&report.run_id),
        report.started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        human(report.duration()),
        escape(&report.kubernetes_version()),
        escape(&report.environment.provider),
        escape(&report.environment.timing_profile),
    );
    let drifted = claims.get(&Verdict::Drifted).copied().unwrap_or(0);
    let headline = match overall {
        Status::Failed => format!("{} of {} scenarios failed", counts.failed, counts.total()),
        Status::Flaky => format!("All scenarios passed, {} only after a retry", counts.flaky),
        _ => format!("All {} scenarios passed", counts.total()),
    };
    let drift_line = if drifted > 0 {
        format!(" · {drifted} of the course's claims drifted")
    } else {
        String::new()
    };
    let _ = write!(
        s,
        r#"<div class="banner {overall}">{}{}</div>"#,
        escape(&headline),
        escape(&drift_line)
    );
    let _ = write!(
        s,
        r#"<div class="pills"><span>{} passed</span><span>{} failed</span><span>{} flaky</span><span>{} skipped</span><span>claims: {} hold, {} drifted, {} not measured</span></div>"#,
        counts.passed,
        counts.failed,
        counts.flaky,
        counts.skipped,
        claims.get(&Verdict::Holds).unwrap_or(&0),
        drifted,
        claims.get(&Verdict::NotMeasured).unwrap_or(&0)
    );
    for p in &report.problems {
        let _ = write!(s, r#"<div class="failure">{}</div>"#, escape(p));
    }

    // Claims, drifted first.
    s.push_str("<h2 id=\"claims\">The course's claims</h2>");
    let mut all: Vec<(&FeatureReport, &ScenarioReport, &Claim)> = report.claims().collect();
    if all.is_empty() {
        s.push_str("<p class=\"note\">No scenario of this run measured a claim.</p>");
    } else {
        all.sort_by_key(|(_, _, c)| c.verdict());
        s.push_str(&claims_table(&all, true));
    }

    s.push_str("<h2 id=\"environment\">Environment</h2>");
    s.push_str(&environment_table(report));

    s.push_str("<h2 id=\"chapters\">Chapters</h2>");
    for feature in &report.features {
        let _ = write!(s, "<h3>{}</h3>", escape(&feature.name));
        if let Some(p) = &feature.path {
            let _ = write!(
                s,
                r#"<p class="note">{} · {}</p>"#,
                escape(p),
                escape(&feature.tags.join(" "))
            );
        }
        s.push_str(
            "<table><tr><th>status</th><th>scenario</th><th>duration</th><th>attempts</th></tr>",
        );
        for sc in &feature.scenarios {
            let _ = write!(
                s,
                r##"<tr><td>{}</td><td><a href="#{}">{}</a></td><td class="num">{}</td><td class="num">{}</td></tr>"##,
                status_pill(sc.status()),
                anchor(feature, sc),
                escape(&sc.name),
                human(sc.duration()),
                sc.attempts.len()
            );
        }
        s.push_str("</table>");
        for sc in &feature.scenarios {
            s.push_str(&scenario_section(feature, sc, root));
        }
    }
    s.push_str("<p class=\"note\">Written by k8s-labs. Secrets (bootstrap tokens, private keys, kubeconfig credentials) were redacted before anything was written.</p>");
    s.push_str("</main></body></html>\n");
    s
}

fn anchor(feature: &FeatureReport, sc: &ScenarioReport) -> String {
    crate::reports::slug(&format!("{}-{}-{}", feature.name, sc.name, sc.line))
}

fn claims_table(
    claims: &[(&FeatureReport, &ScenarioReport, &Claim)],
    with_scenario: bool,
) -> String {
    let mut s = String::from(
        "<table><tr><th>claim</th><th>the course says</th><th>expected</th><th>measured</th><th>tolerance</th><th>verdict</th></tr>",
    );
    for (f, sc, c) in claims {
        let verdict = c.verdict();
        let row_class = if verdict == Verdict::Drifted {
            " class=\"drifted\""
        } else {
            ""
        };
        let scenario = if with_scenario {
            format!(
                r##"<br><span class="note"><a href="#{}">{}</a></span>"##,
                anchor(f, sc),
                escape(&sc.name)
            )
        } else {
            String::new()
        };
        let notes = if c.notes.is_empty() {
            String::new()
        } else {
            format!(
                r#"<br><span class="note">{}</span>"#,
                escape(&c.notes.join("; "))
            )
        };
        let _ = write!(
            s,
            "<tr{row_class}><td><code>{}</code>{scenario}</td><td>“{}”</td><td>{}<br><span class=\"note\">{}</span></td><td>{}{notes}</td><td>{}</td><td>{}{}</td></tr>",
            escape(&c.id),
            escape(&c.text),
            escape(&c.expected.to_string()),
            escape(&c.expected.source().to_string()),
            escape(&c.measured.to_string()),
            c.expected
                .tolerance()
                .filter(|t| !t.is_zero())
                .map_or_else(|| "—".to_string(), human),
            verdict_pill(verdict),
            c.drift()
                .map(|d| format!(
                    "<br><span class=\"note\">{} beyond the bound</span>",
                    escape(&crate::claims::signed_human(d))
                ))
                .unwrap_or_default(),
        );
    }
    s.push_str("</table>");
    s
}

fn environment_table(report: &RunReport) -> String {
    let env = &report.environment;
    let mut rows: Vec<(String, String)> = vec![
        (
            "k8s-labs".into(),
            format!(
                "{} ({})",
                env.labs_version,
                env.commit.as_deref().unwrap_or("commit unknown")
            ),
        ),
        (
            "provider".into(),
            format!(
                "{} — {}",
                env.provider,
                env.provider_version.as_deref().unwrap_or("version unknown")
            ),
        ),
        (
            "Kubernetes requested".into(),
            env.requested_k8s_version.clone(),
        ),
        ("timing profile".into(), env.timing_profile.clone()),
        (
            "kubectl on the host".into(),
            env.kubectl_version
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        ),
        (
            "OS".into(),
            env.os.clone().unwrap_or_else(|| "unknown".into()),
        ),
    ];
    if let Some(c) = &env.cluster {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
        rows.push((
            "Kubernetes running (/version)".into(),
            opt(&c.kubernetes_version),
        ));
        rows.push(("kubectl client used".into(), opt(&c.kubectl_client)));
        let runtimes: Vec<String> = c
            .container_runtimes
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        rows.push((
            "container runtime".into(),
            if runtimes.is_empty() {
                "unknown".into()
            } else {
                runtimes.join(", ")
            },
        ));
        rows.push(("etcd".into(), opt(&c.etcd_version)));
        rows.push(("CNI".into(), opt(&c.cni)));
        rows.push(("ingress".into(), opt(&c.ingress)));
        for (name, v) in &c.timing {
            rows.push((name.clone(), format!("{} ({})", v.value, v.source)));
        }
        for n in &c.notes {
            rows.push(("note".into(), n.clone()));
        }
    } else {
        rows.push((
            "cluster".into(),
            "no scenario of this run reached the cluster API".into(),
        ));
    }
    for n in &env.notes {
        rows.push(("note".into(), n.clone()));
    }
    let mut s = String::from("<table>");
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{}</td></tr>", escape(&k), escape(&v));
    }
    s.push_str("</table>");
    s
}

fn scenario_section(feature: &FeatureReport, sc: &ScenarioReport, root: &Path) -> String {
    let mut s = String::new();
    let status = sc.status();
    let open = if matches!(status, Status::Failed | Status::Flaky) || has_claims(sc) {
        " open"
    } else {
        ""
    };
    let _ = write!(
        s,
        r#"<details class="scenario" id="{}"{open}><summary>{} {} <span class="note">· {} · line {}{}</span></summary>"#,
        anchor(feature, sc),
        status_pill(status),
        escape(&sc.name),
        human(sc.duration()),
        sc.line,
        if sc.tags.is_empty() {
            String::new()
        } else {
            format!(" · {}", escape(&sc.tags.join(" ")))
        }
    );
    let n = sc.attempts.len();
    for (i, attempt) in sc.attempts.iter().enumerate() {
        if n > 1 {
            let _ = write!(s, "<h4>Attempt {} of {n}: {}</h4>", i + 1, attempt.status);
        }
        s.push_str(&attempt_section(attempt, root, i + 1 == n));
    }
    s.push_str("</details>");
    s
}

fn has_claims(sc: &ScenarioReport) -> bool {
    sc.last()
        .and_then(|a| a.lab.as_ref())
        .is_some_and(|l| !l.claims.is_empty())
}

fn attempt_section(attempt: &Attempt, root: &Path, last: bool) -> String {
    let mut s = String::new();
    s.push_str("<table><tr><th>status</th><th>step</th><th>duration</th></tr>");
    for step in &attempt.steps {
        let bg = if step.background {
            " <span class=\"note\">(background)</span>"
        } else {
            ""
        };
        let err = step
            .error
            .as_ref()
            .map(|e| format!("<pre>{}</pre>", escape(e)))
            .unwrap_or_default();
        let _ = write!(
            s,
            "<tr><td>{}</td><td><b>{}</b>{}{bg}{err}</td><td class=\"num\">{:.2} s</td></tr>",
            status_pill(step.status),
            escape(step.keyword.trim()),
            escape(&format!(" {}", step.text)),
            step.duration_s
        );
    }
    s.push_str("</table>");
    for hook in &attempt.hook_errors {
        let _ = write!(
            s,
            r#"<div class="failure"><pre>{}</pre></div>"#,
            escape(hook)
        );
    }
    let Some(lab) = &attempt.lab else {
        return s;
    };
    if attempt.status == Status::Failed {
        s.push_str(r#"<div class="failure">"#);
        if let Some(step) = attempt.failed_step() {
            let _ = write!(
                s,
                "<b>Failed at:</b> {}{}<br>",
                escape(&step.keyword),
                escape(&step.text)
            );
        }
        if let Some(last) = &lab.last_command {
            let _ = write!(
                s,
                "<b>Last command:</b> <code>{}</code> ({})<pre>{}</pre>",
                escape(&last.command),
                escape(&last.ending),
                escape(&last.tail)
            );
        }
        if let Some(d) = &lab.diagnostics {
            s.push_str("<b>Diagnostics collected before cleanup:</b><ul>");
            for item in &d.items {
                let what = match &item.file {
                    Some(f) => rel_link(f, &item.title),
                    None => escape(&item.title),
                };
                let note = item
                    .note
                    .as_ref()
                    .map(|n| format!(" <span class=\"note\">({})</span>", escape(n)))
                    .unwrap_or_default();
                let _ = write!(s, "<li>{what}{note}</li>");
            }
            s.push_str("</ul>");
        }
        s.push_str("</div>");
    }
    if last {
        let entries = read_timeline(root, lab);
        if let Some(chart) = chart::build(&entries).filter(|c| !c.lanes.is_empty()) {
            s.push_str("<h4>Timeline</h4>");
            s.push_str(&chart::svg(&chart));
            s.push_str(r#"<div class="legend"><span><i style="background:#34a853"></i>Ready / Running</span><span><i style="background:#81c995"></i>Running, not ready</span><span><i style="background:#fbbc04"></i>Pending</span><span><i style="background:#f29900"></i>Unknown</span><span><i style="background:#d93025"></i>NotReady / Failed</span><span><i style="background:#9334e6"></i>Terminating</span><span><i style="background:#9aa0a6"></i>no status / done</span><span>▼ taints, restarts, events (hover for details)</span><span>○ observed late (after a watch reconnect)</span><span>dashed blue: marks</span><span>hatched: watch lost</span></div>"#);
            if chart.system_pods > 0 {
                let _ = write!(
                    s,
                    r#"<p class="note">{} pods of system namespaces (kube-system, kube-flannel) are not drawn; they are in the timeline file.</p>"#,
                    chart.system_pods
                );
            }
        }
        if let Some(t) = &lab.timeline {
            let only_marks = entries
                .iter()
                .all(|e| matches!(e.subject, crate::timeline::Subject::Harness));
            let why = if only_marks {
                "; marks only: the scenario attached no cluster API"
            } else {
                ""
            };
            let _ = write!(
                s,
                r#"<p class="note">Timeline: {} ({} entries{why})</p>"#,
                rel_link(t, t),
                entries.len()
            );
        }
        if !lab.measurements.is_empty() {
            s.push_str("<h4>Measured timings</h4><table><tr><th>measurement</th><th>from</th><th>to</th><th>value</th><th>expected</th><th>verdict</th></tr>");
            for m in &lab.measurements {
                let expected = m
                    .expected
                    .as_ref()
                    .map_or_else(|| "—".to_string(), |e| format!("{e} ({})", e.source));
                let _ = write!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}{}</td></tr>",
                    escape(&m.name),
                    escape(m.from_mark.as_deref().unwrap_or("—")),
                    escape(m.to.as_deref().unwrap_or("—")),
                    m.value.map_or_else(|| "—".to_string(), human),
                    escape(&expected),
                    verdict_pill(m.verdict()),
                    m.note
                        .as_ref()
                        .map(|n| format!("<br><span class=\"note\">{}</span>", escape(n)))
                        .unwrap_or_default()
                );
            }
            s.push_str("</table>");
        }
        if !lab.claims.is_empty() {
            s.push_str("<h4>Claims</h4>");
            let dummy_f = FeatureReport {
                name: String::new(),
                path: None,
                tags: Vec::new(),
                scenarios: Vec::new(),
            };
            let dummy_s = ScenarioReport {
                name: String::new(),
                line: 0,
                tags: Vec::new(),
                attempts: Vec::new(),
            };
            let rows: Vec<(&FeatureReport, &ScenarioReport, &Claim)> =
                lab.claims.iter().map(|c| (&dummy_f, &dummy_s, c)).collect();
            s.push_str(&claims_table(&rows, false));
        }
        if !lab.outcomes.is_empty() || !lab.marks.is_empty() {
            s.push_str("<h4>Outcomes and marks</h4><table>");
            for (k, v) in &lab.outcomes {
                let _ = write!(s, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
            }
            for (k, at) in &lab.marks {
                let _ = write!(
                    s,
                    "<tr><th>mark “{}”</th><td>{}</td></tr>",
                    escape(k),
                    at.strftime("%H:%M:%S%.3f UTC")
                );
            }
            s.push_str("</table>");
        }
        if let Some(c) = &lab.cluster
            && let Some(v) = &c.kubernetes_version
        {
            let _ = write!(
                s,
                r#"<p class="note">Cluster: Kubernetes {}</p>"#,
                escape(v)
            );
        }
        for p in &lab.problems {
            let _ = write!(s, r#"<p class="note">Problem: {}</p>"#, escape(p));
        }
    }
    let transcript = std::fs::read_to_string(root.join(&lab.transcript)).unwrap_or_default();
    let commands =
        transcript.matches("\n=== #").count() + usize::from(transcript.starts_with("=== #"));
    let shown = if transcript.len() > TRANSCRIPT_LIMIT {
        let mut cut = transcript.len() - TRANSCRIPT_LIMIT;
        while !transcript.is_char_boundary(cut) {
            cut += 1;
        }
        format!(
            "… (the first {} bytes are in the file)\n{}",
            cut,
            &transcript[cut..]
        )
    } else {
        transcript
    };
    let _ = write!(
        s,
        r#"<details><summary>Command transcript ({commands} commands) — {}</summary><pre class="transcript">{}</pre></details>"#,
        rel_link(&lab.transcript, &lab.transcript),
        escape(&shown)
    );
    s
}
