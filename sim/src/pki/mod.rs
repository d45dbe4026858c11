//! Certificates, keys and kubeconfigs: what kubeadm generates and the API server checks.
