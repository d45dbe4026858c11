//! Chapter 2's checks that are not a table or an output: kubeadm init's instructions and join
//! command, why CoreDNS does not run before a network plugin, and the ingress controller's
//! DaemonSet on every node it tolerates.

use crate::course::{self, CourseError, KUBEADM_INIT};
use crate::kube;
use crate::kubectl::{self, Place};
use crate::lab::Lab;
use crate::node_shell::{self, KUBECONFIG_INSTRUCTIONS};

/// `kubeadm init` printed the success banner, the three kubeconfig lines the course asks the
/// reader to run, and a join command for `<primary IP>:8443` with a well-formed token and a
/// `sha256:` CA hash (the join command is shown with its token redacted).
///
/// # Errors
/// [`CourseError::Unexpected`] naming what is missing.
pub fn expect_init_output(lab: &Lab) -> Result<(), CourseError> {
    let state = lab.course().ok_or(CourseError::NoCluster)?;
    let (_, output) = state.printed(KUBEADM_INIT).last().ok_or_else(|| {
        CourseError::unexpected(
            "kubeadm init's output",
            "kubeadm init to have run",
            "it did not",
        )
    })?;
    let init = node_shell::parse_kubeadm_init(output)?;
    let primary = course::primary(lab)?;
    let endpoint = format!("{}:{}", primary.ip, crate::kubeconfig::API_PORT);
    if !init.initialized {
        return Err(CourseError::unexpected(
            "kubeadm init's banner",
            "Your Kubernetes control-plane has initialized successfully!",
            "none",
        ));
    }
    if init.kubeconfig_instructions.len() != KUBECONFIG_INSTRUCTIONS.len() {
        return Err(CourseError::unexpected(
            "kubeadm init's kubeconfig instructions",
            KUBECONFIG_INSTRUCTIONS.join("\n"),
            init.kubeconfig_instructions.join("\n"),
        ));
    }
    if init.join.endpoint != endpoint {
        return Err(CourseError::unexpected(
            "the join command's endpoint",
            endpoint,
            init.join.endpoint,
        ));
    }
    Ok(())
}

/// Why CoreDNS does not run before the network plugin, through the API and in the course's
/// `kubectl describe pod <coredns> -n kube-system` on the primary node. Current Kubernetes keeps
/// it `Pending` with a `FailedScheduling` event naming the node's
/// `node.kubernetes.io/not-ready` taint (the node lifecycle controller taints a NotReady node,
/// `pkg/controller/nodelifecycle`); older releases scheduled it and failed its sandbox
/// (`ContainerCreating`, `FailedCreatePodSandBox`/`NetworkNotReady` with a network error). Either
/// is accepted; which one it was is recorded as outcome `coredns before the network plugin`.
///
/// # Errors
/// [`CourseError::Unexpected`] with the pod's state and events.
pub async fn expect_coredns_explained(lab: &mut Lab) -> Result<(), CourseError> {
    let client = lab.kube()?.clone();
    let pods = kube::pods(&client, "kube-system", "k8s-app=kube-dns").await?;
    let pod = pods.first().ok_or_else(|| {
        CourseError::unexpected(
            "the CoreDNS pods",
            "two pods of the coredns Deployment",
            "none",
        )
    })?;
    let name = kube::name_of(pod).to_string();
    lab.touch("Pod", "kube-system", &name);
    if kube::running_and_ready(pod) {
        return Err(CourseError::unexpected(
            &format!("CoreDNS pod {name}"),
            "not Running before the network plugin",
            kube::describe_pod(pod),
        ));
    }
    let scheduled = !kube::node_of(pod).is_empty();
    let primary = Place::Node(course::primary(lab)?.name);
    let (reason, text) = if scheduled {
        ("FailedCreatePodSandBox", "network")
    } else {
        ("FailedScheduling", "node.kubernetes.io/not-ready")
    };
    if scheduled {
        // Either event carries the network error; the kubelet records one of them.
        let events = kube::events_for(&client, "kube-system", "Pod", &name).await?;
        let found = events.iter().any(|e| {
            matches!(
                e.reason.as_deref(),
                Some("FailedCreatePodSandBox" | "NetworkNotReady")
            ) && e.message.as_deref().is_some_and(|m| m.contains("network"))
        });
        if !found {
            return Err(CourseError::unexpected(
                &format!("the events of {name}"),
                "FailedCreatePodSandBox or NetworkNotReady with a network error",
                format!(
                    "{:?}",
                    events
                        .iter()
                        .map(|e| (&e.reason, &e.message))
                        .collect::<Vec<_>>()
                ),
            ));
        }
        lab.record(
            "coredns before the network plugin",
            "ContainerCreating: the sandbox's network is not ready",
        );
        let reason = if events.iter().any(|e| e.reason.as_deref() == Some(reason)) {
            reason
        } else {
            "NetworkNotReady"
        };
        return kubectl::expect_described_events(
            lab,
            &primary,
            "kube-system",
            &name,
            &[(reason, Some(text))],
        )
        .await;
    }
    lab.record(
        "coredns before the network plugin",
        "Pending: FailedScheduling on the not-ready taint",
    );
    kubectl::expect_described_events(lab, &primary, "kube-system", &name, &[(reason, Some(text))])
        .await
}

/// The DaemonSet `namespace/name` runs a Running, ready pod on every node whose taints its pod
/// template tolerates (the DaemonSet controller's rule, `pkg/controller/daemon/daemon_controller.go`
/// `NodeShouldRunDaemonPod`, whose taint part this is), waiting up to the pod-start budget.
///
/// # Errors
/// [`CourseError`] naming the nodes without one.
pub async fn expect_daemon_set_on_tolerated_nodes(
    lab: &Lab,
    namespace: &str,
    name: &str,
) -> Result<(), CourseError> {
    let budget = course::budgets(lab).pods_start;
    let client = lab.kube()?.clone();
    let nodes = kube::nodes(&client).await?;
    let ds = kube::daemon_set(&client, namespace, name).await?;
    let spec = ds.spec.as_ref();
    let tolerations = spec
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let eligible: Vec<String> = nodes
        .iter()
        .filter(|n| kube::node_tolerated(n, &tolerations))
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let selector = spec
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    kube::wait_pods(
        &client,
        &format!("a {name} pod Running on each of {}", eligible.join(", ")),
        namespace,
        &selector,
        budget,
        |pods| {
            let missing: Vec<&String> = eligible
                .iter()
                .filter(|n| {
                    !pods
                        .iter()
                        .any(|p| kube::node_of(p) == n.as_str() && kube::running_and_ready(p))
                })
                .collect();
            if missing.is_empty() && !eligible.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "no running pod on {missing:?}; pods: {}",
                    pods.iter()
                        .map(kube::describe_pod)
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            }
        },
    )
    .await?;
    Ok(())
}
