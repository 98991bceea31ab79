//! Bearer token extraction (RFC 6750 §2, docs/reference.md#token-extraction): `Authorization` header, form
//! body, query string — any enabled subset, never more than one at a time.
//!
//! Extraction also removes the token from what will be forwarded when
//! `token.forward = false`: the header, the form field (other fields kept byte for
//! byte, in order) or the query parameter (rest of the query byte-identical).

use std::fmt;

use crate::body::{CollectError, ProxyBody};
use crate::rejection::{Rejection, TokenProblem};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method};

/// The RFC 6750 parameter name for form and query tokens.
const PARAM: &str = "access_token";

/// A bearer token. `Debug` never shows it; only [`BearerToken::expose`] does, for the
/// introspection request and the cache digest.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Bytes);

/// Where the token was found (the `source` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    Header,
    Form,
    Query,
}

/// The result of extraction: the token (if any) and the request parts rewritten for
/// forwarding.
#[derive(Debug, Default)]
pub struct Extraction {
    pub token: Option<(BearerToken, TokenSource)>,
    /// The query to forward, when it changed (token parameter removed).
    pub query: Option<String>,
    /// The form body to forward, when it was read (`Some` means the request body was
    /// consumed and must be replaced by this).
    pub body: Option<Bytes>,
}

// === impl BearerToken ===

impl BearerToken {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Header => "header",
            TokenSource::Form => "form",
            TokenSource::Query => "query",
        }
    }
}

// === extraction ===

/// Finds the bearer token per `config`. `body` is read only when it must be (a form
/// body with `form` enabled); the caller then forwards `Extraction::body`.
pub async fn extract(
    config: &TokenConfig,
    method: &Method,
    headers: &mut HeaderMap,
    query: Option<&str>,
    body: &mut ProxyBody,
    read_timeout: std::time::Duration,
) -> Result<Extraction, Rejection> {
    let mut found: Option<(BearerToken, TokenSource)> = None;
    let mut out = Extraction::default();

    // RFC 6750 §2.1. Two Authorization headers are ambiguous whatever the sources.
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Rejection::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    if config.sources.header {
        if let Some(token) = first.map(parse_authorization).transpose()?.flatten() {
            found = Some((token, TokenSource::Header));
            if !config.forward {
                headers.remove(AUTHORIZATION);
            }
        }
    }

    // RFC 6750 §2.3.
    if config.sources.query {
        if let Some(q) = query {
            if let Some((token, rest)) = take_param(q.as_bytes())? {
                place(&mut found, token, TokenSource::Query)?;
                if !config.forward {
                    out.query = Some(String::from_utf8_lossy(&rest).into_owned());
                }
            }
        }
    }

    // RFC 6750 §2.2: every form body is read when `form` is enabled, whichever source
    // carries the token, so that a token sent twice is always seen.
    if config.sources.form && is_form(method, headers) {
        // A client trickling its form body must not hold the request open forever.
        // Boxed: only form requests pay for this state (see forward::pool).
        let bytes = Box::pin(tokio::time::timeout(
            read_timeout,
            read_limited(body, headers, config.max_form_body),
        ))
        .await
        .map_err(|_| Rejection::RequestTimeout)??;
        if overrides_method(&bytes, method) {
            return Err(Rejection::BadRequest(METHOD_OVERRIDE));
        }
        let mut forwarded = bytes.clone();
        if let Some((token, rest)) = take_param(&bytes)? {
            place(&mut found, token, TokenSource::Form)?;
            if !config.forward {
                forwarded = Bytes::from(rest);
            }
        }
        headers.insert(CONTENT_LENGTH, HeaderValue::from(forwarded.len()));
        out.body = Some(forwarded);
    }

    out.token = found;
    Ok(out)
}

fn place(
    found: &mut Option<(BearerToken, TokenSource)>,
    token: BearerToken,
    source: TokenSource,
) -> Result<(), Rejection> {
    if found.is_some() {
        return Err(Rejection::InvalidRequest(
            "the access token was sent in more than one place",
        ));
    }
    *found = Some((token, source));
    Ok(())
}

/// `Authorization: Bearer <b64token>`; scheme case-insensitive (RFC 9110 §11.1).
/// `Ok(None)` for another scheme; a bearer credential that is not one b64token is a
/// malformed token.
pub fn parse_authorization(value: &HeaderValue) -> Result<Option<BearerToken>, Rejection> {
    let bytes = value.as_bytes();
    let scheme_end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    if !bytes[..scheme_end].eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    // RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
    let mut start = scheme_end;
    while bytes.get(start) == Some(&b' ') {
        start += 1;
    }
    let credential = &bytes[start..];
    if start == scheme_end || !is_b64token(credential) {
        return Err(Rejection::InvalidToken(TokenProblem::Malformed));
    }
    Ok(Some(BearerToken(Bytes::copy_from_slice(credential))))
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
pub fn is_b64token(s: &[u8]) -> bool {
    let body_end = s.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
    body_end > 0
        && s[..body_end].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// `POST`-like methods with `Content-Type: application/x-www-form-urlencoded` (any
/// parameters).
fn is_form(method: &Method, headers: &HeaderMap) -> bool {
    if method == Method::GET || method == Method::HEAD {
        return false;
    }
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Finds `access_token` in `a=b&c=d` text; returns the token and the text without it
/// (every other piece byte for byte, in order). The parameter twice is `invalid_request`.
/// Public only for the fuzz targets and benches (the form-body parser as a pure function).
#[doc(hidden)]
pub fn take_param(text: &[u8]) -> Result<Option<(BearerToken, Vec<u8>)>, Rejection> {
    let mut token = None;
    let mut rest: Vec<u8> = Vec::with_capacity(text.len());
    let mut first = true;
    for piece in text.split(|&b| b == b'&') {
        // Keys are compared decoded (`access%5Ftoken` is the same parameter).
        let param = form_urlencoded::parse(piece).next();
        match param {
            Some((key, value)) if key == PARAM => {
                if token.is_some() {
                    return Err(Rejection::InvalidRequest(
                        "the access_token parameter appears more than once",
                    ));
                }
                if !is_b64token(value.as_bytes()) {
                    return Err(Rejection::InvalidToken(TokenProblem::Malformed));
                }
                token = Some(BearerToken(Bytes::from(value.into_owned())));
            }
            _ => {
                if !first {
                    rest.push(b'&');
                }
                rest.extend_from_slice(piece);
                first = false;
            }
        }
    }
    Ok(token.map(|t| (t, rest)))
}

/// The description of a refused method-override parameter.
pub const METHOD_OVERRIDE: &str = "a _method parameter may not change the request method";

/// Whether `a=b&c=d` text carries a `_method` parameter naming another method than
/// `method`: Rails (Rack::MethodOverride), Laravel, Symfony and Express method-override
/// act on it, so a POST authorized as a POST would run as a DELETE. Refused, not
/// removed: the client asked for something else than what it would get.
pub fn overrides_method(text: &[u8], method: &Method) -> bool {
    (find(text, b"method") || text.contains(&b'%'))
        && form_urlencoded::parse(text)
            .any(|(key, value)| key == "_method" && !value.eq_ignore_ascii_case(method.as_str()))
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether a query carries an `access_token` parameter, the name compared decoded
/// (`access%5Ftoken` is the same parameter): such answers are `Cache-Control: private`.
pub fn query_has_token(query: &str) -> bool {
    // Cheap test first: the name, or any escape that could spell it.
    (query.contains(PARAM) || query.contains('%') || query.contains('+'))
        && form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == PARAM)
}

/// docs/reference.md#forwarding, `forward = false` on a public route: a bearer `Authorization` header and
/// every `access_token` query parameter are removed, unvalidated. Returns the query to
/// forward when it changed.
pub fn remove_unvalidated(headers: &mut HeaderMap, query: Option<&str>) -> Option<String> {
    let bearer = headers.get(AUTHORIZATION).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= 6
            && v[..6].eq_ignore_ascii_case(b"bearer")
            && v.get(6).is_none_or(|&b| b == b' ')
    });
    if bearer {
        headers.remove(AUTHORIZATION);
    }
    let query = query.filter(|q| query_has_token(q))?;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|piece| {
            form_urlencoded::parse(piece.as_bytes())
                .next()
                .is_none_or(|(key, _)| key != PARAM)
        })
        .collect();
    Some(kept.join("&"))
}

/// Reads the whole form body, refusing more than `limit` bytes (413).
async fn read_limited(
    body: &mut ProxyBody,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, Rejection> {
    crate::body::collect_limited(body, headers, limit)
        .await
        .map_err(|e| match e {
            CollectError::TooLarge { limit } => Rejection::FormTooLarge { limit },
            CollectError::Read(_) => Rejection::BadRequest("the request body could not be read"),
        })
}

/// What `[token]` compiles to (docs/reference.md#token-extraction): the extraction rules own
/// their settings, `config` builds them.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub sources: TokenSources,
    pub max_form_body: usize,
    /// `false`: the token is removed before forwarding.
    pub forward: bool,
    pub realm: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSources {
    pub header: bool,
    pub form: bool,
    pub query: bool,
}

impl Default for TokenSources {
    fn default() -> Self {
        Self {
            header: true,
            form: true,
            query: true,
        }
    }
}

#[cfg(test)]
mod tests;
