//! kube-controller-manager's options: the flags of each version (cmd/kube-controller-manager/app/options
//! and the generic component-base/apiserver options it embeds) and the typed values labsim's
//! controllers read, with the upstream defaults.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::flags::{FlagError, FlagSet, Flags};
use crate::version::Minor;

/// Boolean flags of kube-controller-manager.
const BOOL_FLAGS: &[&str] = &[
    "allocate-node-cidrs",
    "authentication-skip-lookup",
    "authentication-tolerate-lookup-failure",
    "configure-cloud-routes",
    "contention-profiling",
    "disable-attach-detach-reconcile-sync",
    "disable-force-detach-on-timeout",
    "disable-http2-serving",
    "enable-dynamic-provisioning",
    "enable-garbage-collector",
    "enable-hostpath-provisioner",
    "enable-leader-migration",
    "help",
    "leader-elect",
    "log-json-split-stream",
    "log-text-split-stream",
    "permit-address-sharing",
    "permit-port-sharing",
    "profiling",
    "use-service-account-credentials",
];

/// Value flags of kube-controller-manager (1.26–1.36; a few exist only in some releases, accepted
/// throughout).
const VALUE_FLAGS: &[&str] = &[
    "allow-metric-labels",
    "allow-metric-labels-manifest",
    "attach-detach-reconcile-sync-period",
    "authentication-kubeconfig",
    "authentication-token-webhook-cache-ttl",
    "authorization-always-allow-paths",
    "authorization-kubeconfig",
    "authorization-webhook-cache-authorized-ttl",
    "authorization-webhook-cache-unauthorized-ttl",
    "bind-address",
    "cert-dir",
    "cidr-allocator-type",
    "client-ca-file",
    "cloud-config",
    "cloud-provider",
    "cluster-cidr",
    "cluster-name",
    "cluster-signing-cert-file",
    "cluster-signing-duration",
    "cluster-signing-key-file",
    "cluster-signing-kube-apiserver-client-cert-file",
    "cluster-signing-kube-apiserver-client-key-file",
    "cluster-signing-kubelet-client-cert-file",
    "cluster-signing-kubelet-client-key-file",
    "cluster-signing-kubelet-serving-cert-file",
    "cluster-signing-kubelet-serving-key-file",
    "cluster-signing-legacy-unknown-cert-file",
    "cluster-signing-legacy-unknown-key-file",
    "concurrent-cron-job-syncs",
    "concurrent-daemonset-syncs",
    "concurrent-deployment-syncs",
    "concurrent-endpoint-syncs",
    "concurrent-ephemeralvolume-syncs",
    "concurrent-gc-syncs",
    "concurrent-horizontal-pod-autoscaler-syncs",
    "concurrent-job-syncs",
    "concurrent-namespace-syncs",
    "concurrent-rc-syncs",
    "concurrent-replicaset-syncs",
    "concurrent-resource-quota-syncs",
    "concurrent-service-endpoint-syncs",
    "concurrent-service-syncs",
    "concurrent-serviceaccount-token-syncs",
    "concurrent-statefulset-syncs",
    "concurrent-ttl-after-finished-syncs",
    "concurrent-validating-admission-policy-status-syncs",
    "controller-start-interval",
    "controllers",
    "disabled-metrics",
    "emulated-version",
    "endpoint-updates-batch-period",
    "endpointslice-updates-batch-period",
    "external-cloud-volume-plugin",
    "feature-gates",
    "flex-volume-plugin-dir",
    "horizontal-pod-autoscaler-cpu-initialization-period",
    "horizontal-pod-autoscaler-downscale-stabilization",
    "horizontal-pod-autoscaler-initial-readiness-delay",
    "horizontal-pod-autoscaler-sync-period",
    "horizontal-pod-autoscaler-tolerance",
    "http2-max-streams-per-connection",
    "kube-api-burst",
    "kube-api-content-type",
    "kube-api-qps",
    "kubeconfig",
    "large-cluster-size-threshold",
    "leader-elect-lease-duration",
    "leader-elect-renew-deadline",
    "leader-elect-resource-lock",
    "leader-elect-resource-name",
    "leader-elect-resource-namespace",
    "leader-elect-retry-period",
    "leader-migration-config",
    "legacy-service-account-token-clean-up-period",
    "log-flush-frequency",
    "log-json-info-buffer-size",
    "log-text-info-buffer-size",
    "logging-format",
    "master",
    "max-endpoints-per-slice",
    "min-resync-period",
    "mirroring-concurrent-service-endpoint-syncs",
    "mirroring-endpointslice-updates-batch-period",
    "mirroring-max-endpoints-per-subset",
    "namespace-sync-period",
    "node-cidr-mask-size",
    "node-cidr-mask-size-ipv4",
    "node-cidr-mask-size-ipv6",
    "node-eviction-rate",
    "node-monitor-grace-period",
    "node-monitor-period",
    "node-startup-grace-period",
    "pv-recycler-increment-timeout-nfs",
    "pv-recycler-minimum-timeout-hostpath",
    "pv-recycler-minimum-timeout-nfs",
    "pv-recycler-pod-template-filepath-hostpath",
    "pv-recycler-pod-template-filepath-nfs",
    "pv-recycler-timeout-increment-hostpath",
    "pvclaimbinder-sync-period",
    "requestheader-allowed-names",
    "requestheader-client-ca-file",
    "requestheader-extra-headers-prefix",
    "requestheader-group-headers",
    "requestheader-uid-headers",
    "requestheader-username-headers",
    "resource-quota-sync-period",
    "root-ca-file",
    "route-reconciliation-period",
    "secondary-node-eviction-rate",
    "secure-port",
    "service-account-private-key-file",
    "service-cluster-ip-range",
    "show-hidden-metrics-for-version",
    "terminated-pod-gc-threshold",
    "tls-cert-file",
    "tls-cipher-suites",
    "tls-min-version",
    "tls-private-key-file",
    "tls-sni-cert-key",
    "unhealthy-zone-threshold",
    "v",
    "version",
    "vmodule",
    "volume-host-allow-local-loopback",
    "volume-host-cidr-denylist",
];

/// The flags kube-controller-manager of `minor` accepts. `--pod-eviction-timeout` and
/// `--enable-taint-manager` were deprecated in 1.26 and removed in 1.27 (CHANGELOG-1.26, PR 113710:
/// "CLI flag `pod-eviction-timeout` is deprecated and will be removed together with
/// `enable-taint-manager` in v1.27").
pub fn flag_set(minor: Minor) -> FlagSet {
    let mut bools = BOOL_FLAGS.to_vec();
    let mut values = VALUE_FLAGS.to_vec();
    if minor.has_pod_eviction_timeout_flag() {
        values.push("pod-eviction-timeout");
        bools.push("enable-taint-manager");
    }
    FlagSet {
        program: "kube-controller-manager",
        bools,
        values,
    }
}

/// Errors turning flags into options.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// A flag's value is malformed.
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// `--controllers` names a controller that does not exist.
    #[error("{0:?} is not in the list of known controllers")]
    UnknownController(String),
    /// `--kubeconfig` is missing (labsim has no in-cluster mode for the controller manager).
    #[error(
        "--kubeconfig is required: labsim's kube-controller-manager reads its API server and credentials from it"
    )]
    NoKubeconfig,
    /// A CIDR flag does not parse.
    #[error("invalid CIDR {value:?} for --{flag}: expected an IPv4 network such as 10.244.0.0/16")]
    BadCidr {
        /// Flag.
        flag: &'static str,
        /// Value.
        value: String,
    },
}

/// Every controller name kube-controller-manager knows (`--controllers`), from
/// cmd/kube-controller-manager/names/controller_names.go; the ones labsim runs are in
/// [`IMPLEMENTED`].
pub const KNOWN_CONTROLLERS: &[&str] = &[
    "attachdetach",
    "bootstrapsigner",
    "cloud-node-lifecycle",
    "clusterrole-aggregation",
    "cronjob",
    "csrapproving",
    "csrcleaner",
    "csrsigning",
    "daemonset",
    "deployment",
    "disruption",
    "endpoint",
    "endpointslice",
    "endpointslicemirroring",
    "ephemeral-volume",
    "garbagecollector",
    "horizontalpodautoscaling",
    "job",
    "legacy-serviceaccount-token-cleaner",
    "namespace",
    "nodeipam",
    "nodelifecycle",
    "persistentvolume-binder",
    "persistentvolume-expander",
    "podgc",
    "pv-protection",
    "pvc-protection",
    "replicaset",
    "replicationcontroller",
    "resourcequota",
    "root-ca-cert-publisher",
    "route",
    "selinux-warning-controller",
    "service",
    "service-cidr-controller",
    "serviceaccount",
    "serviceaccount-token",
    "statefulset",
    "storage-version-migrator-controller",
    "storageversion-garbage-collector",
    "taint-eviction-controller",
    "tokencleaner",
    "ttl",
    "ttl-after-finished",
    "validatingadmissionpolicy-status",
    "volumeattributesclass-protection",
];

/// The controllers labsim implements.
pub const IMPLEMENTED: &[&str] = &[
    "bootstrapsigner",
    "csrapproving",
    "csrsigning",
    "daemonset",
    "deployment",
    "endpoint",
    "endpointslice",
    "garbagecollector",
    "namespace",
    "nodeipam",
    "nodelifecycle",
    "podgc",
    "replicaset",
    "root-ca-cert-publisher",
    "serviceaccount",
    "taint-eviction-controller",
    "tokencleaner",
];

/// Controllers that are off unless named (`ControllersDisabledByDefault`:
/// bootstrapsigner and tokencleaner; kubeadm enables both with `--controllers=*,bootstrapsigner,tokencleaner`).
const DISABLED_BY_DEFAULT: &[&str] = &["bootstrapsigner", "tokencleaner"];

/// The typed options the controllers use.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Kubernetes minor this controller manager is.
    pub minor: Minor,
    /// `--kubeconfig`.
    pub kubeconfig: PathBuf,
    /// `--controllers` as given (default `*`).
    pub controllers: Vec<String>,
    /// `--leader-elect` (default true).
    pub leader_elect: bool,
    /// `--leader-elect-lease-duration` (15 s).
    pub lease_duration: Duration,
    /// `--leader-elect-renew-deadline` (10 s).
    pub renew_deadline: Duration,
    /// `--leader-elect-retry-period` (2 s).
    pub retry_period: Duration,
    /// `--leader-elect-resource-name` (`kube-controller-manager`).
    pub lease_name: String,
    /// `--leader-elect-resource-namespace` (`kube-system`).
    pub lease_namespace: String,
    /// `--use-service-account-credentials`.
    pub use_service_account_credentials: bool,
    /// `--allocate-node-cidrs`.
    pub allocate_node_cidrs: bool,
    /// `--cluster-cidr`.
    pub cluster_cidr: Option<(Ipv4Addr, u8)>,
    /// `--node-cidr-mask-size(-ipv4)` (24).
    pub node_cidr_mask_size: u8,
    /// `--node-monitor-period` (5 s).
    pub node_monitor_period: Duration,
    /// `--node-monitor-grace-period` (40 s; 50 s from 1.32).
    pub node_monitor_grace_period: Duration,
    /// `--node-startup-grace-period` (60 s).
    pub node_startup_grace_period: Duration,
    /// `--node-eviction-rate` (0.1 nodes per second).
    pub node_eviction_rate: f64,
    /// `--secondary-node-eviction-rate` (0.01).
    pub secondary_node_eviction_rate: f64,
    /// `--large-cluster-size-threshold` (50).
    pub large_cluster_size_threshold: usize,
    /// `--unhealthy-zone-threshold` (0.55).
    pub unhealthy_zone_threshold: f64,
    /// `--terminated-pod-gc-threshold` (12500).
    pub terminated_pod_gc_threshold: usize,
    /// `--cluster-signing-cert-file` / `--cluster-signing-key-file`.
    pub cluster_signing: Option<(PathBuf, PathBuf)>,
    /// `--cluster-signing-duration` (8760h).
    pub cluster_signing_duration: Duration,
    /// `--root-ca-file`.
    pub root_ca_file: Option<PathBuf>,
    /// `--service-account-private-key-file`.
    pub service_account_private_key_file: Option<PathBuf>,
    /// `--max-endpoints-per-slice` (100).
    pub max_endpoints_per_slice: usize,
    /// `--bind-address` of the secure port.
    pub bind_address: Option<String>,
    /// `--secure-port` (10257; 0 turns serving off).
    pub secure_port: u16,
}

fn cidr(flags: &Flags, flag: &'static str) -> Result<Option<(Ipv4Addr, u8)>, OptionsError> {
    let Some(v) = flags.get(flag).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    // A dual-stack list: labsim uses the IPv4 entry.
    let first = v.split(',').next().unwrap_or_default().trim();
    let bad = || OptionsError::BadCidr {
        flag,
        value: v.to_string(),
    };
    let (ip, bits) = first.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    if bits > 32 {
        return Err(bad());
    }
    Ok(Some((ip, bits)))
}

impl Options {
    /// Reads the options from parsed flags with upstream defaults (pkg/controller/*/config/v1alpha1
    /// defaults.go and the version's defaults in [`Minor`]).
    ///
    /// # Errors
    /// [`OptionsError`] for malformed values or unknown controllers.
    pub fn from_flags(flags: &Flags, minor: Minor) -> Result<Options, OptionsError> {
        let controllers = flags
            .list("controllers")
            .unwrap_or_else(|| vec!["*".into()]);
        for c in &controllers {
            let name = c.trim_start_matches('-');
            if name != "*" && !KNOWN_CONTROLLERS.contains(&name) {
                return Err(OptionsError::UnknownController(name.to_string()));
            }
        }
        let secs = Duration::from_secs;
        let kubeconfig = flags
            .get("kubeconfig")
            .filter(|k| !k.is_empty())
            .ok_or(OptionsError::NoKubeconfig)?;
        let cluster_signing = match (
            flags.get("cluster-signing-cert-file"),
            flags.get("cluster-signing-key-file"),
        ) {
            (Some(c), Some(k)) if !c.is_empty() && !k.is_empty() => {
                Some((PathBuf::from(c), PathBuf::from(k)))
            }
            _ => None,
        };
        let mask = match flags.get("node-cidr-mask-size-ipv4") {
            Some(_) => flags.number("node-cidr-mask-size-ipv4", 24u8)?,
            None => flags.number("node-cidr-mask-size", 24u8)?,
        };
        Ok(Options {
            minor,
            kubeconfig: PathBuf::from(kubeconfig),
            controllers,
            leader_elect: flags.bool("leader-elect", true),
            lease_duration: flags.duration("leader-elect-lease-duration", secs(15))?,
            renew_deadline: flags.duration("leader-elect-renew-deadline", secs(10))?,
            retry_period: flags.duration("leader-elect-retry-period", secs(2))?,
            lease_name: flags
                .get_or("leader-elect-resource-name", "kube-controller-manager")
                .to_string(),
            lease_namespace: flags
                .get_or("leader-elect-resource-namespace", "kube-system")
                .to_string(),
            use_service_account_credentials: flags.bool("use-service-account-credentials", false),
            allocate_node_cidrs: flags.bool("allocate-node-cidrs", false),
            cluster_cidr: cidr(flags, "cluster-cidr")?,
            node_cidr_mask_size: mask,
            node_monitor_period: flags.duration("node-monitor-period", secs(5))?,
            node_monitor_grace_period: flags.duration(
                "node-monitor-grace-period",
                secs(minor.node_monitor_grace_period_secs()),
            )?,
            node_startup_grace_period: flags.duration("node-startup-grace-period", secs(60))?,
            node_eviction_rate: flags.number("node-eviction-rate", 0.1f64)?,
            secondary_node_eviction_rate: flags.number("secondary-node-eviction-rate", 0.01f64)?,
            large_cluster_size_threshold: flags.number("large-cluster-size-threshold", 50usize)?,
            unhealthy_zone_threshold: flags.number("unhealthy-zone-threshold", 0.55f64)?,
            terminated_pod_gc_threshold: flags.number("terminated-pod-gc-threshold", 12500usize)?,
            cluster_signing,
            cluster_signing_duration: flags
                .duration("cluster-signing-duration", secs(365 * 24 * 3600))?,
            root_ca_file: flags
                .get("root-ca-file")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            service_account_private_key_file: flags
                .get("service-account-private-key-file")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            max_endpoints_per_slice: flags.number("max-endpoints-per-slice", 100usize)?,
            bind_address: flags.get("bind-address").map(str::to_string),
            secure_port: flags.number("secure-port", 10257u16)?,
        })
    }

    /// Whether the controller `name` runs under `--controllers` (cmd/kube-controller-manager/app
    /// `IsControllerEnabled`: an explicit `-name` disables, an explicit `name` enables, otherwise `*`
    /// enables all but the default-disabled ones).
    pub fn enabled(&self, name: &str) -> bool {
        let mut star = false;
        for c in &self.controllers {
            if c == name {
                return true;
            }
            if c.strip_prefix('-') == Some(name) {
                return false;
            }
            if c == "*" {
                star = true;
            }
        }
        star && !DISABLED_BY_DEFAULT.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeadm_args(extra: &str) -> Vec<String> {
        format!("--allocate-node-cidrs=true --authentication-kubeconfig=/etc/kubernetes/controller-manager.conf --authorization-kubeconfig=/etc/kubernetes/controller-manager.conf --bind-address=127.0.0.1 --client-ca-file=/etc/kubernetes/pki/ca.crt --cluster-cidr=10.244.0.0/16 --cluster-name=kubernetes --cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt --cluster-signing-key-file=/etc/kubernetes/pki/ca.key --controllers=*,bootstrapsigner,tokencleaner --kubeconfig=/etc/kubernetes/controller-manager.conf --leader-elect=true --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt --root-ca-file=/etc/kubernetes/pki/ca.crt --service-account-private-key-file=/etc/kubernetes/pki/sa.key --service-cluster-ip-range=10.96.0.0/12 --use-service-account-credentials=true {extra}")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn kubeadm_manifest_flags_and_defaults() {
        let m33 = Minor::new(33).unwrap();
        let f = flag_set(m33).parse(&kubeadm_args("")).unwrap();
        let o = Options::from_flags(&f, m33).unwrap();
        assert_eq!(o.cluster_cidr, Some((Ipv4Addr::new(10, 244, 0, 0), 16)));
        assert_eq!(o.node_monitor_grace_period, Duration::from_secs(50));
        assert_eq!(o.node_monitor_period, Duration::from_secs(5));
        assert_eq!(o.lease_duration, Duration::from_secs(15));
        assert!(o.enabled("bootstrapsigner") && o.enabled("tokencleaner"));
        assert!(o.enabled("deployment"));
        let m31 = Minor::new(31).unwrap();
        let o31 =
            Options::from_flags(&flag_set(m31).parse(&kubeadm_args("")).unwrap(), m31).unwrap();
        assert_eq!(o31.node_monitor_grace_period, Duration::from_secs(40));
    }

    #[test]
    fn pod_eviction_timeout_only_before_1_27() {
        let m26 = Minor::new(26).unwrap();
        assert!(
            flag_set(m26)
                .parse(&kubeadm_args("--pod-eviction-timeout=30s"))
                .is_ok()
        );
        let m27 = Minor::new(27).unwrap();
        assert_eq!(
            flag_set(m27)
                .parse(&kubeadm_args("--pod-eviction-timeout=30s"))
                .unwrap_err()
                .to_string(),
            "unknown flag: --pod-eviction-timeout"
        );
    }

    #[test]
    fn controller_selection() {
        let m = Minor::new(33).unwrap();
        let f = flag_set(m)
            .parse(&kubeadm_args("--controllers=*,-deployment"))
            .unwrap();
        let o = Options::from_flags(&f, m).unwrap();
        assert!(!o.enabled("deployment"));
        assert!(!o.enabled("bootstrapsigner"));
        assert!(o.enabled("replicaset"));
        let f = flag_set(m)
            .parse(&kubeadm_args("--controllers=bogus"))
            .unwrap();
        assert_eq!(
            Options::from_flags(&f, m).unwrap_err().to_string(),
            "\"bogus\" is not in the list of known controllers"
        );
    }
}
