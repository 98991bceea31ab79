//! Signature verification cost per JWT algorithm (docs/reference.md#jwt-access-tokens): `jsonwebtoken::crypto::verify`
//! (ring) on a typical access token (~300-byte claims), the step a cached JWT skips.
//! Keys: RSA 2048 from `tests/fixtures/jwt/`, P-256 and Ed25519 generated with rcgen.
//!
//! Also, side by side in one run: 100 cached-JWT decisions (`JwtValidator::validate`:
//! digest, cache hit, claim checks) against 100 cached-introspection decisions
//! (`Introspector::introspect` + `TokenInfo::check`), both on a current-thread runtime
//! with the in-process demo authorization server (RFC 7662 endpoint and JWKS).
//!
//! Measured with `cargo bench --bench jwt` (divan, median of 100 samples), `nproc` 2,
//! shared cloud VM with other builds running (load average ~8), bench profile:
//!
//!   bench                                     median     per item
//!   verify RS256 (RSA 2048)                   32.5 µs
//!   verify PS256 (RSA 2048)                   34.8 µs
//!   verify EdDSA (Ed25519)                    75.8 µs
//!   verify ES256 (P-256)                      81.4 µs
//!   introspection_cache_hit_and_check_x100    47.9 µs    0.48 µs  (9-byte token)
//!   jwt_cache_hit_and_claim_checks_x100        109 µs    1.09 µs  (348-byte JWT)
//!
//! The cached JWT decision is about 0.6 µs dearer than the cached opaque one, not within
//! 5%: most of it is the SHA-256 cache key over a token 39x longer, plus the claim checks
//! (`iss`, `aud`, `exp`, `nbf`, `iat` map lookups) that a hit never skips. Both stay far
//! below the ~20 µs of proxy CPU per request (`benches/end_to_end.rs`) and the 30–80 µs a
//! signature check costs, which is what the cache saves.
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

// === cached JWT against cached introspection, side by side ===

const HITS: usize = 100;

/// A current-thread runtime with the in-process demo authorization server (RFC 7662
/// endpoint and JWKS) on 127.0.0.1:0.
fn demo_server() -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(scopegate::demo::auth_server::serve(
        listener,
        "demo".into(),
        "demo-secret".into(),
    ));
    (rt, addr)
}

/// 100 cache hits of `Introspector::introspect` + `TokenInfo::check` with an expected
/// issuer and audience: the opaque-token decision on a hit.
#[divan::bench]
fn introspection_cache_hit_and_check_x100(bencher: Bencher) {
    use scopegate::config::{AuthMethod, CacheConfig, IntrospectionConfig, Secret};
    use scopegate::introspect::{now_unix, Expectations, Health, Introspector};
    let (rt, addr) = demo_server();
    let config = IntrospectionConfig {
        endpoint: format!("http://{addr}/introspect").parse().unwrap(),
        client_id: "demo".into(),
        client_secret: Secret::new("demo-secret"),
        auth_method: AuthMethod::ClientSecretBasic,
        timeout: std::time::Duration::from_secs(2),
        ca_file: None,
        expected_issuer: None,
        expected_audience: None,
        cache: CacheConfig::default(),
    };
    let metrics = std::sync::Arc::new(scopegate::metrics::Metrics::new().unwrap());
    let introspector = Introspector::new(
        &config,
        None,
        metrics,
        std::sync::Arc::new(Health::default()),
    )
    .unwrap();
    let token =
        scopegate::token::parse_authorization(&http::HeaderValue::from_static("Bearer demo-read"))
            .unwrap()
            .unwrap();
    assert!(rt
        .block_on(introspector.introspect(&token))
        .unwrap()
        .is_active());
    let expect = Expectations::default();
    bencher
        .counter(divan::counter::ItemsCount::new(HITS))
        .bench_local(|| {
            rt.block_on(async {
                for _ in 0..HITS {
                    let info = introspector.introspect(black_box(&token)).await.unwrap();
                    info.check(now_unix(), &expect).unwrap();
                    black_box(info);
                }
            });
        });
}

/// 100 cache hits of `JwtValidator::validate` for the demo JWT: digest, cache lookup and
/// the claim checks (iss, aud, exp, nbf, iat) — the signature is not re-verified.
#[divan::bench]
fn jwt_cache_hit_and_claim_checks_x100(bencher: Bencher) {
    use scopegate::config::{CacheConfig, JwksSource, JwtConfig};
    use scopegate::jwt::{JwtValidator, Verdict};
    let (rt, addr) = demo_server();
    let issuer = format!("http://{addr}");
    let config = JwtConfig {
        issuer: issuer.clone(),
        audience: scopegate::demo::auth_server::DEMO_AUDIENCE.into(),
        keys: JwksSource::JwksUri(format!("{issuer}/jwks").parse().unwrap()),
        algorithms: vec![Algorithm::EdDSA],
        typ: vec!["at+jwt".into()],
        scope_claim: "scope".into(),
        leeway: std::time::Duration::from_secs(30),
        jwks_refresh: std::time::Duration::from_secs(300),
        timeout: std::time::Duration::from_secs(2),
        ca_file: None,
    };
    let metrics = std::sync::Arc::new(scopegate::metrics::Metrics::new().unwrap());
    let validator = rt
        .block_on(async { JwtValidator::new(&[config], &CacheConfig::default(), None, &metrics) })
        .unwrap();
    let token = scopegate::demo::auth_server::demo_jwt(&issuer).unwrap();
    let now = scopegate::introspect::now_unix();
    let first = rt.block_on(validator.validate(token.as_bytes(), now));
    assert!(matches!(first, Verdict::Valid(_)), "{first:?}");
    bencher
        .counter(divan::counter::ItemsCount::new(HITS))
        .bench_local(|| {
            rt.block_on(async {
                for _ in 0..HITS {
                    let now = scopegate::introspect::now_unix();
                    let verdict = validator.validate(black_box(token.as_bytes()), now).await;
                    assert!(matches!(verdict, Verdict::Valid(_)));
                }
            });
        });
    assert_eq!(
        metrics.jwks_fetches[0].get(),
        1,
        "one fetch; every benched call a hit"
    );
}
