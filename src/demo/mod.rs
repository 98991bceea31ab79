//! `scopegate demo` (docs/reference.md#command-line): a working proxy on loopback in one command.
//!
//! Starts a demo RFC 7662 authorization server and an echo upstream on free loopback
//! ports, then the proxy with the built-in `config/demo.toml`, and prints curl lines
//! to try. Everything binds 127.0.0.1 only.

pub(crate) mod auth_server;
pub(crate) mod echo;

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::TcpListener;

/// The demo configuration, the same text as `config/demo.toml`.
pub(crate) const DEMO_TOML: &str = include_str!("../../config/demo.toml");

/// The client secret the demo authorization server accepts.
pub(crate) const DEMO_SECRET: &str = "demo-secret";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the demo until SIGINT/SIGTERM; `out` prints to the terminal.
pub async fn run(port: u16, out: fn(&str)) -> Result<(), BoxError> {
    let as_listener = TcpListener::bind("127.0.0.1:0").await?;
    let echo_listener = TcpListener::bind("127.0.0.1:0").await?;
    let as_addr = as_listener.local_addr()?;
    let echo_addr = echo_listener.local_addr()?;
    tokio::spawn(auth_server::serve(
        as_listener,
        "demo".into(),
        DEMO_SECRET.into(),
    ));
    tokio::spawn(echo::serve(echo_listener));

    // The config is parsed from the built-in text; its relative secret file is
    // resolved next to a private copy written here, so the demo runs from any directory.
    let dir = std::env::temp_dir().join(format!("scopegate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("demo-client-secret"), format!("{DEMO_SECRET}\n"))?;
    let path: PathBuf = dir.join("demo.toml");
    std::fs::write(&path, DEMO_TOML)?;
    let mut config = crate::config::Config::from_toml(&path, DEMO_TOML)?;
    config.listen.addr = SocketAddr::from(([127, 0, 0, 1], port));
    if let Some(upstream) = config.upstream.take() {
        config.upstream = Some(upstream.with_url(format!("http://{echo_addr}").parse()?)?);
    }
    if let Some(introspection) = config.introspection.as_mut() {
        introspection.endpoint = format!("http://{as_addr}/introspect").parse()?;
    }
    // The demo authorization server issues JWT access tokens too (docs/reference.md#jwt-access-tokens).
    let issuer = format!("http://{as_addr}");
    config.jwt.push(crate::config::JwtConfig {
        issuer: issuer.clone(),
        audience: auth_server::DEMO_AUDIENCE.into(),
        keys: crate::config::JwksSource::JwksUri(format!("{issuer}/jwks").parse()?),
        algorithms: vec![jsonwebtoken::Algorithm::EdDSA],
        typ: vec!["at+jwt".into()],
        scope_claim: "scope".into(),
        leeway: std::time::Duration::from_secs(30),
        jwks_refresh: std::time::Duration::from_secs(300),
        timeout: std::time::Duration::from_secs(2),
        ca_file: None,
    });
    let jwt = auth_server::demo_jwt(&issuer)?;

    let proxy = TcpListener::bind(config.listen.addr).await?;
    let admin = TcpListener::bind(config.admin.addr).await?;
    out(&banner(
        proxy.local_addr()?,
        admin.local_addr()?,
        as_addr,
        echo_addr,
        &jwt,
    ));
    let result = crate::run::serve_bound(config, None, proxy, admin).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result?)
}

fn banner(
    proxy: SocketAddr,
    admin: SocketAddr,
    auth: SocketAddr,
    echo: SocketAddr,
    jwt: &str,
) -> String {
    let p = proxy;
    format!(
        "\
scopegate DEMO — loopback only, not for production
  proxy                 http://{p}
  admin (metrics)       http://{admin}/metrics
  demo auth server      http://{auth}/introspect  (client demo / {DEMO_SECRET}), JWKS http://{auth}/jwks
  echo upstream         http://{echo}

Demo tokens: demo-read (orders:read profile, sub alice),
             demo-write (orders:read orders:write profile profile:contact, sub bob),
             demo-inactive (not active),
             and a JWT access token for carol (orders:read profile), validated
             locally with the demo auth server's JWKS (lines with the JWT below)

Try (expected status on the right):
  curl -i http://{p}/health                                                  # 200 public
  curl -i http://{p}/orders/42                                               # 401 no token
  curl -i -H 'Authorization: Bearer demo-read' http://{p}/orders/42          # 200
  curl -i 'http://{p}/orders/42?access_token=demo-read'                      # 200 (query token)
  curl -i -X POST -H 'Authorization: Bearer demo-read' http://{p}/orders/42  # 403 insufficient_scope
  curl -i -X POST -H 'Authorization: Bearer demo-write' http://{p}/orders/42 # 200
  curl -i -H 'Authorization: Bearer demo-inactive' http://{p}/orders/42      # 401 invalid_token
  curl -i -H 'Authorization: Bearer {jwt}' http://{p}/orders/42  # 200 (JWT, no introspection call)
  curl -i -X POST -H 'Authorization: Bearer {jwt}' http://{p}/orders/42  # 403 insufficient_scope
  curl -i http://{p}/admin                                                   # 403 no route
  curl -i -H 'Authorization: Bearer demo-read' http://{p}/users/alice/profile  # 200, no contact/likes
  curl -i -H 'Authorization: Bearer demo-read' http://{p}/users/bob/profile    # 403 owner mismatch
  curl -i -H 'Authorization: Bearer demo-write' http://{p}/users/bob/profile   # 200, contact shown
  curl -i 'http://{p}/%2e%2e/etc/passwd'                                     # 400 unsafe path

Ctrl-C stops the demo.
"
    )
}
