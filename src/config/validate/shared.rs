//! `[introspection.cache.shared]` (docs/reference.md#shared-cache): the Redis level. The
//! key file and password are read here, so `scopegate check` verifies them; nothing
//! connects to Redis.

use std::path::PathBuf;

use toml::Spanned;

use super::{raw, trim_newlines_bytes, Checker};
use crate::config::units::NonEmpty;
use crate::introspect::shared::{
    Password, SharedSettings, DEFAULT_PREFIX, DEFAULT_TIMEOUT, MIN_KEY_BYTES,
};

const TABLE: &str = "introspection.cache.shared";

pub(super) fn compile(cx: &mut Checker<'_>, raw: Spanned<raw::SharedCache>) -> SharedSettings {
    let start = raw.span().start;
    let raw = raw.into_inner();
    let (url, tls) = {
        let url = raw.url.into_inner();
        (url.0, url.1)
    };
    let key = match raw.key_file {
        Some(file) => key_file(cx, file),
        None => {
            cx.error(
                Some(start..start),
                TABLE,
                format!("missing key key_file; expected a file of at least {MIN_KEY_BYTES} random bytes, the same on every replica"),
            );
            Vec::new()
        }
    };
    let password = match (raw.password_file, raw.password_env) {
        (Some(file), Some(env)) => {
            let (span, key, other) = match file.span().start > env.span().start {
                true => (file.span(), "password_file", "password_env"),
                false => (env.span(), "password_env", "password_file"),
            };
            let message = format!("{other} is set too; expected at most one of the two");
            cx.error(Some(span), format!("{TABLE}.{key}"), message);
            None
        }
        (Some(file), None) => {
            let span = file.span();
            match cx.read_secret_file(file, "introspection.cache.shared.password_file") {
                Ok(text) => Some(Password(text)),
                Err((key, message)) => {
                    cx.error(Some(span), key, message);
                    None
                }
            }
        }
        (None, Some(env)) => {
            let span = env.span();
            match password_env(env.into_inner()) {
                Ok(text) => Some(Password(text)),
                Err(message) => {
                    cx.error(Some(span), format!("{TABLE}.password_env"), message);
                    None
                }
            }
        }
        (None, None) => None,
    };
    let ca_file = match raw.ca_file {
        Some(path) if !tls => {
            cx.error(
                Some(path.span()),
                format!("{TABLE}.ca_file"),
                "ca_file needs a rediss:// url (TLS); expected rediss:// or no ca_file",
            );
            None
        }
        Some(path) => Some(cx.file(path, &format!("{TABLE}.ca_file"))),
        None => None,
    };
    SharedSettings {
        url,
        key,
        username: raw.username.map(|u| u.0),
        password,
        prefix: raw
            .prefix
            .map_or_else(|| DEFAULT_PREFIX.to_owned(), |p| p.0),
        timeout: raw.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0),
        ca_file,
    }
}

/// The key file's bytes (any bytes, not only text), trailing newlines trimmed; too
/// short is an error naming the file and the length, never the content.
fn key_file(cx: &mut Checker<'_>, file: Spanned<PathBuf>) -> Vec<u8> {
    let span = file.span();
    let path = cx.dir.join(file.into_inner());
    let key = format!("{TABLE}.key_file");
    match std::fs::read(&path) {
        Err(e) => {
            cx.error(
                Some(span),
                key,
                format!("cannot read {:?}: {e}", path.display()),
            );
            Vec::new()
        }
        Ok(bytes) => {
            let bytes = trim_newlines_bytes(bytes);
            if bytes.len() < MIN_KEY_BYTES {
                cx.error(
                    Some(span),
                    key,
                    format!(
                        "{:?} holds {} bytes; expected at least {MIN_KEY_BYTES} random bytes (like `head -c 32 /dev/urandom | base64`)",
                        path.display(),
                        bytes.len()
                    ),
                );
            }
            bytes
        }
    }
}

fn password_env(name: NonEmpty) -> Result<String, String> {
    let name = name.0;
    match std::env::var_os(&name).map(|v| v.into_string()) {
        None => Err(format!("environment variable {name} is not set")),
        Some(Err(_)) => Err(format!("environment variable {name} is not valid UTF-8")),
        Some(Ok(text)) => {
            let len = text.trim_end_matches(['\n', '\r']).len();
            match &text[..len] {
                "" => Err(format!("environment variable {name} is empty")),
                value => Ok(value.to_owned()),
            }
        }
    }
}
