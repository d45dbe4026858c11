//! k8s-labs: the harness that proves the "Kubernetes architecture" course still works.
//!
//! Everything with logic lives here and is unit-tested without cucumber; the step definitions in
//! `steps/` are thin adapters from Gherkin phrases to [`lab::Lab`] methods.
//!
//! - [`runner`]: the one place that starts processes (timeouts, process-group kill, capture,
//!   transcript).
//! - [`cleanup`]: the one registry of what a run creates (profiles, background processes, the
//!   jumpbox, temp directories), released on every exit path.
//! - [`redact`]: secrets are removed from everything written.
//! - [`transcript`]: `transcript.jsonl` and `transcript.txt` per scenario.
//! - [`provider`]: the minikube CLI (labsim answers the same CLI); [`minikube_cli`]: what real
//!   minikube's command line accepts, checked before every call.
//! - [`faults`]: labsim's fault injection and event log, for ride-through tests.
//! - [`lint`]: features, steps and fixtures checked before a run creates anything.
//! - [`wait`]: the one waiting primitive; [`deadline`]: step and scenario timeouts that say
//!   what the step was waiting for.
//! - [`jumpbox`]: where the course's `curl <node IP>` runs (netshoot on the profile's network,
//!   or the host on labsim).
//! - [`kubeconfig`]: the kubeconfig exported to the host, rewritten for Docker Desktop.
//! - [`versions`]: the per-minor table of what differs between Kubernetes versions, and
//!   [`gates`]: `@k8s(...)` version gates on scenarios.
//! - [`lab`]: a scenario's world.
//! - [`course`]: the course's cluster in stages (chapters 2–3), kept between scenarios.
//! - [`outage`]: chapter 7, nodes stopped and started: timing expectations from the configured
//!   values, the app's answers through the outage, and the course's claims.
//! - [`node_shell`]: node-side commands' output parsed by header (kubeadm, crictl, ctr, journal,
//!   kubectl tables); [`etcd`]: the course's etcdctl alias and etcdctl's formats;
//!   [`apiserver`]: `kubectl proxy` and the API paths of chapter 5; [`kube`]: typed checks
//!   through the cluster API.
//! - [`kubeadm_config`]: the kubeadm configuration the provisioning script writes, read back for
//!   the timings the features assert.
//! - [`provisioning`]: `--scripts ours|published` and the course's commands that fetch and run
//!   the scripts.
//! - [`run`], [`settings`], [`reports`], [`preflight`], [`labsim`], [`fixtures`]:
//!   a run's set-up.

pub mod apiserver;
pub mod bootstrap;
pub mod claims;
pub mod cleanup;
pub mod course;
pub mod deadline;
pub mod diagnostics;
pub mod etcd;
pub mod faults;
pub mod fixtures;
pub mod gates;
pub mod jumpbox;
pub mod kube;
pub mod kubeadm_config;
pub mod kubeconfig;
pub mod kubectl;
pub mod lab;
pub mod labsim;
pub mod lint;
pub mod minikube_cli;
pub mod node_shell;
pub mod outage;
pub mod preflight;
pub mod progress;
pub mod provider;
pub mod provisioning;
pub mod redact;
pub mod report;
pub mod reports;
pub mod run;
pub mod runner;
pub mod runtime;
pub mod settings;
pub mod timeline;
pub mod transcript;
pub mod versions;
pub mod wait;
pub mod workload;
