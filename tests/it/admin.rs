//! SPEC §6: /healthz, /readyz (incl. 503 after 3 failed introspections), /metrics names,
//! labels and exact counter values; admin endpoints never proxied.

use crate::support::auth_server::AuthMode;
use crate::support::*;

#[tokio::test]
async fn healthz_and_readyz_are_200() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(h.admin_get("/healthz").send().await.status, 200);
    assert_eq!(h.admin_get("/readyz").send().await.status, 200);
}

/// An unready replica gets no traffic, so `/readyz` itself probes the authorization
/// server once it has been quiet for 5 s; readiness comes back with no client request.
#[tokio::test]
async fn readyz_recovers_by_probing_the_authorization_server_without_traffic() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.set_mode(AuthMode::Status500);
    for i in 0..3 {
        let r = h
            .get("/orders/1")
            .bearer(&format!("t-down-{i}"))
            .send()
            .await;
        assert_eq!(r.status, 503);
    }
    assert_eq!(h.admin_get("/readyz").send().await.status, 503);
    let calls_before = h.auth_server.calls();
    h.auth_server.set_mode(AuthMode::Normal);
    // Within the quiet period no probe is sent.
    assert_eq!(h.admin_get("/readyz").send().await.status, 503);
    assert_eq!(h.auth_server.calls(), calls_before);
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let mut ready = false;
    for _ in 0..40 {
        if h.admin_get("/readyz").send().await.status == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        ready,
        "readyz did not recover after the authorization server came back"
    );
    assert_eq!(
        h.auth_server.calls(),
        calls_before + 1,
        "exactly one probe call"
    );
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn readyz_is_503_after_three_failed_introspections_until_one_succeeds() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.set_mode(AuthMode::Status500);
    for i in 0..3 {
        assert_eq!(
            h.get("/orders/1")
                .bearer(&format!("t-fail-{i}"))
                .send()
                .await
                .status,
            503
        );
        let want = if i < 2 { 200 } else { 503 };
        assert_eq!(
            h.admin_get("/readyz").send().await.status,
            want,
            "after {} failures",
            i + 1
        );
    }
    assert_eq!(
        h.admin_get("/healthz").send().await.status,
        200,
        "liveness unaffected"
    );
    h.auth_server.set_mode(AuthMode::Normal);
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    assert_eq!(h.admin_get("/readyz").send().await.status, 200);
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
