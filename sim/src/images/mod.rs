//! The programs that container images run on labsim (docs/labsim.md, "Containers and images").
//!
//! The runtime starts every container as `labsim image run` with the `LABSIM_*` environment of
//! [`contract`]; `run` looks the image up in the [`catalog`], finds which of the image's
//! executables the argv starts (as runc would) and runs the labsim program that plays it:
//! [`pause`], [`podinfo`], [`flannel`], [`traefik`], [`coredns`], [`kube_proxy`], [`etcd`], the
//! control-plane components ([`control_plane`]) and BusyBox `cp` ([`busybox`]).
//!
//! `labsim image <program> [args…]` runs one program directly with the same environment minus
//! `LABSIM_IMAGE`/`LABSIM_ARGV` (the image defaults to the one the course uses), for trying a
//! program by hand. `labsim image etcd-metrics …` is the front the etcd image starts for its
//! metrics URL ([`etcd_metrics`]).

pub mod busybox;
pub mod catalog;
pub mod contract;
pub mod control_plane;
pub mod coredns;
pub mod etcd;
pub mod etcd_metrics;
pub mod flannel;
pub mod http;
pub mod kube_proxy;
pub mod log;
pub mod pause;
pub mod podinfo;
pub mod traefik;

use std::process::ExitCode;

use catalog::{ImageSpec, Program};
use contract::ContainerEnv;

const USAGE: &str = "usage: labsim image run                 (the environment of docs/labsim.md, \"Containers and images\")
       labsim image <program> [args…]  (pause, podinfo, flanneld, flannel-cni-plugin, traefik, coredns,
                                        kube-proxy, etcd, kube-apiserver, kube-controller-manager,
                                        kube-scheduler, cp)";

/// Entry point of `labsim image …`.
pub fn main(args: Vec<String>) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("run") => run_from_env(),
        Some(etcd_metrics::PROGRAM) => etcd_metrics::main(&args),
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(name) => run_named(name, &args),
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run_from_env() -> ExitCode {
    let env = match ContainerEnv::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("labsim image run: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(image) = catalog::lookup(&env.image) else {
        eprintln!(
            "labsim image run: image {:?} is not in labsim's catalogue (sim/src/images/catalog.rs): the runtime should have refused to pull it",
            env.image
        );
        return ExitCode::from(2);
    };
    let program = match image.resolve(&env.argv) {
        Ok(p) => p,
        Err(e) => {
            // What runc reports; containerd then marks the container StartError with exit 128.
            eprintln!("{}", e.runc_message());
            return ExitCode::from(128);
        }
    };
    let argv = env.argv.clone();
    dispatch(program, &argv, &env, &image)
}

/// The program a name stands for and the image it comes from by default.
fn named(name: &str) -> Option<(Program, &'static str)> {
    Some(match name {
        "pause" => (Program::Pause, "registry.k8s.io/pause:3.10"),
        "podinfo" => (Program::Podinfo, "ghcr.io/learnk8s/podinfo:2023.03"),
        "cp" => (Program::Cp, "ghcr.io/flannel-io/flannel:v0.26.7"),
        "traefik" => (Program::Traefik, "docker.io/library/traefik:v3.3.4"),
        "coredns" => (Program::CoreDns, "registry.k8s.io/coredns/coredns:v1.12.0"),
        "kube-proxy" => (Program::KubeProxy, "registry.k8s.io/kube-proxy:v1.33.7"),
        "etcd" => (Program::Etcd, "registry.k8s.io/etcd:3.5.21-0"),
        "kube-apiserver" => (
            Program::ControlPlane(catalog::Component::ApiServer),
            "registry.k8s.io/kube-apiserver:v1.33.7",
        ),
        "kube-controller-manager" => (
            Program::ControlPlane(catalog::Component::ControllerManager),
            "registry.k8s.io/kube-controller-manager:v1.33.7",
        ),
        "kube-scheduler" => (
            Program::ControlPlane(catalog::Component::Scheduler),
            "registry.k8s.io/kube-scheduler:v1.33.7",
        ),
        "flanneld" => (Program::Flanneld, "ghcr.io/flannel-io/flannel:v0.26.7"),
        "flannel-cni-plugin" => (
            Program::FlannelCniPlugin,
            "ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1",
        ),
        _ => return None,
    })
}

fn run_named(name: &str, args: &[String]) -> ExitCode {
    let Some((program, default_image)) = named(name) else {
        eprintln!("labsim image: unknown program {name:?}\n{USAGE}");
        return ExitCode::from(2);
    };
    let mut env = match ContainerEnv::from_env_without_argv() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("labsim image {name}: {e}");
            return ExitCode::from(2);
        }
    };
    if env.image.is_empty() {
        env.image = default_image.to_string();
    }
    let Some(image) = catalog::lookup(&env.image) else {
        eprintln!(
            "labsim image {name}: image {:?} is not in labsim's catalogue",
            env.image
        );
        return ExitCode::from(2);
    };
    env.argv = args.to_vec();
    dispatch(program, args, &env, &image)
}

fn dispatch(program: Program, argv: &[String], env: &ContainerEnv, image: &ImageSpec) -> ExitCode {
    match program {
        Program::Pause => pause::main(argv, &image.version()),
        Program::Podinfo => podinfo::main(argv, env, image),
        Program::Cp => busybox::cp(argv, &env.mounts, image),
        Program::Flanneld => flannel::main(argv, env, image),
        Program::Traefik => traefik::main(argv, env, image),
        Program::TraefikEntrypoint => traefik::entrypoint(argv, env, image),
        Program::FlannelCniPlugin => cni_plugin(image),
        Program::Unsupported(name) => {
            eprintln!(
                "labsim: {name} of image {} is not implemented on labsim (see docs/labsim.md, \"Containers and images\")",
                image.reference
            );
            ExitCode::from(127)
        }
        Program::CoreDns => coredns::main(argv, env, image),
        Program::KubeProxy => kube_proxy::main(argv, env, image),
        Program::Etcd => etcd::main(argv, env),
        Program::ControlPlane(c) => control_plane::main(c, argv, image),
    }
}

/// The flannel CNI plugin run directly: what the plugin file installed on the node says.
fn cni_plugin(image: &ImageSpec) -> ExitCode {
    let script = image
        .file("/flannel")
        .map(|f| String::from_utf8_lossy(&f.content).into_owned())
        .unwrap_or_default();
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .status();
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("labsim: cannot run /bin/sh for the flannel CNI plugin stand-in: {e}");
            ExitCode::from(1)
        }
    }
}
