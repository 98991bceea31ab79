//! `Needs`: which members of an answer a cached copy keeps, and the interning tables
//! that make the copy compact (docs/reference.md#cache-entry-size).
//!
//! The proxy keeps what its configuration can read ([`Needs::new`], built with the
//! serving state), compactly: typed fields for `active`/`scope`/`exp`/`nbf`, interned
//! member names and repeated strings, a header rendering only where a value can be one.
//! A reload whose needs keep other members starts with empty in-process caches
//! ([`Needs::same_members`]): an answer cached before would lack what it reads. Tests,
//! benches and tools keep every member ([`Needs::all`]).
//!
//! Always kept, whatever the config: `active`, `scope`, `exp`, `nbf` (as typed fields),
//! the subject (`sub`, else `username`), `iss` and `aud` (so that changing
//! `expected_issuer`/`expected_audience` needs no new answers), and `client_id` (the log
//! line). From the config: every `[identity]` header's claim (`username`,
//! `[identity.claims]`) and every route's `owner` claim.
//!
//! Strings that many answers repeat (scopes, client ids, issuers, tenants) are interned
//! in a bounded table, so 100,000 answers with one `scope` share one copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::HeaderValue;

use super::info::{Kept, Members, Scope};

/// Distinct values an interning table holds; past that, values are kept per answer
/// (memory stays bounded under any mix of answers).
const INTERN_MAX: usize = 1024;
/// Longer values are not interned (unlikely to repeat, and the table stays small).
const INTERN_MAX_LEN: usize = 256;

/// Members beyond the always-kept ones, from the config.
#[derive(Debug)]
pub struct Needs {
    /// `None`: every member is kept (answers built outside a configured pipeline, e.g.
    /// `TokenInfo::from_claims` in tests and benches).
    members: Option<Vec<Member>>,
    /// Member names under [`Needs::all`], so 100,000 answers share one `client_id`.
    names: Interner<Arc<str>>,
    texts: Interner<Text>,
    scopes: Interner<Arc<Scope>>,
    /// Whole member lists of scalars, keyed by [`members_key`].
    lists: Interner<Members>,
}

/// One member to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    name: Arc<str>,
    /// It feeds an identity header: rendered once, when the answer is parsed.
    header: bool,
}

/// A kept string: its header value when representable (the bytes are the UTF-8 text
/// verbatim), else the text alone. Clones share the storage.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Header(HeaderValue),
    /// CR, LF, NUL or another control character: never a header.
    Plain(Arc<str>),
}

/// A bounded interning table (only used where answers are parsed, never per request).
#[derive(Debug)]
struct Interner<T> {
    table: Mutex<HashMap<Box<str>, T>>,
}

// === impl Needs ===

impl Needs {
    /// Keep every member (tests, benches, tools).
    pub fn all() -> Self {
        Self {
            members: None,
            names: Interner::default(),
            texts: Interner::default(),
            scopes: Interner::default(),
            lists: Interner::default(),
        }
    }

    /// [`Needs::all`], one for the process, so answers share their repeated strings.
    /// Only parsing (a cache miss) takes its locks, never a cache hit.
    pub fn every_member() -> &'static Needs {
        static ALL: std::sync::LazyLock<Needs> = std::sync::LazyLock::new(Needs::all);
        &ALL
    }

    /// `headers`: claims that feed identity headers; `reads`: claims read as values
    /// (owner binding). Names the always-kept fields cover are ignored.
    pub fn new<'a>(
        headers: impl IntoIterator<Item = &'a str>,
        reads: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut members: Vec<Member> = Vec::new();
        let mut add = |name: &str, header: bool| {
            // `scope` is the interned scope (its header too); `sub` feeds the subject,
            // `active`/`exp`/`nbf` are typed fields. A header on `sub` is a member.
            if matches!(name, "scope" | "active" | "exp" | "nbf") || (name == "sub" && !header) {
                return;
            }
            match members.iter_mut().find(|m| &*m.name == name) {
                Some(m) => m.header |= header,
                None => members.push(Member {
                    name: Arc::from(name),
                    header,
                }),
            }
        };
        for name in ["iss", "aud"] {
            add(name, false);
        }
        add("client_id", true);
        for name in headers {
            add(name, true);
        }
        for name in reads {
            add(name, false);
        }
        // Sorted: the same needs compare equal whatever the config's order.
        members.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            members: Some(members),
            names: Interner::default(),
            texts: Interner::default(),
            scopes: Interner::default(),
            lists: Interner::default(),
        }
    }

    /// Whether two configs keep the same members: if not, answers cached under one
    /// lack what the other reads (docs/reference.md#reload clears the caches then).
    pub fn same_members(&self, other: &Needs) -> bool {
        self.members == other.members
    }

    /// Whether an answer's member `name` is kept (`active`, `scope`, `exp`, `nbf` and
    /// the subject always are, as typed fields).
    pub fn keeps(&self, name: &str) -> bool {
        matches!(name, "active" | "scope" | "exp" | "nbf" | "sub") || self.member(name).is_some()
    }

    /// Whether member `name` is kept, and whether it feeds a header; `None`: dropped.
    pub(super) fn member(&self, name: &str) -> Option<(Arc<str>, bool)> {
        match &self.members {
            None => Some((self.names.get(name, || Arc::from(name)), true)),
            Some(members) => members
                .iter()
                .find(|m| &*m.name == name)
                .map(|m| (m.name.clone(), m.header)),
        }
    }

    /// `text` as a [`Text`], shared with earlier answers when it repeats.
    pub(super) fn text(&self, text: &str, intern: bool) -> Text {
        let make = || match HeaderValue::try_from(text) {
            Ok(hv) => Text::Header(hv),
            Err(_) => Text::Plain(Arc::from(text)),
        };
        if intern {
            self.texts.get(text, make)
        } else {
            make()
        }
    }

    pub(super) fn scope(&self, text: &str, make: impl FnOnce() -> Arc<Scope>) -> Arc<Scope> {
        self.scopes.get(text, make)
    }

    /// An answer's kept members, shared with earlier answers whose kept members are the
    /// same scalars (`shareable`: none of them is a per-user string).
    pub(super) fn members(&self, members: Vec<(Arc<str>, Kept)>, shareable: bool) -> Members {
        match shareable.then(|| members_key(&members)).flatten() {
            Some(key) => self.lists.get(&key, || Members::from(members)),
            None => Members::from(members),
        }
    }
}

/// A text that two member lists share exactly when they are equal: each member's name,
/// kind and value, length-prefixed. `None` for arrays and objects (rarely repeated).
fn members_key(members: &[(Arc<str>, Kept)]) -> Option<String> {
    use std::borrow::Cow;
    use std::fmt::Write;
    let mut key = String::new();
    for (name, kept) in members {
        let (kind, value) = match kept {
            Kept::Null => ('z', Cow::Borrowed("")),
            Kept::Bool(b) => ('b', Cow::Borrowed(if *b { "true" } else { "false" })),
            Kept::Number(n) => ('n', Cow::Owned(n.to_string())),
            Kept::Str(t) => ('s', Cow::Borrowed(t.as_str())),
            // A header's rendering follows from its value: key the value.
            Kept::Rendered(r) => match &r.0 {
                serde_json::Value::Bool(b) => {
                    ('B', Cow::Borrowed(if *b { "true" } else { "false" }))
                }
                serde_json::Value::Number(n) => ('N', Cow::Owned(n.to_string())),
                _ => return None,
            },
            Kept::Json(_) => return None,
        };
        // Infallible: writing to a String.
        let _ = write!(key, "{}:{name}{kind}{}:{value}", name.len(), value.len());
    }
    Some(key)
}

// === impl Text ===

impl Text {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Made from a `&str`, so always UTF-8; "" cannot happen.
            Text::Header(hv) => std::str::from_utf8(hv.as_bytes()).unwrap_or_default(),
            Text::Plain(s) => s,
        }
    }

    pub(crate) fn header(&self) -> Option<&HeaderValue> {
        match self {
            Text::Header(hv) => Some(hv),
            Text::Plain(_) => None,
        }
    }
}

// === impl Interner ===

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Interner<T> {
    fn get(&self, key: &str, make: impl FnOnce() -> T) -> T {
        if key.len() > INTERN_MAX_LEN {
            return make();
        }
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = table.get(key) {
            return found.clone();
        }
        let made = make();
        if table.len() < INTERN_MAX {
            table.insert(Box::from(key), made.clone());
        }
        made
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_compare_by_members_not_order() {
        let a = Needs::new(["tenant", "acr"], ["org"]);
        let b = Needs::new(["acr", "tenant"], ["org", "sub"]);
        assert!(a.same_members(&b));
        assert!(!a.same_members(&Needs::new(["tenant"], ["org"])));
        assert!(!a.same_members(&Needs::all()));
    }

    #[test]
    fn interned_texts_share_storage_until_the_table_is_full() {
        let needs = Needs::new([], []);
        let a = needs.text("orders:read", true);
        let b = needs.text("orders:read", true);
        assert_eq!(
            a.header().unwrap().as_bytes().as_ptr(),
            b.header().unwrap().as_bytes().as_ptr()
        );
        for i in 0..INTERN_MAX {
            needs.text(&format!("v{i}"), true);
        }
        let late = needs.text("late", true);
        let again = needs.text("late", true);
        assert_ne!(
            late.header().unwrap().as_bytes().as_ptr(),
            again.header().unwrap().as_bytes().as_ptr(),
            "a full table interns nothing new"
        );
        assert_eq!(again.as_str(), "late");
    }
}
