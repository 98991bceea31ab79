//! The one body type that flows through the proxy in both directions.
//!
//! Streaming bodies stay `Incoming` end to end (no copy); bodies scopegate had to
//! build or buffer (error answers, a rewritten form, a filtered JSON document) are
//! `Full`. An enum instead of a boxed trait object keeps the hot path free of an
//! allocation per request.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
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
