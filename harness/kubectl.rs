//! The course's kubectl commands (on a node or on the host) and what their output must show,
//! checked in kubectl's output and, for the same objects, through the cluster API.
//!
//! Expected rows come from features as tables whose header names kubectl's columns. A cell may be
//! `!X` ("anything but X"), a `NAME` may end with `*` (every pod of a controller, random suffix),
//! `<profile>` is the scenario's profile and `<node ip>` the IP of the row's node.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::course::{self, CourseError};
use crate::kube;
use crate::lab::Lab;
use crate::node_shell::{self, Table};
use crate::wait::{Probe, Wait};

/// Where a command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The reader's computer, with the exported kubeconfig.
    Host,
    /// A node (`minikube ssh`), as its user.
    Node(String),
}

impl Place {
    /// `"the host"` or a node name (`<profile>` expanded by the caller).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        if text == "the host" {
            Self::Host
        } else {
            Self::Node(text.to_string())
        }
    }
}

/// Runs a kubectl command line (`kubectl get pods -A`) where `place` says; returns exit code and
/// output.
///
/// # Errors
/// Provider or runner errors.
pub async fn run(lab: &Lab, place: &Place, command: &str) -> Result<(i32, String), CourseError> {
    match place {
        Place::Host => {
            let args: Vec<&str> = command
                .strip_prefix("kubectl ")
                .unwrap_or(command)
                .split_whitespace()
                .collect();
            let out = course::host_kubectl(lab, &args).await?;
            Ok((
                out.code().unwrap_or(-1),
                format!("{}{}", out.stdout, out.stderr),
            ))
        }
        Place::Node(node) => {
            let r = lab.run_on(&lab.expand(node), command).await?;
            Ok((r.code, r.output))
        }
    }
}

/// One expected cell.
fn cell_matches(expected: &str, found: &str) -> bool {
    match expected.strip_prefix('!') {
        Some(not) => found != not,
        None => expected == found,
    }
}

fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Expected rows with placeholders expanded (`<profile>`; `<node ip>` from the row's `NAME` or
/// `NODE`).
#[must_use]
pub fn expand_rows(lab: &Lab, rows: &[BTreeMap<String, String>]) -> Vec<BTreeMap<String, String>> {
    rows.iter()
        .map(|row| {
            let row: BTreeMap<String, String> = row
                .iter()
                .map(|(k, v)| (k.clone(), lab.expand(v)))
                .collect();
            let node = row.get("NODE").or_else(|| row.get("NAME")).cloned();
            row.into_iter()
                .map(|(k, v)| {
                    let ip = node
                        .as_ref()
                        .and_then(|n| lab.nodes().iter().find(|x| &x.name == n))
                        .map(|n| n.ip.to_string());
                    let v = match (v.as_str(), ip) {
                        ("<node ip>", Some(ip)) => ip,
                        _ => v,
                    };
                    (k, v)
                })
                .collect()
        })
        .collect()
}

/// Checks `table` against `expected`: for each expected row, at least one output row has its
/// `NAME` (exact or `prefix*`), and every output row with that name has the expected cells.
///
/// # Errors
/// A description of the first row that does not hold.
pub fn check_rows(table: &Table, expected: &[BTreeMap<String, String>]) -> Result<(), String> {
    for want in expected {
        for column in want.keys() {
            if !table.has(column) {
                return Err(format!("no column {column} in {:?}", table.headers));
            }
        }
        let name = want.get("NAME").map_or("*", String::as_str);
        let rows: Vec<&BTreeMap<String, String>> = table
            .rows
            .iter()
            .filter(|r| {
                name_matches(name, r.get("NAME").map_or("", String::as_str))
                    && want
                        .get("NAMESPACE")
                        .is_none_or(|ns| r.get("NAMESPACE") == Some(ns))
            })
            .collect();
        if rows.is_empty() {
            return Err(format!("no row named {name}"));
        }
        for row in rows {
            for (column, value) in want {
                if column == "NAME" {
                    continue;
                }
                let found = row.get(column).map_or("", String::as_str);
                if !cell_matches(value, found) {
                    return Err(format!(
                        "{} has {column} {found:?}, expected {value:?}",
                        row.get("NAME").map_or("?", String::as_str)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Runs `command` where `place` says until its table shows `expected` (the reader's `watch`),
/// within the cluster's pod-start budget; then checks the same objects through the API.
///
/// # Errors
/// [`CourseError`] naming the last output and what did not hold.
pub async fn expect_table(
    lab: &mut Lab,
    place: &Place,
    command: &str,
    expected: &[BTreeMap<String, String>],
) -> Result<(), CourseError> {
    let expected = expand_rows(lab, expected);
    let budget = course::budgets(lab).node_ready;
    let lab_ref = &*lab;
    // The reader's `watch`: looks again as soon as the timeline saw the cluster change.
    let table = Wait::until(format!("`{command}` to show {expected:?}"), budget)
        .poll_waking(
            || async {
                let (code, output) = run(lab_ref, place, command)
                    .await
                    .map_err(|e| e.to_string())?;
                if code != 0 {
                    return Ok::<_, String>(Probe::Fails(format!(
                        "exit {code}: {}",
                        output.trim()
                    )));
                }
                let table = match node_shell::parse_table(command, &output) {
                    Ok(t) => t,
                    Err(e) => return Ok(Probe::Fails(e.to_string())),
                };
                Ok(match check_rows(&table, &expected) {
                    Ok(()) => Probe::Holds(table),
                    Err(why) => Probe::Fails(format!("{why}; output:\n{}", output.trim_end())),
                })
            },
            || lab_ref.timeline().changed(),
        )
        .await
        .map_err(kube::KubeError::from)?
        .value;
    let namespace = namespace_flag(command);
    cross_check(lab, &table, &expected, namespace.as_deref()).await
}

/// The namespace a kubectl command line names with `-n NS` / `--namespace[=]NS`.
#[must_use]
pub fn namespace_flag(command: &str) -> Option<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    words.iter().enumerate().find_map(|(i, w)| match *w {
        "-n" | "--namespace" => words.get(i + 1).map(|s| (*s).to_string()),
        _ => w.strip_prefix("--namespace=").map(str::to_string),
    })
}

/// Checks the rows kubectl showed against the API: pods (phase, readiness, node) and nodes
/// (Ready, roles, InternalIP).
async fn cross_check(
    lab: &Lab,
    table: &Table,
    expected: &[BTreeMap<String, String>],
    namespace: Option<&str>,
) -> Result<(), CourseError> {
    let client = lab.kube()?.clone();
    let nodes_table = table.has("ROLES");
    let mismatch = |what: String, found: String| CourseError::Unexpected {
        what,
        expected: "the API to agree with kubectl".into(),
        found,
    };
    if nodes_table {
        let nodes = kube::nodes(&client).await?;
        for row in &table.rows {
            let name = row.get("NAME").cloned().unwrap_or_default();
            if !expected
                .iter()
                .any(|w| name_matches(w.get("NAME").map_or("*", String::as_str), &name))
            {
                continue;
            }
            let node = nodes
                .iter()
                .find(|n| n.metadata.name.as_deref() == Some(name.as_str()))
                .ok_or_else(|| mismatch(format!("node {name}"), "not in the API".into()))?;
            let ready = kube::node_ready(node);
            if (row.get("STATUS").map(String::as_str) == Some("Ready")) != ready {
                return Err(mismatch(
                    format!("node {name}'s Ready condition"),
                    format!(
                        "kubectl says {:?}, the API says Ready={ready}",
                        row.get("STATUS")
                    ),
                ));
            }
            if let Some(ip) = row.get("INTERNAL-IP") {
                let api_ip = node
                    .status
                    .as_ref()
                    .and_then(|s| s.addresses.as_ref())
                    .into_iter()
                    .flatten()
                    .find(|a| a.type_ == "InternalIP")
                    .map(|a| a.address.clone())
                    .unwrap_or_default();
                if &api_ip != ip {
                    return Err(mismatch(format!("node {name}'s InternalIP"), api_ip));
                }
            }
        }
        return Ok(());
    }
    for want in expected {
        let pattern = want.get("NAME").map_or("*", String::as_str);
        let namespace = want
            .get("NAMESPACE")
            .map(String::as_str)
            .or(namespace)
            .unwrap_or("default");
        let pods = kube::pods(&client, namespace, "").await?;
        let matched: Vec<_> = pods
            .iter()
            .filter(|p| name_matches(pattern, kube::name_of(p)))
            .collect();
        if matched.is_empty() {
            return Err(mismatch(
                format!("pods {namespace}/{pattern}"),
                "none in the API".into(),
            ));
        }
        if let Some(status) = want.get("STATUS") {
            for pod in &matched {
                let running = kube::phase(pod) == "Running";
                let ok = match status.strip_prefix('!') {
                    Some("Running") => !running || !kube::running_and_ready(pod),
                    None if status == "Running" => running,
                    _ => true,
                };
                if !ok {
                    return Err(mismatch(
                        format!("pod {namespace}/{}", kube::name_of(pod)),
                        format!(
                            "kubectl shows {status}, the API says {}",
                            kube::describe_pod(pod)
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Checks that `label`'s remembered output (a command the stages ran) is exactly `expected`'s
/// lines, in order (trailing spaces and CRLF ignored).
///
/// # Errors
/// [`CourseError::Unexpected`] with both texts.
pub fn expect_printed(lab: &Lab, label: &str, expected: &str) -> Result<(), CourseError> {
    let state = lab.course().ok_or(CourseError::NoCluster)?;
    let printed = state.printed(label);
    let Some((node, output)) = printed.last() else {
        return Err(CourseError::Unexpected {
            what: format!("the output of `{label}`"),
            expected: "the command to have run in this cluster".into(),
            found: "it did not run".into(),
        });
    };
    let lines = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.trim_end_matches('\r').trim_end().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let want = lines(&lab.expand(expected));
    let found: Vec<String> = lines(output)
        .into_iter()
        .filter(|l| !l.starts_with("Warning: "))
        .collect();
    if want == found {
        Ok(())
    } else {
        Err(CourseError::Unexpected {
            what: format!("what `{label}` printed on {node}"),
            expected: want.join("\n"),
            found: lab.minikube().runner().redact(&found.join("\n")),
        })
    }
}

/// Checks that every run of `label` on `nodes` printed a line containing `text`.
///
/// # Errors
/// [`CourseError::Unexpected`] naming the node.
pub fn expect_printed_on(
    lab: &Lab,
    label: &str,
    text: &str,
    nodes: &[String],
) -> Result<(), CourseError> {
    let state = lab.course().ok_or(CourseError::NoCluster)?;
    for node in nodes.iter().map(|n| lab.expand(n)) {
        let ok = state
            .printed(label)
            .iter()
            .any(|(n, out)| *n == node && out.lines().any(|l| l.contains(text)));
        if !ok {
            return Err(CourseError::Unexpected {
                what: format!("`{label}` on {node}"),
                expected: format!("a line with {text:?}"),
                found: state
                    .printed(label)
                    .iter()
                    .find(|(n, _)| *n == node)
                    .map_or("it did not run there".into(), |(_, o)| {
                        lab.minikube().runner().redact(o.trim_end())
                    }),
            });
        }
    }
    Ok(())
}

/// `kubectl cluster-info` where `place` says: the control plane at the kubeconfig's server
/// (`https://<primary IP>:8443` on the node; the exported kubeconfig's server on the host) and
/// CoreDNS under it (`…/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy`).
///
/// # Errors
/// [`CourseError`] naming what it printed.
pub async fn expect_cluster_info(lab: &Lab, place: &Place) -> Result<(), CourseError> {
    let server = match place {
        Place::Node(_) => {
            let primary = course::primary(lab)?;
            format!("https://{}:{}", primary.ip, crate::kubeconfig::API_PORT)
        }
        Place::Host => {
            let state = lab.course().ok_or(CourseError::NoCluster)?;
            let text = std::fs::read_to_string(state.files().kubeconfig()).unwrap_or_default();
            let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap_or_default();
            doc["clusters"][0]["cluster"]["server"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    let (code, output) = run(lab, place, "kubectl cluster-info").await?;
    let services = node_shell::parse_cluster_info(&output);
    let want = [
        ("Kubernetes control plane".to_string(), server.clone()),
        (
            "CoreDNS".to_string(),
            format!("{server}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy"),
        ),
    ];
    if code == 0 && !server.is_empty() && want.iter().all(|w| services.contains(w)) {
        Ok(())
    } else {
        Err(CourseError::Unexpected {
            what: "`kubectl cluster-info`".into(),
            expected: format!("{want:?}"),
            found: format!(
                "exit {code}: {}",
                lab.minikube().runner().redact(output.trim())
            ),
        })
    }
}

/// How long a describe may lag behind the event it must show.
const EVENT_BUDGET: Duration = Duration::from_secs(30);

/// `kubectl describe pod NAME -n NS` where `place` says shows, in its `Events:` section, a row for
/// each of `reasons` whose message contains `message` when given.
///
/// # Errors
/// [`CourseError`] with the events section.
pub async fn expect_described_events(
    lab: &Lab,
    place: &Place,
    namespace: &str,
    pod: &str,
    reasons: &[(&str, Option<&str>)],
) -> Result<(), CourseError> {
    let command = format!("kubectl describe pod {pod} -n {namespace}");
    Wait::until(
        format!("`{command}` to show events {reasons:?}"),
        EVENT_BUDGET,
    )
    .poll_waking(
        || async {
            let (code, output) = run(lab, place, &command).await.map_err(|e| e.to_string())?;
            let events = output
                .split_once("\nEvents:")
                .map_or("", |(_, e)| e)
                .to_string();
            let missing: Vec<&str> = reasons
                .iter()
                .filter(|(reason, message)| {
                    !events.lines().any(|l| {
                        l.split_whitespace().nth(1) == Some(reason)
                            && message.is_none_or(|m| l.contains(m))
                    })
                })
                .map(|(r, _)| *r)
                .collect();
            Ok::<_, String>(if code == 0 && missing.is_empty() {
                Probe::Holds(())
            } else {
                Probe::Fails(format!(
                    "exit {code}, missing {missing:?} in Events:{events}"
                ))
            })
        },
        || lab.timeline().changed(),
    )
    .await
    .map_err(kube::KubeError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(spec: &[&[(&str, &str)]]) -> Vec<BTreeMap<String, String>> {
        spec.iter()
            .map(|r| {
                r.iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect()
            })
            .collect()
    }

    const PODS: &str = "NAMESPACE     NAME                          READY   STATUS    RESTARTS   AGE\nkube-system   coredns-5d6f996cd5-2xgsv      0/1     Pending   0          9s\nkube-system   coredns-5d6f996cd5-lprt8      0/1     Pending   0          9s\nkube-system   etcd-chx                      1/1     Running   0          10s\nkube-system   kube-proxy-fmdqj              1/1     Running   0          9s\n";

    #[test]
    fn rows_match_by_name_prefix_and_negation() {
        let table = node_shell::parse_table("kubectl get pods -A", PODS).unwrap();
        let ok = rows(&[
            &[
                ("NAMESPACE", "kube-system"),
                ("NAME", "etcd-chx"),
                ("READY", "1/1"),
                ("STATUS", "Running"),
            ],
            &[
                ("NAMESPACE", "kube-system"),
                ("NAME", "kube-proxy-*"),
                ("STATUS", "Running"),
            ],
            &[
                ("NAMESPACE", "kube-system"),
                ("NAME", "coredns-*"),
                ("STATUS", "!Running"),
            ],
        ]);
        assert_eq!(check_rows(&table, &ok), Ok(()));
        let running_dns = rows(&[&[("NAME", "coredns-*"), ("STATUS", "Running")]]);
        assert_eq!(
            check_rows(&table, &running_dns).unwrap_err(),
            "coredns-5d6f996cd5-2xgsv has STATUS \"Pending\", expected \"Running\""
        );
        let missing = rows(&[&[("NAME", "kube-scheduler-chx"), ("STATUS", "Running")]]);
        assert_eq!(
            check_rows(&table, &missing).unwrap_err(),
            "no row named kube-scheduler-chx"
        );
        let column = rows(&[&[("NAME", "etcd-chx"), ("NODE", "chx")]]);
        assert!(
            check_rows(&table, &column)
                .unwrap_err()
                .starts_with("no column NODE")
        );
    }

    #[test]
    fn namespaces_come_from_the_command_line() {
        assert_eq!(
            namespace_flag("kubectl get pods -n traefik -o wide").as_deref(),
            Some("traefik")
        );
        assert_eq!(
            namespace_flag("kubectl get pods --namespace=kube-system").as_deref(),
            Some("kube-system")
        );
        assert_eq!(namespace_flag("kubectl get pods -o wide"), None);
    }

    #[test]
    fn places_are_the_host_or_a_node() {
        assert_eq!(Place::parse("the host"), Place::Host);
        assert_eq!(Place::parse("<profile>"), Place::Node("<profile>".into()));
    }
}
