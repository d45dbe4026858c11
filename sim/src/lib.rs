//! labsim: an offline stand-in for minikube and for the Kubernetes the course builds on its nodes.
//!
//! One multi-call binary; `main.rs` dispatches on the name it was invoked under. The modules mirror
//! Kubernetes' own component boundaries so that each rule sits where a Kubernetes engineer would look
//! for it. The process model, addresses and filesystem layout are described in `docs/labsim.md`.

pub mod apiserver;
pub mod cli;
pub mod client;
pub mod controllers;
pub mod etcd;
pub mod eventlog;
pub mod faults;
pub mod gocli;
pub mod images;
pub mod kubelet;
pub mod minikube;
pub mod net;
pub mod node;
pub mod paths;
pub mod pki;
pub mod runtime;
pub mod scheduler;
pub mod version;
