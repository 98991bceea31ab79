//! The listeners: accept, TLS, HTTP/1.1 + HTTP/2 (h2 via ALPN, h2c prior knowledge),
//! connection limits, header timeout, graceful stop (docs/reference.md#limits, §7).
//!
//! A connection's `max_connections` slot is held by its task and, after a WebSocket
//! upgrade, by the tunnel ([`ConnectionSlot`]). HTTP/2 connections with no open stream
//! for `header_read_timeout` get a GOAWAY (see `drive`): hyper has no such timer.
//!
//! `serve` takes an already bound listener, so tests bind `127.0.0.1:0` and never race
//! for ports.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::UPGRADE;
use http::{Request, Version};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::body::ProxyBody;
use crate::config::ListenConfig;
pub use crate::conn::ConnectionSlot;
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
    let h1 = http1_builder(&limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Graceful stop: every connection holds a receiver until it is done, so
    // `closed()` resolves once the last one has finished.
    let (stop, _) = watch::channel(());
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
        let h1 = h1.clone();
        let tls = tls.as_ref().map(|t| t.load_full());
        let timeout = limits.header_read_timeout;
        let mut stopping = stop.subscribe();
        workers.dispatch(async move {
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                return;
            };
            let downstream = Downstream::new(remote, tls.is_some());
            let result = match tls {
                None => {
                    // hyper-util's h1/h2 detection waits for the first bytes with no
                    // timer: a connection that sends nothing is closed like a slow one.
                    let mut first = [0u8; 3];
                    let peek = tokio::time::timeout(timeout, stream.peek(&mut first));
                    let n = match unless_stopped(&mut stopping, peek).await {
                        Some(Ok(Ok(n))) if n > 0 => n,
                        _ => return,
                    };
                    let conn = Shared::new(permit);
                    let service = service(proxy, downstream, conn.clone());
                    if surely_http1(&first[..n]) {
                        // Skips hyper-util's version detection, which wraps every read
                        // of the connection (~2% of a cached request).
                        let http = h1
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades();
                        drive(http, |c| c.graceful_shutdown(), &conn, timeout, stopping)
                            .await
                            .map_err(Into::into)
                    } else {
                        let http =
                            builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        drive(http, |c| c.graceful_shutdown(), &conn, timeout, stopping).await
                    }
                }
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let handshake = tokio::time::timeout(timeout, acceptor.accept(stream));
                    let stream = match unless_stopped(&mut stopping, handshake).await {
                        Some(Ok(Ok(s))) => s,
                        Some(Ok(Err(e))) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Some(Err(_)) => {
                            tracing::debug!("TLS handshake timed out");
                            return;
                        }
                        None => return,
                    };
                    let conn = Shared::new(permit);
                    let service = service(proxy, downstream, conn.clone());
                    let http =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    drive(http, |c| c.graceful_shutdown(), &conn, timeout, stopping).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("listener closed; draining in-flight requests");
    // No receiver left means no connection left: nothing to wait for.
    let _ = stop.send(());
    if tokio::time::timeout(limits.shutdown_grace, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period elapsed; closing remaining connections");
    }
}

/// `work`, unless the server stops first (a connection that has not sent a request yet
/// is not waited for).
async fn unless_stopped<F: Future>(stop: &mut watch::Receiver<()>, work: F) -> Option<F::Output> {
    tokio::select! {
        output = work => Some(output),
        _ = stop.changed() => None,
    }
}

/// The per-connection service: counts the stream as open for as long as its answer is
/// being produced and sent, and hands upgrade requests the connection's slot.
fn service(
    proxy: Proxy,
    downstream: Downstream,
    conn: Arc<Shared>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = http::Response<Counted>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<Counted>, Infallible>> + Send,
> + Clone {
    service_fn(move |mut req: Request<Incoming>| {
        let open = OpenStream::new(&conn);
        if req.version() != Version::HTTP_2 {
            conn.http1.store(true, Ordering::Relaxed);
        }
        // Only an upgrade can outlive the connection (a WebSocket tunnel); other
        // requests carry nothing extra.
        if req.headers().contains_key(UPGRADE) {
            req.extensions_mut()
                .insert(ConnectionSlot::new(conn.clone()));
        }
        let proxy = proxy.clone();
        let downstream = downstream.clone();
        async move {
            let rsp = proxy.handle(req, downstream).await;
            Ok::<_, Infallible>(rsp.map(|body| Counted {
                body,
                open: Some(open),
            }))
        }
    })
}

/// Drives one connection to completion, and closes it gracefully (HTTP/2: GOAWAY;
/// HTTP/1: once the current exchange is done) on a server stop, or when it has had no
/// open stream for `idle` (docs/reference.md#limits).
///
/// hyper closes an idle HTTP/1 connection itself at `header_read_timeout`, but has no
/// such timer for HTTP/2, where a client that only answers (or sends) PINGs would keep
/// its connection, and its `max_connections` slot, forever. So until a request shows
/// the connection is HTTP/1, a watchdog wakes once per `idle`: with no open stream for
/// that long, it starts the graceful shutdown; if the connection is still there one
/// more idle period later (a peer that never acknowledges the GOAWAY's PING, or never
/// reads), it is dropped. The same covers a connection whose protocol is not known yet
/// (a TLS client silent after the handshake, an incomplete HTTP/2 preface), where
/// hyper-util's version detection has no timer of its own.
async fn drive<C, E>(
    conn: C,
    graceful: impl Fn(Pin<&mut C>),
    shared: &Shared,
    idle: Duration,
    mut stop: watch::Receiver<()>,
) -> Result<(), E>
where
    C: Future<Output = Result<(), E>>,
{
    tokio::pin!(conn);
    let watchdog = tokio::time::sleep_until(shared.epoch + idle);
    tokio::pin!(watchdog);
    let mut watching = true;
    let mut stopping = false;
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            result = conn.as_mut() => return result,
            // Err: the listener is gone without a stop signal; wind down the same way.
            _ = stop.changed(), if !stopping => {
                stopping = true;
                if !closing {
                    graceful(conn.as_mut());
                }
            }
            () = &mut watchdog, if watching => {
                let now = Instant::now();
                if shared.http1.load(Ordering::Relaxed) {
                    watching = false;
                    continue;
                }
                match shared.idle_since() {
                    Some(since) if since + idle > now => watchdog.as_mut().reset(since + idle),
                    Some(_) if closing => {
                        tracing::debug!("idle connection did not close after GOAWAY; dropped");
                        return Ok(());
                    }
                    Some(_) => {
                        closing = true;
                        if !stopping {
                            tracing::debug!("idle connection closed (GOAWAY)");
                            graceful(conn.as_mut());
                        }
                        watchdog.as_mut().reset(now + idle);
                    }
                    None => watchdog.as_mut().reset(now + idle),
                }
            }
        }
    }
}

/// What a connection's task, its open streams and (after an upgrade) its tunnel share.
///
/// The atomics are touched once when a stream opens and once when it ends; a
/// connection's streams all run on the worker thread that owns the connection, so
/// `Relaxed` is enough. Were a stream to end on another thread, the worst a stale
/// `idle_since` could cause is one early graceful GOAWAY of a connection that had just
/// gone idle, which an HTTP/2 client answers by opening a new one (RFC 9113 §6.8).
#[derive(Debug)]
struct Shared {
    /// This connection's place in `max_connections`; released when the last holder
    /// (connection task, tunnel) is gone.
    _permit: OwnedSemaphorePermit,
    /// Streams being answered: from the service call until the response body has
    /// ended or was dropped (a reset stream, a closed connection).
    open: AtomicUsize,
    /// When `open` last fell to 0, in milliseconds since `epoch`.
    idle_since_ms: AtomicU64,
    epoch: Instant,
    /// A request came as HTTP/1.x: hyper's own `header_read_timeout` bounds idleness.
    http1: AtomicBool,
}

impl Shared {
    fn new(permit: OwnedSemaphorePermit) -> Arc<Shared> {
        Arc::new(Shared {
            _permit: permit,
            open: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            http1: AtomicBool::new(false),
        })
    }

    /// Since when no stream has been open; `None` while one is.
    fn idle_since(&self) -> Option<Instant> {
        (self.open.load(Ordering::Relaxed) == 0)
            .then(|| self.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::Relaxed)))
    }
}

/// One open stream of a connection, counted in [`Shared::open`] until dropped.
#[derive(Debug)]
struct OpenStream(Arc<Shared>);

impl OpenStream {
    fn new(conn: &Arc<Shared>) -> OpenStream {
        conn.open.fetch_add(1, Ordering::Relaxed);
        OpenStream(conn.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let conn = &self.0;
        if conn.open.fetch_sub(1, Ordering::Relaxed) == 1 {
            let ms = u64::try_from(conn.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
            conn.idle_since_ms.store(ms, Ordering::Relaxed);
        }
    }
}

/// A response body that keeps its stream counted as open until it has ended or is
/// dropped; otherwise the [`ProxyBody`] unchanged (no allocation, no copy).
#[derive(Debug)]
struct Counted {
    body: ProxyBody,
    open: Option<OpenStream>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.open = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Whether a plaintext connection's first bytes cannot start the HTTP/2 preface
/// (`PRI * HTTP/2.0`, RFC 9113 §3.4). A prefix of it (`P`, `PR`: a `POST`, `PUT` or
/// `PATCH` may start so too) is left to hyper-util's detection, which reads on.
fn surely_http1(first: &[u8]) -> bool {
    !b"PRI".starts_with(first)
}

/// The HTTP/1 settings of [`connection_builder`], for connections known to be HTTP/1.
fn http1_builder(limits: &ListenConfig) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_H1_BUFFER))
        .keep_alive(true);
    builder
}

/// One builder for every connection (the decision listener's too): limits from
/// `[listen]`. Keep the HTTP/1 part in step with [`http1_builder`].
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

#[cfg(test)]
mod tests {
    use super::surely_http1;

    #[test]
    fn only_what_cannot_start_the_h2_preface_skips_detection() {
        for http1 in [
            &b"GET"[..],
            b"POS",
            b"PUT",
            b"DEL",
            b"G",
            b"PRX",
            b"\x16\x03\x01",
        ] {
            assert!(surely_http1(http1), "{http1:?}");
        }
        for maybe_h2 in [&b"P"[..], b"PR", b"PRI"] {
            assert!(!surely_http1(maybe_h2), "{maybe_h2:?}");
        }
    }
}
