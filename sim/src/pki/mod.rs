//! Certificates, keys and kubeconfigs: what kubeadm generates and the API server checks.
//!
//! - [`Ca`]: a certificate authority generated fresh or loaded back from `<dir>/<base>.{crt,key}`;
//!   it signs leaf certificates ([`CertSpec`]) and certificate signing requests (kubelet TLS
//!   bootstrap).
//! - [`KubeadmPki`]: the full set of files `kubeadm init` writes under `certificatesDir`, with the real
//!   names, CNs, organisations, usages and SANs (cmd/kubeadm/app/phases/certs/certlist.go).
//! - [`ca_pin`]: kubeadm's `--discovery-token-ca-cert-hash` (cmd/kubeadm/app/util/pubkeypin).
//! - [`kubeconfig`]: kubeconfig files (admin.conf style), read and written.
//! - [`jwt`]: ES256 service-account tokens and the bootstrap signer's detached HS256 JWS.
//!
//! Keys are ECDSA P-256: `ring` cannot generate RSA keys. Real kubeadm supports the same through
//! `encryptionAlgorithm: ECDSA-P256` (ClusterConfiguration, v1beta4; the `PublicKeysECDSA` feature
//! gate before it), so these files are ones a real kubeadm could have written. Private keys are PKCS#8
//! PEM (`PRIVATE KEY`), written with mode 0600.

pub mod jwt;
pub mod kubeconfig;
pub mod tls;

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

/// Errors of the PKI module.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Generating a key or signing a certificate failed inside rcgen.
    #[error("cannot {what}: {source}")]
    Rcgen {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// A file could not be read or written.
    #[error("cannot {what} {path}: {source}; check that the directory exists and is writable")]
    Io {
        /// "read" or "write".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A PEM or DER input is not a certificate/key of the expected kind.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// What was parsed.
        what: String,
        /// What was wrong.
        detail: String,
    },
    /// A signature did not verify or a token is not acceptable.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// What was checked.
        what: &'static str,
        /// Why it was rejected.
        detail: String,
    },
}

fn rc(what: impl Into<String>) -> impl FnOnce(rcgen::Error) -> PkiError {
    let what = what.into();
    move |source| PkiError::Rcgen { what, source }
}

/// Which extended key usages a leaf certificate gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// `serverAuth` only (the API server's serving certificate).
    Server,
    /// `clientAuth` only.
    Client,
    /// `serverAuth` and `clientAuth` (etcd server and peer certificates).
    ServerAndClient,
}

/// What to put into a leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSpec {
    /// Subject CN (the user name when used as a client certificate).
    pub common_name: String,
    /// Subject O values (the groups when used as a client certificate).
    pub organizations: Vec<String>,
    /// Extended key usages.
    pub usage: Usage,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ips: Vec<IpAddr>,
}

impl CertSpec {
    /// A client certificate for `user` in `groups`.
    pub fn client(user: &str, groups: &[&str]) -> CertSpec {
        CertSpec {
            common_name: user.to_string(),
            organizations: groups.iter().map(|g| g.to_string()).collect(),
            usage: Usage::Client,
            dns_names: vec![],
            ips: vec![],
        }
    }

    /// A serving certificate for the given names and addresses.
    pub fn server(cn: &str, dns_names: &[&str], ips: &[IpAddr]) -> CertSpec {
        CertSpec {
            common_name: cn.to_string(),
            organizations: vec![],
            usage: Usage::Server,
            dns_names: dns_names.iter().map(|d| d.to_string()).collect(),
            ips: ips.to_vec(),
        }
    }
}

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct CertAndKey {
    /// The certificate (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key (PKCS#8 `PRIVATE KEY`).
    pub key_pem: String,
}

impl std::fmt::Debug for CertAndKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAndKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl CertAndKey {
    /// Writes `<dir>/<base>.crt` (0644) and `<dir>/<base>.key` (0600), creating `dir`.
    ///
    /// # Errors
    /// [`PkiError::Io`] when a file cannot be written.
    pub fn write(&self, dir: &Path, base: &str) -> Result<(), PkiError> {
        let crt = dir.join(format!("{base}.crt"));
        write_file(&crt, self.cert_pem.as_bytes(), 0o644)?;
        write_file(
            &dir.join(format!("{base}.key")),
            self.key_pem.as_bytes(),
            0o600,
        )
    }

    /// Reads `<dir>/<base>.crt` and `<dir>/<base>.key`.
    ///
    /// # Errors
    /// [`PkiError::Io`] when a file is missing or unreadable.
    pub fn read(dir: &Path, base: &str) -> Result<CertAndKey, PkiError> {
        Ok(CertAndKey {
            cert_pem: read_string(&dir.join(format!("{base}.crt")))?,
            key_pem: read_string(&dir.join(format!("{base}.key")))?,
        })
    }
}

/// Writes `data` to `path` with `mode`, creating parent directories. Secrets use 0600: the file is
/// created with that mode, so it is never readable by others, not even briefly.
///
/// # Errors
/// [`PkiError::Io`] when the directory or file cannot be written.
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        what: "write",
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)?;
    f.write_all(data).map_err(io)
}

/// Reads a UTF-8 file.
///
/// # Errors
/// [`PkiError::Io`] when it cannot be read.
pub fn read_string(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        what: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// A new ECDSA P-256 key pair.
///
/// # Errors
/// [`PkiError::Rcgen`] if the system random source fails.
pub fn new_key() -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(rc("generate an ECDSA P-256 key"))
}

fn random_serial() -> SerialNumber {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // SystemRandom only fails when the OS has no random source at all.
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the system random source works");
    b[0] &= 0x7f; // positive INTEGER
    SerialNumber::from_slice(&b)
}

/// Validity window: from today (UTC midnight, so already valid) for `days`.
fn validity(params: &mut CertificateParams, days: i64) {
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let end = today
        .checked_add(jiff::Span::new().days(days))
        .unwrap_or(today);
    params.not_before =
        rcgen::date_time_ymd(today.year().into(), today.month() as u8, today.day() as u8);
    params.not_after = rcgen::date_time_ymd(end.year().into(), end.month() as u8, end.day() as u8);
}

/// kubeadm: CA certificates live 10 years, leaves 1 year
/// (cmd/kubeadm/app/constants: CACertificateValidityPeriod, CertificateValidityPeriod).
const CA_DAYS: i64 = 3650;
const LEAF_DAYS: i64 = 365;

fn leaf_params(spec: &CertSpec, days: i64) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for o in &spec.organizations {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    dn.push(DnType::CommonName, spec.common_name.as_str());
    params.distinguished_name = dn;
    params.serial_number = Some(random_serial());
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = match spec.usage {
        Usage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        Usage::ServerAndClient => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    for d in &spec.dns_names {
        let name = d
            .clone()
            .try_into()
            .map_err(rc(format!("use DNS name {d:?}")))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    for ip in &spec.ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days);
    Ok(params)
}

/// A certificate authority: its certificate and the key it signs with.
pub struct Ca {
    cert_pem: String,
    key: KeyPair,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA with subject CN `common_name`, valid 10 years.
    ///
    /// # Errors
    /// [`PkiError::Rcgen`] when key generation or signing fails.
    pub fn generate(common_name: &str) -> Result<Ca, PkiError> {
        let key = new_key()?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.serial_number = Some(random_serial());
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyCertSign,
        ];
        validity(&mut params, CA_DAYS);
        let cert = params
            .self_signed(&key)
            .map_err(rc(format!("self-sign CA {common_name:?}")))?;
        let key_pem = key.serialize_pem();
        Ok(Ca {
            cert_pem: cert.pem(),
            issuer: Issuer::new(
                params,
                KeyPair::from_pem(&key_pem).map_err(rc("reload key"))?,
            ),
            key,
        })
    }

    /// A CA from its PEM certificate and PKCS#8 PEM key.
    ///
    /// # Errors
    /// [`PkiError::Rcgen`] when either does not parse.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(rc("parse the CA private key"))?;
        let signer = KeyPair::from_pem(key_pem).map_err(rc("parse the CA private key"))?;
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, signer).map_err(rc("parse the CA certificate"))?;
        Ok(Ca {
            cert_pem: cert_pem.to_string(),
            key,
            issuer,
        })
    }

    /// Loads `<dir>/<base>.crt` and `<dir>/<base>.key` (e.g. `/etc/kubernetes/pki`, `ca`).
    ///
    /// # Errors
    /// [`PkiError::Io`] for missing files, [`PkiError::Rcgen`] for unparsable ones.
    pub fn load(dir: &Path, base: &str) -> Result<Ca, PkiError> {
        let ck = CertAndKey::read(dir, base)?;
        Ca::from_pem(&ck.cert_pem, &ck.key_pem)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate and key, to write them out.
    pub fn cert_and_key(&self) -> CertAndKey {
        CertAndKey {
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key.serialize_pem(),
        }
    }

    /// Issues a leaf certificate with a new key, valid one year.
    ///
    /// # Errors
    /// [`PkiError::Rcgen`] when a name is not valid in a certificate or signing fails.
    pub fn issue(&self, spec: &CertSpec) -> Result<CertAndKey, PkiError> {
        let key = new_key()?;
        let params = leaf_params(spec, LEAF_DAYS)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(rc(format!("sign certificate {:?}", spec.common_name)))?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Issues a certificate for a PEM certificate signing request (`CERTIFICATE REQUEST`), keeping
    /// the requested subject and SANs and setting `usage`. This is what the CSR signing controller
    /// does for kubelet client and serving certificates (pkg/controller/certificates/signer).
    ///
    /// # Errors
    /// [`PkiError::Rcgen`] when the request does not parse or its signature does not verify.
    pub fn sign_csr(&self, csr_pem: &str, usage: Usage, days: i64) -> Result<String, PkiError> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(rc("parse the certificate signing request"))?;
        let spec = CertSpec {
            common_name: String::new(),
            organizations: vec![],
            usage,
            dns_names: vec![],
            ips: vec![],
        };
        let base = leaf_params(&spec, days)?;
        csr.params.serial_number = base.serial_number;
        csr.params.key_usages = base.key_usages;
        csr.params.extended_key_usages = base.extended_key_usages;
        csr.params.not_before = base.not_before;
        csr.params.not_after = base.not_after;
        csr.params.is_ca = IsCa::ExplicitNoCa;
        csr.params.use_authority_key_identifier_extension = true;
        let cert = csr
            .signed_by(&self.issuer)
            .map_err(rc("sign the certificate signing request"))?;
        Ok(cert.pem())
    }
}

/// A PEM certificate signing request for `spec`'s subject, with a new key (what a kubelet sends in
/// TLS bootstrap). Returns the CSR PEM and the key PEM.
///
/// # Errors
/// [`PkiError::Rcgen`] when the request cannot be built.
pub fn new_csr(spec: &CertSpec) -> Result<(String, String), PkiError> {
    let key = new_key()?;
    let full = leaf_params(spec, LEAF_DAYS)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = full.distinguished_name;
    params.subject_alt_names = full.subject_alt_names;
    let csr = params
        .serialize_request(&key)
        .map_err(rc("build a certificate signing request"))?;
    Ok((
        csr.pem().map_err(rc("encode the CSR"))?,
        key.serialize_pem(),
    ))
}

/// The first DER block of a PEM text with the given label.
///
/// # Errors
/// [`PkiError::Parse`] when there is no such block.
pub fn pem_der(pem_text: &str, label: &str) -> Result<Vec<u8>, PkiError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem_text.find(&begin).ok_or_else(|| PkiError::Parse {
        what: label.to_lowercase(),
        detail: format!("no {begin} block"),
    })?;
    let rest = &pem_text[start + begin.len()..];
    let stop = rest.find(&end).ok_or_else(|| PkiError::Parse {
        what: label.to_lowercase(),
        detail: format!("no {end} line"),
    })?;
    let b64: String = rest[..stop].split_whitespace().collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| PkiError::Parse {
            what: label.to_lowercase(),
            detail: e.to_string(),
        })
}

/// Every certificate in a PEM bundle, DER.
pub fn pem_certs(pem_text: &str) -> Vec<Vec<u8>> {
    let mut out = vec![];
    let mut rest = pem_text;
    while let Some(i) = rest.find("-----BEGIN CERTIFICATE-----") {
        rest = &rest[i..];
        if let Ok(der) = pem_der(rest, "CERTIFICATE") {
            out.push(der);
        }
        rest = &rest["-----BEGIN CERTIFICATE-----".len()..];
    }
    out
}

/// The DER SubjectPublicKeyInfo of a PEM certificate.
///
/// # Errors
/// [`PkiError::Parse`] when the certificate does not parse.
pub fn cert_spki(cert_pem: &str) -> Result<Vec<u8>, PkiError> {
    let der = pem_der(cert_pem, "CERTIFICATE")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| PkiError::Parse {
        what: "certificate".into(),
        detail: e.to_string(),
    })?;
    Ok(cert.tbs_certificate.subject_pki.raw.to_vec())
}

/// kubeadm's CA pin, `sha256:<hex>` of the CA's DER SubjectPublicKeyInfo
/// (cmd/kubeadm/app/util/pubkeypin/pubkeypin.go `Hash`).
///
/// # Errors
/// [`PkiError::Parse`] when the certificate does not parse.
pub fn ca_pin(ca_cert_pem: &str) -> Result<String, PkiError> {
    let spki = cert_spki(ca_cert_pem)?;
    Ok(format!(
        "sha256:{}",
        hex(ring::digest::digest(&ring::digest::SHA256, &spki).as_ref())
    ))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The subject of a DER client certificate as Kubernetes reads it: user = CN, groups = O values
/// (staging/src/k8s.io/apiserver/pkg/authentication/request/x509/x509.go `CommonNameUserConversion`).
///
/// # Errors
/// [`PkiError::Parse`] when the certificate does not parse.
pub fn cert_user(der: &[u8]) -> Result<(String, Vec<String>), PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::Parse {
        what: "client certificate".into(),
        detail: e.to_string(),
    })?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|a| a.as_str().ok().map(str::to_string))
        .collect();
    Ok((cn, groups))
}

/// Inputs for the certificates `kubeadm init` generates.
#[derive(Debug, Clone)]
pub struct KubeadmPki {
    /// `certificatesDir` (default `/etc/kubernetes/pki`).
    pub dir: PathBuf,
    /// The node name (CN of the etcd server/peer certificates, a SAN of every serving cert).
    pub node_name: String,
    /// The API server's advertise address.
    pub advertise_address: IpAddr,
    /// The first IP of the service CIDR (10.96.0.1 by default).
    pub service_ip: IpAddr,
    /// The cluster DNS domain (`cluster.local`).
    pub dns_domain: String,
    /// Extra SANs for the API server certificate (`apiServer.certSANs`).
    pub cert_sans: Vec<String>,
    /// The Kubernetes minor (the admin/kubelet-client group changed in 1.29).
    pub minor: crate::version::Minor,
}

/// The group kubeadm puts its administrator credentials in: `kubeadm:cluster-admins` since 1.29
/// (bound to cluster-admin by kubeadm; KEP-4214 / kubernetes PR 121305), `system:masters` before.
pub fn admin_group(minor: crate::version::Minor) -> &'static str {
    if minor.minor() >= 29 {
        "kubeadm:cluster-admins"
    } else {
        "system:masters"
    }
}

impl KubeadmPki {
    /// The certificates kubeadm makes, as (file base name under `dir`, CA base name, spec), following
    /// cmd/kubeadm/app/phases/certs/certlist.go and cmd/kubeadm/app/util/pkiutil (SANs).
    pub fn leaf_specs(&self) -> Vec<(&'static str, &'static str, CertSpec)> {
        let node = self.node_name.as_str();
        let mut api_dns = vec![
            node.to_string(),
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            format!("kubernetes.default.svc.{}", self.dns_domain),
        ];
        let mut api_ips = vec![self.service_ip, self.advertise_address];
        for san in &self.cert_sans {
            match san.parse::<IpAddr>() {
                Ok(ip) if !api_ips.contains(&ip) => api_ips.push(ip),
                Ok(_) => {}
                Err(_) if !api_dns.contains(san) => api_dns.push(san.clone()),
                Err(_) => {}
            }
        }
        let etcd_ips = vec![
            self.advertise_address,
            IpAddr::from([127, 0, 0, 1]),
            "::1".parse().expect("literal IPv6"),
        ];
        let etcd_dns = vec![node.to_string(), "localhost".to_string()];
        let admin = admin_group(self.minor);
        vec![
            (
                "apiserver",
                "ca",
                CertSpec {
                    common_name: "kube-apiserver".into(),
                    organizations: vec![],
                    usage: Usage::Server,
                    dns_names: api_dns,
                    ips: api_ips,
                },
            ),
            (
                "apiserver-kubelet-client",
                "ca",
                CertSpec::client("kube-apiserver-kubelet-client", &[admin]),
            ),
            (
                "front-proxy-client",
                "front-proxy-ca",
                CertSpec::client("front-proxy-client", &[]),
            ),
            (
                "etcd/server",
                "etcd/ca",
                CertSpec {
                    common_name: node.into(),
                    organizations: vec![],
                    usage: Usage::ServerAndClient,
                    dns_names: etcd_dns.clone(),
                    ips: etcd_ips.clone(),
                },
            ),
            (
                "etcd/peer",
                "etcd/ca",
                CertSpec {
                    common_name: node.into(),
                    organizations: vec![],
                    usage: Usage::ServerAndClient,
                    dns_names: etcd_dns,
                    ips: etcd_ips,
                },
            ),
            (
                "etcd/healthcheck-client",
                "etcd/ca",
                CertSpec::client("kube-etcd-healthcheck-client", &[]),
            ),
            (
                "apiserver-etcd-client",
                "etcd/ca",
                CertSpec::client("kube-apiserver-etcd-client", &[]),
            ),
        ]
    }

    /// Generates and writes every file: `ca`, `front-proxy-ca`, `etcd/ca` (CNs `kubernetes`,
    /// `front-proxy-ca`, `etcd-ca`), the leaves of [`KubeadmPki::leaf_specs`], and `sa.key`/`sa.pub`.
    /// Existing CAs are reused (as kubeadm does when a CA is already on disk).
    ///
    /// # Errors
    /// [`PkiError`] when generation or writing fails.
    pub fn generate(&self) -> Result<(), PkiError> {
        let mut cas = vec![];
        for (base, cn) in [
            ("ca", "kubernetes"),
            ("front-proxy-ca", "front-proxy-ca"),
            ("etcd/ca", "etcd-ca"),
        ] {
            let ca = if self.dir.join(format!("{base}.crt")).exists() {
                Ca::load(&self.dir, base)?
            } else {
                let ca = Ca::generate(cn)?;
                ca.cert_and_key().write(&self.dir, base)?;
                ca
            };
            cas.push((base, ca));
        }
        for (base, ca_base, spec) in self.leaf_specs() {
            let ca = &cas
                .iter()
                .find(|(b, _)| *b == ca_base)
                .expect("every leaf names a generated CA")
                .1;
            ca.issue(&spec)?.write(&self.dir, base)?;
        }
        let sa = new_key()?;
        write_file(
            &self.dir.join("sa.key"),
            sa.serialize_pem().as_bytes(),
            0o600,
        )?;
        write_file(
            &self.dir.join("sa.pub"),
            sa.public_key_pem().as_bytes(),
            0o644,
        )?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn ca_signs_leaf_with_subject_and_sans() {
        let ca = Ca::generate("kubernetes").unwrap();
        let leaf = ca
            .issue(&CertSpec {
                common_name: "kubernetes-admin".into(),
                organizations: vec!["kubeadm:cluster-admins".into()],
                usage: Usage::Client,
                dns_names: vec!["node-1".into()],
                ips: vec![IpAddr::from([127, 0, 0, 1])],
            })
            .unwrap();
        let der = pem_der(&leaf.cert_pem, "CERTIFICATE").unwrap();
        let (user, groups) = cert_user(&der).unwrap();
        assert_eq!(user, "kubernetes-admin");
        assert_eq!(groups, vec!["kubeadm:cluster-admins"]);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let ca_der = pem_der(ca.cert_pem(), "CERTIFICATE").unwrap();
        let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        assert_eq!(cert.issuer().to_string(), "CN=kubernetes");
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(leaf.key_pem.contains("BEGIN PRIVATE KEY"));
    }

    #[test]
    fn ca_round_trips_through_disk_and_signs_csrs() {
        let dir = tempdir("pki-ca");
        let ca = Ca::generate("etcd-ca").unwrap();
        ca.cert_and_key().write(&dir.0, "etcd/ca").unwrap();
        let mode = fs::metadata(dir.0.join("etcd/ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let loaded = Ca::load(&dir.0, "etcd/ca").unwrap();
        let (csr, _key) = new_csr(&CertSpec::client("system:node:w1", &["system:nodes"])).unwrap();
        let cert_pem = loaded.sign_csr(&csr, Usage::Client, 365).unwrap();
        let der = pem_der(&cert_pem, "CERTIFICATE").unwrap();
        assert_eq!(
            cert_user(&der).unwrap(),
            (
                "system:node:w1".to_string(),
                vec!["system:nodes".to_string()]
            )
        );
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let ca_der = pem_der(ca.cert_pem(), "CERTIFICATE").unwrap();
        let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        assert!(loaded.sign_csr("garbage", Usage::Client, 1).is_err());
    }

    #[test]
    fn ca_pin_matches_openssl() {
        let dir = tempdir("pki-pin");
        let ca = Ca::generate("kubernetes").unwrap();
        ca.cert_and_key().write(&dir.0, "ca").unwrap();
        let crt = dir.0.join("ca.crt");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der | sha256sum",
                crt.display()
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let expected = String::from_utf8(out.stdout).unwrap();
        let expected = expected.split_whitespace().next().unwrap();
        assert_eq!(ca_pin(ca.cert_pem()).unwrap(), format!("sha256:{expected}"));
    }

    #[test]
    fn kubeadm_set_has_real_names_and_openssl_verifies_chains() {
        let dir = tempdir("pki-kubeadm");
        let pki = KubeadmPki {
            dir: dir.0.clone(),
            node_name: "minikube".into(),
            advertise_address: "127.100.49.2".parse().unwrap(),
            service_ip: "10.96.0.1".parse().unwrap(),
            dns_domain: "cluster.local".into(),
            cert_sans: vec![],
            minor: crate::version::Minor::new(33).unwrap(),
        };
        pki.generate().unwrap();
        for f in [
            "ca.crt",
            "ca.key",
            "apiserver.crt",
            "apiserver-kubelet-client.key",
            "front-proxy-ca.crt",
            "front-proxy-client.crt",
            "etcd/ca.crt",
            "etcd/server.crt",
            "etcd/peer.key",
            "etcd/healthcheck-client.crt",
            "apiserver-etcd-client.crt",
            "sa.key",
            "sa.pub",
        ] {
            let p = dir.0.join(f);
            assert!(p.exists(), "{f}");
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            if f.ends_with(".key") {
                assert_eq!(mode, 0o600, "{f}");
            }
        }
        let text = |args: &str| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("cd {} && {args}", dir.0.display()))
                .output()
                .unwrap();
            assert!(out.status.success(), "{args}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        assert!(text("openssl verify -CAfile ca.crt apiserver.crt").contains("OK"));
        assert!(
            text("openssl verify -CAfile etcd/ca.crt etcd/healthcheck-client.crt").contains("OK")
        );
        let subj = text("openssl x509 -in etcd/healthcheck-client.crt -noout -subject");
        assert!(subj.contains("CN = kube-etcd-healthcheck-client"), "{subj}");
        let api = text("openssl x509 -in apiserver.crt -noout -text");
        for san in [
            "DNS:minikube",
            "DNS:kubernetes.default.svc.cluster.local",
            "IP Address:10.96.0.1",
            "IP Address:127.100.49.2",
            "TLS Web Server Authentication",
        ] {
            assert!(api.contains(san), "{san} missing in {api}");
        }
        let kc = text("openssl x509 -in apiserver-kubelet-client.crt -noout -subject");
        assert!(kc.contains("O = kubeadm:cluster-admins"), "{kc}");
        let ca = text("openssl x509 -in etcd/ca.crt -noout -subject -ext basicConstraints");
        assert!(
            ca.contains("CN = etcd-ca") && ca.contains("CA:TRUE"),
            "{ca}"
        );
    }

    /// A temporary directory removed on drop.
    pub(crate) struct TempDir(pub PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    pub(crate) fn tempdir(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "labsim-{name}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
