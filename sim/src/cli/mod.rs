//! Node-side command-line tools with the real programs' syntax and output: `kubeadm`, `crictl`,
//! `ctr`, `containerd` (its `--version`), `systemctl`, `journalctl`. `systemctl` and `journalctl` talk to the node agent's systemd
//! and journald over `/run/labsim/agent.sock` (see [`crate::node::proto`]).

pub mod containerd;
pub mod crictl;
pub mod ctr;
pub mod gofmt;
pub mod journalctl;
pub mod kubeadm;
pub mod systemctl;

use std::process::ExitCode;

/// Runs the node-side CLI `program` (`kubeadm`, `crictl`, `ctr`, `containerd`, `systemctl`,
/// `journalctl`).
pub fn main(program: &str, args: Vec<String>) -> ExitCode {
    match program {
        "systemctl" => ExitCode::from(systemctl::main(&args)),
        "journalctl" => ExitCode::from(journalctl::main(&args)),
        "kubeadm" => ExitCode::from(kubeadm::main(&args)),
        "crictl" => ExitCode::from(crictl::main(&args)),
        "ctr" => ExitCode::from(ctr::main(&args)),
        "containerd" => ExitCode::from(containerd::main(&args)),
        _ => {
            eprintln!("labsim: {program} is not built yet");
            ExitCode::from(2)
        }
    }
}

/// The agent socket, or an explanation of why this is not a node.
pub(crate) fn agent_socket(program: &str) -> Result<std::path::PathBuf, String> {
    let sock = std::path::PathBuf::from(crate::paths::node::AGENT_SOCKET);
    if crate::node::NodeInfo::current(program).is_err() || !sock.exists() {
        return Err(format!(
            "{program}: this is labsim's {program}, which works only inside a running labsim node \
             ({} not found): run it there, e.g. `minikube ssh -- sudo {program} …`",
            sock.display()
        ));
    }
    Ok(sock)
}
