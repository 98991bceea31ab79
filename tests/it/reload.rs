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
