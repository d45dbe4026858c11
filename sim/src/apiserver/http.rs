//! HTTP plumbing of the API server: body type, responses, query strings, content negotiation.

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::status::ApiError;

/// The response body type: whole or streamed.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// The request body type: as received, or buffered (when the audit filter has read it).
pub type ReqBody = BoxBody<Bytes, hyper::Error>;

/// A buffered request body.
pub fn req_body(b: impl Into<Bytes>) -> ReqBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A complete body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A JSON response.
pub fn json(code: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(full(serde_json::to_vec(v).expect("JSON serialises")))
        .expect("valid response")
}

/// A plain-text response.
pub fn text(code: u16, t: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::OK))
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .header("cache-control", "no-cache, private")
        .body(full(t.into()))
        .expect("valid response")
}

/// The Status response of an error.
pub fn error(e: &ApiError) -> Response<Body> {
    json(e.code(), &e.status())
}

/// Percent-decoding of a query component (`+` is a space).
pub fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters of a request (last value wins).
pub fn query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode_component(k), decode_component(v)),
            None => (decode_component(p), String::new()),
        })
        .collect()
}

/// What the client asked for in `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// The object or list as JSON.
    Json,
    /// A Table (`meta.k8s.io/v1` or `v1beta1`).
    Table(&'static str),
    /// PartialObjectMetadata(List).
    Metadata(&'static str),
}

/// Reads the `Accept` header: the first `as=Table` or `as=PartialObjectMetadata…` offered wins, with
/// the version offered; anything else is JSON (protobuf is never served).
pub fn negotiate(accept: Option<&str>) -> Want {
    for part in accept.unwrap_or_default().split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let get = |k: &str| {
            params
                .iter()
                .find_map(|p| p.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
        };
        if params.first().is_some_and(|m| *m == "application/json")
            && get("g") == Some("meta.k8s.io")
        {
            let v = if get("v") == Some("v1beta1") {
                "v1beta1"
            } else {
                "v1"
            };
            match get("as") {
                Some("Table") => return Want::Table(v),
                Some("PartialObjectMetadata") | Some("PartialObjectMetadataList") => {
                    return Want::Metadata(v);
                }
                _ => {}
            }
        }
    }
    Want::Json
}

/// Reads a request body to the end (at most 3 MiB, kube-apiserver's limit for one request).
///
/// # Errors
/// [`ApiError::BadRequest`] when reading fails or the body is too large.
pub async fn read_body(body: ReqBody) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, 3 * 1024 * 1024);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))
}

/// Parses a JSON (or YAML, for `application/yaml` and `application/apply-patch+yaml`) body.
///
/// # Errors
/// [`ApiError::BadRequest`] for malformed input, with the decoder's message as kube-apiserver
/// words it.
pub fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if content_type.contains("protobuf") {
        // Typed client-go writes (`kubectl create namespace|serviceaccount|configmap|secret|token`).
        return super::protobuf::decode(body);
    }
    if content_type.contains("cbor") {
        return Err(ApiError::UnsupportedMediaType(
            "application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ));
    }
    if content_type.contains("yaml") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
        return serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")));
    }
    let unrecognized = |detail: String| {
        ApiError::BadRequest(format!(
            "the object provided is unrecognized ({}): couldn't get version/kind; json parse error: {detail}",
            summarize(body, 30)
        ))
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        unrecognized(
            super::gojson::check(body)
                .err()
                .unwrap_or_else(|| e.to_string()),
        )
    })?;
    // The object's apiVersion and kind are read into a struct first (runtime/serializer/json
    // SimpleMetaFactory.Interpret), which only an object (or null) fits. Patches are arrays or
    // objects of their own media types and are not read this way.
    let plain_json = matches!(media_type(content_type).as_str(), "" | "application/json");
    let go_type = match &v {
        Value::Array(_) => Some("array"),
        Value::String(_) => Some("string"),
        Value::Number(_) => Some("number"),
        Value::Bool(_) => Some("bool"),
        _ => None,
    };
    if plain_json && let Some(t) = go_type {
        return Err(unrecognized(format!(
            "json: cannot unmarshal {t} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}"
        )));
    }
    Ok(v)
}

/// `summarizeData` (apiserver/pkg/endpoints/handlers/rest.go): a body as an error message shows
/// it, `<empty>`, the text of a JSON object, or hex, cut to `max` bytes.
pub fn summarize(data: &[u8], max: usize) -> String {
    let cut = &data[..data.len().min(max)];
    let more = if data.len() > max { " ..." } else { "" };
    match data.first() {
        None => "<empty>".into(),
        Some(b'{') => format!("{}{more}", String::from_utf8_lossy(cut)),
        Some(_) => format!("{}{more}", crate::pki::hex(cut)),
    }
}

/// The media type of a `Content-Type` (lower case, without parameters).
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The media types a create or update body may have (the negotiated serializer's: JSON, YAML,
/// protobuf; CBOR only behind the `CBORServingAndStorage` feature gate, off by default).
pub const BODY_TYPES: &str =
    "application/json, application/yaml, application/vnd.kubernetes.protobuf";

/// Checks the `Content-Type` of a create or update (`negotiation.NegotiateInputSerializer`): no
/// type means JSON; anything else must be one of [`BODY_TYPES`].
///
/// # Errors
/// [`ApiError::UnsupportedMediaType`] (415).
pub fn check_body_type(content_type: Option<&str>) -> Result<(), ApiError> {
    match content_type.map(media_type).as_deref() {
        None
        | Some("")
        | Some("application/json")
        | Some("application/yaml")
        | Some("application/vnd.kubernetes.protobuf") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(BODY_TYPES)),
    }
}

/// The patch types kube-apiserver's PATCH routes consume (endpoints/installer.go).
pub const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// Checks the `Content-Type` of a patch: the route consumes [`PATCH_TYPES`] only, and go-restful
/// refuses anything else before the handler runs (its `415: Unsupported Media Type`).
///
/// # Errors
/// [`ApiError::RouteUnsupportedMediaType`] (415).
pub fn check_patch_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let t = content_type.map(media_type).unwrap_or_default();
    if PATCH_TYPES.contains(&t.as_str()) {
        Ok(())
    } else {
        Err(ApiError::RouteUnsupportedMediaType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_accept() {
        let q = query(Some(
            "labelSelector=kubernetes.io%2Fcluster-service%3Dtrue&limit=500&watch",
        ));
        assert_eq!(q["labelSelector"], "kubernetes.io/cluster-service=true");
        assert_eq!(q["limit"], "500");
        assert_eq!(q["watch"], "");
        assert_eq!(
            negotiate(Some(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            )),
            Want::Table("v1")
        );
        assert_eq!(
            negotiate(Some("application/json;as=Table;v=v1beta1;g=meta.k8s.io")),
            Want::Table("v1beta1")
        );
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf,application/json")),
            Want::Json
        );
        assert_eq!(
            negotiate(Some(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            )),
            Want::Metadata("v1")
        );
        assert_eq!(decode_component("a%2"), "a%2");
    }
}
