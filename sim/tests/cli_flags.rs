//! labsim's node-side CLIs and components refuse flags they do not have as the real programs do:
//! the same message on the same stream, and a non-zero exit (minikube's own are in `cli.rs`).
//! Real tools' texts: kubeadm (cobra with SilenceErrors, then its CheckErr and the stack-trace
//! hint), crictl (urfave/cli's flag error through logrus' fatal), ctr (Go's flag package,
//! `ctr: …`), systemctl and journalctl (getopt's `unrecognized option`), the kubelet
//! (`"command failed"` klog line), kube-controller-manager and kube-scheduler (cobra's usage and
//! `Error: unknown flag`). labsim does not print urfave/cli's "Incorrect Usage" banner and help
//! listing on stdout (see docs/labsim.md).

mod common;

use common::{Lab, run};

const PROFILE: &str = "flags";

#[test]
fn unknown_flags_are_refused_as_the_real_programs_refuse_them() {
    let lab = Lab::new("flags");
    lab.start(PROFILE, 1);
    let logrus =
        regex::Regex::new(r#"^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=fatal msg="(.*)"$"#)
            .unwrap();
    let klog =
        regex::Regex::new(r#"^E\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ run\.go:72\] (.*)$"#).unwrap();
    let cases: Vec<(&str, &str)> = vec![
        (
            "sudo kubeadm --bogus",
            "unknown flag: --bogus\nTo see the stack trace of this error execute with --v=5 or higher",
        ),
        (
            "sudo kubeadm init --bogus",
            "unknown flag: --bogus\nTo see the stack trace of this error execute with --v=5 or higher",
        ),
        (
            "sudo kubeadm token list --bogus",
            "unknown flag: --bogus\nTo see the stack trace of this error execute with --v=5 or higher",
        ),
        (
            "sudo kubeadm int",
            "unknown command \"int\" for \"kubeadm\"\n\nDid you mean this?\n\tinit\n\nTo see the stack trace of this error execute with --v=5 or higher",
        ),
        (
            "sudo crictl --bogus",
            "logrus: flag provided but not defined: -bogus",
        ),
        (
            "sudo crictl ps --bogus",
            "logrus: flag provided but not defined: -bogus",
        ),
        (
            "sudo crictl ps -z",
            "logrus: flag provided but not defined: -z",
        ),
        (
            "sudo ctr --bogus",
            "ctr: flag provided but not defined: -bogus",
        ),
        (
            "sudo ctr -n k8s.io containers list --bogus",
            "ctr: flag provided but not defined: -bogus",
        ),
        (
            "sudo ctr -n k8s.io tasks ls -x",
            "ctr: flag provided but not defined: -x",
        ),
        (
            "sudo systemctl --bogus",
            "systemctl: unrecognized option '--bogus'",
        ),
        (
            "sudo systemctl status --bogus kubelet",
            "systemctl: unrecognized option '--bogus'",
        ),
        (
            "sudo journalctl --bogus",
            "journalctl: unrecognized option '--bogus'",
        ),
        (
            "sudo kubelet --bogus",
            "klog: \"command failed\" err=\"failed to parse kubelet flag: unknown flag: --bogus\"",
        ),
    ];
    let mut failures = vec![];
    for (cmd, want) in cases {
        let out = lab.sh(PROFILE, PROFILE, &format!("{cmd}; echo EXIT=$?"));
        let (text, exit) = out
            .trim_end()
            .rsplit_once('\n')
            .unwrap_or(("", out.trim_end()));
        let shown = if let Some(msg) = want.strip_prefix("logrus: ") {
            logrus
                .captures(text)
                .map(|c| c[1].to_string())
                .filter(|m| m == msg)
                .map(|_| want.to_string())
                .unwrap_or_else(|| text.to_string())
        } else if want.starts_with("klog: ") {
            klog.captures(text)
                .map(|c| format!("klog: {}", &c[1]))
                .unwrap_or_else(|| text.to_string())
        } else {
            text.to_string()
        };
        if shown != want || exit != "EXIT=1" {
            failures.push(format!("{cmd}:\n{out}\nwant:\n{want}\nEXIT=1"));
        }
    }
    for component in [
        "kube-controller-manager",
        "kube-scheduler",
        "kube-apiserver",
    ] {
        let o =
            run(std::process::Command::new(env!("CARGO_BIN_EXE_labsim"))
                .args([component, "--bogus"]));
        if o.code != 1 || o.stderr.lines().last() != Some("Error: unknown flag: --bogus") {
            failures.push(format!("{component} --bogus: {}", o.transcript()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
