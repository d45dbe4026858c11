//! A small Kubernetes API client for labsim's own components (JSON over HTTPS, list/watch).

pub mod transport;
