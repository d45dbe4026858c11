//! k8s-labs harness library.

pub mod kubeadm_config;
