//! The listeners: accept, TLS, HTTP/1.1 + HTTP/2 (h2 via ALPN, h2c prior knowledge),
//! connection limits, header timeout, graceful stop (SPEC §3 Limits, §7).
//!
//! `serve` takes an already bound listener, so tests bind `127.0.0.1:0` and never race
//! for ports.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::ListenConfig;
use crate::forward::Downstream;
use crate::proxy::Proxy;
use crate::worker::Pool;

/// The HTTP/1 read buffer cannot be smaller than this in hyper.
const MIN_H1_BUFFER: usize = 8192;

/// Runs the proxy listener until `shutdown` resolves, then lets in-flight requests
/// finish for up to `shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    proxy: Proxy,
    limits: ListenConfig,
    tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    workers: &Pool,
    shutdown: impl Future<Output = ()>,
) {
    let builder = connection_builder(&limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // Backpressure: at max_connections we stop accepting and the kernel queues.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Hand the socket to a worker's own reactor: the connection and everything it
        // causes stay on that thread.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "cannot hand over connection");
                continue;
            }
        };
        let proxy = proxy.clone();
        let builder = builder.clone();
        let tls = tls.as_ref().map(|t| t.load_full());
        let handshake_timeout = limits.header_read_timeout;
        let watcher = graceful.watcher();
        workers.dispatch(async move {
            let _permit = permit;
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                return;
            };
            let downstream = Downstream {
                remote,
                tls: tls.is_some(),
            };
            let service = service_fn(move |req| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.handle(req, downstream).await) }
            });
            let result = match tls {
                None => {
                    // hyper-util's h1/h2 detection waits for the first bytes with no
                    // timer: a connection that sends nothing is closed like a slow one.
                    let mut first = [0u8; 1];
                    match tokio::time::timeout(handshake_timeout, stream.peek(&mut first)).await {
                        Ok(Ok(n)) if n > 0 => {}
                        _ => return,
                    }
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let stream = match tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            return;
                        }
                    };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("listener closed; draining in-flight requests");
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period elapsed; closing remaining connections");
    }
}

/// One builder for every connection (the decision listener's too): limits from
/// `[listen]`.
pub(crate) fn connection_builder(limits: &ListenConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // A connection that sends no complete header block in time is closed; this
        // also bounds idle keep-alive connections (slowloris).
        .header_read_timeout(limits.header_read_timeout)
        // Request line + headers beyond this are answered 431 by hyper.
        .max_buf_size(limits.max_header_bytes.max(MIN_H1_BUFFER))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        // Rapid reset (CVE-2023-44487): bound streams reset before we saw them.
        .max_pending_accept_reset_streams(Some(64))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    builder
}
