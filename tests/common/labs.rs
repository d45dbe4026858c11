//! Running the labs binary (`steps/main.rs`, the `labs` test target) from a test, in a world of its
//! own (a temporary `$LABSIM_HOME`, reports folder and profile name), and finding what a run left
//! on the machine: processes (by PID and start time), mounts, labsim slots, profiles and
//! temporary directories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::TempDir;

/// The labs binary, built (or found up to date) by cargo once per test process.
pub fn labs_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "test",
                "--test",
                "labs",
                "--no-run",
                "--message-format=json-render-diagnostics",
                "--manifest-path",
            ])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo");
        assert!(out.status.success(), "cargo could not build the labs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "labs")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the labs executable")
    })
    .clone()
}

/// A world for labs runs: `$LABSIM_HOME`, reports, all under one temporary directory.
pub struct World {
    /// Holds everything; removed on drop.
    pub tmp: TempDir,
    /// `$LABSIM_HOME` of the runs.
    pub home: PathBuf,
    /// The profile name given to the runs.
    pub profile: String,
}

/// What a finished run printed and returned.
#[derive(Debug)]
pub struct Finished {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// How long it took.
    pub took: Duration,
}

impl Finished {
    /// Both streams, for messages.
    pub fn all(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

impl World {
    /// A fresh world; `tag` names it (profiles get `tag` as their name).
    pub fn new(tag: &str) -> Self {
        let tmp = TempDir::new(tag);
        Self {
            home: tmp.path().join("home"),
            profile: tag.to_string(),
            tmp,
        }
    }

    /// The command for a labs run in this world with `args` (after the world's own `--provider
    /// labsim --profile P --reports DIR/reports-N`). Output goes to files under the world.
    pub fn command(&self, run: usize, args: &[&str]) -> Command {
        let mut c = Command::new(labs_binary());
        c.args([
            "--provider",
            "labsim",
            "--profile",
            &self.profile,
            "--reports",
        ])
        .arg(self.reports(run))
        .args(args)
        .env("LABSIM_HOME", &self.home)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
        c
    }

    /// The reports folder of run `run`.
    pub fn reports(&self, run: usize) -> PathBuf {
        self.tmp.path().join(format!("reports-{run}"))
    }

    /// Runs the labs with `args` to the end, with `env` on top.
    pub fn run(&self, run: usize, args: &[&str], env: &[(&str, &str)]) -> Finished {
        let mut c = self.command(run, args);
        for (k, v) in env {
            c.env(k, v);
        }
        let started = Instant::now();
        let out = c.output().expect("start the labs");
        Finished {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: started.elapsed(),
        }
    }

    /// Everything of this world still on the machine: live processes started with its
    /// `$LABSIM_HOME` or naming it, mounts of it in any mount namespace, labsim slots held by its
    /// profiles, its profiles' directories, and `k8s-labs-*` host-file directories of its
    /// profile in the temp dir. `known` are processes seen during the run (PID, start time):
    /// those still alive are listed too.
    pub fn leftovers(&self, known: &BTreeSet<(u32, u64)>) -> Vec<String> {
        let home = self.home.display().to_string();
        let mut left = Vec::new();
        let me = std::process::id();
        for pid in pids() {
            if pid == me {
                continue;
            }
            let Some((state, start)) = stat(pid) else {
                continue;
            };
            if state == 'Z' {
                continue;
            }
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let with_home = format!("LABSIM_HOME={home}");
            let env_has_home = environ
                .split(|b| *b == 0)
                .any(|kv| kv == with_home.as_bytes());
            if known.contains(&(pid, start)) {
                left.push(format!("process {pid} (seen during the run): {cmd}"));
            } else if cmd.contains(&home) || env_has_home {
                left.push(format!("process {pid}: {cmd}"));
            }
            let mounts =
                std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
            if mounts.contains(&home) {
                left.push(format!("mounts of process {pid} include {home}"));
            }
        }
        if let Ok(rd) = std::fs::read_dir("/tmp/labsim-slots") {
            for e in rd.flatten() {
                let owner = std::fs::read_to_string(e.path()).unwrap_or_default();
                if owner.trim().starts_with(&home) {
                    left.push(format!("slot {:?} held by {}", e.file_name(), owner.trim()));
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.home.join("profiles")) {
            for e in rd.flatten() {
                left.push(format!("profile directory {}", e.path().display()));
            }
        }
        // The harness's host files for a cluster: `$TMPDIR/k8s-labs-cluster-<profile>-<pid>-…`.
        if let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) {
            let prefix = format!("k8s-labs-cluster-{}-", self.profile);
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    left.push(format!("host files {}", e.path().display()));
                }
            }
        }
        left
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Whatever a failed test left: delete the world's profiles with labsim itself.
        let Ok(rd) = std::fs::read_dir(self.home.join("profiles")) else {
            return;
        };
        let reports = std::fs::read_dir(self.tmp.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin/minikube"))
            .find(|p| p.exists());
        let Some(minikube) = reports else { return };
        for e in rd.flatten() {
            let _ = Command::new(&minikube)
                .args(["delete", "-p"])
                .arg(e.file_name())
                .env("LABSIM_HOME", &self.home)
                .stdin(Stdio::null())
                .output();
        }
    }
}

/// All PIDs.
pub fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A process's state letter, parent PID and start time.
pub fn stat_full(pid: u32) -> Option<(char, u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((
        rest.first()?.chars().next()?,
        rest.get(1)?.parse().ok()?,
        rest.get(19)?.parse().ok()?,
    ))
}

fn stat(pid: u32) -> Option<(char, u64)> {
    stat_full(pid).map(|(s, _, t)| (s, t))
}

/// The descendants of `root` now (PID and start time), `root` excluded.
pub fn descendants(root: u32) -> BTreeSet<(u32, u64)> {
    let table: Vec<(u32, u32, u64)> = pids()
        .into_iter()
        .filter_map(|p| stat_full(p).map(|(_, ppid, start)| (p, ppid, start)))
        .collect();
    let mut found = BTreeSet::new();
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for &(pid, ppid, start) in &table {
            if ppid == parent && found.insert((pid, start)) {
                parents.push(pid);
            }
        }
    }
    found
}
