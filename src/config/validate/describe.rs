//! What `scopegate check` prints: a heading, the route table in match order (first
//! match wins), then each warning on its own line.
//!
//! ```text
//! config/scopegate.toml: valid; 4 routes, tried in this order (first match wins)
//!   #  methods          path                    access
//!   0  *                /health                 public
//!   1  GET              /orders/{id}            scopes: orders:read
//!   2  POST,PUT,DELETE  /orders/**              any of: orders:write admin
//!   3  GET              /users/{owner}/profile  scopes: profile; owner: {owner}=sub; fields: profile:contact billing
//! warning: ...
//! ```
//!
//! `fields:` lists the scopes that response fields on the route are gated by; a
//! route an earlier one shadows is marked `(never matches: shadowed by route[i])`.

use std::cell::RefCell;

use super::routes::methods_label;
use crate::config::Config;
use crate::filter::FieldRules;
use crate::policy::Route;

/// Renders `config` for a terminal; every line ends in `\n`.
pub(crate) fn describe(config: &Config) -> String {
    let routes = config.routes.routes();
    let count = match routes.len() {
        1 => "1 route".to_owned(),
        n => format!("{n} routes"),
    };
    let mut out = format!(
        "{}: valid; {count}, tried in this order (first match wins)\n",
        config.path.display()
    );
    let shadowed = config.routes.shadowed();
    let rows: Vec<[String; 4]> = routes
        .iter()
        .map(|r| {
            let mut access = access(r);
            if let Some((_, earlier)) = shadowed.iter().find(|(later, _)| *later == r.index()) {
                access.push_str(&format!("  (never matches: shadowed by route[{earlier}])"));
            }
            [
                r.index().to_string(),
                methods_label(r),
                r.pattern.as_str().to_owned(),
                access,
            ]
        })
        .collect();
    if !rows.is_empty() {
        let header = ["#", "methods", "path", "access"].map(str::to_owned);
        let mut widths = [0; 3];
        for row in std::iter::once(&header).chain(&rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(&rows) {
            let line = format!(
                "  {:>w0$}  {:<w1$}  {:<w2$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    for warning in &config.warnings {
        out.push_str("warning: ");
        out.push_str(warning);
        out.push('\n');
    }
    out
}

/// `public`, or the parts of the rule joined with `; `.
fn access(route: &Route) -> String {
    if route.is_public() {
        return "public".to_owned();
    }
    let mut parts = Vec::new();
    if !route.scopes.is_empty() {
        parts.push(format!("scopes: {}", route.scopes));
    }
    if !route.scopes_any.is_empty() {
        parts.push(format!("any of: {}", route.scopes_any));
    }
    if let Some(owner) = &route.owner {
        parts.push(format!("owner: {{{}}}={}", owner.param, owner.claim));
    }
    if let Some(fields) = &route.fields {
        parts.push(format!("fields: {}", field_scopes(fields)));
    }
    parts.join("; ")
}

/// The scopes the field rules need, in rule order. `FieldRules` keeps its rules to
/// itself; asking whether a token holding every scope loses a field makes a correct
/// implementation ask about each scope at least once, which is what is recorded.
fn field_scopes(fields: &FieldRules) -> String {
    let asked = RefCell::new(Vec::<String>::new());
    let has_scope = |scope: &str| {
        let mut asked = asked.borrow_mut();
        if !asked.iter().any(|s| s == scope) {
            asked.push(scope.to_owned());
        }
        true
    };
    fields.removes_any(&has_scope);
    asked.into_inner().join(" ")
}
