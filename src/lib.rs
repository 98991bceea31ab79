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
//!
//! Every module is `pub(crate)`: this library is the binary's, not an API. What the
//! binary, the benches and the fuzz targets use is re-exported in one hidden place,
//! `internals`. These docs are for contributors: `cargo doc --document-private-items`.

// The module map above links modules that are private on purpose (see above).
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod admin;
pub(crate) mod body;
pub(crate) mod claims;
pub(crate) mod cli;
pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod conn;
pub(crate) mod decision;
pub(crate) mod demo;
pub(crate) mod error;
pub(crate) mod filter;
pub(crate) mod forward;
pub(crate) mod header_name;
pub(crate) mod identity;
pub(crate) mod introspect;
pub(crate) mod jwt;
pub(crate) mod metrics;
pub(crate) mod path;
pub(crate) mod policy;
pub(crate) mod proxy;
pub(crate) mod rejection;
pub(crate) mod reload;
pub(crate) mod run;
pub(crate) mod secret;
pub(crate) mod server;
pub(crate) mod state;
pub(crate) mod tls;
pub(crate) mod token;
pub(crate) mod validator;
pub(crate) mod worker;

#[doc(hidden)]
pub mod internals;
