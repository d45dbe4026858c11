//! Launching the real etcd with kubeadm's flags (cmd/kubeadm/app/phases/etcd/local.go
//! `getEtcdCommand`): mutual TLS for clients and peers, one member, on a loopback IP of our choice.
//! The binary is `$LABSIM_ETCD` or `/usr/bin/etcd`. The process is killed when [`EtcdProcess`] drops.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Etcd, EtcdError};

/// Errors launching etcd.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The binary could not be started.
    #[error("cannot start etcd ({binary}): {source}; install etcd-server or set LABSIM_ETCD")]
    Spawn {
        /// The binary.
        binary: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// etcd exited or did not answer in time.
    #[error(
        "etcd on {endpoint} did not become healthy within {secs} s: {detail}; its log is {log}"
    )]
    NotHealthy {
        /// Client URL.
        endpoint: String,
        /// Seconds waited.
        secs: u64,
        /// Last error or exit status.
        detail: String,
        /// Where its output went.
        log: String,
    },
    /// Reading the certificates failed.
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// Reading the certificates failed.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
}

/// Where and how to run one etcd member.
#[derive(Debug, Clone)]
pub struct EtcdConfig {
    /// Member name (kubeadm: the node name).
    pub name: String,
    /// The IP it listens on for clients and peers.
    pub ip: IpAddr,
    /// Client port (2379).
    pub client_port: u16,
    /// Peer port (2380).
    pub peer_port: u16,
    /// Metrics port (kubeadm: 2381 on 127.0.0.1; here on `ip`).
    pub metrics_port: u16,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// kubeadm's certificatesDir: `etcd/{ca,server,peer}.{crt,key}` are read from here.
    pub pki_dir: PathBuf,
}

impl EtcdConfig {
    /// The client URL, `https://ip:port`.
    pub fn client_url(&self) -> String {
        format!("https://{}:{}", self.ip, self.client_port)
    }

    /// The command line kubeadm's static pod manifest gives etcd (flags sorted as kubeadm
    /// writes them), minus the 127.0.0.1 client listener (docs/labsim.md, "Addresses").
    pub fn args(&self) -> Vec<String> {
        let pki = |f: &str| self.pki_dir.join(f).display().to_string();
        let peer = format!("https://{}:{}", self.ip, self.peer_port);
        vec![
            format!("--advertise-client-urls={}", self.client_url()),
            format!("--cert-file={}", pki("etcd/server.crt")),
            "--client-cert-auth=true".into(),
            format!("--data-dir={}", self.data_dir.display()),
            "--experimental-initial-corrupt-check=true".into(),
            "--experimental-watch-progress-notify-interval=5s".into(),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster={}={peer}", self.name),
            format!("--key-file={}", pki("etcd/server.key")),
            format!("--listen-client-urls={}", self.client_url()),
            format!(
                "--listen-metrics-urls=http://{}:{}",
                self.ip, self.metrics_port
            ),
            format!("--listen-peer-urls={peer}"),
            format!("--name={}", self.name),
            format!("--peer-cert-file={}", pki("etcd/peer.crt")),
            "--peer-client-cert-auth=true".into(),
            format!("--peer-key-file={}", pki("etcd/peer.key")),
            format!("--peer-trusted-ca-file={}", pki("etcd/ca.crt")),
            "--snapshot-count=10000".into(),
            format!("--trusted-ca-file={}", pki("etcd/ca.crt")),
        ]
    }

    /// A client with the `apiserver-etcd-client` certificate.
    ///
    /// # Errors
    /// [`LaunchError`] when the files cannot be read.
    pub fn client(&self) -> Result<Etcd, LaunchError> {
        let read = |f: &str| crate::pki::read_string(&self.pki_dir.join(f));
        let ca = read("etcd/ca.crt")?;
        let cert = read("apiserver-etcd-client.crt")?;
        let key = read("apiserver-etcd-client.key")?;
        Ok(Etcd::new(&self.client_url(), &ca, Some((&cert, &key)))?)
    }
}

/// The etcd binary: `$LABSIM_ETCD` or `/usr/bin/etcd`.
pub fn etcd_binary() -> String {
    std::env::var("LABSIM_ETCD").unwrap_or_else(|_| "/usr/bin/etcd".into())
}

/// A running etcd, killed on drop.
#[derive(Debug)]
pub struct EtcdProcess {
    child: Child,
    config: EtcdConfig,
    log: PathBuf,
}

impl EtcdProcess {
    /// Starts etcd with `config`, its output going to `log`, and waits (up to 20 s) until it
    /// answers `/v3/maintenance/status` with the apiserver-etcd-client certificate.
    ///
    /// # Errors
    /// [`LaunchError`] when it cannot start or does not become healthy.
    pub async fn start(config: EtcdConfig, log: &Path) -> Result<EtcdProcess, LaunchError> {
        let binary = etcd_binary();
        let out = std::fs::File::create(log).map_err(|source| LaunchError::Spawn {
            binary: binary.clone(),
            source,
        })?;
        let err = out.try_clone().map_err(|source| LaunchError::Spawn {
            binary: binary.clone(),
            source,
        })?;
        let child = Command::new(&binary)
            .args(config.args())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| LaunchError::Spawn { binary, source })?;
        let mut proc = EtcdProcess {
            child,
            config,
            log: log.to_path_buf(),
        };
        proc.wait_healthy(Duration::from_secs(20)).await?;
        Ok(proc)
    }

    async fn wait_healthy(&mut self, budget: Duration) -> Result<(), LaunchError> {
        let client = self.config.client()?;
        let started = Instant::now();
        let fail = |detail: String, me: &Self| LaunchError::NotHealthy {
            endpoint: me.config.client_url(),
            secs: budget.as_secs(),
            detail,
            log: me.log.display().to_string(),
        };
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(fail(format!("etcd exited with {status}"), self));
            }
            match client.status().await {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() > budget => return Err(fail(e.to_string(), self)),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EtcdConfig {
        &self.config
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops etcd (SIGTERM, then SIGKILL after 5 s) and waits for it.
    pub fn stop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
