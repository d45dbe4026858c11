//! A container's environment as the kubelet makes it (pkg/kubelet/kubelet_pods.go
//! `makeEnvironmentVariables`, pkg/kubelet/envvars/envvars.go `FromServices`,
//! third_party/forked/golang/expansion):
//!
//! 1. `envFrom` sources, then `env` entries in order, each value with `$(VAR)` references to
//!    variables defined before it (and to service variables) expanded, `$$` escaping `$`;
//!    `valueFrom` resolved from the pod's fields (`fieldRef`), its resources
//!    (`resourceFieldRef`), ConfigMaps and Secrets;
//! 2. then the service variables not already defined: for every Service of the pod's namespace
//!    with a cluster IP (when `enableServiceLinks` is on, the default) and always for the
//!    `kubernetes` Service of `default`: `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`,
//!    `<NAME>_SERVICE_PORT_<PORT>`, and the Docker-link variables `<NAME>_PORT…`.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use serde_json::Value;

/// Expands `$(VAR)` in `s` with `vars` (`$$` is a literal `$`; unknown references stay as they
/// are).
pub fn expand(s: &str, vars: &HashMap<String, String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            match b[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                    continue;
                }
                b'(' => {
                    if let Some(close) = s[i + 2..].find(')') {
                        let name = &s[i + 2..i + 2 + close];
                        match vars.get(name) {
                            Some(v) => out.push_str(v),
                            None => out.push_str(&s[i..i + 3 + close]),
                        }
                        i += 3 + close;
                        continue;
                    }
                }
                _ => {}
            }
        }
        let ch = s[i..].chars().next().unwrap_or('\0');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn env_name(service: &str) -> String {
    service.to_uppercase().replace('-', "_")
}

/// The variables of the services (envvars.go `FromServices`), sorted by name.
pub fn service_env(services: &[Value]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for s in services {
        let ip = s["spec"]["clusterIP"].as_str().unwrap_or_default();
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let name = env_name(s["metadata"]["name"].as_str().unwrap_or_default());
        let ports = s["spec"]["ports"].as_array().cloned().unwrap_or_default();
        let Some(first) = ports.first() else {
            continue;
        };
        out.insert(format!("{name}_SERVICE_HOST"), ip.to_string());
        out.insert(
            format!("{name}_SERVICE_PORT"),
            first["port"].as_i64().unwrap_or(0).to_string(),
        );
        for p in &ports {
            if let Some(pn) = p["name"].as_str().filter(|n| !n.is_empty()) {
                out.insert(
                    format!("{name}_SERVICE_PORT_{}", env_name(pn)),
                    p["port"].as_i64().unwrap_or(0).to_string(),
                );
            }
        }
        let proto = |p: &Value| p["protocol"].as_str().unwrap_or("TCP").to_string();
        out.insert(
            format!("{name}_PORT"),
            format!(
                "{}://{ip}:{}",
                proto(first).to_lowercase(),
                first["port"].as_i64().unwrap_or(0)
            ),
        );
        for p in &ports {
            let port = p["port"].as_i64().unwrap_or(0);
            let pr = proto(p);
            let prefix = format!("{name}_PORT_{port}_{}", pr.to_uppercase());
            out.insert(
                prefix.clone(),
                format!("{}://{ip}:{port}", pr.to_lowercase()),
            );
            out.insert(format!("{prefix}_PROTO"), pr.to_lowercase());
            out.insert(format!("{prefix}_PORT"), port.to_string());
            out.insert(format!("{prefix}_ADDR"), ip.to_string());
        }
    }
    out
}

/// The ConfigMaps and Secrets a container's environment reads: (configmaps, secrets).
pub fn referenced_objects(container: &Value) -> (Vec<String>, Vec<String>) {
    let mut cms = vec![];
    let mut secrets = vec![];
    for e in container["envFrom"].as_array().into_iter().flatten() {
        if let Some(n) = e["configMapRef"]["name"].as_str() {
            cms.push(n.to_string());
        }
        if let Some(n) = e["secretRef"]["name"].as_str() {
            secrets.push(n.to_string());
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        if let Some(n) = e["valueFrom"]["configMapKeyRef"]["name"].as_str() {
            cms.push(n.to_string());
        }
        if let Some(n) = e["valueFrom"]["secretKeyRef"]["name"].as_str() {
            secrets.push(n.to_string());
        }
    }
    cms.sort();
    cms.dedup();
    secrets.sort();
    secrets.dedup();
    (cms, secrets)
}

/// What the environment is made from.
#[derive(Debug, Clone)]
pub struct EnvInput<'a> {
    /// The pod.
    pub pod: &'a Value,
    /// The container spec.
    pub container: &'a Value,
    /// The pod IP (`""` before the sandbox has one).
    pub pod_ip: &'a str,
    /// The node IP.
    pub host_ip: &'a str,
    /// Services of the pod's namespace plus `default/kubernetes`.
    pub services: &'a [Value],
    /// ConfigMaps by name (`None`: does not exist).
    pub configmaps: &'a HashMap<String, Option<Value>>,
    /// Secrets by name.
    pub secrets: &'a HashMap<String, Option<Value>>,
    /// Node allocatable (for `resourceFieldRef` of unset limits).
    pub allocatable: &'a Value,
}

/// A field of the pod for `fieldRef` (pkg/api/v1/pod `ConvertDownwardAPIFieldLabel` +
/// kubelet `podFieldSelectorRuntimeValue`).
///
/// # Errors
/// `unsupported fieldPath: …`.
pub fn field_ref(pod: &Value, path: &str, pod_ip: &str, host_ip: &str) -> Result<String, String> {
    let m = &pod["metadata"];
    let sub = |prefix: &str| -> Option<String> {
        let rest = path.strip_prefix(prefix)?;
        let key = rest.strip_prefix("['")?.strip_suffix("']")?;
        Some(key.to_string())
    };
    if let Some(k) = sub("metadata.labels") {
        return Ok(m["labels"][&k].as_str().unwrap_or_default().to_string());
    }
    if let Some(k) = sub("metadata.annotations") {
        return Ok(m["annotations"][&k]
            .as_str()
            .unwrap_or_default()
            .to_string());
    }
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Ok(match path {
        "metadata.name" => s(&m["name"]),
        "metadata.namespace" => s(&m["namespace"]),
        "metadata.uid" => s(&m["uid"]),
        "metadata.labels" => fmt_map(&m["labels"]),
        "metadata.annotations" => fmt_map(&m["annotations"]),
        "spec.nodeName" => s(&pod["spec"]["nodeName"]),
        "spec.serviceAccountName" => s(&pod["spec"]["serviceAccountName"]),
        "status.hostIP" | "status.hostIPs" => host_ip.to_string(),
        "status.podIP" | "status.podIPs" => {
            if pod["spec"]["hostNetwork"] == true {
                host_ip.to_string()
            } else {
                pod_ip.to_string()
            }
        }
        other => return Err(format!("unsupported fieldPath: {other}")),
    })
}

/// `key="value"` lines, sorted (the downward API's format for label and annotation maps).
pub fn fmt_map(m: &Value) -> String {
    let mut lines: Vec<String> = m
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or_default()))
        .collect();
    lines.sort();
    lines.join("\n")
}

/// A Kubernetes quantity as a number (base units), for `resourceFieldRef`.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some(n * mult)
}

fn resource_field(input: &EnvInput<'_>, r: &Value) -> Result<String, String> {
    let res = r["resource"].as_str().unwrap_or_default();
    let (kind, name) = res
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {res:?}"))?;
    let c = match r["containerName"].as_str() {
        Some(n) if !n.is_empty() => input.pod["spec"]["containers"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == n))
            .unwrap_or(input.container),
        _ => input.container,
    };
    let set = |k: &str| c["resources"][k][name].as_str().and_then(parse_quantity);
    let value = match kind {
        "limits" => set("limits"),
        "requests" => set("requests").or_else(|| set("limits")),
        _ => return Err(format!("unsupported container resource : {res:?}")),
    }
    .or_else(|| {
        // Unset limits are the node's allocatable (kubelet `containerResourceRuntimeValue`).
        input.allocatable[name].as_str().and_then(parse_quantity)
    })
    .unwrap_or(0.0);
    let divisor = r["divisor"]
        .as_str()
        .and_then(parse_quantity)
        .filter(|d| *d > 0.0)
        .unwrap_or(1.0);
    Ok(((value / divisor).ceil() as i64).to_string())
}

fn decode_secret(v: &Value) -> String {
    v.as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The container's environment, in order.
///
/// # Errors
/// The `CreateContainerConfigError` message (`configmap "x" not found`, …).
pub fn make_env(input: &EnvInput<'_>) -> Result<Vec<(String, String)>, String> {
    let ns = input.pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let links = input.pod["spec"]["enableServiceLinks"]
        .as_bool()
        .unwrap_or(true);
    let services: Vec<Value> = input
        .services
        .iter()
        .filter(|s| {
            let sns = s["metadata"]["namespace"].as_str().unwrap_or_default();
            let master = sns == "default" && s["metadata"]["name"] == "kubernetes";
            master || (links && sns == ns)
        })
        .cloned()
        .collect();
    let service_vars = service_env(&services);
    let mut vars: HashMap<String, String> = service_vars.clone().into_iter().collect();
    let mut out: Vec<(String, String)> = vec![];
    let set = |k: String,
               v: String,
               vars: &mut HashMap<String, String>,
               out: &mut Vec<(String, String)>| {
        vars.insert(k.clone(), v.clone());
        if let Some(e) = out.iter_mut().find(|(n, _)| *n == k) {
            e.1 = v;
        } else {
            out.push((k, v));
        }
    };
    for e in input.container["envFrom"].as_array().into_iter().flatten() {
        let prefix = e["prefix"].as_str().unwrap_or_default();
        let optional_cm = e["configMapRef"]["optional"] == true;
        let optional_secret = e["secretRef"]["optional"] == true;
        if let Some(n) = e["configMapRef"]["name"].as_str() {
            match input.configmaps.get(n).cloned().flatten() {
                Some(cm) => {
                    for (k, v) in cm["data"].as_object().into_iter().flatten() {
                        set(
                            format!("{prefix}{k}"),
                            v.as_str().unwrap_or_default().into(),
                            &mut vars,
                            &mut out,
                        );
                    }
                }
                None if optional_cm => {}
                None => return Err(format!("configmap {n:?} not found")),
            }
        }
        if let Some(n) = e["secretRef"]["name"].as_str() {
            match input.secrets.get(n).cloned().flatten() {
                Some(s) => {
                    for (k, v) in s["data"].as_object().into_iter().flatten() {
                        set(
                            format!("{prefix}{k}"),
                            decode_secret(v),
                            &mut vars,
                            &mut out,
                        );
                    }
                }
                None if optional_secret => {}
                None => return Err(format!("secret {n:?} not found")),
            }
        }
    }
    for e in input.container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default().to_string();
        let from = &e["valueFrom"];
        let value = if let Some(v) = e["value"].as_str() {
            expand(v, &vars)
        } else if from["fieldRef"].is_object() {
            field_ref(
                input.pod,
                from["fieldRef"]["fieldPath"].as_str().unwrap_or_default(),
                input.pod_ip,
                input.host_ip,
            )?
        } else if from["resourceFieldRef"].is_object() {
            resource_field(input, &from["resourceFieldRef"])?
        } else if from["configMapKeyRef"].is_object() {
            let r = &from["configMapKeyRef"];
            let n = r["name"].as_str().unwrap_or_default();
            let k = r["key"].as_str().unwrap_or_default();
            let optional = r["optional"] == true;
            match input.configmaps.get(n).cloned().flatten() {
                Some(cm) => match cm["data"][k].as_str() {
                    Some(v) => v.to_string(),
                    None if optional => continue,
                    None => return Err(format!("couldn't find key {k} in ConfigMap {ns}/{n}")),
                },
                None if optional => continue,
                None => return Err(format!("configmap {n:?} not found")),
            }
        } else if from["secretKeyRef"].is_object() {
            let r = &from["secretKeyRef"];
            let n = r["name"].as_str().unwrap_or_default();
            let k = r["key"].as_str().unwrap_or_default();
            let optional = r["optional"] == true;
            match input.secrets.get(n).cloned().flatten() {
                Some(s) => match s["data"].get(k) {
                    Some(v) => decode_secret(v),
                    None if optional => continue,
                    None => return Err(format!("couldn't find key {k} in Secret {ns}/{n}")),
                },
                None if optional => continue,
                None => return Err(format!("secret {n:?} not found")),
            }
        } else {
            String::new()
        };
        set(name, value, &mut vars, &mut out);
    }
    for (k, v) in service_vars {
        if !out.iter().any(|(n, _)| *n == k) {
            out.push((k, v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expansion_rules() {
        let mut v = HashMap::new();
        v.insert("A".to_string(), "x".to_string());
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &v), "x-$(B)-$(A)-$");
        assert_eq!(expand("no refs", &v), "no refs");
    }

    #[test]
    fn environment_of_a_pod() {
        let pod = json!({"metadata": {"name": "hello-1", "namespace": "default", "uid": "u1", "labels": {"app": "hello"}},
            "spec": {"nodeName": "minikube-m02", "serviceAccountName": "default"}});
        let container = json!({"name": "app", "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "GREETING", "value": "hi $(POD_NAME) via $(KUBERNETES_SERVICE_HOST)"},
            {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
            {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}},
        ]});
        let services = vec![
            json!({"metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}),
            json!({"metadata": {"name": "hello-svc", "namespace": "default"}, "spec": {"clusterIP": "10.96.12.7", "ports": [{"port": 80, "protocol": "TCP"}]}}),
            json!({"metadata": {"name": "other", "namespace": "kube-system"}, "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 53, "protocol": "UDP"}]}}),
        ];
        let mut cms = HashMap::new();
        cms.insert("cfg".to_string(), Some(json!({"data": {"color": "blue"}})));
        let mut secrets = HashMap::new();
        secrets.insert("s".to_string(), Some(json!({"data": {"p": "c2VjcmV0"}})));
        let env = make_env(&EnvInput {
            pod: &pod,
            container: &container,
            pod_ip: "10.244.1.2",
            host_ip: "127.100.49.3",
            services: &services,
            configmaps: &cms,
            secrets: &secrets,
            allocatable: &json!({}),
        })
        .unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("POD_NAME"), Some("hello-1"));
        assert_eq!(get("NS"), Some("default"));
        assert_eq!(get("NODE"), Some("minikube-m02"));
        assert_eq!(get("IP"), Some("10.244.1.2"));
        assert_eq!(get("HOST"), Some("127.100.49.3"));
        assert_eq!(get("APP"), Some("hello"));
        assert_eq!(get("GREETING"), Some("hi hello-1 via 10.96.0.1"));
        assert_eq!(get("COLOR"), Some("blue"));
        assert_eq!(get("PASS"), Some("secret"));
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT"), Some("443"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(get("KUBERNETES_PORT"), Some("tcp://10.96.0.1:443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP_ADDR"), Some("10.96.0.1"));
        assert_eq!(get("HELLO_SVC_SERVICE_HOST"), Some("10.96.12.7"));
        assert_eq!(
            get("OTHER_SERVICE_HOST"),
            None,
            "other namespaces are not linked"
        );
        // Declared variables come first, in order.
        assert_eq!(env[0].0, "POD_NAME");
        assert_eq!(env[8].0, "PASS");

        let missing = make_env(&EnvInput {
            pod: &pod,
            container: &container,
            pod_ip: "",
            host_ip: "",
            services: &[],
            configmaps: &HashMap::new(),
            secrets: &secrets,
            allocatable: &json!({}),
        });
        assert_eq!(missing.unwrap_err(), "configmap \"cfg\" not found");
        assert_eq!(
            referenced_objects(&container),
            (vec!["cfg".to_string()], vec!["s".to_string()])
        );
    }

    #[test]
    fn resource_fields() {
        let pod = json!({"metadata": {}, "spec": {}});
        let c = json!({"name": "a", "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "250m"}}, "env": [
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu"}}},
            {"name": "CPUL", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ]});
        let env = make_env(&EnvInput {
            pod: &pod,
            container: &c,
            pod_ip: "",
            host_ip: "",
            services: &[],
            configmaps: &HashMap::new(),
            secrets: &HashMap::new(),
            allocatable: &json!({"cpu": "2"}),
        })
        .unwrap();
        assert_eq!(env[0], ("MEM".to_string(), "128".to_string()));
        assert_eq!(env[1], ("CPU".to_string(), "1".to_string()));
        assert_eq!(env[2], ("CPUL".to_string(), "2".to_string()));
    }
}
