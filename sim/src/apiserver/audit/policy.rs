//! The audit policy: `audit.k8s.io/v1` `Policy` read from `--audit-policy-file`
//! (staging/src/k8s.io/apiserver/pkg/audit/policy/reader.go `LoadPolicyFromBytes`), validated as
//! pkg/apis/audit/validation/validation.go does, and evaluated as policy/checker.go does: the first
//! rule whose users, groups, verbs, namespaces/resources or non-resource URLs all match decides the
//! level; the default is `None`; a rule's `omitStages` are united with the policy's.
//!
//! Decoding is not strict (unknown fields are ignored, as the audit codec factory does). The
//! `audit.k8s.io/v1alpha1` and `v1beta1` policy versions were removed in Kubernetes 1.24
//! (CHANGELOG-1.24: "audit.k8s.io/v1beta1 and audit.k8s.io/v1alpha1 ... removed"), so only `v1`
//! is read.

use serde::Deserialize;
use serde_json::Value;

/// How much of a request is recorded (`Level` in pkg/apis/audit/v1/types.go), ordered from least
/// to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Not audited.
    None,
    /// Request metadata (user, timestamps, resource, verb, …), no bodies.
    Metadata,
    /// Metadata and the request body (resource requests only).
    Request,
    /// Metadata, the request body and the response body (resource requests only).
    RequestResponse,
}

impl Level {
    /// The name in the API (`RequestResponse`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "None" => Level::None,
            "Metadata" => Level::Metadata,
            "Request" => Level::Request,
            "RequestResponse" => Level::RequestResponse,
            _ => return None,
        })
    }
}

/// A stage of request handling at which an event is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// As soon as the request is received, before it is handled.
    RequestReceived,
    /// Once the response headers are sent (long-running requests only, e.g. watches).
    ResponseStarted,
    /// Once the response body is complete.
    ResponseComplete,
    /// When handling panicked.
    Panic,
}

impl Stage {
    /// The name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }

    fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "RequestReceived" => Stage::RequestReceived,
            "ResponseStarted" => Stage::ResponseStarted,
            "ResponseComplete" => Stage::ResponseComplete,
            "Panic" => Stage::Panic,
            _ => return None,
        })
    }
}

/// Resources of one API group a rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupResources {
    /// The group (`""` is the core group).
    pub group: String,
    /// `pods`, `pods/log`, `*`, `pods/*`, `*/scale`; empty means every resource of the group.
    pub resources: Vec<String>,
    /// Object names; empty means every object.
    pub resource_names: Vec<String>,
}

/// One rule of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    /// The level of matching requests.
    pub level: Level,
    /// User names (empty: every user).
    pub users: Vec<String>,
    /// Groups, any of which matches (empty: every group).
    pub user_groups: Vec<String>,
    /// Verbs (empty: every verb).
    pub verbs: Vec<String>,
    /// Resources (empty: every resource).
    pub resources: Vec<GroupResources>,
    /// Namespaces (`""` matches cluster-scoped resources; empty: every namespace).
    pub namespaces: Vec<String>,
    /// Non-resource URL paths, `*` only as the last character.
    pub non_resource_urls: Vec<String>,
    /// Stages without events for matching requests (united with the policy's).
    pub omit_stages: Vec<Stage>,
    /// Overrides the policy's `omitManagedFields` when set.
    pub omit_managed_fields: Option<bool>,
}

/// A loaded, validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The rules, first match wins.
    pub rules: Vec<PolicyRule>,
    /// Stages without events for every request.
    pub omit_stages: Vec<Stage>,
    /// Whether managed fields are dropped from logged bodies by default.
    pub omit_managed_fields: bool,
}

/// What a request looks like to the policy (authorizer.Attributes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestAttributes {
    /// The authenticated user's name.
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The Kubernetes verb (`get`, `list`, `watch`, `create`, …) or the lower-cased HTTP method.
    pub verb: String,
    /// Whether this is a resource request (else `path` is what matters).
    pub resource_request: bool,
    /// The API group.
    pub api_group: String,
    /// The resource (`pods`).
    pub resource: String,
    /// The subresource (`status`).
    pub subresource: String,
    /// The namespace (`""` for cluster-scoped resources and cluster-wide lists).
    pub namespace: String,
    /// The object name.
    pub name: String,
    /// The URL path.
    pub path: String,
}

/// What the policy decided for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The level.
    pub level: Level,
    /// Stages to leave out.
    pub omit_stages: Vec<Stage>,
    /// Whether to drop managed fields from logged bodies.
    pub omit_managed_fields: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPolicy {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    rules: Option<Vec<RawRule>>,
    #[serde(default)]
    omit_stages: Option<Vec<String>>,
    #[serde(default)]
    omit_managed_fields: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    users: Option<Vec<String>>,
    #[serde(default)]
    user_groups: Option<Vec<String>>,
    #[serde(default)]
    verbs: Option<Vec<String>>,
    #[serde(default)]
    resources: Option<Vec<RawGroupResources>>,
    #[serde(default)]
    namespaces: Option<Vec<String>>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Option<Vec<String>>,
    #[serde(default)]
    omit_stages: Option<Vec<String>>,
    #[serde(default)]
    omit_managed_fields: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGroupResources {
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    resources: Option<Vec<String>>,
    #[serde(default)]
    resource_names: Option<Vec<String>>,
}

/// Go's `%v` of a string slice: `[a b]`.
fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// A DNS-1123 subdomain (apimachinery/pkg/util/validation `IsDNS1123Subdomain`).
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

const VALID_STAGES: &str = "RequestReceived,ResponseStarted,ResponseComplete,Panic";

impl Policy {
    /// Loads a policy from YAML or JSON text (`LoadPolicyFromBytes`).
    ///
    /// # Errors
    /// The decoder's or validation's message, as kube-apiserver words it (`failed decoding: …`,
    /// `rules[0].level: Unsupported value: …`, `loaded illegal policy with 0 rules`).
    pub fn parse(text: &str) -> Result<Policy, String> {
        let doc: Value = serde_saphyr::from_str(text)
            .map_err(|e| format!("failed decoding: error converting YAML to JSON: {e}"))?;
        if !doc.is_object() {
            return Err(format!(
                "failed decoding: couldn't get version/kind; json parse error: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
                match doc {
                    Value::Array(_) => "array",
                    Value::String(_) => "string",
                    Value::Number(_) => "number",
                    Value::Bool(_) => "bool",
                    _ => "null",
                }
            ));
        }
        let raw: RawPolicy =
            serde_json::from_value(doc.clone()).map_err(|e| format!("failed decoding: {e}"))?;
        let kind = raw.kind.clone().unwrap_or_default();
        if kind.is_empty() {
            return Err(format!(
                "failed decoding: Object 'Kind' is missing in '{doc}'"
            ));
        }
        let api_version = raw.api_version.clone().unwrap_or_default();
        if api_version != "audit.k8s.io/v1" || kind != "Policy" {
            return Err(format!(
                "failed decoding: no kind {kind:?} is registered for version {api_version:?} in scheme \"k8s.io/apiserver/pkg/audit/scheme.go\""
            ));
        }
        let mut errors: Vec<String> = vec![];
        let mut rules = vec![];
        for (i, r) in raw.rules.unwrap_or_default().into_iter().enumerate() {
            let at = format!("rules[{i}]");
            let level_text = r.level.unwrap_or_default();
            let level = match Level::parse(&level_text) {
                Some(l) => l,
                None if level_text.is_empty() => {
                    errors.push(format!("{at}.level: Required value"));
                    Level::None
                }
                None => {
                    errors.push(format!(
                        "{at}.level: Unsupported value: {level_text:?}: supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\""
                    ));
                    Level::None
                }
            };
            let urls = r.non_resource_urls.unwrap_or_default();
            for (j, u) in urls.iter().enumerate() {
                if u == "*" {
                    continue;
                }
                if !u.starts_with('/') {
                    errors.push(format!(
                        "{at}.nonResourceURLs[{j}]: Invalid value: {u:?}: non-resource URL rules must begin with a '/' character"
                    ));
                }
                if !u.is_empty() && u[..u.len() - 1].contains('*') {
                    errors.push(format!(
                        "{at}.nonResourceURLs[{j}]: Invalid value: {u:?}: non-resource URL wildcards '*' must be the final character of the rule"
                    ));
                }
            }
            let mut resources = vec![];
            for gr in r.resources.unwrap_or_default() {
                let g = GroupResources {
                    group: gr.group.unwrap_or_default(),
                    resources: gr.resources.unwrap_or_default(),
                    resource_names: gr.resource_names.unwrap_or_default(),
                };
                if !g.group.is_empty() && !is_dns_subdomain(&g.group) {
                    errors.push(format!(
                        "{at}.resources.group: Invalid value: {:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                        g.group
                    ));
                }
                if !g.resource_names.is_empty() && g.resources.is_empty() {
                    errors.push(format!(
                        "{at}.resources.resourceNames: Invalid value: {}: using resourceNames requires at least one resource",
                        go_list(&g.resource_names)
                    ));
                }
                resources.push(g);
            }
            let mut omit = vec![];
            for (j, s) in r.omit_stages.unwrap_or_default().iter().enumerate() {
                match Stage::parse(s) {
                    Some(st) => omit.push(st),
                    None => errors.push(format!(
                        "{at}.omitStages[{j}]: Invalid value: {s:?}: allowed stages are {VALID_STAGES}"
                    )),
                }
            }
            let namespaces = r.namespaces.unwrap_or_default();
            if !urls.is_empty() && (!resources.is_empty() || !namespaces.is_empty()) {
                errors.push(format!(
                    "{at}.nonResourceURLs: Invalid value: {}: rules cannot apply to both regular resources and non-resource URLs",
                    go_list(&urls)
                ));
            }
            rules.push(PolicyRule {
                level,
                users: r.users.unwrap_or_default(),
                user_groups: r.user_groups.unwrap_or_default(),
                verbs: r.verbs.unwrap_or_default(),
                resources,
                namespaces,
                non_resource_urls: urls,
                omit_stages: omit,
                omit_managed_fields: r.omit_managed_fields,
            });
        }
        // The policy-wide omitStages are not validated upstream; unknown names never match a stage.
        let omit_stages: Vec<Stage> = raw
            .omit_stages
            .unwrap_or_default()
            .iter()
            .filter_map(|s| Stage::parse(s))
            .collect();
        // utilerrors.NewAggregate: one error as is, several in brackets.
        match errors.len() {
            0 => {}
            1 => return Err(errors.remove(0)),
            _ => return Err(format!("[{}]", errors.join(", "))),
        }
        if rules.is_empty() {
            return Err("loaded illegal policy with 0 rules".into());
        }
        Ok(Policy {
            rules,
            omit_stages,
            omit_managed_fields: raw.omit_managed_fields.unwrap_or(false),
        })
    }

    /// Reads and loads `path` (`LoadPolicyFromFile`).
    ///
    /// # Errors
    /// `failed to read file path "…": …` or the load error with `: from file <path>`.
    pub fn load(path: &std::path::Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "failed to read file path {:?}: {e}",
                path.display().to_string()
            )
        })?;
        Policy::parse(&text).map_err(|e| format!("{e}: from file {}", path.display()))
    }

    /// The level and omitted stages for a request (`policyChecker.LevelAndStages`).
    pub fn evaluate(&self, a: &RequestAttributes) -> Decision {
        for r in &self.rules {
            if rule_matches(r, a) {
                let mut omit = self.omit_stages.clone();
                for s in &r.omit_stages {
                    if !omit.contains(s) {
                        omit.push(*s);
                    }
                }
                return Decision {
                    level: r.level,
                    omit_stages: omit,
                    omit_managed_fields: r.omit_managed_fields.unwrap_or(self.omit_managed_fields),
                };
            }
        }
        Decision {
            level: Level::None,
            omit_stages: self.omit_stages.clone(),
            omit_managed_fields: self.omit_managed_fields,
        }
    }
}

fn has(list: &[String], v: &str) -> bool {
    list.iter().any(|x| x == v)
}

fn rule_matches(r: &PolicyRule, a: &RequestAttributes) -> bool {
    if !r.users.is_empty() && !has(&r.users, &a.user) {
        return false;
    }
    if !r.user_groups.is_empty() && !a.groups.iter().any(|g| has(&r.user_groups, g)) {
        return false;
    }
    if !r.verbs.is_empty() && !has(&r.verbs, &a.verb) {
        return false;
    }
    if !r.namespaces.is_empty() || !r.resources.is_empty() {
        return resource_matches(r, a);
    }
    if !r.non_resource_urls.is_empty() {
        return !a.resource_request && r.non_resource_urls.iter().any(|s| path_matches(&a.path, s));
    }
    true
}

fn path_matches(path: &str, spec: &str) -> bool {
    spec == "*"
        || spec == path
        || spec
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix.trim_end_matches('*')))
}

fn resource_matches(r: &PolicyRule, a: &RequestAttributes) -> bool {
    if !a.resource_request {
        return false;
    }
    if !r.namespaces.is_empty() && !has(&r.namespaces, &a.namespace) {
        return false;
    }
    if r.resources.is_empty() {
        return true;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    r.resources
        .iter()
        .filter(|gr| gr.group == a.api_group)
        .any(|gr| {
            if gr.resources.is_empty() {
                return true;
            }
            if !gr.resource_names.is_empty() && !has(&gr.resource_names, &a.name) {
                return false;
            }
            gr.resources.iter().any(|res| {
                res == &combined
                    || res == "*"
                    || (!a.subresource.is_empty() && res.strip_prefix("*/") == Some(&a.subresource))
                    || res.strip_suffix("/*") == Some(&a.resource)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        user: &str,
        verb: &str,
        group: &str,
        resource: &str,
        sub: &str,
        ns: &str,
    ) -> RequestAttributes {
        RequestAttributes {
            user: user.into(),
            groups: vec!["system:authenticated".into()],
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: "x".into(),
            path: String::new(),
        }
    }

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", /version]
- level: None
  users: ["system:kube-proxy"]
  verbs: ["watch"]
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets", "configmaps", "serviceaccounts/token"]
- level: RequestResponse
  verbs: [create, update, patch, delete, deletecollection]
  resources:
  - group: ""
    resources: ["pods", "pods/*", "nodes", "nodes/status", "events"]
  - group: apps
  - group: coordination.k8s.io
    resources: [leases]
  omitStages: [ResponseStarted]
- level: Request
  namespaces: [kube-system]
- level: Metadata
"#;

    #[test]
    fn first_matching_rule_decides() {
        let p = Policy::parse(POLICY).unwrap();
        assert_eq!(p.rules.len(), 6);
        let d = p.evaluate(&req("me", "patch", "", "pods", "status", "default"));
        assert_eq!(d.level, Level::RequestResponse);
        assert_eq!(d.omit_stages.len(), 2, "policy and rule stages united");
        assert_eq!(
            p.evaluate(&req(
                "me",
                "update",
                "apps",
                "deployments",
                "scale",
                "default"
            ))
            .level,
            Level::RequestResponse,
            "an empty resource list matches the whole group, subresources too"
        );
        assert_eq!(
            p.evaluate(&req("me", "get", "", "secrets", "", "default"))
                .level,
            Level::Metadata
        );
        assert_eq!(
            p.evaluate(&req(
                "me",
                "create",
                "",
                "serviceaccounts",
                "token",
                "default"
            ))
            .level,
            Level::Metadata
        );
        assert_eq!(
            p.evaluate(&req("me", "list", "", "pods", "", "kube-system"))
                .level,
            Level::Request,
            "reads fall through to the namespace rule"
        );
        assert_eq!(
            p.evaluate(&req("system:kube-proxy", "watch", "", "services", "", ""))
                .level,
            Level::None
        );
        let health = RequestAttributes {
            verb: "get".into(),
            path: "/readyz/etcd".into(),
            ..Default::default()
        };
        assert_eq!(p.evaluate(&health).level, Level::None);
        let root = RequestAttributes {
            verb: "get".into(),
            path: "/api".into(),
            ..Default::default()
        };
        assert_eq!(p.evaluate(&root).level, Level::Metadata);
        assert_eq!(
            p.evaluate(&req("me", "list", "", "pods", "", "")).level,
            Level::Metadata,
            "\"\" is not kube-system"
        );
    }

    #[test]
    fn wildcards_and_names() {
        let p = Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n  resources:\n  - group: \"\"\n    resources: [\"*/scale\"]\n- level: RequestResponse\n  resources:\n  - group: \"\"\n    resources: [configmaps]\n    resourceNames: [kubeadm-config]\n").unwrap();
        assert_eq!(
            p.evaluate(&req("u", "get", "", "replicationcontrollers", "scale", "d"))
                .level,
            Level::Request
        );
        let mut a = req("u", "get", "", "configmaps", "", "kube-system");
        assert_eq!(
            p.evaluate(&a).level,
            Level::None,
            "other names do not match"
        );
        a.name = "kubeadm-config".into();
        assert_eq!(p.evaluate(&a).level, Level::RequestResponse);
    }

    #[test]
    fn invalid_policies_are_refused_with_upstreams_messages() {
        assert_eq!(
            Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n").unwrap_err(),
            "loaded illegal policy with 0 rules"
        );
        assert_eq!(
            Policy::parse(
                "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n"
            )
            .unwrap_err(),
            "rules[0].level: Unsupported value: \"Everything\": supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\""
        );
        assert_eq!(
            Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- verbs: [get]\n- level: Metadata\n  omitStages: [Later]\n").unwrap_err(),
            "[rules[0].level: Required value, rules[1].omitStages[0]: Invalid value: \"Later\": allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic]"
        );
        assert_eq!(
            Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  namespaces: [x]\n  nonResourceURLs: [/api]\n").unwrap_err(),
            "rules[0].nonResourceURLs: Invalid value: [/api]: rules cannot apply to both regular resources and non-resource URLs"
        );
        assert_eq!(
            Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  nonResourceURLs: [\"/a*b\", api]\n").unwrap_err(),
            "[rules[0].nonResourceURLs[0]: Invalid value: \"/a*b\": non-resource URL wildcards '*' must be the final character of the rule, rules[0].nonResourceURLs[1]: Invalid value: \"api\": non-resource URL rules must begin with a '/' character]"
        );
        assert!(
            Policy::parse("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n")
                .unwrap_err()
                .starts_with("failed decoding: no kind \"Policy\" is registered for version \"audit.k8s.io/v1beta1\"")
        );
        assert!(
            Policy::parse("rules:\n- level: Metadata\n")
                .unwrap_err()
                .starts_with("failed decoding: Object 'Kind' is missing in")
        );
        let err = Policy::load(std::path::Path::new("/nonexistent/policy.yaml")).unwrap_err();
        assert!(
            err.starts_with("failed to read file path \"/nonexistent/policy.yaml\": "),
            "{err}"
        );
    }
}
