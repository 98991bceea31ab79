//! Step 5 of the pipeline: which validator answers for a token
//! (docs/reference.md#which-validator), and the checks every answer must pass before
//! authorization.
//!
//! A JWT whose unverified `iss` names a `[[jwt]]` table is validated locally
//! ([`crate::jwt`]); on an `introspect = true` route it must also be active at the
//! introspection endpoint, while the identity still comes from the JWT. Any other
//! token is introspected (docs/reference.md#validation), or refused without `[introspection]`. Either
//! way the result is one `Arc<TokenInfo>`, so routes, scopes, owner binding, identity
//! headers and field filtering work the same on both.

use std::sync::Arc;

use crate::clock::now_unix;
use crate::introspect::TokenInfo;
use crate::jwt::Verdict;
use crate::rejection::{Rejection, TokenProblem};
use crate::state::State;
use crate::token::BearerToken;

/// The validated answer for `token`; `introspect_too` is the route's `introspect`.
pub async fn validate(
    state: &State,
    token: &BearerToken,
    introspect_too: bool,
) -> Result<Arc<TokenInfo>, Rejection> {
    let now = now_unix();
    match state.jwt.validate(token.expose(), now).await {
        Verdict::Valid(info) => {
            if introspect_too {
                // Config guarantees [introspection] here; refuse rather than skip if not.
                introspect(state, token, now).await?;
            }
            Ok(info)
        }
        Verdict::Invalid(problem) => Err(Rejection::InvalidToken(problem)),
        Verdict::Unavailable => Err(Rejection::KeysUnavailable),
        Verdict::NotJwt => introspect(state, token, now).await,
    }
}

/// docs/reference.md#validation: the cached or fresh introspection answer, checked.
async fn introspect(
    state: &State,
    token: &BearerToken,
    now: i64,
) -> Result<Arc<TokenInfo>, Rejection> {
    let Some(introspector) = &state.introspector else {
        return Err(Rejection::InvalidToken(TokenProblem::Unverified));
    };
    let info = introspector
        .introspect(token)
        .await
        .map_err(Rejection::AuthServerUnavailable)?;
    info.check(now, &state.expect)
        .map_err(Rejection::InvalidToken)?;
    Ok(info)
}

#[cfg(test)]
#[path = "validator/tests.rs"]
mod tests;
