//! Forwarding one request to a backend server, as traefik's reverse proxy does it
//! (pkg/proxy/httputil): the Host header is passed through, hop-by-hop headers are dropped,
//! `X-Forwarded-*` and `X-Real-Ip` are set, the response is streamed back; a backend that cannot
//! be reached or fails answers `502 Bad Gateway` with the body `Bad Gateway`
//! (`ErrorHandler` writes `http.StatusText(code)`).
//!
//! Pod IPs (10.244.N.M) are reached at their mapped loopback address (`net::pod_host_addr`);
//! other loopback addresses (host-network pods) directly; anything else is refused, as labsim
//! never connects beyond 127.0.0.0/8.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::super::http::{Body, respond};
use super::routes::Server;

/// Headers that belong to one connection (RFC 9110 §7.6.1, Go's `hopHeaders`).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Where labsim connects to reach `ip` in the profile of `slot`.
///
/// # Errors
/// A message when the address is not one labsim may connect to.
pub fn connect_ip(slot: Option<u8>, ip: IpAddr) -> Result<IpAddr, String> {
    match ip {
        IpAddr::V4(v4) if v4.octets()[0] == 10 && v4.octets()[1] == 244 => {
            let slot = slot.ok_or("LABSIM_SLOT is not set: cannot map pod IPs onto loopback")?;
            crate::net::pod_host_addr(slot, v4)
                .map(IpAddr::V4)
                .map_err(|e| e.to_string())
        }
        ip if ip.is_loopback() => Ok(ip),
        ip => Err(format!(
            "{ip} is not a pod or node address of labsim: labsim only connects to 127.0.0.0/8"
        )),
    }
}

/// `502 Bad Gateway`, as traefik's proxy error handler answers.
pub fn bad_gateway() -> Response<Body> {
    respond(502, "text/plain; charset=utf-8", "Bad Gateway")
}

fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    let listed: Vec<String> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
    for h in listed {
        if let Ok(name) = HeaderName::from_bytes(h.as_bytes()) {
            headers.remove(name);
        }
    }
}

/// Context of the request being forwarded.
#[derive(Debug, Clone)]
pub struct Forwarding {
    /// The client.
    pub peer: SocketAddr,
    /// The entry point's port (`X-Forwarded-Port`).
    pub entry_port: u16,
    /// traefik's hostname (`X-Forwarded-Server`).
    pub hostname: String,
    /// The profile's slot for pod address mapping.
    pub slot: Option<u8>,
}

/// Forwards `req` to `server`.
pub async fn forward(
    req: Request<Incoming>,
    server: &Server,
    ctx: &Forwarding,
) -> Result<Response<Body>, String> {
    if server.scheme != "http" {
        return Err(format!(
            "labsim: {}:// backends are not implemented",
            server.scheme
        ));
    }
    let ip = connect_ip(ctx.slot, server.ip)?;
    let addr = SocketAddr::new(ip, server.port);
    let stream = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(addr))
        .await
        .map_err(|_| format!("dial tcp {}:{}: i/o timeout", server.ip, server.port))?
        .map_err(|e| format!("dial tcp {}:{}: connect: {e}", server.ip, server.port))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let (mut parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    strip_hop_by_hop(&mut parts.headers);
    let client_ip = ctx.peer.ip().to_string();
    let xff = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prior) if !prior.is_empty() => format!("{prior}, {client_ip}"),
        _ => client_ip.clone(),
    };
    let set = |h: &mut hyper::HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(&mut parts.headers, "x-forwarded-for", &xff);
    set(&mut parts.headers, "x-forwarded-host", &host);
    set(
        &mut parts.headers,
        "x-forwarded-port",
        &ctx.entry_port.to_string(),
    );
    set(&mut parts.headers, "x-forwarded-proto", "http");
    set(&mut parts.headers, "x-forwarded-server", &ctx.hostname);
    set(&mut parts.headers, "x-real-ip", &client_ip);
    if !host.is_empty() {
        set(&mut parts.headers, "host", &host);
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    parts.uri = path.parse().map_err(|e| format!("bad request URI: {e}"))?;
    parts.version = hyper::Version::HTTP_11;
    let out = Request::from_parts(parts, body);
    let resp = sender.send_request(out).await.map_err(|e| e.to_string())?;
    let (mut rparts, rbody) = resp.into_parts();
    strip_hop_by_hop(&mut rparts.headers);
    Ok(Response::from_parts(rparts, rbody.boxed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_ips_map_onto_loopback_and_nothing_else_is_reached() {
        let pod: IpAddr = "10.244.2.7".parse().unwrap();
        assert_eq!(
            connect_ip(Some(3), pod).unwrap(),
            "127.103.130.7".parse::<IpAddr>().unwrap()
        );
        assert!(connect_ip(None, pod).is_err());
        let node: IpAddr = "127.103.49.3".parse().unwrap();
        assert_eq!(connect_ip(Some(3), node).unwrap(), node);
        assert!(connect_ip(Some(3), "192.168.49.2".parse().unwrap()).is_err());
        assert!(connect_ip(Some(3), "10.96.0.1".parse().unwrap()).is_err());
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut h = hyper::HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }
}
