//! The jumpbox: where the course's `curl <node IP>` runs.
//!
//! The course ("Installing an Ingress controller") cannot reach node IPs from a Mac or Windows
//! host, so it launches `docker run -ti --rm --network=minikube ghcr.io/learnk8s/netshoot:2023.03`
//! and curls the nodes from there. Steps say "from the jumpbox, curl …" and the provider decides
//! what the jumpbox is:
//! - real minikube: that same image, on the profile's Docker network (minikube names the network
//!   after the profile, `pkg/drivers/kic/oci/network_create.go`), started with testcontainers and
//!   removed when the jumpbox is dropped; the curl runs in it with `docker exec` semantics;
//! - labsim: the host itself, since labsim's node IPs are loopback addresses the host reaches
//!   (docs/labsim.md, "Addresses"); curl runs through the runner.
//!
//! Either way the call is recorded in the scenario's transcript.
//!
//! A [`Prober`] repeats one curl from the jumpbox at a fixed interval in the background (the
//! reader's "does the app still answer?" while nodes go down), keeping every answer with its time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use testcontainers::core::ExecCommand;
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, GenericImage, ImageExt as _};

use crate::cleanup::{Container, Registration, Registry};
use crate::runner::{Command, RunError, Runner};
use crate::settings::ProviderKind;
use crate::transcript::{Ending, Record};

/// The course's jumpbox image.
pub const IMAGE: &str = "ghcr.io/learnk8s/netshoot";
/// The tag the course pins.
pub const TAG: &str = "2023.03";
/// How long one curl may take (`--max-time`).
pub const CURL_MAX_TIME: Duration = Duration::from_secs(10);
/// How long pulling and starting the jumpbox may take.
pub const START_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long the Docker daemon may take to answer a ping.
pub const PING_TIMEOUT: Duration = Duration::from_secs(4);

/// Errors of the jumpbox.
#[derive(Debug, thiserror::Error)]
pub enum JumpboxError {
    /// The Docker daemon does not answer (real minikube path only).
    #[error(
        "the jumpbox needs Docker, and the Docker daemon does not answer ({cause}): start Docker (`sudo systemctl start docker`, or Docker Desktop), make sure this user may use it (DOCKER_HOST, the docker group), or run with --provider labsim"
    )]
    DockerUnreachable {
        /// What the client said.
        cause: String,
    },
    /// The container could not be started.
    #[error(
        "cannot start the jumpbox {IMAGE}:{TAG} on Docker network {network:?}: {cause}; the network exists while the minikube profile does (`docker network ls`)"
    )]
    Start {
        /// The Docker network.
        network: String,
        /// The cause.
        cause: String,
    },
    /// Running curl in the container failed at the Docker level.
    #[error("cannot run curl in the jumpbox: {0}")]
    Exec(String),
    /// curl on the host could not be run.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What curl got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// curl's exit code (0, or e.g. 7 "Failed to connect", 28 timeout).
    pub curl_exit: i32,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The response body.
    pub body: String,
    /// What curl printed on stderr (its error message).
    pub error: String,
}

/// The marker between the body and the status that [`curl_argv`] asks curl to print.
const STATUS_MARKER: &str = "\n__K8S_LABS_HTTP_STATUS__";

/// The curl command run from the jumpbox: silent but with errors, bounded, and the status code
/// appended after a marker.
#[must_use]
pub fn curl_argv(target: &str) -> Vec<String> {
    vec![
        "curl".into(),
        "-sS".into(),
        "--max-time".into(),
        CURL_MAX_TIME.as_secs().to_string(),
        "-w".into(),
        format!("{STATUS_MARKER}%{{http_code}}"),
        target.into(),
    ]
}

/// Reads what [`curl_argv`] printed.
#[must_use]
pub fn parse_curl(curl_exit: i32, stdout: &str, stderr: &str) -> HttpReply {
    let (body, status) = match stdout.rsplit_once(STATUS_MARKER) {
        Some((body, code)) => (body.to_string(), code.trim().parse::<u16>().ok()),
        None => (stdout.to_string(), None),
    };
    HttpReply {
        curl_exit,
        // curl prints 000 when no response arrived.
        status: status.filter(|&s| s != 0),
        body,
        error: stderr.trim().to_string(),
    }
}

/// Where the course's jumpbox commands run.
pub enum Jumpbox {
    /// The host (labsim).
    Host {
        /// The scenario's runner.
        runner: Runner,
    },
    /// The course's netshoot container on the profile's network (real minikube).
    Container {
        /// The container (removed when dropped).
        container: Box<ContainerAsync<GenericImage>>,
        /// Its Docker network.
        network: String,
        /// The scenario's runner (for its transcript).
        runner: Runner,
        /// Its entry in the run's registry (removed however the run ends).
        registration: Option<Registration>,
    },
}

impl std::fmt::Debug for Jumpbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Host { .. } => f.write_str("Jumpbox::Host"),
            Self::Container {
                container, network, ..
            } => f
                .debug_struct("Jumpbox::Container")
                .field("id", &container.id())
                .field("network", network)
                .finish(),
        }
    }
}

/// Checks that a Docker daemon answers, the way testcontainers will reach it (DOCKER_HOST, else
/// the default socket).
///
/// # Errors
/// [`JumpboxError::DockerUnreachable`].
pub async fn docker_reachable() -> Result<(), JumpboxError> {
    let unreachable = |cause: String| JumpboxError::DockerUnreachable { cause };
    let docker = testcontainers::bollard::Docker::connect_with_defaults()
        .map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {PING_TIMEOUT:?}"))),
    }
}

impl Jumpbox {
    /// The jumpbox the provider implies: the host for labsim; for real minikube the netshoot
    /// container on the profile's network (started now).
    ///
    /// # Errors
    /// [`JumpboxError`] when Docker is unreachable or the container does not start.
    pub async fn for_provider(
        provider: ProviderKind,
        profile: &str,
        runner: Runner,
        registry: &Registry,
    ) -> Result<Self, JumpboxError> {
        match provider {
            ProviderKind::Labsim => Ok(Self::Host { runner }),
            ProviderKind::Minikube => {
                let mut jumpbox = Self::start_container(profile, runner).await?;
                if let Self::Container {
                    container,
                    runner,
                    registration,
                    ..
                } = &mut jumpbox
                {
                    *registration = Some(registry.register(
                        Container {
                            id: container.id().to_string(),
                            role: "the jumpbox".into(),
                        },
                        runner.transcript(),
                        Vec::new(),
                    ));
                }
                Ok(jumpbox)
            }
        }
    }

    /// Starts the course's netshoot image on Docker network `network`.
    ///
    /// # Errors
    /// [`JumpboxError::DockerUnreachable`] first, else [`JumpboxError::Start`].
    pub async fn start_container(network: &str, runner: Runner) -> Result<Self, JumpboxError> {
        docker_reachable().await?;
        let container = GenericImage::new(IMAGE, TAG)
            // Keeps the container up without a terminal (the course's `-ti` shell); busybox's
            // sleep takes seconds only.
            .with_cmd(["sleep", "2147483647"])
            .with_network(network)
            .with_startup_timeout(START_TIMEOUT)
            .start()
            .await
            .map_err(|e| JumpboxError::Start {
                network: network.to_string(),
                cause: e.to_string(),
            })?;
        Ok(Self::Container {
            container: Box::new(container),
            network: network.to_string(),
            runner,
            registration: None,
        })
    }

    /// The course's `curl <target>` from the jumpbox.
    ///
    /// # Errors
    /// [`JumpboxError`] when curl cannot be run at all; curl's own failures (connection refused,
    /// timeout) are in the reply.
    pub async fn curl(&self, target: &str) -> Result<HttpReply, JumpboxError> {
        let argv = curl_argv(target);
        match self {
            Self::Host { runner } => {
                let cmd = Command::new(argv[0].clone())
                    .args(argv[1..].iter().cloned())
                    .timeout(CURL_MAX_TIME + Duration::from_secs(5))
                    .note("from the jumpbox (labsim: the host reaches node IPs)");
                let output = runner.run(&cmd).await?;
                let code = output.code().unwrap_or(-1);
                Ok(parse_curl(code, &output.stdout, &output.stderr))
            }
            Self::Container {
                container,
                network,
                runner,
                ..
            } => {
                let started = jiff::Timestamp::now();
                let t0 = std::time::Instant::now();
                let exec_error =
                    |e: testcontainers::TestcontainersError| JumpboxError::Exec(e.to_string());
                let mut result = container
                    .exec(ExecCommand::new(argv.clone()))
                    .await
                    .map_err(exec_error)?;
                let stdout =
                    String::from_utf8_lossy(&result.stdout_to_vec().await.map_err(exec_error)?)
                        .into_owned();
                let stderr =
                    String::from_utf8_lossy(&result.stderr_to_vec().await.map_err(exec_error)?)
                        .into_owned();
                let code = result
                    .exit_code()
                    .await
                    .map_err(exec_error)?
                    .and_then(|c| i32::try_from(c).ok())
                    .unwrap_or(-1);
                let mut shown = vec![
                    "docker".to_string(),
                    "exec".to_string(),
                    container.id().to_string(),
                ];
                shown.extend(argv);
                let note = format!("from the jumpbox ({IMAGE}:{TAG} on network {network})");
                runner
                    .transcript()
                    .append(&Record {
                        started,
                        argv: &shown,
                        note: Some(&note),
                        env: &[],
                        background: false,
                        ending: Ending::Exit(code),
                        duration: t0.elapsed(),
                        stdout: &stdout,
                        stderr: &stderr,
                    })
                    .map_err(|e| JumpboxError::Run(RunError::Transcript(e)))?;
                Ok(parse_curl(code, &stdout, &stderr))
            }
        }
    }

    /// Removes the container now (dropping the jumpbox does it too, in the background).
    ///
    /// # Errors
    /// [`JumpboxError::Exec`] when Docker refuses.
    pub async fn stop(self) -> Result<(), JumpboxError> {
        match self {
            Self::Host { .. } => Ok(()),
            Self::Container {
                container,
                registration,
                ..
            } => {
                container
                    .rm()
                    .await
                    .map_err(|e| JumpboxError::Exec(e.to_string()))?;
                if let Some(registration) = registration {
                    registration.report_released("removed");
                }
                Ok(())
            }
        }
    }
}

/// One curl of a [`Prober`]: when it started and what it got (`Err`: curl could not be run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    /// When the curl started.
    pub at: jiff::Timestamp,
    /// What curl got.
    pub reply: Result<HttpReply, String>,
}

/// The course's `curl <target>` from the jumpbox, repeated every `interval` in the background
/// until stopped or dropped (dropping stops it after the curl under way, if any). Each curl is in the scenario's transcript.
pub struct Prober {
    target: String,
    interval: Duration,
    looks: Arc<Mutex<Vec<Look>>>,
    halt: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("target", &self.target)
            .field("interval", &self.interval)
            .field("looks", &self.looks().len())
            .finish()
    }
}

impl Prober {
    /// Starts curling `target` from `jumpbox` now and then every `interval` (a curl that takes
    /// longer delays the next one; none overlap). Must be called inside a tokio runtime.
    #[must_use]
    pub fn start(jumpbox: Arc<Jumpbox>, target: &str, interval: Duration) -> Self {
        let looks = Arc::new(Mutex::new(Vec::new()));
        let (record, url) = (looks.clone(), target.to_string());
        let (halt, mut halted) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = &mut halted => break,
                }
                let at = jiff::Timestamp::now();
                // The container's curl future holds testcontainers' exec streams, which are not
                // `Sync`, so it cannot be spawned: it is driven on a blocking thread instead.
                let (jumpbox, url) = (jumpbox.clone(), url.clone());
                let reply = tokio::task::spawn_blocking(move || {
                    tokio::runtime::Handle::current().block_on(jumpbox.curl(&url))
                })
                .await
                .map_err(|e| format!("the curl task failed: {e}"))
                .and_then(|r| r.map_err(|e| e.to_string()));
                record
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(Look { at, reply });
            }
        });
        Self {
            target: target.to_string(),
            interval,
            looks,
            halt: Some(halt),
            task: Some(task),
        }
    }

    /// What it curls.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// How often.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Every curl so far, oldest first.
    #[must_use]
    pub fn looks(&self) -> Vec<Look> {
        self.looks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops curling (a curl under way finishes first, within curl's `--max-time`) and returns
    /// every curl made; the jumpbox it held is released.
    pub async fn stop(mut self) -> Vec<Look> {
        if let Some(halt) = self.halt.take() {
            let _ = halt.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.looks()
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_replies_in_real_formats() {
        // traefik's answer to an unknown route (404, body "404 page not found\n").
        let r = parse_curl(0, &format!("404 page not found\n{STATUS_MARKER}404"), "");
        assert_eq!(
            (r.status, r.body.as_str(), r.curl_exit),
            (Some(404), "404 page not found\n", 0)
        );
        // podinfo's JSON, no trailing newline.
        let r = parse_curl(
            0,
            &format!("{{\n  \"hostname\": \"hello-1\"\n}}{STATUS_MARKER}200"),
            "",
        );
        assert_eq!(r.status, Some(200));
        assert!(r.body.ends_with('}'));
        // Nothing listens: curl exits 7 and prints 000.
        let r = parse_curl(
            7,
            &format!("{STATUS_MARKER}000"),
            "curl: (7) Failed to connect to 192.168.49.3 port 80 after 0 ms: Couldn't connect to server\n",
        );
        assert_eq!((r.status, r.curl_exit), (None, 7));
        assert!(r.error.starts_with("curl: (7) Failed to connect"));
        // Killed before printing anything.
        assert_eq!(parse_curl(-1, "", "").status, None);
    }

    /// Removes the test's transcript folder, even when the test fails.
    struct TempDir(std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prober_curls_at_its_interval_until_stopped() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let dir =
            TempDir(std::env::temp_dir().join(format!("k8s-labs-prober-{}", std::process::id())));
        let transcript =
            crate::transcript::Transcript::create(&dir.0, crate::redact::Redactor::new()).unwrap();
        let runner = Runner::new(transcript, Vec::new(), Duration::from_secs(20));
        // A podinfo-like server on loopback answering every request.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = conn.read(&mut buf).await;
                    let body = "{\"hostname\": \"hello-world-1\"}";
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        let jumpbox = Arc::new(Jumpbox::Host { runner });
        let prober = Prober::start(
            jumpbox.clone(),
            &format!("http://{addr}/"),
            Duration::from_millis(200),
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let looks = prober.stop().await;
        server.abort();
        // About one curl per 200 ms (none overlap; a slow curl delays the next).
        assert!((3..=7).contains(&looks.len()), "{looks:?}");
        for pair in looks.windows(2) {
            assert!(pair[0].at < pair[1].at);
        }
        for look in &looks {
            let reply = look.reply.as_ref().unwrap();
            assert_eq!((reply.curl_exit, reply.status), (0, Some(200)), "{reply:?}");
            assert!(reply.body.contains("hello-world-1"));
        }
        // Stopped: the jumpbox is released and the transcript has every curl.
        assert_eq!(Arc::strong_count(&jumpbox), 1);
        let text = std::fs::read_to_string(dir.0.join("transcript.txt")).unwrap_or_default();
        assert_eq!(text.matches("curl -sS").count(), looks.len(), "{text}");
    }

    #[test]
    fn the_curl_command_is_bounded_and_reports_the_status() {
        assert_eq!(
            curl_argv("192.168.49.3"),
            [
                "curl",
                "-sS",
                "--max-time",
                "10",
                "-w",
                "\n__K8S_LABS_HTTP_STATUS__%{http_code}",
                "192.168.49.3"
            ]
        );
    }
}
