//! Steps of chapter 6: containerd through crictl and ctr on the nodes, and the kubelet's answer.

use cucumber::{then, when};
use k8s_labs::kubectl::{self, Place};
use k8s_labs::{runtime, workload};

use crate::common::Names;
use crate::world::LabWorld;

#[then(
    expr = "\"sudo crictl version\" on {string} names the runtime {string} and the CRI API {string}"
)]
async fn version(
    world: &mut LabWorld,
    node: String,
    runtime_name: String,
    api: String,
) -> anyhow::Result<()> {
    runtime::expect_version(world.lab(), &node, &runtime_name, &api).await?;
    Ok(())
}

#[then(expr = "\"sudo crictl ps\" on {string} lists running containers {names}")]
async fn ps(world: &mut LabWorld, node: String, names: Names) -> anyhow::Result<()> {
    runtime::expect_running_containers(world.lab(), &node, &names.0).await?;
    Ok(())
}

#[then(expr = "\"sudo crictl inspect\" of the {string} container on {string} shows {string}")]
async fn inspect(
    world: &mut LabWorld,
    name: String,
    node: String,
    state: String,
) -> anyhow::Result<()> {
    runtime::expect_inspect_state(world.lab(), &node, &name, &state).await?;
    Ok(())
}

#[when(
    "the reader stops the app container of a hello-world pod with \"sudo crictl stop\" on its worker"
)]
async fn stop_app(world: &mut LabWorld) -> anyhow::Result<()> {
    runtime::stop_app_container(world.lab()).await?;
    Ok(())
}

#[when(
    "the reader kills the pause container of a hello-world pod with \"sudo ctr --namespace k8s.io task kill\" on its worker"
)]
async fn kill_pause(world: &mut LabWorld) -> anyhow::Result<()> {
    runtime::kill_sandbox(world.lab()).await?;
    Ok(())
}

#[then("that pod's app container restarts once and the pod is Running again")]
async fn restarted(world: &mut LabWorld) -> anyhow::Result<()> {
    runtime::expect_restarted_once(world.lab()).await?;
    Ok(())
}

#[then(expr = "that pod's events since then include {names}")]
async fn events(world: &mut LabWorld, reasons: Names) -> anyhow::Result<()> {
    runtime::expect_events(world.lab(), &reasons.0).await?;
    Ok(())
}

#[then(expr = "\"kubectl describe pod\" of that pod on {string} shows the events {names}")]
async fn described(world: &mut LabWorld, place: String, reasons: Names) -> anyhow::Result<()> {
    let lab = world.lab();
    let (pod, _) = workload::chosen(lab)?;
    let reasons: Vec<(&str, Option<&str>)> = reasons.0.iter().map(|r| (r.as_str(), None)).collect();
    kubectl::expect_described_events(lab, &Place::parse(&place), "default", &pod, &reasons).await?;
    Ok(())
}

#[then(
    "\"sudo ctr --namespace k8s.io container list\" on each worker shows one pause container per pod the API places there"
)]
async fn pause_per_pod(world: &mut LabWorld) -> anyhow::Result<()> {
    runtime::expect_pause_per_pod(world.lab()).await?;
    Ok(())
}

#[then("\"sudo journalctl -u kubelet\" on that pod's worker mentions the killed sandbox")]
async fn journal(world: &mut LabWorld) -> anyhow::Result<()> {
    runtime::expect_journal_mentions_sandbox(world.lab()).await?;
    Ok(())
}
