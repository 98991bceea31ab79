//! docs/reference.md#operations SIGHUP: a valid new config applies; an invalid one is rejected and the old
//! one keeps serving.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

async fn eventually_status(h: &Harness, path: &str, want: u16) -> u16 {
    let mut last = 0;
    for _ in 0..50 {
        last = h.get(path).send().await.status;
        if last == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

#[tokio::test]
async fn sighup_applies_changed_routes() {
    let h = Harness::standard(TestConfig::new().route(Route::public("/a"))).await;
    assert_eq!(h.get("/b").send().await.status, 403);
    h.rewrite_config(&TestConfig::new().route(Route::public("/b")));
    h.signal("HUP");
    assert_eq!(
        eventually_status(&h, "/b", 200).await,
        200,
        "reload not applied; logs:\n{}",
        h.logs().join("\n")
    );
    assert_eq!(
        h.get("/a").send().await.status,
        403,
        "old route still active"
    );
    let m = h.metrics().await;
    let ok: f64 = m
        .samples
        .iter()
        .filter(|(n, l, _)| {
            n == "scopegate_config_reloads_total" && !l.iter().any(|(_, v)| v == "error")
        })
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(ok, 1.0, "{}", m.text);
}

#[tokio::test]
async fn invalid_config_on_sighup_keeps_old_and_counts_error() {
    let h = Harness::standard(TestConfig::new().route(Route::public("/a"))).await;
    h.write_raw_config("[listen]\naddr = \"127.0.0.1:0\"\nbogus_key = 1\n");
    h.signal("HUP");
    let errors = reloads(&h, "error", 1.0).await;
    assert_eq!(errors, 1.0, "logs:\n{}", h.logs().join("\n"));
    assert_eq!(
        h.get("/a").send().await.status,
        200,
        "old config must keep serving"
    );
    h.wait_log("a warn/error line about the rejected reload", |v| {
        let lvl = v.get("level").and_then(|l| l.as_str()).unwrap_or("");
        (lvl == "ERROR" || lvl == "WARN") && v.to_string().contains("bogus_key")
    })
    .await;
    assert_eq!(
        h.wait_exit(Duration::from_millis(100)).await,
        None,
        "process must keep running"
    );
}

#[tokio::test]
async fn reload_applies_new_token_settings_without_dropping_cache_rules() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(
        h.get("/orders/1?access_token=t-read").send().await.status,
        200
    );
    h.rewrite_config(&TestConfig::standard().sources(&["header"]));
    h.signal("HUP");
    assert_eq!(
        eventually_status(&h, "/orders/1?access_token=t-read", 401).await,
        401
    );
}

// --- [listen] limits and keys that need a restart ---

fn public_all() -> TestConfig {
    TestConfig::new().route(Route::public("/**"))
}

/// Sends SIGHUP and waits (bounded) until the `n`th reload was applied.
async fn reload_applied(h: &Harness, n: f64) {
    h.signal("HUP");
    let ok = reloads(h, "ok", n).await;
    assert_eq!(ok, n, "reload not applied; logs:\n{}", h.logs().join("\n"));
}

/// `scopegate_config_reloads_total{result}` once it reaches `n` (bounded: the last
/// value seen after 5 s).
async fn reloads(h: &Harness, result: &str, n: f64) -> f64 {
    let mut count = 0.0;
    for _ in 0..100 {
        count = h
            .metrics()
            .await
            .value("scopegate_config_reloads_total", &[("result", result)]);
        if count >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    count
}

fn with_header(bytes: usize) -> Vec<u8> {
    format!(
        "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(bytes)
    )
    .into_bytes()
}

#[tokio::test]
async fn reload_raising_and_lowering_max_header_bytes_applies_to_new_connections() {
    let h = Harness::standard(public_all().listen("max_header_bytes", "\"4KiB\"")).await;
    assert_eq!(raw_status(&h.raw(&with_header(20_000)).await), 431);
    // Raised: hyper's read buffer of a new connection grows with it (it was sized
    // at start before).
    h.rewrite_config(&public_all().listen("max_header_bytes", "\"32KiB\""));
    reload_applied(&h, 1.0).await;
    let resp = h.raw(&with_header(20_000)).await;
    assert_eq!(raw_status(&resp), 200, "{resp}");
    // Lowered again, below what was just accepted.
    h.rewrite_config(&public_all().listen("max_header_bytes", "\"2KiB\""));
    reload_applied(&h, 2.0).await;
    assert_eq!(raw_status(&h.raw(&with_header(3_000)).await), 431);
    assert_eq!(raw_status(&h.raw(&with_header(1_000)).await), 200);
    assert_eq!(h.upstream.requests().len(), 2);
}

#[tokio::test]
async fn reload_lowering_max_header_bytes_applies_to_new_h2_connections() {
    let h = Harness::standard(public_all().listen("max_header_bytes", "\"32KiB\"")).await;
    let big = "b".repeat(10_000);
    let before = h.get("/x").header("x-big", &big).h2().send().await;
    assert_eq!(before.status, 200, "{}", before.text());
    h.rewrite_config(&public_all().listen("max_header_bytes", "\"4KiB\""));
    reload_applied(&h, 1.0).await;
    // A new HTTP/2 connection: refused (431, or the stream reset by the HTTP/2 layer).
    let after = h.get("/x").header("x-big", &big).h2().try_send().await;
    assert!(
        after.as_ref().map_or(true, |r| r.status == 431),
        "{:?}",
        after.map(|r| r.status)
    );
    assert_eq!(h.upstream.requests().len(), 1);
}

#[tokio::test]
async fn reload_changing_header_read_timeout_applies_to_new_connections_only() {
    let h = Harness::standard(public_all().listen("header_read_timeout", "\"60s\"")).await;
    // Opened before the reload: keeps the 60s.
    let mut old = TcpStream::connect(h.proxy_addr).await.unwrap();
    old.write_all(b"GET /old HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    h.rewrite_config(&public_all().listen("header_read_timeout", "\"1s\""));
    reload_applied(&h, 1.0).await;
    let mut new = TcpStream::connect(h.proxy_addr).await.unwrap();
    new.write_all(b"GET /new HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), new.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "a new connection still open 10s after a reload to header_read_timeout = 1s"
    );
    // The connection from before still finishes its request.
    old.write_all(b"Connection: close\r\n\r\n").await.unwrap();
    let resp = read_response(&mut old, Duration::from_secs(5)).await;
    assert_eq!(raw_status(&resp), 200, "{resp}");
    let seen = h.upstream.requests();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].target, "/old");
}

/// A connection that has had one answer and stays open (keep-alive).
async fn holding(h: &Harness) -> TcpStream {
    let mut s = TcpStream::connect(h.proxy_addr).await.unwrap();
    s.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let resp = read_response(&mut s, Duration::from_secs(5)).await;
    assert_eq!(raw_status(&resp), 200, "{resp}");
    s
}

/// A connection whose request is sent; it may wait in the accept queue.
async fn waiting(h: &Harness) -> TcpStream {
    let mut s = TcpStream::connect(h.proxy_addr).await.unwrap();
    s.write_all(b"GET /waiting HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    s
}

/// Whether `s` got an answer within `within` (`false`: still waiting).
async fn answered(s: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(within, s.read(&mut byte)).await,
        Ok(Ok(1))
    )
}

#[tokio::test]
async fn reload_raising_and_lowering_max_connections_applies_to_new_connections() {
    let limit = |n: &str| {
        public_all()
            .listen("header_read_timeout", "\"60s\"")
            .listen("max_connections", n)
    };
    let h = Harness::standard(limit("1")).await;
    let a = holding(&h).await;
    let mut b = waiting(&h).await;
    assert!(
        !answered(&mut b, Duration::from_millis(500)).await,
        "a second connection served at max_connections = 1"
    );
    // Raised while the listener waits at the limit: the queued connection is served.
    h.rewrite_config(&limit("2"));
    reload_applied(&h, 1.0).await;
    assert!(
        answered(&mut b, Duration::from_secs(10)).await,
        "the queued connection was not served after raising max_connections to 2"
    );
    drop(b);
    let b = holding(&h).await;
    // Lowered below the two open connections: none is cut, and no new one is served
    // until both have ended and one fits under the new limit.
    h.rewrite_config(&limit("1"));
    reload_applied(&h, 2.0).await;
    let mut c = waiting(&h).await;
    assert!(
        !answered(&mut c, Duration::from_millis(500)).await,
        "a third connection served at max_connections = 1"
    );
    drop(a);
    assert!(
        !answered(&mut c, Duration::from_millis(500)).await,
        "served with one connection open at max_connections = 1"
    );
    drop(b);
    assert!(
        answered(&mut c, Duration::from_secs(10)).await,
        "not served after the open connections ended"
    );
}

#[tokio::test]
async fn reload_changing_listen_addr_names_the_key_and_keeps_the_old_address() {
    let h = Harness::standard(TestConfig::new().route(Route::public("/a"))).await;
    let text = TestConfig::new()
        .route(Route::public("/b"))
        .render(&h.auth_server, &h.upstream);
    let moved = text.replacen("addr = \"127.0.0.1:0\"", "addr = \"127.0.0.1:1\"", 1);
    assert_ne!(moved, text, "the rendered config has no [listen] addr");
    h.write_raw_config(&moved);
    reload_applied(&h, 1.0).await;
    let line = h
        .wait_log("the changed key that needs a restart", |v| {
            field(v, "key").and_then(|k| k.as_str()) == Some("listen.addr")
        })
        .await;
    assert_eq!(
        line.get("level").and_then(|l| l.as_str()),
        Some("WARN"),
        "{line}"
    );
    assert!(line.to_string().contains("127.0.0.1:1"), "{line}");
    // Everything else was applied, on the address bound at start.
    assert_eq!(h.get("/b").send().await.status, 200);
    assert_eq!(h.get("/a").send().await.status, 403);
}

#[tokio::test]
async fn reload_raising_max_header_bytes_applies_to_new_decision_connections() {
    let config = |size: &str| {
        public_all()
            .decision_only()
            .listen("max_header_bytes", size)
    };
    let h = Harness::standard(config("\"4KiB\"")).await;
    let big = "a".repeat(20_000);
    let ask = || {
        h.decide("GET", "/nginx")
            .header("x-original-method", "GET")
            .header("x-original-uri", "/x")
            .header("x-big", &big)
    };
    assert_eq!(ask().send().await.status, 431);
    h.rewrite_config(&config("\"32KiB\""));
    reload_applied(&h, 1.0).await;
    let r = ask().send().await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// docs/reference.md#cache-entry-size: a cached answer keeps only the claims the config
/// reads. A reload that reads another claim starts with empty in-process caches, so
/// a token cached before gets the new header from a fresh answer, never a missing one.
#[tokio::test]
async fn reload_reading_another_claim_applies_to_tokens_cached_before() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.token(
        "t-tenant",
        active()
            .scope("orders:read")
            .sub("alice")
            .claim("tenant", "acme")
            .exp_in(600),
    );
    assert_eq!(
        h.get("/orders/1").bearer("t-tenant").send().await.status,
        200
    );
    assert!(!h.upstream.single().has_header_like("x-auth-tenant"));

    h.rewrite_config(&TestConfig::standard().claim("tenant", "X-Auth-Tenant"));
    reload_applied(&h, 1.0).await;
    assert_eq!(
        h.get("/orders/1").bearer("t-tenant").send().await.status,
        200
    );
    let forwarded = h.upstream.requests();
    assert_eq!(forwarded.len(), 2);
    assert_eq!(forwarded[1].header("x-auth-tenant"), Some("acme"));
    assert_eq!(
        h.auth_server.calls(),
        2,
        "the answer cached before was reused"
    );
}

/// The other way round: a reload that reads the same claims keeps the cached answers.
#[tokio::test]
async fn reload_reading_the_same_claims_keeps_cached_answers() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    h.rewrite_config(&TestConfig::standard().route(Route::public("/extra")));
    reload_applied(&h, 1.0).await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    assert_eq!(h.auth_server.calls(), 1);
}
