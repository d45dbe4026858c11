//! Chapter 3's hello-world application as later chapters use it: its pods through the API, the
//! course's `curl <worker IP>` from the jumpbox, and the pod a scenario works on (a named outcome).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use crate::course::{self, CourseError, HELLO_SELECTOR};
use crate::kube;
use crate::lab::Lab;
use crate::wait::{Probe, Wait, WaitError};

/// The named outcome holding the hello-world pod a scenario works on.
pub const POD_OUTCOME: &str = "hello-world pod";
/// The named outcome holding the node that pod runs on.
pub const NODE_OUTCOME: &str = "its worker";

/// The running hello-world pods.
///
/// # Errors
/// [`CourseError`] from the API.
pub async fn running_pods(lab: &Lab) -> Result<Vec<Pod>, CourseError> {
    let pods = kube::pods(lab.kube()?, "default", HELLO_SELECTOR).await?;
    Ok(pods.into_iter().filter(kube::running_and_ready).collect())
}

/// Waits until exactly `count` hello-world pods are running (and no other is left).
///
/// # Errors
/// [`CourseError`] naming the pods seen last.
pub async fn expect_running(lab: &Lab, count: usize) -> Result<Vec<Pod>, CourseError> {
    let budget = course::budgets(lab).pods_start;
    Ok(kube::wait_pods(
        lab.kube()?,
        &format!("{count} hello-world pods Running and no other"),
        "default",
        HELLO_SELECTOR,
        budget,
        |pods| {
            if pods.len() == count {
                kube::all_running(pods, count)
            } else {
                Err(pods
                    .iter()
                    .map(kube::describe_pod)
                    .collect::<Vec<_>>()
                    .join("; "))
            }
        },
    )
    .await?)
}

/// Checks through the API that the 2 hello-world pods run one on each worker.
///
/// # Errors
/// [`CourseError::Unexpected`] with the placement found.
pub async fn expect_one_per_worker(lab: &Lab) -> Result<(), CourseError> {
    let pods = expect_running(lab, 2).await?;
    let placed: BTreeSet<String> = pods.iter().map(|p| kube::node_of(p).to_string()).collect();
    let workers: BTreeSet<String> = course::workers(lab).into_iter().map(|w| w.name).collect();
    if placed == workers && pods.len() == workers.len() {
        Ok(())
    } else {
        Err(CourseError::Unexpected {
            what: "the hello-world pods' nodes".into(),
            expected: format!("one pod on each of {workers:?}"),
            found: pods
                .iter()
                .map(kube::describe_pod)
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

/// The course's `curl <node IP>` from the jumpbox: status `status` and exactly `body` (the
/// trailing newline of Go's `http.NotFound` aside).
///
/// # Errors
/// [`CourseError::Unexpected`] with what curl got.
pub async fn expect_curl(
    lab: &mut Lab,
    node: &str,
    status: u16,
    body: &str,
) -> Result<(), CourseError> {
    let node = course::node(lab, node)?;
    let reply = lab.curl_from_jumpbox(&node.ip.to_string()).await?;
    if reply.status == Some(status) && reply.body.trim_end_matches('\n') == body {
        Ok(())
    } else {
        Err(CourseError::Unexpected {
            what: format!("curl {} from the jumpbox", node.ip),
            expected: format!("{status} {body:?}"),
            found: format!(
                "status {:?}, curl exit {} {}, body {:?}",
                reply.status, reply.curl_exit, reply.error, reply.body
            ),
        })
    }
}

/// How long a worker may take to route the `hello` Ingress once its pods run: traefik learns of
/// Ingresses through client-go informers, whose reflector re-lists and re-watches after a lost API
/// server with a back-off growing from 800 ms to 30 s (`tools/cache/reflector.go` in
/// kubernetes/client-go, `NewReflectorWithOptions`' backoff manager), and applies a new
/// configuration after its `providers.providersThrottleDuration` (2 s by default).
pub const INGRESS_ROUTED: Duration = Duration::from_secs(45);

/// The course's `curl <worker IP>` for each worker: podinfo's JSON whose `hostname` is one of the
/// hello-world pods (through traefik and the `hello` Ingress). A worker that does not route the
/// Ingress yet (traefik's `404 page not found`, no answer) is asked again for up to
/// [`INGRESS_ROUTED`], as a reader would curl again.
///
/// # Errors
/// [`CourseError::Unexpected`] with the last reply.
pub async fn expect_workers_answer(lab: &mut Lab) -> Result<(), CourseError> {
    let names: BTreeSet<String> = running_pods(lab)
        .await?
        .iter()
        .map(|p| kube::name_of(p).to_string())
        .collect();
    for worker in course::workers(lab) {
        let what = format!("curl {} from the jumpbox", worker.ip);
        // The jumpbox starts on first use, so each look needs the lab mutably.
        let shared = tokio::sync::Mutex::new(&mut *lab);
        let names = &names;
        let ip = worker.ip.to_string();
        let answered = Wait::until(what.clone(), INGRESS_ROUTED)
            .poll(|| async {
                let reply = shared.lock().await.curl_from_jumpbox(&ip).await?;
                let hostname = serde_json::from_str::<serde_json::Value>(&reply.body)
                    .ok()
                    .and_then(|v| v["hostname"].as_str().map(str::to_string));
                Ok::<_, CourseError>(match hostname {
                    Some(h) if reply.status == Some(200) && names.contains(&h) => Probe::Holds(h),
                    _ => Probe::Fails(format!(
                        "status {:?}, curl exit {} {}, body {:?}",
                        reply.status, reply.curl_exit, reply.error, reply.body
                    )),
                })
            })
            .await;
        match answered {
            Ok(waited) => lab.record(format!("hostname via {}", worker.name), waited.value),
            Err(WaitError::TimedOut { last, .. }) => {
                return Err(CourseError::Unexpected {
                    what,
                    expected: format!("podinfo's JSON with a hostname among {names:?}"),
                    found: last,
                });
            }
            Err(e) => {
                return Err(CourseError::Unexpected {
                    what,
                    expected: format!("podinfo's JSON with a hostname among {names:?}"),
                    found: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Which running hello-world pod a scenario works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefer {
    /// The one restarted least (a fresh pod).
    FewestRestarts,
    /// The one restarted most (the pod the reader broke before, as the course does).
    MostRestarts,
}

/// Chooses a running hello-world pod as `prefer` says (ties by name) and records it and its node
/// as named outcomes.
///
/// # Errors
/// [`CourseError::Unexpected`] when none runs.
pub async fn choose_pod(lab: &mut Lab, prefer: Prefer) -> Result<(String, String), CourseError> {
    let mut pods = running_pods(lab).await?;
    pods.sort_by_key(|p| {
        let restarts = kube::restart_count(p, "app");
        let key = match prefer {
            Prefer::FewestRestarts => restarts,
            Prefer::MostRestarts => -restarts,
        };
        (key, kube::name_of(p).to_string())
    });
    let pod = pods.first().ok_or_else(|| CourseError::Unexpected {
        what: "a running hello-world pod".into(),
        expected: "at least one".into(),
        found: "none".into(),
    })?;
    let (name, node) = (
        kube::name_of(pod).to_string(),
        kube::node_of(pod).to_string(),
    );
    lab.record(POD_OUTCOME, &name);
    lab.record(NODE_OUTCOME, &node);
    lab.touch("Pod", "default", &name);
    Ok((name, node))
}

/// The pod and node recorded by [`choose_pod`].
///
/// # Errors
/// [`CourseError::Unexpected`] when no pod was chosen in this scenario.
pub fn chosen(lab: &Lab) -> Result<(String, String), CourseError> {
    match (lab.outcome(POD_OUTCOME), lab.outcome(NODE_OUTCOME)) {
        (Some(p), Some(n)) => Ok((p.to_string(), n.to_string())),
        _ => Err(CourseError::Unexpected {
            what: "the hello-world pod of this scenario".into(),
            expected: "chosen by an earlier step".into(),
            found: "none".into(),
        }),
    }
}

/// Runs one of the course's commands where `place` says (`kubectl scale …` on the primary node)
/// and requires success; what it printed is remembered under the command.
///
/// # Errors
/// [`CourseError::CommandFailed`].
pub async fn run_course_command(
    lab: &mut Lab,
    place: &crate::kubectl::Place,
    command: &str,
) -> Result<(), CourseError> {
    let (code, output) = crate::kubectl::run(lab, place, command).await?;
    let node = match place {
        crate::kubectl::Place::Host => "host".to_string(),
        crate::kubectl::Place::Node(n) => lab.expand(n),
    };
    if code != 0 {
        return Err(CourseError::CommandFailed {
            node,
            command: command.into(),
            code,
            output: lab.minikube().runner().redact(output.trim_end()),
        });
    }
    if let Some(state) = lab.course_mut() {
        state.remember(command, &node, &output);
    }
    Ok(())
}
