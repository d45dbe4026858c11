//! The kubelet's servers (pkg/kubelet/server/server.go):
//! - `https://<address>:10250` with the serving certificate: `/healthz`, `/pods`, and
//!   `/containerLogs/<ns>/<pod>/<container>` with `follow`, `tailLines`, `timestamps`,
//!   `sinceSeconds`, `sinceTime`, `limitBytes`, `previous` (what the API server's `pods/log`
//!   proxies to). Clients authenticate with certificates signed by `clientCAFile` (anonymous
//!   requests get 401 unless anonymous auth is on) and are authorized by `authorization.mode`:
//!   `Webhook` asks the API server with a SubjectAccessReview (`get nodes/proxy`), cached 5 min
//!   when allowed and 30 s when denied, as the kubelet's webhook authorizer does;
//! - `http://<healthzBindAddress>:10248/healthz` → `ok` (kubeadm's kubelet-check), with
//!   `127.0.0.1` replaced by the node IP (docs/labsim.md, "127.0.0.1 listeners").

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::{Kubelet, KubeletError};
use crate::apiserver::http::{Body, full, query, text};
use crate::cli::crictl::parse_cri_log;
use crate::runtime::cri::{ContainerState, Reply, Request};

fn listen_ip(k: &Kubelet, configured: &str) -> IpAddr {
    match configured.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() || ip.is_unspecified() => IpAddr::V4(k.node_ip),
        Ok(ip) => ip,
        Err(_) => IpAddr::V4(k.node_ip),
    }
}

/// Starts both servers.
///
/// # Errors
/// [`KubeletError::Listen`] when a port is taken, [`KubeletError::Other`] for TLS set-up.
pub async fn start(k: Arc<Kubelet>) -> Result<(), KubeletError> {
    if k.cfg.healthz_port != 0 {
        let addr = SocketAddr::new(
            listen_ip(&k, &k.cfg.healthz_bind_address),
            k.cfg.healthz_port,
        );
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| KubeletError::Listen(format!("listen tcp {addr}: bind: {e}")))?;
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        |req: hyper::Request<hyper::body::Incoming>| async move {
                            let r = if req.uri().path() == "/healthz" {
                                text(200, "ok")
                            } else {
                                text(404, "404 page not found\n")
                            };
                            Ok::<_, std::convert::Infallible>(r)
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
    }
    let ips = [IpAddr::V4(k.node_ip)];
    let (cert, key) = super::bootstrap::serving_cert(
        k.cfg.tls_cert_file.as_deref(),
        k.cfg.tls_private_key_file.as_deref(),
        &k.cfg.cert_dir,
        &k.node_name,
        &ips,
    )
    .map_err(|e| KubeletError::Other(e.to_string()))?;
    let client_ca = match &k.cfg.client_ca_file {
        Some(p) => Some(crate::pki::read_string(p).map_err(|e| {
            KubeletError::Other(format!(
                "unable to load client CA file {}: {e}",
                p.display()
            ))
        })?),
        None => None,
    };
    let tls = crate::pki::tls::server_config(&cert, &key, client_ca.as_deref())
        .map_err(|e| KubeletError::Other(e.to_string()))?;
    let addr = SocketAddr::new(listen_ip(&k, &k.cfg.address), k.cfg.port);
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| KubeletError::Listen(format!("listen tcp {addr}: bind: {e}")))?;
    k.log.info(
        "server.go:163",
        "Starting to listen",
        &[
            ("address", super::klog::Kv::S(addr.ip().to_string())),
            ("port", super::klog::Kv::Raw(addr.port().to_string())),
        ],
    );
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let authz = Arc::new(Mutex::new(HashMap::<String, (bool, Instant)>::new()));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                continue;
            };
            let (k, acceptor, authz) = (k.clone(), acceptor.clone(), authz.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let user = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|der| crate::pki::cert_user(der).ok());
                let svc = hyper::service::service_fn(move |req| {
                    let (k, user, authz) = (k.clone(), user.clone(), authz.clone());
                    async move { Ok::<_, std::convert::Infallible>(handle(k, user, authz, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(())
}

async fn authorized(
    k: &Kubelet,
    user: &(String, Vec<String>),
    cache: &Mutex<HashMap<String, (bool, Instant)>>,
) -> bool {
    if k.cfg.authorization_mode == "AlwaysAllow" {
        return true;
    }
    let key = format!("{}|{}", user.0, user.1.join(","));
    if let Some((allowed, at)) = cache.lock().expect("lock").get(&key).copied() {
        let ttl = if allowed {
            Duration::from_secs(300)
        } else {
            Duration::from_secs(30)
        };
        if at.elapsed() < ttl {
            return allowed;
        }
    }
    let Some(client) = &k.client else {
        return false;
    };
    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user.0, "groups": user.1,
                 "resourceAttributes": {"verb": "get", "resource": "nodes", "subresource": "proxy", "name": k.node_name, "version": "v1"}}});
    let allowed = match client
        .create("/apis/authorization.k8s.io/v1/subjectaccessreviews", &sar)
        .await
    {
        Ok(r) => r["status"]["allowed"] == true,
        Err(_) => return false,
    };
    cache
        .lock()
        .expect("lock")
        .insert(key, (allowed, Instant::now()));
    allowed
}

async fn handle(
    k: Arc<Kubelet>,
    user: Option<(String, Vec<String>)>,
    authz: Arc<Mutex<HashMap<String, (bool, Instant)>>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return text(200, "ok");
    }
    let user = match user {
        Some(u) => u,
        None if k.cfg.anonymous_auth => (
            "system:anonymous".into(),
            vec!["system:unauthenticated".into()],
        ),
        None => return text(401, "Unauthorized"),
    };
    if !authorized(&k, &user, &authz).await {
        return text(
            403,
            format!(
                "Forbidden (user={}, verb=get, resource=nodes, subresource=proxy)",
                user.0
            ),
        );
    }
    let q = query(req.uri().query());
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["pods"] => {
            let items: Vec<Value> = k
                .pods
                .lock()
                .expect("lock")
                .values()
                .map(|e| e.pod.clone())
                .collect();
            let body =
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items});
            Response::builder()
                .header("content-type", "application/json")
                .body(full(serde_json::to_vec(&body).unwrap_or_default()))
                .expect("valid response")
        }
        ["containerLogs", ns, pod, container] => container_logs(&k, ns, pod, container, &q).await,
        _ => text(404, "404 page not found\n"),
    }
}

/// `validateContainerLogStatus`: which container's log to read, from the pod's status.
///
/// # Errors
/// The kubelet's texts (`container "x" in pod "y" is waiting to start: …`, …).
pub fn log_container_id(
    status: &Value,
    container: &str,
    pod: &str,
    previous: bool,
) -> Result<String, String> {
    let st = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| status[*k].as_array())
        .flatten()
        .find(|s| s["name"] == container)
        .cloned()
        .ok_or_else(|| {
            format!("container {container:?} in pod {pod:?} is waiting to start - no logs yet")
        })?;
    let id = |v: &Value| {
        v["containerID"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_start_matches("containerd://").to_string())
    };
    let last = &st["lastState"]["terminated"];
    if previous {
        return id(last).ok_or_else(|| {
            format!("previous terminated container {container:?} in pod {pod:?} not found")
        });
    }
    let state = &st["state"];
    if state["running"].is_object() {
        return st["containerID"]
            .as_str()
            .map(|s| s.trim_start_matches("containerd://").to_string())
            .ok_or_else(|| {
                format!("container {container:?} in pod {pod:?} is waiting to start - no logs yet")
            });
    }
    if state["terminated"].is_object() {
        return id(&state["terminated"])
            .or_else(|| id(last))
            .ok_or_else(|| format!("container {container:?} in pod {pod:?} is terminated"));
    }
    if last.is_object() {
        return id(last)
            .ok_or_else(|| format!("container {container:?} in pod {pod:?} is terminated"));
    }
    match state["waiting"]["reason"].as_str() {
        Some("ErrImagePull") => Err(format!(
            "container {container:?} in pod {pod:?} is waiting to start: image can't be pulled"
        )),
        Some("ImagePullBackOff") => Err(format!(
            "container {container:?} in pod {pod:?} is waiting to start: trying and failing to pull image"
        )),
        Some(r) => Err(format!(
            "container {container:?} in pod {pod:?} is waiting to start: {r}"
        )),
        None => Err(format!(
            "container {container:?} in pod {pod:?} is waiting to start - no logs yet"
        )),
    }
}

fn render(records: &[crate::cli::crictl::LogRecord], timestamps: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        if timestamps {
            out.extend_from_slice(r.time.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(r.text.as_bytes());
        out.push(b'\n');
    }
    out
}

async fn container_logs(
    k: &Arc<Kubelet>,
    ns: &str,
    pod_name: &str,
    container: &str,
    q: &HashMap<String, String>,
) -> Response<Body> {
    let entry = k
        .pods
        .lock()
        .expect("lock")
        .values()
        .find(|e| e.pod["metadata"]["namespace"] == ns && e.pod["metadata"]["name"] == pod_name)
        .cloned();
    let Some(entry) = entry else {
        return text(404, format!("pod {pod_name:?} does not exist\n"));
    };
    let in_spec = ["containers", "initContainers"].iter().any(|l| {
        entry.pod["spec"][*l]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["name"] == container))
    });
    if !in_spec {
        return text(
            404,
            format!("container {container:?} not found in pod {pod_name:?}\n"),
        );
    }
    let previous = q.get("previous").is_some_and(|v| v == "true");
    let id = match log_container_id(&entry.pod["status"], container, pod_name, previous) {
        Ok(id) => id,
        // GetKubeletContainerLogs' error, written with go-restful's WriteError: no newline
        // (pkg/kubelet/server/server.go `getContainerLogs`).
        Err(e) => return text(400, e),
    };
    let c = match k
        .runtime
        .call(Request::ContainerStatus { id: id.clone() })
        .await
    {
        Ok(Reply::Container(c)) => c,
        _ => {
            return text(
                400,
                format!("container {container:?} in pod {pod_name:?} is terminated"),
            );
        }
    };
    let timestamps = q.get("timestamps").is_some_and(|v| v == "true");
    let follow = q.get("follow").is_some_and(|v| v == "true");
    let tail = q
        .get("tailLines")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n >= 0);
    let limit = q.get("limitBytes").and_then(|v| v.parse::<usize>().ok());
    let now = crate::runtime::now_ns();
    let since_ns = q
        .get("sinceSeconds")
        .and_then(|s| s.parse::<i64>().ok())
        .map(|s| now - s * 1_000_000_000)
        .or_else(|| {
            q.get("sinceTime")
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_nanosecond() as i64)
        });
    let text_now = std::fs::read_to_string(&c.log_path).unwrap_or_default();
    let consumed = text_now.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let mut records = parse_cri_log(&text_now[..consumed]);
    if let Some(s) = since_ns {
        records.retain(|r| {
            r.time
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_nanosecond() as i64 >= s)
                .unwrap_or(true)
        });
    }
    if let Some(n) = tail {
        let skip = records.len().saturating_sub(n as usize);
        records.drain(..skip);
    }
    let mut head = render(&records, timestamps);
    if let Some(l) = limit {
        head.truncate(l);
    }
    if !follow || c.state != ContainerState::Running {
        return Response::builder()
            .header("content-type", "text/plain")
            .body(full(head))
            .expect("valid response");
    }
    // Follow: stream new records until the container stops (kuberuntime/logs ReadLogs).
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, std::io::Error>>(16);
    let k2 = k.clone();
    let path = c.log_path.clone();
    tokio::spawn(async move {
        if tx
            .send(Ok(hyper::body::Frame::data(Bytes::from(head))))
            .await
            .is_err()
        {
            return;
        }
        let mut offset = consumed;
        loop {
            let data = std::fs::read(&path).unwrap_or_default();
            if data.len() > offset {
                let chunk = &data[offset..];
                if let Some(end) = chunk.iter().rposition(|b| *b == b'\n') {
                    let complete = String::from_utf8_lossy(&chunk[..=end]).into_owned();
                    offset += end + 1;
                    let out = render(&parse_cri_log(&complete), timestamps);
                    if tx
                        .send(Ok(hyper::body::Frame::data(Bytes::from(out))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
            }
            let running = matches!(
                k2.runtime.call(Request::ContainerStatus { id: id.clone() }).await,
                Ok(Reply::Container(ref s)) if s.state == ContainerState::Running
            );
            if !running {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    Response::builder()
        .header("content-type", "text/plain")
        .body(StreamBody::new(stream).boxed())
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_log_to_read() {
        let running = json!({"containerStatuses": [{"name": "app", "containerID": "containerd://new",
            "state": {"running": {}}, "lastState": {"terminated": {"containerID": "containerd://old", "exitCode": 137}}}]});
        assert_eq!(
            log_container_id(&running, "app", "p", false).unwrap(),
            "new"
        );
        assert_eq!(log_container_id(&running, "app", "p", true).unwrap(), "old");
        let fresh = json!({"containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}]});
        assert_eq!(
            log_container_id(&fresh, "app", "p", false).unwrap_err(),
            "container \"app\" in pod \"p\" is waiting to start: ContainerCreating"
        );
        assert_eq!(
            log_container_id(&fresh, "app", "p", true).unwrap_err(),
            "previous terminated container \"app\" in pod \"p\" not found"
        );
        let pull = json!({"containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}, "lastState": {}}]});
        assert_eq!(
            log_container_id(&pull, "app", "p", false).unwrap_err(),
            "container \"app\" in pod \"p\" is waiting to start: trying and failing to pull image"
        );
        let crash = json!({"containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"containerID": "containerd://old"}}}]});
        assert_eq!(log_container_id(&crash, "app", "p", false).unwrap(), "old");
    }
}
