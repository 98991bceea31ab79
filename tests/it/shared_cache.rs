//! docs/reference.md#shared-cache: the second cache level in Redis shared by every replica.
//! Several real scopegate processes against one real `redis-server` (tests/support/redis.rs)
//! and one mock authorization server that counts its calls: answers are shared (positive
//! and negative), Redis lifetimes never pass `exp`, purges reach every replica and both
//! levels, Redis failures are misses (never failures, never longer than `timeout` extra),
//! tampered or foreign entries are ignored, nothing readable is stored or published,
//! `rediss://` with `ca_file`, ACL/password authentication, and the config errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use futures_util::future::join_all;

use crate::support::auth_server::AuthMode;
use crate::support::config::q;
use crate::support::redis::{RedisOptions, RedisServer, Relay};
use crate::support::*;

/// Two different keys (≥ 32 bytes once the trailing newline is trimmed).
const KEY_A: &str = "shared-cache-key-A-0123456789abcdef0123456789\n";
const KEY_B: &str = "shared-cache-key-B-fedcba9876543210fedcba9876\n";

/// The `timeout` used by most tests; the bound on any added wait is this plus 1 s.
const TIMEOUT_MS: u64 = 100;

fn bound() -> Duration {
    Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(1)
}

/// A temp dir for key, password and CA files (absolute paths in the config).
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().unwrap())
    }
    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

/// The `[introspection.cache.shared]` table; `more` are `(key, raw TOML value)`.
fn shared_table(url: &str, key_file: &Path, more: &[(&str, String)]) -> String {
    let mut s = format!(
        "\n[introspection.cache.shared]\nurl = {}\nkey_file = {}\n",
        q(url),
        q(&key_file.display().to_string())
    );
    for (k, v) in more {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

fn config(url: &str, key_file: &Path, more: &[(&str, String)]) -> TestConfig {
    TestConfig::standard()
        .cache("ttl", "\"60s\"")
        .extra(&shared_table(url, key_file, more))
}

fn timeout_ms(ms: u64) -> (&'static str, String) {
    ("timeout", q(&format!("{ms}ms")))
}

/// `n` replicas of one config, started in parallel, sharing `auth`.
async fn replicas(n: usize, cfg: &TestConfig, auth: &AuthServer) -> Vec<Harness> {
    join_all((0..n).map(|_| replica(cfg, auth))).await
}

async fn replica(cfg: &TestConfig, auth: &AuthServer) -> Harness {
    let h = Harness::start_with(cfg.clone(), auth.clone(), Upstream::start().await).await;
    // It connects to Redis in the background (requests never wait for that). Give it up
    // to 3 s, so that a test's first requests meet a connected replica; tests with Redis
    // down or unreachable simply go on after that.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && !connected(&h) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h
}

fn connected(h: &Harness) -> bool {
    h.log_json().iter().any(|l| {
        field(l, "message").and_then(|m| m.as_str()) == Some("shared cache: connected to Redis")
    })
}

async fn auth_with_standard_tokens() -> AuthServer {
    let auth = AuthServer::start().await;
    add_standard_tokens(&auth);
    auth
}

async fn read(h: &Harness, token: &str) -> Resp {
    h.get("/orders/1").bearer(token).send().await
}

/// The request and how long it took.
async fn timed(h: &Harness, token: &str) -> (Resp, Duration) {
    let t = Instant::now();
    let r = read(h, token).await;
    (r, t.elapsed())
}

/// Introspection calls the mock received for this token.
fn calls_for(auth: &AuthServer, token: &str) -> usize {
    auth.received()
        .iter()
        .filter(|c| c.param("token") == Some(token))
        .count()
}

fn shared_metric(m: &Metrics, result: &str) -> f64 {
    m.value(
        "scopegate_shared_cache_requests_total",
        &[("result", result)],
    )
}

async fn shared_count(h: &Harness, result: &str) -> f64 {
    shared_metric(&h.metrics().await, result)
}

/// Sends fresh tokens `{prefix}-{first}`, `{prefix}-{first+1}`, … through `r[0]` and then
/// `r[1]` until one is answered on `r[1]` without a second authorization-server call
/// (a Redis hit: `r[1]` had no in-process entry), failing with `what` at `deadline`.
async fn shared_again(
    r: &[Harness],
    auth: &AuthServer,
    prefix: &str,
    first: usize,
    deadline: Instant,
    what: &str,
) {
    for i in first..40 {
        let t = format!("{prefix}-{i}");
        assert_eq!(read(&r[0], &t).await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(read(&r[1], &t).await.status, 200);
        if calls_for(auth, &t) == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("ran out of tokens: {what}");
}

/// Waits (bounded) until Redis holds string keys that `before` did not; returns them.
/// The write to Redis may finish after the answer: what is tested is that it happens.
async fn new_entries(redis: &RedisServer, before: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let new: Vec<Vec<u8>> = redis
            .string_keys()
            .await
            .into_iter()
            .filter(|k| !before.contains(k))
            .collect();
        if !new.is_empty() {
            // Let a write of several keys land completely.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return redis
                .string_keys()
                .await
                .into_iter()
                .filter(|k| !before.contains(k))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "no new entry in Redis within 3 s (keys: {:?})",
            printable(&redis.keys().await)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Requests `token` on `h` (expecting `status`) and returns the Redis entries it wrote.
async fn cache_through(redis: &RedisServer, h: &Harness, token: &str, status: u16) -> Vec<Vec<u8>> {
    // The replica connects in the background (requests never wait for it): a request
    // before that is a Redis `error` and writes nothing, so wait for the connection.
    h.wait_log("the replica's Redis connection", |l| {
        field(l, "message").and_then(|m| m.as_str()) == Some("shared cache: connected to Redis")
    })
    .await;
    let before = redis.string_keys().await;
    let r = read(h, token).await;
    assert_eq!(r.status, status, "{token}: {}", r.text());
    new_entries(redis, &before).await
}

fn printable(keys: &[Vec<u8>]) -> Vec<String> {
    keys.iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

fn subject_seen(h: &Harness) -> Option<String> {
    h.upstream
        .requests()
        .last()
        .and_then(|r| r.header("x-auth-subject").map(str::to_string))
}

// === the test support itself ===

/// The Redis child, the RESP client, the taps and the relay behave as the tests assume.
#[tokio::test]
async fn support_redis_child_client_taps_relay_and_restart_work() {
    let redis = RedisServer::start_with(RedisOptions {
        tls: true,
        password: Some("pw-1".into()),
        user: Some(("u1".into(), "pw-2".into())),
        user_rules: Vec::new(),
    })
    .await;
    let monitor = redis.monitor().await;
    let pubsub = redis.subscribe_all().await;
    let mut c = redis.client().await;
    use crate::support::redis::Value;
    assert_eq!(
        c.cmd(&[b"SET", b"k1", b"v1", b"PX", b"5000"])
            .await
            .unwrap(),
        Value::Simple("OK".into())
    );
    assert_eq!(redis.get(b"k1").await.as_deref(), Some(&b"v1"[..]));
    let pttl = redis.pttl(b"k1").await;
    assert!((1..=5000).contains(&pttl), "{pttl}");
    redis.set_keep_ttl(b"k1", b"v2").await;
    assert!(redis.pttl(b"k1").await > 0, "KEEPTTL");
    assert_eq!(redis.string_keys().await, vec![b"k1".to_vec()]);
    c.cmd(&[b"PUBLISH", b"chan", b"hello-msg"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(pubsub.text().contains("hello-msg"), "{:?}", pubsub.text());
    assert!(monitor.text().contains("hello-msg"), "{:?}", monitor.text());
    assert!(find(&redis.dump_everything().await, b"v2").is_some());

    let relay = Relay::start(redis.addr()).await;
    let port = relay.addr.port();
    let auth = Some((None, "pw-1".to_string()));
    let mut via = crate::support::redis::RedisClient::connect(port, auth.clone())
        .await
        .unwrap();
    relay.set_delay(Duration::from_millis(300));
    let t = Instant::now();
    via.cmd(&[b"PING"]).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    relay.set_down(true);
    assert!(
        via.cmd(&[b"PING"]).await.is_err(),
        "cut connection answered"
    );
    assert!(
        crate::support::redis::RedisClient::connect(port, auth.clone())
            .await
            .is_err(),
        "new connection through a down relay"
    );

    let pid = redis.pid();
    redis.restart().await;
    assert_ne!(redis.pid(), pid);
    assert!(redis.keys().await.is_empty(), "data survived a restart");
    redis.kill();
    assert!(
        crate::support::redis::RedisClient::connect(redis.port, auth)
            .await
            .is_err()
    );
}

// === sharing ===

#[tokio::test]
async fn a_token_introspected_through_one_of_three_replicas_is_a_redis_hit_on_the_others() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = auth_with_standard_tokens().await;
    let cfg = config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    let r = replicas(3, &cfg, &auth).await;

    cache_through(&redis, &r[0], "t-read", 200).await;
    assert_eq!(auth.calls(), 1);
    for h in &r[1..] {
        let resp = read(h, "t-read").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            subject_seen(h).as_deref(),
            Some("alice"),
            "identity from Redis"
        );
    }
    assert_eq!(auth.calls(), 1, "the other replicas asked the server");

    // The claims are checked on an answer from Redis as on any other: t-read may not DELETE.
    let d = r[2]
        .request("DELETE", "/orders/1")
        .bearer("t-read")
        .send()
        .await;
    assert_eq!(d.status, 403, "{}", d.text());

    let m0 = r[0].metrics().await;
    assert_eq!(shared_metric(&m0, "miss"), 1.0, "{}", m0.text);
    assert_eq!(shared_metric(&m0, "hit"), 0.0, "{}", m0.text);
    for h in &r[1..] {
        let m = h.metrics().await;
        // One Redis lookup each: the second request (DELETE) was an in-process hit.
        assert_eq!(shared_metric(&m, "hit"), 1.0, "{}", m.text);
        assert_eq!(shared_metric(&m, "miss"), 0.0, "{}", m.text);
        assert_eq!(shared_metric(&m, "error"), 0.0, "{}", m.text);
        for labels in m.label_sets("scopegate_shared_cache_requests_total") {
            assert!(
                labels.len() == 1
                    && labels[0].0 == "result"
                    && ["hit", "miss", "error"].contains(&labels[0].1.as_str()),
                "labels {labels:?}"
            );
        }
        assert!(
            m.value("scopegate_shared_cache_duration_seconds_count", &[]) >= 1.0,
            "no duration histogram: {}",
            m.text
        );
    }
}

/// With the default `timeout` (50 ms) a Redis hit on loopback is a hit, not an error,
/// and costs a few milliseconds, not tens (no Nagle / delayed-ACK stalls on the client).
#[tokio::test]
async fn a_redis_hit_with_the_default_timeout_is_a_hit_and_takes_milliseconds() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    let cfg = config(&redis.url(), &key, &[]);
    let r = replicas(2, &cfg, &auth).await;
    let mut took = Vec::new();
    for i in 0..15 {
        let t = format!("fast-{i}");
        auth.token(&t, active().scope("orders:read").sub("alice").exp_in(3600));
        cache_through(&redis, &r[0], &t, 200).await;
        let (resp, d) = timed(&r[1], &t).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        took.push(d);
    }
    took.sort();
    let m = r[1].metrics().await;
    assert_eq!(shared_metric(&m, "hit"), 15.0, "{}", m.text);
    assert_eq!(auth.calls(), 15);
    assert!(
        took[7] < Duration::from_millis(25),
        "median Redis-hit request {:?} (all: {took:?})",
        took[7]
    );
}

#[tokio::test]
async fn two_replicas_share_negative_answers() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = auth_with_standard_tokens().await;
    let cfg = config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    let r = replicas(2, &cfg, &auth).await;

    cache_through(&redis, &r[0], "t-inactive", 401).await;
    read(&r[1], "t-inactive").await.assert_invalid_token();
    read(&r[1], "t-unknown-to-the-server")
        .await
        .assert_invalid_token();
    cache_through(&redis, &r[1], "t-other-unknown", 401).await;
    read(&r[0], "t-other-unknown").await.assert_invalid_token();
    assert_eq!(calls_for(&auth, "t-inactive"), 1);
    assert_eq!(calls_for(&auth, "t-other-unknown"), 1);
    assert_eq!(shared_count(&r[1], "hit").await, 1.0);
    assert!(r[1].upstream.requests().is_empty());
}

#[tokio::test]
async fn redis_lifetime_is_never_beyond_exp_ttl_or_negative_ttl() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    let cfg = config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)])
        .cache("ttl", "\"10s\"")
        .cache("negative_ttl", "\"3s\"");
    let h = replica(&cfg, &auth).await;
    let exp_short = support_now() + 5;
    auth.token(
        "t-exp-5s",
        active()
            .scope("orders:read")
            .sub("a")
            .claim("exp", exp_short),
    );
    auth.token(
        "t-exp-1h",
        active().scope("orders:read").sub("b").exp_in(3600),
    );
    auth.token("t-no-exp", active().scope("orders:read").sub("c"));

    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    // (token, status, latest allowed expiry in unix ms)
    type Latest = Box<dyn Fn() -> i64>;
    let cases: Vec<(&str, u16, Latest)> = vec![
        ("t-exp-5s", 200, Box::new(move || exp_short * 1000)),
        ("t-exp-1h", 200, Box::new(move || now_ms() + 10_000)),
        ("t-no-exp", 200, Box::new(move || now_ms() + 10_000)),
        ("t-inactive-x", 401, Box::new(move || now_ms() + 3_000)),
    ];
    for (token, status, latest) in cases {
        // The allowed expiry is taken before the request: the entry is written after it.
        let latest = latest();
        for k in cache_through(&redis, &h, token, status).await {
            let before = now_ms();
            let pttl = redis.pttl(&k).await;
            assert!(pttl > 0, "{token}: PTTL {pttl} (no expiry or gone)");
            // The key expires no earlier than before + pttl; 20 ms for clock granularity.
            assert!(
                before + pttl <= latest + 20,
                "{token}: Redis keeps the entry {} ms past its allowed end",
                before + pttl - latest
            );
        }
    }
}

fn support_now() -> i64 {
    crate::support::auth_server::now_secs()
}

/// docs/reference.md#single-flight: stays per replica with the shared level in between.
#[tokio::test]
async fn concurrent_requests_on_one_replica_still_make_one_call() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = auth_with_standard_tokens().await;
    let h = replica(
        &config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]),
        &auth,
    )
    .await;
    auth.set_mode(AuthMode::Slow(Duration::from_millis(300)));
    let resps = join_all((0..30).map(|_| read(&h, "t-read"))).await;
    assert!(resps.iter().all(|r| r.status == 200));
    assert_eq!(auth.calls(), 1);
}

// === purge ===

/// Three replicas; alice has two tokens, bob one. r0 and r1 have all three in their own
/// cache and in Redis; r2 has none. The server then revokes the purged tokens, `body` is
/// sent to r0 only, and every replica must refuse them (r1 within 1 s), their Redis
/// entries must be gone when the purge answers, and the others must stay cached.
async fn purge_reaches_every_replica(body: &str, purged: &[&str], kept: &[&str]) {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    for (t, sub) in [("pa-1", "alice"), ("pa-2", "alice"), ("pb-1", "bob")] {
        auth.token(t, active().scope("orders:read").sub(sub).exp_in(3600));
    }
    let cfg = config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    let r = replicas(3, &cfg, &auth).await;
    let mut entries = std::collections::HashMap::new();
    for t in ["pa-1", "pa-2", "pb-1"] {
        entries.insert(t, cache_through(&redis, &r[0], t, 200).await);
        assert_eq!(read(&r[1], t).await.status, 200);
    }
    assert_eq!(auth.calls(), 3);
    for t in purged {
        auth.token(t, inactive());
    }

    let resp = r[0].admin_post("/cache/purge", body).send().await;
    assert_eq!(resp.status, 200, "purge {body}: {}", resp.text());
    let purged_at = Instant::now();

    // Both levels, at once: the entries are gone from Redis when the purge answers.
    let left = redis.string_keys().await;
    for t in purged {
        for k in &entries[t] {
            assert!(
                !left.contains(k),
                "{body}: {t}'s Redis entry survived the purge"
            );
        }
    }
    for t in kept {
        for k in &entries[t] {
            assert!(left.contains(k), "{body}: {t}'s Redis entry was purged too");
        }
    }

    // r0 (own cache) and r2 (Redis only) refuse at once.
    for h in [&r[0], &r[2]] {
        for t in purged {
            read(h, t).await.assert_invalid_token();
        }
    }
    // r1 learns through pub/sub: within 1 s, and never serves the token again after.
    for t in purged {
        loop {
            let resp = read(&r[1], t).await;
            if resp.status == 401 {
                break;
            }
            assert_eq!(resp.status, 200, "{}", resp.text());
            assert!(
                purged_at.elapsed() < Duration::from_secs(1),
                "{body}: replica r1 still serves {t} 1 s after the purge answered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        read(&r[1], t).await.assert_invalid_token();
    }
    // What was not purged is still served from the caches: no new call for it.
    for t in kept {
        for h in &r {
            assert_eq!(read(h, t).await.status, 200);
        }
        assert_eq!(calls_for(&auth, t), 1, "{body}: {t} was evicted");
    }
}

#[tokio::test]
async fn purge_by_token_sha256_sent_to_one_replica_reaches_every_replica_and_redis() {
    let body = format!(r#"{{"token_sha256":"{}"}}"#, sha256_hex("pa-1"));
    purge_reaches_every_replica(&body, &["pa-1"], &["pa-2", "pb-1"]).await;
}

#[tokio::test]
async fn purge_by_subject_sent_to_one_replica_reaches_every_replica_and_redis() {
    purge_reaches_every_replica(r#"{"subject":"alice"}"#, &["pa-1", "pa-2"], &["pb-1"]).await;
}

#[tokio::test]
async fn purge_all_sent_to_one_replica_reaches_every_replica_and_empties_redis() {
    purge_reaches_every_replica("{}", &["pa-1", "pa-2", "pb-1"], &[]).await;
}

/// A replica cut off from Redis cannot hear a purge that another replica completes (200).
/// The promise still holds: no replica serves the purged entry more than 1 s after the
/// 200 — so a replica without its purge subscription must not keep answering from its
/// own cache as if nothing could have been purged.
#[tokio::test]
async fn a_replica_cut_off_from_redis_never_serves_an_entry_purged_elsewhere_after_1s() {
    replica_partitioned_during_a_purge(false).await;
}

/// The same when Redis goes silent for that replica (no FIN: every answer 10 s late).
#[tokio::test]
async fn a_replica_that_redis_stops_answering_never_serves_an_entry_purged_elsewhere_after_1s() {
    replica_partitioned_during_a_purge(true).await;
}

async fn replica_partitioned_during_a_purge(silent: bool) {
    let redis = RedisServer::start().await;
    let relay = Relay::start(redis.addr()).await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    auth.token(
        "pc-1",
        active().scope("orders:read").sub("alice").exp_in(3600),
    );
    let direct = config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    let via_relay = config(&relay.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    let (r0, r1) = tokio::join!(replica(&direct, &auth), replica(&via_relay, &auth));
    cache_through(&redis, &r0, "pc-1", 200).await;
    assert_eq!(read(&r1, "pc-1").await.status, 200);
    assert_eq!(auth.calls(), 1, "not shared");
    auth.token("pc-1", inactive());

    // Long enough for r1's reconnect attempts to back off past 1 s.
    if silent {
        relay.set_delay(Duration::from_secs(10));
    } else {
        relay.set_down(true);
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let resp = r0
        .admin_post("/cache/purge", r#"{"subject":"alice"}"#)
        .send()
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let purged_at = Instant::now();
    // Redis comes back for r1 at once (cut) or stays silent: either way, 1 s.
    relay.set_down(false);
    loop {
        let resp = read(&r1, "pc-1").await;
        if resp.status == 401 {
            break;
        }
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(
            purged_at.elapsed() < Duration::from_secs(1),
            "r1 (cut off from Redis during the purge) still serves the revoked token 1 s after r0 answered 200"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    read(&r1, "pc-1").await.assert_invalid_token();
}

#[tokio::test]
async fn purge_while_redis_is_down_purges_locally_and_answers_503_shared_purge_failed() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    let h = replica(
        &config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]),
        &auth,
    )
    .await;
    redis.kill();
    let bodies = [
        format!(r#"{{"token_sha256":"{}"}}"#, sha256_hex("pd-0")),
        r#"{"subject":"alice"}"#.to_string(),
        "{}".to_string(),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let t = format!("pd-{i}");
        auth.token(&t, active().scope("orders:read").sub("alice").exp_in(3600));
        assert_eq!(read(&h, &t).await.status, 200);
        assert_eq!(read(&h, &t).await.status, 200);
        assert_eq!(calls_for(&auth, &t), 1, "not cached in-process");
        auth.token(&t, inactive());
        let started = Instant::now();
        let resp = h.admin_post("/cache/purge", body).send().await;
        assert!(
            started.elapsed() < bound(),
            "purge took {:?}",
            started.elapsed()
        );
        resp.assert_error(503, "shared_purge_failed", None);
        read(&h, &t).await.assert_invalid_token();
        assert_eq!(calls_for(&auth, &t), 2, "{body}: local purge not done");
    }
}

// === Redis failures are misses ===

#[tokio::test]
async fn redis_killed_is_a_miss_not_a_failure_and_is_used_again_once_restarted() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    for i in 0..40 {
        auth.token(
            &format!("k-{i}"),
            active().scope("orders:read").sub("alice").exp_in(3600),
        );
    }
    let cfg = config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    let r = replicas(2, &cfg, &auth).await;
    cache_through(&redis, &r[0], "k-0", 200).await;
    cache_through(&redis, &r[0], "k-1", 200).await;
    assert_eq!(read(&r[1], "k-0").await.status, 200);
    assert_eq!(auth.calls(), 2);

    redis.kill();
    // In-process hits, a token that was only in Redis, and new tokens: all served,
    // none waiting more than the timeout extra.
    for (h, t) in [
        (&r[1], "k-0"),
        (&r[1], "k-1"),
        (&r[0], "k-2"),
        (&r[1], "k-3"),
    ] {
        let (resp, took) = timed(h, t).await;
        assert_eq!(resp.status, 200, "{t}: {}", resp.text());
        assert!(took < bound(), "{t} took {took:?} with Redis down");
    }
    let concurrent = join_all((4..14).map(|i| {
        let t = format!("k-{i}");
        let h = &r[i % 2];
        async move { timed(h, &t).await }
    }))
    .await;
    for (resp, took) in &concurrent {
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(*took < bound(), "took {took:?} with Redis down");
    }
    assert!(shared_count(&r[1], "error").await >= 1.0);
    for h in &r {
        assert_eq!(h.admin_get("/readyz").send().await.status, 200);
    }

    redis.restart().await;
    // Used again (after reconnecting): a token through r0 becomes a Redis hit on r1.
    let deadline = Instant::now() + Duration::from_secs(10);
    let hits = shared_count(&r[1], "hit").await;
    shared_again(
        &r,
        &auth,
        "k",
        14,
        deadline,
        "Redis not used again within 10 s of its restart",
    )
    .await;
    assert!(shared_count(&r[1], "hit").await > hits);
}

#[tokio::test]
async fn slow_or_cut_off_redis_adds_at_most_the_timeout_and_counts_errors() {
    let redis = RedisServer::start().await;
    let relay = Relay::start(redis.addr()).await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    for i in 0..30 {
        auth.token(
            &format!("s-{i}"),
            active().scope("orders:read").sub("alice").exp_in(3600),
        );
    }
    let cfg = config(&relay.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    let r = replicas(2, &cfg, &auth).await;
    cache_through(&redis, &r[0], "s-0", 200).await;

    // Slower than the timeout by far: a Redis that waited for it would take 3 s.
    relay.set_delay(Duration::from_secs(3));
    let (resp, took) = timed(&r[1], "s-0").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(took < bound(), "s-0 took {took:?} with a slow Redis");
    assert_eq!(
        calls_for(&auth, "s-0"),
        2,
        "answered without Redis or server?"
    );
    let concurrent = join_all((1..11).map(|i| {
        let t = format!("s-{i}");
        let h = &r[i % 2];
        async move { timed(h, &t).await }
    }))
    .await;
    for (resp, took) in &concurrent {
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(*took < bound(), "took {took:?} with a slow Redis");
    }
    // The brief asks for `error` on a timed-out lookup (docs/reference.md#shared-cache).
    assert!(shared_count(&r[1], "error").await >= 1.0);

    // Every connection cut, new ones closed at once.
    relay.set_delay(Duration::ZERO);
    relay.set_down(true);
    for i in 11..16 {
        let (resp, took) = timed(&r[i % 2], &format!("s-{i}")).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(took < bound(), "took {took:?} with Redis cut off");
    }
    for h in &r {
        assert_eq!(h.admin_get("/readyz").send().await.status, 200);
    }
}

#[tokio::test]
async fn started_while_redis_is_down_it_serves_and_uses_redis_once_it_is_up() {
    let redis = RedisServer::start().await;
    redis.kill();
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    for i in 0..40 {
        auth.token(
            &format!("d-{i}"),
            active().scope("orders:read").sub("alice").exp_in(3600),
        );
    }
    let cfg = config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    // The harness waits for /readyz = 200: Redis never affects readiness.
    let r = replicas(2, &cfg, &auth).await;
    for i in 0..4 {
        let (resp, took) = timed(&r[i % 2], &format!("d-{i}")).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(took < bound(), "took {took:?} with Redis never up");
    }
    assert!(shared_count(&r[0], "error").await >= 1.0);

    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    shared_again(
        &r,
        &auth,
        "d",
        4,
        deadline,
        "Redis, up after the replicas, not used within 10 s",
    )
    .await;
    assert!(!redis.string_keys().await.is_empty());
    assert!(shared_count(&r[1], "hit").await >= 1.0);
}

// === tampered and foreign entries ===

#[tokio::test]
async fn garbage_or_tampered_entries_are_ignored_counted_as_errors_and_the_server_is_asked() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    let cfg = config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    let r = replicas(2, &cfg, &auth).await;
    type Tamper = fn(&[u8]) -> Vec<u8>;
    let tampers: Vec<(&str, Tamper)> = vec![
        ("garbage", |_| b"garbage".to_vec()),
        ("empty", |_| Vec::new()),
        ("last-byte-flipped", |v| {
            let mut v = v.to_vec();
            if let Some(b) = v.last_mut() {
                *b ^= 0x01;
            }
            v
        }),
        ("first-byte-flipped", |v| {
            let mut v = v.to_vec();
            if let Some(b) = v.first_mut() {
                *b ^= 0x80;
            }
            v
        }),
        ("truncated", |v| v[..v.len().saturating_sub(1)].to_vec()),
        ("plain-json", |_| {
            br#"{"active":true,"scope":"orders:read admin","sub":"alice"}"#.to_vec()
        }),
    ];
    for (name, _) in &tampers {
        auth.token(
            name,
            active()
                .scope("orders:read admin")
                .sub("alice")
                .exp_in(3600),
        );
    }
    let mut entries = Vec::new();
    for (name, _) in &tampers {
        entries.push(cache_through(&redis, &r[0], name, 200).await);
    }
    for ((name, tamper), keys) in tampers.iter().zip(&entries) {
        // Revoked: only a (wrongly) accepted Redis entry could still let it in.
        auth.token(name, inactive());
        for k in keys {
            let v = redis.get(k).await.expect("entry");
            redis.set_keep_ttl(k, &tamper(&v)).await;
        }
    }
    for (name, _) in &tampers {
        read(&r[1], name).await.assert_invalid_token();
        assert_eq!(
            calls_for(&auth, name),
            2,
            "{name}: the server was not asked"
        );
    }
    assert!(r[1].upstream.requests().is_empty());
    let m = r[1].metrics().await;
    assert_eq!(shared_metric(&m, "hit"), 0.0, "{}", m.text);
    assert!(
        shared_metric(&m, "error") >= tampers.len() as f64,
        "tampered entries not counted as errors: {}",
        m.text
    );
}

/// An attacker with write access to Redis copies alice's sealed answer over the entry of
/// another token: the other token never gets in as alice.
#[tokio::test]
async fn another_tokens_sealed_value_copied_over_an_entry_is_never_accepted() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    auth.token(
        "t-alice",
        active()
            .scope("orders:read admin")
            .sub("alice")
            .exp_in(3600),
    );
    auth.token("t-revoked", inactive());
    auth.token(
        "t-mallory",
        active().scope("orders:read").sub("mallory").exp_in(3600),
    );
    let cfg = config(&redis.url(), &key, &[timeout_ms(TIMEOUT_MS)]);
    let r = replicas(2, &cfg, &auth).await;
    let alice = cache_through(&redis, &r[0], "t-alice", 200).await;
    let revoked = cache_through(&redis, &r[0], "t-revoked", 401).await;
    let mallory = cache_through(&redis, &r[0], "t-mallory", 200).await;
    let sealed = redis.get(&alice[0]).await.expect("alice's entry");
    for k in revoked.iter().chain(&mallory) {
        redis.set_keep_ttl(k, &sealed).await;
    }

    read(&r[1], "t-revoked").await.assert_invalid_token();
    assert_eq!(calls_for(&auth, "t-revoked"), 2, "the server was not asked");
    let resp = read(&r[1], "t-mallory").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(subject_seen(&r[1]).as_deref(), Some("mallory"));
    let d = r[1]
        .request("DELETE", "/orders/1")
        .bearer("t-mallory")
        .send()
        .await;
    assert_eq!(
        d.status,
        403,
        "mallory got alice's admin scope: {}",
        d.text()
    );
    assert_eq!(calls_for(&auth, "t-mallory"), 2);
    assert!(shared_count(&r[1], "error").await >= 2.0);
    assert_eq!(shared_count(&r[1], "hit").await, 0.0);
}

/// A replica with another key file on the same Redis and prefix: different keys for the
/// same token, no hits on each other's entries, and its sealed value copied over ours is
/// rejected (the key file is part of the AEAD key).
#[tokio::test]
async fn a_value_sealed_under_another_key_file_is_never_accepted() {
    let redis = RedisServer::start().await;
    let files = Files::new();
    let key_a = files.write("key-a", KEY_A);
    let key_b = files.write("key-b", KEY_B);
    let auth = AuthServer::start().await;
    auth.token(
        "t-x",
        active()
            .scope("orders:read admin")
            .sub("alice")
            .exp_in(3600),
    );
    auth.token("t-y", active().scope("orders:read").sub("bob").exp_in(3600));
    let cfg_a = config(&redis.url(), &key_a, &[timeout_ms(TIMEOUT_MS)]);
    let cfg_b = config(&redis.url(), &key_b, &[timeout_ms(TIMEOUT_MS)]);
    let (mut a, b) = tokio::join!(replicas(2, &cfg_a, &auth), replica(&cfg_b, &auth));
    let fresh_a = a.pop().unwrap();
    let a = a.pop().unwrap();

    // Key B seals t-x while it is active; then the server revokes it and key A caches that.
    let under_b = cache_through(&redis, &b, "t-x", 200).await;
    auth.token("t-x", inactive());
    let under_a = cache_through(&redis, &a, "t-x", 401).await;
    for k in &under_a {
        assert!(
            !under_b.contains(k),
            "the Redis key does not depend on the key file"
        );
    }
    let foreign = redis.get(&under_b[0]).await.expect("entry under key B");
    for k in &under_a {
        redis.set_keep_ttl(k, &foreign).await;
    }
    read(&fresh_a, "t-x").await.assert_invalid_token();
    assert_eq!(calls_for(&auth, "t-x"), 3, "the server was not asked");
    assert!(fresh_a.upstream.requests().is_empty());
    assert!(shared_count(&fresh_a, "error").await >= 1.0);

    // No sharing across key files: t-y through A is a miss for B.
    cache_through(&redis, &a, "t-y", 200).await;
    assert_eq!(read(&b, "t-y").await.status, 200);
    assert_eq!(calls_for(&auth, "t-y"), 2);
    assert_eq!(shared_count(&b, "hit").await, 0.0);
}

// === nothing readable ===

#[tokio::test]
async fn nothing_readable_in_redis_keys_values_commands_or_purge_messages() {
    let redis = RedisServer::start().await;
    let monitor = redis.monitor().await;
    let pubsub = redis.subscribe_all().await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = AuthServer::start().await;
    let token = "tok-Secret-7Hq2Lm9Pz";
    let inactive_token = "tok-Inactive-Vb44Rt";
    auth.token(
        token,
        active()
            .scope("orders:read scope-Quokka:write")
            .sub("subj-Zebra-42")
            .username("user-Yak-7")
            .client_id("client-Narwhal-3")
            .claim("tenant", "tenant-Okapi-9")
            .exp_in(3600),
    );
    let prefix = "sg-test-prefix:";
    let cfg = config(
        &redis.url(),
        &key,
        &[timeout_ms(TIMEOUT_MS), ("prefix", q(prefix))],
    )
    .claim("tenant", "X-Auth-Tenant");
    let r = replicas(2, &cfg, &auth).await;
    cache_through(&redis, &r[0], token, 200).await;
    cache_through(&redis, &r[0], inactive_token, 401).await;
    assert_eq!(read(&r[1], token).await.status, 200);
    assert_eq!(
        r[1].upstream.requests()[0].header("x-auth-tenant"),
        Some("tenant-Okapi-9")
    );
    assert_eq!(auth.calls(), 2, "not shared");
    let everything_before_purge = redis.dump_everything().await;
    let keys_before_purge = printable(&redis.keys().await);
    // Everything scopegate stored is under its prefix.
    assert!(!keys_before_purge.is_empty());
    for k in &keys_before_purge {
        assert!(k.starts_with(prefix), "key {k:?} outside the prefix");
    }
    for body in [
        r#"{"subject":"subj-Zebra-42"}"#.to_string(),
        format!(r#"{{"token_sha256":"{}"}}"#, sha256_hex(token)),
        "{}".to_string(),
    ] {
        let resp = r[0].admin_post("/cache/purge", &body).send().await;
        assert_eq!(resp.status, 200, "{body}: {}", resp.text());
    }
    // The purges went out as pub/sub messages.
    let deadline = Instant::now() + Duration::from_secs(2);
    while pubsub.text().matches("pmessage").count() < 3 {
        assert!(
            Instant::now() < deadline,
            "fewer than 3 pub/sub messages for 3 purges: {:?}",
            pubsub.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let digest = {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes()).to_vec()
    };
    let b64 = |engine: &base64::engine::GeneralPurpose| {
        use base64::Engine;
        engine.encode(&digest)
    };
    let mut needles: Vec<Vec<u8>> = [
        token,
        inactive_token,
        "subj-Zebra-42",
        "user-Yak-7",
        "scope-Quokka",
        "orders:read",
        "client-Narwhal-3",
        "tenant-Okapi-9",
        CLIENT_SECRET,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    needles.push(sha256_hex(token).into_bytes());
    needles.push(sha256_hex(token).to_uppercase().into_bytes());
    needles.push(sha256_hex(inactive_token).into_bytes());
    needles.push(b64(&base64::engine::general_purpose::STANDARD).into_bytes());
    needles.push(b64(&base64::engine::general_purpose::URL_SAFE_NO_PAD).into_bytes());
    needles.push(digest.clone());
    let seen = [
        ("stored keys and values", everything_before_purge.clone()),
        ("commands sent to Redis (MONITOR)", monitor.bytes()),
        ("pub/sub messages", pubsub.bytes()),
    ];
    for (what, hay) in &seen {
        assert!(!hay.is_empty(), "{what}: nothing captured");
        for n in &needles {
            assert!(
                find(hay, n).is_none(),
                "{what} contain {:?} in clear",
                String::from_utf8_lossy(n)
            );
        }
    }
    for k in printable(&redis.keys().await) {
        assert!(k.starts_with(prefix), "key {k:?} outside the prefix");
    }
}

// === rediss:// and authentication ===

#[tokio::test]
async fn rediss_with_ca_file_shares_answers_through_a_self_signed_tls_redis() {
    let redis = RedisServer::start_with(RedisOptions {
        tls: true,
        ..Default::default()
    })
    .await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let auth = auth_with_standard_tokens().await;
    let ca = redis.ca_file();
    let cfg = config(
        &redis.tls_url(),
        &key,
        &[timeout_ms(500), ("ca_file", q(&ca.display().to_string()))],
    );
    let r = replicas(2, &cfg, &auth).await;
    cache_through(&redis, &r[0], "t-read", 200).await;
    assert_eq!(read(&r[1], "t-read").await.status, 200);
    assert_eq!(auth.calls(), 1);
    assert_eq!(shared_count(&r[1], "hit").await, 1.0);
    assert_eq!(shared_count(&r[1], "error").await, 0.0);
}

#[tokio::test]
async fn rediss_with_a_wrong_ca_counts_errors_and_the_server_answers() {
    let redis = RedisServer::start_with(RedisOptions {
        tls: true,
        ..Default::default()
    })
    .await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let wrong_ca = files.write("wrong-ca.pem", &other.cert.pem());
    let auth = auth_with_standard_tokens().await;
    let cfg = config(
        &redis.tls_url(),
        &key,
        &[
            timeout_ms(TIMEOUT_MS),
            ("ca_file", q(&wrong_ca.display().to_string())),
        ],
    );
    let r = replicas(2, &cfg, &auth).await;
    for h in &r {
        let (resp, took) = timed(h, "t-read").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert!(took < bound(), "took {took:?}");
    }
    assert_eq!(auth.calls(), 2, "shared through an unverified Redis?");
    assert!(
        redis.keys().await.is_empty(),
        "wrote through an unverified TLS"
    );
    for h in &r {
        assert!(shared_count(h, "error").await >= 1.0);
        assert_eq!(shared_count(h, "hit").await, 0.0);
    }
}

/// The ACL rules of docs/operations.md#running-several-replicas (keep them in step).
const DOCUMENTED_ACL: &[&str] = &[
    "~scopegate:*",
    "&scopegate:*",
    "+@read",
    "+@write",
    "+@keyspace",
    "+@pubsub",
    "+@connection",
    "-@dangerous",
];

#[tokio::test]
async fn redis_password_from_env_or_file_and_acl_username_authenticate() {
    let password = "redis-pw-Tq81Zk";
    let acl_password = "acl-pw-Mn52Hd";
    // The ACL user gets exactly the rules docs/operations.md#running-several-replicas
    // recommends: its prefix's keys and channels, no dangerous commands.
    let redis = RedisServer::start_with(RedisOptions {
        password: Some(password.to_string()),
        user: Some(("sg-user".to_string(), acl_password.to_string())),
        user_rules: DOCUMENTED_ACL.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
    .await;
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let acl_file = files.write("acl-pw", &format!("{acl_password}\n"));
    let wrong_file = files.write("wrong-pw", "not-the-password\n");
    let auth = auth_with_standard_tokens().await;
    let with_env = config(
        &redis.url(),
        &key,
        &[
            timeout_ms(TIMEOUT_MS),
            ("password_env", q("SG_TEST_REDIS_PW")),
        ],
    );
    let with_acl = config(
        &redis.url(),
        &key,
        &[
            timeout_ms(TIMEOUT_MS),
            ("username", q("sg-user")),
            ("password_file", q(&acl_file.display().to_string())),
        ],
    );
    let with_wrong = config(
        &redis.url(),
        &key,
        &[
            timeout_ms(TIMEOUT_MS),
            ("password_file", q(&wrong_file.display().to_string())),
        ],
    );
    let env_replica = async {
        Harness::try_start_with(
            with_env,
            auth.clone(),
            Upstream::start().await,
            &[("SG_TEST_REDIS_PW", password)],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let (e, a, w) = tokio::join!(
        env_replica,
        replica(&with_acl, &auth),
        replica(&with_wrong, &auth)
    );
    cache_through(&redis, &e, "t-read", 200).await;
    assert_eq!(read(&a, "t-read").await.status, 200);
    assert_eq!(auth.calls(), 1, "the ACL user did not read the entry");
    cache_through(&redis, &a, "t-admin", 200).await;
    assert_eq!(read(&e, "t-admin").await.status, 200);
    assert_eq!(auth.calls(), 2, "the password user did not read the entry");

    // A purge through the restricted ACL user reaches Redis and the other replica.
    let resp = a.admin_post("/cache/purge", "{}").send().await;
    assert_eq!(resp.status, 200, "purge as the ACL user: {}", resp.text());
    assert!(redis.string_keys().await.is_empty(), "purge left entries");

    let (resp, took) = timed(&w, "t-read").await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(took < bound());
    assert!(shared_count(&w, "error").await >= 1.0);
    assert_eq!(shared_count(&w, "hit").await, 0.0);
    for h in [&e, &a, &w] {
        let logs = h.logs().join("\n");
        for secret in [password, acl_password, KEY_A.trim_end()] {
            assert!(!logs.contains(secret), "a secret in the logs");
        }
        let m = h.metrics().await.text;
        assert!(!m.contains(password) && !m.contains(acl_password));
    }
}

// === config ===

/// Writes a config with this shared table; returns (dir, path, text).
async fn shared_config(table: &str) -> (tempfile::TempDir, PathBuf, String) {
    let auth = AuthServer::start().await;
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = TestConfig::standard()
        .extra(table)
        .write(dir.path(), &auth, &up);
    let text = std::fs::read_to_string(&path).unwrap();
    (dir, path, text)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in config"))
        + 1
}

fn check(path: &Path) -> CliOutput {
    run_cli(&["check", "--config", path.to_str().unwrap()], &[], None)
}

/// `check` exits 1 naming the file and one of `lines`, and the key.
#[track_caller]
fn assert_config_error(out: &CliOutput, path: &Path, lines: &[usize], key: &str) {
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        lines
            .iter()
            .any(|l| out.stderr.contains(&format!("{}:{l}:", path.display()))),
        "expected {}:<one of {lines:?}>: in stderr: {}",
        path.display(),
        out.stderr
    );
    assert!(out.stderr.contains(key), "{key} not named: {}", out.stderr);
}

#[tokio::test]
async fn check_rejects_a_password_in_the_url_at_its_line_without_printing_it() {
    let files = Files::new();
    let key = files.write("key", KEY_A);
    for url in [
        "redis://:hunter2-Pw@127.0.0.1:6379/0",
        "redis://sg-user:hunter2-Pw@127.0.0.1:6379/0",
        "rediss://default:hunter2-Pw@redis.example:6380",
    ] {
        let (_d, path, text) = shared_config(&shared_table(url, &key, &[])).await;
        let out = check(&path);
        assert_config_error(&out, &path, &[line_of(&text, "url = \"redis")], "url");
        assert!(
            !out.stderr.contains("hunter2-Pw") && !out.stdout.contains("hunter2-Pw"),
            "the password was printed: {}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn check_rejects_a_url_that_is_not_redis_or_rediss() {
    let files = Files::new();
    let key = files.write("key", KEY_A);
    for url in [
        "http://127.0.0.1:6379",
        "127.0.0.1:6379",
        "unix:///tmp/redis.sock",
    ] {
        let (_d, path, text) = shared_config(&shared_table(url, &key, &[])).await;
        let line = line_of(&text, &format!("url = {}", q(url)));
        assert_config_error(&check(&path), &path, &[line], "url");
    }
}

#[tokio::test]
async fn check_rejects_a_missing_or_absent_key_file() {
    let files = Files::new();
    let missing = files.0.path().join("no-such-key");
    let (_d, path, text) =
        shared_config(&shared_table("redis://127.0.0.1:6379", &missing, &[])).await;
    let out = check(&path);
    assert_config_error(&out, &path, &[line_of(&text, "key_file")], "key_file");
    // No key_file at all: required, reported at the table.
    let (_d, path, text) =
        shared_config("\n[introspection.cache.shared]\nurl = \"redis://127.0.0.1:6379\"\n").await;
    let header = line_of(&text, "[introspection.cache.shared]");
    assert_config_error(&check(&path), &path, &[header], "key_file");
}

#[tokio::test]
async fn check_rejects_a_key_file_under_32_bytes_after_trimming_newlines() {
    let files = Files::new();
    // 31 bytes, padded to 34 with newlines that do not count.
    let short = "k".repeat(31);
    let key = files.write("short", &format!("{short}\n\n\r\n"));
    let (_d, path, text) = shared_config(&shared_table("redis://127.0.0.1:6379", &key, &[])).await;
    let out = check(&path);
    assert_config_error(&out, &path, &[line_of(&text, "key_file")], "key_file");
    assert!(!out.stderr.contains(&short), "key material printed");
    // Exactly 32 bytes (plus a newline) is enough.
    let key = files.write("exact", &format!("{}\n", "k".repeat(32)));
    let (_d, path, _) = shared_config(&shared_table("redis://127.0.0.1:6379", &key, &[])).await;
    let out = check(&path);
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[tokio::test]
async fn check_rejects_an_unknown_key_in_the_shared_table_at_its_line() {
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let (_d, path, text) = shared_config(&shared_table(
        "redis://127.0.0.1:6379",
        &key,
        &[("prefixx", q("a:"))],
    ))
    .await;
    assert_config_error(
        &check(&path),
        &path,
        &[line_of(&text, "prefixx")],
        "prefixx",
    );
}

#[tokio::test]
async fn check_rejects_ca_file_with_a_plain_redis_url() {
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let ca = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let ca = files.write("ca.pem", &ca.cert.pem());
    let (_d, path, text) = shared_config(&shared_table(
        "redis://127.0.0.1:6379",
        &key,
        &[("ca_file", q(&ca.display().to_string()))],
    ))
    .await;
    assert_config_error(
        &check(&path),
        &path,
        &[line_of(&text, "ca_file"), line_of(&text, "url = \"redis")],
        "ca_file",
    );
}

#[tokio::test]
async fn check_rejects_both_password_file_and_password_env() {
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let pw = files.write("pw", "pw\n");
    let (_d, path, text) = shared_config(&shared_table(
        "redis://127.0.0.1:6379",
        &key,
        &[
            ("password_file", q(&pw.display().to_string())),
            ("password_env", q("SG_PW")),
        ],
    ))
    .await;
    let lines = [
        line_of(&text, "password_file"),
        line_of(&text, "password_env"),
    ];
    assert_config_error(&check(&path), &path, &lines, "password_");
}

/// docs/reference.md#shared-cache: `check` verifies the key file, not Redis.
#[tokio::test]
async fn check_verifies_the_key_file_without_connecting_to_redis() {
    let files = Files::new();
    let key = files.write("key", KEY_A);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("redis://{}/0", listener.local_addr().unwrap());
    let (_d, path, _) = shared_config(&shared_table(&url, &key, &[])).await;
    let started = Instant::now();
    let out = check(&path);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(listener.accept(), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "check connected to Redis"
    );
    // An unresolvable host is fine for check too.
    let (_d, path, _) =
        shared_config(&shared_table("redis://redis.invalid:6379/0", &key, &[])).await;
    assert_eq!(check(&path).code, Some(0));
}

#[tokio::test]
async fn serve_with_a_short_key_file_exits_nonzero_before_listening() {
    let files = Files::new();
    let key = files.write("key", "too-short\n");
    let auth = AuthServer::start().await;
    let cfg = config("redis://127.0.0.1:6379", &key, &[]);
    match Harness::try_start_with(cfg, auth, Upstream::start().await, &[]).await {
        Ok(_) => panic!("served with a 9-byte key file"),
        Err(e) => assert!(e.contains("exited early") && e.contains("key_file"), "{e}"),
    }
}
