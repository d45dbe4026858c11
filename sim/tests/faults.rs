//! Fault injection against a cluster built with the course's steps, judged by the real kubectl:
//! each fault shows (slow responses, broken watches, a NotReady node whose pods keep running,
//! restarted control-plane containers, an API server riding through etcd's restart) and the
//! cluster recovers; labsim's event log holds kubectl's writes with their resulting
//! resourceVersions and every fault with its time.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::course::CourseCluster;
use common::eventually;
use labsim::paths::Home;

const HELLO: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello-world\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: hello}\n  template:\n    metadata:\n      labels: {app: hello}\n    spec:\n      containers:\n      - name: podinfo\n        image: ghcr.io/learnk8s/podinfo:2023.03\n        ports:\n        - containerPort: 9898\n";

fn jsonpath(c: &CourseCluster, args: &[&str], path: &str) -> String {
    let mut a = args.to_vec();
    let p = format!("jsonpath={path}");
    a.extend(["-o", p.as_str()]);
    c.kubectl(&a).stdout
}

fn ready(c: &CourseCluster, node: &str) -> String {
    jsonpath(
        c,
        &["get", "node", node],
        "{.status.conditions[?(@.type==\"Ready\")].status}",
    )
}

fn restarts(c: &CourseCluster, pod: &str) -> i64 {
    jsonpath(
        c,
        &["-n", "kube-system", "get", "pod", pod],
        "{.status.containerStatuses[0].restartCount}",
    )
    .parse()
    .unwrap_or(-1)
}

/// A `kubectl get --raw …?watch=true` in the background.
fn raw_watch(c: &CourseCluster, what: &str) -> std::process::Child {
    Command::new("/usr/bin/kubectl")
        .args(["get", "--raw", what])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("KUBECACHEDIR", c.lab.dir.join("kube-cache"))
        .env("HOME", &c.lab.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a child to exit (killing it after `secs`); its exit code and stderr.
fn finish(mut child: std::process::Child, secs: u64) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_fault_shows_through_kubectl_and_the_cluster_recovers() {
    let c = CourseCluster::build("faults", "flt", 1, &[("LABSIM_EVENT_LOG", "1")]);
    let worker = c.workers[0].clone();
    let fault = |args: &[&str]| {
        let mut a = vec!["fault", "-p", "flt"];
        a.extend(args);
        let o = c.labsim(&a);
        assert_eq!(o.code, 0, "labsim {a:?}: {}", o.transcript());
        o.stdout
    };

    // Bad input names what exists.
    let o = c.labsim(&["fault", "-p", "nope", "clear"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "labsim fault: profile \"nope\" not found: the profiles are flt\n"
        )
    );
    let o = c.labsim(&["fault", "-p", "flt", "stop-heartbeats", "m09"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            1,
            "labsim fault: node \"m09\" not found in profile \"flt\": the nodes are flt, flt-m02\n"
        )
    );
    assert_eq!(c.labsim(&["fault", "-p", "flt", "delay-api"]).code, 2);

    // A workload on the worker; kubectl's writes in labsim's event log.
    let f = c.lab.dir.join("hello.yaml");
    std::fs::write(&f, HELLO).unwrap();
    c.ok(&["apply", "-f", f.to_str().unwrap()]);
    c.ok(&["scale", "deployment/hello-world", "--replicas=2"]);
    let scaled = jsonpath(
        &c,
        &["get", "deploy", "hello-world"],
        "{.metadata.resourceVersion}",
    );
    assert!(
        eventually(60, || jsonpath(
            &c,
            &["get", "pods", "-l", "app=hello"],
            "{.items[*].status.phase}"
        ) == "Running Running"),
        "{}",
        c.kubectl(&["get", "pods", "-o", "wide"]).transcript()
    );
    let home = Home::at(&c.lab.home);
    let log = labsim::eventlog::load(&home, "flt").unwrap();
    let changes = log.of("deployments.apps/default/hello-world");
    let kubectl: Vec<(&str, &str, Option<&str>)> = changes
        .iter()
        .filter(|ch| ch.user == "kubernetes-admin")
        .map(|ch| {
            (
                ch.verb.as_str(),
                ch.subresource.as_str(),
                ch.resource_version.as_deref(),
            )
        })
        .collect();
    assert_eq!(kubectl[0].0, "create");
    assert_eq!((kubectl[1].0, kubectl[1].1), ("patch", "scale"));
    // The controllers may have written the Deployment between the scale and kubectl's read (the
    // apiserver-only test in audit.rs checks the exact resourceVersions).
    let scale_rv: i64 = kubectl[1].2.unwrap().parse().unwrap();
    assert!(scale_rv <= scaled.parse::<i64>().unwrap());
    assert!(
        changes
            .iter()
            .any(|ch| ch.resource_version.as_deref() == Some(scaled.as_str())),
        "the Deployment's current resourceVersion is a change in the log: {changes:?}"
    );
    assert!(
        changes.iter().any(|ch| ch.user
            == "system:serviceaccount:kube-system:deployment-controller"
            || ch.user == "system:kube-controller-manager"),
        "the controller's status updates are changes too: {changes:?}"
    );
    let pod_changes: usize = log
        .changes
        .iter()
        .filter(|(k, _)| k.resource == "pods" && k.name.starts_with("hello-world-"))
        .map(|(_, v)| v.len())
        .sum();
    assert!(
        pod_changes >= 6,
        "create, binding, status updates of two pods"
    );
    let text = c.labsim(&[
        "audit",
        "-p",
        "flt",
        "--object",
        "deployments.apps/default/hello-world",
    ]);
    assert_eq!(text.code, 0, "{}", text.transcript());
    assert!(
        text.stdout.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.get(1..5)
                == Some(
                    &[
                        "patch",
                        "scale",
                        &format!("rv={scale_rv}"),
                        "kubernetes-admin",
                    ][..],
                )
        }),
        "{}",
        text.stdout
    );

    // delay-api: every response held back, then not.
    let out = fault(&["delay-api", "1200ms", "--for", "5s"]);
    assert!(
        out.contains("flt delay-api injected: every API response is held back 1.2s for 5s (until "),
        "{out}"
    );
    let t = Instant::now();
    c.ok(&["get", "namespace", "default"]);
    assert!(
        t.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    assert!(
        eventually(10, || labsim::eventlog::load(&home, "flt")
            .unwrap()
            .faults
            .iter()
            .any(|f| f.fault == "delay-api" && f.event == "expired")),
        "the delay ends by itself"
    );
    let t = Instant::now();
    c.ok(&["get", "namespace", "default"]);
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );

    // drop-watches: an open watch breaks as on a connection reset; new watches work.
    let w = raw_watch(&c, "/api/v1/namespaces/default/configmaps?watch=true");
    std::thread::sleep(Duration::from_secs(1));
    fault(&["drop-watches"]);
    let (code, err) = finish(w, 10);
    assert_eq!((code, err.trim()), (Some(1), "error: unexpected EOF"));
    let w = raw_watch(
        &c,
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1",
    );
    assert_eq!(finish(w, 10).0, Some(0));

    // stop-heartbeats: the node goes NotReady after the grace period (10 s in the fast profile)
    // while its pods keep running; clear makes it Ready again.
    let t = Instant::now();
    fault(&["stop-heartbeats", "m02"]);
    assert!(
        eventually(40, || ready(&c, &worker) == "Unknown"),
        "NotReady: {}",
        c.kubectl(&["get", "node", &worker, "-o", "yaml"]).stdout
    );
    let took = t.elapsed();
    // The last heartbeat was at most a lease renewal (2 s) before the fault; the node monitor
    // checks every 5 s.
    assert!(
        took >= Duration::from_secs(8) && took <= Duration::from_secs(25),
        "NotReady after {took:?}"
    );
    let running = c.lab.sh("flt", &worker, "sudo crictl ps --name podinfo -q");
    assert_eq!(
        running.lines().count(),
        2,
        "the pods keep running: {running}"
    );
    assert!(
        c.ok(&["get", "node", &worker]).contains("NotReady"),
        "kubectl shows it"
    );
    fault(&["clear"]);
    assert!(
        eventually(20, || ready(&c, &worker) == "True"),
        "Ready again: {}",
        c.kubectl(&["get", "nodes"]).transcript()
    );

    // restart-apiserver: the process exits, open watches end, the kubelet restarts it.
    let w = raw_watch(&c, "/api/v1/namespaces/default/configmaps?watch=true");
    std::thread::sleep(Duration::from_secs(1));
    let out = fault(&["restart-apiserver"]);
    assert!(
        out.contains("flt restart-apiserver injected: stopped the kube-apiserver container"),
        "{out}"
    );
    let (code, _) = finish(w, 10);
    assert_eq!(code, Some(1), "the watch broke");
    let pod = "kube-apiserver-flt";
    assert!(
        eventually(60, || restarts(&c, pod) == 1),
        "{}",
        c.kubectl(&["-n", "kube-system", "get", "pods"])
            .transcript()
    );
    c.ok(&["get", "nodes"]);

    // restart-etcd: the API server rides through; an open watch goes on and sees what happens
    // after etcd is back.
    let events = c.lab.dir.join("cm-watch.out");
    let mut watch = Command::new("/usr/bin/kubectl")
        .args([
            "get",
            "configmaps",
            "-w",
            "--output-watch-events",
            "--no-headers",
        ])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("KUBECACHEDIR", c.lab.dir.join("kube-cache"))
        .env("HOME", &c.lab.dir)
        .stdout(std::fs::File::create(&events).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    fault(&["restart-etcd"]);
    assert!(
        eventually(60, || restarts(&c, "etcd-flt") == 1),
        "{}",
        c.kubectl(&["-n", "kube-system", "get", "pods"])
            .transcript()
    );
    assert!(eventually(30, || c
        .kubectl(&["create", "configmap", "after-etcd", "--from-literal=a=b"])
        .code
        == 0));
    assert!(
        eventually(20, || std::fs::read_to_string(&events)
            .unwrap_or_default()
            .contains("after-etcd")),
        "the watch went on: {}",
        std::fs::read_to_string(&events).unwrap_or_default()
    );
    assert!(
        watch.try_wait().unwrap().is_none(),
        "the watch is still open"
    );
    let _ = watch.kill();
    let _ = watch.wait();

    // Every fault is in the event log with the agent's time.
    let log = labsim::eventlog::load(&home, "flt").unwrap();
    let seen: Vec<(String, String, String)> = log
        .faults
        .iter()
        .map(|f| (f.node.clone(), f.fault.clone(), f.event.clone()))
        .collect();
    for want in [
        ("flt", "delay-api", "injected"),
        ("flt", "delay-api", "expired"),
        ("flt", "drop-watches", "injected"),
        ("flt-m02", "stop-heartbeats", "injected"),
        ("flt-m02", "clear", "cleared"),
        ("flt", "restart-apiserver", "injected"),
        ("flt", "restart-etcd", "injected"),
    ] {
        assert!(
            seen.contains(&(want.0.into(), want.1.into(), want.2.into())),
            "{want:?} missing in {seen:?}"
        );
    }
    let times: Vec<&String> = log.faults.iter().map(|f| &f.time).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in order");
    // The node lifecycle controller's NotReady is a change of the Node in the event log.
    let node = log.of(&format!("nodes/{worker}"));
    assert!(
        node.iter()
            .any(|ch| ch.user == "system:kube-controller-manager" && ch.subresource == "status"),
        "{node:?}"
    );
}
