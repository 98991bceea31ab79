//! SIGHUP reload (docs/reference.md#operations): load and validate the file again, build new serving state,
//! swap it in atomically. An invalid config is logged and counted, and the old one
//! keeps serving. Listener addresses need a restart; TLS certificates are re-read.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::introspect::Health;
use crate::metrics::Metrics;
use crate::state::State;

/// Everything a reload replaces.
#[derive(Debug, Clone)]
pub struct Reloader {
    pub state: Arc<ArcSwap<State>>,
    pub tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl Reloader {
    /// Reloads from `path`; returns whether the new config is now serving.
    pub fn reload(&self, path: &Path) -> bool {
        match self.try_reload(path) {
            Ok(()) => {
                self.metrics.config_reload(true);
                tracing::info!(config = %path.display(), "configuration reloaded");
                true
            }
            Err(message) => {
                self.metrics.config_reload(false);
                tracing::error!(config = %path.display(), error = %message, "reload rejected; the previous configuration keeps serving");
                false
            }
        }
    }

    fn try_reload(&self, path: &Path) -> Result<(), String> {
        let config = Config::load(path).map_err(|e| e.to_string())?;
        let old = self.state.load_full();
        // Which listeners run is fixed at start: a proxy listener without [upstream], or
        // a decision listener without its state, cannot be made up by a reload.
        if config.proxy_enabled() != old.config.proxy_enabled() {
            return Err("adding or removing [upstream] needs a restart".into());
        }
        if config.decision.is_some() != old.config.decision.is_some() {
            return Err("adding or removing [decision] needs a restart".into());
        }
        if config.decision.as_ref().map(|d| d.addr) != old.config.decision.as_ref().map(|d| d.addr)
        {
            tracing::warn!(
                "the decision listener's address changed; it takes effect after a restart"
            );
        }
        if config.listen.addr != old.config.listen.addr
            || config.admin.addr != old.config.admin.addr
        {
            tracing::warn!("listener addresses changed; they take effect after a restart");
        }
        let tls = match (&self.tls, &config.listen.tls) {
            (Some(_), Some(files)) => Some(
                crate::tls::server_config(&files.cert, &files.key).map_err(|e| format!("{e}"))?,
            ),
            (None, Some(_)) | (Some(_), None) => {
                tracing::warn!("enabling or disabling TLS takes effect after a restart");
                None
            }
            (None, None) => None,
        };
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
        let state = State::build(config, Some(&old), &self.metrics, &self.health).map_err(|e| {
            let source = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            format!("{e}{source}")
        })?;
        // Both swaps happen only after everything was built: no half-applied config.
        if let (Some(slot), Some(tls)) = (&self.tls, tls) {
            slot.store(tls);
        }
        self.state.store(Arc::new(state));
        Ok(())
    }
}
