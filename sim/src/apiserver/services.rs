//! Service IP and node-port allocation.
//!
//! ClusterIPs come from `--service-cluster-ip-range`. As in kube-apiserver since
//! MultiCIDRServiceAllocator (KEP-1880, GA in 1.33), each allocated IP is an `IPAddress` object
//! stored at `/registry/ipaddresses/<ip>`, created with a create-if-absent transaction so two services
//! never get the same IP. Dynamic allocation picks random addresses from the upper band of the range;
//! the lower band (min(max(16, size/16), 256) addresses) is left for explicit requests
//! (KEP-3070, pkg/registry/core/service/ipallocator). The `kubernetes` service asks for the first IP.
//! NodePorts come from `--service-node-port-range` (30000-32767) and are checked against existing
//! services.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::resources;
use super::server::Api;
use super::status::{ApiError, FieldError};
use crate::etcd::TxnOutcome;

/// An allocation made for a service, to release on failure or deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocation {
    /// A cluster IP.
    ClusterIp(String),
}

fn ip_key(ip: &str) -> String {
    format!("/registry/ipaddresses/{ip}")
}

fn invalid(svc: &Value, field: &str, value: Value, detail: String) -> ApiError {
    let svcs = resources::find("", "v1", "services").expect("served");
    ApiError::invalid(
        svcs,
        svc["metadata"]["name"].as_str().unwrap_or_default(),
        vec![FieldError::invalid(field, &value, &detail)],
    )
}

fn go_strings(v: &[String]) -> Value {
    // Shown as Go's %#v of a []string.
    let inner: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    Value::String(format!("[]string{{{}}}", inner.join(", ")))
}

async fn claim(api: &Api, ip: &str, svc: &Value) -> Result<bool, ApiError> {
    let ipaddr = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
        "metadata": {"name": ip, "uid": super::meta::new_uid(), "creationTimestamp": super::meta::now_rfc3339(),
            "labels": {"ipaddress.kubernetes.io/ip-family": "IPv4", "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}},
        "spec": {"parentRef": {"group": "", "resource": "services", "namespace": svc["metadata"]["namespace"], "name": svc["metadata"]["name"]}}
    });
    let bytes = serde_json::to_vec(&ipaddr).expect("JSON");
    match api
        .store
        .etcd
        .create(&ip_key(ip), &bytes, 0)
        .await
        .map_err(|e| ApiError::Storage(e.to_string()))?
    {
        TxnOutcome::Done(_) => Ok(true),
        TxnOutcome::Failed(_) => Ok(false),
    }
}

/// Allocates the ClusterIP (and NodePorts) of a new service and fills `clusterIP`, `clusterIPs`,
/// `ipFamilies`, `ipFamilyPolicy`.
///
/// # Errors
/// [`ApiError::Invalid`] for an IP outside the range or already taken.
pub async fn allocate(api: &Api, svc: &mut Value) -> Result<Vec<Allocation>, ApiError> {
    let typ = svc["spec"]["type"]
        .as_str()
        .unwrap_or("ClusterIP")
        .to_string();
    if typ == "ExternalName" {
        return Ok(vec![]);
    }
    let (base, len) = api.service_cidr;
    let size: u64 = 1u64 << (32 - len as u32);
    let cidr = format!("{}/{len}", Ipv4Addr::from(base));
    let mut out = vec![];
    let requested = svc["spec"]["clusterIP"].as_str().unwrap_or("").to_string();
    let ip = if requested == "None" {
        None
    } else if !requested.is_empty() {
        let parsed: Ipv4Addr = requested.parse().map_err(|_| {
            invalid(
                svc,
                "spec.clusterIPs",
                go_strings(std::slice::from_ref(&requested)),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".into(),
            )
        })?;
        let mask = u32::MAX.checked_shl(32 - len as u32).unwrap_or(0);
        let off = u32::from(parsed).wrapping_sub(base) as u64;
        if u32::from(parsed) & mask != base || off == 0 || off >= size - 1 {
            return Err(invalid(
                svc,
                "spec.clusterIPs",
                go_strings(std::slice::from_ref(&requested)),
                format!(
                    "failed to allocate IP {requested}: provided IP is not in the valid range. The range of valid IPs is {cidr}"
                ),
            ));
        }
        if !claim(api, &requested, svc).await? {
            return Err(invalid(
                svc,
                "spec.clusterIPs",
                go_strings(std::slice::from_ref(&requested)),
                format!("failed to allocate IP {requested}: provided IP is already allocated"),
            ));
        }
        Some(requested)
    } else {
        let reserved = (size / 16).clamp(16, 256).min(size - 2);
        let mut found = None;
        let mut tries = 0u64;
        let span = (size - 1).saturating_sub(reserved).max(1);
        let start = u64::from_le_bytes(random8()) % span;
        while tries < span.min(4096) {
            let off = reserved + (start + tries) % span;
            tries += 1;
            if off == 0 || off >= size - 1 {
                continue;
            }
            let candidate = Ipv4Addr::from(base + off as u32).to_string();
            if claim(api, &candidate, svc).await? {
                found = Some(candidate);
                break;
            }
        }
        // The upper band is full: fall back to the lower one.
        if found.is_none() {
            for off in 1..reserved {
                let candidate = Ipv4Addr::from(base + off as u32).to_string();
                if claim(api, &candidate, svc).await? {
                    found = Some(candidate);
                    break;
                }
            }
        }
        Some(found.ok_or_else(|| {
            invalid(
                svc,
                "spec.clusterIPs",
                go_strings(&[]),
                "failed to allocate a serviceIP: range is full".to_string(),
            )
        })?)
    };
    let spec = &mut svc["spec"];
    match &ip {
        Some(ip) => {
            spec["clusterIP"] = json!(ip);
            spec["clusterIPs"] = json!([ip]);
            out.push(Allocation::ClusterIp(ip.clone()));
        }
        None => {
            spec["clusterIP"] = json!("None");
            spec["clusterIPs"] = json!(["None"]);
        }
    }
    spec["ipFamilies"] = json!(["IPv4"]);
    spec["ipFamilyPolicy"] = json!("SingleStack");
    if (typ == "NodePort" || typ == "LoadBalancer")
        && let Err(e) = allocate_node_ports(api, svc).await
    {
        release(api, &out).await;
        return Err(e);
    }
    Ok(out)
}

fn random8() -> [u8; 8] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("random source");
    b
}

async fn allocate_node_ports(api: &Api, svc: &mut Value) -> Result<(), ApiError> {
    allocate_node_ports_excluding(api, svc, &Value::Null).await
}

/// Allocates node ports, not counting the ports of the service with metadata `itself` as taken.
async fn allocate_node_ports_excluding(
    api: &Api,
    svc: &mut Value,
    itself: &Value,
) -> Result<(), ApiError> {
    let range = api
        .flags
        .get_or("service-node-port-range", "30000-32767")
        .to_string();
    let (lo, hi) = range
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?)))
        .unwrap_or((30000, 32767));
    let svcs = resources::find("", "v1", "services").expect("served");
    let (all, _) = api.store.list(svcs, None, 0).await?;
    let mut used: Vec<i64> = all
        .iter()
        .filter(|s| {
            itself.is_null()
                || s["metadata"]["name"] != itself["name"]
                || s["metadata"]["namespace"] != itself["namespace"]
        })
        .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["nodePort"].as_i64())
        .collect();
    let ports = svc["spec"]["ports"]
        .as_array_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut out = vec![];
    for (i, mut p) in ports.into_iter().enumerate() {
        match p["nodePort"].as_i64() {
            Some(n) if n != 0 => {
                if n < lo || n > hi {
                    return Err(invalid(
                        svc,
                        &format!("spec.ports[{i}].nodePort"),
                        json!(n),
                        format!(
                            "provided port is not in the valid range. The range of valid ports is {lo}-{hi}"
                        ),
                    ));
                }
                if used.contains(&n) {
                    return Err(invalid(
                        svc,
                        &format!("spec.ports[{i}].nodePort"),
                        json!(n),
                        "provided port is already allocated".into(),
                    ));
                }
                used.push(n);
            }
            _ => {
                let span = (hi - lo + 1) as u64;
                let start = u64::from_le_bytes(random8()) % span;
                let pick = (0..span)
                    .map(|k| lo + ((start + k) % span) as i64)
                    .find(|n| !used.contains(n))
                    .ok_or_else(|| ApiError::Internal("node port range is full".into()))?;
                used.push(pick);
                p["nodePort"] = json!(pick);
            }
        }
        out.push(p);
    }
    svc["spec"]["ports"] = json!(out);
    Ok(())
}

/// Releases allocations (IPAddress objects).
pub async fn release(api: &Api, allocs: &[Allocation]) {
    for a in allocs {
        match a {
            Allocation::ClusterIp(ip) => {
                let _ = api.store.etcd.delete(&ip_key(ip), false).await;
            }
        }
    }
}

/// The allocations a stored service holds.
pub fn allocations_of(svc: &Value) -> Vec<Allocation> {
    svc["spec"]["clusterIPs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|ip| *ip != "None")
                .map(|ip| Allocation::ClusterIp(ip.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// On update: keeps allocations ([`carry_allocations`]), drops node ports when the type no longer
/// uses them (pkg/registry/core/service/storage/storage.go `dropTypeDependentFields`), and allocates
/// node ports for ports that need one (a change to NodePort or LoadBalancer, or a new port).
///
/// # Errors
/// [`ApiError::Invalid`] when a requested node port is taken or out of range.
pub async fn update_allocations(api: &Api, old: &Value, new: &mut Value) -> Result<(), ApiError> {
    carry_allocations(old, new);
    let typ = new["spec"]["type"]
        .as_str()
        .unwrap_or("ClusterIP")
        .to_string();
    let uses_node_ports = typ == "NodePort" || typ == "LoadBalancer";
    if !uses_node_ports {
        if let Some(ports) = new["spec"]["ports"].as_array_mut() {
            for p in ports {
                if let Some(m) = p.as_object_mut() {
                    m.remove("nodePort");
                }
            }
        }
        return Ok(());
    }
    let missing = new["spec"]["ports"].as_array().is_some_and(|ps| {
        ps.iter()
            .any(|p| p["nodePort"].as_i64().is_none_or(|n| n == 0))
    });
    if missing {
        // Ports that already had theirs keep them: allocate only for the others.
        let name = new["metadata"]["name"].clone();
        let ns = new["metadata"]["namespace"].clone();
        let keep: Vec<Value> = new["spec"]["ports"].as_array().cloned().unwrap_or_default();
        let mut probe =
            json!({"metadata": {"name": name, "namespace": ns}, "spec": {"ports": keep}});
        allocate_node_ports_excluding(api, &mut probe, &new["metadata"]).await?;
        if let (Some(out), Some(allocated)) = (
            new["spec"]["ports"].as_array_mut(),
            probe["spec"]["ports"].as_array(),
        ) {
            for (p, a) in out.iter_mut().zip(allocated) {
                if p["nodePort"].as_i64().is_none_or(|n| n == 0) {
                    p["nodePort"] = a["nodePort"].clone();
                }
            }
        }
    }
    Ok(())
}

/// On update, a service keeps its allocated IPs and node ports unless it sets them itself.
pub fn carry_allocations(old: &Value, new: &mut Value) {
    for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        if new["spec"][k].is_null() && !old["spec"][k].is_null() {
            new["spec"][k] = old["spec"][k].clone();
        }
    }
    if let (Some(old_ports), Some(new_ports)) = (
        old["spec"]["ports"].as_array().cloned(),
        new["spec"]["ports"].as_array_mut(),
    ) {
        for p in new_ports.iter_mut() {
            if p["nodePort"].is_null()
                && let Some(op) = old_ports
                    .iter()
                    .find(|o| o["port"] == p["port"] && o["protocol"] == p["protocol"])
                && !op["nodePort"].is_null()
            {
                p["nodePort"] = op["nodePort"].clone();
            }
        }
    }
}
