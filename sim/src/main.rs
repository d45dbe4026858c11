//! The `labsim` binary: dispatches on the name it was invoked under (`minikube`, `kubeadm`, `crictl`,
//! `ctr`, `containerd`, `systemctl`, `journalctl`, `kubelet`, `sshd`; the node's `/opt/labsim/bin` holds such
//! symlinks) or on its first argument (`labsim <component> …`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let invoked = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("labsim")
        .to_string();
    let program = if invoked == "labsim" {
        if args.len() < 2 {
            eprintln!("{}", USAGE);
            return ExitCode::from(2);
        }
        args.remove(0);
        args[0].clone()
    } else {
        invoked
    };
    let rest: Vec<String> = args.into_iter().skip(1).collect();
    match program.as_str() {
        "--help" | "-h" | "help" => {
            println!("{}", USAGE);
            ExitCode::SUCCESS
        }
        "minikube" => labsim::minikube::main(rest),
        "kubeadm" | "crictl" | "ctr" | "containerd" | "systemctl" | "journalctl" => {
            labsim::cli::main(&program, rest)
        }
        "node-init" => labsim::node::init_main(rest),
        "node-agent" => labsim::node::agent_main(rest),
        "sshd" => labsim::node::sshd_main(rest),
        "kubelet" => labsim::kubelet::main(rest),
        "kube-apiserver" => labsim::apiserver::main(rest),
        "kube-controller-manager" => labsim::controllers::main(rest),
        "kube-scheduler" => labsim::scheduler::main(rest),
        "image" => labsim::images::main(rest),
        "fault" => labsim::faults::main(rest),
        "audit" => labsim::eventlog::main(rest),
        other => {
            eprintln!("labsim: unknown program {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

const USAGE: &str = "usage: labsim <program> [args…]
programs: minikube, kubeadm, crictl, ctr, containerd, systemctl, journalctl (also by argv[0]),
          node-init, node-agent, sshd, kubelet, kube-apiserver, kube-controller-manager, kube-scheduler,
          image run (a container, from the LABSIM_* environment), image <program> [args…],
          fault (inject a fault into a profile), audit (a profile's event log)";
