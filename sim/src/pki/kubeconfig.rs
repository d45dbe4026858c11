//! Kubeconfig files as kubeadm writes them (`admin.conf`, `kubelet.conf`, …): field names and order
//! of client-go's `clientcmd/api/v1` types, embedded base64 `*-data` or file paths, client
//! certificates or bearer tokens.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use super::{PkiError, read_string, write_file};

/// A kubeconfig file (client-go `clientcmd/api/v1.Config`), fields in kubeadm's output order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Kubeconfig {
    /// `v1`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// Named clusters.
    #[serde(default)]
    pub clusters: Vec<NamedCluster>,
    /// Named contexts.
    #[serde(default)]
    pub contexts: Vec<NamedContext>,
    /// The context used by default.
    #[serde(rename = "current-context", default)]
    pub current_context: String,
    /// `Config`.
    #[serde(default)]
    pub kind: String,
    /// Always `{}` here.
    #[serde(default)]
    pub preferences: serde_json::Map<String, serde_json::Value>,
    /// Named users (credentials).
    #[serde(default)]
    pub users: Vec<NamedUser>,
}

/// `clusters[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NamedCluster {
    /// The cluster entry.
    pub cluster: Cluster,
    /// Its name.
    pub name: String,
}

/// A cluster: where the API server is and how to trust it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Cluster {
    /// Base64 PEM of the CA bundle.
    #[serde(
        rename = "certificate-authority-data",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub certificate_authority_data: Option<String>,
    /// Path of the CA bundle (relative paths are relative to the kubeconfig file).
    #[serde(
        rename = "certificate-authority",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub certificate_authority: Option<String>,
    /// `https://host:port`.
    pub server: String,
}

/// `contexts[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NamedContext {
    /// The context entry.
    pub context: Context,
    /// Its name.
    pub name: String,
}

/// A context: a cluster and a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Context {
    /// Cluster name.
    pub cluster: String,
    /// Default namespace.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub namespace: Option<String>,
    /// User name.
    pub user: String,
}

/// `users[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NamedUser {
    /// Its name.
    pub name: String,
    /// The credentials.
    pub user: User,
}

/// Credentials. Secrets: never print a `User`.
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct User {
    /// Base64 PEM client certificate.
    #[serde(
        rename = "client-certificate-data",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub client_certificate_data: Option<String>,
    /// Path of the client certificate.
    #[serde(
        rename = "client-certificate",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub client_certificate: Option<String>,
    /// Base64 PEM client key.
    #[serde(
        rename = "client-key-data",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub client_key_data: Option<String>,
    /// Path of the client key.
    #[serde(
        rename = "client-key",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub client_key: Option<String>,
    /// Bearer token.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token: Option<String>,
    /// Path of a file holding the bearer token.
    #[serde(rename = "tokenFile", skip_serializing_if = "Option::is_none", default)]
    pub token_file: Option<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .field("token_file", &self.token_file)
            .finish_non_exhaustive()
    }
}

/// How a resolved configuration authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A client certificate and key (PEM).
    ClientCert {
        /// Certificate PEM.
        cert_pem: String,
        /// Key PEM.
        key_pem: String,
    },
    /// A bearer token.
    Token(String),
    /// Nothing: anonymous.
    None,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::ClientCert { .. } => "ClientCert(<redacted>)",
            Credentials::Token(_) => "Token(<redacted>)",
            Credentials::None => "None",
        })
    }
}

/// A kubeconfig's current context with every file read: all a client needs to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `https://host:port`.
    pub server: String,
    /// CA bundle PEM (None: no CA given).
    pub ca_pem: Option<String>,
    /// The credentials.
    pub credentials: Credentials,
    /// The context's namespace, if any.
    pub namespace: Option<String>,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn parse_err(path: &Path, detail: impl Into<String>) -> PkiError {
    PkiError::Parse {
        what: format!("kubeconfig {}", path.display()),
        detail: detail.into(),
    }
}

impl Kubeconfig {
    fn single(
        cluster: &str,
        server: &str,
        ca_pem: &str,
        user_name: &str,
        user: User,
    ) -> Kubeconfig {
        let context = format!("{user_name}@{cluster}");
        Kubeconfig {
            api_version: "v1".into(),
            clusters: vec![NamedCluster {
                cluster: Cluster {
                    certificate_authority_data: Some(b64(ca_pem)),
                    certificate_authority: None,
                    server: server.into(),
                },
                name: cluster.into(),
            }],
            contexts: vec![NamedContext {
                context: Context {
                    cluster: cluster.into(),
                    namespace: None,
                    user: user_name.into(),
                },
                name: context.clone(),
            }],
            current_context: context,
            kind: "Config".into(),
            preferences: Default::default(),
            users: vec![NamedUser {
                name: user_name.into(),
                user,
            }],
        }
    }

    /// A one-context kubeconfig with embedded CA and client certificate, as kubeadm writes
    /// `admin.conf` (cluster `kubernetes`, user `kubernetes-admin`, context
    /// `kubernetes-admin@kubernetes`; cmd/kubeadm/app/phases/kubeconfig).
    pub fn with_client_cert(
        cluster: &str,
        server: &str,
        ca_pem: &str,
        user: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Kubeconfig {
        let u = User {
            client_certificate_data: Some(b64(cert_pem)),
            client_key_data: Some(b64(key_pem)),
            ..Default::default()
        };
        Kubeconfig::single(cluster, server, ca_pem, user, u)
    }

    /// A one-context kubeconfig with embedded CA and a bearer token (bootstrap-kubelet.conf style).
    pub fn with_token(
        cluster: &str,
        server: &str,
        ca_pem: &str,
        user: &str,
        token: &str,
    ) -> Kubeconfig {
        let u = User {
            token: Some(token.into()),
            ..Default::default()
        };
        Kubeconfig::single(cluster, server, ca_pem, user, u)
    }

    /// YAML text. Long values (`certificate-authority-data`, `client-key-data`) stay plain
    /// scalars on one line, as clientcmd writes them (`k8s.io/client-go/tools/clientcmd/loader.go`
    /// `Write`, through sigs.k8s.io/yaml, which never folds): a folded `>-` block would put the
    /// value on its own line, where tools reading `key: value` lines miss it.
    ///
    /// # Errors
    /// [`PkiError::Parse`] if serialisation fails (it does not for these types).
    pub fn to_yaml(&self) -> Result<String, PkiError> {
        let mut options = serde_saphyr::SerializerOptions::default();
        options.prefer_block_scalars = false;
        serde_saphyr::to_string_with_options(self, options).map_err(|e| PkiError::Parse {
            what: "kubeconfig".into(),
            detail: e.to_string(),
        })
    }

    /// Parses YAML (or JSON) text.
    ///
    /// # Errors
    /// [`PkiError::Parse`] when the text is not a kubeconfig.
    pub fn from_yaml(text: &str) -> Result<Kubeconfig, PkiError> {
        serde_saphyr::from_str(text).map_err(|e| PkiError::Parse {
            what: "kubeconfig".into(),
            detail: e.to_string(),
        })
    }

    /// Writes the file with mode 0600 (it holds credentials).
    ///
    /// # Errors
    /// [`PkiError::Io`] when it cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), PkiError> {
        write_file(path, self.to_yaml()?.as_bytes(), 0o600)
    }

    /// Reads a kubeconfig file.
    ///
    /// # Errors
    /// [`PkiError`] when it cannot be read or parsed.
    pub fn read(path: &Path) -> Result<Kubeconfig, PkiError> {
        let text = read_string(path)?;
        Kubeconfig::from_yaml(&text).map_err(|e| parse_err(path, e.to_string()))
    }

    /// Resolves the current context; relative file paths are taken relative to `base_dir` (the
    /// kubeconfig's directory, as client-go does).
    ///
    /// # Errors
    /// [`PkiError::Parse`] when the context, cluster or user is missing, or data is not base64;
    /// [`PkiError::Io`] when a referenced file cannot be read.
    pub fn resolve(&self, base_dir: &Path) -> Result<Resolved, PkiError> {
        let here = Path::new("kubeconfig");
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .ok_or_else(|| {
                parse_err(
                    here,
                    format!("current context {:?} is not defined", self.current_context),
                )
            })?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)
            .ok_or_else(|| {
                parse_err(
                    here,
                    format!("cluster {:?} is not defined", ctx.context.cluster),
                )
            })?;
        let user = self.users.iter().find(|u| u.name == ctx.context.user);
        let path = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            }
        };
        let data_or_file = |data: &Option<String>, file: &Option<String>, what: &str| {
            if let Some(d) = data {
                let bytes = B64
                    .decode(d.trim())
                    .map_err(|e| parse_err(here, format!("{what} is not base64: {e}")))?;
                String::from_utf8(bytes)
                    .map(Some)
                    .map_err(|_| parse_err(here, format!("{what} is not UTF-8 PEM")))
            } else if let Some(f) = file {
                read_string(&path(f)).map(Some)
            } else {
                Ok(None)
            }
        };
        let ca_pem = data_or_file(
            &cluster.cluster.certificate_authority_data,
            &cluster.cluster.certificate_authority,
            "certificate-authority-data",
        )?;
        let credentials = match user {
            None => Credentials::None,
            Some(u) => {
                let u = &u.user;
                let cert = data_or_file(
                    &u.client_certificate_data,
                    &u.client_certificate,
                    "client-certificate-data",
                )?;
                let key = data_or_file(&u.client_key_data, &u.client_key, "client-key-data")?;
                match (cert, key) {
                    (Some(cert_pem), Some(key_pem)) => {
                        Credentials::ClientCert { cert_pem, key_pem }
                    }
                    _ => match (&u.token, &u.token_file) {
                        (Some(t), _) => Credentials::Token(t.clone()),
                        (None, Some(f)) => {
                            Credentials::Token(read_string(&path(f))?.trim().to_string())
                        }
                        (None, None) => Credentials::None,
                    },
                }
            }
        };
        Ok(Resolved {
            server: cluster.cluster.server.clone(),
            ca_pem,
            credentials,
            namespace: ctx.context.namespace.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_conf_shape_round_trips() {
        let kc = Kubeconfig::with_client_cert(
            "kubernetes",
            "https://127.100.49.2:8443",
            "CA",
            "kubernetes-admin",
            "CERT",
            "KEY",
        );
        let yaml = kc.to_yaml().unwrap();
        let order: Vec<_> = yaml
            .lines()
            .filter(|l| !l.starts_with([' ', '-']))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            order,
            [
                "apiVersion",
                "clusters",
                "contexts",
                "current-context",
                "kind",
                "preferences",
                "users"
            ]
        );
        assert!(yaml.contains("current-context: kubernetes-admin@kubernetes"));
        assert!(yaml.contains(&format!("client-key-data: {}", b64("KEY"))));
        let back = Kubeconfig::from_yaml(&yaml).unwrap();
        assert_eq!(back, kc);
        // Real key data is long: still one `key: value` line.
        let long = "K".repeat(400);
        let kc = Kubeconfig::with_client_cert("k", "https://h:1", "CA", "u", "CERT", &long);
        let yaml = kc.to_yaml().unwrap();
        assert!(
            yaml.contains(&format!("client-key-data: {}\n", b64(&long))),
            "{yaml}"
        );
        let r = back.resolve(Path::new("/")).unwrap();
        assert_eq!(r.server, "https://127.100.49.2:8443");
        assert_eq!(r.ca_pem.as_deref(), Some("CA"));
        assert_eq!(
            r.credentials,
            Credentials::ClientCert {
                cert_pem: "CERT".into(),
                key_pem: "KEY".into()
            }
        );
    }

    #[test]
    fn file_paths_and_tokens_resolve_relative_to_the_file() {
        let dir = crate::pki::tests::tempdir("kubeconfig");
        std::fs::write(dir.0.join("ca.crt"), "CAFILE").unwrap();
        let yaml = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://x:6443\n    certificate-authority: ca.crt\ncontexts:\n- name: ctx\n  context: {cluster: c, user: u, namespace: kube-system}\ncurrent-context: ctx\nusers:\n- name: u\n  user:\n    token: abcdef.0123456789abcdef\n";
        let r = Kubeconfig::from_yaml(yaml)
            .unwrap()
            .resolve(&dir.0)
            .unwrap();
        assert_eq!(r.ca_pem.as_deref(), Some("CAFILE"));
        assert_eq!(
            r.credentials,
            Credentials::Token("abcdef.0123456789abcdef".into())
        );
        assert_eq!(r.namespace.as_deref(), Some("kube-system"));
        let bad = yaml.replace("current-context: ctx", "current-context: nope");
        assert!(
            Kubeconfig::from_yaml(&bad)
                .unwrap()
                .resolve(&dir.0)
                .is_err()
        );
    }
}
