//! labsim's kubeadm on labsim nodes, typed as the course types it: `sudo bash master.sh auto`, then
//! `sudo kubeadm init --config config.yaml` writes kubeadm's PKI, kubeconfigs, static Pod manifests
//! and kubelet files and starts the kubelet unit; `kubeadm join` on a worker verifies the CA hash
//! and the token against a live API server and fails as kubeadm does. Where the kubelet is needed
//! (it is another module's work), the test shortens kubeadm's waits through the config's
//! `timeouts` and checks kubeadm's own failure text.

mod common;

use base64::Engine;
use common::{Cluster, Lab};
use labsim::client::{Client, Config, PatchType, path};
use serde_json::json;

const PROFILE: &str = "kadm";

fn put_file(lab: &Lab, node: &str, dest: &str, content: &str) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(content);
    lab.sh(PROFILE, node, &format!("echo {b64} | base64 -d > {dest}"));
}

/// Runs a script on a node and returns (exit code, output) without asserting success.
fn run(lab: &Lab, node: &str, script: &str) -> (i32, String) {
    let out = lab.sh(PROFILE, node, &format!("{script}; echo \"EXIT=$?\""));
    let code = out
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("EXIT="))
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(-1);
    (code, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_sh_then_kubeadm_init_and_join_on_nodes() {
    let lab = Lab::new("kubeadm");
    lab.start(PROFILE, 2);
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/scripts/master.sh"
    ))
    .unwrap();
    put_file(&lab, PROFILE, "master.sh", &script);
    let out = lab.sh(PROFILE, PROFILE, "sudo bash master.sh auto && ls -1");
    assert!(
        out.contains("kubeadm, kubelet and kubectl v1.33.7 are already installed"),
        "{out}"
    );
    for f in ["config.yaml", "flannel.yaml", "traefik.yaml"] {
        assert!(out.lines().any(|l| l == f), "{f} missing: {out}");
    }
    assert_eq!(
        lab.sh(PROFILE, PROFILE, "kubeadm version -o short").trim(),
        "v1.33.7"
    );

    // init, with a short kubelet health check so a broken kubelet does not make it wait 4m0s.
    lab.sh(PROFILE, PROFILE, "sed -i 's/^kind: InitConfiguration$/kind: InitConfiguration\\ntimeouts:\\n  kubeletHealthCheck: 3s/' config.yaml");
    let (code, out) = run(
        &lab,
        PROFILE,
        "sudo kubeadm init --config config.yaml --ignore-preflight-errors=all 2>&1",
    );
    assert_eq!(code, 0, "{out}");
    for want in [
        "[init] Using Kubernetes version: v1.33.7",
        "[certs] Using certificateDir folder \"/var/lib/minikube/certs\"",
        "[kubeconfig] Writing \"super-admin.conf\" kubeconfig file",
        "[etcd] Creating static Pod manifest for local etcd in \"/etc/kubernetes/manifests\"",
        "[kubelet-start] Starting the kubelet",
        "[kubelet-check] The kubelet is healthy after",
        "[kubelet-finalize] Updating \"/etc/kubernetes/kubelet.conf\" to point to a rotatable kubelet client certificate and key",
        "Your Kubernetes control-plane has initialized successfully!",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
    // The kubelet wrote its client certificate before kubelet-finalize looked for it.
    assert!(
        !out.contains("could not find /var/lib/kubelet/pki"),
        "{out}"
    );
    // The node reports cgroup v2 (its own identity), whatever the host has.
    assert!(!out.contains("cgroups v1"), "{out}");
    // The node's executables are the host's: with socat installed (scripts/install-deps, as
    // kicbase has it) kubeadm finds it; without, it warns as on a node that lacks it.
    let host_has_socat = std::process::Command::new("sh")
        .args(["-c", "command -v socat"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert_eq!(
        out.contains("[WARNING FileExisting-socat]: socat not found in system path"),
        !host_has_socat,
        "{out}"
    );
    let files = lab.sh(
        PROFILE,
        PROFILE,
        "sudo ls /var/lib/minikube/certs/etcd /etc/kubernetes /etc/kubernetes/manifests /var/lib/kubelet && sudo stat -c %a /var/lib/minikube/certs/ca.key",
    );
    for f in [
        "healthcheck-client.crt",
        "admin.conf",
        "kubelet.conf",
        "etcd.yaml",
        "kube-scheduler.yaml",
        "config.yaml",
        "kubeadm-flags.env",
    ] {
        assert!(files.contains(f), "{f} missing: {files}");
    }
    assert!(files.trim_end().ends_with("600"), "ca.key mode: {files}");
    // The real etcdctl accepts the certificates kubeadm wrote (course's alias paths).
    let enabled = lab.sh(PROFILE, PROFILE, "systemctl is-enabled kubelet");
    assert_eq!(enabled.trim(), "enabled");

    // A second init meets kubeadm's preflight errors.
    let (code, out) = run(&lab, PROFILE, "sudo kubeadm init --config config.yaml 2>&1");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\t[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: /etc/kubernetes/manifests/kube-apiserver.yaml already exists"), "{out}");
    assert!(out.contains("[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`"), "{out}");

    // reset -f removes what init wrote.
    let out = lab.sh(PROFILE, PROFILE, "sudo kubeadm reset -f 2>&1; sudo ls /etc/kubernetes/manifests /var/lib/minikube/certs | wc -l");
    assert!(
        out.contains(
            "[reset] Deleting files: [/etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf"
        ),
        "{out}"
    );

    // join from the worker against a live API server outside the nodes (same loopback).
    let c = Cluster::start("1.33").await;
    let client = Client::new(&Config::from_kubeconfig(&c.kubeconfig()).unwrap()).unwrap();
    let ca_pem = std::fs::read_to_string(c.dir.0.join("pki/ca.crt")).unwrap();
    let kc = labsim::cli::kubeadm::addons::cluster_info_kubeconfig(&c.server(), &ca_pem);
    for o in labsim::cli::kubeadm::addons::cluster_info_objects(&kc) {
        labsim::cli::kubeadm::init::create_or_update(&client, &o)
            .await
            .unwrap();
    }
    let objs = labsim::cli::kubeadm::addons::upload_config("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: kubernetes\n")
        .into_iter()
        .chain(labsim::cli::kubeadm::addons::kubelet_config_objects("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPath: /etc/kubernetes/manifests\n"));
    for o in objs {
        labsim::cli::kubeadm::init::create_or_update(&client, &o)
            .await
            .unwrap();
    }
    let token = "abcdef.0123456789abcdef";
    let secret = labsim::cli::kubeadm::token::secret(
        token,
        &labsim::cli::kubeadm::config::BootstrapToken {
            token: Some(token.into()),
            description: String::new(),
            ttl: std::time::Duration::from_secs(3600),
            usages: vec!["signing".into(), "authentication".into()],
            groups: vec!["system:bootstrappers:kubeadm:default-node-token".into()],
        },
        "",
        jiff::Timestamp::now(),
    );
    labsim::cli::kubeadm::init::create_or_update(&client, &secret)
        .await
        .unwrap();
    let jws = labsim::pki::jwt::bootstrap_detached_signature(&kc, "abcdef", "0123456789abcdef");
    client
        .patch(
            &path(
                "",
                "v1",
                "configmaps",
                Some("kube-public"),
                Some("cluster-info"),
            ),
            PatchType::Merge,
            &json!({"data": {"jws-kubeconfig-abcdef": jws}}),
        )
        .await
        .unwrap();
    let pin = labsim::pki::ca_pin(&ca_pem).unwrap();
    let endpoint = format!("{}:{}", c.ip, c.port);
    let worker = format!("{PROFILE}-m02");
    let wrong = format!("sha256:{}", "2".repeat(64));
    let (code, out) = run(
        &lab,
        &worker,
        &format!(
            "sudo kubeadm join {endpoint} --token {token} --discovery-token-ca-cert-hash {wrong} --ignore-preflight-errors=all 2>&1"
        ),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"{pin}\" are pinned")), "{out}");
    assert!(
        out.contains("To see the stack trace of this error execute with --v=5 or higher"),
        "{out}"
    );
    let (code, out) = run(
        &lab,
        &worker,
        &format!(
            "sudo kubeadm join {endpoint} --token abcdef.0123456789abcdez --discovery-token-ca-cert-hash {pin} --ignore-preflight-errors=all 2>&1"
        ),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("couldn't validate the identity of the API Server: failed to verify JWS signature of received cluster info object, can't trust this API Server"), "{out}");

    // The right token and hash get through discovery to the kubelet (whose TLS bootstrap is the
    // kubelet's and the controller manager's work): shortened waits through a JoinConfiguration.
    let join_cfg = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: {endpoint}\n    token: {token}\n    caCertHashes: [\"{pin}\"]\nnodeRegistration:\n  ignorePreflightErrors: [all]\ntimeouts:\n  kubeletHealthCheck: 3s\n  tlsBootstrap: 3s\n"
    );
    put_file(&lab, &worker, "join.yaml", &join_cfg);
    let (code, out) = run(&lab, &worker, "sudo kubeadm join --config join.yaml 2>&1");
    assert_eq!(code, 1, "{out}");
    for want in [
        "[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...",
        "[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"",
        "[kubelet-start] Starting the kubelet",
        "[kubelet-check] The kubelet is not healthy after",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
    let written = lab.sh(
        PROFILE,
        &worker,
        "sudo cat /var/lib/kubelet/config.yaml /etc/kubernetes/bootstrap-kubelet.conf",
    );
    assert!(
        written.contains("staticPodPath: /etc/kubernetes/manifests"),
        "{written}"
    );
    assert!(written.contains("tls-bootstrap-token-user"), "{written}");
    drop(c);
}

#[test]
fn a_cgroup_v1_node_fails_kubeadm_s_preflight_and_the_kubelet_from_1_35() {
    let lab = Lab::new("cgroupv1");
    let o = lab.minikube_env(
        &["start", "--no-kubernetes", "--nodes", "1", "-p", "cgv1"],
        &[
            ("LABSIM_CGROUP_VERSION", "v1"),
            ("KUBERNETES_VERSION", "1.35"),
        ],
    );
    assert_eq!(o.code, 0, "{}", o.transcript());
    let node = "cgv1";
    let out = lab.sh(
        "cgv1",
        node,
        "sudo kubeadm init --pod-network-cidr=10.244.0.0/16 2>&1; echo \"EXIT=$?\"",
    );
    assert!(out.contains("EXIT=1"), "{out}");
    assert!(out.contains("[ERROR SystemVerification]: cgroups v1 support is deprecated and will be removed in a future release. Please migrate to cgroups v2."), "{out}");
    // The kubelet validates its configuration against the node's cgroups (failCgroupV1 is true by
    // default from 1.35).
    let out = lab.sh(
        "cgv1",
        node,
        "printf 'apiVersion: kubelet.config.k8s.io/v1beta1\\nkind: KubeletConfiguration\\n' > /tmp/k.yaml; sudo kubelet --config=/tmp/k.yaml 2>&1; echo \"EXIT=$?\"",
    );
    assert!(out.contains("EXIT=1"), "{out}");
    assert!(
        out.contains("\"command failed\" err=\"failed to validate kubelet configuration, error: kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is unsupported and will be removed in a future release, path: &TypeMeta{Kind:,APIVersion:,}\""),
        "{out}"
    );
}
