//! kube-apiserver's command line, parsed as pflag/cobra do: `--name=value`, `--name value`, booleans
//! as `--name` or `--name=false`; an unknown flag is an error (`Error: unknown flag: --x`, exit 1).
//! Flags labsim reads are typed fields; the other real flags are accepted and recorded in `other`.

use std::collections::BTreeMap;

/// Parsed kube-apiserver flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Every flag given, by name (last wins), for flags without a typed field too.
    pub values: BTreeMap<String, String>,
}

/// Errors parsing the command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// A flag kube-apiserver does not have.
    #[error("unknown flag: --{0}")]
    Unknown(String),
    /// A shorthand kube-apiserver does not have.
    #[error("unknown shorthand flag: '{0}' in -{0}")]
    UnknownShorthand(String),
    /// A value flag at the end without its value.
    #[error("flag needs an argument: --{0}")]
    MissingValue(String),
    /// A boolean with a non-boolean value.
    #[error(
        "invalid argument {value:?} for \"--{name}\" flag: strconv.ParseBool: parsing {value:?}: invalid syntax"
    )]
    BadBool {
        /// Flag.
        name: String,
        /// Value.
        value: String,
    },
    /// An argument that is not a flag (kube-apiserver takes none).
    #[error("unknown command {0:?} for \"kube-apiserver\"")]
    Positional(String),
}

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

fn parse_bool(name: &str, v: &str) -> Result<String, FlagError> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok("true".into()),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok("false".into()),
        _ => Err(FlagError::BadBool {
            name: name.into(),
            value: v.into(),
        }),
    }
}

/// The usage text cobra prints before a flag error (component-base/cli/run.go re-enables usage for
/// flag errors, then prints `Error: …`). labsim lists the flag names without their help texts.
pub fn usage() -> String {
    let mut names: Vec<&str> = BOOL_FLAGS.iter().chain(VALUE_FLAGS).copied().collect();
    names.sort();
    let mut out = String::from("Usage:\n  kube-apiserver [flags]\n\nFlags:\n");
    for n in names {
        if n.len() == 1 {
            out.push_str(&format!("  -{n}\n"));
        } else {
            out.push_str(&format!("      --{n}\n"));
        }
    }
    out
}

impl Flags {
    /// Parses the arguments after `kube-apiserver`.
    ///
    /// # Errors
    /// [`FlagError`] as pflag would report it.
    pub fn parse(args: &[String]) -> Result<Flags, FlagError> {
        let mut values = BTreeMap::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            let body = if let Some(b) = a.strip_prefix("--") {
                b
            } else if let Some(b) = a.strip_prefix('-') {
                // klog's -v is the only shorthand.
                if b == "v" || b.starts_with("v=") {
                    b
                } else {
                    return Err(FlagError::UnknownShorthand(
                        b.chars().next().unwrap_or('-').to_string(),
                    ));
                }
            } else {
                return Err(FlagError::Positional(a.clone()));
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (body.to_string(), None),
            };
            if BOOL_FLAGS.contains(&name.as_str()) {
                let v = match inline {
                    Some(v) => parse_bool(&name, &v)?,
                    None => "true".into(),
                };
                values.insert(name, v);
            } else if VALUE_FLAGS.contains(&name.as_str()) {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        let v = args
                            .get(i)
                            .ok_or_else(|| FlagError::MissingValue(name.clone()))?;
                        i += 1;
                        v.clone()
                    }
                };
                values.insert(name, v);
            } else {
                return Err(FlagError::Unknown(name));
            }
        }
        Ok(Flags { values })
    }

    /// A flag's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A flag's value or a default.
    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    /// A boolean flag (default when absent).
    pub fn bool(&self, name: &str, default: bool) -> bool {
        self.get(name).map_or(default, |v| v == "true")
    }

    /// A comma-separated list flag.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An integer flag.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn kubeadm_manifest_flags_parse() {
        let f = Flags::parse(&args("--advertise-address=192.168.49.2 --allow-privileged=true --authorization-mode=Node,RBAC --client-ca-file=/etc/kubernetes/pki/ca.crt --enable-admission-plugins=NodeRestriction --enable-bootstrap-token-auth=true --etcd-servers=https://127.0.0.1:2379 --secure-port 8443 --service-cluster-ip-range=10.96.0.0/12 --requestheader-allowed-names=front-proxy-client -v=2")).unwrap();
        assert_eq!(f.get("secure-port"), Some("8443"));
        assert!(f.bool("enable-bootstrap-token-auth", false));
        assert_eq!(f.list("authorization-mode"), ["Node", "RBAC"]);
        assert_eq!(f.get("v"), Some("2"));
        assert!(f.bool("anonymous-auth", true));
    }

    #[test]
    fn errors_are_pflags() {
        assert_eq!(
            Flags::parse(&args("--pod-eviction-timeout=5m"))
                .unwrap_err()
                .to_string(),
            "unknown flag: --pod-eviction-timeout"
        );
        assert_eq!(
            Flags::parse(&args("--secure-port"))
                .unwrap_err()
                .to_string(),
            "flag needs an argument: --secure-port"
        );
        assert!(matches!(
            Flags::parse(&args("--allow-privileged=yes")),
            Err(FlagError::BadBool { .. })
        ));
        assert!(matches!(
            Flags::parse(&args("serve")),
            Err(FlagError::Positional(_))
        ));
    }
}
