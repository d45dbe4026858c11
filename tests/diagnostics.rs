//! A failed scenario's conclusion against labsim's API server (real etcd) and the real kubectl:
//! the cluster's environment is read through the API, the diagnostics bundle holds the real
//! kubectl's output, and a step's timing assertion reads the timeline the recorder fills.

mod common;

use std::path::Path;
use std::time::Duration;

use common::TempDir;
use common::api;
use k8s_labs::claims::{DurationExpectation, Source};
use k8s_labs::fixtures;
use k8s_labs::lab::{Lab, LabError};
use k8s_labs::provider::Minikube;
use k8s_labs::redact::Redactor;
use k8s_labs::report::environment::NODE_MONITOR_GRACE_PERIOD;
use k8s_labs::runner::Runner;
use k8s_labs::settings::{ProviderKind, Settings, Timing};
use k8s_labs::timeline::{Query, StateQuery, TimeBasis};
use k8s_labs::transcript::Transcript;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};

fn fake_minikube(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("minikube");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\nFAKE_MINIKUBE_HOME='{}' exec '{}' \"$@\"\n",
            dir.join("state").display(),
            fixtures::path("fake-minikube.sh").unwrap().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    bin
}

async fn set_ready(nodes: &Api<Node>, status: &str) {
    let now = jiff::Timestamp::now().to_string();
    nodes
        .patch_status(
            "labs-m02",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": status, "lastTransitionTime": now, "lastHeartbeatTime": now}]}})),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_scenario_leaves_its_environment_and_a_diagnostics_bundle() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let api = api::Api::start("diagnostics").await;
    let tmp = TempDir::new("diagnostics");
    let root = tmp.path().join("reports");
    let transcript = Transcript::create(root.join("chapter/scenario"), Redactor::new()).unwrap();
    let runner = Runner::new(transcript, vec![], Duration::from_secs(60));
    let settings = Settings {
        provider: ProviderKind::Minikube,
        minikube: fake_minikube(tmp.path()),
        profile: "labs".into(),
        k8s_version: "1.33".parse().unwrap(),
        timing: Timing::Fast,
        keep_on_failure: false,
        scripts: k8s_labs::provisioning::Scripts::Ours,
    };
    let minikube = Minikube::new(&settings.minikube, "labs", runner);
    let mut lab = Lab::new(minikube, settings);
    lab.start_nodes(2).await.unwrap();
    lab.attach_cluster(&api.kubeconfig()).await.unwrap();

    let nodes: Api<Node> = Api::all(lab.kube().unwrap().clone());
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "labs-m02"}})).unwrap(),
        )
        .await
        .unwrap();
    set_ready(&nodes, "True").await;
    lab.touch("Node", "", "<profile>-m02");

    // A timing assertion through the lab: the node goes NotReady 1 s after the mark, within an
    // expectation of 5 s.
    let ready = Query::node_ready("labs-m02", "True");
    k8s_labs::wait::Wait::until("m02 Ready", Duration::from_secs(20))
        .poll(
            lab.timeline()
                .transition_probe("cluster API attached", &ready),
        )
        .await
        .unwrap();
    lab.mark("worker stopped");
    tokio::time::sleep(Duration::from_secs(1)).await;
    set_ready(&nodes, "Unknown").await;
    let expected = DurationExpectation::at_most(
        Duration::from_secs(5),
        Duration::from_secs(1),
        Source::Configured {
            setting: "node-monitor-grace-period=5s".into(),
        },
    );
    let took = lab
        .measure(
            "worker stopped → NotReady",
            "worker stopped",
            &Query::node_not_ready("labs-m02"),
            expected.clone(),
            TimeBasis::Observed,
        )
        .await
        .unwrap();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "{took:?}"
    );
    // An expectation the transition breaks fails the step and is still recorded.
    let too_tight =
        DurationExpectation::at_most(Duration::from_millis(100), Duration::ZERO, Source::Course);
    let err = lab
        .measure(
            "too tight",
            "worker stopped",
            &Query::node_not_ready("labs-m02"),
            too_tight,
            TimeBasis::Observed,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, LabError::Timing { .. }), "{err}");
    assert_eq!(lab.measurements().len(), 2);
    // "Stays true": m02 stays Unknown for 1 s after the mark (it already is).
    lab.mark("unknown");
    lab.expect_stays(
        "unknown",
        &StateQuery::node_ready_is("labs-m02", "Unknown"),
        Duration::from_secs(1),
    )
    .await
    .unwrap();

    let record = lab.conclude(true, &root).await;
    lab.finish(false, None).await.unwrap();

    let cluster = record.cluster.expect("the cluster's environment");
    assert_eq!(cluster.kubernetes_version.as_deref(), Some("v1.33.7"));
    assert!(
        cluster
            .kubectl_client
            .as_deref()
            .is_some_and(|v| v.starts_with("v1.33")),
        "{cluster:?}"
    );
    assert_eq!(
        cluster.timing[NODE_MONITOR_GRACE_PERIOD].value, "50s",
        "the 1.32+ default"
    );
    assert!(
        cluster.notes.iter().any(|n| n.contains("kubeadm-config")),
        "{:?}",
        cluster.notes
    );

    let diagnostics = record.diagnostics.expect("a diagnostics bundle");
    let file = |title: &str| {
        let item = diagnostics
            .items
            .iter()
            .find(|i| i.title == title)
            .unwrap_or_else(|| panic!("no {title} in {diagnostics:?}"));
        std::fs::read_to_string(root.join(item.file.as_ref().unwrap_or_else(|| panic!("{item:?}"))))
            .unwrap()
    };
    let table = file("nodes and pods");
    assert!(
        table.contains("NAME") && table.contains("labs-m02"),
        "{table}"
    );
    let describe = file("describe Node labs-m02");
    assert!(
        describe.contains("Name:") && describe.contains("labs-m02"),
        "{describe}"
    );
    file("events in default");
    file("kubelet journal of labs-m02");
    assert!(record.timeline.is_some());
    assert_eq!(record.measurements.len(), 2);
    assert_eq!(
        record
            .marks
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>(),
        [
            "nodes starting",
            "nodes started",
            "cluster API attached",
            "worker stopped",
            "unknown"
        ]
    );
    drop(api);
}
