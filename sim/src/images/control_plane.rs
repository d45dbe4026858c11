//! The control-plane images (`registry.k8s.io/kube-apiserver|kube-controller-manager|
//! kube-scheduler:vX.Y.Z`): exec `labsim <component>` with the manifest's argv, under the
//! component's own name (so `ps` and `crictl` show `kube-apiserver …`), and
//! `LABSIM_KUBERNETES_VERSION` set from the image tag, which decides the version the component
//! behaves as.

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use super::catalog::{Component, ImageSpec};

/// Execs the component (never returns on success).
pub fn main(component: Component, argv: &[String], image: &ImageSpec) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "labsim: cannot find the labsim binary to run {}: {e}",
                component.name()
            );
            return ExitCode::from(1);
        }
    };
    let mut cmd = Command::new(&exe);
    cmd.arg0(component.name())
        .args(argv.get(1..).unwrap_or_default());
    if let Some(tag) = &image.reference.tag {
        cmd.env("LABSIM_KUBERNETES_VERSION", tag);
    }
    let err = cmd.exec();
    eprintln!(
        "labsim: cannot exec {} ({}): {err}",
        component.name(),
        exe.display()
    );
    ExitCode::from(1)
}
