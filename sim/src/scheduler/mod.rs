//! `kube-scheduler`: binds pending pods to nodes with the default plugins' rules.

use std::process::ExitCode;

/// Entry point (`labsim main`); not built yet.
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("labsim: scheduler is not built yet");
    ExitCode::from(2)
}
