//! Signature verification cost per JWT algorithm (docs/reference.md#jwt-access-tokens): `jsonwebtoken::crypto::verify`
//! (ring) on a typical access token (~300-byte claims), the step a cached JWT skips.
//! Keys: RSA 2048 from `tests/fixtures/jwt/`, P-256 and Ed25519 generated with rcgen.
//!
//! Also, side by side in one run, 100 cache-hit decisions each (current-thread runtime,
//! in-process servers from `benches/common/mod.rs`):
//! - `jwt_cache_hit_and_claim_checks_x100`: `JwtValidator::validate` on the demo JWT
//!   (348 bytes): dot pre-filter, SHA-256, cache hit, claim checks (iss, aud, exp, nbf,
//!   iat with leeway);
//! - `introspection_cache_hit_and_check_x100`: `Introspector::introspect` +
//!   `TokenInfo::check` for `demo-read` (9 bytes), no expected issuer/audience;
//! - `introspection_cache_hit_and_check_jwt_sized_x100`: the same for an opaque token as
//!   long as the JWT, with an expected issuer and audience (the same checks as the JWT).
//!
//! And 10,000 distinct JWTs against 10,000 distinct opaque tokens, round robin, one
//! pass of 10,000 per sample: `round_robin_10k_first_use` (fresh cache: JWT = parse +
//! EdDSA verify + claims; opaque = one loopback HTTP/1.1 introspection call) and
//! `round_robin_10k_cached` (all 10,000 cached).
//!
//! Verification, measured with `cargo bench --bench jwt` (divan, median of 100 samples),
//! `nproc` 2 shared cloud VM with other builds running (load average ~8), bench profile:
//!
//!   verify RS256 (RSA 2048)   26–37 µs      verify PS256 (RSA 2048)   27–43 µs
//!   verify ES256 (P-256)      64–87 µs      verify EdDSA (Ed25519)    57–99 µs
//!
//! Cached JWT against cached introspection, per decision (median / 100), before
//! (`bd217c9^`: the claim checks looked each claim up in the claims map per request, the
//! dot count widened to 4 bytes per step) and after (claims extracted once into the cache
//! entry, dots counted 16 bytes per step, one digest per miss), the two binaries run
//! alternately, twice, 2 Dec 2026, load average 8.4:
//!
//!   bench                                     before run 1 / 2      after run 1 / 2
//!   introspection, 9-byte token               0.42 / 0.49 µs        0.36 / 0.47 µs
//!   introspection, 348-byte token + iss/aud         -               0.64 / 0.81 µs
//!   JWT, 348 bytes                            0.84 / 1.34 µs        0.55 / 0.68 µs
//!
//! (A first pair, with the claims change but not yet the dot-count one: before 1.15 /
//! 0.87 µs, after 0.82 / 0.91 µs.) The cached JWT decision is now *cheaper* than a cached opaque
//! token of the same length checked the same way (0.55 vs 0.64 µs, 0.68 vs 0.81 µs): the
//! JWT's claims are pre-extracted, introspection's iss/aud are map lookups. Against the
//! 9-byte demo token it is still ~1.5x: what remains is SHA-256 over 6 blocks instead of
//! 2 (`perf`: ~27% of the JWT hit is `sha2::sha256::x86::digest_blocks`, SHA-NI), which
//! the cache key needs (it must bind the signature). Per-request proxy CPU is ~20 µs
//! (`benches/end_to_end.rs`), so either is noise next to HTTP.
//!
//! 10,000 distinct tokens each, round robin, one run (`cargo bench --bench jwt round_robin`,
//! 05:34 UTC, load average 7–9 from other builds: treat as ±50%), median of the samples:
//!
//!   bench                              JWT (EdDSA, ~330 B)        opaque (40 B, loopback AS)
//!   round_robin_10k_first_use          1.91 s = 191 µs/token      1.21 s = 121 µs/token
//!                                      (5.2 k tokens/s)           (8.3 k tokens/s)
//!   round_robin_10k_cached             38.9 ms = 3.9 µs/req       77.9 ms = 7.8 µs/req
//!                                      (257 k req/s)              (128 k req/s)
//!
//! First use: an EdDSA verification plus parsing costs more than one introspection call
//! to an in-process server on the same thread (no network latency: a real authorization
//! server adds its round trip, typically milliseconds, to each opaque first use only).
//! Cached, over a 10,000-entry working set, both are several times the one-hot-token
//! figures above (cache-cold entries, moka's per-read bookkeeping, a loaded machine);
//! the opaque hit is the dearer one here (its iss/aud map lookups touch more cold memory).
//! Not yet rerun on a quiet machine.
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
use scopegate::internals::config::CacheConfig;
use scopegate::internals::introspect::{now_unix, Expectations, Introspector};

mod common;

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

/// 100 cache hits of `Introspector::introspect` + `TokenInfo::check`: the opaque-token
/// decision on a hit. `demo-read` (9 bytes) without expectations, as in
/// `benches/hot_path.rs`.
#[divan::bench]
fn introspection_cache_hit_and_check_x100(bencher: Bencher) {
    let rt = common::runtime();
    let addr = common::demo_server(&rt);
    let (introspector, _) = common::introspector(addr, CacheConfig::default());
    introspection_hits(
        bencher,
        &rt,
        &introspector,
        "demo-read",
        &Expectations::default(),
    );
}

/// The same, with the JWT path's work: an opaque token as long as the demo JWT and an
/// expected issuer and audience (the checks a JWT hit also runs).
#[divan::bench]
fn introspection_cache_hit_and_check_jwt_sized_x100(bencher: Bencher) {
    let rt = common::runtime();
    let demo = common::demo_server(&rt);
    let issuer = format!("http://{demo}");
    let audience = scopegate::internals::demo::auth_server::DEMO_AUDIENCE;
    let addr = common::any_token_server(&rt, &issuer, audience, None);
    let (introspector, _) = common::introspector(addr, CacheConfig::default());
    let length = scopegate::internals::demo::auth_server::demo_jwt(&issuer)
        .unwrap()
        .len();
    let token = "o".repeat(length);
    let expect = Expectations {
        issuer: Some(issuer),
        audience: Some(audience.into()),
    };
    introspection_hits(bencher, &rt, &introspector, &token, &expect);
}

fn introspection_hits(
    bencher: Bencher,
    rt: &tokio::runtime::Runtime,
    introspector: &Introspector,
    token: &str,
    expect: &Expectations,
) {
    let token = common::bearer(token);
    let first = rt.block_on(introspector.introspect(&token)).unwrap();
    assert!(first.is_active());
    first.check(now_unix(), expect).unwrap();
    bencher
        .counter(divan::counter::ItemsCount::new(HITS))
        .bench_local(|| {
            rt.block_on(async {
                for _ in 0..HITS {
                    let info = introspector.introspect(black_box(&token)).await.unwrap();
                    info.check(now_unix(), expect).unwrap();
                    black_box(info);
                }
            });
        });
}

/// 100 cache hits of `JwtValidator::validate` for the demo JWT: digest, cache lookup and
/// the claim checks (iss, aud, exp, nbf, iat) — the signature is not re-verified.
#[divan::bench]
fn jwt_cache_hit_and_claim_checks_x100(bencher: Bencher) {
    use scopegate::internals::jwt::{JwtValidator, Verdict};
    let rt = common::runtime();
    let addr = common::demo_server(&rt);
    let issuer = format!("http://{addr}");
    let config = eddsa_issuer(
        &issuer,
        scopegate::internals::demo::auth_server::DEMO_AUDIENCE,
        &format!("{issuer}/jwks"),
    );
    let metrics = std::sync::Arc::new(scopegate::internals::metrics::Metrics::new().unwrap());
    let validator = rt
        .block_on(async {
            JwtValidator::new(
                &[config],
                &CacheConfig::default(),
                None,
                std::sync::Arc::new(scopegate::internals::claims::Needs::all()),
                &metrics,
            )
        })
        .unwrap();
    let token = scopegate::internals::demo::auth_server::demo_jwt(&issuer).unwrap();
    let now = scopegate::internals::introspect::now_unix();
    let first = rt.block_on(validator.validate(token.as_bytes(), now));
    assert!(matches!(first, Verdict::Valid(_)), "{first:?}");
    bencher
        .counter(divan::counter::ItemsCount::new(HITS))
        .bench_local(|| {
            rt.block_on(async {
                for _ in 0..HITS {
                    let now = scopegate::internals::introspect::now_unix();
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

// === 10,000 distinct JWTs against 10,000 distinct opaque tokens, round robin ===

const DISTINCT: usize = 10_000;
const RR_AUDIENCE: &str = "orders-api";

/// 10,000 EdDSA JWTs (distinct `sub` and `jti`, ~330 bytes each) and 10,000 distinct
/// 40-byte opaque tokens, with one server answering both the JWKS and introspection.
struct RoundRobin {
    rt: tokio::runtime::Runtime,
    issuer: String,
    jwks_uri: String,
    server: std::net::SocketAddr,
    jwts: Vec<String>,
    opaque: Vec<scopegate::internals::token::BearerToken>,
}

fn round_robin() -> RoundRobin {
    let rt = common::runtime();
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let key = EncodingKey::from_ed_der(&pair.serialize_der());
    let jwks = serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "rr-1", "use": "sig", "alg": "EdDSA",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key_raw()),
    }]})
    .to_string();
    // Only compared as a string: it need not name the server.
    let issuer = "https://login.example.com/".to_string();
    let server = common::any_token_server(&rt, &issuer, RR_AUDIENCE, Some(jwks));
    let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some("rr-1".into());
    let now = now_unix();
    let jwts = (0..DISTINCT)
        .map(|i| {
            let claims = serde_json::json!({
                "iss": issuer, "aud": RR_AUDIENCE, "sub": format!("user-{i}"),
                "scope": "orders:read orders:write profile", "client_id": "web-app",
                "exp": now + 3600, "iat": now, "jti": format!("{i:08}-d9cb-469f-a165-70867728950e"),
            });
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        })
        .collect();
    let opaque = (0..DISTINCT)
        .map(|i| common::bearer(&format!("op{i:06}-7f3kQ9zXb2LmN4pR8sT1vW6yA0cE5g")))
        .collect();
    RoundRobin {
        rt,
        jwks_uri: format!("http://{server}/jwks"),
        issuer,
        server,
        jwts,
        opaque,
    }
}

impl RoundRobin {
    fn validator(&self) -> scopegate::internals::jwt::JwtValidator {
        let config = eddsa_issuer(&self.issuer, RR_AUDIENCE, &self.jwks_uri);
        let metrics = std::sync::Arc::new(scopegate::internals::metrics::Metrics::new().unwrap());
        let validator = self
            .rt
            .block_on(async {
                scopegate::internals::jwt::JwtValidator::new(
                    &[config],
                    &CacheConfig::default(),
                    None,
                    std::sync::Arc::new(scopegate::internals::claims::Needs::all()),
                    &metrics,
                )
            })
            .unwrap();
        // The start-up JWKS fetch runs on this runtime.
        self.rt.block_on(async {
            while !validator.is_ready() {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        });
        validator
    }

    fn expect(&self) -> Expectations {
        Expectations {
            issuer: Some(self.issuer.clone()),
            audience: Some(RR_AUDIENCE.into()),
        }
    }

    /// One pass over all JWTs: every one must be valid.
    fn jwt_pass(&self, validator: &scopegate::internals::jwt::JwtValidator) {
        self.rt.block_on(async {
            for token in &self.jwts {
                let verdict = validator.validate(token.as_bytes(), now_unix()).await;
                assert!(matches!(
                    verdict,
                    scopegate::internals::jwt::Verdict::Valid(_)
                ));
            }
        });
    }

    /// One pass over all opaque tokens: introspected (or cached) and checked.
    fn opaque_pass(&self, introspector: &Introspector, expect: &Expectations) {
        self.rt.block_on(async {
            for token in &self.opaque {
                let info = introspector.introspect(token).await.unwrap();
                info.check(now_unix(), expect).unwrap();
            }
        });
    }
}

fn shared_round_robin() -> &'static RoundRobin {
    static RR: std::sync::OnceLock<RoundRobin> = std::sync::OnceLock::new();
    RR.get_or_init(round_robin)
}

/// A pass of 10,000 first uses, each on a fresh cache: JWT = parse + EdDSA signature +
/// claims + insert; opaque = one HTTP/1.1 introspection call (keep-alive, loopback,
/// in-process server on the same thread) + insert + check.
#[divan::bench(args = ["jwt", "opaque"], sample_count = 5, sample_size = 1)]
fn round_robin_10k_first_use(bencher: Bencher, kind: &str) {
    let rr = shared_round_robin();
    let expect = rr.expect();
    bencher
        .counter(divan::counter::ItemsCount::new(DISTINCT))
        .with_inputs(|| match kind {
            "jwt" => (Some(rr.validator()), None),
            _ => (
                None,
                Some(common::introspector(rr.server, CacheConfig::default()).0),
            ),
        })
        .bench_local_values(|(validator, introspector)| {
            if let Some(v) = &validator {
                rr.jwt_pass(v);
            }
            if let Some(i) = &introspector {
                rr.opaque_pass(i, &expect);
            }
            (validator, introspector)
        });
}

/// A pass of 10,000 cache hits, round robin over 10,000 cached tokens (the cache holds
/// all of them: moka at 10,000 entries, not one hot entry).
#[divan::bench(args = ["jwt", "opaque"], sample_count = 20, sample_size = 1)]
fn round_robin_10k_cached(bencher: Bencher, kind: &str) {
    let rr = shared_round_robin();
    let expect = rr.expect();
    let bencher = bencher.counter(divan::counter::ItemsCount::new(DISTINCT));
    if kind == "jwt" {
        let validator = rr.validator();
        rr.jwt_pass(&validator);
        bencher.bench_local(|| rr.jwt_pass(&validator));
    } else {
        let (introspector, metrics) = common::introspector(rr.server, CacheConfig::default());
        rr.opaque_pass(&introspector, &expect);
        assert_eq!(metrics.cache_misses.get(), DISTINCT as u64);
        bencher.bench_local(|| rr.opaque_pass(&introspector, &expect));
        assert_eq!(
            metrics.cache_misses.get(),
            DISTINCT as u64,
            "every pass all hits"
        );
    }
}

/// One `[[jwt]]` issuer accepting EdDSA `at+jwt` tokens, with the reference defaults.
fn eddsa_issuer(
    issuer: &str,
    audience: &str,
    jwks_uri: &str,
) -> scopegate::internals::config::JwtConfig {
    scopegate::internals::config::JwtConfig {
        issuer: issuer.into(),
        audience: audience.into(),
        keys: scopegate::internals::config::JwksSource::JwksUri(jwks_uri.parse().unwrap()),
        algorithms: vec![Algorithm::EdDSA],
        typ: vec!["at+jwt".into()],
        scope_claim: "scope".into(),
        leeway: std::time::Duration::from_secs(30),
        jwks_refresh: std::time::Duration::from_secs(300),
        timeout: std::time::Duration::from_secs(2),
        ca_file: None,
    }
}
