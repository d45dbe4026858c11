//! Temporary directories, loopback addresses, a PKI, and a real etcd. Everything cleans up on drop, also when a test panics.

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

/// A running control plane for tests: real etcd + `labsim kube-apiserver`, an admin kubeconfig and a
/// fresh kubectl cache directory. Everything is stopped and removed on drop.
pub struct Cluster {
    /// API server process (killed on drop, before etcd).
    pub apiserver: Option<std::process::Child>,
    /// etcd.
    pub etcd: Option<EtcdProcess>,
    /// The node IP everything listens on.
    pub ip: IpAddr,
    /// The API server's port.
    pub port: u16,
    /// The version the server reports (X.Y).
    pub version: String,
    /// Working directory (removed last).
    pub dir: TempDir,
}

impl Cluster {
    /// Starts etcd and the API server reporting `version` (e.g. "1.33").
    pub async fn start(version: &str) -> Cluster {
        Self::start_with(version, &[]).await
    }

    /// Starts with extra kube-apiserver flags.
    pub async fn start_with(version: &str, extra: &[&str]) -> Cluster {
        let dir = TempDir::new("cluster");
        let ip = unique_ip();
        let port = 8443;
        pki(&dir.0, ip);
        let etcd = etcd(&dir.0, ip).await;
        let p = dir.0.join("pki");
        let ca = labsim::pki::Ca::load(&p, "ca").unwrap();
        let admin = ca
            .issue(&labsim::pki::CertSpec::client(
                "kubernetes-admin",
                &["kubeadm:cluster-admins"],
            ))
            .unwrap();
        let server = format!("https://{ip}:{port}");
        labsim::pki::kubeconfig::Kubeconfig::with_client_cert(
            "kubernetes",
            &server,
            ca.cert_pem(),
            "kubernetes-admin",
            &admin.cert_pem,
            &admin.key_pem,
        )
        .write(&dir.0.join("admin.conf"))
        .unwrap();
        let mut c = Cluster {
            apiserver: None,
            etcd: Some(etcd),
            ip,
            port,
            version: version.into(),
            dir,
        };
        c.start_apiserver(extra).await;
        c
    }

    /// The kube-apiserver flags kubeadm writes (cmd/kubeadm/app/phases/controlplane/manifests.go).
    pub fn apiserver_args(&self, extra: &[&str]) -> Vec<String> {
        let p = |f: &str| self.dir.0.join("pki").join(f).display().to_string();
        let mut args = vec![
            format!("--advertise-address={}", self.ip),
            "--allow-privileged=true".into(),
            "--authorization-mode=Node,RBAC".into(),
            format!("--client-ca-file={}", p("ca.crt")),
            "--enable-admission-plugins=NodeRestriction".into(),
            "--enable-bootstrap-token-auth=true".into(),
            format!("--etcd-cafile={}", p("etcd/ca.crt")),
            format!("--etcd-certfile={}", p("apiserver-etcd-client.crt")),
            format!("--etcd-keyfile={}", p("apiserver-etcd-client.key")),
            format!("--etcd-servers=https://{}:2379", self.ip),
            format!(
                "--kubelet-client-certificate={}",
                p("apiserver-kubelet-client.crt")
            ),
            format!("--kubelet-client-key={}", p("apiserver-kubelet-client.key")),
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".into(),
            format!("--proxy-client-cert-file={}", p("front-proxy-client.crt")),
            format!("--proxy-client-key-file={}", p("front-proxy-client.key")),
            "--requestheader-allowed-names=front-proxy-client".into(),
            format!("--requestheader-client-ca-file={}", p("front-proxy-ca.crt")),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
            "--requestheader-group-headers=X-Remote-Group".into(),
            "--requestheader-username-headers=X-Remote-User".into(),
            format!("--secure-port={}", self.port),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-cluster-ip-range=10.96.0.0/12".into(),
            format!("--tls-cert-file={}", p("apiserver.crt")),
            format!("--tls-private-key-file={}", p("apiserver.key")),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Starts (or restarts) the API server and waits until `/readyz` answers.
    pub async fn start_apiserver(&mut self, extra: &[&str]) {
        let log = std::fs::File::create(self.dir.0.join("apiserver.log")).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_labsim"))
            .arg("kube-apiserver")
            .args(self.apiserver_args(extra))
            .env("LABSIM_KUBERNETES_VERSION", &self.version)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.apiserver = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (code, out, _) = self.curl(&[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("{}/readyz", self.server()),
            ]);
            if code == 0 && out.trim() == "200" {
                return;
            }
            if let Some(c) = self.apiserver.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("apiserver exited with {st}: {}", self.log());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "apiserver not ready: {}",
                self.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Stops the API server (SIGKILL) and waits for it.
    pub fn stop_apiserver(&mut self) {
        if let Some(mut c) = self.apiserver.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The API server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("apiserver.log")).unwrap_or_default()
    }

    /// `https://ip:port`.
    pub fn server(&self) -> String {
        format!("https://{}:{}", self.ip, self.port)
    }

    /// The admin kubeconfig path.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.0.join("admin.conf")
    }

    /// Runs `binary` (a kubectl) with the admin kubeconfig and a private cache dir.
    pub fn kubectl_with(
        &self,
        binary: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (i32, String, String) {
        let out = std::process::Command::new(binary)
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("KUBECACHEDIR", self.dir.0.join("kube-cache"))
            .env("HOME", &self.dir.0)
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs the dispatcher `/usr/bin/kubectl`.
    pub fn kubectl(&self, args: &[&str]) -> (i32, String, String) {
        self.kubectl_with("/usr/bin/kubectl", args, &[])
    }

    /// Runs kubectl, asserting success, and returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.kubectl(args);
        assert_eq!(
            code,
            0,
            "kubectl {args:?} failed: {err}\n{out}\napiserver log:\n{}",
            self.log()
        );
        out
    }

    /// Runs curl with the CA (and any extra args).
    pub fn curl(&self, args: &[&str]) -> (i32, String, String) {
        let ca = self.dir.0.join("pki/ca.crt");
        let out = std::process::Command::new("curl")
            .arg("--cacert")
            .arg(ca)
            .arg("--max-time")
            .arg("10")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Applies a manifest given as text.
    pub fn apply(&self, manifest: &str) -> String {
        let f = self
            .dir
            .0
            .join(format!("m-{}.yaml", NEXT.fetch_add(1, Ordering::SeqCst)));
        std::fs::write(&f, manifest).unwrap();
        self.ok(&["apply", "-f", f.to_str().unwrap()])
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_apiserver();
        self.etcd.take();
    }
}
