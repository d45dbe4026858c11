//! The kubelet: registers the node, heartbeats, runs static and bound pods through the runtime.

use std::process::ExitCode;

/// Entry point (`labsim main`); not built yet.
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("labsim: kubelet is not built yet");
    ExitCode::from(2)
}
