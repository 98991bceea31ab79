//! In-process JWKS and discovery server on 127.0.0.1:0, and test signing keys.
//!
//! `GET /jwks` answers the current key set (or the scripted failure: 500, a hang past
//! any fetch timeout, garbage); `GET /.well-known/oauth-authorization-server` answers
//! RFC 8414 metadata pointing at `/jwks`. Every `/jwks` fetch is counted, so tests can
//! assert how often scopegate fetched. Keys: RSA 2048 from `tests/fixtures/jwt/`,
//! ES256 and Ed25519 generated with rcgen (ring); tokens are signed with jsonwebtoken.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use tokio::net::TcpListener;

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "api";

/// How `/jwks` answers.
#[derive(Debug, Clone, PartialEq)]
pub enum JwksMode {
    Normal,
    Status500,
    /// Never answers within any sane timeout.
    Hang,
    Garbage,
}

struct State {
    keys: Vec<Value>,
    mode: JwksMode,
    metadata_issuer: String,
}

#[derive(Clone)]
pub struct JwksServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start(keys: Vec<Value>) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            keys,
            mode: JwksMode::Normal,
            metadata_issuer: ISSUER.to_string(),
        }));
        let fetches = Arc::new(AtomicUsize::new(0));
        let server = JwksServer {
            addr,
            state,
            fetches,
        };
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, Infallible>(s.answer(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        server
    }

    pub fn jwks_uri(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    pub fn metadata_url(&self) -> String {
        format!(
            "http://{}/.well-known/oauth-authorization-server",
            self.addr
        )
    }

    pub fn set_keys(&self, keys: Vec<Value>) {
        self.state.lock().unwrap().keys = keys;
    }

    pub fn set_mode(&self, mode: JwksMode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn set_metadata_issuer(&self, issuer: &str) {
        self.state.lock().unwrap().metadata_issuer = issuer.to_string();
    }

    /// `/jwks` requests so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    async fn answer(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        if path == "/.well-known/oauth-authorization-server" {
            let issuer = self.state.lock().unwrap().metadata_issuer.clone();
            let doc = json!({"issuer": issuer, "jwks_uri": self.jwks_uri()});
            return Response::new(Full::new(Bytes::from(doc.to_string())));
        }
        if path != "/jwks" {
            let mut rsp = Response::new(Full::new(Bytes::new()));
            *rsp.status_mut() = hyper::StatusCode::NOT_FOUND;
            return rsp;
        }
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let (mode, keys) = {
            let st = self.state.lock().unwrap();
            (st.mode.clone(), st.keys.clone())
        };
        match mode {
            JwksMode::Normal => {
                let body = json!({ "keys": keys }).to_string();
                Response::new(Full::new(Bytes::from(body)))
            }
            JwksMode::Status500 => {
                let mut rsp = Response::new(Full::new(Bytes::from_static(b"{\"error\":\"x\"}")));
                *rsp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                rsp
            }
            JwksMode::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Response::new(Full::new(Bytes::from_static(b"{\"keys\":[]}")))
            }
            JwksMode::Garbage => Response::new(Full::new(Bytes::from_static(b"<html>oops"))),
        }
    }
}

// === keys ===

/// A private key that signs test tokens, with its public JWK.
#[derive(Clone)]
pub struct Signer {
    pub alg: Algorithm,
    pub kid: String,
    pub key: Arc<EncodingKey>,
    /// The public JWK (with `kid`, without `alg`/`use`).
    pub jwk: Value,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl Signer {
    /// The RSA 2048 fixture key, for RS256 or PS256.
    pub fn rsa(alg: Algorithm, kid: &str) -> Signer {
        let key = EncodingKey::from_rsa_der(&fixture("rsa2048.der"));
        let mut jwk: Value = serde_json::from_slice(&fixture("rsa2048.jwk.json")).unwrap();
        jwk["kid"] = json!(kid);
        Signer {
            alg,
            kid: kid.into(),
            key: Arc::new(key),
            jwk,
        }
    }

    /// A fresh P-256 key.
    pub fn es256(kid: &str) -> Signer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let raw = pair.public_key_raw();
        assert_eq!(raw.len(), 65);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&raw[33..]),
        });
        Signer {
            alg: Algorithm::ES256,
            kid: kid.into(),
            key: Arc::new(EncodingKey::from_ec_der(&pair.serialize_der())),
            jwk,
        }
    }

    /// A fresh Ed25519 key.
    pub fn ed25519(kid: &str) -> Signer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(pair.public_key_raw()),
        });
        Signer {
            alg: Algorithm::EdDSA,
            kid: kid.into(),
            key: Arc::new(EncodingKey::from_ed_der(&pair.serialize_der())),
            jwk,
        }
    }

    pub fn alg_name(&self) -> &'static str {
        alg_name(self.alg)
    }

    /// The standard header: `alg`, `typ: at+jwt`, `kid`.
    pub fn header(&self) -> Value {
        json!({"alg": self.alg_name(), "typ": "at+jwt", "kid": self.kid})
    }

    /// A token with the standard header.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }

    /// A token with any header, signed with this key and `self.alg`.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        sign_with(&self.key, self.alg, header, claims)
    }
}

pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
    }
}

pub fn b64json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// `b64(header).b64(claims).signature`.
pub fn sign_with(key: &EncodingKey, alg: Algorithm, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64json(header), b64json(claims));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{sig}")
}

/// Claims of a valid access token for `sub`, expiring in 10 minutes.
pub fn claims(sub: &str, scope: &str) -> Value {
    let now = super::auth_server::now_secs();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "scope": scope,
        "client_id": "app-1", "exp": now + 600, "iat": now - 5, "jti": format!("j-{now}-{sub}"),
    })
}

/// The `[[jwt]]` table for `server` (raw TOML, appended with `TestConfig::extra`).
pub fn table(server: &JwksServer, more: &str) -> String {
    format!(
        "\n[[jwt]]\nissuer = {:?}\naudience = {:?}\njwks_uri = {:?}\nalgorithms = [\"RS256\", \"PS256\", \"ES256\", \"EdDSA\"]\n{more}\n",
        ISSUER,
        AUDIENCE,
        server.jwks_uri()
    )
}
