//! The minikube commands labsim emulates. Each cites the minikube source it follows.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

use super::flags::{self, Kind, Parsed, Spec, spec};
use super::machine::{self, State};
use super::out::{Console, Style, rounded_box, styled, table};
use super::profile::{HomeLock, NodeRecord, Profile, machine_name};
use super::{
    COMMANDS, DEFAULT_PROFILE, GLOBAL_FLAGS, KICBASE_VERSION, MINIKUBE_VERSION, MinikubeError,
    NOT_EMULATED, exit, suggestions,
};
use crate::net::SlotRegistry;
use crate::paths::Home;
use crate::version::Minor;

type Result<T> = std::result::Result<T, MinikubeError>;

fn internal(id: &'static str, e: impl std::fmt::Display) -> MinikubeError {
    MinikubeError::error(id, exit::GUEST_ERROR, e.to_string())
}

fn parse(rest: &[String], own: &[Spec], command: &str) -> Result<Parsed> {
    let mut specs: Vec<Spec> = GLOBAL_FLAGS.to_vec();
    specs.extend_from_slice(own);
    let p = flags::parse(rest, &specs).map_err(|e| MinikubeError::Flags {
        message: e.0,
        command: format!("minikube {command}"),
    })?;
    if p.bool("help") {
        return Err(MinikubeError::unimplemented(format!(
            "labsim does not print minikube's help; see `minikube {command} --help` of a real minikube, or docs/labsim.md"
        )));
    }
    Ok(p)
}

fn profile_name(p: &Parsed) -> String {
    p.get("profile").unwrap_or(DEFAULT_PROFILE).to_string()
}

/// `mustload.Partial`: the profile must exist.
fn load(home: &Home, name: &str) -> Result<Profile> {
    Profile::load(home, name)
        .map_err(|e| internal("HOST_CONFIG_LOAD", e))?
        .ok_or_else(|| MinikubeError::ProfileNotFound(name.to_string()))
}

/// `mustload.Running`: the profile must exist and its primary node must run.
fn load_running(home: &Home, name: &str) -> Result<Profile> {
    let p = load(home, name)?;
    let primary = p.primary();
    let st = machine::state(&p.node_paths(home, primary));
    if st != State::Running {
        return Err(MinikubeError::ControlPlaneNotRunning {
            profile: p.name.clone(),
            machine: primary.name.clone(),
            state: st.as_str().to_string(),
        });
    }
    Ok(p)
}

/// Dispatches a command (`words` are the command path, `rest` its flags and arguments).
pub fn run(console: &Console, home: &Home, words: &[String], rest: &[String]) -> Result<()> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w.as_slice() {
        [] => {
            let p = parse(rest, &[], "")?;
            let _ = p;
            Err(MinikubeError::usage(
                "labsim's minikube needs a command: start, stop, delete, node, ssh, ip, cp, profile, status, version",
            ))
        }
        ["start"] => start(console, home, rest),
        ["stop"] => stop(console, home, rest),
        ["delete"] => delete(console, home, rest),
        ["ssh"] => ssh(home, rest),
        ["ip"] => ip(console, home, rest),
        ["cp"] => cp(home, rest),
        ["status"] => status(console, home, rest),
        ["version"] => version(console, rest),
        ["node"] => Err(MinikubeError::usage(
            "Usage: minikube node [add|start|stop|delete|list] (labsim emulates list, start and stop)",
        )),
        ["node", "list"] => node_list(console, home, rest),
        ["node", "stop"] => node_stop(console, home, rest),
        ["node", "start"] => node_start(console, home, rest),
        ["node", sub @ ("add" | "delete" | "remove" | "ssh")] => {
            Err(MinikubeError::unimplemented(format!(
                "labsim does not emulate `minikube node {sub}`: create the profile with the number of nodes you need (`minikube start --nodes N`)"
            )))
        }
        ["node", other] => Err(MinikubeError::UnknownCommand {
            name: other.to_string(),
            parent: "minikube node".into(),
            suggestions: suggestions(other, &["add", "delete", "list", "start", "stop"]),
        }),
        ["profile"] | ["profile", "list"] => profile_list(console, home, rest),
        ["profile", other] => Err(MinikubeError::unimplemented(format!(
            "labsim does not emulate `minikube profile {other}` (switching the default profile): pass -p {other} to each command"
        ))),
        [cmd, ..] if NOT_EMULATED.contains(cmd) => Err(MinikubeError::unimplemented(format!(
            "labsim does not emulate `minikube {cmd}`; it offers start, stop, delete, node, ssh, ip, cp, profile list, status and version"
        ))),
        [cmd, ..] => {
            let all: Vec<&str> = COMMANDS.iter().chain(NOT_EMULATED).copied().collect();
            Err(MinikubeError::UnknownCommand {
                name: cmd.to_string(),
                parent: "minikube".into(),
                suggestions: suggestions(cmd, &all),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// start (cmd/minikube/cmd/start.go, start_flags.go, pkg/minikube/node/start.go)

const START_FLAGS: &[Spec] = &[
    spec("no-kubernetes", None, Kind::Bool),
    spec("nodes", Some('n'), Kind::Int),
    spec("driver", Some('d'), Kind::Str),
    spec("vm-driver", None, Kind::Str),
    spec("container-runtime", Some('c'), Kind::Str),
    spec("cpus", None, Kind::Str),
    spec("memory", Some('m'), Kind::Str),
    spec("kubernetes-version", None, Kind::Str),
    spec("wait", None, Kind::Str),
    spec("wait-timeout", None, Kind::Str),
    spec("force", None, Kind::Bool),
    spec("delete-on-failure", None, Kind::Bool),
    spec("disk-size", None, Kind::Str),
    spec("preload", None, Kind::Bool),
    spec("cache-images", None, Kind::Bool),
    spec("interactive", None, Kind::Bool),
    spec("install-addons", None, Kind::Bool),
    spec("keep-context", None, Kind::Bool),
    // Real flags labsim refuses (see `REFUSED_START_FLAGS`).
    spec("cni", None, Kind::Str),
    spec("network-plugin", None, Kind::Str),
    spec("extra-config", None, Kind::Str),
    spec("addons", None, Kind::Str),
    spec("apiserver-port", None, Kind::Int),
    spec("apiserver-ips", None, Kind::Str),
    spec("apiserver-names", None, Kind::Str),
    spec("feature-gates", None, Kind::Str),
    spec("mount", None, Kind::Bool),
    spec("mount-string", None, Kind::Str),
    spec("ports", None, Kind::Str),
    spec("static-ip", None, Kind::Str),
    spec("subnet", None, Kind::Str),
    spec("network", None, Kind::Str),
    spec("listen-address", None, Kind::Str),
    spec("image-repository", None, Kind::Str),
    spec("base-image", None, Kind::Str),
    spec("insecure-registry", None, Kind::Str),
    spec("registry-mirror", None, Kind::Str),
    spec("ha", None, Kind::Bool),
    spec("output", Some('o'), Kind::Str),
    spec("download-only", None, Kind::Bool),
];

const REFUSED_START_FLAGS: &[&str] = &[
    "cni",
    "network-plugin",
    "extra-config",
    "addons",
    "apiserver-port",
    "apiserver-ips",
    "apiserver-names",
    "feature-gates",
    "mount",
    "mount-string",
    "ports",
    "static-ip",
    "subnet",
    "network",
    "listen-address",
    "image-repository",
    "base-image",
    "insecure-registry",
    "registry-mirror",
    "ha",
    "output",
    "download-only",
];

/// `minikube v1.38.1 on Debian 12.11` (gopsutil's platform and version, capitalised).
fn host_os() -> String {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |k: &str| {
        release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
    };
    let id = field("ID").unwrap_or_else(|| "linux".into());
    let version = if id == "debian" {
        std::fs::read_to_string("/etc/debian_version")
            .map(|v| v.trim().to_string())
            .ok()
    } else {
        field("VERSION_ID")
    };
    let mut name: Vec<char> = id.chars().collect();
    if let Some(c) = name.first_mut() {
        *c = c.to_ascii_uppercase();
    }
    let name: String = name.into_iter().collect();
    match version {
        Some(v) => format!("{name} {v}"),
        None => name,
    }
}

fn total_memory_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

/// minikube's default memory per node (`suggestMemoryAllocation` in `cmd/minikube/cmd/start.go`),
/// with the docker daemon's memory equal to the host's.
pub fn suggest_memory(sys_limit: u64, container_limit: u64, nodes: u64) -> u64 {
    const FALLBACK: u64 = 2200;
    let mut maximum = 6000;
    if sys_limit > 0 && FALLBACK > sys_limit {
        return sys_limit;
    }
    if container_limit > 0 {
        if FALLBACK > container_limit {
            return container_limit;
        }
        maximum = container_limit - 48;
    }
    let mut suggested = ((sys_limit as f32) / 400.0) as u64 * 100;
    if nodes > 1 {
        suggested /= nodes;
    }
    suggested.clamp(FALLBACK, maximum.max(FALLBACK))
}

/// `--memory` as minikube reads it (`pkg/util CalculateSizeInMB`): `4096`, `4g`, `4096mb`;
/// `no-limit`/`max` mean no limit.
fn parse_memory(v: &str) -> Result<Option<u64>> {
    let l = v.trim().to_lowercase();
    if l == "no-limit" || l == "max" {
        return Ok(None);
    }
    let digits: String = l.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &l[digits.len()..];
    let n: u64 = digits.parse().map_err(|_| {
        MinikubeError::message(
            "MK_USAGE",
            exit::USAGE,
            format!("Unable to parse memory '{v}': invalid size"),
        )
    })?;
    let mb = match unit {
        "" | "m" | "mb" | "mi" | "mib" => n,
        "g" | "gb" | "gi" | "gib" => n * 1024,
        "k" | "kb" => n / 1024,
        _ => {
            return Err(MinikubeError::usage(format!(
                "Unable to parse memory '{v}': invalid suffix '{unit}'"
            )));
        }
    };
    Ok(Some(mb))
}

/// `LABSIM_EVENT_LOG` at the creation of a profile: `1`/`true` asks for labsim's event log (the API
/// server's audit log, docs/labsim.md "labsim's event log"). Not a minikube setting: real minikube
/// ignores the variable.
fn event_log_requested() -> Result<bool> {
    match std::env::var(crate::apiserver::audit::EVENT_LOG_ENV) {
        Err(_) => Ok(false),
        Ok(v) => match v.as_str() {
            "" | "0" | "false" => Ok(false),
            "1" | "true" => Ok(true),
            other => Err(MinikubeError::usage(format!(
                "{}={other}: use 1 to keep labsim's event log (the API server's audit log), 0 or nothing not to",
                crate::apiserver::audit::EVENT_LOG_ENV
            ))),
        },
    }
}

fn start(console: &Console, home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(rest, START_FLAGS, "start")?;
    if !p.args.is_empty() {
        return Err(MinikubeError::usage(format!(
            "Usage: minikube start [flags] (unexpected argument {:?})",
            p.args[0]
        )));
    }
    let name = profile_name(&p);
    let prefix = if name == DEFAULT_PROFILE {
        String::new()
    } else {
        format!("[{name}] ")
    };
    let existing = Profile::load(home, &name).map_err(|e| internal("HOST_CONFIG_LOAD", e))?;
    console.step(
        Style::Happy,
        &format!("{prefix}minikube {MINIKUBE_VERSION} on {}", host_os()),
    );

    // Driver (pkg/minikube/driver, cmd/minikube/cmd/start.go selectDriver).
    let driver = p
        .get("driver")
        .or(p.get("vm-driver"))
        .unwrap_or("docker")
        .to_string();
    match driver.as_str() {
        "docker" => {}
        "kvm2" | "virtualbox" | "podman" | "none" | "ssh" | "qemu2" | "qemu" | "vmware"
        | "vfkit" | "hyperkit" | "parallels" | "krunkit" => {
            return Err(MinikubeError::unimplemented(format!(
                "labsim emulates only the docker driver, not {driver:?}: use --driver=docker (or a real minikube for {driver})"
            )));
        }
        other => {
            return Err(MinikubeError::message(
                "DRV_UNSUPPORTED_OS",
                exit::DRIVER_UNSUPPORTED,
                format!("The driver '{other}' is not supported on linux/amd64"),
            ));
        }
    }
    if existing.is_some() {
        console.step(
            Style::Sparkle,
            "Using the docker driver based on existing profile",
        );
    } else {
        console.step(
            Style::Sparkle,
            "Using the docker driver based on user configuration",
        );
    }
    console.step(Style::Pin, "Using Docker driver with root privileges");

    if let Some(refused) = REFUSED_START_FLAGS.iter().find(|f| p.has(f)) {
        return Err(MinikubeError::unimplemented(format!(
            "labsim does not emulate `minikube start --{refused}`: its nodes come as `--no-kubernetes --driver=docker --container-runtime=containerd` nodes"
        )));
    }
    if p.bool("no-kubernetes") && p.has("kubernetes-version") {
        // cmd/minikube/cmd/start.go getKubernetesVersion.
        return Err(MinikubeError::usage(
            "cannot specify --kubernetes-version with --no-kubernetes,\nto unset a global config run:\n\n$ minikube config unset kubernetes-version",
        ));
    }
    if !p.bool("no-kubernetes") {
        return Err(MinikubeError::unimplemented(
            "labsim only offers nodes without Kubernetes: run `minikube start --no-kubernetes` and install Kubernetes on the nodes as the course does",
        ));
    }
    match p.get("container-runtime").unwrap_or("containerd") {
        "containerd" => {}
        r @ ("docker" | "cri-o" | "crio") => {
            return Err(MinikubeError::unimplemented(format!(
                "labsim's nodes run containerd only, not {r}: use --container-runtime=containerd"
            )));
        }
        other => {
            // pkg/minikube/cruntime ValidRuntimes.
            return Err(MinikubeError::usage(format!(
                "Invalid Container Runtime: {other}. Valid runtimes are: docker, cri-o, containerd"
            )));
        }
    }
    let nodes = p.int("nodes").unwrap_or(1);
    if nodes < 1 || nodes as usize > crate::net::MAX_NODES {
        return Err(MinikubeError::usage(format!(
            "The number of nodes must be between 1 and {} (got {nodes})",
            crate::net::MAX_NODES
        )));
    }
    let memory_mb = match p.get("memory") {
        Some(m) => parse_memory(m)?,
        None => {
            let total = total_memory_mib();
            Some(suggest_memory(total, total, nodes as u64))
        }
    };
    let cpus = p.get("cpus").unwrap_or("2").to_string();

    let _lock = HomeLock::take(home).map_err(|e| internal("HOST_HOME_PERMISSION", e))?;
    let labsim = machine::labsim_exe();
    let (profile, created) = match existing {
        Some(prof) => {
            if p.has("nodes") && nodes as usize != prof.nodes.len() {
                console.err_step(
                    Style::Warning,
                    "You cannot change the number of nodes for an existing minikube cluster. Please use 'minikube node add' to add nodes to an existing cluster.",
                );
            }
            (prof, false)
        }
        None => {
            let version = match std::env::var("KUBERNETES_VERSION") {
                Ok(v) if !v.is_empty() => v
                    .parse::<Minor>()
                    .map_err(|e| MinikubeError::usage(format!("KUBERNETES_VERSION={v}: {e}")))?,
                _ => Minor::default(),
            };
            let event_log = event_log_requested()?;
            // labsim's own knob (docs/labsim.md, "Versions"): the cgroup hierarchy the nodes report.
            let cgroup_version = match std::env::var("LABSIM_CGROUP_VERSION") {
                Ok(v) if !v.is_empty() => v
                    .parse::<crate::node::CgroupVersion>()
                    .map_err(|e| MinikubeError::usage(format!("LABSIM_CGROUP_VERSION={v}: {e}")))?,
                _ => crate::node::CgroupVersion::default(),
            };
            let dir = home.profile(&name).dir().to_path_buf();
            std::fs::create_dir_all(&dir).map_err(|e| internal("HOST_HOME_PERMISSION", e))?;
            let slot = match SlotRegistry::default().allocate(&dir) {
                Ok(s) => s,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(MinikubeError::error(
                        "GUEST_PROVISION",
                        exit::GUEST_ERROR,
                        e.to_string(),
                    ));
                }
            };
            let records = (0..nodes as usize)
                .map(|i| {
                    Ok(NodeRecord {
                        name: machine_name(&name, i),
                        index: i,
                        ip: crate::net::node_ip(slot, i)
                            .map_err(|e| internal("GUEST_PROVISION", e))?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let prof = Profile {
                name: name.clone(),
                slot,
                kubernetes_version: version.to_string(),
                driver: "docker".into(),
                container_runtime: "containerd".into(),
                cpus: cpus.clone(),
                memory_mb,
                nodes: records,
                created: jiff::Timestamp::now().to_string(),
                event_log,
                cgroup_version,
            };
            prof.save(home)
                .map_err(|e| internal("HOST_SAVE_PROFILE", e))?;
            (prof, true)
        }
    };
    for (i, node) in profile.nodes.iter().enumerate() {
        if i > 0 {
            console.out("\n");
        }
        // pkg/minikube/node/start.go Provision, pkg/minikube/machine/{start,fix}.go.
        console.step(
            Style::ThumbsUp,
            &format!("Starting minikube without Kubernetes in cluster {name}"),
        );
        console.step(
            Style::Pulling,
            &format!("Pulling base image {KICBASE_VERSION} ..."),
        );
        let paths = profile.node_paths(home, node);
        let info = profile.node_info(node, &labsim);
        let first_boot = !paths.state_json().exists() && created;
        match machine::state(&paths) {
            State::Running => console.step(
                Style::Running,
                &format!(
                    "Updating the running docker \"{}\" container ...",
                    node.name
                ),
            ),
            State::Stopped => {
                if first_boot {
                    let mem = profile
                        .memory_mb
                        .map(|m| format!("{m}MB"))
                        .unwrap_or_else(|| "no-limit".into());
                    console.step(
                        Style::Fire,
                        &format!(
                            "Creating docker container (CPUs={}, Memory={mem}) ...",
                            profile.cpus
                        ),
                    );
                } else {
                    console.step(
                        Style::Restarting,
                        &format!(
                            "Restarting existing docker container for \"{}\" ...",
                            node.name
                        ),
                    );
                }
                machine::start(&paths, &info).map_err(|e| {
                    MinikubeError::error(
                        "GUEST_PROVISION",
                        exit::GUEST_ERROR,
                        format!("error provisioning guest: Failed to start host: {e}"),
                    )
                })?;
            }
        }
        console.step(
            Style::Containerd,
            &format!("Preparing containerd {} ...", super::containerd_version()),
        );
    }
    // cmd/minikube/cmd/start.go showKubectlInfo.
    console.step(Style::Ready, "Done! minikube is ready without Kubernetes!");
    console.out(&rounded_box(
        Some(&styled(Style::Tip, "Things to try without Kubernetes ...")),
        &[
            "- \"minikube ssh\" to SSH into minikube's node.",
            "- \"minikube image\" to build images without docker.",
        ],
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// stop (cmd/minikube/cmd/stop.go, pkg/minikube/machine/stop.go)

fn stop_one(console: &Console, home: &Home, profile: &Profile, node: &NodeRecord) -> Result<()> {
    console.step(
        Style::Stopping,
        &format!("Stopping node \"{}\"  ...", node.name),
    );
    let paths = profile.node_paths(home, node);
    if machine::state(&paths) == State::Running {
        console.step(
            Style::Stopped,
            &format!("Powering off \"{}\" via SSH ...", node.name),
        );
    }
    machine::stop(&paths, &node.name).map_err(|e| {
        MinikubeError::error("GUEST_STOP_TIMEOUT", 82, format!("Unable to stop VM: {e}"))
    })?;
    Ok(())
}

fn stop(console: &Console, home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(
        rest,
        &[
            spec("all", None, Kind::Bool),
            spec("keep-context-active", None, Kind::Bool),
            spec("cancel-scheduled", None, Kind::Bool),
        ],
        "stop",
    )?;
    let profiles = if p.bool("all") {
        Profile::list(home)
    } else {
        vec![load(home, &profile_name(&p))?]
    };
    let _lock = HomeLock::take(home).map_err(|e| internal("HOST_HOME_PERMISSION", e))?;
    let mut count = 0;
    for prof in &profiles {
        // In the profile's node order (cmd/minikube/cmd/stop.go stopProfile).
        for node in &prof.nodes {
            stop_one(console, home, prof, node)?;
            count += 1;
        }
    }
    let noun = if count == 1 { "node" } else { "nodes" };
    console.step(Style::Stopped, &format!("{count} {noun} stopped."));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// node list|stop|start (cmd/minikube/cmd/node_list.go, node_stop.go, node_start.go)

fn node_list(console: &Console, home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(rest, &[], "node list")?;
    let prof = load(home, &profile_name(&p))?;
    for n in &prof.nodes {
        console.out(&format!("{}\t{}\n", n.name, n.ip));
    }
    Ok(())
}

fn node_arg<'a>(p: &'a Parsed, verb: &str) -> Result<&'a str> {
    p.args
        .first()
        .map(String::as_str)
        .ok_or_else(|| MinikubeError::usage(format!("Usage: minikube node {verb} NODE_NAME")))
}

fn retrieve<'a>(prof: &'a Profile, name: &str) -> Result<&'a NodeRecord> {
    prof.retrieve(name).ok_or_else(|| {
        MinikubeError::error(
            "GUEST_NODE_RETRIEVE",
            exit::GUEST_NOT_FOUND,
            format!("retrieving node: Could not find node {name}"),
        )
    })
}

fn node_stop(console: &Console, home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(rest, &[], "node stop")?;
    let name = node_arg(&p, "stop")?;
    let prof = load(home, &profile_name(&p))?;
    let node = retrieve(&prof, name)?;
    let _lock = HomeLock::take(home).map_err(|e| internal("HOST_HOME_PERMISSION", e))?;
    stop_one(console, home, &prof, node)?;
    console.step(
        Style::Stopped,
        &format!("Successfully stopped node {}", node.name),
    );
    Ok(())
}

fn node_start(console: &Console, home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(
        rest,
        &[spec("delete-on-failure", None, Kind::Bool)],
        "node start",
    )?;
    let name = node_arg(&p, "start")?;
    let prof = load(home, &profile_name(&p))?;
    let node = retrieve(&prof, name)?;
    let paths = prof.node_paths(home, node);
    if machine::state(&paths) == State::Running {
        console.step(Style::Check, &format!("{name} is already running"));
        return Ok(());
    }
    let _lock = HomeLock::take(home).map_err(|e| internal("HOST_HOME_PERMISSION", e))?;
    console.step(
        Style::ThumbsUp,
        &format!(
            "Starting minikube without Kubernetes in cluster {}",
            prof.name
        ),
    );
    console.step(
        Style::Pulling,
        &format!("Pulling base image {KICBASE_VERSION} ..."),
    );
    console.step(
        Style::Restarting,
        &format!(
            "Restarting existing docker container for \"{}\" ...",
            node.name
        ),
    );
    let info = prof.node_info(node, &machine::labsim_exe());
    machine::start(&paths, &info).map_err(|e| {
        MinikubeError::error(
            "GUEST_NODE_START",
            exit::GUEST_ERROR,
            format!("failed to start node: {e}"),
        )
    })?;
    console.step(
        Style::Containerd,
        &format!("Preparing containerd {} ...", super::containerd_version()),
    );
    console.step(
        Style::Happy,
        &format!("Successfully started node {}!", node.name),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ssh (cmd/minikube/cmd/ssh.go, pkg/minikube/machine/ssh.go)

fn ssh(home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(
        rest,
        &[
            spec("node", Some('n'), Kind::Str),
            spec("native-ssh", None, Kind::Bool),
        ],
        "ssh",
    )?;
    let prof = load_running(home, &profile_name(&p))?;
    let node = match p.get("node") {
        None => prof.primary(),
        Some(n) => prof.retrieve(n).ok_or_else(|| {
            MinikubeError::message(
                "GUEST_NODE_RETRIEVE",
                exit::GUEST_NOT_FOUND,
                format!("Node {n} does not exist."),
            )
        })?,
    };
    let paths = prof.node_paths(home, node);
    let Some(rs) = machine::running(&paths) else {
        return Err(MinikubeError::SshNotRunning(node.name.clone()));
    };
    let info = prof.node_info(node, &machine::labsim_exe());
    // The arguments are joined with spaces and run by the remote shell.
    let script = (!p.args.is_empty()).then(|| p.args.join(" "));
    let mut cmd = machine::login_command(&rs, &info, script.as_deref());
    let status = match script {
        None => cmd
            .status()
            .map_err(|e| internal("IF_SSH_CLIENT", format!("nsenter: {e}")))?,
        Some(_) => {
            // A PTY is requested: stdout and stderr arrive merged, with CRLF line ends.
            let (mut reader, writer) = std::io::pipe().map_err(|e| internal("IF_SSH_CLIENT", e))?;
            let writer2 = writer
                .try_clone()
                .map_err(|e| internal("IF_SSH_CLIENT", e))?;
            let mut child = cmd
                .stdin(Stdio::inherit())
                .stdout(writer)
                .stderr(writer2)
                .spawn()
                .map_err(|e| internal("IF_SSH_CLIENT", format!("nsenter: {e}")))?;
            drop(cmd);
            let mut stdout = std::io::stdout().lock();
            let mut buf = [0u8; 8192];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut converted = Vec::with_capacity(n * 2);
                for b in &buf[..n] {
                    if *b == b'\n' {
                        converted.push(b'\r');
                    }
                    converted.push(*b);
                }
                let _ = stdout.write_all(&converted);
                let _ = stdout.flush();
            }
            child.wait().map_err(|e| internal("IF_SSH_CLIENT", e))?
        }
    };
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(c), _) => Err(MinikubeError::RemoteExit(c.to_string())),
        (None, Some(sig)) => Err(MinikubeError::RemoteExit(format!(
            "-1 from signal {}",
            crate::node::systemd::signal_name(sig)
        ))),
        (None, None) => Err(MinikubeError::RemoteExit("-1".into())),
    }
}

// ---------------------------------------------------------------------------------------------
// ip (cmd/minikube/cmd/ip.go)

fn ip(console: &Console, home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(rest, &[spec("node", Some('n'), Kind::Str)], "ip")?;
    let prof = load_running(home, &profile_name(&p))?;
    let node = match p.get("node") {
        None => prof.primary(),
        Some(n) => retrieve(&prof, n)?,
    };
    console.out(&format!("{}\n", node.ip));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// cp (cmd/minikube/cmd/cp.go; the ssh runner's Copy: `sudo test -d DIR && sudo scp -t DIR && sudo
// touch -d MTIME DST`, so the file is root's, mode 0644, with the source's mtime)

struct RemotePath {
    node: Option<String>,
    path: String,
}

fn remote_path(s: &str) -> RemotePath {
    if let Some((n, p)) = s.split_once(':')
        && !n.is_empty()
        && !n.contains('/')
        && p.starts_with('/')
    {
        return RemotePath {
            node: Some(n.to_string()),
            path: p.to_string(),
        };
    }
    RemotePath {
        node: None,
        path: s.to_string(),
    }
}

fn cp(home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(rest, &[spec("node", Some('n'), Kind::Str)], "cp")?;
    if p.args.len() != 2 {
        return Err(MinikubeError::usage(
            "Please specify the path to copy:\n\tminikube cp <source file path> <target file absolute path> (example: \"minikube cp a/b.txt /copied.txt\")",
        ));
    }
    let src = remote_path(&p.args[0]);
    let mut dst = remote_path(&p.args[1]);
    // setDstFileNameFromSrc: a target ending in '/' gets the source's file name.
    if dst.path.ends_with('/')
        && let Some(f) = Path::new(&src.path).file_name()
    {
        dst.path.push_str(&f.to_string_lossy());
    }
    if src.path.is_empty() || dst.path.is_empty() {
        return Err(MinikubeError::usage("Source or target can not be empty"));
    }
    if src.node.is_none() && dst.node.is_none() && !dst.path.starts_with('/') {
        return Err(MinikubeError::usage(
            "Target <remote file path> must be an absolute Path. Relative Path is not allowed (example: \"minikube:/home/docker/copied.txt\")",
        ));
    }
    let prof = load_running(home, &profile_name(&p))?;
    let node_of = |n: &Option<String>| -> Result<Option<&NodeRecord>> {
        match n {
            None => Ok(None),
            Some(name) => prof.retrieve(name).map(Some).ok_or_else(|| {
                MinikubeError::message(
                    "GUEST_NODE_RETRIEVE",
                    exit::GUEST_NOT_FOUND,
                    format!("Node {name} does not exist."),
                )
            }),
        }
    };
    let src_node = node_of(&src.node)?;
    let mut dst_node = node_of(&dst.node)?;
    if src_node.is_none() && dst_node.is_none() {
        dst_node = Some(prof.primary());
    }
    let fail = |e: String| {
        MinikubeError::error(
            "MK_COMMAND_RUNNER",
            exit::PROGRAM_ERROR,
            format!("Fail to copy file {}: {e}", src.path),
        )
    };
    let node_root = |n: &NodeRecord| -> Result<String> {
        match machine::running(&prof.node_paths(home, n)) {
            Some(rs) => Ok(format!("/proc/{}/root", rs.init_pid)),
            None => Err(fail(format!("ssh: \"{}\" is not running", n.name))),
        }
    };
    // Read the source.
    let (data, mode, mtime) = match src_node {
        None => {
            let meta = std::fs::metadata(&src.path).map_err(|_| {
                MinikubeError::message(
                    "HOST_PATH_MISSING",
                    exit::HOST_NOT_FOUND,
                    format!("Cannot find directory &{{ {}}} for copy", src.path),
                )
            })?;
            let data = std::fs::read(&src.path).map_err(|e| fail(e.to_string()))?;
            (data, 0o644, meta.modified().ok())
        }
        Some(n) => {
            let path = format!("{}{}", node_root(n)?, src.path);
            let data = std::fs::read(&path).map_err(|e| {
                fail(format!(
                    "getting file from {} node: open {}: {e}",
                    n.name, src.path
                ))
            })?;
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o644);
            (data, mode, None)
        }
    };
    match dst_node {
        None => {
            std::fs::write(&dst.path, &data).map_err(|e| fail(e.to_string()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dst.path, std::fs::Permissions::from_mode(mode));
        }
        Some(n) => {
            let root = node_root(n)?;
            let dir = Path::new(&dst.path)
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "/".into());
            if !Path::new(&format!("{root}{dir}")).is_dir() {
                return Err(fail(format!(
                    "sudo test -d {dir} && sudo scp -t {dir}: Process exited with status 1\noutput: "
                )));
            }
            let target = format!("{root}{}", dst.path);
            std::fs::write(&target, &data).map_err(|e| fail(e.to_string()))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| fail(e.to_string()))?;
            std::os::unix::fs::lchown(&target, Some(0), Some(0))
                .map_err(|e| fail(e.to_string()))?;
            if let Some(t) = mtime {
                let f = std::fs::File::options()
                    .write(true)
                    .open(&target)
                    .map_err(|e| fail(e.to_string()))?;
                let _ = f.set_modified(t);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// delete (cmd/minikube/cmd/delete.go)

fn delete_profile(console: &Console, home: &Home, prof: &Profile) -> Result<()> {
    console.step(
        Style::Fire,
        &format!("Deleting \"{}\" in docker ...", prof.name),
    );
    for node in &prof.nodes {
        console.step(
            Style::Fire,
            &format!("Deleting container \"{}\" ...", node.name),
        );
        machine::stop(&prof.node_paths(home, node), &node.name)
            .map_err(|e| internal("GUEST_DELETION", e))?;
    }
    for node in &prof.nodes {
        let paths = prof.node_paths(home, node);
        console.step(
            Style::Fire,
            &format!("Removing {} ...", paths.dir().display()),
        );
        if paths.dir().exists() {
            std::fs::remove_dir_all(paths.dir()).map_err(|e| {
                internal(
                    "GUEST_DELETION",
                    format!("removing {}: {e}", paths.dir().display()),
                )
            })?;
        }
    }
    let dir = home.profile(&prof.name).dir().to_path_buf();
    let _ = SlotRegistry::default().release(prof.slot, &dir);
    std::fs::remove_dir_all(&dir)
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|e| internal("GUEST_DELETION", format!("removing {}: {e}", dir.display())))?;
    console.step(
        Style::Deleted,
        &format!("Removed all traces of the \"{}\" cluster.", prof.name),
    );
    Ok(())
}

fn delete(console: &Console, home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(
        rest,
        &[
            spec("all", None, Kind::Bool),
            spec("purge", None, Kind::Bool),
            spec("output", Some('o'), Kind::Str),
        ],
        "delete",
    )?;
    if !p.args.is_empty() {
        return Err(MinikubeError::usage(
            "Usage: minikube delete [flags] (delete takes no arguments; use -p PROFILE)",
        ));
    }
    let _lock = HomeLock::take(home).map_err(|e| internal("HOST_HOME_PERMISSION", e))?;
    if p.bool("all") {
        for prof in Profile::list(home) {
            delete_profile(console, home, &prof)?;
        }
        console.step(Style::Fire, "Successfully deleted all profiles");
        return Ok(());
    }
    let name = profile_name(&p);
    match Profile::load(home, &name).map_err(|e| internal("HOST_CONFIG_LOAD", e))? {
        Some(prof) => delete_profile(console, home, &prof),
        None => {
            // A directory left half-created is removed as well.
            let dir = home.profile(&name).dir().to_path_buf();
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| internal("GUEST_DELETION", e))?;
            }
            console.err_step(
                Style::Meh,
                &format!("\"{name}\" profile does not exist, trying anyways."),
            );
            console.step(
                Style::Deleted,
                &format!("Removed all traces of the \"{name}\" cluster."),
            );
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// profile list (cmd/minikube/cmd/config/profile_list.go)

/// Whether something answers on `ip:8443`, the port minikube's status checks for the API server.
fn apiserver_answers(ip: std::net::Ipv4Addr) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from((ip, 8443)),
        std::time::Duration::from_millis(300),
    )
    .is_ok()
}

fn profile_list(console: &Console, home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(
        rest,
        &[
            spec("output", Some('o'), Kind::Str),
            spec("light", Some('l'), Kind::Bool),
            spec("detailed", Some('d'), Kind::Bool),
        ],
        "profile list",
    )?;
    let profiles = Profile::list(home);
    if profiles.is_empty() {
        return Err(MinikubeError::message(
            "MK_USAGE_NO_PROFILE",
            exit::USAGE,
            "No minikube profile was found.",
        ));
    }
    let current = profile_name(&p);
    let detailed = p.bool("detailed");
    let mut rows = Vec::new();
    let mut colors = Vec::new();
    for prof in &profiles {
        let primary = prof.primary();
        let running = machine::state(&prof.node_paths(home, primary)) == State::Running;
        let status = if running && apiserver_answers(primary.ip) {
            "OK"
        } else {
            "Stopped"
        };
        let mut row = vec![
            prof.name.clone(),
            prof.driver.clone(),
            prof.container_runtime.clone(),
            primary.ip.to_string(),
        ];
        if detailed {
            row.push("8443".into());
        }
        row.extend([
            // --no-kubernetes profiles show N/A.
            "N/A".to_string(),
            status.to_string(),
            prof.nodes.len().to_string(),
            if prof.name == current { "*" } else { "" }.to_string(),
            String::new(),
        ]);
        rows.push(row);
        colors.push((status == "OK").then_some("\x1b[32m"));
    }
    let mut headers = vec!["Profile", "Driver", "Runtime", "IP"];
    if detailed {
        headers.push("Port");
    }
    headers.extend([
        "Version",
        "Status",
        "Nodes",
        "Active Profile",
        "Active Kubecontext",
    ]);
    console.out(&table(&headers, &rows, &colors));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// status (cmd/minikube/cmd/status.go, pkg/minikube/cluster/status.go)

fn kubeconfig_has(profile: &str) -> bool {
    let path = std::env::var("KUBECONFIG")
        .ok()
        .and_then(|k| k.split(':').next().map(String::from))
        .filter(|k| !k.is_empty())
        .or_else(|| {
            std::env::var("HOME")
                .ok()
                .map(|h| format!("{h}/.kube/config"))
        });
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .is_some_and(|t| t.lines().any(|l| l.trim() == format!("name: {profile}")))
}

fn status(console: &Console, home: &Home, rest: &[String]) -> Result<()> {
    let p = parse(
        rest,
        &[
            spec("node", Some('n'), Kind::Str),
            spec("output", Some('o'), Kind::Str),
            spec("format", Some('f'), Kind::Str),
            spec("layout", Some('l'), Kind::Str),
            spec("watch", Some('w'), Kind::Str),
        ],
        "status",
    )?;
    let prof = load(home, &profile_name(&p))?;
    let nodes: Vec<&NodeRecord> = match p.get("node") {
        Some(n) => vec![retrieve(&prof, n)?],
        None => prof.nodes.iter().collect(),
    };
    let mut code = 0u8;
    let mut text = String::new();
    for node in nodes {
        let rs = machine::running(&prof.node_paths(home, node));
        let host = if rs.is_some() { "Running" } else { "Stopped" };
        let kubelet = match &rs {
            Some(rs) if machine::is_active(rs, "kubelet").as_deref() == Some("active") => "Running",
            _ => "Stopped",
        };
        if host != "Running" {
            code |= 1;
        }
        if kubelet != "Running" {
            code |= 2;
        }
        text.push_str(&format!("{}\n", node.name));
        if node.index == 0 {
            let apiserver = if rs.is_some() && apiserver_answers(node.ip) {
                "Running"
            } else {
                "Stopped"
            };
            let kubeconfig = if rs.is_none() {
                "Stopped"
            } else if kubeconfig_has(&prof.name) {
                "Configured"
            } else {
                "Misconfigured"
            };
            if apiserver != "Running" {
                code |= 2;
            }
            if kubeconfig != "Configured" {
                code |= 4;
            }
            text.push_str(&format!(
                "type: Control Plane\nhost: {host}\nkubelet: {kubelet}\napiserver: {apiserver}\nkubeconfig: {kubeconfig}\n\n"
            ));
            if kubeconfig == "Misconfigured" {
                text.push_str(
                    "\nWARNING: Your kubectl is pointing to stale minikube-vm.\nTo fix the kubectl context, run `minikube update-context`\n",
                );
            }
        } else {
            text.push_str(&format!(
                "type: Worker\nhost: {host}\nkubelet: {kubelet}\n\n"
            ));
        }
    }
    console.out(&text);
    if code == 0 {
        Ok(())
    } else {
        Err(MinikubeError::Silent(code))
    }
}

// ---------------------------------------------------------------------------------------------
// version (cmd/minikube/cmd/version.go)

fn version(console: &Console, rest: &[String]) -> Result<()> {
    let p = parse(
        rest,
        &[
            spec("short", None, Kind::Bool),
            spec("output", Some('o'), Kind::Str),
            spec("components", None, Kind::Bool),
        ],
        "version",
    )?;
    if p.bool("short") {
        console.out(&format!("{MINIKUBE_VERSION}\n"));
    } else {
        console.out(&format!(
            "minikube version: {MINIKUBE_VERSION}\ncommit: labsim-{}\n",
            env!("CARGO_PKG_VERSION")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_suggestion_follows_minikube() {
        // 24 GiB host, docker sees the same: 25 % rounded down to 100 MB, split over 3 nodes.
        assert_eq!(suggest_memory(24000, 24000, 1), 6000);
        assert_eq!(
            suggest_memory(24000, 24000, 3),
            2200,
            "6000 / 3 is below the fallback"
        );
        assert_eq!(suggest_memory(16000, 16000, 1), 4000);
        assert_eq!(
            suggest_memory(2000, 2000, 1),
            2000,
            "less than the fallback"
        );
    }

    #[test]
    fn memory_flag_units() {
        assert_eq!(parse_memory("4096").unwrap(), Some(4096));
        assert_eq!(parse_memory("4g").unwrap(), Some(4096));
        assert_eq!(parse_memory("2200mb").unwrap(), Some(2200));
        assert_eq!(parse_memory("no-limit").unwrap(), None);
        assert!(parse_memory("lots").is_err());
    }

    #[test]
    fn cp_paths() {
        let r = remote_path("demo-m02:/home/docker/x");
        assert_eq!(r.node.as_deref(), Some("demo-m02"));
        assert_eq!(r.path, "/home/docker/x");
        let l = remote_path("./a:b");
        assert!(l.node.is_none());
        let l = remote_path("C:x");
        assert!(l.node.is_none(), "a node path must be absolute");
    }
}
