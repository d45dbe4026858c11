//! CertificateSigningRequest controllers (pkg/controller/certificates):
//!
//! - **csrapproving** (approver/sarapprove.go): a `kubernetes.io/kube-apiserver-client-kubelet`
//!   request for a kubelet client certificate (O `system:nodes`, CN `system:node:<name>`, no SANs,
//!   usages digital signature + client auth, optionally key encipherment) is approved with reason
//!   `AutoApproved` when a SubjectAccessReview allows its requester `create` on
//!   `certificatesigningrequests/selfnodeclient` (the node renewing its own certificate) or
//!   `/nodeclient` (a bootstrap token joining a node);
//! - **csrsigning** (signer/signer.go): approved requests for the kubernetes.io signers are signed
//!   with `--cluster-signing-cert-file`/`--cluster-signing-key-file` for
//!   `min(--cluster-signing-duration, spec.expirationSeconds)`; a request the signer's rules refuse
//!   gets a `Failed` condition with reason `SignerValidationFailure`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::informers::Informer;
use super::queue::WorkQueue;
use super::{Ctx, SyncError, feed, own_key, util, work};
use crate::client::path;
use crate::pki::{Ca, Usage};

/// Signer names (k8s.io/api/certificates/v1).
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The kubelet serving signer.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";
/// The generic client signer.
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
/// The legacy signer.
pub const LEGACY_SIGNER: &str = "kubernetes.io/legacy-unknown";

/// What the controllers read from a PEM certificate request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// Subject CN.
    pub common_name: String,
    /// Subject O values.
    pub organizations: Vec<String>,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// IP SANs (as text).
    pub ips: Vec<String>,
    /// Email and URI SANs.
    pub other_sans: Vec<String>,
}

/// Parses a PEM `CERTIFICATE REQUEST` (capihelper.ParseCSR).
///
/// # Errors
/// [`SyncError::Invalid`] when it is not a PEM certificate request.
pub fn parse_request(pem_text: &str) -> Result<RequestInfo, SyncError> {
    use x509_parser::prelude::FromDer;
    let der = crate::pki::pem_der(pem_text, "CERTIFICATE REQUEST")
        .map_err(|_| SyncError::Invalid("PEM block type must be CERTIFICATE REQUEST".into()))?;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(&der)
        .map_err(|e| SyncError::Invalid(format!("cannot parse the certificate request: {e}")))?;
    let subject = &csr.certification_request_info.subject;
    let mut info = RequestInfo {
        common_name: subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .unwrap_or_default()
            .to_string(),
        organizations: subject
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect(),
        ..Default::default()
    };
    if let Some(exts) = csr.requested_extensions() {
        for e in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = e {
                for n in &san.general_names {
                    match n {
                        GeneralName::DNSName(d) => info.dns_names.push(d.to_string()),
                        GeneralName::IPAddress(b) => info.ips.push(match b.len() {
                            4 => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
                            _ => format!("{b:?}"),
                        }),
                        GeneralName::RFC822Name(m) => info.other_sans.push(m.to_string()),
                        GeneralName::URI(u) => info.other_sans.push(u.to_string()),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(info)
}

fn usages(csr: &Value) -> Vec<String> {
    let mut u: Vec<String> = csr["spec"]["usages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    u.sort();
    u.dedup();
    u
}

fn usages_are(have: &[String], allowed: &[&[&str]]) -> bool {
    allowed.iter().any(|set| {
        let mut s: Vec<&str> = set.to_vec();
        s.sort();
        s.len() == have.len() && s.iter().zip(have).all(|(a, b)| *a == b)
    })
}

/// capihelper `ValidateKubeletClientCSR`.
///
/// # Errors
/// The reason, worded as upstream.
pub fn validate_kubelet_client(req: &RequestInfo, usages: &[String]) -> Result<(), String> {
    if req.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if !req.dns_names.is_empty() {
        return Err("dnsNames are not allowed".into());
    }
    if !req.other_sans.is_empty() {
        return Err("emailAddresses and uris are not allowed".into());
    }
    if !req.ips.is_empty() {
        return Err("ipAddresses are not allowed".into());
    }
    if !req.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    if !usages_are(
        usages,
        &[
            &["digital signature", "client auth"],
            &["digital signature", "key encipherment", "client auth"],
        ],
    ) {
        return Err(format!(
            "usages did not match [client auth digital signature key encipherment] or [client auth digital signature]: {usages:?}"
        ));
    }
    Ok(())
}

/// capihelper `ValidateKubeletServingCSR`.
///
/// # Errors
/// The reason, worded as upstream.
pub fn validate_kubelet_serving(req: &RequestInfo, usages: &[String]) -> Result<(), String> {
    if req.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if req.dns_names.is_empty() && req.ips.is_empty() {
        return Err("DNS or IP subjectAltName is required".into());
    }
    if !req.other_sans.is_empty() {
        return Err("email subjectAltNames and uris are not allowed".into());
    }
    if !req.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    if !usages_are(
        usages,
        &[
            &["digital signature", "server auth"],
            &["digital signature", "key encipherment", "server auth"],
        ],
    ) {
        return Err(format!(
            "usages did not match [digital signature key encipherment server auth] or [digital signature server auth]: {usages:?}"
        ));
    }
    Ok(())
}

fn condition(csr: &Value, typ: &str) -> bool {
    util::array(&csr["status"]["conditions"])
        .iter()
        .any(|c| c["type"] == typ && c["status"] != "False")
}

fn request_pem(csr: &Value) -> Result<String, SyncError> {
    let b = csr["spec"]["request"].as_str().unwrap_or_default();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b)
        .map_err(|e| SyncError::Invalid(format!("spec.request is not base64: {e}")))?;
    String::from_utf8(raw).map_err(|_| SyncError::Invalid("spec.request is not PEM".into()))
}

/// Runs the approver.
pub async fn run_approver(ctx: Ctx) {
    let csrs = ctx.informers.get("certificatesigningrequests");
    let q = WorkQueue::new();
    let all = csrs.clone();
    feed(&csrs, q.clone(), own_key, move || super::all_keys(&all));
    let ctx = Arc::new(ctx);
    work("sarapprove.go", q, |name| {
        let (ctx, csrs) = (ctx.clone(), csrs.clone());
        async move { approve(&ctx, &csrs, &name).await }
    })
    .await;
}

async fn approve(ctx: &Ctx, csrs: &Informer, name: &str) -> Result<Option<Duration>, SyncError> {
    let Some(csr) = csrs.get(name) else {
        return Ok(None);
    };
    if csr["status"]["certificate"]
        .as_str()
        .is_some_and(|c| !c.is_empty())
        || condition(&csr, "Approved")
        || condition(&csr, "Denied")
        || csr["spec"]["signerName"] != KUBELET_CLIENT_SIGNER
    {
        return Ok(None);
    }
    let req = parse_request(&request_pem(&csr)?)?;
    if validate_kubelet_client(&req, &usages(&csr)).is_err() {
        return Ok(None);
    }
    let username = csr["spec"]["username"].as_str().unwrap_or_default();
    let recognizers = [
        (
            req.common_name == username,
            "selfnodeclient",
            "Auto approving self kubelet client certificate after SubjectAccessReview.",
        ),
        (
            true,
            "nodeclient",
            "Auto approving kubelet client certificate after SubjectAccessReview.",
        ),
    ];
    for (recognized, subresource, message) in recognizers {
        if !recognized {
            continue;
        }
        let sar = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": username, "uid": csr["spec"]["uid"], "groups": csr["spec"]["groups"],
                     "extra": csr["spec"]["extra"],
                     "resourceAttributes": {"group": "certificates.k8s.io", "resource": "certificatesigningrequests",
                                            "verb": "create", "subresource": subresource, "version": "*"}},
        });
        let review = ctx
            .client
            .create(
                &path(
                    "authorization.k8s.io",
                    "v1",
                    "subjectaccessreviews",
                    None,
                    None,
                ),
                &sar,
            )
            .await?;
        if review["status"]["allowed"] == true {
            let mut updated = csr.clone();
            let now = util::now_time();
            let conds = updated["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut conds = conds;
            conds.push(json!({"type": "Approved", "status": "True", "reason": "AutoApproved",
                              "message": message, "lastUpdateTime": now, "lastTransitionTime": now}));
            updated["status"]["conditions"] = json!(conds);
            ctx.client
                .update(
                    &format!(
                        "{}/approval",
                        path(
                            "certificates.k8s.io",
                            "v1",
                            "certificatesigningrequests",
                            None,
                            Some(name)
                        )
                    ),
                    &updated,
                )
                .await?;
            super::klog(
                'I',
                "sarapprove.go",
                &format!("\"approved CSR\" csr=\"{name}\" subresource=\"{subresource}\""),
            );
            return Ok(None);
        }
    }
    Ok(None)
}

/// The CSR signer: the cluster signing CA and the longest validity it issues.
#[derive(Debug)]
pub struct Signer {
    ca: Ca,
    ttl: Duration,
}

impl Signer {
    /// Loads the signing CA.
    ///
    /// # Errors
    /// [`crate::pki::PkiError`] when the files are missing or do not parse.
    pub fn load(cert: &Path, key: &Path, ttl: Duration) -> Result<Signer, crate::pki::PkiError> {
        let cert_pem = crate::pki::read_string(cert)?;
        let key_pem = crate::pki::read_string(key)?;
        Ok(Signer {
            ca: Ca::from_pem(&cert_pem, &key_pem)?,
            ttl,
        })
    }
}

/// Runs the signer.
pub async fn run_signer(ctx: Ctx, signer: Signer) {
    let csrs = ctx.informers.get("certificatesigningrequests");
    let q = WorkQueue::new();
    let all = csrs.clone();
    feed(&csrs, q.clone(), own_key, move || super::all_keys(&all));
    let ctx = Arc::new(ctx);
    let signer = Arc::new(signer);
    work("signer.go", q, |name| {
        let (ctx, csrs, signer) = (ctx.clone(), csrs.clone(), signer.clone());
        async move { sign(&ctx, &csrs, &signer, &name).await }
    })
    .await;
}

async fn sign(
    ctx: &Ctx,
    csrs: &Informer,
    signer: &Signer,
    name: &str,
) -> Result<Option<Duration>, SyncError> {
    let Some(csr) = csrs.get(name) else {
        return Ok(None);
    };
    if !condition(&csr, "Approved")
        || condition(&csr, "Denied")
        || condition(&csr, "Failed")
        || csr["status"]["certificate"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    {
        return Ok(None);
    }
    let signer_name = csr["spec"]["signerName"].as_str().unwrap_or_default();
    let pem_text = request_pem(&csr)?;
    let req = parse_request(&pem_text)?;
    let u = usages(&csr);
    let (check, usage) = match signer_name {
        KUBELET_CLIENT_SIGNER => (validate_kubelet_client(&req, &u), Usage::Client),
        KUBELET_SERVING_SIGNER => (validate_kubelet_serving(&req, &u), Usage::Server),
        CLIENT_SIGNER => (
            if u.iter().any(|x| x == "client auth")
                && u.iter().all(|x| {
                    ["digital signature", "key encipherment", "client auth"].contains(&x.as_str())
                })
            {
                Ok(())
            } else {
                Err(format!(
                    "invalid usages for kubernetes.io/kube-apiserver-client: {u:?}"
                ))
            },
            Usage::Client,
        ),
        LEGACY_SIGNER => (Ok(()), Usage::ServerAndClient),
        // Not a kubernetes.io signer: someone else's to sign.
        _ => return Ok(None),
    };
    let csr_path = path(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        None,
        Some(name),
    );
    if let Err(message) = check {
        let mut updated = csr.clone();
        let mut conds = util::array(&updated["status"]["conditions"]);
        conds.push(
            json!({"type": "Failed", "status": "True", "reason": "SignerValidationFailure",
                          "message": message, "lastUpdateTime": util::now_time()}),
        );
        updated["status"]["conditions"] = json!(conds);
        ctx.client
            .update(&format!("{csr_path}/status"), &updated)
            .await?;
        return Ok(None);
    }
    // certificates.k8s.io expirationSeconds (minimum 10 minutes) caps the signer's TTL.
    let requested = csr["spec"]["expirationSeconds"]
        .as_u64()
        .map(|s| Duration::from_secs(s.max(600)));
    let ttl = requested.map_or(signer.ttl, |r| r.min(signer.ttl));
    let days = (ttl.as_secs().div_ceil(86_400)).max(1) as i64;
    let cert = signer.ca.sign_csr(&pem_text, usage, days)?;
    let mut updated = csr.clone();
    updated["status"]["certificate"] =
        json!(base64::engine::general_purpose::STANDARD.encode(cert.as_bytes()));
    ctx.client
        .update(&format!("{csr_path}/status"), &updated)
        .await?;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{CertSpec, new_csr};

    #[test]
    fn kubelet_client_requests() {
        let (pem_text, _key) = new_csr(&CertSpec::client(
            "system:node:minikube-m02",
            &["system:nodes"],
        ))
        .unwrap();
        let req = parse_request(&pem_text).unwrap();
        assert_eq!(req.common_name, "system:node:minikube-m02");
        assert_eq!(req.organizations, ["system:nodes"]);
        let mut u = vec!["client auth".to_string(), "digital signature".to_string()];
        u.sort();
        assert!(validate_kubelet_client(&req, &u).is_ok());
        let mut u3 = vec![
            "client auth".to_string(),
            "digital signature".to_string(),
            "key encipherment".to_string(),
        ];
        u3.sort();
        assert!(validate_kubelet_client(&req, &u3).is_ok());
        assert!(validate_kubelet_client(&req, &["server auth".to_string()]).is_err());
        let (other, _) = new_csr(&CertSpec::client("alice", &["devs"])).unwrap();
        let other = parse_request(&other).unwrap();
        assert_eq!(
            validate_kubelet_client(&other, &u).unwrap_err(),
            "subject organization is not system:nodes"
        );
        let (serving, _) = new_csr(&CertSpec {
            organizations: vec!["system:nodes".into()],
            ..CertSpec::server(
                "system:node:m02",
                &["m02"],
                &["127.100.49.3".parse().unwrap()],
            )
        })
        .unwrap();
        let serving = parse_request(&serving).unwrap();
        assert_eq!(serving.ips, ["127.100.49.3"]);
        assert!(validate_kubelet_client(&serving, &u).is_err());
    }
}
