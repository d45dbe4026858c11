//! k8s-labs harness library.
