//! labsim's kube-controller-manager and kube-scheduler as processes, against the real etcd, labsim's
//! API server and the real kubectl, with Node objects whose Leases this test renews and a minimal
//! stand-in kubelet (it marks pods bound to live nodes Running and Ready, and finishes their graceful
//! deletions, as a kubelet would).
//!
//! One scenario, in order: leader election, node IPAM, the default ServiceAccount and root CA
//! ConfigMap; a Deployment of 2 spread over the two workers and kept off the tainted control plane;
//! scaling to 5 and back to 2 with the events' texts; Endpoints and EndpointSlices from ready pods;
//! a DaemonSet with a pod per eligible node, also on a node added later; a FailedScheduling message;
//! then a worker whose heartbeats stop: Unknown after the grace period (measured), taints, pods
//! marked not ready, eviction after the toleration and a replacement on a live node.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Cluster;
use labsim::client::{Client, Config, ListParams, path};
use serde_json::{Value, json};

const VERSION: &str = "1.33";
const GRACE_SECS: u64 = 8;
const MONITOR_SECS: u64 = 1;
const TOLERATION_SECS: u64 = 5;

/// A component process, killed and reaped on drop.
struct Component {
    child: std::process::Child,
    log: PathBuf,
}

impl Component {
    fn start(cluster: &Cluster, program: &str, args: Vec<String>) -> Component {
        let log = cluster.dir.0.join(format!("{program}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_labsim"))
            .arg(program)
            .args(args)
            .env("LABSIM_KUBERNETES_VERSION", VERSION)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Component { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stops the stand-in kubelet's task on drop.
struct TaskGuard(tokio::task::JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn kcm_args(c: &Cluster) -> Vec<String> {
    let p = |f: &str| c.dir.0.join("pki").join(f).display().to_string();
    let kc = c.kubeconfig().display().to_string();
    vec![
        "--allocate-node-cidrs=true".into(),
        format!("--authentication-kubeconfig={kc}"),
        format!("--authorization-kubeconfig={kc}"),
        format!("--bind-address={}", c.ip),
        format!("--client-ca-file={}", p("ca.crt")),
        "--cluster-cidr=10.244.0.0/16".into(),
        "--cluster-name=kubernetes".into(),
        format!("--cluster-signing-cert-file={}", p("ca.crt")),
        format!("--cluster-signing-key-file={}", p("ca.key")),
        "--controllers=*,bootstrapsigner,tokencleaner".into(),
        format!("--kubeconfig={kc}"),
        "--leader-elect=true".into(),
        format!("--requestheader-client-ca-file={}", p("front-proxy-ca.crt")),
        format!("--root-ca-file={}", p("ca.crt")),
        format!("--service-account-private-key-file={}", p("sa.key")),
        "--service-cluster-ip-range=10.96.0.0/12".into(),
        "--use-service-account-credentials=true".into(),
        format!("--node-monitor-grace-period={GRACE_SECS}s"),
        format!("--node-monitor-period={MONITOR_SECS}s"),
    ]
}

fn scheduler_args(c: &Cluster) -> Vec<String> {
    let kc = c.kubeconfig().display().to_string();
    vec![
        format!("--authentication-kubeconfig={kc}"),
        format!("--authorization-kubeconfig={kc}"),
        format!("--bind-address={}", c.ip),
        format!("--kubeconfig={kc}"),
        "--leader-elect=true".into(),
    ]
}

fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

fn now_time() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

async fn create_node(client: &Client, name: &str, control_plane: bool) {
    let mut labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"});
    let mut spec = json!({});
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        spec["taints"] =
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    }
    let t = now_time();
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": spec,
        "status": {"capacity": {"cpu": "2", "memory": "8025424Ki", "pods": "110"},
                   "allocatable": {"cpu": "2", "memory": "8025424Ki", "pods": "110"},
                   "conditions": [
                       {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": t, "lastTransitionTime": t},
                       {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": t, "lastTransitionTime": t},
                       {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": t, "lastTransitionTime": t},
                       {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": t, "lastTransitionTime": t}]}});
    client
        .create(&path("", "v1", "nodes", None, None), &node)
        .await
        .unwrap();
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": now_micro()}});
    client
        .create(
            &path(
                "coordination.k8s.io",
                "v1",
                "leases",
                Some("kube-node-lease"),
                None,
            ),
            &lease,
        )
        .await
        .unwrap();
}

/// What the stand-in kubelet shares with the test: the live nodes and when each last renewed.
#[derive(Default)]
struct Kubelets {
    live: HashSet<String>,
    last_renew: std::collections::HashMap<String, Instant>,
}

async fn kubelet_loop(client: Client, state: Arc<Mutex<Kubelets>>) {
    let mut ip = 10u32;
    loop {
        let live: Vec<String> = state.lock().unwrap().live.iter().cloned().collect();
        for n in &live {
            let p = path(
                "coordination.k8s.io",
                "v1",
                "leases",
                Some("kube-node-lease"),
                Some(n),
            );
            if let Ok(mut l) = client.get(&p).await {
                l["spec"]["renewTime"] = json!(now_micro());
                if client.update(&p, &l).await.is_ok() {
                    state
                        .lock()
                        .unwrap()
                        .last_renew
                        .insert(n.clone(), Instant::now());
                }
            }
        }
        if let Ok(list) = client
            .list(&path("", "v1", "pods", None, None), &ListParams::default())
            .await
        {
            for pod in list["items"].as_array().cloned().unwrap_or_default() {
                let node = pod["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if !live.contains(&node) {
                    continue;
                }
                let ns = pod["metadata"]["namespace"].as_str().unwrap().to_string();
                let name = pod["metadata"]["name"].as_str().unwrap().to_string();
                let pp = path("", "v1", "pods", Some(&ns), Some(&name));
                if !pod["metadata"]["deletionTimestamp"].is_null() {
                    let _ = client.delete(&pp, &json!({"gracePeriodSeconds": 0})).await;
                    continue;
                }
                if pod["status"]["phase"] == "Running" {
                    continue;
                }
                ip += 1;
                let idx = node
                    .strip_prefix("minikube-m0")
                    .and_then(|d| d.parse::<u32>().ok())
                    .unwrap_or(1)
                    - 1;
                let t = now_time();
                let mut up = pod.clone();
                up["status"]["phase"] = json!("Running");
                up["status"]["podIP"] = json!(format!("10.244.{idx}.{ip}"));
                up["status"]["podIPs"] = json!([{"ip": format!("10.244.{idx}.{ip}")}]);
                up["status"]["startTime"] = json!(t);
                up["status"]["conditions"] = json!([
                    {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                    {"type": "Ready", "status": "True", "lastTransitionTime": t},
                    {"type": "ContainersReady", "status": "True", "lastTransitionTime": t},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": t}]);
                let _ = client.update(&format!("{pp}/status"), &up).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Polls `check` until it returns `Some`, or fails with what was awaited and the components' logs.
async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    logs: &dyn Fn() -> String,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}\n{}", logs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn list(client: &Client, p: &str) -> Vec<Value> {
    client
        .list(p, &ListParams::default())
        .await
        .map(|l| l["items"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

async fn events(client: &Client, ns: &str) -> Vec<Value> {
    list(client, &path("", "v1", "events", Some(ns), None)).await
}

fn has_event(evs: &[Value], reason: &str, message: &str) -> bool {
    evs.iter()
        .any(|e| e["reason"] == reason && e["message"] == message)
}

async fn pods_of(client: &Client, selector: &str) -> Vec<Value> {
    client
        .list(
            &path("", "v1", "pods", Some("default"), None),
            &ListParams {
                label_selector: Some(selector.into()),
                ..Default::default()
            },
        )
        .await
        .map(|l| l["items"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

fn node_of(p: &Value) -> String {
    p["spec"]["nodeName"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_and_scheduler_run_the_course_workloads() {
    let toleration = format!("--default-unreachable-toleration-seconds={TOLERATION_SECS}");
    let not_ready = format!("--default-not-ready-toleration-seconds={TOLERATION_SECS}");
    let cluster = Cluster::start_with(VERSION, &[&toleration, &not_ready]).await;
    let kcm = Component::start(&cluster, "kube-controller-manager", kcm_args(&cluster));
    let sched = Component::start(&cluster, "kube-scheduler", scheduler_args(&cluster));
    let logs = || {
        format!(
            "--- kube-controller-manager ---\n{}\n--- kube-scheduler ---\n{}",
            kcm.log(),
            sched.log()
        )
    };
    let client = Client::new(&Config::from_kubeconfig(&cluster.kubeconfig()).unwrap()).unwrap();
    let t = Duration::from_secs(30);

    // Leader election: both Leases, held by `<hostname>_<uuid>`.
    for lease in ["kube-controller-manager", "kube-scheduler"] {
        let holder = wait_for(&format!("the {lease} lease"), t, &logs, || {
            let c = client.clone();
            async move {
                c.get_opt(&path(
                    "coordination.k8s.io",
                    "v1",
                    "leases",
                    Some("kube-system"),
                    Some(lease),
                ))
                .await
                .ok()
                .flatten()
                .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
            }
        })
        .await;
        assert!(holder.contains('_'), "{lease} holder {holder}");
        assert_eq!(
            client
                .get(&path(
                    "coordination.k8s.io",
                    "v1",
                    "leases",
                    Some("kube-system"),
                    Some(lease)
                ))
                .await
                .unwrap()["spec"]["leaseDurationSeconds"],
            15
        );
    }

    // The secure ports answer the probes kubeadm's manifests and checks use.
    for (port, p) in [(10257, "/healthz"), (10259, "/livez")] {
        let (code, out, err) = cluster.curl(&["-sk", &format!("https://{}:{port}{p}", cluster.ip)]);
        assert_eq!((code, out.as_str()), (0, "ok"), "{err}");
    }
    let (_, forbidden, _) = cluster.curl(&[
        "-sk",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://{}:10257/metrics", cluster.ip),
    ]);
    assert_eq!(forbidden, "403");

    // Nodes, in order; the stand-in kubelet keeps their leases fresh.
    let kubelets = Arc::new(Mutex::new(Kubelets::default()));
    for (name, cp) in [
        ("minikube", true),
        ("minikube-m02", false),
        ("minikube-m03", false),
    ] {
        create_node(&client, name, cp).await;
        kubelets.lock().unwrap().live.insert(name.to_string());
    }
    let _kubelet = TaskGuard(tokio::spawn(kubelet_loop(client.clone(), kubelets.clone())));

    // Node IPAM: /24s in order.
    for (name, cidr) in [
        ("minikube", "10.244.0.0/24"),
        ("minikube-m02", "10.244.1.0/24"),
        ("minikube-m03", "10.244.2.0/24"),
    ] {
        let got = wait_for(&format!("podCIDR of {name}"), t, &logs, || {
            let c = client.clone();
            async move {
                c.get(&path("", "v1", "nodes", None, Some(name)))
                    .await
                    .ok()
                    .and_then(|n| n["spec"]["podCIDR"].as_str().map(str::to_string))
            }
        })
        .await;
        assert_eq!(got, cidr);
    }
    // ServiceAccount and root CA publisher.
    wait_for("the default ServiceAccount", t, &logs, || {
        let c = client.clone();
        async move {
            c.get_opt(&path(
                "",
                "v1",
                "serviceaccounts",
                Some("default"),
                Some("default"),
            ))
            .await
            .ok()
            .flatten()
        }
    })
    .await;
    // --use-service-account-credentials: one ServiceAccount per controller in kube-system.
    wait_for("the controllers' ServiceAccounts", t, &logs, || {
        let c = client.clone();
        async move {
            let names: HashSet<String> = list(
                &c,
                &path("", "v1", "serviceaccounts", Some("kube-system"), None),
            )
            .await
            .iter()
            .filter_map(|s| s["metadata"]["name"].as_str().map(str::to_string))
            .collect();
            [
                "deployment-controller",
                "replicaset-controller",
                "node-controller",
                "generic-garbage-collector",
            ]
            .iter()
            .all(|n| names.contains(*n))
            .then_some(())
        }
    })
    .await;
    let cm = wait_for("kube-root-ca.crt", t, &logs, || {
        let c = client.clone();
        async move {
            c.get_opt(&path(
                "",
                "v1",
                "configmaps",
                Some("default"),
                Some("kube-root-ca.crt"),
            ))
            .await
            .ok()
            .flatten()
        }
    })
    .await;
    let ca = std::fs::read_to_string(cluster.dir.0.join("pki/ca.crt")).unwrap();
    assert_eq!(cm["data"]["ca.crt"], ca.as_str());

    // The hello-world Deployment and Service, applied with the real kubectl.
    cluster.apply(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello-world\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: hello\n  template:\n    metadata:\n      labels:\n        app: hello\n    spec:\n      containers:\n      - name: podinfo\n        image: ghcr.io/learnk8s/podinfo:2.0\n        ports:\n        - name: http\n          containerPort: 9898\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: hello\nspec:\n  selector:\n    app: hello\n  ports:\n  - port: 80\n    targetPort: http\n",
    );
    let pods = wait_for("2 hello pods, one per worker, Running", t, &logs, || {
        let c = client.clone();
        async move {
            let pods = pods_of(&c, "app=hello").await;
            let nodes: HashSet<String> = pods.iter().map(node_of).collect();
            (pods.len() == 2
                && pods.iter().all(|p| p["status"]["phase"] == "Running")
                && nodes.len() == 2)
                .then_some(pods)
        }
    })
    .await;
    let nodes: HashSet<String> = pods.iter().map(node_of).collect();
    assert_eq!(
        nodes,
        ["minikube-m02", "minikube-m03"]
            .into_iter()
            .map(str::to_string)
            .collect()
    );
    let rs = list(
        &client,
        &path("apps", "v1", "replicasets", Some("default"), None),
    )
    .await;
    assert_eq!(rs.len(), 1);
    let rs_name = rs[0]["metadata"]["name"].as_str().unwrap().to_string();
    let hash = rs[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rs_name, format!("hello-world-{hash}"));
    assert_eq!(
        rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    assert_eq!(
        rs[0]["metadata"]["ownerReferences"][0]["kind"],
        "Deployment"
    );
    for p in &pods {
        assert!(
            p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{rs_name}-"))
        );
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash.as_str());
    }
    let d = wait_for("the Deployment's status", t, &logs, || {
        let c = client.clone();
        async move {
            let d = c
                .get(&path(
                    "apps",
                    "v1",
                    "deployments",
                    Some("default"),
                    Some("hello-world"),
                ))
                .await
                .ok()?;
            let conds = d["status"]["conditions"].as_array()?.clone();
            let progressing = conds.iter().find(|c| c["type"] == "Progressing")?;
            (d["status"]["availableReplicas"] == 2
                && progressing["reason"] == "NewReplicaSetAvailable")
                .then_some(d)
        }
    })
    .await;
    let conds = d["status"]["conditions"].as_array().unwrap();
    let available = conds.iter().find(|c| c["type"] == "Available").unwrap();
    assert_eq!(available["reason"], "MinimumReplicasAvailable");
    assert_eq!(available["message"], "Deployment has minimum availability.");
    let progressing = conds.iter().find(|c| c["type"] == "Progressing").unwrap();
    assert_eq!(
        progressing["message"],
        format!("ReplicaSet \"{rs_name}\" has successfully progressed.")
    );
    assert_eq!(d["status"]["updatedReplicas"], 2);
    assert_eq!(d["status"]["observedGeneration"], 1);
    let evs = events(&client, "default").await;
    assert!(
        has_event(
            &evs,
            "ScalingReplicaSet",
            &format!("Scaled up replica set {rs_name} from 0 to 2")
        ),
        "{evs:#?}"
    );
    for p in &pods {
        let n = p["metadata"]["name"].as_str().unwrap();
        assert!(has_event(
            &evs,
            "SuccessfulCreate",
            &format!("Created pod: {n}")
        ));
        assert!(has_event(
            &evs,
            "Scheduled",
            &format!("Successfully assigned default/{n} to {}", node_of(p))
        ));
    }
    // What the real kubectl shows.
    let rs_table = cluster.ok(&["get", "rs"]);
    assert!(
        rs_table.contains(&rs_name) && rs_table.contains("   2         2         2"),
        "{rs_table}"
    );

    // Endpoints and EndpointSlices from the ready pods.
    let ep = wait_for("Endpoints hello with 2 ready addresses", t, &logs, || {
        let c = client.clone();
        async move {
            let ep = c
                .get_opt(&path("", "v1", "endpoints", Some("default"), Some("hello")))
                .await
                .ok()
                .flatten()?;
            (ep["subsets"][0]["addresses"].as_array().map(Vec::len) == Some(2)).then_some(ep)
        }
    })
    .await;
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 9898);
    assert_eq!(ep["subsets"][0]["addresses"][0]["targetRef"]["kind"], "Pod");
    let slices = wait_for("an EndpointSlice with 2 ready endpoints", t, &logs, || {
        let c = client.clone();
        async move {
            let s = c
                .list(
                    &path(
                        "discovery.k8s.io",
                        "v1",
                        "endpointslices",
                        Some("default"),
                        None,
                    ),
                    &ListParams {
                        label_selector: Some("kubernetes.io/service-name=hello".into()),
                        ..Default::default()
                    },
                )
                .await
                .ok()?;
            let items = s["items"].as_array()?.clone();
            (items.len() == 1
                && items[0]["endpoints"].as_array().map(Vec::len) == Some(2)
                && items[0]["endpoints"]
                    .as_array()?
                    .iter()
                    .all(|e| e["conditions"]["ready"] == true))
            .then_some(items)
        }
    })
    .await;
    assert_eq!(
        slices[0]["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slices[0]["ports"][0]["port"], 9898);
    let ep_out = cluster.ok(&["get", "endpoints", "hello"]);
    assert!(ep_out.contains(":9898"), "{ep_out}");

    // Scale to 5 and back to 2.
    cluster.ok(&["scale", "deployment", "hello-world", "--replicas=5"]);
    wait_for("5 running hello pods", t, &logs, || {
        let c = client.clone();
        async move {
            let pods = pods_of(&c, "app=hello").await;
            (pods.len() == 5 && pods.iter().all(|p| p["status"]["phase"] == "Running"))
                .then_some(())
        }
    })
    .await;
    let on_cp = pods_of(&client, "app=hello")
        .await
        .iter()
        .filter(|p| node_of(p) == "minikube")
        .count();
    assert_eq!(
        on_cp, 0,
        "the control-plane taint keeps pods off the control plane"
    );
    cluster.ok(&["scale", "deployment", "hello-world", "--replicas=2"]);
    wait_for("2 hello pods again", t, &logs, || {
        let c = client.clone();
        async move { (pods_of(&c, "app=hello").await.len() == 2).then_some(()) }
    })
    .await;
    let evs = events(&client, "default").await;
    assert!(
        has_event(
            &evs,
            "ScalingReplicaSet",
            &format!("Scaled up replica set {rs_name} from 2 to 5")
        ),
        "{evs:#?}"
    );
    assert!(has_event(
        &evs,
        "ScalingReplicaSet",
        &format!("Scaled down replica set {rs_name} from 5 to 2")
    ));
    let deletions = evs
        .iter()
        .filter(|e| e["reason"] == "SuccessfulDelete")
        .count();
    assert_eq!(deletions, 3, "three SuccessfulDelete events");
    assert!(evs.iter().any(|e| {
        e["reason"] == "SuccessfulDelete"
            && e["message"]
                .as_str()
                .unwrap()
                .starts_with("Deleted pod: hello-world-")
    }));

    // A rolling update of the template: a new ReplicaSet, revision 2, the old one scaled to 0, as
    // the real `kubectl rollout status` sees it.
    cluster.ok(&[
        "set",
        "image",
        "deployment/hello-world",
        "podinfo=ghcr.io/learnk8s/podinfo:2.1",
    ]);
    let rollout = cluster.ok(&[
        "rollout",
        "status",
        "deployment/hello-world",
        "--timeout=60s",
    ]);
    assert!(
        rollout.contains("deployment \"hello-world\" successfully rolled out"),
        "{rollout}"
    );
    let rss = list(
        &client,
        &path("apps", "v1", "replicasets", Some("default"), None),
    )
    .await;
    assert_eq!(rss.len(), 2);
    let new_rs = rss
        .iter()
        .find(|r| r["metadata"]["name"] != rs_name.as_str())
        .unwrap();
    let old_rs = rss
        .iter()
        .find(|r| r["metadata"]["name"] == rs_name.as_str())
        .unwrap();
    let new_name = new_rs["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(
        new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    assert_eq!(new_rs["spec"]["replicas"], 2);
    assert_eq!(old_rs["spec"]["replicas"], 0);
    assert_ne!(
        new_rs["metadata"]["labels"]["pod-template-hash"],
        hash.as_str()
    );
    let evs = events(&client, "default").await;
    assert!(
        has_event(
            &evs,
            "ScalingReplicaSet",
            &format!("Scaled up replica set {new_name} from 0 to 1")
        ),
        "{evs:#?}"
    );
    assert!(has_event(
        &evs,
        "ScalingReplicaSet",
        &format!("Scaled down replica set {rs_name} from 2 to 1")
    ));
    assert!(has_event(
        &evs,
        "ScalingReplicaSet",
        &format!("Scaled down replica set {rs_name} from 1 to 0")
    ));
    let history = cluster.ok(&["rollout", "history", "deployment/hello-world"]);
    assert!(
        history.contains("1 ") && history.contains("2 "),
        "{history}"
    );
    wait_for("only the new ReplicaSet's pods", t, &logs, || {
        let c = client.clone();
        let h = new_rs["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap()
            .to_string();
        async move {
            let pods = pods_of(&c, "app=hello").await;
            (pods.len() == 2
                && pods
                    .iter()
                    .all(|p| p["metadata"]["labels"]["pod-template-hash"] == h.as_str()))
            .then_some(())
        }
    })
    .await;

    // A DaemonSet: one pod per eligible node (not the tainted control plane), then a new node.
    cluster.apply(
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels:\n      app: agent\n  template:\n    metadata:\n      labels:\n        app: agent\n    spec:\n      containers:\n      - name: agent\n        image: traefik:v2.10\n",
    );
    let ds_pods = wait_for("daemon pods on both workers", t, &logs, || {
        let c = client.clone();
        async move {
            let pods = pods_of(&c, "app=agent").await;
            let nodes: HashSet<String> = pods.iter().map(node_of).collect();
            (pods.len() == 2 && nodes.len() == 2 && !nodes.contains("")).then_some(pods)
        }
    })
    .await;
    assert!(ds_pods.iter().all(|p| node_of(p) != "minikube"));
    let p = &ds_pods[0];
    let mf = &p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"][0]["matchFields"][0];
    assert_eq!(mf["key"], "metadata.name");
    assert_eq!(mf["values"][0], node_of(p).as_str());
    let crh = p["metadata"]["labels"]["controller-revision-hash"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(p["metadata"]["labels"]["pod-template-generation"], "1");
    let crs = list(
        &client,
        &path("apps", "v1", "controllerrevisions", Some("default"), None),
    )
    .await;
    assert_eq!(crs.len(), 1);
    assert_eq!(crs[0]["metadata"]["name"], format!("agent-{crh}"));
    assert_eq!(crs[0]["revision"], 1);
    create_node(&client, "minikube-m04", false).await;
    kubelets.lock().unwrap().live.insert("minikube-m04".into());
    wait_for("a daemon pod on the new node", t, &logs, || {
        let c = client.clone();
        async move {
            pods_of(&c, "app=agent")
                .await
                .iter()
                .any(|p| node_of(p) == "minikube-m04")
                .then_some(())
        }
    })
    .await;
    let ds = wait_for("DaemonSet status for 3 nodes", t, &logs, || {
        let c = client.clone();
        async move {
            let ds = c
                .get(&path(
                    "apps",
                    "v1",
                    "daemonsets",
                    Some("default"),
                    Some("agent"),
                ))
                .await
                .ok()?;
            (ds["status"]["numberReady"] == 3 && ds["status"]["desiredNumberScheduled"] == 3)
                .then_some(ds)
        }
    })
    .await;
    assert_eq!(ds["status"]["currentNumberScheduled"], 3);
    assert_eq!(ds["status"]["updatedNumberScheduled"], 3);
    assert_eq!(ds["status"]["numberMisscheduled"], 0);

    // TLS bootstrap: a kubelet client CSR is approved and signed; cluster-info is signed for the
    // bootstrap token.
    let (csr_pem, _key) = labsim::pki::new_csr(&labsim::pki::CertSpec::client(
        "system:node:minikube-m05",
        &["system:nodes"],
    ))
    .unwrap();
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    client
        .create(
            &path("certificates.k8s.io", "v1", "certificatesigningrequests", None, None),
            &json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                    "metadata": {"name": "node-csr-test"},
                    "spec": {"request": b64(&csr_pem), "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                             "usages": ["digital signature", "client auth"]}}),
        )
        .await
        .unwrap();
    let csr = wait_for("the CSR approved and issued", t, &logs, || {
        let c = client.clone();
        async move {
            let csr = c
                .get(&path(
                    "certificates.k8s.io",
                    "v1",
                    "certificatesigningrequests",
                    None,
                    Some("node-csr-test"),
                ))
                .await
                .ok()?;
            csr["status"]["certificate"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(|_| csr.clone())
        }
    })
    .await;
    let approved = &csr["status"]["conditions"][0];
    assert_eq!(approved["type"], "Approved");
    assert_eq!(approved["reason"], "AutoApproved");
    assert_eq!(
        approved["message"],
        "Auto approving kubelet client certificate after SubjectAccessReview."
    );
    let cert = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(csr["status"]["certificate"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let der = labsim::pki::pem_der(&cert, "CERTIFICATE").unwrap();
    assert_eq!(
        labsim::pki::cert_user(&der).unwrap(),
        (
            "system:node:minikube-m05".to_string(),
            vec!["system:nodes".to_string()]
        )
    );
    let csr_table = cluster.ok(&["get", "csr"]);
    assert!(csr_table.contains("Approved,Issued"), "{csr_table}");
    client
        .create(
            &path("", "v1", "configmaps", Some("kube-public"), None),
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info"},
                    "data": {"kubeconfig": "apiVersion: v1\nkind: Config\n"}}),
        )
        .await
        .unwrap();
    client
        .create(
            &path("", "v1", "secrets", Some("kube-system"), None),
            &json!({"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
                    "metadata": {"name": "bootstrap-token-abcdef"},
                    "stringData": {"token-id": "abcdef", "token-secret": "0123456789abcdef",
                                   "usage-bootstrap-signing": "true", "usage-bootstrap-authentication": "true",
                                   "expiration": "2099-01-01T00:00:00Z"}}),
        )
        .await
        .unwrap();
    let sig = wait_for("cluster-info signed for token abcdef", t, &logs, || {
        let c = client.clone();
        async move {
            let cm = c
                .get(&path(
                    "",
                    "v1",
                    "configmaps",
                    Some("kube-public"),
                    Some("cluster-info"),
                ))
                .await
                .ok()?;
            cm["data"]["jws-kubeconfig-abcdef"]
                .as_str()
                .map(str::to_string)
        }
    })
    .await;
    assert!(labsim::pki::jwt::bootstrap_signature_valid(
        &sig,
        "apiVersion: v1\nkind: Config\n",
        "abcdef",
        "0123456789abcdef"
    ));

    // The token cleaner deletes expired bootstrap tokens.
    client
        .create(
            &path("", "v1", "secrets", Some("kube-system"), None),
            &json!({"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
                    "metadata": {"name": "bootstrap-token-zzzzzz"},
                    "stringData": {"token-id": "zzzzzz", "token-secret": "0123456789abcdef",
                                   "usage-bootstrap-signing": "true", "expiration": "2000-01-01T00:00:00Z"}}),
        )
        .await
        .unwrap();
    wait_for("the expired token deleted", t, &logs, || {
        let c = client.clone();
        async move {
            c.get_opt(&path(
                "",
                "v1",
                "secrets",
                Some("kube-system"),
                Some("bootstrap-token-zzzzzz"),
            ))
            .await
            .ok()?
            .is_none()
            .then_some(())
        }
    })
    .await;
    let info = client
        .get(&path(
            "",
            "v1",
            "configmaps",
            Some("kube-public"),
            Some("cluster-info"),
        ))
        .await
        .unwrap();
    assert!(
        info["data"]["jws-kubeconfig-zzzzzz"].is_null(),
        "expired tokens never sign"
    );

    // Garbage collection and namespaces: a foreground deletion waits for the ReplicaSet and its
    // pods; a deleted namespace is emptied and finalized.
    cluster.ok(&["create", "namespace", "scratch"]);
    cluster.apply(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: tmp\n  namespace: scratch\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: tmp\n  template:\n    metadata:\n      labels:\n        app: tmp\n    spec:\n      containers:\n      - name: c\n        image: ghcr.io/learnk8s/podinfo:2.0\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: data\n  namespace: scratch\n",
    );
    wait_for("a tmp pod running in scratch", t, &logs, || {
        let c = client.clone();
        async move {
            let pods = list(&c, &path("", "v1", "pods", Some("scratch"), None)).await;
            pods.iter()
                .any(|p| p["status"]["phase"] == "Running")
                .then_some(())
        }
    })
    .await;
    cluster.ok(&[
        "delete",
        "deployment",
        "tmp",
        "-n",
        "scratch",
        "--cascade=foreground",
        "--wait=false",
    ]);
    wait_for(
        "the foreground deletion of deployment tmp",
        t,
        &logs,
        || {
            let c = client.clone();
            async move {
                let gone = c
                    .get_opt(&path(
                        "apps",
                        "v1",
                        "deployments",
                        Some("scratch"),
                        Some("tmp"),
                    ))
                    .await
                    .ok()?
                    .is_none();
                let rs = list(
                    &c,
                    &path("apps", "v1", "replicasets", Some("scratch"), None),
                )
                .await;
                let pods = list(&c, &path("", "v1", "pods", Some("scratch"), None)).await;
                (gone && rs.is_empty() && pods.is_empty()).then_some(())
            }
        },
    )
    .await;
    cluster.ok(&["delete", "namespace", "scratch", "--wait=false"]);
    wait_for("namespace scratch finalized", t, &logs, || {
        let c = client.clone();
        async move {
            c.get_opt(&path("", "v1", "namespaces", None, Some("scratch")))
                .await
                .ok()?
                .is_none()
                .then_some(())
        }
    })
    .await;

    // Nothing fits: FailedScheduling with the version's message.
    cluster.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: picky\nspec:\n  nodeSelector:\n    disk: none\n  containers:\n  - name: c\n    image: ghcr.io/learnk8s/podinfo:2.0\n",
    );
    let want = "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.";
    wait_for("FailedScheduling for picky", t, &logs, || {
        let c = client.clone();
        async move { has_event(&events(&c, "default").await, "FailedScheduling", want).then_some(()) }
    })
    .await;
    let picky = client
        .get(&path("", "v1", "pods", Some("default"), Some("picky")))
        .await
        .unwrap();
    assert_eq!(picky["status"]["phase"], "Pending");
    let cond = picky["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "PodScheduled")
        .unwrap()
        .clone();
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "Unschedulable");
    assert_eq!(cond["message"], want);
    let describe = cluster.ok(&["describe", "pod", "picky"]);
    assert!(
        describe.contains("FailedScheduling") && describe.contains("default-scheduler"),
        "{describe}"
    );

    // A node change brings the unschedulable pod back: label a worker and it fits there.
    cluster.ok(&["label", "node", "minikube-m04", "disk=none"]);
    wait_for("picky scheduled to minikube-m04", t, &logs, || {
        let c = client.clone();
        async move {
            let p = c
                .get(&path("", "v1", "pods", Some("default"), Some("picky")))
                .await
                .ok()?;
            (node_of(&p) == "minikube-m04").then_some(())
        }
    })
    .await;

    // A worker's heartbeats stop.
    // The worker is one that runs a hello pod (the scale-down may have left both on one worker).
    let victim = pods_of(&client, "app=hello")
        .await
        .into_iter()
        .next()
        .expect("a hello pod");
    let down = node_of(&victim);
    let victim_name = victim["metadata"]["name"].as_str().unwrap().to_string();
    kubelets.lock().unwrap().live.remove(&down);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stopped = kubelets.lock().unwrap().last_renew[&down];
    let node = wait_for(
        &format!("{down} Ready=Unknown"),
        Duration::from_secs(GRACE_SECS + 20),
        &logs,
        || {
            let (c, down) = (client.clone(), down.clone());
            async move {
                let n = c
                    .get(&path("", "v1", "nodes", None, Some(&down)))
                    .await
                    .ok()?;
                let ready = n["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready")?
                    .clone();
                (ready["status"] == "Unknown").then_some(n)
            }
        },
    )
    .await;
    let not_ready_after = stopped.elapsed();
    eprintln!(
        "measured: {down} Ready=Unknown {not_ready_after:?} after its last lease renewal (grace {GRACE_SECS}s, monitor period {MONITOR_SECS}s)"
    );
    assert!(
        not_ready_after >= Duration::from_secs(GRACE_SECS),
        "{not_ready_after:?}"
    );
    assert!(
        not_ready_after <= Duration::from_secs(GRACE_SECS + MONITOR_SECS + 3),
        "{not_ready_after:?}"
    );
    let ready = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["reason"], "NodeStatusUnknown");
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    let tainted = wait_for(&format!("unreachable taints on {down}"), t, &logs, || {
        let (c, down) = (client.clone(), down.clone());
        async move {
            let n = c
                .get(&path("", "v1", "nodes", None, Some(&down)))
                .await
                .ok()?;
            let taints = n["spec"]["taints"].as_array()?.clone();
            let has = |e: &str| {
                taints
                    .iter()
                    .any(|t| t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == e)
            };
            (has("NoSchedule") && has("NoExecute")).then_some(stopped.elapsed())
        }
    })
    .await;
    eprintln!("measured: NoExecute taint {tainted:?} after the last renewal");
    let evs = events(&client, "default").await;
    assert!(
        has_event(
            &evs,
            "NodeNotReady",
            &format!("Node {down} status is now: NodeNotReady")
        ),
        "{evs:#?}"
    );
    assert!(has_event(
        &evs,
        "RegisteredNode",
        &format!("Registered Node {down} in Controller")
    ));
    // The pod is evicted after its toleration and replaced on a live worker.
    let evicted = wait_for(
        "the hello pod on the stopped worker Terminating",
        Duration::from_secs(TOLERATION_SECS + 20),
        &logs,
        || {
            let c = client.clone();
            let n = victim_name.clone();
            async move {
                let p = c
                    .get_opt(&path("", "v1", "pods", Some("default"), Some(&n)))
                    .await
                    .ok()
                    .flatten()?;
                (!p["metadata"]["deletionTimestamp"].is_null()).then_some(p)
            }
        },
    )
    .await;
    let eviction_after = stopped.elapsed();
    eprintln!(
        "measured: {victim_name} Terminating {eviction_after:?} after the last renewal (toleration {TOLERATION_SECS}s)"
    );
    assert!(
        eviction_after >= Duration::from_secs(GRACE_SECS + TOLERATION_SECS),
        "{eviction_after:?}"
    );
    let conds = evicted["status"]["conditions"].as_array().unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "False"),
        "pods on the node are marked not ready"
    );
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "DisruptionTarget" && c["reason"] == "DeletionByTaintManager")
    );
    let evs = events(&client, "default").await;
    assert!(has_event(&evs, "NodeNotReady", "Node is not ready"));
    assert!(
        has_event(
            &evs,
            "TaintManagerEviction",
            &format!("Marking for deletion Pod default/{victim_name}")
        ),
        "{evs:#?}"
    );
    let replacement = wait_for(
        "a replacement hello pod Running on a live worker",
        t,
        &logs,
        || {
            let c = client.clone();
            let n = victim_name.clone();
            async move {
                let pods = pods_of(&c, "app=hello").await;
                let live: Vec<&Value> = pods
                    .iter()
                    .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                    .collect();
                (live.len() == 2
                    && live.iter().all(|p| {
                        p["status"]["phase"] == "Running" && p["metadata"]["name"] != n.as_str()
                    }))
                .then(|| live.iter().map(|p| node_of(p)).collect::<Vec<_>>())
            }
        },
    )
    .await;
    assert!(
        !replacement.contains(&down) && !replacement.contains(&"minikube".to_string()),
        "{replacement:?}"
    );
    // The deleted pod stays Terminating: its kubelet is gone. The daemon pod tolerates forever.
    let still = client
        .get(&path("", "v1", "pods", Some("default"), Some(&victim_name)))
        .await
        .unwrap();
    assert!(!still["metadata"]["deletionTimestamp"].is_null());
    let agent_down = pods_of(&client, "app=agent")
        .await
        .into_iter()
        .find(|p| node_of(p) == down)
        .unwrap();
    assert!(
        agent_down["metadata"]["deletionTimestamp"].is_null(),
        "daemon pods are not evicted"
    );
    let table = cluster.ok(&["get", "pods", "-o", "wide"]);
    assert!(table.contains("Terminating"), "{table}");
    eprintln!("{table}");
    if std::env::var("LABSIM_TEST_LOGS").is_ok() {
        eprintln!("{}", logs());
    }
}

/// A restarted controller manager waits for the old leader's Lease to expire (on its own clock,
/// one lease duration after it first saw the record) and then takes over with a new identity and
/// `leaseTransitions` + 1; a stale flag makes the component exit as the real one does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_manager_takes_the_lease_over() {
    let cluster = Cluster::start(VERSION).await;
    let client = Client::new(&Config::from_kubeconfig(&cluster.kubeconfig()).unwrap()).unwrap();
    let mut args = kcm_args(&cluster);
    args.retain(|a| !a.starts_with("--controllers"));
    args.push("--controllers=serviceaccount".into());
    let lease_path = path(
        "coordination.k8s.io",
        "v1",
        "leases",
        Some("kube-system"),
        Some("kube-controller-manager"),
    );
    let first = Component::start(&cluster, "kube-controller-manager", args.clone());
    let logs = || first.log();
    let t = Duration::from_secs(30);
    let holder = |c: Client, p: String| async move {
        c.get_opt(&p).await.ok().flatten().and_then(|l| {
            Some((
                l["spec"]["holderIdentity"].as_str()?.to_string(),
                l["spec"]["leaseTransitions"].as_i64().unwrap_or(0),
            ))
        })
    };
    let (first_id, transitions) = wait_for("the first leader", t, &logs, || {
        holder(client.clone(), lease_path.clone())
    })
    .await;
    drop(first);
    let restarted_at = Instant::now();
    let second = Component::start(&cluster, "kube-controller-manager", args);
    let logs2 = || second.log();
    let (second_id, transitions2) =
        wait_for("a new leader", Duration::from_secs(40), &logs2, || {
            let (c, p, old) = (client.clone(), lease_path.clone(), first_id.clone());
            async move { holder(c, p).await.filter(|(id, _)| *id != old) }
        })
        .await;
    let took = restarted_at.elapsed();
    eprintln!("measured: the restarted controller manager led after {took:?} (lease duration 15s)");
    assert!(took >= Duration::from_secs(14), "{took:?}");
    assert!(took <= Duration::from_secs(15 + 2 * 2 + 3), "{took:?}");
    assert_ne!(second_id, first_id);
    assert_eq!(transitions2, transitions + 1);
    let became = format!("{second_id} became leader");
    wait_for("the LeaderElection event", t, &logs2, || {
        let (c, m) = (client.clone(), became.clone());
        async move { has_event(&events(&c, "kube-system").await, "LeaderElection", &m).then_some(()) }
    })
    .await;
    drop(second);

    // --pod-eviction-timeout was removed in 1.27: the component refuses to start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labsim"))
        .args([
            "kube-controller-manager",
            "--pod-eviction-timeout=5m0s",
            "--kubeconfig=/dev/null",
        ])
        .env("LABSIM_KUBERNETES_VERSION", "1.27")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .trim_end()
            .ends_with("Error: unknown flag: --pod-eviction-timeout"),
        "{stderr}"
    );
    assert!(
        stderr.starts_with("Usage:\n  kube-controller-manager [flags]"),
        "{stderr}"
    );
}
