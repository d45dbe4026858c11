//! `kube-apiserver`: a Kubernetes-API-compatible server storing objects in etcd.

use std::process::ExitCode;

/// Entry point (`labsim main`); not built yet.
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("labsim: apiserver is not built yet");
    ExitCode::from(2)
}
