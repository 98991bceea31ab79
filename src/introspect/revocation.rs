//! Purge notices for long-lived connections (docs/reference.md#limits: a WebSocket tunnel is
//! closed when a purge evicts its token).
//!
//! A tunnel holds a [`Revocation`] from [`super::Introspector::watch`] and selects on
//! [`Revocation::evicted`] next to its copy loop. Every `POST /cache/purge` is
//! broadcast; the tunnel decides itself whether that purge covers its token, with the
//! same rule the cache uses (all, subject, or `token_sha256`). Deciding by the purge,
//! not by whether the cache still holds the entry, keeps a normal expiry (or an eviction
//! for space) from closing tunnels, and an entry re-inserted by a later request from
//! keeping one open.

use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::Purge;

/// Resolves once a purge covers one token; see the module docs.
#[derive(Debug)]
pub struct Revocation {
    pub(super) token_sha256: [u8; 32],
    /// The subject the tunnel was authorized with (docs/reference.md#introspection-cache subject rule).
    pub(super) subject: Option<Box<str>>,
    pub(super) purges: broadcast::Receiver<Arc<Purge>>,
}

impl Revocation {
    /// Waits until a purge covers this token. Cancel-safe (use it in `select!`). If
    /// this receiver fell more than a backlog of purges behind, it resolves too: a
    /// purge it did not see may have been this token's (fail closed).
    pub async fn evicted(&mut self) {
        loop {
            match self.purges.recv().await {
                Ok(purge) if self.covered_by(&purge) => return,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return,
                // Every introspector is gone (shutdown): no purge can come any more.
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }

    fn covered_by(&self, purge: &Purge) -> bool {
        match purge {
            Purge::All => true,
            Purge::Subject(s) => self.subject.as_deref() == Some(s.as_str()),
            Purge::TokenSha256(d) => &self.token_sha256 == d,
        }
    }
}
