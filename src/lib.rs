//! scopegate: an OAuth 2.0 enforcement proxy.
//!
//! Every request flows through the same steps, in one direction (see [`proxy`]):
//!
//! ```text
//! client ─► server (accept, h1/h2, limits) ─► Proxy::handle
//!   1  path::check             unsafe path                              → 400
//!   2  policy::match_request   no route (deny by default)               → 403
//!   3  identity::strip         client-sent identity headers, every route, public too
//!   4  token::extract          header | form | query (skipped on public routes) → 401 / 400 / 413
//!   5  validator               JWT of a [[jwt]] issuer: local (jwt); else introspect:
//!                              cache, else one AS call per token        → 401 invalid_token / 503
//!   6  route.authorize         → Grant (public routes get a public Grant) → 403 insufficient_scope
//!   7  identity::inject, forward::prepare   hop-by-hop removal, X-Forwarded-*
//!   8  forward                 streaming, pooled                        → 502 / 504
//!   9  filter::fields          JSON fields the Grant does not cover are removed
//!  10  RequestContext::finish  one log line + metrics, on success and on failure
//! ```
//!
//! The decision listener ([`decision`]) runs steps 1–6 — the same `proxy::decide` — on
//! the request a front proxy describes, and answers with the identity instead of
//! steps 7–9.
//!
//! Reference map (`docs/reference.md`): command line [`cli`], configuration [`config`],
//! path safety [`path`], token extraction [`token`], validation [`validator`] and the
//! introspection cache [`introspect`], authorization [`policy`], forwarding [`forward`]
//! and [`identity`], field filtering [`filter`], errors [`rejection`], observability
//! [`admin`] and [`metrics`], operations [`server`] and [`reload`], decision mode
//! [`decision`], JWT access tokens [`jwt`].

pub mod admin;
pub mod body;
pub mod claims;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conn;
pub mod decision;
pub mod demo;
pub mod error;
pub mod filter;
pub mod forward;
pub mod header_name;
pub mod identity;
pub mod introspect;
pub mod jwt;
pub mod metrics;
pub mod path;
pub mod policy;
pub mod proxy;
pub mod rejection;
pub mod reload;
pub mod run;
pub mod secret;
pub mod server;
pub mod state;
pub mod tls;
pub mod token;
pub mod validator;
pub mod worker;
