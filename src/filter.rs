//! Field filtering (docs/reference.md#field-filtering): remove response JSON fields the token has no scope for.
//!
//! `[route.fields]` maps field paths to scopes (docs/reference.md#configuration, "Field paths"). At config load
//! [`FieldRules::compile`] checks each path and merges them into one tree
//! (`filter/tree.rs`), so filtering is a single walk of the document whatever the
//! number of rules.
//!
//! Per response the proxy asks [`FieldRules::removes_any`] first: when the token holds
//! every listed scope the body streams through untouched. Otherwise it buffers the body
//! and calls [`FieldRules::filter`], which walks it in one pass (`filter/stream.rs`),
//! leaving the denied fields out and copying everything else as the upstream wrote it. Only denied rules apply; a
//! path that does not reach anything in a given document (missing key, string where an
//! object was expected, …) removes nothing and is not an error. A body that is not valid JSON
//! is an error, never passed through: unfiltered data must not reach the client.
//!
//! Keys containing `.`, `[` or `]` cannot be named by a path; there is no escape syntax.

mod stream;
mod tree;

#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod tests;

use tree::{Denied, Node, ScopeId};

/// Compiled `[route.fields]`: field path → scope needed to see it.
#[derive(Debug, Clone, Default)]
pub struct FieldRules {
    root: Node,
    /// Distinct scopes in config order; `ScopeId` indexes this.
    scopes: Vec<Box<str>>,
}

/// Why a `[route.fields]` key is not a usable field path. Shown to operators after the
/// path, as in `route[2].fields."a..b": <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldPathError {
    #[error(
        r#"empty field path; expected a key such as "contact" or a path such as "items[].price""#
    )]
    Empty,
    #[error(r#"empty key; expected keys separated by single dots, as in "user.contact", with no leading or trailing dot"#)]
    EmptyKey,
    #[error(r#"`[]` must directly follow a key ("items[].price") or start the path ("[].price")"#)]
    MisplacedArray,
    #[error(r#"unexpected `[` or `]`; the only bracket form is `[]` right after a key, as in "items[].price""#)]
    UnexpectedBracket,
    #[error(r#"path ends in `[]`; expected a key after it, as in "items[].price" (to remove the whole array, name it: "items")"#)]
    EndsInArray,
}

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("response body is not valid JSON")]
    InvalidJson(#[source] serde_json::Error),
    #[error("response body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("response is content-encoded ({0}); cannot filter")]
    Encoded(String),
    #[error("reading the response body failed")]
    Read(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A 2xx answer in another representation (content negotiation: HTML, XML, CSV).
    #[error("successful response is not JSON; cannot filter")]
    NotJson,
    /// A part of a document is no document: it cannot be filtered as one.
    #[error("partial content (206); cannot filter")]
    Partial,
}

// === impl FieldRules ===

impl FieldRules {
    /// Compiles `(path, scope)` pairs in file order. The same path listed twice (only
    /// possible outside TOML) is removed unless the token has both scopes.
    pub fn compile(entries: Vec<(String, String)>) -> Result<Self, FieldPathError> {
        let mut rules = Self::default();
        for (path, scope) in &entries {
            let steps = tree::parse(path)?;
            let id = rules.scope_id(scope);
            rules.root.insert(&steps, id);
        }
        rules.root.seal();
        Ok(rules)
    }

    /// True when some listed field would be removed for a token with these scopes
    /// (when false, the response can stream through untouched).
    pub fn removes_any(&self, has_scope: &dyn Fn(&str) -> bool) -> bool {
        self.scopes.iter().any(|scope| !has_scope(scope))
    }

    /// Removes every listed field whose scope `has_scope` denies. Objects the rules reach
    /// into are rewritten compactly; every other value is copied byte for byte.
    pub fn filter(
        &self,
        body: &[u8],
        has_scope: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<u8>, FilterError> {
        let denied = self.denied(has_scope);
        // Removals only shrink the body; re-escaping rarely grows it.
        let mut out = Vec::with_capacity(body.len());
        stream::transcode(&self.root, &denied, body, &mut out).map_err(FilterError::InvalidJson)?;
        Ok(out)
    }

    /// [`filter`](Self::filter) for a document already parsed: removes the denied
    /// fields in place, keeping the order of the rest.
    pub fn filter_value(&self, value: &mut serde_json::Value, has_scope: &dyn Fn(&str) -> bool) {
        let denied = self.denied(has_scope);
        if let Some(root) = tree::live(Some(&self.root), &denied) {
            prune(value, root, &denied);
        }
    }

    /// The distinct scopes named by the rules, in config order.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(|s| &**s)
    }

    fn scope_id(&mut self, scope: &str) -> ScopeId {
        match self.scopes.iter().position(|s| &**s == scope) {
            Some(id) => id,
            None => {
                self.scopes.push(scope.into());
                self.scopes.len() - 1
            }
        }
    }

    /// Asks `has_scope` once per distinct scope, not once per rule or per match.
    fn denied(&self, has_scope: &dyn Fn(&str) -> bool) -> Denied {
        Denied(self.scopes.iter().map(|s| !has_scope(s)).collect())
    }
}

/// The `Value` walk; mirrors `stream::Emit`. `shift_remove` keeps the remaining order.
fn prune(value: &mut serde_json::Value, node: &Node, denied: &Denied) {
    match value {
        serde_json::Value::Object(map) => {
            for field in &node.fields {
                if field.is_removed(denied) {
                    map.shift_remove(&*field.key);
                } else if let Some(next) = tree::live(Some(&field.next), denied) {
                    if let Some(child) = map.get_mut(&*field.key) {
                        prune(child, next, denied);
                    }
                }
            }
        }
        serde_json::Value::Array(items) => {
            if let Some(each) = tree::live(node.each.as_deref(), denied) {
                for item in items {
                    prune(item, each, denied);
                }
            }
        }
        // A scalar where the path expects an object or array: nothing to remove.
        _ => {}
    }
}

/// `application/json` or any `type/subtype+json` (docs/reference.md#field-filtering), case-insensitive,
/// parameters allowed. `text/json` and `application/x-json` are not JSON here: the
/// reference names only these two forms.
pub(crate) fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
    };
    if !is_token(kind) || !is_token(subtype) {
        return false;
    }
    if kind.eq_ignore_ascii_case("application") && subtype.eq_ignore_ascii_case("json") {
        return true;
    }
    // `+json` needs a non-empty name before it: `application/+json` is not a media type.
    let n = subtype.len();
    n > "+json".len()
        && subtype
            .get(n - "+json".len()..)
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case("+json"))
}
