//! A JWKS (RFC 7517 §5) turned into the keys scopegate may verify with (docs/reference.md#header-and-keys).
//!
//! Each JWK is read on its own, so one key of an unknown type does not hide the others.
//! A key is *not used* when its `use` is other than `sig`, its `key_ops` lack `verify`,
//! it is symmetric (`oct`), it is an RSA key under 2048 bits, or its curve is not one
//! scopegate verifies. Key material is handed to `jsonwebtoken` (ring underneath).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// RSA moduli below this are ignored (NIST SP 800-131A; ring refuses them too).
const MIN_RSA_BITS: usize = 2048;

/// Key type and curve: what an `alg` must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// One usable verification key.
pub(crate) struct Key {
    pub kid: Option<String>,
    pub family: Family,
    /// The JWK's `alg`, when it names one: the key is only used for that algorithm.
    pub alg: Option<String>,
    pub decoding: DecodingKey,
}

/// The usable keys of one fetched JWKS; never empty.
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| k.kid.as_deref()).collect();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

/// The key family an algorithm needs.
pub(crate) fn family(alg: Algorithm) -> Option<Family> {
    match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => Some(Family::Rsa),
        Algorithm::ES256 => Some(Family::P256),
        Algorithm::ES384 => Some(Family::P384),
        Algorithm::EdDSA => Some(Family::Ed25519),
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => None,
    }
}

/// The exact JWS `alg` name (RFC 7518 §3.1, RFC 8037 §3.1); case matters.
pub(crate) fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

// === impl KeySet ===

impl KeySet {
    /// Parses a JWKS document; `Err` when it is not one or has no usable key.
    pub(crate) fn parse(doc: &Value) -> Result<KeySet, &'static str> {
        let Some(list) = doc.get("keys").and_then(Value::as_array) else {
            return Err("not a JWKS: no \"keys\" array");
        };
        let keys: Vec<Key> = list.iter().filter_map(parse_key).collect();
        if keys.is_empty() {
            return Err("the JWKS has no usable signature key");
        }
        Ok(KeySet { keys })
    }

    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The keys a token with this `kid` (or none) and `alg` may be verified with.
    pub(crate) fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
        alg_name: &'a str,
    ) -> impl Iterator<Item = &'a Key> + 'a {
        let family = family(alg);
        self.keys.iter().filter(move |k| {
            Some(k.family) == family
                && k.alg.as_deref().is_none_or(|a| a == alg_name)
                && kid.is_none_or(|kid| k.kid.as_deref() == Some(kid))
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

fn parse_key(jwk: &Value) -> Option<Key> {
    let str_member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if jwk.get("use").is_some() && str_member("use") != Some("sig") {
        return None;
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verify {
            return None;
        }
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(a.clone()),
        Some(_) => return None,
    };
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return None,
    };
    let (key_family, decoding) = match (str_member("kty")?, str_member("crv")) {
        ("RSA", _) => {
            let (n, e) = (str_member("n")?, str_member("e")?);
            if rsa_bits(n)? < MIN_RSA_BITS {
                return None;
            }
            (Family::Rsa, DecodingKey::from_rsa_components(n, e).ok()?)
        }
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let (x, y) = (str_member("x")?, str_member("y")?);
            let (family, len) = match crv {
                "P-256" => (Family::P256, 32),
                _ => (Family::P384, 48),
            };
            if decoded_len(x)? != len || decoded_len(y)? != len {
                return None;
            }
            (family, DecodingKey::from_ec_components(x, y).ok()?)
        }
        ("OKP", Some("Ed25519")) => {
            let x = str_member("x")?;
            if decoded_len(x)? != 32 {
                return None;
            }
            (Family::Ed25519, DecodingKey::from_ed_components(x).ok()?)
        }
        // `oct` (a shared secret), other curves, unknown types: never used.
        _ => return None,
    };
    // A key whose own `alg` contradicts its type is never used.
    if let Some(a) = &alg {
        if algorithm(a).and_then(family) != Some(key_family) {
            return None;
        }
    }
    Some(Key {
        kid,
        family: key_family,
        alg,
        decoding,
    })
}

fn decoded_len(b64: &str) -> Option<usize> {
    URL_SAFE_NO_PAD.decode(b64).ok().map(|b| b.len())
}

/// The bit length of a base64url big-endian modulus.
fn rsa_bits(n: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(n).ok()?;
    let first = bytes.iter().position(|b| *b != 0)?;
    let lead = bytes[first];
    Some((bytes.len() - first - 1) * 8 + (8 - lead.leading_zeros() as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_bit_length_ignores_leading_zero_bytes() {
        let mut n = vec![0u8, 0x80];
        n.extend([0u8; 255]);
        assert_eq!(rsa_bits(&URL_SAFE_NO_PAD.encode(&n)), Some(2048));
        let mut short = vec![0x7fu8];
        short.extend([0u8; 255]);
        assert_eq!(rsa_bits(&URL_SAFE_NO_PAD.encode(&short)), Some(2047));
    }

    /// ring would refuse the signature too; the key must not even enter the set.
    #[test]
    fn rsa_keys_under_2048_bits_are_dropped_at_parse() {
        let weak: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/jwt/rsa1024.jwk.json"))
                .unwrap();
        let strong: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/jwt/rsa2048.jwk.json"))
                .unwrap();
        assert!(KeySet::parse(&serde_json::json!({ "keys": [weak.clone()] })).is_err());
        let set = KeySet::parse(&serde_json::json!({ "keys": [weak, strong] })).unwrap();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn unusable_keys_are_skipped_and_an_empty_set_is_refused() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "OKP", "crv": "Ed25519", "use": "enc", "x": URL_SAFE_NO_PAD.encode([1u8; 32])},
            {"kty": "OKP", "crv": "Ed25519", "key_ops": ["sign"], "x": URL_SAFE_NO_PAD.encode([1u8; 32])},
            {"kty": "OKP", "crv": "X25519", "x": URL_SAFE_NO_PAD.encode([1u8; 32])},
            {"kty": "OKP", "crv": "Ed25519", "alg": "RS256", "x": URL_SAFE_NO_PAD.encode([1u8; 32])},
        ]});
        assert!(KeySet::parse(&doc).is_err());
        let doc = serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": URL_SAFE_NO_PAD.encode([1u8; 32])},
        ]});
        let set = KeySet::parse(&doc).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.has_kid("a"));
        assert_eq!(set.candidates(None, Algorithm::EdDSA, "EdDSA").count(), 1);
        assert_eq!(set.candidates(None, Algorithm::ES256, "ES256").count(), 0);
        assert_eq!(
            set.candidates(Some("b"), Algorithm::EdDSA, "EdDSA").count(),
            0
        );
    }
}
