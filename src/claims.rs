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

pub mod info;
pub mod needs;
pub mod problem;
pub mod scope;

pub use info::{Expectations, ParseError, TokenInfo};
pub use needs::Needs;
pub use problem::TokenProblem;
pub use scope::ScopeSet;
