//! Secrets read at load (client secrets, the admin bearer, the Redis password): a type
//! whose `Debug` never shows the value and that has no `Display`, so no log line or
//! error message can carry one by accident.

use std::fmt;

/// A secret read at load (client secret). `Debug` never shows it, and there is no
/// `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

// === impl Secret ===

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
