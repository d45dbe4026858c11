//! etcd: the v3 gRPC-gateway JSON client the API server uses, and how etcd is launched.
