//! `TokenInfo`: one RFC 7662 §2.2 answer, parsed strictly where it matters.
//!
//! The answer is what is cached, never the decision: activity, `exp`, `nbf`, issuer
//! and audience are checked by [`TokenInfo::check`] on every request, hit or miss.
//!
//! Only the members the configuration can read are kept ([`Needs`]), compactly: a
//! cached answer costs a few hundred bytes, not kilobytes
//! (docs/reference.md#cache-entry-size). The types of `active`, `scope`, `exp` and
//! `nbf` are checked on the whole answer first, so a malformed answer is refused the
//! same way whatever is kept.

use std::borrow::Cow;
use std::sync::Arc;

use http::HeaderValue;
use serde_json::{Map, Value};

use super::needs::{Needs, Text};
use super::{ScopeSet, TokenProblem};

/// A parsed introspection answer.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    active: bool,
    /// `None`: absent or null. Interned: answers with one `scope` string share it.
    scope: Option<Arc<Scope>>,
    /// Unix seconds; an absent `exp` is [`NEVER`] and an absent `nbf` [`ALWAYS`], the
    /// bounds the check can never fail on (16 bytes less per entry than `Option`s).
    exp: i64,
    nbf: i64,
    /// docs/reference.md#introspection-cache subject: `sub`, or `username` only when `sub` is absent; a non-string
    /// value as its JSON text. One rule for the header, owner binding and purge.
    subject: Option<Text>,
    /// The other members [`Needs`] keeps, in answer order. Shared by answers whose kept
    /// members are equal scalars (100,000 tokens of one client: one slice).
    members: Members,
}

/// What `exp` reads when absent: no moment is at or past it.
const NEVER: i64 = i64::MAX;
/// What `nbf` reads when absent: no moment is before it.
const ALWAYS: i64 = i64::MIN;

/// The kept members, as [`TokenInfo`] holds them.
pub(super) type Members = Arc<[(Arc<str>, Kept)]>;

/// A `scope` string: the set the routes check and the text the header carries.
#[derive(Debug)]
pub(crate) struct Scope {
    set: ScopeSet,
    text: Text,
}

/// One kept member's value.
#[derive(Debug, Clone)]
pub(super) enum Kept {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(Text),
    /// Arrays and objects (`aud` lists, structured claims).
    Json(Box<Value>),
    /// A non-string member that feeds a header: the value and its rendering, made once
    /// per answer so the hot path only clones (a reference count).
    Rendered(Box<(Value, Option<HeaderValue>)>),
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
    /// Builds from an already strictly parsed JSON object (see `client::parse_strict`),
    /// keeping every member, compactly ([`Needs::all`]).
    pub fn from_claims(claims: Map<String, Value>) -> Result<Self, ParseError> {
        Self::compact(&claims, Needs::every_member())
    }

    /// Builds from an already strictly parsed JSON object, keeping only what `needs`
    /// names (and the always-kept fields). `claims` itself is left whole: the shared
    /// cache stores every member (docs/reference.md#shared-cache).
    pub fn compact(claims: &Map<String, Value>, needs: &Needs) -> Result<Self, ParseError> {
        // RFC 7662 §2.2: `active` is REQUIRED and a boolean; anything else is unparseable.
        let active = match claims.get("active") {
            Some(Value::Bool(b)) => *b,
            _ => return Err(ParseError::Active),
        };
        let scope = match claims.get("scope") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(needs.scope(s, || {
                let text = needs.text(s, false);
                if text.header().is_none() {
                    tracing::warn!(
                        claim = "scope",
                        "claim not representable as a header value; it will not be injected"
                    );
                }
                Arc::new(Scope {
                    set: ScopeSet::parse(s),
                    text,
                })
            })),
            Some(_) => return Err(ParseError::Field("scope")),
        };
        let exp = numeric_date(claims, "exp")?.unwrap_or(NEVER);
        let nbf = numeric_date(claims, "nbf")?.unwrap_or(ALWAYS);
        let subject = subject_of(claims).map(|s| needs.text(&s, false));
        let mut members = Vec::new();
        // Whether the kept members may be shared with other answers: not when one is a
        // per-user string (those are not interned either).
        let mut shareable = true;
        for (name, value) in claims {
            if matches!(name.as_str(), "scope" | "active" | "exp" | "nbf") {
                continue;
            }
            let Some((name, header)) = needs.member(name) else {
                continue;
            };
            // Subjects rarely repeat across answers; everything else kept usually does.
            let intern = !matches!(&*name, "sub" | "username");
            shareable &= intern;
            let kept = match value {
                Value::Null => Kept::Null,
                Value::String(s) => Kept::Str(needs.text(s, intern)),
                Value::Bool(b) if !header => Kept::Bool(*b),
                Value::Number(n) if !header => Kept::Number(n.clone()),
                other if !header => Kept::Json(Box::new(other.clone())),
                other => {
                    let rendered =
                        render(other).and_then(|t| HeaderValue::try_from(t.as_ref()).ok());
                    Kept::Rendered(Box::new((other.clone(), rendered)))
                }
            };
            let representable = match &kept {
                Kept::Str(t) => t.header().is_some(),
                Kept::Rendered(r) => r.1.is_some(),
                _ => true,
            };
            if header && !representable {
                // CR, LF, NUL and other control bytes would split or corrupt a header:
                // such a claim is never injected. Its value is not logged.
                tracing::warn!(claim = %name, "claim not representable as a header value; it will not be injected");
            }
            members.push((name, kept));
        }
        Ok(Self {
            active,
            scope,
            exp,
            nbf,
            subject,
            members: needs.members(members, shareable),
        })
    }

    /// An inactive answer (`{"active": false}`).
    pub fn inactive() -> Self {
        Self {
            active: false,
            scope: None,
            exp: NEVER,
            nbf: ALWAYS,
            subject: None,
            members: Arc::new([]),
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn scope(&self) -> &ScopeSet {
        static EMPTY: ScopeSet = ScopeSet::empty();
        self.scope.as_ref().map_or(&EMPTY, |s| &s.set)
    }

    /// `None`: no `exp`, or one so far off that it saturates `i64` (`1.7e92`), which
    /// every check reads the same way: never past.
    pub fn exp(&self) -> Option<i64> {
        (self.exp != NEVER).then_some(self.exp)
    }

    /// The subject (docs/reference.md#introspection-cache): `sub`, or `username` only when `sub` is absent (or
    /// null); a non-string value as its compact JSON text (`"sub": 42` → `42`).
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_ref().map(Text::as_str)
    }

    fn member(&self, name: &str) -> Option<&Kept> {
        self.members
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    /// Whether member `name` was kept (present in the answer and needed).
    pub fn has_claim(&self, name: &str) -> bool {
        match name {
            "scope" => self.scope.is_some(),
            _ => self.member(name).is_some(),
        }
    }

    /// A string claim, if kept.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        if name == "scope" {
            return self.scope.as_ref().map(|s| s.text.as_str());
        }
        match self.member(name)? {
            Kept::Str(t) => Some(t.as_str()),
            _ => None,
        }
    }

    /// A scalar claim as text (strings as is, numbers and booleans printed), for
    /// owner binding. Arrays, objects and null are not comparable: `None`.
    pub fn scalar_claim(&self, name: &str) -> Option<Cow<'_, str>> {
        if name == "scope" {
            return self.str_claim(name).map(Cow::Borrowed);
        }
        let scalar = |v: &Value| match v {
            Value::Number(n) => Some(Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        };
        match self.member(name)? {
            Kept::Str(t) => Some(Cow::Borrowed(t.as_str())),
            Kept::Number(n) => Some(Cow::Owned(n.to_string())),
            Kept::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Kept::Rendered(r) => scalar(&r.0),
            Kept::Null | Kept::Json(_) => None,
        }
    }

    /// The header value for claim `name`, if kept, present and representable in a
    /// header. A clone: a reference count for strings and rendered members.
    pub fn header_value(&self, name: &str) -> Option<HeaderValue> {
        if name == "scope" {
            return self.scope.as_ref()?.text.header().cloned();
        }
        match self.member(name)? {
            Kept::Null => None,
            Kept::Str(t) => t.header().cloned(),
            Kept::Rendered(r) => r.1.clone(),
            Kept::Bool(b) => Some(HeaderValue::from_static(if *b { "true" } else { "false" })),
            Kept::Number(n) => HeaderValue::try_from(n.to_string()).ok(),
            Kept::Json(v) => render(v).and_then(|t| HeaderValue::try_from(t.as_ref()).ok()),
        }
    }

    /// [`Self::subject`] as a header value; `None` when absent or not representable
    /// in a header (never a fallback to `username` then).
    pub fn subject_header(&self) -> Option<&HeaderValue> {
        self.subject.as_ref()?.header()
    }

    /// Whether `aud` (a string, or an array of strings) contains `audience`.
    fn has_audience(&self, audience: &str) -> bool {
        let in_array = |v: &Value| match v {
            Value::Array(list) => list.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        match self.member("aud") {
            Some(Kept::Str(a)) => a.as_str() == audience,
            Some(Kept::Json(v)) => in_array(v),
            Some(Kept::Rendered(r)) => in_array(&r.0),
            _ => false,
        }
    }

    /// docs/reference.md#validation: active, not past `exp`, not before `nbf`, issuer and audience as
    /// configured. `now` is Unix seconds.
    pub fn check(&self, now: i64, expect: &Expectations) -> Result<(), TokenProblem> {
        if !self.active {
            return Err(TokenProblem::Inactive);
        }
        if now >= self.exp {
            return Err(TokenProblem::Expired);
        }
        if now < self.nbf {
            return Err(TokenProblem::NotYetValid);
        }
        if let Some(issuer) = &expect.issuer {
            if self.str_claim("iss") != Some(issuer.as_str()) {
                return Err(TokenProblem::WrongIssuer);
            }
        }
        if let Some(audience) = &expect.audience {
            if !self.has_audience(audience) {
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

    fn compact(needs: &Needs, claims: Value) -> TokenInfo {
        let Value::Object(map) = claims else {
            unreachable!()
        };
        TokenInfo::compact(&map, needs).unwrap()
    }

    #[test]
    fn answers_with_equal_kept_members_share_one_list() {
        let needs = Needs::new(["tenant"], []);
        let a = compact(
            &needs,
            serde_json::json!({"active": true, "sub": "alice", "client_id": "demo", "tenant": 7}),
        );
        let b = compact(
            &needs,
            serde_json::json!({"active": true, "sub": "bob", "client_id": "demo", "tenant": 7}),
        );
        let c = compact(
            &needs,
            serde_json::json!({"active": true, "sub": "carol", "client_id": "demo", "tenant": "7"}),
        );
        assert!(Arc::ptr_eq(&a.members, &b.members));
        assert!(
            !Arc::ptr_eq(&a.members, &c.members),
            "a string is not a number"
        );
        assert_eq!(b.str_claim("client_id"), Some("demo"));
        assert_eq!(b.subject(), Some("bob"));
        assert_eq!(c.scalar_claim("tenant").as_deref(), Some("7"));
    }

    #[test]
    fn a_list_with_a_per_user_member_is_not_shared() {
        // A header on `username` keeps it as a member: per user, so never shared.
        let needs = Needs::new(["username"], []);
        let claims = serde_json::json!({"active": true, "client_id": "demo", "username": "alice"});
        let a = compact(&needs, claims.clone());
        let b = compact(&needs, claims);
        assert!(!Arc::ptr_eq(&a.members, &b.members));
        assert_eq!(b.str_claim("username"), Some("alice"));
    }

    #[test]
    fn absent_exp_and_nbf_never_fail_the_check() {
        let expect = Expectations::default();
        let open = info(serde_json::json!({"active": true}));
        assert_eq!(open.exp(), None);
        assert!(open.check(i64::MIN, &expect).is_ok());
        assert!(open.check(i64::MAX - 1, &expect).is_ok());
        let timed = info(serde_json::json!({"active": true, "nbf": 100, "exp": 200}));
        assert_eq!(timed.exp(), Some(200));
        assert!(matches!(
            timed.check(99, &expect),
            Err(TokenProblem::NotYetValid)
        ));
        assert!(timed.check(100, &expect).is_ok());
        assert!(matches!(
            timed.check(200, &expect),
            Err(TokenProblem::Expired)
        ));
    }

    #[test]
    fn an_exp_beyond_i64_never_expires_and_one_before_it_has_expired() {
        let expect = Expectations::default();
        let far = info(serde_json::json!({"active": true, "exp": 1.7e92}));
        assert_eq!(far.exp(), None);
        assert!(far.check(i64::MAX - 1, &expect).is_ok());
        let past = info(serde_json::json!({"active": true, "exp": -1.7e92}));
        assert_eq!(past.exp(), Some(i64::MIN));
        assert!(matches!(past.check(0, &expect), Err(TokenProblem::Expired)));
    }

    #[test]
    fn a_parsed_answer_stays_small() {
        // What every cache entry holds besides its key: keep it within two cache lines' worth.
        assert!(
            std::mem::size_of::<TokenInfo>() <= 88,
            "{}",
            std::mem::size_of::<TokenInfo>()
        );
    }

    #[test]
    fn a_subject_with_a_line_break_gets_no_header_and_no_fallback() {
        let info = info(serde_json::json!({"active": true, "sub": "a\r\nb", "username": "bob"}));
        assert_eq!(info.subject(), Some("a\r\nb"));
        assert!(info.subject_header().is_none());
    }
}
