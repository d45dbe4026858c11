//! A work queue like client-go's (util/workqueue): keys are deduplicated while waiting, a key
//! added while it is being processed is processed again afterwards, and failed keys are retried
//! with the default controller rate limiter's per-item exponential backoff (5 ms doubling up to
//! 1000 s, `DefaultTypedControllerRateLimiter`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<String>,
    queued: HashSet<String>,
    processing: HashSet<String>,
    dirty: HashSet<String>,
    failures: HashMap<String, u32>,
}

/// A deduplicating work queue of object keys.
#[derive(Debug, Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    notify: Notify,
}

const BASE_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1000);

impl WorkQueue {
    /// A new queue.
    pub fn new() -> Arc<WorkQueue> {
        Arc::new(WorkQueue::default())
    }

    /// Adds `key` (no-op when it is already waiting).
    pub fn add(&self, key: &str) {
        let mut s = self.state.lock().expect("queue lock");
        if s.processing.contains(key) {
            s.dirty.insert(key.to_string());
            return;
        }
        if s.queued.insert(key.to_string()) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Adds `key` after `delay`.
    pub fn add_after(self: &Arc<Self>, key: &str, delay: Duration) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let q = self.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            q.add(&key);
        });
    }

    /// Adds `key` after its next backoff delay (a failed sync).
    pub fn add_rate_limited(self: &Arc<Self>, key: &str) {
        let n = {
            let mut s = self.state.lock().expect("queue lock");
            let n = s.failures.entry(key.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        let delay = BASE_DELAY
            .checked_mul(
                1u32.checked_shl(n.saturating_sub(1).min(31))
                    .unwrap_or(u32::MAX),
            )
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY);
        self.add_after(key, delay);
    }

    /// Clears `key`'s failure count (a successful sync).
    pub fn forget(&self, key: &str) {
        self.state.lock().expect("queue lock").failures.remove(key);
    }

    /// Waits for the next key and marks it as being processed.
    pub async fn get(&self) -> String {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.state.lock().expect("queue lock");
                if let Some(k) = s.queue.pop_front() {
                    s.queued.remove(&k);
                    s.processing.insert(k.clone());
                    return k;
                }
            }
            notified.await;
        }
    }

    /// Marks `key` as processed; it is queued again if it was added meanwhile.
    pub fn done(&self, key: &str) {
        let mut s = self.state.lock().expect("queue lock");
        s.processing.remove(key);
        if s.dirty.remove(key) && s.queued.insert(key.to_string()) {
            s.queue.push_back(key.to_string());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// How many keys wait.
    pub fn len(&self) -> usize {
        self.state.lock().expect("queue lock").queue.len()
    }

    /// Whether no key waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedups_and_requeues_dirty_keys() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let k = q.get().await;
        assert_eq!(k, "a");
        q.add("a");
        assert_eq!(q.len(), 1, "a is being processed: it waits as dirty");
        q.done("a");
        assert_eq!(q.get().await, "b");
        assert_eq!(q.get().await, "a");
        q.done("a");
        q.done("b");
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles() {
        let q = WorkQueue::new();
        let t0 = tokio::time::Instant::now();
        q.add_rate_limited("x");
        assert_eq!(q.get().await, "x");
        assert_eq!(
            t0.elapsed(),
            Duration::from_millis(5),
            "first failure waits 5 ms"
        );
        q.done("x");
        let t1 = tokio::time::Instant::now();
        q.add_rate_limited("x");
        assert_eq!(q.get().await, "x");
        assert_eq!(
            t1.elapsed(),
            Duration::from_millis(10),
            "second failure waits 10 ms"
        );
        q.done("x");
        q.forget("x");
        let t2 = tokio::time::Instant::now();
        q.add_rate_limited("x");
        assert_eq!(q.get().await, "x");
        assert_eq!(
            t2.elapsed(),
            Duration::from_millis(5),
            "forget resets the backoff"
        );
    }
}
