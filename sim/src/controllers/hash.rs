//! `controller.ComputeHash` (pkg/controller/controller_utils.go): the `pod-template-hash` of a
//! Deployment's ReplicaSets and the `controller-revision-hash` of a DaemonSet's revisions.
//!
//! Upstream hashes the template with FNV-32a over `hashutil.DeepHashObject` (a spew dump of the Go
//! struct), writes the collision count as 8 little-endian bytes when there is one, and encodes the
//! decimal sum with `rand.SafeEncodeString` (each digit mapped into the alphabet
//! `bcdfghjklmnpqrstvwxz2456789`, so hashes only contain `4-9`, `b`, `c`, `d`, `f`).
//!
//! labsim keeps the FNV-32a, the collision-count bytes and the encoding, but dumps the template's
//! *JSON* (keys sorted) instead of the Go struct, whose layout (every zero-valued field of every
//! release's PodTemplateSpec) labsim does not have. The hash therefore changes exactly when the
//! template changes, has the real length and alphabet, but is not the value a real cluster of the
//! same version computes for the same template.

use serde_json::Value;

/// `util/rand.SafeEncodeString`'s alphabet.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-32a (hash/fnv).
#[derive(Debug, Clone, Copy)]
pub struct Fnv32a(u32);

impl Default for Fnv32a {
    fn default() -> Self {
        Fnv32a(0x811c_9dc5)
    }
}

impl Fnv32a {
    /// Adds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }

    /// The sum.
    pub fn sum(self) -> u32 {
        self.0
    }
}

/// `rand.SafeEncodeString`.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char)
        .collect()
}

fn dump(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push_str("(map) {\n");
            for k in keys {
                out.push_str(&format!("{pad} ({k:?}): "));
                dump(&m[k], indent + 1, out);
                out.push_str(",\n");
            }
            out.push_str(&pad);
            out.push('}');
        }
        Value::Array(a) => {
            out.push_str(&format!("(len={}) {{\n", a.len()));
            for x in a {
                out.push_str(&format!("{pad} "));
                dump(x, indent + 1, out);
                out.push_str(",\n");
            }
            out.push_str(&pad);
            out.push('}');
        }
        Value::String(s) => out.push_str(&format!("(string) {s:?}")),
        Value::Number(n) => out.push_str(&format!("(number) {n}")),
        Value::Bool(b) => out.push_str(&format!("(bool) {b}")),
        Value::Null => out.push_str("<nil>"),
    }
}

/// `controller.ComputeHash(template, collisionCount)`.
pub fn compute_hash(template: &Value, collision_count: Option<u32>) -> String {
    let mut text = String::new();
    dump(template, 0, &mut text);
    let mut h = Fnv32a::default();
    h.write(text.as_bytes());
    if let Some(c) = collision_count {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&c.to_le_bytes());
        h.write(&b);
    }
    safe_encode(&h.sum().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        let mut h = Fnv32a::default();
        h.write(b"");
        assert_eq!(h.sum(), 0x811c_9dc5);
        let mut h = Fnv32a::default();
        h.write(b"a");
        assert_eq!(h.sum(), 0xe40c_292c);
        let mut h = Fnv32a::default();
        h.write(b"foobar");
        assert_eq!(h.sum(), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_of_digits() {
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn hash_tracks_the_template_and_the_collision_count() {
        let t = json!({"metadata": {"labels": {"app": "hello"}}, "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/learnk8s/podinfo:2.0"}]}});
        let h = compute_hash(&t, None);
        assert!((1..=10).contains(&h.len()));
        assert!(h.chars().all(|c| "456789bcdf".contains(c)), "{h}");
        // Key order does not matter, content does.
        let same = json!({"spec": {"containers": [{"image": "ghcr.io/learnk8s/podinfo:2.0", "name": "podinfo"}]}, "metadata": {"labels": {"app": "hello"}}});
        assert_eq!(compute_hash(&same, None), h);
        let other = json!({"metadata": {"labels": {"app": "hello"}}, "spec": {"containers": [{"name": "podinfo", "image": "ghcr.io/learnk8s/podinfo:2.1"}]}});
        assert_ne!(compute_hash(&other, None), h);
        assert_ne!(compute_hash(&t, Some(1)), h);
    }
}
