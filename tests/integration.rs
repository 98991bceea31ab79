//! Black-box integration suite: the real `scopegate` binary against in-process mocks.
//! One module per area of docs/reference.md (STYLE §3.6); shared harness in `support/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub,
    reason = "test helpers panic loudly by design; not every helper is used by every module"
)]

mod support;

mod it {
    mod admin;
    mod attacks;
    mod authorization;
    mod cache;
    mod cli;
    mod decision;
    mod e2e_oidc;
    mod field_filter;
    mod forwarding;
    mod http2;
    mod identity_headers;
    mod introspection;
    mod jwt;
    mod limits;
    mod limits_h2;
    mod logs;
    mod path_safety;
    mod reload;
    mod shared_cache;
    mod shutdown;
    mod tls;
    mod token_extraction;
    mod websocket;
}
