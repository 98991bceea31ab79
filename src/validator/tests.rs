//! Validation over time, on tokio's paused clock ([`crate::clock::pass`]): cache
//! lifetimes, `exp`, `negative_ttl` and `stale_if_error`
//! (docs/reference.md#introspection-cache), and the claim checks of a cached JWT
//! (docs/reference.md#jwt-access-tokens). Nothing here sleeps: time passes at once.
//!
//! A real introspection endpoint on loopback answers, and the validator runs on a
//! `State` built from a config text, as the proxy builds it. An outcome is the status
//! and `error` code the client would get; the black-box tests in `tests/it/cache.rs`
//! cover the rest through the real binary.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::clock::{now_unix, pass};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::state::State;

/// The outcome a client sees: 200, or the rejection's status and `error` code.
type Outcome = (u16, &'static str);
const OK: Outcome = (200, "");
const INVALID: Outcome = (401, "invalid_token");
const UNAVAILABLE: Outcome = (503, "temporarily_unavailable");

/// An RFC 7662 endpoint on loopback (`POST /introspect`) that also publishes the demo
/// JWKS (`GET /jwks`): answers by token, a switch to fail with 500, a call counter.
#[derive(Clone, Default)]
struct AuthServer {
    answers: Arc<Mutex<HashMap<String, Value>>>,
    failing: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
}

impl AuthServer {
    async fn start() -> (Self, String) {
        let server = Self::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((io, _)) = listener.accept().await {
                let s = s.clone();
                let service = service_fn(move |req| {
                    let s = s.clone();
                    async move { Ok::<_, Infallible>(s.answer(req).await) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(io), service),
                );
            }
        });
        (server, url)
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.uri().path() == "/jwks" {
            let jwks = crate::demo::auth_server::jwks().to_string();
            return Response::new(Full::new(Bytes::from(jwks)));
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return r;
        }
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let token = String::from_utf8_lossy(&body)
            .split('&')
            .find_map(|kv| kv.strip_prefix("token=").map(str::to_owned))
            .unwrap_or_default();
        let answer = self.answers.lock().unwrap().get(&token).cloned();
        let answer = answer.unwrap_or_else(|| json!({"active": false}));
        Response::new(Full::new(Bytes::from(answer.to_string())))
    }

    fn token(&self, token: &str, answer: Value) {
        self.answers.lock().unwrap().insert(token.into(), answer);
    }

    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn active(sub: &str, expires_in: i64) -> Value {
    json!({"active": true, "scope": "orders:read", "sub": sub, "exp": now_unix() + expires_in})
}

/// A validator built as the proxy builds it, from `[introspection.cache]` keys.
struct Validator {
    state: State,
}

impl Validator {
    async fn new(auth: &str, cache: &str, extra: &str) -> Self {
        let text = format!(
            "[upstream]\nurl = \"http://127.0.0.1:9\"\n\n\
             [introspection]\nendpoint = \"{auth}/introspect\"\nclient_id = \"scopegate\"\n\
             client_secret_env = \"PATH\"\n\n[introspection.cache]\n{cache}\n{extra}"
        );
        let config = Config::from_toml(Path::new("test.toml"), &text).unwrap();
        let metrics = Arc::new(Metrics::new().unwrap());
        let state = State::build(config, None, &metrics, &Arc::default()).unwrap();
        Self { state }
    }

    async fn check(&self, token: &str) -> Outcome {
        let value = http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let token = crate::token::parse_authorization(&value).unwrap().unwrap();
        match self.state.validator.validate(&token, false).await {
            Ok(_) => OK,
            Err(e) => {
                let r = crate::rejection::Rejection::from(e);
                (r.status().as_u16(), r.error_code())
            }
        }
    }
}

#[tokio::test]
async fn cached_token_is_refused_once_exp_passes_despite_long_ttl() {
    let (auth, url) = AuthServer::start().await;
    let v = Validator::new(&url, "ttl = \"5m\"", "").await;
    auth.token("t-short", active("alice", 2));
    assert_eq!(v.check("t-short").await, OK);
    pass(Duration::from_millis(3200)).await;
    assert_eq!(v.check("t-short").await, INVALID);
}

#[tokio::test]
async fn inactive_answer_is_remembered_for_negative_ttl() {
    let (auth, url) = AuthServer::start().await;
    let v = Validator::new(&url, "negative_ttl = \"1s\"", "").await;
    auth.token("t-late", json!({"active": false}));
    assert_eq!(v.check("t-late").await, INVALID);
    auth.token("t-late", active("alice", 600));
    assert_eq!(v.check("t-late").await, INVALID);
    assert_eq!(auth.calls(), 1, "inactive answer not cached");
    pass(Duration::from_millis(1400)).await;
    assert_eq!(v.check("t-late").await, OK);
    assert_eq!(auth.calls(), 2);
}

#[tokio::test]
async fn active_answer_expires_after_ttl() {
    let (auth, url) = AuthServer::start().await;
    let v = Validator::new(&url, "ttl = \"1s\"", "").await;
    auth.token("t-read", active("alice", 3600));
    assert_eq!(v.check("t-read").await, OK);
    assert_eq!(v.check("t-read").await, OK);
    assert_eq!(auth.calls(), 1);
    pass(Duration::from_millis(1400)).await;
    assert_eq!(v.check("t-read").await, OK);
    assert_eq!(auth.calls(), 2);
}

#[tokio::test]
async fn stale_if_error_serves_previous_active_answer_while_as_fails() {
    let (auth, url) = AuthServer::start().await;
    let v = Validator::new(&url, "ttl = \"1s\"\nstale_if_error = \"30s\"", "").await;
    auth.token("t-read", active("alice", 3600));
    assert_eq!(v.check("t-read").await, OK);
    pass(Duration::from_millis(1400)).await;
    auth.fail(true);
    assert_eq!(v.check("t-read").await, OK);
    assert_eq!(auth.calls(), 2, "the expired answer was not asked again");
    // Not past stale_if_error either.
    pass(Duration::from_secs(31)).await;
    assert_eq!(v.check("t-read").await, UNAVAILABLE);
}

#[tokio::test]
async fn without_stale_if_error_expired_entry_and_failing_as_is_503() {
    let (auth, url) = AuthServer::start().await;
    let v = Validator::new(&url, "ttl = \"1s\"", "").await;
    auth.token("t-read", active("alice", 3600));
    assert_eq!(v.check("t-read").await, OK);
    pass(Duration::from_millis(1400)).await;
    auth.fail(true);
    assert_eq!(v.check("t-read").await, UNAVAILABLE);
}

/// Token active → revoked (the server says inactive: 401) → the server starts failing.
/// The inactive answer must drop the stale copy: once the negative entry has expired
/// too, a failing server means 503 (fail closed), never the old 200.
#[tokio::test]
async fn stale_if_error_never_brings_back_a_token_the_server_said_is_inactive() {
    let (auth, url) = AuthServer::start().await;
    let cache = "ttl = \"1s\"\nnegative_ttl = \"1s\"\nstale_if_error = \"60s\"";
    let v = Validator::new(&url, cache, "").await;
    auth.token("t-revoked", active("mallory", 3600));
    assert_eq!(v.check("t-revoked").await, OK);
    auth.token("t-revoked", json!({"active": false}));
    pass(Duration::from_millis(1300)).await;
    assert_eq!(v.check("t-revoked").await, INVALID);
    auth.fail(true);
    pass(Duration::from_millis(1300)).await;
    for _ in 0..3 {
        assert_eq!(
            v.check("t-revoked").await,
            UNAVAILABLE,
            "revoked token served from its stale copy"
        );
    }
}

#[tokio::test]
async fn a_cached_jwt_skips_the_signature_never_the_claim_checks() {
    let (auth, url) = AuthServer::start().await;
    let issuer = format!("{url}/");
    let jwt = format!(
        "[[jwt]]\nissuer = \"{issuer}\"\naudience = \"{}\"\njwks_uri = \"{url}/jwks\"\n\
         algorithms = [\"EdDSA\"]\nleeway = \"0s\"\n",
        crate::demo::auth_server::DEMO_AUDIENCE
    );
    let v = Validator::new(&url, "ttl = \"5m\"", &jwt).await;
    let token = crate::demo::auth_server::demo_jwt_valid_for(&issuer, 2).unwrap();
    assert_eq!(v.check(&token).await, OK);
    assert_eq!(v.check(&token).await, OK);
    pass(Duration::from_millis(3100)).await;
    assert_eq!(v.check(&token).await, INVALID);
    assert_eq!(
        auth.calls(),
        0,
        "a JWT of a [[jwt]] issuer was introspected"
    );
}
