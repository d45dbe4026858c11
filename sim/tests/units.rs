//! The node's systemd and journald through the course's commands (`sudo systemctl enable kubelet`,
//! `sudo journalctl -u kubelet`), typed in a node via `minikube ssh`, against test units.

mod common;

use common::{Lab, eventually};

/// Runs `script` on the primary of `profile` and returns its output (LF line ends) and its real
/// exit status, recovered the way the harness does it (minikube ssh always exits 1 on failure).
fn run(lab: &Lab, profile: &str, script: &str) -> (String, i32) {
    let o = lab.minikube(&[
        "ssh",
        "-p",
        profile,
        "--",
        &format!("{script}; echo \"rc=$?\""),
    ]);
    assert_eq!(o.code, 0, "{}", o.transcript());
    let text = o.stdout.replace("\r\n", "\n");
    let (body, rc) = text.trim_end().rsplit_once("rc=").expect("rc line");
    (body.to_string(), rc.parse().unwrap())
}

fn scrub(lab: &Lab, s: &str) -> String {
    let s = lab.normalize(s);
    let s = regex::Regex::new(r"(Main PID|Process): \d+")
        .unwrap()
        .replace_all(&s, "$1: [PID]")
        .into_owned();
    let s = regex::Regex::new(r"─\d+ ")
        .unwrap()
        .replace_all(&s, "─[PID] ")
        .into_owned();
    let s = regex::Regex::new(r"\(limit: \d+\)")
        .unwrap()
        .replace_all(&s, "(limit: [N])")
        .into_owned();
    regex::Regex::new(r"\d+(ms|us|s|min) ago")
        .unwrap()
        .replace_all(&s, "[AGO] ago")
        .into_owned()
}

const HELLO: &str = "[Unit]\nDescription=Hello test unit\n\n[Service]\nExecStart=/bin/sh -c 'echo hello; sleep 1000'\n\n[Install]\nWantedBy=multi-user.target\n";
const TICK: &str = "[Unit]\nDescription=Crash-looping test unit\n\n[Service]\nExecStart=/bin/sh -c 'echo tick; exit 1'\nRestart=always\nRestartSec=1\n";

fn install(lab: &Lab, profile: &str, name: &str, text: &str) {
    let (out, rc) = run(
        lab,
        profile,
        &format!(
            "printf '%b' \"{}\" | sudo tee /etc/systemd/system/{name} >/dev/null",
            text.replace('"', "\\\"").replace('\n', "\\n")
        ),
    );
    assert_eq!((out.as_str(), rc), ("", 0));
}

#[test]
fn a_unit_through_systemctl_and_journalctl() {
    let lab = Lab::new("units");
    lab.start("svc", 1);
    install(&lab, "svc", "hello.service", HELLO);

    assert_eq!(
        run(&lab, "svc", "sudo systemctl is-enabled hello"),
        ("disabled\n".into(), 1)
    );
    assert_eq!(
        run(&lab, "svc", "sudo systemctl enable hello"),
        (
            "Created symlink /etc/systemd/system/multi-user.target.wants/hello.service → /etc/systemd/system/hello.service.\n".into(),
            0
        )
    );
    assert_eq!(
        run(&lab, "svc", "sudo systemctl enable hello"),
        (String::new(), 0)
    );
    assert_eq!(
        run(&lab, "svc", "systemctl is-enabled hello"),
        ("enabled\n".into(), 0)
    );
    assert_eq!(
        run(&lab, "svc", "systemctl is-active hello"),
        ("inactive\n".into(), 3)
    );

    assert_eq!(
        run(&lab, "svc", "sudo systemctl start hello"),
        (String::new(), 0)
    );
    assert_eq!(
        run(&lab, "svc", "systemctl is-active hello"),
        ("active\n".into(), 0)
    );
    assert!(eventually(5, || run(
        &lab,
        "svc",
        "sudo journalctl -u hello --no-pager"
    )
    .0
    .contains("hello")));
    let (status, rc) = run(&lab, "svc", "sudo systemctl status hello");
    assert_eq!(rc, 0);
    insta::assert_snapshot!("status_running", scrub(&lab, &status));
    let (journal, _) = run(&lab, "svc", "sudo journalctl -u hello --no-pager");
    insta::assert_snapshot!("journal_running", scrub(&lab, &journal));
    // Without root: the status but no journal; no changes; journalctl's hint.
    let (status_user, _) = run(&lab, "svc", "systemctl status hello");
    assert!(status_user.contains("Active: active (running)") && !status_user.contains("hello\n"));
    assert_eq!(
        run(&lab, "svc", "systemctl stop hello"),
        ("Failed to stop hello.service: Access denied\nSee system logs and 'systemctl status hello.service' for details.\n".into(), 1)
    );
    let (hint, rc) = run(&lab, "svc", "journalctl -u hello");
    assert_eq!(rc, 0);
    assert!(hint.starts_with(
        "Hint: You are currently not seeing messages from other users and the system.\n"
    ));
    assert!(hint.ends_with("-- No entries --\n"));

    assert_eq!(
        run(&lab, "svc", "sudo systemctl stop hello"),
        (String::new(), 0)
    );
    assert_eq!(
        run(&lab, "svc", "systemctl is-active hello"),
        ("inactive\n".into(), 3)
    );
    let (status, rc) = run(&lab, "svc", "sudo systemctl status hello");
    assert_eq!(rc, 3);
    insta::assert_snapshot!("status_stopped", scrub(&lab, &status));
    let (tail, _) = run(&lab, "svc", "sudo journalctl -u hello --no-pager -n3");
    insta::assert_snapshot!("journal_stopped_tail", scrub(&lab, &tail));

    // Unknown units.
    assert_eq!(
        run(&lab, "svc", "sudo systemctl start nope"),
        (
            "Failed to start nope.service: Unit nope.service not found.\n".into(),
            5
        )
    );
    assert_eq!(
        run(&lab, "svc", "sudo systemctl status nope"),
        ("Unit nope.service could not be found.\n".into(), 4)
    );
    assert_eq!(
        run(&lab, "svc", "sudo journalctl -u nope --no-pager"),
        ("-- No entries --\n".into(), 0)
    );

    // A change on disk is noticed until daemon-reload.
    assert_eq!(
        run(&lab, "svc", "sudo systemctl start hello"),
        (String::new(), 0)
    );
    run(
        &lab,
        "svc",
        "sudo sed -i 's/Hello test unit/Hello again/' /etc/systemd/system/hello.service",
    );
    assert_eq!(
        run(&lab, "svc", "sudo systemctl restart hello"),
        ("Warning: The unit file, source configuration file or drop-ins of hello.service changed on disk. Run 'systemctl daemon-reload' to reload units.\n".into(), 0)
    );
    assert_eq!(
        run(&lab, "svc", "sudo systemctl daemon-reload"),
        (String::new(), 0)
    );
    assert_eq!(
        run(&lab, "svc", "sudo systemctl restart hello"),
        (String::new(), 0)
    );
    assert!(
        run(&lab, "svc", "sudo systemctl status hello")
            .0
            .starts_with("● hello.service - Hello again\n")
    );

    // Enabled units come back after node stop / node start, in a new boot.
    assert_eq!(lab.minikube(&["node", "stop", "-p", "svc", "svc"]).code, 0);
    assert_eq!(lab.minikube(&["node", "start", "-p", "svc", "svc"]).code, 0);
    assert_eq!(
        run(&lab, "svc", "systemctl is-active hello"),
        ("active\n".into(), 0)
    );
    let (journal, _) = run(&lab, "svc", "sudo journalctl -u hello --no-pager");
    assert!(
        journal.contains("Stopping hello.service - Hello again...\n"),
        "{journal}"
    );
    let boot_line = journal
        .lines()
        .position(|l| l.starts_with("-- Boot "))
        .expect(&journal);
    assert!(
        journal
            .lines()
            .skip(boot_line)
            .any(|l| l.ends_with("Started hello.service - Hello again."))
    );
    let (current, _) = run(&lab, "svc", "sudo journalctl -b -u hello --no-pager");
    assert!(
        !current.contains("-- Boot") && current.contains("Started hello.service"),
        "{current}"
    );

    // disable removes the link.
    assert_eq!(
        run(&lab, "svc", "sudo systemctl disable --now hello"),
        (
            "Removed \"/etc/systemd/system/multi-user.target.wants/hello.service\".\n".into(),
            0
        )
    );
    assert_eq!(
        run(&lab, "svc", "systemctl is-active hello"),
        ("inactive\n".into(), 3)
    );
}

#[test]
fn a_crashing_unit_is_restarted_after_restart_sec() {
    let lab = Lab::new("restart");
    lab.start("loop", 1);
    install(&lab, "loop", "tick.service", TICK);
    assert_eq!(
        run(&lab, "loop", "sudo systemctl enable tick").0,
        "The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\nAlias= settings in the [Install] section, and DefaultInstance= for template\nunits). This means they are not meant to be enabled using systemctl.\n \nPossible reasons for having this kind of units are:\n• A unit may be statically enabled by being symlinked from another unit's\n  .wants/ or .requires/ directory.\n• A unit's purpose may be to act as a helper for some other unit which has\n  a requirement dependency on it.\n• A unit may be started when needed via activation (socket, path, timer,\n  D-Bus, udev, scripted systemctl call, ...).\n• In case of template units, the unit is meant to be enabled with some\n  instance name specified.\n"
    );
    assert_eq!(
        run(&lab, "loop", "systemctl is-enabled tick"),
        ("static\n".into(), 0)
    );
    let started = std::time::Instant::now();
    assert_eq!(
        run(&lab, "loop", "sudo systemctl start tick"),
        (String::new(), 0)
    );
    assert!(eventually(3, || run(
        &lab,
        "loop",
        "systemctl is-active tick"
    )
    .0 == "activating\n"));
    let (status, rc) = run(&lab, "loop", "sudo systemctl status tick -n0");
    assert_eq!(rc, 3);
    insta::assert_snapshot!("status_auto_restart", scrub(&lab, &status));
    let ticks = |lab: &Lab| {
        run(lab, "loop", "sudo journalctl -u tick -o cat --no-pager")
            .0
            .lines()
            .filter(|l| *l == "tick")
            .count()
    };
    // RestartSec=1: no second tick before a second has passed, one soon after.
    if started.elapsed() < std::time::Duration::from_millis(800) {
        assert_eq!(ticks(&lab), 1);
    }
    assert!(eventually(4, || ticks(&lab) >= 2));
    let (journal, _) = run(&lab, "loop", "sudo journalctl -u tick --no-pager -n 7 -q");
    let journal = scrub(&lab, &journal);
    assert!(
        journal.contains(
            "systemd[PID]: tick.service: Main process exited, code=exited, status=1/FAILURE\n"
        ) && journal.contains("systemd[PID]: tick.service: Failed with result 'exit-code'.\n")
            && journal.contains(
                "systemd[PID]: tick.service: Scheduled restart job, restart counter is at 1.\n"
            )
            && journal.contains("systemd[PID]: Stopped tick.service - Crash-looping test unit.\n"),
        "{journal}"
    );
    // journalctl -f follows new entries as they are written.
    let (followed, _) = run(
        &lab,
        "loop",
        "sudo timeout 2.5 journalctl -u tick -f -n0 -o cat",
    );
    assert!(
        followed.lines().filter(|l| *l == "tick").count() >= 1,
        "{followed}"
    );
    assert_eq!(
        run(&lab, "loop", "sudo systemctl stop tick"),
        (String::new(), 0)
    );
    assert_eq!(
        run(&lab, "loop", "systemctl is-active tick"),
        ("inactive\n".into(), 3)
    );
}

#[test]
fn systemctl_and_journalctl_outside_a_node_say_so() {
    let lab = Lab::new("outside");
    for (program, args) in [
        ("systemctl", ["status", "kubelet"]),
        ("journalctl", ["-u", "kubelet"]),
    ] {
        let link = lab.dir.join("bin").join(program);
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_labsim"), &link).unwrap();
        let o = common::run(std::process::Command::new(&link).args(args));
        assert_eq!(o.code, 1);
        assert!(
            o.stderr.contains("works only inside a running labsim node"),
            "{}",
            o.stderr
        );
        assert!(o.stderr.contains("minikube ssh"), "{}", o.stderr);
    }
}

#[test]
fn containerd_answers_its_version_and_its_unit_is_the_runtime() {
    // The harness's chapter-2 check, typed as it types it: a containerd version line, then the
    // unit active (a kicbase node runs containerd as containerd.service).
    let lab = Lab::new("containerd");
    lab.start("ctd", 1);
    let expected = format!("{}\nactive\n", labsim::cli::containerd::version_line());
    assert_eq!(
        run(
            &lab,
            "ctd",
            "containerd --version && sudo systemctl is-active containerd"
        ),
        (expected.clone(), 0)
    );
    // The host's /usr/bin/containerd (when it has one) is the node's too, as systemctl is.
    if std::path::Path::new("/usr/bin/containerd").is_file() {
        assert_eq!(
            run(&lab, "ctd", "/usr/bin/containerd --version"),
            (expected.lines().next().unwrap().to_string() + "\n", 0)
        );
    }
    assert_eq!(
        run(&lab, "ctd", "systemctl is-enabled containerd"),
        ("enabled\n".into(), 0)
    );
    let (status, rc) = run(&lab, "ctd", "sudo systemctl status containerd");
    assert_eq!(rc, 0);
    let status = regex::Regex::new(r#"time="[^"]+"|Tasks: \d+"#)
        .unwrap()
        .replace_all(&scrub(&lab, &status), "[VARIES]")
        .into_owned();
    insta::assert_snapshot!("containerd_status", status);
    let (journal, _) = run(&lab, "ctd", "sudo journalctl -u containerd --no-pager");
    assert!(
        journal.contains("containerd successfully booted"),
        "{journal}"
    );
    // The runtime is the node agent's: systemctl cannot stop it on its own, and says so.
    let (out, rc) = run(&lab, "ctd", "sudo systemctl stop containerd");
    assert_eq!(rc, 1);
    assert!(out.contains("not implemented"), "{out}");
    assert_eq!(
        run(&lab, "ctd", "systemctl is-active containerd"),
        ("active\n".into(), 0)
    );
    // The CRI version is the same containerd.
    let (version, _) = run(&lab, "ctd", "sudo crictl version");
    assert!(
        version.contains(&format!(
            "RuntimeVersion:  {}",
            labsim::runtime::CONTAINERD_VERSION
        )),
        "{version}"
    );
}
