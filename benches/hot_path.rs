//! Per-operation costs of the cached-token hot path (docs/reference.md#request-handling steps 3–5, 7 and 10), with
//! allocation counts from divan's `AllocProfiler`. Route matching and `path::check` are
//! in `benches/decision.rs`, the field filter in `benches/filter.rs`.
//!
//! - `parse_authorization`: `token::parse_authorization` on `Bearer <40-char token>`;
//! - `identity_strip_clean`: `Identity::strip` on a 10-header browser-like request with
//!   no identity header (the common case: nothing removed);
//! - `identity_inject`: `Identity::inject` of the four default headers from a
//!   `TokenInfo` into that 10-header request;
//! - `token_check_*`: `TokenInfo::check` without expectations, and with an expected
//!   issuer and audience (the audience the last of three in an `aud` array);
//! - `introspect_cache_hit_x100`: 100 `Introspector::introspect` cache hits in one
//!   `block_on` of a current-thread runtime (warmed by one call to the in-process demo
//!   authorization server); the per-hit cost is the median / 100;
//! - `observe_request`: `Metrics::observe_request` with pre-resolved `RouteCounters`.
//!
//! Measured with `cargo bench --bench hot_path` (divan, median of 100 samples; allocation
//! counts are per benched call, from the median sample):
//!   hardware: `nproc` 2, "AMD EPYC" (/proc/cpuinfo; cloud VM, shared, other builds
//!   running, load average ~1.8), rustc 1.95.0, bench profile (thin LTO)
//!
//!   bench                         median     allocs   note
//!   parse_authorization_header    52.6 ns    2 (71 B) header copied (47 B) + `Bytes::slice` promotion (24 B)
//!   identity_strip_clean          38.7 ns    0        10 headers x 4 names, nothing removed
//!   identity_inject                249 ns    1 + 1 grow  HeaderMap resize: 10 → 14 entries
//!   token_check_plain              2.0 ns    0        active, exp, nbf
//!   token_check_iss_aud           34.0 ns    0        two claim-map lookups (SipHash)
//!   token_digest                   107 ns    0        SHA-256 cache key, part of every hit
//!   introspect_cache_hit_x100     32.0 µs    11 / 100 hits: 320 ns and ~0.1 alloc per hit
//!   observe_request               26.4 ns    0        counter + histogram
//!
//! Sum for one cached-token request (parse, strip, digest + cache hit, check, inject,
//! metrics): about 0.7 µs and 3 allocations, against ~20 µs of proxy-thread CPU per
//! request end to end (`benches/end_to_end.rs`): HTTP and I/O dominate, not the decision.
//! Where the allocations come from:
//! - `parse_authorization` copies the whole header value into a `Vec`-backed `Bytes`,
//!   then `slice` promotes it to a shared buffer (a second allocation). Copying only the
//!   credential makes it one; keeping the `HeaderValue` (whose bytes hyper already shares
//!   with its read buffer) plus an offset would make it none.
//! - `inject`'s one is the `HeaderMap` growing past the capacity hyper reserved for the
//!   parsed headers (here `with_capacity(10)`); in the pipeline `forward::prepare` adds
//!   `X-Forwarded-*` first, so the growth happens there or here, once per request.
//! - the cache hit's ~11 per 100 are moka's amortized maintenance (its read log is
//!   drained inline every few dozen reads), not per hit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench setup, not request code: a failed setup should stop the bench loudly"
)]

use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use http::{HeaderMap, HeaderName, HeaderValue};
use scopegate::internals::config::{CacheConfig, IdentityConfig};
use scopegate::internals::identity::Identity;
use scopegate::internals::introspect::cache::TokenDigest;
use scopegate::internals::introspect::{now_unix, Expectations, TokenInfo};
use scopegate::internals::metrics::{Metrics, Outcome};
use scopegate::internals::token::{parse_authorization, BearerToken};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

mod common;

fn main() {
    divan::main();
}

/// A 40-character b64token, the size of a typical opaque access token.
const BEARER: &str = "Bearer 7f3kQ9zXb2LmN4pR8sT1vW6yA0cE5gH-jK_uZ4x9";

/// A browser-like request head: 10 headers, none of them an identity header.
/// Sized as hyper sizes a parsed request's map (`reserve(headers_len)`).
fn request_headers() -> HeaderMap {
    let mut h = HeaderMap::with_capacity(10);
    for (name, value) in [
        ("host", "api.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        ("accept", "application/json, text/plain, */*"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.5"),
        ("authorization", BEARER),
        ("x-request-id", "0f8e2a4c-7d1b-4e59-9a36-5c2b8d0e1f47"),
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("referer", "https://app.example.com/orders"),
        ("cookie", "session=abc123; theme=dark"),
    ] {
        h.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    assert_eq!(h.len(), 10);
    h
}

/// What the demo authorization server answers for `demo-read`, plus `iss` and `aud`.
fn token_info() -> TokenInfo {
    let exp = now_unix() + 3600;
    let claims = serde_json::json!({
        "active": true,
        "scope": "orders:read profile",
        "sub": "alice",
        "username": "alice",
        "client_id": "demo-app",
        "exp": exp,
        "iat": exp - 3600,
        "iss": "https://as.example.com",
        "aud": ["billing", "reports", "orders-api"],
    });
    let serde_json::Value::Object(map) = claims else {
        unreachable!()
    };
    TokenInfo::from_claims(map).unwrap()
}

// === token ===

#[divan::bench]
fn parse_authorization_header(bencher: Bencher) {
    let value = HeaderValue::from_static(BEARER);
    bencher.bench_local(|| parse_authorization(black_box(&value)).unwrap());
}

// === identity ===

#[divan::bench]
fn identity_strip_clean(bencher: Bencher) {
    let identity = Identity::new(&IdentityConfig::default());
    bencher
        .with_inputs(request_headers)
        .bench_local_refs(|headers| identity.strip(black_box(headers)));
}

#[divan::bench]
fn identity_inject(bencher: Bencher) {
    let identity = Identity::new(&IdentityConfig::default());
    let info = token_info();
    bencher
        .with_inputs(request_headers)
        .bench_local_refs(|headers| identity.inject(black_box(headers), &info));
}

// === TokenInfo::check ===

#[divan::bench]
fn token_check_plain(bencher: Bencher) {
    let info = token_info();
    let expect = Expectations::default();
    let now = now_unix();
    bencher.bench_local(|| black_box(&info).check(black_box(now), &expect));
}

#[divan::bench]
fn token_check_iss_aud(bencher: Bencher) {
    let info = token_info();
    let expect = Expectations {
        issuer: Some("https://as.example.com".into()),
        audience: Some("orders-api".into()),
    };
    let now = now_unix();
    bencher.bench_local(|| black_box(&info).check(black_box(now), &expect));
}

// === introspection cache hit ===

const HITS: usize = 100;

#[divan::bench]
fn introspect_cache_hit_x100(bencher: Bencher) {
    let rt = common::runtime();
    // Driven by `block_on` below: only the warming call needs it.
    let addr = common::demo_server(&rt);
    let (introspector, metrics) = common::introspector(addr, CacheConfig::default());
    let token = demo_read_token();
    let warm = rt.block_on(introspector.introspect(&token)).unwrap();
    assert!(warm.is_active());
    assert_eq!(metrics.cache_misses.get(), 1);

    bencher.counter(ItemsCount::new(HITS)).bench_local(|| {
        rt.block_on(async {
            for _ in 0..HITS {
                let info = introspector.introspect(black_box(&token)).await.unwrap();
                black_box(info);
            }
        });
    });
    assert_eq!(
        metrics.cache_misses.get(),
        1,
        "every benched call was a hit"
    );
}

/// The cache key alone (SHA-256 of the token).
#[divan::bench]
fn token_digest(bencher: Bencher) {
    let token = demo_read_token();
    bencher.bench_local(|| TokenDigest::of(black_box(token.expose())));
}

fn demo_read_token() -> BearerToken {
    common::bearer("demo-read")
}

// === metrics ===

#[divan::bench]
fn observe_request(bencher: Bencher) {
    let metrics = Metrics::new().unwrap();
    let counters = metrics.route_counters("/orders/{id}");
    bencher.bench_local(|| {
        metrics.observe_request(black_box(&counters), Outcome::Allowed, black_box(0.000_42));
    });
}
