//! The server: configuration from flags, the TLS listener, and request routing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use serde_json::json;

use super::audit::{self, Auditor};
use super::flags::Flags;
use super::http::{self, Body, ReqBody};
use super::resources::{self, ResourceDef};
use super::status::ApiError;
use super::store::Store;
use crate::etcd::Etcd;
use crate::pki::jwt::{Es256Signer, Es256Verifier};
use crate::version::Minor;

/// Errors starting the API server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A flag value is missing or wrong.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A certificate or key file is unusable.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// etcd is unusable.
    #[error(transparent)]
    Etcd(#[from] crate::etcd::EtcdError),
    /// The listener could not be bound.
    #[error("failed to listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Creating the bootstrap objects failed.
    #[error("post-start hook failed: {0}")]
    Bootstrap(ApiError),
    /// The audit flags or policy are unusable.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

/// The API server's state, shared by all requests.
pub struct Api {
    /// Object storage.
    pub store: Store,
    /// The flags it was started with.
    pub flags: Flags,
    /// The Kubernetes version it reports and behaves as.
    pub minor: Minor,
    /// `--advertise-address`.
    pub advertise: IpAddr,
    /// `--secure-port`.
    pub port: u16,
    /// Service-account token verification keys (`--service-account-key-file`).
    pub sa_verifiers: Vec<Es256Verifier>,
    /// Service-account token signing key (`--service-account-signing-key-file`).
    pub sa_signer: Option<Es256Signer>,
    /// `--service-account-issuer` values (the first one is used to issue).
    pub sa_issuers: Vec<String>,
    /// TLS for connections to kubelets (`--kubelet-client-*`).
    pub kubelet_tls: Option<Arc<ClientConfig>>,
    /// `--service-cluster-ip-range` (IPv4 network and prefix length).
    pub service_cidr: (u32, u8),
    /// `--default-not-ready-toleration-seconds`.
    pub not_ready_secs: i64,
    /// `--default-unreachable-toleration-seconds`.
    pub unreachable_secs: i64,
    /// The CA bundle clients are given (kube-root-ca.crt): `--client-ca-file`'s content.
    pub client_ca_pem: Option<String>,
    /// The audit backend (`--audit-policy-file` and `--audit-log-path`).
    pub audit: Option<Arc<Auditor>>,
    /// The node's injected faults (`labsim fault`: delay-api, drop-watches); inert outside a node.
    pub faults: crate::faults::watcher::FaultWatcher,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("advertise", &self.advertise)
            .field("port", &self.port)
            .field("minor", &self.minor)
            .finish_non_exhaustive()
    }
}

fn read(path: &str) -> Result<String, ServerError> {
    Ok(crate::pki::read_string(std::path::Path::new(path))?)
}

/// Parses a Go duration (`1h`, `5m0s`, `30s`, `1h30m`) into seconds.
pub fn parse_duration_secs(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    Some(total as i64)
}

/// Parses `10.96.0.0/12`.
pub fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 30).then(|| {
        (
            u32::from(ip) & (u32::MAX.checked_shl(32 - len as u32).unwrap_or(0)),
            len,
        )
    })
}

impl Api {
    /// Builds the state from the flags (reading every file the flags name).
    ///
    /// # Errors
    /// [`ServerError`] when a required flag is missing or a file is unusable.
    pub fn from_flags(flags: Flags) -> Result<Api, ServerError> {
        let need = |name: &str| {
            flags
                .get(name)
                .map(str::to_string)
                .ok_or_else(|| ServerError::Config(format!("--{name} must be specified")))
        };
        let minor = match std::env::var("LABSIM_KUBERNETES_VERSION") {
            Ok(v) if !v.is_empty() => v
                .parse::<Minor>()
                .map_err(|e| ServerError::Config(format!("LABSIM_KUBERNETES_VERSION: {e}")))?,
            _ => Minor::default(),
        };
        let advertise: IpAddr = need("advertise-address")?
            .parse()
            .map_err(|_| ServerError::Config("--advertise-address must be an IP address".into()))?;
        let port: u16 = flags
            .get_or("secure-port", "6443")
            .parse()
            .map_err(|_| ServerError::Config("--secure-port must be a port number".into()))?;
        let etcd_url = flags
            .list("etcd-servers")
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| ServerError::Config("--etcd-servers must be specified".into()))?;
        let etcd_ca = read(&need("etcd-cafile")?)?;
        let etcd_cert = read(&need("etcd-certfile")?)?;
        let etcd_key = read(&need("etcd-keyfile")?)?;
        let etcd = Etcd::new(&etcd_url, &etcd_ca, Some((&etcd_cert, &etcd_key)))?;
        let mut sa_verifiers = vec![];
        for f in flags.list("service-account-key-file").unwrap_or_default() {
            sa_verifiers.push(Es256Verifier::from_pem(&read(&f)?)?);
        }
        let sa_signer = match flags.get("service-account-signing-key-file") {
            Some(f) => Some(Es256Signer::from_pem(&read(f)?)?),
            None => None,
        };
        if let Some(s) = &sa_signer
            && sa_verifiers.is_empty()
        {
            sa_verifiers.push(s.verifier());
        }
        let kubelet_tls = match (
            flags.get("kubelet-client-certificate"),
            flags.get("kubelet-client-key"),
        ) {
            (Some(c), Some(k)) => Some(super::logs::kubelet_client_tls(
                &read(c)?,
                &read(k)?,
                flags
                    .get("kubelet-certificate-authority")
                    .map(read)
                    .transpose()?,
            )?),
            _ => None,
        };
        let service_cidr = parse_cidr(flags.get_or("service-cluster-ip-range", "10.0.0.0/24"))
            .ok_or_else(|| {
                ServerError::Config(
                    "--service-cluster-ip-range must be an IPv4 CIDR such as 10.96.0.0/12".into(),
                )
            })?;
        let client_ca_pem = flags.get("client-ca-file").map(read).transpose()?;
        if let Some(media) = flags.get("storage-media-type")
            && media != "application/json"
        {
            return Err(ServerError::Config(format!(
                "--storage-media-type={media} is not supported by labsim: it stores objects as application/json"
            )));
        }
        let audit = Auditor::from_flags(&flags)?;
        Ok(Api {
            audit,
            faults: crate::faults::watcher::FaultWatcher::start("kube-apiserver"),
            store: Store::new(
                etcd,
                parse_duration_secs(flags.get_or("event-ttl", "1h0m0s")).unwrap_or(3600),
            ),
            minor,
            advertise,
            port,
            sa_verifiers,
            sa_signer,
            sa_issuers: flags.list("service-account-issuer").unwrap_or_default(),
            kubelet_tls,
            service_cidr,
            not_ready_secs: flags.int("default-not-ready-toleration-seconds", 300),
            unreachable_secs: flags.int("default-unreachable-toleration-seconds", 300),
            client_ca_pem,
            flags,
        })
    }

    /// The address to listen on: `--bind-address`, except that an unspecified address (the
    /// default `0.0.0.0`) binds the advertise address: labsim never listens beyond loopback.
    pub fn listen_addr(&self) -> SocketAddr {
        let bind: IpAddr = self
            .flags
            .get("bind-address")
            .and_then(|b| b.parse().ok())
            .unwrap_or(self.advertise);
        let ip = if bind.is_unspecified() {
            self.advertise
        } else {
            bind
        };
        SocketAddr::new(ip, self.port)
    }
}

/// Runs the server until the process is stopped: creates the bootstrap objects, then serves.
///
/// # Errors
/// [`ServerError`] when TLS, the listener or the bootstrap objects fail.
pub async fn run(api: Arc<Api>) -> Result<(), ServerError> {
    let cert = read(
        api.flags
            .get("tls-cert-file")
            .ok_or_else(|| ServerError::Config("--tls-cert-file must be specified".into()))?,
    )?;
    let key =
        read(api.flags.get("tls-private-key-file").ok_or_else(|| {
            ServerError::Config("--tls-private-key-file must be specified".into())
        })?)?;
    let tls = crate::pki::tls::server_config(&cert, &key, api.client_ca_pem.as_deref())?;
    let addr = api.listen_addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Listen { addr, source })?;
    // etcd often starts next to the API server (both static pods): wait for it, as
    // kube-apiserver's storage initialisation does, before the post-start hooks run.
    let started = std::time::Instant::now();
    loop {
        match super::bootstrap::ensure(&api).await {
            Ok(()) => break,
            Err(e @ (ApiError::Storage(_) | ApiError::Unavailable(_)))
                if started.elapsed() < std::time::Duration::from_secs(120) =>
            {
                eprintln!("waiting for etcd at {}: {e}", api.store.etcd.endpoint());
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => return Err(ServerError::Bootstrap(e)),
        }
    }
    eprintln!(
        "labsim kube-apiserver {} serving on https://{addr}",
        api.minor.git_version()
    );
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let api = api.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let cert_user = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|der| crate::pki::cert_user(der).ok());
            let service = hyper::service::service_fn(move |req| {
                let api = api.clone();
                let cert_user = cert_user.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        handle(api, Some(peer.ip()), cert_user, req).await,
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A parsed resource request.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource type.
    pub res: &'static ResourceDef,
    /// Namespace from the path.
    pub ns: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// Subresource from the path.
    pub sub: Option<String>,
    /// `/watch/` legacy path prefix.
    pub watch_path: bool,
}

fn parse_target(group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let (watch_path, rest) = match rest.first() {
        Some(&"watch") => (true, &rest[1..]),
        _ => (false, rest),
    };
    let seg = |i: usize| rest.get(i).map(|s| s.to_string());
    if rest.first() == Some(&"namespaces")
        && rest.len() >= 3
        && let Some(res) = resources::find(group, version, rest[2]).filter(|r| r.namespaced)
    {
        if rest.len() > 5 {
            return Err(ApiError::NoRoute);
        }
        return Ok(Target {
            res,
            ns: seg(1),
            name: seg(3),
            sub: seg(4),
            watch_path,
        });
    }
    let Some(plural) = rest.first() else {
        return Err(ApiError::NoRoute);
    };
    let res = resources::find(group, version, plural).ok_or(ApiError::NoRoute)?;
    if rest.len() > 3 || (res.namespaced && rest.len() > 1) {
        return Err(ApiError::NoRoute);
    }
    Ok(Target {
        res,
        ns: None,
        name: seg(1),
        sub: seg(2),
        watch_path,
    })
}

/// The attributes of a request, as authorization sees them.
#[derive(Debug, Clone)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, …
    pub verb: String,
    /// Resource target, or None for non-resource paths.
    pub target: Option<Target>,
    /// The URL path.
    pub path: String,
}

fn verb_of(method: &Method, t: &Target, q: &std::collections::HashMap<String, String>) -> String {
    let watch = t.watch_path || q.get("watch").is_some_and(|w| w == "true" || w == "1");
    match (method.as_str(), t.name.is_some()) {
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("GET", true) if watch => "watch",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => "unknown",
    }
    .to_string()
}

/// Handles one request: the response gets its `Audit-Id` header (apiserver/pkg/endpoints/filters/
/// audit_init.go sets it on every response), and is audited when an audit backend is configured.
pub async fn handle(
    api: Arc<Api>,
    remote: Option<IpAddr>,
    cert_user: Option<(String, Vec<String>)>,
    req: Request<Incoming>,
) -> Response<Body> {
    let received = jiff::Timestamp::now();
    let audit_id = super::meta::new_uid();
    let req = req.map(|b| b.boxed());
    let mut resp = serve_request(&api, remote, cert_user, req, received, &audit_id).await;
    // labsim fault delay-api: the response is held back (the request has been served: a write
    // is stored, and audited, at its real time).
    if let Some(d) = api.faults.api_delay() {
        tokio::time::sleep(d).await;
    }
    if let Ok(v) = hyper::header::HeaderValue::from_str(&audit_id) {
        resp.headers_mut().insert("audit-id", v);
    }
    resp
}

/// What the audit filter records about a request.
fn audit_info(
    attrs: &Attributes,
    user: &super::auth::User,
    uri: &str,
    req: &Request<ReqBody>,
    remote: Option<IpAddr>,
    received: jiff::Timestamp,
    audit_id: &str,
) -> audit::RequestInfo {
    let t = attrs.target.as_ref();
    let sub = t.and_then(|t| t.sub.clone()).unwrap_or_default();
    audit::RequestInfo {
        audit_id: audit_id.to_string(),
        request_uri: uri.to_string(),
        attributes: audit::policy::RequestAttributes {
            user: user.name.clone(),
            groups: user.groups.clone(),
            verb: attrs.verb.clone(),
            resource_request: t.is_some(),
            api_group: t.map(|t| t.res.group.to_string()).unwrap_or_default(),
            resource: t.map(|t| t.res.plural.to_string()).unwrap_or_default(),
            subresource: sub.clone(),
            namespace: t.and_then(|t| t.ns.clone()).unwrap_or_default(),
            name: t.and_then(|t| t.name.clone()).unwrap_or_default(),
            path: attrs.path.clone(),
        },
        api_version: t.map(|t| t.res.version.to_string()).unwrap_or_default(),
        user: audit::event::UserInfo {
            username: user.name.clone(),
            uid: user.uid.clone(),
            groups: user.groups.clone(),
            extra: None,
        },
        source_ips: audit::source_ips(req.headers(), remote),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        received,
        long_running: audit::is_long_running(&attrs.verb, &sub),
    }
}

/// Finishes the audit record of a response: a whole body is read (it is in memory already) for
/// its Status and, at `RequestResponse`, the object; a streamed body (a watch, a log) gets
/// `ResponseStarted` now and `ResponseComplete` when it ends or the client goes away.
async fn audit_response(record: Option<audit::Record>, resp: Response<Body>) -> Response<Body> {
    let Some(mut rec) = record else {
        return resp;
    };
    let code = resp.status().as_u16();
    if hyper::body::Body::size_hint(resp.body()).exact().is_none() {
        rec.response(code, None);
        rec.started(code);
        return resp.map(|b| {
            AuditedBody {
                inner: b,
                record: Some(rec),
            }
            .boxed()
        });
    }
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let json = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
        .then(|| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .flatten();
    rec.response(code, json.as_ref());
    rec.complete();
    Response::from_parts(parts, http::full(bytes))
}

/// A streamed response body whose audit record completes when the stream ends or is dropped.
struct AuditedBody {
    inner: Body,
    record: Option<audit::Record>,
}

impl hyper::body::Body for AuditedBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            self.record.take();
        }
        polled
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

async fn serve_request(
    api: &Arc<Api>,
    remote: Option<IpAddr>,
    cert_user: Option<(String, Vec<String>)>,
    req: Request<ReqBody>,
    received: jiff::Timestamp,
    audit_id: &str,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let uri = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let q = http::query(req.uri().query());
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let target = match segs.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => Some(parse_target("", "v1", rest)),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => Some(parse_target(g, v, rest)),
        _ => None,
    };
    let (target, route_error) = match target {
        Some(Ok(t)) => (Some(t), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let http_verb = || match *req.method() {
        Method::GET | Method::HEAD => "get".to_string(),
        Method::POST => "post".into(),
        Method::PUT => "put".into(),
        Method::PATCH => "patch".into(),
        Method::DELETE => "delete".into(),
        _ => "options".into(),
    };
    let attrs = Attributes {
        verb: match &target {
            Some(t) => verb_of(req.method(), t, &q),
            // A path no route serves is a non-resource request to RBAC (its lower-cased method).
            None if route_error.is_some() => req.method().as_str().to_lowercase(),
            None => http_verb(),
        },
        target: target.clone(),
        path: path.clone(),
    };
    // Authentication comes first on a real server (WithAuthentication is outside WithAudit).
    let user = match super::auth::authenticate(api, cert_user.as_ref(), &req).await {
        Ok(u) => u,
        Err(e) => {
            if let Some(a) = &api.audit {
                let anon = super::auth::User {
                    name: String::new(),
                    groups: vec![],
                    uid: String::new(),
                };
                a.unauthorized(audit_info(
                    &attrs, &anon, &uri, &req, remote, received, audit_id,
                ));
            }
            return http::error(&e);
        }
    };
    let mut record = api.audit.as_ref().and_then(|a| {
        a.begin(audit_info(
            &attrs, &user, &uri, &req, remote, received, audit_id,
        ))
    });
    if let Some(e) = route_error {
        // An anonymous user gets 403 for a path nobody serves, others the 404.
        let err = if user.is_anonymous() {
            super::auth::forbidden(&user, &attrs)
        } else {
            e
        };
        return audit_response(record, http::error(&err)).await;
    }
    if let Err(e) = super::auth::authorize(api, &user, &attrs).await {
        if let Some(r) = record.as_mut() {
            r.annotate("authorization.k8s.io/decision", "forbid");
            r.annotate("authorization.k8s.io/reason", "");
        }
        return audit_response(record, http::error(&e)).await;
    }
    if let Some(r) = record.as_mut() {
        r.annotate("authorization.k8s.io/decision", "allow");
        r.annotate(
            "authorization.k8s.io/reason",
            if user.is_anonymous() {
                ""
            } else {
                "labsim: authenticated users may do everything (RBAC is stored, not enforced)"
            },
        );
    }
    // The request body, for the record (objectRef completion and requestObject).
    let mut req = req;
    if let Some(r) = record.as_mut()
        && target.is_some()
        && matches!(
            *req.method(),
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        )
    {
        let (parts, body) = req.into_parts();
        let bytes = match http::read_body(body).await {
            Ok(b) => b,
            Err(e) => return audit_response(record, http::error(&e)).await,
        };
        let ct = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_string();
        if !bytes.iter().all(u8::is_ascii_whitespace)
            && let Ok(v) = http::parse_body(&bytes, &ct)
        {
            r.request_body(&v, parts.method == Method::PATCH);
        }
        req = Request::from_parts(parts, http::req_body(bytes));
    }
    let resp = match target {
        Some(t) => super::rest::serve(api.clone(), user, t, attrs.verb, q, req).await,
        None => super::discovery::serve(api, &path, &q, &req).await,
    };
    audit_response(record, resp).await
}

/// The JSON `{"paths": [...]}` of `/`.
pub fn root_paths() -> serde_json::Value {
    let mut paths: Vec<String> = vec![
        "/.well-known/openid-configuration".into(),
        "/api".into(),
        "/api/v1".into(),
        "/apis".into(),
        "/apis/".into(),
    ];
    for g in resources::GROUPS {
        paths.push(format!("/apis/{g}"));
        paths.push(format!("/apis/{g}/v1"));
    }
    paths.extend(
        [
            "/healthz",
            "/healthz/etcd",
            "/healthz/log",
            "/healthz/ping",
            "/livez",
            "/livez/etcd",
            "/livez/log",
            "/livez/ping",
            "/openapi/v2",
            "/openid/v1/jwks",
            "/readyz",
            "/readyz/etcd",
            "/readyz/log",
            "/readyz/ping",
            "/version",
        ]
        .map(String::from),
    );
    paths.sort();
    json!({ "paths": paths })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_and_cidrs() {
        assert_eq!(parse_duration_secs("1h0m0s"), Some(3600));
        assert_eq!(parse_duration_secs("5m"), Some(300));
        assert_eq!(parse_duration_secs("1h30m"), Some(5400));
        assert_eq!(parse_duration_secs("90s"), Some(90));
        assert_eq!(parse_duration_secs("10"), None);
        assert_eq!(
            parse_cidr("10.96.0.0/12"),
            Some((u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0)), 12))
        );
        assert_eq!(
            parse_cidr("10.96.3.4/12").map(|c| c.0),
            Some(u32::from(std::net::Ipv4Addr::new(10, 96, 0, 0)))
        );
        assert_eq!(parse_cidr("nope"), None);
    }
}
