//! The `audit.k8s.io/v1` `Event` (staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go), with
//! its JSON field order and `omitempty` rules, so a line labsim writes is one kube-apiserver's log
//! backend (plugin/pkg/audit/log/backend.go, format `json`) could have written.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `authentication.k8s.io/v1` `UserInfo` (every field `omitempty`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// The uid (service accounts).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// The object a request is aimed at (every field `omitempty`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// `pods`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// The namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The uid (from the request object).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The group (`""` for core).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// The resourceVersion of the request object (a precondition), not the result.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// The subresource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

/// The bounded part of a `metav1.Status` the event keeps (`audit.LogResponseObject`): `metadata` is
/// always present (a struct, which Go's `omitempty` never omits), the rest only when set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResponseStatus {
    /// Always `{}`.
    #[serde(default)]
    pub metadata: Value,
    /// `Success` or `Failure`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The error message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The reason (`NotFound`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP code.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub code: i64,
}

/// `metav1.StatusDetails`, in its field order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// The object's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// The kind (the resource, in most errors).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The causes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Seconds to wait before retrying.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry_after_seconds: i64,
}

/// `metav1.StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatusCause {
    /// `FieldValueRequired`, …
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The field path.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

fn is_zero(c: &i64) -> bool {
    *c == 0
}

impl ResponseStatus {
    /// A status with only a code (what the response writer records for non-Status bodies).
    pub fn code(code: u16) -> ResponseStatus {
        ResponseStatus {
            metadata: Value::Object(Default::default()),
            code: code.into(),
            ..Default::default()
        }
    }

    /// The bounded copy of a `Status` body.
    pub fn from_status(status: &Value, code: u16) -> ResponseStatus {
        let s = |k: &str| status[k].as_str().unwrap_or_default().to_string();
        ResponseStatus {
            metadata: Value::Object(Default::default()),
            status: s("status"),
            message: s("message"),
            reason: s("reason"),
            details: status
                .get("details")
                .filter(|d| d.is_object())
                .and_then(|d| serde_json::from_value(d.clone()).ok()),
            code: code.into(),
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `Event`.
    pub kind: String,
    /// `audit.k8s.io/v1`.
    pub api_version: String,
    /// The level the request is audited at.
    pub level: String,
    /// The request's audit ID (also its `Audit-Id` response header).
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// The stage of this event.
    pub stage: String,
    /// The request URI as sent (path and query).
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// The Kubernetes verb, or the lower-cased HTTP method for non-resource requests.
    pub verb: String,
    /// The authenticated user.
    pub user: UserInfo,
    /// X-Forwarded-For, X-Real-Ip, then the connection's address.
    #[serde(default, rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    /// The User-Agent header.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// The target object (resource requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectReference>,
    /// The response's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    /// The request body (level Request and above, resource requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    /// The response body (level RequestResponse, resource requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    /// When the request reached the API server (`metav1.MicroTime`).
    pub request_received_timestamp: String,
    /// When the request reached this stage.
    pub stage_timestamp: String,
    /// Annotations from authorization and admission.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// A time as `metav1.MicroTime` marshals it: RFC 3339, microseconds, UTC.
pub fn micro_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_upstreams_field_order_and_omits_empty_fields() {
        let mut e = Event {
            kind: "Event".into(),
            api_version: "audit.k8s.io/v1".into(),
            level: "Metadata".into(),
            audit_id: "4f4e4a1b-8e8f-4d2a-9d3a-0c1b2a3d4e5f".into(),
            stage: "ResponseComplete".into(),
            request_uri: "/api/v1/namespaces/default/pods?limit=500".into(),
            verb: "list".into(),
            user: UserInfo {
                username: "kubernetes-admin".into(),
                groups: vec![
                    "kubeadm:cluster-admins".into(),
                    "system:authenticated".into(),
                ],
                ..Default::default()
            },
            source_ips: vec!["127.100.49.1".into()],
            user_agent: "kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0".into(),
            object_ref: Some(ObjectReference {
                resource: "pods".into(),
                namespace: "default".into(),
                api_version: "v1".into(),
                ..Default::default()
            }),
            response_status: Some(ResponseStatus::code(200)),
            request_object: None,
            response_object: None,
            request_received_timestamp: "2026-11-28T05:44:16.123456Z".into(),
            stage_timestamp: "2026-11-28T05:44:16.125000Z".into(),
            annotations: Default::default(),
        };
        e.annotations
            .insert("authorization.k8s.io/decision".into(), "allow".into());
        insta::assert_snapshot!(serde_json::to_string(&e).unwrap(), @r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"4f4e4a1b-8e8f-4d2a-9d3a-0c1b2a3d4e5f","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods?limit=500","verb":"list","user":{"username":"kubernetes-admin","groups":["kubeadm:cluster-admins","system:authenticated"]},"sourceIPs":["127.100.49.1"],"userAgent":"kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0","objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-28T05:44:16.123456Z","stageTimestamp":"2026-11-28T05:44:16.125000Z","annotations":{"authorization.k8s.io/decision":"allow"}}"#);
        let nf = ResponseStatus::from_status(
            &serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "pods \"x\" not found", "reason": "NotFound", "details": {"name": "x", "kind": "pods"}, "code": 404}),
            404,
        );
        assert_eq!(
            serde_json::to_string(&nf).unwrap(),
            r#"{"metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}"#
        );
        let back: Event = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
