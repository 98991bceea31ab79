//! The introspection cache (docs/reference.md#introspection-cache): moka, keyed by [`TokenDigest`], per-entry
//! lifetime `min(ttl, exp - now)` for active answers and `negative_ttl` for inactive
//! ones. The answer is cached, never the decision.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use moka::Expiry;
use sha2::{Digest, Sha256};

use super::TokenInfo;
pub use crate::claims::now_unix;
use crate::config::CacheConfig;

/// SHA-256 of the endpoint, the client id and the token: the cache key. Never the raw token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenDigest({})", hex::encode(&self.0[..6]))
    }
}

/// One cached answer.
#[derive(Debug)]
pub struct Entry {
    pub info: Arc<TokenInfo>,
    /// SHA-256 of the raw token alone, for `POST /cache/purge {"token_sha256"}`.
    pub token_sha256: [u8; 32],
    /// How long moka keeps it.
    lifetime: Duration,
}

/// Keys and lifetimes for one (endpoint, client id).
#[derive(Clone)]
pub struct Keyer {
    prefix: Sha256,
}

/// What `POST /cache/purge` evicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    All,
    Subject(String),
    TokenSha256([u8; 32]),
}

pub type AnswerCache = Cache<TokenDigest, Arc<Entry>>;

struct EntryExpiry;

// === impl Keyer ===

impl Keyer {
    pub fn new(endpoint: &str, client_id: &str) -> Self {
        let mut prefix = Sha256::new();
        // Length-prefixed so that no (endpoint, client id, token) triple can collide
        // with another by moving bytes across the boundaries.
        for part in [endpoint.as_bytes(), client_id.as_bytes()] {
            prefix.update((part.len() as u64).to_be_bytes());
            prefix.update(part);
        }
        Self { prefix }
    }

    pub fn digest(&self, token: &[u8]) -> TokenDigest {
        let mut h = self.prefix.clone();
        h.update(token);
        TokenDigest(h.finalize().into())
    }
}

// === impl Entry ===

impl Entry {
    /// An entry that lives `min(ttl, exp - now)` if active, `negative_ttl` if not.
    pub fn new(info: Arc<TokenInfo>, token: &[u8], config: &CacheConfig, extra: Duration) -> Self {
        let lifetime = if info.is_active() {
            let ttl = config.ttl + extra;
            match info.exp() {
                Some(exp) => ttl.min(Duration::from_secs(
                    u64::try_from(exp - now_unix()).unwrap_or(0),
                )),
                None => ttl,
            }
        } else {
            config.negative_ttl
        };
        Self {
            info,
            token_sha256: Sha256::digest(token).into(),
            lifetime,
        }
    }

    pub fn matches(&self, purge: &Purge) -> bool {
        match purge {
            Purge::All => true,
            Purge::Subject(s) => self.info.subject() == Some(s.as_str()),
            Purge::TokenSha256(d) => &self.token_sha256 == d,
        }
    }
}

/// Builds a bounded cache whose entries expire per [`Entry`] lifetime.
pub fn build(max_entries: u64) -> AnswerCache {
    Cache::builder()
        .max_capacity(max_entries)
        .expire_after(EntryExpiry)
        .support_invalidation_closures()
        .build()
}

// The trait's signature names std's Instant; we never read it.
#[allow(clippy::disallowed_types)]
impl Expiry<TokenDigest, Arc<Entry>> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenDigest,
        value: &Arc<Entry>,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.lifetime)
    }
}
