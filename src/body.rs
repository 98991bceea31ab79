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
    /// Streamed from the peer. `trailers: false` drops trailer frames (SPEC §3.5:
    /// request trailers never reach the upstream).
    Streamed { body: Incoming, trailers: bool },
    /// Built or buffered here; `None` once sent.
    Full(Option<Bytes>),
}

/// A body built in memory.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    let bytes = bytes.into();
    ProxyBody::Full((!bytes.is_empty()).then_some(bytes))
}

/// An empty body.
pub fn empty() -> ProxyBody {
    ProxyBody::Full(None)
}

/// A streamed body, trailers included (responses).
pub fn streamed(body: Incoming) -> ProxyBody {
    ProxyBody::Streamed {
        body,
        trailers: true,
    }
}

/// A streamed body whose trailers are dropped (requests).
pub fn streamed_without_trailers(body: Incoming) -> ProxyBody {
    ProxyBody::Streamed {
        body,
        trailers: false,
    }
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
            ProxyBody::Streamed { body, trailers } => loop {
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) if !*trailers && !frame.is_data() => continue,
                    other => return other,
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(bytes) => bytes.is_none(),
            ProxyBody::Streamed { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ProxyBody::Streamed { body, .. } => body.size_hint(),
        }
    }
}

/// Why [`collect_limited`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the body failed")]
    Read(#[source] hyper::Error),
}

/// Reads a whole body that may be buffered (form, JSON to filter, introspection
/// answer), refusing more than `limit` bytes: before reading when `Content-Length`
/// already says so, and while reading otherwise. Trailers are dropped.
pub async fn collect_limited(
    mut body: Incoming,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, CollectError> {
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
