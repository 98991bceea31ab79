//! Identity headers (docs/reference.md#forwarding): client-sent copies stripped on every route, then set
//! from the introspection answer on protected routes.
//!
//! Strip before set, always: a client must never be able to assert an identity. A
//! header also counts as a copy when its name equals a configured one after
//! lower-casing and mapping `_` to `-` (`X_Auth_Subject`), since CGI-style backends
//! read those as the same variable (the class behind oauth2-proxy CVE-2025-64484).

use http::{HeaderMap, HeaderName};

use crate::claims::TokenInfo;
use crate::header_name;

/// `[identity]`, validated (docs/reference.md#forwarding): headers set on the forwarded
/// request from the answer. Owned here; config validation builds it.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub subject: HeaderName,
    pub scope: HeaderName,
    pub client_id: HeaderName,
    pub username: HeaderName,
    /// `[identity.claims]`: introspection field → header, in file order.
    pub claims: Vec<(String, HeaderName)>,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            subject: HeaderName::from_static("x-auth-subject"),
            scope: HeaderName::from_static("x-auth-scope"),
            client_id: HeaderName::from_static("x-auth-client-id"),
            username: HeaderName::from_static("x-auth-username"),
            claims: Vec::new(),
        }
    }
}

/// Which part of the answer feeds a header.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    /// `sub`, else `username`.
    Subject,
    /// Any top-level member, rendered (strings as is, numbers and booleans as text,
    /// arrays comma-joined, objects as compact JSON).
    Member(String),
}

/// The compiled `[identity]` table.
#[derive(Debug, Clone)]
pub struct Identity {
    headers: Vec<(Claim, HeaderName)>,
}

impl Identity {
    pub fn new(config: &IdentityConfig) -> Self {
        let mut headers = vec![
            (Claim::Subject, config.subject.clone()),
            (Claim::Member("scope".into()), config.scope.clone()),
            (Claim::Member("client_id".into()), config.client_id.clone()),
            (Claim::Member("username".into()), config.username.clone()),
        ];
        headers.extend(
            config
                .claims
                .iter()
                .map(|(claim, name)| (Claim::Member(claim.clone()), name.clone())),
        );
        Self { headers }
    }

    /// The members of an answer the headers are rendered from (the subject aside, which
    /// every cached answer keeps).
    pub fn claims(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().filter_map(|(claim, _)| match claim {
            Claim::Subject => None,
            Claim::Member(member) => Some(member.as_str()),
        })
    }

    /// Removes every client-sent copy of a configured identity header; returns how many.
    pub fn strip(&self, headers: &mut HeaderMap) -> usize {
        // Common case: nothing to strip, nothing allocated.
        if !headers.keys().any(|k| self.is_identity(k)) {
            return 0;
        }
        let doomed: Vec<HeaderName> = headers
            .keys()
            .filter(|k| self.is_identity(k))
            .cloned()
            .collect();
        let mut removed = 0;
        for name in doomed {
            if headers.remove(&name).is_some() {
                removed += 1;
                tracing::debug!(header = %name, "removed client-sent identity header");
            }
        }
        removed
    }

    fn is_identity(&self, name: &HeaderName) -> bool {
        let candidate = name.as_str();
        self.headers
            .iter()
            .any(|(_, configured)| header_name::same(configured.as_str(), candidate))
    }

    /// Sets the identity headers from `info`; a header whose claim is absent (or not
    /// representable in a header) is left out, never sent empty.
    pub fn inject(&self, headers: &mut HeaderMap, info: &TokenInfo) {
        for (claim, name) in &self.headers {
            let value = match claim {
                Claim::Subject => info.subject_header().cloned(),
                Claim::Member(member) => info.header_value(member),
            };
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                headers.insert(name.clone(), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn identity() -> Identity {
        let mut config = IdentityConfig::default();
        config
            .claims
            .push(("tenant".into(), HeaderName::from_static("x-auth-tenant")));
        Identity::new(&config)
    }

    #[test]
    fn strips_configured_headers_and_underscore_variants() {
        let mut h = HeaderMap::new();
        for name in [
            "x-auth-subject",
            "x_auth_subject",
            "x-auth_scope",
            "x-auth-tenant",
            "x-other",
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("evil"),
            );
        }
        h.append("x-auth-subject", HeaderValue::from_static("evil2"));
        assert_eq!(identity().strip(&mut h), 4);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-other"));
    }

    #[test]
    fn injects_present_claims_and_leaves_absent_ones_out() {
        let claims = serde_json::json!({
            "active": true, "sub": "alice", "scope": "a b", "tenant": ["t1", "t2"]
        });
        let serde_json::Value::Object(map) = claims else {
            unreachable!()
        };
        let info = TokenInfo::from_claims(map).unwrap();
        let mut h = HeaderMap::new();
        identity().inject(&mut h, &info);
        assert_eq!(h["x-auth-subject"], "alice");
        assert_eq!(h["x-auth-scope"], "a b");
        assert_eq!(h["x-auth-tenant"], "t1,t2");
        assert!(!h.contains_key("x-auth-client-id"));
        assert!(!h.contains_key("x-auth-username"));
    }

    #[test]
    fn subject_falls_back_to_username() {
        let serde_json::Value::Object(map) = serde_json::json!({"active": true, "username": "bob"})
        else {
            unreachable!()
        };
        let info = TokenInfo::from_claims(map).unwrap();
        let mut h = HeaderMap::new();
        identity().inject(&mut h, &info);
        assert_eq!(h["x-auth-subject"], "bob");
        assert_eq!(h["x-auth-username"], "bob");
    }

    #[test]
    fn claims_with_line_breaks_are_never_injected() {
        let serde_json::Value::Object(map) =
            serde_json::json!({"active": true, "sub": "alice\r\nX-Admin: 1"})
        else {
            unreachable!()
        };
        let info = TokenInfo::from_claims(map).unwrap();
        let mut h = HeaderMap::new();
        identity().inject(&mut h, &info);
        assert!(!h.contains_key("x-auth-subject"));
    }
}
