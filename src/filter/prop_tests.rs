//! Properties, over arbitrary documents and rule sets whose keys come from one small
//! alphabet (so paths often hit):
//! - no value remains at any denied path;
//! - the result equals a naive reference that applies each denied rule on its own;
//! - with every scope granted the document comes back equal to the input;
//! - `filter` (bytes) and `filter_value` agree.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::FieldRules;

const KEYS: &[&str] = &["a", "b", "contact", "price", "items", "é"];
const SCOPES: &[&str] = &["s0", "s1", "s2"];

#[derive(Debug, Clone)]
enum Seg {
    Key(&'static str),
    Each,
}

fn key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(KEYS)
}

fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z\"\\\\é]{0,4}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// A valid path: optional leading `[]`, then keys with optional `[]` suffixes, ending in a key.
fn path() -> impl Strategy<Value = Vec<Seg>> {
    (
        any::<bool>(),
        prop::collection::vec((key(), 0..3usize), 1..4),
    )
        .prop_map(|(root_array, parts)| {
            let mut segs = Vec::new();
            if root_array {
                segs.push(Seg::Each);
            }
            let last = parts.len() - 1;
            for (i, (k, arrays)) in parts.into_iter().enumerate() {
                segs.push(Seg::Key(k));
                if i < last {
                    segs.extend(std::iter::repeat_n(Seg::Each, arrays));
                }
            }
            segs
        })
}

fn render(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Each => out.push_str("[]"),
        }
    }
    out
}

fn rule_set() -> impl Strategy<Value = Vec<(Vec<Seg>, &'static str)>> {
    prop::collection::vec((path(), prop::sample::select(SCOPES)), 1..6)
}

/// Reference: remove what one path reaches, by the plain recursive definition.
fn remove_at(value: &mut Value, segs: &[Seg]) {
    match (segs, value) {
        ([Seg::Key(k)], Value::Object(map)) => {
            map.shift_remove(*k);
        }
        ([Seg::Key(k), rest @ ..], Value::Object(map)) => {
            if let Some(child) = map.get_mut(*k) {
                remove_at(child, rest);
            }
        }
        ([Seg::Each, rest @ ..], Value::Array(items)) => {
            items.iter_mut().for_each(|v| remove_at(v, rest))
        }
        _ => {}
    }
}

/// True when `segs` reaches an existing field.
fn present_at(value: &Value, segs: &[Seg]) -> bool {
    match (segs, value) {
        ([Seg::Key(k)], Value::Object(map)) => map.contains_key(*k),
        ([Seg::Key(k), rest @ ..], Value::Object(map)) => {
            map.get(*k).is_some_and(|v| present_at(v, rest))
        }
        ([Seg::Each, rest @ ..], Value::Array(items)) => items.iter().any(|v| present_at(v, rest)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn filter_never_leaves_a_denied_field(
        doc in document(),
        rules in rule_set(),
        granted in prop::collection::vec(any::<bool>(), SCOPES.len()),
    ) {
        let compiled = FieldRules::compile(
            rules.iter().map(|(segs, scope)| (render(segs), scope.to_string())).collect(),
        ).unwrap();
        let has = |s: &str| SCOPES.iter().position(|x| *x == s).is_some_and(|i| granted[i]);
        let body = serde_json::to_vec(&doc).unwrap();

        let out: Value = serde_json::from_slice(&compiled.filter(&body, &has).unwrap()).unwrap();

        let mut expected = doc.clone();
        for (segs, scope) in &rules {
            if !has(scope) {
                remove_at(&mut expected, segs);
            }
        }
        for (segs, scope) in &rules {
            if !has(scope) {
                prop_assert!(!present_at(&out, segs), "{} still present in {}", render(segs), out);
            }
        }
        prop_assert_eq!(&out, &expected);

        let mut in_place = doc.clone();
        compiled.filter_value(&mut in_place, &has);
        prop_assert_eq!(&in_place, &out);

        let all: Value = serde_json::from_slice(&compiled.filter(&body, &|_| true).unwrap()).unwrap();
        prop_assert_eq!(&all, &doc);
    }
}
