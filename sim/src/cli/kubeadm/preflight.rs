//! kubeadm's preflight checks (cmd/kubeadm/app/preflight/checks.go, checks_linux.go;
//! k8s.io/system-validators for SystemVerification): each check has kubeadm's name and message;
//! `RunChecks` turns the errors of ignored checks (`--ignore-preflight-errors`, case-insensitive,
//! `all`) into warnings (`\t[WARNING Name]: msg` on stderr) and fails with the rest.
//!
//! Checks look at the real node: its files, ports (labsim binds the node IP where kubeadm binds
//! all addresses, docs/labsim.md "Addresses"), its kernel config and cgroups, the PATH, the
//! kubelet unit through the node agent. Facts are gathered into [`Facts`] first so the decisions
//! are unit-testable.

use std::collections::BTreeSet;
use std::net::{IpAddr, TcpListener};
use std::path::Path;

use crate::version::Minor;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name (`Port-8443`, `FileAvailable--etc-kubernetes-manifests-etcd.yaml`, …).
    pub name: String,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Errors.
    pub errors: Vec<String>,
}

impl CheckResult {
    fn ok(name: impl Into<String>) -> Self {
        CheckResult {
            name: name.into(),
            warnings: vec![],
            errors: vec![],
        }
    }
    fn err(name: impl Into<String>, e: impl Into<String>) -> Self {
        CheckResult {
            name: name.into(),
            warnings: vec![],
            errors: vec![e.into()],
        }
    }
    fn warn(name: impl Into<String>, w: impl Into<String>) -> Self {
        CheckResult {
            name: name.into(),
            warnings: vec![w.into()],
            errors: vec![],
        }
    }
}

/// The outcome of a preflight run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Lines for stdout (the system verification printout).
    pub stdout: Vec<String>,
    /// `\t[WARNING Name]: msg` lines for stderr.
    pub warnings: Vec<String>,
    /// `\t[ERROR Name]: msg` lines; non-empty means the phase fails.
    pub errors: Vec<String>,
}

/// The set of ignored checks, lowercased (`setHasItemOrAll`).
#[derive(Debug, Clone, Default)]
pub struct Ignored(BTreeSet<String>);

impl Ignored {
    /// From the flag and the config's `ignorePreflightErrors` (both are merged by kubeadm).
    pub fn new<'a>(items: impl IntoIterator<Item = &'a String>) -> Ignored {
        Ignored(
            items
                .into_iter()
                .flat_map(|s| s.split(','))
                .map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }
    /// Whether `name` (or `all`) is ignored.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains("all") || self.0.contains(&name.to_lowercase())
    }
    /// The items, sorted.
    pub fn items(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }
}

/// `RunChecks`: ignored errors become warnings.
pub fn run(results: Vec<CheckResult>, ignored: &Ignored, stdout: Vec<String>) -> Report {
    let mut r = Report {
        stdout,
        ..Default::default()
    };
    for c in results {
        let mut warnings = c.warnings;
        let mut errors = c.errors;
        if ignored.has(&c.name) {
            warnings.append(&mut errors);
        }
        for w in warnings {
            r.warnings.push(format!("\t[WARNING {}]: {w}", c.name));
        }
        for e in errors {
            r.errors.push(format!("\t[ERROR {}]: {e}", c.name));
        }
    }
    r
}

/// `FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml`: the path with `/` as `-`.
pub fn file_available(path: &str, exists: bool) -> CheckResult {
    let name = format!("FileAvailable-{}", path.replace('/', "-"));
    if exists {
        CheckResult::err(name, format!("{path} already exists"))
    } else {
        CheckResult::ok(name)
    }
}

/// `DirAvailable--var-lib-etcd`: fails when the directory exists and is not empty.
pub fn dir_available(path: &str, non_empty: bool) -> CheckResult {
    let name = format!("DirAvailable-{}", path.replace('/', "-"));
    if non_empty {
        CheckResult::err(name, format!("{path} is not empty"))
    } else {
        CheckResult::ok(name)
    }
}

/// `FileContent--proc-sys-net-ipv4-ip_forward`.
pub fn file_content(path: &str, content: Option<&str>, want: &str) -> CheckResult {
    let name = format!("FileContent-{}", path.replace('/', "-"));
    match content {
        None => CheckResult::err(name, format!("{path} does not exist")),
        Some(c) if !c.starts_with(want) => {
            CheckResult::err(name, format!("{path} contents are not set to {want}"))
        }
        Some(_) => CheckResult::ok(name),
    }
}

/// `Port-N`: kubeadm listens on `:N`; labsim on the node IP.
pub fn port_open(ip: IpAddr, port: u16) -> CheckResult {
    let name = format!("Port-{port}");
    match TcpListener::bind((ip, port)) {
        Ok(_) => CheckResult::ok(name),
        Err(_) => CheckResult::err(name, format!("Port {port} is in use")),
    }
}

/// `InPathCheck`: mandatory → error, optional → warning (`FileExisting-<exe>`).
pub fn in_path(exe: &str, mandatory: bool, path_var: &str) -> CheckResult {
    let name = format!("FileExisting-{exe}");
    let found = path_var
        .split(':')
        .any(|d| is_executable(&Path::new(d).join(exe)));
    match (found, mandatory) {
        (true, _) => CheckResult::ok(name),
        (false, true) => CheckResult::err(name, format!("{exe} not found in system path")),
        (false, false) => CheckResult::warn(name, format!("{exe} not found in system path")),
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The executables checked in PATH for `minor` (checks_linux.go `addExecChecks`): crictl until
/// kubeadm talked CRI itself (1.27), conntrack while kube-proxy needed it (< 1.32, PR 126953),
/// ip/iptables/tc/ethtool until PR 129131 (1.33).
pub fn exec_checks(minor: Minor) -> Vec<(&'static str, bool)> {
    let m = minor.minor();
    let mut v = vec![];
    if m < 27 {
        v.push(("crictl", true));
    }
    if m < 32 {
        v.push(("conntrack", true));
    }
    if m < 33 {
        v.push(("ip", true));
        v.push(("iptables", true));
    }
    v.push(("mount", true));
    v.push(("nsenter", true));
    if m < 33 {
        v.push(("ebtables", false));
        v.push(("ethtool", false));
    } else {
        v.push(("ebtables", false));
    }
    v.push(("socat", false));
    if m < 33 {
        v.push(("tc", false));
    }
    v.push(("touch", false));
    v
}

/// `IsPrivilegedUser`.
pub fn privileged(euid: u32) -> CheckResult {
    if euid == 0 {
        CheckResult::ok("IsPrivilegedUser")
    } else {
        CheckResult::err("IsPrivilegedUser", "user is not running as root")
    }
}

/// `NumCPU` (control plane: 2).
pub fn num_cpu(n: usize) -> CheckResult {
    if n < 2 {
        CheckResult::err(
            "NumCPU",
            format!("the number of available CPUs {n} is less than the required 2"),
        )
    } else {
        CheckResult::ok("NumCPU")
    }
}

/// `Mem` (control plane: 1700 MB).
pub fn mem(total_mb: u64) -> CheckResult {
    if total_mb < 1700 {
        CheckResult::err(
            "Mem",
            format!("the system RAM ({total_mb} MB) is less than the minimum 1700 MB"),
        )
    } else {
        CheckResult::ok("Mem")
    }
}

/// `Service-Kubelet` (`ServiceCheck{CheckIfActive: false}`): a warning when not enabled.
pub fn service_kubelet(enabled: Option<bool>) -> CheckResult {
    match enabled {
        Some(true) => CheckResult::ok("Service-Kubelet"),
        Some(false) => CheckResult::warn(
            "Service-Kubelet",
            "kubelet service is not enabled, please run 'systemctl enable kubelet.service'",
        ),
        None => CheckResult::warn(
            "Service-Kubelet",
            "No supported init system detected, won't make sure kubelet is running properly.",
        ),
    }
}

/// `Hostname`: the node name must resolve.
pub fn hostname(name: &str, resolves: bool) -> CheckResult {
    if resolves {
        CheckResult::ok("Hostname")
    } else {
        let mut c = CheckResult::warn(
            "Hostname",
            format!("hostname \"{name}\" could not be reached"),
        );
        c.warnings.push(format!(
            "hostname \"{name}\": lookup {name} on 127.0.0.53:53: no such host"
        ));
        c
    }
}

/// `CRI` (`ContainerRuntimeCheck`): the runtime answers on its socket.
pub fn cri(socket: &str, error: Option<&str>) -> CheckResult {
    match error {
        None => CheckResult::ok("CRI"),
        Some(e) => CheckResult::err(
            "CRI",
            format!(
                "container runtime is not running: validate service connection: validate CRI v1 runtime API for endpoint {socket:?}: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: {e}\""
            ),
        ),
    }
}

/// Whether the CRI socket accepts a connection (None) or the dial error.
pub fn dial_cri(socket: &str) -> Option<String> {
    let path = socket.trim_start_matches("unix://");
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => None,
        Err(e) => Some(format!("dial unix {path}: connect: {}", go_errno(&e))),
    }
}

fn go_errno(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string().to_lowercase(),
    }
}

/// `KubeletVersion`: `kubelet --version` must work and not be newer than the control plane.
pub fn kubelet_version(output: Result<String, String>, control_plane: Minor) -> CheckResult {
    match output {
        Err(e) => CheckResult::err(
            "KubeletVersion",
            format!("couldn't get kubelet version: cannot execute 'kubelet --version': {e}"),
        ),
        Ok(out) => {
            let v = out.trim().trim_start_matches("Kubernetes ").to_string();
            match v.parse::<Minor>() {
                Err(_) => CheckResult::err(
                    "KubeletVersion",
                    format!(
                        "couldn't get kubelet version: Unable to parse output {:?}",
                        out.trim()
                    ),
                ),
                Ok(k) if k > control_plane => CheckResult::err(
                    "KubeletVersion",
                    format!(
                        "the kubelet version is higher than the control plane version. This is not a supported version skew and may lead to a malfunctional cluster. Kubelet version: {v:?} Control plane version: \"{}\"",
                        control_plane.git_version()
                    ),
                ),
                Ok(_) => CheckResult::ok("KubeletVersion"),
            }
        }
    }
}

/// `Swap`: kubeadm warns about swap (an error before the NodeSwap support of 1.28).
pub fn swap(active: bool, minor: Minor) -> CheckResult {
    match (active, minor.minor() >= 28) {
        (false, _) => CheckResult::ok("Swap"),
        (true, true) => CheckResult::warn(
            "Swap",
            "swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, or disable swap on the node",
        ),
        (true, false) => CheckResult::err(
            "Swap",
            "running with swap on is not supported. Please disable swap",
        ),
    }
}

/// What SystemVerification looks at.
#[derive(Debug, Clone)]
pub struct SystemFacts {
    /// `uname -r`.
    pub kernel_release: String,
    /// The kernel config text, or the error of finding it.
    pub kernel_config: Result<String, String>,
    /// cgroup v2 (unified) or v1.
    pub cgroup_v2: bool,
    /// Enabled cgroup controllers.
    pub cgroup_controllers: Vec<String>,
}

/// The controllers `/sys/fs/cgroup/cgroup.controllers` lists in a kicbase container on a cgroup v2
/// host such as the GitHub Ubuntu runners: all of the kernel's, which Docker delegates to a
/// container's private cgroup namespace.
pub const V2_CONTROLLERS: &[&str] = &[
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

impl SystemFacts {
    /// The facts of a labsim node: the host's kernel, and the node's own cgroup hierarchy
    /// ([`crate::node::CgroupVersion`]): v2 with [`V2_CONTROLLERS`], or v1 with the host's
    /// `/proc/cgroups`.
    pub fn for_node(cgroup: crate::node::CgroupVersion) -> SystemFacts {
        let mut f = SystemFacts::gather();
        match cgroup {
            crate::node::CgroupVersion::V2 => {
                f.cgroup_v2 = true;
                f.cgroup_controllers = V2_CONTROLLERS.iter().map(|c| c.to_string()).collect();
            }
            crate::node::CgroupVersion::V1 => {
                f.cgroup_v2 = false;
                f.cgroup_controllers = proc_cgroups();
            }
        }
        f
    }

    /// Reads this machine's facts as the system validators do: `/proc/config.gz` (gzip, read with
    /// the system's `zcat`), `/boot/config-<release>`, `/lib/modules/<release>/build/.config`,
    /// …; cgroups from `/sys/fs/cgroup/cgroup.controllers` (v2) or `/proc/cgroups` (v1).
    pub fn gather() -> SystemFacts {
        let kernel_release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let kernel_config = read_kernel_config(&kernel_release);
        let unified = Path::new("/sys/fs/cgroup/cgroup.controllers");
        let (cgroup_v2, cgroup_controllers) = if unified.exists() {
            (
                true,
                std::fs::read_to_string(unified)
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            )
        } else {
            (false, proc_cgroups())
        };
        SystemFacts {
            kernel_release,
            kernel_config,
            cgroup_v2,
            cgroup_controllers,
        }
    }
}

/// The enabled controllers of `/proc/cgroups` (cgroup v1).
fn proc_cgroups() -> Vec<String> {
    std::fs::read_to_string("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] == "1").then(|| f[0].to_string())
        })
        .collect()
}

fn read_kernel_config(release: &str) -> Result<String, String> {
    // system-validators kernel_validator.go getKernelConfigReader: these paths, then
    // `modprobe configs` and /proc/config.gz again.
    let plain = [
        format!("/boot/config-{release}"),
        format!("/lib/modules/{release}/build/.config"),
        format!("/lib/modules/{release}/config"),
        format!("/usr/src/linux-{release}/.config"),
        "/usr/src/linux/.config".to_string(),
        format!("/usr/lib/modules/{release}/config"),
        format!("/usr/lib/ostree-boot/config-{release}"),
        format!("/usr/lib/kernel/config-{release}"),
        format!("/usr/src/linux-headers-{release}/.config"),
    ];
    let zcat = || {
        std::process::Command::new("zcat")
            .arg("/proc/config.gz")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    if let Some(t) = Path::new("/proc/config.gz").exists().then(zcat).flatten() {
        return Ok(t);
    }
    for p in plain {
        if let Ok(t) = std::fs::read_to_string(&p) {
            return Ok(t);
        }
    }
    let out = std::process::Command::new("modprobe")
        .arg("configs")
        .output();
    let (output, err) = match out {
        Ok(o) if o.status.success() => {
            if let Some(t) = zcat() {
                return Ok(t);
            }
            (String::new(), "exit status 0".to_string())
        }
        Ok(o) => (
            String::from_utf8_lossy(&o.stderr).into_owned(),
            format!("exit status {}", o.status.code().unwrap_or(1)),
        ),
        Err(e) => (
            String::new(),
            format!(
                "exec: \"modprobe\": {}",
                if e.kind() == std::io::ErrorKind::NotFound {
                    "executable file not found in $PATH".to_string()
                } else {
                    e.to_string()
                }
            ),
        ),
    };
    Err(format!(
        "unable to load kernel module: \"configs\", output: {output:?}, err: {err}"
    ))
}

/// k8s.io/system-validators DefaultSysSpec kernel configs: required, optional.
const REQUIRED_CONFIGS: &[&str] = &[
    "NAMESPACES",
    "NET_NS",
    "PID_NS",
    "IPC_NS",
    "UTS_NS",
    "CGROUPS",
    "CGROUP_CPUACCT",
    "CGROUP_DEVICE",
    "CGROUP_FREEZER",
    "CGROUP_PIDS",
    "CGROUP_SCHED",
    "CPUSETS",
    "MEMCG",
    "INET",
    "EXT4_FS",
    "PROC_FS",
    "NETFILTER_XT_TARGET_REDIRECT",
    "NETFILTER_XT_MATCH_COMMENT",
    "FAIR_GROUP_SCHED",
];
const OPTIONAL_CONFIGS: &[&str] = &[
    "OVERLAY_FS",
    "AUFS_FS",
    "BLK_DEV_DM",
    "CFS_BANDWIDTH",
    "CGROUP_HUGETLB",
    "SECCOMP_FILTER",
];
const REQUIRED_CGROUPS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
];
const OPTIONAL_CGROUPS: &[&str] = &["hugetlb", "blkio"];

fn colorize(s: &str, color: u8) -> String {
    format!("\x1b[0;{color}m{s}\x1b[0m")
}

fn report_line(key: &str, value: &str, color: u8) -> String {
    // StreamReporter: key in white (37), value green (32) / red (31) / yellow (33).
    format!("{}: {}", colorize(key, 37), colorize(value, color))
}

/// SystemVerification: the kernel, OS and cgroups validators. Returns the check and the report
/// kubeadm prints to stdout when the check failed.
pub fn system_verification(f: &SystemFacts, minor: Minor) -> (CheckResult, Vec<String>) {
    let mut lines = vec![];
    let mut errors = vec![];
    let mut warnings = vec![];
    lines.push(report_line("KERNEL_VERSION", &f.kernel_release, 32));
    match &f.kernel_config {
        Err(e) => errors.push(format!("failed to parse kernel config: {e}")),
        Ok(text) => {
            let value = |name: &str| -> Option<String> {
                let key = format!("CONFIG_{name}=");
                text.lines()
                    .find_map(|l| l.strip_prefix(&key).map(str::to_string))
            };
            for name in REQUIRED_CONFIGS {
                // EXT4_FS may be provided as EXT4_USE_FOR_EXT2 / EXT2_FS alias; REDIRECT as
                // IP_NF_TARGET_REDIRECT (spec aliases).
                let v = value(name).or_else(|| match *name {
                    "EXT4_FS" => value("EXT4_USE_FOR_EXT2"),
                    "NETFILTER_XT_TARGET_REDIRECT" => value("IP_NF_TARGET_REDIRECT"),
                    _ => None,
                });
                match v.as_deref() {
                    Some("y") => lines.push(report_line(&format!("CONFIG_{name}"), "enabled", 32)),
                    Some("m") => lines.push(report_line(
                        &format!("CONFIG_{name}"),
                        "enabled (as module)",
                        32,
                    )),
                    _ => {
                        lines.push(report_line(&format!("CONFIG_{name}"), "missing", 31));
                        errors.push(format!("unexpected kernel config: CONFIG_{name}"));
                    }
                }
            }
            for name in OPTIONAL_CONFIGS {
                match value(name).as_deref() {
                    Some("y") => lines.push(report_line(&format!("CONFIG_{name}"), "enabled", 32)),
                    Some("m") => lines.push(report_line(
                        &format!("CONFIG_{name}"),
                        "enabled (as module)",
                        32,
                    )),
                    _ => lines.push(report_line(&format!("CONFIG_{name}"), "not set", 33)),
                }
            }
        }
    }
    lines.push(report_line("OS", "Linux", 32));
    for c in REQUIRED_CGROUPS {
        let key = format!("CGROUPS_{}", c.to_uppercase());
        if f.cgroup_controllers.iter().any(|x| x == c)
            || (f.cgroup_v2 && (*c == "cpuacct" || *c == "devices" || *c == "freezer"))
        {
            lines.push(report_line(&key, "enabled", 32));
        } else {
            lines.push(report_line(&key, "missing", 31));
            errors.push(format!("missing required cgroups: {c}"));
        }
    }
    for c in OPTIONAL_CGROUPS {
        let key = format!("CGROUPS_{}", c.to_uppercase());
        if f.cgroup_controllers.iter().any(|x| x == c) {
            lines.push(report_line(&key, "enabled", 32));
        } else {
            lines.push(report_line(&key, "missing", 33));
        }
    }
    if !f.cgroup_v2 {
        // cgroup v1: maintenance mode warning from 1.31 (KEP-4569); an error from 1.35, when the
        // kubelet's failCgroupV1 defaults to true (KEP-5573).
        if minor.minor() >= 35 {
            errors.push("cgroups v1 support is deprecated and will be removed in a future release. Please migrate to cgroups v2. To explicitly enable cgroups v1 support for kubelet v1.35 or newer, you must set the kubelet configuration option 'FailCgroupV1' to 'false'. You must also explicitly skip this validation. For more information, see https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1".into());
        } else if minor.minor() >= 31 {
            warnings.push(
                "cgroups v1 support is in maintenance mode, please migrate to cgroups v2".into(),
            );
        }
    }
    let failed = !errors.is_empty();
    let result = CheckResult {
        name: "SystemVerification".into(),
        warnings,
        errors,
    };
    let mut out = vec![];
    if failed {
        out.push("[preflight] The system verification failed. Printing the output from the verification:".to_string());
        out.extend(lines);
    }
    (result, out)
}

/// HTTPProxy: a warning when the connection to the API server would use a proxy.
pub fn http_proxy(host: &str, https_proxy: Option<&str>, no_proxy: Option<&str>) -> CheckResult {
    let name = "HTTPProxy";
    let Some(proxy) = https_proxy.filter(|p| !p.is_empty()) else {
        return CheckResult::ok(name);
    };
    let exempt = no_proxy.unwrap_or_default().split(',').any(|n| {
        let n = n.trim();
        !n.is_empty() && (n == "*" || n == host || host.ends_with(n.trim_start_matches('*')))
    });
    if exempt {
        CheckResult::ok(name)
    } else {
        CheckResult::warn(
            name,
            format!(
                "Connection to \"https://{host}\" uses proxy \"{proxy}\". If that is not intended, adjust your proxy settings"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(n: u32) -> Minor {
        Minor::new(n).unwrap()
    }

    #[test]
    fn names_and_messages() {
        let c = file_available("/etc/kubernetes/manifests/kube-apiserver.yaml", true);
        assert_eq!(
            c.name,
            "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml"
        );
        assert_eq!(
            c.errors,
            ["/etc/kubernetes/manifests/kube-apiserver.yaml already exists"]
        );
        let c = dir_available("/var/lib/minikube/etcd", true);
        assert_eq!(c.name, "DirAvailable--var-lib-minikube-etcd");
        assert_eq!(c.errors, ["/var/lib/minikube/etcd is not empty"]);
        let c = file_content("/proc/sys/net/ipv4/ip_forward", Some("0\n"), "1");
        assert_eq!(c.name, "FileContent--proc-sys-net-ipv4-ip_forward");
        assert_eq!(
            c.errors,
            ["/proc/sys/net/ipv4/ip_forward contents are not set to 1"]
        );
        assert!(
            file_content("/proc/sys/net/ipv4/ip_forward", Some("1\n"), "1")
                .errors
                .is_empty()
        );
        assert_eq!(privileged(1000).errors, ["user is not running as root"]);
        assert_eq!(
            num_cpu(1).errors,
            ["the number of available CPUs 1 is less than the required 2"]
        );
        assert_eq!(
            mem(955).errors,
            ["the system RAM (955 MB) is less than the minimum 1700 MB"]
        );
        assert_eq!(
            service_kubelet(Some(false)).warnings,
            ["kubelet service is not enabled, please run 'systemctl enable kubelet.service'"]
        );
    }

    #[test]
    fn ignored_errors_become_warnings() {
        let ignored = Ignored::new(&["systemverification,Port-8443".to_string()]);
        let r = run(
            vec![
                CheckResult::err("SystemVerification", "boom"),
                CheckResult::err("Port-8443", "Port 8443 is in use"),
                CheckResult::err("Mem", "low"),
                CheckResult::warn("Service-Kubelet", "not enabled"),
            ],
            &ignored,
            vec![],
        );
        assert_eq!(
            r.warnings,
            [
                "\t[WARNING SystemVerification]: boom",
                "\t[WARNING Port-8443]: Port 8443 is in use",
                "\t[WARNING Service-Kubelet]: not enabled"
            ]
        );
        assert_eq!(r.errors, ["\t[ERROR Mem]: low"]);
        let all = Ignored::new(&["all".to_string()]);
        assert!(all.has("anything"));
    }

    #[test]
    fn port_in_use_is_detected() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = port_open("127.0.0.1".parse().unwrap(), port);
        assert_eq!(c.errors, [format!("Port {port} is in use")]);
        drop(l);
        assert!(
            port_open("127.0.0.1".parse().unwrap(), port)
                .errors
                .is_empty()
        );
    }

    #[test]
    fn in_path_mandatory_and_optional() {
        assert!(in_path("sh", true, "/bin:/usr/bin").errors.is_empty());
        assert_eq!(
            in_path("no-such-tool-x", true, "/bin").errors,
            ["no-such-tool-x not found in system path"]
        );
        assert_eq!(
            in_path("no-such-tool-x", false, "/bin").warnings,
            ["no-such-tool-x not found in system path"]
        );
        let names: Vec<_> = exec_checks(m(33)).into_iter().map(|(n, _)| n).collect();
        assert!(!names.contains(&"conntrack") && !names.contains(&"iptables"));
        let names: Vec<_> = exec_checks(m(26)).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"conntrack") && names.contains(&"crictl"));
    }

    #[test]
    fn system_verification_decisions() {
        let good = SystemFacts {
            kernel_release: "6.1.0".into(),
            kernel_config: Ok(REQUIRED_CONFIGS
                .iter()
                .map(|c| format!("CONFIG_{c}=y\n"))
                .collect()),
            cgroup_v2: true,
            cgroup_controllers: vec![
                "cpu".into(),
                "cpuset".into(),
                "memory".into(),
                "pids".into(),
            ],
        };
        let (c, out) = system_verification(&good, m(33));
        assert!(c.errors.is_empty() && c.warnings.is_empty(), "{c:?}");
        assert!(out.is_empty());
        let v1 = SystemFacts {
            cgroup_v2: false,
            cgroup_controllers: REQUIRED_CGROUPS.iter().map(|s| s.to_string()).collect(),
            ..good.clone()
        };
        let (c, _) = system_verification(&v1, m(33));
        assert_eq!(
            c.warnings,
            ["cgroups v1 support is in maintenance mode, please migrate to cgroups v2"]
        );
        let (c, out) = system_verification(&v1, m(35));
        assert_eq!(c.errors.len(), 1);
        assert!(out[0].starts_with("[preflight] The system verification failed."));
        let none = SystemFacts {
            kernel_config: Err("unable to load kernel module: \"configs\", output: \"modprobe: FATAL: Module configs not found in directory /lib/modules/6.1.0\\n\", err: exit status 1".into()),
            ..good
        };
        let (c, out) = system_verification(&none, m(26));
        assert!(
            c.errors[0].starts_with("failed to parse kernel config: unable to load kernel module")
        );
        assert!(out.iter().any(|l| l.contains("KERNEL_VERSION")));
    }

    #[test]
    fn kubelet_version_skew() {
        assert!(
            kubelet_version(Ok("Kubernetes v1.33.7\n".into()), m(33))
                .errors
                .is_empty()
        );
        assert!(
            !kubelet_version(Ok("Kubernetes v1.34.1".into()), m(33))
                .errors
                .is_empty()
        );
        assert!(
            kubelet_version(Err("exit status 2".into()), m(33)).errors[0]
                .starts_with("couldn't get kubelet version")
        );
    }
}
