//! The command transcript of one scenario (or of the run's own set-up): every process the runner
//! starts is appended, redacted, to `transcript.jsonl` (one JSON object per line) and
//! `transcript.txt` (`COMMAND / EXIT / DURATION / STDOUT / STDERR` blocks) in one folder.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::redact::Redactor;

/// Errors from opening or writing a transcript.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// The transcript folder or a file in it could not be created or written.
    #[error(
        "cannot write the transcript at {path}: {source}: check that the reports folder is writable"
    )]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// How a recorded process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Ending {
    /// It exited with this code.
    Exit(i32),
    /// It was ended by this signal (not by us).
    Signal(i32),
    /// The runner killed it after its timeout.
    TimedOut,
    /// The runner killed it because its handle was dropped or stopped (background processes, or a
    /// cancelled step).
    Killed,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exit(code) => write!(f, "{code}"),
            Self::Signal(sig) => write!(f, "killed by signal {sig}"),
            Self::TimedOut => f.write_str("timed out (process group killed)"),
            Self::Killed => f.write_str("stopped by the harness (process group killed)"),
        }
    }
}

/// One recorded process, as written (already redacted).
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// 1-based position in this transcript.
    pub seq: u64,
    /// When the process started (RFC 3339, UTC).
    pub started: String,
    /// The command line, shell-quoted so it can be pasted into a shell.
    pub command: String,
    /// Why the harness ran it (e.g. the script a `minikube ssh` wraps), if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Environment variables set for it on top of the harness's own environment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// Whether it ran in the background (e.g. `kubectl proxy`).
    pub background: bool,
    /// How it ended.
    pub ending: Ending,
    /// Wall-clock duration in milliseconds.
    pub duration_ms: u128,
    /// Captured standard output.
    pub stdout: String,
    /// Captured standard error.
    pub stderr: String,
}

/// A raw record handed to [`Transcript::append`]; redacted there before anything is written.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// When the process started.
    pub started: jiff::Timestamp,
    /// Program and arguments.
    pub argv: &'a [String],
    /// Optional note.
    pub note: Option<&'a str>,
    /// Extra environment.
    pub env: &'a [(String, String)],
    /// Background process?
    pub background: bool,
    /// How it ended.
    pub ending: Ending,
    /// Duration.
    pub duration: Duration,
    /// Raw stdout.
    pub stdout: &'a str,
    /// Raw stderr.
    pub stderr: &'a str,
}

struct Files {
    seq: u64,
    jsonl: File,
    txt: File,
}

/// An append-only transcript in one folder. Cheap to clone; clones append to the same files.
#[derive(Clone)]
pub struct Transcript {
    dir: PathBuf,
    redactor: Redactor,
    files: Arc<Mutex<Files>>,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript")
            .field("dir", &self.dir)
            .finish()
    }
}

impl Transcript {
    /// Creates `dir` (and parents) and opens `transcript.jsonl` and `transcript.txt` in it for
    /// appending.
    ///
    /// # Errors
    /// [`TranscriptError::Write`] when the folder or files cannot be created.
    pub fn create(dir: impl Into<PathBuf>, redactor: Redactor) -> Result<Self, TranscriptError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| TranscriptError::Write {
            path: dir.clone(),
            source,
        })?;
        let open = |name: &str| {
            let path = dir.join(name);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| TranscriptError::Write { path, source })
        };
        let files = Files {
            seq: 0,
            jsonl: open("transcript.jsonl")?,
            txt: open("transcript.txt")?,
        };
        Ok(Self {
            dir,
            redactor,
            files: Arc::new(Mutex::new(files)),
        })
    }

    /// The folder holding the transcript files.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The redactor applied to every entry.
    #[must_use]
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Redacts `record` and appends it to both files.
    ///
    /// # Errors
    /// [`TranscriptError::Write`] when a file cannot be written.
    pub fn append(&self, record: &Record<'_>) -> Result<Entry, TranscriptError> {
        self.write(&shell_join(record.argv), record)
    }

    /// Redacts and appends `record`, shown as `command`.
    fn write(&self, command: &str, record: &Record<'_>) -> Result<Entry, TranscriptError> {
        let red = |s: &str| self.redactor.redact(s);
        let mut files = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        files.seq += 1;
        let entry = Entry {
            seq: files.seq,
            started: record.started.to_string(),
            command: red(command),
            note: record.note.map(red),
            env: record
                .env
                .iter()
                .map(|(k, v)| (k.clone(), red(v)))
                .collect(),
            background: record.background,
            ending: record.ending,
            duration_ms: record.duration.as_millis(),
            stdout: red(record.stdout),
            stderr: red(record.stderr),
        };
        let mut line = serde_json::to_string(&entry).expect("an entry serialises");
        line.push('\n');
        let text = render_text(&entry);
        let write = |file: &mut File, name: &str, bytes: &[u8]| {
            file.write_all(bytes)
                .and_then(|()| file.flush())
                .map_err(|source| TranscriptError::Write {
                    path: self.dir.join(name),
                    source,
                })
        };
        write(&mut files.jsonl, "transcript.jsonl", line.as_bytes())?;
        write(&mut files.txt, "transcript.txt", text.as_bytes())?;
        Ok(entry)
    }

    /// Appends the release of something the run created (see [`crate::cleanup`]): an entry whose
    /// command is a shell comment, `# cleanup: <summary>`, ending 0, or 1 when it `failed`.
    ///
    /// # Errors
    /// [`TranscriptError::Write`] when a file cannot be written.
    pub fn append_cleanup(&self, summary: &str, failed: bool) -> Result<Entry, TranscriptError> {
        let line = summary.lines().next().unwrap_or_default();
        let rest: Vec<&str> = summary.lines().skip(1).collect();
        let argv = [format!("# cleanup: {line}")];
        let detail = if rest.is_empty() {
            String::new()
        } else {
            format!("{}\n", rest.join("\n"))
        };
        // A comment is shown as written, not shell-quoted.
        self.write(
            &argv[0],
            &Record {
                started: jiff::Timestamp::now(),
                argv: &argv,
                note: None,
                env: &[],
                background: false,
                ending: Ending::Exit(i32::from(failed)),
                duration: Duration::ZERO,
                stdout: &detail,
                stderr: "",
            },
        )
    }
}

/// The readable block for one entry.
fn render_text(e: &Entry) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let kind = if e.background { " (background)" } else { "" };
    let _ = writeln!(s, "=== #{} {}{kind}", e.seq, e.started);
    let _ = writeln!(s, "COMMAND: {}", e.command);
    if let Some(note) = &e.note {
        let _ = writeln!(s, "NOTE: {}", note.replace('\n', "\n      "));
    }
    for (k, v) in &e.env {
        let _ = writeln!(s, "ENV: {k}={v}");
    }
    let _ = writeln!(s, "EXIT: {}", e.ending);
    let _ = writeln!(s, "DURATION: {:.3}s", e.duration_ms as f64 / 1000.0);
    for (name, body) in [("STDOUT", &e.stdout), ("STDERR", &e.stderr)] {
        if body.is_empty() {
            let _ = writeln!(s, "{name}: (empty)");
        } else {
            let _ = writeln!(s, "{name}:");
            s.push_str(body);
            if !body.ends_with('\n') {
                s.push_str("\n(no newline at end)\n");
            }
        }
    }
    s.push('\n');
    s
}

/// Quotes `arg` for a POSIX shell when it needs it.
#[must_use]
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Joins `argv` into one shell-quoted command line.
#[must_use]
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn temp_dir(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("k8s-labs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("minikube-m02"), "minikube-m02");
        assert_eq!(shell_quote("--nodes=3"), "--nodes=3");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("echo hi"), "'echo hi'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn entries_are_redacted_before_they_are_written() {
        let tmp = temp_dir("transcript");
        let redactor = Redactor::new();
        redactor.register("s3cr3t-value");
        let t = Transcript::create(tmp.0.join("scenario"), redactor).unwrap();
        let argv = vec![
            "kubeadm".to_string(),
            "join".to_string(),
            "--token".to_string(),
            "abcdef.0123456789abcdef".to_string(),
        ];
        let env = vec![("SECRET".to_string(), "s3cr3t-value".to_string())];
        let record = Record {
            started: jiff::Timestamp::UNIX_EPOCH,
            argv: &argv,
            note: Some("join m02"),
            env: &env,
            background: false,
            ending: Ending::Exit(1),
            duration: Duration::from_millis(1500),
            stdout: "using s3cr3t-value\n",
            stderr: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        };
        let e1 = t.append(&record).unwrap();
        let e2 = t
            .clone()
            .append(&Record {
                stdout: "",
                stderr: "no newline",
                ending: Ending::TimedOut,
                ..record.clone()
            })
            .unwrap();
        assert_eq!((e1.seq, e2.seq), (1, 2));
        let jsonl = std::fs::read_to_string(tmp.0.join("scenario/transcript.jsonl")).unwrap();
        let txt = std::fs::read_to_string(tmp.0.join("scenario/transcript.txt")).unwrap();
        for text in [&jsonl, &txt] {
            assert!(!text.contains("s3cr3t-value"), "{text}");
            assert!(!text.contains("0123456789abcdef"), "{text}");
            assert!(!text.contains("AAAA"), "{text}");
        }
        let lines: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0]["ending"],
            serde_json::json!({"kind": "exit", "value": 1})
        );
        assert_eq!(lines[1]["ending"], serde_json::json!({"kind": "timed_out"}));
        assert_eq!(lines[0]["duration_ms"], 1500);
        insta::assert_snapshot!(txt);
    }
}
