//! The timeline chart of the HTML report: a hand-built SVG (no scripts, no external assets) with
//! one lane per node (its Ready state over time, taint changes as ticks), one lane per workload
//! pod (its status over time, labelled with its node), a lane of Kubernetes events, the harness's
//! marks as vertical lines, and the recorder's watch outages as hatched bands. Transitions learned
//! late (after a reconnect) are drawn as hollow dots.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;

use crate::timeline::{Change, Entry, Subject};

use super::html::escape;

/// Namespaces whose pods are not drawn one by one (they are counted in the legend).
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-flannel", "kube-node-lease"];

/// One stretch of a lane in one state.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start.
    pub from: Timestamp,
    /// End.
    pub to: Timestamp,
    /// The state's CSS class (`ready`, `notready`, `unknown`, `pending`, `running`, …).
    pub class: &'static str,
    /// The text shown in it (state, node).
    pub label: String,
}

/// A point on a lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// When.
    pub at: Timestamp,
    /// Tooltip.
    pub text: String,
    /// CSS class (`taint`, `restart`, `warning`, `normal`).
    pub class: &'static str,
    /// Learned after a reconnect.
    pub late: bool,
}

/// One row of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// Its label (`node k8s-labs-m02`).
    pub label: String,
    /// Its states.
    pub segments: Vec<Segment>,
    /// Its point events.
    pub ticks: Vec<Tick>,
}

/// Everything drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The time at the left edge.
    pub start: Timestamp,
    /// The time at the right edge.
    pub end: Timestamp,
    /// Rows, nodes first.
    pub lanes: Vec<Lane>,
    /// Marks: name and time.
    pub marks: Vec<(String, Timestamp)>,
    /// Watch outages: from, to.
    pub outages: Vec<(Timestamp, Timestamp)>,
    /// Pods in system namespaces not drawn.
    pub system_pods: usize,
}

struct Open {
    since: Timestamp,
    class: &'static str,
    label: String,
}

#[derive(Default)]
struct LaneBuilder {
    label: String,
    open: Option<Open>,
    segments: Vec<Segment>,
    ticks: Vec<Tick>,
}

impl LaneBuilder {
    fn set(&mut self, at: Timestamp, class: &'static str, label: String) {
        if let Some(open) = &self.open
            && open.class == class
            && open.label == label
        {
            return;
        }
        self.close(at);
        self.open = Some(Open {
            since: at,
            class,
            label,
        });
    }

    fn close(&mut self, at: Timestamp) {
        if let Some(open) = self.open.take()
            && at > open.since
        {
            self.segments.push(Segment {
                from: open.since,
                to: at,
                class: open.class,
                label: open.label,
            });
        }
    }

    fn finish(mut self, end: Timestamp) -> Lane {
        self.close(end);
        Lane {
            label: self.label,
            segments: self.segments,
            ticks: self.ticks,
        }
    }
}

fn node_class(status: &str) -> (&'static str, &'static str) {
    match status {
        "True" => ("ready", "Ready"),
        "False" => ("notready", "NotReady"),
        _ => ("unknown", "Unknown"),
    }
}

#[derive(Default)]
struct PodView {
    phase: Option<String>,
    ready: bool,
    node: Option<String>,
    terminating: bool,
}

impl PodView {
    fn class(&self) -> (&'static str, String) {
        let node = self
            .node
            .as_deref()
            .map(|n| format!(" on {n}"))
            .unwrap_or_default();
        if self.terminating {
            return ("terminating", format!("Terminating{node}"));
        }
        match self.phase.as_deref() {
            Some("Running") if self.ready => ("running", format!("Running{node}")),
            Some("Running") => ("started", format!("Running, not ready{node}")),
            Some("Succeeded") => ("done", format!("Succeeded{node}")),
            Some("Failed") => ("failed", format!("Failed{node}")),
            Some(p) => ("pending", format!("{p}{node}")),
            None => ("pending", format!("Pending{node}")),
        }
    }
}

/// Builds the chart from a timeline's entries (`None` when there is nothing to draw).
#[must_use]
pub fn build(entries: &[Entry]) -> Option<Chart> {
    let drawn: Vec<&Entry> = entries
        .iter()
        .filter(|e| !matches!(e.change, Change::LeaseRenewed))
        .collect();
    let start = drawn.first()?.observed;
    let end = drawn
        .last()?
        .observed
        .max(start + jiff::SignedDuration::from_secs(1));
    let mut nodes: BTreeMap<String, LaneBuilder> = BTreeMap::new();
    let mut node_order: Vec<String> = Vec::new();
    let mut pods: BTreeMap<(String, String), (LaneBuilder, PodView)> = BTreeMap::new();
    let mut pod_order: Vec<(String, String)> = Vec::new();
    let mut system: BTreeMap<(String, String), ()> = BTreeMap::new();
    let mut events = LaneBuilder {
        label: "events".into(),
        ..LaneBuilder::default()
    };
    let mut marks = Vec::new();
    let mut outages = Vec::new();
    let mut lost: BTreeMap<String, Timestamp> = BTreeMap::new();
    for e in &drawn {
        let at = e.observed;
        match (&e.subject, &e.change) {
            (Subject::Node { name }, change) => {
                let lane = nodes.entry(name.clone()).or_insert_with(|| {
                    node_order.push(name.clone());
                    LaneBuilder {
                        label: format!("node {name}"),
                        ..LaneBuilder::default()
                    }
                });
                match change {
                    Change::NodeAdded => lane.set(at, "nostatus", "no status yet".into()),
                    Change::NodeReady { status, reason, .. } => {
                        let (class, text) = node_class(status);
                        let label = match reason {
                            Some(r) if class != "ready" => format!("{text} ({r})"),
                            _ => text.to_string(),
                        };
                        lane.set(at, class, label);
                        if e.late() {
                            lane.ticks.push(Tick {
                                at,
                                text: format!("Ready={status} (observed late)"),
                                class: "late",
                                late: true,
                            });
                        }
                    }
                    Change::NodeTaints { taints } => lane.ticks.push(Tick {
                        at,
                        text: if taints.is_empty() {
                            "taints removed".into()
                        } else {
                            format!("taints: {}", taints.join(", "))
                        },
                        class: "taint",
                        late: e.late(),
                    }),
                    Change::NodeUnschedulable { unschedulable } => lane.ticks.push(Tick {
                        at,
                        text: format!("unschedulable={unschedulable}"),
                        class: "taint",
                        late: e.late(),
                    }),
                    Change::NodeDeleted => lane.close(at),
                    _ => {}
                }
            }
            (Subject::Pod { namespace, name }, change) => {
                let key = (namespace.clone(), name.clone());
                if SYSTEM_NAMESPACES.contains(&namespace.as_str()) {
                    system.insert(key, ());
                    continue;
                }
                let (lane, view) = pods.entry(key.clone()).or_insert_with(|| {
                    pod_order.push(key.clone());
                    (
                        LaneBuilder {
                            label: format!("pod {namespace}/{name}"),
                            ..LaneBuilder::default()
                        },
                        PodView::default(),
                    )
                });
                match change {
                    Change::PodAdded { node, phase, .. } => {
                        *view = PodView {
                            phase: phase.clone(),
                            node: node.clone(),
                            ..PodView::default()
                        };
                    }
                    Change::PodScheduled { node } => view.node = Some(node.clone()),
                    Change::PodPhase { phase } => view.phase = Some(phase.clone()),
                    Change::PodReady { ready } => view.ready = *ready,
                    Change::PodTerminating { .. } => view.terminating = true,
                    Change::PodRestarts {
                        container,
                        restarts,
                    } => lane.ticks.push(Tick {
                        at,
                        text: format!("container {container} restarted ({restarts})"),
                        class: "restart",
                        late: e.late(),
                    }),
                    Change::PodDeleted => {
                        lane.close(at);
                        lane.ticks.push(Tick {
                            at,
                            text: "deleted".into(),
                            class: "deleted",
                            late: e.late(),
                        });
                        continue;
                    }
                    _ => {}
                }
                if !matches!(change, Change::PodRestarts { .. }) {
                    let (class, label) = view.class();
                    lane.set(at, class, label);
                    if e.late() {
                        lane.ticks.push(Tick {
                            at,
                            text: format!("{} (observed late)", e.change),
                            class: "late",
                            late: true,
                        });
                    }
                }
            }
            (
                Subject::Event { .. },
                Change::Event {
                    type_,
                    reason,
                    object,
                    message,
                    ..
                },
            ) => {
                events.ticks.push(Tick {
                    at: e.server.filter(|s| *s >= start && *s <= end).unwrap_or(at),
                    text: format!("{type_} {reason} on {object}: {message}"),
                    class: if type_ == "Warning" {
                        "warning"
                    } else {
                        "normal"
                    },
                    late: e.late(),
                });
            }
            (Subject::Harness, Change::Mark { name }) => marks.push((name.clone(), at)),
            (Subject::Watch { resource }, Change::WatchLost { .. }) => {
                lost.entry(resource.clone()).or_insert(at);
            }
            (Subject::Watch { resource }, Change::WatchResumed { .. }) => {
                if let Some(from) = lost.remove(resource) {
                    outages.push((from, at));
                }
            }
            _ => {}
        }
    }
    for (_, from) in lost {
        outages.push((from, end));
    }
    let mut lanes: Vec<Lane> = node_order
        .iter()
        .filter_map(|n| nodes.remove(n))
        .map(|l| l.finish(end))
        .collect();
    lanes.extend(
        pod_order
            .iter()
            .filter_map(|k| pods.remove(k))
            .map(|(l, _)| l.finish(end)),
    );
    if !events.ticks.is_empty() {
        lanes.push(events.finish(end));
    }
    Some(Chart {
        start,
        end,
        lanes,
        marks,
        outages,
        system_pods: system.len(),
    })
}

/// A tick interval that gives about `target` ticks over `span` seconds.
fn tick_step(span: f64, target: f64) -> f64 {
    const STEPS: [f64; 14] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| span / s <= target)
        .unwrap_or(7200.0)
}

fn tick_label(secs: f64) -> String {
    if secs < 60.0 {
        format!("+{secs:.0}s")
    } else if secs % 60.0 == 0.0 {
        format!("+{:.0}m", secs / 60.0)
    } else {
        format!("+{:.0}m{:.0}s", (secs / 60.0).floor(), secs % 60.0)
    }
}

const LABEL_W: f64 = 250.0;
const PLOT_W: f64 = 760.0;
const LANE_H: f64 = 24.0;
const MARK_ROW_H: f64 = 14.0;
const AXIS_H: f64 = 22.0;

/// Renders the chart as an inline `<svg>` element.
#[must_use]
pub fn svg(chart: &Chart) -> String {
    let span = crate::timeline::duration_between(chart.start, chart.end)
        .as_secs_f64()
        .max(1.0);
    let x = |t: Timestamp| -> f64 {
        let dt = crate::timeline::duration_between(chart.start, t).as_secs_f64();
        LABEL_W + (dt / span).clamp(0.0, 1.0) * PLOT_W
    };
    // Mark labels go in rows so that neighbours do not overlap.
    let mut rows: Vec<f64> = Vec::new();
    let mut mark_rows = Vec::new();
    for (name, at) in &chart.marks {
        let mx = x(*at);
        let width = label_width(name);
        let (from, to) = if mx + width > LABEL_W + PLOT_W + 30.0 {
            (mx - width, mx)
        } else {
            (mx, mx + width)
        };
        let row = rows.iter().position(|end| *end < from).unwrap_or_else(|| {
            rows.push(f64::MIN);
            rows.len() - 1
        });
        rows[row] = to;
        mark_rows.push(row);
    }
    let top = MARK_ROW_H * rows.len().max(1) as f64 + 4.0;
    let height = top + LANE_H * chart.lanes.len() as f64 + AXIS_H;
    let width = LABEL_W + PLOT_W + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="timeline" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-label="timeline">"#
    );
    s.push_str(r##"<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f2f2f2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#bbb" stroke-width="2"/></pattern></defs>"##);
    let plot_bottom = top + LANE_H * chart.lanes.len() as f64;
    for (i, lane) in chart.lanes.iter().enumerate() {
        let y = top + LANE_H * i as f64;
        if i % 2 == 0 {
            let _ = write!(
                s,
                r##"<rect x="0" y="{y:.1}" width="{width:.0}" height="{LANE_H}" fill="#fafafa"/>"##
            );
        }
        let _ = write!(
            s,
            r#"<text class="lane" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL_W - 8.0,
            y + LANE_H / 2.0 + 4.0,
            escape(&shorten(&lane.label, 38))
        );
        for seg in &lane.segments {
            let (a, b) = (x(seg.from), x(seg.to));
            let w = (b - a).max(1.0);
            let _ = write!(
                s,
                r#"<rect class="seg {}" x="{a:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" rx="2"><title>{}: {} from {} to {}</title></rect>"#,
                seg.class,
                y + 4.0,
                LANE_H - 8.0,
                escape(&lane.label),
                escape(&seg.label),
                seg.from.strftime("%H:%M:%S"),
                seg.to.strftime("%H:%M:%S")
            );
            let chars = ((w - 6.0) / 6.2).floor();
            if chars >= 4.0 {
                let _ = write!(
                    s,
                    r#"<text class="seglabel" x="{:.1}" y="{:.1}">{}</text>"#,
                    a + 3.0,
                    y + LANE_H / 2.0 + 4.0,
                    escape(&shorten(&seg.label, chars as usize))
                );
            }
        }
        for tick in &lane.ticks {
            let tx = x(tick.at);
            let cy = y + LANE_H / 2.0;
            let title = escape(&tick.text);
            if tick.class == "late" {
                let _ = write!(
                    s,
                    r#"<circle class="late" cx="{tx:.1}" cy="{cy:.1}" r="4"><title>{title}</title></circle>"#
                );
            } else {
                let fill = if tick.late { "none" } else { "" };
                let _ = write!(
                    s,
                    r#"<path class="tick {}" d="M{tx:.1},{:.1} l-4,-7 h8 z" style="{}"><title>{title}</title></path>"#,
                    tick.class,
                    cy + 5.0,
                    if fill.is_empty() {
                        String::new()
                    } else {
                        format!("fill:{fill}")
                    }
                );
            }
        }
    }
    for (from, to) in &chart.outages {
        let (a, b) = (x(*from), x(*to));
        let _ = write!(
            s,
            r#"<rect class="outage" opacity="0.55" x="{a:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="url(#hatch)"><title>watch lost: the API server did not answer</title></rect>"#,
            (b - a).max(1.0),
            plot_bottom - top
        );
    }
    let step = tick_step(span, 10.0);
    let mut t = 0.0;
    while t <= span + 0.001 {
        let tx = LABEL_W + t / span * PLOT_W;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{tx:.1}" y1="{top:.1}" x2="{tx:.1}" y2="{plot_bottom:.1}"/><text class="axis" x="{tx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            plot_bottom + 15.0,
            tick_label(t)
        );
        t += step;
    }
    for ((name, at), row) in chart.marks.iter().zip(mark_rows) {
        let mx = x(*at);
        let ly = MARK_ROW_H * (row as f64 + 1.0) - 2.0;
        // A label that would run past the right edge is written leftwards from its line.
        let (lx, anchor) = if mx + label_width(name) > LABEL_W + PLOT_W + 30.0 {
            (mx - 2.0, "end")
        } else {
            (mx + 2.0, "start")
        };
        let _ = write!(
            s,
            r#"<line class="mark" x1="{mx:.1}" y1="{:.1}" x2="{mx:.1}" y2="{plot_bottom:.1}"/><text class="marklabel" x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}">{}</text>"#,
            ly + 2.0,
            escape(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// About how wide a mark's label is drawn.
fn label_width(name: &str) -> f64 {
    6.5 * name.chars().count() as f64 + 8.0
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{Origin, Timeline};

    fn t(s: &str) -> Timestamp {
        format!("2026-01-28T05:{s}Z").parse().unwrap()
    }

    fn worker_down() -> Vec<Entry> {
        let tl = Timeline::in_memory();
        let node = |n: &str| Subject::Node { name: n.into() };
        let pod = |n: &str| Subject::Pod {
            namespace: "default".into(),
            name: n.into(),
        };
        let ready = |s: &str| Change::NodeReady {
            status: s.into(),
            reason: None,
            message: None,
        };
        tl.record_at(
            t("00:00"),
            node("m03"),
            Change::NodeAdded,
            None,
            Origin::Initial,
        );
        tl.record_at(
            t("00:00"),
            node("m03"),
            ready("True"),
            None,
            Origin::Initial,
        );
        tl.record_at(
            t("00:00"),
            pod("web-a"),
            Change::PodAdded {
                node: Some("m03".into()),
                phase: Some("Running".into()),
                owner: None,
            },
            None,
            Origin::Initial,
        );
        tl.record_at(
            t("00:00"),
            pod("web-a"),
            Change::PodReady { ready: true },
            None,
            Origin::Initial,
        );
        tl.record_at(
            t("00:01"),
            Subject::Pod {
                namespace: "kube-system".into(),
                name: "etcd".into(),
            },
            Change::PodAdded {
                node: None,
                phase: None,
                owner: None,
            },
            None,
            Origin::Initial,
        );
        tl.record_at(
            t("00:10"),
            Subject::Harness,
            Change::Mark {
                name: "worker stopped".into(),
            },
            None,
            Origin::Harness,
        );
        tl.record_at(
            t("00:50"),
            node("m03"),
            ready("Unknown"),
            None,
            Origin::Watch,
        );
        tl.record_at(
            t("00:51"),
            node("m03"),
            Change::NodeTaints {
                taints: vec!["node.kubernetes.io/unreachable:NoExecute".into()],
            },
            None,
            Origin::Watch,
        );
        tl.record_at(
            t("01:00"),
            Subject::Watch {
                resource: "pods".into(),
            },
            Change::WatchLost {
                error: "refused".into(),
            },
            None,
            Origin::Harness,
        );
        tl.record_at(
            t("02:00"),
            Subject::Watch {
                resource: "pods".into(),
            },
            Change::WatchResumed { away_ms: 60_000 },
            None,
            Origin::Harness,
        );
        tl.record_at(
            t("02:00"),
            pod("web-a"),
            Change::PodTerminating {
                deletion_timestamp: t("05:51"),
                grace_seconds: Some(30),
            },
            None,
            Origin::Relist,
        );
        tl.record_at(
            t("02:01"),
            Subject::Event {
                namespace: "default".into(),
                name: "e".into(),
            },
            Change::Event {
                type_: "Warning".into(),
                reason: "NodeNotReady".into(),
                object: crate::timeline::ObjectRef {
                    kind: "Pod".into(),
                    namespace: "default".into(),
                    name: "web-a".into(),
                },
                message: "Node is not ready".into(),
                count: 1,
            },
            None,
            Origin::Watch,
        );
        tl.entries()
    }

    #[test]
    fn lanes_follow_states_marks_and_outages() {
        let chart = build(&worker_down()).unwrap();
        assert_eq!(chart.start, t("00:00"));
        assert_eq!(chart.end, t("02:01"));
        let labels: Vec<&str> = chart.lanes.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["node m03", "pod default/web-a", "events"]);
        let node: Vec<(&str, String)> = chart.lanes[0]
            .segments
            .iter()
            .map(|s| (s.class, s.label.clone()))
            .collect();
        assert_eq!(
            node,
            [
                ("ready", "Ready".to_string()),
                ("unknown", "Unknown".to_string())
            ]
        );
        assert_eq!(chart.lanes[0].segments[1].from, t("00:50"));
        let pod: Vec<&str> = chart.lanes[1]
            .segments
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(pod, ["Running on m03", "Terminating on m03"]);
        assert!(
            chart.lanes[1].ticks.iter().any(|t| t.late),
            "the relisted deletion is drawn as late"
        );
        assert_eq!(chart.marks, [("worker stopped".to_string(), t("00:10"))]);
        assert_eq!(chart.outages, [(t("01:00"), t("02:00"))]);
        assert_eq!(chart.system_pods, 1);
    }

    #[test]
    fn svg_is_well_formed_and_escaped() {
        let mut entries = worker_down();
        entries.push(Entry {
            seq: 99,
            observed: t("02:01"),
            server: None,
            origin: Origin::Harness,
            resource_version: None,
            subject: Subject::Harness,
            change: Change::Mark {
                name: "a <b> & c".into(),
            },
        });
        let svg = svg(&build(&entries).unwrap());
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a &lt;b&gt; &amp; c"), "{svg}");
        assert!(svg.contains("worker stopped"));
        assert!(svg.contains("url(#hatch)"));
        assert_eq!(svg.matches("<rect class=\"seg").count(), 4);
        assert!(build(&[]).is_none());
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(121.0, 10.0), 15.0);
        assert_eq!(tick_step(600.0, 10.0), 60.0);
        assert_eq!(tick_label(90.0), "+1m30s");
        assert_eq!(tick_label(120.0), "+2m");
    }
}
