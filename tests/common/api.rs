//! A Kubernetes API for tests: a real etcd and labsim's API server (`ServerThread`) on a loopback
//! address of this process's own, with an admin kubeconfig. Everything is removed on drop.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use labsim::apiserver::ServerThread;
use labsim::etcd::launch::{EtcdConfig, EtcdProcess};
use labsim::pki::kubeconfig::Kubeconfig;
use labsim::pki::{Ca, CertSpec, KubeadmPki};

use super::TempDir;

/// The port the first API server listens on.
pub const PORT: u16 = 6443;

/// etcd + API server + admin kubeconfig. Fields drop in order: servers, etcd, then the folder.
pub struct Api {
    servers: Vec<(u16, ServerThread)>,
    _etcd: EtcdProcess,
    ip: IpAddr,
    dir: TempDir,
}

/// An address of 127.199.0.0/16 chosen from the process id, so parallel test binaries differ.
fn ip() -> IpAddr {
    let pid = std::process::id();
    IpAddr::from([127, 199, (pid % 250) as u8, 1 + (pid / 250 % 250) as u8])
}

impl Api {
    /// Generates kubeadm's PKI, starts etcd and one API server on [`PORT`].
    pub async fn start(name: &str) -> Api {
        let dir = TempDir::new(name);
        let ip = ip();
        KubeadmPki {
            dir: dir.path().join("pki"),
            node_name: "minikube".into(),
            advertise_address: ip,
            service_ip: "10.96.0.1".parse().unwrap(),
            dns_domain: "cluster.local".into(),
            cert_sans: vec![],
            minor: labsim::version::Minor::new(33).unwrap(),
        }
        .generate()
        .unwrap();
        let etcd = EtcdProcess::start(
            EtcdConfig {
                name: "minikube".into(),
                ip,
                client_port: 2379,
                peer_port: 2380,
                metrics_port: 2381,
                data_dir: dir.path().join("etcd"),
                pki_dir: dir.path().join("pki"),
            },
            &dir.path().join("etcd.log"),
        )
        .await
        .unwrap();
        let mut api = Api {
            servers: Vec::new(),
            _etcd: etcd,
            ip,
            dir,
        };
        api.start_server(PORT);
        let ca = Ca::load(&api.dir.path().join("pki"), "ca").unwrap();
        let admin = ca
            .issue(&CertSpec::client(
                "kubernetes-admin",
                &["kubeadm:cluster-admins"],
            ))
            .unwrap();
        for port in [PORT, PORT + 1] {
            Kubeconfig::with_client_cert(
                "kubernetes",
                &format!("https://{ip}:{port}"),
                ca.cert_pem(),
                "kubernetes-admin",
                &admin.cert_pem,
                &admin.key_pem,
            )
            .write(&api.kubeconfig_for(port))
            .unwrap();
        }
        api
    }

    fn args(&self, port: u16) -> Vec<String> {
        let p = |f: &str| self.dir.path().join("pki").join(f).display().to_string();
        let ip = self.ip;
        vec![
            format!("--advertise-address={ip}"),
            format!("--client-ca-file={}", p("ca.crt")),
            format!("--etcd-cafile={}", p("etcd/ca.crt")),
            format!("--etcd-certfile={}", p("apiserver-etcd-client.crt")),
            format!("--etcd-keyfile={}", p("apiserver-etcd-client.key")),
            format!("--etcd-servers=https://{ip}:2379"),
            format!("--secure-port={port}"),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-cluster-ip-range=10.96.0.0/12".into(),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
        ]
    }

    /// Starts an API server on `port` (same etcd).
    pub fn start_server(&mut self, port: u16) {
        let server = ServerThread::start(self.args(port)).unwrap();
        self.servers.push((port, server));
    }

    /// Stops the API server on `port`.
    pub fn stop_server(&mut self, port: u16) {
        if let Some(i) = self.servers.iter().position(|(p, _)| *p == port) {
            let (_, mut server) = self.servers.remove(i);
            server.stop();
        }
    }

    /// The admin kubeconfig for the server on `port` ([`PORT`] or `PORT + 1`).
    pub fn kubeconfig_for(&self, port: u16) -> PathBuf {
        self.dir.path().join(format!("admin-{port}.conf"))
    }

    /// The admin kubeconfig for [`PORT`].
    pub fn kubeconfig(&self) -> PathBuf {
        self.kubeconfig_for(PORT)
    }

    /// The test's folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A kube-rs client for the server on `port`.
    pub async fn client(&self, port: u16) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig_for(port)).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(config).unwrap()
    }
}
