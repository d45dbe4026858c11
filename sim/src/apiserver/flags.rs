//! kube-apiserver's command line, parsed as pflag/cobra do: `--name=value`, `--name value`, booleans
//! as `--name` or `--name=false`; an unknown flag is an error (`Error: unknown flag: --x`, exit 1).
//! The parsing is [`crate::gocli`]'s; this is kube-apiserver's flag table.

use crate::gocli::{self, FlagDef, Pflag};
pub use crate::gocli::{FlagError, Flags};

const BOOL_FLAGS: &[&str] = &[
    "allow-privileged",
    "anonymous-auth",
    "enable-bootstrap-token-auth",
    "enable-aggregator-routing",
    "enable-garbage-collector",
    "enable-priority-and-fairness",
    "profiling",
    "contention-profiling",
    "service-account-lookup",
    "watch-cache",
    "audit-log-compress",
    "audit-log-batch-throttle-enable",
    "audit-log-truncate-enabled",
    "audit-webhook-batch-throttle-enable",
    "audit-webhook-truncate-enabled",
    "delete-collection-workers-enabled",
    "enable-logs-handler",
    "kubelet-read-only-port",
    "help",
    "version",
    "strict-transport-security-directives-enabled",
    "permit-port-sharing",
    "permit-address-sharing",
    "service-account-extend-token-expiration",
    "encryption-provider-config-automatic-reload",
    "enable-contention-profiling",
    "logtostderr",
    "alsologtostderr",
    "skip-headers",
    "disable-http2-serving",
];

/// Value flags of kube-apiserver (cmd/kube-apiserver/app/options; generic apiserver options;
/// component-base logging). Not exhaustive of every release, but covers what kubeadm and common
/// setups pass.
const VALUE_FLAGS: &[&str] = &[
    "admission-control-config-file",
    "advertise-address",
    "aggregator-reject-forwarding-redirect",
    "allow-metric-labels",
    "api-audiences",
    "apiserver-count",
    "audit-log-batch-buffer-size",
    "audit-log-batch-max-size",
    "audit-log-batch-max-wait",
    "audit-log-batch-throttle-burst",
    "audit-log-batch-throttle-qps",
    "audit-log-format",
    "audit-log-maxage",
    "audit-log-maxbackup",
    "audit-log-maxsize",
    "audit-log-mode",
    "audit-log-path",
    "audit-log-truncate-max-batch-size",
    "audit-log-truncate-max-event-size",
    "audit-log-version",
    "audit-policy-file",
    "audit-webhook-batch-buffer-size",
    "audit-webhook-batch-max-size",
    "audit-webhook-batch-max-wait",
    "audit-webhook-batch-throttle-burst",
    "audit-webhook-batch-throttle-qps",
    "audit-webhook-config-file",
    "audit-webhook-initial-backoff",
    "audit-webhook-mode",
    "audit-webhook-truncate-max-batch-size",
    "audit-webhook-truncate-max-event-size",
    "audit-webhook-version",
    "authentication-config",
    "authentication-token-webhook-cache-ttl",
    "authentication-token-webhook-config-file",
    "authorization-config",
    "authorization-mode",
    "authorization-webhook-config-file",
    "bind-address",
    "cert-dir",
    "client-ca-file",
    "cloud-config",
    "cloud-provider",
    "cors-allowed-origins",
    "default-not-ready-toleration-seconds",
    "default-unreachable-toleration-seconds",
    "default-watch-cache-size",
    "delete-collection-workers",
    "disable-admission-plugins",
    "egress-selector-config-file",
    "emulated-version",
    "enable-admission-plugins",
    "encryption-provider-config",
    "endpoint-reconciler-type",
    "etcd-cafile",
    "etcd-certfile",
    "etcd-compaction-interval",
    "etcd-count-metric-poll-period",
    "etcd-db-metric-poll-interval",
    "etcd-healthcheck-timeout",
    "etcd-keyfile",
    "etcd-prefix",
    "etcd-readycheck-timeout",
    "etcd-servers",
    "etcd-servers-overrides",
    "event-ttl",
    "external-hostname",
    "feature-gates",
    "goaway-chance",
    "http2-max-streams-per-connection",
    "kubelet-certificate-authority",
    "kubelet-client-certificate",
    "kubelet-client-key",
    "kubelet-port",
    "kubelet-preferred-address-types",
    "kubelet-timeout",
    "kubernetes-service-node-port",
    "lease-reuse-duration-seconds",
    "livez-grace-period",
    "log-flush-frequency",
    "log-json-info-buffer-size",
    "log-json-split-stream",
    "log-text-info-buffer-size",
    "log-text-split-stream",
    "logging-format",
    "max-connection-bytes-per-sec",
    "max-mutating-requests-inflight",
    "max-requests-inflight",
    "min-request-timeout",
    "oidc-ca-file",
    "oidc-client-id",
    "oidc-groups-claim",
    "oidc-groups-prefix",
    "oidc-issuer-url",
    "oidc-required-claim",
    "oidc-signing-algs",
    "oidc-username-claim",
    "oidc-username-prefix",
    "peer-advertise-ip",
    "peer-advertise-port",
    "peer-ca-file",
    "proxy-client-cert-file",
    "proxy-client-key-file",
    "request-timeout",
    "requestheader-allowed-names",
    "requestheader-client-ca-file",
    "requestheader-extra-headers-prefix",
    "requestheader-group-headers",
    "requestheader-uid-headers",
    "requestheader-username-headers",
    "runtime-config",
    "secure-port",
    "service-account-issuer",
    "service-account-jwks-uri",
    "service-account-key-file",
    "service-account-max-token-expiration",
    "service-account-signing-endpoint",
    "service-account-signing-key-file",
    "service-cluster-ip-range",
    "service-node-port-range",
    "show-hidden-metrics-for-version",
    "shutdown-delay-duration",
    "shutdown-send-retry-after",
    "shutdown-watch-termination-grace-period",
    "storage-backend",
    "storage-initialization-timeout",
    "storage-media-type",
    "tls-cert-file",
    "tls-cipher-suites",
    "tls-min-version",
    "tls-private-key-file",
    "tls-sni-cert-key",
    "token-auth-file",
    "tracing-config-file",
    "v",
    "vmodule",
    "watch-cache-sizes",
];

fn defs() -> Vec<FlagDef> {
    gocli::defs_from_names(BOOL_FLAGS, VALUE_FLAGS)
}

/// The usage text cobra prints before a flag error (component-base/cli/run.go re-enables usage for
/// flag errors, then prints `Error: …`). labsim lists the flag names without their help texts.
pub fn usage() -> String {
    gocli::names_usage("kube-apiserver", &defs())
}

/// Parses the arguments after `kube-apiserver` (pflag with component-base's name normalisation).
///
/// # Errors
/// [`FlagError`] as pflag would report it; an argument is `unknown command "x" for
/// "kube-apiserver"`.
pub fn parse(args: &[String]) -> Result<Flags, FlagError> {
    let defs = defs();
    let p = Pflag::KUBERNETES.parse(&defs, args)?;
    if let Some(arg) = p.args.first() {
        return Err(FlagError::UnknownCommand {
            program: "kube-apiserver".into(),
            arg: arg.clone(),
        });
    }
    Ok(Flags::from_parsed(&p, &defs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn kubeadm_manifest_flags_parse() {
        let f = parse(&args("--advertise-address=192.168.49.2 --allow-privileged=true --authorization-mode=Node,RBAC --client-ca-file=/etc/kubernetes/pki/ca.crt --enable-admission-plugins=NodeRestriction --enable-bootstrap-token-auth=true --etcd-servers=https://127.0.0.1:2379 --secure-port 8443 --service-cluster-ip-range=10.96.0.0/12 --requestheader-allowed-names=front-proxy-client -v=2")).unwrap();
        assert_eq!(f.get("secure-port"), Some("8443"));
        assert!(f.bool("enable-bootstrap-token-auth", false));
        assert_eq!(
            f.list("authorization-mode").unwrap_or_default(),
            ["Node", "RBAC"]
        );
        assert_eq!(f.get("v"), Some("2"));
        assert!(f.bool("anonymous-auth", true));
    }

    #[test]
    fn errors_are_pflags() {
        assert_eq!(
            parse(&args("--pod-eviction-timeout=5m"))
                .unwrap_err()
                .to_string(),
            "unknown flag: --pod-eviction-timeout"
        );
        assert_eq!(
            parse(&args("--secure-port")).unwrap_err().to_string(),
            "flag needs an argument: --secure-port"
        );
        assert!(matches!(
            parse(&args("--allow-privileged=yes")),
            Err(FlagError::BadValue { .. })
        ));
        assert!(matches!(
            parse(&args("serve")),
            Err(FlagError::UnknownCommand { .. })
        ));
    }
}
