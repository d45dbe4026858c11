//! Helpers shared by the integration tests: temporary folders removed on drop, and runners that
//! record into them.

#![allow(dead_code, missing_docs)]

pub mod api;
pub mod labs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_labs::redact::Redactor;
use k8s_labs::runner::Runner;
use k8s_labs::transcript::Transcript;

/// A folder under the system temp dir, removed (with everything in it) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "k8s-labs-test-{name}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A runner recording into `dir/transcript`, with a 30 s default timeout.
pub fn runner(dir: &Path, redactor: Redactor) -> Runner {
    let transcript = Transcript::create(dir.join("transcript"), redactor).expect("transcript");
    Runner::new(
        transcript,
        vec![("LABS_TEST".into(), "1".into())],
        Duration::from_secs(30),
    )
}

/// The transcript's readable text.
pub fn transcript_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("transcript/transcript.txt")).unwrap_or_default()
}

/// The transcript's JSON lines.
pub fn transcript_entries(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("transcript/transcript.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// Whether a process with this pid exists (signal 0).
pub fn alive(pid: i32) -> bool {
    // A zombie still answers signal 0; check its state too.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    !status.is_empty()
        && !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
}

/// Kills `pid` if it is still there (test cleanup).
pub struct KillOnDrop(pub i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
