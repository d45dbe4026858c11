//! The provider: the minikube CLI. There is one implementation; labsim answers the same CLI, so
//! "which provider" is only "which `minikube` binary".
//!
//! minikube's behaviour that shapes this module (minikube `cmd/minikube/cmd/ssh.go`,
//! `pkg/minikube/machine/ssh.go`, `pkg/libmachine/ssh/client.go`; summarised in the design notes
//! K8S-FACTS.md and CLI-REFERENCE.md):
//! - `minikube ssh -- ARGS` joins ARGS with spaces and the node's shell parses the result, so the
//!   whole script is passed as ONE argument, already quoted for that shell;
//! - a PTY is always requested: output comes back with CRLF line ends, stderr merged into stdout;
//! - a non-zero remote exit prints `ssh: Process exited with status N` and minikube exits 1, so
//!   the script is wrapped to print a per-call sentinel with `$?` and the wrapper exits 0;
//! - minikube's own errors carry no sentinel: unknown node (exit 85), stopped node (`ssh: "x" is
//!   not running`, exit 1), stopped control plane (exit 83), missing profile (exit 85).

use std::hash::{BuildHasher as _, Hasher as _};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use regex::Regex;

use crate::runner::{Command, Output, RunError, Runner};
use crate::transcript::{Ending, shell_quote};

/// kubeadm preflight checks that cannot pass inside minikube's docker (kic) nodes, which minikube's
/// own bootstrap skips too (minikube `pkg/minikube/bootstrapper/kubeadm/kubeadm.go`: SystemVerification
/// because the kernel modules belong to the host, the bridge-nf-call-iptables file because
/// `/proc/sys/net/bridge` is absent in the container). A hand-run `kubeadm init` or `join` on such a
/// node needs them (`--ignore-preflight-errors=` or `nodeRegistration.ignorePreflightErrors`).
pub const KIC_PREFLIGHT_IGNORES: &[&str] = &[
    "SystemVerification",
    "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
];

/// The `kubeadm` flag that skips [`KIC_PREFLIGHT_IGNORES`], for the course's `kubeadm join`.
#[must_use]
pub fn kic_ignore_preflight_flag() -> String {
    format!(
        "--ignore-preflight-errors={}",
        KIC_PREFLIGHT_IGNORES.join(",")
    )
}

/// Errors from the minikube CLI.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The process could not be run (not found, timed out, …).
    #[error(transparent)]
    Run(#[from] RunError),
    /// The harness built a command line real minikube would refuse (checked before running it,
    /// on labsim too, which may be more lenient).
    #[error(
        "the harness built a minikube command real minikube would refuse: {0}; this is a bug in the harness"
    )]
    Invocation(#[from] crate::minikube_cli::CliViolation),
    /// The profile does not exist.
    #[error(
        "minikube profile {profile:?} does not exist: start it first (`minikube start -p {profile}`)"
    )]
    ProfileNotFound {
        /// The profile.
        profile: String,
    },
    /// The node is not part of the profile.
    #[error(
        "node {node:?} does not exist in minikube profile {profile:?}: `minikube node list -p {profile}` shows its nodes"
    )]
    NodeNotFound {
        /// The profile.
        profile: String,
        /// The node as asked for.
        node: String,
    },
    /// The node exists but is stopped.
    #[error(
        "node {node:?} of minikube profile {profile:?} is not running: start it with `minikube node start -p {profile} {node}`"
    )]
    NodeNotRunning {
        /// The profile.
        profile: String,
        /// The node.
        node: String,
    },
    /// The profile's primary (control-plane) node is stopped, so minikube refuses the command.
    #[error(
        "the primary node of minikube profile {profile:?} is not running: start it with `minikube node start -p {profile} {profile}`"
    )]
    PrimaryNotRunning {
        /// The profile.
        profile: String,
    },
    /// The node's shell failed before the wrapped script could report (e.g. no `bash` there).
    #[error(
        "the shell on node {node:?} failed before running the script (remote status {status}); it printed:\n{output}"
    )]
    RemoteShell {
        /// The node.
        node: String,
        /// The remote status minikube reported.
        status: i32,
        /// What was printed (redacted).
        output: String,
    },
    /// A minikube command failed for a reason not recognised above.
    #[error("`{command}` failed ({ending}); it printed:\n{output}")]
    Failed {
        /// The command (redacted).
        command: String,
        /// How it ended.
        ending: Ending,
        /// What was printed (redacted).
        output: String,
    },
    /// Output that should have a known shape did not.
    #[error("cannot read the output of `{command}`: {problem}; it printed:\n{output}")]
    Malformed {
        /// The command (redacted).
        command: String,
        /// What is wrong with it.
        problem: String,
        /// What was printed (redacted).
        output: String,
    },
}

/// One node as `minikube node list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Machine name (`P`, `P-m02`, …).
    pub name: String,
    /// Its IP.
    pub ip: Ipv4Addr,
}

/// What a script run on a node left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOutput {
    /// The script's real exit code (recovered through the sentinel).
    pub code: i32,
    /// What the script printed (stdout and stderr merged by the PTY), CRLF normalised to LF.
    pub output: String,
    /// What minikube itself printed on stderr (warnings), CRLF normalised.
    pub minikube_stderr: String,
}

impl ScriptOutput {
    /// Whether the script exited 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Timeouts per kind of minikube call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `minikube start` (real minikube pulls images and creates containers: minutes).
    pub start: Duration,
    /// `node stop`, `node start`, `delete`.
    pub lifecycle: Duration,
    /// A script run with `ssh`, unless the call gives its own.
    pub ssh: Duration,
    /// `node list`, `ip`, `cp`.
    pub query: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            start: Duration::from_secs(15 * 60),
            lifecycle: Duration::from_secs(5 * 60),
            ssh: Duration::from_secs(5 * 60),
            query: Duration::from_secs(60),
        }
    }
}

/// The minikube CLI for one profile.
#[derive(Debug, Clone)]
pub struct Minikube {
    binary: PathBuf,
    profile: String,
    runner: Runner,
    timeouts: Timeouts,
}

static CRLF: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\r+\n").expect("valid regex"));
static REMOTE_STATUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ssh: Process exited with status (\d+)").expect("valid regex"));
static NOT_RUNNING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"ssh: "([^"]+)" is not running"#).expect("valid regex"));

/// Turns PTY line ends (`\r\n`, `\r\r\n`) into `\n` and drops a trailing `\r`.
#[must_use]
pub fn normalize_crlf(text: &str) -> String {
    let out = CRLF.replace_all(text, "\n");
    out.strip_suffix('\r').unwrap_or(&out).to_string()
}

/// A sentinel unique to one call, so a script's own output cannot fake it.
#[must_use]
pub fn new_sentinel() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("__K8S_LABS_EXIT_{:016x}__", h.finish())
}

/// The one argument given to `minikube ssh --`: runs `script` with bash, then prints the sentinel
/// and bash's exit code, and exits 0 (so minikube does not replace the code with its own 1).
#[must_use]
pub fn wrap_script(script: &str, sentinel: &str) -> String {
    format!(
        "bash -c {}; printf '%s%d\\n' '{sentinel}' \"$?\"",
        shell_quote(script)
    )
}

/// Reads `minikube node list` output: one `name<TAB>ip` per line; blank lines, CRs and extra
/// whitespace tolerated.
///
/// # Errors
/// A description of the first line that is not `name ip`.
pub fn parse_node_list(text: &str) -> Result<Vec<NodeInfo>, String> {
    normalize_crlf(text)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [name, ip] => ip
                    .parse()
                    .map(|ip| NodeInfo {
                        name: (*name).to_string(),
                        ip,
                    })
                    .map_err(|e| format!("line {line:?}: {ip:?} is not an IPv4 address: {e}")),
                _ => Err(format!(
                    "line {line:?} is not `name<TAB>ip` ({} fields)",
                    fields.len()
                )),
            }
        })
        .collect()
}

/// What a `minikube ssh` call amounted to, before errors get their profile/node context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshOutcome {
    /// The wrapped script ran and reported its code.
    Ran(ScriptOutput),
    /// minikube said the node does not exist.
    NodeNotFound,
    /// minikube said this node is not running.
    NodeNotRunning(String),
    /// minikube said the primary node is not running.
    PrimaryNotRunning,
    /// minikube said the profile does not exist.
    ProfileNotFound,
    /// The remote shell failed before the sentinel (status as minikube reported it).
    RemoteShell {
        /// The remote status.
        status: i32,
        /// What was printed.
        output: String,
    },
    /// Anything else.
    Unrecognised,
}

/// Classifies the output of a `minikube ssh` call made with [`wrap_script`] and `sentinel`.
#[must_use]
pub fn parse_ssh(output: &Output, sentinel: &str) -> SshOutcome {
    let stdout = normalize_crlf(&output.stdout);
    let stderr = normalize_crlf(&output.stderr);
    if output.success()
        && let Some(at) = stdout.rfind(sentinel)
    {
        let after = &stdout[at + sentinel.len()..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(code) = digits.parse() {
            return SshOutcome::Ran(ScriptOutput {
                code,
                output: stdout[..at].to_string(),
                minikube_stderr: stderr,
            });
        }
    }
    classify(output).unwrap_or_else(|| match REMOTE_STATUS.captures(&stderr) {
        Some(c) => SshOutcome::RemoteShell {
            status: c[1].parse().unwrap_or(-1),
            output: stdout,
        },
        None => SshOutcome::Unrecognised,
    })
}

/// Recognises minikube's own refusals (missing profile, node, stopped nodes) in any command's
/// output (minikube `pkg/minikube/mustload/mustload.go`, `cmd/minikube/cmd/ssh.go`,
/// `pkg/minikube/reason/exitcodes.go`).
fn classify(output: &Output) -> Option<SshOutcome> {
    if output.success() {
        return None;
    }
    let all = format!("{}\n{}", output.stdout, output.stderr);
    let code = output.code();
    if all.contains("Profile \"") && all.contains("\" not found") {
        return Some(SshOutcome::ProfileNotFound);
    }
    if code == Some(85) && (all.contains("does not exist") || all.contains("Could not find node")) {
        return Some(SshOutcome::NodeNotFound);
    }
    if let Some(c) = NOT_RUNNING.captures(&all) {
        return Some(SshOutcome::NodeNotRunning(c[1].to_string()));
    }
    if code == Some(83) || all.contains("host is not running") {
        return Some(SshOutcome::PrimaryNotRunning);
    }
    None
}

impl Minikube {
    /// The CLI at `binary`, for `profile`, running through `runner`.
    #[must_use]
    pub fn new(binary: impl Into<PathBuf>, profile: impl Into<String>, runner: Runner) -> Self {
        Self {
            binary: binary.into(),
            profile: profile.into(),
            runner,
            timeouts: Timeouts::default(),
        }
    }

    /// Replaces the timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The profile.
    #[must_use]
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The binary.
    #[must_use]
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The runner (and so the transcript) this provider uses.
    #[must_use]
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// `minikube WORDS -p P ARGS`: the profile flag goes right after the subcommand, before any
    /// `--` (after which minikube passes everything to the node).
    fn command(&self, words: &[&str], args: &[&str], timeout: Duration) -> Command {
        Command::new(self.binary.to_string_lossy())
            .args(words.iter().copied())
            .args(["-p", self.profile.as_str()])
            .args(args.iter().copied())
            .timeout(timeout)
    }

    /// Runs a minikube command after checking it against real minikube's command line.
    async fn run(&self, cmd: &Command) -> Result<Output, ProviderError> {
        crate::minikube_cli::check(&cmd.argv()[1..])?;
        Ok(self.runner.run(cmd).await?)
    }

    /// Runs a minikube command that must succeed.
    async fn checked(
        &self,
        words: &[&str],
        args: &[&str],
        timeout: Duration,
        node: Option<&str>,
    ) -> Result<Output, ProviderError> {
        let cmd = self.command(words, args, timeout);
        let output = self.run(&cmd).await?;
        if output.success() {
            return Ok(output);
        }
        Err(self.failure(&cmd, &output, node))
    }

    fn failure(&self, cmd: &Command, output: &Output, node: Option<&str>) -> ProviderError {
        let profile = self.profile.clone();
        let node_name = || node.unwrap_or("?").to_string();
        match classify(output) {
            Some(SshOutcome::ProfileNotFound) => ProviderError::ProfileNotFound { profile },
            Some(SshOutcome::NodeNotFound) => ProviderError::NodeNotFound {
                profile,
                node: node_name(),
            },
            Some(SshOutcome::NodeNotRunning(node)) => {
                ProviderError::NodeNotRunning { profile, node }
            }
            Some(SshOutcome::PrimaryNotRunning) => ProviderError::PrimaryNotRunning { profile },
            _ => ProviderError::Failed {
                command: self.shown(cmd),
                ending: output.ending,
                output: self.printed(output),
            },
        }
    }

    /// The command line as errors show it (redacted).
    fn shown(&self, cmd: &Command) -> String {
        self.runner
            .redact(&crate::transcript::shell_join(cmd.argv()))
    }

    fn printed(&self, output: &Output) -> String {
        let text = normalize_crlf(&format!("{}{}", output.stdout, output.stderr));
        let text = self.runner.redact(text.trim_end());
        if text.is_empty() {
            "(nothing)".to_string()
        } else {
            text
        }
    }

    /// `minikube start --no-kubernetes --driver=docker --container-runtime=containerd --nodes N -p P`,
    /// the course's command; returns what it printed.
    ///
    /// # Errors
    /// [`ProviderError`] when minikube fails.
    pub async fn start(&self, nodes: u32) -> Result<String, ProviderError> {
        let nodes = nodes.to_string();
        let args = [
            "--no-kubernetes",
            "--driver=docker",
            "--container-runtime=containerd",
            "--nodes",
            nodes.as_str(),
        ];
        let output = self
            .checked(&["start"], &args, self.timeouts.start, None)
            .await?;
        Ok(normalize_crlf(&output.stdout))
    }

    /// `minikube node list -p P`.
    ///
    /// # Errors
    /// [`ProviderError`] when minikube fails or prints something else than `name<TAB>ip` lines.
    pub async fn node_list(&self) -> Result<Vec<NodeInfo>, ProviderError> {
        let cmd = self.command(&["node", "list"], &[], self.timeouts.query);
        let output = self.run(&cmd).await?;
        if !output.success() {
            return Err(self.failure(&cmd, &output, None));
        }
        parse_node_list(&output.stdout).map_err(|problem| ProviderError::Malformed {
            command: self.shown(&cmd),
            problem,
            output: self.printed(&output),
        })
    }

    /// Runs `script` with bash on `node` as the node's login user and returns its real exit code
    /// and output. A non-zero exit code is not an error here: callers decide.
    ///
    /// # Errors
    /// [`ProviderError`] when minikube cannot run it (unknown or stopped node, …).
    pub async fn ssh(&self, node: &str, script: &str) -> Result<ScriptOutput, ProviderError> {
        self.ssh_with_timeout(node, script, self.timeouts.ssh).await
    }

    /// [`ssh`](Self::ssh) with an explicit timeout.
    ///
    /// # Errors
    /// As [`ssh`](Self::ssh).
    pub async fn ssh_with_timeout(
        &self,
        node: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<ScriptOutput, ProviderError> {
        self.ssh_inner(node, script, timeout, false).await
    }

    async fn ssh_inner(
        &self,
        node: &str,
        script: &str,
        timeout: Duration,
        hide_output: bool,
    ) -> Result<ScriptOutput, ProviderError> {
        let sentinel = new_sentinel();
        let wrapped = wrap_script(script, &sentinel);
        let mut cmd = self
            .command(&["ssh"], &["-n", node, "--", wrapped.as_str()], timeout)
            .note(format!("script on {node}:\n{script}"));
        if hide_output {
            cmd = cmd.hide_stdout();
        }
        let output = self.run(&cmd).await?;
        match parse_ssh(&output, &sentinel) {
            SshOutcome::Ran(result) => Ok(result),
            SshOutcome::RemoteShell { status, output } => Err(ProviderError::RemoteShell {
                node: node.to_string(),
                status,
                output: self.runner.redact(&output),
            }),
            _ => Err(self.failure(&cmd, &output, Some(node))),
        }
    }

    /// Starts `script` on `node` in the background (`minikube ssh` held open, e.g. an
    /// `etcdctl watch`); stopping the handle kills the local `minikube ssh`, which ends the
    /// session and what it runs on the node. Its output has CRLF line ends.
    ///
    /// # Errors
    /// [`ProviderError`] when it cannot be started.
    pub fn ssh_spawn(
        &self,
        node: &str,
        script: &str,
    ) -> Result<crate::runner::Background, ProviderError> {
        let wrapped = wrap_script(script, &new_sentinel());
        let cmd = self
            .command(
                &["ssh"],
                &["-n", node, "--", wrapped.as_str()],
                self.timeouts.ssh,
            )
            .note(format!("script on {node} (background):\n{script}"));
        crate::minikube_cli::check(&cmd.argv()[1..])?;
        Ok(self.runner.spawn(&cmd)?)
    }

    /// `minikube node stop -p P NODE`.
    ///
    /// # Errors
    /// [`ProviderError`] when minikube fails.
    pub async fn node_stop(&self, node: &str) -> Result<(), ProviderError> {
        self.checked(
            &["node", "stop"],
            &[node],
            self.timeouts.lifecycle,
            Some(node),
        )
        .await
        .map(drop)
    }

    /// `minikube node start -p P NODE`.
    ///
    /// # Errors
    /// [`ProviderError`] when minikube fails.
    pub async fn node_start(&self, node: &str) -> Result<(), ProviderError> {
        self.checked(
            &["node", "start"],
            &[node],
            self.timeouts.lifecycle,
            Some(node),
        )
        .await
        .map(drop)
    }

    /// `minikube ip -n NODE -p P`.
    ///
    /// # Errors
    /// [`ProviderError`] when minikube fails or does not print one IPv4 address.
    pub async fn ip(&self, node: &str) -> Result<Ipv4Addr, ProviderError> {
        let cmd = self.command(&["ip"], &["-n", node], self.timeouts.query);
        let output = self.run(&cmd).await?;
        if !output.success() {
            return Err(self.failure(&cmd, &output, Some(node)));
        }
        normalize_crlf(&output.stdout)
            .trim()
            .parse()
            .map_err(|e| ProviderError::Malformed {
                command: self.shown(&cmd),
                problem: format!("not one IPv4 address: {e}"),
                output: self.printed(&output),
            })
    }

    /// `minikube cp LOCAL NODE:REMOTE -p P`: copies a host file into a node.
    ///
    /// # Errors
    /// [`ProviderError`] when minikube fails.
    pub async fn copy_in(
        &self,
        local: &Path,
        node: &str,
        remote: &str,
    ) -> Result<(), ProviderError> {
        let local = local.to_string_lossy();
        let target = format!("{node}:{remote}");
        self.checked(&["cp"], &[&local, &target], self.timeouts.query, Some(node))
            .await
            .map(drop)
    }

    /// Reads a file from a node (as root, so kubeadm's 0600 files are readable). The bytes travel
    /// base64-encoded because the PTY would turn `\n` into `\r\n` and mangle binary data; the
    /// redactor cannot see secrets through base64, so the transcript records only the length.
    ///
    /// # Errors
    /// [`ProviderError`] when the node cannot be reached, the file cannot be read (the error
    /// quotes the node's message), or the transfer is garbled.
    pub async fn read_file(&self, node: &str, path: &str) -> Result<Vec<u8>, ProviderError> {
        let script = format!("sudo base64 -w0 -- {}", shell_quote(path));
        let result = self
            .ssh_inner(node, &script, self.timeouts.ssh, true)
            .await?;
        if !result.success() {
            return Err(ProviderError::Failed {
                command: format!("read {path} on {node}"),
                ending: Ending::Exit(result.code),
                output: self.runner.redact(result.output.trim_end()),
            });
        }
        let compact: String = result.output.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| ProviderError::Malformed {
                command: format!("read {path} on {node}"),
                problem: format!("not base64: {e}"),
                output: "(file content not shown)".to_string(),
            })
    }

    /// `minikube delete -p P`.
    ///
    /// # Errors
    /// [`ProviderError`] when minikube fails.
    pub async fn delete(&self) -> Result<(), ProviderError> {
        self.checked(&["delete"], &[], self.timeouts.lifecycle, None)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTINEL: &str = "__K8S_LABS_EXIT_0123456789abcdef__";

    fn out(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            ending: Ending::Exit(code),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
            duration: Duration::ZERO,
        }
    }

    fn render(outcome: &SshOutcome) -> String {
        match outcome {
            SshOutcome::Ran(r) => format!(
                "ran: code {}\n--- output\n{}--- minikube stderr\n{}",
                r.code, r.output, r.minikube_stderr
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn wrapped_script_is_one_shell_word_for_bash_plus_the_sentinel() {
        let w = wrap_script("echo 'hi' | sudo tee /etc/kubernetes/x; exit 3", SENTINEL);
        insta::assert_snapshot!(w, @r#"bash -c 'echo '\''hi'\'' | sudo tee /etc/kubernetes/x; exit 3'; printf '%s%d\n' '__K8S_LABS_EXIT_0123456789abcdef__' "$?""#);
    }

    #[test]
    fn wrapped_script_runs_in_a_real_shell_and_reports_the_exit_code() {
        let script = "printf 'a\\tb\\n'; echo \"it's\" >&2; exit 3";
        let w = wrap_script(script, SENTINEL);
        // What minikube does with the joined arguments: the node's shell runs them.
        let o = std::process::Command::new("bash")
            .args(["-c", &w])
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        let stdout = String::from_utf8(o.stdout).unwrap();
        assert!(o.status.success());
        assert_eq!(stdout, format!("a\tb\n{SENTINEL}3\n"));
    }

    #[test]
    fn ssh_outputs_in_real_formats() {
        let cases = [
            (
                "success with CRLF",
                out(0, &format!("hello\r\nworld\r\n{SENTINEL}0\r\n"), ""),
            ),
            (
                "script exit 3, stderr merged by the PTY",
                out(0, &format!("oops: not found\r\n{SENTINEL}3\r\n"), ""),
            ),
            (
                "no newline before the sentinel, doubled CR, tabs",
                out(0, &format!("a\tb\r\r\n  partial{SENTINEL}1\r\n"), ""),
            ),
            (
                "a forged sentinel without digits in the output",
                out(0, &format!("{SENTINEL}x\r\n{SENTINEL}0\r\n"), ""),
            ),
            (
                "minikube warning on stderr",
                out(
                    0,
                    &format!("ok\r\n{SENTINEL}0\r\n"),
                    "❗  Executing \"docker container inspect\" took an unusually long time: 2.1s\n",
                ),
            ),
            (
                "unknown node",
                out(
                    85,
                    "\n",
                    "❌  Exiting due to GUEST_NODE_RETRIEVE: Node m05 does not exist.\n",
                ),
            ),
            (
                "stopped node",
                out(1, "", "ssh: \"minikube-m02\" is not running\n"),
            ),
            (
                "stopped primary",
                out(
                    83,
                    "🤷  The control-plane node minikube host is not running: state=Stopped\n👉  To start a cluster, run: \"minikube start\"\n",
                    "",
                ),
            ),
            (
                "missing profile",
                out(
                    85,
                    "🤷  Profile \"demo\" not found. Run \"minikube profile list\" to view all profiles.\n👉  To start a cluster, run: \"minikube start -p demo\"\n",
                    "",
                ),
            ),
            (
                "remote shell failed before the sentinel",
                out(
                    1,
                    "bash: line 1: bash: command not found\r\n",
                    "ssh: Process exited with status 127\n",
                ),
            ),
            (
                "killed by a signal",
                Output {
                    ending: Ending::Signal(9),
                    stdout: String::new(),
                    stderr: String::new(),
                    duration: Duration::ZERO,
                },
            ),
        ];
        let rendered: Vec<String> = cases
            .iter()
            .map(|(name, o)| format!("## {name}\n{}\n", render(&parse_ssh(o, SENTINEL))))
            .collect();
        insta::assert_snapshot!(rendered.join("\n"));
    }

    #[test]
    fn node_list_in_real_formats() {
        let samples = [
            "minikube\t192.168.49.2\nminikube-m02\t192.168.49.3\nminikube-m03\t192.168.49.4\n",
            "demo\t127.100.49.2\r\ndemo-m02 \t 127.100.49.3  \r\n\r\ndemo-m03\t127.100.49.4",
            "",
        ];
        let rendered: Vec<String> = samples
            .iter()
            .map(|s| format!("{s:?}\n=> {:?}\n", parse_node_list(s)))
            .collect();
        insta::assert_snapshot!(rendered.join("\n"));
    }

    #[test]
    fn node_list_rejects_other_shapes() {
        let err = parse_node_list("minikube\t192.168.49.2\n😄  minikube v1.38.1 on Ubuntu\n")
            .unwrap_err();
        assert!(err.contains("not `name<TAB>ip`"), "{err}");
        let err = parse_node_list("minikube\t192.168.49.300\n").unwrap_err();
        assert!(err.contains("not an IPv4 address"), "{err}");
    }

    #[test]
    fn kic_nodes_skip_the_checks_minikube_skips() {
        assert_eq!(
            kic_ignore_preflight_flag(),
            "--ignore-preflight-errors=SystemVerification,FileContent--proc-sys-net-bridge-bridge-nf-call-iptables"
        );
    }

    #[test]
    fn crlf_is_normalised() {
        assert_eq!(normalize_crlf("a\r\nb\r\r\nc\r"), "a\nb\nc");
        assert_eq!(normalize_crlf("a\rb\n"), "a\rb\n");
    }

    #[test]
    fn sentinels_differ_per_call() {
        assert_ne!(new_sentinel(), new_sentinel());
    }
}
