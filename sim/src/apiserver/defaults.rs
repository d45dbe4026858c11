//! Defaulting, validation and the admission rules kubectl's output depends on.
//!
//! Defaults follow pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go,
//! pkg/apis/scheduling/v1/defaults.go; plus what Go's JSON encoding makes visible on a real cluster
//! (non-pointer structs such as `resources: {}` and `securityContext: {}` always appear).
//! Admission: ServiceAccount (plugin/pkg/admission/serviceaccount), DefaultTolerationSeconds
//! (plugin/pkg/admission/defaulttolerationseconds), Priority (plugin/pkg/admission/priority).
//! Validation covers required fields and names (pkg/apis/*/validation) with the real messages.

use serde_json::{Map, Value, json};

use super::resources::ResourceDef;
use super::status::FieldError;

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("just made an object")
}

fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

/// `imagePullPolicy` default: `Always` for `:latest` or no tag, else `IfNotPresent`
/// (core/v1 defaults.go `SetDefaults_Container`).
pub fn image_pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    match last.split_once(':') {
        _ if image.contains('@') => "IfNotPresent",
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_probe(p: &mut Value) {
    if let Some(m) = p.as_object_mut() {
        set_default(m, "timeoutSeconds", json!(1));
        set_default(m, "periodSeconds", json!(10));
        set_default(m, "successThreshold", json!(1));
        set_default(m, "failureThreshold", json!(3));
        if let Some(h) = m.get_mut("httpGet").and_then(Value::as_object_mut) {
            set_default(h, "path", json!("/"));
            set_default(h, "scheme", json!("HTTP"));
        }
    }
}

fn default_container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(m, "terminationMessagePolicy", json!("File"));
    let image = m
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    set_default(m, "imagePullPolicy", json!(image_pull_policy(&image)));
    set_default(m, "resources", json!({}));
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            if let Some(pm) = p.as_object_mut() {
                set_default(pm, "protocol", json!("TCP"));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(probe) {
            default_probe(p);
        }
    }
    if let Some(env) = m.get_mut("env").and_then(Value::as_array_mut) {
        for e in env {
            if let Some(fr) = e
                .pointer_mut("/valueFrom/fieldRef")
                .and_then(Value::as_object_mut)
            {
                set_default(fr, "apiVersion", json!("v1"));
            }
        }
    }
}

/// Pod spec defaults (also used for templates).
pub fn default_pod_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    set_default(m, "restartPolicy", json!("Always"));
    set_default(m, "terminationGracePeriodSeconds", json!(30));
    set_default(m, "dnsPolicy", json!("ClusterFirst"));
    set_default(m, "securityContext", json!({}));
    set_default(m, "schedulerName", json!("default-scheduler"));
    set_default(m, "enableServiceLinks", json!(true));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(default_container);
        }
    }
    if let Some(vols) = m.get_mut("volumes").and_then(Value::as_array_mut) {
        for v in vols {
            for src in ["configMap", "secret", "projected", "downwardAPI"] {
                if let Some(s) = v.get_mut(src).and_then(Value::as_object_mut) {
                    set_default(s, "defaultMode", json!(420));
                }
            }
            if let Some(hp) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
                set_default(hp, "type", json!(""));
            }
        }
    }
}

fn default_template(spec: &mut Value) {
    if let Some(ps) = spec.get_mut("template").and_then(|t| t.get_mut("spec")) {
        default_pod_spec(ps);
    }
}

/// Applies the defaults of `res` to a new or updated object.
pub fn apply_defaults(res: &ResourceDef, obj: &mut Value) {
    match res.kind {
        "Pod" => {
            if let Some(spec) = obj.get_mut("spec") {
                default_pod_spec(spec);
            }
        }
        "Deployment" => {
            let spec = obj_mut(obj, "spec");
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
            if let Some(s) = strategy.as_object_mut() {
                set_default(s, "type", json!("RollingUpdate"));
                if s.get("type") == Some(&json!("RollingUpdate")) {
                    let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(r) = ru.as_object_mut() {
                        set_default(r, "maxUnavailable", json!("25%"));
                        set_default(r, "maxSurge", json!("25%"));
                    }
                }
            }
            default_template(&mut obj["spec"]);
        }
        "ReplicaSet" => {
            set_default(obj_mut(obj, "spec"), "replicas", json!(1));
            default_template(&mut obj["spec"]);
        }
        "DaemonSet" => {
            let spec = obj_mut(obj, "spec");
            set_default(spec, "revisionHistoryLimit", json!(10));
            let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
            if let Some(s) = us.as_object_mut() {
                set_default(s, "type", json!("RollingUpdate"));
                if s.get("type") == Some(&json!("RollingUpdate")) {
                    let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
                    if let Some(r) = ru.as_object_mut() {
                        set_default(r, "maxUnavailable", json!(1));
                        set_default(r, "maxSurge", json!(0));
                    }
                }
            }
            default_template(&mut obj["spec"]);
        }
        "Service" => {
            let spec = obj_mut(obj, "spec");
            set_default(spec, "type", json!("ClusterIP"));
            let typ = spec["type"].as_str().unwrap_or_default().to_string();
            if typ != "ExternalName" {
                set_default(spec, "sessionAffinity", json!("None"));
                set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            }
            if typ == "NodePort" || typ == "LoadBalancer" {
                set_default(spec, "externalTrafficPolicy", json!("Cluster"));
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if let Some(pm) = p.as_object_mut() {
                        set_default(pm, "protocol", json!("TCP"));
                        let port = pm.get("port").cloned().unwrap_or(Value::Null);
                        set_default(pm, "targetPort", port);
                    }
                }
            }
            if obj.get("status").is_none() {
                obj["status"] = json!({"loadBalancer": {}});
            }
        }
        "Namespace" => {
            let name = obj["metadata"]["name"].clone();
            // NamespaceDefaultLabelName (KEP-2161): every namespace carries its name as a label.
            obj_mut(obj_mut_meta(obj), "labels").insert("kubernetes.io/metadata.name".into(), name);
            let spec = obj_mut(obj, "spec");
            set_default(spec, "finalizers", json!(["kubernetes"]));
            let status = obj_mut(obj, "status");
            set_default(status, "phase", json!("Active"));
        }
        "Secret" => {
            if let Some(m) = obj.as_object_mut() {
                set_default(m, "type", json!("Opaque"));
                // stringData is write-only: merged into data, base64-encoded
                // (pkg/apis/core/v1/conversion.go Convert_v1_Secret_To_core_Secret).
                if let Some(Value::Object(sd)) = m.remove("stringData") {
                    use base64::Engine;
                    let data = m.entry("data").or_insert_with(|| json!({}));
                    if let Some(d) = data.as_object_mut() {
                        for (k, v) in sd {
                            let text = v.as_str().unwrap_or_default();
                            d.insert(
                                k,
                                json!(base64::engine::general_purpose::STANDARD.encode(text)),
                            );
                        }
                    }
                }
            }
        }
        "PriorityClass" => {
            if let Some(m) = obj.as_object_mut() {
                set_default(m, "preemptionPolicy", json!("PreemptLowerPriority"));
            }
        }
        "Endpoints" => {
            if let Some(subsets) = obj.get_mut("subsets").and_then(Value::as_array_mut) {
                for ss in subsets {
                    if let Some(ports) = ss.get_mut("ports").and_then(Value::as_array_mut) {
                        for p in ports {
                            if let Some(pm) = p.as_object_mut() {
                                set_default(pm, "protocol", json!("TCP"));
                            }
                        }
                    }
                }
            }
        }
        "EndpointSlice" => {
            if let Some(ports) = obj.get_mut("ports").and_then(Value::as_array_mut) {
                for p in ports {
                    if let Some(pm) = p.as_object_mut() {
                        set_default(pm, "protocol", json!("TCP"));
                    }
                }
            }
        }
        _ => {}
    }
}

fn obj_mut_meta(obj: &mut Value) -> &mut Value {
    obj_mut(obj, "metadata");
    &mut obj["metadata"]
}

/// DefaultTolerationSeconds: adds `node.kubernetes.io/not-ready` and `…/unreachable` NoExecute
/// tolerations for `seconds` unless the pod already tolerates them.
pub fn add_default_tolerations(pod: &mut Value, not_ready: i64, unreachable: i64) {
    let spec = obj_mut(pod, "spec");
    let tol = spec.entry("tolerations").or_insert_with(|| json!([]));
    let Some(list) = tol.as_array_mut() else {
        return;
    };
    let tolerates = |list: &Vec<Value>, key: &str| {
        list.iter().any(|t| {
            let effect_ok = t["effect"]
                .as_str()
                .is_none_or(|e| e.is_empty() || e == "NoExecute");
            let key_ok = t["key"] == key
                || (t["key"].as_str().is_none_or(str::is_empty) && t["operator"] == "Exists");
            effect_ok && key_ok
        })
    };
    for (key, secs) in [
        ("node.kubernetes.io/not-ready", not_ready),
        ("node.kubernetes.io/unreachable", unreachable),
    ] {
        if !tolerates(list, key) {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs}));
        }
    }
}

/// The mount path of the service-account token volume.
pub const SA_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// ServiceAccount admission's projected token volume and mounts (`kube-api-access-<5 chars>`), unless
/// automounting is off or a container already mounts the path.
pub fn add_service_account_volume(pod: &mut Value, automount: bool) {
    let spec = obj_mut(pod, "spec");
    set_default(spec, "serviceAccountName", json!("default"));
    let sa = spec["serviceAccountName"].clone();
    spec.insert("serviceAccount".into(), sa);
    if spec.get("automountServiceAccountToken") == Some(&json!(false)) || !automount {
        return;
    }
    let already = ["containers", "initContainers"].iter().any(|l| {
        spec.get(*l).and_then(Value::as_array).is_some_and(|cs| {
            cs.iter().any(|c| {
                c["volumeMounts"]
                    .as_array()
                    .is_some_and(|ms| ms.iter().any(|m| m["mountPath"] == SA_MOUNT_PATH))
            })
        })
    });
    if already {
        return;
    }
    let name = format!("kube-api-access-{}", super::meta::random_suffix(5));
    let volume = json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}
    ]}});
    if let Some(v) = spec
        .entry("volumes")
        .or_insert_with(|| json!([]))
        .as_array_mut()
    {
        v.push(volume);
    }
    for l in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(l).and_then(Value::as_array_mut) {
            for c in cs {
                let mounts = obj_mut_list(c, "volumeMounts");
                mounts.push(json!({"name": name, "readOnly": true, "mountPath": SA_MOUNT_PATH}));
            }
        }
    }
}

fn obj_mut_list<'a>(v: &'a mut Value, key: &str) -> &'a mut Vec<Value> {
    if !v.get(key).is_some_and(Value::is_array) {
        v[key] = json!([]);
    }
    v[key].as_array_mut().expect("just made a list")
}

/// The QoS class of a pod (pkg/apis/core/v1/helper/qos `GetPodQOS`): Guaranteed when every
/// container has equal cpu and memory requests and limits, BestEffort with none, else Burstable.
pub fn qos_class(pod: &Value) -> &'static str {
    let cs: Vec<Value> = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| pod["spec"][*l].as_array().cloned().unwrap_or_default())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &cs {
        let req = &c["resources"]["requests"];
        let lim = &c["resources"]["limits"];
        for r in ["cpu", "memory"] {
            if !req[r].is_null() || !lim[r].is_null() {
                any = true;
            }
            let l = &lim[r];
            let q = if req[r].is_null() { l } else { &req[r] };
            if l.is_null() || q != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

const DNS1123_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const DNS1123_LABEL: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
const DNS1035_LABEL: &str = r"^[a-z]([-a-z0-9]*[a-z0-9])?$";

fn name_errors(res: &ResourceDef, name: &str) -> Option<String> {
    let re = |r: &str| regex::Regex::new(r).expect("valid regex").is_match(name);
    match res.kind {
        "Namespace" => (!re(DNS1123_LABEL) || name.len() > 63).then(|| {
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".to_string()
        }),
        "Service" => (!re(DNS1035_LABEL) || name.len() > 63).then(|| {
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string()
        }),
        // RBAC objects and a few others accept path segment names; keep them permissive.
        "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" | "CertificateSigningRequest" => {
            (name == "." || name == ".." || name.contains('/') || name.contains('%')).then(|| {
                "may not contain '/' or '%' and may not be '.' or '..'".to_string()
            })
        }
        _ => (!re(DNS1123_SUBDOMAIN) || name.len() > 253).then(|| {
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string()
        }),
    }
}

fn go_map(m: &Value) -> String {
    let mut kv: Vec<String> = m
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    kv.sort();
    format!("map[string]string{{{}}}", kv.join(", "))
}

fn validate_containers(spec: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let label = regex::Regex::new(DNS1123_LABEL).expect("regex");
    match spec["containers"].as_array() {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                let p = format!("{path}.containers[{i}]");
                match c["name"].as_str() {
                    None | Some("") => errs.push(FieldError::required(format!("{p}.name"), "")),
                    Some(n) if !label.is_match(n) => {
                        errs.push(FieldError::invalid(format!("{p}.name"), &json!(n), "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"))
                    }
                    _ => {}
                }
                if c["image"].as_str().is_none_or(|s| s.trim().is_empty()) {
                    errs.push(FieldError::required(format!("{p}.image"), ""));
                }
                if let Some(ports) = c["ports"].as_array() {
                    for (j, port) in ports.iter().enumerate() {
                        let n = port["containerPort"].as_i64().unwrap_or(0);
                        if !(1..=65535).contains(&n) {
                            errs.push(FieldError::invalid(
                                format!("{p}.ports[{j}].containerPort"),
                                &port["containerPort"],
                                "must be between 1 and 65535, inclusive",
                            ));
                        }
                    }
                }
            }
        }
        _ => errs.push(FieldError::required(format!("{path}.containers"), "")),
    }
    if let Some(rp) = spec["restartPolicy"].as_str()
        && !["Always", "OnFailure", "Never"].contains(&rp)
    {
        errs.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            rp,
            &["Always", "OnFailure", "Never"],
        ));
    }
}

fn validate_workload(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = &obj["spec"];
    if let Some(r) = spec["replicas"].as_i64()
        && r < 0
    {
        errs.push(FieldError::invalid(
            "spec.replicas",
            &json!(r),
            "must be greater than or equal to 0",
        ));
    }
    let sel = &spec["selector"];
    let has_selector = sel.is_object()
        && (sel["matchLabels"]
            .as_object()
            .is_some_and(|m| !m.is_empty())
            || sel["matchExpressions"]
                .as_array()
                .is_some_and(|a| !a.is_empty()));
    if !has_selector {
        errs.push(FieldError::required("spec.selector", ""));
        if sel.is_object() {
            errs.push(FieldError::invalid(
                "spec.selector",
                &json!(sel.to_string()),
                "empty selector is invalid for deployment",
            ));
        }
    } else {
        let labels = &spec["template"]["metadata"]["labels"];
        if !super::selectors::LabelSelector::from_object(sel).matches(labels) {
            let shown = go_map(labels);
            errs.push(FieldError {
                reason: "FieldValueInvalid",
                field: "spec.template.metadata.labels".into(),
                message: format!(
                    "Invalid value: {shown}: `selector` does not match template `labels`"
                ),
            });
        }
    }
    validate_containers(&spec["template"]["spec"], "spec.template.spec", errs);
}

/// Validates an object about to be stored. `old` is the stored object on updates.
pub fn validate(res: &ResourceDef, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = vec![];
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else if let Some(msg) = name_errors(res, name) {
        errs.push(FieldError::invalid("metadata.name", &json!(name), &msg));
    }
    match res.kind {
        "Pod" => {
            validate_containers(&obj["spec"], "spec", &mut errs);
            if let Some(old) = old {
                // Pod updates may change only a few spec fields (core validation
                // ValidatePodUpdate): images, activeDeadlineSeconds, tolerations (additions),
                // terminationGracePeriodSeconds; labels/annotations/status are separate.
                let mut a = old["spec"].clone();
                let mut b = obj["spec"].clone();
                for spec in [&mut a, &mut b] {
                    for l in ["containers", "initContainers"] {
                        if let Some(cs) = spec.get_mut(l).and_then(Value::as_array_mut) {
                            for c in cs {
                                if let Some(m) = c.as_object_mut() {
                                    m.remove("image");
                                }
                            }
                        }
                    }
                    if let Some(m) = spec.as_object_mut() {
                        m.remove("activeDeadlineSeconds");
                        m.remove("tolerations");
                        m.remove("terminationGracePeriodSeconds");
                    }
                }
                // Binding sets nodeName once.
                if old["spec"]["nodeName"].is_null()
                    && let Some(m) = b.as_object_mut()
                {
                    m.remove("nodeName");
                }
                if a != b {
                    errs.push(FieldError::forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"));
                }
            }
        }
        "Deployment" | "ReplicaSet" | "DaemonSet" => {
            validate_workload(obj, &mut errs);
            if let Some(old) = old
                && old["spec"]["selector"] != obj["spec"]["selector"]
            {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    &json!(go_map(&obj["spec"]["selector"]["matchLabels"])),
                    "field is immutable",
                ));
            }
        }
        "Service" => {
            let spec = &obj["spec"];
            let typ = spec["type"].as_str().unwrap_or("ClusterIP");
            if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&typ) {
                errs.push(FieldError::not_supported(
                    "spec.type",
                    typ,
                    &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
                ));
            }
            let headless = spec["clusterIP"] == "None";
            let ports = spec["ports"].as_array().cloned().unwrap_or_default();
            if ports.is_empty() && !headless && typ != "ExternalName" {
                errs.push(FieldError::required("spec.ports", ""));
            }
            for (i, p) in ports.iter().enumerate() {
                let n = p["port"].as_i64().unwrap_or(0);
                if !(1..=65535).contains(&n) {
                    errs.push(FieldError::invalid(
                        format!("spec.ports[{i}].port"),
                        &p["port"],
                        "must be between 1 and 65535, inclusive",
                    ));
                }
                if ports.len() > 1 && p["name"].as_str().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!("spec.ports[{i}].name"), ""));
                }
            }
            if let Some(old) = old {
                let (a, b) = (&old["spec"]["clusterIP"], &spec["clusterIP"]);
                if !a.is_null() && a != b {
                    errs.push(FieldError::invalid(
                        "spec.clusterIPs[0]",
                        b,
                        "may not change once set",
                    ));
                }
            }
        }
        "Ingress" => {
            for (i, r) in obj["spec"]["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                for (j, p) in r["http"]["paths"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                {
                    let field = format!("spec.rules[{i}].http.paths[{j}].pathType");
                    match p["pathType"].as_str() {
                        None => {
                            errs.push(FieldError::required(field, "pathType must be specified"))
                        }
                        Some(t) if !["Exact", "Prefix", "ImplementationSpecific"].contains(&t) => {
                            errs.push(FieldError::not_supported(
                                field,
                                t,
                                &["Exact", "ImplementationSpecific", "Prefix"],
                            ))
                        }
                        _ => {}
                    }
                }
            }
        }
        "CertificateSigningRequest" => {
            // pkg/apis/certificates/validation: a PEM CERTIFICATE REQUEST and a signer name.
            use base64::Engine;
            let pem = obj["spec"]["request"]
                .as_str()
                .and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok())
                .and_then(|b| String::from_utf8(b).ok());
            match pem {
                None => errs.push(FieldError::required("spec.request", "")),
                Some(p) if crate::pki::pem_der(&p, "CERTIFICATE REQUEST").is_err() => {
                    errs.push(FieldError::invalid(
                        "spec.request",
                        &json!("[]byte{...}"),
                        "PEM block type must be CERTIFICATE REQUEST",
                    ));
                }
                Some(_) => {}
            }
            if obj["spec"]["signerName"].as_str().is_none_or(str::is_empty) {
                errs.push(FieldError::required("spec.signerName", ""));
            }
        }
        "Lease" | "ConfigMap" | "Secret" | "Namespace" | "Node" => {}
        _ => {}
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::find;

    #[test]
    fn pod_defaults_and_admission() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "nginx", "ports": [{"containerPort": 80}]}, {"name": "b", "image": "podinfo:6.3.5"}]}});
        apply_defaults(find("", "v1", "pods").unwrap(), &mut pod);
        add_default_tolerations(&mut pod, 300, 300);
        add_service_account_volume(&mut pod, true);
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(spec["containers"][1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(spec["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(spec["tolerations"][1]["tolerationSeconds"], 300);
        let vol = spec["volumes"][0]["name"].as_str().unwrap();
        assert!(vol.starts_with("kube-api-access-") && vol.len() == 21);
        assert_eq!(
            spec["containers"][1]["volumeMounts"][0]["mountPath"],
            SA_MOUNT_PATH
        );
        assert_eq!(qos_class(&pod), "BestEffort");
        // a pod tolerating everything gets no extra toleration
        let mut p2 = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        add_default_tolerations(&mut p2, 10, 20);
        assert_eq!(p2["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn validation_messages() {
        let deploy = find("apps", "v1", "deployments").unwrap();
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "other"}}, "spec": {}}}});
        let errs = validate(deploy, &d, None);
        let text: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        assert_eq!(
            text,
            [
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`",
                "spec.template.spec.containers: Required value",
            ]
        );
        let pods = find("", "v1", "pods").unwrap();
        let errs = validate(
            pods,
            &json!({"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "a"}]}}),
            None,
        );
        assert_eq!(errs[0].field, "metadata.name");
        assert!(
            errs[0]
                .message
                .starts_with("Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain")
        );
        assert_eq!(errs[1].field, "spec.containers[0].image");
        assert_eq!(
            image_pull_policy("registry.k8s.io/pause:3.10"),
            "IfNotPresent"
        );
        assert_eq!(image_pull_policy("localhost:5000/app"), "Always");
    }
}
