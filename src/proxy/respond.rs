//! After the upstream answered: field filtering (docs/reference.md#field-filtering) and WebSocket tunnels
//! (docs/reference.md#operations).

use std::time::Duration;

use http::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use http_body_util::BodyExt;
use hyper::body::Body as _;

use crate::body::{self, CollectError, ProxyBody};
use crate::clock::now_unix;
use crate::conn::ConnectionSlot;
use crate::filter::{is_json_content_type, FilterError};
use crate::header_name;
use crate::introspect::Revocation;
use crate::policy::Grant;
use crate::rejection::Rejection;

/// On a route whose response will be filtered, ask the upstream for the whole, plain
/// document: we filter only what we can read. `Range`/`If-Range` (any spelling) go, so
/// no part of a document can pass as a document.
pub(crate) fn prepare_for_filtering(grant: &Grant<'_>, headers: &mut HeaderMap) {
    if needs_filtering(grant) {
        let ranged: Vec<http::HeaderName> = headers
            .keys()
            .filter(|k| {
                header_name::same("range", k.as_str()) || header_name::same("if-range", k.as_str())
            })
            .cloned()
            .collect();
        for name in ranged {
            headers.remove(&name);
        }
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
}

/// Whether the route filters some field this grant's token has no scope for.
pub(crate) fn needs_filtering(grant: &Grant<'_>) -> bool {
    grant
        .route()
        .fields
        .as_ref()
        .is_some_and(|rules| rules.removes_any(&|scope| grant.has_scope(scope)))
}

/// Streams the response through, unless the route filters fields the grant does not
/// cover: then a JSON answer is buffered (bounded), filtered and re-sized, and nothing
/// the filter cannot read passes (docs/reference.md#field-filtering): a 206, a non-JSON 2xx with a body, a
/// compressed or invalid or oversize JSON body are 502. HEAD, 204, 304, empty bodies
/// and non-2xx answers in other formats pass.
pub(crate) async fn filter(
    rsp: Response<Incoming>,
    grant: &Grant<'_>,
    limit: usize,
) -> Result<Response<ProxyBody>, Rejection> {
    // Most routes have no `fields`: nothing else is looked at for them.
    let Some(rules) = grant
        .route()
        .fields
        .as_ref()
        .filter(|_| needs_filtering(grant))
    else {
        return Ok(rsp.map(body::streamed));
    };
    let status = rsp.status();
    let bodiless = grant.target().method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless {
        return Ok(rsp.map(body::streamed));
    }
    if status == StatusCode::PARTIAL_CONTENT {
        return Err(Rejection::Unfilterable(FilterError::Partial));
    }
    let is_json = rsp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_content_type);
    if !is_json {
        if !status.is_success() {
            return Ok(rsp.map(body::streamed));
        }
        return pass_if_empty(rsp).await;
    }
    if let Some(encoding) = rsp
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().eq_ignore_ascii_case("identity"))
    {
        return Err(Rejection::Unfilterable(FilterError::Encoded(
            encoding.to_owned(),
        )));
    }
    let (mut parts, incoming) = rsp.into_parts();
    let buf = body::collect_limited(incoming, &parts.headers, limit)
        .await
        .map_err(|e| {
            Rejection::Unfilterable(match e {
                CollectError::TooLarge { limit } => FilterError::TooLarge { limit },
                CollectError::Read(e) => FilterError::Read(Box::new(e)),
            })
        })?;
    let filtered = rules
        .filter(&buf, &|scope| grant.has_scope(scope))
        .map_err(Rejection::Unfilterable)?;
    parts.headers.remove(TRANSFER_ENCODING);
    // The representation changed: a strong validator no longer describes it.
    parts.headers.remove(ETAG);
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(filtered.len()));
    Ok(Response::from_parts(parts, body::full(filtered)))
}

/// A non-JSON 2xx on a filtering route passes only when it has no body at all; the first
/// byte of a body makes it 502 (it could be the same data in another format).
async fn pass_if_empty(rsp: Response<Incoming>) -> Result<Response<ProxyBody>, Rejection> {
    let (parts, mut incoming) = rsp.into_parts();
    while !incoming.is_end_stream() {
        match incoming.frame().await {
            None => break,
            Some(Ok(frame)) if frame.data_ref().is_some_and(|d| !d.is_empty()) => {
                return Err(Rejection::Unfilterable(FilterError::NotJson));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(Rejection::Unfilterable(FilterError::Read(Box::new(e)))),
        }
    }
    Ok(Response::from_parts(parts, body::empty()))
}

/// A `101 Switching Protocols` from the upstream: answer the client with it, then copy
/// bytes both ways until either side closes or the token's lifetime ends — a tunnel
/// never outlives its token (`exp`, or the cache `ttl` for a token without one, since a
/// token is re-checked at least that often on ordinary requests), nor a purge of its
/// token. It holds the connection's `slot` while open (docs/reference.md#limits).
pub(crate) fn tunnel(
    rsp: Response<Incoming>,
    client: OnUpgrade,
    grant: &Grant<'_>,
    ttl: Duration,
    slot: Option<ConnectionSlot>,
    revocation: Option<Revocation>,
) -> Response<ProxyBody> {
    let lifetime = grant.token().map(|t| match t.exp() {
        Some(exp) => Duration::from_secs(u64::try_from(exp - now_unix()).unwrap_or(0)),
        None => ttl,
    });
    let (mut parts, upstream_body) = rsp.into_parts();
    let upstream = hyper::upgrade::on(Response::from_parts(parts.clone(), upstream_body));
    tokio::spawn(async move {
        let _slot = slot;
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
        // A public route has no token to outlive or to be purged.
        let expired = async {
            match lifetime {
                Some(lifetime) => tokio::time::sleep(lifetime).await,
                None => std::future::pending().await,
            }
        };
        let purged = async {
            match revocation {
                Some(mut revocation) => revocation.evicted().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = copy => {}
            () = expired => tracing::info!("websocket tunnel closed: token lifetime ended"),
            () = purged => tracing::info!("websocket tunnel closed: token purged"),
        }
    });
    parts.extensions = http::Extensions::new();
    Response::from_parts(parts, body::empty())
}
