//! Prometheus metrics (docs/reference.md#observability) on an owned registry.
//!
//! Label values come from closed sets only: route patterns from the config, the fixed
//! [`Outcome`] names, token sources and introspection results — never the request
//! path or a token, so cardinality is bounded whatever clients send. Label sets used on
//! the hot path are resolved once (per config for routes), so recording a request is a
//! few atomic adds with no lock and no hashing.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The `outcome` label of `requests_total` and `request_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Allowed,
    Public,
    Unauthenticated,
    InvalidToken,
    Forbidden,
    InvalidRequest,
    NoRoute,
    AsUnavailable,
    UpstreamError,
}

/// Buckets from 100 µs to 10 s: a cached decision is tens of µs, an upstream call
/// can take seconds.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Every metric scopegate exports, with hot-path label sets pre-resolved.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: [Histogram; 9],
    pub upstream_duration: Histogram,
    /// Indexed by [`crate::token::TokenSource`] order: header, form, query.
    pub token_source: [IntCounter; 3],
    /// Indexed: active, inactive, error.
    pub introspection_result: [IntCounter; 3],
    pub introspection_duration: Histogram,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub cache_entries: IntGauge,
    /// 0 while the last 3 introspection calls in a row failed, else 1.
    pub introspection_up: IntGauge,
    config_reloads: IntCounterVec,
    /// `jwt_validations_total`, indexed: valid, invalid, error.
    pub jwt_validations: [IntCounter; 3],
    /// `jwks_fetches_total`, indexed: ok, error.
    pub jwks_fetches: [IntCounter; 2],
    /// `shared_cache_requests_total`, indexed: hit, miss, error (docs/reference.md#shared-cache).
    pub shared_cache_result: [IntCounter; 3],
    pub shared_cache_duration: Histogram,
    /// `decisions_total` (decision listener, docs/reference.md#decision-mode).
    decisions: IntCounterVec,
}

/// `requests_total` handles for one route (or `none`), one per outcome.
#[derive(Clone)]
pub struct RouteCounters([IntCounter; 9]);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl std::fmt::Debug for RouteCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteCounters")
    }
}

// === impl Outcome ===

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Allowed,
        Outcome::Public,
        Outcome::Unauthenticated,
        Outcome::InvalidToken,
        Outcome::Forbidden,
        Outcome::InvalidRequest,
        Outcome::NoRoute,
        Outcome::AsUnavailable,
        Outcome::UpstreamError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Public => "public",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::InvalidToken => "invalid_token",
            Outcome::Forbidden => "forbidden",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::NoRoute => "no_route",
            Outcome::AsUnavailable => "as_unavailable",
            Outcome::UpstreamError => "upstream_error",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

// === impl Metrics ===

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "scopegate_requests_total",
                "Requests answered, by route pattern and outcome",
            ),
            &["route", "outcome"],
        )?;
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "scopegate_request_duration_seconds",
                "Time from request head to response head, by outcome",
            )
            .buckets(BUCKETS.to_vec()),
            &["outcome"],
        )?;
        let upstream_duration = Histogram::with_opts(
            HistogramOpts::new(
                "scopegate_upstream_duration_seconds",
                "Time from forwarding to the upstream's response head",
            )
            .buckets(BUCKETS.to_vec()),
        )?;
        let token_source = IntCounterVec::new(
            Opts::new(
                "scopegate_token_source_total",
                "Bearer tokens seen, by where they were sent",
            ),
            &["source"],
        )?;
        let introspection = IntCounterVec::new(
            Opts::new(
                "scopegate_introspection_requests_total",
                "Calls to the introspection endpoint, by result",
            ),
            &["result"],
        )?;
        let introspection_duration = Histogram::with_opts(
            HistogramOpts::new(
                "scopegate_introspection_duration_seconds",
                "Duration of introspection calls",
            )
            .buckets(BUCKETS.to_vec()),
        )?;
        let cache_hits = IntCounter::new("scopegate_cache_hits_total", "Introspection cache hits")?;
        let cache_misses =
            IntCounter::new("scopegate_cache_misses_total", "Introspection cache misses")?;
        let cache_entries = IntGauge::new(
            "scopegate_cache_entries",
            "Entries in the introspection cache",
        )?;
        let introspection_up = IntGauge::new(
            "scopegate_introspection_up",
            "0 while the last 3 introspection calls in a row failed, until one succeeds; else 1",
        )?;
        introspection_up.set(1);
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "scopegate_config_reloads_total",
                "Configuration reloads, by result",
            ),
            &["result"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(upstream_duration.clone()))?;
        registry.register(Box::new(token_source.clone()))?;
        registry.register(Box::new(introspection.clone()))?;
        registry.register(Box::new(introspection_duration.clone()))?;
        registry.register(Box::new(cache_hits.clone()))?;
        registry.register(Box::new(cache_misses.clone()))?;
        registry.register(Box::new(cache_entries.clone()))?;
        registry.register(Box::new(introspection_up.clone()))?;
        registry.register(Box::new(config_reloads.clone()))?;
        let jwt_validations = IntCounterVec::new(
            Opts::new(
                "scopegate_jwt_validations_total",
                "JWT access tokens validated locally, by result",
            ),
            &["result"],
        )?;
        let jwks_fetches = IntCounterVec::new(
            Opts::new(
                "scopegate_jwks_fetches_total",
                "JWKS (and metadata) fetches, by result",
            ),
            &["result"],
        )?;
        registry.register(Box::new(jwt_validations.clone()))?;
        registry.register(Box::new(jwks_fetches.clone()))?;
        let shared_cache = IntCounterVec::new(
            Opts::new(
                "scopegate_shared_cache_requests_total",
                "Lookups in the shared cache (Redis), by result; error: not connected, slower than timeout, failed, or an entry that did not authenticate",
            ),
            &["result"],
        )?;
        let shared_cache_duration = Histogram::with_opts(
            HistogramOpts::new(
                "scopegate_shared_cache_duration_seconds",
                "Duration of shared cache (Redis) lookups",
            )
            .buckets(BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(shared_cache.clone()))?;
        registry.register(Box::new(shared_cache_duration.clone()))?;
        let decisions = decisions_vec()?;
        registry.register(Box::new(decisions.clone()))?;
        // Process CPU, RSS and open fds (Linux), named `process_*` as Prometheus expects.
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            registry.register(Box::new(process))?;
        }
        for result in ["ok", "error"] {
            config_reloads.with_label_values(&[result]);
        }
        Ok(Self {
            registry,
            request_duration: Outcome::ALL
                .map(|o| request_duration.with_label_values(&[o.as_str()])),
            token_source: ["header", "form", "query"].map(|s| token_source.with_label_values(&[s])),
            introspection_result: ["active", "inactive", "error"]
                .map(|r| introspection.with_label_values(&[r])),
            requests,
            upstream_duration,
            introspection_duration,
            cache_hits,
            cache_misses,
            cache_entries,
            introspection_up,
            config_reloads,
            jwt_validations: ["valid", "invalid", "error"]
                .map(|r| jwt_validations.with_label_values(&[r])),
            jwks_fetches: ["ok", "error"].map(|r| jwks_fetches.with_label_values(&[r])),
            shared_cache_result: ["hit", "miss", "error"]
                .map(|r| shared_cache.with_label_values(&[r])),
            shared_cache_duration,
            decisions,
        })
    }

    /// Resolves the `requests_total` label sets of one route (pattern, or `none`).
    pub fn route_counters(&self, route: &str) -> RouteCounters {
        RouteCounters(Outcome::ALL.map(|o| self.requests.with_label_values(&[route, o.as_str()])))
    }

    pub fn observe_request(&self, counters: &RouteCounters, outcome: Outcome, seconds: f64) {
        counters.0[outcome.index()].inc();
        self.request_duration[outcome.index()].observe(seconds);
    }

    pub fn config_reload(&self, ok: bool) {
        self.config_reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    /// The text exposition format 0.0.4.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 * 1024);
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

// === decisions_total (decision listener) ===

/// `decisions_total` handles for one route (or `none`): one per outcome except
/// `upstream_error`, indexed like [`Outcome::ALL`].
#[derive(Clone)]
pub struct DecisionCounters([IntCounter; DECISION_OUTCOMES]);

/// Every outcome but `upstream_error` (the last one): a decision never forwards.
const DECISION_OUTCOMES: usize = 8;

impl std::fmt::Debug for DecisionCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecisionCounters")
    }
}

fn decisions_vec() -> Result<IntCounterVec, prometheus::Error> {
    IntCounterVec::new(
        Opts::new(
            "scopegate_decisions_total",
            "Answers of the decision listener, by route pattern and outcome",
        ),
        &["route", "outcome"],
    )
}

impl Metrics {
    /// Resolves the `decisions_total` label sets of one route (pattern, or `none`).
    pub fn decision_counters(&self, route: &str) -> DecisionCounters {
        let outcomes: [Outcome; DECISION_OUTCOMES] = std::array::from_fn(|i| Outcome::ALL[i]);
        DecisionCounters(outcomes.map(|o| self.decisions.with_label_values(&[route, o.as_str()])))
    }

    /// Counts one decision answer and its duration (`request_duration_seconds`, like
    /// every answer). An `upstream_error` outcome (only scopegate's own 500) has no
    /// `decisions_total` series and is counted in the duration histogram alone.
    pub fn observe_decision(&self, counters: &DecisionCounters, outcome: Outcome, seconds: f64) {
        if let Some(counter) = counters.0.get(outcome.index()) {
            counter.inc();
        }
        self.request_duration[outcome.index()].observe(seconds);
    }
}
