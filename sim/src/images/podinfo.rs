//! podinfo (stefanprodan/podinfo 6.x): the course's hello-world app.
//!
//! - Flags as podinfo's pflag set (cmd/podinfo/main.go), each also read from `PODINFO_<FLAG>`
//!   (viper `AutomaticEnv`, `-` → `_`), the command line winning; an unknown flag prints
//!   `Error: unknown flag: --x`, the flag defaults, and exits 2.
//! - `GET /` is the runtime info JSON (pkg/api/info.go), or the HTML UI when the User-Agent starts
//!   with `Mozilla` (pkg/api/server.go routes); `/api/info`, `/version`, `/env`, `/headers`,
//!   `/healthz`, `/readyz`, `/readyz/enable|disable`, `/status/{code}`, `/delay/{seconds}`,
//!   `/echo`, `/api/echo` and `/panic` as podinfo answers them; anything else is Go's 404.
//! - JSON is indented by two spaces without a trailing newline (pkg/api/http.go `JSONResponse`).
//! - Logs are zap JSON on stderr; SIGTERM/SIGINT: `/healthz` and `/readyz` turn 503, "Shutting down
//!   HTTP/HTTPS server" is logged, podinfo waits 3 s (unless `--level=debug`) for Kubernetes to take
//!   it out of the endpoints, then closes the server within the shutdown timeout and exits 0.
//!
//! `hostname` is the container's hostname (the pod's name), `goos`/`goarch`/`num_cpu` describe
//! the machine, `num_goroutine` counts the process' live tasks (labsim's stand-in for goroutines),
//! `runtime` is the Go version the image was built with.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;

use super::catalog::ImageSpec;
use super::contract::ContainerEnv;
use super::http::{Body, HttpServer, go_not_found, respond};
use super::log::{Level, stderr, zap_line};
use crate::gocli::{FlagDef, FlagError, Kind, flag, parse_pflag, pflag_usage};

/// What a podinfo build reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// `version.VERSION`.
    pub version: String,
    /// `version.REVISION` (`unknown` when the build did not set it).
    pub revision: String,
    /// `runtime.Version()` of the Go that built it.
    pub go: String,
}

impl Build {
    /// The build an image holds. learnk8s' `2023.03` (`2023.3`) is podinfo 6.3.4 at revision
    /// 1abc44f0 built with Go 1.20.1: the course's own `curl` output shows it. For other tags the
    /// tag is the version; labsim knows no other revision and reports podinfo's default,
    /// `unknown`, and the Go version of the 6.3 builds.
    pub fn of(image: &ImageSpec) -> Build {
        let v = image.version();
        let known = |version: &str| Build {
            version: version.into(),
            revision: "1abc44f0d8dd6cd9df76090ea4ad694b70e03ee4".into(),
            go: "go1.20.1".into(),
        };
        if image.reference.path == "learnk8s/podinfo" && (v == "2023.03" || v == "2023.3") {
            return known("6.3.4");
        }
        if v == "6.3.4" {
            return known("6.3.4");
        }
        Build {
            version: v,
            revision: "unknown".into(),
            go: "go1.20.1".into(),
        }
    }

    fn minor(&self) -> u32 {
        let mut it = self.version.split('.');
        match (it.next(), it.next()) {
            (Some("6"), Some(m)) => m.parse().unwrap_or(0),
            _ => 0,
        }
    }

    /// Caller fields of the startup lines: pkg/api until 6.3, pkg/api/http from 6.4.
    fn callers(&self) -> (&'static str, &'static str, &'static str) {
        if self.minor() >= 4 {
            (
                "podinfo/main.go:153",
                "http/server.go:224",
                "signals/shutdown.go:47",
            )
        } else {
            (
                "podinfo/main.go:161",
                "api/server.go:213",
                "api/server.go:187",
            )
        }
    }
}

const FLAGS: &[FlagDef] = &[
    flag("host", Kind::Str, "", "Host to bind service to"),
    flag("port", Kind::Int, "9898", "HTTP port to bind service to"),
    flag("secure-port", Kind::Int, "0", "HTTPS port"),
    flag("port-metrics", Kind::Int, "0", "metrics port"),
    flag("grpc-port", Kind::Int, "0", "gRPC port"),
    flag(
        "grpc-service-name",
        Kind::Str,
        "podinfo",
        "gPRC service name",
    ),
    flag(
        "level",
        Kind::Str,
        "info",
        "log level debug, info, warn, error, fatal or panic",
    ),
    flag("backend-url", Kind::StrSlice, "[]", "backend service URL"),
    flag(
        "http-client-timeout",
        Kind::Duration,
        "2m0s",
        "client timeout duration",
    ),
    flag(
        "http-server-timeout",
        Kind::Duration,
        "30s",
        "server read and write timeout duration",
    ),
    flag(
        "http-server-shutdown-timeout",
        Kind::Duration,
        "5s",
        "server graceful shutdown timeout duration",
    ),
    flag("data-path", Kind::Str, "/data", "data local path"),
    flag("config-path", Kind::Str, "", "config dir path"),
    flag(
        "cert-path",
        Kind::Str,
        "/data/cert",
        "certificate path for HTTPS port",
    ),
    flag("config", Kind::Str, "config.yaml", "config file name"),
    flag("ui-path", Kind::Str, "./ui", "UI local path"),
    flag("ui-logo", Kind::Str, "", "UI logo"),
    flag("ui-color", Kind::Str, "#34577c", "UI color"),
    flag("ui-message", Kind::Str, "", "UI message"),
    flag("h2c", Kind::Bool, "false", "allow upgrading to H2C"),
    flag(
        "random-delay",
        Kind::Bool,
        "false",
        "between 0 and 5 seconds random delay by default",
    ),
    flag(
        "random-delay-unit",
        Kind::Str,
        "s",
        "either s(seconds) or ms(milliseconds",
    ),
    flag(
        "random-delay-min",
        Kind::Int,
        "0",
        "min for random delay: 0 by default",
    ),
    flag(
        "random-delay-max",
        Kind::Int,
        "5",
        "max for random delay: 5 by default",
    ),
    flag(
        "random-error",
        Kind::Bool,
        "false",
        "1/3 chances of a random response error",
    ),
    flag(
        "unhealthy",
        Kind::Bool,
        "false",
        "when set, healthy state is never reached",
    ),
    flag(
        "unready",
        Kind::Bool,
        "false",
        "when set, ready state is never reached",
    ),
    flag(
        "stress-cpu",
        Kind::Int,
        "0",
        "number of CPU cores with 100 load",
    ),
    flag(
        "stress-memory",
        Kind::Int,
        "0",
        "MB of data to load into memory",
    ),
    flag(
        "cache-server",
        Kind::Str,
        "",
        "Redis address in the format 'tcp://<host>:<port>'",
    ),
    flag(
        "otel-service-name",
        Kind::Str,
        "",
        "service name for reporting to open telemetry address, when not set tracing is disabled",
    ),
    FlagDef {
        name: "version",
        short: Some('v'),
        kind: Kind::Bool,
        default: "false",
        usage: "get version number",
    },
];

/// podinfo's `/api/info` body (pkg/api/info.go `RuntimeResponse`, field order kept).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Info {
    /// The container's hostname.
    pub hostname: String,
    /// podinfo version.
    pub version: String,
    /// Git revision.
    pub revision: String,
    /// `--ui-color`.
    pub color: String,
    /// `--ui-logo`.
    pub logo: String,
    /// `--ui-message`.
    pub message: String,
    /// `runtime.GOOS`.
    pub goos: String,
    /// `runtime.GOARCH`.
    pub goarch: String,
    /// `runtime.Version()`.
    pub runtime: String,
    /// `runtime.NumGoroutine()`, as a string.
    pub num_goroutine: String,
    /// `runtime.NumCPU()`, as a string.
    pub num_cpu: String,
}

/// Go's name for the machine architecture.
pub fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    }
}

/// A float as zap writes it (`strconv.FormatFloat(f, 'f', -1, 64)`: `5`, `0.5`).
pub fn go_float(f: f64) -> serde_json::Value {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// podinfo's JSON encoding: `json.Marshal` then `json.Indent(…, "", "  ")`, no trailing newline.
pub fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("JSON encodes")
}

/// The settings podinfo runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--host`.
    pub host: String,
    /// `--port`.
    pub port: u16,
    /// `--level`.
    pub level: String,
    /// `--ui-color`.
    pub color: String,
    /// `--ui-logo`.
    pub logo: String,
    /// `--ui-message`.
    pub message: String,
    /// `--unhealthy`.
    pub unhealthy: bool,
    /// `--unready`.
    pub unready: bool,
    /// `--http-server-shutdown-timeout` in seconds.
    pub shutdown_timeout: f64,
    /// Flags labsim accepts but does not implement (logged at start).
    pub unimplemented: Vec<String>,
}

/// Why podinfo did not start.
#[derive(Debug, thiserror::Error)]
pub enum PodinfoError {
    /// A flag error: podinfo prints it with the defaults and exits 2.
    #[error("Error: {0}")]
    Flags(#[from] FlagError),
    /// A `PODINFO_*` value that does not parse.
    #[error("podinfo: {0}")]
    Env(String),
}

/// Reads the command line and the `PODINFO_*` environment.
///
/// # Errors
/// [`PodinfoError`] for flags podinfo would refuse.
pub fn settings(
    argv: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    build: &Build,
) -> Result<(Settings, bool), PodinfoError> {
    let mut p = parse_pflag(FLAGS, argv.get(1..).unwrap_or_default())?;
    for d in FLAGS {
        let key = format!("PODINFO_{}", d.name.replace('-', "_").to_uppercase());
        if let Some(v) = env(&key) {
            p.set_default(d.name, v);
        }
    }
    let port = p.get("port");
    let port: u16 = port
        .parse()
        .map_err(|_| PodinfoError::Env(format!("port {port:?} is not a TCP port")))?;
    let message = if p.get("ui-message").is_empty() {
        format!("greetings from podinfo v{}", build.version)
    } else {
        p.get("ui-message")
    };
    let logo = if p.get("ui-logo").is_empty() {
        "https://raw.githubusercontent.com/stefanprodan/podinfo/gh-pages/cuddle_clap.gif".into()
    } else {
        p.get("ui-logo")
    };
    let mut unimplemented = vec![];
    for name in [
        "secure-port",
        "port-metrics",
        "grpc-port",
        "stress-cpu",
        "stress-memory",
    ] {
        if p.get(name) != "0" {
            unimplemented.push(format!("--{name}={}", p.get(name)));
        }
    }
    for name in ["backend-url", "cache-server", "otel-service-name"] {
        if !p.get(name).is_empty() && p.get(name) != "[]" && p.is_set(name) {
            unimplemented.push(format!("--{name}={}", p.get(name)));
        }
    }
    for name in ["random-delay", "random-error", "h2c"] {
        if p.bool(name) {
            unimplemented.push(format!("--{name}"));
        }
    }
    Ok((
        Settings {
            host: p.get("host"),
            port,
            level: p.get("level"),
            color: p.get("ui-color"),
            logo,
            message,
            unhealthy: p.bool("unhealthy"),
            unready: p.bool("unready"),
            shutdown_timeout: crate::gocli::parse_duration(&p.get("http-server-shutdown-timeout"))
                .unwrap_or(5.0),
            unimplemented,
        },
        p.bool("version"),
    ))
}

struct State {
    settings: Settings,
    build: Build,
    hostname: String,
    healthy: AtomicBool,
    ready: AtomicBool,
    debug: bool,
}

impl State {
    fn info(&self) -> Info {
        let tasks = tokio::runtime::Handle::try_current()
            .map(|h| h.metrics().num_alive_tasks())
            .unwrap_or(0);
        Info {
            hostname: self.hostname.clone(),
            version: self.build.version.clone(),
            revision: self.build.revision.clone(),
            color: self.settings.color.clone(),
            logo: self.settings.logo.clone(),
            message: self.settings.message.clone(),
            goos: "linux".into(),
            goarch: goarch().into(),
            runtime: self.build.go.clone(),
            num_goroutine: (tasks + 1).to_string(),
            num_cpu: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .to_string(),
        }
    }
}

fn json_response(code: u16, body: String) -> Response<Body> {
    let mut r = respond(code, "application/json; charset=utf-8", body);
    r.headers_mut().insert(
        "x-content-type-options",
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    r
}

fn empty(code: u16) -> Response<Body> {
    respond(code, "", Bytes::new())
}

/// Go's canonical header key (`x-forwarded-for` → `X-Forwarded-For`).
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn index_html(state: &State) -> String {
    let info = state.info();
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <style>
    body {{ background: {color}; color: #fff; font-family: sans-serif; text-align: center; }}
    img {{ max-width: 300px; }}
  </style>
</head>
<body>
  <h1>{message}</h1>
  <img src="{logo}" alt="podinfo">
  <p>Served by <b>{title}</b>, podinfo v{version}</p>
</body>
</html>
"#,
        title = info.hostname,
        color = info.color,
        message = info.message,
        logo = info.logo,
        version = info.version,
    )
}

async fn handle(state: Arc<State>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    if state.debug {
        let ua = req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        stderr(&zap_line(
            Level::Debug,
            Timestamp::now(),
            if state.build.minor() >= 4 {
                "http/logging.go:35"
            } else {
                "api/logging.go:23"
            },
            "request started",
            &[
                ("proto", json!(format!("{:?}", req.version()))),
                ("uri", json!(req.uri().to_string())),
                ("method", json!(req.method().as_str())),
                ("remote", json!(peer.to_string())),
                ("user-agent", json!(ua)),
            ],
        ));
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let get = method == Method::GET;
    let post = method == Method::POST;
    let put = method == Method::PUT;
    let json_ok = |body: String| json_response(200, body);
    match path.as_str() {
        "/" if get => {
            let mozilla = req
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ua| ua.starts_with("Mozilla"));
            if mozilla {
                respond(200, "text/html; charset=utf-8", index_html(&state))
            } else {
                json_ok(pretty(&state.info()))
            }
        }
        "/api/info" if get => json_ok(pretty(&state.info())),
        "/version" if get => json_ok(pretty(&json!({
            "commit": state.build.revision,
            "version": state.build.version,
        }))),
        "/env" if get || post => {
            let env: Vec<String> = std::env::vars()
                .filter(|(k, _)| !k.starts_with("LABSIM_"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            json_ok(pretty(&env))
        }
        "/headers" if get || post => {
            let mut map = std::collections::BTreeMap::<String, Vec<String>>::new();
            for (k, v) in req.headers() {
                if k == hyper::header::HOST {
                    continue;
                }
                map.entry(canonical(k.as_str()))
                    .or_default()
                    .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
            }
            // versionMiddleware sets these on the request before the handler sees it.
            map.insert("X-Api-Version".into(), vec![state.build.version.clone()]);
            map.insert("X-Api-Revision".into(), vec![state.build.revision.clone()]);
            json_ok(pretty(&map))
        }
        "/healthz" if get => {
            if state.healthy.load(Ordering::SeqCst) {
                json_ok(pretty(&json!({"status": "OK"})))
            } else {
                empty(503)
            }
        }
        "/readyz" if get => {
            if state.ready.load(Ordering::SeqCst) {
                json_ok(pretty(&json!({"status": "OK"})))
            } else {
                empty(503)
            }
        }
        "/readyz/enable" if post => {
            state.ready.store(true, Ordering::SeqCst);
            empty(202)
        }
        "/readyz/disable" if post => {
            state.ready.store(false, Ordering::SeqCst);
            empty(202)
        }
        "/echo" | "/api/echo" if post || put => {
            let body = req
                .into_body()
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            respond(202, "", body)
        }
        "/panic" if get => {
            stderr(&zap_line(
                Level::Fatal,
                Timestamp::now(),
                "api/panic.go:12",
                "Panic command received",
                &[],
            ));
            eprintln!("panic: Panic command received\n\ngoroutine 1 [running]:");
            std::process::exit(2);
        }
        p if get
            && p.starts_with("/delay/")
            && p[7..].bytes().all(|b| b.is_ascii_digit())
            && p.len() > 7 =>
        {
            let secs: u64 = p[7..].parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            json_ok(pretty(&json!({"delay": secs})))
        }
        p if (get || post || put)
            && p.starts_with("/status/")
            && p.len() > 8
            && p[8..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            match p[8..].parse::<u16>() {
                Ok(code) if (100..=999).contains(&code) => {
                    json_response(code, pretty(&json!({"status": code})))
                }
                _ => json_response(
                    200,
                    pretty(
                        &json!({"code": 400, "message": format!("invalid status code {}", &p[8..])}),
                    ),
                ),
            }
        }
        "/" | "/api/info" | "/version" | "/healthz" | "/readyz" | "/panic" | "/env"
        | "/headers" | "/readyz/enable" | "/readyz/disable" | "/echo" | "/api/echo" => empty(405),
        _ => go_not_found(),
    }
}

/// Runs podinfo.
pub fn main(argv: &[String], env: &ContainerEnv, image: &ImageSpec) -> ExitCode {
    let build = Build::of(image);
    let getenv = |k: &str| std::env::var(k).ok();
    let (settings, version) = match settings(argv, &getenv, &build) {
        Ok(s) => s,
        Err(PodinfoError::Flags(FlagError::Help)) => {
            eprintln!("Usage of {}:\n{}", argv[0], pflag_usage(FLAGS));
            return ExitCode::SUCCESS;
        }
        Err(e @ PodinfoError::Flags(_)) => {
            eprintln!("{e}\n\n{}", pflag_usage(FLAGS).trim_end());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if version {
        println!("{}", build.version);
        return ExitCode::SUCCESS;
    }
    let bind_ip = match bind_address(&settings.host, env) {
        Ok(ip) => ip,
        Err(e) => {
            eprintln!("labsim podinfo: {e}");
            return ExitCode::from(1);
        }
    };
    super::http::runtime().block_on(run(settings, build, env.hostname(), bind_ip))
}

fn bind_address(host: &str, env: &ContainerEnv) -> Result<IpAddr, String> {
    match host {
        "" | "0.0.0.0" | "::" => env.bind_ip().map_err(|e| e.to_string()),
        h => match h.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => Ok(ip),
            _ => Err(format!(
                "--host={h}: labsim serves pods on their loopback address only; leave --host unset"
            )),
        },
    }
}

/// Serves podinfo on `bind_ip` until SIGTERM/SIGINT.
pub async fn run(settings: Settings, build: Build, hostname: String, bind_ip: IpAddr) -> ExitCode {
    let (main_at, server_at, shutdown_at) = build.callers();
    let level = match settings.level.as_str() {
        "debug" => Level::Debug,
        "warn" => Level::Warn,
        "error" => Level::Error,
        "fatal" | "panic" => Level::Fatal,
        _ => Level::Info,
    };
    let log = move |l: Level, at: &str, msg: &str, fields: &[(&str, serde_json::Value)]| {
        if l >= level {
            stderr(&zap_line(l, Timestamp::now(), at, msg, fields));
        }
    };
    for u in &settings.unimplemented {
        log(
            Level::Warn,
            main_at,
            "labsim: this podinfo option is accepted but not implemented",
            &[("option", json!(u))],
        );
    }
    log(
        Level::Info,
        main_at,
        "Starting podinfo",
        &[
            ("version", json!(build.version)),
            ("revision", json!(build.revision)),
            ("port", json!(settings.port.to_string())),
        ],
    );
    let state = Arc::new(State {
        healthy: AtomicBool::new(false),
        ready: AtomicBool::new(false),
        debug: level == Level::Debug,
        settings: settings.clone(),
        build: build.clone(),
        hostname,
    });
    let addr = SocketAddr::new(bind_ip, settings.port);
    let st = state.clone();
    let server = match HttpServer::bind(addr, move |req, peer| handle(st.clone(), req, peer)).await
    {
        Ok(s) => s,
        Err(e) => {
            log(
                Level::Fatal,
                server_at,
                "HTTP server crashed",
                &[("error", json!(format!("listen tcp {addr}: bind: {e}")))],
            );
            return ExitCode::from(1);
        }
    };
    log(
        Level::Info,
        server_at,
        "Starting HTTP Server.",
        &[(
            "addr",
            json!(format!("{}:{}", settings.host, settings.port)),
        )],
    );
    state.healthy.store(!settings.unhealthy, Ordering::SeqCst);
    state.ready.store(!settings.unready, Ordering::SeqCst);

    super::http::termination().await;
    state.healthy.store(false, Ordering::SeqCst);
    state.ready.store(false, Ordering::SeqCst);
    log(
        Level::Info,
        shutdown_at,
        "Shutting down HTTP/HTTPS server",
        &[("timeout", go_float(settings.shutdown_timeout))],
    );
    if settings.level != "debug" {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    server
        .shutdown(Duration::from_secs_f64(settings.shutdown_timeout.max(0.0)))
        .await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::catalog::lookup;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn builds_by_image() {
        let b = Build::of(&lookup("ghcr.io/learnk8s/podinfo:2023.03").unwrap());
        assert_eq!(b.version, "6.3.4");
        assert_eq!(b.revision, "1abc44f0d8dd6cd9df76090ea4ad694b70e03ee4");
        assert_eq!(b.go, "go1.20.1");
        let b = Build::of(&lookup("stefanprodan/podinfo:6.3.5").unwrap());
        assert_eq!(b.version, "6.3.5");
        assert_eq!(b.revision, "unknown");
        let b = Build::of(&lookup("ghcr.io/stefanprodan/podinfo:v6.7.1").unwrap());
        assert_eq!(b.version, "6.7.1");
        assert_eq!(b.callers().1, "http/server.go:224");
    }

    #[test]
    fn settings_from_flags_and_environment() {
        let b = Build::of(&lookup("ghcr.io/learnk8s/podinfo:2023.03").unwrap());
        let none = |_: &str| None;
        let (st, v) = settings(&s(&["./podinfo"]), &none, &b).unwrap();
        assert!(!v);
        assert_eq!(st.port, 9898);
        assert_eq!(st.message, "greetings from podinfo v6.3.4");
        assert_eq!(st.color, "#34577c");
        let env = |k: &str| match k {
            "PODINFO_UI_MESSAGE" => Some("hi from env".to_string()),
            "PODINFO_PORT" => Some("8080".to_string()),
            _ => None,
        };
        let (st, _) = settings(&s(&["./podinfo", "--port=9999"]), &env, &b).unwrap();
        assert_eq!(st.port, 9999, "the command line wins over the environment");
        assert_eq!(st.message, "hi from env");
        let (_, v) = settings(&s(&["./podinfo", "-v"]), &none, &b).unwrap();
        assert!(v);
        let e = settings(&s(&["./podinfo", "--colour=red"]), &none, &b).unwrap_err();
        assert_eq!(e.to_string(), "Error: unknown flag: --colour");
        let (st, _) = settings(&s(&["./podinfo", "--grpc-port=9999"]), &none, &b).unwrap();
        assert_eq!(st.unimplemented, vec!["--grpc-port=9999".to_string()]);
    }

    #[test]
    fn info_json_snapshot() {
        let info = Info {
            hostname: "hello-world-5d6cfd9db8-jjrn5".into(),
            version: "6.3.4".into(),
            revision: "1abc44f0d8dd6cd9df76090ea4ad694b70e03ee4".into(),
            color: "#34577c".into(),
            logo: "https://raw.githubusercontent.com/stefanprodan/podinfo/gh-pages/cuddle_clap.gif"
                .into(),
            message: "greetings from podinfo v6.3.4".into(),
            goos: "linux".into(),
            goarch: "amd64".into(),
            runtime: "go1.20.1".into(),
            num_goroutine: "7".into(),
            num_cpu: "4".into(),
        };
        insta::assert_snapshot!(pretty(&info));
    }

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(canonical("user-agent"), "User-Agent");
        assert_eq!(canonical("ACCEPT"), "Accept");
    }
}
