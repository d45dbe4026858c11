//! `kubeadm join` (cmd/kubeadm/app/cmd/join.go, phases under cmd/kubeadm/app/cmd/phases/join) and
//! `kubeadm token` (cmd/kubeadm/app/cmd/token.go).

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::{self, Document, Notices};
use super::discovery::{self, RETRY_INTERVAL};
use super::init::{self, common_checks, kubelet_unit};
use super::preflight::{self, Ignored};
use super::{Failure, Node, klog, manifests, parse_args, paths, token, write_file};
use crate::client::{Client, Config};
use crate::node::proto::UnitAction;
use crate::pki::kubeconfig::{Credentials, Kubeconfig};
use crate::version::{KubeadmApi, Minor};

/// What `kubeadm join` was asked to do (flags or a JoinConfiguration).
#[derive(Clone, PartialEq, Eq)]
pub struct JoinSpec {
    /// `host:port` of the API server.
    pub endpoint: String,
    /// The discovery token.
    pub discovery_token: String,
    /// The TLS bootstrap token.
    pub tls_token: String,
    /// `sha256:` pins.
    pub ca_hashes: Vec<String>,
    /// `--discovery-token-unsafe-skip-ca-verification`.
    pub unsafe_skip: bool,
    /// The node name.
    pub node_name: String,
    /// The CRI socket.
    pub cri_socket: String,
    /// Checks to ignore.
    pub ignore: Vec<String>,
    /// `kubeletExtraArgs`.
    pub kubelet_extra_args: Vec<config::Arg>,
    /// The discovery timeout (5m0s).
    pub discovery_timeout: Duration,
    /// The TLS bootstrap timeout (5m0s).
    pub tls_timeout: Duration,
    /// The kubelet health-check timeout (4m0s).
    pub kubelet_timeout: Duration,
}

impl std::fmt::Debug for JoinSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinSpec")
            .field("endpoint", &self.endpoint)
            .field("ca_hashes", &self.ca_hashes)
            .field("node_name", &self.node_name)
            .finish_non_exhaustive()
    }
}

const JOIN_VALUE_FLAGS: &[&str] = &[
    "config",
    "token",
    "discovery-token",
    "tls-bootstrap-token",
    "discovery-token-ca-cert-hash",
    "discovery-file",
    "ignore-preflight-errors",
    "node-name",
    "cri-socket",
    "apiserver-advertise-address",
    "apiserver-bind-port",
    "certificate-key",
    "skip-phases",
    "patches",
];
const JOIN_BOOL_FLAGS: &[&str] = &[
    "discovery-token-unsafe-skip-ca-verification",
    "control-plane",
    "dry-run",
];

fn invalid(msg: &str) -> Failure {
    Failure::Plain(msg.to_string())
}

/// Reads a JoinConfiguration document into `spec` (v1beta3/v1beta4).
///
/// # Errors
/// kubeadm's config errors.
pub fn apply_join_config(
    text: &str,
    minor: Minor,
    spec: &mut JoinSpec,
    notices: &mut Notices,
) -> Result<(), Failure> {
    let docs = config::split_documents(text).map_err(|e| Failure::Plain(e.to_string()))?;
    let mut found: Option<(KubeadmApi, &Document)> = None;
    for d in &docs {
        let api = config::check_api_version(minor, d, notices)
            .map_err(|e| Failure::Plain(e.to_string()))?;
        if let (Some(api), "JoinConfiguration") = (api, d.kind.as_str()) {
            let unknown = config::unknown_fields(d);
            if !unknown.is_empty() {
                let (g, v) = d
                    .api_version
                    .rsplit_once('/')
                    .unwrap_or(("", &d.api_version));
                notices.warnings.push(format!(
                    "error unmarshaling configuration schema.GroupVersionKind{{Group:{g:?}, Version:{v:?}, Kind:\"JoinConfiguration\"}}: strict decoding error: {}",
                    unknown.iter().map(|f| format!("unknown field {f:?}")).collect::<Vec<_>>().join(", ")
                ));
            }
            found = Some((api, d));
        }
    }
    let Some((api, doc)) = found else {
        return Err(invalid(
            "no JoinConfiguration kind was found in the YAML file",
        ));
    };
    let v = &doc.value;
    let s = |p: &str| -> Option<String> {
        let mut cur = v;
        for k in p.split('.') {
            cur = cur.get(k)?;
        }
        cur.as_str().map(str::to_string)
    };
    if let Some(e) = s("discovery.bootstrapToken.apiServerEndpoint") {
        spec.endpoint = e;
    }
    if let Some(t) = s("discovery.bootstrapToken.token") {
        spec.discovery_token = t.clone();
        if spec.tls_token.is_empty() {
            spec.tls_token = t;
        }
    }
    if let Some(t) = s("discovery.tlsBootstrapToken") {
        spec.tls_token = t;
    }
    if let Some(h) = v["discovery"]["bootstrapToken"]["caCertHashes"].as_array() {
        spec.ca_hashes = h
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
    }
    if v["discovery"]["bootstrapToken"]["unsafeSkipCAVerification"] == true {
        spec.unsafe_skip = true;
    }
    if let Some(n) = s("nodeRegistration.name") {
        spec.node_name = n;
    }
    if let Some(c) = s("nodeRegistration.criSocket") {
        spec.cri_socket = c;
    }
    if let Some(a) = v["nodeRegistration"]["ignorePreflightErrors"].as_array() {
        spec.ignore
            .extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
    }
    match api {
        KubeadmApi::V1beta3 => {
            if let Some(m) = v["nodeRegistration"]["kubeletExtraArgs"].as_object() {
                let mut args: Vec<config::Arg> = m
                    .iter()
                    .map(|(k, x)| (k.clone(), x.as_str().unwrap_or_default().to_string()))
                    .collect();
                args.sort();
                spec.kubelet_extra_args = args;
            }
            if let Some(t) = s("discovery.timeout") {
                spec.discovery_timeout =
                    crate::cli::gofmt::parse_go_duration(&t).map_err(Failure::Plain)?;
                spec.tls_timeout = spec.discovery_timeout;
            }
        }
        KubeadmApi::V1beta4 => {
            if let Some(a) = v["nodeRegistration"]["kubeletExtraArgs"].as_array() {
                spec.kubelet_extra_args = a
                    .iter()
                    .map(|x| {
                        (
                            x["name"].as_str().unwrap_or_default().to_string(),
                            x["value"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
            }
            for (key, slot) in [
                ("discovery", &mut spec.discovery_timeout),
                ("tlsBootstrap", &mut spec.tls_timeout),
                ("kubeletHealthCheck", &mut spec.kubelet_timeout),
            ] {
                if let Some(t) = v["timeouts"][key].as_str() {
                    *slot = crate::cli::gofmt::parse_go_duration(t).map_err(Failure::Plain)?;
                }
            }
        }
    }
    Ok(())
}

/// Builds the join request from the command line (and `--config`).
///
/// # Errors
/// kubeadm's validation messages.
pub fn join_spec(node: &Node, args: &[String], notices: &mut Notices) -> Result<JoinSpec, Failure> {
    let a = parse_args(args, JOIN_VALUE_FLAGS, JOIN_BOOL_FLAGS).map_err(Failure::Plain)?;
    let minor = node.minor();
    if a.bool("control-plane") {
        return Err(invalid(
            "labsim's kubeadm does not implement joining control-plane nodes (--control-plane): join workers only",
        ));
    }
    if a.get("discovery-file").is_some() {
        return Err(invalid(
            "labsim's kubeadm does not implement file-based discovery (--discovery-file): use token discovery",
        ));
    }
    let token = a.get("token").unwrap_or_default().to_string();
    let mut spec = JoinSpec {
        endpoint: a.positional.first().cloned().unwrap_or_default(),
        discovery_token: a
            .get("discovery-token")
            .map(str::to_string)
            .unwrap_or_else(|| token.clone()),
        tls_token: a
            .get("tls-bootstrap-token")
            .map(str::to_string)
            .unwrap_or_else(|| token.clone()),
        ca_hashes: a.all("discovery-token-ca-cert-hash"),
        unsafe_skip: a.bool("discovery-token-unsafe-skip-ca-verification"),
        node_name: a
            .get("node-name")
            .map(str::to_string)
            .unwrap_or_else(|| node.hostname.to_lowercase()),
        cri_socket: a
            .get("cri-socket")
            .unwrap_or("unix:///var/run/containerd/containerd.sock")
            .to_string(),
        ignore: a.all("ignore-preflight-errors"),
        kubelet_extra_args: vec![],
        discovery_timeout: Duration::from_secs(300),
        tls_timeout: Duration::from_secs(300),
        kubelet_timeout: Duration::from_secs(240),
    };
    if let Some(path) = a.get("config") {
        let mixed: Vec<&str> = [
            "token",
            "discovery-token",
            "tls-bootstrap-token",
            "discovery-token-ca-cert-hash",
            "node-name",
            "cri-socket",
        ]
        .into_iter()
        .filter(|f| a.get(f).is_some())
        .collect();
        if !mixed.is_empty() {
            return Err(Failure::Plain(format!(
                "can not mix '--config' with arguments {mixed:?}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::Plain(format!(
                "unable to read config from {path:?} : open {path}: {}",
                if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file or directory".into()
                } else {
                    e.to_string()
                }
            ))
        })?;
        apply_join_config(&text, minor, &mut spec, notices)?;
    }
    // Validation (validation.go ValidateDiscoveryBootstrapToken).
    let mut errs = vec![];
    if spec.discovery_token.is_empty() {
        errs.push(
            "discovery.bootstrapToken.token: Invalid value: \"\": the bootstrap token is invalid"
                .to_string(),
        );
    } else if !token::is_valid_token(&spec.discovery_token) {
        errs.push(format!(
            "discovery.bootstrapToken.token: Invalid value: \"{}\": the bootstrap token is invalid",
            spec.discovery_token
        ));
    }
    if !spec.tls_token.is_empty() && !token::is_valid_token(&spec.tls_token) {
        errs.push(format!(
            "discovery.tlsBootstrapToken: Invalid value: \"{}\": the bootstrap token is invalid",
            spec.tls_token
        ));
    }
    if spec.endpoint.is_empty() {
        errs.push("discovery.bootstrapToken.apiServerEndpoint: Invalid value: \"\": bootstrapToken.APIServerEndpoint or file must be set".to_string());
    }
    if spec.ca_hashes.is_empty() && !spec.unsafe_skip {
        errs.push("discovery.bootstrapToken: Invalid value: \"\": using token-based discovery without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue".to_string());
    }
    if !errs.is_empty() {
        return Err(Failure::Plain(config::aggregate(&errs)));
    }
    Ok(spec)
}

fn line(out: &mut dyn Write, s: impl AsRef<str>) {
    let _ = writeln!(out, "{}", s.as_ref());
    let _ = out.flush();
}

/// `kubeadm join`.
pub fn join_cmd(
    node: &Node,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let mut notices = Notices::default();
    let spec = join_spec(node, args, &mut notices)?;
    for w in &notices.warnings {
        let _ = writeln!(err, "{}", klog('W', "joinconfiguration.go:90", w));
    }
    for l in &notices.stdout {
        line(out, l);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Plain(format!("cannot start an async runtime: {e}")))?;
    rt.block_on(run_join(node, &spec, out, err))
}

/// The join preflight checks (checks.go `RunJoinNodeChecks`).
pub fn join_preflight(node: &Node, spec: &JoinSpec, ignored: &Ignored) -> preflight::Report {
    let mut checks = vec![preflight::privileged(nix::unistd::geteuid().as_raw())];
    if !ignored.has("IsPrivilegedUser") && !checks[0].errors.is_empty() {
        return preflight::run(checks, ignored, vec![]);
    }
    let non_empty = std::fs::read_dir(paths::MANIFESTS_DIR)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    checks.push(preflight::dir_available(paths::MANIFESTS_DIR, non_empty));
    for f in [paths::KUBELET_CONF, paths::BOOTSTRAP_KUBELET_CONF] {
        checks.push(preflight::file_available(f, Path::new(f).exists()));
    }
    let (common, stdout) = common_checks(
        node.minor(),
        &spec.node_name,
        &spec.cri_socket,
        "",
        IpAddr::V4(node.info.ip),
        node.info.cgroup_version,
    );
    checks.extend(common.into_iter().filter(|c| {
        c.name != "KubeletVersion"
            || !c
                .errors
                .iter()
                .any(|e| e.contains("higher than the control plane"))
    }));
    let ca = format!("{}/ca.crt", paths::DEFAULT_PKI);
    checks.push(preflight::file_available(&ca, Path::new(&ca).exists()));
    preflight::run(checks, ignored, stdout)
}

async fn run_join(
    node: &Node,
    spec: &JoinSpec,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let minor = node.minor();
    line(out, "[preflight] Running pre-flight checks");
    let report = join_preflight(node, spec, &Ignored::new(&spec.ignore));
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
    let (id, secret) = token::split(&spec.discovery_token).expect("validated");
    let identity = |e: discovery::DiscoveryError| {
        Failure::phase(
            "preflight",
            format!("couldn't validate the identity of the API Server: {e}"),
        )
    };
    let (ca_pem, server, _kubeconfig) = discovery::discover(
        &spec.endpoint,
        id,
        secret,
        &spec.ca_hashes,
        spec.discovery_timeout,
        RETRY_INTERVAL,
    )
    .await
    .map_err(identity)?;
    // The bootstrap client: the discovered server and CA, the TLS bootstrap token.
    let tls_token = if spec.tls_token.is_empty() {
        spec.discovery_token.clone()
    } else {
        spec.tls_token.clone()
    };
    let client = Client::new(&Config {
        server: server.clone(),
        ca_pem: Some(ca_pem.clone()),
        credentials: Credentials::Token(tls_token.clone()),
        namespace: "default".into(),
        user_agent: "kubeadm".into(),
    })
    .map_err(|e| Failure::phase("preflight", e.to_string()))?;
    if minor.minor() >= 30 {
        line(
            out,
            "[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...",
        );
        line(
            out,
            "[preflight] Use 'kubeadm init phase upload-config --config your-config-file' to re-upload it.",
        );
    } else {
        line(out, "[preflight] Reading configuration from the cluster...");
        line(
            out,
            "[preflight] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'",
        );
    }
    let cm = |name: &'static str| {
        let client = &client;
        async move {
            client
                .get(&crate::client::path(
                    "",
                    "v1",
                    "configmaps",
                    Some("kube-system"),
                    Some(name),
                ))
                .await
        }
    };
    let kubeadm_config = cm("kubeadm-config").await.map_err(|e| {
        Failure::phase(
            "preflight",
            format!(
                "unable to fetch the kubeadm-config ConfigMap: failed to get config map: {}",
                client_error_text(&e)
            ),
        )
    })?;
    let cluster_text = kubeadm_config["data"]["ClusterConfiguration"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kubelet_cm = cm("kubelet-config").await.map_err(|e| {
        Failure::phase(
            "kubelet-start",
            format!(
                "could not retrieve the kubelet-config ConfigMap: {}",
                client_error_text(&e)
            ),
        )
    })?;
    let kubelet_text = kubelet_cm["data"]["kubelet"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // kubelet-start (join/kubelet.go): refuse to take over the name of a Ready Node.
    let node_path = crate::client::path("", "v1", "nodes", None, Some(&spec.node_name));
    if let Ok(n) = client.get(&node_path).await {
        let ready = n["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if ready {
            return Err(Failure::phase(
                "kubelet-start",
                format!(
                    "a Node with name {:?} and status \"Ready\" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node",
                    spec.node_name
                ),
            ));
        }
    }
    let _ = kubelet_unit(UnitAction::Stop);
    // bootstrap-kubelet.conf: the TLS bootstrap token user; the cluster's CA at caCertPath.
    let cluster_name = serde_saphyr::from_str::<Value>(&cluster_text)
        .ok()
        .and_then(|v| v["clusterName"].as_str().map(str::to_string))
        .unwrap_or_else(|| "kubernetes".into());
    let bootstrap = Kubeconfig::with_token(
        &cluster_name,
        &server,
        &ca_pem,
        "tls-bootstrap-token-user",
        &tls_token,
    );
    std::fs::create_dir_all(paths::KUBERNETES_DIR)
        .map_err(|e| Failure::phase("kubelet-start", e.to_string()))?;
    bootstrap
        .write(Path::new(paths::BOOTSTRAP_KUBELET_CONF))
        .map_err(|e| Failure::phase("kubelet-start", e.to_string()))?;
    write_file(
        &Path::new(paths::DEFAULT_PKI).join("ca.crt"),
        ca_pem.as_bytes(),
        0o644,
    )
    .map_err(|e| Failure::phase("kubelet-start", e))?;
    line(
        out,
        format!(
            "[kubelet-start] Writing kubelet configuration to file \"{}\"",
            paths::KUBELET_CONFIG
        ),
    );
    write_file(
        Path::new(paths::KUBELET_CONFIG),
        kubelet_text.as_bytes(),
        0o644,
    )
    .map_err(|e| Failure::phase("kubelet-start", e))?;
    line(
        out,
        format!(
            "[kubelet-start] Writing kubelet environment file with flags to file \"{}\"",
            paths::KUBEADM_FLAGS_ENV
        ),
    );
    let repo = serde_saphyr::from_str::<Value>(&cluster_text)
        .ok()
        .and_then(|v| v["imageRepository"].as_str().map(str::to_string))
        .unwrap_or_else(|| "registry.k8s.io".into());
    let pause = format!("{repo}/pause:{}", minor.pause_tag());
    let env = manifests::kubeadm_flags_env(
        &spec.cri_socket,
        Some(&pause),
        &spec.node_name,
        &node.hostname,
        &spec.kubelet_extra_args,
    );
    write_file(Path::new(paths::KUBEADM_FLAGS_ENV), env.as_bytes(), 0o644)
        .map_err(|e| Failure::phase("kubelet-start", e))?;
    line(out, "[kubelet-start] Starting the kubelet");
    init::try_start_kubelet(out, err);
    if minor.minor() >= 30 {
        let url = format!(
            "http://{}/healthz",
            manifests::endpoint(IpAddr::V4(node.info.ip), 10248)
        );
        line(
            out,
            format!(
                "[kubelet-check] Waiting for a healthy kubelet at {url}. This can take up to {}",
                crate::cli::gofmt::format_go_duration(spec.kubelet_timeout)
            ),
        );
        let start = Instant::now();
        loop {
            if http_ok(&url).await {
                line(
                    out,
                    format!(
                        "[kubelet-check] The kubelet is healthy after {}",
                        crate::cli::gofmt::format_go_duration(start.elapsed())
                    ),
                );
                break;
            }
            if start.elapsed() >= spec.kubelet_timeout {
                line(
                    out,
                    format!(
                        "[kubelet-check] The kubelet is not healthy after {}",
                        crate::cli::gofmt::format_go_duration(start.elapsed())
                    ),
                );
                return Err(Failure::phase(
                    "kubelet-start",
                    format!(
                        "failed while waiting for the kubelet: The HTTP call equal to 'curl -sSL {url}' returned error: Get \"{url}\": context deadline exceeded"
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        line(
            out,
            "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap",
        );
    } else {
        line(
            out,
            "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap...",
        );
    }
    // waitForTLSBootstrappedClient: kubelet.conf appears once the kubelet got its certificate;
    // then the Node it registered is visible.
    let deadline = Instant::now() + spec.tls_timeout;
    loop {
        if Path::new(paths::KUBELET_CONF).exists() && client.get(&node_path).await.is_ok() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(Failure::phase(
                "kubelet-start",
                "timed out waiting for the condition",
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if let Err(e) = std::fs::remove_file(paths::BOOTSTRAP_KUBELET_CONF) {
        let _ = writeln!(
            err,
            "{}",
            klog(
                'W',
                "kubelet.go:275",
                &format!(
                    "[kubelet-start] couldn't remove {}: {e}",
                    paths::BOOTSTRAP_KUBELET_CONF
                )
            )
        );
    }
    let _ = out.write_all(b"\nThis node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get nodes' on the control-plane to see this node join the cluster.\n\n");
    let _ = out.flush();
    Ok(())
}

async fn http_ok(url: &str) -> bool {
    let Ok(t) = crate::client::transport::Transport::new(url, None) else {
        return false;
    };
    let req = hyper::Request::builder()
        .uri(url)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("valid request");
    matches!(tokio::time::timeout(Duration::from_secs(5), t.send(req)).await, Ok(Ok(r)) if r.status.as_u16() == 200)
}

fn client_error_text(e: &crate::client::ClientError) -> String {
    match e {
        crate::client::ClientError::Api { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// `kubeadm token create|list|generate|delete`.
pub fn token_cmd(
    node: &Node,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let a = parse_args(
        args,
        &[
            "kubeconfig",
            "ttl",
            "description",
            "usages",
            "groups",
            "config",
            "certificate-key",
        ],
        &["print-join-command", "dry-run"],
    )
    .map_err(Failure::Plain)?;
    let _ = err;
    let kubeconfig = a.get("kubeconfig").unwrap_or(paths::ADMIN_CONF).to_string();
    let sub = a.positional.first().map(String::as_str).unwrap_or("");
    if sub == "generate" {
        line(out, token::generate());
        return Ok(());
    }
    if !matches!(sub, "create" | "list" | "delete") {
        return Err(Failure::Plain(if sub.is_empty() {
            "missing subcommand; \"token\" is not meant to be run on its own".into()
        } else {
            format!("unknown command {sub:?} for \"kubeadm token\"")
        }));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Plain(format!("cannot start an async runtime: {e}")))?;
    let client = Config::from_kubeconfig(Path::new(&kubeconfig))
        .and_then(|c| Client::new(&c))
        .map_err(|e| Failure::Plain(format!("failed to load admin kubeconfig: {e}")))?;
    let _ = node;
    rt.block_on(async {
        let secrets = crate::client::path("", "v1", "secrets", Some("kube-system"), None);
        match sub {
            "create" => {
                let tok = a.positional.get(1).cloned().unwrap_or_else(token::generate);
                if !token::is_valid_token(&tok) {
                    return Err(Failure::Plain(format!("the bootstrap token \"{tok}\" was not of the form \"^([a-z0-9]{{6}})\\\\.([a-z0-9]{{16}})$\"")));
                }
                let ttl = match a.get("ttl") {
                    Some(t) => crate::cli::gofmt::parse_go_duration(t).map_err(Failure::Plain)?,
                    None => Duration::from_secs(86400),
                };
                let bt = config::BootstrapToken {
                    token: Some(tok.clone()),
                    description: a.get("description").unwrap_or_default().to_string(),
                    ttl,
                    usages: a.get("usages").map(|u| u.split(',').map(str::to_string).collect()).unwrap_or_else(|| vec!["signing".into(), "authentication".into()]),
                    groups: a.get("groups").map(|u| u.split(',').map(str::to_string).collect()).unwrap_or_else(|| vec!["system:bootstrappers:kubeadm:default-node-token".into()]),
                };
                let secret = token::secret(&tok, &bt, &bt.description, jiff::Timestamp::now());
                client
                    .create(&secrets, &secret)
                    .await
                    .map_err(|e| Failure::Plain(format!("failed to create or update bootstrap token with name bootstrap-token-{}: {}", &tok[..6], client_error_text(&e))))?;
                if a.bool("print-join-command") {
                    let kc = Kubeconfig::read(Path::new(&kubeconfig)).map_err(|e| Failure::Plain(e.to_string()))?;
                    let r = kc.resolve(Path::new(&kubeconfig).parent().unwrap_or(Path::new("/"))).map_err(|e| Failure::Plain(e.to_string()))?;
                    let ca = r.ca_pem.unwrap_or_default();
                    let pin = crate::pki::ca_pin(&ca).map_err(|e| Failure::Plain(e.to_string()))?;
                    let endpoint = r.server.trim_start_matches("https://").to_string();
                    line(out, token::join_command_line(&endpoint, &tok, &pin));
                } else {
                    line(out, &tok);
                }
                Ok(())
            }
            "list" => {
                let list = client
                    .list(&secrets, &crate::client::ListParams { field_selector: Some("type=bootstrap.kubernetes.io/token".into()), ..Default::default() })
                    .await
                    .map_err(|e| Failure::Plain(format!("failed to list bootstrap tokens: {}", client_error_text(&e))))?;
                let rows: Vec<_> = list["items"].as_array().into_iter().flatten().filter_map(token::row_from_secret).collect();
                let _ = out.write_all(token::list_table(&rows, jiff::Timestamp::now()).as_bytes());
                Ok(())
            }
            _ => {
                if a.positional.len() < 2 {
                    return Err(Failure::Plain("missing argument; 'token delete' is missing token of form \"[a-z0-9]{6}\" or \"[a-z0-9]{6}\\.[a-z0-9]{16}\"".into()));
                }
                for t in &a.positional[1..] {
                    let id = t.split('.').next().unwrap_or_default();
                    let name = format!("bootstrap-token-{id}");
                    client
                        .delete(&crate::client::path("", "v1", "secrets", Some("kube-system"), Some(&name)), &serde_json::json!({}))
                        .await
                        .map_err(|e| Failure::Plain(format!("failed to delete bootstrap token {id:?}: {}", client_error_text(&e))))?;
                    line(out, format!("bootstrap token {id:?} deleted"));
                }
                Ok(())
            }
        }
    })
}

#[allow(unused_imports)]
use init::Plan as _InitPlan;

#[cfg(test)]
mod tests {
    use super::*;

    fn node(minor: u32) -> Node {
        Node {
            info: crate::node::NodeInfo {
                profile: "minikube".into(),
                node: "minikube-m02".into(),
                index: 1,
                ip: "127.100.49.3".parse().unwrap(),
                slot: 0,
                kubernetes_version: Minor::new(minor).unwrap(),
                labsim: "/x/labsim".into(),
                event_log: false,
                cgroup_version: crate::node::CgroupVersion::V2,
            },
            hostname: "minikube-m02".into(),
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn join_flags_and_validation() {
        let mut n = Notices::default();
        let pin = format!("sha256:{}", "a".repeat(64));
        let spec = join_spec(
            &node(33),
            &s(&[
                "127.100.49.2:8443",
                "--token",
                "abcdef.0123456789abcdef",
                "--discovery-token-ca-cert-hash",
                &pin,
            ]),
            &mut n,
        )
        .unwrap();
        assert_eq!(spec.endpoint, "127.100.49.2:8443");
        assert_eq!(spec.tls_token, "abcdef.0123456789abcdef");
        assert_eq!(spec.node_name, "minikube-m02");
        let e = join_spec(
            &node(33),
            &s(&["127.100.49.2:8443", "--token", "abcdef.0123456789abcdef"]),
            &mut n,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("using token-based discovery without caCertHashes can be unsafe"),
            "{e}"
        );
        let e = join_spec(
            &node(33),
            &s(&[
                "127.100.49.2:8443",
                "--token",
                "nope",
                "--discovery-token-ca-cert-hash",
                &pin,
            ]),
            &mut n,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("[discovery.bootstrapToken.token: Invalid value: \"nope\""),
            "{e}"
        );
    }

    #[test]
    fn join_config_timeouts() {
        let mut spec = join_spec(
            &node(33),
            &s(&[
                "x:1",
                "--token",
                "abcdef.0123456789abcdef",
                "--discovery-token-unsafe-skip-ca-verification",
            ]),
            &mut Notices::default(),
        )
        .unwrap();
        let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 127.100.49.2:8443\n    token: zzzzzz.0123456789abcdef\n    caCertHashes: [\"sha256:00\"]\ntimeouts:\n  discovery: 10s\nnodeRegistration:\n  ignorePreflightErrors: [all]\n";
        let mut n = Notices::default();
        apply_join_config(text, Minor::new(33).unwrap(), &mut spec, &mut n).unwrap();
        assert_eq!(spec.discovery_timeout, Duration::from_secs(10));
        assert_eq!(spec.discovery_token, "zzzzzz.0123456789abcdef");
        assert_eq!(spec.ignore, ["all"]);
        assert!(n.warnings.is_empty(), "{n:?}");
    }
}
