//! Steps about what runs on each node.

use cucumber::then;

use crate::world::LabWorld;

#[then("every node answers a command")]
async fn nodes_answer(world: &mut LabWorld) -> anyhow::Result<()> {
    world.lab().check_nodes_answer().await?;
    Ok(())
}

#[then("every node has a container runtime")]
async fn container_runtime(world: &mut LabWorld) -> anyhow::Result<()> {
    world.lab().check_container_runtime().await?;
    Ok(())
}
