//! The secure serving port of kube-controller-manager (10257) and kube-scheduler (10259): HTTPS
//! with a self-signed certificate made at start (as the components do without `--tls-cert-file`),
//! answering `/healthz`, `/livez` and `/readyz` with `ok` for anyone (their default
//! `--authorization-always-allow-paths`) and 403 for other paths. kubeadm's control-plane check and
//! the static pods' liveness and startup probes use these.
//!
//! `--bind-address` unset, `0.0.0.0` or `::` binds the node IP from `$LABSIM_NODE_IP` (127.0.0.1
//! without it): labsim never listens beyond loopback, and every node shares the host's 127.0.0.1
//! (docs/labsim.md, "127.0.0.1 listeners").

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use crate::pki::{Ca, CertSpec};

/// Errors starting the secure port.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The bind address is not an IP.
    #[error("invalid --bind-address {0:?}: expected an IP address")]
    BadAddress(String),
    /// The self-signed certificate could not be made.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// The port is taken or not bindable.
    #[error(
        "failed to create listener: failed to listen on {addr}: listen tcp {addr}: bind: {source}"
    )]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Where to listen: `--bind-address` (or the node IP for an unspecified one) and the port.
///
/// # Errors
/// [`HealthError::BadAddress`] for an unparsable address.
pub fn listen_addr(bind: Option<&str>, port: u16) -> Result<SocketAddr, HealthError> {
    let ip: IpAddr = match bind.map(str::trim).filter(|b| !b.is_empty()) {
        None | Some("0.0.0.0") | Some("::") => std::env::var("LABSIM_NODE_IP")
            .ok()
            .and_then(|i| i.parse().ok())
            .unwrap_or(IpAddr::from([127, 0, 0, 1])),
        Some(b) => b
            .parse()
            .map_err(|_| HealthError::BadAddress(b.to_string()))?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// Binds `addr` and serves the health endpoints in the background.
///
/// # Errors
/// [`HealthError`] when the certificate cannot be made or the port not bound.
pub async fn serve(addr: SocketAddr, program: &str) -> Result<(), HealthError> {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    let stamp = jiff::Timestamp::now().as_second();
    let ca = Ca::generate(&format!("{host}-ca@{stamp}"))?;
    let cert = ca.issue(&CertSpec::server(
        &format!("{host}@{stamp}"),
        &[&host, "localhost"],
        &[addr.ip()],
    ))?;
    let tls = crate::pki::tls::server_config(&cert.cert_pem, &cert.key_pem, None)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HealthError::Listen { addr, source })?;
    super::klog(
        'I',
        "secure_serving.go",
        &format!("\"Serving securely on {addr}\" program=\"{program}\""),
    );
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        Ok::<_, std::convert::Infallible>(respond(req.uri().path()))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

fn respond(path: &str) -> hyper::Response<Full<Bytes>> {
    let healthy = matches!(path, "/healthz" | "/livez" | "/readyz")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/");
    let (code, ctype, body) = if healthy {
        (200, "text/plain; charset=utf-8", "ok".to_string())
    } else {
        (
            403,
            "application/json",
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("forbidden: User \"system:anonymous\" cannot get path \"{path}\""),
                "reason": "Forbidden", "details": {}, "code": 403})
            .to_string(),
        )
    };
    hyper::Response::builder()
        .status(code)
        .header("content-type", ctype)
        .header("x-content-type-options", "nosniff")
        .body(Full::new(Bytes::from(body)))
        .expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            listen_addr(Some("127.100.49.2"), 10257).unwrap(),
            "127.100.49.2:10257".parse().unwrap()
        );
        assert!(listen_addr(Some("not-an-ip"), 1).is_err());
        assert_eq!(respond("/healthz").status(), 200);
        assert_eq!(respond("/livez").status(), 200);
        assert_eq!(respond("/metrics").status(), 403);
    }
}
