//! `[[jwt]]` tables (docs/reference.md#jwt-access-tokens): one trusted issuer each. Nothing is fetched here, so
//! `scopegate check` validates them offline.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use toml::Spanned;

use super::{raw, Checker};
use crate::config::{JwksSource, JwtConfig};

const DEFAULT_ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const ALLOWED: &str = "RS256, RS384, RS512, PS256, ES256, ES384, EdDSA";

pub(super) fn compile(cx: &mut Checker<'_>, raw: Vec<Spanned<raw::Jwt>>) -> Vec<JwtConfig> {
    let mut out: Vec<JwtConfig> = Vec::with_capacity(raw.len());
    for (index, table) in raw.into_iter().enumerate() {
        let start = table.span().start;
        let config = compile_one(cx, index, start, table.into_inner());
        if out.iter().any(|c| c.issuer == config.issuer) {
            let message = format!(
                "issuer {:?} is already configured by an earlier [[jwt]] table; expected one table per issuer",
                config.issuer
            );
            cx.error(Some(start..start), format!("jwt[{index}].issuer"), message);
        }
        out.push(config);
    }
    out
}

fn compile_one(cx: &mut Checker<'_>, index: usize, start: usize, raw: raw::Jwt) -> JwtConfig {
    let at = |field: &str| format!("jwt[{index}].{field}");
    let audience = match raw.audience {
        Some(a) => a.0,
        None => {
            let message =
                "missing key audience; expected the audience (aud) this proxy's tokens are for";
            cx.error(Some(start..start), format!("jwt[{index}]"), message);
            String::new()
        }
    };
    let keys = match (raw.jwks_uri, raw.metadata_url) {
        (Some(uri), None) => JwksSource::JwksUri(uri.into_inner().0),
        (None, Some(url)) => JwksSource::Metadata(url.into_inner().0),
        (Some(uri), Some(url)) => {
            let (span, key, other) = match uri.span().start > url.span().start {
                true => (uri.span(), "jwks_uri", "metadata_url"),
                false => (url.span(), "metadata_url", "jwks_uri"),
            };
            let message = format!("{other} is set too; expected exactly one of the two");
            cx.error(Some(span), at(key), message);
            JwksSource::JwksUri(uri.into_inner().0)
        }
        (None, None) => {
            cx.error(
                Some(start..start),
                format!("jwt[{index}]"),
                "missing key jwks_uri or metadata_url; expected exactly one of the two",
            );
            JwksSource::JwksUri(http::Uri::from_static("http://invalid/"))
        }
    };
    let algorithms = match raw.algorithms {
        None => DEFAULT_ALGORITHMS.to_vec(),
        Some(list) => {
            let span = list.span();
            let list = list.into_inner();
            if list.is_empty() {
                cx.error(
                    Some(span),
                    at("algorithms"),
                    format!("expected at least one of {ALLOWED}"),
                );
            }
            let mut algorithms = Vec::with_capacity(list.len());
            for (i, name) in list.into_iter().enumerate() {
                let span = name.span();
                let name = name.into_inner().0;
                match algorithm(&name) {
                    Ok(alg) if algorithms.contains(&alg) => cx.error(
                        Some(span),
                        format!("jwt[{index}].algorithms[{i}]"),
                        format!("{name:?} is listed twice"),
                    ),
                    Ok(alg) => algorithms.push(alg),
                    Err(message) => {
                        cx.error(Some(span), format!("jwt[{index}].algorithms[{i}]"), message)
                    }
                }
            }
            algorithms
        }
    };
    let typ = match raw.typ {
        None => vec!["at+jwt".to_owned()],
        Some(list) => {
            let span = list.span();
            let list: Vec<String> = list
                .into_inner()
                .into_iter()
                .map(|t| normalize_typ(&t.0))
                .collect();
            if list.is_empty() {
                cx.error(
                    Some(span),
                    at("typ"),
                    r#"expected at least one type, like "at+jwt""#,
                );
            }
            list
        }
    };
    JwtConfig {
        issuer: raw.issuer.0,
        audience,
        keys,
        algorithms,
        typ,
        scope_claim: raw.scope_claim.map_or_else(|| "scope".to_owned(), |c| c.0),
        leeway: raw.leeway.map_or(DEFAULT_LEEWAY, |d| d.0),
        jwks_refresh: raw.jwks_refresh.map_or(DEFAULT_REFRESH, |d| d.0),
        timeout: raw.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
        ca_file: raw.ca_file.map(|p| cx.file(p, &at("ca_file"))),
    }
}

/// RFC 9068 §2.1 and RFC 7515 §4.1.9: `typ` compared ignoring case and the
/// `application/` prefix.
pub(crate) fn normalize_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    match name {
        "RS256" => Ok(Algorithm::RS256),
        "RS384" => Ok(Algorithm::RS384),
        "RS512" => Ok(Algorithm::RS512),
        "PS256" => Ok(Algorithm::PS256),
        "ES256" => Ok(Algorithm::ES256),
        "ES384" => Ok(Algorithm::ES384),
        "EdDSA" => Ok(Algorithm::EdDSA),
        n if n.eq_ignore_ascii_case("none") => Err(format!(
            "{n:?} is not allowed: an unsigned token proves nothing; expected one of {ALLOWED}"
        )),
        n if n.to_ascii_uppercase().starts_with("HS") => Err(format!(
            "{n:?} is not allowed: a shared secret cannot be published in a JWKS and invites key confusion; expected one of {ALLOWED}"
        )),
        n => Err(format!("unknown algorithm {n:?}; expected one of {ALLOWED}")),
    }
}
