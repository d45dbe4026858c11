//! Chapter 5, "Exploring the API server": `kubectl proxy --port=8888` in the background and `curl`
//! of the API's paths through it, as the reader does on the host.
//!
//! `kubectl proxy` prints `Starting to serve on 127.0.0.1:PORT` and forwards requests unchanged
//! with the kubeconfig's credentials (`staging/src/k8s.io/kubectl/pkg/cmd/proxy/proxy.go`). The
//! course stops it with `killall kubectl`; the harness stops the one process it started instead,
//! so other kubectl processes on the machine are left alone.

use std::net::TcpListener;
use std::time::Duration;

use serde_json::Value;

use crate::jumpbox::{HttpReply, curl_argv, parse_curl};
use crate::runner::{Background, Command, RunError, Runner};
use crate::wait::{Probe, Wait, WaitError};

/// The course's proxy port.
pub const PROXY_PORT: u16 = 8888;

/// How long `kubectl proxy` may take to say it serves (kubectl's discovery on a cold cache).
pub const PROXY_START: Duration = Duration::from_secs(30);

/// Errors of the proxy and the API paths.
#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    /// A process could not be run.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A wait ran out.
    #[error(transparent)]
    Wait(#[from] WaitError),
    /// No free port on 127.0.0.1.
    #[error("cannot find a free port on 127.0.0.1 for kubectl proxy: {0}")]
    NoPort(std::io::Error),
    /// The proxy exited by itself.
    #[error("`kubectl proxy` exited ({ending}) before serving; it printed:\n{output}")]
    ProxyExited {
        /// How it ended.
        ending: String,
        /// What it printed (redacted).
        output: String,
    },
    /// A reply was not what the path serves.
    #[error("GET {path} through the proxy: {problem}")]
    Reply {
        /// The path.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// Whether nothing listens on `127.0.0.1:port`.
#[must_use]
pub fn port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The port to use: `wanted` if it is free, else a free one and a note saying why (another run on
/// this machine may hold 8888).
///
/// # Errors
/// [`ApiServerError::NoPort`].
pub fn choose_port(wanted: u16) -> Result<(u16, Option<String>), ApiServerError> {
    if port_free(wanted) {
        return Ok((wanted, None));
    }
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(ApiServerError::NoPort)?;
    let port = listener
        .local_addr()
        .map_err(ApiServerError::NoPort)?
        .port();
    Ok((
        port,
        Some(format!(
            "port {wanted} is taken on this machine (another run?): the proxy uses port {port} instead"
        )),
    ))
}

/// The line `kubectl proxy` prints once it serves.
#[must_use]
pub fn serving_line(port: u16) -> String {
    format!("Starting to serve on 127.0.0.1:{port}")
}

/// A running `kubectl proxy`.
#[derive(Debug)]
pub struct Proxy {
    process: Background,
    port: u16,
}

impl Proxy {
    /// Starts `kubectl` (built by the caller with its environment) as `kubectl proxy --port=P` in
    /// the background and waits until it says it serves.
    ///
    /// # Errors
    /// [`ApiServerError`] when it cannot start, exits, or does not serve in time.
    pub async fn start(
        runner: &Runner,
        kubectl: Command,
        port: u16,
        note: Option<String>,
    ) -> Result<Self, ApiServerError> {
        let mut cmd = kubectl.arg(format!("--port={port}"));
        if let Some(note) = note {
            cmd = cmd.note(note);
        }
        let process = runner.spawn(&cmd)?;
        let line = serving_line(port);
        let waited = Wait::until(format!("`kubectl proxy` to print {line:?}"), PROXY_START)
            .poll(|| {
                let out = process.stdout();
                let exited = process.exited();
                let line = line.clone();
                async move {
                    if out.lines().any(|l| l.trim() == line) {
                        return Ok(Probe::Holds(()));
                    }
                    match exited {
                        Ok(Some(ending)) => Err(ending.to_string()),
                        _ => Ok(Probe::Fails(format!("it printed {:?}", out.trim()))),
                    }
                }
            })
            .await;
        match waited {
            Ok(_) => Ok(Self { process, port }),
            Err(WaitError::Aborted { error, .. }) => {
                let output = runner.redact(&format!("{}{}", process.stdout(), process.stderr()));
                Err(ApiServerError::ProxyExited {
                    ending: error,
                    output,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The port it serves on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it printed so far.
    #[must_use]
    pub fn printed(&self) -> String {
        self.process.stdout()
    }

    /// The process and its port (to keep in the scenario's world).
    #[must_use]
    pub fn into_parts(self) -> (Background, u16) {
        (self.process, self.port)
    }

    /// A proxy from the process and port kept in the scenario's world.
    #[must_use]
    pub fn from_parts(process: Background, port: u16) -> Self {
        Self { process, port }
    }

    /// Stops this proxy process (its own process group, not every kubectl) and waits until its
    /// port is free again.
    ///
    /// # Errors
    /// [`ApiServerError`] when it cannot be stopped or the port stays taken.
    pub async fn stop(self) -> Result<(), ApiServerError> {
        let port = self.port;
        self.process.stop().await?;
        Wait::until(
            format!("port {port} free after the proxy stopped"),
            Duration::from_secs(10),
        )
        .poll(|| async move {
            Ok::<_, String>(if port_free(port) {
                Probe::Holds(())
            } else {
                Probe::Fails(format!("something still listens on 127.0.0.1:{port}"))
            })
        })
        .await?;
        Ok(())
    }
}

/// `curl localhost:PORT<path>` on the host, as the course types it.
///
/// # Errors
/// [`RunError`] when curl cannot run.
pub async fn curl(runner: &Runner, port: u16, path: &str) -> Result<HttpReply, ApiServerError> {
    let argv = curl_argv(&format!("localhost:{port}{path}"));
    let output = runner.run(&Command::new(&argv[0]).args(&argv[1..])).await?;
    Ok(parse_curl(
        output.code().unwrap_or(-1),
        &output.stdout,
        &output.stderr,
    ))
}

/// Reads a reply as JSON of `kind` (`PodList`, `Pod`, …; empty: any object).
///
/// # Errors
/// [`ApiServerError::Reply`] for another status, non-JSON or another kind.
pub fn json_of_kind(path: &str, reply: &HttpReply, kind: &str) -> Result<Value, ApiServerError> {
    let bad = |problem: String| ApiServerError::Reply {
        path: path.to_string(),
        problem,
    };
    if reply.status != Some(200) {
        return Err(bad(format!(
            "status {:?} (curl exit {}, {}), body {:?}",
            reply.status,
            reply.curl_exit,
            reply.error,
            reply.body.chars().take(300).collect::<String>()
        )));
    }
    let value: Value =
        serde_json::from_str(&reply.body).map_err(|e| bad(format!("not JSON: {e}")))?;
    if !kind.is_empty() && value["kind"] != kind {
        return Err(bad(format!(
            "kind {} where {kind} was expected",
            value["kind"]
        )));
    }
    Ok(value)
}

/// The `paths` of `GET /`.
#[must_use]
pub fn root_paths(value: &Value) -> Vec<String> {
    value["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect()
}

/// The `metadata.name` of each item of a list.
#[must_use]
pub fn item_names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

/// The scenario's steps of chapter 5 on the course's cluster.
pub mod chapter {
    use super::{
        ApiServerError, Proxy, choose_port, item_names, json_of_kind, root_paths, serving_line,
    };
    use crate::course::CourseError;
    use crate::lab::Lab;
    use crate::runner::Command;
    use crate::workload;

    /// The named background process of `kubectl proxy`.
    pub const PROXY: &str = "the proxy";
    /// The named outcome holding its port.
    pub const PORT_OUTCOME: &str = "proxy port";

    fn port(lab: &Lab) -> Result<u16, CourseError> {
        lab.outcome(PORT_OUTCOME)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                CourseError::unexpected("the proxy", "started by an earlier step", "none")
            })
    }

    /// `kubectl proxy --port=P` on the host (P = `wanted`, or a free port when it is taken, said
    /// in the transcript), kept as [`PROXY`] once it prints that it serves.
    ///
    /// # Errors
    /// [`CourseError`] when it does not serve.
    pub async fn start(lab: &mut Lab, wanted: u16) -> Result<(), CourseError> {
        let (port, note) = choose_port(wanted)
            .map_err(|e| CourseError::unexpected("a port", "free", e.to_string()))?;
        let state = lab.course().ok_or(CourseError::NoCluster)?;
        let files = state.files();
        let kubectl = Command::new("kubectl")
            .arg("proxy")
            .env("KUBECONFIG", files.kubeconfig().to_string_lossy())
            .env("KUBECACHEDIR", files.cache_dir().to_string_lossy());
        let runner = lab.minikube().runner().clone();
        let proxy = Proxy::start(&runner, kubectl, port, note)
            .await
            .map_err(wrap)?;
        let (process, port) = proxy.into_parts();
        lab.record(PORT_OUTCOME, port.to_string());
        if let Some(old) = lab.keep_process(PROXY, process) {
            old.stop().await?;
        }
        Ok(())
    }

    fn wrap(e: ApiServerError) -> CourseError {
        match e {
            ApiServerError::Run(r) => CourseError::Run(r),
            ApiServerError::Wait(w) => CourseError::Kube(w.into()),
            other => CourseError::unexpected("kubectl proxy", "to serve", other.to_string()),
        }
    }

    /// The proxy printed `Starting to serve on 127.0.0.1:P`.
    ///
    /// # Errors
    /// [`CourseError::Unexpected`] with what it printed.
    pub fn expect_serving(lab: &Lab) -> Result<(), CourseError> {
        let port = port(lab)?;
        let printed = lab
            .process(PROXY)
            .map(crate::runner::Background::stdout)
            .unwrap_or_default();
        if printed.lines().any(|l| l.trim() == serving_line(port)) {
            Ok(())
        } else {
            Err(CourseError::unexpected(
                "what kubectl proxy printed",
                serving_line(port),
                printed,
            ))
        }
    }

    /// `curl localhost:P<path>` on the host, read as JSON of `kind` (empty: any).
    async fn get(lab: &Lab, path: &str, kind: &str) -> Result<serde_json::Value, CourseError> {
        let path = lab.expand(path);
        let reply = super::curl(lab.minikube().runner(), port(lab)?, &path)
            .await
            .map_err(wrap)?;
        json_of_kind(&path, &reply, kind).map_err(wrap)
    }

    /// Expands `<hello-world pod>` to the scenario's hello-world pod (chosen on first use).
    async fn expand_pod(lab: &mut Lab, path: &str) -> Result<String, CourseError> {
        if !path.contains("<hello-world pod>") {
            return Ok(lab.expand(path));
        }
        let pod = match workload::chosen(lab) {
            Ok((pod, _)) => pod,
            Err(_) => {
                workload::choose_pod(lab, workload::Prefer::FewestRestarts)
                    .await?
                    .0
            }
        };
        Ok(lab.expand(&path.replace("<hello-world pod>", &pod)))
    }

    /// `GET /` lists every one of `paths`.
    ///
    /// # Errors
    /// [`CourseError::Unexpected`] naming the missing paths.
    pub async fn expect_root_paths(lab: &Lab, paths: &[String]) -> Result<(), CourseError> {
        let listed = root_paths(&get(lab, "/", "").await?);
        let missing: Vec<&String> = paths.iter().filter(|p| !listed.contains(p)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(CourseError::unexpected(
                "the paths of GET /",
                format!("{paths:?}"),
                format!("missing {missing:?} in {listed:?}"),
            ))
        }
    }

    /// `GET path` is a list of `kind` naming each of `names` (`<hello-world pods>` stands for
    /// every running hello-world pod).
    ///
    /// # Errors
    /// [`CourseError::Unexpected`] naming the missing items.
    pub async fn expect_list(
        lab: &Lab,
        path: &str,
        kind: &str,
        names: &[String],
    ) -> Result<(), CourseError> {
        let items = item_names(&get(lab, path, kind).await?);
        let mut wanted: Vec<String> = Vec::new();
        for n in names {
            if n == "<hello-world pods>" {
                wanted.extend(
                    workload::running_pods(lab)
                        .await?
                        .iter()
                        .map(|p| crate::kube::name_of(p).to_string()),
                );
            } else {
                wanted.push(lab.expand(n));
            }
        }
        let missing: Vec<&String> = wanted.iter().filter(|w| !items.contains(w)).collect();
        if !wanted.is_empty() && missing.is_empty() {
            Ok(())
        } else {
            Err(CourseError::unexpected(
                &format!("the {kind} at {path}"),
                format!("{wanted:?}"),
                format!("missing {missing:?} in {items:?}"),
            ))
        }
    }

    /// `GET path` is the object of `kind` named as the path's last segment.
    ///
    /// # Errors
    /// [`CourseError::Unexpected`] with the name found.
    pub async fn expect_object(lab: &mut Lab, path: &str, kind: &str) -> Result<(), CourseError> {
        let path = expand_pod(lab, path).await?;
        let value = get(lab, &path, kind).await?;
        let name = path.rsplit('/').next().unwrap_or_default();
        if value["metadata"]["name"] == name {
            Ok(())
        } else {
            Err(CourseError::unexpected(
                &format!("GET {path}"),
                format!("the {kind} {name}"),
                value["metadata"]["name"].to_string(),
            ))
        }
    }

    /// `GET path` (the pod log endpoint, the chapter's challenge) returns the log with `text`.
    ///
    /// # Errors
    /// [`CourseError::Unexpected`] with the start of what came back.
    pub async fn expect_log(lab: &mut Lab, path: &str, text: &str) -> Result<(), CourseError> {
        let path = expand_pod(lab, path).await?;
        let reply = super::curl(lab.minikube().runner(), port(lab)?, &path)
            .await
            .map_err(wrap)?;
        if reply.status == Some(200) && reply.body.contains(text) {
            Ok(())
        } else {
            Err(CourseError::unexpected(
                &format!("GET {path}"),
                format!("a log with {text:?}"),
                format!(
                    "status {:?}: {}",
                    reply.status,
                    reply.body.chars().take(400).collect::<String>()
                ),
            ))
        }
    }

    /// Stops the proxy process the scenario started (not every kubectl) and waits until its port
    /// is free again.
    ///
    /// # Errors
    /// [`CourseError`] when it cannot be stopped or the port stays taken.
    pub async fn stop(lab: &mut Lab) -> Result<(), CourseError> {
        let port = port(lab)?;
        let process = lab.take_process(PROXY).ok_or_else(|| {
            CourseError::unexpected("the proxy", "running", "not started or already stopped")
        })?;
        Proxy::from_parts(process, port)
            .stop()
            .await
            .map_err(wrap)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply {
            curl_exit: 0,
            status: Some(status),
            body: body.into(),
            error: String::new(),
        }
    }

    #[test]
    fn a_taken_port_is_replaced_by_a_free_one_with_a_note() {
        let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let (chosen, note) = choose_port(port).unwrap();
        assert_ne!(chosen, port);
        assert!(note.unwrap().contains(&format!("port {port} is taken")));
        drop(held);
        assert_eq!(choose_port(port).unwrap(), (port, None));
    }

    #[test]
    fn replies_are_read_by_kind() {
        let root = reply(
            200,
            r#"{"paths":["/api","/api/v1","/apis","/healthz","/version"]}"#,
        );
        assert_eq!(root_paths(&json_of_kind("/", &root, "").unwrap()).len(), 5);
        let list = reply(
            200,
            r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"5155"},"items":[{"metadata":{"name":"hello-world-56686f7466-db9g5"}}]}"#,
        );
        let v = json_of_kind("/api/v1/pods", &list, "PodList").unwrap();
        assert_eq!(item_names(&v), ["hello-world-56686f7466-db9g5"]);
        let err = json_of_kind("/api/v1/pods", &list, "NodeList")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kind \"PodList\" where NodeList"), "{err}");
        let forbidden = reply(403, r#"{"kind":"Status","reason":"Forbidden"}"#);
        assert!(json_of_kind("/api/v1/nodes", &forbidden, "NodeList").is_err());
    }
}
