//! labsim's API server judged by the real kubectl, curl and etcdctl: watches, proxy, auth, logs,
//! server-side apply, older kubectl versions; and labsim's own client and reflector against it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::Cluster;
use labsim::client::{Change, Client, Config, ListParams, PatchType, Reflector, path};
use serde_json::json;

const SA: &str = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n";

fn pod(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: hello\nspec:\n  containers:\n  - name: app\n    image: stefanprodan/podinfo:6.3.5\n"
    )
}

/// A child process killed on drop.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    rx
}

#[tokio::test(flavor = "multi_thread")]
async fn get_watch_streams_rows_and_stays_open() {
    let c = Cluster::start("1.33").await;
    c.apply(SA);
    c.apply(&pod("first"));
    let mut child = Child(
        Command::new("/usr/bin/kubectl")
            .args(["get", "pods", "-w"])
            .env("KUBECONFIG", c.kubeconfig())
            .env("KUBECACHEDIR", c.dir.0.join("kube-cache"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = lines_of(&mut child.0);
    let next = || rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let header = next();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert!(next().starts_with("first "));
    c.apply(&pod("second"));
    let row = next();
    assert!(
        row.starts_with("second ") && row.contains("Pending"),
        "{row}"
    );
    // a modification arrives as a row too
    c.ok(&["label", "pod", "second", "tier=web"]);
    assert!(next().starts_with("second "));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "kubectl get -w must stay open"
    );
    // force-deleting shows the pod once more, then the watch still runs
    c.ok(&["delete", "pod", "second", "--grace-period=0", "--force"]);
    assert!(next().starts_with("second "));
    assert!(child.0.try_wait().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_and_curl_like_chapter_5() {
    let c = Cluster::start("1.33").await;
    c.apply(SA);
    c.apply(&pod("web"));
    c.apply("apiVersion: v1\nkind: Node\nmetadata:\n  name: minikube\n");
    let port = 20000 + (std::process::id() % 20000) as u16;
    let mut child = Child(
        Command::new("/usr/bin/kubectl")
            .args(["proxy", &format!("--port={port}")])
            .env("KUBECONFIG", c.kubeconfig())
            .env("KUBECACHEDIR", c.dir.0.join("kube-cache"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let rx = lines_of(&mut child.0);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        format!("Starting to serve on 127.0.0.1:{port}")
    );
    let get = |p: &str| -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{port}{p}")])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{p}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    let root = get("/");
    let paths: Vec<&str> = root["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for p in ["/api", "/api/v1", "/apis", "/healthz", "/version"] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    let pods = get("/api/v1/pods");
    assert_eq!(pods["kind"], "PodList");
    assert_eq!(pods["items"][0]["metadata"]["name"], "web");
    let one = get("/api/v1/namespaces/default/pods/web");
    assert_eq!(
        (one["kind"].as_str(), one["metadata"]["name"].as_str()),
        (Some("Pod"), Some("web"))
    );
    assert_eq!(get("/api/v1/nodes")["kind"], "NodeList");
    assert_eq!(
        get("/api/v1/nodes/minikube")["metadata"]["name"],
        "minikube"
    );
    let missing = get("/api/v1/namespaces/default/pods/nope");
    assert_eq!(
        (missing["code"].as_i64(), missing["reason"].as_str()),
        (Some(404), Some("NotFound"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_and_anonymous_access() {
    let c = Cluster::start("1.33").await;
    let base = c.server();
    // anonymous: /version yes, resources no, with RBAC's message
    let (code, out, _) = c.curl(&["-s", &format!("{base}/version")]);
    assert_eq!(code, 0);
    assert!(
        out.contains("\"gitVersion\": \"v1.33.7\"") || out.contains("\"gitVersion\":\"v1.33.7\""),
        "{out}"
    );
    let (_, out, _) = c.curl(&["-s", &format!("{base}/api/v1/pods")]);
    let st: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["code"], 403);
    assert_eq!(
        st["message"],
        "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
    );
    let (_, out, _) = c.curl(&["-s", "-w", " %{http_code}", &format!("{base}/healthz")]);
    assert_eq!(out, "ok 200");
    // kubectl with a kubeconfig user without credentials would prompt for a user name (client-side,
    // as against any cluster); with a user whose only credential is a token it talks to the server.
    let anon = c.dir.0.join("anon.conf");
    std::fs::write(&anon, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {base}\n    certificate-authority: {}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: nobody\ncurrent-context: x\nusers:\n- name: nobody\n  user: {{}}\n", c.dir.0.join("pki/ca.crt").display())).unwrap();
    // a wrong bearer token is 401
    let (code, _, err) = c.kubectl_with(
        "/usr/bin/kubectl",
        &[
            "--kubeconfig",
            anon.to_str().unwrap(),
            "--token",
            "abcdef.0123456789abcdef",
            "get",
            "pods",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("error: You must be logged in to the server (the server has asked for the client to provide credentials)"), "{err}");
    // a bootstrap token Secret makes it valid: user system:bootstrap:abcdef
    c.apply("apiVersion: v1\nkind: Secret\nmetadata:\n  name: bootstrap-token-abcdef\n  namespace: kube-system\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: abcdef\n  token-secret: 0123456789abcdef\n  usage-bootstrap-authentication: \"true\"\n  auth-extra-groups: system:bootstrappers:kubeadm:default-node-token\n");
    let secret = c.ok(&[
        "get",
        "secret",
        "-n",
        "kube-system",
        "bootstrap-token-abcdef",
        "-o",
        "jsonpath={.data.token-id}",
    ]);
    assert_eq!(secret, "YWJjZGVm");
    let (code, _, err) = c.kubectl_with(
        "/usr/bin/kubectl",
        &[
            "--kubeconfig",
            anon.to_str().unwrap(),
            "--token",
            "abcdef.0123456789abcdef",
            "get",
            "pods",
            "-n",
            "kube-system",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    // expired tokens are refused
    c.ok(&[
        "patch",
        "secret",
        "-n",
        "kube-system",
        "bootstrap-token-abcdef",
        "-p",
        "{\"stringData\":{\"expiration\":\"2020-01-01T00:00:00Z\"}}",
    ]);
    let (code, _, _) = c.kubectl_with(
        "/usr/bin/kubectl",
        &[
            "--kubeconfig",
            anon.to_str().unwrap(),
            "--token",
            "abcdef.0123456789abcdef",
            "get",
            "pods",
        ],
        &[],
    );
    assert_eq!(code, 1);
    // service-account tokens from TokenRequest authenticate as the account
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n");
    let client = Client::new(&Config::from_kubeconfig(&c.kubeconfig()).unwrap()).unwrap();
    let tr = client
        .create(
            &format!(
                "{}/token",
                path("", "v1", "serviceaccounts", Some("default"), Some("robot"))
            ),
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
        )
        .await
        .unwrap();
    let token = tr["status"]["token"].as_str().unwrap();
    let (code, _, err) = c.kubectl_with(
        "/usr/bin/kubectl",
        &[
            "--kubeconfig",
            anon.to_str().unwrap(),
            "--token",
            token,
            "get",
            "sa",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    c.ok(&["delete", "sa", "robot"]);
    let (code, _, err) = c.kubectl_with(
        "/usr/bin/kubectl",
        &[
            "--kubeconfig",
            anon.to_str().unwrap(),
            "--token",
            token,
            "get",
            "sa",
        ],
        &[],
    );
    assert_eq!(
        code, 1,
        "a deleted service account's token must stop working"
    );
    assert!(err.contains("Unauthorized"), "{err}");
    // kubeadm's cluster-info Role lets anonymous users read exactly that ConfigMap
    c.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-info\n  namespace: kube-public\ndata:\n  kubeconfig: x\n");
    let (_, out, _) = c.curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/api/v1/namespaces/kube-public/configmaps/cluster-info"),
    ]);
    assert_eq!(out, "403");
    c.apply("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: kubeadm:bootstrap-signer-clusterinfo\n  namespace: kube-public\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  resourceNames: [cluster-info]\n  verbs: [get]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: kubeadm:bootstrap-signer-clusterinfo\n  namespace: kube-public\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: kubeadm:bootstrap-signer-clusterinfo\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: system:anonymous\n");
    let (_, out, _) = c.curl(&[
        "-s",
        &format!("{base}/api/v1/namespaces/kube-public/configmaps/cluster-info"),
    ]);
    assert!(out.contains("\"kubeconfig\""), "{out}");
    let (_, out, _) = c.curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/api/v1/namespaces/kube-public/configmaps"),
    ]);
    assert_eq!(out, "403");
}

#[tokio::test(flavor = "multi_thread")]
async fn etcdctl_reads_what_the_api_stored() {
    let c = Cluster::start("1.33").await;
    c.apply(SA);
    c.apply(&pod("web"));
    let p = c.dir.0.join("pki");
    let etcdctl = |args: &[&str]| {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints=https://{}:2379", c.ip))
            .arg(format!("--cacert={}", p.join("etcd/ca.crt").display()))
            .arg(format!(
                "--cert={}",
                p.join("etcd/healthcheck-client.crt").display()
            ))
            .arg(format!(
                "--key={}",
                p.join("etcd/healthcheck-client.key").display()
            ))
            .args(args)
            .output()
            .unwrap()
    };
    let keys = String::from_utf8(etcdctl(&["get", "/registry", "--prefix", "--keys-only"]).stdout)
        .unwrap();
    for k in [
        "/registry/pods/default/web",
        "/registry/namespaces/kube-system",
        "/registry/services/specs/default/kubernetes",
        "/registry/services/endpoints/default/kubernetes",
        "/registry/priorityclasses/system-node-critical",
        "/registry/clusterroles/cluster-admin",
        "/registry/serviceaccounts/default/default",
    ] {
        assert!(keys.lines().any(|l| l == k), "{k} missing:\n{keys}");
    }
    let out = etcdctl(&["get", "/registry/pods/default/web", "--print-value-only"]);
    let stored: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stored["metadata"]["name"], "web");
    assert_eq!(
        stored["spec"]["containers"][0]["image"],
        "stefanprodan/podinfo:6.3.5"
    );
    assert!(
        stored["metadata"]["resourceVersion"].is_null(),
        "resourceVersion is not stored"
    );
    let rv: i64 = c
        .ok(&[
            "get",
            "pod",
            "web",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
        .parse()
        .unwrap();
    let out = etcdctl(&["get", "/registry/pods/default/web", "-w", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["kvs"][0]["mod_revision"].as_i64(),
        Some(rv),
        "resourceVersion is the etcd mod revision"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_apply_and_conflicts() {
    let c = Cluster::start("1.33").await;
    let f = c.dir.0.join("cm.yaml");
    std::fs::write(&f, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"1\"\n  b: \"2\"\n").unwrap();
    let fp = f.to_str().unwrap();
    assert_eq!(
        c.ok(&["apply", "--server-side", "-f", fp]).trim(),
        "configmap/settings serverside-applied"
    );
    let mf: serde_json::Value = serde_json::from_str(&c.ok(&[
        "get",
        "cm",
        "settings",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    assert_eq!(mf["metadata"]["managedFields"][0]["manager"], "kubectl");
    assert_eq!(mf["metadata"]["managedFields"][0]["operation"], "Apply");
    assert_eq!(
        mf["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:a": {}, "f:b": {}}})
    );
    // another manager changes a: applying a different a conflicts
    c.ok(&[
        "patch",
        "cm",
        "settings",
        "--field-manager=other",
        "-p",
        "{\"data\":{\"a\":\"9\"}}",
    ]);
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"3\"\n",
    )
    .unwrap();
    let (code, _, err) = c.kubectl(&["apply", "--server-side", "-f", fp]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"other\" using v1: .data.a"),
        "{err}"
    );
    assert_eq!(
        c.ok(&["apply", "--server-side", "--force-conflicts", "-f", fp])
            .trim(),
        "configmap/settings serverside-applied"
    );
    let data: serde_json::Value =
        serde_json::from_str(&c.ok(&["get", "cm", "settings", "-o", "jsonpath={.data}"])).unwrap();
    // b was applied before and no longer is: removed; a is forced to 3
    assert_eq!(data, json!({"a": "3"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn older_kubectl_binaries_get_apply_edit() {
    for (version, binary) in [
        ("1.27", "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"),
        ("1.30", "/usr/lib/google-cloud-sdk/bin/kubectl.1.30"),
    ] {
        if !std::path::Path::new(binary).exists() {
            panic!("{binary} is missing: this machine should carry the gcloud kubectl bundle");
        }
        let c = Cluster::start(version).await;
        let run = |args: &[&str], env: &[(&str, &str)]| {
            let (code, out, err) = c.kubectl_with(binary, args, env);
            assert_eq!(code, 0, "{binary} {args:?}: {err}");
            out
        };
        let v = run(&["version", "-o", "json"], &[]);
        assert!(
            v.contains(&format!(
                "\"gitVersion\": \"{}\"",
                labsim::version::Minor::new(version[2..].parse().unwrap())
                    .unwrap()
                    .git_version()
            )),
            "{v}"
        );
        let f = c.dir.0.join("d.yaml");
        std::fs::write(&f, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: nginx\n        image: nginx:1.25\n").unwrap();
        assert_eq!(
            run(&["apply", "-f", f.to_str().unwrap()], &[]).trim(),
            "deployment.apps/web created"
        );
        std::fs::write(
            &f,
            std::fs::read_to_string(&f)
                .unwrap()
                .replace("nginx:1.25", "nginx:1.27"),
        )
        .unwrap();
        assert_eq!(
            run(&["apply", "-f", f.to_str().unwrap()], &[]).trim(),
            "deployment.apps/web configured"
        );
        assert_eq!(
            run(
                &["edit", "deploy", "web"],
                &[("KUBE_EDITOR", "sed -i s/replicas:\\ 1/replicas:\\ 2/")]
            )
            .trim(),
            "deployment.apps/web edited"
        );
        assert_eq!(
            run(
                &[
                    "get",
                    "deploy",
                    "web",
                    "-o",
                    "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"
                ],
                &[]
            ),
            "2 nginx:1.27"
        );
        let table = run(&["get", "deploy"], &[]);
        assert!(
            table.starts_with("NAME   READY   UP-TO-DATE   AVAILABLE   AGE"),
            "{table}"
        );
        assert_eq!(
            run(&["scale", "deploy/web", "--replicas=3"], &[]).trim(),
            "deployment.apps/web scaled"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_and_reflector_resume_across_apiserver_restart() {
    let mut c = Cluster::start("1.33").await;
    c.apply(SA);
    let client = Client::new(&Config::from_kubeconfig(&c.kubeconfig()).unwrap()).unwrap();
    let pods = path("", "v1", "pods", Some("default"), None);
    let mk = |name: &str| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "hello"}}, "spec": {"containers": [{"name": "app", "image": "podinfo"}]}});
    client.create(&pods, &mk("a")).await.unwrap();
    let err = client.create(&pods, &mk("a")).await.unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    let r = Reflector::new(
        client.clone(),
        pods.clone(),
        ListParams {
            label_selector: Some("app=hello".into()),
            ..Default::default()
        },
    );
    let store = r.store();
    let mut changes = r.subscribe();
    let task = tokio::spawn(r.run());
    store.wait_ready().await;
    assert_eq!(store.list().len(), 1);
    client.create(&pods, &mk("b")).await.unwrap();
    wait_for(&mut changes, "b").await;
    // the API server goes away and comes back: the reflector resumes
    c.stop_apiserver();
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.start_apiserver(&[]).await;
    // the same client carries on: its pooled connections died with the old server
    client.create(&pods, &mk("c")).await.unwrap();
    wait_for(&mut changes, "c").await;
    assert_eq!(store.list().len(), 3);
    // patch and conflict errors are typed
    let a = client.get(&format!("{pods}/a")).await.unwrap();
    client
        .patch(
            &format!("{pods}/a"),
            PatchType::Merge,
            &json!({"metadata": {"labels": {"x": "y"}}}),
        )
        .await
        .unwrap();
    let err = client.update(&format!("{pods}/a"), &a).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string().contains("the object has been modified"),
        "{err}"
    );
    // a watch from a compacted resourceVersion is 410
    let rv: i64 = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let etcd = c.etcd.as_ref().unwrap().config().client().unwrap();
    let now = etcd.status().await.unwrap().revision;
    etcd.compact(now).await.unwrap();
    let err = client
        .watch(&pods, &ListParams::default(), &rv.to_string())
        .await
        .unwrap_err();
    assert!(err.is_gone(), "{err}");
    assert!(
        err.to_string().contains("too old resource version"),
        "{err}"
    );
    task.abort();
}

async fn wait_for(
    changes: &mut tokio::sync::broadcast::Receiver<Change>,
    name: &str,
) -> serde_json::Value {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(Change::Applied(o)) = changes.recv().await
                && o["metadata"]["name"] == name
            {
                return o;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no change for {name}"))
}

/// The kubelet's projected tokens (3607 s, bound to a pod) are valid for a year with a
/// `warnafter` at the requested time, as with kube-apiserver's default
/// `--service-account-extend-token-expiration=true`; other tokens keep their requested lifetime.
#[tokio::test(flavor = "multi_thread")]
async fn pod_bound_kubelet_tokens_are_extended() {
    use base64::Engine as _;
    let c = Cluster::start("1.33").await;
    c.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n");
    let client = Client::new(&Config::from_kubeconfig(&c.kubeconfig()).unwrap()).unwrap();
    let url = format!(
        "{}/token",
        path("", "v1", "serviceaccounts", Some("default"), Some("robot"))
    );
    let claims = |tr: &serde_json::Value| -> serde_json::Value {
        let token = tr["status"]["token"].as_str().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let bound = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3607,
                 "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-1", "uid": "u-1"}}});
    let tr = client.create(&url, &bound).await.unwrap();
    assert_eq!(tr["spec"]["expirationSeconds"], 3607);
    let cl = claims(&tr);
    let iat = cl["iat"].as_i64().unwrap();
    assert_eq!(cl["exp"].as_i64().unwrap() - iat, 365 * 24 * 3600);
    assert_eq!(
        cl["kubernetes.io"]["warnafter"].as_i64().unwrap() - iat,
        3607
    );
    let unbound = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3607}});
    let cl = claims(&client.create(&url, &unbound).await.unwrap());
    assert_eq!(
        cl["exp"].as_i64().unwrap() - cl["iat"].as_i64().unwrap(),
        3607
    );
    assert!(cl["kubernetes.io"].get("warnafter").is_none());
}
