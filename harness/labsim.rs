//! Making labsim available as the `minikube` binary: build it with cargo (through the runner) and
//! link `minikube` to it, since labsim behaves as minikube when invoked under that name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runner::{Command, RunError, Runner};

/// A fresh debug build of the workspace on two cores takes minutes; allow plenty.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// Errors preparing labsim.
#[derive(Debug, thiserror::Error)]
pub enum LabsimError {
    /// cargo could not be run or failed.
    #[error("cannot build labsim with cargo: {0}")]
    Build(#[from] RunError),
    /// cargo succeeded but named no labsim executable.
    #[error(
        "cargo built labsim but reported no `labsim` executable: see the setup transcript in {0}"
    )]
    NoExecutable(PathBuf),
    /// The `minikube` link could not be made.
    #[error("cannot link {link} to labsim at {target}: {source}")]
    Link {
        /// The link.
        link: PathBuf,
        /// The labsim binary.
        target: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The `labsim` executable named by cargo's `--message-format=json` output, if any.
#[must_use]
pub fn executable_from_cargo_messages(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "labsim")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// Whether `name` is one of the variables cargo sets for the test binary it runs (the labs run
/// as `cargo test --test labs`): the package's (`CARGO_PKG_*`, `CARGO_MANIFEST_*`,
/// `CARGO_CRATE_NAME`, …), not the user's (`CARGO_HOME`, `CARGO_TARGET_DIR` stay).
/// See <https://doc.rust-lang.org/cargo/reference/environment-variables.html>.
#[must_use]
pub fn set_by_cargo_for_tests(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || name.starts_with("CARGO_BIN_EXE_")
        || matches!(
            name,
            "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// Builds labsim with `cargo` (the `$CARGO` that runs the labs) for the workspace at `manifest`,
/// and returns the path of its binary.
///
/// The build runs without the variables cargo set for the labs' test binary
/// ([`set_by_cargo_for_tests`], through `env -u`): build scripts watch some of them (ring's
/// `cargo:rerun-if-env-changed=CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, …), so a build that
/// inherited them re-ran those scripts and rebuilt ring, rustls, rcgen and labsim (about 10 s
/// here), and the next `cargo test` from a shell rebuilt them back (about 30 s): every run paid
/// both. Without them the build sees the shell's environment and is a no-op when nothing changed.
///
/// # Errors
/// [`LabsimError`] when the build fails or names no executable.
pub async fn build(runner: &Runner, cargo: &str, manifest: &Path) -> Result<PathBuf, LabsimError> {
    let mut inherited: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| set_by_cargo_for_tests(k))
        .collect();
    inherited.sort();
    let cmd = Command::new("env")
        .args(inherited.iter().flat_map(|k| ["-u", k.as_str()]))
        .arg(cargo)
        .args(["build", "--package", "labsim", "--bin", "labsim"])
        .args([
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(manifest.to_string_lossy())
        .timeout(BUILD_TIMEOUT)
        .note("build labsim, the offline minikube stand-in");
    let output = runner.run_ok(&cmd).await?;
    executable_from_cargo_messages(&output.stdout)
        .ok_or_else(|| LabsimError::NoExecutable(runner.transcript().dir().to_path_buf()))
}

/// Creates (or replaces) `bin_dir/minikube` as a symlink to `labsim` and returns its path.
///
/// # Errors
/// [`LabsimError::Link`] when the folder or link cannot be made.
pub fn link_as_minikube(labsim: &Path, bin_dir: &Path) -> Result<PathBuf, LabsimError> {
    let link = bin_dir.join("minikube");
    let fail = |source| LabsimError::Link {
        link: link.clone(),
        target: labsim.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(bin_dir).map_err(fail)?;
    match std::fs::remove_file(&link) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    std::os::unix::fs::symlink(labsim, &link).map_err(fail)?;
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_labsim_binary_among_cargo_messages() {
        // Shapes as cargo 1.95 prints them with --message-format=json-render-diagnostics.
        let messages = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/sim#labsim@0.1.0","manifest_path":"/w/sim/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"labsim","src_path":"/w/sim/src/lib.rs","edition":"2024","doc":true,"doctest":true,"test":true},"profile":{"opt_level":"0","debuginfo":1,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/t/debug/deps/liblabsim-1.rlib"],"executable":null,"fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///w/sim#labsim@0.1.0","manifest_path":"/w/sim/Cargo.toml","target":{"kind":["bin"],"crate_types":["bin"],"name":"labsim","src_path":"/w/sim/src/main.rs","edition":"2024","doc":true,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":1,"debug_assertions":true,"overflow_checks":true,"test":false},"features":[],"filenames":["/t/debug/labsim"],"executable":"/t/debug/labsim","fresh":false}
{"reason":"build-finished","success":true}
"#;
        assert_eq!(
            executable_from_cargo_messages(messages),
            Some(PathBuf::from("/t/debug/labsim"))
        );
        assert_eq!(
            executable_from_cargo_messages(
                "{\"reason\":\"build-finished\",\"success\":true}\nnot json\n"
            ),
            None
        );
    }

    #[test]
    fn the_labsim_build_drops_only_what_cargo_set_for_the_test_binary() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_EXE_labs-report",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "OUT_DIR",
        ] {
            assert!(set_by_cargo_for_tests(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "RUSTFLAGS",
            "PATH",
        ] {
            assert!(!set_by_cargo_for_tests(name), "{name}");
        }
    }

    #[test]
    fn links_and_relinks_minikube() {
        let dir = std::env::temp_dir().join(format!("k8s-labs-link-{}", std::process::id()));
        let link = link_as_minikube(Path::new("/bin/true"), &dir).unwrap();
        let link2 = link_as_minikube(Path::new("/bin/false"), &dir).unwrap();
        assert_eq!(link, link2);
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            PathBuf::from("/bin/false")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
