//! `TokenProblem`: why a token is `invalid_token` (RFC 6750 §3.1, docs/reference.md#errors).
//!
//! Every validator (introspection, JWT) reports a refused token as one of these; the
//! [`crate::rejection::Rejection::InvalidToken`] variant renders it.

/// The reason a token is `invalid_token`; [`TokenProblem::description`] is the
/// `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Malformed,
    Inactive,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    /// A JWT whose header, key or signature is not acceptable (docs/reference.md#jwt-access-tokens).
    Unverified,
}

// === impl TokenProblem ===

impl std::fmt::Display for TokenProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

impl TokenProblem {
    pub fn description(&self) -> &'static str {
        match self {
            Self::Malformed => "the access token is malformed",
            Self::Inactive => "the access token is not active",
            Self::Expired => "the access token has expired",
            Self::NotYetValid => "the access token is not yet valid",
            Self::WrongIssuer => "the access token was issued by an unexpected issuer",
            Self::WrongAudience => "the access token is not meant for this audience",
            Self::Unverified => "the access token could not be verified",
        }
    }
}
