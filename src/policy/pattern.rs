//! `RoutePattern` (docs/reference.md#route-matching): literal segments, `{name}` (one
//! non-empty segment) and a trailing `**` (zero or more segments), parsed once at
//! config load and matched segment by segment without a regex or an allocation.
//!
//! **The comparison key of a request segment** is the segment with any `;` path
//! parameters cut off, then percent-decoded. Both halves are about agreeing with the
//! backend on which resource is meant:
//! - `;` cut: Tomcat-style servlet backends treat `/admin;x` as `/admin`, so we match
//!   it as `/admin` (an encoded `%3b` never gets here: [`crate::path::check`] refuses it).
//! - decoding: `/%61dmin` must match a route `/admin`, otherwise it would fall through
//!   to a looser `/**` route while the backend decodes it to `/admin`.
//!
//! Literals compare to the key byte for byte (case-sensitive). A trailing `/` is
//! significant: `/orders/` matches `/orders/` and `/orders/**` only.

use std::borrow::Cow;

use crate::path::hex;

#[cfg(test)]
mod tests;

/// A compiled route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    text: String,
    segments: Vec<Segment>,
    tail: Tail,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Compared byte-exactly with the request segment's key.
    Literal(Box<str>),
    /// `{name}`: any non-empty key.
    Param(Box<str>),
}

/// What may follow the fixed segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Nothing: `/orders`.
    End,
    /// Exactly one trailing `/`: `/orders/`, and the root `/`.
    Slash,
    /// `**`: zero or more segments, a trailing `/` included.
    Rest,
}

/// Why a route path was refused; shown as `route[3].path: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("expected a path starting with '/'")]
    NoLeadingSlash,
    #[error("{0:?} is not allowed in a route path; expected a path without query, fragment, percent-escapes or whitespace")]
    ForbiddenChar(char),
    #[error("empty segment ('//'); only a single trailing '/' is allowed")]
    EmptySegment,
    #[error("'*' is only allowed as '**' forming the whole last segment, as in '/orders/**'; use '{{name}}' for one segment")]
    MisplacedWildcard,
    #[error("'{{' and '}}' must wrap a whole segment, as in '/orders/{{id}}'")]
    PartialParam,
    #[error("invalid parameter name '{0}'; expected a name matching [A-Za-z_][A-Za-z0-9_]*")]
    InvalidParamName(String),
    #[error("parameter '{0}' appears twice; expected unique names")]
    DuplicateParam(String),
    #[error(
        "'.' and '..' segments never match (such requests are refused); expected a normal path"
    )]
    DotSegment,
    #[error(
        "';' starts path parameters, which are ignored when matching; expected a path without ';'"
    )]
    Semicolon,
}

// === impl RoutePattern ===

impl RoutePattern {
    /// Compiles a `[[route]] path`.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let body = text.strip_prefix('/').ok_or(PatternError::NoLeadingSlash)?;
        if let Some(c) = text
            .chars()
            .find(|&c| matches!(c, '?' | '#' | '%') || c.is_whitespace() || c.is_control())
        {
            return Err(PatternError::ForbiddenChar(c));
        }
        let mut segments = Vec::new();
        let mut tail = Tail::End;
        let mut parts = body.split('/').peekable();
        while let Some(part) = parts.next() {
            let last = parts.peek().is_none();
            if part.is_empty() {
                // `/` alone, or one trailing `/`.
                if last {
                    tail = Tail::Slash;
                    break;
                }
                return Err(PatternError::EmptySegment);
            }
            if part == "**" {
                if !last {
                    return Err(PatternError::MisplacedWildcard);
                }
                tail = Tail::Rest;
                break;
            }
            segments.push(parse_segment(part, &segments)?);
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
            tail,
        })
    }

    /// The pattern as written in the config (the `route` metric label).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Names of the `{name}` parameters, in order.
    pub fn param_names(&self) -> Vec<&str> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(name) => Some(&**name),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    /// Whether `path` (which has passed [`crate::path::check`]) matches.
    pub fn matches(&self, path: &str) -> bool {
        match path.strip_prefix('/') {
            Some(rest) => self.matches_keys(rest.split('/').map(Key::new)),
            None => false,
        }
    }

    /// [`Self::matches`] over a path split once for a whole table.
    pub(crate) fn matches_request(&self, request: &RequestPath<'_>) -> bool {
        let (n, len) = (self.segments.len(), request.len);
        // The segment count alone rules out most routes without touching a byte.
        let count_fits = match self.tail {
            Tail::End => len == n,
            Tail::Slash => len == n + 1,
            Tail::Rest => len >= n,
        };
        count_fits && self.matches_keys(request.keys().iter().copied())
    }

    /// The one matching rule, shared by both entry points.
    fn matches_keys<'p>(&self, mut request: impl Iterator<Item = Key<'p>>) -> bool {
        for segment in &self.segments {
            let Some(key) = request.next() else {
                return false;
            };
            let ok = match segment {
                Segment::Literal(lit) => key.equals(lit.as_bytes()),
                Segment::Param(_) => key.is_param(),
            };
            if !ok {
                return false;
            }
        }
        match self.tail {
            Tail::Rest => true,
            Tail::End => request.next().is_none(),
            Tail::Slash => {
                request.next().is_some_and(|k| k.raw.is_empty()) && request.next().is_none()
            }
        }
    }

    /// The percent-decoded value of parameter `name` (after cutting `;` parameters),
    /// or `None` when `path` does not match or the value is not UTF-8.
    pub fn param<'p>(&self, path: &'p str, name: &str) -> Option<Cow<'p, str>> {
        let index = self
            .segments
            .iter()
            .position(|s| matches!(s, Segment::Param(n) if &**n == name))?;
        if !self.matches(path) {
            return None;
        }
        self.param_at(path, index)
    }

    /// [`Self::param`] for a `path` the caller has just seen match (skips re-matching).
    pub(crate) fn param_of_match<'p>(&self, path: &'p str, name: &str) -> Option<Cow<'p, str>> {
        let index = self
            .segments
            .iter()
            .position(|s| matches!(s, Segment::Param(n) if &**n == name))?;
        self.param_at(path, index)
    }

    fn param_at<'p>(&self, path: &'p str, index: usize) -> Option<Cow<'p, str>> {
        let raw = path.strip_prefix('/')?.split('/').nth(index)?;
        decode(cut_params(raw))
    }

    /// Whether every request this pattern matches, `other` matches too (used to find
    /// shadowed routes; sound, not complete).
    pub(crate) fn covers(&self, other: &RoutePattern) -> bool {
        let (mine, theirs) = (self.segments.len(), other.segments.len());
        let prefix_covers = |n: usize| {
            self.segments[..n]
                .iter()
                .zip(&other.segments[..n])
                .all(|(a, b)| match (a, b) {
                    (Segment::Param(_), _) => true,
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    (Segment::Literal(_), Segment::Param(_)) => false,
                })
        };
        match (self.tail, other.tail) {
            (Tail::Rest, _) => mine <= theirs && prefix_covers(mine),
            (Tail::End, Tail::End) | (Tail::Slash, Tail::Slash) => {
                mine == theirs && prefix_covers(mine)
            }
            _ => false,
        }
    }
}

fn parse_segment(part: &str, earlier: &[Segment]) -> Result<Segment, PatternError> {
    if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        if !is_param_name(name) {
            return Err(PatternError::InvalidParamName(name.to_owned()));
        }
        if earlier
            .iter()
            .any(|s| matches!(s, Segment::Param(n) if &**n == name))
        {
            return Err(PatternError::DuplicateParam(name.to_owned()));
        }
        return Ok(Segment::Param(name.into()));
    }
    if part.contains(['{', '}']) {
        return Err(PatternError::PartialParam);
    }
    if part.contains('*') {
        return Err(PatternError::MisplacedWildcard);
    }
    if part == "." || part == ".." {
        return Err(PatternError::DotSegment);
    }
    if part.contains(';') {
        return Err(PatternError::Semicolon);
    }
    Ok(Segment::Literal(part.into()))
}

/// `[A-Za-z_][A-Za-z0-9_]*`
fn is_param_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Most request paths have fewer segments; longer ones take the unsplit path.
const MAX_SPLIT_SEGMENTS: usize = 24;

/// A request path split once into segment keys (on the stack), so a table of
/// patterns is tried without re-scanning the path for every route.
pub(crate) struct RequestPath<'p> {
    buf: [Key<'p>; MAX_SPLIT_SEGMENTS],
    len: usize,
}

impl<'p> RequestPath<'p> {
    /// `None` when `path` is not absolute or has too many segments to split here.
    pub(crate) fn split(path: &'p str) -> Option<Self> {
        let rest = path.strip_prefix('/')?;
        let mut buf = [Key::default(); MAX_SPLIT_SEGMENTS];
        let mut len = 0;
        for raw in rest.split('/') {
            *buf.get_mut(len)? = Key::new(raw);
            len += 1;
        }
        Some(Self { buf, len })
    }

    fn keys(&self) -> &[Key<'p>] {
        &self.buf[..self.len]
    }
}

/// One request segment: as sent, and its key (`;` parameters cut off, still encoded).
#[derive(Debug, Clone, Copy, Default)]
struct Key<'p> {
    raw: &'p str,
    key: &'p str,
    /// The key has a percent-escape, so comparisons decode.
    encoded: bool,
}

impl<'p> Key<'p> {
    fn new(raw: &'p str) -> Self {
        let key = cut_params(raw);
        Self {
            raw,
            key,
            encoded: key.contains('%'),
        }
    }

    /// Whether the decoded key is exactly `literal`; no allocation.
    fn equals(&self, literal: &[u8]) -> bool {
        if !self.encoded {
            return self.key.as_bytes() == literal;
        }
        let mut expected = literal.iter();
        for b in decoded_bytes(self.key) {
            if b.is_none() || b != expected.next().copied() {
                return false;
            }
        }
        expected.next().is_none()
    }

    /// `{name}` matches one non-empty, well-formed key.
    fn is_param(&self) -> bool {
        !self.key.is_empty() && (!self.encoded || decoded_bytes(self.key).all(|b| b.is_some()))
    }
}

/// The segment without its `;` parameters.
fn cut_params(raw: &str) -> &str {
    raw.split_once(';').map_or(raw, |(key, _)| key)
}

/// Decoded bytes of `key`, `None` at a malformed escape (never a match: deny).
fn decoded_bytes(key: &str) -> impl Iterator<Item = Option<u8>> + '_ {
    let bytes = key.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *bytes.get(i)?;
        if b != b'%' {
            i += 1;
            return Some(Some(b));
        }
        let decoded = bytes
            .get(i + 1)
            .copied()
            .and_then(hex)
            .zip(bytes.get(i + 2).copied().and_then(hex))
            .map(|(hi, lo)| hi << 4 | lo);
        i += 3;
        Some(decoded)
    })
}

/// Percent-decodes `key`, borrowing when it has no escape.
fn decode(key: &str) -> Option<Cow<'_, str>> {
    if !key.contains('%') {
        return Some(Cow::Borrowed(key));
    }
    let bytes = decoded_bytes(key).collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok().map(Cow::Owned)
}
