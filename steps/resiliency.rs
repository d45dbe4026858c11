//! Steps of chapter 7, "Testing resiliency": nodes stopped and started with `minikube node`, the
//! app's answers through the outage, eviction, scaling without workers, and the course's claims.
//! The checks live in `harness/outage.rs`; timings come from the cluster's configured values.

use std::time::Duration;

use cucumber::{given, then, when};
use k8s_labs::outage::{self, COURSE_DISTRIBUTIONS, Since};

use crate::common::Names;
use crate::world::LabWorld;

#[given(expr = "the reader picks the worker to stop: {string} if it runs a hello-world pod")]
async fn pick_worker(world: &mut LabWorld, preferred: String) -> anyhow::Result<()> {
    outage::pick_worker(world.lab(), &preferred).await?;
    Ok(())
}

#[given(expr = "the reader curls {string} from the jumpbox every {int} seconds")]
async fn curls_every(world: &mut LabWorld, node: String, seconds: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        seconds > 0,
        "curl at least every second, not every 0 seconds"
    );
    outage::start_curling(world.lab(), &node, Duration::from_secs(seconds)).await?;
    Ok(())
}

#[when(expr = "the reader stops {string} with \"minikube node stop\"")]
async fn stop(world: &mut LabWorld, node: String) -> anyhow::Result<()> {
    outage::stop_node(world.lab(), &node).await?;
    Ok(())
}

#[when(expr = "the reader starts {string} with \"minikube node start\"")]
async fn start(world: &mut LabWorld, node: String) -> anyhow::Result<()> {
    outage::start_node(world.lab(), &node).await?;
    Ok(())
}

#[then(expr = "{string} becomes NotReady within the node monitor grace period")]
async fn not_ready(world: &mut LabWorld, node: String) -> anyhow::Result<()> {
    outage::expect_not_ready(world.lab(), &node).await?;
    Ok(())
}

#[then(
    expr = "every curl of {string} since {string} became NotReady was answered by a hello-world pod"
)]
async fn answered_since_not_ready(
    world: &mut LabWorld,
    node: String,
    stopped: String,
) -> anyhow::Result<()> {
    outage::expect_curls_answered(world.lab(), &node, &Since::NotReady(stopped))?;
    Ok(())
}

#[then(expr = "the app keeps answering through {string} for the node monitor grace period")]
async fn keeps_answering(world: &mut LabWorld, node: String) -> anyhow::Result<()> {
    outage::expect_answering_for_grace_period(world.lab(), &node).await?;
    Ok(())
}

#[then(expr = "every curl of {string} was answered by a hello-world pod")]
async fn all_answered(world: &mut LabWorld, node: String) -> anyhow::Result<()> {
    outage::expect_curls_answered(world.lab(), &node, &Since::Start)?;
    Ok(())
}

#[then(expr = "{string} stays Running on the stopped worker until its toleration can expire")]
async fn kept(world: &mut LabWorld, pod: String) -> anyhow::Result<()> {
    outage::expect_kept_until_toleration(world.lab(), &pod).await?;
    Ok(())
}

#[then(expr = "{string} is evicted after its toleration and replaced on {string}")]
async fn evicted(world: &mut LabWorld, pod: String, other: String) -> anyhow::Result<()> {
    outage::expect_evicted_and_replaced(world.lab(), &pod, &other).await?;
    Ok(())
}

#[then(expr = "{string} on the host fails because no API server answers")]
async fn api_unreachable(world: &mut LabWorld, command: String) -> anyhow::Result<()> {
    outage::expect_api_unreachable(world.lab(), &command).await?;
    Ok(())
}

#[then("the reader's kubeconfig reaches the API server, refreshed if its address moved")]
async fn kubeconfig_refreshed(world: &mut LabWorld) -> anyhow::Result<()> {
    outage::refresh_kubeconfig(world.lab()).await?;
    Ok(())
}

#[then("the workers' heartbeats resume and no pod is evicted for longer than the tolerations")]
async fn resumed(world: &mut LabWorld) -> anyhow::Result<()> {
    outage::expect_resumed_without_eviction(world.lab()).await?;
    Ok(())
}

#[then(expr = "from the jumpbox, curl of {names} gets no answer")]
async fn no_answer(world: &mut LabWorld, nodes: Names) -> anyhow::Result<()> {
    outage::expect_unreachable(world.lab(), &nodes.0).await?;
    Ok(())
}

#[when(expr = "the reader scales {string} to {int} with \"kubectl edit\"")]
async fn scale_with_edit(world: &mut LabWorld, name: String, replicas: u32) -> anyhow::Result<()> {
    outage::scale_with_edit(world.lab(), &name, replicas).await?;
    Ok(())
}

#[then(expr = "the new hello-world pods are Pending, {int} pods in all")]
async fn pending(world: &mut LabWorld, replicas: usize) -> anyhow::Result<()> {
    outage::expect_new_pods_pending(world.lab(), replicas).await?;
    Ok(())
}

#[then("the hello-world pods are spread over the workers in one of the ways the course lists")]
async fn spread(world: &mut LabWorld) -> anyhow::Result<()> {
    let shown = outage::record_distribution(world.lab()).await?;
    anyhow::ensure!(
        COURSE_DISTRIBUTIONS.contains(&shown.as_str()),
        "the hello-world pods are spread {shown} over the workers; the course lists {}",
        COURSE_DISTRIBUTIONS.join(", ")
    );
    Ok(())
}

#[then("no hello-world pod moves, appears or is deleted for the node monitor grace period")]
async fn no_rebalancing(world: &mut LabWorld) -> anyhow::Result<()> {
    outage::expect_no_rebalancing(world.lab()).await?;
    Ok(())
}

#[then(expr = "the claims {names} are recorded")]
async fn claims(world: &mut LabWorld, ids: Names) -> anyhow::Result<()> {
    outage::record_claims(world.lab(), &ids.0)?;
    Ok(())
}

#[then(expr = "the claim {string} is recorded")]
async fn one_claim(world: &mut LabWorld, id: String) -> anyhow::Result<()> {
    outage::record_claims(world.lab(), &[id])?;
    Ok(())
}

#[when(expr = "the operator adds {string} to kube-controller-manager's manifest on {string}")]
async fn add_flag(world: &mut LabWorld, flag: String, node: String) -> anyhow::Result<()> {
    outage::add_controller_manager_flag(world.lab(), &node, &flag).await?;
    Ok(())
}

#[then(expr = "kube-controller-manager on {string} crash-loops, its log saying {string}")]
async fn crash_loops(world: &mut LabWorld, node: String, message: String) -> anyhow::Result<()> {
    outage::expect_controller_manager_crash_loops(world.lab(), &node, &message).await?;
    Ok(())
}

#[when(expr = "the operator restores kube-controller-manager's manifest on {string}")]
async fn restore(world: &mut LabWorld, node: String) -> anyhow::Result<()> {
    outage::restore_controller_manager(world.lab(), &node).await?;
    Ok(())
}

#[then(expr = "kube-controller-manager on {string} runs and leads again")]
async fn leads(world: &mut LabWorld, node: String) -> anyhow::Result<()> {
    outage::expect_controller_manager_leads(world.lab(), &node).await?;
    Ok(())
}
