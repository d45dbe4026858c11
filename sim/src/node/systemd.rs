//! The node's systemd: service units from `/etc/systemd/system`, their processes, restarts and
//! journal messages, following systemd 252 (the systemd of minikube's Debian-bookworm kicbase;
//! behaviour from systemd `src/core/service.c`, `src/core/unit.c`, `src/shared/install.c`).
//!
//! - A unit is loaded when first referenced and reloaded by `daemon-reload` (and by
//!   `enable`/`disable`, which reload the manager as systemctl does). An inactive unit is unloaded
//!   by systemd's garbage collection, so labsim re-reads it silently; a loaded unit that is active
//!   or failed keeps its old definition and systemctl warns that it changed on disk.
//! - The main process runs in its own process group, which stands in for the unit's cgroup: every
//!   process of the group is signalled on stop (`KillMode=control-group`) and when the main process
//!   exits, and `status` lists them.
//! - Its stdout and stderr go to the journal line by line, as `<SyslogIdentifier>[<main pid>]`.
//! - `Restart=` schedules a restart `RestartSec=` after the main process ends; meanwhile the unit
//!   is `activating (auto-restart)`. Starts are rate-limited by `StartLimitIntervalSec=`/
//!   `StartLimitBurst=` (default 5 in 10 s), counting restarts.
//! - Messages use the `combined` StatusUnitFormat that is Debian 12's default:
//!   `Started kubelet.service - kubelet: The Kubernetes Node Agent.`

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::journal::{Journal, Query};
use super::procs;
use super::proto::{ExitRecord, InstallChange, UnitFailure, UnitOutcome, UnitStatus};
use super::unit::{self, ServiceConfig, UnitError};
use crate::paths::node::LABSIM_BIN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Active {
    Inactive,
    Running,
    Activating,
    Deactivating,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Dead,
    Running,
    AutoRestart,
    StopSigterm,
    StopSigkill,
    Failed,
}

struct Service {
    name: String,
    config: Result<ServiceConfig, UnitError>,
    fingerprint: Vec<(PathBuf, Option<SystemTime>)>,
    active: Active,
    sub: Sub,
    result: &'static str,
    since: Option<Timestamp>,
    main: Option<u32>,
    pgid: Option<i32>,
    last_exit: Option<ExitRecord>,
    restart_count: u32,
    starts: VecDeque<Instant>,
    generation: u64,
    /// Runs inside the node agent itself ([`Systemd::host`]): the container runtime.
    hosted: bool,
}

impl Service {
    fn description(&self) -> String {
        match &self.config {
            Ok(c) => c.description.clone(),
            Err(_) => self.name.clone(),
        }
    }

    /// `kubelet.service - kubelet: The Kubernetes Node Agent` (StatusUnitFormat=combined).
    fn combined(&self) -> String {
        let d = self.description();
        if d == self.name {
            d
        } else {
            format!("{} - {d}", self.name)
        }
    }

    fn set(&mut self, active: Active, sub: Sub) {
        self.active = active;
        self.sub = sub;
        self.since = Some(Timestamp::now());
    }

    fn active_str(&self) -> &'static str {
        match self.active {
            Active::Inactive => "inactive",
            Active::Running => "active",
            Active::Activating => "activating",
            Active::Deactivating => "deactivating",
            Active::Failed => "failed",
        }
    }

    fn sub_str(&self) -> &'static str {
        match self.sub {
            Sub::Dead => "dead",
            Sub::Running => "running",
            Sub::AutoRestart => "auto-restart",
            Sub::StopSigterm => "stop-sigterm",
            Sub::StopSigkill => "stop-sigkill",
            Sub::Failed => "failed",
        }
    }
}

/// The status text systemd gives an exit status (`src/basic/exit-status.c`).
pub fn exit_status_name(code: i32) -> Option<&'static str> {
    Some(match code {
        0 => "SUCCESS",
        1 => "FAILURE",
        2 => "INVALIDARGUMENT",
        3 => "NOTIMPLEMENTED",
        4 => "NOPERMISSION",
        5 => "NOTINSTALLED",
        6 => "NOTCONFIGURED",
        7 => "NOTRUNNING",
        200 => "CHDIR",
        203 => "EXEC",
        209 => "STDOUT",
        _ => return None,
    })
}

/// The short name of a signal (`TERM`, `KILL`, …).
pub fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| s.as_str().trim_start_matches("SIG").to_string())
        .unwrap_or_else(|_| sig.to_string())
}

/// `status=1/FAILURE`, `status=9/KILL`, `status=42` as systemd prints them.
pub fn format_exit(code: &str, status: i32) -> String {
    if code == "killed" || code == "dumped" {
        format!("code={code}, status={status}/{}", signal_name(status))
    } else {
        match exit_status_name(status) {
            Some(n) => format!("code={code}, status={status}/{n}"),
            None => format!("code={code}, status={status}"),
        }
    }
}

struct Inner {
    unit_dir: PathBuf,
    journal: Arc<Journal>,
    services: Mutex<HashMap<String, Service>>,
}

/// The node's service manager (cheap to clone; all clones share one state).
#[derive(Clone)]
pub struct Systemd {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Systemd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Systemd")
            .field("unit_dir", &self.inner.unit_dir)
            .finish_non_exhaustive()
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn kill(pid: i32, sig: i32) {
    if let Ok(s) = Signal::try_from(sig) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
    }
}

/// The `[Install]` targets of a unit file and its drop-ins, read without loading the unit (a unit
/// with a bad setting can still be enabled).
fn install_targets(unit_dir: &Path, name: &str) -> Result<Vec<String>, UnitError> {
    let sources = unit::find_sources(unit_dir, name)?;
    let mut targets = Vec::new();
    for f in std::iter::once(&sources.fragment).chain(sources.dropins.iter()) {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for (section, entries) in unit::IniFile::parse(&text).sections {
            if section != "Install" {
                continue;
            }
            for (k, v) in entries {
                let kind = match k.as_str() {
                    "WantedBy" => "wants",
                    "RequiredBy" => "requires",
                    _ => continue,
                };
                for t in v.split_whitespace() {
                    targets.push(format!("{t}.{kind}"));
                }
            }
        }
    }
    Ok(targets)
}

impl Systemd {
    /// A manager reading units from `unit_dir` and logging to `journal`.
    pub fn new(unit_dir: &Path, journal: Arc<Journal>) -> Systemd {
        Systemd {
            inner: Arc::new(Inner {
                unit_dir: unit_dir.to_path_buf(),
                journal,
                services: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    fn load(&self, name: &str) -> Service {
        let (config, fingerprint) = match unit::load_service(&self.inner.unit_dir, name) {
            Ok((c, s)) => (Ok(c), s.fingerprint),
            Err(e) => {
                let fp = unit::find_sources(&self.inner.unit_dir, name)
                    .map(|s| s.fingerprint)
                    .unwrap_or_default();
                (Err(e), fp)
            }
        };
        if let Ok(c) = &config {
            for w in &c.warnings {
                self.journal().systemd(name, w);
            }
        }
        if let Err(UnitError::BadSetting { message, .. }) = &config {
            self.journal().systemd(name, &format!("{name}: {message}"));
        }
        Service {
            name: name.to_string(),
            config,
            fingerprint,
            active: Active::Inactive,
            sub: Sub::Dead,
            result: "success",
            since: None,
            main: None,
            pgid: None,
            last_exit: None,
            restart_count: 0,
            starts: VecDeque::new(),
            generation: 0,
            hosted: false,
        }
    }

    fn current_fingerprint(&self, name: &str) -> Vec<(PathBuf, Option<SystemTime>)> {
        unit::find_sources(&self.inner.unit_dir, name)
            .map(|s| s.fingerprint)
            .unwrap_or_default()
    }

    /// Looks a unit up, loading it if needed. `None` when no unit file exists and the unit is not
    /// loaded. The flag says whether its files changed on disk since loading.
    fn with_unit<R>(
        &self,
        name: &str,
        f: impl FnOnce(&Systemd, &mut Service, bool) -> R,
    ) -> Option<R> {
        let mut map = self.inner.services.lock().expect("systemd lock");
        let fp = self.current_fingerprint(name);
        let reload = match map.get(name) {
            None => true,
            // Garbage-collected in systemd: an inactive unit is re-read from disk.
            Some(s) => s.active == Active::Inactive && s.main.is_none() && s.fingerprint != fp,
        };
        if reload {
            if fp.is_empty() {
                // No unit file: an inactive unit is gone (garbage-collected).
                map.remove(name);
                return None;
            } else {
                let mut fresh = self.load(name);
                if let Some(old) = map.remove(name) {
                    fresh.starts = old.starts;
                    fresh.generation = old.generation + 1;
                    fresh.since = old.since;
                    fresh.last_exit = old.last_exit;
                    fresh.result = old.result;
                }
                map.insert(name.to_string(), fresh);
            }
        }
        let svc = map.get_mut(name)?;
        let changed = svc.fingerprint != fp;
        Some(f(self, svc, changed))
    }

    fn base_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_string(),
            format!("{LABSIM_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        );
        let id = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
            .map(|u| u.trim().replace('-', ""))
            .unwrap_or_default();
        env.insert("INVOCATION_ID".to_string(), id);
        if let Ok(tz) = std::env::var("TZ") {
            env.insert("TZ".to_string(), tz);
        }
        env
    }

    fn fail_start(&self, svc: &mut Service, result: &'static str) {
        let name = svc.name.clone();
        self.journal()
            .systemd(&name, &format!("{name}: Failed with result '{result}'."));
        self.journal()
            .systemd(&name, &format!("Failed to start {}.", svc.combined()));
        svc.result = result;
        svc.set(Active::Failed, Sub::Failed);
    }

    /// Starts the unit's main process (the caller holds the lock).
    fn start_locked(&self, svc: &mut Service) -> Result<(), UnitFailure> {
        let cfg = match &svc.config {
            Ok(c) => c.clone(),
            Err(UnitError::NotFound(_)) => return Err(UnitFailure::NotFound),
            Err(_) => return Err(UnitFailure::BadSetting),
        };
        if svc.main.is_some() && matches!(svc.active, Active::Running | Active::Deactivating) {
            return Ok(());
        }
        let name = svc.name.clone();
        let now = Instant::now();
        if !cfg.start_limit_interval.is_zero() && cfg.start_limit_burst > 0 {
            svc.starts
                .retain(|t| now.duration_since(*t) < cfg.start_limit_interval);
            if svc.starts.len() >= cfg.start_limit_burst as usize {
                self.journal().systemd(
                    &name,
                    &format!("{name}: Start request repeated too quickly."),
                );
                self.fail_start(svc, "start-limit-hit");
                return Err(UnitFailure::JobFailed);
            }
            svc.starts.push_back(now);
        }
        svc.generation += 1;
        let generation = svc.generation;

        let mut env = self.base_env();
        env.extend(cfg.environment.iter().cloned());
        for (file, optional) in &cfg.environment_files {
            match std::fs::read_to_string(file) {
                Ok(text) => env.extend(unit::parse_env_file(&text)),
                Err(_) if *optional => {}
                Err(e) => {
                    self.journal().systemd(
                        &name,
                        &format!("{name}: Failed to load environment files: {e}"),
                    );
                    self.journal()
                        .systemd(&name, &format!("{name}: Failed to run 'start' task: {e}"));
                    self.fail_start(svc, "resources");
                    return Err(UnitFailure::JobFailed);
                }
            }
        }
        let argv = cfg.exec_start.expand(&env);
        let path = PathBuf::from(&cfg.exec_start.path);
        let spawned = if is_executable(&path) {
            let mut cmd = tokio::process::Command::new(&path);
            std::os::unix::process::CommandExt::arg0(
                cmd.as_std_mut(),
                argv.first().cloned().unwrap_or_default(),
            );
            cmd.args(argv.iter().skip(1))
                .env_clear()
                .envs(&env)
                .current_dir(
                    cfg.working_directory
                        .clone()
                        .unwrap_or_else(|| PathBuf::from("/")),
                )
                .process_group(0)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn()
        } else {
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        };
        self.journal()
            .systemd(&name, &format!("Started {}.", svc.combined()));
        svc.restart_count = if svc.sub == Sub::AutoRestart {
            svc.restart_count
        } else {
            0
        };
        svc.result = "success";
        svc.last_exit = None;
        match spawned {
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                svc.main = Some(pid);
                svc.pgid = Some(pid as i32);
                svc.set(Active::Running, Sub::Running);
                for stream in [
                    child
                        .stdout
                        .take()
                        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                    child
                        .stderr
                        .take()
                        .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
                ]
                .into_iter()
                .flatten()
                {
                    let journal = self.inner.journal.clone();
                    let (unit, ident) = (name.clone(), cfg.syslog_identifier.clone());
                    tokio::spawn(async move {
                        let mut lines = BufReader::new(stream).lines();
                        while let Ok(Some(line)) = lines.next_line().await {
                            journal.log(Some(&unit), &ident, pid, &line);
                        }
                    });
                }
                let me = self.clone();
                tokio::spawn(async move {
                    let status = child.wait().await;
                    let (code, sig) = match status {
                        Ok(s) => (s.code(), s.signal()),
                        Err(_) => (Some(1), None),
                    };
                    me.on_exit(&name, generation, pid, code, sig);
                });
            }
            Err(e) => {
                // What a forked child reports when exec fails (systemd `src/core/execute.c`).
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "No such file or directory".to_string()
                } else {
                    e.to_string()
                };
                self.journal().systemd(
                    &name,
                    &format!(
                        "{name}: Failed to locate executable {}: {why}",
                        path.display()
                    ),
                );
                self.journal().systemd(
                    &name,
                    &format!(
                        "{name}: Failed at step EXEC spawning {}: {why}",
                        path.display()
                    ),
                );
                svc.main = Some(0);
                svc.set(Active::Running, Sub::Running);
                let me = self.clone();
                tokio::spawn(async move {
                    me.on_exit(&name, generation, 0, Some(203), None);
                });
            }
        }
        Ok(())
    }

    fn kill_group(&self, svc: &Service, sig: i32) {
        if let Some(pgid) = svc.pgid {
            for m in procs::group_members(pgid) {
                kill(m.pid, sig);
            }
        }
    }

    fn on_exit(&self, name: &str, generation: u64, pid: u32, code: Option<i32>, sig: Option<i32>) {
        let mut map = self.inner.services.lock().expect("systemd lock");
        let Some(svc) = map.get_mut(name) else {
            return;
        };
        if svc.generation != generation {
            return;
        }
        let Ok(cfg) = svc.config.clone() else {
            return;
        };
        svc.main = None;
        let (code_str, status) = match (code, sig) {
            (_, Some(s)) => ("killed", s),
            (Some(c), None) => ("exited", c),
            (None, None) => ("exited", 1),
        };
        svc.last_exit = Some(ExitRecord {
            pid,
            exec: cfg.exec_start.raw.clone(),
            code: code_str.to_string(),
            status,
        });
        // Whatever else ran in the unit goes with its main process.
        self.kill_group(svc, cfg.kill_signal);
        if let Some(pgid) = svc.pgid {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                for m in procs::group_members(pgid) {
                    kill(m.pid, 9);
                }
            });
        }
        let j = &self.inner.journal;
        let described = format_exit(code_str, status);
        if svc.active == Active::Deactivating {
            let stopped_cleanly = code == Some(0) || sig == Some(cfg.kill_signal);
            if svc.sub == Sub::StopSigkill {
                j.systemd(name, &format!("{name}: Main process exited, {described}"));
                j.systemd(name, &format!("{name}: Failed with result 'timeout'."));
                svc.result = "timeout";
            } else if stopped_cleanly || cfg.exec_start.ignore_failure {
                j.systemd(name, &format!("{name}: Deactivated successfully."));
                svc.result = "success";
            } else {
                j.systemd(name, &format!("{name}: Main process exited, {described}"));
                let result = if sig.is_some() { "signal" } else { "exit-code" };
                j.systemd(name, &format!("{name}: Failed with result '{result}'."));
                svc.result = result;
            }
            j.systemd(name, &format!("Stopped {}.", svc.combined()));
            if svc.result == "success" {
                svc.set(Active::Inactive, Sub::Dead);
            } else {
                svc.set(Active::Failed, Sub::Failed);
            }
            return;
        }
        let clean = code == Some(0)
            || sig.is_some_and(|s| [1, 2, 13, 15].contains(&s))
            || cfg.exec_start.ignore_failure;
        if clean {
            j.systemd(name, &format!("{name}: Deactivated successfully."));
            svc.result = "success";
        } else {
            j.systemd(name, &format!("{name}: Main process exited, {described}"));
            let result = if sig.is_some() { "signal" } else { "exit-code" };
            j.systemd(name, &format!("{name}: Failed with result '{result}'."));
            svc.result = result;
        }
        let exit_code = if cfg.exec_start.ignore_failure {
            Some(0)
        } else {
            code
        };
        if cfg.restart.restarts(exit_code, sig) {
            svc.set(Active::Activating, Sub::AutoRestart);
            let me = self.clone();
            let name = name.to_string();
            let delay = cfg.restart_sec;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                me.auto_restart(&name, generation);
            });
        } else if clean {
            svc.set(Active::Inactive, Sub::Dead);
        } else {
            svc.set(Active::Failed, Sub::Failed);
        }
    }

    fn auto_restart(&self, name: &str, generation: u64) {
        let mut map = self.inner.services.lock().expect("systemd lock");
        let Some(svc) = map.get_mut(name) else {
            return;
        };
        if svc.generation != generation || svc.sub != Sub::AutoRestart {
            return;
        }
        svc.restart_count += 1;
        let j = &self.inner.journal;
        j.systemd(
            name,
            &format!(
                "{name}: Scheduled restart job, restart counter is at {}.",
                svc.restart_count
            ),
        );
        j.systemd(name, &format!("Stopped {}.", svc.combined()));
        let _ = self.start_locked(svc);
    }

    /// Marks the unit `name` as starting in the agent's own process: labsim hosts the container
    /// runtime in the node agent, so `containerd.service` is active while the runtime serves
    /// ([`Systemd::hosted_started`]), with the agent as its main process (`systemctl status` lists
    /// it) and the runtime's log as its journal. Such a unit cannot be stopped or restarted
    /// through systemctl ([`UnitFailure::NotImplemented`]). `false` when the unit has no usable
    /// unit file.
    pub fn host(&self, name: &str) -> bool {
        self.with_unit(name, |me, svc, _| {
            if svc.config.is_err() {
                return false;
            }
            me.journal()
                .systemd(name, &format!("Starting {}...", svc.combined()));
            svc.hosted = true;
            svc.main = Some(std::process::id());
            svc.pgid = None;
            svc.result = "success";
            svc.set(Active::Activating, Sub::Running);
            true
        })
        .unwrap_or(false)
    }

    /// The hosted unit `name` is up (`ok`) or failed to start.
    pub fn hosted_started(&self, name: &str, ok: bool) {
        let mut map = self.inner.services.lock().expect("systemd lock");
        let Some(svc) = map.get_mut(name).filter(|s| s.hosted) else {
            return;
        };
        if ok {
            self.inner
                .journal
                .systemd(name, &format!("Started {}.", svc.combined()));
            svc.set(Active::Running, Sub::Running);
        } else {
            svc.hosted = false;
            svc.main = None;
            self.fail_start(svc, "exit-code");
        }
    }

    /// The hosted unit `name` stopped with the agent's runtime (node shutdown).
    pub fn unhost(&self, name: &str) {
        let mut map = self.inner.services.lock().expect("systemd lock");
        let Some(svc) = map.get_mut(name).filter(|s| s.hosted) else {
            return;
        };
        let combined = svc.combined();
        let j = &self.inner.journal;
        j.systemd(name, &format!("Stopping {combined}..."));
        j.systemd(name, &format!("{name}: Deactivated successfully."));
        j.systemd(name, &format!("Stopped {combined}."));
        svc.hosted = false;
        svc.main = None;
        svc.set(Active::Inactive, Sub::Dead);
    }

    /// Starts units enabled for `multi-user.target` (what the node does at boot), in name order.
    pub fn boot(&self) {
        let wants = self.inner.unit_dir.join("multi-user.target.wants");
        let mut names: Vec<String> = std::fs::read_dir(&wants)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .filter(|n| n.ends_with(".service"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for n in names {
            let _ = self.with_unit(&n, |me, svc, _| me.start_locked(svc));
        }
    }

    /// `systemctl start`.
    pub async fn start(&self, name: &str) -> UnitOutcome {
        self.wait_not_deactivating(name).await;
        let mut result = None;
        let r = self.with_unit(name, |me, svc, changed| {
            let r = me.start_locked(svc);
            result = Some(svc.result);
            (r, changed)
        });
        let mut out = outcome(name, r);
        if out.failure == Some(UnitFailure::JobFailed) {
            // systemctl explains a failed job by the unit's result.
            out.state = result.map(String::from);
        }
        out
    }

    async fn wait_not_deactivating(&self, name: &str) {
        loop {
            let busy = {
                let map = self.inner.services.lock().expect("systemd lock");
                map.get(name)
                    .is_some_and(|s| s.active == Active::Deactivating)
            };
            if !busy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `systemctl stop`: waits until the unit has stopped (SIGKILL after `TimeoutStopSec=`).
    pub async fn stop(&self, name: &str) -> UnitOutcome {
        let r = self.with_unit(name, |me, svc, changed| {
            let r = me.begin_stop(svc);
            (r, changed)
        });
        let mut out = outcome(name, r);
        if out.failure == Some(UnitFailure::NotFound) {
            // systemctl stop names units the manager does not know "not loaded".
            out.failure = Some(UnitFailure::NotLoaded);
        }
        self.wait_not_deactivating(name).await;
        out
    }

    fn begin_stop(&self, svc: &mut Service) -> Result<(), UnitFailure> {
        if svc.hosted {
            return Err(UnitFailure::NotImplemented);
        }
        let name = svc.name.clone();
        match (svc.active, svc.main) {
            (Active::Activating, _) => {
                svc.generation += 1;
                self.journal()
                    .systemd(&name, &format!("Stopped {}.", svc.combined()));
                svc.set(Active::Inactive, Sub::Dead);
            }
            (Active::Running, Some(pid)) => {
                let Ok(cfg) = svc.config.clone() else {
                    return Ok(());
                };
                self.journal()
                    .systemd(&name, &format!("Stopping {}...", svc.combined()));
                svc.set(Active::Deactivating, Sub::StopSigterm);
                if cfg.kill_main_only {
                    kill(pid as i32, cfg.kill_signal);
                } else {
                    self.kill_group(svc, cfg.kill_signal);
                }
                if cfg.timeout_stop < Duration::from_secs(86400 * 365) {
                    let me = self.clone();
                    let generation = svc.generation;
                    tokio::spawn(async move {
                        tokio::time::sleep(cfg.timeout_stop).await;
                        me.stop_timed_out(&name, generation);
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn stop_timed_out(&self, name: &str, generation: u64) {
        let mut map = self.inner.services.lock().expect("systemd lock");
        let Some(svc) = map.get_mut(name) else {
            return;
        };
        if svc.generation != generation || svc.active != Active::Deactivating {
            return;
        }
        let j = &self.inner.journal;
        j.systemd(
            name,
            &format!("{name}: State 'stop-sigterm' timed out. Killing."),
        );
        if let Some(pgid) = svc.pgid {
            for m in procs::group_members(pgid) {
                j.systemd(
                    name,
                    &format!(
                        "{name}: Killing process {} ({}) with signal SIGKILL.",
                        m.pid, m.comm
                    ),
                );
                kill(m.pid, 9);
            }
        }
        svc.sub = Sub::StopSigkill;
    }

    /// `systemctl restart`.
    pub async fn restart(&self, name: &str) -> UnitOutcome {
        let stopped = self.stop(name).await;
        if stopped.failure.is_some() && stopped.failure != Some(UnitFailure::NotLoaded) {
            return stopped;
        }
        let mut started = self.start(name).await;
        started.changed_on_disk |= stopped.changed_on_disk;
        started
    }

    /// `systemctl reset-failed`.
    pub fn reset_failed(&self, name: &str) -> UnitOutcome {
        let r = self.with_unit(name, |_, svc, changed| {
            if svc.active == Active::Failed {
                svc.result = "success";
                svc.active = Active::Inactive;
                svc.sub = Sub::Dead;
            }
            svc.starts.clear();
            (Ok(()), changed)
        });
        outcome(name, r)
    }

    /// `systemctl is-active`: `active`, `activating`, `deactivating`, `inactive` or `failed`.
    pub fn is_active(&self, name: &str) -> String {
        let map = self.inner.services.lock().expect("systemd lock");
        map.get(name)
            .map(|s| s.active_str().to_string())
            .unwrap_or_else(|| "inactive".to_string())
    }

    /// `systemctl is-enabled`: `enabled`, `disabled` or `static`.
    ///
    /// # Errors
    /// [`UnitFailure::NotFound`] when there is no unit file.
    pub fn is_enabled(&self, name: &str) -> Result<String, UnitFailure> {
        let targets =
            install_targets(&self.inner.unit_dir, name).map_err(|_| UnitFailure::NotFound)?;
        let linked = std::fs::read_dir(&self.inner.unit_dir)
            .map(|rd| {
                rd.flatten().any(|d| {
                    let n = d.file_name();
                    let n = n.to_string_lossy();
                    (n.ends_with(".wants") || n.ends_with(".requires"))
                        && d.path().join(name).symlink_metadata().is_ok()
                })
            })
            .unwrap_or(false);
        Ok(if linked {
            "enabled"
        } else if targets.is_empty() {
            "static"
        } else {
            "disabled"
        }
        .to_string())
    }

    /// `systemctl enable`: a symlink in each `WantedBy=`/`RequiredBy=` target's directory.
    pub fn enable(&self, name: &str) -> UnitOutcome {
        let mut out = UnitOutcome {
            unit: name.to_string(),
            failure: None,
            state: None,
            changed_on_disk: false,
            changes: Vec::new(),
            status: None,
        };
        let targets = match install_targets(&self.inner.unit_dir, name) {
            Ok(t) => t,
            Err(_) => {
                out.failure = Some(UnitFailure::NotFound);
                return out;
            }
        };
        if targets.is_empty() {
            out.failure = Some(UnitFailure::NoInstallSection);
            return out;
        }
        let fragment = self.inner.unit_dir.join(name);
        for t in targets {
            let dir = self.inner.unit_dir.join(&t);
            let link = dir.join(name);
            if std::fs::read_link(&link).is_ok_and(|l| l == fragment) {
                continue;
            }
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::remove_file(&link);
            if std::os::unix::fs::symlink(&fragment, &link).is_ok() {
                out.changes.push(InstallChange::Symlink {
                    path: link.display().to_string(),
                    target: fragment.display().to_string(),
                });
            }
        }
        self.daemon_reload();
        out
    }

    /// `systemctl disable`: removes the unit's symlinks from every target directory.
    pub fn disable(&self, name: &str) -> UnitOutcome {
        let mut out = UnitOutcome {
            unit: name.to_string(),
            failure: None,
            state: None,
            changed_on_disk: false,
            changes: Vec::new(),
            status: None,
        };
        if install_targets(&self.inner.unit_dir, name).is_err() {
            out.failure = Some(UnitFailure::NotFound);
            return out;
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&self.inner.unit_dir)
            .map(|rd| {
                rd.flatten()
                    .map(|d| d.path())
                    .filter(|p| {
                        p.file_name().is_some_and(|n| {
                            let n = n.to_string_lossy();
                            n.ends_with(".wants") || n.ends_with(".requires")
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        for d in dirs {
            let link = d.join(name);
            if link.symlink_metadata().is_ok() && std::fs::remove_file(&link).is_ok() {
                out.changes.push(InstallChange::Unlink {
                    path: link.display().to_string(),
                });
            }
        }
        self.daemon_reload();
        out
    }

    /// `systemctl daemon-reload`: every loaded unit re-reads its files; running processes keep
    /// running.
    pub fn daemon_reload(&self) {
        let mut map = self.inner.services.lock().expect("systemd lock");
        let names: Vec<String> = map.keys().cloned().collect();
        for name in names {
            let fresh = self.load(&name);
            let Some(svc) = map.get_mut(&name) else {
                continue;
            };
            svc.fingerprint = fresh.fingerprint;
            svc.config = fresh.config;
        }
    }

    /// `systemctl status`, with the unit's last `lines` journal entries.
    ///
    /// # Errors
    /// [`UnitFailure::NotFound`] when the unit neither exists nor is loaded.
    pub fn status(&self, name: &str, lines: usize) -> Result<(UnitStatus, bool), UnitFailure> {
        let r = self.with_unit(name, |me, svc, changed| {
            let processes: Vec<procs::Stat> = if svc.hosted {
                svc.main
                    .and_then(|p| procs::stat(p as i32))
                    .into_iter()
                    .collect()
            } else {
                svc.pgid.map(procs::group_members).unwrap_or_default()
            };
            let (load_state, load_error) = match &svc.config {
                Ok(_) => ("loaded", None),
                Err(UnitError::NotFound(_)) => ("not-found", None),
                Err(e @ UnitError::BadSetting { .. }) => ("bad-setting", Some(e.to_string())),
                Err(e) => ("error", Some(e.to_string())),
            };
            let main_pid = svc.main.filter(|p| *p != 0).map(|p| {
                let comm = procs::stat(p as i32).map(|s| s.comm).unwrap_or_default();
                (p, comm)
            });
            let journal = if lines > 0 {
                // systemctl status shows the current boot's entries only.
                me.journal().query(&Query {
                    units: vec![name.to_string()],
                    lines: Some(lines),
                    boot: Some(me.journal().boot().to_string()),
                    ..Query::default()
                })
            } else {
                Vec::new()
            };
            let status = UnitStatus {
                name: svc.name.clone(),
                description: svc.description(),
                load_state: load_state.to_string(),
                load_error,
                fragment_path: svc
                    .config
                    .as_ref()
                    .map(|c| c.fragment_path.display().to_string())
                    .ok()
                    .or_else(|| Some(me.inner.unit_dir.join(name).display().to_string())),
                dropins: svc
                    .config
                    .as_ref()
                    .map(|c| c.dropins.iter().map(|d| d.display().to_string()).collect())
                    .unwrap_or_default(),
                unit_file_state: me.is_enabled(name).unwrap_or_else(|_| "disabled".into()),
                preset: "enabled".to_string(),
                active_state: svc.active_str().to_string(),
                sub_state: svc.sub_str().to_string(),
                result: svc.result.to_string(),
                since_us: svc.since.map(|t| t.as_microsecond()),
                documentation: svc
                    .config
                    .as_ref()
                    .map(|c| c.documentation.clone())
                    .unwrap_or_default(),
                main_pid,
                last_exit: if svc.main.is_none() {
                    svc.last_exit.clone()
                } else {
                    None
                },
                tasks: processes.iter().map(|p| p.threads).sum(),
                processes: processes
                    .iter()
                    .map(|p| (p.pid as u32, display_cmdline(p.pid, &p.comm)))
                    .collect(),
                journal,
            };
            (status, changed)
        });
        r.ok_or(UnitFailure::NotFound)
    }

    /// Stops every running unit (node shutdown), in parallel.
    pub async fn shutdown(&self) {
        let names: Vec<String> = {
            let map = self.inner.services.lock().expect("systemd lock");
            map.values()
                .filter(|s| matches!(s.active, Active::Running | Active::Activating) && !s.hosted)
                .map(|s| s.name.clone())
                .collect()
        };
        let stops = names.iter().map(|n| self.stop(n));
        futures::future::join_all(stops).await;
    }
}

/// A process's command line as `systemctl status` lists it: arguments with spaces or quotes are
/// double-quoted (systemd `get_process_cmdline` with `PROCESS_CMDLINE_QUOTE`).
fn display_cmdline(pid: i32, comm: &str) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        return format!("[{comm}]");
    }
    args.iter()
        .map(|a| {
            if a.is_empty()
                || a.chars().any(|c| {
                    c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '$' | ';' | '&' | '|')
                })
            {
                format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn outcome(name: &str, r: Option<(Result<(), UnitFailure>, bool)>) -> UnitOutcome {
    let (failure, changed) = match r {
        None => (Some(UnitFailure::NotFound), false),
        Some((r, c)) => (r.err(), c),
    };
    UnitOutcome {
        unit: name.to_string(),
        failure,
        state: None,
        changed_on_disk: changed,
        changes: Vec::new(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_as_systemd_prints_them() {
        assert_eq!(format_exit("exited", 1), "code=exited, status=1/FAILURE");
        assert_eq!(format_exit("exited", 203), "code=exited, status=203/EXEC");
        assert_eq!(format_exit("exited", 42), "code=exited, status=42");
        assert_eq!(format_exit("killed", 9), "code=killed, status=9/KILL");
        assert_eq!(format_exit("killed", 15), "code=killed, status=15/TERM");
    }
}
