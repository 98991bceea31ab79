//! The errors of the two remote sides a request depends on: the authorization server
//! ([`IntrospectError`]) and the upstream ([`ForwardError`]).
//!
//! A leaf, so that [`crate::rejection::Rejection`] can carry them as its `#[source]`
//! (docs/reference.md#errors) without depending on the modules that produce them
//! (`introspect`, `forward`), which in turn return `Rejection`s. Both are re-exported
//! at their old paths (`introspect::IntrospectError`, `forward::ForwardError`).

use std::sync::Arc;

/// Why no introspection answer could be had; every variant fails closed (503).
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    #[error("introspection request timed out")]
    Timeout,
    #[error("authorization server unreachable")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("authorization server answered HTTP {0}")]
    Status(u16),
    #[error("introspection answer larger than 1 MiB")]
    TooLarge,
    #[error("introspection answer unparseable: {0}")]
    Unparseable(String),
    #[error("introspection request could not be built")]
    Request,
    #[error("introspection failed")]
    Shared(#[source] Arc<IntrospectError>),
}

/// Why the upstream exchange failed (502); a timeout is its own rejection (504).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("upstream connection failed")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("upstream exchange failed")]
    Exchange(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("upstream request could not be built")]
    Build(#[source] http::Error),
}
