//! The one body type that flows through the proxy in both directions.
//!
//! Streaming bodies stay `Incoming` end to end (no copy); bodies scopegate had to
//! build or buffer (error answers, a rewritten form, a filtered JSON document) are
//! `Full`. An enum instead of a boxed trait object keeps the hot path free of an
//! allocation per request.

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;

/// A request or response body: streamed from the peer, or built here.
pub type ProxyBody = Either<Incoming, Full<Bytes>>;

/// A body built in memory.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Either::Right(Full::new(bytes.into()))
}

/// An empty body.
pub fn empty() -> ProxyBody {
    Either::Right(Full::new(Bytes::new()))
}

/// A streamed body.
pub fn streamed(body: Incoming) -> ProxyBody {
    Either::Left(body)
}
