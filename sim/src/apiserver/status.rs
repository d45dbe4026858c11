//! API errors and their `Status` objects, with the reasons, codes and messages of
//! staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go.

use serde_json::{Value, json};

use super::resources::ResourceDef;

/// One field error of an Invalid (422) error (apimachinery/pkg/util/validation/field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueForbidden`, `FieldValueNotSupported`,
    /// `FieldValueDuplicate`.
    pub reason: &'static str,
    /// `spec.containers[0].image`.
    pub field: String,
    /// `Required value`, `Invalid value: -1: must be greater than or equal to 0`.
    pub message: String,
}

impl FieldError {
    /// `field: Required value` (optionally with a detail).
    pub fn required(field: impl Into<String>, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueRequired",
            field: field.into(),
            message: if detail.is_empty() {
                "Required value".into()
            } else {
                format!("Required value: {detail}")
            },
        }
    }

    /// `field: Invalid value: <value>: detail`, with the value printed as Go's `%#v` would for
    /// strings (quoted) and numbers.
    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> FieldError {
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            Value::Null => "null".into(),
            other => other.to_string(),
        };
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {shown}: {detail}"),
        }
    }

    /// `field: Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> FieldError {
        FieldError {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {detail}"),
        }
    }

    /// `field: Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> FieldError {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: {value:?}: supported values: {}",
                list.join(", ")
            ),
        }
    }
}

/// An error the API answers with a `Status`.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ApiError {
    /// 404: `pods "x" not found`.
    #[error("{resource} {name:?} not found")]
    NotFound {
        /// Group-resource (`deployments.apps`).
        resource: String,
        /// Group for details.
        group: String,
        /// Object name.
        name: String,
    },
    /// 404 for a path no route serves.
    #[error("the server could not find the requested resource")]
    NoRoute,
    /// 409: `deployments.apps "web" already exists`.
    #[error("{resource} {name:?} already exists")]
    AlreadyExists {
        /// Group-resource.
        resource: String,
        /// Group.
        group: String,
        /// Name.
        name: String,
    },
    /// 409 optimistic-concurrency conflict.
    #[error(
        "Operation cannot be fulfilled on {resource} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict {
        /// Group-resource.
        resource: String,
        /// Group.
        group: String,
        /// Name.
        name: String,
    },
    /// 409 with a custom message and causes (server-side apply conflicts, binding).
    #[error("{message}")]
    ConflictWith {
        /// Group-resource.
        resource: String,
        /// Group.
        group: String,
        /// Name.
        name: String,
        /// Message.
        message: String,
        /// Causes (reason, message, field).
        causes: Vec<(String, String, String)>,
    },
    /// 422 Invalid.
    #[error("{kind}{dot}{group} {name:?} is invalid: {}", summary(.errors), dot = if .group.is_empty() { "" } else { "." })]
    Invalid {
        /// Kind (`Deployment`).
        kind: String,
        /// Group.
        group: String,
        /// Name.
        name: String,
        /// Field errors.
        errors: Vec<FieldError>,
    },
    /// 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// 401.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403 Forbidden with the full message.
    #[error("{message}")]
    Forbidden {
        /// Group-resource ("" for non-resource URLs).
        resource: String,
        /// Group.
        group: String,
        /// Name.
        name: String,
        /// Message.
        message: String,
    },
    /// 405.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 410 Expired: a resourceVersion too old.
    #[error("too old resource version: {requested} ({current})")]
    Expired {
        /// The RV asked for.
        requested: i64,
        /// The oldest available.
        current: i64,
    },
    /// 410 Gone with a message (an expired continue token).
    #[error("{0}")]
    Gone(String),
    /// 429 TooManyRequests with causes (an eviction a disruption budget forbids).
    #[error("{message}")]
    TooManyRequests {
        /// Message.
        message: String,
        /// Causes (reason, message).
        causes: Vec<(String, String)>,
    },
    /// 415.
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(&'static str),
    /// 415 from the router (go-restful's own error, for a route that does not consume the
    /// request's media type), as kube-apiserver's service error handler turns it into a Status.
    #[error("415: Unsupported Media Type")]
    RouteUnsupportedMediaType,
    /// 500 with a message.
    #[error("{0}")]
    Internal(String),
    /// 504/500: storage unavailable.
    #[error("{0}")]
    Storage(String),
    /// 500 without a reason: an error that is not an API status, passed on as is (etcd's client
    /// errors when etcd cannot be reached).
    #[error("{0}")]
    Unavailable(String),
    /// A `Status` made from another server's plain-text answer (apiserver
    /// `registry/generic/rest/response_checker.go` with apimachinery `pkg/api/errors`
    /// `NewInternalError`/`NewGenericServerResponse`).
    #[error("{message}")]
    Generic {
        /// HTTP status code.
        code: u16,
        /// The `reason` field.
        reason: &'static str,
        /// The message.
        message: String,
        /// The `details` field.
        details: Value,
    },
}

fn summary(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    /// NotFound for an object of `res`.
    pub fn not_found(res: &ResourceDef, name: &str) -> ApiError {
        ApiError::NotFound {
            resource: res.group_resource(),
            group: res.group.to_string(),
            name: name.to_string(),
        }
    }

    /// AlreadyExists for an object of `res`.
    pub fn already_exists(res: &ResourceDef, name: &str) -> ApiError {
        ApiError::AlreadyExists {
            resource: res.group_resource(),
            group: res.group.to_string(),
            name: name.to_string(),
        }
    }

    /// The optimistic-concurrency Conflict for an object of `res`.
    pub fn conflict(res: &ResourceDef, name: &str) -> ApiError {
        ApiError::Conflict {
            resource: res.group_resource(),
            group: res.group.to_string(),
            name: name.to_string(),
        }
    }

    /// Invalid for an object of `res`.
    pub fn invalid(res: &ResourceDef, name: &str, errors: Vec<FieldError>) -> ApiError {
        ApiError::Invalid {
            kind: res.kind.to_string(),
            group: res.group.to_string(),
            name: name.to_string(),
            errors,
        }
    }

    /// apimachinery `NewInternalError`: `Internal error occurred: <err>`, with the error as the
    /// cause.
    pub fn generic_internal(err: &str) -> ApiError {
        ApiError::Generic {
            code: 500,
            reason: "InternalError",
            message: format!("Internal error occurred: {err}"),
            details: json!({"causes": [{"message": err}]}),
        }
    }

    /// apimachinery `NewGenericServerResponse(code, verb, {group, resource}, name,
    /// serverMessage, 0, false)` (k8s.io/apimachinery `pkg/api/errors/errors.go`): a reason and a
    /// message for the code, then ` (<verb> <resource>[.<group>] <name>)`.
    pub fn generic_server_response(
        code: u16,
        verb: &str,
        group: &str,
        resource: &str,
        name: &str,
        server_message: &str,
    ) -> ApiError {
        let (reason, message) = match code {
            409 if verb == "POST" => ("AlreadyExists", "the server reported a conflict".into()),
            409 => ("Conflict", "the server reported a conflict".into()),
            404 => (
                "NotFound",
                "the server could not find the requested resource".into(),
            ),
            400 => (
                "BadRequest",
                "the server rejected our request for an unknown reason".into(),
            ),
            401 => (
                "Unauthorized",
                "the server has asked for the client to provide credentials".into(),
            ),
            403 => ("Forbidden", server_message.to_string()),
            406 if server_message.is_empty() || server_message == "unknown" => (
                "NotAcceptable",
                "the server was unable to respond with a content type that the client supports"
                    .into(),
            ),
            406 => ("NotAcceptable", server_message.to_string()),
            415 => ("UnsupportedMediaType", server_message.to_string()),
            405 => (
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource".into(),
            ),
            422 => (
                "Invalid",
                "the server rejected our request due to an error in our request".into(),
            ),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request".into(),
            ),
            504 => (
                "Timeout",
                "the server was unable to return a response in the time allotted, but may still be processing the request".into(),
            ),
            429 => (
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later"
                    .into(),
            ),
            c if c >= 500 => (
                "InternalError",
                format!(
                    "an error on the server ({server_message:?}) has prevented the request from succeeding"
                ),
            ),
            c => (
                "",
                format!("the server responded with the status code {c} but did not return more information"),
            ),
        };
        let qualified = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        let verb = verb.to_lowercase();
        let message = match (qualified.is_empty(), name.is_empty()) {
            (false, false) => format!("{message} ({verb} {qualified} {name})"),
            (false, true) => format!("{message} ({verb} {qualified})"),
            _ => message,
        };
        let mut details = json!({});
        for (k, v) in [("name", name), ("group", group), ("kind", resource)] {
            if !v.is_empty() {
                details[k] = json!(v);
            }
        }
        ApiError::Generic {
            code,
            reason,
            message,
            details,
        }
    }

    /// HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => 404,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ConflictWith { .. } => 409,
            ApiError::Invalid { .. } => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::MethodNotAllowed => 405,
            ApiError::Expired { .. } | ApiError::Gone(_) => 410,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::UnsupportedMediaType(_) | ApiError::RouteUnsupportedMediaType => 415,
            ApiError::Internal(_) => 500,
            ApiError::Storage(_) | ApiError::Unavailable(_) => 500,
            ApiError::Generic { code, .. } => *code,
        }
    }

    /// The `reason` field.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } | ApiError::NoRoute => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ConflictWith { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::Expired { .. } | ApiError::Gone(_) => "Expired",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::UnsupportedMediaType(_) | ApiError::RouteUnsupportedMediaType => {
                "UnsupportedMediaType"
            }
            ApiError::Internal(_) | ApiError::Storage(_) => "InternalError",
            ApiError::Unavailable(_) => "",
            ApiError::Generic { reason, .. } => reason,
        }
    }

    /// The `Status` object.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code(),
        });
        // StatusReasonUnknown is "" and `reason` is omitempty.
        if self.reason().is_empty()
            && let Some(m) = s.as_object_mut()
        {
            m.remove("reason");
        }
        let details = match self {
            ApiError::NotFound {
                resource,
                group,
                name,
            }
            | ApiError::AlreadyExists {
                resource,
                group,
                name,
            }
            | ApiError::Conflict {
                resource,
                group,
                name,
            }
            | ApiError::Forbidden {
                resource,
                group,
                name,
                ..
            } => {
                let kind = resource.split('.').next().unwrap_or_default();
                let mut d = json!({"kind": kind});
                if !name.is_empty() {
                    d["name"] = json!(name);
                }
                if !group.is_empty() {
                    d["group"] = json!(group);
                }
                Some(d)
            }
            ApiError::ConflictWith {
                resource,
                group,
                name,
                causes,
                ..
            } => {
                let kind = resource.split('.').next().unwrap_or_default();
                let mut d = json!({"name": name, "kind": kind});
                if !group.is_empty() {
                    d["group"] = json!(group);
                }
                if !causes.is_empty() {
                    d["causes"] = causes
                        .iter()
                        .map(|(r, m, f)| json!({"reason": r, "message": m, "field": f}))
                        .collect();
                }
                Some(d)
            }
            ApiError::Invalid {
                kind,
                group,
                name,
                errors,
            } => {
                let mut d = json!({"name": name, "kind": kind, "causes": errors.iter().map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field})).collect::<Vec<_>>()});
                if !group.is_empty() {
                    d["group"] = json!(group);
                }
                Some(d)
            }
            // NewGenericServerResponse: router errors carry empty (but present) details.
            ApiError::NoRoute
            | ApiError::MethodNotAllowed
            | ApiError::RouteUnsupportedMediaType => Some(json!({})),
            ApiError::TooManyRequests { causes, .. } => Some(
                json!({"causes": causes.iter().map(|(r, m)| json!({"reason": r, "message": m})).collect::<Vec<_>>()}),
            ),
            ApiError::Internal(m) | ApiError::Storage(m) => {
                Some(json!({"causes": [{"message": m}]}))
            }
            ApiError::Generic { details, .. } => Some(details.clone()),
            _ => None,
        };
        if let Some(d) = details {
            s["details"] = d;
        }
        // StatusReasonUnknown is "" and omitted (`reason,omitempty`).
        if self.reason().is_empty()
            && let Some(m) = s.as_object_mut()
        {
            m.remove("reason");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::find;

    #[test]
    fn messages_are_the_real_ones() {
        let pods = find("", "v1", "pods").unwrap();
        let deploy = find("apps", "v1", "deployments").unwrap();
        assert_eq!(
            ApiError::not_found(pods, "x").to_string(),
            "pods \"x\" not found"
        );
        assert_eq!(
            ApiError::not_found(deploy, "x").to_string(),
            "deployments.apps \"x\" not found"
        );
        assert_eq!(
            ApiError::already_exists(deploy, "web").to_string(),
            "deployments.apps \"web\" already exists"
        );
        assert_eq!(
            ApiError::conflict(pods, "x").to_string(),
            "Operation cannot be fulfilled on pods \"x\": the object has been modified; please apply your changes to the latest version and try again"
        );
        let inv = ApiError::invalid(
            deploy,
            "web",
            vec![FieldError::required("spec.template.spec.containers", "")],
        );
        assert_eq!(
            inv.to_string(),
            "Deployment.apps \"web\" is invalid: spec.template.spec.containers: Required value"
        );
        let st = inv.status();
        assert_eq!(st["code"], 422);
        assert_eq!(
            st["details"]["causes"][0]["field"],
            "spec.template.spec.containers"
        );
        assert_eq!(st["details"]["kind"], "Deployment");
        let nf = ApiError::not_found(deploy, "x").status();
        assert_eq!(
            nf["details"],
            json!({"name": "x", "group": "apps", "kind": "deployments"})
        );
        assert_eq!(
            FieldError::invalid(
                "spec.replicas",
                &json!(-1),
                "must be greater than or equal to 0"
            )
            .message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
    }

    #[test]
    fn generic_server_responses_are_apimachinery_s() {
        let nf = ApiError::generic_server_response(404, "", "", "pods/log", "web", "x");
        assert_eq!(
            nf.status(),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "the server could not find the requested resource ( pods/log web)",
                   "reason": "NotFound", "details": {"name": "web", "kind": "pods/log"}, "code": 404})
        );
        let bad = ApiError::generic_server_response(502, "GET", "apps", "deployments", "", "boom");
        assert_eq!(
            bad.to_string(),
            "an error on the server (\"boom\") has prevented the request from succeeding (get deployments.apps)"
        );
        assert_eq!(bad.reason(), "InternalError");
        let odd = ApiError::generic_server_response(302, "", "", "", "", "");
        assert!(odd.status().get("reason").is_none());
        assert_eq!(odd.code(), 302);
        let internal = ApiError::generic_internal("no space left").status();
        assert_eq!(
            internal["message"],
            "Internal error occurred: no space left"
        );
        assert_eq!(internal["details"]["causes"][0]["message"], "no space left");
    }
}
