//! etcd's metrics URL as etcd 3.5.11+ and 3.6 serve it, in front of an etcd that may be older.
//!
//! kubeadm ≥ 1.31 probes etcd on `/livez` and `/readyz` of the metrics URL (kubernetes PR 124465);
//! etcd serves those from 3.5.11 on (etcd `server/etcdserver/api/etcdhttp/health.go`,
//! `installLivezEndpoints`/`installReadyzEndpoints`), but Debian's etcd 3.4 only serves `/health`
//! and `/metrics` there. So the etcd image does not hand the metrics URLs of the manifest to the
//! real etcd: it gives etcd one private `http://<ip>:<free port>` instead and starts this front,
//! `labsim image etcd-metrics --backend <private> --listen <public>…`, which listens on the
//! manifest's addresses and
//!
//! - forwards every request to the real etcd (`/metrics`, `/health`, Go's `404 page not found`);
//! - answers `/livez` and `/readyz` (and their per-check subpaths) itself when the real etcd says
//!   404 there, with etcd's checks, texts and status codes: `/livez` runs `serializable_read`,
//!   `/readyz` runs `data_corruption`, `serializable_read` and `linearizable_read`; `200 ok` (the
//!   `[+]<check> ok` lines first with `?verbose`), `503` with `[-]<check> failed: <error>` lines
//!   when a check fails, `?exclude=<check>` on the root paths, `405` for methods other than GET.
//!   etcd lists checks in Go map order (random); here they come in the order above.
//!
//! Each check asks the real etcd's `/health` the nearest question: `serializable_read` is
//! `/health?serializable=true&exclude=NOSPACE&exclude=CORRUPT`, `linearizable_read`
//! `/health?exclude=NOSPACE&exclude=CORRUPT`, `data_corruption` `/health?exclude=NOSPACE`
//! failing with `ALARM CORRUPT`. etcd 3.4's `/health` ignores those parameters and gives no reason:
//! there every check fails together, with `etcd's /health answered 503 {"health":"false"}` as the
//! error.
//!
//! The front prints `ready` on stdout once it listens (the etcd image waits for that line before
//! it execs etcd, so a taken port fails the container as etcd would) and dies with its parent
//! (`PR_SET_PDEATHSIG`), which is etcd after the exec.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

use super::http::{Body, HttpServer, full, go_error};
use crate::client::transport::Transport;

/// The name of the front under `labsim image`.
pub const PROGRAM: &str = "etcd-metrics";

/// Where the front listens and where the real etcd serves its metrics URL instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The manifest's plain-HTTP metrics addresses, served by the front.
    pub public: Vec<SocketAddr>,
    /// The real etcd's private metrics address.
    pub backend: SocketAddr,
}

/// `http://<ip>:<port>` with nothing after it: the metrics URLs the front can serve.
fn plain_http_addr(url: &str) -> Option<SocketAddr> {
    let rest = url.strip_prefix("http://")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let addr: SocketAddr = rest.parse().ok()?;
    addr.ip().is_loopback().then_some(addr)
}

/// Takes the plain-HTTP loopback URLs out of `--listen-metrics-urls` in `args` and puts one
/// private URL on the same IP in their place (`backend_port` picks the port); HTTPS URLs stay
/// etcd's own. `None` (and `args` unchanged) when there is nothing to serve.
///
/// # Errors
/// The error of `backend_port`.
pub fn plan(
    args: &mut [String],
    backend_port: impl FnOnce(IpAddr) -> std::io::Result<u16>,
) -> std::io::Result<Option<Plan>> {
    let Some(i) = args
        .iter()
        .position(|a| a.starts_with("--listen-metrics-urls="))
    else {
        return Ok(None);
    };
    let value = args[i]["--listen-metrics-urls=".len()..].to_string();
    let (public, kept): (Vec<_>, Vec<_>) = value
        .split(',')
        .filter(|u| !u.is_empty())
        .partition(|u| plain_http_addr(u).is_some());
    let public: Vec<SocketAddr> = public.iter().filter_map(|u| plain_http_addr(u)).collect();
    let Some(first) = public.first() else {
        return Ok(None);
    };
    let backend = SocketAddr::new(first.ip(), backend_port(first.ip())?);
    let mut urls = vec![format!("http://{backend}")];
    urls.extend(kept.iter().map(|u| u.to_string()));
    args[i] = format!("--listen-metrics-urls={}", urls.join(","));
    Ok(Some(Plan { public, backend }))
}

/// A free port on `ip` (bound and released at once).
///
/// # Errors
/// The bind error.
pub fn free_port(ip: IpAddr) -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// One of etcd's health checks (etcd `etcdhttp/health.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// No `CORRUPT` alarm (`activeAlarmCheck`).
    DataCorruption,
    /// A local (serializable) range read works.
    SerializableRead,
    /// A read with consensus (linearizable) works.
    LinearizableRead,
}

/// The checks of `/livez`.
pub const LIVEZ: &[Check] = &[Check::SerializableRead];
/// The checks of `/readyz`.
pub const READYZ: &[Check] = &[
    Check::DataCorruption,
    Check::SerializableRead,
    Check::LinearizableRead,
];

impl Check {
    /// The check's name in paths, `exclude` and the output.
    pub fn name(self) -> &'static str {
        match self {
            Check::DataCorruption => "data_corruption",
            Check::SerializableRead => "serializable_read",
            Check::LinearizableRead => "linearizable_read",
        }
    }

    /// What the front asks the real etcd.
    pub fn backend_path(self) -> &'static str {
        match self {
            Check::DataCorruption => "/health?exclude=NOSPACE",
            Check::SerializableRead => "/health?serializable=true&exclude=NOSPACE&exclude=CORRUPT",
            Check::LinearizableRead => "/health?exclude=NOSPACE&exclude=CORRUPT",
        }
    }

    /// The check's result from the real etcd's answer to [`Check::backend_path`] (status and
    /// body, or why there was none).
    ///
    /// # Errors
    /// The error text etcd would print after `[-]<check> failed: `.
    pub fn judge(self, answer: &Result<(u16, Bytes), String>) -> Result<(), String> {
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => return Err(e.clone()),
        };
        if *status == 200 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(body).trim_end().to_string();
        let reason = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_string))
            .filter(|r| !r.is_empty());
        match (self, reason.as_deref()) {
            // etcd 3.4: no reason, every check fails with the answer.
            (_, None) => Err(format!("etcd's /health answered {status} {text}")),
            (Check::DataCorruption, Some("ALARM CORRUPT")) => {
                Err("alarm activated: CORRUPT".to_string())
            }
            // Another reason is about reads, not alarms.
            (Check::DataCorruption, Some(_)) => Ok(()),
            (_, Some(r)) => Err(r.strip_prefix("RANGE ERROR:").unwrap_or(r).to_string()),
        }
    }
}

/// The checks a path of the front runs (`None`: not a health path of etcd's).
pub fn checks_for(path: &str) -> Option<(&'static [Check], Option<Check>)> {
    let (root, sub) = match path.split_once('/').map(|(_, p)| p.split_once('/')) {
        Some(Some((root, sub))) => (root, Some(sub)),
        _ => (path.trim_start_matches('/'), None),
    };
    let all = match root {
        "livez" => LIVEZ,
        "readyz" => READYZ,
        _ => return None,
    };
    match sub {
        None => Some((all, None)),
        Some(s) => all.iter().find(|c| c.name() == s).map(|c| (all, Some(*c))),
    }
}

/// The query's values of `key`.
fn query_values<'a>(query: &'a str, key: &str) -> Vec<&'a str> {
    query
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then_some(v)
        })
        .collect()
}

/// The checks a request runs: the one of a subpath, or the root's minus `exclude` (names it does
/// not know are ignored, as etcd does for compatibility).
pub fn selected(all: &[Check], one: Option<Check>, query: &str) -> Vec<Check> {
    if let Some(c) = one {
        return vec![c];
    }
    let excluded = query_values(query, "exclude");
    all.iter()
        .copied()
        .filter(|c| !excluded.contains(&c.name()))
        .collect()
}

/// etcd's answer for check results (`newHealthHandler`): 200 `ok` (with the check lines first
/// when `verbose`), or 503 with the check lines (Go's `http.Error` adds a newline).
pub fn render(results: &[(Check, Result<(), String>)], verbose: bool) -> (u16, String) {
    let mut lines = String::new();
    for (c, r) in results {
        match r {
            Ok(()) => lines.push_str(&format!("[+]{} ok\n", c.name())),
            Err(e) => lines.push_str(&format!("[-]{} failed: {e}\n", c.name())),
        }
    }
    if results.iter().any(|(_, r)| r.is_err()) {
        return (503, format!("{lines}\n"));
    }
    if verbose {
        (200, format!("{lines}ok\n"))
    } else {
        (200, "ok\n".to_string())
    }
}

/// The front's request handler.
struct Front {
    backend: Transport,
}

impl Front {
    async fn ask(&self, path_and_query: &str) -> Result<(u16, Bytes), String> {
        let req = Request::get(path_and_query)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        self.backend
            .send(req)
            .await
            .map(|c| (c.status.as_u16(), c.body))
            .map_err(|e| e.to_string())
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return go_error(400, &format!("cannot read the request: {e}")),
        };
        let target = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| path.clone());
        let mut fwd = Request::builder().method(parts.method.clone()).uri(&target);
        for (k, v) in &parts.headers {
            if k != hyper::header::HOST {
                fwd = fwd.header(k, v);
            }
        }
        let answer = match fwd.body(Full::new(body)) {
            Ok(r) => self.backend.send(r).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let health = checks_for(&path);
        match (answer, health) {
            // A health path the real etcd does not serve (etcd < 3.5.11), or cannot be asked.
            (Ok(a), Some((all, one))) if a.status == 404 => {
                self.health(parts.method, all, one, &query).await
            }
            (Err(_), Some((all, one))) => self.health(parts.method, all, one, &query).await,
            // Anything else is the real etcd's answer.
            (Ok(a), _) => {
                let mut r = Response::builder().status(a.status);
                for (k, v) in &a.headers {
                    if !matches!(
                        k.as_str(),
                        "date" | "content-length" | "transfer-encoding" | "connection"
                    ) {
                        r = r.header(k, v);
                    }
                }
                r.body(full(a.body))
                    .unwrap_or_else(|e| go_error(500, &e.to_string()))
            }
            (Err(e), None) => go_error(
                502,
                &format!("labsim: etcd's metrics listener does not answer: {e}"),
            ),
        }
    }

    async fn health(
        &self,
        method: hyper::Method,
        all: &[Check],
        one: Option<Check>,
        query: &str,
    ) -> Response<Body> {
        if method != hyper::Method::GET {
            let mut r = go_error(405, "Method Not Allowed");
            r.headers_mut().insert(
                hyper::header::ALLOW,
                hyper::header::HeaderValue::from_static("GET"),
            );
            return r;
        }
        let mut results = vec![];
        for c in selected(all, one, query) {
            let answer = self.ask(c.backend_path()).await;
            results.push((c, c.judge(&answer)));
        }
        let verbose = query
            .split('&')
            .any(|kv| kv.split('=').next() == Some("verbose"));
        let (status, text) = render(&results, verbose);
        if status == 200 {
            let mut r = super::http::respond(200, "text/plain; charset=utf-8", text);
            r.headers_mut().insert(
                "x-content-type-options",
                hyper::header::HeaderValue::from_static("nosniff"),
            );
            r
        } else {
            go_error(status, text.strip_suffix('\n').unwrap_or(&text))
        }
    }
}

/// Starts the front for `plan` and waits until it listens.
///
/// # Errors
/// Why it could not start or listen (it has printed its own error on stderr).
pub fn start(plan: &Plan) -> Result<(), String> {
    use std::io::BufRead;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the labsim binary: {e}"))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["image", PROGRAM, "--backend", &plan.backend.to_string()]);
    for a in &plan.public {
        cmd.args(["--listen", &a.to_string()]);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start labsim image {PROGRAM}: {e}"))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    if line.trim() == "ready" {
        return Ok(());
    }
    let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
    Err(format!(
        "labsim image {PROGRAM} did not start listening on {:?} ({status})",
        plan.public
    ))
}

/// `labsim image etcd-metrics --backend ADDR --listen ADDR…`: serves until its parent dies.
pub fn main(args: &[String]) -> ExitCode {
    let usage = format!("usage: labsim image {PROGRAM} --backend IP:PORT --listen IP:PORT…");
    let mut backend: Option<SocketAddr> = None;
    let mut listen: Vec<SocketAddr> = vec![];
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let value = it.next().and_then(|v| v.parse::<SocketAddr>().ok());
        match (a.as_str(), value) {
            ("--backend", Some(v)) => backend = Some(v),
            ("--listen", Some(v)) => listen.push(v),
            _ => {
                eprintln!("labsim image {PROGRAM}: bad argument {a:?}\n{usage}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(backend) = backend.filter(|_| !listen.is_empty()) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    // Die with etcd (the parent after its exec), whatever kills it.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        eprintln!("labsim image {PROGRAM}: cannot set the parent-death signal: {e}");
        return ExitCode::from(1);
    }
    super::http::runtime().block_on(serve(backend, listen))
}

async fn serve(backend: SocketAddr, listen: Vec<SocketAddr>) -> ExitCode {
    let transport = match Transport::new(&format!("http://{backend}"), None) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("labsim image {PROGRAM}: {e}");
            return ExitCode::from(2);
        }
    };
    let front = Arc::new(Front { backend: transport });
    let mut servers = vec![];
    for addr in listen {
        let f = front.clone();
        match HttpServer::bind(addr, move |req, _| {
            let f = f.clone();
            async move { f.handle(req).await }
        })
        .await
        {
            Ok(s) => servers.push(s),
            Err(e) => {
                eprintln!(
                    "labsim: etcd's metrics URL http://{addr} cannot be served: listen tcp {addr}: {e}"
                );
                return ExitCode::from(1);
            }
        }
    }
    println!("ready");
    // The etcd image stops reading; nothing more goes to stdout.
    let _ = super::http::termination().await;
    for s in servers {
        s.shutdown(std::time::Duration::from_secs(1)).await;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_metrics_url_moves_to_a_private_port() {
        let mut args = s(&[
            "--name=minikube",
            "--listen-metrics-urls=http://127.100.49.2:2381,https://127.100.49.2:2382",
        ]);
        let plan = plan(&mut args, |_| Ok(40000)).unwrap().unwrap();
        assert_eq!(plan.public, vec!["127.100.49.2:2381".parse().unwrap()]);
        assert_eq!(plan.backend, "127.100.49.2:40000".parse().unwrap());
        assert_eq!(
            args[1],
            "--listen-metrics-urls=http://127.100.49.2:40000,https://127.100.49.2:2382"
        );
        let mut tls_only = s(&["--listen-metrics-urls=https://127.100.49.2:2381"]);
        assert_eq!(plan_none(&mut tls_only), None);
        let mut none = s(&["--name=x"]);
        assert_eq!(plan_none(&mut none), None);
    }

    fn plan_none(args: &mut [String]) -> Option<Plan> {
        let before = args.to_vec();
        let p = plan(args, |_| Ok(1)).unwrap();
        assert_eq!(args, before.as_slice());
        p
    }

    #[test]
    fn paths_and_exclusions() {
        assert_eq!(checks_for("/livez"), Some((LIVEZ, None)));
        assert_eq!(
            checks_for("/readyz/linearizable_read"),
            Some((READYZ, Some(Check::LinearizableRead)))
        );
        assert_eq!(checks_for("/livez/linearizable_read"), None);
        assert_eq!(checks_for("/health"), None);
        assert_eq!(checks_for("/metrics"), None);
        assert_eq!(
            selected(READYZ, None, "exclude=linearizable_read&exclude=nope"),
            vec![Check::DataCorruption, Check::SerializableRead]
        );
        assert_eq!(
            selected(
                READYZ,
                Some(Check::SerializableRead),
                "exclude=serializable_read"
            ),
            vec![Check::SerializableRead]
        );
    }

    #[test]
    fn health_answers_become_check_results() {
        let ok: Result<(u16, Bytes), String> =
            Ok((200, Bytes::from_static(b"{\"health\":\"true\"}")));
        assert_eq!(Check::SerializableRead.judge(&ok), Ok(()));
        // etcd 3.4: no reason.
        let old = Ok((503, Bytes::from_static(b"{\"health\":\"false\"}\n")));
        assert_eq!(
            Check::LinearizableRead.judge(&old),
            Err("etcd's /health answered 503 {\"health\":\"false\"}".into())
        );
        assert!(Check::DataCorruption.judge(&old).is_err());
        // etcd 3.5: the reason names the failure.
        let corrupt = Ok((
            503,
            Bytes::from_static(b"{\"health\":\"false\",\"reason\":\"ALARM CORRUPT\"}\n"),
        ));
        assert_eq!(
            Check::DataCorruption.judge(&corrupt),
            Err("alarm activated: CORRUPT".into())
        );
        let range = Ok((
            503,
            Bytes::from_static(
                b"{\"health\":\"false\",\"reason\":\"RANGE ERROR:etcdserver: request timed out\"}\n",
            ),
        ));
        assert_eq!(
            Check::LinearizableRead.judge(&range),
            Err("etcdserver: request timed out".into())
        );
        assert_eq!(Check::DataCorruption.judge(&range), Ok(()));
        let refused = "cannot connect to 127.0.0.1:1: connection refused".to_string();
        assert_eq!(
            Check::SerializableRead.judge(&Err(refused.clone())),
            Err(refused)
        );
    }

    #[test]
    fn rendered_as_etcd_does() {
        let all_ok = [
            (Check::DataCorruption, Ok(())),
            (Check::SerializableRead, Ok(())),
        ];
        assert_eq!(render(&all_ok, false), (200, "ok\n".into()));
        assert_eq!(
            render(&all_ok, true),
            (
                200,
                "[+]data_corruption ok\n[+]serializable_read ok\nok\n".into()
            )
        );
        let failed = [
            (Check::DataCorruption, Ok(())),
            (Check::LinearizableRead, Err("etcdserver: no leader".into())),
        ];
        assert_eq!(
            render(&failed, false),
            (
                503,
                "[+]data_corruption ok\n[-]linearizable_read failed: etcdserver: no leader\n\n"
                    .into()
            )
        );
    }
}
