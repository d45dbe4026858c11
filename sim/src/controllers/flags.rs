//! Command lines of kube-controller-manager and kube-scheduler, parsed as pflag/cobra do:
//! `--name=value`, `--name value`, booleans as `--name` or `--name=false`, `_` normalised to `-`
//! (component-base `WordSepNormalizeFunc`); an unknown flag is an error (`Error: unknown flag: --x`,
//! exit 1). Which flags exist depends on the component and on the Kubernetes minor (e.g.
//! `--pod-eviction-timeout` was removed from kube-controller-manager in 1.27).
//!
//! The parsing is [`crate::gocli`]'s; durations are Go's (`crate::cli::gofmt::parse_go_duration`).

use crate::gocli::{self, FlagDef, Pflag};
pub use crate::gocli::{FlagError, Flags};

/// The flags one component accepts.
#[derive(Debug, Clone)]
pub struct FlagSet {
    /// The command name, for messages (`kube-controller-manager`).
    pub program: &'static str,
    /// Boolean flags.
    pub bools: Vec<&'static str>,
    /// Flags that take a value.
    pub values: Vec<&'static str>,
}

impl FlagSet {
    fn defs(&self) -> Vec<FlagDef> {
        gocli::defs_from_names(&self.bools, &self.values)
    }

    /// The usage text cobra prints before a flag error (component-base/cli/run.go re-enables usage
    /// for flag errors, then prints `Error: …`). labsim lists the flag names without help texts.
    pub fn usage(&self) -> String {
        gocli::names_usage(self.program, &self.defs())
    }

    /// Parses the arguments after the program name.
    ///
    /// # Errors
    /// [`FlagError`] as pflag would report it; positional arguments as cobra's `Args` check of the
    /// components (cmd/kube-controller-manager/app/controllermanager.go) reports them.
    pub fn parse(&self, args: &[String]) -> Result<Flags, FlagError> {
        let defs = self.defs();
        let p = Pflag::KUBERNETES.parse(&defs, args)?;
        p.no_args(self.program)?;
        Ok(Flags::from_parsed(&p, &defs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn set() -> FlagSet {
        FlagSet {
            program: "kube-controller-manager",
            bools: vec!["leader-elect", "allocate-node-cidrs"],
            values: vec!["kubeconfig", "node-monitor-grace-period", "v"],
        }
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_like_pflag() {
        let f = set()
            .parse(&args(
                "--kubeconfig /etc/kubernetes/controller-manager.conf --leader-elect=true --allocate_node_cidrs --node-monitor-grace-period=20s -v=2",
            ))
            .unwrap();
        assert_eq!(
            f.get("kubeconfig"),
            Some("/etc/kubernetes/controller-manager.conf")
        );
        assert!(f.bool("leader-elect", false));
        assert!(f.bool("allocate-node-cidrs", false));
        assert_eq!(
            f.duration("node-monitor-grace-period", Duration::ZERO)
                .unwrap(),
            Duration::from_secs(20)
        );
        assert_eq!(f.get("v"), Some("2"));
    }

    #[test]
    fn errors_are_worded_as_pflag_and_cobra() {
        assert_eq!(
            set()
                .parse(&args("--pod-eviction-timeout=5m0s"))
                .unwrap_err()
                .to_string(),
            "unknown flag: --pod-eviction-timeout"
        );
        assert_eq!(
            set().parse(&args("--kubeconfig")).unwrap_err().to_string(),
            "flag needs an argument: --kubeconfig"
        );
        assert_eq!(
            set().parse(&args("run")).unwrap_err().to_string(),
            "\"kube-controller-manager\" does not take any arguments, got [\"run\"]"
        );
        assert!(matches!(
            set().parse(&args("--leader-elect=yes")),
            Err(FlagError::BadValue { .. })
        ));
        let f = set()
            .parse(&args("--node-monitor-grace-period=40"))
            .unwrap();
        assert_eq!(
            f.duration("node-monitor-grace-period", Duration::ZERO)
                .unwrap_err()
                .to_string(),
            "invalid argument \"40\" for \"--node-monitor-grace-period\" flag: time: missing unit in duration \"40\""
        );
    }
}
