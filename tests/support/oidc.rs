//! A real authorization server for the end-to-end tests: `oidc-provider` (npm, pinned by
//! `tests/e2e/package-lock.json`) run by `node tests/e2e/provider.mjs` on 127.0.0.1:0.
//!
//! - [`ensure_deps`] runs `npm ci --prefix tests/e2e` once per test process when
//!   `node_modules` is missing or was installed from another lockfile (stamp file below,
//!   shared with `.ci/e2e-deps`). Without Node.js it fails with how to install it: the e2e
//!   tests never skip.
//! - [`Oidc::shared`] hands out one provider to every test that runs at the same time (Node
//!   takes ~1 s of CPU to start); it is killed by PID when the last handle drops. Tests stay
//!   independent: each mints its own tokens and counts calls by token ([`Oidc::calls_for`]).
//! - Clients, scopes and token lifetimes are configured in `tests/e2e/provider.mjs` (CONFIG)
//!   and reported on its first stdout line, which [`Ready`] mirrors.
//!
//! `SCOPEGATE_E2E_NODE` names another `node` binary (e.g. to try an older Node.js).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use super::config::q;
use super::{sha256_hex, Req, TestConfig};

/// Written into `node_modules` after a successful `npm ci`: the SHA-256 of the lockfile it
/// installed. `.ci/e2e-deps` writes and checks the same file.
pub const STAMP: &str = ".scopegate-lock-sha256";

/// Bound on the provider's start-up (Node.js on a loaded 2-core machine takes seconds).
const START_TIMEOUT: Duration = Duration::from_secs(40);

/// `tests/e2e` in this checkout.
pub fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("e2e")
}

fn node_bin() -> String {
    std::env::var("SCOPEGATE_E2E_NODE").unwrap_or_else(|_| "node".to_string())
}

const INSTALL_HINT: &str = "The end-to-end tests run a real authorization server (oidc-provider) \
on Node.js >= 18. Install Node.js and npm (Debian/Ubuntu: `apt-get install -y nodejs npm`), or \
run `.ci/e2e-deps` as root, which does that and `npm ci --prefix tests/e2e`; `cargo test` then \
runs `npm ci` itself when tests/e2e/node_modules is missing.";

/// Checks Node.js and installs `tests/e2e/node_modules` when missing or stale (once per
/// process). Panics with an installation hint when that is impossible.
pub fn ensure_deps() {
    static DEPS: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = DEPS.get_or_init(install_deps) {
        panic!("{e}\n{INSTALL_HINT}");
    }
}

fn install_deps() -> Result<(), String> {
    let node = node_bin();
    let out = Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{node} --version` failed: {e} (is Node.js installed?)"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if !out.status.success() || major < 18 {
        return Err(format!(
            "`{node} --version` gave {version:?} ({}): Node.js >= 18 is needed",
            out.status
        ));
    }

    let dir = e2e_dir();
    let lock = std::fs::read(dir.join("package-lock.json"))
        .map_err(|e| format!("read {}/package-lock.json: {e}", dir.display()))?;
    let want = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&lock))
    };
    let stamp = dir.join("node_modules").join(STAMP);
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == want) {
        return Ok(());
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`npm ci --prefix {}` failed to start: {e}", dir.display()))?;
    if !out.status.success() {
        return Err(format!(
            "`npm ci --prefix {}` failed ({}):\n{}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::write(&stamp, format!("{want}\n"))
        .map_err(|e| format!("write {}: {e}", stamp.display()))?;
    Ok(())
}

// === the provider ===

/// The provider's first stdout line.
#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    pub port: u16,
    pub issuer: String,
    pub token_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub jwks_uri: String,
    pub clients: Vec<ClientInfo>,
}

/// One registered client (CONFIG.clients in `provider.mjs`).
#[derive(Debug, Clone, Deserialize)]
pub struct ClientInfo {
    pub client_id: String,
    pub client_secret: String,
    pub token_endpoint_auth_method: String,
    /// Seconds its client-credentials access tokens live.
    pub access_token_ttl: u64,
}

/// One call the provider recorded (`GET /__e2e/stats`).
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    /// `token`, `introspection` or `revocation`.
    pub endpoint: String,
    pub client_id: Option<String>,
    /// How the caller sent its credentials: `client_secret_basic`, `client_secret_post`, `none`.
    pub auth: String,
    pub status: u16,
    /// Hex SHA-256 of the `token` parameter (introspection, revocation).
    pub token_sha256: Option<String>,
    /// `active` of an introspection answer.
    pub active: Option<bool>,
}

/// A token from the token endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct Minted {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default)]
    pub scope: Option<String>,
}

pub struct Oidc {
    pub ready: Ready,
    pub addr: SocketAddr,
    child: Mutex<Child>,
    /// Held open: the provider exits when it closes (test process gone).
    _stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Oidc {
    /// One provider shared by the tests running at the same time; a new one when none is.
    pub fn shared() -> Arc<Oidc> {
        static SHARED: Mutex<Weak<Oidc>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = slot.upgrade() {
            return o;
        }
        let o = Arc::new(Oidc::start());
        *slot = Arc::downgrade(&o);
        o
    }

    /// A provider of one's own.
    pub fn start() -> Oidc {
        ensure_deps();
        let node = node_bin();
        let script = e2e_dir().join("provider.mjs");
        let mut child = Command::new(&node)
            .arg(&script)
            .current_dir(e2e_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {node} {}: {e}\n{INSTALL_HINT}", script.display()));
        let stdin = child.stdin.take();
        let stderr = super::collect_lines(child.stderr.take().expect("stderr"));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {} // drain
        });
        let first = match rx.recv_timeout(START_TIMEOUT) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "oidc-provider printed no ready line within {START_TIMEOUT:?}\n--- stderr ---\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        let ready: Ready = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("oidc-provider ready line {first:?}: {e}"));
        Oidc {
            addr: SocketAddr::from(([127, 0, 0, 1], ready.port)),
            ready,
            child: Mutex::new(child),
            _stdin: stdin,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    pub fn client(&self, id: &str) -> &ClientInfo {
        self.ready
            .clients
            .iter()
            .find(|c| c.client_id == id)
            .unwrap_or_else(|| panic!("no client {id:?} in tests/e2e/provider.mjs CONFIG"))
    }

    fn path_of(url: &str) -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.find('/')
            .map_or("/".to_string(), |i| rest[i..].to_string())
    }

    /// A form POST authenticated as `client_id` with `method`.
    fn post_as(&self, url: &str, client_id: &str, method: &str, form: &[(&str, &str)]) -> Req {
        let c = self.client(client_id);
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let mut req = Req::new(self.addr, "POST", &Self::path_of(url));
        match method {
            "client_secret_basic" => {
                // RFC 6749 §2.3.1: form-urlencode id and secret, then base64.
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let cred = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(&c.client_id),
                    enc(&c.client_secret)
                ));
                req = req.header("authorization", &format!("Basic {cred}"));
            }
            "client_secret_post" => {
                fields.push(("client_id", &c.client_id));
                fields.push(("client_secret", &c.client_secret));
            }
            other => panic!("auth method {other:?}"),
        }
        req.form(&fields)
    }

    /// Client credentials grant with the client's registered auth method.
    pub async fn mint(&self, client_id: &str, scope: &str) -> Minted {
        let method = self.client(client_id).token_endpoint_auth_method.clone();
        self.mint_with(client_id, &method, scope).await
    }

    /// Client credentials grant (RFC 6749 §4.4) with an explicit auth method.
    pub async fn mint_with(&self, client_id: &str, method: &str, scope: &str) -> Minted {
        let r = self
            .post_as(
                &self.ready.token_endpoint,
                client_id,
                method,
                &[("grant_type", "client_credentials"), ("scope", scope)],
            )
            .send()
            .await;
        assert_eq!(r.status, 200, "token endpoint: {}", r.text());
        let m: Minted = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("token response {}: {e}", r.text()));
        assert_eq!(m.token_type, "Bearer");
        m
    }

    /// Client credentials grant for a resource (RFC 8707): a JWT access token (RFC 9068)
    /// when the provider's CONFIG.resourceServers formats that resource's tokens as JWTs.
    pub async fn mint_for_resource(&self, client_id: &str, scope: &str, resource: &str) -> Minted {
        let method = self.client(client_id).token_endpoint_auth_method.clone();
        let r = self
            .post_as(
                &self.ready.token_endpoint,
                client_id,
                &method,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", scope),
                    ("resource", resource),
                ],
            )
            .send()
            .await;
        assert_eq!(r.status, 200, "token endpoint: {}", r.text());
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("token response {}: {e}", r.text()))
    }

    /// RFC 7009 revocation by the client the token was issued to; returns the status.
    pub async fn revoke(&self, client_id: &str, token: &str) -> u16 {
        let method = self.client(client_id).token_endpoint_auth_method.clone();
        let r = self
            .post_as(
                &self.ready.revocation_endpoint,
                client_id,
                &method,
                &[("token", token), ("token_type_hint", "access_token")],
            )
            .send()
            .await;
        r.status
    }

    /// RFC 7662 introspection as `client_id` (its registered method).
    pub async fn introspect(&self, client_id: &str, token: &str) -> serde_json::Value {
        let method = self.client(client_id).token_endpoint_auth_method.clone();
        let r = self
            .post_as(
                &self.ready.introspection_endpoint,
                client_id,
                &method,
                &[("token", token)],
            )
            .send()
            .await;
        assert_eq!(r.status, 200, "introspection: {}", r.text());
        r.json()
    }

    /// `POST /__e2e/rotate` (tests/e2e/provider.mjs): a new key signs from now on and the
    /// JWKS publishes only it. Returns the new `kid`. Only on a provider of one's own
    /// ([`Oidc::start`]): tokens the provider stored before are lost.
    pub async fn rotate_keys(&self) -> String {
        let r = Req::new(self.addr, "POST", "/__e2e/rotate").send().await;
        assert_eq!(r.status, 200, "rotate: {}", r.text());
        let answer: serde_json::Value = r.json();
        answer["kid"].as_str().expect("kid").to_string()
    }

    /// Every call the provider recorded so far.
    pub async fn calls(&self) -> Vec<Call> {
        let r = Req::new(self.addr, "GET", "/__e2e/stats").send().await;
        assert_eq!(r.status, 200, "stats: {}", r.text());
        #[derive(Deserialize)]
        struct Stats {
            calls: Vec<Call>,
        }
        serde_json::from_slice::<Stats>(&r.body)
            .unwrap_or_else(|e| panic!("stats {}: {e}", r.text()))
            .calls
    }

    /// Calls to `endpoint` about `token`.
    pub async fn calls_for(&self, endpoint: &str, token: &str) -> Vec<Call> {
        let digest = sha256_hex(token);
        self.calls()
            .await
            .into_iter()
            .filter(|c| c.endpoint == endpoint && c.token_sha256.as_deref() == Some(&digest))
            .collect()
    }

    /// Introspection calls about `token`.
    pub async fn introspections_of(&self, token: &str) -> Vec<Call> {
        self.calls_for("introspection", token).await
    }

    /// `TestConfig::standard()` pointed at this provider, introspecting as `client_id` with
    /// `auth_method` (normally the client's registered one), expecting this issuer.
    pub fn scopegate_config(&self, client_id: &str, auth_method: &str) -> TestConfig {
        let c = self.client(client_id);
        TestConfig::standard()
            .endpoint(&self.ready.introspection_endpoint)
            .introspection("client_id", &q(&c.client_id))
            .introspection("auth_method", &q(auth_method))
            .introspection("expected_issuer", &q(&self.ready.issuer))
            // Node on a loaded machine: the mocks' 500 ms is too tight for a real server.
            .introspection("timeout", &q("5s"))
            .client_secret(&c.client_secret)
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill(); // SIGKILL to this PID only
            let _ = c.wait();
        }
    }
}
