//! rustls configurations from PEM files: client (CA + optional client certificate) and server
//! (serving certificate + optional client-certificate verification). One TLS stack: rustls with ring.
//! Only HTTP/1.1 is offered by ALPN (labsim serves no HTTP/2).

use std::sync::Arc;

use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::{PkiError, pem_certs, pem_der};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(what: &'static str) -> impl FnOnce(rustls::Error) -> PkiError {
    move |e| PkiError::Invalid {
        what,
        detail: e.to_string(),
    }
}

/// Certificates of a PEM bundle for rustls.
///
/// # Errors
/// [`PkiError::Parse`] when there is no certificate.
pub fn certs(pem_text: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs: Vec<_> = pem_certs(pem_text)
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    if certs.is_empty() {
        return Err(PkiError::Parse {
            what: "certificate bundle".into(),
            detail: "no BEGIN CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// A private key PEM for rustls: PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or PKCS#1
/// `RSA PRIVATE KEY` (kubeadm writes the latter two).
///
/// # Errors
/// [`PkiError::Parse`] when no key block is found.
pub fn private_key(pem_text: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    if pem_text.contains("BEGIN PRIVATE KEY") {
        Ok(PrivatePkcs8KeyDer::from(pem_der(pem_text, "PRIVATE KEY")?).into())
    } else if pem_text.contains("BEGIN EC PRIVATE KEY") {
        Ok(PrivateSec1KeyDer::from(pem_der(pem_text, "EC PRIVATE KEY")?).into())
    } else {
        Ok(PrivatePkcs1KeyDer::from(pem_der(pem_text, "RSA PRIVATE KEY")?).into())
    }
}

fn roots(ca_pem: &str) -> Result<RootCertStore, PkiError> {
    let mut store = RootCertStore::empty();
    for c in certs(ca_pem)? {
        store.add(c).map_err(tls_err("CA certificate"))?;
    }
    Ok(store)
}

/// A client configuration trusting `ca_pem`, presenting `client` (cert PEM, key PEM) if given.
///
/// # Errors
/// [`PkiError`] when a PEM does not parse or the key does not match.
pub fn client_config(
    ca_pem: &str,
    client: Option<(&str, &str)>,
) -> Result<Arc<ClientConfig>, PkiError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("TLS versions"))?
        .with_root_certificates(roots(ca_pem)?);
    let mut config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(certs(cert)?, private_key(key)?)
            .map_err(tls_err("client certificate"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any server certificate (Go's `tls.Config.InsecureSkipVerify`) while still checking the
/// handshake signatures with the certificate presented.
#[derive(Debug)]
struct AnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration that does not verify the server's certificate, presenting `client`
/// (cert PEM, key PEM) if given: what Kubernetes does where it skips verification —
/// kube-apiserver to kubelets without `--kubelet-certificate-authority` (pkg/kubelet/client),
/// kubeadm's first cluster-info request (`BuildInsecureBootstrapKubeConfig`, authenticated by the
/// JWS and the CA pin instead) and its control-plane checks, the kubelet's HTTPS probes
/// (pkg/probe/http).
///
/// # Errors
/// [`PkiError`] when the client PEMs do not parse or the key does not match.
pub fn insecure_client_config(client: Option<(&str, &str)>) -> Result<Arc<ClientConfig>, PkiError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("TLS versions"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)));
    let mut config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(certs(cert)?, private_key(key)?)
            .map_err(tls_err("client certificate"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A server configuration with the serving certificate and key. With `client_ca_pem`, client
/// certificates signed by it are verified when offered but not required (kube-apiserver's
/// `--client-ca-file` behaviour: a request without one is then authenticated otherwise or anonymous).
///
/// # Errors
/// [`PkiError`] when a PEM does not parse.
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca_pem: Option<&str>,
) -> Result<Arc<ServerConfig>, PkiError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err("TLS versions"))?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca)?),
                provider(),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| PkiError::Invalid {
                what: "client CA",
                detail: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs(cert_pem)?, private_key(key_pem)?)
        .map_err(tls_err("serving certificate"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
