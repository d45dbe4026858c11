//! The one place that starts processes.
//!
//! Every process runs in its own process group, with a timeout; on timeout, or when the call's
//! future or a [`Background`] handle is dropped, the whole group is killed (`SIGKILL` to the group,
//! so children such as `sudo`'s or a script's go too). Stdout, stderr, the ending and the duration
//! are captured, and every call is appended to the transcript, redacted, before the caller sees
//! it. Processes that deliberately leave the group (daemons that call `setsid`, such as a node's
//! init process) are not touched after a normal exit.

use std::io::Read as _;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cleanup::{ProcessGroup, Registration, Registry, process_start_time};
use crate::transcript::{Ending, Record, Transcript, TranscriptError, shell_join};

/// How long the runner waits for a process's output pipes to close after the process exited. A
/// daemon it started may keep them open; the output captured so far is then returned.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// How many trailing characters of stdout/stderr an error message quotes.
const TAIL_CHARS: usize = 2000;

/// Errors from running a process.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started at all.
    #[error("cannot start `{command}`: {source}: check that the program is installed and on PATH")]
    Spawn {
        /// The command line (redacted).
        command: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the process failed at the OS level.
    #[error("lost track of `{command}` while waiting for it: {source}")]
    Wait {
        /// The command line (redacted).
        command: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The process did not finish within its timeout; its process group was killed.
    #[error(
        "`{command}` did not finish within {after:?} and was killed; last output:\n{tail}\nsee the scenario transcript for everything it printed"
    )]
    TimedOut {
        /// The command line (redacted).
        command: String,
        /// The timeout.
        after: Duration,
        /// The end of what it printed (redacted).
        tail: String,
    },
    /// The process ended unsuccessfully where success was required ([`Runner::run_ok`]).
    #[error("`{command}` failed ({ending}); last output:\n{tail}")]
    Failed {
        /// The command line (redacted).
        command: String,
        /// How it ended.
        ending: Ending,
        /// The end of what it printed (redacted).
        tail: String,
    },
    /// The transcript could not be written.
    #[error(transparent)]
    Transcript(#[from] TranscriptError),
}

/// A process to run: program, arguments, environment, working directory, stdin, timeout.
#[derive(Debug, Clone)]
pub struct Command {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
    note: Option<String>,
    hide_stdout: bool,
}

impl Command {
    /// A command running `program` with no arguments.
    #[must_use]
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            argv: vec![program.into()],
            env: Vec::new(),
            dir: None,
            stdin: None,
            timeout: None,
            note: None,
            hide_stdout: false,
        }
    }

    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.argv.push(arg.into());
        self
    }

    /// Appends arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for this process (on top of the runner's).
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the process in `dir`.
    #[must_use]
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Feeds `bytes` to the process's stdin (otherwise stdin is `/dev/null`).
    #[must_use]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Overrides the runner's default timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A note recorded with the transcript entry (e.g. the script a wrapper runs).
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Keeps stdout out of the transcript (it records only its length): for output that carries
    /// secrets the redactor cannot recognise, such as a key file read base64-encoded. The caller
    /// still gets all of it.
    #[must_use]
    pub fn hide_stdout(mut self) -> Self {
        self.hide_stdout = true;
        self
    }

    /// Program and arguments.
    #[must_use]
    pub fn argv(&self) -> &[String] {
        &self.argv
    }
}

/// What a finished process left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// How it ended.
    pub ending: Ending,
    /// Everything it wrote to stdout (not redacted: callers may need secrets, e.g. a join token).
    pub stdout: String,
    /// Everything it wrote to stderr (not redacted).
    pub stderr: String,
    /// How long it ran.
    pub duration: Duration,
}

impl Output {
    /// Whether it exited with code 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.ending == Ending::Exit(0)
    }

    /// Its exit code, if it exited normally.
    #[must_use]
    pub fn code(&self) -> Option<i32> {
        match self.ending {
            Ending::Exit(code) => Some(code),
            _ => None,
        }
    }
}

#[derive(Clone)]
struct Inner {
    transcript: Transcript,
    env: Vec<(String, String)>,
    timeout: Duration,
    registry: Option<Registry>,
}

/// Starts processes and records them in one transcript. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("transcript", &self.inner.transcript.dir())
            .field("env", &self.inner.env)
            .field("timeout", &self.inner.timeout)
            .finish()
    }
}

impl Runner {
    /// A runner recording into `transcript`, giving every process `env` on top of the harness's
    /// environment, with `timeout` unless a command sets its own.
    #[must_use]
    pub fn new(transcript: Transcript, env: Vec<(String, String)>, timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                transcript,
                env,
                timeout,
                registry: None,
            }),
        }
    }

    /// A runner like this one whose background processes are registered in `registry` (the
    /// run's [`Registry`]), so that they are killed however the run ends.
    #[must_use]
    pub fn registered_in(&self, registry: &Registry) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry: Some(registry.clone()),
                ..(*self.inner).clone()
            }),
        }
    }

    /// The transcript this runner appends to.
    #[must_use]
    pub fn transcript(&self) -> &Transcript {
        &self.inner.transcript
    }

    /// Redacts `text` with the transcript's redactor (for error messages built outside the
    /// runner).
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        self.inner.transcript.redactor().redact(text)
    }

    /// A runner like this one but writing to another transcript.
    #[must_use]
    pub fn with_transcript(&self, transcript: Transcript) -> Self {
        Self {
            inner: Arc::new(Inner {
                transcript,
                ..(*self.inner).clone()
            }),
        }
    }

    /// Runs `cmd` to the end and returns its output, whatever its exit code.
    ///
    /// # Errors
    /// [`RunError::Spawn`] if it cannot start, [`RunError::TimedOut`] if it outlives its timeout
    /// (the process group is killed), [`RunError::Wait`] / [`RunError::Transcript`] on OS errors.
    pub async fn run(&self, cmd: &Command) -> Result<Output, RunError> {
        let timeout = cmd.timeout.unwrap_or(self.inner.timeout);
        let mut running = self.start(cmd, false)?;
        let handle = Arc::clone(&running.handle);
        let waiting = tokio::task::spawn_blocking(move || handle.wait().map(|o| o.status));
        let shown = self.redact(&shell_join(cmd.argv()));
        let ending = match crate::progress::track(
            &shown,
            Some(timeout),
            tokio::time::timeout(timeout, waiting),
        )
        .await
        {
            Ok(joined) => {
                let status = joined
                    .expect("the wait thread does not panic")
                    .map_err(|source| RunError::Wait {
                        command: running.command(),
                        source,
                    })?;
                ending_of(status)
            }
            Err(_) => {
                running.kill();
                Ending::TimedOut
            }
        };
        let output = running.finish(ending).await?;
        if ending == Ending::TimedOut {
            return Err(RunError::TimedOut {
                command: running.command(),
                after: timeout,
                tail: self.tail(&output),
            });
        }
        Ok(output)
    }

    /// Runs `cmd` and requires exit code 0.
    ///
    /// # Errors
    /// As [`run`](Self::run), plus [`RunError::Failed`] when it exits unsuccessfully.
    pub async fn run_ok(&self, cmd: &Command) -> Result<Output, RunError> {
        let output = self.run(cmd).await?;
        if output.success() {
            Ok(output)
        } else {
            Err(RunError::Failed {
                command: self.redact(&shell_join(cmd.argv())),
                ending: output.ending,
                tail: self.tail(&output),
            })
        }
    }

    /// Starts `cmd` in the background. It runs until [`Background::stop`] or until the handle is
    /// dropped (then its process group is killed); it is recorded in the transcript then.
    ///
    /// # Errors
    /// [`RunError::Spawn`] if it cannot start.
    pub fn spawn(&self, cmd: &Command) -> Result<Background, RunError> {
        Ok(Background {
            running: self.start(cmd, true)?,
        })
    }

    fn tail(&self, output: &Output) -> String {
        let both = match (output.stdout.is_empty(), output.stderr.is_empty()) {
            (_, true) => output.stdout.clone(),
            (true, false) => output.stderr.clone(),
            (false, false) => format!("{}\n[stderr]\n{}", output.stdout, output.stderr),
        };
        let red = self.redact(&both);
        let chars: Vec<char> = red.chars().collect();
        let start = chars.len().saturating_sub(TAIL_CHARS);
        let mut tail: String = chars[start..].iter().collect();
        if start > 0 {
            tail.insert(0, '…');
        }
        if tail.trim().is_empty() {
            "(no output)".to_string()
        } else {
            tail
        }
    }

    fn start(&self, cmd: &Command, background: bool) -> Result<Running, RunError> {
        let started = jiff::Timestamp::now();
        let t0 = Instant::now();
        let mut env = self.inner.env.clone();
        env.extend(cmd.env.iter().cloned());
        let spawn_error = |source| RunError::Spawn {
            command: self.redact(&shell_join(&cmd.argv)),
            source,
        };
        let (out_r, out_w) = std::io::pipe().map_err(spawn_error)?;
        let (err_r, err_w) = std::io::pipe().map_err(spawn_error)?;
        let mut expr = duct::cmd(&cmd.argv[0], &cmd.argv[1..])
            .stdout_file(out_w)
            .stderr_file(err_w)
            .unchecked()
            .before_spawn(|c| {
                // A group of its own, so the whole tree can be killed with one signal.
                c.process_group(0);
                Ok(())
            });
        expr = match &cmd.stdin {
            Some(bytes) => expr.stdin_bytes(bytes.clone()),
            None => expr.stdin_null(),
        };
        for (k, v) in &env {
            expr = expr.env(k, v);
        }
        if let Some(dir) = &cmd.dir {
            expr = expr.dir(dir);
        }
        let handle = expr.start().map_err(spawn_error)?;
        // The expression holds the parent's copies of the pipes' write ends: drop it so readers
        // see end-of-file when the process tree exits.
        drop(expr);
        let pgid = handle.pids()[0];
        let registration = match (&self.inner.registry, background) {
            (Some(registry), true) => Some(registry.register(
                ProcessGroup {
                    pgid,
                    start_time: process_start_time(pgid),
                    command: self.redact(&shell_join(&cmd.argv)),
                },
                &self.inner.transcript,
                Vec::new(),
            )),
            _ => None,
        };
        let (stdout, stdout_done) = read_in_background(out_r);
        let (stderr, stderr_done) = read_in_background(err_r);
        Ok(Running {
            transcript: self.inner.transcript.clone(),
            argv: cmd.argv.clone(),
            note: cmd.note.clone(),
            hide_stdout: cmd.hide_stdout,
            env,
            background,
            started,
            t0,
            pgid,
            handle: Arc::new(handle),
            stdout,
            stderr,
            pipes_done: Some((stdout_done, stderr_done)),
            recorded: false,
            registration,
        })
    }
}

type Buffer = Arc<Mutex<Vec<u8>>>;

/// Reads `pipe` to its end on a thread of its own; the receiver fires at end-of-file.
fn read_in_background(mut pipe: std::io::PipeReader) -> (Buffer, oneshot::Receiver<()>) {
    let buffer: Buffer = Arc::default();
    let (tx, rx) = oneshot::channel();
    let sink = Arc::clone(&buffer);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(&chunk[..n]),
            }
        }
        let _ = tx.send(());
    });
    (buffer, rx)
}

fn ending_of(status: std::process::ExitStatus) -> Ending {
    match (status.code(), status.signal()) {
        (Some(code), _) => Ending::Exit(code),
        (None, Some(sig)) => Ending::Signal(sig),
        (None, None) => Ending::Exit(-1),
    }
}

fn text(buffer: &Buffer) -> String {
    String::from_utf8_lossy(
        &buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}

/// A started process: kills its group and records it if dropped before it was recorded.
struct Running {
    transcript: Transcript,
    argv: Vec<String>,
    note: Option<String>,
    hide_stdout: bool,
    env: Vec<(String, String)>,
    background: bool,
    started: jiff::Timestamp,
    t0: Instant,
    pgid: u32,
    handle: Arc<duct::Handle>,
    stdout: Buffer,
    stderr: Buffer,
    pipes_done: Option<(oneshot::Receiver<()>, oneshot::Receiver<()>)>,
    recorded: bool,
    /// Its entry in the run's registry (background processes), settled when it is recorded.
    registration: Option<Registration>,
}

impl Running {
    /// What the transcript shows of `stdout`.
    fn recorded_stdout(&self, stdout: &str) -> String {
        if self.hide_stdout {
            format!(
                "(stdout hidden by the harness: {} bytes that may hold secrets)",
                stdout.len()
            )
        } else {
            stdout.to_string()
        }
    }

    fn command(&self) -> String {
        self.transcript.redactor().redact(&shell_join(&self.argv))
    }

    /// `SIGKILL` to the whole process group; a group that is already gone is fine.
    fn kill(&self) {
        let pgid = i32::try_from(self.pgid).expect("pids fit in i32");
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }

    /// Waits (bounded) for the output pipes to close, then records the entry.
    async fn finish(&mut self, ending: Ending) -> Result<Output, RunError> {
        let duration = self.t0.elapsed();
        let mut held_open = false;
        if let Some((out, err)) = self.pipes_done.take() {
            let both = async {
                let _ = out.await;
                let _ = err.await;
            };
            held_open = tokio::time::timeout(PIPE_GRACE, both).await.is_err();
        }
        let output = Output {
            ending,
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
            duration,
        };
        let note = if held_open {
            let held = "output pipes were still held open by a process it left behind; output captured until it exited";
            Some(match &self.note {
                Some(n) => format!("{n}\n{held}"),
                None => held.to_string(),
            })
        } else {
            self.note.clone()
        };
        self.recorded = true;
        if let Some(registration) = self.registration.take() {
            registration.released();
        }
        self.transcript.append(&Record {
            started: self.started,
            argv: &self.argv,
            note: note.as_deref(),
            env: &self.env,
            background: self.background,
            ending,
            duration,
            stdout: &self.recorded_stdout(&output.stdout),
            stderr: &output.stderr,
        })?;
        Ok(output)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.recorded {
            return;
        }
        self.kill();
        if let Some(registration) = self.registration.take() {
            registration.released();
        }
        let stdout = text(&self.stdout);
        let stderr = text(&self.stderr);
        // Best effort: a transcript that cannot be written must not turn a drop into a panic.
        let _ = self.transcript.append(&Record {
            started: self.started,
            argv: &self.argv,
            note: self.note.as_deref(),
            env: &self.env,
            background: self.background,
            ending: Ending::Killed,
            duration: self.t0.elapsed(),
            stdout: &self.recorded_stdout(&stdout),
            stderr: &stderr,
        });
    }
}

/// A process running in the background (e.g. `kubectl proxy`). Dropping it kills its process
/// group and records it in the transcript.
pub struct Background {
    running: Running,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("command", &self.running.command())
            .field("pgid", &self.running.pgid)
            .finish()
    }
}

impl Background {
    /// What it has written to stdout so far (not redacted).
    #[must_use]
    pub fn stdout(&self) -> String {
        text(&self.running.stdout)
    }

    /// What it has written to stderr so far (not redacted).
    #[must_use]
    pub fn stderr(&self) -> String {
        text(&self.running.stderr)
    }

    /// How it ended, if it has exited by itself.
    ///
    /// # Errors
    /// [`RunError::Wait`] if the OS cannot tell.
    pub fn exited(&self) -> Result<Option<Ending>, RunError> {
        self.running
            .handle
            .try_wait()
            .map(|o| o.map(|o| ending_of(o.status)))
            .map_err(|source| RunError::Wait {
                command: self.running.command(),
                source,
            })
    }

    /// Stops it (kills its process group unless it already exited), records it, and returns what
    /// it printed.
    ///
    /// # Errors
    /// [`RunError::Wait`] / [`RunError::Transcript`] on OS errors.
    pub async fn stop(mut self) -> Result<Output, RunError> {
        let ending = match self.exited()? {
            Some(ending) => ending,
            None => {
                self.running.kill();
                let handle = Arc::clone(&self.running.handle);
                tokio::task::spawn_blocking(move || handle.wait().map(|_| ()))
                    .await
                    .expect("the wait thread does not panic")
                    .map_err(|source| RunError::Wait {
                        command: self.running.command(),
                        source,
                    })?;
                Ending::Killed
            }
        };
        self.running.finish(ending).await
    }
}
