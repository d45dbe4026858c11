//! What labsim knows about each Kubernetes minor it can pretend to be (1.26–1.36).
//!
//! labsim keeps its own copy of these facts, independent of the harness's table
//! (`harness/versions.rs`), on purpose: if the two shared one table, a wrong fact would make labsim
//! and the harness agree on the same mistake. Sources are cited per field; K8S-FACTS.md and
//! CLI-REFERENCE.md in `shared/design` collect most of them.

use std::fmt;
use std::str::FromStr;

/// Oldest minor labsim supports (the course was written for 1.26).
pub const OLDEST_MINOR: u32 = 26;
/// Newest minor labsim supports.
pub const NEWEST_MINOR: u32 = 36;
/// The version a profile gets when `$KUBERNETES_VERSION` is not set.
pub const DEFAULT_MINOR: u32 = 33;

/// A Kubernetes 1.x minor version that labsim supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minor(u32);

/// A version string that labsim does not support or cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionError {
    /// Not of the form `1.Y`, `v1.Y` or `v1.Y.Z`.
    #[error("cannot read Kubernetes version {0:?}: expected X.Y such as 1.33 (or v1.33.7)")]
    Malformed(String),
    /// Well formed but outside 1.26–1.36.
    #[error(
        "Kubernetes {0} is not supported by labsim: choose a version from 1.{OLDEST_MINOR} to 1.{NEWEST_MINOR}"
    )]
    Unsupported(String),
}

impl FromStr for Minor {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('v');
        let mut parts = t.splitn(3, '.');
        let major = parts.next().and_then(|p| p.parse::<u32>().ok());
        let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
        let patch_ok = parts.next().is_none_or(|p| {
            p.split(['-', '+'])
                .next()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        });
        match (major, minor) {
            (Some(1), Some(m)) if patch_ok => {
                Minor::new(m).ok_or_else(|| VersionError::Unsupported(format!("1.{m}")))
            }
            (Some(_), Some(_)) if patch_ok => Err(VersionError::Unsupported(s.to_string())),
            _ => Err(VersionError::Malformed(s.to_string())),
        }
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.0)
    }
}

impl Default for Minor {
    fn default() -> Self {
        Minor(DEFAULT_MINOR)
    }
}

/// The kubeadm configuration API versions (`kubeadm.k8s.io/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeadmApi {
    /// `kubeadm.k8s.io/v1beta3`: `extraArgs` is a map.
    V1beta3,
    /// `kubeadm.k8s.io/v1beta4`: `extraArgs` is a list of `{name, value}`.
    V1beta4,
}

impl KubeadmApi {
    /// The `apiVersion` string.
    pub fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

impl Minor {
    /// The minor if labsim supports it.
    pub fn new(minor: u32) -> Option<Minor> {
        (OLDEST_MINOR..=NEWEST_MINOR)
            .contains(&minor)
            .then_some(Minor(minor))
    }

    /// Every supported minor, oldest first.
    pub fn all() -> impl Iterator<Item = Minor> {
        (OLDEST_MINOR..=NEWEST_MINOR).map(Minor)
    }

    /// The minor number (26 for 1.26).
    pub fn minor(self) -> u32 {
        self.0
    }

    /// The patch release labsim reports as `gitVersion` (a real release of that minor).
    pub fn git_version(self) -> String {
        // Real patch releases; labsim does not claim to be the newest patch.
        let patch = match self.0 {
            26 => 15,
            27 => 16,
            28 => 15,
            29 => 15,
            30 => 14,
            31 => 13,
            32 => 9,
            33 => 7,
            34 => 3,
            35 => 3,
            _ => 1,
        };
        format!("v1.{}.{}", self.0, patch)
    }

    /// kube-controller-manager's default `--node-monitor-grace-period`:
    /// 40 s, 50 s since 1.32 (kubernetes PR 126287).
    pub fn node_monitor_grace_period_secs(self) -> u64 {
        if self.0 >= 32 { 50 } else { 40 }
    }

    /// Whether kube-controller-manager still has `--pod-eviction-timeout`: deprecated in 1.26,
    /// removed in 1.27 (the component then refuses to start with "unknown flag").
    pub fn has_pod_eviction_timeout_flag(self) -> bool {
        self.0 < 27
    }

    /// Whether kubeadm of this version reads a config of `api`: v1beta3 from 1.22 until its removal
    /// in 1.36, v1beta4 from 1.31.
    pub fn kubeadm_accepts(self, api: KubeadmApi) -> bool {
        match api {
            KubeadmApi::V1beta3 => self.0 < 36,
            KubeadmApi::V1beta4 => self.0 >= 31,
        }
    }

    /// The config API kubeadm of this version writes and prefers.
    pub fn kubeadm_preferred_api(self) -> KubeadmApi {
        if self.0 >= 31 {
            KubeadmApi::V1beta4
        } else {
            KubeadmApi::V1beta3
        }
    }

    /// The pause (sandbox) image tag: 3.9 (1.26–1.30), 3.10 (1.31–1.33), 3.10.1 (1.34–1.35),
    /// 3.10.2 (1.36).
    pub fn pause_tag(self) -> &'static str {
        match self.0 {
            ..=30 => "3.9",
            31..=33 => "3.10",
            34..=35 => "3.10.1",
            _ => "3.10.2",
        }
    }

    /// The etcd version kubeadm deploys (cmd/kubeadm/app/constants SupportedEtcdVersion, as of each
    /// minor's later patches; minikube's constants_kubeadm_images.go lists them per release).
    pub fn etcd_version(self) -> &'static str {
        match self.0 {
            26 => "3.5.10",
            27 => "3.5.12",
            28 => "3.5.15",
            29 => "3.5.15",
            30 => "3.5.15",
            31..=33 => "3.5.21",
            34 => "3.6.5",
            35 => "3.6.6",
            _ => "3.6.8",
        }
    }

    /// The CoreDNS image tag kubeadm deploys.
    pub fn coredns_tag(self) -> &'static str {
        match self.0 {
            26 => "v1.9.3",
            27 | 28 => "v1.10.1",
            29 | 30 => "v1.11.1",
            31 | 32 => "v1.11.3",
            33 => "v1.12.0",
            _ => "v1.12.1",
        }
    }

    /// Whether `crictl ps` prints the NAMESPACE column (cri-tools 1.32 added it; cri-tools is
    /// released with the Kubernetes minor it is installed with).
    pub fn crictl_has_namespace_column(self) -> bool {
        self.0 >= 32
    }

    /// The kubelet's "Created" event message: `Created container app` until 1.31,
    /// `Created container: app` since 1.32.
    pub fn created_event_message(self, container: &str) -> String {
        if self.0 >= 32 {
            format!("Created container: {container}")
        } else {
            format!("Created container {container}")
        }
    }

    /// The deployment controller's `ScalingReplicaSet` message when it scales an existing replica
    /// set (pkg/controller/deployment/sync.go `scaleReplicaSet`): `Scaled up replica set x to 3`
    /// until PR 101142 added the old count (`… to 3 from 1`); PR 125118 (v1.32.0-alpha.2,
    /// CHANGELOG-1.32) reordered it to `… from 1 to 3`. PR 101142 is not in CHANGELOG-1.26's
    /// v1.26.0 notes, so labsim dates it to 1.27 (unverified: the 1.27 changelog stored for checking
    /// did not name it either).
    pub fn scaling_replica_set_message(self, up: bool, rs: &str, from: i64, to: i64) -> String {
        let dir = if up { "up" } else { "down" };
        match self.0 {
            ..=26 => format!("Scaled {dir} replica set {rs} to {to}"),
            27..=31 => format!("Scaled {dir} replica set {rs} to {to} from {from}"),
            _ => format!("Scaled {dir} replica set {rs} from {from} to {to}"),
        }
    }

    /// The `ScalingReplicaSet` message when the deployment controller creates a new replica set
    /// with `to` replicas (sync.go `getNewReplicaSet`): `Scaled up replica set x to 2`, and
    /// `Scaled up replica set x from 0 to 2` since PR 125118 (1.32).
    pub fn new_replica_set_message(self, rs: &str, to: i64) -> String {
        if self.0 >= 32 {
            format!("Scaled up replica set {rs} from 0 to {to}")
        } else {
            format!("Scaled up replica set {rs} to {to}")
        }
    }

    /// The event source of the NoExecute taint manager: `taint-controller` while it ran inside the
    /// node lifecycle controller, `taint-eviction-controller` since it became its own controller in
    /// 1.29 (KEP-3902, pkg/controller/tainteviction).
    pub fn taint_manager_component(self) -> &'static str {
        if self.0 >= 29 {
            "taint-eviction-controller"
        } else {
            "taint-controller"
        }
    }

    /// The TaintToleration filter's reason (pkg/scheduler/framework/plugins/tainttoleration):
    /// `node(s) had untolerated taint {key: value}` (since 1.25), and just
    /// `node(s) had untolerated taint(s)` since PR 134740 (1.35; it was also backported to later
    /// 1.34 patch releases, which labsim's 1.34 does not model).
    pub fn untolerated_taint_reason(self, key: &str, value: &str) -> String {
        if self.0 >= 35 {
            "node(s) had untolerated taint(s)".to_string()
        } else {
            format!("node(s) had untolerated taint {{{key}: {value}}}")
        }
    }

    /// Whether `FitError.Error` appends the PostFilter (preemption) message with its own period
    /// (`SeparatorFormat " %v."`), which doubles the period the preemption message already ends
    /// with: 1.26 to 1.29; kubernetes PR 123302 was closed as "already resolved in 1.30".
    pub fn fit_error_doubles_period(self) -> bool {
        self.0 <= 29
    }

    /// Whether the DynamicResources scheduler plugin runs by default and adds its PostFilter
    /// message `no new claims to deallocate` before the preemption one (DRA GA and on by default
    /// in 1.34).
    pub fn scheduler_has_dra_postfilter(self) -> bool {
        self.0 >= 34
    }

    /// Whether kubeadm writes `super-admin.conf` (added in 1.29).
    pub fn kubeadm_writes_super_admin(self) -> bool {
        self.0 >= 29
    }

    /// Whether kubeadm of this version prefixes errors with `error: ` (1.34+).
    pub fn kubeadm_error_prefix(self) -> bool {
        self.0 >= 34
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_people_type() {
        assert_eq!("1.33".parse::<Minor>().unwrap().minor(), 33);
        assert_eq!("v1.26.2".parse::<Minor>().unwrap().minor(), 26);
        assert_eq!("v1.36.0-rc.1".parse::<Minor>().unwrap().minor(), 36);
        assert!(matches!(
            "1.25".parse::<Minor>(),
            Err(VersionError::Unsupported(_))
        ));
        assert!(matches!(
            "1.37".parse::<Minor>(),
            Err(VersionError::Unsupported(_))
        ));
        assert!(matches!(
            "2.1".parse::<Minor>(),
            Err(VersionError::Unsupported(_))
        ));
        assert!(matches!(
            "latest".parse::<Minor>(),
            Err(VersionError::Malformed(_))
        ));
        assert!(matches!(
            "1.3x".parse::<Minor>(),
            Err(VersionError::Malformed(_))
        ));
    }

    #[test]
    fn facts_per_minor() {
        for m in Minor::all() {
            let n = m.minor();
            assert_eq!(
                m.node_monitor_grace_period_secs(),
                if n >= 32 { 50 } else { 40 }
            );
            assert_eq!(m.has_pod_eviction_timeout_flag(), n == 26);
            assert!(m.kubeadm_accepts(m.kubeadm_preferred_api()));
            assert_eq!(m.kubeadm_accepts(KubeadmApi::V1beta3), n <= 35);
            assert_eq!(m.kubeadm_accepts(KubeadmApi::V1beta4), n >= 31);
            assert!(m.git_version().starts_with(&format!("v1.{n}.")));
        }
        let pause: Vec<_> = Minor::all().map(|m| m.pause_tag()).collect();
        assert_eq!(
            pause,
            [
                "3.9", "3.9", "3.9", "3.9", "3.9", "3.10", "3.10", "3.10", "3.10.1", "3.10.1",
                "3.10.2"
            ]
        );
        assert_eq!(Minor::new(26).unwrap().etcd_version(), "3.5.10");
        assert_eq!(Minor::new(36).unwrap().etcd_version(), "3.6.8");
    }
}
