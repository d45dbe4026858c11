//! The API server while etcd is away, as kube-apiserver rides through an etcd restart: a read is
//! retried for about 2.5 s by etcd's client and then fails, a write fails, both with the
//! gRPC `Unavailable` error passed on as a 500 Status without a reason (what the real kubectl
//! prints as `Error from server: rpc error: …`); an open watch is kept and resumes from its last
//! revision once etcd is back, delivering what changed after.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use labsim::client::{Client, Config, ListParams, path};
use labsim::etcd::launch::EtcdProcess;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_with_etcds_unavailable_error_and_watches_resume() {
    let mut c = Cluster::start("1.33").await;
    let k = Client::new(&Config::from_kubeconfig(&c.kubeconfig()).unwrap()).unwrap();
    let cms = path("", "v1", "configmaps", Some("default"), None);
    c.ok(&["create", "configmap", "before", "--from-literal=a=1"]);
    let mut w = k.watch(&cms, &ListParams::default(), "0").await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.object["metadata"]["name"], "before");

    // etcd goes away.
    let config = c.etcd.as_ref().unwrap().config().clone();
    c.etcd.take();
    let refused = format!(
        "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial tcp {}:2379: connect: connection refused\"",
        c.ip
    );
    // (labsim's NamespaceLifecycle admission reads the namespace from etcd where kube-apiserver
    // uses its informer's cache, so a write here waits for the read's retries too.)
    let (code, _, err) = c.kubectl(&["create", "configmap", "during", "--from-literal=a=2"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        format!("error: failed to create configmap: {refused}")
    );
    let started = Instant::now();
    let (code, _, err) = c.kubectl(&["get", "configmap", "before"]);
    assert_eq!(code, 1);
    assert_eq!(err.trim(), format!("Error from server: {refused}"));
    assert!(
        started.elapsed() >= Duration::from_millis(2400),
        "reads are retried ~2.5 s: {:?}",
        started.elapsed()
    );
    let e = k.get(&format!("{cms}/before")).await.unwrap_err();
    assert_eq!(e.code(), Some(500));
    let labsim::client::ClientError::Api { status, .. } = e else {
        panic!("not an API error: {e}")
    };
    assert_eq!(status["message"], refused.as_str());
    assert!(status.get("reason").is_none(), "{status}");
    assert_eq!(status["status"], "Failure");

    // etcd is back (same data): the watch opened before the outage delivers what happens now.
    let log = c.dir.0.join("etcd-2.log");
    c.etcd = Some(EtcdProcess::start(config, &log).await.unwrap());
    c.ok(&["create", "configmap", "after", "--from-literal=a=3"]);
    let ev = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("the watch resumed")
        .unwrap()
        .unwrap();
    assert_eq!(
        (ev.kind.as_str(), ev.object["metadata"]["name"].as_str()),
        ("ADDED", Some("after"))
    );
    k.update(
        &format!("{cms}/after"),
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"}, "data": {"a": "4"}}),
    )
    .await
    .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ev.kind, "MODIFIED");
}
