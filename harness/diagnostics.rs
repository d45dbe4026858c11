//! The diagnostics bundle of a failed scenario, collected before its profile is deleted: the
//! cluster's nodes and pods, a `describe` of every object the scenario touched, the events of
//! their namespaces, the kubelet journal of every node, and minikube's own view (`node list`,
//! `logs` where the provider has it). Every command runs through the runner (recorded in the
//! bundle's own transcript, redacted) and its output is written redacted, one file per command, in
//! `<scenario>/diagnostics/`. A command that cannot run (no cluster yet, node stopped) is noted in
//! the bundle, never an error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::provider::{Minikube, NodeInfo};
use crate::redact::Redactor;
use crate::report::{DiagnosticItem, DiagnosticsRecord};
use crate::runner::{Command, Runner};
use crate::timeline::ObjectRef;
use crate::transcript::{Transcript, shell_join};

/// The bundle's folder name inside the scenario's folder.
pub const DIR_NAME: &str = "diagnostics";

/// How long one diagnostic command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How many kubelet journal lines to keep per node.
pub const JOURNAL_LINES: u32 = 500;

/// What the bundle is collected from.
#[derive(Debug)]
pub struct Sources<'a> {
    /// The scenario's folder (the bundle goes in its `diagnostics/`).
    pub scenario_dir: &'a Path,
    /// The reports folder (paths in the record are relative to it).
    pub reports_root: &'a Path,
    /// The redactor of the run.
    pub redactor: &'a Redactor,
    /// Environment for every command (`KUBERNETES_VERSION`).
    pub env: Vec<(String, String)>,
    /// The scenario's provider (binary and profile; its runner is not used).
    pub minikube: &'a Minikube,
    /// The nodes as last listed.
    pub nodes: &'a [NodeInfo],
    /// The exported kubeconfig, once the scenario has a cluster API.
    pub kubeconfig: Option<&'a Path>,
    /// The objects the scenario touched.
    pub touched: &'a BTreeSet<ObjectRef>,
}

/// A file name made of `parts` (lowercase letters, digits and dashes).
fn file_name(parts: &[&str]) -> String {
    format!("{}.txt", crate::reports::slug(&parts.join("-")))
}

struct Bundle<'a> {
    dir: PathBuf,
    root: &'a Path,
    redactor: &'a Redactor,
    items: Vec<DiagnosticItem>,
}

impl Bundle<'_> {
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn skipped(&mut self, title: &str, command: &str, why: &str) {
        self.items.push(DiagnosticItem {
            title: title.to_string(),
            command: self.redactor.redact(command),
            file: None,
            note: Some(why.to_string()),
        });
    }

    /// Writes `body` (redacted) to `name` and records it.
    fn file(&mut self, title: &str, command: &str, name: &str, body: &str, note: Option<String>) {
        let path = self.dir.join(name);
        let text = self.redactor.redact(body);
        match std::fs::write(&path, text) {
            Ok(()) => self.items.push(DiagnosticItem {
                title: title.to_string(),
                command: self.redactor.redact(command),
                file: Some(self.relative(&path)),
                note,
            }),
            Err(e) => self.skipped(
                title,
                command,
                &format!("cannot write {}: {e}", path.display()),
            ),
        }
    }

    async fn run(&mut self, runner: &Runner, title: &str, cmd: Command, name: &str) {
        let line = shell_join(cmd.argv());
        match runner.run(&cmd).await {
            Ok(out) => {
                let mut body = out.stdout.clone();
                if !out.stderr.is_empty() {
                    body.push_str("\n--- stderr ---\n");
                    body.push_str(&out.stderr);
                }
                let note = (!out.success()).then(|| format!("exit {}", out.ending));
                self.file(title, &line, name, &body, note);
            }
            Err(e) => self.skipped(title, &line, &self.redactor.redact(&e.to_string())),
        }
    }
}

/// Collects the bundle. Never fails: what cannot be collected is noted in the record.
pub async fn collect(sources: Sources<'_>) -> DiagnosticsRecord {
    let dir = sources.scenario_dir.join(DIR_NAME);
    let mut bundle = Bundle {
        dir: dir.clone(),
        root: sources.reports_root,
        redactor: sources.redactor,
        items: Vec::new(),
    };
    let runner = match Transcript::create(&dir, sources.redactor.clone()) {
        Ok(t) => Runner::new(t, sources.env.clone(), COMMAND_TIMEOUT),
        Err(e) => {
            bundle.skipped("diagnostics", "", &e.to_string());
            return DiagnosticsRecord {
                dir: bundle.relative(&dir),
                items: bundle.items,
            };
        }
    };
    let minikube = Minikube::new(
        sources.minikube.binary(),
        sources.minikube.profile(),
        runner.clone(),
    );
    let bin = minikube.binary().to_string_lossy().to_string();
    let profile = minikube.profile().to_string();
    let mk = |words: &[&str]| {
        Command::new(bin.clone())
            .args(words.iter().copied())
            .args(["-p", profile.as_str()])
            .timeout(COMMAND_TIMEOUT)
            .note("diagnostics")
    };
    bundle
        .run(
            &runner,
            "minikube node list",
            mk(&["node", "list"]),
            "minikube-node-list.txt",
        )
        .await;

    match sources.kubeconfig {
        None => {
            bundle.skipped(
                "nodes and pods",
                "kubectl get nodes,pods -A -o wide",
                "no cluster API yet (the scenario exported no kubeconfig): skipped",
            );
        }
        Some(kubeconfig) => {
            let kubectl = |args: &[&str]| {
                Command::new("kubectl")
                    .arg(format!("--kubeconfig={}", kubeconfig.display()))
                    .args(args.iter().copied())
                    .timeout(COMMAND_TIMEOUT)
                    .note("diagnostics")
            };
            bundle
                .run(
                    &runner,
                    "nodes and pods",
                    kubectl(&["get", "nodes,pods", "-A", "-o", "wide"]),
                    "get-nodes-pods.txt",
                )
                .await;
            let mut namespaces: BTreeSet<String> =
                BTreeSet::from(["default".to_string(), "kube-system".to_string()]);
            for object in sources.touched {
                let kind = object.kind.to_lowercase();
                let mut args = vec!["describe", kind.as_str(), object.name.as_str()];
                if !object.namespace.is_empty() {
                    args.extend(["-n", object.namespace.as_str()]);
                    namespaces.insert(object.namespace.clone());
                }
                bundle
                    .run(
                        &runner,
                        &format!("describe {object}"),
                        kubectl(&args),
                        &file_name(&["describe", &kind, &object.namespace, &object.name]),
                    )
                    .await;
            }
            for ns in &namespaces {
                bundle
                    .run(
                        &runner,
                        &format!("events in {ns}"),
                        kubectl(&["get", "events", "-n", ns, "--sort-by=.lastTimestamp"]),
                        &file_name(&["events", ns]),
                    )
                    .await;
            }
        }
    }

    let journal = format!("sudo journalctl -u kubelet --no-pager -n {JOURNAL_LINES}");
    for node in sources.nodes {
        let title = format!("kubelet journal of {}", node.name);
        let shown = format!("{bin} ssh -p {profile} -n {} -- {journal}", node.name);
        match minikube
            .ssh_with_timeout(&node.name, &journal, COMMAND_TIMEOUT)
            .await
        {
            Ok(out) => {
                let note = (!out.success()).then(|| format!("exit {}", out.code));
                bundle.file(
                    &title,
                    &shown,
                    &file_name(&["kubelet-journal", &node.name]),
                    &out.output,
                    note,
                );
            }
            Err(e) => bundle.skipped(&title, &shown, &sources.redactor.redact(&e.to_string())),
        }
    }
    if sources.nodes.is_empty() {
        bundle.skipped(
            "kubelet journals",
            &journal,
            "no nodes were listed: skipped",
        );
    }
    bundle
        .run(&runner, "minikube logs", mk(&["logs"]), "minikube-logs.txt")
        .await;
    DiagnosticsRecord {
        dir: bundle.relative(&dir),
        items: bundle.items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_slugs() {
        assert_eq!(
            file_name(&["describe", "pod", "default", "hello-world-5d8f"]),
            "describe-pod-default-hello-world-5d8f.txt"
        );
        assert_eq!(
            file_name(&["kubelet-journal", "k8s-labs-m02"]),
            "kubelet-journal-k8s-labs-m02.txt"
        );
        assert_eq!(
            file_name(&["describe", "node", "", "k8s-labs"]),
            "describe-node-k8s-labs.txt"
        );
    }
}
