//! What `[introspection]` and `[introspection.cache]` compile to (docs/reference.md#introspection):
//! the introspection module owns its settings, `config` builds them.

use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// RFC 6749 §2.3.1 HTTP Basic with form-urlencoded id and secret.
    ClientSecretBasic,
    /// RFC 6749 §2.3.1 `client_id` and `client_secret` in the request body.
    ClientSecretPost,
}

#[derive(Debug, Clone)]
pub struct IntrospectionConfig {
    pub endpoint: Uri,
    pub client_id: String,
    pub client_secret: Secret,
    pub auth_method: AuthMethod,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub expected_issuer: Option<String>,
    pub expected_audience: Option<String>,
    pub cache: CacheConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub max_entries: u64,
    pub ttl: Duration,
    pub negative_ttl: Duration,
    pub stale_if_error: Duration,
    /// `[introspection.cache.shared]`: the second level in Redis (docs/reference.md#shared-cache).
    pub shared: Option<super::shared::SharedSettings>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            stale_if_error: Duration::ZERO,
            shared: None,
        }
    }
}
