//! Patches: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.
//!
//! Strategic merge patch follows apimachinery/pkg/util/strategicpatch/patch.go and the patch strategies
//! declared on the built-in types (`patchStrategy:"merge" patchMergeKey:"…"` tags in k8s.io/api):
//! lists merge by key (containers, env, volumes by `name`; container ports by `containerPort`;
//! service ports by `port`; volumeMounts by `mountPath`; status conditions by `type`; …), primitive
//! lists with the merge strategy are sets (finalizers), other lists are replaced. Directives:
//! `$patch: replace|delete|merge`, `$setElementOrder/<list>`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<list>`; `null` deletes a field.

use serde_json::{Map, Value};

/// How a list field is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// Elements are objects merged by this key.
    MergeByKey(&'static str),
    /// A set of primitives (union).
    MergePrimitive,
    /// The whole list is replaced (atomic).
    Replace,
}

fn in_containers(path: &[String]) -> bool {
    path.iter().any(|p| {
        matches!(
            p.as_str(),
            "containers" | "initContainers" | "ephemeralContainers"
        )
    })
}

/// The strategy of the list at `path` (field names from the object root) in an object of `kind`.
pub fn list_strategy(kind: &str, path: &[String]) -> ListStrategy {
    use ListStrategy::*;
    let Some(last) = path.last() else {
        return Replace;
    };
    let is = |p: &[&str]| path.len() == p.len() && path.iter().zip(p).all(|(a, b)| a == b);
    match last.as_str() {
        // core/v1 PodSpec
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => MergeByKey("name"),
        // core/v1 Container
        "env" if in_containers(path) => MergeByKey("name"),
        "ports" if in_containers(path) => MergeByKey("containerPort"),
        "volumeMounts" if in_containers(path) => MergeByKey("mountPath"),
        "volumeDevices" if in_containers(path) => MergeByKey("devicePath"),
        "ports" if kind == "Service" && is(&["spec", "ports"]) => MergeByKey("port"),
        "hostAliases" => MergeByKey("ip"),
        "topologySpreadConstraints" => MergeByKey("topologyKey"),
        "conditions" if path.first().is_some_and(|p| p == "status") => MergeByKey("type"),
        "addresses" if kind == "Node" && is(&["status", "addresses"]) => MergeByKey("type"),
        "podIPs" | "hostIPs" if path.first().is_some_and(|p| p == "status") => MergeByKey("ip"),
        "ownerReferences" if is(&["metadata", "ownerReferences"]) => MergeByKey("uid"),
        "finalizers" if is(&["metadata", "finalizers"]) => MergePrimitive,
        "podCIDRs" if kind == "Node" => MergePrimitive,
        _ => Replace,
    }
}

/// A patch that cannot be applied (400 BadRequest in the API).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// Removes every `$`-directive from a value that is inserted as it is.
pub fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch to `orig` (an object of `kind`).
///
/// # Errors
/// [`PatchError`] when the patch is not an object or uses a directive wrongly.
pub fn strategic_merge(kind: &str, orig: &mut Value, patch: &Value) -> Result<(), PatchError> {
    if !patch.is_object() {
        return Err(PatchError(
            "strategic merge patch must be a JSON object".into(),
        ));
    }
    let mut path = vec![];
    merge_map(kind, orig, patch, &mut path)
}

fn merge_map(
    kind: &str,
    orig: &mut Value,
    patch: &Value,
    path: &mut Vec<String>,
) -> Result<(), PatchError> {
    let pm = patch.as_object().expect("caller checked");
    match pm.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            *orig = strip_directives(patch);
            return Ok(());
        }
        Some("delete") => {
            *orig = Value::Null;
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(PatchError(format!("unknown patch type: {other:?}"))),
    }
    if !orig.is_object() {
        *orig = Value::Object(Map::new());
    }
    let mut orders: Vec<(String, Vec<Value>)> = vec![];
    for (k, v) in pm {
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            orders.push((field.to_string(), v.as_array().cloned().unwrap_or_default()));
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = v.as_array().cloned().unwrap_or_default();
            if let Some(list) = orig.get_mut(field).and_then(Value::as_array_mut) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        let om = orig.as_object_mut().expect("made an object above");
        if v.is_null() {
            om.remove(k);
            continue;
        }
        path.push(k.clone());
        match (om.get_mut(k), v) {
            (Some(o @ Value::Object(_)), Value::Object(_)) => {
                merge_map(kind, o, v, path)?;
                if o.is_null() {
                    om.remove(k);
                }
            }
            (Some(Value::Array(o)), Value::Array(p)) => {
                let merged = merge_list(kind, o, p, path)?;
                om.insert(k.clone(), Value::Array(merged));
            }
            (_, Value::Object(pv))
                if pv.get("$patch").and_then(Value::as_str) == Some("delete") =>
            {
                om.remove(k);
            }
            (_, Value::Array(p)) => {
                // New list: drop delete directives, keep the rest.
                let items: Vec<Value> = p
                    .iter()
                    .filter(|e| e.get("$patch").is_none())
                    .map(strip_directives)
                    .collect();
                om.insert(k.clone(), Value::Array(items));
            }
            _ => {
                om.insert(k.clone(), strip_directives(v));
            }
        }
        path.pop();
    }
    for (field, order) in orders {
        path.push(field.clone());
        let strategy = list_strategy(kind, path);
        path.pop();
        if let Some(list) = orig.get_mut(&field).and_then(Value::as_array_mut) {
            reorder(list, &order, strategy);
        }
    }
    if let Some(keep) = pm.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        if let Some(om) = orig.as_object_mut() {
            om.retain(|k, _| keep.contains(&k.as_str()));
        }
    }
    Ok(())
}

fn reorder(list: &mut Vec<Value>, order: &[Value], strategy: ListStrategy) {
    let position = |item: &Value| -> Option<usize> {
        order.iter().position(|o| match strategy {
            ListStrategy::MergeByKey(key) => o.get(key).is_some() && o.get(key) == item.get(key),
            _ => o == item,
        })
    };
    let mut ordered: Vec<(usize, Value)> = vec![];
    let mut rest = vec![];
    for item in list.drain(..) {
        match position(&item) {
            Some(p) => ordered.push((p, item)),
            None => rest.push(item),
        }
    }
    ordered.sort_by_key(|(p, _)| *p);
    list.extend(ordered.into_iter().map(|(_, v)| v));
    list.extend(rest);
}

fn merge_list(
    kind: &str,
    orig: &[Value],
    patch: &[Value],
    path: &mut Vec<String>,
) -> Result<Vec<Value>, PatchError> {
    match list_strategy(kind, path) {
        ListStrategy::Replace => Ok(patch.iter().map(strip_directives).collect()),
        ListStrategy::MergePrimitive => {
            let mut out = orig.to_vec();
            for p in patch {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            Ok(out)
        }
        ListStrategy::MergeByKey(key) => {
            if patch
                .iter()
                .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
            {
                return Ok(patch
                    .iter()
                    .filter(|p| p.get("$patch").is_none())
                    .map(strip_directives)
                    .collect());
            }
            let mut out = orig.to_vec();
            for p in patch {
                let Some(kv) = p.get(key) else {
                    return Err(PatchError(format!(
                        "map: {p} does not contain declared merge key: {key}"
                    )));
                };
                let idx = out.iter().position(|o| o.get(key) == Some(kv));
                if p.get("$patch").and_then(Value::as_str) == Some("delete") {
                    if let Some(i) = idx {
                        out.remove(i);
                    }
                    continue;
                }
                match idx {
                    Some(i) => merge_map(kind, &mut out[i], p, path)?,
                    None => out.push(strip_directives(p)),
                }
            }
            Ok(out)
        }
    }
}

/// Applies an RFC 7386 merge patch.
///
/// # Errors
/// [`PatchError`] when the patch is not an object.
pub fn merge_patch(orig: &mut Value, patch: &Value) -> Result<(), PatchError> {
    if !patch.is_object() {
        return Err(PatchError("merge patch must be a JSON object".into()));
    }
    json_patch::merge(orig, patch);
    Ok(())
}

/// Applies an RFC 6902 JSON patch.
///
/// # Errors
/// [`PatchError`] when the document is not a patch or an operation fails.
pub fn json_patch(orig: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| PatchError(format!("invalid JSON patch: {e}")))?;
    json_patch::patch(orig, &ops).map_err(|e| {
        PatchError(format!(
            "the server rejected our request due to an error in our request: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubectl_apply_patch_merges_containers_by_name() {
        let mut d = json!({"metadata": {"name": "web", "annotations": {"a": "1"}}, "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}], "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "busybox"}
        ]}}}});
        let patch = json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
            "spec": {"replicas": 3, "template": {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "nginx"}],
            "containers": [{"image": "nginx:1.27", "name": "nginx", "env": [{"name": "B", "value": "2"}]}]}}}});
        strategic_merge("Deployment", &mut d, &patch).unwrap();
        assert_eq!(d["spec"]["replicas"], 3);
        let cs = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(cs[0]["name"], "side");
        assert_eq!(cs[1]["image"], "nginx:1.27");
        assert_eq!(cs[1]["ports"][0]["containerPort"], 80);
        assert_eq!(
            cs[1]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(d["metadata"]["annotations"]["a"], "1");
    }

    #[test]
    fn directives() {
        let mut d = json!({"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
            "spec": {"containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "j"}], "tolerations": [{"key": "k"}],
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}});
        let patch = json!({
            "metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"], "labels": {"y": null}},
            "spec": {"containers": [{"name": "a", "$patch": "delete"}], "tolerations": [{"key": "z"}],
                     "strategy": {"$retainKeys": ["type"], "type": "Recreate"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        });
        strategic_merge("Pod", &mut d, &patch).unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!(["b", "c"]));
        assert_eq!(d["metadata"]["labels"], json!({"x": "1"}));
        assert_eq!(
            d["spec"]["containers"],
            json!([{"name": "b", "image": "j"}])
        );
        assert_eq!(d["spec"]["tolerations"], json!([{"key": "z"}]));
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(
            d["status"]["conditions"][0],
            json!({"type": "Ready", "status": "True"})
        );
        assert_eq!(d["status"]["conditions"][1]["type"], "PodScheduled");
        let mut d2 = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        strategic_merge(
            "Pod",
            &mut d2,
            &json!({"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}}),
        )
        .unwrap();
        assert_eq!(d2["spec"]["containers"], json!([{"name": "c"}]));
        let mut d3 = json!({"spec": {"selector": {"a": "b"}}});
        strategic_merge(
            "Service",
            &mut d3,
            &json!({"spec": {"selector": {"$patch": "replace", "c": "d"}}}),
        )
        .unwrap();
        assert_eq!(d3["spec"]["selector"], json!({"c": "d"}));
        let mut svc = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}});
        strategic_merge(
            "Service",
            &mut svc,
            &json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}),
        )
        .unwrap();
        assert_eq!(
            svc["spec"]["ports"][0],
            json!({"port": 80, "name": "http", "targetPort": 8080})
        );
        assert_eq!(svc["spec"]["ports"][1]["port"], 443);
    }

    #[test]
    fn merge_and_json_patch() {
        let mut d = json!({"spec": {"replicas": 2, "x": {"y": 1}}});
        merge_patch(&mut d, &json!({"spec": {"replicas": 3, "x": null}})).unwrap();
        assert_eq!(d, json!({"spec": {"replicas": 3}}));
        json_patch(&mut d, &json!([{"op": "replace", "path": "/spec/replicas", "value": 5}, {"op": "add", "path": "/spec/z", "value": true}])).unwrap();
        assert_eq!(d, json!({"spec": {"replicas": 5, "z": true}}));
        assert!(
            json_patch(
                &mut d,
                &json!([{"op": "test", "path": "/spec/replicas", "value": 1}])
            )
            .is_err()
        );
    }
}
