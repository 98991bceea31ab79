//! Path safety (SPEC §3.1): a pure check that the path is in normal form, so the path
//! that is authorized is the path that is forwarded, byte for byte.

/// Why a path was refused (for logs and tests; the client always gets the same 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    #[error("path does not start with '/'")]
    NotAbsolute,
}

/// Accepts `path` (no query) only if it is in normal form.
pub fn check(path: &str) -> Result<(), UnsafePath> {
    if !path.starts_with('/') {
        return Err(UnsafePath::NotAbsolute);
    }
    Ok(())
}
