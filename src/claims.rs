//! Checked claims: what a validator hands the rest of the request (docs/reference.md#validation).
//!
//! A leaf: it depends on no other module of the crate. Every validator (introspection
//! in [`crate::introspect`], local JWT verification in [`crate::jwt`]) produces a
//! [`TokenInfo`] or a [`TokenProblem`]; [`crate::policy`] authorizes from a
//! [`TokenInfo`] and its [`ScopeSet`]; [`crate::rejection`] renders a [`TokenProblem`].
//! None of them depends on another for these types.
//!
//! - [`TokenInfo`]: one token's claims, parsed strictly, with [`TokenInfo::check`]
//!   applying activity, `exp`, `nbf` and the deployment's [`Expectations`] on every
//!   request (hit or miss).
//! - [`ScopeSet`]: RFC 6749 §3.3 scope lists.
//! - [`TokenProblem`]: why a token is `invalid_token`.
//! - [`now_unix`]: the wall clock that `exp` and `nbf` are compared with.

pub mod info;
pub mod needs;
pub mod problem;
pub mod scope;

use std::time::{SystemTime, UNIX_EPOCH};

pub use info::{Expectations, ParseError, TokenInfo};
pub use needs::Needs;
pub use problem::TokenProblem;
pub use scope::ScopeSet;

/// Seconds since the Unix epoch (token `exp`/`nbf` are wall-clock NumericDates).
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
