//! labsim's nodes through the minikube CLI, as the course uses them (issue 2, "Done when"):
//! start three nodes, list them, run commands on them, stop and start one, delete everything.
//! The real bash, sudo, coreutils and nsenter run inside the nodes; the checks look at the host.

mod common;

use common::{Lab, banner, host_has, ip_of};

#[test]
fn three_nodes_from_start_to_delete() {
    let lab = Lab::new("lifecycle");
    let started = lab.start("demo", 3);
    insta::assert_snapshot!("start_three_nodes", lab.normalize(&started.transcript()));

    let list = lab.minikube(&["node", "list", "-p", "demo"]);
    assert_eq!(list.code, 0);
    insta::assert_snapshot!("node_list", lab.normalize(&list.transcript()));
    let ips: Vec<String> = list
        .stdout
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(ips.len(), 3);
    assert!(ips[0].ends_with(".49.2") && ips[1].ends_with(".49.3") && ips[2].ends_with(".49.4"));
    for ip in &ips {
        let b = banner(ip).unwrap_or_default();
        assert!(b.starts_with("SSH-2.0-OpenSSH_"), "{ip}:22 answered {b:?}");
    }

    // A file written with sudo on m02 is m02's only.
    let tee = lab.minikube(&[
        "ssh",
        "-p",
        "demo",
        "-n",
        "demo-m02",
        "--",
        "echo hi | sudo tee /etc/kubernetes/x",
    ]);
    assert_eq!(
        (tee.code, tee.stdout.as_str(), tee.stderr.as_str()),
        (0, "hi\r\n", "")
    );
    assert_eq!(lab.sh("demo", "m02", "cat /etc/kubernetes/x"), "hi\n");
    assert_eq!(
        lab.sh("demo", "demo", "ls -A /etc/kubernetes; echo end"),
        "end\n",
        "the primary does not see m02's file"
    );
    assert_eq!(
        lab.sh(
            "demo",
            "demo-m03",
            "test -e /etc/kubernetes/x || echo absent"
        ),
        "absent\n"
    );
    assert!(!host_has("/etc/kubernetes/x"), "the host does not see it");

    // Who and where a login is.
    assert_eq!(lab.sh("demo", "demo-m02", "id -un"), "docker\n");
    assert_eq!(lab.sh("demo", "demo-m02", "hostname"), "demo-m02\n");
    assert_eq!(
        lab.sh("demo", "demo", "pwd; echo $HOME $USER $SHELL"),
        "/home/docker\n/home/docker docker /bin/bash\n"
    );
    assert_eq!(lab.sh("demo", "demo", "sudo id -un"), "root\n");
    assert_eq!(
        lab.sh("demo", "demo", "sudo sh -c 'echo $ETCDCTL_ENDPOINTS'"),
        format!("https://{}:2379\n", ips[0]),
        "sudo keeps the node's etcd endpoint"
    );
    // stderr is merged into stdout with CRLF, as through minikube's PTY.
    let merged = lab.minikube(&["ssh", "-p", "demo", "--", "echo out; echo err >&2"]);
    assert_eq!(
        (merged.stdout.as_str(), merged.stderr.as_str()),
        ("out\r\nerr\r\n", "")
    );
    // Arguments are joined with spaces and run by bash (quoting is lost).
    let joined = lab.minikube(&["ssh", "-p", "demo", "--", "echo", "a   b", "$HOSTNAME"]);
    assert_eq!(joined.stdout, "a b demo\r\n");

    // The course's `minikube ssh --node minikube cat '$HOME/.kube/config'`: no `--`, the remote
    // shell expands the variable.
    let cat = lab.minikube(&[
        "ssh",
        "--node",
        "demo",
        "-p",
        "demo",
        "cat",
        "$HOME/.profile",
    ]);
    assert_eq!(cat.code, 0, "{}", cat.transcript());
    assert!(
        cat.stdout
            .contains("~/.profile: executed by the command interpreter for login shells.")
    );
    // Without a command: a login shell reading the terminal (here, a pipe).
    let login = lab.minikube_stdin(&["ssh", "-p", "demo", "-n", "m03"], "hostname\nexit 3\n");
    assert_eq!(
        (login.code, login.stdout.as_str(), login.stderr.as_str()),
        (1, "demo-m03\n", "ssh: Process exited with status 3\n")
    );

    // A failing remote command: minikube's message and exit 1, whatever the real status.
    let f = lab.minikube(&["ssh", "-p", "demo", "--", "false"]);
    insta::assert_snapshot!("ssh_false", lab.normalize(&f.transcript()));
    let seven = lab.minikube(&["ssh", "-p", "demo", "--", "exit 7"]);
    assert_eq!(
        (seven.code, seven.stderr.as_str()),
        (1, "ssh: Process exited with status 7\n")
    );

    // Stop m02: nothing answers on its IP any more, ssh says it is not running.
    // Every process of m02 (by PID and start time: namespace inodes are reused by new nodes).
    let init = lab.init_pid("demo", "demo-m02");
    let pid_ns = std::fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    let members = common::processes_where(|pid| {
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == pid_ns)
    });
    assert!(members.len() >= 3, "init, agent, sshd: {members:?}");
    let stop = lab.minikube(&["node", "stop", "-p", "demo", "demo-m02"]);
    insta::assert_snapshot!("node_stop", lab.normalize(&stop.transcript()));
    assert_eq!(banner(&ips[1]), None, "{}:22 still answers", ips[1]);
    let survivors: Vec<_> = members.iter().filter(|p| common::alive(p)).collect();
    assert!(survivors.is_empty(), "processes of m02 left: {survivors:?}");
    let ssh_stopped = lab.minikube(&["ssh", "-p", "demo", "-n", "demo-m02", "--", "true"]);
    insta::assert_snapshot!("ssh_stopped_node", lab.normalize(&ssh_stopped.transcript()));
    let again = lab.minikube(&["node", "stop", "-p", "demo", "m02"]);
    insta::assert_snapshot!("node_stop_again", lab.normalize(&again.transcript()));
    // The IP is still known while the node is stopped.
    assert_eq!(ip_of(&lab, "demo", "m02"), ips[1]);
    let status = lab.minikube(&["status", "-p", "demo"]);
    insta::assert_snapshot!(
        "status_with_stopped_worker",
        lab.normalize(&status.transcript())
    );

    // Start it again: files persist, /tmp and /run start empty.
    let start = lab.minikube(&["node", "start", "-p", "demo", "m02"]);
    insta::assert_snapshot!("node_start", lab.normalize(&start.transcript()));
    assert!(banner(&ips[1]).is_some());
    assert_eq!(lab.sh("demo", "m02", "cat /etc/kubernetes/x"), "hi\n");
    lab.sh("demo", "m02", "touch /tmp/scratch; sudo touch /run/scratch");
    let running = lab.minikube(&["node", "start", "-p", "demo", "m02"]);
    assert_eq!(
        (running.code, running.stdout.as_str()),
        (0, "✅  m02 is already running\n")
    );
    lab.minikube(&["node", "stop", "-p", "demo", "m02"]);
    lab.minikube(&["node", "start", "-p", "demo", "m02"]);
    assert_eq!(
        lab.sh(
            "demo",
            "m02",
            "test -e /tmp/scratch || echo tmp-empty; test -e /run/scratch || echo run-empty"
        ),
        "tmp-empty\nrun-empty\n"
    );

    // Delete: nothing is left, in any namespace.
    let del = lab.minikube(&["delete", "-p", "demo"]);
    insta::assert_snapshot!("delete", lab.normalize(&del.transcript()));
    assert_eq!(lab.leftovers("demo"), Vec::<String>::new());
    assert!(ips.iter().all(|ip| banner(ip).is_none()));
}

#[test]
fn deleting_a_profile_whose_nodes_are_stopped() {
    let lab = Lab::new("stopped-delete");
    lab.start("halt", 2);
    let stop = lab.minikube(&["stop", "-p", "halt"]);
    insta::assert_snapshot!("stop_profile", lab.normalize(&stop.transcript()));
    let ssh = lab.minikube(&["ssh", "-p", "halt", "--", "true"]);
    insta::assert_snapshot!("ssh_primary_stopped", lab.normalize(&ssh.transcript()));
    let ip = lab.minikube(&["ip", "-p", "halt"]);
    assert_eq!(ip.code, 83);
    let del = lab.minikube(&["delete", "-p", "halt"]);
    assert_eq!(del.code, 0, "{}", del.transcript());
    assert_eq!(lab.leftovers("halt"), Vec::<String>::new());
    // Deleting again: minikube's "trying anyways".
    let again = lab.minikube(&["delete", "-p", "halt"]);
    insta::assert_snapshot!("delete_missing_profile", lab.normalize(&again.transcript()));
}

#[test]
fn two_profiles_see_neither_each_others_nodes_nor_files() {
    let lab = Lab::new("isolation");
    let other = Lab::new("isolation-other");
    // Two profiles in one home, and one in another home with the same name, all at once.
    std::thread::scope(|s| {
        s.spawn(|| lab.start("alpha", 2));
        s.spawn(|| lab.start("beta", 1));
        s.spawn(|| other.start("alpha", 1));
    });
    let a = lab.minikube(&["node", "list", "-p", "alpha"]).stdout;
    let b = lab.minikube(&["node", "list", "-p", "beta"]).stdout;
    let c = other.minikube(&["node", "list", "-p", "alpha"]).stdout;
    assert!(a.starts_with("alpha\t") && a.contains("alpha-m02\t") && !a.contains("beta"));
    assert!(b.starts_with("beta\t") && !b.contains("alpha"));
    let ip = |list: &str| {
        list.lines()
            .next()
            .unwrap()
            .split('\t')
            .nth(1)
            .unwrap()
            .to_string()
    };
    let (ia, ib, ic) = (ip(&a), ip(&b), ip(&c));
    assert!(
        ia != ib && ib != ic && ia != ic,
        "each profile has its own addresses: {ia} {ib} {ic}"
    );

    lab.sh(
        "alpha",
        "alpha",
        "echo alpha | sudo tee /var/lib/minikube/who >/dev/null; echo mine > ~/note",
    );
    assert_eq!(
        lab.sh("alpha", "alpha", "cat /var/lib/minikube/who ~/note"),
        "alpha\nmine\n"
    );
    let look = "find /var/lib/minikube -mindepth 1; test -e ~/note || echo no-note";
    assert_eq!(lab.sh("beta", "beta", look), "no-note\n");
    assert_eq!(
        other.sh("alpha", "alpha", look),
        "no-note\n",
        "same profile name, other home"
    );
    // Each node sees only its own processes.
    let ps = lab.sh("beta", "beta", "ps -e -o comm=");
    let count = |name: &str| ps.lines().filter(|l| l.trim() == name).count();
    assert_eq!(
        (count("labsim"), count("sshd")),
        (2, 1),
        "node-init, agent, sshd: {ps}"
    );

    let profiles = lab.minikube(&["profile", "list", "-p", "beta"]);
    insta::assert_snapshot!("profile_list", lab.normalize(&profiles.transcript()));
    let none = other.minikube(&["node", "list", "-p", "beta"]);
    assert_eq!(none.code, 85, "{}", none.transcript());
}
