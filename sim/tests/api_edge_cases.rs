//! Edge cases of the REST semantics: status/spec separation, dry runs, JSON patches,
//! deletecollection, malformed bodies, wrong methods, health checks, watch timeouts.

mod common;

use std::time::{Duration, Instant};

use common::Cluster;
use labsim::client::{Client, Config, ListParams, path};
use serde_json::json;

fn client(c: &Cluster) -> Client {
    Client::new(&Config::from_kubeconfig(&c.kubeconfig()).unwrap()).unwrap()
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: nginx\n        image: nginx:1.25\n";

#[tokio::test(flavor = "multi_thread")]
async fn status_and_spec_are_separate_and_dry_runs_store_nothing() {
    let c = Cluster::start("1.33").await;
    let k = client(&c);
    let f = c.dir.0.join("d.yaml");
    std::fs::write(&f, DEPLOY).unwrap();
    assert_eq!(
        c.ok(&["apply", "-f", f.to_str().unwrap(), "--dry-run=server"])
            .trim(),
        "deployment.apps/web created (server dry run)"
    );
    let deploys = path("apps", "v1", "deployments", Some("default"), None);
    assert!(
        k.get_opt(&format!("{deploys}/web"))
            .await
            .unwrap()
            .is_none(),
        "a dry run stores nothing"
    );
    c.ok(&["apply", "-f", f.to_str().unwrap()]);
    // a PUT of the main resource ignores status
    let mut d = k.get(&format!("{deploys}/web")).await.unwrap();
    d["status"] = json!({"replicas": 7, "readyReplicas": 7});
    d["spec"]["replicas"] = json!(3);
    let out = k.update(&format!("{deploys}/web"), &d).await.unwrap();
    assert_eq!(out["spec"]["replicas"], 3);
    assert!(out["status"]["replicas"].is_null(), "{}", out["status"]);
    assert_eq!(out["metadata"]["generation"], 2);
    // a PUT of status ignores spec and leaves the generation alone
    let mut d = out.clone();
    d["status"] = json!({"replicas": 3, "readyReplicas": 3, "observedGeneration": 2});
    d["spec"]["replicas"] = json!(9);
    let out = k
        .update(&format!("{deploys}/web/status"), &d)
        .await
        .unwrap();
    assert_eq!(
        (
            out["spec"]["replicas"].as_i64(),
            out["status"]["readyReplicas"].as_i64()
        ),
        (Some(3), Some(3))
    );
    assert_eq!(out["metadata"]["generation"], 2);
    let row = c.ok(&["get", "deploy", "web", "--no-headers"]);
    assert!(row.contains("3/3"), "{row}");
    // JSON patch through kubectl
    c.ok(&["patch", "deploy", "web", "--type=json", "-p", "[{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/0/image\",\"value\":\"nginx:1.27\"}]"]);
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "nginx:1.27"
    );
    let (code, _, err) = c.kubectl(&[
        "patch",
        "deploy",
        "web",
        "--type=json",
        "-p",
        "[{\"op\":\"test\",\"path\":\"/spec/replicas\",\"value\":1}]",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("Error from server (BadRequest)"), "{err}");
    // an update with a stale resourceVersion conflicts with the real message
    let mut stale = d.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let err = k
        .update(&format!("{deploys}/web"), &stale)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deletecollection_bad_bodies_methods_health_and_watch_timeouts() {
    let c = Cluster::start("1.33").await;
    let k = client(&c);
    let cms = path("", "v1", "configmaps", Some("default"), None);
    for (n, tier) in [("a", "web"), ("b", "web"), ("c", "db")] {
        k.create(&cms, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "labels": {"tier": tier}}})).await.unwrap();
    }
    let deleted = k
        .request(
            hyper::Method::DELETE,
            &format!("{cms}?labelSelector=tier%3Dweb"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(deleted["kind"], "ConfigMapList");
    assert_eq!(deleted["items"].as_array().unwrap().len(), 2);
    let left = k.list(&cms, &ListParams::default()).await.unwrap();
    assert_eq!(left["items"][0]["metadata"]["name"], "c");
    assert_eq!(left["items"].as_array().unwrap().len(), 1);
    // kubectl delete -l
    assert_eq!(
        c.ok(&["delete", "cm", "-l", "tier=db"]).trim(),
        "configmap \"c\" deleted"
    );

    // malformed bodies are 400, wrong methods 405, unknown paths 404
    let err = k
        .request(
            hyper::Method::POST,
            &cms,
            Some((b"{not json".to_vec(), "application/json")),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().contains("BadRequest")),
        (Some(400), true),
        "{err}"
    );
    let err = k
        .request(
            hyper::Method::PUT,
            &cms,
            Some((b"{}".to_vec(), "application/json")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(405));
    let err = k
        .get("/api/v1/namespaces/default/widgets")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(404));
    let err = k
        .create(
            &cms,
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(400));
    assert!(
        err.to_string()
            .contains("the kind in the data (Secret) does not match the expected kind (ConfigMap)"),
        "{err}"
    );

    // health endpoints
    let (_, out, _) = c.curl(&["-s", &format!("{}/readyz?verbose", c.server())]);
    assert!(
        out.contains("[+]ping ok\n")
            && out.contains("[+]etcd ok\n")
            && out.ends_with("readyz check passed\n"),
        "{out}"
    );
    let (_, out, _) = c.curl(&["-s", &format!("{}/livez", c.server())]);
    assert_eq!(out, "ok");

    // a watch with timeoutSeconds ends by itself
    let started = Instant::now();
    let mut w = k
        .watch(
            &cms,
            &ListParams {
                timeout_seconds: Some(1),
                ..Default::default()
            },
            "0",
        )
        .await
        .unwrap();
    while let Some(ev) = w.next().await {
        ev.unwrap();
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // with allowWatchBookmarks, etcd's progress notifications (kubeadm: every 5 s) become BOOKMARKs
    let mut w = k
        .watch(
            &cms,
            &ListParams {
                bookmarks: true,
                ..Default::default()
            },
            "0",
        )
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(12), w.next())
        .await
        .expect("a bookmark within 12 s")
        .unwrap()
        .unwrap();
    assert_eq!(ev.kind, "BOOKMARK");
    assert_eq!(ev.object["kind"], "ConfigMap");
    assert!(
        ev.object["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|r| r.parse::<i64>().is_ok())
    );
    // without it, none
    let mut w = k.watch(&cms, &ListParams::default(), "0").await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(7), w.next())
            .await
            .is_err(),
        "no events and no bookmarks"
    );
    // version is never cached by the kubectl dispatcher
    let (_, headers, _) = c.curl(&[
        "-s",
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("{}/version", c.server()),
    ]);
    assert!(
        headers
            .to_lowercase()
            .contains("cache-control: no-cache, private"),
        "{headers}"
    );
}
