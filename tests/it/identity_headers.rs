//! docs/reference.md#forwarding identity headers: injected from the answer, client copies (and `_` variants)
//! stripped on every route, absent claims left out, `[identity.claims]`.

use crate::support::*;

const SPOOF: &str =
    "X-Auth-Subject: mallory\r\nX_Auth_Subject: mallory\r\nx-auth_subject: mallory\r\n\
X-AUTH-SCOPE: admin\r\nX_AUTH_SCOPE: admin\r\nX-Auth-Client-Id: evil\r\nx_auth_client_id: evil\r\n\
X-Auth-Username: mallory\r\nX-Auth_Username: mallory\r\n";

#[tokio::test]
async fn identity_headers_are_injected_from_answer() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    let up = h.upstream.single();
    assert_eq!(up.header_all("x-auth-subject"), vec!["alice"]);
    assert_eq!(up.header_all("x-auth-scope"), vec!["orders:read"]);
    assert_eq!(up.header_all("x-auth-client-id"), vec!["app-1"]);
    assert_eq!(up.header_all("x-auth-username"), vec!["alice.s"]);
}

#[tokio::test]
async fn client_copies_and_underscore_variants_are_stripped_on_protected_route() {
    let h = Harness::standard(TestConfig::standard()).await;
    let req = format!("GET /orders/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t-write-less\r\n{SPOOF}Connection: close\r\n\r\n");
    h.auth_server.token(
        "t-write-less",
        active().scope("orders:read").sub("alice").exp_in(600),
    );
    let resp = h.raw(req.as_bytes()).await;
    assert_eq!(raw_status(&resp), 200, "{resp}");
    let up = h.upstream.single();
    assert_eq!(up.header_all("x-auth-subject"), vec!["alice"]);
    assert_eq!(up.header_all("x-auth-scope"), vec!["orders:read"]);
    for (k, v) in &up.headers {
        assert!(!k.contains('_'), "underscore variant forwarded: {k}: {v}");
        assert!(
            v != "mallory" && v != "evil" && v != "admin",
            "spoofed value forwarded: {k}: {v}"
        );
    }
    assert!(
        !up.has_header_like("x-auth-client-id"),
        "absent claim must not come from the client"
    );
    assert!(!up.has_header_like("x-auth-username"));
}

#[tokio::test]
async fn client_copies_are_stripped_on_public_route_and_none_injected() {
    let h = Harness::standard(TestConfig::standard()).await;
    let req = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\n{SPOOF}X-Other: kept\r\nConnection: close\r\n\r\n"
    );
    let resp = h.raw(req.as_bytes()).await;
    assert_eq!(raw_status(&resp), 200, "{resp}");
    let up = h.upstream.single();
    for name in [
        "x-auth-subject",
        "x-auth-scope",
        "x-auth-client-id",
        "x-auth-username",
    ] {
        assert!(
            !up.has_header_like(name),
            "{name} reached the upstream: {:?}",
            up.headers
        );
    }
    assert_eq!(up.header("x-other"), Some("kept"));
}

#[tokio::test]
async fn absent_claims_leave_headers_out_not_empty() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server
        .token("t-min", active().scope("orders:read").exp_in(600));
    assert_eq!(h.get("/orders/1").bearer("t-min").send().await.status, 200);
    let up = h.upstream.single();
    assert_eq!(up.header("x-auth-scope"), Some("orders:read"));
    for name in ["x-auth-subject", "x-auth-client-id", "x-auth-username"] {
        assert!(
            !up.has_header_like(name),
            "{name} present: {:?}",
            up.headers
        );
    }
}

#[tokio::test]
async fn subject_falls_back_to_username_when_sub_absent() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.token(
        "t-user",
        active().scope("orders:read").username("bob").exp_in(600),
    );
    assert_eq!(h.get("/orders/1").bearer("t-user").send().await.status, 200);
    let up = h.upstream.single();
    assert_eq!(up.header("x-auth-subject"), Some("bob"));
    assert_eq!(up.header("x-auth-username"), Some("bob"));
}

#[tokio::test]
async fn custom_names_and_extra_claims_are_mapped_and_stripped() {
    let cfg = TestConfig::standard()
        .identity("subject", "X-User")
        .claim("tenant", "X-Auth-Tenant")
        .claim("acr", "X-Auth-Acr");
    let h = Harness::standard(cfg).await;
    h.auth_server.token(
        "t-tenant",
        active()
            .scope("orders:read")
            .sub("alice")
            .claim("tenant", "acme")
            .exp_in(600),
    );
    let req = "GET /orders/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t-tenant\r\nX-User: mallory\r\nX_User: m\r\n\
X-Auth-Tenant: evil\r\nX_Auth_Acr: evil\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(&h.raw(req.as_bytes()).await), 200);
    let up = h.upstream.single();
    assert_eq!(up.header_all("x-user"), vec!["alice"]);
    assert_eq!(up.header_all("x-auth-tenant"), vec!["acme"]);
    assert!(
        !up.has_header_like("x-auth-acr"),
        "absent claim, client copy must be gone"
    );
    assert!(!up.headers.iter().any(|(k, _)| k.contains('_')));
    assert!(
        !up.has_header_like("x-auth-subject"),
        "default name no longer configured, never injected"
    );
}

#[tokio::test]
async fn scope_header_is_space_separated_string() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(
        h.get("/orders/1").bearer("t-admin").send().await.status,
        200
    );
    assert_eq!(
        h.upstream.single().header("x-auth-scope"),
        Some("admin orders:read")
    );
}

// --- docs/reference.md#introspection-cache subject rule: `sub`, `username` only when `sub` is absent ---

/// Before the fix `"sub": 42` made X-Auth-Subject fall back to `username` ("bob")
/// while owner binding used `sub` (42): the backend was told another user than the one
/// that was authorized.
#[tokio::test]
async fn a_numeric_sub_is_the_subject_header_never_the_username() {
    let h = Harness::standard(TestConfig::standard()).await;
    let spec = active()
        .scope("orders:read profile")
        .claim("sub", 42)
        .username("bob")
        .exp_in(600);
    h.auth_server.token("t-num", spec);
    assert_eq!(h.get("/orders/1").bearer("t-num").send().await.status, 200);
    let up = h.upstream.single();
    assert_eq!(up.header_all("x-auth-subject"), vec!["42"]);
    assert_eq!(up.header("x-auth-username"), Some("bob"));
    // Owner binding agrees with the header: 42 is the owner, bob is not.
    h.upstream.clear();
    let r = h.get("/users/42/profile").bearer("t-num").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.upstream.single().header("x-auth-subject"), Some("42"));
    let r = h.get("/users/bob/profile").bearer("t-num").send().await;
    assert_eq!(r.status, 403);
}

/// A non-scalar `sub` is its compact JSON text too, in the header and for the owner.
#[tokio::test]
async fn an_array_sub_is_its_json_text_never_the_username() {
    let h = Harness::standard(TestConfig::standard()).await;
    let spec = active()
        .scope("orders:read")
        .claim("sub", serde_json::json!(["a", "b"]))
        .username("bob")
        .exp_in(600);
    h.auth_server.token("t-arr", spec);
    assert_eq!(h.get("/orders/1").bearer("t-arr").send().await.status, 200);
    assert_eq!(
        h.upstream.single().header_all("x-auth-subject"),
        vec![r#"["a","b"]"#]
    );
}

/// Owner binding on `sub` uses the subject, so without `sub` it is the `username`,
/// the same value the backend sees in X-Auth-Subject.
#[tokio::test]
async fn owner_binding_on_sub_uses_username_when_sub_is_absent() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.token(
        "t-user",
        active().scope("profile").username("carol").exp_in(600),
    );
    let r = h.get("/users/carol/profile").bearer("t-user").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.upstream.single().header("x-auth-subject"), Some("carol"));
    let r = h.get("/users/dave/profile").bearer("t-user").send().await;
    assert_eq!(r.status, 403);
}
