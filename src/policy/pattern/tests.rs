use std::borrow::Cow;

use super::{PatternError, RequestPath, RoutePattern};

fn pattern(text: &str) -> RoutePattern {
    RoutePattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `(pattern, request path, matches)`.
const MATCHES: &[(&str, &str, bool)] = &[
    // Literals.
    ("/orders", "/orders", true),
    ("/orders", "/orders/", false),
    ("/orders", "/order", false),
    ("/orders", "/ordersx", false),
    ("/orders", "/Orders", false),
    ("/orders", "/orders/1", false),
    ("/orders/", "/orders/", true),
    ("/orders/", "/orders", false),
    ("/", "/", true),
    ("/", "/a", false),
    // Literals compare after cutting `;` params and percent-decoding.
    ("/admin", "/%61dmin", true),
    ("/admin", "/%61%64%6D%69%6E", true),
    ("/admin", "/admin;jsessionid=1", true),
    ("/admin", "/%61dmin;x", true),
    ("/admin/users", "/admin;x/users", true),
    ("/a.b", "/a%2eb", true),
    ("/caf\u{e9}", "/caf%C3%A9", true),
    ("/caf\u{e9}", "/caf\u{e9}", true),
    ("/admin", "/admin%", false),
    // `{name}`: exactly one non-empty segment.
    ("/orders/{id}", "/orders/42", true),
    ("/orders/{id}", "/orders/a%20b", true),
    ("/orders/{id}", "/orders/42;v=1", true),
    ("/orders/{id}", "/orders/", false),
    ("/orders/{id}", "/orders", false),
    ("/orders/{id}", "/orders/42/", false),
    ("/orders/{id}", "/orders/42/items", false),
    ("/orders/{id}", "/orders/%zz", false),
    ("/users/{owner}/profile", "/users/alice/profile", true),
    ("/users/{owner}/profile", "/users//profile", false),
    ("/{a}/{b}", "/x/y", true),
    ("/{a}/{b}", "/x", false),
    // Trailing `**`: zero or more segments.
    ("/orders/**", "/orders", true),
    ("/orders/**", "/orders/", true),
    ("/orders/**", "/orders/1", true),
    ("/orders/**", "/orders/1/2/3", true),
    ("/orders/**", "/orders;x/1", true),
    ("/orders/**", "/ordersx", false),
    ("/orders/**", "/order", false),
    ("/orders/**", "/", false),
    ("/**", "/", true),
    ("/**", "/anything/at/all", true),
    ("/orders/{id}/**", "/orders/1", true),
    ("/orders/{id}/**", "/orders/1/items/2", true),
    ("/orders/{id}/**", "/orders", false),
    ("/orders/{id}/**", "/orders/", false),
    // Not a path at all.
    ("/**", "", false),
    ("/**", "*", false),
];

#[test]
fn patterns_match_request_paths_segment_by_segment() {
    assert!(MATCHES.len() >= 40);
    let mut failures = Vec::new();
    for &(text, path, expected) in MATCHES {
        let p = pattern(text);
        if p.matches(path) != expected {
            failures.push(format!("{text} vs {path:?}: expected {expected}"));
        }
        // The table's split-once entry point must agree with the plain one.
        let split = RequestPath::split(path).is_some_and(|r| p.matches_request(&r));
        if split != expected {
            failures.push(format!("{text} vs {path:?} (split): expected {expected}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn paths_too_long_to_split_are_still_matched() {
    let long = "/a".repeat(100);
    assert!(RequestPath::split(&long).is_none());
    assert!(pattern("/a/**").matches(&long));
    assert!(!pattern("/a/{x}").matches(&long));
    assert!(RequestPath::split(&"/a".repeat(24)).is_some());
}

#[test]
fn param_returns_the_decoded_value_without_semicolon_params() {
    let p = pattern("/users/{owner}/files/{file}");
    let path = "/users/al%69ce;v=1/files/a%20b.txt";
    assert_eq!(p.param(path, "owner").as_deref(), Some("alice"));
    assert_eq!(p.param(path, "file").as_deref(), Some("a b.txt"));
    assert_eq!(p.param(path, "nope"), None);
}

#[test]
fn param_borrows_when_there_is_nothing_to_decode() {
    let p = pattern("/users/{owner}");
    assert!(matches!(
        p.param("/users/alice", "owner"),
        Some(Cow::Borrowed("alice"))
    ));
    assert!(matches!(
        p.param("/users/alice;x", "owner"),
        Some(Cow::Borrowed("alice"))
    ));
}

#[test]
fn param_is_none_when_the_path_does_not_match_or_is_not_utf8() {
    let p = pattern("/users/{owner}");
    assert_eq!(p.param("/accounts/alice", "owner"), None);
    assert_eq!(p.param("/users/alice/x", "owner"), None);
    assert_eq!(p.param("/users/%ff", "owner"), None);
}

#[test]
fn param_names_are_listed_in_order() {
    assert_eq!(pattern("/a/{x}/b/{y_2}/**").param_names(), ["x", "y_2"]);
    assert!(pattern("/a/**").param_names().is_empty());
}

#[test]
fn as_str_is_the_text_as_written() {
    assert_eq!(pattern("/orders/{id}/").as_str(), "/orders/{id}/");
}

#[test]
fn invalid_patterns_are_refused_with_their_reason() {
    use PatternError as E;
    let cases: &[(&str, PatternError)] = &[
        ("", E::NoLeadingSlash),
        ("orders", E::NoLeadingSlash),
        ("**", E::NoLeadingSlash),
        ("/orders?x=1", E::ForbiddenChar('?')),
        ("/orders#x", E::ForbiddenChar('#')),
        ("/%61dmin", E::ForbiddenChar('%')),
        ("/a b", E::ForbiddenChar(' ')),
        ("/a\tb", E::ForbiddenChar('\t')),
        ("//", E::EmptySegment),
        ("/a//b", E::EmptySegment),
        ("/a//", E::EmptySegment),
        ("/**/a", E::MisplacedWildcard),
        ("/a/**/", E::MisplacedWildcard),
        ("/a**", E::MisplacedWildcard),
        ("/a/*", E::MisplacedWildcard),
        ("/a/***", E::MisplacedWildcard),
        ("/a/x{id}", E::PartialParam),
        ("/a/{id}x", E::PartialParam),
        ("/a/{id", E::PartialParam),
        ("/a/{}", E::InvalidParamName(String::new())),
        ("/a/{1d}", E::InvalidParamName("1d".into())),
        ("/a/{i-d}", E::InvalidParamName("i-d".into())),
        ("/a/{{id}}", E::InvalidParamName("{id}".into())),
        ("/{id}/x/{id}", E::DuplicateParam("id".into())),
        ("/a/../b", E::DotSegment),
        ("/.", E::DotSegment),
        ("/admin;x", E::Semicolon),
    ];
    for (text, expected) in cases {
        assert_eq!(RoutePattern::parse(text).as_ref(), Err(expected), "{text}");
    }
}

#[test]
fn pattern_errors_are_lowercase_and_say_what_is_expected() {
    let e = RoutePattern::parse("/a/{1d}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid parameter name '1d'; expected a name matching [A-Za-z_][A-Za-z0-9_]*"
    );
    let e = RoutePattern::parse("/a/*").unwrap_err();
    assert_eq!(
        e.to_string(),
        "'*' is only allowed as '**' forming the whole last segment, as in '/orders/**'; \
         use '{name}' for one segment"
    );
    assert_eq!(
        RoutePattern::parse("/a\tb").unwrap_err().to_string(),
        "'\\t' is not allowed in a route path; expected a path without query, fragment, \
         percent-escapes or whitespace"
    );
}

#[test]
fn valid_edge_patterns_parse() {
    for text in [
        "/",
        "/**",
        "/_",
        "/{_x1}",
        "/a/",
        "/a/{b}/",
        "/a-b.c~d/**",
        "/caf\u{e9}",
    ] {
        assert!(RoutePattern::parse(text).is_ok(), "{text}");
    }
}

/// `(earlier, later, earlier covers later)`.
const COVERS: &[(&str, &str, bool)] = &[
    ("/**", "/anything/{x}/**", true),
    ("/**", "/", true),
    ("/orders/**", "/orders", true),
    ("/orders/**", "/orders/", true),
    ("/orders/**", "/orders/{id}/items", true),
    ("/orders/**", "/orders/**", true),
    ("/orders/{id}", "/orders/42", true),
    ("/orders/{id}", "/orders/{other}", true),
    ("/orders/42", "/orders/{id}", false),
    ("/orders/{id}", "/orders/{id}/", false),
    ("/orders/{id}", "/orders/**", false),
    ("/orders/{id}/**", "/orders/**", false),
    ("/orders/{id}/**", "/orders", false),
    ("/orders", "/orders/", false),
    ("/orders/", "/orders/", true),
    ("/a/b", "/a/c", false),
];

#[test]
fn covers_detects_pattern_subsumption() {
    for &(earlier, later, expected) in COVERS {
        assert_eq!(
            pattern(earlier).covers(&pattern(later)),
            expected,
            "{earlier} ⊇ {later}"
        );
    }
}
