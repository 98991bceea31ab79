//! `[introspection.cache.shared]` (docs/reference.md#shared-cache): defaults, the key
//! file rule, and the errors a user sees. Nothing here connects to Redis.

use std::io::Write;
use std::time::Duration;

use super::{error, load, with, PUBLIC_ROUTE};

fn key_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

fn table(body: &str) -> String {
    with(&format!(
        "[introspection.cache.shared]\n{body}\n{PUBLIC_ROUTE}"
    ))
}

#[test]
fn defaults_and_key_file_trimmed() {
    let key = key_file(
        &[b'k'; 32]
            .iter()
            .chain(b"\n\n")
            .copied()
            .collect::<Vec<_>>(),
    );
    let text = table(&format!(
        "url = \"redis://127.0.0.1:6379/0\"\nkey_file = {:?}",
        key.path().display().to_string()
    ));
    let config = load(&text).unwrap();
    let shared = config.cache().shared.unwrap();
    assert_eq!(shared.url, "redis://127.0.0.1:6379/0");
    assert_eq!(shared.key, vec![b'k'; 32]);
    assert_eq!(shared.prefix, "scopegate:");
    assert_eq!(shared.timeout, Duration::from_millis(50));
    assert!(shared.password.is_none() && shared.username.is_none() && shared.ca_file.is_none());
}

#[test]
fn explicit_values_and_password_env() {
    let key = key_file(&[7u8; 40]);
    let text = table(&format!(
        "url = \"rediss://redis.auth.svc:6380\"\nkey_file = {:?}\nusername = \"sg\"\npassword_env = \"PATH\"\nprefix = \"x:\"\ntimeout = \"20ms\"",
        key.path().display().to_string()
    ));
    let shared = load(&text).unwrap().cache().shared.unwrap();
    assert_eq!(shared.username.as_deref(), Some("sg"));
    assert_eq!(shared.password.map(|p| p.0), std::env::var("PATH").ok());
    assert_eq!(shared.prefix, "x:");
    assert_eq!(shared.timeout, Duration::from_millis(20));
}

#[test]
fn short_key_file_is_an_error_naming_the_file_not_its_content() {
    let key = key_file(b"0123456789abcdef0123456789abcde\n");
    let path = key.path().display().to_string();
    let text = table(&format!(
        "url = \"redis://127.0.0.1:6379\"\nkey_file = {path:?}"
    ));
    let message = error(&text);
    assert!(
        message.contains(&format!(
            "config/scopegate.toml:11:12: introspection.cache.shared.key_file: {path:?} holds 31 bytes; expected at least 32"
        )),
        "{message}"
    );
    assert!(!message.contains("0123456789"), "{message}");
}

#[test]
fn missing_key_file_and_bad_urls_are_errors() {
    let message = error(&table("url = \"redis://127.0.0.1:6379\""));
    assert!(
        message.contains("introspection.cache.shared: missing key key_file"),
        "{message}"
    );
    let key = key_file(&[1u8; 32]);
    let path = key.path().display().to_string();
    for (url, want) in [
        (
            "redis://:hunter2@127.0.0.1:6379",
            "a password in the URL is not allowed",
        ),
        (
            "redis://user:hunter2@127.0.0.1:6379",
            "a password in the URL is not allowed",
        ),
        ("http://127.0.0.1:6379", r#"the scheme is "http""#),
        ("unix:///tmp/redis.sock", r#"the scheme is "unix""#),
        ("rediss://127.0.0.1:6379/#insecure", "fragment"),
        ("redis://127.0.0.1:6379/?protocol=resp3", "query"),
        ("redis://127.0.0.1:6379/abc", "database number"),
        ("not a url", "expected a redis:// or rediss:// URL"),
    ] {
        let message = error(&table(&format!("url = {url:?}\nkey_file = {path:?}")));
        assert!(
            message.contains(
                "config/scopegate.toml:10:7: introspection.cache.shared.url: invalid URL"
            ),
            "{url}: {message}"
        );
        assert!(message.contains(want), "{url}: {message}");
        assert!(!message.contains("hunter2"), "{url}: {message}");
    }
}

#[test]
fn password_sources_ca_file_and_unknown_keys() {
    let key = key_file(&[1u8; 32]);
    let path = key.path().display().to_string();
    let base = format!("url = \"redis://127.0.0.1:6379\"\nkey_file = {path:?}\n");
    let message = error(&table(&format!(
        "{base}password_env = \"PATH\"\npassword_file = {path:?}"
    )));
    assert!(
        message.contains("config/scopegate.toml:13:17: introspection.cache.shared.password_file: password_env is set too"),
        "{message}"
    );
    let message = error(&table(&format!("{base}ca_file = {path:?}")));
    assert!(
        message.contains("config/scopegate.toml:12:11: introspection.cache.shared.ca_file: ca_file needs a rediss:// url"),
        "{message}"
    );
    let message = error(&table(&format!("{base}passwrd = \"x\"")));
    assert!(
        message.contains(
            "config/scopegate.toml:12:1: introspection.cache.shared.passwrd: unknown key"
        ),
        "{message}"
    );
    let message = error(&table(&format!(
        "{base}password_env = \"SCOPEGATE_SURELY_UNSET_VAR\""
    )));
    assert!(
        message.contains("environment variable SCOPEGATE_SURELY_UNSET_VAR is not set"),
        "{message}"
    );
    let message = error(&table(&format!("{base}timeout = \"0s\"")));
    assert!(message.contains("must be greater than 0s"), "{message}");
}
