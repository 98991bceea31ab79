use proptest::prelude::*;

use super::{check, UnsafePath};

/// `(path, expected)`: every rule of docs/reference.md#path-safety, each with its raw, encoded and
/// mixed-case forms, plus near misses that must stay accepted.
const CASES: &[(&str, Result<(), UnsafePath>)] = &[
    // Accepted: normal forms.
    ("/", Ok(())),
    ("/orders", Ok(())),
    ("/orders/", Ok(())),
    ("/orders/42/items", Ok(())),
    ("/a.b/c..d/...", Ok(())),
    ("/.well-known/openid-configuration", Ok(())),
    ("/..a/a..", Ok(())),
    ("/a%2eb", Ok(())),
    ("/%2e%2e%2e", Ok(())),
    ("/users/al%69ce", Ok(())),
    ("/caf%C3%A9/caf\u{e9}", Ok(())),
    ("/%F0%9F%A6%80", Ok(())),
    ("/admin;jsessionid=1", Ok(())),
    ("/a;x=1;y=2/b", Ok(())),
    ("/a%20b", Ok(())),
    ("/a%3fb%23c", Ok(())),
    ("/\u{ff10}", Ok(())),
    // Not absolute.
    ("", Err(UnsafePath::NotAbsolute)),
    ("orders", Err(UnsafePath::NotAbsolute)),
    ("*", Err(UnsafePath::NotAbsolute)),
    ("http://x/a", Err(UnsafePath::NotAbsolute)),
    // Dot segments, raw and encoded in any case mix.
    ("/.", Err(UnsafePath::DotSegment)),
    ("/..", Err(UnsafePath::DotSegment)),
    ("/a/./b", Err(UnsafePath::DotSegment)),
    ("/a/../b", Err(UnsafePath::DotSegment)),
    ("/a/..", Err(UnsafePath::DotSegment)),
    ("/a/../", Err(UnsafePath::DotSegment)),
    ("/%2e", Err(UnsafePath::DotSegment)),
    ("/%2E%2E/x", Err(UnsafePath::DotSegment)),
    ("/a/.%2e/b", Err(UnsafePath::DotSegment)),
    ("/a/%2e./b", Err(UnsafePath::DotSegment)),
    ("/a/%2E%2e", Err(UnsafePath::DotSegment)),
    // Dot segments once `;` parameters are cut off.
    ("/..;/x", Err(UnsafePath::DotSegmentWithParams)),
    ("/.;x/", Err(UnsafePath::DotSegmentWithParams)),
    (
        "/a/%2e%2e;jsessionid=1/b",
        Err(UnsafePath::DotSegmentWithParams),
    ),
    // Empty segments; only one trailing `/` is allowed.
    ("//", Err(UnsafePath::EmptySegment)),
    ("//a", Err(UnsafePath::EmptySegment)),
    ("/a//b", Err(UnsafePath::EmptySegment)),
    ("/a//", Err(UnsafePath::EmptySegment)),
    ("/;x/admin", Err(UnsafePath::EmptySegment)),
    ("/a/;", Err(UnsafePath::EmptySegment)),
    // Encoded separators, any case.
    ("/a%2fb", Err(UnsafePath::EncodedSlash)),
    ("/a%2Fb", Err(UnsafePath::EncodedSlash)),
    ("/a%5cb", Err(UnsafePath::EncodedBackslash)),
    ("/a%5C..", Err(UnsafePath::EncodedBackslash)),
    ("/a\\b", Err(UnsafePath::Backslash)),
    ("/..\\x", Err(UnsafePath::Backslash)),
    // NUL and other controls, raw and encoded.
    ("/a\0b", Err(UnsafePath::Nul)),
    ("/a%00", Err(UnsafePath::Nul)),
    ("/a%0d%0aSet-Cookie:x", Err(UnsafePath::ControlCharacter)),
    ("/a\tb", Err(UnsafePath::ControlCharacter)),
    ("/a%7f", Err(UnsafePath::ControlCharacter)),
    ("/a%C2%85", Err(UnsafePath::ControlCharacter)),
    ("/a\u{85}", Err(UnsafePath::ControlCharacter)),
    // Double-encoding and ambiguous `;`.
    ("/%252e%252e/x", Err(UnsafePath::EncodedPercent)),
    ("/a%25", Err(UnsafePath::EncodedPercent)),
    ("/admin%3bx", Err(UnsafePath::EncodedSemicolon)),
    ("/..%3B/x", Err(UnsafePath::EncodedSemicolon)),
    // `%u` and malformed escapes.
    ("/%u002e%u002e/x", Err(UnsafePath::PercentU)),
    ("/a%U2215b", Err(UnsafePath::PercentU)),
    ("/a%", Err(UnsafePath::MalformedEscape)),
    ("/a%2", Err(UnsafePath::MalformedEscape)),
    ("/a%g1", Err(UnsafePath::MalformedEscape)),
    ("/a%1g", Err(UnsafePath::MalformedEscape)),
    ("/a%%32%65", Err(UnsafePath::MalformedEscape)),
    // Escapes that are not UTF-8: overlong, surrogates, stray or cut-off bytes.
    ("/%c0%ae%c0%ae/x", Err(UnsafePath::InvalidUtf8)),
    ("/%e0%80%ae", Err(UnsafePath::InvalidUtf8)),
    ("/%f0%80%80%ae", Err(UnsafePath::InvalidUtf8)),
    ("/%c1%9c", Err(UnsafePath::InvalidUtf8)),
    ("/%ed%a0%80", Err(UnsafePath::InvalidUtf8)),
    ("/%80", Err(UnsafePath::InvalidUtf8)),
    ("/%ae", Err(UnsafePath::InvalidUtf8)),
    ("/%c3", Err(UnsafePath::InvalidUtf8)),
    ("/%c3/a", Err(UnsafePath::InvalidUtf8)),
    ("/%c3;a", Err(UnsafePath::InvalidUtf8)),
    ("/%e2%82", Err(UnsafePath::InvalidUtf8)),
    ("/%c3\u{e9}", Err(UnsafePath::InvalidUtf8)),
    ("/%ff", Err(UnsafePath::InvalidUtf8)),
    ("/%f4%90%80%80", Err(UnsafePath::InvalidUtf8)),
    // Full-width and other look-alikes, raw and encoded.
    ("/\u{ff0e}\u{ff0e}/x", Err(UnsafePath::LookAlike)),
    ("/a\u{ff0f}b", Err(UnsafePath::LookAlike)),
    ("/a\u{ff3c}b", Err(UnsafePath::LookAlike)),
    ("/%ef%bc%8e%ef%bc%8e/x", Err(UnsafePath::LookAlike)),
    ("/a%EF%BC%8Fb", Err(UnsafePath::LookAlike)),
    ("/a%ef%bc%bcb", Err(UnsafePath::LookAlike)),
    ("/\u{2025}/x", Err(UnsafePath::LookAlike)),
    ("/%ef%b9%92", Err(UnsafePath::LookAlike)),
    // Fragment.
    ("/a#b", Err(UnsafePath::Fragment)),
];

#[test]
fn every_path_rule_accepts_or_refuses_with_its_reason() {
    assert!(CASES.len() >= 40);
    let mut failures = Vec::new();
    for (path, expected) in CASES {
        let got = check(path);
        if got != *expected {
            failures.push(format!("{path:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn query_is_split_off_by_the_caller_so_dots_in_it_are_not_path_segments() {
    // The caller hands over `uri.path()`; the query never reaches `check`.
    let uri: http::Uri = "/a?b=../..&c=%2f".parse().unwrap();
    assert_eq!(uri.path(), "/a");
    assert_eq!(check(uri.path()), Ok(()));
    // Passing path and query by mistake would be refused, not silently accepted.
    assert_eq!(check("/a?b=../.."), Err(UnsafePath::DotSegment));
}

#[test]
fn every_refusal_has_a_lowercase_message_without_trailing_period() {
    for (_, expected) in CASES {
        if let Err(e) = expected {
            let text = e.to_string();
            assert!(text.starts_with(|c: char| c.is_lowercase()), "{text}");
            assert!(!text.ends_with('.'), "{text}");
        }
    }
}

/// Independent, allocating reference: decode each `;`-cut segment with the
/// `percent-encoding` crate.
fn decoded_segments(path: &str) -> Vec<Vec<u8>> {
    path[1..]
        .split('/')
        .map(|seg| {
            let key = seg.split(';').next().unwrap_or("");
            percent_encoding::percent_decode_str(key).collect()
        })
        .collect()
}

fn path_piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "/",
        "/",
        "a",
        "b",
        ".",
        "..",
        ";",
        ";x",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%5C",
        "%00",
        "%25",
        "%",
        "%2",
        "%u002e",
        "\\",
        "%c0%ae",
        "%e0%80%ae",
        "%ae",
        "%c3%a9",
        "\u{ff0e}",
        "%ef%bc%8e",
        "%ef%bc%8f",
        "\u{e9}",
        "%41",
        "%3b",
        "#",
        "\t",
        "%0a",
        "~",
        "-",
    ])
}

proptest! {
    /// Invariant (docs/reference.md#path-safety): an accepted path has no segment that is `.` or `..`
    /// after percent-decoding and cutting `;` parameters, no empty segment but a
    /// trailing one, decodes to UTF-8, and has no decoded `/`, `\` or NUL.
    #[test]
    fn accepted_paths_have_no_dot_segments_or_decoded_separators(
        pieces in prop::collection::vec(path_piece(), 0..12)
    ) {
        let path = format!("/{}", pieces.concat());
        if check(&path).is_ok() {
            let segments = decoded_segments(&path);
            let last = segments.len() - 1;
            for (i, seg) in segments.iter().enumerate() {
                prop_assert!(seg.as_slice() != b"." && seg.as_slice() != b"..", "{path}");
                prop_assert!(!seg.is_empty() || i == last, "{path}");
            }
            let whole: Vec<u8> = percent_encoding::percent_decode_str(&path).collect();
            prop_assert!(std::str::from_utf8(&whole).is_ok(), "{path}");
            let between_slashes = &whole[1..];
            prop_assert_eq!(
                between_slashes.iter().filter(|&&b| b == b'/').count(),
                path[1..].matches('/').count(),
                "decoded '/' in {}", path
            );
            prop_assert!(!whole.contains(&b'\\') && !whole.contains(&0), "{path}");
        }
    }

    /// Arbitrary text never panics.
    #[test]
    fn check_never_panics_on_arbitrary_text(path in "\\PC*") {
        let _ = check(&path);
    }
}
