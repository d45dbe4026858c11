//! `containerd` on a node: the daemon's command line as far as labsim has one. The node's
//! container runtime is not a process of its own on labsim: it runs inside the node agent and
//! appears as `containerd.service` (docs/labsim.md, "Processes of a node"). This program answers
//! what scripts ask the binary: `containerd --version` (`-v`) prints containerd's version line
//! (`cmd/containerd/command/main.go`: `<name> <package> <version> <revision>`); starting a second
//! daemon by hand is refused with an explanation.

use crate::runtime::{CONTAINERD_PACKAGE, CONTAINERD_REVISION, CONTAINERD_VERSION};

/// The version line, as `containerd --version` prints it.
pub fn version_line() -> String {
    format!("containerd {CONTAINERD_PACKAGE} {CONTAINERD_VERSION} {CONTAINERD_REVISION}")
}

/// What labsim's `containerd` prints for `args` (after the program name): stdout, stderr, exit
/// code.
pub fn run(args: &[String]) -> (String, String, u8) {
    match args.first().map(String::as_str) {
        Some("--version" | "-v") => (format!("{}\n", version_line()), String::new(), 0),
        Some("--help" | "-h") => (
            format!(
                "NAME:\n   containerd - labsim's stand-in for containerd {CONTAINERD_VERSION}\n\n\
                 USAGE:\n   containerd --version\n\n\
                 The node's container runtime runs inside the labsim node agent as containerd.service:\n\
                 use `systemctl status containerd`, `journalctl -u containerd`, crictl and ctr.\n"
            ),
            String::new(),
            0,
        ),
        _ => (
            String::new(),
            "containerd: labsim runs this node's container runtime inside the node agent \
             (containerd.service, already running); this containerd only answers --version: \
             use `systemctl status containerd`, crictl or ctr (docs/labsim.md, \"Processes of a node\")\n"
                .to_string(),
            1,
        ),
    }
}

/// Entry point: `containerd …` (argv without the program name).
pub fn main(args: &[String]) -> u8 {
    let (out, err, code) = run(args);
    print!("{out}");
    eprint!("{err}");
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_version_as_containerd_does() {
        let (out, err, code) = run(&["--version".to_string()]);
        assert_eq!(
            (out.as_str(), err.as_str(), code),
            (
                "containerd github.com/containerd/containerd/v2 v2.2.0 1c4457e00facac03ce1d75f7b6777a7a851e5c41\n",
                "",
                0
            )
        );
        assert_eq!(run(&["-v".to_string()]).0, out);
        let (out, err, code) = run(&[]);
        assert_eq!((out.as_str(), code), ("", 1));
        assert!(err.contains("inside the node agent"), "{err}");
    }
}
