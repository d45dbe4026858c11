//! Bad input to the labs binary: each mistake ends the run within 5 s with a non-zero exit and a
//! message that says what is wrong and what to do, before anything is created (no labsim profile,
//! process, mount, slot or host files). Unknown node names and unreachable clusters are covered in
//! tests/provider.rs (they need a lab).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::labs::{Finished, World};

const FIVE_SECONDS: Duration = Duration::from_secs(5);

/// Asserts the run failed fast, said `needles`, and left nothing.
fn refused(world: &World, run: &Finished, needles: &[&str]) {
    assert!(
        run.code.is_some_and(|c| c != 0),
        "non-zero exit expected: {}",
        run.all()
    );
    assert!(
        run.took < FIVE_SECONDS,
        "took {:?}: {}",
        run.took,
        run.all()
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    for n in needles {
        assert!(all.contains(n), "expected {n:?} in: {}", run.all());
    }
    assert_eq!(world.leftovers(&BTreeSet::new()), Vec::<String>::new());
    assert!(!world.home.exists(), "labsim's state directory was created");
}

/// A features folder of its own with one feature file.
fn feature(world: &World, text: &str) -> String {
    let dir = world.tmp.path().join("features");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.feature"), text).unwrap();
    dir.join("*.feature").display().to_string()
}

#[test]
fn an_undefined_step_is_named_with_the_closest_defined_phrases() {
    let world = World::new("undefined");
    let input = feature(
        &world,
        "Feature: F\n  Scenario: S\n    Given a cluster where the reader has completed \"kubeconfig exported\"\n    Then 2 hello-world pod are running\n",
    );
    let run = world.run(0, &["--input", &input], &[]);
    refused(
        &world,
        &run,
        &[
            "1 problem found before the run started (nothing was created)",
            "bad.feature:4: undefined step `Then 2 hello-world pod are running`; the closest defined steps are:\n    Then {…} hello-world pods are Running",
            "define it in steps/",
        ],
    );
}

#[test]
fn a_malformed_feature_names_the_file_and_line() {
    let world = World::new("malformed");
    let input = feature(
        &world,
        "Feature: F\n  Scenario: S\n    Given a cluster where the reader has completed \"x\"\n  This line is no Gherkin\n   | a table | without a step\n",
    );
    let run = world.run(0, &["--input", &input], &[]);
    refused(
        &world,
        &run,
        &[
            "malformed feature file: ",
            "bad.feature: ",
            "expected Gherkin",
        ],
    );
    assert!(
        regex::Regex::new(r"bad.feature: Error at 4:\d+: .*Unknown keyword")
            .unwrap()
            .is_match(&run.stderr),
        "{}",
        run.all()
    );
}

#[test]
fn an_unknown_option_value_lists_the_values() {
    let world = World::new("timing");
    let run = world.run(0, &["--timing", "slow"], &[]);
    refused(
        &world,
        &run,
        &["invalid value 'slow' for '--timing <default|fast>'"],
    );
    assert_eq!(run.code, Some(2), "clap's usage error");
}

#[test]
fn an_unknown_kubernetes_version_says_which_are_supported() {
    let world = World::new("version");
    let run = world.run(0, &["--k8s-version", "1.99"], &[]);
    refused(
        &world,
        &run,
        &[
            "invalid value '1.99' for '--k8s-version <X.Y>'",
            "Kubernetes 1.99 is outside the versions the labs support: choose 1.26 to 1.36",
        ],
    );
}

/// A PATH with only the given programs (links to the real ones).
fn path_with(world: &World, programs: &[&str]) -> String {
    let bin = world.tmp.path().join("path");
    std::fs::create_dir_all(&bin).unwrap();
    for p in programs {
        let real = k8s_labs::settings::which(p).unwrap_or_else(|| panic!("{p} on PATH"));
        std::os::unix::fs::symlink(real, bin.join(p)).unwrap();
    }
    bin.display().to_string()
}

#[test]
fn missing_etcd_and_kubectl_are_listed_with_how_to_install_them() {
    let world = World::new("prereq");
    let path = path_with(&world, &["bash", "unshare", "nsenter", "setpriv", "sudo"]);
    let run = world.run(0, &[], &[("PATH", &path)]);
    refused(
        &world,
        &run,
        &[
            "the labsim provider cannot run on this machine",
            "`etcd` not found on PATH",
            "apt-get install -y etcd-server",
            "`etcdctl` not found on PATH",
            "`kubectl` not found on PATH",
        ],
    );
}

#[test]
fn missing_minikube_and_docker_are_listed_with_how_to_install_them() {
    let world = World::new("nominikube");
    let path = path_with(&world, &["bash"]);
    let reports = world.reports(0);
    let started = std::time::Instant::now();
    let out = std::process::Command::new(common::labs::labs_binary())
        .args([
            "--provider",
            "minikube",
            "--minikube",
            "/nonexistent/minikube",
            "--reports",
        ])
        .arg(&reports)
        .env("PATH", &path)
        .env("LABSIM_HOME", &world.home)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let run = Finished {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    };
    refused(
        &world,
        &run,
        &[
            "the minikube provider cannot run on this machine",
            "minikube at /nonexistent/minikube is not an executable file",
            "`docker` not found on PATH",
            "or run with --provider labsim",
        ],
    );
}
