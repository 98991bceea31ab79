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
pub(crate) enum ReloadError {
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
pub(crate) struct Reloader {
    pub state: Arc<ArcSwap<State>>,
    pub tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    /// Told after each swap: listeners waiting at `max_connections` read it again.
    pub applied: Arc<watch::Sender<()>>,
    /// What the process started with.
    pub started: Fixed,
}

/// A key whose change a reload cannot apply: the old value stays until a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unapplied {
    /// As written in the file (`listen.addr`).
    pub key: &'static str,
    pub running: String,
    pub configured: String,
}

/// What was fixed when the process started: a reload compares the new file with
/// this, not with the last file loaded, so a key stays reported until a restart and a
/// key changed back is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fixed {
    /// `None` without `[upstream]`: no proxy listener runs.
    listen_addr: Option<SocketAddr>,
    admin_addr: SocketAddr,
    decision_addr: Option<SocketAddr>,
    workers: Option<usize>,
    tls: bool,
}

impl Fixed {
    pub(crate) fn of(config: &Config) -> Fixed {
        let proxy = config.proxy_enabled();
        Fixed {
            listen_addr: proxy.then_some(config.listen.addr),
            admin_addr: config.admin.addr,
            decision_addr: config.decision.as_ref().map(|d| d.addr),
            workers: config.listen.workers,
            tls: proxy && config.listen.tls.is_some(),
        }
    }
}

/// The keys of `new` that differ from what runs and only a restart applies
/// (docs/reference.md#reload): which sockets are bound, how many worker threads run,
/// whether the proxy listener speaks TLS. Listeners that are added or removed are
/// refused before this ([`ReloadError::NeedsRestart`]).
pub(crate) fn restart_keys(running: &Fixed, new: &Config) -> Vec<Unapplied> {
    fn addr(a: SocketAddr) -> String {
        a.to_string()
    }
    fn workers(w: Option<usize>) -> String {
        w.map_or_else(|| "one per CPU".to_owned(), |n| n.to_string())
    }
    fn tls(on: bool) -> String {
        (if on { "on" } else { "off" }).to_owned()
    }
    let new = Fixed::of(new);
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
    if let (Some(old), Some(configured)) = (running.listen_addr, new.listen_addr) {
        push("listen.addr", addr(old), addr(configured));
        push("listen.tls", tls(running.tls), tls(new.tls));
    }
    push("admin.addr", addr(running.admin_addr), addr(new.admin_addr));
    if let (Some(old), Some(new)) = (running.decision_addr, new.decision_addr) {
        push("decision.addr", addr(old), addr(new));
    }
    push(
        "listen.workers",
        workers(running.workers),
        workers(new.workers),
    );
    keys
}

impl Reloader {
    /// Reloads from `path`; returns whether the new config is now serving.
    pub(crate) fn reload(&self, path: &Path) -> bool {
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
        for unapplied in restart_keys(&self.started, &config) {
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

    fn keys(old: &Config, new: &Config) -> Vec<&'static str> {
        restart_keys(&Fixed::of(old), new)
            .iter()
            .map(|u| u.key)
            .collect()
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
        assert_eq!(keys(&old, &new), Vec::<&str>::new());
    }

    #[test]
    fn each_key_fixed_at_start_is_named() {
        let old = config("[listen]\naddr = \"127.0.0.1:8080\"\n");
        let new = config(
            "[listen]\naddr = \"127.0.0.1:8082\"\nworkers = 2\n\
             [admin]\naddr = \"127.0.0.1:9091\"\n",
        );
        let changed = restart_keys(&Fixed::of(&old), &new);
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
        let dir = tempfile::tempdir().unwrap();
        for f in ["tls.crt", "tls.key"] {
            std::fs::write(dir.path().join(f), "unused").unwrap();
        }
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        let old = config(&format!(
            "[listen]\naddr = \"127.0.0.1:8080\"\n[listen.tls]\ncert = {cert:?}\nkey = {key:?}\n\
             [decision]\naddr = \"127.0.0.1:8081\"\n"
        ));
        let new =
            config("[listen]\naddr = \"127.0.0.1:8080\"\n[decision]\naddr = \"127.0.0.1:8083\"\n");
        assert_eq!(keys(&old, &new), vec!["listen.tls", "decision.addr"]);
        assert_eq!(keys(&new, &old), vec!["listen.tls", "decision.addr"]);
    }

    #[test]
    fn compared_with_what_started_not_with_the_last_reload() {
        let started = config("[listen]\naddr = \"127.0.0.1:8080\"\n");
        let moved = config("[listen]\naddr = \"127.0.0.1:8082\"\n");
        let running = Fixed::of(&started);
        // Reported on every reload until a restart, and not once changed back.
        assert_eq!(restart_keys(&running, &moved).len(), 1);
        assert_eq!(restart_keys(&running, &moved).len(), 1);
        assert_eq!(restart_keys(&running, &started), Vec::new());
    }
}
