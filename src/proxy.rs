//! `Proxy::handle` and the pipeline: the steps of docs/reference.md#request-handling, in order, and nothing else.
//!
//! Read `pipeline` top to bottom to check the two invariants that matter: client
//! identity headers are stripped before anything is forwarded, and nothing is
//! forwarded without a [`crate::policy::Grant`] built for exactly this method and path.

pub(crate) mod context;
pub(crate) mod respond;

use std::sync::Arc;

use arc_swap::ArcSwap;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING, UPGRADE};
use http::uri::PathAndQuery;
use http::{Request, Response, Version};
use hyper::body::Incoming;

use self::context::RequestContext;
use crate::body::{self, ProxyBody};
use crate::forward::Downstream;
use crate::metrics::Outcome;
use crate::policy::{Grant, Target};
use crate::rejection::Rejection;
use crate::state::State;
use crate::{path, token};

/// The proxy: the current state, swapped on reload.
#[derive(Debug, Clone)]
pub(crate) struct Proxy {
    state: Arc<ArcSwap<State>>,
}

impl Proxy {
    pub(crate) fn new(state: Arc<ArcSwap<State>>) -> Self {
        Self { state }
    }

    /// Answers one request; never hands an error to hyper.
    pub(crate) async fn handle(
        &self,
        req: Request<Incoming>,
        downstream: Downstream,
    ) -> Response<ProxyBody> {
        // One config snapshot per request (reload.rs).
        let state = self.state.load_full();
        let mut cx = RequestContext::start(&req);
        let mut rsp = match pipeline(&state, req, downstream, &mut cx).await {
            Ok(rsp) => rsp,
            Err(rejection) => {
                cx.reject(&rejection);
                rejection.into_response(&state.config.token.realm)
            }
        };
        // Like pingora's `logging`: runs on success and on failure.
        cx.finish(&mut rsp, &state);
        rsp
    }
}

impl crate::server::Handler for Proxy {
    fn with_limits<R>(&self, f: impl FnOnce(&Arc<crate::server::Limits>) -> R) -> R {
        f(&self.state.load().config.listen.limits)
    }

    fn respond(
        &self,
        req: Request<Incoming>,
        downstream: Downstream,
    ) -> impl std::future::Future<Output = Response<ProxyBody>> + Send {
        self.handle(req, downstream)
    }
}

/// docs/reference.md#request-handling, steps 1–9: decide, then forward. Each step returns `Result<_, Rejection>`.
async fn pipeline(
    state: &State,
    req: Request<Incoming>,
    downstream: Downstream,
    cx: &mut RequestContext,
) -> Result<Response<ProxyBody>, Rejection> {
    let (mut parts, incoming) = req.into_parts();
    // A request body dropped unread from here on is drained, not reset (docs/reference.md#request-handling
    // "Answering early").
    let mut body = body::request(incoming);
    let grant = decide(state, &mut parts, &mut body, cx).await?;
    forward(state, parts, body, &grant, downstream, cx).await
}

/// Steps 1–6: may this request pass, and as whom? Strips what must not reach the
/// upstream from `parts` and replaces `body` when it had to be read.
///
/// Two callers: [`pipeline`] (then [`forward`]) on the proxy listener, and
/// [`crate::decision`] on the decision listener, which answers with the grant's
/// identity instead of forwarding — one authorization for both.
pub(crate) async fn decide<'s>(
    state: &'s State,
    parts: &mut http::request::Parts,
    body: &mut ProxyBody,
    cx: &mut RequestContext,
) -> Result<Grant<'s>, Rejection> {
    check_framing(parts, state.config.listen.limits.max_header_bytes)?;

    // 1. The path that is authorized is the path that is forwarded, byte for byte.
    path::check(parts.uri.path()).map_err(|why| {
        tracing::debug!(reason = %why, "unsafe path");
        Rejection::UnsafePath
    })?;

    if parts
        .uri
        .query()
        .is_some_and(|q| token::overrides_method(q.as_bytes(), &parts.method))
    {
        return Err(Rejection::BadRequest(token::METHOD_OVERRIDE));
    }

    // 2. Deny by default.
    let route = state
        .config
        .routes
        .match_request(&parts.method, parts.uri.path())
        .ok_or(Rejection::NoRoute)?;
    cx.route = Some(route.index());

    // 3. Client-sent identity headers go on every route, public ones included.
    state.identity.strip(&mut parts.headers);

    let mut target = Target {
        method: parts.method.clone(),
        path_and_query: parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    };

    if route.is_public() {
        cx.outcome_on_success = Outcome::Public;
        // Not validated here, so never passed on when tokens must not be.
        if !state.config.token.forward {
            if let Some(query) = token::remove_unvalidated(&mut parts.headers, parts.uri.query()) {
                target.path_and_query = rebuild_path_and_query(parts.uri.path(), &query)?;
            }
        }
        return Ok(route.grant_public(target));
    }

    // 4. RFC 6750 §2: header | form | query.
    let extraction = token::extract(
        &state.config.token,
        &parts.method,
        &mut parts.headers,
        parts.uri.query(),
        body,
        state.config.listen.limits.header_read_timeout,
    )
    .await?;
    if let Some(query) = extraction.query {
        target.path_and_query = rebuild_path_and_query(parts.uri.path(), &query)?;
    }
    if let Some(form) = extraction.body {
        *body = body::full(form);
    }
    let (token, source) = extraction.token.ok_or(Rejection::MissingToken)?;
    cx.token_source(source, &state.metrics);

    // 5. A JWT of a configured issuer locally, else introspection (cached answer, else
    // one call per token); the claims are checked fresh on every request.
    let info = state.validator.validate(&token, route.introspect).await?;
    cx.token = Some(info.clone());
    if is_websocket_upgrade(&parts.headers) {
        // Subscribed before forwarding, so no purge between here and the tunnel is missed.
        // Without [introspection] (JWT only) a tunnel still closes at the cache ttl / exp.
        cx.revocation = state
            .validator
            .introspector()
            .map(|introspector| introspector.watch(&token, &info));
    }

    // 6. Scopes and owner binding → proof of authorization.
    let grant = route.authorize(target, info)?;
    // docs/reference.md#field-filtering: a tunnel cannot be filtered, so an upgrade on a `fields` route needs
    // every field's scope.
    if is_websocket_upgrade(&parts.headers) && respond::needs_filtering(&grant) {
        return Err(Rejection::InsufficientScope {
            required: route.required_scopes_with_fields(),
        });
    }
    Ok(grant)
}

/// Steps 7–9: the upstream request is built from the grant, sent, and its answer
/// filtered.
async fn forward(
    state: &State,
    mut parts: http::request::Parts,
    body: ProxyBody,
    grant: &Grant<'_>,
    downstream: Downstream,
    cx: &mut RequestContext,
) -> Result<Response<ProxyBody>, Rejection> {
    // Decision-only configs run no proxy listener; a reload cannot remove [upstream].
    let (Some(forwarder), Some(upstream)) = (&state.forwarder, &state.config.upstream) else {
        return Err(Rejection::Internal("no [upstream] configured"));
    };
    // 7. Identity from the answer; hop-by-hop and forwarding headers per docs/reference.md#forwarding.
    let on_upgrade = is_websocket_upgrade(&parts.headers)
        .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
        .flatten();
    // A tunnel keeps its connection's max_connections slot until it closes.
    let slot = parts.extensions.remove::<crate::conn::ConnectionSlot>();
    let mut upstream_req =
        forwarder.prepare(parts, body, grant, downstream, on_upgrade.is_some())?;
    if let Some(info) = grant.token() {
        state.identity.inject(upstream_req.headers_mut(), info);
    }
    cx.forward_request_id(upstream_req.headers_mut());
    respond::prepare_for_filtering(grant, upstream_req.headers_mut());

    // 8. Forward, streaming.
    let started = tokio::time::Instant::now();
    let rsp = forwarder.forward(upstream_req).await;
    cx.upstream_elapsed = Some(started.elapsed());
    let rsp = rsp?;

    if rsp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        if let Some(on_upgrade) = on_upgrade {
            let ttl = state.config.cache().ttl;
            let revocation = cx.revocation.take();
            return Ok(respond::tunnel(
                rsp, on_upgrade, grant, ttl, slot, revocation,
            ));
        }
    }
    // 9. Fields the grant does not cover are removed (answers to upgrade requests that
    // did not switch protocols included).
    respond::filter(rsp, grant, upstream.max_filtered_body).await
}

/// docs/reference.md#limits and RFC 9112 §6.3: ambiguous framing or two `Host` headers are
/// refused rather than guessed at, so no request smuggling can pass through.
///
/// hyper bounds the HTTP/1 header buffer at 8 KiB at least, so smaller
/// `max_header_bytes` settings are enforced here, on the parsed head (request line
/// plus `name: value\r\n` per field), for HTTP/1 and HTTP/2 alike.
fn check_framing(parts: &http::request::Parts, max_header_bytes: usize) -> Result<(), Rejection> {
    let line = parts.method.as_str().len()
        + parts.uri.path_and_query().map_or(1, |p| p.as_str().len())
        + 12;
    let size = parts.headers.iter().fold(line, |n, (name, value)| {
        n + name.as_str().len() + value.len() + 4
    });
    if size > max_header_bytes {
        return Err(Rejection::HeadersTooLarge);
    }
    let mut hosts = parts.headers.get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Rejection::BadRequest("more than one Host header"));
    }
    match parts.version {
        // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to
        // any HTTP/1.1 request message that lacks a Host header field".
        Version::HTTP_11 if host.is_none() => {
            return Err(Rejection::BadRequest("the Host header is missing"));
        }
        // RFC 9113 §8.3.1: a `host` field that disagrees with `:authority` makes the
        // request malformed; forwarding it would let the two name different hosts.
        Version::HTTP_2 => {
            if let (Some(host), Some(authority)) = (host, parts.uri.authority()) {
                if !host
                    .as_bytes()
                    .eq_ignore_ascii_case(authority.as_str().as_bytes())
                {
                    return Err(Rejection::BadRequest(
                        "the host field disagrees with :authority",
                    ));
                }
            }
        }
        _ => {}
    }
    if parts.headers.contains_key(TRANSFER_ENCODING) && parts.headers.contains_key(CONTENT_LENGTH) {
        return Err(Rejection::BadRequest(
            "both Transfer-Encoding and Content-Length",
        ));
    }
    if parts
        .headers
        .get_all(CONTENT_LENGTH)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(Rejection::BadRequest("more than one Content-Length header"));
    }
    Ok(())
}

fn is_websocket_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
        && headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

fn rebuild_path_and_query(path: &str, query: &str) -> Result<PathAndQuery, Rejection> {
    let text = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    PathAndQuery::try_from(text).map_err(|_| Rejection::Internal("rebuilt query"))
}
