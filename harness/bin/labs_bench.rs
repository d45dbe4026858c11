//! `labs-bench`: the numbers behind `scripts/bench` (see docs/performance.md).
//!
//! ```text
//! labs-bench sample --labsim-home DIR --out FILE [--every-ms N]
//! labs-bench run --name NAME --reports DIR [--audit DIR] [--samples FILE] [--wall-s S] --out FILE
//! labs-bench table --out FILE PART.json…
//! labs-bench scale --minikube LABSIM --profile P --reports DIR --sizes N,N… --out FILE
//! ```
//! - `sample` samples memory from `/proc` until it is sent SIGTERM/SIGINT: the harness (the
//!   `labs` test binary: its peak RSS, `VmHWM`) and every labsim node (the sum of the PSS of
//!   every process in a node's PID namespace, the namespaces read from the nodes' `state.json`
//!   under DIR), one JSON line per sample.
//! - `run` reads one labs run's reports folder (`run.json`, each scenario's `transcript.jsonl`
//!   and `timeline.jsonl`), the labsim event logs kept when its profiles were deleted
//!   (`LABSIM_EVENT_LOG_KEEP`), and the memory samples, and writes the run's figures as JSON: wall
//!   time per chapter, the overhead ratio, detection latency, peak memory.
//! - `scale` builds the course's cluster (3 labsim nodes, hello-world deployed) with the course's
//!   own commands, then scales hello-world to each size with `kubectl scale` and measures how
//!   long until every pod runs (or stops changing: the kubelet's `maxPods`, 110, caps a node),
//!   the events each of 10 concurrent pod watches gets and how far apart they get them (fan-out),
//!   LIST throughput at that size, hyperfine's time of `kubectl get pods`, and the cluster's
//!   memory; then deletes the profile and checks that no node process is left.
//! - `table` merges JSON objects (the runs' figures and the other parts `scripts/bench` writes)
//!   into one file and prints the table.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use k8s_labs::report::RunReport;
use k8s_labs::timeline::{Change, Entry, Origin, Subject};
use serde_json::{Value, json};

const USAGE: &str = "usage:
  labs-bench sample --labsim-home DIR --out FILE [--every-ms N]
  labs-bench run --name NAME --reports DIR [--audit DIR] [--samples FILE] [--wall-s S] --out FILE
  labs-bench table --out FILE PART.json…
  labs-bench scale --minikube LABSIM --profile P --reports DIR --sizes N,N… --out FILE";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labs-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The options after the subcommand: `--key value` pairs and positional arguments.
struct Args {
    options: BTreeMap<String, String>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut options = BTreeMap::new();
        let mut positional = Vec::new();
        let mut args = args.peekable();
        while let Some(a) = args.next() {
            if let Some(key) = a.strip_prefix("--") {
                let value = args
                    .next()
                    .with_context(|| format!("--{key} needs a value\n{USAGE}"))?;
                options.insert(key.to_string(), value);
            } else {
                positional.push(a);
            }
        }
        Ok(Self {
            options,
            positional,
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    fn need(&self, key: &str) -> anyhow::Result<&str> {
        self.get(key)
            .with_context(|| format!("--{key} is required\n{USAGE}"))
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let args = Args::parse(args)?;
    match command.as_str() {
        "sample" => sample(&args),
        "run" => analyse(&args),
        "table" => table(&args),
        "scale" => scale(&args),
        "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

// ---------------------------------------------------------------------------------------------
// sample

/// A `/proc/PID/status` field in kB.
fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kb_field(&text, field)
}

fn kb_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// The PID namespaces of the running labsim nodes under `home`.
fn node_namespaces(home: &Path) -> BTreeSet<u64> {
    let mut found = BTreeSet::new();
    let Ok(profiles) = std::fs::read_dir(home.join("profiles")) else {
        return found;
    };
    for profile in profiles.flatten() {
        let Ok(nodes) = std::fs::read_dir(profile.path().join("nodes")) else {
            continue;
        };
        for node in nodes.flatten() {
            let state = std::fs::read_to_string(node.path().join("state.json")).unwrap_or_default();
            if let Ok(v) = serde_json::from_str::<Value>(&state)
                && let Some(ns) = v["pid_ns"].as_u64().filter(|ns| *ns != 0)
            {
                found.insert(ns);
            }
        }
    }
    found
}

/// The inode of `/proc/PID/ns/pid` (`pid:[4026532…]`).
fn pid_namespace(pid: &str) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    let s = link.to_string_lossy();
    s.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
}

fn sample(args: &Args) -> anyhow::Result<()> {
    let home = PathBuf::from(args.need("labsim-home")?);
    let out = PathBuf::from(args.need("out")?);
    let every = Duration::from_millis(args.get("every-ms").unwrap_or("1000").parse()?);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [nix::sys::signal::SIGTERM, nix::sys::signal::SIGINT] {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut set = nix::sys::signal::SigSet::empty();
            set.add(signal);
            let _ = set.thread_block();
            let _ = set.wait();
            stop.store(true, Ordering::SeqCst);
        });
    }
    // Block the signals in this thread too, so only the waiting threads take them.
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::SIGTERM);
    set.add(nix::sys::signal::SIGINT);
    set.thread_block()?;
    let mut file = std::fs::File::create(&out).with_context(|| format!("{}", out.display()))?;
    while !stop.load(Ordering::SeqCst) {
        let namespaces = node_namespaces(&home);
        let (mut harness_hwm, mut harness_rss) = (0u64, 0u64);
        let (mut cluster_pss, mut cluster_rss, mut cluster_procs) = (0u64, 0u64, 0u64);
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let name = entry.file_name();
            let pid = name.to_string_lossy();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            let exe_name = exe
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if exe_name.starts_with("labs-") && exe.to_string_lossy().contains("/deps/") {
                harness_hwm = harness_hwm.max(status_kb(&pid, "VmHWM").unwrap_or(0));
                harness_rss = harness_rss.max(status_kb(&pid, "VmRSS").unwrap_or(0));
            } else if pid_namespace(&pid).is_some_and(|ns| namespaces.contains(&ns)) {
                cluster_procs += 1;
                cluster_rss += status_kb(&pid, "VmRSS").unwrap_or(0);
                let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
                    .unwrap_or_default();
                cluster_pss += kb_field(&rollup, "Pss").unwrap_or(0);
            }
        }
        let line = json!({
            "t": Timestamp::now().to_string(),
            "nodes": namespaces.len(),
            "harness_hwm_kb": harness_hwm,
            "harness_rss_kb": harness_rss,
            "cluster_pss_kb": cluster_pss,
            "cluster_rss_kb": cluster_rss,
            "cluster_procs": cluster_procs,
        });
        writeln!(file, "{line}")?;
        std::thread::sleep(every);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// run

/// A time interval.
#[derive(Debug, Clone, Copy)]
struct Span {
    from: Timestamp,
    to: Timestamp,
}

impl Span {
    fn secs(&self) -> f64 {
        (self.to.as_microsecond() - self.from.as_microsecond()).max(0) as f64 / 1e6
    }
}

/// The length of the union of `spans` clipped to `within`.
fn union_secs(spans: &[Span], within: Span) -> f64 {
    let mut v: Vec<Span> = spans
        .iter()
        .map(|s| Span {
            from: s.from.max(within.from),
            to: s.to.min(within.to),
        })
        .filter(|s| s.to > s.from)
        .collect();
    v.sort_by_key(|s| s.from);
    let mut total = 0.0;
    let mut current: Option<Span> = None;
    for s in v {
        match &mut current {
            Some(c) if s.from <= c.to => c.to = c.to.max(s.to),
            _ => {
                if let Some(c) = current.take() {
                    total += c.secs();
                }
                current = Some(s);
            }
        }
    }
    total + current.map_or(0.0, |c| c.secs())
}

/// `spans` sorted and merged where they overlap.
fn merged(spans: &[Span]) -> Vec<Span> {
    let mut v = spans.to_vec();
    v.sort_by_key(|s| s.from);
    let mut out: Vec<Span> = Vec::new();
    for s in v {
        match out.last_mut() {
            Some(c) if s.from <= c.to => c.to = c.to.max(s.to),
            _ => out.push(s),
        }
    }
    out
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The command intervals of a transcript.
fn command_spans(transcript: &Path) -> Vec<Span> {
    read_lines(transcript)
        .iter()
        .filter(|e| e["background"] != json!(true))
        .filter_map(|e| {
            let from: Timestamp = e["started"].as_str()?.parse().ok()?;
            let ms = i64::try_from(e["duration_ms"].as_u64()?).ok()?;
            Some(Span {
                from,
                to: from
                    .checked_add(jiff::SignedDuration::from_millis(ms))
                    .ok()?,
            })
        })
        .collect()
}

fn timeline(path: &Path) -> Vec<Entry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The audit-log object a timeline entry is about (`labsim audit`'s names).
fn audit_object(entry: &Entry) -> Option<String> {
    match (&entry.subject, &entry.change) {
        (Subject::Node { name }, Change::LeaseRenewed) => {
            Some(format!("leases.coordination.k8s.io/kube-node-lease/{name}"))
        }
        (Subject::Node { name }, _) => Some(format!("nodes/{name}")),
        (Subject::Pod { namespace, name }, _) => Some(format!("pods/{namespace}/{name}")),
        (Subject::Event { namespace, name }, _) => Some(format!("events/{namespace}/{name}")),
        _ => None,
    }
}

/// The kind of transition, for the per-kind latency rows.
fn change_kind(change: &Change) -> &'static str {
    match change {
        Change::LeaseRenewed => "lease renewed",
        Change::Event { .. } => "event",
        Change::NodeAdded
        | Change::NodeDeleted
        | Change::NodeReady { .. }
        | Change::NodeTaints { .. }
        | Change::NodeUnschedulable { .. } => "node",
        _ => "pod",
    }
}

/// labsim's time of each write: (object, resourceVersion) → completion times (one profile name
/// can be used by several clusters in a run: all are kept, the nearest is taken).
type AuditIndex = BTreeMap<(String, String), Vec<Timestamp>>;

fn audit_index(dir: &Path) -> anyhow::Result<(AuditIndex, usize)> {
    let mut index = AuditIndex::new();
    let mut files = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok((index, 0));
    };
    for f in entries.flatten() {
        let path = f.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        files += 1;
        let log: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("{}", path.display()))?;
        for object in log["changes"].as_array().into_iter().flatten() {
            let name = object["object"].as_str().unwrap_or_default().to_string();
            for change in object["changes"].as_array().into_iter().flatten() {
                let (Some(rv), Some(time)) = (
                    change["resourceVersion"].as_str(),
                    change["time"].as_str().and_then(|t| t.parse().ok()),
                ) else {
                    continue;
                };
                index
                    .entry((name.clone(), rv.to_string()))
                    .or_default()
                    .push(time);
            }
        }
    }
    Ok((index, files))
}

/// Median and p99 (nearest rank) of `v`, in ms.
fn stats(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return json!({ "n": 0 });
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    json!({
        "n": v.len(),
        "median_ms": round(rank(0.5)),
        "p99_ms": round(rank(0.99)),
        "max_ms": round(v[v.len() - 1]),
    })
}

/// `part / whole` to three decimals, as a JSON number.
fn ratio(part: f64, whole: f64) -> Value {
    if whole <= 0.0 {
        return Value::Null;
    }
    serde_json::from_str(&format!("{:.3}", part / whole)).unwrap_or(Value::Null)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn chapter_of(tags: &[String]) -> Option<u32> {
    tags.iter().find_map(|t| {
        t.trim_start_matches('@')
            .strip_prefix("chapter-")?
            .parse()
            .ok()
    })
}

#[allow(clippy::too_many_lines)]
fn analyse(args: &Args) -> anyhow::Result<()> {
    let name = args.need("name")?;
    let dir = PathBuf::from(args.need("reports")?);
    let out = PathBuf::from(args.need("out")?);
    let run = RunReport::read(&dir.join(k8s_labs::report::RUN_JSON)).map_err(anyhow::Error::msg)?;
    let whole = Span {
        from: run.started,
        to: run.finished,
    };
    let (audit, audit_files) = match args.get("audit") {
        Some(a) => audit_index(Path::new(a))?,
        None => (AuditIndex::new(), 0),
    };

    let mut chapters: BTreeMap<String, (f64, usize, usize)> = BTreeMap::new();
    let mut commands = command_spans(&dir.join("setup/transcript.jsonl"));
    let setup_commands = commands.clone();
    commands.clear();
    let mut waits: Vec<Span> = Vec::new();
    let mut settling: Vec<Span> = Vec::new();
    let mut latencies: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut all_latencies = Vec::new();
    let (mut matched, mut unmatched) = (0usize, 0usize);
    let mut scenarios = Vec::new();
    let mut attempt_spans: Vec<(String, Span)> = Vec::new();
    for feature in &run.features {
        for scenario in &feature.scenarios {
            let chapter = chapter_of(&scenario.tags)
                .or_else(|| chapter_of(&feature.tags))
                .map_or_else(|| feature.name.clone(), |c| format!("chapter {c}"));
            let passed = scenario
                .attempts
                .last()
                .is_some_and(|a| matches!(a.status, k8s_labs::report::Status::Passed));
            let mut secs = 0.0;
            for attempt in &scenario.attempts {
                let span = Span {
                    from: attempt.started,
                    to: attempt.finished,
                };
                attempt_spans.push((scenario.name.clone(), span));
                secs += span.secs();
                let Some(lab) = &attempt.lab else { continue };
                let folder = dir.join(&lab.dir);
                let cmds = command_spans(&folder.join("transcript.jsonl"));
                commands.extend(cmds.iter().copied());
                let marks: BTreeMap<&str, Timestamp> =
                    lab.marks.iter().map(|(m, t)| (m.as_str(), *t)).collect();
                for m in &lab.measurements {
                    if let (Some(value), Some(mark), Some(_)) =
                        (m.value, m.from_mark.as_deref(), &m.expected)
                        && let Some(from) = marks.get(mark)
                        && let Ok(to) = from.checked_add(value)
                    {
                        waits.push(Span { from: *from, to });
                    }
                }
                let entries = timeline(&folder.join(k8s_labs::timeline::FILE_NAME));
                // Cluster settling: within each step, from its start to the last change the
                // cluster made before the step ended (what the step was waiting for).
                let changes: Vec<Timestamp> = entries
                    .iter()
                    .filter(|e| matches!(e.origin, Origin::Watch | Origin::Poll | Origin::Relist))
                    .filter(|e| !matches!(e.change, Change::LeaseRenewed))
                    .map(|e| e.observed)
                    .collect();
                let mut step_from = attempt.started;
                for step in &attempt.steps {
                    let Ok(step_to) = step_from.checked_add(
                        jiff::SignedDuration::try_from_secs_f64(step.duration_s)
                            .unwrap_or_default(),
                    ) else {
                        break;
                    };
                    if let Some(last) = changes
                        .iter()
                        .filter(|t| **t > step_from && **t <= step_to)
                        .max()
                    {
                        settling.push(Span {
                            from: step_from,
                            to: *last,
                        });
                    }
                    step_from = step_to;
                }
                for e in &entries {
                    if !matches!(e.origin, Origin::Watch | Origin::Poll) {
                        continue;
                    }
                    let (Some(object), Some(rv)) = (audit_object(e), e.resource_version.clone())
                    else {
                        continue;
                    };
                    let Some(times) = audit.get(&(object, rv)) else {
                        unmatched += 1;
                        continue;
                    };
                    let seen = e.observed.as_microsecond();
                    let Some(best) = times
                        .iter()
                        .map(|t| (seen - t.as_microsecond()) as f64 / 1e3)
                        .filter(|d| (-5_000.0..120_000.0).contains(d))
                        .min_by(|a, b| a.abs().total_cmp(&b.abs()))
                    else {
                        unmatched += 1;
                        continue;
                    };
                    matched += 1;
                    latencies
                        .entry(change_kind(&e.change))
                        .or_default()
                        .push(best);
                    all_latencies.push(best);
                }
            }
            let c = chapters.entry(chapter.clone()).or_default();
            c.0 += secs;
            c.1 += 1;
            c.2 += usize::from(passed);
            scenarios.push(json!({
                "chapter": chapter,
                "feature": feature.name,
                "scenario": scenario.name,
                "wall_s": round(secs),
                "passed": passed,
            }));
        }
    }
    let wall = whole.secs();
    let in_commands = union_secs(&commands, whole);
    let in_waits = union_secs(&waits, whole);
    let mut explained_spans = commands.clone();
    explained_spans.extend(waits.iter().copied());
    let explained = union_secs(&explained_spans, whole);
    explained_spans.extend(settling.iter().copied());
    let explained_settled = union_secs(&explained_spans, whole);
    let setup = union_secs(&setup_commands, whole);
    // The largest stretches nothing explains: where the harness's own time goes.
    let explained_merged = merged(&explained_spans);
    let mut gaps: Vec<(f64, Span)> = Vec::new();
    let mut at = whole.from;
    for s in explained_merged.iter().chain(std::iter::once(&Span {
        from: whole.to,
        to: whole.to,
    })) {
        if s.from > at {
            let g = Span {
                from: at,
                to: s.from.min(whole.to),
            };
            gaps.push((g.secs(), g));
        }
        at = at.max(s.to);
    }
    gaps.sort_by(|a, b| b.0.total_cmp(&a.0));
    let largest_gaps: Vec<Value> = gaps
        .iter()
        .take(10)
        .map(|(secs, g)| {
            let scenario = attempt_spans
                .iter()
                .find(|(_, a)| a.from <= g.from && g.from < a.to)
                .map_or("(between scenarios)", |(n, _)| n.as_str());
            json!({ "from": g.from.to_string(), "secs": round(*secs), "scenario": scenario })
        })
        .collect();
    let mut figures = json!({
        "name": name,
        "run_id": run.run_id,
        "reports": dir.display().to_string(),
        "wall_s": round(wall),
        "process_wall_s": args.get("wall-s").and_then(|s| s.parse::<f64>().ok()).map(round),
        "scenarios": scenarios,
        "chapters": chapters.iter().map(|(c, (s, n, p))| json!({
            "chapter": c, "wall_s": round(*s), "scenarios": n, "passed": p,
        })).collect::<Vec<_>>(),
        "overhead": {
            "commands_s": round(in_commands),
            "configured_waits_s": round(in_waits),
            "explained_s": round(explained),
            "ratio_strict": ratio(wall - explained, wall),
            "cluster_settling_s": round(explained_settled - explained),
            "explained_with_settling_s": round(explained_settled),
            "ratio": ratio(wall - explained_settled, wall),
            "setup_commands_s": round(setup),
            "largest_unexplained": largest_gaps,
        },
        "detection": {
            "audit_files": audit_files,
            "matched": matched,
            "unmatched": unmatched,
            "all": stats(all_latencies),
            "by_kind": latencies.into_iter().map(|(k, v)| (k.to_string(), stats(v))).collect::<BTreeMap<_, _>>(),
        },
    });
    if let Some(samples) = args.get("samples") {
        let lines = read_lines(Path::new(samples));
        let peak = |key: &str| lines.iter().filter_map(|l| l[key].as_u64()).max();
        figures["memory"] = json!({
            "samples": lines.len(),
            "harness_peak_rss_mb": peak("harness_hwm_kb").map(|k| k / 1024),
            "cluster_peak_pss_mb": peak("cluster_pss_kb").map(|k| k / 1024),
            "cluster_peak_rss_mb": peak("cluster_rss_kb").map(|k| k / 1024),
            "cluster_peak_processes": peak("cluster_procs"),
        });
    }
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&json!({ name: figures }))?,
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// table

fn table(args: &Args) -> anyhow::Result<()> {
    let out = PathBuf::from(args.need("out")?);
    let mut all = serde_json::Map::new();
    for part in &args.positional {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(part)?).with_context(|| part.clone())?;
        if let Value::Object(m) = v {
            all.extend(m);
        }
    }
    let all = Value::Object(all);
    std::fs::write(&out, serde_json::to_string_pretty(&all)?)?;
    print!("{}", render(&all));
    Ok(())
}

fn f(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The Markdown table of everything `table` merged.
fn render(all: &Value) -> String {
    let mut s = String::new();
    let runs: Vec<(&String, &Value)> = all
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.get("run_id").is_some())
        .collect();
    if !runs.is_empty() {
        s.push_str("| figure |");
        for (name, _) in &runs {
            s.push_str(&format!(" {name} |"));
        }
        s.push_str("\n|---|");
        s.push_str(&"---|".repeat(runs.len()));
        s.push('\n');
        let mut row = |label: &str, get: &dyn Fn(&Value) -> Value| {
            s.push_str(&format!("| {label} |"));
            for (_, r) in &runs {
                s.push_str(&format!(" {} |", f(&get(r))));
            }
            s.push('\n');
        };
        row("course wall (s, run.json)", &|r| r["wall_s"].clone());
        row("process wall (s, cargo test)", &|r| {
            r["process_wall_s"].clone()
        });
        let mut chapters: BTreeSet<String> = BTreeSet::new();
        for (_, r) in &runs {
            for c in r["chapters"].as_array().into_iter().flatten() {
                chapters.insert(f(&c["chapter"]));
            }
        }
        for c in &chapters {
            row(&format!("{c} (s; passed/scenarios)"), &|r| {
                r["chapters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| f(&x["chapter"]) == *c)
                    .map_or(Value::Null, |x| {
                        json!(format!(
                            "{} ({}/{})",
                            f(&x["wall_s"]),
                            x["passed"],
                            x["scenarios"]
                        ))
                    })
            });
        }
        row("in commands (s)", &|r| r["overhead"]["commands_s"].clone());
        row("in configured waits (s)", &|r| {
            r["overhead"]["configured_waits_s"].clone()
        });
        row("cluster settling (s)", &|r| {
            r["overhead"]["cluster_settling_s"].clone()
        });
        row("overhead ratio (target ≤ 0.05)", &|r| {
            r["overhead"]["ratio"].clone()
        });
        row("overhead ratio, strict (no settling)", &|r| {
            r["overhead"]["ratio_strict"].clone()
        });
        row("detection latency median (ms)", &|r| {
            r["detection"]["all"]["median_ms"].clone()
        });
        row("detection latency p99 (ms, target ≤ 250)", &|r| {
            r["detection"]["all"]["p99_ms"].clone()
        });
        row("transitions matched / unmatched", &|r| {
            json!(format!(
                "{} / {}",
                r["detection"]["matched"], r["detection"]["unmatched"]
            ))
        });
        for kind in ["node", "pod", "event", "lease renewed"] {
            row(&format!("  {kind}: median / p99 (ms)"), &|r| {
                let k = &r["detection"]["by_kind"][kind];
                json!(format!("{} / {}", f(&k["median_ms"]), f(&k["p99_ms"])))
            });
        }
        row("harness peak RSS (MB)", &|r| {
            r["memory"]["harness_peak_rss_mb"].clone()
        });
        row("3-node cluster peak PSS (MB)", &|r| {
            r["memory"]["cluster_peak_pss_mb"].clone()
        });
        row("cluster peak processes", &|r| {
            r["memory"]["cluster_peak_processes"].clone()
        });
    }
    for (key, v) in all.as_object().into_iter().flatten() {
        if v.get("run_id").is_some() {
            continue;
        }
        s.push_str(&format!("\n**{key}**\n\n"));
        if let Some(rows) = v.as_array() {
            let cols: Vec<String> = rows
                .first()
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            s.push_str(&format!(
                "| {} |\n|{}\n",
                cols.join(" | "),
                "---|".repeat(cols.len())
            ));
            for r in rows {
                let cells: Vec<String> = cols.iter().map(|c| f(&r[c])).collect();
                s.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
        } else if let Some(o) = v.as_object() {
            s.push_str("| | |\n|---|---|\n");
            for (k, x) in o {
                s.push_str(&format!("| {k} | {} |\n", f(x)));
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// scale

/// How many watches follow the pods during a scale-up.
const WATCHERS: usize = 10;
/// When each watch got each pod version: per watch, (pod, resourceVersion) → time.
type Seen = Arc<std::sync::Mutex<Vec<BTreeMap<(String, String), std::time::Instant>>>>;

/// LIST requests per throughput measurement.
const LISTS: u32 = 20;

fn scale(args: &Args) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(scale_async(args))
}

/// The memory of the running labsim nodes now: (PSS MB, processes).
fn cluster_memory(home: &Path) -> (u64, u64) {
    let namespaces = node_namespaces(home);
    let (mut pss, mut procs) = (0u64, 0u64);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if pid.bytes().all(|b| b.is_ascii_digit())
            && pid_namespace(&pid).is_some_and(|ns| namespaces.contains(&ns))
        {
            procs += 1;
            let rollup =
                std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
            pss += kb_field(&rollup, "Pss").unwrap_or(0);
        }
    }
    (pss / 1024, procs)
}

async fn scale_async(args: &Args) -> anyhow::Result<()> {
    use k8s_labs::course::{self, Stage};
    use k8s_labs::settings::{ProviderKind, Settings, Timing};

    let labsim = PathBuf::from(args.need("minikube")?);
    let reports_dir = PathBuf::from(args.need("reports")?);
    let out = PathBuf::from(args.need("out")?);
    let sizes: Vec<u32> = args
        .get("sizes")
        .unwrap_or("2,50,500")
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let home = PathBuf::from(std::env::var("LABSIM_HOME").context(
        "LABSIM_HOME must name the labsim state folder the cluster is created in (its nodes are sampled for memory)",
    )?);
    let reports = k8s_labs::reports::Reports::create(&reports_dir)?;
    let minikube = k8s_labs::labsim::link_as_minikube(&labsim, &reports_dir.join("bin"))?;
    let settings = Settings {
        provider: ProviderKind::Labsim,
        minikube,
        profile: args.need("profile")?.to_string(),
        k8s_version: k8s_labs::versions::K8sVersion::default(),
        timing: Timing::Fast,
        keep_on_failure: false,
        scripts: k8s_labs::provisioning::Scripts::Ours,
    };
    let run = k8s_labs::run::Run::new(settings, reports, k8s_labs::redact::Redactor::new());
    let lease = run.lease_profile();
    let mut lab = run.new_lab("scaling", "hello-world scaled", &lease)?;
    let started = std::time::Instant::now();
    let result = async {
        course::reach(&mut lab, Stage::HelloWorldDeployed).await?;
        let build_s = started.elapsed().as_secs_f64();
        eprintln!("labs-bench: course cluster with hello-world in {build_s:.1} s");
        let mut rows = Vec::new();
        for &n in &sizes {
            rows.push(scale_to(&lab, &home, n).await?);
            eprintln!("labs-bench: {}", rows.last().expect("pushed"));
        }
        anyhow::Ok((build_s, rows))
    }
    .await;
    let (memory_before_delete, _) = cluster_memory(&home);
    let namespaces = node_namespaces(&home);
    let finished = lab.finish(true, None).await;
    // Every node process must be gone with the profile.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let leftover = std::fs::read_dir("/proc")?
        .flatten()
        .filter(|e| {
            pid_namespace(&e.file_name().to_string_lossy())
                .is_some_and(|ns| namespaces.contains(&ns))
        })
        .count();
    finished?;
    let (build_s, rows) = result?;
    let report = json!({
        "scaling": rows,
        "scaling_cleanup": {
            "course_cluster_build_s": round(build_s),
            "cluster_pss_mb_before_delete": memory_before_delete,
            "node_processes_left_after_delete": leftover,
        },
    });
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    if leftover > 0 {
        bail!("{leftover} processes of the deleted profile's nodes are still running");
    }
    Ok(())
}

/// The hello-world pods: (running and ready, pending, total).
fn hello_counts(pods: &[k8s_openapi::api::core::v1::Pod]) -> (usize, usize, usize) {
    let mine: Vec<_> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("hello-world"))
        })
        .collect();
    let phase = |p: &&k8s_openapi::api::core::v1::Pod, want: &str| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(want)
    };
    let ready = mine
        .iter()
        .filter(|p| phase(p, "Running"))
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count();
    let pending = mine.iter().filter(|p| phase(p, "Pending")).count();
    (ready, pending, mine.len())
}

#[allow(clippy::too_many_lines)]
async fn scale_to(lab: &k8s_labs::lab::Lab, home: &Path, n: u32) -> anyhow::Result<Value> {
    use futures::StreamExt as _;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams};
    use kube::runtime::watcher;

    let client = lab.kube()?.clone();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // The watches, each recording when it got each pod version.
    let seen: Seen = Arc::new(std::sync::Mutex::new(vec![BTreeMap::new(); WATCHERS]));
    let mut tasks = Vec::new();
    for i in 0..WATCHERS {
        let api = pods.clone();
        let seen = seen.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = stream.next().await {
                if let Ok(watcher::Event::Apply(p) | watcher::Event::Delete(p)) = event {
                    let key = (
                        p.metadata.name.clone().unwrap_or_default(),
                        p.metadata.resource_version.clone().unwrap_or_default(),
                    );
                    seen.lock().expect("not poisoned")[i].insert(key, std::time::Instant::now());
                }
            }
        }));
    }
    // Let the watches list and start.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t0 = std::time::Instant::now();
    k8s_labs::course::host_kubectl(
        lab,
        &[
            "scale",
            "deployment",
            "hello-world",
            &format!("--replicas={n}"),
        ],
    )
    .await?;
    // Until all run, or nothing changed for 30 s (a node's maxPods caps it), 15 min at most.
    let mut last = (usize::MAX, usize::MAX, usize::MAX);
    let mut last_change = std::time::Instant::now();
    let mut settled_at = t0;
    let counts = loop {
        let list = pods.list(&ListParams::default()).await?;
        let c = hello_counts(&list.items);
        if c != last {
            last = c;
            last_change = std::time::Instant::now();
            settled_at = last_change;
        }
        let n = n as usize;
        if (c.0 == n && c.2 == n)
            || last_change.elapsed() > Duration::from_secs(30)
            || t0.elapsed() > Duration::from_secs(900)
        {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let converge_s = settled_at.duration_since(t0).as_secs_f64();
    // LIST throughput at this size.
    let t = std::time::Instant::now();
    for _ in 0..LISTS {
        pods.list(&ListParams::default()).await?;
    }
    let list_per_s = f64::from(LISTS) / t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for t in &tasks {
        t.abort();
    }
    // Fan-out: per pod version seen by every watch, how far apart they got it.
    let seen = seen.lock().expect("not poisoned").clone();
    let versions: BTreeSet<&(String, String)> = seen.iter().flat_map(|m| m.keys()).collect();
    let mut spread = Vec::new();
    for v in &versions {
        let times: Vec<std::time::Instant> =
            seen.iter().filter_map(|m| m.get(*v)).copied().collect();
        if times.len() == WATCHERS
            && let (Some(a), Some(b)) = (times.iter().min(), times.iter().max())
            && *a >= t0
        {
            spread.push(b.duration_since(*a).as_secs_f64() * 1e3);
        }
    }
    let events_per_watch = seen
        .iter()
        .map(|m| m.values().filter(|t| **t >= t0).count())
        .max()
        .unwrap_or(0);
    // kubectl's view at this size, timed by hyperfine.
    let files = lab
        .course()
        .context("the course's cluster has no state")?
        .files();
    let hf = std::env::temp_dir().join(format!(
        "labs-bench-hyperfine-{}-{n}.json",
        std::process::id()
    ));
    let status = std::process::Command::new("hyperfine")
        .args([
            "--runs",
            "10",
            "--warmup",
            "1",
            "--style",
            "none",
            "--export-json",
        ])
        .arg(&hf)
        .arg(format!(
            "KUBECONFIG={} KUBECACHEDIR={} kubectl get pods -o name",
            files.kubeconfig().display(),
            files.cache_dir().display()
        ))
        .stdout(std::process::Stdio::null())
        .status()?;
    let kubectl_ms = if status.success() {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&hf)?)?;
        v["results"][0]["median"].as_f64().map(|s| round(s * 1e3))
    } else {
        None
    };
    let _ = std::fs::remove_file(&hf);
    let (pss_mb, procs) = cluster_memory(home);
    Ok(json!({
        "replicas": n,
        "running_ready": counts.0,
        "pending": counts.1,
        "converge_s": round(converge_s),
        "pods_per_s": if converge_s > 0.0 { round(counts.0 as f64 / converge_s) } else { 0.0 },
        "list_per_s": round(list_per_s),
        "kubectl_get_pods_median_ms": kubectl_ms,
        "watch_events_per_watch": events_per_watch,
        "watchers": WATCHERS,
        "fanout_spread_median_ms": stats(spread.clone())["median_ms"],
        "fanout_spread_p99_ms": stats(spread)["p99_ms"],
        "cluster_pss_mb": pss_mb,
        "cluster_processes": procs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        format!("2026-11-28T09:{s}Z").parse().unwrap()
    }

    fn span(from: &str, to: &str) -> Span {
        Span {
            from: t(from),
            to: t(to),
        }
    }

    #[test]
    fn explained_time_is_the_union_of_overlapping_spans_within_the_run() {
        let spans = [
            span("00:00", "00:10"),
            span("00:05", "00:20"),
            span("00:30", "00:40"),
            span("00:55", "01:30"),
        ];
        // [0, 20] ∪ [30, 40] ∪ [55, 60] within a run of 0–60 s.
        assert!((union_secs(&spans, span("00:00", "01:00")) - 35.0).abs() < 1e-9);
        assert_eq!(merged(&spans).len(), 3);
    }

    #[test]
    fn stats_are_nearest_rank_medians_and_p99s() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        let s = stats(v);
        assert_eq!(s["n"], 200);
        assert_eq!(s["median_ms"], 100.0);
        assert_eq!(s["p99_ms"], 198.0);
        assert_eq!(s["max_ms"], 200.0);
        assert_eq!(stats(vec![]), json!({ "n": 0 }));
    }

    #[test]
    fn timeline_entries_name_the_audit_log_s_objects() {
        let entry = |subject: Subject, change: Change| Entry {
            seq: 1,
            observed: t("00:00"),
            server: None,
            origin: Origin::Watch,
            resource_version: Some("5".into()),
            subject,
            change,
        };
        let node = || Subject::Node { name: "m02".into() };
        assert_eq!(
            audit_object(&entry(node(), Change::LeaseRenewed)).as_deref(),
            Some("leases.coordination.k8s.io/kube-node-lease/m02")
        );
        assert_eq!(
            audit_object(&entry(node(), Change::NodeAdded)).as_deref(),
            Some("nodes/m02")
        );
        let pod = Subject::Pod {
            namespace: "default".into(),
            name: "web".into(),
        };
        assert_eq!(
            audit_object(&entry(pod, Change::PodDeleted)).as_deref(),
            Some("pods/default/web")
        );
        assert_eq!(
            audit_object(&entry(Subject::Harness, Change::NodeAdded)),
            None
        );
    }

    #[test]
    fn the_audit_index_keys_labsim_s_changes_by_object_and_resource_version() {
        let dir = std::env::temp_dir().join(format!("labs-bench-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // The shape `labsim audit -o json` (and LABSIM_EVENT_LOG_KEEP) writes.
        let log = json!({"changes": [{"object": "pods/default/web", "group": "", "resource": "pods",
            "namespace": "default", "name": "web", "changes": [
                {"time": "2026-11-28T09:12:40.380828Z", "received": "2026-11-28T09:12:40.332813Z",
                 "verb": "create", "resourceVersion": "301", "deleted": false, "user": "u", "code": 201, "auditId": "a"},
                {"time": "2026-11-28T09:12:40.478160Z", "received": "2026-11-28T09:12:40.421079Z",
                 "verb": "create", "subresource": "binding", "deleted": false, "user": "s", "code": 201, "auditId": "b"}]}],
            "faults": []});
        std::fs::write(dir.join("p-1.json"), log.to_string()).unwrap();
        std::fs::write(dir.join("notes.txt"), "not a log").unwrap();
        let (index, files) = audit_index(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(files, 1);
        assert_eq!(
            index.len(),
            1,
            "the binding has no resourceVersion: {index:?}"
        );
        assert_eq!(
            index[&("pods/default/web".to_string(), "301".to_string())],
            [t("12:40.380828")]
        );
    }

    #[test]
    fn chapters_come_from_tags_and_ratios_have_three_decimals() {
        assert_eq!(chapter_of(&["@chapter-7".into()]), Some(7));
        assert_eq!(chapter_of(&["chapter-3".into(), "slow".into()]), Some(3));
        assert_eq!(chapter_of(&["k8s(>=1.30)".into()]), None);
        assert_eq!(ratio(2.0, 3.0), json!(0.667));
        assert_eq!(ratio(1.0, 0.0), Value::Null);
        assert_eq!(
            kb_field("VmHWM:\t   50176 kB\nVmRSS: 1 kB", "VmHWM"),
            Some(50176)
        );
    }
}
