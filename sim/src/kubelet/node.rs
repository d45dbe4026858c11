//! The Node object and its heartbeats (pkg/kubelet/kubelet_node_status.go,
//! pkg/kubelet/nodestatus/setters.go, pkg/kubelet/nodelease, component-helpers/apimachinery/lease):
//!
//! - registration: the Node with the default labels (`kubernetes.io/hostname|os|arch` and their
//!   `beta.` forms) plus `--node-labels`, `--register-with-taints`, the
//!   `volumes.kubernetes.io/controller-managed-attach-detach` annotation; an existing Node keeps
//!   its object and gets the default labels back;
//! - status every `nodeStatusUpdateFrequency` (10 s), posted when it changed (heartbeat times
//!   aside) or `nodeStatusReportFrequency` (5 min) after the last post: addresses, capacity and
//!   allocatable, the pressure conditions and `Ready` (False `KubeletNotReady` with the runtime's
//!   error until its network is ready, then True `KubeletReady`), `daemonEndpoints`, `nodeInfo`,
//!   `images`;
//! - the Lease in `kube-node-lease` renewed every `nodeLeaseDurationSeconds`/4 (10 s).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Kubelet;
use super::klog::Kv;
use crate::client::{PatchType, path};

/// Facts about the machine the node runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// CPUs.
    pub cpus: u64,
    /// Memory in KiB.
    pub memory_ki: u64,
    /// Root filesystem size in KiB.
    pub storage_ki: u64,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// The system UUID.
    pub system_uuid: String,
    /// The kernel's boot ID (docker-driver nodes share the host's kernel).
    pub boot_id: String,
    /// `uname -r`.
    pub kernel: String,
    /// Go's `GOARCH` name.
    pub arch: String,
    /// Whether AppArmor is enabled on the host (the Ready message then says so).
    pub apparmor: bool,
}

/// Reads the machine facts (cAdvisor's sources: `/proc/cpuinfo`, `/proc/meminfo`, statfs of the
/// kubelet's root directory, `/etc/machine-id`, `/proc/sys/kernel/random/boot_id`).
pub fn machine(root_dir: &std::path::Path) -> Machine {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let memory_ki = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let storage_ki = nix::sys::statvfs::statvfs(root_dir)
        .map(|s| s.blocks() * s.fragment_size() / 1024)
        .unwrap_or(0);
    let machine_id = read("/etc/machine-id");
    let uuid = read("/sys/class/dmi/id/product_uuid");
    let system_uuid = if uuid.is_empty() {
        // Like the machine ID, in UUID form.
        let m = format!("{machine_id:0<32}");
        format!(
            "{}-{}-{}-{}-{}",
            &m[0..8],
            &m[8..12],
            &m[12..16],
            &m[16..20],
            &m[20..32]
        )
    } else {
        uuid
    };
    Machine {
        cpus: std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1),
        memory_ki,
        storage_ki,
        machine_id,
        system_uuid,
        boot_id: read("/proc/sys/kernel/random/boot_id"),
        kernel: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        arch: match std::env::consts::ARCH {
            "x86_64" => "amd64".into(),
            "aarch64" => "arm64".into(),
            other => other.into(),
        },
        apparmor: read("/sys/module/apparmor/parameters/enabled") == "Y",
    }
}

fn quantity_bytes(q: &str) -> Option<u64> {
    super::env::parse_quantity(q).map(|v| v as u64)
}

/// Capacity and allocatable (pkg/kubelet/cm/node_container_manager_linux.go
/// `GetNodeAllocatableAbsolute`: capacity minus kube-reserved, system-reserved and the hard
/// eviction thresholds).
pub fn resources(m: &Machine, cfg: &super::config::KubeletConfig) -> (Value, Value) {
    let capacity = json!({
        "cpu": m.cpus.to_string(),
        "ephemeral-storage": format!("{}Ki", m.storage_ki),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": format!("{}Ki", m.memory_ki),
        "pods": cfg.max_pods.to_string(),
    });
    let reserved = |res: &str| -> u64 {
        [&cfg.kube_reserved, &cfg.system_reserved]
            .iter()
            .filter_map(|m| m.get(res))
            .filter_map(|q| quantity_bytes(q))
            .sum()
    };
    let threshold = |signal: &str, capacity_bytes: u64| -> u64 {
        match cfg.eviction_hard.get(signal) {
            Some(v) if v.ends_with('%') => {
                let pct: f64 = v.trim_end_matches('%').parse().unwrap_or(0.0);
                (capacity_bytes as f64 * pct / 100.0) as u64
            }
            Some(v) => quantity_bytes(v).unwrap_or(0),
            None => 0,
        }
    };
    let mem_bytes = m.memory_ki * 1024;
    let mem_alloc = mem_bytes
        .saturating_sub(reserved("memory"))
        .saturating_sub(threshold("memory.available", mem_bytes));
    let disk_bytes = m.storage_ki * 1024;
    let disk_alloc = disk_bytes
        .saturating_sub(reserved("ephemeral-storage"))
        .saturating_sub(threshold("nodefs.available", disk_bytes));
    let cpu_reserved_m = reserved("cpu") as f64 * 1000.0;
    let cpu_alloc = if cpu_reserved_m > 0.0 {
        format!(
            "{}m",
            (m.cpus as f64 * 1000.0 - cpu_reserved_m).max(0.0) as u64
        )
    } else {
        m.cpus.to_string()
    };
    let mem_q = if mem_alloc % 1024 == 0 {
        format!("{}Ki", mem_alloc / 1024)
    } else {
        mem_alloc.to_string()
    };
    let allocatable = json!({
        "cpu": cpu_alloc,
        "ephemeral-storage": disk_alloc.to_string(),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": mem_q,
        "pods": cfg.max_pods.to_string(),
    });
    (capacity, allocatable)
}

/// The node's default labels (kubelet_node_status.go `initialNode` and `updateDefaultLabels`).
pub fn default_labels(hostname: &str, arch: &str) -> Value {
    json!({
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": hostname,
        "kubernetes.io/os": "linux",
    })
}

fn condition(
    prev: &Value,
    typ: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let old = prev["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == typ));
    let since = match old {
        Some(o) if o["status"] == status => o["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    json!({"type": typ, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": since,
           "reason": reason, "message": message})
}

/// The node conditions: memory, disk and PID pressure (never on labsim) and Ready
/// (setters.go `ReadyCondition`: the runtime's errors make it False `KubeletNotReady`).
pub fn conditions(
    prev: &Value,
    runtime_errors: &[String],
    apparmor: bool,
    now: &str,
) -> Vec<Value> {
    let ready = if runtime_errors.is_empty() {
        let msg = if apparmor {
            "kubelet is posting ready status. AppArmor enabled"
        } else {
            "kubelet is posting ready status"
        };
        condition(prev, "Ready", "True", "KubeletReady", msg, now)
    } else {
        let msg = if runtime_errors.len() == 1 {
            runtime_errors[0].clone()
        } else {
            format!("[{}]", runtime_errors.join(", "))
        };
        condition(prev, "Ready", "False", "KubeletNotReady", &msg, now)
    };
    vec![
        condition(
            prev,
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            now,
        ),
        condition(
            prev,
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
            now,
        ),
        condition(
            prev,
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            now,
        ),
        ready,
    ]
}

/// Whether two node statuses differ once heartbeat times are ignored
/// (kubelet_node_status.go `nodeStatusHasChanged`).
pub fn status_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(cs) = v["conditions"].as_array_mut() {
            for c in cs {
                if let Some(o) = c.as_object_mut() {
                    o.remove("lastHeartbeatTime");
                }
            }
        }
        v
    };
    strip(old) != strip(new)
}

/// Everything the status is made of.
#[derive(Debug, Clone)]
pub struct StatusParts<'a> {
    /// The machine.
    pub machine: &'a Machine,
    /// Capacity.
    pub capacity: &'a Value,
    /// Allocatable.
    pub allocatable: &'a Value,
    /// The node IP.
    pub node_ip: &'a str,
    /// The node name.
    pub hostname: &'a str,
    /// The kubelet port.
    pub port: u16,
    /// The kubelet's version (`v1.33.7`).
    pub kubelet_version: &'a str,
    /// The Kubernetes minor.
    pub minor: u32,
    /// `containerd://2.2.0`.
    pub runtime_version: &'a str,
    /// The runtime's errors (empty when ready).
    pub runtime_errors: &'a [String],
    /// Images on the node (API form).
    pub images: Value,
    /// Now.
    pub now: &'a str,
}

/// The node status.
pub fn node_status(prev: &Value, p: &StatusParts<'_>) -> Value {
    let mut info = json!({
        "architecture": p.machine.arch,
        "bootID": p.machine.boot_id,
        "containerRuntimeVersion": p.runtime_version,
        "kernelVersion": p.machine.kernel,
        "kubeletVersion": p.kubelet_version,
        "machineID": p.machine.machine_id,
        "operatingSystem": "linux",
        // minikube v1.38's kicbase is Debian 12 (deploy/kicbase/Dockerfile).
        "osImage": "Debian GNU/Linux 12 (bookworm)",
        "systemUUID": p.machine.system_uuid,
    });
    // kubeProxyVersion is no longer set from 1.31 (KEP-4004, DisableNodeKubeProxyVersion).
    if p.minor < 31 {
        info["kubeProxyVersion"] = json!(p.kubelet_version);
    }
    json!({
        "addresses": [{"type": "InternalIP", "address": p.node_ip}, {"type": "Hostname", "address": p.hostname}],
        "allocatable": p.allocatable,
        "capacity": p.capacity,
        "conditions": conditions(prev, p.runtime_errors, p.machine.apparmor, p.now),
        "daemonEndpoints": {"kubeletEndpoint": {"Port": p.port}},
        "images": p.images,
        "nodeInfo": info,
    })
}

impl Kubelet {
    fn node_ref(&self) -> Value {
        // The kubelet's nodeRef uses the node name as UID (kubelet.go `nodeRef`).
        json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": self.node_name, "uid": self.node_name}})
    }

    /// Records an event about the node.
    pub fn node_event(&self, typ: &str, reason: &str, message: &str) {
        self.event_raw(self.node_ref(), typ, reason, message, None);
    }

    async fn images_for_status(&self) -> Value {
        match self
            .runtime
            .call(crate::runtime::cri::Request::ListImages)
            .await
        {
            Ok(crate::runtime::cri::Reply::Images { items }) => {
                let mut items = items;
                items.sort_by_key(|i| std::cmp::Reverse(i.size));
                json!(
                    items
                        .iter()
                        .map(|i| {
                            let mut names: Vec<String> = i.repo_digests.clone();
                            names.extend(i.repo_tags.iter().cloned());
                            json!({"names": names, "sizeBytes": i.size})
                        })
                        .collect::<Vec<_>>()
                )
            }
            _ => json!([]),
        }
    }

    async fn build_status(&self, prev: &Value) -> Value {
        let errors = self.runtime_errors();
        let images = self.images_for_status().await;
        let now = super::now_rfc3339();
        node_status(
            prev,
            &StatusParts {
                machine: &self.machine,
                capacity: &self.capacity,
                allocatable: &self.allocatable,
                node_ip: &self.node_ip.to_string(),
                hostname: &self.node_name,
                port: self.cfg.port,
                kubelet_version: &self.minor.git_version(),
                minor: self.minor.minor(),
                runtime_version: &self.runtime_version,
                runtime_errors: &errors,
                images,
                now: &now,
            },
        )
    }

    fn initial_node(&self, status: Value) -> Value {
        let mut labels = default_labels(&self.node_name, &self.machine.arch);
        for (k, v) in &self.cfg.node_labels {
            labels[k] = json!(v);
        }
        let mut node = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node_name, "labels": labels,
                         "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {},
            "status": status,
        });
        if !self.cfg.register_with_taints.is_empty() {
            node["spec"]["taints"] = json!(self.cfg.register_with_taints);
        }
        node
    }

    /// Registers the node (retrying until it works), then keeps its status and lease current.
    pub async fn run_node_status(self: std::sync::Arc<Self>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let nodes = path("", "v1", "nodes", None, None);
        let me = path("", "v1", "nodes", None, Some(&self.node_name));
        if self.cfg.register_node {
            self.log.info(
                "kubelet_node_status.go:75",
                "Attempting to register node",
                &[("node", Kv::S(self.node_name.clone()))],
            );
            let mut delay = Duration::from_millis(100);
            loop {
                let status = self.build_status(&Value::Null).await;
                let node = self.initial_node(status);
                match client.create(&nodes, &node).await {
                    Ok(created) => {
                        self.set_node(&created);
                        self.log.info(
                            "kubelet_node_status.go:78",
                            "Successfully registered node",
                            &[("node", Kv::S(self.node_name.clone()))],
                        );
                        break;
                    }
                    Err(e) if e.is_already_exists() || e.is_conflict() => {
                        // An existing node: reconcile the default labels (updateDefaultLabels).
                        let patch = json!({"metadata": {"labels": default_labels(&self.node_name, &self.machine.arch)}});
                        match client.patch(&me, PatchType::Strategic, &patch).await {
                            Ok(n) => {
                                self.set_node(&n);
                                self.log.info(
                                    "kubelet_node_status.go:78",
                                    "Successfully registered node",
                                    &[("node", Kv::S(self.node_name.clone()))],
                                );
                                break;
                            }
                            Err(e) => self.log.error(
                                "kubelet_node_status.go:96",
                                Some(&e.to_string()),
                                "Unable to register node with API server",
                                &[("node", Kv::S(self.node_name.clone()))],
                            ),
                        }
                    }
                    Err(e) => {
                        self.log.error(
                            "kubelet_node_status.go:96",
                            Some(&e.to_string()),
                            "Unable to register node with API server",
                            &[("node", Kv::S(self.node_name.clone()))],
                        );
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(7));
            }
            self.node_event("Normal", "Starting", "Starting kubelet.");
            self.node_event(
                "Normal",
                "NodeAllocatableEnforced",
                "Updated Node Allocatable limit across pods",
            );
            for reason in [
                "NodeHasSufficientMemory",
                "NodeHasNoDiskPressure",
                "NodeHasSufficientPID",
            ] {
                self.node_event(
                    "Normal",
                    reason,
                    &format!("Node {} status is now: {reason}", self.node_name),
                );
            }
        }
        tokio::spawn(self.clone().run_lease());
        let mut last_posted: Option<(Value, Instant)> = None;
        let mut was_ready: Option<bool> = None;
        loop {
            if self.heartbeats_held("node status") {
                tokio::time::sleep(self.cfg.node_status_update_frequency).await;
                continue;
            }
            let current = match client.get(&me).await {
                Ok(n) => n,
                Err(e) => {
                    self.log.error(
                        "kubelet_node_status.go:560",
                        Some(&e.to_string()),
                        "Error updating node status, will retry",
                        &[],
                    );
                    tokio::time::sleep(self.cfg.node_status_update_frequency).await;
                    continue;
                }
            };
            self.set_node(&current);
            let status = self.build_status(&current).await;
            let due = last_posted
                .as_ref()
                .is_none_or(|(_, at)| at.elapsed() >= self.cfg.node_status_report_frequency);
            let changed = status_changed(&current["status"], &status);
            if due || changed {
                match client
                    .patch(
                        &format!("{me}/status"),
                        PatchType::Strategic,
                        &json!({"status": status}),
                    )
                    .await
                {
                    Ok(n) => {
                        self.set_node(&n);
                        last_posted = Some((status.clone(), Instant::now()));
                    }
                    Err(e) => self.log.error(
                        "kubelet_node_status.go:560",
                        Some(&e.to_string()),
                        "Error updating node status, will retry",
                        &[],
                    ),
                }
            }
            let ready = status["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .is_some_and(|c| c["status"] == "True");
            // setters.go ReadyCondition: an event whenever Ready is new or changes.
            if was_ready != Some(ready) {
                let reason = if ready { "NodeReady" } else { "NodeNotReady" };
                if !ready {
                    self.log.info(
                        "setters.go:602",
                        "Node became not ready",
                        &[("node", Kv::S(self.node_name.clone()))],
                    );
                }
                self.node_event(
                    "Normal",
                    reason,
                    &format!("Node {} status is now: {reason}", self.node_name),
                );
                was_ready = Some(ready);
            }
            tokio::time::sleep(self.cfg.node_status_update_frequency).await;
        }
    }

    /// Whether `labsim fault stop-heartbeats` holds this node's heartbeats (its `what`, the
    /// status or the lease) back; the change is logged once each way.
    fn heartbeats_held(&self, what: &str) -> bool {
        let held = self.faults.heartbeats_stopped();
        let mut logged = self.heartbeat_fault_logged.lock().expect("lock");
        let key = what.to_string();
        if held && logged.insert(key.clone()) {
            self.log.info(
                "labsim",
                "labsim fault stop-heartbeats: not sending heartbeats",
                &[("heartbeat", Kv::S(key))],
            );
        } else if !held && logged.remove(&key) {
            self.log.info(
                "labsim",
                "labsim fault stop-heartbeats cleared: sending heartbeats again",
                &[("heartbeat", Kv::S(key))],
            );
        }
        held
    }

    /// Renews the node's Lease every quarter of its duration (nodelease controller).
    async fn run_lease(self: std::sync::Arc<Self>) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let leases = path(
            "coordination.k8s.io",
            "v1",
            "leases",
            Some("kube-node-lease"),
            None,
        );
        let mine = format!("{leases}/{}", self.node_name);
        let interval = self.cfg.lease_renew_interval();
        loop {
            if self.heartbeats_held("lease") {
                tokio::time::sleep(interval).await;
                continue;
            }
            let now = super::now_micro();
            let owner = self.node_uid().map(|uid| {
                json!([{"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": uid}])
            });
            let result = match client.get_opt(&mine).await {
                Ok(Some(mut l)) => {
                    l["spec"]["renewTime"] = json!(now);
                    l["spec"]["holderIdentity"] = json!(self.node_name);
                    l["spec"]["leaseDurationSeconds"] = json!(self.cfg.node_lease_duration_seconds);
                    if let Some(o) = &owner
                        && l["metadata"]["ownerReferences"].is_null()
                    {
                        l["metadata"]["ownerReferences"] = o.clone();
                    }
                    client.update(&mine, &l).await.map(|_| ())
                }
                Ok(None) => {
                    let mut l = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
                        "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": self.cfg.node_lease_duration_seconds, "renewTime": now}});
                    if let Some(o) = owner {
                        l["metadata"]["ownerReferences"] = o;
                    }
                    client.create(&leases, &l).await.map(|_| ())
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                self.log.error(
                    "controller.go:145",
                    Some(&e.to_string()),
                    "Failed to ensure lease exists, will retry",
                    &[("interval", Kv::S(format!("{}ms", interval.as_millis())))],
                );
            }
            tokio::time::sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Machine {
        Machine {
            cpus: 2,
            memory_ki: 8_000_000,
            storage_ki: 100_000_000,
            machine_id: "abc".into(),
            system_uuid: "u".into(),
            boot_id: "b".into(),
            kernel: "6.1.0".into(),
            arch: "amd64".into(),
            apparmor: false,
        }
    }

    #[test]
    fn allocatable_subtracts_the_hard_eviction_thresholds() {
        let cfg = super::super::config::KubeletConfig::default();
        let (cap, alloc) = resources(&m(), &cfg);
        assert_eq!(cap["memory"], "8000000Ki");
        assert_eq!(alloc["memory"], "7897600Ki", "100Mi less");
        assert_eq!(cap["ephemeral-storage"], "100000000Ki");
        assert_eq!(alloc["ephemeral-storage"], "92160000000", "90 % in bytes");
        assert_eq!(alloc["pods"], "110");
        assert_eq!(alloc["cpu"], "2");
    }

    #[test]
    fn ready_follows_the_runtime_and_keeps_transition_times() {
        let not_ready = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized".to_string();
        let c1 = conditions(&Value::Null, std::slice::from_ref(&not_ready), false, "t1");
        assert_eq!(c1[3]["status"], "False");
        assert_eq!(c1[3]["reason"], "KubeletNotReady");
        assert_eq!(c1[3]["message"], not_ready);
        let prev = json!({"status": {"conditions": c1}});
        let c2 = conditions(&prev, &[], false, "t2");
        assert_eq!(c2[3]["status"], "True");
        assert_eq!(c2[3]["message"], "kubelet is posting ready status");
        assert_eq!(c2[3]["lastTransitionTime"], "t2");
        assert_eq!(
            c2[0]["lastTransitionTime"], "t1",
            "memory pressure did not change"
        );
        let c3 = conditions(&prev, &[], true, "t2");
        assert_eq!(
            c3[3]["message"],
            "kubelet is posting ready status. AppArmor enabled"
        );
        let a = json!({"conditions": c2});
        let b = json!({"conditions": conditions(&json!({"status": a}), &[], false, "t3")});
        assert!(!status_changed(&a, &b), "only heartbeats differ");
    }

    #[test]
    fn node_info_by_version() {
        let (cap, alloc) = resources(&m(), &super::super::config::KubeletConfig::default());
        let parts = |minor| StatusParts {
            machine: Box::leak(Box::new(m())),
            capacity: Box::leak(Box::new(cap.clone())),
            allocatable: Box::leak(Box::new(alloc.clone())),
            node_ip: "127.100.49.3",
            hostname: "minikube-m02",
            port: 10250,
            kubelet_version: "v1.30.14",
            minor,
            runtime_version: "containerd://1.7.27",
            runtime_errors: &[],
            images: json!([]),
            now: "t",
        };
        let s30 = node_status(&Value::Null, &parts(30));
        assert_eq!(s30["nodeInfo"]["kubeProxyVersion"], "v1.30.14");
        assert_eq!(
            s30["addresses"][0],
            json!({"type": "InternalIP", "address": "127.100.49.3"})
        );
        assert_eq!(s30["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
        let s31 = node_status(&Value::Null, &parts(31));
        assert!(s31["nodeInfo"]["kubeProxyVersion"].is_null());
        assert_eq!(
            default_labels("m02", "amd64")["kubernetes.io/hostname"],
            "m02"
        );
    }
}
