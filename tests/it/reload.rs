//! docs/reference.md#operations SIGHUP: a valid new config applies; an invalid one is rejected and the old
//! one keeps serving.

use std::time::Duration;

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
    let mut errors = 0.0;
    for _ in 0..50 {
        errors = h
            .metrics()
            .await
            .value("scopegate_config_reloads_total", &[("result", "error")]);
        if errors >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// The `ok` reload count, once it reaches `want` (or the last value seen).
async fn reloads_ok(h: &Harness, want: f64) -> f64 {
    let mut ok = 0.0;
    for _ in 0..50 {
        ok = h
            .metrics()
            .await
            .value("scopegate_config_reloads_total", &[("result", "ok")]);
        if ok >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ok
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
    h.signal("HUP");
    assert_eq!(reloads_ok(&h, 1.0).await, 1.0, "{}", h.logs().join("\n"));
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
    h.signal("HUP");
    assert_eq!(reloads_ok(&h, 1.0).await, 1.0, "{}", h.logs().join("\n"));
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    assert_eq!(h.auth_server.calls(), 1);
}
