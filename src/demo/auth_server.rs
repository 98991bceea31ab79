//! The demo authorization server: an RFC 7662 endpoint with client authentication
//! (Basic or post) and three documented tokens, and `GET /jwks` publishing the key the
//! demo JWT is signed with (docs/reference.md#jwt-access-tokens).

use std::convert::Infallible;

use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::clock::now_unix;

/// The demo's Ed25519 signing key (PKCS#8 v1, base64). Published in this source, so it
/// proves nothing outside the loopback-only demo.
const DEMO_ED25519_PKCS8: &str = "MC4CAQAwBQYDK2VwBCIEIG8HoaPbYHJ0EGbX8Kr7v5BUAtnycxhopBOoDH5ltkBP";
/// Its public key (`x` of the JWK).
const DEMO_ED25519_X: &str = "G9vfe9vM14MfqCGpmvDKyUnK5Pn2D7Gzhqzl2JWU4z0";
/// The audience of the demo JWT.
pub const DEMO_AUDIENCE: &str = "demo-api";

/// The demo JWKS.
pub(crate) fn jwks() -> serde_json::Value {
    serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "demo-1", "use": "sig", "alg": "EdDSA",
        "x": DEMO_ED25519_X,
    }]})
}

/// An RFC 9068 access token from `issuer` for carol (`orders:read profile`), valid
/// for an hour, signed with the demo key.
pub fn demo_jwt(issuer: &str) -> Result<String, jsonwebtoken::errors::Error> {
    demo_jwt_valid_for(issuer, 3600)
}

/// [`demo_jwt`], expiring `seconds` from now.
pub(crate) fn demo_jwt_valid_for(
    issuer: &str,
    seconds: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(DEMO_ED25519_PKCS8)
        .map_err(|_| jsonwebtoken::errors::ErrorKind::InvalidKeyFormat)?;
    let key = jsonwebtoken::EncodingKey::from_ed_der(&der);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some("demo-1".into());
    let now = now_unix();
    let claims = serde_json::json!({
        "iss": issuer, "aud": DEMO_AUDIENCE, "sub": "carol", "scope": "orders:read profile",
        "client_id": "demo-app", "exp": now + seconds, "iat": now,
    });
    jsonwebtoken::encode(&header, &claims, &key)
}

/// Serves `POST /introspect` and `GET /jwks` until the process ends.
pub async fn serve(listener: TcpListener, client_id: String, secret: String) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (id, secret) = (client_id.clone(), secret.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (id, secret) = (id.clone(), secret.clone());
                async move { Ok::<_, Infallible>(handle(req, &id, &secret).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The answer for a demo token (anything unknown is inactive).
pub(crate) fn answer(token: &str) -> serde_json::Value {
    let exp = now_unix() + 3600;
    match token {
        "demo-read" => serde_json::json!({
            "active": true, "scope": "orders:read profile", "sub": "alice",
            "username": "alice", "client_id": "demo-app", "exp": exp, "iat": now_unix(),
        }),
        "demo-write" => serde_json::json!({
            "active": true, "scope": "orders:read orders:write profile profile:contact",
            "sub": "bob", "username": "bob", "client_id": "demo-app", "exp": exp, "iat": now_unix(),
        }),
        _ => serde_json::json!({ "active": false }),
    }
}

async fn handle(req: Request<Incoming>, client_id: &str, secret: &str) -> Response<Full<Bytes>> {
    if req.method() == Method::GET && req.uri().path() == "/jwks" {
        return reply(StatusCode::OK, jwks().to_string());
    }
    if req.method() != Method::POST || req.uri().path() != "/introspect" {
        return reply(StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#.into());
    }
    let basic = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Ok(body) = Limited::new(req.into_body(), 64 * 1024).collect().await else {
        return reply(
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_request"}"#.into(),
        );
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&body.to_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
    let authenticated = match basic {
        Some(pair) => pair
            .split_once(':')
            .is_some_and(|(id, s)| decode(id) == client_id && decode(s) == secret),
        None => field("client_id") == Some(client_id) && field("client_secret") == Some(secret),
    };
    if !authenticated {
        return reply(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_client"}"#.into(),
        );
    }
    let Some(token) = field("token") else {
        return reply(
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_request"}"#.into(),
        );
    };
    reply(StatusCode::OK, answer(token).to_string())
}

fn decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(body)));
    *rsp.status_mut() = status;
    rsp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    rsp
}
