//! Static pods from `staticPodPath` and their mirror pods.
//!
//! Reading (pkg/kubelet/config/file.go, common.go `applyDefaults`): every regular file not
//! starting with `.` is a Pod manifest (YAML or JSON); the pod is named `<name>-<node>`, put in
//! `default` when it has no namespace, bound to the node, given a UID that hashes the manifest,
//! the node and the file (upstream: MD5; labsim: the first 16 bytes of SHA-256), the annotations
//! `kubernetes.io/config.hash` (= UID), `kubernetes.io/config.seen` and
//! `kubernetes.io/config.source: file`, and a NoExecute toleration of every taint.
//!
//! Mirror pods (pkg/kubelet/pod/mirror_client.go `CreateMirrorPod`): the static pod as an API
//! object with `kubernetes.io/config.mirror: <hash>` and a controller reference to the Node.

use std::path::Path;

use serde_json::{Value, json};

/// The annotation with a static pod's hash (pkg/kubelet/types `ConfigHashAnnotationKey`).
pub const CONFIG_HASH: &str = "kubernetes.io/config.hash";
/// The annotation marking a mirror pod (`ConfigMirrorAnnotationKey`).
pub const CONFIG_MIRROR: &str = "kubernetes.io/config.mirror";
/// The annotation naming a pod's source (`ConfigSourceAnnotationKey`).
pub const CONFIG_SOURCE: &str = "kubernetes.io/config.source";
/// The annotation with when the kubelet first saw a pod (`ConfigFirstSeenAnnotationKey`).
pub const CONFIG_SEEN: &str = "kubernetes.io/config.seen";

/// Whether an API pod is a mirror pod.
pub fn is_mirror(pod: &Value) -> bool {
    pod["metadata"]["annotations"][CONFIG_MIRROR].is_string()
}

fn hash_uid(text: &str, node: &str, file: &str) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{text}host:{node}file:{file}").as_bytes(),
    );
    crate::pki::hex(&d.as_ref()[..16])
}

/// The static pod made from one manifest.
///
/// # Errors
/// What the kubelet logs for a manifest that is not a Pod.
pub fn from_manifest(text: &str, file: &Path, node: &str, seen: &str) -> Result<Value, String> {
    let mut pod: Value = serde_saphyr::from_str(text)
        .map_err(|e| format!("could not decode {}: {e}", file.display()))?;
    if pod["kind"] != "Pod" {
        return Err(format!(
            "{}: invalid pod: kind {:?} is not Pod",
            file.display(),
            pod["kind"].as_str().unwrap_or_default()
        ));
    }
    let name = pod["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            format!(
                "{}: invalid pod: metadata.name: Required value",
                file.display()
            )
        })?
        .to_string();
    let uid = pod["metadata"]["uid"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| hash_uid(text, node, &file.display().to_string()));
    let m = pod["metadata"]
        .as_object_mut()
        .ok_or("metadata is not an object")?;
    m.insert(
        "name".into(),
        json!(format!("{name}-{}", node.to_lowercase())),
    );
    if m.get("namespace")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        m.insert("namespace".into(), json!("default"));
    }
    m.insert("uid".into(), json!(uid));
    let ann = m.entry("annotations").or_insert_with(|| json!({}));
    if !ann.is_object() {
        *ann = json!({});
    }
    ann[CONFIG_HASH] = json!(uid);
    ann[CONFIG_SEEN] = json!(seen);
    ann[CONFIG_SOURCE] = json!("file");
    pod["spec"]["nodeName"] = json!(node);
    let tolerations = pod["spec"]["tolerations"]
        .as_array_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut tolerations = tolerations;
    if !tolerations
        .iter()
        .any(|t| t["operator"] == "Exists" && t["effect"] == "NoExecute" && t["key"].is_null())
    {
        tolerations.push(json!({"operator": "Exists", "effect": "NoExecute"}));
    }
    pod["spec"]["tolerations"] = json!(tolerations);
    pod["status"] = json!({"phase": "Pending"});
    Ok(pod)
}

/// Every static pod in `dir`, with the files that could not be read (file, error).
pub fn read_dir(dir: &Path, node: &str, seen: &str) -> (Vec<Value>, Vec<String>) {
    let mut pods = vec![];
    let mut errors = vec![];
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (pods, errors);
    };
    let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files {
        let hidden = f
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if hidden || !f.is_file() {
            continue;
        }
        match std::fs::read_to_string(&f) {
            Ok(text) => match from_manifest(&text, &f, node, seen) {
                Ok(p) => pods.push(p),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(format!("{}: {e}", f.display())),
        }
    }
    (pods, errors)
}

/// The mirror pod of a static pod.
pub fn mirror_of(static_pod: &Value, node_name: &str, node_uid: &str) -> Value {
    let mut m = static_pod.clone();
    let hash = static_pod["metadata"]["annotations"][CONFIG_HASH].clone();
    if let Some(meta) = m["metadata"].as_object_mut() {
        meta.remove("uid");
        meta.remove("resourceVersion");
        meta.remove("creationTimestamp");
        meta.insert(
            "ownerReferences".into(),
            json!([{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid, "controller": true}]),
        );
    }
    m["metadata"]["annotations"][CONFIG_MIRROR] = hash;
    m["apiVersion"] = json!("v1");
    m["kind"] = json!("Pod");
    if let Some(o) = m.as_object_mut() {
        o.remove("status");
    }
    m
}

/// Whether `mirror` is the current mirror of `static_pod` (`IsMirrorPodOf`).
pub fn is_mirror_of(mirror: &Value, static_pod: &Value) -> bool {
    mirror["metadata"]["annotations"][CONFIG_MIRROR]
        == static_pod["metadata"]["annotations"][CONFIG_HASH]
        && mirror["metadata"]["deletionTimestamp"].is_null()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETCD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\n  labels:\n    component: etcd\nspec:\n  hostNetwork: true\n  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:3.5.21-0\n    command: [etcd, --name=minikube]\n";

    #[test]
    fn manifests_become_static_pods() {
        let p = from_manifest(
            ETCD,
            Path::new("/etc/kubernetes/manifests/etcd.yaml"),
            "Minikube",
            "2024-01-01T00:00:00.1Z",
        )
        .unwrap();
        assert_eq!(p["metadata"]["name"], "etcd-minikube");
        assert_eq!(p["metadata"]["namespace"], "kube-system");
        assert_eq!(p["spec"]["nodeName"], "Minikube");
        let uid = p["metadata"]["uid"].as_str().unwrap();
        assert_eq!(uid.len(), 32);
        assert_eq!(p["metadata"]["annotations"][CONFIG_HASH], uid);
        assert_eq!(p["metadata"]["annotations"][CONFIG_SOURCE], "file");
        assert_eq!(p["spec"]["tolerations"][0]["effect"], "NoExecute");
        // Same manifest, same UID; another node, another UID.
        let again = from_manifest(
            ETCD,
            Path::new("/etc/kubernetes/manifests/etcd.yaml"),
            "Minikube",
            "x",
        )
        .unwrap();
        assert_eq!(again["metadata"]["uid"], p["metadata"]["uid"]);
        let other = from_manifest(
            ETCD,
            Path::new("/etc/kubernetes/manifests/etcd.yaml"),
            "m02",
            "x",
        )
        .unwrap();
        assert_ne!(other["metadata"]["uid"], p["metadata"]["uid"]);
        let m = mirror_of(&p, "minikube", "node-uid");
        assert_eq!(m["metadata"]["annotations"][CONFIG_MIRROR], uid);
        assert_eq!(m["metadata"]["ownerReferences"][0]["kind"], "Node");
        assert_eq!(m["metadata"]["ownerReferences"][0]["controller"], true);
        assert!(m["metadata"]["uid"].is_null());
        assert!(is_mirror(&m));
        assert!(is_mirror_of(&m, &p));
        assert!(
            from_manifest(
                "kind: Service\nmetadata: {name: x}\n",
                Path::new("/x"),
                "n",
                "s"
            )
            .is_err()
        );
    }
}
