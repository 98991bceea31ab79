//! End to end with a real authorization server: `oidc-provider` (tests/e2e, pinned by its
//! lockfile) mints opaque client-credentials tokens and answers RFC 7662 introspection and
//! RFC 7009 revocation; the real scopegate binary introspects them and forwards to the echo
//! upstream. Both ends are checked: what the client got, what the upstream received, and
//! what the authorization server saw (its call log, by token).
//!
//! The in-process mock authorization server of the other modules is started only because
//! the harness needs one; it must see no call at all.

use std::sync::Arc;
use std::time::Duration;

use crate::support::oidc::Oidc;
use crate::support::*;

/// Token-minting clients (tests/e2e/provider.mjs CONFIG.clients).
const APP_BASIC: &str = "e2e-app-basic";
const APP_POST: &str = "e2e-app-post";
const APP_SHORT: &str = "e2e-app-short";
/// scopegate's own clients at the introspection endpoint.
const SG_BASIC: &str = "scopegate-basic";
const SG_POST: &str = "scopegate-post";

async fn start(config: TestConfig) -> Harness {
    Harness::start_with(config, AuthServer::start().await, Upstream::start().await).await
}

/// scopegate introspecting as `client` with its registered auth method.
async fn scopegate(oidc: &Oidc, client: &str) -> Harness {
    let method = oidc.client(client).token_endpoint_auth_method.clone();
    start(oidc.scopegate_config(client, &method)).await
}

/// The provider's introspection calls about `token`, as (client, auth method, active).
async fn introspections(oidc: &Oidc, token: &str) -> Vec<(String, String, Option<bool>)> {
    oidc.introspections_of(token)
        .await
        .into_iter()
        .map(|c| (c.client_id.unwrap_or_default(), c.auth, c.active))
        .collect()
}

fn active_by(client: &str, method: &str) -> (String, String, Option<bool>) {
    (client.to_string(), method.to_string(), Some(true))
}

#[tokio::test]
async fn real_token_with_required_scope_is_forwarded_with_identity_headers() {
    let oidc = Oidc::shared();
    let h = scopegate(&oidc, SG_BASIC).await;
    let t = oidc.mint(APP_BASIC, "orders:read profile").await;
    assert_eq!(t.scope.as_deref(), Some("orders:read profile"));

    let r = h.get("/orders/1").bearer(&t.access_token).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let up = h.upstream.single();
    assert_eq!(up.path(), "/orders/1");
    // RFC 9068 §2.2 convention configured in provider.mjs: a client-credentials token's
    // subject is the client itself; client_id comes straight from the introspection answer.
    assert_eq!(up.header_all("x-auth-subject"), vec![APP_BASIC]);
    assert_eq!(up.header_all("x-auth-client-id"), vec![APP_BASIC]);
    assert_eq!(up.header_all("x-auth-scope"), vec!["orders:read profile"]);
    assert!(
        !up.has_header_like("x-auth-username"),
        "oidc-provider sends no username; the header must be left out"
    );

    // A second request is served from the cache: still one call at the server.
    assert_eq!(
        h.get("/orders/2")
            .bearer(&t.access_token)
            .send()
            .await
            .status,
        200
    );
    assert_eq!(h.upstream.requests().len(), 2);
    assert_eq!(
        introspections(&oidc, &t.access_token).await,
        vec![active_by(SG_BASIC, "client_secret_basic")]
    );
    let m = h.metrics().await;
    assert_eq!(
        m.value(
            "scopegate_introspection_requests_total",
            &[("result", "active")]
        ),
        1.0
    );
    assert_eq!(h.auth_server.calls(), 0, "the mock must not be used");
}

#[tokio::test]
async fn real_token_without_required_scope_is_refused_403_insufficient_scope() {
    let oidc = Oidc::shared();
    let h = scopegate(&oidc, SG_BASIC).await;
    let t = oidc.mint(APP_BASIC, "profile").await;

    h.get("/orders/1")
        .bearer(&t.access_token)
        .send()
        .await
        .assert_error(
            403,
            "insufficient_scope",
            Some(r#"Bearer realm="api", error="insufficient_scope", scope="orders:read""#),
        );
    // scopes_any route: neither orders:write nor admin.
    h.post("/orders/7")
        .bearer(&t.access_token)
        .json("{}")
        .send()
        .await
        .assert_error(
            403,
            "insufficient_scope",
            Some(r#"Bearer realm="api", error="insufficient_scope", scope="orders:write admin""#),
        );
    assert!(
        h.upstream.requests().is_empty(),
        "a refused request reached the upstream: {:?}",
        h.upstream.requests()
    );
    // The token itself was fine at the server: one (cached) active answer.
    assert_eq!(
        introspections(&oidc, &t.access_token).await,
        vec![active_by(SG_BASIC, "client_secret_basic")]
    );
}

#[tokio::test]
async fn tokens_with_different_scopes_get_only_their_routes() {
    let oidc = Oidc::shared();
    let h = scopegate(&oidc, SG_BASIC).await;
    // Minted with client_secret_post at the token endpoint.
    let writer = oidc.mint(APP_POST, "orders:write").await;
    let admin = oidc.mint(APP_BASIC, "admin").await;

    let r = h
        .post("/orders/9")
        .bearer(&writer.access_token)
        .json(r#"{"n":1}"#)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let up = h.upstream.single();
    assert_eq!((up.method.as_str(), up.path()), ("POST", "/orders/9"));
    assert_eq!(up.body_text(), r#"{"n":1}"#);
    assert_eq!(up.header_all("x-auth-subject"), vec![APP_POST]);
    assert_eq!(up.header_all("x-auth-client-id"), vec![APP_POST]);
    assert_eq!(up.header_all("x-auth-scope"), vec!["orders:write"]);

    h.get("/orders/9")
        .bearer(&writer.access_token)
        .send()
        .await
        .assert_error(
            403,
            "insufficient_scope",
            Some(r#"Bearer realm="api", error="insufficient_scope", scope="orders:read""#),
        );
    let r = h
        .request("DELETE", "/orders/9")
        .bearer(&admin.access_token)
        .send()
        .await;
    assert_eq!(r.status, 200, "admin satisfies scopes_any: {}", r.text());
    let reqs = h.upstream.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].method, "DELETE");
    assert_eq!(reqs[1].header_all("x-auth-scope"), vec!["admin"]);

    // A token the server never issued: inactive at the real server, 401, not forwarded.
    let forged = "forged-Zm9yZ2VkLXRva2VuLW5vdC1pc3N1ZWQ";
    h.get("/orders/9")
        .bearer(forged)
        .send()
        .await
        .assert_invalid_token();
    assert_eq!(h.upstream.requests().len(), 2);
    let seen = oidc.introspections_of(forged).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].active, Some(false));
}

#[tokio::test]
async fn introspection_with_client_secret_basic_authenticates_as_basic_at_the_server() {
    introspection_auth_method(SG_BASIC, "client_secret_basic").await;
}

#[tokio::test]
async fn introspection_with_client_secret_post_authenticates_as_post_at_the_server() {
    introspection_auth_method(SG_POST, "client_secret_post").await;
}

async fn introspection_auth_method(client: &str, method: &str) {
    let oidc = Oidc::shared();
    assert_eq!(oidc.client(client).token_endpoint_auth_method, method);
    let h = start(oidc.scopegate_config(client, method)).await;
    let t = oidc.mint(APP_BASIC, "orders:read").await;
    let r = h.get("/orders/1").bearer(&t.access_token).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.upstream.requests().len(), 1);
    let calls = oidc.introspections_of(&t.access_token).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].client_id.as_deref(), Some(client));
    assert_eq!(
        calls[0].auth, method,
        "scopegate sent its credentials another way"
    );
    assert_eq!((calls[0].status, calls[0].active), (200, Some(true)));
    assert!(
        !h.logs()
            .iter()
            .any(|l| l.contains(&t.access_token) || l.contains(&oidc.client(client).client_secret)),
        "a token or the client secret reached a log line"
    );
}

#[tokio::test]
async fn introspection_with_the_unregistered_auth_method_fails_closed_503() {
    let oidc = Oidc::shared();
    // scopegate-post is registered for client_secret_post; scopegate sends Basic.
    let h = start(oidc.scopegate_config(SG_POST, "client_secret_basic")).await;
    let t = oidc.mint(APP_BASIC, "orders:read").await;
    let r = h.get("/orders/1").bearer(&t.access_token).send().await;
    r.assert_error(503, "temporarily_unavailable", None);
    assert!(r.header("retry-after").is_some(), "503 without Retry-After");
    assert!(h.upstream.requests().is_empty(), "forwarded while failing");
    let calls = oidc.introspections_of(&t.access_token).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (calls[0].auth.as_str(), calls[0].status),
        ("client_secret_basic", 401)
    );
}

/// Revocation at the server (RFC 7009), then `POST /cache/purge` with `body` (built from
/// the token) on scopegate's admin listener from loopback: refused at once.
async fn revoked_then_purged_is_refused_at_once(purge_body: impl Fn(&str) -> String) {
    let oidc = Oidc::shared();
    let h = scopegate(&oidc, SG_BASIC).await;
    let t = oidc.mint(APP_BASIC, "orders:read").await;
    let other = oidc.mint(APP_POST, "orders:read").await;
    for tok in [&t.access_token, &other.access_token] {
        assert_eq!(h.get("/orders/1").bearer(tok).send().await.status, 200);
    }
    assert_eq!(h.upstream.requests().len(), 2);

    assert_eq!(oidc.revoke(APP_BASIC, &t.access_token).await, 200);
    let at_server = oidc.introspect(SG_POST, &t.access_token).await;
    assert_eq!(at_server["active"], false, "{at_server}");
    // Still cached (ttl 60 s): this is what the purge is for.
    assert_eq!(
        h.get("/orders/1")
            .bearer(&t.access_token)
            .send()
            .await
            .status,
        200
    );
    assert_eq!(h.upstream.requests().len(), 3);

    let body = purge_body(&t.access_token);
    let r = h.admin_post("/cache/purge", &body).send().await;
    assert_eq!(r.status, 200, "purge {body}: {}", r.text());

    let r = h.get("/orders/1").bearer(&t.access_token).send().await;
    r.assert_invalid_token();
    assert_eq!(
        r.json()["error_description"],
        "the access token is not active"
    );
    assert_eq!(h.upstream.requests().len(), 3, "revoked token forwarded");
    let by_sg: Vec<_> = oidc
        .introspections_of(&t.access_token)
        .await
        .into_iter()
        .filter(|c| c.client_id.as_deref() == Some(SG_BASIC))
        .map(|c| c.active)
        .collect();
    assert_eq!(
        by_sg,
        vec![Some(true), Some(false)],
        "one call before, one after the purge"
    );
    // Negative answers are cached too: refused again without a third call.
    h.get("/orders/1")
        .bearer(&t.access_token)
        .send()
        .await
        .assert_invalid_token();
    assert_eq!(oidc.introspections_of(&t.access_token).await.len(), 3);

    // The other token is unaffected (it was revoked nowhere).
    assert_eq!(
        h.get("/orders/1")
            .bearer(&other.access_token)
            .send()
            .await
            .status,
        200
    );
    assert_eq!(h.upstream.requests().len(), 4);
}

#[tokio::test]
async fn revoked_at_server_then_purged_by_token_sha256_is_refused_401() {
    revoked_then_purged_is_refused_at_once(|t| {
        format!(r#"{{"token_sha256":"{}"}}"#, sha256_hex(t))
    })
    .await;
}

#[tokio::test]
async fn revoked_at_server_then_purged_by_subject_is_refused_401() {
    // The subject scopegate keys on is the real server's `sub` (the client id here).
    revoked_then_purged_is_refused_at_once(|_| format!(r#"{{"subject":"{APP_BASIC}"}}"#)).await;
}

#[tokio::test]
async fn revoked_at_server_then_purge_all_is_refused_401() {
    revoked_then_purged_is_refused_at_once(|_| "{}".to_string()).await;
}

#[tokio::test]
async fn short_lived_token_is_refused_after_exp_although_cache_ttl_is_longer() {
    let oidc = Oidc::shared();
    let config = oidc
        .scopegate_config(SG_BASIC, "client_secret_basic")
        .cache("ttl", &crate::support::config::q("300s"));
    let h = start(config).await;
    let ttl = oidc.client(APP_SHORT).access_token_ttl;
    assert!(ttl <= 5, "the short-lived client's tokens live {ttl} s");
    let t = oidc.mint(APP_SHORT, "orders:read").await;
    assert_eq!(t.expires_in, ttl);
    let exp = oidc.introspect(SG_POST, &t.access_token).await["exp"]
        .as_i64()
        .expect("exp");

    // Cache the answer late in a second: scopegate keeps it for `exp - now` whole seconds,
    // so it is still cached for a moment after `exp` and the refusal comes from the `exp`
    // check on the cached answer (the usual outcome; a re-introspection is also a refusal).
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis()
        < 700
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = h.get("/orders/1").bearer(&t.access_token).send().await;
    assert_eq!(r.status, 200, "fresh short-lived token: {}", r.text());
    assert_eq!(h.upstream.requests().len(), 1);

    // Past `exp` (whole seconds, as the server states it).
    while auth_server::now_secs() < exp {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = h.get("/orders/1").bearer(&t.access_token).send().await;
    r.assert_invalid_token();
    let why = r.json()["error_description"].clone();
    assert!(
        why == "the access token has expired" || why == "the access token is not active",
        "{why}"
    );
    assert_eq!(h.upstream.requests().len(), 1, "expired token forwarded");
    let by_sg = oidc
        .introspections_of(&t.access_token)
        .await
        .into_iter()
        .filter(|c| c.client_id.as_deref() == Some(SG_BASIC))
        .count();
    // Either refused from the cache on `exp` (1 call) or the entry had just gone and the
    // server said inactive (2); never forwarded.
    assert!((1..=2).contains(&by_sg), "{by_sg} introspection calls");
    eprintln!("short-lived token after exp: {why} with {by_sg} introspection call(s)");
}

#[tokio::test]
async fn shared_provider_is_one_process_while_in_use() {
    let a = Oidc::shared();
    let b = Oidc::shared();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.pid(), b.pid());
    assert!(a.ready.issuer.starts_with("http://127.0.0.1:"));
    assert_eq!(
        a.ready.introspection_endpoint,
        format!("{}/token/introspection", a.ready.issuer)
    );
}

/// The resource (RFC 8707) whose tokens tests/e2e/provider.mjs issues as JWTs.
const RESOURCE: &str = "https://orders.example/";

/// scopegate introspecting as `scopegate-basic` and validating the provider's JWTs for
/// [`RESOURCE`] with its `jwks_uri`.
async fn scopegate_with_jwt(oidc: &Oidc) -> Harness {
    let table = format!(
        "\n[[jwt]]\nissuer = {}\naudience = {}\njwks_uri = {}\nalgorithms = [\"ES256\"]\n",
        config::q(&oidc.ready.issuer),
        config::q(RESOURCE),
        config::q(&oidc.ready.jwks_uri),
    );
    start(
        oidc.scopegate_config(SG_BASIC, "client_secret_basic")
            .extra(&table),
    )
    .await
}

/// The `kid` of a JWS compact serialization's (unverified) header.
fn kid_of(jwt: &str) -> String {
    use base64::Engine;
    let header = jwt.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

/// docs/reference.md#jwt-access-tokens end to end: oidc-provider issues an RFC 9068 JWT for a resource (RFC 8707);
/// scopegate validates it locally with the provider's JWKS (no introspection call), and
/// refuses a tampered copy and a token for another audience.
#[tokio::test]
async fn real_jwt_access_token_is_validated_locally_with_the_providers_jwks() {
    let oidc = Oidc::shared();
    let h = scopegate_with_jwt(&oidc).await;

    let jwt = oidc
        .mint_for_resource(APP_BASIC, "orders:read", RESOURCE)
        .await
        .access_token;
    assert_eq!(jwt.split('.').count(), 3, "a JWS from the provider: {jwt}");
    let r = h.get("/orders/1").bearer(&jwt).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = h.upstream.single();
    assert_eq!(seen.header("x-auth-subject"), Some(APP_BASIC));
    assert_eq!(seen.header("x-auth-client-id"), Some(APP_BASIC));
    assert!(
        introspections(&oidc, &jwt).await.is_empty(),
        "validated locally"
    );
    // Scopes still decide: orders:read does not allow a write.
    assert_eq!(h.post("/orders/1").bearer(&jwt).send().await.status, 403);
    // A changed signature is refused, and never sent to introspection as a fallback.
    let mut tampered = jwt.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    h.get("/orders/1")
        .bearer(&tampered)
        .send()
        .await
        .assert_invalid_token();
    assert!(introspections(&oidc, &tampered).await.is_empty());
    let m = h.metrics().await;
    assert_eq!(
        m.value("scopegate_jwt_validations_total", &[("result", "valid")]),
        2.0
    );
    assert_eq!(h.auth_server.calls(), 0);
}

/// docs/reference.md#jwt-access-tokens key rotation end to end: the provider replaces its
/// signing key (new `kid` published, old one removed). Tokens of the new key validate at
/// once without restarting scopegate (the unknown `kid` causes the one early re-fetch), and
/// a token of the removed key that scopegate had not validated before is refused.
#[tokio::test]
async fn real_jwt_key_rotation_new_key_valid_without_restart_removed_key_refused() {
    // A provider of its own: a rotation drops what the provider stored.
    let oidc = Oidc::start();
    let h = scopegate_with_jwt(&oidc).await;
    let old = oidc
        .mint_for_resource(APP_BASIC, "orders:read", RESOURCE)
        .await
        .access_token;
    let old_unused = oidc
        .mint_for_resource(APP_BASIC, "orders:read", RESOURCE)
        .await
        .access_token;
    assert_eq!(kid_of(&old), "e2e-1");
    assert_eq!(kid_of(&old_unused), "e2e-1");
    let r = h.get("/orders/1").bearer(&old).send().await;
    assert_eq!(r.status, 200, "{}", r.text());

    assert_eq!(oidc.rotate_keys().await, "e2e-2");
    let new = oidc
        .mint_for_resource(APP_BASIC, "orders:read", RESOURCE)
        .await
        .access_token;
    assert_eq!(kid_of(&new), "e2e-2", "signed by the new key");
    let r = h.get("/orders/1").bearer(&new).send().await;
    assert_eq!(r.status, 200, "new key without a restart: {}", r.text());
    let m = h.metrics().await;
    assert_eq!(
        m.value("scopegate_jwks_fetches_total", &[("result", "ok")]),
        2.0,
        "the start-up fetch and one early re-fetch for the unknown kid"
    );
    // e2e-1 is gone from the re-fetched set; the next early re-fetch is 30 s away.
    h.get("/orders/1")
        .bearer(&old_unused)
        .send()
        .await
        .assert_invalid_token();
    // Still refused on a second try, and never sent to introspection as a fallback.
    h.get("/orders/1")
        .bearer(&old_unused)
        .send()
        .await
        .assert_invalid_token();
    let r = h.get("/orders/1").bearer(&new).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    for token in [&old, &old_unused, &new] {
        assert!(introspections(&oidc, token).await.is_empty());
    }
    let m = h.metrics().await;
    assert_eq!(
        m.value("scopegate_jwks_fetches_total", &[("result", "ok")]),
        2.0,
        "no fetch per unknown-kid token"
    );
    assert_eq!(h.auth_server.calls(), 0);
    assert_eq!(
        h.upstream.requests().len(),
        3,
        "the three allowed requests only"
    );
}
