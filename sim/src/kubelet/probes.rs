//! Container probes (pkg/kubelet/prober, pkg/probe/http, pkg/probe/tcp): `httpGet` and
//! `tcpSocket` run against the pod's address (mapped onto loopback, docs/labsim.md "Addresses");
//! `exec` is not supported on labsim (there is no container to exec into): such a probe reports
//! an error once and keeps its result unchanged (readiness never becomes true, liveness never
//! kills).
//!
//! Results follow the prober's worker rules: a result changes after `successThreshold`
//! consecutive successes or `failureThreshold` consecutive failures; readiness starts failed,
//! liveness succeeded, startup unknown; liveness and readiness wait for the startup probe.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed.
    Success,
    /// The check failed, with the prober's message.
    Failure(String),
    /// The probe could not run (kubelet `probe.Unknown`): the result stays as it was.
    Unknown(String),
}

/// A probe's timing (defaults of pkg/apis/core/v1/defaults.go `SetDefaults_Probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `initialDelaySeconds` (0).
    pub initial_delay: Duration,
    /// `periodSeconds` (10).
    pub period: Duration,
    /// `timeoutSeconds` (1).
    pub timeout: Duration,
    /// `successThreshold` (1).
    pub success_threshold: u32,
    /// `failureThreshold` (3).
    pub failure_threshold: u32,
}

impl Timing {
    /// From a probe object.
    pub fn of(probe: &Value) -> Timing {
        let n = |k: &str, d: u64| probe[k].as_u64().filter(|v| *v > 0).unwrap_or(d);
        Timing {
            initial_delay: Duration::from_secs(probe["initialDelaySeconds"].as_u64().unwrap_or(0)),
            period: Duration::from_secs(n("periodSeconds", 10)),
            timeout: Duration::from_secs(n("timeoutSeconds", 1)),
            success_threshold: n("successThreshold", 1) as u32,
            failure_threshold: n("failureThreshold", 3) as u32,
        }
    }
}

/// The state of one probe worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// The current result (`None`: unknown).
    pub result: Option<bool>,
    run_ok: u32,
    run_fail: u32,
}

impl Counter {
    /// A worker's initial result: readiness false, liveness true, startup unknown
    /// (prober/worker.go `newWorker`).
    pub fn new(initial: Option<bool>) -> Counter {
        Counter {
            result: initial,
            run_ok: 0,
            run_fail: 0,
        }
    }

    /// Records an outcome; returns whether the result changed.
    pub fn record(&mut self, outcome: &Outcome, t: &Timing) -> bool {
        let ok = match outcome {
            Outcome::Success => true,
            Outcome::Failure(_) => false,
            Outcome::Unknown(_) => return false,
        };
        if ok {
            self.run_ok += 1;
            self.run_fail = 0;
        } else {
            self.run_fail += 1;
            self.run_ok = 0;
        }
        let new = if ok && self.run_ok >= t.success_threshold {
            Some(true)
        } else if !ok && self.run_fail >= t.failure_threshold {
            Some(false)
        } else {
            self.result
        };
        let changed = new != self.result;
        self.result = new;
        changed
    }
}

/// Resolves a probe's port (a number, or the name of a container port).
pub fn port_of(port: &Value, container: &Value) -> Option<u16> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = port.as_str()?;
    if let Ok(n) = name.parse::<u16>() {
        return Some(n);
    }
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|n| u16::try_from(n).ok())
}

/// Where labsim connects for an address a probe names: pod IPs are mapped onto loopback; other
/// addresses must already be on 127.0.0.0/8 (labsim never leaves loopback).
pub fn connect_addr(ip: Ipv4Addr, slot: u8) -> Result<Ipv4Addr, String> {
    if ip.octets()[0] == 10 && ip.octets()[1] == 244 {
        return crate::net::pod_host_addr(slot, ip).map_err(|e| e.to_string());
    }
    if ip.is_loopback() {
        Ok(ip)
    } else {
        Err(format!(
            "labsim only connects to loopback addresses, not {ip}"
        ))
    }
}

fn dial_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        std::io::ErrorKind::TimedOut => "i/o timeout".into(),
        _ => e.to_string(),
    }
}

/// The kubelet's HTTPS probes skip certificate verification (pkg/probe/http `New` with
/// `InsecureSkipVerify: true`).
fn insecure_tls() -> Option<Arc<rustls::ClientConfig>> {
    crate::pki::tls::insecure_client_config(None).ok()
}

async fn http_exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    request: &[u8],
) -> std::io::Result<Vec<u8>> {
    s.write_all(request).await?;
    let mut buf = vec![0u8; 1024];
    let mut got = Vec::new();
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.windows(2).any(|w| w == b"\r\n") {
            break;
        }
    }
    Ok(got)
}

/// An `httpGet` probe (pkg/probe/http/http.go): 200–399 is success.
#[allow(clippy::too_many_arguments)]
pub async fn http_get(
    shown_host: &str,
    connect: SocketAddr,
    path: &str,
    https: bool,
    headers: &[(String, String)],
    timeout: Duration,
    user_agent: &str,
) -> Outcome {
    let scheme = if https { "https" } else { "http" };
    let port = connect.port();
    let url = format!("{scheme}://{shown_host}:{port}{path}");
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {shown_host}:{port}\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let work = async {
        let tcp = TcpStream::connect(connect).await.map_err(|e| {
            format!(
                "Get {url:?}: dial tcp {shown_host}:{port}: {}",
                dial_error(&e)
            )
        })?;
        let raw = if https {
            let cfg = insecure_tls().ok_or("TLS configuration")?;
            let name = rustls::pki_types::ServerName::IpAddress(connect.ip().into());
            let tls = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("Get {url:?}: {e}"))?;
            http_exchange(tls, req.as_bytes()).await
        } else {
            http_exchange(tcp, req.as_bytes()).await
        }
        .map_err(|e| format!("Get {url:?}: {e}"))?;
        let line = String::from_utf8_lossy(&raw);
        let code: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("Get {url:?}: malformed HTTP response"))?;
        Ok::<u16, String>(code)
    };
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Outcome::Failure(format!(
            "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
        Ok(Err(e)) => Outcome::Failure(e),
        Ok(Ok(code)) if (200..400).contains(&code) => Outcome::Success,
        Ok(Ok(code)) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
    }
}

/// A `tcpSocket` probe (pkg/probe/tcp/tcp.go).
pub async fn tcp(shown_host: &str, connect: SocketAddr, timeout: Duration) -> Outcome {
    let port = connect.port();
    match tokio::time::timeout(timeout, TcpStream::connect(connect)).await {
        Err(_) => Outcome::Failure(format!("dial tcp {shown_host}:{port}: i/o timeout")),
        Ok(Err(e)) => Outcome::Failure(format!("dial tcp {shown_host}:{port}: {}", dial_error(&e))),
        Ok(Ok(_)) => Outcome::Success,
    }
}

/// Runs one probe of `container` in a pod at `pod_ip` (for host-network pods, the node IP).
pub async fn run(probe: &Value, container: &Value, pod_ip: &str, slot: u8, minor: u32) -> Outcome {
    let t = Timing::of(probe);
    let user_agent = format!("kube-probe/1.{minor}");
    let target = |host: Option<&str>| -> Result<(String, Ipv4Addr), String> {
        let shown = host.filter(|h| !h.is_empty()).unwrap_or(pod_ip).to_string();
        let ip: Ipv4Addr = shown
            .parse()
            .map_err(|_| format!("labsim probes connect to IP addresses only, not {shown:?}"))?;
        Ok((shown, connect_addr(ip, slot)?))
    };
    if probe["httpGet"].is_object() {
        let h = &probe["httpGet"];
        let Some(port) = port_of(&h["port"], container) else {
            return Outcome::Unknown(format!("unknown port {}", h["port"]));
        };
        let (shown, ip) = match target(h["host"].as_str()) {
            Ok(x) => x,
            Err(e) => return Outcome::Unknown(e),
        };
        let mut path = h["path"].as_str().unwrap_or("/").to_string();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let headers: Vec<(String, String)> = h["httpHeaders"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                (
                    x["name"].as_str().unwrap_or_default().to_string(),
                    x["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let https = h["scheme"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS"));
        http_get(
            &shown,
            SocketAddr::new(IpAddr::V4(ip), port),
            &path,
            https,
            &headers,
            t.timeout,
            &user_agent,
        )
        .await
    } else if probe["tcpSocket"].is_object() {
        let s = &probe["tcpSocket"];
        let Some(port) = port_of(&s["port"], container) else {
            return Outcome::Unknown(format!("unknown port {}", s["port"]));
        };
        let (shown, ip) = match target(s["host"].as_str()) {
            Ok(x) => x,
            Err(e) => return Outcome::Unknown(e),
        };
        tcp(&shown, SocketAddr::new(IpAddr::V4(ip), port), t.timeout).await
    } else if probe["exec"].is_object() {
        Outcome::Unknown(format!(
            "labsim does not run exec probes (command {}): there is no container to exec into",
            probe["exec"]["command"]
        ))
    } else if probe["grpc"].is_object() {
        Outcome::Unknown("labsim does not run gRPC probes".into())
    } else {
        Outcome::Unknown("the probe has no handler".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds() {
        let t = Timing::of(&json!({"failureThreshold": 2, "successThreshold": 1}));
        let mut live = Counter::new(Some(true));
        assert!(!live.record(&Outcome::Failure("x".into()), &t));
        assert!(live.record(&Outcome::Failure("x".into()), &t));
        assert_eq!(live.result, Some(false));
        assert!(live.record(&Outcome::Success, &t));
        let mut ready = Counter::new(Some(false));
        assert!(!ready.record(&Outcome::Unknown("exec".into()), &t));
        assert_eq!(ready.result, Some(false));
        assert_eq!(Timing::of(&json!({})).period, Duration::from_secs(10));
        assert_eq!(Timing::of(&json!({})).failure_threshold, 3);
    }

    #[test]
    fn ports_and_addresses() {
        let c = json!({"ports": [{"name": "http", "containerPort": 9898}]});
        assert_eq!(port_of(&json!("http"), &c), Some(9898));
        assert_eq!(port_of(&json!(8080), &c), Some(8080));
        assert_eq!(port_of(&json!("nope"), &c), None);
        assert_eq!(
            connect_addr(Ipv4Addr::new(10, 244, 1, 7), 3).unwrap(),
            Ipv4Addr::new(127, 103, 129, 7)
        );
        assert!(connect_addr(Ipv4Addr::new(192, 168, 1, 1), 0).is_err());
    }

    #[tokio::test]
    async fn http_and_tcp_probes() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            for code in [200, 503] {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let n = s.read(&mut buf).await.unwrap();
                assert!(String::from_utf8_lossy(&buf[..n]).contains("User-Agent: kube-probe/1.33"));
                s.write_all(format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await
                    .unwrap();
            }
        });
        let ok = http_get(
            "127.0.0.1",
            addr,
            "/healthz",
            false,
            &[],
            Duration::from_secs(2),
            "kube-probe/1.33",
        )
        .await;
        assert_eq!(ok, Outcome::Success);
        let bad = http_get(
            "127.0.0.1",
            addr,
            "/healthz",
            false,
            &[],
            Duration::from_secs(2),
            "kube-probe/1.33",
        )
        .await;
        assert_eq!(
            bad,
            Outcome::Failure("HTTP probe failed with statuscode: 503".into())
        );
        let closed = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
        assert_eq!(
            tcp("10.244.1.2", closed, Duration::from_secs(1)).await,
            Outcome::Failure("dial tcp 10.244.1.2:1: connect: connection refused".into())
        );
        let refused = http_get(
            "10.244.1.2",
            closed,
            "/",
            false,
            &[],
            Duration::from_secs(1),
            "kube-probe/1.33",
        )
        .await;
        assert_eq!(
            refused,
            Outcome::Failure(
                "Get \"http://10.244.1.2:1/\": dial tcp 10.244.1.2:1: connect: connection refused"
                    .into()
            )
        );
    }
}
