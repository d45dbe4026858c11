//! Shared helpers of labsim's integration tests: temporary directories, loopback addresses, a PKI,
//! and a real etcd. Everything cleans up on drop, also when a test panics.

#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use labsim::etcd::launch::{EtcdConfig, EtcdProcess};
use labsim::pki::KubeadmPki;

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "labsim-it-{name}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

static NEXT: AtomicU32 = AtomicU32::new(1);

/// A loopback IP no other test of this process uses: 127.(200+pid%50).(n).1.
pub fn unique_ip() -> IpAddr {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id();
    IpAddr::from([
        127,
        200 + (pid % 50) as u8,
        (n % 250) as u8,
        1 + (pid / 50 % 200) as u8,
    ])
}

/// A kubeadm PKI for node `minikube` at `ip`.
pub fn pki(dir: &std::path::Path, ip: IpAddr) -> KubeadmPki {
    let pki = KubeadmPki {
        dir: dir.join("pki"),
        node_name: "minikube".into(),
        advertise_address: ip,
        service_ip: "10.96.0.1".parse().unwrap(),
        dns_domain: "cluster.local".into(),
        cert_sans: vec![],
        minor: labsim::version::Minor::new(33).unwrap(),
    };
    pki.generate().unwrap();
    pki
}

/// A real etcd with kubeadm's flags on `ip`, data and log under `dir`.
pub async fn etcd(dir: &std::path::Path, ip: IpAddr) -> EtcdProcess {
    let config = EtcdConfig {
        name: "minikube".into(),
        ip,
        client_port: 2379,
        peer_port: 2380,
        metrics_port: 2381,
        data_dir: dir.join("etcd-data"),
        pki_dir: dir.join("pki"),
    };
    EtcdProcess::start(config, &dir.join("etcd.log"))
        .await
        .unwrap()
}
