//! The resource types labsim serves: group, version, kind, scope, short names, categories,
//! subresources, and where each is stored in etcd.
//!
//! etcd prefixes follow kube-apiserver's storage (each resource's `registry/<group>/<resource>/storage`
//! `store.Store{DefaultQualifiedResource}` plus the special cases of
//! pkg/kubeapiserver/default_storage_factory_builder.go): nodes live under `minions`, services under
//! `services/specs`, endpoints under `services/endpoints`, ingresses under `ingress`.
//! Short names and categories are the ones `kubectl api-resources` shows on a real cluster.

/// One resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group ("" for core).
    pub group: &'static str,
    /// Version.
    pub version: &'static str,
    /// Plural resource name (`pods`).
    pub plural: &'static str,
    /// Singular name (`pod`).
    pub singular: &'static str,
    /// Kind (`Pod`).
    pub kind: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`po`).
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// etcd key segment after `/registry/`.
    pub etcd: &'static str,
    /// Subresources served (`status`, `scale`, `log`, `binding`, `token`, `approval`).
    pub subresources: &'static [&'static str],
}

impl ResourceDef {
    /// `v1` or `apps/v1`.
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods` or `deployments.apps`: how Kubernetes names a group-resource in messages.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The list kind (`PodList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether the resource has a `status` subresource (its main endpoint then ignores status).
    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }

    /// The etcd prefix of all objects (`/registry/pods/`) or of one namespace's.
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("/registry/{}/{}/", self.etcd, ns),
            _ => format!("/registry/{}/", self.etcd),
        }
    }

    /// The etcd key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{}", self.prefix(namespace), name)
    }

    /// Whether this is a create-only review resource (not stored: TokenReview, SubjectAccessReview,
    /// SelfSubjectAccessReview, SelfSubjectReview).
    pub fn is_review(&self) -> bool {
        self.etcd.is_empty()
    }

    /// The verbs of the main resource.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.is_review() {
            return &["create"];
        }
        &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

macro_rules! res {
    ($g:expr, $v:expr, $plural:expr, $singular:expr, $kind:expr, $ns:expr, $short:expr, $cat:expr, $etcd:expr, $sub:expr) => {
        ResourceDef {
            group: $g,
            version: $v,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: $short,
            categories: $cat,
            etcd: $etcd,
            subresources: $sub,
        }
    };
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const STATUS: &[&str] = &["status"];

/// Every resource served, core first, in discovery order.
pub static RESOURCES: &[ResourceDef] = &[
    res!(
        "",
        "v1",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        NONE,
        "configmaps",
        NONE
    ),
    res!(
        "",
        "v1",
        "endpoints",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        NONE,
        "services/endpoints",
        NONE
    ),
    res!(
        "",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        NONE,
        "events",
        NONE
    ),
    res!(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        NONE,
        "namespaces",
        &["status", "finalize"]
    ),
    res!(
        "",
        "v1",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        NONE,
        "minions",
        STATUS
    ),
    res!(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        ALL,
        "pods",
        &["status", "binding", "eviction", "log"]
    ),
    res!(
        "", "v1", "secrets", "secret", "Secret", true, NONE, NONE, "secrets", NONE
    ),
    res!(
        "",
        "v1",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        NONE,
        "serviceaccounts",
        &["token"]
    ),
    res!(
        "",
        "v1",
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        ALL,
        "services/specs",
        STATUS
    ),
    res!(
        "apps",
        "v1",
        "controllerrevisions",
        "controllerrevision",
        "ControllerRevision",
        true,
        NONE,
        NONE,
        "controllerrevisions",
        NONE
    ),
    res!(
        "apps",
        "v1",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["ds"],
        ALL,
        "daemonsets",
        STATUS
    ),
    res!(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        ALL,
        "deployments",
        &["status", "scale"]
    ),
    res!(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        ALL,
        "replicasets",
        &["status", "scale"]
    ),
    res!(
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
        "certificatesigningrequest",
        "CertificateSigningRequest",
        false,
        &["csr"],
        NONE,
        "certificatesigningrequests",
        &["status", "approval"]
    ),
    res!(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        true,
        NONE,
        NONE,
        "leases",
        NONE
    ),
    res!(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "endpointslice",
        "EndpointSlice",
        true,
        NONE,
        NONE,
        "endpointslices",
        NONE
    ),
    res!(
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "ingressclass",
        "IngressClass",
        false,
        NONE,
        NONE,
        "ingressclasses",
        NONE
    ),
    res!(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "ingress",
        "Ingress",
        true,
        &["ing"],
        NONE,
        "ingress",
        STATUS
    ),
    res!(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        NONE,
        "poddisruptionbudgets",
        STATUS
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        NONE,
        NONE,
        "clusterrolebindings",
        NONE
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        NONE,
        NONE,
        "clusterroles",
        NONE
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        NONE,
        NONE,
        "rolebindings",
        NONE
    ),
    res!(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "role",
        "Role",
        true,
        NONE,
        NONE,
        "roles",
        NONE
    ),
    res!(
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "priorityclass",
        "PriorityClass",
        false,
        &["pc"],
        NONE,
        "priorityclasses",
        NONE
    ),
    res!(
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "selfsubjectreview",
        "SelfSubjectReview",
        false,
        NONE,
        NONE,
        "",
        NONE
    ),
    res!(
        "authentication.k8s.io",
        "v1",
        "tokenreviews",
        "tokenreview",
        "TokenReview",
        false,
        NONE,
        NONE,
        "",
        NONE
    ),
    res!(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        false,
        NONE,
        NONE,
        "",
        NONE
    ),
    res!(
        "authorization.k8s.io",
        "v1",
        "subjectaccessreviews",
        "subjectaccessreview",
        "SubjectAccessReview",
        false,
        NONE,
        NONE,
        "",
        NONE
    ),
];

/// The groups served, in the order `/apis` lists them (the real server's order for these).
pub static GROUPS: &[&str] = &[
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "scheduling.k8s.io",
];

/// `events.k8s.io/v1` Event: stored with core events (same etcd key), converted on the way.
pub static EVENTS_V1: ResourceDef = res!(
    "events.k8s.io",
    "v1",
    "events",
    "event",
    "Event",
    true,
    &["ev"],
    NONE,
    "events",
    NONE
);

/// Finds a resource by group, version and plural name.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    if group == "events.k8s.io" && version == "v1" && plural == "events" {
        return Some(&EVENTS_V1);
    }
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resources of one group version.
pub fn in_group_version(group: &str, version: &str) -> Vec<&'static ResourceDef> {
    if group == "events.k8s.io" {
        return if version == "v1" {
            vec![&EVENTS_V1]
        } else {
            vec![]
        };
    }
    RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect()
}

/// Finds a resource by kind and apiVersion (`apps/v1`, `Deployment`).
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceDef> {
    if api_version == "events.k8s.io/v1" && kind == "Event" {
        return Some(&EVENTS_V1);
    }
    RESOURCES
        .iter()
        .find(|r| r.group_version() == api_version && r.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_real_layout() {
        let node = find("", "v1", "nodes").unwrap();
        assert_eq!(node.key(None, "w1"), "/registry/minions/w1");
        let svc = find("", "v1", "services").unwrap();
        assert_eq!(
            svc.key(Some("default"), "kubernetes"),
            "/registry/services/specs/default/kubernetes"
        );
        let ep = find("", "v1", "endpoints").unwrap();
        assert_eq!(
            ep.prefix(Some("default")),
            "/registry/services/endpoints/default/"
        );
        let ing = find("networking.k8s.io", "v1", "ingresses").unwrap();
        assert_eq!(
            ing.key(Some("default"), "web"),
            "/registry/ingress/default/web"
        );
        let lease = find("coordination.k8s.io", "v1", "leases").unwrap();
        assert_eq!(
            lease.key(Some("kube-node-lease"), "w1"),
            "/registry/leases/kube-node-lease/w1"
        );
        assert_eq!(
            find("apps", "v1", "deployments").unwrap().group_resource(),
            "deployments.apps"
        );
        for r in RESOURCES {
            assert!(
                r.group.is_empty() || GROUPS.contains(&r.group),
                "{}",
                r.group
            );
        }
    }
}
