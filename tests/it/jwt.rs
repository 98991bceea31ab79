//! docs/reference.md#jwt-access-tokens: JWT access tokens (RFC 9068) validated locally against an in-process JWKS
//! server, with tokens signed here. Every known JWT attack has a test named for it.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use crate::support::auth_server::now_secs;
use crate::support::jwks::{self, claims, sign_with, JwksMode, JwksServer, Signer, ISSUER};
use crate::support::{active, inactive, run_cli, Harness, Route, TestConfig};

fn routes() -> TestConfig {
    TestConfig::new()
        .route(Route::new("/api/**").scopes(&["read"]))
        .route(Route::new("/admin/**").scopes(&["read"]).introspect())
}

async fn start_with(keys: Vec<Value>, more: &str, config: TestConfig) -> (Harness, JwksServer) {
    let server = JwksServer::start(keys).await;
    let h = Harness::start(config.extra(&jwks::table(&server, more))).await;
    (h, server)
}

async fn start(keys: Vec<Value>, more: &str) -> (Harness, JwksServer) {
    start_with(keys, more, routes()).await
}

async fn get(h: &Harness, token: &str) -> crate::support::Resp {
    h.get("/api/x").bearer(token).send().await
}

/// Polls (bounded) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn rs256_ps256_es256_eddsa_tokens_are_valid_and_feed_the_same_pipeline() {
    let rsa = Signer::rsa(Algorithm::RS256, "rsa");
    let ps = Signer::rsa(Algorithm::PS256, "rsa");
    let es = Signer::es256("ec");
    let ed = Signer::ed25519("ed");
    let keys = vec![rsa.jwk.clone(), es.jwk.clone(), ed.jwk.clone()];
    let (h, server) = start(keys, "").await;
    for (i, signer) in [&rsa, &ps, &es, &ed].into_iter().enumerate() {
        let sub = format!("user-{i}");
        let r = get(&h, &signer.token(&claims(&sub, "read other"))).await;
        assert_eq!(r.status, 200, "{}: {}", signer.alg_name(), r.text());
        let seen = h.upstream.requests().pop().unwrap();
        assert_eq!(seen.header("x-auth-subject"), Some(sub.as_str()));
        assert_eq!(seen.header("x-auth-client-id"), Some("app-1"));
        assert_eq!(seen.header("x-auth-scope"), Some("read other"));
        assert!(
            seen.header("authorization").is_none(),
            "token not forwarded"
        );
    }
    // Scopes are enforced on JWTs exactly as on introspection answers.
    let r = get(&h, &es.token(&claims("bob", "other"))).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(h.auth_server.calls(), 0, "JWTs never go to introspection");
    let m = h.metrics().await;
    assert_eq!(
        m.value("scopegate_jwt_validations_total", &[("result", "valid")]),
        5.0
    );
    assert!(m.value("scopegate_jwks_fetches_total", &[("result", "ok")]) >= 1.0);
    assert_eq!(server.fetches(), 1, "one fetch at start, none per token");
}

#[tokio::test]
async fn scope_claim_array_and_azp_as_client_id() {
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![es.jwk.clone()], "scope_claim = \"scp\"").await;
    let mut c = claims("carol", "ignored");
    c["scp"] = json!(["read", "write"]);
    c.as_object_mut().unwrap().remove("client_id");
    c["azp"] = json!("app-2");
    let r = get(&h, &es.token(&c)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = h.upstream.single();
    assert_eq!(seen.header("x-auth-scope"), Some("read write"));
    assert_eq!(seen.header("x-auth-client-id"), Some("app-2"));
    // `scope` is not read when scope_claim names another claim.
    let mut c = claims("carol", "read");
    c["scp"] = json!(["write"]);
    assert_eq!(get(&h, &es.token(&c)).await.status, 403);
    // A scope claim of another type is malformed.
    let mut c = claims("carol", "read");
    c["scp"] = json!({"read": true});
    get(&h, &es.token(&c)).await.assert_invalid_token();
}

#[tokio::test]
async fn attack_alg_none_is_refused() {
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![es.jwk.clone()], "").await;
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": "ec"});
        let token = format!(
            "{}.{}.",
            jwks::b64json(&header),
            jwks::b64json(&claims("mallory", "read"))
        );
        let r = get(&h, &token).await;
        r.assert_invalid_token();
        assert!(!r.text().contains("mallory"), "claims never echoed");
    }
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn attack_hs256_signed_with_the_rsa_public_key_key_confusion() {
    let rsa = Signer::rsa(Algorithm::RS256, "rsa");
    let (h, _s) = start(vec![rsa.jwk.clone()], "").await;
    let n = rsa.jwk["n"].as_str().unwrap().to_string();
    let secrets = [n.clone().into_bytes(), rsa.jwk.to_string().into_bytes()];
    for secret in secrets {
        let key = EncodingKey::from_secret(&secret);
        for kid in [Some("rsa"), None] {
            let mut header = json!({"alg": "HS256", "typ": "at+jwt"});
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            let token = sign_with(&key, Algorithm::HS256, &header, &claims("mallory", "read"));
            get(&h, &token).await.assert_invalid_token();
        }
    }
    // RS256 by the key itself passes, so the refusals above are about the algorithm.
    assert_eq!(
        get(&h, &rsa.token(&claims("alice", "read"))).await.status,
        200
    );
}

#[tokio::test]
async fn attack_jku_x5u_jwk_x5c_headers_pointing_at_the_attackers_key_are_ignored() {
    let good = Signer::es256("good");
    let attacker = Signer::es256("evil");
    let attacker_jwks = JwksServer::start(vec![attacker.jwk.clone()]).await;
    let (h, _s) = start(vec![good.jwk.clone()], "").await;
    for kid in ["evil", "good"] {
        let header = json!({
            "alg": "ES256", "typ": "at+jwt", "kid": kid,
            "jku": attacker_jwks.jwks_uri(),
            "x5u": attacker_jwks.jwks_uri(),
            "jwk": attacker.jwk,
            "x5c": ["MIIBszCCAVmgAwIBAgIUQ"],
        });
        let r = get(&h, &attacker.sign(&header, &claims("mallory", "read"))).await;
        r.assert_invalid_token();
    }
    assert_eq!(attacker_jwks.fetches(), 0, "jku/x5u never fetched");
    // A token signed by a configured key stays valid with those headers present.
    let header = json!({
        "alg": "ES256", "typ": "at+jwt", "kid": "good",
        "jku": attacker_jwks.jwks_uri(), "jwk": attacker.jwk,
    });
    let r = get(&h, &good.sign(&header, &claims("alice", "read"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(attacker_jwks.fetches(), 0);
}

#[tokio::test]
async fn attack_unknown_kid_flood_fetches_the_jwks_at_most_once_per_30s() {
    let good = Signer::es256("good");
    let (h, server) = start(vec![good.jwk.clone()], "").await;
    assert_eq!(server.fetches(), 1);
    for i in 0..40 {
        let mut signer = Signer::es256(&format!("flood-{i}"));
        signer.kid = format!("flood-{i}");
        let r = get(&h, &signer.token(&claims("mallory", "read"))).await;
        r.assert_invalid_token();
    }
    assert_eq!(
        server.fetches(),
        2,
        "start + one early re-fetch, not one per kid"
    );
    // The set is still in use.
    assert_eq!(
        get(&h, &good.token(&claims("alice", "read"))).await.status,
        200
    );
    let m = h.metrics().await;
    assert_eq!(
        m.value("scopegate_jwt_validations_total", &[("result", "invalid")]),
        40.0
    );
}

#[tokio::test]
async fn attack_jwe_five_part_token_is_treated_as_opaque() {
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![es.jwk.clone()], "").await;
    let header = json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "typ": "at+jwt"});
    let jwe = format!("{}.a2V5.aXY.Y2lwaGVy.dGFn", jwks::b64json(&header));
    h.auth_server.token(&jwe, inactive());
    get(&h, &jwe).await.assert_invalid_token();
    assert_eq!(
        h.auth_server.calls(),
        1,
        "five parts: introspected, not parsed as a JWS"
    );
    // Active at the introspection endpoint, it is accepted like any opaque token.
    let jwe2 = format!("{}.a2V5.aXY.Y2lwaGVy.dGFo", jwks::b64json(&header));
    h.auth_server
        .token(&jwe2, active().scope("read").sub("alice"));
    assert_eq!(get(&h, &jwe2).await.status, 200);
}

#[tokio::test]
async fn attack_crit_header_fails_validation() {
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![es.jwk.clone()], "").await;
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "ec", "crit": ["exp"], "exp": 1});
    get(&h, &es.sign(&header, &claims("alice", "read")))
        .await
        .assert_invalid_token();
    let header =
        json!({"alg": "ES256", "typ": "at+jwt", "kid": "ec", "b64": false, "crit": ["b64"]});
    get(&h, &es.sign(&header, &claims("alice", "read")))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn attack_id_token_presented_as_access_token_wrong_typ() {
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![es.jwk.clone()], "").await;
    for typ in [Some("JWT"), Some("id_token+jwt"), None] {
        let mut header = json!({"alg": "ES256", "kid": "ec"});
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        let mut c = claims("alice", "read");
        c["nonce"] = json!("n-0S6_WzA2Mj");
        get(&h, &es.sign(&header, &c)).await.assert_invalid_token();
    }
    // RFC 9068 §2.1: "application/" prefix and case are ignored.
    let header = json!({"alg": "ES256", "kid": "ec", "typ": "application/AT+JWT"});
    assert_eq!(
        get(&h, &es.sign(&header, &claims("alice", "read")))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn attack_aud_array_without_ours_and_wrong_issuer() {
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![es.jwk.clone()], "").await;
    let mut c = claims("alice", "read");
    c["aud"] = json!(["other-api", "apix"]);
    let r = get(&h, &es.token(&c)).await;
    r.assert_invalid_token();
    assert!(r.www_authenticate().unwrap().contains("audience"));
    c["aud"] = json!(["other-api", "api"]);
    assert_eq!(get(&h, &es.token(&c)).await.status, 200);
    c.as_object_mut().unwrap().remove("aud");
    get(&h, &es.token(&c)).await.assert_invalid_token();
    // Another issuer's JWT is not ours: it goes to introspection (inactive there).
    let mut c = claims("alice", "read");
    c["iss"] = json!("https://issuer.test/");
    get(&h, &es.token(&c)).await.assert_invalid_token();
    assert_eq!(h.auth_server.calls(), 1);
}

#[tokio::test]
async fn expired_future_nbf_and_future_iat_at_and_beyond_leeway() {
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![es.jwk.clone()], "leeway = \"30s\"").await;
    let now = now_secs();
    let cases: [(&str, i64, u16); 6] = [
        ("exp", now - 20, 200),
        ("exp", now - 40, 401),
        ("nbf", now + 20, 200),
        ("nbf", now + 40, 401),
        ("iat", now + 20, 200),
        ("iat", now + 40, 401),
    ];
    for (claim, at, status) in cases {
        let mut c = claims(&format!("u-{claim}-{at}"), "read");
        c[claim] = json!(at);
        let r = get(&h, &es.token(&c)).await;
        assert_eq!(
            r.status,
            status,
            "{claim} = now{:+}: {}",
            at - now,
            r.text()
        );
        if status == 401 {
            r.assert_invalid_token();
        }
    }
    // exp is required and numeric.
    let mut c = claims("u", "read");
    c.as_object_mut().unwrap().remove("exp");
    get(&h, &es.token(&c)).await.assert_invalid_token();
    c["exp"] = json!("4102444800");
    get(&h, &es.token(&c)).await.assert_invalid_token();
}

#[tokio::test]
async fn rsa_1024_key_in_the_set_is_ignored() {
    let weak: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/jwt/rsa1024.jwk.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let mut weak = weak;
    weak["kid"] = json!("weak");
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![weak, es.jwk.clone()], "").await;
    let token = std::fs::read_to_string(format!(
        "{}/tests/fixtures/jwt/rsa1024-token.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    get(&h, token.trim()).await.assert_invalid_token();
    assert_eq!(
        get(&h, &es.token(&claims("alice", "read"))).await.status,
        200
    );
}

#[tokio::test]
async fn key_with_use_enc_or_without_verify_op_or_other_alg_is_not_used() {
    let enc = Signer::es256("enc");
    let ops = Signer::es256("ops");
    let other_alg = Signer::rsa(Algorithm::PS256, "rsa");
    let good = Signer::es256("good");
    let mut enc_jwk = enc.jwk.clone();
    enc_jwk["use"] = json!("enc");
    let mut ops_jwk = ops.jwk.clone();
    ops_jwk["key_ops"] = json!(["encrypt"]);
    let mut rsa_jwk = other_alg.jwk.clone();
    rsa_jwk["alg"] = json!("RS256");
    let mut good_jwk = good.jwk.clone();
    good_jwk["use"] = json!("sig");
    good_jwk["key_ops"] = json!(["verify"]);
    let (h, _s) = start(vec![enc_jwk, ops_jwk, rsa_jwk, good_jwk], "").await;
    for signer in [&enc, &ops, &other_alg] {
        get(&h, &signer.token(&claims("mallory", "read")))
            .await
            .assert_invalid_token();
    }
    // Without kid, each key of the matching type is tried: only usable ones.
    for signer in [&enc, &good] {
        let header = json!({"alg": "ES256", "typ": "at+jwt"});
        let r = get(&h, &signer.sign(&header, &claims("x", "read"))).await;
        let want = if signer.kid == "good" { 200 } else { 401 };
        assert_eq!(r.status, want, "{}: {}", signer.kid, r.text());
    }
    // alg must match the key type: ES256 header, RSA key id.
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": "rsa"});
    get(&h, &good.sign(&header, &claims("x", "read")))
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn algorithm_outside_the_allowlist_is_refused() {
    let es = Signer::es256("ec");
    let rsa = Signer::rsa(Algorithm::PS256, "rsa");
    let server = JwksServer::start(vec![es.jwk.clone(), rsa.jwk.clone()]).await;
    let table = format!(
        "\n[[jwt]]\nissuer = {ISSUER:?}\naudience = \"api\"\njwks_uri = {:?}\n",
        server.jwks_uri()
    );
    let h = Harness::start(routes().extra(&table)).await;
    // Default algorithms: RS256 and ES256.
    assert_eq!(get(&h, &es.token(&claims("a", "read"))).await.status, 200);
    get(&h, &rsa.token(&claims("a", "read")))
        .await
        .assert_invalid_token();
    let rs = Signer::rsa(Algorithm::RS256, "rsa");
    assert_eq!(get(&h, &rs.token(&claims("a", "read"))).await.status, 200);
}

#[tokio::test]
async fn jwks_500_then_timeout_then_garbage_keeps_the_last_good_set_never_fails_open() {
    let es = Signer::es256("ec");
    let (h, server) = start(
        vec![es.jwk.clone()],
        "jwks_refresh = \"1s\"\ntimeout = \"300ms\"",
    )
    .await;
    assert_eq!(get(&h, &es.token(&claims("a0", "read"))).await.status, 200);
    let stranger = Signer::es256("stranger");
    for (i, mode) in [JwksMode::Status500, JwksMode::Hang, JwksMode::Garbage]
        .into_iter()
        .enumerate()
    {
        server.set_mode(mode.clone());
        let before = server.fetches();
        eventually("a failing refresh", || server.fetches() >= before + 2).await;
        let r = get(&h, &es.token(&claims(&format!("a{}", i + 1), "read"))).await;
        assert_eq!(r.status, 200, "{mode:?}: {}", r.text());
        get(&h, &stranger.token(&claims("m", "read")))
            .await
            .assert_invalid_token();
        let bogus = format!("{}x", es.token(&claims("m", "read")));
        get(&h, &bogus).await.assert_invalid_token();
    }
    let m = h.metrics().await;
    assert!(m.value("scopegate_jwks_fetches_total", &[("result", "error")]) >= 6.0);
    assert!(
        h.admin_get("/readyz").send().await.status == 200,
        "had a good set: ready"
    );
}

#[tokio::test]
async fn key_rotation_new_kid_is_fetched_early() {
    let old = Signer::es256("2025");
    let (h, server) = start(vec![old.jwk.clone()], "").await;
    assert_eq!(get(&h, &old.token(&claims("a", "read"))).await.status, 200);
    let new = Signer::ed25519("2026");
    server.set_keys(vec![old.jwk.clone(), new.jwk.clone()]);
    let r = get(&h, &new.token(&claims("b", "read"))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(server.fetches(), 2, "one early re-fetch for the new kid");
}

#[tokio::test]
async fn key_rotation_removed_key_is_refused_after_refresh() {
    let old = Signer::es256("2025");
    let new = Signer::ed25519("2026");
    let (h, server) = start(
        vec![old.jwk.clone(), new.jwk.clone()],
        "jwks_refresh = \"1s\"",
    )
    .await;
    assert_eq!(get(&h, &old.token(&claims("a", "read"))).await.status, 200);
    server.set_keys(vec![new.jwk.clone()]);
    let before = server.fetches();
    eventually("a refresh", || server.fetches() > before).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    get(&h, &old.token(&claims("a2", "read")))
        .await
        .assert_invalid_token();
    assert_eq!(get(&h, &new.token(&claims("b", "read"))).await.status, 200);
}

#[tokio::test]
async fn no_usable_key_set_answers_503_and_readyz_503() {
    let es = Signer::es256("ec");
    let mut unusable = es.jwk.clone();
    unusable["use"] = json!("enc");
    let server = JwksServer::start(vec![unusable]).await;
    let mut config = routes().extra(&jwks::table(&server, "jwks_refresh = \"1s\""));
    config.skip_ready = true;
    let h = Harness::start(config).await;
    let ready = h.admin_get("/readyz").send().await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    let r = get(&h, &es.token(&claims("a", "read"))).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert!(h.upstream.requests().is_empty(), "fail closed");
    let m = h.metrics().await;
    assert_eq!(
        m.value("scopegate_jwt_validations_total", &[("result", "error")]),
        1.0
    );
    // Once the set is usable, the next refresh makes the issuer ready.
    server.set_keys(vec![es.jwk.clone()]);
    let mut ok = false;
    for _ in 0..100 {
        if h.admin_get("/readyz").send().await.status == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "ready after a usable set arrived");
    assert_eq!(get(&h, &es.token(&claims("a", "read"))).await.status, 200);
}

#[tokio::test]
async fn metadata_url_discovery_and_its_issuer_must_match() {
    let es = Signer::es256("ec");
    let server = JwksServer::start(vec![es.jwk.clone()]).await;
    let table = format!(
        "\n[[jwt]]\nissuer = {ISSUER:?}\naudience = \"api\"\nmetadata_url = {:?}\n",
        server.metadata_url()
    );
    let h = Harness::start(routes().extra(&table)).await;
    assert_eq!(get(&h, &es.token(&claims("a", "read"))).await.status, 200);

    let bad = JwksServer::start(vec![es.jwk.clone()]).await;
    bad.set_metadata_issuer("https://evil.test");
    let table = format!(
        "\n[[jwt]]\nissuer = {ISSUER:?}\naudience = \"api\"\nmetadata_url = {:?}\n",
        bad.metadata_url()
    );
    let mut config = routes().extra(&table);
    config.skip_ready = true;
    let h = Harness::start(config).await;
    assert_eq!(h.admin_get("/readyz").send().await.status, 503);
    assert_eq!(get(&h, &es.token(&claims("a", "read"))).await.status, 503);
    assert_eq!(
        bad.fetches(),
        0,
        "a JWKS of a mismatched issuer is never read"
    );
}

#[tokio::test]
async fn jwt_only_deployment_without_introspection() {
    let es = Signer::es256("ec");
    let mut config = TestConfig::new().route(Route::new("/api/**").scopes(&["read"]));
    config.no_introspection = true;
    let (h, _s) = start_with(vec![es.jwk.clone()], "", config).await;
    assert_eq!(get(&h, &es.token(&claims("a", "read"))).await.status, 200);
    get(&h, "opaque-token-123").await.assert_invalid_token();
    assert_eq!(h.auth_server.calls(), 0);
}

#[tokio::test]
async fn introspect_true_route_needs_both_answers_identity_from_the_jwt() {
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![es.jwk.clone()], "").await;
    let revoked = es.token(&claims("alice", "read"));
    h.auth_server.token(&revoked, inactive());
    h.admin_get("/readyz").send().await;
    let r = h.get("/admin/x").bearer(&revoked).send().await;
    r.assert_invalid_token();
    // The same token on a plain route is fine locally.
    assert_eq!(get(&h, &revoked).await.status, 200);

    let live = es.token(&claims("bob", "read"));
    h.auth_server
        .token(&live, active().scope("read").sub("someone-else"));
    let calls = h.auth_server.calls();
    let r = h.get("/admin/x").bearer(&live).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.auth_server.calls(), calls + 1);
    let seen = h.upstream.requests().pop().unwrap();
    assert_eq!(
        seen.header("x-auth-subject"),
        Some("bob"),
        "identity from the JWT"
    );
}

#[tokio::test]
async fn reload_keeps_the_key_set_of_an_unchanged_issuer() {
    let es = Signer::es256("ec");
    let (h, server) = start(vec![es.jwk.clone()], "").await;
    assert_eq!(get(&h, &es.token(&claims("a", "read"))).await.status, 200);
    server.set_mode(JwksMode::Status500);
    let config = routes()
        .route(Route::new("/more/**").scopes(&["read"]))
        .extra(&jwks::table(&server, ""));
    h.rewrite_config(&config);
    h.signal("HUP");
    h.wait_log("reload", |v| {
        v.to_string().contains("configuration reloaded")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = h
        .get("/more/x")
        .bearer(&es.token(&claims("b", "read")))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(server.fetches(), 1, "no re-fetch for an unchanged issuer");
}

#[tokio::test]
async fn tokens_and_claims_never_reach_logs_or_bodies() {
    let es = Signer::es256("ec");
    let (h, _s) = start(vec![es.jwk.clone()], "").await;
    let mut c = claims("secret-subject-xyz", "read");
    c["aud"] = json!("nope");
    let token = es.token(&c);
    let r = get(&h, &token).await;
    r.assert_invalid_token();
    assert!(!r.text().contains("secret-subject-xyz") && !r.text().contains("nope"));
    let sig = token.rsplit('.').next().unwrap();
    for line in h.logs() {
        assert!(!line.contains(sig), "token in a log line: {line}");
    }
}

#[test]
fn check_validates_jwt_tables_without_fetching() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sg.toml");
    std::fs::write(
        &path,
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n\n[[jwt]]\nissuer = \"https://i.test\"\naudience = \"api\"\njwks_uri = \"http://127.0.0.1:1/jwks\"\n\n[[route]]\npath = \"/**\"\nscopes = [\"read\"]\n",
    )
    .unwrap();
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert_eq!(out.code, Some(0), "{}{}", out.stdout, out.stderr);

    std::fs::write(
        &path,
        "[upstream]\nurl = \"http://127.0.0.1:1\"\n\n[[jwt]]\nissuer = \"https://i.test\"\naudience = \"api\"\njwks_uri = \"http://127.0.0.1:1/jwks\"\nalgorithms = [\"RS256\", \"HS256\"]\n\n[[route]]\npath = \"/**\"\nscopes = [\"read\"]\nintrospect = true\n",
    )
    .unwrap();
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert_eq!(out.code, Some(1), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("jwt[0].algorithms[1]"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("route[0].introspect"), "{}", out.stderr);
}

#[tokio::test]
async fn demo_publishes_a_jwks_and_prints_a_working_jwt_curl_line() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(crate::support::BIN)
        .args(["demo", "--port", "0"])
        .env_remove("SCOPEGATE_CONFIG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let done = line.starts_with("Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = tokio::time::timeout(Duration::from_secs(15), lines)
        .await
        .expect("demo banner")
        .unwrap();
    let line = lines
        .iter()
        .find(|l| l.contains("# 200 (JWT"))
        .unwrap_or_else(|| panic!("no JWT curl line in:\n{}", lines.join("\n")));
    let token = line
        .split("Bearer ")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    let url = line
        .split("' ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/orders/42")
        .parse()
        .unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWS: {token}");
    let r = crate::support::Req::new(addr, "GET", "/orders/42")
        .bearer(token)
        .send()
        .await;
    let pid = child.id().to_string();
    let _ = std::process::Command::new("kill").arg(&pid).status();
    let _ = child.wait();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("\"x-auth-subject\":\"carol\""),
        "{}",
        r.text()
    );
}

/// docs/reference.md#purge: `POST /cache/purge` evicts validated JWTs too (by token digest
/// and by subject), so the next request verifies the signature again: here against a key
/// set the signing key was removed from, so the purged tokens are refused while a cached,
/// unpurged one is still served from the cache.
#[tokio::test]
async fn purged_cached_jwts_are_verified_again() {
    let old = Signer::es256("old");
    let new = Signer::es256("new");
    let (h, server) = start(
        vec![old.jwk.clone(), new.jwk.clone()],
        "jwks_refresh = \"1s\"",
    )
    .await;
    let by_digest = old.token(&claims("alice", "read"));
    let by_subject = old.token(&claims("bob", "read"));
    let kept = old.token(&claims("carol", "read"));
    for token in [&by_digest, &by_subject, &kept] {
        assert_eq!(get(&h, token).await.status, 200);
    }
    server.set_keys(vec![new.jwk.clone()]);
    let before = server.fetches();
    eventually("a refresh", || server.fetches() > before).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Cached: a hit skips the signature (the claims are still checked).
    for token in [&by_digest, &by_subject, &kept] {
        assert_eq!(get(&h, token).await.status, 200);
    }
    for body in [
        format!(
            r#"{{"token_sha256":"{}"}}"#,
            crate::support::sha256_hex(&by_digest)
        ),
        r#"{"subject":"bob"}"#.to_string(),
    ] {
        let r = h.admin_post("/cache/purge", &body).send().await;
        assert_eq!(r.status, 200, "purge {body}: {}", r.text());
    }
    get(&h, &by_digest).await.assert_invalid_token();
    get(&h, &by_subject).await.assert_invalid_token();
    assert_eq!(get(&h, &kept).await.status, 200, "not purged: still cached");
}
