//! `Authorization` header parsing (RFC 6750 §2.1, docs/reference.md#token-extraction).
//!
//! Invariants (any violation panics):
//! 1. `token::is_b64token` agrees with the RFC 6750 §2.1 grammar on any bytes.
//! 2. `token::parse_authorization` never panics on any valid `HeaderValue`.
//! 3. It returns a token only when the value is `Bearer` (any case), one or more
//!    spaces, then the token; the token is a b64token and a suffix of the header value
//!    (nothing trimmed, nothing decoded, nothing added).
//! 4. `Ok(None)` only for another scheme (the first space-delimited word is not
//!    `bearer`); an error only for a `Bearer` credential that is not `1*SP b64token`,
//!    and always `invalid_token` / malformed.
//! 5. Through `token::extract` (header source only, `forward = false`): the same token
//!    is found, tagged `Header`, and the `Authorization` header is gone from what is
//!    forwarded; with two `Authorization` headers the request is `invalid_request`.

#![no_main]

use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use scopegate::internals::config::{TokenConfig, TokenSources};
use scopegate::internals::rejection::{Rejection, TokenProblem};
use scopegate::internals::token::{self, TokenSource};

fuzz_target!(|data: &[u8]| {
    assert_eq!(
        token::is_b64token(data),
        oracle::is_b64token(data),
        "is_b64token({data:?})"
    );
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let scheme_end = data.iter().position(|&b| b == b' ').unwrap_or(data.len());
    let is_bearer = data[..scheme_end].eq_ignore_ascii_case(b"bearer");
    let credential_start = scheme_end
        + data[scheme_end..]
            .iter()
            .take_while(|&&b| b == b' ')
            .count();
    let credential = &data[credential_start..];
    let well_formed = is_bearer && credential_start > scheme_end && oracle::is_b64token(credential);

    let parsed = token::parse_authorization(&value);
    match &parsed {
        Ok(Some(tok)) => {
            let t = tok.expose();
            assert!(well_formed, "token from a malformed credential {data:?}");
            assert!(oracle::is_b64token(t), "token {t:?} is not a b64token");
            assert!(data.ends_with(t), "token {t:?} is not a suffix of {data:?}");
            assert_eq!(t, credential, "token is not the whole credential");
        }
        Ok(None) => assert!(!is_bearer, "Bearer scheme ignored in {data:?}"),
        Err(Rejection::InvalidToken(TokenProblem::Malformed)) => {
            assert!(is_bearer && !well_formed, "well-formed {data:?} refused")
        }
        Err(e) => panic!("unexpected rejection {e:?} for {data:?}"),
    }

    // The same value through the extraction entry point.
    let config = TokenConfig {
        sources: TokenSources {
            header: true,
            form: false,
            query: false,
        },
        max_form_body: 1024,
        forward: false,
        realm: "fuzz".into(),
    };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value.clone());
    let out = oracle::ready(token::extract(
        &config,
        &Method::GET,
        &mut headers,
        None,
        &mut scopegate::internals::body::empty(),
        Duration::from_secs(1),
    ));
    match (&parsed, out) {
        (Ok(Some(tok)), Ok(ext)) => {
            let (found, source) = ext.token.expect("token found by extract");
            assert_eq!(&found, tok);
            assert_eq!(source, TokenSource::Header);
            assert!(
                headers.get(AUTHORIZATION).is_none(),
                "Authorization forwarded with forward = false"
            );
        }
        (Ok(None), Ok(ext)) => {
            assert!(ext.token.is_none());
            assert_eq!(
                headers.get(AUTHORIZATION),
                Some(&value),
                "other scheme must be kept"
            );
        }
        (Err(_), Err(Rejection::InvalidToken(TokenProblem::Malformed))) => {}
        (p, o) => panic!("parse_authorization {p:?} but extract {o:?}"),
    }

    headers.insert(AUTHORIZATION, value.clone());
    headers.append(AUTHORIZATION, value);
    let out = oracle::ready(token::extract(
        &config,
        &Method::GET,
        &mut headers,
        None,
        &mut scopegate::internals::body::empty(),
        Duration::from_secs(1),
    ));
    assert!(
        matches!(out, Err(Rejection::InvalidRequest(_))),
        "two Authorization headers: {out:?}"
    );
});
