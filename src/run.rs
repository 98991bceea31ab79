//! `scopegate serve` and `scopegate check`: load, bind, serve, stop.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::introspect::Health;
use crate::metrics::Metrics;
use crate::proxy::Proxy;
use crate::reload::Reloader;
use crate::state::State;
use crate::worker::Pool;

/// Why `serve` could not run (exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot set up metrics")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot build serving state")]
    State(#[from] crate::state::BuildError),
    #[error("cannot set up TLS")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start worker threads")]
    Workers(#[source] std::io::Error),
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
}

/// `scopegate check`: the route table and warnings, or the error.
pub fn check(path: &Path) -> Result<String, crate::config::ConfigError> {
    let config = Config::load(path)?;
    Ok(config.describe())
}

/// `scopegate serve`: runs until SIGTERM or SIGINT.
pub async fn serve(path: &Path) -> Result<(), RunError> {
    let config = Config::load(path)?;
    serve_config(config, path).await
}

/// Serves an already loaded config; `path` is what SIGHUP re-reads.
pub(crate) async fn serve_config(config: Config, path: &Path) -> Result<(), RunError> {
    // Without [upstream] (decision mode only) no proxy listener runs.
    let proxy = match config.proxy_enabled() {
        true => Some(bind(config.listen.addr).await?),
        false => None,
    };
    let admin = bind(config.admin.addr).await?;
    let decision = match &config.decision {
        Some(d) => Some(bind(d.addr).await?),
        None => None,
    };
    serve_listeners(
        config,
        Some(path),
        Listeners {
            proxy,
            admin,
            decision,
        },
    )
    .await
}

/// Already bound listeners: the proxy's (absent in decision-only mode), the admin's
/// and the decision listener's (with `[decision]`).
#[derive(Debug)]
pub(crate) struct Listeners {
    pub proxy: Option<TcpListener>,
    pub admin: TcpListener,
    pub decision: Option<TcpListener>,
}

/// Serves on already bound proxy and admin listeners (tests and the demo bind first);
/// a `[decision]` listener is bound here from the config. Without a `path`, SIGHUP has
/// nothing to re-read and is ignored.
pub async fn serve_bound(
    config: Config,
    path: Option<&Path>,
    proxy_listener: TcpListener,
    admin_listener: TcpListener,
) -> Result<(), RunError> {
    let decision = match &config.decision {
        Some(d) => Some(bind(d.addr).await?),
        None => None,
    };
    let listeners = Listeners {
        proxy: Some(proxy_listener),
        admin: admin_listener,
        decision,
    };
    serve_listeners(config, path, listeners).await
}

/// Serves on already bound listeners until SIGTERM or SIGINT.
pub(crate) async fn serve_listeners(
    config: Config,
    path: Option<&Path>,
    listeners: Listeners,
) -> Result<(), RunError> {
    let Listeners {
        proxy: proxy_listener,
        admin: admin_listener,
        decision: decision_listener,
    } = listeners;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    // Workers first: per-worker connection pools are sized by their number.
    let workers = Pool::start(config.listen.workers).map_err(RunError::Workers)?;
    let metrics = Arc::new(Metrics::new()?);
    let health = Arc::new(Health::default());
    let tls = match &config.listen.tls {
        Some(files) => Some(Arc::new(ArcSwap::new(crate::tls::server_config(
            &files.cert,
            &files.key,
        )?))),
        None => None,
    };
    let started = crate::reload::Fixed::of(&config);
    let state = Arc::new(ArcSwap::from_pointee(State::build(
        config, None, &metrics, &health,
    )?));

    if let Some(listener) = &proxy_listener {
        log_listening("proxy", listener);
    }
    log_listening("admin", &admin_listener);
    if let Some(listener) = &decision_listener {
        log_listening("decision", listener);
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    // The listeners waiting at max_connections read the limits again after a reload.
    let (reloads_tx, reloads) = watch::channel(());
    let reloader = Reloader {
        state: state.clone(),
        tls: tls.clone(),
        metrics: metrics.clone(),
        health: health.clone(),
        applied: Arc::new(reloads_tx),
        started,
    };
    spawn_signal_handlers(stop_tx, reloader, path.map(Path::to_path_buf))?;

    let admin = crate::admin::Admin {
        state: state.clone(),
        health,
    };
    let admin_task = tokio::spawn(crate::admin::serve(
        admin_listener,
        admin,
        stopped(stop_rx.clone()),
    ));
    let decision = async {
        if let Some(listener) = decision_listener {
            let decision = crate::decision::Decision::new(state.clone());
            crate::decision::serve(
                listener,
                decision,
                &workers,
                reloads.clone(),
                stopped(stop_rx.clone()),
            )
            .await;
        }
    };
    let proxy = async {
        if let Some(listener) = proxy_listener {
            crate::server::serve(
                listener,
                Proxy::new(state.clone()),
                tls.clone(),
                &workers,
                reloads.clone(),
                stopped(stop_rx.clone()),
            )
            .await;
        }
    };
    tokio::join!(proxy, decision);
    let _ = admin_task.await;
    workers.stop();
    tracing::info!("stopped");
    Ok(())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })
}

fn log_listening(listener: &'static str, socket: &TcpListener) {
    if let Ok(addr) = socket.local_addr() {
        tracing::info!(listener, addr = %addr, "listening");
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

#[cfg(unix)]
fn spawn_signal_handlers(
    stop: watch::Sender<bool>,
    reloader: Reloader,
    path: Option<std::path::PathBuf>,
) -> Result<(), RunError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(RunError::Signals)?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    let Some(path) = path.clone() else {
                        tracing::warn!("SIGHUP ignored: no config file to reload");
                        continue;
                    };
                    tracing::info!("SIGHUP: reloading configuration");
                    let reloader = reloader.clone();
                    // Reading files and building TLS clients is blocking work.
                    let _ = tokio::task::spawn_blocking(move || reloader.reload(&path)).await;
                }
            }
        }
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    Ok(())
}

#[cfg(not(unix))]
fn spawn_signal_handlers(
    stop: watch::Sender<bool>,
    _reloader: Reloader,
    _path: Option<std::path::PathBuf>,
) -> Result<(), RunError> {
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    });
    Ok(())
}
