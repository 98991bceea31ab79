//! The `access_token` parameter parser (RFC 6750 §2.2 form body, §2.3 query;
//! docs/reference.md#token-extraction), `token::take_param`.
//!
//! `take_param` is private, and the form branch of `token::extract` needs a
//! `hyper::body::Incoming`, which only hyper can build; so this target reaches the
//! parser through `token::extract`'s query branch (`sources.query` only). That covers
//! every UTF-8 input; form bodies that are not UTF-8 are not reached (see README).
//!
//! Invariants (any violation panics), with a reference parser written from the WHATWG
//! urlencoded rules (split on `&`, name up to the first `=`, `+` = space, `%XX`):
//! 1. `extract` never panics, and completes without waiting (no body to read).
//! 2. No piece named `access_token` (after decoding): no token, query left untouched.
//! 3. Two or more such pieces: `invalid_request` (or `invalid_token` when the first
//!    copy is malformed: pieces are read in order), never a token.
//! 4. Exactly one: if its decoded value is a b64token, that value is the token (source
//!    `Query`), else `invalid_token` / malformed.
//! 5. With `forward = false` the forwarded query is every other piece, byte for byte,
//!    in order, joined by `&`; re-parsed, it holds no `access_token` parameter (the
//!    token is never forwarded). With `forward = true` the query is not rewritten.

#![no_main]

use std::time::Duration;

use http::{HeaderMap, Method};
use libfuzzer_sys::fuzz_target;
use scopegate::internals::config::{TokenConfig, TokenSources};
use scopegate::internals::rejection::{Rejection, TokenProblem};
use scopegate::internals::token::{self, TokenSource};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    for forward in [false, true] {
        check(query, forward);
    }
});

fn check(query: &str, forward: bool) {
    let config = TokenConfig {
        sources: TokenSources {
            header: false,
            form: true,
            query: true,
        },
        max_form_body: 1024,
        forward,
        realm: "fuzz".into(),
    };
    let out = oracle::ready(token::extract(
        &config,
        &Method::GET,
        &mut HeaderMap::new(),
        Some(query),
        &mut scopegate::internals::body::empty(),
        Duration::from_secs(1),
    ));

    let pieces: Vec<&str> = query.split('&').collect();
    let (named, others): (Vec<&str>, Vec<&str>) = pieces
        .iter()
        .partition(|p| oracle::form_name(p.as_bytes()) == "access_token");
    match named.as_slice() {
        [] => {
            let ext = out.unwrap_or_else(|e| panic!("{query:?} has no token but {e:?}"));
            assert!(ext.token.is_none() && ext.query.is_none() && ext.body.is_none());
        }
        [piece] => {
            let value = oracle::form_value(piece.as_bytes());
            if oracle::is_b64token(value.as_bytes()) {
                let ext = out.unwrap_or_else(|e| panic!("{query:?}: {e:?}"));
                let (tok, source) = ext.token.expect("token found");
                assert_eq!(tok.expose(), value.as_bytes(), "token value of {query:?}");
                assert_eq!(source, TokenSource::Query);
                if forward {
                    assert!(ext.query.is_none(), "query rewritten with forward = true");
                } else {
                    let rest = ext.query.expect("query rewritten with forward = false");
                    assert_eq!(rest, others.join("&"), "forwarded query of {query:?}");
                    assert!(
                        rest.split('&')
                            .all(|p| oracle::form_name(p.as_bytes()) != "access_token"),
                        "access_token forwarded in {rest:?}"
                    );
                }
            } else {
                assert!(
                    matches!(out, Err(Rejection::InvalidToken(TokenProblem::Malformed))),
                    "malformed token in {query:?} gave {out:?}"
                );
            }
        }
        // Pieces are read in order: a malformed first copy is reported as such.
        [first, ..] if !oracle::is_b64token(oracle::form_value(first.as_bytes()).as_bytes()) => {
            assert!(
                matches!(out, Err(Rejection::InvalidToken(TokenProblem::Malformed))),
                "malformed first of repeated access_token in {query:?} gave {out:?}"
            )
        }
        _ => assert!(
            matches!(out, Err(Rejection::InvalidRequest(_))),
            "repeated access_token in {query:?} gave {out:?}"
        ),
    }
}
