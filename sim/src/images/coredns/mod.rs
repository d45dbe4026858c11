//! CoreDNS as kubeadm deploys it (`/coredns -conf /etc/coredns/Corefile`, the `coredns`
//! ConfigMap mounted at `/etc/coredns`).
//!
//! - Flags as CoreDNS registers them on Go's `flag` (`-conf`, `-dns.port`, `-pidfile`, `-plugins`,
//!   `-quiet`, `-version`); an unknown one prints `flag provided but not defined: -x`, the usage,
//!   and exits 2.
//! - The Corefile is read through the container's mounts and parsed as Caddyfile server blocks;
//!   `[INFO] plugin/reload: Running configuration SHA512 = …` is the SHA-512 of the parsed blocks'
//!   JSON, as CoreDNS computes it (plugin/reload/reload.go `parse` + `json.Marshal`), so the same
//!   Corefile gives the same hash as on a real cluster.
//! - Startup output: `maxprocs: …` (CoreDNS ≥ 1.12), each server's `zone:port`, the reload line,
//!   `CoreDNS-<version>` and `linux/<arch>, <go>, <commit>`.
//! - Plugins: `kubernetes` (A records of Services' ClusterIPs, of ready endpoints for headless
//!   Services, CNAME for ExternalName, `a-b-c-d.<ns>.pod` with `pods insecure`, PTR of ClusterIPs,
//!   SOA/NXDOMAIN as CoreDNS answers, from Services and EndpointSlices it lists and watches; it
//!   waits up to 5 s for that sync before serving, as CoreDNS does), `health` (`:8080/health`,
//!   lameduck on shutdown), `ready` (`:8181/ready`, 200 once the kubernetes plugin synced, else 503
//!   and `Still waiting on: "kubernetes"`), `errors`, `log`. `forward` has no upstream on labsim:
//!   names outside the cluster zones get SERVFAIL and an `[ERROR] plugin/errors` line. `cache`,
//!   `loop`, `loadbalance` and `reload` change nothing here (reload does not re-read the
//!   Corefile); `prometheus` does not listen; other plugins are refused or reported as not
//!   implemented.
//! - DNS is served on UDP and TCP at `LABSIM_BIND_IP`, port 53 unless the server block says
//!   otherwise.

pub mod dns;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::catalog::{ImageSpec, normalize};
use super::contract::ContainerEnv;
use super::http::{HttpServer, go_not_found, respond};
use super::log::stdout;
use crate::client::{ListParams, Reflector, ReflectorStore, path};
use crate::gocli::{FlagError, Kind, flag, go_usage, parse_go};
use dns::{Answer, Query, RData, Record, rcode, rtype};

const FLAGS: &[crate::gocli::FlagDef] = &[
    flag(
        "conf",
        Kind::Str,
        "",
        "Corefile to load (default \"Corefile\")",
    ),
    flag("dns.port", Kind::Str, "53", "Default port"),
    flag("pidfile", Kind::Str, "", "Path to write pid file"),
    flag("plugins", Kind::Bool, "false", "List installed plugins"),
    flag(
        "quiet",
        Kind::Bool,
        "false",
        "Quiet mode (no initialization output)",
    ),
    flag("version", Kind::Bool, "false", "Show version"),
];

/// One token of a Corefile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// 1-based line.
    pub line: usize,
    /// Text.
    pub text: String,
}

/// A directive (plugin) of a server block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Plugin name.
    pub name: String,
    /// Arguments on the directive's line.
    pub args: Vec<String>,
    /// Lines of its block (each a list of words).
    pub block: Vec<Vec<String>>,
    /// Every token of the directive, block included.
    pub tokens: Vec<Token>,
}

/// A server block: keys (`.:53`) and directives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBlock {
    /// Keys.
    pub keys: Vec<String>,
    /// Directives in order.
    pub directives: Vec<Directive>,
}

/// A Corefile CoreDNS would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorefileError {
    /// Syntax error.
    #[error("{file}:{line} - Error during parsing: {msg}")]
    Syntax {
        /// File.
        file: String,
        /// Line.
        line: usize,
        /// What is wrong.
        msg: String,
    },
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut out = vec![];
    for (i, raw) in text.lines().enumerate() {
        let mut chars = raw.chars().peekable();
        let mut cur = String::new();
        let mut quoted = false;
        let mut had_quote = false;
        while let Some(c) = chars.next() {
            if quoted {
                match c {
                    '\\' if chars.peek() == Some(&'"') => {
                        cur.push('"');
                        chars.next();
                    }
                    '"' => quoted = false,
                    c => cur.push(c),
                }
                continue;
            }
            match c {
                '"' => {
                    quoted = true;
                    had_quote = true;
                }
                '#' if cur.is_empty() && !had_quote => break,
                c if c.is_whitespace() => {
                    if !cur.is_empty() || had_quote {
                        out.push(Token {
                            line: i + 1,
                            text: std::mem::take(&mut cur),
                        });
                        had_quote = false;
                    }
                }
                c => cur.push(c),
            }
        }
        if !cur.is_empty() || had_quote {
            out.push(Token {
                line: i + 1,
                text: cur,
            });
        }
    }
    out
}

/// Parses a Corefile into server blocks (Caddyfile syntax).
///
/// # Errors
/// [`CorefileError`] for unbalanced braces and blocks without keys.
pub fn parse_corefile(file: &str, text: &str) -> Result<Vec<ServerBlock>, CorefileError> {
    let toks = tokenize(text);
    let err = |line: usize, msg: String| CorefileError::Syntax {
        file: file.to_string(),
        line,
        msg,
    };
    let mut blocks = vec![];
    let mut i = 0;
    while i < toks.len() {
        let mut keys = vec![];
        while i < toks.len() && toks[i].text != "{" {
            keys.push(toks[i].text.trim_end_matches(',').to_string());
            i += 1;
        }
        if i >= toks.len() {
            return Err(err(
                toks.last().map(|t| t.line).unwrap_or(1),
                "Unexpected EOF".into(),
            ));
        }
        if keys.is_empty() {
            return Err(err(toks[i].line, "Unexpected '{'".into()));
        }
        i += 1;
        let mut directives: Vec<Directive> = vec![];
        loop {
            let Some(t) = toks.get(i) else {
                return Err(err(
                    toks.last().map(|t| t.line).unwrap_or(1),
                    "Unexpected EOF".into(),
                ));
            };
            if t.text == "}" {
                i += 1;
                break;
            }
            let start = i;
            let line = t.line;
            let name = t.text.clone();
            i += 1;
            let mut args = vec![];
            let mut block: Vec<Vec<String>> = vec![];
            while let Some(t) = toks.get(i) {
                if t.line != line || t.text == "}" {
                    break;
                }
                if t.text == "{" {
                    i += 1;
                    let mut depth = 1;
                    let mut cur_line = 0;
                    while depth > 0 {
                        let Some(b) = toks.get(i) else {
                            return Err(err(line, "Unexpected EOF".into()));
                        };
                        match b.text.as_str() {
                            "{" => depth += 1,
                            "}" => depth -= 1,
                            _ => {}
                        }
                        if depth > 0 {
                            if b.line != cur_line || block.is_empty() {
                                block.push(vec![]);
                                cur_line = b.line;
                            }
                            block.last_mut().expect("pushed").push(b.text.clone());
                        }
                        i += 1;
                    }
                    break;
                }
                args.push(t.text.clone());
                i += 1;
            }
            let tokens = toks[start..i].to_vec();
            match directives.iter_mut().find(|d| d.name == name) {
                Some(d) => d.tokens.extend(tokens),
                None => directives.push(Directive {
                    name,
                    args,
                    block,
                    tokens,
                }),
            }
        }
        blocks.push(ServerBlock { keys, directives });
    }
    Ok(blocks)
}

/// The reload plugin's configuration digest: SHA-512 of `json.Marshal` of the server blocks,
/// tokens grouped by directive (map keys sorted), `File` empty, as CoreDNS' reload parse gives.
pub fn config_sha512(blocks: &[ServerBlock]) -> String {
    let mut json = String::from("[");
    for (bi, b) in blocks.iter().enumerate() {
        if bi > 0 {
            json.push(',');
        }
        json.push_str("{\"Keys\":[");
        json.push_str(
            &b.keys
                .iter()
                .map(|k| crate::cli::gofmt::go_json_string(k))
                .collect::<Vec<_>>()
                .join(","),
        );
        json.push_str("],\"Tokens\":{");
        let mut by_name: BTreeMap<&str, &Directive> = BTreeMap::new();
        for d in &b.directives {
            by_name.insert(&d.name, d);
        }
        let mut first = true;
        for (name, d) in by_name {
            if !first {
                json.push(',');
            }
            first = false;
            json.push_str(&crate::cli::gofmt::go_json_string(name));
            json.push_str(":[");
            json.push_str(
                &d.tokens
                    .iter()
                    .map(|t| {
                        format!(
                            "{{\"File\":\"\",\"Line\":{},\"Text\":{}}}",
                            t.line,
                            crate::cli::gofmt::go_json_string(&t.text)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            );
            json.push(']');
        }
        json.push_str("}}");
    }
    json.push(']');
    let d = ring::digest::digest(&ring::digest::SHA512, json.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What a CoreDNS build reports: (Go version, git commit).
pub fn build_of(version: &str) -> (&'static str, &'static str) {
    match version {
        "1.9.3" => ("go1.18.2", "45b0a11"),
        "1.10.1" => ("go1.20", "055b2c3"),
        "1.11.1" => ("go1.20.7", "ae2bbc2"),
        "1.11.3" => ("go1.21.11", "a6338e9"),
        "1.12.0" => ("go1.23.3", "51e11f1"),
        "1.12.1" => ("go1.24.1", "707c7c1"),
        _ => ("go1.24.1", ""),
    }
}

/// The kubernetes plugin's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeSettings {
    /// Zones with trailing dots (`cluster.local.`, `in-addr.arpa.`, `ip6.arpa.`).
    pub zones: Vec<String>,
    /// `ttl` (default 5).
    pub ttl: u32,
    /// `pods insecure`.
    pub pods_insecure: bool,
}

impl KubeSettings {
    fn from_directive(d: &Directive) -> KubeSettings {
        let mut zones: Vec<String> = d
            .args
            .iter()
            .map(|z| format!("{}.", z.trim_end_matches('.').to_ascii_lowercase()))
            .collect();
        if zones.is_empty() {
            zones.push("cluster.local.".into());
        }
        let mut s = KubeSettings {
            zones,
            ttl: 5,
            pods_insecure: false,
        };
        for line in &d.block {
            match line.first().map(String::as_str) {
                Some("ttl") => s.ttl = line.get(1).and_then(|t| t.parse().ok()).unwrap_or(5),
                Some("pods") => {
                    s.pods_insecure = line.get(1).map(String::as_str) == Some("insecure")
                }
                _ => {}
            }
        }
        s
    }
}

/// What the kubernetes plugin knows.
#[derive(Debug, Clone, Default)]
pub struct KubeData {
    /// Services.
    pub services: Vec<Value>,
    /// EndpointSlices.
    pub slices: Vec<Value>,
    /// SOA serial (last change, Unix seconds).
    pub serial: u32,
}

fn soa(zone: &str, ttl: u32, serial: u32) -> Record {
    Record {
        name: zone.to_string(),
        ttl,
        data: RData::Soa(
            format!("ns.dns.{zone}"),
            format!("hostmaster.{zone}"),
            serial,
            7200,
            1800,
            86400,
            ttl,
        ),
    }
}

fn sv<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// Answers `q` from the kubernetes plugin's data, or `None` when the name is not in its zones (or
/// a reverse name it falls through on).
pub fn resolve(k: &KubeSettings, data: &KubeData, q: &Query) -> Option<Answer> {
    let zone = k
        .zones
        .iter()
        .filter(|z| q.name == **z || q.name.ends_with(&format!(".{z}")))
        .max_by_key(|z| z.len())?;
    let rel = q.name[..q.name.len() - zone.len()].trim_end_matches('.');
    let nodata = || Answer {
        rcode: rcode::NOERROR,
        aa: true,
        answers: vec![],
        authority: vec![soa(zone, k.ttl, data.serial)],
    };
    let nx = || Answer {
        rcode: rcode::NXDOMAIN,
        ..nodata()
    };
    let ok = |answers: Vec<Record>| Answer {
        rcode: rcode::NOERROR,
        aa: true,
        answers,
        authority: vec![],
    };
    if zone.ends_with("in-addr.arpa.") || zone.ends_with("ip6.arpa.") {
        // Reverse lookups of ClusterIPs; anything else falls through.
        let octets: Vec<&str> = rel.split('.').collect();
        if octets.len() != 4 || q.qtype != rtype::PTR && q.qtype != rtype::ANY {
            return None;
        }
        let ip = format!("{}.{}.{}.{}", octets[3], octets[2], octets[1], octets[0]);
        let svc = data
            .services
            .iter()
            .find(|s| sv(s, "/spec/clusterIP") == ip)?;
        let fwd = k.zones.iter().find(|z| !z.ends_with(".arpa."))?;
        return Some(ok(vec![Record {
            name: q.name.clone(),
            ttl: k.ttl,
            data: RData::Ptr(format!(
                "{}.{}.svc.{fwd}",
                sv(svc, "/metadata/name"),
                sv(svc, "/metadata/namespace")
            )),
        }]));
    }
    if rel.is_empty() {
        return Some(match q.qtype {
            rtype::SOA => ok(vec![soa(zone, k.ttl, data.serial)]),
            _ => nodata(),
        });
    }
    let labels: Vec<&str> = rel.split('.').collect();
    let in_ns = |ns: &str| {
        data.services
            .iter()
            .any(|s| sv(s, "/metadata/namespace") == ns)
    };
    match labels.as_slice() {
        ["svc"] => Some(nodata()),
        [ns, "svc"] => Some(if in_ns(ns) { nodata() } else { nx() }),
        [name, ns, "svc"] => {
            let Some(svc) = data
                .services
                .iter()
                .find(|s| sv(s, "/metadata/name") == *name && sv(s, "/metadata/namespace") == *ns)
            else {
                return Some(nx());
            };
            if q.qtype != rtype::A && q.qtype != rtype::ANY {
                return Some(nodata());
            }
            let rec = |data: RData| Record {
                name: q.name.clone(),
                ttl: k.ttl,
                data,
            };
            if sv(svc, "/spec/type") == "ExternalName" {
                let target = format!("{}.", sv(svc, "/spec/externalName").trim_end_matches('.'));
                return Some(ok(vec![rec(RData::Cname(target))]));
            }
            let cluster_ip = sv(svc, "/spec/clusterIP");
            if !cluster_ip.is_empty() && cluster_ip != "None" {
                return Some(match cluster_ip.parse::<Ipv4Addr>() {
                    Ok(ip) => ok(vec![rec(RData::A(ip))]),
                    Err(_) => nodata(),
                });
            }
            let mut ips: Vec<Ipv4Addr> = vec![];
            for slice in data.slices.iter().filter(|e| {
                sv(e, "/metadata/namespace") == *ns
                    && sv(e, "/metadata/labels/kubernetes.io~1service-name") == *name
            }) {
                for ep in slice["endpoints"].as_array().into_iter().flatten() {
                    if ep.pointer("/conditions/ready").and_then(Value::as_bool) == Some(false) {
                        continue;
                    }
                    for a in ep["addresses"].as_array().into_iter().flatten() {
                        if let Some(ip) = a.as_str().and_then(|a| a.parse().ok())
                            && !ips.contains(&ip)
                        {
                            ips.push(ip);
                        }
                    }
                }
            }
            Some(if ips.is_empty() {
                nodata()
            } else {
                ok(ips.into_iter().map(|ip| rec(RData::A(ip))).collect())
            })
        }
        [ip, _ns, "pod"] if k.pods_insecure => {
            let dotted = ip.replace('-', ".");
            match dotted.parse::<Ipv4Addr>() {
                Ok(addr) if q.qtype == rtype::A || q.qtype == rtype::ANY => {
                    Some(ok(vec![Record {
                        name: q.name.clone(),
                        ttl: k.ttl,
                        data: RData::A(addr),
                    }]))
                }
                Ok(_) => Some(nodata()),
                Err(_) => Some(nx()),
            }
        }
        _ => Some(nx()),
    }
}

struct Server {
    kube: Option<KubeSettings>,
    services: Option<ReflectorStore>,
    slices: Option<ReflectorStore>,
    synced: AtomicBool,
    log_queries: bool,
    log_errors: bool,
    serial: std::sync::Mutex<((usize, usize, u64), u32)>,
}

impl Server {
    fn data(&self) -> KubeData {
        let services = self
            .services
            .as_ref()
            .map(ReflectorStore::list)
            .unwrap_or_default();
        let slices = self
            .slices
            .as_ref()
            .map(ReflectorStore::list)
            .unwrap_or_default();
        let newest = services
            .iter()
            .chain(&slices)
            .filter_map(|v| sv(v, "/metadata/resourceVersion").parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let fingerprint = (services.len(), slices.len(), newest);
        let serial = {
            let mut s = self.serial.lock().expect("serial lock");
            if s.0 != fingerprint {
                *s = (fingerprint, jiff::Timestamp::now().as_second() as u32);
            }
            s.1
        };
        KubeData {
            services,
            slices,
            serial,
        }
    }

    fn answer(&self, q: &Query) -> (Answer, Option<String>) {
        if q.qclass != 1 {
            return (
                Answer {
                    rcode: rcode::NOTIMP,
                    aa: false,
                    answers: vec![],
                    authority: vec![],
                },
                None,
            );
        }
        if let Some(k) = &self.kube
            && let Some(a) = resolve(k, &self.data(), q)
        {
            return (a, None);
        }
        (
            Answer {
                rcode: rcode::SERVFAIL,
                aa: false,
                answers: vec![],
                authority: vec![],
            },
            Some(
                "labsim: no upstream resolver (forward is not implemented: labsim never leaves loopback)"
                    .into(),
            ),
        )
    }

    fn respond(&self, msg: &[u8], peer: SocketAddr, proto: &str) -> Option<Vec<u8>> {
        let started = Instant::now();
        let q = Query::parse(msg)?;
        let (a, err) = self.answer(&q);
        let out = dns::encode(&q, &a);
        if self.log_errors
            && let Some(e) = err
        {
            stdout(&format!(
                "[ERROR] plugin/errors: {} {} {}: {e}",
                a.rcode,
                q.name,
                dns::type_name(q.qtype)
            ));
        }
        if self.log_queries {
            let mut flags = vec!["qr"];
            if a.aa {
                flags.push("aa");
            }
            if q.rd {
                flags.push("rd");
            }
            stdout(&format!(
                "[INFO] {}:{} - {} \"{} IN {} {proto} {} false {}\" {} {} {} {:.9}s",
                peer.ip(),
                peer.port(),
                q.id,
                dns::type_name(q.qtype),
                q.name,
                msg.len(),
                q.edns.unwrap_or(512),
                dns::rcode_name(a.rcode),
                flags.join(","),
                out.len(),
                started.elapsed().as_secs_f64()
            ));
        }
        Some(out)
    }
}

/// Runs CoreDNS.
pub fn main(argv: &[String], env: &ContainerEnv, image: &ImageSpec) -> ExitCode {
    let prog = argv.first().map(String::as_str).unwrap_or("/coredns");
    let p = match parse_go(FLAGS, argv.get(1..).unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => {
            if e != FlagError::Help {
                eprintln!("{e}");
            }
            eprint!("Usage of {prog}:\n{}", go_usage(FLAGS));
            return ExitCode::from(if e == FlagError::Help { 0 } else { 2 });
        }
    };
    let version = image.version();
    let (go, commit) = build_of(&version);
    let banner = format!(
        "CoreDNS-{version}\nlinux/{}, {go}, {commit}",
        super::podinfo::goarch()
    );
    if p.bool("version") {
        println!("{banner}");
        return ExitCode::SUCCESS;
    }
    if p.bool("plugins") {
        println!(
            "Server types:\n  dns\n\nCaddyfile loaders:\n  flag\n  default\n\nOther plugins:\n  dns.errors\n  dns.forward\n  dns.health\n  dns.kubernetes\n  dns.log\n  dns.ready\n  dns.reload"
        );
        return ExitCode::SUCCESS;
    }
    let conf = if p.get("conf").is_empty() {
        "Corefile".to_string()
    } else {
        p.get("conf")
    };
    let container_path = normalize("/", &conf);
    let text = match env.read(&container_path) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) => {
            stdout(&format!("[FATAL] {e}"));
            return ExitCode::from(1);
        }
    };
    let blocks = match parse_corefile(&conf, &text) {
        Ok(b) => b,
        Err(e) => {
            stdout(&format!("[FATAL] {e}"));
            return ExitCode::from(1);
        }
    };
    let minor_12 = version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= 12);
    super::http::runtime().block_on(run(
        blocks,
        p.get("dns.port"),
        p.bool("quiet"),
        banner,
        minor_12,
        env.clone(),
    ))
}

const KNOWN: &[&str] = &[
    "errors",
    "health",
    "ready",
    "kubernetes",
    "forward",
    "cache",
    "loop",
    "reload",
    "loadbalance",
    "log",
    "prometheus",
    "hosts",
    "rewrite",
    "template",
    "whoami",
    "bind",
    "debug",
    "trace",
    "acl",
    "any",
    "autopath",
    "chaos",
    "dnssec",
    "erratic",
    "file",
    "k8s_external",
    "local",
    "metadata",
    "minimal",
    "nsid",
    "pprof",
    "root",
    "secondary",
    "sign",
    "timeouts",
    "tls",
    "transfer",
    "view",
    "dns64",
    "header",
    "import",
    "cancel",
    "geoip",
    "grpc",
    "etcd",
    "clouddns",
    "route53",
    "azure",
];

fn addr_of(arg: Option<&String>, default_port: u16, ip: IpAddr) -> SocketAddr {
    let port = arg
        .and_then(|a| a.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
        .unwrap_or(default_port);
    SocketAddr::new(ip, port)
}

async fn run(
    blocks: Vec<ServerBlock>,
    default_port: String,
    quiet: bool,
    banner: String,
    maxprocs: bool,
    env: ContainerEnv,
) -> ExitCode {
    let bind_ip = match env.bind_ip() {
        Ok(ip) => ip,
        Err(e) => {
            stdout(&format!("[FATAL] {e}"));
            return ExitCode::from(1);
        }
    };
    if maxprocs {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        eprintln!("maxprocs: Leaving GOMAXPROCS={n}: CPU quota undefined");
    }
    let mut dns_servers = vec![];
    let mut http_servers = vec![];
    let mut lameduck = Duration::ZERO;
    let mut reload = false;
    let mut addresses = vec![];
    for b in &blocks {
        for d in &b.directives {
            if !KNOWN.contains(&d.name.as_str()) {
                stdout(&format!(
                    "[FATAL] Corefile:{} - Error during parsing: Unknown directive '{}'",
                    d.tokens.first().map(|t| t.line).unwrap_or(0),
                    d.name
                ));
                return ExitCode::from(1);
            }
        }
        let find = |n: &str| b.directives.iter().find(|d| d.name == n);
        let kube = find("kubernetes").map(KubeSettings::from_directive);
        let (services, slices) = if kube.is_some() {
            match env.kube_client("coredns/v1.12 (linux/amd64) kubernetes/dns") {
                Ok(client) => {
                    let rs = Reflector::new(
                        client.clone(),
                        path("", "v1", "services", None, None),
                        ListParams::default(),
                    );
                    let re = Reflector::new(
                        client,
                        path("discovery.k8s.io", "v1", "endpointslices", None, None),
                        ListParams::default(),
                    );
                    let (s1, s2) = (rs.store(), re.store());
                    tokio::spawn(rs.run());
                    tokio::spawn(re.run());
                    (Some(s1), Some(s2))
                }
                Err(e) => {
                    stdout(&format!("[FATAL] plugin/kubernetes: {e}"));
                    return ExitCode::from(1);
                }
            }
        } else {
            (None, None)
        };
        for d in &b.directives {
            match d.name.as_str() {
                "errors" | "health" | "ready" | "kubernetes" | "log" | "cache" | "loop"
                | "loadbalance" => {}
                "reload" => reload = true,
                "forward" => stdout(
                    "[WARNING] labsim: plugin/forward has no upstream on labsim: names outside the cluster zones get SERVFAIL",
                ),
                "prometheus" => stdout(&format!(
                    "[WARNING] labsim: plugin/prometheus is not implemented: nothing listens on {}",
                    d.args.first().map(String::as_str).unwrap_or(":9153")
                )),
                other => stdout(&format!(
                    "[WARNING] labsim: plugin/{other} is not implemented"
                )),
            }
        }
        let server = Arc::new(Server {
            synced: AtomicBool::new(kube.is_none()),
            kube,
            services,
            slices,
            log_queries: find("log").is_some(),
            log_errors: find("errors").is_some(),
            serial: std::sync::Mutex::new(((usize::MAX, 0, 0), 0)),
        });
        if let (Some(s1), Some(s2)) = (&server.services, &server.slices) {
            // plugin/kubernetes: wait up to 5 s for the API before serving.
            let wait = async {
                s1.wait_ready().await;
                s2.wait_ready().await;
            };
            tokio::pin!(wait);
            let deadline = tokio::time::sleep(Duration::from_secs(5));
            tokio::pin!(deadline);
            let note = tokio::time::sleep(Duration::from_millis(500));
            tokio::pin!(note);
            let mut noted = false;
            loop {
                tokio::select! {
                    _ = &mut wait => { server.synced.store(true, Ordering::SeqCst); break; }
                    _ = &mut note, if !noted => {
                        noted = true;
                        stdout("[INFO] plugin/kubernetes: waiting for Kubernetes API before starting server");
                    }
                    _ = &mut deadline => {
                        stdout("[WARNING] plugin/kubernetes: starting server with unsynced Kubernetes API");
                        let srv = server.clone();
                        let (a, b) = (s1.clone(), s2.clone());
                        tokio::spawn(async move {
                            a.wait_ready().await;
                            b.wait_ready().await;
                            srv.synced.store(true, Ordering::SeqCst);
                        });
                        break;
                    }
                }
            }
        }
        if let Some(h) = find("health") {
            let addr = addr_of(h.args.first(), 8080, bind_ip);
            for l in &h.block {
                if l.first().map(String::as_str) == Some("lameduck") {
                    lameduck = l
                        .get(1)
                        .and_then(|d| crate::gocli::parse_duration(d))
                        .map(Duration::from_secs_f64)
                        .unwrap_or_default();
                }
            }
            match HttpServer::bind(addr, |req, _| async move {
                if req.uri().path() == "/health" {
                    respond(200, "text/plain; charset=utf-8", "OK")
                } else {
                    go_not_found()
                }
            })
            .await
            {
                Ok(s) => http_servers.push(s),
                Err(e) => {
                    stdout(&format!(
                        "[FATAL] plugin/health: listen tcp {addr}: bind: {e}"
                    ));
                    return ExitCode::from(1);
                }
            }
        }
        if let Some(r) = find("ready") {
            let addr = addr_of(r.args.first(), 8181, bind_ip);
            let srv = server.clone();
            match HttpServer::bind(addr, move |req, _| {
                let srv = srv.clone();
                async move {
                    if req.uri().path() != "/ready" {
                        return go_not_found();
                    }
                    if srv.synced.load(Ordering::SeqCst) {
                        respond(200, "text/plain; charset=utf-8", "OK")
                    } else {
                        stdout("[INFO] plugin/ready: Still waiting on: \"kubernetes\"");
                        respond(503, "text/plain; charset=utf-8", "kubernetes")
                    }
                }
            })
            .await
            {
                Ok(s) => http_servers.push(s),
                Err(e) => {
                    stdout(&format!(
                        "[FATAL] plugin/ready: listen tcp {addr}: bind: {e}"
                    ));
                    return ExitCode::from(1);
                }
            }
        }
        for key in &b.keys {
            let k = key.trim_start_matches("dns://");
            let (zone, port) = match k.rsplit_once(':') {
                Some((z, p)) => (z.to_string(), p.to_string()),
                None => (k.to_string(), default_port.clone()),
            };
            let zone = if zone == "." || zone.ends_with('.') {
                zone
            } else {
                format!("{zone}.")
            };
            let Ok(port) = port.parse::<u16>() else {
                stdout(&format!("[FATAL] invalid port in server block key {key}"));
                return ExitCode::from(1);
            };
            addresses.push(format!("{zone}:{port}"));
            let addr = SocketAddr::new(bind_ip, port);
            if dns_servers
                .iter()
                .any(|(a, _): &(SocketAddr, _)| *a == addr)
            {
                continue;
            }
            match serve_dns(addr, server.clone()).await {
                Ok(h) => dns_servers.push((addr, h)),
                Err(e) => {
                    stdout(&format!("[FATAL] listen tcp {addr}: bind: {e}"));
                    return ExitCode::from(1);
                }
            }
        }
    }
    if !quiet {
        for a in &addresses {
            stdout(a);
        }
    }
    if reload {
        stdout(&format!(
            "[INFO] plugin/reload: Running configuration SHA512 = {}",
            config_sha512(&blocks)
        ));
    }
    if !quiet {
        stdout(&banner);
    }
    let sig = super::http::termination().await;
    let name = if sig == "interrupt" {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    stdout(&format!(
        "[INFO] {name}: Shutting down servers then terminating"
    ));
    if !lameduck.is_zero() {
        stdout(&format!(
            "[INFO] plugin/health: Going into lameduck mode for {}s",
            lameduck.as_secs()
        ));
        tokio::time::sleep(lameduck).await;
    }
    for (_, h) in dns_servers {
        h.abort();
    }
    for s in http_servers {
        s.shutdown(Duration::from_secs(1)).await;
    }
    ExitCode::SUCCESS
}

async fn serve_dns(
    addr: SocketAddr,
    server: Arc<Server>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let udp = UdpSocket::bind(addr).await?;
    let tcp = TcpListener::bind(addr).await?;
    let srv = server.clone();
    let udp_task = async move {
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                continue;
            };
            if let Some(out) = srv.respond(&buf[..n], peer, "udp") {
                let _ = udp.send_to(&out, peer).await;
            }
        }
    };
    let tcp_task = async move {
        loop {
            let Ok((mut stream, peer)) = tcp.accept().await else {
                continue;
            };
            let srv = server.clone();
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 2];
                    if stream.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
                    if stream.read_exact(&mut msg).await.is_err() {
                        return;
                    }
                    let Some(out) = srv.respond(&msg, peer, "tcp") else {
                        return;
                    };
                    let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&out);
                    if stream.write_all(&framed).await.is_err() {
                        return;
                    }
                }
            });
        }
    };
    Ok(tokio::spawn(async move {
        tokio::join!(udp_task, tcp_task);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// kubeadm's CoreDNS ConfigMap (cmd/kubeadm/app/phases/addons/dns/manifests.go).
    const KUBEADM_COREFILE: &str = ".:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
";

    #[test]
    fn the_reload_hash_of_kubeadm_s_corefile_is_coredns_own() {
        let blocks = parse_corefile("/etc/coredns/Corefile", KUBEADM_COREFILE).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].keys, [".:53"]);
        // What real CoreDNS 1.9–1.11 logs for this Corefile on kubeadm clusters.
        assert_eq!(
            config_sha512(&blocks),
            "591cf328cccc12bc490481273e738df59329c62c0b729d94e8b61db9961c2fa5f046dd37f1cf888b953814040d180f52594972691cd6ff41be96639138a43908"
        );
        let k = KubeSettings::from_directive(
            blocks[0]
                .directives
                .iter()
                .find(|d| d.name == "kubernetes")
                .unwrap(),
        );
        assert_eq!(k.zones, ["cluster.local.", "in-addr.arpa.", "ip6.arpa."]);
        assert_eq!(k.ttl, 30);
        assert!(k.pods_insecure);
    }

    #[test]
    fn corefile_syntax_errors() {
        assert!(parse_corefile("Corefile", ".:53 {\n errors\n").is_err());
        assert!(parse_corefile("Corefile", "{ errors }").is_err());
        let b = parse_corefile(
            "Corefile",
            "# comment\nexample.org:1053 {\n  whoami # trailing\n}\n.:53 {\n log\n}\n",
        )
        .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].directives[0].name, "whoami");
        assert_eq!(b[0].directives[0].args.len(), 0);
    }

    fn q(name: &str, qtype: u16) -> Query {
        Query {
            id: 1,
            opcode: 0,
            rd: true,
            name: name.into(),
            qtype,
            qclass: 1,
            edns: None,
        }
    }

    fn data() -> KubeData {
        KubeData {
            services: vec![
                json!({"metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {"clusterIP": "10.96.0.1"}}),
                json!({"metadata": {"name": "hello", "namespace": "default"}, "spec": {"clusterIP": "10.100.7.9"}}),
                json!({"metadata": {"name": "db", "namespace": "apps"}, "spec": {"clusterIP": "None"}}),
                json!({"metadata": {"name": "ext", "namespace": "apps"}, "spec": {"type": "ExternalName", "externalName": "example.com"}}),
            ],
            slices: vec![
                json!({"metadata": {"name": "db-x", "namespace": "apps", "labels": {"kubernetes.io/service-name": "db"}},
                "endpoints": [{"addresses": ["10.244.1.4"], "conditions": {"ready": true}},
                              {"addresses": ["10.244.2.4"], "conditions": {"ready": false}}]}),
            ],
            serial: 1700000000,
        }
    }

    fn settings() -> KubeSettings {
        KubeSettings {
            zones: vec![
                "cluster.local.".into(),
                "in-addr.arpa.".into(),
                "ip6.arpa.".into(),
            ],
            ttl: 30,
            pods_insecure: true,
        }
    }

    #[test]
    fn cluster_names_resolve_as_coredns_answers_them() {
        let k = settings();
        let d = data();
        let a = resolve(&k, &d, &q("hello.default.svc.cluster.local.", rtype::A)).unwrap();
        assert_eq!(a.rcode, rcode::NOERROR);
        assert!(a.aa);
        assert_eq!(a.answers[0].data, RData::A("10.100.7.9".parse().unwrap()));
        assert_eq!(a.answers[0].ttl, 30);
        let a = resolve(&k, &d, &q("db.apps.svc.cluster.local.", rtype::A)).unwrap();
        assert_eq!(a.answers.len(), 1, "headless: ready endpoints only");
        let a = resolve(&k, &d, &q("ext.apps.svc.cluster.local.", rtype::A)).unwrap();
        assert_eq!(a.answers[0].data, RData::Cname("example.com.".into()));
        let a = resolve(&k, &d, &q("nope.default.svc.cluster.local.", rtype::A)).unwrap();
        assert_eq!(a.rcode, rcode::NXDOMAIN);
        assert!(matches!(a.authority[0].data, RData::Soa(..)));
        let a = resolve(&k, &d, &q("hello.default.svc.cluster.local.", rtype::AAAA)).unwrap();
        assert_eq!((a.rcode, a.answers.len()), (rcode::NOERROR, 0));
        let a = resolve(&k, &d, &q("10-244-1-4.apps.pod.cluster.local.", rtype::A)).unwrap();
        assert_eq!(a.answers[0].data, RData::A("10.244.1.4".parse().unwrap()));
        let a = resolve(&k, &d, &q("1.0.96.10.in-addr.arpa.", rtype::PTR)).unwrap();
        assert_eq!(
            a.answers[0].data,
            RData::Ptr("kubernetes.default.svc.cluster.local.".into())
        );
        assert!(
            resolve(&k, &d, &q("9.9.9.9.in-addr.arpa.", rtype::PTR)).is_none(),
            "falls through"
        );
        assert!(
            resolve(&k, &d, &q("example.com.", rtype::A)).is_none(),
            "not our zone"
        );
        let a = resolve(&k, &d, &q("cluster.local.", rtype::SOA)).unwrap();
        assert!(
            matches!(&a.answers[0].data, RData::Soa(m, _, 1700000000, 7200, 1800, 86400, 30) if m == "ns.dns.cluster.local.")
        );
        let a = resolve(&k, &d, &q("default.svc.cluster.local.", rtype::A)).unwrap();
        assert_eq!((a.rcode, a.answers.len()), (rcode::NOERROR, 0));
        let a = resolve(&k, &d, &q("nons.svc.cluster.local.", rtype::A)).unwrap();
        assert_eq!(a.rcode, rcode::NXDOMAIN);
    }

    #[test]
    fn versions() {
        assert_eq!(build_of("1.10.1"), ("go1.20", "055b2c3"));
        assert_eq!(build_of("1.12.0"), ("go1.23.3", "51e11f1"));
    }
}
