//! Kubernetes versions the labs can target (`--k8s-version X.Y`), and the one table that says what
//! differs between them.
//!
//! [`MINORS`] holds one row per minor from 1.26 (the course's own version) to 1.36 (the newest the
//! course is checked against). Everything in the harness that depends on the Kubernetes version
//! reads it from here ([`K8sVersion::facts`]); features gate scenarios on versions with
//! `@k8s(...)` tags ([`crate::gates`]).
//!
//! The harness keeps this table independent of labsim's (`sim/src/version.rs`) on purpose, so the
//! two cannot agree on the same mistake. Sources are cited per field on [`MinorFacts`]; where a
//! value moves within a minor (etcd is bumped in patch releases) the field says which value it
//! holds.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Oldest minor the course can run on: it was written for v1.26.2 (K8S-FACTS.md).
pub const OLDEST_MINOR: u32 = 26;
/// Newest minor the course is checked against (v1.36, K8S-FACTS.md).
pub const NEWEST_MINOR: u32 = 36;
/// The default: the newest minor the kubectl dispatcher on these machines has a client for
/// (1.27–1.33, KUBECTL-PROTOCOL.md), and labsim's own default.
pub const DEFAULT_MINOR: u32 = 33;

/// A Kubernetes `1.Y` minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct K8sVersion {
    minor: u32,
}

/// A `--k8s-version` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not `X.Y` (or `vX.Y`).
    #[error("cannot read Kubernetes version {0:?}: expected X.Y such as 1.33")]
    Malformed(String),
    /// Outside the range the course is checked against.
    #[error(
        "Kubernetes {0} is outside the versions the labs support: choose 1.{OLDEST_MINOR} to 1.{NEWEST_MINOR}"
    )]
    Unsupported(String),
}

impl K8sVersion {
    /// The default version (1.33).
    #[must_use]
    pub const fn default_version() -> Self {
        Self {
            minor: DEFAULT_MINOR,
        }
    }

    /// `1.minor`, if the labs support it.
    ///
    /// # Errors
    /// [`VersionError::Unsupported`] outside 1.26–1.36.
    pub fn from_minor(minor: u32) -> Result<Self, VersionError> {
        if (OLDEST_MINOR..=NEWEST_MINOR).contains(&minor) {
            Ok(Self { minor })
        } else {
            Err(VersionError::Unsupported(format!("1.{minor}")))
        }
    }

    /// Every supported version, oldest first.
    pub fn all() -> impl Iterator<Item = Self> {
        (OLDEST_MINOR..=NEWEST_MINOR).map(|minor| Self { minor })
    }

    /// The minor number (`33` for 1.33).
    #[must_use]
    pub const fn minor(self) -> u32 {
        self.minor
    }

    /// What differs in this minor: its row of [`MINORS`].
    #[must_use]
    pub fn facts(self) -> &'static MinorFacts {
        let index = usize::try_from(self.minor - OLDEST_MINOR).expect("small index");
        &MINORS[index]
    }
}

impl Default for K8sVersion {
    fn default() -> Self {
        Self::default_version()
    }
}

impl FromStr for K8sVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('v');
        let (major, minor) = t
            .split_once('.')
            .ok_or_else(|| VersionError::Malformed(s.to_string()))?;
        let (major, minor): (u32, u32) = match (major.parse(), minor.parse()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Err(VersionError::Malformed(s.to_string())),
        };
        if major != 1 {
            return Err(VersionError::Unsupported(format!("{major}.{minor}")));
        }
        Self::from_minor(minor)
    }
}

impl fmt::Display for K8sVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

/// The kubeadm configuration API a minor's `kubeadm init --config` should be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeadmApi {
    /// `kubeadm.k8s.io/v1beta3` (Kubernetes 1.22–1.35; deprecated from 1.31, removed in 1.36).
    V1beta3,
    /// `kubeadm.k8s.io/v1beta4` (Kubernetes 1.31 on).
    V1beta4,
}

impl KubeadmApi {
    /// The `apiVersion` value.
    #[must_use]
    pub const fn api_version(self) -> &'static str {
        match self {
            Self::V1beta3 => "kubeadm.k8s.io/v1beta3",
            Self::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }

    /// How this API writes component `extraArgs`.
    #[must_use]
    pub const fn extra_args(self) -> ExtraArgsShape {
        match self {
            Self::V1beta3 => ExtraArgsShape::Map,
            Self::V1beta4 => ExtraArgsShape::List,
        }
    }
}

/// The shape of `extraArgs` (and `kubeletExtraArgs`) in a kubeadm config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraArgsShape {
    /// v1beta3: a map `{flag: value}`.
    Map,
    /// v1beta4: a list of `{name, value}` (so a flag may repeat).
    List,
}

/// What a minor's kube-controller-manager does with `--pod-eviction-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodEvictionTimeoutFlag {
    /// Accepted, deprecated, and without effect: taint-based eviction (default since 1.13) decides.
    DeprecatedNoEffect,
    /// Removed: kube-controller-manager refuses to start with it.
    Removed,
}

/// What a minor's kubelet and kubeadm do on a cgroup v1 host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupV1 {
    /// Supported.
    Supported,
    /// In maintenance mode: works, with a warning.
    Maintenance,
    /// The kubelet refuses to start (`failCgroupV1: true` by default) and kubeadm's preflight
    /// fails: the node must use cgroup v2.
    Refused,
}

/// The wording of the deployment controller's `ScalingReplicaSet` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalingMessage {
    /// `Scaled up replica set X to N`.
    ToN,
    /// `Scaled up replica set X to N from M`.
    ToNFromM,
    /// `Scaled up replica set X from M to N`.
    FromMToN,
}

impl ScalingMessage {
    /// The event message for scaling replica set `rs` from `from` to `to` replicas.
    #[must_use]
    pub fn render(self, rs: &str, from: u32, to: u32) -> String {
        let direction = if to >= from { "up" } else { "down" };
        match self {
            Self::ToN => format!("Scaled {direction} replica set {rs} to {to}"),
            Self::ToNFromM => format!("Scaled {direction} replica set {rs} to {to} from {from}"),
            Self::FromMToN => format!("Scaled {direction} replica set {rs} from {from} to {to}"),
        }
    }
}

/// `crictl ps` columns up to cri-tools 1.31 (cri-tools `cmd/crictl/container.go`).
const CRICTL_PS: &[&str] = &[
    "CONTAINER",
    "IMAGE",
    "CREATED",
    "STATE",
    "NAME",
    "ATTEMPT",
    "POD ID",
    "POD",
];
/// `crictl ps` columns from cri-tools 1.32, which adds `NAMESPACE`.
const CRICTL_PS_NAMESPACE: &[&str] = &[
    "CONTAINER",
    "IMAGE",
    "CREATED",
    "STATE",
    "NAME",
    "ATTEMPT",
    "POD ID",
    "POD",
    "NAMESPACE",
];

/// What one Kubernetes minor looks like to the course.
///
/// Sources, per field:
/// - `kubeadm_api`, `v1beta3_accepted`: kubeadm's config API docs and
///   `cmd/kubeadm/app/apis/kubeadm/v1beta4/doc.go` (v1beta4 added in 1.31, v1beta3 deprecated
///   then), v1beta3 removed in 1.36 (K8S-FACTS.md, "kubeadm").
/// - `pause_image`: `cmd/kubeadm/app/constants/constants.go` `PauseVersion` of each release.
/// - `etcd_at_release`: `SupportedEtcdVersion[minor]` in the same file at the minor's `.0` release
///   (CHANGELOG-1.Y.md "Dependencies"). Patch releases move it: e.g. kubernetes PR 126395 (1.28–1.30
///   to 3.5.15), PR 134692 (1.31–1.33 to 3.5.23), PR 138746 (1.34–1.36 to 3.6.11). Read the real
///   version from the cluster; use this for the series (3.5 or 3.6, where `etcdctl snapshot` moved
///   to `etcdutl`).
/// - `pod_eviction_timeout`: deprecated in 1.26 and removed in 1.27
///   (`cmd/kube-controller-manager/app/options/nodelifecyclecontroller.go`, K8S-FACTS.md).
/// - `node_monitor_grace_period`: 40 s, 50 s from 1.32 (kubernetes PR 126287,
///   `pkg/controller/nodelifecycle/config/v1alpha1/defaults.go`).
/// - `crictl_ps_columns`: cri-tools `cmd/crictl/container.go` (NAMESPACE added in v1.32); the
///   cri-tools package in each minor's pkgs.k8s.io repository has the minor's version.
/// - `containerd_min`: containerd `RELEASES.md`, "Kubernetes Support" (oldest recommended patch
///   per Kubernetes minor; the table has no row for 1.34 and 1.35, which keep 1.33's floor since
///   containerd 1.x stays supported until 1.36); 1.36 ends containerd 1.x support (Kubernetes v1.34
///   release blog, "Kubernetes to end containerd 1.x support in v1.36") and needs 2.2 (K8S-FACTS.md).
/// - `cgroup_v1`: KEP-4569 (cgroup v1 maintenance mode from 1.31); kubelet `failCgroupV1`
///   defaults to true and kubeadm's preflight errors from 1.35 (K8S-FACTS.md, "kubeadm").
/// - `scaling_message`: `pkg/controller/deployment/sync.go`; kubernetes PR 101142 appended
///   "from M" (from 1.27), PR 125118 reordered it to "from M to N" (from 1.31). K8S-FACTS.md dates
///   the reorder 1.32, CLI-REFERENCE.md 1.31; a real run of 1.31 decides (checks should name the
///   form they expected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinorFacts {
    /// The minor number.
    pub minor: u32,
    /// The kubeadm config API the course's config should use.
    pub kubeadm_api: KubeadmApi,
    /// Whether `kubeadm.k8s.io/v1beta3` is still accepted.
    pub v1beta3_accepted: bool,
    /// The pause (sandbox) image kubeadm expects.
    pub pause_image: &'static str,
    /// The etcd version kubeadm deployed at the minor's `.0` release.
    pub etcd_at_release: &'static str,
    /// Whether kube-controller-manager still takes `--pod-eviction-timeout`.
    pub pod_eviction_timeout: PodEvictionTimeoutFlag,
    /// Default `--node-monitor-grace-period` of kube-controller-manager.
    pub node_monitor_grace_period: Duration,
    /// The header of `crictl ps` (cri-tools of the same minor).
    pub crictl_ps_columns: &'static [&'static str],
    /// The oldest containerd recommended for this minor.
    pub containerd_min: &'static str,
    /// What happens on a cgroup v1 host.
    pub cgroup_v1: CgroupV1,
    /// The wording of `ScalingReplicaSet` events.
    pub scaling_message: ScalingMessage,
}

impl MinorFacts {
    /// The version.
    #[must_use]
    pub fn version(&self) -> K8sVersion {
        K8sVersion { minor: self.minor }
    }

    /// The shape of `extraArgs` in this minor's kubeadm config.
    #[must_use]
    pub const fn extra_args(&self) -> ExtraArgsShape {
        self.kubeadm_api.extra_args()
    }

    /// The Debian package repository of kubeadm, kubelet, kubectl and cri-tools for this minor
    /// (pkgs.k8s.io, one repository per minor: kubernetes.io "Changing the Kubernetes package
    /// repository"; the legacy apt.kubernetes.io is frozen).
    #[must_use]
    pub fn deb_repository(&self) -> String {
        format!("https://pkgs.k8s.io/core:/stable:/v1.{}/deb/", self.minor)
    }

    /// The signing key of [`deb_repository`](Self::deb_repository).
    #[must_use]
    pub fn deb_repository_key(&self) -> String {
        format!("{}Release.key", self.deb_repository())
    }

    /// The etcd release series (`3.5`, `3.6`).
    #[must_use]
    pub fn etcd_series(&self) -> &'static str {
        let mut parts = self.etcd_at_release.splitn(3, '.');
        let major = parts.next().unwrap_or_default();
        let minor = parts.next().unwrap_or_default();
        let len = major.len() + 1 + minor.len();
        &self.etcd_at_release[..len]
    }

    /// Whether `etcdctl snapshot restore/status` moved to `etcdutl` (etcd 3.6).
    #[must_use]
    pub fn snapshot_needs_etcdutl(&self) -> bool {
        self.etcd_series() != "3.5"
    }
}

const fn row(
    minor: u32,
    pause_image: &'static str,
    etcd_at_release: &'static str,
    containerd_min: &'static str,
) -> MinorFacts {
    MinorFacts {
        minor,
        kubeadm_api: if minor < 31 {
            KubeadmApi::V1beta3
        } else {
            KubeadmApi::V1beta4
        },
        v1beta3_accepted: minor < 36,
        pause_image,
        etcd_at_release,
        pod_eviction_timeout: if minor < 27 {
            PodEvictionTimeoutFlag::DeprecatedNoEffect
        } else {
            PodEvictionTimeoutFlag::Removed
        },
        node_monitor_grace_period: Duration::from_secs(if minor < 32 { 40 } else { 50 }),
        crictl_ps_columns: if minor < 32 {
            CRICTL_PS
        } else {
            CRICTL_PS_NAMESPACE
        },
        containerd_min,
        cgroup_v1: if minor < 31 {
            CgroupV1::Supported
        } else if minor < 35 {
            CgroupV1::Maintenance
        } else {
            CgroupV1::Refused
        },
        scaling_message: if minor < 27 {
            ScalingMessage::ToN
        } else if minor < 31 {
            ScalingMessage::ToNFromM
        } else {
            ScalingMessage::FromMToN
        },
    }
}

/// One row per supported minor, oldest first. The boundaries shared by several fields are written
/// once in `row`; the values that change minor by minor are spelled out here.
pub const MINORS: [MinorFacts; (NEWEST_MINOR - OLDEST_MINOR + 1) as usize] = [
    row(26, "registry.k8s.io/pause:3.9", "3.5.6", "1.6.15"),
    row(27, "registry.k8s.io/pause:3.9", "3.5.7", "1.6.15"),
    row(28, "registry.k8s.io/pause:3.9", "3.5.9", "1.6.15"),
    row(29, "registry.k8s.io/pause:3.9", "3.5.10", "1.6.27"),
    row(30, "registry.k8s.io/pause:3.9", "3.5.12", "1.6.28"),
    row(31, "registry.k8s.io/pause:3.10", "3.5.15", "1.6.34"),
    row(32, "registry.k8s.io/pause:3.10", "3.5.16", "1.6.36"),
    row(33, "registry.k8s.io/pause:3.10", "3.5.21", "1.6.36"),
    row(34, "registry.k8s.io/pause:3.10.1", "3.6.4", "1.6.36"),
    row(35, "registry.k8s.io/pause:3.10.1", "3.6.6", "1.6.36"),
    row(36, "registry.k8s.io/pause:3.10.2", "3.6.8", "2.2.0"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_x_y_and_rejects_the_rest() {
        assert_eq!("1.33".parse::<K8sVersion>().unwrap().to_string(), "1.33");
        assert_eq!("v1.26".parse::<K8sVersion>().unwrap().minor(), 26);
        assert_eq!(K8sVersion::default().to_string(), "1.33");
        assert!(matches!(
            "1.25".parse::<K8sVersion>(),
            Err(VersionError::Unsupported(_))
        ));
        assert!(matches!(
            "2.0".parse::<K8sVersion>(),
            Err(VersionError::Unsupported(_))
        ));
        assert!(matches!(
            "1.33.7".parse::<K8sVersion>(),
            Err(VersionError::Malformed(_))
        ));
        assert!(matches!(
            "latest".parse::<K8sVersion>(),
            Err(VersionError::Malformed(_))
        ));
    }

    #[test]
    fn the_table_has_one_row_per_supported_minor_in_order() {
        let minors: Vec<u32> = MINORS.iter().map(|f| f.minor).collect();
        let expected: Vec<u32> = (OLDEST_MINOR..=NEWEST_MINOR).collect();
        assert_eq!(minors, expected);
        for v in K8sVersion::all() {
            assert_eq!(v.facts().version(), v);
        }
    }

    /// Every field of every row, written out per minor as the sources state them (independently
    /// of how `row` computes the shared boundaries).
    #[test]
    fn every_minor_matches_its_sources() {
        type Expected = (
            u32,
            &'static str,
            bool,
            &'static str,
            &'static str,
            u64,
            bool,
            &'static str,
            CgroupV1,
            &'static str,
        );
        use CgroupV1::{Maintenance, Refused, Supported};
        // (minor, apiVersion, v1beta3 accepted, pause, etcd, grace s, eviction flag exists,
        //  containerd floor, cgroup v1, ScalingReplicaSet message for 2 → 5)
        #[rustfmt::skip]
        let expected: [Expected; 11] = [
            (26, "kubeadm.k8s.io/v1beta3", true, "3.9", "3.5.6", 40, true, "1.6.15", Supported, "Scaled up replica set rs to 5"),
            (27, "kubeadm.k8s.io/v1beta3", true, "3.9", "3.5.7", 40, false, "1.6.15", Supported, "Scaled up replica set rs to 5 from 2"),
            (28, "kubeadm.k8s.io/v1beta3", true, "3.9", "3.5.9", 40, false, "1.6.15", Supported, "Scaled up replica set rs to 5 from 2"),
            (29, "kubeadm.k8s.io/v1beta3", true, "3.9", "3.5.10", 40, false, "1.6.27", Supported, "Scaled up replica set rs to 5 from 2"),
            (30, "kubeadm.k8s.io/v1beta3", true, "3.9", "3.5.12", 40, false, "1.6.28", Supported, "Scaled up replica set rs to 5 from 2"),
            (31, "kubeadm.k8s.io/v1beta4", true, "3.10", "3.5.15", 40, false, "1.6.34", Maintenance, "Scaled up replica set rs from 2 to 5"),
            (32, "kubeadm.k8s.io/v1beta4", true, "3.10", "3.5.16", 50, false, "1.6.36", Maintenance, "Scaled up replica set rs from 2 to 5"),
            (33, "kubeadm.k8s.io/v1beta4", true, "3.10", "3.5.21", 50, false, "1.6.36", Maintenance, "Scaled up replica set rs from 2 to 5"),
            (34, "kubeadm.k8s.io/v1beta4", true, "3.10.1", "3.6.4", 50, false, "1.6.36", Maintenance, "Scaled up replica set rs from 2 to 5"),
            (35, "kubeadm.k8s.io/v1beta4", true, "3.10.1", "3.6.6", 50, false, "1.6.36", Refused, "Scaled up replica set rs from 2 to 5"),
            (36, "kubeadm.k8s.io/v1beta4", false, "3.10.2", "3.6.8", 50, false, "2.2.0", Refused, "Scaled up replica set rs from 2 to 5"),
        ];
        for (minor, api, v1beta3, pause, etcd, grace, eviction, containerd, cgroup, scaled) in
            expected
        {
            let f = K8sVersion::from_minor(minor).unwrap().facts();
            let at = format!("1.{minor}");
            assert_eq!(f.kubeadm_api.api_version(), api, "{at}");
            assert_eq!(f.v1beta3_accepted, v1beta3, "{at}");
            assert_eq!(
                f.pause_image,
                format!("registry.k8s.io/pause:{pause}"),
                "{at}"
            );
            assert_eq!(f.etcd_at_release, etcd, "{at}");
            assert_eq!(
                f.node_monitor_grace_period,
                Duration::from_secs(grace),
                "{at}"
            );
            assert_eq!(
                f.pod_eviction_timeout == PodEvictionTimeoutFlag::DeprecatedNoEffect,
                eviction,
                "{at}"
            );
            assert_eq!(f.containerd_min, containerd, "{at}");
            assert_eq!(f.cgroup_v1, cgroup, "{at}");
            assert_eq!(f.scaling_message.render("rs", 2, 5), scaled, "{at}");
            assert_eq!(
                f.deb_repository(),
                format!("https://pkgs.k8s.io/core:/stable:/v1.{minor}/deb/"),
                "{at}"
            );
            assert_eq!(
                f.deb_repository_key(),
                format!("https://pkgs.k8s.io/core:/stable:/v1.{minor}/deb/Release.key")
            );
            let shape = if minor < 31 {
                ExtraArgsShape::Map
            } else {
                ExtraArgsShape::List
            };
            assert_eq!(f.extra_args(), shape, "{at}");
            assert_eq!(
                f.crictl_ps_columns.contains(&"NAMESPACE"),
                minor >= 32,
                "{at}"
            );
            assert_eq!(f.crictl_ps_columns[..8], *CRICTL_PS, "{at}");
            assert_eq!(
                f.etcd_series(),
                if minor < 34 { "3.5" } else { "3.6" },
                "{at}"
            );
            assert_eq!(f.snapshot_needs_etcdutl(), minor >= 34, "{at}");
        }
    }

    #[test]
    fn scaling_down_messages() {
        assert_eq!(
            ScalingMessage::ToN.render("web-5d8f", 5, 2),
            "Scaled down replica set web-5d8f to 2"
        );
        assert_eq!(
            ScalingMessage::ToNFromM.render("web-5d8f", 5, 2),
            "Scaled down replica set web-5d8f to 2 from 5"
        );
        assert_eq!(
            ScalingMessage::FromMToN.render("web-5d8f", 5, 2),
            "Scaled down replica set web-5d8f from 5 to 2"
        );
    }
}
