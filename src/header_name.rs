//! Header names as CGI-style backends see them (docs/reference.md#header-name-matching).
//!
//! PHP, Python WSGI and many frameworks turn `X-Auth-Subject` and `X_Auth_Subject` into
//! the same variable (`HTTP_X_AUTH_SUBJECT`), so every name scopegate removes or sets is
//! compared after mapping `_` to `-`. One rule, used by identity stripping, forwarding
//! and field filtering, so no path can spell a name the others miss.

use std::borrow::Cow;

/// `name` with `_` mapped to `-`; borrowed when it has none (the common case).
/// Header names from `http` are already lower case.
pub(crate) fn canonical(name: &str) -> Cow<'_, str> {
    // A byte scan: `str::contains(char)` runs a general searcher, per header per request.
    if name.as_bytes().contains(&b'_') {
        Cow::Owned(name.replace('_', "-"))
    } else {
        Cow::Borrowed(name)
    }
}

/// Whether `candidate` names the lower-case, `-`-spelled `canonical` header, ignoring
/// ASCII case and mapping `_` to `-`. Allocates nothing.
pub(crate) fn same(canonical: &str, candidate: &str) -> bool {
    canonical.len() == candidate.len()
        && canonical.bytes().zip(candidate.bytes()).all(|(a, b)| {
            a == if b == b'_' {
                b'-'
            } else {
                b.to_ascii_lowercase()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn underscores_and_case_do_not_make_another_name() {
        for spelling in [
            "x-auth-subject",
            "X-Auth-Subject",
            "x_auth_subject",
            "X_AUTH-subject",
        ] {
            assert!(same("x-auth-subject", spelling), "{spelling}");
        }
        assert!(!same("x-auth-subject", "x-auth-subjects"));
        assert!(!same("x-auth-subject", "x-auth.subject"));
        assert!(!same("range", "if-range"));
    }

    #[test]
    fn canonical_borrows_unless_it_must_map() {
        assert!(matches!(canonical("range"), Cow::Borrowed("range")));
        assert_eq!(canonical("if_range"), "if-range");
    }
}
