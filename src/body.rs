//! The one body type that flows through the proxy in both directions.
//!
//! Streaming bodies stay `Incoming` end to end (no copy); bodies scopegate had to
//! build or buffer (error answers, a rewritten form, a filtered JSON document) are
//! `Full`. An enum instead of a boxed trait object keeps the hot path free of an
//! allocation per request.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// A request or response body: streamed from the peer, or built here.
#[derive(Debug)]
pub enum ProxyBody {
    /// Streamed from the peer.
    Streamed(Streamed),
    /// Built or buffered here; `None` once sent.
    Full(Option<Bytes>),
}

/// A body streamed from a peer.
#[derive(Debug)]
pub struct Streamed {
    /// `None` only while being dropped.
    body: Option<Incoming>,
    /// A request body: trailers are dropped (docs/reference.md#forwarding: request trailers never reach
    /// the upstream), and a body dropped before its end is drained (see [`drain`]).
    request: bool,
    /// The peer's last frame has been seen.
    ended: bool,
}

/// docs/reference.md#answering-early: at most this much of an unread request body is read and
/// discarded after scopegate answered, and for at most this long.
pub(crate) const DRAIN_BYTES: usize = 1024 * 1024;
pub(crate) const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// A body built in memory.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    let bytes = bytes.into();
    ProxyBody::Full((!bytes.is_empty()).then_some(bytes))
}

/// An empty body.
pub fn empty() -> ProxyBody {
    ProxyBody::Full(None)
}

/// A streamed response body, trailers included.
pub(crate) fn streamed(body: Incoming) -> ProxyBody {
    ProxyBody::Streamed(Streamed {
        body: Some(body),
        request: false,
        ended: false,
    })
}

/// A client's request body: trailers dropped, drained when dropped unread.
pub(crate) fn request(body: Incoming) -> ProxyBody {
    ProxyBody::Streamed(Streamed {
        body: Some(body),
        request: true,
        ended: false,
    })
}

// === impl Streamed ===

impl Drop for Streamed {
    fn drop(&mut self) {
        let Some(body) = self.body.take() else { return };
        if self.request && !self.ended && !body.is_end_stream() {
            drain(body);
        }
    }
}

/// docs/reference.md#answering-early: a client still sending its body when scopegate (or the
/// upstream) has answered would get a reset instead of the answer (RFC 9113 §8.1; many
/// HTTP/2 client libraries then drop the answer; an HTTP/1.1 close with unread data makes
/// the kernel send RST). So the rest of the body is read and discarded, bounded in bytes
/// and time, while the answer goes out; then the body is released: HTTP/2 ends the
/// stream with `RST_STREAM(NO_ERROR)` (the response is complete by then), HTTP/1.1
/// closes the connection — or keeps it when the whole body arrived. Nothing read here
/// goes anywhere.
fn drain(mut body: Incoming) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let started = tokio::time::Instant::now();
        let deadline = started + DRAIN_TIME;
        let mut read = 0usize;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
            read += frame.data_ref().map_or(0, Bytes::len);
            if read > DRAIN_BYTES {
                // Let the answer leave before the reset does.
                tokio::time::sleep_until(started + std::time::Duration::from_millis(100)).await;
                break;
            }
        }
    });
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ProxyBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ProxyBody::Streamed(streamed) => {
                let Some(body) = streamed.body.as_mut() else {
                    return Poll::Ready(None);
                };
                loop {
                    match Pin::new(&mut *body).poll_frame(cx) {
                        Poll::Ready(Some(Ok(frame))) if streamed.request && !frame.is_data() => {
                            continue
                        }
                        Poll::Ready(None) => {
                            streamed.ended = true;
                            return Poll::Ready(None);
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(bytes) => bytes.is_none(),
            ProxyBody::Streamed(s) => s.ended || s.body.as_ref().is_none_or(Body::is_end_stream),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ProxyBody::Streamed(s) => s
                .body
                .as_ref()
                .map_or_else(SizeHint::default, Body::size_hint),
        }
    }
}

/// Why [`collect_limited`] gave up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CollectError {
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the body failed")]
    Read(#[source] hyper::Error),
}

/// Reads a whole body that may be buffered (form, JSON to filter, introspection
/// answer), refusing more than `limit` bytes: before reading when `Content-Length`
/// already says so, and while reading otherwise. Trailers are dropped. Pass a
/// `&mut ProxyBody` to keep ownership (a request body left unread is then drained).
pub(crate) async fn collect_limited<B>(
    mut body: B,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, CollectError>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(CollectError::TooLarge { limit });
    }
    let mut buf = BytesMut::with_capacity(declared.map_or(8 * 1024, |n| n as usize).min(limit));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(CollectError::Read)?.into_data() {
            if buf.len() + data.len() > limit {
                return Err(CollectError::TooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
