//! A cluster built on labsim nodes with the course's own steps (chapter 2): `master.sh` and
//! `kubeadm init --config config.yaml` on the primary node, the three kubeconfig lines and
//! `kubectl apply -f flannel.yaml`, then `worker.sh`, the printed `kubeadm join …` and
//! `systemctl enable kubelet` on each worker; the host gets the kubeconfig with `cat
//! $HOME/.kube/config`. Timing profile `fast` (node grace 10 s, tolerations 20 s). Everything is
//! removed by [`Lab`]'s drop.

use std::path::PathBuf;
use std::process::Command;

use super::nodes::{Lab, Out, run};

/// A running course cluster.
pub struct CourseCluster {
    /// The labsim world (dropped last).
    pub lab: Lab,
    /// The profile.
    pub profile: String,
    /// The primary node's name.
    pub primary: String,
    /// The workers' names.
    pub workers: Vec<String>,
    /// The exported kubeconfig.
    pub kubeconfig: PathBuf,
}

fn script(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../fixtures/scripts/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

impl CourseCluster {
    /// Builds a cluster of `1 + workers` nodes; `env` goes to `minikube start` (e.g.
    /// `LABSIM_EVENT_LOG=1`). Panics, with what failed, when a step fails.
    pub fn build(tag: &str, profile: &str, workers: usize, env: &[(&str, &str)]) -> CourseCluster {
        let lab = Lab::new(tag);
        let n = (workers + 1).to_string();
        let o = lab.minikube_env(
            &["start", "--no-kubernetes", "--nodes", &n, "-p", profile],
            env,
        );
        assert_eq!(o.code, 0, "start: {}", o.transcript());
        let primary = profile.to_string();
        let workers: Vec<String> = (2..=workers + 1)
            .map(|i| format!("{profile}-m{i:02}"))
            .collect();
        let dir = lab.dir.clone();
        let copy = |node: &str, name: &str| {
            let src = dir.join(name);
            std::fs::write(&src, script(name)).unwrap();
            let o = lab.minikube(&[
                "cp",
                "-p",
                profile,
                src.to_str().unwrap(),
                &format!("{node}:/home/docker/{name}"),
            ]);
            assert_eq!(o.code, 0, "cp {name}: {}", o.transcript());
        };
        copy(&primary, "master.sh");
        lab.sh(
            profile,
            &primary,
            "sudo KUBERNETES_VERSION=1.33 TIMING_PROFILE=fast bash master.sh auto",
        );
        let init = lab.sh(profile, &primary, "sudo kubeadm init --config config.yaml");
        let join: String = init
            .lines()
            .skip_while(|l| !l.starts_with("kubeadm join "))
            .take(2)
            .map(|l| l.trim_end_matches('\\').trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(join.contains("--discovery-token-ca-cert-hash"), "{init}");
        lab.sh(
            profile,
            &primary,
            "mkdir -p $HOME/.kube && sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config && sudo chown $(id -u):$(id -g) $HOME/.kube/config && kubectl apply -f flannel.yaml",
        );
        for w in &workers {
            copy(w, "worker.sh");
            lab.sh(
                profile,
                w,
                "sudo KUBERNETES_VERSION=1.33 TIMING_PROFILE=fast bash worker.sh auto",
            );
            lab.sh(profile, w, &format!("sudo {join}"));
            lab.sh(profile, w, "sudo systemctl enable kubelet");
        }
        let kubeconfig = lab.dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            lab.sh(profile, &primary, "cat $HOME/.kube/config"),
        )
        .unwrap();
        let c = CourseCluster {
            lab,
            profile: profile.to_string(),
            primary,
            workers,
            kubeconfig,
        };
        let all = 1 + c.workers.len();
        assert!(
            super::eventually(90, || {
                let o = c.kubectl(&["get", "nodes", "--no-headers"]);
                o.code == 0
                    && o.stdout
                        .lines()
                        .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
                        .count()
                        == all
            }),
            "nodes not Ready: {}",
            c.kubectl(&["get", "nodes"]).transcript()
        );
        c
    }

    /// Runs the real kubectl (the dispatcher) on the host with the exported kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Out {
        run(Command::new("/usr/bin/kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.lab.dir.join("kube-cache"))
            .env("HOME", &self.lab.dir))
    }

    /// kubectl, asserting success; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert_eq!(o.code, 0, "kubectl {args:?}: {}", o.transcript());
        o.stdout
    }

    /// `labsim <args>` on the host with this world's `$LABSIM_HOME`.
    pub fn labsim(&self, args: &[&str]) -> Out {
        run(Command::new(env!("CARGO_BIN_EXE_labsim"))
            .args(args)
            .env("LABSIM_HOME", &self.lab.home))
    }
}
