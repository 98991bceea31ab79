//! The errors of the two remote sides a request depends on: the authorization server
//! ([`IntrospectError`]) and the upstream ([`ForwardError`]).
//!
//! A leaf, so that [`crate::rejection::Rejection`] can carry them as its `#[source]`
//! (docs/reference.md#errors) without depending on the modules that produce them
//! (`introspect`, `forward`), which in turn return `Rejection`s. Both are re-exported
//! at their old paths (`introspect::IntrospectError`, `forward::ForwardError`).
//!
//! [`Chain`] is the one printer of an error and its `source()` chain (logs, CLI).
//! Following hyper, each `Display` prints one level and never its source.

use std::sync::Arc;

use crate::claims::ParseError;

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
    #[error("introspection answer unparseable")]
    Unparseable(#[source] ParseError),
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

/// An error and its `source()` chain on one line (`a: b: c`), for logs and the CLI,
/// never for clients (their text is fixed per [`crate::rejection::Rejection`]).
pub struct Chain<'a>(pub &'a dyn std::error::Error);

// === impl Chain ===

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_prints_every_level_once() {
        let json = serde_json::from_slice::<serde_json::Value>(b"{").unwrap_err();
        let json_text = json.to_string();
        let e = IntrospectError::Shared(Arc::new(IntrospectError::Unparseable(ParseError::Json(
            json,
        ))));
        assert_eq!(
            Chain(&e).to_string(),
            format!(
                "introspection failed: introspection answer unparseable: answer is not valid JSON: {json_text}"
            )
        );
    }
}
