//! Decoding of Kubernetes protobuf request bodies for the few kinds that kubectl's typed
//! `create` subcommands send (`kubectl create namespace|serviceaccount|configmap|secret|token`).
//!
//! The envelope is apimachinery's (pkg/runtime/serializer/protobuf): the magic `k8s\0`, then a
//! `runtime.Unknown` {1: TypeMeta {1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}
//! whose `raw` is the object encoded with the field numbers of k8s.io/api's `generated.proto`.
//! Only the messages below are known; anything else is refused with 415, and clients that can send
//! JSON (kubectl apply/create -f, client-go dynamic clients) are unaffected.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::status::ApiError;

/// What a protobuf field becomes in JSON.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Time,
    Msg(&'static [Field]),
    RepeatedStr,
    RepeatedMsg(&'static [Field]),
    MapStr,
    MapBytes,
}

type Field = (u64, &'static str, Kind);

const TIME: Kind = Kind::Time;

const OWNER_REF: &[Field] = &[
    (1, "kind", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "controller", Kind::Bool),
    (7, "blockOwnerDeletion", Kind::Bool),
];

/// k8s.io/apimachinery/pkg/apis/meta/v1 ObjectMeta.
const OBJECT_META: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (5, "uid", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "generation", Kind::Int),
    (8, "creationTimestamp", TIME),
    (11, "labels", Kind::MapStr),
    (12, "annotations", Kind::MapStr),
    (13, "ownerReferences", Kind::RepeatedMsg(OWNER_REF)),
    (14, "finalizers", Kind::RepeatedStr),
];

const OBJECT_REF: &[Field] = &[
    (1, "kind", Kind::Str),
    (2, "namespace", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "fieldPath", Kind::Str),
];

const LOCAL_REF: &[Field] = &[(1, "name", Kind::Str)];

const NAMESPACE: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[(1, "finalizers", Kind::RepeatedStr)]),
    ),
];

const SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "secrets", Kind::RepeatedMsg(OBJECT_REF)),
    (3, "imagePullSecrets", Kind::RepeatedMsg(LOCAL_REF)),
    (4, "automountServiceAccountToken", Kind::Bool),
];

const CONFIG_MAP: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapStr),
    (3, "binaryData", Kind::MapBytes),
    (4, "immutable", Kind::Bool),
];

const SECRET: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (2, "data", Kind::MapBytes),
    (3, "type", Kind::Str),
    (4, "stringData", Kind::MapStr),
    (5, "immutable", Kind::Bool),
];

const BOUND_REF: &[Field] = &[
    (1, "kind", Kind::Str),
    (2, "apiVersion", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
];

/// authentication.k8s.io/v1 TokenRequest.
const TOKEN_REQUEST: &[Field] = &[
    (1, "metadata", Kind::Msg(OBJECT_META)),
    (
        2,
        "spec",
        Kind::Msg(&[
            (1, "audiences", Kind::RepeatedStr),
            (3, "boundObjectRef", Kind::Msg(BOUND_REF)),
            (4, "expirationSeconds", Kind::Int),
        ]),
    ),
];

fn bad(why: &str) -> ApiError {
    ApiError::BadRequest(format!("cannot decode the protobuf body: {why}"))
}

fn varint(b: &[u8], pos: &mut usize) -> Result<u64, ApiError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos).ok_or_else(|| bad("truncated varint"))?;
        *pos += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(bad("varint too long"))
}

/// (field number, wire value) pairs of one message.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn fields(b: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, ApiError> {
    let mut out = vec![];
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        let (num, wt) = (key >> 3, key & 7);
        match wt {
            0 => out.push((num, Wire::Varint(varint(b, &mut pos)?))),
            1 => pos += 8,
            2 => {
                let len = varint(b, &mut pos)? as usize;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= b.len())
                    .ok_or_else(|| bad("truncated field"))?;
                out.push((num, Wire::Bytes(&b[pos..end])));
                pos = end;
            }
            5 => pos += 4,
            _ => return Err(bad("unsupported wire type")),
        }
    }
    Ok(out)
}

fn text(w: &Wire<'_>) -> Result<String, ApiError> {
    match w {
        Wire::Bytes(b) => String::from_utf8(b.to_vec()).map_err(|_| bad("a string is not UTF-8")),
        Wire::Varint(_) => Err(bad("expected a string")),
    }
}

fn message(b: &[u8], schema: &[Field]) -> Result<Value, ApiError> {
    let mut out = Map::new();
    for (num, w) in fields(b)? {
        let Some((_, name, kind)) = schema.iter().find(|(n, _, _)| *n == num) else {
            continue;
        };
        let name = name.to_string();
        match (kind, &w) {
            (Kind::Str, _) => {
                out.insert(name, json!(text(&w)?));
            }
            (Kind::Bool, Wire::Varint(v)) => {
                out.insert(name, json!(*v != 0));
            }
            (Kind::Int, Wire::Varint(v)) => {
                out.insert(name, json!(*v as i64));
            }
            (Kind::Time, Wire::Bytes(b)) => {
                let secs = fields(b)?
                    .iter()
                    .find_map(|(n, v)| match (n, v) {
                        (1, Wire::Varint(s)) => Some(*s as i64),
                        _ => None,
                    })
                    .unwrap_or(0);
                let t = jiff::Timestamp::from_second(secs).map_err(|_| bad("time out of range"))?;
                out.insert(name, json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
            }
            (Kind::Msg(s), Wire::Bytes(b)) => {
                out.insert(name, message(b, s)?);
            }
            (Kind::RepeatedStr, _) => {
                let v = text(&w)?;
                if let Some(a) = out.entry(name).or_insert_with(|| json!([])).as_array_mut() {
                    a.push(json!(v));
                }
            }
            (Kind::RepeatedMsg(s), Wire::Bytes(b)) => {
                let v = message(b, s)?;
                if let Some(a) = out.entry(name).or_insert_with(|| json!([])).as_array_mut() {
                    a.push(v);
                }
            }
            (Kind::MapStr | Kind::MapBytes, Wire::Bytes(b)) => {
                let entry = fields(b)?;
                let key = entry
                    .iter()
                    .find(|(n, _)| *n == 1)
                    .map(|(_, v)| text(v))
                    .transpose()?
                    .unwrap_or_default();
                let value = match (kind, entry.iter().find(|(n, _)| *n == 2)) {
                    (Kind::MapStr, Some((_, v))) => json!(text(v)?),
                    (Kind::MapBytes, Some((_, Wire::Bytes(b)))) => {
                        json!(base64::engine::general_purpose::STANDARD.encode(b))
                    }
                    (Kind::MapStr, None) => json!(""),
                    _ => json!(""),
                };
                if let Some(m) = out.entry(name).or_insert_with(|| json!({})).as_object_mut() {
                    m.insert(key, value);
                }
            }
            _ => return Err(bad("unexpected wire type for a field")),
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a `k8s\0`-framed protobuf body to the JSON object it stands for.
///
/// # Errors
/// [`ApiError::UnsupportedMediaType`] for kinds labsim has no schema for, BadRequest for malformed
/// bodies.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let raw = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("missing the k8s\\0 prefix"))?;
    let unknown = fields(raw)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut object: &[u8] = &[];
    for (n, w) in &unknown {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                for (tn, tv) in fields(tm)? {
                    match tn {
                        1 => api_version = text(&tv)?,
                        2 => kind = text(&tv)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => object = b,
            _ => {}
        }
    }
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("authentication.k8s.io/v1", "TokenRequest") => TOKEN_REQUEST,
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "application/json, application/yaml",
            ));
        }
    };
    let mut v = message(object, schema)?;
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(num << 3 | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_namespace_as_kubectl_sends_it() {
        // kubectl create namespace demo: Unknown{TypeMeta{v1, Namespace}, raw=Namespace{metadata{name}}}
        let meta = field(1, b"demo");
        let mut labels_entry = field(1, b"team");
        labels_entry.extend(field(2, b"a"));
        let mut meta_all = meta.clone();
        meta_all.extend(field(11, &labels_entry));
        let ns = field(1, &meta_all);
        let mut tm = field(1, b"v1");
        tm.extend(field(2, b"Namespace"));
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &tm));
        body.extend(field(2, &ns));
        body.extend(field(4, b"application/vnd.kubernetes.protobuf"));
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo", "labels": {"team": "a"}}})
        );
        let mut tm = field(1, b"apps/v1");
        tm.extend(field(2, b"Deployment"));
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &tm));
        assert!(matches!(
            decode(&body),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert!(matches!(decode(b"nope"), Err(ApiError::BadRequest(_))));
    }
}
