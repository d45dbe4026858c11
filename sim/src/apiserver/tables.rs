//! Server-side printing (`Accept: …;as=Table`): the column sets and cell formats of
//! pkg/printers/internalversion/printers.go, which kube-apiserver uses with `Wide: true` so that every
//! column (priority 1 included) is in each row and kubectl filters by priority.

use serde_json::{Value, json};

use super::meta::{age, human_duration, parse_time};
use super::resources::ResourceDef;
use super::selectors::{format_label_selector, format_labels};

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// `PartialObjectMetadata` (the default).
    Metadata,
    /// The full object.
    Object,
    /// Nothing.
    None,
}

impl IncludeObject {
    /// From the `includeObject` query parameter.
    pub fn from_query(v: Option<&str>) -> IncludeObject {
        match v {
            Some("Object") => IncludeObject::Object,
            Some("None") => IncludeObject::None,
            _ => IncludeObject::Metadata,
        }
    }
}

type Col = (&'static str, &'static str, &'static str, u8, &'static str);

fn col(c: &Col) -> Value {
    json!({"name": c.0, "type": c.1, "format": c.2, "description": c.4, "priority": c.3})
}

const NAME: Col = (
    "Name",
    "string",
    "name",
    0,
    "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
);
const AGE: Col = (
    "Age",
    "string",
    "",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
);

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn or_none(v: String) -> String {
    if v.is_empty() { "<none>".into() } else { v }
}

/// The column definitions for a resource.
pub fn columns(res: &ResourceDef) -> Vec<Col> {
    match res.plural {
        "pods" => vec![
            NAME,
            (
                "Ready",
                "string",
                "",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            (
                "Status",
                "string",
                "",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            (
                "Restarts",
                "string",
                "",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            (
                "IP",
                "string",
                "",
                1,
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            (
                "Node",
                "string",
                "",
                1,
                "NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements.",
            ),
            (
                "Nominated Node",
                "string",
                "",
                1,
                "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
            ),
            (
                "Readiness Gates",
                "string",
                "",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
            ),
        ],
        "nodes" => vec![
            NAME,
            ("Status", "string", "", 0, "The status of the node"),
            ("Roles", "string", "", 0, "The roles of the node"),
            AGE,
            (
                "Version",
                "string",
                "",
                0,
                "Kubelet Version reported by the node.",
            ),
            (
                "Internal-IP",
                "string",
                "",
                1,
                "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).",
            ),
            (
                "External-IP",
                "string",
                "",
                1,
                "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).",
            ),
            (
                "OS-Image",
                "string",
                "",
                1,
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            (
                "Kernel-Version",
                "string",
                "",
                1,
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            (
                "Container-Runtime",
                "string",
                "",
                1,
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ],
        "deployments" => vec![
            NAME,
            (
                "Ready",
                "string",
                "",
                0,
                "Number of the pod with ready state",
            ),
            (
                "Up-to-date",
                "string",
                "",
                0,
                "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
            ),
            (
                "Available",
                "string",
                "",
                0,
                "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            AGE,
            (
                "Containers",
                "string",
                "",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                "",
                1,
                "Images referenced by each container in the template.",
            ),
            (
                "Selector",
                "string",
                "",
                1,
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
            ),
        ],
        "replicasets" => vec![
            NAME,
            (
                "Desired",
                "integer",
                "",
                0,
                "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works",
            ),
            (
                "Current",
                "integer",
                "",
                0,
                "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works",
            ),
            (
                "Ready",
                "integer",
                "",
                0,
                "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
            ),
            AGE,
            (
                "Containers",
                "string",
                "",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                "",
                1,
                "Images referenced by each container in the template.",
            ),
            (
                "Selector",
                "string",
                "",
                1,
                "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
            ),
        ],
        "daemonsets" => vec![
            NAME,
            (
                "Desired",
                "integer",
                "",
                0,
                "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
            ),
            (
                "Current",
                "integer",
                "",
                0,
                "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
            ),
            (
                "Ready",
                "integer",
                "",
                0,
                "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
            ),
            (
                "Up-to-date",
                "integer",
                "",
                0,
                "The total number of nodes that are running updated daemon pod",
            ),
            (
                "Available",
                "integer",
                "",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
            ),
            (
                "Node Selector",
                "string",
                "",
                0,
                "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
            ),
            AGE,
            (
                "Containers",
                "string",
                "",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                "",
                1,
                "Images referenced by each container in the template.",
            ),
            (
                "Selector",
                "string",
                "",
                1,
                "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
            ),
        ],
        "services" => vec![
            NAME,
            (
                "Type",
                "string",
                "",
                0,
                "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.",
            ),
            (
                "Cluster-IP",
                "string",
                "",
                0,
                "clusterIP is the IP address of the service and is usually assigned randomly.",
            ),
            (
                "External-IP",
                "string",
                "",
                0,
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            (
                "Port(s)",
                "string",
                "",
                0,
                "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
            ),
            AGE,
            (
                "Selector",
                "string",
                "",
                1,
                "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/",
            ),
        ],
        "namespaces" => vec![
            NAME,
            ("Status", "string", "", 0, "The status of the namespace"),
            AGE,
        ],
        "endpoints" => vec![
            NAME,
            ("Endpoints", "string", "", 0, "Endpoints of the service"),
            AGE,
        ],
        "configmaps" => vec![
            NAME,
            (
                "Data",
                "string",
                "",
                0,
                "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
            ),
            AGE,
        ],
        "secrets" => vec![
            NAME,
            (
                "Type",
                "string",
                "",
                0,
                "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
            ),
            (
                "Data",
                "string",
                "",
                0,
                "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
            ),
            AGE,
        ],
        "serviceaccounts" => vec![
            NAME,
            (
                "Secrets",
                "string",
                "",
                0,
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a \"kubernetes.io/enforce-mountable-secrets\" annotation set to \"true\". The \"kubernetes.io/enforce-mountable-secrets\" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret",
            ),
            AGE,
        ],
        "events" => vec![
            (
                "Last Seen",
                "string",
                "",
                0,
                "The time at which the most recent occurrence of this event was recorded.",
            ),
            (
                "Type",
                "string",
                "",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future",
            ),
            (
                "Reason",
                "string",
                "",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            (
                "Object",
                "string",
                "",
                0,
                "The object that this event is about.",
            ),
            (
                "Subobject",
                "string",
                "",
                1,
                "The subobject that this event is about.",
            ),
            (
                "Source",
                "string",
                "",
                1,
                "The component reporting this event. Should be a short machine understandable string.",
            ),
            (
                "Message",
                "string",
                "",
                0,
                "A human-readable description of the status of this operation.",
            ),
            (
                "First Seen",
                "string",
                "",
                1,
                "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
            ),
            (
                "Count",
                "string",
                "",
                1,
                "The number of times this event has occurred.",
            ),
            (
                "Name",
                "string",
                "name",
                1,
                "Name must be unique within a namespace.",
            ),
        ],
        "ingresses" => vec![
            NAME,
            (
                "Class",
                "string",
                "",
                0,
                "The name of the IngressClass resource that should be used by this Ingress.",
            ),
            (
                "Hosts",
                "string",
                "",
                0,
                "Hosts that incoming requests are matched against before the ingress rule",
            ),
            (
                "Address",
                "string",
                "",
                0,
                "Address is a list containing ingress points for the load-balancer",
            ),
            (
                "Ports",
                "string",
                "",
                0,
                "Ports of TLS configurations that open",
            ),
            AGE,
        ],
        "ingressclasses" => vec![
            NAME,
            (
                "Controller",
                "string",
                "",
                0,
                "Controller that is responsible for handling this class",
            ),
            (
                "Parameters",
                "string",
                "",
                0,
                "A reference to a resource with additional parameters",
            ),
            AGE,
        ],
        "leases" => vec![
            NAME,
            ("Holder", "string", "", 0, "The holder of the lease"),
            AGE,
        ],
        "rolebindings" | "clusterrolebindings" => vec![
            NAME,
            ("Role", "string", "", 0, "The Role to bind to"),
            AGE,
            ("Users", "string", "", 1, "Users in the binding"),
            ("Groups", "string", "", 1, "Groups in the binding"),
            (
                "ServiceAccounts",
                "string",
                "",
                1,
                "ServiceAccounts in the binding",
            ),
        ],
        "certificatesigningrequests" => vec![
            NAME,
            AGE,
            (
                "SignerName",
                "string",
                "",
                0,
                "Signer name for this certificate request",
            ),
            (
                "Requestor",
                "string",
                "",
                0,
                "Name of the user requesting the certificate",
            ),
            (
                "RequestedDuration",
                "string",
                "",
                0,
                "Requested duration of the certificate",
            ),
            (
                "Condition",
                "string",
                "",
                0,
                "Condition of the certificate request",
            ),
        ],
        "priorityclasses" => vec![
            NAME,
            (
                "Value",
                "integer",
                "",
                0,
                "The value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.",
            ),
            (
                "Global-Default",
                "boolean",
                "",
                0,
                "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.",
            ),
            AGE,
        ],
        "endpointslices" => vec![
            NAME,
            (
                "AddressType",
                "string",
                "",
                0,
                "The IP protocol for this slice",
            ),
            ("Ports", "string", "", 0, "Ports in this slice"),
            ("Endpoints", "string", "", 0, "Endpoints in this slice"),
            AGE,
        ],
        "controllerrevisions" => vec![
            NAME,
            ("Controller", "string", "", 0, "Controller of the object"),
            (
                "Revision",
                "string",
                "",
                0,
                "Revision indicates the revision of the state represented by Data.",
            ),
            AGE,
        ],
        "poddisruptionbudgets" => vec![
            NAME,
            (
                "Min Available",
                "string",
                "",
                0,
                "The minimum number of pods that must be available simultaneously. This can be either an integer or a string specifying a percentage, e.g. \"28%\".",
            ),
            (
                "Max Unavailable",
                "string",
                "",
                0,
                "The maximum number of pods that may be unavailable simultaneously. This can be either an integer or a string specifying a percentage, e.g. \"28%\".",
            ),
            (
                "Allowed Disruptions",
                "integer",
                "",
                0,
                "Calculated number of how many disruptions are allowed.",
            ),
            AGE,
        ],
        // Resources without a printer (roles, clusterroles): the default table of
        // apiserver/pkg/registry/rest/table.go.
        _ => vec![
            NAME,
            (
                "Created At",
                "date",
                "",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            ),
        ],
    }
}

fn containers_images(spec: &Value) -> (String, String) {
    let cs = spec["containers"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = cs.iter().map(|c| s(&c["name"])).collect();
    let images: Vec<String> = cs.iter().map(|c| s(&c["image"])).collect();
    (names.join(","), images.join(","))
}

fn has_condition(status: &Value, kind: &str, value: &str) -> bool {
    status["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == kind && c["status"] == value))
}

/// The pod row as `printPod` computes it: READY, STATUS (reason), RESTARTS, …
pub fn pod_cells(pod: &Value) -> Vec<Value> {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    let init_specs = spec["initContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let restartable_init: Vec<String> = init_specs
        .iter()
        .filter(|c| c["restartPolicy"] == "Always")
        .map(|c| s(&c["name"]))
        .collect();
    let total = containers.len() + restartable_init.len();
    let mut ready = 0;
    let mut restarts = 0i64;
    let mut last_restart: Option<jiff::Timestamp> = None;
    let mut note_restart = |cs: &Value, restarts: &mut i64| {
        *restarts += int(&cs["restartCount"]);
        if let Some(t) = parse_time(&cs["lastState"]["terminated"]["finishedAt"])
            && last_restart.is_none_or(|l| t > l)
        {
            last_restart = Some(t);
        }
    };
    let mut reason = s(&status["phase"]);
    if let Some(r) = status["reason"].as_str().filter(|r| !r.is_empty()) {
        reason = r.to_string();
    }
    // 1.27+: a pod held by scheduling gates shows SchedulingGated.
    if status["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    }) {
        reason = "SchedulingGated".into();
    }
    let init_statuses = status["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut initializing = false;
    for (i, cs) in init_statuses.iter().enumerate() {
        note_restart(cs, &mut restarts);
        let name = s(&cs["name"]);
        let term = &cs["state"]["terminated"];
        let waiting = &cs["state"]["waiting"];
        if term.is_object() && int(&term["exitCode"]) == 0 {
            continue;
        }
        if restartable_init.contains(&name) && cs["started"] == true {
            if cs["ready"] == true {
                ready += 1;
            }
            continue;
        }
        if term.is_object() {
            let r = s(&term["reason"]);
            reason = if r.is_empty() {
                if int(&term["signal"]) != 0 {
                    format!("Init:Signal:{}", int(&term["signal"]))
                } else {
                    format!("Init:ExitCode:{}", int(&term["exitCode"]))
                }
            } else {
                format!("Init:{r}")
            };
        } else if waiting.is_object()
            && !s(&waiting["reason"]).is_empty()
            && waiting["reason"] != "PodInitializing"
        {
            reason = format!("Init:{}", s(&waiting["reason"]));
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    if !initializing || has_condition(status, "Initialized", "True") {
        let mut has_running = false;
        let statuses = status["containerStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for cs in statuses.iter().rev() {
            note_restart(cs, &mut restarts);
            let term = &cs["state"]["terminated"];
            let waiting = &cs["state"]["waiting"];
            if waiting.is_object() && !s(&waiting["reason"]).is_empty() {
                reason = s(&waiting["reason"]);
            } else if term.is_object() && !s(&term["reason"]).is_empty() {
                reason = s(&term["reason"]);
            } else if term.is_object() {
                reason = if int(&term["signal"]) != 0 {
                    format!("Signal:{}", int(&term["signal"]))
                } else {
                    format!("ExitCode:{}", int(&term["exitCode"]))
                };
            } else if cs["ready"] == true && cs["state"]["running"].is_object() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition(status, "Ready", "True") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    let terminal = matches!(status["phase"].as_str(), Some("Succeeded" | "Failed"));
    if !pod["metadata"]["deletionTimestamp"].is_null() && status["reason"] == "NodeLost" {
        reason = "Unknown".into();
    } else if !pod["metadata"]["deletionTimestamp"].is_null() && !terminal {
        reason = "Terminating".into();
    }
    let restarts_str = match last_restart {
        Some(t) => format!(
            "{restarts} ({} ago)",
            human_duration(jiff::Timestamp::now().duration_since(t).as_secs())
        ),
        None => restarts.to_string(),
    };
    let gates = spec["readinessGates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let gates_str = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let ok = gates
            .iter()
            .filter(|g| has_condition(status, g["conditionType"].as_str().unwrap_or(""), "True"))
            .count();
        format!("{ok}/{}", gates.len())
    };
    vec![
        json!(pod["metadata"]["name"]),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_str),
        json!(age(&pod["metadata"]["creationTimestamp"])),
        json!(or_none(s(&status["podIP"]))),
        json!(or_none(s(&spec["nodeName"]))),
        json!(or_none(s(&status["nominatedNodeName"]))),
        json!(gates_str),
    ]
}

fn node_cells(node: &Value) -> Vec<Value> {
    let st = &node["status"];
    let mut status = vec![];
    match st["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
    {
        Some(c) if c["status"] == "True" => status.push("Ready"),
        Some(_) => status.push("NotReady"),
        None => status.push("Unknown"),
    }
    if node["spec"]["unschedulable"] == true {
        status.push("SchedulingDisabled");
    }
    // findNodeRoles: node-role.kubernetes.io/<role> labels and the legacy kubernetes.io/role.
    let mut roles: Vec<String> = vec![];
    if let Some(labels) = node["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            if let Some(r) = k.strip_prefix("node-role.kubernetes.io/") {
                if !r.is_empty() {
                    roles.push(r.to_string());
                }
            } else if k == "kubernetes.io/role" && !s(v).is_empty() {
                roles.push(s(v));
            }
        }
    }
    roles.sort();
    roles.dedup();
    let addr = |t: &str| {
        st["addresses"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["type"] == t))
            .map(|x| s(&x["address"]))
            .unwrap_or_else(|| "<none>".into())
    };
    let info = &st["nodeInfo"];
    let unknown = |v: &Value| {
        let v = s(v);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v
        }
    };
    vec![
        json!(node["metadata"]["name"]),
        json!(status.join(",")),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        json!(age(&node["metadata"]["creationTimestamp"])),
        json!(s(&info["kubeletVersion"])),
        json!(addr("InternalIP")),
        json!(addr("ExternalIP")),
        json!(unknown(&info["osImage"])),
        json!(unknown(&info["kernelVersion"])),
        json!(unknown(&info["containerRuntimeVersion"])),
    ]
}

fn service_cells(svc: &Value) -> Vec<Value> {
    let spec = &svc["spec"];
    let typ = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    let external: Vec<String> = spec["externalIPs"]
        .as_array()
        .map(|a| a.iter().map(s).collect())
        .unwrap_or_default();
    // getServiceExternalIP
    let ext = match typ.as_str() {
        "ClusterIP" | "NodePort" => or_none(external.join(",")),
        "LoadBalancer" => {
            let mut ips: Vec<String> = svc["status"]["loadBalancer"]["ingress"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| {
                            let ip = s(&i["ip"]);
                            if ip.is_empty() { s(&i["hostname"]) } else { ip }
                        })
                        .collect()
                })
                .unwrap_or_default();
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => s(&spec["externalName"]),
        _ => "<unknown>".into(),
    };
    let ports: Vec<String> = spec["ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    let proto = p["protocol"].as_str().unwrap_or("TCP");
                    if int(&p["nodePort"]) > 0 {
                        format!("{}:{}/{proto}", int(&p["port"]), int(&p["nodePort"]))
                    } else {
                        format!("{}/{proto}", int(&p["port"]))
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    vec![
        json!(svc["metadata"]["name"]),
        json!(typ),
        json!(or_none(s(&spec["clusterIP"]))),
        json!(ext),
        json!(or_none(ports.join(","))),
        json!(age(&svc["metadata"]["creationTimestamp"])),
        json!(format_labels(&spec["selector"])),
    ]
}

fn endpoints_cells(ep: &Value) -> Vec<Value> {
    // formatEndpoints with max 3
    let mut list = vec![];
    let mut count = 0;
    for ss in ep["subsets"].as_array().cloned().unwrap_or_default() {
        let ports = ss["ports"].as_array().cloned().unwrap_or_default();
        for a in ss["addresses"].as_array().cloned().unwrap_or_default() {
            if ports.is_empty() {
                count += 1;
                if list.len() < 3 {
                    list.push(s(&a["ip"]));
                }
            }
            for p in &ports {
                count += 1;
                if list.len() < 3 {
                    list.push(format!("{}:{}", s(&a["ip"]), int(&p["port"])));
                }
            }
        }
    }
    let mut text = list.join(",");
    if count > list.len() {
        text = format!("{text} + {} more...", count - list.len());
    }
    vec![
        json!(ep["metadata"]["name"]),
        json!(or_none(text)),
        json!(age(&ep["metadata"]["creationTimestamp"])),
    ]
}

fn event_cells(ev: &Value) -> Vec<Value> {
    let first = if parse_time(&ev["firstTimestamp"]).is_some() {
        age(&ev["firstTimestamp"])
    } else {
        age(&ev["eventTime"])
    };
    let mut last = if parse_time(&ev["lastTimestamp"]).is_some() {
        age(&ev["lastTimestamp"])
    } else {
        first.clone()
    };
    let mut count = int(&ev["count"]);
    if ev["series"].is_object() {
        last = age(&ev["series"]["lastObservedTime"]);
        count = int(&ev["series"]["count"]);
    } else if count == 0 {
        count = 1;
    }
    let io = &ev["involvedObject"];
    let kind = s(&io["kind"]).to_lowercase();
    let target = if s(&io["name"]).is_empty() {
        kind
    } else {
        format!("{kind}/{}", s(&io["name"]))
    };
    // formatEventSource
    let mut component = s(&ev["source"]["component"]);
    if component.is_empty() {
        component = s(&ev["reportingComponent"]);
    }
    let mut host = s(&ev["source"]["host"]);
    if host.is_empty() {
        host = s(&ev["reportingInstance"]);
    }
    let source = if host.is_empty() {
        component
    } else {
        format!("{component}, {host}")
    };
    vec![
        json!(last),
        json!(s(&ev["type"])),
        json!(s(&ev["reason"])),
        json!(target),
        json!(s(&io["fieldPath"])),
        json!(source),
        json!(s(&ev["message"]).trim()),
        json!(first),
        json!(count),
        json!(ev["metadata"]["name"]),
    ]
}

fn ingress_cells(ing: &Value) -> Vec<Value> {
    let spec = &ing["spec"];
    let rules = spec["rules"].as_array().cloned().unwrap_or_default();
    let hosts: Vec<String> = rules
        .iter()
        .map(|r| s(&r["host"]))
        .filter(|h| !h.is_empty())
        .collect();
    let hosts_str = if hosts.is_empty() {
        "*".to_string()
    } else if hosts.len() > 4 {
        format!("{} + {} more...", hosts[..4].join(","), hosts.len() - 4)
    } else {
        hosts.join(",")
    };
    let addrs: Vec<String> = ing["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    let ip = s(&i["ip"]);
                    if ip.is_empty() { s(&i["hostname"]) } else { ip }
                })
                .collect()
        })
        .unwrap_or_default();
    let ports = if spec["tls"].as_array().is_some_and(|t| !t.is_empty()) {
        "80, 443"
    } else {
        "80"
    };
    vec![
        json!(ing["metadata"]["name"]),
        json!(or_none(s(&spec["ingressClassName"]))),
        json!(hosts_str),
        json!(addrs.join(",")),
        json!(ports),
        json!(age(&ing["metadata"]["creationTimestamp"])),
    ]
}

fn binding_cells(b: &Value) -> Vec<Value> {
    let subjects = b["subjects"].as_array().cloned().unwrap_or_default();
    let of = |kind: &str| -> String {
        subjects
            .iter()
            .filter(|x| x["kind"] == kind)
            .map(|x| {
                if kind == "ServiceAccount" {
                    format!("{}/{}", s(&x["namespace"]), s(&x["name"]))
                } else {
                    s(&x["name"])
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        json!(b["metadata"]["name"]),
        json!(format!(
            "{}/{}",
            s(&b["roleRef"]["kind"]),
            s(&b["roleRef"]["name"])
        )),
        json!(age(&b["metadata"]["creationTimestamp"])),
        json!(of("User")),
        json!(of("Group")),
        json!(of("ServiceAccount")),
    ]
}

fn csr_cells(csr: &Value) -> Vec<Value> {
    let mut conds: Vec<String> = csr["status"]["conditions"]
        .as_array()
        .map(|a| a.iter().map(|c| s(&c["type"])).collect())
        .unwrap_or_default();
    if conds.is_empty() {
        conds.push("Pending".into());
    }
    if !s(&csr["status"]["certificate"]).is_empty() {
        conds.push("Issued".into());
    }
    let dur = csr["spec"]["expirationSeconds"]
        .as_i64()
        .map(human_duration)
        .unwrap_or_else(|| "<none>".into());
    vec![
        json!(csr["metadata"]["name"]),
        json!(age(&csr["metadata"]["creationTimestamp"])),
        json!(s(&csr["spec"]["signerName"])),
        json!(s(&csr["spec"]["username"])),
        json!(dur),
        json!(conds.join(",")),
    ]
}

fn int_or_string(v: &Value) -> String {
    match v {
        Value::Null => "N/A".into(),
        other => s(other),
    }
}

/// The cells of one object's row.
pub fn cells(res: &ResourceDef, obj: &Value) -> Vec<Value> {
    let name = json!(obj["metadata"]["name"]);
    let created = &obj["metadata"]["creationTimestamp"];
    let st = &obj["status"];
    let spec = &obj["spec"];
    match res.plural {
        "pods" => pod_cells(obj),
        "nodes" => node_cells(obj),
        "services" => service_cells(obj),
        "endpoints" => endpoints_cells(obj),
        "events" => event_cells(obj),
        "ingresses" => ingress_cells(obj),
        "rolebindings" | "clusterrolebindings" => binding_cells(obj),
        "certificatesigningrequests" => csr_cells(obj),
        "deployments" => {
            let (c, i) = containers_images(&spec["template"]["spec"]);
            let desired = spec["replicas"].as_i64().unwrap_or(1);
            vec![
                name,
                json!(format!("{}/{}", int(&st["readyReplicas"]), desired)),
                json!(int(&st["updatedReplicas"])),
                json!(int(&st["availableReplicas"])),
                json!(age(created)),
                json!(c),
                json!(i),
                json!(format_label_selector(&spec["selector"])),
            ]
        }
        "replicasets" => {
            let (c, i) = containers_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(spec["replicas"].as_i64().unwrap_or(1)),
                json!(int(&st["replicas"])),
                json!(int(&st["readyReplicas"])),
                json!(age(created)),
                json!(c),
                json!(i),
                json!(format_label_selector(&spec["selector"])),
            ]
        }
        "daemonsets" => {
            let (c, i) = containers_images(&spec["template"]["spec"]);
            vec![
                name,
                json!(int(&st["desiredNumberScheduled"])),
                json!(int(&st["currentNumberScheduled"])),
                json!(int(&st["numberReady"])),
                json!(int(&st["updatedNumberScheduled"])),
                json!(int(&st["numberAvailable"])),
                json!(format_labels(&spec["template"]["spec"]["nodeSelector"])),
                json!(age(created)),
                json!(c),
                json!(i),
                json!(format_label_selector(&spec["selector"])),
            ]
        }
        "namespaces" => vec![name, json!(s(&st["phase"])), json!(age(created))],
        "configmaps" => {
            let n = obj["data"].as_object().map_or(0, |m| m.len())
                + obj["binaryData"].as_object().map_or(0, |m| m.len());
            vec![name, json!(n), json!(age(created))]
        }
        "secrets" => {
            let n = obj["data"].as_object().map_or(0, |m| m.len());
            vec![name, json!(s(&obj["type"])), json!(n), json!(age(created))]
        }
        "serviceaccounts" => {
            let n = obj["secrets"].as_array().map_or(0, |a| a.len());
            vec![name, json!(n), json!(age(created))]
        }
        "ingressclasses" => {
            let p = &spec["parameters"];
            let params = if p.is_object() {
                let g = s(&p["apiGroup"]);
                let kind = if g.is_empty() {
                    s(&p["kind"])
                } else {
                    format!("{}.{g}", s(&p["kind"]))
                };
                format!("{kind}/{}", s(&p["name"]))
            } else {
                "<none>".into()
            };
            vec![
                name,
                json!(s(&spec["controller"])),
                json!(params),
                json!(age(created)),
            ]
        }
        "leases" => {
            let holder = spec["holderIdentity"]
                .as_str()
                .unwrap_or("<unknown>")
                .to_string();
            vec![name, json!(holder), json!(age(created))]
        }
        "priorityclasses" => vec![
            name,
            json!(int(&obj["value"])),
            json!(obj["globalDefault"].as_bool().unwrap_or(false)),
            json!(age(created)),
        ],
        "endpointslices" => {
            let ports: Vec<String> = obj["ports"]
                .as_array()
                .map(|a| a.iter().map(|p| int(&p["port"]).to_string()).collect())
                .unwrap_or_default();
            let addrs: Vec<String> = obj["endpoints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
                        .map(|x| s(&x))
                        .collect()
                })
                .unwrap_or_default();
            let mut eps = addrs.iter().take(3).cloned().collect::<Vec<_>>().join(",");
            if addrs.len() > 3 {
                eps = format!("{eps} + {} more...", addrs.len() - 3);
            }
            vec![
                name,
                json!(s(&obj["addressType"])),
                json!(if ports.is_empty() {
                    "<unset>".to_string()
                } else {
                    ports.join(",")
                }),
                json!(if eps.is_empty() {
                    "<unset>".to_string()
                } else {
                    eps
                }),
                json!(age(created)),
            ]
        }
        "controllerrevisions" => {
            let owner = obj["metadata"]["ownerReferences"]
                .as_array()
                .and_then(|a| a.iter().find(|o| o["controller"] == true))
                .map(|o| {
                    let api = s(&o["apiVersion"]);
                    let group = api
                        .split_once('/')
                        .map(|(g, _)| g.to_string())
                        .unwrap_or_default();
                    let kind = s(&o["kind"]).to_lowercase();
                    let kind = if group.is_empty() {
                        kind
                    } else {
                        format!("{kind}.{group}")
                    };
                    format!("{kind}/{}", s(&o["name"]))
                })
                .unwrap_or_else(|| "<none>".into());
            vec![
                name,
                json!(owner),
                json!(int(&obj["revision"])),
                json!(age(created)),
            ]
        }
        "poddisruptionbudgets" => vec![
            name,
            json!(int_or_string(&spec["minAvailable"])),
            json!(int_or_string(&spec["maxUnavailable"])),
            json!(int(&st["disruptionsAllowed"])),
            json!(age(created)),
        ],
        _ => {
            let at = parse_time(created)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            vec![name, json!(at)]
        }
    }
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value, table_version: &str) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{table_version}"), "metadata": obj["metadata"]})
}

/// A Table of `objects`; `table_version` is `v1` or `v1beta1` (what the client asked for).
pub fn table(
    res: &ResourceDef,
    objects: &[Value],
    resource_version: &str,
    include: IncludeObject,
    table_version: &str,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(res, o)});
            match include {
                IncludeObject::Metadata => row["object"] = partial_metadata(o, table_version),
                IncludeObject::Object => row["object"] = o.clone(),
                IncludeObject::None => {}
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{table_version}"),
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns(res).iter().map(col).collect::<Vec<_>>(),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::find;

    fn ago(secs: i64) -> String {
        jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(secs))
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    #[test]
    fn pod_status_column_follows_print_pod() {
        let base = |status: Value| json!({"metadata": {"name": "p", "creationTimestamp": ago(600)}, "spec": {"containers": [{"name": "a"}], "nodeName": "w1"}, "status": status});
        let running = base(
            json!({"phase": "Running", "podIP": "10.244.1.5", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}, "lastState": {"terminated": {"finishedAt": ago(300), "exitCode": 137}}}]}),
        );
        let c = pod_cells(&running);
        assert_eq!(c[1], "1/1");
        assert_eq!(c[2], "Running");
        assert_eq!(c[3], "2 (5m ago)");
        assert_eq!(c[4], "10m");
        assert_eq!(c[5], "10.244.1.5");
        assert_eq!(c[6], "w1");
        assert_eq!(c[7], "<none>");
        let creating = base(
            json!({"phase": "Pending", "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        assert_eq!(pod_cells(&creating)[2], "ContainerCreating");
        assert_eq!(pod_cells(&creating)[1], "0/1");
        let crash = base(
            json!({"phase": "Running", "containerStatuses": [{"name": "a", "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
        );
        assert_eq!(pod_cells(&crash)[2], "CrashLoopBackOff");
        let done = base(
            json!({"phase": "Succeeded", "containerStatuses": [{"name": "a", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}),
        );
        assert_eq!(pod_cells(&done)[2], "Completed");
        let failed = base(
            json!({"phase": "Failed", "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 3}}}]}),
        );
        assert_eq!(pod_cells(&failed)[2], "ExitCode:3");
        let mut term = running.clone();
        term["metadata"]["deletionTimestamp"] = json!(ago(1));
        assert_eq!(pod_cells(&term)[2], "Terminating");
        let mut init = base(
            json!({"phase": "Pending", "initContainerStatuses": [{"name": "i", "state": {"waiting": {"reason": "PodInitializing"}}}]}),
        );
        init["spec"]["initContainers"] = json!([{"name": "i"}, {"name": "j"}]);
        assert_eq!(pod_cells(&init)[2], "Init:0/2");
        let pending = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
        let c = pod_cells(&pending);
        assert_eq!(
            (c[2].as_str(), c[3].as_str(), c[4].as_str(), c[6].as_str()),
            (
                Some("Pending"),
                Some("0"),
                Some("<unknown>"),
                Some("<none>")
            )
        );
    }

    /// The Table kubectl receives for `get pods -o wide` (two pods with typical states), as
    /// kubectl prints it: header from the column names, cells as they are.
    #[test]
    fn pod_table_snapshot() {
        let pods = find("", "v1", "pods").unwrap();
        let running = json!({"metadata": {"name": "hello-world-5d6cfd9db8-jjrn5", "namespace": "default"},
            "spec": {"nodeName": "minikube-m02", "containers": [{"name": "hello-world"}]},
            "status": {"phase": "Running", "podIP": "10.244.1.2", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "hello-world", "ready": true, "restartCount": 1, "state": {"running": {}}}]}});
        let pending = json!({"metadata": {"name": "coredns-787d4945fb-knjnx", "namespace": "kube-system"},
            "spec": {"nodeName": "minikube", "containers": [{"name": "coredns"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "coredns", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        let t = table(pods, &[running, pending], "1234", IncludeObject::None, "v1");
        let mut out = String::new();
        let header: Vec<String> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{}({})",
                    c["name"].as_str().unwrap().to_uppercase(),
                    c["priority"]
                )
            })
            .collect();
        out.push_str(&header.join(" | "));
        for r in t["rows"].as_array().unwrap() {
            out.push('\n');
            let cells: Vec<String> = r["cells"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.to_string())
                .collect();
            out.push_str(&cells.join(" | "));
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn node_deployment_and_service_rows() {
        let node = json!({"metadata": {"name": "minikube", "creationTimestamp": ago(3600), "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "minikube"}}, "spec": {"unschedulable": true}, "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "192.168.49.2"}], "nodeInfo": {"kubeletVersion": "v1.33.7", "osImage": "Ubuntu 22.04.5 LTS", "kernelVersion": "6.8.0", "containerRuntimeVersion": "containerd://1.7.13"}}});
        let c = cells(find("", "v1", "nodes").unwrap(), &node);
        assert_eq!(
            c,
            vec![
                json!("minikube"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane"),
                json!("60m"),
                json!("v1.33.7"),
                json!("192.168.49.2"),
                json!("<none>"),
                json!("Ubuntu 22.04.5 LTS"),
                json!("6.8.0"),
                json!("containerd://1.7.13")
            ]
        );
        let deploy = json!({"metadata": {"name": "web", "creationTimestamp": ago(30)}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "hello"}}, "template": {"spec": {"containers": [{"name": "podinfo", "image": "stefanprodan/podinfo"}]}}}, "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}});
        let c = cells(find("apps", "v1", "deployments").unwrap(), &deploy);
        assert_eq!(
            c,
            vec![
                json!("web"),
                json!("1/2"),
                json!(2),
                json!(1),
                json!("30s"),
                json!("podinfo"),
                json!("stefanprodan/podinfo"),
                json!("app=hello")
            ]
        );
        let svc = json!({"metadata": {"name": "hello"}, "spec": {"type": "NodePort", "clusterIP": "10.96.12.7", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}], "selector": {"app": "hello"}}});
        let c = cells(find("", "v1", "services").unwrap(), &svc);
        assert_eq!(
            c[1..5].to_vec(),
            vec![
                json!("NodePort"),
                json!("10.96.12.7"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP")
            ]
        );
        let t = table(
            find("", "v1", "services").unwrap(),
            &[svc],
            "42",
            IncludeObject::Metadata,
            "v1",
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["metadata"]["resourceVersion"], "42");
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["columnDefinitions"][6]["priority"], 1);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
