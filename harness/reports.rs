//! Where a run writes its outputs: `reports/<run-id>/` (or `--reports DIR`), with one folder per
//! scenario for its transcript.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A run's reports folder.
#[derive(Debug)]
pub struct Reports {
    root: PathBuf,
    taken: Mutex<BTreeSet<String>>,
}

/// Errors creating report folders.
#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    /// A folder could not be created.
    #[error("cannot create the reports folder {path}: {source}: choose another with --reports DIR")]
    Create {
        /// The folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A run id from the current UTC time, e.g. `20260128T054100Z-4711` (time, then the process id so
/// two runs started in the same second do not share a folder).
#[must_use]
pub fn new_run_id() -> String {
    let now = jiff::Timestamp::now();
    format!("{}-{}", now.strftime("%Y%m%dT%H%M%SZ"), std::process::id())
}

/// Lower-case ASCII letters and digits, everything else folded into single dashes.
#[must_use]
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "unnamed".into()
    } else {
        out
    }
}

impl Reports {
    /// Creates `root` (and parents).
    ///
    /// # Errors
    /// [`ReportsError::Create`] when it cannot be created.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, ReportsError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|source| ReportsError::Create {
            path: root.clone(),
            source,
        })?;
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        Ok(Self {
            root,
            taken: Mutex::default(),
        })
    }

    /// The run's folder.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh folder name for a scenario, `<feature>/<scenario>` slugs, suffixed `-2`, `-3`, … when
    /// the same scenario runs again (outlines, retries).
    #[must_use]
    pub fn scenario_dir(&self, feature: &str, scenario: &str) -> PathBuf {
        let base = format!("{}/{}", slug(feature), slug(scenario));
        let mut taken = self
            .taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                }
            })
            .find(|n| !taken.contains(n))
            .expect("an unused name exists");
        taken.insert(name.clone());
        self.root.join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_path_safe() {
        assert_eq!(
            slug("Create three nodes without Kubernetes"),
            "create-three-nodes-without-kubernetes"
        );
        assert_eq!(
            slug("  Bootstrapping: a cluster (ch. 2)! "),
            "bootstrapping-a-cluster-ch-2"
        );
        assert_eq!(slug("../.."), "unnamed");
    }

    #[test]
    fn scenario_dirs_are_unique() {
        let root = std::env::temp_dir().join(format!("k8s-labs-reports-{}", std::process::id()));
        let reports = Reports::create(&root).unwrap();
        let a = reports.scenario_dir("Bootstrapping", "Create nodes");
        let b = reports.scenario_dir("Bootstrapping", "Create nodes");
        assert!(a.ends_with("bootstrapping/create-nodes"));
        assert!(b.ends_with("bootstrapping/create-nodes-2"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn run_ids_sort_by_time() {
        let id = new_run_id();
        assert_eq!(
            id.len(),
            "20260128T054100Z".len() + 1 + std::process::id().to_string().len()
        );
        assert!(
            id.as_bytes()[8] == b'T' && id.as_bytes()[15] == b'Z',
            "{id}"
        );
    }
}
