//! What a cached token costs in memory (docs/reference.md#introspection-cache): 100,000
//! distinct tokens through the real cache paths, each phase in its own process (so that
//! one phase's freed memory does not hide the next one's RSS):
//!
//! - `introspection`: `State::build` from the config below, then
//!   `Introspector::introspect` for 100,000 distinct opaque tokens, each answered by an
//!   in-process authorization server (`benches/common/mod.rs`) with a typical answer:
//!   `{"active":true,"scope":"orders:read orders:write","sub":"alice","client_id":"demo",
//!   "token_type":"Bearer","iat":..,"exp":now+3600}`;
//! - `jwt`: the same config with a `[[jwt]]` EdDSA issuer, `JwtValidator::validate` for
//!   100,000 distinct signed JWTs (the same claims, a distinct `jti` each);
//! - `moka`: moka alone, a `Cache<[u8; 32], ()>` built like the answer cache
//!   (`max_capacity`, `expire_after`), 100,000 inserts: the floor no entry type can go
//!   under.
//!
//! Each prints the live heap bytes per entry (a counting `#[global_allocator]`: bytes
//! allocated minus freed, after filling minus before; `stats_alloc`) and the VmRSS delta
//! (/proc/self/status), per entry and in MiB for the 100,000. The "before" point is taken
//! after a warm-up of 1,000 tokens (connection pool, runtime, moka's first segments).
//! RSS is the figure that counts: it includes the allocator's own overhead per chunk.
//!
//! Measured on main before compact entries (6223789, 2 Dec 2026, 2-core VM, bench profile;
//! heap then counted reallocations twice, RSS unaffected):
//!
//!   phase          RSS B/entry   RSS for 100,000
//!   introspection      3008          286.9 MiB
//!   jwt                4342          414.1 MiB
//!
//! Now (3 Dec 2026, same machine): entries keep only what the config reads (this
//! config: the three identity headers, so `client_id` and the subject), answers with
//! equal kept members share one list, an entry is 32 bytes in moka's node, and the cache
//! has no invalidation closures:
//!
//!   phase          heap B/entry   RSS B/entry   RSS for 100,000
//!   introspection       425            555           53.0 MiB  (process: 62.3 MiB)
//!   jwt                 441            570           54.4 MiB  (803 / 76.6 before the
//!                                                        48-byte entry by value)
//!   moka ()             284            373           35.6 MiB
//!
//! Run: `cargo bench --bench memory` (all three phases), or `-- introspection`, `-- jwt`,
//! `-- moka` for one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "bench: it prints its measurements; setup failures should stop it loudly"
)]

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use scopegate::internals::config::Config;
use scopegate::internals::introspect::{now_unix, Health};
use scopegate::internals::metrics::Metrics;
use scopegate::internals::state::State;
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

mod common;

/// Counts every allocation (the crate forbids `unsafe`, so no allocator of our own).
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ENTRIES: usize = 100_000;
const WARM_UP: usize = 1_000;
const PHASES: [&str; 3] = ["introspection", "jwt", "moka"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(phase) = args.iter().find_map(|a| a.strip_prefix("--phase=")) {
        match phase {
            "introspection" => introspection(),
            "jwt" => jwt(),
            "moka" => moka_alone(),
            other => panic!("unknown phase {other}"),
        }
        return;
    }
    // `cargo bench` passes `--bench`; any other word picks phases.
    let picked: Vec<&str> = PHASES
        .into_iter()
        .filter(|p| args.iter().all(|a| a.starts_with('-')) || args.iter().any(|a| a == p))
        .collect();
    let exe = std::env::current_exe().unwrap();
    for phase in picked {
        let status = std::process::Command::new(&exe)
            .arg(format!("--phase={phase}"))
            .status()
            .unwrap();
        assert!(status.success(), "phase {phase} failed");
    }
}

/// (live heap bytes, VmRSS bytes) now.
fn sample() -> (isize, isize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: isize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let stats = ALLOCATOR.stats();
    // stats_alloc already adds a realloc's growth to `bytes_allocated` (and its shrink
    // to `bytes_deallocated`); `bytes_reallocated` is the same delta again.
    let live = stats.bytes_allocated as isize - stats.bytes_deallocated as isize;
    (live, kib * 1024)
}

fn report(what: &str, before: (isize, isize), after: (isize, isize)) {
    let n = ENTRIES as f64;
    let heap = (after.0 - before.0) as f64;
    let rss = (after.1 - before.1) as f64;
    println!(
        "{what:<14} {ENTRIES} entries: heap {:>6.0} B/entry ({:>6.1} MiB), RSS {:>6.0} B/entry ({:>6.1} MiB); RSS now {:.1} MiB",
        heap / n,
        heap / 1048576.0,
        rss / n,
        rss / 1048576.0,
        after.1 as f64 / 1048576.0,
    );
}

/// The peer benchmark's config: three identity headers, one route, a 60 s cache large
/// enough for every token (`extra` adds tables).
fn config(dir: &std::path::Path, addr: std::net::SocketAddr, extra: &str) -> Config {
    std::fs::write(dir.join("secret"), "demo-secret\n").unwrap();
    let text = format!(
        r#"
[upstream]
url = "http://127.0.0.1:9"

[introspection]
endpoint = "http://{addr}/introspect"
client_id = "demo"
client_secret_file = "secret"

[introspection.cache]
ttl = "60s"
max_entries = 1000000

[identity]
subject = "X-Auth-Sub"
scope = "X-Auth-Scope"
client_id = "X-Auth-Client-Id"

[[route]]
path = "/orders/**"
scopes = ["orders:read"]
{extra}
"#
    );
    let path = dir.join("scopegate.toml");
    Config::from_toml(&path, &text).unwrap()
}

fn typical_answer() -> String {
    let now = now_unix();
    format!(
        r#"{{"active":true,"scope":"orders:read orders:write","sub":"alice","client_id":"demo","token_type":"Bearer","iat":{now},"exp":{}}}"#,
        now + 3600
    )
}

fn build(config: Config) -> State {
    let metrics = Arc::new(Metrics::new().unwrap());
    State::build(config, None, &metrics, &Arc::new(Health::default())).unwrap()
}

fn introspection() {
    let rt = common::runtime();
    let addr = common::answering_server(&rt, typical_answer, None);
    let dir = tempfile::tempdir().unwrap();
    let state = build(config(dir.path(), addr, ""));
    let introspector = state.validator.introspector().cloned().unwrap();
    let fill = |from: usize, to: usize| {
        rt.block_on(async {
            for i in from..to {
                // A typical opaque token's length (~40 bytes); only its digest is kept.
                let token = common::bearer(&format!("opaque-{i:010}-0123456789abcdefghijklmn"));
                let info = introspector.introspect(&token).await.unwrap();
                assert!(info.is_active());
            }
            introspector.entry_count().await
        })
    };
    assert_eq!(fill(0, WARM_UP), WARM_UP as u64);
    let before = sample();
    let count = fill(WARM_UP, WARM_UP + ENTRIES);
    let after = sample();
    assert_eq!(count, (WARM_UP + ENTRIES) as u64, "every answer cached");
    report("introspection", before, after);
}

fn jwt() {
    let rt = common::runtime();
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let encoding = EncodingKey::from_ed_der(&pair.serialize_der());
    let jwks = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"k1","x":"{}"}}]}}"#,
        URL_SAFE_NO_PAD.encode(pair.public_key_raw())
    );
    let addr = common::answering_server(&rt, typical_answer, Some(jwks));
    let issuer = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let table = format!(
        "\n[[jwt]]\nissuer = {issuer:?}\naudience = \"orders-api\"\njwks_uri = \"{issuer}/jwks\"\nalgorithms = [\"EdDSA\"]\n"
    );
    let _guard = rt.enter();
    let state = build(config(dir.path(), addr, &table));
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#);
    let now = now_unix();
    let token = |i: usize| {
        let claims = format!(
            r#"{{"iss":{issuer:?},"aud":"orders-api","sub":"alice","scope":"orders:read orders:write","client_id":"demo","iat":{now},"exp":{},"jti":"jti-{i:010}"}}"#,
            now + 3600
        );
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &encoding, Algorithm::EdDSA).unwrap();
        format!("{input}.{signature}")
    };
    // Signed before the "before" sample: only the cache's share is measured.
    let tokens: Vec<String> = (0..WARM_UP + ENTRIES).map(token).collect();
    let fill = |range: std::ops::Range<usize>| {
        rt.block_on(async {
            for t in &tokens[range] {
                match state
                    .validator
                    .jwt()
                    .unwrap()
                    .validate(t.as_bytes(), now_unix())
                    .await
                {
                    scopegate::internals::jwt::Verdict::Valid(_) => {}
                    other => panic!("not valid: {other:?}"),
                }
            }
        })
    };
    fill(0..WARM_UP);
    let before = sample();
    fill(WARM_UP..WARM_UP + ENTRIES);
    rt.block_on(tokio::time::sleep(Duration::from_millis(10)));
    let after = sample();
    report("jwt", before, after);
    drop(tokens);
}

fn moka_alone() {
    struct Fixed;
    #[allow(clippy::disallowed_types)]
    impl moka::Expiry<[u8; 32], ()> for Fixed {
        fn expire_after_create(
            &self,
            _key: &[u8; 32],
            _value: &(),
            _created_at: std::time::Instant,
        ) -> Option<Duration> {
            Some(Duration::from_secs(60))
        }
    }
    let rt = common::runtime();
    let cache: moka::future::Cache<[u8; 32], ()> = moka::future::Cache::builder()
        .max_capacity(1_000_000)
        .expire_after(Fixed)
        .build();
    let key = |i: usize| {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&(i as u64).to_le_bytes());
        k
    };
    let fill = |range: std::ops::Range<usize>| {
        rt.block_on(async {
            for i in range {
                cache.insert(key(i), ()).await;
            }
            cache.run_pending_tasks().await;
            cache.entry_count()
        })
    };
    fill(0..WARM_UP);
    let before = sample();
    let count = fill(WARM_UP..WARM_UP + ENTRIES);
    let after = sample();
    assert_eq!(count, (WARM_UP + ENTRIES) as u64);
    report("moka ()", before, after);
}
