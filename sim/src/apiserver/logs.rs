//! `pods/log` (proxied to the kubelet, pkg/registry/core/pod/rest/log.go + pkg/kubelet/client) and
//! `serviceaccounts/token` (TokenRequest, pkg/registry/core/serviceaccount/storage/token.go).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use rustls::ClientConfig;
use serde_json::{Value, json};

use super::http::Body;
use super::resources;
use super::server::Api;
use super::status::ApiError;
use crate::client::transport::Transport;

/// TLS for connections to kubelets with the `--kubelet-client-*` certificate.
///
/// # Errors
/// [`crate::pki::PkiError`] when a PEM is unusable.
pub fn kubelet_client_tls(
    cert: &str,
    key: &str,
    ca: Option<String>,
) -> Result<Arc<ClientConfig>, crate::pki::PkiError> {
    match ca {
        Some(ca) => crate::pki::tls::client_config(&ca, Some((cert, key))),
        // kube-apiserver without `--kubelet-certificate-authority` does not verify kubelet serving
        // certificates (pkg/kubelet/client: `TLSClientConfig.Insecure` when no CA is configured).
        None => crate::pki::tls::insecure_client_config(Some((cert, key))),
    }
}

/// The address of a node the apiserver uses for its kubelet, by `--kubelet-preferred-address-types`
/// (labsim only connects to IP addresses, never resolves names).
fn node_address(api: &Api, node: &Value) -> Option<String> {
    let mut types = api
        .flags
        .list("kubelet-preferred-address-types")
        .unwrap_or_default();
    if types.is_empty() {
        types = [
            "Hostname",
            "InternalDNS",
            "InternalIP",
            "ExternalDNS",
            "ExternalIP",
        ]
        .map(String::from)
        .to_vec();
    }
    let addrs = node["status"]["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    types.iter().find_map(|t| {
        addrs
            .iter()
            .filter(|a| a["type"] == t.as_str())
            .filter_map(|a| a["address"].as_str())
            .find(|a| a.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_string)
    })
}

/// `GET …/pods/<name>/log`: validates the container, then streams the kubelet's
/// `/containerLogs/<ns>/<pod>/<container>` response.
///
/// # Errors
/// NotFound, BadRequest for a bad or missing container name or an unscheduled pod, Internal when
/// the kubelet cannot be reached.
pub async fn pod_log(
    api: &Api,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let pods = resources::find("", "v1", "pods").expect("served");
    let nodes = resources::find("", "v1", "nodes").expect("served");
    let pod = api.store.get(pods, Some(ns), name).await?;
    let names = |l: &str| -> Vec<String> {
        pod["spec"][l]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = names("containers");
    let init = names("initContainers");
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !containers.contains(c) && !init.contains(c) {
                return Err(ApiError::BadRequest(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.clone()
        }
        None => {
            let default = pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
                .as_str()
                .filter(|d| containers.iter().any(|c| c == d))
                .map(str::to_string);
            match (default, containers.len()) {
                (Some(d), _) => d,
                (None, 1) => containers[0].clone(),
                _ => {
                    let mut msg = format!(
                        "a container name must be specified for pod {name}, choose one of: [{}]",
                        containers.join(" ")
                    );
                    if !init.is_empty() {
                        msg.push_str(&format!(
                            " or one of the init containers: [{}]",
                            init.join(" ")
                        ));
                    }
                    return Err(ApiError::BadRequest(msg));
                }
            }
        }
    };
    let Some(node_name) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else {
        return Err(ApiError::BadRequest(format!(
            "pod {name} does not have a host assigned"
        )));
    };
    let node = api.store.get(nodes, None, node_name).await?;
    let addr = node_address(api, &node).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "no preferred addresses found; known addresses: {}",
            node["status"]["addresses"]
        ))
    })?;
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_i64()
        .unwrap_or(10250);
    let tls = api
        .kubelet_tls
        .clone()
        .ok_or_else(|| ApiError::Internal("no kubelet client certificate configured (--kubelet-client-certificate/--kubelet-client-key)".into()))?;
    let mut params = vec![];
    for k in [
        "follow",
        "previous",
        "timestamps",
        "tailLines",
        "sinceSeconds",
        "sinceTime",
        "limitBytes",
    ] {
        if let Some(v) = q.get(k) {
            params.push(format!("{k}={}", encode(v)));
        }
    }
    let query = if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    };
    let url = format!("https://{addr}:{port}/containerLogs/{ns}/{name}/{container}{query}");
    let host = if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr.clone()
    };
    let transport = Transport::new(&format!("https://{host}:{port}"), Some(tls))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let req = hyper::Request::get(&url)
        .body(Full::new(Bytes::new()))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let resp = transport
        .send_streaming(req)
        .await
        .map_err(|e| ApiError::Internal(format!("Get {url:?}: {e}")))?;
    let status = resp.status();
    if !(200..=206).contains(&status.as_u16()) {
        // The kubelet's plain-text error becomes a Status (GenericHttpResponseChecker, at most
        // 50000 bytes of the body).
        let mut body = resp.into_body();
        let mut text = Vec::new();
        while text.len() < MAX_ERROR_BODY {
            match body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        text.extend_from_slice(&d);
                    }
                }
                Some(Err(e)) => return Err(ApiError::generic_internal(&e.to_string())),
                None => break,
            }
        }
        text.truncate(MAX_ERROR_BODY);
        return Err(kubelet_error(
            status.as_u16(),
            &String::from_utf8_lossy(&text),
            name,
        ));
    }
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain")
        .to_string();
    let body = resp
        .into_body()
        .map_err(|e| std::io::Error::other(e.to_string()))
        .boxed();
    Ok(Response::builder()
        .status(status)
        .header("content-type", ct)
        .header("cache-control", "no-cache, private")
        .body(body)
        .expect("valid response"))
}

/// How much of a kubelet's error answer is read (response_checker.go `maxReadLength`).
const MAX_ERROR_BODY: usize = 50000;

/// The `Status` kube-apiserver makes of a kubelet's error answer to `pods/<name>/log`
/// (k8s.io/apiserver `pkg/registry/generic/rest/response_checker.go`
/// `GenericHttpResponseChecker.Check` for the qualified resource `pods/log`): 500 is an internal
/// error, 400 a BadRequest with the kubelet's text as the message (`kubectl logs` prints `Error
/// from server (BadRequest): container "x" in pod "y" is waiting to start: ContainerCreating`),
/// anything else apimachinery's `NewGenericServerResponse`.
pub fn kubelet_error(code: u16, body: &str, name: &str) -> ApiError {
    match code {
        500 => ApiError::generic_internal(body),
        400 => ApiError::BadRequest(body.to_string()),
        _ => ApiError::generic_server_response(code, "", "", "pods/log", name, body),
    }
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `POST …/serviceaccounts/<name>/token`: issues an ES256 token with the claims of
/// pkg/serviceaccount/claims.go (`aud`, `exp`, `iat`, `nbf`, `iss`, `sub`, `jti`, `kubernetes.io`).
///
/// # Errors
/// NotFound for a missing ServiceAccount, Internal when no signing key is configured.
pub async fn token_request(api: &Api, ns: &str, name: &str, tr: Value) -> Result<Value, ApiError> {
    let sas = resources::find("", "v1", "serviceaccounts").expect("served");
    let sa = api.store.get(sas, Some(ns), name).await?;
    let signer = api.sa_signer.as_ref().ok_or_else(|| {
        ApiError::Internal(
            "no service-account signing key (--service-account-signing-key-file)".into(),
        )
    })?;
    let issuer = api
        .sa_issuers
        .first()
        .cloned()
        .ok_or_else(|| ApiError::Internal("no --service-account-issuer".into()))?;
    let mut audiences: Vec<Value> = tr["spec"]["audiences"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if audiences.is_empty() {
        let api_aud = api.flags.list("api-audiences").unwrap_or_default();
        audiences = if api_aud.is_empty() {
            api.sa_issuers.iter().map(|i| json!(i)).collect()
        } else {
            api_aud.iter().map(|a| json!(a)).collect()
        };
    }
    let exp_secs = tr["spec"]["expirationSeconds"]
        .as_i64()
        .unwrap_or(3600)
        .max(600);
    let now = jiff::Timestamp::now().as_second();
    let mut k8s =
        json!({"namespace": ns, "serviceaccount": {"name": name, "uid": sa["metadata"]["uid"]}});
    let bound = &tr["spec"]["boundObjectRef"];
    if bound["kind"] == "Pod" {
        k8s["pod"] = json!({"name": bound["name"], "uid": bound["uid"]});
    } else if bound["kind"] == "Secret" {
        k8s["secret"] = json!({"name": bound["name"], "uid": bound["uid"]});
    }
    // --service-account-extend-token-expiration (default true): a pod-bound token requested for the
    // kubelet's 3607 s is valid for a year and only carries a `warnafter` at the requested time, so
    // clients that read their token once keep working (pkg/registry/core/serviceaccount/storage/
    // token.go, WarnOnlyBoundTokenExpirationSeconds / ExpirationExtensionSeconds). The reply still
    // says 3607 s, which makes the kubelet refresh the file on schedule.
    let extend = api
        .flags
        .bool("service-account-extend-token-expiration", true)
        && bound["kind"] == "Pod"
        && exp_secs == WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS;
    let jwt_exp = if extend {
        k8s["warnafter"] = json!(now + exp_secs);
        now + EXPIRATION_EXTENSION_SECONDS
    } else {
        now + exp_secs
    };
    let claims = json!({
        "aud": audiences, "exp": jwt_exp, "iat": now, "iss": issuer, "jti": super::meta::new_uid(),
        "kubernetes.io": k8s, "nbf": now, "sub": format!("system:serviceaccount:{ns}:{name}"),
    });
    let token = signer
        .sign(&claims)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut out = json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": exp_secs, "boundObjectRef": tr["spec"]["boundObjectRef"]},
        "status": {"token": token, "expirationTimestamp": super::meta::rfc3339_in(exp_secs)}});
    if out["spec"]["boundObjectRef"].is_null()
        && let Some(m) = out["spec"].as_object_mut()
    {
        m.insert("boundObjectRef".into(), Value::Null);
    }
    Ok(out)
}

/// The expiration the kubelet asks for projected tokens; such tokens are extended (upstream
/// `token.WarnOnlyBoundTokenExpirationSeconds`, 60*60 + 7).
const WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS: i64 = 3607;
/// How long an extended token is valid (upstream `token.ExpirationExtensionSeconds`, a year).
const EXPIRATION_EXTENSION_SECONDS: i64 = 24 * 365 * 60 * 60;
