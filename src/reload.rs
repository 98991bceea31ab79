//! SIGHUP reload (docs/reference.md#operations): load and validate the file again, build new serving state,
//! swap it in atomically. An invalid config is logged and counted, and the old one
//! keeps serving. Listener addresses need a restart; TLS certificates are re-read.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::{Config, ConfigError};
use crate::error::Chain;
use crate::introspect::Health;
use crate::metrics::Metrics;
use crate::state::{BuildError, State};
use crate::tls::TlsError;

/// Why a reload was refused; the previous configuration keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// Shown as the config error itself (file:line:col, key, what was expected).
    #[error(transparent)]
    Config(ConfigError),
    /// Which listeners run is fixed at start (`what`: `[upstream]`, `[decision]`).
    #[error("adding or removing {what} needs a restart")]
    NeedsRestart { what: &'static str },
    #[error("cannot load the TLS certificate")]
    Tls(#[source] TlsError),
    #[error("cannot build the serving state")]
    Build(#[source] BuildError),
}

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
            Err(e) => {
                self.metrics.config_reload(false);
                tracing::error!(config = %path.display(), error = %Chain(&e), "reload rejected; the previous configuration keeps serving");
                false
            }
        }
    }

    fn try_reload(&self, path: &Path) -> Result<(), ReloadError> {
        let config = Config::load(path).map_err(ReloadError::Config)?;
        let old = self.state.load_full();
        // Which listeners run is fixed at start: a proxy listener without [upstream], or
        // a decision listener without its state, cannot be made up by a reload.
        if config.proxy_enabled() != old.config.proxy_enabled() {
            return Err(ReloadError::NeedsRestart { what: "[upstream]" });
        }
        if config.decision.is_some() != old.config.decision.is_some() {
            return Err(ReloadError::NeedsRestart { what: "[decision]" });
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
            (Some(_), Some(files)) => {
                Some(crate::tls::server_config(&files.cert, &files.key).map_err(ReloadError::Tls)?)
            }
            (None, Some(_)) | (Some(_), None) => {
                tracing::warn!("enabling or disabling TLS takes effect after a restart");
                None
            }
            (None, None) => None,
        };
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
        let state = State::build(config, Some(&old), &self.metrics, &self.health)
            .map_err(ReloadError::Build)?;
        // Both swaps happen only after everything was built: no half-applied config.
        if let (Some(slot), Some(tls)) = (&self.tls, tls) {
            slot.store(tls);
        }
        self.state.store(Arc::new(state));
        Ok(())
    }
}
