//! `Rejection`: every answer scopegate gives instead of forwarding (docs/reference.md#errors).
//!
//! Each variant is one row of the error table in docs/reference.md#errors. `status`, `outcome` and
//! `challenge` are one `match` each, and [`Rejection::into_response`] is the only
//! place an error response is built, so the wire shape cannot drift per call site.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};

use crate::body::{full, ProxyBody};
use crate::metrics::Outcome;

pub(crate) use crate::claims::TokenProblem;

/// Why a request was answered by scopegate rather than the upstream.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// docs/reference.md#path-safety: the path is not in normal form.
    #[error("request path is not in normal form")]
    UnsafePath,
    /// A request that is malformed outside the token rules (two `Host` headers,
    /// conflicting framing headers).
    #[error("{0}")]
    BadRequest(&'static str),
    /// docs/reference.md#limits: request line and headers over `max_header_bytes` (431).
    #[error("request header fields too large")]
    HeadersTooLarge,
    /// The client did not send its form body within `header_read_timeout` (408).
    #[error("request body not received in time")]
    RequestTimeout,
    /// No route matches method and path: deny by default.
    #[error("no route matches this request")]
    NoRoute,
    /// A protected route and no bearer token anywhere (RFC 6750 §3.1: no error code).
    #[error("a bearer token is required")]
    MissingToken,
    /// RFC 6750 §3.1 `invalid_request`: two token sources, a duplicate parameter.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// The form body was larger than `token.max_form_body`.
    #[error("form body larger than {limit} bytes")]
    FormTooLarge { limit: usize },
    /// RFC 6750 §3.1 `invalid_token`: inactive, expired, not yet valid, wrong
    /// issuer or audience, malformed.
    #[error("{0}")]
    InvalidToken(TokenProblem),
    /// RFC 6750 §3.1 `insufficient_scope`: scopes or owner binding do not allow the route.
    #[error("insufficient scope")]
    InsufficientScope { required: String },
    /// The authorization server could not give an answer: fail closed (503).
    #[error("authorization server unavailable")]
    AuthServerUnavailable(#[source] crate::error::IntrospectError),
    /// A JWT's issuer has never had a usable key set (docs/reference.md#jwt-access-tokens): fail closed (503).
    #[error("no usable key set for the token's issuer")]
    KeysUnavailable,
    /// The upstream could not be reached or broke the exchange (502).
    #[error("upstream unavailable")]
    UpstreamUnreachable(#[source] crate::error::ForwardError),
    /// The upstream did not answer within `upstream.timeout` (504).
    #[error("upstream timed out")]
    UpstreamTimeout,
    /// A `fields` route got a JSON answer that cannot be filtered (502): never passed unfiltered.
    #[error("upstream response could not be filtered")]
    Unfilterable(#[source] crate::filter::FilterError),
    /// A bug or resource failure inside scopegate.
    #[error("internal error")]
    Internal(&'static str),
}

/// Which side a rejection comes from (pingora's `ErrorSource`), finer than the
/// `outcome` label: [`Side::Internal`] is a fault inside scopegate, which the SPEC's
/// closed label set has no value for (docs/reference.md#metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The request itself (4xx).
    Client,
    /// The authorization server or the token issuer's keys (503).
    AuthServer,
    /// The upstream (502, 504).
    Upstream,
    /// A bug or resource failure of our own (500).
    Internal,
}

// === impl Side ===

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::AuthServer => "auth_server",
            Self::Upstream => "upstream",
            Self::Internal => "internal",
        }
    }
}

// === impl Rejection ===

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnsafePath | Self::BadRequest(_) | Self::InvalidRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::NoRoute | Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::FormTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::AuthServerUnavailable(_) | Self::KeysUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::UpstreamUnreachable(_) | Self::Unfilterable(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Which side failed; `Internal` is told apart here, not in the metric label.
    pub fn side(&self) -> Side {
        match self {
            Self::AuthServerUnavailable(_) | Self::KeysUnavailable => Side::AuthServer,
            Self::UpstreamUnreachable(_) | Self::UpstreamTimeout | Self::Unfilterable(_) => {
                Side::Upstream
            }
            Self::Internal(_) => Side::Internal,
            _ => Side::Client,
        }
    }

    /// The `outcome` metric label (a closed set). A fault of our own ([`Side::Internal`])
    /// has no label of its own and counts as `upstream_error`, the other 5xx that is not
    /// the authorization server's; its log line says `outcome=internal`.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::UnsafePath
            | Self::BadRequest(_)
            | Self::InvalidRequest(_)
            | Self::HeadersTooLarge
            | Self::RequestTimeout
            | Self::FormTooLarge { .. } => Outcome::InvalidRequest,
            Self::NoRoute => Outcome::NoRoute,
            Self::MissingToken => Outcome::Unauthenticated,
            Self::InvalidToken(_) => Outcome::InvalidToken,
            Self::InsufficientScope { .. } => Outcome::Forbidden,
            Self::AuthServerUnavailable(_) | Self::KeysUnavailable => Outcome::AsUnavailable,
            Self::UpstreamUnreachable(_)
            | Self::UpstreamTimeout
            | Self::Unfilterable(_)
            | Self::Internal(_) => Outcome::UpstreamError,
        }
    }

    /// The `error` member of the JSON body (RFC 6750 §3.1 codes where they apply).
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::UnsafePath | Self::BadRequest(_) | Self::InvalidRequest(_) => "invalid_request",
            Self::NoRoute => "access_denied",
            Self::MissingToken => "unauthorized",
            Self::FormTooLarge { .. } => "payload_too_large",
            Self::HeadersTooLarge => "request_header_fields_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::AuthServerUnavailable(_) | Self::KeysUnavailable => "temporarily_unavailable",
            Self::UpstreamUnreachable(_) | Self::Unfilterable(_) => "bad_gateway",
            Self::UpstreamTimeout => "gateway_timeout",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The `error_description`: fixed text per variant, never request data.
    pub fn description(&self) -> &'static str {
        match self {
            Self::UnsafePath => "request path is not in normal form",
            Self::BadRequest(why) | Self::InvalidRequest(why) => why,
            Self::NoRoute => "no route allows this request",
            Self::MissingToken => "a bearer token is required",
            Self::FormTooLarge { .. } => "form body is larger than allowed",
            Self::HeadersTooLarge => "request headers are larger than allowed",
            Self::RequestTimeout => "the request body was not received in time",
            Self::InvalidToken(problem) => problem.description(),
            Self::InsufficientScope { .. } => "the access token does not allow this request",
            Self::AuthServerUnavailable(_) => "the authorization server is unavailable",
            Self::KeysUnavailable => "the token issuer's signing keys are unavailable",
            Self::UpstreamUnreachable(_) => "the upstream service is unavailable",
            Self::UpstreamTimeout => "the upstream service did not answer in time",
            Self::Unfilterable(_) => "the upstream response could not be filtered",
            Self::Internal(_) => "internal error",
        }
    }

    /// RFC 6750 §3 `WWW-Authenticate` value, if this rejection carries one.
    pub fn challenge(&self, realm: &str) -> Option<String> {
        let realm = quote(realm);
        match self {
            // §3.1: "If the request lacks any authentication information ... the
            // resource server SHOULD NOT include an error code".
            Self::MissingToken => Some(format!("Bearer realm={realm}")),
            // docs/reference.md#errors gives this one without a description; the body carries it.
            Self::InvalidRequest(_) => {
                Some(format!("Bearer realm={realm}, error=\"invalid_request\""))
            }
            Self::InvalidToken(problem) => Some(format!(
                "Bearer realm={realm}, error=\"invalid_token\", error_description={}",
                quote(problem.description())
            )),
            Self::InsufficientScope { required } => Some(format!(
                "Bearer realm={realm}, error=\"insufficient_scope\", scope={}",
                quote(required)
            )),
            _ => None,
        }
    }

    /// Renders the rejection; the only place an error response is built.
    pub fn into_response(self, realm: &str) -> Response<ProxyBody> {
        let status = self.status();
        let challenge = self.challenge(realm);
        let body = error_body(self.error_code(), self.description());
        let mut rsp = Response::new(full(body));
        *rsp.status_mut() = status;
        let headers = rsp.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = challenge.and_then(|c| HeaderValue::try_from(c).ok()) {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        }
        rsp
    }
}

/// `{"error":"…","error_description":"…"}`, built with serde_json so every
/// character is escaped correctly.
pub(crate) fn error_body(code: &str, description: &str) -> Bytes {
    let value = serde_json::json!({ "error": code, "error_description": description });
    Bytes::from(value.to_string())
}

/// RFC 9110 §5.6.4 quoted-string: backslash-escape `"` and `\`; drop control
/// characters, which a quoted-string cannot carry.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc6750_section_3() {
        assert_eq!(
            Rejection::MissingToken.challenge("api").as_deref(),
            Some("Bearer realm=\"api\"")
        );
        assert_eq!(
            Rejection::InvalidToken(TokenProblem::Expired).challenge("api").as_deref(),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the access token has expired\"")
        );
        assert_eq!(
            Rejection::InsufficientScope { required: "orders:read admin".into() }
                .challenge("a\"b")
                .as_deref(),
            Some("Bearer realm=\"a\\\"b\", error=\"insufficient_scope\", scope=\"orders:read admin\"")
        );
        assert_eq!(Rejection::NoRoute.challenge("api"), None);
        assert_eq!(Rejection::UnsafePath.challenge("api"), None);
    }

    #[test]
    fn internal_is_its_own_side_and_counts_as_upstream_error() {
        let internal = Rejection::Internal("test");
        assert_eq!(internal.side(), Side::Internal);
        assert_eq!(internal.side().as_str(), "internal");
        assert_eq!(internal.outcome(), Outcome::UpstreamError);
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Rejection::UpstreamTimeout.side(), Side::Upstream);
        assert_eq!(Rejection::KeysUnavailable.side(), Side::AuthServer);
        assert_eq!(Rejection::NoRoute.side(), Side::Client);
    }

    #[test]
    fn service_unavailable_carries_retry_after() {
        let rsp = Rejection::AuthServerUnavailable(crate::error::IntrospectError::Timeout)
            .into_response("api");
        assert_eq!(rsp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(rsp.headers().contains_key(RETRY_AFTER));
        assert!(!rsp.headers().contains_key(WWW_AUTHENTICATE));
    }
}
