//! Reading an audit log back: the events of a log file and its lumberjack backups in order, and
//! the changes they record per object (labsim's own event log: what changed, when, by whom, with
//! which resulting resourceVersion).
//!
//! A change is the `ResponseComplete` event of a successful write (`create`, `update`, `patch`,
//! `delete`, `deletecollection`, on the object or a subresource of it). Its resourceVersion is the
//! one of the object in the response body (level `RequestResponse`); for a `deletecollection`
//! every deleted item of the returned list is a change of its own. Writes logged at lower levels
//! are changes without a resourceVersion.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::event::Event;

/// The object a change is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    /// API group (`""` for core).
    pub group: String,
    /// Resource (`pods`).
    pub resource: String,
    /// Namespace (`""` for cluster-scoped objects).
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let res = if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        if self.namespace.is_empty() {
            write!(f, "{res}/{}", self.name)
        } else {
            write!(f, "{res}/{}/{}", self.namespace, self.name)
        }
    }
}

/// One change of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// When the API server completed the write (`stageTimestamp`, RFC 3339 µs).
    pub time: String,
    /// When it received it.
    pub received: String,
    /// `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// The subresource written (`status`, `scale`, `binding`, …), if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    /// The object's resourceVersion after the write (from the response body), if logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// Whether the write removed the object (a delete that did not just mark it for deletion).
    pub deleted: bool,
    /// The user who wrote.
    pub user: String,
    /// The HTTP code.
    pub code: i64,
    /// The request's audit ID.
    pub audit_id: String,
}

/// Errors reading a log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file could not be read.
    #[error("cannot read the audit log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not an audit event.
    #[error("{path}:{line}: not an audit.k8s.io/v1 event: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// The files of a log in write order: its backups (oldest first), then the file itself.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = super::log::backups(path)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    if path.exists() {
        files.push(path.to_path_buf());
    }
    files
}

/// Every event of a log and its backups, in write order. A last line cut short (the server was
/// killed while writing) is skipped.
///
/// # Errors
/// [`ReadError`] for unreadable files or lines that are not events.
pub fn read_events(path: &Path) -> Result<Vec<Event>, ReadError> {
    let mut out = vec![];
    for f in log_files(path) {
        let text = std::fs::read_to_string(&f).map_err(|source| ReadError::Io {
            path: f.clone(),
            source,
        })?;
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Event>(line) {
                Ok(e) => out.push(e),
                Err(_) if !complete && i + 1 == lines.len() => {}
                Err(source) => {
                    return Err(ReadError::Decode {
                        path: f.clone(),
                        line: i + 1,
                        source,
                    });
                }
            }
        }
    }
    Ok(out)
}

const WRITES: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

fn key_of(e: &Event, obj: Option<&Value>) -> Option<ObjectKey> {
    let r = e.object_ref.as_ref()?;
    let meta = obj.map(|o| &o["metadata"]);
    let from_meta = |k: &str| {
        meta.and_then(|m| m[k].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let name = if r.name.is_empty() {
        from_meta("name")
    } else {
        r.name.clone()
    };
    if name.is_empty() {
        return None;
    }
    Some(ObjectKey {
        group: r.api_group.clone(),
        resource: r.resource.clone(),
        namespace: if r.namespace.is_empty() {
            from_meta("namespace")
        } else {
            r.namespace.clone()
        },
        name,
    })
}

/// Whether a deleted object is still stored: graceful deletion (`deletionGracePeriodSeconds` > 0),
/// finalizers, or a namespace that is terminating.
fn still_exists(o: &Value) -> bool {
    let m = &o["metadata"];
    m["deletionGracePeriodSeconds"].as_i64().unwrap_or(0) > 0
        || m["finalizers"].as_array().is_some_and(|f| !f.is_empty())
        || (o["kind"] == "Namespace" && o["status"]["phase"] == "Terminating")
}

/// The changes recorded in `events`, per object, each object's in the order the API server
/// completed them.
pub fn changes(events: &[Event]) -> BTreeMap<ObjectKey, Vec<Change>> {
    let mut out: BTreeMap<ObjectKey, Vec<Change>> = BTreeMap::new();
    for e in events {
        if e.stage != "ResponseComplete" || !WRITES.contains(&e.verb.as_str()) {
            continue;
        }
        let code = e.response_status.as_ref().map(|s| s.code).unwrap_or(0);
        if !(200..300).contains(&code) {
            continue;
        }
        let sub = e
            .object_ref
            .as_ref()
            .map(|r| r.subresource.clone())
            .unwrap_or_default();
        let change = |obj: Option<&Value>, deleted: bool| Change {
            time: e.stage_timestamp.clone(),
            received: e.request_received_timestamp.clone(),
            verb: e.verb.clone(),
            subresource: sub.clone(),
            resource_version: obj
                .and_then(|o| o["metadata"]["resourceVersion"].as_str())
                .map(str::to_string),
            deleted,
            user: e.user.username.clone(),
            code,
            audit_id: e.audit_id.clone(),
        };
        let body = e.response_object.as_ref();
        if e.verb == "deletecollection" {
            for item in body
                .and_then(|b| b["items"].as_array())
                .into_iter()
                .flatten()
            {
                if let Some(k) = key_of(e, Some(item)) {
                    let gone = !still_exists(item);
                    out.entry(k).or_default().push(change(Some(item), gone));
                }
            }
            continue;
        }
        // A Status body (a delete that removed the object, a binding, an eviction) carries no
        // object.
        let obj = body.filter(|b| b["kind"] != "Status");
        let Some(k) = key_of(e, obj) else { continue };
        // A delete removed the object unless the response shows it still held by a grace period,
        // finalizers, or a terminating namespace's spec finalizers.
        let deleted = e.verb == "delete" && sub.is_empty() && obj.is_none_or(|o| !still_exists(o));
        out.entry(k).or_default().push(change(obj, deleted));
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.time.cmp(&b.time));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(verb: &str, sub: &str, name: &str, code: i64, body: Option<Value>, t: &str) -> Event {
        serde_json::from_value(json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
            "auditID": format!("id-{t}"), "stage": "ResponseComplete",
            "requestURI": "/apis/apps/v1/namespaces/default/deployments", "verb": verb,
            "user": {"username": "kubernetes-admin"},
            "objectRef": {"resource": "deployments", "namespace": "default", "name": name, "apiGroup": "apps", "apiVersion": "v1", "subresource": sub},
            "responseStatus": {"metadata": {}, "code": code},
            "responseObject": body,
            "requestReceivedTimestamp": t, "stageTimestamp": t,
        }))
        .unwrap()
    }

    #[test]
    fn writes_per_object_with_resulting_resource_versions() {
        let events = vec![
            ev(
                "create",
                "",
                "",
                201,
                Some(
                    json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "resourceVersion": "10"}}),
                ),
                "2026-01-01T00:00:01.000000Z",
            ),
            ev("get", "", "web", 200, None, "2026-01-01T00:00:02.000000Z"),
            ev(
                "patch",
                "scale",
                "web",
                200,
                Some(
                    json!({"kind": "Scale", "metadata": {"name": "web", "resourceVersion": "12"}}),
                ),
                "2026-01-01T00:00:03.000000Z",
            ),
            ev(
                "update",
                "",
                "web",
                409,
                None,
                "2026-01-01T00:00:04.000000Z",
            ),
            ev(
                "delete",
                "",
                "web",
                200,
                Some(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
                "2026-01-01T00:00:05.000000Z",
            ),
        ];
        let c = changes(&events);
        let key = ObjectKey {
            group: "apps".into(),
            resource: "deployments".into(),
            namespace: "default".into(),
            name: "web".into(),
        };
        assert_eq!(key.to_string(), "deployments.apps/default/web");
        let list = &c[&key];
        let seen: Vec<(&str, &str, Option<&str>, bool)> = list
            .iter()
            .map(|c| {
                (
                    c.verb.as_str(),
                    c.subresource.as_str(),
                    c.resource_version.as_deref(),
                    c.deleted,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("create", "", Some("10"), false),
                ("patch", "scale", Some("12"), false),
                ("delete", "", None, true),
            ]
        );
    }
}
