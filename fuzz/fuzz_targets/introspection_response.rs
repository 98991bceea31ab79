//! RFC 7662 §2.2 answer parsing, `introspect::client::parse_answer` (docs/reference.md#validation).
//!
//! Invariants (any violation panics):
//! 1. `parse_answer` never panics, on any bytes.
//! 2. An accepted answer is exactly one JSON document (serde_json parses it, nothing
//!    trails), that document is an object, and no object at any depth has the same
//!    (decoded) key twice, so `{"active":false,"\u0061ctive":true}` cannot be read
//!    two ways.
//! 3. In an accepted answer, `active` is a JSON boolean in the input and
//!    `is_active()` is that boolean; `scope` is absent, null or a string, and
//!    `scope()` is that string's space-separated set.
//! 4. `exp` as parsed is the input's integer, or the floor of its number (one that
//!    saturates to `i64::MAX` reads as no `exp`: never past either way).
//! 5. Every claim rendered as a header value (`header_value`, `subject_header`) is
//!    free of CR, LF and NUL (no header splitting from an AS answer).
//! 6. `TokenInfo::check` never panics, at any time, and refuses an inactive token.
//! And the converse of 2-4: a duplicate-free JSON object whose `active` is a boolean,
//! `scope` absent/null/string and `exp`/`nbf` absent/null/number is accepted.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oracle::Json;
use scopegate::internals::introspect::client::parse_answer;
use scopegate::internals::introspect::info::Expectations;
use scopegate::internals::policy::ScopeSet;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let answer = parse_answer(data);
    let tree = Json::parse(data);
    let value: Option<Value> = serde_json::from_slice(data).ok();
    let object = value.as_ref().and_then(Value::as_object);

    let acceptable = match (&tree, object) {
        (Ok(tree), Some(obj)) => {
            !tree.has_duplicate_keys()
                && matches!(obj.get("active"), Some(Value::Bool(_)))
                && matches!(
                    obj.get("scope"),
                    None | Some(Value::Null | Value::String(_))
                )
                && ["exp", "nbf"]
                    .iter()
                    .all(|k| matches!(obj.get(*k), None | Some(Value::Null | Value::Number(_))))
        }
        _ => false,
    };

    let Ok(info) = answer else {
        assert!(
            !acceptable,
            "well-formed answer refused: {:?}",
            String::from_utf8_lossy(data)
        );
        return;
    };
    let tree = tree.expect("accepted answer is JSON");
    assert!(
        !tree.has_duplicate_keys(),
        "accepted answer with a duplicate key"
    );
    let obj = object.expect("accepted answer is a JSON object");
    match obj.get("active") {
        Some(Value::Bool(b)) => assert_eq!(info.is_active(), *b),
        other => panic!("accepted answer with active = {other:?}"),
    }
    match obj.get("scope") {
        None | Some(Value::Null) => assert_eq!(info.scope(), &ScopeSet::default()),
        Some(Value::String(s)) => assert_eq!(info.scope(), &ScopeSet::parse(s)),
        Some(other) => panic!("accepted answer with scope = {other:?}"),
    }
    match obj.get("exp") {
        None | Some(Value::Null) => assert_eq!(info.exp(), None),
        Some(Value::Number(n)) => {
            // An `exp` that saturates to i64::MAX reads as none: never past either way.
            let expected = n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f.floor() as i64))
                .filter(|&e| e != i64::MAX);
            assert_eq!(info.exp(), expected, "exp = {n}");
        }
        Some(other) => panic!("accepted answer with exp = {other:?}"),
    }
    assert!(acceptable);

    let clean = |v: &http::HeaderValue| {
        assert!(
            !v.as_bytes().iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "header value with CR/LF/NUL: {v:?}"
        )
    };
    for name in obj.keys() {
        if let Some(v) = info.header_value(name) {
            clean(&v);
        }
    }
    if let Some(v) = info.subject_header() {
        clean(v);
    }

    let expect = Expectations {
        issuer: Some("https://as.example".into()),
        audience: Some("api".into()),
    };
    for now in [i64::MIN, -1, 0, 1_700_000_000, i64::MAX] {
        let verdict = info.check(now, &expect);
        let open = info.check(now, &Expectations::default());
        if !info.is_active() {
            assert!(
                verdict.is_err() && open.is_err(),
                "inactive token passed check"
            );
        }
    }
});
