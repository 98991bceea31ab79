//! Authorization policy (docs/reference.md#configuration `[[route]]`, §3.4): which route a request is, and
//! whether a token may call it.
//!
//! [`RouteTable::match_request`] finds the first route (file order) whose method and
//! path match; [`Route::authorize`] checks scopes and owner binding against the
//! introspection answer and yields a [`Grant`]. A `Grant` can only be built here, and
//! forwarding and field filtering require one, so "authorized for one path, forwarded
//! to another" cannot be written.

pub(crate) mod pattern;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use http::uri::PathAndQuery;
use http::Method;

pub(crate) use crate::claims::ScopeSet;
pub(crate) use pattern::RoutePattern;

use crate::claims::TokenInfo;
use crate::filter::FieldRules;
use crate::rejection::Rejection;

/// The compiled `[[route]]` list, in file order.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// One compiled `[[route]]`.
#[derive(Debug)]
pub struct Route {
    pub pattern: RoutePattern,
    /// `None`: any method.
    pub methods: Option<Vec<Method>>,
    pub public: bool,
    /// All of these are required.
    pub scopes: ScopeSet,
    /// At least one of these is required (when not empty).
    pub scopes_any: ScopeSet,
    pub owner: Option<OwnerBinding>,
    pub fields: Option<FieldRules>,
    /// `introspect = true`: a locally valid JWT must also be active at introspection.
    pub introspect: bool,
    /// Position in the table; metrics pre-resolve their label sets by it.
    index: usize,
}

/// `owner = { param = "p", claim = "c" }`: path parameter `p` must equal claim `c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerBinding {
    pub param: String,
    pub claim: String,
}

/// What is about to be forwarded: the method and the validated path with the query as
/// it will be sent (token parameter already removed when `forward = false`).
#[derive(Debug, Clone)]
pub struct Target {
    pub method: Method,
    pub path_and_query: PathAndQuery,
}

/// Proof that a request may be forwarded: the route, the exact target that was
/// authorized, and the token's answer (absent on public routes).
#[derive(Debug)]
pub struct Grant<'r> {
    route: &'r Route,
    target: Target,
    token: Option<Arc<TokenInfo>>,
}

// === impl RouteTable ===

impl RouteTable {
    /// Numbers the routes in file order.
    pub fn new(mut routes: Vec<Route>) -> Self {
        for (i, route) in routes.iter_mut().enumerate() {
            route.index = i;
        }
        Self { routes }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// docs/reference.md#configuration: the first route, in file order, whose method and path match; `None`
    /// is deny by default. `path` has passed [`crate::path::check`] and has no query.
    pub fn match_request(&self, method: &Method, path: &str) -> Option<&Route> {
        let candidates = self.routes.iter().filter(|r| r.allows_method(method));
        // Split the path once for the whole table; a very long path is matched unsplit.
        match pattern::RequestPath::split(path) {
            Some(request) => candidates
                .into_iter()
                .find(|r| r.pattern.matches_request(&request)),
            None => candidates.into_iter().find(|r| r.pattern.matches(path)),
        }
    }

    /// `(later, earlier)` index pairs: route `later` can never match because route
    /// `earlier` matches every method and path it would. One pair per shadowed route,
    /// naming the first such earlier route. Sound but not complete: a route covered
    /// only by several earlier routes together is not reported.
    pub fn shadowed(&self) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (later, route) in self.routes.iter().enumerate() {
            let earlier = self.routes[..later]
                .iter()
                .position(|e| e.covers_methods(route) && e.pattern.covers(&route.pattern));
            if let Some(earlier) = earlier {
                pairs.push((later, earlier));
            }
        }
        pairs
    }
}

// === impl Route ===

impl Route {
    pub fn new(
        pattern: RoutePattern,
        methods: Option<Vec<Method>>,
        public: bool,
        scopes: ScopeSet,
        scopes_any: ScopeSet,
        owner: Option<OwnerBinding>,
        fields: Option<FieldRules>,
    ) -> Self {
        Self {
            pattern,
            methods,
            public,
            scopes,
            scopes_any,
            owner,
            fields,
            introspect: false,
            index: 0,
        }
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn is_public(&self) -> bool {
        self.public
    }

    pub fn allows_method(&self, method: &Method) -> bool {
        match &self.methods {
            None => true,
            Some(methods) => methods.contains(method),
        }
    }

    /// Whether this route allows every method `other` allows.
    fn covers_methods(&self, other: &Route) -> bool {
        match (&self.methods, &other.methods) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => theirs.iter().all(|m| mine.contains(m)),
        }
    }

    /// A public route needs no token.
    pub fn grant_public(&self, target: Target) -> Grant<'_> {
        Grant {
            route: self,
            target,
            token: None,
        }
    }

    /// docs/reference.md#authorization: `scopes` (all), `scopes_any` (at least one), `owner`; any failure is
    /// RFC 6750 §3.1 `insufficient_scope` (403). The grant is for exactly `target`,
    /// which must be a request this route matches.
    pub fn authorize(&self, target: Target, token: Arc<TokenInfo>) -> Result<Grant<'_>, Rejection> {
        let path = target.path_and_query.path();
        // A grant is proof for this route and target; a mismatch is a bug in the
        // caller, never a reason to forward.
        if !self.allows_method(&target.method) || !self.pattern.matches(path) {
            return Err(Rejection::Internal(
                "authorized target does not match its route",
            ));
        }
        if !(self.scopes_allow(token.scope()) && self.owner_allows(path, &token)) {
            return Err(Rejection::InsufficientScope {
                required: self.required_scopes(),
            });
        }
        Ok(Grant {
            route: self,
            target,
            token: Some(token),
        })
    }

    fn scopes_allow(&self, granted: &ScopeSet) -> bool {
        self.scopes.iter().all(|s| granted.contains(s))
            && (self.scopes_any.is_empty() || self.scopes_any.iter().any(|s| granted.contains(s)))
    }

    /// The decoded path parameter must equal the claim exactly; a missing or
    /// non-scalar claim (array, object, null) refuses. `sub` means the subject.
    fn owner_allows(&self, path: &str, token: &TokenInfo) -> bool {
        let Some(owner) = &self.owner else {
            return true;
        };
        // `authorize` has just checked that the pattern matches `path`.
        let value = self.pattern.param_of_match(path, &owner.param);
        // Binding on `sub` uses the subject (docs/reference.md#introspection-cache), the same value as X-Auth-Subject.
        let claim = if owner.claim == "sub" {
            token.subject().map(std::borrow::Cow::Borrowed)
        } else {
            token.scalar_claim(&owner.claim)
        };
        matches!((value, claim), (Some(v), Some(c)) if v == c)
    }

    /// The RFC 6750 §3 `scope` attribute of an insufficient_scope challenge:
    /// `scopes` then `scopes_any`, space-separated.
    pub fn required_scopes(&self) -> String {
        let mut all: Vec<&str> = self.scopes.iter().collect();
        all.extend(self.scopes_any.iter());
        all.join(" ")
    }

    /// [`required_scopes`](Self::required_scopes) plus every `fields` scope: what an
    /// unfilterable exchange (a WebSocket tunnel) on this route needs.
    pub fn required_scopes_with_fields(&self) -> String {
        let mut all: Vec<&str> = self.scopes.iter().collect();
        all.extend(self.scopes_any.iter());
        if let Some(fields) = &self.fields {
            all.extend(fields.scopes().filter(|s| !self.scopes.contains(s)));
        }
        all.join(" ")
    }
}

// === impl Grant ===

impl<'r> Grant<'r> {
    pub fn route(&self) -> &'r Route {
        self.route
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn token(&self) -> Option<&Arc<TokenInfo>> {
        self.token.as_ref()
    }

    /// Whether the token behind this grant has `scope` (never, on a public route).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.token
            .as_ref()
            .is_some_and(|t| t.scope().contains(scope))
    }
}
