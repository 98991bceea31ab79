//! The admin listener (SPEC §6): `/metrics`, `/healthz`, `/readyz`, `POST /cache/purge`.
//! A separate listener, never reachable through the proxy port.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::introspect::{Health, Purge};
use crate::state::State;

/// What the admin endpoints read.
#[derive(Debug, Clone)]
pub struct Admin {
    pub state: Arc<ArcSwap<State>>,
    pub health: Arc<Health>,
}

pub async fn serve(listener: TcpListener, admin: Admin, shutdown: impl Future<Output = ()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let admin = admin.clone();
        let service = service_fn(move |req| {
            let admin = admin.clone();
            async move { Ok::<_, Infallible>(admin.handle(req).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), graceful.shutdown()).await;
}

impl Admin {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
            (&Method::GET, "/readyz") => {
                if self.health.probe_due() {
                    let state = self.state.load_full();
                    if let Some(introspector) = state.introspector.clone() {
                        tokio::spawn(async move { introspector.probe().await });
                    }
                }
                if !self.state.load().jwt.is_ready() {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: a [[jwt]] issuer has never had a usable key set\n",
                    )
                } else if self.health.is_ready() {
                    text(StatusCode::OK, "ready\n")
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: the last 3 introspection calls failed\n",
                    )
                }
            }
            (&Method::GET, "/metrics") => {
                let state = self.state.load_full();
                let entries = state.cache_entries().await;
                state
                    .metrics
                    .cache_entries
                    .set(i64::try_from(entries).unwrap_or(i64::MAX));
                let mut rsp = Response::new(Full::new(Bytes::from(state.metrics.render())));
                rsp.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                rsp
            }
            (&Method::POST, "/cache/purge") => self.purge(req).await,
            (_, "/healthz" | "/readyz" | "/metrics" | "/cache/purge") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    async fn purge(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return json(
                    StatusCode::BAD_REQUEST,
                    r#"{"error":"body unreadable or over 64 KiB"}"#,
                )
            }
        };
        let purge = match parse_purge(&body) {
            Ok(p) => p,
            Err(why) => {
                let body = serde_json::json!({ "error": why }).to_string();
                return json(StatusCode::BAD_REQUEST, &body);
            }
        };
        self.state.load().purge(&purge);
        tracing::info!(purge = ?PurgeLog(&purge), "introspection cache purged");
        json(StatusCode::OK, r#"{"purged":true}"#)
    }
}

/// Logs what was purged without echoing a subject verbatim at info level.
struct PurgeLog<'a>(&'a Purge);

impl std::fmt::Debug for PurgeLog<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Purge::All => f.write_str("all"),
            Purge::Subject(_) => f.write_str("subject"),
            Purge::TokenSha256(_) => f.write_str("token_sha256"),
        }
    }
}

/// `{}` → all; `{"subject":"alice"}`; `{"token_sha256":"<64 hex>"}`.
pub fn parse_purge(body: &[u8]) -> Result<Purge, &'static str> {
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|_| "body is not JSON")?;
    let serde_json::Value::Object(map) = value else {
        return Err("body must be a JSON object");
    };
    match (map.get("subject"), map.get("token_sha256"), map.len()) {
        (None, None, 0) => Ok(Purge::All),
        (Some(serde_json::Value::String(s)), None, 1) if !s.is_empty() => {
            Ok(Purge::Subject(s.clone()))
        }
        (None, Some(serde_json::Value::String(h)), 1) => {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(h.trim(), &mut digest)
                .map_err(|_| "token_sha256 must be 64 hex digits")?;
            Ok(Purge::TokenSha256(digest))
        }
        _ => Err("expected {}, {\"subject\": \"...\"} or {\"token_sha256\": \"<hex>\"}"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    rsp
}

fn json(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(body.to_owned())));
    *rsp.status_mut() = status;
    rsp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_bodies() {
        assert_eq!(parse_purge(b"{}"), Ok(Purge::All));
        assert_eq!(parse_purge(b""), Ok(Purge::All));
        assert_eq!(
            parse_purge(br#"{"subject":"alice"}"#),
            Ok(Purge::Subject("alice".into()))
        );
        let hex = "ab".repeat(32);
        assert_eq!(
            parse_purge(format!(r#"{{"token_sha256":"{hex}"}}"#).as_bytes()),
            Ok(Purge::TokenSha256([0xab; 32]))
        );
        assert!(parse_purge(br#"{"token_sha256":"zz"}"#).is_err());
        assert!(parse_purge(br#"{"subject":"a","token_sha256":"b"}"#).is_err());
        assert!(parse_purge(br#"{"sub":"a"}"#).is_err());
        assert!(parse_purge(b"[]").is_err());
    }
}
