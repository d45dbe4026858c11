//! The one way to reach the data in `fixtures/` (provisioning scripts, configs, manifests, test
//! doubles).

use std::path::PathBuf;

/// Errors finding a fixture.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// No such file under `fixtures/`.
    #[error("fixture {0} does not exist: fixtures live in {dir}", dir = dir().display())]
    Missing(String),
}

/// The `fixtures/` folder of this checkout.
#[must_use]
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The path of fixture `name` (relative to `fixtures/`).
///
/// # Errors
/// [`FixtureError::Missing`] when it does not exist.
pub fn path(name: &str) -> Result<PathBuf, FixtureError> {
    let p = dir().join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(FixtureError::Missing(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_existing_fixtures_only() {
        assert!(super::path("README.md").is_ok());
        let err = super::path("nope.yaml").unwrap_err().to_string();
        assert!(err.starts_with("fixture nope.yaml does not exist"), "{err}");
    }
}
