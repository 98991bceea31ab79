//! `ScopeSet`: RFC 6749 §3.3 scope lists (space-separated, case-sensitive).
//!
//! A plain list with linear search: tokens and routes carry a handful of scopes, so
//! a scan beats hashing and keeps the set cheap to clone into each cached answer.

use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    scopes: Vec<Box<str>>,
}

impl ScopeSet {
    /// No scopes (a `static` for answers without `scope`).
    pub const fn empty() -> Self {
        Self { scopes: Vec::new() }
    }

    /// Parses a space-separated `scope` string; runs of spaces are tolerated.
    pub fn parse(text: &str) -> Self {
        Self {
            scopes: text
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(Box::from)
                .collect(),
        }
    }

    pub fn from_vec(scopes: Vec<String>) -> Self {
        Self {
            scopes: scopes.into_iter().map(String::into_boxed_str).collect(),
        }
    }

    /// Exact, case-sensitive membership (RFC 6749 §3.3).
    pub fn contains(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| &**s == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.scopes.iter().map(|s| &**s)
    }
}

/// Space-separated, as in a `scope` attribute.
impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.scopes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}
