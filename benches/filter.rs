//! Field filter (docs/reference.md#field-filtering) on realistic responses: a top-level array of orders, each
//! with a nested contact object (protected), line items with prices (protected) and an
//! internal note (protected). Sizes are 1 KiB, 10 KiB (the hot-path size) and 64 KiB.
//!
//! - `filter_denied`: `FieldRules::filter`, every protected scope missing (3 rules hit
//!   in every order, prices in every item);
//! - `filter_granted`: `FieldRules::filter`, every scope held (the whole document is one
//!   validated copy; the proxy skips this case via `removes_any`, listed for the scan's
//!   own cost);
//! - `value_filter_denied`: the `Value` route: `from_slice` + `filter_value` + `to_vec`;
//! - `baseline_value_roundtrip`: `from_slice::<Value>` + `to_vec`, no removals.
//!
//! Hardware: 2-core AMD EPYC VM (quiet), rustc 1.95.0, `cargo bench --bench filter`,
//! divan medians of 100 samples, 3 Dec 2026; the 5fc61f3 row is the filter before it
//! copied kept values as written (it re-serialized every value), run just before.
//!
//! | bench                          | 1 KiB   | 10 KiB  | 64 KiB  |
//! |--------------------------------|---------|---------|---------|
//! | filter_denied                  | 2.07 µs | 16.4 µs | 105 µs  |
//! | filter_denied, 5fc61f3         | 3.62 µs | 28.7 µs | 181 µs  |
//! | filter_granted                 | 1.14 µs | 8.53 µs | 58.0 µs |
//! | filter_granted, 5fc61f3        | 3.30 µs | 27.5 µs | 175 µs  |
//! | value_filter_denied            | 8.55 µs | 84.4 µs | 489 µs  |
//! | baseline_value_roundtrip       | 9.58 µs | 76.9 µs | 470 µs  |
//!
//! The denied case is ~5x the `Value` route: it allocates only the output buffer (and
//! keys with escapes) and copies every untouched value with one scan.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use divan::counter::BytesCount;
use divan::{black_box, Bencher};
use scopegate::internals::filter::FieldRules;
use serde_json::Value;

mod common;

const SIZES: &[usize] = &[1024, 10 * 1024, 64 * 1024];

fn main() {
    divan::main();
}

fn rules() -> FieldRules {
    FieldRules::compile(
        common::ORDERS_FIELDS
            .iter()
            .map(|(path, scope)| (path.to_string(), scope.to_string()))
            .collect(),
    )
    .unwrap()
}

fn document(size: usize) -> Vec<u8> {
    common::orders_document(size)
}

#[divan::bench(args = SIZES)]
fn filter_denied(bencher: Bencher, size: usize) {
    let (rules, body) = (rules(), document(size));
    bencher
        .counter(BytesCount::of_slice(&body))
        .bench(|| rules.filter(black_box(&body), &|_| false).unwrap());
}

#[divan::bench(args = SIZES)]
fn filter_granted(bencher: Bencher, size: usize) {
    let (rules, body) = (rules(), document(size));
    bencher
        .counter(BytesCount::of_slice(&body))
        .bench(|| rules.filter(black_box(&body), &|_| true).unwrap());
}

#[divan::bench(args = SIZES)]
fn value_filter_denied(bencher: Bencher, size: usize) {
    let (rules, body) = (rules(), document(size));
    bencher.counter(BytesCount::of_slice(&body)).bench(|| {
        let mut value: Value = serde_json::from_slice(black_box(&body)).unwrap();
        rules.filter_value(&mut value, &|_| false);
        serde_json::to_vec(&value).unwrap()
    });
}

#[divan::bench(args = SIZES)]
fn baseline_value_roundtrip(bencher: Bencher, size: usize) {
    let body = document(size);
    bencher.counter(BytesCount::of_slice(&body)).bench(|| {
        let value: Value = serde_json::from_slice(black_box(&body)).unwrap();
        serde_json::to_vec(&value).unwrap()
    });
}
