//! The minikube CLI front end: `start`, `node list|stop|start`, `ssh`, `ip`, `cp`, `delete`, `profile list`, `status`.

use std::process::ExitCode;

/// Entry point (`labsim main`); not built yet.
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("labsim: minikube is not built yet");
    ExitCode::from(2)
}
