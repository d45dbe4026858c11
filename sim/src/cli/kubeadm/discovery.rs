//! Token discovery as `kubeadm join` does it (cmd/kubeadm/app/discovery/token/token.go
//! `retrieveValidatedConfigInfo`): an anonymous GET of `kube-public/cluster-info` without
//! verifying the server (retried every 5 s until the discovery timeout while the ConfigMap or the
//! token's `jws-kubeconfig-<id>` key is missing), the detached JWS checked with the token secret,
//! the CA in the signed kubeconfig checked against the pinned `sha256:` hashes
//! (cmd/kubeadm/app/util/pubkeypin), then the same GET again, this time trusting only that CA, and
//! the two kubeconfigs compared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use rustls::ClientConfig;
use serde_json::Value;

use crate::client::transport::Transport;

/// kubeadm's `DiscoveryRetryInterval`.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// A TLS client configuration that does not verify the server: kubeadm's first, insecure
/// cluster-info request (`BuildInsecureBootstrapKubeConfig`), whose content is then authenticated
/// by the JWS and the CA pin instead of TLS ([`crate::pki::tls::insecure_client_config`]).
pub fn insecure_tls() -> Arc<ClientConfig> {
    crate::pki::tls::insecure_client_config(None).expect("ring supports the default TLS versions")
}

/// Errors of discovery, in kubeadm's words (wrapped by the caller in "couldn't validate the
/// identity of the API Server: ").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The `--discovery-token-ca-cert-hash` value is malformed.
    #[error("invalid discovery token CA certificate hash: {0}")]
    BadPin(String),
    /// The GET kept failing until the timeout.
    #[error("failed to request the cluster-info ConfigMap: {0}")]
    Request(String),
    /// The ConfigMap never carried the token's signature.
    #[error("could not find a JWS signature in the cluster-info ConfigMap for token ID {0:?}")]
    NoSignature(String),
    /// The ConfigMap has no kubeconfig.
    #[error(
        "there is no kubeconfig key in the cluster-info ConfigMap. This API Server isn't set up for token bootstrapping, can't connect"
    )]
    NoKubeconfig,
    /// The signature does not verify with the token's secret.
    #[error(
        "failed to verify JWS signature of received cluster info object, can't trust this API Server"
    )]
    BadSignature,
    /// The signed kubeconfig does not parse.
    #[error("couldn't parse the kubeconfig file in the cluster-info ConfigMap: {0}")]
    BadKubeconfig(String),
    /// The CA's public key is not pinned.
    #[error(
        "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys {0:?} are pinned"
    )]
    NotPinned(String),
    /// The second (verified) fetch differed.
    #[error(
        "the second kubeconfig from the cluster-info ConfigMap (using validated TLS) was different from the first"
    )]
    Changed,
}

/// Checks a `sha256:<hex>` pin's syntax (pubkeypin `Set.Allow`).
///
/// # Errors
/// [`DiscoveryError::BadPin`].
pub fn check_pin_syntax(pin: &str) -> Result<(), DiscoveryError> {
    let Some((kind, hex)) = pin.split_once(':') else {
        return Err(DiscoveryError::BadPin(format!(
            "invalid hash format: {pin:?}, expected \"<type>:<value>\""
        )));
    };
    if kind.to_lowercase() != "sha256" {
        return Err(DiscoveryError::BadPin(format!(
            "unknown hash type {kind:?}. Known types are [\"sha256\"]"
        )));
    }
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(DiscoveryError::BadPin(format!(
            "expected a 32 byte SHA-256 hash, found {} bytes",
            hex.len() / 2
        )));
    }
    Ok(())
}

/// GET `cluster-info` through `transport` once: Ok(ConfigMap) or the error text.
async fn get_once(transport: &Transport, url_base: &str) -> Result<Value, String> {
    let path = "/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s";
    let url = format!("{url_base}{path}");
    let req = hyper::Request::builder()
        .method("GET")
        .uri(&url)
        .header("accept", "application/json")
        .header("user-agent", "kubeadm")
        .body(Full::new(Bytes::new()))
        .expect("valid request");
    let resp = match tokio::time::timeout(Duration::from_secs(10), transport.send(req)).await {
        Err(_) => {
            return Err(format!(
                "Get {url:?}: net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)"
            ));
        }
        Ok(Err(e)) => return Err(format!("Get {url:?}: {}", go_dial_error(&e.to_string()))),
        Ok(Ok(r)) => r,
    };
    if !resp.status.is_success() {
        let st: Value = serde_json::from_slice(&resp.body).unwrap_or_default();
        return Err(st["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "the server responded with the status code {}",
                    resp.status.as_u16()
                )
            }));
    }
    serde_json::from_slice(&resp.body).map_err(|e| e.to_string())
}

fn go_dial_error(e: &str) -> String {
    // labsim's transport says "cannot connect to ADDR: CAUSE (os error N); is the server
    // running?"; Go says "dial tcp ADDR: connect: cause".
    let Some((addr, cause)) = e
        .strip_prefix("cannot connect to ")
        .and_then(|rest| rest.split_once(": "))
    else {
        return e.to_string();
    };
    let cause = cause.to_lowercase();
    let cause = if cause.contains("refused") {
        "connection refused".to_string()
    } else {
        cause
            .split(" (os error")
            .next()
            .unwrap_or_default()
            .trim_end_matches("; is the server running?")
            .to_string()
    };
    format!("dial tcp {addr}: connect: {cause}")
}

/// kubeadm's `getClusterInfo`: polls until the ConfigMap exists and carries `jws-kubeconfig-<id>`.
///
/// # Errors
/// The last error seen when `timeout` runs out.
pub async fn get_cluster_info(
    transport: &Transport,
    url_base: &str,
    token_id: &str,
    timeout: Duration,
    interval: Duration,
) -> Result<Value, DiscoveryError> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match get_once(transport, url_base).await {
            Ok(cm)
                if cm["data"]
                    .get(format!("jws-kubeconfig-{token_id}"))
                    .is_some() =>
            {
                return Ok(cm);
            }
            Ok(_) => DiscoveryError::NoSignature(token_id.into()),
            Err(e) => DiscoveryError::Request(e),
        };
        if Instant::now() + interval > deadline {
            return Err(last);
        }
        tokio::time::sleep(interval).await;
    }
}

/// `validateClusterInfoToken`: the kubeconfig text, if the token's detached JWS verifies.
///
/// # Errors
/// [`DiscoveryError`].
pub fn validate_token(cm: &Value, token_id: &str, secret: &str) -> Result<String, DiscoveryError> {
    let kubeconfig = cm["data"]["kubeconfig"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or(DiscoveryError::NoKubeconfig)?;
    let jws = cm["data"][format!("jws-kubeconfig-{token_id}")]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DiscoveryError::NoSignature(token_id.into()))?;
    if !crate::pki::jwt::bootstrap_signature_valid(jws, kubeconfig, token_id, secret) {
        return Err(DiscoveryError::BadSignature);
    }
    Ok(kubeconfig.to_string())
}

/// `validateClusterCA`: the CA PEM of the kubeconfig's first cluster, if its key is pinned.
///
/// # Errors
/// [`DiscoveryError::BadKubeconfig`] or [`DiscoveryError::NotPinned`].
pub fn validate_ca(kubeconfig: &str, pins: &[String]) -> Result<(String, String), DiscoveryError> {
    let (ca, server) = cluster_of(kubeconfig)?;
    let mut hashes = vec![];
    for der in crate::pki::pem_certs(&ca) {
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        let pin =
            crate::pki::ca_pin(&pem).map_err(|e| DiscoveryError::BadKubeconfig(e.to_string()))?;
        if pins.iter().any(|p| p.eq_ignore_ascii_case(&pin)) {
            return Ok((ca, server));
        }
        hashes.push(pin);
    }
    Err(DiscoveryError::NotPinned(hashes.join(":")))
}

/// The CA PEM and server of a kubeconfig's first cluster. Read as plain YAML: the cluster-info
/// kubeconfig has `contexts: null` and `users: null`, as clientcmd writes empty lists.
///
/// # Errors
/// [`DiscoveryError::BadKubeconfig`].
pub fn cluster_of(kubeconfig: &str) -> Result<(String, String), DiscoveryError> {
    let v: Value = serde_saphyr::from_str(kubeconfig)
        .map_err(|e| DiscoveryError::BadKubeconfig(e.to_string()))?;
    let cluster = &v["clusters"][0]["cluster"];
    let ca_b64 = cluster["certificate-authority-data"]
        .as_str()
        .ok_or_else(|| DiscoveryError::BadKubeconfig("no certificate-authority-data".into()))?;

    let ca = base64::engine::general_purpose::STANDARD
        .decode(ca_b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            DiscoveryError::BadKubeconfig("certificate-authority-data is not base64 PEM".into())
        })?;
    let server = cluster["server"].as_str().unwrap_or_default().to_string();
    Ok((ca, server))
}

/// The whole of token discovery: (CA PEM, server URL from the signed kubeconfig, kubeconfig text).
///
/// # Errors
/// [`DiscoveryError`] as kubeadm reports it.
pub async fn discover(
    endpoint: &str,
    token_id: &str,
    secret: &str,
    pins: &[String],
    timeout: Duration,
    interval: Duration,
) -> Result<(String, String, String), DiscoveryError> {
    for p in pins {
        check_pin_syntax(p)?;
    }
    let base = format!("https://{endpoint}");
    let insecure = Transport::new(&base, Some(insecure_tls()))
        .map_err(|e| DiscoveryError::Request(e.to_string()))?;
    let cm = get_cluster_info(&insecure, &base, token_id, timeout, interval).await?;
    let kubeconfig = validate_token(&cm, token_id, secret)?;
    if pins.is_empty() {
        let (ca, server) = cluster_of(&kubeconfig)?;
        return Ok((ca, server, kubeconfig));
    }
    let (ca, server) = validate_ca(&kubeconfig, pins)?;
    let tls = crate::pki::tls::client_config(&ca, None)
        .map_err(|e| DiscoveryError::BadKubeconfig(e.to_string()))?;
    let secure =
        Transport::new(&base, Some(tls)).map_err(|e| DiscoveryError::Request(e.to_string()))?;
    let cm2 = get_cluster_info(&secure, &base, token_id, timeout, interval).await?;
    if cm2["data"]["kubeconfig"].as_str() != Some(kubeconfig.as_str()) {
        return Err(DiscoveryError::Changed);
    }
    Ok((ca, server, kubeconfig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signed_cm(ca_pem: &str, token_id: &str, secret: &str) -> Value {
        let kc = super::super::addons::cluster_info_kubeconfig("https://127.1.2.3:8443", ca_pem);
        let jws = crate::pki::jwt::bootstrap_detached_signature(&kc, token_id, secret);
        json!({"data": {"kubeconfig": kc, format!("jws-kubeconfig-{token_id}"): jws}})
    }

    #[test]
    fn jws_and_pin_checks() {
        let ca = crate::pki::Ca::generate("kubernetes").unwrap();
        let pin = crate::pki::ca_pin(ca.cert_pem()).unwrap();
        let cm = signed_cm(ca.cert_pem(), "abcdef", "0123456789abcdef");
        let kc = validate_token(&cm, "abcdef", "0123456789abcdef").unwrap();
        assert_eq!(
            validate_token(&cm, "abcdef", "0123456789abcdeX")
                .unwrap_err()
                .to_string(),
            "failed to verify JWS signature of received cluster info object, can't trust this API Server"
        );
        assert_eq!(
            validate_token(&cm, "zzzzzz", "0123456789abcdef").unwrap_err(),
            DiscoveryError::NoSignature("zzzzzz".into())
        );
        let (got_ca, server) = validate_ca(&kc, std::slice::from_ref(&pin)).unwrap();
        assert_eq!(got_ca, ca.cert_pem());
        assert_eq!(server, "https://127.1.2.3:8443");
        let wrong = format!("sha256:{}", "0".repeat(64));
        assert_eq!(
            validate_ca(&kc, &[wrong]).unwrap_err().to_string(),
            format!(
                "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys \"{pin}\" are pinned"
            )
        );
        assert!(check_pin_syntax("sha256:abc").is_err());
        assert!(check_pin_syntax("md5:abc").is_err());
        assert!(check_pin_syntax(&pin).is_ok());
    }

    #[tokio::test]
    async fn unreachable_server_reports_the_last_error() {
        // A port nobody listens on: connection refused, retried until the timeout.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let base = format!("https://{addr}");
        let t = Transport::new(&base, Some(insecure_tls())).unwrap();
        let e = get_cluster_info(
            &t,
            &base,
            "abcdef",
            Duration::from_millis(300),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("failed to request the cluster-info ConfigMap: Get \"https://{addr}/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s\": dial tcp {addr}: connect: connection refused")),
            "{text}"
        );
    }
}
