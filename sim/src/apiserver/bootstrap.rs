//! Objects the API server makes itself at start, as kube-apiserver's post-start hooks do:
//! - `bootstrap-controller` (pkg/controlplane/controller/defaultservicecidr, kubernetesservice,
//!   systemnamespaces): namespaces `default`, `kube-system`, `kube-public`, `kube-node-lease`; the
//!   `default/kubernetes` Service on the first service IP, its Endpoints and EndpointSlice pointing at
//!   `--advertise-address:--secure-port` (reconciled on every start);
//! - `scheduling/bootstrap-system-priority-classes` (pkg/apis/scheduling/types.go):
//!   `system-node-critical` (2000001000) and `system-cluster-critical` (2000000000);
//! - `rbac/bootstrap-roles` (plugin/pkg/auth/authorizer/rbac/bootstrappolicy): the ClusterRoles and
//!   bindings labsim's authorization and kubeadm rely on (`cluster-admin`, `system:discovery`,
//!   `system:basic-user`, `system:public-info-viewer`, and the user-facing `admin`/`edit`/`view`).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::resources;
use super::server::Api;
use super::status::ApiError;
use super::store::rv_of;

const MANAGER: &str = "kube-apiserver";

async fn ensure_one(
    api: &Api,
    plural_group: (&str, &str),
    ns: Option<&str>,
    obj: Value,
) -> Result<(), ApiError> {
    let res = resources::find(plural_group.1, "v1", plural_group.0).expect("served");
    let q = HashMap::new();
    match super::rest::create(api, res, ns, obj, MANAGER, &q).await {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn bootstrap_meta(name: &str) -> Value {
    json!({"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
           "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": bootstrap_meta(name), "rules": rules})
}

fn binding(name: &str, role: &str, subjects: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": bootstrap_meta(name),
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": subjects})
}

fn group(name: &str) -> Value {
    json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name})
}

/// Creates (or reconciles) every bootstrap object.
///
/// # Errors
/// Storage errors.
pub async fn ensure(api: &Api) -> Result<(), ApiError> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure_one(
            api,
            ("namespaces", ""),
            None,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    for (name, value, desc) in [
        (
            "system-node-critical",
            2000001000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2000000000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        ensure_one(
            api,
            ("priorityclasses", "scheduling.k8s.io"),
            None,
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value, "description": desc, "preemptionPolicy": "PreemptLowerPriority"}),
        )
        .await?;
    }
    let rbac = ("clusterroles", "rbac.authorization.k8s.io");
    let rbacb = ("clusterrolebindings", "rbac.authorization.k8s.io");
    ensure_one(api, rbac, None, cluster_role("cluster-admin", json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]))).await?;
    ensure_one(api, rbac, None, cluster_role("system:public-info-viewer", json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]))).await?;
    ensure_one(api, rbac, None, cluster_role("system:discovery", json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]))).await?;
    ensure_one(api, rbac, None, cluster_role("system:basic-user", json!([{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]}]))).await?;
    let read = json!(["get", "list", "watch"]);
    let write = json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ]);
    ensure_one(api, rbac, None, cluster_role("view", json!([{"apiGroups": ["", "apps", "networking.k8s.io", "policy", "discovery.k8s.io"], "resources": ["configmaps", "endpoints", "persistentvolumeclaims", "pods", "pods/log", "pods/status", "replicationcontrollers", "services", "services/status", "namespaces", "events", "deployments", "deployments/scale", "daemonsets", "replicasets", "statefulsets", "ingresses", "poddisruptionbudgets", "endpointslices", "serviceaccounts", "limitranges", "resourcequotas", "controllerrevisions"], "verbs": read}]))).await?;
    ensure_one(api, rbac, None, cluster_role("edit", json!([{"apiGroups": ["", "apps", "networking.k8s.io", "policy", "discovery.k8s.io"], "resources": ["configmaps", "endpoints", "persistentvolumeclaims", "pods", "pods/log", "pods/exec", "pods/attach", "pods/portforward", "replicationcontrollers", "secrets", "services", "serviceaccounts", "deployments", "deployments/scale", "daemonsets", "replicasets", "replicasets/scale", "statefulsets", "ingresses", "poddisruptionbudgets", "events"], "verbs": write}]))).await?;
    ensure_one(api, rbac, None, cluster_role("admin", json!([{"apiGroups": ["", "apps", "networking.k8s.io", "policy", "discovery.k8s.io", "rbac.authorization.k8s.io"], "resources": ["*"], "verbs": write}]))).await?;
    ensure_one(
        api,
        rbacb,
        None,
        binding(
            "cluster-admin",
            "cluster-admin",
            json!([group("system:masters")]),
        ),
    )
    .await?;
    ensure_one(
        api,
        rbacb,
        None,
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            json!([
                group("system:authenticated"),
                group("system:unauthenticated")
            ]),
        ),
    )
    .await?;
    ensure_one(
        api,
        rbacb,
        None,
        binding(
            "system:discovery",
            "system:discovery",
            json!([group("system:authenticated")]),
        ),
    )
    .await?;
    ensure_one(
        api,
        rbacb,
        None,
        binding(
            "system:basic-user",
            "system:basic-user",
            json!([group("system:authenticated")]),
        ),
    )
    .await?;

    // The kubernetes service on the first IP of the range.
    let first = std::net::Ipv4Addr::from(api.service_cidr.0 + 1).to_string();
    let labels = json!({"component": "apiserver", "provider": "kubernetes"});
    ensure_one(
        api,
        ("services", ""),
        Some("default"),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
               "spec": {"type": "ClusterIP", "clusterIP": first, "sessionAffinity": "None",
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api.port}]}}),
    )
    .await?;
    let subsets = json!([{"addresses": [{"ip": api.advertise.to_string()}], "ports": [{"name": "https", "port": api.port, "protocol": "TCP"}]}]);
    let endpoints = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}}, "subsets": subsets});
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4", "endpoints": [{"addresses": [api.advertise.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": api.port, "protocol": "TCP"}]});
    reconcile(api, ("endpoints", ""), endpoints, "subsets").await?;
    reconcile(
        api,
        ("endpointslices", "discovery.k8s.io"),
        slice,
        "endpoints",
    )
    .await?;
    Ok(())
}

/// Creates the object or, if its `field` differs (the API server moved), updates it.
async fn reconcile(
    api: &Api,
    which: (&str, &str),
    obj: Value,
    field: &str,
) -> Result<(), ApiError> {
    let res = resources::find(which.1, "v1", which.0).expect("served");
    match api
        .store
        .get_opt(res, Some("default"), "kubernetes")
        .await?
    {
        None => ensure_one(api, which, Some("default"), obj).await,
        Some(mut current) => {
            if current[field] != obj[field]
                || (field == "endpoints" && current["ports"] != obj["ports"])
            {
                let rv = rv_of(&current);
                current[field] = obj[field].clone();
                if field == "endpoints" {
                    current["ports"] = obj["ports"].clone();
                }
                match api.store.update(res, current, rv).await {
                    Ok(_) | Err(ApiError::Conflict { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
    }
}
