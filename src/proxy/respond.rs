//! After the upstream answered: field filtering (SPEC §3.6) and WebSocket tunnels
//! (SPEC §7).

use std::time::Duration;

use http::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::body::{self, CollectError, ProxyBody};
use crate::filter::{is_json_content_type, FilterError};
use crate::introspect::now_unix;
use crate::policy::Grant;
use crate::rejection::Rejection;
use crate::server::ConnectionSlot;

/// On a route whose response will be filtered, ask the upstream for an uncompressed
/// answer: we filter only what we can read.
pub fn prepare_for_filtering(grant: &Grant<'_>, headers: &mut HeaderMap) {
    if needs_filtering(grant) {
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
}

fn needs_filtering(grant: &Grant<'_>) -> bool {
    grant
        .route()
        .fields
        .as_ref()
        .is_some_and(|rules| rules.removes_any(&|scope| grant.has_scope(scope)))
}

/// Streams the response through, unless the route filters fields the grant does not
/// cover and the answer is JSON: then it is buffered (bounded), filtered and re-sized.
/// An answer that cannot be filtered is never passed on unfiltered (502).
pub async fn filter(
    rsp: Response<Incoming>,
    grant: &Grant<'_>,
    limit: usize,
) -> Result<Response<ProxyBody>, Rejection> {
    let filters = |rsp: &Response<Incoming>| {
        let is_json = rsp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_content_type);
        let bodiless = grant.target().method == Method::HEAD
            || rsp.status() == StatusCode::NO_CONTENT
            || rsp.status() == StatusCode::NOT_MODIFIED;
        is_json && !bodiless && needs_filtering(grant)
    };
    // Most routes have no `fields`: nothing else is looked at for them.
    let Some(rules) = grant.route().fields.as_ref().filter(|_| filters(&rsp)) else {
        return Ok(rsp.map(body::streamed));
    };
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

/// A `101 Switching Protocols` from the upstream: answer the client with it, then copy
/// bytes both ways until either side closes or the token's `exp` passes — a tunnel
/// never outlives its token. It holds the connection's `slot` while open (SPEC §3
/// Limits).
pub fn tunnel(
    rsp: Response<Incoming>,
    client: OnUpgrade,
    grant: &Grant<'_>,
    slot: Option<ConnectionSlot>,
) -> Response<ProxyBody> {
    if rsp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return rsp.map(body::streamed);
    }
    let lifetime = grant
        .token()
        .and_then(|t| t.exp())
        .map(|exp| Duration::from_secs(u64::try_from(exp - now_unix()).unwrap_or(0)));
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
        match lifetime {
            Some(lifetime) => {
                if tokio::time::timeout(lifetime, copy).await.is_err() {
                    tracing::info!("websocket tunnel closed: token expired");
                }
            }
            None => {
                let _ = copy.await;
            }
        }
    });
    parts.extensions = http::Extensions::new();
    Response::from_parts(parts, body::empty())
}
