//! Prometheus metrics (SPEC §6) on an owned registry, with label values from closed sets.

/// The `outcome` label of `requests_total` and `request_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Allowed,
    Public,
    Unauthenticated,
    InvalidToken,
    Forbidden,
    InvalidRequest,
    NoRoute,
    AsUnavailable,
    UpstreamError,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Allowed,
        Outcome::Public,
        Outcome::Unauthenticated,
        Outcome::InvalidToken,
        Outcome::Forbidden,
        Outcome::InvalidRequest,
        Outcome::NoRoute,
        Outcome::AsUnavailable,
        Outcome::UpstreamError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Public => "public",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::InvalidToken => "invalid_token",
            Outcome::Forbidden => "forbidden",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::NoRoute => "no_route",
            Outcome::AsUnavailable => "as_unavailable",
            Outcome::UpstreamError => "upstream_error",
        }
    }
}
