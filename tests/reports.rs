//! The run's reports: JUnit XML (snapshot, and valid against the JUnit schema with `xmllint`),
//! the Markdown summary and drift page (snapshots), the HTML page (timeline chart and claims
//! table), and no secret of a run in any file it wrote.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::TempDir;
use cucumber::event::{self, Cucumber, Feature as FeatureEvent, Retries};
use cucumber::gherkin;
use cucumber::{Event, Writer as _};
use k8s_labs::claims::{Claim, DurationExpectation, Expected, Measured, Measurement, Source};
use k8s_labs::fixtures;
use k8s_labs::redact::Redactor;
use k8s_labs::report::environment::{ClusterEnvironment, Environment, TimingValue};
use k8s_labs::report::{
    self, Attempt, DiagnosticItem, DiagnosticsRecord, FeatureReport, LabRecord, LastCommand,
    RunReport, ScenarioKey, ScenarioReport, Status, StepReport, drift::Drift,
};
use k8s_labs::reports::Reports;
use k8s_labs::run::Run;
use k8s_labs::settings::{ProviderKind, Settings, Timing};
use k8s_labs::timeline::{Change, ObjectRef, Origin, Subject, TimeBasis};

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn step(keyword: &str, text: &str, line: usize, status: Status, secs: f64) -> StepReport {
    StepReport {
        keyword: keyword.into(),
        text: text.into(),
        line,
        background: false,
        status,
        duration_s: secs,
        error: None,
    }
}

fn environment(version: &str) -> Environment {
    Environment {
        labs_version: "0.1.0".into(),
        commit: Some("0123456789ab".into()),
        provider: "labsim".into(),
        provider_version: Some("minikube version: v1.38.1; commit: labsim-0.1.0".into()),
        requested_k8s_version: "1.33".into(),
        timing_profile: "fast".into(),
        kubectl_version: Some("v1.32.4-dispatcher".into()),
        os: Some("Debian GNU/Linux 12 (bookworm), Linux 6.1.0".into()),
        cluster: Some(ClusterEnvironment {
            kubernetes_version: Some(version.into()),
            kubectl_client: Some("v1.33.1".into()),
            container_runtimes: BTreeMap::from([("k8s-labs".into(), "containerd://1.7.13".into())]),
            kubelets: BTreeMap::new(),
            etcd_version: Some("3.4.23".into()),
            cni: Some("flannel:v0.24.2".into()),
            ingress: Some("traefik:v3.0".into()),
            timing: BTreeMap::from([(
                report::environment::NODE_MONITOR_GRACE_PERIOD.to_string(),
                TimingValue {
                    value: "10s".into(),
                    seconds: Some(10),
                    source: "kubeadm-config".into(),
                },
            )]),
            notes: Vec::new(),
        }),
        notes: Vec::new(),
    }
}

fn not_ready_claim(measured: u64) -> Claim {
    Claim::new(
        "ch7.not-ready-latency",
        "the node is marked NotReady almost immediately (in less than 10 seconds)",
        Expected::Duration(DurationExpectation::at_most(
            Duration::from_secs(10),
            Duration::ZERO,
            Source::Course,
        )),
    )
    .measured(Measured::Duration {
        value: Duration::from_secs(measured),
    })
    .unwrap()
}

fn eviction_claim(measured: u64) -> Claim {
    Claim::new(
        "ch7.eviction-latency",
        "the pod is evicted after about 5 minutes",
        Expected::Duration(DurationExpectation::about(
            Duration::from_secs(300),
            Duration::from_secs(60),
            Source::Course,
        )),
    )
    .measured(Measured::Duration {
        value: Duration::from_secs(measured),
    })
    .unwrap()
    .note("configured default-unreachable-toleration-seconds=300 (default)")
}

fn rebalance_claim() -> Claim {
    Claim::new(
        "ch7.no-rebalancing",
        "Kubernetes does not rebalance the pods when the workers come back",
        Expected::Bool {
            value: true,
            meaning: "no pod moved during the stability window".into(),
            source: Source::Course,
        },
    )
    .measured(Measured::Bool { value: true })
    .unwrap()
}

fn eviction_flag_claim() -> Claim {
    Claim::new(
        "ch7.pod-eviction-timeout",
        "--pod-eviction-timeout sets how long Kubernetes waits before evicting",
        Expected::Bool {
            value: true,
            meaning: "kube-controller-manager accepts the flag".into(),
            source: Source::Course,
        },
    )
    .measured(Measured::Bool { value: false })
    .unwrap()
    .note("kube-controller-manager 1.27+ refuses the flag")
}

fn measurement(name: &str, secs: u64, latest: u64) -> Measurement {
    Measurement {
        from_mark: Some("worker stopped".into()),
        to: Some("node k8s-labs-m03 NotReady".into()),
        basis: TimeBasis::Observed,
        expected: Some(DurationExpectation::at_most(
            Duration::from_secs(latest),
            Duration::from_secs(5),
            Source::Configured {
                setting: "node-monitor-grace-period=10s".into(),
            },
        )),
        ..Measurement::new(name, Duration::from_secs(secs))
    }
}

/// A run with a passed, a failed, a flaky and a skipped scenario, claims of every kind and
/// measurements; `version` and `seconds` vary it for the drift page.
fn synthetic(run_id: &str, version: &str, not_ready: u64) -> RunReport {
    let start = ts("2026-01-28T05:00:00Z");
    let at = |s: i64| start + jiff::SignedDuration::from_secs(s);
    let lab = |dir: &str| LabRecord {
        dir: dir.into(),
        profile: "k8s-labs".into(),
        transcript: format!("{dir}/transcript.txt"),
        ..LabRecord::default()
    };
    let passed = Attempt {
        started: at(0),
        finished: at(95),
        status: Status::Passed,
        steps: vec![
            step(
                "When ",
                "the reader starts 3 nodes without Kubernetes",
                7,
                Status::Passed,
                80.0,
            ),
            step(
                "Then ",
                "the node list is \"<profile>\", \"<profile>-m02\" and \"<profile>-m03\"",
                8,
                Status::Passed,
                0.5,
            ),
        ],
        hook_errors: Vec::new(),
        logs: Vec::new(),
        lab: Some(LabRecord {
            outcomes: BTreeMap::from([("containerd on k8s-labs-m02".into(), "v1.7.13".into())]),
            ..lab("bootstrapping-a-cluster/create-three-nodes")
        }),
    };
    let mut failing_step = step(
        "When ",
        "the reader stops the worker \"<profile>-m03\"",
        12,
        Status::Failed,
        61.2,
    );
    failing_step.error = Some(
        "timed out after 1m waiting for node k8s-labs-m03 NotReady after \"worker stopped\"".into(),
    );
    let failed = Attempt {
        started: at(100),
        finished: at(170),
        status: Status::Failed,
        steps: vec![
            step("Given ", "the course's cluster", 10, Status::Passed, 3.0),
            failing_step,
            step("Then ", "the app answers via \"<profile>-m02\"", 13, Status::NotRun, 0.0),
        ],
        hook_errors: Vec::new(),
        logs: Vec::new(),
        lab: Some(LabRecord {
            measurements: vec![Measurement { value: None, note: Some("not seen within 17 s".into()), ..measurement("worker stopped → NotReady", 0, 10) }],
            claims: vec![not_ready_claim(not_ready), eviction_claim(320), rebalance_claim(), eviction_flag_claim()],
            last_command: Some(LastCommand {
                command: "minikube node stop -p k8s-labs k8s-labs-m03".into(),
                ending: "exit 0".into(),
                tail: "✋  Stopping node \"k8s-labs-m03\"  ...\n🛑  Successfully stopped node k8s-labs-m03".into(),
            }),
            diagnostics: Some(DiagnosticsRecord {
                dir: "resiliency/worker-down/diagnostics".into(),
                items: vec![
                    DiagnosticItem { title: "minikube node list".into(), command: "minikube node list -p k8s-labs".into(), file: Some("resiliency/worker-down/diagnostics/minikube-node-list.txt".into()), note: None },
                    DiagnosticItem { title: "minikube logs".into(), command: "minikube logs -p k8s-labs".into(), file: Some("resiliency/worker-down/diagnostics/minikube-logs.txt".into()), note: Some("exit 16".into()) },
                ],
            }),
            ..lab("resiliency/worker-down")
        }),
    };
    let flaky_first = Attempt {
        started: at(200),
        finished: at(230),
        status: Status::Failed,
        steps: vec![{
            let mut s = step("Then ", "the pods are Running", 20, Status::Failed, 30.0);
            s.error = Some("expected 2 pods Running; found: 1".into());
            s
        }],
        hook_errors: Vec::new(),
        logs: Vec::new(),
        lab: Some(lab("resiliency/no-workers")),
    };
    let flaky_second = Attempt {
        started: at(231),
        finished: at(260),
        status: Status::Passed,
        steps: vec![step(
            "Then ",
            "the pods are Running",
            20,
            Status::Passed,
            12.0,
        )],
        hook_errors: Vec::new(),
        logs: Vec::new(),
        lab: Some(LabRecord {
            measurements: vec![measurement("worker stopped → NotReady", not_ready, 15)],
            ..lab("resiliency/no-workers-2")
        }),
    };
    let skipped = Attempt {
        started: at(300),
        finished: at(301),
        status: Status::Skipped,
        steps: vec![step(
            "Then ",
            "a step without definition",
            30,
            Status::Skipped,
            0.0,
        )],
        hook_errors: Vec::new(),
        logs: Vec::new(),
        lab: None,
    };
    RunReport {
        schema: report::model::SCHEMA,
        run_id: run_id.into(),
        started: start,
        finished: at(302),
        environment: environment(version),
        features: vec![
            FeatureReport {
                name: "Bootstrapping a cluster".into(),
                path: Some("features/bootstrap.feature".into()),
                tags: vec!["@chapter-2".into()],
                scenarios: vec![ScenarioReport {
                    name: "Create three nodes without Kubernetes".into(),
                    line: 6,
                    tags: vec!["@chapter-2".into()],
                    attempts: vec![passed],
                }],
            },
            FeatureReport {
                name: "Resiliency".into(),
                path: Some("features/resiliency.feature".into()),
                tags: vec!["@chapter-7".into()],
                scenarios: vec![
                    ScenarioReport {
                        name: "Worker down".into(),
                        line: 9,
                        tags: vec!["@chapter-7".into(), "@claim".into()],
                        attempts: vec![failed],
                    },
                    ScenarioReport {
                        name: "No workers".into(),
                        line: 18,
                        tags: vec!["@chapter-7".into()],
                        attempts: vec![flaky_first, flaky_second],
                    },
                    ScenarioReport {
                        name: "Undefined".into(),
                        line: 28,
                        tags: vec![],
                        attempts: vec![skipped],
                    },
                ],
            },
        ],
        problems: Vec::new(),
    }
}

/// JUnit with `time` attributes replaced (durations vary run to run in real reports).
fn normalised_junit(xml: &str) -> String {
    regex::Regex::new(r#"time="[0-9.]+""#)
        .unwrap()
        .replace_all(xml, r#"time="[t]""#)
        .into_owned()
}

fn xmllint(xml: &str, dir: &Path) -> std::process::Output {
    let file = dir.join("junit.xml");
    std::fs::write(&file, xml).unwrap();
    std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(fixtures::path("schemas/junit.xsd").unwrap())
        .arg(&file)
        .output()
        .expect("xmllint (Debian libxml2-utils; scripts/install-deps installs it)")
}

#[test]
fn junit_xml_has_suites_cases_flaky_reruns_and_properties() {
    let report = synthetic("20260128T050000Z-1", "v1.33.7", 41);
    let xml = report::junit::render(&report).unwrap();
    insta::assert_snapshot!(normalised_junit(&xml));
}

#[test]
fn junit_xml_is_valid_against_the_junit_schema() {
    let tmp = TempDir::new("junit-xsd");
    let xml = report::junit::render(&synthetic("r", "v1.33.7", 41)).unwrap();
    let out = xmllint(&xml, tmp.path());
    assert!(
        out.status.success(),
        "{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The schema really is checked: an element it does not know fails.
    let broken = xml.replacen("<testcase ", "<testcase bogus=\"1\" ", 1);
    let out = xmllint(&broken, tmp.path());
    assert!(
        !out.status.success(),
        "xmllint accepted an unknown attribute"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus"));
}

#[test]
fn markdown_summary() {
    insta::assert_snapshot!(report::markdown::summary(&synthetic(
        "20260128T050000Z-1",
        "v1.33.7",
        41
    )));
}

#[test]
fn drift_page_compares_versions_and_nights() {
    let runs = vec![
        synthetic("night-1-v1.31", "v1.31.4", 38),
        synthetic("night-1-v1.33", "v1.33.7", 51),
        synthetic("night-2-v1.33", "v1.33.7", 49),
        synthetic("night-3-v1.33", "v1.33.7", 55),
    ];
    let drift = Drift::new(runs);
    assert_eq!(drift.versions(), ["v1.31.4", "v1.33.7"]);
    insta::assert_snapshot!(drift.markdown());
    let html = drift.html();
    assert!(
        html.contains("<td class=\"drifted\">51 s (49 s–55 s, n=3) — drifted 3/3</td>"),
        "{html}"
    );
}

#[test]
fn html_page_has_summary_timeline_chart_claims_and_transcript() {
    let tmp = TempDir::new("html");
    let root = tmp.path();
    let report = synthetic("r", "v1.33.7", 41);
    // The failed scenario's timeline and transcript, as the lab writes them.
    let dir = root.join("resiliency/worker-down");
    let timeline = k8s_labs::timeline::Timeline::new(&dir, Redactor::new());
    timeline.record_at(
        ts("2026-01-28T05:01:40Z"),
        Subject::Node {
            name: "k8s-labs-m03".into(),
        },
        Change::NodeReady {
            status: "True".into(),
            reason: None,
            message: None,
        },
        None,
        Origin::Initial,
    );
    timeline.record_at(
        ts("2026-01-28T05:01:45Z"),
        Subject::Harness,
        Change::Mark {
            name: "worker stopped".into(),
        },
        None,
        Origin::Harness,
    );
    timeline.record_at(
        ts("2026-01-28T05:02:26Z"),
        Subject::Node {
            name: "k8s-labs-m03".into(),
        },
        Change::NodeReady {
            status: "Unknown".into(),
            reason: Some("NodeStatusUnknown".into()),
            message: None,
        },
        None,
        Origin::Watch,
    );
    std::fs::write(dir.join("transcript.txt"), "=== #1 2026-01-28T05:01:45Z\nCOMMAND: minikube node stop -p k8s-labs k8s-labs-m03\nEXIT: 0\n").unwrap();
    let mut report = report;
    report.features[1].scenarios[0].attempts[0]
        .lab
        .as_mut()
        .unwrap()
        .timeline = Some("resiliency/worker-down/timeline.jsonl".into());
    let html = report::html::render(&report, root);
    assert!(html.contains("<svg class=\"timeline\""), "the chart");
    assert!(html.contains("node k8s-labs-m03"));
    assert!(html.contains(">worker stopped</text>"), "the mark is drawn");
    assert!(
        html.contains("<code>ch7.not-ready-latency</code>"),
        "the claims table"
    );
    assert!(
        html.contains("+31 s beyond the bound"),
        "the drift is shown"
    );
    assert!(
        html.contains("COMMAND: minikube node stop"),
        "the transcript is embedded"
    );
    assert!(
        html.contains("href=\"resiliency/worker-down/diagnostics/minikube-logs.txt\""),
        "diagnostics are linked"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("<script"),
        "self-contained"
    );
}

/// A fake minikube (fixtures/fake-minikube.sh) whose nodes' `journalctl` prints `journal`.
fn fake_minikube(dir: &Path, journal: &str) -> PathBuf {
    let state = dir.join("state");
    let bin = dir.join("minikube");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\nFAKE_MINIKUBE_HOME='{}' exec '{}' \"$@\"\n",
            state.display(),
            fixtures::path("fake-minikube.sh").unwrap().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("journal.txt"), journal).unwrap();
    bin
}

fn feature_text() -> &'static str {
    "@chapter-7\nFeature: Resiliency\n\n  Scenario: Worker down\n    When the reader stops a worker\n    Then the app still answers\n"
}

async fn send<W: cucumber::World>(c: &mut report::Collector, ev: Cucumber<W>) {
    c.handle_event(Ok(Event::new(ev)), &cucumber::cli::Empty)
        .await;
}

#[derive(Debug, Default, cucumber::World)]
struct NoWorld;

#[tokio::test(flavor = "multi_thread")]
async fn no_report_file_contains_a_secret_of_the_run() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tmp = TempDir::new("secrets");
    // The run's secrets: a bootstrap token, a private key, a client key (in a kubeconfig), and a
    // value registered at run time.
    let token = "abcdef.0123456789abcdef";
    let key_body = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFAKEKEYfakekey";
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{key_body}\n-----END PRIVATE KEY-----\n");
    // A real client certificate and key, as in an exported admin kubeconfig.
    let ca = labsim::pki::Ca::generate("kubernetes").unwrap();
    let admin = ca
        .issue(&labsim::pki::CertSpec::client(
            "kubernetes-admin",
            &["kubeadm:cluster-admins"],
        ))
        .unwrap();
    let b64 = |t: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, t);
    let client_key_data = b64(&admin.key_pem);
    let client_key_line = admin.key_pem.lines().nth(1).unwrap().to_string();
    let client_key_data = client_key_data.as_str();
    let registered = "hunter2-fake-secret-value";
    let everything =
        format!("token {token}\n{pem}client-key {client_key_data}\nregistered {registered}\n");

    let minikube = fake_minikube(tmp.path(), &everything);
    let root = tmp.path().join("reports");
    let settings = Settings {
        provider: ProviderKind::Minikube,
        minikube: minikube.clone(),
        profile: "labs".into(),
        k8s_version: "1.33".parse().unwrap(),
        timing: Timing::Fast,
        keep_on_failure: false,
        scripts: k8s_labs::provisioning::Scripts::Ours,
    };
    let redactor = Redactor::new();
    let mut run = Run::new(settings, Reports::create(&root).unwrap(), redactor.clone());
    run.set_strict_claims(false);
    run.record_environment(Path::new(env!("CARGO_MANIFEST_DIR")))
        .await
        .unwrap();
    redactor.register(registered);

    // A scenario: cucumber's events through the collector, with a failing step whose error
    // quotes secrets, and a lab that ran commands printing them.
    let env = gherkin::GherkinEnv::default();
    let feature = gherkin::Feature::parse(feature_text(), env).unwrap();
    let scenario = feature.scenarios[0].clone();
    let (f, sc) = (
        event::Source::new(feature.clone()),
        event::Source::new(scenario.clone()),
    );
    let step0 = event::Source::new(scenario.steps[0].clone());
    let mut collector = run.collector();
    let scen = |e: event::Scenario<NoWorld>| {
        Cucumber::Feature(
            f.clone(),
            FeatureEvent::Scenario(sc.clone(), e.with_retries(None::<Retries>)),
        )
    };
    send::<NoWorld>(&mut collector, Cucumber::Started).await;
    send(
        &mut collector,
        Cucumber::<NoWorld>::Feature(f.clone(), FeatureEvent::Started),
    )
    .await;
    send(&mut collector, scen(event::Scenario::Started)).await;
    send(
        &mut collector,
        scen(event::Scenario::Step(step0.clone(), event::Step::Started)),
    )
    .await;

    let lease = run.lease_profile();
    let mut lab = run.new_lab(&feature.name, &scenario.name, &lease).unwrap();
    lab.start_nodes(2).await.unwrap();
    for node in ["labs", "labs-m02"] {
        let bin = tmp
            .path()
            .join(format!("state/labs/nodes/{node}/bin/journalctl"));
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\ncat '{}'\n",
                tmp.path().join("journal.txt").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let kubeconfig = tmp.path().join("admin.conf");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: k\n  context:\n    cluster: k\n    user: admin\ncurrent-context: k\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {client_key_data}\n", b64(&admin.cert_pem)),
    )
    .unwrap();
    lab.attach_cluster(&kubeconfig).await.unwrap();
    lab.run_on("labs", &format!("echo '{everything}'"))
        .await
        .unwrap();
    lab.timeline().record(
        Subject::Event {
            namespace: "default".into(),
            name: "e".into(),
        },
        Change::Event {
            type_: "Warning".into(),
            reason: "Failed".into(),
            object: ObjectRef {
                kind: "Pod".into(),
                namespace: "default".into(),
                name: "p".into(),
            },
            message: everything.clone(),
            count: 1,
        },
        None,
        Origin::Watch,
    );
    lab.mark(format!("mark {registered}"));
    lab.record("outcome", everything.clone());
    lab.record_measurement(Measurement {
        note: Some(everything.clone()),
        ..Measurement::new("m", Duration::from_secs(1))
    });
    let _ = lab.claim(rebalance_claim().note(everything.clone()));
    lab.touch("Pod", "default", "p");
    send(
        &mut collector,
        scen(event::Scenario::Step(
            step0,
            event::Step::Failed(
                None,
                None,
                None,
                event::StepError::Panic(Arc::new(everything.clone())),
            ),
        )),
    )
    .await;
    run.conclude_lab(ScenarioKey::of(&feature, &scenario), &mut lab, true)
        .await;
    lab.finish(false, None).await.unwrap();
    send(&mut collector, scen(event::Scenario::Finished)).await;
    send(
        &mut collector,
        Cucumber::<NoWorld>::Feature(f.clone(), FeatureEvent::Finished),
    )
    .await;
    send::<NoWorld>(&mut collector, Cucumber::Finished).await;
    // cucumber's own JSON goes through the redacting file.
    let mut json =
        report::RedactedFile::create(root.join(report::CUCUMBER_JSON), redactor.clone()).unwrap();
    std::io::Write::write_all(
        &mut json,
        serde_json::json!([{"error_message": everything}])
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let written = run.write_reports().unwrap();
    assert_eq!(written.len(), 4);

    // Every file the run wrote, recursively.
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    let names: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    for expected in [
        "run.json",
        "junit.xml",
        "report.html",
        "summary.md",
        "cucumber.json",
        "resiliency/worker-down/transcript.txt",
        "resiliency/worker-down/timeline.jsonl",
        "resiliency/worker-down/diagnostics/kubelet-journal-labs-m02.txt",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    for file in &files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        for secret in [
            token,
            key_body,
            client_key_data,
            client_key_line.as_str(),
            registered,
        ] {
            assert!(
                !text.contains(secret),
                "{} contains the secret {secret:?}",
                file.display()
            );
        }
    }
    // The secrets were there to be redacted: the journal was collected and the error reported.
    let journal = std::fs::read_to_string(
        root.join("resiliency/worker-down/diagnostics/kubelet-journal-labs-m02.txt"),
    )
    .unwrap();
    assert!(
        journal.contains("<redacted:bootstrap-token>")
            && journal.contains("<redacted:private-key>"),
        "{journal}"
    );
    let run_json: RunReport = RunReport::read(&root.join("run.json")).unwrap();
    let attempt = &run_json.features[0].scenarios[0].attempts[0];
    assert_eq!(attempt.status, Status::Failed);
    assert!(
        attempt.steps[0]
            .error
            .as_deref()
            .unwrap()
            .contains("registered <redacted>")
    );
    assert_eq!(attempt.steps[1].status, Status::NotRun);
    let lab = attempt.lab.as_ref().unwrap();
    assert!(
        lab.diagnostics
            .as_ref()
            .unwrap()
            .items
            .iter()
            .any(|i| i.title == "describe Pod default/p")
    );
    assert!(
        lab.cluster.is_some(),
        "the cluster's environment was asked for (and failed: nothing listens)"
    );
}

/// A chapter-7-like run (worker down, eviction, an API outage) written as reports and rendered
/// with headless Chromium to `report.png` beside them, to look at. Run with
/// `cargo test --test reports -- --ignored render`; `K8S_LABS_DEMO_DIR=DIR` keeps the files.
#[test]
#[ignore = "needs chromium; renders a PNG to look at"]
fn render_a_chapter_7_report_with_chromium() {
    let tmp = TempDir::new("demo");
    let root = std::env::var_os("K8S_LABS_DEMO_DIR")
        .map_or_else(|| tmp.path().to_path_buf(), PathBuf::from);
    let dir = root.join("resiliency/worker-down");
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = ts("2026-01-28T05:00:00Z");
    let at = |s: i64| t0 + jiff::SignedDuration::from_secs(s);
    let tl = k8s_labs::timeline::Timeline::new(&dir, Redactor::new());
    let node = |n: &str| Subject::Node { name: n.into() };
    let pod = |n: &str| Subject::Pod {
        namespace: "default".into(),
        name: n.into(),
    };
    let ready = |s: &str, r: &str| Change::NodeReady {
        status: s.into(),
        reason: Some(r.into()),
        message: None,
    };
    for n in ["k8s-labs", "k8s-labs-m02", "k8s-labs-m03"] {
        tl.record_at(at(0), node(n), Change::NodeAdded, None, Origin::Initial);
        tl.record_at(
            at(0),
            node(n),
            ready("True", "KubeletReady"),
            None,
            Origin::Initial,
        );
    }
    for (p, n) in [
        ("hello-world-5d8f-a1b2c", "k8s-labs-m02"),
        ("hello-world-5d8f-d3e4f", "k8s-labs-m03"),
    ] {
        tl.record_at(
            at(0),
            pod(p),
            Change::PodAdded {
                node: Some(n.into()),
                phase: Some("Running".into()),
                owner: Some("ReplicaSet/hello-world-5d8f".into()),
            },
            None,
            Origin::Initial,
        );
        tl.record_at(
            at(0),
            pod(p),
            Change::PodReady { ready: true },
            None,
            Origin::Initial,
        );
    }
    tl.record_at(
        at(10),
        Subject::Harness,
        Change::Mark {
            name: "worker stopped".into(),
        },
        None,
        Origin::Harness,
    );
    tl.record_at(
        at(51),
        node("k8s-labs-m03"),
        ready("Unknown", "NodeStatusUnknown"),
        Some(at(50)),
        Origin::Watch,
    );
    tl.record_at(
        at(51),
        node("k8s-labs-m03"),
        Change::NodeTaints {
            taints: vec![
                "node.kubernetes.io/unreachable:NoExecute".into(),
                "node.kubernetes.io/unreachable:NoSchedule".into(),
            ],
        },
        Some(at(51)),
        Origin::Watch,
    );
    tl.record_at(
        at(51),
        pod("hello-world-5d8f-d3e4f"),
        Change::PodReady { ready: false },
        None,
        Origin::Watch,
    );
    tl.record_at(
        at(52),
        Subject::Event {
            namespace: "default".into(),
            name: "e1".into(),
        },
        Change::Event {
            type_: "Normal".into(),
            reason: "NodeNotReady".into(),
            object: ObjectRef {
                kind: "Node".into(),
                namespace: String::new(),
                name: "k8s-labs-m03".into(),
            },
            message: "Node k8s-labs-m03 status is now: NodeNotReady".into(),
            count: 1,
        },
        None,
        Origin::Watch,
    );
    tl.record_at(
        at(120),
        Subject::Watch {
            resource: "pods".into(),
        },
        Change::WatchLost {
            error: "connection refused".into(),
        },
        None,
        Origin::Harness,
    );
    tl.record_at(
        at(120),
        Subject::Harness,
        Change::Mark {
            name: "control plane stopped".into(),
        },
        None,
        Origin::Harness,
    );
    tl.record_at(
        at(180),
        Subject::Harness,
        Change::Mark {
            name: "control plane started".into(),
        },
        None,
        Origin::Harness,
    );
    tl.record_at(
        at(195),
        Subject::Watch {
            resource: "pods".into(),
        },
        Change::WatchResumed { away_ms: 75_000 },
        None,
        Origin::Harness,
    );
    tl.record_at(
        at(351),
        pod("hello-world-5d8f-d3e4f"),
        Change::PodTerminating {
            deletion_timestamp: at(381),
            grace_seconds: Some(30),
        },
        Some(at(351)),
        Origin::Watch,
    );
    tl.record_at(
        at(351),
        pod("hello-world-5d8f-g5h6i"),
        Change::PodAdded {
            node: None,
            phase: Some("Pending".into()),
            owner: Some("ReplicaSet/hello-world-5d8f".into()),
        },
        None,
        Origin::Watch,
    );
    tl.record_at(
        at(352),
        pod("hello-world-5d8f-g5h6i"),
        Change::PodScheduled {
            node: "k8s-labs-m02".into(),
        },
        None,
        Origin::Watch,
    );
    tl.record_at(
        at(355),
        pod("hello-world-5d8f-g5h6i"),
        Change::PodPhase {
            phase: "Running".into(),
        },
        None,
        Origin::Watch,
    );
    tl.record_at(
        at(356),
        pod("hello-world-5d8f-g5h6i"),
        Change::PodReady { ready: true },
        None,
        Origin::Watch,
    );
    tl.record_at(
        at(356),
        Subject::Event {
            namespace: "default".into(),
            name: "e2".into(),
        },
        Change::Event {
            type_: "Warning".into(),
            reason: "NodeNotReady".into(),
            object: ObjectRef {
                kind: "Pod".into(),
                namespace: "default".into(),
                name: "hello-world-5d8f-d3e4f".into(),
            },
            message: "Node is not ready".into(),
            count: 1,
        },
        None,
        Origin::Watch,
    );
    tl.record_at(
        at(400),
        Subject::Harness,
        Change::Mark {
            name: "worker started".into(),
        },
        None,
        Origin::Harness,
    );
    tl.record_at(
        at(412),
        node("k8s-labs-m03"),
        ready("True", "KubeletReady"),
        None,
        Origin::Watch,
    );
    tl.record_at(
        at(413),
        node("k8s-labs-m03"),
        Change::NodeTaints { taints: vec![] },
        None,
        Origin::Watch,
    );
    tl.record_at(
        at(414),
        pod("hello-world-5d8f-d3e4f"),
        Change::PodDeleted,
        None,
        Origin::Watch,
    );
    std::fs::write(dir.join("transcript.txt"), "=== #1 2026-01-28T05:00:10Z\nCOMMAND: minikube node stop -p k8s-labs k8s-labs-m03\nEXIT: 0\nDURATION: 2.310s\nSTDOUT:\n✋  Stopping node \"k8s-labs-m03\"  ...\n🛑  Successfully stopped node k8s-labs-m03\nSTDERR: (empty)\n\n").unwrap();

    let mut report = synthetic("20260128T050000Z-4711", "v1.33.7", 41);
    report.finished = at(430);
    let worker_down = &mut report.features[1].scenarios[0];
    worker_down.attempts[0].finished = at(430);
    let lab = worker_down.attempts[0].lab.as_mut().unwrap();
    lab.timeline = Some("resiliency/worker-down/timeline.jsonl".into());
    lab.measurements = vec![
        Measurement {
            to: Some("node k8s-labs-m03 NotReady".into()),
            ..measurement("worker stopped → NotReady", 41, 50)
        },
        Measurement {
            from_mark: Some("worker stopped".into()),
            to: Some("a pod default/hello-world-* Terminating".into()),
            expected: Some(DurationExpectation::about(
                Duration::from_secs(350),
                Duration::from_secs(30),
                Source::Configured {
                    setting:
                        "node-monitor-grace-period=50s + default-unreachable-toleration-seconds=300"
                            .into(),
                },
            )),
            ..Measurement::new("worker stopped → eviction", Duration::from_secs(341))
        },
    ];
    lab.marks = vec![
        ("worker stopped".into(), at(10)),
        ("control plane stopped".into(), at(120)),
    ];
    report::write_all(&report, &root, &Redactor::new()).unwrap();
    let png = root.join("report.png");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/render-report");
    let out = std::process::Command::new(script)
        .arg(root.join("report.html"))
        .arg(&png)
        .arg("1200x4200")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    eprintln!("rendered {}", png.display());
}

#[test]
fn labs_report_merges_run_folders_into_a_drift_page() {
    let tmp = TempDir::new("labs-report");
    let mut args = vec![
        "--out".to_string(),
        tmp.path().join("out").display().to_string(),
    ];
    for (i, (version, secs)) in [("v1.31.4", 38), ("v1.33.7", 51), ("v1.33.7", 49)]
        .into_iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("run-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let json = serde_json::to_string(&synthetic(&format!("night-{i}"), version, secs)).unwrap();
        std::fs::write(dir.join("run.json"), json).unwrap();
        args.push(dir.display().to_string());
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labs-report"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(tmp.path().join("out/drift.md")).unwrap();
    assert!(md.contains("| claim | v1.31.4 | v1.33.7 |"), "{md}");
    assert!(md.contains("50 s (49 s–51 s, n=2) — drifted 2/2"), "{md}");
    assert!(
        std::fs::read_to_string(tmp.path().join("out/drift.html"))
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_labs-report"))
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("run.json"),
        "names the missing file"
    );
}

#[tokio::test]
async fn a_drifted_claim_fails_its_step_only_with_strict_claims() {
    let tmp = TempDir::new("strict");
    let settings = Settings {
        provider: ProviderKind::Minikube,
        minikube: fake_minikube(tmp.path(), ""),
        profile: "labs".into(),
        k8s_version: "1.33".parse().unwrap(),
        timing: Timing::Fast,
        keep_on_failure: false,
        scripts: k8s_labs::provisioning::Scripts::Ours,
    };
    for strict in [false, true] {
        let mut run = Run::new(
            settings.clone(),
            Reports::create(tmp.path().join(format!("r-{strict}"))).unwrap(),
            Redactor::new(),
        );
        run.set_strict_claims(strict);
        let lease = run.lease_profile();
        let mut lab = run.new_lab("Resiliency", "Worker down", &lease).unwrap();
        assert_eq!(
            lab.claim(rebalance_claim()).unwrap(),
            k8s_labs::claims::Verdict::Holds
        );
        let drifted = lab.claim(not_ready_claim(41));
        if strict {
            let err = drifted.unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("claim ch7.not-ready-latency drifted (--strict-claims)"),
                "{err}"
            );
        } else {
            assert_eq!(drifted.unwrap(), k8s_labs::claims::Verdict::Drifted);
        }
        // Recorded either way; a claim with the same id replaces the earlier one.
        assert_eq!(lab.claims().len(), 2);
        let _ = lab.claim(not_ready_claim(5));
        assert_eq!(
            lab.claims()
                .iter()
                .filter(|c| c.id == "ch7.not-ready-latency")
                .count(),
            1
        );
    }
}

#[tokio::test]
async fn the_collector_keeps_every_retry_and_a_retried_pass_is_flaky() {
    let feature = gherkin::Feature::parse(feature_text(), gherkin::GherkinEnv::default()).unwrap();
    let scenario = feature.scenarios[0].clone();
    let (f, sc) = (
        event::Source::new(feature.clone()),
        event::Source::new(scenario.clone()),
    );
    let steps: Vec<_> = scenario
        .steps
        .iter()
        .cloned()
        .map(event::Source::new)
        .collect();
    let captures = regex::Regex::new("x").unwrap().capture_locations();
    let mut c = report::Collector::new();
    let scen = |e: event::Scenario<NoWorld>, current: usize| {
        Cucumber::Feature(
            f.clone(),
            FeatureEvent::Scenario(
                sc.clone(),
                e.with_retries(Some(Retries {
                    current,
                    left: 1 - current,
                })),
            ),
        )
    };
    send::<NoWorld>(&mut c, Cucumber::Started).await;
    // First attempt: the first step fails, the second never runs.
    send(&mut c, scen(event::Scenario::Started, 0)).await;
    send(
        &mut c,
        scen(
            event::Scenario::Step(steps[0].clone(), event::Step::Started),
            0,
        ),
    )
    .await;
    send(
        &mut c,
        scen(
            event::Scenario::Step(
                steps[0].clone(),
                event::Step::Failed(
                    None,
                    None,
                    None,
                    event::StepError::Panic(Arc::new("node not ready".to_string())),
                ),
            ),
            0,
        ),
    )
    .await;
    send(&mut c, scen(event::Scenario::Finished, 0)).await;
    // The retry passes.
    send(&mut c, scen(event::Scenario::Started, 1)).await;
    for s in &steps {
        send(
            &mut c,
            scen(event::Scenario::Step(s.clone(), event::Step::Started), 1),
        )
        .await;
        send(
            &mut c,
            scen(
                event::Scenario::Step(s.clone(), event::Step::Passed(captures.clone(), None)),
                1,
            ),
        )
        .await;
    }
    send(&mut c, scen(event::Scenario::Finished, 1)).await;
    send::<NoWorld>(&mut c, Cucumber::Finished).await;
    let report = c.report("r", Environment::default(), BTreeMap::new());
    let sc = &report.features[0].scenarios[0];
    assert_eq!(sc.attempts.len(), 2);
    assert_eq!(sc.attempts[0].status, Status::Failed);
    assert_eq!(
        sc.attempts[0]
            .steps
            .iter()
            .map(|s| s.status)
            .collect::<Vec<_>>(),
        [Status::Failed, Status::NotRun]
    );
    assert_eq!(
        sc.attempts[0].steps[0].error.as_deref(),
        Some("node not ready")
    );
    assert_eq!(sc.attempts[1].status, Status::Passed);
    assert_eq!(sc.status(), Status::Flaky);
    assert_eq!(report.features[0].tags, ["@chapter-7"]);
    let xml = report::junit::render(&report).unwrap();
    assert!(
        xml.contains("<flakyFailure") && !xml.contains("<failure"),
        "{xml}"
    );
}
