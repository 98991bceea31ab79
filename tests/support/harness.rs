//! Process harness: `Harness` runs the real binary against the mocks; `run_cli` runs
//! one CLI command.

use super::*;

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

pub fn collect_lines<R: Read + Send + 'static>(r: R) -> Arc<Mutex<Vec<String>>> {
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
