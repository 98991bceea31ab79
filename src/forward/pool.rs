//! The upstream connection pool: HTTP/1.1 keep-alive connections on
//! `hyper::client::conn`, one pool per worker thread (as NGINX's `keepalive` and
//! pingora's per-thread pools), no background task.
//!
//! hyper-util's legacy client did the same job for any number of hosts and protocols,
//! and it was ~12% of a cached request's instructions: a pool keyed by (scheme,
//! authority) behind a mutex shared by all threads, a checkout future, waiters, and a
//! `Pooled` guard per request. Here there is one upstream and one thread per pool: a
//! checkout is a scan of a short `Vec` for a connection that is ready.
//!
//! A connection goes back into the list as soon as its response head has arrived;
//! hyper reports it ready again (`is_ready`) once that response has been read to the
//! end, so a connection still streaming a body is skipped, and one that failed or was
//! closed by the upstream (`is_closed`) is dropped at the next scan.

use std::sync::Mutex;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::body::ProxyBody;
use crate::error::ForwardError;
use crate::worker::PerWorker;

/// Where and how to connect.
pub(super) struct Connector {
    /// `host:port` for the TCP connect (names resolved at connect time).
    pub(super) addr: String,
    /// `Some` for an `https` upstream: the name its certificate must carry.
    pub(super) tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    pub(super) connect_timeout: Duration,
}

/// Idle and busy HTTP/1.1 connections to the upstream, per worker thread.
pub(super) struct Pool {
    connector: Connector,
    conns: PerWorker<Mutex<Vec<Conn>>>,
    /// Connections kept per worker; more are closed after their exchange.
    max_per_worker: usize,
    /// A connection unused this long is closed rather than reused.
    idle_timeout: Duration,
}

struct Conn {
    sender: SendRequest<ProxyBody>,
    /// When it last took a request.
    used: Instant,
}

impl Pool {
    pub(super) fn new(connector: Connector, max_per_worker: usize, idle_timeout: Duration) -> Self {
        Self {
            connector,
            conns: PerWorker::new(|| Mutex::new(Vec::new())),
            max_per_worker,
            idle_timeout,
        }
    }

    /// Sends `req` on a ready pooled connection, or on a new one. A request that a
    /// pooled connection gave back unsent (it was closing) is sent once more on a new
    /// connection; one that was sent is never sent twice.
    pub(super) async fn send(
        &self,
        req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, ForwardError> {
        // Connecting is boxed: its state (TCP, TLS, handshake) would otherwise widen
        // every future that awaits a request, and be copied with them on the hot path.
        let (mut sender, reused) = match self.checkout() {
            Some(sender) => (sender, true),
            None => (Box::pin(self.connect()).await?, false),
        };
        let rsp = match sender.try_send_request(req).await {
            Ok(rsp) => rsp,
            Err(mut e) => match e.take_message() {
                Some(req) if reused => {
                    sender = Box::pin(self.connect()).await?;
                    sender
                        .send_request(req)
                        .await
                        .map_err(|e| ForwardError::Exchange(Box::new(e)))?
                }
                _ => return Err(ForwardError::Exchange(Box::new(e.into_error()))),
            },
        };
        self.checkin(sender);
        Ok(rsp)
    }

    /// The most recently used connection that is ready, dropping closed and stale ones.
    fn checkout(&self) -> Option<SendRequest<ProxyBody>> {
        let mut conns = self.conns.get().lock().ok()?;
        let now = Instant::now();
        let mut i = conns.len();
        while i > 0 {
            i -= 1;
            let conn = &conns[i];
            if conn.sender.is_closed() || now.duration_since(conn.used) > self.idle_timeout {
                // Dropping the sender lets its connection task end and close the socket.
                conns.swap_remove(i);
            } else if conn.sender.is_ready() {
                return Some(conns.swap_remove(i).sender);
            }
        }
        None
    }

    fn checkin(&self, sender: SendRequest<ProxyBody>) {
        // A poisoned lock only means another request panicked mid-checkout; the list
        // itself is still a valid Vec.
        let mut conns = match self.conns.get().lock() {
            Ok(conns) => conns,
            Err(poisoned) => poisoned.into_inner(),
        };
        if conns.len() < self.max_per_worker && !sender.is_closed() {
            conns.push(Conn {
                sender,
                used: Instant::now(),
            });
        }
    }

    /// A new connection, its task spawned on the calling worker (so the request and the
    /// connection it uses share a thread), upgrades enabled for WebSocket tunnels.
    async fn connect(&self) -> Result<SendRequest<ProxyBody>, ForwardError> {
        let connect = |e: Box<dyn std::error::Error + Send + Sync>| ForwardError::Connect(e);
        let tcp = tokio::time::timeout(
            self.connector.connect_timeout,
            TcpStream::connect(&self.connector.addr),
        )
        .await
        .map_err(|e| connect(Box::new(e)))?
        .map_err(|e| connect(Box::new(e)))?;
        let _ = tcp.set_nodelay(true);
        match &self.connector.tls {
            None => handshake(tcp).await,
            Some((tls, name)) => {
                let stream = tokio::time::timeout(
                    self.connector.connect_timeout,
                    tls.connect(name.clone(), tcp),
                )
                .await
                .map_err(|e| connect(Box::new(e)))?
                .map_err(|e| connect(Box::new(e)))?;
                handshake(stream).await
            }
        }
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<ProxyBody>, ForwardError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ForwardError::Connect(Box::new(e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}
