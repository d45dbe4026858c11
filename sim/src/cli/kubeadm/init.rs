//! `kubeadm version`, `kubeadm init` and `kubeadm reset` (cmd/kubeadm/app/cmd/{version,init,
//! reset}.go and the phases under cmd/kubeadm/app/cmd/phases/init): the phase order and texts of
//! the node's version (CLI-REFERENCE.md §2), the files on the node, and the objects in the cluster.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::config::{self, HostFacts, InitConfig, Notices};
use super::manifests::{self, ManifestContext};
use super::preflight::{self, CheckResult, Ignored};
use super::{Failure, Node, addons, klog, parse_args, paths, token, write_file, yaml};
use crate::client::{Client, Config, PatchType};
use crate::node::proto::{self, Request, Response, UnitAction};
use crate::pki::kubeconfig::Kubeconfig;
use crate::pki::{Ca, CertSpec, KubeadmPki, admin_group};
use crate::version::Minor;

/// `kubeadm version [-o short|json|yaml]` (cmd/kubeadm/app/cmd/version.go).
pub fn version_cmd(node: &Node, args: &[String], out: &mut dyn Write) -> Result<(), Failure> {
    let a = parse_args(args, &["output"], &[]).map_err(Failure::Plain)?;
    let minor = node.minor();
    let git = minor.git_version();
    let info = json!({
        "major": "1",
        "minor": minor.minor().to_string(),
        "gitVersion": git,
        "gitCommit": "$Format:%H$",
        "gitTreeState": "",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "labsim",
        "compiler": "gc",
        "platform": "linux/amd64",
    });
    let text = match a.get("output").unwrap_or("") {
        "" => format!(
            "kubeadm version: &version.Info{{Major:\"1\", Minor:\"{}\", GitVersion:\"{git}\", GitCommit:\"$Format:%H$\", GitTreeState:\"\", BuildDate:\"1970-01-01T00:00:00Z\", GoVersion:\"labsim\", Compiler:\"gc\", Platform:\"linux/amd64\"}}\n",
            minor.minor()
        ),
        "short" => format!("{git}\n"),
        "json" => format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"clientVersion": info})).expect("json")
        ),
        "yaml" => yaml::to_string(&json!({"clientVersion": info})),
        other => {
            return Err(Failure::Plain(format!("invalid output format: {other}")));
        }
    };
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

/// The flags of `kubeadm init` labsim reads.
const INIT_VALUE_FLAGS: &[&str] = &[
    "config",
    "ignore-preflight-errors",
    "apiserver-advertise-address",
    "apiserver-bind-port",
    "pod-network-cidr",
    "service-cidr",
    "service-dns-domain",
    "kubernetes-version",
    "node-name",
    "cri-socket",
    "cert-dir",
    "token",
    "token-ttl",
    "image-repository",
    "skip-phases",
    "control-plane-endpoint",
    "apiserver-cert-extra-sans",
    "certificate-key",
    "patches",
    "feature-gates",
    "kubeconfig",
];
const INIT_BOOL_FLAGS: &[&str] = &[
    "skip-token-print",
    "upload-certs",
    "dry-run",
    "skip-certificate-key-print",
];

/// Flags that may not be combined with `--config` (cmd/kubeadm/app/cmd/init.go
/// `ValidateMixedArguments`).
const NOT_WITH_CONFIG: &[&str] = &[
    "apiserver-advertise-address",
    "apiserver-bind-port",
    "pod-network-cidr",
    "service-cidr",
    "service-dns-domain",
    "kubernetes-version",
    "node-name",
    "cri-socket",
    "cert-dir",
    "token",
    "token-ttl",
    "image-repository",
    "control-plane-endpoint",
    "apiserver-cert-extra-sans",
];

/// Builds the config text for a flags-only `kubeadm init`.
fn config_from_flags(a: &super::Args, minor: Minor) -> String {
    let api = minor.kubeadm_preferred_api().api_version();
    let mut init = format!("apiVersion: {api}\nkind: InitConfiguration\n");
    if a.get("apiserver-advertise-address").is_some() || a.get("apiserver-bind-port").is_some() {
        init.push_str("localAPIEndpoint:\n");
        if let Some(v) = a.get("apiserver-advertise-address") {
            init.push_str(&format!("  advertiseAddress: {v:?}\n"));
        }
        if let Some(v) = a.get("apiserver-bind-port") {
            init.push_str(&format!("  bindPort: {v}\n"));
        }
    }
    if a.get("node-name").is_some() || a.get("cri-socket").is_some() {
        init.push_str("nodeRegistration:\n");
        if let Some(v) = a.get("node-name") {
            init.push_str(&format!("  name: {v:?}\n"));
        }
        if let Some(v) = a.get("cri-socket") {
            init.push_str(&format!("  criSocket: {v:?}\n"));
        }
    }
    if a.get("token").is_some() || a.get("token-ttl").is_some() {
        init.push_str(
            "bootstrapTokens:\n- groups: [\"system:bootstrappers:kubeadm:default-node-token\"]\n",
        );
        if let Some(v) = a.get("token") {
            init.push_str(&format!("  token: {v:?}\n"));
        }
        if let Some(v) = a.get("token-ttl") {
            init.push_str(&format!("  ttl: {v:?}\n"));
        }
    }
    let mut cluster = format!("---\napiVersion: {api}\nkind: ClusterConfiguration\n");
    for (flag, field) in [
        ("kubernetes-version", "kubernetesVersion"),
        ("cert-dir", "certificatesDir"),
        ("image-repository", "imageRepository"),
        ("control-plane-endpoint", "controlPlaneEndpoint"),
    ] {
        if let Some(v) = a.get(flag) {
            cluster.push_str(&format!("{field}: {v:?}\n"));
        }
    }
    let nets: Vec<(&str, &str)> = [
        ("pod-network-cidr", "podSubnet"),
        ("service-cidr", "serviceSubnet"),
        ("service-dns-domain", "dnsDomain"),
    ]
    .into_iter()
    .filter(|(f, _)| a.get(f).is_some())
    .collect();
    if !nets.is_empty() {
        cluster.push_str("networking:\n");
        for (f, field) in nets {
            cluster.push_str(&format!("  {field}: {:?}\n", a.get(f).expect("filtered")));
        }
    }
    if let Some(v) = a.get("apiserver-cert-extra-sans") {
        cluster.push_str("apiServer:\n  certSANs:\n");
        for s in v.split(',') {
            cluster.push_str(&format!("  - {s:?}\n"));
        }
    }
    format!("{init}{cluster}")
}

/// Host facts for defaults: hostname, the node IP (the address of the node's default interface on
/// minikube), kubeadm's version.
pub fn host_facts(node: &Node) -> HostFacts {
    HostFacts {
        hostname: node.hostname.clone(),
        default_ip: IpAddr::V4(node.info.ip),
        kubeadm_version: node.minor().git_version(),
    }
}

fn print_notices(out: &mut dyn Write, err: &mut dyn Write, n: &Notices) {
    for w in &n.warnings {
        let _ = writeln!(err, "{}", klog('W', "initconfiguration.go:332", w));
    }
    for l in &n.stdout {
        let _ = writeln!(out, "{l}");
    }
}

/// `kubeadm init`.
pub fn init_cmd(
    node: &Node,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let a = parse_args(args, INIT_VALUE_FLAGS, INIT_BOOL_FLAGS).map_err(Failure::Plain)?;
    let minor = node.minor();
    let text = match a.get("config") {
        Some(path) => {
            let mixed: Vec<&str> = NOT_WITH_CONFIG
                .iter()
                .copied()
                .filter(|f| a.get(f).is_some())
                .collect();
            if !mixed.is_empty() {
                return Err(Failure::Plain(format!(
                    "can not mix '--config' with arguments {mixed:?}"
                )));
            }
            std::fs::read_to_string(path).map_err(|e| {
                Failure::Plain(
                    config::ConfigError::Read {
                        path: path.into(),
                        detail: format!(
                            "open {path}: {}",
                            if e.kind() == std::io::ErrorKind::NotFound {
                                "no such file or directory".to_string()
                            } else {
                                e.to_string().to_lowercase()
                            }
                        ),
                    }
                    .to_string(),
                )
            })?
        }
        None => config_from_flags(&a, minor),
    };
    let host = host_facts(node);
    let (cfg, notices) =
        config::load_init(&text, minor, &host).map_err(|e| Failure::Plain(e.to_string()))?;
    print_notices(out, err, &notices);
    let mut ignored_items = a.all("ignore-preflight-errors");
    ignored_items.extend(cfg.node.ignore_preflight_errors.iter().cloned());
    let ignored = Ignored::new(&ignored_items);
    let plan = Plan {
        minor,
        node_ip: IpAddr::V4(node.info.ip),
        hostname: node.hostname.clone(),
        token: cfg
            .bootstrap_tokens
            .first()
            .and_then(|t| t.token.clone())
            .unwrap_or_else(token::generate),
        skip_token_print: a.bool("skip-token-print"),
        upload_certs: a.bool("upload-certs"),
        event_log: node.info.event_log,
        cfg,
        cgroup: node.info.cgroup_version,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Plain(format!("cannot start an async runtime: {e}")))?;
    rt.block_on(run_init(&plan, &ignored, out, err))
}

/// Everything `init` decided before acting.
#[derive(Clone)]
pub struct Plan {
    /// The node's Kubernetes minor.
    pub minor: Minor,
    /// The node IP.
    pub node_ip: IpAddr,
    /// The hostname.
    pub hostname: String,
    /// The bootstrap token (a secret: never logged).
    pub token: String,
    /// `--skip-token-print`.
    pub skip_token_print: bool,
    /// `--upload-certs`.
    pub upload_certs: bool,
    /// labsim's event log was asked for (the node's `event_log`): write the audit policy and
    /// enable the API server's audit log.
    pub event_log: bool,
    /// The configuration.
    pub cfg: InitConfig,
    /// The node's cgroup hierarchy (its identity, not the host's).
    pub cgroup: crate::node::CgroupVersion,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("minor", &self.minor)
            .field("node_ip", &self.node_ip)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// `https://advertise:port` (or the controlPlaneEndpoint).
    pub fn server(&self) -> String {
        if self.cfg.cluster.control_plane_endpoint.is_empty() {
            format!(
                "https://{}",
                manifests::endpoint(self.cfg.advertise_address, self.cfg.bind_port)
            )
        } else {
            format!("https://{}", self.cfg.cluster.control_plane_endpoint)
        }
    }

    fn join_endpoint(&self) -> String {
        self.server().trim_start_matches("https://").to_string()
    }
}

fn line(out: &mut dyn Write, s: impl AsRef<str>) {
    let _ = writeln!(out, "{}", s.as_ref());
    let _ = out.flush();
}

/// Gathers the facts and runs the init preflight checks (checks.go `RunInitNodeChecks`).
pub fn init_preflight(plan: &Plan, ignored: &Ignored) -> preflight::Report {
    let cfg = &plan.cfg;
    let minor = plan.minor;
    let mut checks = vec![preflight::privileged(nix::unistd::geteuid().as_raw())];
    if !ignored.has("IsPrivilegedUser") && !checks[0].errors.is_empty() {
        // RunRootCheckOnly fails fast.
        return preflight::run(checks, ignored, vec![]);
    }
    checks.push(preflight::num_cpu(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    ));
    checks.push(preflight::mem(mem_total_mb()));
    for port in [cfg.bind_port, 10259, 10257] {
        checks.push(preflight::port_open(plan.node_ip, port));
    }
    for m in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "etcd",
    ] {
        let p = format!("{}/{m}.yaml", paths::MANIFESTS_DIR);
        checks.push(preflight::file_available(&p, Path::new(&p).exists()));
    }
    let https_proxy = std::env::var("HTTPS_PROXY")
        .or_else(|_| std::env::var("https_proxy"))
        .ok();
    let no_proxy = std::env::var("NO_PROXY")
        .or_else(|_| std::env::var("no_proxy"))
        .ok();
    checks.push(preflight::http_proxy(
        &cfg.advertise_address.to_string(),
        https_proxy.as_deref(),
        no_proxy.as_deref(),
    ));
    let (common, stdout) = common_checks(
        plan.minor,
        &cfg.node.name,
        &cfg.node.cri_socket,
        &cfg.cluster.kubernetes_version,
        plan.node_ip,
        plan.cgroup,
    );
    checks.extend(common);
    for port in [2379, 2380] {
        checks.push(preflight::port_open(plan.node_ip, port));
    }
    checks.push(preflight::dir_available(
        &cfg.cluster.etcd_data_dir,
        dir_non_empty(&cfg.cluster.etcd_data_dir),
    ));
    let _ = minor;
    preflight::run(checks, ignored, stdout)
}

fn dir_non_empty(p: &str) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

fn mem_total_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// checks.go `addCommonChecks`: CRI, bridge-nf/ip_forward contents, swap, executables,
/// SystemVerification, Hostname, KubeletVersion, Service-Kubelet, Port-10250.
pub fn common_checks(
    minor: Minor,
    node_name: &str,
    cri_socket: &str,
    kubernetes_version: &str,
    node_ip: IpAddr,
    cgroup: crate::node::CgroupVersion,
) -> (Vec<CheckResult>, Vec<String>) {
    let mut checks = vec![preflight::cri(
        cri_socket,
        preflight::dial_cri(cri_socket).as_deref(),
    )];
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let bridge = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    checks.push(preflight::file_content(
        bridge,
        read(bridge).as_deref(),
        "1",
    ));
    let fwd = "/proc/sys/net/ipv4/ip_forward";
    checks.push(preflight::file_content(fwd, read(fwd).as_deref(), "1"));
    let swap_on = read("/proc/swaps")
        .map(|t| t.lines().count() > 1)
        .unwrap_or(false);
    checks.push(preflight::swap(swap_on, minor));
    let path_var = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    for (exe, mandatory) in preflight::exec_checks(minor) {
        checks.push(preflight::in_path(exe, mandatory, &path_var));
    }
    let (sv, stdout) =
        preflight::system_verification(&preflight::SystemFacts::for_node(cgroup), minor);
    checks.push(sv);
    let resolves = std::net::ToSocketAddrs::to_socket_addrs(&(node_name, 0u16))
        .map(|mut a| a.next().is_some())
        .unwrap_or(false);
    checks.push(preflight::hostname(node_name, resolves));
    let cp = kubernetes_version.parse::<Minor>().unwrap_or(minor);
    let kubelet = std::process::Command::new("kubelet")
        .arg("--version")
        .output()
        .map_err(|e| e.to_string())
        .and_then(|o| {
            if o.status.success() {
                Ok(String::from_utf8_lossy(&o.stdout).into_owned())
            } else {
                Err(format!("exit status {}", o.status.code().unwrap_or(1)))
            }
        });
    checks.push(preflight::kubelet_version(kubelet, cp));
    checks.push(preflight::service_kubelet(kubelet_enabled()));
    checks.push(preflight::port_open(node_ip, 10250));
    (checks, stdout)
}

fn agent() -> Result<proto::Client, String> {
    proto::Client::connect(Path::new(crate::paths::node::AGENT_SOCKET)).map_err(|e| e.to_string())
}

/// `systemctl is-enabled kubelet` through the agent (None: no init system reachable).
pub fn kubelet_enabled() -> Option<bool> {
    let mut c = agent().ok()?;
    match c
        .call(&Request::Units {
            action: UnitAction::IsEnabled,
            units: vec!["kubelet".into()],
            now: false,
            lines: 0,
        })
        .ok()?
    {
        Response::Units { outcomes } => Some(
            outcomes
                .first()
                .and_then(|o| o.state.as_deref())
                .is_some_and(|s| s == "enabled"),
        ),
        _ => None,
    }
}

/// `systemctl <action> kubelet` through the agent.
///
/// # Errors
/// The agent's or systemd's complaint.
pub fn kubelet_unit(action: UnitAction) -> Result<(), String> {
    let mut c = agent()?;
    match c
        .call(&Request::Units {
            action,
            units: vec!["kubelet".into()],
            now: false,
            lines: 0,
        })
        .map_err(|e| e.to_string())?
    {
        // What kubeadm's initsystem reports is systemctl's exit status (systemd's
        // EXIT_PROGRAM_OR_SERVICES_STATUS_UNKNOWN = 5 for a unit that does not exist).
        Response::Units { outcomes } => match outcomes.first().and_then(|o| o.failure.clone()) {
            None => Ok(()),
            Some(proto::UnitFailure::NotFound | proto::UnitFailure::NotLoaded) => {
                Err("exit status 5".into())
            }
            Some(_) => Err("exit status 1".into()),
        },
        Response::Error { message } => Err(message),
        other => Err(format!("unexpected answer from the node agent: {other:?}")),
    }
}

/// kubelet-start (kubelet.go `TryStartKubelet`): `systemctl restart kubelet`; failures are
/// warnings.
pub fn try_start_kubelet(out: &mut dyn Write, err: &mut dyn Write) {
    if let Err(e) = kubelet_unit(UnitAction::Restart) {
        let _ = writeln!(
            err,
            "{}",
            klog(
                'W',
                "kubelet.go:74",
                &format!("[kubelet-start] WARNING: unable to start the kubelet service: [{e}]")
            )
        );
        line(
            out,
            "[kubelet-start] Please ensure kubelet is reloaded and running manually.",
        );
    }
}

/// `TryStopKubelet`: `systemctl stop kubelet` before rewriting its files.
fn try_stop_kubelet() {
    let _ = kubelet_unit(UnitAction::Stop);
}

async fn run_init(
    plan: &Plan,
    ignored: &Ignored,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let minor = plan.minor;
    let cfg = &plan.cfg;
    line(
        out,
        format!(
            "[init] Using Kubernetes version: {}",
            cfg.cluster.kubernetes_version
        ),
    );
    line(out, "[preflight] Running pre-flight checks");
    let report = init_preflight(plan, ignored);
    for l in &report.stdout {
        line(out, l);
    }
    for w in &report.warnings {
        let _ = writeln!(err, "{w}");
    }
    if !report.errors.is_empty() {
        return Err(Failure::Preflight {
            errors: report.errors,
        });
    }
    line(
        out,
        "[preflight] Pulling images required for setting up a Kubernetes cluster",
    );
    line(
        out,
        "[preflight] This might take a minute or two, depending on the speed of your internet connection",
    );
    if minor.minor() <= 26 {
        line(
            out,
            "[preflight] You can also perform this action in beforehand using 'kubeadm config images pull'",
        );
    } else {
        line(
            out,
            "[preflight] You can also perform this action beforehand using 'kubeadm config images pull'",
        );
    }
    write_certs(plan, out).map_err(|e| Failure::phase("certs", e))?;
    write_kubeconfigs(plan, out).map_err(|e| Failure::phase("kubeconfig", e))?;
    let ctx = ManifestContext {
        minor,
        node_ip: plan.node_ip,
        ca_dirs: manifests::extra_ca_dirs(&|p| Path::new(p).is_dir()),
        event_log: plan.event_log,
        cfg,
    };
    if plan.event_log {
        write_file(
            Path::new(crate::apiserver::audit::POLICY_PATH),
            crate::apiserver::audit::LABSIM_POLICY.as_bytes(),
            0o600,
        )
        .map_err(|e| Failure::phase("control-plane", e))?;
    }
    let pods = manifests::all(&ctx);
    let write_pod = |name: &str| -> Result<(), String> {
        let (_, text) = pods
            .iter()
            .find(|(n, _)| *n == name)
            .expect("known manifest");
        write_file(
            &Path::new(paths::MANIFESTS_DIR).join(name),
            text.as_bytes(),
            0o600,
        )
    };
    let etcd_phase = |out: &mut dyn Write| -> Result<(), Failure> {
        line(
            out,
            format!(
                "[etcd] Creating static Pod manifest for local etcd in \"{}\"",
                paths::MANIFESTS_DIR
            ),
        );
        write_pod("etcd.yaml").map_err(|e| Failure::phase("etcd", e))
    };
    let cp_phase = |out: &mut dyn Write| -> Result<(), Failure> {
        line(
            out,
            format!(
                "[control-plane] Using manifest folder \"{}\"",
                paths::MANIFESTS_DIR
            ),
        );
        for c in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
        ] {
            line(
                out,
                format!("[control-plane] Creating static Pod manifest for \"{c}\""),
            );
            write_pod(&format!("{c}.yaml")).map_err(|e| Failure::phase("control-plane", e))?;
        }
        Ok(())
    };
    // The order of the phases changed in 1.27 (etcd and control-plane before kubelet-start).
    if minor.minor() >= 27 {
        etcd_phase(out)?;
        cp_phase(out)?;
        kubelet_start(plan, out, err)?;
    } else {
        kubelet_start(plan, out, err)?;
        cp_phase(out)?;
        etcd_phase(out)?;
    }
    wait_control_plane(plan, out).await?;
    let client = Client::new(
        &Config::from_kubeconfig(Path::new(paths::ADMIN_CONF))
            .map_err(|e| Failure::phase("upload-config", e.to_string()))?,
    )
    .map_err(|e| Failure::phase("upload-config", e.to_string()))?;
    let ca_pem = std::fs::read_to_string(Path::new(&cfg.cluster.certificates_dir).join("ca.crt"))
        .map_err(|e| Failure::phase("bootstrap-token", e.to_string()))?;
    cluster_phases(&client, plan, &ca_pem, out).await?;
    kubelet_finalize(plan, out, err).await;
    addons_phase(&client, plan, out).await?;
    show_join(plan, &ca_pem, out);
    Ok(())
}

fn write_certs(plan: &Plan, out: &mut dyn Write) -> Result<(), String> {
    let cfg = &plan.cfg;
    let dir = &cfg.cluster.certificates_dir;
    line(
        out,
        format!("[certs] Using certificateDir folder \"{dir}\""),
    );
    let service_ip = config::cidr_host(&cfg.cluster.service_subnet, 1)
        .map(IpAddr::V4)
        .ok_or_else(|| format!("invalid service subnet {:?}", cfg.cluster.service_subnet))?;
    let mut sans = cfg.cluster.apiserver_cert_sans.clone();
    sans.extend(cfg.cluster.etcd_server_cert_sans.iter().cloned());
    let pki = KubeadmPki {
        dir: dir.into(),
        node_name: cfg.node.name.clone(),
        advertise_address: cfg.advertise_address,
        service_ip,
        dns_domain: cfg.cluster.dns_domain.clone(),
        cert_sans: cfg.cluster.apiserver_cert_sans.clone(),
        minor: plan.minor,
    };
    let existing: Vec<&str> = ["ca", "front-proxy-ca", "etcd/ca"]
        .into_iter()
        .filter(|b| Path::new(dir).join(format!("{b}.crt")).exists())
        .collect();
    pki.generate().map_err(|e| e.to_string())?;
    let ca_line = |out: &mut dyn Write, base: &str| {
        if existing.contains(&base) {
            line(
                out,
                format!("[certs] Using existing {base} certificate authority"),
            );
        } else {
            line(
                out,
                format!("[certs] Generating \"{base}\" certificate and key"),
            );
        }
    };
    let specs = pki.leaf_specs();
    let san_line = |out: &mut dyn Write, base: &str| {
        if let Some((_, _, spec)) = specs.iter().find(|(b, _, _)| *b == base) {
            let ips: Vec<String> = spec.ips.iter().map(|i| i.to_string()).collect();
            line(
                out,
                format!(
                    "[certs] {base} serving cert is signed for DNS names [{}] and IPs [{}]",
                    spec.dns_names.join(" "),
                    ips.join(" ")
                ),
            );
        }
    };
    ca_line(out, "ca");
    line(out, "[certs] Generating \"apiserver\" certificate and key");
    san_line(out, "apiserver");
    line(
        out,
        "[certs] Generating \"apiserver-kubelet-client\" certificate and key",
    );
    ca_line(out, "front-proxy-ca");
    line(
        out,
        "[certs] Generating \"front-proxy-client\" certificate and key",
    );
    ca_line(out, "etcd/ca");
    line(
        out,
        "[certs] Generating \"etcd/server\" certificate and key",
    );
    san_line(out, "etcd/server");
    line(out, "[certs] Generating \"etcd/peer\" certificate and key");
    san_line(out, "etcd/peer");
    line(
        out,
        "[certs] Generating \"etcd/healthcheck-client\" certificate and key",
    );
    line(
        out,
        "[certs] Generating \"apiserver-etcd-client\" certificate and key",
    );
    line(out, "[certs] Generating \"sa\" key and public key");
    Ok(())
}

/// The kubeconfig files of init (cmd/kubeadm/app/phases/kubeconfig): user, groups, file.
fn kubeconfig_specs(plan: &Plan) -> Vec<(&'static str, String, Vec<&'static str>)> {
    let mut v = vec![(
        paths::ADMIN_CONF,
        "kubernetes-admin".to_string(),
        vec![admin_group(plan.minor)],
    )];
    if plan.minor.kubeadm_writes_super_admin() {
        v.push((
            paths::SUPER_ADMIN_CONF,
            "kubernetes-super-admin".to_string(),
            vec!["system:masters"],
        ));
    }
    v.push((
        paths::KUBELET_CONF,
        format!("system:node:{}", plan.cfg.node.name),
        vec!["system:nodes"],
    ));
    v.push((
        paths::CONTROLLER_MANAGER_CONF,
        "system:kube-controller-manager".to_string(),
        vec![],
    ));
    v.push((
        paths::SCHEDULER_CONF,
        "system:kube-scheduler".to_string(),
        vec![],
    ));
    v
}

fn write_kubeconfigs(plan: &Plan, out: &mut dyn Write) -> Result<(), String> {
    line(
        out,
        format!(
            "[kubeconfig] Using kubeconfig folder \"{}\"",
            paths::KUBERNETES_DIR
        ),
    );
    let ca =
        Ca::load(Path::new(&plan.cfg.cluster.certificates_dir), "ca").map_err(|e| e.to_string())?;
    let server = plan.server();
    for (file, user, groups) in kubeconfig_specs(plan) {
        let cert = ca
            .issue(&CertSpec::client(&user, &groups))
            .map_err(|e| e.to_string())?;
        let kc = Kubeconfig::with_client_cert(
            &plan.cfg.cluster.cluster_name,
            &server,
            ca.cert_pem(),
            &user,
            &cert.cert_pem,
            &cert.key_pem,
        );
        std::fs::create_dir_all(paths::KUBERNETES_DIR).map_err(|e| e.to_string())?;
        kc.write(Path::new(file)).map_err(|e| e.to_string())?;
        let name = Path::new(file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(file);
        line(
            out,
            format!("[kubeconfig] Writing \"{name}\" kubeconfig file"),
        );
    }
    Ok(())
}

fn kubelet_start(plan: &Plan, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), Failure> {
    try_stop_kubelet();
    let cfg = &plan.cfg;
    line(
        out,
        format!(
            "[kubelet-start] Writing kubelet environment file with flags to file \"{}\"",
            paths::KUBEADM_FLAGS_ENV
        ),
    );
    let pause = manifests::pause_image(cfg, plan.minor);
    let env = manifests::kubeadm_flags_env(
        &cfg.node.cri_socket,
        Some(&pause),
        &cfg.node.name,
        &plan.hostname,
        &cfg.node.kubelet_extra_args,
    );
    write_file(Path::new(paths::KUBEADM_FLAGS_ENV), env.as_bytes(), 0o644)
        .map_err(|e| Failure::phase("kubelet-start", e))?;
    line(
        out,
        format!(
            "[kubelet-start] Writing kubelet configuration to file \"{}\"",
            paths::KUBELET_CONFIG
        ),
    );
    let kc = yaml::to_string(&manifests::kubelet_config(cfg, plan.minor));
    write_file(Path::new(paths::KUBELET_CONFIG), kc.as_bytes(), 0o644)
        .map_err(|e| Failure::phase("kubelet-start", e))?;
    line(out, "[kubelet-start] Starting the kubelet");
    try_start_kubelet(out, err);
    Ok(())
}

/// GET `url` (http, or https without verifying: kubeadm's component health checks use
/// InsecureSkipVerify) and report whether it answered 200.
async fn healthy(url: &str) -> bool {
    let tls = url
        .starts_with("https://")
        .then(super::discovery::insecure_tls);
    let Ok(t) = crate::client::transport::Transport::new(url, tls) else {
        return false;
    };
    let req = hyper::Request::builder()
        .uri(url)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("valid request");
    matches!(
        tokio::time::timeout(Duration::from_secs(5), t.send(req)).await,
        Ok(Ok(r)) if r.status.as_u16() == 200
    )
}

async fn wait_for(url: &str, timeout: Duration) -> Result<Duration, Duration> {
    let start = Instant::now();
    loop {
        if healthy(url).await {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn go_elapsed(d: Duration) -> String {
    crate::cli::gofmt::format_go_duration(Duration::from_nanos(d.as_nanos() as u64))
}

const KUBELET_TROUBLESHOOT: &str = "\nUnfortunately, an error has occurred, likely caused by:\n\t- The kubelet is not running\n\t- The kubelet is unhealthy due to a misconfiguration of the node in some way (required cgroups disabled)\n\nIf you are on a systemd-powered system, you can try to troubleshoot the error with the following commands:\n\t- 'systemctl status kubelet'\n\t- 'journalctl -xeu kubelet'\n";

async fn wait_control_plane(plan: &Plan, out: &mut dyn Write) -> Result<(), Failure> {
    let m = plan.minor.minor();
    let t = plan.cfg.timeouts;
    let cp_timeout = crate::cli::gofmt::format_go_duration(t.control_plane);
    let ip = plan.node_ip;
    // kubeadm probes the kubelet's healthz on 127.0.0.1:10248; labsim's kubelet serves it on the
    // node IP (docs/labsim.md, "127.0.0.1 listeners").
    let kubelet_url = format!("http://{}/healthz", manifests::endpoint(ip, 10248));
    let api_url = format!("{}/livez", plan.server());
    let api_url_healthz = format!("{}/healthz", plan.server());
    if m < 30 {
        line(
            out,
            format!(
                "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"{}\". This can take up to {cp_timeout}",
                paths::MANIFESTS_DIR
            ),
        );
        match wait_for(&api_url_healthz, t.control_plane).await {
            Ok(d) => line(
                out,
                format!(
                    "[apiclient] All control plane components are healthy after {:.6} seconds",
                    d.as_secs_f64()
                ),
            ),
            Err(_) => {
                line(
                    out,
                    format!("[kubelet-check] Initial timeout of 40s passed.{KUBELET_TROUBLESHOOT}"),
                );
                return Err(Failure::phase(
                    "wait-control-plane",
                    "couldn't initialize a Kubernetes cluster",
                ));
            }
        }
        return Ok(());
    }
    line(
        out,
        format!(
            "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"{}\"",
            paths::MANIFESTS_DIR
        ),
    );
    let kubelet_timeout = crate::cli::gofmt::format_go_duration(t.kubelet_health);
    line(
        out,
        format!(
            "[kubelet-check] Waiting for a healthy kubelet at {kubelet_url}. This can take up to {kubelet_timeout}"
        ),
    );
    match wait_for(&kubelet_url, t.kubelet_health).await {
        Ok(d) => line(
            out,
            format!(
                "[kubelet-check] The kubelet is healthy after {}",
                go_elapsed(d)
            ),
        ),
        Err(d) => {
            line(
                out,
                format!(
                    "[kubelet-check] The kubelet is not healthy after {}",
                    go_elapsed(d)
                ),
            );
            line(out, KUBELET_TROUBLESHOOT);
            return Err(Failure::phase(
                "wait-control-plane",
                format!(
                    "failed while waiting for the kubelet: The HTTP call equal to 'curl -sSL {kubelet_url}' returned error: Get \"{kubelet_url}\": context deadline exceeded"
                ),
            ));
        }
    }
    if m < 33 {
        line(
            out,
            format!(
                "[api-check] Waiting for a healthy API server. This can take up to {cp_timeout}"
            ),
        );
        match wait_for(&api_url_healthz, t.control_plane).await {
            Ok(d) => line(
                out,
                format!(
                    "[api-check] The API server is healthy after {}",
                    go_elapsed(d)
                ),
            ),
            Err(d) => {
                line(
                    out,
                    format!(
                        "[api-check] The API server is not healthy after {}",
                        go_elapsed(d)
                    ),
                );
                return Err(Failure::phase(
                    "wait-control-plane",
                    "could not initialize a Kubernetes cluster",
                ));
            }
        }
        return Ok(());
    }
    line(
        out,
        format!(
            "[control-plane-check] Waiting for healthy control plane components. This can take up to {cp_timeout}"
        ),
    );
    let cm_host = manifests::endpoint(ip, 10257);
    let sched_host = manifests::endpoint(ip, 10259);
    let components = [
        ("kube-apiserver", api_url.clone()),
        (
            "kube-controller-manager",
            format!("https://{cm_host}/healthz"),
        ),
        ("kube-scheduler", format!("https://{sched_host}/livez")),
    ];
    for (name, url) in &components {
        line(
            out,
            format!("[control-plane-check] Checking {name} at {url}"),
        );
    }
    let futures = components.iter().map(|(name, url)| async move {
        (
            name.to_string(),
            url.clone(),
            wait_for(url, t.control_plane).await,
        )
    });
    let mut pending: futures::stream::FuturesUnordered<_> = futures.collect();
    use futures::StreamExt;
    let mut failed = vec![];
    while let Some((name, url, r)) = pending.next().await {
        match r {
            Ok(d) => line(
                out,
                format!(
                    "[control-plane-check] {name} is healthy after {}",
                    go_elapsed(d)
                ),
            ),
            Err(d) => {
                line(
                    out,
                    format!(
                        "[control-plane-check] {name} is not healthy after {}",
                        go_elapsed(d)
                    ),
                );
                failed.push(format!(
                    "{name} check failed at {url}: Get \"{url}\": context deadline exceeded"
                ));
            }
        }
    }
    if !failed.is_empty() {
        line(
            out,
            "\nA control plane component may have crashed or exited when started by the container runtime.\nTo troubleshoot, list all containers using your preferred container runtimes CLI.\nHere is one example how you may list all running Kubernetes containers by using crictl:\n\t- 'crictl --runtime-endpoint unix:///var/run/containerd/containerd.sock ps -a | grep kube | grep -v pause'\n\tOnce you have found the failing container, you can inspect its logs with:\n\t- 'crictl --runtime-endpoint unix:///var/run/containerd/containerd.sock logs CONTAINERID'\n",
        );
        return Err(Failure::phase(
            "wait-control-plane",
            format!(
                "failed while waiting for the control plane to start: [{}]",
                failed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Creates `obj`, or replaces it when it exists (kubeadm's apiclient `CreateOrUpdate*`).
///
/// # Errors
/// The API error text.
pub async fn create_or_update(client: &Client, obj: &Value) -> Result<(), String> {
    let (coll, path) = addons::paths_of(obj);
    match client.create(&coll, obj).await {
        Ok(_) => Ok(()),
        Err(e) if e.is_already_exists() => {
            let current = client.get(&path).await.map_err(|e| e.to_string())?;
            let mut o = obj.clone();
            o["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
            client
                .update(&path, &o)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

async fn create_all(client: &Client, objs: &[Value], phase: &str) -> Result<(), Failure> {
    for o in objs {
        create_or_update(client, o)
            .await
            .map_err(|e| Failure::phase(phase, e))?;
    }
    Ok(())
}

/// The phases after the control plane is up that talk to the API: the cluster-admins binding
/// (1.29+), upload-config, upload-certs, mark-control-plane, bootstrap-token. Public so it can be
/// tested against a live API server.
///
/// # Errors
/// The phase that failed.
pub async fn cluster_phases(
    client: &Client,
    plan: &Plan,
    ca_pem: &str,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let minor = plan.minor;
    let cfg = &plan.cfg;
    if minor.minor() >= 29 {
        create_or_update(client, &addons::cluster_admins_binding())
            .await
            .map_err(|e| {
                Failure::phase(
                    "wait-control-plane",
                    format!("could not bootstrap the admin user in file admin.conf: {e}"),
                )
            })?;
    }
    line(
        out,
        "[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace",
    );
    let cc = yaml::to_string(&manifests::uploaded_cluster_configuration(cfg, minor));
    create_all(client, &addons::upload_config(&cc), "upload-config/kubeadm").await?;
    line(
        out,
        "[kubelet] Creating a ConfigMap \"kubelet-config\" in namespace kube-system with the configuration for the kubelets in the cluster",
    );
    let kc = yaml::to_string(&manifests::kubelet_config(cfg, minor));
    create_all(
        client,
        &addons::kubelet_config_objects(&kc),
        "upload-config/kubelet",
    )
    .await?;
    if plan.upload_certs {
        return Err(Failure::phase(
            "upload-certs",
            "labsim's kubeadm does not implement --upload-certs (joining further control-plane nodes): run init without it",
        ));
    }
    line(
        out,
        "[upload-certs] Skipping phase. Please see --upload-certs",
    );
    mark_control_plane(client, plan, out).await?;
    bootstrap_token_phase(client, plan, ca_pem, out).await
}

async fn mark_control_plane(
    client: &Client,
    plan: &Plan,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let name = &plan.cfg.node.name;
    let labels = [
        "node-role.kubernetes.io/control-plane",
        "node.kubernetes.io/exclude-from-external-load-balancers",
    ];
    line(
        out,
        format!(
            "[mark-control-plane] Marking the node {name} as control-plane by adding the labels: [{}]",
            labels.join(" ")
        ),
    );
    let taints = plan.cfg.node.taints.clone().unwrap_or_else(|| {
        vec![config::Taint {
            key: "node-role.kubernetes.io/control-plane".into(),
            value: String::new(),
            effect: "NoSchedule".into(),
        }]
    });
    if !taints.is_empty() {
        let t: Vec<String> = taints
            .iter()
            .map(|t| {
                if t.value.is_empty() {
                    format!("{}:{}", t.key, t.effect)
                } else {
                    format!("{}={}:{}", t.key, t.value, t.effect)
                }
            })
            .collect();
        line(
            out,
            format!(
                "[mark-control-plane] Marking the node {name} as control-plane by adding the taints [{}]",
                t.join(" ")
            ),
        );
    }
    // markcontrolplane.go: patch the Node once the kubelet has registered it, retried within the
    // API call timeout.
    let path = crate::client::path("", "v1", "nodes", None, Some(name));
    let deadline = Instant::now() + plan.cfg.timeouts.api_call.max(Duration::from_secs(60));
    loop {
        match client.get(&path).await {
            Ok(node) => {
                let mut existing: Vec<Value> = node["spec"]["taints"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for t in &taints {
                    if !existing
                        .iter()
                        .any(|e| e["key"] == t.key.as_str() && e["effect"] == t.effect.as_str())
                    {
                        let mut v = json!({"key": t.key, "effect": t.effect});
                        if !t.value.is_empty() {
                            v["value"] = json!(t.value);
                        }
                        existing.push(v);
                    }
                }
                let mut label_patch = serde_json::Map::new();
                for l in labels {
                    label_patch.insert(l.into(), json!(""));
                }
                let patch =
                    json!({"metadata": {"labels": label_patch}, "spec": {"taints": existing}});
                match client.patch(&path, PatchType::Merge, &patch).await {
                    Ok(_) => return Ok(()),
                    Err(e) if Instant::now() < deadline && e.is_conflict() => {}
                    Err(e) => {
                        return Err(Failure::phase(
                            "mark-control-plane",
                            format!("error applying control-plane label and taints: {e}"),
                        ));
                    }
                }
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(Failure::phase(
                    "mark-control-plane",
                    format!(
                        "error applying control-plane label and taints: {}",
                        if e.is_not_found() {
                            format!("nodes \"{name}\" not found")
                        } else {
                            e.to_string()
                        }
                    ),
                ));
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn bootstrap_token_phase(
    client: &Client,
    plan: &Plan,
    ca_pem: &str,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let shown = if plan.skip_token_print {
        "<value withheld>".to_string()
    } else {
        plan.token.clone()
    };
    line(out, format!("[bootstrap-token] Using token: {shown}"));
    line(
        out,
        "[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles",
    );
    let now = jiff::Timestamp::now();
    for (i, t) in plan.cfg.bootstrap_tokens.iter().enumerate() {
        let tok = if i == 0 {
            plan.token.clone()
        } else {
            t.token.clone().unwrap_or_else(token::generate)
        };
        let desc = if t.description.is_empty() && i == 0 {
            token::INIT_TOKEN_DESCRIPTION
        } else {
            &t.description
        };
        let secret = token::secret(&tok, t, desc, now);
        create_or_update(client, &secret).await.map_err(|e| {
            Failure::phase(
                "bootstrap-token",
                format!("error updating or creating token: {e}"),
            )
        })?;
    }
    let rbac = addons::bootstrap_rbac();
    create_all(client, &rbac[..2], "bootstrap-token").await?;
    line(
        out,
        "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes",
    );
    create_all(client, &rbac[2..3], "bootstrap-token").await?;
    line(
        out,
        "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get long term certificate credentials",
    );
    create_all(client, &rbac[3..4], "bootstrap-token").await?;
    line(
        out,
        "[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from a Node Bootstrap Token",
    );
    create_all(client, &rbac[4..5], "bootstrap-token").await?;
    line(
        out,
        "[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in the cluster",
    );
    line(
        out,
        "[bootstrap-token] Creating the \"cluster-info\" ConfigMap in the \"kube-public\" namespace",
    );
    let kc = addons::cluster_info_kubeconfig(&plan.server(), ca_pem);
    create_all(
        client,
        &addons::cluster_info_objects(&kc),
        "bootstrap-token",
    )
    .await
}

async fn kubelet_finalize(plan: &Plan, out: &mut dyn Write, err: &mut dyn Write) {
    let _ = plan;
    line(
        out,
        format!(
            "[kubelet-finalize] Updating \"{}\" to point to a rotatable kubelet client certificate and key",
            paths::KUBELET_CONF
        ),
    );
    // kubeletfinalize.go: once the kubelet has written its rotatable client certificate, point
    // kubelet.conf at it instead of the embedded credentials.
    let pem = Path::new(paths::KUBELET_CLIENT_PEM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pem.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !pem.exists() {
        let _ = writeln!(
            err,
            "{}",
            klog(
                'W',
                "kubeletfinalize.go:122",
                &format!(
                    "[kubelet-finalize] could not find {}: the kubelet has not written its client certificate; {} keeps its embedded credentials",
                    paths::KUBELET_CLIENT_PEM,
                    paths::KUBELET_CONF
                )
            )
        );
        return;
    }
    let Ok(mut kc) = Kubeconfig::read(Path::new(paths::KUBELET_CONF)) else {
        return;
    };
    for u in &mut kc.users {
        u.user.client_certificate_data = None;
        u.user.client_key_data = None;
        u.user.client_certificate = Some(paths::KUBELET_CLIENT_PEM.into());
        u.user.client_key = Some(paths::KUBELET_CLIENT_PEM.into());
    }
    let _ = kc.write(Path::new(paths::KUBELET_CONF));
}

/// The addons phase: CoreDNS and kube-proxy (unless disabled in v1beta4).
///
/// # Errors
/// The addon that could not be applied.
pub async fn addons_phase(
    client: &Client,
    plan: &Plan,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    if !plan.cfg.cluster.dns_disabled {
        create_all(
            client,
            &addons::coredns(&plan.cfg, plan.minor),
            "addon/coredns",
        )
        .await?;
        line(out, "[addons] Applied essential addon: CoreDNS");
    }
    if !plan.cfg.cluster.proxy_disabled {
        create_all(
            client,
            &addons::kube_proxy(&plan.cfg, &plan.server()),
            "addon/kube-proxy",
        )
        .await?;
        line(out, "[addons] Applied essential addon: kube-proxy");
    }
    Ok(())
}

fn show_join(plan: &Plan, ca_pem: &str, out: &mut dyn Write) {
    let pin = crate::pki::ca_pin(ca_pem).unwrap_or_default();
    let tok = if plan.skip_token_print {
        "<value withheld>".to_string()
    } else {
        plan.token.clone()
    };
    let join = token::join_command(&plan.join_endpoint(), &tok, &pin);
    let text = format!(
        "\nYour Kubernetes control-plane has initialized successfully!\n\nTo start using your cluster, you need to run the following as a regular user:\n\n  mkdir -p $HOME/.kube\n  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\nAlternatively, if you are the root user, you can run:\n\n  export KUBECONFIG=/etc/kubernetes/admin.conf\n\nYou should now deploy a pod network to the cluster.\nRun \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:\n  https://kubernetes.io/docs/concepts/cluster-administration/addons/\n\nThen you can join any number of worker nodes by running the following on each as root:\n\n{join}\n"
    );
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// `kubeadm reset [-f]` (cmd/kubeadm/app/cmd/phases/reset): stop the kubelet, delete the etcd
/// data directory, the manifests, the kubelet's state and the PKI, and kubeadm's kubeconfig files.
pub fn reset_cmd(
    node: &Node,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let a = parse_args(
        args,
        &[
            "ignore-preflight-errors",
            "cert-dir",
            "cri-socket",
            "kubeconfig",
            "skip-phases",
        ],
        &["force", "dry-run", "cleanup-tmp-dir"],
    )
    .map_err(Failure::Plain)?;
    let _ = node;
    if !a.bool("force") {
        let _ = writeln!(
            err,
            "{}",
            klog(
                'W',
                "reset.go:141",
                "[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be reverted."
            )
        );
        let _ = write!(out, "[reset] Are you sure you want to proceed? [y/N]: ");
        let _ = out.flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
            return Err(Failure::Plain(
                "won't proceed; the user didn't answer (Y|y) in order to continue".into(),
            ));
        }
    }
    let ignored = Ignored::new(&a.all("ignore-preflight-errors"));
    line(out, "[preflight] Running pre-flight checks");
    let priv_check = preflight::run(
        vec![preflight::privileged(nix::unistd::geteuid().as_raw())],
        &ignored,
        vec![],
    );
    if !priv_check.errors.is_empty() {
        return Err(Failure::Preflight {
            errors: priv_check.errors,
        });
    }
    // The etcd data dir and certificatesDir from the manifests kubeadm wrote
    // (removeetcdmember.go falls back to the etcd pod spec when no config is available).
    let etcd_manifest =
        std::fs::read_to_string(Path::new(paths::MANIFESTS_DIR).join("etcd.yaml")).ok();
    let flag_of = |text: &Option<String>, flag: &str| -> Option<String> {
        text.as_ref().and_then(|t| {
            t.lines().find_map(|l| {
                l.trim()
                    .strip_prefix(&format!("- --{flag}="))
                    .map(str::to_string)
            })
        })
    };
    let data_dir = flag_of(&etcd_manifest, "data-dir");
    let api_manifest =
        std::fs::read_to_string(Path::new(paths::MANIFESTS_DIR).join("kube-apiserver.yaml")).ok();
    let cert_dir = a
        .get("cert-dir")
        .map(str::to_string)
        .or_else(|| {
            flag_of(&api_manifest, "client-ca-file")
                .and_then(|p| Path::new(&p).parent().map(|d| d.display().to_string()))
        })
        .unwrap_or_else(|| paths::DEFAULT_PKI.into());
    if etcd_manifest.is_some() {
        let _ = writeln!(
            err,
            "{}",
            klog(
                'W',
                "removeetcdmember.go:106",
                "[reset] No kubeadm config, using etcd pod spec to get data directory"
            )
        );
    }
    if let Some(d) = &data_dir {
        clean_dir(d);
        line(
            out,
            format!("[reset] Deleted contents of the etcd data directory: {d}"),
        );
    }
    line(out, "[reset] Stopping the kubelet service");
    let _ = kubelet_unit(UnitAction::Stop);
    line(
        out,
        format!(
            "[reset] Unmounting mounted directories in \"{}\"",
            paths::KUBELET_DIR
        ),
    );
    let dirs = [
        paths::MANIFESTS_DIR.to_string(),
        paths::KUBELET_DIR.to_string(),
        cert_dir,
    ];
    line(
        out,
        format!(
            "[reset] Deleting contents of directories: [{}]",
            dirs.join(" ")
        ),
    );
    for d in &dirs {
        clean_dir(d);
    }
    let mut files = vec![paths::ADMIN_CONF];
    if node.minor().kubeadm_writes_super_admin() {
        files.push(paths::SUPER_ADMIN_CONF);
    }
    files.extend([
        paths::KUBELET_CONF,
        paths::BOOTSTRAP_KUBELET_CONF,
        paths::CONTROLLER_MANAGER_CONF,
        paths::SCHEDULER_CONF,
    ]);
    line(
        out,
        format!("[reset] Deleting files: [{}]", files.join(" ")),
    );
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    let _ = out.write_all(b"\nThe reset process does not perform cleanup of CNI plugin configuration,\nnetwork filtering rules and kubeconfig files.\n\nFor information on how to perform this cleanup manually, please see:\n    https://k8s.io/docs/reference/setup-tools/kubeadm/kubeadm-reset/\n\n");
    Ok(())
}

/// Removes the contents of `dir`, keeping the directory (kubeadm's `CleanDir`).
fn clean_dir(dir: &str) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = if p.is_dir() && !p.is_symlink() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_only_config_parses() {
        let a = parse_args(
            &[
                "--apiserver-advertise-address=127.100.49.2".to_string(),
                "--pod-network-cidr=10.244.0.0/16".to_string(),
                "--apiserver-bind-port=8443".to_string(),
            ],
            INIT_VALUE_FLAGS,
            INIT_BOOL_FLAGS,
        )
        .unwrap();
        let m = Minor::new(33).unwrap();
        let text = config_from_flags(&a, m);
        let host = HostFacts {
            hostname: "minikube".into(),
            default_ip: "127.100.49.2".parse().unwrap(),
            kubeadm_version: m.git_version(),
        };
        let (cfg, _) = config::load_init(&text, m, &host).unwrap();
        assert_eq!(cfg.bind_port, 8443);
        assert_eq!(cfg.cluster.pod_subnet, "10.244.0.0/16");
        assert_eq!(cfg.cluster.kubernetes_version, "v1.33.7");
    }

    #[test]
    fn kubeconfig_files_per_version() {
        let cfg = super::super::manifests::tests_support::sample(28);
        let plan = Plan {
            minor: Minor::new(28).unwrap(),
            node_ip: "127.100.49.2".parse().unwrap(),
            hostname: "minikube".into(),
            token: "abcdef.0123456789abcdef".into(),
            skip_token_print: false,
            upload_certs: false,
            event_log: false,
            cfg,
            cgroup: crate::node::CgroupVersion::V2,
        };
        let files: Vec<_> = kubeconfig_specs(&plan).into_iter().map(|f| f.0).collect();
        assert!(!files.contains(&paths::SUPER_ADMIN_CONF));
        assert_eq!(kubeconfig_specs(&plan)[0].2, ["system:masters"]);
        let mut p2 = plan.clone();
        p2.minor = Minor::new(29).unwrap();
        assert!(
            kubeconfig_specs(&p2)
                .iter()
                .any(|f| f.0 == paths::SUPER_ADMIN_CONF)
        );
        assert_eq!(plan.server(), "https://127.100.49.2:8443");
        assert!(!format!("{plan:?}").contains("0123456789abcdef"));
    }
}
