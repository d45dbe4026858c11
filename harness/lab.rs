//! A scenario's world: its minikube profile, the nodes as last listed, named outcomes and marks,
//! and its transcript. Steps call one method here per phrase.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use regex::Regex;

use crate::claims::{Claim, DurationExpectation, Measurement, Verdict};
use crate::cleanup::{Outcome, Profile, Registration, Registry, Urgency};
use crate::course::{CourseState, KeptCluster};
use crate::jumpbox::{HttpReply, Jumpbox, JumpboxError, Prober};
use crate::provider::{Minikube, NodeInfo, ProviderError, ScriptOutput};
use crate::report::{LabRecord, LastCommand};
use crate::run::ProfileLease;
use crate::settings::Settings;
use crate::timeline::{ObjectRef, Query, Recorder, StateQuery, TimeBasis, Timeline, TimelineError};
use crate::transcript::shell_quote;
use crate::wait::{Backoff, Expect, Wait, WaitError};

/// Errors from lab operations and checks.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The provider failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The jumpbox failed.
    #[error(transparent)]
    Jumpbox(#[from] JumpboxError),
    /// Something the lab created could not be released.
    #[error("could not release {what}: {why}")]
    Cleanup {
        /// The resource.
        what: String,
        /// What failed, and how to release it by hand.
        why: String,
    },
    /// A node name the profile does not have.
    #[error("node {node:?} does not exist in minikube profile {profile:?}: its nodes are {}", .nodes.join(", "))]
    UnknownNode {
        /// The name asked for.
        node: String,
        /// The profile.
        profile: String,
        /// The profile's nodes.
        nodes: Vec<String>,
    },
    /// The cluster's API server did not answer.
    #[error("cannot reach the cluster's API server at {server} (kubeconfig {}) within {}: {detail}\ncheck that the cluster runs (`minikube status -p {profile}`) and that the kubeconfig's server is its address", .kubeconfig.display(), crate::claims::human(*.waited))]
    Unreachable {
        /// The kubeconfig's server URL.
        server: String,
        /// The kubeconfig.
        kubeconfig: PathBuf,
        /// The profile.
        profile: String,
        /// How long it was tried.
        waited: Duration,
        /// The last error.
        detail: String,
    },
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
    /// The exported kubeconfig cannot be used.
    #[error(
        "cannot use the kubeconfig {path} for the cluster API: {detail}: export it again from the control-plane node"
    )]
    Kubeconfig {
        /// The kubeconfig.
        path: PathBuf,
        /// What is wrong (redacted).
        detail: String,
    },
    /// A step needs the cluster API but none was attached yet.
    #[error(
        "the scenario has no cluster API yet: export the kubeconfig and call `attach_cluster` first"
    )]
    NoCluster,
    /// A timeline query failed (a mark that was never set).
    #[error(transparent)]
    Timeline(#[from] TimelineError),
    /// A wait on the timeline failed.
    #[error(transparent)]
    Wait(#[from] WaitError),
    /// A measured duration is outside its expectation.
    #[error("{name}: measured {measured}, expected {expected} ({origin})")]
    Timing {
        /// The measurement.
        name: String,
        /// The value, for people.
        measured: String,
        /// The expectation, for people.
        expected: String,
        /// Where the expectation comes from.
        origin: String,
    },
    /// A claim drifted and the run was given `--strict-claims`.
    #[error(
        "claim {id} drifted (--strict-claims): the course says {text:?}; expected {expected}, measured {measured}"
    )]
    ClaimDrifted {
        /// The claim.
        id: String,
        /// The course's words.
        text: String,
        /// The expectation, for people.
        expected: String,
        /// The measurement, for people.
        measured: String,
    },
}

/// How a timeline-backed wait looks: the timeline is in memory, so often.
const TIMELINE_BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(50),
    max: Duration::from_millis(500),
    factor: 2.0,
};

/// Extra time a timing wait gives the watch to deliver a transition that happened at the deadline.
const OBSERVATION_SLACK: Duration = Duration::from_secs(2);

/// How long the timeline recorder may take to list what exists when the cluster is attached.
const RECORDER_SYNC: Duration = Duration::from_secs(60);

/// The cluster API of a scenario: its client and the recorder feeding the timeline.
struct ClusterApi {
    client: kube::Client,
    kubeconfig: PathBuf,
    server: String,
    recorder: Recorder,
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

/// How long [`Lab::attach_cluster`] tries to reach the API server.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(4);

/// One scenario's lab.
pub struct Lab {
    minikube: Minikube,
    settings: Settings,
    nodes: Vec<NodeInfo>,
    registry: Registry,
    profile_reg: Option<Registration>,
    outcomes: BTreeMap<String, String>,
    marks: BTreeMap<String, jiff::Timestamp>,
    jumpbox: Option<Arc<Jumpbox>>,
    probers: BTreeMap<String, Prober>,
    timeline: Timeline,
    cluster: Option<ClusterApi>,
    measurements: Vec<Measurement>,
    claims: Vec<Claim>,
    strict_claims: bool,
    touched: BTreeSet<ObjectRef>,
    course: Option<CourseState>,
    spare: Option<KeptCluster>,
    adopted_lease: Option<ProfileLease>,
    processes: BTreeMap<String, crate::runner::Background>,
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
            .field("probers", &self.probers)
            .field("processes", &self.processes.keys().collect::<Vec<_>>())
            .field(
                "course",
                &self.course.as_ref().map(|c| {
                    format!(
                        "{}{}",
                        c.stage(),
                        c.spoiled()
                            .map(|w| format!(" (not reusable: {w})"))
                            .unwrap_or_default()
                    )
                }),
            )
            .field(
                "spare",
                &self
                    .spare
                    .as_ref()
                    .map(|k| format!("{} at {}", k.profile, k.state.stage())),
            )
            .field(
                "cluster_api",
                &self.cluster.as_ref().map(|c| c.kubeconfig.clone()),
            )
            .field("timeline", &self.timeline)
            .field("measurements", &self.measurements)
            .field(
                "claims",
                &self
                    .claims
                    .iter()
                    .map(|c| format!("{}: {}", c.id, c.verdict_text()))
                    .collect::<Vec<_>>(),
            )
            .field("transcript", &self.minikube.runner().transcript().dir())
            .finish()
    }
}

/// What happened to the profile when the scenario ended.
#[derive(Debug)]
pub enum Cleanup {
    /// The scenario created no profile.
    Nothing,
    /// The profile was deleted.
    Deleted,
    /// The profile was kept (failed scenario with `--keep-on-failure`); the text says how to reach
    /// and delete it.
    Kept(String),
    /// The course's cluster passed the scenario unchanged enough to be reused: the run keeps it
    /// for the next scenario.
    Reused(Box<KeptCluster>),
}

impl Lab {
    /// A lab for one scenario, driving `minikube` (its profile and transcript are the scenario's).
    #[must_use]
    pub fn new(minikube: Minikube, settings: Settings) -> Self {
        let transcript = minikube.runner().transcript();
        let timeline = Timeline::new(transcript.dir(), transcript.redactor().clone());
        Self {
            minikube,
            settings,
            nodes: Vec::new(),
            registry: Registry::new(),
            profile_reg: None,
            outcomes: BTreeMap::new(),
            marks: BTreeMap::new(),
            jumpbox: None,
            probers: BTreeMap::new(),
            timeline,
            cluster: None,
            measurements: Vec::new(),
            claims: Vec::new(),
            strict_claims: false,
            touched: BTreeSet::new(),
            course: None,
            spare: None,
            adopted_lease: None,
            processes: BTreeMap::new(),
        }
    }

    /// Makes drifted claims fail their step (`--strict-claims`).
    #[must_use]
    pub fn strict_claims(mut self, strict: bool) -> Self {
        self.strict_claims = strict;
        self
    }

    /// Registers what this lab creates (its profile, host files, jumpbox) in `registry`, the
    /// run's (see [`crate::cleanup`]).
    #[must_use]
    pub fn tracked_by(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// The registry this lab registers what it creates in.
    #[must_use]
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether this lab created (or adopted) its profile and has not deleted it.
    #[must_use]
    pub fn created(&self) -> bool {
        self.profile_reg.is_some()
    }

    /// Releases a profile's registration (deleting the profile), as an error when it fails.
    async fn release_profile(registration: Registration) -> Result<(), LabError> {
        let released = registration.release(Urgency::Orderly).await;
        match released.outcome {
            Outcome::Failed(why) => Err(LabError::Cleanup {
                what: released.what,
                why,
            }),
            Outcome::Released(_) | Outcome::Kept(_) => Ok(()),
        }
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

    /// Replaces `<profile>` in a feature's text with the scenario's profile, and `<NAME>` with
    /// the named outcome `NAME` when the scenario recorded one (`<stopped worker>`).
    #[must_use]
    pub fn expand(&self, text: &str) -> String {
        let mut text = text.replace("<profile>", self.profile());
        if text.contains('<') {
            for (name, value) in &self.outcomes {
                text = text.replace(&format!("<{name}>"), value);
            }
        }
        text
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

    /// Marks the current time under `name` ("worker stopped"), on the timeline too: timing
    /// assertions and claims measure from marks.
    pub fn mark(&mut self, name: impl Into<String>) -> jiff::Timestamp {
        let name = name.into();
        let at = self.timeline.mark(&name);
        self.marks.insert(name, at);
        at
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

    /// The run's settings.
    #[must_use]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Keeps a background process under its Gherkin name ("the proxy", "the etcd watch"); one
    /// already there under that name is returned (the caller stops it).
    pub fn keep_process(
        &mut self,
        name: impl Into<String>,
        process: crate::runner::Background,
    ) -> Option<crate::runner::Background> {
        self.processes.insert(name.into(), process)
    }

    /// The background process kept under `name`.
    #[must_use]
    pub fn process(&self, name: &str) -> Option<&crate::runner::Background> {
        self.processes.get(name)
    }

    /// Takes the background process kept under `name` out (to stop it).
    pub fn take_process(&mut self, name: &str) -> Option<crate::runner::Background> {
        self.processes.remove(name)
    }

    /// The course's cluster this scenario works on, if any (see [`crate::course`]).
    #[must_use]
    pub fn course(&self) -> Option<&CourseState> {
        self.course.as_ref()
    }

    /// The course's cluster, to change.
    pub fn course_mut(&mut self) -> Option<&mut CourseState> {
        self.course.as_mut()
    }

    /// Makes this scenario's own profile the course's cluster.
    pub fn set_course(&mut self, state: CourseState) {
        self.course = Some(state);
    }

    /// Offers the run's kept cluster to this scenario (it is given back at the end if unused).
    pub fn offer(&mut self, kept: Option<KeptCluster>) {
        self.spare = kept;
    }

    /// Takes the offered cluster, if any.
    pub fn take_spare(&mut self) -> Option<KeptCluster> {
        self.spare.take()
    }

    /// Works on `kept` from now on: its profile, nodes and course state; the cluster API is
    /// attached again when it has one.
    ///
    /// # Errors
    /// [`LabError::Kubeconfig`] when its API cannot be attached.
    pub async fn adopt(&mut self, kept: KeptCluster) -> Result<(), LabError> {
        self.minikube = Minikube::new(
            self.minikube.binary(),
            &kept.profile,
            self.minikube.runner().clone(),
        );
        if let Some(registration) = &kept.registration {
            registration.report_to(self.minikube.runner().transcript(), self.settings.env());
        }
        self.profile_reg = kept.registration;
        self.nodes = kept.nodes;
        self.adopted_lease = kept.lease;
        let api = crate::course::api_kubeconfig(&kept.state);
        kept.state
            .files()
            .report_to(self.minikube.runner().transcript());
        self.course = Some(kept.state);
        if let Some(path) = api {
            self.attach_cluster(&path).await?;
            self.check_cluster_reachable().await?;
        }
        Ok(())
    }

    /// Deletes a kept cluster this scenario cannot use.
    ///
    /// # Errors
    /// Provider errors from `minikube delete`.
    pub async fn discard(&mut self, kept: KeptCluster) -> Result<(), LabError> {
        match kept.registration {
            Some(registration) => {
                registration.report_to(self.minikube.runner().transcript(), self.settings.env());
                Self::release_profile(registration).await
            }
            None => {
                let minikube = Minikube::new(
                    self.minikube.binary(),
                    &kept.profile,
                    self.minikube.runner().clone(),
                );
                Ok(minikube.delete().await?)
            }
        }
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
        // Registered before it exists: an interrupted `minikube start` leaves nodes behind too.
        self.profile_reg = Some(self.registry.register(
            Profile {
                minikube: self.minikube.binary().to_path_buf(),
                profile: self.profile().to_string(),
            },
            self.minikube.runner().transcript(),
            self.settings.env(),
        ));
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
        self.check_node(node)?;
        let env: String = self
            .settings
            .env()
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
            .collect();
        Ok(self.minikube.ssh(node, &format!("{env}{script}")).await?)
    }

    /// Checks that `node` (`<profile>-m02`, or `m02` as minikube also accepts) is one of the
    /// profile's nodes, once they are known.
    ///
    /// # Errors
    /// [`LabError::UnknownNode`] listing the nodes.
    pub fn check_node(&self, node: &str) -> Result<(), LabError> {
        let profile = self.profile();
        let known = self
            .nodes
            .iter()
            .any(|n| n.name == node || n.name == format!("{profile}-{node}"));
        if self.nodes.is_empty() || known {
            return Ok(());
        }
        Err(LabError::UnknownNode {
            node: node.to_string(),
            profile: profile.to_string(),
            nodes: self.nodes.iter().map(|n| n.name.clone()).collect(),
        })
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

    /// The scenario's timeline (nodes, pods, events and marks; see [`crate::timeline`]).
    #[must_use]
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Gives the scenario its cluster API: a kube-rs client from the kubeconfig the harness
    /// exported to the host, and the timeline recorder (watches on nodes, pods, events, leases).
    /// The kubeconfig's credentials are registered with the redactor first. Calling it again
    /// (a new kubeconfig after a restart) replaces the client and recorder; the timeline goes on.
    ///
    /// Returns at once; [`check_cluster_reachable`](Self::check_cluster_reachable) then waits
    /// until the recorder has recorded what exists.
    ///
    /// # Errors
    /// [`LabError::Kubeconfig`] when the file cannot be read or used.
    pub async fn attach_cluster(&mut self, kubeconfig: &Path) -> Result<(), LabError> {
        let redactor = self.minikube.runner().transcript().redactor().clone();
        let fail = |detail: String| LabError::Kubeconfig {
            path: kubeconfig.to_path_buf(),
            detail: redactor.redact(&detail),
        };
        let text = std::fs::read_to_string(kubeconfig).map_err(|e| fail(e.to_string()))?;
        register_kubeconfig_secrets(&redactor, &text);
        let config = kube::config::Kubeconfig::from_yaml(&text).map_err(|e| fail(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(
            config,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| fail(e.to_string()))?;
        let recorder = Recorder::start(&client, &self.timeline);
        self.cluster = Some(ClusterApi {
            client,
            kubeconfig: kubeconfig.to_path_buf(),
            server,
            recorder,
        });
        self.mark("cluster API attached");
        Ok(())
    }

    /// Asks the attached cluster's API server its version for up to [`REACH_TIMEOUT`] (an API
    /// server restarting answers within it), so that a kubeconfig pointing nowhere fails at once
    /// instead of at the end of every wait; then waits until the timeline's recorder has listed
    /// what exists, so that marks set afterwards come after those objects.
    ///
    /// # Errors
    /// [`LabError::Unreachable`] naming the server and the kubeconfig; [`LabError::Kubeconfig`]
    /// when the API server answers but does not list nodes, pods, events and node leases within
    /// [`RECORDER_SYNC`]; [`LabError::NoCluster`] before [`attach_cluster`](Self::attach_cluster).
    pub async fn check_cluster_reachable(&self) -> Result<(), LabError> {
        crate::progress::track(
            "the API server's version",
            Some(REACH_TIMEOUT),
            self.check_api_answers(),
        )
        .await?;
        let api = self.cluster.as_ref().ok_or(LabError::NoCluster)?;
        let synced = crate::progress::track(
            "the timeline's first lists of nodes, pods, events and node leases",
            Some(RECORDER_SYNC),
            api.recorder.synced(RECORDER_SYNC),
        )
        .await;
        if synced {
            Ok(())
        } else {
            Err(LabError::Kubeconfig {
                path: api.kubeconfig.clone(),
                detail: format!(
                    "the API server at {} answers but did not list nodes, pods, events and node leases within {}",
                    api.server,
                    crate::claims::human(RECORDER_SYNC)
                ),
            })
        }
    }

    async fn check_api_answers(&self) -> Result<(), LabError> {
        let api = self.cluster.as_ref().ok_or(LabError::NoCluster)?;
        let (client, server, kubeconfig) =
            (&api.client, api.server.as_str(), api.kubeconfig.as_path());
        let started = std::time::Instant::now();
        let mut last = String::new();
        while started.elapsed() < REACH_TIMEOUT {
            let left = REACH_TIMEOUT.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, client.apiserver_version()).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "no answer".into(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let redactor = self.minikube.runner().transcript().redactor();
        Err(LabError::Unreachable {
            server: server.to_string(),
            kubeconfig: kubeconfig.to_path_buf(),
            profile: self.profile().to_string(),
            waited: REACH_TIMEOUT,
            detail: redactor.redact(&last),
        })
    }

    /// The cluster API's client.
    ///
    /// # Errors
    /// [`LabError::NoCluster`] before [`attach_cluster`](Self::attach_cluster).
    pub fn kube(&self) -> Result<&kube::Client, LabError> {
        self.cluster
            .as_ref()
            .map(|c| &c.client)
            .ok_or(LabError::NoCluster)
    }

    /// The exported kubeconfig, once attached.
    #[must_use]
    pub fn kubeconfig(&self) -> Option<&Path> {
        self.cluster.as_ref().map(|c| c.kubeconfig.as_path())
    }

    /// Remembers an object the scenario works on, for the diagnostics bundle (`kubectl describe`
    /// of each, events of its namespace). `namespace` is empty for cluster-scoped kinds.
    pub fn touch(&mut self, kind: &str, namespace: &str, name: &str) {
        self.touched.insert(ObjectRef {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: self.expand(name),
        });
    }

    /// Waits for the first transition matching `query` after mark `mark`, measures how long after
    /// the mark it came (on `basis`'s clock) and records the measurement `name` with `expected`.
    /// The wait lasts until the latest acceptable time (for a lower bound only: twice the value)
    /// plus a little for the watch to deliver.
    ///
    /// # Errors
    /// [`LabError::Timing`] when the value is outside `expected` (it is still recorded),
    /// [`LabError::Wait`] when nothing came in time, [`LabError::Timeline`] for an unknown mark.
    pub async fn measure(
        &mut self,
        name: &str,
        mark: &str,
        query: &Query,
        expected: DurationExpectation,
        basis: TimeBasis,
    ) -> Result<Duration, LabError> {
        let since = self.timeline.mark_time(mark)?;
        let budget = expected
            .latest()
            .unwrap_or(expected.value * 2 + expected.tolerance);
        let elapsed = crate::timeline::duration_between(since, jiff::Timestamp::now());
        let remaining = budget.saturating_sub(elapsed) + OBSERVATION_SLACK;
        let what = format!("{} after {mark:?}", query.what());
        let waited = Wait::until(&what, remaining)
            .backoff(TIMELINE_BACKOFF)
            .poll_waking(self.timeline.transition_probe(mark, query), || {
                self.timeline.changed()
            })
            .await;
        let mut measurement = Measurement {
            from_mark: Some(mark.to_string()),
            to: Some(query.what().to_string()),
            basis,
            expected: Some(expected.clone()),
            ..Measurement::new(name, Duration::ZERO)
        };
        match waited {
            Ok(found) => {
                let value = crate::timeline::duration_between(since, found.value.time(basis));
                measurement.value = Some(value);
                if found.value.late() {
                    measurement.note =
                        Some("the transition was observed late (after a watch reconnect)".into());
                }
                self.measurements.push(measurement);
                if expected.holds_for(value) {
                    Ok(value)
                } else {
                    Err(LabError::Timing {
                        name: name.to_string(),
                        measured: crate::claims::human(value),
                        expected: expected.to_string(),
                        origin: expected.source.to_string(),
                    })
                }
            }
            Err(e) => {
                measurement.value = None;
                measurement.note = Some(format!(
                    "not seen within {}",
                    crate::claims::human(budget + OBSERVATION_SLACK)
                ));
                self.measurements.push(measurement);
                Err(e.into())
            }
        }
    }

    /// Checks that `query` has held since mark `mark` and keeps holding until `period` after it
    /// (checked on every timeline entry, so a short break between two looks is caught).
    ///
    /// # Errors
    /// [`LabError::Wait`] naming the first state that broke it; [`LabError::Timeline`] for an
    /// unknown mark.
    pub async fn expect_stays(
        &mut self,
        mark: &str,
        query: &StateQuery,
        period: Duration,
    ) -> Result<(), LabError> {
        let since = self.timeline.mark_time(mark)?;
        let elapsed = crate::timeline::duration_between(since, jiff::Timestamp::now());
        let remaining = period.saturating_sub(elapsed);
        Wait::new(
            format!(
                "{} for {} after {mark:?}",
                query.what(),
                crate::claims::human(period)
            ),
            Expect::StaysFor { period: remaining },
        )
        .backoff(TIMELINE_BACKOFF)
        .poll(self.timeline.stays_probe(mark, query))
        .await?;
        Ok(())
    }

    /// Records a measurement taken some other way.
    pub fn record_measurement(&mut self, measurement: Measurement) {
        self.measurements.push(measurement);
    }

    /// The measurements so far.
    #[must_use]
    pub fn measurements(&self) -> &[Measurement] {
        &self.measurements
    }

    /// Records one of the course's claims and returns its verdict. A claim with the same id
    /// replaces the earlier one.
    ///
    /// # Errors
    /// [`LabError::ClaimDrifted`] when it drifted and the run was given `--strict-claims` (it is
    /// recorded all the same).
    pub fn claim(&mut self, claim: Claim) -> Result<Verdict, LabError> {
        let verdict = claim.verdict();
        let err =
            (verdict == Verdict::Drifted && self.strict_claims).then(|| LabError::ClaimDrifted {
                id: claim.id.clone(),
                text: claim.text.clone(),
                expected: claim.expected.to_string(),
                measured: claim.measured.to_string(),
            });
        self.claims.retain(|c| c.id != claim.id);
        self.claims.push(claim);
        err.map_or(Ok(verdict), Err)
    }

    /// The claims so far.
    #[must_use]
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }

    /// Ends the scenario's recording (before its profile is deleted): stops the timeline's
    /// recorder, reads the cluster's environment when it has one, and collects the diagnostics
    /// bundle when it failed. Never fails: problems are written into the record.
    pub async fn conclude(&mut self, failed: bool, reports_root: &Path) -> LabRecord {
        let transcript = self.minikube.runner().transcript();
        let dir = transcript.dir().to_path_buf();
        let relative = |p: &Path| {
            p.strip_prefix(reports_root)
                .unwrap_or(p)
                .display()
                .to_string()
        };
        let mut record = LabRecord {
            dir: relative(&dir),
            profile: self.profile().to_string(),
            transcript: relative(&dir.join("transcript.txt")),
            marks: self
                .timeline
                .entries()
                .iter()
                .filter_map(|e| match &e.change {
                    crate::timeline::Change::Mark { name } => Some((name.clone(), e.observed)),
                    _ => None,
                })
                .collect(),
            outcomes: self.outcomes.clone(),
            measurements: self.measurements.clone(),
            claims: self.claims.clone(),
            last_command: last_command(&dir.join("transcript.jsonl")),
            ..LabRecord::default()
        };
        if let Some(cluster) = &self.cluster {
            record.cluster = Some(
                crate::report::environment::collect_cluster(
                    &cluster.client,
                    &cluster.kubeconfig,
                    self.minikube.runner(),
                    &self.minikube,
                    self.settings.k8s_version,
                )
                .await,
            );
        }
        if failed {
            let redactor = transcript.redactor().clone();
            record.diagnostics = Some(
                crate::diagnostics::collect(crate::diagnostics::Sources {
                    scenario_dir: &dir,
                    reports_root,
                    redactor: &redactor,
                    env: self.settings.env(),
                    minikube: &self.minikube,
                    nodes: &self.nodes,
                    kubeconfig: self.kubeconfig(),
                    touched: &self.touched,
                })
                .await,
            );
        }
        // Stop watching before the profile goes away.
        self.cluster = None;
        if let Some(path) = self.timeline.path()
            && path.exists()
        {
            record.timeline = Some(relative(&path));
        }
        if let Some(e) = self.timeline.write_error() {
            record.problems.push(e);
        }
        record
    }

    /// The course's `curl <target>` from the jumpbox (started on first use: the netshoot
    /// container on the profile's network for real minikube, the host for labsim).
    ///
    /// # Errors
    /// [`LabError::Jumpbox`] when the jumpbox cannot start or curl cannot run; curl's own
    /// failures are in the reply.
    pub async fn curl_from_jumpbox(&mut self, target: &str) -> Result<HttpReply, LabError> {
        Ok(self.jumpbox().await?.curl(target).await?)
    }

    /// The jumpbox, started on first use.
    async fn jumpbox(&mut self) -> Result<Arc<Jumpbox>, LabError> {
        if self.jumpbox.is_none() {
            let jumpbox = Jumpbox::for_provider(
                self.settings.provider,
                self.minikube.profile(),
                self.minikube.runner().clone(),
                &self.registry,
            )
            .await?;
            self.jumpbox = Some(Arc::new(jumpbox));
        }
        Ok(self.jumpbox.clone().expect("started above"))
    }

    /// Starts curling `target` from the jumpbox every `interval` in the background, kept under
    /// `name` until the scenario ends; one already kept under that name is stopped first.
    ///
    /// # Errors
    /// [`LabError::Jumpbox`] when the jumpbox cannot start.
    pub async fn start_prober(
        &mut self,
        name: impl Into<String>,
        target: &str,
        interval: Duration,
    ) -> Result<(), LabError> {
        let jumpbox = self.jumpbox().await?;
        let prober = Prober::start(jumpbox, target, interval);
        if let Some(old) = self.probers.insert(name.into(), prober) {
            old.stop().await;
        }
        Ok(())
    }

    /// The prober kept under `name`.
    #[must_use]
    pub fn prober(&self, name: &str) -> Option<&Prober> {
        self.probers.get(name)
    }

    fn known_nodes(&self) -> Result<&[NodeInfo], LabError> {
        if self.nodes.is_empty() {
            Err(LabError::NoNodes)
        } else {
            Ok(&self.nodes)
        }
    }

    /// Ends the scenario. An offered cluster it did not use goes back to the run. The profile it
    /// worked on is kept for the next scenario when it is the course's cluster, the scenario
    /// passed and did not spoil it (`lease` then goes with it); it is kept for inspection when the
    /// scenario failed and `--keep-on-failure` was given (the text says how to reach and delete
    /// it); else it is deleted.
    ///
    /// # Errors
    /// Provider errors from `minikube delete`.
    pub async fn finish(
        &mut self,
        failed: bool,
        lease: Option<ProfileLease>,
    ) -> Result<(Cleanup, Option<KeptCluster>), LabError> {
        let unused = self.spare.take();
        if !self.created() {
            return Ok((Cleanup::Nothing, unused));
        }
        // The jumpbox sits on the profile's Docker network: remove it first, or `minikube delete`
        // cannot remove the network (Docker refuses while a container is attached). A kept
        // cluster gets a new jumpbox in the next scenario.
        for (_, prober) in std::mem::take(&mut self.probers) {
            prober.stop().await;
        }
        if let Some(jumpbox) = self.jumpbox.take() {
            // The probers held the only other references, and they are stopped.
            if let Ok(jumpbox) = Arc::try_unwrap(jumpbox) {
                jumpbox.stop().await?;
            }
        }
        if failed && self.settings.keep_on_failure {
            let how = self.how_to_reach();
            if let Some(files) = self.course.as_mut().map(CourseState::files_mut) {
                files.keep(format!(
                    "the kept cluster's kubeconfigs; remove with the cluster: rm -rf {}",
                    shell_quote(&files.dir().to_string_lossy())
                ));
            }
            if let Some(registration) = self.profile_reg.take() {
                registration.keep(how.clone());
            }
            // The profile's name stays taken for the rest of the run.
            if let Some(lease) = self.adopted_lease.take().or(lease) {
                lease.hold_for_run();
            }
            return Ok((
                Cleanup::Kept(format!(
                    "kept minikube profile {} for inspection (--keep-on-failure):\n{how}",
                    self.profile()
                )),
                unused,
            ));
        }
        if !failed && let Some(state) = self.course.take_if(|c| c.spoiled().is_none()) {
            let kept = KeptCluster {
                profile: self.profile().to_string(),
                nodes: self.nodes.clone(),
                state,
                lease: self.adopted_lease.take().or(lease),
                registration: self.profile_reg.take(),
            };
            return Ok((Cleanup::Reused(Box::new(kept)), unused));
        }
        if let Some(registration) = self.profile_reg.take() {
            Self::release_profile(registration).await?;
        }
        self.nodes.clear();
        self.course = None;
        self.adopted_lease = None;
        Ok((Cleanup::Deleted, unused))
    }

    /// How to reach this lab's cluster and delete it, as shell lines: `minikube ssh` to a worker
    /// (else the primary), `export KUBECONFIG=…` once a kubeconfig exists on the host (the
    /// reader's exported one, else the harness's admin.conf), and the deletion (profile and host
    /// files). labsim's state directory is named when it is not the default.
    #[must_use]
    pub fn how_to_reach(&self) -> String {
        let bin = shell_quote(&self.minikube.binary().to_string_lossy());
        let profile = shell_quote(self.profile());
        let node = self
            .nodes
            .get(1)
            .or(self.nodes.first())
            .map_or_else(|| self.profile().to_string(), |n| n.name.clone());
        let mut lines = Vec::new();
        if self.settings.provider == crate::settings::ProviderKind::Labsim
            && let Some(home) = std::env::var_os("LABSIM_HOME")
        {
            lines.push(format!(
                "  labsim state:  export LABSIM_HOME={}",
                shell_quote(&home.to_string_lossy())
            ));
        }
        lines.push(format!(
            "  reach a node:  {bin} ssh -p {profile} -n {}",
            shell_quote(&node)
        ));
        let files = self.course.as_ref().map(CourseState::files);
        let kubeconfig = self.course.as_ref().and_then(|c| {
            let exported = c.files().kubeconfig();
            if exported.exists() {
                Some(exported)
            } else {
                crate::course::api_kubeconfig(c)
            }
        });
        if let Some(path) = kubeconfig {
            lines.push(format!(
                "  use kubectl:   export KUBECONFIG={}",
                shell_quote(&path.to_string_lossy())
            ));
        }
        let mut delete = format!("{bin} delete -p {profile}");
        if let Some(files) = files {
            delete.push_str(&format!(
                " && rm -rf {}",
                shell_quote(&files.dir().to_string_lossy())
            ));
        }
        lines.push(format!("  delete it:     {delete}"));
        lines.join("\n")
    }
}

/// Registers a kubeconfig's credentials (each user's `client-key-data`, decoded too, `token`,
/// `password`) with `redactor`, so the values are hidden wherever they appear.
pub fn register_kubeconfig_secrets(redactor: &crate::redact::Redactor, kubeconfig: &str) {
    let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(kubeconfig) else {
        return;
    };
    let users = doc["users"].as_array().cloned().unwrap_or_default();
    for user in users {
        let user = &user["user"];
        if let Some(key) = user["client-key-data"].as_str() {
            redactor.register(key);
            if let Ok(pem) =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key.trim())
            {
                redactor.register(String::from_utf8_lossy(&pem).trim());
            }
        }
        for field in ["token", "password"] {
            if let Some(v) = user[field].as_str() {
                redactor.register(v);
            }
        }
    }
}

/// How many trailing lines of the last command's output a failure message quotes.
const TAIL_LINES: usize = 20;

/// The last entry of a transcript (already redacted), for failure messages.
fn last_command(jsonl: &Path) -> Option<LastCommand> {
    let text = std::fs::read_to_string(jsonl).ok()?;
    let entry: serde_json::Value = serde_json::from_str(text.lines().last()?).ok()?;
    Some(describe_command(&entry))
}

/// The exit-code sentinel the provider wraps node scripts with (`provider::wrap_script`).
static SENTINEL_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^__K8S_LABS_EXIT_[0-9a-f]+__(\d+)\r?$\n?").expect("valid regex")
});

/// A transcript entry as a failure message shows it: a script run on a node through
/// `minikube ssh` is shown as that script, with its own exit code (the sentinel line removed).
fn describe_command(entry: &serde_json::Value) -> LastCommand {
    let mut ending = match (entry["ending"]["kind"].as_str(), &entry["ending"]["value"]) {
        (Some("exit"), v) => format!("exit {v}"),
        (Some(kind), _) => kind.replace('_', " "),
        _ => "unknown".into(),
    };
    let mut output = entry["stdout"]
        .as_str()
        .unwrap_or_default()
        .trim_end()
        .to_string();
    let stderr = entry["stderr"].as_str().unwrap_or_default();
    if !stderr.is_empty() {
        output.push_str("\n[stderr]\n");
        output.push_str(stderr);
    }
    let mut command = entry["command"].as_str().unwrap_or_default().to_string();
    if let Some(script) = entry["note"]
        .as_str()
        .filter(|n| n.starts_with("script on "))
        && let Some(code) = SENTINEL_LINE.captures(&output).map(|c| c[1].to_string())
    {
        output = SENTINEL_LINE.replace_all(&output, "").into_owned();
        command = script.to_string();
        ending = format!("exit {code}");
    }
    let lines: Vec<&str> = output.trim_end().lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    LastCommand {
        command,
        ending,
        tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_script_is_shown_as_the_script_with_its_own_exit_code() {
        let entry = serde_json::json!({
            "command": "minikube ssh -p labs -n labs -- 'bash -c ...'",
            "note": "script on labs:\ncontainerd --version && sudo systemctl is-active containerd",
            "ending": {"kind": "exit", "value": 0},
            "stdout": "containerd 1.6.20\r\ninactive\r\n__K8S_LABS_EXIT_04151ed33145130f__3\r\n",
            "stderr": ""
        });
        let shown = describe_command(&entry);
        assert_eq!(
            shown.command,
            "script on labs:\ncontainerd --version && sudo systemctl is-active containerd"
        );
        assert_eq!(shown.ending, "exit 3");
        assert_eq!(shown.tail, "containerd 1.6.20\ninactive");
        let plain = describe_command(
            &serde_json::json!({"command": "kubectl get nodes", "ending": {"kind": "timed_out"}, "stdout": "a\nb\n", "stderr": "err\n"}),
        );
        assert_eq!(
            (plain.ending.as_str(), plain.tail.as_str()),
            ("timed out", "a\nb\n[stderr]\nerr")
        );
    }

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
