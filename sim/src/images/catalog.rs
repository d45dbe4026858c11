//! The catalogue of the images labsim knows: what a container runtime learns from pulling one
//! (its ID, size and configuration) and which labsim program plays each executable in it.
//!
//! # References
//! References are normalised as containerd does it (`github.com/distribution/reference`
//! `ParseNormalizedNamed` + `TagNameOnly`): a name without a registry is on `docker.io`, a
//! one-component name on Docker Hub is under `library/`, a reference without tag or digest gets
//! `:latest`. So `traefik:v3.3.4`, `library/traefik:v3.3.4` and
//! `docker.io/library/traefik:v3.3.4` are the same image.
//!
//! # Images
//! | repository (any tag) | program |
//! |---|---|
//! | `registry.k8s.io/pause` | [`Program::Pause`] |
//! | `ghcr.io/learnk8s/podinfo`, `docker.io/stefanprodan/podinfo`, `ghcr.io/stefanprodan/podinfo` | [`Program::Podinfo`] |
//! | `ghcr.io/flannel-io/flannel`, `docker.io/flannel/flannel`, `ghcr.io/learnk8s/flannel` | [`Program::Flanneld`] |
//! | `ghcr.io/flannel-io/flannel-cni-plugin`, `docker.io/flannel/flannel-cni-plugin`, `ghcr.io/learnk8s/flannel-cni-plugin` | [`Program::FlannelCniPlugin`] |
//! | `docker.io/library/traefik`, `ghcr.io/learnk8s/traefik` | [`Program::Traefik`] |
//! | `registry.k8s.io/coredns/coredns` | [`Program::CoreDns`] |
//! | `registry.k8s.io/kube-proxy` | [`Program::KubeProxy`] |
//! | `registry.k8s.io/etcd` | [`Program::Etcd`] |
//! | `registry.k8s.io/kube-apiserver`, `…/kube-controller-manager`, `…/kube-scheduler` | [`Program::ControlPlane`] |
//!
//! The Alpine-based images (podinfo, flannel, the flannel CNI plugin, traefik) also carry BusyBox:
//! `cp` is implemented ([`Program::Cp`], what flannel's init containers run); the other applets
//! exist but say that labsim does not implement them ([`Program::Unsupported`]).
//!
//! # What is not real
//! Image IDs and repo digests are `sha256:` + a SHA-256 of the normalised reference, stable but not
//! the registry's. Sizes are approximations of the compressed sizes the registries report.

use std::fmt;

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (`docker.io`, `registry.k8s.io`, `ghcr.io`, …).
    pub domain: String,
    /// Repository path inside the registry (`library/traefik`, `learnk8s/podinfo`).
    pub path: String,
    /// Tag (`latest` when the reference has neither tag nor digest).
    pub tag: Option<String>,
    /// Digest (`sha256:…`) when the reference names one.
    pub digest: Option<String>,
}

/// A reference that cannot be parsed (the messages are distribution/reference's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Empty or malformed reference.
    #[error("invalid reference format: {0:?}")]
    Invalid(String),
    /// Upper-case letters in the repository.
    #[error("invalid reference format: repository name (library/{0}) must be lowercase")]
    Uppercase(String),
}

fn valid_component(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    if c.is_empty() {
        return false;
    }
    let b = c.as_bytes();
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    // [\w][\w.-]{0,127}
    !t.is_empty()
        && t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        && t.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// Splits a repository name into registry and path as docker/distribution does
/// (`reference/normalize.go` `splitDockerDomain`): the first component is a registry when it has a
/// `.` or `:`, is `localhost`, or has upper case; otherwise the name is on `docker.io`, where a
/// one-component name is under `library/` (`index.docker.io` is `docker.io` too).
pub fn split_docker_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io".to_string()
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    (domain, path)
}

impl Reference {
    /// Parses and normalises `s` as containerd does (see the module documentation).
    ///
    /// # Errors
    /// [`ReferenceError`] for references containerd would refuse.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        let invalid = || ReferenceError::Invalid(s.to_string());
        if s.is_empty() || s.trim() != s {
            return Err(invalid());
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let (alg, hex) = d.split_once(':').ok_or_else(invalid)?;
                if alg.is_empty()
                    || hex.len() < 32
                    || !hex
                        .bytes()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                {
                    return Err(invalid());
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_tag[..last_slash + i],
                Some(name_tag[last_slash + i + 1..].to_string()),
            ),
            None => (name_tag, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err(invalid());
        }
        let (domain, path) = split_docker_domain(name);
        if path.to_lowercase() != path {
            return Err(ReferenceError::Uppercase(path.to_string()));
        }
        if !path.split('/').all(valid_component) {
            return Err(invalid());
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `domain/path` (what the catalogue matches on).
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Which image (family) a reference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    /// The sandbox image.
    Pause,
    /// stefanprodan/podinfo and learnk8s' copy.
    Podinfo,
    /// flannel (flanneld).
    Flannel,
    /// flannel's CNI plugin image.
    FlannelCniPlugin,
    /// Traefik.
    Traefik,
    /// CoreDNS.
    CoreDns,
    /// kube-proxy.
    KubeProxy,
    /// etcd as kubeadm deploys it.
    Etcd,
    /// A control-plane component image.
    ControlPlane(Component),
}

/// The control-plane components whose images run `labsim <component>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// kube-apiserver.
    ApiServer,
    /// kube-controller-manager.
    ControllerManager,
    /// kube-scheduler.
    Scheduler,
}

impl Component {
    /// The binary and labsim program name.
    pub fn name(self) -> &'static str {
        match self {
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
        }
    }
}

/// What runs when a container starts an executable of its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `/pause`.
    Pause,
    /// podinfo's server.
    Podinfo,
    /// `/opt/bin/flanneld`.
    Flanneld,
    /// The flannel CNI plugin binary (`/flannel` in its image).
    FlannelCniPlugin,
    /// traefik's `/entrypoint.sh` (prepends `traefik` to flag arguments).
    TraefikEntrypoint,
    /// `traefik`.
    Traefik,
    /// `/coredns`.
    CoreDns,
    /// `kube-proxy`.
    KubeProxy,
    /// `etcd`: the real etcd binary, with flags translated.
    Etcd,
    /// A control-plane component: `labsim <component>`.
    ControlPlane(Component),
    /// BusyBox `cp`.
    Cp,
    /// An executable the real image has but labsim does not implement.
    Unsupported(&'static str),
}

/// A file inside an image (not a volume) that programs can read, e.g. `/flannel` for `cp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFile {
    /// Contents.
    pub content: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
}

/// Why an argv cannot start in an image (runc's messages, as containerd reports them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Neither the pod nor the image gives a command.
    #[error("no command specified")]
    NoCommand,
    /// A bare name not found on the image's `PATH`.
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotInPath(String),
    /// A path that does not exist in the image.
    #[error("exec: \"{0}\": stat {0}: no such file or directory")]
    NoSuchFile(String),
}

impl ResolveError {
    /// The message containerd gives the kubelet for a container that cannot start (the
    /// `StartError`/`RunContainerError` text).
    pub fn runc_message(&self) -> String {
        format!(
            "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: {self}: unknown"
        )
    }
}

/// An image labsim can pull and run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The normalised reference it was looked up by.
    pub reference: Reference,
    /// Which image it is.
    pub kind: ImageKind,
    /// Image ID (`sha256:` + 64 hex), what `crictl images` shows truncated.
    pub id: String,
    /// Size in bytes (approximate compressed size).
    pub size: u64,
    /// The image config's `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// The image config's `Cmd`.
    pub cmd: Vec<String>,
    /// The image config's `WorkingDir` (`/` when unset).
    pub working_dir: String,
    /// The image config's `Env` (`KEY=value`).
    pub env: Vec<String>,
}

const ALPINE_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DISTROLESS_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// BusyBox applets of the Alpine-based images; `cp` is implemented, the others are not.
const BUSYBOX: &[&str] = &[
    "sh", "ash", "cat", "echo", "ls", "mkdir", "mv", "rm", "ln", "chmod", "chown", "sleep", "env",
    "true", "false", "test", "wget", "nc", "grep", "sed", "awk", "tar", "find", "ps", "kill",
];

fn sha256_hex(data: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, data.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn classify(r: &Reference) -> Option<ImageKind> {
    Some(match r.repository().as_str() {
        "registry.k8s.io/pause" => ImageKind::Pause,
        "ghcr.io/learnk8s/podinfo"
        | "docker.io/stefanprodan/podinfo"
        | "ghcr.io/stefanprodan/podinfo" => ImageKind::Podinfo,
        "ghcr.io/flannel-io/flannel" | "docker.io/flannel/flannel" | "ghcr.io/learnk8s/flannel" => {
            ImageKind::Flannel
        }
        "ghcr.io/flannel-io/flannel-cni-plugin"
        | "docker.io/flannel/flannel-cni-plugin"
        | "ghcr.io/learnk8s/flannel-cni-plugin" => ImageKind::FlannelCniPlugin,
        "docker.io/library/traefik" | "ghcr.io/learnk8s/traefik" => ImageKind::Traefik,
        "registry.k8s.io/coredns/coredns" => ImageKind::CoreDns,
        "registry.k8s.io/kube-proxy" => ImageKind::KubeProxy,
        "registry.k8s.io/etcd" => ImageKind::Etcd,
        "registry.k8s.io/kube-apiserver" => ImageKind::ControlPlane(Component::ApiServer),
        "registry.k8s.io/kube-controller-manager" => {
            ImageKind::ControlPlane(Component::ControllerManager)
        }
        "registry.k8s.io/kube-scheduler" => ImageKind::ControlPlane(Component::Scheduler),
        _ => return None,
    })
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The image `image_ref` (any form containerd accepts), or `None` when labsim does not know it
/// (the runtime then fails the pull as an unreachable registry would).
pub fn lookup(image_ref: &str) -> Option<ImageSpec> {
    let reference = Reference::parse(image_ref).ok()?;
    let kind = classify(&reference)?;
    // Image configurations (Entrypoint/Cmd/WorkingDir) of the real images:
    // pause: build/pause/Dockerfile `ENTRYPOINT ["/pause"]`;
    // podinfo: Dockerfile `WORKDIR /home/app`, `CMD ["./podinfo"]`;
    // flannel: images/Dockerfile `ENTRYPOINT ["/opt/bin/flanneld"]`;
    // traefik (docker-library): `ENTRYPOINT ["/entrypoint.sh"]`, `CMD ["traefik"]`;
    // coredns: Dockerfile `ENTRYPOINT ["/coredns"]`;
    // etcd (kubernetes/kubernetes cluster/images/etcd): `CMD ["/usr/local/bin/etcd"]`;
    // kube-proxy and the control-plane images set neither: their manifests give `command`.
    let (entrypoint, cmd, working_dir, path_env, size): (&[&str], &[&str], &str, &str, u64) =
        match kind {
            ImageKind::Pause => (&["/pause"], &[], "/", "", 321_520),
            ImageKind::Podinfo => (&[], &["./podinfo"], "/home/app", ALPINE_PATH, 18_045_872),
            ImageKind::Flannel => (&["/opt/bin/flanneld"], &[], "/", ALPINE_PATH, 31_412_896),
            ImageKind::FlannelCniPlugin => (&[], &["/bin/sh"], "/", ALPINE_PATH, 4_852_720),
            ImageKind::Traefik => (
                &["/entrypoint.sh"],
                &["traefik"],
                "/",
                ALPINE_PATH,
                55_869_218,
            ),
            ImageKind::CoreDns => (&["/coredns"], &[], "/", "", 18_182_961),
            ImageKind::KubeProxy => (&[], &[], "/", DISTROLESS_PATH, 30_898_416),
            ImageKind::Etcd => (
                &[],
                &["/usr/local/bin/etcd"],
                "/",
                DISTROLESS_PATH,
                57_680_541,
            ),
            ImageKind::ControlPlane(c) => (
                &[],
                &[],
                "/",
                DISTROLESS_PATH,
                match c {
                    Component::ApiServer => 30_112_528,
                    Component::ControllerManager => 27_634_784,
                    Component::Scheduler => 21_218_304,
                },
            ),
        };
    let canonical = reference.to_string();
    Some(ImageSpec {
        id: format!(
            "sha256:{}",
            sha256_hex(&format!("labsim image {canonical}"))
        ),
        kind,
        size,
        entrypoint: strs(entrypoint),
        cmd: strs(cmd),
        working_dir: working_dir.to_string(),
        env: if path_env.is_empty() {
            vec![]
        } else {
            vec![path_env.to_string()]
        },
        reference,
    })
}

impl ImageSpec {
    /// `repository:tag` as `crictl images`/the pod status show it.
    pub fn repo_tag(&self) -> Option<String> {
        self.reference
            .tag
            .as_ref()
            .map(|t| format!("{}:{t}", self.reference.repository()))
    }

    /// `repository@sha256:…`, the pod status' `imageID`.
    pub fn repo_digest(&self) -> String {
        let digest = match &self.reference.digest {
            Some(d) => d.clone(),
            None => format!(
                "sha256:{}",
                sha256_hex(&format!("labsim manifest {}", self.reference))
            ),
        };
        format!("{}@{digest}", self.reference.repository())
    }

    /// The tag without a leading `v` (`v3.3.4` → `3.3.4`), or the digest's first 12 hex digits
    /// when the reference has no tag.
    pub fn version(&self) -> String {
        match (&self.reference.tag, &self.reference.digest) {
            (Some(t), _) => t.trim_start_matches('v').to_string(),
            (None, Some(d)) => d.split(':').nth(1).unwrap_or(d)[..12].to_string(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The argv a container runs, from the pod's `command` and `args` over the image's
    /// `Entrypoint` and `Cmd` (kubernetes.io/docs/tasks/inject-data-application/
    /// define-command-argument-container/#notes): `command` replaces the entrypoint and drops the
    /// image's `Cmd`; `args` replaces `Cmd`.
    pub fn argv(&self, command: &[String], args: &[String]) -> Vec<String> {
        let mut out = if command.is_empty() {
            self.entrypoint.clone()
        } else {
            command.to_vec()
        };
        if !args.is_empty() {
            out.extend(args.iter().cloned());
        } else if command.is_empty() {
            out.extend(self.cmd.iter().cloned());
        }
        out
    }

    fn executables(&self) -> Vec<(String, Program)> {
        let mut v: Vec<(String, Program)> = match self.kind {
            ImageKind::Pause => vec![("/pause".into(), Program::Pause)],
            ImageKind::Podinfo => vec![
                ("/home/app/podinfo".into(), Program::Podinfo),
                (
                    "/usr/local/bin/podcli".into(),
                    Program::Unsupported("podcli"),
                ),
            ],
            ImageKind::Flannel => vec![
                ("/opt/bin/flanneld".into(), Program::Flanneld),
                (
                    "/opt/bin/mk-docker-opts.sh".into(),
                    Program::Unsupported("mk-docker-opts.sh"),
                ),
                ("/sbin/iptables".into(), Program::Unsupported("iptables")),
            ],
            ImageKind::FlannelCniPlugin => vec![("/flannel".into(), Program::FlannelCniPlugin)],
            ImageKind::Traefik => vec![
                ("/entrypoint.sh".into(), Program::TraefikEntrypoint),
                ("/usr/local/bin/traefik".into(), Program::Traefik),
            ],
            ImageKind::CoreDns => vec![("/coredns".into(), Program::CoreDns)],
            ImageKind::KubeProxy => vec![
                ("/usr/local/bin/kube-proxy".into(), Program::KubeProxy),
                (
                    "/usr/sbin/iptables".into(),
                    Program::Unsupported("iptables"),
                ),
                (
                    "/usr/sbin/conntrack".into(),
                    Program::Unsupported("conntrack"),
                ),
            ],
            ImageKind::Etcd => vec![
                ("/usr/local/bin/etcd".into(), Program::Etcd),
                (
                    "/usr/local/bin/etcdctl".into(),
                    Program::Unsupported("etcdctl"),
                ),
                (
                    "/usr/local/bin/etcdutl".into(),
                    Program::Unsupported("etcdutl"),
                ),
            ],
            ImageKind::ControlPlane(c) => vec![(
                format!("/usr/local/bin/{}", c.name()),
                Program::ControlPlane(c),
            )],
        };
        if self.has_busybox() {
            v.push(("/bin/cp".into(), Program::Cp));
            v.push(("/bin/busybox".into(), Program::Unsupported("busybox")));
            for a in BUSYBOX {
                v.push((format!("/bin/{a}"), Program::Unsupported(a)));
            }
        }
        v
    }

    fn has_busybox(&self) -> bool {
        matches!(
            self.kind,
            ImageKind::Podinfo
                | ImageKind::Flannel
                | ImageKind::FlannelCniPlugin
                | ImageKind::Traefik
        )
    }

    fn search_path(&self) -> Vec<String> {
        self.env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .map(|p| p.split(':').map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Which program runs for `argv` (its first element found as runc would: a path relative to
    /// the working directory, or a bare name on the image's `PATH`).
    ///
    /// # Errors
    /// [`ResolveError`] when runc would fail to start it.
    pub fn resolve(&self, argv: &[String]) -> Result<Program, ResolveError> {
        let first = argv.first().ok_or(ResolveError::NoCommand)?;
        let exes = self.executables();
        let find = |p: &str| exes.iter().find(|(e, _)| e == p).map(|(_, prog)| *prog);
        if first.contains('/') {
            let path = normalize(&self.working_dir, first);
            find(&path).ok_or_else(|| ResolveError::NoSuchFile(first.clone()))
        } else {
            self.search_path()
                .iter()
                .find_map(|dir| find(&format!("{}/{first}", dir.trim_end_matches('/'))))
                .ok_or_else(|| ResolveError::NotInPath(first.clone()))
        }
    }

    /// A file of the image itself (not of a volume), e.g. the plugin `/flannel` that
    /// `cp -f /flannel /opt/cni/bin/flannel` copies.
    pub fn file(&self, path: &str) -> Option<ImageFile> {
        let path = normalize("/", path);
        match (self.kind, path.as_str()) {
            (ImageKind::FlannelCniPlugin, "/flannel") => Some(ImageFile {
                content: flannel_cni_stand_in(&self.reference.to_string(), &self.version())
                    .into_bytes(),
                mode: 0o755,
            }),
            _ => None,
        }
    }
}

/// The plugin file labsim installs as `/opt/cni/bin/flannel`: a script that says what it is.
fn flannel_cni_stand_in(image: &str, version: &str) -> String {
    format!(
        r#"#!/bin/sh
# labsim stand-in for the flannel CNI plugin, installed from {image}.
# labsim's container runtime gives pods their addresses itself (docs/labsim.md, "Addresses"),
# so this file only takes the place of the real plugin binary.
case "$CNI_COMMAND" in
VERSION)
  echo '{{"cniVersion":"1.0.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}}'
  ;;
"")
  echo "CNI flannel plugin v{version}" >&2
  echo "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" >&2
  echo "(labsim stand-in: pod networking is done by labsim's runtime, see docs/labsim.md)" >&2
  ;;
*)
  echo '{{"cniVersion":"1.0.0","code":999,"msg":"labsim stand-in for the flannel CNI plugin: labsim'"'"'s runtime sets up pod networking itself"}}'
  exit 1
  ;;
esac
"#
    )
}

/// What containerd answers a pull of an image labsim does not know: the failure to reach the
/// registry that a machine without network access gets (containerd `PullImage`; the kubelet then
/// reports `ErrImagePull` with `rpc error: code = Unknown desc = ` + this text, and
/// `ImagePullBackOff`). For a reference containerd cannot parse, its parse error.
pub fn pull_failure(image_ref: &str) -> String {
    let r = match Reference::parse(image_ref) {
        Ok(r) => r,
        Err(e) => return format!("failed to pull and unpack image {image_ref:?}: {e}"),
    };
    let host = if r.domain == "docker.io" {
        "registry-1.docker.io".to_string()
    } else {
        r.domain.clone()
    };
    let reference = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let host_name = host.split(':').next().unwrap_or(&host).to_string();
    format!(
        "failed to pull and unpack image \"{r}\": failed to resolve reference \"{r}\": failed to do request: Head \"https://{host}/v2/{}/manifests/{reference}\": dial tcp: lookup {host_name}: no such host",
        r.path
    )
}

/// Lexically normalises `path` (relative to `cwd` when not absolute): removes `.` and empty
/// segments, resolves `..` without going above `/`.
pub fn normalize(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", cwd.trim_end_matches('/'))
    };
    let mut parts: Vec<&str> = vec![];
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn references_normalise_as_containerd_does() {
        assert_eq!(norm("traefik:v3"), "docker.io/library/traefik:v3");
        assert_eq!(norm("traefik"), "docker.io/library/traefik:latest");
        assert_eq!(
            norm("library/traefik:v3.3.4"),
            "docker.io/library/traefik:v3.3.4"
        );
        assert_eq!(
            norm("index.docker.io/library/traefik:v3.3.4"),
            "docker.io/library/traefik:v3.3.4"
        );
        assert_eq!(
            norm("stefanprodan/podinfo:6.3.5"),
            "docker.io/stefanprodan/podinfo:6.3.5"
        );
        assert_eq!(
            norm("ghcr.io/learnk8s/podinfo:2023.03"),
            "ghcr.io/learnk8s/podinfo:2023.03"
        );
        assert_eq!(
            norm("registry.k8s.io/pause:3.10"),
            "registry.k8s.io/pause:3.10"
        );
        assert_eq!(
            norm("localhost:5000/app:1"),
            "localhost:5000/app:1",
            "a registry with a port"
        );
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            norm(&format!("traefik@{d}")),
            format!("docker.io/library/traefik@{d}"),
            "a digest and no tag: no :latest"
        );
        assert_eq!(
            norm(&format!("traefik:v3@{d}")),
            format!("docker.io/library/traefik:v3@{d}")
        );
        assert!(matches!(
            Reference::parse("Traefik:v3"),
            Err(ReferenceError::Uppercase(_))
        ));
        for bad in [
            "",
            "traefik:",
            "tra efik",
            "traefik:v3:x",
            "a//b",
            "-x:1",
            "x@sha256:zz",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn the_catalogue_knows_the_course_images_and_nothing_else() {
        let known = [
            ("registry.k8s.io/pause:3.9", ImageKind::Pause),
            ("ghcr.io/learnk8s/podinfo:2023.03", ImageKind::Podinfo),
            ("stefanprodan/podinfo:6.3.5", ImageKind::Podinfo),
            ("ghcr.io/stefanprodan/podinfo:6.7.1", ImageKind::Podinfo),
            ("ghcr.io/flannel-io/flannel:v0.26.7", ImageKind::Flannel),
            ("flannel/flannel:v0.26.0", ImageKind::Flannel),
            ("ghcr.io/learnk8s/flannel:2023.3", ImageKind::Flannel),
            (
                "ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1",
                ImageKind::FlannelCniPlugin,
            ),
            (
                "docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2",
                ImageKind::FlannelCniPlugin,
            ),
            (
                "ghcr.io/learnk8s/flannel-cni-plugin:2023.3",
                ImageKind::FlannelCniPlugin,
            ),
            ("traefik:v3.3.4", ImageKind::Traefik),
            ("docker.io/library/traefik:v2.10", ImageKind::Traefik),
            ("ghcr.io/learnk8s/traefik:2023.03", ImageKind::Traefik),
            (
                "registry.k8s.io/coredns/coredns:v1.12.0",
                ImageKind::CoreDns,
            ),
            ("registry.k8s.io/kube-proxy:v1.33.7", ImageKind::KubeProxy),
            ("registry.k8s.io/etcd:3.5.21-0", ImageKind::Etcd),
            (
                "registry.k8s.io/kube-apiserver:v1.33.7",
                ImageKind::ControlPlane(Component::ApiServer),
            ),
            (
                "registry.k8s.io/kube-controller-manager:v1.33.7",
                ImageKind::ControlPlane(Component::ControllerManager),
            ),
            (
                "registry.k8s.io/kube-scheduler:v1.33.7",
                ImageKind::ControlPlane(Component::Scheduler),
            ),
        ];
        for (r, kind) in known {
            let spec = lookup(r).unwrap_or_else(|| panic!("{r} is in the catalogue"));
            assert_eq!(spec.kind, kind, "{r}");
            assert!(spec.id.starts_with("sha256:") && spec.id.len() == 71, "{r}");
            assert!(spec.size > 100_000, "{r}");
        }
        for unknown in [
            "nginx:1.27",
            "docker.io/library/busybox",
            "ghcr.io/learnk8s/nginx:1",
            "k8s.gcr.io/pause:3.2",
            "registry.k8s.io/pause-x:1",
        ] {
            assert!(
                lookup(unknown).is_none(),
                "{unknown} is not in the catalogue"
            );
        }
    }

    #[test]
    fn ids_are_stable_and_follow_the_normalised_reference() {
        let a = lookup("traefik:v3.3.4").unwrap();
        let b = lookup("docker.io/library/traefik:v3.3.4").unwrap();
        let c = lookup("traefik:v3.3.5").unwrap();
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a.repo_tag().unwrap(), "docker.io/library/traefik:v3.3.4");
        assert!(
            a.repo_digest()
                .starts_with("docker.io/library/traefik@sha256:")
        );
        assert_eq!(a.version(), "3.3.4");
    }

    fn s(v: &[&str]) -> Vec<String> {
        strs(v)
    }

    #[test]
    fn argv_follows_kubernetes_command_and_args_rules() {
        let t = lookup("traefik:v3.3.4").unwrap();
        assert_eq!(t.argv(&[], &[]), s(&["/entrypoint.sh", "traefik"]));
        assert_eq!(
            t.argv(&[], &s(&["--ping"])),
            s(&["/entrypoint.sh", "--ping"])
        );
        assert_eq!(t.argv(&s(&["traefik"]), &[]), s(&["traefik"]));
        assert_eq!(
            t.argv(&s(&["traefik"]), &s(&["--ping"])),
            s(&["traefik", "--ping"])
        );
        let p = lookup("ghcr.io/learnk8s/podinfo:2023.03").unwrap();
        assert_eq!(p.argv(&[], &[]), s(&["./podinfo"]));
    }

    #[test]
    fn argv0_resolves_like_runc() {
        let p = lookup("ghcr.io/learnk8s/podinfo:2023.03").unwrap();
        assert_eq!(p.resolve(&s(&["./podinfo"])), Ok(Program::Podinfo));
        assert_eq!(
            p.resolve(&s(&["/home/app/podinfo", "--port=9898"])),
            Ok(Program::Podinfo)
        );
        assert_eq!(p.resolve(&s(&["cp"])), Ok(Program::Cp));
        assert_eq!(p.resolve(&s(&["sh"])), Ok(Program::Unsupported("sh")));
        assert_eq!(
            p.resolve(&s(&["bash"])),
            Err(ResolveError::NotInPath("bash".into()))
        );
        assert_eq!(
            p.resolve(&s(&["/podinfo"])),
            Err(ResolveError::NoSuchFile("/podinfo".into()))
        );
        assert_eq!(p.resolve(&[]), Err(ResolveError::NoCommand));
        let f = lookup("ghcr.io/flannel-io/flannel:v0.26.7").unwrap();
        assert_eq!(
            f.resolve(&s(&["/opt/bin/flanneld", "--ip-masq"])),
            Ok(Program::Flanneld)
        );
        assert_eq!(f.resolve(&s(&["cp", "-f"])), Ok(Program::Cp));
        let c = lookup("registry.k8s.io/coredns/coredns:v1.12.0").unwrap();
        assert_eq!(
            c.resolve(&s(&["cp"])),
            Err(ResolveError::NotInPath("cp".into())),
            "CoreDNS' image is distroless: no cp"
        );
        let e = lookup("registry.k8s.io/etcd:3.5.21-0").unwrap();
        assert_eq!(e.resolve(&s(&["etcd", "--name=x"])), Ok(Program::Etcd));
        let a = lookup("registry.k8s.io/kube-apiserver:v1.33.7").unwrap();
        assert_eq!(
            a.resolve(&s(&["kube-apiserver"])),
            Ok(Program::ControlPlane(Component::ApiServer))
        );
        assert_eq!(
            a.resolve(&a.argv(&[], &[])),
            Err(ResolveError::NoCommand),
            "the control-plane images have no default command"
        );
        assert!(
            ResolveError::NotInPath("bash".into())
                .runc_message()
                .contains("exec: \"bash\": executable file not found in $PATH")
        );
    }

    #[test]
    fn the_cni_plugin_image_carries_its_plugin_file() {
        let i = lookup("ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1").unwrap();
        let f = i.file("/flannel").unwrap();
        assert_eq!(f.mode, 0o755);
        let text = String::from_utf8(f.content).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains("CNI flannel plugin v1.6.2-flannel1"));
        assert!(i.file("/etc/passwd").is_none());
        assert!(lookup("traefik:v3").unwrap().file("/flannel").is_none());
    }

    #[test]
    fn unknown_images_fail_to_pull_as_without_network() {
        assert_eq!(
            pull_failure("nginx:1.27"),
            "failed to pull and unpack image \"docker.io/library/nginx:1.27\": failed to resolve reference \"docker.io/library/nginx:1.27\": failed to do request: Head \"https://registry-1.docker.io/v2/library/nginx/manifests/1.27\": dial tcp: lookup registry-1.docker.io: no such host"
        );
        assert!(pull_failure("ghcr.io/x/y").contains("https://ghcr.io/v2/x/y/manifests/latest"));
        assert!(pull_failure("Bad:Ref").contains("invalid reference format"));
    }

    #[test]
    fn paths_normalise_lexically() {
        assert_eq!(normalize("/home/app", "./podinfo"), "/home/app/podinfo");
        assert_eq!(normalize("/", "a/../../b//c/."), "/b/c");
        assert_eq!(normalize("/x", "/etc/kube-flannel/"), "/etc/kube-flannel");
    }
}
