//! `TestConfig`: renders a scopegate TOML file (docs/reference.md#configuration) pointing at the mocks, so the
//! real loader runs. The client secret goes to `client-secret` next to the config and is
//! referenced by a relative path (resolved against the config's directory).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{AuthServer, Upstream, CLIENT_SECRET};

/// TOML basic string.
pub fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

#[derive(Debug, Clone, Default)]
pub struct Route {
    pub path: String,
    pub methods: Option<Vec<String>>,
    pub public: bool,
    pub scopes: Vec<String>,
    pub scopes_any: Vec<String>,
    pub owner: Option<(String, String)>,
    pub fields: Vec<(String, String)>,
    /// `introspect = true` (docs/reference.md#jwt-access-tokens).
    pub introspect: bool,
}

impl Route {
    pub fn new(path: &str) -> Self {
        Route {
            path: path.to_string(),
            ..Default::default()
        }
    }
    pub fn public(path: &str) -> Self {
        Route {
            public: true,
            ..Route::new(path)
        }
    }
    pub fn methods(mut self, m: &[&str]) -> Self {
        self.methods = Some(m.iter().map(|s| s.to_string()).collect());
        self
    }
    pub fn scopes(mut self, s: &[&str]) -> Self {
        self.scopes = s.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn scopes_any(mut self, s: &[&str]) -> Self {
        self.scopes_any = s.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn owner(mut self, param: &str, claim: &str) -> Self {
        self.owner = Some((param.to_string(), claim.to_string()));
        self
    }
    pub fn introspect(mut self) -> Self {
        self.introspect = true;
        self
    }
    pub fn field(mut self, path: &str, scope: &str) -> Self {
        self.fields.push((path.to_string(), scope.to_string()));
        self
    }

    fn render(&self, out: &mut String) {
        out.push_str("\n[[route]]\n");
        if let Some(m) = &self.methods {
            let _ = writeln!(out, "methods = {}", list(m));
        }
        let _ = writeln!(out, "path = {}", q(&self.path));
        if self.public {
            out.push_str("public = true\n");
        }
        if !self.scopes.is_empty() {
            let _ = writeln!(out, "scopes = {}", list(&self.scopes));
        }
        if !self.scopes_any.is_empty() {
            let _ = writeln!(out, "scopes_any = {}", list(&self.scopes_any));
        }
        if self.introspect {
            out.push_str("introspect = true\n");
        }
        if let Some((p, c)) = &self.owner {
            let _ = writeln!(out, "owner = {{ param = {}, claim = {} }}", q(p), q(c));
        }
        if !self.fields.is_empty() {
            out.push_str("[route.fields]\n");
            for (k, v) in &self.fields {
                let _ = writeln!(out, "{} = {}", q(k), q(v));
            }
        }
    }
}

/// Config builder. `None` fields are left out of the file (binary defaults apply).
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub listen: Vec<(String, String)>,
    pub tls: Option<(String, String)>,
    pub upstream_url: Option<String>,
    pub upstream: Vec<(String, String)>,
    pub introspection: Vec<(String, String)>,
    pub endpoint: Option<String>,
    pub secret_inline_env: Option<String>,
    pub client_secret: String,
    pub cache: Vec<(String, String)>,
    pub token: Vec<(String, String)>,
    pub identity: Vec<(String, String)>,
    pub claims: Vec<(String, String)>,
    pub routes: Vec<Route>,
    pub extra: String,
    /// Leave `[introspection]` out (JWT-only, docs/reference.md#jwt-access-tokens).
    pub no_introspection: bool,
    /// Start without waiting for `/readyz` = 200 (a 503 is accepted too).
    pub skip_ready: bool,
    /// `[admin] addr` (default `127.0.0.1:0`).
    pub admin_addr: Option<String>,
    /// `[admin] key = <raw TOML value>`, e.g. `token_file`.
    pub admin: Vec<(String, String)>,
    /// Extra files (name, contents) written next to the config.
    pub files: Vec<(String, String)>,
    /// `[decision] addr = "127.0.0.1:0"`.
    pub decision: bool,
    /// Leave `[upstream]` (and `listen.addr`) out: decision mode only.
    pub no_upstream: bool,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl TestConfig {
    /// Short timeouts, no routes.
    pub fn new() -> Self {
        TestConfig {
            listen: vec![
                ("header_read_timeout".into(), q("1s")),
                ("shutdown_grace".into(), q("5s")),
            ],
            tls: None,
            upstream_url: None,
            upstream: vec![("timeout".into(), q("2s"))],
            introspection: vec![
                ("client_id".into(), q(super::auth_server::CLIENT_ID)),
                ("auth_method".into(), q("client_secret_basic")),
                ("timeout".into(), q("500ms")),
            ],
            endpoint: None,
            secret_inline_env: None,
            client_secret: CLIENT_SECRET.to_string(),
            cache: vec![("ttl".into(), q("60s")), ("negative_ttl".into(), q("5s"))],
            token: Vec::new(),
            identity: Vec::new(),
            claims: Vec::new(),
            routes: Vec::new(),
            extra: String::new(),
            no_introspection: false,
            skip_ready: false,
            admin_addr: None,
            admin: Vec::new(),
            files: Vec::new(),
            decision: false,
            no_upstream: false,
        }
    }

    /// The routes of the docs/reference.md#configuration example.
    pub fn standard() -> Self {
        Self::new()
            .route(Route::public("/health"))
            .route(
                Route::new("/orders/{id}")
                    .methods(&["GET"])
                    .scopes(&["orders:read"]),
            )
            .route(
                Route::new("/orders/**")
                    .methods(&["POST", "PUT", "DELETE"])
                    .scopes_any(&["orders:write", "admin"]),
            )
            .route(
                Route::new("/users/{owner}/profile")
                    .methods(&["GET"])
                    .scopes(&["profile"])
                    .owner("owner", "sub")
                    .field("contact", "profile:contact")
                    .field("likes", "profile:likes")
                    .field("items[].price", "billing"),
            )
    }

    pub fn route(mut self, r: Route) -> Self {
        self.routes.push(r);
        self
    }

    fn set(v: &mut Vec<(String, String)>, k: &str, val: String) {
        v.retain(|(kk, _)| kk != k);
        v.push((k.to_string(), val));
    }

    /// `[listen] key = <raw TOML value>`.
    pub fn listen(mut self, k: &str, raw: &str) -> Self {
        Self::set(&mut self.listen, k, raw.to_string());
        self
    }
    pub fn upstream(mut self, k: &str, raw: &str) -> Self {
        Self::set(&mut self.upstream, k, raw.to_string());
        self
    }
    pub fn introspection(mut self, k: &str, raw: &str) -> Self {
        Self::set(&mut self.introspection, k, raw.to_string());
        self
    }
    pub fn cache(mut self, k: &str, raw: &str) -> Self {
        Self::set(&mut self.cache, k, raw.to_string());
        self
    }
    pub fn token(mut self, k: &str, raw: &str) -> Self {
        Self::set(&mut self.token, k, raw.to_string());
        self
    }
    pub fn identity(mut self, k: &str, header: &str) -> Self {
        Self::set(&mut self.identity, k, q(header));
        self
    }
    pub fn claim(mut self, claim: &str, header: &str) -> Self {
        self.claims.push((claim.to_string(), header.to_string()));
        self
    }
    pub fn upstream_url(mut self, url: &str) -> Self {
        self.upstream_url = Some(url.to_string());
        self
    }
    pub fn endpoint(mut self, url: &str) -> Self {
        self.endpoint = Some(url.to_string());
        self
    }
    /// `sources = [...]`.
    pub fn sources(self, s: &[&str]) -> Self {
        let v: Vec<String> = s.iter().map(|s| s.to_string()).collect();
        self.token("sources", &list(&v))
    }
    pub fn forward_token(self, yes: bool) -> Self {
        self.token("forward", if yes { "true" } else { "false" })
    }
    /// TLS files relative to the config dir.
    pub fn tls(mut self, cert: &str, key: &str) -> Self {
        self.tls = Some((cert.to_string(), key.to_string()));
        self
    }
    /// The secret written to `client-secret` (the AS mock must expect the same).
    pub fn client_secret(mut self, secret: &str) -> Self {
        self.client_secret = secret.to_string();
        self
    }
    /// `client_secret_env = NAME` instead of the file.
    pub fn client_secret_env(mut self, name: &str) -> Self {
        self.secret_inline_env = Some(name.to_string());
        self
    }
    /// `[admin] key = <raw TOML value>`.
    pub fn admin(mut self, k: &str, raw: &str) -> Self {
        Self::set(&mut self.admin, k, raw.to_string());
        self
    }
    /// `[admin] addr`, e.g. a non-loopback local address with port 0.
    pub fn admin_addr(mut self, addr: &str) -> Self {
        self.admin_addr = Some(addr.to_string());
        self
    }
    /// A file written next to the config (e.g. `[admin] token_file`).
    pub fn file(mut self, name: &str, contents: &str) -> Self {
        self.files.push((name.to_string(), contents.to_string()));
        self
    }
    /// Adds the decision listener (docs/reference.md#decision-mode) on an ephemeral port.
    pub fn decision(mut self) -> Self {
        self.decision = true;
        self
    }
    /// Decision listener only: no `[upstream]`, no proxy listener.
    pub fn decision_only(mut self) -> Self {
        self.decision = true;
        self.no_upstream = true;
        self
    }
    /// Raw TOML appended at the end.
    pub fn extra(mut self, text: &str) -> Self {
        self.extra.push_str(text);
        self
    }

    /// The TOML text for these mocks.
    pub fn render(&self, auth: &AuthServer, upstream: &Upstream) -> String {
        let mut out = String::new();
        out.push_str("[listen]\n");
        if !self.no_upstream {
            out.push_str("addr = \"127.0.0.1:0\"\n");
        }
        for (k, v) in &self.listen {
            let _ = writeln!(out, "{k} = {v}");
        }
        if let Some((c, k)) = &self.tls {
            let _ = writeln!(out, "\n[listen.tls]\ncert = {}\nkey = {}", q(c), q(k));
        }
        let admin_addr = self.admin_addr.as_deref().unwrap_or("127.0.0.1:0");
        let _ = writeln!(out, "\n[admin]\naddr = {}", q(admin_addr));
        for (k, v) in &self.admin {
            let _ = writeln!(out, "{k} = {v}");
        }
        if self.decision {
            out.push_str("\n[decision]\naddr = \"127.0.0.1:0\"\n");
        }
        if !self.no_upstream {
            let _ = writeln!(
                out,
                "\n[upstream]\nurl = {}",
                q(self.upstream_url.as_deref().unwrap_or(&upstream.url()))
            );
            for (k, v) in &self.upstream {
                let _ = writeln!(out, "{k} = {v}");
            }
        }
        if !self.no_introspection {
            let _ = writeln!(
                out,
                "\n[introspection]\nendpoint = {}",
                q(self.endpoint.as_deref().unwrap_or(&auth.endpoint()))
            );
            match &self.secret_inline_env {
                Some(name) => {
                    let _ = writeln!(out, "client_secret_env = {}", q(name));
                }
                None => out.push_str("client_secret_file = \"client-secret\"\n"),
            }
            for (k, v) in &self.introspection {
                let _ = writeln!(out, "{k} = {v}");
            }
            out.push_str("\n[introspection.cache]\n");
            for (k, v) in &self.cache {
                let _ = writeln!(out, "{k} = {v}");
            }
        }
        if !self.token.is_empty() {
            out.push_str("\n[token]\n");
            for (k, v) in &self.token {
                let _ = writeln!(out, "{k} = {v}");
            }
        }
        if !self.identity.is_empty() || !self.claims.is_empty() {
            out.push_str("\n[identity]\n");
            for (k, v) in &self.identity {
                let _ = writeln!(out, "{k} = {v}");
            }
            if !self.claims.is_empty() {
                out.push_str("[identity.claims]\n");
                for (k, v) in &self.claims {
                    let _ = writeln!(out, "{} = {}", q(k), q(v));
                }
            }
        }
        for r in &self.routes {
            r.render(&mut out);
        }
        out.push_str(&self.extra);
        out
    }

    /// Writes `scopegate.toml` and `client-secret` (with a trailing newline, which the
    /// loader trims) into `dir`; returns the config path.
    pub fn write(&self, dir: &Path, auth: &AuthServer, upstream: &Upstream) -> PathBuf {
        std::fs::write(
            dir.join("client-secret"),
            format!("{}\n", self.client_secret),
        )
        .unwrap();
        for (name, contents) in &self.files {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        let path = dir.join("scopegate.toml");
        std::fs::write(&path, self.render(auth, upstream)).unwrap();
        path
    }
}
