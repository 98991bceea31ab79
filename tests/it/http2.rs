//! docs/reference.md#operations: h2c prior knowledge on the plain listener.

use crate::support::*;

#[tokio::test]
async fn h2c_prior_knowledge_request_is_proxied() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h.get("/orders/1?x=1").bearer("t-read").h2().send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.version, http::Version::HTTP_2);
    let up = h.upstream.single();
    assert_eq!(up.target, "/orders/1?x=1");
    assert_eq!(up.header("x-auth-subject"), Some("alice"));
    assert!(up.header("authorization").is_none());
}

#[tokio::test]
async fn h2c_errors_match_http1() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h.get("/orders/1").h2().send().await;
    r.assert_error(401, "unauthorized", Some(r#"Bearer realm="api""#));
    let r = h.get("/a/%2e%2e/b").h2().send().await;
    r.assert_error(400, "invalid_request", None);
    let r = h
        .request("PUT", "/orders/1")
        .bearer("t-read")
        .h2()
        .send()
        .await;
    assert_eq!(r.status, 403);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn h2c_form_token_and_body() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .post("/orders/1")
        .form(&[("a", "1"), ("access_token", "t-write")])
        .h2()
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.upstream.single().body_text(), "a=1");
}
