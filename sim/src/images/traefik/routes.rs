//! Traefik's Kubernetes Ingress provider as pure functions: from Ingresses, IngressClasses,
//! Services and EndpointSlices (traefik v3) or Endpoints (traefik v2) to a routing table, and the
//! routing decision for one request (traefik pkg/provider/kubernetes/ingress/kubernetes.go,
//! pkg/muxer/http).
//!
//! - An Ingress is handled when it names an IngressClass whose controller is
//!   `traefik.io/ingress-controller` (and matches `--providers.kubernetesingress.ingressclass` if
//!   set), or has no class and either no `kubernetes.io/ingress.class` annotation or
//!   `traefik` (`shouldProcessIngress`).
//! - Each rule path becomes a router: `Host(`h`)` (`HostRegexp` for `*.` wildcards) and, for a
//!   path, `Path(`p`)` for `Exact` or `PathPrefix(`p`)` for `Prefix` and `ImplementationSpecific`
//!   (a plain string prefix, as traefik matches it); priority is the rule's length, longest first.
//!   An Ingress without rules but with a default backend gives the catch-all `PathPrefix(`/`)`
//!   router of the lowest priority.
//! - A backend is the Service port matching the backend's number or name; its servers are the
//!   addresses of ready endpoints on the port of the same name. A service without servers is
//!   skipped (`Skipping service: no endpoints found`), so its routes answer 404, as traefik does
//!   without `allowEmptyServices`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

/// Provider options (`--providers.kubernetesingress.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderOptions {
    /// `ingressClass`.
    pub ingress_class: String,
    /// `namespaces` (empty: all).
    pub namespaces: Vec<String>,
    /// `allowEmptyServices`.
    pub allow_empty_services: bool,
    /// `allowExternalNameServices`.
    pub allow_external_name_services: bool,
    /// Read endpoints from EndpointSlices (traefik v3) rather than Endpoints (v2).
    pub endpoint_slices: bool,
}

/// What the provider watches.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// networking.k8s.io/v1 Ingresses.
    pub ingresses: Vec<Value>,
    /// networking.k8s.io/v1 IngressClasses.
    pub ingress_classes: Vec<Value>,
    /// v1 Services.
    pub services: Vec<Value>,
    /// discovery.k8s.io/v1 EndpointSlices.
    pub endpoint_slices: Vec<Value>,
    /// v1 Endpoints.
    pub endpoints: Vec<Value>,
}

/// One matcher of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// `Host(`h`)`: the request host, without port, case-insensitive.
    Host(String),
    /// `HostRegexp` of a `*.suffix` wildcard: one DNS label then `.suffix`.
    WildcardHost(String),
    /// `Path(`p`)`.
    Path(String),
    /// `PathPrefix(`p`)`.
    PathPrefix(String),
}

/// A router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// Router name (`default-hello-hello-` style).
    pub key: String,
    /// The rule's matchers (all must match).
    pub matchers: Vec<Matcher>,
    /// The rule as traefik writes it.
    pub rule: String,
    /// Priority (the rule's length; `i32::MIN` for the default backend).
    pub priority: i64,
    /// The service name.
    pub service: String,
}

/// A backend server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `http` or `https`.
    pub scheme: String,
    /// The address as Kubernetes reports it (a pod IP).
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
}

/// An error the provider logs while building the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// The message.
    pub msg: &'static str,
    /// `error` field, if any.
    pub error: Option<String>,
    /// Ingress name.
    pub ingress: String,
    /// Namespace.
    pub namespace: String,
    /// Backend service.
    pub service_name: String,
    /// Backend port as client-go prints a `ServiceBackendPort`.
    pub service_port: String,
}

/// The routing table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Routers, highest priority first.
    pub routers: Vec<Router>,
    /// Services by name.
    pub services: BTreeMap<String, Vec<Server>>,
}

/// traefik's `provider.Normalize`: the runs of letters and digits joined by `-`
/// (`strings.FieldsFunc` + `strings.Join`).
pub fn normalize(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// client-go's `ServiceBackendPort.String()`: `&ServiceBackendPort{Name:,Number:80,}`.
fn port_string(port: &Value) -> String {
    format!(
        "&ServiceBackendPort{{Name:{},Number:{},}}",
        port["name"].as_str().unwrap_or(""),
        port["number"].as_i64().unwrap_or(0)
    )
}

fn should_process(opts: &ProviderOptions, ingress: &Value, classes: &[&Value]) -> bool {
    if let Some(class) = ingress
        .pointer("/spec/ingressClassName")
        .and_then(Value::as_str)
    {
        return classes.iter().any(|c| s(c, "/metadata/name") == class);
    }
    let annotation = s(
        ingress,
        "/metadata/annotations/kubernetes.io~1ingress.class",
    );
    opts.ingress_class == annotation || (opts.ingress_class.is_empty() && annotation == "traefik")
}

fn load_service(
    opts: &ProviderOptions,
    snap: &Snapshot,
    namespace: &str,
    backend: &Value,
) -> Result<Vec<Server>, String> {
    let name = s(backend, "/service/name");
    let svc = snap
        .services
        .iter()
        .find(|v| s(v, "/metadata/namespace") == namespace && s(v, "/metadata/name") == name)
        .ok_or("service not found")?;
    if s(svc, "/spec/type") == "ExternalName" {
        return Err(if opts.allow_external_name_services {
            "labsim: ExternalName services are not routed (labsim never connects beyond loopback)"
                .to_string()
        } else {
            format!("externalName services not allowed: {namespace}/{name}")
        });
    }
    let want_number = backend
        .pointer("/service/port/number")
        .and_then(Value::as_i64);
    let want_name = s(backend, "/service/port/name");
    let port = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            want_number.is_some_and(|n| p["port"].as_i64() == Some(n))
                || (!want_name.is_empty() && p["name"].as_str() == Some(want_name))
        })
        .ok_or("service port not found")?;
    let port_name = port["name"].as_str().unwrap_or("");
    let scheme = if port["port"].as_i64() == Some(443) || port_name.starts_with("https") {
        "https"
    } else {
        "http"
    };
    let mut servers: Vec<Server> = vec![];
    let mut push = |ip: &str, p: i64| {
        if let (Ok(ip), Ok(p)) = (ip.parse::<IpAddr>(), u16::try_from(p))
            && !servers.iter().any(|s| s.ip == ip && s.port == p)
        {
            servers.push(Server {
                scheme: scheme.to_string(),
                ip,
                port: p,
            });
        }
    };
    if opts.endpoint_slices {
        let mut slices: Vec<&Value> = snap
            .endpoint_slices
            .iter()
            .filter(|e| {
                s(e, "/metadata/namespace") == namespace
                    && s(e, "/metadata/labels/kubernetes.io~1service-name") == name
            })
            .collect();
        slices.sort_by_key(|e| s(e, "/metadata/name").to_string());
        for slice in slices {
            let Some(p) = slice["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"].as_str().unwrap_or("") == port_name)
                .and_then(|p| p["port"].as_i64())
            else {
                continue;
            };
            for ep in slice["endpoints"].as_array().into_iter().flatten() {
                if ep.pointer("/conditions/ready").and_then(Value::as_bool) != Some(true) {
                    continue;
                }
                for a in ep["addresses"].as_array().into_iter().flatten() {
                    push(a.as_str().unwrap_or(""), p);
                }
            }
        }
    } else {
        let ep = snap
            .endpoints
            .iter()
            .find(|e| s(e, "/metadata/namespace") == namespace && s(e, "/metadata/name") == name)
            .ok_or("endpoints not found")?;
        for subset in ep["subsets"].as_array().into_iter().flatten() {
            let Some(p) = subset["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"].as_str().unwrap_or("") == port_name)
                .and_then(|p| p["port"].as_i64())
            else {
                continue;
            };
            for a in subset["addresses"].as_array().into_iter().flatten() {
                push(s(a, "/ip"), p);
            }
        }
    }
    Ok(servers)
}

fn host_matcher(host: &str) -> (Matcher, String) {
    if let Some(suffix) = host.strip_prefix("*.") {
        let re = format!("[a-zA-Z0-9-]+\\.{}", suffix.replace('.', "\\."));
        (
            Matcher::WildcardHost(suffix.to_ascii_lowercase()),
            format!("HostRegexp(`{re}`)"),
        )
    } else {
        (
            Matcher::Host(host.to_ascii_lowercase()),
            format!("Host(`{host}`)"),
        )
    }
}

/// Builds the routing table (`loadConfigurationFromIngresses`), returning the errors traefik
/// would log.
pub fn build(opts: &ProviderOptions, snap: &Snapshot) -> (Table, Vec<BuildError>) {
    let classes: Vec<&Value> = snap
        .ingress_classes
        .iter()
        .filter(|c| s(c, "/spec/controller") == "traefik.io/ingress-controller")
        .filter(|c| opts.ingress_class.is_empty() || s(c, "/metadata/name") == opts.ingress_class)
        .collect();
    let mut table = Table::default();
    let mut errors = vec![];
    let mut ingresses: Vec<&Value> = snap
        .ingresses
        .iter()
        .filter(|i| {
            opts.namespaces.is_empty()
                || opts
                    .namespaces
                    .iter()
                    .any(|n| n == s(i, "/metadata/namespace"))
        })
        .collect();
    ingresses.sort_by_key(|i| {
        (
            s(i, "/metadata/namespace").to_string(),
            s(i, "/metadata/name").to_string(),
        )
    });
    let mut routers: BTreeMap<String, Vec<Router>> = BTreeMap::new();
    for ing in ingresses {
        if !should_process(opts, ing, &classes) {
            continue;
        }
        let ns = s(ing, "/metadata/namespace");
        let ing_name = s(ing, "/metadata/name");
        let err = |msg: &'static str, error: Option<String>, backend: &Value| BuildError {
            msg,
            error,
            ingress: ing_name.to_string(),
            namespace: ns.to_string(),
            service_name: s(backend, "/service/name").to_string(),
            service_port: port_string(&backend["service"]["port"]),
        };
        let rules = ing["spec"]["rules"].as_array().cloned().unwrap_or_default();
        if rules.is_empty()
            && let Some(backend) = ing.pointer("/spec/defaultBackend")
        {
            if table.services.contains_key("default-backend") {
                errors.push(err("The default backend already exists.", None, backend));
            } else {
                match load_service(opts, snap, ns, backend) {
                    Err(e) => errors.push(err("Cannot create service", Some(e), backend)),
                    Ok(servers) if servers.is_empty() && !opts.allow_empty_services => {
                        errors.push(err("Skipping service: no endpoints found", None, backend))
                    }
                    Ok(servers) => {
                        table.services.insert("default-backend".into(), servers);
                        table.routers.push(Router {
                            key: "default-router".into(),
                            matchers: vec![Matcher::PathPrefix("/".into())],
                            rule: "PathPrefix(`/`)".into(),
                            priority: i64::from(i32::MIN),
                            service: "default-backend".into(),
                        });
                    }
                }
            }
        }
        for rule in &rules {
            let host = rule["host"].as_str().unwrap_or("");
            for pa in rule
                .pointer("/http/paths")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let backend = &pa["backend"];
                let servers = match load_service(opts, snap, ns, backend) {
                    Err(e) => {
                        errors.push(err("Cannot create service", Some(e), backend));
                        continue;
                    }
                    Ok(s) => s,
                };
                if servers.is_empty() && !opts.allow_empty_services {
                    errors.push(err("Skipping service: no endpoints found", None, backend));
                    continue;
                }
                let port = &backend["service"]["port"];
                let port_str = match port["name"].as_str() {
                    Some(n) if !n.is_empty() => n.to_string(),
                    _ => port["number"].as_i64().unwrap_or(0).to_string(),
                };
                let service =
                    normalize(&format!("{ns}-{}-{port_str}", s(backend, "/service/name")));
                table.services.insert(service.clone(), servers);
                let path = pa["path"].as_str().unwrap_or("");
                let mut matchers = vec![];
                let mut parts = vec![];
                if !host.is_empty() {
                    let (m, r) = host_matcher(host);
                    matchers.push(m);
                    parts.push(r);
                }
                if !path.is_empty() {
                    let exact = pa["pathType"].as_str() == Some("Exact");
                    if exact {
                        matchers.push(Matcher::Path(path.to_string()));
                        parts.push(format!("Path(`{path}`)"));
                    } else {
                        matchers.push(Matcher::PathPrefix(path.to_string()));
                        parts.push(format!("PathPrefix(`{path}`)"));
                    }
                }
                let rule_text = parts.join(" && ");
                let key = normalize(&format!("{ns}-{ing_name}-{host}{path}"))
                    .trim_start_matches('-')
                    .to_string();
                let priority = ing
                    .pointer("/metadata/annotations/traefik.ingress.kubernetes.io~1router.priority")
                    .and_then(Value::as_str)
                    .and_then(|p| p.parse::<i64>().ok())
                    .filter(|p| *p != 0)
                    .unwrap_or(rule_text.len() as i64);
                routers.entry(key.clone()).or_default().push(Router {
                    key,
                    matchers,
                    rule: rule_text,
                    priority,
                    service,
                });
            }
        }
    }
    for (key, rs) in routers {
        if rs.len() == 1 {
            table.routers.extend(rs);
            continue;
        }
        for mut r in rs {
            let d = ring::digest::digest(&ring::digest::SHA256, r.rule.as_bytes());
            let hex: String = d.as_ref()[..5].iter().map(|b| format!("{b:02x}")).collect();
            r.key = format!("{key}-{hex}");
            table.routers.push(r);
        }
    }
    table
        .routers
        .sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.key.cmp(&b.key)));
    (table, errors)
}

/// The request host without port, lowercase.
pub fn request_host(host: &str) -> String {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("").to_string()
    } else {
        host.rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| host.to_string())
    };
    h.to_ascii_lowercase()
}

impl Matcher {
    fn matches(&self, host: &str, path: &str) -> bool {
        match self {
            Matcher::Host(h) => request_host(host) == *h,
            Matcher::WildcardHost(suffix) => {
                let h = request_host(host);
                h.strip_suffix(suffix.as_str())
                    .and_then(|l| l.strip_suffix('.'))
                    .is_some_and(|label| {
                        !label.is_empty()
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    })
            }
            Matcher::Path(p) => path == p,
            Matcher::PathPrefix(p) => path.starts_with(p.as_str()),
        }
    }
}

impl Table {
    /// The router for a request to `host` (the Host header) and `path`, or `None` (404).
    pub fn route(&self, host: &str, path: &str) -> Option<&Router> {
        self.routers
            .iter()
            .find(|r| r.matchers.iter().all(|m| m.matches(host, path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot() -> Snapshot {
        Snapshot {
            ingresses: vec![
                json!({"metadata": {"name": "hello", "namespace": "default"},
                       "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "hello", "port": {"number": 80}}}}]}}]}}),
                json!({"metadata": {"name": "api", "namespace": "default"},
                       "spec": {"rules": [{"host": "api.example.com", "http": {"paths": [
                         {"path": "/v1", "pathType": "Exact", "backend": {"service": {"name": "api", "port": {"name": "web"}}}},
                         {"path": "/v2", "pathType": "ImplementationSpecific", "backend": {"service": {"name": "api", "port": {"name": "web"}}}}]}}]}}),
                json!({"metadata": {"name": "wild", "namespace": "default"},
                       "spec": {"rules": [{"host": "*.apps.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "api", "port": {"number": 8080}}}}]}}]}}),
                json!({"metadata": {"name": "other", "namespace": "default", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
                       "spec": {"rules": [{"host": "nginx.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "hello", "port": {"number": 80}}}}]}}]}}),
                json!({"metadata": {"name": "classy", "namespace": "default"},
                       "spec": {"ingressClassName": "traefik", "rules": [{"host": "classy.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "hello", "port": {"number": 80}}}}]}}]}}),
                json!({"metadata": {"name": "foreign", "namespace": "default"},
                       "spec": {"ingressClassName": "nginx", "rules": [{"host": "foreign.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "hello", "port": {"number": 80}}}}]}}]}}),
                json!({"metadata": {"name": "empty", "namespace": "default"},
                       "spec": {"rules": [{"host": "empty.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "noendpoints", "port": {"number": 80}}}}]}}]}}),
                json!({"metadata": {"name": "missing", "namespace": "default"},
                       "spec": {"rules": [{"host": "missing.test", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": "nosuchservice", "port": {"number": 80}}}}]}}]}}),
            ],
            ingress_classes: vec![
                json!({"metadata": {"name": "traefik"}, "spec": {"controller": "traefik.io/ingress-controller"}}),
                json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}),
            ],
            services: vec![
                json!({"metadata": {"name": "hello", "namespace": "default"},
                       "spec": {"type": "ClusterIP", "ports": [{"port": 80, "targetPort": 9898, "protocol": "TCP"}]}}),
                json!({"metadata": {"name": "api", "namespace": "default"},
                       "spec": {"ports": [{"name": "web", "port": 8080, "targetPort": 8080}]}}),
                json!({"metadata": {"name": "noendpoints", "namespace": "default"},
                       "spec": {"ports": [{"port": 80}]}}),
            ],
            endpoint_slices: vec![
                json!({"metadata": {"name": "hello-abcde", "namespace": "default", "labels": {"kubernetes.io/service-name": "hello"}},
                       "ports": [{"name": "", "port": 9898, "protocol": "TCP"}],
                       "endpoints": [
                         {"addresses": ["10.244.1.2"], "conditions": {"ready": true}},
                         {"addresses": ["10.244.2.2"], "conditions": {"ready": true}},
                         {"addresses": ["10.244.2.3"], "conditions": {"ready": false}}]}),
                json!({"metadata": {"name": "api-xyz", "namespace": "default", "labels": {"kubernetes.io/service-name": "api"}},
                       "ports": [{"name": "web", "port": 8080}],
                       "endpoints": [{"addresses": ["10.244.1.9"], "conditions": {"ready": true}}]}),
                json!({"metadata": {"name": "noendpoints-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "noendpoints"}},
                       "ports": [{"name": "", "port": 80}], "endpoints": []}),
            ],
            endpoints: vec![
                json!({"metadata": {"name": "hello", "namespace": "default"},
                       "subsets": [{"addresses": [{"ip": "10.244.1.2"}, {"ip": "10.244.2.2"}],
                                    "notReadyAddresses": [{"ip": "10.244.2.3"}],
                                    "ports": [{"port": 9898, "protocol": "TCP"}]}]}),
            ],
        }
    }

    fn opts() -> ProviderOptions {
        ProviderOptions {
            endpoint_slices: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_course_ingress_routes_everything_to_the_ready_pods() {
        let (t, _) = build(&opts(), &snapshot());
        let r = t.route("192.168.49.3", "/").unwrap();
        assert_eq!(r.rule, "PathPrefix(`/`)");
        assert_eq!(r.key, "default-hello");
        assert_eq!(r.service, "default-hello-80");
        let servers = &t.services["default-hello-80"];
        let ips: Vec<String> = servers
            .iter()
            .map(|s| format!("{}:{}", s.ip, s.port))
            .collect();
        assert_eq!(
            ips,
            ["10.244.1.2:9898", "10.244.2.2:9898"],
            "not-ready endpoints are left out"
        );
        assert_eq!(
            t.route("anything", "/some/deep/path").unwrap().service,
            "default-hello-80"
        );
    }

    #[test]
    fn path_types_hosts_and_priorities() {
        let (t, _) = build(&opts(), &snapshot());
        let exact = t.route("api.example.com", "/v1").unwrap();
        assert_eq!(exact.rule, "Host(`api.example.com`) && Path(`/v1`)");
        assert_eq!(exact.service, "default-api-web");
        // Exact does not match a longer path; the catch-all `/` router takes it.
        assert_eq!(
            t.route("api.example.com", "/v1/x").unwrap().service,
            "default-hello-80"
        );
        // ImplementationSpecific is PathPrefix, and a plain string prefix at that.
        let pfx = t.route("API.example.com:80", "/v2beta").unwrap();
        assert_eq!(pfx.rule, "Host(`api.example.com`) && PathPrefix(`/v2`)");
        let w = t.route("x-1.apps.test", "/").unwrap();
        assert_eq!(
            w.rule,
            "HostRegexp(`[a-zA-Z0-9-]+\\.apps\\.test`) && PathPrefix(`/`)"
        );
        assert_eq!(w.service, "default-api-8080");
        assert_eq!(
            t.route("a.b.apps.test", "/").unwrap().service,
            "default-hello-80",
            "one label only"
        );
        // Longest rule first.
        let prios: Vec<i64> = t.routers.iter().map(|r| r.priority).collect();
        let mut sorted = prios.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(prios, sorted);
    }

    #[test]
    fn ingress_classes_decide_what_traefik_handles() {
        let (t, _) = build(&opts(), &snapshot());
        let rules: Vec<&str> = t.routers.iter().map(|r| r.rule.as_str()).collect();
        assert!(
            rules.contains(&"Host(`classy.test`) && PathPrefix(`/`)"),
            "class traefik"
        );
        assert!(
            !rules.iter().any(|r| r.contains("nginx.test")),
            "annotation nginx"
        );
        assert!(
            !rules.iter().any(|r| r.contains("foreign.test")),
            "class of another controller"
        );
        let only = ProviderOptions {
            ingress_class: "nginx".into(),
            ..opts()
        };
        let (t, _) = build(&only, &snapshot());
        assert!(t.routers.iter().any(|r| r.rule.contains("nginx.test")));
        assert!(!t.routers.iter().any(|r| r.rule.contains("classy.test")));
    }

    #[test]
    fn services_without_endpoints_or_missing_are_skipped_and_logged() {
        let (t, errors) = build(&opts(), &snapshot());
        assert!(!t.routers.iter().any(|r| r.rule.contains("empty.test")));
        assert!(!t.routers.iter().any(|r| r.rule.contains("missing.test")));
        // Unmatched hosts fall to the catch-all router of the course's Ingress.
        assert_eq!(
            t.route("empty.test", "/").unwrap().service,
            "default-hello-80"
        );
        let e = errors.iter().find(|e| e.ingress == "empty").unwrap();
        assert_eq!(e.msg, "Skipping service: no endpoints found");
        assert_eq!(e.service_port, "&ServiceBackendPort{Name:,Number:80,}");
        let m = errors.iter().find(|e| e.ingress == "missing").unwrap();
        assert_eq!(m.msg, "Cannot create service");
        assert_eq!(m.error.as_deref(), Some("service not found"));
        let allow = ProviderOptions {
            allow_empty_services: true,
            ..opts()
        };
        let (t, _) = build(&allow, &snapshot());
        assert!(t.routers.iter().any(|r| r.rule.contains("empty.test")));
    }

    #[test]
    fn without_the_catch_all_unknown_requests_have_no_route() {
        let mut snap = snapshot();
        snap.ingresses.remove(0);
        let (t, _) = build(&opts(), &snap);
        assert!(t.route("192.168.49.3", "/").is_none());
        assert!(t.route("api.example.com", "/v3").is_none());
        let (empty, errors) = build(&opts(), &Snapshot::default());
        assert!(empty.route("x", "/").is_none());
        assert!(errors.is_empty());
    }

    #[test]
    fn endpoints_for_traefik_v2() {
        let v2 = ProviderOptions::default();
        let (t, _) = build(&v2, &snapshot());
        let ips: Vec<String> = t.services["default-hello-80"]
            .iter()
            .map(|s| s.ip.to_string())
            .collect();
        assert_eq!(ips, ["10.244.1.2", "10.244.2.2"]);
    }

    #[test]
    fn default_backend_is_the_lowest_priority_catch_all() {
        let snap = Snapshot {
            ingresses: vec![json!({"metadata": {"name": "d", "namespace": "default"},
                "spec": {"defaultBackend": {"service": {"name": "hello", "port": {"number": 80}}}}})],
            ..snapshot()
        };
        let (t, _) = build(&opts(), &snap);
        let r = t.route("whatever", "/x").unwrap();
        assert_eq!(r.key, "default-router");
        assert_eq!(r.priority, i64::from(i32::MIN));
    }

    #[test]
    fn names_normalise_like_traefik() {
        assert_eq!(
            normalize("default-hello-api.example.com/v1"),
            "default-hello-api-example-com-v1"
        );
        assert_eq!(request_host("Example.COM:8080"), "example.com");
        assert_eq!(request_host("[::1]:80"), "::1");
    }
}
