//! Black-box harness: spawns the real `scopegate` binary against in-process mocks.
//!
//! `Harness::start(TestConfig)` starts a mock authorization server and an echo upstream on
//! 127.0.0.1:0, renders the config to TOML (so the real loader runs), runs
//! `scopegate serve --config PATH --log-format json`, reads the bound addresses from the
//! `listening` log lines and waits for `GET /readyz` = 200. Every wait is bounded and fails
//! loudly with the captured stderr.

pub mod auth_server;
pub mod config;
pub mod h2raw;
pub mod jwks;
pub mod oidc;
pub mod redis;
pub mod upstream;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use auth_server::{active, inactive, AuthServer};
pub use config::{Route, TestConfig};
pub use upstream::{Reply, Upstream};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_scopegate");

/// Client secret written by every `TestConfig`; must never appear in a log line.
pub const CLIENT_SECRET: &str = "sg-secret-Q7x9Vb2k";

/// Bound on any single wait in the harness.
const START_TIMEOUT: Duration = Duration::from_secs(15);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

// === Harness ===

pub struct Harness {
    /// In decision-only mode (no proxy listener) an address nothing listens on.
    pub proxy_addr: SocketAddr,
    /// The decision listener, when the config has `[decision]`.
    pub decision_addr: Option<SocketAddr>,
    pub admin_addr: SocketAddr,
    pub auth_server: AuthServer,
    pub upstream: Upstream,
    pub config_path: PathBuf,
    pub dir: tempfile::TempDir,
    pub config: TestConfig,
    child: Mutex<Child>,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    /// Mocks with no scripted tokens; add them with `h.auth_server.token(..)`.
    pub async fn start(config: TestConfig) -> Harness {
        let auth = AuthServer::start().await;
        let upstream = Upstream::start().await;
        Self::start_with(config, auth, upstream).await
    }

    pub async fn start_with(
        config: TestConfig,
        auth_server: AuthServer,
        upstream: Upstream,
    ) -> Harness {
        Self::try_start_with(config, auth_server, upstream, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts with extra environment variables for the child.
    pub async fn try_start_with(
        config: TestConfig,
        auth_server: AuthServer,
        upstream: Upstream,
        env: &[(&str, &str)],
    ) -> Result<Harness, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = config.write(dir.path(), &auth_server, &upstream);
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--log-format")
            .arg("json")
            .env("RUST_LOG", "info")
            .env_remove("SCOPEGATE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn {BIN}: {e}"))?;
        let stderr = collect_lines(child.stderr.take().expect("stderr"));
        let stdout = collect_lines(child.stdout.take().expect("stdout"));

        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let (proxy_addr, admin_addr, decision_addr) = loop {
            let lines = stderr.lock().unwrap().clone();
            let proxy = match config.no_upstream {
                false => listening_addr(&lines, "proxy"),
                true => Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            };
            let admin = listening_addr(&lines, "admin");
            let decision = listening_addr(&lines, "decision");
            if let (Some(p), Some(a)) = (proxy, admin) {
                if decision.is_some() || !config.decision {
                    break (p, a, decision);
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(format!(
                    "scopegate exited early with {status}\n--- config ---\n{}\n--- stderr ---\n{}",
                    std::fs::read_to_string(&config_path).unwrap_or_default(),
                    stderr.lock().unwrap().join("\n")
                ));
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!(
                    "scopegate did not log both `listening` lines within {START_TIMEOUT:?}\n--- stderr ---\n{}",
                    stderr.lock().unwrap().join("\n")
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };

        let h = Harness {
            proxy_addr,
            decision_addr,
            admin_addr,
            auth_server,
            upstream,
            config_path,
            dir,
            config,
            child: Mutex::new(child),
            stderr,
            stdout,
        };
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) =
                tokio::time::timeout(Duration::from_secs(2), h.admin_get("/readyz").try_send())
                    .await
            {
                if matches!(r, Ok(ref r) if r.status == 200 || (h.config.skip_ready && r.status == 503))
                {
                    break;
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "admin /readyz never answered 200 within {START_TIMEOUT:?}\n--- stderr ---\n{}",
                    h.logs().join("\n")
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Readiness probing must not count as traffic the tests reason about.
        Ok(h)
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// All stderr lines so far (JSON log lines).
    pub fn logs(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Parsed log lines (non-JSON lines are skipped).
    pub fn log_json(&self) -> Vec<serde_json::Value> {
        self.logs()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (bounded) until a log line satisfies `pred`.
    pub async fn wait_log(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(v) = self.log_json().into_iter().find(|v| pred(v)) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "no log line for {what}; stderr:\n{}",
                    self.logs().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends a signal by name (`HUP`, `TERM`, `INT`) with `kill(1)`.
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits (bounded) for the process to exit.
    pub async fn wait_exit(&self, within: Duration) -> Option<ExitStatus> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(Some(s)) = self.child.lock().unwrap().try_wait() {
                return Some(s);
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Rewrites the config file in place (for reload tests).
    pub fn rewrite_config(&self, config: &TestConfig) {
        config.write(self.dir.path(), &self.auth_server, &self.upstream);
    }

    pub fn write_raw_config(&self, text: &str) {
        std::fs::write(&self.config_path, text).expect("write config");
    }

    // --- clients ---

    pub fn get(&self, target: &str) -> Req {
        Req::new(self.proxy_addr, "GET", target)
    }

    pub fn post(&self, target: &str) -> Req {
        Req::new(self.proxy_addr, "POST", target)
    }

    pub fn request(&self, method: &str, target: &str) -> Req {
        Req::new(self.proxy_addr, method, target)
    }

    /// A request to the decision listener.
    pub fn decide(&self, method: &str, target: &str) -> Req {
        Req::new(
            self.decision_addr.expect("config has no [decision]"),
            method,
            target,
        )
    }

    pub fn admin_get(&self, target: &str) -> Req {
        Req::new(self.admin_addr, "GET", target)
    }

    pub fn admin_post(&self, target: &str, json: &str) -> Req {
        Req::new(self.admin_addr, "POST", target)
            .header("content-type", "application/json")
            .body(json.as_bytes().to_vec())
    }

    /// Raw bytes to the proxy port; returns everything read back.
    pub async fn raw(&self, bytes: &[u8]) -> String {
        send_raw(self.proxy_addr, bytes).await
    }

    /// `GET /metrics` parsed.
    pub async fn metrics(&self) -> Metrics {
        let r = self.admin_get("/metrics").send().await;
        assert_eq!(r.status, 200, "metrics: {}", r.text());
        Metrics::parse(&r.text())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn collect_lines<R: Read + Send + 'static>(r: R) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            match line {
                Ok(l) => out.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
    });
    lines
}

fn listening_addr(lines: &[String], listener: &str) -> Option<SocketAddr> {
    lines.iter().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        let f = v.get("fields")?;
        if f.get("message")?.as_str()? != "listening" || f.get("listener")?.as_str()? != listener {
            return None;
        }
        f.get("addr")?.as_str()?.trim_matches('"').parse().ok()
    })
}

/// `fields` of a JSON log line as a string (message, route, ...).
pub fn field<'a>(line: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    line.get("fields")
        .and_then(|f| f.get(name))
        .or_else(|| line.get(name))
}

/// Runs the binary to completion (for `check`, `--version`, ...).
pub fn run_cli(args: &[&str], env: &[(&str, &str)], cwd: Option<&Path>) -> CliOutput {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("SCOPEGATE_CONFIG")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Bounded: a CLI command that hangs is a failure, not a stuck suite.
    let deadline = std::time::Duration::from_secs(20);
    let start = std::time::SystemTime::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed().unwrap_or_default() > deadline {
            let _ = child.kill();
            panic!("scopegate {args:?} did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    CliOutput {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[derive(Debug)]
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

// === HTTP client ===

/// One HTTP/1.1 request on a fresh connection.
#[derive(Clone)]
pub struct Req {
    addr: SocketAddr,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    h2: bool,
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
}

impl Req {
    pub fn new(addr: SocketAddr, method: &str, target: &str) -> Self {
        Self {
            addr,
            method: method.to_string(),
            target: target.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            h2: false,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn json(self, body: &str) -> Self {
        self.header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
    }

    /// `application/x-www-form-urlencoded` body, encoded in the given order.
    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            s.append_pair(k, v);
        }
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(s.finish().into_bytes())
    }

    /// Send over h2c (prior knowledge) instead of HTTP/1.1.
    pub fn h2(mut self) -> Self {
        self.h2 = true;
        self
    }

    pub async fn send(self) -> Resp {
        let what = format!("{} {} -> {}", self.method, self.target, self.addr);
        match tokio::time::timeout(REQUEST_TIMEOUT, self.try_send()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => panic!("{what}: {e}"),
            Err(_) => panic!("{what}: no answer within {REQUEST_TIMEOUT:?}"),
        }
    }

    pub fn build(&self) -> http::Request<Full<Bytes>> {
        let uri = if self.h2 {
            format!("http://{}{}", self.addr, self.target)
        } else {
            self.target.clone()
        };
        let mut req = http::Request::builder()
            .method(self.method.as_str())
            .uri(uri)
            .body(Full::new(Bytes::from(self.body.clone())))
            .expect("request");
        if self.h2 {
            *req.version_mut() = http::Version::HTTP_2;
        }
        let headers = req.headers_mut();
        let has_host = self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"));
        if !has_host && !self.h2 {
            headers.insert(
                http::header::HOST,
                HeaderValue::from_str(&self.addr.to_string()).unwrap(),
            );
        }
        for (k, v) in &self.headers {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_bytes(v.as_bytes()).expect("header value"),
            );
        }
        req
    }

    pub async fn try_send(self) -> Result<Resp, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let req = self.build();
        send_on(TokioIo::new(tcp), req, self.h2).await
    }
}

/// Sends one request over any IO (plain TCP or TLS), HTTP/1.1 or HTTP/2.
pub async fn send_on<I>(io: I, req: http::Request<Full<Bytes>>, h2: bool) -> Result<Resp, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let resp = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("h2 handshake: {e}"))?;
        tokio::spawn(conn);
        sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn.with_upgrades());
        sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let version = resp.version();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Resp {
        status,
        headers,
        body,
        version,
    })
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// The `error` member of a JSON error body.
    pub fn error(&self) -> Option<String> {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()?
            .get("error")?
            .as_str()
            .map(str::to_string)
    }

    pub fn www_authenticate(&self) -> Option<String> {
        self.header("www-authenticate")
    }

    /// Asserts status, error code and the whole `WWW-Authenticate` (None = absent).
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, www: Option<&str>) {
        assert_eq!(self.status, status, "status; body: {}", self.text());
        assert_eq!(
            self.error().as_deref(),
            Some(code),
            "error code; body: {}",
            self.text()
        );
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "error content-type {ct:?}"
        );
        match www {
            None => assert_eq!(
                self.www_authenticate(),
                None,
                "no WWW-Authenticate expected"
            ),
            Some(w) => assert_eq!(
                self.www_authenticate().as_deref(),
                Some(w),
                "WWW-Authenticate"
            ),
        }
    }

    /// Asserts a `WWW-Authenticate` with `error="invalid_token"` and some description.
    #[track_caller]
    pub fn assert_invalid_token(&self) {
        assert_eq!(self.status, 401, "status; body: {}", self.text());
        assert_eq!(
            self.error().as_deref(),
            Some("invalid_token"),
            "body: {}",
            self.text()
        );
        let w = self.www_authenticate().expect("WWW-Authenticate on 401");
        assert!(
            w.starts_with(r#"Bearer realm="api", error="invalid_token", error_description=""#)
                && w.ends_with('"'),
            "WWW-Authenticate: {w}"
        );
    }
}

// === raw TCP ===

/// Writes `bytes`, then reads one response (by Content-Length / chunked / EOF), bounded.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_response(&mut s, Duration::from_secs(5)).await
}

/// Reads one HTTP/1 response from `s` (or whatever arrives before EOF / `within`).
pub async fn read_response(s: &mut TcpStream, within: Duration) -> String {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let body = &buf[end + 4..];
            if head.starts_with("http/1.1 1") && !head.starts_with("http/1.1 101") {
                // interim response: drop it and keep reading
                buf = body.to_vec();
                continue;
            }
            let cl = head.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if let Some(cl) = cl {
                if body.len() >= cl {
                    break;
                }
            } else if head
                .lines()
                .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"))
            {
                if find(body, b"0\r\n\r\n").is_some() {
                    break;
                }
            } else if head.starts_with("http/1.1 204") || head.starts_with("http/1.1 304") {
                break;
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The status code of a raw response text (0 when there is none).
pub fn raw_status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// === metrics ===

/// One sample: metric name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

#[derive(Debug, Clone)]
pub struct Metrics {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Metrics {
    pub fn parse(text: &str) -> Self {
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = match line.rsplit_once(' ') {
                Some(x) => x,
                None => continue,
            };
            let value: f64 = match value.trim().parse() {
                Ok(v) => v,
                Err(_) => continue,
            };
            let (name, labels) = match series.find('{') {
                Some(i) => (&series[..i], parse_labels(&series[i + 1..series.len() - 1])),
                None => (series, Vec::new()),
            };
            samples.push((name.to_string(), labels, value));
        }
        Self {
            text: text.to_string(),
            samples,
        }
    }

    /// The value of the series with exactly these labels (order-insensitive).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut want: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        want.sort();
        self.samples.iter().find_map(|(n, l, v)| {
            let mut l = l.clone();
            l.sort();
            (n == name && l == want).then_some(*v)
        })
    }

    /// Same as `get`, but a missing series counts as 0.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    /// All label sets seen for `name`.
    pub fn label_sets(&self, name: &str) -> Vec<Vec<(String, String)>> {
        self.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, l, _)| l.clone())
            .collect()
    }
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let after = after.strip_prefix('"').unwrap_or(after);
        let mut val = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        val.push(match n {
                            'n' => '\n',
                            other => other,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => val.push(c),
            }
        }
        out.push((key, val));
        rest = &after[end..];
    }
    out
}

/// Hex SHA-256 of a raw token (the purge key of docs/reference.md#introspection-cache).
pub fn sha256_hex(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A loopback URL on which nothing listens.
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

// === standard fixtures ===

/// Tokens used across modules (all expire in an hour).
pub fn add_standard_tokens(auth: &AuthServer) {
    auth.token(
        "t-read",
        active()
            .scope("orders:read")
            .sub("alice")
            .client_id("app-1")
            .username("alice.s")
            .exp_in(3600),
    );
    auth.token(
        "t-write",
        active()
            .scope("orders:write")
            .sub("alice")
            .client_id("app-1")
            .exp_in(3600),
    );
    auth.token(
        "t-admin",
        active().scope("admin orders:read").sub("root").exp_in(3600),
    );
    auth.token(
        "t-profile",
        active().scope("profile").sub("alice").exp_in(3600),
    );
    auth.token(
        "t-profile-all",
        active()
            .scope("profile profile:contact profile:likes billing")
            .sub("alice")
            .exp_in(3600),
    );
    auth.token("t-inactive", inactive());
}

impl Harness {
    /// `Harness::start` plus the standard tokens.
    pub async fn standard(config: TestConfig) -> Harness {
        let h = Harness::start(config).await;
        add_standard_tokens(&h.auth_server);
        h
    }
}
