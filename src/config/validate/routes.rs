//! `[[route]]` rules (docs/reference.md#configuration): each route alone (public vs. scopes, owner parameter,
//! field rules), then the table (duplicates are errors; routes an earlier one
//! shadows, and field rules that can never remove anything, are warnings).
//! Routes are numbered from 0 in file order, as in `route[0]`.

use http::Method;
use toml::Spanned;

use super::Checker;
use crate::config::raw;
use crate::config::units::{MethodName, Scope};
use crate::filter::FieldRules;
use crate::policy::{OwnerBinding, Route, RouteTable, ScopeSet};

/// Compiles the routes in file order, recording problems and warnings on `cx`.
pub(super) fn compile(cx: &mut Checker<'_>, raw: Vec<Spanned<raw::Route>>) -> RouteTable {
    if raw.is_empty() {
        cx.warnings
            .push("no routes: every request is refused".to_owned());
    }
    let mut routes = Vec::with_capacity(raw.len());
    let mut duplicates = Vec::new();
    for (index, route) in raw.into_iter().enumerate() {
        let path_start = route.get_ref().path.span().start;
        let route = compile_one(cx, index, route);
        let earlier = routes.iter().position(|r: &Route| same_match(r, &route));
        if let Some(earlier) = earlier {
            let message = format!(
                "same methods and path as route[{earlier}] ({}); a route can never match after an identical one",
                label(&route)
            );
            cx.problems.push(
                cx.src
                    .problem(Some(path_start), format!("route[{index}]"), message),
            );
            duplicates.push(index);
        }
        routes.push(route);
    }
    let table = RouteTable::new(routes);
    for (later, earlier) in table.shadowed() {
        let (Some(l), Some(e)) = (table.routes().get(later), table.routes().get(earlier)) else {
            continue;
        };
        if !duplicates.contains(&later) {
            cx.warnings.push(format!(
                "route[{later}] ({}) can never match: route[{earlier}] ({}) matches every request it would",
                label(l),
                label(e)
            ));
        }
    }
    table
}

fn compile_one(cx: &mut Checker<'_>, index: usize, route: Spanned<raw::Route>) -> Route {
    let at = |field: &str| format!("route[{index}].{field}");
    let route_start = route.span().start;
    let raw = route.into_inner();
    let pattern = raw.path.into_inner().0;
    let methods = raw.methods.map(|list| methods(cx, index, list));
    let public = raw.public.is_some_and(|p| *p.get_ref());

    if public {
        let conflicts = [
            ("scopes", raw.scopes.as_ref().map(Spanned::span)),
            ("scopes_any", raw.scopes_any.as_ref().map(Spanned::span)),
            ("owner", raw.owner.as_ref().map(Spanned::span)),
            ("fields", raw.fields.as_ref().map(Spanned::span)),
            ("introspect", raw.introspect.as_ref().map(Spanned::span)),
        ];
        for (key, span) in conflicts {
            if let Some(span) = span {
                let message = "not allowed on a public route (public = true needs no token); remove one of the two";
                cx.error(Some(span), at(key), message);
            }
        }
    }
    let scopes = scope_list(raw.scopes);
    let scopes_any = scope_list(raw.scopes_any);
    if !public {
        let any_scope = scopes.1.len() + scopes_any.1.len() > 0;
        for (key, (span, list)) in [("scopes", &scopes), ("scopes_any", &scopes_any)] {
            match span {
                Some(span) if list.is_empty() && !any_scope => cx.error(
                    Some(span.clone()),
                    at(key),
                    "expected at least one scope, or public = true",
                ),
                Some(span) if list.is_empty() => cx.error(
                    Some(span.clone()),
                    at(key),
                    format!("expected at least one scope; leave {key} out if none is needed"),
                ),
                _ => {}
            }
        }
        if scopes.0.is_none() && scopes_any.0.is_none() {
            cx.error(
                Some(route_start..route_start),
                at("scopes"),
                "expected at least one scope, or public = true",
            );
        }
    }

    let owner = raw.owner.map(|owner| {
        let owner = owner.into_inner();
        let (span, param) = (owner.param.span(), owner.param.into_inner().0);
        let names = pattern.param_names();
        if !names.contains(&param.as_str()) {
            let message = match names.is_empty() {
                true => format!(
                    "{param:?} is not a parameter of {:?}, which has none",
                    pattern.as_str()
                ),
                false => format!(
                    "{param:?} is not a parameter of {:?}; expected one of {}",
                    pattern.as_str(),
                    names.join(", ")
                ),
            };
            cx.error(Some(span), at("owner.param"), message);
        }
        OwnerBinding {
            param,
            claim: owner.claim.0,
        }
    });

    let fields = raw.fields.and_then(|fields| {
        let span = fields.span();
        let entries: Vec<(String, String)> = fields
            .into_inner()
            .0
            .into_iter()
            .map(|(p, s)| (p.0, s.0))
            .collect();
        for (path, scope) in &entries {
            if scopes.1.contains(scope) {
                let mut key = at("fields");
                crate::config::error::push_key(&mut key, path);
                cx.warnings.push(format!(
                    "{key} never removes anything: every token on this route has scope {scope:?}"
                ));
            }
        }
        FieldRules::compile(entries)
            .map_err(|e| cx.error(Some(span), at("fields"), e.to_string()))
            .ok()
    });

    let introspect = match raw.introspect {
        Some(flag) if *flag.get_ref() => {
            if !cx.has_introspection {
                let message = "needs [introspection]: a JWT on this route is also checked at the introspection endpoint; add [introspection] or remove this key";
                cx.error(Some(flag.span()), at("introspect"), message);
            }
            true
        }
        _ => false,
    };

    let mut route = Route::new(
        pattern,
        methods,
        public,
        ScopeSet::from_vec(scopes.1),
        ScopeSet::from_vec(scopes_any.1),
        owner,
        fields,
    );
    route.introspect = introspect;
    route
}

fn methods(
    cx: &mut Checker<'_>,
    index: usize,
    list: Spanned<Vec<Spanned<MethodName>>>,
) -> Vec<Method> {
    let span = list.span();
    let list = list.into_inner();
    if list.is_empty() {
        let message = "expected at least one method; leave methods out to allow any method";
        cx.error(Some(span), format!("route[{index}].methods"), message);
    }
    let mut methods: Vec<Method> = Vec::with_capacity(list.len());
    for (i, method) in list.into_iter().enumerate() {
        let span = method.span();
        let method = method.into_inner().0;
        if methods.contains(&method) {
            cx.error(
                Some(span),
                format!("route[{index}].methods[{i}]"),
                format!("{:?} is listed twice", method.as_str()),
            );
        } else {
            methods.push(method);
        }
    }
    methods
}

/// The list's span (when the key is present) and its scopes.
fn scope_list(list: Option<Spanned<Vec<Scope>>>) -> (Option<std::ops::Range<usize>>, Vec<String>) {
    match list {
        Some(list) => (
            Some(list.span()),
            list.into_inner().into_iter().map(|s| s.0).collect(),
        ),
        None => (None, Vec::new()),
    }
}

/// Same path pattern and same method set (in any order; `None` is any method).
fn same_match(a: &Route, b: &Route) -> bool {
    fn set(r: &Route) -> Option<Vec<&str>> {
        r.methods.as_ref().map(|m| {
            let mut names: Vec<&str> = m.iter().map(Method::as_str).collect();
            names.sort_unstable();
            names
        })
    }
    a.pattern.as_str() == b.pattern.as_str() && set(a) == set(b)
}

/// `GET /orders/{id}`, `* /health`.
pub(super) fn label(route: &Route) -> String {
    format!("{} {}", methods_label(route), route.pattern.as_str())
}

/// `GET,POST` or `*` for any method.
pub(super) fn methods_label(route: &Route) -> String {
    match &route.methods {
        None => "*".to_owned(),
        Some(methods) => methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(","),
    }
}
