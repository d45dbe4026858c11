//! The programs that container images run on labsim (pause, podinfo, flannel, traefik, coredns, kube-proxy).

use std::process::ExitCode;

/// Entry point (`labsim main`); not built yet.
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("labsim: images is not built yet");
    ExitCode::from(2)
}
