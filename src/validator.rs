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

use crate::claims::{Expectations, Needs, TokenInfo, TokenProblem};
use crate::clock::now_unix;
use crate::config::Config;
use crate::error::IntrospectError;
use crate::introspect::{Health, Introspector, Purge};
use crate::jwt::{JwtValidator, Verdict};
use crate::metrics::Metrics;
use crate::rejection::Rejection;
use crate::token::BearerToken;

/// Who validates tokens, by what the config has: an enum rather than a trait object,
/// for the reason `body.rs` gives (one static call per request, no allocation).
#[derive(Debug)]
pub enum Validator {
    /// `[introspection]` alone: every token is introspected.
    Introspection(Introspection),
    /// `[[jwt]]` alone: a token of no configured issuer is refused.
    Jwt(JwtValidator),
    /// Both: a JWT of a configured issuer locally, any other token introspected.
    Both {
        jwt: JwtValidator,
        introspection: Introspection,
    },
}

/// The introspection endpoint's answers (cached) and the claims they must carry.
#[derive(Debug)]
pub struct Introspection {
    pub introspector: Arc<Introspector>,
    pub expect: Expectations,
}

/// Why a token was not accepted; each maps to exactly one [`Rejection`].
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// `invalid_token` (docs/reference.md#validation).
    #[error("invalid token: {0:?}")]
    Invalid(TokenProblem),
    /// A `[[jwt]]` issuer has no usable key set (503).
    #[error("no usable key set")]
    KeysUnavailable,
    /// The introspection call failed and nothing cached may answer (503).
    #[error("the authorization server is unavailable")]
    AuthServer(#[source] IntrospectError),
}

impl From<ValidateError> for Rejection {
    fn from(e: ValidateError) -> Self {
        match e {
            ValidateError::Invalid(problem) => Rejection::InvalidToken(problem),
            ValidateError::KeysUnavailable => Rejection::KeysUnavailable,
            ValidateError::AuthServer(e) => Rejection::AuthServerUnavailable(e),
        }
    }
}

/// Why a validator could not be built.
pub(crate) type BuildError = crate::tls::TlsError;

// === impl Validator ===

impl Validator {
    /// Builds the validators `config` asks for, whose cached answers keep what `needs`
    /// names; the caches (and JWT key sets) of `previous` are kept where they answer
    /// for the same settings and members (docs/reference.md#operations reload).
    pub fn build(
        config: &Config,
        previous: Option<&Validator>,
        needs: Needs,
        metrics: &Arc<Metrics>,
        health: &Arc<Health>,
    ) -> Result<Self, BuildError> {
        // The same members: keep the previous tables, so answers cached before and after
        // the reload share their interned strings.
        let needs = match previous.map(Validator::needs) {
            Some(p) if p.same_members(&needs) => p.clone(),
            _ => Arc::new(needs),
        };
        let introspection = match &config.introspection {
            Some(settings) => Some(Introspection {
                introspector: Arc::new(Introspector::new(
                    settings,
                    previous.and_then(Validator::introspector).map(|i| &**i),
                    needs.clone(),
                    metrics.clone(),
                    health.clone(),
                )?),
                expect: Expectations {
                    issuer: settings.expected_issuer.clone(),
                    audience: settings.expected_audience.clone(),
                },
            }),
            None => None,
        };
        let jwt = (!config.jwt.is_empty())
            .then(|| {
                JwtValidator::new(
                    &config.jwt,
                    &config.cache(),
                    previous.and_then(Validator::jwt),
                    needs.clone(),
                    metrics,
                )
            })
            .transpose()?;
        let validator = match (jwt, introspection) {
            (Some(jwt), Some(introspection)) => Validator::Both { jwt, introspection },
            (Some(jwt), None) => Validator::Jwt(jwt),
            (None, Some(introspection)) => Validator::Introspection(introspection),
            // Config validation requires one of them; refuse every token rather than
            // fail the build if it ever did not.
            (None, None) => Validator::Jwt(JwtValidator::new(
                &[],
                &config.cache(),
                None,
                needs,
                metrics,
            )?),
        };
        Ok(validator)
    }

    /// The checked answer for `token`; `introspect_too` is the route's `introspect`.
    pub async fn validate(
        &self,
        token: &BearerToken,
        introspect_too: bool,
    ) -> Result<Arc<TokenInfo>, ValidateError> {
        let now = now_unix();
        match self {
            Validator::Introspection(introspection) => introspection.validate(token, now).await,
            // Config guarantees [introspection] on `introspect = true` routes; refuse
            // rather than skip if not.
            Validator::Jwt(_) if introspect_too => {
                Err(ValidateError::Invalid(TokenProblem::Unverified))
            }
            Validator::Jwt(jwt) => match local(jwt, token, now).await {
                Some(result) => result,
                None => Err(ValidateError::Invalid(TokenProblem::Unverified)),
            },
            Validator::Both { jwt, introspection } => match local(jwt, token, now).await {
                Some(Ok(info)) if introspect_too => {
                    // Active at the endpoint too; the identity still comes from the JWT.
                    introspection.validate(token, now).await?;
                    Ok(info)
                }
                Some(result) => result,
                None => introspection.validate(token, now).await,
            },
        }
    }

    /// The introspection endpoint's cache, without `[introspection]` none.
    pub fn introspector(&self) -> Option<&Arc<Introspector>> {
        match self {
            Validator::Introspection(i)
            | Validator::Both {
                introspection: i, ..
            } => Some(&i.introspector),
            Validator::Jwt(_) => None,
        }
    }

    /// What cached answers keep (docs/reference.md#cache-entry-size).
    pub fn needs(&self) -> &Arc<Needs> {
        match self {
            Validator::Introspection(i)
            | Validator::Both {
                introspection: i, ..
            } => i.introspector.needs(),
            Validator::Jwt(jwt) => jwt.needs(),
        }
    }

    /// The `[[jwt]]` issuers, without any none.
    pub fn jwt(&self) -> Option<&JwtValidator> {
        match self {
            Validator::Jwt(jwt) | Validator::Both { jwt, .. } => Some(jwt),
            Validator::Introspection(_) => None,
        }
    }

    /// docs/reference.md#health-and-readiness: ready unless a `[[jwt]]` issuer has never
    /// had a usable key set. The authorization server's health is not readiness.
    pub fn is_ready(&self) -> bool {
        self.jwt().is_none_or(JwtValidator::is_ready)
    }

    /// Evicts cached introspection answers and validated JWTs (docs/reference.md#purge).
    pub async fn purge(&self, purge: &Purge) {
        if let Some(introspector) = self.introspector() {
            introspector.purge(purge).await;
        }
        if let Some(jwt) = self.jwt() {
            jwt.purge(purge).await;
        }
    }
}

/// A JWT of a configured issuer, validated locally; `None`: not one.
async fn local(
    jwt: &JwtValidator,
    token: &BearerToken,
    now: i64,
) -> Option<Result<Arc<TokenInfo>, ValidateError>> {
    match jwt.validate(token.expose(), now).await {
        Verdict::Valid(info) => Some(Ok(info)),
        Verdict::Invalid(problem) => Some(Err(ValidateError::Invalid(problem))),
        Verdict::Unavailable => Some(Err(ValidateError::KeysUnavailable)),
        Verdict::NotJwt => None,
    }
}

// === impl Introspection ===

impl Introspection {
    /// docs/reference.md#validation: the cached or fresh introspection answer, checked.
    async fn validate(
        &self,
        token: &BearerToken,
        now: i64,
    ) -> Result<Arc<TokenInfo>, ValidateError> {
        let info = self
            .introspector
            .introspect(token)
            .await
            .map_err(ValidateError::AuthServer)?;
        info.check(now, &self.expect)
            .map_err(ValidateError::Invalid)?;
        Ok(info)
    }
}

#[cfg(test)]
#[path = "validator/tests.rs"]
mod tests;
