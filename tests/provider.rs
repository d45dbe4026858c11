//! The minikube provider and the lab against `fixtures/fake-minikube.sh`, a small bash stand-in
//! with minikube's output quirks. (The labs themselves run against labsim or real minikube.)

mod common;

use common::{TempDir, runner, transcript_text};
use k8s_labs::fixtures;
use k8s_labs::lab::{Cleanup, Lab, LabError};
use k8s_labs::provider::{Minikube, ProviderError};
use k8s_labs::redact::Redactor;
use k8s_labs::settings::{ProviderKind, Settings, Timing};
use k8s_labs::versions::K8sVersion;

struct Fake {
    tmp: TempDir,
    minikube: Minikube,
}

/// A fake minikube for `profile`, its state under a temp dir.
fn fake(profile: &str) -> Fake {
    let tmp = TempDir::new("fake-minikube");
    let state = tmp.path().join("state");
    let r = runner(tmp.path(), Redactor::new());
    let script = fixtures::path("fake-minikube.sh").unwrap();
    // The fake reads its state folder from the environment: give it through a wrapper, since the
    // provider runs the binary as is.
    let bin = tmp.path().join("minikube");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\nFAKE_MINIKUBE_HOME='{}' exec '{}' \"$@\"\n",
            state.display(),
            script.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Fake {
        minikube: Minikube::new(&bin, profile, r),
        tmp,
    }
}

fn settings(keep_on_failure: bool) -> Settings {
    Settings {
        provider: ProviderKind::Minikube,
        minikube: "unused".into(),
        profile: "unused".into(),
        k8s_version: K8sVersion::default(),
        timing: Timing::Fast,
        keep_on_failure,
        scripts: k8s_labs::provisioning::Scripts::Ours,
    }
}

#[tokio::test]
async fn ssh_recovers_exit_codes_and_normalises_crlf() {
    let f = fake("demo");
    f.minikube.start(3).await.unwrap();
    let ok = f
        .minikube
        .ssh("demo-m02", "printf 'a\\tb\\n'; echo \"it's\" >&2")
        .await
        .unwrap();
    assert_eq!((ok.code, ok.output.as_str()), (0, "a\tb\nit's\n"));
    let failed = f.minikube.ssh("m03", "echo boom; exit 42").await.unwrap();
    assert_eq!((failed.code, failed.output.as_str()), (42, "boom\n"));
    let exited = f.minikube.ssh("demo", "exit 3").await.unwrap();
    assert_eq!(
        exited.code, 3,
        "an `exit` in the script does not skip the sentinel"
    );
    let txt = transcript_text(f.tmp.path());
    assert!(
        txt.contains("NOTE: script on m03:\n      echo boom; exit 42"),
        "{txt}"
    );
}

#[tokio::test]
async fn minikube_refusals_become_typed_errors() {
    let f = fake("demo");
    let err = f.minikube.node_list().await.unwrap_err();
    assert!(
        matches!(err, ProviderError::ProfileNotFound { .. }),
        "{err}"
    );
    f.minikube.start(2).await.unwrap();
    let err = f.minikube.ssh("m05", "true").await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::NodeNotFound { node, .. } if node == "m05"),
        "{err}"
    );
    f.minikube.node_stop("m02").await.unwrap();
    let err = f.minikube.ssh("demo-m02", "true").await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::NodeNotRunning { node, .. } if node == "demo-m02"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("minikube node start -p demo demo-m02"),
        "{err}"
    );
    f.minikube.node_start("demo-m02").await.unwrap();
    assert!(f.minikube.ssh("demo-m02", "true").await.unwrap().success());
    let err = f.minikube.ip("m09").await.unwrap_err();
    assert!(matches!(err, ProviderError::NodeNotFound { .. }), "{err}");
}

#[tokio::test]
async fn nodes_ips_and_files() {
    let f = fake("demo");
    f.minikube.start(3).await.unwrap();
    let nodes = f.minikube.node_list().await.unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["demo", "demo-m02", "demo-m03"]);
    assert_eq!(
        f.minikube.ip("m03").await.unwrap().to_string(),
        "192.168.49.4"
    );

    // A file with CRLF, NUL and non-UTF-8 bytes survives the trip in and out of a node.
    let bytes: Vec<u8> = b"line\r\nnul\0\xff\xfe end\n".to_vec();
    let local = f.tmp.path().join("payload.bin");
    std::fs::write(&local, &bytes).unwrap();
    f.minikube
        .copy_in(&local, "demo-m02", "/payload.bin")
        .await
        .unwrap();
    let on_node = f
        .tmp
        .path()
        .join("state/demo/nodes/demo-m02/root/payload.bin");
    let back = f
        .minikube
        .read_file("demo-m02", &on_node.to_string_lossy())
        .await
        .unwrap();
    assert_eq!(back, bytes);
    let err = f
        .minikube
        .read_file("demo", "/no/such/file")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("No such file"), "{err}");

    f.minikube.delete().await.unwrap();
    assert!(matches!(
        f.minikube.node_list().await,
        Err(ProviderError::ProfileNotFound { .. })
    ));
}

#[tokio::test]
async fn the_lab_runs_the_bootstrap_checks_and_cleans_up() {
    let f = fake("labs");
    let mut lab = Lab::new(f.minikube.clone(), settings(false));
    assert!(matches!(
        lab.finish(false, None).await.unwrap(),
        (Cleanup::Nothing, None)
    ));
    lab.start_nodes(3).await.unwrap();
    lab.check_node_names(&[
        "<profile>".into(),
        "<profile>-m02".into(),
        "<profile>-m03".into(),
    ])
    .unwrap();
    let err = lab
        .check_node_names(&["<profile>".into()])
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "expected the node list: labs; found: labs, labs-m02, labs-m03"
    );
    lab.check_distinct_ips().await.unwrap();
    lab.check_nodes_answer().await.unwrap();
    lab.check_container_runtime().await.unwrap();
    assert_eq!(lab.outcome("containerd on labs-m03"), Some("1.6.15"));
    assert!(lab.marked("nodes started").is_some());
    let shown = format!("{lab:?}");
    assert!(shown.contains("labs-m02=192.168.49.3"), "{shown}");
    // The profile exists now: a second lab on it refuses to start over it.
    let mut again = Lab::new(f.minikube.clone(), settings(false));
    assert!(matches!(
        again.start_nodes(3).await,
        Err(LabError::ProfileExists { .. })
    ));
    assert!(matches!(
        lab.finish(false, None).await.unwrap(),
        (Cleanup::Deleted, None)
    ));
    assert!(matches!(
        f.minikube.node_list().await,
        Err(ProviderError::ProfileNotFound { .. })
    ));
}

#[tokio::test]
async fn the_lab_reports_a_node_without_a_runtime_and_keeps_the_profile_on_request() {
    let f = fake("keep");
    let mut lab = Lab::new(f.minikube.clone(), settings(true));
    lab.start_nodes(2).await.unwrap();
    // As if containerd were not installed on m02 (the host may have one on PATH).
    std::fs::write(
        f.tmp
            .path()
            .join("state/keep/nodes/keep-m02/bin/containerd"),
        "#!/bin/sh\necho 'bash: line 1: containerd: command not found' >&2\nexit 127\n",
    )
    .unwrap();
    let err = lab.check_container_runtime().await.unwrap_err().to_string();
    assert!(err.starts_with("on node keep-m02, `containerd --version && sudo systemctl is-active containerd`: exit 127"), "{err}");
    let (Cleanup::Kept(how), None) = lab.finish(true, None).await.unwrap() else {
        panic!("kept expected")
    };
    assert!(how.contains("ssh -p keep -n keep-m02"), "{how}");
    assert!(how.contains("delete -p keep"), "{how}");
    assert_eq!(
        f.minikube.node_list().await.unwrap().len(),
        2,
        "still there"
    );
    f.minikube.delete().await.unwrap();
}

/// The course's cluster outlives a passing scenario and is adopted by the next one, which may
/// reach a stage it is at; a failed scenario's cluster is deleted, not kept.
#[tokio::test]
async fn the_course_s_cluster_is_kept_between_scenarios_and_deleted_after_a_failure() {
    use k8s_labs::course::{self, Stage};
    let f = fake("course");
    let mut first = Lab::new(f.minikube.clone(), settings(false));
    course::start_nodes(&mut first, 3).await.unwrap();
    assert_eq!(first.course().unwrap().stage(), Stage::NodesCreated);
    let (Cleanup::Reused(kept), None) = first.finish(false, None).await.unwrap() else {
        panic!("a passing scenario's course cluster is kept")
    };
    assert_eq!((kept.profile.as_str(), kept.nodes.len()), ("course", 3));
    assert_eq!(
        f.minikube.node_list().await.unwrap().len(),
        3,
        "still there"
    );

    // The next scenario runs on another profile name and adopts the kept cluster.
    let other = Minikube::new(f.minikube.binary(), "course-2", f.minikube.runner().clone());
    let mut second = Lab::new(other, settings(false));
    second.offer(Some(*kept));
    course::reach(&mut second, Stage::NodesCreated)
        .await
        .unwrap();
    assert_eq!(second.profile(), "course");
    assert_eq!(second.nodes().len(), 3);
    // It cannot go back: the stage after this one needs the scripts.
    let err = course::perform(&mut second, Stage::ControlPlaneInitialised)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the course reaches it after \"scripts run\""),
        "{err}"
    );
    let (cleanup, unused) = second.finish(true, None).await.unwrap();
    assert!(matches!(cleanup, Cleanup::Deleted) && unused.is_none());
    assert!(matches!(
        f.minikube.node_list().await,
        Err(ProviderError::ProfileNotFound { .. })
    ));
}

#[tokio::test]
async fn a_node_the_profile_does_not_have_is_refused_listing_its_nodes() {
    let f = fake("nodes");
    let mut lab = Lab::new(f.minikube.clone(), settings(false));
    lab.start_nodes(2).await.unwrap();
    let started = std::time::Instant::now();
    let err = lab.run_on("nodes-m09", "true").await.unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(
        err.to_string(),
        "node \"nodes-m09\" does not exist in minikube profile \"nodes\": its nodes are nodes, nodes-m02"
    );
    // minikube's short names are fine.
    assert_eq!(lab.run_on("m02", "hostname").await.unwrap().code, 0);
    assert!(matches!(
        lab.finish(false, None).await.unwrap(),
        (Cleanup::Deleted, None)
    ));
}

#[tokio::test]
async fn a_kubeconfig_pointing_nowhere_fails_at_once_naming_the_server() {
    let f = fake("nowhere");
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kubeconfig = f.tmp.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: not-a-real-token\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let mut lab = Lab::new(f.minikube.clone(), settings(false));
    let started = std::time::Instant::now();
    lab.attach_cluster(&kubeconfig).await.unwrap();
    let err = lab.check_cluster_reachable().await.unwrap_err();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "cannot reach the cluster's API server at https://127.0.0.1:{port}/ (kubeconfig {}) within 4 s:",
            kubeconfig.display()
        )),
        "{msg}"
    );
    assert!(msg.contains("minikube status -p nowhere"), "{msg}");
    assert!(!msg.contains("not-a-real-token"), "{msg}");
}
