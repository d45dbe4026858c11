//! YAML as kubeadm writes it: `sigs.k8s.io/yaml` marshals through JSON into go-yaml v2, so mapping
//! keys come out sorted, sequences sit at their parent key's indentation, strings that would read
//! as another type are double-quoted, and multi-line strings become `|` blocks. labsim renders the
//! files kubeadm writes (static Pod manifests, kubelet config, ConfigMap payloads) with this so they
//! look like the real ones byte for byte where the content is the same.

use serde_json::Value;

/// Renders `v` (a mapping at the top level) as go-yaml v2 does.
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn sorted(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
    for (k, v) in sorted(m) {
        indent(out, level);
        out.push_str(&key(k));
        out.push(':');
        write_value_after_key(out, v, level);
    }
}

fn write_value_after_key(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, level);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, level + 2));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], level: usize) {
    for item in a {
        indent(out, level);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key goes on the dash line, the rest aligned under it.
                let entries = sorted(m);
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i == 0 {
                        out.push(' ');
                    } else {
                        indent(out, level + 2);
                    }
                    out.push_str(&key(k));
                    out.push(':');
                    write_value_after_key(out, v, level + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, level + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other, level + 2));
                out.push('\n');
            }
        }
    }
}

fn key(k: &str) -> String {
    if needs_quotes(k) {
        quote(k)
    } else {
        k.to_string()
    }
}

fn scalar(v: &Value, level: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.contains('\n') => block(s, level),
        Value::String(s) if needs_quotes(s) => quote(s),
        Value::String(s) => s.clone(),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A `|` literal block (`|-` without a final newline), as go-yaml v2 writes multi-line strings.
fn block(s: &str, level: usize) -> String {
    let (body, header) = match s.strip_suffix('\n') {
        Some(b) if !b.ends_with('\n') => (b, "|"),
        Some(_) => (s.trim_end_matches('\n'), "|+"),
        None => (s, "|-"),
    };
    let lead = if body.starts_with(' ') { "2" } else { "" };
    let mut out = format!("{header}{lead}");
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&" ".repeat(level));
            out.push_str(line);
        }
    }
    out
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether go-yaml v2 would quote `s` (it would otherwise resolve to another type, or is not a
/// valid plain scalar).
fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | "null"
            | "~"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    ) {
        return true;
    }
    if looks_numeric(s) {
        return true;
    }
    let first = s.chars().next().expect("not empty");
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-x` and `:x` forms are plain in YAML 1.1 only when followed by a non-space; go-yaml
        // quotes the indicator forms that could start a structure.
        let second = s.chars().nth(1);
        let plain_ok = matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ');
        if !plain_ok {
            return true;
        }
    }
    s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c == '\t')
}

fn looks_numeric(s: &str) -> bool {
    let t = s.trim_start_matches(['+', '-']);
    if t.is_empty() {
        return false;
    }
    if t.parse::<f64>().is_ok()
        && t.chars()
            .all(|c| c.is_ascii_digit() || "._eE+-".contains(c))
    {
        return true;
    }
    t.starts_with("0x")
        || t.starts_with("0o")
        || (t.contains(':')
            && t.split(':')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_go_yaml() {
        let v = json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "etcd", "labels": {"tier": "control-plane"}, "annotations": {}},
            "spec": {"containers": [{"name": "etcd", "command": ["etcd", "--name=minikube"],
                      "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}],
                     "hostNetwork": true, "priority": 2000001000},
            "data": {"x": "0", "e": "", "t": "true", "b": "a: b", "m": "line1\nline2\n"},
            "status": {}
        });
        insta::assert_snapshot!(to_string(&v), @r#"
        apiVersion: v1
        data:
          b: "a: b"
          e: ""
          m: |
            line1
            line2
          t: "true"
          x: "0"
        kind: Pod
        metadata:
          annotations: {}
          labels:
            tier: control-plane
          name: etcd
        spec:
          containers:
          - command:
            - etcd
            - --name=minikube
            name: etcd
            resources:
              requests:
                cpu: 100m
                memory: 100Mi
          hostNetwork: true
          priority: 2000001000
        status: {}
        "#);
    }

    #[test]
    fn round_trips_through_a_yaml_parser() {
        let v = json!({"a": ["-x", ":y", "10.96.0.10", "1.5", "08:00", "*", "a #b", "ok"], "n": null,
                       "s": " lead", "block": "  indented\nnext"});
        let text = to_string(&v);
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, v, "{text}");
    }
}
