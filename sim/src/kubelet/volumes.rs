//! Pod volumes as the kubelet's volume plugins set them up under
//! `<root-dir>/pods/<uid>/volumes/<plugin>/<volume>` (pkg/volume/…), and the container mounts
//! that show them: the runtime passes them to the image program as `LABSIM_MOUNTS`.
//!
//! - `hostPath` with its `type` check (pkg/volume/hostpath/host_path.go `checkType`):
//!   `DirectoryOrCreate`/`FileOrCreate` create, the others must already be what they say;
//! - `emptyDir` (`kubernetes.io~empty-dir`);
//! - `configMap` (`kubernetes.io~configmap`), `secret` (`kubernetes.io~secret`), `downwardAPI`
//!   (`kubernetes.io~downward-api`) and `projected` (`kubernetes.io~projected`, with bound
//!   service-account tokens from the TokenRequest API, refreshed at 80 % of their lifetime as the
//!   kubelet's token manager does). labsim writes the files directly instead of through the
//!   atomic writer's `..data` symlinks. Secret data and tokens are written 0600.
//!
//! Errors are the `FailedMount` texts: `MountVolume.SetUp failed for volume "x" : …`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Value, json};

use crate::client::Client;
use crate::runtime::cri::Mount;

/// What the volume plugins need.
#[derive(Debug, Clone)]
pub struct VolumeContext<'a> {
    /// The kubelet's root directory (`/var/lib/kubelet`).
    pub root_dir: &'a Path,
    /// The API client (none in standalone mode).
    pub client: Option<&'a Client>,
    /// The pod IP (for downward API fields).
    pub pod_ip: &'a str,
    /// The node IP.
    pub host_ip: &'a str,
}

/// A service-account token the kubelet holds for a pod.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The token.
    pub token: String,
    /// When it was issued (Unix s).
    pub issued: i64,
    /// Its lifetime (s).
    pub ttl: i64,
}

/// The pod's directory.
pub fn pod_dir(root: &Path, uid: &str) -> PathBuf {
    root.join("pods").join(uid)
}

fn plugin_dir(root: &Path, uid: &str, plugin: &str, name: &str) -> PathBuf {
    pod_dir(root, uid).join("volumes").join(plugin).join(name)
}

fn write_if_changed(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::read(path).ok().as_deref() == Some(data) {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let tmp = path.with_extension("labsim-tmp");
    std::fs::write(&tmp, data).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

fn mode_of(v: &Value, default: u32) -> u32 {
    v.as_u64().map(|m| m as u32).unwrap_or(default)
}

/// Checks or creates a hostPath (host_path.go `checkType`).
///
/// # Errors
/// `hostPath type check failed: <path> is not a directory` and the like.
pub fn host_path(path: &str, typ: &str) -> Result<PathBuf, String> {
    use std::os::unix::fs::FileTypeExt;
    let p = PathBuf::from(path);
    let meta = std::fs::metadata(&p).ok();
    let fail = |what: &str| {
        Err(format!(
            "hostPath type check failed: {path} is not a {what}"
        ))
    };
    match typ {
        "" => {}
        "DirectoryOrCreate" => {
            if meta.is_none() {
                std::fs::create_dir_all(&p).map_err(|e| e.to_string())?;
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
            } else if !meta.as_ref().is_some_and(|m| m.is_dir()) {
                return fail("directory");
            }
        }
        "Directory" => {
            if !meta.as_ref().is_some_and(|m| m.is_dir()) {
                return fail("directory");
            }
        }
        "FileOrCreate" => {
            if meta.is_none() {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .map_err(|e| e.to_string())?;
            } else if !meta.as_ref().is_some_and(|m| m.is_file()) {
                return fail("file");
            }
        }
        "File" => {
            if !meta.as_ref().is_some_and(|m| m.is_file()) {
                return fail("file");
            }
        }
        "Socket" => {
            if !meta.as_ref().is_some_and(|m| m.file_type().is_socket()) {
                return fail("socket file");
            }
        }
        "CharDevice" => {
            if !meta
                .as_ref()
                .is_some_and(|m| m.file_type().is_char_device())
            {
                return fail("character device");
            }
        }
        "BlockDevice" => {
            if !meta
                .as_ref()
                .is_some_and(|m| m.file_type().is_block_device())
            {
                return fail("block device");
            }
        }
        other => return Err(format!("invalid hostPath type {other:?}")),
    }
    Ok(p)
}

async fn get_object(
    client: Option<&Client>,
    ns: &str,
    plural: &str,
    name: &str,
) -> Result<Option<Value>, String> {
    let Some(c) = client else {
        return Err(format!(
            "cannot read {plural} {name:?}: the kubelet has no API client (standalone mode)"
        ));
    };
    c.get_opt(&crate::client::path("", "v1", plural, Some(ns), Some(name)))
        .await
        .map_err(|e| e.to_string())
}

/// The key → (bytes, mode) files of a ConfigMap or Secret volume source.
fn keyed_files(
    kind: &str,
    obj: &Value,
    items: Option<&Vec<Value>>,
    default_mode: u32,
    optional: bool,
) -> Result<Vec<(String, Vec<u8>, u32)>, String> {
    let secret = kind == "Secret";
    let mut data: Vec<(String, Vec<u8>)> = vec![];
    for field in ["data", "binaryData"] {
        for (k, v) in obj[field].as_object().into_iter().flatten() {
            let bytes = if secret || field == "binaryData" {
                v.as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                    .unwrap_or_default()
            } else {
                v.as_str().unwrap_or_default().as_bytes().to_vec()
            };
            data.push((k.clone(), bytes));
        }
    }
    match items {
        None => Ok(data
            .into_iter()
            .map(|(k, b)| (k, b, default_mode))
            .collect()),
        Some(items) => {
            let mut out = vec![];
            for it in items {
                let key = it["key"].as_str().unwrap_or_default();
                let path = it["path"].as_str().unwrap_or(key);
                match data.iter().find(|(k, _)| k == key) {
                    Some((_, b)) => out.push((
                        path.to_string(),
                        b.clone(),
                        mode_of(&it["mode"], default_mode),
                    )),
                    None if optional => {}
                    None => {
                        return Err(format!(
                            "{} references non-existent {} key: {key}",
                            kind.to_lowercase(),
                            if secret { "secret" } else { "config" }
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

fn downward_files(
    pod: &Value,
    items: &[Value],
    default_mode: u32,
    ctx: &VolumeContext<'_>,
) -> Result<Vec<(String, Vec<u8>, u32)>, String> {
    let mut out = vec![];
    for it in items {
        let path = it["path"].as_str().unwrap_or_default();
        let value = if let Some(fp) = it["fieldRef"]["fieldPath"].as_str() {
            super::env::field_ref(pod, fp, ctx.pod_ip, ctx.host_ip)?
        } else {
            return Err(format!(
                "labsim's downward API volumes support fieldRef only (item {path:?})"
            ));
        };
        out.push((
            path.to_string(),
            value.into_bytes(),
            mode_of(&it["mode"], default_mode),
        ));
    }
    Ok(out)
}

async fn token(
    client: Option<&Client>,
    pod: &Value,
    src: &Value,
    cache: &mut HashMap<String, CachedToken>,
    key: &str,
) -> Result<String, String> {
    let now = jiff::Timestamp::now().as_second();
    if let Some(t) = cache.get(key)
        && (now - t.issued) < t.ttl * 8 / 10
    {
        return Ok(t.token.clone());
    }
    let Some(c) = client else {
        return Err("cannot request a service-account token: the kubelet has no API client (standalone mode)".into());
    };
    let m = &pod["metadata"];
    let ns = m["namespace"].as_str().unwrap_or("default");
    let sa = pod["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("default");
    let exp = src["expirationSeconds"].as_i64().unwrap_or(3600);
    let audiences = match src["audience"].as_str().filter(|a| !a.is_empty()) {
        Some(a) => json!([a]),
        None => json!([]),
    };
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": audiences, "expirationSeconds": exp,
                 "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": m["name"], "uid": m["uid"]}}});
    let path = format!(
        "{}/token",
        crate::client::path("", "v1", "serviceaccounts", Some(ns), Some(sa))
    );
    let resp = c
        .create(&path, &body)
        .await
        .map_err(|e| format!("failed to fetch token: {e}"))?;
    let tok = resp["status"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    cache.insert(
        key.to_string(),
        CachedToken {
            token: tok.clone(),
            issued: now,
            ttl: resp["spec"]["expirationSeconds"].as_i64().unwrap_or(exp),
        },
    );
    Ok(tok)
}

fn write_files(dir: &Path, files: &[(String, Vec<u8>, u32)]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    for (rel, data, mode) in files {
        let rel = rel.trim_start_matches('/');
        if rel.split('/').any(|s| s == "..") {
            return Err(format!("invalid path {rel:?}: must not contain '..'"));
        }
        write_if_changed(&dir.join(rel), data, *mode)?;
    }
    Ok(())
}

/// Sets up every volume of `pod`; returns the host path of each volume by name.
///
/// # Errors
/// The `FailedMount` event message of the first volume that fails.
pub async fn setup(
    ctx: &VolumeContext<'_>,
    pod: &Value,
    tokens: &mut HashMap<String, CachedToken>,
) -> Result<HashMap<String, PathBuf>, String> {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let mut out = HashMap::new();
    for v in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or_default();
        let failed = |e: String| format!("MountVolume.SetUp failed for volume {name:?} : {e}");
        let path = if v["hostPath"].is_object() {
            host_path(
                v["hostPath"]["path"].as_str().unwrap_or_default(),
                v["hostPath"]["type"].as_str().unwrap_or_default(),
            )
            .map_err(failed)?
        } else if v["emptyDir"].is_object() {
            let d = plugin_dir(ctx.root_dir, uid, "kubernetes.io~empty-dir", name);
            std::fs::create_dir_all(&d).map_err(|e| failed(e.to_string()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777));
            d
        } else if v["configMap"].is_object() {
            let src = &v["configMap"];
            let cm_name = src["name"].as_str().unwrap_or_default();
            let optional = src["optional"] == true;
            let d = plugin_dir(ctx.root_dir, uid, "kubernetes.io~configmap", name);
            match get_object(ctx.client, ns, "configmaps", cm_name)
                .await
                .map_err(failed)?
            {
                Some(cm) => {
                    let files = keyed_files(
                        "ConfigMap",
                        &cm,
                        src["items"].as_array(),
                        mode_of(&src["defaultMode"], 0o644),
                        optional,
                    )
                    .map_err(failed)?;
                    write_files(&d, &files).map_err(failed)?;
                }
                None if optional => {
                    std::fs::create_dir_all(&d).map_err(|e| failed(e.to_string()))?
                }
                None => return Err(failed(format!("configmap {cm_name:?} not found"))),
            }
            d
        } else if v["secret"].is_object() {
            let src = &v["secret"];
            let s_name = src["secretName"].as_str().unwrap_or_default();
            let optional = src["optional"] == true;
            let d = plugin_dir(ctx.root_dir, uid, "kubernetes.io~secret", name);
            match get_object(ctx.client, ns, "secrets", s_name)
                .await
                .map_err(failed)?
            {
                Some(s) => {
                    let files = keyed_files("Secret", &s, src["items"].as_array(), 0o600, optional)
                        .map_err(failed)?;
                    write_files(&d, &files).map_err(failed)?;
                }
                None if optional => {
                    std::fs::create_dir_all(&d).map_err(|e| failed(e.to_string()))?
                }
                None => return Err(failed(format!("secret {s_name:?} not found"))),
            }
            d
        } else if v["downwardAPI"].is_object() {
            let src = &v["downwardAPI"];
            let d = plugin_dir(ctx.root_dir, uid, "kubernetes.io~downward-api", name);
            let items = src["items"].as_array().cloned().unwrap_or_default();
            let files = downward_files(pod, &items, mode_of(&src["defaultMode"], 0o644), ctx)
                .map_err(failed)?;
            write_files(&d, &files).map_err(failed)?;
            d
        } else if v["projected"].is_object() {
            let src = &v["projected"];
            let mode = mode_of(&src["defaultMode"], 0o644);
            let d = plugin_dir(ctx.root_dir, uid, "kubernetes.io~projected", name);
            let mut files = vec![];
            for s in src["sources"].as_array().into_iter().flatten() {
                if s["serviceAccountToken"].is_object() {
                    let t = &s["serviceAccountToken"];
                    let key = format!("{uid}/{name}/{}", t["path"].as_str().unwrap_or("token"));
                    let tok = token(ctx.client, pod, t, tokens, &key)
                        .await
                        .map_err(failed)?;
                    files.push((
                        t["path"].as_str().unwrap_or("token").to_string(),
                        tok.into_bytes(),
                        0o600,
                    ));
                } else if s["configMap"].is_object() {
                    let c = &s["configMap"];
                    let cm_name = c["name"].as_str().unwrap_or_default();
                    let optional = c["optional"] == true;
                    match get_object(ctx.client, ns, "configmaps", cm_name)
                        .await
                        .map_err(failed)?
                    {
                        Some(cm) => files.extend(
                            keyed_files("ConfigMap", &cm, c["items"].as_array(), mode, optional)
                                .map_err(failed)?,
                        ),
                        None if optional => {}
                        None => return Err(failed(format!("configmap {cm_name:?} not found"))),
                    }
                } else if s["secret"].is_object() {
                    let c = &s["secret"];
                    let s_name = c["name"].as_str().unwrap_or_default();
                    let optional = c["optional"] == true;
                    match get_object(ctx.client, ns, "secrets", s_name)
                        .await
                        .map_err(failed)?
                    {
                        Some(sec) => files.extend(
                            keyed_files("Secret", &sec, c["items"].as_array(), 0o600, optional)
                                .map_err(failed)?,
                        ),
                        None if optional => {}
                        None => return Err(failed(format!("secret {s_name:?} not found"))),
                    }
                } else if s["downwardAPI"].is_object() {
                    let items = s["downwardAPI"]["items"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    files.extend(downward_files(pod, &items, mode, ctx).map_err(failed)?);
                }
            }
            write_files(&d, &files).map_err(failed)?;
            d
        } else {
            let kind = v
                .as_object()
                .and_then(|m| m.keys().find(|k| *k != "name").cloned())
                .unwrap_or_default();
            return Err(failed(format!("labsim does not implement {kind} volumes")));
        };
        out.insert(name.to_string(), path);
    }
    Ok(out)
}

/// The kubelet-managed `/etc/hosts` of a pod that does not use the host network
/// (pkg/kubelet/kubelet_pods.go `managedHostsFileContent`).
pub fn etc_hosts(pod_ip: &str, hostname: &str) -> String {
    format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{pod_ip}\t{hostname}\n"
    )
}

/// The container's mounts: its `volumeMounts` (with `subPath`) over the volumes' host paths.
///
/// # Errors
/// A mount of a volume the pod does not have.
pub fn container_mounts(
    container: &Value,
    volumes: &HashMap<String, PathBuf>,
) -> Result<Vec<Mount>, String> {
    let mut out = vec![];
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let name = m["name"].as_str().unwrap_or_default();
        let base = volumes.get(name).ok_or_else(|| {
            format!(
                "cannot find volume {name:?} to mount into container {:?}",
                container["name"].as_str().unwrap_or_default()
            )
        })?;
        let host = match m["subPath"].as_str().filter(|s| !s.is_empty()) {
            Some(sub) => {
                if sub.split('/').any(|s| s == "..") {
                    return Err(format!("subPath {sub:?} must not contain '..'"));
                }
                let p = base.join(sub);
                if !p.exists() {
                    let _ = std::fs::create_dir_all(&p);
                }
                p
            }
            None => base.clone(),
        };
        out.push(Mount {
            container_path: m["mountPath"].as_str().unwrap_or_default().to_string(),
            host_path: host.display().to_string(),
            readonly: m["readOnly"] == true,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tmp() -> Tmp {
        let p = std::env::temp_dir().join(format!(
            "labsim-vol-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }

    #[test]
    fn host_path_types() {
        let t = tmp();
        let d = t.0.join("made");
        assert!(
            host_path(d.to_str().unwrap(), "DirectoryOrCreate")
                .unwrap()
                .is_dir()
        );
        let f = t.0.join("f");
        assert!(
            host_path(f.to_str().unwrap(), "FileOrCreate")
                .unwrap()
                .is_file()
        );
        assert_eq!(
            host_path(f.to_str().unwrap(), "Directory").unwrap_err(),
            format!(
                "hostPath type check failed: {} is not a directory",
                f.display()
            )
        );
        assert_eq!(
            host_path(d.to_str().unwrap(), "File").unwrap_err(),
            format!("hostPath type check failed: {} is not a file", d.display())
        );
        assert!(host_path("/nonexistent/x", "").is_ok());
    }

    #[tokio::test]
    async fn local_volumes_and_mounts() {
        let t = tmp();
        let hp = t.0.join("data");
        let pod = json!({"metadata": {"uid": "u1", "name": "p", "namespace": "ns1", "labels": {"a": "b"}},
        "spec": {"volumes": [
            {"name": "scratch", "emptyDir": {}},
            {"name": "host", "hostPath": {"path": hp, "type": "DirectoryOrCreate"}},
            {"name": "info", "downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}, {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        ]}});
        let ctx = VolumeContext {
            root_dir: &t.0,
            client: None,
            pod_ip: "10.244.1.2",
            host_ip: "127.100.49.3",
        };
        let vols = setup(&ctx, &pod, &mut HashMap::new()).await.unwrap();
        assert!(vols["scratch"].ends_with("pods/u1/volumes/kubernetes.io~empty-dir/scratch"));
        assert!(hp.is_dir());
        assert_eq!(
            std::fs::read_to_string(vols["info"].join("ns")).unwrap(),
            "ns1"
        );
        assert_eq!(
            std::fs::read_to_string(vols["info"].join("labels")).unwrap(),
            "a=\"b\""
        );
        let c = json!({"name": "app", "volumeMounts": [{"name": "host", "mountPath": "/data", "readOnly": true}, {"name": "scratch", "mountPath": "/tmp/x", "subPath": "sub"}]});
        let m = container_mounts(&c, &vols).unwrap();
        assert_eq!(m[0].container_path, "/data");
        assert!(m[0].readonly);
        assert!(m[1].host_path.ends_with("scratch/sub"));
        let missing = json!({"name": "app", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]});
        assert!(container_mounts(&missing, &vols).is_err());
        // Without an API client a configMap volume cannot be set up, and says why.
        let cm_pod = json!({"metadata": {"uid": "u2", "namespace": "d"}, "spec": {"volumes": [{"name": "cfg", "configMap": {"name": "c"}}]}});
        let e = setup(&ctx, &cm_pod, &mut HashMap::new()).await.unwrap_err();
        assert!(
            e.starts_with(
                "MountVolume.SetUp failed for volume \"cfg\" : cannot read configmaps \"c\""
            ),
            "{e}"
        );
    }

    #[test]
    fn configmap_items_and_missing_keys() {
        let cm = json!({"data": {"a": "1", "b": "2"}});
        let items = vec![json!({"key": "a", "path": "dir/a.txt", "mode": 0o600})];
        let f = keyed_files("ConfigMap", &cm, Some(&items), 0o644, false).unwrap();
        assert_eq!(f, vec![("dir/a.txt".to_string(), b"1".to_vec(), 0o600)]);
        let bad = vec![json!({"key": "zz", "path": "z"})];
        assert_eq!(
            keyed_files("ConfigMap", &cm, Some(&bad), 0o644, false).unwrap_err(),
            "configmap references non-existent config key: zz"
        );
        let s = json!({"data": {"p": "c2VjcmV0"}});
        assert_eq!(
            keyed_files("Secret", &s, None, 0o600, false).unwrap()[0].1,
            b"secret"
        );
    }
}
