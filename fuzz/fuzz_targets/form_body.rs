//! The form-body parser (RFC 6750 §2.2; docs/reference.md#token-extraction), `token::take_param`, called as
//! the form branch of `token::extract` calls it: on the raw body bytes, UTF-8 or not.
//!
//! Reference parser, written from the WHATWG urlencoded rules and sharing no code with
//! `src/`: split on `&`; a piece's name is the text up to its first `=` (or all of it),
//! `+` is a space, `%XX` decoded, malformed escapes kept as they are, then UTF-8 with
//! replacement; the value is the text after the first `=`, decoded the same way.
//!
//! Invariants (any violation panics):
//! 1. `take_param` never panics, on any bytes.
//! 2. No piece named `access_token`: `Ok(None)` (the body is forwarded unchanged).
//! 3. Pieces are read in order and the first problem decides: when the first
//!    `access_token` piece's value is not a b64token, `invalid_token` (malformed);
//!    otherwise a second `access_token` piece is `invalid_request`. A repeated
//!    parameter is never accepted, whichever copy is valid.
//! 4. Exactly one, with a b64token value: that decoded value, byte for byte, is the
//!    token; and the rest is every other piece, byte for byte, in order, joined by `&`
//!    (empty pieces and non-UTF-8 bytes included), so its length is the body's minus
//!    the token piece and one `&`.
//! 5. The rest never carries the token: re-parsed by the reference it has no
//!    `access_token` piece, and `take_param` on it is `Ok(None)`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scopegate::internals::rejection::{Rejection, TokenProblem};
use scopegate::internals::token;

fuzz_target!(|body: &[u8]| {
    let out = token::take_param(body);

    let pieces: Vec<&[u8]> = body.split(|&b| b == b'&').collect();
    let (named, others): (Vec<&[u8]>, Vec<&[u8]>) = pieces
        .iter()
        .partition(|p| oracle::form_name(p) == "access_token");

    let Some(first) = named.first() else {
        assert!(
            matches!(out, Ok(None)),
            "{body:?} has no access_token but gave {out:?}"
        );
        return;
    };
    let value = oracle::form_value(first);
    if !oracle::is_b64token(value.as_bytes()) {
        assert!(
            matches!(out, Err(Rejection::InvalidToken(TokenProblem::Malformed))),
            "malformed (first) access_token in {body:?} gave {out:?}"
        );
        return;
    }
    if named.len() > 1 {
        assert!(
            matches!(out, Err(Rejection::InvalidRequest(_))),
            "repeated access_token in {body:?} gave {out:?}"
        );
        return;
    }

    let (tok, rest) = match out {
        Ok(Some(found)) => found,
        other => panic!("{body:?} carries one valid access_token but gave {other:?}"),
    };
    assert_eq!(tok.expose(), value.as_bytes(), "token value of {body:?}");
    assert_eq!(rest, others.join(&b'&'), "rest of {body:?}");
    let separators = usize::from(!others.is_empty());
    assert_eq!(
        rest.len(),
        body.len() - first.len() - separators,
        "length of the rest of {body:?}"
    );
    assert!(
        rest.split(|&b| b == b'&')
            .all(|p| oracle::form_name(p) != "access_token"),
        "access_token left in the rest {rest:?} of {body:?}"
    );
    assert!(
        matches!(token::take_param(&rest), Ok(None)),
        "take_param finds a token in its own rest {rest:?} of {body:?}"
    );
});
