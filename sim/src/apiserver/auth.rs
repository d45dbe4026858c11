//! Authentication and authorization.
//!
//! Authentication (apiserver/pkg/authentication): client certificates verified against
//! `--client-ca-file` during the TLS handshake (user = CN, groups = O,
//! request/x509/x509.go `CommonNameUserConversion`); bearer tokens that are bootstrap tokens
//! (plugin/pkg/auth/authenticator/token/bootstrap/bootstrap.go: Secret
//! `kube-system/bootstrap-token-<id>`, secret match, expiration, `usage-bootstrap-authentication`,
//! user `system:bootstrap:<id>`, groups `system:bootstrappers` + `auth-extra-groups`) or
//! service-account JWTs (pkg/serviceaccount/jwt.go, claims.go: issuer, audience, expiry, the
//! ServiceAccount still existing with the same uid). A presented but invalid token is 401; no
//! credentials at all is `system:anonymous` in `system:unauthenticated` (`--anonymous-auth`, default on).
//!
//! Authorization: labsim stores RBAC objects but does not enforce them for authenticated users,
//! who may do everything. Anonymous requests are evaluated against the stored RBAC objects
//! (plugin/pkg/auth/authorizer/rbac: rules of Roles/ClusterRoles bound to `system:anonymous` or
//! `system:unauthenticated`), so they get exactly what the bootstrap policy (`system:public-info-viewer`:
//! /healthz, /livez, /readyz, /version) and kubeadm's `kubeadm:bootstrap-signer-clusterinfo` Role
//! (the `cluster-info` ConfigMap) allow, and the real 403 message otherwise.

use serde_json::{Value, json};

use super::resources;
use super::server::{Api, Attributes};
use super::status::ApiError;

/// An authenticated (or anonymous) user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name.
    pub name: String,
    /// Groups.
    pub groups: Vec<String>,
    /// uid (service accounts).
    pub uid: String,
}

impl User {
    /// The anonymous user.
    pub fn anonymous() -> User {
        User {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            uid: String::new(),
        }
    }

    /// Whether this is the anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.name == "system:anonymous"
    }
}

fn b64s(v: &Value) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str()?)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Bootstrap token format `[a-z0-9]{6}.[a-z0-9]{16}` (cluster-bootstrap/token/api).
pub fn is_bootstrap_token(t: &str) -> bool {
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    t.split_once('.')
        .is_some_and(|(id, secret)| ok(id, 6) && ok(secret, 16))
}

async fn bootstrap_user(api: &Api, token: &str) -> Result<User, ApiError> {
    let (id, secret) = token.split_once('.').expect("checked format");
    let secrets = resources::find("", "v1", "secrets").expect("secrets are served");
    let Some(s) = api
        .store
        .get_opt(
            secrets,
            Some("kube-system"),
            &format!("bootstrap-token-{id}"),
        )
        .await?
    else {
        return Err(ApiError::Unauthorized);
    };
    let data = &s["data"];
    if s["type"] != "bootstrap.kubernetes.io/token"
        || !s["metadata"]["deletionTimestamp"].is_null()
        || b64s(&data["token-id"]).as_deref() != Some(id)
        || b64s(&data["token-secret"]).as_deref() != Some(secret)
        || b64s(&data["usage-bootstrap-authentication"]).as_deref() != Some("true")
    {
        return Err(ApiError::Unauthorized);
    }
    if let Some(exp) = b64s(&data["expiration"]) {
        match exp.parse::<jiff::Timestamp>() {
            Ok(t) if t > jiff::Timestamp::now() => {}
            _ => return Err(ApiError::Unauthorized),
        }
    }
    let mut groups = vec!["system:bootstrappers".to_string()];
    if let Some(extra) = b64s(&data["auth-extra-groups"]) {
        groups.extend(
            extra
                .split(',')
                .map(|g| g.trim().to_string())
                .filter(|g| g.starts_with("system:bootstrappers:")),
        );
    }
    groups.push("system:authenticated".into());
    Ok(User {
        name: format!("system:bootstrap:{id}"),
        groups,
        uid: String::new(),
    })
}

async fn service_account_user(api: &Api, token: &str) -> Result<User, ApiError> {
    let claims = api
        .sa_verifiers
        .iter()
        .find_map(|v| v.verify(token).ok())
        .ok_or(ApiError::Unauthorized)?;
    let iss = claims["iss"].as_str().unwrap_or_default();
    let legacy = iss == "kubernetes/serviceaccount";
    if !legacy && !api.sa_issuers.iter().any(|i| i == iss) {
        return Err(ApiError::Unauthorized);
    }
    if !legacy {
        // API audiences default to the issuers (--api-audiences unset).
        let mut audiences = api.flags.list("api-audiences").unwrap_or_default();
        if audiences.is_empty() {
            audiences = api.sa_issuers.clone();
        }
        let aud_ok = match &claims["aud"] {
            Value::String(a) => audiences.contains(a),
            Value::Array(a) => a
                .iter()
                .any(|x| x.as_str().is_some_and(|x| audiences.iter().any(|y| y == x))),
            _ => false,
        };
        let exp_ok = claims["exp"]
            .as_i64()
            .is_some_and(|e| e > jiff::Timestamp::now().as_second());
        if !aud_ok || !exp_ok {
            return Err(ApiError::Unauthorized);
        }
    }
    let k = &claims["kubernetes.io"];
    let (ns, name, uid) = if legacy {
        (
            claims["kubernetes.io/serviceaccount/namespace"].as_str(),
            claims["kubernetes.io/serviceaccount/service-account.name"].as_str(),
            claims["kubernetes.io/serviceaccount/service-account.uid"].as_str(),
        )
    } else {
        (
            k["namespace"].as_str(),
            k["serviceaccount"]["name"].as_str(),
            k["serviceaccount"]["uid"].as_str(),
        )
    };
    let (Some(ns), Some(name), Some(uid)) = (ns, name, uid) else {
        return Err(ApiError::Unauthorized);
    };
    // service-account-lookup (default true): the account must still exist with that uid.
    let sas = resources::find("", "v1", "serviceaccounts").expect("served");
    match api.store.get_opt(sas, Some(ns), name).await? {
        Some(sa) if sa["metadata"]["uid"] == uid => {}
        _ => return Err(ApiError::Unauthorized),
    }
    Ok(User {
        name: format!("system:serviceaccount:{ns}:{name}"),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        uid: uid.to_string(),
    })
}

/// Authenticates a request.
///
/// # Errors
/// [`ApiError::Unauthorized`] for a presented credential that is not valid, or anonymous access
/// when `--anonymous-auth=false`.
pub async fn authenticate<B>(
    api: &Api,
    cert_user: Option<&(String, Vec<String>)>,
    req: &hyper::Request<B>,
) -> Result<User, ApiError> {
    if let Some((name, groups)) = cert_user {
        let mut groups = groups.clone();
        groups.push("system:authenticated".into());
        return Ok(User {
            name: name.clone(),
            groups,
            uid: String::new(),
        });
    }
    if let Some(auth) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        let token = auth
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        if is_bootstrap_token(token) {
            if !api.flags.bool("enable-bootstrap-token-auth", false) {
                return Err(ApiError::Unauthorized);
            }
            return bootstrap_user(api, token).await;
        }
        return service_account_user(api, token).await;
    }
    if !api.flags.bool("anonymous-auth", true) {
        return Err(ApiError::Unauthorized);
    }
    Ok(User::anonymous())
}

fn matches(list: &Value, want: &str) -> bool {
    list.as_array()
        .is_some_and(|a| a.iter().any(|x| x == "*" || x == want))
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    if !matches(&rule["verbs"], &a.verb) {
        return false;
    }
    match &a.target {
        None => rule["nonResourceURLs"].as_array().is_some_and(|urls| {
            urls.iter().filter_map(Value::as_str).any(|u| {
                u == "*"
                    || u == a.path
                    || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p))
            })
        }),
        Some(t) => {
            let resource = match &t.sub {
                Some(s) => format!("{}/{s}", t.res.plural),
                None => t.res.plural.to_string(),
            };
            matches(&rule["apiGroups"], t.res.group)
                && matches(&rule["resources"], &resource)
                && rule["resourceNames"].as_array().is_none_or(|names| {
                    names.is_empty()
                        || t.name
                            .as_deref()
                            .is_some_and(|n| names.iter().any(|x| x == n))
                })
        }
    }
}

fn binds(binding: &Value, user: &User) -> bool {
    binding["subjects"].as_array().is_some_and(|subs| {
        subs.iter().any(|s| match s["kind"].as_str() {
            Some("User") => s["name"] == user.name.as_str(),
            Some("Group") => user.groups.iter().any(|g| s["name"] == g.as_str()),
            _ => false,
        })
    })
}

async fn rbac_allows(api: &Api, user: &User, a: &Attributes) -> Result<bool, ApiError> {
    let r = |p: &str| resources::find("rbac.authorization.k8s.io", "v1", p).expect("rbac served");
    let (crbs, _) = api.store.list(r("clusterrolebindings"), None, 0).await?;
    for b in crbs.iter().filter(|b| binds(b, user)) {
        let name = b["roleRef"]["name"].as_str().unwrap_or_default();
        if let Some(role) = api.store.get_opt(r("clusterroles"), None, name).await?
            && role["rules"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|x| rule_allows(x, a)))
        {
            return Ok(true);
        }
    }
    if let Some(ns) = a.target.as_ref().and_then(|t| t.ns.clone()) {
        let (rbs, _) = api.store.list(r("rolebindings"), Some(&ns), 0).await?;
        for b in rbs.iter().filter(|b| binds(b, user)) {
            let name = b["roleRef"]["name"].as_str().unwrap_or_default();
            let role = if b["roleRef"]["kind"] == "ClusterRole" {
                api.store.get_opt(r("clusterroles"), None, name).await?
            } else {
                api.store.get_opt(r("roles"), Some(&ns), name).await?
            };
            if role.is_some_and(|role| {
                role["rules"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|x| rule_allows(x, a)))
            }) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The 403 of a denied request (apiserver/pkg/endpoints/handlers/responsewriters/errors.go
/// `forbiddenMessage`, apimachinery `NewForbidden`).
pub fn forbidden(user: &User, a: &Attributes) -> ApiError {
    match &a.target {
        None => ApiError::Forbidden {
            resource: String::new(),
            group: String::new(),
            name: String::new(),
            message: format!(
                "forbidden: User {:?} cannot {} path {:?}",
                user.name, a.verb, a.path
            ),
        },
        Some(t) => {
            let resource = match &t.sub {
                Some(s) => format!("{}/{s}", t.res.plural),
                None => t.res.plural.to_string(),
            };
            let scope = match &t.ns {
                Some(ns) => format!("in the namespace {ns:?}"),
                None => "at the cluster scope".into(),
            };
            let what = match &t.name {
                Some(n) => format!("{} {n:?}", t.res.group_resource()),
                None => t.res.group_resource(),
            };
            ApiError::Forbidden {
                resource: t.res.group_resource(),
                group: t.res.group.to_string(),
                name: t.name.clone().unwrap_or_default(),
                message: format!(
                    "{what} is forbidden: User {:?} cannot {} resource {resource:?} in API group {:?} {scope}",
                    user.name, a.verb, t.res.group
                ),
            }
        }
    }
}

/// Authorizes a request: authenticated users may do everything (RBAC is stored, not enforced);
/// anonymous requests must be allowed by a stored RBAC rule.
///
/// # Errors
/// [`ApiError::Forbidden`] with the real message.
pub async fn authorize(api: &Api, user: &User, a: &Attributes) -> Result<(), ApiError> {
    if !user.is_anonymous() {
        return Ok(());
    }
    if rbac_allows(api, user, a).await? {
        Ok(())
    } else {
        Err(forbidden(user, a))
    }
}

/// Answers a review request (not stored): `SelfSubjectReview` (who am I), `TokenReview`
/// (authenticate a token, as webhook token authentication does), `SubjectAccessReview` and
/// `SelfSubjectAccessReview` (allowed under labsim's policy: everything for authenticated users,
/// stored RBAC rules for anonymous ones).
///
/// # Errors
/// Storage errors.
pub async fn review(
    api: &Api,
    user: &User,
    res: &resources::ResourceDef,
    mut body: Value,
) -> Result<Value, ApiError> {
    body["apiVersion"] = json!(res.group_version());
    body["kind"] = json!(res.kind);
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    body["metadata"]["creationTimestamp"] = Value::Null;
    let user_info = |u: &User| {
        let mut v = json!({"username": u.name, "groups": u.groups});
        if !u.uid.is_empty() {
            v["uid"] = json!(u.uid);
        }
        v
    };
    match res.kind {
        "SelfSubjectReview" => body["status"] = json!({"userInfo": user_info(user)}),
        "TokenReview" => {
            let token = body["spec"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let found = if is_bootstrap_token(&token) {
                if api.flags.bool("enable-bootstrap-token-auth", false) {
                    bootstrap_user(api, &token).await.ok()
                } else {
                    None
                }
            } else {
                service_account_user(api, &token).await.ok()
            };
            body["status"] = match found {
                Some(u) => {
                    json!({"authenticated": true, "user": user_info(&u), "audiences": body["spec"]["audiences"]})
                }
                None => {
                    json!({"authenticated": false, "user": {}, "error": "invalid bearer token"})
                }
            };
        }
        _ => {
            let spec = &body["spec"];
            let subject = if res.kind == "SelfSubjectAccessReview" {
                user.clone()
            } else {
                User {
                    name: spec["user"].as_str().unwrap_or_default().to_string(),
                    groups: spec["groups"]
                        .as_array()
                        .map(|g| {
                            g.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    uid: String::new(),
                }
            };
            let allowed = if subject.is_anonymous()
                || subject.groups.iter().any(|g| g == "system:unauthenticated")
            {
                let ra = &spec["resourceAttributes"];
                let attrs = if ra.is_object() {
                    let group = ra["group"].as_str().unwrap_or_default();
                    let version = ra["version"]
                        .as_str()
                        .filter(|v| !v.is_empty())
                        .unwrap_or("v1");
                    let plural = ra["resource"].as_str().unwrap_or_default();
                    match resources::find(group, version, plural) {
                        Some(r) => Attributes {
                            verb: ra["verb"].as_str().unwrap_or_default().to_string(),
                            target: Some(super::server::Target {
                                res: r,
                                ns: ra["namespace"]
                                    .as_str()
                                    .filter(|n| !n.is_empty())
                                    .map(str::to_string),
                                name: ra["name"]
                                    .as_str()
                                    .filter(|n| !n.is_empty())
                                    .map(str::to_string),
                                sub: ra["subresource"]
                                    .as_str()
                                    .filter(|n| !n.is_empty())
                                    .map(str::to_string),
                                watch_path: false,
                            }),
                            path: String::new(),
                        },
                        None => {
                            body["status"] =
                                json!({"allowed": false, "reason": "unknown resource"});
                            return Ok(body);
                        }
                    }
                } else {
                    Attributes {
                        verb: spec["nonResourceAttributes"]["verb"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        target: None,
                        path: spec["nonResourceAttributes"]["path"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    }
                };
                rbac_allows(api, &subject, &attrs).await?
            } else {
                true
            };
            body["status"] = if allowed {
                json!({"allowed": true, "reason": "labsim allows every authenticated user (RBAC is stored, not enforced)"})
            } else {
                json!({"allowed": false})
            };
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::server::Target;
    use serde_json::json;

    #[test]
    fn forbidden_messages_are_rbacs() {
        let pods = resources::find("", "v1", "pods").unwrap();
        let a = Attributes {
            verb: "list".into(),
            target: Some(Target {
                res: pods,
                ns: None,
                name: None,
                sub: None,
                watch_path: false,
            }),
            path: "/api/v1/pods".into(),
        };
        assert_eq!(
            forbidden(&User::anonymous(), &a).to_string(),
            "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
        );
        let deploy = resources::find("apps", "v1", "deployments").unwrap();
        let a = Attributes {
            verb: "get".into(),
            target: Some(Target {
                res: deploy,
                ns: Some("default".into()),
                name: Some("web".into()),
                sub: Some("scale".into()),
                watch_path: false,
            }),
            path: String::new(),
        };
        assert_eq!(
            forbidden(&User::anonymous(), &a).to_string(),
            "deployments.apps \"web\" is forbidden: User \"system:anonymous\" cannot get resource \"deployments/scale\" in API group \"apps\" in the namespace \"default\""
        );
        let a = Attributes {
            verb: "get".into(),
            target: None,
            path: "/".into(),
        };
        assert_eq!(
            forbidden(&User::anonymous(), &a).to_string(),
            "forbidden: User \"system:anonymous\" cannot get path \"/\""
        );
    }

    #[test]
    fn rules_match() {
        let a = Attributes {
            verb: "get".into(),
            target: None,
            path: "/version".into(),
        };
        let viewer = json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]});
        assert!(rule_allows(&viewer, &a));
        let a2 = Attributes {
            verb: "get".into(),
            target: None,
            path: "/api".into(),
        };
        assert!(!rule_allows(&viewer, &a2));
        let cms = resources::find("", "v1", "configmaps").unwrap();
        let t = |name: &str| Attributes {
            verb: "get".into(),
            target: Some(Target {
                res: cms,
                ns: Some("kube-public".into()),
                name: Some(name.into()),
                sub: None,
                watch_path: false,
            }),
            path: String::new(),
        };
        let rule = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-info"]});
        assert!(rule_allows(&rule, &t("cluster-info")));
        assert!(!rule_allows(&rule, &t("other")));
        assert!(is_bootstrap_token("abcdef.0123456789abcdef"));
        assert!(!is_bootstrap_token("abcdef.0123456789ABCDEF"));
    }
}
