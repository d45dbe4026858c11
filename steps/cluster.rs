//! Steps about the cluster as a whole: its profile and nodes as minikube sees them, and the
//! course's stages (harness/course.rs).

use cucumber::{given, then, when};
use k8s_labs::course::{self, Stage};

use crate::common::Names;
use crate::world::LabWorld;

#[when(expr = "the reader starts {int} nodes without Kubernetes")]
async fn start_nodes(world: &mut LabWorld, count: u32) -> anyhow::Result<()> {
    course::start_nodes(world.lab(), count).await?;
    Ok(())
}

#[then(expr = "the node list is {names}")]
async fn node_list_is(world: &mut LabWorld, names: Names) -> anyhow::Result<()> {
    let lab = world.lab();
    lab.list_nodes().await?;
    lab.check_node_names(&names.0)?;
    Ok(())
}

#[then("every node has its own IP")]
async fn distinct_ips(world: &mut LabWorld) -> anyhow::Result<()> {
    world.lab().check_distinct_ips().await?;
    Ok(())
}

#[given(expr = "a cluster where the reader has completed {string}")]
async fn cluster_at(world: &mut LabWorld, stage: String) -> anyhow::Result<()> {
    let stage: Stage = stage.parse().map_err(anyhow::Error::msg)?;
    course::reach(world.lab(), stage).await?;
    Ok(())
}

#[when(expr = "the reader completes {string}")]
async fn complete(world: &mut LabWorld, stage: String) -> anyhow::Result<()> {
    let stage: Stage = stage.parse().map_err(anyhow::Error::msg)?;
    course::perform(world.lab(), stage).await?;
    Ok(())
}
