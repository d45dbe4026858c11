//! Step and scenario deadlines, so that nothing waits forever, and what a step was waiting for
//! when its deadline passed.
//!
//! Every wait (`wait.rs`) and every command (`runner.rs`) already has a budget of its own; the
//! deadlines here bound a whole step and a whole scenario on top of them (`--step-timeout`,
//! `--scenario-timeout`). The defaults are scaled to the run ([`Deadlines::for_run`]): the time
//! the provider needs to build the course's cluster in one step, plus the longest Kubernetes
//! behaviour the timing profile makes a step wait for.
//!
//! While a step runs under [`run_within`], the waits and commands it is inside of are tracked
//! ([`begin`]: `wait.rs` and `runner.rs` report through [`crate::progress`]), so that a step that
//! runs out of time says what it was waiting for and the last state seen.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::claims::human;
use crate::settings::{ProviderKind, Timing};

/// How long one step and one scenario may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// One step (a `Given`/`When`/`Then` line).
    pub step: Duration,
    /// One scenario, all its steps together.
    pub scenario: Duration,
    /// Whether the values came from the command line (else they are the run's defaults).
    pub explicit: bool,
}

/// The longest a provider takes to build the course's cluster from nothing in one step (`Given a
/// cluster where the reader has completed "hello-world deployed"`): labsim's processes on this
/// machine, or real minikube pulling images.
fn build_allowance(provider: ProviderKind) -> Duration {
    match provider {
        ProviderKind::Labsim => Duration::from_secs(10 * 60),
        ProviderKind::Minikube => Duration::from_secs(30 * 60),
    }
}

/// The longest Kubernetes behaviour a step waits for under `timing`: a pod's eviction from an
/// unreachable node, the node monitor's grace period plus the eviction toleration (defaults
/// 50 s + 300 s: `pkg/controller/nodelifecycle` `--node-monitor-grace-period`, the
/// DefaultTolerationSeconds admission plugin's 300 s; the `fast` profile's 10 s + 20 s,
/// fixtures/scripts/master.sh), with as much again for the replacement to start.
fn kubernetes_allowance(timing: Timing) -> Duration {
    let eviction = match timing {
        Timing::Default => Duration::from_secs(50 + 300),
        Timing::Fast => Duration::from_secs(10 + 20),
    };
    eviction * 2
}

impl Deadlines {
    /// The defaults for a run on `provider` with `timing`: a step may take the cluster's build
    /// plus the longest Kubernetes behaviour; a scenario three such steps.
    #[must_use]
    pub fn for_run(provider: ProviderKind, timing: Timing) -> Self {
        let step = build_allowance(provider) + kubernetes_allowance(timing);
        Self {
            step,
            scenario: step * 3,
            explicit: false,
        }
    }

    /// These deadlines with the command line's values where given.
    #[must_use]
    pub fn overridden(mut self, step: Option<Duration>, scenario: Option<Duration>) -> Self {
        if let Some(step) = step {
            self.step = step;
            self.explicit = true;
        }
        if let Some(scenario) = scenario {
            self.scenario = scenario;
            self.explicit = true;
        }
        self
    }

    /// When the step starting now must end, for a scenario that started at `scenario_started`:
    /// the earlier of the two deadlines, and which one it is.
    #[must_use]
    pub fn limit_for_step(&self, scenario_started: Instant) -> Limit {
        let now = Instant::now();
        let step_end = now + self.step;
        let scenario_end = scenario_started + self.scenario;
        if scenario_end < step_end {
            Limit {
                at: scenario_end,
                kind: LimitKind::Scenario,
                budget: self.scenario,
            }
        } else {
            Limit {
                at: step_end,
                kind: LimitKind::Step,
                budget: self.step,
            }
        }
    }
}

/// Which deadline a limit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// The step's own.
    Step,
    /// The scenario's, which comes first.
    Scenario,
}

/// When a step must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The instant.
    pub at: Instant,
    /// Which deadline.
    pub kind: LimitKind,
    /// The deadline's length.
    pub budget: Duration,
}

/// A step that ran out of time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    /// Its deadline passed; it was stopped (what it ran was killed).
    #[error("{}", describe(.kind, .budget, .waiting))]
    TimedOut {
        /// Which deadline.
        kind: LimitKind,
        /// The deadline's length.
        budget: Duration,
        /// What it was waiting for, innermost first (empty when nothing was tracked).
        waiting: Vec<Waiting>,
    },
}

fn describe(kind: &LimitKind, budget: &Duration, waiting: &[Waiting]) -> String {
    let (what, option) = match kind {
        LimitKind::Step => ("the step", "--step-timeout"),
        LimitKind::Scenario => ("the scenario", "--scenario-timeout"),
    };
    let mut text = format!(
        "{what} did not finish within {} ({option}) and was stopped",
        human(*budget)
    );
    match waiting.split_first() {
        None => text.push_str("; it was not inside a wait or a command"),
        Some((inner, outer)) => {
            text.push_str(&format!("; it was waiting for {inner}"));
            for o in outer {
                text.push_str(&format!("\n  inside: {o}"));
            }
        }
    }
    text.push_str(&format!(
        "\nif this is a slow machine rather than a stuck step, raise {option}"
    ));
    text
}

/// One wait or command a step was inside of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// What it was (`node k8s-labs-m02 Ready`, a command line).
    pub what: String,
    /// How long it had been going.
    pub elapsed: Duration,
    /// Its own budget, if it had one.
    pub budget: Option<Duration>,
    /// The last state seen.
    pub last: String,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.what, human(whole(self.elapsed)))?;
        if let Some(budget) = self.budget {
            write!(f, " of its {}", human(budget))?;
        }
        write!(f, "); last seen: {}", self.last)
    }
}

fn whole(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

struct Tracked {
    id: u64,
    what: String,
    started: Instant,
    budget: Option<Duration>,
    last: String,
}

#[derive(Default)]
struct Stack {
    next: u64,
    items: Vec<Tracked>,
}

type Shared = Arc<Mutex<Stack>>;

tokio::task_local! {
    static STACK: Shared;
}

fn lock(stack: &Shared) -> std::sync::MutexGuard<'_, Stack> {
    stack
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A wait or command being tracked for the step it runs in; dropped when it ends.
pub struct Slot {
    stack: Shared,
    id: u64,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").field("id", &self.id).finish()
    }
}

/// Starts tracking `what` for the step this task runs (nothing outside [`run_within`]).
#[must_use]
pub fn begin(what: &str, budget: Option<Duration>) -> Option<Slot> {
    STACK
        .try_with(|stack| {
            let mut s = lock(stack);
            s.next += 1;
            let id = s.next;
            s.items.push(Tracked {
                id,
                what: what.to_string(),
                started: Instant::now(),
                budget,
                last: "(not looked yet)".into(),
            });
            Slot {
                stack: Arc::clone(stack),
                id,
            }
        })
        .ok()
}

impl Slot {
    /// Records the latest state seen.
    pub fn update(&self, state: &str) {
        if let Some(t) = lock(&self.stack).items.iter_mut().find(|t| t.id == self.id) {
            t.last = state.to_string();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.stack).items.retain(|t| t.id != self.id);
    }
}

/// Runs a step's future until `limit`; past it, the future is dropped (killing what it ran) and
/// the error says what it was waiting for.
///
/// # Errors
/// [`DeadlineError::TimedOut`].
pub async fn run_within<F: Future>(limit: Limit, fut: F) -> Result<F::Output, DeadlineError> {
    let stack: Shared = Arc::default();
    let tracked = STACK.scope(Arc::clone(&stack), fut);
    tokio::pin!(tracked);
    tokio::select! {
        out = &mut tracked => Ok(out),
        () = tokio::time::sleep_until(limit.at) => {
            // The step's future is still alive here (it is dropped on return), so what it was
            // inside of is still tracked.
            let now = Instant::now();
            let waiting = lock(&stack)
                .items
                .iter()
                .rev()
                .map(|t| Waiting {
                    what: t.what.clone(),
                    elapsed: now - t.started,
                    budget: t.budget,
                    last: t.last.clone(),
                })
                .collect();
            Err(DeadlineError::TimedOut {
                kind: limit.kind,
                budget: limit.budget,
                waiting,
            })
        }
    }
}

/// Reads a duration as the command line writes it: `90s`, `10m`, `1h30m`, `500ms`.
///
/// # Errors
/// What is wrong with it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("cannot read duration {text:?}: expected e.g. 90s, 10m, 1h30m");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest.chars().take_while(char::is_ascii_alphabetic).count();
        let part = match &rest[..unit] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
        total += part;
        rest = &rest[unit..];
    }
    if total.is_zero() {
        return Err(format!("duration {text:?} must be longer than 0"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::{Probe, Wait};

    #[test]
    fn defaults_scale_with_the_provider_and_the_timing_profile() {
        let fast = Deadlines::for_run(ProviderKind::Labsim, Timing::Fast);
        let slow = Deadlines::for_run(ProviderKind::Labsim, Timing::Default);
        let real = Deadlines::for_run(ProviderKind::Minikube, Timing::Default);
        assert_eq!(fast.step, Duration::from_secs(600 + 60));
        assert_eq!(slow.step, Duration::from_secs(600 + 700));
        assert!(real.step > slow.step);
        assert_eq!(fast.scenario, fast.step * 3);
        let given = fast.overridden(Some(Duration::from_secs(5)), None);
        assert_eq!(
            (given.step, given.scenario),
            (Duration::from_secs(5), fast.scenario)
        );
        assert!(given.explicit && !fast.explicit);
    }

    #[tokio::test(start_paused = true)]
    async fn the_scenario_deadline_wins_when_it_comes_first() {
        let d = Deadlines {
            step: Duration::from_secs(60),
            scenario: Duration::from_secs(100),
            explicit: true,
        };
        let started = Instant::now();
        assert_eq!(d.limit_for_step(started).kind, LimitKind::Step);
        tokio::time::sleep(Duration::from_secs(50)).await;
        let limit = d.limit_for_step(started);
        assert_eq!(limit.kind, LimitKind::Scenario);
        assert_eq!(limit.at, started + Duration::from_secs(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timed_out_step_names_the_wait_it_was_in_and_its_last_state() {
        let limit = Limit {
            at: Instant::now() + Duration::from_secs(30),
            kind: LimitKind::Step,
            budget: Duration::from_secs(30),
        };
        let step = async {
            Wait::until("node labs-m02 Ready", Duration::from_secs(300))
                .poll(|| async {
                    Ok::<_, String>(Probe::<()>::Fails("Ready=False (KubeletNotReady)".into()))
                })
                .await
        };
        let err = run_within(limit, step).await.unwrap_err();
        let DeadlineError::TimedOut { waiting, .. } = &err;
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].what, "node labs-m02 Ready");
        assert_eq!(waiting[0].last, "Ready=False (KubeletNotReady)");
        let msg = err.to_string();
        assert!(
            msg.starts_with("the step did not finish within 30 s (--step-timeout) and was stopped; it was waiting for node labs-m02 Ready (30 s of its 5 min); last seen: Ready=False (KubeletNotReady)"),
            "{msg}"
        );
        assert!(msg.ends_with("raise --step-timeout"), "{msg}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_in_time_passes_and_outside_a_step_nothing_is_tracked() {
        let limit = Limit {
            at: Instant::now() + Duration::from_secs(30),
            kind: LimitKind::Scenario,
            budget: Duration::from_secs(90),
        };
        assert_eq!(run_within(limit, async { 7 }).await, Ok(7));
        assert!(begin("outside", None).is_none());
        let err = run_within(limit, std::future::pending::<()>())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the scenario did not finish within 1 min 30 s (--scenario-timeout) and was stopped; it was not inside a wait or a command"),
            "{err}"
        );
    }

    #[test]
    fn durations_read_as_the_command_line_writes_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(
            parse_duration("10")
                .unwrap_err()
                .contains("expected e.g. 90s")
        );
        assert!(parse_duration("ten minutes").is_err());
        assert!(parse_duration("0s").unwrap_err().contains("longer than 0"));
    }
}
