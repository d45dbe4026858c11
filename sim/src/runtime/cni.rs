//! Pod networking as containerd's CRI plugin does it through CNI: network readiness from the
//! configuration directory, and sandbox set-up/tear-down by the configured plugin chain.
//!
//! labsim does not execute CNI plugin binaries; it implements the plugins the course uses
//! (`flannel` delegating to `bridge` with `host-local` IPAM, `portmap`, `loopback`) itself, with
//! their observable behaviour and errors:
//! - readiness (go-cni `Status`): a loadable configuration in `/etc/cni/net.d` (the first file by
//!   name ending in `.conf`, `.conflist` or `.json`), else `cni plugin not initialized`
//!   (go-cni `ErrCNINotInitialized`);
//! - every plugin in the chain must exist in the binary directory, else libcni's
//!   `failed to find plugin "flannel" in path [/opt/cni/bin]`;
//! - flannel (flannel-io/cni-plugin `flannel.go`) reads `/run/flannel/subnet.env` and fails with
//!   `loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory`;
//! - host-local IPAM (containernetworking/plugins `plugins/ipam/host-local`) keeps one file per
//!   allocated IP in `/var/lib/cni/networks/<network>/` holding `<container id>\r\n<ifname>`, and
//!   `last_reserved_ip.0`; it allocates round-robin after the last reserved IP, skipping the
//!   gateway (the subnet's first address), so a node's first pod gets `.2`.
//!
//! Errors of a plugin are wrapped as libcni does: `plugin type="flannel" failed (add): …`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Where CNI configuration, binaries and state live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniPaths {
    /// Configuration directory (`/etc/cni/net.d`).
    pub conf_dir: PathBuf,
    /// Plugin binaries (`/opt/cni/bin`).
    pub bin_dir: PathBuf,
    /// host-local's data directory (`/var/lib/cni/networks`).
    pub ipam_dir: PathBuf,
    /// flannel's subnet file (`/run/flannel/subnet.env`).
    pub flannel_subnet_env: PathBuf,
}

impl Default for CniPaths {
    fn default() -> Self {
        CniPaths {
            conf_dir: "/etc/cni/net.d".into(),
            bin_dir: "/opt/cni/bin".into(),
            ipam_dir: "/var/lib/cni/networks".into(),
            flannel_subnet_env: "/run/flannel/subnet.env".into(),
        }
    }
}

/// go-cni's error when no network configuration is loaded.
pub const NOT_INITIALIZED: &str = "cni plugin not initialized";

/// The reference plugins a kicbase node ships in `/opt/cni/bin` (minikube
/// `deploy/kicbase/Dockerfile` installs containernetworking/plugins); flannel's own plugin is added
/// by the flannel DaemonSet's `install-cni-plugin` init container.
pub const KICBASE_PLUGINS: &[&str] = &[
    "bandwidth",
    "bridge",
    "dhcp",
    "dummy",
    "firewall",
    "host-device",
    "host-local",
    "ipvlan",
    "loopback",
    "macvlan",
    "portmap",
    "ptp",
    "sbr",
    "static",
    "tap",
    "tuning",
    "vlan",
    "vrf",
];

/// Writes stand-ins for the reference CNI plugins into `bin_dir` (a node's `/opt/cni/bin`), as
/// present on a kicbase node. They are scripts that say labsim's runtime implements them; the
/// runtime only checks that they exist, as libcni's `FindInPath` does.
///
/// # Errors
/// I/O errors creating the directory or files.
pub fn install_reference_plugins(bin_dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin_dir)?;
    for p in KICBASE_PLUGINS {
        let f = bin_dir.join(p);
        if f.exists() {
            continue;
        }
        std::fs::write(
            &f,
            format!(
                "#!/bin/sh\necho 'labsim: the CNI plugin \"{p}\" is implemented inside the node'\\''s container runtime' >&2\nexit 1\n"
            ),
        )?;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// A loaded network configuration list.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// The file it came from.
    pub file: PathBuf,
    /// `name` (e.g. `cbr0`): host-local's state directory name.
    pub name: String,
    /// The plugin configurations, in order.
    pub plugins: Vec<Value>,
}

/// The configuration go-cni would load: the first loadable file by name.
pub fn load_config(paths: &CniPaths) -> Option<NetworkConfig> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&paths.conf_dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|x| x.to_str()),
                    Some("conf" | "conflist" | "json")
                )
        })
        .collect();
    files.sort();
    files.into_iter().find_map(|f| {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&f).ok()?).ok()?;
        let name = v["name"].as_str()?.to_string();
        let plugins = match v.get("plugins").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => list.clone(),
            Some(_) => return None,
            None if v["type"].is_string() => vec![v.clone()],
            None => return None,
        };
        Some(NetworkConfig {
            file: f,
            name,
            plugins,
        })
    })
}

/// Network readiness (go-cni `Status`).
///
/// # Errors
/// [`NOT_INITIALIZED`] when no configuration is loadable.
pub fn status(paths: &CniPaths) -> Result<(), String> {
    load_config(paths)
        .map(|_| ())
        .ok_or_else(|| NOT_INITIALIZED.to_string())
}

fn find_plugin(paths: &CniPaths, typ: &str) -> Result<(), String> {
    let f = paths.bin_dir.join(typ);
    if f.is_file() {
        Ok(())
    } else {
        Err(format!(
            "failed to find plugin \"{typ}\" in path [{}]",
            paths.bin_dir.display()
        ))
    }
}

fn plugin_failed(typ: &str, op: &str, err: String) -> String {
    format!("plugin type=\"{typ}\" failed ({op}): {err}")
}

/// flannel's `subnet.env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlannelEnv {
    /// `FLANNEL_NETWORK`.
    pub network: (Ipv4Addr, u8),
    /// `FLANNEL_SUBNET` (the node's subnet; the address is the gateway).
    pub subnet: (Ipv4Addr, u8),
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = s.trim().split_once('/')?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    Some((ip.parse().ok()?, len))
}

fn network_of((ip, len): (Ipv4Addr, u8)) -> (Ipv4Addr, u8) {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    (Ipv4Addr::from(u32::from(ip) & mask), len)
}

/// Reads flannel's subnet file (flannel-io/cni-plugin `loadFlannelSubnetEnv`).
///
/// # Errors
/// Go's `open <file>: no such file or directory`, or `<file> is missing FLANNEL_…`.
pub fn load_flannel_env(file: &Path) -> Result<FlannelEnv, String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        format!("open {}: {why}", file.display())
    })?;
    let mut network = None;
    let mut subnet = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "FLANNEL_NETWORK" => network = parse_cidr(v),
                "FLANNEL_SUBNET" => subnet = parse_cidr(v),
                _ => {}
            }
        }
    }
    let mut missing = vec![];
    if network.is_none() {
        missing.push("FLANNEL_NETWORK");
    }
    if subnet.is_none() {
        missing.push("FLANNEL_SUBNET");
    }
    match (network, subnet) {
        (Some(network), Some(subnet)) => Ok(FlannelEnv { network, subnet }),
        _ => Err(format!(
            "{} is missing {}",
            file.display(),
            missing.join(", ")
        )),
    }
}

/// host-local's allocator over one subnet, with its disk store.
#[derive(Debug, Clone)]
pub struct HostLocal {
    dir: PathBuf,
    subnet: (Ipv4Addr, u8),
}

impl HostLocal {
    /// The store of network `name` under `ipam_dir`, allocating from `subnet`.
    pub fn new(ipam_dir: &Path, name: &str, subnet: (Ipv4Addr, u8)) -> HostLocal {
        HostLocal {
            dir: ipam_dir.join(name),
            subnet: network_of(subnet),
        }
    }

    fn range(&self) -> (u32, u32) {
        let base = u32::from(self.subnet.0);
        let size = 1u64 << (32 - u32::from(self.subnet.1));
        // rangeStart = network + 1, rangeEnd = broadcast - 1 (host-local range.go Canonicalize).
        (base + 1, (u64::from(base) + size - 2) as u32)
    }

    /// Allocates an address for container `id` on `ifname`.
    ///
    /// # Errors
    /// host-local's `no IP addresses available in range set: …` or an I/O error.
    pub fn allocate(&self, id: &str, ifname: &str) -> Result<Ipv4Addr, String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let (start, end) = self.range();
        let gateway = start;
        let last = std::fs::read_to_string(self.dir.join("last_reserved_ip.0"))
            .ok()
            .and_then(|s| s.trim().parse::<Ipv4Addr>().ok())
            .map(u32::from)
            .filter(|l| (start..=end).contains(l));
        let first = match last {
            Some(l) if l < end => l + 1,
            _ => start,
        };
        let count = end - start + 1;
        for i in 0..count {
            let cand = start + (first - start + i) % count;
            if cand == gateway {
                continue;
            }
            let ip = Ipv4Addr::from(cand);
            let f = self.dir.join(ip.to_string());
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&f);
            let Ok(mut file) = created else {
                continue;
            };
            use std::io::Write;
            write!(file, "{}\r\n{ifname}", id.trim()).map_err(|e| e.to_string())?;
            std::fs::write(self.dir.join("last_reserved_ip.0"), ip.to_string())
                .map_err(|e| e.to_string())?;
            return Ok(ip);
        }
        Err(format!(
            "no IP addresses available in range set: {}-{}",
            Ipv4Addr::from(start),
            Ipv4Addr::from(end)
        ))
    }

    /// Releases every address held by container `id`.
    pub fn release(&self, id: &str) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.parse::<Ipv4Addr>().is_err() {
                continue;
            }
            let held = std::fs::read_to_string(&p).unwrap_or_default();
            if held.split("\r\n").next().map(str::trim) == Some(id) {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}

/// Sets up the pod network of sandbox `id` with the loaded configuration (CNI ADD through the
/// chain) and returns the pod's IP.
///
/// # Errors
/// The text containerd reports after `failed to setup network for sandbox "<id>": `.
pub fn setup(paths: &CniPaths, id: &str) -> Result<Ipv4Addr, String> {
    let conf = load_config(paths).ok_or_else(|| NOT_INITIALIZED.to_string())?;
    let mut ip = None;
    for plugin in &conf.plugins {
        let typ = plugin["type"].as_str().unwrap_or_default().to_string();
        find_plugin(paths, &typ)?;
        match typ.as_str() {
            "flannel" => {
                let subnet_file = plugin["subnetFile"]
                    .as_str()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| paths.flannel_subnet_env.clone());
                let env = load_flannel_env(&subnet_file).map_err(|e| {
                    plugin_failed(
                        "flannel",
                        "add",
                        format!("loadFlannelSubnetEnv failed: {e}"),
                    )
                })?;
                // flannel delegates to bridge (with host-local IPAM over the node's subnet).
                let delegate = plugin["delegate"]["type"].as_str().unwrap_or("bridge");
                find_plugin(paths, delegate)
                    .and_then(|_| find_plugin(paths, "host-local"))
                    .map_err(|e| {
                        plugin_failed("flannel", "add", format!("failed to delegate add: {e}"))
                    })?;
                let ipam = HostLocal::new(&paths.ipam_dir, &conf.name, env.subnet);
                let got = ipam.allocate(id, "eth0").map_err(|e| {
                    plugin_failed("flannel", "add", format!("failed to delegate add: {e}"))
                })?;
                ip = Some(got);
            }
            "bridge" | "ptp" => {
                let ipam_type = plugin["ipam"]["type"].as_str().unwrap_or_default();
                if ipam_type != "host-local" {
                    return Err(plugin_failed(
                        &typ,
                        "add",
                        format!("labsim implements only host-local IPAM, not {ipam_type:?}"),
                    ));
                }
                find_plugin(paths, "host-local")?;
                let subnet = plugin["ipam"]["subnet"]
                    .as_str()
                    .or_else(|| plugin["ipam"]["ranges"][0][0]["subnet"].as_str())
                    .and_then(parse_cidr)
                    .ok_or_else(|| {
                        plugin_failed(&typ, "add", "IPAM config missing 'subnet' key".into())
                    })?;
                let ipam = HostLocal::new(&paths.ipam_dir, &conf.name, subnet);
                ip = Some(
                    ipam.allocate(id, "eth0")
                        .map_err(|e| plugin_failed(&typ, "add", e))?,
                );
            }
            // Port mappings are served by the runtime's forwarder; loopback and the
            // meta-plugins change nothing labsim models.
            "portmap" | "loopback" | "bandwidth" | "firewall" | "tuning" => {}
            other => {
                return Err(plugin_failed(
                    other,
                    "add",
                    "labsim's runtime does not implement this CNI plugin".into(),
                ));
            }
        }
    }
    ip.ok_or_else(|| {
        format!(
            "network {} in {} assigns no IP address (labsim needs flannel or bridge with host-local)",
            conf.name,
            conf.file.display()
        )
    })
}

/// Tears the pod network of sandbox `id` down (CNI DEL): releases its addresses in every network.
pub fn teardown(paths: &CniPaths, id: &str) {
    let Ok(rd) = std::fs::read_dir(&paths.ipam_dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.path().is_dir() {
            let name = e.file_name().to_string_lossy().into_owned();
            HostLocal::new(&paths.ipam_dir, &name, (Ipv4Addr::UNSPECIFIED, 0)).release(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn tmp(tag: &str) -> (Tmp, CniPaths) {
        let p = std::env::temp_dir().join(format!(
            "labsim-cni-{tag}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&p).unwrap();
        let paths = CniPaths {
            conf_dir: p.join("etc/cni/net.d"),
            bin_dir: p.join("opt/cni/bin"),
            ipam_dir: p.join("var/lib/cni/networks"),
            flannel_subnet_env: p.join("run/flannel/subnet.env"),
        };
        (Tmp(p), paths)
    }

    const FLANNEL: &str = r#"{
  "name": "cbr0",
  "cniVersion": "0.3.1",
  "plugins": [
    {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}"#;

    #[test]
    fn readiness_follows_the_configuration_directory() {
        let (_t, p) = tmp("ready");
        assert_eq!(status(&p), Err(NOT_INITIALIZED.into()));
        std::fs::create_dir_all(&p.conf_dir).unwrap();
        std::fs::write(p.conf_dir.join("README"), "x").unwrap();
        std::fs::write(p.conf_dir.join("05-bad.conflist"), "{not json").unwrap();
        assert_eq!(status(&p), Err(NOT_INITIALIZED.into()));
        std::fs::write(p.conf_dir.join("10-flannel.conflist"), FLANNEL).unwrap();
        assert_eq!(status(&p), Ok(()));
        assert_eq!(load_config(&p).unwrap().name, "cbr0");
    }

    #[test]
    fn flannel_errors_as_containerd_reports_them() {
        let (_t, p) = tmp("flannel");
        std::fs::create_dir_all(&p.conf_dir).unwrap();
        std::fs::write(p.conf_dir.join("10-flannel.conflist"), FLANNEL).unwrap();
        assert_eq!(
            setup(&p, "abc").unwrap_err(),
            format!(
                "failed to find plugin \"flannel\" in path [{}]",
                p.bin_dir.display()
            )
        );
        install_reference_plugins(&p.bin_dir).unwrap();
        std::fs::write(p.bin_dir.join("flannel"), "").unwrap();
        assert_eq!(
            setup(&p, "abc").unwrap_err(),
            format!(
                "plugin type=\"flannel\" failed (add): loadFlannelSubnetEnv failed: open {}: no such file or directory",
                p.flannel_subnet_env.display()
            )
        );
        std::fs::create_dir_all(p.flannel_subnet_env.parent().unwrap()).unwrap();
        std::fs::write(
            &p.flannel_subnet_env,
            "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
        )
        .unwrap();
        assert_eq!(setup(&p, "abc").unwrap(), Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(setup(&p, "def").unwrap(), Ipv4Addr::new(10, 244, 1, 3));
        let held = std::fs::read_to_string(p.ipam_dir.join("cbr0/10.244.1.2")).unwrap();
        assert_eq!(held, "abc\r\neth0");
        teardown(&p, "abc");
        assert!(!p.ipam_dir.join("cbr0/10.244.1.2").exists());
        // Round-robin after the last reserved address, not the lowest free one.
        assert_eq!(setup(&p, "ghi").unwrap(), Ipv4Addr::new(10, 244, 1, 4));
        std::fs::remove_file(p.bin_dir.join("portmap")).unwrap();
        assert_eq!(
            setup(&p, "jkl").unwrap_err(),
            format!(
                "failed to find plugin \"portmap\" in path [{}]",
                p.bin_dir.display()
            )
        );
    }

    #[test]
    fn host_local_wraps_and_runs_out() {
        let (_t, p) = tmp("ipam");
        let h = HostLocal::new(&p.ipam_dir, "n", (Ipv4Addr::new(10, 0, 0, 0), 30));
        // /30: .1 gateway, .2 the only host.
        assert_eq!(h.allocate("a", "eth0").unwrap(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(
            h.allocate("b", "eth0").unwrap_err(),
            "no IP addresses available in range set: 10.0.0.1-10.0.0.2"
        );
        h.release("a");
        assert_eq!(h.allocate("b", "eth0").unwrap(), Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn flannel_env_must_be_complete() {
        let (_t, p) = tmp("env");
        std::fs::create_dir_all(p.flannel_subnet_env.parent().unwrap()).unwrap();
        std::fs::write(&p.flannel_subnet_env, "FLANNEL_MTU=1450\n").unwrap();
        assert_eq!(
            load_flannel_env(&p.flannel_subnet_env).unwrap_err(),
            format!(
                "{} is missing FLANNEL_NETWORK, FLANNEL_SUBNET",
                p.flannel_subnet_env.display()
            )
        );
    }
}
