//! In-process RFC 7662 introspection endpoint on 127.0.0.1:0.
//!
//! Tokens are scripted (`active().scope(..).sub(..).exp_in(..)`, `inactive()`, raw bodies);
//! unknown tokens answer `{"active":false}`. Client authentication is checked (basic, with
//! RFC 6749 §2.3.1 form-urlencoding, or post); a wrong one gets 401. Every call is counted
//! and its form recorded. `set_mode` switches failure behaviour at run time.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

pub const CLIENT_ID: &str = "scopegate";

/// How the mock answers every call.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthMode {
    Normal,
    /// Sleep, then answer normally.
    Slow(Duration),
    /// Accept the connection and close it without answering.
    Close,
    /// 500 with a JSON error body.
    Status500,
    /// 200 with a body that is not JSON.
    Garbage,
    /// `"active": "true"` (a string).
    ActiveString,
    /// An otherwise active answer with a duplicated key.
    DuplicateKeys,
    /// An active answer padded past 1 MiB.
    Oversized,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    None,
}

/// One recorded introspection call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub form: Vec<(String, String)>,
    pub auth: ClientAuth,
    pub raw_body: String,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    body: Map<String, Value>,
    raw: Option<String>,
}

pub fn active() -> TokenSpec {
    let mut body = Map::new();
    body.insert("active".into(), Value::Bool(true));
    TokenSpec { body, raw: None }
}

pub fn inactive() -> TokenSpec {
    let mut body = Map::new();
    body.insert("active".into(), Value::Bool(false));
    TokenSpec { body, raw: None }
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl TokenSpec {
    /// A literal response body.
    pub fn raw(body: &str) -> TokenSpec {
        TokenSpec {
            body: Map::new(),
            raw: Some(body.to_string()),
        }
    }
    pub fn claim(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.body.insert(k.into(), v.into());
        self
    }
    pub fn without(mut self, k: &str) -> Self {
        self.body.remove(k);
        self
    }
    pub fn scope(self, s: &str) -> Self {
        self.claim("scope", s)
    }
    pub fn sub(self, s: &str) -> Self {
        self.claim("sub", s)
    }
    pub fn client_id(self, s: &str) -> Self {
        self.claim("client_id", s)
    }
    pub fn username(self, s: &str) -> Self {
        self.claim("username", s)
    }
    pub fn iss(self, s: &str) -> Self {
        self.claim("iss", s)
    }
    pub fn aud(self, s: &str) -> Self {
        self.claim("aud", s)
    }
    pub fn aud_array(self, a: &[&str]) -> Self {
        self.claim(
            "aud",
            Value::from(a.iter().map(|s| Value::from(*s)).collect::<Vec<_>>()),
        )
    }
    /// `exp` relative to now (negative: already expired).
    pub fn exp_in(self, secs: i64) -> Self {
        self.claim("exp", now_secs() + secs)
    }
    pub fn nbf_in(self, secs: i64) -> Self {
        self.claim("nbf", now_secs() + secs)
    }
    pub fn body(&self) -> String {
        match &self.raw {
            Some(r) => r.clone(),
            None => Value::Object(self.body.clone()).to_string(),
        }
    }
}

struct State {
    tokens: HashMap<String, TokenSpec>,
    mode: AuthMode,
    expected_id: String,
    expected_secret: String,
    received: Vec<Call>,
}

#[derive(Clone)]
pub struct AuthServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    calls: Arc<AtomicUsize>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

pub struct AuthServerBuilder {
    tokens: HashMap<String, TokenSpec>,
    expected_secret: String,
    expected_id: String,
}

impl AuthServerBuilder {
    pub fn token(mut self, token: &str, spec: TokenSpec) -> Self {
        self.tokens.insert(token.to_string(), spec);
        self
    }
    pub fn client(mut self, id: &str, secret: &str) -> Self {
        self.expected_id = id.to_string();
        self.expected_secret = secret.to_string();
        self
    }
    pub async fn start(self) -> AuthServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            tokens: self.tokens,
            mode: AuthMode::Normal,
            expected_id: self.expected_id,
            expected_secret: self.expected_secret,
            received: Vec::new(),
        }));
        let calls = Arc::new(AtomicUsize::new(0));
        let (st, c) = (state.clone(), calls.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                if st.lock().unwrap().mode == AuthMode::Close {
                    c.fetch_add(1, Ordering::SeqCst);
                    drop(stream);
                    continue;
                }
                let (st, c) = (st.clone(), c.clone());
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req| handle(req, st.clone(), c.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        AuthServer {
            addr,
            state,
            calls,
            task: Arc::new(task),
        }
    }
}

impl AuthServer {
    pub fn builder() -> AuthServerBuilder {
        AuthServerBuilder {
            tokens: HashMap::new(),
            expected_id: CLIENT_ID.to_string(),
            expected_secret: super::CLIENT_SECRET.to_string(),
        }
    }

    pub async fn start() -> AuthServer {
        Self::builder().start().await
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    /// Adds or replaces a scripted token (at any time).
    pub fn token(&self, token: &str, spec: TokenSpec) -> &Self {
        self.state
            .lock()
            .unwrap()
            .tokens
            .insert(token.to_string(), spec);
        self
    }

    pub fn set_mode(&self, mode: AuthMode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn expect_client(&self, id: &str, secret: &str) {
        let mut s = self.state.lock().unwrap();
        s.expected_id = id.to_string();
        s.expected_secret = secret.to_string();
    }

    /// Introspection calls so far (connections closed in `Close` mode count too).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Call> {
        self.state.lock().unwrap().received.clone()
    }

    /// Stops accepting: new connections are refused.
    pub fn stop(&self) {
        self.task.abort();
    }
}

fn reply(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn pct_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    calls: Arc<AtomicUsize>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    calls.fetch_add(1, Ordering::SeqCst);
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let h = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = h("content-type");
    let accept = h("accept");
    let authz = h("authorization");
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let raw_body = String::from_utf8_lossy(&body).into_owned();
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());

    let auth = match authz.as_deref().and_then(|a| {
        a.strip_prefix("Basic ")
            .or_else(|| a.strip_prefix("basic "))
    }) {
        Some(b64) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .unwrap_or_default();
            let decoded = String::from_utf8_lossy(&decoded).into_owned();
            let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
            ClientAuth::Basic {
                id: pct_decode(id),
                secret: pct_decode(secret),
            }
        }
        None => match (get("client_id"), get("client_secret")) {
            (Some(id), Some(secret)) => ClientAuth::Post { id, secret },
            _ => ClientAuth::None,
        },
    };
    let (mode, expected) = {
        let mut s = state.lock().unwrap();
        s.received.push(Call {
            method: method.clone(),
            path: path.clone(),
            content_type: content_type.clone(),
            accept,
            form: form.clone(),
            auth: auth.clone(),
            raw_body,
        });
        (
            s.mode.clone(),
            (s.expected_id.clone(), s.expected_secret.clone()),
        )
    };

    if let AuthMode::Slow(d) = mode {
        tokio::time::sleep(d).await;
    }
    let creds_ok = match &auth {
        ClientAuth::Basic { id, secret } | ClientAuth::Post { id, secret } => {
            (id.clone(), secret.clone()) == expected
        }
        ClientAuth::None => false,
    };
    if !creds_ok {
        return Ok(reply(401, json!({"error":"invalid_client"}).to_string()));
    }
    if method != "POST"
        || path != "/introspect"
        || !content_type
            .unwrap_or_default()
            .starts_with("application/x-www-form-urlencoded")
    {
        return Ok(reply(400, json!({"error":"invalid_request"}).to_string()));
    }
    let token = get("token").unwrap_or_default();
    let spec = state.lock().unwrap().tokens.get(&token).cloned();
    let body = spec
        .map(|s| s.body())
        .unwrap_or_else(|| r#"{"active":false}"#.to_string());
    Ok(match mode {
        AuthMode::Normal | AuthMode::Slow(_) | AuthMode::Close => reply(200, body),
        AuthMode::Status500 => reply(500, json!({"error":"server_error"}).to_string()),
        AuthMode::Garbage => reply(200, "<html>oops</html>".to_string()),
        AuthMode::ActiveString => reply(
            200,
            r#"{"active":"true","scope":"orders:read admin","sub":"alice"}"#.to_string(),
        ),
        AuthMode::DuplicateKeys => reply(
            200,
            r#"{"active":false,"scope":"orders:read admin","sub":"alice","active":true}"#
                .to_string(),
        ),
        AuthMode::Oversized => {
            let pad = "x".repeat(1024 * 1024 + 4096);
            reply(
                200,
                json!({"active":true,"scope":"orders:read admin","sub":"alice","pad":pad})
                    .to_string(),
            )
        }
    })
}
