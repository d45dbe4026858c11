//! Steps about what the course's commands printed when the stages ran them (kubeadm, kubectl
//! apply): harness/kubectl.rs and harness/course.rs keep the outputs by command.

use cucumber::gherkin::Step;
use cucumber::then;
use k8s_labs::{bootstrap, kubectl};

use crate::common::Names;
use crate::world::LabWorld;

#[then("kubeadm init printed the kubeconfig instructions and a join command for the primary node")]
async fn init_printed(world: &mut LabWorld) -> anyhow::Result<()> {
    bootstrap::expect_init_output(world.lab())?;
    Ok(())
}

#[then(expr = "{string} printed:")]
async fn printed(world: &mut LabWorld, command: String, step: &Step) -> anyhow::Result<()> {
    let expected = step.docstring.as_deref().unwrap_or_default();
    kubectl::expect_printed(world.lab(), &command, expected)?;
    Ok(())
}

#[then(expr = "{string} printed {string} on {names}")]
async fn printed_on(
    world: &mut LabWorld,
    command: String,
    text: String,
    nodes: Names,
) -> anyhow::Result<()> {
    kubectl::expect_printed_on(world.lab(), &command, &text, &nodes.0)?;
    Ok(())
}
