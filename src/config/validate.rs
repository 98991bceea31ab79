//! raw → [`Config`]: cross-field rules, secrets read, routes compiled, warnings.
//!
//! Three phases, each stopping at its own errors: TOML syntax (toml's message with
//! the position), shape and single values (serde into [`raw::File`], with the key
//! path from serde_path_to_error and the position from toml), then the rules that
//! span several keys, which all run so one `check` reports every such problem.
//! Defaults are applied here, from the `Default` impls in `config.rs`.

mod describe;
mod jwt;
mod routes;
mod shared;

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use toml::Spanned;

pub(crate) use describe::describe;
pub(crate) use jwt::normalize_typ;

use super::error::{Problem, Source};
use super::raw;
use super::units::{IdentityHeader, Secret};
use super::{
    AdminConfig, AuthMethod, CacheConfig, Config, ConfigError, DecisionConfig, IdentityConfig,
    IntrospectionConfig, Limits, ListenConfig, TlsFiles, TokenConfig, TokenSources, Upstream,
};

const DEFAULT_ADMIN_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 9090);
/// Loopback: the decision listener trusts `X-Original-*` / `X-Forwarded-*` by design.
const DEFAULT_DECISION_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 8081);
const DEFAULT_INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_MAX_FORM_BODY: usize = 64 << 10;
const DEFAULT_REALM: &str = "api";
/// `[listen] max_header_bytes` bounds: below 1 KiB ordinary requests fail; above
/// 1 MiB a slow client pins memory.
const HEADER_BYTES_RANGE: Range<usize> = 1024..(1 << 20) + 1;

/// Collects problems and warnings while the raw file is turned into `Config`.
struct Checker<'a> {
    src: Source<'a>,
    /// Relative file paths in the config are resolved against this.
    dir: &'a Path,
    problems: Vec<Problem>,
    warnings: Vec<String>,
    /// Whether `[introspection]` is configured (route `introspect = true` needs it).
    has_introspection: bool,
}

/// Parses and validates `text`, read from `path`.
pub(crate) fn validate(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let src = Source::new(path, text);
    if let Err(error) = text.parse::<toml::Table>() {
        return Err(ConfigError::Invalid(vec![src.syntax(&error)]));
    }
    let raw: raw::File = serde_path_to_error::deserialize(toml::Deserializer::new(text))
        .map_err(|error| ConfigError::Invalid(vec![src.deserialize(&error)]))?;

    let mut cx = Checker {
        src,
        dir: path.parent().unwrap_or(Path::new("")),
        problems: Vec::new(),
        warnings: Vec::new(),
        has_introspection: raw.introspection.is_some(),
    };
    let listen_span = raw
        .listen
        .as_ref()
        .map(|l| (l.addr.is_some(), l.tls.is_some()));
    let listen = cx.listen(raw.listen);
    let admin = cx.admin(raw.admin, &listen);
    let decision_set = raw.decision.is_some();
    // Whether the proxy listener runs, even when the URL had a problem.
    let proxy = raw.upstream.is_some();
    let upstream = match raw.upstream {
        Some(upstream) => cx.upstream(upstream),
        None if decision_set => None,
        None => {
            let problem = cx.src.problem(
                Some(0),
                "",
                "missing key upstream; expected [upstream], or [decision] to answer decisions only",
            );
            cx.problems.push(problem);
            None
        }
    };
    let decision = raw.decision.map(|d| cx.decision(d, &listen, &admin, proxy));
    if decision.is_some() && !proxy {
        if let Some((addr, tls)) = listen_span.filter(|(addr, tls)| *addr || *tls) {
            let keys = match (addr, tls) {
                (true, true) => "listen.addr and [listen.tls] are",
                (true, false) => "listen.addr is",
                _ => "[listen.tls] is",
            };
            cx.warnings.push(format!(
                "{keys} unused: without [upstream] only the decision and admin listeners run"
            ));
        }
    }
    if raw.introspection.is_none() && raw.jwt.is_empty() {
        cx.error(
            None,
            "introspection",
            "missing table [introspection]; expected [introspection], one or more [[jwt]] tables, or both",
        );
    }
    let introspection = raw.introspection.map(|i| cx.introspection(i));
    let jwt = jwt::compile(&mut cx, raw.jwt);
    let token = cx.token(raw.token);
    let identity = cx.identity(raw.identity);
    let routes = routes::compile(&mut cx, raw.route);
    if decision.is_some() {
        for route in routes.routes().iter().filter(|r| r.fields.is_some()) {
            cx.warnings.push(format!(
                "route[{}] {}: fields cannot apply to decision answers (the response never passes through scopegate); the decision listener allows it without removing any field",
                route.index(),
                route.pattern.as_str()
            ));
        }
    }

    if !cx.problems.is_empty() {
        let mut problems = cx.problems;
        problems.sort_by_key(|p| p.location.map_or((usize::MAX, 0), |l| (l.line, l.column)));
        return Err(ConfigError::Invalid(problems));
    }
    Ok(Config {
        path: path.to_path_buf(),
        listen,
        admin,
        decision,
        upstream,
        introspection,
        jwt,
        token,
        identity,
        routes,
        warnings: cx.warnings,
    })
}

// === impl Checker ===

impl Checker<'_> {
    fn error(
        &mut self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let problem = self.src.problem(span.map(|s| s.start), key, message);
        self.problems.push(problem);
    }

    /// Resolves a path against the config's directory and checks it can be opened, so
    /// a missing certificate is reported by `check` rather than at the first request.
    fn file(&mut self, path: Spanned<PathBuf>, key: &str) -> PathBuf {
        let span = path.span();
        let resolved = self.dir.join(path.into_inner());
        match std::fs::File::open(&resolved).and_then(|f| f.metadata()) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => self.error(
                Some(span),
                key,
                format!("{:?} is not a file", resolved.display()),
            ),
            Err(e) => self.error(
                Some(span),
                key,
                format!("cannot read {:?}: {e}", resolved.display()),
            ),
        }
        resolved
    }

    fn listen(&mut self, raw: Option<raw::Listen>) -> ListenConfig {
        let defaults = ListenConfig::default();
        let Some(raw) = raw else { return defaults };
        let limits = &defaults.limits;
        let max_header_bytes = match raw.max_header_bytes {
            Some(size) if !HEADER_BYTES_RANGE.contains(&size.get_ref().0) => {
                let message = format!(
                    "{} bytes is out of range: expected at least 1KiB and at most 1MiB",
                    size.get_ref().0
                );
                self.error(Some(size.span()), "listen.max_header_bytes", message);
                limits.max_header_bytes
            }
            Some(size) => size.into_inner().0,
            None => limits.max_header_bytes,
        };
        let max_concurrent_streams = match raw.max_concurrent_streams {
            Some(count) => u32::try_from(count.get_ref().0).unwrap_or_else(|_| {
                self.error(
                    Some(count.span()),
                    "listen.max_concurrent_streams",
                    "too large: expected at most 4294967295",
                );
                limits.max_concurrent_streams
            }),
            None => limits.max_concurrent_streams,
        };
        let tls = raw.tls.map(|tls| TlsFiles {
            cert: self.file(tls.cert, "listen.tls.cert"),
            key: self.file(tls.key, "listen.tls.key"),
        });
        ListenConfig {
            addr: raw.addr.map_or(defaults.addr, |a| a.into_inner().0),
            tls,
            trust_forwarded_headers: raw
                .trust_forwarded_headers
                .unwrap_or(defaults.trust_forwarded_headers),
            workers: raw
                .workers
                .map(|c| usize::try_from(c.0).unwrap_or(usize::MAX)),
            limits: Arc::new(Limits {
                header_read_timeout: raw
                    .header_read_timeout
                    .map_or(limits.header_read_timeout, |t| t.0),
                max_connections: raw.max_connections.map_or(limits.max_connections, |c| {
                    usize::try_from(c.0).unwrap_or(usize::MAX)
                }),
                shutdown_grace: raw.shutdown_grace.map_or(limits.shutdown_grace, |d| d.0),
                max_header_bytes,
                max_concurrent_streams,
            }),
        }
    }

    /// The admin listener needs its own port: `0.0.0.0:p` and `127.0.0.1:p` collide too.
    fn admin(&mut self, raw: Option<raw::Admin>, listen: &ListenConfig) -> AdminConfig {
        let default = SocketAddr::from(DEFAULT_ADMIN_ADDR);
        let (addr, token_file) = match raw {
            Some(raw) => (raw.addr, raw.token_file),
            None => (None, None),
        };
        let token = token_file.map(|file| {
            let span = file.span();
            match self.read_secret_file(file, "admin.token_file") {
                Ok(text) => Secret::new(text),
                Err((key, message)) => {
                    self.error(Some(span), key, message);
                    Secret::new(String::new())
                }
            }
        });
        let Some(addr) = addr else {
            if collides(default, listen.addr) {
                let message = format!(
                    "{} is also the default admin.addr; set [admin] addr to another port",
                    listen.addr
                );
                self.error(None, "listen.addr", message);
            }
            return AdminConfig {
                addr: default,
                token,
            };
        };
        let (span, addr) = (addr.span(), addr.into_inner().0);
        if collides(addr, listen.addr) {
            let message = format!(
                "{addr} collides with listen.addr {}; expected another port",
                listen.addr
            );
            self.error(Some(span), "admin.addr", message);
        }
        AdminConfig { addr, token }
    }

    /// A secret file's text, trailing newlines trimmed; empty, unreadable or non-UTF-8
    /// is an error naming the file, never the content.
    fn read_secret_file(
        &self,
        file: Spanned<PathBuf>,
        key: &'static str,
    ) -> Result<String, (&'static str, String)> {
        let path = self.dir.join(file.into_inner());
        match std::fs::read(&path).map(String::from_utf8) {
            Err(e) => Err((key, format!("cannot read {:?}: {e}", path.display()))),
            Ok(Err(_)) => Err((key, format!("{:?} is not valid UTF-8", path.display()))),
            Ok(Ok(text)) => match trim_newlines(text) {
                text if text.is_empty() => Err((key, format!("{:?} is empty", path.display()))),
                text => Ok(text),
            },
        }
    }

    /// The decision listener needs its own port, apart from the admin listener's and,
    /// when it runs, the proxy listener's.
    fn decision(
        &mut self,
        raw: Spanned<raw::Decision>,
        listen: &ListenConfig,
        admin: &AdminConfig,
        proxy: bool,
    ) -> DecisionConfig {
        let table_start = raw.span().start;
        let default = SocketAddr::from(DEFAULT_DECISION_ADDR);
        let (span, addr, key) = match raw.into_inner().addr {
            Some(addr) => (addr.span().start, addr.into_inner().0, "decision.addr"),
            None => (table_start, default, "decision.addr (default)"),
        };
        if proxy && collides(addr, listen.addr) {
            let message = format!(
                "{addr} collides with listen.addr {}; expected another port",
                listen.addr
            );
            self.problems
                .push(self.src.problem(Some(span), key, message));
        }
        if collides(addr, admin.addr) {
            let message = format!(
                "{addr} collides with admin.addr {}; expected another port",
                admin.addr
            );
            self.problems
                .push(self.src.problem(Some(span), key, message));
        }
        DecisionConfig { addr }
    }

    /// `None` (and a problem) when the URL cannot be forwarded to.
    fn upstream(&mut self, raw: raw::Upstream) -> Option<Upstream> {
        let ca_file = raw.ca_file.map(|p| self.file(p, "upstream.ca_file"));
        let mut upstream = match Upstream::new(raw.url.0) {
            Ok(upstream) => upstream,
            Err(e) => {
                self.error(None, "upstream.url", e.to_string());
                return None;
            }
        };
        upstream.timeout = raw.timeout.map_or(Upstream::DEFAULT_TIMEOUT, |t| t.0);
        upstream.preserve_host = raw.preserve_host.unwrap_or(false);
        upstream.ca_file = ca_file;
        upstream.max_filtered_body = raw
            .max_filtered_body
            .map_or(Upstream::DEFAULT_MAX_FILTERED_BODY, |s| s.0);
        Some(upstream)
    }

    fn introspection(&mut self, raw: Spanned<raw::Introspection>) -> IntrospectionConfig {
        let table_start = raw.span().start;
        let raw = raw.into_inner();
        let client_secret = self.secret(table_start, raw.client_secret_file, raw.client_secret_env);
        let defaults = CacheConfig::default();
        let cache = raw.cache.map_or(defaults.clone(), |c| CacheConfig {
            max_entries: c.max_entries.map_or(defaults.max_entries, |n| n.0),
            ttl: c.ttl.map_or(defaults.ttl, |d| d.0),
            negative_ttl: c.negative_ttl.map_or(defaults.negative_ttl, |d| d.0),
            stale_if_error: c.stale_if_error.map_or(defaults.stale_if_error, |d| d.0),
            shared: c.shared.map(|table| shared::compile(self, table)),
        });
        IntrospectionConfig {
            endpoint: raw.endpoint.0,
            client_id: raw.client_id.0,
            client_secret,
            auth_method: match raw.auth_method {
                None | Some(raw::AuthMethod::ClientSecretBasic) => AuthMethod::ClientSecretBasic,
                Some(raw::AuthMethod::ClientSecretPost) => AuthMethod::ClientSecretPost,
            },
            timeout: raw.timeout.map_or(DEFAULT_INTROSPECTION_TIMEOUT, |t| t.0),
            ca_file: raw.ca_file.map(|p| self.file(p, "introspection.ca_file")),
            expected_issuer: raw.expected_issuer.map(|s| s.0),
            expected_audience: raw.expected_audience.map(|s| s.0),
            cache,
        }
    }

    /// Exactly one source. Messages name the file or variable, never the content.
    /// Trailing newlines are trimmed from either (a Kubernetes Secret made with
    /// `echo` ends in one).
    fn secret(
        &mut self,
        table_start: usize,
        file: Option<Spanned<PathBuf>>,
        env: Option<Spanned<super::units::NonEmpty>>,
    ) -> Secret {
        let value = match (file, env) {
            (Some(file), Some(env)) => {
                // Point at whichever of the two comes second in the file.
                let (span, key, other) = match file.span().start > env.span().start {
                    true => (file.span(), "client_secret_file", "client_secret_env"),
                    false => (env.span(), "client_secret_env", "client_secret_file"),
                };
                let message = format!("{other} is set too; expected exactly one of the two");
                self.error(Some(span), format!("introspection.{key}"), message);
                return Secret::new(String::new());
            }
            (None, None) => {
                let message = "missing key client_secret_file or client_secret_env";
                self.problems.push(
                    self.src
                        .problem(Some(table_start), "introspection", message),
                );
                return Secret::new(String::new());
            }
            (Some(file), None) => {
                let span = file.span();
                self.read_secret_file(file, "introspection.client_secret_file")
                    .map_err(|(key, message)| (span, key, message))
            }
            (None, Some(env)) => {
                let span = env.span();
                let name = env.into_inner().0;
                let key = "introspection.client_secret_env";
                match std::env::var_os(&name).map(|v| v.into_string()) {
                    None => Err((span, key, format!("environment variable {name} is not set"))),
                    Some(Err(_)) => Err((
                        span,
                        key,
                        format!("environment variable {name} is not valid UTF-8"),
                    )),
                    Some(Ok(text)) => match trim_newlines(text) {
                        text if text.is_empty() => {
                            Err((span, key, format!("environment variable {name} is empty")))
                        }
                        text => Ok(text),
                    },
                }
            }
        };
        value.map_or_else(
            |(span, key, message)| {
                self.error(Some(span), key, message);
                Secret::new(String::new())
            },
            Secret::new,
        )
    }

    fn token(&mut self, raw: Option<raw::Token>) -> TokenConfig {
        let Some(raw) = raw else {
            return TokenConfig {
                sources: TokenSources::default(),
                max_form_body: DEFAULT_MAX_FORM_BODY,
                forward: false,
                realm: DEFAULT_REALM.to_owned(),
            };
        };
        let sources = match raw.sources {
            None => TokenSources::default(),
            Some(list) => self.token_sources(list),
        };
        TokenConfig {
            sources,
            max_form_body: raw.max_form_body.map_or(DEFAULT_MAX_FORM_BODY, |s| s.0),
            forward: raw.forward.unwrap_or(false),
            realm: raw.realm.map_or_else(|| DEFAULT_REALM.to_owned(), |r| r.0),
        }
    }

    fn token_sources(&mut self, list: Spanned<Vec<Spanned<raw::TokenSource>>>) -> TokenSources {
        let span = list.span();
        let list = list.into_inner();
        if list.is_empty() {
            self.error(
                Some(span),
                "token.sources",
                "expected at least one of header, form, query",
            );
        }
        let mut sources = TokenSources {
            header: false,
            form: false,
            query: false,
        };
        for (i, source) in list.into_iter().enumerate() {
            let flag = match source.get_ref() {
                raw::TokenSource::Header => &mut sources.header,
                raw::TokenSource::Form => &mut sources.form,
                raw::TokenSource::Query => &mut sources.query,
            };
            if std::mem::replace(flag, true) {
                let message = format!(
                    "{:?} is listed twice",
                    format!("{:?}", source.get_ref()).to_lowercase()
                );
                self.error(Some(source.span()), format!("token.sources[{i}]"), message);
            }
        }
        sources
    }

    /// Identity headers must be distinct as CGI-style backends see them: ignoring
    /// case, with `_` read as `-` (docs/reference.md#forwarding).
    fn identity(&mut self, raw: Option<raw::Identity>) -> IdentityConfig {
        let defaults = IdentityConfig::default();
        let Some(raw) = raw else { return defaults };
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut pick = |cx: &mut Self,
                        key: String,
                        value: Option<Spanned<IdentityHeader>>,
                        default: HeaderName| {
            let (span, name) = match value {
                Some(v) => (Some(v.span()), v.into_inner().0),
                None => (None, default),
            };
            let normalized = name.as_str().replace('_', "-");
            let shown = if span.is_some() {
                key.clone()
            } else {
                format!("{key} (default)")
            };
            if let Some(earlier) = seen.get(&normalized) {
                let message = format!("header {name} is already used by {earlier}; expected a distinct header (compared ignoring case, with _ as -)");
                // Point at whichever of the two the user wrote.
                let key = if span.is_some() {
                    key.clone()
                } else {
                    earlier.clone()
                };
                cx.error(span, key, message);
            } else {
                seen.insert(normalized, shown);
            }
            name
        };
        let subject = pick(
            self,
            "identity.subject".into(),
            raw.subject,
            defaults.subject,
        );
        let scope = pick(self, "identity.scope".into(), raw.scope, defaults.scope);
        let client_id = pick(
            self,
            "identity.client_id".into(),
            raw.client_id,
            defaults.client_id,
        );
        let username = pick(
            self,
            "identity.username".into(),
            raw.username,
            defaults.username,
        );
        let mut claims = Vec::new();
        for (claim, header) in raw.claims.map(|c| c.0).unwrap_or_default() {
            let mut key = "identity.claims".to_owned();
            super::error::push_key(&mut key, &claim.0);
            let name = pick(self, key, Some(header), HeaderName::from_static("x-unused"));
            claims.push((claim.0, name));
        }
        IdentityConfig {
            subject,
            scope,
            client_id,
            username,
            claims,
        }
    }
}

/// Two listeners collide on the same port when their IPs are equal or either is the
/// unspecified address (binding `0.0.0.0:p` takes `p` on every interface).
/// Port 0 asks the OS for a fresh port each time, so it never collides.
fn collides(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn trim_newlines(mut text: String) -> String {
    let len = text.trim_end_matches(['\n', '\r']).len();
    text.truncate(len);
    text
}

/// [`trim_newlines`] for bytes that need not be text (key files).
fn trim_newlines_bytes(mut bytes: Vec<u8>) -> Vec<u8> {
    while matches!(bytes.last(), Some(b'\n' | b'\r')) {
        bytes.pop();
    }
    bytes
}
