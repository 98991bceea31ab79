//! `ConfigError`: every problem names the file, the line and column where known, the
//! key path and what was expected (docs/reference.md#command-line), one line per problem:
//!
//! ```text
//! config/scopegate.toml:27:10: route[3].scopes: expected at least one scope, or public = true
//! ```
//!
//! Never a secret: messages are built from key names and checked values (a
//! `client_secret` key is an unknown key, reported without its value), and a TOML
//! syntax error's snippet is left out when its line mentions a secret.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_path_to_error::Segment;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read config file", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Parse or validation problems, in file order where known; at least one.
    #[error("{}", render(.0))]
    Invalid(Vec<Problem>),
}

/// One thing wrong with the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub location: Option<Location>,
    /// `route[3].scopes`; empty for the file as a whole (a TOML syntax error).
    pub key: String,
    /// What was expected.
    pub message: String,
    /// A TOML syntax error's source line with a caret under the column.
    pub snippet: Option<String>,
}

/// 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// The config text being checked, which turns byte offsets into [`Problem`]s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) path: &'a Path,
    pub(crate) text: &'a str,
}

// === impl ConfigError ===

impl ConfigError {
    /// The problems (empty for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(problems) => problems,
        }
    }
}

fn render(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

// === impl Problem ===

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(Location { line, column }) = self.location {
            write!(f, ":{line}:{column}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(snippet) = &self.snippet {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

// === impl Source ===

impl<'a> Source<'a> {
    pub(crate) fn new(path: &'a Path, text: &'a str) -> Self {
        Self { path, text }
    }

    /// A problem at byte offset `at` (None: no position known).
    pub(crate) fn problem(
        &self,
        at: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            file: self.path.to_path_buf(),
            location: at.map(|offset| self.locate(offset)),
            key: key.into(),
            message: message.into(),
            snippet: None,
        }
    }

    /// Byte offset → line and column. Offsets inside a character round down.
    pub(crate) fn locate(&self, offset: usize) -> Location {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &self.text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// A TOML syntax error: toml's message, prefixed with the position, and the line
    /// with a caret (left out if the line could hold a secret).
    pub(crate) fn syntax(&self, error: &toml::de::Error) -> Problem {
        let start = error.span().map(|s| s.start);
        let mut problem = self.problem(start, "", error.message().trim_end().replace('\n', "; "));
        if let Some(Location { line, column }) = problem.location {
            let text = self.text.lines().nth(line - 1).unwrap_or("");
            if !text.to_ascii_lowercase().contains("secret") {
                let gutter = " ".repeat(line.to_string().len());
                let caret = " ".repeat(column - 1);
                problem.snippet = Some(format!("{gutter} |\n{line} | {text}\n{gutter} | {caret}^"));
            }
        }
        problem
    }

    /// A serde error from deserializing [`super::raw::File`]: the key path from
    /// serde_path_to_error, the position from toml, serde's wording made plainer.
    pub(crate) fn deserialize(
        &self,
        error: &serde_path_to_error::Error<toml::de::Error>,
    ) -> Problem {
        let inner = error.inner();
        let span: Option<Range<usize>> = inner.span();
        let message = plain_message(inner.message());
        self.problem(
            span.map(|s| s.start),
            key_path(error.path().iter()),
            message,
        )
    }
}

/// `route[3].fields."items[].price"`, leaving out serde_spanned's private wrapper keys.
fn key_path<'p>(segments: impl Iterator<Item = &'p Segment>) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if key.starts_with("$__serde_spanned") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => push_key(&mut out, key),
            Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    out
}

/// Appends `.key`, quoted as TOML would need it when it is not a bare key.
pub(crate) fn push_key(out: &mut String, key: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        out.push_str(key);
    } else {
        out.push_str(&format!("{key:?}"));
    }
}

/// serde's `unknown field `x`, expected one of `a`, `b`` and friends, in our words.
/// The unknown key itself is already the last segment of the key path.
fn plain_message(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        return match rest.split_once(", expected ") {
            Some((_, expected)) => format!("unknown key; expected one of {}", list(expected)),
            None => "unknown key; this table takes no keys".to_owned(),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if let Some((value, expected)) = rest.split_once("`, expected ") {
            return format!(
                "unknown value {value:?}; expected one of {}",
                list(expected)
            );
        }
    }
    if let Some(field) = message.strip_prefix("missing field `") {
        return format!("missing key {}", field.trim_end_matches('`'));
    }
    message.to_owned()
}

/// "one of `a`, `b`" or "`a` or `b`" → "a, b".
fn list(expected: &str) -> String {
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let names: Vec<&str> = expected
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|name| name.trim_matches('`'))
        .collect();
    names.join(", ")
}
