//! Route patterns compiled from the input, and route matching (docs/reference.md#configuration "Route
//! matching"): `RoutePattern::{parse,matches,param,param_names}`,
//! `RouteTable::{match_request,shadowed}`.
//!
//! Input: UTF-8 text, one item a line. The first line is the request,
//! `[METHOD ]path` (GET when no method is given); each further line (at most
//! `MAX_ROUTES`) is a route, `[METHOD,METHOD… ]pattern` (any method when none is given),
//! in file order. A line whose methods are not valid method names is skipped.
//!
//! Reference, written from docs/reference.md#configuration and sharing no code with `src/`:
//! - a pattern is `/` then `/`-separated parts; a part is a literal, `{name}` with
//!   `name` = `[A-Za-z_][A-Za-z0-9_]*` (unique in the pattern), or `**` as the whole
//!   last part; an empty part only last (a trailing `/`, or the root `/`); no `?`,
//!   `#`, `%`, whitespace or control character anywhere; no `*`, `{`, `}` or `;` in a
//!   literal, and no `.` or `..` literal;
//! - a request segment's key is the segment with its `;` parameters cut off, then
//!   percent-decoded; a literal equals the key byte for byte, `{name}` takes any
//!   non-empty key, `**` takes zero or more segments (a trailing empty one included),
//!   a trailing `/` takes exactly one empty last segment, otherwise the segment counts
//!   are equal;
//! - the table's answer is the first route, in file order, whose methods allow the
//!   request's method and whose pattern matches.
//!
//! Invariants (any violation panics):
//! 1. `RoutePattern::parse` never panics and accepts exactly the patterns the reference
//!    grammar accepts; `as_str` is the text, `param_names` the `{name}`s in order.
//! 2. On a request path `path::check` refuses, nothing panics (such requests never
//!    reach matching: 400).
//! 3. On a path it accepts: `matches` agrees with the reference for every pattern;
//!    `param` is the decoded key at that parameter's position when the pattern
//!    matches, `None` otherwise; a one-route table matches exactly when the method is
//!    allowed and the pattern matches; `match_request` on the whole table returns the
//!    reference's first route.
//! 4. The same, with 24 more literal segments `s` put in front of every pattern and of
//!    the path: above the 24-segment split buffer, the unsplit matcher gives the same
//!    answers (route and parameters).
//! 5. `shadowed` is sound: when it says route `later` is shadowed by `earlier`, a
//!    request that `later` would take is also taken by `earlier`.

#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use scopegate::internals::policy::{Route, RoutePattern, RouteTable, ScopeSet};

const MAX_ROUTES: usize = 16;
/// Above `RequestPath`'s 24-segment buffer, whatever the path's own length.
const PREFIX_SEGMENTS: usize = 24;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let Some((method, path)) = lines.next().and_then(request_line) else {
        return;
    };
    let routes: Vec<(Option<Vec<Method>>, &str)> =
        lines.take(MAX_ROUTES).filter_map(route_line).collect();

    let mut compiled = Vec::new();
    for (methods, pattern) in &routes {
        if let Some(c) = compile(methods, pattern) {
            compiled.push(c);
        }
    }
    check_table(&compiled, &method, path, "");

    // Invariant 4: the same table and request, above the split buffer.
    let prefix = "/s".repeat(PREFIX_SEGMENTS);
    let long: Vec<Compiled> = compiled
        .iter()
        .map(|c| {
            let text = format!("{prefix}{}", c.text);
            compile(&c.methods, &text).expect("a prefixed valid pattern is valid")
        })
        .collect();
    if path.starts_with('/') {
        check_table(&long, &method, &format!("{prefix}{path}"), "prefixed ");
    }
});

fn request_line(line: &str) -> Option<(Method, &str)> {
    match line.split_once(' ') {
        Some((m, path)) => Some((Method::from_bytes(m.as_bytes()).ok()?, path)),
        None => Some((Method::GET, line)),
    }
}

fn route_line(line: &str) -> Option<(Option<Vec<Method>>, &str)> {
    match line.split_once(' ') {
        Some((ms, pattern)) => {
            let methods = ms
                .split(',')
                .map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect::<Option<Vec<Method>>>()?;
            Some((Some(methods), pattern))
        }
        None => Some((None, line)),
    }
}

/// A route as both sides compiled it.
struct Compiled {
    text: String,
    methods: Option<Vec<Method>>,
    pattern: RoutePattern,
    reference: RefPattern,
}

/// Invariant 1; `Some` when the pattern is valid.
fn compile(methods: &Option<Vec<Method>>, text: &str) -> Option<Compiled> {
    let parsed = RoutePattern::parse(text);
    let reference = ref_parse(text);
    match (parsed, reference) {
        (Ok(pattern), Ok(reference)) => {
            assert_eq!(pattern.as_str(), text, "as_str of {text:?}");
            let names: Vec<&str> = reference
                .parts
                .iter()
                .filter_map(|p| match p {
                    Part::Param(n) => Some(n.as_str()),
                    Part::Literal(_) => None,
                })
                .collect();
            assert_eq!(pattern.param_names(), names, "param_names of {text:?}");
            Some(Compiled {
                text: text.to_owned(),
                methods: methods.clone(),
                pattern,
                reference,
            })
        }
        (Err(_), Err(_)) => None,
        (Ok(_), Err(why)) => panic!("RoutePattern::parse accepted {text:?}, which {why}"),
        (Err(e), Ok(_)) => panic!("RoutePattern::parse refused {text:?} ({e:?}), a valid pattern"),
    }
}

#[derive(Debug)]
enum Part {
    Literal(String),
    Param(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tail {
    End,
    Slash,
    Rest,
}

#[derive(Debug)]
struct RefPattern {
    parts: Vec<Part>,
    tail: Tail,
}

fn ref_parse(text: &str) -> Result<RefPattern, &'static str> {
    let Some(body) = text.strip_prefix('/') else {
        return Err("does not start with '/'");
    };
    if text
        .chars()
        .any(|c| c == '?' || c == '#' || c == '%' || c.is_whitespace() || c.is_control())
    {
        return Err("has '?', '#', '%', whitespace or a control character");
    }
    let raw: Vec<&str> = body.split('/').collect();
    let mut tail = Tail::End;
    let mut parts = Vec::new();
    for (i, part) in raw.iter().enumerate() {
        let last = i + 1 == raw.len();
        if *part == "**" || part.is_empty() {
            if !last {
                return Err("has '**' or an empty segment before the end");
            }
            tail = if part.is_empty() {
                Tail::Slash
            } else {
                Tail::Rest
            };
            continue;
        }
        let braced = part.len() >= 2 && part.starts_with('{') && part.ends_with('}');
        if braced {
            let name = &part[1..part.len() - 1];
            let mut chars = name.chars();
            let head_ok = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            if !head_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err("has an invalid parameter name");
            }
            if parts
                .iter()
                .any(|p| matches!(p, Part::Param(n) if n == name))
            {
                return Err("names a parameter twice");
            }
            parts.push(Part::Param(name.to_owned()));
        } else if part.contains(['*', '{', '}', ';']) || *part == "." || *part == ".." {
            return Err("has a literal with '*', '{', '}' or ';', or a dot segment");
        } else {
            parts.push(Part::Literal((*part).to_owned()));
        }
    }
    Ok(RefPattern { parts, tail })
}

/// One request segment: its key (decoded) and whether it is empty as sent.
struct Seg {
    key: Vec<u8>,
    empty: bool,
}

fn ref_segments(path: &str) -> Vec<Seg> {
    path[1..]
        .split('/')
        .map(|raw| {
            let cut = raw.split(';').next().unwrap_or("");
            Seg {
                key: oracle::percent_decode(cut.as_bytes()).expect("accepted path decodes"),
                empty: raw.is_empty(),
            }
        })
        .collect()
}

/// `Some(params)` (name, decoded value, in order) when `p` matches.
fn ref_match(p: &RefPattern, segs: &[Seg]) -> Option<Vec<(String, String)>> {
    let fixed = p.parts.len();
    let count_ok = match p.tail {
        Tail::End => segs.len() == fixed,
        Tail::Slash => segs.len() == fixed + 1 && segs[fixed].empty,
        Tail::Rest => segs.len() >= fixed,
    };
    if !count_ok {
        return None;
    }
    let mut params = Vec::new();
    for (part, seg) in p.parts.iter().zip(segs) {
        match part {
            Part::Literal(lit) if lit.as_bytes() == seg.key.as_slice() => {}
            Part::Param(name) if !seg.key.is_empty() => {
                let value = String::from_utf8(seg.key.clone()).expect("accepted path is UTF-8");
                params.push((name.clone(), value));
            }
            _ => return None,
        }
    }
    Some(params)
}

fn allows(methods: &Option<Vec<Method>>, method: &Method) -> bool {
    methods
        .as_ref()
        .is_none_or(|ms| ms.iter().any(|m| m.as_str() == method.as_str()))
}

fn route(c: &Compiled) -> Route {
    Route::new(
        c.pattern.clone(),
        c.methods.clone(),
        false,
        ScopeSet::default(),
        ScopeSet::default(),
        None,
        None,
    )
}

fn check_table(compiled: &[Compiled], method: &Method, path: &str, what: &str) {
    let table = RouteTable::new(compiled.iter().map(route).collect());
    if scopegate::internals::path::check(path).is_err() {
        // Invariant 2: never reached in the proxy, but must not panic.
        let _ = table.match_request(method, path);
        for c in compiled {
            let _ = c.pattern.matches(path);
            for name in c.pattern.param_names() {
                let _ = c.pattern.param(path, name);
            }
        }
        return;
    }

    let segs = ref_segments(path);
    let mut expected_first = None;
    let mut taken = Vec::with_capacity(compiled.len());
    for (i, c) in compiled.iter().enumerate() {
        let expected = ref_match(&c.reference, &segs);
        let text = &c.text;
        assert_eq!(
            c.pattern.matches(path),
            expected.is_some(),
            "{what}RoutePattern({text:?}).matches({path:?})"
        );
        match &expected {
            Some(params) => {
                for (name, value) in params {
                    assert_eq!(
                        c.pattern.param(path, name).as_deref(),
                        Some(value.as_str()),
                        "{what}param {name} of {text:?} on {path:?}"
                    );
                }
            }
            None => {
                for name in c.pattern.param_names() {
                    assert_eq!(
                        c.pattern.param(path, name),
                        None,
                        "{what}param {name} of non-matching {text:?} on {path:?}"
                    );
                }
            }
        }
        let takes = expected.is_some() && allows(&c.methods, method);
        let alone = RouteTable::new(vec![route(c)]);
        assert_eq!(
            alone.match_request(method, path).is_some(),
            takes,
            "{what}one-route table {:?} {text:?} on {method} {path:?}",
            c.methods
        );
        if takes && expected_first.is_none() {
            expected_first = Some(i);
        }
        taken.push(takes);
    }
    assert_eq!(
        table.match_request(method, path).map(Route::index),
        expected_first,
        "{what}first route for {method} {path:?}"
    );
    for (later, earlier) in table.shadowed() {
        assert!(
            earlier < later,
            "{what}shadowed pair ({later}, {earlier}) out of order"
        );
        assert!(
            !taken[later] || taken[earlier],
            "{what}route {later} {:?} is said to be shadowed by {earlier} {:?}, \
             but {method} {path:?} matches only the later one",
            compiled[later].text,
            compiled[earlier].text
        );
    }
}
