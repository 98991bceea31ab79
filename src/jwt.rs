//! JWT access tokens (RFC 9068) validated locally (docs/reference.md#jwt-access-tokens).
//!
//! [`JwtValidator::validate`] sorts a token first: three dot-separated parts whose
//! header is a JSON object with `alg`, and whose unverified `iss` names a `[[jwt]]`
//! table, is validated here; anything else is [`Verdict::NotJwt`] and goes to
//! introspection. Validation never trusts the token to pick its own verification:
//!
//! 1. header: `alg` in the issuer's `algorithms` (never `none` or HS*, config refuses
//!    them), `typ` accepted, no `crit`; `jku`, `x5u`, `jwk`, `x5c` are never read;
//! 2. keys only from the configured JWKS, by `kid` (else every key of the `alg`'s type
//!    and curve), never a key whose `use`, `key_ops` or `alg` says otherwise
//!    ([`keys`]); an unknown `kid` causes one early re-fetch per 30 s per issuer;
//! 3. the signature, by `jsonwebtoken::crypto::verify` (ring);
//! 4. the claims: `iss`, `aud`, `exp` (required), `nbf`, `iat`, with `leeway`.
//!
//! A validated token is cached like an introspection answer (keyed by its SHA-256
//! digest, for `min(ttl, exp − now)`); a hit skips steps 1–3, never step 4's time
//! checks. The hit path is one digest, one lookup and one comparison with the token's
//! validity [`Window`], worked out once at insertion: no base64, no JSON, no claim-map
//! lookup per request. `iss` and `aud` need no second look: a cached token passed them,
//! and the cache is dropped whenever any issuer's table changes.

pub(crate) mod fetch;
pub(crate) mod keys;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use moka::future::Cache;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use self::fetch::{FetchError, Fetcher};
use self::keys::KeySet;
use crate::claims::{Needs, TokenInfo, TokenProblem};
use crate::config::{CacheConfig, JwksSource, JwtConfig};
use crate::introspect::shared::Evictor;
use crate::introspect::Purge;
use crate::metrics::Metrics;

/// At most one early (unknown `kid`) re-fetch per issuer this often (docs/reference.md#jwt-access-tokens).
pub(crate) const EARLY_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// While a fetch fails, the next is tried after this (or `jwks_refresh`, if shorter).
const RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// A header or payload larger than this is not a JWT anyone issues.
const MAX_PART_BYTES: usize = 64 * 1024;

/// The outcome of local validation.
#[derive(Debug)]
pub enum Verdict {
    /// Not a JWT of a configured issuer: introspect it (or refuse it without
    /// `[introspection]`).
    NotJwt,
    Valid(Arc<TokenInfo>),
    Invalid(TokenProblem),
    /// The issuer has never had a usable key set: 503, fail closed.
    Unavailable,
}

/// Every `[[jwt]]` issuer and the cache of validated tokens.
pub struct JwtValidator {
    issuers: Vec<Arc<Issuer>>,
    cache: JwtCache,
    cache_config: CacheConfig,
    metrics: Arc<Metrics>,
    /// What a cached token's answer keeps (docs/reference.md#cache-entry-size).
    needs: Arc<Needs>,
}

/// Validated JWTs by the SHA-256 of the whole token (header, payload and signature, so
/// no other token can hit an entry). The cache is the JWT validator's own, so the key
/// needs no domain prefix, and it is also the `token_sha256` that purge matches.
type JwtCache = Cache<[u8; 32], Cached>;

/// One validated JWT, stored by value in moka's node (48 bytes, no allocation of its
/// own): cloning it on a hit is one reference count.
#[derive(Clone)]
struct Cached {
    /// The answer the rest of the pipeline reads.
    info: Arc<TokenInfo>,
    /// When its time claims hold, checked again on every hit.
    window: Window,
    /// How long it answers, in whole milliseconds from `created` on [`crate::clock`]
    /// (moka keeps it as long, on its own clock): `min(ttl, exp − now)`.
    lifetime_ms: u32,
    created: Instant,
}

/// When a verified token's time claims hold: from `max(nbf, iat) − leeway` (inclusive)
/// until `exp + leeway` (exclusive), in Unix seconds (docs/reference.md#claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    from: i64,
    until: i64,
}

/// The claims step 4 checks (docs/reference.md#claims), taken from the verified token.
#[derive(Debug)]
struct Checked {
    iss: Option<Box<str>>,
    /// `aud` as a list: a string claim is a list of one; non-string array members are
    /// never equal to an audience and are left out.
    aud: Box<[Box<str>]>,
    /// `None`: absent or not a NumericDate (malformed: `exp` is required).
    exp: Option<i64>,
    nbf: Time,
    iat: Time,
}

/// An optional NumericDate claim.
#[derive(Debug, Clone, Copy)]
enum Time {
    Absent,
    At(i64),
    Malformed,
}

struct CachedExpiry;

/// One trusted issuer: its config and its last good key set.
pub(crate) struct Issuer {
    config: JwtConfig,
    keys: ArcSwapOption<KeySet>,
    fetcher: Fetcher,
    /// One fetch at a time; waiters then read the set it stored.
    fetch_lock: tokio::sync::Mutex<()>,
    last_early: Mutex<Option<Instant>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let issuers: Vec<_> = self.issuers.iter().map(|i| &i.config.issuer).collect();
        f.debug_struct("JwtValidator")
            .field("issuers", &issuers)
            .finish_non_exhaustive()
    }
}

// === impl JwtValidator ===

impl JwtValidator {
    /// Builds the validator. Issuers whose table is unchanged from `previous` are kept
    /// with their key sets and refresh tasks (docs/reference.md#reload); new ones start fetching
    /// at once when a tokio runtime is running (else on their first token).
    pub fn new(
        configs: &[JwtConfig],
        cache_config: &CacheConfig,
        previous: Option<&JwtValidator>,
        needs: Arc<Needs>,
        metrics: &Arc<Metrics>,
    ) -> Result<Self, crate::tls::TlsError> {
        let mut issuers = Vec::with_capacity(configs.len());
        for config in configs {
            let kept = previous
                .and_then(|p| p.issuers.iter().find(|i| i.config == *config))
                .cloned();
            let issuer = match kept {
                Some(issuer) => issuer,
                None => {
                    let issuer = Arc::new(Issuer {
                        fetcher: Fetcher::new(config.ca_file.as_deref(), config.timeout)?,
                        config: config.clone(),
                        keys: ArcSwapOption::empty(),
                        fetch_lock: tokio::sync::Mutex::new(()),
                        last_early: Mutex::new(None),
                        metrics: metrics.clone(),
                    });
                    spawn_refresh(&issuer);
                    issuer
                }
            };
            issuers.push(issuer);
        }
        // Validated tokens are only reused when every issuer, the cache settings and
        // the members kept are unchanged: a changed key source must not keep tokens
        // verified by old keys, and a config reading another claim needs it kept.
        let same = previous.filter(|p| {
            p.cache_config == *cache_config
                && p.needs.same_members(&needs)
                && p.issuers.len() == issuers.len()
                && p.issuers
                    .iter()
                    .zip(&issuers)
                    .all(|(a, b)| Arc::ptr_eq(a, b))
        });
        let cache = match same {
            Some(p) => p.cache.clone(),
            None => Cache::builder()
                .max_capacity(cache_config.max_entries)
                .expire_after(CachedExpiry)
                .build(),
        };
        Ok(Self {
            issuers,
            cache,
            cache_config: cache_config.clone(),
            metrics: metrics.clone(),
            needs,
        })
    }

    /// What a cached token's answer keeps.
    pub fn needs(&self) -> &Arc<Needs> {
        &self.needs
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// docs/reference.md#health-and-readiness: not ready while some issuer has never had a usable key set.
    pub fn is_ready(&self) -> bool {
        self.issuers.iter().all(|i| i.keys.load().is_some())
    }

    /// Validates `token` if it is a JWT of a configured issuer.
    pub async fn validate(&self, token: &[u8], now: i64) -> Verdict {
        if self.issuers.is_empty() || !has_two_dots(token) {
            return Verdict::NotJwt;
        }
        // One digest: the cache key on a hit, also the purge digest on a miss.
        let key: [u8; 32] = Sha256::digest(token).into();
        if let Some(entry) = self
            .cache
            .get(&key)
            .await
            .filter(|e| !crate::clock::has_passed(e.created, e.lifetime()))
        {
            // A hit skips the signature, never the time checks.
            let result = entry.window.check(now).map(|()| entry.info);
            return self.count(result.map_err(Failure::Invalid));
        }
        let Ok(text) = std::str::from_utf8(token) else {
            return Verdict::NotJwt;
        };
        let Some(jwt) = Parsed::split(text) else {
            return Verdict::NotJwt;
        };
        let Some(issuer) = self.issuer(jwt.claims.get("iss").and_then(Value::as_str)) else {
            return Verdict::NotJwt;
        };
        // Boxed: a cache hit never gets here, and verification's state (a possible JWKS
        // fetch) would otherwise widen every request's future.
        let verdict = match Box::pin(issuer.verify(jwt, now, &self.needs)).await {
            Ok((info, window, exp)) => {
                let info = Arc::new(info);
                let lifetime = self.cache_config.ttl.min(Duration::from_secs(
                    u64::try_from(exp.saturating_sub(now)).unwrap_or(0),
                ));
                let entry = Cached {
                    info: info.clone(),
                    window,
                    lifetime_ms: crate::clock::millis(lifetime),
                    created: crate::clock::now(),
                };
                self.cache.insert(key, entry).await;
                Ok(info)
            }
            Err(failure) => Err(failure),
        };
        self.count(verdict)
    }

    fn count(&self, result: Result<Arc<TokenInfo>, Failure>) -> Verdict {
        let (index, verdict) = match result {
            Ok(info) => (0, Verdict::Valid(info)),
            Err(Failure::Invalid(problem)) => (1, Verdict::Invalid(problem)),
            Err(Failure::Unavailable) => (2, Verdict::Unavailable),
        };
        self.metrics.jwt_validations[index].inc();
        verdict
    }

    fn issuer(&self, iss: Option<&str>) -> Option<&Arc<Issuer>> {
        let iss = iss?;
        self.issuers.iter().find(|i| i.config.issuer == iss)
    }

    /// Evicts matching validated tokens at once (docs/reference.md#purge).
    pub async fn purge(&self, purge: &Purge) {
        evict(&self.cache, purge).await;
    }

    /// Evicts from this validator's cache, for purges heard from other replicas
    /// (docs/reference.md#shared-cache); holds the cache, not the validator.
    pub fn purger(&self) -> Evictor {
        let cache = self.cache.clone();
        Evictor(Box::new(move |purge| {
            let cache = cache.clone();
            Box::pin(async move { evict(&cache, &purge).await })
        }))
    }
}

/// Evicts the validated tokens a purge covers: one pass over the entries for a
/// subject, as for introspection answers (no invalidation closures, ~32 B per entry).
async fn evict(cache: &JwtCache, purge: &Purge) {
    match purge {
        Purge::All => cache.invalidate_all(),
        Purge::Subject(subject) => {
            let keys: Vec<[u8; 32]> = cache
                .iter()
                .filter(|(_, entry)| entry.info.subject() == Some(subject.as_str()))
                .map(|(key, _)| *key)
                .collect();
            for key in keys {
                cache.invalidate(&key).await;
            }
        }
        // The key is the token's SHA-256 itself.
        Purge::TokenSha256(digest) => cache.invalidate(digest).await,
    }
}

// The trait's signature names std's Instant; we never read it.
#[allow(clippy::disallowed_types)]
impl moka::Expiry<[u8; 32], Cached> for CachedExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Cached,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.lifetime())
    }
}

// === impl Cached ===

impl Cached {
    fn lifetime(&self) -> Duration {
        Duration::from_millis(self.lifetime_ms.into())
    }
}

// === impl Window ===

impl Window {
    /// `exp` first, then `nbf`/`iat`: an expired token says so even if also early.
    fn check(self, now: i64) -> Result<(), TokenProblem> {
        if now >= self.until {
            return Err(TokenProblem::Expired);
        }
        if self.from > now {
            return Err(TokenProblem::NotYetValid);
        }
        Ok(())
    }
}

// === impl Checked ===

impl Checked {
    /// From the claims as verified (before the answer keeps only what the config reads).
    fn of(claims: &Map<String, Value>) -> Self {
        let aud = match claims.get("aud") {
            Some(Value::String(a)) => vec![Box::from(a.as_str())],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(Box::from)
                .collect(),
            _ => Vec::new(),
        };
        let time = |name| match claims.get(name) {
            None => Time::Absent,
            Some(value) => numeric(Some(value)).map_or(Time::Malformed, Time::At),
        };
        Self {
            iss: claims.get("iss").and_then(Value::as_str).map(Box::from),
            aud: aud.into_boxed_slice(),
            exp: numeric(claims.get("exp")),
            nbf: time("nbf"),
            iat: time("iat"),
        }
    }
}

/// Keeps an issuer's key set fresh every `jwks_refresh` (sooner while fetches fail);
/// ends when the issuer is dropped (a reload that removed or changed it).
fn spawn_refresh(issuer: &Arc<Issuer>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(issuer);
    runtime.spawn(async move {
        loop {
            let Some(issuer) = weak.upgrade() else { break };
            let ok = {
                let _one = issuer.fetch_lock.lock().await;
                issuer.refresh().await
            };
            let every = issuer.config.jwks_refresh;
            drop(issuer);
            let wait = if ok { every } else { every.min(RETRY_INTERVAL) };
            tokio::time::sleep(wait).await;
        }
    });
}

/// Why a JWT of a configured issuer was not accepted.
#[derive(Debug)]
enum Failure {
    Invalid(TokenProblem),
    Unavailable,
}

impl From<TokenProblem> for Failure {
    fn from(problem: TokenProblem) -> Self {
        Failure::Invalid(problem)
    }
}

/// A JWS compact serialization, split and decoded but not verified.
struct Parsed<'t> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// `header.payload`, the signing input.
    signing_input: &'t str,
    signature: &'t str,
}

impl<'t> Parsed<'t> {
    /// docs/reference.md#which-validator: three parts, the first a JSON object with `alg`.
    fn split(token: &'t str) -> Option<Self> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        let header = decode_object(header)?;
        if !header.contains_key("alg") {
            return None;
        }
        let claims = decode_object(payload)?;
        Some(Self {
            header,
            claims,
            signing_input,
            signature,
        })
    }
}

fn decode_object(part: &str) -> Option<Map<String, Value>> {
    if part.len() > MAX_PART_BYTES {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    crate::introspect::client::parse_object(&bytes)
}

// === impl Issuer ===

impl Issuer {
    async fn verify(
        &self,
        jwt: Parsed<'_>,
        now: i64,
        needs: &Needs,
    ) -> Result<(TokenInfo, Window, i64), Failure> {
        // 1. Header, before any key is looked at.
        let alg_name = jwt.header.get("alg").and_then(Value::as_str);
        let alg = alg_name
            .and_then(keys::algorithm)
            .filter(|a| self.config.algorithms.contains(a))
            .ok_or(TokenProblem::Unverified)?;
        let alg_name = alg_name.unwrap_or_default();
        let typ = jwt.header.get("typ").and_then(Value::as_str);
        let typ_ok = typ.is_some_and(|t| {
            self.config
                .typ
                .contains(&crate::config::validate::normalize_typ(t))
        });
        if !typ_ok || jwt.header.contains_key("crit") {
            return Err(TokenProblem::Unverified.into());
        }
        let kid = match jwt.header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenProblem::Unverified.into()),
        };

        // 2. Keys from the configured JWKS only.
        let mut set = self.keys.load_full();
        let known = |set: &Option<Arc<KeySet>>| match (set, kid) {
            (None, _) => false,
            (Some(set), Some(kid)) => set.has_kid(kid),
            (Some(_), None) => true,
        };
        if !known(&set) {
            self.early_refresh().await;
            set = self.keys.load_full();
        }
        let Some(set) = set else {
            return Err(Failure::Unavailable);
        };

        // 3. The signature, by any candidate key.
        let verified = set.candidates(kid, alg, alg_name).any(|key| {
            jsonwebtoken::crypto::verify(
                jwt.signature,
                jwt.signing_input.as_bytes(),
                &key.decoding,
                alg,
            )
            .unwrap_or(false)
        });
        if !verified {
            return Err(TokenProblem::Unverified.into());
        }

        // 4. Claims, then the answer the rest of the pipeline reads.
        let claims = Checked::of(&jwt.claims);
        let info = self.token_info(jwt.claims, needs)?;
        let window = self.check_claims(&claims, now)?;
        // `exp` is there: check_claims refuses a token without it.
        Ok((info, window, claims.exp.unwrap_or(now)))
    }

    /// The claims as an introspection-style answer: `active`, `scope` from
    /// `scope_claim` (a string or an array of strings), `client_id` else `azp`.
    fn token_info(
        &self,
        mut claims: Map<String, Value>,
        needs: &Needs,
    ) -> Result<TokenInfo, TokenProblem> {
        let scope = match claims.get(&self.config.scope_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(list)) => {
                let mut scopes = Vec::with_capacity(list.len());
                for item in list {
                    scopes.push(item.as_str().ok_or(TokenProblem::Malformed)?);
                }
                Some(scopes.join(" "))
            }
            Some(_) => return Err(TokenProblem::Malformed),
        };
        claims.remove("scope");
        if let Some(scope) = scope {
            claims.insert("scope".into(), Value::String(scope));
        }
        if !claims.contains_key("client_id") {
            if let Some(azp) = claims.get("azp").cloned() {
                claims.insert("client_id".into(), azp);
            }
        }
        claims.insert("active".into(), Value::Bool(true));
        TokenInfo::compact(&claims, needs).map_err(|_| TokenProblem::Malformed)
    }

    /// docs/reference.md#claims: every claim of a fresh token, and the window its time
    /// claims hold in, which [`Window::check`] applies to it now and on every cache hit.
    fn check_claims(&self, claims: &Checked, now: i64) -> Result<Window, TokenProblem> {
        let leeway = i64::try_from(self.config.leeway.as_secs()).unwrap_or(i64::MAX);
        if claims.iss.as_deref() != Some(self.config.issuer.as_str()) {
            return Err(TokenProblem::WrongIssuer);
        }
        let audience = self.config.audience.as_str();
        if !claims.aud.iter().any(|a| **a == *audience) {
            return Err(TokenProblem::WrongAudience);
        }
        let exp = claims.exp.ok_or(TokenProblem::Malformed)?;
        let mut from = i64::MIN;
        for at in [claims.nbf, claims.iat] {
            match at {
                Time::Absent => {}
                Time::Malformed => return Err(TokenProblem::Malformed),
                Time::At(at) => from = from.max(at.saturating_sub(leeway)),
            }
        }
        let window = Window {
            from,
            until: exp.saturating_add(leeway),
        };
        window.check(now)?;
        Ok(window)
    }

    /// An unknown `kid` (or no key set yet): one re-fetch, at most once per 30 s.
    async fn early_refresh(&self) {
        let _one = self.fetch_lock.lock().await;
        {
            let Ok(mut last) = self.last_early.lock() else {
                return;
            };
            if last.is_some_and(|t| t.elapsed() < EARLY_REFETCH_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.refresh().await;
    }

    /// One fetch; a failure keeps the last good set.
    async fn refresh(&self) -> bool {
        match self.fetch().await {
            Ok(set) => {
                tracing::debug!(issuer = %self.config.issuer, keys = set.len(), "JWKS fetched");
                self.keys.store(Some(Arc::new(set)));
                self.metrics.jwks_fetches[0].inc();
                true
            }
            Err(error) => {
                let kept = self.keys.load().is_some();
                tracing::warn!(issuer = %self.config.issuer, error = %error, last_good_set_kept = kept, "JWKS fetch failed");
                self.metrics.jwks_fetches[1].inc();
                false
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, FetchError> {
        let jwks_uri = match &self.config.keys {
            JwksSource::JwksUri(uri) => uri.clone(),
            JwksSource::Metadata(url) => {
                let doc = self.fetcher.get_json(url).await?;
                if doc.get("issuer").and_then(Value::as_str) != Some(self.config.issuer.as_str()) {
                    return Err(FetchError::Invalid(
                        "the metadata's issuer differs from the configured issuer",
                    ));
                }
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .and_then(|u| u.parse::<http::Uri>().ok())
                    .filter(|u| matches!(u.scheme_str(), Some("http" | "https")))
                    .filter(|u| u.authority().is_some())
                    .ok_or(FetchError::Invalid("the metadata has no http(s) jwks_uri"))?
            }
        };
        let doc = self.fetcher.get_json(&jwks_uri).await?;
        KeySet::parse(&Value::Object(doc)).map_err(FetchError::Invalid)
    }
}

/// Exactly two `.` (docs/reference.md#which-validator): a byte-wide count per chunk, which
/// compiles to 16 bytes per step (a `usize` count widens to 4 bytes per step, a quarter of
/// a cached decision's time on a 350-byte token).
fn has_two_dots(token: &[u8]) -> bool {
    let mut dots = 0usize;
    for chunk in token.chunks(255) {
        let n = chunk
            .iter()
            .fold(0u8, |n, b| n.wrapping_add(u8::from(*b == b'.')));
        dots += usize::from(n);
        if dots > 2 {
            return false;
        }
    }
    dots == 2
}

/// A NumericDate (RFC 7519 §2): seconds, possibly fractional.
fn numeric(value: Option<&Value>) -> Option<i64> {
    let n = value?.as_number()?;
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::{has_two_dots, Cached, Window};
    use crate::claims::TokenProblem;

    #[test]
    fn a_window_holds_from_its_start_until_before_its_end() {
        let window = Window {
            from: 100,
            until: 200,
        };
        assert_eq!(window.check(99), Err(TokenProblem::NotYetValid));
        assert_eq!(window.check(100), Ok(()));
        assert_eq!(window.check(199), Ok(()));
        assert_eq!(window.check(200), Err(TokenProblem::Expired));
        // Both wrong (a clock far off): expiry is what the caller hears.
        let odd = Window {
            from: 300,
            until: 200,
        };
        assert_eq!(odd.check(250), Err(TokenProblem::Expired));
    }

    #[test]
    fn a_cached_token_is_48_bytes_in_the_cache_node() {
        assert_eq!(std::mem::size_of::<Cached>(), 48);
    }

    #[test]
    fn two_dots_exactly_at_any_length() {
        assert!(has_two_dots(b"a.b.c"));
        assert!(has_two_dots(b".."));
        assert!(!has_two_dots(b"a.b"));
        assert!(!has_two_dots(b"a.b.c.d.e"));
        assert!(!has_two_dots(b""));
        // Across the 255-byte chunks, and 256 dots (a u8 count would wrap to 0).
        let mut long = vec![b'x'; 1000];
        long[3] = b'.';
        long[600] = b'.';
        assert!(has_two_dots(&long));
        long[254] = b'.';
        assert!(!has_two_dots(&long));
        assert!(!has_two_dots(&[b'.'; 256]));
        assert!(!has_two_dots(&[b'.'; 258]));
    }
}
