//! `RoutePattern`: literal segments, `{name}` (one non-empty segment, compared after
//! percent-decoding) and a trailing `**` (zero or more segments).

use std::borrow::Cow;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("a route path must start with '/'")]
    NoLeadingSlash,
}

impl RoutePattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if !text.starts_with('/') {
            return Err(PatternError::NoLeadingSlash);
        }
        Ok(Self {
            text: text.to_owned(),
        })
    }

    /// The pattern as written in the config (the `route` metric label).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Names of the `{name}` parameters, in order.
    pub fn param_names(&self) -> Vec<&str> {
        Vec::new()
    }

    pub fn matches(&self, path: &str) -> bool {
        // Stub: exact match or `/prefix/**`.
        match self.text.strip_suffix("**") {
            Some(prefix) => path.starts_with(prefix) || path == prefix.trim_end_matches('/'),
            None => path == self.text,
        }
    }

    /// The percent-decoded value of parameter `name` in `path` (which this pattern matches).
    pub fn param<'p>(&self, _path: &'p str, _name: &str) -> Option<Cow<'p, str>> {
        None
    }
}
