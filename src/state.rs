//! `State`: one loaded configuration with everything built from it. The proxy reads
//! one `Arc<State>` per request (docs/reference.md#operations: a reload never changes the rules
//! mid-request); a reload builds a new one and swaps it in.

use std::sync::Arc;

use crate::claims::Needs;
use crate::config::Config;
use crate::forward::Forwarder;
use crate::identity::Identity;
use crate::introspect::{Health, Purge};
use crate::metrics::{DecisionCounters, Metrics, RouteCounters};
use crate::validator::Validator;

/// A configuration, compiled for serving.
#[derive(Debug)]
pub struct State {
    pub config: Config,
    /// Introspection, `[[jwt]]` issuers, or both.
    pub validator: Validator,
    /// `None` in decision-only mode (no `[upstream]`): no proxy listener runs.
    pub forwarder: Option<Forwarder>,
    pub identity: Identity,
    pub metrics: Arc<Metrics>,
    /// `requests_total` label sets by route index; the last one is `route="none"`.
    counters: Vec<RouteCounters>,
    /// `decisions_total` label sets, the same way; empty without `[decision]`.
    decision_counters: Vec<DecisionCounters>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("TLS client setup failed")]
    Tls(#[from] crate::tls::TlsError),
}

impl State {
    /// Builds serving state; the caches of `previous` survive where their settings
    /// are unchanged ([`Validator::build`]).
    pub fn build(
        config: Config,
        previous: Option<&State>,
        metrics: &Arc<Metrics>,
        health: &Arc<Health>,
    ) -> Result<State, BuildError> {
        let identity = Identity::new(&config.identity);
        // Every claim this config can read beyond the always-kept ones: identity headers
        // and owner bindings (docs/reference.md#cache-entry-size).
        let owners = config
            .routes
            .routes()
            .iter()
            .filter_map(|r| r.owner.as_ref());
        let needs = Needs::new(identity.claims(), owners.map(|o| o.claim.as_str()));
        let validator = Validator::build(
            &config,
            previous.map(|p| &p.validator),
            needs,
            metrics,
            health,
        )?;
        let forwarder = config
            .upstream
            .as_ref()
            .map(|upstream| Forwarder::new(upstream, config.listen.trust_forwarded_headers))
            .transpose()?;
        let mut counters: Vec<RouteCounters> = config
            .routes
            .routes()
            .iter()
            .map(|r| metrics.route_counters(r.pattern.as_str()))
            .collect();
        counters.push(metrics.route_counters("none"));
        let decision_counters = match config.decision {
            None => Vec::new(),
            Some(_) => {
                let mut counters: Vec<DecisionCounters> = config
                    .routes
                    .routes()
                    .iter()
                    .map(|r| metrics.decision_counters(r.pattern.as_str()))
                    .collect();
                counters.push(metrics.decision_counters("none"));
                counters
            }
        };
        // Last, once nothing can fail any more: purges heard from other replicas go to
        // this state's caches (docs/reference.md#shared-cache).
        if let Some(introspector) = validator.introspector() {
            if let Some(shared) = introspector.shared() {
                shared.link().set_target(crate::introspect::shared::Target {
                    introspector: Arc::downgrade(introspector),
                    jwt: validator.jwt().map(crate::jwt::JwtValidator::purger),
                });
            }
        }
        Ok(State {
            identity,
            metrics: metrics.clone(),
            validator,
            forwarder,
            counters,
            decision_counters,
            config,
        })
    }

    /// Evicts cached introspection answers and validated JWTs (docs/reference.md#purge).
    pub async fn purge(&self, purge: &Purge) {
        self.validator.purge(purge).await;
    }

    /// docs/reference.md#shared-cache `POST /cache/purge`: evicts here, then deletes the
    /// matching entries in Redis and tells every other replica, then evicts here again
    /// (an answer read from Redis before the deletion is not kept). The local purge
    /// always happens; the error says the shared part failed.
    pub async fn purge_everywhere(
        &self,
        purge: &Purge,
    ) -> Result<(), crate::introspect::shared::PurgeError> {
        self.purge(purge).await;
        let Some(shared) = self.validator.introspector().and_then(|i| i.shared()) else {
            return Ok(());
        };
        let result = shared.purge(purge).await;
        self.purge(purge).await;
        result
    }

    /// Entries in the introspection cache (0 without `[introspection]`).
    pub async fn cache_entries(&self) -> u64 {
        match self.validator.introspector() {
            Some(introspector) => introspector.entry_count().await,
            None => 0,
        }
    }

    /// The `requests_total` handles for a route index, or `none`.
    pub fn counters(&self, route: Option<usize>) -> &RouteCounters {
        let none = self.counters.len() - 1;
        &self.counters[route.map_or(none, |i| i.min(none))]
    }

    /// The `decisions_total` handles for a route index, or `none`; `None` without
    /// `[decision]`.
    pub fn decision_counters(&self, route: Option<usize>) -> Option<&DecisionCounters> {
        let none = self.decision_counters.len().checked_sub(1)?;
        self.decision_counters
            .get(route.map_or(none, |i| i.min(none)))
    }
}
