//! A real `redis-server` (installed by `.ci/redis-deps`) as a child process for the
//! shared-cache tests (docs/reference.md#shared-cache), a tiny RESP client
//! to look inside it, and a TCP relay that makes it slow or cuts it off.
//!
//! The server runs on an ephemeral loopback port with no persistence (`--save ''
//! --appendonly no`) in a temp dir, optionally with TLS (a self-signed certificate, see
//! `tls.rs`), a `requirepass` and an ACL user. It is stopped by PID (killed on drop) and
//! can be killed and restarted on the same ports. The plain port is always open so the
//! tests can inspect the data even when scopegate talks TLS to the TLS port.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// Also listen with TLS on a second port (self-signed cert for 127.0.0.1 / localhost).
    pub tls: bool,
    /// `requirepass` for the default user.
    pub password: Option<String>,
    /// An ACL user `(name, password)`, with every permission unless `user_rules`.
    pub user: Option<(String, String)>,
    /// ACL rules for `user` (e.g. `~scopegate:*`, `+@read`); empty: `~* &* +@all`.
    pub user_rules: Vec<String>,
}

pub struct RedisServer {
    /// Plain TCP port on 127.0.0.1.
    pub port: u16,
    /// TLS port on 127.0.0.1 when `tls` was asked for.
    pub tls_port: Option<u16>,
    /// PEM of the self-signed server certificate (its own CA) when `tls`.
    pub cert_pem: Option<String>,
    pub dir: tempfile::TempDir,
    opts: RedisOptions,
    child: Mutex<Option<Child>>,
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        Self::start_with(RedisOptions::default()).await
    }

    pub async fn start_with(opts: RedisOptions) -> RedisServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert_pem = if opts.tls {
            let ck = rcgen::generate_simple_self_signed(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ])
            .expect("self-signed cert");
            std::fs::write(dir.path().join("redis.crt"), ck.cert.pem()).unwrap();
            std::fs::write(dir.path().join("redis.key"), ck.key_pair.serialize_pem()).unwrap();
            Some(ck.cert.pem())
        } else {
            None
        };
        let mut r = RedisServer {
            port: 0,
            tls_port: None,
            cert_pem,
            dir,
            opts,
            child: Mutex::new(None),
        };
        // A picked port can be taken by someone else before redis-server binds it:
        // try again with other ports.
        let mut last = String::new();
        for _ in 0..8 {
            r.port = free_port();
            r.tls_port = r.opts.tls.then(free_port);
            match r.spawn().await {
                Ok(()) => return r,
                Err(e) => last = e,
            }
        }
        panic!("redis-server did not start: {last}");
    }

    /// The URL scopegate is given (no credentials: they go to password_file/env).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// `rediss://` to the TLS port.
    pub fn tls_url(&self) -> String {
        format!(
            "rediss://127.0.0.1:{}/0",
            self.tls_port.expect("started without tls")
        )
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Writes the certificate PEM (the CA for `ca_file`) and returns its path.
    pub fn ca_file(&self) -> PathBuf {
        let p = self.dir.path().join("ca.pem");
        std::fs::write(&p, self.cert_pem.as_ref().expect("started without tls")).unwrap();
        p
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn command(&self) -> Command {
        let mut c = Command::new("redis-server");
        c.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            // DUMP shows values as stored: no LZF compression hiding plaintext.
            .args(["--rdbcompression", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path());
        if let Some(tls) = self.tls_port {
            c.arg("--tls-port")
                .arg(tls.to_string())
                .arg("--tls-cert-file")
                .arg(self.dir.path().join("redis.crt"))
                .arg("--tls-key-file")
                .arg(self.dir.path().join("redis.key"))
                .args(["--tls-auth-clients", "no"]);
        }
        if let Some(pw) = &self.opts.password {
            c.arg("--requirepass").arg(pw);
        }
        if let Some((user, pw)) = &self.opts.user {
            c.arg("--user").arg(user).arg("on").arg(format!(">{pw}"));
            if self.opts.user_rules.is_empty() {
                c.args(["~*", "&*", "+@all"]);
            } else {
                c.args(&self.opts.user_rules);
            }
        }
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Credentials the inspection client uses: the default user's password, else the
    /// ACL user (the default user has every permission).
    fn admin_auth(&self) -> Option<(Option<String>, String)> {
        if let Some(p) = &self.opts.password {
            return Some((None, p.clone()));
        }
        self.opts
            .user
            .as_ref()
            .map(|(u, p)| (Some(u.clone()), p.clone()))
    }

    async fn spawn(&self) -> Result<(), String> {
        let mut child = self
            .command()
            .spawn()
            .map_err(|e| format!("spawn redis-server (run .ci/redis-deps): {e}"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("redis-server exited with {status}: {}", self.log()));
            }
            if let Ok(mut c) = RedisClient::connect(self.port, self.admin_auth()).await {
                if matches!(c.cmd(&[b"PING"]).await, Ok(Value::Simple(ref s)) if s == "PONG") {
                    break;
                }
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("redis-server never answered PING: {}", self.log()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        *self.child.lock().unwrap() = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL, by PID) and waits for it: an abrupt crash.
    pub fn kill(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports (empty: nothing is persisted).
    pub async fn restart(&self) {
        self.kill();
        let mut last = String::new();
        for _ in 0..20 {
            match self.spawn().await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("redis-server did not restart on port {}: {last}", self.port);
    }

    pub async fn client(&self) -> RedisClient {
        RedisClient::connect(self.port, self.admin_auth())
            .await
            .unwrap_or_else(|e| panic!("connect to redis on {}: {e}", self.port))
    }

    /// Every key (SCAN, not KEYS), sorted.
    pub async fn keys(&self) -> Vec<Vec<u8>> {
        let mut c = self.client().await;
        let mut cursor = b"0".to_vec();
        let mut out = Vec::new();
        loop {
            let v = c
                .cmd(&[b"SCAN", &cursor, b"COUNT", b"1000"])
                .await
                .expect("SCAN");
            let Value::Array(mut parts) = v else {
                panic!("SCAN answered {v:?}")
            };
            let Some(Value::Array(keys)) = parts.pop() else {
                panic!("SCAN keys")
            };
            let Some(Value::Bulk(next)) = parts.pop() else {
                panic!("SCAN cursor")
            };
            out.extend(keys.into_iter().filter_map(Value::into_bytes));
            if next == b"0" {
                break;
            }
            cursor = next;
        }
        out.sort();
        out.dedup();
        out
    }

    /// Keys that hold strings (the cache entries; other types would be indexes).
    pub async fn string_keys(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut c = self.client().await;
        for k in self.keys().await {
            if let Ok(Value::Simple(t)) = c.cmd(&[b"TYPE", &k]).await {
                if t == "string" {
                    out.push(k);
                }
            }
        }
        out
    }

    pub async fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.client()
            .await
            .cmd(&[b"GET", key])
            .await
            .expect("GET")
            .into_bytes()
    }

    /// Overwrites a string value, keeping its TTL.
    pub async fn set_keep_ttl(&self, key: &[u8], value: &[u8]) {
        let v = self
            .client()
            .await
            .cmd(&[b"SET", key, value, b"KEEPTTL"])
            .await
            .expect("SET");
        assert!(matches!(v, Value::Simple(ref s) if s == "OK"), "SET: {v:?}");
    }

    /// PTTL in ms (-1: no expiry, -2: no such key).
    pub async fn pttl(&self, key: &[u8]) -> i64 {
        match self
            .client()
            .await
            .cmd(&[b"PTTL", key])
            .await
            .expect("PTTL")
        {
            Value::Int(n) => n,
            v => panic!("PTTL answered {v:?}"),
        }
    }

    /// Every key with its serialized value (`DUMP`, any type, uncompressed), concatenated:
    /// the whole content of the server, for "nothing in clear" checks.
    pub async fn dump_everything(&self) -> Vec<u8> {
        let mut c = self.client().await;
        let mut out = Vec::new();
        for k in self.keys().await {
            out.extend_from_slice(&k);
            out.push(b'\n');
            if let Ok(Value::Bulk(v)) = c.cmd(&[b"DUMP", &k]).await {
                out.extend_from_slice(&v);
            }
            out.push(b'\n');
        }
        out
    }

    /// `MONITOR`: every command any client sends from now on (as Redis prints them).
    pub async fn monitor(&self) -> Tap {
        Tap::start(self.client().await, &[b"MONITOR"]).await
    }

    /// `PSUBSCRIBE *`: every pub/sub message from now on (raw RESP bytes).
    pub async fn subscribe_all(&self) -> Tap {
        Tap::start(self.client().await, &[b"PSUBSCRIBE", b"*"]).await
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

// === RESP client ===

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Value>),
}

impl Value {
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            Value::Bulk(b) => Some(b),
            Value::Simple(s) => Some(s.into_bytes()),
            _ => None,
        }
    }
}

/// Minimal RESP2 client on one connection.
pub struct RedisClient {
    stream: BufReader<TcpStream>,
}

impl RedisClient {
    pub async fn connect(
        port: u16,
        auth: Option<(Option<String>, String)>,
    ) -> Result<Self, String> {
        let tcp = tokio::time::timeout(
            Duration::from_secs(2),
            TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
        let mut c = RedisClient {
            stream: BufReader::new(tcp),
        };
        if let Some((user, pw)) = auth {
            let v = match user {
                Some(u) => c.cmd(&[b"AUTH", u.as_bytes(), pw.as_bytes()]).await?,
                None => c.cmd(&[b"AUTH", pw.as_bytes()]).await?,
            };
            if v != Value::Simple("OK".into()) {
                return Err(format!("AUTH: {v:?}"));
            }
        }
        Ok(c)
    }

    pub async fn send(&mut self, args: &[&[u8]]) -> Result<(), String> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.stream
            .get_mut()
            .write_all(&buf)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// One command, one reply (bounded by 5 s).
    pub async fn cmd(&mut self, args: &[&[u8]]) -> Result<Value, String> {
        self.send(args).await?;
        tokio::time::timeout(Duration::from_secs(5), self.read())
            .await
            .map_err(|_| "no reply within 5 s".to_string())?
    }

    pub async fn read(&mut self) -> Result<Value, String> {
        let mut line = Vec::new();
        let n = self
            .stream
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n < 3 || !line.ends_with(b"\r\n") {
            return Err(format!("short line {line:?}"));
        }
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let int = || body.parse::<i64>().map_err(|e| format!("{body:?}: {e}"));
        Ok(match line[0] {
            b'+' => Value::Simple(body.clone()),
            b'-' => Value::Error(body.clone()),
            b':' => Value::Int(int()?),
            b'$' => {
                let len = int()?;
                if len < 0 {
                    return Ok(Value::Nil);
                }
                let mut data = vec![0u8; len as usize + 2];
                self.stream
                    .read_exact(&mut data)
                    .await
                    .map_err(|e| format!("read bulk: {e}"))?;
                data.truncate(len as usize);
                Value::Bulk(data)
            }
            b'*' => {
                let len = int()?;
                if len < 0 {
                    return Ok(Value::Nil);
                }
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(Box::pin(self.read()).await?);
                }
                Value::Array(items)
            }
            other => return Err(format!("unknown RESP type {:?}", other as char)),
        })
    }
}

// === taps (MONITOR, PSUBSCRIBE) ===

/// Collects every byte the server sends on a connection after one command.
pub struct Tap {
    bytes: Arc<Mutex<Vec<u8>>>,
    task: JoinHandle<()>,
}

impl Tap {
    async fn start(mut c: RedisClient, cmd: &[&[u8]]) -> Tap {
        c.send(cmd).await.expect("tap command");
        // The confirmation (`+OK` / `psubscribe` array) arrives before anything else.
        let first = c.read().await.expect("tap confirmation");
        assert!(!matches!(first, Value::Error(_)), "tap refused: {first:?}");
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let out = bytes.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 8192];
            loop {
                match c.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        Tap { bytes, task }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// === relay ===

/// A TCP relay on 127.0.0.1:0 in front of a server: adds latency to every byte the
/// server sends back, or cuts every connection and refuses new ones.
pub struct Relay {
    pub addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    task: JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().unwrap();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::new(Mutex::new(Vec::new()));
        let (d, dn, cs) = (delay_ms.clone(), down.clone(), conns.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if dn.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let d = d.clone();
                let h = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    // One task per connection: aborting it drops both sockets at once.
                    tokio::select! {
                        _ = pipe(cr, sw, Arc::new(AtomicU64::new(0))) => {}
                        _ = pipe(sr, cw, d) => {}
                    }
                });
                let mut cs = cs.lock().unwrap();
                cs.retain(|a| !a.is_finished());
                cs.push(h.abort_handle());
            }
        });
        Relay {
            addr,
            delay_ms,
            down,
            conns,
            task,
        }
    }

    /// `redis://` URL through the relay.
    pub fn url(&self) -> String {
        format!("redis://{}/0", self.addr)
    }

    /// Latency added to every answer from now on (pure latency: bandwidth unchanged).
    pub fn set_delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Down: every open connection is cut and new ones are closed at once. Up: relays again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for a in self.conns.lock().unwrap().drain(..) {
                a.abort();
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        for a in self.conns.lock().unwrap().drain(..) {
            a.abort();
        }
    }
}

/// Copies `r` to `w`, each chunk written `delay` after it was read (order kept).
async fn pipe(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    delay_ms: Arc<AtomicU64>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 16384];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let at = tokio::time::Instant::now()
                        + Duration::from_millis(delay_ms.load(Ordering::SeqCst));
                    if tx.send((at, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if w.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    };
    tokio::join!(reader, writer);
}
