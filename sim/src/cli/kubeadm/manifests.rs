//! What `kubeadm init` writes for the kubelet: the static Pod manifests of etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler (cmd/kubeadm/app/phases/controlplane/manifests.go,
//! volumes.go; cmd/kubeadm/app/phases/etcd/local.go; cmd/kubeadm/app/util/staticpod/utils.go), the
//! kubelet's `config.yaml` and `kubeadm-flags.env` (cmd/kubeadm/app/phases/kubelet,
//! cmd/kubeadm/app/componentconfigs/kubelet.go).
//!
//! labsim's one departure (docs/labsim.md, "127.0.0.1 listeners"): where kubeadm has a component
//! listen on, or a probe target, 127.0.0.1 (etcd's client and metrics URLs, the controller
//! manager's and scheduler's `--bind-address`, the kubelet's `healthzBindAddress`), labsim writes
//! the node IP, because every node shares the host's loopback.

use std::net::IpAddr;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::config::{Arg, InitConfig, cidr_host};
use super::yaml;
use crate::version::Minor;

/// `ArgumentsToCommand` (cmd/kubeadm/app/util/arguments.go): overrides replace base arguments of
/// the same name, and the result is sorted by name (then value), rendered `--name=value`.
pub fn arguments_to_command(base: &[Arg], overrides: &[Arg]) -> Vec<String> {
    let mut args: Vec<Arg> = overrides.to_vec();
    for a in base {
        if !overrides.iter().any(|o| o.0 == a.0) {
            args.push(a.clone());
        }
    }
    args.sort();
    args.into_iter()
        .map(|(n, v)| format!("--{n}={v}"))
        .collect()
}

fn arg(n: &str, v: impl Into<String>) -> Arg {
    (n.to_string(), v.into())
}

fn join(dir: &str, file: &str) -> String {
    Path::new(dir).join(file).display().to_string()
}

fn find<'a>(args: &'a [Arg], name: &str) -> Option<&'a str> {
    args.iter()
        .rev()
        .find(|a| a.0 == name)
        .map(|a| a.1.as_str())
}

/// Where the host has the CA bundle directories kubeadm mounts when they exist (volumes.go
/// `caCertsExtraVolumePaths`), as (volume name, path).
pub fn extra_ca_dirs(exists: &dyn Fn(&str) -> bool) -> Vec<(&'static str, &'static str)> {
    [
        ("etc-pki", "/etc/pki"),
        ("usr-share-ca-certificates", "/usr/share/ca-certificates"),
        (
            "usr-local-share-ca-certificates",
            "/usr/local/share/ca-certificates",
        ),
        ("etc-ca-certificates", "/etc/ca-certificates"),
    ]
    .into_iter()
    .filter(|(_, p)| exists(p))
    .collect()
}

/// Inputs of the manifests besides the config.
pub struct ManifestContext<'a> {
    /// The kubeadm (node) version.
    pub minor: Minor,
    /// The node's IP (where labsim puts kubeadm's 127.0.0.1 listeners).
    pub node_ip: IpAddr,
    /// Which extra CA directories exist on the node.
    pub ca_dirs: Vec<(&'static str, &'static str)>,
    /// labsim's event log was asked for: the API server gets an audit policy and log (labsim only;
    /// see [`kube_apiserver`]).
    pub event_log: bool,
    /// The config.
    pub cfg: &'a InitConfig,
}

type Volumes = Vec<(String, Value, Value)>;

fn host_volume(vols: &mut Volumes, name: &str, path: &str, ty: &str, mount: &str, read_only: bool) {
    let mut m = json!({"mountPath": mount, "name": name});
    if read_only {
        m["readOnly"] = json!(true);
    }
    vols.push((
        name.to_string(),
        json!({"hostPath": {"path": path, "type": ty}, "name": name}),
        m,
    ));
}

/// The probe kubeadm's staticpod utils build: `createHTTPProbe(host, path, port, scheme,
/// initialDelaySeconds, timeoutSeconds, failureThreshold, periodSeconds)`.
fn probe(
    host: &str,
    path: &str,
    port: u16,
    scheme: &str,
    init: u32,
    fail: u32,
    period: u32,
) -> Value {
    let mut p = json!({
        "failureThreshold": fail,
        "httpGet": {"host": host, "path": path, "port": port, "scheme": scheme},
        "periodSeconds": period,
        "timeoutSeconds": 15,
    });
    if init > 0 {
        p["initialDelaySeconds"] = json!(init);
    }
    p
}

/// LivenessProbe: initialDelay 10, timeout 15, failureThreshold 8, period 10.
fn liveness(host: &str, path: &str, port: u16, scheme: &str) -> Value {
    probe(host, path, port, scheme, 10, 8, 10)
}

/// ReadinessProbe: no initial delay, failureThreshold 3, period 1.
fn readiness(host: &str, path: &str, port: u16, scheme: &str) -> Value {
    probe(host, path, port, scheme, 0, 3, 1)
}

/// StartupProbe: initialDelay 10, period 10, failureThreshold = ceil(timeout / 10 s) (24 for the
/// default 4m0s control-plane timeout).
fn startup(host: &str, path: &str, port: u16, scheme: &str, timeout_secs: u64) -> Value {
    let fail = timeout_secs.div_ceil(10) as u32;
    probe(host, path, port, scheme, 10, fail, 10)
}

/// `ComponentPod`: labels `component`/`tier: control-plane`, hostNetwork, priority
/// 2000001000 / `system-node-critical`, seccomp RuntimeDefault, volumes sorted by name.
fn component_pod(
    minor: Minor,
    mut container: Value,
    mut vols: Volumes,
    annotations: Option<Value>,
) -> Value {
    vols.sort_by(|a, b| a.0.cmp(&b.0));
    let name = container["name"].as_str().unwrap_or_default().to_string();
    container["volumeMounts"] = Value::Array(vols.iter().map(|v| v.2.clone()).collect());
    let mut meta = json!({
        "labels": {"component": name, "tier": "control-plane"},
        "name": name,
        "namespace": "kube-system",
    });
    if let Some(a) = annotations {
        meta["annotations"] = a;
    }
    // metav1.ObjectMeta's zero creationTimestamp marshalled as `null` until apimachinery made it
    // omitempty-on-zero (1.34).
    if minor.minor() < 34 {
        meta["creationTimestamp"] = Value::Null;
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "containers": [container],
            "hostNetwork": true,
            "priority": 2000001000,
            "priorityClassName": "system-node-critical",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": vols.iter().map(|v| v.1.clone()).collect::<Vec<_>>(),
        },
        "status": {},
    })
}

fn ca_volumes(vols: &mut Volumes, ca_dirs: &[(&'static str, &'static str)]) {
    host_volume(
        vols,
        "ca-certs",
        "/etc/ssl/certs",
        "DirectoryOrCreate",
        "/etc/ssl/certs",
        true,
    );
    for (name, path) in ca_dirs {
        host_volume(vols, name, path, "DirectoryOrCreate", path, true);
    }
}

/// The image `registry/<component>:<kubernetesVersion>` (images.GetKubernetesImage).
pub fn kubernetes_image(cfg: &InitConfig, component: &str) -> String {
    format!(
        "{}/{component}:{}",
        cfg.cluster.image_repository, cfg.cluster.kubernetes_version
    )
}

/// The etcd image `registry/etcd:<version>-0` (images.GetEtcdImage with the version kubeadm
/// pins for the Kubernetes minor, `version::Minor::etcd_version`).
pub fn etcd_image(ctx: &ManifestContext) -> String {
    let target = ctx
        .cfg
        .cluster
        .kubernetes_version
        .parse::<Minor>()
        .unwrap_or(ctx.minor);
    format!(
        "{}/etcd:{}-0",
        ctx.cfg.cluster.image_repository,
        target.etcd_version()
    )
}

/// The kube-apiserver static Pod.
pub fn kube_apiserver(ctx: &ManifestContext) -> Value {
    let c = &ctx.cfg.cluster;
    let d = &c.certificates_dir;
    let adv = ctx.cfg.advertise_address.to_string();
    let port = ctx.cfg.bind_port;
    let mut base = vec![
        arg("advertise-address", &adv),
        arg("allow-privileged", "true"),
        arg("authorization-mode", "Node,RBAC"),
        arg("client-ca-file", join(d, "ca.crt")),
        arg("enable-admission-plugins", "NodeRestriction"),
        arg("enable-bootstrap-token-auth", "true"),
        arg("etcd-cafile", join(d, "etcd/ca.crt")),
        arg("etcd-certfile", join(d, "apiserver-etcd-client.crt")),
        arg("etcd-keyfile", join(d, "apiserver-etcd-client.key")),
        // kubeadm: https://127.0.0.1:2379; labsim: the node IP (module docs).
        arg("etcd-servers", format!("https://{}:2379", ctx.node_ip)),
        arg(
            "kubelet-client-certificate",
            join(d, "apiserver-kubelet-client.crt"),
        ),
        arg(
            "kubelet-client-key",
            join(d, "apiserver-kubelet-client.key"),
        ),
        arg(
            "kubelet-preferred-address-types",
            "InternalIP,ExternalIP,Hostname",
        ),
        arg("proxy-client-cert-file", join(d, "front-proxy-client.crt")),
        arg("proxy-client-key-file", join(d, "front-proxy-client.key")),
        arg("requestheader-allowed-names", "front-proxy-client"),
        arg(
            "requestheader-client-ca-file",
            join(d, "front-proxy-ca.crt"),
        ),
        arg("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        arg("requestheader-group-headers", "X-Remote-Group"),
        arg("requestheader-username-headers", "X-Remote-User"),
        arg("secure-port", port.to_string()),
        arg(
            "service-account-issuer",
            format!("https://kubernetes.default.svc.{}", c.dns_domain),
        ),
        arg("service-account-key-file", join(d, "sa.pub")),
        arg("service-account-signing-key-file", join(d, "sa.key")),
        arg("service-cluster-ip-range", &c.service_subnet),
        arg("tls-cert-file", join(d, "apiserver.crt")),
        arg("tls-private-key-file", join(d, "apiserver.key")),
    ];
    if let Some(v) = find(&c.etcd_extra_args, "advertise-client-urls") {
        base.retain(|a| a.0 != "etcd-servers");
        base.push(arg("etcd-servers", v));
    }
    let mut vols = Volumes::new();
    if ctx.event_log {
        // labsim's event log (docs/labsim.md): what a reader would add through apiServer.extraArgs
        // and extraVolumes to enable auditing as the Kubernetes auditing docs show
        // (https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/#log-backend). The config's
        // own extraArgs still win.
        use crate::apiserver::audit::{LOG_DIR, LOG_PATH, POLICY_PATH};
        base.push(arg("audit-policy-file", POLICY_PATH));
        base.push(arg("audit-log-path", LOG_PATH));
        base.push(arg("audit-log-maxsize", "50"));
        base.push(arg("audit-log-maxbackup", "4"));
        host_volume(&mut vols, "audit", POLICY_PATH, "File", POLICY_PATH, true);
        host_volume(
            &mut vols,
            "audit-log",
            &format!("{LOG_DIR}/"),
            "DirectoryOrCreate",
            &format!("{LOG_DIR}/"),
            false,
        );
    }
    let mut command = vec!["kube-apiserver".to_string()];
    command.extend(arguments_to_command(&base, &c.apiserver_extra_args));
    ca_volumes(&mut vols, &ctx.ca_dirs);
    host_volume(&mut vols, "k8s-certs", d, "DirectoryOrCreate", d, true);
    let timeout = ctx.cfg.timeouts.control_plane.as_secs();
    let container = json!({
        "command": command,
        "image": kubernetes_image(ctx.cfg, "kube-apiserver"),
        "imagePullPolicy": "IfNotPresent",
        "livenessProbe": liveness(&adv, "/livez", port, "HTTPS"),
        "name": "kube-apiserver",
        "readinessProbe": readiness(&adv, "/readyz", port, "HTTPS"),
        "resources": {"requests": {"cpu": "250m"}},
        "startupProbe": startup(&adv, "/livez", port, "HTTPS", timeout),
    });
    component_pod(
        ctx.minor,
        container,
        vols,
        Some(json!({
            "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint":
                endpoint(ctx.cfg.advertise_address, port)
        })),
    )
}

/// `host:port`, IPv6 in brackets (net.JoinHostPort).
pub fn endpoint(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// The kube-controller-manager static Pod.
pub fn kube_controller_manager(ctx: &ManifestContext) -> Value {
    let c = &ctx.cfg.cluster;
    let d = &c.certificates_dir;
    let kubeconfig = "/etc/kubernetes/controller-manager.conf";
    let mut base = vec![
        // kubeadm: 127.0.0.1; labsim: the node IP (module docs).
        arg("bind-address", ctx.node_ip.to_string()),
        arg("leader-elect", "true"),
        arg("kubeconfig", kubeconfig),
        arg("authentication-kubeconfig", kubeconfig),
        arg("authorization-kubeconfig", kubeconfig),
        arg("client-ca-file", join(d, "ca.crt")),
        arg(
            "requestheader-client-ca-file",
            join(d, "front-proxy-ca.crt"),
        ),
        arg("root-ca-file", join(d, "ca.crt")),
        arg("service-account-private-key-file", join(d, "sa.key")),
        arg("cluster-signing-cert-file", join(d, "ca.crt")),
        arg("cluster-signing-key-file", join(d, "ca.key")),
        arg("use-service-account-credentials", "true"),
        arg("controllers", "*,bootstrapsigner,tokencleaner"),
    ];
    if !c.pod_subnet.is_empty() {
        base.push(arg("allocate-node-cidrs", "true"));
        base.push(arg("cluster-cidr", &c.pod_subnet));
        if !c.service_subnet.is_empty() {
            base.push(arg("service-cluster-ip-range", &c.service_subnet));
        }
    }
    if !c.cluster_name.is_empty() {
        base.push(arg("cluster-name", &c.cluster_name));
    }
    let mut command = vec!["kube-controller-manager".to_string()];
    command.extend(arguments_to_command(
        &base,
        &c.controller_manager_extra_args,
    ));
    let host = probe_host(&c.controller_manager_extra_args, ctx.node_ip);
    let mut vols = Volumes::new();
    ca_volumes(&mut vols, &ctx.ca_dirs);
    host_volume(&mut vols, "k8s-certs", d, "DirectoryOrCreate", d, true);
    host_volume(
        &mut vols,
        "kubeconfig",
        kubeconfig,
        "FileOrCreate",
        kubeconfig,
        true,
    );
    let flex = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec";
    host_volume(
        &mut vols,
        "flexvolume-dir",
        flex,
        "DirectoryOrCreate",
        flex,
        false,
    );
    let timeout = ctx.cfg.timeouts.control_plane.as_secs();
    let container = json!({
        "command": command,
        "image": kubernetes_image(ctx.cfg, "kube-controller-manager"),
        "imagePullPolicy": "IfNotPresent",
        "livenessProbe": liveness(&host, "/healthz", 10257, "HTTPS"),
        "name": "kube-controller-manager",
        "resources": {"requests": {"cpu": "200m"}},
        "startupProbe": startup(&host, "/healthz", 10257, "HTTPS", timeout),
    });
    component_pod(ctx.minor, container, vols, None)
}

/// GetControllerManagerProbeAddress / GetSchedulerProbeAddress: the `bind-address` extra arg if
/// set (unspecified addresses give an empty host, i.e. the pod IP), else kubeadm's 127.0.0.1 —
/// the node IP on labsim.
fn probe_host(extra: &[Arg], node_ip: IpAddr) -> String {
    match find(extra, "bind-address") {
        Some("0.0.0.0") | Some("::") => String::new(),
        Some(a) => a.to_string(),
        None => node_ip.to_string(),
    }
}

/// The kube-scheduler static Pod.
pub fn kube_scheduler(ctx: &ManifestContext) -> Value {
    let c = &ctx.cfg.cluster;
    let kubeconfig = "/etc/kubernetes/scheduler.conf";
    let base = vec![
        arg("bind-address", ctx.node_ip.to_string()),
        arg("leader-elect", "true"),
        arg("kubeconfig", kubeconfig),
        arg("authentication-kubeconfig", kubeconfig),
        arg("authorization-kubeconfig", kubeconfig),
    ];
    let mut command = vec!["kube-scheduler".to_string()];
    command.extend(arguments_to_command(&base, &c.scheduler_extra_args));
    let host = probe_host(&c.scheduler_extra_args, ctx.node_ip);
    let mut vols = Volumes::new();
    host_volume(
        &mut vols,
        "kubeconfig",
        kubeconfig,
        "FileOrCreate",
        kubeconfig,
        true,
    );
    let timeout = ctx.cfg.timeouts.control_plane.as_secs();
    let container = json!({
        "command": command,
        "image": kubernetes_image(ctx.cfg, "kube-scheduler"),
        "imagePullPolicy": "IfNotPresent",
        "livenessProbe": liveness(&host, "/healthz", 10259, "HTTPS"),
        "name": "kube-scheduler",
        "resources": {"requests": {"cpu": "100m"}},
        "startupProbe": startup(&host, "/healthz", 10259, "HTTPS", timeout),
    });
    component_pod(ctx.minor, container, vols, None)
}

/// The etcd static Pod (etcd/local.go `GetEtcdPodSpec`, `getEtcdCommand`).
pub fn etcd(ctx: &ManifestContext) -> Value {
    let c = &ctx.cfg.cluster;
    let d = &c.certificates_dir;
    let ip = ctx.node_ip;
    let node = &ctx.cfg.node.name;
    let client = format!("https://{}", endpoint(ctx.cfg.advertise_address, 2379));
    let peer = format!("https://{}", endpoint(ctx.cfg.advertise_address, 2380));
    let mut base = vec![
        arg("name", node),
        // kubeadm: https://127.0.0.1:2379,<client URL>; labsim: the node IP only.
        arg(
            "listen-client-urls",
            format!("https://{}", endpoint(ip, 2379)),
        ),
        arg("advertise-client-urls", &client),
        arg("listen-peer-urls", &peer),
        arg("initial-advertise-peer-urls", &peer),
        arg("data-dir", &c.etcd_data_dir),
        arg("cert-file", join(d, "etcd/server.crt")),
        arg("key-file", join(d, "etcd/server.key")),
        arg("trusted-ca-file", join(d, "etcd/ca.crt")),
        arg("client-cert-auth", "true"),
        arg("peer-cert-file", join(d, "etcd/peer.crt")),
        arg("peer-key-file", join(d, "etcd/peer.key")),
        arg("peer-trusted-ca-file", join(d, "etcd/ca.crt")),
        arg("peer-client-cert-auth", "true"),
        arg("snapshot-count", "10000"),
        // kubeadm: http://127.0.0.1:2381; labsim: the node IP.
        arg(
            "listen-metrics-urls",
            format!("http://{}", endpoint(ip, 2381)),
        ),
        arg("initial-cluster", format!("{node}={peer}")),
    ];
    // With etcd 3.6 (Kubernetes 1.34) the experimental flags graduated: kubeadm passes
    // --feature-gates=InitialCorruptCheck=true and --watch-progress-notify-interval instead.
    if ctx.minor.minor() >= 34 {
        base.push(arg("feature-gates", "InitialCorruptCheck=true"));
        base.push(arg("watch-progress-notify-interval", "5s"));
    } else {
        base.push(arg("experimental-initial-corrupt-check", "true"));
        base.push(arg("experimental-watch-progress-notify-interval", "5s"));
    }
    let mut command = vec!["etcd".to_string()];
    command.extend(arguments_to_command(&base, &c.etcd_extra_args));
    let mut vols = Volumes::new();
    host_volume(
        &mut vols,
        "etcd-data",
        &c.etcd_data_dir,
        "DirectoryOrCreate",
        &c.etcd_data_dir,
        false,
    );
    let certs = join(d, "etcd");
    host_volume(
        &mut vols,
        "etcd-certs",
        &certs,
        "DirectoryOrCreate",
        &certs,
        false,
    );
    let host = ip.to_string();
    let timeout = ctx.cfg.timeouts.control_plane.as_secs();
    // 1.31 switched the probes to etcd 3.5.11's /livez and /readyz and added a readiness probe
    // (kubernetes PR 124465); before: /health?exclude=NOSPACE&serializable=true for liveness and
    // /health?serializable=false for startup (PRs 110072, 110744).
    let mut container = json!({
        "command": command,
        "image": etcd_image(ctx),
        "imagePullPolicy": "IfNotPresent",
        "name": "etcd",
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
    });
    if ctx.minor.minor() >= 31 {
        container["livenessProbe"] = liveness(&host, "/livez", 2381, "HTTP");
        container["readinessProbe"] = readiness(&host, "/readyz", 2381, "HTTP");
        container["startupProbe"] = startup(&host, "/readyz", 2381, "HTTP", timeout);
    } else {
        container["livenessProbe"] = liveness(
            &host,
            "/health?exclude=NOSPACE&serializable=true",
            2381,
            "HTTP",
        );
        container["startupProbe"] =
            startup(&host, "/health?serializable=false", 2381, "HTTP", timeout);
    }
    component_pod(
        ctx.minor,
        container,
        vols,
        Some(json!({"kubeadm.kubernetes.io/etcd.advertise-client-urls": client})),
    )
}

/// The four manifests as (file name, YAML), in the order kubeadm writes them.
pub fn all(ctx: &ManifestContext) -> Vec<(&'static str, String)> {
    vec![
        ("etcd.yaml", yaml::to_string(&etcd(ctx))),
        ("kube-apiserver.yaml", yaml::to_string(&kube_apiserver(ctx))),
        (
            "kube-controller-manager.yaml",
            yaml::to_string(&kube_controller_manager(ctx)),
        ),
        ("kube-scheduler.yaml", yaml::to_string(&kube_scheduler(ctx))),
    ]
}

/// Deep-merges `over` into `base` (objects merge, everything else replaces), as decoding the
/// user's document over kubeadm's defaulted struct does.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The KubeletConfiguration kubeadm writes to `/var/lib/kubelet/config.yaml` and uploads as the
/// `kubelet-config` ConfigMap: the user's document over kubeadm's defaults
/// (componentconfigs/kubelet.go `Default`) and the kubelet's zero values as sigs.k8s.io/yaml
/// marshals them.
pub fn kubelet_config(cfg: &InitConfig, minor: Minor) -> Value {
    let dns = cidr_host(&cfg.cluster.service_subnet, 10)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "10.96.0.10".into());
    let mut v = json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "authentication": {
            "anonymous": {"enabled": false},
            "webhook": {"cacheTTL": "0s", "enabled": true},
            "x509": {"clientCAFile": join(&cfg.cluster.certificates_dir, "ca.crt")},
        },
        "authorization": {
            "mode": "Webhook",
            "webhook": {"cacheAuthorizedTTL": "0s", "cacheUnauthorizedTTL": "0s"},
        },
        "cgroupDriver": "systemd",
        "clusterDNS": [dns],
        "clusterDomain": cfg.cluster.dns_domain,
        "containerRuntimeEndpoint": "",
        "cpuManagerReconcilePeriod": "0s",
        "evictionPressureTransitionPeriod": "0s",
        "fileCheckFrequency": "0s",
        // The kubelet's default, kept as is: this file is shared by every node through the
        // kubelet-config ConfigMap, so labsim's kubelet (not kubeadm) serves it on the node IP.
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "httpCheckFrequency": "0s",
        "imageMinimumGCAge": "0s",
        "kind": "KubeletConfiguration",
        "logging": {
            "flushFrequency": 0,
            "options": {"json": {"infoBufferSize": "0"}},
            "verbosity": 0,
        },
        "memorySwap": {},
        "nodeStatusReportFrequency": "0s",
        "nodeStatusUpdateFrequency": "0s",
        "rotateCertificates": true,
        "runtimeRequestTimeout": "0s",
        "shutdownGracePeriod": "0s",
        "shutdownGracePeriodCriticalPods": "0s",
        "staticPodPath": "/etc/kubernetes/manifests",
        "streamingConnectionIdleTimeout": "0s",
        "syncFrequency": "0s",
        "volumeStatsAggPeriod": "0s",
    });
    // Fields the kubelet's config API gained (k8s.io/kubelet/config/v1beta1): imageMaximumGCAge
    // (1.29), logging text options (1.30), containerRuntimeEndpoint is always there since 1.27.
    if minor.minor() >= 29 {
        v["imageMaximumGCAge"] = json!("0s");
    }
    if minor.minor() >= 30 {
        v["logging"]["options"]["text"] = json!({"infoBufferSize": "0"});
    }
    if minor.minor() >= 32 {
        v["crashLoopBackOff"] = json!({});
    }
    if let Some(user) = &cfg.kubelet {
        let mut u = user.clone();
        if let Value::Object(m) = &mut u {
            m.remove("apiVersion");
            m.remove("kind");
        }
        merge(&mut v, &u);
    }
    v
}

/// The content of `/var/lib/kubelet/kubeadm-flags.env` (kubelet/flags.go `buildKubeletArgs`
/// merged with `nodeRegistration.kubeletExtraArgs`, sorted): the runtime endpoint, the pause
/// image, `--hostname-override` when the node name differs from the hostname.
pub fn kubeadm_flags_env(
    cri_socket: &str,
    pause_image: Option<&str>,
    node_name: &str,
    hostname: &str,
    extra: &[Arg],
) -> String {
    let mut base = vec![arg("container-runtime-endpoint", cri_socket)];
    if let Some(p) = pause_image {
        base.push(arg("pod-infra-container-image", p));
    }
    if node_name != hostname {
        base.push(arg("hostname-override", node_name));
    }
    format!(
        "KUBELET_KUBEADM_ARGS=\"{}\"\n",
        arguments_to_command(&base, extra).join(" ")
    )
}

/// The pause image kubeadm passes (`registry/pause:<tag>` of the version).
pub fn pause_image(cfg: &InitConfig, minor: Minor) -> String {
    format!(
        "{}/pause:{}",
        cfg.cluster.image_repository,
        minor.pause_tag()
    )
}

/// The ClusterConfiguration as kubeadm uploads it to the `kubeadm-config` ConfigMap: defaulted,
/// in the kubeadm API version this kubeadm writes (v1beta3 before 1.31, v1beta4 after).
pub fn uploaded_cluster_configuration(cfg: &InitConfig, minor: Minor) -> Value {
    let c = &cfg.cluster;
    let api = minor.kubeadm_preferred_api();
    let args = |a: &[Arg]| -> Value {
        match api {
            crate::version::KubeadmApi::V1beta3 => {
                let m: Map<String, Value> = a.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                Value::Object(m)
            }
            crate::version::KubeadmApi::V1beta4 => Value::Array(
                a.iter()
                    .map(|(k, v)| json!({"name": k, "value": v}))
                    .collect(),
            ),
        }
    };
    let mut api_server = json!({});
    if !c.apiserver_extra_args.is_empty() {
        api_server["extraArgs"] = args(&c.apiserver_extra_args);
    }
    if !c.apiserver_cert_sans.is_empty() {
        api_server["certSANs"] = json!(c.apiserver_cert_sans);
    }
    let mut cm = json!({});
    if !c.controller_manager_extra_args.is_empty() {
        cm["extraArgs"] = args(&c.controller_manager_extra_args);
    }
    let mut sched = json!({});
    if !c.scheduler_extra_args.is_empty() {
        sched["extraArgs"] = args(&c.scheduler_extra_args);
    }
    let mut local = json!({"dataDir": c.etcd_data_dir});
    if !c.etcd_extra_args.is_empty() {
        local["extraArgs"] = args(&c.etcd_extra_args);
    }
    let mut networking = json!({"dnsDomain": c.dns_domain, "serviceSubnet": c.service_subnet});
    if !c.pod_subnet.is_empty() {
        networking["podSubnet"] = json!(c.pod_subnet);
    }
    let mut v = json!({
        "apiServer": api_server,
        "apiVersion": api.api_version(),
        "certificatesDir": c.certificates_dir,
        "clusterName": c.cluster_name,
        "controlPlaneEndpoint": c.control_plane_endpoint,
        "controllerManager": cm,
        "dns": {},
        "etcd": {"local": local},
        "imageRepository": c.image_repository,
        "kind": "ClusterConfiguration",
        "kubernetesVersion": c.kubernetes_version,
        "networking": networking,
        "scheduler": sched,
    });
    if api == crate::version::KubeadmApi::V1beta3 {
        v["apiServer"]["timeoutForControlPlane"] = json!(crate::cli::gofmt::format_go_duration(
            cfg.timeouts.control_plane
        ));
    } else {
        v["encryptionAlgorithm"] = json!(c.encryption_algorithm);
        v["proxy"] = json!({});
        v["caCertificateValidityPeriod"] = json!("87600h0m0s");
        v["certificateValidityPeriod"] = json!("8760h0m0s");
    }
    v
}

/// Sample configurations for unit tests of the kubeadm modules.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::cli::kubeadm::config::{HostFacts, load_init};

    /// master.sh's config for `minor` in the API version that minor prefers.
    pub(crate) fn sample(minor: u32) -> InitConfig {
        let api = if minor >= 31 { "v1beta4" } else { "v1beta3" };
        sample_api(minor, api)
    }

    /// master.sh's config for `minor` in `api`.
    pub(crate) fn sample_api(minor: u32, api: &str) -> InitConfig {
        let version = Minor::new(minor).unwrap().git_version();
        let (extra_cm, extra_api) = if api == "v1beta4" {
            (
                "  extraArgs:\n    - name: node-monitor-grace-period\n      value: 10s\n",
                "  extraArgs:\n    - name: default-not-ready-toleration-seconds\n      value: \"20\"\n",
            )
        } else {
            (
                "  extraArgs:\n    node-monitor-grace-period: 10s\n",
                "  extraArgs:\n    default-not-ready-toleration-seconds: \"20\"\n",
            )
        };
        let text = format!(
            "apiVersion: kubeadm.k8s.io/{api}\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 127.100.49.2\n  bindPort: 8443\nnodeRegistration:\n  name: minikube\n---\napiVersion: kubeadm.k8s.io/{api}\nkind: ClusterConfiguration\nclusterName: mk\nkubernetesVersion: {version}\ncertificatesDir: /var/lib/minikube/certs\nnetworking:\n  podSubnet: 10.244.0.0/16\netcd:\n  local:\n    dataDir: /var/lib/minikube/etcd\napiServer:\n{extra_api}controllerManager:\n{extra_cm}"
        );
        let host = HostFacts {
            hostname: "minikube".into(),
            default_ip: "127.100.49.2".parse().unwrap(),
            kubeadm_version: version.clone(),
        };
        load_init(&text, Minor::new(minor).unwrap(), &host)
            .unwrap()
            .0
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample_api as sample;
    use super::*;

    fn ctx(cfg: &InitConfig, minor: u32) -> ManifestContext<'_> {
        ManifestContext {
            minor: Minor::new(minor).unwrap(),
            node_ip: "127.100.49.2".parse().unwrap(),
            ca_dirs: vec![
                ("etc-ca-certificates", "/etc/ca-certificates"),
                ("usr-share-ca-certificates", "/usr/share/ca-certificates"),
            ],
            event_log: false,
            cfg,
        }
    }

    #[test]
    fn the_event_log_adds_the_audit_flags_and_volumes_only_when_asked() {
        let cfg = sample(33, "v1beta4");
        let plain = kube_apiserver(&ctx(&cfg, 33));
        assert!(!yaml::to_string(&plain).contains("audit"));
        let mut c = ctx(&cfg, 33);
        c.event_log = true;
        let pod = kube_apiserver(&c);
        let cmd: Vec<&str> = pod["spec"]["containers"][0]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(cmd.contains(&"--audit-policy-file=/etc/kubernetes/audit-policy.yaml"));
        assert!(cmd.contains(&"--audit-log-path=/var/log/kubernetes/audit/audit.log"));
        let mut sorted = cmd[1..].to_vec();
        sorted.sort();
        assert_eq!(cmd[1..], sorted[..], "ArgumentsToCommand sorts");
        let vols = pod["spec"]["volumes"].as_array().unwrap();
        let names: Vec<&str> = vols.iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert_eq!(names[..2], ["audit", "audit-log"], "sorted by name");
        assert_eq!(vols[0]["hostPath"]["type"], "File");
        let mounts = &pod["spec"]["containers"][0]["volumeMounts"];
        assert_eq!(mounts[0]["readOnly"], true);
        assert!(mounts[1]["readOnly"].is_null());
    }

    #[test]
    fn manifests_1_33() {
        let cfg = sample(33, "v1beta4");
        let c = ctx(&cfg, 33);
        for (name, text) in all(&c) {
            insta::assert_snapshot!(format!("v1_33_{name}"), text);
        }
    }

    #[test]
    fn manifests_1_26_etcd_and_scheduler() {
        let cfg = sample(26, "v1beta3");
        let c = ctx(&cfg, 26);
        insta::assert_snapshot!("v1_26_etcd.yaml", yaml::to_string(&etcd(&c)));
        let api = kube_apiserver(&c);
        let cmd: Vec<&str> = api["spec"]["containers"][0]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(cmd.contains(&"--default-not-ready-toleration-seconds=20"));
        assert!(
            cmd.windows(2).skip(1).all(|w| w[0] <= w[1]),
            "sorted: {cmd:?}"
        );
    }

    #[test]
    fn manifests_1_36_etcd_uses_graduated_flags() {
        let cfg = sample(36, "v1beta4");
        let e = etcd(&ctx(&cfg, 36));
        let cmd = e["spec"]["containers"][0]["command"].to_string();
        assert!(
            cmd.contains("--feature-gates=InitialCorruptCheck=true"),
            "{cmd}"
        );
        assert!(cmd.contains("--watch-progress-notify-interval=5s"), "{cmd}");
        assert_eq!(
            e["spec"]["containers"][0]["image"],
            "registry.k8s.io/etcd:3.6.8-0"
        );
        assert!(e["metadata"].get("creationTimestamp").is_none());
    }

    #[test]
    fn overrides_replace_defaults() {
        let cmd = arguments_to_command(
            &[
                arg("bind-address", "127.0.0.1"),
                arg("leader-elect", "true"),
            ],
            &[arg("bind-address", "0.0.0.0"), arg("v", "2")],
        );
        assert_eq!(
            cmd,
            ["--bind-address=0.0.0.0", "--leader-elect=true", "--v=2"]
        );
        assert_eq!(
            probe_host(
                &[arg("bind-address", "0.0.0.0")],
                "127.1.1.1".parse().unwrap()
            ),
            ""
        );
    }

    #[test]
    fn kubelet_files() {
        let mut cfg = sample(33, "v1beta4");
        cfg.kubelet = Some(
            json!({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "cgroupDriver": "cgroupfs", "nodeLeaseDurationSeconds": 8}),
        );
        let v = kubelet_config(&cfg, Minor::new(33).unwrap());
        insta::assert_snapshot!("v1_33_kubelet_config.yaml", yaml::to_string(&v));
        assert_eq!(
            kubeadm_flags_env(
                "unix:///var/run/containerd/containerd.sock",
                Some("registry.k8s.io/pause:3.10"),
                "minikube",
                "minikube",
                &[arg("node-ip", "127.100.49.2")]
            ),
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --node-ip=127.100.49.2 --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n"
        );
    }

    #[test]
    fn uploaded_config_shapes() {
        let cfg = sample(30, "v1beta3");
        let v = uploaded_cluster_configuration(&cfg, Minor::new(30).unwrap());
        assert_eq!(v["apiVersion"], "kubeadm.k8s.io/v1beta3");
        assert_eq!(
            v["controllerManager"]["extraArgs"]["node-monitor-grace-period"],
            "10s"
        );
        let cfg = sample(33, "v1beta4");
        let v = uploaded_cluster_configuration(&cfg, Minor::new(33).unwrap());
        assert_eq!(
            v["controllerManager"]["extraArgs"][0]["name"],
            "node-monitor-grace-period"
        );
        insta::assert_snapshot!("v1_33_kubeadm_config.yaml", yaml::to_string(&v));
    }
}
