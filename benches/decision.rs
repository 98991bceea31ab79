//! The per-request policy decision: `path::check`, `RouteTable::match_request` and
//! `Route::authorize`, on tables of 10, 100 and 1,000 routes whose matching route is
//! the last but one (the worst realistic case: every earlier route is tried first).
//!
//! Measured with `cargo bench --bench decision` (divan, median):
//!   hardware: 2 vCPU AMD EPYC (cloud VM, shared), rustc 1.95.0, bench profile
//!
//!   bench                        10 routes   100 routes   1,000 routes
//!   match_and_authorize           440 ns       731 ns        3.60 µs
//!   match_only                    153 ns       465 ns        3.33 µs
//!   path_check_typical   69 ns  (`/api/v2/users/al%69ce/orders/12345;v=2`)
//!   path_check_plain     39 ns  (`/api/v2/orders/12345`)
//!
//! `match_and_authorize` includes `path::check` and the owner binding, whose encoded
//! parameter (`al%69ce`) is the one allocation of a decision. Matching is linear in
//! the table (~3 ns per route rejected on segment count or first differing literal).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use divan::{black_box, Bencher};
use http::Method;
use scopegate::internals::introspect::TokenInfo;
use scopegate::internals::policy::{
    OwnerBinding, Route, RoutePattern, RouteTable, ScopeSet, Target,
};

fn main() {
    divan::main();
}

const TYPICAL_PATH: &str = "/api/v2/users/al%69ce/orders/12345;v=2";

/// `n` routes mixing literals, params and `**` across many resource names, then the
/// route the benchmark request hits, then a catch-all.
fn table(n: usize) -> RouteTable {
    let mut routes = Vec::with_capacity(n);
    for i in 0..n.saturating_sub(2) {
        let (path, methods) = match i % 5 {
            0 => (format!("/api/v2/res{i}/{{id}}"), Some(vec![Method::GET])),
            1 => (
                format!("/api/v2/res{i}/**"),
                Some(vec![Method::POST, Method::PUT]),
            ),
            2 => (format!("/api/v2/res{i}/{{id}}/items/{{item}}"), None),
            3 => (format!("/api/v1/res{i}"), Some(vec![Method::GET])),
            _ => (format!("/internal/res{i}/"), None),
        };
        routes.push(route(&path, methods, "read:stuff", None));
    }
    routes.push(route(
        "/api/v2/users/{user}/orders/{id}",
        Some(vec![Method::GET]),
        "orders:read",
        Some(OwnerBinding {
            param: "user".into(),
            claim: "sub".into(),
        }),
    ));
    routes.push(route("/**", None, "admin", None));
    RouteTable::new(routes)
}

fn route(
    path: &str,
    methods: Option<Vec<Method>>,
    scopes: &str,
    owner: Option<OwnerBinding>,
) -> Route {
    Route::new(
        RoutePattern::parse(path).unwrap(),
        methods,
        false,
        ScopeSet::parse(scopes),
        ScopeSet::default(),
        owner,
        None,
    )
}

fn token() -> Arc<TokenInfo> {
    let claims = serde_json::json!({
        "active": true,
        "sub": "alice",
        "scope": "openid profile orders:read orders:write",
        "exp": 4_000_000_000_i64,
    });
    let serde_json::Value::Object(map) = claims else {
        unreachable!()
    };
    Arc::new(TokenInfo::from_claims(map).unwrap())
}

/// One full decision: check, match, authorize (as the pipeline does per request).
#[divan::bench(args = [10, 100, 1000])]
fn match_and_authorize(bencher: Bencher, n: usize) {
    let table = table(n);
    let token = token();
    let target = Target {
        method: Method::GET,
        path_and_query: format!("{TYPICAL_PATH}?expand=items").parse().unwrap(),
    };
    assert_eq!(
        table
            .match_request(&Method::GET, TYPICAL_PATH)
            .unwrap()
            .index(),
        n - 2
    );
    bencher
        .with_inputs(|| (target.clone(), Arc::clone(&token)))
        .bench_local_values(|(target, token)| {
            let path = target.path_and_query.path();
            scopegate::internals::path::check(path).unwrap();
            let route = table
                .match_request(&target.method, black_box(path))
                .unwrap();
            route
                .authorize(target, token)
                .map(|g| g.route().index())
                .unwrap()
        });
}

/// Matching alone, to separate table size from the fixed cost of authorize.
#[divan::bench(args = [10, 100, 1000])]
fn match_only(bencher: Bencher, n: usize) {
    let table = table(n);
    bencher.bench_local(|| {
        table
            .match_request(&Method::GET, black_box(TYPICAL_PATH))
            .map(Route::index)
    });
}

#[divan::bench]
fn path_check_typical() -> Result<(), scopegate::internals::path::UnsafePath> {
    scopegate::internals::path::check(black_box(TYPICAL_PATH))
}

#[divan::bench]
fn path_check_plain() -> Result<(), scopegate::internals::path::UnsafePath> {
    scopegate::internals::path::check(black_box("/api/v2/orders/12345"))
}
