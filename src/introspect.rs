//! Token validation (SPEC §3.3, §5): cache → single flight → RFC 7662 call.
//!
//! [`Introspector::introspect`] returns the authorization server's answer for a token,
//! from the cache when it can. Concurrent requests for one uncached token share one
//! call (moka's coalesced `try_get_with`); errors are never cached, and every waiter
//! of a failed call gets the same error at once. When `stale_if_error` is set, the
//! last active answer is kept in a second cache for that long after it would expire,
//! and served only while the authorization server is failing, never past `exp`.

pub mod cache;
pub mod client;
pub mod info;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use cache::{now_unix, Purge, TokenDigest};
pub use info::{Expectations, TokenInfo};

use self::cache::{AnswerCache, Entry, Keyer};
use self::client::IntrospectionClient;
use crate::config::{CacheConfig, IntrospectionConfig};
use crate::metrics::Metrics;
use crate::token::BearerToken;

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

/// Consecutive failed introspection calls, for `/readyz`.
#[derive(Debug, Default)]
pub struct Health {
    failures: AtomicU32,
    /// When the last call failed, and when the last readiness probe started.
    times: std::sync::Mutex<(Option<Instant>, Option<Instant>)>,
}

/// An unready replica gets no traffic, so no call would ever make it ready again;
/// `/readyz` therefore probes the authorization server itself, at most this often and
/// only this long after the last failure (so it never races a client's own calls).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(5);

impl Health {
    /// SPEC §6: not ready while the last 3 calls in a row failed.
    pub fn is_ready(&self) -> bool {
        self.failures.load(Ordering::Relaxed) < 3
    }

    fn record(&self, ok: bool) {
        if ok {
            self.failures.store(0, Ordering::Relaxed);
        } else {
            self.failures.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut times) = self.times.lock() {
                times.0 = Some(Instant::now());
            }
        }
    }

    /// Whether a readiness probe is due now (and if so, marks it started).
    pub fn probe_due(&self) -> bool {
        let now = Instant::now();
        let Ok(mut times) = self.times.lock() else {
            return false;
        };
        let quiet = |t: Option<Instant>| t.is_none_or(|t| now.duration_since(t) >= PROBE_INTERVAL);
        if self.is_ready() || !quiet(times.0) || !quiet(times.1) {
            return false;
        }
        times.1 = Some(now);
        true
    }
}

/// The cache and the client for one (endpoint, client id).
pub struct Introspector {
    client: IntrospectionClient,
    keyer: Keyer,
    cache: AnswerCache,
    /// Last active answers, kept `stale_if_error` longer (absent when that is 0).
    stale: Option<AnswerCache>,
    config: CacheConfig,
    endpoint: String,
    client_id: String,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
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
    /// the same endpoint and client id (SPEC §7 reload).
    pub fn new(
        config: &IntrospectionConfig,
        previous: Option<&Introspector>,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Result<Self, crate::tls::TlsError> {
        let client = IntrospectionClient::new(config)?;
        let endpoint = config.endpoint.to_string();
        let reuse = previous.filter(|p| {
            p.endpoint == endpoint && p.client_id == config.client_id && p.config == config.cache
        });
        let (cache, stale) = match reuse {
            Some(p) => (p.cache.clone(), p.stale.clone()),
            None => (
                cache::build(config.cache.max_entries),
                (!config.cache.stale_if_error.is_zero())
                    .then(|| cache::build(config.cache.max_entries)),
            ),
        };
        Ok(Self {
            client,
            keyer: Keyer::new(&endpoint, &config.client_id),
            cache,
            stale,
            config: config.cache.clone(),
            endpoint,
            client_id: config.client_id.clone(),
            metrics,
            health,
        })
    }

    /// The answer for `token`: cached, or from one coalesced call.
    pub async fn introspect(&self, token: &BearerToken) -> Result<Arc<TokenInfo>, IntrospectError> {
        let key = self.keyer.digest(token.expose());
        if let Some(entry) = self.cache.get(&key).await {
            self.metrics.cache_hits.inc();
            return Ok(entry.info.clone());
        }
        self.metrics.cache_misses.inc();
        let init = async {
            let started = Instant::now();
            let result = self.client.introspect(token.expose()).await;
            self.metrics
                .introspection_duration
                .observe(started.elapsed().as_secs_f64());
            self.record(&result);
            let info = Arc::new(result?);
            let entry = Arc::new(Entry::new(
                info.clone(),
                token.expose(),
                &self.config,
                Duration::ZERO,
            ));
            if let (Some(stale), true) = (&self.stale, info.is_active()) {
                let kept = Entry::new(
                    info,
                    token.expose(),
                    &self.config,
                    self.config.stale_if_error,
                );
                stale.insert(key, Arc::new(kept)).await;
            }
            Ok::<_, IntrospectError>(entry)
        };
        match self.cache.try_get_with(key, init).await {
            Ok(entry) => Ok(entry.info.clone()),
            Err(error) => match self.stale_answer(&key).await {
                Some(info) => {
                    tracing::warn!(error = %error, "authorization server failing; serving a stale answer");
                    Ok(info)
                }
                None => Err(IntrospectError::Shared(error)),
            },
        }
    }

    async fn stale_answer(&self, key: &TokenDigest) -> Option<Arc<TokenInfo>> {
        let entry = self.stale.as_ref()?.get(key).await?;
        // Never past exp: the pipeline checks exp again, this only avoids a useless hit.
        let fresh = entry.info.exp().is_none_or(|exp| now_unix() < exp);
        fresh.then(|| entry.info.clone())
    }

    fn record(&self, result: &Result<TokenInfo, IntrospectError>) {
        let label = match result {
            Ok(info) if info.is_active() => 0,
            Ok(_) => 1,
            Err(_) => 2,
        };
        self.metrics.introspection_result[label].inc();
        self.health.record(result.is_ok());
    }

    /// One uncached call with a token no authorization server knows: any well-formed
    /// answer (it will be inactive) shows the server is back. Recorded like any call.
    pub async fn probe(&self) {
        let result = self.client.introspect(b"scopegate-readiness-probe").await;
        self.record(&result);
        if let Err(e) = &result {
            tracing::warn!(error = %e, "readiness probe of the authorization server failed");
        }
    }

    /// Evicts matching entries at once (SPEC §5 `POST /cache/purge`).
    pub fn purge(&self, purge: &Purge) {
        for cache in std::iter::once(&self.cache).chain(self.stale.as_ref()) {
            if *purge == Purge::All {
                cache.invalidate_all();
            } else {
                let purge = purge.clone();
                // Only fails when closures are unsupported, which `cache::build` enables.
                let _ = cache.invalidate_entries_if(move |_, entry| entry.matches(&purge));
            }
        }
    }

    /// Entries in the cache, after applying pending inserts and evictions (moka
    /// counts lazily).
    pub async fn entry_count(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.entry_count()
    }
}
