//! The default scheduling profile's rules (pkg/scheduler/framework/plugins), as pure functions over
//! pods and nodes.
//!
//! Filters, in the default profile's order, first failure wins for a node:
//! NodeUnschedulable, NodeName, TaintToleration (NoSchedule/NoExecute), NodeAffinity (nodeSelector
//! and required node affinity), NodePorts (hostPort conflicts), NodeResourcesFit (requests against
//! allocatable, and the pod count), PodTopologySpread (`DoNotSchedule` constraints) and
//! InterPodAffinity (required pod affinity and anti-affinity).
//!
//! Scores (0–100 per plugin, weighted as the default profile weights them): NodeResourcesFit
//! LeastAllocated (1), NodeResourcesBalancedAllocation (1), TaintToleration on PreferNoSchedule (3),
//! NodeAffinity preferred terms (2), PodTopologySpread with the system default constraints
//! (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway) over the pod's Service/ReplicaSet selector
//! (2). ImageLocality, preferred inter-pod affinity and volume plugins are not modelled.
//!
//! [`fit_error_message`] builds `FitError.Error()` with the preemption PostFilter message, as the
//! configured version words it.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use crate::controllers::util;
use crate::version::Minor;

/// `schedutil.DefaultMilliCPURequest`: what a container without a CPU request counts for scoring.
pub const DEFAULT_MILLI_CPU: i64 = 100;
/// `schedutil.DefaultMemoryRequest` (200 MiB).
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;
/// `framework.MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

/// Compute resources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Pods.
    pub pods: i64,
}

/// A resource.Quantity as a number of `unit`-ths (1000 for millicores, 1 for bytes): `500m`, `2`,
/// `1.5`, `128Mi`, `1G`, `1e3`.
pub fn parse_quantity(q: &Value, scale: f64) -> i64 {
    let s = match q {
        Value::Number(n) => return (n.as_f64().unwrap_or(0.0) * scale).round() as i64,
        Value::String(s) => s.trim(),
        _ => return 0,
    };
    let suffixes: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suf, mult) in suffixes {
        if let Some(num) = s.strip_suffix(suf)
            && let Ok(n) = num.parse::<f64>()
        {
            return (n * mult * scale).round() as i64;
        }
    }
    s.parse::<f64>().map_or(0, |n| (n * scale).round() as i64)
}

fn container_requests(c: &Value, non_zero: bool) -> Resources {
    let r = &c["resources"]["requests"];
    let mut cpu = parse_quantity(&r["cpu"], 1000.0);
    let mut mem = parse_quantity(&r["memory"], 1.0);
    if non_zero {
        if r["cpu"].is_null() {
            cpu = DEFAULT_MILLI_CPU;
        }
        if r["memory"].is_null() {
            mem = DEFAULT_MEMORY;
        }
    }
    Resources {
        milli_cpu: cpu,
        memory: mem,
        pods: 0,
    }
}

/// The pod's requests (`resource.PodRequests`): the sum over containers (plus restartable init
/// containers), at least the largest init container, plus the overhead; with `non_zero`, containers
/// without requests count the scheduler's defaults (used for scoring).
pub fn pod_requests(pod: &Value, non_zero: bool) -> Resources {
    let mut total = Resources::default();
    for c in util::array(&pod["spec"]["containers"]) {
        let r = container_requests(&c, non_zero);
        total.milli_cpu += r.milli_cpu;
        total.memory += r.memory;
    }
    let mut sidecars = Resources::default();
    for c in util::array(&pod["spec"]["initContainers"]) {
        let r = container_requests(&c, false);
        if c["restartPolicy"] == "Always" {
            sidecars.milli_cpu += r.milli_cpu;
            sidecars.memory += r.memory;
            total.milli_cpu += r.milli_cpu;
            total.memory += r.memory;
        } else {
            total.milli_cpu = total.milli_cpu.max(r.milli_cpu + sidecars.milli_cpu);
            total.memory = total.memory.max(r.memory + sidecars.memory);
        }
    }
    let o = &pod["spec"]["overhead"];
    total.milli_cpu += parse_quantity(&o["cpu"], 1000.0);
    total.memory += parse_quantity(&o["memory"], 1.0);
    total.pods = 1;
    total
}

/// A node with the pods on it (`framework.NodeInfo`).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node.
    pub node: Value,
    /// Non-terminal pods bound (or assumed) to it.
    pub pods: Vec<Value>,
}

impl NodeInfo {
    /// The node's name.
    pub fn name(&self) -> &str {
        util::name(&self.node)
    }

    /// `status.allocatable`.
    pub fn allocatable(&self) -> Resources {
        let a = &self.node["status"]["allocatable"];
        Resources {
            milli_cpu: parse_quantity(&a["cpu"], 1000.0),
            memory: parse_quantity(&a["memory"], 1.0),
            pods: parse_quantity(&a["pods"], 1.0),
        }
    }

    /// The sum of its pods' requests.
    pub fn requested(&self, non_zero: bool) -> Resources {
        let mut r = Resources::default();
        for p in &self.pods {
            let q = pod_requests(p, non_zero);
            r.milli_cpu += q.milli_cpu;
            r.memory += q.memory;
            r.pods += 1;
        }
        r
    }
}

/// A filter's status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Unschedulable: preemption might help.
    Unschedulable,
    /// UnschedulableAndUnresolvable: preemption cannot help.
    Unresolvable,
}

/// Why a node was filtered out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The plugin.
    pub plugin: &'static str,
    /// The code.
    pub code: Code,
    /// The reasons (each counted in the FitError histogram).
    pub reasons: Vec<String>,
}

fn fail(plugin: &'static str, code: Code, reason: impl Into<String>) -> Failure {
    Failure {
        plugin,
        code,
        reasons: vec![reason.into()],
    }
}

/// Host ports a pod wants: `(hostIP, protocol, port)`.
fn host_ports(pod: &Value) -> Vec<(String, String, i64)> {
    let mut out = vec![];
    for list in ["containers", "initContainers"] {
        for c in util::array(&pod["spec"][list]) {
            for p in util::array(&c["ports"]) {
                let hp = util::int(&p["hostPort"]);
                if hp > 0 {
                    let ip = p["hostIP"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .unwrap_or("0.0.0.0");
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    out.push((ip.to_string(), proto.to_string(), hp));
                }
            }
        }
    }
    out
}

fn ports_conflict(a: &(String, String, i64), b: &(String, String, i64)) -> bool {
    a.2 == b.2 && a.1 == b.1 && (a.0 == b.0 || a.0 == "0.0.0.0" || b.0 == "0.0.0.0")
}

/// What the filters need besides the node: every node with its pods (for topology spread and
/// inter-pod affinity), and the namespaces' labels.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    /// Every node with its pods.
    pub nodes: Vec<NodeInfo>,
}

fn term_namespaces(pod: &Value, term: &Value) -> Vec<String> {
    let ns = util::array(&term["namespaces"]);
    if ns.is_empty() {
        vec![util::namespace(pod).to_string()]
    } else {
        ns.iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    }
}

fn term_matches(owner: &Value, term: &Value, other: &Value) -> bool {
    term_namespaces(owner, term)
        .iter()
        .any(|n| n == util::namespace(other))
        && util::selector_matches(&term["labelSelector"], &other["metadata"]["labels"])
}

fn required_terms(pod: &Value, kind: &str) -> Vec<Value> {
    util::array(&pod["spec"]["affinity"][kind]["requiredDuringSchedulingIgnoredDuringExecution"])
}

/// InterPodAffinity's filter.
fn inter_pod_affinity(pod: &Value, ni: &NodeInfo, cluster: &Cluster) -> Result<(), Failure> {
    const P: &str = "InterPodAffinity";
    let label = |n: &Value, k: &str| n["metadata"]["labels"][k].as_str().map(str::to_string);
    // Existing pods' anti-affinity against this pod.
    for other in &cluster.nodes {
        for ep in &other.pods {
            for term in required_terms(ep, "podAntiAffinity") {
                let key = term["topologyKey"].as_str().unwrap_or_default();
                if term_matches(ep, &term, pod)
                    && label(&other.node, key).is_some()
                    && label(&other.node, key) == label(&ni.node, key)
                {
                    return Err(fail(
                        P,
                        Code::Unschedulable,
                        "node(s) didn't satisfy existing pods anti-affinity rules",
                    ));
                }
            }
        }
    }
    let in_domain = |term: &Value| {
        let key = term["topologyKey"].as_str().unwrap_or_default();
        let Some(v) = label(&ni.node, key) else {
            return (false, false);
        };
        let mut any_anywhere = false;
        let mut here = false;
        for other in &cluster.nodes {
            for ep in &other.pods {
                if term_matches(pod, term, ep) {
                    any_anywhere = true;
                    if label(&other.node, key).as_deref() == Some(v.as_str()) {
                        here = true;
                    }
                }
            }
        }
        (here, any_anywhere)
    };
    let affinity = required_terms(pod, "podAffinity");
    if !affinity.is_empty() {
        let results: Vec<(bool, bool)> = affinity.iter().map(in_domain).collect();
        let all_here = results.iter().all(|(h, _)| *h);
        // The first pod of a group may land anywhere when it matches its own terms.
        let none_anywhere = results.iter().all(|(_, a)| !*a);
        let self_match = affinity.iter().all(|t| term_matches(pod, t, pod));
        let has_keys = affinity
            .iter()
            .all(|t| label(&ni.node, t["topologyKey"].as_str().unwrap_or_default()).is_some());
        let first_of_group = none_anywhere && self_match && has_keys;
        if !(all_here || first_of_group) {
            return Err(fail(
                P,
                Code::Unresolvable,
                "node(s) didn't match pod affinity rules",
            ));
        }
    }
    for term in required_terms(pod, "podAntiAffinity") {
        if in_domain(&term).0 {
            return Err(fail(
                P,
                Code::Unschedulable,
                "node(s) didn't match pod anti-affinity rules",
            ));
        }
    }
    Ok(())
}

/// PodTopologySpread's filter for `DoNotSchedule` constraints.
fn topology_spread_filter(pod: &Value, ni: &NodeInfo, cluster: &Cluster) -> Result<(), Failure> {
    const P: &str = "PodTopologySpread";
    for c in util::array(&pod["spec"]["topologySpreadConstraints"]) {
        if c["whenUnsatisfiable"] != "DoNotSchedule" {
            continue;
        }
        let key = c["topologyKey"].as_str().unwrap_or_default();
        let Some(value) = ni.node["metadata"]["labels"][key].as_str() else {
            return Err(fail(
                P,
                Code::Unresolvable,
                "node(s) didn't match pod topology spread constraints (missing required label)",
            ));
        };
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for other in &cluster.nodes {
            if !util::required_node_affinity_matches(&pod["spec"], &other.node) {
                continue;
            }
            let Some(v) = other.node["metadata"]["labels"][key].as_str() else {
                continue;
            };
            let n = other
                .pods
                .iter()
                .filter(|p| {
                    util::namespace(p) == util::namespace(pod)
                        && !util::is_being_deleted(p)
                        && util::selector_matches(&c["labelSelector"], &p["metadata"]["labels"])
                })
                .count() as i64;
            *counts.entry(v.to_string()).or_default() += n;
        }
        let min = counts.values().copied().min().unwrap_or(0);
        let self_match = i64::from(util::selector_matches(
            &c["labelSelector"],
            &pod["metadata"]["labels"],
        ));
        let here = counts.get(value).copied().unwrap_or(0);
        if here + self_match - min > util::int(&c["maxSkew"]).max(1) {
            return Err(fail(
                P,
                Code::Unschedulable,
                "node(s) didn't match pod topology spread constraints",
            ));
        }
    }
    Ok(())
}

/// Runs the filters for `pod` on one node: `Ok` or the first failure.
pub fn filter(pod: &Value, ni: &NodeInfo, cluster: &Cluster, minor: Minor) -> Result<(), Failure> {
    let spec = &pod["spec"];
    let node = &ni.node;
    let tolerations = util::array(&spec["tolerations"]);
    // NodeUnschedulable.
    if node["spec"]["unschedulable"] == true {
        let t =
            serde_json::json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"});
        if !tolerations.iter().any(|tol| util::tolerates(tol, &t)) {
            return Err(fail(
                "NodeUnschedulable",
                Code::Unresolvable,
                "node(s) were unschedulable",
            ));
        }
    }
    // NodeName.
    if let Some(n) = spec["nodeName"].as_str().filter(|n| !n.is_empty())
        && n != ni.name()
    {
        return Err(fail(
            "NodeName",
            Code::Unresolvable,
            "node(s) didn't match the requested node name",
        ));
    }
    // TaintToleration.
    let taints = util::array(&node["spec"]["taints"]);
    if let Some(t) = util::find_untolerated(&taints, &tolerations, |t| {
        t["effect"] == "NoSchedule" || t["effect"] == "NoExecute"
    }) {
        let reason = minor.untolerated_taint_reason(
            t["key"].as_str().unwrap_or_default(),
            t["value"].as_str().unwrap_or_default(),
        );
        return Err(fail("TaintToleration", Code::Unresolvable, reason));
    }
    // NodeAffinity.
    if !util::required_node_affinity_matches(spec, node) {
        return Err(fail(
            "NodeAffinity",
            Code::Unresolvable,
            "node(s) didn't match Pod's node affinity/selector",
        ));
    }
    // NodePorts.
    let want = host_ports(pod);
    if !want.is_empty() {
        let used: Vec<(String, String, i64)> = ni.pods.iter().flat_map(host_ports).collect();
        if want
            .iter()
            .any(|w| used.iter().any(|u| ports_conflict(w, u)))
        {
            return Err(fail(
                "NodePorts",
                Code::Unschedulable,
                "node(s) didn't have free ports for the requested pod ports",
            ));
        }
    }
    // NodeResourcesFit.
    let alloc = ni.allocatable();
    let used = ni.requested(false);
    let req = pod_requests(pod, false);
    let mut reasons = vec![];
    if used.pods + 1 > alloc.pods {
        reasons.push("Too many pods".to_string());
    }
    if req.milli_cpu > 0 && req.milli_cpu > alloc.milli_cpu - used.milli_cpu {
        reasons.push("Insufficient cpu".into());
    }
    if req.memory > 0 && req.memory > alloc.memory - used.memory {
        reasons.push("Insufficient memory".into());
    }
    if !reasons.is_empty() {
        return Err(Failure {
            plugin: "NodeResourcesFit",
            code: Code::Unschedulable,
            reasons,
        });
    }
    topology_spread_filter(pod, ni, cluster)?;
    inter_pod_affinity(pod, ni, cluster)?;
    Ok(())
}

/// `DefaultNormalizeScore`: scales to 0–100 by the maximum, reversed when asked.
pub fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let v = MAX_NODE_SCORE * *s / max;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}

/// The selector the system default spread constraints use for `pod` (`helper.DefaultSelector`):
/// the label requirements of the Services selecting it and of its ReplicaSet (or other
/// workload) owner, combined.
pub fn default_selector(
    pod: &Value,
    services: &[Value],
    replicasets: &[Value],
) -> Option<Vec<(String, String)>> {
    let mut reqs: Vec<(String, String)> = vec![];
    let labels = &pod["metadata"]["labels"];
    for s in services {
        if util::namespace(s) == util::namespace(pod)
            && util::map_selector_matches(&s["spec"]["selector"], labels)
        {
            for (k, v) in crate::controllers::string_map(&s["spec"]["selector"]) {
                reqs.push((k, v));
            }
        }
    }
    if let Some(owner) = util::controller_of(pod)
        && owner["kind"] == "ReplicaSet"
        && let Some(rs) = replicasets
            .iter()
            .find(|r| util::uid(r) == owner["uid"].as_str().unwrap_or_default())
    {
        for (k, v) in crate::controllers::string_map(&rs["spec"]["selector"]["matchLabels"]) {
            reqs.push((k, v));
        }
    }
    reqs.sort();
    reqs.dedup();
    (!reqs.is_empty()).then_some(reqs)
}

/// Scores the feasible nodes for `pod` (weighted sum of the default score plugins).
pub fn score(
    pod: &Value,
    feasible: &[&NodeInfo],
    selector: Option<&[(String, String)]>,
) -> Vec<i64> {
    let n = feasible.len();
    let req = pod_requests(pod, true);
    // NodeResourcesFit LeastAllocated and BalancedAllocation (cpu and memory, weight 1 each).
    let mut least = vec![0i64; n];
    let mut balanced = vec![0i64; n];
    for (i, ni) in feasible.iter().enumerate() {
        let alloc = ni.allocatable();
        let used = ni.requested(true);
        let frac = |used: i64, req: i64, cap: i64| -> (i64, f64) {
            if cap <= 0 {
                return (0, 1.0);
            }
            let r = used + req;
            let ls = if r > cap {
                0
            } else {
                (cap - r) * MAX_NODE_SCORE / cap
            };
            (ls, (r as f64 / cap as f64).min(1.0))
        };
        let (lc, fc) = frac(used.milli_cpu, req.milli_cpu, alloc.milli_cpu);
        let (lm, fm) = frac(used.memory, req.memory, alloc.memory);
        least[i] = (lc + lm) / 2;
        // Two resources: the standard deviation is half their difference.
        let std = (fc - fm).abs() / 2.0;
        balanced[i] = ((1.0 - std) * MAX_NODE_SCORE as f64) as i64;
    }
    // TaintToleration: intolerable PreferNoSchedule taints, fewer is better.
    let tolerations = util::array(&pod["spec"]["tolerations"]);
    let mut taint = vec![0i64; n];
    for (i, ni) in feasible.iter().enumerate() {
        taint[i] = util::array(&ni.node["spec"]["taints"])
            .iter()
            .filter(|t| t["effect"] == "PreferNoSchedule")
            .filter(|t| {
                !tolerations.iter().any(|tol| {
                    (tol["effect"].is_null() || tol["effect"] == "PreferNoSchedule")
                        && util::tolerates(tol, t)
                })
            })
            .count() as i64;
    }
    normalize(&mut taint, true);
    // NodeAffinity: preferred terms' weights.
    let preferred = util::array(
        &pod["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
    );
    let mut affinity = vec![0i64; n];
    for (i, ni) in feasible.iter().enumerate() {
        affinity[i] = preferred
            .iter()
            .filter(|p| util::node_selector_term_matches(&p["preference"], &ni.node))
            .map(|p| util::int(&p["weight"]))
            .sum();
    }
    normalize(&mut affinity, false);
    // PodTopologySpread: system default constraints, or the pod's own ScheduleAnyway ones.
    let spread = spread_scores(pod, feasible, selector);
    (0..n)
        .map(|i| least[i] + balanced[i] + 3 * taint[i] + 2 * affinity[i] + 2 * spread[i])
        .collect()
}

fn spread_scores(
    pod: &Value,
    feasible: &[&NodeInfo],
    selector: Option<&[(String, String)]>,
) -> Vec<i64> {
    let n = feasible.len();
    let own: Vec<Value> = util::array(&pod["spec"]["topologySpreadConstraints"])
        .into_iter()
        .filter(|c| c["whenUnsatisfiable"] == "ScheduleAnyway")
        .collect();
    let system = util::array(&pod["spec"]["topologySpreadConstraints"]).is_empty();
    // (topologyKey, maxSkew, matcher)
    type Matcher<'a> = Box<dyn Fn(&Value) -> bool + 'a>;
    let mut constraints: Vec<(String, i64, Matcher)> = vec![];
    if system {
        let Some(sel) = selector else {
            return vec![0; n];
        };
        let sel: Vec<(String, String)> = sel.to_vec();
        for (key, skew) in [
            ("kubernetes.io/hostname", 3),
            ("topology.kubernetes.io/zone", 5),
        ] {
            let s = sel.clone();
            constraints.push((
                key.to_string(),
                skew,
                Box::new(move |p: &Value| {
                    s.iter()
                        .all(|(k, v)| p["metadata"]["labels"][k] == v.as_str())
                }),
            ));
        }
    } else {
        for c in &own {
            let sel = c["labelSelector"].clone();
            constraints.push((
                c["topologyKey"].as_str().unwrap_or_default().to_string(),
                util::int(&c["maxSkew"]).max(1),
                Box::new(move |p: &Value| util::selector_matches(&sel, &p["metadata"]["labels"])),
            ));
        }
        if constraints.is_empty() {
            return vec![0; n];
        }
    }
    let ns = util::namespace(pod);
    let count_on = |ni: &NodeInfo, m: &Matcher| {
        ni.pods
            .iter()
            .filter(|p| util::namespace(p) == ns && !util::is_being_deleted(p) && m(p))
            .count() as i64
    };
    let mut ignored: HashSet<usize> = HashSet::new();
    let mut raw = vec![0f64; n];
    for (key, skew, m) in &constraints {
        // Domain sizes over the feasible nodes.
        let size = if key == "kubernetes.io/hostname" {
            n
        } else {
            feasible
                .iter()
                .filter_map(|ni| ni.node["metadata"]["labels"][key.as_str()].as_str())
                .collect::<HashSet<_>>()
                .len()
        };
        let weight = ((size + 2) as f64).ln();
        let mut per_domain: HashMap<String, i64> = HashMap::new();
        if key != "kubernetes.io/hostname" {
            for ni in feasible {
                if let Some(v) = ni.node["metadata"]["labels"][key.as_str()].as_str() {
                    *per_domain.entry(v.to_string()).or_default() += count_on(ni, m);
                }
            }
        }
        for (i, ni) in feasible.iter().enumerate() {
            let Some(v) = ni.node["metadata"]["labels"][key.as_str()].as_str() else {
                if !system {
                    ignored.insert(i);
                }
                continue;
            };
            let cnt = if key == "kubernetes.io/hostname" {
                count_on(ni, m)
            } else {
                per_domain.get(v).copied().unwrap_or(0)
            };
            raw[i] += cnt as f64 * weight + (*skew - 1) as f64;
        }
    }
    let mut scores: Vec<i64> = raw.iter().map(|s| s.round() as i64).collect();
    let live: Vec<i64> = (0..n)
        .filter(|i| !ignored.contains(i))
        .map(|i| scores[i])
        .collect();
    let min = live.iter().copied().min().unwrap_or(0);
    let max = live.iter().copied().max().unwrap_or(0);
    for (i, s) in scores.iter_mut().enumerate() {
        if ignored.contains(&i) {
            *s = 0;
        } else if max == 0 {
            *s = MAX_NODE_SCORE;
        } else {
            *s = MAX_NODE_SCORE * (max + min - *s) / max;
        }
    }
    scores
}

/// The preemption PostFilter's message for a pod no node fits (DefaultPreemption):
/// `not eligible due to preemptionPolicy=Never.`, or a FitError over the nodes where preemption
/// was evaluated: `Preemption is not helpful for scheduling` where a filter failed unresolvably,
/// `No preemption victims found for incoming pod` where no lower-priority pod could make room.
/// `None` when lower-priority victims exist (labsim does not preempt).
pub fn preemption_message(
    pod: &Value,
    failures: &BTreeMap<String, Failure>,
    nodes: &[NodeInfo],
    minor: Minor,
) -> Option<String> {
    if pod["spec"]["preemptionPolicy"] == "Never" {
        return Some("not eligible due to preemptionPolicy=Never.".into());
    }
    let prio = util::int(&pod["spec"]["priority"]);
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    for (node, f) in failures {
        let reason = match f.code {
            Code::Unresolvable => "Preemption is not helpful for scheduling",
            Code::Unschedulable => {
                let victims = nodes.iter().find(|ni| ni.name() == node).is_some_and(|ni| {
                    ni.pods
                        .iter()
                        .any(|p| util::int(&p["spec"]["priority"]) < prio)
                });
                if victims {
                    return None;
                }
                "No preemption victims found for incoming pod"
            }
        };
        *histogram.entry(reason.to_string()).or_default() += 1;
    }
    Some(fit_error_message(minor, failures.len(), &histogram, None))
}

/// `FitError.Error()`: `0/N nodes are available: <count> <reason>, … .` (reasons string-sorted)
/// followed by the PostFilter message.
pub fn fit_error_message(
    minor: Minor,
    num_nodes: usize,
    reasons: &BTreeMap<String, usize>,
    post_filter: Option<&str>,
) -> String {
    let mut items: Vec<String> = reasons.iter().map(|(r, c)| format!("{c} {r}")).collect();
    items.sort();
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if !items.is_empty() {
        msg.push_str(&format!(" {}.", items.join(", ")));
    }
    if let Some(p) = post_filter {
        if minor.fit_error_doubles_period() {
            msg.push_str(&format!(" {p}."));
        } else {
            msg.push_str(&format!(" {p}"));
        }
    }
    msg
}

/// The FailedScheduling message for a pod that fits nowhere.
pub fn failed_scheduling_message(
    pod: &Value,
    failures: &BTreeMap<String, Failure>,
    nodes: &[NodeInfo],
    minor: Minor,
) -> String {
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    for f in failures.values() {
        for r in &f.reasons {
            *histogram.entry(r.clone()).or_default() += 1;
        }
    }
    let post = preemption_message(pod, failures, nodes, minor).map(|p| {
        let p = format!("preemption: {p}");
        if minor.scheduler_has_dra_postfilter() {
            format!("no new claims to deallocate, {p}")
        } else {
            p
        }
    });
    fit_error_message(minor, nodes.len(), &histogram, post.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, taints: Value) -> NodeInfo {
        NodeInfo {
            node: json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                         "spec": {"taints": taints},
                         "status": {"allocatable": {"cpu": "2", "memory": "8025424Ki", "pods": "110"}}}),
            pods: vec![],
        }
    }

    fn cp() -> Value {
        json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    }

    fn unreachable() -> Value {
        json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": "2026-01-01T00:00:00Z"},
               {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"}])
    }

    fn pod() -> Value {
        json!({"metadata": {"name": "hello-world-5d8f-abcde", "namespace": "default", "labels": {"app": "hello"}},
               "spec": {"priority": 0, "containers": [{"name": "podinfo", "ports": [{"containerPort": 9898}]}],
                        "tolerations": [
                            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}})
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity(&json!("500m"), 1000.0), 500);
        assert_eq!(parse_quantity(&json!("2"), 1000.0), 2000);
        assert_eq!(parse_quantity(&json!("1.5"), 1000.0), 1500);
        assert_eq!(parse_quantity(&json!("128Mi"), 1.0), 128 * 1024 * 1024);
        assert_eq!(parse_quantity(&json!("1G"), 1.0), 1_000_000_000);
        assert_eq!(parse_quantity(&json!("8025424Ki"), 1.0), 8_025_424 * 1024);
        assert_eq!(parse_quantity(&json!(3), 1.0), 3);
    }

    #[test]
    fn control_plane_taint_and_unreachable_workers() {
        let nodes = vec![
            node("minikube", cp()),
            node("minikube-m02", unreachable()),
            node("minikube-m03", unreachable()),
        ];
        let cluster = Cluster {
            nodes: nodes.clone(),
        };
        let m33 = Minor::new(33).unwrap();
        let p = pod();
        let mut failures = BTreeMap::new();
        for ni in &nodes {
            failures.insert(
                ni.name().to_string(),
                filter(&p, ni, &cluster, m33).unwrap_err(),
            );
        }
        assert_eq!(
            failures["minikube"].reasons,
            ["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]
        );
        assert_eq!(failures["minikube-m02"].plugin, "TaintToleration");
        let msg = failed_scheduling_message(&p, &failures, &nodes, m33);
        assert_eq!(
            msg,
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn host_port_and_resource_failures() {
        let mut ni = node("m02", json!([]));
        ni.pods.push(json!({"metadata": {"name": "traefik-x", "namespace": "kube-system"},
            "spec": {"containers": [{"name": "traefik", "ports": [{"containerPort": 80, "hostPort": 80, "protocol": "TCP"}],
                                      "resources": {"requests": {"cpu": "1500m"}}}]}}));
        let cluster = Cluster {
            nodes: vec![ni.clone()],
        };
        let m = Minor::new(33).unwrap();
        let mut p = pod();
        p["spec"]["containers"][0]["ports"][0]["hostPort"] = json!(80);
        assert_eq!(
            filter(&p, &ni, &cluster, m).unwrap_err().plugin,
            "NodePorts"
        );
        let mut big = pod();
        big["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": "1", "memory": "16Gi"}});
        let f = filter(&big, &ni, &cluster, m).unwrap_err();
        assert_eq!(f.reasons, ["Insufficient cpu", "Insufficient memory"]);
        assert_eq!(f.code, Code::Unschedulable);
    }

    #[test]
    fn spreading_prefers_the_emptier_node() {
        let mut a = node("m02", json!([]));
        let b = node("m03", json!([]));
        let mut sibling = pod();
        sibling["metadata"]["name"] = json!("hello-world-5d8f-first");
        a.pods.push(sibling);
        let sel = vec![("app".to_string(), "hello".to_string())];
        let scores = score(&pod(), &[&a, &b], Some(&sel));
        assert!(scores[1] > scores[0], "{scores:?}");
        // With no selector (a bare pod), only resources count: m02 already has a pod's requests.
        let bare = score(&pod(), &[&a, &b], None);
        assert!(bare[1] >= bare[0]);
    }

    /// The FailedScheduling message of the course's scenarios, per version.
    #[test]
    fn failed_scheduling_messages_per_version() {
        let mut out = String::new();
        let scenarios: Vec<(&str, Vec<NodeInfo>, Value)> = vec![
            (
                "workers down",
                vec![
                    node("minikube", cp()),
                    node("minikube-m02", unreachable()),
                    node("minikube-m03", unreachable()),
                ],
                pod(),
            ),
            (
                "before the CNI (not-ready control plane)",
                vec![node(
                    "minikube",
                    json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
                           {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]),
                )],
                pod(),
            ),
            (
                "too big",
                vec![
                    node("minikube-m02", json!([])),
                    node("minikube-m03", json!([])),
                ],
                {
                    let mut p = pod();
                    p["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": "4"}});
                    p
                },
            ),
            ("preemptionPolicy Never", vec![node("minikube", cp())], {
                let mut p = pod();
                p["spec"]["preemptionPolicy"] = json!("Never");
                p
            }),
        ];
        for m in Minor::all() {
            out.push_str(&format!("## {m}\n"));
            for (name, nodes, p) in &scenarios {
                let cluster = Cluster {
                    nodes: nodes.clone(),
                };
                let failures: BTreeMap<String, Failure> = nodes
                    .iter()
                    .map(|ni| {
                        (
                            ni.name().to_string(),
                            filter(p, ni, &cluster, m).unwrap_err(),
                        )
                    })
                    .collect();
                out.push_str(&format!(
                    "{name}: {}\n",
                    failed_scheduling_message(p, &failures, nodes, m)
                ));
            }
        }
        insta::assert_snapshot!(out);
    }
}
