//! `scripts/drift-summary`, the nightly workflow's last job, run on cucumber JSON written by real
//! labs runs on labsim (tests/data/drift: a version-gated feature on 1.33, a gated scenario and an
//! undefined step on 1.36, durations removed).

use std::path::Path;
use std::process::Command;

fn run(dir: &Path) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new("bash")
        .arg(root.join("scripts/drift-summary"))
        .arg(dir)
        .output()
        .expect("bash runs")
}

#[test]
fn one_summary_across_versions_with_gated_scenarios_as_not_applicable() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/drift");
    let out = run(&data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    insta::assert_snapshot!(String::from_utf8(out.stdout).unwrap());
}

#[test]
fn no_reports_is_an_error_that_says_so() {
    let empty = std::env::temp_dir().join(format!("k8s-labs-drift-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&empty);
    std::fs::remove_dir_all(&empty).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no */cucumber.json under"), "{err}");
}
