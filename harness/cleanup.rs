//! The one registry of what a run creates, so that nothing outlives it.
//!
//! Everything a run makes that would survive the harness's own process is registered here when it
//! is created: minikube profiles (and with them their nodes), background processes (`kubectl
//! proxy`, an `etcdctl watch` held open through `minikube ssh`, port-forwards), the jumpbox
//! container, and temporary directories on the host. Each registration names the transcript that
//! reports its release.
//!
//! A resource's owner usually releases it itself (a scenario deletes its profile, a step stops
//! the proxy, a directory is removed when its guard drops) and tells the registry
//! ([`Registration::released`]). Whatever is still registered when the run ends — however it
//! ends: success, failure, panic, timeout, SIGINT, SIGTERM — is released by
//! [`Registry::release_all`], newest first (a proxy before the cluster it talks to), each release
//! reported in its transcript and returned as a line for the terminal. `--keep-on-failure` marks a
//! failed scenario's cluster [kept](Registration::keep): it is listed with how to reach and delete
//! it, and not released.
//!
//! Releases come in two speeds ([`Urgency`]): orderly (one at a time, normal timeouts) and fast
//! (after a second SIGINT: everything at once, short timeouts, processes killed outright).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use crate::runner::{Command, Runner};
use crate::transcript::{Transcript, shell_join, shell_quote};

/// How urgently the registry releases what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// One release after the other, newest first, with the normal timeouts.
    Orderly,
    /// Everything at once with short timeouts: the user asked for a fast exit (second SIGINT).
    Fast,
}

/// How long a fast release may take per resource.
pub const FAST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long an orderly release may take per resource (`minikube delete` of a real cluster).
pub const ORDERLY_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What releasing one resource came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It is gone; the text says how.
    Released(String),
    /// It was kept on purpose; the text says how to reach and delete it.
    Kept(String),
    /// It could not be released; the text says why and how to do it by hand.
    Failed(String),
}

/// One release, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The resource (`minikube profile k8s-labs`).
    pub what: String,
    /// What happened.
    pub outcome: Outcome,
}

impl fmt::Display for Released {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Released(how) => write!(f, "released {}: {how}", self.what),
            Outcome::Kept(how) => write!(f, "kept {}: {how}", self.what),
            Outcome::Failed(why) => write!(f, "could not release {}: {why}", self.what),
        }
    }
}

/// Something a run created that must not outlive it.
pub trait Resource: Send + Sync + fmt::Debug {
    /// What it is, for people (`minikube profile k8s-labs`).
    fn what(&self) -> String;

    /// Releases it, running any command through `runner` (so it lands in the transcript).
    /// `Ok` says how it was released, `Err` what failed and how to release it by hand.
    fn release<'a>(
        &'a self,
        runner: &'a Runner,
        urgency: Urgency,
    ) -> BoxFuture<'a, Result<String, String>>;
}

struct Entry {
    id: u64,
    resource: Arc<dyn Resource>,
    report: Transcript,
    env: Vec<(String, String)>,
    kept: Option<String>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    entries: Vec<Entry>,
}

/// The run's registry. Cheap to clone; clones share the entries.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.pending()).finish()
    }
}

/// A registered resource. Dropping the handle leaves the resource registered (it is released when
/// the run ends); [`released`](Self::released), [`release`](Self::release) and
/// [`keep`](Self::keep) settle it.
#[must_use = "a registration is settled with released(), release() or keep()"]
pub struct Registration {
    registry: Registry,
    id: u64,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self
            .registry
            .with_entry(self.id, |e| e.resource.what())
            .unwrap_or_else(|| "(settled)".into());
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("what", &what)
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_entry<T>(&self, id: u64, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        self.lock().entries.iter_mut().find(|e| e.id == id).map(f)
    }

    /// Registers `resource`; its release is reported in `report`, whose commands get `env`.
    pub fn register(
        &self,
        resource: impl Resource + 'static,
        report: &Transcript,
        env: Vec<(String, String)>,
    ) -> Registration {
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        inner.entries.push(Entry {
            id,
            resource: Arc::new(resource),
            report: report.clone(),
            env,
            kept: None,
        });
        Registration {
            registry: self.clone(),
            id,
        }
    }

    /// What is registered and not settled, oldest first (kept ones say so).
    #[must_use]
    pub fn pending(&self) -> Vec<String> {
        self.lock()
            .entries
            .iter()
            .map(|e| match &e.kept {
                Some(_) => format!("{} (kept)", e.resource.what()),
                None => e.resource.what(),
            })
            .collect()
    }

    /// Whether anything is still registered and not kept.
    #[must_use]
    pub fn is_clear(&self) -> bool {
        self.lock().entries.iter().all(|e| e.kept.is_some())
    }

    /// How to reach and delete each kept resource.
    #[must_use]
    pub fn kept(&self) -> Vec<Released> {
        self.lock()
            .entries
            .iter()
            .filter_map(|e| {
                e.kept.as_ref().map(|how| Released {
                    what: e.resource.what(),
                    outcome: Outcome::Kept(how.clone()),
                })
            })
            .collect()
    }

    /// Releases everything registered and not kept, newest first (fast: all at once), reports
    /// each release in its transcript, and returns the reports. An entry leaves the registry only
    /// once released: what fails stays for a later call, and so does everything when this future
    /// is dropped half-way (a second SIGINT turning an orderly clean-up into a fast one).
    pub async fn release_all(&self, urgency: Urgency) -> Vec<Released> {
        let mut ids: Vec<u64> = self
            .lock()
            .entries
            .iter()
            .filter(|e| e.kept.is_none())
            .map(|e| e.id)
            .collect();
        ids.reverse();
        match urgency {
            Urgency::Orderly => {
                let mut reports = Vec::new();
                for id in ids {
                    reports.extend(self.settle(id, urgency).await);
                }
                reports
            }
            Urgency::Fast => {
                let all = ids.into_iter().map(|id| self.settle(id, urgency));
                futures::future::join_all(all)
                    .await
                    .into_iter()
                    .flatten()
                    .collect()
            }
        }
    }

    /// Releases entry `id` (if still there), reports it, and forgets it once released.
    async fn settle(&self, id: u64, urgency: Urgency) -> Option<Released> {
        let (resource, transcript, env) = self.with_entry(id, |e| {
            (Arc::clone(&e.resource), e.report.clone(), e.env.clone())
        })?;
        let timeout = match urgency {
            Urgency::Orderly => ORDERLY_TIMEOUT,
            Urgency::Fast => FAST_TIMEOUT,
        };
        let runner = Runner::new(transcript.clone(), env, timeout);
        let outcome = match resource.release(&runner, urgency).await {
            Ok(how) => Outcome::Released(how),
            Err(why) => Outcome::Failed(why),
        };
        let released = Released {
            what: resource.what(),
            outcome,
        };
        report(&transcript, &released);
        if !released.outcome.is_failure() {
            self.lock().entries.retain(|e| e.id != id);
        }
        Some(released)
    }
}

/// Appends a release to `transcript` (best effort: a release must not fail on its report).
fn report(transcript: &Transcript, released: &Released) {
    let _ = transcript.append_cleanup(&released.to_string(), released.outcome.is_failure());
}

impl Outcome {
    /// Whether the release failed.
    #[must_use]
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed(_))
    }
}

impl Registration {
    /// The owner released the resource itself (and reported it); the registry forgets it.
    pub fn released(self) {
        self.registry.lock().entries.retain(|e| e.id != self.id);
    }

    /// The owner released the resource itself: the registry reports `how` in the resource's
    /// transcript and forgets it.
    pub fn report_released(self, how: &str) {
        let entry = {
            let mut inner = self.registry.lock();
            let at = inner.entries.iter().position(|e| e.id == self.id);
            at.map(|i| inner.entries.remove(i))
        };
        if let Some(entry) = entry {
            report(
                &entry.report,
                &Released {
                    what: entry.resource.what(),
                    outcome: Outcome::Released(how.to_string()),
                },
            );
        }
    }

    /// Releases the resource now through the registry, reports it, and forgets it when released;
    /// a failed release stays registered for the end of the run.
    pub async fn release(self, urgency: Urgency) -> Released {
        self.registry
            .settle(self.id, urgency)
            .await
            .unwrap_or_else(|| Released {
                what: "(already settled)".into(),
                outcome: Outcome::Released("nothing left to do".into()),
            })
    }

    /// Keeps the resource past the run (`--keep-on-failure`); `how` says how to reach and
    /// delete it. The keep is reported in its transcript.
    pub fn keep(self, how: impl Into<String>) {
        let how = how.into();
        let reported = self.registry.with_entry(self.id, |e| {
            e.kept = Some(how.clone());
            (
                e.report.clone(),
                Released {
                    what: e.resource.what(),
                    outcome: Outcome::Kept(how.clone()),
                },
            )
        });
        if let Some((transcript, released)) = reported {
            report(&transcript, &released);
        }
    }

    /// Reports the release in `transcript` from now on (a kept cluster moving to the next
    /// scenario), with `env` for its commands.
    pub fn report_to(&self, transcript: &Transcript, env: Vec<(String, String)>) {
        self.registry.with_entry(self.id, |e| {
            e.report = transcript.clone();
            e.env = env;
        });
    }
}

/// A minikube profile (its nodes go with it): released with `minikube delete -p P`.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The minikube binary.
    pub minikube: PathBuf,
    /// The profile.
    pub profile: String,
}

impl Profile {
    /// The command that deletes it, for people.
    #[must_use]
    pub fn delete_command(&self) -> String {
        format!(
            "{} delete -p {}",
            shell_quote(&self.minikube.to_string_lossy()),
            shell_quote(&self.profile)
        )
    }
}

impl Resource for Profile {
    fn what(&self) -> String {
        format!("minikube profile {}", self.profile)
    }

    fn release<'a>(
        &'a self,
        runner: &'a Runner,
        _urgency: Urgency,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let minikube =
                crate::provider::Minikube::new(&self.minikube, &self.profile, runner.clone());
            match minikube.delete().await {
                Ok(()) => Ok("deleted (minikube delete)".into()),
                Err(e) => Err(format!("{e}\ndelete it by hand: {}", self.delete_command())),
            }
        })
    }
}

/// A directory on the host, removed with everything in it.
#[derive(Debug, Clone)]
pub struct TempDir {
    /// The directory.
    pub path: PathBuf,
    /// What it holds, for people.
    pub holds: String,
}

impl Resource for TempDir {
    fn what(&self) -> String {
        format!("directory {} ({})", self.path.display(), self.holds)
    }

    fn release<'a>(
        &'a self,
        _runner: &'a Runner,
        _urgency: Urgency,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { remove_dir(&self.path) })
    }
}

/// Removes `path` and everything in it; a missing directory is fine.
///
/// # Errors
/// What failed and the command that removes it by hand.
pub fn remove_dir(path: &Path) -> Result<String, String> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok("removed".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok("already gone".into()),
        Err(e) => Err(format!(
            "{e}; remove it by hand: rm -rf {}",
            shell_quote(&path.to_string_lossy())
        )),
    }
}

/// A process group the runner started in the background: released by killing the group, unless
/// its leader's PID now belongs to another process (checked by start time).
#[derive(Debug, Clone)]
pub struct ProcessGroup {
    /// The group (= its leader's PID).
    pub pgid: u32,
    /// The leader's start time (`/proc/<pid>/stat` field 22), when it could be read.
    pub start_time: Option<u64>,
    /// The command line (redacted).
    pub command: String,
}

impl ProcessGroup {
    /// Kills the group with SIGKILL if it is still the one started.
    ///
    /// # Errors
    /// What failed.
    pub fn kill(&self) -> Result<String, String> {
        let pid = i32::try_from(self.pgid).map_err(|e| e.to_string())?;
        match (self.start_time, process_start_time(self.pgid)) {
            (Some(started), Some(now)) if started != now => {
                return Ok(format!(
                    "already gone (PID {} now belongs to another process)",
                    self.pgid
                ));
            }
            _ => {}
        }
        match nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        ) {
            Ok(()) => Ok(format!("killed process group {}", self.pgid)),
            Err(nix::errno::Errno::ESRCH) => Ok("already exited".into()),
            Err(e) => Err(format!(
                "cannot kill process group {}: {e}; kill it by hand: kill -KILL -- -{}",
                self.pgid, self.pgid
            )),
        }
    }
}

impl Resource for ProcessGroup {
    fn what(&self) -> String {
        format!("background process `{}`", self.command)
    }

    fn release<'a>(
        &'a self,
        _runner: &'a Runner,
        _urgency: Urgency,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { self.kill() })
    }
}

/// A Docker container the run started (the jumpbox): released with `docker rm -f`.
#[derive(Debug, Clone)]
pub struct Container {
    /// The container ID.
    pub id: String,
    /// What it is, for people.
    pub role: String,
}

impl Resource for Container {
    fn what(&self) -> String {
        format!("{} container {}", self.role, self.id)
    }

    fn release<'a>(
        &'a self,
        runner: &'a Runner,
        _urgency: Urgency,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let argv = ["docker", "rm", "-f", "--volumes", self.id.as_str()];
            let by_hand = shell_join(&argv.map(String::from));
            match runner
                .run(&Command::new("docker").args(argv[1..].iter().copied()))
                .await
            {
                Ok(o) if o.success() => Ok("removed (docker rm -f)".into()),
                Ok(o) if o.stderr.contains("No such container") => Ok("already gone".into()),
                Ok(o) => Err(format!(
                    "docker rm failed ({}): {}; remove it by hand: {by_hand}",
                    o.ending,
                    o.stderr.trim()
                )),
                Err(e) => Err(format!("{e}; remove it by hand: {by_hand}")),
            }
        })
    }
}

/// A process's start time in clock ticks after boot (`/proc/<pid>/stat` field 22), which with its
/// PID identifies it (PIDs are reused, start times are not).
#[must_use]
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
/// hold spaces and parentheses itself, so fields are counted after the last `)`.
#[must_use]
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first; field 22 is the 20th.
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;

    #[derive(Debug)]
    struct Fake {
        name: String,
        fails: bool,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Resource for Fake {
        fn what(&self) -> String {
            format!("fake {}", self.name)
        }
        fn release<'a>(
            &'a self,
            _runner: &'a Runner,
            urgency: Urgency,
        ) -> BoxFuture<'a, Result<String, String>> {
            Box::pin(async move {
                self.log
                    .lock()
                    .unwrap()
                    .push(format!("{} {urgency:?}", self.name));
                if self.fails {
                    Err("it refused".into())
                } else {
                    Ok("gone".into())
                }
            })
        }
    }

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn transcript(name: &str) -> (Dir, Transcript) {
        let dir = std::env::temp_dir().join(format!(
            "k8s-labs-cleanup-{name}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        let t = Transcript::create(&dir, Redactor::new()).unwrap();
        (Dir(dir), t)
    }

    fn fake(log: &Arc<Mutex<Vec<String>>>, name: &str, fails: bool) -> Fake {
        Fake {
            name: name.into(),
            fails,
            log: Arc::clone(log),
        }
    }

    #[tokio::test]
    async fn releases_newest_first_reports_each_and_keeps_what_failed() {
        let (dir, t) = transcript("order");
        let log = Arc::default();
        let registry = Registry::new();
        let _a = registry.register(fake(&log, "profile", false), &t, vec![]);
        let b = registry.register(fake(&log, "proxy", false), &t, vec![]);
        let _c = registry.register(fake(&log, "watch", true), &t, vec![]);
        let d = registry.register(fake(&log, "settled", false), &t, vec![]);
        d.released();
        drop(b); // dropped handle: still registered
        assert_eq!(
            registry.pending(),
            ["fake profile", "fake proxy", "fake watch"]
        );
        let reports = registry.release_all(Urgency::Orderly).await;
        assert_eq!(
            *log.lock().unwrap(),
            ["watch Orderly", "proxy Orderly", "profile Orderly"]
        );
        let lines: Vec<String> = reports.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "could not release fake watch: it refused",
                "released fake proxy: gone",
                "released fake profile: gone"
            ]
        );
        assert_eq!(registry.pending(), ["fake watch"], "a failure stays");
        assert!(!registry.is_clear());
        let txt = std::fs::read_to_string(dir.0.join("transcript.txt")).unwrap();
        assert!(
            txt.contains("COMMAND: # cleanup: released fake proxy: gone"),
            "{txt}"
        );
        assert!(
            txt.contains("COMMAND: # cleanup: could not release fake watch: it refused\n"),
            "{txt}"
        );
    }

    #[tokio::test]
    async fn kept_resources_are_listed_not_released_and_fast_releases_everything() {
        let (_dir, t) = transcript("keep");
        let log = Arc::default();
        let registry = Registry::new();
        registry
            .register(fake(&log, "cluster", false), &t, vec![])
            .keep("delete it with: minikube delete -p x");
        let _p = registry.register(fake(&log, "proxy", false), &t, vec![]);
        let _q = registry.register(fake(&log, "dir", false), &t, vec![]);
        let reports = registry.release_all(Urgency::Fast).await;
        assert_eq!(reports.len(), 2);
        let mut seen = log.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, ["dir Fast", "proxy Fast"]);
        assert!(registry.is_clear());
        assert_eq!(registry.pending(), ["fake cluster (kept)"]);
        assert_eq!(
            registry.kept()[0].to_string(),
            "kept fake cluster: delete it with: minikube delete -p x"
        );
    }

    #[tokio::test]
    async fn a_registration_releases_through_the_registry() {
        let (_dir, t) = transcript("one");
        let log = Arc::default();
        let registry = Registry::new();
        let r = registry.register(fake(&log, "one", false), &t, vec![]);
        let out = r.release(Urgency::Orderly).await;
        assert_eq!(out.outcome, Outcome::Released("gone".into()));
        assert!(registry.pending().is_empty());
    }

    #[tokio::test]
    async fn a_process_group_is_killed_only_while_its_leader_is_the_one_started() {
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        let group = ProcessGroup {
            pgid,
            start_time: process_start_time(pgid),
            command: "sleep 60".into(),
        };
        assert!(group.start_time.is_some());
        let other = ProcessGroup {
            start_time: group.start_time.map(|t| t + 1),
            ..group.clone()
        };
        assert!(other.kill().unwrap().contains("another process"));
        assert!(child.try_wait().unwrap().is_none(), "not killed");
        assert_eq!(
            group.kill().unwrap(),
            format!("killed process group {pgid}")
        );
        assert!(child.wait().unwrap().code().is_none(), "killed by a signal");
        assert_eq!(group.kill().unwrap(), "already exited");
    }

    #[test]
    fn start_times_are_read_after_the_command_name() {
        let stat = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert_eq!(parse_start_time("garbage"), None);
        assert!(process_start_time(std::process::id()).is_some());
    }

    #[tokio::test]
    async fn a_temp_dir_is_removed_and_a_missing_one_is_fine() {
        let (dir, t) = transcript("dir");
        let target = dir.0.join("files");
        std::fs::create_dir_all(target.join("sub")).unwrap();
        let registry = Registry::new();
        let r = registry.register(
            TempDir {
                path: target.clone(),
                holds: "test files".into(),
            },
            &t,
            vec![],
        );
        assert_eq!(
            r.release(Urgency::Orderly).await.outcome,
            Outcome::Released("removed".into())
        );
        assert!(!target.exists());
        assert_eq!(remove_dir(&target), Ok("already gone".into()));
    }
}
