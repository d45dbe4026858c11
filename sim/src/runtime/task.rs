//! Tasks: the processes of containers and sandboxes (what containerd-shim and runc do).
//!
//! A task is `<labsim> image run` started by the runtime, in its own process group (which stands
//! in for the container's PID namespace: when the task's main process exits, whatever is left in
//! the group is killed, as the kernel kills a PID namespace whose init exits). Its stdout and
//! stderr go to the container's CRI log file in the format of containerd's
//! `internal/cri/io/logger.go`: `<RFC3339Nano time> <stdout|stderr> <F|P> <text>`, one line per
//! output line, `P` for the leading 16 KiB chunks of longer lines.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, watch};

/// The longest chunk written as one log line (containerd `defaultBufSize`).
pub const MAX_LOG_LINE: usize = 16 * 1024;

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// The exit code as CRI reports it: the process's code, or 128 + the signal that killed it.
    pub code: i32,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    /// When it ended, Unix ns.
    pub at_ns: i64,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// The program (the labsim binary).
    pub program: PathBuf,
    /// Its arguments (`image run`).
    pub args: Vec<String>,
    /// The whole environment.
    pub env: Vec<(String, String)>,
    /// The CRI log file; `None` discards the output (the pause process).
    pub log: Option<PathBuf>,
}

/// A started task.
#[derive(Debug, Clone)]
pub struct Task {
    /// Host PID of its main process.
    pub pid: u32,
    /// Becomes `Some` when it exits.
    pub exited: watch::Receiver<Option<Exit>>,
}

impl Task {
    /// Waits until the task has exited.
    pub async fn wait(&self) -> Exit {
        let mut rx = self.exited.clone();
        loop {
            if let Some(e) = *rx.borrow_and_update() {
                return e;
            }
            if rx.changed().await.is_err() {
                return rx.borrow().unwrap_or(Exit {
                    code: super::state::UNKNOWN_EXIT_CODE,
                    signal: None,
                    at_ns: super::now_ns(),
                });
            }
        }
    }

    /// Whether it still runs.
    pub fn running(&self) -> bool {
        self.exited.borrow().is_none()
    }

    /// Sends `sig` to the main process (`all`: to every process of the task).
    pub fn signal(&self, sig: Signal, all: bool) {
        if all {
            let _ = nix::sys::signal::killpg(Pid::from_raw(self.pid as i32), sig);
        } else {
            let _ = nix::sys::signal::kill(Pid::from_raw(self.pid as i32), sig);
        }
    }
}

/// Formats Unix ns as Go's `time.RFC3339Nano` in UTC (trailing zeros of the fraction dropped).
pub fn rfc3339nano(ns: i64) -> String {
    let ts =
        jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let secs = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = ns.rem_euclid(1_000_000_000);
    if frac == 0 {
        format!("{secs}Z")
    } else {
        let f = format!("{frac:09}");
        format!("{secs}.{}Z", f.trim_end_matches('0'))
    }
}

/// One CRI log record.
pub fn log_record(at_ns: i64, stream: &str, partial: bool, text: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{} {stream} {} ",
        rfc3339nano(at_ns),
        if partial { "P" } else { "F" }
    )
    .into_bytes();
    out.extend_from_slice(text);
    out.push(b'\n');
    out
}

async fn pump(
    stream: impl AsyncRead + Unpin,
    name: &'static str,
    tx: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut r = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                let chunks: Vec<&[u8]> = if line.is_empty() {
                    vec![line]
                } else {
                    line.chunks(MAX_LOG_LINE).collect()
                };
                let n = chunks.len();
                for (i, c) in chunks.into_iter().enumerate() {
                    let rec = log_record(super::now_ns(), name, i + 1 < n, c);
                    if tx.send(rec).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Starts a task.
///
/// # Errors
/// The spawn error (missing binary, log file not writable).
pub fn spawn(s: Spawn) -> std::io::Result<Task> {
    let mut cmd = tokio::process::Command::new(&s.program);
    cmd.args(&s.args)
        .env_clear()
        .envs(s.env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::null())
        .kill_on_drop(false);
    let log = match &s.log {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            Some(f)
        }
        None => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            None
        }
    };
    let mut child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    let (tx_exit, rx_exit) = watch::channel(None);
    let mut pumps = vec![];
    if let Some(file) = log {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        if let Some(out) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(out, "stdout", tx.clone())));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(err, "stderr", tx.clone())));
        }
        drop(tx);
        let mut file = tokio::fs::File::from_std(file);
        pumps.push(tokio::spawn(async move {
            while let Some(rec) = rx.recv().await {
                let _ = file.write_all(&rec).await;
            }
            let _ = file.flush().await;
        }));
    }
    tokio::spawn(async move {
        let status = child.wait().await;
        let (code, signal) = match status {
            Ok(st) => match (st.code(), st.signal()) {
                (_, Some(sig)) => (128 + sig, Some(sig)),
                (Some(c), None) => (c, None),
                (None, None) => (super::state::UNKNOWN_EXIT_CODE, None),
            },
            Err(_) => (super::state::UNKNOWN_EXIT_CODE, None),
        };
        // The rest of the "PID namespace" goes with its init.
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        // Let the log pumps drain what the process wrote before it ended.
        for p in pumps {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), p).await;
        }
        let _ = tx_exit.send(Some(Exit {
            code,
            signal,
            at_ns: super::now_ns(),
        }));
    });
    Ok(Task {
        pid,
        exited: rx_exit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339nano() {
        assert_eq!(rfc3339nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339nano(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(
            rfc3339nano(1_700_000_000_120_000_000),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(
            log_record(1_700_000_000_000_000_000, "stderr", false, b"hello"),
            b"2023-11-14T22:13:20Z stderr F hello\n"
        );
    }

    #[tokio::test]
    async fn output_goes_to_the_cri_log_and_signals_give_128_plus() {
        let dir = std::env::temp_dir().join(format!(
            "labsim-task-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        let log = dir.join("c/0.log");
        let t = spawn(Spawn {
            program: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                "echo out; echo err >&2; printf tail; exec sleep 30".into(),
            ],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            log: Some(log.clone()),
        })
        .unwrap();
        assert!(t.running());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
            < 2
        {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        t.signal(Signal::SIGKILL, false);
        let e = t.wait().await;
        assert_eq!((e.code, e.signal), (137, Some(9)));
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().any(|l| l.ends_with(" stdout F out")), "{text}");
        assert!(lines.iter().any(|l| l.ends_with(" stderr F err")), "{text}");
        assert!(
            lines.iter().any(|l| l.ends_with(" stdout F tail")),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
