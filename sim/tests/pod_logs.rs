//! `kubectl logs` through labsim's API server to a kubelet's `/containerLogs` endpoint. The kubelet
//! is built later by others; here a small fake kubelet serves the endpoint with mutual TLS and checks
//! that the API server presents its `apiserver-kubelet-client` certificate.

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::Cluster;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper_util::rt::TokioIo;

/// A fake kubelet on `ip:10250`; records the request paths it served. Aborted on drop.
struct FakeKubelet {
    task: tokio::task::JoinHandle<()>,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The real kubelet's error answers (pkg/kubelet/server/server.go `getContainerLogs`): 400 with
/// the runtime's text and no newline, 404 with one.
fn kubelet_error(path: &str) -> Option<(u16, &'static str)> {
    match path {
        "/containerLogs/default/waiting/app" => Some((
            400,
            "container \"app\" in pod \"waiting\" is waiting to start: ContainerCreating",
        )),
        "/containerLogs/default/gone/app" => Some((404, "pod \"gone\" does not exist\n")),
        "/containerLogs/default/broken/app" => Some((500, "runtime exploded")),
        _ => None,
    }
}

async fn fake_kubelet(c: &Cluster) -> FakeKubelet {
    let pki = c.dir.0.join("pki");
    let ca = labsim::pki::Ca::load(&pki, "ca").unwrap();
    let serving = ca
        .issue(&labsim::pki::CertSpec::server(
            "minikube-m02",
            &["minikube-m02"],
            &[c.ip],
        ))
        .unwrap();
    let tls =
        labsim::pki::tls::server_config(&serving.cert_pem, &serving.key_pem, Some(ca.cert_pem()))
            .unwrap();
    let listener = tokio::net::TcpListener::bind((c.ip, 10250)).await.unwrap();
    let seen = Arc::new(Mutex::new(vec![]));
    let seen2 = seen.clone();
    let task = tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let user = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|d| labsim::pki::cert_user(d).ok())
                    .map(|u| u.0)
                    .unwrap_or_default();
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        let user = user.clone();
                        async move {
                            let pq = req
                                .uri()
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default();
                            seen.lock().unwrap().push((user.clone(), pq.clone()));
                            let full =
                                |s: &'static str| -> BoxBody<Bytes, std::convert::Infallible> {
                                    Full::new(Bytes::from(s)).boxed()
                                };
                            let body = if user != "kube-apiserver-kubelet-client" {
                                return Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .status(401)
                                        .body(full("Unauthorized"))
                                        .unwrap(),
                                );
                            } else if let Some((code, text)) = kubelet_error(&pq) {
                                return Ok(hyper::Response::builder()
                                    .status(code)
                                    .header("content-type", "text/plain; charset=utf-8")
                                    .body(full(text))
                                    .unwrap());
                            } else if pq.contains("follow=true") {
                                // one line every 300 ms, three times, then the container "exits"
                                let s = futures::stream::unfold(0u32, |i| async move {
                                    if i == 3 {
                                        return None;
                                    }
                                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                                    let frame = hyper::body::Frame::data(Bytes::from(format!(
                                        "tick {i}\n"
                                    )));
                                    Some((Ok::<_, std::convert::Infallible>(frame), i + 1))
                                });
                                StreamBody::new(s).boxed()
                            } else if pq.contains("tailLines=2") {
                                full("line2\nline3\n")
                            } else {
                                full("line1\nline2\nline3\n")
                            };
                            Ok(hyper::Response::builder()
                                .header("content-type", "text/plain")
                                .body(body)
                                .unwrap())
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    FakeKubelet { task, seen }
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_logs_goes_through_the_kubelet() {
    let c = Cluster::start("1.33").await;
    let kubelet = fake_kubelet(&c).await;
    c.apply(&format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: minikube-m02\nstatus:\n  addresses:\n  - type: InternalIP\n    address: {}\n  daemonEndpoints:\n    kubeletEndpoint:\n      Port: 10250\n", c.ip));
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n");
    c.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  nodeName: minikube-m02\n  containers:\n  - name: app\n    image: podinfo\n");
    assert_eq!(c.ok(&["logs", "web"]), "line1\nline2\nline3\n");
    assert_eq!(c.ok(&["logs", "web", "--tail=2"]), "line2\nline3\n");
    let seen = kubelet.seen.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        (
            "kube-apiserver-kubelet-client".to_string(),
            "/containerLogs/default/web/app".to_string()
        )
    );
    assert_eq!(seen[1].1, "/containerLogs/default/web/app?tailLines=2");
    // the same through kubectl proxy's path, as the chapter's challenge asks, with curl and a client cert
    let p = c.dir.0.join("pki");
    let ca = labsim::pki::Ca::load(&p, "ca").unwrap();
    let admin = ca
        .issue(&labsim::pki::CertSpec::client("admin", &["system:masters"]))
        .unwrap();
    admin.write(&c.dir.0, "curl-admin").unwrap();
    let (code, out, _) = c.curl(&[
        "-s",
        "--cert",
        c.dir.0.join("curl-admin.crt").to_str().unwrap(),
        "--key",
        c.dir.0.join("curl-admin.key").to_str().unwrap(),
        &format!("{}/api/v1/namespaces/default/pods/web/log", c.server()),
    ]);
    assert_eq!((code, out.as_str()), (0, "line1\nline2\nline3\n"));
    // an unscheduled pod has no kubelet to ask
    c.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: pending\nspec:\n  containers:\n  - name: app\n    image: podinfo\n");
    let (code, _, err) = c.kubectl(&["logs", "pending"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("pod pending does not have a host assigned"),
        "{err}"
    );
    // The kubelet's errors become Statuses as kube-apiserver makes them (response_checker.go).
    for pod in ["waiting", "gone", "broken"] {
        c.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n  nodeName: minikube-m02\n  containers:\n  - name: app\n    image: podinfo\n"));
    }
    let (code, out, err) = c.kubectl(&["logs", "waiting"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (
            1,
            "",
            "Error from server (BadRequest): container \"app\" in pod \"waiting\" is waiting to start: ContainerCreating\n"
        )
    );
    let (code, _, err) = c.kubectl(&["logs", "gone"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error from server (NotFound): the server could not find the requested resource ( pods/log gone)\n"
    );
    let (code, _, err) = c.kubectl(&["logs", "broken"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "Error from server (InternalError): Internal error occurred: runtime exploded\n"
    );
    // several containers need -c
    c.apply("apiVersion: v1\nkind: Pod\nmetadata:\n  name: two\nspec:\n  nodeName: minikube-m02\n  containers:\n  - name: a\n    image: podinfo\n  - name: b\n    image: podinfo\n");
    let (_, out, _) = c.curl(&[
        "-s",
        "--cert",
        c.dir.0.join("curl-admin.crt").to_str().unwrap(),
        "--key",
        c.dir.0.join("curl-admin.key").to_str().unwrap(),
        &format!("{}/api/v1/namespaces/default/pods/two/log", c.server()),
    ]);
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        st["message"],
        "a container name must be specified for pod two, choose one of: [a b]"
    );
    assert_eq!(c.ok(&["logs", "two", "-c", "b"]), "line1\nline2\nline3\n");
    // -f streams: the first line arrives long before the stream ends
    let mut child = std::process::Command::new("/usr/bin/kubectl")
        .args(["logs", "-f", "web"])
        .env("KUBECONFIG", c.kubeconfig())
        .env("KUBECACHEDIR", c.dir.0.join("kube-cache"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    let first_at = started.elapsed();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(
        format!("{first}{rest}"),
        "tick 0\ntick 1\ntick 2\n",
        "{:?}",
        kubelet.seen.lock().unwrap()
    );
    assert!(
        started.elapsed() - first_at >= std::time::Duration::from_millis(500),
        "lines were not streamed"
    );
    assert!(
        kubelet
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, p)| p == "/containerLogs/default/web/app?follow=true")
    );
}
