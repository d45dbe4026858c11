//! kube-rs (the harness's client) against labsim's API server on a real etcd: typed list/get/patch,
//! and a `kube::runtime::watcher` that carries on after the API server goes away and comes back.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use labsim::apiserver::ServerThread;
use labsim::etcd::launch::{EtcdConfig, EtcdProcess};
use labsim::pki::kubeconfig::Kubeconfig;
use labsim::pki::{Ca, CertSpec, KubeadmPki};

/// Temporary directory removed on drop (declared first in tests so it goes last).
struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ip() -> IpAddr {
    let pid = std::process::id();
    IpAddr::from([127, 199, (pid % 250) as u8, 1 + (pid / 250 % 250) as u8])
}

fn apiserver_args(dir: &std::path::Path, ip: IpAddr) -> Vec<String> {
    let p = |f: &str| dir.join("pki").join(f).display().to_string();
    vec![
        format!("--advertise-address={ip}"),
        format!("--client-ca-file={}", p("ca.crt")),
        format!("--etcd-cafile={}", p("etcd/ca.crt")),
        format!("--etcd-certfile={}", p("apiserver-etcd-client.crt")),
        format!("--etcd-keyfile={}", p("apiserver-etcd-client.key")),
        format!("--etcd-servers=https://{ip}:2379"),
        "--secure-port=6443".into(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={}", p("sa.pub")),
        format!("--service-account-signing-key-file={}", p("sa.key")),
        "--service-cluster-ip-range=10.96.0.0/12".into(),
        format!("--tls-cert-file={}", p("apiserver.crt")),
        format!("--tls-private-key-file={}", p("apiserver.key")),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_rs_lists_patches_and_watches_across_restarts() {
    let dir = TempDir(std::env::temp_dir().join(format!("labsim-kube-rs-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let ip = ip();
    KubeadmPki {
        dir: dir.0.join("pki"),
        node_name: "minikube".into(),
        advertise_address: ip,
        service_ip: "10.96.0.1".parse().unwrap(),
        dns_domain: "cluster.local".into(),
        cert_sans: vec![],
        minor: labsim::version::Minor::new(33).unwrap(),
    }
    .generate()
    .unwrap();
    let _etcd = EtcdProcess::start(
        EtcdConfig {
            name: "minikube".into(),
            ip,
            client_port: 2379,
            peer_port: 2380,
            metrics_port: 2381,
            data_dir: dir.0.join("etcd"),
            pki_dir: dir.0.join("pki"),
        },
        &dir.0.join("etcd.log"),
    )
    .await
    .unwrap();
    let mut server = ServerThread::start(apiserver_args(&dir.0, ip)).unwrap();
    let ca = Ca::load(&dir.0.join("pki"), "ca").unwrap();
    let admin = ca
        .issue(&CertSpec::client(
            "kubernetes-admin",
            &["kubeadm:cluster-admins"],
        ))
        .unwrap();
    let kc_path = dir.0.join("admin.conf");
    Kubeconfig::with_client_cert(
        "kubernetes",
        &format!("https://{ip}:6443"),
        ca.cert_pem(),
        "kubernetes-admin",
        &admin.cert_pem,
        &admin.key_pem,
    )
    .write(&kc_path)
    .unwrap();
    let kc = kube::config::Kubeconfig::read_from(&kc_path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    let info = client.apiserver_version().await.unwrap();
    assert_eq!(info.git_version, "v1.33.7");

    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    sas.create(
        &PostParams::default(),
        &serde_json::from_value(serde_json::json!({"metadata": {"name": "default"}})).unwrap(),
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = |name: &str| -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "labels": {"app": "hello"}}, "spec": {"containers": [{"name": "app", "image": "stefanprodan/podinfo:6.3.5"}]}})).unwrap()
    };
    pods.create(&PostParams::default(), &pod("a"))
        .await
        .unwrap();
    let a = pods.get("a").await.unwrap();
    assert_eq!(
        a.spec.as_ref().unwrap().restart_policy.as_deref(),
        Some("Always")
    );
    assert_eq!(a.status.as_ref().unwrap().phase.as_deref(), Some("Pending"));
    let patched = pods
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Strategic(serde_json::json!({"metadata": {"labels": {"tier": "web"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap()["tier"], "web");
    let ssa = pods
        .patch("b", &PatchParams::apply("labs-test"), &Patch::Apply(serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}, "spec": {"containers": [{"name": "app", "image": "podinfo"}]}})))
        .await
        .unwrap();
    assert_eq!(
        ssa.metadata.managed_fields.unwrap()[0].manager.as_deref(),
        Some("labs-test")
    );

    // A watcher sees changes, keeps going while the API server is away, and sees later changes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch_pods = pods.clone();
    let task = tokio::spawn(async move {
        let mut s = watcher(watch_pods, watcher::Config::default()).boxed();
        loop {
            match s.try_next().await {
                Ok(Some(watcher::Event::Apply(p))) | Ok(Some(watcher::Event::InitApply(p))) => {
                    let _ = tx.send(p.metadata.name.unwrap_or_default());
                }
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    expect(&mut rx, "a").await;
    pods.create(&PostParams::default(), &pod("c"))
        .await
        .unwrap();
    expect(&mut rx, "c").await;
    server.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _server = ServerThread::start(apiserver_args(&dir.0, ip)).unwrap();
    let client2 = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kc_path).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    Api::<Pod>::namespaced(client2, "default")
        .create(&PostParams::default(), &pod("d"))
        .await
        .unwrap();
    expect(&mut rx, "d").await;
    task.abort();
}

async fn expect(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, name: &str) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(n) = rx.recv().await {
            if n == name {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("watcher never saw pod {name}"))
}
