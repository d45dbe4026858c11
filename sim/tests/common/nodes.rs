//! Shared helpers for labsim's integration tests: a temporary `$LABSIM_HOME` with a `minikube`
//! symlink to the built labsim binary, command runners, output normalisation for snapshots, and
//! checks that nothing of a profile is left behind. Everything a test creates is removed by
//! [`Lab`]'s `Drop`, also when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a command printed and returned.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// `exit_code / stdout / stderr` as one text, for snapshots.
    pub fn transcript(&self) -> String {
        format!(
            "exit_code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A temporary labsim world.
pub struct Lab {
    /// The temporary directory (holds `home/` and `bin/minikube`).
    pub dir: PathBuf,
    /// `$LABSIM_HOME`.
    pub home: PathBuf,
    /// The `minikube` symlink.
    pub minikube: PathBuf,
}

impl Lab {
    /// A fresh world; `tag` names it in /tmp.
    pub fn new(tag: &str) -> Lab {
        assert!(
            nix::unistd::geteuid().is_root(),
            "labsim's node tests need root (namespaces, mounts, port 22 on node IPs)"
        );
        // Fixed-width names: boxes sized by a path in them keep their width in snapshots.
        let dir = std::env::temp_dir().join(format!(
            "labsim-it-{tag}-{:010}-{:020}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let minikube = bin.join("minikube");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_labsim"), &minikube).unwrap();
        Lab {
            home: dir.join("home"),
            dir,
            minikube,
        }
    }

    /// Runs `minikube ARGS` with this world's `$LABSIM_HOME`.
    pub fn minikube(&self, args: &[&str]) -> Out {
        run(Command::new(&self.minikube)
            .args(args)
            .env("LABSIM_HOME", &self.home)
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .env_remove("KUBERNETES_VERSION"))
    }

    /// Runs `minikube ARGS` with `input` on its stdin.
    pub fn minikube_stdin(&self, args: &[&str], input: &str) -> Out {
        use std::io::Write;
        let mut child = Command::new(&self.minikube)
            .args(args)
            .env("LABSIM_HOME", &self.home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run labsim");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Runs `minikube ARGS` with extra environment.
    pub fn minikube_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = Command::new(&self.minikube);
        c.args(args)
            .env("LABSIM_HOME", &self.home)
            .env("KUBECONFIG", self.dir.join("kubeconfig"));
        for (k, v) in env {
            c.env(k, v);
        }
        run(&mut c)
    }

    /// `minikube ssh -p PROFILE -n NODE -- SCRIPT`, asserting success, with CRLF turned back into LF.
    pub fn sh(&self, profile: &str, node: &str, script: &str) -> String {
        let o = self.minikube(&["ssh", "-p", profile, "-n", node, "--", script]);
        assert_eq!(o.code, 0, "ssh {node} -- {script}: {}", o.transcript());
        o.stdout.replace("\r\n", "\n")
    }

    /// Starts a profile of `nodes` nodes, asserting success.
    pub fn start(&self, profile: &str, nodes: usize) -> Out {
        let n = nodes.to_string();
        let o = self.minikube(&["start", "--no-kubernetes", "--nodes", &n, "-p", profile]);
        assert_eq!(o.code, 0, "start {profile}: {}", o.transcript());
        o
    }

    /// The profile's directory.
    pub fn profile_dir(&self, profile: &str) -> PathBuf {
        self.home.join("profiles").join(profile)
    }

    /// The host PID of a running node's PID 1.
    pub fn init_pid(&self, profile: &str, node: &str) -> i32 {
        let state = self
            .profile_dir(profile)
            .join("nodes")
            .join(node)
            .join("state.json");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
        v["init_pid"].as_i64().unwrap() as i32
    }

    /// Normalises a transcript for snapshots: node IPs, paths of this world, timestamps, PIDs.
    pub fn normalize(&self, s: &str) -> String {
        let s = s.replace(&self.dir.display().to_string(), "[LAB]");
        // The slot's octet, replaced by as many characters to keep tables aligned.
        let s = regex::Regex::new(r"127\.1\d\d\.(\d+)\.(\d+)")
            .unwrap()
            .replace_all(&s, "127.1ss.$1.$2")
            .into_owned();
        let s = regex::Regex::new(r"on Debian [0-9.]+|on [A-Z][a-z]+ [0-9.]+")
            .unwrap()
            .replace_all(&s, "on [HOST OS]")
            .into_owned();
        let s = regex::Regex::new(r"Memory=\d+MB")
            .unwrap()
            .replace_all(&s, "Memory=[MEM]MB")
            .into_owned();
        let s = regex::Regex::new(r"[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2}")
            .unwrap()
            .replace_all(&s, "[TIME]")
            .into_owned();
        let s = regex::Regex::new(
            r"since [A-Z][a-z]{2} \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+; [^\n]+ ago",
        )
        .unwrap()
        .replace_all(&s, "since [TIMESTAMP]; [AGO] ago")
        .into_owned();
        let s = regex::Regex::new(r"minikube_([a-z_]+)_[0-9a-f]{40}_0\.log")
            .unwrap()
            .replace_all(&s, "minikube_${1}_[SHA1]_0.log")
            .into_owned();
        let s = regex::Regex::new(r"-- Boot [0-9a-f]{32} --")
            .unwrap()
            .replace_all(&s, "-- Boot [BOOT ID] --")
            .into_owned();
        regex::Regex::new(r"\[\d+\]: ")
            .unwrap()
            .replace_all(&s, "[PID]: ")
            .into_owned()
    }

    /// Everything of this world still on the machine: live processes mentioning it, mounts in any
    /// namespace from it, slots it holds, and (for `profile`) its directory.
    pub fn leftovers(&self, profile: &str) -> Vec<String> {
        let home = self.home.display().to_string();
        let mut left = Vec::new();
        for pid in pids() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
            {
                continue;
            }
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .unwrap_or_default();
            if cmd.contains(&home) {
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
        if self.profile_dir(profile).exists() {
            left.push(format!("directory {}", self.profile_dir(profile).display()));
        }
        left
    }
}

fn pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// A process, by PID and start time (`/proc/<pid>/stat` field 22).
pub type ProcessId = (i32, u64);

fn stat_of(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((rest.first()?.chars().next()?, rest.get(19)?.parse().ok()?))
}

/// Live processes for which `f(pid)` holds.
pub fn processes_where(f: impl Fn(i32) -> bool) -> Vec<ProcessId> {
    pids()
        .into_iter()
        .filter(|&p| f(p))
        .filter_map(|p| match stat_of(p) {
            Some((state, start)) if state != 'Z' => Some((p, start)),
            _ => None,
        })
        .collect()
}

/// Whether a process is still alive (same PID, same start time, not a zombie).
pub fn alive(p: &ProcessId) -> bool {
    stat_of(p.0).is_some_and(|(state, start)| state != 'Z' && start == p.1)
}

/// Runs a command with no stdin and captures its output.
pub fn run(c: &mut Command) -> Out {
    let o = c.stdin(Stdio::null()).output().expect("run labsim");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Whether something answers on `ip:22` (and what it says first).
pub fn banner(ip: &str) -> Option<String> {
    use std::io::Read;
    let addr: std::net::SocketAddr = format!("{ip}:22").parse().unwrap();
    let mut s =
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = run(Command::new(&self.minikube)
            .args(["delete", "--all"])
            .env("LABSIM_HOME", &self.home));
        // Should anything survive (a failed test), kill it by what it mentions.
        let home = self.home.display().to_string();
        for pid in pids() {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains(&home) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if let Ok(rd) = std::fs::read_dir("/tmp/labsim-slots") {
            for e in rd.flatten() {
                let owner = std::fs::read_to_string(e.path()).unwrap_or_default();
                if owner.trim().starts_with(&home) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits up to `secs` for `f` to hold, polling every 50 ms; returns whether it did.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The node IP of `node` as `minikube ip` prints it.
pub fn ip_of(lab: &Lab, profile: &str, node: &str) -> String {
    let o = lab.minikube(&["ip", "-p", profile, "-n", node]);
    assert_eq!(o.code, 0, "{}", o.transcript());
    o.stdout.trim().to_string()
}

/// Whether `path` exists on the host.
pub fn host_has(path: &str) -> bool {
    Path::new(path).exists()
}
