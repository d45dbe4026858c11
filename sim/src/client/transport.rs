//! HTTP/1.1 over TLS (or plain TCP) to one server, with a small pool of idle connections.
//! Used by the Kubernetes client, the etcd gateway client and the API server's kubelet proxy.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

/// Errors talking HTTP to a server.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The URL is not `http(s)://host[:port]`.
    #[error("invalid server URL {0:?}: expected https://host:port")]
    BadUrl(String),
    /// TCP connect failed (server down, wrong address).
    #[error("cannot connect to {addr}: {source}; is the server running?")]
    Connect {
        /// host:port.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed (wrong CA, rejected client certificate, …).
    #[error("TLS handshake with {addr} failed: {source}; check the CA and client certificate")]
    Tls {
        /// host:port.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed (connection reset, malformed response).
    #[error("HTTP request to {addr} failed: {source}")]
    Http {
        /// host:port.
        addr: String,
        /// The cause.
        #[source]
        source: hyper::Error,
    },
}

/// A connection factory and pool for one server.
pub struct Transport {
    addr: String,
    host: String,
    tls: Option<Arc<ClientConfig>>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// An HTTP response read to the end.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Status code.
    pub status: hyper::StatusCode,
    /// Headers.
    pub headers: hyper::HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Transport {
    /// A transport for `url` (`https://host:port`, path ignored). `tls` is required for https.
    ///
    /// # Errors
    /// [`TransportError::BadUrl`] for anything else.
    pub fn new(url: &str, tls: Option<Arc<ClientConfig>>) -> Result<Transport, TransportError> {
        let bad = || TransportError::BadUrl(url.to_string());
        let uri: hyper::Uri = url.parse().map_err(|_| bad())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad()),
        };
        if https && tls.is_none() {
            return Err(bad());
        }
        let host = uri
            .host()
            .ok_or_else(bad)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Transport {
            addr,
            host,
            tls: if https { tls } else { None },
            idle: Mutex::new(vec![]),
        })
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        let tcp =
            TcpStream::connect(&self.addr)
                .await
                .map_err(|source| TransportError::Connect {
                    addr: self.addr.clone(),
                    source,
                })?;
        let _ = tcp.set_nodelay(true);
        let addr = self.addr.clone();
        let http = |source| TransportError::Http {
            addr: addr.clone(),
            source,
        };
        match &self.tls {
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|_| TransportError::BadUrl(self.host.clone()))?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|source| TransportError::Tls {
                        addr: self.addr.clone(),
                        source,
                    })?;
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(http)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(send)
            }
            None => {
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(http)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(send)
            }
        }
    }

    fn pooled(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().expect("pool lock");
        while let Some(s) = idle.pop() {
            if !s.is_closed() && s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    fn with_host(&self, mut req: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
        if !req.headers().contains_key(hyper::header::HOST)
            && let Ok(v) = hyper::header::HeaderValue::from_str(&self.addr)
        {
            req.headers_mut().insert(hyper::header::HOST, v);
        }
        req
    }

    /// Sends a request on a fresh connection and returns the streaming response (for watches and
    /// log follows; the connection ends with the body).
    ///
    /// # Errors
    /// [`TransportError`] when connecting or the exchange fails.
    pub async fn send_streaming(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, TransportError> {
        let mut send = self.connect().await?;
        send.send_request(self.with_host(req))
            .await
            .map_err(|source| TransportError::Http {
                addr: self.addr.clone(),
                source,
            })
    }

    /// Sends a request, reads the whole response and keeps the connection for reuse. A pooled
    /// connection the server has closed meanwhile is retried once on a fresh one.
    ///
    /// # Errors
    /// [`TransportError`] when connecting or the exchange fails.
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Collected, TransportError> {
        let req = self.with_host(req);
        let http = |source| TransportError::Http {
            addr: self.addr.clone(),
            source,
        };
        let (mut send, pooled) = match self.pooled() {
            Some(s) => (s, true),
            None => (self.connect().await?, false),
        };
        let retry = pooled.then(|| clone_request(&req));
        let resp = match send.send_request(req).await {
            Ok(r) => r,
            Err(e) if e.is_canceled() || e.is_closed() || e.is_incomplete_message() => {
                match retry {
                    Some(req) => {
                        send = self.connect().await?;
                        send.send_request(req).await.map_err(http)?
                    }
                    None => return Err(http(e)),
                }
            }
            Err(e) => return Err(http(e)),
        };
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(http)?.to_bytes();
        if !send.is_closed() {
            self.idle.lock().expect("pool lock").push(send);
        }
        Ok(Collected {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

fn clone_request(req: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone());
    for (k, v) in req.headers() {
        b = b.header(k, v);
    }
    // Full<Bytes> is cheap to clone.
    b.body(req.body().clone()).expect("cloned request is valid")
}
