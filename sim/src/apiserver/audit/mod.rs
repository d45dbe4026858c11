//! Auditing: kube-apiserver's audit log (staging/src/k8s.io/apiserver/pkg/audit,
//! pkg/endpoints/filters/audit.go, plugin/pkg/audit/log; docs:
//! https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/).
//!
//! With `--audit-policy-file` and `--audit-log-path`, every request is matched against the
//! [`policy::Policy`]; unless its level is `None`, events go to the log ([`log::LogWriter`]) at
//! these stages (minus the omitted ones): `RequestReceived` before the request is handled,
//! `ResponseStarted` once the headers of a long-running request (watch, `log`, `exec`, `proxy`, …:
//! `BasicLongRunningRequestCheck`) are sent, `ResponseComplete` when the body is done. A failed
//! authentication is one `ResponseStarted` event with code 401 (`WithFailedAuthenticationAudit`).
//! The objectRef is completed from the request object (`audit.LogRequestObject`: namespace, name,
//! uid, resourceVersion), the request body is kept from level `Request`, the response body from
//! `RequestResponse` (resource requests only), the response's `Status` in `responseStatus`
//! (`audit.LogResponseObject`), and authorization's decision in the annotations
//! `authorization.k8s.io/decision` and `authorization.k8s.io/reason`.
//!
//! labsim's audit log is also labsim's own event log: with a policy that logs writes at
//! `RequestResponse`, every change the cluster sees is there with its time and resulting
//! resourceVersion ([`reader`]).

pub mod event;
pub mod log;
pub mod policy;
pub mod reader;

use std::sync::Arc;

use serde_json::Value;

use self::event::{Event, ObjectReference, ResponseStatus, UserInfo, micro_time};
use self::policy::{Level, Policy, RequestAttributes, Stage};
use super::flags::Flags;

/// The environment variable that asks `minikube start` (labsim's) for labsim's event log.
pub const EVENT_LOG_ENV: &str = "LABSIM_EVENT_LOG";
/// Where labsim's kubeadm writes [`LABSIM_POLICY`] on the control-plane node (the path of the
/// Kubernetes auditing docs' example).
pub const POLICY_PATH: &str = "/etc/kubernetes/audit-policy.yaml";
/// The audit log's directory on the control-plane node.
pub const LOG_DIR: &str = "/var/log/kubernetes/audit";
/// The audit log on the control-plane node.
pub const LOG_PATH: &str = "/var/log/kubernetes/audit/audit.log";

/// The audit policy labsim's kubeadm writes when a profile asks for labsim's event log
/// (docs/labsim.md, "labsim's event log"): every write with its request and resulting object, the
/// rest as metadata; health probes are left out, and bodies that can hold secrets are never logged.
pub const LABSIM_POLICY: &str = r#"# labsim's event log (written by labsim's kubeadm because the profile asked for it).
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  # Probes hit these every second; they change nothing.
  - level: None
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version"]
  # Bodies that hold secrets: metadata only.
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps", "serviceaccounts/token"]
      - group: authentication.k8s.io
        resources: ["tokenreviews"]
      - group: certificates.k8s.io
        resources: ["certificatesigningrequests"]
  # What the timeline watches, with the resulting object.
  - level: RequestResponse
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
    resources:
      - group: ""
        resources: ["pods", "pods/*", "nodes", "nodes/*", "events"]
      - group: coordination.k8s.io
        resources: ["leases"]
      - group: events.k8s.io
        resources: ["events"]
  # Every other write too, so each change has its resulting resourceVersion.
  - level: RequestResponse
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  # Reads and watches: who looked at what.
  - level: Metadata
"#;

/// The audit configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The policy file is missing or invalid.
    #[error("loading audit policy file: {0}")]
    Policy(String),
    /// The log file cannot be created.
    #[error("cannot open the audit log {path}: {source}")]
    Open {
        /// `--audit-log-path`.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A flag value is invalid (the messages of `AuditLogOptions.Validate`).
    #[error("{0}")]
    Invalid(String),
    /// An audit feature labsim does not have.
    #[error(
        "{0} is not implemented by labsim's kube-apiserver: use the log backend (--audit-log-path) without it"
    )]
    Unsupported(String),
}

/// The audit backend of a running API server.
#[derive(Debug)]
pub struct Auditor {
    policy: Policy,
    writer: log::LogWriter,
}

fn int_flag(flags: &Flags, name: &str) -> Result<i64, AuditError> {
    match flags.get(name) {
        None => Ok(0),
        Some(v) => v.parse::<i64>().map_err(|_| {
            AuditError::Invalid(format!(
                "invalid argument {v:?} for \"--{name}\" flag: strconv.ParseInt: parsing {v:?}: invalid syntax"
            ))
        }),
    }
}

impl Auditor {
    /// The audit backend the flags ask for: None without `--audit-log-path` or without a policy
    /// (kube-apiserver then records nothing: "No audit policy file provided, no events will be
    /// recorded for log backend").
    ///
    /// # Errors
    /// [`AuditError`] for an invalid policy, invalid log options (`--audit-log-maxage -1 can't be a
    /// negative number`, an unknown `--audit-log-format` or `--audit-log-mode`), an unusable log
    /// path, or an audit feature labsim does not implement (webhooks, compression, `legacy`).
    pub fn from_flags(flags: &Flags) -> Result<Option<Arc<Auditor>>, AuditError> {
        if flags
            .get("audit-webhook-config-file")
            .is_some_and(|f| !f.is_empty())
        {
            return Err(AuditError::Unsupported(
                "--audit-webhook-config-file".into(),
            ));
        }
        let path = flags.get("audit-log-path").unwrap_or_default();
        if path.is_empty() {
            return Ok(None);
        }
        // AuditLogOptions.Validate (apiserver/pkg/server/options/audit.go).
        let mut errors = vec![];
        let format = flags.get_or("audit-log-format", "json");
        if format != "json" && format != "legacy" {
            errors.push(format!(
                "invalid audit log format {format}, allowed formats are \"legacy,json\""
            ));
        }
        let mode = flags.get_or("audit-log-mode", "blocking");
        if !["batch", "blocking", "blocking-strict"].contains(&mode) {
            errors.push(format!(
                "invalid audit log mode {mode}, allowed modes are \"batch,blocking,blocking-strict\""
            ));
        }
        let version = flags.get_or("audit-log-version", "audit.k8s.io/v1");
        if version != "audit.k8s.io/v1" {
            errors.push(format!(
                "invalid group version, allowed versions are \"[audit.k8s.io/v1]\"; labsim writes {version:?} events only as audit.k8s.io/v1"
            ));
        }
        let max_age = int_flag(flags, "audit-log-maxage")?;
        let max_backups = int_flag(flags, "audit-log-maxbackup")?;
        let max_size = int_flag(flags, "audit-log-maxsize")?;
        for (name, v) in [
            ("audit-log-maxage", max_age),
            ("audit-log-maxbackup", max_backups),
            ("audit-log-maxsize", max_size),
        ] {
            if v < 0 {
                errors.push(format!("--{name} {v} can't be a negative number"));
            }
        }
        match errors.len() {
            0 => {}
            1 => return Err(AuditError::Invalid(errors.remove(0))),
            _ => return Err(AuditError::Invalid(format!("[{}]", errors.join(", ")))),
        }
        if format == "legacy" {
            return Err(AuditError::Unsupported("--audit-log-format=legacy".into()));
        }
        if flags.bool("audit-log-compress", false) {
            return Err(AuditError::Unsupported("--audit-log-compress".into()));
        }
        let Some(policy_file) = flags.get("audit-policy-file").filter(|f| !f.is_empty()) else {
            eprintln!(
                "labsim kube-apiserver: no audit policy file provided, no events will be recorded for log backend"
            );
            return Ok(None);
        };
        let policy = Policy::load(std::path::Path::new(policy_file)).map_err(AuditError::Policy)?;
        let writer = log::LogWriter::open(
            path,
            log::Rotation {
                max_size_mb: max_size as u64,
                max_backups: max_backups as usize,
                max_age_days: max_age as u64,
            },
        )
        .map_err(|source| AuditError::Open {
            path: path.to_string(),
            source,
        })?;
        Ok(Some(Arc::new(Auditor { policy, writer })))
    }

    /// An auditor with `policy` writing to `writer` (for tests).
    pub fn new(policy: Policy, writer: log::LogWriter) -> Auditor {
        Auditor { policy, writer }
    }

    fn write(&self, ev: &Event) {
        let line = serde_json::to_string(ev).expect("events serialise");
        if let Err(e) = self.writer.write_line(&line) {
            // The blocking mode ignores backend errors after logging them.
            eprintln!("Error in audit plugin 'log' affecting 1 audit events: {e}");
        }
    }

    /// Starts the audit record of a request, or None when the policy says `None`. Emits
    /// `RequestReceived` unless omitted.
    pub fn begin(self: &Arc<Self>, req: RequestInfo) -> Option<Record> {
        let decision = self.policy.evaluate(&req.attributes);
        if decision.level == Level::None {
            return None;
        }
        let event = Event {
            kind: "Event".into(),
            api_version: "audit.k8s.io/v1".into(),
            level: decision.level.as_str().into(),
            audit_id: req.audit_id,
            stage: String::new(),
            request_uri: req.request_uri,
            verb: req.attributes.verb.clone(),
            user: req.user,
            source_ips: req.source_ips,
            user_agent: req.user_agent,
            object_ref: req.attributes.resource_request.then(|| ObjectReference {
                resource: req.attributes.resource.clone(),
                namespace: req.attributes.namespace.clone(),
                name: req.attributes.name.clone(),
                api_group: req.attributes.api_group.clone(),
                api_version: req.api_version.clone(),
                subresource: req.attributes.subresource.clone(),
                ..Default::default()
            }),
            response_status: None,
            request_object: None,
            response_object: None,
            request_received_timestamp: micro_time(req.received),
            stage_timestamp: String::new(),
            annotations: Default::default(),
        };
        let mut rec = Record {
            auditor: self.clone(),
            event,
            level: decision.level,
            omit: decision.omit_stages,
            omit_managed_fields: decision.omit_managed_fields,
            long_running: req.long_running,
            completed: false,
        };
        rec.emit(Stage::RequestReceived);
        Some(rec)
    }

    /// Records a failed authentication: one `ResponseStarted` event with code 401 and no user
    /// (`WithFailedAuthenticationAudit`), unless the policy says `None`.
    pub fn unauthorized(self: &Arc<Self>, mut req: RequestInfo) {
        req.user = UserInfo::default();
        req.attributes.user.clear();
        req.attributes.groups.clear();
        if let Some(mut rec) = self.begin(req) {
            rec.event.response_status = Some(ResponseStatus::code(401));
            rec.emit(Stage::ResponseStarted);
            rec.completed = true;
        }
    }
}

/// What the audit filter knows about a request before it is handled.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// A fresh UUID (also sent back as the `Audit-Id` header).
    pub audit_id: String,
    /// The request URI (path and query).
    pub request_uri: String,
    /// Attributes for the policy.
    pub attributes: RequestAttributes,
    /// The API version of a resource request.
    pub api_version: String,
    /// The user.
    pub user: UserInfo,
    /// Source IPs.
    pub source_ips: Vec<String>,
    /// The User-Agent.
    pub user_agent: String,
    /// When the request arrived.
    pub received: jiff::Timestamp,
    /// Whether the request is long-running (gets a `ResponseStarted` event).
    pub long_running: bool,
}

/// The source IPs of a request (`utilnet.SourceIPs`): the `X-Forwarded-For` list, then `X-Real-Ip`
/// unless already listed, then the connection's address unless it is the last one listed.
pub fn source_ips(headers: &hyper::HeaderMap, remote: Option<std::net::IpAddr>) -> Vec<String> {
    let mut ips: Vec<String> = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(real) = headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
        && !ips.iter().any(|i| i == real)
    {
        ips.push(real.to_string());
    }
    if let Some(r) = remote {
        let r = r.to_string();
        if ips.last() != Some(&r) {
            ips.push(r);
        }
    }
    ips
}

/// Whether a request is long-running (kube-apiserver's `BasicLongRunningRequestCheck` with verbs
/// `watch`, `proxy` and subresources `attach`, `exec`, `proxy`, `log`, `portforward`).
pub fn is_long_running(verb: &str, subresource: &str) -> bool {
    matches!(verb, "watch" | "proxy")
        || matches!(
            subresource,
            "attach" | "exec" | "proxy" | "log" | "portforward"
        )
}

/// The audit record of one request in flight.
#[derive(Debug)]
pub struct Record {
    auditor: Arc<Auditor>,
    event: Event,
    level: Level,
    omit: Vec<Stage>,
    omit_managed_fields: bool,
    long_running: bool,
    completed: bool,
}

fn drop_managed_fields(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        for i in items {
            drop_managed_fields(i);
        }
    }
}

impl Record {
    /// The request's level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The audit ID.
    pub fn audit_id(&self) -> &str {
        &self.event.audit_id
    }

    fn emit(&mut self, stage: Stage) {
        if self.omit.contains(&stage) {
            return;
        }
        self.event.stage = stage.as_str().into();
        self.event.stage_timestamp = if stage == Stage::RequestReceived {
            self.event.request_received_timestamp.clone()
        } else {
            micro_time(jiff::Timestamp::now())
        };
        self.auditor.write(&self.event);
    }

    /// Adds an annotation (`authorization.k8s.io/decision`, …).
    pub fn annotate(&mut self, key: &str, value: &str) {
        self.event.annotations.insert(key.into(), value.into());
    }

    /// Records the request body: completes the objectRef from an object's metadata
    /// (`LogRequestObject`) and keeps the body from level `Request` on. A patch is kept as sent
    /// (`LogRequestPatch`) and completes nothing.
    pub fn request_body(&mut self, body: &Value, is_patch: bool) {
        if self.event.object_ref.is_none() {
            return;
        }
        if !is_patch && let Some(meta) = body.get("metadata").filter(|m| m.is_object()) {
            let r = self.event.object_ref.as_mut().expect("checked");
            let s = |k: &str| meta[k].as_str().unwrap_or_default().to_string();
            if r.namespace.is_empty() {
                r.namespace = s("namespace");
            }
            if r.name.is_empty() {
                r.name = s("name");
            }
            if r.uid.is_empty() {
                r.uid = s("uid");
            }
            if r.resource_version.is_empty() {
                r.resource_version = s("resourceVersion");
            }
        }
        if self.level >= Level::Request {
            let mut b = body.clone();
            if self.omit_managed_fields {
                drop_managed_fields(&mut b);
            }
            self.event.request_object = Some(b);
        }
    }

    /// Records the response: its code, its `Status` (for Status bodies) and, from level
    /// `RequestResponse` on, the body of a resource request.
    pub fn response(&mut self, code: u16, body: Option<&Value>) {
        self.event.response_status = Some(match body {
            Some(b) if b["kind"] == "Status" && b["apiVersion"] == "v1" => {
                ResponseStatus::from_status(b, code)
            }
            _ => ResponseStatus::code(code),
        });
        if self.level >= Level::RequestResponse
            && self.event.object_ref.is_some()
            && let Some(b) = body
        {
            let mut b = b.clone();
            if self.omit_managed_fields {
                drop_managed_fields(&mut b);
            }
            self.event.response_object = Some(b);
        }
    }

    /// The headers of a long-running response are out: `ResponseStarted`.
    pub fn started(&mut self, code: u16) {
        if self.event.response_status.is_none() {
            self.event.response_status = Some(ResponseStatus::code(code));
        }
        if self.long_running {
            self.emit(Stage::ResponseStarted);
        }
    }

    /// The response is complete: `ResponseComplete` (once).
    pub fn complete(&mut self) {
        if self.completed {
            return;
        }
        self.completed = true;
        if self.event.response_status.is_none() {
            // Nothing was written (a connection closed early): upstream fakes a success.
            self.event.response_status = Some(ResponseStatus {
                status: "Success".into(),
                message: "Connection closed early".into(),
                ..ResponseStatus::code(200)
            });
        }
        self.emit(Stage::ResponseComplete);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.complete();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn info(verb: &str, resource: &str, name: &str) -> RequestInfo {
        RequestInfo {
            audit_id: "id-1".into(),
            request_uri: format!("/api/v1/namespaces/default/{resource}"),
            attributes: RequestAttributes {
                user: "kubernetes-admin".into(),
                groups: vec!["system:authenticated".into()],
                verb: verb.into(),
                resource_request: true,
                resource: resource.into(),
                namespace: "default".into(),
                name: name.into(),
                ..Default::default()
            },
            api_version: "v1".into(),
            user: UserInfo {
                username: "kubernetes-admin".into(),
                ..Default::default()
            },
            source_ips: vec!["127.0.0.1".into()],
            user_agent: "kubectl/v1.33.1".into(),
            received: jiff::Timestamp::now(),
            long_running: is_long_running(verb, ""),
        }
    }

    #[test]
    fn stages_levels_and_bodies() {
        let dir = std::env::temp_dir().join(format!("labsim-audit-{}", std::process::id()));
        let path = dir.join("audit.log");
        let policy = Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: RequestResponse\n  verbs: [create]\n  omitManagedFields: true\n- level: Metadata\n").unwrap();
        let a = Arc::new(Auditor::new(
            policy,
            log::LogWriter::open(path.to_str().unwrap(), log::Rotation::default()).unwrap(),
        ));
        let mut rec = a.begin(info("create", "pods", "")).unwrap();
        rec.annotate("authorization.k8s.io/decision", "allow");
        rec.request_body(
            &json!({"metadata": {"name": "web", "managedFields": [{}]}, "spec": {}}),
            false,
        );
        rec.response(
            201,
            Some(&json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web", "resourceVersion": "42", "managedFields": [{}]}})),
        );
        drop(rec);
        let mut w = a.begin(info("watch", "pods", "")).unwrap();
        w.started(200);
        w.complete();
        drop(w);
        let mut g = a.begin(info("get", "pods", "nope")).unwrap();
        g.response(
            404,
            Some(&json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "pods \"nope\" not found", "reason": "NotFound", "details": {"name": "nope", "kind": "pods"}, "code": 404})),
        );
        g.complete();
        drop(g);
        a.unauthorized(info("get", "pods", "x"));
        let events: Vec<Event> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        let stages: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.verb.as_str(), e.stage.as_str()))
            .collect();
        assert_eq!(
            stages,
            [
                ("create", "ResponseComplete"),
                ("watch", "ResponseStarted"),
                ("watch", "ResponseComplete"),
                ("get", "ResponseComplete"),
                ("get", "ResponseStarted"),
            ]
        );
        let c = &events[0];
        assert_eq!(c.level, "RequestResponse");
        assert_eq!(
            c.object_ref.as_ref().unwrap().name,
            "web",
            "completed from the body"
        );
        assert_eq!(
            c.response_object.as_ref().unwrap()["metadata"]["resourceVersion"],
            "42"
        );
        assert!(c.response_object.as_ref().unwrap()["metadata"]["managedFields"].is_null());
        assert!(c.request_object.as_ref().unwrap()["metadata"]["managedFields"].is_null());
        assert_eq!(c.annotations["authorization.k8s.io/decision"], "allow");
        assert_eq!(events[1].level, "Metadata");
        assert!(
            events[3].response_object.is_none(),
            "Metadata keeps no bodies"
        );
        assert_eq!(
            events[3].response_status.as_ref().unwrap().reason,
            "NotFound"
        );
        assert_eq!(events[4].response_status.as_ref().unwrap().code, 401);
        assert!(events[4].user.username.is_empty());
    }

    #[test]
    fn labsims_policy_logs_writes_with_bodies_and_secrets_without() {
        let p = Policy::parse(LABSIM_POLICY).unwrap();
        let at = |verb: &str, group: &str, resource: &str, sub: &str| {
            let mut a = info(verb, resource, "x").attributes;
            a.api_group = group.into();
            a.subresource = sub.into();
            p.evaluate(&a).level
        };
        assert_eq!(at("patch", "", "pods", "status"), Level::RequestResponse);
        assert_eq!(
            at("update", "coordination.k8s.io", "leases", ""),
            Level::RequestResponse
        );
        assert_eq!(
            at("patch", "apps", "deployments", "scale"),
            Level::RequestResponse
        );
        assert_eq!(at("create", "", "secrets", ""), Level::Metadata);
        assert_eq!(
            at("create", "", "serviceaccounts", "token"),
            Level::Metadata
        );
        assert_eq!(at("watch", "", "pods", ""), Level::Metadata);
        let probe = RequestAttributes {
            verb: "get".into(),
            path: "/livez".into(),
            ..Default::default()
        };
        assert_eq!(p.evaluate(&probe).level, Level::None);
        assert_eq!(p.evaluate(&probe).omit_stages, [Stage::RequestReceived]);
    }

    #[test]
    fn source_ips_follow_forwarding_headers() {
        let mut h = hyper::HeaderMap::new();
        let remote = Some("127.0.0.1".parse().unwrap());
        assert_eq!(source_ips(&h, remote), ["127.0.0.1"]);
        h.insert("x-forwarded-for", "10.0.0.1, 10.0.0.2".parse().unwrap());
        h.insert("x-real-ip", "10.0.0.2".parse().unwrap());
        assert_eq!(
            source_ips(&h, remote),
            ["10.0.0.1", "10.0.0.2", "127.0.0.1"]
        );
        assert!(is_long_running("get", "log"));
        assert!(!is_long_running("get", "status"));
    }
}
