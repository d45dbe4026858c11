//! The container runtime (containerd's role): pod sandboxes, containers as processes, CRI-like API.

pub mod cri;
