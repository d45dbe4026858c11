//! labsim's kubeadm against a live control plane (real etcd + `labsim kube-apiserver`), judged by
//! the real kubectl: the phases `kubeadm init` runs once the API server is healthy (upload-config,
//! mark-control-plane, bootstrap-token, cluster-info, addons) create what a real kubeadm creates;
//! and `kubeadm join`'s discovery accepts the right token and CA hash and fails as kubeadm does for
//! a wrong secret, a wrong hash and an unknown token ID. The controller manager's bootstrap signer
//! is not part of this test: the test signs cluster-info itself, as that controller would.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Cluster;
use labsim::cli::kubeadm::config::{HostFacts, load_init};
use labsim::cli::kubeadm::discovery::{DiscoveryError, discover};
use labsim::cli::kubeadm::init::{Plan, addons_phase, cluster_phases};
use labsim::client::{Client, Config, PatchType, path};
use labsim::version::Minor;
use serde_json::{Value, json};

const TOKEN: &str = "abcdef.0123456789abcdef";

fn plan(c: &Cluster) -> Plan {
    let minor = Minor::new(33).unwrap();
    let pki = c.dir.0.join("pki");
    let text = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: {TOKEN}\nlocalAPIEndpoint:\n  advertiseAddress: {ip}\n  bindPort: {port}\nnodeRegistration:\n  name: minikube\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: mk\nkubernetesVersion: v1.33.7\ncertificatesDir: {pki}\nnetworking:\n  podSubnet: 10.244.0.0/16\ncontrollerManager:\n  extraArgs:\n  - name: node-monitor-grace-period\n    value: 10s\n",
        ip = c.ip,
        port = c.port,
        pki = pki.display()
    );
    let host = HostFacts {
        hostname: "minikube".into(),
        default_ip: c.ip,
        kubeadm_version: minor.git_version(),
    };
    let (cfg, _) = load_init(&text, minor, &host).unwrap();
    Plan {
        minor,
        node_ip: c.ip,
        hostname: "minikube".into(),
        token: TOKEN.into(),
        skip_token_print: false,
        upload_certs: false,
        event_log: false,
        cfg,
        cgroup: labsim::node::CgroupVersion::V2,
    }
}

fn admin(c: &Cluster) -> Client {
    Client::new(&Config::from_kubeconfig(&c.kubeconfig()).unwrap()).unwrap()
}

/// What the kubelet does when it registers: a Node named after the node.
async fn register_node(client: &Client) {
    client
        .create(
            &path("", "v1", "nodes", None, None),
            &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "minikube", "labels": {"kubernetes.io/hostname": "minikube"}}}),
        )
        .await
        .unwrap();
}

/// What the bootstrap signer does: add `jws-kubeconfig-<id>` to cluster-info.
async fn sign_cluster_info(client: &Client, token: &str) {
    let (id, secret) = token.split_once('.').unwrap();
    let p = path(
        "",
        "v1",
        "configmaps",
        Some("kube-public"),
        Some("cluster-info"),
    );
    let cm = client.get(&p).await.unwrap();
    let kc = cm["data"]["kubeconfig"].as_str().unwrap();
    let jws = labsim::pki::jwt::bootstrap_detached_signature(kc, id, secret);
    client
        .patch(
            &p,
            PatchType::Merge,
            &json!({"data": {format!("jws-kubeconfig-{id}"): jws}}),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_phases_create_what_kubeadm_creates_and_join_discovery_verifies() {
    let c = Cluster::start("1.33").await;
    let client = admin(&c);
    let plan = plan(&c);
    register_node(&client).await;
    let ca_pem = std::fs::read_to_string(c.dir.0.join("pki/ca.crt")).unwrap();
    let mut out = Vec::new();
    cluster_phases(&client, &plan, &ca_pem, &mut out)
        .await
        .unwrap();
    addons_phase(&client, &plan, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    insta::assert_snapshot!(text, @r#"
    [upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace
    [kubelet] Creating a ConfigMap "kubelet-config" in namespace kube-system with the configuration for the kubelets in the cluster
    [upload-certs] Skipping phase. Please see --upload-certs
    [mark-control-plane] Marking the node minikube as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]
    [mark-control-plane] Marking the node minikube as control-plane by adding the taints [node-role.kubernetes.io/control-plane:NoSchedule]
    [bootstrap-token] Using token: abcdef.0123456789abcdef
    [bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles
    [bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes
    [bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get long term certificate credentials
    [bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from a Node Bootstrap Token
    [bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in the cluster
    [bootstrap-token] Creating the "cluster-info" ConfigMap in the "kube-public" namespace
    [addons] Applied essential addon: CoreDNS
    [addons] Applied essential addon: kube-proxy
    "#);

    // The real kubectl sees what kubeadm made.
    let taints = c.ok(&["get", "node", "minikube", "-o", "jsonpath={.spec.taints}"]);
    assert_eq!(
        taints,
        r#"[{"effect":"NoSchedule","key":"node-role.kubernetes.io/control-plane"}]"#
    );
    let labels = c.ok(&["get", "node", "minikube", "--show-labels", "--no-headers"]);
    assert!(
        labels.contains("node-role.kubernetes.io/control-plane="),
        "{labels}"
    );
    let roles = c.ok(&["get", "node", "minikube", "--no-headers"]);
    assert!(roles.contains("control-plane"), "ROLES column: {roles}");
    let secret: Value = serde_json::from_str(&c.ok(&[
        "-n",
        "kube-system",
        "get",
        "secret",
        "bootstrap-token-abcdef",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(secret["type"], "bootstrap.kubernetes.io/token");
    let dns = c.ok(&[
        "-n",
        "kube-system",
        "get",
        "svc",
        "kube-dns",
        "--no-headers",
    ]);
    assert!(
        dns.contains("10.96.0.10") && dns.contains("53/UDP,53/TCP,9153/TCP"),
        "{dns}"
    );
    let coredns = c.ok(&[
        "-n",
        "kube-system",
        "get",
        "deploy",
        "coredns",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(coredns, "2");
    let ds = c.ok(&[
        "-n",
        "kube-system",
        "get",
        "ds",
        "kube-proxy",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(ds, "registry.k8s.io/kube-proxy:v1.33.7");
    let cc = c.ok(&[
        "-n",
        "kube-system",
        "get",
        "cm",
        "kubeadm-config",
        "-o",
        "jsonpath={.data.ClusterConfiguration}",
    ]);
    assert!(
        cc.contains("apiVersion: kubeadm.k8s.io/v1beta4")
            && cc.contains("node-monitor-grace-period"),
        "{cc}"
    );

    // Join discovery, before the signer ran: the ConfigMap has no signature for the token yet.
    let endpoint = format!("{}:{}", c.ip, c.port);
    let pin = labsim::pki::ca_pin(&ca_pem).unwrap();
    let short = Duration::from_millis(600);
    let interval = Duration::from_millis(200);
    let e = discover(
        &endpoint,
        "abcdef",
        "0123456789abcdef",
        std::slice::from_ref(&pin),
        short,
        interval,
    )
    .await
    .unwrap_err();
    assert_eq!(e, DiscoveryError::NoSignature("abcdef".into()));

    sign_cluster_info(&client, TOKEN).await;
    let (ca, server, kubeconfig) = discover(
        &endpoint,
        "abcdef",
        "0123456789abcdef",
        std::slice::from_ref(&pin),
        short,
        interval,
    )
    .await
    .unwrap();
    assert_eq!(ca, ca_pem);
    assert_eq!(server, format!("https://{endpoint}"));
    assert!(kubeconfig.contains("certificate-authority-data"));

    let e = discover(
        &endpoint,
        "abcdef",
        "0123456789abcdeX",
        std::slice::from_ref(&pin),
        short,
        interval,
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to verify JWS signature of received cluster info object, can't trust this API Server"
    );
    let wrong = format!("sha256:{}", "1".repeat(64));
    let e = discover(
        &endpoint,
        "abcdef",
        "0123456789abcdef",
        &[wrong],
        short,
        interval,
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"{pin}\" are pinned"
        )
    );
    let e = discover(
        &endpoint,
        "zzzzzz",
        "0123456789abcdef",
        std::slice::from_ref(&pin),
        short,
        interval,
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "could not find a JWS signature in the cluster-info ConfigMap for token ID \"zzzzzz\""
    );

    // What join reads next, as the bootstrap token user.
    let bootstrap = Client::new(&Config {
        server: server.clone(),
        ca_pem: Some(ca.clone()),
        credentials: labsim::pki::kubeconfig::Credentials::Token(TOKEN.into()),
        namespace: "default".into(),
        user_agent: "kubeadm".into(),
    })
    .unwrap();
    let kc = bootstrap
        .get(&path(
            "",
            "v1",
            "configmaps",
            Some("kube-system"),
            Some("kubelet-config"),
        ))
        .await
        .unwrap();
    let kubelet: Value = serde_saphyr::from_str(kc["data"]["kubelet"].as_str().unwrap()).unwrap();
    assert_eq!(kubelet["staticPodPath"], "/etc/kubernetes/manifests");
    assert_eq!(kubelet["clusterDNS"][0], "10.96.0.10");
    assert!(Path::new(&c.dir.0).exists());
}
