//! Secret redaction: everything the harness writes (transcripts, error messages, reports) passes
//! through a [`Redactor`] first.
//!
//! Patterns cover the secrets the course's commands print:
//! - kubeadm bootstrap tokens `[a-z0-9]{6}.[a-z0-9]{16}` (kubernetes/kubernetes
//!   `staging/src/k8s.io/cluster-bootstrap/token/api/types.go`, `BootstrapTokenPattern`),
//! - PEM private keys (any `-----BEGIN … PRIVATE KEY-----` block, also when cut off),
//! - kubeconfig `client-key-data`, `token` and `password` values and the bootstrap token Secret's
//!   `token-secret`, in YAML (`key: value`) and JSON (`"key": "value"`),
//! - HTTP bearer tokens (`Authorization: Bearer …`),
//! - exact values registered at run time ([`Redactor::register`]), e.g. a token read from
//!   `kubeadm init` output.
//!
//! Not secret, kept as is: `--discovery-token-ca-cert-hash sha256:<hex>` (a hash of the CA's public
//! key, printed by kubeadm for anyone to pin), certificates (`-----BEGIN CERTIFICATE-----`),
//! `certificate-authority-data`, `client-certificate-data`.

use std::sync::{Arc, LazyLock, RwLock};

use regex::{Captures, Regex};

/// What a redacted bootstrap token is replaced with.
pub const BOOTSTRAP_TOKEN: &str = "<redacted:bootstrap-token>";
/// What a redacted value (kubeconfig key data, token, bearer token, registered secret) becomes.
pub const VALUE: &str = "<redacted>";
/// What the body of a redacted PEM private key becomes.
pub const PRIVATE_KEY: &str = "<redacted:private-key>";

/// kubeadm's bootstrap token shape; the neighbours are checked by hand (the regex crate has no
/// look-around) so that `name-abcdef.0123456789abcdef` style event names are not mistaken for one.
static TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[a-z0-9]{6}\.[a-z0-9]{16}").expect("valid regex"));

/// A PEM private key block (PKCS#8 `PRIVATE KEY`, `RSA`/`EC`/`ENCRYPTED PRIVATE KEY`, …). The end
/// marker is optional so a key cut off by a truncated output is still hidden.
static PEM_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----).*?(?:(-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)|\z)",
    )
    .expect("valid regex")
});

/// `key: value` (YAML) or `"key": "value"` (JSON) for keys whose value is a secret; a YAML block
/// scalar (`key: >-` with the value on the next, indented line, as some YAML writers fold long
/// strings) is hidden with its value.
static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?m)(?P<key>(?:^|[\s{,'])"?(?:client-key-data|token|token-secret|password)"?[ \t]*[:=][ \t]*"?)(?P<value>(?:[|>][-+]?[ \t]*\r?\n[ \t]+)?[^\s"',}]+)"#,
    )
    .expect("valid regex")
});

/// `Authorization: Bearer <token>`, header names are case-insensitive (RFC 9110 §5.1).
static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?P<key>authorization:[ \t]*bearer[ \t]+)(?P<value>[^\s"',]+)"#)
        .expect("valid regex")
});

/// Replaces secrets in text. Cheap to clone; clones share the registered secrets.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.secrets.read().map(|s| s.len()).unwrap_or(0);
        f.debug_struct("Redactor")
            .field("registered_secrets", &count)
            .finish()
    }
}

impl Redactor {
    /// A redactor with the built-in patterns and no registered secrets.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an exact secret value: every later [`redact`](Self::redact) replaces it. Empty
    /// values are ignored (they would match everywhere).
    pub fn register(&self, secret: impl Into<String>) {
        let secret = secret.into();
        if secret.is_empty() {
            return;
        }
        let mut secrets = self
            .secrets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !secrets.contains(&secret) {
            secrets.push(secret);
            // Longest first, so a secret that contains another is replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Returns `text` with every known secret replaced.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        let mut out = {
            let secrets = self
                .secrets
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            secrets
                .iter()
                .fold(text.to_string(), |acc, s| acc.replace(s.as_str(), VALUE))
        };
        out = PEM_KEY
            .replace_all(&out, |c: &Captures<'_>| {
                let end = c.get(2).map_or("", |m| m.as_str());
                format!("{}\n{PRIVATE_KEY}\n{end}", &c[1])
            })
            .into_owned();
        out = redact_tokens(&out);
        out = KEY_VALUE
            .replace_all(&out, |c: &Captures<'_>| keep_key(c))
            .into_owned();
        BEARER
            .replace_all(&out, |c: &Captures<'_>| keep_key(c))
            .into_owned()
    }
}

impl Redactor {
    /// Redacts every string (object keys included) inside a JSON value, so that the result is
    /// still valid JSON (redacting serialised text could break it: a redacted PEM block spans
    /// lines).
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&k), v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// Serialises `value` to one line of JSON with every string redacted.
    ///
    /// # Panics
    /// If `value` does not serialise to JSON (the harness's own types always do).
    #[must_use]
    pub fn redacted_json_line<T: serde::Serialize>(&self, value: &T) -> String {
        let mut json = serde_json::to_value(value).expect("the value serialises to JSON");
        self.redact_json(&mut json);
        json.to_string()
    }
}

/// Keeps the key part of a `key: value` match and hides the value, unless it is already a
/// placeholder (kubectl prints `REDACTED` / `DATA+OMITTED` itself).
fn keep_key(c: &Captures<'_>) -> String {
    let value = &c["value"];
    if value.starts_with('<') || value == "REDACTED" || value == "DATA+OMITTED" {
        return c[0].to_string();
    }
    format!("{}{VALUE}", &c["key"])
}

/// Replaces bootstrap tokens that stand alone (not glued to a longer name or number).
fn redact_tokens(text: &str) -> String {
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in TOKEN.find_iter(text) {
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        if glued(before) || glued(after) {
            continue;
        }
        out.push_str(&text[last..m.start()]);
        out.push_str(BOOTSTRAP_TOKEN);
        last = m.end();
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> String {
        Redactor::new().redact(text)
    }

    #[test]
    fn folded_key_data_is_redacted_with_its_value() {
        let yaml = "users:\r\n- name: kubernetes-admin\r\n  user:\r\n    client-certificate-data: Y2VydA==\r\n    client-key-data: >-\r\n      LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0N\r\n    token: |\n      abc.def\n";
        let out = r(yaml);
        assert!(!out.contains("LS0tLS1CRUdJTiBQUklWQVRF"), "{out}");
        assert!(!out.contains("abc.def"), "{out}");
        assert!(out.contains(&format!("client-key-data: {VALUE}")), "{out}");
        assert!(out.contains("client-certificate-data: Y2VydA=="), "{out}");
    }

    #[test]
    fn bootstrap_token_in_join_command_is_redacted_and_ca_hash_kept() {
        let join = "kubeadm join 192.168.49.2:8443 --token b6360d.2p4p533i7t2lm608 \\\n\t--discovery-token-ca-cert-hash sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";
        let out = r(join);
        assert!(!out.contains("2p4p533i7t2lm608"), "{out}");
        assert!(
            out.contains(&format!("--token {BOOTSTRAP_TOKEN} ")),
            "{out}"
        );
        assert!(
            out.contains("sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"),
            "{out}"
        );
    }

    #[test]
    fn bootstrap_token_in_kubeadm_output_and_json_is_redacted() {
        let out = r("[bootstrap-token] Using token: abcdef.0123456789abcdef\n");
        assert!(!out.contains("0123456789abcdef"), "{out}");
        let out = r(r#"{"token":"abcdef.0123456789abcdef"}"#);
        assert!(!out.contains("0123456789abcdef"), "{out}");
        let out = r("tokens: abcdef.0123456789abcdef,ghijkl.0123456789abcdef");
        assert!(!out.contains("0123456789abcdef"), "{out}");
    }

    #[test]
    fn event_and_pod_names_that_look_like_tokens_are_kept() {
        let text = "default   12s  Normal  Scheduled  pod/web-abcdef.17b2c3d4e5f6a7b8x\n\
                    hello-world-5d8f9c-abcde.17b2c3d4e5f6a7b8\n\
                    node/minikube.17b2c3d4e5f6a7b8 kube-proxy-x2k4p\n";
        assert_eq!(r(text), text);
    }

    #[test]
    fn pem_private_keys_are_redacted_and_certificates_kept() {
        for kind in [
            "PRIVATE KEY",
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
        ] {
            let pem = format!(
                "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUe\n-----END CERTIFICATE-----\n\
                 -----BEGIN {kind}-----\r\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\r\n\
                 c2VjcmV0\r\n-----END {kind}-----\r\ntrailer\n"
            );
            let out = r(&pem);
            assert!(!out.contains("MIGHAgEA"), "{kind}: {out}");
            assert!(!out.contains("c2VjcmV0"), "{kind}: {out}");
            assert!(out.contains("MIIBszCCAVmgAwIBAgIUe"), "{kind}: {out}");
            assert!(
                out.contains(&format!(
                    "-----BEGIN {kind}-----\n{PRIVATE_KEY}\n-----END {kind}-----"
                )),
                "{kind}: {out}"
            );
            assert!(out.ends_with("trailer\n"), "{kind}: {out}");
        }
    }

    #[test]
    fn truncated_pem_private_key_is_redacted_to_the_end() {
        let out = r("key:\n-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\nAwEHBG0w");
        assert!(!out.contains("MIGHAgEA"), "{out}");
        assert!(!out.contains("AwEHBG0w"), "{out}");
    }

    #[test]
    fn kubeconfig_secrets_are_redacted_in_yaml_and_json() {
        let yaml = "users:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBDRVJU\n    client-key-data: LS0tLS1CRUdJTiBSU0Eg\n- name: sa\n  user:\n    token: eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.eyJpc3MiOiJrIn0.c2ln\n";
        let out = r(yaml);
        assert!(!out.contains("LS0tLS1CRUdJTiBSU0Eg"), "{out}");
        assert!(!out.contains("eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9"), "{out}");
        assert!(out.contains("client-key-data: <redacted>\n"), "{out}");
        assert!(out.contains("    token: <redacted>\n"), "{out}");
        assert!(
            out.contains("client-certificate-data: LS0tLS1CRUdJTiBDRVJU"),
            "{out}"
        );

        let json = r#"{"user":{"client-certificate-data":"Q0VSVA==","client-key-data":"S0VZ","token":"c2VjcmV0dG9rZW4="}}"#;
        let out = r(json);
        assert!(!out.contains("S0VZ"), "{out}");
        assert!(!out.contains("c2VjcmV0dG9rZW4="), "{out}");
        assert!(
            out.contains(r#""client-certificate-data":"Q0VSVA==""#),
            "{out}"
        );
    }

    #[test]
    fn bootstrap_token_secret_data_is_redacted() {
        let out = r("data:\n  token-id: YWJjZGVm\n  token-secret: MDEyMzQ1Njc4OWFiY2RlZg==\n");
        assert!(!out.contains("MDEyMzQ1Njc4OWFiY2RlZg=="), "{out}");
        assert!(out.contains("token-id: YWJjZGVm"), "{out}");
    }

    #[test]
    fn kubectl_placeholders_are_left_alone() {
        let text = "    client-key-data: DATA+OMITTED\n    token: REDACTED\n";
        assert_eq!(r(text), text);
    }

    #[test]
    fn bearer_tokens_are_redacted() {
        let out =
            r("curl -H 'Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig' https://127.0.0.1:6443/api");
        assert!(!out.contains("eyJhbGciOi"), "{out}");
        assert!(out.contains("Authorization: Bearer <redacted>'"), "{out}");
        let out = r("> authorization: bearer s3cr3t-value\r\n");
        assert!(!out.contains("s3cr3t-value"), "{out}");
    }

    #[test]
    fn registered_secrets_are_redacted_longest_first() {
        let redactor = Redactor::new();
        redactor.register("");
        redactor.register("hunter2");
        redactor.register("hunter2-and-more");
        let clone = redactor.clone();
        assert_eq!(
            clone.redact("a hunter2-and-more b hunter2 c"),
            "a <redacted> b <redacted> c"
        );
    }

    #[test]
    fn json_stays_json_when_a_multi_line_key_is_redacted() {
        let redactor = Redactor::new();
        redactor.register("hunter2");
        let mut v = serde_json::json!({"hunter2": ["-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----", 1, null], "n": {"m": "pw hunter2"}});
        redactor.redact_json(&mut v);
        let text = v.to_string();
        assert!(
            !text.contains("MIGH") && !text.contains("hunter2"),
            "{text}"
        );
        assert_eq!(v["n"]["m"], "pw <redacted>");
        assert!(
            serde_json::from_str::<serde_json::Value>(&redactor.redacted_json_line(&v)).is_ok()
        );
    }

    #[test]
    fn ordinary_output_is_unchanged() {
        let text = "NAME                          READY   STATUS    RESTARTS   AGE\n\
            coredns-5d78c9869d-7xkqp      1/1     Running   0          2m\n\
            etcd-minikube                 1/1     Running   0          2m\n\
            {\"hostname\": \"hello-world-7d8f9c6b5-x2k4p\", \"version\": \"6.3.5\"}\n\
            sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n\
            minikube\t192.168.49.2\nminikube-m02\t192.168.49.3\n\
            bootstrap-token-abcdef   bootstrap.kubernetes.io/token   7      5m\n\
            /registry/secrets/kube-system/bootstrap-token-abcdef\n\
            containerd containerd.io 1.6.15 5b842e528e99d4d4c1686467debf2bd4b88ecd86\n\
            Version:  0.1.0\nRuntimeApiVersion:  v1\n\
            [bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles\n";
        assert_eq!(r(text), text);
    }
}
