//! The kubelet and the container runtime on labsim nodes, end to end, judged by the real kubectl
//! and by the API: a two-node profile where the control plane's kubelet runs the real etcd and
//! `labsim kube-apiserver` as static pods (manifests, certificates and kubelet files written here
//! as kubeadm would), the worker's kubelet TLS-bootstraps (this test plays the controller
//! manager's CSR approver and signer), then a podinfo pod on the worker goes through `crictl
//! stop`, `ctr task kill` of its pause task, `kubectl logs`, and a node stop/start.
//! Everything is removed by `Lab`'s drop, also on failure.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use common::{Lab, eventually, ip_of};
use labsim::client::{Client, Config, ListParams, path};
use serde_json::{Value, json};

const P: &str = "kt";
const CP: &str = "kt";
const W: &str = "kt-m02";

fn root(lab: &Lab, node: &str) -> PathBuf {
    lab.profile_dir(P).join("nodes").join(node).join("root")
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn unit_files(r: &Path) {
    write(
        &r.join("etc/systemd/system/kubelet.service"),
        "[Unit]\nDescription=kubelet: The Kubernetes Node Agent\nDocumentation=https://kubernetes.io/docs/\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nExecStart=/opt/labsim/bin/kubelet\nRestart=always\nRestartSec=10\n\n[Install]\nWantedBy=multi-user.target\n",
    );
    write(
        &r.join("etc/systemd/system/kubelet.service.d/10-kubeadm.conf"),
        "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nEnvironmentFile=-/etc/default/kubelet\nExecStart=\nExecStart=/opt/labsim/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n",
    );
}

fn kubelet_files(r: &Path, ip: &str) {
    // What kubeadm writes (cmd/kubeadm/app/phases/kubelet): the config and the flags file.
    write(
        &r.join("var/lib/kubelet/config.yaml"),
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: false\n  webhook:\n    cacheTTL: 0s\n    enabled: true\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nauthorization:\n  mode: Webhook\ncgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\nhealthzBindAddress: 127.0.0.1\nhealthzPort: 10248\nnodeStatusReportFrequency: 0s\nnodeStatusUpdateFrequency: 0s\nrotateCertificates: true\nruntimeRequestTimeout: 0s\nstaticPodPath: /etc/kubernetes/manifests\n",
    );
    write(
        &r.join("var/lib/kubelet/kubeadm-flags.env"),
        &format!(
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock --node-ip={ip} --pod-infra-container-image=registry.k8s.io/pause:3.10 --v=2\"\n"
        ),
    );
}

fn control_plane_manifests(r: &Path, ip: &str) {
    let etcd = labsim::etcd::launch::EtcdConfig {
        name: CP.into(),
        ip: ip.parse().unwrap(),
        client_port: 2379,
        peer_port: 2380,
        metrics_port: 2381,
        data_dir: "/var/lib/etcd".into(),
        pki_dir: "/etc/kubernetes/pki".into(),
    };
    let mut cmd = vec!["etcd".to_string()];
    cmd.extend(etcd.args());
    let etcd_pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "etcd", "namespace": "kube-system", "labels": {"component": "etcd", "tier": "control-plane"}},
        "spec": {"hostNetwork": true, "priorityClassName": "system-node-critical",
            "containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.5.21-0", "imagePullPolicy": "IfNotPresent", "command": cmd,
                "volumeMounts": [{"name": "etcd-data", "mountPath": "/var/lib/etcd"}, {"name": "etcd-certs", "mountPath": "/etc/kubernetes/pki/etcd"}]}],
            "volumes": [{"name": "etcd-data", "hostPath": {"path": "/var/lib/etcd", "type": "DirectoryOrCreate"}},
                        {"name": "etcd-certs", "hostPath": {"path": "/etc/kubernetes/pki/etcd", "type": "DirectoryOrCreate"}}]}});
    let d = "/etc/kubernetes/pki";
    let args: Vec<String> = vec![
        format!("--advertise-address={ip}"),
        "--allow-privileged=true".into(),
        "--authorization-mode=Node,RBAC".into(),
        format!("--client-ca-file={d}/ca.crt"),
        "--enable-admission-plugins=NodeRestriction".into(),
        "--enable-bootstrap-token-auth=true".into(),
        format!("--etcd-cafile={d}/etcd/ca.crt"),
        format!("--etcd-certfile={d}/apiserver-etcd-client.crt"),
        format!("--etcd-keyfile={d}/apiserver-etcd-client.key"),
        format!("--etcd-servers=https://{ip}:2379"),
        format!("--kubelet-client-certificate={d}/apiserver-kubelet-client.crt"),
        format!("--kubelet-client-key={d}/apiserver-kubelet-client.key"),
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".into(),
        format!("--proxy-client-cert-file={d}/front-proxy-client.crt"),
        format!("--proxy-client-key-file={d}/front-proxy-client.key"),
        "--requestheader-allowed-names=front-proxy-client".into(),
        format!("--requestheader-client-ca-file={d}/front-proxy-ca.crt"),
        "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
        "--requestheader-group-headers=X-Remote-Group".into(),
        "--requestheader-username-headers=X-Remote-User".into(),
        "--secure-port=8443".into(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={d}/sa.pub"),
        format!("--service-account-signing-key-file={d}/sa.key"),
        "--service-cluster-ip-range=10.96.0.0/12".into(),
        format!("--tls-cert-file={d}/apiserver.crt"),
        format!("--tls-private-key-file={d}/apiserver.key"),
    ];
    let mut command = vec!["kube-apiserver".to_string()];
    command.extend(args);
    let probe = |p: &str, period: u64| json!({"httpGet": {"host": ip, "path": p, "port": 8443, "scheme": "HTTPS"}, "periodSeconds": period, "timeoutSeconds": 15, "failureThreshold": 8});
    let api_pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kube-apiserver", "namespace": "kube-system", "labels": {"component": "kube-apiserver", "tier": "control-plane"}},
        "spec": {"hostNetwork": true, "priorityClassName": "system-node-critical",
            "containers": [{"name": "kube-apiserver", "image": "registry.k8s.io/kube-apiserver:v1.33.7", "imagePullPolicy": "IfNotPresent",
                "command": command, "livenessProbe": probe("/livez", 10), "readinessProbe": probe("/readyz", 1),
                "volumeMounts": [{"name": "k8s-certs", "mountPath": d, "readOnly": true}]}],
            "volumes": [{"name": "k8s-certs", "hostPath": {"path": d, "type": "DirectoryOrCreate"}}]}});
    write(
        &r.join("etc/kubernetes/manifests/etcd.yaml"),
        &serde_json::to_string_pretty(&etcd_pod).unwrap(),
    );
    write(
        &r.join("etc/kubernetes/manifests/kube-apiserver.yaml"),
        &serde_json::to_string_pretty(&api_pod).unwrap(),
    );
}

fn kubectl(kubeconfig: &Path, cache: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new("/usr/bin/kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", cache)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn wait_for<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn pod(client: &Client, name: &str) -> Value {
    client
        .get(&path("", "v1", "pods", Some("default"), Some(name)))
        .await
        .unwrap_or(Value::Null)
}

fn restarts(p: &Value) -> i64 {
    p["status"]["containerStatuses"][0]["restartCount"]
        .as_i64()
        .unwrap_or(-1)
}

fn running_ready(p: &Value) -> bool {
    p["status"]["phase"] == "Running" && p["status"]["containerStatuses"][0]["ready"] == true
}

async fn events(client: &Client, name: &str) -> Vec<(String, String)> {
    let list = client
        .list(
            &path("", "v1", "events", Some("default"), None),
            &ListParams {
                field_selector: Some(format!("involvedObject.name={name}")),
                ..Default::default()
            },
        )
        .await
        .unwrap_or(Value::Null);
    let mut items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
    items.sort_by(|a, b| {
        a["lastTimestamp"]
            .as_str()
            .cmp(&b["lastTimestamp"].as_str())
    });
    items
        .iter()
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or_default().to_string(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Plays kube-controller-manager's csrapproving and csrsigning controllers for kubelet client CSRs;
/// returns the requesting users of the CSRs it signed.
async fn approve_and_sign(client: &Client, ca: &labsim::pki::Ca) -> Vec<String> {
    let csrs = path(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        None,
        None,
    );
    let Ok(list) = client.list(&csrs, &ListParams::default()).await else {
        return vec![];
    };
    let mut signed = vec![];
    for csr in list["items"].as_array().into_iter().flatten() {
        if !labsim::kubelet::bootstrap::is_kubelet_client_csr(csr)
            || csr["status"]["certificate"].is_string()
        {
            continue;
        }
        let name = csr["metadata"]["name"].as_str().unwrap();
        let mut approved = csr.clone();
        approved["status"]["conditions"] = json!([{"type": "Approved", "status": "True", "reason": "AutoApproved", "message": "Auto approving kubelet client certificate after SubjectAccessReview."}]);
        let approved = client
            .update(&format!("{csrs}/{name}/approval"), &approved)
            .await
            .unwrap();
        let req = base64::engine::general_purpose::STANDARD
            .decode(csr["spec"]["request"].as_str().unwrap())
            .unwrap();
        let cert = ca
            .sign_csr(
                &String::from_utf8(req).unwrap(),
                labsim::pki::Usage::Client,
                365,
            )
            .unwrap();
        let mut done = approved.clone();
        done["status"]["certificate"] =
            json!(base64::engine::general_purpose::STANDARD.encode(cert));
        client
            .update(&format!("{csrs}/{name}/status"), &done)
            .await
            .unwrap();
        signed.push(
            csr["spec"]["username"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    signed
}

#[tokio::test(flavor = "multi_thread")]
async fn kubelets_run_static_and_api_pods_through_the_runtime() {
    let lab = Lab::new("kubelet");
    lab.start(P, 2);
    let cp_ip = ip_of(&lab, P, CP);
    let w_ip = ip_of(&lab, P, W);
    let (cp, w) = (root(&lab, CP), root(&lab, W));

    // The control plane: PKI, kubeconfigs, static pod manifests, kubelet files.
    let pki = labsim::pki::KubeadmPki {
        dir: cp.join("etc/kubernetes/pki"),
        node_name: CP.into(),
        advertise_address: cp_ip.parse().unwrap(),
        service_ip: "10.96.0.1".parse().unwrap(),
        dns_domain: "cluster.local".into(),
        cert_sans: vec![],
        minor: labsim::version::Minor::new(33).unwrap(),
    };
    pki.generate().unwrap();
    let ca = labsim::pki::Ca::load(&cp.join("etc/kubernetes/pki"), "ca").unwrap();
    let server = format!("https://{cp_ip}:8443");
    let node_cert = ca
        .issue(&labsim::pki::CertSpec::client(
            &format!("system:node:{CP}"),
            &["system:nodes"],
        ))
        .unwrap();
    labsim::pki::kubeconfig::Kubeconfig::with_client_cert(
        "kubernetes",
        &server,
        ca.cert_pem(),
        &format!("system:node:{CP}"),
        &node_cert.cert_pem,
        &node_cert.key_pem,
    )
    .write(&cp.join("etc/kubernetes/kubelet.conf"))
    .unwrap();
    let admin = ca
        .issue(&labsim::pki::CertSpec::client(
            "kubernetes-admin",
            &["kubeadm:cluster-admins"],
        ))
        .unwrap();
    let admin_conf = lab.dir.join("admin.conf");
    labsim::pki::kubeconfig::Kubeconfig::with_client_cert(
        "kubernetes",
        &server,
        ca.cert_pem(),
        "kubernetes-admin",
        &admin.cert_pem,
        &admin.key_pem,
    )
    .write(&admin_conf)
    .unwrap();
    let cache = lab.dir.join("kube-cache");
    control_plane_manifests(&cp, &cp_ip);
    kubelet_files(&cp, &cp_ip);
    unit_files(&cp);
    lab.sh(P, CP, "sudo systemctl enable --now kubelet");

    let client = Client::new(&Config::from_kubeconfig(&admin_conf).unwrap()).unwrap();
    wait_for("the API server as a static pod", 90, || async {
        client.get("/readyz").await.is_ok()
            || client
                .request_text(hyper::Method::GET, "/readyz")
                .await
                .is_ok()
    })
    .await;
    // The mirror pods appear, owned by the Node.
    wait_for("the mirror pod of kube-apiserver", 60, || async {
        client
            .get(&path(
                "",
                "v1",
                "pods",
                Some("kube-system"),
                Some(&format!("kube-apiserver-{CP}")),
            ))
            .await
            .is_ok_and(|p| p["status"]["phase"] == "Running")
    })
    .await;
    let mirror = client
        .get(&path(
            "",
            "v1",
            "pods",
            Some("kube-system"),
            Some(&format!("etcd-{CP}")),
        ))
        .await
        .unwrap();
    assert_eq!(
        mirror["metadata"]["ownerReferences"][0]["kind"], "Node",
        "{mirror}"
    );
    assert!(mirror["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string());
    // The control plane's kubelet started its certificate store from kubelet.conf's embedded
    // credentials (what kubeadm's kubelet-finalize phase looks for) and rotates them out at once
    // with a CSR of its own.
    // (The symlink is absolute inside the node: read its target under the node's root.)
    let cp_current = || {
        let link = std::fs::read_link(cp.join("var/lib/kubelet/pki/kubelet-client-current.pem"))
            .unwrap_or_default();
        std::fs::read_to_string(cp.join(link.strip_prefix("/").unwrap_or(&link)))
    };
    let first = cp_current().unwrap();
    assert!(first.starts_with(node_cert.cert_pem.trim_end()), "{first}");
    wait_for("the control plane's rotation CSR", 60, || async {
        approve_and_sign(&client, &ca)
            .await
            .contains(&format!("system:node:{CP}"))
    })
    .await;
    assert!(eventually(15, || {
        cp_current().is_ok_and(|now| now != first)
    }));
    // The control plane's Node: registered, NotReady without a CNI configuration.
    let node = client
        .get(&path("", "v1", "nodes", None, Some(CP)))
        .await
        .unwrap();
    let ready = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    assert_eq!(ready["status"], "False", "{node}");
    assert_eq!(
        ready["message"],
        "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"
    );
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.33.7");
    assert!(
        node["status"]["nodeInfo"]["containerRuntimeVersion"]
            .as_str()
            .unwrap()
            .starts_with("containerd://")
    );
    let lease = client
        .get(&path(
            "coordination.k8s.io",
            "v1",
            "leases",
            Some("kube-node-lease"),
            Some(CP),
        ))
        .await
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], CP);
    let crictl = lab.sh(P, CP, "sudo crictl ps");
    assert!(
        crictl.contains("kube-apiserver") && crictl.contains("etcd"),
        "{crictl}"
    );
    assert!(
        crictl.lines().next().unwrap().contains("NAMESPACE"),
        "1.33's crictl has NAMESPACE: {crictl}"
    );

    // Cluster objects a controller manager would make.
    let manifests = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: default\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: bootstrap-token-abcdef\n  namespace: kube-system\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: abcdef\n  token-secret: 0123456789abcdef\n  usage-bootstrap-authentication: \"true\"\n  usage-bootstrap-signing: \"true\"\n  auth-extra-groups: system:bootstrappers:kubeadm:default-node-token\n".to_string();
    // The root CA ConfigMap (root-ca-cert-publisher) for the service-account token volume.
    let manifests = format!(
        "{manifests}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kube-root-ca.crt\n  namespace: default\ndata:\n  ca.crt: |\n{}",
        ca.cert_pem()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    let mf = lab.dir.join("cluster.yaml");
    std::fs::write(&mf, manifests).unwrap();
    let (code, out, err) = kubectl(&admin_conf, &cache, &["apply", "-f", mf.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");

    // The worker: before kubeadm's files exist the kubelet fails and systemd restarts it.
    unit_files(&w);
    lab.sh(P, W, "sudo systemctl enable --now kubelet");
    assert!(eventually(15, || {
        lab.sh(P, W, "sudo journalctl -u kubelet --no-pager").contains("\"command failed\" err=\"failed to load kubelet config file, path: /var/lib/kubelet/config.yaml")
    }));
    labsim::pki::write_file(
        &w.join("etc/kubernetes/pki/ca.crt"),
        ca.cert_pem().as_bytes(),
        0o644,
    )
    .unwrap();
    labsim::pki::kubeconfig::Kubeconfig::with_token(
        "kubernetes",
        &server,
        ca.cert_pem(),
        "tls-bootstrap-token-user",
        "abcdef.0123456789abcdef",
    )
    .write(&w.join("etc/kubernetes/bootstrap-kubelet.conf"))
    .unwrap();
    // A CNI configuration (what flannel's DaemonSet installs).
    write(
        &w.join("etc/cni/net.d/10-flannel.conflist"),
        "{\n  \"name\": \"cbr0\",\n  \"cniVersion\": \"0.3.1\",\n  \"plugins\": [\n    {\"type\": \"flannel\", \"delegate\": {\"hairpinMode\": true, \"isDefaultGateway\": true}},\n    {\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}\n  ]\n}\n",
    );
    write(&w.join("opt/cni/bin/flannel"), "#!/bin/sh\nexit 1\n");
    let subnet = "sudo mkdir -p /run/flannel && printf 'FLANNEL_NETWORK=10.244.0.0/16\\nFLANNEL_SUBNET=10.244.1.1/24\\nFLANNEL_MTU=1450\\nFLANNEL_IPMASQ=true\\n' | sudo tee /run/flannel/subnet.env >/dev/null";
    lab.sh(P, W, subnet);
    kubelet_files(&w, &w_ip);
    // TLS bootstrap: the kubelet's CSR, approved and signed here.
    wait_for("the worker's CSR", 60, || async {
        approve_and_sign(&client, &ca)
            .await
            .iter()
            .any(|u| u.starts_with("system:bootstrap:"))
    })
    .await;
    wait_for("the worker Ready", 60, || async {
        client
            .get(&path("", "v1", "nodes", None, Some(W)))
            .await
            .is_ok_and(|n| {
                n["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
    })
    .await;
    // An absolute symlink inside the node, as client-go's certificate store makes it.
    let current =
        std::fs::read_link(w.join("var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap();
    assert!(
        current
            .to_string_lossy()
            .starts_with("/var/lib/kubelet/pki/kubelet-client-2"),
        "{current:?}"
    );
    let kc = std::fs::read_to_string(w.join("etc/kubernetes/kubelet.conf")).unwrap();
    assert!(
        kc.contains("/var/lib/kubelet/pki/kubelet-client-current.pem"),
        "{kc}"
    );

    // healthz on the node IP (kubeadm's kubelet-check); :10250 refuses anonymous requests.
    let curl = |args: &[&str]| {
        let o = std::process::Command::new("curl")
            .args(["-s", "--max-time", "5"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(curl(&[&format!("http://{w_ip}:10248/healthz")]), "ok");
    assert_eq!(
        curl(&["-k", &format!("https://{w_ip}:10250/pods")]),
        "Unauthorized"
    );
    // A pod bound to the worker.
    let pod_yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello\n  labels:\n    app: hello\nspec:\n  nodeName: {W}\n  terminationGracePeriodSeconds: 5\n  containers:\n  - name: hello\n    image: ghcr.io/learnk8s/podinfo:2023.03\n    ports:\n    - containerPort: 9898\n      hostPort: 9999\n    env:\n    - name: MY_POD\n      valueFrom:\n        fieldRef:\n          fieldPath: metadata.name\n    readinessProbe:\n      httpGet:\n        path: /readyz\n        port: 9898\n      periodSeconds: 2\n"
    );
    let pf = lab.dir.join("hello.yaml");
    std::fs::write(&pf, pod_yaml).unwrap();
    let (code, out, err) = kubectl(&admin_conf, &cache, &["apply", "-f", pf.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    wait_for("hello Running and ready", 60, || async {
        running_ready(&pod(&client, "hello").await)
    })
    .await;
    let p = pod(&client, "hello").await;
    assert_eq!(restarts(&p), 0);
    assert_eq!(p["status"]["podIP"], "10.244.1.2", "{p}");
    assert_eq!(p["status"]["hostIP"], w_ip.as_str());
    assert_eq!(
        p["status"]["containerStatuses"][0]["image"],
        "ghcr.io/learnk8s/podinfo:2023.03"
    );
    assert!(
        p["status"]["containerStatuses"][0]["containerID"]
            .as_str()
            .unwrap()
            .starts_with("containerd://")
    );
    // podinfo answers on the pod's (mapped) address with the pod's name.
    let mapped = labsim::net::pod_host_addr(ip_slot(&w_ip), "10.244.1.2".parse().unwrap()).unwrap();
    let body = std::process::Command::new("curl")
        .args(["-s", "--max-time", "5", &format!("http://{mapped}:9898/")])
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&body.stdout).unwrap_or(Value::Null);
    assert_eq!(
        info["hostname"],
        "hello",
        "{}",
        String::from_utf8_lossy(&body.stdout)
    );
    // The environment the kubelet gave the container (podinfo's /env).
    let env = std::process::Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            &format!("http://{mapped}:9898/env"),
        ])
        .output()
        .unwrap();
    let env: Vec<String> = serde_json::from_slice(&env.stdout).unwrap();
    for want in [
        "MY_POD=hello",
        "KUBERNETES_SERVICE_HOST=10.96.0.1",
        "KUBERNETES_SERVICE_PORT=443",
        "HOSTNAME=hello",
    ] {
        assert!(env.iter().any(|e| e == want), "{want} missing from {env:?}");
    }
    // hostPort: the node's address forwards to the pod.
    let via_host = std::process::Command::new("curl")
        .args(["-s", "--max-time", "5", &format!("http://{w_ip}:9999/")])
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&via_host.stdout).unwrap_or(Value::Null);
    assert_eq!(
        info["hostname"],
        "hello",
        "hostPort: {}",
        String::from_utf8_lossy(&via_host.stdout)
    );
    // The projected service-account token volume, from the TokenRequest API.
    let sa_mount = p["spec"]["containers"][0]["volumeMounts"][0].clone();
    assert_eq!(
        sa_mount["mountPath"], "/var/run/secrets/kubernetes.io/serviceaccount",
        "{p}"
    );
    let vol = format!(
        "var/lib/kubelet/pods/{}/volumes/kubernetes.io~projected/{}",
        p["metadata"]["uid"].as_str().unwrap(),
        sa_mount["name"].as_str().unwrap()
    );
    let token = std::fs::read_to_string(w.join(&vol).join("token")).unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT");
    assert_eq!(
        std::fs::read_to_string(w.join(&vol).join("namespace")).unwrap(),
        "default"
    );
    assert_eq!(
        std::fs::read_to_string(w.join(&vol).join("ca.crt"))
            .unwrap()
            .trim(),
        ca.cert_pem().trim()
    );

    // The node's runtime CLIs.
    let ps = lab.sh(P, W, "sudo crictl ps");
    assert!(ps.contains("hello") && ps.contains("Running"), "{ps}");
    let resolved = lab.sh(P, W, "sudo crictl ps -r --name hello");
    assert!(
        resolved.contains("ghcr.io/learnk8s/podinfo:2023.03"),
        "{resolved}"
    );
    let pods = lab.sh(P, W, "sudo crictl pods");
    assert!(pods.contains("hello") && pods.contains("Ready"), "{pods}");
    let ctr = lab.sh(P, W, "sudo ctr -n k8s.io containers list");
    let header = ctr.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["CONTAINER", "IMAGE", "RUNTIME"],
        "{ctr}"
    );
    assert!(
        header.ends_with("    "),
        "ctr pads its last column too: {ctr:?}"
    );
    assert!(
        ctr.contains("registry.k8s.io/pause:3.10")
            && ctr.contains("ghcr.io/learnk8s/podinfo:2023.03"),
        "{ctr}"
    );
    let inspect = lab.sh(
        P,
        W,
        "sudo crictl inspect $(sudo crictl ps -q --name hello)",
    );
    let inspect: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["status"]["state"], "CONTAINER_RUNNING");
    assert!(inspect["info"]["pid"].as_u64().unwrap() > 0);
    let version = lab.sh(P, W, "sudo crictl version");
    assert!(
        version.contains("RuntimeName:  containerd") && version.contains("RuntimeApiVersion:  v1"),
        "{version}"
    );
    let denied = lab.minikube(&["ssh", "-p", P, "-n", W, "--", "crictl ps"]);
    assert!(
        denied.stdout.contains("connect: permission denied"),
        "{}",
        denied.transcript()
    );

    // crictl stop of the app container: restarted at once, restartCount 1.
    lab.sh(P, W, "sudo crictl stop $(sudo crictl ps -q --name hello)");
    wait_for("restartCount 1", 30, || async {
        let p = pod(&client, "hello").await;
        restarts(&p) == 1 && running_ready(&p)
    })
    .await;
    let p = pod(&client, "hello").await;
    assert_eq!(
        p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 137,
        "{p}"
    );

    // ctr task kill of the pause task: the sandbox is re-created, restartCount 2.
    let sandbox = lab
        .sh(P, W, "sudo crictl pods -q --name hello --state ready")
        .trim()
        .to_string();
    assert_eq!(sandbox.len(), 64, "{sandbox}");
    let tasks = lab.sh(P, W, "sudo ctr -n k8s.io task list");
    assert!(tasks.contains(&sandbox), "{tasks}");
    lab.sh(P, W, &format!("sudo ctr -n k8s.io task kill {sandbox}"));
    wait_for("restartCount 2 after the sandbox change", 60, || async {
        let p = pod(&client, "hello").await;
        restarts(&p) == 2 && running_ready(&p)
    })
    .await;
    let evs = events(&client, "hello").await;
    let reasons: Vec<&str> = evs.iter().map(|(r, _)| r.as_str()).collect();
    assert!(
        evs.iter().any(|(r, m)| r == "SandboxChanged"
            && m == "Pod sandbox changed, it will be killed and re-created."),
        "{evs:?}"
    );
    assert!(
        reasons.contains(&"Killing") && reasons.contains(&"Started"),
        "{evs:?}"
    );
    assert!(evs.iter().any(|(r, m)| r == "Pulled" && m == "Container image \"ghcr.io/learnk8s/podinfo:2023.03\" already present on machine"), "{evs:?}");
    assert!(
        evs.iter()
            .any(|(r, m)| r == "Created" && m == "Created container: hello"),
        "{evs:?}"
    );
    let (code, describe, err) = kubectl(&admin_conf, &cache, &["describe", "pod", "hello"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        describe.contains("SandboxChanged") && describe.contains("Restart Count:  2"),
        "{describe}"
    );
    let journal = lab.sh(P, W, "sudo journalctl -u kubelet --no-pager");
    assert!(
        journal.contains("\"Container not found in pod's containers\" containerID="),
        "{journal}"
    );
    assert!(
        journal.contains("scope.go:117] \"RemoveContainer\" containerID="),
        "{journal}"
    );
    assert!(journal.contains("\"No ready sandbox for pod can be found. Need to start a new one\" pod=\"default/hello\""), "{journal}");

    // kubectl logs through the API server and the kubelet.
    let (code, logs, err) = kubectl(&admin_conf, &cache, &["logs", "hello"]);
    assert_eq!(code, 0, "{err}");
    assert!(logs.contains("Starting podinfo"), "{logs}");
    let (code, prev, err) = kubectl(
        &admin_conf,
        &cache,
        &["logs", "hello", "--previous", "--tail=1"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(prev.lines().count(), 1, "{prev}");

    // An image labsim does not know, and a container that keeps failing.
    let bad = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nosuch\nspec:\n  nodeName: {W}\n  automountServiceAccountToken: false\n  containers:\n  - name: app\n    image: ghcr.io/learnk8s/nosuch:1\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: crasher\nspec:\n  nodeName: {W}\n  automountServiceAccountToken: false\n  containers:\n  - name: app\n    image: ghcr.io/learnk8s/podinfo:2023.03\n    args: [\"--port=notaport\"]\n"
    );
    let bf = lab.dir.join("bad.yaml");
    std::fs::write(&bf, bad).unwrap();
    let (code, out, err) = kubectl(&admin_conf, &cache, &["apply", "-f", bf.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let waiting = |p: &Value| {
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    wait_for("ImagePullBackOff", 60, || async {
        waiting(&pod(&client, "nosuch").await) == "ImagePullBackOff"
    })
    .await;
    let evs = events(&client, "nosuch").await;
    assert!(
        evs.iter().any(|(r, m)| r == "Failed"
            && m.starts_with("Failed to pull image \"ghcr.io/learnk8s/nosuch:1\": ")
            && m.contains("failed to resolve reference")),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|(r, m)| r == "Failed" && m == "Error: ErrImagePull"),
        "{evs:?}"
    );
    wait_for("CrashLoopBackOff", 60, || async {
        let p = pod(&client, "crasher").await;
        waiting(&p) == "CrashLoopBackOff" && restarts(&p) >= 1
    })
    .await;
    let p = pod(&client, "crasher").await;
    let msg = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.starts_with("back-off 10s restarting failed container=app pod=crasher_default("),
        "{msg}"
    );
    assert_ne!(
        p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 0,
        "{p}"
    );
    let (code, get, _) = kubectl(&admin_conf, &cache, &["get", "pods", "nosuch", "crasher"]);
    assert_eq!(code, 0);
    assert!(
        get.contains("ImagePullBackOff") && get.contains("CrashLoopBackOff"),
        "{get}"
    );
    let (code, _, err) = kubectl(
        &admin_conf,
        &cache,
        &["delete", "pod", "nosuch", "crasher", "--wait=false"],
    );
    assert_eq!(code, 0, "{err}");

    // Node stop/start: the kubelet comes back and the pod with it.
    let o = lab.minikube(&["node", "stop", "-p", P, W]);
    assert_eq!(o.code, 0, "{}", o.transcript());
    let o = lab.minikube(&["node", "start", "-p", P, W]);
    assert_eq!(o.code, 0, "{}", o.transcript());
    lab.sh(P, W, subnet);
    wait_for("hello back after the node restart", 90, || async {
        let p = pod(&client, "hello").await;
        restarts(&p) == 3 && running_ready(&p)
    })
    .await;
    let pods = lab.sh(P, W, "sudo crictl pods --name hello");
    assert!(
        pods.contains("NotReady") && pods.contains("Ready"),
        "{pods}"
    );

    // Deleting the pod: killed with its grace period, then gone from the API.
    let (code, _, err) = kubectl(
        &admin_conf,
        &cache,
        &["delete", "pod", "hello", "--wait=false"],
    );
    assert_eq!(code, 0, "{err}");
    wait_for("hello deleted", 30, || async {
        pod(&client, "hello").await.is_null()
    })
    .await;
    wait_for("its containers removed", 30, || async {
        !lab.sh(P, W, "sudo crictl ps -a").contains("hello")
    })
    .await;
}

fn ip_slot(ip: &str) -> u8 {
    ip.split('.').nth(1).unwrap().parse::<u8>().unwrap() - 100
}

#[test]
fn node_programs_say_they_need_a_node() {
    if std::path::Path::new("/etc/labsim/node.json").exists() {
        return; // running inside a node: nothing to check here
    }
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_labsim"))
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["crictl", "ps"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("works only inside a running labsim node"),
        "{err}"
    );
    let (code, err) = run(&["ctr", "-n", "k8s.io", "containers", "list"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("ctr: this is labsim's ctr"), "{err}");
    let (code, err) = run(&["kubelet", "--config=/nonexistent/config.yaml"]);
    assert_eq!(code, 1);
    assert!(err.contains("run.go:72] \"command failed\" err=\"failed to load kubelet config file, path: /nonexistent/config.yaml"), "{err}");
    let (code, err) = run(&["kubelet", "--network-plugin=cni"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("err=\"failed to parse kubelet flag: unknown flag: --network-plugin\""),
        "{err}"
    );
    let (code, err) = run(&["kubelet"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("failed to run Kubelet: not inside a labsim node"),
        "{err}"
    );
}
