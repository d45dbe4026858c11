//! kube-proxy as kubeadm's DaemonSet runs it (`/usr/local/bin/kube-proxy
//! --config=/var/lib/kube-proxy/config.conf --hostname-override=$(NODE_NAME)`).
//!
//! - Flags as kube-proxy's (pflag through cobra, component-base `cli.Run`): an unknown flag prints
//!   the usage, then `Error: unknown flag: --x`, and exits 1.
//! - The KubeProxyConfiguration is read through the `kube-proxy` ConfigMap volume; the API is
//!   reached in-cluster (service-account token and CA of the pod, `LABSIM_APISERVER`) where real
//!   kube-proxy uses the ConfigMap's kubeconfig with the same token and CA.
//! - It lists and watches Services, EndpointSlices and its Node, logging kube-proxy's startup and
//!   cache-sync lines (cmd/kube-proxy/app/server.go, pkg/proxy/config), and serves
//!   `/healthz` and `/livez` on the node IP, port 10256 (pkg/proxy/healthcheck/proxy_health.go:
//!   `{"lastUpdated": …,"currentTime": …, "nodeEligible": true}`) and `/healthz`, `/proxyMode`,
//!   `/configz` on port 10249, on the node IP instead of 127.0.0.1 (docs/labsim.md,
//!   "127.0.0.1 listeners").
//! - **No dataplane**: labsim programs no iptables/IPVS/nftables rules; Service ClusterIPs and
//!   NodePorts do not route on labsim. The log says so where kube-proxy would name its proxier.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::catalog::ImageSpec;
use super::contract::ContainerEnv;
use super::http::{HttpServer, go_not_found, respond};
use super::log::{Level, Val, go_time_string, klog_s};
use crate::client::{ListParams, Reflector, path};
use crate::gocli::{FlagDef, FlagError, Kind, flag, parse_pflag, pflag_usage};

const FLAGS: &[FlagDef] = &[
    flag(
        "bind-address",
        Kind::Str,
        "0.0.0.0",
        "Overrides kube-proxy's idea of what its node's primary IP is.",
    ),
    flag(
        "cleanup",
        Kind::Bool,
        "false",
        "If true cleanup iptables and ipvs rules and exit.",
    ),
    flag(
        "cluster-cidr",
        Kind::Str,
        "",
        "The CIDR range of the pods in the cluster.",
    ),
    flag(
        "config",
        Kind::Str,
        "",
        "The path to the configuration file.",
    ),
    flag(
        "config-sync-period",
        Kind::Duration,
        "15m0s",
        "How often configuration from the apiserver is refreshed.  Must be greater than 0.",
    ),
    flag(
        "conntrack-max-per-core",
        Kind::Int,
        "32768",
        "Maximum number of NAT connections to track per CPU core (0 to leave the limit as-is and ignore conntrack-min).",
    ),
    flag(
        "conntrack-min",
        Kind::Int,
        "131072",
        "Minimum number of conntrack entries to allocate, regardless of conntrack-max-per-core (set conntrack-max-per-core=0 to leave the limit as-is).",
    ),
    flag(
        "detect-local-mode",
        Kind::Str,
        "",
        "Mode to use to detect local traffic.",
    ),
    flag(
        "feature-gates",
        Kind::Str,
        "",
        "A set of key=value pairs that describe feature gates for alpha/experimental features.",
    ),
    flag(
        "healthz-bind-address",
        Kind::Str,
        "0.0.0.0:10256",
        "The IP address and port for the health check server to serve on, defaulting to \"0.0.0.0:10256\".",
    ),
    flag(
        "hostname-override",
        Kind::Str,
        "",
        "If non-empty, will be used as the name of the Node that kube-proxy is running on.",
    ),
    flag(
        "init-only",
        Kind::Bool,
        "false",
        "If true, perform any initialization steps that must be done with full root privileges, and then exit.",
    ),
    flag(
        "iptables-masquerade-bit",
        Kind::Int,
        "14",
        "If using the iptables or ipvs proxy mode, the bit of the fwmark space to mark packets requiring SNAT with.  Must be within the range [0, 31].",
    ),
    flag(
        "iptables-min-sync-period",
        Kind::Duration,
        "1s",
        "The minimum period between iptables rule resyncs (e.g. '5s', '1m', '2h22m').",
    ),
    flag(
        "iptables-sync-period",
        Kind::Duration,
        "30s",
        "An interval (e.g. '5s', '1m', '2h22m') indicating how frequently various re-synchronizing and cleanup operations are performed.  Must be greater than 0.",
    ),
    flag(
        "kube-api-burst",
        Kind::Int,
        "10",
        "Burst to use while talking with kubernetes apiserver",
    ),
    flag(
        "kube-api-content-type",
        Kind::Str,
        "application/vnd.kubernetes.protobuf",
        "Content type of requests sent to apiserver.",
    ),
    flag(
        "kube-api-qps",
        Kind::Str,
        "5",
        "QPS to use while talking with kubernetes apiserver",
    ),
    flag(
        "kubeconfig",
        Kind::Str,
        "",
        "Path to kubeconfig file with authorization information (the master location can be overridden by the master flag).",
    ),
    flag(
        "log-flush-frequency",
        Kind::Duration,
        "5s",
        "Maximum number of seconds between log flushes",
    ),
    flag(
        "logging-format",
        Kind::Str,
        "text",
        "Sets the log format. Permitted formats: \"text\".",
    ),
    flag(
        "masquerade-all",
        Kind::Bool,
        "false",
        "SNAT all traffic sent via Service cluster IPs. This may be required with some CNI plugins.",
    ),
    flag(
        "master",
        Kind::Str,
        "",
        "The address of the Kubernetes API server (overrides any value in kubeconfig)",
    ),
    flag(
        "metrics-bind-address",
        Kind::Str,
        "127.0.0.1:10249",
        "The IP address and port for the metrics server to serve on (set to '0.0.0.0:10249' for all IPv4 interfaces and '[::]:10249' for all IPv6 interfaces). Set empty to disable.",
    ),
    flag(
        "nodeport-addresses",
        Kind::StrSlice,
        "[]",
        "A list of CIDR ranges that contain valid node IPs, or alternatively, the single string 'primary'.",
    ),
    flag(
        "oom-score-adj",
        Kind::Int,
        "-999",
        "The oom-score-adj value for kube-proxy process. Values must be within the range [-1000, 1000]",
    ),
    flag(
        "pod-bridge-interface",
        Kind::Str,
        "",
        "A bridge interface name. When --detect-local-mode is set to BridgeInterface, kube-proxy will consider traffic to be local if it originates from this bridge.",
    ),
    flag(
        "pod-interface-name-prefix",
        Kind::Str,
        "",
        "An interface name prefix. When --detect-local-mode is set to InterfaceNamePrefix, kube-proxy will consider traffic to be local if it originates from any interface whose name begins with this prefix.",
    ),
    flag(
        "profiling",
        Kind::Bool,
        "false",
        "If true enables profiling via web interface on /debug/pprof handler.",
    ),
    flag(
        "proxy-mode",
        Kind::Str,
        "",
        "Which proxy mode to use: on Linux this can be 'iptables' (default), 'ipvs', or 'nftables'.",
    ),
    flag(
        "show-hidden-metrics-for-version",
        Kind::Str,
        "",
        "The previous version for which you want to show hidden metrics.",
    ),
    FlagDef {
        name: "v",
        short: Some('v'),
        kind: Kind::Int,
        default: "0",
        usage: "number for the log level verbosity",
    },
    flag(
        "version",
        Kind::OptStr,
        "false",
        "--version, --version=raw prints version information and quits; --version=vX.Y.Z... sets the reported version",
    ),
    flag(
        "vmodule",
        Kind::Str,
        "",
        "comma-separated list of pattern=N settings for file-filtered logging (only works for text log format)",
    ),
    flag(
        "write-config-to",
        Kind::Str,
        "",
        "If set, write the default configuration values to this file and exit.",
    ),
];

/// The kube-proxy version: the image tag (`v1.33.7`).
fn version(image: &ImageSpec) -> String {
    image
        .reference
        .tag
        .clone()
        .unwrap_or_else(|| format!("v{}", image.version()))
}

fn bind(addr: &str, node_ip: IpAddr, default_port: u16) -> Option<SocketAddr> {
    if addr.is_empty() {
        return None;
    }
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
    let port = port.parse().unwrap_or(default_port);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() || ip.is_loopback() => node_ip,
        Ok(ip) => ip,
        Err(_) => node_ip,
    };
    Some(SocketAddr::new(ip, port))
}

/// Runs kube-proxy.
pub fn main(argv: &[String], env: &ContainerEnv, image: &ImageSpec) -> ExitCode {
    let p = match parse_pflag(FLAGS, argv.get(1..).unwrap_or_default()) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            println!(
                "The Kubernetes network proxy runs on each node.\n\nUsage:\n  kube-proxy [flags]\n\nFlags:\n{}",
                pflag_usage(FLAGS)
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!(
                "Usage:\n  kube-proxy [flags]\n\nFlags:\n{}",
                pflag_usage(FLAGS)
            );
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    if p.get("version") != "false" {
        println!("Kubernetes {}", version(image));
        return ExitCode::SUCCESS;
    }
    let mut config = json!({});
    if !p.get("config").is_empty() {
        match env.read(&p.get("config")) {
            Ok(bytes) => match serde_saphyr::from_str::<Value>(&String::from_utf8_lossy(&bytes)) {
                Ok(v) => config = v,
                Err(e) => {
                    eprintln!(
                        "Error: failed to load kube-proxy config file {:?}: {e}",
                        p.get("config")
                    );
                    return ExitCode::from(1);
                }
            },
            Err(e) => {
                eprintln!(
                    "Error: failed to read kube-proxy config file {:?}, error: {e}",
                    p.get("config")
                );
                return ExitCode::from(1);
            }
        }
    }
    let pick = |flag_name: &str, key: &str| -> String {
        if p.is_set(flag_name) {
            p.get(flag_name)
        } else {
            config[key]
                .as_str()
                .map(str::to_string)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| p.get(flag_name))
        }
    };
    let hostname = pick("hostname-override", "hostnameOverride");
    let hostname = if hostname.is_empty() {
        env.node_name.clone()
    } else {
        hostname
    };
    let mode = pick("proxy-mode", "mode");
    let healthz = pick("healthz-bind-address", "healthzBindAddress");
    let metrics = pick("metrics-bind-address", "metricsBindAddress");
    let settings = Settings {
        hostname,
        mode: if mode.is_empty() {
            "iptables".into()
        } else {
            mode
        },
        healthz,
        metrics,
        version: version(image),
        config,
    };
    super::http::runtime().block_on(run(settings, env.clone()))
}

struct Settings {
    hostname: String,
    mode: String,
    healthz: String,
    metrics: String,
    version: String,
    config: Value,
}

async fn run(s: Settings, env: ContainerEnv) -> ExitCode {
    let node_ip = match env.node_ip().or_else(|_| env.bind_ip()) {
        Ok(ip) => ip,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    let client = match env.kube_client(&format!(
        "kube-proxy/{} (linux/amd64) kubernetes",
        s.version
    )) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: unable to load in-cluster configuration: {e}");
            return ExitCode::from(1);
        }
    };
    let node_path = path("", "v1", "nodes", None, Some(&s.hostname));
    let ips = match client.get(&node_path).await {
        Ok(n) => n["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["type"] == "InternalIP")
            .filter_map(|a| a["address"].as_str().map(str::to_string))
            .collect::<Vec<_>>(),
        Err(_) => vec![],
    };
    if ips.is_empty() {
        klog_s(
            Level::Error,
            "server.go:1022",
            "Can't determine this node's IP, assuming loopback; if this is incorrect, please set the --bind-address flag",
            &[],
        );
    } else {
        let list = ips
            .iter()
            .map(|i| format!("{i:?}"))
            .collect::<Vec<_>>()
            .join(",");
        klog_s(
            Level::Info,
            "server.go:698",
            "Successfully retrieved node IP(s)",
            &[("IPs", Val::Raw(format!("[{list}]")))],
        );
    }
    klog_s(
        Level::Info,
        "server_linux.go:66",
        "labsim: no proxier: Service ClusterIPs and NodePorts are not programmed on this node (docs/labsim.md, \"Containers and images\")",
        &[("mode", Val::Str(s.mode.clone()))],
    );
    klog_s(
        Level::Info,
        "server.go:483",
        "Version info",
        &[("version", Val::Str(s.version.clone()))],
    );
    klog_s(
        Level::Info,
        "server.go:485",
        "Golang settings",
        &[
            ("GOGC", Val::Str(String::new())),
            ("GOMAXPROCS", Val::Str(String::new())),
            ("GOTRACEBACK", Val::Str(String::new())),
        ],
    );
    let synced = Arc::new(AtomicBool::new(false));
    let eligible = Arc::new(AtomicBool::new(true));
    let mut servers = vec![];
    if let Some(addr) = bind(&s.healthz, node_ip, 10256) {
        let (synced, eligible) = (synced.clone(), eligible.clone());
        match HttpServer::bind(addr, move |req, _| {
            let (synced, eligible) = (synced.clone(), eligible.clone());
            async move {
                let now = go_time_string(Timestamp::now());
                let healthy = synced.load(Ordering::SeqCst);
                let elig = eligible.load(Ordering::SeqCst);
                let body = match req.uri().path() {
                    "/healthz" => format!(
                        "{{\"lastUpdated\": {},\"currentTime\": {}, \"nodeEligible\": {elig}}}",
                        super::log::go_quote(&now),
                        super::log::go_quote(&now)
                    ),
                    "/livez" => format!(
                        "{{\"lastUpdated\": {},\"currentTime\": {}}}",
                        super::log::go_quote(&now),
                        super::log::go_quote(&now)
                    ),
                    _ => return go_not_found(),
                };
                let ok = healthy && (req.uri().path() == "/livez" || elig);
                let mut r = respond(if ok { 200 } else { 503 }, "application/json", body);
                r.headers_mut().insert(
                    "x-content-type-options",
                    hyper::header::HeaderValue::from_static("nosniff"),
                );
                r
            }
        })
        .await
        {
            Ok(srv) => servers.push(srv),
            Err(e) => {
                klog_s(
                    Level::Error,
                    "server.go:1037",
                    "Failed to start proxy healthz server",
                    &[("err", Val::Str(format!("listen tcp {addr}: bind: {e}")))],
                );
            }
        }
    }
    if let Some(addr) = bind(&s.metrics, node_ip, 10249) {
        let mode = s.mode.clone();
        let configz = json!({"kubeproxy.config.k8s.io": s.config}).to_string();
        match HttpServer::bind(addr, move |req, _| {
            let (mode, configz) = (mode.clone(), configz.clone());
            async move {
                match req.uri().path() {
                    "/healthz" => respond(200, "text/plain; charset=utf-8", "ok"),
                    "/proxyMode" => respond(200, "text/plain; charset=utf-8", mode),
                    "/configz" => respond(200, "application/json", configz),
                    _ => go_not_found(),
                }
            }
        })
        .await
        {
            Ok(srv) => servers.push(srv),
            Err(e) => klog_s(
                Level::Error,
                "server.go:1080",
                "Failed to start metrics server",
                &[("err", Val::Str(format!("listen tcp {addr}: bind: {e}")))],
            ),
        }
    }
    let rs = Reflector::new(
        client.clone(),
        path("", "v1", "services", None, None),
        ListParams::default(),
    );
    let re = Reflector::new(
        client.clone(),
        path("discovery.k8s.io", "v1", "endpointslices", None, None),
        ListParams::default(),
    );
    let rn = Reflector::new(
        client,
        path("", "v1", "nodes", None, None),
        ListParams {
            field_selector: Some(format!("metadata.name={}", s.hostname)),
            ..Default::default()
        },
    );
    let (svc, eps, node) = (rs.store(), re.store(), rn.store());
    let mut node_changes = rn.subscribe();
    tokio::spawn(rs.run());
    tokio::spawn(re.run());
    tokio::spawn(rn.run());
    for (at, what) in [
        ("config.go:199", "Starting service config controller"),
        ("config.go:105", "Starting endpoint slice config controller"),
        ("config.go:329", "Starting node config controller"),
    ] {
        klog_s(Level::Info, at, what, &[]);
        let controller = what
            .trim_start_matches("Starting ")
            .trim_end_matches(" controller");
        klog_s(
            Level::Info,
            "shared_informer.go:350",
            "Waiting for caches to sync",
            &[("controller", Val::Str(controller.into()))],
        );
    }
    let sync = async {
        node.wait_ready().await;
        klog_s(
            Level::Info,
            "shared_informer.go:357",
            "Caches are synced",
            &[("controller", Val::Str("node config".into()))],
        );
        svc.wait_ready().await;
        klog_s(
            Level::Info,
            "shared_informer.go:357",
            "Caches are synced",
            &[("controller", Val::Str("service config".into()))],
        );
        eps.wait_ready().await;
        klog_s(
            Level::Info,
            "shared_informer.go:357",
            "Caches are synced",
            &[("controller", Val::Str("endpoint slice config".into()))],
        );
        synced.store(true, Ordering::SeqCst);
    };
    let node_name = s.hostname.clone();
    let watch_node = async {
        loop {
            if let Some(n) = node.get(&node_name) {
                let deleting = n["metadata"]["deletionTimestamp"].is_string();
                let tainted = n["spec"]["taints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["key"] == "ToBeDeletedByClusterAutoscaler");
                eligible.store(!deleting && !tainted, Ordering::SeqCst);
            }
            if node_changes.recv().await.is_err() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    tokio::select! {
        _ = async { tokio::join!(sync, watch_node) } => {}
        _ = super::http::termination() => {
            for srv in servers {
                srv.shutdown(Duration::from_secs(1)).await;
            }
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_move_off_127_0_0_1() {
        let ip: IpAddr = "127.100.49.3".parse().unwrap();
        assert_eq!(
            bind("0.0.0.0:10256", ip, 10256),
            Some(SocketAddr::new(ip, 10256))
        );
        assert_eq!(
            bind("127.0.0.1:10249", ip, 10249),
            Some(SocketAddr::new(ip, 10249))
        );
        assert_eq!(bind("", ip, 10249), None);
    }

    #[test]
    fn version_takes_an_optional_value() {
        let p = parse_pflag(FLAGS, &["--version".to_string()]).unwrap();
        assert_eq!(p.get("version"), "true");
        let p = parse_pflag(FLAGS, &["--version=raw".to_string()]).unwrap();
        assert_eq!(p.get("version"), "raw");
    }

    #[test]
    fn unknown_flags_are_refused() {
        let argv: Vec<String> = vec![
            "--config=/var/lib/kube-proxy/config.conf".into(),
            "--hostname-override=m02".into(),
        ];
        let p = parse_pflag(FLAGS, &argv).unwrap();
        assert_eq!(p.get("hostname-override"), "m02");
        assert_eq!(
            parse_pflag(FLAGS, &["--nope".to_string()])
                .unwrap_err()
                .to_string(),
            "unknown flag: --nope"
        );
    }
}
