//! Addresses: profile slots, node IPs and the mapping of pod IPs onto 127.0.0.0/8 (docs/labsim.md).
