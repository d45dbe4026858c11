//! Kubernetes versions the labs can target (`--k8s-version X.Y`).
//!
//! The harness keeps its own table, independent of labsim's (`sim/src/version.rs`), so the two
//! cannot agree on the same mistake.

use std::fmt;
use std::str::FromStr;

/// Oldest minor the course can run on: it was written for v1.26.2 (K8S-FACTS.md).
pub const OLDEST_MINOR: u32 = 26;
/// Newest minor the course is checked against (v1.36, K8S-FACTS.md).
pub const NEWEST_MINOR: u32 = 36;
/// The default: the newest minor the kubectl dispatcher on these machines has a client for
/// (1.27–1.33, KUBECTL-PROTOCOL.md), and labsim's own default.
pub const DEFAULT_MINOR: u32 = 33;

/// A Kubernetes `1.Y` minor version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct K8sVersion {
    minor: u32,
}

/// A `--k8s-version` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not `X.Y` (or `vX.Y`).
    #[error("cannot read Kubernetes version {0:?}: expected X.Y such as 1.33")]
    Malformed(String),
    /// Outside the range the course is checked against.
    #[error(
        "Kubernetes {0} is outside the versions the labs support: choose 1.{OLDEST_MINOR} to 1.{NEWEST_MINOR}"
    )]
    Unsupported(String),
}

impl K8sVersion {
    /// The default version (1.33).
    #[must_use]
    pub const fn default_version() -> Self {
        Self {
            minor: DEFAULT_MINOR,
        }
    }

    /// The minor number (`33` for 1.33).
    #[must_use]
    pub const fn minor(self) -> u32 {
        self.minor
    }
}

impl Default for K8sVersion {
    fn default() -> Self {
        Self::default_version()
    }
}

impl FromStr for K8sVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('v');
        let (major, minor) = t
            .split_once('.')
            .ok_or_else(|| VersionError::Malformed(s.to_string()))?;
        let (major, minor): (u32, u32) = match (major.parse(), minor.parse()) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Err(VersionError::Malformed(s.to_string())),
        };
        if major != 1 || !(OLDEST_MINOR..=NEWEST_MINOR).contains(&minor) {
            return Err(VersionError::Unsupported(format!("{major}.{minor}")));
        }
        Ok(Self { minor })
    }
}

impl fmt::Display for K8sVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_x_y_and_rejects_the_rest() {
        assert_eq!("1.33".parse::<K8sVersion>().unwrap().to_string(), "1.33");
        assert_eq!("v1.26".parse::<K8sVersion>().unwrap().minor(), 26);
        assert_eq!(K8sVersion::default().to_string(), "1.33");
        assert!(matches!(
            "1.25".parse::<K8sVersion>(),
            Err(VersionError::Unsupported(_))
        ));
        assert!(matches!(
            "2.0".parse::<K8sVersion>(),
            Err(VersionError::Unsupported(_))
        ));
        assert!(matches!(
            "1.33.7".parse::<K8sVersion>(),
            Err(VersionError::Malformed(_))
        ));
        assert!(matches!(
            "latest".parse::<K8sVersion>(),
            Err(VersionError::Malformed(_))
        ));
    }
}
