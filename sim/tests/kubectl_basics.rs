//! The real kubectl against labsim's API server on a real etcd: the commands the course and the
//! harness use, with output shapes compared to a real cluster's.

mod common;

use common::Cluster;

const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello-world
  labels:
    app: hello
spec:
  replicas: 2
  selector:
    matchLabels:
      app: hello
  template:
    metadata:
      labels:
        app: hello
    spec:
      containers:
      - name: podinfo
        image: stefanprodan/podinfo:6.3.5
        ports:
        - containerPort: 9898
"#;

const NODE: &str = r#"apiVersion: v1
kind: Node
metadata:
  name: minikube-m02
  labels:
    kubernetes.io/hostname: minikube-m02
status:
  addresses:
  - type: InternalIP
    address: 192.168.49.3
  - type: Hostname
    address: minikube-m02
  nodeInfo:
    kubeletVersion: v1.33.7
    osImage: Ubuntu 22.04.5 LTS
    kernelVersion: 6.8.0-1
    containerRuntimeVersion: containerd://1.7.24
    architecture: amd64
    operatingSystem: linux
    bootID: ""
    kubeProxyVersion: ""
    machineID: ""
    systemUUID: ""
  conditions:
  - type: Ready
    status: "True"
    reason: KubeletReady
    message: kubelet is posting ready status
    lastHeartbeatTime: "2026-01-01T00:00:00Z"
    lastTransitionTime: "2026-01-01T00:00:00Z"
"#;

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn header(s: &str) -> Vec<&str> {
    s.lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_workflow_on_1_33() {
    let c = Cluster::start("1.33").await;
    // version: the dispatcher picks 1.33 from /version
    let v: serde_json::Value = serde_json::from_str(&c.ok(&["version", "-o", "json"])).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.33.7");
    assert_eq!(v["clientVersion"]["minor"], "33");

    // cluster-info shows CoreDNS once a kube-system service carries the cluster-service label
    c.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: kube-dns\n  namespace: kube-system\n  labels:\n    k8s-app: kube-dns\n    kubernetes.io/cluster-service: \"true\"\n    kubernetes.io/name: CoreDNS\nspec:\n  clusterIP: 10.96.0.10\n  selector:\n    k8s-app: kube-dns\n  ports:\n  - name: dns\n    port: 53\n    protocol: UDP\n  - name: dns-tcp\n    port: 53\n    protocol: TCP\n");
    let info = c.ok(&["cluster-info"]);
    assert!(
        info.contains(&format!(
            "Kubernetes control plane is running at {}",
            c.server()
        )),
        "{info}"
    );
    assert!(
        info.contains(&format!(
            "CoreDNS is running at {}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy",
            c.server()
        )),
        "{info}"
    );

    // nodes
    c.apply(NODE);
    let nodes = c.ok(&["get", "nodes", "-o", "wide"]);
    assert_eq!(
        header(&nodes),
        [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    let row: Vec<&str> = lines(&nodes)[1]
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(row[0], "minikube-m02");
    assert_eq!(row[1], "Ready");
    assert_eq!(row[2], "<none>");
    assert!(
        row.contains(&"192.168.49.3")
            && row.contains(&"Ubuntu 22.04.5 LTS")
            && row.contains(&"containerd://1.7.24"),
        "{nodes}"
    );

    // pods need the default service account (ServiceAccount admission)
    let (code, _, err) = c.kubectl(&["run", "nginx", "--image=nginx"]);
    assert_ne!(code, 0);
    assert!(err.contains("Error from server (Forbidden): pods \"nginx\" is forbidden: error looking up service account default/default: serviceaccount \"default\" not found"), "{err}");
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n");
    c.ok(&["run", "nginx", "--image=nginx"]);
    let pods = c.ok(&["get", "pods", "-A"]);
    assert_eq!(
        header(&pods),
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert!(
        lines(&pods)[1].starts_with("default")
            && lines(&pods)[1].contains("0/1")
            && lines(&pods)[1].contains("Pending"),
        "{pods}"
    );
    let pod: serde_json::Value =
        serde_json::from_str(&c.ok(&["get", "pod", "nginx", "-o", "json"])).unwrap();
    let spec = &pod["spec"];
    assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
    assert!(
        spec["volumes"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("kube-api-access-")
    );
    assert_eq!(pod["status"]["qosClass"], "BestEffort");
    assert_eq!(c.ok(&["get", "pods", "-o", "name"]).trim(), "pod/nginx");
    let yaml = c.ok(&["get", "pod", "nginx", "-o", "yaml"]);
    assert!(yaml.starts_with("apiVersion: v1\nkind: Pod\n"), "{yaml}");
    let jp = c.ok(&[
        "get",
        "pod",
        "nginx",
        "-o",
        "jsonpath={.spec.schedulerName}",
    ]);
    assert_eq!(jp, "default-scheduler");

    // describe
    let d = c.ok(&["describe", "pod", "nginx"]);
    assert!(
        d.contains("Name:             nginx")
            && d.contains("Status:           Pending")
            && d.contains("QoS Class:                   BestEffort"),
        "{d}"
    );
    assert!(
        d.contains("node.kubernetes.io/not-ready:NoExecute op=Exists for 300s"),
        "{d}"
    );
    let d = c.ok(&["describe", "node", "minikube-m02"]);
    assert!(
        d.contains("Name:               minikube-m02") && d.contains("InternalIP:  192.168.49.3"),
        "{d}"
    );

    // apply: created, configured, unchanged
    let f = c.dir.0.join("deploy.yaml");
    std::fs::write(&f, DEPLOY).unwrap();
    let fp = f.to_str().unwrap();
    assert_eq!(
        c.ok(&["apply", "-f", fp]).trim(),
        "deployment.apps/hello-world created"
    );
    assert_eq!(
        c.ok(&["apply", "-f", fp]).trim(),
        "deployment.apps/hello-world unchanged"
    );
    std::fs::write(
        &f,
        DEPLOY
            .replace("replicas: 2", "replicas: 3")
            .replace("podinfo:6.3.5", "podinfo:6.3.6"),
    )
    .unwrap();
    assert_eq!(
        c.ok(&["apply", "-f", fp]).trim(),
        "deployment.apps/hello-world configured"
    );
    let dj: serde_json::Value =
        serde_json::from_str(&c.ok(&["get", "deploy", "hello-world", "-o", "json"])).unwrap();
    assert_eq!(dj["spec"]["replicas"], 3);
    assert_eq!(
        dj["spec"]["template"]["spec"]["containers"][0]["image"],
        "stefanprodan/podinfo:6.3.6"
    );
    assert_eq!(
        dj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
        "TCP"
    );
    assert_eq!(dj["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(dj["metadata"]["generation"], 2);
    let deploys = c.ok(&["get", "deploy", "-o", "wide"]);
    assert_eq!(
        header(&deploys),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert!(
        lines(&deploys)[1].contains("0/3") && lines(&deploys)[1].contains("app=hello"),
        "{deploys}"
    );
    let d = c.ok(&["describe", "deployment", "hello-world"]);
    assert!(
        d.contains("StrategyType:           RollingUpdate")
            && d.contains("Replicas:               3 desired"),
        "{d}"
    );

    // scale and edit
    assert_eq!(
        c.ok(&["scale", "deployment", "hello-world", "--replicas=5"])
            .trim(),
        "deployment.apps/hello-world scaled"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "hello-world",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "5"
    );
    let (code, out, err) = c.kubectl_with(
        "/usr/bin/kubectl",
        &["edit", "deployment", "hello-world"],
        &[("KUBE_EDITOR", "sed -i s/replicas:\\ 5/replicas:\\ 4/")],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "deployment.apps/hello-world edited");
    assert_eq!(
        c.ok(&[
            "get",
            "deploy",
            "hello-world",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "4"
    );

    // get all: names carry their type
    let all = c.ok(&["get", "all"]);
    assert!(
        all.contains("pod/nginx")
            && all.contains("service/kubernetes")
            && all.contains("deployment.apps/hello-world"),
        "{all}"
    );

    // errors
    let (code, _, err) = c.kubectl(&["get", "pod", "nope"]);
    assert_eq!(
        (code, err.trim()),
        (1, "Error from server (NotFound): pods \"nope\" not found")
    );
    let (_, _, err) = c.kubectl(&["get", "deploy", "nope"]);
    assert_eq!(
        err.trim(),
        "Error from server (NotFound): deployments.apps \"nope\" not found"
    );
    let (code, _, err) = c.kubectl(&["create", "-f", fp]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        format!(
            "Error from server (AlreadyExists): error when creating \"{fp}\": deployments.apps \"hello-world\" already exists"
        )
    );
    let bad = c.dir.0.join("bad.yaml");
    std::fs::write(&bad, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers: []\n").unwrap();
    let (code, _, err) = c.kubectl(&["apply", "-f", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "The Deployment \"web\" is invalid: spec.template.spec.containers: Required value"
        ),
        "{err}"
    );

    // delete
    assert_eq!(
        c.ok(&["delete", "deployment", "hello-world"]).trim(),
        "deployment.apps \"hello-world\" deleted"
    );
    assert_eq!(
        c.ok(&["delete", "pod", "nginx"]).trim(),
        "pod \"nginx\" deleted"
    );
    let (_, _, err) = c.kubectl(&["get", "pods"]);
    assert_eq!(err.trim(), "No resources found in default namespace.");
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_create_subcommands_send_protobuf() {
    let c = Cluster::start("1.33").await;
    assert_eq!(
        c.ok(&["create", "namespace", "demo"]).trim(),
        "namespace/demo created"
    );
    assert_eq!(
        c.ok(&["create", "serviceaccount", "robot", "-n", "demo"])
            .trim(),
        "serviceaccount/robot created"
    );
    assert_eq!(
        c.ok(&[
            "create",
            "configmap",
            "cfg",
            "-n",
            "demo",
            "--from-literal=a=1"
        ])
        .trim(),
        "configmap/cfg created"
    );
    assert_eq!(
        c.ok(&["get", "cm", "cfg", "-n", "demo", "-o", "jsonpath={.data.a}"]),
        "1"
    );
    assert_eq!(
        c.ok(&[
            "create",
            "secret",
            "generic",
            "s",
            "-n",
            "demo",
            "--from-literal=p=secret"
        ])
        .trim(),
        "secret/s created"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "secret",
            "s",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.p}"
        ]),
        "c2VjcmV0"
    );
    let token = c.ok(&["create", "token", "robot", "-n", "demo"]);
    assert_eq!(token.trim().split('.').count(), 3, "{token}");
    // kinds without a protobuf schema in labsim are refused with 415
    let (code, _, err) = c.kubectl(&["create", "deployment", "web", "--image=nginx"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown format"), "{err}");
}
