//! `TokenInfo`: one RFC 7662 §2.2 answer, parsed strictly where it matters.
//!
//! The answer is what is cached, never the decision: activity, `exp`, `nbf`, issuer
//! and audience are checked by [`TokenInfo::check`] on every request, hit or miss.

use std::borrow::Cow;

use http::HeaderValue;
use serde_json::{Map, Value};

use super::{ScopeSet, TokenProblem};

/// A parsed introspection answer.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    active: bool,
    scope: ScopeSet,
    exp: Option<i64>,
    nbf: Option<i64>,
    /// Every top-level member of the answer, for identity claims and owner binding.
    claims: Map<String, Value>,
    /// Header-ready renderings of the claims, made once per answer so the hot path
    /// only clones (a reference count) instead of validating text per request.
    headers: Vec<(Box<str>, HeaderValue)>,
    /// docs/reference.md#introspection-cache subject: `sub`, or `username` only when `sub` is absent; a non-string
    /// value as its JSON text. One rule for the header, owner binding and purge.
    subject: Option<Box<str>>,
    /// `subject` as a header value, when representable.
    subject_header: Option<HeaderValue>,
}

/// What the deployment expects of every token besides activity.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("answer is not a JSON object")]
    NotAnObject,
    #[error("answer is not valid JSON")]
    Json(#[source] serde_json::Error),
    #[error("`active` is missing or not a JSON boolean")]
    Active,
    #[error("`{0}` has the wrong type")]
    Field(&'static str),
}

// === impl TokenInfo ===

impl TokenInfo {
    /// Builds from an already strictly parsed JSON object (see `client::parse_strict`).
    pub fn from_claims(claims: Map<String, Value>) -> Result<Self, ParseError> {
        // RFC 7662 §2.2: `active` is REQUIRED and a boolean; anything else is unparseable.
        let active = match claims.get("active") {
            Some(Value::Bool(b)) => *b,
            _ => return Err(ParseError::Active),
        };
        let scope = match claims.get("scope") {
            None | Some(Value::Null) => ScopeSet::default(),
            Some(Value::String(s)) => ScopeSet::parse(s),
            Some(_) => return Err(ParseError::Field("scope")),
        };
        let exp = numeric_date(&claims, "exp")?;
        let nbf = numeric_date(&claims, "nbf")?;
        let mut headers = Vec::with_capacity(claims.len());
        for (name, value) in &claims {
            let Some(text) = render(value) else { continue };
            match HeaderValue::try_from(text.as_ref()) {
                Ok(hv) => headers.push((Box::from(name.as_str()), hv)),
                // CR, LF, NUL and other control bytes would split or corrupt a header:
                // such a claim is never injected. Its value is not logged.
                Err(_) => {
                    tracing::warn!(claim = %name, "claim not representable as a header value; it will not be injected")
                }
            }
        }
        let subject = subject_of(&claims);
        let subject_header = subject
            .as_deref()
            .and_then(|s| HeaderValue::try_from(s).ok());
        Ok(Self {
            active,
            scope,
            exp,
            nbf,
            claims,
            headers,
            subject,
            subject_header,
        })
    }

    /// An inactive answer (`{"active": false}`).
    pub fn inactive() -> Self {
        let mut claims = Map::new();
        claims.insert("active".into(), Value::Bool(false));
        Self {
            active: false,
            scope: ScopeSet::default(),
            exp: None,
            nbf: None,
            claims,
            headers: Vec::new(),
            subject: None,
            subject_header: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn scope(&self) -> &ScopeSet {
        &self.scope
    }

    pub fn exp(&self) -> Option<i64> {
        self.exp
    }

    /// The subject (docs/reference.md#introspection-cache): `sub`, or `username` only when `sub` is absent (or
    /// null); a non-string value as its compact JSON text (`"sub": 42` → `42`).
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// Every top-level member of the answer, as received (the shared cache stores them).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A scalar claim as text (strings as is, numbers and booleans printed), for
    /// owner binding. Arrays, objects and null are not comparable: `None`.
    pub fn scalar_claim(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.claims.get(name)? {
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }

    /// The header value for claim `name`, if present and representable in a header.
    pub fn header_value(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    /// [`Self::subject`] as a header value; `None` when absent or not representable
    /// in a header (never a fallback to `username` then).
    pub fn subject_header(&self) -> Option<&HeaderValue> {
        self.subject_header.as_ref()
    }

    /// docs/reference.md#validation: active, not past `exp`, not before `nbf`, issuer and audience as
    /// configured. `now` is Unix seconds.
    pub fn check(&self, now: i64, expect: &Expectations) -> Result<(), TokenProblem> {
        if !self.active {
            return Err(TokenProblem::Inactive);
        }
        if self.exp.is_some_and(|exp| now >= exp) {
            return Err(TokenProblem::Expired);
        }
        if self.nbf.is_some_and(|nbf| now < nbf) {
            return Err(TokenProblem::NotYetValid);
        }
        if let Some(issuer) = &expect.issuer {
            if self.str_claim("iss") != Some(issuer.as_str()) {
                return Err(TokenProblem::WrongIssuer);
            }
        }
        if let Some(audience) = &expect.audience {
            let ok = match self.claims.get("aud") {
                Some(Value::String(a)) => a == audience,
                Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !ok {
                return Err(TokenProblem::WrongAudience);
            }
        }
        Ok(())
    }
}

/// docs/reference.md#introspection-cache: `sub` unless absent or null, else `username`; strings as is, any other
/// JSON value as its compact JSON text.
fn subject_of(claims: &Map<String, Value>) -> Option<Box<str>> {
    let present = |name| claims.get(name).filter(|v| !v.is_null());
    match present("sub").or_else(|| present("username"))? {
        Value::String(s) => Some(Box::from(s.as_str())),
        other => Some(other.to_string().into_boxed_str()),
    }
}

/// RFC 7662 §2.2 `exp`/`nbf` are NumericDate (seconds, possibly fractional).
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, ParseError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or(ParseError::Field(name)),
        Some(_) => Err(ParseError::Field(name)),
    }
}

/// Identity claims (docs/reference.md#identity): strings as is, numbers and booleans as text, arrays joined
/// with commas, objects as compact JSON.
fn render(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            Some(Cow::Owned(parts.join(",")))
        }
        Value::Object(_) => Some(Cow::Owned(value.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(claims: Value) -> TokenInfo {
        let Value::Object(map) = claims else {
            unreachable!()
        };
        TokenInfo::from_claims(map).unwrap()
    }

    #[test]
    fn subject_is_sub_or_username_only_when_sub_is_absent() {
        let cases = [
            (
                serde_json::json!({"active": true, "sub": "alice", "username": "bob"}),
                Some("alice"),
            ),
            (
                serde_json::json!({"active": true, "username": "bob"}),
                Some("bob"),
            ),
            (
                serde_json::json!({"active": true, "sub": null, "username": "bob"}),
                Some("bob"),
            ),
            (
                serde_json::json!({"active": true, "sub": 42, "username": "bob"}),
                Some("42"),
            ),
            (
                serde_json::json!({"active": true, "sub": true}),
                Some("true"),
            ),
            (
                serde_json::json!({"active": true, "sub": ["a", "b"], "username": "bob"}),
                Some(r#"["a","b"]"#),
            ),
            (
                serde_json::json!({"active": true, "sub": {"id": 7}}),
                Some(r#"{"id":7}"#),
            ),
            (
                serde_json::json!({"active": true, "username": 7}),
                Some("7"),
            ),
            (serde_json::json!({"active": true}), None),
        ];
        for (claims, want) in cases {
            let info = info(claims.clone());
            assert_eq!(info.subject(), want, "{claims}");
            assert_eq!(
                info.subject_header().map(|h| h.to_str().unwrap()),
                want,
                "{claims}"
            );
        }
    }

    #[test]
    fn a_subject_with_a_line_break_gets_no_header_and_no_fallback() {
        let info = info(serde_json::json!({"active": true, "sub": "a\r\nb", "username": "bob"}));
        assert_eq!(info.subject(), Some("a\r\nb"));
        assert!(info.subject_header().is_none());
    }
}
