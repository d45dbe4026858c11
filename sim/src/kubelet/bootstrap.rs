//! The kubelet's credentials: its client configuration (`--kubeconfig`, or TLS bootstrap with
//! `--bootstrap-kubeconfig`) and its serving certificate.
//!
//! TLS bootstrap (pkg/kubelet/certificate/bootstrap/bootstrap.go `LoadClientCert`, client-go
//! `util/certificate/csr`): with only the bootstrap kubeconfig (a bootstrap token), the kubelet
//! creates a CertificateSigningRequest (`generateName: csr-`, signer
//! `kubernetes.io/kube-apiserver-client-kubelet`, subject `CN=system:node:<node>,O=system:nodes`,
//! usages `digital signature` + `client auth` for an ECDSA key), waits until the controller
//! manager has approved and signed it, stores certificate and key in
//! `<cert-dir>/kubelet-client-<timestamp>.pem` with the symlink `kubelet-client-current.pem`, and
//! writes `--kubeconfig` pointing at that file (clusters `default-cluster`, user `default-auth`,
//! context `default-context`).
//!
//! Client certificate rotation (cmd/kubelet/app/server.go `buildKubeletClientConfig`, pkg/kubelet/
//! certificate/kubelet.go `NewKubeletClientCertificateManager`, client-go
//! `util/certificate/certificate_manager.go` `getCurrentCertificateOrBootstrap`): with
//! `rotateCertificates` (kubeadm sets it) and a `--kubeconfig` that embeds its client certificate
//! (the `kubelet.conf` of `kubeadm init`), the kubelet's certificate store starts from those
//! embedded credentials when it holds no valid certificate of its own: they are written to
//! `kubelet-client-<timestamp>.pem` / `kubelet-client-current.pem` at start-up (kubeadm's
//! `kubelet-finalize` phase then points `kubelet.conf` there), and the manager rotates them out at
//! once with a CSR of its own (auto-approved as `selfnodeclient`).
//!
//! Serving (pkg/kubelet/kubelet_server_journal… `server.go` `InitializeTLS`): without
//! `tlsCertFile`, a self-signed certificate `<cert-dir>/kubelet.crt`/`kubelet.key` for
//! `<hostname>` and the node's addresses, CN `<hostname>@<unix time>`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::klog::{Klog, Kv};
use crate::client::{Client, Config};
use crate::pki::kubeconfig::{
    Cluster, Context, Credentials, Kubeconfig, NamedCluster, NamedContext, NamedUser, User,
};
use crate::pki::{CertSpec, PkiError};

/// Errors getting credentials.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// `--kubeconfig` is unusable and there is no bootstrap kubeconfig.
    #[error("invalid kubeconfig: {0}")]
    Kubeconfig(String),
    /// The bootstrap kubeconfig is missing or unusable.
    #[error("unable to load bootstrap kubeconfig: {0}")]
    BootstrapKubeconfig(String),
    /// The CSR was denied or failed.
    #[error("certificate signing request {name} is {how}, reason: {reason}, message: {message}")]
    Refused {
        /// The CSR.
        name: String,
        /// `denied` or `failed`.
        how: &'static str,
        /// Condition reason.
        reason: String,
        /// Condition message.
        message: String,
    },
    /// Keys or files could not be made.
    #[error(transparent)]
    Pki(#[from] PkiError),
}

fn stat_error(path: &Path) -> String {
    format!("stat {}: no such file or directory", path.display())
}

/// The kubelet's API client configuration.
#[derive(Debug, Clone)]
pub struct ClientSetup {
    /// The client configuration; `None` is standalone mode (no `--kubeconfig`).
    pub config: Option<Config>,
    /// The certificate store started from the kubeconfig's embedded credentials, which the
    /// certificate manager rotates out at once ([`rotate_client_cert`]).
    pub rotate_now: bool,
}

/// The kubelet's API client configuration (`rotate`: `rotateCertificates`).
///
/// # Errors
/// [`BootstrapError`] as the kubelet reports it (then it exits).
pub async fn client_config(
    kubeconfig: Option<&Path>,
    bootstrap: Option<&Path>,
    cert_dir: &Path,
    node_name: &str,
    rotate: bool,
    log: &Klog,
) -> Result<ClientSetup, BootstrapError> {
    let Some(kc) = kubeconfig else {
        log.info("server.go:655", "Standalone mode, no API client", &[]);
        return Ok(ClientSetup {
            config: None,
            rotate_now: false,
        });
    };
    if kc.exists() {
        let config = Config::from_kubeconfig(kc)
            .map(|mut c| {
                c.user_agent = format!("kubelet/{}", "labsim");
                c
            })
            .map_err(|e| BootstrapError::Kubeconfig(e.to_string()))?;
        let mut rotate_now = false;
        if rotate {
            log.info(
                "server.go:956",
                "Client rotation is on, will bootstrap in background",
                &[],
            );
            rotate_now = bootstrap_store(kc, &config, cert_dir, log)?;
        }
        return Ok(ClientSetup {
            config: Some(config),
            rotate_now,
        });
    }
    let Some(bs) = bootstrap else {
        return Err(BootstrapError::Kubeconfig(stat_error(kc)));
    };
    if !bs.exists() {
        return Err(BootstrapError::BootstrapKubeconfig(stat_error(bs)));
    }
    log.info(
        "bootstrap.go:85",
        "No valid client certificate is found but the server is not responsive. A new client certificate will be requested",
        &[],
    );
    let bs_config = Config::from_kubeconfig(bs)
        .map_err(|e| BootstrapError::BootstrapKubeconfig(e.to_string()))?;
    let client =
        Client::new(&bs_config).map_err(|e| BootstrapError::BootstrapKubeconfig(e.to_string()))?;
    let (cert_pem, key_pem) = request_certificate(&client, node_name, log).await?;
    let current = store_client_cert(cert_dir, &cert_pem, &key_pem)?;
    let ca = bs_config.ca_pem.clone().unwrap_or_default();
    write_kubeconfig(kc, &bs_config.server, &ca, &current)?;
    log.info(
        "bootstrap.go:124",
        "Wrote kubeconfig",
        &[("path", Kv::S(kc.display().to_string()))],
    );
    Config::from_kubeconfig(kc)
        .map(|c| ClientSetup {
            config: Some(c),
            rotate_now: false,
        })
        .map_err(|e| BootstrapError::Kubeconfig(e.to_string()))
}

/// Whether the store's `kubelet-client-current.pem` holds a certificate (and key) that has not
/// expired (client-go `fileStore.Current` and the expiry check of
/// `getCurrentCertificateOrBootstrap`).
pub fn store_is_current(cert_dir: &Path) -> bool {
    let Ok(pem) = std::fs::read_to_string(cert_dir.join("kubelet-client-current.pem")) else {
        return false;
    };
    if !pem.contains("PRIVATE KEY-----") {
        return false;
    }
    let Some(der) = crate::pki::pem_certs(&pem).into_iter().next() else {
        return false;
    };
    x509_parser::parse_x509_certificate(&der).is_ok_and(|(_, cert)| {
        cert.validity().not_after.timestamp() > jiff::Timestamp::now().as_second()
    })
}

/// The certificate store started from `--kubeconfig`'s embedded client certificate when it has
/// no valid one: writes them as the current pair and says that the manager must rotate now.
/// A kubeconfig that names files (or holds a token) gives the store nothing to start from.
///
/// # Errors
/// [`BootstrapError`] when the kubeconfig cannot be read or the files written.
fn bootstrap_store(
    kc: &Path,
    config: &Config,
    cert_dir: &Path,
    log: &Klog,
) -> Result<bool, BootstrapError> {
    let current = cert_dir.join("kubelet-client-current.pem");
    if store_is_current(cert_dir) {
        log.info(
            "certificate_store.go:147",
            &format!(
                "Loading cert/key pair from {:?}.",
                current.display().to_string()
            ),
            &[],
        );
        return Ok(false);
    }
    let file = crate::pki::kubeconfig::Kubeconfig::read(kc)
        .map_err(|e| BootstrapError::Kubeconfig(e.to_string()))?;
    let user = file
        .contexts
        .iter()
        .find(|c| c.name == file.current_context)
        .and_then(|c| file.users.iter().find(|u| u.name == c.context.user));
    let embedded = user.is_some_and(|u| {
        u.user.client_certificate_data.is_some() && u.user.client_key_data.is_some()
    });
    let (true, Credentials::ClientCert { cert_pem, key_pem }) = (embedded, &config.credentials)
    else {
        return Ok(false);
    };
    std::fs::create_dir_all(cert_dir).map_err(|source| PkiError::Io {
        what: "create",
        path: cert_dir.to_path_buf(),
        source,
    })?;
    store_client_cert(cert_dir, cert_pem, key_pem)?;
    Ok(true)
}

/// The certificate manager's rotation (client-go `certificate_manager.go` `rotateCerts`): a new
/// key and CSR as in TLS bootstrap, sent with the current credentials, waited for, and stored as
/// the new current pair. Failures back off 2 s, doubling five times, then every 32 s
/// (`Start`'s `wait.ExponentialBackoff` and `PollInfinite`).
pub async fn rotate_client_cert(client: Client, cert_dir: PathBuf, node_name: String, log: Klog) {
    let mut delay = Duration::from_secs(2);
    let mut attempts = 0;
    loop {
        log.vinfo(
            2,
            "certificate_manager.go:536",
            "Rotating certificates",
            &[],
        );
        let stored = match tokio::time::timeout(
            Duration::from_secs(15 * 60),
            request_certificate(&client, &node_name, &log),
        )
        .await
        {
            Ok(Ok((cert_pem, key_pem))) => store_client_cert(&cert_dir, &cert_pem, &key_pem)
                .map_err(|e| format!("Unable to store the new cert/key pair: {e}")),
            Ok(Err(e)) => Err(format!("Certificate request was not signed: {e}")),
            Err(_) => Err("Certificate request was not signed: timed out".to_string()),
        };
        match stored {
            Ok(_) => return,
            Err(e) => log.error(
                "certificate_manager.go:580",
                Some(&e),
                "Rotating certificates failed",
                &[],
            ),
        }
        attempts += 1;
        tokio::time::sleep(delay).await;
        if attempts < 5 {
            delay *= 2;
        } else {
            delay = Duration::from_secs(32);
        }
    }
}

async fn request_certificate(
    client: &Client,
    node_name: &str,
    log: &Klog,
) -> Result<(String, String), BootstrapError> {
    let spec = CertSpec::client(&format!("system:node:{node_name}"), &["system:nodes"]);
    let (csr_pem, key_pem) = crate::pki::new_csr(&spec)?;
    let csrs = crate::client::path(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        None,
        None,
    );
    let body = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "csr-"},
        "spec": {
            "request": base64::engine::general_purpose::STANDARD.encode(csr_pem.as_bytes()),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            // client-go certificate manager: ECDSA keys get no key encipherment.
            "usages": ["digital signature", "client auth"],
        },
    });
    let mut delay = Duration::from_millis(500);
    let created = loop {
        match client.create(&csrs, &body).await {
            Ok(v) => break v,
            Err(e) => {
                log.error(
                    "bootstrap.go:266",
                    Some(&e.to_string()),
                    "Failed to request signed certificate",
                    &[],
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    let name = created["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = format!("{csrs}/{name}");
    let mut said_approved = false;
    loop {
        let csr = match client.get(&path).await {
            Ok(v) => v,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let conds = csr["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for c in &conds {
            let how = match c["type"].as_str() {
                Some("Denied") => "denied",
                Some("Failed") => "failed",
                _ => continue,
            };
            return Err(BootstrapError::Refused {
                name,
                how,
                reason: c["reason"].as_str().unwrap_or_default().into(),
                message: c["message"].as_str().unwrap_or_default().into(),
            });
        }
        let approved = conds.iter().any(|c| c["type"] == "Approved");
        if let Some(cert_b64) = csr["status"]["certificate"]
            .as_str()
            .filter(|c| !c.is_empty())
        {
            log.info(
                "csr.go:257",
                &format!("certificate signing request {name} is issued"),
                &[],
            );
            let cert = base64::engine::general_purpose::STANDARD
                .decode(cert_b64)
                .map_err(|e| PkiError::Parse {
                    what: format!("certificate of {name}"),
                    detail: e.to_string(),
                })?;
            return Ok((String::from_utf8_lossy(&cert).into_owned(), key_pem));
        }
        if approved && !said_approved {
            said_approved = true;
            log.info(
                "csr.go:261",
                &format!("certificate signing request {name} is approved, waiting to be issued"),
                &[],
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Stores a client certificate as the kubelet's certificate store does
/// (client-go `util/certificate/certificate_store.go`): `kubelet-client-<YYYY-MM-DD-HH-MM-SS>.pem`
/// holding certificate and key, and the symlink `kubelet-client-current.pem`. Returns the
/// symlink's path.
///
/// # Errors
/// [`PkiError::Io`].
pub fn store_client_cert(
    cert_dir: &Path,
    cert_pem: &str,
    key_pem: &str,
) -> Result<PathBuf, PkiError> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y-%m-%d-%H-%M-%S")
        .to_string();
    let file = cert_dir.join(format!("kubelet-client-{stamp}.pem"));
    let mut both = cert_pem.trim_end().to_string();
    both.push('\n');
    both.push_str(key_pem.trim_end());
    both.push('\n');
    crate::pki::write_file(&file, both.as_bytes(), 0o600)?;
    let current = cert_dir.join("kubelet-client-current.pem");
    let tmp = cert_dir.join(".kubelet-client-current.pem.tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&file, &tmp).map_err(|source| PkiError::Io {
        what: "write",
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, &current).map_err(|source| PkiError::Io {
        what: "write",
        path: current.clone(),
        source,
    })?;
    Ok(current)
}

/// Writes the kubelet's kubeconfig pointing at its rotating client certificate (bootstrap.go
/// `writeKubeconfigFromBootstrapping`).
///
/// # Errors
/// [`PkiError`].
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_pem: &str,
    cert: &Path,
) -> Result<(), PkiError> {
    let cert = cert.display().to_string();
    let kc = Kubeconfig {
        api_version: "v1".into(),
        clusters: vec![NamedCluster {
            cluster: Cluster {
                certificate_authority_data: Some(
                    base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes()),
                ),
                certificate_authority: None,
                server: server.into(),
            },
            name: "default-cluster".into(),
        }],
        contexts: vec![NamedContext {
            context: Context {
                cluster: "default-cluster".into(),
                namespace: Some("default".into()),
                user: "default-auth".into(),
            },
            name: "default-context".into(),
        }],
        current_context: "default-context".into(),
        kind: "Config".into(),
        preferences: Default::default(),
        users: vec![NamedUser {
            name: "default-auth".into(),
            user: User {
                client_certificate: Some(cert.clone()),
                client_key: Some(cert),
                ..Default::default()
            },
        }],
    };
    kc.write(path)
}

/// The kubelet's serving certificate and key (PEM): `tlsCertFile`/`tlsPrivateKeyFile` if
/// configured, else the self-signed `kubelet.crt`/`kubelet.key` in the certificate directory
/// (made once, kept across restarts).
///
/// # Errors
/// [`PkiError`] when files cannot be read or written.
pub fn serving_cert(
    tls_cert: Option<&Path>,
    tls_key: Option<&Path>,
    cert_dir: &Path,
    hostname: &str,
    ips: &[IpAddr],
) -> Result<(String, String), PkiError> {
    if let (Some(c), Some(k)) = (tls_cert, tls_key) {
        return Ok((crate::pki::read_string(c)?, crate::pki::read_string(k)?));
    }
    let crt = cert_dir.join("kubelet.crt");
    let key = cert_dir.join("kubelet.key");
    if crt.exists() && key.exists() {
        return Ok((
            crate::pki::read_string(&crt)?,
            crate::pki::read_string(&key)?,
        ));
    }
    let kp = crate::pki::new_key()?;
    let mut params =
        rcgen::CertificateParams::new(vec![hostname.to_string()]).map_err(|source| {
            PkiError::Rcgen {
                what: format!("name the serving certificate for {hostname:?}"),
                source,
            }
        })?;
    for ip in ips {
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(*ip));
    }
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        format!("{hostname}@{}", jiff::Timestamp::now().as_second()),
    );
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    // Valid from yesterday (UTC dates) for a year, as the kubelet's `GenerateSelfSignedCertKey`.
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let ymd = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(d.year().into(), d.month() as u8, d.day() as u8)
    };
    params.not_before = ymd(today.yesterday().unwrap_or(today));
    params.not_after = ymd(today
        .checked_add(jiff::Span::new().days(365))
        .unwrap_or(today));
    let cert = params.self_signed(&kp).map_err(|source| PkiError::Rcgen {
        what: "self-sign the kubelet serving certificate".into(),
        source,
    })?;
    let (cert_pem, key_pem) = (cert.pem(), kp.serialize_pem());
    crate::pki::write_file(&crt, cert_pem.as_bytes(), 0o644)?;
    crate::pki::write_file(&key, key_pem.as_bytes(), 0o600)?;
    Ok((cert_pem, key_pem))
}

/// The CSR object of a kubelet's TLS bootstrap, for tests that play the controller manager.
pub fn is_kubelet_client_csr(csr: &Value) -> bool {
    csr["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_cert_store_and_kubeconfig() {
        let dir = std::env::temp_dir().join(format!(
            "labsim-kubelet-pki-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        let current = store_client_cert(&dir, "CERT\n", "KEY\n").unwrap();
        assert_eq!(current, dir.join("kubelet-client-current.pem"));
        assert_eq!(std::fs::read_to_string(&current).unwrap(), "CERT\nKEY\n");
        use std::os::unix::fs::PermissionsExt;
        let target = std::fs::read_link(&current).unwrap();
        assert!(
            target
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("kubelet-client-2")
        );
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let kc = dir.join("kubelet.conf");
        write_kubeconfig(&kc, "https://127.100.49.2:8443", "CA", &current).unwrap();
        let text = std::fs::read_to_string(&kc).unwrap();
        assert!(text.contains("client-certificate: "), "{text}");
        assert!(text.contains("kubelet-client-current.pem"), "{text}");
        assert!(text.contains("current-context: default-context"), "{text}");
        let (c1, _) = serving_cert(
            None,
            None,
            &dir,
            "minikube-m02",
            &["127.100.49.3".parse().unwrap()],
        )
        .unwrap();
        let (c2, _) = serving_cert(None, None, &dir, "minikube-m02", &[]).unwrap();
        assert_eq!(c1, c2, "the serving certificate is made once");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_store_starts_from_embedded_credentials_only() {
        let dir = std::env::temp_dir().join(format!(
            "labsim-kubelet-store-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        let ca = crate::pki::Ca::generate("kubernetes").unwrap();
        let cert = ca
            .issue(&CertSpec::client("system:node:minikube", &["system:nodes"]))
            .unwrap();
        let log = Klog::new(0);
        // A kubeconfig naming files gives the store nothing.
        let by_file = dir.join("by-file.conf");
        write_kubeconfig(
            &by_file,
            "https://127.100.49.2:8443",
            ca.cert_pem(),
            &dir.join("x.pem"),
        )
        .unwrap();
        std::fs::write(
            dir.join("x.pem"),
            format!("{}{}", cert.cert_pem, cert.key_pem),
        )
        .unwrap();
        let config = Config::from_kubeconfig(&by_file).unwrap();
        assert!(!bootstrap_store(&by_file, &config, &dir, &log).unwrap());
        assert!(!store_is_current(&dir));
        // kubeadm init's kubelet.conf: embedded credentials become the current pair.
        let embedded = dir.join("kubelet.conf");
        Kubeconfig::with_client_cert(
            "kubernetes",
            "https://127.100.49.2:8443",
            ca.cert_pem(),
            "system:node:minikube",
            &cert.cert_pem,
            &cert.key_pem,
        )
        .write(&embedded)
        .unwrap();
        let config = Config::from_kubeconfig(&embedded).unwrap();
        assert!(bootstrap_store(&embedded, &config, &dir, &log).unwrap());
        assert!(store_is_current(&dir));
        let stored = std::fs::read_to_string(dir.join("kubelet-client-current.pem")).unwrap();
        assert!(stored.starts_with(cert.cert_pem.trim_end()), "{stored}");
        // A restarted kubelet keeps what its store holds.
        assert!(!bootstrap_store(&embedded, &config, &dir, &log).unwrap());
        // Something that is no certificate is not current.
        store_client_cert(&dir, "CERT", "-----BEGIN PRIVATE KEY-----").unwrap();
        assert!(!store_is_current(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
