//! raw → [`Config`]: cross-field rules, secrets read, routes compiled, warnings.

use std::path::Path;

use super::{Config, ConfigError};

pub(crate) fn validate(path: &Path, _text: &str) -> Result<Config, ConfigError> {
    Err(ConfigError::Invalid(format!(
        "{}: config loading is not implemented yet",
        path.display()
    )))
}

pub(crate) fn describe(config: &Config) -> String {
    let mut out = String::new();
    for w in &config.warnings {
        out.push_str("warning: ");
        out.push_str(w);
        out.push('\n');
    }
    out
}
