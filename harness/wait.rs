//! The one waiting primitive: poll a probe with backoff until a condition holds ("until",
//! "within D"), check it does not hold too early ("not before D"), or that it keeps holding
//! ("stays true for D"). Every failure names what was awaited, for how long, and the last state
//! seen. A wait can also be woken by a change signal ([`Wait::poll_waking`]: the timeline's
//! entries, a watch), so that it looks again right after the cluster changed instead of at its
//! next backoff step; the backoff stays the upper bound between looks.
//!
//! Time comes from `tokio::time`, so tests drive it with `tokio::time::pause()`.

use std::fmt::{self, Debug};
use std::future::Future;
use std::time::Duration;

use backon::BackoffBuilder as _;
use tokio::time::Instant;

/// What one look at the world found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe<T> {
    /// The condition holds; the value is what the caller wanted to learn.
    Holds(T),
    /// The condition does not hold (yet); the text describes what was seen instead.
    Fails(String),
}

/// How a condition is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Succeed as soon as it holds; give up after the budget.
    Until {
        /// Overall budget.
        budget: Duration,
    },
    /// It must hold no later than `limit` (a claim about time: "within 10 s").
    Within {
        /// Latest acceptable time.
        limit: Duration,
    },
    /// It must not hold before `earliest`, and must hold by `budget`.
    NotBefore {
        /// Earliest acceptable time.
        earliest: Duration,
        /// Overall budget.
        budget: Duration,
    },
    /// It must hold at every look for `period`.
    StaysFor {
        /// How long it must keep holding.
        period: Duration,
    },
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Until { budget } => write!(f, "until it holds (budget {budget:?})"),
            Self::Within { limit } => write!(f, "within {limit:?}"),
            Self::NotBefore { earliest, budget } => {
                write!(f, "not before {earliest:?} (budget {budget:?})")
            }
            Self::StaysFor { period } => write!(f, "to stay true for {period:?}"),
        }
    }
}

/// Errors from waiting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The condition did not hold before the deadline.
    #[error(
        "timed out after {waited:?} waiting for {what} ({expect}, {looks} looks); last seen: {last}"
    )]
    TimedOut {
        /// What was awaited.
        what: String,
        /// The expectation.
        expect: Expect,
        /// How long it waited.
        waited: Duration,
        /// How many times it looked.
        looks: u32,
        /// The last state seen.
        last: String,
    },
    /// The condition held earlier than allowed.
    #[error(
        "{what} already held after {after:?}, earlier than the {earliest:?} expected; seen: {seen}"
    )]
    TooEarly {
        /// What was awaited.
        what: String,
        /// When it was seen to hold.
        after: Duration,
        /// The earliest acceptable time.
        earliest: Duration,
        /// What was seen.
        seen: String,
    },
    /// The condition stopped holding during the period it had to keep holding.
    #[error(
        "{what} stopped holding after {after:?} of the {period:?} it had to hold; seen: {seen}"
    )]
    StoppedHolding {
        /// What was awaited.
        what: String,
        /// When it was seen not to hold.
        after: Duration,
        /// The required period.
        period: Duration,
        /// What was seen instead.
        seen: String,
    },
    /// The probe itself failed in a way that waiting cannot fix.
    #[error("gave up waiting for {what} after {after:?}: {error}")]
    Aborted {
        /// What was awaited.
        what: String,
        /// When the probe failed.
        after: Duration,
        /// The probe's error.
        error: String,
    },
}

/// What a successful wait learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waited<T> {
    /// The probe's value at the last look that held.
    pub value: T,
    /// When the condition was first seen to hold (for [`Expect::StaysFor`]: the full period).
    pub elapsed: Duration,
    /// How many times the probe ran.
    pub looks: u32,
}

/// Backoff between looks: exponential from `first` to `max`, never past the deadline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay after the first look.
    pub first: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Growth factor.
    pub factor: f32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(100),
            max: Duration::from_secs(2),
            factor: 2.0,
        }
    }
}

/// How long a woken wait lets a burst of changes settle before it looks (one `kubectl apply`
/// brings dozens of events: one look after them, not one per event).
pub const WAKE_SETTLE: Duration = Duration::from_millis(50);

/// A wait on a named condition.
#[derive(Debug, Clone)]
pub struct Wait {
    what: String,
    expect: Expect,
    backoff: Backoff,
}

impl Wait {
    /// Waits for `what` as `expect` says, with the default backoff (100 ms doubling to 2 s).
    #[must_use]
    pub fn new(what: impl Into<String>, expect: Expect) -> Self {
        Self {
            what: what.into(),
            expect,
            backoff: Backoff::default(),
        }
    }

    /// Succeed as soon as `what` holds, within `budget`.
    #[must_use]
    pub fn until(what: impl Into<String>, budget: Duration) -> Self {
        Self::new(what, Expect::Until { budget })
    }

    /// Replaces the backoff.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Runs `probe` until the expectation is met or broken. A probe error aborts the wait (map
    /// transient errors to [`Probe::Fails`] inside the probe to keep waiting through them).
    ///
    /// # Errors
    /// The [`WaitError`] that says how the expectation was broken.
    pub async fn poll<T, E, F, Fut>(&self, probe: F) -> Result<Waited<T>, WaitError>
    where
        T: Debug,
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Probe<T>, E>>,
    {
        self.poll_waking(probe, std::future::pending::<()>).await
    }

    /// [`Wait::poll`], also looking again [`WAKE_SETTLE`] after `changed()` resolves: `changed`
    /// is called before each look (so a change during the look is not missed) and resolves at
    /// the next change of what the probe reads. The backoff still bounds the time between looks.
    ///
    /// # Errors
    /// The [`WaitError`] that says how the expectation was broken.
    pub async fn poll_waking<T, E, F, Fut, W, WF>(
        &self,
        mut probe: F,
        mut changed: W,
    ) -> Result<Waited<T>, WaitError>
    where
        T: Debug,
        E: fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Probe<T>, E>>,
        W: FnMut() -> WF,
        WF: Future<Output = ()>,
    {
        let start = Instant::now();
        let (deadline, stays) = match self.expect {
            Expect::Until { budget } => (budget, false),
            Expect::Within { limit } => (limit, false),
            Expect::NotBefore { budget, .. } => (budget, false),
            Expect::StaysFor { period } => (period, true),
        };
        let mut delays = backon::ExponentialBuilder::new()
            .with_min_delay(self.backoff.first)
            .with_max_delay(self.backoff.max)
            .with_factor(self.backoff.factor)
            .without_max_times()
            .build();
        let mut looks = 0u32;
        let mut last = String::from("(never looked)");
        let mut progress = crate::progress::begin(&self.what, Some(deadline));
        loop {
            looks += 1;
            let woken = changed();
            let result = probe().await;
            let now = start.elapsed();
            if let Ok(Probe::Fails(state)) = &result {
                progress.update(state);
            } else {
                progress.update("holds");
            }
            match result {
                Err(e) => {
                    return Err(WaitError::Aborted {
                        what: self.what.clone(),
                        after: now,
                        error: e.to_string(),
                    });
                }
                Ok(Probe::Holds(value)) if !stays => {
                    if let Expect::NotBefore { earliest, .. } = self.expect
                        && now < earliest
                    {
                        return Err(WaitError::TooEarly {
                            what: self.what.clone(),
                            after: now,
                            earliest,
                            seen: format!("{value:?}"),
                        });
                    }
                    if now > deadline {
                        // Seen only after the deadline (a slow probe): that is a timeout.
                        return Err(self.timed_out(now, looks, format!("{value:?}")));
                    }
                    return Ok(Waited {
                        value,
                        elapsed: now,
                        looks,
                    });
                }
                Ok(Probe::Holds(value)) if now >= deadline => {
                    return Ok(Waited {
                        value,
                        elapsed: now,
                        looks,
                    });
                }
                Ok(Probe::Holds(_)) => {}
                Ok(Probe::Fails(state)) if stays => {
                    return Err(WaitError::StoppedHolding {
                        what: self.what.clone(),
                        after: now,
                        period: deadline,
                        seen: state,
                    });
                }
                Ok(Probe::Fails(state)) => last = state,
            }
            if !stays && now >= deadline {
                return Err(self.timed_out(now, looks, last));
            }
            let remaining = deadline.saturating_sub(now);
            let delay = delays.next().unwrap_or(self.backoff.max).min(remaining);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = woken => tokio::time::sleep(WAKE_SETTLE.min(remaining)).await,
            }
        }
    }

    fn timed_out(&self, waited: Duration, looks: u32, last: String) -> WaitError {
        WaitError::TimedOut {
            what: self.what.clone(),
            expect: self.expect,
            waited,
            looks,
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// `d` is `ms` milliseconds, give or take the 1 ms per sleep that tokio's timer rounds up.
    fn assert_ms(d: Duration, ms: u128) {
        assert!(
            (ms..ms + 10).contains(&d.as_millis()),
            "{d:?} is not ~{ms} ms"
        );
    }

    /// A probe that holds from `from` on (measured on the paused clock), counting its calls.
    fn holds_after(
        start: Instant,
        from: Duration,
        calls: &AtomicU32,
    ) -> impl FnMut() -> std::future::Ready<Result<Probe<u32>, String>> + '_ {
        move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            let t = start.elapsed();
            std::future::ready(Ok(if t >= from {
                Probe::Holds(n)
            } else {
                Probe::Fails(format!("not yet at {t:?}"))
            }))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn until_succeeds_when_the_condition_first_holds() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let waited = Wait::until("node Ready", Duration::from_secs(30))
            .poll(holds_after(start, Duration::from_secs(5), &calls))
            .await
            .unwrap();
        // Looks at 0, .1, .3, .7, 1.5, 3.1, 5.1 s (100 ms doubling, capped at 2 s); tokio's timer
        // rounds each sleep up to the next millisecond.
        assert_ms(waited.elapsed, 5100);
        assert_eq!(waited.looks, 7);
        assert_eq!(waited.value, 7);
    }

    #[tokio::test(start_paused = true)]
    async fn until_times_out_naming_what_how_long_and_the_last_state() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let err = Wait::until("node minikube-m02 NotReady", Duration::from_secs(10))
            .poll(holds_after(start, Duration::from_secs(60), &calls))
            .await
            .unwrap_err();
        let WaitError::TimedOut {
            waited, last, what, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            *waited,
            Duration::from_secs(10),
            "the last look is at the deadline"
        );
        assert_eq!(what, "node minikube-m02 NotReady");
        assert_eq!(last, "not yet at 10s");
        let msg = err.to_string();
        assert!(
            msg.starts_with("timed out after 10s waiting for node minikube-m02 NotReady"),
            "{msg}"
        );
        assert!(msg.ends_with("last seen: not yet at 10s"), "{msg}");
    }

    #[tokio::test(start_paused = true)]
    async fn within_fails_when_the_condition_comes_late() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let err = Wait::new(
            "pod evicted",
            Expect::Within {
                limit: Duration::from_secs(3),
            },
        )
        .poll(holds_after(start, Duration::from_secs(4), &calls))
        .await
        .unwrap_err();
        assert!(
            matches!(err, WaitError::TimedOut { waited, .. } if waited == Duration::from_secs(3)),
            "{err:?}"
        );

        let waited = Wait::new(
            "pod evicted",
            Expect::Within {
                limit: Duration::from_secs(3),
            },
        )
        .poll(holds_after(Instant::now(), Duration::from_secs(2), &calls))
        .await
        .unwrap();
        assert!(waited.elapsed <= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn not_before_rejects_an_early_condition_and_accepts_a_late_one() {
        let calls = AtomicU32::new(0);
        let expect = Expect::NotBefore {
            earliest: Duration::from_secs(5),
            budget: Duration::from_secs(20),
        };
        let err = Wait::new("eviction", expect)
            .poll(holds_after(Instant::now(), Duration::from_secs(1), &calls))
            .await
            .unwrap_err();
        let WaitError::TooEarly { after, .. } = &err else {
            panic!("{err:?}")
        };
        assert_ms(*after, 1500);
        assert!(
            err.to_string().contains("earlier than the 5s expected"),
            "{err}"
        );

        let waited = Wait::new("eviction", expect)
            .poll(holds_after(Instant::now(), Duration::from_secs(6), &calls))
            .await
            .unwrap();
        assert!(waited.elapsed >= Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn stays_for_succeeds_only_after_the_whole_period() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let waited = Wait::new(
            "app answers",
            Expect::StaysFor {
                period: Duration::from_secs(10),
            },
        )
        .poll(holds_after(start, Duration::ZERO, &calls))
        .await
        .unwrap();
        assert_eq!(waited.elapsed, Duration::from_secs(10));
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn stays_for_fails_when_the_condition_breaks() {
        let start = Instant::now();
        let probe = || {
            let t = start.elapsed();
            std::future::ready(Ok::<_, String>(if t < Duration::from_secs(4) {
                Probe::Holds(())
            } else {
                Probe::Fails("connection refused".to_string())
            }))
        };
        let err = Wait::new(
            "app answers",
            Expect::StaysFor {
                period: Duration::from_secs(10),
            },
        )
        .poll(probe)
        .await
        .unwrap_err();
        let WaitError::StoppedHolding {
            what,
            after,
            period,
            seen,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (what.as_str(), *period, seen.as_str()),
            ("app answers", Duration::from_secs(10), "connection refused")
        );
        assert_ms(*after, 5100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_error_aborts_at_once() {
        let err = Wait::until("api", Duration::from_secs(60))
            .poll(|| std::future::ready(Err::<Probe<()>, _>("kubeconfig missing")))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "gave up waiting for api after 0ns: kubeconfig missing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_configurable_and_capped() {
        let calls = AtomicU32::new(0);
        let err = Wait::until("x", Duration::from_secs(10))
            .backoff(Backoff {
                first: Duration::from_secs(1),
                max: Duration::from_secs(1),
                factor: 1.0,
            })
            .poll(holds_after(Instant::now(), Duration::from_secs(99), &calls))
            .await
            .unwrap_err();
        // Looks at 0, 1, …, 10 s.
        assert!(
            matches!(err, WaitError::TimedOut { looks: 11, .. }),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_signal_makes_the_wait_look_again_at_once() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let changed = std::sync::Arc::new(tokio::sync::Notify::new());
        let signal = changed.clone();
        // The condition starts to hold at 3 s and the change is signalled then.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            signal.notify_waiters();
        });
        let waited = Wait::until("node Ready", Duration::from_secs(30))
            .poll_waking(holds_after(start, Duration::from_secs(3), &calls), || {
                changed.notified()
            })
            .await
            .unwrap();
        // Without the signal the look after 1.5 s comes at 3.1 s (see the first test); with it,
        // WAKE_SETTLE after the change.
        assert_ms(waited.elapsed, 3050);
        assert_eq!(waited.looks, 6);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_change_the_backoff_still_paces_the_looks() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let never = tokio::sync::Notify::new();
        let waited = Wait::until("node Ready", Duration::from_secs(30))
            .poll_waking(holds_after(start, Duration::from_secs(5), &calls), || {
                never.notified()
            })
            .await
            .unwrap();
        assert_ms(waited.elapsed, 5100);
    }
}
