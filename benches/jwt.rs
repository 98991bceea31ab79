//! Signature verification cost per JWT algorithm (SPEC §8): `jsonwebtoken::crypto::verify`
//! (ring) on a typical access token (~300-byte claims), the step a cached JWT skips.
//! Keys: RSA 2048 from `tests/fixtures/jwt/`, P-256 and Ed25519 generated with rcgen.
//!
//! Measured with `cargo bench --bench jwt` (divan, median): see the numbers in the
//! commit that added this file and in the issue's closing note.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench setup, not request code: a failed setup should stop the bench loudly"
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use divan::{black_box, Bencher};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

fn main() {
    divan::main();
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// (signing input, signature, verification key) for one algorithm.
fn signed(alg: Algorithm) -> (String, String, DecodingKey) {
    let (encoding, decoding) = match alg {
        Algorithm::RS256 | Algorithm::PS256 => {
            let jwk: serde_json::Value =
                serde_json::from_slice(&fixture("rsa2048.jwk.json")).unwrap();
            (
                EncodingKey::from_rsa_der(&fixture("rsa2048.der")),
                DecodingKey::from_rsa_components(
                    jwk["n"].as_str().unwrap(),
                    jwk["e"].as_str().unwrap(),
                )
                .unwrap(),
            )
        }
        Algorithm::ES256 => {
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let raw = pair.public_key_raw();
            (
                EncodingKey::from_ec_der(&pair.serialize_der()),
                DecodingKey::from_ec_components(
                    &URL_SAFE_NO_PAD.encode(&raw[1..33]),
                    &URL_SAFE_NO_PAD.encode(&raw[33..]),
                )
                .unwrap(),
            )
        }
        Algorithm::EdDSA => {
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
            (
                EncodingKey::from_ed_der(&pair.serialize_der()),
                DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(pair.public_key_raw()))
                    .unwrap(),
            )
        }
        other => panic!("not benched: {other:?}"),
    };
    let header = format!(r#"{{"alg":"{alg:?}","typ":"at+jwt","kid":"k1"}}"#);
    let claims = r#"{"iss":"https://login.example.com/","aud":"orders-api","sub":"alice","scope":"orders:read orders:write profile","client_id":"web-app","exp":4102444800,"iat":1700000000,"jti":"0f8fad5b-d9cb-469f-a165-70867728950e"}"#;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &encoding, alg).unwrap();
    (input, signature, decoding)
}

#[divan::bench(args = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA])]
fn verify(bencher: Bencher, alg: Algorithm) {
    let (input, signature, key) = signed(alg);
    assert!(jsonwebtoken::crypto::verify(&signature, input.as_bytes(), &key, alg).unwrap());
    bencher.bench_local(|| {
        jsonwebtoken::crypto::verify(
            black_box(&signature),
            black_box(input.as_bytes()),
            &key,
            alg,
        )
        .unwrap()
    });
}
