//! The run's reports, all rendered from one document ([`RunReport`], written as `run.json`):
//!
//! - `run.json`: the run's results, environment, measurements, claims (input of the drift page),
//! - `junit.xml`: JUnit XML for CI (GitHub's action-junit-report, Jenkins),
//! - `report.html`: one self-contained page for the course author,
//! - `summary.md`: a Markdown summary (for a CI job summary),
//! - `cucumber.json`: cucumber's own JSON (written by cucumber through [`RedactedFile`]).
//!
//! Everything is redacted before it is written: the model's strings are redacted as JSON values
//! ([`crate::redact::Redactor::redact_json`]), and every report is rendered from the redacted
//! model or from files that were redacted when written (transcripts, timelines, diagnostics).

pub mod chart;
pub mod collect;
pub mod drift;
pub mod environment;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod model;

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub use collect::{Collector, ScenarioKey};
pub use model::{
    Attempt, Counts, DiagnosticItem, DiagnosticsRecord, FeatureReport, LabRecord, LastCommand,
    RunReport, ScenarioReport, Status, StepReport,
};

use crate::redact::Redactor;

/// File names of a run's reports.
pub const RUN_JSON: &str = "run.json";
/// JUnit XML.
pub const JUNIT_XML: &str = "junit.xml";
/// The HTML page.
pub const REPORT_HTML: &str = "report.html";
/// The Markdown summary.
pub const SUMMARY_MD: &str = "summary.md";
/// cucumber's JSON.
pub const CUCUMBER_JSON: &str = "cucumber.json";

/// Errors writing reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report file could not be written.
    #[error("cannot write the report {path}: {source}: check that the reports folder is writable")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The JUnit XML could not be serialised.
    #[error("cannot build the JUnit XML: {0}")]
    Junit(String),
}

/// `report` with every string redacted.
#[must_use]
pub fn redacted(report: &RunReport, redactor: &Redactor) -> RunReport {
    let mut value = serde_json::to_value(report).expect("a run report serialises");
    redactor.redact_json(&mut value);
    serde_json::from_value(value).expect("a redacted run report still deserialises")
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, ReportError> {
    std::fs::write(&path, text).map_err(|source| ReportError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Writes `run.json`, `junit.xml`, `report.html` and `summary.md` into `root` (the run's reports
/// folder, which also holds the scenarios' transcripts and timelines the page embeds); returns
/// the files written.
///
/// # Errors
/// [`ReportError`] for the first file that cannot be written.
pub fn write_all(
    report: &RunReport,
    root: &Path,
    redactor: &Redactor,
) -> Result<Vec<PathBuf>, ReportError> {
    let report = redacted(report, redactor);
    let json = serde_json::to_string_pretty(&report).expect("a run report serialises");
    Ok(vec![
        write(root.join(RUN_JSON), &json)?,
        write(
            root.join(JUNIT_XML),
            &junit::render(&report).map_err(ReportError::Junit)?,
        )?,
        write(root.join(REPORT_HTML), &html::render(&report, root))?,
        write(root.join(SUMMARY_MD), &markdown::summary(&report))?,
    ])
}

/// A file that cucumber's JSON writer writes to: everything written is kept and the file is
/// rewritten, redacted, after every write (cucumber writes its JSON once, at the end). JSON text
/// is redacted value by value so it stays JSON.
#[derive(Debug)]
pub struct RedactedFile {
    path: PathBuf,
    buffer: Vec<u8>,
    redactor: Redactor,
}

impl RedactedFile {
    /// Creates (truncates) `path`.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: impl Into<PathBuf>, redactor: Redactor) -> std::io::Result<Self> {
        let path = path.into();
        std::fs::File::create(&path)?;
        Ok(Self {
            path,
            buffer: Vec::new(),
            redactor,
        })
    }

    fn rewrite(&self) -> std::io::Result<()> {
        let text = String::from_utf8_lossy(&self.buffer);
        let out = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(mut v) => {
                self.redactor.redact_json(&mut v);
                v.to_string()
            }
            Err(_) => self.redactor.redact(&text),
        };
        let mut f = std::fs::File::create(&self.path)?;
        f.write_all(out.as_bytes())?;
        f.flush()
    }
}

impl std::io::Write for RedactedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        self.rewrite()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.rewrite()
    }
}
