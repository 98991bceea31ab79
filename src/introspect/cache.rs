//! The introspection cache (docs/reference.md#introspection-cache): moka, keyed by [`TokenDigest`], per-entry
//! lifetime `min(ttl, exp - now)` for active answers and `negative_ttl` for inactive
//! ones. The answer is cached, never the decision.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use moka::Expiry;
use sha2::{Digest, Sha256};

use super::CacheConfig;
use super::TokenInfo;
use crate::clock::{self, millis, now_unix, Instant};

/// The cache key: the token's SHA-256, never the raw token. A purge by `token_sha256`
/// is then a key, so an entry carries no digest of its own. No endpoint or client id
/// goes in: each (endpoint, client id) has its own caches (a reload that changes either
/// starts new ones), so no key can meet another endpoint's answer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest([u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenDigest({})", hex::encode(&self.0[..6]))
    }
}

/// One cached answer. Stored by value in moka's node (no allocation of its own):
/// cloning it is one reference count.
#[derive(Debug, Clone)]
pub struct Entry {
    pub info: Arc<TokenInfo>,
    /// How long it answers, in whole milliseconds (moka keeps it that long too, on its
    /// own clock). A `u32` rather than a `Duration` puts the entry in 32 bytes, not 40;
    /// longer lifetimes are cut to ~49 days, which only ever asks again sooner.
    lifetime_ms: u32,
    /// When it was made: its lifetime counts from here, and the shared cache trusts
    /// only young entries while it cannot hear purges (docs/reference.md#shared-cache).
    created: Instant,
}

/// What `POST /cache/purge` evicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    All,
    Subject(String),
    TokenSha256([u8; 32]),
}

pub(crate) type AnswerCache = Cache<TokenDigest, Entry>;

struct EntryExpiry;

// === impl TokenDigest ===

impl TokenDigest {
    /// The key of `token`.
    pub fn of(token: &[u8]) -> Self {
        Self(Sha256::digest(token).into())
    }

    /// The key of the token whose SHA-256 is `token_sha256` (a purge).
    pub fn from_sha256(token_sha256: [u8; 32]) -> Self {
        Self(token_sha256)
    }
}

// === impl Entry ===

impl Entry {
    /// An entry that lives `min(ttl, exp - now)` if active, `negative_ttl` if not.
    pub fn new(info: Arc<TokenInfo>, config: &CacheConfig, extra: Duration) -> Self {
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
            lifetime_ms: millis(lifetime),
            created: clock::now(),
        }
    }

    /// An entry from the shared cache (docs/reference.md#shared-cache): its remaining
    /// lifetime there, never beyond this replica's own `ttl` (`negative_ttl` when
    /// inactive) nor past `exp`.
    pub fn shared(info: Arc<TokenInfo>, config: &CacheConfig, remaining: Duration) -> Self {
        let mut entry = Self::new(info, config, Duration::ZERO);
        entry.lifetime_ms = entry.lifetime_ms.min(millis(remaining));
        entry
    }

    /// How long the cache keeps it.
    pub fn lifetime(&self) -> Duration {
        Duration::from_millis(self.lifetime_ms.into())
    }

    /// Whether `other` is this very entry (not an equal answer made again).
    pub fn is(&self, other: &Entry) -> bool {
        Arc::ptr_eq(&self.info, &other.info) && self.created == other.created
    }

    /// How long ago it was made.
    pub fn age(&self) -> Duration {
        clock::now().saturating_duration_since(self.created)
    }

    /// Whether it may still answer. Decided on [`crate::clock`], not by moka's expiry,
    /// so that every time check in the crate reads one clock.
    pub fn is_fresh(&self) -> bool {
        !clock::has_passed(self.created, self.lifetime())
    }
}

/// Evicts the entries of `cache` that `purge` covers, at once.
pub(crate) async fn evict(cache: &AnswerCache, purge: &Purge) {
    match purge {
        Purge::All => cache.invalidate_all(),
        // One pass over the entries rather than moka's invalidation closures, which
        // cost every entry ~32 bytes for an operation that is rare (docs/reference.md#cache-entry-size).
        Purge::Subject(s) => {
            let keys: Vec<TokenDigest> = cache
                .iter()
                .filter(|(_, e)| e.info.subject() == Some(s.as_str()))
                .map(|(k, _)| *k)
                .collect();
            for key in keys {
                cache.invalidate(&key).await;
            }
        }
        Purge::TokenSha256(d) => cache.invalidate(&TokenDigest::from_sha256(*d)).await,
    }
}

/// Drops `entry` from `cache` unless another request replaced it meanwhile (then that
/// one stays: dropping it would cost a second call for the token).
pub(crate) async fn remove(cache: &AnswerCache, key: TokenDigest, entry: &Entry) {
    use moka::ops::compute::Op;
    cache
        .entry(key)
        .and_compute_with(|current| {
            let same = current.is_some_and(|c| c.value().is(entry));
            std::future::ready(if same { Op::Remove } else { Op::Nop })
        })
        .await;
}

/// Builds a bounded cache whose entries expire per [`Entry`] lifetime.
pub(crate) fn build(max_entries: u64) -> AnswerCache {
    Cache::builder()
        .max_capacity(max_entries)
        .expire_after(EntryExpiry)
        .build()
}

// The trait's signature names std's Instant; we never read it.
#[allow(clippy::disallowed_types)]
impl Expiry<TokenDigest, Entry> for EntryExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenDigest,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.lifetime())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(claims: serde_json::Value) -> Arc<TokenInfo> {
        let serde_json::Value::Object(map) = claims else {
            unreachable!()
        };
        Arc::new(TokenInfo::from_claims(map).unwrap())
    }

    #[test]
    fn a_shared_entry_lives_what_is_left_never_beyond_ttl_or_exp() {
        let config = CacheConfig {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            ..CacheConfig::default()
        };
        let active = info(serde_json::json!({"active": true}));
        let left = Duration::from_millis(1500);
        assert_eq!(
            Entry::shared(active.clone(), &config, left).lifetime(),
            left
        );
        let long = Duration::from_secs(600);
        assert_eq!(Entry::shared(active, &config, long).lifetime(), config.ttl);
        let soon = info(serde_json::json!({"active": true, "exp": now_unix() + 2}));
        assert!(Entry::shared(soon, &config, long).lifetime() <= Duration::from_secs(2));
        let inactive = info(serde_json::json!({"active": false}));
        assert_eq!(
            Entry::shared(inactive, &config, long).lifetime(),
            config.negative_ttl
        );
    }

    #[test]
    fn an_entry_is_32_bytes_and_its_lifetime_never_rounds_up() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
        assert_eq!(millis(Duration::from_micros(1999)), 1);
        assert_eq!(millis(Duration::from_secs(100 * 86_400)), u32::MAX);
        let config = CacheConfig {
            ttl: Duration::from_secs(100 * 86_400),
            ..CacheConfig::default()
        };
        let forever = Entry::new(
            info(serde_json::json!({"active": true})),
            &config,
            Duration::ZERO,
        );
        assert!(forever.lifetime() < config.ttl);
        assert!(forever.is_fresh());
    }
}
