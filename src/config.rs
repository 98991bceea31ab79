//! Configuration: the TOML file (docs/reference.md#configuration) turned once, at load, into ready-to-use values.
//!
//! The pipeline is one direction: text → [`raw::File`] (serde, `deny_unknown_fields`
//! everywhere, single values checked inside the newtypes' `Deserialize`, so errors
//! carry line and column) → [`validate`] (cross-field rules, secrets read, routes
//! compiled, shadowing warnings) → [`Config`]. The running proxy never parses a string
//! from config. The path comes from `--config`, else `$SCOPEGATE_CONFIG`, else
//! `config/scopegate.toml`; relative file paths inside the config (secrets, TLS, CA)
//! are resolved against the config file's directory.

pub(crate) mod error;
pub(crate) mod raw;
pub(crate) mod units;
pub(crate) mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::Uri;

pub(crate) use crate::forward::Upstream;
pub(crate) use crate::identity::IdentityConfig;
pub(crate) use crate::introspect::settings::{AuthMethod, CacheConfig, IntrospectionConfig};
pub(crate) use crate::server::Limits;
pub(crate) use crate::token::{TokenConfig, TokenSources};
pub(crate) use error::ConfigError;
pub(crate) use units::Secret;

use crate::policy::RouteTable;

/// A validated configuration; every value is ready to use.
#[derive(Debug)]
pub struct Config {
    /// The file this was loaded from (for messages and reload).
    pub path: PathBuf,
    pub listen: ListenConfig,
    pub admin: AdminConfig,
    /// `[decision]`: answer NGINX `auth_request`, forward-auth and Envoy `ext_authz`
    /// on their own listener (`docs/decision-mode.md`).
    pub decision: Option<DecisionConfig>,
    /// `None` only in decision mode: then no proxy listener runs.
    pub upstream: Option<Upstream>,
    /// Optional when `jwt` is not empty (docs/reference.md#jwt-access-tokens); at least one of the two is set.
    pub introspection: Option<IntrospectionConfig>,
    /// `[[jwt]]`: trusted issuers of JWT access tokens, validated locally.
    pub jwt: Vec<JwtConfig>,
    pub token: TokenConfig,
    pub identity: IdentityConfig,
    pub routes: RouteTable,
    /// Non-fatal findings (shadowed routes, unreachable rules), printed by `check`
    /// and logged by `serve`.
    pub warnings: Vec<String>,
}

/// `[listen]`. What the listeners apply per connection is the server's [`Limits`];
/// the rest is read at start (`addr`, `tls` on or off, `workers`) or by the state
/// built from it (`trust_forwarded_headers`).
#[derive(Debug, Clone)]
pub struct ListenConfig {
    pub addr: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub trust_forwarded_headers: bool,
    /// Worker threads (one single-threaded runtime each); `None`: one per CPU.
    pub workers: Option<usize>,
    /// Shared with the listeners, which compare it by pointer to see a reload.
    pub limits: Arc<Limits>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub addr: SocketAddr,
    /// `token_file`'s contents (trailing newlines trimmed): a peer that is not on
    /// loopback may `POST /cache/purge` with this bearer (docs/reference.md#introspection-cache).
    pub token: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct DecisionConfig {
    pub addr: SocketAddr,
}

/// One `[[jwt]]` table (docs/reference.md#jwt-access-tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The token's `iss` must equal this exactly.
    pub issuer: String,
    /// The token's `aud` (string or array) must contain this.
    pub audience: String,
    pub keys: JwksSource,
    /// Accepted `alg` values; never `none` or HS*.
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    /// Accepted `typ` values, lowercase, without an `application/` prefix.
    pub typ: Vec<String>,
    pub scope_claim: String,
    pub leeway: Duration,
    pub jwks_refresh: Duration,
    /// Per JWKS or metadata fetch.
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

/// Where an issuer's key set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    JwksUri(Uri),
    /// RFC 8414 / OpenID Connect discovery document; `jwks_uri` is read from it.
    Metadata(Uri),
}

// === impl Config ===

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(path, &text)
    }

    /// Parses and validates config text; `path` names it in messages and anchors
    /// relative file paths.
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        validate::validate(path, text)
    }

    /// The answer cache settings: `[introspection.cache]`, or its defaults without
    /// `[introspection]` (validated JWTs are cached with them too, docs/reference.md#jwt-access-tokens).
    pub fn cache(&self) -> CacheConfig {
        self.introspection
            .as_ref()
            .map_or_else(CacheConfig::default, |i| i.cache.clone())
    }

    /// Whether the proxy listener runs: it does whenever `[upstream]` is set.
    pub fn proxy_enabled(&self) -> bool {
        self.upstream.is_some()
    }

    /// The route table in match order and the warnings, as `scopegate check` prints them.
    pub fn describe(&self) -> String {
        validate::describe(self)
    }
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            tls: None,
            trust_forwarded_headers: false,
            workers: None,
            limits: Arc::new(Limits::default()),
        }
    }
}
