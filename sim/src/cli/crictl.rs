//! `crictl` (kubernetes-sigs/cri-tools) against labsim's runtime socket: `version`, `info`, `ps`,
//! `pods`, `inspect`, `inspectp`, `stop`, `rm`, `logs`, `images`, with cri-tools' syntax and output
//! (CLI-REFERENCE.md §3). The cri-tools release is the node's Kubernetes minor (they ship
//! together), which decides version-dependent output: `crictl ps` gains `NAMESPACE` in 1.32,
//! `crictl inspect` prints sorted keys from 1.31 (status first, in proto order, before).
//!
//! Errors are printed the way logrus prints them: `FATA[0000] msg` (coloured) on a terminal,
//! `time="…" level=fatal msg="…"` otherwise, and exit 1.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regex::Regex;

use super::gofmt::{J, TabWriter, human_duration, human_size};
use crate::runtime::client::{RuntimeClientError, call_blocking};
use crate::runtime::cri::{
    Container, ContainerFilter, ContainerState, Image, PodSandbox, Reply, Request, SandboxFilter,
    SandboxState, VersionInfo,
};
use crate::runtime::task::rfc3339nano;
use crate::version::Minor;

/// The default endpoint (what minikube writes into `/etc/crictl.yaml` for containerd).
pub const DEFAULT_ENDPOINT: &str = "unix:///run/containerd/containerd.sock";
/// crictl's configuration file.
pub const CONFIG_FILE: &str = "/etc/crictl.yaml";
/// cri-tools `truncatedIDLen`.
pub const TRUNCATED_ID_LEN: usize = 13;

/// How logrus prints a message at a level (`fatal`, `error`, `warning`, `info`).
pub fn logrus_line(level: &str, msg: &str, tty: bool, elapsed_secs: u64) -> String {
    if tty {
        let (tag, color) = match level {
            "fatal" => ("FATA", 31),
            "error" => ("ERRO", 31),
            "warning" => ("WARN", 33),
            "debug" => ("DEBU", 37),
            _ => ("INFO", 36),
        };
        format!("\x1b[{color}m{tag}\x1b[0m[{elapsed_secs:04}] {msg}")
    } else {
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
        format!("time=\"{now}\" level={level} msg={}", logrus_quote(msg))
    }
}

/// logrus' TextFormatter quoting: bare when only `[A-Za-z0-9-._/@^+]`, else Go-quoted.
pub fn logrus_quote(msg: &str) -> String {
    let bare = !msg.is_empty()
        && msg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if bare {
        msg.to_string()
    } else {
        crate::runtime::go_quote(msg)
    }
}

/// cri-tools `getTruncatedID`.
pub fn truncate_id(id: &str, prefix: &str, no_trunc: bool) -> String {
    let id = id.strip_prefix(prefix).unwrap_or(id);
    if no_trunc || id.len() <= TRUNCATED_ID_LEN {
        id.to_string()
    } else {
        id[..TRUNCATED_ID_LEN].to_string()
    }
}

fn ago(now_ns: i64, then_ns: i64) -> String {
    let secs = (now_ns - then_ns).max(0) as f64 / 1e9;
    format!("{} ago", human_duration(secs))
}

/// `crictl ps`'s STATE text (cri-tools `convertContainerState`).
pub fn container_state_text(s: ContainerState) -> &'static str {
    match s {
        ContainerState::Created => "Created",
        ContainerState::Running => "Running",
        ContainerState::Exited => "Exited",
        ContainerState::Unknown => "Unknown",
    }
}

fn state_proto(s: ContainerState) -> &'static str {
    match s {
        ContainerState::Created => "CONTAINER_CREATED",
        ContainerState::Running => "CONTAINER_RUNNING",
        ContainerState::Exited => "CONTAINER_EXITED",
        ContainerState::Unknown => "CONTAINER_UNKNOWN",
    }
}

/// `crictl ps`'s IMAGE: an image ID is cut like other IDs; a resolved name (`-r`) is shown whole.
fn image_column(image: &str, no_trunc: bool) -> String {
    let is_id = image.starts_with("sha256:") || image.chars().all(|c| c.is_ascii_hexdigit());
    if is_id {
        truncate_id(image, "sha256:", no_trunc)
    } else {
        image.to_string()
    }
}

/// The `crictl ps` table.
pub fn render_ps(containers: &[Container], minor: Minor, now_ns: i64, no_trunc: bool) -> String {
    let ns_col = minor.crictl_has_namespace_column();
    let mut w = TabWriter::new(20, 3);
    w.write("CONTAINER\tIMAGE\tCREATED\tSTATE\tNAME\tATTEMPT\tPOD ID\tPOD");
    w.write(if ns_col { "\tNAMESPACE\n" } else { "\n" });
    for c in containers {
        let label = |k: &str| c.labels.get(k).cloned().unwrap_or_default();
        w.write(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            truncate_id(&c.id, "", no_trunc),
            image_column(&c.image, no_trunc),
            ago(now_ns, c.created_at),
            container_state_text(c.state),
            c.metadata.name,
            c.metadata.attempt,
            truncate_id(&c.pod_sandbox_id, "", no_trunc),
            label("io.kubernetes.pod.name"),
        ));
        if ns_col {
            w.write(&format!("\t{}", label("io.kubernetes.pod.namespace")));
        }
        w.write("\n");
    }
    w.flush()
}

/// The `crictl pods` table.
pub fn render_pods(sandboxes: &[PodSandbox], now_ns: i64, no_trunc: bool) -> String {
    let mut w = TabWriter::new(20, 3);
    w.write("POD ID\tCREATED\tSTATE\tNAME\tNAMESPACE\tATTEMPT\tRUNTIME\n");
    for s in sandboxes {
        let handler = if s.runtime_handler.is_empty() {
            "(default)"
        } else {
            s.runtime_handler.as_str()
        };
        w.write(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{handler}\n",
            truncate_id(&s.id, "", no_trunc),
            ago(now_ns, s.created_at),
            match s.state {
                SandboxState::Ready => "Ready",
                SandboxState::NotReady => "NotReady",
            },
            s.metadata.name,
            s.metadata.namespace,
            s.metadata.attempt,
        ));
    }
    w.flush()
}

/// The `crictl images` table (one row per tag; `<none>` without tags).
pub fn render_images(images: &[Image], no_trunc: bool, digests: bool) -> String {
    let mut w = TabWriter::new(20, 3);
    w.write(if digests {
        "IMAGE\tTAG\tDIGEST\tIMAGE ID\tSIZE\n"
    } else {
        "IMAGE\tTAG\tIMAGE ID\tSIZE\n"
    });
    let mut rows: Vec<(String, String, String, String, String)> = vec![];
    for i in images {
        let digest = i
            .repo_digests
            .first()
            .and_then(|d| d.split_once('@'))
            .map(|(_, d)| truncate_id(d, "sha256:", no_trunc))
            .unwrap_or_else(|| "<none>".into());
        let id = truncate_id(&i.id, "sha256:", no_trunc);
        let size = human_size(i.size);
        if i.repo_tags.is_empty() {
            let repo = i
                .repo_digests
                .first()
                .and_then(|d| d.split_once('@'))
                .map(|(r, _)| r.to_string())
                .unwrap_or_else(|| "<none>".into());
            rows.push((
                repo,
                "<none>".into(),
                digest.clone(),
                id.clone(),
                size.clone(),
            ));
        }
        for t in &i.repo_tags {
            let (repo, tag) = match t.rfind(':') {
                Some(p) if !t[p..].contains('/') => (t[..p].to_string(), t[p + 1..].to_string()),
                _ => (t.clone(), "<none>".into()),
            };
            rows.push((repo, tag, digest.clone(), id.clone(), size.clone()));
        }
    }
    rows.sort();
    for (repo, tag, digest, id, size) in rows {
        if digests {
            w.write(&format!("{repo}\t{tag}\t{digest}\t{id}\t{size}\n"));
        } else {
            w.write(&format!("{repo}\t{tag}\t{id}\t{size}\n"));
        }
    }
    w.flush()
}

/// `crictl version`.
pub fn render_version(v: &VersionInfo) -> String {
    format!(
        "Version:  {}\nRuntimeName:  {}\nRuntimeVersion:  {}\nRuntimeApiVersion:  {}\n",
        v.version, v.runtime_name, v.runtime_version, v.runtime_api_version
    )
}

fn map_j(m: &std::collections::BTreeMap<String, String>) -> J {
    J::Obj(m.iter().map(|(k, v)| (k.clone(), J::s(v))).collect())
}

fn mounts_j(c: &Container) -> J {
    J::Arr(
        c.mounts
            .iter()
            .map(|m| {
                J::obj(vec![
                    ("containerPath", J::s(&m.container_path)),
                    ("hostPath", J::s(&m.host_path)),
                    ("readonly", J::Bool(m.readonly)),
                    ("selinuxRelabel", J::Bool(false)),
                    ("propagation", J::s("PROPAGATION_PRIVATE")),
                    ("uidMappings", J::Arr(vec![])),
                    ("gidMappings", J::Arr(vec![])),
                ])
            })
            .collect(),
    )
}

fn time_j(ns: i64) -> J {
    if ns == 0 {
        J::s("0001-01-01T00:00:00Z")
    } else {
        J::s(rfc3339nano(ns))
    }
}

/// `crictl inspect` of one container (status in proto order, containerd's verbose info).
pub fn inspect_json(c: &Container, minor: Minor) -> J {
    let status = J::obj(vec![
        ("id", J::s(&c.id)),
        (
            "metadata",
            J::obj(vec![
                ("name", J::s(&c.metadata.name)),
                ("attempt", J::n(c.metadata.attempt)),
            ]),
        ),
        ("state", J::s(state_proto(c.state))),
        ("createdAt", time_j(c.created_at)),
        ("startedAt", time_j(c.started_at)),
        ("finishedAt", time_j(c.finished_at)),
        ("exitCode", J::n(c.exit_code)),
        (
            "image",
            J::obj(vec![
                ("image", J::s(&c.image)),
                ("annotations", J::Obj(vec![])),
                ("userSpecifiedImage", J::s(&c.config.user_specified_image)),
                ("runtimeHandler", J::s("")),
            ]),
        ),
        ("imageRef", J::s(&c.image_ref)),
        ("reason", J::s(&c.reason)),
        ("message", J::s(&c.message)),
        ("labels", map_j(&c.labels)),
        ("annotations", map_j(&c.annotations)),
        ("mounts", mounts_j(c)),
        ("logPath", J::s(&c.log_path)),
    ]);
    let config = serde_json::to_value(&c.config).unwrap_or_default();
    let args: Vec<J> = c
        .config
        .command
        .iter()
        .chain(&c.config.args)
        .map(J::s)
        .collect();
    let env: Vec<J> = c
        .config
        .envs
        .iter()
        .map(|(k, v)| J::s(format!("{k}={v}")))
        .collect();
    let info = J::obj(vec![
        ("sandboxID", J::s(&c.pod_sandbox_id)),
        ("pid", J::n(c.pid.unwrap_or(0))),
        ("removing", J::Bool(false)),
        ("snapshotKey", J::s(&c.id)),
        ("snapshotter", J::s("overlayfs")),
        ("runtimeType", J::s(crate::runtime::RUNTIME_TYPE)),
        (
            "runtimeOptions",
            J::obj(vec![("systemd_cgroup", J::Bool(true))]),
        ),
        ("config", J::from_value(&config)),
        (
            "runtimeSpec",
            J::obj(vec![
                ("ociVersion", J::s("1.1.0")),
                (
                    "process",
                    J::obj(vec![
                        ("user", J::obj(vec![("uid", J::n(0)), ("gid", J::n(0))])),
                        ("args", J::Arr(args)),
                        ("env", J::Arr(env)),
                        ("cwd", J::s("/")),
                    ]),
                ),
                ("root", J::obj(vec![("path", J::s("rootfs"))])),
            ]),
        ),
    ]);
    let doc = J::obj(vec![("status", status), ("info", info)]);
    if minor.minor() >= 31 {
        doc.sorted()
    } else {
        doc
    }
}

/// `crictl inspectp` of one sandbox.
pub fn inspectp_json(s: &PodSandbox, minor: Minor) -> J {
    let status = J::obj(vec![
        ("id", J::s(&s.id)),
        (
            "metadata",
            J::obj(vec![
                ("attempt", J::n(s.metadata.attempt)),
                ("name", J::s(&s.metadata.name)),
                ("namespace", J::s(&s.metadata.namespace)),
                ("uid", J::s(&s.metadata.uid)),
            ]),
        ),
        (
            "state",
            J::s(match s.state {
                SandboxState::Ready => "SANDBOX_READY",
                SandboxState::NotReady => "SANDBOX_NOTREADY",
            }),
        ),
        ("createdAt", time_j(s.created_at)),
        (
            "network",
            J::obj(vec![("additionalIps", J::Arr(vec![])), ("ip", J::s(&s.ip))]),
        ),
        (
            "linux",
            J::obj(vec![(
                "namespaces",
                J::obj(vec![(
                    "options",
                    J::obj(vec![
                        ("ipc", J::s("POD")),
                        (
                            "network",
                            J::s(if s.config.host_network { "NODE" } else { "POD" }),
                        ),
                        ("pid", J::s("CONTAINER")),
                        ("targetId", J::s("")),
                        ("usernsOptions", J::Null),
                    ]),
                )]),
            )]),
        ),
        ("labels", map_j(&s.labels)),
        ("annotations", map_j(&s.annotations)),
        ("runtimeHandler", J::s(&s.runtime_handler)),
    ]);
    let config = serde_json::to_value(&s.config).unwrap_or_default();
    let info = J::obj(vec![
        ("pid", J::n(s.pid.unwrap_or(0))),
        (
            "processStatus",
            J::s(if s.pid.is_some() {
                "running"
            } else {
                "deleted"
            }),
        ),
        (
            "netNamespaceClosed",
            J::Bool(s.state != SandboxState::Ready),
        ),
        ("image", J::s(&s.pause_image)),
        ("snapshotKey", J::s(&s.id)),
        ("snapshotter", J::s("overlayfs")),
        ("runtimeHandler", J::s("")),
        ("runtimeType", J::s(crate::runtime::RUNTIME_TYPE)),
        (
            "runtimeOptions",
            J::obj(vec![("systemd_cgroup", J::Bool(true))]),
        ),
        ("config", J::from_value(&config)),
    ]);
    let doc = J::obj(vec![("status", status), ("info", info)]);
    if minor.minor() >= 31 {
        doc.sorted()
    } else {
        doc
    }
}

/// One parsed CRI log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The timestamp as written.
    pub time: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The message (partial records joined with what follows).
    pub text: String,
}

/// Parses CRI log text, joining `P` records with the following ones (kubelet/cri-tools
/// `pkg/kubelet/kuberuntime/logs` `parseCRILog`).
pub fn parse_cri_log(text: &str) -> Vec<LogRecord> {
    let mut out = vec![];
    let mut pending: Option<LogRecord> = None;
    for line in text.lines() {
        let mut parts = line.splitn(4, ' ');
        let (Some(time), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let msg = parts.next().unwrap_or_default();
        let rec = match pending.take() {
            Some(mut p) if p.stream == stream => {
                p.text.push_str(msg);
                p
            }
            Some(p) => {
                out.push(p);
                LogRecord {
                    time: time.into(),
                    stream: stream.into(),
                    text: msg.into(),
                }
            }
            None => LogRecord {
                time: time.into(),
                stream: stream.into(),
                text: msg.into(),
            },
        };
        if tag == "P" {
            pending = Some(rec);
        } else {
            out.push(rec);
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

struct Cli {
    endpoint: String,
    tty: bool,
    started: Instant,
    minor: Minor,
}

/// A failed crictl command: what to print at which logrus level.
struct Failure {
    level: &'static str,
    msg: String,
}

fn fatal(msg: impl Into<String>) -> Failure {
    Failure {
        level: "fatal",
        msg: msg.into(),
    }
}

impl Cli {
    fn call(&self, req: Request) -> Result<Reply, Failure> {
        let path = self.endpoint.trim_start_matches("unix://");
        call_blocking(Path::new(path), &req).map_err(|e| match e {
            RuntimeClientError::Connect { path, reason } => fatal(format!(
                "validate service connection: validate CRI v1 runtime API for endpoint {:?}: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial unix {}: connect: {reason}\"",
                self.endpoint,
                path.display()
            )),
            other => fatal(other.to_string()),
        })
    }

    /// Per-object failures: `error` level from 1.27 (cri-tools returns them and logs each),
    /// `fatal` in 1.26.
    fn object_level(&self) -> &'static str {
        if self.minor.minor() >= 27 {
            "error"
        } else {
            "fatal"
        }
    }

    fn print_failure(&self, f: &Failure) {
        eprintln!(
            "{}",
            logrus_line(f.level, &f.msg, self.tty, self.started.elapsed().as_secs())
        );
    }
}

/// Flags of one subcommand: `--name value`, `--name=value`, `-n value`, booleans.
struct Flags {
    values: Vec<(String, String)>,
    bools: Vec<String>,
    args: Vec<String>,
}

impl Flags {
    fn parse(args: &[String], with_value: &[&str], bools: &[&str]) -> Result<Flags, Failure> {
        let mut f = Flags {
            values: vec![],
            bools: vec![],
            args: vec![],
        };
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if a == "--" {
                f.args.extend(args[i + 1..].iter().cloned());
                break;
            }
            if a.starts_with('-') && a.len() > 1 {
                let (name, inline) = match a.trim_start_matches('-').split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (a.trim_start_matches('-').to_string(), None),
                };
                if with_value.contains(&name.as_str()) {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            args.get(i)
                                .cloned()
                                .ok_or_else(|| fatal(format!("flag needs an argument: -{name}")))?
                        }
                    };
                    f.values.push((name, v));
                } else if bools.contains(&name.as_str()) {
                    if inline.as_deref() != Some("false") {
                        f.bools.push(name);
                    }
                } else {
                    return Err(fatal(format!("flag provided but not defined: -{name}")));
                }
            } else {
                f.args.push(a.clone());
            }
            i += 1;
        }
        Ok(f)
    }

    fn value(&self, names: &[&str]) -> Option<String> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, v)| v.clone())
    }

    fn has(&self, names: &[&str]) -> bool {
        self.bools.iter().any(|b| names.contains(&b.as_str()))
    }
}

fn output_format(f: &Flags) -> Result<String, Failure> {
    let o = f.value(&["o", "output"]).unwrap_or_else(|| "table".into());
    match o.as_str() {
        "json" | "yaml" | "table" => Ok(o),
        other => Err(fatal(format!("unsupported output format {other:?}"))),
    }
}

fn print_structured(format: &str, doc: J) {
    if format == "yaml" {
        let v: serde_json::Value = serde_json::from_str(&doc.sorted().pretty()).unwrap_or_default();
        print!("{}", serde_saphyr::to_string(&v).unwrap_or_default());
    } else {
        println!("{}", doc.pretty());
    }
}

fn container_list_j(cs: &[Container]) -> J {
    J::obj(vec![(
        "containers",
        J::Arr(
            cs.iter()
                .map(|c| {
                    J::obj(vec![
                        ("id", J::s(&c.id)),
                        ("podSandboxId", J::s(&c.pod_sandbox_id)),
                        (
                            "metadata",
                            J::obj(vec![
                                ("name", J::s(&c.metadata.name)),
                                ("attempt", J::n(c.metadata.attempt)),
                            ]),
                        ),
                        (
                            "image",
                            J::obj(vec![
                                ("image", J::s(&c.image)),
                                ("annotations", J::Obj(vec![])),
                                ("userSpecifiedImage", J::s("")),
                                ("runtimeHandler", J::s("")),
                            ]),
                        ),
                        ("imageRef", J::s(&c.image_ref)),
                        ("state", J::s(state_proto(c.state))),
                        ("createdAt", J::s(c.created_at.to_string())),
                        ("labels", map_j(&c.labels)),
                        ("annotations", map_j(&c.annotations)),
                    ])
                })
                .collect(),
        ),
    )])
}

fn sandbox_list_j(ss: &[PodSandbox]) -> J {
    J::obj(vec![(
        "items",
        J::Arr(
            ss.iter()
                .map(|s| {
                    J::obj(vec![
                        ("id", J::s(&s.id)),
                        (
                            "metadata",
                            J::obj(vec![
                                ("name", J::s(&s.metadata.name)),
                                ("uid", J::s(&s.metadata.uid)),
                                ("namespace", J::s(&s.metadata.namespace)),
                                ("attempt", J::n(s.metadata.attempt)),
                            ]),
                        ),
                        (
                            "state",
                            J::s(match s.state {
                                SandboxState::Ready => "SANDBOX_READY",
                                SandboxState::NotReady => "SANDBOX_NOTREADY",
                            }),
                        ),
                        ("createdAt", J::s(s.created_at.to_string())),
                        ("labels", map_j(&s.labels)),
                        ("annotations", map_j(&s.annotations)),
                        ("runtimeHandler", J::s(&s.runtime_handler)),
                    ])
                })
                .collect(),
        ),
    )])
}

fn parse_state(s: &str) -> Result<ContainerState, Failure> {
    match s.to_ascii_lowercase().as_str() {
        "created" => Ok(ContainerState::Created),
        "running" => Ok(ContainerState::Running),
        "exited" => Ok(ContainerState::Exited),
        "unknown" => Ok(ContainerState::Unknown),
        other => Err(fatal(format!(
            "--state should be one of created, running, exited or unknown, got {other:?}"
        ))),
    }
}

fn regex(flag: &str, re: Option<String>) -> Result<Option<Regex>, Failure> {
    re.filter(|r| !r.is_empty())
        .map(|r| {
            Regex::new(&r)
                .map_err(|e| fatal(format!("invalid --{flag} regular expression {r:?}: {e}")))
        })
        .transpose()
}

fn labels_filter(f: &Flags) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    let mut m = std::collections::BTreeMap::new();
    for (n, v) in &f.values {
        if n == "label" {
            let (k, val) = v
                .split_once('=')
                .ok_or_else(|| fatal(format!("incorrectly specified label: {v}")))?;
            m.insert(k.to_string(), val.to_string());
        }
    }
    Ok(m)
}

fn cmd_ps(cli: &Cli, args: &[String]) -> Result<(), Failure> {
    let f = Flags::parse(
        args,
        &[
            "name", "pod", "p", "state", "s", "o", "output", "label", "id", "image", "last", "n",
        ],
        &[
            "a",
            "all",
            "q",
            "quiet",
            "no-trunc",
            "v",
            "verbose",
            "l",
            "latest",
            "r",
            "resolve-image-path",
        ],
    )?;
    let format = output_format(&f)?;
    let state = match f.value(&["state", "s"]) {
        Some(s) => Some(parse_state(&s)?),
        None if f.has(&["a", "all"]) => None,
        None => Some(ContainerState::Running),
    };
    let filter = ContainerFilter {
        id: f.value(&["id"]),
        state,
        pod_sandbox_id: f.value(&["pod", "p"]),
        label_selector: labels_filter(&f)?,
    };
    let Reply::Containers { items } = cli.call(Request::ListContainers { filter })? else {
        return Err(fatal("unexpected reply to ListContainers"));
    };
    let name_re = regex("name", f.value(&["name"]))?;
    let mut items: Vec<Container> = items
        .into_iter()
        .filter(|c| {
            name_re
                .as_ref()
                .is_none_or(|r| r.is_match(&c.metadata.name))
        })
        .collect();
    items.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    if f.has(&["l", "latest"]) {
        items.truncate(1);
    } else if let Some(n) = f
        .value(&["last", "n"])
        .and_then(|n| n.parse::<usize>().ok())
    {
        items.truncate(n);
    }
    if f.has(&["q", "quiet"]) {
        for c in &items {
            println!("{}", c.id);
        }
        return Ok(());
    }
    if f.has(&["r", "resolve-image-path"]) {
        // cri-tools PR 888: the image's first tag instead of its ID.
        if let Ok(Reply::Images { items: images }) = cli.call(Request::ListImages) {
            for c in &mut items {
                if let Some(tag) = images
                    .iter()
                    .find(|i| i.id == c.image)
                    .and_then(|i| i.repo_tags.first())
                {
                    c.image = tag.clone();
                }
            }
        }
    }
    match format.as_str() {
        "table" => print!(
            "{}",
            render_ps(
                &items,
                cli.minor,
                crate::runtime::now_ns(),
                f.has(&["no-trunc"])
            )
        ),
        fmt => print_structured(fmt, container_list_j(&items)),
    }
    Ok(())
}

fn cmd_pods(cli: &Cli, args: &[String]) -> Result<(), Failure> {
    let f = Flags::parse(
        args,
        &[
            "name",
            "namespace",
            "state",
            "s",
            "o",
            "output",
            "label",
            "id",
            "last",
        ],
        &["q", "quiet", "no-trunc", "v", "verbose", "l", "latest"],
    )?;
    let format = output_format(&f)?;
    let state = match f.value(&["state", "s"]).map(|s| s.to_ascii_lowercase()) {
        Some(s) if s == "ready" => Some(SandboxState::Ready),
        Some(s) if s == "notready" => Some(SandboxState::NotReady),
        Some(other) => {
            return Err(fatal(format!(
                "--state should be ready or notready, got {other:?}"
            )));
        }
        None => None,
    };
    let filter = SandboxFilter {
        id: f.value(&["id"]),
        state,
        label_selector: labels_filter(&f)?,
    };
    let Reply::Sandboxes { items } = cli.call(Request::ListPodSandbox { filter })? else {
        return Err(fatal("unexpected reply to ListPodSandbox"));
    };
    let name_re = regex("name", f.value(&["name"]))?;
    let ns_re = regex("namespace", f.value(&["namespace"]))?;
    let mut items: Vec<PodSandbox> = items
        .into_iter()
        .filter(|s| {
            name_re
                .as_ref()
                .is_none_or(|r| r.is_match(&s.metadata.name))
        })
        .filter(|s| {
            ns_re
                .as_ref()
                .is_none_or(|r| r.is_match(&s.metadata.namespace))
        })
        .collect();
    items.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    if f.has(&["l", "latest"]) {
        items.truncate(1);
    }
    if f.has(&["q", "quiet"]) {
        for s in &items {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match format.as_str() {
        "table" => print!(
            "{}",
            render_pods(&items, crate::runtime::now_ns(), f.has(&["no-trunc"]))
        ),
        fmt => print_structured(fmt, sandbox_list_j(&items)),
    }
    Ok(())
}

fn cmd_inspect(cli: &Cli, args: &[String], sandbox: bool) -> Result<(), Failure> {
    let f = Flags::parse(args, &["o", "output"], &["q", "quiet"])?;
    let what = if sandbox { "POD-ID" } else { "CONTAINER-ID" };
    if f.args.is_empty() {
        return Err(fatal(format!(
            "ID cannot be empty (usage: crictl {} {what} [{what}...])",
            if sandbox { "inspectp" } else { "inspect" }
        )));
    }
    let format = f.value(&["o", "output"]).unwrap_or_else(|| "json".into());
    let mut docs = vec![];
    for id in &f.args {
        let doc = if sandbox {
            match cli.call(Request::PodSandboxStatus { id: id.clone() }) {
                Ok(Reply::Sandbox(s)) => inspectp_json(&s, cli.minor),
                Ok(_) => return Err(fatal("unexpected reply to PodSandboxStatus")),
                Err(e) if e.msg.starts_with("validate service") => return Err(e),
                Err(e) => {
                    return Err(Failure {
                        level: cli.object_level(),
                        msg: format!("getting the pod sandbox status for {id:?}: {}", e.msg),
                    });
                }
            }
        } else {
            match cli.call(Request::ContainerStatus { id: id.clone() }) {
                Ok(Reply::Container(c)) => inspect_json(&c, cli.minor),
                Ok(_) => return Err(fatal("unexpected reply to ContainerStatus")),
                Err(e) if e.msg.starts_with("validate service") => return Err(e),
                Err(e) => {
                    return Err(Failure {
                        level: cli.object_level(),
                        msg: format!("getting the status of the container {id:?}: {}", e.msg),
                    });
                }
            }
        };
        docs.push(doc);
    }
    if format == "go-template" || format == "table" {
        return Err(fatal(format!("unsupported output format {format:?}")));
    }
    if docs.len() == 1 || cli.minor.minor() < 31 {
        for d in docs {
            print_structured(&format, d);
        }
    } else {
        print_structured(&format, J::Arr(docs));
    }
    Ok(())
}

fn cmd_stop(cli: &Cli, args: &[String]) -> Result<(), Failure> {
    let f = Flags::parse(args, &["t", "timeout"], &[])?;
    if f.args.is_empty() {
        return Err(fatal("ID cannot be empty"));
    }
    let timeout = match f.value(&["t", "timeout"]) {
        Some(t) => t
            .parse::<i64>()
            .map_err(|_| fatal(format!("invalid value {t:?} for flag -timeout")))?,
        None => 0,
    };
    for id in &f.args {
        match cli.call(Request::StopContainer {
            id: id.clone(),
            timeout,
        }) {
            Ok(_) => println!("{id}"),
            Err(e) if e.msg.starts_with("validate service") => return Err(e),
            Err(e) => {
                return Err(Failure {
                    level: cli.object_level(),
                    msg: format!("stopping the container {id:?}: {}", e.msg),
                });
            }
        }
    }
    Ok(())
}

fn cmd_rm(cli: &Cli, args: &[String]) -> Result<(), Failure> {
    let f = Flags::parse(args, &[], &["f", "force", "a", "all"])?;
    let ids: Vec<String> = if f.has(&["a", "all"]) {
        let Reply::Containers { items } = cli.call(Request::ListContainers {
            filter: ContainerFilter::default(),
        })?
        else {
            return Err(fatal("unexpected reply to ListContainers"));
        };
        items.into_iter().map(|c| c.id).collect()
    } else {
        f.args.clone()
    };
    if ids.is_empty() && !f.has(&["a", "all"]) {
        return Err(fatal("ID cannot be empty"));
    }
    for id in ids {
        let st = match cli.call(Request::ContainerStatus { id: id.clone() }) {
            Ok(Reply::Container(c)) => c,
            Ok(_) => return Err(fatal("unexpected reply")),
            Err(e) => {
                return Err(Failure {
                    level: cli.object_level(),
                    msg: format!("removing container {id:?}: {}", e.msg),
                });
            }
        };
        if st.state == ContainerState::Running && !f.has(&["f", "force"]) {
            return Err(Failure {
                level: cli.object_level(),
                msg: format!(
                    "container {id:?} is running, please stop it first or use the --force flag"
                ),
            });
        }
        if st.state == ContainerState::Running {
            cli.call(Request::StopContainer {
                id: id.clone(),
                timeout: 0,
            })?;
        }
        cli.call(Request::RemoveContainer { id: id.clone() })
            .map_err(|e| Failure {
                level: cli.object_level(),
                msg: format!("removing container {id:?}: {}", e.msg),
            })?;
        println!("{id}");
    }
    Ok(())
}

fn parse_since(s: &str, now_ns: i64) -> Option<i64> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t.as_nanosecond() as i64);
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "ms" => 1e6,
        _ => return None,
    };
    Some(now_ns - (n * mult) as i64)
}

fn write_record(r: &LogRecord, timestamps: bool) {
    let line = if timestamps {
        format!("{} {}\n", r.time, r.text)
    } else {
        format!("{}\n", r.text)
    };
    if r.stream == "stderr" {
        let _ = std::io::stderr().write_all(line.as_bytes());
    } else {
        let _ = std::io::stdout().write_all(line.as_bytes());
        let _ = std::io::stdout().flush();
    }
}

fn cmd_logs(cli: &Cli, args: &[String]) -> Result<(), Failure> {
    let f = Flags::parse(
        args,
        &["tail", "since", "limit-bytes"],
        &[
            "f",
            "follow",
            "t",
            "timestamps",
            "p",
            "previous",
            "r",
            "reverse",
        ],
    )?;
    let Some(id) = f.args.first() else {
        return Err(fatal("ID cannot be empty"));
    };
    let c = match cli.call(Request::ContainerStatus { id: id.clone() }) {
        Ok(Reply::Container(c)) => c,
        Ok(_) => return Err(fatal("unexpected reply")),
        Err(e) if e.msg.starts_with("validate service") => return Err(e),
        Err(e) => {
            return Err(fatal(format!(
                "rpc error: {}",
                e.msg.trim_start_matches("rpc error: ")
            )));
        }
    };
    let mut path = PathBuf::from(&c.log_path);
    if f.has(&["p", "previous"]) {
        // cri-tools `getLogPath`: the previous attempt's file beside this one.
        let prev = c.metadata.attempt.checked_sub(1).ok_or_else(|| {
            fatal(format!(
                "the previous log file of container {:?} does not exist: it has no previous attempt",
                c.id
            ))
        })?;
        path = path.with_file_name(format!("{prev}.log"));
    }
    if c.log_path.is_empty() {
        return Err(fatal(format!("the container {:?} has no log path", c.id)));
    }
    let mut file = std::fs::File::open(&path).map_err(|e| {
        fatal(format!(
            "failed to open log file {:?}: {}",
            path.display().to_string(),
            crate::runtime::client::go_errno_text(&e)
        ))
    })?;
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let mut consumed = text.len();
    let now = crate::runtime::now_ns();
    let since = f.value(&["since"]).and_then(|s| parse_since(&s, now));
    let mut records: Vec<LogRecord> = parse_cri_log(&text)
        .into_iter()
        .filter(|r| {
            since.is_none_or(|s| {
                r.time
                    .parse::<jiff::Timestamp>()
                    .map(|t| t.as_nanosecond() as i64 >= s)
                    .unwrap_or(true)
            })
        })
        .collect();
    if let Some(n) = f.value(&["tail"]).and_then(|t| t.parse::<i64>().ok())
        && n >= 0
    {
        let skip = records.len().saturating_sub(n as usize);
        records.drain(..skip);
    }
    let timestamps = f.has(&["t", "timestamps"]);
    for r in &records {
        write_record(r, timestamps);
    }
    if !f.has(&["f", "follow"]) || f.has(&["p", "previous"]) {
        return Ok(());
    }
    // Follow until the container stops and the file has nothing more.
    let mut pending = String::new();
    loop {
        let _ = file.seek(SeekFrom::Start(consumed as u64));
        let mut more = String::new();
        let _ = file.read_to_string(&mut more);
        consumed += more.len();
        pending.push_str(&more);
        if let Some(end) = pending.rfind('\n') {
            let complete: String = pending.drain(..=end).collect();
            for r in parse_cri_log(&complete) {
                write_record(&r, timestamps);
            }
        }
        if more.is_empty() {
            let running = matches!(
                cli.call(Request::ContainerStatus { id: c.id.clone() }),
                Ok(Reply::Container(ref s)) if s.state == ContainerState::Running
            );
            if !running {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn cmd_images(cli: &Cli, args: &[String]) -> Result<(), Failure> {
    let f = Flags::parse(
        args,
        &["o", "output"],
        &[
            "q", "quiet", "digests", "no-trunc", "v", "verbose", "pinned",
        ],
    )?;
    let format = output_format(&f)?;
    let Reply::Images { items } = cli.call(Request::ListImages)? else {
        return Err(fatal("unexpected reply to ListImages"));
    };
    let filter = f.args.first().map(|r| crate::runtime::images::normalize(r));
    let items: Vec<Image> = items
        .into_iter()
        .filter(|i| {
            filter
                .as_ref()
                .is_none_or(|want| i.repo_tags.iter().any(|t| t == want))
        })
        .collect();
    if f.has(&["q", "quiet"]) {
        for i in &items {
            println!("{}", i.id);
        }
        return Ok(());
    }
    match format.as_str() {
        "table" => print!(
            "{}",
            render_images(&items, f.has(&["no-trunc"]), f.has(&["digests"]))
        ),
        fmt => {
            let doc = J::obj(vec![(
                "images",
                J::Arr(
                    items
                        .iter()
                        .map(|i| {
                            J::obj(vec![
                                ("id", J::s(&i.id)),
                                ("repoTags", J::Arr(i.repo_tags.iter().map(J::s).collect())),
                                (
                                    "repoDigests",
                                    J::Arr(i.repo_digests.iter().map(J::s).collect()),
                                ),
                                ("size", J::s(i.size.to_string())),
                                ("uid", J::Null),
                                ("username", J::s("")),
                                ("spec", J::Null),
                                ("pinned", J::Bool(i.pinned)),
                            ])
                        })
                        .collect(),
                ),
            )]);
            print_structured(fmt, doc);
        }
    }
    Ok(())
}

fn cmd_info(cli: &Cli, args: &[String]) -> Result<(), Failure> {
    let f = Flags::parse(args, &["o", "output"], &["q", "quiet"])?;
    let format = f.value(&["o", "output"]).unwrap_or_else(|| "json".into());
    let Reply::Status(st) = cli.call(Request::Status)? else {
        return Err(fatal("unexpected reply to Status"));
    };
    let net_ok = st
        .conditions
        .iter()
        .find(|c| c.type_ == "NetworkReady")
        .map(|c| c.status)
        .unwrap_or(false);
    let conditions = J::Arr(
        st.conditions
            .iter()
            .map(|c| {
                J::obj(vec![
                    ("type", J::s(&c.type_)),
                    ("status", J::Bool(c.status)),
                    ("reason", J::s(&c.reason)),
                    ("message", J::s(&c.message)),
                ])
            })
            .collect(),
    );
    let doc = J::obj(vec![
        ("status", J::obj(vec![("conditions", conditions)])),
        (
            "cniconfig",
            J::obj(vec![
                ("PluginDirs", J::Arr(vec![J::s("/opt/cni/bin")])),
                ("PluginConfDir", J::s("/etc/cni/net.d")),
                ("PluginMaxConfNum", J::n(1)),
                ("Prefix", J::s("eth")),
            ]),
        ),
        (
            "lastCNILoadStatus",
            J::s(if net_ok {
                "OK".to_string()
            } else {
                format!(
                    "cni config load failed: no network config found in /etc/cni/net.d: {}: failed to load cni config",
                    crate::runtime::cni::NOT_INITIALIZED
                )
            }),
        ),
    ]);
    print_structured(&format, doc);
    Ok(())
}

fn endpoint(global: &Flags) -> String {
    if let Some(e) = global.value(&["r", "runtime-endpoint"]) {
        return e;
    }
    if let Ok(e) = std::env::var("CONTAINER_RUNTIME_ENDPOINT")
        && !e.is_empty()
    {
        return e;
    }
    let config = global
        .value(&["c", "config"])
        .unwrap_or_else(|| CONFIG_FILE.into());
    if let Ok(text) = std::fs::read_to_string(&config) {
        for line in text.lines() {
            if let Some(v) = line.trim().strip_prefix("runtime-endpoint:") {
                let v = v.trim().trim_matches('"');
                if !v.is_empty() {
                    return v.to_string();
                }
            }
        }
    }
    DEFAULT_ENDPOINT.into()
}

const USAGE: &str = "NAME:
   crictl - client for CRI

USAGE:
   crictl [global options] command [command options]

COMMANDS (labsim implements these):
   version   Display runtime version information
   info      Display information of the container runtime
   ps        List containers
   pods      List pods
   inspect   Display the status of one or more containers
   inspectp  Display the status of one or more pods
   stop      Stop one or more running containers
   rm        Remove one or more containers
   logs      Fetch the logs of a container
   images    List images
";

/// Runs `crictl ARGS`; returns the exit code.
pub fn main(args: &[String]) -> u8 {
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    // Global options come before the command.
    let split = args
        .iter()
        .position(|a| !a.starts_with('-'))
        .map(|p| {
            // A global flag's value is not the command.
            let prev = p.checked_sub(1).map(|q| args[q].as_str());
            if matches!(
                prev,
                Some(
                    "-r" | "--runtime-endpoint"
                        | "-i"
                        | "--image-endpoint"
                        | "-t"
                        | "--timeout"
                        | "-c"
                        | "--config"
                )
            ) {
                args.iter()
                    .skip(p + 1)
                    .position(|a| !a.starts_with('-'))
                    .map(|q| q + p + 1)
                    .unwrap_or(args.len())
            } else {
                p
            }
        })
        .unwrap_or(args.len());
    let fail = |msg: String| {
        eprintln!(
            "{}",
            logrus_line("fatal", &msg, tty, started.elapsed().as_secs())
        );
        1
    };
    let global = match Flags::parse(
        &args[..split],
        &[
            "r",
            "runtime-endpoint",
            "i",
            "image-endpoint",
            "t",
            "timeout",
            "c",
            "config",
        ],
        &["D", "debug", "h", "help", "v", "version"],
    ) {
        Ok(g) => g,
        Err(f) => return fail(f.msg),
    };
    if global.has(&["v", "version"]) {
        let minor = crate::node::NodeInfo::current("crictl")
            .map(|n| n.kubernetes_version)
            .unwrap_or_default();
        println!("crictl version v1.{}.0", minor.minor());
        return 0;
    }
    let Some(cmd) = args.get(split) else {
        print!("{USAGE}");
        return 0;
    };
    if global.has(&["h", "help"]) || cmd == "help" {
        print!("{USAGE}");
        return 0;
    }
    let node = match crate::node::NodeInfo::current("crictl") {
        Ok(n) => n,
        Err(_) => {
            return fail(
                "crictl: this is labsim's crictl, which works only inside a running labsim node (/etc/labsim/node.json not found): run it there, e.g. `minikube ssh -- sudo crictl ps`".into(),
            );
        }
    };
    let cli = Cli {
        endpoint: endpoint(&global),
        tty,
        started,
        minor: node.kubernetes_version,
    };
    let rest = &args[split + 1..];
    let result = match cmd.as_str() {
        "version" => cli.call(Request::Version).and_then(|r| match r {
            Reply::Version(v) => {
                print!("{}", render_version(&v));
                Ok(())
            }
            _ => Err(fatal("unexpected reply to Version")),
        }),
        "info" => cmd_info(&cli, rest),
        "ps" => cmd_ps(&cli, rest),
        "pods" => cmd_pods(&cli, rest),
        "inspect" => cmd_inspect(&cli, rest, false),
        "inspectp" => cmd_inspect(&cli, rest, true),
        "stop" => cmd_stop(&cli, rest),
        "rm" => cmd_rm(&cli, rest),
        "logs" | "log" => cmd_logs(&cli, rest),
        "images" | "image" | "img" => cmd_images(&cli, rest),
        other => Err(fatal(format!(
            "labsim's crictl does not implement the command {other:?}: it implements version, info, ps, pods, inspect, inspectp, stop, rm, logs and images"
        ))),
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            cli.print_failure(&f);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cri::{ContainerConfig, ContainerMetadata, PodSandboxMetadata};

    const NOW: i64 = 1_700_000_100_000_000_000;

    fn container(
        id: &str,
        name: &str,
        pod: &str,
        state: ContainerState,
        attempt: u32,
        age_s: i64,
    ) -> Container {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("io.kubernetes.pod.name".into(), pod.into());
        labels.insert("io.kubernetes.pod.namespace".into(), "default".into());
        labels.insert("io.kubernetes.container.name".into(), name.into());
        Container {
            id: id.into(),
            pod_sandbox_id: format!("{id:f<64}").replace(|c: char| c.is_ascii_digit(), "e"),
            metadata: ContainerMetadata {
                name: name.into(),
                attempt,
            },
            image: "sha256:4c1e997385b8fb4ad4d1d3c7e5af7ff3f882e94d07cf5b78de9e889bc60830e6".into(),
            image_ref: "sha256:4c1e997385b8fb4ad4d1d3c7e5af7ff3f882e94d07cf5b78de9e889bc60830e6"
                .into(),
            state,
            created_at: NOW - age_s * 1_000_000_000,
            started_at: NOW - age_s * 1_000_000_000 + 5_000_000,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            labels,
            annotations: Default::default(),
            mounts: vec![],
            log_path: format!("/var/log/pods/default_{pod}_u/{name}/{attempt}.log"),
            pid: Some(4242),
            config: ContainerConfig {
                metadata: ContainerMetadata {
                    name: name.into(),
                    attempt,
                },
                image: "sha256:4c1e99".into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn ps_columns_by_version() {
        let cs = vec![
            container(
                "3b5f6c1d2e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c",
                "hello",
                "hello-world-7d8f9c-abcde",
                ContainerState::Running,
                1,
                75,
            ),
            container(
                "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b",
                "kube-apiserver",
                "kube-apiserver-minikube",
                ContainerState::Exited,
                0,
                3 * 3600,
            ),
        ];
        insta::assert_snapshot!(
            "crictl_ps_1_31",
            render_ps(&cs, Minor::new(31).unwrap(), NOW, false)
        );
        insta::assert_snapshot!(
            "crictl_ps_1_33",
            render_ps(&cs, Minor::new(33).unwrap(), NOW, false)
        );
    }

    #[test]
    fn pods_and_images_tables() {
        let sb = PodSandbox {
            id: "f0e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f809".into(),
            metadata: PodSandboxMetadata {
                name: "hello-world-7d8f9c-abcde".into(),
                uid: "u".into(),
                namespace: "default".into(),
                attempt: 1,
            },
            state: SandboxState::Ready,
            created_at: NOW - 30_000_000_000,
            ip: "10.244.1.3".into(),
            labels: Default::default(),
            annotations: Default::default(),
            runtime_handler: String::new(),
            pid: Some(1),
            pause_image: "registry.k8s.io/pause:3.10".into(),
            config: Default::default(),
            bind_ip: String::new(),
        };
        let mut old = sb.clone();
        old.id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into();
        old.state = SandboxState::NotReady;
        old.metadata.attempt = 0;
        old.created_at = NOW - 600_000_000_000;
        insta::assert_snapshot!("crictl_pods", render_pods(&[sb, old], NOW, false));
        let images = vec![
            Image {
                id: "sha256:873ed75102791e5b0b8a7fcd41606c92fcec98d56d05ead4ac5131650004c136".into(),
                repo_tags: vec!["registry.k8s.io/pause:3.10".into()],
                repo_digests: vec!["registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a".into()],
                size: 320_368,
                pinned: true,
            },
            Image {
                id: "sha256:4c1e997385b8fb4ad4d1d3c7e5af7ff3f882e94d07cf5b78de9e889bc60830e6".into(),
                repo_tags: vec!["ghcr.io/learnk8s/podinfo:2023.03".into()],
                repo_digests: vec![],
                size: 18_045_872,
                pinned: false,
            },
        ];
        insta::assert_snapshot!("crictl_images", render_images(&images, false, false));
    }

    #[test]
    fn inspect_orders_keys_by_version() {
        let c = container(
            "3b5f6c1d2e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c",
            "hello",
            "hello-world-7d8f9c-abcde",
            ContainerState::Running,
            1,
            75,
        );
        let old = inspect_json(&c, Minor::new(30).unwrap()).pretty();
        let new = inspect_json(&c, Minor::new(31).unwrap()).pretty();
        assert!(old.starts_with("{\n  \"status\": {\n    \"id\""), "{old}");
        assert!(new.starts_with("{\n  \"info\": {"), "{new}");
        let v: serde_json::Value = serde_json::from_str(&new).unwrap();
        assert_eq!(v["status"]["state"], "CONTAINER_RUNNING");
        assert_eq!(v["info"]["pid"], 4242);
        assert_eq!(v["status"]["finishedAt"], "0001-01-01T00:00:00Z");
        assert_eq!(v["status"]["metadata"]["attempt"], 1);
    }

    #[test]
    fn cri_logs_parse_and_join_partials() {
        let text = "2024-01-01T00:00:00.1Z stdout F hello\n2024-01-01T00:00:01Z stderr P par\n2024-01-01T00:00:01Z stderr F tial\n2024-01-01T00:00:02Z stdout F \n";
        let r = parse_cri_log(text);
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].text, "partial");
        assert_eq!(r[1].stream, "stderr");
        assert_eq!(r[2].text, "");
    }

    #[test]
    fn errors_print_like_logrus() {
        assert_eq!(
            logrus_line("fatal", "stopping the container \"x\": boom", true, 0),
            "\x1b[31mFATA\x1b[0m[0000] stopping the container \"x\": boom"
        );
        let plain = logrus_line("error", "stopping the container \"x\": boom", false, 0);
        assert!(plain.starts_with("time=\""), "{plain}");
        assert!(
            plain.ends_with(" level=error msg=\"stopping the container \\\"x\\\": boom\""),
            "{plain}"
        );
        assert_eq!(logrus_quote("ok"), "ok");
        assert_eq!(
            truncate_id("sha256:0123456789abcdef", "sha256:", false),
            "0123456789abc"
        );
    }
}
