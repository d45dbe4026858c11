//! Server-side apply and `metadata.managedFields`, kept simple but real
//! (KEP-555; sigs.k8s.io/structured-merge-diff; apiserver/pkg/endpoints/handlers/fieldmanager).
//!
//! - A field set is a set of paths; path elements are encoded as in `fieldsV1`: `f:<field>`,
//!   `k:{"<key>":<value>}` for items of lists merged by key, `v:<json>` for items of primitive sets.
//!   Atomic lists are owned as a whole.
//! - Apply: the applier owns exactly the fields of its configuration. A field also owned by another
//!   manager whose current value differs from the applied one is a conflict (409 with
//!   `FieldManagerConflict` causes) unless `force=true`, which takes the field over. Fields the applier
//!   owned before and no longer applies are removed unless another manager owns them.
//! - Updates (create, PUT, non-apply PATCH) give the manager the fields whose values changed and take
//!   them away from other managers, without conflicts.
//!
//! Simplifications: schemas come from the patch strategies of [`super::patch::list_strategy`]
//! rather than OpenAPI, and versions are not converted (every resource has one version here).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::patch::{ListStrategy, list_strategy};

/// A set of field paths.
pub type FieldSet = BTreeSet<Vec<String>>;

fn item_key(key: &str, item: &Value) -> String {
    let mut m = Map::new();
    m.insert(
        key.to_string(),
        item.get(key).cloned().unwrap_or(Value::Null),
    );
    format!("k:{}", Value::Object(m))
}

/// The fields set in `obj` (apiVersion, kind, name, namespace and server-owned metadata excluded).
pub fn fields_of(kind: &str, obj: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    let mut path = vec![];
    let mut names = vec![];
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            if matches!(k.as_str(), "apiVersion" | "kind") {
                continue;
            }
            if k == "metadata" {
                for (mk, mv) in v.as_object().into_iter().flatten() {
                    if matches!(
                        mk.as_str(),
                        "labels" | "annotations" | "finalizers" | "ownerReferences"
                    ) {
                        path.push("f:metadata".to_string());
                        names.push("metadata".to_string());
                        walk(kind, mk, mv, &mut path, &mut names, &mut out);
                        path.pop();
                        names.pop();
                    }
                }
                continue;
            }
            walk(kind, k, v, &mut path, &mut names, &mut out);
        }
    }
    out
}

fn walk(
    kind: &str,
    field: &str,
    v: &Value,
    path: &mut Vec<String>,
    names: &mut Vec<String>,
    out: &mut FieldSet,
) {
    path.push(format!("f:{field}"));
    names.push(field.to_string());
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                walk(kind, k, c, path, names, out);
            }
        }
        Value::Array(items) => match list_strategy(kind, names) {
            ListStrategy::MergeByKey(key) => {
                for item in items {
                    path.push(item_key(key, item));
                    out.insert(path.clone());
                    if let Some(m) = item.as_object() {
                        for (k, c) in m {
                            walk(kind, k, c, path, names, out);
                        }
                    }
                    path.pop();
                }
                if items.is_empty() {
                    out.insert(path.clone());
                }
            }
            ListStrategy::MergePrimitive => {
                for item in items {
                    path.push(format!("v:{item}"));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            ListStrategy::Replace => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
    path.pop();
    names.pop();
}

/// The value at a field path (None when absent).
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for el in path {
        cur = if let Some(f) = el.strip_prefix("f:") {
            cur.get(f)?
        } else if let Some(k) = el.strip_prefix("k:") {
            let want: Map<String, Value> = serde_json::from_str(k).ok()?;
            cur.as_array()?
                .iter()
                .find(|item| want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)))?
        } else if let Some(v) = el.strip_prefix("v:") {
            let want: Value = serde_json::from_str(v).ok()?;
            cur.as_array()?.iter().find(|item| **item == want)?
        } else {
            return None;
        };
    }
    Some(cur)
}

/// Removes the field at `path` from `obj`.
pub fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for el in parent_path {
        let next = if let Some(f) = el.strip_prefix("f:") {
            cur.get_mut(f)
        } else if let Some(k) = el.strip_prefix("k:") {
            let Ok(want) = serde_json::from_str::<Map<String, Value>>(k) else {
                return;
            };
            cur.as_array_mut().and_then(|a| {
                a.iter_mut()
                    .find(|item| want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)))
            })
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(k) = last.strip_prefix("k:") {
        if let (Ok(want), Some(a)) = (
            serde_json::from_str::<Map<String, Value>>(k),
            cur.as_array_mut(),
        ) {
            a.retain(|item| !want.iter().all(|(wk, wv)| item.get(wk) == Some(wv)));
        }
    } else if let Some(v) = last.strip_prefix("v:")
        && let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(v), cur.as_array_mut())
    {
        a.retain(|item| *item != want);
    }
}

/// `fieldsV1` of a field set.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut cur = &mut root;
        for el in path {
            cur = cur
                .entry(el.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("nodes are objects");
        }
    }
    // Mark items that are owned themselves and have children with ".".
    fn mark(node: &mut Map<String, Value>, prefix: &mut Vec<String>, set: &FieldSet) {
        for (k, v) in node.iter_mut() {
            prefix.push(k.clone());
            if let Some(m) = v.as_object_mut()
                && !m.is_empty()
            {
                mark(m, prefix, set);
                if set.contains(prefix) {
                    m.insert(".".into(), json!({}));
                }
            }
            prefix.pop();
        }
    }
    mark(&mut root, &mut vec![], set);
    Value::Object(root)
}

/// The field set of a `fieldsV1` value.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn rec(v: &Value, path: &mut Vec<String>, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        for (k, c) in m {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            path.push(k.clone());
            if c.as_object().is_none_or(|cm| cm.is_empty()) {
                out.insert(path.clone());
            } else {
                rec(c, path, out);
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    rec(v, &mut vec![], &mut out);
    out
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Managed {
    /// Manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the fields refer to.
    pub api_version: String,
    /// Last change.
    pub time: String,
    /// Owned fields.
    pub fields: FieldSet,
    /// `status` for changes through the status subresource.
    pub subresource: Option<String>,
}

/// Reads `metadata.managedFields`.
pub fn read_managed(obj: &Value) -> Vec<Managed> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| Managed {
                    manager: e["manager"].as_str().unwrap_or_default().to_string(),
                    operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                    api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
                    time: e["time"].as_str().unwrap_or_default().to_string(),
                    fields: from_fields_v1(&e["fieldsV1"]),
                    subresource: e["subresource"].as_str().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `metadata.managedFields` (entries with no fields are dropped).
pub fn write_managed(obj: &mut Value, entries: &[Managed]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn path_string(path: &[String]) -> String {
    path.iter()
        .map(|el| {
            if let Some(f) = el.strip_prefix("f:") {
                format!(".{f}")
            } else if let Some(k) = el.strip_prefix("k:") {
                format!(
                    "[{}]",
                    k.trim_start_matches('{')
                        .trim_end_matches('}')
                        .replace(':', "=")
                )
            } else if let Some(v) = el.strip_prefix("v:") {
                format!("[={v}]")
            } else {
                el.clone()
            }
        })
        .collect()
}

/// Records an update by `manager`: it gets the fields whose values differ between `old` and `new`
/// (all of `new`'s fields on create), which other managers lose. Fields gone from `new` are dropped
/// from every manager.
pub fn record_update(
    kind: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
) {
    let mut entries = old.map(read_managed).unwrap_or_default();
    let new_fields = fields_of(kind, new);
    let changed: FieldSet = new_fields
        .iter()
        .filter(|p| old.is_none_or(|o| value_at(o, p) != value_at(new, p)))
        .cloned()
        .collect();
    for e in entries.iter_mut() {
        e.fields
            .retain(|p| new_fields.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        let sub = subresource.map(str::to_string);
        match entries
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == "Update" && e.subresource == sub)
        {
            Some(e) => {
                e.fields.extend(changed);
                e.time = super::meta::now_rfc3339();
            }
            None => entries.push(Managed {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: super::meta::now_rfc3339(),
                fields: changed,
                subresource: sub,
            }),
        }
    }
    write_managed(new, &entries);
}

/// An apply conflict: (manager, apiVersion, field path as `.spec.replicas`).
pub type Conflict = (String, String, String);

/// Applies `config` by `manager` onto `current` (None: the object does not exist yet) and returns
/// the new object with its managedFields, or the conflicts.
///
/// # Errors
/// The conflicts, when fields owned by others would change and `force` is false.
pub fn apply(
    kind: &str,
    current: Option<&Value>,
    config: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let applied = fields_of(kind, config);
    let Some(cur) = current else {
        let mut obj = config.clone();
        write_managed(
            &mut obj,
            &[Managed {
                manager: manager.into(),
                operation: "Apply".into(),
                api_version: api_version.into(),
                time: super::meta::now_rfc3339(),
                fields: applied,
                subresource: None,
            }],
        );
        return Ok(obj);
    };
    let mut entries = read_managed(cur);
    let mut conflicts = vec![];
    for e in &entries {
        if e.manager == manager && e.operation == "Apply" {
            continue;
        }
        for p in e.fields.intersection(&applied) {
            let leafish = config_leaf(config, p);
            if leafish && value_at(cur, p) != value_at(config, p) {
                conflicts.push((e.manager.clone(), e.api_version.clone(), path_string(p)));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    let mut obj = cur.clone();
    // Fields this manager applied before and no longer applies go, unless someone else owns them.
    let previous: FieldSet = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == "Apply")
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: FieldSet = entries
        .iter()
        .filter(|e| !(e.manager == manager && e.operation == "Apply"))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    for p in previous.difference(&applied) {
        if !others.contains(p) {
            remove_at(&mut obj, p);
        }
    }
    merge_config(kind, &mut obj, config, &mut vec![]);
    for e in entries.iter_mut() {
        if e.manager == manager && e.operation == "Apply" {
            continue;
        }
        // On force, and for fields whose value changed, the applier takes them over.
        e.fields
            .retain(|p| !(applied.contains(p) && value_at(cur, p) != value_at(config, p)));
    }
    match entries
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Apply")
    {
        Some(e) => {
            e.fields = applied;
            e.time = super::meta::now_rfc3339();
        }
        None => entries.push(Managed {
            manager: manager.into(),
            operation: "Apply".into(),
            api_version: api_version.into(),
            time: super::meta::now_rfc3339(),
            fields: applied,
            subresource: None,
        }),
    }
    write_managed(&mut obj, &entries);
    Ok(obj)
}

fn config_leaf(config: &Value, p: &[String]) -> bool {
    // Keyed items (their own "." entry) are not compared as a whole: their fields are.
    !p.last().is_some_and(|l| l.starts_with("k:")) && value_at(config, p).is_some()
}

fn merge_config(kind: &str, obj: &mut Value, config: &Value, names: &mut Vec<String>) {
    let Some(cm) = config.as_object() else {
        *obj = config.clone();
        return;
    };
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let om = obj.as_object_mut().expect("object");
    for (k, v) in cm {
        names.push(k.clone());
        match (om.get_mut(k), v) {
            (Some(o @ Value::Object(_)), Value::Object(_)) => merge_config(kind, o, v, names),
            (Some(Value::Array(o)), Value::Array(items)) => match list_strategy(kind, names) {
                ListStrategy::MergeByKey(key) => {
                    for item in items {
                        match o.iter_mut().find(|x| x.get(key) == item.get(key)) {
                            Some(x) => merge_config(kind, x, item, names),
                            None => o.push(item.clone()),
                        }
                    }
                }
                ListStrategy::MergePrimitive => {
                    for item in items {
                        if !o.contains(item) {
                            o.push(item.clone());
                        }
                    }
                }
                ListStrategy::Replace => *o = items.clone(),
            },
            _ => {
                om.insert(k.clone(), v.clone());
            }
        }
        names.pop();
    }
}

/// The 409 message of apply conflicts (structured-merge-diff `Conflicts.Error`).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if conflicts.len() == 1 {
        let (m, v, f) = &conflicts[0];
        return format!("Apply failed with 1 conflict: conflict with {m:?} using {v}: {f}");
    }
    let mut by_manager: Vec<(String, String, Vec<String>)> = vec![];
    for (m, v, f) in conflicts {
        match by_manager.iter_mut().find(|(bm, _, _)| bm == m) {
            Some(e) => e.2.push(f.clone()),
            None => by_manager.push((m.clone(), v.clone(), vec![f.clone()])),
        }
    }
    let mut msg = format!("Apply failed with {} conflicts: ", conflicts.len());
    let parts: Vec<String> = by_manager
        .iter()
        .map(|(m, v, fs)| {
            let lines: Vec<String> = fs.iter().map(|f| format!("- {f}")).collect();
            format!("conflicts with {m:?} using {v}:\n{}", lines.join("\n"))
        })
        .collect();
    msg.push_str(&parts.join("\n"));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "nginx", "image": image}]}}}})
    }

    #[test]
    fn fields_v1_round_trip() {
        let set = fields_of("Deployment", &deploy(2, "nginx"));
        let v = to_fields_v1(&set);
        assert_eq!(
            v,
            json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
        assert_eq!(from_fields_v1(&v), set);
    }

    #[test]
    fn apply_conflicts_and_force() {
        let created = apply(
            "Deployment",
            None,
            &deploy(2, "nginx"),
            "kubectl",
            "apps/v1",
            false,
        )
        .unwrap();
        // Someone scales with an update: they now own spec.replicas.
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(
            "Deployment",
            Some(&created),
            &mut scaled,
            "kubectl-scale",
            "apps/v1",
            None,
        );
        let managers: Vec<String> = read_managed(&scaled)
            .iter()
            .map(|m| m.manager.clone())
            .collect();
        assert_eq!(managers, ["kubectl", "kubectl-scale"]);
        // Re-applying with replicas 2 conflicts.
        let err = apply(
            "Deployment",
            Some(&scaled),
            &deploy(2, "nginx:2"),
            "kubectl",
            "apps/v1",
            false,
        )
        .unwrap_err();
        assert_eq!(
            err,
            vec![(
                "kubectl-scale".into(),
                "apps/v1".into(),
                ".spec.replicas".into()
            )]
        );
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1: .spec.replicas"
        );
        // Applying without replicas: no conflict, and replicas stays 5 (owned by the scaler).
        let mut cfg = deploy(0, "nginx:2");
        cfg["spec"].as_object_mut().unwrap().remove("replicas");
        let out = apply(
            "Deployment",
            Some(&scaled),
            &cfg,
            "kubectl",
            "apps/v1",
            false,
        )
        .unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:2"
        );
        // Force takes the field over.
        let forced = apply(
            "Deployment",
            Some(&scaled),
            &deploy(2, "nginx"),
            "kubectl",
            "apps/v1",
            true,
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 2);
        let m = read_managed(&forced);
        assert!(m.iter().all(|e| e.manager == "kubectl"));
        // A field dropped from the config and owned by nobody else is removed.
        let mut no_labels = deploy(2, "nginx");
        no_labels["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("labels");
        let out = apply(
            "Deployment",
            Some(&forced),
            &no_labels,
            "kubectl",
            "apps/v1",
            false,
        )
        .unwrap();
        assert!(out["metadata"]["labels"].get("app").is_none());
    }
}
