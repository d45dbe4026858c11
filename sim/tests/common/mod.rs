//! Shared helpers of labsim's integration tests. Every test binary includes this module and uses
//! part of it, hence `dead_code` is allowed.
//! - [`api`]: temporary directories, loopback addresses, a PKI and a real etcd + API server.
//! - [`course`]: a cluster built on labsim nodes with the course's own steps.
//! - [`nodes`]: a temporary `$LABSIM_HOME` with a `minikube` symlink, command runners, and checks
//!   that nothing of a profile is left behind.

#![allow(dead_code)]

pub mod api;
pub mod course;
pub mod nodes;

#[allow(unused_imports)]
pub use api::*;
#[allow(unused_imports)]
pub use nodes::*;
