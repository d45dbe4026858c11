//! Non-resource endpoints: `/`, `/version`, health checks, legacy discovery and OpenAPI.
//!
//! - Discovery uses the legacy shapes (`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList`);
//!   aggregated discovery is not offered, and kubectl falls back to these (KUBECTL-PROTOCOL.md §2).
//! - `/openapi/v2` answers a minimal protobuf document (swagger "2.0", info title "Kubernetes",
//!   version): kubectl then finds no `fieldValidation` support and no schemas, so its client-side
//!   validation accepts every kind and `apply`/`edit` work with default validation in 1.27–1.33.
//!   labsim has no schemas to offer; `/openapi/v3` is 404, which kubectl tolerates.
//! - `/version` carries `Cache-Control: no-cache, private` like every API response (the dispatcher
//!   kubectl caches it otherwise).

use std::collections::HashMap;

use hyper::{Request, Response};
use serde_json::{Value, json};

use super::http::{self, Body};
use super::resources::{self, ResourceDef};
use super::server::{Api, root_paths};
use super::status::ApiError;

/// `GET /version` (apimachinery/pkg/version.Info). Fields that describe a Go build labsim does not
/// have are given the values an unstamped build reports.
pub fn version_info(api: &Api) -> Value {
    json!({
        "major": "1",
        "minor": api.minor.minor().to_string(),
        "emulationMajor": "1",
        "emulationMinor": api.minor.minor().to_string(),
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": (api.minor.minor() - 1).to_string(),
        "gitVersion": api.minor.git_version(),
        "gitCommit": "$Format:%H$",
        "gitTreeState": "",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "labsim",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn resource_entry(r: &ResourceDef) -> Vec<Value> {
    let mut out = vec![];
    let mut main = json!({
        "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
        "verbs": r.verbs(),
    });
    if !r.short_names.is_empty() {
        main["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        main["categories"] = json!(r.categories);
    }
    out.push(main);
    for sub in r.subresources {
        let (kind, verbs, group, version): (&str, Vec<&str>, Option<&str>, Option<&str>) =
            match *sub {
                "status" => (r.kind, vec!["get", "patch", "update"], None, None),
                "approval" => (r.kind, vec!["get", "patch", "update"], None, None),
                "scale" => (
                    "Scale",
                    vec!["get", "patch", "update"],
                    Some("autoscaling"),
                    Some("v1"),
                ),
                "log" => ("Pod", vec!["get"], None, None),
                "binding" => ("Binding", vec!["create"], None, None),
                "eviction" => ("Eviction", vec!["create"], Some("policy"), Some("v1")),
                "token" => (
                    "TokenRequest",
                    vec!["create"],
                    Some("authentication.k8s.io"),
                    Some("v1"),
                ),
                "finalize" => ("Namespace", vec!["update"], None, None),
                _ => continue,
            };
        let mut e = json!({"name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs});
        if let (Some(g), Some(v)) = (group, version) {
            e["group"] = json!(g);
            e["version"] = json!(v);
        }
        out.push(e);
    }
    out
}

fn resource_list(group: &str, version: &str) -> Option<Value> {
    let rs = resources::in_group_version(group, version);
    if rs.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let resources: Vec<Value> = rs.iter().flat_map(|r| resource_entry(r)).collect();
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

fn group_entry(g: &str) -> Value {
    let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
}

/// The minimal OpenAPI v2 protobuf document: field 1 `swagger` = "2.0", field 2 `info`
/// { field 1 `title` = "Kubernetes", field 2 `version` = gitVersion } (gnostic openapiv2.Document).
pub fn openapi_v2_proto(version: &str) -> Vec<u8> {
    let title = b"Kubernetes";
    let mut info = vec![0x0a, title.len() as u8];
    info.extend_from_slice(title);
    info.push(0x12);
    info.push(version.len() as u8);
    info.extend_from_slice(version.as_bytes());
    let mut doc = vec![0x0a, 3];
    doc.extend_from_slice(b"2.0");
    doc.push(0x12);
    doc.push(info.len() as u8);
    doc.extend_from_slice(&info);
    doc
}

async fn health(api: &Api, kind: &str, q: &HashMap<String, String>) -> Response<Body> {
    let etcd_ok = api.store.etcd.status().await.is_ok();
    let mut checks = vec![("ping", true), ("log", true), ("etcd", etcd_ok)];
    if kind == "readyz" {
        checks.push(("etcd-readiness", etcd_ok));
        checks.push(("informer-sync", true));
    }
    for hook in [
        "poststarthook/start-apiserver-admission-initializer",
        "poststarthook/generic-apiserver-start-informers",
        "poststarthook/bootstrap-controller",
        "poststarthook/rbac/bootstrap-roles",
        "poststarthook/scheduling/bootstrap-system-priority-classes",
    ] {
        checks.push((hook, true));
    }
    if kind == "readyz" {
        checks.push(("shutdown", true));
    }
    let ok = checks.iter().all(|(_, ok)| *ok);
    if q.contains_key("verbose") || !ok {
        let mut body = String::new();
        for (name, pass) in &checks {
            if *pass {
                body.push_str(&format!("[+]{name} ok\n"));
            } else {
                body.push_str(&format!("[-]{name} failed: reason withheld\n"));
            }
        }
        body.push_str(&format!(
            "{kind} check {}\n",
            if ok { "passed" } else { "failed" }
        ));
        return http::text(if ok { 200 } else { 500 }, body);
    }
    http::text(200, "ok")
}

/// Serves a non-resource path.
pub async fn serve<B>(
    api: &Api,
    path: &str,
    q: &HashMap<String, String>,
    _req: &Request<B>,
) -> Response<Body> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        [] => http::json(200, &root_paths()),
        ["version"] => http::json(200, &version_info(api)),
        [kind @ ("healthz" | "livez" | "readyz")] => health(api, kind, q).await,
        [kind @ ("healthz" | "livez" | "readyz"), check] => {
            let ok = match *check {
                "etcd" | "etcd-readiness" => api.store.etcd.status().await.is_ok(),
                _ => true,
            };
            let _ = kind;
            if ok {
                http::text(200, "ok")
            } else {
                http::text(500, "internal server error: etcd is not reachable")
            }
        }
        ["api"] => http::json(
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("{}:{}", api.advertise, api.port)}]}),
        ),
        ["api", "v1"] => http::json(200, &resource_list("", "v1").expect("core exists")),
        ["apis"] => http::json(
            200,
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": resources::GROUPS.iter().map(|g| group_entry(g)).collect::<Vec<_>>()}),
        ),
        ["apis", g] if resources::GROUPS.contains(g) => {
            let mut e = group_entry(g);
            e["kind"] = json!("APIGroup");
            e["apiVersion"] = json!("v1");
            http::json(200, &e)
        }
        ["apis", g, v] => match resource_list(g, v) {
            Some(l) => http::json(200, &l),
            None => http::error(&ApiError::NoRoute),
        },
        [".well-known", "openid-configuration"] => match api.sa_issuers.first() {
            // pkg/serviceaccount/openidmetadata.go
            Some(iss) => http::json(
                200,
                &json!({"issuer": iss, "jwks_uri": format!("https://{}:{}/openid/v1/jwks", api.advertise, api.port),
                        "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["ES256"]}),
            ),
            None => http::error(&ApiError::NoRoute),
        },
        ["openid", "v1", "jwks"] => http::json(
            200,
            &json!({"keys": api.sa_verifiers.iter().map(|v| v.jwk()).collect::<Vec<_>>()}),
        ),
        ["openapi", "v2"] => Response::builder()
            .status(200)
            .header(
                "content-type",
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )
            .header("cache-control", "no-cache, private")
            .body(http::full(openapi_v2_proto(&api.minor.git_version())))
            .expect("valid response"),
        _ => http::error(&ApiError::NoRoute),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_doc_is_the_tiny_valid_protobuf() {
        // KUBECTL-PROTOCOL.md §5: 0a 03 "2.0" 12 15 0a 0a "Kubernetes" 12 07 "v1.32.0"
        let doc = openapi_v2_proto("v1.32.0");
        let mut want = vec![0x0a, 0x03];
        want.extend_from_slice(b"2.0");
        want.extend_from_slice(&[0x12, 0x15, 0x0a, 0x0a]);
        want.extend_from_slice(b"Kubernetes");
        want.extend_from_slice(&[0x12, 0x07]);
        want.extend_from_slice(b"v1.32.0");
        assert_eq!(doc, want);
    }

    #[test]
    fn discovery_lists_subresources() {
        let l = resource_list("apps", "v1").unwrap();
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments/scale"));
        let scale = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(scale["group"], "autoscaling");
        let core = resource_list("", "v1").unwrap();
        let pods = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "pods")
            .unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
    }
}
