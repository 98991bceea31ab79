//! Decision mode (`docs/decision-mode.md`): the same authorization as the proxy
//! listener, answered to a front proxy instead of forwarded.
//!
//! NGINX `auth_request`, Traefik and Caddy forward auth and Envoy's HTTP `ext_authz`
//! each ask "may this request pass, and as whom?" with a request of their own that
//! describes the original one. [`Decision::handle`] rebuilds the original request's
//! head from that description ([`original_request`]), runs it through
//! `crate::proxy::decide` — the very function the proxy listener runs, steps 1–6 — and
//! answers 200 with the identity headers, or the proxy listener's refusal, byte for
//! byte. Nothing is ever forwarded from here.
//!
//! | endpoint | original method | original URI |
//! |---|---|---|
//! | `/nginx` | `X-Original-Method` | `X-Original-URI` |
//! | `/forward-auth` | `X-Forwarded-Method` | `X-Forwarded-Uri` |
//! | `/envoy/<rest>` | the request's own | `/<rest>` and the request's query |
//!
//! The listener trusts those headers by design: only the front proxy may reach it.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderName, Method, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::{self, ProxyBody};
use crate::proxy::context::RequestContext;
use crate::rejection::Rejection;
use crate::server::{Accepted, Admission, Builders};
use crate::state::State;
use crate::worker::Pool;

const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");

/// `path_prefix` of Envoy's `ext_authz` HTTP service.
const ENVOY_PREFIX: &str = "/envoy";

/// The decision end: the current state, swapped on reload like the proxy's.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    state: Arc<ArcSwap<State>>,
}

/// Which front proxy is asking, from the decision request's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Nginx,
    ForwardAuth,
    Envoy,
}

impl Decision {
    pub(crate) fn new(state: Arc<ArcSwap<State>>) -> Self {
        Self { state }
    }

    /// Answers one decision request; never hands an error to hyper.
    pub(crate) async fn handle<B>(&self, req: Request<B>) -> Response<ProxyBody> {
        let state = self.state.load_full();
        let mut cx = RequestContext::start(&req);
        // The decision request's own body (there is normally none) is never read: a
        // form body is not seen in this mode.
        let (incoming, _body) = req.into_parts();
        let mut rsp = match answer(&state, incoming, &mut cx).await {
            Ok(rsp) => rsp,
            Err(rejection) => {
                cx.reject(&rejection);
                rejection.into_response(&state.config.token.realm)
            }
        };
        cx.finish(&mut rsp, &state);
        rsp
    }
}

/// The original request through the proxy's steps 1–6, then the answer: 200 with the
/// identity headers set from the grant (none on a public route).
async fn answer(
    state: &State,
    incoming: http::request::Parts,
    cx: &mut RequestContext,
) -> Result<Response<ProxyBody>, Rejection> {
    let original = original_request(incoming);
    cx.for_decision(original.as_ref().ok());
    let mut parts = original?;
    let mut body = body::empty();
    let grant = crate::proxy::decide(state, &mut parts, &mut body, cx).await?;
    let mut rsp = Response::new(body::empty());
    if let Some(info) = grant.token() {
        state.identity.inject(rsp.headers_mut(), info);
    }
    Ok(rsp)
}

/// The head of the request the front proxy is asking about: its method and URI from
/// the endpoint's headers (or, for Envoy, from the decision request itself), and the
/// decision request's headers (`Authorization` included, as the front proxy passed it
/// on). The original body is never seen, so its framing headers are dropped.
pub(crate) fn original_request(
    mut incoming: http::request::Parts,
) -> Result<http::request::Parts, Rejection> {
    let endpoint = match incoming.uri.path() {
        "/nginx" => Endpoint::Nginx,
        "/forward-auth" => Endpoint::ForwardAuth,
        p if p.starts_with("/envoy/") => Endpoint::Envoy,
        _ => {
            return Err(Rejection::BadRequest(
                "unknown decision endpoint; expected /nginx, /forward-auth or /envoy/...",
            ))
        }
    };
    let (method, path_and_query) = match endpoint {
        Endpoint::Nginx => (
            method_from(&incoming.headers, &X_ORIGINAL_METHOD)?,
            uri_from(&incoming.headers, &X_ORIGINAL_URI)?,
        ),
        Endpoint::ForwardAuth => (
            method_from(&incoming.headers, &X_FORWARDED_METHOD)?,
            uri_from(&incoming.headers, &X_FORWARDED_URI)?,
        ),
        Endpoint::Envoy => {
            // `/envoy` + the original `:path`, query included, unchanged.
            let full = incoming
                .uri
                .path_and_query()
                .map_or("/", PathAndQuery::as_str);
            let rest = full.get(ENVOY_PREFIX.len()..).unwrap_or("/");
            let path_and_query = PathAndQuery::try_from(rest)
                .map_err(|_| Rejection::BadRequest("the original URI is malformed"))?;
            (incoming.method.clone(), path_and_query)
        }
    };
    incoming.method = method;
    incoming.uri = Uri::from(path_and_query);
    incoming.headers.remove(CONTENT_LENGTH);
    incoming.headers.remove(TRANSFER_ENCODING);
    Ok(incoming)
}

/// Exactly one header holding exactly one value.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    missing: &'static str,
    twice: &'static str,
) -> Result<&'h [u8], Rejection> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(Rejection::BadRequest(missing))?;
    if values.next().is_some() {
        return Err(Rejection::BadRequest(twice));
    }
    Ok(value.as_bytes())
}

fn method_from(headers: &HeaderMap, name: &HeaderName) -> Result<Method, Rejection> {
    let (missing, twice) = if *name == X_ORIGINAL_METHOD {
        (
            "the X-Original-Method header is missing",
            "more than one X-Original-Method header",
        )
    } else {
        (
            "the X-Forwarded-Method header is missing",
            "more than one X-Forwarded-Method header",
        )
    };
    let value = single(headers, name, missing, twice)?;
    Method::from_bytes(value).map_err(|_| Rejection::BadRequest("the original method is malformed"))
}

/// An origin-form request target (`/path?query`), as the client sent it: the front
/// proxy must pass the raw request URI (`$request_uri`), not a normalised one.
fn uri_from(headers: &HeaderMap, name: &HeaderName) -> Result<PathAndQuery, Rejection> {
    let (missing, twice) = if *name == X_ORIGINAL_URI {
        (
            "the X-Original-URI header is missing",
            "more than one X-Original-URI header",
        )
    } else {
        (
            "the X-Forwarded-Uri header is missing",
            "more than one X-Forwarded-Uri header",
        )
    };
    let value = single(headers, name, missing, twice)?;
    if value.first() != Some(&b'/') {
        return Err(Rejection::BadRequest(
            "the original URI is not an origin-form request target",
        ));
    }
    PathAndQuery::try_from(value)
        .map_err(|_| Rejection::BadRequest("the original URI is malformed"))
}

/// Runs the decision listener (HTTP/1.1 and h2c prior knowledge, `[listen]` limits of
/// the configuration serving at each new connection, like the proxy listener's) until
/// `shutdown` resolves, then lets in-flight answers finish for up to `shutdown_grace`.
/// Connections run on the worker threads, like the proxy's.
pub(crate) async fn serve(
    listener: TcpListener,
    decision: Decision,
    workers: &Pool,
    reloads: watch::Receiver<()>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builders = Builders::new(decision.state.load().config.listen.limits.clone());
    let mut admission = Admission::new(builders.limits().max_connections, reloads);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let current = || {
            let limits = &decision.state.load().config.listen.limits;
            builders.update(limits);
            limits.max_connections
        };
        let (permit, stream) = match admission.accept(&listener, current, &mut shutdown).await {
            Accepted::Connection(permit, stream, _) => (permit, stream),
            Accepted::Reloaded => continue,
            Accepted::Stopped => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let decision = decision.clone();
        let builder = builders.auto.clone();
        let handshake_timeout = builders.limits().header_read_timeout;
        let watcher = graceful.watcher();
        workers.dispatch(async move {
            let _permit = permit;
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                return;
            };
            // As on the proxy listener: a connection that sends nothing is closed.
            let mut first = [0u8; 1];
            match tokio::time::timeout(handshake_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let service = service_fn(move |req: Request<Incoming>| {
                let decision = decision.clone();
                async move { Ok::<_, Infallible>(decision.handle(req).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(error = %e, "decision connection ended with an error");
            }
        });
    }
    drop(listener);
    let grace = decision.state.load().config.listen.limits.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period elapsed; closing remaining decision connections");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parts(method: &str, target: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut req = Request::builder().method(method).uri(target);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    fn refused(p: http::request::Parts) -> String {
        match original_request(p) {
            Ok(p) => panic!("accepted: {} {}", p.method, p.uri),
            Err(Rejection::BadRequest(why)) => why.to_owned(),
            Err(other) => panic!("unexpected rejection {other:?}"),
        }
    }

    #[test]
    fn nginx_takes_the_x_original_headers() {
        let p = original_request(parts(
            "GET",
            "/nginx",
            &[
                ("x-original-method", "DELETE"),
                ("x-original-uri", "/orders/7?access_token=abc&x=1"),
                ("authorization", "Bearer t"),
                ("content-length", "12"),
            ],
        ))
        .unwrap();
        assert_eq!(p.method, Method::DELETE);
        assert_eq!(p.uri.path(), "/orders/7");
        assert_eq!(p.uri.query(), Some("access_token=abc&x=1"));
        assert_eq!(
            p.headers["authorization"],
            HeaderValue::from_static("Bearer t")
        );
        assert!(!p.headers.contains_key(CONTENT_LENGTH));
    }

    #[test]
    fn forward_auth_takes_the_x_forwarded_headers() {
        let p = original_request(parts(
            "GET",
            "/forward-auth",
            &[
                ("x-forwarded-method", "POST"),
                ("x-forwarded-uri", "/orders/"),
                ("x-original-uri", "/ignored"),
            ],
        ))
        .unwrap();
        assert_eq!(p.method, Method::POST);
        assert_eq!(p.uri, "/orders/");
    }

    #[test]
    fn envoy_strips_the_prefix_and_keeps_method_and_query() {
        let p = original_request(parts("PUT", "/envoy/orders/7?a=b%2F", &[])).unwrap();
        assert_eq!(p.method, Method::PUT);
        assert_eq!(p.uri, "/orders/7?a=b%2F");
        let p = original_request(parts("GET", "/envoy/", &[])).unwrap();
        assert_eq!(p.uri, "/");
        // The rest is not normalised here: path safety (step 1 of `decide`) sees it raw.
        let p = original_request(parts("GET", "/envoy/a/%2e%2e/b", &[])).unwrap();
        assert_eq!(p.uri.path(), "/a/%2e%2e/b");
    }

    #[test]
    fn missing_duplicate_or_malformed_headers_are_bad_requests() {
        assert!(
            refused(parts("GET", "/nginx", &[("x-original-method", "GET")]))
                .contains("X-Original-URI header is missing")
        );
        assert!(refused(parts("GET", "/nginx", &[("x-original-uri", "/a")]))
            .contains("X-Original-Method header is missing"));
        assert!(refused(parts(
            "GET",
            "/forward-auth",
            &[("x-forwarded-method", "GET")]
        ))
        .contains("X-Forwarded-Uri header is missing"));
        let twice = parts(
            "GET",
            "/nginx",
            &[
                ("x-original-method", "GET"),
                ("x-original-uri", "/a"),
                ("x-original-uri", "/b"),
            ],
        );
        assert!(refused(twice).contains("more than one X-Original-URI"));
        for bad in ["http://evil/a", "a/b", "*", ""] {
            let p = parts(
                "GET",
                "/nginx",
                &[("x-original-method", "GET"), ("x-original-uri", bad)],
            );
            assert!(refused(p).contains("original URI"), "{bad:?}");
        }
        let p = parts(
            "GET",
            "/nginx",
            &[("x-original-method", "G(T"), ("x-original-uri", "/a")],
        );
        assert!(refused(p).contains("method is malformed"));
    }

    #[test]
    fn other_paths_are_not_endpoints() {
        for path in ["/", "/envoy", "/envoyx/a", "/nginx/", "/forward-auth/x"] {
            assert!(
                refused(parts("GET", path, &[])).contains("unknown decision endpoint"),
                "{path}"
            );
        }
    }
}
