//! Chapter 6, "Exploring the kubelet": containerd seen through `crictl` and `ctr` on the nodes,
//! containers and sandboxes killed by hand, and what the kubelet does about it (through the API
//! and its journal).
//!
//! The kubelet's rules checked here: a container that dies is restarted with `restartCount` + 1
//! (`pkg/kubelet/kuberuntime/kuberuntime_manager.go`, `computePodActions`); a pod whose sandbox
//! died gets a new one, its containers are killed and started again, with the events
//! `SandboxChanged` ("Pod sandbox changed, it will be killed and re-created."), `Killing` and
//! `Started` (`pkg/kubelet/events/event.go`); the pod container deletor logs `"Container not found
//! in pod's containers"` for the dead sandbox (`pkg/kubelet/pod_container_deletor.go`).

use crate::course::{self, CourseError};
use crate::kube;
use crate::lab::Lab;
use crate::node_shell::{self, CrictlContainer};
use crate::wait::{Probe, Wait};
use crate::workload;

/// The named outcome: the app container's restart count before a scenario broke it.
pub const RESTARTS_OUTCOME: &str = "restarts before";
/// The named outcome: the sandbox (pause container) a scenario killed.
pub const SANDBOX_OUTCOME: &str = "killed sandbox";
/// How long the kubelet's lines may take to reach the journal: klog's flush period (5 s) and then
/// some.
const JOURNAL_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// The mark set when the reader breaks the pod.
pub const BROKEN_MARK: &str = "pod broken";

async fn node_command(lab: &Lab, node: &str, command: &str) -> Result<String, CourseError> {
    let r = lab.run_on(node, command).await?;
    if r.success() {
        Ok(r.output)
    } else {
        Err(CourseError::CommandFailed {
            node: node.to_string(),
            command: command.to_string(),
            code: r.code,
            output: lab.minikube().runner().redact(r.output.trim_end()),
        })
    }
}

/// `sudo crictl version` on `node` names `runtime` and the CRI API `api`.
///
/// # Errors
/// [`CourseError::Unexpected`] with what it printed.
pub async fn expect_version(
    lab: &Lab,
    node: &str,
    runtime: &str,
    api: &str,
) -> Result<(), CourseError> {
    let node = lab.expand(node);
    let out = node_command(lab, &node, "sudo crictl version").await?;
    let v = node_shell::parse_crictl_version(&out)?;
    if v.runtime_name == runtime && v.runtime_api_version == api {
        Ok(())
    } else {
        Err(CourseError::Unexpected {
            what: "`sudo crictl version`".into(),
            expected: format!("RuntimeName {runtime}, RuntimeApiVersion {api}"),
            found: format!("{v:?}"),
        })
    }
}

/// `sudo crictl ps` on `node` lists a Running container for each of `names`.
///
/// # Errors
/// [`CourseError::Unexpected`] naming the missing ones.
pub async fn expect_running_containers(
    lab: &Lab,
    node: &str,
    names: &[String],
) -> Result<(), CourseError> {
    let node = lab.expand(node);
    let rows = node_shell::parse_crictl_ps(&node_command(lab, &node, "sudo crictl ps").await?)?;
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !rows.iter().any(|r| &r.name == *n && r.state == "Running"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CourseError::Unexpected {
            what: format!("`sudo crictl ps` on {node}"),
            expected: format!("running containers {names:?}"),
            found: format!(
                "missing {missing:?} among {:?}",
                rows.iter().map(|r| &r.name).collect::<Vec<_>>()
            ),
        })
    }
}

/// `sudo crictl inspect <id>` of the running container named `name` on `node` shows `state`.
///
/// # Errors
/// [`CourseError::Unexpected`] with the state found.
pub async fn expect_inspect_state(
    lab: &Lab,
    node: &str,
    name: &str,
    state: &str,
) -> Result<(), CourseError> {
    let node = lab.expand(node);
    let rows = node_shell::parse_crictl_ps(
        &node_command(lab, &node, &format!("sudo crictl ps --name {name}")).await?,
    )?;
    let row = rows
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| CourseError::Unexpected {
            what: format!("`sudo crictl ps --name {name}` on {node}"),
            expected: format!("a {name} container"),
            found: "none".into(),
        })?;
    let found = node_shell::parse_crictl_inspect_state(
        &node_command(lab, &node, &format!("sudo crictl inspect {}", row.id)).await?,
    )?;
    if found == state {
        Ok(())
    } else {
        Err(CourseError::Unexpected {
            what: format!("`sudo crictl inspect {}` on {node}", row.id),
            expected: state.into(),
            found,
        })
    }
}

/// The `app` container of `pod` in `sudo crictl ps --name app` on `node`.
async fn app_container(lab: &Lab, node: &str, pod: &str) -> Result<CrictlContainer, CourseError> {
    let rows =
        node_shell::parse_crictl_ps(&node_command(lab, node, "sudo crictl ps --name app").await?)?;
    rows.into_iter()
        .find(|r| r.pod == pod)
        .ok_or_else(|| CourseError::Unexpected {
            what: format!("`sudo crictl ps --name app` on {node}"),
            expected: format!("the app container of {pod}"),
            found: "none".into(),
        })
}

async fn remember_restarts(lab: &mut Lab, pod: &str) -> Result<(), CourseError> {
    let before = kube::restart_count(&kube::pod(lab.kube()?, "default", pod).await?, "app");
    lab.record(RESTARTS_OUTCOME, before.to_string());
    Ok(())
}

/// The course's "Simulating failures": on the worker running a hello-world pod, `sudo crictl ps`
/// finds its app container and `sudo crictl stop <id>` stops it.
///
/// # Errors
/// [`CourseError`] from the commands.
pub async fn stop_app_container(lab: &mut Lab) -> Result<(), CourseError> {
    let (pod, node) = workload::choose_pod(lab, workload::Prefer::FewestRestarts).await?;
    let app = app_container(lab, &node, &pod).await?;
    remember_restarts(lab, &pod).await?;
    lab.mark(BROKEN_MARK);
    let out = node_command(lab, &node, &format!("sudo crictl stop {}", app.id)).await?;
    if out.trim() == app.id {
        Ok(())
    } else {
        Err(CourseError::Unexpected {
            what: "`sudo crictl stop` output".into(),
            expected: app.id,
            found: out,
        })
    }
}

/// The course's "Getting closer to the containers": on the worker running a hello-world pod,
/// `sudo ctr --namespace k8s.io container list` finds its pause container (the one whose ID
/// `crictl ps` shows as the app's POD ID) and `sudo ctr --namespace k8s.io task kill <id>` kills
/// it.
///
/// # Errors
/// [`CourseError`] from the commands.
pub async fn kill_sandbox(lab: &mut Lab) -> Result<(), CourseError> {
    // The course kills the sandbox of the pod whose container it stopped before.
    let (pod, node) = workload::choose_pod(lab, workload::Prefer::MostRestarts).await?;
    let app = app_container(lab, &node, &pod).await?;
    let listed = node_shell::parse_ctr_containers(
        &node_command(lab, &node, "sudo ctr --namespace k8s.io container list").await?,
    )?;
    let pause = listed
        .iter()
        .find(|c| c.is_pause() && c.id.starts_with(&app.pod_id))
        .ok_or_else(|| CourseError::Unexpected {
            what: format!("the pause container of {pod} in `ctr container list` on {node}"),
            expected: format!("an ID starting with {}", app.pod_id),
            found: format!("{listed:?}"),
        })?
        .id
        .clone();
    remember_restarts(lab, &pod).await?;
    lab.record(SANDBOX_OUTCOME, &pause);
    lab.mark(BROKEN_MARK);
    node_command(
        lab,
        &node,
        &format!("sudo ctr --namespace k8s.io task kill {pause}"),
    )
    .await?;
    Ok(())
}

/// The broken pod's app container was restarted once (API `restartCount` + 1) and the pod is
/// Running and ready again.
///
/// # Errors
/// [`CourseError`] naming the pod's last state.
pub async fn expect_restarted_once(lab: &Lab) -> Result<(), CourseError> {
    let (pod, _) = workload::chosen(lab)?;
    let before: i32 = lab
        .outcome(RESTARTS_OUTCOME)
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    let client = lab.kube()?.clone();
    let budget = course::budgets(lab).restart;
    Wait::until(
        format!(
            "{pod} restarted once (restartCount {}) and Running",
            before + 1
        ),
        budget,
    )
    .poll_waking(
        || async {
            Ok::<_, String>(match kube::pod(&client, "default", &pod).await {
                Ok(p) => {
                    let count = kube::restart_count(&p, "app");
                    if count == before + 1 && kube::running_and_ready(&p) {
                        Probe::Holds(())
                    } else if count > before + 1 {
                        return Err(format!(
                            "restartCount jumped to {count}: {}",
                            kube::describe_pod(&p)
                        ));
                    } else {
                        Probe::Fails(format!("restartCount {count}, {}", kube::describe_pod(&p)))
                    }
                }
                Err(e) => Probe::Fails(e.to_string()),
            })
        },
        || lab.timeline().changed(),
    )
    .await
    .map_err(kube::KubeError::from)?;
    Ok(())
}

/// The broken pod's events since it was broken include each of `reasons` (through the API).
///
/// # Errors
/// [`CourseError::Unexpected`] with the reasons seen.
pub async fn expect_events(lab: &Lab, reasons: &[String]) -> Result<(), CourseError> {
    let (pod, _) = workload::chosen(lab)?;
    let since = lab
        .marked(BROKEN_MARK)
        .ok_or_else(|| CourseError::Unexpected {
            what: "when the pod was broken".into(),
            expected: format!("mark {BROKEN_MARK:?}"),
            found: "none".into(),
        })?;
    let client = lab.kube()?.clone();
    Wait::until(
        format!("events {reasons:?} on {pod}"),
        std::time::Duration::from_secs(30),
    )
    .poll_waking(
        || async {
            let seen = kube::reasons_since(
                &kube::events_for(&client, "default", "Pod", &pod)
                    .await
                    .map_err(|e| e.to_string())?,
                since,
            );
            Ok::<_, String>(if reasons.iter().all(|r| seen.contains(r)) {
                Probe::Holds(())
            } else {
                Probe::Fails(format!("seen {seen:?}"))
            })
        },
        || lab.timeline().changed(),
    )
    .await
    .map_err(kube::KubeError::from)?;
    Ok(())
}

/// On each worker, `sudo ctr --namespace k8s.io container list` shows one pause container per pod
/// sandbox: as many as the API has pods on that node (every pod there has one live sandbox).
///
/// # Errors
/// [`CourseError::Unexpected`] with both counts.
pub async fn expect_pause_per_pod(lab: &Lab) -> Result<(), CourseError> {
    let client = lab.kube()?.clone();
    for worker in course::workers(lab) {
        let listed = node_shell::parse_ctr_containers(
            &node_command(
                lab,
                &worker.name,
                "sudo ctr --namespace k8s.io container list",
            )
            .await?,
        )?;
        let sandboxes = node_shell::parse_table(
            "crictl pods",
            &node_command(lab, &worker.name, "sudo crictl pods --state ready").await?,
        )?;
        let pods: Vec<_> = kube::pods(&client, "", "")
            .await?
            .into_iter()
            .filter(|p| kube::node_of(p) == worker.name && p.metadata.deletion_timestamp.is_none())
            .collect();
        let ready_ids = sandboxes.column("POD ID");
        let pauses_ready = listed
            .iter()
            .filter(|c| c.is_pause() && ready_ids.iter().any(|id| c.id.starts_with(id)))
            .count();
        if pauses_ready != pods.len() || ready_ids.len() != pods.len() {
            return Err(CourseError::Unexpected {
                what: format!("pause containers on {}", worker.name),
                expected: format!("one per pod the API places there ({})", pods.len()),
                found: format!(
                    "{pauses_ready} pause containers of ready sandboxes ({} pause containers in all, {} ready sandboxes); pods: {:?}",
                    listed.iter().filter(|c| c.is_pause()).count(),
                    ready_ids.len(),
                    pods.iter().map(kube::name_of).collect::<Vec<_>>()
                ),
            });
        }
    }
    Ok(())
}

/// `sudo journalctl -u kubelet` on the broken pod's worker logs the killed sandbox (`"Container
/// not found in pod's containers" containerID="<sandbox>"`), and, when the pod's app container had
/// died before (the course's pod: stopped with crictl first), `"RemoveContainer"`: the pod
/// container deletor keeps one dead container per name and removes older ones
/// (`pkg/kubelet/pod_container_deletor.go`, `minDeadContainerInPod = 1`).
///
/// # Errors
/// [`CourseError::Unexpected`] with the kubelet lines that mention containers.
pub async fn expect_journal_mentions_sandbox(lab: &Lab) -> Result<(), CourseError> {
    let (_, node) = workload::chosen(lab)?;
    let sandbox = lab.outcome(SANDBOX_OUTCOME).unwrap_or_default().to_string();
    let died_before = lab
        .outcome(RESTARTS_OUTCOME)
        .and_then(|v| v.parse::<i32>().ok())
        .is_some_and(|n| n >= 1);
    let expected = format!(
        "\"Container not found in pod's containers\" containerID=\"{sandbox}\"{}",
        if died_before {
            " and \"RemoveContainer\" lines"
        } else {
            ""
        }
    );
    // klog buffers and flushes every --log-flush-frequency (5 s by default,
    // `component-base/logs`): the lines may reach the journal a few seconds late.
    Wait::until(
        format!("`sudo journalctl -u kubelet` on {node} to show {expected}"),
        JOURNAL_BUDGET,
    )
    .poll(|| async {
        let out = node_command(lab, &node, "sudo journalctl -u kubelet")
            .await
            .map_err(|e| e.to_string())?;
        let klog: Vec<(String, std::collections::BTreeMap<String, String>)> =
            node_shell::parse_journal(&out)
                .into_iter()
                .filter(|l| l.identifier == "kubelet")
                .filter_map(|l| node_shell::parse_klog(&l.message))
                .collect();
        let not_found = klog.iter().any(|(msg, kv)| {
            msg == "Container not found in pod's containers"
                && kv
                    .get("containerID")
                    .is_some_and(|id| !sandbox.is_empty() && id.ends_with(&sandbox))
        });
        let removed = !died_before || klog.iter().any(|(msg, _)| msg == "RemoveContainer");
        Ok::<_, String>(if not_found && removed {
            Probe::Holds(())
        } else {
            Probe::Fails(format!(
                "kubelet lines naming containers: {:?}",
                klog.iter()
                    .filter(|(_, kv)| kv.contains_key("containerID"))
                    .map(|(m, kv)| format!("{m} {kv:?}"))
                    .collect::<Vec<_>>()
            ))
        })
    })
    .await
    .map_err(kube::KubeError::from)?;
    Ok(())
}
