//! The kubeconfig the course copies from the control plane to the reader's computer ("Exposing the
//! kubeconfig"), and the one change it needs where node IPs cannot be reached from the host.
//!
//! The course runs `minikube ssh --node minikube cat '$HOME/.kube/config' >kubeconfig`, then, on
//! Mac or Windows only, replaces `<master-node-ip>:8443` with `127.0.0.1` and the host port Docker
//! publishes for the node's 8443 ("it's reachable if you are working on Linux"). minikube's kic
//! driver publishes each node container's 8443 on `127.0.0.1` with a random host port
//! (`pkg/drivers/kic/oci/oci.go`, `--publish=127.0.0.1::8443`); `docker port <node> 8443/tcp`
//! names it. Docker Desktop (macOS, Windows, and Docker Desktop on Linux) runs containers in a VM,
//! so its bridge networks are not routed to the host; Docker Engine on Linux routes them.
//!
//! kubeadm signs the API server's certificate for the advertise address and the service IP, not
//! for `127.0.0.1` (`cmd/kubeadm/app/phases/certs/certlist.go`, `GetAPIServerAltNames`), so after
//! the rewrite the cluster entry also gets `tls-server-name: <node IP>` (a kubeconfig cluster
//! field since Kubernetes 1.19, `k8s.io/client-go/tools/clientcmd/api/v1/types.go`): TLS still
//! checks the certificate against the name it was issued for. The course's text leaves this out;
//! with a config that adds `127.0.0.1` to `apiServer.certSANs` both work.

use std::net::IpAddr;

use serde_json::Value;

use crate::provider::{Minikube, ProviderError};
use crate::runner::{Command, RunError, Runner};

/// The API server port the course's kubeadm config binds (`localAPIEndpoint.bindPort: 8443`, as
/// minikube's own bootstrap does).
pub const API_PORT: u16 = 8443;

/// Where the course's kubeconfig lives on the control-plane node (the `docker` user's
/// `$HOME/.kube/config`, written by the commands `kubeadm init` prints).
pub const NODE_KUBECONFIG: &str = "$HOME/.kube/config";

/// Errors exporting or rewriting a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The node could not be reached or the file not read.
    #[error("cannot copy the kubeconfig from node {node}: {source}")]
    Provider {
        /// The control-plane node.
        node: String,
        /// The cause.
        #[source]
        source: ProviderError,
    },
    /// `cat` on the node failed (the file is missing before the course's `mkdir -p $HOME/.kube`,
    /// `cp`, `chown` steps).
    #[error(
        "node {node} has no readable {NODE_KUBECONFIG} (exit {code}): run the commands `kubeadm init` printed first; it said: {output}"
    )]
    Missing {
        /// The control-plane node.
        node: String,
        /// `cat`'s exit code.
        code: i32,
        /// What was printed (redacted).
        output: String,
    },
    /// The text is not a kubeconfig.
    #[error("the kubeconfig from {origin} is not valid YAML with a `clusters` list: {problem}")]
    Malformed {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// `docker port` could not be run or did not name a host port.
    #[error(
        "cannot find the host port Docker publishes for {container}'s {API_PORT}/tcp: {problem}; check `docker port {container} {API_PORT}/tcp`"
    )]
    PublishedPort {
        /// The node's container.
        container: String,
        /// What went wrong.
        problem: String,
    },
    /// The exported file could not be read back.
    #[error("cannot read the exported kubeconfig {path}: {source}; export it again")]
    Read {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write the kubeconfig to {path}: {source}")]
    Write {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// How the host reaches the cluster's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostNetwork {
    /// Node IPs are routed to the host (Docker Engine on Linux; labsim's loopback nodes): the
    /// kubeconfig works as copied.
    NodeIps,
    /// Only ports Docker publishes on `127.0.0.1` are reachable (Docker Desktop): the kubeconfig
    /// must point at the port published for the control plane's 8443.
    PublishedPorts,
}

/// Decides [`HostNetwork`] from the host OS (`std::env::consts::OS`) and Docker's own name for
/// the system it runs on (`docker info --format '{{.OperatingSystem}}'`, "Docker Desktop" for
/// Docker Desktop on any OS).
#[must_use]
pub fn host_network(os: &str, docker_operating_system: Option<&str>) -> HostNetwork {
    let desktop = docker_operating_system.is_some_and(|s| s.contains("Docker Desktop"));
    if os == "linux" && !desktop {
        HostNetwork::NodeIps
    } else {
        HostNetwork::PublishedPorts
    }
}

/// The host port in `docker port <container> 8443/tcp` output (`127.0.0.1:53486`, possibly also
/// `[::1]:53486` or `0.0.0.0:…` lines); the first IPv4 line wins.
#[must_use]
pub fn parse_published_port(output: &str) -> Option<u16> {
    let ports: Vec<(bool, u16)> = output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let (host, port) = line.rsplit_once(':')?;
            let port = port.parse().ok()?;
            Some((!host.starts_with('['), port))
        })
        .collect();
    ports
        .iter()
        .find(|(v4, _)| *v4)
        .or(ports.first())
        .map(|&(_, p)| p)
}

/// The command that asks Docker for the host port published for `container`'s API port.
#[must_use]
pub fn docker_port_command(container: &str) -> Command {
    Command::new("docker").args(["port", container, &format!("{API_PORT}/tcp")])
}

/// Rewrites every cluster whose server is `https://<host>:8443` to `https://127.0.0.1:<port>`,
/// keeping TLS verification against the original host with `tls-server-name` (unless the host
/// already is a loopback name). Returns the new kubeconfig (YAML) and how many clusters changed.
///
/// # Errors
/// [`KubeconfigError::Malformed`] when the text is not a kubeconfig.
pub fn rewrite_for_published_port(
    kubeconfig: &str,
    port: u16,
) -> Result<(String, usize), KubeconfigError> {
    let malformed = |problem: String| KubeconfigError::Malformed {
        origin: "the control plane".into(),
        problem,
    };
    let mut doc: Value =
        serde_saphyr::from_str(kubeconfig).map_err(|e| malformed(e.to_string()))?;
    let clusters = doc
        .get_mut("clusters")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| malformed("no `clusters` list".into()))?;
    let mut changed = 0;
    for entry in clusters {
        let Some(cluster) = entry.get_mut("cluster").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(server) = cluster.get("server").and_then(Value::as_str) else {
            continue;
        };
        let Some((host, server_port)) = split_server(server) else {
            continue;
        };
        if server_port != API_PORT {
            continue;
        }
        let loopback =
            host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback && !cluster.contains_key("tls-server-name") {
            cluster.insert("tls-server-name".into(), Value::String(host.clone()));
        }
        cluster.insert(
            "server".into(),
            Value::String(format!("https://127.0.0.1:{port}")),
        );
        changed += 1;
    }
    let text = serde_saphyr::to_string(&doc).map_err(|e| malformed(e.to_string()))?;
    Ok((text, changed))
}

/// The API server a kubeconfig's current context uses (else its first cluster), as (host, port).
///
/// # Errors
/// [`KubeconfigError::Malformed`] when the text is not a kubeconfig or names no `https://host:port`
/// server.
pub fn server(kubeconfig: &str) -> Result<(String, u16), KubeconfigError> {
    let malformed = |problem: String| KubeconfigError::Malformed {
        origin: "the host".into(),
        problem,
    };
    let doc: Value = serde_saphyr::from_str(kubeconfig).map_err(|e| malformed(e.to_string()))?;
    let clusters = doc
        .get("clusters")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no `clusters` list".into()))?;
    let current = doc.get("current-context").and_then(Value::as_str);
    let cluster_name = doc
        .get("contexts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == current && current.is_some())
        .and_then(|c| c.pointer("/context/cluster"))
        .and_then(Value::as_str);
    let entry = clusters
        .iter()
        .find(|c| cluster_name.is_some() && c.get("name").and_then(Value::as_str) == cluster_name)
        .or_else(|| clusters.first())
        .ok_or_else(|| malformed("an empty `clusters` list".into()))?;
    let server = entry
        .pointer("/cluster/server")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("a cluster without `server`".into()))?;
    split_server(server)
        .ok_or_else(|| malformed(format!("server {server:?} is not https://host:port")))
}

/// `https://host:port[/path]` → (host, port); IPv6 hosts keep no brackets.
fn split_server(server: &str) -> Option<(String, u16)> {
    let rest = server.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

/// A kubeconfig exported to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The kubeconfig text as the host should use it (a secret: never log it).
    pub text: String,
    /// The published host port it points at, when it was rewritten.
    pub published_port: Option<u16>,
}

/// Exports the course's kubeconfig from `control_plane` the way the course does (`cat` of
/// `$HOME/.kube/config` over `minikube ssh`; the transcript shows it with `client-key-data`
/// redacted), rewritten for `network`. For [`HostNetwork::PublishedPorts`] the host port comes
/// from `docker port <control_plane> 8443/tcp` (the node's container is named after it), asked
/// again at every call since it may change when the node restarts.
///
/// # Errors
/// [`KubeconfigError`] naming the step that failed.
pub async fn export(
    minikube: &Minikube,
    control_plane: &str,
    network: HostNetwork,
    runner: &Runner,
) -> Result<Exported, KubeconfigError> {
    let result = minikube
        .ssh(control_plane, &format!("cat \"{NODE_KUBECONFIG}\""))
        .await
        .map_err(|source| KubeconfigError::Provider {
            node: control_plane.to_string(),
            source,
        })?;
    if !result.success() {
        return Err(KubeconfigError::Missing {
            node: control_plane.to_string(),
            code: result.code,
            output: runner.redact(result.output.trim()),
        });
    }
    match network {
        HostNetwork::NodeIps => Ok(Exported {
            text: result.output,
            published_port: None,
        }),
        HostNetwork::PublishedPorts => {
            let port = published_port(control_plane, runner).await?;
            let (text, _) = rewrite_for_published_port(&result.output, port)?;
            Ok(Exported {
                text,
                published_port: Some(port),
            })
        }
    }
}

/// Asks Docker for the host port published for `container`'s 8443.
///
/// # Errors
/// [`KubeconfigError::PublishedPort`].
pub async fn published_port(container: &str, runner: &Runner) -> Result<u16, KubeconfigError> {
    let fail = |problem: String| KubeconfigError::PublishedPort {
        container: container.to_string(),
        problem,
    };
    let output = runner
        .run(&docker_port_command(container))
        .await
        .map_err(|e: RunError| fail(e.to_string()))?;
    if !output.success() {
        return Err(fail(format!(
            "docker port exited {}: {}",
            output.ending,
            output.stderr.trim()
        )));
    }
    parse_published_port(&output.stdout)
        .ok_or_else(|| fail(format!("no host port in {:?}", output.stdout.trim())))
}

/// Writes a kubeconfig for the host, readable by its owner only (it holds a client key).
///
/// # Errors
/// [`KubeconfigError::Write`].
pub fn write_private(path: &std::path::Path, text: &str) -> Result<(), KubeconfigError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |source| KubeconfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape kubeadm writes to admin.conf (`cmd/kubeadm/app/phases/kubeconfig`), with the
    /// course's cluster name `mk`, as the PTY returns it (CRLF).
    const ADMIN_CONF: &str = "apiVersion: v1\r\nclusters:\r\n- cluster:\r\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\r\n    server: https://192.168.49.2:8443\r\n  name: mk\r\ncontexts:\r\n- context:\r\n    cluster: mk\r\n    user: kubernetes-admin\r\n  name: kubernetes-admin@mk\r\ncurrent-context: kubernetes-admin@mk\r\nkind: Config\r\npreferences: {}\r\nusers:\r\n- name: kubernetes-admin\r\n  user:\r\n    client-certificate-data: Y2VydA==\r\n    client-key-data: a2V5\r\n";

    #[test]
    fn linux_docker_engine_reaches_node_ips_everything_else_uses_published_ports() {
        assert_eq!(
            host_network("linux", Some("Ubuntu 24.04.2 LTS")),
            HostNetwork::NodeIps
        );
        assert_eq!(host_network("linux", None), HostNetwork::NodeIps);
        assert_eq!(
            host_network("linux", Some("Docker Desktop")),
            HostNetwork::PublishedPorts
        );
        assert_eq!(
            host_network("macos", Some("Docker Desktop")),
            HostNetwork::PublishedPorts
        );
        assert_eq!(host_network("windows", None), HostNetwork::PublishedPorts);
    }

    #[test]
    fn docker_port_output_in_real_formats() {
        assert_eq!(parse_published_port("127.0.0.1:53486\n"), Some(53486));
        assert_eq!(
            parse_published_port("[::1]:32771\n127.0.0.1:32770\n"),
            Some(32770)
        );
        assert_eq!(
            parse_published_port("0.0.0.0:49154\n[::]:49154\n"),
            Some(49154)
        );
        assert_eq!(parse_published_port("[::1]:32771\n"), Some(32771));
        assert_eq!(parse_published_port(""), None);
        assert_eq!(
            parse_published_port("Error: No public port '8443/tcp' published for minikube\n"),
            None
        );
        assert_eq!(
            docker_port_command("minikube").argv(),
            ["docker", "port", "minikube", "8443/tcp"]
        );
    }

    #[test]
    fn the_course_s_rewrite_keeps_tls_verification_against_the_node_ip() {
        let (text, changed) = rewrite_for_published_port(ADMIN_CONF, 53486).unwrap();
        assert_eq!(changed, 1);
        // kube-rs reads it as kubectl would.
        let parsed = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        let cluster = parsed.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:53486"));
        assert_eq!(cluster.tls_server_name.as_deref(), Some("192.168.49.2"));
        assert_eq!(
            cluster.certificate_authority_data.as_deref(),
            Some("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==")
        );
        assert_eq!(
            parsed.current_context.as_deref(),
            Some("kubernetes-admin@mk")
        );
        assert!(text.contains("client-key-data: a2V5"), "{text}");
    }

    #[test]
    fn loopback_servers_other_ports_and_explicit_server_names_are_respected() {
        let conf = "clusters:\n- cluster:\n    server: https://127.0.0.1:8443\n  name: a\n- cluster:\n    server: https://10.0.0.1:6443\n  name: b\n- cluster:\n    server: https://192.168.49.2:8443\n    tls-server-name: control-plane.minikube.internal\n  name: c\n";
        let (text, changed) = rewrite_for_published_port(conf, 40000).unwrap();
        assert_eq!(changed, 2);
        let parsed = kube::config::Kubeconfig::from_yaml(&text).unwrap();
        let c = |i: usize| parsed.clusters[i].cluster.as_ref().unwrap().clone();
        assert_eq!(c(0).server.as_deref(), Some("https://127.0.0.1:40000"));
        assert_eq!(c(0).tls_server_name, None);
        assert_eq!(c(1).server.as_deref(), Some("https://10.0.0.1:6443"));
        assert_eq!(c(2).server.as_deref(), Some("https://127.0.0.1:40000"));
        assert_eq!(
            c(2).tls_server_name.as_deref(),
            Some("control-plane.minikube.internal")
        );
    }

    #[test]
    fn not_a_kubeconfig_is_said_so() {
        let err = rewrite_for_published_port("kind: Pod\n", 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `clusters` list"), "{err}");
        let err = rewrite_for_published_port("clusters: [", 1)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the kubeconfig from the control plane is not valid YAML"),
            "{err}"
        );
    }

    #[test]
    fn the_server_in_use_is_the_current_context_s() {
        assert_eq!(
            server(ADMIN_CONF).unwrap(),
            ("192.168.49.2".to_string(), 8443)
        );
        let (rewritten, _) = rewrite_for_published_port(ADMIN_CONF, 53486).unwrap();
        assert_eq!(
            server(&rewritten).unwrap(),
            ("127.0.0.1".to_string(), 53486)
        );
        let two = "clusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: a\n- cluster:\n    server: https://[fd00::2]:8443\n  name: b\ncontexts:\n- context:\n    cluster: b\n  name: ctx\ncurrent-context: ctx\n";
        assert_eq!(server(two).unwrap(), ("fd00::2".to_string(), 8443));
        let err = server("clusters:\n- cluster:\n    server: http://x\n").unwrap_err();
        assert!(
            err.to_string().contains("is not https://host:port"),
            "{err}"
        );
    }

    #[test]
    fn written_kubeconfigs_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = std::env::temp_dir().join(format!("k8s-labs-kubeconfig-{}", std::process::id()));
        write_private(&path, "x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(mode & 0o777, 0o600);
    }
}
