//! flanneld with `--kube-subnet-mgr` (flannel-io/flannel main.go, pkg/subnet/kube/kube.go), as the
//! course's flannel DaemonSet runs it.
//!
//! What it does, in flanneld's order:
//! 1. flags (Go `flag`; `FLANNELD_*` environment variables fill flags not given), then logs
//!    `CLI flags config: {…}`;
//! 2. finds its node: `NODE_NAME`, else the pod `POD_NAMESPACE/POD_NAME`'s `spec.nodeName`, with the
//!    in-cluster client (service-account token and CA from the pod's volume, API at
//!    `LABSIM_APISERVER`); reads `net-conf.json` through the pod's ConfigMap volume;
//! 3. lists and watches all nodes (kept up to date until the end); waits up to 30 s for its node
//!    in that cache; refuses a node without `spec.podCIDR` (`node "x" pod cidr not assigned`:
//!    flanneld exits 1 and the kubelet restarts it, as on a real cluster) or whose podCIDR is
//!    outside `Network`;
//! 4. annotates its node through `nodes/<name>/status` (`flannel.alpha.coreos.com/backend-type`,
//!    `backend-data` `{"VNI":1,"VtepMAC":…}`, `kube-subnet-manager`, `public-ip` = the node IP);
//! 5. writes `/run/flannel/subnet.env` (FLANNEL_NETWORK, FLANNEL_SUBNET = podCIDR's first address,
//!    FLANNEL_MTU, FLANNEL_IPMASQ) through its hostPath volume, atomically (temp file + rename);
//! 6. sets the node's `NetworkUnavailable` condition to False (`FlannelIsUp`, "Flannel is running
//!    on this node") with a strategic merge patch of `nodes/<name>/status` (kube.go
//!    `CompleteLease`);
//! 7. keeps watching nodes until SIGTERM/SIGINT, then exits 0.
//!
//! No dataplane: labsim creates no VXLAN device, routes or iptables rules (pods reach each other
//! through their mapped loopback addresses, docs/labsim.md "Addresses"), and says so in the log.
//! The MTU is the one flannel computes for minikube's 1500-byte docker network interface (vxlan:
//! 1450). The VTEP MAC is derived from the node name, stable across restarts.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use super::catalog::ImageSpec;
use super::contract::ContainerEnv;
use super::http::{HttpServer, respond};
use super::log::{Level, go_quote, klog};
use crate::client::{Change, Client, ListParams, PatchType, Reflector, ReflectorStore, path};
use crate::gocli::{FlagDef, FlagError, Kind, Parsed, flag, go_usage, parse_go};

const FLAGS: &[FlagDef] = &[
    flag(
        "etcd-endpoints",
        Kind::Str,
        "http://127.0.0.1:4001,http://127.0.0.1:2379",
        "a comma-delimited list of etcd endpoints",
    ),
    flag(
        "etcd-prefix",
        Kind::Str,
        "/coreos.com/network",
        "etcd prefix",
    ),
    flag(
        "etcd-keyfile",
        Kind::Str,
        "",
        "SSL key file used to secure etcd communication",
    ),
    flag(
        "etcd-certfile",
        Kind::Str,
        "",
        "SSL certification file used to secure etcd communication",
    ),
    flag(
        "etcd-cafile",
        Kind::Str,
        "",
        "SSL Certificate Authority file used to secure etcd communication",
    ),
    flag(
        "etcd-username",
        Kind::Str,
        "",
        "username for BasicAuth to etcd",
    ),
    flag(
        "etcd-password",
        Kind::Str,
        "",
        "password for BasicAuth to etcd",
    ),
    flag(
        "iface",
        Kind::List,
        "[]",
        "interface to use (IP or name) for inter-host communication. Can be specified multiple times to check each option in order. Returns the first match found.",
    ),
    flag(
        "iface-regex",
        Kind::List,
        "[]",
        "regex expression to match the first interface to use (IP or name) for inter-host communication. Can be specified multiple times to check each regex in order. Returns the first match found. Regexes are checked after specific interfaces specified by the iface option have already been checked.",
    ),
    flag(
        "iface-can-reach",
        Kind::Str,
        "",
        "detect interface to use (IP or name) for inter-host communication based on which will be used for provided IP. This is exactly the interface to use of command 'ip route get <ip-address>'",
    ),
    flag(
        "subnet-file",
        Kind::Str,
        "/run/flannel/subnet.env",
        "filename where env variables (subnet, MTU, ... ) will be written to",
    ),
    flag(
        "public-ip",
        Kind::Str,
        "",
        "IP accessible by other nodes for inter-host communication",
    ),
    flag(
        "public-ipv6",
        Kind::Str,
        "",
        "IPv6 accessible by other nodes for inter-host communication",
    ),
    flag(
        "subnet-lease-renew-margin",
        Kind::Int,
        "60",
        "subnet lease renewal margin, in minutes, ranging from 1 to 1439",
    ),
    flag(
        "ip-masq",
        Kind::Bool,
        "false",
        "setup IP masquerade rule for traffic destined outside of overlay network",
    ),
    flag(
        "kube-subnet-mgr",
        Kind::Bool,
        "false",
        "contact the Kubernetes API for subnet assignment instead of etcd.",
    ),
    flag(
        "kube-api-url",
        Kind::Str,
        "",
        "Kubernetes API server URL. Does not need to be specified if flannel is running in a pod.",
    ),
    flag(
        "kube-annotation-prefix",
        Kind::Str,
        "flannel.alpha.coreos.com",
        "Kubernetes annotation prefix. Can contain single slash \"/\", otherwise it will be appended at the end.",
    ),
    flag(
        "kubeconfig-file",
        Kind::Str,
        "",
        "kubeconfig file location. Does not need to be specified if flannel is running in a pod.",
    ),
    flag("version", Kind::Bool, "false", "print version and exit"),
    flag(
        "healthz-ip",
        Kind::Str,
        "0.0.0.0",
        "the IP address for healthz server to listen",
    ),
    flag(
        "healthz-port",
        Kind::Int,
        "0",
        "the port for healthz server to listen(0 to disable)",
    ),
    flag(
        "iptables-resync",
        Kind::Int,
        "5",
        "resync period for iptables rules, in seconds",
    ),
    flag(
        "iptables-forward-rules",
        Kind::Bool,
        "true",
        "add default accept rules to FORWARD chain in iptables",
    ),
    flag(
        "net-config-path",
        Kind::Str,
        "/etc/kube-flannel/net-conf.json",
        "path to the network configuration file",
    ),
    flag(
        "set-node-network-unavailable",
        Kind::Bool,
        "true",
        "set NodeNetworkUnavailable after ready",
    ),
    // klog's flags that flanneld copies (copyFlag).
    flag("v", Kind::Int, "0", "number for the log level verbosity"),
    flag(
        "vmodule",
        Kind::Str,
        "",
        "comma-separated list of pattern=N settings for file-filtered logging",
    ),
    flag(
        "log_backtrace_at",
        Kind::Str,
        ":0",
        "when logging hits line file:N, emit a stack trace",
    ),
];

/// Errors that make flanneld exit 1.
#[derive(Debug, thiserror::Error)]
pub enum FlannelError {
    /// The subnet manager could not be created (`Failed to create SubnetManager: …`).
    #[error("Failed to create SubnetManager: {0}")]
    SubnetManager(String),
    /// The network could not be registered (`Error registering network: …`).
    #[error("Error registering network: {0}")]
    RegisterNetwork(String),
    /// A flag value flanneld refuses.
    #[error("{0}")]
    Invalid(String),
}

/// flannel's network configuration (`net-conf.json`, pkg/subnet/config.go `ParseConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConf {
    /// `Network`.
    pub network: (Ipv4Addr, u8),
    /// `Backend.Type` (`udp` when unset, flannel's default).
    pub backend_type: String,
    /// `Backend.VNI` (vxlan, default 1).
    pub vni: u64,
    /// `Backend.Port` (vxlan, default 0).
    pub port: u64,
}

/// Parses a CIDR `a.b.c.d/n` (masked to the network address).
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((Ipv4Addr::from(u32::from(ip) & mask), len))
}

fn contains(outer: (Ipv4Addr, u8), inner: (Ipv4Addr, u8)) -> bool {
    let mask = if outer.1 == 0 {
        0
    } else {
        u32::MAX << (32 - outer.1)
    };
    outer.1 <= inner.1 && (u32::from(inner.0) & mask) == u32::from(outer.0)
}

impl NetConf {
    /// Parses `net-conf.json`.
    ///
    /// # Errors
    /// flannel's messages for an unusable configuration.
    pub fn parse(text: &str) -> Result<NetConf, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let network = v["Network"].as_str().unwrap_or_default();
        if network.is_empty() {
            return Err("please define a correct Network parameter in the flannel config".into());
        }
        let network =
            parse_cidr(network).ok_or_else(|| format!("invalid CIDR address: {network}"))?;
        let backend = &v["Backend"];
        Ok(NetConf {
            network,
            backend_type: backend["Type"].as_str().unwrap_or("udp").to_string(),
            vni: backend["VNI"].as_u64().unwrap_or(1),
            port: backend["Port"].as_u64().unwrap_or(0),
        })
    }

    /// The MTU flannel's backend derives from a 1500-byte interface.
    pub fn mtu(&self) -> u32 {
        match self.backend_type.as_str() {
            "vxlan" => 1450,
            "udp" => 1472,
            "ipip" => 1480,
            "wireguard" => 1420,
            _ => 1500,
        }
    }
}

/// The contents of `subnet.env` (subnet.WriteSubnetFile): the subnet is the podCIDR's first
/// usable address with the podCIDR's prefix length.
pub fn subnet_env(net: &NetConf, pod_cidr: (Ipv4Addr, u8), ip_masq: bool) -> String {
    let first = Ipv4Addr::from(u32::from(pod_cidr.0) + 1);
    format!(
        "FLANNEL_NETWORK={}/{}\nFLANNEL_SUBNET={first}/{}\nFLANNEL_MTU={}\nFLANNEL_IPMASQ={ip_masq}\n",
        net.network.0,
        net.network.1,
        pod_cidr.1,
        net.mtu()
    )
}

/// The VTEP MAC flannel gives `flannel.1`: here a stable locally administered address from the
/// node name.
pub fn vtep_mac(node: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, node.as_bytes());
    let b = d.as_ref();
    let first = (b[0] & 0xfe) | 0x02;
    format!(
        "{first:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[1], b[2], b[3], b[4], b[5]
    )
}

/// Go's `%#+v` of a `map[string]string` (sorted keys): `map[string]string{"a":"b", "c":"d"}`.
pub fn go_map(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(v)))
        .collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

/// The `%+v` of flanneld's `CmdLineOpts` (main.go logs it first).
pub fn cli_flags_config(p: &Parsed) -> String {
    let list = |n: &str| format!("[{}]", p.list(n).join(" "));
    format!(
        "{{etcdEndpoints:{} etcdPrefix:{} etcdKeyfile:{} etcdCertfile:{} etcdCAFile:{} etcdUsername:{} etcdPassword:{} version:{} kubeSubnetMgr:{} kubeApiUrl:{} kubeAnnotationPrefix:{} kubeConfigFile:{} iface:{} ifaceRegex:{} ipMasq:{} ifaceCanReach:{} subnetFile:{} publicIP:{} publicIPv6:{} subnetLeaseRenewMargin:{} healthzIP:{} healthzPort:{} iptablesResyncSeconds:{} iptablesForwardRules:{} netConfPath:{} setNodeNetworkUnavailable:{}}}",
        p.get("etcd-endpoints"),
        p.get("etcd-prefix"),
        p.get("etcd-keyfile"),
        p.get("etcd-certfile"),
        p.get("etcd-cafile"),
        p.get("etcd-username"),
        p.get("etcd-password"),
        p.bool("version"),
        p.bool("kube-subnet-mgr"),
        p.get("kube-api-url"),
        p.get("kube-annotation-prefix"),
        p.get("kubeconfig-file"),
        list("iface"),
        list("iface-regex"),
        p.bool("ip-masq"),
        p.get("iface-can-reach"),
        p.get("subnet-file"),
        p.get("public-ip"),
        p.get("public-ipv6"),
        p.get("subnet-lease-renew-margin"),
        p.get("healthz-ip"),
        p.get("healthz-port"),
        p.get("iptables-resync"),
        p.bool("iptables-forward-rules"),
        p.get("net-config-path"),
        p.bool("set-node-network-unavailable"),
    )
}

/// The version flanneld reports: the image tag (`v0.26.7`).
fn version(image: &ImageSpec) -> String {
    image
        .reference
        .tag
        .clone()
        .unwrap_or_else(|| image.version())
}

/// Runs flanneld.
pub fn main(argv: &[String], env: &ContainerEnv, image: &ImageSpec) -> ExitCode {
    let prog = argv.first().map(String::as_str).unwrap_or("flanneld");
    let mut p = match parse_go(FLAGS, argv.get(1..).unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => {
            // flannelFlags is ExitOnError with a usage function that exits 0.
            if e != FlagError::Help {
                eprintln!("{e}");
            }
            eprint!("Usage: {prog} [OPTION]...\n{}", go_usage(FLAGS));
            return ExitCode::SUCCESS;
        }
    };
    if p.bool("version") {
        eprintln!("{}", version(image));
        return ExitCode::SUCCESS;
    }
    // flagutil.SetFlagsFromEnv(flannelFlags, "FLANNELD")
    for d in FLAGS {
        let key = format!("FLANNELD_{}", d.name.replace('-', "_").to_uppercase());
        if let Ok(v) = std::env::var(&key)
            && !v.is_empty()
        {
            p.set_default(d.name, v);
        }
    }
    klog(
        Level::Info,
        "main.go:211",
        &format!("CLI flags config: {}", cli_flags_config(&p)),
    );
    let margin: i64 = p.get("subnet-lease-renew-margin").parse().unwrap_or(0);
    if margin >= 24 * 60 || margin <= 0 {
        klog(
            Level::Error,
            "main.go:215",
            "Invalid subnet-lease-renew-margin option, out of acceptable range",
        );
        return ExitCode::from(1);
    }
    super::http::runtime().block_on(async move {
        match run(&p, env).await {
            Ok(code) => code,
            Err(e) => {
                let at = match e {
                    FlannelError::SubnetManager(_) => "main.go:226",
                    FlannelError::RegisterNetwork(_) => "main.go:332",
                    FlannelError::Invalid(_) => "main.go:215",
                };
                klog(Level::Error, at, &e.to_string());
                ExitCode::from(1)
            }
        }
    })
}

struct Manager {
    client: Client,
    node: String,
    prefix: String,
    conf: NetConf,
    store: ReflectorStore,
}

async fn node_name(client: &Client) -> Result<String, FlannelError> {
    if let Ok(n) = std::env::var("NODE_NAME")
        && !n.is_empty()
    {
        return Ok(n);
    }
    let pod = std::env::var("POD_NAME").unwrap_or_default();
    let ns = std::env::var("POD_NAMESPACE").unwrap_or_default();
    if pod.is_empty() || ns.is_empty() {
        return Err(FlannelError::SubnetManager(
            "env variables POD_NAME and POD_NAMESPACE must be set".into(),
        ));
    }
    let obj = client
        .get(&path("", "v1", "pods", Some(&ns), Some(&pod)))
        .await
        .map_err(|e| {
            FlannelError::SubnetManager(format!("error retrieving pod spec for '{ns}/{pod}': {e}"))
        })?;
    match obj["spec"]["nodeName"].as_str() {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(FlannelError::SubnetManager(format!(
            "node name not present in pod spec '{ns}/{pod}'"
        ))),
    }
}

fn annotations(node: &Value) -> BTreeMap<String, String> {
    node["metadata"]["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn pod_cidrs(node: &Value) -> Vec<String> {
    let mut v: Vec<String> = node["spec"]["podCIDRs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if v.is_empty()
        && let Some(c) = node["spec"]["podCIDR"].as_str()
        && !c.is_empty()
    {
        v.push(c.to_string());
    }
    v
}

impl Manager {
    fn key(&self, k: &str) -> String {
        let prefix = if self.prefix.contains('/') {
            self.prefix.clone()
        } else {
            format!("{}/", self.prefix)
        };
        format!("{prefix}{k}")
    }

    /// Logs the lease a managed node gives (kube.go `nodeToLease` on informer events).
    fn lease_event(&self, node: &Value) {
        let managed = annotations(node)
            .get(&self.key("kube-subnet-manager"))
            .is_some_and(|v| v == "true");
        let cidrs = pod_cidrs(node);
        if managed
            && node["spec"]["podCIDRs"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        {
            klog(
                Level::Info,
                "kube.go:490",
                &format!(
                    "Creating the node lease for IPv4. This is the n.Spec.PodCIDRs: [{}]",
                    cidrs.join(" ")
                ),
            );
        }
    }

    /// kube.go `AcquireLease`: the node from the cache (polled every 3 s for 30 s), its podCIDR,
    /// and the flannel annotations patched in when they differ.
    async fn acquire_lease(&self, public_ip: IpAddr) -> Result<(Ipv4Addr, u8), FlannelError> {
        let mut node = None;
        for _ in 0..11 {
            if let Some(n) = self.store.get(&self.node) {
                node = Some(n);
                break;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        let Some(node) = node else {
            return Err(FlannelError::RegisterNetwork(format!(
                "failed to acquire lease: timeout contacting kube-api, failed to patch node {:?}. Error: context deadline exceeded",
                self.node
            )));
        };
        let cidr = pod_cidrs(&node)
            .into_iter()
            .find_map(|c| parse_cidr(&c))
            .ok_or_else(|| {
                FlannelError::RegisterNetwork(format!(
                    "failed to acquire lease: node {:?} pod cidr not assigned",
                    self.node
                ))
            })?;
        let backend_data =
            json!({"VNI": self.conf.vni, "VtepMAC": vtep_mac(&self.node)}).to_string();
        let want: BTreeMap<String, String> = [
            (self.key("backend-data"), backend_data),
            (self.key("backend-type"), self.conf.backend_type.clone()),
            (self.key("kube-subnet-manager"), "true".to_string()),
            (self.key("public-ip"), public_ip.to_string()),
        ]
        .into_iter()
        .collect();
        let have = annotations(&node);
        if want.iter().any(|(k, v)| have.get(k) != Some(v)) {
            let patch = json!({"metadata": {"annotations": want}});
            let url = format!("{}/status", path("", "v1", "nodes", None, Some(&self.node)));
            let mut last = None;
            for _ in 0..11 {
                match self.client.patch(&url, PatchType::Strategic, &patch).await {
                    Ok(_) => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        last = Some(e);
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                }
            }
            if let Some(e) = last {
                return Err(FlannelError::RegisterNetwork(format!(
                    "failed to acquire lease: timeout contacting kube-api, failed to patch node {:?}. Error: {e}",
                    self.node
                )));
            }
        }
        if !contains(self.conf.network, cidr) {
            return Err(FlannelError::RegisterNetwork(format!(
                "failed to acquire lease: subnet \"{}/{}\" specified in the flannel net config doesn't contain \"{}/{}\" PodCIDR of the {:?} node",
                self.conf.network.0, self.conf.network.1, cidr.0, cidr.1, self.node
            )));
        }
        Ok(cidr)
    }

    /// kube.go `CompleteLease`: NetworkUnavailable=False.
    async fn complete_lease(&self) -> Result<(), String> {
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let patch = json!({"status": {"conditions": [{
            "type": "NetworkUnavailable",
            "status": "False",
            "reason": "FlannelIsUp",
            "message": "Flannel is running on this node",
            "lastTransitionTime": now,
            "lastHeartbeatTime": now,
        }]}});
        let url = format!("{}/status", path("", "v1", "nodes", None, Some(&self.node)));
        self.client
            .patch(&url, PatchType::Strategic, &patch)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Reads the previous value of `key` from the subnet file (main.go `ReadCIDRFromSubnetFile`).
fn previous(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
}

fn write_subnet_file(
    env: &ContainerEnv,
    container_path: &str,
    content: &str,
) -> Result<(), String> {
    let host = env.host_path(container_path).map_err(|e| e.to_string())?;
    let dir = host.parent().ok_or("no parent directory")?;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let name = host.file_name().ok_or("no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}"));
    std::fs::write(&tmp, content).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &host).map_err(|e| e.to_string())
}

async fn run(p: &Parsed, env: &ContainerEnv) -> Result<ExitCode, FlannelError> {
    if !p.bool("kube-subnet-mgr") {
        return Err(FlannelError::SubnetManager(
            "labsim's flanneld implements the Kubernetes subnet manager only: run it with --kube-subnet-mgr (the etcd subnet manager is not implemented)".into(),
        ));
    }
    if !p.get("kube-api-url").is_empty() || !p.get("kubeconfig-file").is_empty() {
        return Err(FlannelError::SubnetManager(
            "labsim's flanneld uses the in-cluster configuration only: --kube-api-url and --kubeconfig-file are not implemented".into(),
        ));
    }
    klog(
        Level::Warn,
        "client_config.go:618",
        "Neither --kubeconfig nor --master was specified.  Using the inClusterConfig.  This might not work.",
    );
    let client = env
        .kube_client("flanneld/v0.26 (linux/amd64) kubernetes/$Format")
        .map_err(|e| {
            FlannelError::SubnetManager(format!("fail to create kubernetes config: {e}"))
        })?;
    let node = node_name(&client).await?;
    let conf_path = p.get("net-config-path");
    let conf_text = env
        .read(&conf_path)
        .map_err(|e| FlannelError::SubnetManager(format!("failed to read net conf: {e}")))?;
    let conf = NetConf::parse(&String::from_utf8_lossy(&conf_text))
        .map_err(|e| FlannelError::SubnetManager(format!("error parsing subnet config: {e}")))?;

    let reflector = Reflector::new(
        client.clone(),
        path("", "v1", "nodes", None, None),
        ListParams::default(),
    );
    let store = reflector.store();
    let mut changes = reflector.subscribe();
    let manager = Manager {
        client: client.clone(),
        node: node.clone(),
        prefix: p.get("kube-annotation-prefix"),
        conf: conf.clone(),
        store: store.clone(),
    };
    tokio::spawn(reflector.run());
    klog(
        Level::Info,
        "kube.go:139",
        "Waiting 10m0s for node controller to sync",
    );
    klog(Level::Info, "kube.go:469", "Starting kube subnet manager");
    store.wait_ready().await;
    for n in store.list() {
        manager.lease_event(&n);
    }
    klog(
        Level::Info,
        "kube.go:146",
        "Node controller sync successful",
    );
    klog(
        Level::Info,
        "main.go:231",
        &format!("Created subnet manager: Kubernetes Subnet Manager - {node}"),
    );
    klog(Level::Info, "main.go:234", "Installing signal handlers");
    let mut healthz = None;
    let healthz_port: u16 = p.get("healthz-port").parse().unwrap_or(0);
    if healthz_port > 0 {
        let ip = match p.get("healthz-ip").as_str() {
            "0.0.0.0" | "" | "::" => env
                .bind_ip()
                .map_err(|e| FlannelError::Invalid(e.to_string()))?,
            other => other
                .parse::<IpAddr>()
                .ok()
                .filter(IpAddr::is_loopback)
                .ok_or_else(|| {
                    FlannelError::Invalid(format!(
                        "--healthz-ip={other}: labsim listens on loopback addresses only"
                    ))
                })?,
        };
        let addr = SocketAddr::new(ip, healthz_port);
        klog(
            Level::Info,
            "main.go:488",
            &format!(
                "Start healthz server on {}:{healthz_port}",
                p.get("healthz-ip")
            ),
        );
        healthz = Some(
            HttpServer::bind(addr, |req, _| async move {
                if req.uri().path() == "/healthz" {
                    respond(200, "text/plain; charset=utf-8", "flanneld is running")
                } else {
                    super::http::go_not_found()
                }
            })
            .await
            .map_err(|e| {
                FlannelError::Invalid(format!(
                    "Start healthz server error. listen tcp {addr}: {e}"
                ))
            })?,
        );
    }
    klog(
        Level::Info,
        "main.go:466",
        &format!("Found network config - Backend type: {}", conf.backend_type),
    );
    let node_ip = env
        .node_ip()
        .map_err(|e| FlannelError::Invalid(e.to_string()))?;
    let public_ip: IpAddr = if p.get("public-ip").is_empty() {
        node_ip
    } else {
        p.get("public-ip").parse().map_err(|_| {
            FlannelError::Invalid(format!("invalid public IP address {}", p.get("public-ip")))
        })?
    };
    if let Some(n) = store.get(&node) {
        klog(
            Level::Info,
            "kube.go:669",
            &format!(
                "List of node({node}) annotations: {}",
                go_map(&annotations(&n))
            ),
        );
    }
    klog(
        Level::Info,
        "match.go:211",
        "Determining IP address of default interface",
    );
    klog(
        Level::Info,
        "match.go:264",
        &format!("Using interface with name lo and address {node_ip}"),
    );
    klog(
        Level::Info,
        "match.go:286",
        &format!("Defaulting external address to interface address ({public_ip})"),
    );
    match conf.backend_type.as_str() {
        "vxlan" => klog(
            Level::Info,
            "vxlan.go:141",
            &format!(
                "VXLAN config: VNI={} Port={} GBP=false Learning=false DirectRouting=false",
                conf.vni, conf.port
            ),
        ),
        "host-gw" | "udp" | "ipip" | "wireguard" | "ipsec" | "alloc" | "extension" => {}
        other => {
            return Err(FlannelError::RegisterNetwork(format!(
                "Error fetching backend: unknown backend type: {other}"
            )));
        }
    }
    klog(
        Level::Info,
        "main.go:330",
        "labsim: no VXLAN device, routes or iptables rules are set up: pods reach each other through their mapped loopback addresses (docs/labsim.md, \"Addresses\")",
    );
    let cidr = manager.acquire_lease(public_ip).await?;
    let subnet_file = p.get("subnet-file");
    let previous_text = env
        .host_path(&subnet_file)
        .ok()
        .and_then(|h| std::fs::read_to_string(h).ok())
        .unwrap_or_default();
    if p.bool("ip-masq") {
        for (key, at) in [
            ("FLANNEL_NETWORK", "main.go:519"),
            ("FLANNEL_SUBNET", "main.go:519"),
            ("FLANNEL_IPV6_NETWORK", "main.go:554"),
            ("FLANNEL_IPV6_SUBNET", "main.go:554"),
        ] {
            if previous(&previous_text, key).is_none() {
                klog(
                    Level::Warn,
                    at,
                    &format!("no subnet found for key: {key} in file: {subnet_file}"),
                );
            }
        }
    }
    match write_subnet_file(
        env,
        &subnet_file,
        &subnet_env(&conf, cidr, p.bool("ip-masq")),
    ) {
        Ok(()) => klog(
            Level::Info,
            "main.go:410",
            &format!("Wrote subnet file to {subnet_file}"),
        ),
        Err(e) => klog(
            Level::Warn,
            "main.go:408",
            &format!("Failed to write subnet file: {e}"),
        ),
    }
    klog(Level::Info, "main.go:414", "Running backend.");
    klog(
        Level::Info,
        "vxlan_network.go:65",
        "watching for new subnet leases",
    );
    if p.bool("set-node-network-unavailable")
        && let Err(e) = manager.complete_lease().await
    {
        klog(
            Level::Error,
            "main.go:428",
            &format!("CompleteLease execute error err: {e}"),
        );
    }
    klog(
        Level::Info,
        "main.go:435",
        "Waiting for all goroutines to exit",
    );

    let watch = async {
        loop {
            match changes.recv().await {
                Ok(Change::Applied(n)) => {
                    if n["metadata"]["name"].as_str() != Some(node.as_str()) {
                        manager.lease_event(&n);
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    };
    tokio::select! {
        _ = super::http::termination() => {}
        _ = watch => {}
    }
    klog(
        Level::Info,
        "main.go:372",
        "shutdownHandler sent cancel signal...",
    );
    if let Some(h) = healthz {
        h.shutdown(Duration::from_secs(3)).await;
    }
    klog(Level::Info, "main.go:441", "Exiting cleanly...");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_conf_and_subnet_env() {
        let conf = NetConf::parse(
            r#"{"Network": "10.244.0.0/16", "EnableNFTables": false, "Backend": {"Type": "vxlan"}}"#,
        )
        .unwrap();
        assert_eq!(conf.network, (Ipv4Addr::new(10, 244, 0, 0), 16));
        assert_eq!(conf.backend_type, "vxlan");
        assert_eq!(conf.vni, 1);
        assert_eq!(
            subnet_env(&conf, parse_cidr("10.244.1.0/24").unwrap(), true),
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
        );
        assert!(
            NetConf::parse(r#"{"Backend": {"Type": "vxlan"}}"#)
                .unwrap_err()
                .contains("Network")
        );
        assert_eq!(
            NetConf::parse(r#"{"Network": "10.1.0.0/16"}"#)
                .unwrap()
                .backend_type,
            "udp"
        );
        assert!(contains(conf.network, parse_cidr("10.244.7.0/24").unwrap()));
        assert!(!contains(
            conf.network,
            parse_cidr("10.245.7.0/24").unwrap()
        ));
        assert!(!contains(conf.network, parse_cidr("10.0.0.0/8").unwrap()));
    }

    #[test]
    fn cli_flags_config_is_flanneld_s() {
        let argv: Vec<String> = ["--ip-masq", "--kube-subnet-mgr"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = parse_go(FLAGS, &argv).unwrap();
        assert_eq!(
            cli_flags_config(&p),
            "{etcdEndpoints:http://127.0.0.1:4001,http://127.0.0.1:2379 etcdPrefix:/coreos.com/network etcdKeyfile: etcdCertfile: etcdCAFile: etcdUsername: etcdPassword: version:false kubeSubnetMgr:true kubeApiUrl: kubeAnnotationPrefix:flannel.alpha.coreos.com kubeConfigFile: iface:[] ifaceRegex:[] ipMasq:true ifaceCanReach: subnetFile:/run/flannel/subnet.env publicIP: publicIPv6: subnetLeaseRenewMargin:60 healthzIP:0.0.0.0 healthzPort:0 iptablesResyncSeconds:5 iptablesForwardRules:true netConfPath:/etc/kube-flannel/net-conf.json setNodeNetworkUnavailable:true}"
        );
    }

    #[test]
    fn macs_and_maps() {
        let m = vtep_mac("minikube");
        assert_eq!(m, vtep_mac("minikube"));
        assert_ne!(m, vtep_mac("minikube-m02"));
        let first = u8::from_str_radix(&m[..2], 16).unwrap();
        assert_eq!(first & 0x03, 0x02, "locally administered unicast");
        let mut a = BTreeMap::new();
        a.insert("b".to_string(), "2".to_string());
        a.insert("a".to_string(), "{\"x\":1}".to_string());
        assert_eq!(
            go_map(&a),
            "map[string]string{\"a\":\"{\\\"x\\\":1}\", \"b\":\"2\"}"
        );
    }
}
