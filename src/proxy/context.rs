//! `RequestContext`: what one request did, turned into one log line and the metrics —
//! on success and on failure alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use tokio::time::Instant;

use crate::body::ProxyBody;
use crate::claims::TokenInfo;
use crate::error::Chain;
use crate::metrics::{Metrics, Outcome};
use crate::rejection::Rejection;
use crate::state::State;
use crate::token::TokenSource;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Per-request facts gathered along the pipeline.
#[derive(Debug)]
pub(crate) struct RequestContext {
    started: Instant,
    method: Method,
    request_id: HeaderValue,
    /// The matched route's index.
    pub route: Option<usize>,
    /// `allowed`, or `public` on a public route.
    pub outcome_on_success: Outcome,
    rejected: Option<Outcome>,
    /// The introspection answer, once known (for the log line's subject).
    pub token: Option<Arc<TokenInfo>>,
    /// RFC 6750 §2.3: responses to requests with a query token are `private`.
    query_token: bool,
    pub upstream_elapsed: Option<Duration>,
    /// Purge notices for a WebSocket tunnel, taken before forwarding (docs/reference.md#limits).
    pub revocation: Option<crate::introspect::Revocation>,
    /// An answer of the decision listener: counted in `decisions_total`.
    decision: bool,
}

impl RequestContext {
    pub(crate) fn start<B>(req: &Request<B>) -> Self {
        let request_id = req
            .headers()
            .get(&X_REQUEST_ID)
            .filter(|v| is_valid_request_id(v.as_bytes()))
            .cloned()
            .unwrap_or_else(generate_request_id);
        Self {
            started: Instant::now(),
            method: req.method().clone(),
            request_id,
            route: None,
            outcome_on_success: Outcome::Allowed,
            rejected: None,
            token: None,
            query_token: req.uri().query().is_some_and(crate::token::query_has_token),
            upstream_elapsed: None,
            revocation: None,
            decision: false,
        }
    }

    /// The decision listener (docs/reference.md#decision-mode): the answer counts in `decisions_total`, and,
    /// once known, the log line and `Cache-Control: private` follow the original
    /// request rather than the front proxy's question.
    pub(crate) fn for_decision(&mut self, original: Option<&http::request::Parts>) {
        self.decision = true;
        if let Some(original) = original {
            self.method = original.method.clone();
            self.query_token = original
                .uri
                .query()
                .is_some_and(crate::token::query_has_token);
        }
    }

    pub(crate) fn reject(&mut self, rejection: &Rejection) {
        self.rejected = Some(rejection.outcome());
        match rejection {
            Rejection::AuthServerUnavailable(e) => {
                tracing::warn!(error = %Chain(e), "introspection failed; failing closed");
            }
            Rejection::UpstreamUnreachable(e) => {
                tracing::warn!(error = %Chain(e), "upstream failed");
            }
            Rejection::Unfilterable(e) => {
                tracing::warn!(error = %Chain(e), "response not filterable")
            }
            // A bug of ours, not the upstream's: counted as `upstream_error` (the label set
            // is closed, docs/reference.md#metrics) but logged as what it is.
            Rejection::Internal(why) => {
                tracing::error!(
                    outcome = rejection.side().as_str(),
                    reason = why,
                    "internal error"
                )
            }
            _ => {}
        }
    }

    pub(crate) fn token_source(&mut self, source: TokenSource, metrics: &Metrics) {
        metrics.token_source[source as usize].inc();
    }

    /// The request id travels upstream, so both sides log the same id.
    pub(crate) fn forward_request_id(&self, headers: &mut HeaderMap) {
        headers.insert(X_REQUEST_ID, self.request_id.clone());
    }

    /// Response headers we always add, the metrics and the access log line.
    pub(crate) fn finish(&self, rsp: &mut Response<ProxyBody>, state: &State) {
        let headers = rsp.headers_mut();
        // Unique per response: HPACK must not index it (RFC 7541 §7.1.3), or every HTTP/2
        // answer inserts it into the connection's dynamic table and evicts what could be
        // reused (that churn was ~10% of an h2c request). No effect on HTTP/1.
        let mut request_id = self.request_id.clone();
        request_id.set_sensitive(true);
        headers.insert(X_REQUEST_ID, request_id);
        if self.query_token {
            mark_private(headers);
        }
        let outcome = self.rejected.unwrap_or(self.outcome_on_success);
        let elapsed = self.started.elapsed();
        let metrics = &state.metrics;
        match state
            .decision_counters(self.route)
            .filter(|_| self.decision)
        {
            Some(counters) => metrics.observe_decision(counters, outcome, elapsed.as_secs_f64()),
            None => {
                metrics.observe_request(state.counters(self.route), outcome, elapsed.as_secs_f64())
            }
        }
        if let Some(upstream) = self.upstream_elapsed {
            metrics.upstream_duration.observe(upstream.as_secs_f64());
        }
        if tracing::enabled!(tracing::Level::INFO) {
            let route = self
                .route
                .and_then(|i| state.config.routes.routes().get(i))
                .map_or("none", |r| r.pattern.as_str());
            let token = self.token.as_deref();
            tracing::info!(
                listener = if self.decision { "decision" } else { "proxy" },
                method = %self.method,
                route,
                status = rsp.status().as_u16(),
                outcome = outcome.as_str(),
                subject = token.and_then(TokenInfo::subject).unwrap_or("-"),
                client_id = token.and_then(|t| t.str_claim("client_id")).unwrap_or("-"),
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                request_id = self.request_id.to_str().unwrap_or("-"),
                "request"
            );
        }
    }
}

/// RFC 6750 §2.3: "SHOULD send a Cache-Control header containing the private
/// option". The response is made `private`; an upstream's `no-store` is kept.
fn mark_private(headers: &mut HeaderMap) {
    let no_store = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("no-store"));
    let value = if no_store {
        "private, no-store"
    } else {
        "private"
    };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(value));
}

/// A client-supplied id is reused when it is short, printable ASCII without spaces.
fn is_valid_request_id(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= 128 && v.iter().all(|b| b.is_ascii_graphic())
}

/// 16 hex digits: a per-process random start plus a counter, so ids are unique within
/// a process and unlikely to collide across replicas; no syscall per request.
fn generate_request_id() -> HeaderValue {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // splitmix64: consecutive counters give unrelated-looking ids.
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let mut buf = [0u8; 16];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX[((z >> (60 - 4 * i)) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static("0"))
}
