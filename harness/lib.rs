//! k8s-labs: the harness that proves the "Kubernetes architecture" course still works.
//!
//! Everything with logic lives here and is unit-tested without cucumber; the step definitions in
//! `steps/` are thin adapters from Gherkin phrases to [`lab::Lab`] methods.
//!
//! - [`runner`]: the one place that starts processes (timeouts, process-group kill, capture,
//!   transcript).
//! - [`redact`]: secrets are removed from everything written.
//! - [`transcript`]: `transcript.jsonl` and `transcript.txt` per scenario.
//! - [`provider`]: the minikube CLI (labsim answers the same CLI).
//! - [`wait`]: the one waiting primitive.
//! - [`lab`]: a scenario's world.
//! - [`run`], [`settings`], [`reports`], [`preflight`], [`labsim`], [`versions`], [`fixtures`]:
//!   a run's set-up.

pub mod claims;
pub mod diagnostics;
pub mod fixtures;
pub mod lab;
pub mod labsim;
pub mod preflight;
pub mod progress;
pub mod provider;
pub mod redact;
pub mod report;
pub mod reports;
pub mod run;
pub mod runner;
pub mod settings;
pub mod timeline;
pub mod transcript;
pub mod versions;
pub mod wait;
