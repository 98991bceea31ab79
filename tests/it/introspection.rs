//! docs/reference.md#validation / RFC 7662: request shape, client authentication, active checks,
//! issuer/audience, and fail-closed 503 on every kind of AS failure.

use std::time::Duration;

use crate::support::auth_server::{AuthMode, ClientAuth};
use crate::support::*;

#[tokio::test]
async fn request_is_rfc7662_form_with_basic_client_auth() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    let calls = h.auth_server.received();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(c.method, "POST");
    assert_eq!(c.path, "/introspect");
    assert!(
        c.content_type
            .as_deref()
            .unwrap_or("")
            .starts_with("application/x-www-form-urlencoded"),
        "{c:?}"
    );
    assert_eq!(c.param("token"), Some("t-read"));
    assert_eq!(c.param("token_type_hint"), Some("access_token"));
    assert_eq!(
        c.auth,
        ClientAuth::Basic {
            id: "scopegate".into(),
            secret: CLIENT_SECRET.into()
        }
    );
    assert!(
        c.param("client_secret").is_none(),
        "secret must not also be in the body"
    );
}

#[tokio::test]
async fn client_secret_post_sends_credentials_in_body() {
    let h = Harness::standard(
        TestConfig::standard().introspection("auth_method", "\"client_secret_post\""),
    )
    .await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    let c = &h.auth_server.received()[0];
    assert_eq!(
        c.auth,
        ClientAuth::Post {
            id: "scopegate".into(),
            secret: CLIENT_SECRET.into()
        }
    );
    assert_eq!(c.param("token"), Some("t-read"));
}

#[tokio::test]
async fn basic_client_auth_form_encodes_id_and_secret() {
    // RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded before base64.
    let secret = "p@ss:w+rd/&=%";
    let auth = AuthServer::builder()
        .client("scopegate", secret)
        .start()
        .await;
    add_standard_tokens(&auth);
    let up = Upstream::start().await;
    let h = Harness::start_with(TestConfig::standard().client_secret(secret), auth, up).await;
    let r = h.get("/orders/1").bearer("t-read").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn inactive_token_is_401_invalid_token_and_not_forwarded() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.get("/orders/1")
        .bearer("t-inactive")
        .send()
        .await
        .assert_invalid_token();
    h.get("/orders/1")
        .bearer("unknown-token")
        .send()
        .await
        .assert_invalid_token();
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_401() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.token(
        "t-expired",
        active().scope("orders:read").sub("a").exp_in(-30),
    );
    h.auth_server.token(
        "t-future",
        active()
            .scope("orders:read")
            .sub("a")
            .exp_in(3600)
            .nbf_in(600),
    );
    h.get("/orders/1")
        .bearer("t-expired")
        .send()
        .await
        .assert_invalid_token();
    h.get("/orders/1")
        .bearer("t-future")
        .send()
        .await
        .assert_invalid_token();
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn token_without_exp_is_accepted() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server
        .token("t-noexp", active().scope("orders:read").sub("a"));
    assert_eq!(
        h.get("/orders/1").bearer("t-noexp").send().await.status,
        200
    );
}

#[tokio::test]
async fn expected_issuer_is_enforced() {
    let h = Harness::standard(
        TestConfig::standard().introspection("expected_issuer", "\"https://as.test\""),
    )
    .await;
    let a = &h.auth_server;
    a.token(
        "t-iss-ok",
        active()
            .scope("orders:read")
            .iss("https://as.test")
            .exp_in(600),
    );
    a.token(
        "t-iss-bad",
        active()
            .scope("orders:read")
            .iss("https://evil.test")
            .exp_in(600),
    );
    a.token("t-iss-none", active().scope("orders:read").exp_in(600));
    assert_eq!(
        h.get("/orders/1").bearer("t-iss-ok").send().await.status,
        200
    );
    h.get("/orders/1")
        .bearer("t-iss-bad")
        .send()
        .await
        .assert_invalid_token();
    h.get("/orders/1")
        .bearer("t-iss-none")
        .send()
        .await
        .assert_invalid_token();
    assert_eq!(h.upstream.requests().len(), 1);
}

#[tokio::test]
async fn expected_audience_string_and_array() {
    let h = Harness::standard(
        TestConfig::standard().introspection("expected_audience", "\"orders-api\""),
    )
    .await;
    let a = &h.auth_server;
    a.token(
        "t-aud-str",
        active().scope("orders:read").aud("orders-api").exp_in(600),
    );
    a.token(
        "t-aud-arr",
        active()
            .scope("orders:read")
            .aud_array(&["x", "orders-api"])
            .exp_in(600),
    );
    a.token(
        "t-aud-bad",
        active()
            .scope("orders:read")
            .aud_array(&["x", "orders"])
            .exp_in(600),
    );
    a.token(
        "t-aud-str-bad",
        active()
            .scope("orders:read")
            .aud("orders-api-2")
            .exp_in(600),
    );
    a.token("t-aud-none", active().scope("orders:read").exp_in(600));
    assert_eq!(
        h.get("/orders/1").bearer("t-aud-str").send().await.status,
        200
    );
    assert_eq!(
        h.get("/orders/1").bearer("t-aud-arr").send().await.status,
        200
    );
    for t in ["t-aud-bad", "t-aud-str-bad", "t-aud-none"] {
        h.get("/orders/1")
            .bearer(t)
            .send()
            .await
            .assert_invalid_token();
    }
    assert_eq!(h.upstream.requests().len(), 2);
}

async fn assert_as_failure_is_503(mode: Option<AuthMode>, stop: bool) {
    let h = Harness::standard(TestConfig::standard()).await;
    if let Some(m) = mode.clone() {
        h.auth_server.set_mode(m);
    }
    if stop {
        h.auth_server.stop();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = tokio::time::Instant::now();
    let r = h.get("/orders/1").bearer("t-read").send().await;
    r.assert_error(503, "temporarily_unavailable", None);
    let ra = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("{mode:?}: no Retry-After"));
    assert!(
        ra.trim().parse::<u64>().is_ok(),
        "Retry-After {ra:?} is not delay-seconds"
    );
    assert!(
        h.upstream.requests().is_empty(),
        "{mode:?}: forwarded while AS failing"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{mode:?}: 503 took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn as_timeout_is_503() {
    assert_as_failure_is_503(Some(AuthMode::Slow(Duration::from_secs(3))), false).await;
}

#[tokio::test]
async fn as_closing_connection_is_503() {
    assert_as_failure_is_503(Some(AuthMode::Close), false).await;
}

#[tokio::test]
async fn as_refusing_connections_is_503() {
    assert_as_failure_is_503(None, true).await;
}

#[tokio::test]
async fn as_500_is_503() {
    assert_as_failure_is_503(Some(AuthMode::Status500), false).await;
}

#[tokio::test]
async fn as_garbage_body_is_503() {
    assert_as_failure_is_503(Some(AuthMode::Garbage), false).await;
}

#[tokio::test]
async fn as_active_as_string_is_503() {
    assert_as_failure_is_503(Some(AuthMode::ActiveString), false).await;
}

#[tokio::test]
async fn as_duplicate_keys_is_503() {
    assert_as_failure_is_503(Some(AuthMode::DuplicateKeys), false).await;
}

#[tokio::test]
async fn as_oversized_answer_is_503() {
    assert_as_failure_is_503(Some(AuthMode::Oversized), false).await;
}

#[tokio::test]
async fn as_rejecting_client_credentials_is_503() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.expect_client("scopegate", "another-secret");
    let r = h.get("/orders/1").bearer("t-read").send().await;
    r.assert_error(503, "temporarily_unavailable", None);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn as_failure_is_not_cached_as_inactive() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.set_mode(AuthMode::Status500);
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 503);
    h.auth_server.set_mode(AuthMode::Normal);
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
}
