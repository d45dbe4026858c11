//! `labs-report`: merges several runs' reports into one comparison (drift across runs).
//!
//! ```text
//! cargo run --bin labs-report -- [--out DIR] RUN…
//! ```
//! Each RUN is a run's reports folder (holding `run.json`) or a `run.json` file, e.g. one per
//! Kubernetes version of the nightly matrix, several nights each. Writes `drift.html` (one
//! self-contained page) and `drift.md` (Markdown) into DIR (default: the current folder) and
//! prints their paths. Runs are grouped by the Kubernetes version they ran against; several runs
//! of one version give medians and spreads.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use k8s_labs::report::RunReport;
use k8s_labs::report::drift::Drift;

const USAGE: &str = "usage: labs-report [--out DIR] RUN_DIR_OR_RUN_JSON…";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labs-report: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut out = PathBuf::from(".");
    let mut inputs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" | "-o" => {
                out = PathBuf::from(args.next().context("--out needs a folder")?);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            a if a.starts_with('-') => bail!("unknown option {a}\n{USAGE}"),
            a => inputs.push(PathBuf::from(a)),
        }
    }
    if inputs.is_empty() {
        bail!("no runs given\n{USAGE}");
    }
    let mut runs = Vec::new();
    for input in inputs {
        let file = if input.is_dir() {
            input.join(k8s_labs::report::RUN_JSON)
        } else {
            input
        };
        runs.push(RunReport::read(&file).map_err(anyhow::Error::msg)?);
    }
    let drift = Drift::new(runs);
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    for (name, text) in [("drift.html", drift.html()), ("drift.md", drift.markdown())] {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}
