//! Steps about the cluster as a whole: its profile and nodes as minikube sees them.

use cucumber::{then, when};

use crate::common::Names;
use crate::world::LabWorld;

#[when(expr = "the reader starts {int} nodes without Kubernetes")]
async fn start_nodes(world: &mut LabWorld, count: u32) -> anyhow::Result<()> {
    world.lab().start_nodes(count).await?;
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
