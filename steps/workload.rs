//! Steps about what runs in the cluster: kubectl's tables (checked against the API too), the
//! course's DaemonSets and the hello-world application, and curl from the jumpbox.

use std::collections::BTreeMap;

use cucumber::gherkin::Step;
use cucumber::{then, when};
use k8s_labs::kubectl::{self, Place};
use k8s_labs::{bootstrap, workload};

use crate::world::LabWorld;

/// A Gherkin table as rows of header → cell.
fn rows(step: &Step) -> Vec<BTreeMap<String, String>> {
    let Some(table) = &step.table else {
        return Vec::new();
    };
    let Some((header, body)) = table.rows.split_first() else {
        return Vec::new();
    };
    body.iter()
        .map(|r| header.iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

#[then(expr = "{string} on {string} shows:")]
async fn shows(
    world: &mut LabWorld,
    command: String,
    place: String,
    step: &Step,
) -> anyhow::Result<()> {
    let place = Place::parse(&place);
    kubectl::expect_table(world.lab(), &place, &command, &rows(step)).await?;
    Ok(())
}

#[then(expr = "{string} on {string} names the control plane and CoreDNS")]
async fn cluster_info(world: &mut LabWorld, command: String, place: String) -> anyhow::Result<()> {
    anyhow::ensure!(
        command == "kubectl cluster-info",
        "only `kubectl cluster-info` names the control plane"
    );
    kubectl::expect_cluster_info(world.lab(), &Place::parse(&place)).await?;
    Ok(())
}

#[then("describing a CoreDNS pod explains that the network is not ready")]
async fn coredns_explained(world: &mut LabWorld) -> anyhow::Result<()> {
    bootstrap::expect_coredns_explained(world.lab()).await?;
    Ok(())
}

#[then(expr = "the DaemonSet {string} in {string} runs a pod on every node it tolerates")]
async fn daemon_set_everywhere(
    world: &mut LabWorld,
    name: String,
    namespace: String,
) -> anyhow::Result<()> {
    bootstrap::expect_daemon_set_on_tolerated_nodes(world.lab(), &namespace, &name).await?;
    Ok(())
}

#[then(expr = "from the jumpbox, curl of {string} answers {int} {string}")]
async fn curl_answers(
    world: &mut LabWorld,
    node: String,
    status: u16,
    body: String,
) -> anyhow::Result<()> {
    workload::expect_curl(world.lab(), &node, status, &body).await?;
    Ok(())
}

#[then("the hello-world pods run one on each worker")]
async fn one_per_worker(world: &mut LabWorld) -> anyhow::Result<()> {
    workload::expect_one_per_worker(world.lab()).await?;
    Ok(())
}

#[then("from the jumpbox, curl of each worker answers podinfo's JSON naming a hello-world pod")]
async fn workers_answer(world: &mut LabWorld) -> anyhow::Result<()> {
    workload::expect_workers_answer(world.lab()).await?;
    Ok(())
}

#[when(expr = "the reader runs {string} on {string}")]
async fn runs(world: &mut LabWorld, command: String, place: String) -> anyhow::Result<()> {
    workload::run_course_command(world.lab(), &Place::parse(&place), &command).await?;
    Ok(())
}

#[then(expr = "{int} hello-world pods are Running")]
async fn hello_running(world: &mut LabWorld, count: usize) -> anyhow::Result<()> {
    workload::expect_running(world.lab(), count).await?;
    Ok(())
}
