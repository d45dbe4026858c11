//! The secrets audit: a full labs run on labsim (every chapter, fast profile) writes none of the
//! run's actual secret values anywhere, and prints none on its stdout or stderr. The values are
//! collected from the cluster while the run goes on (it deletes the cluster at the end): the
//! bootstrap tokens (kube-system `bootstrap-token-*` Secrets, through the real kubectl), every
//! private key on the nodes (PEM files under /var/lib/minikube/certs, the course's
//! certificatesDir, /etc/kubernetes, /var/lib/kubelet/pki, …), the client keys of every kubeconfig
//! on the nodes and on the host (`client-key-data`), and a service-account token made with the
//! TokenRequest API (`kubectl create token`). Along the way, every key file in labsim's state
//! directory must be 0600.
//!
//! Long (a full run, about three minutes): ignored by default, run by `scripts/kill-test`.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::labs::World;

#[derive(Default)]
struct Found {
    /// (what, value) — the values to search for.
    secrets: BTreeSet<(String, String)>,
    /// Key files that were not 0600.
    loose: BTreeSet<String>,
    /// Whether a service-account token was made.
    token_made: bool,
}

/// The lines of a PEM private key's body (each a long base64 run: a leak of any part shows).
fn pem_key_lines(what: &str, text: &str, out: &mut BTreeSet<(String, String)>) {
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN") && line.contains("PRIVATE KEY") {
            inside = true;
        } else if line.starts_with("-----END") {
            inside = false;
        } else if inside && line.len() >= 40 {
            out.insert((what.to_string(), line.to_string()));
        }
    }
}

/// `client-key-data` of a kubeconfig: the base64 value (its first 64 characters) and the PEM
/// inside it.
fn kubeconfig_keys(what: &str, text: &str, out: &mut BTreeSet<(String, String)>) {
    for line in text.lines() {
        let Some(value) = line.trim().strip_prefix("client-key-data:") else {
            continue;
        };
        let value = value.trim();
        out.insert((
            format!("{what} client-key-data"),
            value.chars().take(64).collect(),
        ));
        if let Ok(pem) = base64::engine::general_purpose::STANDARD.decode(value) {
            pem_key_lines(
                &format!("{what} client key"),
                &String::from_utf8_lossy(&pem),
                out,
            );
        }
    }
}

/// The files under `dir`, following symbolic links (a few levels deep, so a loop ends).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    walk_depth(dir, out, 12);
}

fn walk_depth(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if depth > 0 {
                walk_depth(&p, out, depth - 1);
            }
        } else if p.is_file() {
            out.push(p);
        }
    }
}

/// One look at the world's nodes and cluster.
fn collect(home: &Path, profile: &str, found: &Mutex<Found>) {
    let profiles = home.join("profiles");
    let mut files = Vec::new();
    for sub in [
        "etc/kubernetes",
        "var/lib/minikube",
        "var/lib/kubelet",
        "home/docker/.kube",
        "root/.kube",
        "etc/labsim",
    ] {
        // Every profile of the run (`P`, and `P-2`, … while a kept cluster holds `P`).
        for p in std::fs::read_dir(&profiles).into_iter().flatten().flatten() {
            for node in std::fs::read_dir(p.path().join("nodes"))
                .into_iter()
                .flatten()
                .flatten()
            {
                walk(&node.path().join("root").join(sub), &mut files);
            }
        }
    }
    // The harness's host files (the reader's exported kubeconfig, its copy of admin.conf).
    for e in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name()
            .to_string_lossy()
            .starts_with(&format!("k8s-labs-cluster-{profile}-"))
        {
            walk(&e.path(), &mut files);
        }
    }
    let mut admin = None;
    let mut f = found.lock().unwrap();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let what = file.display().to_string();
        if text.contains("PRIVATE KEY-----") {
            pem_key_lines(&what, &text, &mut f.secrets);
            let mode = std::fs::metadata(&file).map_or(0, |m| m.permissions().mode() & 0o777);
            if file.starts_with(home) && mode != 0o600 {
                f.loose.insert(format!("{what}: {mode:o}"));
            }
        }
        if text.contains("client-key-data:") {
            kubeconfig_keys(&what, &text, &mut f.secrets);
            if file.ends_with("etc/kubernetes/admin.conf") {
                admin = Some(file.clone());
            }
        }
    }
    drop(f);
    let Some(admin) = admin else { return };
    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&admin)
            .args(["--request-timeout", "5s"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    if let Some(json) = kubectl(&["get", "secrets", "-n", "kube-system", "-o", "json"]) {
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let b64 = |s: &serde_json::Value| {
            s.as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let mut f = found.lock().unwrap();
        for s in v["items"].as_array().into_iter().flatten() {
            if s["type"] == "bootstrap.kubernetes.io/token"
                && let (Some(id), Some(secret)) =
                    (b64(&s["data"]["token-id"]), b64(&s["data"]["token-secret"]))
            {
                f.secrets
                    .insert(("bootstrap token".into(), format!("{id}.{secret}")));
                f.secrets.insert(("bootstrap token secret".into(), secret));
            }
        }
    }
    let made = found.lock().unwrap().token_made;
    if !made && let Some(token) = kubectl(&["create", "token", "default", "-n", "default"]) {
        let token = token.trim().to_string();
        if token.len() > 100 {
            let mut f = found.lock().unwrap();
            f.token_made = true;
            // The signature: the part that makes it a credential.
            let signature = token.rsplit('.').next().unwrap_or_default().to_string();
            f.secrets.insert(("service-account token".into(), token));
            f.secrets
                .insert(("service-account token signature".into(), signature));
        }
    }
}

#[test]
#[ignore = "long: a full labs run (about three minutes); run by scripts/kill-test"]
fn a_full_run_writes_and_prints_no_secret() {
    let world = World::new("secrets");
    let stdout = world.tmp.path().join("stdout");
    let stderr = world.tmp.path().join("stderr");
    let mut child = world
        .command(0, &["--timing", "fast"])
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let found = Arc::new(Mutex::new(Found::default()));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (found, done) = (Arc::clone(&found), Arc::clone(&done));
        let (home, profile) = (world.home.clone(), world.profile.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                collect(&home, &profile, &found);
                std::thread::sleep(Duration::from_secs(2));
            }
        })
    };
    let status = child.wait().unwrap();
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let out = std::fs::read_to_string(&stdout).unwrap();
    let err = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.success(), "the run failed:\n{out}\n{err}");

    let found = found.lock().unwrap();
    let kinds: BTreeSet<&str> = found
        .secrets
        .iter()
        .map(|(w, _)| {
            if w.starts_with("bootstrap token") {
                "bootstrap token"
            } else if w.starts_with("service-account") {
                "service-account token"
            } else if w.contains("client-key-data") || w.contains("client key") {
                "kubeconfig client key"
            } else {
                "private key file"
            }
        })
        .collect();
    eprintln!(
        "secrets audit: {} values of {} kinds: {kinds:?}",
        found.secrets.len(),
        kinds.len()
    );
    assert_eq!(
        kinds.len(),
        4,
        "every kind of secret was collected: {kinds:?}"
    );
    let sources: BTreeSet<&str> = found.secrets.iter().map(|(w, _)| w.as_str()).collect();
    assert!(
        sources.iter().any(|w| w.ends_with("certs/ca.key")),
        "the CA key is among the sources: {sources:#?}"
    );
    assert!(
        found.loose.is_empty(),
        "key files not 0600: {:?}",
        found.loose
    );

    let mut written = Vec::new();
    walk(&world.reports(0), &mut written);
    let names: BTreeSet<String> = written
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for expected in [
        "cucumber.json",
        "junit.xml",
        "report.html",
        "transcript.txt",
        "transcript.jsonl",
        "timeline.jsonl",
    ] {
        assert!(
            names.contains(expected),
            "the run wrote {expected}: {names:?}"
        );
    }
    // The search finds what is there: a copy of the run's files with one value of each kind
    // planted (as the run's own transcript would hold it, in its JSON form) is caught.
    let planted = world.tmp.path().join("planted.jsonl");
    let mut plant = String::new();
    for kind in &kinds {
        let (_, value) = found
            .secrets
            .iter()
            .find(|(w, _)| {
                w.starts_with(kind)
                    || (*kind == "private key file" && w.ends_with(".key"))
                    || (*kind == "kubeconfig client key" && w.contains("client-key-data"))
            })
            .expect("a value of each kind");
        plant.push_str(&serde_json::json!({ "stdout": format!("…{value}…") }).to_string());
        plant.push('\n');
    }
    std::fs::write(&planted, plant).unwrap();
    let (caught, _) = search(std::slice::from_ref(&planted), &found.secrets);
    assert!(
        caught.len() >= kinds.len(),
        "the search catches planted values: {caught:?}"
    );

    let (mut hits, searched) = search(&written, &found.secrets);
    for (name, text) in [("stdout", &out), ("stderr", &err)] {
        for (what, value) in &found.secrets {
            if text.contains(value.as_str()) {
                hits.push(format!("the run's {name} holds {what}"));
            }
        }
    }
    eprintln!(
        "secrets audit: searched {} files ({searched} bytes) and the run's output: {} hits",
        written.len(),
        hits.len()
    );
    assert!(
        hits.is_empty(),
        "secrets written or printed:\n{}",
        hits.join("\n")
    );
}

/// Which of `secrets` each file holds, and how many bytes were searched.
fn search(files: &[PathBuf], secrets: &BTreeSet<(String, String)>) -> (Vec<String>, usize) {
    let mut hits = Vec::new();
    let mut searched = 0;
    for file in files {
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        searched += bytes.len();
        for (what, value) in secrets {
            if text.contains(value.as_str()) {
                hits.push(format!("{} holds {what}", file.display()));
            }
        }
    }
    (hits, searched)
}
