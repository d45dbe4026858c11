//! The timeline recorder against labsim's API server on a real etcd: transitions of nodes, pods
//! and events are recorded with server times; an API server that goes away and comes back loses
//! nothing, and what changed while it was away is recorded as observed late.

mod common;

use std::time::Duration;

use k8s_labs::redact::Redactor;
use k8s_labs::timeline::{Change, Entry, Origin, Query, Recorder, Subject, Timeline};
use k8s_labs::wait::Wait;
use k8s_openapi::api::core::v1::{Event, Node, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use common::api::{self, PORT};

fn obj<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

async fn set_ready(nodes: &Api<Node>, name: &str, status: &str, reason: &str) {
    let now = jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"status": {"conditions": [{
        "type": "Ready", "status": status, "reason": reason,
        "lastHeartbeatTime": now, "lastTransitionTime": now}]}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
}

/// Waits (through the one waiting primitive) until the timeline has an entry matching `query`
/// after `mark`.
async fn seen(timeline: &Timeline, mark: &str, query: &Query) -> Entry {
    Wait::until(query.what(), Duration::from_secs(30))
        .poll(timeline.transition_probe(mark, query))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", timeline.entries()))
        .value
}

#[tokio::test(flavor = "multi_thread")]
async fn recorder_follows_the_cluster_and_survives_an_api_server_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut api = api::Api::start("timeline").await;
    let client = api.client(PORT).await;
    let timeline = Timeline::new(&api.dir().join("scenario"), Redactor::new());
    timeline.mark("start");
    let recorder = Recorder::start(&client, &timeline);

    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(
            &PostParams::default(),
            &obj(serde_json::json!({"metadata": {"name": "m03"}})),
        )
        .await
        .unwrap();
    set_ready(&nodes, "m03", "True", "KubeletReady").await;
    let ready = seen(&timeline, "start", &Query::node_ready("m03", "True")).await;
    assert!(
        ready.server.is_some(),
        "the condition's lastTransitionTime: {ready:?}"
    );

    Api::<ServiceAccount>::namespaced(client.clone(), "default")
        .create(
            &PostParams::default(),
            &obj(serde_json::json!({"metadata": {"name": "default"}})),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(
        &PostParams::default(),
        &obj(serde_json::json!({"metadata": {"name": "hello-world-1"},
            "spec": {"nodeName": "m03", "containers": [{"name": "app", "image": "stefanprodan/podinfo:6.3.5"}]}})),
    )
    .await
    .unwrap();
    pods.patch_status(
        "hello-world-1",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    seen(
        &timeline,
        "start",
        &Query::pod_phase("default", "hello-world-", "Running"),
    )
    .await;
    Api::<Event>::namespaced(client.clone(), "default")
        .create(
            &PostParams::default(),
            &obj(serde_json::json!({"metadata": {"name": "m03.1"},
                "involvedObject": {"kind": "Node", "name": "m03"}, "reason": "NodeNotReady",
                "type": "Normal", "count": 1, "message": "Node m03 status is now: NodeNotReady",
                "lastTimestamp": "2026-01-28T05:01:01Z"})),
        )
        .await
        .unwrap();
    let event = seen(&timeline, "start", &Query::event("NodeNotReady", "m03")).await;
    assert_eq!(event.server, Some("2026-01-28T05:01:01Z".parse().unwrap()));

    // The API server goes away. Meanwhile (through a second API server on the same etcd) the
    // node becomes Unknown and the pod is deleted. The mark comes first: the watchers notice the
    // outage at once and may record it before `stop_server` returns.
    timeline.mark("api stopped");
    api.stop_server(PORT);
    let lost = seen(
        &timeline,
        "api stopped",
        &Query::new("a watch lost", |e| {
            matches!(e.change, Change::WatchLost { .. })
        }),
    )
    .await;
    assert!(matches!(lost.subject, Subject::Watch { .. }));
    api.start_server(PORT + 1);
    let other = api.client(PORT + 1).await;
    set_ready(
        &Api::all(other.clone()),
        "m03",
        "Unknown",
        "NodeStatusUnknown",
    )
    .await;
    Api::<Pod>::namespaced(other.clone(), "default")
        .delete("hello-world-1", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    api.stop_server(PORT + 1);

    api.start_server(PORT);
    let unknown = seen(
        &timeline,
        "api stopped",
        &Query::node_ready("m03", "Unknown"),
    )
    .await;
    assert_eq!(unknown.origin, Origin::Relist, "{unknown:?}");
    assert!(unknown.late());
    let deleted = seen(
        &timeline,
        "api stopped",
        &Query::new("pod deleted", |e| matches!(e.change, Change::PodDeleted)),
    )
    .await;
    assert!(deleted.late(), "{deleted:?}");
    seen(
        &timeline,
        "api stopped",
        &Query::new("a watch resumed", |e| {
            matches!(e.change, Change::WatchResumed { .. })
        }),
    )
    .await;

    // Nothing recorded before the outage was lost, and the watch goes on afterwards: the change
    // arrives through it, not through another relist.
    timeline.mark("after");
    set_ready(&nodes, "m03", "True", "KubeletReady").await;
    let back = seen(
        &timeline,
        "after",
        &Query::new("m03 Ready again through the watch", |e| {
            matches!(&e.change, Change::NodeReady { status, .. } if status == "True")
                && e.origin == Origin::Watch
        }),
    )
    .await;
    assert!(!back.late());
    recorder.stop();

    let entries = timeline.entries();
    let written: Vec<Entry> = std::fs::read_to_string(api.dir().join("scenario/timeline.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written, entries, "the file holds every entry");
    for expected in [
        "node m03: added",
        "node m03: Ready=True (KubeletReady)",
        "pod default/hello-world-1: added (Pending, on m03)",
        "pod default/hello-world-1: phase Running",
        "node m03: Ready=Unknown (NodeStatusUnknown)",
        "pod default/hello-world-1: deleted",
    ] {
        assert!(
            entries
                .iter()
                .any(|e| format!("{}: {}", e.subject, e.change) == expected),
            "missing {expected:?} in\n{}",
            entries
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
