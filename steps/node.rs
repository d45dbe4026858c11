//! Steps about what runs on each node, and the course's commands on a node.

use cucumber::gherkin::Step;
use cucumber::then;
use k8s_labs::node_shell;

use crate::common::Names;
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

#[then(expr = "{string} on {string} prints exactly:")]
async fn prints_exactly(
    world: &mut LabWorld,
    command: String,
    node: String,
    step: &Step,
) -> anyhow::Result<()> {
    let lab = world.lab();
    let expected = step.docstring.as_deref().unwrap_or_default();
    node_shell::expect_output(lab, &lab.expand(&node), &command, expected).await?;
    Ok(())
}

#[then(expr = "the kubelet is enabled on {names}")]
async fn kubelet_enabled(world: &mut LabWorld, nodes: Names) -> anyhow::Result<()> {
    let lab = world.lab();
    for node in &nodes.0 {
        node_shell::expect_output(
            lab,
            &lab.expand(node),
            "systemctl is-enabled kubelet",
            "enabled",
        )
        .await?;
    }
    Ok(())
}
