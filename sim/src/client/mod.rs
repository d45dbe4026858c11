//! A small Kubernetes API client for labsim's own components (kubelet, controllers, scheduler,
//! kubeadm, images): JSON over HTTPS, objects as [`serde_json::Value`], list/watch, and a
//! reflector (list + watch with a local cache) to build controllers on.
//!
//! ```no_run
//! # async fn demo() -> Result<(), labsim::client::ClientError> {
//! use labsim::client::{Client, Config, ListParams, PatchType, path};
//! use serde_json::json;
//!
//! let client = Client::new(&Config::from_kubeconfig("/etc/kubernetes/admin.conf".as_ref())?)?;
//! let pods = path("", "v1", "pods", Some("default"), None);
//! let list = client.list(&pods, &ListParams { label_selector: Some("app=hello".into()), ..Default::default() }).await?;
//! for pod in list["items"].as_array().into_iter().flatten() {
//!     println!("{}", pod["metadata"]["name"]);
//! }
//! let node = path("", "v1", "nodes", None, Some("minikube-m02"));
//! client.patch(&format!("{node}/status"), PatchType::Strategic, &json!({"status": {"conditions": []}})).await?;
//! let mut w = client.watch(&pods, &ListParams::default(), "0").await?;
//! while let Some(ev) = w.next().await {
//!     let ev = ev?;
//!     println!("{} {}", ev.kind, ev.object["metadata"]["name"]);
//! }
//! # Ok(()) }
//! ```

pub mod events;
pub mod reflector;
pub mod transport;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use serde_json::Value;

use crate::pki::kubeconfig::{Credentials, Kubeconfig};
use transport::{Transport, TransportError};

pub use reflector::{Change, Reflector, ReflectorStore};

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The configuration is unusable (missing file, bad kubeconfig, no in-cluster environment).
    #[error("client configuration: {0}")]
    Config(String),
    /// A kubeconfig or certificate could not be read.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// The HTTP exchange failed (server down, TLS).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The API answered with an error Status.
    #[error("{method} {path}: {message} ({reason}, HTTP {code})")]
    Api {
        /// Method.
        method: String,
        /// Path.
        path: String,
        /// HTTP code.
        code: u16,
        /// Status reason (`NotFound`, `Conflict`, …).
        reason: String,
        /// Status message.
        message: String,
        /// The whole Status object.
        status: Box<Value>,
    },
    /// The body was not the JSON expected.
    #[error("cannot decode the reply to {path}: {detail}")]
    Decode {
        /// Path.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

impl ClientError {
    /// The HTTP code of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
    /// 404.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }
    /// 409 Conflict (optimistic concurrency) or AlreadyExists.
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }
    /// 409 AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, ClientError::Api { reason, .. } if reason == "AlreadyExists")
    }
    /// 410 Gone/Expired (a resourceVersion too old).
    pub fn is_gone(&self) -> bool {
        self.code() == Some(410)
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Config {
    /// `https://host:port`.
    pub server: String,
    /// CA bundle PEM.
    pub ca_pem: Option<String>,
    /// Credentials.
    pub credentials: Credentials,
    /// Default namespace.
    pub namespace: String,
    /// User-Agent (the field manager when none is given).
    pub user_agent: String,
}

/// Where service-account credentials are mounted in a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

impl Config {
    /// From a kubeconfig file's current context.
    ///
    /// # Errors
    /// [`ClientError`] when the file cannot be read or resolved.
    pub fn from_kubeconfig(path: &Path) -> Result<Config, ClientError> {
        let kc = Kubeconfig::read(path)?;
        let r = kc.resolve(path.parent().unwrap_or(Path::new("/")))?;
        Ok(Config {
            server: r.server,
            ca_pem: r.ca_pem,
            credentials: r.credentials,
            namespace: r.namespace.unwrap_or_else(|| "default".into()),
            user_agent: "labsim".into(),
        })
    }

    /// In-cluster configuration: `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT` and the mounted
    /// token, CA and namespace (client-go rest.InClusterConfig).
    ///
    /// # Errors
    /// [`ClientError::Config`] outside a pod.
    pub fn in_cluster() -> Result<Config, ClientError> {
        let missing = || {
            ClientError::Config("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined".into())
        };
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| missing())?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").map_err(|_| missing())?;
        Self::in_cluster_with(&host, &port, Path::new(SERVICE_ACCOUNT_DIR))
    }

    /// In-cluster configuration for the service at `host:port` with the credentials in `dir`.
    ///
    /// # Errors
    /// [`ClientError`] when the files are missing.
    pub fn in_cluster_with(host: &str, port: &str, dir: &Path) -> Result<Config, ClientError> {
        let token = crate::pki::read_string(&dir.join("token"))?
            .trim()
            .to_string();
        let ca = crate::pki::read_string(&dir.join("ca.crt"))?;
        let namespace = crate::pki::read_string(&dir.join("namespace"))
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|_| "default".into());
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        Ok(Config {
            server: format!("https://{host}:{port}"),
            ca_pem: Some(ca),
            credentials: Credentials::Token(token),
            namespace,
            user_agent: "labsim".into(),
        })
    }
}

/// The URL path of a collection (`name` None) or an object: `/api/v1/namespaces/default/pods/x`,
/// `/apis/apps/v1/deployments`, `/api/v1/nodes/n`.
pub fn path(
    group: &str,
    version: &str,
    plural: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> String {
    let mut p = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    if let Some(ns) = namespace {
        p.push_str(&format!("/namespaces/{ns}"));
    }
    p.push('/');
    p.push_str(plural);
    if let Some(n) = name {
        p.push('/');
        p.push_str(n);
    }
    p
}

/// List and watch parameters.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `timeoutSeconds` (watches).
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks` (watches).
    pub bookmarks: bool,
}

fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl ListParams {
    fn query(&self, extra: &[(&str, String)]) -> String {
        let mut q: Vec<String> = vec![];
        if let Some(l) = &self.label_selector {
            q.push(format!("labelSelector={}", enc(l)));
        }
        if let Some(f) = &self.field_selector {
            q.push(format!("fieldSelector={}", enc(f)));
        }
        if let Some(t) = self.timeout_seconds {
            q.push(format!("timeoutSeconds={t}"));
        }
        if self.bookmarks {
            q.push("allowWatchBookmarks=true".into());
        }
        for (k, v) in extra {
            q.push(format!("{k}={}", enc(v)));
        }
        if q.is_empty() {
            String::new()
        } else {
            format!("?{}", q.join("&"))
        }
    }
}

/// The kind of a PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/apply-patch+yaml` with this field manager (force: true).
    Apply(&'static str),
}

/// One watch event.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub kind: String,
    /// The object (a Status for `ERROR`).
    pub object: Value,
}

/// A running watch; ends when the server closes it.
pub struct WatchStream {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
    path: String,
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream")
            .field("path", &self.path)
            .finish()
    }
}

impl WatchStream {
    /// The next event; `None` when the stream ended. An `ERROR` event with a 410 Status is returned
    /// as [`ClientError::Api`] with code 410.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, ClientError>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v: Value = match serde_json::from_slice(&line) {
                    Ok(v) => v,
                    Err(e) => {
                        return Some(Err(ClientError::Decode {
                            path: self.path.clone(),
                            detail: e.to_string(),
                        }));
                    }
                };
                let kind = v["type"].as_str().unwrap_or_default().to_string();
                if kind == "ERROR" {
                    let st = &v["object"];
                    return Some(Err(ClientError::Api {
                        method: "WATCH".into(),
                        path: self.path.clone(),
                        code: st["code"].as_u64().unwrap_or(500) as u16,
                        reason: st["reason"].as_str().unwrap_or_default().to_string(),
                        message: st["message"].as_str().unwrap_or_default().to_string(),
                        status: Box::new(st.clone()),
                    }));
                }
                return Some(Ok(WatchEvent {
                    kind,
                    object: v["object"].clone(),
                }));
            }
            match self.body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        self.buf.extend_from_slice(&d);
                    }
                }
                Some(Err(e)) => {
                    return Some(Err(ClientError::Decode {
                        path: self.path.clone(),
                        detail: e.to_string(),
                    }));
                }
                None => return None,
            }
        }
    }
}

/// A Kubernetes API client.
#[derive(Clone)]
pub struct Client {
    transport: Arc<Transport>,
    server: String,
    token: Option<String>,
    user_agent: String,
    /// The configuration's default namespace.
    pub namespace: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

fn status_error(method: &Method, path: &str, code: u16, body: &[u8]) -> ClientError {
    let status: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = status["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    ClientError::Api {
        method: method.to_string(),
        path: path.to_string(),
        code,
        reason: status["reason"].as_str().unwrap_or_default().to_string(),
        message,
        status: Box::new(status),
    }
}

impl Client {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`ClientError`] when TLS settings are unusable.
    pub fn new(config: &Config) -> Result<Client, ClientError> {
        let https = config.server.starts_with("https://");
        let tls = if https {
            let ca = config.ca_pem.as_deref().ok_or_else(|| {
                ClientError::Config(format!(
                    "no CA for {}: labsim does not skip TLS verification",
                    config.server
                ))
            })?;
            let client = match &config.credentials {
                Credentials::ClientCert { cert_pem, key_pem } => {
                    Some((cert_pem.as_str(), key_pem.as_str()))
                }
                _ => None,
            };
            Some(crate::pki::tls::client_config(ca, client)?)
        } else {
            None
        };
        Ok(Client {
            transport: Arc::new(Transport::new(&config.server, tls)?),
            server: config.server.trim_end_matches('/').to_string(),
            token: match &config.credentials {
                Credentials::Token(t) => Some(t.clone()),
                _ => None,
            },
            user_agent: config.user_agent.clone(),
            namespace: config.namespace.clone(),
        })
    }

    fn build(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> hyper::Request<Full<Bytes>> {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.server))
            .header("accept", "application/json")
            .header("user-agent", &self.user_agent);
        if let Some(t) = &self.token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let body = match body {
            Some((bytes, ct)) => {
                b = b.header("content-type", ct);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        b.body(Full::new(body)).expect("valid request")
    }

    /// Sends a request and decodes the JSON reply; non-2xx replies become [`ClientError::Api`].
    ///
    /// # Errors
    /// [`ClientError`] on transport, API or decoding errors.
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<Value, ClientError> {
        let resp = self
            .transport
            .send(self.build(method.clone(), path_and_query, body))
            .await?;
        let code = resp.status.as_u16();
        if !resp.status.is_success() {
            return Err(status_error(&method, path_and_query, code, &resp.body));
        }
        serde_json::from_slice(&resp.body).map_err(|e| ClientError::Decode {
            path: path_and_query.into(),
            detail: e.to_string(),
        })
    }

    /// Sends a request and returns the raw body (e.g. pod logs).
    ///
    /// # Errors
    /// [`ClientError`] on transport or API errors.
    pub async fn request_text(
        &self,
        method: Method,
        path_and_query: &str,
    ) -> Result<String, ClientError> {
        let resp = self
            .transport
            .send(self.build(method.clone(), path_and_query, None))
            .await?;
        if !resp.status.is_success() {
            return Err(status_error(
                &method,
                path_and_query,
                resp.status.as_u16(),
                &resp.body,
            ));
        }
        Ok(String::from_utf8_lossy(&resp.body).into_owned())
    }

    /// GET an object.
    ///
    /// # Errors
    /// [`ClientError`] (e.g. [`ClientError::is_not_found`]).
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.request(Method::GET, path, None).await
    }

    /// GET an object, None when it does not exist.
    ///
    /// # Errors
    /// [`ClientError`] other than 404.
    pub async fn get_opt(&self, path: &str) -> Result<Option<Value>, ClientError> {
        match self.get(path).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// List a collection.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list(&self, path: &str, params: &ListParams) -> Result<Value, ClientError> {
        self.request(Method::GET, &format!("{path}{}", params.query(&[])), None)
            .await
    }

    /// POST an object to a collection.
    ///
    /// # Errors
    /// [`ClientError`] (e.g. [`ClientError::is_already_exists`]).
    pub async fn create(&self, path: &str, obj: &Value) -> Result<Value, ClientError> {
        self.request(
            Method::POST,
            path,
            Some((serde_json::to_vec(obj).expect("JSON"), "application/json")),
        )
        .await
    }

    /// PUT an object (optimistic concurrency with its `metadata.resourceVersion`).
    ///
    /// # Errors
    /// [`ClientError`] (e.g. [`ClientError::is_conflict`]).
    pub async fn update(&self, path: &str, obj: &Value) -> Result<Value, ClientError> {
        self.request(
            Method::PUT,
            path,
            Some((serde_json::to_vec(obj).expect("JSON"), "application/json")),
        )
        .await
    }

    /// PATCH an object.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn patch(
        &self,
        path: &str,
        kind: PatchType,
        patch: &Value,
    ) -> Result<Value, ClientError> {
        let (ct, p) = match kind {
            PatchType::Strategic => ("application/strategic-merge-patch+json", path.to_string()),
            PatchType::Merge => ("application/merge-patch+json", path.to_string()),
            PatchType::Json => ("application/json-patch+json", path.to_string()),
            PatchType::Apply(manager) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                (
                    "application/apply-patch+yaml",
                    format!("{path}{sep}fieldManager={}&force=true", enc(manager)),
                )
            }
        };
        self.request(
            Method::PATCH,
            &p,
            Some((serde_json::to_vec(patch).expect("JSON"), ct)),
        )
        .await
    }

    /// DELETE an object with DeleteOptions (e.g. `{"gracePeriodSeconds": 0}`).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn delete(&self, path: &str, options: &Value) -> Result<Value, ClientError> {
        self.request(
            Method::DELETE,
            path,
            Some((
                serde_json::to_vec(options).expect("JSON"),
                "application/json",
            )),
        )
        .await
    }

    /// Watch a collection from `resource_version` (`""`/`"0"`: current state first as ADDED).
    ///
    /// # Errors
    /// [`ClientError`] when the watch cannot start (410 for a compacted resourceVersion).
    pub async fn watch(
        &self,
        path: &str,
        params: &ListParams,
        resource_version: &str,
    ) -> Result<WatchStream, ClientError> {
        let mut extra = vec![("watch", "true".to_string())];
        if !resource_version.is_empty() {
            extra.push(("resourceVersion", resource_version.to_string()));
        }
        let pq = format!("{path}{}", params.query(&extra));
        let resp = self
            .transport
            .send_streaming(self.build(Method::GET, &pq, None))
            .await?;
        let code = resp.status().as_u16();
        if !resp.status().is_success() {
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            return Err(status_error(&Method::GET, &pq, code, &body));
        }
        Ok(WatchStream {
            body: resp.into_body(),
            buf: vec![],
            path: pq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            path("", "v1", "pods", Some("default"), Some("x")),
            "/api/v1/namespaces/default/pods/x"
        );
        assert_eq!(
            path("apps", "v1", "deployments", None, None),
            "/apis/apps/v1/deployments"
        );
        assert_eq!(path("", "v1", "nodes", None, Some("n")), "/api/v1/nodes/n");
        let q = ListParams {
            label_selector: Some("app=web".into()),
            field_selector: Some("spec.nodeName=w1".into()),
            ..Default::default()
        };
        assert_eq!(
            q.query(&[("watch", "true".into())]),
            "?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dw1&watch=true"
        );
    }

    #[test]
    fn in_cluster_config_reads_the_mount() {
        let dir = crate::pki::tests::tempdir("incluster");
        std::fs::write(dir.0.join("token"), "tok\n").unwrap();
        std::fs::write(dir.0.join("ca.crt"), "CA").unwrap();
        std::fs::write(dir.0.join("namespace"), "kube-system").unwrap();
        let c = Config::in_cluster_with("10.96.0.1", "443", &dir.0).unwrap();
        assert_eq!(c.server, "https://10.96.0.1:443");
        assert_eq!(c.credentials, Credentials::Token("tok".into()));
        assert_eq!(c.namespace, "kube-system");
        assert!(
            Config::in_cluster_with("10.96.0.1", "443", std::path::Path::new("/nonexistent"))
                .is_err()
        );
    }
}
