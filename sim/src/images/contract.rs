//! The contract between labsim's container runtime and the image programs (docs/labsim.md,
//! "Containers and images"): the `LABSIM_*` environment a container process starts with, the
//! container's view of the node's files through its mounts, and the in-cluster API client.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::catalog::normalize;
use crate::client::{Client, ClientError, Config, SERVICE_ACCOUNT_DIR};
use crate::pki::kubeconfig::Credentials;

/// Errors reading the contract.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// A required variable is missing.
    #[error(
        "{0} is not set: `labsim image run` expects the environment labsim's container runtime gives containers (docs/labsim.md, \"Containers and images\")"
    )]
    Missing(&'static str),
    /// A variable's value cannot be read.
    #[error("{name}={value:?} cannot be read: {detail}")]
    Malformed {
        /// Variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        detail: String,
    },
    /// The API server address is not on loopback (labsim never leaves 127.0.0.0/8).
    #[error(
        "LABSIM_APISERVER={0:?} is not an https:// address on 127.0.0.0/8: labsim only connects to loopback addresses"
    )]
    NotLoopback(String),
    /// A container path that no mount provides.
    #[error("{0}: no volume of this container is mounted there")]
    NotMounted(String),
    /// The service-account credentials are missing.
    #[error(
        "cannot read the service-account credentials at {path}: {source}; is the pod's service-account token volume mounted?"
    )]
    Credentials {
        /// The container path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// One mount of the container: `containerPath` shows the node's `hostPath`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// Where the container sees it.
    pub container_path: String,
    /// The node path behind it.
    pub host_path: String,
    /// Mounted read-only.
    #[serde(default)]
    pub readonly: bool,
}

/// A container path resolved to the node's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The node path.
    pub host_path: PathBuf,
    /// Whether the mount is read-only.
    pub readonly: bool,
}

/// The container's mounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mounts(pub Vec<Mount>);

impl Mounts {
    /// Parses `LABSIM_MOUNTS`' JSON.
    ///
    /// # Errors
    /// [`ContractError::Malformed`] for bad JSON.
    pub fn parse(json: &str) -> Result<Mounts, ContractError> {
        if json.trim().is_empty() {
            return Ok(Mounts::default());
        }
        serde_json::from_str(json)
            .map(Mounts)
            .map_err(|e| ContractError::Malformed {
                name: "LABSIM_MOUNTS",
                value: json.to_string(),
                detail: e.to_string(),
            })
    }

    /// The node path behind `container_path`: the mount with the longest `containerPath` that
    /// contains it (as the kernel's mount table would choose), `None` when no mount covers it.
    /// The path is normalised first, so `..` cannot climb out of a mount.
    pub fn resolve(&self, container_path: &str) -> Option<Resolved> {
        let p = normalize("/", container_path);
        self.0
            .iter()
            .filter_map(|m| {
                let root = normalize("/", &m.container_path);
                let rest = if p == root {
                    Some("")
                } else if root == "/" {
                    Some(&p[1..])
                } else {
                    p.strip_prefix(&root)
                        .and_then(|r| r.strip_prefix('/'))
                        .map(|r| if r.is_empty() { "" } else { r })
                };
                rest.map(|r| (root.len(), m, r.to_string()))
            })
            .max_by_key(|(len, _, _)| *len)
            .map(|(_, m, rest)| Resolved {
                host_path: if rest.is_empty() {
                    PathBuf::from(&m.host_path)
                } else {
                    Path::new(&m.host_path).join(rest)
                },
                readonly: m.readonly,
            })
    }
}

/// What the runtime tells a container process about itself.
#[derive(Debug, Clone, Default)]
pub struct ContainerEnv {
    /// `LABSIM_IMAGE`.
    pub image: String,
    /// `LABSIM_ARGV`.
    pub argv: Vec<String>,
    /// `LABSIM_MOUNTS`.
    pub mounts: Mounts,
    /// `LABSIM_POD_IP` (None for host-network pods).
    pub pod_ip: Option<Ipv4Addr>,
    /// `LABSIM_BIND_IP`.
    pub bind_ip: Option<IpAddr>,
    /// `LABSIM_NODE_NAME`.
    pub node_name: String,
    /// `LABSIM_NODE_IP`.
    pub node_ip: Option<IpAddr>,
    /// `LABSIM_SLOT`.
    pub slot: Option<u8>,
    /// `LABSIM_CONTAINER_ID`.
    pub container_id: String,
    /// `LABSIM_APISERVER`.
    pub apiserver: Option<String>,
    /// `HOSTNAME`: the pod's hostname, which containerd puts in every container's environment.
    pub hostname: Option<String>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse_ip<T: std::str::FromStr>(name: &'static str) -> Result<Option<T>, ContractError> {
    match var(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ContractError::Malformed {
            name,
            value: v,
            detail: "not an IPv4 address".into(),
        }),
    }
}

impl ContainerEnv {
    /// Reads the contract from the process environment. Only `LABSIM_IMAGE` and `LABSIM_ARGV`
    /// are required here; programs ask for what else they need with the accessors.
    ///
    /// # Errors
    /// [`ContractError`] for missing or malformed variables.
    pub fn from_env() -> Result<ContainerEnv, ContractError> {
        let image = var("LABSIM_IMAGE").ok_or(ContractError::Missing("LABSIM_IMAGE"))?;
        let argv_json = var("LABSIM_ARGV").ok_or(ContractError::Missing("LABSIM_ARGV"))?;
        let argv: Vec<String> =
            serde_json::from_str(&argv_json).map_err(|e| ContractError::Malformed {
                name: "LABSIM_ARGV",
                value: argv_json.clone(),
                detail: e.to_string(),
            })?;
        let mut env = ContainerEnv::from_env_without_argv()?;
        env.image = image;
        env.argv = argv;
        Ok(env)
    }

    /// Reads everything but `LABSIM_IMAGE` and `LABSIM_ARGV` (for `labsim image <program> …`).
    ///
    /// # Errors
    /// [`ContractError`] for malformed variables.
    pub fn from_env_without_argv() -> Result<ContainerEnv, ContractError> {
        let slot = match var("LABSIM_SLOT") {
            None => None,
            Some(v) => Some(v.parse::<u8>().map_err(|_| ContractError::Malformed {
                name: "LABSIM_SLOT",
                value: v,
                detail: "not a slot number 0-99".into(),
            })?),
        };
        Ok(ContainerEnv {
            image: var("LABSIM_IMAGE").unwrap_or_default(),
            argv: vec![],
            mounts: Mounts::parse(&var("LABSIM_MOUNTS").unwrap_or_default())?,
            pod_ip: parse_ip("LABSIM_POD_IP")?,
            bind_ip: parse_ip("LABSIM_BIND_IP")?,
            node_name: var("LABSIM_NODE_NAME").unwrap_or_default(),
            node_ip: parse_ip("LABSIM_NODE_IP")?,
            slot,
            container_id: var("LABSIM_CONTAINER_ID").unwrap_or_default(),
            apiserver: var("LABSIM_APISERVER"),
            hostname: var("HOSTNAME"),
        })
    }

    /// The address to serve on.
    ///
    /// # Errors
    /// [`ContractError::Missing`] without `LABSIM_BIND_IP`.
    pub fn bind_ip(&self) -> Result<IpAddr, ContractError> {
        self.bind_ip.ok_or(ContractError::Missing("LABSIM_BIND_IP"))
    }

    /// The node's IP.
    ///
    /// # Errors
    /// [`ContractError::Missing`] without `LABSIM_NODE_IP`.
    pub fn node_ip(&self) -> Result<IpAddr, ContractError> {
        self.node_ip.ok_or(ContractError::Missing("LABSIM_NODE_IP"))
    }

    /// The profile's slot.
    ///
    /// # Errors
    /// [`ContractError::Missing`] without `LABSIM_SLOT`.
    pub fn slot(&self) -> Result<u8, ContractError> {
        self.slot.ok_or(ContractError::Missing("LABSIM_SLOT"))
    }

    /// The container's hostname: `HOSTNAME` (the pod's hostname), else the kernel's.
    pub fn hostname(&self) -> String {
        self.hostname.clone().unwrap_or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".into())
        })
    }

    /// The node path of `container_path`.
    ///
    /// # Errors
    /// [`ContractError::NotMounted`] when no mount covers it.
    pub fn host_path(&self, container_path: &str) -> Result<PathBuf, ContractError> {
        self.mounts
            .resolve(container_path)
            .map(|r| r.host_path)
            .ok_or_else(|| ContractError::NotMounted(container_path.to_string()))
    }

    /// Reads a file the container sees at `container_path`.
    ///
    /// # Errors
    /// [`ContractError`] when it is not mounted; the I/O error otherwise.
    pub fn read(&self, container_path: &str) -> Result<Vec<u8>, ReadError> {
        let p = self.host_path(container_path)?;
        std::fs::read(&p).map_err(|source| ReadError::Io {
            path: container_path.to_string(),
            source,
        })
    }

    /// The API server: `LABSIM_APISERVER`, which must be `https://` on 127.0.0.0/8.
    ///
    /// # Errors
    /// [`ContractError`] when missing or not on loopback.
    pub fn apiserver(&self) -> Result<String, ContractError> {
        let s = self
            .apiserver
            .clone()
            .ok_or(ContractError::Missing("LABSIM_APISERVER"))?;
        let host = s
            .strip_prefix("https://")
            .and_then(|r| r.split(['/', ':']).next())
            .and_then(|h| h.parse::<Ipv4Addr>().ok());
        match host {
            Some(ip) if ip.is_loopback() => Ok(s.trim_end_matches('/').to_string()),
            _ => Err(ContractError::NotLoopback(s)),
        }
    }

    /// The in-cluster client configuration (client-go `rest.InClusterConfig`): the mounted
    /// service-account token, CA and namespace, with the API server at `LABSIM_APISERVER` (where
    /// kube-proxy's rules would take `KUBERNETES_SERVICE_HOST`, see docs/labsim.md).
    ///
    /// # Errors
    /// [`ContractError`] when the credentials are not mounted or the address is unusable.
    pub fn in_cluster_config(&self, user_agent: &str) -> Result<Config, ContractError> {
        let server = self.apiserver()?;
        let read = |f: &str| {
            let path = format!("{SERVICE_ACCOUNT_DIR}/{f}");
            let host = self.host_path(&path)?;
            std::fs::read_to_string(&host)
                .map_err(|source| ContractError::Credentials { path, source })
        };
        let token = read("token")?.trim().to_string();
        let ca = read("ca.crt")?;
        let namespace = read("namespace")
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|_| "default".into());
        Ok(Config {
            server,
            ca_pem: Some(ca),
            credentials: Credentials::Token(token),
            namespace,
            user_agent: user_agent.to_string(),
        })
    }

    /// A client for [`ContainerEnv::in_cluster_config`].
    ///
    /// # Errors
    /// [`ContractError`].
    pub fn kube_client(&self, user_agent: &str) -> Result<Client, ContractError> {
        Ok(Client::new(&self.in_cluster_config(user_agent)?)?)
    }
}

/// Reading a file through the mounts failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not mounted.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The file could not be read.
    #[error("open {path}: {source}")]
    Io {
        /// Container path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts() -> Mounts {
        Mounts::parse(
            r#"[{"containerPath":"/etc/kube-flannel/","hostPath":"/var/lib/kubelet/pods/u/volumes/kubernetes.io~configmap/flannel-cfg","readonly":true},
                {"containerPath":"/etc/cni/net.d","hostPath":"/etc/cni/net.d"},
                {"containerPath":"/etc","hostPath":"/node/etc"},
                {"containerPath":"/run/xtables.lock","hostPath":"/run/xtables.lock"}]"#,
        )
        .unwrap()
    }

    #[test]
    fn container_paths_resolve_through_the_longest_mount() {
        let m = mounts();
        let r = m.resolve("/etc/kube-flannel/net-conf.json").unwrap();
        assert_eq!(
            r.host_path,
            PathBuf::from(
                "/var/lib/kubelet/pods/u/volumes/kubernetes.io~configmap/flannel-cfg/net-conf.json"
            )
        );
        assert!(r.readonly);
        let r = m.resolve("/etc/cni/net.d/10-flannel.conflist").unwrap();
        assert_eq!(
            r.host_path,
            PathBuf::from("/etc/cni/net.d/10-flannel.conflist")
        );
        assert!(!r.readonly);
        assert_eq!(
            m.resolve("/etc/hosts").unwrap().host_path,
            PathBuf::from("/node/etc/hosts")
        );
        assert_eq!(
            m.resolve("/run/xtables.lock").unwrap().host_path,
            PathBuf::from("/run/xtables.lock"),
            "a file mount"
        );
        assert_eq!(
            m.resolve("/etc/cni/net.d").unwrap().host_path,
            PathBuf::from("/etc/cni/net.d")
        );
        assert!(m.resolve("/etcetera/x").is_none(), "prefix of a name only");
        assert!(m.resolve("/opt/cni/bin/flannel").is_none());
        assert_eq!(
            m.resolve("/etc/cni/net.d/../../hosts").unwrap().host_path,
            PathBuf::from("/node/etc/hosts"),
            "normalised before resolving"
        );
        assert!(
            m.resolve("/etc/cni/net.d/../../../../x").is_none(),
            ".. cannot climb out of every mount"
        );
        assert_eq!(Mounts::parse("").unwrap(), Mounts::default());
        assert!(Mounts::parse("{").is_err());
    }

    #[test]
    fn the_apiserver_must_be_loopback_https() {
        let mut e = ContainerEnv {
            apiserver: Some("https://127.100.49.2:8443".into()),
            ..Default::default()
        };
        assert_eq!(e.apiserver().unwrap(), "https://127.100.49.2:8443");
        for bad in [
            "https://10.96.0.1:443",
            "http://127.0.0.1:8080",
            "https://192.168.49.2:8443",
            "https://localhost:6443",
        ] {
            e.apiserver = Some(bad.into());
            assert!(
                matches!(e.apiserver(), Err(ContractError::NotLoopback(_))),
                "{bad}"
            );
        }
        e.apiserver = None;
        assert!(matches!(
            e.apiserver(),
            Err(ContractError::Missing("LABSIM_APISERVER"))
        ));
    }
}
