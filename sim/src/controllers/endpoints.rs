//! The Endpoints controller (pkg/controller/endpoint/endpoints_controller.go) and the
//! EndpointSlice controller (pkg/controller/endpointslice, staging/src/k8s.io/endpointslice).
//!
//! For every Service with a selector (not ExternalName), the pods it selects that have an IP and
//! are not terminal become endpoints:
//!
//! - **Endpoints** `<service>`: ready pods under `addresses`, others under `notReadyAddresses`
//!   (every pod under `addresses` with `publishNotReadyAddresses`); pods being deleted are left out
//!   unless the service publishes not-ready addresses; each address has `ip`, `nodeName` and a
//!   `targetRef` to the pod; the ports are the service's, with `targetPort` resolved by number or by
//!   the container port's name (a pod without the named port is left out of that port); subsets are
//!   repacked as `RepackSubsets` does; labels are the service's (plus
//!   `service.kubernetes.io/headless` for headless services).
//! - **EndpointSlices** `<service>-<5 chars>`, labelled `kubernetes.io/service-name` and
//!   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, owned by the service,
//!   one per set of resolved ports (at most `--max-endpoints-per-slice` endpoints), with conditions
//!   ready (serving and not terminating), serving (pod ready) and terminating (being deleted);
//!   a service with no endpoints keeps an empty placeholder slice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::informers::Informer;
use super::queue::WorkQueue;
use super::{Ctx, SyncError, feed, util, work};
use crate::client::path;

/// `endpointslice.kubernetes.io/managed-by` value of the controller.
pub const SLICE_MANAGER: &str = "endpointslice-controller.k8s.io";
/// `endpoints.kubernetes.io/last-change-trigger-time`.
pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// `service.kubernetes.io/headless`.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

fn pod_ip(pod: &Value) -> Option<&str> {
    pod["status"]["podIP"]
        .as_str()
        .filter(|i| !i.is_empty())
        .or_else(|| pod["status"]["podIPs"][0]["ip"].as_str())
}

/// `ShouldPodBeInEndpoints`: not terminal, has an IP, and not being deleted unless
/// `include_terminating`.
pub fn should_pod_be_in_endpoints(pod: &Value, include_terminating: bool) -> bool {
    if util::is_pod_terminal(pod) || pod_ip(pod).is_none() {
        return false;
    }
    include_terminating || !util::is_being_deleted(pod)
}

/// `podutil.FindPort`: the container port a service port targets on `pod`.
pub fn find_port(pod: &Value, svc_port: &Value) -> Option<i64> {
    let target = if svc_port["targetPort"].is_null() {
        &svc_port["port"]
    } else {
        &svc_port["targetPort"]
    };
    match target {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => {
            let proto = svc_port["protocol"].as_str().unwrap_or("TCP");
            ["containers", "initContainers"].iter().find_map(|list| {
                util::array(&pod["spec"][*list]).iter().find_map(|c| {
                    // Init containers count only when restartable (sidecars).
                    if *list == "initContainers" && c["restartPolicy"] != "Always" {
                        return None;
                    }
                    util::array(&c["ports"]).iter().find_map(|p| {
                        (p["name"] == name.as_str()
                            && p["protocol"].as_str().unwrap_or("TCP") == proto)
                            .then(|| p["containerPort"].as_i64())
                            .flatten()
                    })
                })
            })
        }
        _ => None,
    }
}

fn is_headless(svc: &Value) -> bool {
    matches!(svc["spec"]["clusterIP"].as_str(), None | Some("" | "None"))
}

fn endpoint_port(svc_port: &Value, port: i64) -> Value {
    let mut p = Map::new();
    if let Some(n) = svc_port["name"].as_str().filter(|n| !n.is_empty()) {
        p.insert("name".into(), json!(n));
    }
    p.insert("port".into(), json!(port));
    p.insert(
        "protocol".into(),
        json!(svc_port["protocol"].as_str().unwrap_or("TCP")),
    );
    if !svc_port["appProtocol"].is_null() {
        p.insert("appProtocol".into(), svc_port["appProtocol"].clone());
    }
    Value::Object(p)
}

fn hostname_for(pod: &Value, svc: &Value) -> Option<String> {
    let h = pod["spec"]["hostname"].as_str().filter(|h| !h.is_empty())?;
    (pod["spec"]["subdomain"] == util::name(svc) && util::namespace(pod) == util::namespace(svc))
        .then(|| h.to_string())
}

/// The trigger time labsim records: the latest of the service's creation and its pods' ready
/// transitions or creations (the change that caused this update).
fn trigger_time(svc: &Value, pods: &[Value]) -> String {
    let mut t = util::created(svc);
    for p in pods {
        let pt = util::pod_condition(p, "Ready")
            .and_then(|c| util::parse_time(&c["lastTransitionTime"]))
            .unwrap_or_else(|| util::created(p));
        if pt > t {
            t = pt;
        }
    }
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Addresses by key: the address object and whether it is ready.
type AddressSet = BTreeMap<String, (Value, bool)>;

/// The Endpoints subsets of `svc` for `pods` (`syncService` + `RepackSubsets`).
pub fn endpoint_subsets(svc: &Value, pods: &[Value]) -> Vec<Value> {
    let publish = svc["spec"]["publishNotReadyAddresses"] == true;
    let ports = util::array(&svc["spec"]["ports"]);
    // port (as JSON text) -> address key -> (address, ready)
    let mut by_port: BTreeMap<String, AddressSet> = BTreeMap::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, publish) {
            continue;
        }
        let Some(ip) = pod_ip(pod) else { continue };
        let mut addr = json!({"ip": ip, "nodeName": util::spec_node(pod),
            "targetRef": {"kind": "Pod", "namespace": util::namespace(pod), "name": util::name(pod), "uid": util::uid(pod)}});
        if let Some(h) = hostname_for(pod, svc) {
            addr["hostname"] = json!(h);
        }
        let ready = publish || util::is_pod_ready(pod);
        let akey = format!("{ip}/{}", util::uid(pod));
        if ports.is_empty() {
            if is_headless(svc) {
                by_port
                    .entry("-1".into())
                    .or_default()
                    .insert(akey, (addr, ready));
            }
            continue;
        }
        for sp in &ports {
            let Some(n) = find_port(pod, sp) else {
                continue;
            };
            let ep = endpoint_port(sp, n);
            by_port
                .entry(ep.to_string())
                .or_default()
                .insert(akey.clone(), (addr.clone(), ready));
        }
    }
    // Ports that share the same address set form one subset.
    let mut groups: BTreeMap<String, (Vec<Value>, AddressSet)> = BTreeMap::new();
    for (port, addrs) in by_port {
        let key = addrs
            .iter()
            .map(|(k, (_, r))| format!("{k}={r}"))
            .collect::<Vec<_>>()
            .join(",");
        let g = groups.entry(key).or_insert_with(|| (vec![], addrs.clone()));
        if port != "-1" {
            g.0.push(serde_json::from_str(&port).unwrap_or(Value::Null));
        }
    }
    let mut subsets: Vec<Value> = groups
        .into_values()
        .map(|(mut ports, addrs)| {
            let mut ready: Vec<Value> = addrs
                .values()
                .filter(|(_, r)| *r)
                .map(|(a, _)| a.clone())
                .collect();
            let mut not_ready: Vec<Value> = addrs
                .values()
                .filter(|(_, r)| !*r)
                .map(|(a, _)| a.clone())
                .collect();
            let ip_key = |a: &Value| a["ip"].as_str().unwrap_or_default().to_string();
            ready.sort_by_key(ip_key);
            not_ready.sort_by_key(ip_key);
            ports.sort_by(|a, b| {
                a["name"]
                    .as_str()
                    .cmp(&b["name"].as_str())
                    .then(util::int(&a["port"]).cmp(&util::int(&b["port"])))
            });
            let mut s = Map::new();
            if !ready.is_empty() {
                s.insert("addresses".into(), json!(ready));
            }
            if !not_ready.is_empty() {
                s.insert("notReadyAddresses".into(), json!(not_ready));
            }
            if !ports.is_empty() {
                s.insert("ports".into(), json!(ports));
            }
            Value::Object(s)
        })
        .collect();
    subsets.sort_by_key(|s| {
        s["addresses"][0]["ip"]
            .as_str()
            .or(s["notReadyAddresses"][0]["ip"].as_str())
            .unwrap_or_default()
            .to_string()
    });
    subsets
}

fn selected_pods(pods: &Informer, svc: &Value) -> Vec<Value> {
    pods.list_namespace(util::namespace(svc))
        .into_iter()
        .filter(|p| util::map_selector_matches(&svc["spec"]["selector"], &p["metadata"]["labels"]))
        .collect()
}

fn wants_endpoints(svc: &Value) -> bool {
    svc["spec"]["type"] != "ExternalName" && svc["spec"]["selector"].is_object()
}

/// Services of a namespace to resync when one of its pods changes.
fn services_of_namespace(services: &Informer, obj: &Value) -> Vec<String> {
    services
        .list_namespace(util::namespace(obj))
        .iter()
        .filter(|s| wants_endpoints(s))
        .map(util::key)
        .collect()
}

fn spawn_feeds(ctx: &Ctx, q: &Arc<WorkQueue>) -> (Informer, Informer) {
    let services = ctx.informers.get("services");
    let pods = ctx.informers.get("pods");
    let all = services.clone();
    feed(&services, q.clone(), super::own_key, move || {
        super::all_keys(&all)
    });
    let s2 = services.clone();
    feed(
        &pods,
        q.clone(),
        move |c| {
            super::informers::changed_object(c)
                .map(|p| services_of_namespace(&s2, p))
                .unwrap_or_default()
        },
        Vec::new,
    );
    (services, pods)
}

/// Runs the Endpoints controller.
pub async fn run_endpoints(ctx: Ctx) {
    let q = WorkQueue::new();
    let (services, pods) = spawn_feeds(&ctx, &q);
    let endpoints = ctx.informers.get("endpoints");
    // A deleted Endpoints object is put back (`onEndpointsDelete`).
    feed(
        &endpoints,
        q.clone(),
        |c| match c {
            crate::client::Change::Deleted(o) => vec![util::key(o)],
            _ => vec![],
        },
        Vec::new,
    );
    let ctx = Arc::new(ctx);
    // endpoints_controller.go Run: `cache.WaitForNamedCacheSync("endpoint", …, podsSynced,
    // servicesSynced, endpointsSynced)`.
    super::informers::wait_synced(&[&services, &pods, &endpoints]).await;
    work("endpoints_controller.go", q, |key| {
        let (ctx, services, pods, endpoints) = (
            ctx.clone(),
            services.clone(),
            pods.clone(),
            endpoints.clone(),
        );
        async move { sync_endpoints(&ctx, &services, &pods, &endpoints, &key).await }
    })
    .await;
}

async fn sync_endpoints(
    ctx: &Ctx,
    services: &Informer,
    pods: &Informer,
    endpoints: &Informer,
    key: &str,
) -> Result<Option<Duration>, SyncError> {
    let (ns, name) = util::split_key(key);
    let ep_path = path("", "v1", "endpoints", Some(ns), Some(name));
    let Some(svc) = services.get(key) else {
        // The service is gone: so are its endpoints.
        if endpoints.get(key).is_some() {
            match ctx.client.delete(&ep_path, &json!({})).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(None);
    };
    if !wants_endpoints(&svc) {
        return Ok(None);
    }
    let selected = selected_pods(pods, &svc);
    let subsets = endpoint_subsets(&svc, &selected);
    let mut labels = svc["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if is_headless(&svc) {
        labels.insert(HEADLESS_LABEL.into(), json!(""));
    }
    let current = endpoints.get(key);
    if let Some(cur) = &current {
        let cur_subsets = util::array(&cur["subsets"]);
        let cur_labels = cur["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if cur_subsets == subsets && cur_labels == labels {
            return Ok(None);
        }
    }
    let mut ep = current.clone().unwrap_or_else(|| {
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns}})
    });
    ep["metadata"]["labels"] = Value::Object(labels);
    ep["metadata"]["annotations"][TRIGGER_TIME] = json!(trigger_time(&svc, &selected));
    if subsets.is_empty() {
        if let Some(m) = ep.as_object_mut() {
            m.remove("subsets");
        }
    } else {
        ep["subsets"] = json!(subsets);
    }
    let result = if current.is_some() {
        ctx.client.update(&ep_path, &ep).await
    } else {
        ctx.client
            .create(&path("", "v1", "endpoints", Some(ns), None), &ep)
            .await
    };
    match result {
        Ok(_) => Ok(None),
        // Terminating namespace, or a race with another writer: the next event fixes it.
        Err(e) if e.code() == Some(403) || e.is_already_exists() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The endpoints of one slice: `(ports, endpoints)` keyed by the ports' JSON.
pub fn desired_slices(
    svc: &Value,
    pods: &[Value],
    nodes: &Informer,
) -> BTreeMap<String, (Vec<Value>, Vec<Value>)> {
    let publish = svc["spec"]["publishNotReadyAddresses"] == true;
    let svc_ports = util::array(&svc["spec"]["ports"]);
    let mut out: BTreeMap<String, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for pod in pods {
        if !should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let Some(ip) = pod_ip(pod) else { continue };
        let serving = util::is_pod_ready(pod);
        let terminating = util::is_being_deleted(pod);
        let ready = publish || (serving && !terminating);
        let mut ep = json!({"addresses": [ip],
            "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
            "targetRef": {"kind": "Pod", "namespace": util::namespace(pod), "name": util::name(pod), "uid": util::uid(pod)}});
        let node = util::spec_node(pod);
        if !node.is_empty() {
            ep["nodeName"] = json!(node);
            if let Some(zone) = nodes.get(node).and_then(|n| {
                n["metadata"]["labels"]["topology.kubernetes.io/zone"]
                    .as_str()
                    .map(str::to_string)
            }) {
                ep["zone"] = json!(zone);
            }
        }
        if let Some(h) = hostname_for(pod, svc) {
            ep["hostname"] = json!(h);
        }
        let mut ports: Vec<Value> = svc_ports
            .iter()
            .filter_map(|sp| find_port(pod, sp).map(|n| endpoint_port(sp, n)))
            .collect();
        ports.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        if !svc_ports.is_empty() && ports.is_empty() {
            continue;
        }
        let k = json!(ports).to_string();
        let entry = out.entry(k).or_insert_with(|| (ports, vec![]));
        entry.1.push(ep);
    }
    for (_, eps) in out.values_mut() {
        eps.sort_by_key(|e| e["addresses"][0].as_str().unwrap_or_default().to_string());
    }
    out
}

/// Runs the EndpointSlice controller.
pub async fn run_endpointslices(ctx: Ctx) {
    let q = WorkQueue::new();
    let (services, pods) = spawn_feeds(&ctx, &q);
    let slices = ctx.informers.get("endpointslices");
    let nodes = ctx.informers.get("nodes");
    feed(
        &slices,
        q.clone(),
        |c| match super::informers::changed_object(c) {
            Some(s)
                if s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
                    == SLICE_MANAGER =>
            {
                s["metadata"]["labels"]["kubernetes.io/service-name"]
                    .as_str()
                    .map(|n| vec![format!("{}/{n}", util::namespace(s))])
                    .unwrap_or_default()
            }
            _ => vec![],
        },
        Vec::new,
    );
    let ctx = Arc::new(ctx);
    // endpointslice_controller.go Run: `cache.WaitForNamedCacheSync("endpoint_slice", …,
    // podsSynced, servicesSynced, endpointSlicesSynced, nodesSynced)`.
    super::informers::wait_synced(&[&services, &pods, &slices, &nodes]).await;
    work("endpointslice_controller.go", q, |key| {
        let (ctx, services, pods, slices, nodes) = (
            ctx.clone(),
            services.clone(),
            pods.clone(),
            slices.clone(),
            nodes.clone(),
        );
        async move { sync_slices(&ctx, &services, &pods, &slices, &nodes, &key).await }
    })
    .await;
}

async fn sync_slices(
    ctx: &Ctx,
    services: &Informer,
    pods: &Informer,
    slices: &Informer,
    nodes: &Informer,
    key: &str,
) -> Result<Option<Duration>, SyncError> {
    let (ns, name) = util::split_key(key);
    let svc = services.get(key);
    let existing: Vec<Value> = slices
        .list_namespace(ns)
        .into_iter()
        .filter(|s| {
            s["metadata"]["labels"]["kubernetes.io/service-name"] == name
                && s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
                    == SLICE_MANAGER
        })
        .collect();
    let slice_path = |n: &str| {
        path(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            Some(ns),
            Some(n),
        )
    };
    let Some(svc) = svc.filter(wants_endpoints) else {
        // Owned slices go with the service (the garbage collector would too).
        for s in &existing {
            match ctx
                .client
                .delete(&slice_path(util::name(s)), &json!({}))
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(None);
    };
    let selected = selected_pods(pods, &svc);
    let mut desired = desired_slices(&svc, &selected, nodes);
    if desired.is_empty() {
        // The placeholder slice of a service without endpoints.
        desired.insert("[]".into(), (vec![], vec![]));
    }
    let mut labels: Map<String, Value> = svc["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| {
            k != "kubernetes.io/service-name"
                && k != "endpointslice.kubernetes.io/managed-by"
                && k != HEADLESS_LABEL
        })
        .collect();
    labels.insert("kubernetes.io/service-name".into(), json!(name));
    labels.insert(
        "endpointslice.kubernetes.io/managed-by".into(),
        json!(SLICE_MANAGER),
    );
    if is_headless(&svc) {
        labels.insert(HEADLESS_LABEL.into(), json!(""));
    }
    let max = ctx.opts.max_endpoints_per_slice.max(1);
    let mut wanted: Vec<(Vec<Value>, Vec<Value>)> = vec![];
    for (_, (ports, eps)) in desired {
        if eps.is_empty() {
            wanted.push((ports.clone(), vec![]));
        }
        for chunk in eps.chunks(max) {
            wanted.push((ports.clone(), chunk.to_vec()));
        }
    }
    let trigger = trigger_time(&svc, &selected);
    let mut unused: Vec<Value> = existing.clone();
    for (ports, eps) in wanted {
        // Reuse a slice with the same ports, else any left over, else create.
        let pos = unused
            .iter()
            .position(|s| util::array(&s["ports"]) == ports)
            .or(if unused.is_empty() { None } else { Some(0) });
        let body_ports = if ports.is_empty() {
            Value::Null
        } else {
            json!(ports)
        };
        match pos {
            Some(i) => {
                let cur = unused.remove(i);
                let cur_labels = cur["metadata"]["labels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                if util::array(&cur["endpoints"]) == eps
                    && cur["ports"] == body_ports
                    && cur_labels == labels
                {
                    continue;
                }
                let mut up = cur.clone();
                up["endpoints"] = json!(eps);
                up["ports"] = body_ports;
                up["metadata"]["labels"] = Value::Object(labels.clone());
                up["metadata"]["annotations"][TRIGGER_TIME] = json!(trigger);
                match ctx.client.update(&slice_path(util::name(&cur)), &up).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
            None => {
                let mut s = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"generateName": format!("{name}-"), "namespace": ns, "labels": labels,
                                 "annotations": {TRIGGER_TIME: trigger},
                                 "ownerReferences": [util::controller_ref(&svc, "v1", "Service")]},
                    "addressType": "IPv4", "endpoints": eps});
                if !body_ports.is_null() {
                    s["ports"] = body_ports;
                }
                match ctx
                    .client
                    .create(
                        &path("discovery.k8s.io", "v1", "endpointslices", Some(ns), None),
                        &s,
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.code() == Some(403) => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    for s in unused {
        match ctx
            .client
            .delete(&slice_path(util::name(&s)), &json!({}))
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ip: &str, ready: bool, deleting: bool) -> Value {
        let mut p = json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "hello"}},
               "spec": {"nodeName": "minikube-m02", "containers": [{"name": "podinfo", "ports": [{"name": "http", "containerPort": 9898, "protocol": "TCP"}]}]},
               "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        p
    }

    fn svc(target: Value) -> Value {
        json!({"metadata": {"name": "hello", "namespace": "default"},
               "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "hello"},
                        "ports": [{"port": 80, "protocol": "TCP", "targetPort": target}]}})
    }

    #[test]
    fn ready_and_not_ready_addresses() {
        let pods = vec![
            pod("a", "10.244.1.2", true, false),
            pod("b", "10.244.2.2", false, false),
            pod("c", "10.244.2.3", true, true),
            json!({"metadata": {"name": "noip"}, "status": {"phase": "Pending"}}),
        ];
        let subsets = endpoint_subsets(&svc(json!(9898)), &pods);
        assert_eq!(subsets.len(), 1);
        let s = &subsets[0];
        assert_eq!(s["addresses"][0]["ip"], "10.244.1.2");
        assert_eq!(s["addresses"][0]["nodeName"], "minikube-m02");
        assert_eq!(s["addresses"][0]["targetRef"]["name"], "a");
        assert_eq!(s["notReadyAddresses"][0]["ip"], "10.244.2.2");
        assert_eq!(
            s["addresses"].as_array().unwrap().len(),
            1,
            "terminating pods are left out"
        );
        assert_eq!(s["ports"], json!([{"port": 9898, "protocol": "TCP"}]));
    }

    #[test]
    fn named_target_ports() {
        let p = pod("a", "10.244.1.2", true, false);
        assert_eq!(
            find_port(
                &p,
                &json!({"port": 80, "targetPort": "http", "protocol": "TCP"})
            ),
            Some(9898)
        );
        assert_eq!(
            find_port(
                &p,
                &json!({"port": 80, "targetPort": "grpc", "protocol": "TCP"})
            ),
            None
        );
        assert_eq!(
            find_port(
                &p,
                &json!({"port": 80, "targetPort": "http", "protocol": "UDP"})
            ),
            None
        );
        let subsets = endpoint_subsets(&svc(json!("grpc")), &[p]);
        assert!(subsets.is_empty());
    }
}
