use serde_json::{json, Value};

use super::*;

fn rules(pairs: &[(&str, &str)]) -> FieldRules {
    FieldRules::compile(
        pairs
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect(),
    )
    .unwrap()
}

/// Runs both entry points and checks they agree as documents (`filter` copies kept
/// values as written, `filter_value` re-serializes); returns the filtered text.
fn filter_with(pairs: &[(&str, &str)], granted: &[&str], body: &str) -> String {
    let rules = rules(pairs);
    let has = |s: &str| granted.contains(&s);
    let out = String::from_utf8(rules.filter(body.as_bytes(), &has).unwrap()).unwrap();
    let mut value: Value = serde_json::from_str(body).unwrap();
    rules.filter_value(&mut value, &has);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        value,
        "filter vs filter_value on {body}"
    );
    out
}

/// (name, rules, granted scopes, body, expected output)
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
    &'static str,
    &'static str,
);

#[test]
fn filter_removes_denied_fields_table() {
    let cases: &[Case] = &[
        (
            "top-level key",
            &[("contact", "c")],
            &[],
            r#"{"id":1,"contact":"x"}"#,
            r#"{"id":1}"#,
        ),
        (
            "allowed scope keeps field",
            &[("contact", "c")],
            &["c"],
            r#"{"id":1,"contact":"x"}"#,
            r#"{"id":1,"contact":"x"}"#,
        ),
        (
            "nested object",
            &[("user.contact.email", "c")],
            &[],
            r#"{"user":{"contact":{"email":"e","phone":"p"},"name":"n"}}"#,
            r#"{"user":{"contact":{"phone":"p"},"name":"n"}}"#,
        ),
        (
            "array of objects",
            &[("items[].price", "b")],
            &[],
            r#"{"items":[{"sku":"a","price":1},{"sku":"b","price":2},{"sku":"c"}]}"#,
            r#"{"items":[{"sku":"a"},{"sku":"b"},{"sku":"c"}]}"#,
        ),
        (
            "root array",
            &[("[].price", "b")],
            &[],
            r#"[{"price":1,"id":1},{"id":2,"price":2}]"#,
            r#"[{"id":1},{"id":2}]"#,
        ),
        (
            "[] at several depths",
            &[("[].items[].tax[].rate", "b")],
            &[],
            r#"[{"items":[{"tax":[{"rate":1,"k":"v"},{"rate":2}]},{"tax":[]}]}]"#,
            r#"[{"items":[{"tax":[{"k":"v"},{}]},{"tax":[]}]}]"#,
        ),
        (
            "array of arrays",
            &[("m[][].x", "b")],
            &[],
            r#"{"m":[[{"x":1,"y":2}],[{"x":3}],[]]}"#,
            r#"{"m":[[{"y":2}],[{}],[]]}"#,
        ),
        (
            "whole array removed",
            &[("items", "b")],
            &[],
            r#"{"items":[1,2],"a":0}"#,
            r#"{"a":0}"#,
        ),
        (
            "missing intermediate key",
            &[("user.contact", "c")],
            &[],
            r#"{"id":1}"#,
            r#"{"id":1}"#,
        ),
        (
            "missing leaf",
            &[("contact", "c")],
            &[],
            r#"{"id":1}"#,
            r#"{"id":1}"#,
        ),
        (
            "string where object expected",
            &[("user.contact", "c")],
            &[],
            r#"{"user":"alice"}"#,
            r#"{"user":"alice"}"#,
        ),
        (
            "null where object expected",
            &[("user.contact", "c")],
            &[],
            r#"{"user":null}"#,
            r#"{"user":null}"#,
        ),
        (
            "array where object expected",
            &[("user.contact", "c")],
            &[],
            r#"{"user":[{"contact":1}]}"#,
            r#"{"user":[{"contact":1}]}"#,
        ),
        (
            "object where array expected",
            &[("items[].price", "b")],
            &[],
            r#"{"items":{"price":1}}"#,
            r#"{"items":{"price":1}}"#,
        ),
        (
            "scalars inside [] array",
            &[("items[].price", "b")],
            &[],
            r#"{"items":[1,"two",null,{"price":3}]}"#,
            r#"{"items":[1,"two",null,{}]}"#,
        ),
        (
            "root object for [] path",
            &[("[].price", "b")],
            &[],
            r#"{"price":1}"#,
            r#"{"price":1}"#,
        ),
        (
            "root array for key path",
            &[("price", "b")],
            &[],
            r#"[{"price":1}]"#,
            r#"[{"price":1}]"#,
        ),
        (
            "scalar root",
            &[("contact", "c")],
            &[],
            r#""contact""#,
            r#""contact""#,
        ),
        ("number root", &[("contact", "c")], &[], "42", "42"),
        ("null root", &[("contact", "c")], &[], "null", "null"),
        ("empty array", &[("[].price", "b")], &[], "[]", "[]"),
        ("empty object", &[("contact", "c")], &[], "{}", "{}"),
        (
            "unicode keys",
            &[("użytkownik.kontakt", "c"), ("名前", "n")],
            &[],
            r#"{"użytkownik":{"kontakt":"k","wiek":3},"名前":"x","ok":"✓"}"#,
            r#"{"użytkownik":{"wiek":3},"ok":"✓"}"#,
        ),
        (
            "escaped key still matches",
            &[("contact", "c")],
            &[],
            r#"{"cont\u0061ct":"x","a":1}"#,
            r#"{"a":1}"#,
        ),
        (
            "order preserved",
            &[("m", "c")],
            &[],
            r#"{"z":1,"m":2,"a":3,"y":4,"b":5}"#,
            r#"{"z":1,"a":3,"y":4,"b":5}"#,
        ),
        (
            "first and last removed",
            &[("a", "c"), ("c", "c")],
            &[],
            r#"{"a":1,"b":2,"c":3}"#,
            r#"{"b":2}"#,
        ),
        (
            "only denied rules apply",
            &[("contact", "c"), ("likes", "l")],
            &["l"],
            r#"{"contact":1,"likes":2,"x":3}"#,
            r#"{"likes":2,"x":3}"#,
        ),
        (
            "parent and child rules",
            &[("user", "admin"), ("user.email", "c")],
            &["admin"],
            r#"{"user":{"email":"e","n":1}}"#,
            r#"{"user":{"n":1}}"#,
        ),
        (
            "parent denied wins",
            &[("user", "admin"), ("user.email", "c")],
            &["c"],
            r#"{"user":{"email":"e","n":1},"k":0}"#,
            r#"{"k":0}"#,
        ),
        (
            "shared prefixes merged",
            &[("a.b", "x"), ("a.c", "y"), ("a.d.e", "x")],
            &["y"],
            r#"{"a":{"b":1,"c":2,"d":{"e":3,"f":4}}}"#,
            r#"{"a":{"c":2,"d":{"f":4}}}"#,
        ),
        (
            "nothing denied: the document as written, without surrounding whitespace",
            &[("c", "c")],
            &["c"],
            "{ \"c\" : [ 1 , 2 ] }\n",
            r#"{ "c" : [ 1 , 2 ] }"#,
        ),
        (
            "walked objects are rewritten compactly, kept values copied as written",
            &[("x", "c")],
            &[],
            "{ \"a\" : [ 1 , 2 ] ,\n \"x\" : 0 }",
            r#"{"a":[ 1 , 2 ]}"#,
        ),
        (
            "numbers and escapes are kept as the upstream wrote them",
            &[("x", "c")],
            &[],
            r#"{"i":-7,"u":18446744073709551615,"f":1.50,"e":"\"\\\n\u00e9","x":0}"#,
            r#"{"i":-7,"u":18446744073709551615,"f":1.50,"e":"\"\\\n\u00e9"}"#,
        ),
        (
            "an integer beyond 64 bits keeps every digit",
            &[("x", "c")],
            &[],
            r#"{"n":123456789012345678901234567890,"x":0}"#,
            r#"{"n":123456789012345678901234567890}"#,
        ),
        (
            "an escaped key matches its decoded name; a kept one is written decoded",
            &[("x", "c")],
            &[],
            r#"{"\u0078":1,"\u0079":2}"#,
            r#"{"y":2}"#,
        ),
    ];
    for (name, pairs, granted, body, want) in cases {
        assert_eq!(filter_with(pairs, granted, body), *want, "case: {name}");
    }
}

#[test]
fn filter_duplicate_keys_cannot_smuggle_a_protected_field() {
    let rules = rules(&[("contact", "c"), ("user.contact", "c")]);
    let deny = |_: &str| false;
    for body in [
        r#"{"contact":"a","contact":"b"}"#,
        r#"{"user":{"contact":"a"},"user":{"contact":"b"}}"#,
        r#"{"user":{"contact":"a"},"user":"s"}"#,
    ] {
        let out: Value =
            serde_json::from_slice(&rules.filter(body.as_bytes(), &deny).unwrap()).unwrap();
        assert!(out.get("contact").is_none(), "{body} -> {out}");
        assert!(out.pointer("/user/contact").is_none(), "{body} -> {out}");
        let mut value: Value = serde_json::from_str(body).unwrap();
        rules.filter_value(&mut value, &deny);
        assert!(value.get("contact").is_none() && value.pointer("/user/contact").is_none());
    }
}

#[test]
fn filter_rejects_invalid_json_table() {
    let rules = rules(&[("contact", "c")]);
    for body in [
        "",
        "{",
        r#"{"contact":}"#,
        r#"{"a":1}{"b":2}"#,
        r#"{"a":1} x"#,
        "{'a':1}",
        r#"{"a":01}"#,
        r#"[1,]"#,
        "NaN",
    ] {
        for granted in [true, false] {
            let got = rules.filter(body.as_bytes(), &|_| granted);
            assert!(
                matches!(got, Err(FilterError::InvalidJson(_))),
                "{body:?}: {got:?}"
            );
        }
    }
    // Invalid UTF-8 inside a field that is about to be removed is still rejected.
    let got = rules.filter(b"{\"contact\":\"\xff\"}", &|_| false);
    assert!(matches!(got, Err(FilterError::InvalidJson(_))), "{got:?}");
}

/// The walk recurses only along rule paths; what lies below is copied by serde_json's
/// iterative skipper, so nesting depth is no limit and cannot exhaust the stack.
#[test]
fn filter_copies_deeply_nested_values_without_recursing() {
    let rules = rules(&[("a", "c")]);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let body = format!(r#"{{"a":{deep},"b":{deep}}}"#);
    let out = rules.filter(body.as_bytes(), &|_| false).unwrap();
    assert_eq!(out, format!(r#"{{"b":{deep}}}"#).into_bytes());
    let unbalanced = format!(r#"{{"b":{}}}"#, "[".repeat(100_000));
    assert!(matches!(
        rules.filter(unbalanced.as_bytes(), &|_| false),
        Err(FilterError::InvalidJson(_))
    ));
}

#[test]
fn filter_removes_any_only_when_a_scope_is_missing() {
    let rules = rules(&[
        ("contact", "profile:contact"),
        ("likes", "profile:likes"),
        ("x", "profile:contact"),
    ]);
    assert!(!rules.removes_any(&|_| true));
    assert!(rules.removes_any(&|_| false));
    assert!(rules.removes_any(&|s| s == "profile:contact"));
    assert!(!FieldRules::default().removes_any(&|_| false));
    assert_eq!(
        rules.scopes().collect::<Vec<_>>(),
        ["profile:contact", "profile:likes"]
    );
}

#[test]
fn filter_asks_has_scope_once_per_distinct_scope() {
    let rules = rules(&[("a", "s"), ("b", "s"), ("c[].d", "s"), ("e", "t")]);
    let calls = std::cell::Cell::new(0);
    let has = |_: &str| {
        calls.set(calls.get() + 1);
        false
    };
    rules
        .filter(br#"{"a":1,"b":2,"c":[{"d":1},{"d":2}],"e":3}"#, &has)
        .unwrap();
    assert_eq!(calls.get(), 2);
}

#[test]
fn filter_path_compile_table() {
    use FieldPathError::*;
    let cases: &[(&str, Result<(), FieldPathError>)] = &[
        ("contact", Ok(())),
        ("user.contact", Ok(())),
        ("items[].price", Ok(())),
        ("[].price", Ok(())),
        ("[].items[].price", Ok(())),
        ("m[][].x", Ok(())),
        ("[][].x", Ok(())),
        ("名前.kontakt", Ok(())),
        ("with space", Ok(())),
        ("", Err(Empty)),
        ("a..b", Err(EmptyKey)),
        ("a.", Err(EmptyKey)),
        (".a", Err(EmptyKey)),
        (".", Err(EmptyKey)),
        ("a.[].b", Err(MisplacedArray)),
        ("a.[]", Err(MisplacedArray)),
        ("[]", Err(EndsInArray)),
        ("items[]", Err(EndsInArray)),
        ("[].items[]", Err(EndsInArray)),
        ("a[0].b", Err(UnexpectedBracket)),
        ("a[", Err(UnexpectedBracket)),
        ("a]", Err(UnexpectedBracket)),
        ("a[]b", Err(UnexpectedBracket)),
        ("[]a", Err(UnexpectedBracket)),
        ("a[ ]", Err(UnexpectedBracket)),
        ("a[[]]", Err(UnexpectedBracket)),
    ];
    for (path, want) in cases {
        let got = FieldRules::compile(vec![(path.to_string(), "s".to_string())]).map(|_| ());
        assert_eq!(&got, want, "path {path:?}");
    }
    // One bad path fails the whole set.
    let mixed = vec![
        ("ok".to_string(), "s".to_string()),
        ("a..b".to_string(), "s".to_string()),
    ];
    assert_eq!(FieldRules::compile(mixed).map(|_| ()), Err(EmptyKey));
}

#[test]
fn filter_path_error_messages_are_lowercase_and_say_what_is_expected() {
    use FieldPathError::*;
    for err in [
        Empty,
        EmptyKey,
        MisplacedArray,
        UnexpectedBracket,
        EndsInArray,
    ] {
        let msg = err.to_string();
        assert!(msg.starts_with(|c: char| !c.is_uppercase()), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
        assert!(msg.contains("expected") || msg.contains("must"), "{msg}");
    }
    assert_eq!(
        EmptyKey.to_string(),
        r#"empty key; expected keys separated by single dots, as in "user.contact", with no leading or trailing dot"#
    );
}

#[test]
fn filter_is_json_content_type_table() {
    let cases = [
        ("application/json", true),
        ("APPLICATION/JSON", true),
        ("Application/Json; charset=utf-8", true),
        ("application/json;charset=UTF-8", true),
        ("  application/json  ", true),
        ("application/problem+json", true),
        ("application/vnd.api+json; ext=x", true),
        ("application/merge-patch+JSON", true),
        ("image/foo+json", true),
        ("application/jsonx", false),
        ("application/json-seq", false),
        ("application/x-json", false),
        ("text/json", false),
        ("text/plain", false),
        ("application/+json", false),
        ("/+json", false),
        ("+json", false),
        ("application/vnd+jsonx", false),
        ("application/ json", false),
        ("application", false),
        ("json", false),
        ("", false),
        ("application/json/x", false),
        ("application/vnd.a+json+xml", false),
    ];
    for (value, want) in cases {
        assert_eq!(is_json_content_type(value), want, "{value:?}");
    }
}

#[test]
fn filter_rules_are_send_sync_clone_debug() {
    fn check<T: std::fmt::Debug + Clone + Send + Sync + 'static>() {}
    check::<FieldRules>();
    let value = json!({"a": 1});
    let rules = rules(&[("a", "s")]).clone();
    let mut copy = value.clone();
    rules.filter_value(&mut copy, &|_| false);
    assert_eq!(copy, json!({}));
}
