//! The shared cache level in Redis (docs/reference.md#shared-cache): in-process cache →
//! Redis → authorization server, and purges that reach every replica.
//!
//! - [`SharedSettings`] is what `[introspection.cache.shared]` turns into (config
//!   builds it; this module does not read config).
//! - [`Link`] is one Redis deployment: a multiplexed data connection kept by a
//!   background supervisor (connect, PING every second, reconnect with backoff) and a
//!   dedicated pub/sub connection for purge messages. Requests never wait for a
//!   (re)connect: without a live connection a lookup is an `error`, i.e. a miss.
//! - [`Shared`] is a link seen from one introspector (its endpoint and client id).
//!
//! Every Redis operation on the request path is bounded by `timeout`; a write never
//! delays the response (it is spawned). Keys and values are derived and sealed as
//! described in [`crypto`]: nothing in Redis is readable or forgeable without
//! `key_file`. Tokens, digests, subjects, the password and the key are never logged.

pub(crate) mod crypto;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::IntoConnectionInfo;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use self::crypto::{Keys, Message, SenderId};
use super::{Introspector, Purge, TokenInfo};
use crate::claims::Needs;
use crate::metrics::Metrics;

/// `[introspection.cache.shared] prefix` default.
pub(crate) const DEFAULT_PREFIX: &str = "scopegate:";
/// `[introspection.cache.shared] timeout` default.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// `key_file` must hold at least this many bytes (after trailing newlines are trimmed).
pub(crate) const MIN_KEY_BYTES: usize = 32;

/// Time allowed to open a connection (in the background; requests never wait for it).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The supervisor checks the data connection this often.
const PING_INTERVAL: Duration = Duration::from_secs(1);
/// A PING slower than this counts as a dead connection (generous: `timeout` already
/// bounds every request; this only decides when to reconnect).
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// The subscriber PINGs this often, each PING bounded by this too: a healthy
/// subscription is confirmed at least every [`HEARD_FOR`].
const SUBSCRIBER_PING_INTERVAL: Duration = Duration::from_millis(400);
/// A confirmed subscription (subscribed, or a PING answered on it) counts as hearing
/// every purge for this long. Past it (lost, or a PING unanswered), in-process entries
/// older than [`UNHEARD_MAX_AGE`] are asked for again: a purge elsewhere may have been
/// missed (docs/reference.md#shared-cache, "other replicas within 1 s"). While the
/// authorization server is down (or that call fails) they are served as before, so
/// Redis never adds a failure.
const HEARD_FOR: Duration = Duration::from_millis(900);
/// While purges cannot be heard, the oldest in-process entry still served.
pub(crate) const UNHEARD_MAX_AGE: Duration = Duration::from_millis(900);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// At most this long between attempts: a replica resubscribes (and so hears purges
/// again) within about a second of Redis coming back.
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Each Redis operation of a purge waits at least this long (a purge is an admin call,
/// not the request path: `timeout` alone could be too tight for a SCAN page).
const PURGE_OP_TIMEOUT: Duration = Duration::from_secs(1);
/// Keys deleted per UNLINK and asked for per SCAN page.
const BATCH: usize = 500;

/// `[introspection.cache.shared]`, validated. `Debug` never shows the key or password.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSettings {
    /// `redis://` or `rediss://`, without a password.
    pub url: String,
    /// `key_file`'s bytes, trailing newlines trimmed; at least [`MIN_KEY_BYTES`].
    pub key: Vec<u8>,
    pub username: Option<String>,
    /// From `password_file` or `password_env`.
    pub password: Option<Password>,
    pub prefix: String,
    /// Bound on each Redis operation on the request path.
    pub timeout: Duration,
    /// Trust only this CA (PEM) for `rediss://`.
    pub ca_file: Option<PathBuf>,
}

/// The Redis password (ACL); `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl std::fmt::Debug for SharedSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSettings")
            .field("url", &self.url)
            .field("key", &"<redacted>")
            .field("username", &self.username)
            .field("password", &self.password)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Why a link could not be set up (bad CA file, unusable URL).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("shared cache: {0}")]
    Setup(String),
}

/// Why the shared part of a purge failed (the local part has happened).
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error("Redis is not connected")]
    NotConnected,
    #[error("Redis did not answer in time")]
    Timeout,
    #[error("Redis refused the purge")]
    Redis,
    #[error("the purge message could not be sealed")]
    Seal,
}

/// Where purges heard from other replicas are applied: the current state's
/// introspector (its caches, stale copies and tunnels) and validated JWTs.
#[derive(Debug)]
pub struct Target {
    pub introspector: Weak<Introspector>,
    pub jwt: Option<Evictor>,
}

/// Evicts what a purge covers from a cache this module does not own (validated JWTs).
#[allow(clippy::type_complexity, reason = "one boxed async callback")]
pub struct Evictor(
    pub  Box<
        dyn Fn(Purge) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
            + Send
            + Sync,
    >,
);

impl std::fmt::Debug for Evictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Evictor")
    }
}

/// One Redis deployment: connections, keys, and where remote purges go.
pub struct Link {
    settings: SharedSettings,
    client: redis::Client,
    keys: Keys,
    sender: SenderId,
    channel: String,
    conn: ArcSwapOption<MultiplexedConnection>,
    /// Woken by a failed request so the supervisor checks the connection at once.
    wake: Notify,
    target: ArcSwapOption<Target>,
    metrics: Arc<Metrics>,
    /// Until when (ms after `base`) purges are known to be heard; 0: not subscribed.
    heard_until: AtomicU64,
    base: Instant,
    /// Dropped with the link, which ends its background tasks.
    _stop: watch::Sender<()>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("url", &self.settings.url)
            .finish_non_exhaustive()
    }
}

/// An answer found in Redis.
#[derive(Debug)]
pub struct Hit {
    pub info: TokenInfo,
    /// Until the entry's absolute expiry.
    pub remaining: Duration,
}

/// A lookup that went wrong (not connected, timeout, error, entry that did not open).
struct Failed;

/// A link seen from one (endpoint, client id).
#[derive(Debug, Clone)]
pub struct Shared {
    link: Arc<Link>,
    ns: Arc<[u8]>,
}

// === impl Link ===

impl Link {
    /// Builds the link and, when a tokio runtime is running, starts its connection
    /// supervisor and subscriber. Never connects synchronously.
    pub fn start(settings: &SharedSettings, metrics: Arc<Metrics>) -> Result<Arc<Self>, LinkError> {
        let keys = Keys::derive(&settings.key)
            .map_err(|_| LinkError::Setup("key derivation failed".into()))?;
        let client = client(settings)?;
        let (stop, stop_rx) = watch::channel(());
        let link = Arc::new(Self {
            sender: keys.sender_id(),
            channel: format!("{}purge", settings.prefix),
            settings: settings.clone(),
            client,
            keys,
            conn: ArcSwapOption::empty(),
            wake: Notify::new(),
            target: ArcSwapOption::empty(),
            metrics,
            heard_until: AtomicU64::new(0),
            base: Instant::now(),
            _stop: stop,
        });
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(supervise(Arc::downgrade(&link), stop_rx.clone()));
                handle.spawn(subscribe(Arc::downgrade(&link), stop_rx));
            }
            Err(_) => tracing::debug!("no runtime: the shared cache stays disconnected"),
        }
        Ok(link)
    }

    pub fn settings(&self) -> &SharedSettings {
        &self.settings
    }

    /// Whether the data connection is up (for tests and diagnostics).
    pub fn is_connected(&self) -> bool {
        self.conn.load().is_some()
    }

    /// Whether purges from other replicas are being heard (subscribed, confirmed
    /// within the last 900 ms).
    pub fn hears_purges(&self) -> bool {
        self.ms_now() < self.heard_until.load(Ordering::Acquire)
    }

    fn ms_now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The subscription was just confirmed: purges are heard for `HEARD_FOR`.
    fn heard(&self) {
        let until = self.ms_now().saturating_add(HEARD_FOR.as_millis() as u64);
        self.heard_until.store(until, Ordering::Release);
    }

    fn unheard(&self) {
        self.heard_until.store(0, Ordering::Release);
    }

    /// Points remote purges at the current state (docs/reference.md#shared-cache).
    pub fn set_target(&self, target: Target) {
        self.target.store(Some(Arc::new(target)));
    }

    async fn apply_remote(&self, purge: &Purge) {
        if let Some(target) = self.target.load_full() {
            if let Some(introspector) = target.introspector.upgrade() {
                introspector.purge(purge).await;
            }
            if let Some(jwt) = &target.jwt {
                (jwt.0)(purge.clone()).await;
            }
        }
    }

    fn connection(&self) -> Option<MultiplexedConnection> {
        self.conn.load().as_deref().cloned()
    }

    /// Runs one request-path command, bounded by `timeout`.
    async fn run<T: redis::FromRedisValue>(
        &self,
        mut conn: MultiplexedConnection,
        cmd: &redis::Cmd,
        limit: Duration,
    ) -> Result<T, PurgeError> {
        match tokio::time::timeout(limit, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                tracing::debug!(kind = ?error.kind(), "shared cache: Redis command failed");
                self.wake.notify_one();
                Err(PurgeError::Redis)
            }
            Err(_) => {
                self.wake.notify_one();
                Err(PurgeError::Timeout)
            }
        }
    }
}

/// The redis client for `settings`: username and password set apart from the URL (the
/// URL never holds the password), `ca_file` as the only trust anchor for `rediss://`.
fn client(settings: &SharedSettings) -> Result<redis::Client, LinkError> {
    let info = settings
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| LinkError::Setup(format!("invalid url: {}", e.kind_name())))?;
    let mut redis = info.redis_settings().clone();
    if let Some(user) = &settings.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &settings.password {
        redis = redis.set_password(&password.0);
    }
    // TCP_NODELAY: a GET right after a write on the multiplexed connection must not
    // wait behind an unacknowledged segment for the server's delayed ACK (Nagle).
    let tcp = info.tcp_settings().clone().set_nodelay(true);
    let info = info.set_redis_settings(redis).set_tcp_settings(tcp);
    match &settings.ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| LinkError::Setup(format!("cannot read {:?}: {e}", path.display())))?;
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            redis::Client::build_with_tls(info, certs)
                .map_err(|e| LinkError::Setup(format!("{}: {}", path.display(), e.kind_name())))
        }
        None => redis::Client::open(info)
            .map_err(|e| LinkError::Setup(format!("invalid url: {}", e.kind_name()))),
    }
}

trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for redis::RedisError {
    /// The error's category and detail, which never include the password.
    fn kind_name(&self) -> String {
        match self.detail() {
            Some(detail) => format!("{:?}: {detail}", self.kind()),
            None => format!("{:?}", self.kind()),
        }
    }
}

/// Keeps the data connection: connect (backoff on failure), then PING every second;
/// a failed PING drops the connection (lookups become misses at once) and reconnects.
async fn supervise(link: Weak<Link>, mut stop: watch::Receiver<()>) {
    let mut backoff = BACKOFF_MIN;
    let mut failures = 0u32;
    loop {
        let Some(strong) = link.upgrade() else { return };
        let client = strong.client.clone();
        drop(strong);
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None);
        let connected = tokio::select! {
            c = client.get_multiplexed_async_connection_with_config(&config) => c,
            _ = stop.changed() => return,
        };
        match connected {
            Ok(conn) => {
                let Some(strong) = link.upgrade() else { return };
                strong.conn.store(Some(Arc::new(conn.clone())));
                drop(strong);
                tracing::info!("shared cache: connected to Redis");
                backoff = BACKOFF_MIN;
                failures = 0;
                if !watch_connection(&link, conn, &mut stop).await {
                    return;
                }
                tracing::warn!(
                    "shared cache: Redis connection lost; lookups are misses until it is back"
                );
            }
            Err(error) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %error.kind_name(), "shared cache: cannot connect to Redis; retrying in the background");
                } else {
                    tracing::debug!(error = %error.kind_name(), "shared cache: still cannot connect to Redis");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// PINGs `conn` until it fails (returns true: reconnect) or the link is gone (false).
async fn watch_connection(
    link: &Weak<Link>,
    mut conn: MultiplexedConnection,
    stop: &mut watch::Receiver<()>,
) -> bool {
    loop {
        let Some(strong) = link.upgrade() else {
            return false;
        };
        let woken = tokio::select! {
            () = tokio::time::sleep(PING_INTERVAL) => false,
            () = strong.wake.notified() => true,
            _ = stop.changed() => return false,
        };
        drop(strong);
        let ping = redis::cmd("PING");
        let alive = matches!(
            tokio::time::timeout(PING_TIMEOUT, ping.query_async::<redis::Value>(&mut conn)).await,
            Ok(Ok(_))
        );
        if !alive {
            if let Some(strong) = link.upgrade() {
                strong.conn.store(None);
            }
            return true;
        }
        if woken {
            // A burst of failing requests must not turn into a burst of PINGs.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Keeps a subscription to `prefix ‖ "purge"` and applies what other replicas purge.
/// Each time the subscription is (re)established, purges may have been missed, so the
/// local caches are cleared and tunnels closed (fail closed).
async fn subscribe(link: Weak<Link>, mut stop: watch::Receiver<()>) {
    let mut backoff = BACKOFF_MIN;
    let mut established_before = false;
    let mut failures = 0u32;
    loop {
        let Some(strong) = link.upgrade() else { return };
        let client = strong.client.clone();
        let channel = strong.channel.clone();
        drop(strong);
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let attempt = tokio::select! {
            a = tokio::time::timeout(CONNECT_TIMEOUT, attempt) => a,
            _ = stop.changed() => return,
        };
        match attempt {
            Ok(Ok(pubsub)) => {
                let Some(strong) = link.upgrade() else { return };
                strong.apply_remote(&Purge::All).await;
                strong.heard();
                drop(strong);
                if established_before {
                    tracing::warn!("shared cache: purge subscription re-established; local caches cleared and tunnels closed, since purges may have been missed");
                } else {
                    tracing::info!("shared cache: subscribed to purge messages");
                }
                established_before = true;
                backoff = BACKOFF_MIN;
                failures = 0;
                if !listen(&link, pubsub, &channel, &mut stop).await {
                    return;
                }
                if let Some(strong) = link.upgrade() {
                    strong.unheard();
                }
                tracing::warn!("shared cache: purge subscription lost; reconnecting, and meanwhile in-process entries are served only while young");
            }
            Ok(Err(error)) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %error.kind_name(), "shared cache: cannot subscribe to purge messages; retrying in the background");
                }
            }
            Err(_) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!("shared cache: subscribing to purge messages timed out; retrying in the background");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Applies messages until the subscription fails (true: resubscribe) or the link is
/// gone (false).
async fn listen(
    link: &Weak<Link>,
    pubsub: redis::aio::PubSub,
    channel: &str,
    stop: &mut watch::Receiver<()>,
) -> bool {
    let (mut sink, mut stream) = pubsub.split();
    let mut tick = tokio::time::interval(SUBSCRIBER_PING_INTERVAL);
    tick.reset();
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else { return true };
                let Some(strong) = link.upgrade() else { return false };
                if message.get_channel_name() != channel {
                    continue;
                }
                match strong.keys.open_message(channel, message.get_payload_bytes()) {
                    Some(Message { sender, .. }) if sender == strong.sender => {}
                    Some(Message { purge, .. }) => {
                        strong.apply_remote(&purge).await;
                        tracing::info!(purge = purge_kind(&purge), "shared cache: purge from another replica applied");
                    }
                    None => tracing::warn!("shared cache: a purge message did not authenticate; ignored (another key_file?)"),
                }
            }
            _ = tick.tick() => {
                // The answer comes after every message published before it: a PONG
                // means nothing was missed up to now.
                let alive = matches!(
                    tokio::time::timeout(SUBSCRIBER_PING_INTERVAL, sink.ping::<redis::Value>()).await,
                    Ok(Ok(_))
                );
                let Some(strong) = link.upgrade() else { return false };
                if !alive {
                    return true;
                }
                strong.heard();
            }
            _ = stop.changed() => return false,
        }
    }
}

fn purge_kind(purge: &Purge) -> &'static str {
    match purge {
        Purge::All => "all",
        Purge::Subject(_) => "subject",
        Purge::TokenSha256(_) => "token_sha256",
    }
}

// === impl Shared ===

impl Shared {
    /// `previous`'s link when its settings are unchanged (a reload keeps the
    /// connections), else a new one.
    pub fn new(
        settings: &SharedSettings,
        previous: Option<&Shared>,
        endpoint: &str,
        client_id: &str,
        metrics: &Arc<Metrics>,
    ) -> Result<Self, LinkError> {
        let link = match previous.filter(|p| p.link.settings == *settings) {
            Some(p) => p.link.clone(),
            None => Link::start(settings, metrics.clone())?,
        };
        Ok(Self {
            link,
            ns: crypto::namespace(endpoint, client_id).into(),
        })
    }

    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }

    /// Whether an in-process entry may be served: always while purges are heard, else
    /// only while it is younger than [`UNHEARD_MAX_AGE`].
    pub fn trusts(&self, entry: &super::cache::Entry) -> bool {
        self.link.hears_purges() || entry.age() < UNHEARD_MAX_AGE
    }

    /// Looks `token` up in Redis; `None` is a miss, whatever the reason (not connected,
    /// slower than `timeout`, an error, or an entry that does not open). Counted in
    /// `shared_cache_requests_total` and `shared_cache_duration_seconds`. The entry
    /// holds the answer as received; `needs` says what the local copy keeps of it.
    pub async fn lookup(&self, token: &[u8], needs: &Needs) -> Option<Hit> {
        let link = &self.link;
        let metrics = &link.metrics;
        let Some(conn) = link.connection() else {
            metrics.shared_cache_result[2].inc();
            return None;
        };
        let sha: [u8; 32] = Sha256::digest(token).into();
        let key = link.keys.entry_key(&link.settings.prefix, &self.ns, &sha);
        let started = Instant::now();
        let mut get = redis::cmd("GET");
        get.arg(&key);
        let value = link
            .run::<Option<Vec<u8>>>(conn, &get, link.settings.timeout)
            .await;
        metrics
            .shared_cache_duration
            .observe(started.elapsed().as_secs_f64());
        let result = match value {
            Err(_) => Err(Failed),
            Ok(None) => Ok(None),
            Ok(Some(value)) => self.open(token, &key, &value, needs),
        };
        let index = match &result {
            Ok(Some(_)) => 0,
            Ok(None) => 1,
            Err(Failed) => 2,
        };
        metrics.shared_cache_result[index].inc();
        result.ok().flatten()
    }

    fn open(
        &self,
        token: &[u8],
        key: &str,
        value: &[u8],
        needs: &Needs,
    ) -> Result<Option<Hit>, Failed> {
        let Some((expires_at, json)) = self.link.keys.open_entry(&self.ns, token, key, value)
        else {
            tracing::warn!("shared cache: an entry did not authenticate; ignored, asking the authorization server");
            return Err(Failed);
        };
        let now = now_ms();
        if expires_at <= now {
            return Ok(None);
        }
        match super::client::parse_answer_for(&json, needs) {
            Ok(info) => Ok(Some(Hit {
                info,
                remaining: Duration::from_millis(expires_at - now),
            })),
            Err(_) => {
                tracing::warn!("shared cache: an authenticated entry did not parse; ignored");
                Err(Failed)
            }
        }
    }

    /// Writes an answer for `lifetime`, counted from `asked_ms` (when the server was
    /// asked), in the background (never delays the response), each step bounded by
    /// `timeout`. Skipped if a purge happened since the answer was asked for (`epoch`
    /// moved from `asked_at`). An entry with a subject is added to that subject's index
    /// first, so no entry is ever written that a purge by subject could miss.
    #[allow(
        clippy::too_many_arguments,
        reason = "one write's inputs; a struct would only be built here and taken apart there"
    )]
    pub fn store(
        &self,
        token: &[u8],
        info: &TokenInfo,
        answer: &[u8],
        lifetime: Duration,
        epoch: Arc<AtomicU64>,
        asked_at: u64,
        asked_ms: u64,
    ) {
        // The same lifetime as the in-process entry, but to the millisecond: never past
        // `exp` (whole seconds) even by the fraction of a second `exp - now` rounds off.
        // Counted from when the server was asked (the answer may be that old already).
        let now = now_ms();
        let mut expires_at =
            asked_ms.saturating_add(u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX));
        if info.is_active() {
            if let Some(exp) = info.exp() {
                let exp_ms = u64::try_from(exp).unwrap_or(0).saturating_mul(1000);
                expires_at = expires_at.min(exp_ms);
            }
        }
        if expires_at <= now {
            return;
        }
        let Some(conn) = self.link.connection() else {
            return;
        };
        // The whole answer as the authorization server sent it, not this replica's
        // compact copy: another replica's configuration may read members this one drops.
        let claims = answer;
        let link = &self.link;
        let sha: [u8; 32] = Sha256::digest(token).into();
        let key = link.keys.entry_key(&link.settings.prefix, &self.ns, &sha);
        let Some(value) = link
            .keys
            .seal_entry(&self.ns, token, &key, expires_at, claims)
        else {
            return;
        };
        let index = info
            .subject()
            .map(|s| link.keys.subject_key(&link.settings.prefix, s));
        let link = link.clone();
        // Outside a tokio runtime (a caller polling with another executor) nothing is written.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let limit = link.settings.timeout;
            if let Some(index) = index {
                // NX sets a first expiry, GT only ever extends it: the index outlives
                // every entry in it (Redis 7 or Valkey).
                let mut pipe = redis::pipe();
                pipe.cmd("SADD").arg(&index).arg(&key).ignore();
                pipe.cmd("PEXPIREAT")
                    .arg(&index)
                    .arg(expires_at)
                    .arg("NX")
                    .ignore();
                pipe.cmd("PEXPIREAT")
                    .arg(&index)
                    .arg(expires_at)
                    .arg("GT")
                    .ignore();
                let mut c = conn.clone();
                let indexed = tokio::time::timeout(limit, pipe.query_async::<()>(&mut c)).await;
                if !matches!(indexed, Ok(Ok(()))) {
                    tracing::debug!("shared cache: subject index write failed; entry not written");
                    return;
                }
            }
            if epoch.load(Ordering::Acquire) != asked_at {
                return;
            }
            let mut set = redis::cmd("SET");
            // Absolute (PXAT), so the time this task waited does not lengthen it.
            set.arg(&key).arg(value).arg("PXAT").arg(expires_at);
            let mut c = conn;
            if !matches!(
                tokio::time::timeout(limit, set.query_async::<()>(&mut c)).await,
                Ok(Ok(()))
            ) {
                tracing::debug!("shared cache: entry write failed or timed out");
            }
        });
    }

    /// Deletes the entries `purge` covers in Redis and tells every other replica.
    pub async fn purge(&self, purge: &Purge) -> Result<(), PurgeError> {
        let link = &self.link;
        let conn = link.connection().ok_or(PurgeError::NotConnected)?;
        let limit = link.settings.timeout.max(PURGE_OP_TIMEOUT);
        let prefix = &link.settings.prefix;
        match purge {
            Purge::TokenSha256(sha) => {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(link.keys.entry_key(prefix, &self.ns, sha));
                link.run::<()>(conn.clone(), &unlink, limit).await?;
            }
            Purge::Subject(subject) => {
                let index = link.keys.subject_key(prefix, subject);
                let mut members = redis::cmd("SMEMBERS");
                members.arg(&index);
                let keys: Vec<String> = link.run(conn.clone(), &members, limit).await?;
                for batch in keys.chunks(BATCH) {
                    let mut unlink = redis::cmd("UNLINK");
                    unlink.arg(batch);
                    link.run::<()>(conn.clone(), &unlink, limit).await?;
                }
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&index);
                link.run::<()>(conn.clone(), &unlink, limit).await?;
            }
            Purge::All => {
                let pattern = format!("{}*", glob_escape(prefix));
                let mut cursor: u64 = 0;
                loop {
                    let mut scan = redis::cmd("SCAN");
                    scan.arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(BATCH);
                    let (next, keys): (u64, Vec<String>) =
                        link.run(conn.clone(), &scan, limit).await?;
                    if !keys.is_empty() {
                        let mut unlink = redis::cmd("UNLINK");
                        unlink.arg(&keys);
                        link.run::<()>(conn.clone(), &unlink, limit).await?;
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
        }
        let message = Message {
            sender: link.sender,
            purge: purge.clone(),
        };
        let payload = link
            .keys
            .seal_message(&link.channel, &message)
            .ok_or(PurgeError::Seal)?;
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(&link.channel).arg(payload);
        link.run::<i64>(conn, &publish, limit).await?;
        Ok(())
    }
}

/// `prefix` as a literal SCAN MATCH pattern.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Milliseconds since the Unix epoch (the clock the sealed expiry and PXAT use).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_escape_makes_a_literal_prefix() {
        assert_eq!(glob_escape("scopegate:"), "scopegate:");
        assert_eq!(glob_escape(r"a*b?[c]\"), r"a\*b\?\[c\]\\");
    }

    #[test]
    fn debug_never_shows_the_key_or_password() {
        let settings = SharedSettings {
            url: "redis://127.0.0.1:6379/0".into(),
            key: b"super-secret-key-material-0123456789".to_vec(),
            username: Some("scopegate".into()),
            password: Some(Password("hunter2-password".into())),
            prefix: DEFAULT_PREFIX.into(),
            timeout: DEFAULT_TIMEOUT,
            ca_file: None,
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("127.0.0.1:6379"));
    }
}
