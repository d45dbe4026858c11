//! Kubernetes semantics of labsim's API server, exercised with labsim's own client and checked with
//! the real kubectl where its output depends on them: graceful pod deletion, namespace termination,
//! finalizers and propagation, watches with selectors, bindings, CSR approval, events, services.

mod common;

use std::time::Duration;

use common::Cluster;
use labsim::client::{Client, Config, ListParams, PatchType, WatchStream, path};
use serde_json::{Value, json};

fn client(c: &Cluster) -> Client {
    Client::new(&Config::from_kubeconfig(&c.kubeconfig()).unwrap()).unwrap()
}

fn pod(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "app", "image": "podinfo"}]}})
}

async fn next(w: &mut WatchStream) -> (String, Value) {
    let ev = tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("a watch event within 10 s")
        .expect("the watch is open")
        .expect("a valid event");
    (ev.kind, ev.object)
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_bind_delete_gracefully_and_watch_with_selectors() {
    let c = Cluster::start("1.33").await;
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n");
    let k = client(&c);
    let pods = path("", "v1", "pods", Some("default"), None);
    // a watch on app=hello from "now" (resourceVersion of an empty list)
    let list = k.list(&pods, &ListParams::default()).await.unwrap();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let sel = ListParams {
        label_selector: Some("app=hello".into()),
        ..Default::default()
    };
    let mut w = k.watch(&pods, &sel, &rv).await.unwrap();
    k.create(&pods, &pod("other", json!({"app": "other"})))
        .await
        .unwrap();
    k.create(&pods, &pod("p1", json!({"app": "hello"})))
        .await
        .unwrap();
    let (t, o) = next(&mut w).await;
    assert_eq!(
        (t.as_str(), o["metadata"]["name"].as_str()),
        ("ADDED", Some("p1")),
        "the other pod is filtered out"
    );
    // moving into the selector is ADDED, out of it DELETED
    k.patch(
        &format!("{pods}/other"),
        PatchType::Merge,
        &json!({"metadata": {"labels": {"app": "hello"}}}),
    )
    .await
    .unwrap();
    assert_eq!(next(&mut w).await.0, "ADDED");
    k.patch(
        &format!("{pods}/other"),
        PatchType::Merge,
        &json!({"metadata": {"labels": {"app": "gone"}}}),
    )
    .await
    .unwrap();
    let (t, o) = next(&mut w).await;
    assert_eq!(
        (t.as_str(), o["metadata"]["name"].as_str()),
        ("DELETED", Some("other"))
    );

    // the scheduler's binding: once, with PodScheduled
    k.create(&format!("{pods}/p1/binding"), &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p1"}, "target": {"kind": "Node", "name": "w1"}})).await.unwrap();
    let bound = k.get(&format!("{pods}/p1")).await.unwrap();
    assert_eq!(bound["spec"]["nodeName"], "w1");
    assert_eq!(bound["status"]["conditions"][0]["type"], "PodScheduled");
    let err = k.create(&format!("{pods}/p1/binding"), &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p1"}, "target": {"kind": "Node", "name": "w2"}})).await.unwrap_err();
    assert!(
        err.is_conflict()
            && err
                .to_string()
                .contains("is already assigned to node \"w1\""),
        "{err}"
    );
    assert_eq!(next(&mut w).await.0, "MODIFIED");
    // field selectors as the kubelet uses them
    let on_w1 = k
        .list(
            &pods,
            &ListParams {
                field_selector: Some("spec.nodeName=w1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(on_w1["items"].as_array().unwrap().len(), 1);

    // a scheduled pod is deleted gracefully: it stays, Terminating, until deleted with grace 0
    let d = k.delete(&format!("{pods}/p1"), &json!({})).await.unwrap();
    assert_eq!(d["metadata"]["deletionGracePeriodSeconds"], 30);
    assert!(d["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(next(&mut w).await.0, "MODIFIED");
    let table = c.ok(&["get", "pod", "p1"]);
    assert!(
        table.lines().nth(1).unwrap().contains("Terminating"),
        "{table}"
    );
    // The kubelet's final delete with grace 0: kube-apiserver writes the shortened grace period
    // (MODIFIED, its deletionTimestamp moved back by the 30 s it no longer waits) and then removes
    // the pod (DELETED); the response and the DELETED object carry grace 0.
    let requested = d["metadata"]["deletionTimestamp"]
        .as_str()
        .unwrap()
        .to_string();
    let gone = k
        .delete(&format!("{pods}/p1"), &json!({"gracePeriodSeconds": 0}))
        .await
        .unwrap();
    assert_eq!(gone["metadata"]["deletionGracePeriodSeconds"], 0);
    let (t, o) = next(&mut w).await;
    assert_eq!(
        (
            t.as_str(),
            o["metadata"]["deletionGracePeriodSeconds"].as_i64()
        ),
        ("MODIFIED", Some(0))
    );
    let moved: jiff::Timestamp = o["metadata"]["deletionTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let requested: jiff::Timestamp = requested.parse().unwrap();
    assert_eq!(requested.duration_since(moved).as_secs(), 30);
    let (t, o) = next(&mut w).await;
    assert_eq!(
        (
            t.as_str(),
            o["metadata"]["name"].as_str(),
            o["metadata"]["deletionGracePeriodSeconds"].as_i64()
        ),
        ("DELETED", Some("p1"), Some(0))
    );
    assert!(k.get_opt(&format!("{pods}/p1")).await.unwrap().is_none());
    // an unscheduled pod goes at once
    k.delete(&format!("{pods}/other"), &json!({}))
        .await
        .unwrap();
    assert!(k.get_opt(&format!("{pods}/other")).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn namespaces_terminate_and_finalizers_hold_objects() {
    let c = Cluster::start("1.33").await;
    let k = client(&c);
    let nss = path("", "v1", "namespaces", None, None);
    k.create(
        &nss,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
    )
    .await
    .unwrap();
    let ns = k.get(&format!("{nss}/demo")).await.unwrap();
    assert_eq!(
        ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "demo"
    );
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    k.delete(&format!("{nss}/demo"), &json!({})).await.unwrap();
    assert_eq!(
        c.ok(&["get", "ns", "demo", "-o", "jsonpath={.status.phase}"]),
        "Terminating"
    );
    // no new content in a terminating namespace
    let cms = path("", "v1", "configmaps", Some("demo"), None);
    let err = k
        .create(
            &cms,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(403));
    assert!(
        err.to_string().contains(
            "unable to create new content in namespace demo because it is being terminated"
        ),
        "{err}"
    );
    // the namespace controller's finalize call releases it
    let mut ns = k.get(&format!("{nss}/demo")).await.unwrap();
    ns["spec"]["finalizers"] = json!([]);
    k.update(&format!("{nss}/demo/finalize"), &ns)
        .await
        .unwrap();
    assert!(k.get_opt(&format!("{nss}/demo")).await.unwrap().is_none());
    // system namespaces cannot be deleted
    let (code, _, err) = c.kubectl(&["delete", "ns", "kube-system"]);
    assert_eq!(code, 1);
    assert!(err.contains("Error from server (Forbidden): namespaces \"kube-system\" is forbidden: this namespace may not be deleted"), "{err}");

    // foreground deletion leaves the object with the foregroundDeletion finalizer for the GC
    let cms = path("", "v1", "configmaps", Some("default"), None);
    k.create(
        &cms,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fg"}}),
    )
    .await
    .unwrap();
    let d = k
        .delete(
            &format!("{cms}/fg"),
            &json!({"propagationPolicy": "Foreground"}),
        )
        .await
        .unwrap();
    assert_eq!(d["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    assert!(d["metadata"]["deletionTimestamp"].is_string());
    k.patch(
        &format!("{cms}/fg"),
        PatchType::Merge,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await
    .unwrap();
    assert!(
        k.get_opt(&format!("{cms}/fg")).await.unwrap().is_none(),
        "removing the last finalizer deletes it"
    );
    // background deletion of an object without finalizers answers a Success Status
    k.create(
        &cms,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bg"}}),
    )
    .await
    .unwrap();
    let st = k
        .delete(
            &format!("{cms}/bg"),
            &json!({"propagationPolicy": "Background"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            st["kind"].as_str(),
            st["status"].as_str(),
            st["details"]["name"].as_str()
        ),
        (Some("Status"), Some("Success"), Some("bg"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn services_csrs_events_and_generate_name() {
    let c = Cluster::start("1.33").await;
    let k = client(&c);
    let svcs = path("", "v1", "services", Some("default"), None);
    let svc = k
        .create(&svcs, &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hello"}, "spec": {"type": "NodePort", "selector": {"app": "hello"}, "ports": [{"port": 80, "targetPort": 9898}]}}))
        .await
        .unwrap();
    let ip: std::net::Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
    let o = ip.octets();
    assert!(
        o[0] == 10 && (96..112).contains(&o[1]),
        "{ip} is in 10.96.0.0/12"
    );
    assert_eq!(svc["spec"]["clusterIPs"], json!([ip.to_string()]));
    let np = svc["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&np));
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
    // a ClusterIP service turned into a NodePort one gets a node port; back to ClusterIP drops it
    k.create(&svcs, &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "flip"}, "spec": {"ports": [{"port": 80}]}})).await.unwrap();
    let flipped = k
        .patch(
            &format!("{svcs}/flip"),
            PatchType::Merge,
            &json!({"spec": {"type": "NodePort"}}),
        )
        .await
        .unwrap();
    let flip_port = flipped["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&flip_port) && flip_port != np);
    let back = k
        .patch(
            &format!("{svcs}/flip"),
            PatchType::Merge,
            &json!({"spec": {"type": "ClusterIP"}}),
        )
        .await
        .unwrap();
    assert!(back["spec"]["ports"][0]["nodePort"].is_null());
    assert_eq!(back["spec"]["clusterIP"], flipped["spec"]["clusterIP"]);
    // an explicit IP that is taken is refused
    let err = k
        .create(&svcs, &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dup"}, "spec": {"clusterIP": ip.to_string(), "ports": [{"port": 80}]}}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(422));
    assert!(
        err.to_string().contains("provided IP is already allocated"),
        "{err}"
    );
    // its IP is released with it
    k.delete(&format!("{svcs}/hello"), &json!({}))
        .await
        .unwrap();
    k.create(&svcs, &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dup"}, "spec": {"clusterIP": ip.to_string(), "ports": [{"port": 80}]}})).await.unwrap();
    let svc_row = c.ok(&["get", "svc", "dup"]);
    assert!(
        svc_row.contains(&ip.to_string()) && svc_row.contains("80/TCP"),
        "{svc_row}"
    );

    // CSRs: approval then the signer's status update
    let csrs = path(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        None,
        None,
    );
    let (csr_pem, _key) = labsim::pki::new_csr(&labsim::pki::CertSpec::client(
        "system:node:w1",
        &["system:nodes"],
    ))
    .unwrap();
    use base64::Engine;
    let req = base64::engine::general_purpose::STANDARD.encode(&csr_pem);
    k.create(&csrs, &json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"generateName": "csr-"},
        "spec": {"request": req, "signerName": "kubernetes.io/kube-apiserver-client-kubelet", "usages": ["digital signature", "client auth"], "username": "system:bootstrap:abcdef"}}))
        .await
        .unwrap();
    let listed = k
        .list(
            &csrs,
            &ListParams {
                field_selector: Some(
                    "spec.signerName=kubernetes.io/kube-apiserver-client-kubelet".into(),
                ),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let name = listed["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(name.starts_with("csr-") && name.len() == 9, "{name}");
    let rows = c.ok(&["get", "csr"]);
    // the requester is whoever sent it (here the admin), whatever the body claimed
    assert!(
        rows.contains("Pending") && rows.contains("kubernetes-admin"),
        "{rows}"
    );
    let csr0 = k.get(&format!("{csrs}/{name}")).await.unwrap();
    assert_eq!(
        csr0["spec"]["groups"],
        json!(["kubeadm:cluster-admins", "system:authenticated"])
    );
    let err = k.create(&csrs, &json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": "bad"}, "spec": {"request": "bm90IGEgcGVt", "signerName": "kubernetes.io/kube-apiserver-client"}})).await.unwrap_err();
    assert_eq!(err.code(), Some(422), "{err}");
    let mut csr = k.get(&format!("{csrs}/{name}")).await.unwrap();
    csr["status"]["conditions"] = json!([{"type": "Approved", "status": "True", "reason": "AutoApproved", "message": "Auto approving kubelet client certificate after SubjectAccessReview."}]);
    k.update(&format!("{csrs}/{name}/approval"), &csr)
        .await
        .unwrap();
    let ca = labsim::pki::Ca::load(&c.dir.0.join("pki"), "ca").unwrap();
    let cert = ca
        .sign_csr(&csr_pem, labsim::pki::Usage::Client, 365)
        .unwrap();
    let mut csr = k.get(&format!("{csrs}/{name}")).await.unwrap();
    csr["status"]["certificate"] = json!(base64::engine::general_purpose::STANDARD.encode(cert));
    k.update(&format!("{csrs}/{name}/status"), &csr)
        .await
        .unwrap();
    let rows = c.ok(&["get", "csr"]);
    assert!(rows.contains("Approved,Issued"), "{rows}");

    // events: the table and describe's event list
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n");
    let pods = path("", "v1", "pods", Some("default"), None);
    let p = k.create(&pods, &pod("web", json!({}))).await.unwrap();
    let evs = path("", "v1", "events", Some("default"), None);
    let now = labsim::apiserver::meta::now_rfc3339();
    k.create(&evs, &json!({"apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "web."},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": p["metadata"]["uid"], "apiVersion": "v1"},
        "reason": "Scheduled", "message": "Successfully assigned default/web to w1", "type": "Normal",
        "source": {"component": "default-scheduler"}, "firstTimestamp": now, "lastTimestamp": now, "count": 1}))
        .await
        .unwrap();
    // events are written with an etcd lease (--event-ttl) so they expire
    let ev_name =
        k.list(&evs, &ListParams::default()).await.unwrap()["items"][0]["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
    let etcd = c.etcd.as_ref().unwrap().config().client().unwrap();
    let (_, kv) = etcd
        .get(&format!("/registry/events/default/{ev_name}"))
        .await
        .unwrap();
    assert_ne!(kv.unwrap().lease, 0, "events carry a lease");
    let (_, kv) = etcd.get("/registry/pods/default/web").await.unwrap();
    assert_eq!(kv.unwrap().lease, 0, "other objects do not");
    let table = c.ok(&["get", "events"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert!(
        table.contains("pod/web") && table.contains("Successfully assigned default/web to w1"),
        "{table}"
    );
    let d = c.ok(&["describe", "pod", "web"]);
    assert!(
        d.contains("Normal  Scheduled")
            && d.contains("default-scheduler  Successfully assigned default/web to w1"),
        "{d}"
    );
    // events.k8s.io/v1 sees the same event in its own shape
    let v1 = k
        .list(
            &path("events.k8s.io", "v1", "events", Some("default"), None),
            &ListParams::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        v1["items"][0]["note"],
        "Successfully assigned default/web to w1"
    );
    assert_eq!(v1["items"][0]["regarding"]["name"], "web");
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_page_with_limit_and_continue() {
    let c = Cluster::start("1.33").await;
    let k = client(&c);
    let cms = path("", "v1", "configmaps", Some("default"), None);
    for i in 0..5 {
        let labels = if i % 2 == 0 {
            json!({"even": "yes"})
        } else {
            json!({})
        };
        k.create(&cms, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm{i}"), "labels": labels}})).await.unwrap();
    }
    let page = k.get(&format!("{cms}?limit=2")).await.unwrap();
    let names = |l: &Value| -> Vec<String> {
        l["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&page), ["cm0", "cm1"]);
    assert_eq!(page["metadata"]["remainingItemCount"], 3);
    let rv = page["metadata"]["resourceVersion"].clone();
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    // changes after the first page are not seen by later pages (same revision)
    k.create(
        &cms,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm9"}}),
    )
    .await
    .unwrap();
    let page2 = k
        .get(&format!("{cms}?limit=2&continue={token}"))
        .await
        .unwrap();
    assert_eq!(names(&page2), ["cm2", "cm3"]);
    assert_eq!(page2["metadata"]["resourceVersion"], rv);
    let token = page2["metadata"]["continue"].as_str().unwrap().to_string();
    let page3 = k
        .get(&format!("{cms}?limit=2&continue={token}"))
        .await
        .unwrap();
    assert_eq!(names(&page3), ["cm4"]);
    assert!(page3["metadata"]["continue"].is_null());
    // selectors fill pages from further keys
    let even = k
        .get(&format!("{cms}?limit=2&labelSelector=even%3Dyes"))
        .await
        .unwrap();
    assert_eq!(names(&even), ["cm0", "cm2"]);
    assert!(even["metadata"]["remainingItemCount"].is_null());
    let token = even["metadata"]["continue"].as_str().unwrap().to_string();
    let even2 = k
        .get(&format!(
            "{cms}?limit=2&labelSelector=even%3Dyes&continue={token}"
        ))
        .await
        .unwrap();
    assert_eq!(names(&even2), ["cm4"]);
    // kubectl pages too
    let out = c.ok(&["get", "cm", "--chunk-size=2", "-o", "name"]);
    assert_eq!(out.lines().count(), 6, "{out}");
    // a token whose revision was compacted is 410
    let etcd = c.etcd.as_ref().unwrap().config().client().unwrap();
    etcd.compact(etcd.status().await.unwrap().revision)
        .await
        .unwrap();
    let err = k
        .get(&format!(
            "{cms}?limit=2&continue={}",
            page["metadata"]["continue"].as_str().unwrap()
        ))
        .await
        .unwrap_err();
    assert!(
        err.is_gone()
            && err
                .to_string()
                .contains("The provided continue parameter is too old"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn evictions_respect_disruption_budgets() {
    let c = Cluster::start("1.33").await;
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n");
    let k = client(&c);
    let pods = path("", "v1", "pods", Some("default"), None);
    k.create(&pods, &pod("p", json!({"app": "hello"})))
        .await
        .unwrap();
    let pdbs = path(
        "policy",
        "v1",
        "poddisruptionbudgets",
        Some("default"),
        None,
    );
    k.create(&pdbs, &json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "hello"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "hello"}}}})).await.unwrap();
    // the disruption controller's status: nothing may be disrupted
    k.patch(&format!("{pdbs}/hello/status"), PatchType::Merge, &json!({"status": {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}})).await.unwrap();
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "default"}});
    let err = k
        .create(&format!("{pods}/p/eviction"), &eviction)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(429));
    assert!(
        err.to_string()
            .contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    k.patch(
        &format!("{pdbs}/hello/status"),
        PatchType::Merge,
        &json!({"status": {"disruptionsAllowed": 1}}),
    )
    .await
    .unwrap();
    k.create(&format!("{pods}/p/eviction"), &eviction)
        .await
        .unwrap();
    assert!(k.get_opt(&format!("{pods}/p")).await.unwrap().is_none());
    let pdb = k.get(&format!("{pdbs}/hello")).await.unwrap();
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert!(pdb["status"]["disruptedPods"]["p"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_recorder_aggregates_repeats() {
    let c = Cluster::start("1.33").await;
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n");
    let k = client(&c);
    let pods = path("", "v1", "pods", Some("default"), None);
    let p = k.create(&pods, &pod("web", json!({}))).await.unwrap();
    let rec = labsim::client::events::Recorder::new(k.clone(), "kubelet", "minikube-m02");
    rec.normal(
        &p,
        "Pulled",
        "Container image \"podinfo\" already present on machine",
    )
    .await
    .unwrap();
    let again = rec
        .normal(
            &p,
            "Pulled",
            "Container image \"podinfo\" already present on machine",
        )
        .await
        .unwrap();
    assert_eq!(again["count"], 2);
    rec.warning(
        &p,
        "BackOff",
        "Back-off restarting failed container app in pod web_default(x)",
    )
    .await
    .unwrap();
    let evs = k
        .list(
            &path("", "v1", "events", Some("default"), None),
            &ListParams::default(),
        )
        .await
        .unwrap();
    assert_eq!(evs["items"].as_array().unwrap().len(), 2);
    let pulled = evs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "Pulled")
        .unwrap();
    assert!(
        pulled["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with("web.")
    );
    assert_eq!(
        pulled["source"],
        json!({"component": "kubelet", "host": "minikube-m02"})
    );
    assert_eq!(pulled["involvedObject"]["uid"], p["metadata"]["uid"]);
    let d = c.ok(&["describe", "pod", "web"]);
    assert!(
        d.contains("(x2 over") && d.contains("kubelet") && d.contains("Warning  BackOff"),
        "{d}"
    );
    // a node's events live in the default namespace
    let node = k
        .create(
            &path("", "v1", "nodes", None, None),
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "minikube-m02"}}),
        )
        .await
        .unwrap();
    let ev = rec
        .normal(
            &node,
            "NodeReady",
            "Node minikube-m02 status is now: NodeReady",
        )
        .await
        .unwrap();
    assert_eq!(ev["metadata"]["namespace"], "default");
    let d = c.ok(&["describe", "node", "minikube-m02"]);
    assert!(
        d.contains("Node minikube-m02 status is now: NodeReady"),
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reflector_resumes_its_watch_across_api_server_restarts() {
    // The API server process is killed and started again; the reflector re-watches from its last
    // resourceVersion, so what changes after each restart arrives through the watch, without a
    // relist (which would announce Change::Restarted).
    use labsim::client::{Change, Reflector};
    let mut c = Cluster::start("1.33").await;
    let client = client(&c);
    let nodes = path("", "v1", "nodes", None, None);
    client
        .create(
            &nodes,
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "m03"}}),
        )
        .await
        .unwrap();
    let reflector = Reflector::new(client.clone(), nodes.clone(), ListParams::default());
    let store = reflector.store();
    let mut changes = reflector.subscribe();
    let task = tokio::spawn(reflector.run());
    store.wait_ready().await;
    while changes.try_recv().is_ok() {}
    let node = path("", "v1", "nodes", None, Some("m03"));
    for round in 0..5 {
        c.stop_apiserver();
        c.start_apiserver(&[]).await;
        let value = format!("r{round}");
        client
            .patch(
                &node,
                PatchType::Merge,
                &json!({"metadata": {"labels": {"round": value}}}),
            )
            .await
            .unwrap();
        let seen = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match changes.recv().await.unwrap() {
                    Change::Restarted => return Err("a relist"),
                    Change::Applied(n) if n["metadata"]["labels"]["round"] == value.as_str() => {
                        return Ok(());
                    }
                    _ => {}
                }
            }
        })
        .await;
        assert_eq!(seen, Ok(Ok(())), "round {round}: {}", c.log());
    }
    task.abort();
}
