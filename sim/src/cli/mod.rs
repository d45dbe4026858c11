//! Node-side command-line tools with the real programs' syntax and output: `kubeadm`, `crictl`,
//! `ctr`, `systemctl`, `journalctl`.

use std::process::ExitCode;

/// Runs the node-side CLI `program` (`kubeadm`, `crictl`, `ctr`, `systemctl`, `journalctl`).
pub fn main(program: &str, _args: Vec<String>) -> ExitCode {
    eprintln!("labsim: {program} is not built yet");
    ExitCode::from(2)
}
