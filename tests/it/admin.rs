//! docs/reference.md#observability: /healthz, /readyz (independent of the authorization server),
//! `introspection_up`, /metrics names, labels and exact counter values; admin endpoints
//! never proxied. docs/reference.md#introspection-cache: who may `POST /cache/purge`.

use crate::support::auth_server::AuthMode;
use crate::support::*;

#[tokio::test]
async fn healthz_and_readyz_are_200() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(h.admin_get("/healthz").send().await.status, 200);
    assert_eq!(h.admin_get("/readyz").send().await.status, 200);
}

/// docs/reference.md#observability (revised): an outage of the authorization server, which every replica
/// shares, must not make replicas unready (that would take all of them out of the
/// Service at once, public routes and cached tokens included). `/readyz` stays 200 and
/// never calls the server itself; `introspection_up` shows the outage instead.
#[tokio::test]
async fn readyz_stays_200_while_the_authorization_server_is_down() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    h.auth_server.set_mode(AuthMode::Status500);
    for i in 0..5 {
        let r = h
            .get("/orders/1")
            .bearer(&format!("t-down-{i}"))
            .send()
            .await;
        assert_eq!(r.status, 503);
    }
    let calls = h.auth_server.calls();
    for _ in 0..3 {
        let r = h.admin_get("/readyz").send().await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(h.auth_server.calls(), calls, "/readyz called the server");
    assert_eq!(h.admin_get("/healthz").send().await.status, 200);
    // Still serving what does not need the server: public routes and cached tokens.
    assert_eq!(h.get("/health").send().await.status, 200);
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
}

#[tokio::test]
async fn introspection_up_is_0_after_three_failed_calls_in_a_row_until_one_succeeds() {
    let h = Harness::standard(TestConfig::standard()).await;
    let up = |m: &Metrics| m.get("scopegate_introspection_up", &[]);
    assert_eq!(up(&h.metrics().await), Some(1.0), "starts at 1");
    h.auth_server.set_mode(AuthMode::Status500);
    for i in 0..4 {
        let r = h
            .get("/orders/1")
            .bearer(&format!("t-fail-{i}"))
            .send()
            .await;
        assert_eq!(r.status, 503);
        let want = if i < 2 { 1.0 } else { 0.0 };
        let m = h.metrics().await;
        assert_eq!(up(&m), Some(want), "after {} failures\n{}", i + 1, m.text);
    }
    h.auth_server.set_mode(AuthMode::Normal);
    // An inactive answer is a successful call too.
    h.get("/orders/1")
        .bearer("t-inactive")
        .send()
        .await
        .assert_invalid_token();
    assert_eq!(up(&h.metrics().await), Some(1.0), "back after one success");
    // Two failures then a success: never 0.
    h.auth_server.set_mode(AuthMode::Status500);
    for i in 0..2 {
        let r = h.get("/orders/1").bearer(&format!("t-x-{i}")).send().await;
        assert_eq!(r.status, 503);
    }
    h.auth_server.set_mode(AuthMode::Normal);
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    h.auth_server.set_mode(AuthMode::Status500);
    let r = h.get("/orders/1").bearer("t-x-2").send().await;
    assert_eq!(r.status, 503);
    assert_eq!(up(&h.metrics().await), Some(1.0), "failures not in a row");
}

// --- docs/reference.md#introspection-cache purge access ---

/// A local IPv4 address that is not loopback, so that a connection to it has a
/// non-loopback peer address although it never leaves the machine. Found by routing
/// a UDP socket (no packet is sent); a machine with only `lo` cannot run these tests
/// (the peer rule itself is unit-tested in `admin::tests`).
fn non_loopback_ip() -> std::net::IpAddr {
    let found = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("203.0.113.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    found.expect("this test needs a non-loopback IPv4 address with a route (none found)")
}

/// The admin listener on a non-loopback local address; the harness's own client then
/// connects from that address too.
async fn remote_admin(config: TestConfig) -> Harness {
    let ip = non_loopback_ip();
    let h = Harness::standard(config.admin_addr(&format!("{ip}:0"))).await;
    assert!(!h.admin_addr.ip().is_loopback(), "{}", h.admin_addr);
    h
}

const ADMIN_TOKEN: &str = "adm-9f3Kq2xWz";

fn with_admin_token(config: TestConfig) -> TestConfig {
    config
        .file("admin-token", &format!("{ADMIN_TOKEN}\n"))
        .admin("token_file", "\"admin-token\"")
}

/// Warms the cache with t-read (one introspection call).
async fn warm(h: &Harness) {
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    assert_eq!(h.auth_server.calls(), 1);
}

/// Whether t-read's entry survived (no new introspection call).
async fn still_cached(h: &Harness, calls: usize) -> bool {
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    h.auth_server.calls() == calls
}

#[tokio::test]
async fn purge_everything_from_a_non_loopback_peer_is_403_and_evicts_nothing() {
    let h = remote_admin(TestConfig::standard()).await;
    warm(&h).await;
    for body in ["{}", r#"{"subject":"alice"}"#] {
        let r = h.admin_post("/cache/purge", body).send().await;
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.error().as_deref(), Some("forbidden"));
        // Any bearer is meaningless without [admin] token_file.
        let r = h
            .admin_post("/cache/purge", body)
            .bearer(ADMIN_TOKEN)
            .send()
            .await;
        assert_eq!(r.status, 403);
    }
    assert!(still_cached(&h, 1).await, "a refused purge evicted entries");
    // Probes and scrapers stay open to every peer.
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(h.admin_get(path).send().await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn purge_from_a_non_loopback_peer_needs_exactly_the_admin_bearer() {
    let h = remote_admin(with_admin_token(TestConfig::standard())).await;
    warm(&h).await;
    let wrong = [
        None,
        Some("Bearer adm-9f3Kq2xW".to_string()),
        Some(format!("Bearer {ADMIN_TOKEN}x")),
        Some(format!("Basic {ADMIN_TOKEN}")),
        Some(ADMIN_TOKEN.to_string()),
    ];
    for authorization in &wrong {
        let mut req = h.admin_post("/cache/purge", "{}");
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        let r = req.send().await;
        assert_eq!(r.status, 403, "{authorization:?}: {}", r.text());
    }
    assert!(still_cached(&h, 1).await, "a refused purge evicted entries");
    let r = h
        .admin_post("/cache/purge", "{}")
        .bearer(ADMIN_TOKEN)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        !still_cached(&h, 1).await,
        "the accepted purge did not evict"
    );
    assert!(
        !h.logs().iter().any(|l| l.contains(ADMIN_TOKEN)),
        "admin token in the logs"
    );
}

#[tokio::test]
async fn purge_from_loopback_needs_no_bearer_even_with_a_token_file() {
    let h = Harness::standard(with_admin_token(TestConfig::standard())).await;
    assert!(h.admin_addr.ip().is_loopback());
    warm(&h).await;
    let r = h.admin_post("/cache/purge", "{}").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!still_cached(&h, 1).await);
}

#[tokio::test]
async fn admin_token_file_is_reread_on_sighup() {
    let h = remote_admin(with_admin_token(TestConfig::standard())).await;
    let reloads =
        |m: &Metrics, result| m.get("scopegate_config_reloads_total", &[("result", result)]);
    let token_file = h.dir.path().join("admin-token");
    std::fs::write(&token_file, "rotated-token-2\n").unwrap();
    h.signal("HUP");
    let mut ok = None;
    for _ in 0..50 {
        ok = reloads(&h.metrics().await, "ok");
        if ok == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        ok,
        Some(1.0),
        "reload not applied:\n{}",
        h.logs().join("\n")
    );
    let purge = |token: &str| h.admin_post("/cache/purge", "{}").bearer(token).send();
    assert_eq!(
        purge(ADMIN_TOKEN).await.status,
        403,
        "old token still accepted"
    );
    assert_eq!(purge("rotated-token-2").await.status, 200);

    // An emptied token file is a config error: the reload is rejected, the current
    // token keeps working.
    std::fs::write(&token_file, "\n").unwrap();
    h.signal("HUP");
    let mut errors = None;
    for _ in 0..50 {
        errors = reloads(&h.metrics().await, "error");
        if errors == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(errors, Some(1.0), "{}", h.logs().join("\n"));
    assert_eq!(purge("rotated-token-2").await.status, 200);
    assert!(!h.logs().iter().any(|l| l.contains("rotated-token-2")));
}

#[tokio::test]
async fn metrics_count_scripted_traffic_exactly() {
    let h = Harness::standard(TestConfig::standard()).await;
    // allowed x2 (miss, then hit), public, unauthenticated, invalid_token, forbidden,
    // no_route, invalid_request, as_unavailable
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    assert_eq!(
        h.get("/orders/2?access_token=t-read").send().await.status,
        200
    );
    assert_eq!(h.get("/health").send().await.status, 200);
    assert_eq!(h.get("/orders/1").send().await.status, 401);
    assert_eq!(
        h.get("/orders/1").bearer("t-inactive").send().await.status,
        401
    );
    assert_eq!(
        h.request("DELETE", "/orders/1")
            .bearer("t-read")
            .send()
            .await
            .status,
        403
    );
    assert_eq!(h.get("/nowhere").send().await.status, 403);
    assert_eq!(
        h.get("/orders/1?access_token=x")
            .bearer("x")
            .send()
            .await
            .status,
        400
    );
    h.auth_server.set_mode(AuthMode::Status500);
    assert_eq!(h.get("/orders/1").bearer("t-new").send().await.status, 503);

    let m = h.metrics().await;
    let rt = "scopegate_requests_total";
    assert_eq!(
        m.get(rt, &[("route", "/orders/{id}"), ("outcome", "allowed")]),
        Some(2.0),
        "{}",
        m.text
    );
    assert_eq!(
        m.get(rt, &[("route", "/health"), ("outcome", "public")]),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            rt,
            &[("route", "/orders/{id}"), ("outcome", "unauthenticated")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            rt,
            &[("route", "/orders/{id}"), ("outcome", "invalid_token")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(rt, &[("route", "/orders/**"), ("outcome", "forbidden")]),
        Some(1.0)
    );
    assert_eq!(
        m.get(rt, &[("route", "none"), ("outcome", "no_route")]),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            rt,
            &[("route", "/orders/{id}"), ("outcome", "invalid_request")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            rt,
            &[("route", "/orders/{id}"), ("outcome", "as_unavailable")]
        ),
        Some(1.0)
    );

    assert_eq!(
        m.get("scopegate_token_source_total", &[("source", "header")]),
        Some(4.0),
        "{}",
        m.text
    );
    assert_eq!(
        m.get("scopegate_token_source_total", &[("source", "query")]),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "scopegate_introspection_requests_total",
            &[("result", "active")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "scopegate_introspection_requests_total",
            &[("result", "inactive")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.get(
            "scopegate_introspection_requests_total",
            &[("result", "error")]
        ),
        Some(1.0)
    );
    // t-read: miss then 2 hits; t-inactive miss; t-new miss
    assert_eq!(m.get("scopegate_cache_hits_total", &[]), Some(2.0));
    assert_eq!(m.get("scopegate_cache_misses_total", &[]), Some(3.0));
    assert_eq!(
        m.get("scopegate_cache_entries", &[]),
        Some(2.0),
        "active + negative entry"
    );
    assert_eq!(
        m.get(
            "scopegate_request_duration_seconds_count",
            &[("outcome", "allowed")]
        ),
        Some(2.0)
    );
    assert_eq!(
        m.get("scopegate_upstream_duration_seconds_count", &[]),
        Some(3.0)
    );
    assert_eq!(
        m.get("scopegate_introspection_duration_seconds_count", &[]),
        Some(3.0)
    );
}

#[tokio::test]
async fn metrics_have_exactly_the_documented_labels() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    assert_eq!(h.get("/nowhere").send().await.status, 403);
    let m = h.metrics().await;
    let expect: &[(&str, &[&str])] = &[
        ("scopegate_requests_total", &["outcome", "route"]),
        (
            "scopegate_request_duration_seconds_bucket",
            &["le", "outcome"],
        ),
        ("scopegate_upstream_duration_seconds_bucket", &["le"]),
        ("scopegate_token_source_total", &["source"]),
        ("scopegate_introspection_requests_total", &["result"]),
        ("scopegate_introspection_duration_seconds_bucket", &["le"]),
        ("scopegate_cache_hits_total", &[]),
        ("scopegate_cache_misses_total", &[]),
        ("scopegate_cache_entries", &[]),
        ("scopegate_introspection_up", &[]),
    ];
    for (name, labels) in expect {
        let sets = m.label_sets(name);
        assert!(!sets.is_empty(), "{name} missing:\n{}", m.text);
        for set in sets {
            let mut keys: Vec<&str> = set.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort();
            assert_eq!(&keys, labels, "{name} labels");
        }
    }
    for (name, labels, _) in &m.samples {
        if name == "scopegate_requests_total" {
            let outcome = &labels.iter().find(|(k, _)| k == "outcome").unwrap().1;
            let known = [
                "allowed",
                "public",
                "unauthenticated",
                "invalid_token",
                "forbidden",
                "invalid_request",
                "no_route",
                "as_unavailable",
                "upstream_error",
            ];
            assert!(known.contains(&outcome.as_str()), "{outcome}");
        }
    }
    for kind in [
        "# TYPE scopegate_requests_total counter",
        "# TYPE scopegate_request_duration_seconds histogram",
        "# TYPE scopegate_cache_entries gauge",
        "# TYPE scopegate_introspection_up gauge",
    ] {
        assert!(m.text.contains(kind), "missing `{kind}`");
    }
    assert!(!m.text.contains("t-read"), "token in metrics");
}

#[tokio::test]
async fn upstream_error_outcome_is_counted() {
    let h = Harness::standard(TestConfig::standard().upstream_url(&dead_url())).await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 502);
    let m = h.metrics().await;
    assert_eq!(
        m.get(
            "scopegate_requests_total",
            &[("route", "/orders/{id}"), ("outcome", "upstream_error")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn admin_paths_are_not_served_on_proxy_port() {
    let h = Harness::standard(TestConfig::standard()).await;
    for p in ["/metrics", "/healthz", "/readyz"] {
        let r = h.get(p).send().await;
        r.assert_error(403, "access_denied", None);
    }
    let r = h.post("/cache/purge").json("{}").send().await;
    r.assert_error(403, "access_denied", None);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn admin_port_does_not_proxy() {
    let h = Harness::standard(TestConfig::new().route(Route::public("/**"))).await;
    let r = h.admin_get("/orders/1").send().await;
    assert_eq!(r.status, 404);
    assert!(h.upstream.requests().is_empty());
}
