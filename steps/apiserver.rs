//! Steps of chapter 5: the API through `kubectl proxy` on the host.

use cucumber::{then, when};
use k8s_labs::apiserver::chapter as api;

use crate::common::Names;
use crate::world::LabWorld;

#[when(expr = "the reader starts \"kubectl proxy --port={int}\" in the background")]
async fn start(world: &mut LabWorld, port: u16) -> anyhow::Result<()> {
    api::start(world.lab(), port).await?;
    Ok(())
}

#[then("the proxy prints that it serves on 127.0.0.1")]
async fn serving(world: &mut LabWorld) -> anyhow::Result<()> {
    api::expect_serving(world.lab())?;
    Ok(())
}

#[then(expr = "\"curl localhost:PORT\\/\" through the proxy lists the paths {names}")]
async fn root(world: &mut LabWorld, paths: Names) -> anyhow::Result<()> {
    api::expect_root_paths(world.lab(), &paths.0).await?;
    Ok(())
}

#[then(expr = "{string} through the proxy is a {word} with {names}")]
async fn list(
    world: &mut LabWorld,
    path: String,
    kind: String,
    names: Names,
) -> anyhow::Result<()> {
    api::expect_list(world.lab(), &path, &kind, &names.0).await?;
    Ok(())
}

#[then(expr = "{string} through the proxy is that {word}")]
async fn object(world: &mut LabWorld, path: String, kind: String) -> anyhow::Result<()> {
    api::expect_object(world.lab(), &path, &kind).await?;
    Ok(())
}

#[then(expr = "{string} through the proxy returns the pod's log with {string}")]
async fn log(world: &mut LabWorld, path: String, text: String) -> anyhow::Result<()> {
    api::expect_log(world.lab(), &path, &text).await?;
    Ok(())
}

#[when("the reader stops the proxy")]
async fn stop(world: &mut LabWorld) -> anyhow::Result<()> {
    api::stop(world.lab()).await?;
    Ok(())
}
