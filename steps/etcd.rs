//! Steps of chapter 4: etcdctl on the control plane with the course's alias.

use cucumber::{then, when};
use k8s_labs::etcd::chapter as etcd;

use crate::world::LabWorld;

#[then("\"etcdctl version\" prints the etcdctl and API versions")]
async fn version(world: &mut LabWorld) -> anyhow::Result<()> {
    etcd::expect_version(world.lab()).await?;
    Ok(())
}

#[then(
    "\"etcdctl member list --write-out=table\" lists one started member named after the primary node"
)]
async fn member(world: &mut LabWorld) -> anyhow::Result<()> {
    etcd::expect_one_started_member(world.lab()).await?;
    Ok(())
}

#[then("without the certificates, \"sudo etcdctl member list\" fails")]
async fn no_certs(world: &mut LabWorld) -> anyhow::Result<()> {
    etcd::expect_fails_without_certificates(world.lab()).await?;
    Ok(())
}

#[then(expr = "every key \"etcdctl get --prefix \\/ --keys-only\" lists is under {string}")]
async fn keys_under(world: &mut LabWorld, prefix: String) -> anyhow::Result<()> {
    etcd::expect_keys_under(world.lab(), &prefix).await?;
    Ok(())
}

#[then(expr = "{string} prints the key {string}")]
async fn prints_key(world: &mut LabWorld, command: String, key: String) -> anyhow::Result<()> {
    etcd::expect_prints_key(world.lab(), &command, &key).await?;
    Ok(())
}

#[then("the value stored for a hello-world pod names the pod")]
async fn pod_value(world: &mut LabWorld) -> anyhow::Result<()> {
    etcd::expect_pod_value(world.lab()).await?;
    Ok(())
}

#[then(expr = "the key {string} written with {string} reads back with \"etcdctl get\"")]
async fn put_get(world: &mut LabWorld, key: String, value: String) -> anyhow::Result<()> {
    etcd::expect_put_reads_back(world.lab(), &key, &value).await?;
    Ok(())
}

#[when(
    expr = "the reader watches {string} with \"etcdctl watch --prefix {word} -w json\" in the background"
)]
async fn watch(world: &mut LabWorld, prefix: String, again: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        prefix == again,
        "the watched prefix is written twice: {prefix} and {again}"
    );
    etcd::start_watch(world.lab(), &prefix).await?;
    Ok(())
}

#[then("the watch saw a hello-world pod created, updated and deleted")]
async fn watch_saw(world: &mut LabWorld) -> anyhow::Result<()> {
    etcd::expect_watch_saw_pod_lifecycle(world.lab()).await?;
    Ok(())
}
