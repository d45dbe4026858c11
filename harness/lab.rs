//! A scenario's world: its minikube profile, the nodes as last listed, named outcomes and marks,
//! and its transcript. Steps call one method here per phrase.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;

use crate::jumpbox::{HttpReply, Jumpbox, JumpboxError};
use crate::provider::{Minikube, NodeInfo, ProviderError, ScriptOutput};
use crate::settings::Settings;
use crate::transcript::shell_quote;

/// Errors from lab operations and checks.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The provider failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The jumpbox failed.
    #[error(transparent)]
    Jumpbox(#[from] JumpboxError),
    /// A check found something else than expected.
    #[error("expected {what}: {expected}; found: {found}")]
    Unexpected {
        /// What was checked.
        what: String,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// A check on one node failed.
    #[error("on node {node}, {check}: {detail}")]
    OnNode {
        /// The node.
        node: String,
        /// The check.
        check: String,
        /// What went wrong (redacted).
        detail: String,
    },
    /// The scenario's profile already exists before the lab created it.
    #[error(
        "minikube profile {profile:?} already exists (left by an earlier run?): delete it with `{minikube} delete -p {profile}` or choose another with --profile NAME"
    )]
    ProfileExists {
        /// The profile.
        profile: String,
        /// The minikube binary.
        minikube: String,
    },
    /// A step needs nodes but none were listed yet.
    #[error("no nodes are known yet: start the profile first")]
    NoNodes,
}

/// What `containerd --version` says (containerd `cmd/containerd/command/main.go` prints
/// `<name> <package> <version> <revision>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerdVersion {
    /// The Go package or distribution package (`github.com/containerd/containerd`, `containerd.io`).
    pub package: String,
    /// The version (`v1.7.13`, `1.6.15`, `v2.1.4`).
    pub version: String,
}

static CONTAINERD_VERSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*containerd\s+(\S+)\s+(v?\d+\.\d+\.\d+\S*)(?:\s+\S+)?\s*$")
        .expect("valid regex")
});

/// Reads the version line of `containerd --version`.
#[must_use]
pub fn parse_containerd_version(text: &str) -> Option<ContainerdVersion> {
    CONTAINERD_VERSION
        .captures(text)
        .map(|c| ContainerdVersion {
            package: c[1].to_string(),
            version: c[2].to_string(),
        })
}

/// The script that checks a node's container runtime: the binary answers `--version` and systemd
/// reports the unit active (minikube runs containerd as a systemd unit in its kicbase image and
/// restarts it with `systemctl` when it prepares the runtime, `pkg/minikube/cruntime/containerd.go`).
pub const RUNTIME_CHECK: &str = "containerd --version && sudo systemctl is-active containerd";

/// The profiles that labs have created and not deleted yet, shared by a run's labs so that an
/// interrupted run can still delete them.
#[derive(Debug, Clone, Default)]
pub struct LiveProfiles(Arc<Mutex<BTreeSet<String>>>);

impl LiveProfiles {
    fn set(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn insert(&self, profile: &str) {
        self.set().insert(profile.to_string());
    }

    fn remove(&self, profile: &str) {
        self.set().remove(profile);
    }

    /// Whether `profile` is live.
    #[must_use]
    pub fn contains(&self, profile: &str) -> bool {
        self.set().contains(profile)
    }

    /// The live profiles, sorted.
    #[must_use]
    pub fn snapshot(&self) -> Vec<String> {
        self.set().iter().cloned().collect()
    }
}

/// One scenario's lab.
pub struct Lab {
    minikube: Minikube,
    settings: Settings,
    nodes: Vec<NodeInfo>,
    live: LiveProfiles,
    outcomes: BTreeMap<String, String>,
    marks: BTreeMap<String, jiff::Timestamp>,
    jumpbox: Option<Jumpbox>,
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}={}", n.name, n.ip))
            .collect();
        f.debug_struct("Lab")
            .field("provider", &self.settings.provider)
            .field("minikube", &self.minikube.binary())
            .field("profile", &self.minikube.profile())
            .field("k8s_version", &self.settings.k8s_version.to_string())
            .field("timing", &self.settings.timing.to_string())
            .field("created", &self.created())
            .field("nodes", &nodes)
            .field("outcomes", &self.outcomes)
            .field("marks", &self.marks)
            .field("jumpbox", &self.jumpbox)
            .field("transcript", &self.minikube.runner().transcript().dir())
            .finish()
    }
}

/// What happened to the profile when the scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// The scenario created no profile.
    Nothing,
    /// The profile was deleted.
    Deleted,
    /// The profile was kept (failed scenario with `--keep-on-failure`); the text says how to reach
    /// and delete it.
    Kept(String),
}

impl Lab {
    /// A lab for one scenario, driving `minikube` (its profile and transcript are the scenario's).
    #[must_use]
    pub fn new(minikube: Minikube, settings: Settings) -> Self {
        Self {
            minikube,
            settings,
            nodes: Vec::new(),
            live: LiveProfiles::default(),
            outcomes: BTreeMap::new(),
            marks: BTreeMap::new(),
            jumpbox: None,
        }
    }

    /// Records the profiles this lab creates in `live` (shared by the run's labs).
    #[must_use]
    pub fn tracked_by(mut self, live: LiveProfiles) -> Self {
        self.live = live;
        self
    }

    /// Whether this lab created its profile and has not deleted it.
    #[must_use]
    pub fn created(&self) -> bool {
        self.live.contains(self.profile())
    }

    /// The scenario's profile.
    #[must_use]
    pub fn profile(&self) -> &str {
        self.minikube.profile()
    }

    /// The provider.
    #[must_use]
    pub fn minikube(&self) -> &Minikube {
        &self.minikube
    }

    /// Replaces `<profile>` in a feature's text with the scenario's profile.
    #[must_use]
    pub fn expand(&self, text: &str) -> String {
        text.replace("<profile>", self.profile())
    }

    /// Records a named outcome (shown in `Debug` and failure output).
    pub fn record(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.outcomes.insert(name.into(), value.into());
    }

    /// A named outcome.
    #[must_use]
    pub fn outcome(&self, name: &str) -> Option<&str> {
        self.outcomes.get(name).map(String::as_str)
    }

    /// Marks the current time under `name`.
    pub fn mark(&mut self, name: impl Into<String>) {
        self.marks.insert(name.into(), jiff::Timestamp::now());
    }

    /// When `name` was marked.
    #[must_use]
    pub fn marked(&self, name: &str) -> Option<jiff::Timestamp> {
        self.marks.get(name).copied()
    }

    /// The nodes as last listed.
    #[must_use]
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// Starts the profile with `count` nodes, as the course does (`--no-kubernetes`, docker
    /// driver, containerd), after making sure it does not exist yet; then lists its nodes.
    ///
    /// # Errors
    /// [`LabError::ProfileExists`] if the profile is already there, else provider errors.
    pub async fn start_nodes(&mut self, count: u32) -> Result<(), LabError> {
        match self.minikube.node_list().await {
            Err(ProviderError::ProfileNotFound { .. }) => {}
            Ok(nodes) if nodes.is_empty() => {}
            Ok(_) => {
                return Err(LabError::ProfileExists {
                    profile: self.profile().to_string(),
                    minikube: self.minikube.binary().display().to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        self.live.insert(self.minikube.profile());
        self.mark("nodes starting");
        self.minikube.start(count).await?;
        self.mark("nodes started");
        self.list_nodes().await?;
        Ok(())
    }

    /// Lists the profile's nodes (`minikube node list`) and remembers them.
    ///
    /// # Errors
    /// Provider errors.
    pub async fn list_nodes(&mut self) -> Result<&[NodeInfo], LabError> {
        self.nodes = self.minikube.node_list().await?;
        Ok(&self.nodes)
    }

    /// Checks that the node list names exactly `expected` (with `<profile>` expanded), in order.
    ///
    /// # Errors
    /// [`LabError::Unexpected`] naming both lists.
    pub fn check_node_names(&self, expected: &[String]) -> Result<(), LabError> {
        let expected: Vec<String> = expected.iter().map(|e| self.expand(e)).collect();
        let found: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        if found == expected {
            Ok(())
        } else {
            Err(LabError::Unexpected {
                what: "the node list".into(),
                expected: expected.join(", "),
                found: if found.is_empty() {
                    "no nodes".into()
                } else {
                    found.join(", ")
                },
            })
        }
    }

    /// Checks that no two nodes share an IP, and that `minikube ip -n NODE` agrees with the list.
    ///
    /// # Errors
    /// [`LabError::Unexpected`] / [`LabError::OnNode`] naming the clash.
    pub async fn check_distinct_ips(&self) -> Result<(), LabError> {
        let nodes = self.known_nodes()?;
        let mut seen: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
        for node in nodes {
            if let Some(other) = seen.insert(node.ip, &node.name) {
                return Err(LabError::Unexpected {
                    what: "a distinct IP per node".into(),
                    expected: "no IP shared".into(),
                    found: format!("{other} and {} both have {}", node.name, node.ip),
                });
            }
            let ip = self.minikube.ip(&node.name).await?;
            if ip != node.ip {
                return Err(LabError::OnNode {
                    node: node.name.clone(),
                    check: "`minikube ip` agrees with `minikube node list`".into(),
                    detail: format!("ip says {ip}, node list says {}", node.ip),
                });
            }
        }
        Ok(())
    }

    /// Runs `script` on `node` and returns its output, whatever its exit code.
    ///
    /// # Errors
    /// Provider errors (node unknown or stopped, …).
    pub async fn run_on(&self, node: &str, script: &str) -> Result<ScriptOutput, LabError> {
        let env: String = self
            .settings
            .env()
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
            .collect();
        Ok(self.minikube.ssh(node, &format!("{env}{script}")).await?)
    }

    /// Checks that every node answers a command, and that it is the node asked for: `hostname`
    /// prints the node's name (minikube's kic driver names each container's host after its machine,
    /// `pkg/drivers/kic/oci/oci.go` `--hostname`).
    ///
    /// # Errors
    /// [`LabError::OnNode`] for the first node that does not.
    pub async fn check_nodes_answer(&mut self) -> Result<(), LabError> {
        for node in self.known_nodes()?.to_vec() {
            let result = self.run_on(&node.name, "hostname").await?;
            let answer = result.output.trim().to_string();
            if !result.success() || answer != node.name {
                return Err(LabError::OnNode {
                    node: node.name.clone(),
                    check: "`hostname` names the node".into(),
                    detail: format!("exit {}, output {answer:?}", result.code),
                });
            }
        }
        Ok(())
    }

    /// Checks that every node has containerd installed and running ([`RUNTIME_CHECK`]), and
    /// records each node's containerd version as outcome `containerd on <node>`.
    ///
    /// # Errors
    /// [`LabError::OnNode`] for the first node without it.
    pub async fn check_container_runtime(&mut self) -> Result<(), LabError> {
        for node in self.known_nodes()?.to_vec() {
            let result = self.run_on(&node.name, RUNTIME_CHECK).await?;
            let fail = |detail: String| LabError::OnNode {
                node: node.name.clone(),
                check: format!("`{RUNTIME_CHECK}`"),
                detail,
            };
            let output = self.minikube.runner().redact(result.output.trim_end());
            if !result.success() {
                return Err(fail(format!("exit {}: {output}", result.code)));
            }
            let Some(version) = parse_containerd_version(&result.output) else {
                return Err(fail(format!(
                    "no `containerd <package> <version>` line in {output:?}"
                )));
            };
            if result.output.lines().last().map(str::trim) != Some("active") {
                return Err(fail(format!(
                    "the containerd unit is not reported active: {output:?}"
                )));
            }
            self.record(format!("containerd on {}", node.name), version.version);
        }
        Ok(())
    }

    /// The course's `curl <target>` from the jumpbox (started on first use: the netshoot
    /// container on the profile's network for real minikube, the host for labsim).
    ///
    /// # Errors
    /// [`LabError::Jumpbox`] when the jumpbox cannot start or curl cannot run; curl's own
    /// failures are in the reply.
    pub async fn curl_from_jumpbox(&mut self, target: &str) -> Result<HttpReply, LabError> {
        if self.jumpbox.is_none() {
            let jumpbox = Jumpbox::for_provider(
                self.settings.provider,
                self.minikube.profile(),
                self.minikube.runner().clone(),
            )
            .await?;
            self.jumpbox = Some(jumpbox);
        }
        let jumpbox = self.jumpbox.as_ref().expect("started above");
        Ok(jumpbox.curl(target).await?)
    }

    fn known_nodes(&self) -> Result<&[NodeInfo], LabError> {
        if self.nodes.is_empty() {
            Err(LabError::NoNodes)
        } else {
            Ok(&self.nodes)
        }
    }

    /// Ends the scenario: deletes the profile it created, unless the scenario failed and
    /// `--keep-on-failure` was given (then says how to reach and delete it).
    ///
    /// # Errors
    /// Provider errors from `minikube delete`.
    pub async fn finish(&mut self, failed: bool) -> Result<Cleanup, LabError> {
        if !self.created() {
            return Ok(Cleanup::Nothing);
        }
        let bin = shell_quote(&self.minikube.binary().to_string_lossy());
        let profile = shell_quote(self.profile());
        if failed && self.settings.keep_on_failure {
            let node = self
                .nodes
                .get(1)
                .or(self.nodes.first())
                .map_or_else(|| self.profile().to_string(), |n| n.name.clone());
            return Ok(Cleanup::Kept(format!(
                "kept minikube profile {profile} for inspection (--keep-on-failure):\n  reach a node: {bin} ssh -p {profile} -n {}\n  delete it:    {bin} delete -p {profile}",
                shell_quote(&node)
            )));
        }
        // The jumpbox sits on the profile's Docker network: remove it first, or `minikube delete`
        // cannot remove the network (Docker refuses while a container is attached).
        if let Some(jumpbox) = self.jumpbox.take() {
            jumpbox.stop().await?;
        }
        self.minikube.delete().await?;
        self.live.remove(self.minikube.profile());
        self.nodes.clear();
        Ok(Cleanup::Deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_version_lines_in_real_formats() {
        let samples = [
            "containerd containerd.io 1.6.15 5b842e528e99d4d4c1686467debf2bd4b88ecd86\nactive\n",
            "containerd github.com/containerd/containerd v1.7.13 7c3aca7a610df76212171d200ca3811ff6096eb8\n",
            "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376\n",
            "  containerd github.com/containerd/containerd v1.7.13\n",
            "bash: line 1: containerd: command not found\n",
        ];
        let rendered: Vec<String> = samples
            .iter()
            .map(|s| format!("{s:?}\n=> {:?}\n", parse_containerd_version(s)))
            .collect();
        insta::assert_snapshot!(rendered.join("\n"));
    }
}
