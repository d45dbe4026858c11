//! A node's own files, prepared on the host when the node is created (docs/labsim.md, "Node
//! filesystem"): the directories bound over the host's, the node-private `/etc/passwd`,
//! `/etc/group`, `/etc/sudoers`, `/etc/hosts`, `/etc/hostname`, `/etc/environment`, the docker
//! user's home, and the enabled `ssh.service`.
//!
//! Users follow minikube's kicbase image (`deploy/kicbase/Dockerfile`): a `docker` user with a home
//! in `/home/docker`, member of `sudo`, with passwordless sudo.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::{NodeError, NodeInfo, write_atomic};
use crate::paths::{NodePaths, node};

/// The docker user's numeric IDs inside a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DockerIds {
    /// The user ID.
    pub uid: u32,
    /// The ID of its primary group, `docker`.
    pub gid: u32,
}

fn ids_in(table: &str) -> impl Iterator<Item = u32> + '_ {
    table
        .lines()
        .filter_map(|l| l.split(':').nth(2)?.parse().ok())
}

/// The docker user's IDs: 1000 like kicbase, or the first ID ≥ 1000 that neither the host's
/// passwd nor its group file uses (files the node writes into bound directories then show a
/// user that does not exist on the host, instead of someone else's).
pub fn choose_docker_ids(host_passwd: &str, host_group: &str) -> DockerIds {
    let used: std::collections::HashSet<u32> =
        ids_in(host_passwd).chain(ids_in(host_group)).collect();
    let id = (1000..).find(|i| !used.contains(i)).expect("a free id");
    DockerIds { uid: id, gid: id }
}

/// The node's `/etc/passwd`: the host's system accounts (IDs below 1000, and `nobody`) plus
/// `docker`.
pub fn node_passwd(host_passwd: &str, ids: DockerIds) -> String {
    let mut out = String::new();
    for line in host_passwd.lines() {
        let mut f = line.split(':');
        let name = f.next().unwrap_or("");
        let uid: Option<u32> = f.nth(1).and_then(|u| u.parse().ok());
        if name == "docker" || uid.is_none() {
            continue;
        }
        if uid.is_some_and(|u| u < 1000 || u == 65534) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "docker:x:{}:{}:,,,:{}:/bin/bash\n",
        ids.uid,
        ids.gid,
        node::DOCKER_HOME
    ));
    out
}

/// The node's `/etc/group`: the host's system groups with `docker` added to `sudo`, plus the
/// `docker` group.
pub fn node_group(host_group: &str, ids: DockerIds) -> String {
    let mut out = String::new();
    for line in host_group.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() != 4 || fields[0] == "docker" {
            continue;
        }
        let Ok(gid) = fields[2].parse::<u32>() else {
            continue;
        };
        if gid >= 1000 && gid != 65534 {
            continue;
        }
        if fields[0] == "sudo" {
            let mut members: Vec<&str> = fields[3].split(',').filter(|m| !m.is_empty()).collect();
            members.push("docker");
            out.push_str(&format!("sudo:x:{}:{}\n", fields[2], members.join(",")));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !out.lines().any(|l| l.starts_with("sudo:")) {
        out.push_str("sudo:x:27:docker\n");
    }
    out.push_str(&format!("docker:x:{}:\n", ids.gid));
    out
}

/// The node's `/etc/shadow`: every account of the node's passwd without a password (`*`), which
/// PAM's account check (run by `sudo`) needs; no hash from the host is copied.
pub fn node_shadow(passwd: &str) -> String {
    passwd
        .lines()
        .filter_map(|l| l.split(':').next())
        .filter(|n| !n.is_empty())
        .map(|n| format!("{n}:*:19000:0:99999:7:::\n"))
        .collect()
}

/// The node's `/etc/sudoers` (written 0440 root, as sudo requires). `secure_path` starts with the
/// node's labsim programs so `sudo kubeadm`, `sudo crictl`, … find them, and `ETCDCTL_ENDPOINTS`
/// survives `sudo` (docs/labsim.md, "Addresses").
pub fn sudoers() -> String {
    format!(
        "# labsim node: see docs/labsim.md\n\
         Defaults\tenv_reset\n\
         Defaults\tmail_badpass\n\
         Defaults\tsecure_path=\"{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n\
         Defaults\tenv_keep += \"ETCDCTL_ENDPOINTS\"\n\
         Defaults\tuse_pty\n\
         root\tALL=(ALL:ALL) ALL\n\
         %sudo\tALL=(ALL:ALL) ALL\n\
         docker\tALL=(ALL) NOPASSWD:ALL\n",
        node::LABSIM_BIN
    )
}

/// The node's `/etc/hosts`: localhost, the node itself, and `host.minikube.internal` (the
/// network's gateway address, which minikube adds to every node: `pkg/minikube/machine/start.go
/// AddHostAlias`).
pub fn hosts(info: &NodeInfo) -> String {
    let [a, b, c, _] = info.ip.octets();
    format!(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         {}\t{}\n\
         {a}.{b}.{c}.1\thost.minikube.internal\n",
        info.ip, info.node
    )
}

/// The node's `/etc/environment` (read by PAM for `sudo` and logins).
pub fn environment(info: &NodeInfo) -> String {
    format!("{}\n", etcdctl_endpoints(info))
}

/// `ETCDCTL_ENDPOINTS=https://<node-ip>:2379`: on labsim, etcd listens on the node IP only, so the
/// course's etcdctl alias (which relies on the default endpoint) is pointed there.
pub fn etcdctl_endpoints(info: &NodeInfo) -> String {
    format!("ETCDCTL_ENDPOINTS=https://{}:2379", info.ip)
}

/// The unit of the node's stand-in sshd, enabled at creation like kicbase's `ssh.service`.
pub const SSH_UNIT: &str = "[Unit]\n\
Description=OpenBSD Secure Shell server (labsim stand-in: greets, does not log in)\n\
Documentation=man:sshd(8)\n\
After=network.target\n\
\n\
[Service]\n\
ExecStart=/opt/labsim/bin/sshd -D\n\
Restart=on-failure\n\
\n\
[Install]\n\
WantedBy=multi-user.target\n";

fn mkdir(p: &Path) -> Result<(), NodeError> {
    std::fs::create_dir_all(p).map_err(NodeError::io("cannot create", p))
}

fn write_new(path: &Path, content: &str, mode: u32) -> Result<(), NodeError> {
    if path.exists() {
        return Ok(());
    }
    write_atomic(path, content.as_bytes(), mode)
}

fn chown_tree(path: &Path, ids: DockerIds) -> Result<(), NodeError> {
    std::os::unix::fs::lchown(path, Some(ids.uid), Some(ids.gid))
        .map_err(NodeError::io("cannot chown", path))?;
    if path.is_dir() && !path.is_symlink() {
        for e in std::fs::read_dir(path).map_err(NodeError::io("cannot read", path))? {
            let e = e.map_err(NodeError::io("cannot read", path))?;
            chown_tree(&e.path(), ids)?;
        }
    }
    Ok(())
}

/// Prepares (or completes) the node's directory on the host: `info.json`, every directory of
/// [`node::BIND_DIRS`] under `root/`, the node-private files, the docker user's home (from
/// `/etc/skel`), and `ssh.service` enabled. Files that already exist are kept, so a node's changes
/// survive `node stop`/`node start`.
///
/// # Errors
/// [`NodeError::Io`] when something cannot be written.
pub fn prepare(paths: &NodePaths, info: &NodeInfo) -> Result<(), NodeError> {
    mkdir(paths.dir())?;
    info.write(&paths.info_json())?;
    for d in node::BIND_DIRS {
        mkdir(&paths.in_root(d))?;
    }
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let (host_passwd, host_group) = (read("/etc/passwd"), read("/etc/group"));
    let passwd_path = paths.in_root("/etc/passwd");
    let ids = if passwd_path.exists() {
        docker_ids_in(&std::fs::read_to_string(&passwd_path).unwrap_or_default())
            .unwrap_or_else(|| choose_docker_ids(&host_passwd, &host_group))
    } else {
        choose_docker_ids(&host_passwd, &host_group)
    };
    write_new(&passwd_path, &node_passwd(&host_passwd, ids), 0o644)?;
    write_new(
        &paths.in_root("/etc/group"),
        &node_group(&host_group, ids),
        0o644,
    )?;
    let shadow = paths.in_root("/etc/shadow");
    if !shadow.exists() {
        let passwd = std::fs::read_to_string(&passwd_path).unwrap_or_default();
        write_atomic(&shadow, node_shadow(&passwd).as_bytes(), 0o640)?;
        // Group `shadow`, as on Debian, so unix_chkpwd can read it.
        let gid = host_group
            .lines()
            .find(|l| l.starts_with("shadow:"))
            .and_then(|l| l.split(':').nth(2)?.parse().ok());
        std::os::unix::fs::lchown(&shadow, Some(0), gid)
            .map_err(NodeError::io("cannot chown", &shadow))?;
    }
    write_new(&paths.in_root("/etc/sudoers"), &sudoers(), 0o440)?;
    write_new(
        &paths.in_root("/etc/hostname"),
        &format!("{}\n", info.node),
        0o644,
    )?;
    write_new(&paths.in_root("/etc/hosts"), &hosts(info), 0o644)?;
    write_new(
        &paths.in_root("/etc/environment"),
        &environment(info),
        0o644,
    )?;
    std::fs::set_permissions(
        paths.in_root("/root"),
        std::fs::Permissions::from_mode(0o700),
    )
    .map_err(NodeError::io("cannot chmod", &paths.in_root("/root")))?;

    let home = paths.in_root(node::DOCKER_HOME);
    if !home.exists() {
        mkdir(&home)?;
        if let Ok(skel) = std::fs::read_dir("/etc/skel") {
            for e in skel.flatten() {
                if e.path().is_file() {
                    let to = home.join(e.file_name());
                    std::fs::copy(e.path(), &to).map_err(NodeError::io("cannot create", &to))?;
                }
            }
        }
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o750))
            .map_err(NodeError::io("cannot chmod", &home))?;
        chown_tree(&home, ids)?;
    }

    // kicbase has an /etc/cni/net.d for CNI configurations (empty once minikube has set aside the
    // podman bridge it ships, and with --no-kubernetes no CNI is installed): flannel's install-cni
    // copies its conflist there, and a hostPath volume does not create a missing directory.
    let net_d = paths.in_root("/etc/cni/net.d");
    std::fs::create_dir_all(&net_d).map_err(NodeError::io("cannot create", &net_d))?;
    // kicbase ships the reference CNI plugins in /opt/cni/bin (crate::runtime::cni).
    let cni_bin = paths.in_root("/opt/cni/bin");
    crate::runtime::cni::install_reference_plugins(&cni_bin)
        .map_err(NodeError::io("cannot create", &cni_bin))?;
    let units = paths.in_root(node::UNIT_DIR);
    let ssh = units.join("ssh.service");
    if !ssh.exists() {
        write_atomic(&ssh, SSH_UNIT.as_bytes(), 0o644)?;
        let wants = units.join("multi-user.target.wants");
        mkdir(&wants)?;
        let link = wants.join("ssh.service");
        if link.symlink_metadata().is_err() {
            symlink(format!("{}/ssh.service", node::UNIT_DIR), &link)
                .map_err(NodeError::io("cannot create", &link))?;
        }
    }
    Ok(())
}

fn docker_ids_in(passwd: &str) -> Option<DockerIds> {
    let line = passwd.lines().find(|l| l.starts_with("docker:"))?;
    let f: Vec<&str> = line.split(':').collect();
    Some(DockerIds {
        uid: f.get(2)?.parse().ok()?,
        gid: f.get(3)?.parse().ok()?,
    })
}

/// Points `root/opt/labsim/bin/<program>` at `labsim` for every node program (node-init does this
/// at every start, so a rebuilt or moved labsim binary is picked up).
///
/// # Errors
/// [`NodeError::Io`].
pub fn link_programs(bin_dir: &Path, labsim: &Path) -> Result<(), NodeError> {
    mkdir(bin_dir)?;
    for p in node::LABSIM_PROGRAMS {
        let link = bin_dir.join(p);
        if link.symlink_metadata().is_ok() {
            std::fs::remove_file(&link).map_err(NodeError::io("cannot replace", &link))?;
        }
        symlink(labsim, &link).map_err(NodeError::io("cannot create", &link))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
cloudsdk:x:1000:1000::/home/cloudsdk:/bin/bash\n";
    const GROUP: &str = "root:x:0:\nsudo:x:27:alice\ndocker:x:998:bob\nusers:x:100:\ncloudsdk:x:1000:\nnogroup:x:65534:\n";

    #[test]
    fn docker_gets_the_first_free_id_from_1000() {
        assert_eq!(
            choose_docker_ids(PASSWD, GROUP),
            DockerIds {
                uid: 1001,
                gid: 1001
            }
        );
        assert_eq!(choose_docker_ids("root:x:0:0::/:/bin/sh\n", "").uid, 1000);
    }

    #[test]
    fn passwd_and_group_keep_system_accounts_and_add_docker() {
        let ids = DockerIds {
            uid: 1001,
            gid: 1001,
        };
        let p = node_passwd(PASSWD, ids);
        assert!(p.contains("root:x:0:0:root:/root:/bin/bash\n"));
        assert!(p.contains("nobody:x:65534"));
        assert!(!p.contains("cloudsdk"));
        assert!(p.ends_with("docker:x:1001:1001:,,,:/home/docker:/bin/bash\n"));
        let g = node_group(GROUP, ids);
        assert!(g.contains("sudo:x:27:alice,docker\n"));
        assert!(
            !g.contains("docker:x:998"),
            "the host's docker group is replaced"
        );
        assert!(g.ends_with("docker:x:1001:\n"));
        assert!(!g.contains("cloudsdk"));
        assert_eq!(docker_ids_in(&p), Some(ids));
        let shadow = node_shadow(&p);
        assert!(shadow.contains("root:*:"), "no password hash is copied");
        assert!(shadow.ends_with("docker:*:19000:0:99999:7:::\n"));
    }

    #[test]
    fn sudoers_keeps_labsim_first_and_the_etcd_endpoint() {
        let s = sudoers();
        assert!(s.contains("secure_path=\"/opt/labsim/bin:/usr/local/sbin"));
        assert!(s.contains("env_keep += \"ETCDCTL_ENDPOINTS\""));
        assert!(s.contains("docker\tALL=(ALL) NOPASSWD:ALL"));
    }
}
