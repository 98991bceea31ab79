use super::*;

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap()
}

#[test]
fn bearer_scheme_is_case_insensitive() {
    for v in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc"] {
        let t = parse_authorization(&hv(v)).unwrap().unwrap();
        assert_eq!(t.expose(), b"abc", "{v}");
    }
}

#[test]
fn other_schemes_are_not_bearer_tokens() {
    for v in ["Basic dXNlcjpwYXNz", "Bearerx abc", "Token abc", "Digest x"] {
        assert!(parse_authorization(&hv(v)).unwrap().is_none(), "{v}");
    }
}

#[test]
fn malformed_bearer_credentials_are_invalid_token() {
    for v in [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer a,b",
        "Bearer ===",
        "Bearer \"abc\"",
        "Bearer a\tb",
    ] {
        let err = parse_authorization(&hv(v)).unwrap_err();
        assert!(
            matches!(err, Rejection::InvalidToken(TokenProblem::Malformed)),
            "{v}"
        );
    }
}

#[test]
fn b64token_grammar() {
    for ok in ["a", "A-._~+/9", "abc==", "x="] {
        assert!(is_b64token(ok.as_bytes()), "{ok}");
    }
    for bad in ["", "=", "a=b", "a b", "é", "a;b", "a\0"] {
        assert!(!is_b64token(bad.as_bytes()), "{bad}");
    }
}

#[test]
fn query_token_is_removed_leaving_the_rest_byte_identical() {
    let (t, rest) = take_param(b"a=1&access_token=tok&b=%20x&&c")
        .unwrap()
        .unwrap();
    assert_eq!(t.expose(), b"tok");
    assert_eq!(rest, b"a=1&b=%20x&&c");
    let (_, rest) = take_param(b"access_token=tok").unwrap().unwrap();
    assert_eq!(rest, b"");
    let (_, rest) = take_param(b"access%5Ftoken=tok&z=1").unwrap().unwrap();
    assert_eq!(rest, b"z=1");
}

#[test]
fn parameter_twice_is_invalid_request() {
    let err = take_param(b"access_token=a&access_token=b").unwrap_err();
    assert!(matches!(err, Rejection::InvalidRequest(_)));
}

#[test]
fn absent_parameter_is_none() {
    assert!(take_param(b"a=1&access_tokens=x").unwrap().is_none());
    assert!(take_param(b"").unwrap().is_none());
}

#[test]
fn empty_or_non_ascii_parameter_is_malformed() {
    for q in ["access_token=", "access_token=a+b", "access_token=%C3%A9"] {
        assert!(
            matches!(
                take_param(q.as_bytes()),
                Err(Rejection::InvalidToken(TokenProblem::Malformed))
            ),
            "{q}"
        );
    }
}

#[test]
fn debug_never_shows_the_token() {
    let t = parse_authorization(&hv("Bearer s3cr3t")).unwrap().unwrap();
    assert!(!format!("{t:?}").contains("s3cr3t"));
}
