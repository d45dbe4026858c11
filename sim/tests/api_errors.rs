//! Malformed and refused requests, table-driven: each case is a real kubectl command or a curl
//! request against labsim's API server, with the exact text kube-apiserver (and kubectl) give:
//! BadRequest for undecodable bodies, Invalid with causes, NotFound, Conflict, AlreadyExists,
//! MethodNotAllowed and UnsupportedMediaType.

mod common;

use base64::Engine;
use common::Cluster;
use serde_json::{Value, json};

/// What a case runs.
enum Call {
    /// kubectl with these arguments (`{dir}` is the test directory).
    Kubectl(Vec<String>),
    /// curl as the admin: method, path, content type, body.
    Curl(&'static str, &'static str, &'static str, &'static str),
}

/// What it must give.
enum Want {
    /// kubectl's exit code 1 and this stderr.
    Stderr(String),
    /// This HTTP code and Status (compared as JSON).
    Status(u16, Value),
}

fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Want {
    let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code});
    if let Some(d) = details {
        s["details"] = d;
    }
    Want::Status(code, s)
}

fn admin_files(c: &Cluster) -> (String, String) {
    let kc: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(c.kubeconfig()).unwrap()).unwrap();
    let user = &kc["users"][0]["user"];
    let decode = |k: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(user[k].as_str().unwrap())
            .unwrap()
    };
    let cert = c.dir.0.join("admin.crt");
    let key = c.dir.0.join("admin.key");
    std::fs::write(&cert, decode("client-certificate-data")).unwrap();
    std::fs::write(&key, decode("client-key-data")).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_have_kube_apiservers_codes_reasons_and_texts() {
    let c = Cluster::start("1.33").await;
    let dir = c.dir.0.display().to_string();
    let (cert, key) = admin_files(&c);
    let write = |name: &str, text: &str| {
        let p = c.dir.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let cm = write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"1\"\n",
    );
    c.ok(&["create", "-f", &cm]);
    let stale = write(
        "stale.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  resourceVersion: \"1\"\ndata:\n  a: \"2\"\n",
    );
    write(
        "replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: -1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n",
    );
    write(
        "name.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
    );
    let k = |args: &str| {
        Call::Kubectl(
            args.split_whitespace()
                .map(|a| a.replace("{dir}", &dir))
                .collect(),
        )
    };
    let cases: Vec<(&str, Call, Want)> = vec![
        (
            "a pod that does not exist",
            k("get pod nope"),
            Want::Stderr("Error from server (NotFound): pods \"nope\" not found".into()),
        ),
        (
            "a deployment that does not exist",
            k("-n kube-system get deployment nope"),
            Want::Stderr("Error from server (NotFound): deployments.apps \"nope\" not found".into()),
        ),
        (
            "creating what exists",
            k("create -f {dir}/cm.yaml"),
            Want::Stderr(format!(
                "Error from server (AlreadyExists): error when creating \"{cm}\": configmaps \"c\" already exists"
            )),
        ),
        (
            "replacing with a stale resourceVersion",
            k("replace -f {dir}/stale.yaml"),
            Want::Stderr(format!(
                "Error from server (Conflict): error when replacing \"{stale}\": Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
            )),
        ),
        (
            "negative replicas",
            k("create -f {dir}/replicas.yaml"),
            Want::Stderr(
                "The Deployment \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0".into(),
            ),
        ),
        (
            "a name that is not a DNS subdomain",
            k("create -f {dir}/name.yaml"),
            Want::Stderr(
                "The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into(),
            ),
        ),
        (
            "an undecodable body",
            Call::Curl("POST", "/api/v1/namespaces/default/configmaps", "application/json", "{not json"),
            status(
                400,
                "BadRequest",
                "the object provided is unrecognized ({not json): couldn't get version/kind; json parse error: invalid character 'n' looking for beginning of object key string",
                None,
            ),
        ),
        (
            "a body that is not an object",
            Call::Curl("POST", "/api/v1/namespaces/default/configmaps", "application/json", "[1]"),
            status(
                400,
                "BadRequest",
                "the object provided is unrecognized (5b315d): couldn't get version/kind; json parse error: json: cannot unmarshal array into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }",
                None,
            ),
        ),
        (
            "a body cut short",
            Call::Curl("POST", "/api/v1/namespaces/default/configmaps", "application/json", "{\"apiVersion\":\"v1\""),
            status(
                400,
                "BadRequest",
                "the object provided is unrecognized ({\"apiVersion\":\"v1\"): couldn't get version/kind; json parse error: unexpected end of JSON input",
                None,
            ),
        ),
        (
            "PUT on a collection",
            Call::Curl("PUT", "/api/v1/namespaces/default/configmaps", "application/json", "{}"),
            status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Some(json!({})),
            ),
        ),
        (
            "a body of another media type",
            Call::Curl("POST", "/api/v1/namespaces/default/configmaps", "text/plain", "{}"),
            status(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
                None,
            ),
        ),
        (
            "a patch that is not a patch type",
            Call::Curl("PATCH", "/api/v1/namespaces/default/configmaps/c", "application/json", "{}"),
            status(415, "UnsupportedMediaType", "415: Unsupported Media Type", Some(json!({}))),
        ),
        (
            "a resource the server does not have",
            Call::Curl("GET", "/api/v1/namespaces/default/widgets", "", ""),
            status(404, "NotFound", "the server could not find the requested resource", Some(json!({}))),
        ),
        (
            "a configmap that does not exist",
            Call::Curl("GET", "/api/v1/namespaces/default/configmaps/nope", "", ""),
            status(404, "NotFound", "configmaps \"nope\" not found", Some(json!({"name": "nope", "kind": "configmaps"}))),
        ),
    ];
    let mut failures = vec![];
    for (what, call, want) in cases {
        match (call, want) {
            (Call::Kubectl(args), Want::Stderr(text)) => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let (code, _, err) = c.kubectl(&args);
                if code != 1 || err.trim_end() != text {
                    failures.push(format!(
                        "{what}: kubectl {args:?} gave {code}:\n{err}\nwant:\n{text}"
                    ));
                }
            }
            (Call::Curl(method, path, ct, body), Want::Status(code, st)) => {
                let url = format!("{}{path}", c.server());
                let mut args = vec![
                    "-s",
                    "--cert",
                    &cert,
                    "--key",
                    &key,
                    "-X",
                    method,
                    "-w",
                    "\n%{http_code}",
                ];
                let header = format!("Content-Type: {ct}");
                if !ct.is_empty() {
                    args.extend(["-H", &header, "--data-binary", body]);
                }
                args.push(&url);
                let (_, out, _) = c.curl(&args);
                let (body, got) = out.rsplit_once('\n').unwrap_or((&out, ""));
                let got_status: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                if got != code.to_string() || got_status != st {
                    failures.push(format!(
                        "{what}: {method} {path} gave {got}:\n{body}\nwant {code}:\n{st}"
                    ));
                }
            }
            _ => unreachable!("cases pair calls with their kind of answer"),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
