//! The course's cluster, built in stages exactly as the reader builds it (chapters 2 and 3), and
//! kept between scenarios so that chapter 3 starts where chapter 2 left off.
//!
//! A [`Stage`] is a point the course reaches: nodes created → scripts run → control plane
//! initialised → kubectl configured → network plugin installed → workers joined → ingress
//! controller installed → kubeconfig exported → hello-world deployed. Each stage is one function
//! here that runs the course's own commands (through `minikube ssh` on the nodes, or on the host),
//! then waits, through the cluster API, for the state the course says follows ("Once all the Pods
//! are Ready, the control plane Node should transition to Ready").
//!
//! A scenario asks for a cluster at a stage ([`reach`]): the run's kept cluster is reused when it
//! is at that stage or before it (and is brought forward), else a new one is built. A scenario
//! that changes the cluster in a way later scenarios must not inherit marks it not reusable
//! ([`CourseState::spoil`]); a failed scenario's cluster is never kept. The run keeps at most one
//! cluster ([`KeptCluster`]), and deletes it when the run ends.
//!
//! Besides the reader's commands, the harness reads `/etc/kubernetes/admin.conf` once the control
//! plane exists, for its own API client (kube-rs) and the timeline; the reader's kubeconfig
//! export is a stage of its own and does not depend on it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::cleanup::{Registration, Registry};
use crate::kube::{self, KubeError};
use crate::kubeadm_config::{KubeadmConfig, KubeadmConfigError};
use crate::kubeconfig::{self, HostNetwork, KubeconfigError};
use crate::lab::{Lab, LabError};
use crate::node_shell::{self, JoinCommand, ShellError};
use crate::provider::{NodeInfo, ProviderError};
use crate::provisioning::{self, Fetch, ProvisioningError, Role};
use crate::run::ProfileLease;
use crate::runner::{Command, Output, RunError};
use crate::settings::ProviderKind;
use crate::transcript::Transcript;

/// A point in the course's construction of its cluster, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// `minikube start --no-kubernetes … --nodes 3`.
    NodesCreated,
    /// `master.sh` on the primary node, `worker.sh` on the workers.
    ScriptsRun,
    /// `sudo kubeadm init --config config.yaml` on the primary node.
    ControlPlaneInitialised,
    /// The three kubeconfig lines `kubeadm init` prints, on the primary node.
    KubectlConfigured,
    /// `kubectl apply -f flannel.yaml`; the control plane is Ready and CoreDNS Running.
    NetworkPluginInstalled,
    /// `sudo kubeadm join …` and `sudo systemctl enable kubelet` on both workers; 3 nodes Ready.
    WorkersJoined,
    /// `kubectl apply -f traefik.yaml`; a traefik pod Running on every node it tolerates.
    IngressControllerInstalled,
    /// `minikube ssh --node <primary> cat '$HOME/.kube/config' >kubeconfig` on the host.
    KubeconfigExported,
    /// Chapter 3: `kubectl apply -f hello-world.yaml` from the host; 2 pods Running.
    HelloWorldDeployed,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 9] = [
        Stage::NodesCreated,
        Stage::ScriptsRun,
        Stage::ControlPlaneInitialised,
        Stage::KubectlConfigured,
        Stage::NetworkPluginInstalled,
        Stage::WorkersJoined,
        Stage::IngressControllerInstalled,
        Stage::KubeconfigExported,
        Stage::HelloWorldDeployed,
    ];

    /// The name features use (`"workers joined"`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Stage::NodesCreated => "nodes created",
            Stage::ScriptsRun => "scripts run",
            Stage::ControlPlaneInitialised => "control plane initialised",
            Stage::KubectlConfigured => "kubectl configured",
            Stage::NetworkPluginInstalled => "network plugin installed",
            Stage::WorkersJoined => "workers joined",
            Stage::IngressControllerInstalled => "ingress controller installed",
            Stage::KubeconfigExported => "kubeconfig exported",
            Stage::HelloWorldDeployed => "hello-world deployed",
        }
    }

    /// The stage after this one.
    #[must_use]
    pub fn next(self) -> Option<Stage> {
        let i = Stage::ALL.iter().position(|s| *s == self)?;
        Stage::ALL.get(i + 1).copied()
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.name() == s)
            .ok_or_else(|| {
                let names: Vec<String> = Stage::ALL
                    .iter()
                    .map(|s| format!("{:?}", s.name()))
                    .collect();
                format!(
                    "unknown stage {s:?}: the course's stages are {}",
                    names.join(", ")
                )
            })
    }
}

/// How long the stages wait for what follows the reader's commands. Only image pulls make these
/// long on a real cluster; the Kubernetes timings that matter come from the cluster's own config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Pods of a just-applied manifest Running (images pulled, containers started).
    pub pods_start: Duration,
    /// A node Ready after its network plugin or its join: the pods' start plus the node monitor's
    /// grace period, in which the kubelet's status reaches the API.
    pub node_ready: Duration,
    /// A restarted container Running again: the kubelet's crash-loop back-off starts at 10 s and
    /// doubles (`pkg/kubelet/kubelet.go`, `backOffPeriod`, `MaxContainerBackOff` 300 s): three
    /// steps (10 + 20 + 40 s) plus a sync period.
    pub restart: Duration,
}

impl Budgets {
    /// The budgets for `provider` and the cluster's configured node monitor grace period (the
    /// Kubernetes default, 40 s/50 s, when the config sets none).
    #[must_use]
    pub fn new(provider: ProviderKind, grace: Option<Duration>) -> Self {
        let pods_start = match provider {
            ProviderKind::Labsim => Duration::from_secs(90),
            ProviderKind::Minikube => Duration::from_secs(5 * 60),
        };
        let grace = grace.unwrap_or(Duration::from_secs(50));
        Self {
            pods_start,
            node_ready: pods_start + grace,
            restart: Duration::from_secs(10 + 20 + 40 + 10),
        }
    }
}

/// Files the harness keeps on the host for one cluster (the reader's `kubeconfig`, the harness's
/// copy of admin.conf, kubectl's cache); the directory is 0700 and removed when dropped, unless
/// it is [kept](Self::keep) with its cluster.
#[derive(Debug)]
pub struct HostFiles {
    dir: PathBuf,
    registration: Option<Registration>,
    kept: bool,
}

impl HostFiles {
    /// A fresh directory for `profile`'s files.
    ///
    /// # Errors
    /// [`CourseError::HostFiles`].
    pub fn create(profile: &str) -> Result<Self, CourseError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let dir = std::env::temp_dir().join(format!(
            "k8s-labs-cluster-{profile}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&dir)
            .map_err(|source| CourseError::HostFiles {
                path: dir.clone(),
                source,
            })?;
        Ok(Self {
            dir,
            registration: None,
            kept: false,
        })
    }

    /// Registers the directory in the run's `registry` (its removal reported in `transcript`),
    /// so that it goes however the run ends.
    pub fn register(&mut self, registry: &Registry, transcript: &Transcript) {
        self.registration = Some(registry.register(
            crate::cleanup::TempDir {
                path: self.dir.clone(),
                holds: "a cluster's kubeconfigs".into(),
            },
            transcript,
            Vec::new(),
        ));
    }

    /// Reports the directory's removal in `transcript` from now on (the cluster moved to another
    /// scenario, or to the run's end).
    pub fn report_to(&self, transcript: &Transcript) {
        if let Some(registration) = &self.registration {
            registration.report_to(transcript, Vec::new());
        }
    }

    /// Keeps the directory past the run, with its cluster (`--keep-on-failure`); `how` says how
    /// to remove it.
    pub fn keep(&mut self, how: impl Into<String>) {
        self.kept = true;
        if let Some(registration) = self.registration.take() {
            registration.keep(how);
        }
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The reader's exported kubeconfig (`kubeconfig` in the course's working directory).
    #[must_use]
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The harness's own copy of the control plane's admin.conf.
    #[must_use]
    pub fn admin_conf(&self) -> PathBuf {
        self.dir.join("admin.conf")
    }

    /// kubectl's cache directory for this cluster (`KUBECACHEDIR`: discovery and the dispatcher's
    /// `/version` are cached per cluster, KUBECTL-PROTOCOL.md §2).
    #[must_use]
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join("kube-cache")
    }
}

impl Drop for HostFiles {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let removed = crate::cleanup::remove_dir(&self.dir);
        if let Some(registration) = self.registration.take() {
            match removed {
                Ok(how) => registration.report_released(&how),
                // Left registered: the run's final sweep tries again and reports it.
                Err(_) => drop(registration),
            }
        }
    }
}

/// Where the course's cluster is, and what the reader's commands left that later stages need.
#[derive(Debug)]
pub struct CourseState {
    stage: Stage,
    spoiled: Option<String>,
    join: Option<JoinCommand>,
    config: Option<KubeadmConfig>,
    files: HostFiles,
    printed: BTreeMap<String, Vec<(String, String)>>,
    api_attached: bool,
}

impl CourseState {
    /// A cluster whose nodes were just created.
    ///
    /// # Errors
    /// [`CourseError::HostFiles`].
    pub fn new(profile: &str) -> Result<Self, CourseError> {
        Ok(Self {
            stage: Stage::NodesCreated,
            spoiled: None,
            join: None,
            config: None,
            files: HostFiles::create(profile)?,
            printed: BTreeMap::new(),
            api_attached: false,
        })
    }

    /// The last stage completed.
    #[must_use]
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Marks the cluster as changed in a way later scenarios must not inherit (`why` says how).
    pub fn spoil(&mut self, why: impl Into<String>) {
        self.spoiled = Some(why.into());
    }

    /// Why the cluster may not be reused, if it may not.
    #[must_use]
    pub fn spoiled(&self) -> Option<&str> {
        self.spoiled.as_deref()
    }

    /// The join command captured from `kubeadm init`.
    #[must_use]
    pub fn join(&self) -> Option<&JoinCommand> {
        self.join.as_ref()
    }

    /// The kubeadm config `master.sh` wrote (read back after the scripts ran).
    #[must_use]
    pub fn config(&self) -> Option<&KubeadmConfig> {
        self.config.as_ref()
    }

    /// The host files.
    #[must_use]
    pub fn files(&self) -> &HostFiles {
        &self.files
    }

    /// The host files, to register or keep them.
    pub fn files_mut(&mut self) -> &mut HostFiles {
        &mut self.files
    }

    /// Remembers what `command` printed on `node`.
    pub fn remember(&mut self, command: &str, node: &str, output: &str) {
        self.printed
            .entry(command.to_string())
            .or_default()
            .push((node.to_string(), output.to_string()));
    }

    /// What `command` printed, per node, in the order it ran.
    #[must_use]
    pub fn printed(&self, command: &str) -> &[(String, String)] {
        self.printed.get(command).map_or(&[], Vec::as_slice)
    }
}

/// The run's cluster between scenarios.
#[derive(Debug)]
pub struct KeptCluster {
    /// The minikube profile.
    pub profile: String,
    /// Its nodes.
    pub nodes: Vec<NodeInfo>,
    /// Where the course is on it.
    pub state: CourseState,
    /// The profile name's lease (held while the cluster lives).
    pub lease: Option<ProfileLease>,
    /// The profile's entry in the run's registry (deleted however the run ends).
    pub registration: Option<Registration>,
}

/// Errors building or using the course's cluster.
#[derive(Debug, thiserror::Error)]
pub enum CourseError {
    /// A lab operation failed.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// minikube failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A check or wait through the cluster API failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// A command's output could not be read.
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// The kubeconfig could not be exported.
    #[error(transparent)]
    Kubeconfig(#[from] KubeconfigError),
    /// The provisioning scripts cannot be used.
    #[error(transparent)]
    Provisioning(#[from] ProvisioningError),
    /// The kubeadm config the script wrote cannot be read.
    #[error(transparent)]
    KubeadmConfig(#[from] KubeadmConfigError),
    /// A host command could not be run.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The host files could not be created.
    #[error("cannot create {path} for the cluster's host files: {source}")]
    HostFiles {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// One of the course's commands failed.
    #[error("the course's `{command}` failed on {node} (exit {code}); it printed:\n{output}")]
    CommandFailed {
        /// Where it ran (`host` for the reader's computer).
        node: String,
        /// The command as the reader types it (redacted).
        command: String,
        /// Its exit code.
        code: i32,
        /// What it printed (redacted, last lines).
        output: String,
    },
    /// A stage was asked for out of order.
    #[error(
        "cannot perform stage {asked:?}: the scenario's cluster is at {at}; the course reaches it after {needs:?}"
    )]
    OutOfOrder {
        /// The stage asked for.
        asked: String,
        /// Where the cluster is.
        at: String,
        /// The stage it needs first.
        needs: String,
    },
    /// The scenario's own cluster is already past the stage asked for.
    #[error(
        "the scenario's cluster is already at {at}, past {asked:?}: a scenario asks for its cluster once, before changing it"
    )]
    Past {
        /// The stage asked for.
        asked: String,
        /// Where the cluster is.
        at: String,
    },
    /// The scenario has no course cluster.
    #[error(
        "the scenario has no course cluster: start with `Given a cluster where the reader has completed \"…\"`"
    )]
    NoCluster,
    /// Something else than expected.
    #[error("expected {what}: {expected}; found: {found}")]
    Unexpected {
        /// What was checked.
        what: String,
        /// The expectation.
        expected: String,
        /// What was found.
        found: String,
    },
}

impl CourseError {
    /// [`CourseError::Unexpected`]: `what` was checked, `expected` was wanted, `found` was there.
    pub fn unexpected(
        what: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> CourseError {
        CourseError::Unexpected {
            what: what.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

/// How many trailing lines of a failed command's output an error quotes.
const ERROR_LINES: usize = 25;

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(ERROR_LINES)..].join("\n")
}

/// The primary (control-plane) node: the first in `minikube node list`.
///
/// # Errors
/// [`LabError::NoNodes`] before the nodes are listed.
pub fn primary(lab: &Lab) -> Result<NodeInfo, CourseError> {
    lab.nodes()
        .first()
        .cloned()
        .ok_or(CourseError::Lab(LabError::NoNodes))
}

/// The worker nodes (every node but the first).
#[must_use]
pub fn workers(lab: &Lab) -> Vec<NodeInfo> {
    lab.nodes().iter().skip(1).cloned().collect()
}

/// The node named `name` (`<profile>` expanded).
///
/// # Errors
/// [`CourseError::Unexpected`] when the profile has no such node.
pub fn node(lab: &Lab, name: &str) -> Result<NodeInfo, CourseError> {
    let name = lab.expand(name);
    lab.nodes()
        .iter()
        .find(|n| n.name == name)
        .cloned()
        .ok_or_else(|| CourseError::Unexpected {
            what: format!("node {name}"),
            expected: "a node of the profile".into(),
            found: lab
                .nodes()
                .iter()
                .map(|n| n.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn state(lab: &Lab) -> Result<&CourseState, CourseError> {
    lab.course().ok_or(CourseError::NoCluster)
}

fn state_mut(lab: &mut Lab) -> Result<&mut CourseState, CourseError> {
    lab.course_mut().ok_or(CourseError::NoCluster)
}

/// The budgets for this lab's cluster.
#[must_use]
pub fn budgets(lab: &Lab) -> Budgets {
    let grace = lab
        .course()
        .and_then(CourseState::config)
        .and_then(|c| c.timings().node_monitor_grace_period);
    Budgets::new(lab.settings().provider, grace)
}

/// Runs one of the course's commands on `node` and requires exit code 0; remembers what it
/// printed under `label` (the command as the reader types it, without secrets).
async fn course_command(
    lab: &mut Lab,
    node: &str,
    label: &str,
    script: &str,
) -> Result<String, CourseError> {
    let result = lab.run_on(node, script).await?;
    if !result.success() {
        return Err(CourseError::CommandFailed {
            node: node.to_string(),
            command: label.to_string(),
            code: result.code,
            output: lab.minikube().runner().redact(&tail(&result.output)),
        });
    }
    state_mut(lab)?.remember(label, node, &result.output);
    Ok(result.output)
}

/// Runs host `kubectl ARGS` with the reader's exported kubeconfig (`KUBECONFIG`) and this
/// cluster's own cache (`KUBECACHEDIR`), as the reader does after "Exposing the kubeconfig".
///
/// # Errors
/// [`CourseError::NoCluster`], or [`RunError`] when kubectl cannot run.
pub async fn host_kubectl(lab: &Lab, args: &[&str]) -> Result<Output, CourseError> {
    let files = state(lab)?.files();
    let cmd = Command::new("kubectl")
        .args(args.iter().copied())
        .env("KUBECONFIG", files.kubeconfig().to_string_lossy())
        .env("KUBECACHEDIR", files.cache_dir().to_string_lossy());
    Ok(lab.minikube().runner().run(&cmd).await?)
}

/// Runs host kubectl and requires success; remembers its output under the command text.
///
/// # Errors
/// [`CourseError::CommandFailed`] when kubectl fails.
pub async fn host_kubectl_ok(lab: &mut Lab, args: &[&str]) -> Result<String, CourseError> {
    let output = host_kubectl(lab, args).await?;
    let label = format!("kubectl {}", args.join(" "));
    if !output.success() {
        return Err(CourseError::CommandFailed {
            node: "host".into(),
            command: label,
            code: output.code().unwrap_or(-1),
            output: lab
                .minikube()
                .runner()
                .redact(&tail(&format!("{}{}", output.stdout, output.stderr))),
        });
    }
    state_mut(lab)?.remember(&label, "host", &output.stdout);
    Ok(output.stdout)
}

/// Brings the scenario's cluster to `target`: the scenario's own cluster if it has one, else the
/// run's kept cluster when it is at `target` or before it and reusable, else a new one; then
/// performs the missing stages in order.
///
/// # Errors
/// [`CourseError::Past`] when the scenario's own cluster is past `target`; any stage's error.
pub async fn reach(lab: &mut Lab, target: Stage) -> Result<(), CourseError> {
    if let Some(state) = lab.course() {
        if state.stage() > target {
            return Err(CourseError::Past {
                asked: target.name().into(),
                at: state.stage().name().into(),
            });
        }
    } else {
        match lab.take_spare() {
            Some(kept) if kept.state.stage() <= target && kept.state.spoiled().is_none() => {
                lab.adopt(kept).await?;
            }
            Some(kept) => lab.discard(kept).await?,
            None => {}
        }
        if lab.course().is_none() {
            start_nodes(lab, 3).await?;
        }
    }
    while let Some(now) = lab.course().map(CourseState::stage) {
        if now >= target {
            break;
        }
        let Some(next) = now.next() else { break };
        perform(lab, next).await?;
    }
    Ok(())
}

/// The course's `minikube start --no-kubernetes … --nodes N`; with 3 nodes the profile becomes the
/// scenario's course cluster at [`Stage::NodesCreated`].
///
/// # Errors
/// Lab and provider errors.
pub async fn start_nodes(lab: &mut Lab, count: u32) -> Result<(), CourseError> {
    lab.start_nodes(count).await?;
    if count == 3 {
        let mut state = CourseState::new(lab.profile())?;
        state
            .files_mut()
            .register(lab.registry(), lab.minikube().runner().transcript());
        lab.set_course(state);
    }
    Ok(())
}

/// Performs exactly `stage`, which must be the one after the cluster's current stage.
///
/// # Errors
/// [`CourseError::OutOfOrder`]; any error of the stage's commands and waits.
pub async fn perform(lab: &mut Lab, stage: Stage) -> Result<(), CourseError> {
    let at = state(lab)?.stage();
    if at.next() != Some(stage) {
        let needs = Stage::ALL
            .iter()
            .find(|s| s.next() == Some(stage))
            .map_or("nothing", |s| s.name());
        return Err(CourseError::OutOfOrder {
            asked: stage.name().into(),
            at: at.name().into(),
            needs: needs.into(),
        });
    }
    lab.mark(format!("stage {stage} starting"));
    match stage {
        Stage::NodesCreated => {}
        Stage::ScriptsRun => run_scripts(lab).await?,
        Stage::ControlPlaneInitialised => init_control_plane(lab).await?,
        Stage::KubectlConfigured => configure_kubectl(lab).await?,
        Stage::NetworkPluginInstalled => install_network_plugin(lab).await?,
        Stage::WorkersJoined => join_workers(lab).await?,
        Stage::IngressControllerInstalled => install_ingress_controller(lab).await?,
        Stage::KubeconfigExported => export_kubeconfig(lab).await?,
        Stage::HelloWorldDeployed => deploy_hello_world(lab).await?,
    }
    state_mut(lab)?.stage = stage;
    lab.mark(format!("stage {stage} completed"));
    Ok(())
}

/// The course's provisioning: `master.sh` on the primary node, `worker.sh` on each worker
/// (fetched as `--scripts` says), then reads back the kubeadm config `master.sh` wrote.
async fn run_scripts(lab: &mut Lab) -> Result<(), CourseError> {
    let settings = lab.settings().clone();
    let mut targets = vec![(primary(lab)?, Role::ControlPlane)];
    targets.extend(workers(lab).into_iter().map(|w| (w, Role::Worker)));
    for (node, role) in targets {
        match provisioning::fetch(role, settings.scripts, settings.provider)? {
            Fetch::Copy { local, remote } => {
                lab.minikube().copy_in(&local, &node.name, &remote).await?;
            }
            Fetch::Download { command } => {
                course_command(lab, &node.name, &command, &command).await?;
            }
        }
        let run = provisioning::run_command(
            role,
            settings.scripts,
            settings.k8s_version,
            settings.timing,
        );
        course_command(lab, &node.name, &run, &run).await?;
    }
    let primary = primary(lab)?;
    let text = lab
        .minikube()
        .read_file(
            &primary.name,
            &format!("{}/config.yaml", provisioning::NODE_HOME),
        )
        .await?;
    let config = KubeadmConfig::parse(&String::from_utf8_lossy(&text))?;
    state_mut(lab)?.config = Some(config);
    Ok(())
}

/// The course's `kubeadm init` command.
pub const KUBEADM_INIT: &str = "sudo kubeadm init --config config.yaml";

/// `sudo kubeadm init --config config.yaml` on the primary node; captures the join command (its
/// token registered with the redactor before anything else prints it), then gives the harness its
/// API client from admin.conf.
async fn init_control_plane(lab: &mut Lab) -> Result<(), CourseError> {
    let primary = primary(lab)?;
    let output = course_command(lab, &primary.name, KUBEADM_INIT, KUBEADM_INIT).await?;
    let init = node_shell::parse_kubeadm_init(&output)?;
    lab.minikube()
        .runner()
        .transcript()
        .redactor()
        .register(init.join.token());
    lab.record("join command", init.join.to_string());
    state_mut(lab)?.join = Some(init.join);
    attach_api(lab).await
}

/// Gives the harness its own API access: admin.conf from the primary node (read as root, never
/// shown), rewritten for the host's view of the nodes, written 0600 into the host files.
async fn attach_api(lab: &mut Lab) -> Result<(), CourseError> {
    let primary = primary(lab)?;
    let bytes = lab
        .minikube()
        .read_file(&primary.name, "/etc/kubernetes/admin.conf")
        .await?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    crate::lab::register_kubeconfig_secrets(lab.minikube().runner().transcript().redactor(), &text);
    if host_network(lab).await? == HostNetwork::PublishedPorts {
        let port = kubeconfig::published_port(&primary.name, lab.minikube().runner()).await?;
        text = kubeconfig::rewrite_for_published_port(&text, port)?.0;
    }
    let path = state(lab)?.files().admin_conf();
    kubeconfig::write_private(&path, &text)?;
    lab.attach_cluster(&path).await?;
    lab.check_cluster_reachable().await?;
    state_mut(lab)?.api_attached = true;
    Ok(())
}

/// After the control-plane node restarted, makes the reader's kubeconfig and the harness's own
/// API client reach the API server again, as the course says ("minikube may assign a different
/// forwarding port to this container, and you might need to fix your kubeconfig file"). Where
/// only Docker's published ports reach the nodes (Docker Desktop), the kubeconfig is exported
/// again when the port moved and the harness's client is attached anew; where node IPs are routed
/// (Docker Engine on Linux, labsim) the kubeconfig names the node's IP and port 8443, which a
/// restart keeps: that is checked against `minikube ip`. Returns what was found, in words.
///
/// # Errors
/// [`CourseError::Unexpected`] when the node's IP changed (kubeadm's serving certificate names
/// the old one, so no kubeconfig edit helps); provider, Docker and kubeconfig errors.
pub async fn refresh_api_address(lab: &mut Lab) -> Result<String, CourseError> {
    let primary = primary(lab)?;
    let path = state(lab)?.files().kubeconfig();
    let text = std::fs::read_to_string(&path).map_err(|source| {
        CourseError::Kubeconfig(KubeconfigError::Read {
            path: path.clone(),
            source,
        })
    })?;
    let (host, port) = kubeconfig::server(&text)?;
    match host_network(lab).await? {
        HostNetwork::NodeIps => {
            let ip = lab.minikube().ip(&primary.name).await?;
            if host == ip.to_string() && port == kubeconfig::API_PORT {
                Ok(format!(
                    "unchanged: the kubeconfig's https://{host}:{port} is {}'s IP and API port",
                    primary.name
                ))
            } else {
                Err(CourseError::Unexpected {
                    what: format!("the API server address after restarting {}", primary.name),
                    expected: format!("https://{ip}:{} (the node's IP)", kubeconfig::API_PORT),
                    found: format!("the kubeconfig names https://{host}:{port}"),
                })
            }
        }
        HostNetwork::PublishedPorts => {
            let now = kubeconfig::published_port(&primary.name, lab.minikube().runner()).await?;
            if now == port {
                return Ok(format!(
                    "unchanged: Docker still publishes 8443 on port {now}"
                ));
            }
            export_kubeconfig(lab).await?;
            attach_api(lab).await?;
            Ok(format!(
                "moved: Docker publishes 8443 on port {now}, was {port}; the kubeconfig was exported again"
            ))
        }
    }
}

/// How the host reaches the nodes: labsim's loopback nodes directly; real minikube as Docker
/// says (`docker info`).
async fn host_network(lab: &Lab) -> Result<HostNetwork, CourseError> {
    if lab.settings().provider == ProviderKind::Labsim {
        return Ok(HostNetwork::NodeIps);
    }
    let info = lab
        .minikube()
        .runner()
        .run(&Command::new("docker").args(["info", "--format", "{{.OperatingSystem}}"]))
        .await?;
    Ok(kubeconfig::host_network(
        std::env::consts::OS,
        info.success().then_some(info.stdout.trim()),
    ))
}

/// The three lines `kubeadm init` prints, run as the node's user on the primary node.
async fn configure_kubectl(lab: &mut Lab) -> Result<(), CourseError> {
    let primary = primary(lab)?;
    let script = node_shell::KUBECONFIG_INSTRUCTIONS.join("\n");
    course_command(lab, &primary.name, &script, &script).await?;
    Ok(())
}

/// `kubectl apply -f flannel.yaml` on the primary node; then the control plane becomes Ready and
/// CoreDNS Running.
async fn install_network_plugin(lab: &mut Lab) -> Result<(), CourseError> {
    let primary = primary(lab)?;
    let apply = "kubectl apply -f flannel.yaml";
    course_command(lab, &primary.name, apply, apply).await?;
    let budgets = budgets(lab);
    let client = lab.kube()?.clone();
    kube::wait_nodes(
        &client,
        &format!("node {} Ready after the network plugin", primary.name),
        budgets.node_ready,
        |nodes| kube::all_ready(nodes, std::slice::from_ref(&primary.name)),
    )
    .await?;
    kube::wait_pods(
        &client,
        "CoreDNS pods Running",
        "kube-system",
        "k8s-app=kube-dns",
        budgets.pods_start,
        |pods| kube::all_running(pods, 0),
    )
    .await?;
    Ok(())
}

/// The label under which join outputs are remembered (the command without its token).
pub const JOIN_LABEL: &str = "sudo kubeadm join";

/// The flag the course says to add when the join fails a preflight check.
pub const JOIN_RETRY_FLAG: &str = "--ignore-preflight-errors=SystemVerification";

/// On each worker, `sudo kubeadm join …` (again with `--ignore-preflight-errors=SystemVerification`
/// only if it failed that check, as the course says) and `sudo systemctl enable kubelet`; then
/// every node is Ready.
async fn join_workers(lab: &mut Lab) -> Result<(), CourseError> {
    let join = state(lab)?
        .join()
        .cloned()
        .ok_or_else(|| CourseError::Unexpected {
            what: "the join command".into(),
            expected: "captured from `kubeadm init`".into(),
            found: "none".into(),
        })?;
    let command = format!("sudo {}", join.command());
    for worker in workers(lab) {
        let first = lab.run_on(&worker.name, &command).await?;
        let result = if !first.success()
            && node_shell::preflight_error(&first.output, "SystemVerification")
        {
            lab.run_on(&worker.name, &format!("{command} {JOIN_RETRY_FLAG}"))
                .await?
        } else {
            first
        };
        if !result.success() {
            return Err(CourseError::CommandFailed {
                node: worker.name.clone(),
                command: format!("sudo {join}"),
                code: result.code,
                output: lab.minikube().runner().redact(&tail(&result.output)),
            });
        }
        state_mut(lab)?.remember(JOIN_LABEL, &worker.name, &result.output);
        let enable = "sudo systemctl enable kubelet";
        course_command(lab, &worker.name, enable, enable).await?;
    }
    let names: Vec<String> = lab.nodes().iter().map(|n| n.name.clone()).collect();
    let budgets = budgets(lab);
    kube::wait_nodes(
        &lab.kube()?.clone(),
        "every node Ready after the workers joined",
        budgets.node_ready,
        |nodes| kube::all_ready(nodes, &names),
    )
    .await?;
    Ok(())
}

/// `kubectl apply -f traefik.yaml` on the primary node; then a traefik pod is Running on every
/// node its DaemonSet tolerates.
async fn install_ingress_controller(lab: &mut Lab) -> Result<(), CourseError> {
    let primary = primary(lab)?;
    let apply = "kubectl apply -f traefik.yaml";
    course_command(lab, &primary.name, apply, apply).await?;
    crate::bootstrap::expect_daemon_set_on_tolerated_nodes(lab, "traefik", "traefik").await
}

/// The course's export: `minikube ssh --node <primary> cat '$HOME/.kube/config' >kubeconfig`
/// (rewritten for Docker Desktop's published port where node IPs are not routed), written 0600.
async fn export_kubeconfig(lab: &mut Lab) -> Result<(), CourseError> {
    let primary = primary(lab)?;
    let network = host_network(lab).await?;
    let exported = kubeconfig::export(
        lab.minikube(),
        &primary.name,
        network,
        lab.minikube().runner(),
    )
    .await?;
    crate::lab::register_kubeconfig_secrets(
        lab.minikube().runner().transcript().redactor(),
        &exported.text,
    );
    let path = state(lab)?.files().kubeconfig();
    kubeconfig::write_private(&path, &exported.text)?;
    Ok(())
}

/// The course's hello-world manifests (chapter 3, customised as the reader must).
pub const HELLO_WORLD: &str = "manifests/hello-world.yaml";

/// The course's command that deploys hello-world, as the reader types it.
pub const HELLO_WORLD_APPLY: &str = "kubectl apply -f hello-world.yaml";

/// The hello-world Deployment's pod label.
pub const HELLO_SELECTOR: &str = "app=hello";

/// `kubectl apply -f hello-world.yaml` from the host; then its 2 pods are Running.
async fn deploy_hello_world(lab: &mut Lab) -> Result<(), CourseError> {
    let manifest = crate::fixtures::path(HELLO_WORLD).map_err(ProvisioningError::from)?;
    let manifest = manifest.to_string_lossy().into_owned();
    let printed = host_kubectl_ok(lab, &["apply", "-f", &manifest]).await?;
    // Remembered as the reader types it, from the directory holding the manifest.
    state_mut(lab)?.remember(HELLO_WORLD_APPLY, "host", &printed);
    let budgets = budgets(lab);
    kube::wait_pods(
        &lab.kube()?.clone(),
        "2 hello-world pods Running",
        "default",
        HELLO_SELECTOR,
        budgets.pods_start,
        |pods| kube::all_running(pods, 2),
    )
    .await?;
    Ok(())
}

/// Whether the harness has its API client for this cluster.
#[must_use]
pub fn api_attached(state: &CourseState) -> bool {
    state.api_attached
}

/// The harness's admin.conf for `state`'s cluster, once the control plane exists.
#[must_use]
pub fn api_kubeconfig(state: &CourseState) -> Option<PathBuf> {
    state.api_attached.then(|| state.files.admin_conf())
}

/// Whether `path` is the reader's exported kubeconfig of `state`'s cluster.
#[must_use]
pub fn is_exported(state: &CourseState, path: &Path) -> bool {
    state.files.kubeconfig() == path
}

/// The chapter a feature encodes, from its `@chapter-N` tag.
#[must_use]
pub fn chapter_of(feature: &cucumber::gherkin::Feature) -> Option<u32> {
    feature
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("chapter-").and_then(|n| n.parse().ok()))
}

/// A feature parser that hands features over in the course's order (by `@chapter-N`, untagged
/// last, then by path), so a run builds the course's cluster once and each chapter continues
/// from the last: cucumber's own parser sorts by file name (`apiserver` before `bootstrap`).
#[derive(Debug, Clone)]
pub struct CourseOrder<P> {
    inner: P,
}

impl<P> CourseOrder<P> {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: P) -> Self {
        Self { inner }
    }
}

impl<I, P: cucumber::Parser<I>> cucumber::Parser<I> for CourseOrder<P>
where
    P::Output: 'static,
{
    type Cli = P::Cli;
    type Output = std::pin::Pin<
        Box<dyn futures::Stream<Item = cucumber::parser::Result<cucumber::gherkin::Feature>>>,
    >;

    fn parse(self, input: I, cli: Self::Cli) -> Self::Output {
        use futures::StreamExt as _;
        let features = self.inner.parse(input, cli);
        Box::pin(
            futures::stream::once(async move {
                let mut all: Vec<_> = features.collect().await;
                all.sort_by_key(|f| match f {
                    Ok(f) => (chapter_of(f).unwrap_or(u32::MAX), f.path.clone()),
                    Err(_) => (u32::MAX, None),
                });
                futures::stream::iter(all)
            })
            .flatten(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_run_in_the_course_s_order() {
        let parse = |text: &str| {
            cucumber::gherkin::Feature::parse(text, cucumber::gherkin::GherkinEnv::default())
                .unwrap()
        };
        let api = parse("@chapter-5\nFeature: API\n");
        let boot = parse("@chapter-2\nFeature: Boot\n");
        let other = parse("Feature: Other\n");
        assert_eq!(
            (chapter_of(&api), chapter_of(&boot), chapter_of(&other)),
            (Some(5), Some(2), None)
        );
    }

    #[test]
    fn stages_are_ordered_and_named_as_features_write_them() {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        insta::assert_snapshot!(names.join("\n"));
        for s in Stage::ALL {
            assert_eq!(s.name().parse::<Stage>(), Ok(s));
        }
        assert!(
            Stage::ALL
                .windows(2)
                .all(|w| w[0] < w[1] && w[0].next() == Some(w[1]))
        );
        assert_eq!(Stage::HelloWorldDeployed.next(), None);
        let err = "nodes ready".parse::<Stage>().unwrap_err();
        assert!(err.contains("\"workers joined\""), "{err}");
    }

    #[test]
    fn budgets_follow_the_provider_and_the_configured_grace_period() {
        let fast = Budgets::new(ProviderKind::Labsim, Some(Duration::from_secs(10)));
        assert_eq!(fast.node_ready, fast.pods_start + Duration::from_secs(10));
        let real = Budgets::new(ProviderKind::Minikube, None);
        assert_eq!(real.node_ready, real.pods_start + Duration::from_secs(50));
        assert!(real.pods_start > fast.pods_start);
    }

    #[test]
    fn host_files_are_private_and_removed() {
        use std::os::unix::fs::PermissionsExt as _;
        let files = HostFiles::create("unit").unwrap();
        let dir = files.kubeconfig().parent().unwrap().to_path_buf();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        drop(files);
        assert!(!dir.exists());
    }

    #[test]
    fn outputs_are_remembered_per_command_and_node() {
        let mut state = CourseState::new("unit").unwrap();
        state.remember(JOIN_LABEL, "m02", "This node has joined the cluster:");
        state.remember(JOIN_LABEL, "m03", "This node has joined the cluster:");
        assert_eq!(state.printed(JOIN_LABEL).len(), 2);
        assert!(state.printed("kubectl apply -f flannel.yaml").is_empty());
        state.spoil("stopped minikube-m02");
        assert_eq!(state.spoiled(), Some("stopped minikube-m02"));
    }
}
