//! Label and field selectors: parsing (apimachinery/pkg/labels/selector.go, pkg/fields/selector.go),
//! matching, the fields each resource lets clients select on (each registry's `GetAttrs` /
//! `ToSelectableFields`), and LabelSelector objects (`metav1.LabelSelectorAsSelector`,
//! `FormatLabelSelector`).

use serde_json::Value;

use super::status::ApiError;

/// An operator of a label requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelOp {
    /// `k=v` / `k==v` / `k in (v…)`.
    In(Vec<String>),
    /// `k!=v` / `k notin (v…)`.
    NotIn(Vec<String>),
    /// `k`.
    Exists,
    /// `!k`.
    DoesNotExist,
    /// `k>n`.
    Gt(i64),
    /// `k<n`.
    Lt(i64),
}

/// A parsed label selector: every requirement must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector(pub Vec<(String, LabelOp)>);

fn split_top(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn values_list(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),!h,i`.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for unparsable input.
    pub fn parse(s: &str) -> Result<LabelSelector, ApiError> {
        let bad = |why: &str| ApiError::BadRequest(format!("unable to parse requirement: {why}"));
        let mut reqs = vec![];
        for part in split_top(s) {
            if let Some(k) = part.strip_prefix('!') {
                reqs.push((k.trim().to_string(), LabelOp::DoesNotExist));
            } else if let Some((k, v)) = part.split_once("!=") {
                reqs.push((
                    k.trim().to_string(),
                    LabelOp::NotIn(vec![v.trim().to_string()]),
                ));
            } else if let Some((k, v)) = part.split_once("==") {
                reqs.push((
                    k.trim().to_string(),
                    LabelOp::In(vec![v.trim().to_string()]),
                ));
            } else if let Some((k, v)) = part.split_once('=') {
                reqs.push((
                    k.trim().to_string(),
                    LabelOp::In(vec![v.trim().to_string()]),
                ));
            } else if let Some((k, v)) = part.split_once(" notin ") {
                let vals = values_list(v).ok_or_else(|| bad(&part))?;
                reqs.push((k.trim().to_string(), LabelOp::NotIn(vals)));
            } else if let Some((k, v)) = part.split_once(" in ") {
                let vals = values_list(v).ok_or_else(|| bad(&part))?;
                reqs.push((k.trim().to_string(), LabelOp::In(vals)));
            } else if let Some((k, v)) = part.split_once('>') {
                let n = v.trim().parse().map_err(|_| bad(&part))?;
                reqs.push((k.trim().to_string(), LabelOp::Gt(n)));
            } else if let Some((k, v)) = part.split_once('<') {
                let n = v.trim().parse().map_err(|_| bad(&part))?;
                reqs.push((k.trim().to_string(), LabelOp::Lt(n)));
            } else if part.contains(' ') || part.contains('(') {
                return Err(bad(&part));
            } else {
                reqs.push((part.clone(), LabelOp::Exists));
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether labels (a JSON object or null) satisfy the selector.
    pub fn matches(&self, labels: &Value) -> bool {
        self.0.iter().all(|(k, op)| {
            let v = labels.get(k).and_then(Value::as_str);
            match op {
                LabelOp::In(vals) => v.is_some_and(|v| vals.iter().any(|x| x == v)),
                LabelOp::NotIn(vals) => v.is_none_or(|v| !vals.iter().any(|x| x == v)),
                LabelOp::Exists => v.is_some(),
                LabelOp::DoesNotExist => v.is_none(),
                LabelOp::Gt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|x| x > *n),
                LabelOp::Lt(n) => v
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|x| x < *n),
            }
        })
    }

    /// The selector of a `metav1.LabelSelector` object (`matchLabels` and `matchExpressions`).
    pub fn from_object(sel: &Value) -> LabelSelector {
        let mut reqs = vec![];
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push((
                    k.clone(),
                    LabelOp::In(vec![v.as_str().unwrap_or_default().to_string()]),
                ));
            }
        }
        if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e["key"].as_str().unwrap_or_default().to_string();
                let vals: Vec<String> = e["values"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match e["operator"].as_str().unwrap_or_default() {
                    "In" => LabelOp::In(vals),
                    "NotIn" => LabelOp::NotIn(vals),
                    "Exists" => LabelOp::Exists,
                    _ => LabelOp::DoesNotExist,
                };
                reqs.push((key, op));
            }
        }
        LabelSelector(reqs)
    }
}

/// `metav1.FormatLabelSelector`: `app=web,tier in (a,b)`, `<none>` when empty.
pub fn format_label_selector(sel: &Value) -> String {
    let mut parts = vec![];
    if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
        let mut kv: Vec<String> = m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        kv.sort();
        parts.extend(kv);
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or_default();
            let vals: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            parts.push(match e["operator"].as_str().unwrap_or_default() {
                "In" => format!("{key} in ({})", vals.join(",")),
                "NotIn" => format!("{key} notin ({})", vals.join(",")),
                "Exists" => key.to_string(),
                _ => format!("!{key}"),
            });
        }
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// `labels.FormatLabels` of a string map: sorted `k=v,…`, `<none>` when empty.
pub fn format_labels(m: &Value) -> String {
    let mut kv: Vec<String> = m
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    kv.sort();
    if kv.is_empty() {
        "<none>".into()
    } else {
        kv.join(",")
    }
}

/// A parsed field selector: `(field, equals?, value)` terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in v.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// The selectable fields of a resource besides `metadata.name` and `metadata.namespace`.
pub fn selectable_fields(plural: &str) -> &'static [&'static str] {
    match plural {
        // pkg/registry/core/pod/strategy.go ToSelectableFields
        "pods" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        // pkg/registry/core/node/strategy.go
        "nodes" => &["spec.unschedulable"],
        // pkg/registry/core/event/strategy.go
        "events" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "secrets" => &["type"],
        "namespaces" => &["status.phase"],
        "replicasets" => &["status.replicas"],
        "services" => &["spec.clusterIP", "spec.type"],
        "certificatesigningrequests" => &["spec.signerName"],
        _ => &[],
    }
}

/// The value of a selectable field of `obj`, as the registry's `GetAttrs` renders it.
pub fn field_value(plural: &str, obj: &Value, field: &str) -> String {
    let at = |path: &str| -> &Value {
        path.split('.')
            .fold(obj, |v, seg| v.get(seg).unwrap_or(&Value::Null))
    };
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    match (plural, field) {
        ("pods", "spec.hostNetwork") | ("nodes", "spec.unschedulable") => {
            at(field).as_bool().unwrap_or(false).to_string()
        }
        ("pods", "status.podIPs") => obj["status"]["podIPs"]
            .as_array()
            .map(|a| a.iter().map(|i| s(&i["ip"])).collect::<Vec<_>>().join(","))
            .unwrap_or_default(),
        ("events", "source") => {
            let c = s(&obj["source"]["component"]);
            if c.is_empty() {
                s(&obj["reportingComponent"])
            } else {
                c
            }
        }
        ("events", "reportingComponent") => s(&obj["reportingComponent"]),
        _ => s(at(field)),
    }
}

impl FieldSelector {
    /// Parses `a=b,c!=d` for resource `plural`.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for a malformed term or a field the resource does not support
    /// (`field label not supported: x`, as the real server says).
    pub fn parse(s: &str, plural: &str, namespaced: bool) -> Result<FieldSelector, ApiError> {
        let mut terms = vec![];
        for part in split_unescaped(s, ',') {
            if part.trim().is_empty() {
                continue;
            }
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::BadRequest(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let k = k.trim();
            let known = k == "metadata.name"
                || (namespaced && k == "metadata.namespace")
                || selectable_fields(plural).contains(&k);
            if !known {
                return Err(ApiError::BadRequest(format!(
                    "field label not supported: {k}"
                )));
            }
            terms.push((k.to_string(), eq, unescape(v)));
        }
        Ok(FieldSelector(terms))
    }

    /// Whether `obj` matches every term.
    pub fn matches(&self, plural: &str, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let actual = field_value(plural, obj, k);
            (actual == *v) == *eq
        })
    }

    /// The exact name the selector pins (`metadata.name=x`), if any.
    pub fn pinned_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, eq, _)| k == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let labels = json!({"app": "web", "tier": "front", "n": "5"});
        let ok = |s: &str| LabelSelector::parse(s).unwrap().matches(&labels);
        assert!(ok("app=web"));
        assert!(ok("app==web,tier"));
        assert!(ok("app in (web, api),tier notin (back)"));
        assert!(ok("!missing"));
        assert!(ok("n>4,n<6"));
        assert!(ok("missing!=x"));
        assert!(!ok("app!=web"));
        assert!(!ok("tier in (back)"));
        assert!(!ok("!app"));
        assert!(LabelSelector::parse("a in b").is_err());
        assert!(LabelSelector::parse("").unwrap().matches(&Value::Null));
    }

    #[test]
    fn field_selectors_like_kubectl_sends_them() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {"nodeName": "w1"}, "status": {"phase": "Running"}});
        let sel = FieldSelector::parse(
            "spec.nodeName=w1,status.phase!=Succeeded,status.phase!=Failed",
            "pods",
            true,
        )
        .unwrap();
        assert!(sel.matches("pods", &pod));
        let sel = FieldSelector::parse("metadata.name==q", "pods", true).unwrap();
        assert!(!sel.matches("pods", &pod));
        assert_eq!(sel.pinned_name(), Some("q"));
        let ev = json!({"involvedObject": {"kind": "Node", "name": "w1", "namespace": ""}, "type": "Normal"});
        let sel = FieldSelector::parse(
            "involvedObject.kind=Node,involvedObject.name=w1,involvedObject.namespace=,involvedObject.uid=w1",
            "events",
            true,
        )
        .unwrap();
        assert!(!sel.matches("events", &ev));
        let sel = FieldSelector::parse(
            "involvedObject.kind=Node,involvedObject.namespace=,type=Normal",
            "events",
            true,
        )
        .unwrap();
        assert!(sel.matches("events", &ev));
        assert_eq!(
            FieldSelector::parse("spec.foo=1", "pods", true)
                .unwrap_err()
                .to_string(),
            "field label not supported: spec.foo"
        );
    }

    #[test]
    fn formats() {
        let sel = json!({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [{"key": "t", "operator": "In", "values": ["x", "y"]}]});
        assert_eq!(format_label_selector(&sel), "a=1,b=2,t in (x,y)");
        assert_eq!(format_label_selector(&json!({})), "<none>");
        assert_eq!(format_labels(&json!({"app": "hello"})), "app=hello");
        assert!(LabelSelector::from_object(&sel).matches(&json!({"a": "1", "b": "2", "t": "y"})));
    }
}
