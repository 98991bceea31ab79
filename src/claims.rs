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

pub(crate) mod info;
pub(crate) mod needs;
pub(crate) mod problem;
pub(crate) mod scope;

pub(crate) use info::{Expectations, ParseError, TokenInfo};
pub(crate) use needs::Needs;
pub(crate) use problem::TokenProblem;
pub(crate) use scope::ScopeSet;
