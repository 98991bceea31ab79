//! Token validation (docs/reference.md#validation, §5): cache → single flight → RFC 7662 call.
//!
//! [`Introspector::introspect`] returns the authorization server's answer for a token,
//! from the cache when it can. Concurrent requests for one uncached token share one
//! call (moka's coalesced `try_get_with`); errors are never cached, and every waiter
//! of a failed call gets the same error at once. When `stale_if_error` is set, the
//! last active answer is kept in a second cache for that long after it would expire,
//! and served only while the authorization server is failing, never past `exp`; an
//! inactive answer or a purge drops it (a revoked token never comes back).

pub(crate) mod cache;
pub(crate) mod client;
pub(crate) mod revocation;
pub(crate) mod settings;
pub(crate) mod shared;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tokio::time::Instant;

pub(crate) use crate::claims::{Needs, TokenInfo};
use crate::clock::now_unix;
pub(crate) use cache::{Purge, TokenDigest};
pub(crate) use revocation::Revocation;

use self::cache::{AnswerCache, Entry};
use self::client::IntrospectionClient;
pub(crate) use self::settings::{AuthMethod, CacheConfig, IntrospectionConfig};
use self::shared::Shared;
pub(crate) use crate::error::IntrospectError;
use crate::metrics::Metrics;
use crate::token::BearerToken;

/// Consecutive failed introspection calls, for the `introspection_up` gauge (docs/reference.md#observability).
///
/// Readiness does not depend on it: the authorization server is shared by every
/// replica, so failing readiness during its outage would take them all out of service.
#[derive(Debug, Default)]
pub struct Health {
    failures: AtomicU32,
}

/// Failed calls in a row after which the authorization server counts as down.
pub(crate) const DOWN_AFTER: u32 = 3;

impl Health {
    /// docs/reference.md#observability `introspection_up`: false while the last 3 calls in a row failed, until
    /// one succeeds.
    pub fn is_up(&self) -> bool {
        self.failures.load(Ordering::Relaxed) < DOWN_AFTER
    }

    fn record(&self, ok: bool) {
        if ok {
            self.failures.store(0, Ordering::Relaxed);
        } else {
            // Saturating, so that a long outage never wraps around to "up".
            let _ = self
                .failures
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_add(1))
                });
        }
    }
}

/// Purges a tunnel may miss while it is busy before it counts as evicted anyway.
const PURGE_BACKLOG: usize = 64;

/// The cache and the client for one (endpoint, client id).
pub struct Introspector {
    client: IntrospectionClient,
    cache: AnswerCache,
    /// Last active answers, kept `stale_if_error` longer (absent when that is 0).
    stale: Option<AnswerCache>,
    config: CacheConfig,
    endpoint: String,
    client_id: String,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    /// Every purge is announced here, for open tunnels (see [`Introspector::watch`]);
    /// shared across reloads so that a tunnel opened before one still hears purges.
    purges: broadcast::Sender<Arc<Purge>>,
    /// The shared level in Redis, when configured (docs/reference.md#shared-cache).
    shared: Option<Shared>,
    /// Bumped by every purge: an answer read from Redis, or asked of the authorization
    /// server, before the latest purge is not cached (it may be what was purged).
    epoch: Arc<AtomicU64>,
    /// What a cached answer keeps (docs/reference.md#cache-entry-size).
    needs: Arc<Needs>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

// === impl Introspector ===

impl Introspector {
    /// Builds the introspector; the caches of `previous` are kept when they answer for
    /// the same endpoint and client id and keep the same members of an answer
    /// (docs/reference.md#operations reload).
    pub fn new(
        config: &IntrospectionConfig,
        previous: Option<&Introspector>,
        needs: Arc<Needs>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Result<Self, crate::tls::TlsError> {
        let client = IntrospectionClient::new(config)?;
        let endpoint = config.endpoint.to_string();
        let local = |c: &CacheConfig| (c.max_entries, c.ttl, c.negative_ttl, c.stale_if_error);
        let reuse = previous.filter(|p| {
            p.endpoint == endpoint
                && p.client_id == config.client_id
                && local(&p.config) == local(&config.cache)
                && p.needs.same_members(&needs)
        });
        let (cache, stale, epoch) = match reuse {
            Some(p) => (p.cache.clone(), p.stale.clone(), p.epoch.clone()),
            None => (
                cache::build(config.cache.max_entries),
                (!config.cache.stale_if_error.is_zero())
                    .then(|| cache::build(config.cache.max_entries)),
                Arc::default(),
            ),
        };
        let shared = match &config.cache.shared {
            Some(settings) => Some(
                Shared::new(
                    settings,
                    previous.and_then(|p| p.shared.as_ref()),
                    &endpoint,
                    &config.client_id,
                    &metrics,
                )
                .map_err(|e| crate::tls::TlsError::Invalid(e.to_string()))?,
            ),
            None => None,
        };
        let purges =
            previous.map_or_else(|| broadcast::channel(PURGE_BACKLOG).0, |p| p.purges.clone());
        Ok(Self {
            purges,
            shared,
            epoch,
            client,
            cache,
            stale,
            config: config.cache.clone(),
            endpoint,
            client_id: config.client_id.clone(),
            metrics,
            health,
            needs,
        })
    }

    /// The answer for `token`: cached, or from one coalesced call.
    pub async fn introspect(&self, token: &BearerToken) -> Result<Arc<TokenInfo>, IntrospectError> {
        let key = TokenDigest::of(token.expose());
        let mut unusable = None;
        if let Some(entry) = self.cache.get(&key).await {
            let trusted = self.shared.as_ref().is_none_or(|s| s.trusts(&entry))
                // The authorization server is down: answer as without a shared cache.
                || !self.health.is_up();
            if trusted && entry.is_fresh() {
                self.metrics.cache_hits.inc();
                return Ok(entry.info.clone());
            }
            unusable = Some(entry);
        }
        self.metrics.cache_misses.inc();
        // Boxed: the hit path above must not carry the miss path's state (single flight,
        // Redis, the call) in its future, which every request's future embeds and moves.
        Box::pin(self.miss(key, token, unusable)).await
    }

    /// No usable cached answer: the single flight to Redis and the authorization server.
    /// `unusable`: the cached entry, expired or (docs/reference.md#shared-cache) too old
    /// to trust while this replica cannot hear other replicas' purges.
    async fn miss(
        &self,
        key: TokenDigest,
        token: &BearerToken,
        unusable: Option<Entry>,
    ) -> Result<Arc<TokenInfo>, IntrospectError> {
        let mut unheard = None;
        if let Some(entry) = unusable {
            cache::remove(&self.cache, key, &entry).await;
            // A fresh but untrusted entry is the fallback should the authorization
            // server fail (then it is served as before).
            unheard = entry.is_fresh().then_some(entry);
        }
        let init = async {
            // docs/reference.md#shared-cache: in-process → Redis → authorization server,
            // inside the single flight: racing requests make one Redis GET.
            let asked_at = self.epoch.load(Ordering::Acquire);
            // A Redis entry's lifetime counts from here (before the Redis lookup and the
            // call): never later than the answer could be.
            let asked_ms = if self.shared.is_some() {
                shared::now_ms()
            } else {
                0
            };
            if let Some(shared) = &self.shared {
                if let Some(shared::Hit { info, remaining }) =
                    shared.lookup(token.expose(), &self.needs).await
                {
                    // A purge while the GET was in flight may have been for this entry.
                    if self.epoch.load(Ordering::Acquire) == asked_at {
                        let info = Arc::new(info);
                        let entry = Entry::shared(info.clone(), &self.config, remaining);
                        self.keep_stale(key, info).await;
                        return Ok(entry);
                    }
                }
            }
            let asked_at = self.epoch.load(Ordering::Acquire);
            let started = Instant::now();
            let result = self.client.introspect(token.expose(), &self.needs).await;
            self.metrics
                .introspection_duration
                .observe(started.elapsed().as_secs_f64());
            self.record(result.as_ref().map(|(info, _)| info));
            let (info, answer) = result?;
            let info = Arc::new(info);
            let entry = Entry::new(info.clone(), &self.config, Duration::ZERO);
            if let Some(shared) = &self.shared {
                shared.store(
                    token.expose(),
                    &info,
                    &answer,
                    entry.lifetime(),
                    self.epoch.clone(),
                    asked_at,
                    asked_ms,
                );
            }
            self.keep_stale(key, info).await;
            Ok::<_, IntrospectError>(entry)
        };
        match self.cache.try_get_with(key, init).await {
            Ok(entry) => Ok(entry.info.clone()),
            Err(error) => match self.stale_answer(&key).await.or_else(|| {
                unheard
                    .filter(|e| e.info.exp().is_none_or(|exp| now_unix() < exp))
                    .map(|e| e.info.clone())
            }) {
                Some(info) => {
                    tracing::warn!(error = %error, "authorization server failing; serving a stale answer");
                    Ok(info)
                }
                None => Err(IntrospectError::Shared(error)),
            },
        }
    }

    /// Keeps (active) or drops (inactive) the `stale_if_error` copy of a fresh answer.
    async fn keep_stale(&self, key: TokenDigest, info: Arc<TokenInfo>) {
        match (&self.stale, info.is_active()) {
            (Some(stale), true) => {
                let kept = Entry::new(info, &self.config, self.config.stale_if_error);
                stale.insert(key, kept).await;
            }
            // docs/reference.md#introspection-cache: an inactive answer drops the stale copy, so a revoked token
            // never comes back while the authorization server is failing.
            (Some(stale), false) => stale.invalidate(&key).await,
            (None, _) => {}
        }
    }

    async fn stale_answer(&self, key: &TokenDigest) -> Option<Arc<TokenInfo>> {
        let entry = self.stale.as_ref()?.get(key).await?;
        // Never past exp: the pipeline checks exp again, this only avoids a useless hit.
        let fresh = entry.is_fresh() && entry.info.exp().is_none_or(|exp| now_unix() < exp);
        fresh.then(|| entry.info.clone())
    }

    fn record(&self, result: Result<&TokenInfo, &IntrospectError>) {
        let label = match result {
            Ok(info) if info.is_active() => 0,
            Ok(_) => 1,
            Err(_) => 2,
        };
        self.metrics.introspection_result[label].inc();
        self.health.record(result.is_ok());
        self.metrics
            .introspection_up
            .set(i64::from(self.health.is_up()));
    }

    /// Evicts matching entries at once from this replica (docs/reference.md#introspection-cache
    /// `POST /cache/purge`) and tells its tunnels; see [`Self::shared`] for the other
    /// replicas.
    pub async fn purge(&self, purge: &Purge) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for cache in std::iter::once(&self.cache).chain(self.stale.as_ref()) {
            cache::evict(cache, purge).await;
        }
        // No receiver (no open tunnel) is the common case, not an error.
        let _ = self.purges.send(Arc::new(purge.clone()));
    }

    /// What a cached answer keeps.
    pub fn needs(&self) -> &Arc<Needs> {
        &self.needs
    }

    /// The shared level in Redis, when configured (docs/reference.md#shared-cache).
    pub fn shared(&self) -> Option<&Shared> {
        self.shared.as_ref()
    }

    /// `[introspection.cache] ttl`: how long a tunnel of a token without `exp` may
    /// stay open (docs/reference.md#limits).
    pub fn ttl(&self) -> Duration {
        self.config.ttl
    }

    /// A handle that resolves once a purge evicts `token`'s answer (`info`, as the
    /// tunnel was authorized with): purge all, its subject, or its `token_sha256`.
    /// For WebSocket tunnels (docs/reference.md#limits); cheap to hold, nothing is polled. An
    /// entry that merely expires is not a purge and never resolves it.
    pub fn watch(&self, token: &BearerToken, info: &TokenInfo) -> Revocation {
        Revocation {
            token_sha256: Sha256::digest(token.expose()).into(),
            subject: info.subject().map(Box::from),
            purges: self.purges.subscribe(),
        }
    }

    /// Entries in the cache, after applying pending inserts and evictions (moka
    /// counts lazily).
    pub async fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn introspector(previous: Option<&Introspector>, endpoint: &str) -> Introspector {
        let config = IntrospectionConfig {
            // Nothing listens there: these tests never call the server.
            endpoint: endpoint.parse().unwrap(),
            client_id: "scopegate".into(),
            client_secret: Secret::new("s"),
            auth_method: AuthMethod::ClientSecretBasic,
            timeout: Duration::from_millis(100),
            ca_file: None,
            expected_issuer: None,
            expected_audience: None,
            cache: CacheConfig {
                ttl: Duration::from_secs(42),
                ..CacheConfig::default()
            },
        };
        let metrics = Arc::new(Metrics::new().unwrap());
        let needs = Arc::new(Needs::all());
        Introspector::new(&config, previous, needs, metrics, Arc::default()).unwrap()
    }

    fn token(text: &'static str) -> BearerToken {
        let value = http::HeaderValue::from_str(&format!("Bearer {text}")).unwrap();
        crate::token::parse_authorization(&value).unwrap().unwrap()
    }

    fn info(sub: &str) -> TokenInfo {
        let serde_json::Value::Object(map) = serde_json::json!({"active": true, "sub": sub}) else {
            unreachable!()
        };
        TokenInfo::from_claims(map).unwrap()
    }

    /// Whether `evicted` has resolved within a short while.
    async fn resolved(r: &mut Revocation) -> bool {
        tokio::time::timeout(Duration::from_millis(50), r.evicted())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn watch_resolves_only_for_a_purge_that_covers_the_token() {
        let i = introspector(None, "http://127.0.0.1:9/introspect");
        assert_eq!(i.ttl(), Duration::from_secs(42));
        let mut alice = i.watch(&token("tok-a"), &info("alice"));
        let mut bob = i.watch(&token("tok-b"), &info("bob"));
        assert!(!resolved(&mut alice).await, "no purge yet");

        i.purge(&Purge::Subject("carol".into())).await;
        let other = Sha256::digest(b"tok-c").into();
        i.purge(&Purge::TokenSha256(other)).await;
        assert!(!resolved(&mut alice).await, "unrelated purges");
        assert!(!resolved(&mut bob).await, "unrelated purges");

        i.purge(&Purge::Subject("alice".into())).await;
        assert!(resolved(&mut alice).await, "purge by subject");
        assert!(!resolved(&mut bob).await);

        i.purge(&Purge::TokenSha256(Sha256::digest(b"tok-b").into()))
            .await;
        assert!(resolved(&mut bob).await, "purge by token_sha256");

        let mut again = i.watch(&token("tok-b"), &info("bob"));
        i.purge(&Purge::All).await;
        assert!(resolved(&mut again).await, "purge all");
    }

    #[tokio::test]
    async fn watch_hears_purges_made_after_a_reload_replaced_the_introspector() {
        let old = introspector(None, "http://127.0.0.1:9/introspect");
        let mut tunnel = old.watch(&token("tok-a"), &info("alice"));
        // Another endpoint: the caches are not kept, the purge announcements are.
        let new = introspector(Some(&old), "http://127.0.0.1:9/other");
        drop(old);
        assert!(!resolved(&mut tunnel).await);
        new.purge(&Purge::Subject("alice".into())).await;
        assert!(resolved(&mut tunnel).await);
    }

    #[tokio::test]
    async fn a_tunnel_that_missed_too_many_purges_counts_as_evicted() {
        let i = introspector(None, "http://127.0.0.1:9/introspect");
        let mut tunnel = i.watch(&token("tok-a"), &info("alice"));
        for _ in 0..=PURGE_BACKLOG {
            i.purge(&Purge::Subject("someone-else".into())).await;
        }
        assert!(resolved(&mut tunnel).await, "fail closed after lagging");
    }

    #[test]
    fn health_is_down_after_three_failures_in_a_row_until_one_succeeds() {
        let h = Health::default();
        for _ in 0..2 {
            h.record(false);
            assert!(h.is_up());
        }
        h.record(false);
        assert!(!h.is_up());
        h.record(false);
        assert!(!h.is_up());
        h.record(true);
        assert!(h.is_up());
    }
}
