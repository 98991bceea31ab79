//! `path::check` (docs/reference.md#path-safety) and route matching on the paths it accepts.
//!
//! Invariants (any violation panics):
//! 1. `path::check` never panics, on any UTF-8 string.
//! 2. An accepted path
//!    - starts with `/`;
//!    - has only well-formed escapes (`%` + two hex digits, no `%u`);
//!    - has no escape decoding to `/`, `\`, `%` or `;`, and no raw `\` or `#`;
//!    - percent-decodes to valid UTF-8 with no NUL, no C0/C1 control, no DEL and none of
//!      the NFKC look-alikes of `.`, `/`, `\` (U+2024 U+2025 U+FE30 U+FE52 U+FE68 U+FF0E
//!      U+FF0F U+FF3C);
//!    - has no segment that, once `;` parameters are cut and escapes decoded, is `.`,
//!      `..` or empty (only the last segment may be empty, and then with no `;`).
//!    And the converse: a path meeting all of the above is accepted (no spurious 400).
//! 3. On an accepted path, `RoutePattern::matches`, `RoutePattern::param` and
//!    `RouteTable::match_request` never panic and agree with a reference matcher
//!    (segment key = `;` params cut, then percent-decoded; literals compare
//!    byte-exactly; `{p}` = one non-empty key; trailing `/` and `**` per docs/reference.md#configuration),
//!    both below and above the 24-segment split buffer. `match_request` returns the
//!    first matching route in table order.

#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use oracle::percent_decode;
use scopegate::internals::policy::{Route, RoutePattern, RouteTable, ScopeSet};

const PATTERNS: &[&str] = &[
    "/",
    "/admin",
    "/admin/",
    "/admin/**",
    "/orders/{id}",
    "/orders/{id}/items/",
    "/users/{uid}/profile",
    "/caf\u{e9}/{x}/**",
    "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/{last}",
    "/**",
];

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    one(path);
    if !path.starts_with('/') {
        one(&format!("/{path}"));
    }
});

fn one(path: &str) {
    let accepted = scopegate::internals::path::check(path).is_ok();
    let why = reference_reject(path);
    match (accepted, why) {
        (true, Some(why)) => panic!("path::check accepted {path:?}, which {why}"),
        (false, None) => panic!(
            "path::check refused {path:?} ({:?}), which meets every rule",
            scopegate::internals::path::check(path)
        ),
        _ => {}
    }
    if accepted {
        check_matching(path);
    }
}

/// Why `path` is not in normal form, or `None` when it is.
fn reference_reject(path: &str) -> Option<&'static str> {
    let bytes = path.as_bytes();
    if !path.starts_with('/') {
        return Some("is not absolute");
    }
    if path.contains(['\\', '#']) {
        return Some("has a raw '\\' or '#'");
    }
    for (i, _) in path.match_indices('%') {
        let Some(b) = bytes
            .get(i + 1..i + 3)
            .and_then(|h| percent_decode(&[b"%", h].concat()))
        else {
            return Some("has a malformed escape");
        };
        if matches!(b[0], b'/' | b'\\' | b'%' | b';') {
            return Some("has an escape decoding to '/', '\\', '%' or ';'");
        }
    }
    let Some(decoded) = percent_decode(bytes) else {
        return Some("has a malformed escape");
    };
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return Some("does not decode to UTF-8");
    };
    if text.chars().any(|c| {
        c.is_control()
            || matches!(
                c,
                '\u{2024}'
                    | '\u{2025}'
                    | '\u{fe30}'
                    | '\u{fe52}'
                    | '\u{fe68}'
                    | '\u{ff0e}'
                    | '\u{ff0f}'
                    | '\u{ff3c}'
            )
    }) {
        return Some("has a control character or a look-alike");
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    for (i, raw) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if raw.is_empty() {
            if last {
                continue;
            }
            return Some("has an empty segment");
        }
        let Some(key) = percent_decode(cut_params(raw).as_bytes()) else {
            return Some("has a malformed escape");
        };
        if key.is_empty() {
            return Some("has a segment empty once ';' params are cut");
        }
        if key == b"." || key == b".." {
            return Some("has a dot segment");
        }
    }
    None
}

fn cut_params(raw: &str) -> &str {
    raw.split(';').next().unwrap_or("")
}

/// Decoded segment keys of an accepted path.
fn keys(path: &str) -> Vec<(String, bool)> {
    path[1..]
        .split('/')
        .map(|raw| {
            let key = percent_decode(cut_params(raw).as_bytes()).expect("accepted path decodes");
            (
                String::from_utf8(key).expect("accepted path is UTF-8"),
                raw.is_empty(),
            )
        })
        .collect()
}

/// docs/reference.md#configuration route matching, written out plainly.
fn reference_matches(pattern: &str, keys: &[(String, bool)]) -> bool {
    let mut parts: Vec<&str> = pattern[1..].split('/').collect();
    let rest = parts.last() == Some(&"**");
    let slash = !rest && parts.last() == Some(&"");
    if rest || slash {
        parts.pop();
    }
    let fixed = parts.len();
    let count_ok = if rest {
        keys.len() >= fixed
    } else if slash {
        keys.len() == fixed + 1 && keys[fixed].1
    } else {
        keys.len() == fixed
    };
    count_ok
        && parts.iter().zip(keys).all(|(part, (key, _))| {
            if part.starts_with('{') {
                !key.is_empty()
            } else {
                part == key
            }
        })
}

fn check_matching(path: &str) {
    let keys = keys(path);
    let mut first_match = None;
    for (i, text) in PATTERNS.iter().enumerate() {
        let pattern = RoutePattern::parse(text).expect("fixed pattern parses");
        let expected = reference_matches(text, &keys);
        assert_eq!(
            pattern.matches(path),
            expected,
            "RoutePattern({text:?}).matches({path:?})"
        );
        let table = RouteTable::new(vec![route(pattern.clone())]);
        assert_eq!(
            table.match_request(&Method::GET, path).is_some(),
            expected,
            "match_request with only {text:?} on {path:?}"
        );
        for name in pattern.param_names() {
            let value = pattern.param(path, name);
            if expected {
                let index = text[1..]
                    .split('/')
                    .position(|p| p == format!("{{{name}}}"))
                    .expect("param in pattern");
                assert_eq!(
                    value.as_deref(),
                    Some(keys[index].0.as_str()),
                    "param {name} of {text:?} on {path:?}"
                );
            } else {
                assert!(value.is_none(), "param of a non-matching pattern");
            }
        }
        if expected && first_match.is_none() {
            first_match = Some(i);
        }
    }
    let table = RouteTable::new(
        PATTERNS
            .iter()
            .map(|t| route(RoutePattern::parse(t).expect("fixed pattern parses")))
            .collect(),
    );
    assert_eq!(
        table.match_request(&Method::GET, path).map(Route::index),
        first_match,
        "first matching route for {path:?}"
    );
}

fn route(pattern: RoutePattern) -> Route {
    Route::new(
        pattern,
        None,
        false,
        ScopeSet::default(),
        ScopeSet::default(),
        None,
        None,
    )
}
