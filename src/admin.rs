//! The admin listener (docs/reference.md#observability): `/metrics`, `/healthz`, `/readyz`, `POST /cache/purge`.
//! A separate listener, never reachable through the proxy port.
//!
//! Probes and scrapers reach the read-only endpoints from anywhere. A purge can turn
//! the cache off (and load the authorization server), so it is accepted only from a
//! loopback peer or with the `[admin] token_file` bearer (docs/reference.md#introspection-cache); see [`purge_allowed`].

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::config::Secret;
use crate::introspect::{Health, Purge};
use crate::state::State;

/// What the admin endpoints read.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    pub state: Arc<ArcSwap<State>>,
    pub health: Arc<Health>,
}

pub(crate) async fn serve(listener: TcpListener, admin: Admin, shutdown: impl Future<Output = ()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
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
            async move { Ok::<_, Infallible>(admin.handle(req, peer).await) }
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
    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        match (req.method(), req.uri().path()) {
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
            // docs/reference.md#health-and-readiness: ready once the config is loaded and the
            // listeners are bound, which is before this listener accepts anything, and while
            // every [[jwt]] issuer has had a usable key set. An outage of the authorization
            // server shows in `introspection_up`, never here.
            (&Method::GET, "/readyz") => {
                if self.state.load().validator.is_ready() {
                    text(StatusCode::OK, "ready\n")
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not ready: a [[jwt]] issuer has never had a usable key set\n",
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
                state
                    .metrics
                    .introspection_up
                    .set(i64::from(self.health.is_up()));
                let mut rsp = Response::new(Full::new(Bytes::from(state.metrics.render())));
                rsp.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                rsp
            }
            (&Method::POST, "/cache/purge") => {
                // Read per request, so a SIGHUP that rotates token_file applies at once.
                let allowed = {
                    let state = self.state.load();
                    purge_allowed(peer.ip(), req.headers(), state.config.admin.token.as_ref())
                };
                if !allowed {
                    tracing::warn!(peer = %peer.ip(), "cache purge refused: not a loopback peer and no valid admin bearer");
                    return json(
                        StatusCode::FORBIDDEN,
                        r#"{"error":"forbidden","error_description":"purge needs a loopback peer or the admin bearer token"}"#,
                    );
                }
                self.purge(req).await
            }
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
        let state = self.state.load_full();
        match state.purge_everywhere(&purge).await {
            Ok(()) => {
                tracing::info!(purge = ?PurgeLog(&purge), "introspection cache purged");
                json(StatusCode::OK, r#"{"purged":true}"#)
            }
            // docs/reference.md#shared-cache: the local purge happened; Redis did not take it.
            Err(error) => {
                tracing::warn!(purge = ?PurgeLog(&purge), error = %error, "local cache purged, but the shared cache (Redis) could not be purged");
                let body = serde_json::json!({
                    "error": "shared_purge_failed",
                    "error_description": format!("this replica's cache was purged, but the shared cache was not: {error}; other replicas may still serve the purged entries"),
                })
                .to_string();
                json(StatusCode::SERVICE_UNAVAILABLE, &body)
            }
        }
    }
}

/// docs/reference.md#introspection-cache: a loopback peer, or (with `[admin] token_file`) exactly one
/// `Authorization: Bearer <token>` whose token equals the file's contents. The tokens
/// are compared as SHA-256 digests in constant time, so neither the content nor the
/// length of the configured token leaks through timing.
pub(crate) fn purge_allowed(peer: IpAddr, headers: &HeaderMap, token: Option<&Secret>) -> bool {
    if is_loopback(peer) {
        return true;
    }
    let Some(expected) = token else {
        return false;
    };
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Some(presented) = bearer(value.as_bytes()) else {
        return false;
    };
    let presented = Sha256::digest(presented);
    let expected = Sha256::digest(expected.expose().as_bytes());
    bool::from(presented.as_slice().ct_eq(expected.as_slice()))
}

/// 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (`::ffff:127.0.0.1`, which is what a
/// dual-stack `[::]` listener reports for an IPv4 loopback client).
pub(crate) fn is_loopback(peer: IpAddr) -> bool {
    peer.to_canonical().is_loopback()
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1), if non-empty.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
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
pub(crate) fn parse_purge(body: &[u8]) -> Result<Purge, &'static str> {
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

    fn auth(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn loopback_peers_may_purge_without_a_token() {
        for peer in ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = peer.parse().unwrap();
            assert!(purge_allowed(ip, &HeaderMap::new(), None), "{peer}");
        }
    }

    #[test]
    fn other_peers_are_refused_without_a_configured_token() {
        for peer in [
            "10.0.0.7",
            "192.168.1.2",
            "0.0.0.0",
            "::",
            "fe80::1",
            "::ffff:10.0.0.7",
            "::127.0.0.1", // IPv4-compatible (deprecated), not loopback
        ] {
            let ip: IpAddr = peer.parse().unwrap();
            assert!(!purge_allowed(ip, &HeaderMap::new(), None), "{peer}");
            assert!(
                !purge_allowed(ip, &auth(&["Bearer anything"]), None),
                "{peer} with some bearer"
            );
        }
    }

    #[test]
    fn other_peers_need_exactly_the_configured_bearer() {
        let ip: IpAddr = "10.0.0.7".parse().unwrap();
        let token = Secret::new("s3cret-admin");
        let allowed = |h: &HeaderMap| purge_allowed(ip, h, Some(&token));
        assert!(allowed(&auth(&["Bearer s3cret-admin"])));
        assert!(allowed(&auth(&["bearer s3cret-admin"])));
        assert!(allowed(&auth(&["BEARER  s3cret-admin "])));
        for refused in [
            &[][..],
            &["Bearer s3cret-admi"][..],
            &["Bearer s3cret-admin2"][..],
            &["Bearer S3CRET-ADMIN"][..],
            &["Basic s3cret-admin"][..],
            &["Bearers3cret-admin"][..],
            &["Bearer "][..],
            &["s3cret-admin"][..],
            &["Bearer s3cret-admin", "Bearer s3cret-admin"][..],
            &["Bearer wrong", "Bearer s3cret-admin"][..],
        ] {
            assert!(!allowed(&auth(refused)), "{refused:?}");
        }
    }

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
