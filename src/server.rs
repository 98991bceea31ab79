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
use std::net::SocketAddr;
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
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::body::ProxyBody;
pub(crate) use crate::conn::ConnectionSlot;
use crate::forward::Downstream;
use crate::worker::Pool;

/// The HTTP/1 read buffer cannot be smaller than this in hyper.
const MIN_H1_BUFFER: usize = 8192;

/// `[listen]`'s connection limits (docs/reference.md#limits), built by config
/// validation. The listeners read the serving configuration's `Limits` for each new
/// connection, so a reload applies them to new connections; open ones keep theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A connection that sends no complete header block within this is closed.
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    /// Read when the server stops.
    pub shutdown_grace: Duration,
    /// Bound on the request line plus headers (431 beyond).
    pub max_header_bytes: usize,
    /// HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            shutdown_grace: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_concurrent_streams: 256,
        }
    }
}

/// What the proxy listener serves. The server does not know the serving state (it
/// would depend on the config, which depends on [`Limits`]); this is its view of it.
pub(crate) trait Handler: Clone + Send + Sync + 'static {
    /// Runs `f` on the limits of the configuration serving now (one `ArcSwap` load).
    fn with_limits<R>(&self, f: impl FnOnce(&Arc<Limits>) -> R) -> R;

    /// Answers one request; never hands an error to hyper.
    fn respond(
        &self,
        req: Request<Incoming>,
        downstream: Downstream,
    ) -> impl Future<Output = http::Response<ProxyBody>> + Send;
}

/// Runs the proxy listener until `shutdown` resolves, then lets in-flight requests
/// finish for up to `shutdown_grace`. `reloads` changes after each applied reload:
/// a connection limit waiting for a free slot is read again.
pub(crate) async fn serve<H: Handler>(
    listener: TcpListener,
    handler: H,
    tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    workers: &Pool,
    reloads: watch::Receiver<()>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builders = handler.with_limits(|limits| Builders::new(limits.clone()));
    let mut admission = Admission::new(builders.limits().max_connections, reloads);
    // Graceful stop: every connection holds a receiver until it is done, so
    // `closed()` resolves once the last one has finished.
    let (stop, _) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let current = || {
            handler.with_limits(|limits| {
                builders.update(limits);
                limits.max_connections
            })
        };
        let (permit, stream, remote) =
            match admission.accept(&listener, current, &mut shutdown).await {
                Accepted::Connection(permit, stream, remote) => (permit, stream, remote),
                Accepted::Reloaded => continue,
                Accepted::Stopped => break,
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
        let handler = handler.clone();
        let builder = builders.auto.clone();
        let h1 = builders.http1.clone();
        let tls = tls.as_ref().map(|t| t.load_full());
        let timeout = builders.limits().header_read_timeout;
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
                    let service = service(handler, downstream, conn.clone());
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
                    let service = service(handler, downstream, conn.clone());
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
    let grace = handler.with_limits(|limits| limits.shutdown_grace);
    if tokio::time::timeout(grace, stop.closed()).await.is_err() {
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
fn service<H: Handler>(
    handler: H,
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
        let handler = handler.clone();
        let downstream = downstream.clone();
        // Boxed: hyper moves the service future by value (HTTP/1 into its in-flight
        // slot, HTTP/2 into a task per stream), and a request's whole state machine is
        // several KiB; in a box each of those moves copies a pointer.
        Box::pin(async move {
            let rsp = handler.respond(req, downstream).await;
            Ok::<_, Infallible>(rsp.map(|body| Counted {
                body,
                open: Some(open),
            }))
        })
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
fn http1_builder(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_H1_BUFFER))
        .keep_alive(true);
    builder
}

/// The builder for connections of either protocol (the decision listener's too).
/// Keep the HTTP/1 part in step with [`http1_builder`].
fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
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

/// hyper's connection builders for one [`Limits`], built again only when a reload
/// brought other limits: a new connection clones them, as it always did.
#[derive(Debug)]
pub(crate) struct Builders {
    limits: Arc<Limits>,
    /// For plaintext connections known to be HTTP/1.
    pub(crate) http1: hyper::server::conn::http1::Builder,
    /// HTTP/1.1 or HTTP/2, detected per connection.
    pub(crate) auto: auto::Builder<TokioExecutor>,
}

impl Builders {
    pub(crate) fn new(limits: Arc<Limits>) -> Builders {
        Builders {
            http1: http1_builder(&limits),
            auto: connection_builder(&limits),
            limits,
        }
    }

    /// Follows `current`: a pointer comparison unless a reload swapped the limits.
    pub(crate) fn update(&mut self, current: &Arc<Limits>) {
        if !Arc::ptr_eq(&self.limits, current) {
            *self = Builders::new(current.clone());
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// What [`Admission::accept`] came back with.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// A connection and its `max_connections` slot.
    Connection(OwnedSemaphorePermit, TcpStream, SocketAddr),
    /// A reload was applied while waiting: read the limits again, then accept.
    Reloaded,
    /// The shutdown future resolved.
    Stopped,
}

/// `max_connections` as a semaphore whose size follows the current limit: a raise
/// adds permits (first cancelling what a cut still owes); a cut forgets the free
/// permits and owes the rest, which are forgotten as the connections holding them end.
/// So permits in use never exceed the current limit once the open connections above
/// it have ended, and none is lost.
#[derive(Debug)]
pub(crate) struct Admission {
    permits: Arc<Semaphore>,
    /// The limit the semaphore is sized for (free + held − owed).
    limit: usize,
    /// Permits to forget as they come back: held by connections above a lowered limit.
    owed: usize,
    /// Changes after each applied reload; `None` once the reloader is gone.
    reloads: Option<watch::Receiver<()>>,
}

impl Admission {
    pub(crate) fn new(limit: usize, reloads: watch::Receiver<()>) -> Admission {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        Admission {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            owed: 0,
            reloads: Some(reloads),
        }
    }

    /// Sizes the semaphore for `limit`.
    fn resize(&mut self, limit: usize) {
        let limit = limit.min(Semaphore::MAX_PERMITS);
        // The common case, once per accepted connection: nothing to do.
        if limit == self.limit && self.owed == 0 {
            return;
        }
        if limit > self.limit {
            let more = limit - self.limit;
            let cancelled = more.min(self.owed);
            self.owed -= cancelled;
            self.permits.add_permits(more - cancelled);
        } else {
            self.owed += self.limit - limit;
        }
        self.limit = limit;
        self.owed -= self.permits.forget_permits(self.owed);
    }

    /// A permit that came back is forgotten while a cut still owes one.
    fn keep(&mut self, permit: OwnedSemaphorePermit) -> Option<OwnedSemaphorePermit> {
        if self.owed == 0 {
            return Some(permit);
        }
        permit.forget();
        self.owed -= 1;
        None
    }

    /// Waits for a free slot under `current()` (asked once, after the reloads seen so
    /// far are marked seen), then for a connection. At the limit nothing is accepted
    /// and the kernel queues (backpressure). A reload applied meanwhile returns
    /// [`Accepted::Reloaded`], and an unused slot goes back: the caller reads the limits
    /// again, so a lowered limit never admits one connection too many.
    pub(crate) async fn accept(
        &mut self,
        listener: &TcpListener,
        current: impl FnOnce() -> usize,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Accepted {
        // Marked seen before reading: a reload stored after this is noticed below.
        if let Some(reloads) = &mut self.reloads {
            reloads.borrow_and_update();
        }
        self.resize(current());
        loop {
            let permit = tokio::select! {
                biased;
                () = &mut *shutdown => return Accepted::Stopped,
                permit = self.permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    // Never closed; were it, there would be nothing left to admit.
                    Err(_) => return Accepted::Stopped,
                },
                () = reloaded(&mut self.reloads) => return Accepted::Reloaded,
            };
            let Some(permit) = self.keep(permit) else {
                continue;
            };
            let accepted = tokio::select! {
                biased;
                () = &mut *shutdown => return Accepted::Stopped,
                // Before `accept`: a connection made after a reload was applied must
                // meet the new limits even if this task was woken for both at once.
                // The permit is dropped: back to the semaphore, or forgotten by the
                // caller's next `accept` if the limit went down.
                () = reloaded(&mut self.reloads) => return Accepted::Reloaded,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, remote)) => return Accepted::Connection(permit, stream, remote),
                Err(e) => {
                    // EMFILE and friends: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Resolves when a reload was applied; never once the reloader is gone (then it
/// resolves once, and the receiver is dropped).
async fn reloaded(reloads: &mut Option<watch::Receiver<()>>) {
    match reloads {
        Some(rx) => {
            if rx.changed().await.is_err() {
                *reloads = None;
            }
        }
        None => std::future::pending().await,
    }
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

#[cfg(test)]
mod admission {
    use super::*;

    fn admission(limit: usize) -> (Admission, watch::Sender<()>) {
        let (tx, rx) = watch::channel(());
        (Admission::new(limit, rx), tx)
    }

    /// A permit as `accept` would hand it out: taken, then kept unless owed.
    fn take(a: &mut Admission) -> Option<OwnedSemaphorePermit> {
        let permit = a.permits.clone().try_acquire_owned().ok()?;
        a.keep(permit)
    }

    #[test]
    fn a_cut_below_the_open_connections_is_paid_as_they_end() {
        let (mut a, _tx) = admission(3);
        let held: Vec<_> = (0..3).map(|_| take(&mut a).unwrap()).collect();
        a.resize(1);
        assert_eq!(a.permits.available_permits(), 0);
        assert_eq!(a.owed, 2);
        let mut held = held.into_iter();
        drop(held.next());
        assert!(
            take(&mut a).is_none(),
            "a returned slot above the new limit"
        );
        drop(held.next());
        assert!(
            take(&mut a).is_none(),
            "a returned slot above the new limit"
        );
        assert_eq!(a.owed, 0);
        assert!(take(&mut a).is_none(), "one open connection fills limit 1");
        drop(held.next());
        let only = take(&mut a).expect("limit 1 admits one");
        assert!(take(&mut a).is_none());
        drop(only);
        assert_eq!(a.permits.available_permits(), 1);
    }

    #[test]
    fn a_cut_forgets_free_slots_at_once() {
        let (mut a, _tx) = admission(4);
        let _one = take(&mut a).unwrap();
        a.resize(2);
        assert_eq!((a.permits.available_permits(), a.owed), (1, 0));
        let _two = take(&mut a).unwrap();
        assert!(take(&mut a).is_none());
    }

    #[test]
    fn a_raise_first_cancels_what_a_cut_owes() {
        let (mut a, _tx) = admission(2);
        let held = [take(&mut a).unwrap(), take(&mut a).unwrap()];
        a.resize(0);
        assert_eq!(a.owed, 2);
        a.resize(3);
        assert_eq!((a.permits.available_permits(), a.owed), (1, 0));
        let third = take(&mut a).expect("limit 3 with two open admits a third");
        assert!(take(&mut a).is_none());
        drop(held);
        drop(third);
        assert_eq!(a.permits.available_permits(), 3, "no permit lost");
    }

    #[test]
    fn huge_limits_are_capped_at_what_a_semaphore_holds() {
        let (mut a, _tx) = admission(usize::MAX);
        assert_eq!(a.permits.available_permits(), Semaphore::MAX_PERMITS);
        a.resize(usize::MAX);
        a.resize(5);
        a.resize(usize::MAX);
        assert_eq!(a.permits.available_permits(), Semaphore::MAX_PERMITS);
    }

    #[tokio::test]
    async fn a_reload_while_waiting_at_the_limit_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut a, tx) = admission(0);
        let shutdown = std::future::pending::<()>();
        let mut shutdown = std::pin::pin!(shutdown);
        {
            let waiting = a.accept(&listener, || 0, &mut shutdown);
            tokio::pin!(waiting);
            // Polled once: waiting for a slot at limit 0, the reloads so far seen.
            tokio::select! {
                biased;
                early = &mut waiting => panic!("{early:?}"),
                () = std::future::ready(()) => {}
            }
            tx.send_replace(());
            assert!(matches!(waiting.await, Accepted::Reloaded));
        }
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        match a.accept(&listener, || 1, &mut shutdown).await {
            Accepted::Connection(..) => {}
            other => panic!("{other:?}"),
        }
    }
    #[tokio::test]
    async fn a_connection_made_after_a_reload_waits_for_the_new_limits() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mut a, tx) = admission(1);
        let shutdown = std::future::pending::<()>();
        let mut shutdown = std::pin::pin!(shutdown);
        let waiting = a.accept(&listener, || 1, &mut shutdown);
        tokio::pin!(waiting);
        // Polled once: a slot taken, waiting for a connection.
        tokio::select! {
            biased;
            early = &mut waiting => panic!("{early:?}"),
            () = std::future::ready(()) => {}
        }
        // Both before the accept loop runs again: the reload is applied, then a client
        // connects (blocking: the loop is not polled in between).
        tx.send_replace(());
        let _client = std::net::TcpStream::connect(addr).unwrap();
        // Lets the reactor see the connection, so both are ready when `waiting` is
        // polled again (a timer, not a real wait: it is what turns the reactor).
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            matches!(waiting.await, Accepted::Reloaded),
            "accepted under the limits from before the reload"
        );
    }
}
