//! The API status of a pod, computed from the runtime's view as the kubelet does it
//! (pkg/kubelet/kubelet_pods.go `generateAPIPodStatus`, `convertToAPIContainerStatuses`,
//! `getPhase`; pkg/kubelet/status/generate.go for the conditions).
//!
//! - Each container's status comes from its newest runtime container: `running`, `terminated`, or
//!   `waiting` (created but not started; `ContainerCreating`/`PodInitializing` when it has none
//!   yet), `lastState` from the one before it, `restartCount` from the newest one's annotation.
//!   A container that could not be (re)started carries the reason of that failure
//!   (`CrashLoopBackOff`, `ErrImagePull`, …) as its waiting state, the kubelet's `reasonCache`.
//! - The phase: `Pending` while any container waits (not counting ones waiting to restart),
//!   `Running` while all have started and one runs, then by restart policy.
//! - Conditions, in the kubelet's order: `PodReadyToStartContainers` (1.29+, where the feature is
//!   on by default), `Initialized`, `Ready`, `ContainersReady`, `PodScheduled`; a condition keeps
//!   its `lastTransitionTime` while its status does not change.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::runtime::cri::{Container, ContainerState, PodSandbox, SandboxState};
use crate::runtime::task::rfc3339nano;

/// What the probes say about one running container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeView {
    /// Readiness (true when the container has no readiness probe and has started).
    pub ready: bool,
    /// Started (startup probe passed, or none).
    pub started: bool,
}

/// Everything the status is computed from.
#[derive(Debug, Clone)]
pub struct StatusInput<'a> {
    /// The pod (spec and current API status).
    pub pod: &'a Value,
    /// The pod's sandboxes, newest first.
    pub sandboxes: &'a [PodSandbox],
    /// The pod's containers, newest first.
    pub containers: &'a [Container],
    /// Probe results by container ID.
    pub probes: &'a HashMap<String, ProbeView>,
    /// Why a container is waiting to (re)start, by container name: (reason, message).
    pub reasons: &'a HashMap<String, (String, String)>,
    /// The node's IP.
    pub host_ip: &'a str,
    /// The Kubernetes minor.
    pub minor: u32,
    /// Now, RFC 3339.
    pub now: &'a str,
    /// Image names to report for containers not created yet are the spec's.
    pub image_digests: &'a HashMap<String, (String, String)>,
}

fn secs(ns: i64) -> Value {
    if ns == 0 {
        return Value::Null;
    }
    let s = rfc3339nano(ns);
    // metav1.Time is second precision.
    json!(format!(
        "{}Z",
        s.split('.').next().unwrap_or(&s).trim_end_matches('Z')
    ))
}

fn newest<'c>(containers: &'c [Container], name: &str) -> Vec<&'c Container> {
    let mut v: Vec<&Container> = containers
        .iter()
        .filter(|c| c.metadata.name == name)
        .collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    v
}

/// `restartCount` of a runtime container (the kubelet's `io.kubernetes.container.restartCount`
/// annotation, also its CRI attempt).
pub fn restart_count(c: &Container) -> u32 {
    c.annotations
        .get("io.kubernetes.container.restartCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(c.metadata.attempt)
}

fn terminated(c: &Container) -> Value {
    let mut t = json!({
        "exitCode": c.exit_code,
        "reason": if c.reason.is_empty() { "Error" } else { c.reason.as_str() },
        "startedAt": secs(c.started_at),
        "finishedAt": secs(c.finished_at),
        "containerID": format!("containerd://{}", c.id),
    });
    if !c.message.is_empty() {
        t["message"] = json!(c.message);
    }
    t
}

/// One container status (`convertToAPIContainerStatuses`).
fn container_status(
    input: &StatusInput<'_>,
    spec: &Value,
    default_reason: &str,
) -> (Value, bool, bool) {
    let name = spec["name"].as_str().unwrap_or_default();
    let spec_image = spec["image"].as_str().unwrap_or_default();
    let history = newest(input.containers, name);
    let mut st = json!({
        "name": name,
        "state": {"waiting": {"reason": default_reason}},
        "lastState": {},
        "ready": false,
        "restartCount": 0,
        "image": spec_image,
        "imageID": "",
        "started": false,
    });
    let mut running = false;
    let mut has_history = false;
    if let Some(c) = history.first() {
        has_history = true;
        let (image, image_id) = input
            .image_digests
            .get(&c.image_ref)
            .cloned()
            .unwrap_or_else(|| (spec_image.to_string(), String::new()));
        st["image"] = json!(image);
        st["imageID"] = json!(image_id);
        st["containerID"] = json!(format!("containerd://{}", c.id));
        st["restartCount"] = json!(restart_count(c));
        match c.state {
            ContainerState::Running => {
                running = true;
                st["state"] = json!({"running": {"startedAt": secs(c.started_at)}});
                let p = input.probes.get(&c.id).copied().unwrap_or(ProbeView {
                    ready: true,
                    started: true,
                });
                st["ready"] = json!(p.ready && p.started);
                st["started"] = json!(p.started);
            }
            ContainerState::Exited => {
                st["state"] = json!({"terminated": terminated(c)});
            }
            ContainerState::Created | ContainerState::Unknown => {
                st["state"] = json!({"waiting": {}});
            }
        }
        if let Some(prev) = history.get(1)
            && prev.state == ContainerState::Exited
        {
            st["lastState"] = json!({"terminated": terminated(prev)});
        }
    }
    // reasonCache: a container that failed to (re)start waits with the failure's reason.
    if !running && let Some((reason, message)) = input.reasons.get(name) {
        if st["state"]["terminated"].is_object() {
            st["lastState"] = st["state"].clone();
        }
        let mut w = json!({"reason": reason});
        if !message.is_empty() {
            w["message"] = json!(message);
        }
        st["state"] = json!({"waiting": w});
    }
    let _ = has_history;
    let ready = st["ready"] == true;
    (st, running, ready)
}

/// The pod phase (`getPhase`).
fn phase(pod: &Value, init_done: bool, init_failed: bool, statuses: &[Value]) -> &'static str {
    let policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    if init_failed && policy == "Never" {
        return "Failed";
    }
    if !init_done {
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in statuses {
        if s["state"]["running"].is_object() {
            running += 1;
        } else if s["state"]["terminated"].is_object() {
            stopped += 1;
            if s["state"]["terminated"]["exitCode"] == 0 {
                succeeded += 1;
            }
        } else if s["state"]["waiting"].is_object() {
            if s["lastState"]["terminated"].is_object() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        return match policy {
            "Always" => "Running",
            _ if stopped == succeeded => "Succeeded",
            "OnFailure" => "Running",
            _ => "Failed",
        };
    }
    "Pending"
}

fn condition(
    prev: &Value,
    typ: &str,
    status: bool,
    reason: Option<&str>,
    message: Option<&str>,
    now: &str,
) -> Value {
    let s = if status { "True" } else { "False" };
    let old = prev["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == typ));
    let since = match old {
        Some(o) if o["status"] == s => o["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let mut c =
        json!({"type": typ, "status": s, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// The pod's API status.
pub fn pod_status(input: &StatusInput<'_>) -> Value {
    let pod = input.pod;
    let prev = &pod["status"];
    let spec = &pod["spec"];
    let inits = spec["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ctrs = spec["containers"].as_array().cloned().unwrap_or_default();
    let has_init = !inits.is_empty();
    let default = if has_init {
        "PodInitializing"
    } else {
        "ContainerCreating"
    };

    let mut init_statuses = vec![];
    let mut init_done = true;
    let mut init_failed = false;
    let mut incomplete_init = vec![];
    for c in &inits {
        let (st, _, _) = container_status(input, c, default);
        let ok = st["state"]["terminated"]["exitCode"] == 0;
        if !ok {
            init_done = false;
            incomplete_init.push(c["name"].as_str().unwrap_or_default().to_string());
            if st["state"]["terminated"].is_object() || st["lastState"]["terminated"].is_object() {
                init_failed = true;
            }
        }
        init_statuses.push(st);
    }
    let mut statuses = vec![];
    let mut unready = vec![];
    for c in &ctrs {
        let (st, _, ready) = container_status(input, c, default);
        if !ready {
            unready.push(c["name"].as_str().unwrap_or_default().to_string());
        }
        statuses.push(st);
    }
    let phase = phase(pod, init_done, init_failed, &statuses);

    let sandbox_ready = input
        .sandboxes
        .first()
        .is_some_and(|s| s.state == SandboxState::Ready);
    let mut conditions = vec![];
    // PodReadyToStartContainers: beta (on) from 1.29 (KEP-3085).
    if input.minor >= 29 {
        conditions.push(condition(
            prev,
            "PodReadyToStartContainers",
            sandbox_ready,
            None,
            None,
            input.now,
        ));
    }
    if init_done {
        conditions.push(condition(prev, "Initialized", true, None, None, input.now));
    } else {
        let msg = format!(
            "containers with incomplete status: [{}]",
            incomplete_init.join(" ")
        );
        conditions.push(condition(
            prev,
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(&msg),
            input.now,
        ));
    }
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let all_ready = unready.is_empty() && init_done && !terminal;
    let (reason, msg) = if all_ready {
        (None, None)
    } else if terminal {
        (Some("PodCompleted"), None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    conditions.push(condition(
        prev,
        "Ready",
        all_ready,
        reason,
        msg.as_deref(),
        input.now,
    ));
    conditions.push(condition(
        prev,
        "ContainersReady",
        all_ready,
        reason,
        msg.as_deref(),
        input.now,
    ));
    conditions.push(condition(prev, "PodScheduled", true, None, None, input.now));

    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": input.host_ip,
        "startTime": prev["startTime"].as_str().map(|s| json!(s)).unwrap_or_else(|| json!(input.now)),
        "containerStatuses": statuses,
        "qosClass": prev["qosClass"].clone(),
    });
    // hostIPs: the PodHostIPs feature, beta (on) from 1.29 (KEP-2681).
    if input.minor >= 29 {
        status["hostIPs"] = json!([{"ip": input.host_ip}]);
    }
    if has_init {
        status["initContainerStatuses"] = json!(init_statuses);
    }
    let host_network = spec["hostNetwork"] == true;
    let ip = if host_network {
        Some(input.host_ip.to_string())
    } else {
        input
            .sandboxes
            .first()
            .map(|s| s.ip.clone())
            .filter(|ip| !ip.is_empty())
            .or_else(|| prev["podIP"].as_str().map(str::to_string))
    };
    if let Some(ip) = ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    if status["qosClass"].is_null() {
        status.as_object_mut().map(|m| m.remove("qosClass"));
    }
    status
}

/// Whether two statuses differ in anything but heartbeat-like noise (the status manager's
/// `isPodStatusByKubeletEqual`, which ignores nothing but compares normalised statuses).
pub fn status_changed(old: &Value, new: &Value) -> bool {
    old != new
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cri::{ContainerConfig, ContainerMetadata, PodSandboxMetadata};

    fn c(
        id: &str,
        name: &str,
        state: ContainerState,
        attempt: u32,
        created: i64,
        exit: i32,
    ) -> Container {
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert(
            "io.kubernetes.container.restartCount".into(),
            attempt.to_string(),
        );
        Container {
            id: id.into(),
            pod_sandbox_id: "s".into(),
            metadata: ContainerMetadata {
                name: name.into(),
                attempt,
            },
            image: "sha256:1".into(),
            image_ref: "sha256:1".into(),
            state,
            created_at: created,
            started_at: created + 1_000_000_000,
            finished_at: if state == ContainerState::Exited {
                created + 5_000_000_000
            } else {
                0
            },
            exit_code: exit,
            reason: if state == ContainerState::Exited {
                if exit == 0 { "Completed" } else { "Error" }.into()
            } else {
                String::new()
            },
            message: String::new(),
            labels: Default::default(),
            annotations,
            mounts: vec![],
            log_path: String::new(),
            pid: None,
            config: ContainerConfig::default(),
        }
    }

    fn sandbox(ready: bool) -> PodSandbox {
        PodSandbox {
            id: "s".into(),
            metadata: PodSandboxMetadata::default(),
            state: if ready {
                SandboxState::Ready
            } else {
                SandboxState::NotReady
            },
            created_at: 1,
            ip: "10.244.1.5".into(),
            labels: Default::default(),
            annotations: Default::default(),
            runtime_handler: String::new(),
            pid: None,
            pause_image: String::new(),
            config: Default::default(),
            bind_ip: String::new(),
        }
    }

    fn pod() -> Value {
        json!({"metadata": {"name": "hello-1", "namespace": "default"},
               "spec": {"containers": [{"name": "app", "image": "ghcr.io/learnk8s/podinfo:2023.03"}], "restartPolicy": "Always"},
               "status": {"phase": "Pending", "qosClass": "BestEffort", "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}})
    }

    fn run(
        pod: &Value,
        sbs: &[PodSandbox],
        cs: &[Container],
        reasons: &HashMap<String, (String, String)>,
        minor: u32,
    ) -> Value {
        let mut digests = HashMap::new();
        digests.insert(
            "sha256:1".to_string(),
            (
                "ghcr.io/learnk8s/podinfo:2023.03".to_string(),
                "ghcr.io/learnk8s/podinfo@sha256:ab".to_string(),
            ),
        );
        pod_status(&StatusInput {
            pod,
            sandboxes: sbs,
            containers: cs,
            probes: &HashMap::new(),
            reasons,
            host_ip: "127.100.49.3",
            minor,
            now: "2024-01-01T00:01:00Z",
            image_digests: &digests,
        })
    }

    #[test]
    fn a_new_pod_is_pending_container_creating() {
        let s = run(&pod(), &[], &[], &HashMap::new(), 33);
        assert_eq!(s["phase"], "Pending");
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["reason"],
            "ContainerCreating"
        );
        assert_eq!(
            s["containerStatuses"][0]["image"],
            "ghcr.io/learnk8s/podinfo:2023.03"
        );
        let types: Vec<&str> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
        assert_eq!(s["conditions"][0]["status"], "False");
        assert_eq!(
            s["conditions"][2]["message"],
            "containers with unready status: [app]"
        );
        // PodScheduled kept its transition time.
        assert_eq!(
            s["conditions"][4]["lastTransitionTime"],
            "2024-01-01T00:00:00Z"
        );
        assert!(s.get("podIP").is_none());
        let old = run(&pod(), &[], &[], &HashMap::new(), 28);
        assert_eq!(old["conditions"][0]["type"], "Initialized");
    }

    #[test]
    fn running_after_a_restart_has_last_state_and_count() {
        let cs = vec![
            c("new", "app", ContainerState::Running, 1, 20, 0),
            c("old", "app", ContainerState::Exited, 0, 10, 137),
        ];
        let s = run(&pod(), &[sandbox(true)], &cs, &HashMap::new(), 33);
        let cst = &s["containerStatuses"][0];
        assert_eq!(s["phase"], "Running");
        assert_eq!(cst["restartCount"], 1);
        assert_eq!(cst["ready"], true);
        assert_eq!(cst["started"], true);
        assert_eq!(cst["containerID"], "containerd://new");
        assert_eq!(cst["imageID"], "ghcr.io/learnk8s/podinfo@sha256:ab");
        assert_eq!(cst["lastState"]["terminated"]["exitCode"], 137);
        assert_eq!(cst["lastState"]["terminated"]["reason"], "Error");
        assert_eq!(s["podIP"], "10.244.1.5");
        assert_eq!(s["podIPs"][0]["ip"], "10.244.1.5");
        assert_eq!(s["conditions"][2]["status"], "True");
    }

    #[test]
    fn crash_loop_waits_with_the_reason_and_stays_running() {
        let cs = vec![c("old", "app", ContainerState::Exited, 2, 10, 1)];
        let mut reasons = HashMap::new();
        reasons.insert(
            "app".to_string(),
            (
                "CrashLoopBackOff".to_string(),
                "back-off 20s restarting failed container=app pod=hello-1_default(u)".to_string(),
            ),
        );
        let s = run(&pod(), &[sandbox(true)], &cs, &reasons, 33);
        let cst = &s["containerStatuses"][0];
        assert_eq!(cst["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(cst["lastState"]["terminated"]["exitCode"], 1);
        assert_eq!(cst["restartCount"], 2);
        assert_eq!(s["phase"], "Running");
    }

    #[test]
    fn never_restarting_pods_finish() {
        let mut p = pod();
        p["spec"]["restartPolicy"] = json!("Never");
        let ok = run(
            &p,
            &[sandbox(false)],
            &[c("a", "app", ContainerState::Exited, 0, 10, 0)],
            &HashMap::new(),
            33,
        );
        assert_eq!(ok["phase"], "Succeeded");
        assert_eq!(ok["conditions"][2]["reason"], "PodCompleted");
        let bad = run(
            &p,
            &[sandbox(false)],
            &[c("a", "app", ContainerState::Exited, 0, 10, 3)],
            &HashMap::new(),
            33,
        );
        assert_eq!(bad["phase"], "Failed");
    }

    #[test]
    fn init_containers_gate_the_pod() {
        let mut p = pod();
        p["spec"]["initContainers"] = json!([{"name": "init", "image": "x"}]);
        let s = run(
            &p,
            &[sandbox(true)],
            &[c("i", "init", ContainerState::Running, 0, 10, 0)],
            &HashMap::new(),
            33,
        );
        assert_eq!(s["phase"], "Pending");
        assert_eq!(
            s["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
        assert_eq!(s["conditions"][1]["reason"], "ContainersNotInitialized");
        assert_eq!(
            s["conditions"][1]["message"],
            "containers with incomplete status: [init]"
        );
        let done = run(
            &p,
            &[sandbox(true)],
            &[
                c("i", "init", ContainerState::Exited, 0, 10, 0),
                c("a", "app", ContainerState::Running, 0, 20, 0),
            ],
            &HashMap::new(),
            33,
        );
        assert_eq!(done["phase"], "Running");
        assert_eq!(
            done["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
    }
}
