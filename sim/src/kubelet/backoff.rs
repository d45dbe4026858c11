//! Per-key exponential back-off as the kubelet uses it for restarting crashed containers and for
//! image pulls (client-go `util/flowcontrol/backoff.go`, with the kubelet's 10 s initial and 5 min
//! maximum delays, pkg/kubelet/kubelet.go `backOffPeriod`/`MaxContainerBackOff`).
//!
//! - The first failure of a key is not delayed: `is_in_backoff_since` is false, `next` records
//!   the initial delay (10 s).
//! - Each further failure within the window doubles the delay, up to the maximum (5 min).
//! - An entry whose last update is more than twice the maximum (10 min) before the event is
//!   expired: the container ran long enough and starts over at the initial delay.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: Duration,
}

/// Back-off state; times are durations since an arbitrary epoch (tests choose them).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Backoff {
    /// A back-off from `initial` doubling to `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// The kubelet's container restart and image pull back-off: 10 s doubling to 5 min.
    pub fn kubelet() -> Backoff {
        Backoff::new(Duration::from_secs(10), Duration::from_secs(300))
    }

    fn expired(&self, event: Duration, last_update: Duration) -> bool {
        event.saturating_sub(last_update) > self.max * 2
    }

    /// The current delay of `key` (zero when unknown).
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map(|e| e.backoff).unwrap_or_default()
    }

    /// `IsInBackOffSince(key, eventTime)`: whether, at `now`, less than the current delay has
    /// passed since `event` (the container's exit).
    pub fn is_in_backoff_since(&self, key: &str, event: Duration, now: Duration) -> bool {
        let Some(e) = self.entries.get(key) else {
            return false;
        };
        if self.expired(event, e.last_update) {
            return false;
        }
        now.saturating_sub(event) < e.backoff
    }

    /// `IsInBackOffSinceUpdate(key, now)`: whether less than the current delay has passed since
    /// the last failure was recorded (image pulls).
    pub fn is_in_backoff_since_update(&self, key: &str, now: Duration) -> bool {
        let Some(e) = self.entries.get(key) else {
            return false;
        };
        if self.expired(now, e.last_update) {
            return false;
        }
        now.saturating_sub(e.last_update) < e.backoff
    }

    /// `Next(key, eventTime)`: records a failure at `now` and grows the delay.
    pub fn next(&mut self, key: &str, event: Duration, now: Duration) {
        let fresh = match self.entries.get(key) {
            None => true,
            Some(e) => self.expired(event, e.last_update),
        };
        let backoff = if fresh {
            self.initial
        } else {
            (self.entries[key].backoff * 2).min(self.max)
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }

    /// When the current delay of `key` ends, counted from `event`.
    pub fn remaining(&self, key: &str, event: Duration, now: Duration) -> Duration {
        let Some(e) = self.entries.get(key) else {
            return Duration::ZERO;
        };
        (event + e.backoff).saturating_sub(now)
    }

    /// Forgets entries not updated for twice the maximum delay (`GC`).
    pub fn gc(&mut self, now: Duration) {
        let max2 = self.max * 2;
        self.entries
            .retain(|_, e| now.saturating_sub(e.last_update) <= max2);
    }
}

/// Go's `time.Duration` text for whole seconds and minutes as the back-off message shows it
/// (`10s`, `20s`, `40s`, `1m20s`, `2m40s`, `5m0s`).
pub fn go_secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn crash_loop_schedule() {
        let mut b = Backoff::kubelet();
        let key = "uid_app";
        // First crash at t=100: no delay, the container restarts at once.
        assert!(!b.is_in_backoff_since(key, s(100), s(100)));
        b.next(key, s(100), s(100));
        // Second crash at t=105: within 10 s of it, in back-off.
        assert!(b.is_in_backoff_since(key, s(105), s(106)));
        assert!(!b.is_in_backoff_since(key, s(105), s(115)));
        let mut delays = vec![];
        let mut t = 115;
        for _ in 0..7 {
            b.next(key, s(t), s(t));
            delays.push(go_secs(b.get(key)));
            t += 1;
        }
        assert_eq!(
            delays,
            ["20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s", "5m0s"]
        );
        // Running for more than 10 minutes resets the schedule.
        let later = s(t + 601);
        assert!(!b.is_in_backoff_since(key, later, later));
        b.next(key, later, later);
        assert_eq!(b.get(key), s(10));
        assert_eq!(b.remaining(key, later, later + s(3)), s(7));
        b.gc(later + s(601));
        assert_eq!(b.get(key), Duration::ZERO);
    }

    #[test]
    fn image_pull_backoff_counts_from_the_last_failure() {
        let mut b = Backoff::kubelet();
        assert!(!b.is_in_backoff_since_update("img", s(0)));
        b.next("img", s(0), s(0));
        assert!(b.is_in_backoff_since_update("img", s(5)));
        assert!(!b.is_in_backoff_since_update("img", s(10)));
    }
}
