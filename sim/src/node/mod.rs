//! A node: its namespaces and mounts (`node-init`, PID 1) and its agent (systemd, journald and the container runtime's host).

use std::process::ExitCode;

/// Entry point (`labsim init_main`); not built yet.
pub fn init_main(_args: Vec<String>) -> ExitCode {
    eprintln!("labsim: node is not built yet");
    ExitCode::from(2)
}

/// Entry point (`labsim agent_main`); not built yet.
pub fn agent_main(_args: Vec<String>) -> ExitCode {
    eprintln!("labsim: node is not built yet");
    ExitCode::from(2)
}
