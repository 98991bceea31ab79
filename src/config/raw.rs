//! serde mirror of the TOML file (docs/reference.md#configuration): `deny_unknown_fields` everywhere, so a
//! typo is an error instead of a silently disabled rule. Absent optional keys are
//! `None` here; [`super::validate`] applies the defaults. Values that a cross-field
//! rule must point at are `Spanned`.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::units::{
    Addr, ByteSize, Count, DurationValue, EndpointUrl, FieldPath, IdentityHeader, MethodName,
    NonEmpty, Realm, RedisUrl, RoutePath, Scope, Timeout, UpstreamUrl,
};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    pub listen: Option<Listen>,
    pub admin: Option<Admin>,
    /// `[decision]`: the decision listener (docs/reference.md#decision-mode); with it, `[upstream]` may be
    /// left out.
    pub decision: Option<Spanned<Decision>>,
    pub upstream: Option<Upstream>,
    /// Optional when `[[jwt]]` is set; at least one of the two is required.
    pub introspection: Option<Spanned<Introspection>>,
    pub token: Option<Token>,
    pub identity: Option<Identity>,
    /// `[[jwt]]`, one table per trusted issuer (docs/reference.md#jwt-access-tokens).
    #[serde(default)]
    pub jwt: Vec<Spanned<Jwt>>,
    /// `[[route]]`, in file order; `route[0]` is the first.
    #[serde(default)]
    pub route: Vec<Spanned<Route>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Listen {
    pub addr: Option<Spanned<Addr>>,
    pub tls: Option<Tls>,
    pub header_read_timeout: Option<Timeout>,
    pub max_connections: Option<Count>,
    pub shutdown_grace: Option<DurationValue>,
    pub max_header_bytes: Option<Spanned<ByteSize>>,
    pub trust_forwarded_headers: Option<bool>,
    pub max_concurrent_streams: Option<Spanned<Count>>,
    pub workers: Option<Count>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tls {
    pub cert: Spanned<PathBuf>,
    pub key: Spanned<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Admin {
    pub addr: Option<Spanned<Addr>>,
    pub token_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Decision {
    pub addr: Option<Spanned<Addr>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Upstream {
    pub url: UpstreamUrl,
    pub timeout: Option<Timeout>,
    pub preserve_host: Option<bool>,
    pub ca_file: Option<Spanned<PathBuf>>,
    pub max_filtered_body: Option<ByteSize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Introspection {
    pub endpoint: EndpointUrl,
    pub client_id: NonEmpty,
    pub client_secret_file: Option<Spanned<PathBuf>>,
    pub client_secret_env: Option<Spanned<NonEmpty>>,
    pub auth_method: Option<AuthMethod>,
    pub timeout: Option<Timeout>,
    pub ca_file: Option<Spanned<PathBuf>>,
    pub expected_issuer: Option<NonEmpty>,
    pub expected_audience: Option<NonEmpty>,
    pub cache: Option<Cache>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cache {
    pub max_entries: Option<Count>,
    pub ttl: Option<DurationValue>,
    pub negative_ttl: Option<DurationValue>,
    pub stale_if_error: Option<DurationValue>,
    /// `[introspection.cache.shared]`: the second level in Redis (docs/reference.md#shared-cache).
    pub shared: Option<Spanned<SharedCache>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SharedCache {
    pub url: Spanned<RedisUrl>,
    pub key_file: Option<Spanned<PathBuf>>,
    pub password_file: Option<Spanned<PathBuf>>,
    pub password_env: Option<Spanned<NonEmpty>>,
    pub username: Option<NonEmpty>,
    pub prefix: Option<NonEmpty>,
    pub timeout: Option<Timeout>,
    pub ca_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Token {
    pub sources: Option<Spanned<Vec<Spanned<TokenSource>>>>,
    pub max_form_body: Option<ByteSize>,
    pub forward: Option<bool>,
    pub realm: Option<Realm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TokenSource {
    Header,
    Form,
    Query,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Identity {
    pub subject: Option<Spanned<IdentityHeader>>,
    pub scope: Option<Spanned<IdentityHeader>>,
    pub client_id: Option<Spanned<IdentityHeader>>,
    pub username: Option<Spanned<IdentityHeader>>,
    /// Introspection field → header, in file order.
    pub claims: Option<Ordered<NonEmpty, Spanned<IdentityHeader>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Route {
    pub path: Spanned<RoutePath>,
    pub methods: Option<Spanned<Vec<Spanned<MethodName>>>>,
    pub public: Option<Spanned<bool>>,
    pub scopes: Option<Spanned<Vec<Scope>>>,
    pub scopes_any: Option<Spanned<Vec<Scope>>>,
    pub owner: Option<Spanned<Owner>>,
    /// Field path → scope, in file order.
    pub fields: Option<Spanned<Ordered<FieldPath, Scope>>>,
    /// Also introspect JWTs on this route (revocation); needs `[introspection]`.
    pub introspect: Option<Spanned<bool>>,
}

/// One `[[jwt]]` table: a trusted issuer of JWT access tokens (RFC 9068).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Jwt {
    pub issuer: NonEmpty,
    pub audience: Option<NonEmpty>,
    pub jwks_uri: Option<Spanned<EndpointUrl>>,
    pub metadata_url: Option<Spanned<EndpointUrl>>,
    pub algorithms: Option<Spanned<Vec<Spanned<NonEmpty>>>>,
    pub typ: Option<Spanned<Vec<NonEmpty>>>,
    pub scope_claim: Option<NonEmpty>,
    pub leeway: Option<DurationValue>,
    pub jwks_refresh: Option<Timeout>,
    pub timeout: Option<Timeout>,
    pub ca_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Owner {
    pub param: Spanned<NonEmpty>,
    pub claim: NonEmpty,
}

/// A TOML table as its entries in file order (toml's own map may reorder). TOML
/// itself refuses duplicate keys, so none arrive here.
#[derive(Debug)]
pub(crate) struct Ordered<K, V>(pub Vec<(K, V)>);

// === impl Ordered ===

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Ordered<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<K, V>(PhantomData<(K, V)>);

        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<K, V> {
            type Value = Ordered<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }

        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}
