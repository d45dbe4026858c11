//! `kube-apiserver`: a Kubernetes-API-compatible server storing objects in etcd.
//!
//! `labsim kube-apiserver <kube-apiserver flags>` takes the flags kubeadm's static pod manifest gives
//! the real one ([`flags`]), reports the version of `$LABSIM_KUBERNETES_VERSION` (default
//! [`crate::version::DEFAULT_MINOR`]), serves HTTPS (HTTP/1.1 only) with optional client
//! certificates, and stores objects as JSON in etcd under Kubernetes' key layout ([`store`]).
//!
//! Module map, mirroring kube-apiserver's layout:
//! - [`server`]: configuration, listener, routing; [`http`]: responses and content negotiation;
//! - [`auth`]: authentication (certificates, bootstrap tokens, service-account JWTs) and the
//!   anonymous-only RBAC check (authenticated users may do everything: RBAC objects are stored but not
//!   enforced for them);
//! - [`rest`]: the verbs and subresources; [`watch`]: watches; [`store`]: etcd storage;
//! - [`defaults`]: defaulting, validation, admission; [`services`]: ClusterIP/NodePort allocation;
//! - [`patch`]: JSON/merge/strategic-merge patches; [`apply`]: server-side apply and managedFields;
//! - [`tables`]: `kubectl get` tables; [`discovery`]: `/`, `/version`, health, discovery, OpenAPI;
//! - [`logs`]: the kubelet log proxy and TokenRequest; [`bootstrap`]: objects made at start;
//! - [`audit`]: the audit policy, the audit log (`--audit-log-path`) and reading it back;
//! - [`selectors`], [`meta`], [`resources`], [`status`]: shared vocabulary.

pub mod apply;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod defaults;
pub mod discovery;
pub mod flags;
pub mod gojson;
pub mod http;
pub mod logs;
pub mod meta;
pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod rest;
pub mod selectors;
pub mod server;
pub mod services;
pub mod status;
pub mod store;
pub mod tables;
pub mod watch;

use std::process::ExitCode;
use std::sync::Arc;

/// Entry point of `labsim kube-apiserver …`.
pub fn main(args: Vec<String>) -> ExitCode {
    let flags = match flags::parse(&args) {
        Ok(f) => f,
        Err(flags::FlagError::Help) => flags::Flags {
            values: [("help".to_string(), "true".to_string())].into(),
        },
        Err(e) => {
            // cobra prints the usage for flag errors, then component-base prints the error; exit 1.
            eprintln!("{}", flags::usage());
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    if flags.bool("help", false) {
        println!(
            "The Kubernetes API server validates and configures data for the api objects (labsim).\n\nUsage:\n  kube-apiserver [flags]"
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let api = match server::Api::from_flags(flags) {
            Ok(a) => Arc::new(a),
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::from(1);
            }
        };
        tokio::select! {
            r = server::run(api) => match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("Error: {e}");
                    ExitCode::from(1)
                }
            },
            _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
            _ = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => { s.recv().await; }
                    Err(_) => std::future::pending::<()>().await,
                }
            } => ExitCode::SUCCESS,
        }
    })
}

/// An API server running in this process on its own thread and runtime (for tests of labsim's
/// components). Stopping it drops the runtime, so every connection and watch ends as if the process
/// had gone away.
#[derive(Debug)]
pub struct ServerThread {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    /// Starts `kube-apiserver` with `args` (as on the command line) and returns once it listens.
    ///
    /// # Errors
    /// The flag or start-up error, as text.
    pub fn start(args: Vec<String>) -> Result<ServerThread, String> {
        let flags = flags::parse(&args).map_err(|e| e.to_string())?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let api = match server::Api::from_flags(flags) {
                    Ok(a) => Arc::new(a),
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let addr = api.listen_addr();
                let server = tokio::spawn(server::run(api));
                // Ready once the port accepts connections (bootstrap objects are made before serving).
                let started = std::time::Instant::now();
                loop {
                    if tokio::net::TcpStream::connect(addr).await.is_ok() {
                        let _ = ready_tx.send(Ok(()));
                        break;
                    }
                    if server.is_finished()
                        || started.elapsed() > std::time::Duration::from_secs(20)
                    {
                        let msg = match server.await {
                            Ok(Err(e)) => e.to_string(),
                            _ => format!("the API server did not listen on {addr} within 20 s"),
                        };
                        let _ = ready_tx.send(Err(msg));
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                let _ = stop_rx.await;
                server.abort();
            });
            rt.shutdown_background();
        });
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(ServerThread {
                shutdown: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err("the API server thread ended before it was ready".into()),
        }
    }

    /// Stops the server and waits for its thread.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        self.stop();
    }
}
