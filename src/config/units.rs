//! Single config values as newtypes that check themselves in `Deserialize`.
//!
//! toml attaches the value's span to any error raised while deserializing it, so a
//! check made here arrives at the user as `file:line:col: key: message` with no extra
//! plumbing (STYLE §3.5). Cross-field rules live in [`super::validate`].
//!
//! Sizes: a bare number is bytes; `KB`/`MB`/`GB` are decimal (1000) and `KiB`/`MiB`/`GiB`
//! binary (1024), as in IEC 80000-13; units are case-insensitive.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, Method, Uri};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::filter::FieldRules;
use crate::policy::RoutePattern;
pub use crate::secret::Secret;

/// `"250ms"`, `"2s"`, `"5m"`, `"1h 30m"` (humantime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationValue(pub Duration);

/// A duration that must be greater than zero (timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeout(pub Duration);

/// A positive number of bytes: `512`, `"512"`, `"16KB"`, `"64KiB"`, `"1MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteSize(pub usize);

/// A positive integer (connection and entry counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Count(pub u64);

/// `"0.0.0.0:8080"`: an IP address and a port (no host names: nothing is resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Addr(pub SocketAddr);

/// `[upstream] url`: http(s), an authority, no userinfo, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpstreamUrl(pub Uri);

/// `[introspection] endpoint`: http(s), an authority, no userinfo or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointUrl(pub Uri);

/// `[introspection.cache.shared] url`: `redis://` or `rediss://` (TLS), a host, no
/// password, query or fragment. `.1` tells TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl(pub String, pub bool);

/// A header scopegate sets from the introspection answer: a valid name that is not
/// hop-by-hop, framing, routing or credential-bearing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdentityHeader(pub HeaderName);

/// One RFC 6749 §3.3 scope-token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope(pub String);

/// An upper-case method token (RFC 9110 §9.1: methods are case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MethodName(pub Method);

/// A string that is not empty or blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NonEmpty(pub String);

/// The `realm` of `WWW-Authenticate`: it is sent inside a quoted-string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Realm(pub String);

/// A compiled `[[route]] path`.
#[derive(Debug)]
pub(crate) struct RoutePath(pub RoutePattern);

/// A `[route.fields]` key, checked by compiling it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath(pub String);

/// The header names identity headers must never take, compared after lower-casing and
/// mapping `_` to `-` (docs/reference.md#forwarding: CGI-style backends read those as the same header).
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "cookie",
    "expect",
    "forwarded",
    "host",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
    "x-http-method",
    "x-http-method-override",
    "x-method-override",
    "x-original-url",
    "x-real-ip",
    "x-rewrite-url",
];

const DURATION_HINT: &str = r#"expected a number with a unit, like "250ms", "2s" or "5m""#;
const SIZE_HINT: &str = r#"expected a number of bytes with an optional unit, like "512", "64KiB" or "1MiB" (KB = 1000, KiB = 1024)"#;

// === parsers (pure, so they are table-testable) ===

pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("invalid duration {text:?}: {DURATION_HINT}"))
}

pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let invalid = || format!("invalid size {text:?}: {SIZE_HINT}");
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1 << 10,
        "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        _ => return Err(invalid()),
    };
    let bytes = number
        .checked_mul(multiplier)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("invalid size {text:?}: too large"))?;
    if bytes == 0 {
        return Err(format!("invalid size {text:?}: must be greater than 0"));
    }
    Ok(bytes)
}

/// Shared by both URL kinds. Messages never echo userinfo (it may hold a password).
pub(crate) fn parse_http_url(text: &str, allow_query: bool) -> Result<Uri, String> {
    let shown = redact_userinfo(text);
    if text.contains('#') {
        return Err(format!(
            "invalid URL {shown:?}: a fragment (#...) is not allowed"
        ));
    }
    let uri: Uri = text.parse().map_err(|_| {
        format!(
            r#"invalid URL {shown:?}: expected an http or https URL, like "http://127.0.0.1:3000""#
        )
    })?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "invalid URL {shown:?}: the scheme is {other:?}; expected http or https"
            ))
        }
        None => {
            return Err(format!(
                "invalid URL {shown:?}: expected an absolute http or https URL"
            ))
        }
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("invalid URL {shown:?}: expected a host"));
    };
    if authority.as_str().contains('@') {
        return Err(format!(
            "invalid URL {shown:?}: credentials in the URL are not allowed"
        ));
    }
    if authority.port().is_some() && authority.port_u16().is_none() || authority.host().is_empty() {
        return Err(format!("invalid URL {shown:?}: invalid host or port"));
    }
    if !allow_query && uri.query().is_some() {
        return Err(format!(
            "invalid URL {shown:?}: a query (?...) is not allowed; the path is the prefix of every forwarded path"
        ));
    }
    Ok(uri)
}

/// docs/reference.md#shared-cache `url`. A password belongs in `password_file` or
/// `password_env` (a URL ends up in logs and process listings); a fragment is refused
/// because the Redis client reads `#insecure` as "skip certificate checks".
pub(crate) fn parse_redis_url(text: &str) -> Result<RedisUrl, String> {
    let shown = redact_userinfo(text);
    let url = url::Url::parse(text).map_err(|_| {
        format!(r#"invalid URL {shown:?}: expected a redis:// or rediss:// URL, like "redis://redis.auth.svc:6379/0""#)
    })?;
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        other => {
            return Err(format!(
                "invalid URL {shown:?}: the scheme is {other:?}; expected redis or rediss"
            ))
        }
    };
    if url.password().is_some() {
        return Err(format!(
            "invalid URL {shown:?}: a password in the URL is not allowed; expected password_file or password_env"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("invalid URL {shown:?}: expected a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "invalid URL {shown:?}: a query (?...) or fragment (#...) is not allowed"
        ));
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u16>().is_err() {
        return Err(format!(
            "invalid URL {shown:?}: the path must be a database number, like /0"
        ));
    }
    Ok(RedisUrl(text.to_owned(), tls))
}

fn redact_userinfo(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_owned();
    };
    let authority_end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    match text[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &text[..start], &text[start + at..]),
        None => text.to_owned(),
    }
}

pub(crate) fn parse_identity_header(text: &str) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(text.as_bytes()).map_err(|_| {
        format!(r#"invalid header name {text:?}: expected letters, digits and "-", like "X-Auth-Subject""#)
    })?;
    let normalized = name.as_str().replace('_', "-");
    if RESERVED_HEADERS.contains(&normalized.as_str()) || normalized.starts_with("x-forwarded-") {
        return Err(format!(
            "header {text:?} cannot carry identity: it is a hop-by-hop, framing, routing or credential header"
        ));
    }
    Ok(name)
}

pub(crate) fn parse_scope(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err(r#"empty scope: expected a scope name like "orders:read""#.to_owned());
    }
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    let valid = text
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if !valid {
        return Err(format!(
            "invalid scope {text:?}: a scope cannot contain spaces, quotes, backslashes or control characters"
        ));
    }
    Ok(text.to_owned())
}

pub(crate) fn parse_method(text: &str) -> Result<Method, String> {
    // RFC 9110 §5.6.2 tchar; lower-case letters are refused because "get" is not GET.
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if text.is_empty() || !text.bytes().all(is_tchar) {
        return Err(format!(
            r#"invalid method {text:?}: expected an HTTP method like "GET" or "POST""#
        ));
    }
    if text.bytes().any(|b| b.is_ascii_lowercase()) {
        let upper = text.to_ascii_uppercase();
        return Err(format!(
            "invalid method {text:?}: methods are case-sensitive; expected {upper:?}"
        ));
    }
    Method::from_bytes(text.as_bytes()).map_err(|_| {
        format!(r#"invalid method {text:?}: expected an HTTP method like "GET" or "POST""#)
    })
}

pub(crate) fn parse_realm(text: &str) -> Result<String, String> {
    if text
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(format!(
            r#"invalid realm {text:?}: a realm cannot contain '"', '\' or control characters"#
        ));
    }
    Ok(text.to_owned())
}

// === Deserialize impls ===

/// Implements `Deserialize` for a newtype from a `&str` check.
/// With `number`, a bare TOML number gets that message instead of serde's generic
/// "invalid type".
macro_rules! from_str_check {
    ($ty:ident, $expecting:literal, $check:expr) => {
        from_str_check!(
            $ty,
            $expecting,
            $check,
            number = |n: f64| format!("invalid type: number {n}, expected {}", $expecting)
        );
    };
    ($ty:ident, $expecting:literal, $check:expr, number = $number:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$ty, E> {
                        #[allow(clippy::redundant_closure_call)]
                        ($check)(text).map_err(E::custom)
                    }
                    #[allow(clippy::cast_precision_loss)]
                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$ty, E> {
                        #[allow(clippy::redundant_closure_call)]
                        Err(E::custom(($number)(n as f64)))
                    }
                    fn visit_f64<E: de::Error>(self, n: f64) -> Result<$ty, E> {
                        #[allow(clippy::redundant_closure_call)]
                        Err(E::custom(($number)(n)))
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

from_str_check!(
    DurationValue,
    r#"a duration string like "2s""#,
    |t: &str| parse_duration(t).map(DurationValue),
    number = reject_number
);
from_str_check!(
    Timeout,
    r#"a duration string like "2s""#,
    |t: &str| match parse_duration(t)? {
        d if d.is_zero() => Err(format!("invalid timeout {t:?}: must be greater than 0s")),
        d => Ok(Timeout(d)),
    },
    number = reject_number
);
from_str_check!(Addr, r#"an address like "0.0.0.0:8080""#, |t: &str| {
    SocketAddr::from_str(t).map(Addr).map_err(|_| {
        format!(r#"invalid address {t:?}: expected an IP address and a port, like "0.0.0.0:8080""#)
    })
});
from_str_check!(UpstreamUrl, "an http or https URL", |t: &str| {
    parse_http_url(t, false).map(UpstreamUrl)
});
from_str_check!(EndpointUrl, "an http or https URL", |t: &str| {
    parse_http_url(t, true).map(EndpointUrl)
});
from_str_check!(RedisUrl, "a redis:// or rediss:// URL", parse_redis_url);
from_str_check!(IdentityHeader, "a header name", |t: &str| {
    parse_identity_header(t).map(IdentityHeader)
});
from_str_check!(Scope, "a scope string", |t: &str| parse_scope(t).map(Scope));
from_str_check!(MethodName, r#"a method like "GET""#, |t: &str| {
    parse_method(t).map(MethodName)
});
from_str_check!(Realm, "a realm string", |t: &str| parse_realm(t).map(Realm));
from_str_check!(
    NonEmpty,
    "a non-empty string",
    |t: &str| match t.trim().is_empty() {
        true => Err("must not be empty".to_owned()),
        false => Ok(NonEmpty(t.to_owned())),
    }
);
from_str_check!(
    RoutePath,
    r#"a path pattern like "/orders/{id}""#,
    |t: &str| RoutePattern::parse(t)
        .map(RoutePath)
        .map_err(|e| format!("invalid route path {t:?}: {e}"))
);
from_str_check!(
    FieldPath,
    r#"a field path like "items[].price""#,
    |t: &str| {
        // Compiled alone here for a precise position; the whole table is compiled again
        // in validate, which also catches rules that conflict with each other.
        FieldRules::compile(vec![(t.to_owned(), "scope".to_owned())])
            .map(|_| FieldPath(t.to_owned()))
            .map_err(|e| format!("invalid field path {t:?}: {e}"))
    }
);

/// Sizes also take a bare TOML integer (bytes).
impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a size like "64KiB""#)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ByteSize, E> {
                parse_size(text).map(ByteSize).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                self.visit_str(&n.to_string())
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                self.visit_str(&n.to_string())
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match i64::deserialize(deserializer)? {
            n if n > 0 => Ok(Count(n.unsigned_abs())),
            n => Err(de::Error::custom(format!(
                "invalid count {n}: must be greater than 0"
            ))),
        }
    }
}

/// A bare TOML number where a duration belongs: the unit is what is missing.
fn reject_number(n: f64) -> String {
    format!(r#"invalid duration {n}: {DURATION_HINT}"#)
}
