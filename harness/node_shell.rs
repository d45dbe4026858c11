//! The node-side commands of the course (kubeadm, crictl, ctr, journalctl, kubectl's table output)
//! and the parsers of what they print.
//!
//! Every table is read by its header (STYLE.md 5): a column starts where its header starts, so
//! columns that differ between versions (`crictl ps` gained `NAMESPACE` in cri-tools 1.32) or
//! cells with spaces (`About a minute ago`) are read right. CRLF from `minikube ssh` is tolerated
//! everywhere. Formats: CLI-REFERENCE.md (kubeadm §2, crictl §3, ctr §4, journal §5).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// Errors reading a command's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// The output does not have the shape the command prints.
    #[error("cannot read the output of `{command}`: {problem}")]
    Malformed {
        /// The command whose output it is.
        command: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn malformed(command: &str, problem: impl Into<String>) -> ShellError {
    ShellError::Malformed {
        command: command.to_string(),
        problem: problem.into(),
    }
}

/// A table printed by a Go `tabwriter` (kubectl, crictl, ctr): the header names and one map per row
/// from header name to cell (trimmed; empty when the row is shorter).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Header names in order (`POD ID` stays one name).
    pub headers: Vec<String>,
    /// Rows, header → cell.
    pub rows: Vec<BTreeMap<String, String>>,
}

impl Table {
    /// The cells of column `name`, in row order.
    #[must_use]
    pub fn column(&self, name: &str) -> Vec<&str> {
        self.rows
            .iter()
            .map(|r| r.get(name).map_or("", String::as_str))
            .collect()
    }

    /// Whether the header has column `name`.
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|h| h == name)
    }
}

static HEADER_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\S+(?: \S+)*").expect("valid regex"));

/// Reads a tabwriter table whose first non-empty line is the header. Header names are separated
/// by at least two spaces (tabwriter pads with three or four), so `POD ID` and `NOMINATED NODE`
/// stay whole. A row's cell for a column is the text from the column's start to the next
/// column's start.
///
/// # Errors
/// [`ShellError::Malformed`] when there is no header line.
pub fn parse_table(command: &str, text: &str) -> Result<Table, ShellError> {
    let text = text.replace('\r', "");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or_else(|| malformed(command, "it printed nothing, not even a header"))?;
    let header: Vec<char> = header.chars().collect();
    let header_text: String = header.iter().collect();
    let columns: Vec<(usize, String)> = HEADER_NAME
        .find_iter(&header_text)
        .map(|m| {
            (
                header_text[..m.start()].chars().count(),
                m.as_str().to_string(),
            )
        })
        .collect();
    if columns.is_empty() {
        return Err(malformed(command, "the header line is empty"));
    }
    let rows = lines
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            columns
                .iter()
                .enumerate()
                .map(|(i, (start, name))| {
                    let end = columns.get(i + 1).map_or(chars.len(), |(s, _)| *s);
                    let cell: String = chars
                        .get(*start.min(&chars.len())..end.min(chars.len()))
                        .unwrap_or_default()
                        .iter()
                        .collect();
                    (name.clone(), cell.trim().to_string())
                })
                .collect()
        })
        .collect();
    Ok(Table {
        headers: columns.into_iter().map(|(_, n)| n).collect(),
        rows,
    })
}

/// What `crictl version` prints (cri-tools `cmd/crictl/version.go`: four `Key:  value` lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrictlVersion {
    /// `Version` (containerd reports the CRI version `0.1.0`).
    pub version: String,
    /// `RuntimeName` (`containerd`).
    pub runtime_name: String,
    /// `RuntimeVersion` (`v1.7.27`).
    pub runtime_version: String,
    /// `RuntimeApiVersion` (`v1`; the course shows the old `v1alpha2`).
    pub runtime_api_version: String,
}

/// Reads `crictl version`.
///
/// # Errors
/// [`ShellError::Malformed`] naming the missing key.
pub fn parse_crictl_version(text: &str) -> Result<CrictlVersion, ShellError> {
    let values: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let get = |key: &str| {
        values
            .get(key)
            .map(|v| (*v).to_string())
            .ok_or_else(|| malformed("crictl version", format!("no `{key}:` line")))
    };
    Ok(CrictlVersion {
        version: get("Version")?,
        runtime_name: get("RuntimeName")?,
        runtime_version: get("RuntimeVersion")?,
        runtime_api_version: get("RuntimeApiVersion")?,
    })
}

/// One row of `crictl ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrictlContainer {
    /// `CONTAINER`: the container ID, cut to 13 characters.
    pub id: String,
    /// `STATE`: `Running`, `Exited`, …
    pub state: String,
    /// `NAME`: the container's name in the pod spec.
    pub name: String,
    /// `ATTEMPT`: the restart attempt.
    pub attempt: String,
    /// `POD ID`: the sandbox ID, cut to 13 characters (also the pause container's ID prefix).
    pub pod_id: String,
    /// `POD`: the pod's name.
    pub pod: String,
    /// `NAMESPACE` (cri-tools 1.32+), `None` before.
    pub namespace: Option<String>,
}

/// Reads `crictl ps [-a] [--name …]` by header; `NAMESPACE` is optional (cri-tools ≤ 1.31 have
/// none).
///
/// # Errors
/// [`ShellError::Malformed`] when a required column is missing.
pub fn parse_crictl_ps(text: &str) -> Result<Vec<CrictlContainer>, ShellError> {
    let table = parse_table("crictl ps", text)?;
    for required in ["CONTAINER", "STATE", "NAME", "POD ID", "POD"] {
        if !table.has(required) {
            return Err(malformed(
                "crictl ps",
                format!("no {required} column in the header {:?}", table.headers),
            ));
        }
    }
    let namespaced = table.has("NAMESPACE");
    Ok(table
        .rows
        .iter()
        .map(|r| CrictlContainer {
            id: r["CONTAINER"].clone(),
            state: r["STATE"].clone(),
            name: r["NAME"].clone(),
            attempt: r.get("ATTEMPT").cloned().unwrap_or_default(),
            pod_id: r["POD ID"].clone(),
            pod: r["POD"].clone(),
            namespace: namespaced.then(|| r["NAMESPACE"].clone()),
        })
        .collect())
}

/// The container state in `crictl inspect` JSON (`status.state`, e.g. `CONTAINER_RUNNING`; the
/// key order changed in cri-tools 1.31, the path did not). Several IDs print an array: the first
/// is read.
///
/// # Errors
/// [`ShellError::Malformed`] when it is not JSON or has no `status.state`.
pub fn parse_crictl_inspect_state(text: &str) -> Result<String, ShellError> {
    let value: serde_json::Value = serde_json::from_str(text.trim())
        .map_err(|e| malformed("crictl inspect", format!("not JSON: {e}")))?;
    let status = match &value {
        serde_json::Value::Array(items) => items.first().map(|i| &i["status"]),
        other => Some(&other["status"]),
    };
    status
        .and_then(|s| s["state"].as_str())
        .map(str::to_string)
        .ok_or_else(|| malformed("crictl inspect", "no status.state"))
}

/// One row of `ctr --namespace k8s.io container list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtrContainer {
    /// The full 64-hex container ID (a pause container's is its sandbox's ID).
    pub id: String,
    /// The image reference (`registry.k8s.io/pause:3.10`, `-` when none).
    pub image: String,
}

impl CtrContainer {
    /// Whether this is a pod sandbox's pause container (image `…/pause:<tag>`).
    #[must_use]
    pub fn is_pause(&self) -> bool {
        is_pause_image(&self.image)
    }
}

/// Whether `image` is the pause image (`registry.k8s.io/pause:3.x`, or a mirror of it).
#[must_use]
pub fn is_pause_image(image: &str) -> bool {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = repo
        .rsplit_once(':')
        .map_or(repo, |(r, tag)| if tag.contains('/') { repo } else { r });
    repo == "pause" || repo.ends_with("/pause")
}

/// Reads `ctr container list` (header `CONTAINER IMAGE RUNTIME`, containerd 1.6–2.2).
///
/// # Errors
/// [`ShellError::Malformed`] when a required column is missing.
pub fn parse_ctr_containers(text: &str) -> Result<Vec<CtrContainer>, ShellError> {
    let table = parse_table("ctr container list", text)?;
    for required in ["CONTAINER", "IMAGE"] {
        if !table.has(required) {
            return Err(malformed(
                "ctr container list",
                format!("no {required} column in the header {:?}", table.headers),
            ));
        }
    }
    Ok(table
        .rows
        .iter()
        .map(|r| CtrContainer {
            id: r["CONTAINER"].clone(),
            image: r["IMAGE"].clone(),
        })
        .collect())
}

/// The join command `kubeadm init` prints (`cmd/kubeadm/app/cmd/util/join.go`). The token is a
/// secret: `Debug` and `Display` hide it; [`command`](Self::command) gives the real text.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinCommand {
    /// `host:port` of the API server.
    pub endpoint: String,
    /// The bootstrap token `[a-z0-9]{6}.[a-z0-9]{16}`.
    token: String,
    /// `sha256:<64 hex>`, the CA's public key pin (not a secret).
    pub ca_hash: String,
}

impl JoinCommand {
    /// A join command from its parts.
    #[must_use]
    pub fn new(endpoint: &str, token: &str, ca_hash: &str) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            token: token.to_string(),
            ca_hash: ca_hash.to_string(),
        }
    }

    /// The token (a secret: register it with the redactor before anything prints it).
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The command on one line, as the reader types it: `kubeadm join … --discovery-token-ca-cert-hash …`.
    #[must_use]
    pub fn command(&self) -> String {
        format!(
            "kubeadm join {} --token {} --discovery-token-ca-cert-hash {}",
            self.endpoint, self.token, self.ca_hash
        )
    }
}

impl fmt::Debug for JoinCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for JoinCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kubeadm join {} --token {} --discovery-token-ca-cert-hash {}",
            self.endpoint,
            crate::redact::BOOTSTRAP_TOKEN,
            self.ca_hash
        )
    }
}

/// What the course needs from `kubeadm init`'s output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOutput {
    /// The banner `Your Kubernetes control-plane has initialized successfully!` was printed.
    pub initialized: bool,
    /// The three kubeconfig lines (`mkdir -p $HOME/.kube`, `sudo cp -i …`, `sudo chown …`).
    pub kubeconfig_instructions: Vec<String>,
    /// The join command.
    pub join: JoinCommand,
}

/// The kubeconfig instructions `kubeadm init` prints (`cmd/kubeadm/app/cmd/phases/init/showjoincommand.go`
/// in 1.26 and 1.33 alike), which the course asks the reader to run.
pub const KUBECONFIG_INSTRUCTIONS: [&str; 3] = [
    "mkdir -p $HOME/.kube",
    "sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config",
    "sudo chown $(id -u):$(id -g) $HOME/.kube/config",
];

static JOIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"kubeadm join (\S+) --token ([a-z0-9]{6}\.[a-z0-9]{16})\s*(?:\\\s*)?--discovery-token-ca-cert-hash (sha256:[0-9a-f]{64})",
    )
    .expect("valid regex")
});

/// Reads `kubeadm init`'s output (1.26 through 1.36: the banner, the kubeconfig lines and the join
/// command split over two lines with a backslash and a tab).
///
/// # Errors
/// [`ShellError::Malformed`] when there is no join command with a well-formed token and hash.
pub fn parse_kubeadm_init(text: &str) -> Result<InitOutput, ShellError> {
    let text = text.replace('\r', "");
    let join = JOIN.captures(&text).ok_or_else(|| {
        malformed(
            "kubeadm init",
            "no `kubeadm join <host:port> --token <[a-z0-9]{6}.[a-z0-9]{16}> --discovery-token-ca-cert-hash sha256:<64 hex>` command",
        )
    })?;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    Ok(InitOutput {
        initialized: lines.contains(&"Your Kubernetes control-plane has initialized successfully!"),
        kubeconfig_instructions: KUBECONFIG_INSTRUCTIONS
            .iter()
            .filter(|i| lines.contains(i))
            .map(|i| (*i).to_string())
            .collect(),
        join: JoinCommand::new(&join[1], &join[2], &join[3]),
    })
}

/// Whether a failed `kubeadm join`/`init` printed a fatal preflight error for check `name`
/// (`\t[ERROR <name>]: …`, `cmd/kubeadm/app/preflight/checks.go`).
#[must_use]
pub fn preflight_error(output: &str, name: &str) -> bool {
    output.contains(&format!("[ERROR {name}]"))
}

/// What `kubectl apply` printed: one `kind[.group]/name verb` per line, e.g.
/// `("daemonset.apps/kube-flannel-ds", "created")`. Other lines (warnings) are skipped.
#[must_use]
pub fn parse_applied(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| l.trim_end_matches('\r').trim())
        .filter_map(|l| {
            let (object, verb) = l.rsplit_once(' ')?;
            (object.contains('/')
                && !object.contains(' ')
                && matches!(
                    verb,
                    "created" | "configured" | "unchanged" | "serverside-applied"
                ))
            .then(|| (object.to_string(), verb.to_string()))
        })
        .collect()
}

/// What `kubectl cluster-info` printed: `(service name, URL)` per `… is running at URL` line, the
/// control plane first (`Kubernetes control plane`). ANSI colours (kubectl 1.27) are removed.
#[must_use]
pub fn parse_cluster_info(text: &str) -> Vec<(String, String)> {
    static ANSI: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\x1b\[[0-9;]*m").expect("valid regex"));
    ANSI.replace_all(text, "")
        .lines()
        .filter_map(|l| {
            let (name, url) = l.trim_end_matches('\r').split_once(" is running at ")?;
            Some((name.trim().to_string(), url.trim().to_string()))
        })
        .collect()
}

/// One journal line in journald's short format (`Nov 28 04:38:54 host kubelet[648]: message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    /// The syslog identifier (`kubelet`, `systemd`).
    pub identifier: String,
    /// The message (for the kubelet, a klog line).
    pub message: String,
}

static JOURNAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Z][a-z]{2} [ 0-9]\d \d{2}:\d{2}:\d{2} \S+ ([^\[:\s]+)(?:\[\d+\])?: (.*)$")
        .expect("valid regex")
});

/// Reads `journalctl` short output; boot separators and `-- No entries --` are skipped.
#[must_use]
pub fn parse_journal(text: &str) -> Vec<JournalLine> {
    text.lines()
        .filter_map(|l| {
            let c = JOURNAL.captures(l.trim_end_matches('\r'))?;
            Some(JournalLine {
                identifier: c[1].to_string(),
                message: c[2].to_string(),
            })
        })
        .collect()
}

/// Reads a klog structured message's quoted message and `key="value"` pairs: `"RemoveContainer"
/// containerID="abc"` → (`RemoveContainer`, {containerID: abc}). The klog header (`I1128 …
/// scope.go:117] `) is skipped.
#[must_use]
pub fn parse_klog(message: &str) -> Option<(String, BTreeMap<String, String>)> {
    static PAIR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"([A-Za-z][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)""#).expect("valid regex")
    });
    let body = message.split_once("] ").map_or(message, |(_, b)| b);
    let body = body.strip_prefix('"')?;
    let end = body.find('"')?;
    let msg = body[..end].to_string();
    let pairs = PAIR
        .captures_iter(&body[end + 1..])
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    Some((msg, pairs))
}

/// Runs `command` on `node` as its user and checks it exits 0 and prints exactly `expected`'s
/// lines (`<profile>` expanded; CRLF and trailing blanks ignored).
///
/// # Errors
/// [`crate::course::CourseError`] with what it printed.
pub async fn expect_output(
    lab: &crate::lab::Lab,
    node: &str,
    command: &str,
    expected: &str,
) -> Result<(), crate::course::CourseError> {
    let r = lab.run_on(node, command).await?;
    let lines = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.trim_end_matches('\r').trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let want = lines(&lab.expand(expected));
    if r.success() && lines(&r.output) == want {
        Ok(())
    } else {
        Err(crate::course::CourseError::Unexpected {
            what: format!("`{command}` on {node}"),
            expected: want.join("\n"),
            found: format!(
                "exit {}: {}",
                r.code,
                lab.minikube().runner().redact(r.output.trim_end())
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_table(t: &Table) -> String {
        let mut out = format!("headers: {:?}\n", t.headers);
        for r in &t.rows {
            out.push_str(&format!("{r:?}\n"));
        }
        out
    }

    /// cri-tools ≤ 1.31 (the course's 1.26 era: no NAMESPACE) and 1.32+ (NAMESPACE), CRLF from the
    /// PTY, a CREATED cell with spaces.
    #[test]
    fn crictl_ps_with_and_without_namespace() {
        let old = "CONTAINER           IMAGE               CREATED             STATE               NAME                ATTEMPT             POD ID              POD\r\n331bc172b5342       da23b04751258       2 minutes ago       Running             app                 0                   10301445cf6cd       hello-world-5d6cfd9db8-jjrn5\r\n277b37dc8a3a5       b6cb6292a4954       About an hour ago   Running             traefik             0                   29c2cbf8e5478       traefik-x2x7v\r\n";
        let new = "CONTAINER           IMAGE               CREATED              STATE               NAME                ATTEMPT             POD ID              POD                            NAMESPACE\naa47d4d7154eb       2b21009ab47e4       56 seconds ago       Running             app                 0                   5b77f1e68e741       hello-world-66b69c4dc5-xjdk7   default\nb6b47db47a113       f918ab882d1ef       About a minute ago   Running             traefik             0                   15c98f43819a3       traefik-qfzpn                  traefik\n";
        let empty = "CONTAINER           IMAGE               CREATED             STATE               NAME                ATTEMPT             POD ID              POD\n";
        let rendered: Vec<String> = [old, new, empty]
            .iter()
            .map(|s| format!("{:#?}", parse_crictl_ps(s)))
            .collect();
        insta::assert_snapshot!(rendered.join("\n---\n"));
        assert!(parse_crictl_ps("CONTAINER ID   IMAGE\n").is_err());
    }

    #[test]
    fn crictl_version_current_and_course() {
        let current = "Version:  0.1.0\r\nRuntimeName:  containerd\r\nRuntimeVersion:  v1.7.27\r\nRuntimeApiVersion:  v1\r\n";
        let course = "Version: 0.1.0\nRuntimeName: containerd\nRuntimeVersion: v1.6.15\nRuntimeApiVersion: v1alpha2\n";
        insta::assert_snapshot!(format!(
            "{:?}\n{:?}\n{:?}",
            parse_crictl_version(current),
            parse_crictl_version(course),
            parse_crictl_version("Version:  0.1.0\n")
        ));
    }

    #[test]
    fn crictl_inspect_state_in_both_key_orders() {
        let old = r#"{"status": {"id": "58cf", "metadata": {"attempt": 0, "name": "traefik"}, "state": "CONTAINER_RUNNING"}, "info": {}}"#;
        let new = r#"{"info": {"pid": 4}, "status": {"state": "CONTAINER_EXITED", "id": "58cf"}}"#;
        let many = r#"[{"info": {}, "status": {"state": "CONTAINER_CREATED"}}]"#;
        assert_eq!(
            parse_crictl_inspect_state(old).unwrap(),
            "CONTAINER_RUNNING"
        );
        assert_eq!(parse_crictl_inspect_state(new).unwrap(), "CONTAINER_EXITED");
        assert_eq!(
            parse_crictl_inspect_state(many).unwrap(),
            "CONTAINER_CREATED"
        );
        assert!(parse_crictl_inspect_state("FATA[0000] no such container").is_err());
    }

    /// containerd 1.6 (the course: IDs cut by the course's text, no RUNTIME padding issue) and 2.x
    /// (tabwriter 4/8/4 with a trailing tab on every row).
    #[test]
    fn ctr_container_list_in_real_formats() {
        let current = "CONTAINER                                                           IMAGE                                                    RUNTIME                  \r\n15c98f43819a3218c8e31db911b7550956cd6b00e07be99e882e4999d624d8aa    registry.k8s.io/pause:3.10                               io.containerd.runc.v2    \r\naa47d4d7154eb581ee01b0899a105affc7987d420191bd2ae0c2129c353e3b14    ghcr.io/learnk8s/podinfo:2023.03                         io.containerd.runc.v2    \r\n3c1e6b68a7025275f39a82843fa5220fedd1ca770035a5b92558c6208237eb4c    -                                                        io.containerd.runc.v2    \r\n";
        let course = "CONTAINER      IMAGE                                 RUNTIME\n03b7501b...    registry.k8s.io/pause:3.9             io.containerd.runc.v2\n277b37dc...    ghcr.io/learnk8s/traefik:2023.03      io.containerd.runc.v2\n";
        let parsed: Vec<String> = [current, course]
            .iter()
            .map(|s| {
                parse_ctr_containers(s)
                    .unwrap()
                    .iter()
                    .map(|c| format!("{} {} pause={}", c.id, c.image, c.is_pause()))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect();
        insta::assert_snapshot!(parsed.join("\n---\n"));
    }

    #[test]
    fn pause_images_are_recognised_by_repository() {
        for yes in [
            "registry.k8s.io/pause:3.9",
            "registry.k8s.io/pause:3.10.1",
            "k8s.gcr.io/pause:3.6",
            "localhost:5000/pause:3.10",
            "pause",
        ] {
            assert!(is_pause_image(yes), "{yes}");
        }
        for no in [
            "ghcr.io/learnk8s/podinfo:2023.03",
            "registry.k8s.io/pause-ish:1",
            "-",
        ] {
            assert!(!is_pause_image(no), "{no}");
        }
    }

    const INIT_133: &str = "[init] Using Kubernetes version: v1.33.7\r\n[bootstrap-token] Using token: b6360d.2p4p533i7t2lm608\r\n[addons] Applied essential addon: CoreDNS\r\n[addons] Applied essential addon: kube-proxy\r\n\r\nYour Kubernetes control-plane has initialized successfully!\r\n\r\nTo start using your cluster, you need to run the following as a regular user:\r\n\r\n  mkdir -p $HOME/.kube\r\n  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\r\n  sudo chown $(id -u):$(id -g) $HOME/.kube/config\r\n\r\nAlternatively, if you are the root user, you can run:\r\n\r\n  export KUBECONFIG=/etc/kubernetes/admin.conf\r\n\r\nThen you can join any number of worker nodes by running the following on each as root:\r\n\r\nkubeadm join 192.168.49.2:8443 --token b6360d.2p4p533i7t2lm608 \\\r\n\t--discovery-token-ca-cert-hash sha256:9eed67fd7587a0655d9b0d5fb4e58cb71924dc0a7a96d475ddaf144077f561bd \r\n";

    /// 1.26.3's tail: the same banner and lines; very old kubeadm indented with four spaces.
    const INIT_126: &str = "[apiclient] All control plane components are healthy after 8.502280 seconds\n[bootstrap-token] Using token: nsyxx6.quc5x0djkjdr564u\n\nYour Kubernetes control-plane has initialized successfully!\n\nTo start using your cluster, you need to run the following as a regular user:\n\n  mkdir -p $HOME/.kube\n  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\nYou should now deploy a pod network to the cluster.\n\nThen you can join any number of worker nodes by running the following on each as root:\n\nkubeadm join 192.168.49.2:8443 --token nsyxx6.quc5x0djkjdr564u \\\n    --discovery-token-ca-cert-hash sha256:3bc332011691454867232397bf837dbb73affc96aa57e22f2ad5a5d0d0fd7b4c \n";

    #[test]
    fn kubeadm_init_output_of_1_26_and_1_33() {
        let rendered: Vec<String> = [INIT_133, INIT_126]
            .iter()
            .map(|t| {
                let o = parse_kubeadm_init(t).unwrap();
                format!(
                    "initialized: {}\ninstructions: {:?}\njoin: {}\nendpoint: {}\n",
                    o.initialized, o.kubeconfig_instructions, o.join, o.join.endpoint
                )
            })
            .collect();
        insta::assert_snapshot!(rendered.join("---\n"));
        let o = parse_kubeadm_init(INIT_126).unwrap();
        assert_eq!(o.join.token(), "nsyxx6.quc5x0djkjdr564u");
        assert!(
            o.join
                .command()
                .contains("--token nsyxx6.quc5x0djkjdr564u ")
        );
        assert!(
            !format!("{:?}", o.join).contains("nsyxx6"),
            "Debug hides the token"
        );
        let err = parse_kubeadm_init(
            "error execution phase preflight: [preflight] Some fatal errors occurred:\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("no `kubeadm join"), "{err}");
    }

    #[test]
    fn preflight_errors_by_check_name() {
        let out = "[preflight] Running pre-flight checks\n[preflight] Some fatal errors occurred:\n\t[ERROR SystemVerification]: missing required cgroups: cpu\n[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\n";
        assert!(preflight_error(out, "SystemVerification"));
        assert!(!preflight_error(out, "NumCPU"));
        assert!(!preflight_error(
            "\t[WARNING SystemVerification]: x",
            "SystemVerification"
        ));
    }

    #[test]
    fn kubectl_apply_lines() {
        let flannel = "namespace/kube-flannel created\r\nclusterrole.rbac.authorization.k8s.io/flannel created\r\nWarning: spec.template.metadata.annotations[x]: deprecated\r\nserviceaccount/flannel unchanged\r\ndaemonset.apps/kube-flannel-ds configured\r\n";
        insta::assert_snapshot!(format!("{:?}", parse_applied(flannel)));
    }

    #[test]
    fn cluster_info_plain_and_coloured() {
        let plain = "Kubernetes control plane is running at https://192.168.49.2:8443\r\nCoreDNS is running at https://192.168.49.2:8443/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy\r\n\r\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\r\n";
        let coloured = "\x1b[0;32mKubernetes control plane\x1b[0m is running at \x1b[0;33mhttps://127.0.0.1:53486\x1b[0m\n";
        insta::assert_snapshot!(format!(
            "{:?}\n{:?}",
            parse_cluster_info(plain),
            parse_cluster_info(coloured)
        ));
    }

    /// kubectl's tables: `get nodes -o wide` (course 1.26 and current) and `get pods -A` with an
    /// empty-looking `<none>` and a RESTARTS cell with spaces.
    #[test]
    fn kubectl_tables_by_header() {
        let nodes = "NAME           STATUS   ROLES           AGE   VERSION   INTERNAL-IP    EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME\nminikube       Ready    control-plane   49s   v1.33.7   192.168.49.2   <none>        Debian GNU/Linux 12 (bookworm)   6.1.0            containerd://1.7.27\nminikube-m02   Ready    <none>          16s   v1.33.7   192.168.49.3   <none>        Debian GNU/Linux 12 (bookworm)   6.1.0            containerd://1.7.27\n";
        let pods = "NAMESPACE     NAME                           READY   STATUS             RESTARTS     AGE\nkube-system   coredns-787d4945fb-knjnx       0/1     ContainerCreating  0            3s\ndefault       hello-world-66b69c4dc5-xjdk7   1/1     Running            1 (4s ago)   64s\n";
        insta::assert_snapshot!(format!(
            "{}---\n{}",
            render_table(&parse_table("kubectl get nodes -o wide", nodes).unwrap()),
            render_table(&parse_table("kubectl get pods -A", pods).unwrap())
        ));
        assert!(parse_table("kubectl get pods", "\r\n").is_err());
    }

    #[test]
    fn kubelet_journal_lines() {
        let text = "Nov 28 07:38:56 minikube-m02 kubelet[27]: I1128 07:38:56.097564      27 pod_container_deletor.go:80] \"Container not found in pod's containers\" containerID=\"5b77f1e68e74\"\r\nNov 28 07:38:59 minikube-m02 kubelet[27]: I1128 07:38:59.109665      27 scope.go:117] \"RemoveContainer\" containerID=\"aa47d4d7154e\"\r\n-- Boot 0d2a --\r\nNov  8 04:38:54 worker1 systemd[1]: Started kubelet.service - kubelet: The Kubernetes Node Agent.\r\nworker1 kubelet[648]: W0310 Container \"a85\" not found in pod's containers\r\n";
        let lines = parse_journal(text);
        let klog: Vec<_> = lines.iter().map(|l| parse_klog(&l.message)).collect();
        insta::assert_snapshot!(format!("{lines:#?}\n{klog:#?}"));
    }
}
