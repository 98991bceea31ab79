use std::sync::Arc;

use http::Method;
use serde_json::{json, Value};

use super::*;

/// Builds a route; `methods` empty means any method.
fn route(path: &str, methods: &[&str], scopes: &str, scopes_any: &str) -> Route {
    let methods = (!methods.is_empty()).then(|| {
        methods
            .iter()
            .map(|m| m.parse::<Method>().unwrap())
            .collect()
    });
    Route::new(
        RoutePattern::parse(path).unwrap(),
        methods,
        false,
        ScopeSet::parse(scopes),
        ScopeSet::parse(scopes_any),
        None,
        None,
    )
}

fn owned(mut r: Route, param: &str, claim: &str) -> Route {
    r.owner = Some(OwnerBinding {
        param: param.into(),
        claim: claim.into(),
    });
    r
}

fn token(claims: Value) -> Arc<TokenInfo> {
    let Value::Object(mut map) = claims else {
        panic!("claims must be an object")
    };
    map.insert("active".into(), Value::Bool(true));
    Arc::new(TokenInfo::from_claims(map).unwrap())
}

fn target(method: &str, path_and_query: &str) -> Target {
    Target {
        method: method.parse().unwrap(),
        path_and_query: path_and_query.parse().unwrap(),
    }
}

/// The docs/reference.md#configuration example table plus overlaps.
fn table() -> RouteTable {
    RouteTable::new(vec![
        route("/health", &[], "", ""),
        route("/orders/{id}", &["GET"], "orders:read", ""),
        route(
            "/orders/**",
            &["POST", "PUT", "DELETE"],
            "",
            "orders:write admin",
        ),
        route("/users/{owner}/profile", &["GET"], "profile", ""),
        route("/admin/**", &[], "admin", ""),
        route("/", &["GET"], "", ""),
        route("/static/**", &["GET", "HEAD"], "", ""),
    ])
}

#[test]
fn first_matching_route_in_file_order_decides() {
    // (method, path, index of the deciding route or None for deny by default)
    let cases: &[(&str, &str, Option<usize>)] = &[
        ("GET", "/health", Some(0)),
        ("POST", "/health", Some(0)),
        ("GET", "/health/", None),
        ("GET", "/orders/42", Some(1)),
        ("GET", "/orders/4%32", Some(1)),
        ("GET", "/orders/42;x", Some(1)),
        ("HEAD", "/orders/42", None),
        ("DELETE", "/orders/42", Some(2)),
        ("POST", "/orders", Some(2)),
        ("POST", "/orders/", Some(2)),
        ("GET", "/orders", None),
        ("GET", "/orders/", None),
        ("GET", "/orders/42/items", None),
        ("GET", "/users/alice/profile", Some(3)),
        ("PUT", "/users/alice/profile", None),
        ("PATCH", "/admin", Some(4)),
        ("GET", "/%61dmin/users", Some(4)),
        ("GET", "/admin;jsessionid=x/users", Some(4)),
        ("GET", "/", Some(5)),
        ("POST", "/", None),
        ("HEAD", "/static/app.js", Some(6)),
        ("GET", "/static", Some(6)),
        ("GET", "/nothing", None),
    ];
    let table = table();
    for &(method, path, expected) in cases {
        let got = table
            .match_request(&method.parse().unwrap(), path)
            .map(Route::index);
        assert_eq!(got, expected, "{method} {path}");
    }
}

#[test]
fn long_paths_fall_back_to_unsplit_matching_with_the_same_answer() {
    let table = RouteTable::new(vec![
        route("/x/{id}", &[], "", ""),
        route("/a/**", &[], "", ""),
    ]);
    let long = "/a".repeat(100);
    assert_eq!(
        table.match_request(&Method::GET, &long).map(Route::index),
        Some(1)
    );
    assert!(table
        .match_request(&Method::GET, &format!("/x{long}"))
        .is_none());
}

#[test]
fn encoded_literal_does_not_fall_through_to_a_looser_catch_all() {
    let table = RouteTable::new(vec![
        route("/admin/**", &[], "admin", ""),
        route("/**", &[], "", ""),
    ]);
    for path in ["/admin", "/%61dmin", "/%41dmin", "/admin;x/y"] {
        let hit = table.match_request(&Method::GET, path).map(Route::index);
        let expected = if path == "/%41dmin" { 1 } else { 0 };
        assert_eq!(hit, Some(expected), "{path}");
    }
}

#[test]
fn scopes_all_of_and_any_of_both_hold() {
    let r = route("/x", &[], "a b", "c d");
    // (token scope, allowed)
    let cases = [
        ("a b c", true),
        ("b a d", true),
        ("a b c d", true),
        ("a b", false),
        ("a c", false),
        ("c d", false),
        ("", false),
        ("A B C", false),
        ("ab c", false),
    ];
    for (scope, allowed) in cases {
        let got = r.authorize(target("GET", "/x"), token(json!({ "scope": scope })));
        assert_eq!(got.is_ok(), allowed, "scope {scope:?}");
    }
}

#[test]
fn route_without_scopes_allows_any_active_token() {
    let r = route("/x", &[], "", "");
    assert!(r.authorize(target("GET", "/x"), token(json!({}))).is_ok());
}

#[test]
fn refusal_names_all_then_any_scopes_for_the_challenge() {
    let r = route("/x", &[], "a b", "c d");
    let Err(Rejection::InsufficientScope { required }) =
        r.authorize(target("GET", "/x"), token(json!({ "scope": "a" })))
    else {
        panic!("expected insufficient_scope")
    };
    assert_eq!(required, "a b c d");
}

#[test]
fn owner_binding_compares_the_decoded_parameter_with_the_claim() {
    let r = owned(
        route("/users/{owner}/profile", &["GET"], "profile", ""),
        "owner",
        "sub",
    );
    // (path, claims, allowed)
    let cases = [
        ("/users/alice/profile", json!({ "sub": "alice" }), true),
        ("/users/al%69ce/profile", json!({ "sub": "alice" }), true),
        ("/users/alice;v=1/profile", json!({ "sub": "alice" }), true),
        ("/users/bob/profile", json!({ "sub": "alice" }), false),
        ("/users/Alice/profile", json!({ "sub": "alice" }), false),
        ("/users/alice/profile", json!({}), false),
        ("/users/alice/profile", json!({ "sub": null }), false),
        ("/users/alice/profile", json!({ "sub": ["alice"] }), false),
        (
            "/users/alice/profile",
            json!({ "sub": { "id": "alice" } }),
            false,
        ),
        ("/users/a%20b/profile", json!({ "sub": "a b" }), true),
        ("/users/42/profile", json!({ "sub": 42 }), true),
        ("/users/042/profile", json!({ "sub": 42 }), false),
    ];
    for (path, mut claims, allowed) in cases {
        claims["scope"] = json!("profile");
        let got = r.authorize(target("GET", path), token(claims.clone()));
        assert_eq!(got.is_ok(), allowed, "{path} with {claims}");
        if let Err(e) = got {
            assert!(matches!(e, Rejection::InsufficientScope { .. }), "{e:?}");
        }
    }
}

#[test]
fn owner_binding_needs_scopes_too() {
    let r = owned(route("/users/{owner}", &[], "profile", ""), "owner", "sub");
    let got = r.authorize(
        target("GET", "/users/alice"),
        token(json!({ "sub": "alice" })),
    );
    assert!(matches!(got, Err(Rejection::InsufficientScope { .. })));
}

#[test]
fn owner_binding_on_a_missing_parameter_refuses() {
    let r = owned(route("/users/{id}", &[], "", ""), "owner", "sub");
    let got = r.authorize(
        target("GET", "/users/alice"),
        token(json!({ "sub": "alice" })),
    );
    assert!(got.is_err());
}

#[test]
fn grant_holds_the_authorized_target_and_token_scopes() {
    let r = route("/orders/{id}", &["GET"], "orders:read", "");
    let grant = r
        .authorize(
            target("GET", "/orders/1?x=1"),
            token(json!({ "scope": "orders:read billing" })),
        )
        .unwrap();
    assert_eq!(grant.target().path_and_query.as_str(), "/orders/1?x=1");
    assert!(grant.has_scope("billing"));
    assert!(!grant.has_scope("profile"));
    assert!(std::ptr::eq(grant.route(), &r));
    assert!(!r
        .grant_public(target("GET", "/orders/1"))
        .has_scope("orders:read"));
}

#[test]
fn authorize_refuses_a_target_the_route_does_not_match() {
    let r = route("/orders/{id}", &["GET"], "", "");
    for t in [target("GET", "/other/1"), target("POST", "/orders/1")] {
        let got = r.authorize(t, token(json!({})));
        assert!(matches!(got, Err(Rejection::Internal(_))), "{got:?}");
    }
}

#[test]
fn shadowed_routes_are_reported_against_the_first_earlier_route() {
    let table = RouteTable::new(vec![
        route("/orders/**", &["GET", "POST"], "", ""), // 0
        route("/orders/{id}", &["GET"], "", ""),       // 1: shadowed by 0
        route("/orders/{id}", &[], "", ""),            // 2: any method, not shadowed
        route("/orders/42", &["DELETE"], "", ""),      // 3: shadowed by 2
        route("/users/{id}", &["GET"], "", ""),        // 4
        route("/users/me", &["GET", "PUT"], "", ""),   // 5: PUT not covered
        route("/users/me", &["GET"], "", ""),          // 6: shadowed by 4
        route("/**", &[], "", ""),                     // 7
        route("/anything/else", &["PATCH"], "", ""),   // 8: shadowed by 7
    ]);
    assert_eq!(table.shadowed(), [(1, 0), (3, 2), (6, 4), (8, 7)]);
}

#[test]
fn table_without_overlap_has_no_shadowed_routes() {
    assert!(table().shadowed().is_empty());
}

#[test]
fn scope_set_parses_space_separated_tokens() {
    let s = ScopeSet::parse("  a  b:c   d ");
    assert_eq!(s.len(), 3);
    assert_eq!(s.iter().collect::<Vec<_>>(), ["a", "b:c", "d"]);
    assert!(s.contains("b:c"));
    assert!(!s.contains("b"));
    assert!(!s.contains(""));
    assert_eq!(s.to_string(), "a b:c d");
    assert!(ScopeSet::parse("   ").is_empty());
    let v = ScopeSet::from_vec(vec!["x".into(), "y".into()]);
    assert_eq!(v.to_string(), "x y");
}
