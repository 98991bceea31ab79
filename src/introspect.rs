//! Token validation (SPEC §3.3, §5): the cache, single flight, and the RFC 7662 client.

pub mod info;

pub use info::{Expectations, TokenInfo};

/// Why no introspection answer could be had; every variant fails closed (503).
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    #[error("introspection request timed out")]
    Timeout,
}
