//! `ConfigError`: file:line:col, the key, and what was expected. Never a secret.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read config file", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Any parse or validation problem, already rendered as
    /// `file:line:col: key: what was expected`.
    #[error("{0}")]
    Invalid(String),
}
