//! `kube-controller-manager`: the controllers (deployment, replicaset, daemonset, endpoints, garbage collector, node IPAM, node lifecycle, CSR signing, bootstrap signer).

use std::process::ExitCode;

/// Entry point (`labsim main`); not built yet.
pub fn main(_args: Vec<String>) -> ExitCode {
    eprintln!("labsim: controllers is not built yet");
    ExitCode::from(2)
}
