//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go's
//! tools/leaderelection/leaderelection.go does it for kube-controller-manager and kube-scheduler:
//!
//! - the identity is `<hostname>_<random uuid>`, new at every start;
//! - a candidate takes the Lease when it does not exist, when it holds it already, or when the
//!   record it last *observed* has not changed for `leaseDurationSeconds` on its own clock
//!   (`isLeaseValid` compares with the time it observed the record, not with `renewTime`), so a
//!   restarted component waits one lease duration (15 s) before it leads;
//! - the leader renews every retry period (2 s) and gives up when it cannot renew within the
//!   renew deadline (10 s); the components then exit ("leaderelection lost") and their kubelet
//!   restarts them;
//! - becoming leader records a `LeaderElection` event "<identity> became leader" on the Lease.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::client::events::Recorder;
use crate::client::{Client, ClientError, path};

/// What to elect on.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// Lease namespace (`kube-system`).
    pub namespace: String,
    /// Lease name (`kube-controller-manager`, `kube-scheduler`).
    pub name: String,
    /// This candidate's identity.
    pub identity: String,
    /// `--leader-elect-lease-duration` (15 s).
    pub lease_duration: Duration,
    /// `--leader-elect-renew-deadline` (10 s).
    pub renew_deadline: Duration,
    /// `--leader-elect-retry-period` (2 s).
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// This process as a candidate for the Lease `namespace/name` with the `--leader-elect-*`
    /// timings (lease duration, renew deadline, retry period).
    pub fn candidate(namespace: &str, name: &str, timings: (Duration, Duration, Duration)) -> Self {
        LeaderConfig {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity(),
            lease_duration: timings.0,
            renew_deadline: timings.1,
            retry_period: timings.2,
        }
    }
}

/// The identity client-go components use: hostname, `_`, a random UUID.
pub fn identity() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}_{}", crate::apiserver::meta::new_uid())
}

/// A candidate's state between attempts.
#[derive(Debug)]
pub struct Elector {
    client: Client,
    config: LeaderConfig,
    observed: Option<(Value, Instant)>,
    leader: bool,
}

impl Elector {
    /// A candidate.
    pub fn new(client: Client, config: LeaderConfig) -> Elector {
        Elector {
            client,
            config,
            observed: None,
            leader: false,
        }
    }

    fn lease_path(&self) -> String {
        path(
            "coordination.k8s.io",
            "v1",
            "leases",
            Some(&self.config.namespace),
            Some(&self.config.name),
        )
    }

    /// Whether this candidate holds the lease.
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// One `tryAcquireOrRenew`: true when this candidate holds the lease afterwards.
    ///
    /// # Errors
    /// [`ClientError`] when the API cannot be reached (the attempt failed).
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, ClientError> {
        let now = crate::apiserver::meta::now_micro();
        let secs = self.config.lease_duration.as_secs();
        let existing = self.client.get_opt(&self.lease_path()).await?;
        let Some(old) = existing else {
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": {"holderIdentity": self.config.identity, "leaseDurationSeconds": secs,
                         "acquireTime": now, "renewTime": now, "leaseTransitions": 0},
            });
            let created = self
                .client
                .create(
                    &path(
                        "coordination.k8s.io",
                        "v1",
                        "leases",
                        Some(&self.config.namespace),
                        None,
                    ),
                    &lease,
                )
                .await?;
            self.observed = Some((created["spec"].clone(), Instant::now()));
            self.leader = true;
            return Ok(true);
        };
        let spec = old["spec"].clone();
        if self.observed.as_ref().is_none_or(|(o, _)| *o != spec) {
            self.observed = Some((spec.clone(), Instant::now()));
        }
        let holder = spec["holderIdentity"].as_str().unwrap_or_default();
        let observed_secs = spec["leaseDurationSeconds"].as_u64().unwrap_or(secs);
        let valid = self
            .observed
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() < Duration::from_secs(observed_secs));
        let mine = holder == self.config.identity;
        if !holder.is_empty() && valid && !mine {
            self.leader = false;
            return Ok(false);
        }
        let transitions = spec["leaseTransitions"].as_i64().unwrap_or(0);
        let mut lease = old.clone();
        lease["spec"] = if mine {
            json!({"holderIdentity": self.config.identity, "leaseDurationSeconds": secs,
                   "acquireTime": spec["acquireTime"], "renewTime": now, "leaseTransitions": transitions})
        } else {
            json!({"holderIdentity": self.config.identity, "leaseDurationSeconds": secs,
                   "acquireTime": now, "renewTime": now, "leaseTransitions": transitions + 1})
        };
        match self.client.update(&self.lease_path(), &lease).await {
            Ok(updated) => {
                self.observed = Some((updated["spec"].clone(), Instant::now()));
                self.leader = true;
                Ok(true)
            }
            Err(e) if e.is_conflict() => {
                self.leader = false;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Retries every retry period until this candidate leads, then records the
    /// `LeaderElection` event.
    pub async fn acquire(&mut self, recorder: &Recorder) {
        loop {
            if let Ok(true) = self.try_acquire_or_renew().await {
                eprintln!(
                    "I{} leaderelection.go] \"successfully acquired lease\" lease=\"{}/{}\"",
                    jiff::Timestamp::now().strftime("%m%d %H:%M:%S%.6f"),
                    self.config.namespace,
                    self.config.name
                );
                if let Ok(Some(lease)) = self.client.get_opt(&self.lease_path()).await {
                    let lease = super::util::typed(lease, "coordination.k8s.io/v1", "Lease");
                    let _ = recorder
                        .normal(
                            &lease,
                            "LeaderElection",
                            &format!("{} became leader", self.config.identity),
                        )
                        .await;
                }
                return;
            }
            // wait.JitterUntil with jitter factor 1.2.
            let jitter = 1.0 + 1.2 * (jiff::Timestamp::now().subsec_nanosecond() as f64 / 1e9);
            tokio::time::sleep(self.config.retry_period.mul_f64(jitter)).await;
        }
    }

    /// Renews every retry period; returns when a renewal did not succeed within the renew
    /// deadline (leadership lost).
    pub async fn keep(&mut self) {
        loop {
            let deadline = Instant::now() + self.config.renew_deadline;
            let mut renewed = false;
            while Instant::now() < deadline {
                let attempt = tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await;
                if let Ok(Ok(true)) = attempt {
                    renewed = true;
                    break;
                }
                tokio::time::sleep(
                    self.config
                        .retry_period
                        .min(deadline.saturating_duration_since(Instant::now())),
                )
                .await;
            }
            if !renewed {
                self.leader = false;
                return;
            }
            tokio::time::sleep(self.config.retry_period).await;
        }
    }
}
