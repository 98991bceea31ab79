//! Real NGINX (`auth_request` → `/nginx`) and real Caddy (`forward_auth` →
//! `/forward-auth`) in front of the mock upstream, asking a decision-only scopegate.
//!
//! Both are Debian packages installed by `.ci/decision-deps`; a missing binary fails
//! the test (never skipped). Each runs as a child process of the test with a generated
//! config in a temp dir, on a loopback port picked by binding 127.0.0.1:0 and releasing
//! it just before the child binds it (a small window in which another process could
//! take the port; the child then fails to start and the test fails loudly), and is
//! stopped by PID when the test ends.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::*;

/// The identity headers scopegate sets (the default `[identity]` names).
const IDENTITY: [&str; 4] = [
    "x-auth-subject",
    "x-auth-scope",
    "x-auth-client-id",
    "x-auth-username",
];

/// A front proxy child process, killed (by PID) and reaped on drop.
struct Front {
    addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
    log: std::path::PathBuf,
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Front {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Raw request bytes (the path exactly as written) to the front proxy.
    async fn raw(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> String {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: api.example.com\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("Connection: close\r\n\r\n");
        send_raw(self.addr, req.as_bytes()).await
    }
}

/// A loopback port that was free a moment ago (see the module comment).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn binary(name: &str) -> String {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = format!("{dir}/{name}");
        if std::path::Path::new(&path).exists() {
            return path;
        }
    }
    panic!("{name} is not installed: run .ci/decision-deps (CI does)");
}

/// Waits (bounded) until the child accepts connections.
async fn wait_ready(front: &mut Front, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if tokio::net::TcpStream::connect(front.addr).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = front.child.try_wait() {
            panic!("{what} exited with {status}:\n{}", front.logs());
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{what} did not listen on {}:\n{}", front.addr, front.logs());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// NGINX with `auth_request` to scopegate's `/nginx` (the snippet of
/// `docs/decision-mode.md#nginx`).
async fn nginx(decision: SocketAddr, upstream: &str) -> Front {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().display().to_string();
    let port = free_port();
    let conf = format!(
        r#"error_log {p}/error.log info;
pid {p}/nginx.pid;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {p}/tmp;
  proxy_temp_path {p}/tmp;
  fastcgi_temp_path {p}/tmp;
  uwsgi_temp_path {p}/tmp;
  scgi_temp_path {p}/tmp;
  # scopegate's WWW-Authenticate on 403 too (NGINX copies it itself on 401 only).
  map $status $sg_www_authenticate_403 {{ 403 $sg_www_authenticate; default ""; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      auth_request /_scopegate;
      auth_request_set $sg_subject   $upstream_http_x_auth_subject;
      auth_request_set $sg_scope     $upstream_http_x_auth_scope;
      auth_request_set $sg_client_id $upstream_http_x_auth_client_id;
      auth_request_set $sg_username  $upstream_http_x_auth_username;
      auth_request_set $sg_www_authenticate $upstream_http_www_authenticate;
      # Always set: an empty value (claim absent) removes the client's copy.
      proxy_set_header X-Auth-Subject   $sg_subject;
      proxy_set_header X-Auth-Scope     $sg_scope;
      proxy_set_header X-Auth-Client-Id $sg_client_id;
      proxy_set_header X-Auth-Username  $sg_username;
      add_header WWW-Authenticate $sg_www_authenticate_403 always;
      proxy_pass {upstream};
    }}
    location = /_scopegate {{
      internal;
      proxy_pass http://{decision}/nginx;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
    }}
  }}
}}
"#
    );
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let log = dir.path().join("error.log");
    let child = Command::new(binary("nginx"))
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .arg("-g")
        .arg("daemon off; master_process off;")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nginx");
    let mut front = Front {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child,
        dir,
        log,
    };
    wait_ready(&mut front, "nginx").await;
    front
}

/// Caddy with `forward_auth` to scopegate's `/forward-auth` (the snippet of
/// `docs/decision-mode.md#caddy`).
async fn caddy(decision: SocketAddr, upstream: &str) -> Front {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let upstream = upstream.trim_start_matches("http://");
    let conf = format!(
        r#"{{
	admin off
	auto_https off
	log {{
		output stderr
		level INFO
	}}
}}
http://:{port} {{
	bind 127.0.0.1
	# Header names with `_` never pass (NGINX drops them by default): a CGI-style
	# backend reads X_Auth_Username as X-Auth-Username.
	request_header -*_*
	forward_auth {decision} {{
		uri /forward-auth
		copy_headers X-Auth-Subject X-Auth-Scope X-Auth-Client-Id X-Auth-Username
	}}
	reverse_proxy {upstream}
}}
"#
    );
    let conf_path = dir.path().join("Caddyfile");
    std::fs::write(&conf_path, conf).unwrap();
    let log = dir.path().join("caddy.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let child = Command::new(binary("caddy"))
        .arg("run")
        .arg("--config")
        .arg(&conf_path)
        .arg("--adapter")
        .arg("caddyfile")
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("spawn caddy");
    let mut front = Front {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child,
        dir,
        log,
    };
    wait_ready(&mut front, "caddy").await;
    front
}

/// A decision-only scopegate with the standard routes and tokens, plus `t-lean`
/// (subject and scope only: no client id, no username).
async fn scopegate() -> Harness {
    let h = Harness::standard(TestConfig::standard().decision_only()).await;
    h.auth_server.token(
        "t-lean",
        active().scope("orders:read").sub("alice").exp_in(600),
    );
    h
}

fn header<'a>(raw: &'a str, name: &str) -> Vec<&'a str> {
    let head = raw.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

fn body(raw: &str) -> &str {
    raw.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn decisions(m: &Metrics, route: &str, outcome: &str) -> f64 {
    m.value(
        "scopegate_decisions_total",
        &[("route", route), ("outcome", outcome)],
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nginx,
    Caddy,
}

async fn start(kind: Kind, h: &Harness) -> Front {
    let decision = h.decision_addr.unwrap();
    match kind {
        Kind::Nginx => nginx(decision, &h.upstream.url()).await,
        Kind::Caddy => caddy(decision, &h.upstream.url()).await,
    }
}

/// Allowed requests reach the upstream with exactly the identity headers scopegate
/// answered; the client's copies never do.
async fn allowed_carry_scopegates_identity(kind: Kind) {
    let h = scopegate().await;
    let front = start(kind, &h).await;
    let direct = h
        .decide("GET", "/nginx")
        .header("x-original-method", "GET")
        .header("x-original-uri", "/orders/1")
        .bearer("t-read")
        .send()
        .await;
    assert_eq!(direct.status, 200);
    let rsp = front
        .raw(
            "GET",
            "/orders/1?page=2",
            &[
                ("Authorization", "Bearer t-read"),
                ("X-Auth-Subject", "mallory"),
                ("X-Auth-Scope", "admin"),
            ],
        )
        .await;
    assert_eq!(raw_status(&rsp), 200, "{rsp}\n{}", front.logs());
    let up = h.upstream.single();
    assert_eq!(up.target, "/orders/1?page=2");
    for name in IDENTITY {
        assert_eq!(
            up.header_all(name),
            vec![direct.header(name).unwrap().as_str()],
            "{name}"
        );
    }
    h.upstream.clear();

    // A token without client_id / username: the client's copies of those must not
    // pass either, although scopegate's answer has nothing to overwrite them with.
    let rsp = front
        .raw(
            "GET",
            "/orders/1",
            &[
                ("Authorization", "Bearer t-lean"),
                ("X-Auth-Subject", "mallory"),
                ("X-Auth-Username", "mallory"),
                ("X-Auth-Client-Id", "evil"),
                ("X_Auth_Username", "mallory"),
            ],
        )
        .await;
    assert_eq!(raw_status(&rsp), 200, "{rsp}\n{}", front.logs());
    let up = h.upstream.single();
    assert_eq!(up.header_all("x-auth-subject"), vec!["alice"]);
    assert_eq!(up.header_all("x-auth-scope"), vec!["orders:read"]);
    for (k, v) in &up.headers {
        assert!(
            v != "mallory" && v != "evil",
            "client-sent identity reached the upstream: {k}: {v}"
        );
    }
    match kind {
        // An empty `proxy_set_header` value sends no header at all.
        Kind::Nginx => {
            assert!(!up.has_header_like("x-auth-username"));
            assert!(!up.has_header_like("x-auth-client-id"));
        }
        // Caddy 2.6 (Debian bookworm) replaces a copied header that the answer lacks
        // with its unexpanded placeholder text; the client's value is gone either way
        // (docs/decision-mode.md#caddy).
        Kind::Caddy => {
            for name in ["x-auth-username", "x-auth-client-id"] {
                for v in up.header_all(name) {
                    assert!(v.starts_with("{http.reverse_proxy.header."), "{name}: {v}");
                }
            }
        }
    }
}

/// Refusals never reach the upstream; 401 and 403 reach the client with scopegate's
/// `WWW-Authenticate`.
async fn refusals_reach_the_client_not_the_upstream(kind: Kind) {
    let h = scopegate().await;
    let front = start(kind, &h).await;
    // (method, target, Authorization, expected status, WWW-Authenticate)
    let cases: [(&str, &str, Option<&str>, u16, &str); 4] = [
        ("GET", "/orders/1", None, 401, r#"Bearer realm="api""#),
        (
            "GET",
            "/orders/1",
            Some("Bearer t-inactive"),
            401,
            r#"Bearer realm="api", error="invalid_token", error_description="the access token is not active""#,
        ),
        (
            "DELETE",
            "/orders/1",
            Some("Bearer t-read"),
            403,
            r#"Bearer realm="api", error="insufficient_scope", scope="orders:write admin""#,
        ),
        (
            "GET",
            "/users/bob/profile",
            Some("Bearer t-profile"),
            403,
            r#"Bearer realm="api", error="insufficient_scope", scope="profile""#,
        ),
    ];
    for (method, target, auth, status, www) in cases {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let rsp = front.raw(method, target, &headers).await;
        assert_eq!(raw_status(&rsp), status, "{method} {target}: {rsp}");
        assert_eq!(header(&rsp, "www-authenticate"), vec![www], "{rsp}");
        if kind == Kind::Caddy {
            // Caddy passes scopegate's whole answer through, JSON body included.
            assert!(body(&rsp).starts_with(r#"{"error":""#), "{rsp}");
        }
    }
    // 400 (and 503) answers: Caddy passes them through; NGINX turns any status other
    // than 2xx, 401 and 403 into its own 500.
    let rsp = front
        .raw("GET", "/orders/1?access_token=a&access_token=b", &[])
        .await;
    match kind {
        Kind::Nginx => assert_eq!(raw_status(&rsp), 500, "{rsp}"),
        Kind::Caddy => {
            assert_eq!(raw_status(&rsp), 400, "{rsp}");
            assert_eq!(header(&rsp, "cache-control"), vec!["private"], "{rsp}");
        }
    }
    assert!(
        h.upstream.requests().is_empty(),
        "a refused request reached the upstream: {:?}",
        h.upstream.requests()
    );
    let m = h.metrics().await;
    assert_eq!(decisions(&m, "/orders/{id}", "unauthenticated"), 1.0);
    assert_eq!(decisions(&m, "/orders/{id}", "invalid_token"), 1.0);
    assert_eq!(decisions(&m, "/orders/**", "forbidden"), 1.0);
    assert_eq!(decisions(&m, "/users/{owner}/profile", "forbidden"), 1.0);
    assert_eq!(decisions(&m, "/orders/{id}", "invalid_request"), 1.0);
}

/// Paths the front proxy normalises (for its own routing) differently from the raw
/// request: scopegate is asked about the raw request URI (`$request_uri`,
/// `{http.request.uri}`), refuses it as not in normal form, and nothing is forwarded —
/// so no decision for one path can be spent on a response for another.
async fn normalised_paths_get_no_decision_for_another_path(kind: Kind) {
    let h = scopegate().await;
    let front = start(kind, &h).await;
    let paths = [
        // would be /orders/1 after dot-segment removal; /health is public
        "/health/../orders/1",
        "/health/%2e%2e/orders/1",
        "/health/./../orders/1",
        // %2F: one segment for scopegate's router, two once decoded
        "/health%2F..%2Forders/1",
        "/orders%2F1",
        // //: merged to one slash by NGINX (merge_slashes) for location matching
        "//orders/1",
        "/health//../orders/1",
    ];
    for path in paths {
        // No token: a decision for the public /health must not open /orders/1.
        let rsp = front.raw("GET", path, &[]).await;
        let status = raw_status(&rsp);
        match kind {
            Kind::Nginx => assert_eq!(status, 500, "{path}: {rsp}"),
            Kind::Caddy => {
                assert_eq!(status, 400, "{path}: {rsp}");
                assert!(body(&rsp).contains("invalid_request"), "{path}: {rsp}");
            }
        }
    }
    assert!(
        h.upstream.requests().is_empty(),
        "forwarded: {:?}",
        h.upstream
            .requests()
            .iter()
            .map(|r| r.target.clone())
            .collect::<Vec<_>>()
    );
    // scopegate saw each raw path (none matched a route before path safety refused it).
    let m = h.metrics().await;
    assert_eq!(
        decisions(&m, "none", "invalid_request"),
        paths.len() as f64,
        "{}",
        m.text
    );
    assert_eq!(decisions(&m, "/health", "public"), 0.0);
    // The normal-form path itself still works, so the refusals above are about form.
    let rsp = front.raw("GET", "/health", &[]).await;
    assert_eq!(raw_status(&rsp), 200, "{rsp}");
    assert_eq!(h.upstream.single().target, "/health");
}

#[tokio::test]
async fn nginx_allowed_requests_carry_scopegates_identity_headers() {
    allowed_carry_scopegates_identity(Kind::Nginx).await;
}

#[tokio::test]
async fn nginx_refusals_reach_the_client_not_the_upstream() {
    refusals_reach_the_client_not_the_upstream(Kind::Nginx).await;
}

#[tokio::test]
async fn nginx_normalised_paths_get_no_decision_for_another_path() {
    normalised_paths_get_no_decision_for_another_path(Kind::Nginx).await;
}

#[tokio::test]
async fn caddy_allowed_requests_carry_scopegates_identity_headers() {
    allowed_carry_scopegates_identity(Kind::Caddy).await;
}

#[tokio::test]
async fn caddy_refusals_reach_the_client_not_the_upstream() {
    refusals_reach_the_client_not_the_upstream(Kind::Caddy).await;
}

#[tokio::test]
async fn caddy_normalised_paths_get_no_decision_for_another_path() {
    normalised_paths_get_no_decision_for_another_path(Kind::Caddy).await;
}
