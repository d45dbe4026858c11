//! kube-apiserver's audit log as labsim writes it (`--audit-policy-file`, `--audit-log-path`,
//! rotation flags), judged by what the real kubectl did: its apply, scale and delete appear with the
//! right verbs, objects and resulting resourceVersions, reads at Metadata level, secrets without
//! bodies, errors with their Status; bad audit flags stop the server with kube-apiserver's messages.

mod common;

use common::{Cluster, TempDir};
use labsim::apiserver::audit::event::Event;
use labsim::apiserver::audit::reader::{ObjectKey, changes, read_events};
use serde_json::Value;

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: podinfo\n        image: stefanprodan/podinfo:6.3.5\n";

fn rv(c: &Cluster) -> String {
    c.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectls_writes_are_in_the_audit_log_with_their_resulting_resource_versions() {
    let files = TempDir::new("audit");
    let policy = files.0.join("audit-policy.yaml");
    std::fs::write(&policy, labsim::apiserver::audit::LABSIM_POLICY).unwrap();
    let log = files.0.join("log/audit.log");
    let c = Cluster::start_with(
        "1.33",
        &[
            &format!("--audit-policy-file={}", policy.display()),
            &format!("--audit-log-path={}", log.display()),
            "--audit-log-maxage=7",
            "--audit-log-maxbackup=3",
            "--audit-log-maxsize=50",
        ],
    )
    .await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600,
        "the log holds request bodies"
    );

    let f = c.dir.0.join("web.yaml");
    std::fs::write(&f, DEPLOY).unwrap();
    c.ok(&["apply", "-f", f.to_str().unwrap()]);
    let created = rv(&c);
    c.ok(&["scale", "deployment/web", "--replicas=3"]);
    let scaled = rv(&c);
    std::fs::write(&f, DEPLOY.replace("6.3.5", "6.3.6")).unwrap();
    c.ok(&["apply", "-f", f.to_str().unwrap()]);
    let applied = rv(&c);
    assert_eq!(
        c.ok(&["delete", "deployment", "web"]).trim(),
        "deployment.apps \"web\" deleted"
    );
    let (code, _, err) = c.kubectl(&["get", "deployment", "web"]);
    assert_eq!(code, 1);
    assert!(err.contains("NotFound"), "{err}");
    c.ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal=password=hunter2",
    ]);
    // The Audit-Id header is on every response.
    let (_, headers, _) = c.curl(&[
        "-s",
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("{}/version", c.server()),
    ]);
    assert!(headers.to_lowercase().contains("audit-id: "), "{headers}");

    let events = read_events(&log).unwrap();
    let all = changes(&events);
    let key = ObjectKey {
        group: "apps".into(),
        resource: "deployments".into(),
        namespace: "default".into(),
        name: "web".into(),
    };
    let seen: Vec<(String, String, Option<String>, bool)> = all[&key]
        .iter()
        .map(|ch| {
            (
                ch.verb.clone(),
                ch.subresource.clone(),
                ch.resource_version.clone(),
                ch.deleted,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("create".into(), "".into(), Some(created), false),
            ("patch".into(), "scale".into(), Some(scaled), false),
            ("patch".into(), "".into(), Some(applied), false),
            ("delete".into(), "".into(), None, true),
        ],
        "{events:#?}"
    );
    let by_verb = |verb: &str, resource: &str| -> Vec<&Event> {
        events
            .iter()
            .filter(|e| {
                e.verb == verb
                    && e.object_ref
                        .as_ref()
                        .is_some_and(|r| r.resource == resource)
            })
            .collect()
    };
    let create = by_verb("create", "deployments")[0];
    assert_eq!(create.level, "RequestResponse");
    assert_eq!(
        create.stage, "ResponseComplete",
        "RequestReceived is omitted"
    );
    assert_eq!(create.user.username, "kubernetes-admin");
    assert!(
        create
            .user
            .groups
            .contains(&"system:authenticated".to_string())
    );
    assert!(
        create.user_agent.starts_with("kubectl/v1.33."),
        "{}",
        create.user_agent
    );
    // The host reaches every loopback address from 127.0.0.1.
    assert_eq!(create.source_ips, ["127.0.0.1"]);
    assert_eq!(
        create.request_object.as_ref().unwrap()["spec"]["replicas"],
        2
    );
    assert_eq!(create.response_status.as_ref().unwrap().code, 201);
    assert_eq!(create.annotations["authorization.k8s.io/decision"], "allow");
    assert!(
        create.request_uri.starts_with(
            "/apis/apps/v1/namespaces/default/deployments?fieldManager=kubectl-client-side-apply"
        ),
        "{}",
        create.request_uri
    );
    let miss = by_verb("get", "deployments")
        .into_iter()
        .find(|e| e.response_status.as_ref().is_some_and(|s| s.code == 404))
        .expect("the failed get");
    assert_eq!(miss.level, "Metadata");
    let st = miss.response_status.as_ref().unwrap();
    assert_eq!(
        (st.status.as_str(), st.reason.as_str(), st.message.as_str()),
        ("Failure", "NotFound", "deployments.apps \"web\" not found")
    );
    assert!(miss.response_object.is_none());
    let secret = by_verb("create", "secrets")[0];
    assert_eq!(secret.level, "Metadata");
    assert!(secret.request_object.is_none() && secret.response_object.is_none());
    assert_eq!(secret.object_ref.as_ref().unwrap().name, "s");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
        "no secret in the log"
    );
    assert!(!text.contains("\"/livez\""), "probes are not logged");
    // A watch is long-running: ResponseStarted, then ResponseComplete when it ends.
    c.ok(&["get", "deploy", "-w", "--request-timeout=1s"]);
    let events = read_events(&log).unwrap();
    let watch: Vec<&str> = events
        .iter()
        .filter(|e| e.verb == "watch" && e.user_agent.starts_with("kubectl"))
        .map(|e| e.stage.as_str())
        .collect();
    assert_eq!(watch, ["ResponseStarted", "ResponseComplete"]);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["kind"] == "Event" && l["apiVersion"] == "audit.k8s.io/v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_audit_settings_stop_the_server_with_kube_apiservers_messages() {
    let files = TempDir::new("audit-bad");
    let policy = files.0.join("p.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n",
    )
    .unwrap();
    let c = Cluster::start_with("1.33", &[]).await;
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_labsim"))
            .arg("kube-apiserver")
            .args(c.apiserver_args(extra))
            .arg("--secure-port=18443")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let log = format!("--audit-log-path={}", files.0.join("a.log").display());
    let (code, err) = run(&[&log, "--audit-log-maxage=-1"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("Error: --audit-log-maxage -1 can't be a negative number"),
        "{err}"
    );
    let (code, err) = run(&[&log, &format!("--audit-policy-file={}", policy.display())]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!(
            "Error: loading audit policy file: loaded illegal policy with 0 rules: from file {}",
            policy.display()
        )),
        "{err}"
    );
    let (code, err) = run(&[&log, "--audit-log-format=xml"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("Error: invalid audit log format xml, allowed formats are \"legacy,json\""),
        "{err}"
    );
}
