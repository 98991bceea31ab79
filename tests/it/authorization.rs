//! docs/reference.md#authorization and route matching (§2): first match, deny by default, scopes, scopes_any, owner.

use crate::support::*;

#[tokio::test]
async fn first_matching_route_decides() {
    let cfg = TestConfig::new()
        .route(Route::public("/docs/{id}").methods(&["GET"]))
        .route(Route::new("/docs/**").scopes(&["docs:read"]));
    let h = Harness::standard(cfg).await;
    assert_eq!(h.get("/docs/1").send().await.status, 200);
    h.get("/docs/1/raw").send().await.assert_error(
        401,
        "unauthorized",
        Some(r#"Bearer realm="api""#),
    );
    assert_eq!(h.upstream.requests().len(), 1);
}

#[tokio::test]
async fn no_route_is_403_access_denied_without_challenge_and_no_as_call() {
    let h = Harness::standard(TestConfig::standard()).await;
    for (m, p) in [
        ("GET", "/nowhere"),
        ("PATCH", "/orders/1"),
        ("GET", "/orders"),
        ("GET", "/users/alice"),
    ] {
        let r = h.request(m, p).bearer("t-admin").send().await;
        r.assert_error(403, "access_denied", None);
    }
    assert_eq!(h.auth_server.calls(), 0);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn trailing_slash_is_significant() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(
        h.post("/orders/").bearer("t-write").send().await.status,
        200
    );
    // `**` matches zero segments too: `/orders/**` covers `/orders` (README: route matching).
    assert_eq!(h.post("/orders").bearer("t-write").send().await.status, 200);
    // `/orders/1/` has an empty last segment: neither `/orders/{id}` nor a GET route matches.
    h.get("/orders/1/")
        .bearer("t-read")
        .send()
        .await
        .assert_error(403, "access_denied", None);
    h.get("/orders/")
        .bearer("t-read")
        .send()
        .await
        .assert_error(403, "access_denied", None);
    let targets: Vec<String> = h
        .upstream
        .requests()
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(targets, ["/orders/", "/orders"]);
}

#[tokio::test]
async fn double_star_matches_zero_or_more_segments() {
    let h =
        Harness::standard(TestConfig::new().route(Route::new("/api/**").scopes(&["orders:read"])))
            .await;
    for p in ["/api/", "/api/a", "/api/a/b/c"] {
        assert_eq!(h.get(p).bearer("t-read").send().await.status, 200, "{p}");
    }
}

#[tokio::test]
async fn methods_absent_means_any_method() {
    let h = Harness::standard(TestConfig::new().route(Route::new("/any").scopes(&["orders:read"])))
        .await;
    for m in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        assert_eq!(
            h.request(m, "/any").bearer("t-read").send().await.status,
            200,
            "{m}"
        );
    }
}

#[tokio::test]
async fn all_scopes_required() {
    let h = Harness::standard(TestConfig::new().route(Route::new("/r").scopes(&["a", "b"]))).await;
    h.auth_server
        .token("t-a", active().scope("a").sub("x").exp_in(600));
    h.auth_server
        .token("t-abc", active().scope("c b a").sub("x").exp_in(600));
    let r = h.get("/r").bearer("t-a").send().await;
    r.assert_error(
        403,
        "insufficient_scope",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="a b""#),
    );
    assert_eq!(h.get("/r").bearer("t-abc").send().await.status, 200);
    assert_eq!(h.upstream.requests().len(), 1);
}

#[tokio::test]
async fn any_of_scopes_any_suffices() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(
        h.request("PUT", "/orders/1")
            .bearer("t-write")
            .send()
            .await
            .status,
        200
    );
    assert_eq!(
        h.request("PUT", "/orders/1")
            .bearer("t-admin")
            .send()
            .await
            .status,
        200
    );
    let r = h.request("PUT", "/orders/1").bearer("t-read").send().await;
    r.assert_error(
        403,
        "insufficient_scope",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="orders:write admin""#),
    );
    assert_eq!(h.upstream.requests().len(), 2);
}

#[tokio::test]
async fn scopes_and_scopes_any_both_listed_in_challenge() {
    let h = Harness::standard(
        TestConfig::new().route(Route::new("/r").scopes(&["x"]).scopes_any(&["y", "z"])),
    )
    .await;
    h.auth_server.token("t-x", active().scope("x").exp_in(600));
    h.auth_server
        .token("t-xz", active().scope("x z").exp_in(600));
    h.auth_server.token("t-y", active().scope("y").exp_in(600));
    let want = r#"Bearer realm="api", error="insufficient_scope", scope="x y z""#;
    h.get("/r")
        .bearer("t-x")
        .send()
        .await
        .assert_error(403, "insufficient_scope", Some(want));
    h.get("/r")
        .bearer("t-y")
        .send()
        .await
        .assert_error(403, "insufficient_scope", Some(want));
    assert_eq!(h.get("/r").bearer("t-xz").send().await.status, 200);
}

#[tokio::test]
async fn scope_match_is_exact_not_prefix() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.token(
        "t-near",
        active().scope("orders:readonly orders").exp_in(600),
    );
    let r = h.get("/orders/1").bearer("t-near").send().await;
    assert_eq!(r.status, 403);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn owner_must_equal_claim() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(
        h.get("/users/alice/profile")
            .bearer("t-profile")
            .send()
            .await
            .status,
        200
    );
    let r = h.get("/users/bob/profile").bearer("t-profile").send().await;
    r.assert_error(
        403,
        "insufficient_scope",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="profile""#),
    );
    assert_eq!(h.upstream.single().target, "/users/alice/profile");
}

#[tokio::test]
async fn owner_param_is_compared_after_percent_decoding() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.token(
        "t-jane",
        active().scope("profile").sub("jane doe@x").exp_in(600),
    );
    let r = h
        .get("/users/jane%20doe%40x/profile")
        .bearer("t-jane")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.upstream.single().target, "/users/jane%20doe%40x/profile");
    assert_eq!(
        h.get("/users/jane%20doe/profile")
            .bearer("t-jane")
            .send()
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn owner_claim_absent_is_refused() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server
        .token("t-nosub", active().scope("profile").exp_in(600));
    assert_eq!(
        h.get("/users/alice/profile")
            .bearer("t-nosub")
            .send()
            .await
            .status,
        403
    );
    assert!(h.upstream.requests().is_empty());
}
