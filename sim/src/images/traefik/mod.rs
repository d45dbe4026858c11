//! Traefik with its Kubernetes Ingress provider, as the course's traefik DaemonSet runs it
//! (`--entryPoints.web.address=:80 --providers.kubernetesingress --ping --log.level=INFO`).
//!
//! - **Configuration** from flags only, parsed as traefik's (paerser) flag loader: keys are
//!   case-insensitive, `--key` alone means `true`; an unknown key fails with
//!   `command traefik error: failed to decode configuration from flags: field not found, node: x`
//!   and exit 1. Options labsim accepts without implementing them are named in a WRN line.
//!   Without any entry point traefik listens on `:80` (`http`); `--ping` adds `/ping` on the
//!   `traefik` entry point (`:8080`), which answers `OK` (and 503 `Service Unavailable` while
//!   shutting down).
//! - **Entry points** listen on `LABSIM_BIND_IP` (the pod's mapped address; the runtime's port
//!   mapper forwards the node's hostPort 80 there).
//! - **Routing** ([`routes`]): Ingresses, IngressClasses, Services and EndpointSlices (traefik v3;
//!   Endpoints for traefik v2) are listed and watched through the in-cluster client; every change
//!   rebuilds the routing table. A request without a route gets Go's `404 page not found`; a
//!   backend is picked round robin among the service's ready endpoints and reached through
//!   [`proxy`]. When the API server goes away the watches retry and the last known table keeps
//!   serving; when it comes back they resync.
//! - **Logs**: traefik v3's zerolog console lines on stderr (with ANSI colours unless
//!   `--log.nocolor`, as traefik prints them), traefik v2's logrus lines on stdout; the default
//!   level is ERROR, so the startup lines appear with `--log.level=INFO` only. learnk8s' images
//!   (`ghcr.io/learnk8s/traefik:2023.03`) are traefik v2 of March 2023 and report their tag as
//!   version.
//! - **Shutdown**: SIGTERM/SIGINT → `I have to go...`, `Stopping server gracefully`, requests in
//!   flight finish (up to 10 s, traefik's default `graceTimeOut`), `Server stopped`,
//!   `Shutting down`, exit 0.

pub mod proxy;
pub mod routes;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use jiff::Timestamp;

use super::catalog::ImageSpec;
use super::contract::ContainerEnv;
use super::http::{Body, HttpServer, go_not_found, respond};
use super::log::{Level, logrus_line, stderr, stdout, zerolog_line};
use crate::client::{Client, ListParams, Reflector, ReflectorStore, path};
use routes::{ProviderOptions, Snapshot, Table};

/// Where an entry point listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// The address as configured (`:80`).
    pub address: String,
    /// An explicit IP, when the address has one.
    pub ip: Option<IpAddr>,
    /// The port.
    pub port: u16,
}

/// `--ping` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// `ping.entryPoint` (default `traefik`).
    pub entry_point: String,
    /// `ping.terminatingStatusCode` (default 503).
    pub terminating_status: u16,
}

/// traefik's static configuration, as far as labsim reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Entry points by name.
    pub entry_points: BTreeMap<String, EntryPoint>,
    /// The Kubernetes Ingress provider, when enabled.
    pub ingress: Option<ProviderOptions>,
    /// `providers.kubernetesIngress.labelSelector`.
    pub label_selector: String,
    /// `--ping`.
    pub ping: Option<Ping>,
    /// `log.level` (default ERROR).
    pub log_level: Level,
    /// `log.noColor`.
    pub no_color: bool,
    /// `log.format=json`.
    pub json: bool,
    /// Options accepted but not implemented by labsim.
    pub unimplemented: Vec<String>,
}

/// A configuration traefik refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// An unknown key.
    #[error(
        "command traefik error: failed to decode configuration from flags: field not found, node: {0}"
    )]
    UnknownField(String),
    /// A value that does not parse.
    #[error("command traefik error: failed to decode configuration from flags: {0}")]
    BadValue(String),
}

fn bool_value(key: &str, v: &str) -> Result<bool, ConfigError> {
    crate::gocli::parse_bool(v).ok_or_else(|| {
        ConfigError::BadValue(format!(
            "field {key}: strconv.ParseBool: parsing {}: invalid syntax",
            super::log::go_quote(v)
        ))
    })
}

fn parse_address(addr: &str) -> Result<EntryPoint, ConfigError> {
    let (hostport, proto) = match addr.rsplit_once('/') {
        Some((hp, p)) => (hp, p.to_ascii_lowercase()),
        None => (addr, "tcp".to_string()),
    };
    if proto != "tcp" {
        return Err(ConfigError::BadValue(format!(
            "entry point address {addr}: labsim implements TCP entry points only"
        )));
    }
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| ConfigError::BadValue(format!("address {addr}: missing port in address")))?;
    let port: u16 = port
        .parse()
        .map_err(|_| ConfigError::BadValue(format!("address {addr}: invalid port")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "" | "0.0.0.0" | "::" => None,
        h => Some(h.parse::<IpAddr>().map_err(|_| {
            ConfigError::BadValue(format!(
                "address {addr}: labsim entry points take IP addresses"
            ))
        })?),
    };
    Ok(EntryPoint {
        address: addr.to_string(),
        ip,
        port,
    })
}

/// Reads traefik's flags.
///
/// # Errors
/// [`ConfigError`] as traefik reports it.
pub fn parse_args(args: &[String]) -> Result<Config, ConfigError> {
    let mut c = Config {
        entry_points: BTreeMap::new(),
        ingress: None,
        label_selector: String::new(),
        ping: None,
        log_level: Level::Error,
        no_color: false,
        json: false,
        unimplemented: vec![],
    };
    let mut ping_entry = None;
    let mut ping_status = None;
    let mut ingress_on = false;
    let mut io = ProviderOptions::default();
    let mut ingress_keys = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(flag) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
            return Err(ConfigError::UnknownField(a.to_ascii_lowercase()));
        };
        let (key, value) = match flag.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None => (flag.to_ascii_lowercase(), None),
        };
        let val = |v: &Option<String>| v.clone().unwrap_or_else(|| "true".to_string());
        let parts: Vec<&str> = key.split('.').collect();
        match parts.as_slice() {
            ["entrypoints", name, "address"] => {
                c.entry_points
                    .insert(name.to_string(), parse_address(&val(&value))?);
            }
            ["entrypoints", _, ..] => c.unimplemented.push(format!("--{flag}")),
            ["providers", "kubernetesingress"] => ingress_on = bool_value(&key, &val(&value))?,
            ["providers", "kubernetesingress", rest @ ..] => {
                ingress_keys = true;
                let v = val(&value);
                match rest {
                    ["ingressclass"] => io.ingress_class = v,
                    ["namespaces"] => io.namespaces = v.split(',').map(str::to_string).collect(),
                    ["labelselector"] => c.label_selector = v,
                    ["allowemptyservices"] => io.allow_empty_services = bool_value(&key, &v)?,
                    ["allowexternalnameservices"] => {
                        io.allow_external_name_services = bool_value(&key, &v)?
                    }
                    ["throttleduration"]
                    | ["disableingressclasslookup"]
                    | ["disableclusterscoperesources"]
                    | ["nativelbbydefault"]
                    | ["strictprefixmatching"]
                    | ["endpoint"]
                    | ["token"]
                    | ["certauthfilepath"]
                    | ["ingressendpoint", ..] => c.unimplemented.push(format!("--{flag}")),
                    [other, ..] => return Err(ConfigError::UnknownField(other.to_string())),
                    [] => {}
                }
            }
            [
                "providers",
                "kubernetescrd"
                | "kubernetesgateway"
                | "file"
                | "docker"
                | "providersthrottleduration"
                | "rest"
                | "http",
                ..,
            ] => c.unimplemented.push(format!("--{flag}")),
            ["providers", other, ..] => return Err(ConfigError::UnknownField(other.to_string())),
            ["ping"] => {
                if bool_value(&key, &val(&value))? {
                    ping_entry.get_or_insert_with(|| "traefik".to_string());
                }
            }
            ["ping", "entrypoint"] => ping_entry = Some(val(&value)),
            ["ping", "terminatingstatuscode"] => {
                ping_status = Some(val(&value).parse::<u16>().map_err(|_| {
                    ConfigError::BadValue(format!("field {key}: invalid status code"))
                })?)
            }
            ["ping", "manualrouting"] => c.unimplemented.push(format!("--{flag}")),
            ["ping", other, ..] => return Err(ConfigError::UnknownField(other.to_string())),
            ["log"] => {}
            ["log", "level"] => {
                c.log_level = match val(&value).to_ascii_lowercase().as_str() {
                    "trace" | "debug" => Level::Debug,
                    "info" => Level::Info,
                    "warn" | "warning" => Level::Warn,
                    "error" => Level::Error,
                    "fatal" | "panic" => Level::Fatal,
                    _ => Level::Error,
                }
            }
            ["log", "nocolor"] => c.no_color = bool_value(&key, &val(&value))?,
            ["log", "format"] => c.json = val(&value).eq_ignore_ascii_case("json"),
            [
                "log",
                "filepath" | "maxsize" | "maxage" | "maxbackups" | "compress",
            ] => c.unimplemented.push(format!("--{flag}")),
            ["log", other, ..] => return Err(ConfigError::UnknownField(other.to_string())),
            ["global", "checknewversion" | "sendanonymoususage"] => {}
            [
                "accesslog"
                | "api"
                | "metrics"
                | "tracing"
                | "serverstransport"
                | "tcpserverstransport"
                | "experimental"
                | "certificatesresolvers"
                | "hostresolver"
                | "core"
                | "spiffe"
                | "ocsp"
                | "hub",
                ..,
            ] => c.unimplemented.push(format!("--{flag}")),
            ["configfile"] => c.unimplemented.push(format!("--{flag}")),
            [first, ..] => return Err(ConfigError::UnknownField(first.to_string())),
            [] => return Err(ConfigError::UnknownField(String::new())),
        }
    }
    if ingress_on || ingress_keys {
        c.ingress = Some(io);
    }
    if c.entry_points.is_empty() {
        c.entry_points.insert(
            "http".into(),
            EntryPoint {
                address: ":80".into(),
                ip: None,
                port: 80,
            },
        );
    }
    if let Some(ep) = ping_entry {
        c.ping = Some(Ping {
            entry_point: ep.clone(),
            terminating_status: ping_status.unwrap_or(503),
        });
        if ep == "traefik" {
            c.entry_points
                .entry("traefik".into())
                .or_insert(EntryPoint {
                    address: ":8080".into(),
                    ip: None,
                    port: 8080,
                });
        }
    }
    Ok(c)
}

/// Which traefik an image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The version it reports.
    pub version: String,
    /// 2 or 3.
    pub major: u32,
    /// Build date (traefik's `version.BuildDate`).
    pub built: String,
}

impl Build {
    /// From the image: the tag's version; learnk8s' tags are traefik v2 (traefik v3 came out in
    /// April 2024). Build dates labsim knows are those of published images; for others traefik's
    /// own default for an unset build date is printed.
    pub fn of(image: &ImageSpec) -> Build {
        let version = image.version();
        let major = match version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
        {
            Some(3) => 3,
            Some(m) if m < 2000 => m.clamp(1, 3),
            _ => 2,
        };
        let built = match version.as_str() {
            "3.3.6" => "2025-04-18T09:18:46Z",
            "3.5.3" => "2025-09-26T09:20:06Z",
            _ => "I don't remember exactly",
        }
        .to_string();
        Build {
            version,
            major,
            built,
        }
    }
}

#[derive(Debug, Clone)]
struct Logger {
    v3: bool,
    level: Level,
    no_color: bool,
    json: bool,
}

impl Logger {
    fn log(&self, l: Level, msg: &str, fields: &[(&str, String)]) {
        if l < self.level {
            return;
        }
        let ts = Timestamp::now();
        if self.json {
            let mut m = serde_json::Map::new();
            for (k, v) in fields {
                m.insert(k.to_string(), serde_json::Value::String(v.clone()));
            }
            let lvl = match l {
                Level::Debug => "debug",
                Level::Info => "info",
                Level::Warn => {
                    if self.v3 {
                        "warn"
                    } else {
                        "warning"
                    }
                }
                Level::Error => "error",
                Level::Fatal => "fatal",
            };
            m.insert("level".into(), lvl.into());
            m.insert(if self.v3 { "message" } else { "msg" }.into(), msg.into());
            m.insert("time".into(), super::log::rfc3339_seconds(ts).into());
            let line = serde_json::Value::Object(m).to_string();
            if self.v3 {
                stderr(&line)
            } else {
                stdout(&line)
            }
        } else if self.v3 {
            stderr(&zerolog_line(l, ts, msg, fields, self.no_color));
        } else {
            stdout(&logrus_line(l, ts, msg, fields));
        }
    }
}

struct Shared {
    table: RwLock<Arc<Table>>,
    next: Mutex<HashMap<String, usize>>,
    terminating: AtomicBool,
    ping: Option<Ping>,
    slot: Option<u8>,
    hostname: String,
}

fn status_text(code: u16) -> &'static str {
    hyper::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

async fn handle(
    shared: Arc<Shared>,
    entry_point: String,
    entry_port: u16,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    if let Some(p) = &shared.ping
        && p.entry_point == entry_point
        && path == "/ping"
        && (req.method() == Method::GET || req.method() == Method::HEAD)
    {
        let code = if shared.terminating.load(Ordering::SeqCst) {
            p.terminating_status
        } else {
            200
        };
        return respond(code, "text/plain; charset=utf-8", status_text(code));
    }
    if entry_point == "traefik" {
        return go_not_found();
    }
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let table = shared.table.read().expect("table lock").clone();
    let Some(router) = table.route(&host, &path) else {
        return go_not_found();
    };
    let Some(servers) = table
        .services
        .get(&router.service)
        .filter(|s| !s.is_empty())
    else {
        // The load balancer without servers (traefik pkg/server/service/loadbalancer/wrr).
        return super::http::go_error(503, "no available server");
    };
    let index = {
        let mut next = shared.next.lock().expect("round robin lock");
        let n = next.entry(router.service.clone()).or_insert(0);
        let i = *n % servers.len();
        *n = n.wrapping_add(1);
        i
    };
    let server = servers[index].clone();
    let ctx = proxy::Forwarding {
        peer,
        entry_port,
        hostname: shared.hostname.clone(),
        slot: shared.slot,
    };
    match proxy::forward(req, &server, &ctx).await {
        Ok(r) => r,
        Err(_) => proxy::bad_gateway(),
    }
}

struct Watches {
    ingresses: ReflectorStore,
    classes: ReflectorStore,
    services: ReflectorStore,
    endpoints: ReflectorStore,
    slices: bool,
}

impl Watches {
    fn start(
        client: &Client,
        label_selector: &str,
        slices: bool,
    ) -> (Watches, tokio::sync::mpsc::Receiver<()>) {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let spawn = |p: String, params: ListParams| {
            let r = Reflector::new(client.clone(), p, params);
            let store = r.store();
            let mut changes = r.subscribe();
            let tx = tx.clone();
            tokio::spawn(r.run());
            tokio::spawn(async move {
                while let Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) =
                    changes.recv().await
                {
                    let _ = tx.try_send(());
                }
            });
            store
        };
        let ingresses = spawn(
            path("networking.k8s.io", "v1", "ingresses", None, None),
            ListParams {
                label_selector: (!label_selector.is_empty()).then(|| label_selector.to_string()),
                ..Default::default()
            },
        );
        let classes = spawn(
            path("networking.k8s.io", "v1", "ingressclasses", None, None),
            ListParams::default(),
        );
        let services = spawn(
            path("", "v1", "services", None, None),
            ListParams::default(),
        );
        let endpoints = if slices {
            spawn(
                path("discovery.k8s.io", "v1", "endpointslices", None, None),
                ListParams::default(),
            )
        } else {
            spawn(
                path("", "v1", "endpoints", None, None),
                ListParams::default(),
            )
        };
        (
            Watches {
                ingresses,
                classes,
                services,
                endpoints,
                slices,
            },
            rx,
        )
    }

    async fn synced(&self) {
        self.ingresses.wait_ready().await;
        self.classes.wait_ready().await;
        self.services.wait_ready().await;
        self.endpoints.wait_ready().await;
    }

    fn snapshot(&self) -> Snapshot {
        let eps = self.endpoints.list();
        Snapshot {
            ingresses: self.ingresses.list(),
            ingress_classes: self.classes.list(),
            services: self.services.list(),
            endpoint_slices: if self.slices { eps.clone() } else { vec![] },
            endpoints: if self.slices { vec![] } else { eps },
        }
    }
}

/// Runs traefik (`argv[0]` is `traefik`).
pub fn main(argv: &[String], env: &ContainerEnv, image: &ImageSpec) -> ExitCode {
    let config = match parse_args(argv.get(1..).unwrap_or_default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let build = Build::of(image);
    super::http::runtime().block_on(run(config, build, env.clone()))
}

/// traefik's `/entrypoint.sh`: flag arguments (or none) run traefik, `traefik …` runs traefik,
/// anything else is executed as a command of the image.
pub fn entrypoint(argv: &[String], env: &ContainerEnv, image: &ImageSpec) -> ExitCode {
    let rest = argv.get(1..).unwrap_or_default();
    let mut traefik_argv = vec!["traefik".to_string()];
    match rest.first() {
        None => {}
        Some(a) if a.starts_with('-') => traefik_argv.extend(rest.iter().cloned()),
        Some(a) if a == "traefik" => traefik_argv.extend(rest[1..].iter().cloned()),
        Some(a) if a == "version" || a == "healthcheck" => {
            eprintln!("labsim: `traefik {a}` is not implemented on labsim");
            return ExitCode::from(127);
        }
        Some(a) => {
            eprintln!("= '{a}' is not a Traefik command: assuming shell execution.");
            return match image.resolve(rest) {
                Ok(p) => super::dispatch(p, rest, env, image),
                Err(_) => {
                    eprintln!("/entrypoint.sh: exec: line 17: {a}: not found");
                    ExitCode::from(127)
                }
            };
        }
    }
    main(&traefik_argv, env, image)
}

async fn run(config: Config, build: Build, env: ContainerEnv) -> ExitCode {
    let log = Logger {
        v3: build.major >= 3,
        level: config.log_level,
        no_color: config.no_color,
        json: config.json,
    };
    let kube = || vec![("providerName", "kubernetes".to_string())];
    if !log.v3 {
        log.log(Level::Info, "Configuration loaded from flags.", &[]);
    }
    if log.v3 {
        log.log(
            Level::Info,
            &format!("Traefik version {} built on {}", build.version, build.built),
            &[("version", build.version.clone())],
        );
    } else {
        log.log(
            Level::Info,
            &format!("Traefik version {} built on {}", build.version, build.built),
            &[],
        );
    }
    log.log(
        Level::Info,
        "\nStats collection is disabled.\nHelp us improve Traefik by turning this feature on :)\nMore details on: https://doc.traefik.io/traefik/contributing/data-collection/\n",
        &[],
    );
    for u in &config.unimplemented {
        log.log(
            Level::Warn,
            "labsim: this option is accepted but not implemented",
            &[("option", u.clone())],
        );
    }
    let bind_ip = env.bind_ip;
    let shared = Arc::new(Shared {
        table: RwLock::new(Arc::new(Table::default())),
        next: Mutex::new(HashMap::new()),
        terminating: AtomicBool::new(false),
        ping: config.ping.clone(),
        slot: env.slot,
        hostname: env.hostname(),
    });
    let mut servers = vec![];
    for (name, ep) in &config.entry_points {
        let ip = match ep.ip.or(bind_ip) {
            Some(ip) if ip.is_loopback() => ip,
            Some(ip) => {
                log.log(
                    Level::Error,
                    "Error while starting server",
                    &[
                        ("entryPointName", name.clone()),
                        (
                            "error",
                            format!("labsim listens on loopback addresses only, not {ip}"),
                        ),
                    ],
                );
                return ExitCode::from(1);
            }
            None => {
                log.log(
                    Level::Error,
                    "Error while starting server",
                    &[
                        ("entryPointName", name.clone()),
                        ("error", "LABSIM_BIND_IP is not set".into()),
                    ],
                );
                return ExitCode::from(1);
            }
        };
        let addr = SocketAddr::new(ip, ep.port);
        let sh = shared.clone();
        let ep_name = name.clone();
        let port = ep.port;
        match HttpServer::bind(addr, move |req, peer| {
            handle(sh.clone(), ep_name.clone(), port, req, peer)
        })
        .await
        {
            Ok(s) => servers.push(s),
            Err(e) => {
                log.log(
                    Level::Error,
                    "Error while starting server",
                    &[
                        ("entryPointName", name.clone()),
                        (
                            "error",
                            format!(
                                "error opening listener: listen tcp {}: bind: {e}",
                                ep.address
                            ),
                        ),
                    ],
                );
                return ExitCode::from(1);
            }
        }
    }
    let provider_name = if log.v3 {
        "*aggregator.ProviderAggregator"
    } else {
        "aggregator.ProviderAggregator"
    };
    log.log(
        Level::Info,
        &format!("Starting provider aggregator {provider_name}"),
        &[],
    );
    log.log(Level::Info, "Starting provider *traefik.Provider", &[]);
    if let Some(opts) = config.ingress.clone() {
        log.log(Level::Info, "Starting provider *ingress.Provider", &[]);
        log.log(
            Level::Info,
            &format!(
                "ingress label selector is: {}",
                super::log::go_quote(&config.label_selector)
            ),
            &kube(),
        );
        log.log(Level::Info, "Creating in-cluster Provider client", &kube());
        match env.kube_client(&format!(
            "traefik/{} (linux/amd64) kubernetes/ingress",
            build.version
        )) {
            Ok(client) => {
                let opts = ProviderOptions {
                    endpoint_slices: build.major >= 3,
                    ..opts
                };
                tokio::spawn(provide(
                    client,
                    opts,
                    config.label_selector.clone(),
                    shared.clone(),
                    log.clone(),
                ));
            }
            Err(e) => log.log(
                Level::Error,
                "Cannot start the provider *ingress.Provider",
                &[("error", e.to_string())],
            ),
        }
    }
    log.log(Level::Info, "Starting provider *acme.ChallengeTLSALPN", &[]);

    super::http::termination().await;
    log.log(Level::Info, "I have to go...", &[]);
    log.log(Level::Info, "Stopping server gracefully", &[]);
    shared.terminating.store(true, Ordering::SeqCst);
    let grace = Duration::from_secs(10);
    let mut stops = vec![];
    for s in servers {
        stops.push(tokio::spawn(s.shutdown(grace)));
    }
    for s in stops {
        let _ = s.await;
    }
    log.log(Level::Info, "Server stopped", &[]);
    log.log(Level::Info, "Shutting down", &[]);
    ExitCode::SUCCESS
}

/// The Kubernetes Ingress provider: watch, rebuild, log what traefik logs while building.
async fn provide(
    client: Client,
    opts: ProviderOptions,
    label_selector: String,
    shared: Arc<Shared>,
    log: Logger,
) {
    let (watches, mut changed) = Watches::start(&client, &label_selector, opts.endpoint_slices);
    let synced = tokio::time::timeout(Duration::from_secs(5), watches.synced()).await;
    if synced.is_err() {
        log.log(
            Level::Error,
            "Provider connection error, retrying in 5s",
            &[
                ("error", "timed out waiting for the caches to sync".into()),
                ("providerName", "kubernetes".into()),
            ],
        );
        watches.synced().await;
    }
    loop {
        let (table, errors) = routes::build(&opts, &watches.snapshot());
        for e in errors {
            let mut fields = vec![
                ("ingress", e.ingress.clone()),
                ("namespace", e.namespace.clone()),
                ("providerName", "kubernetes".to_string()),
                ("serviceName", e.service_name.clone()),
                ("servicePort", e.service_port.clone()),
            ];
            if let Some(err) = &e.error {
                fields.push(("error", err.clone()));
            }
            log.log(Level::Error, e.msg, &fields);
        }
        *shared.table.write().expect("table lock") = Arc::new(table);
        if changed.recv().await.is_none() {
            break;
        }
        // Coalesce bursts of events into one rebuild.
        tokio::time::sleep(Duration::from_millis(50)).await;
        while changed.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_course_daemonset_flags() {
        let c = parse_args(&s(&[
            "--entryPoints.web.address=:80",
            "--providers.kubernetesingress",
            "--ping",
            "--log.level=INFO",
        ]))
        .unwrap();
        assert_eq!(c.entry_points["web"].port, 80);
        assert_eq!(
            c.entry_points["traefik"].port, 8080,
            "ping's default entry point"
        );
        assert!(c.ingress.is_some());
        assert_eq!(c.ping.as_ref().unwrap().entry_point, "traefik");
        assert_eq!(c.log_level, Level::Info);
        assert!(c.unimplemented.is_empty());
    }

    #[test]
    fn defaults_and_errors() {
        let c = parse_args(&[]).unwrap();
        assert_eq!(c.entry_points["http"].port, 80);
        assert!(c.ingress.is_none());
        assert!(c.ping.is_none());
        assert_eq!(c.log_level, Level::Error);
        assert_eq!(
            parse_args(&s(&["--foo=bar"])).unwrap_err().to_string(),
            "command traefik error: failed to decode configuration from flags: field not found, node: foo"
        );
        assert_eq!(
            parse_args(&s(&["--ping.nope"])).unwrap_err().to_string(),
            "command traefik error: failed to decode configuration from flags: field not found, node: nope"
        );
        let c = parse_args(&s(&[
            "--providers.kubernetesingress.ingressclass=traefik-internal",
            "--api.insecure",
            "--ping.entrypoint=web",
        ]))
        .unwrap();
        assert_eq!(c.ingress.unwrap().ingress_class, "traefik-internal");
        assert_eq!(c.unimplemented, s(&["--api.insecure"]));
        assert!(!c.entry_points.contains_key("traefik"));
        assert!(parse_args(&s(&["--entrypoints.dns.address=:53/udp"])).is_err());
    }

    #[test]
    fn builds() {
        let b = Build::of(&crate::images::catalog::lookup("traefik:v3.3.4").unwrap());
        assert_eq!((b.major, b.version.as_str()), (3, "3.3.4"));
        let b =
            Build::of(&crate::images::catalog::lookup("ghcr.io/learnk8s/traefik:2023.03").unwrap());
        assert_eq!((b.major, b.version.as_str()), (2, "2023.03"));
        let b = Build::of(&crate::images::catalog::lookup("traefik:v2.10").unwrap());
        assert_eq!(b.major, 2);
    }
}
