//! minikube's messages and exit codes for what goes wrong: bad command lines, missing profiles and
//! nodes, what labsim does not emulate; and `minikube cp`, `ip`, `version`.

mod common;

use common::Lab;

fn snap(lab: &Lab, name: &str, args: &[&str]) -> i32 {
    let o = lab.minikube(args);
    insta::assert_snapshot!(name, lab.normalize(&o.transcript()));
    o.code
}

#[test]
fn bad_command_lines_and_missing_things() {
    let lab = Lab::new("cli");
    assert_eq!(
        snap(
            &lab,
            "unknown_flag",
            &["start", "--no-kubernetes", "--bogus"]
        ),
        14
    );
    assert_eq!(snap(&lab, "unknown_shorthand", &["ssh", "-z"]), 14);
    assert_eq!(snap(&lab, "unknown_command", &["strat"]), 14);
    assert_eq!(
        snap(
            &lab,
            "profile_not_found",
            &["ssh", "-p", "nope", "--", "true"]
        ),
        85
    );
    assert_eq!(
        snap(&lab, "profile_not_found_default", &["node", "list"]),
        85
    );
    assert_eq!(snap(&lab, "no_profiles", &["profile", "list"]), 14);
    assert_eq!(snap(&lab, "start_with_kubernetes", &["start"]), 16);
    assert_eq!(
        snap(
            &lab,
            "kubernetes_version_with_no_kubernetes",
            &["start", "--no-kubernetes", "--kubernetes-version=v1.26.2"]
        ),
        14
    );
    assert_eq!(
        snap(
            &lab,
            "other_driver",
            &["start", "--no-kubernetes", "--driver=kvm2"]
        ),
        16
    );
    assert_eq!(
        snap(
            &lab,
            "unknown_driver",
            &["start", "--no-kubernetes", "--driver=frob"]
        ),
        56
    );
    assert_eq!(
        snap(
            &lab,
            "other_runtime",
            &["start", "--no-kubernetes", "--container-runtime=cri-o"]
        ),
        16
    );
    let bad_version = lab.minikube_env(
        &["start", "--no-kubernetes", "-p", "v"],
        &[("KUBERNETES_VERSION", "1.99")],
    );
    assert_eq!(bad_version.code, 14, "{}", bad_version.transcript());
    assert!(bad_version.stderr.contains(
        "Exiting due to MK_USAGE: KUBERNETES_VERSION=1.99: Kubernetes 1.99 is not supported by labsim"
    ));
    assert!(!lab.profile_dir("v").exists());
    assert_eq!(lab.minikube(&["delete", "-p", "v"]).code, 0);

    lab.start("demo", 2);
    assert_eq!(
        snap(
            &lab,
            "ssh_unknown_node",
            &["ssh", "-p", "demo", "-n", "m05", "--", "true"]
        ),
        85
    );
    assert_eq!(
        snap(
            &lab,
            "node_stop_unknown",
            &["node", "stop", "-p", "demo", "m05"]
        ),
        85
    );
    assert_eq!(
        snap(&lab, "node_stop_no_name", &["node", "stop", "-p", "demo"]),
        14
    );
    assert_eq!(snap(&lab, "node_add", &["node", "add", "-p", "demo"]), 16);
    assert_eq!(snap(&lab, "ip_m02", &["ip", "-p", "demo", "-n", "m02"]), 0);
    assert_eq!(
        snap(
            &lab,
            "start_again",
            &["start", "--no-kubernetes", "-p", "demo", "--nodes", "3"]
        ),
        0
    );
    assert_eq!(snap(&lab, "version", &["version"]), 0);
    let boxed = lab.minikube(&["node", "start", "-p", "demo", "m07"]);
    let log = boxed
        .stderr
        .lines()
        .find_map(|l| l.trim_matches(|c| c == '│' || c == ' ').strip_prefix("- "))
        .expect("the box names a log file");
    assert!(std::path::Path::new(log).starts_with(&lab.home), "{log}");
    assert!(
        std::fs::read_to_string(log)
            .unwrap()
            .contains("node start -p demo m07")
    );
    // Passing the real status on needs the harness's wrapper; minikube itself says 1.
    let o = lab.minikube(&["ssh", "-p", "demo", "--", "exit 3"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (1, "ssh: Process exited with status 3\n")
    );
}

#[test]
fn cp_puts_a_host_file_into_a_node_as_minikubes_scp_does() {
    let lab = Lab::new("cp");
    lab.start("files", 2);
    let src = lab.dir.join("master.sh");
    std::fs::write(&src, "#!/bin/bash\necho provisioning\n").unwrap();
    let src = src.display().to_string();
    let to_m02 = lab.minikube(&[
        "cp",
        "-p",
        "files",
        &src,
        "files-m02:/home/docker/master.sh",
    ]);
    assert_eq!(
        (to_m02.code, to_m02.stdout.as_str(), to_m02.stderr.as_str()),
        (0, "", "")
    );
    assert_eq!(
        lab.sh("files", "m02", "stat -c '%U %a' master.sh; bash master.sh"),
        "root 644\nprovisioning\n"
    );
    // Without a node name the target is the primary.
    assert_eq!(lab.minikube(&["cp", "-p", "files", &src, "/tmp/"]).code, 0);
    assert_eq!(
        lab.sh("files", "files", "cat /tmp/master.sh | wc -l"),
        "2\n"
    );
    assert_eq!(
        lab.sh("files", "m02", "test -e /tmp/master.sh || echo absent"),
        "absent\n"
    );
    // Out of a node.
    let back = lab.dir.join("hosts");
    let out = lab.minikube(&[
        "cp",
        "-p",
        "files",
        "files-m02:/etc/hostname",
        &back.display().to_string(),
    ]);
    assert_eq!(out.code, 0, "{}", out.transcript());
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "files-m02\n");
    // A missing directory on the node fails as `sudo test -d` does.
    let missing = lab.minikube(&["cp", "-p", "files", &src, "files-m02:/nowhere/x"]);
    insta::assert_snapshot!("cp_missing_dir", lab.normalize(&missing.transcript()));
    let relative = lab.minikube(&["cp", "-p", "files", &src, "relative/x"]);
    insta::assert_snapshot!("cp_relative", lab.normalize(&relative.transcript()));
}
