//! Small JOSE helpers: ES256 JWTs for service-account tokens and detached HS256 JWS for the
//! bootstrap signer's `jws-kubeconfig-<id>` entries in the `cluster-info` ConfigMap.
//!
//! - Service-account tokens follow pkg/serviceaccount/jwt.go: header `{"alg":"ES256","kid":…}` where
//!   `kid` is the unpadded base64url SHA-256 of the public key's DER SubjectPublicKeyInfo
//!   (`keyIDFromPublicKey`), signatures in the fixed 64-byte `r||s` form of RFC 7518 §3.4.
//! - Bootstrap signatures follow staging/src/k8s.io/cluster-bootstrap/token/jws/jws.go
//!   `ComputeDetachedSignature`: HS256 keyed with the token secret, header `{"alg":"HS256","kid":<token id>}`,
//!   compact serialisation with the payload left out (`header..signature`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde_json::Value;

use super::{PkiError, pem_der};

fn invalid(what: &'static str, detail: impl Into<String>) -> PkiError {
    PkiError::Invalid {
        what,
        detail: detail.into(),
    }
}

/// An ES256 signing key (the `--service-account-signing-key-file`, PKCS#8 PEM).
pub struct Es256Signer {
    pair: EcdsaKeyPair,
    kid: String,
}

impl std::fmt::Debug for Es256Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Es256Signer")
            .field("kid", &self.kid)
            .finish()
    }
}

/// The uncompressed point inside a P-256 DER SubjectPublicKeyInfo.
fn spki_point(spki_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| invalid("public key", e.to_string()))?;
    Ok(spki.subject_public_key.data.to_vec())
}

/// DER SubjectPublicKeyInfo of an uncompressed P-256 point.
fn point_spki(point: &[u8]) -> Vec<u8> {
    // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING point }: the fixed prefix
    // every P-256 SPKI has (RFC 5480 §2).
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    der.extend_from_slice(point);
    der
}

fn key_id(spki_der: &[u8]) -> String {
    B64URL.encode(ring::digest::digest(&ring::digest::SHA256, spki_der).as_ref())
}

impl Es256Signer {
    /// Loads a PKCS#8 PEM P-256 private key.
    ///
    /// # Errors
    /// [`PkiError::Parse`]/[`PkiError::Invalid`] when it is not such a key.
    pub fn from_pem(key_pem: &str) -> Result<Es256Signer, PkiError> {
        let der = pem_der(key_pem, "PRIVATE KEY")?;
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &der,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| {
            invalid(
                "service-account signing key",
                format!("not a P-256 PKCS#8 key: {e}"),
            )
        })?;
        let kid = key_id(&point_spki(pair.public_key().as_ref()));
        Ok(Es256Signer { pair, kid })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Es256Verifier {
        Es256Verifier {
            point: self.pair.public_key().as_ref().to_vec(),
            kid: self.kid.clone(),
        }
    }

    /// Signs `claims` as a compact JWT.
    ///
    /// # Errors
    /// [`PkiError::Invalid`] if signing fails.
    pub fn sign(&self, claims: &Value) -> Result<String, PkiError> {
        let header = serde_json::json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .map_err(|_| invalid("jwt", "ECDSA signing failed"))?;
        Ok(format!("{input}.{}", B64URL.encode(sig.as_ref())))
    }
}

/// An ES256 verification key (`--service-account-key-file`: a `PUBLIC KEY` or `PRIVATE KEY` PEM).
#[derive(Debug, Clone)]
pub struct Es256Verifier {
    point: Vec<u8>,
    kid: String,
}

impl Es256Verifier {
    /// Loads a public key PEM (`PUBLIC KEY`) or derives it from a PKCS#8 private key.
    ///
    /// # Errors
    /// [`PkiError`] when the PEM holds no P-256 key.
    pub fn from_pem(pem_text: &str) -> Result<Es256Verifier, PkiError> {
        if pem_text.contains("BEGIN PUBLIC KEY") {
            let spki = pem_der(pem_text, "PUBLIC KEY")?;
            let point = spki_point(&spki)?;
            Ok(Es256Verifier {
                kid: key_id(&spki),
                point,
            })
        } else {
            Ok(Es256Signer::from_pem(pem_text)?.verifier())
        }
    }

    /// The public key as a JWK (RFC 7517/7518), as `/openid/v1/jwks` lists it.
    pub fn jwk(&self) -> Value {
        let (x, y) = if self.point.len() == 65 {
            (&self.point[1..33], &self.point[33..65])
        } else {
            (&self.point[..0], &self.point[..0])
        };
        serde_json::json!({"use": "sig", "kty": "EC", "kid": self.kid, "crv": "P-256", "alg": "ES256", "x": B64URL.encode(x), "y": B64URL.encode(y)})
    }

    /// The key id (`kid`) tokens signed by the matching key carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Verifies a compact ES256 JWT and returns its claims. Expiry and audience are the caller's.
    ///
    /// # Errors
    /// [`PkiError::Invalid`] when the token is malformed or the signature does not verify.
    pub fn verify(&self, token: &str) -> Result<Value, PkiError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("jwt", "not three dot-separated parts"));
        };
        let header: Value = B64URL
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("jwt", "header is not base64url JSON"))?;
        if header["alg"] != "ES256" {
            return Err(invalid("jwt", format!("unexpected alg {}", header["alg"])));
        }
        let sig = B64URL
            .decode(s)
            .map_err(|_| invalid("jwt", "signature is not base64url"))?;
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.point)
            .verify(format!("{h}.{p}").as_bytes(), &sig)
            .map_err(|_| invalid("jwt", "signature does not verify"))?;
        B64URL
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| invalid("jwt", "payload is not base64url JSON"))
    }
}

/// `ComputeDetachedSignature(content, tokenID, tokenSecret)`: `header..signature`.
pub fn bootstrap_detached_signature(content: &str, token_id: &str, token_secret: &str) -> String {
    let header = serde_json::json!({"alg": "HS256", "kid": token_id});
    let h = B64URL.encode(header.to_string());
    let input = format!("{h}.{}", B64URL.encode(content));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token_secret.as_bytes());
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{h}..{}", B64URL.encode(tag.as_ref()))
}

/// Checks a detached HS256 JWS as `kubeadm join` does (cluster-bootstrap/token/jws
/// `DetachedTokenIsValid`): recompute and compare in constant time.
pub fn bootstrap_signature_valid(
    detached: &str,
    content: &str,
    token_id: &str,
    token_secret: &str,
) -> bool {
    let Some((h, s)) = detached.split_once("..") else {
        return false;
    };
    let input = format!("{h}.{}", B64URL.encode(content));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token_secret.as_bytes());
    let Ok(sig) = B64URL.decode(s) else {
        return false;
    };
    let header_ok = B64URL
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|v| v["alg"] == "HS256" && v["kid"] == token_id);
    header_ok && ring::hmac::verify(&key, input.as_bytes(), &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_round_trip_and_tamper() {
        let key = crate::pki::new_key().unwrap();
        let signer = Es256Signer::from_pem(&key.serialize_pem()).unwrap();
        let verifier = Es256Verifier::from_pem(&key.public_key_pem()).unwrap();
        assert_eq!(signer.verifier().kid(), verifier.kid());
        let claims = serde_json::json!({"sub": "system:serviceaccount:default:default"});
        let token = signer.sign(&claims).unwrap();
        assert_eq!(verifier.verify(&token).unwrap(), claims);
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = B64URL.encode(r#"{"sub":"system:admin"}"#);
        parts[1] = &other;
        assert!(verifier.verify(&parts.join(".")).is_err());
        let jwk = verifier.jwk();
        assert_eq!(
            (
                jwk["kty"].as_str(),
                jwk["crv"].as_str(),
                jwk["kid"].as_str()
            ),
            (Some("EC"), Some("P-256"), Some(verifier.kid()))
        );
        let mut point = vec![4u8];
        point.extend(B64URL.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(B64URL.decode(jwk["y"].as_str().unwrap()).unwrap());
        assert_eq!(point, verifier.point);
        let other_key = crate::pki::new_key().unwrap();
        let other_verifier = Es256Verifier::from_pem(&other_key.public_key_pem()).unwrap();
        assert!(other_verifier.verify(&token).is_err());
    }

    #[test]
    fn detached_jws_verifies_only_with_the_right_secret() {
        let content = "apiVersion: v1\nkind: Config\n";
        let sig = bootstrap_detached_signature(content, "abcdef", "0123456789abcdef");
        assert!(sig.contains(".."));
        let header = B64URL.decode(sig.split("..").next().unwrap()).unwrap();
        assert_eq!(
            String::from_utf8(header).unwrap(),
            r#"{"alg":"HS256","kid":"abcdef"}"#
        );
        assert!(bootstrap_signature_valid(
            &sig,
            content,
            "abcdef",
            "0123456789abcdef"
        ));
        assert!(!bootstrap_signature_valid(
            &sig,
            content,
            "abcdef",
            "0123456789abcdeX"
        ));
        assert!(!bootstrap_signature_valid(
            &sig,
            "changed",
            "abcdef",
            "0123456789abcdef"
        ));
        assert!(!bootstrap_signature_valid(
            &sig,
            content,
            "zzzzzz",
            "0123456789abcdef"
        ));
    }

    /// RFC 7515 appendix A.1's HS256 example key and input give its published signature, so the
    /// HMAC and encoding are the standard ones.
    #[test]
    fn hs256_matches_rfc7515_example() {
        let key = B64URL
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            input.as_bytes(),
        );
        assert_eq!(
            B64URL.encode(tag.as_ref()),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }
}
