//! The REST verbs on resources and their subresources (apiserver/pkg/endpoints/handlers and the
//! generic registry `Store`: create, get, list, update, patch, delete, deletecollection; each
//! resource's strategy for what is reset, kept and defaulted).

use std::collections::HashMap;
use std::sync::Arc;

use hyper::{Request, Response};
use serde_json::{Value, json};

use super::auth::User;
use super::defaults;
use super::http::{self, Body, Want};
use super::meta;
use super::patch;
use super::resources::{self, ResourceDef};
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{Api, Target};
use super::status::{ApiError, FieldError};
use super::store::{decorate, events_v1, rv_of};
use super::tables::{self, IncludeObject};

/// Kinds whose `metadata.generation` tracks spec changes (their strategies set it).
fn tracks_generation(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment"
            | "ReplicaSet"
            | "DaemonSet"
            | "StatefulSet"
            | "Ingress"
            | "PodDisruptionBudget"
            | "Job"
            | "CronJob"
    )
}

/// Namespaces NamespaceLifecycle admission never lets go (plugin/pkg/admission/namespace/lifecycle).
const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];

/// The field manager of a write: `fieldManager` or the User-Agent's product name
/// (handlers/rest.go `prefixFromUserAgent`).
fn manager(q: &HashMap<String, String>, req_ua: Option<&str>) -> String {
    q.get("fieldManager")
        .filter(|m| !m.is_empty())
        .cloned()
        .unwrap_or_else(|| {
            req_ua
                .unwrap_or("unknown")
                .split('/')
                .next()
                .unwrap_or("unknown")
                .to_string()
        })
}

/// Selectors from the query.
pub struct Selectors {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
}

impl Selectors {
    /// Parses `labelSelector` and `fieldSelector` for `res`.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for malformed selectors.
    pub fn from_query(
        res: &ResourceDef,
        q: &HashMap<String, String>,
    ) -> Result<Selectors, ApiError> {
        Ok(Selectors {
            labels: LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or(""))?,
            fields: FieldSelector::parse(
                q.get("fieldSelector").map(String::as_str).unwrap_or(""),
                res.plural,
                res.namespaced,
            )?,
        })
    }

    /// Whether an object matches both.
    pub fn matches(&self, res: &ResourceDef, obj: &Value) -> bool {
        self.labels.matches(&obj["metadata"]["labels"]) && self.fields.matches(res.plural, obj)
    }
}

/// Converts a stored object to what the client sees (events.k8s.io/v1 conversion).
pub fn present(res: &ResourceDef, mut obj: Value) -> Value {
    if res.group == "events.k8s.io" {
        let rv = rv_of(&obj);
        obj = events_v1::from_core(&obj);
        decorate(res, &mut obj, rv);
    }
    obj
}

fn respond_object(
    res: &ResourceDef,
    code: u16,
    obj: Value,
    want: Want,
    q: &HashMap<String, String>,
) -> Response<Body> {
    let obj = present(res, obj);
    match want {
        Want::Table(v) => {
            let rv = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let include = IncludeObject::from_query(q.get("includeObject").map(String::as_str));
            http::json(code, &tables::table(res, &[obj], &rv, include, v))
        }
        Want::Metadata(v) => http::json(code, &tables::partial_metadata(&obj, v)),
        Want::Json => http::json(code, &obj),
    }
}

/// Serves a resource request after authentication and authorization.
pub async fn serve(
    api: Arc<Api>,
    user: User,
    t: Target,
    verb: String,
    q: HashMap<String, String>,
    req: Request<super::http::ReqBody>,
) -> Response<Body> {
    let want = http::negotiate(req.headers().get("accept").and_then(|v| v.to_str().ok()));
    let result = dispatch(&api, &user, &t, &verb, &q, want, req).await;
    match result {
        Ok(r) => r,
        Err(e) => http::error(&e),
    }
}

async fn dispatch(
    api: &Arc<Api>,
    user: &User,
    t: &Target,
    verb: &str,
    q: &HashMap<String, String>,
    want: Want,
    req: Request<super::http::ReqBody>,
) -> Result<Response<Body>, ApiError> {
    let res = t.res;
    if let Some(sub) = &t.sub
        && !res.subresources.contains(&sub.as_str())
    {
        return Err(ApiError::NoRoute);
    }
    if res.namespaced && t.ns.is_none() && t.name.is_some() {
        return Err(ApiError::NoRoute);
    }
    if res.is_review() {
        if verb != "create" || t.name.is_some() {
            return Err(ApiError::MethodNotAllowed);
        }
        let body = http::read_body(req.into_body()).await?;
        let review = http::parse_body(&body, "application/json")?;
        return Ok(http::json(
            201,
            &super::auth::review(api, user, res, review).await?,
        ));
    }
    let ns = t.ns.as_deref();
    let ua = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type_header = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match verb {
        "create" | "update" => http::check_body_type(content_type_header.as_deref())?,
        "patch" => http::check_patch_type(content_type_header.as_deref())?,
        _ => {}
    }
    let content_type = content_type_header.unwrap_or_else(|| "application/json".into());
    match (verb, t.name.as_deref(), t.sub.as_deref()) {
        ("list", None, None) => list(api, res, ns, q, want).await,
        ("watch", name, None) => {
            let mut q = q.clone();
            if let Some(n) = name {
                let fs = q.get("fieldSelector").cloned().unwrap_or_default();
                let pin = format!("metadata.name={n}");
                q.insert(
                    "fieldSelector".into(),
                    if fs.is_empty() {
                        pin
                    } else {
                        format!("{fs},{pin}")
                    },
                );
            }
            super::watch::serve(api.clone(), res, t.ns.clone(), q, want).await
        }
        ("get", Some(name), None | Some("status") | Some("approval")) => {
            let obj = api.store.get(res, ns, name).await?;
            Ok(respond_object(res, 200, obj, want, q))
        }
        ("get", Some(name), Some("scale")) => {
            let obj = api.store.get(res, ns, name).await?;
            Ok(http::json(200, &scale_of(&obj)))
        }
        ("get", Some(name), Some("log")) => {
            super::logs::pod_log(api, ns.unwrap_or_default(), name, q).await
        }
        ("create", None, None) => {
            let body = http::read_body(req.into_body()).await?;
            let mut obj = http::parse_body(&body, &content_type)?;
            if res.kind == "CertificateSigningRequest" && obj.is_object() {
                // CSR strategy PrepareForCreate (pkg/registry/certificates/certificates/strategy.go):
                // the requester's identity comes from the request, never from the body.
                if !obj["spec"].is_object() {
                    obj["spec"] = json!({});
                }
                obj["spec"]["username"] = json!(user.name);
                obj["spec"]["groups"] = json!(user.groups);
                if user.uid.is_empty() {
                    if let Some(m) = obj["spec"].as_object_mut() {
                        m.remove("uid");
                    }
                } else {
                    obj["spec"]["uid"] = json!(user.uid);
                }
            }
            let created = create(api, res, ns, obj, &manager(q, ua.as_deref()), q).await?;
            Ok(respond_object(res, 201, created, want, q))
        }
        ("create", Some(name), Some("binding")) => {
            let body = http::read_body(req.into_body()).await?;
            let b = http::parse_body(&body, &content_type)?;
            bind(api, ns.unwrap_or_default(), name, &b).await?;
            Ok(http::json(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        ("create", Some(name), Some("eviction")) => {
            let body = http::read_body(req.into_body()).await?;
            let ev = http::parse_body(&body, &content_type)?;
            evict(api, ns.unwrap_or_default(), name, &ev).await?;
            Ok(http::json(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        ("create", Some(name), Some("token")) => {
            let body = http::read_body(req.into_body()).await?;
            let tr = http::parse_body(&body, &content_type)?;
            let out = super::logs::token_request(api, ns.unwrap_or_default(), name, tr).await?;
            Ok(http::json(201, &out))
        }
        ("update", Some(name), sub) => {
            let body = http::read_body(req.into_body()).await?;
            let obj = http::parse_body(&body, &content_type)?;
            if sub == Some("scale") {
                let out = update_scale(
                    api,
                    res,
                    ns,
                    name,
                    |_| Ok(obj.clone()),
                    &manager(q, ua.as_deref()),
                )
                .await?;
                return Ok(http::json(200, &out));
            }
            let out = update(api, res, ns, name, obj, sub, &manager(q, ua.as_deref()), q).await?;
            Ok(respond_object(res, 200, out, want, q))
        }
        ("patch", Some(name), sub) => {
            let body = http::read_body(req.into_body()).await?;
            let mgr = manager(q, ua.as_deref());
            if sub == Some("scale") {
                let p = http::parse_body(&body, &content_type)?;
                let ct = content_type.clone();
                let out = update_scale(
                    api,
                    res,
                    ns,
                    name,
                    |scale| {
                        let mut s = scale.clone();
                        apply_patch_body("Scale", &mut s, &p, &ct)?;
                        Ok(s)
                    },
                    &mgr,
                )
                .await?;
                return Ok(http::json(200, &out));
            }
            let (code, out) =
                patch_object(api, res, ns, name, sub, &body, &content_type, &mgr, q).await?;
            Ok(respond_object(res, code, out, want, q))
        }
        ("delete", Some(name), None) => {
            let body = http::read_body(req.into_body()).await?;
            let opts = delete_options(&body, q)?;
            let (code, out) = delete(api, res, ns, name, &opts, q.contains_key("dryRun")).await?;
            Ok(http::json(code, &present(res, out)))
        }
        ("deletecollection", None, None) => {
            let body = http::read_body(req.into_body()).await?;
            let opts = delete_options(&body, q)?;
            let sel = Selectors::from_query(res, q)?;
            let (items, _) = api.store.list(res, ns, 0).await?;
            let mut deleted = vec![];
            for o in items.into_iter().filter(|o| sel.matches(res, o)) {
                let name = o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let ons = o["metadata"]["namespace"].as_str().map(str::to_string);
                match delete(
                    api,
                    res,
                    ons.as_deref(),
                    &name,
                    &opts,
                    q.contains_key("dryRun"),
                )
                .await
                {
                    Ok((_, d)) => deleted.push(strip_type(present(res, d))),
                    Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let rv = api.store.revision().await?;
            Ok(http::json(
                200,
                &json!({"kind": res.list_kind(), "apiVersion": res.group_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": deleted}),
            ))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

fn strip_type(mut o: Value) -> Value {
    if let Some(m) = o.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    o
}

/// Reads `resourceVersion`/`resourceVersionMatch` for a list: 0 means "newest".
fn list_revision(q: &HashMap<String, String>) -> Result<i64, ApiError> {
    let rv = q.get("resourceVersion").map(String::as_str).unwrap_or("");
    if rv.is_empty() || rv == "0" {
        return Ok(0);
    }
    let n: i64 = rv
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("invalid resource version: {rv}")))?;
    // Exact reads at that revision; NotOlderThan (the default) is served by the newest state.
    Ok(
        if q.get("resourceVersionMatch").map(String::as_str) == Some("Exact") {
            n
        } else {
            0
        },
    )
}

async fn list(
    api: &Api,
    res: &ResourceDef,
    ns: Option<&str>,
    q: &HashMap<String, String>,
    want: Want,
) -> Result<Response<Body>, ApiError> {
    let sel = Selectors::from_query(res, q)?;
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(0);
    let cont = q.get("continue").filter(|c| !c.is_empty());
    if cont.is_some()
        && q.get("resourceVersion")
            .is_some_and(|r| !r.is_empty() && r != "0")
    {
        return Err(ApiError::BadRequest(
            "specifying resource version is not allowed when using continue".into(),
        ));
    }
    let (items, rev, next, remaining) = if limit > 0 || cont.is_some() {
        let keep = |o: &Value| sel.matches(res, o);
        let limit = if limit > 0 { limit } else { i64::MAX / 2 };
        let revision = if cont.is_some() { 0 } else { list_revision(q)? };
        match api
            .store
            .list_page(res, ns, revision, limit, cont.map(String::as_str), &keep)
            .await
        {
            Err(ApiError::Expired { .. }) => {
                return Err(ApiError::Gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into()));
            }
            other => other?,
        }
    } else {
        let (items, rev) = api.store.list(res, ns, list_revision(q)?).await?;
        (
            items.into_iter().filter(|o| sel.matches(res, o)).collect(),
            rev,
            None,
            None,
        )
    };
    let items: Vec<Value> = items.into_iter().map(|o| present(res, o)).collect();
    let mut list_meta = json!({"resourceVersion": rev.to_string()});
    if let Some(n) = &next {
        list_meta["continue"] = json!(n);
    }
    if let Some(r) = remaining {
        list_meta["remainingItemCount"] = json!(r);
    }
    let rv = rev.to_string();
    Ok(match want {
        Want::Table(v) => {
            let include = IncludeObject::from_query(q.get("includeObject").map(String::as_str));
            let mut t = tables::table(res, &items, &rv, include, v);
            t["metadata"] = list_meta;
            http::json(200, &t)
        }
        Want::Metadata(v) => http::json(
            200,
            &json!({"kind": "PartialObjectMetadataList", "apiVersion": format!("meta.k8s.io/{v}"), "metadata": list_meta,
                    "items": items.iter().map(|o| tables::partial_metadata(o, v)).collect::<Vec<_>>()}),
        ),
        Want::Json => http::json(
            200,
            &json!({"kind": res.list_kind(), "apiVersion": res.group_version(), "metadata": list_meta,
                    "items": items.into_iter().map(strip_type).collect::<Vec<_>>()}),
        ),
    })
}

fn check_type(res: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    if !kind.is_empty() && kind != res.kind {
        return Err(ApiError::BadRequest(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            res.kind
        )));
    }
    if !api_version.is_empty() && api_version != res.group_version() {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            res.group_version()
        )));
    }
    Ok(())
}

fn namespaces() -> &'static ResourceDef {
    resources::find("", "v1", "namespaces").expect("served")
}

/// Creates an object: admission, defaults, validation, storage. `ns` is the URL's namespace.
///
/// # Errors
/// [`ApiError`] with the real reasons (AlreadyExists, Invalid, Forbidden, NotFound namespace).
pub async fn create(
    api: &Api,
    res: &ResourceDef,
    ns: Option<&str>,
    obj: Value,
    manager: &str,
    q: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    create_with(api, res, ns, obj, manager, None, q).await
}

/// [`create`], with the managedFields of a server-side apply instead of an Update entry.
async fn create_with(
    api: &Api,
    res: &ResourceDef,
    ns: Option<&str>,
    mut obj: Value,
    manager: &str,
    applied_fields: Option<Value>,
    q: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    if !obj.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    check_type(res, &obj)?;
    if res.group == "events.k8s.io" {
        obj = events_v1::to_core(&obj);
    }
    let meta = obj
        .as_object_mut()
        .expect("object")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if !meta.is_object() {
        return Err(ApiError::BadRequest("metadata must be an object".into()));
    }
    if res.namespaced {
        let url_ns = ns.unwrap_or("default");
        match meta["namespace"].as_str() {
            Some(n) if !n.is_empty() && n != url_ns => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            _ => meta["namespace"] = json!(url_ns),
        }
    } else if let Some(m) = meta.as_object_mut() {
        m.remove("namespace");
    }
    if meta["name"].as_str().is_none_or(str::is_empty)
        && let Some(prefix) = meta["generateName"].as_str().filter(|p| !p.is_empty())
    {
        meta["name"] = json!(meta::generate_name(prefix));
    }
    if let Some(m) = meta.as_object_mut() {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
        ] {
            m.remove(k);
        }
        m.insert("uid".into(), json!(meta::new_uid()));
        m.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
    }
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // NamespaceLifecycle: the namespace must exist and not be terminating.
    if res.namespaced {
        let ns_name = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match api.store.get_opt(namespaces(), None, &ns_name).await? {
            None => return Err(ApiError::not_found(namespaces(), &ns_name)),
            Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => {
                return Err(ApiError::Forbidden {
                    resource: res.group_resource(),
                    group: res.group.to_string(),
                    name: name.clone(),
                    message: format!(
                        "{} {name:?} is forbidden: unable to create new content in namespace {ns_name} because it is being terminated",
                        res.group_resource()
                    ),
                });
            }
            _ => {}
        }
    }
    if tracks_generation(res.kind) {
        obj["metadata"]["generation"] = json!(1);
    }
    // Strategies' PrepareForCreate: status is the server's.
    match res.kind {
        "Deployment"
        | "ReplicaSet"
        | "DaemonSet"
        | "Ingress"
        | "CertificateSigningRequest"
        | "PodDisruptionBudget" => {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        "Service" => obj["status"] = json!({"loadBalancer": {}}),
        "Namespace" => obj["status"] = json!({"phase": "Active"}),
        _ => {}
    }
    defaults::apply_defaults(res, &mut obj);
    if res.kind == "Pod" {
        admit_pod(api, &mut obj).await?;
    }
    if matches!(res.kind, "Deployment" | "ReplicaSet" | "DaemonSet") {
        // Status is filled by controllers; a real create returns an empty status object.
        obj["status"] = json!({});
    }
    if res.kind == "CertificateSigningRequest" {
        obj["status"] = json!({});
    }
    let errs = defaults::validate(res, &obj, None);
    if !errs.is_empty() {
        return Err(ApiError::invalid(res, &name, errs));
    }
    let allocated = if res.kind == "Service" {
        // An existing service keeps its IP: report AlreadyExists before allocating.
        if api
            .store
            .get_opt(res, obj["metadata"]["namespace"].as_str(), &name)
            .await?
            .is_some()
        {
            return Err(ApiError::already_exists(res, &name));
        }
        super::services::allocate(api, &mut obj).await?
    } else {
        vec![]
    };
    match applied_fields {
        Some(mf) => obj["metadata"]["managedFields"] = mf,
        None => super::apply::record_update(
            res.kind,
            None,
            &mut obj,
            manager,
            &res.group_version(),
            None,
        ),
    }
    if q.contains_key("dryRun") {
        super::services::release(api, &allocated).await;
        decorate(res, &mut obj, 0);
        return Ok(obj);
    }
    match api.store.create(res, obj).await {
        Ok(o) => Ok(o),
        Err(e) => {
            super::services::release(api, &allocated).await;
            Err(e)
        }
    }
}

async fn admit_pod(api: &Api, pod: &mut Value) -> Result<(), ApiError> {
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let forbidden = |msg: String| ApiError::Forbidden {
        resource: "pods".into(),
        group: String::new(),
        name: name.clone(),
        message: format!("pods {name:?} is forbidden: {msg}"),
    };
    // Pod strategy PrepareForCreate: status Pending with the QoS class.
    let qos = defaults::qos_class(pod);
    pod["status"] = json!({"phase": "Pending", "qosClass": qos});
    let plugins = api
        .flags
        .list("disable-admission-plugins")
        .unwrap_or_default();
    let enabled = |p: &str| !plugins.iter().any(|x| x == p);
    let mirror = pod["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string();
    // ServiceAccount admission (mirror pods are exempt).
    if enabled("ServiceAccount") && !mirror {
        let sa_name = pod["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let sas = resources::find("", "v1", "serviceaccounts").expect("served");
        let Some(sa) = api.store.get_opt(sas, Some(&ns), &sa_name).await? else {
            return Err(forbidden(format!(
                "error looking up service account {ns}/{sa_name}: serviceaccount {sa_name:?} not found"
            )));
        };
        let automount = sa["automountServiceAccountToken"].as_bool().unwrap_or(true);
        defaults::add_service_account_volume(pod, automount);
    }
    // Priority admission.
    if enabled("Priority") {
        let pcs = resources::find("scheduling.k8s.io", "v1", "priorityclasses").expect("served");
        match pod["spec"]["priorityClassName"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            Some(class) => {
                let Some(pc) = api.store.get_opt(pcs, None, class).await? else {
                    return Err(forbidden(format!(
                        "no PriorityClass with name {class} was found"
                    )));
                };
                pod["spec"]["priority"] = pc["value"].clone();
                pod["spec"]["preemptionPolicy"] = pc["preemptionPolicy"].clone();
            }
            None => {
                let (all, _) = api.store.list(pcs, None, 0).await?;
                let default = all
                    .iter()
                    .filter(|p| p["globalDefault"] == true)
                    .min_by_key(|p| p["value"].as_i64().unwrap_or(0));
                match default {
                    Some(pc) => {
                        pod["spec"]["priorityClassName"] = pc["metadata"]["name"].clone();
                        pod["spec"]["priority"] = pc["value"].clone();
                        pod["spec"]["preemptionPolicy"] = pc["preemptionPolicy"].clone();
                    }
                    None => {
                        pod["spec"]["priority"] = json!(0);
                        if pod["spec"]["preemptionPolicy"].is_null() {
                            pod["spec"]["preemptionPolicy"] = json!("PreemptLowerPriority");
                        }
                    }
                }
            }
        }
    }
    if enabled("DefaultTolerationSeconds") {
        defaults::add_default_tolerations(pod, api.not_ready_secs, api.unreachable_secs);
    }
    Ok(())
}

fn carry_server_fields(res: &ResourceDef, old: &Value, new: &mut Value) {
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    if res.namespaced {
        new["metadata"]["namespace"] = old["metadata"]["namespace"].clone();
    }
    if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("selfLink");
    }
}

/// Replaces an object (PUT), or its `status`/`approval`/`finalize` subresource.
///
/// # Errors
/// [`ApiError`]: NotFound, Conflict, Invalid, BadRequest.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    api: &Api,
    res: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    mut body: Value,
    sub: Option<&str>,
    manager: &str,
    q: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    check_type(res, &body)?;
    if res.group == "events.k8s.io" {
        body = events_v1::to_core(&body);
    }
    let body_name = body["metadata"]["name"].as_str().unwrap_or_default();
    if body_name != name {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    if let (Some(url_ns), Some(b)) = (ns, body["metadata"]["namespace"].as_str())
        && !b.is_empty()
        && b != url_ns
    {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    let old = api.store.get(res, ns, name).await?;
    let want_rv = rv_of(&body);
    if want_rv != 0 && want_rv != rv_of(&old) {
        return Err(ApiError::conflict(res, name));
    }
    let new = prepare_update(res, &old, body, sub)?;
    store_update(api, res, old, new, sub, manager, q.contains_key("dryRun")).await
}

/// Builds the object to store from the old one and the requested one (strategies'
/// PrepareForUpdate: which parts the main resource and each subresource may change).
fn prepare_update(
    res: &ResourceDef,
    old: &Value,
    mut new: Value,
    sub: Option<&str>,
) -> Result<Value, ApiError> {
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    carry_server_fields(res, old, &mut new);
    match sub {
        None => {
            if res.has_status() {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            if res.kind == "Namespace" {
                new["spec"] = old["spec"].clone();
            }
        }
        Some("status") => {
            let status = new.get("status").cloned();
            let meta = new["metadata"].clone();
            new = old.clone();
            new["metadata"]["labels"] = meta["labels"].clone();
            new["metadata"]["annotations"] = meta["annotations"].clone();
            for k in ["labels", "annotations"] {
                if new["metadata"][k].is_null()
                    && let Some(m) = new["metadata"].as_object_mut()
                {
                    m.remove(k);
                }
            }
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        Some("approval") => {
            let conds = new["status"]["conditions"].clone();
            new = old.clone();
            new["status"]["conditions"] = conds;
        }
        Some("finalize") => {
            let fins = new["spec"]["finalizers"].clone();
            new = old.clone();
            new["spec"]["finalizers"] = fins;
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "subresource {other} cannot be updated"
            )));
        }
    }
    defaults::apply_defaults(res, &mut new);
    if tracks_generation(res.kind) && sub.is_none() && old["spec"] != new["spec"] {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        new["metadata"]["generation"] = json!(g);
    }
    Ok(new)
}

async fn store_update(
    api: &Api,
    res: &ResourceDef,
    old: Value,
    mut new: Value,
    sub: Option<&str>,
    manager: &str,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let name = old["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let errs = defaults::validate(res, &new, Some(&old));
    if !errs.is_empty() {
        return Err(ApiError::invalid(res, &name, errs));
    }
    if res.kind == "Service" {
        super::services::update_allocations(api, &old, &mut new).await?;
    }
    super::apply::record_update(
        res.kind,
        Some(&old),
        &mut new,
        manager,
        &res.group_version(),
        sub,
    );
    if dry_run {
        decorate(res, &mut new, rv_of(&old));
        return Ok(new);
    }
    let expected = rv_of(&old);
    // An object being deleted goes once its last finalizer is removed.
    if finalized(res, &new) {
        return api.store.delete(res, new, expected).await;
    }
    api.store.update(res, new, expected).await
}

fn finalized(res: &ResourceDef, obj: &Value) -> bool {
    let meta = &obj["metadata"];
    let no_finalizers = meta["finalizers"].as_array().is_none_or(|f| f.is_empty());
    let deleting = !meta["deletionTimestamp"].is_null();
    match res.kind {
        "Namespace" => {
            deleting
                && no_finalizers
                && obj["spec"]["finalizers"]
                    .as_array()
                    .is_none_or(|f| f.is_empty())
        }
        "Pod" => {
            deleting && no_finalizers && meta["deletionGracePeriodSeconds"].as_i64() == Some(0)
        }
        _ => deleting && no_finalizers,
    }
}

/// Applies a patch body of `content_type` to `obj` (of `kind`).
fn apply_patch_body(
    kind: &str,
    obj: &mut Value,
    p: &Value,
    content_type: &str,
) -> Result<(), ApiError> {
    let r = if content_type.starts_with("application/json-patch+json") {
        patch::json_patch(obj, p)
    } else if content_type.starts_with("application/merge-patch+json") {
        patch::merge_patch(obj, p)
    } else if content_type.starts_with("application/strategic-merge-patch+json") {
        patch::strategic_merge(kind, obj, p)
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json",
        ));
    };
    r.map_err(|e| ApiError::BadRequest(e.0))
}

/// PATCH of an object or its status: JSON, merge, strategic merge or server-side apply, retried on
/// conflicts unless the patch pins a resourceVersion. Returns the HTTP code (201 when apply
/// created the object) and the result.
#[allow(clippy::too_many_arguments)]
async fn patch_object(
    api: &Api,
    res: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    sub: Option<&str>,
    body: &[u8],
    content_type: &str,
    mgr: &str,
    q: &HashMap<String, String>,
) -> Result<(u16, Value), ApiError> {
    let is_apply = content_type.starts_with("application/apply-patch");
    let p = http::parse_body(
        body,
        if is_apply {
            "application/yaml"
        } else {
            content_type
        },
    )?;
    let dry_run = q.contains_key("dryRun");
    for _ in 0..10 {
        let current = api.store.get_opt(res, ns, name).await?;
        if is_apply {
            if q.get("fieldManager").is_none_or(|m| m.is_empty()) {
                return Err(ApiError::BadRequest(
                    "PATCH, application/apply-patch+yaml requires fieldManager to be set".into(),
                ));
            }
            check_type(res, &p)?;
            if p["metadata"]["name"].as_str().is_some_and(|n| n != name) {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    p["metadata"]["name"].as_str().unwrap_or_default()
                )));
            }
            let force = q.get("force").is_some_and(|f| f == "true");
            let mut config = p.clone();
            if res.group == "events.k8s.io" {
                config = events_v1::to_core(&config);
            }
            let applied = super::apply::apply(
                res.kind,
                current.as_ref(),
                &config,
                mgr,
                &res.group_version(),
                force,
            )
            .map_err(|conflicts| ApiError::ConflictWith {
                resource: res.group_resource(),
                group: res.group.to_string(),
                name: name.to_string(),
                message: super::apply::conflict_message(&conflicts),
                causes: conflicts
                    .iter()
                    .map(|(m, v, f)| {
                        (
                            "FieldManagerConflict".to_string(),
                            format!("conflict with {m:?} using {v}"),
                            f.clone(),
                        )
                    })
                    .collect(),
            })?;
            match current {
                None => {
                    let mf = applied["metadata"]["managedFields"].clone();
                    let mut obj = applied;
                    obj["metadata"]["name"] = json!(name);
                    let created = create_with(api, res, ns, obj, mgr, Some(mf), q).await?;
                    return Ok((201, created));
                }
                Some(old) => {
                    let mut new = prepare_update(res, &old, applied.clone(), sub)?;
                    new["metadata"]["managedFields"] = applied["metadata"]["managedFields"].clone();
                    let errs = defaults::validate(res, &new, Some(&old));
                    if !errs.is_empty() {
                        return Err(ApiError::invalid(res, name, errs));
                    }
                    if res.kind == "Service" {
                        super::services::update_allocations(api, &old, &mut new).await?;
                    }
                    if dry_run {
                        return Ok((200, new));
                    }
                    let expected = rv_of(&old);
                    let r = if finalized(res, &new) {
                        api.store.delete(res, new, expected).await
                    } else {
                        api.store.update(res, new, expected).await
                    };
                    match r {
                        Err(ApiError::Conflict { .. }) => continue,
                        other => return other.map(|o| (200, o)),
                    }
                }
            }
        }
        let Some(old) = current else {
            return Err(ApiError::not_found(res, name));
        };
        let mut presented = present(res, old.clone());
        apply_patch_body(res.kind, &mut presented, &p, content_type)?;
        let mut patched = if res.group == "events.k8s.io" {
            events_v1::to_core(&presented)
        } else {
            presented
        };
        let want_rv = rv_of(&patched);
        if want_rv != 0 && want_rv != rv_of(&old) {
            return Err(ApiError::conflict(res, name));
        }
        if patched["metadata"]["name"] != old["metadata"]["name"] {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                patched["metadata"]["name"].as_str().unwrap_or_default()
            )));
        }
        patched["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
        let new = prepare_update(res, &old, patched, sub)?;
        match store_update(api, res, old, new, sub, mgr, dry_run).await {
            Err(ApiError::Conflict { .. }) if want_rv == 0 => continue,
            other => return other.map(|o| (200, o)),
        }
    }
    Err(ApiError::conflict(res, name))
}

/// The autoscaling/v1 Scale of a deployment or replica set.
pub fn scale_of(obj: &Value) -> Value {
    let m = &obj["metadata"];
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"], "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": super::selectors::format_label_selector(&obj["spec"]["selector"]).replace("<none>", "")},
    })
}

async fn update_scale(
    api: &Api,
    res: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    change: impl Fn(&Value) -> Result<Value, ApiError>,
    mgr: &str,
) -> Result<Value, ApiError> {
    for _ in 0..10 {
        let old = api.store.get(res, ns, name).await?;
        let scale = change(&scale_of(&old))?;
        let want_rv = rv_of(&scale);
        if want_rv != 0 && want_rv != rv_of(&old) {
            return Err(ApiError::conflict(res, name));
        }
        let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::Invalid {
                kind: "Scale".into(),
                group: "autoscaling".into(),
                name: name.into(),
                errors: vec![FieldError::invalid(
                    "spec.replicas",
                    &json!(replicas),
                    "must be greater than or equal to 0",
                )],
            });
        }
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(replicas);
        let new = prepare_update(res, &old, new, None)?;
        match store_update(api, res, old, new, Some("scale"), mgr, false).await {
            Ok(o) => return Ok(scale_of(&o)),
            Err(ApiError::Conflict { .. }) if want_rv == 0 => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(res, name))
}

/// `pods/binding`: sets `spec.nodeName` once and the PodScheduled condition
/// (pkg/registry/core/pod/storage/storage.go `assignPod`).
async fn bind(api: &Api, ns: &str, name: &str, binding: &Value) -> Result<(), ApiError> {
    let pods = resources::find("", "v1", "pods").expect("served");
    let node = binding["target"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if node.is_empty() {
        return Err(ApiError::BadRequest(
            "binding target name is required".into(),
        ));
    }
    for _ in 0..10 {
        let old = api.store.get(pods, Some(ns), name).await?;
        if !old["metadata"]["deletionTimestamp"].is_null() {
            return Err(ApiError::ConflictWith {
                resource: "pods/binding".into(),
                group: String::new(),
                name: name.into(),
                message: format!(
                    "Operation cannot be fulfilled on pods/binding {name:?}: pod {name} is being deleted, cannot be assigned to a host"
                ),
                causes: vec![],
            });
        }
        if let Some(current) = old["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(ApiError::ConflictWith {
                resource: "pods/binding".into(),
                group: String::new(),
                name: name.into(),
                message: format!(
                    "Operation cannot be fulfilled on pods/binding {name:?}: pod {name} is already assigned to node {current:?}"
                ),
                causes: vec![],
            });
        }
        let mut new = old.clone();
        new["spec"]["nodeName"] = json!(node);
        let conds = new["status"]
            .as_object_mut()
            .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
        if let Some(Value::Array(cs)) = conds {
            cs.retain(|c| c["type"] != "PodScheduled");
            cs.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": meta::now_rfc3339()}));
        }
        let rv = rv_of(&old);
        super::apply::record_update("Pod", Some(&old), &mut new, "kube-scheduler", "v1", None);
        match api.store.update(pods, new, rv).await {
            Ok(_) => return Ok(()),
            Err(ApiError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(pods, name))
}

/// `pods/eviction` (pkg/registry/core/pod/storage/eviction.go): a pod covered by a
/// PodDisruptionBudget whose `status.disruptionsAllowed` is 0 is refused with 429; otherwise the
/// budget's allowance is used up by one and the pod is deleted with the eviction's DeleteOptions.
/// Terminal pods are deleted regardless of budgets.
async fn evict(api: &Api, ns: &str, name: &str, eviction: &Value) -> Result<(), ApiError> {
    let pods = resources::find("", "v1", "pods").expect("served");
    let pdbs = resources::find("policy", "v1", "poddisruptionbudgets").expect("served");
    let pod = api.store.get(pods, Some(ns), name).await?;
    let terminal = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    if !terminal && pod["metadata"]["deletionTimestamp"].is_null() {
        let (budgets, _) = api.store.list(pdbs, Some(ns), 0).await?;
        let matching: Vec<Value> = budgets
            .into_iter()
            .filter(|b| {
                LabelSelector::from_object(&b["spec"]["selector"])
                    .matches(&pod["metadata"]["labels"])
            })
            .collect();
        if matching.len() > 1 {
            return Err(ApiError::Internal("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into()));
        }
        if let Some(b) = matching.into_iter().next() {
            let allowed = b["status"]["disruptionsAllowed"].as_i64().unwrap_or(0);
            if allowed <= 0 {
                let healthy = b["status"]["currentHealthy"].as_i64().unwrap_or(0);
                let desired = b["status"]["desiredHealthy"].as_i64().unwrap_or(0);
                return Err(ApiError::TooManyRequests {
                    message: "Cannot evict pod as it would violate the pod's disruption budget."
                        .into(),
                    causes: vec![(
                        "DisruptionBudget".into(),
                        format!(
                            "The disruption budget {} needs {desired} healthy pods and has {healthy} currently",
                            b["metadata"]["name"].as_str().unwrap_or_default()
                        ),
                    )],
                });
            }
            let rv = rv_of(&b);
            let mut nb = b.clone();
            nb["status"]["disruptionsAllowed"] = json!(allowed - 1);
            nb["status"]["disruptedPods"][name] = json!(meta::now_rfc3339());
            api.store.update(pdbs, nb, rv).await?;
        }
    }
    let opts = if eviction["deleteOptions"].is_object() {
        eviction["deleteOptions"].clone()
    } else {
        json!({})
    };
    delete(api, pods, Some(ns), name, &opts, false)
        .await
        .map(|_| ())
}

/// DeleteOptions from the body and the query.
fn delete_options(body: &[u8], q: &HashMap<String, String>) -> Result<Value, ApiError> {
    let mut opts = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        http::parse_body(body, "application/json")?
    };
    if let Some(g) = q
        .get("gracePeriodSeconds")
        .and_then(|g| g.parse::<i64>().ok())
    {
        opts["gracePeriodSeconds"] = json!(g);
    }
    if let Some(p) = q.get("propagationPolicy") {
        opts["propagationPolicy"] = json!(p);
    }
    if let Some(o) = q.get("orphanDependents") {
        opts["orphanDependents"] = json!(o == "true");
    }
    Ok(opts)
}

fn success_status(res: &ResourceDef, obj: &Value) -> Value {
    let mut details =
        json!({"name": obj["metadata"]["name"], "kind": res.plural, "uid": obj["metadata"]["uid"]});
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// Deletes an object with DeleteOptions (graceful pod deletion, finalizers, propagation policies,
/// namespace termination). Returns the HTTP code and the body.
///
/// # Errors
/// NotFound, Conflict (preconditions), Forbidden (immortal namespaces).
pub async fn delete(
    api: &Api,
    res: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    opts: &Value,
    dry_run: bool,
) -> Result<(u16, Value), ApiError> {
    for _ in 0..10 {
        let old = api.store.get(res, ns, name).await?;
        let pre = &opts["preconditions"];
        if let Some(uid) = pre["uid"].as_str()
            && old["metadata"]["uid"] != uid
        {
            return Err(ApiError::ConflictWith {
                resource: res.group_resource(),
                group: res.group.to_string(),
                name: name.into(),
                message: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    old["metadata"]["uid"].as_str().unwrap_or_default()
                ),
                causes: vec![],
            });
        }
        if let Some(rv) = pre["resourceVersion"].as_str()
            && old["metadata"]["resourceVersion"] != rv
        {
            return Err(ApiError::ConflictWith {
                resource: res.group_resource(),
                group: res.group.to_string(),
                name: name.into(),
                message: format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    old["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap_or_default()
                ),
                causes: vec![],
            });
        }
        let rv = rv_of(&old);
        let mut new = old.clone();
        let now = meta::now_rfc3339();
        let already_deleting = !old["metadata"]["deletionTimestamp"].is_null();
        let mut finalizers: Vec<Value> = old["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let policy = opts["propagationPolicy"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                opts["orphanDependents"].as_bool().map(|o| {
                    if o {
                        "Orphan".into()
                    } else {
                        "Background".into()
                    }
                })
            });
        let mut graceful = false;
        // A pod deleted with grace 0 is first written with `deletionGracePeriodSeconds: 0` and then
        // removed: two writes, a MODIFIED and a DELETED watch event, the DELETED one and the
        // response carrying grace 0 (k8s.io/apiserver/pkg/registry/rest/delete.go `BeforeDelete`:
        // the pod strategy's `CheckGracefulDelete` always answers graceful, so the deletion fields
        // are set; pkg/registry/generic/registry/store.go `updateForGracefulDeletionAndFinalizers`
        // writes them and, with a last grace of 0, deletes at once). Only an object already
        // terminating with grace 0 is deleted in one write.
        let mut write_grace_first = false;
        match res.kind {
            "Namespace" => {
                if IMMORTAL.contains(&name) {
                    return Err(ApiError::Forbidden {
                        resource: "namespaces".into(),
                        group: String::new(),
                        name: name.into(),
                        message: format!(
                            "namespaces {name:?} is forbidden: this namespace may not be deleted"
                        ),
                    });
                }
                if already_deleting {
                    return Ok((200, old));
                }
                new["metadata"]["deletionTimestamp"] = json!(now);
                new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                new["status"]["phase"] = json!("Terminating");
            }
            "Pod" => {
                // Pod strategy CheckGracefulDelete: unscheduled or terminal pods go at once.
                let terminal = matches!(
                    old["status"]["phase"].as_str(),
                    Some("Succeeded" | "Failed")
                );
                let scheduled = old["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty());
                let mut grace = opts["gracePeriodSeconds"].as_i64().unwrap_or_else(|| {
                    old["spec"]["terminationGracePeriodSeconds"]
                        .as_i64()
                        .unwrap_or(30)
                });
                if !scheduled || terminal {
                    grace = 0;
                }
                let existing = old["metadata"]["deletionGracePeriodSeconds"].as_i64();
                // A terminating pod may only have its grace period shortened; its deletion time
                // moves by the difference (`BeforeDelete`: existing timestamp − existing grace +
                // new grace). One terminating with grace 0 (or none) is deleted at once.
                let moved = |grace: i64| {
                    meta::parse_time(&old["metadata"]["deletionTimestamp"])
                        .and_then(|t| {
                            t.checked_add(jiff::SignedDuration::from_secs(
                                grace - existing.unwrap_or(0),
                            ))
                            .ok()
                        })
                        .map_or_else(
                            || meta::rfc3339_in(grace),
                            |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                        )
                };
                if already_deleting && existing.is_none_or(|g| g == 0) {
                    new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                } else if grace > 0 {
                    if already_deleting && existing.is_some_and(|current| current <= grace) {
                        return Ok((200, old));
                    }
                    graceful = true;
                    new["metadata"]["deletionTimestamp"] = json!(if already_deleting {
                        moved(grace)
                    } else {
                        meta::rfc3339_in(grace)
                    });
                    new["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                } else {
                    write_grace_first = true;
                    new["metadata"]["deletionTimestamp"] =
                        json!(if already_deleting { moved(0) } else { now });
                    new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                }
            }
            _ => {
                if already_deleting && finalizers.is_empty() {
                    return Ok((200, old));
                }
                if !already_deleting {
                    new["metadata"]["deletionTimestamp"] = json!(now);
                    new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                }
            }
        }
        // Propagation (apiserver/pkg/registry/generic/registry/store.go updateForGracefulDeletionAndFinalizers):
        // Foreground and Orphan are carried out by the garbage collector through these finalizers.
        match policy.as_deref() {
            Some("Foreground") => {
                finalizers.retain(|f| f != "orphan");
                if !finalizers.iter().any(|f| f == "foregroundDeletion") {
                    finalizers.push(json!("foregroundDeletion"));
                }
            }
            Some("Orphan") if res.kind != "Namespace" => {
                finalizers.retain(|f| f != "foregroundDeletion");
                if !finalizers.iter().any(|f| f == "orphan") {
                    finalizers.push(json!("orphan"));
                }
            }
            _ => {}
        }
        if !finalizers.is_empty() {
            new["metadata"]["finalizers"] = json!(finalizers);
        }
        let keep = graceful
            || !finalizers.is_empty()
            || (res.kind == "Namespace"
                && new["spec"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty()));
        if dry_run {
            return Ok((200, if keep { new } else { success_status(res, &old) }));
        }
        if keep {
            match api.store.update(res, new, rv).await {
                Ok(o) => return Ok((200, o)),
                Err(ApiError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        let (old, rv) = if write_grace_first {
            match api.store.update(res, new, rv).await {
                Ok(o) => {
                    let rv = rv_of(&o);
                    (o, rv)
                }
                Err(ApiError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        } else {
            (old, rv)
        };
        match api.store.delete(res, old, rv).await {
            Ok(deleted) => {
                if res.kind == "Service" {
                    super::services::release(api, &super::services::allocations_of(&deleted)).await;
                }
                return Ok((
                    200,
                    if matches!(res.kind, "Pod" | "Service" | "Namespace") {
                        deleted
                    } else {
                        success_status(res, &deleted)
                    },
                ));
            }
            Err(ApiError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::conflict(res, name))
}
