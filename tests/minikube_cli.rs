//! Replays the minikube provider's whole unit of work (the bootstrap scenario's lab steps, then
//! every other provider call: node stop/start, cp, reading a file, delete) against a recording
//! stand-in, and checks every `minikube` invocation it made against the flags real minikube
//! accepts (`k8s_labs::minikube_cli`, encoded from minikube's command reference).
//!
//! The provider also checks each invocation before running it, so the labs on labsim check every
//! chapter's command list too; this test pins the list itself.

mod common;

use common::{TempDir, runner};
use k8s_labs::fixtures;
use k8s_labs::lab::Lab;
use k8s_labs::minikube_cli;
use k8s_labs::provider::Minikube;
use k8s_labs::redact::Redactor;
use k8s_labs::settings::{ProviderKind, Settings, Timing};
use k8s_labs::versions::K8sVersion;

/// Separates recorded invocations (no argument contains it).
const RECORD_END: char = '\u{1e}';

/// A `minikube` that records its arguments (NUL-separated, one record per call) and then behaves
/// as the fake minikube of the provider tests.
fn recording_minikube(tmp: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let log = tmp.path().join("argv.log");
    let state = tmp.path().join("state");
    let fake = fixtures::path("fake-minikube.sh").unwrap();
    let bin = tmp.path().join("minikube");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/bash\n{{ for a in \"$@\"; do printf '%s\\0' \"$a\"; done; printf '\\036'; }} >> '{}'\nFAKE_MINIKUBE_HOME='{}' exec '{}' \"$@\"\n",
            log.display(),
            state.display(),
            fake.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (bin, log)
}

fn recorded(log: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap()
        .split(RECORD_END)
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.split('\0')
                .filter(|a| !a.is_empty())
                .map(ToString::to_string)
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn every_minikube_invocation_of_the_provider_is_one_real_minikube_accepts() {
    let tmp = TempDir::new("minikube-cli");
    let (bin, log) = recording_minikube(&tmp);
    let minikube = Minikube::new(&bin, "labs", runner(tmp.path(), Redactor::new()));
    let settings = Settings {
        provider: ProviderKind::Minikube,
        minikube: bin.clone(),
        profile: "labs".into(),
        k8s_version: K8sVersion::default(),
        timing: Timing::Fast,
        keep_on_failure: false,
        scripts: k8s_labs::provisioning::Scripts::Ours,
    };

    // The bootstrap feature's steps, as the labs run them.
    let mut lab = Lab::new(minikube.clone(), settings);
    lab.start_nodes(3).await.unwrap();
    lab.list_nodes().await.unwrap();
    lab.check_distinct_ips().await.unwrap();
    lab.check_nodes_answer().await.unwrap();
    lab.check_container_runtime().await.unwrap();
    // The rest of the provider.
    minikube.node_stop("labs-m02").await.unwrap();
    minikube.node_start("labs-m02").await.unwrap();
    let local = tmp.path().join("config.yaml");
    std::fs::write(&local, "kind: InitConfiguration\n").unwrap();
    minikube
        .copy_in(&local, "labs", "/config.yaml")
        .await
        .unwrap();
    minikube
        .read_file("labs", "/etc/hostname")
        .await
        .unwrap_or_default();
    lab.finish(false, None).await.unwrap();

    let calls = recorded(&log);
    let sentinel = regex::Regex::new("__K8S_LABS_EXIT_[0-9a-f]{16}__").unwrap();
    let mut shown = Vec::new();
    for argv in &calls {
        let invocation = minikube_cli::check(argv)
            .unwrap_or_else(|e| panic!("real minikube would refuse {argv:?}: {e}"));
        assert_eq!(
            invocation.flag("profile"),
            Some("labs"),
            "every call names the profile: {argv:?}"
        );
        let line = argv
            .iter()
            .map(|a| {
                let a = a.replace(&tmp.path().display().to_string(), "[TMP]");
                if a.contains('\n') || a.contains(' ') {
                    // The wrapped ssh script: its sentinel differs per call.
                    let a = sentinel.replace_all(&a, "[SENTINEL]").into_owned();
                    format!("{a:?}")
                } else {
                    a
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        shown.push(format!("minikube {line}"));
    }
    let commands: std::collections::BTreeSet<String> = calls
        .iter()
        .map(|argv| minikube_cli::check(argv).unwrap().command.join(" "))
        .collect();
    assert_eq!(
        commands.into_iter().collect::<Vec<_>>(),
        [
            "cp",
            "delete",
            "ip",
            "node list",
            "node start",
            "node stop",
            "ssh",
            "start"
        ],
        "the replay covers every command the provider has"
    );
    insta::assert_snapshot!(shown.join("\n"));
}
