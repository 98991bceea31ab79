//! Response field filtering, `filter::FieldRules::filter` (docs/reference.md#field-filtering).
//!
//! Input: byte 0 chooses which scopes the token holds (one bit each), the rest is the
//! response body. The rules are fixed (below) and cover nested keys, arrays (`[]`),
//! a top-level array, a rule under a removed field, the same path under two scopes
//! and a non-ASCII key.
//!
//! Invariants (any violation panics):
//! 1. `filter` never panics, on any bytes and any scopes.
//! 2. It succeeds exactly when the body is one valid JSON document: UTF-8 and
//!    serde_json's grammar. Nesting depth is not a limit (the filter recurses only as
//!    deep as its rules and copies what lies below them without recursion), so a body
//!    that serde_json's recursive parsers refuse only for depth is filtered too. A body
//!    that is not JSON never passes through, and a JSON one is never refused, with one
//!    exception that fails closed: a number beyond f64 (`1e400`) standing where a rule
//!    path expects an object or array. Elsewhere such a number is copied as written.
//! 3. When it succeeds, the output is valid JSON.
//! 4. With every scope granted, the output is the body itself, byte for byte, without
//!    the whitespace around the document.
//! 5. With any scopes, the output is, as a document (duplicate members kept, in order),
//!    the body with exactly the members removed that a reference walk removes: a
//!    member whose path (keys decoded, `[]` for array elements) is a rule path with a
//!    denied scope (for a path given twice: either scope denied). So no denied field
//!    survives, not through a duplicate key, an escaped key (`"s\u0065cret"`) or an
//!    array.
//! 6. Without duplicate keys, `filter` and `filter_value` produce the same document.
//! 7. `FieldRules::compile` never panics on an arbitrary path, and filtering with a
//!    rule it accepted never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oracle::Json;
use scopegate::internals::filter::FieldRules;
use serde::de::IgnoredAny;

const SCOPES: &[&str] = &["admin", "pii", "billing", "users", "deep", "ops"];

const RULES: &[(&str, &str)] = &[
    ("secret", "admin"),
    ("user", "users"),
    ("user.contact", "pii"),
    ("user.contact.phone", "billing"),
    ("items[].price", "billing"),
    ("items[].meta.internal", "admin"),
    ("[].ssn", "pii"),
    ("[].tags[].x", "deep"),
    ("a.b.c", "deep"),
    ("k", "pii"),
    ("k", "ops"),
    ("m[].n[].o", "ops"),
    ("ключ", "pii"),
];

#[derive(Clone, PartialEq)]
enum Step {
    Key(String),
    Each,
}

fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let key = part.trim_end_matches("[]");
        if !key.is_empty() {
            out.push(Step::Key(key.to_owned()));
        }
        for _ in 0..(part.len() - key.len()) / 2 {
            out.push(Step::Each);
        }
    }
    out
}

/// Removes every member whose path is a rule path with a denied scope.
fn reference(doc: &Json, at: &mut Vec<Step>, removed: &[Vec<Step>]) -> Json {
    match doc {
        Json::Leaf(v) => Json::Leaf(v.clone()),
        Json::Array(items) => {
            at.push(Step::Each);
            let items = items.iter().map(|i| reference(i, at, removed)).collect();
            at.pop();
            Json::Array(items)
        }
        Json::Object(members) => {
            let mut kept = Vec::new();
            for (k, v) in members {
                at.push(Step::Key(k.clone()));
                if !removed.contains(at) {
                    kept.push((k.clone(), reference(v, at, removed)));
                }
                at.pop();
            }
            Json::Object(kept)
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mask, body)) = data.split_first() else {
        return;
    };
    let granted = |scope: &str| {
        SCOPES
            .iter()
            .position(|s| *s == scope)
            .is_some_and(|i| mask & (1 << i) != 0)
    };
    let rules = FieldRules::compile(
        RULES
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect(),
    )
    .expect("fixed rules compile");

    let out = rules.filter(body, &granted);
    // Validity without serde_json's recursion limit: UTF-8, then its iterative skipper.
    let valid = |b: &[u8]| {
        std::str::from_utf8(b).is_ok() && serde_json::from_slice::<IgnoredAny>(b).is_ok()
    };
    let tree = Json::parse(body);
    let value = serde_json::from_slice::<serde_json::Value>(body);
    assert_eq!(
        tree.is_ok(),
        value.is_ok(),
        "oracle disagrees with serde_json"
    );
    match (&out, valid(body)) {
        (Err(_), false) | (Ok(_), true) => {}
        (Ok(_), false) => panic!("filter accepted a body that is not JSON"),
        // The one exception: a number beyond f64 (`1e400`) where a rule path expects an
        // object or array is read as a number there, and serde_json refuses it.
        (Err(e), true) => {
            let why = std::error::Error::source(e).map(ToString::to_string);
            assert!(
                why.as_deref()
                    .is_some_and(|w| w.starts_with("number out of range")),
                "filter refused valid JSON ({e}: {why:?})"
            );
            assert!(tree.is_err(), "refused a body serde_json parses");
        }
    }
    if tree.is_ok() {
        assert!(valid(body), "the validity oracle refused a parsed document");
    }

    if let Ok(out) = out {
        assert!(valid(&out), "filter output is not valid JSON");
        let all = rules
            .filter(body, &|_| true)
            .expect("same body, all scopes");
        assert_eq!(
            all,
            body.trim_ascii(),
            "all scopes granted: output is not the body"
        );

        // Deeper than serde_json's parsers go: invariants 2 to 4 only.
        let Ok(tree) = tree else { return };
        let filtered = Json::parse(&out).expect("output of a parsable body parses");
        let removed: Vec<Vec<Step>> = RULES
            .iter()
            .filter(|(_, s)| !granted(s))
            .map(|(p, _)| steps(p))
            .collect();
        let expected = reference(&tree, &mut Vec::new(), &removed);
        // As documents: kept values are copied as the upstream wrote them (spacing,
        // escapes, number spelling), and float_roundtrip reads the same text the same.
        assert_eq!(
            filtered, expected,
            "filtered output differs from the reference (mask {mask:#04x})"
        );

        if !tree.has_duplicate_keys() {
            let mut value = value.expect("valid JSON");
            rules.filter_value(&mut value, &granted);
            let out_value: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(out_value, value, "filter_value");
        }
    }

    // Arbitrary rule paths: the body's first line, as text.
    let line = body.split(|&b| b == b'\n').next().unwrap_or(b"");
    if line.len() <= 64 {
        let path = String::from_utf8_lossy(line).into_owned();
        if let Ok(rules) = FieldRules::compile(vec![(path, "x".into())]) {
            let _ = rules.filter(body, &|_| false);
            let _ = rules.removes_any(&|_| false);
        }
    }
});
