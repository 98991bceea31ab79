//! SIGHUP reload (docs/reference.md#operations): load and validate the file again, build new serving state,
//! swap it in atomically. An invalid config is logged and counted, and the old one
//! keeps serving. What is fixed at start ([`restart_keys`]: listener addresses,
//! `workers`, TLS on or off) is logged by key and the rest applied; adding or removing
//! `[upstream]` or `[decision]` refuses the reload. TLS certificates are re-read, and
//! the `[listen]` limits apply to connections accepted after the swap.

use std::path::Path;
use std::sync::Arc;

use std::net::SocketAddr;

use arc_swap::ArcSwap;
use tokio::sync::watch;

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
    /// Told after each swap: listeners waiting at `max_connections` read it again.
    pub applied: Arc<watch::Sender<()>>,
}

/// A key whose change a reload cannot apply: the old value stays until a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unapplied {
    /// As written in the file (`listen.addr`).
    pub key: &'static str,
    pub running: String,
    pub configured: String,
}

/// The changed keys that only a restart applies (docs/reference.md#operations):
/// which sockets are bound, how many worker threads run, whether the proxy listener
/// speaks TLS. `tls_running` is whether it does now.
pub fn restart_keys(old: &Config, new: &Config, tls_running: bool) -> Vec<Unapplied> {
    fn addr(a: SocketAddr) -> String {
        a.to_string()
    }
    fn workers(w: Option<usize>) -> String {
        w.map_or_else(|| "one per CPU".to_owned(), |n| n.to_string())
    }
    fn tls(on: bool) -> String {
        (if on { "on" } else { "off" }).to_owned()
    }
    let mut keys = Vec::new();
    let mut push = |key, running: String, configured: String| {
        if running != configured {
            keys.push(Unapplied {
                key,
                running,
                configured,
            });
        }
    };
    // Without [upstream] no proxy listener runs: its address and TLS are unused.
    if old.proxy_enabled() && new.proxy_enabled() {
        push("listen.addr", addr(old.listen.addr), addr(new.listen.addr));
        push(
            "listen.tls",
            tls(tls_running),
            tls(new.listen.tls.is_some()),
        );
    }
    push("admin.addr", addr(old.admin.addr), addr(new.admin.addr));
    if let (Some(old), Some(new)) = (&old.decision, &new.decision) {
        push("decision.addr", addr(old.addr), addr(new.addr));
    }
    push(
        "listen.workers",
        workers(old.listen.workers),
        workers(new.listen.workers),
    );
    keys
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
        for unapplied in restart_keys(&old.config, &config, self.tls.is_some()) {
            tracing::warn!(
                key = unapplied.key,
                running = %unapplied.running,
                configured = %unapplied.configured,
                "changed key needs a restart; the running value stays, the rest of the configuration is applied"
            );
        }
        // TLS stays on: the certificate and key are read again.
        let tls = match (&self.tls, &config.listen.tls) {
            (Some(_), Some(files)) => {
                Some(crate::tls::server_config(&files.cert, &files.key).map_err(ReloadError::Tls)?)
            }
            _ => None,
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
        self.applied.send_replace(());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid config: `[upstream]`, a JWT issuer (no secret file), and `extra`.
    fn config(extra: &str) -> Config {
        let text = format!(
            "{extra}\n[upstream]\nurl = \"http://127.0.0.1:3000\"\n\n\
             [[jwt]]\nissuer = \"https://as.example\"\naudience = \"api\"\n\
             jwks_uri = \"https://as.example/jwks\"\n\n\
             [[route]]\npath = \"/health\"\npublic = true\n"
        );
        match Config::from_toml(Path::new("scopegate.toml"), &text) {
            Ok(config) => config,
            Err(e) => panic!("{e}\n{text}"),
        }
    }

    fn keys(old: &Config, new: &Config, tls: bool) -> Vec<&'static str> {
        restart_keys(old, new, tls).iter().map(|u| u.key).collect()
    }

    #[test]
    fn limits_and_rules_apply_without_a_restart() {
        let old = config("[listen]\naddr = \"127.0.0.1:8080\"\n");
        let new = config(
            "[listen]\naddr = \"127.0.0.1:8080\"\nmax_connections = 3\n\
             header_read_timeout = \"2s\"\nmax_header_bytes = \"4KiB\"\n\
             shutdown_grace = \"1s\"\nmax_concurrent_streams = 7\n\
             trust_forwarded_headers = true\n",
        );
        assert_eq!(keys(&old, &new, false), Vec::<&str>::new());
    }

    #[test]
    fn each_key_fixed_at_start_is_named() {
        let old = config("[listen]\naddr = \"127.0.0.1:8080\"\n");
        let new = config(
            "[listen]\naddr = \"127.0.0.1:8082\"\nworkers = 2\n\
             [admin]\naddr = \"127.0.0.1:9091\"\n",
        );
        let changed = restart_keys(&old, &new, false);
        assert_eq!(
            changed,
            vec![
                Unapplied {
                    key: "listen.addr",
                    running: "127.0.0.1:8080".into(),
                    configured: "127.0.0.1:8082".into(),
                },
                Unapplied {
                    key: "admin.addr",
                    running: "127.0.0.1:9090".into(),
                    configured: "127.0.0.1:9091".into(),
                },
                Unapplied {
                    key: "listen.workers",
                    running: "one per CPU".into(),
                    configured: "2".into(),
                },
            ]
        );
    }

    #[test]
    fn tls_on_or_off_and_the_decision_address_are_named() {
        let old = config("[listen]\naddr = \"127.0.0.1:8080\"\n[decision]\naddr = \"127.0.0.1:8081\"\n");
        let new = config("[listen]\naddr = \"127.0.0.1:8080\"\n[decision]\naddr = \"127.0.0.1:8083\"\n");
        // Running with TLS, configured without.
        assert_eq!(keys(&old, &new, true), vec!["listen.tls", "decision.addr"]);
        assert_eq!(keys(&old, &old, false), Vec::<&str>::new());
    }
}
