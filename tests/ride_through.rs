//! The harness rides through labsim's faults (`labsim fault`, harness/faults.rs): chapter 3 with
//! the API server restarted in the middle passes with no false failure, and after every watch is
//! dropped mid-scenario the timeline still holds every pod transition labsim's own event log
//! (the API server's audit log, `labsim audit`) records.
//!
//! labsim only (real minikube has no fault injection). One course cluster for both checks, built
//! by the harness's own course code: about three minutes on two cores.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TempDir;
use jiff::Timestamp;
use k8s_labs::course::{self, Stage};
use k8s_labs::faults::Faults;
use k8s_labs::lab::Lab;
use k8s_labs::provider::Minikube;
use k8s_labs::redact::Redactor;
use k8s_labs::run::DEFAULT_TIMEOUT;
use k8s_labs::runner::Runner;
use k8s_labs::settings::{ProviderKind, Settings, Timing};
use k8s_labs::timeline::{Change, Subject};
use k8s_labs::transcript::Transcript;
use k8s_labs::workload;

/// Deletes the profile with labsim itself however the test ends.
struct Profile {
    minikube: PathBuf,
    home: PathBuf,
    name: String,
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::process::Command::new(&self.minikube)
            .args(["delete", "-p", &self.name])
            .env("LABSIM_HOME", &self.home)
            .stdin(std::process::Stdio::null())
            .output();
    }
}

/// A lab on labsim with the event log on, in `tmp`.
async fn lab(tmp: &Path, profile: &str) -> (Lab, Profile) {
    let home = tmp.join("home");
    let transcript = Transcript::create(tmp.join("scenario"), Redactor::new()).unwrap();
    let env = vec![
        ("LABSIM_HOME".to_string(), home.display().to_string()),
        ("LABSIM_EVENT_LOG".to_string(), "1".to_string()),
    ];
    let runner = Runner::new(transcript, env, DEFAULT_TIMEOUT);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let labsim = k8s_labs::labsim::build(&runner, &cargo, &manifest)
        .await
        .unwrap();
    let minikube = k8s_labs::labsim::link_as_minikube(&labsim, &tmp.join("bin")).unwrap();
    let settings = Settings {
        provider: ProviderKind::Labsim,
        minikube: minikube.clone(),
        profile: profile.into(),
        k8s_version: k8s_labs::versions::K8sVersion::default(),
        timing: Timing::Fast,
        keep_on_failure: false,
        scripts: k8s_labs::provisioning::Scripts::Ours,
    };
    let guard = Profile {
        minikube: minikube.clone(),
        home,
        name: profile.into(),
    };
    (
        Lab::new(Minikube::new(&minikube, profile, runner), settings),
        guard,
    )
}

/// Waits until the real kubectl finds `object` through `kubeconfig`.
async fn exists(kubeconfig: &Path, object: &str) {
    for _ in 0..600 {
        let ok = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["get", object, "-o", "name"])
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .is_ok_and(|o| o.status.success());
        if ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{object} did not appear within a minute");
}

fn time(v: &serde_json::Value) -> Timestamp {
    v.as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chapter_3_rides_through_an_api_server_restart_and_a_dropped_watch_loses_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = TempDir::new("ride-through");
    let (mut lab, _profile) = lab(tmp.path(), "ride").await;
    course::reach(&mut lab, Stage::KubeconfigExported)
        .await
        .unwrap();
    let faults = Faults::for_lab(&lab).unwrap();
    let kubeconfig = lab.course().unwrap().files().kubeconfig();

    // Chapter 3, with the API server restarted once its manifest is applied (the Ingress is its
    // last object), while the harness waits for the pods and curls the workers.
    let started = Timestamp::now();
    let restart = async {
        exists(&kubeconfig, "ingress/hello").await;
        faults.inject(&["restart-apiserver"]).await.unwrap()
    };
    let (chapter, said) = tokio::join!(
        course::perform(&mut lab, Stage::HelloWorldDeployed),
        restart
    );
    chapter.expect("chapter 3 passes through an API server restart");
    workload::expect_one_per_worker(&lab).await.unwrap();
    workload::expect_workers_answer(&mut lab).await.unwrap();
    let ended = Timestamp::now();
    eprintln!("labsim fault restart-apiserver: {}", said.trim());
    let log = faults.audit().await.unwrap();
    let restarts: Vec<&serde_json::Value> = log["faults"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fault"] == "restart-apiserver" && f["event"] == "injected")
        .collect();
    assert_eq!(restarts.len(), 1, "{log:#}");
    let at = time(&restarts[0]["time"]);
    assert!(
        started < at && at < ended,
        "the restart was in the middle of chapter 3"
    );

    // Every watch dropped, then the deployment scaled up and down: every pod the API server
    // created, bound or deleted from then on is on the timeline.
    let mark = lab.mark("watches dropped");
    faults.inject(&["drop-watches"]).await.unwrap();
    course::host_kubectl_ok(
        &mut lab,
        &["scale", "deployment", "hello-world", "--replicas=4"],
    )
    .await
    .unwrap();
    workload::expect_running(&lab, 4).await.unwrap();
    course::host_kubectl_ok(
        &mut lab,
        &["scale", "deployment", "hello-world", "--replicas=2"],
    )
    .await
    .unwrap();
    // Until the two pods scaled away are gone from the API.
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(lab.kube().unwrap().clone(), "default");
    let listed = kube::api::ListParams::default().labels("app=hello");
    let mut now: BTreeSet<String> = BTreeSet::new();
    for _ in 0..900 {
        now = pods
            .list(&listed)
            .await
            .unwrap()
            .items
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        if now.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(now.len(), 2, "the pods scaled away are gone within 90 s");
    // The recorder's last events arrive a moment after the API has them.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let log = faults.audit().await.unwrap();
    let entries = lab.timeline().entries();
    let on_timeline = |pod: &str, want: &dyn Fn(&Change) -> bool| {
        entries.iter().any(|e| {
            matches!(&e.subject, Subject::Pod { namespace, name } if namespace == "default" && name == pod)
                && want(&e.change)
        })
    };
    let (mut created, mut bound, mut deleted) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut missing = Vec::new();
    for object in log["changes"].as_array().unwrap() {
        let Some(pod) = object["object"]
            .as_str()
            .and_then(|o| o.strip_prefix("pods/default/hello-world-"))
        else {
            continue;
        };
        let pod = format!("hello-world-{pod}");
        for change in object["changes"].as_array().unwrap() {
            if time(&change["time"]) < mark {
                continue;
            }
            let (verb, sub) = (
                change["verb"].as_str().unwrap(),
                change["subresource"].as_str().unwrap_or(""),
            );
            if verb == "create" && sub.is_empty() {
                created.insert(pod.clone());
                if !on_timeline(&pod, &|c| matches!(c, Change::PodAdded { .. })) {
                    missing.push(format!("{pod} created at {}", change["time"]));
                }
            } else if verb == "create" && sub == "binding" {
                bound.insert(pod.clone());
                let seen = on_timeline(&pod, &|c| {
                    matches!(
                        c,
                        Change::PodScheduled { .. } | Change::PodAdded { node: Some(_), .. }
                    )
                });
                if !seen {
                    missing.push(format!("{pod} bound at {}", change["time"]));
                }
            }
            // Removed: labsim's event log marks the delete that removed the pod (the kubelet's
            // final one, with grace 0), and the pod is gone from the API.
            if verb == "delete"
                && sub.is_empty()
                && change["deleted"].as_bool() == Some(true)
                && !now.contains(&pod)
                && !deleted.contains(&pod)
            {
                deleted.insert(pod.clone());
                if !on_timeline(&pod, &|c| matches!(c, Change::PodDeleted)) {
                    missing.push(format!("{pod} deleted at {}", change["time"]));
                }
            }
        }
    }
    eprintln!(
        "after the dropped watch, the audit log has {} pods created, {} bound, {} deleted",
        created.len(),
        bound.len(),
        deleted.len()
    );
    assert!(
        created.len() >= 2 && bound.len() >= 2 && deleted.len() >= 2,
        "the scaling changed pods: created {created:?}, bound {bound:?}, deleted {deleted:?}; labsim's event log of them: {:#}",
        serde_json::Value::Array(
            log["changes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["object"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("pods/default/")))
                .cloned()
                .collect()
        )
    );
    assert!(
        log["faults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["fault"] == "drop-watches" && time(&f["time"]) >= mark),
        "labsim dropped the watches after the mark"
    );
    assert!(
        missing.is_empty(),
        "transitions the timeline lost: {missing:#?}"
    );

    // The cluster goes with the lab.
    let (cleanup, _) = lab.finish(true, None).await.unwrap();
    assert!(matches!(cleanup, k8s_labs::lab::Cleanup::Deleted));
}
