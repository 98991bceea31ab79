//! Golden tests for config loading (docs/reference.md#command-line, §2): the exact message a user sees for
//! each kind of mistake, the defaults, the reference config, and that no secret ever
//! appears in a message.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::config::{AuthMethod, Config, TokenSources};

#[path = "tests/messages.rs"]
mod messages;
#[path = "tests/shared.rs"]
mod shared;

const FILE: &str = "config/scopegate.toml";

/// Lines 1–8; whatever is appended starts on line 9. `PATH` is set in any test
/// environment, so no secret file is needed.
const MINIMAL: &str = r#"[upstream]
url = "http://127.0.0.1:3000"

[introspection]
endpoint = "http://127.0.0.1:4000/introspect"
client_id = "scopegate"
client_secret_env = "PATH"

"#;

const PUBLIC_ROUTE: &str = "[[route]]\npath = \"/health\"\npublic = true\n";

fn load(text: &str) -> Result<Config, crate::config::ConfigError> {
    Config::from_toml(Path::new(FILE), text)
}

fn error(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// `MINIMAL` with `extra` appended.
fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

#[test]
fn minimal_config_gets_documented_defaults() {
    let config = load(&with(PUBLIC_ROUTE)).unwrap();
    assert_eq!(config.listen.addr, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(config.listen.tls, None);
    assert_eq!(
        config.listen.limits.header_read_timeout,
        Duration::from_secs(10)
    );
    assert_eq!(config.listen.limits.max_connections, 10_000);
    assert_eq!(config.listen.limits.shutdown_grace, Duration::from_secs(30));
    assert_eq!(config.listen.limits.max_header_bytes, 16 * 1024);
    assert!(!config.listen.trust_forwarded_headers);
    assert_eq!(config.listen.limits.max_concurrent_streams, 256);
    assert_eq!(config.admin.addr, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(
        *config.upstream.as_ref().unwrap().url(),
        "http://127.0.0.1:3000/"
    );
    assert_eq!(
        config.upstream.as_ref().unwrap().timeout,
        Duration::from_secs(30)
    );
    assert!(!config.upstream.as_ref().unwrap().preserve_host);
    assert_eq!(config.upstream.as_ref().unwrap().ca_file, None);
    assert_eq!(config.upstream.as_ref().unwrap().max_filtered_body, 1 << 20);
    let intro = config.introspection.as_ref().unwrap();
    assert_eq!(intro.endpoint, "http://127.0.0.1:4000/introspect");
    assert_eq!(intro.client_id, "scopegate");
    assert_eq!(
        intro.client_secret.expose(),
        std::env::var("PATH")
            .unwrap()
            .trim_end_matches(['\n', '\r'])
    );
    assert_eq!(intro.auth_method, AuthMethod::ClientSecretBasic);
    assert_eq!(intro.timeout, Duration::from_secs(2));
    assert_eq!(
        (
            intro.ca_file.as_ref(),
            intro.expected_issuer.as_ref(),
            intro.expected_audience.as_ref()
        ),
        (None, None, None)
    );
    assert_eq!(intro.cache, crate::config::CacheConfig::default());
    assert_eq!(intro.cache.max_entries, 100_000);
    assert_eq!(intro.cache.ttl, Duration::from_secs(60));
    assert_eq!(intro.cache.negative_ttl, Duration::from_secs(5));
    assert_eq!(intro.cache.stale_if_error, Duration::ZERO);
    assert_eq!(
        config.token.sources,
        TokenSources {
            header: true,
            form: true,
            query: true
        }
    );
    assert_eq!(config.token.max_form_body, 64 * 1024);
    assert!(!config.token.forward);
    assert_eq!(config.token.realm, "api");
    assert_eq!(config.identity.subject, "x-auth-subject");
    assert_eq!(config.identity.scope, "x-auth-scope");
    assert_eq!(config.identity.client_id, "x-auth-client-id");
    assert_eq!(config.identity.username, "x-auth-username");
    assert!(config.identity.claims.is_empty());
    assert_eq!(config.routes.routes().len(), 1);
    assert!(config.routes.routes()[0].is_public());
    assert!(config.warnings.is_empty());
    assert_eq!(config.path, Path::new(FILE));
}

#[test]
fn explicit_values_are_converted() {
    let text = r#"[listen]
addr = "127.0.0.1:0"
max_header_bytes = "32KiB"
max_concurrent_streams = 100
[admin]
addr = "127.0.0.1:0"
[upstream]
url = "https://api.internal:8443/v1"
max_filtered_body = "2MB"
[introspection]
endpoint = "https://as.example.com/introspect?tenant=a"
client_id = "scopegate"
client_secret_env = "PATH"
auth_method = "client_secret_post"
timeout = "250ms"
expected_issuer = "https://as.example.com"
[introspection.cache]
stale_if_error = "1m 30s"
[token]
sources = ["query", "header"]
max_form_body = 512
realm = "orders"
[identity]
subject = "X-User"
[identity.claims]
tenant = "X-Tenant"
"ext.org" = "X-Org"
"#;
    let config = load(text).unwrap();
    assert_eq!(config.listen.limits.max_header_bytes, 32 * 1024);
    assert_eq!(config.listen.limits.max_concurrent_streams, 100);
    assert_eq!(config.upstream.as_ref().unwrap().url().path(), "/v1");
    assert_eq!(
        config.upstream.as_ref().unwrap().max_filtered_body,
        2_000_000
    );
    assert_eq!(
        config.introspection.as_ref().unwrap().auth_method,
        AuthMethod::ClientSecretPost
    );
    assert_eq!(
        config.introspection.as_ref().unwrap().timeout,
        Duration::from_millis(250)
    );
    assert_eq!(
        config
            .introspection
            .as_ref()
            .unwrap()
            .expected_issuer
            .as_deref(),
        Some("https://as.example.com")
    );
    assert_eq!(
        config.introspection.as_ref().unwrap().cache.stale_if_error,
        Duration::from_secs(90)
    );
    assert_eq!(
        config.token.sources,
        TokenSources {
            header: true,
            form: false,
            query: true
        }
    );
    assert_eq!(config.token.max_form_body, 512);
    assert_eq!(config.token.realm, "orders");
    assert_eq!(config.identity.subject, "x-user");
    assert_eq!(config.identity.scope, "x-auth-scope");
    let claims: Vec<(&str, &str)> = config
        .identity
        .claims
        .iter()
        .map(|(c, h)| (c.as_str(), h.as_str()))
        .collect();
    assert_eq!(claims, [("tenant", "x-tenant"), ("ext.org", "x-org")]);
    assert_eq!(config.warnings, ["no routes: every request is refused"]);
}

#[test]
fn reference_config_loads_and_describes_its_routes() {
    let config = Config::load(Path::new(FILE)).unwrap();
    assert_eq!(
        config
            .introspection
            .as_ref()
            .unwrap()
            .client_secret
            .expose(),
        "change-me"
    );
    assert_eq!(config.routes.routes().len(), 4);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_eq!(
        config.describe(),
        "config/scopegate.toml: valid; 4 routes, tried in this order (first match wins)
  #  methods          path                    access
  0  *                /health                 public
  1  GET              /orders/{id}            scopes: orders:read
  2  POST,PUT,DELETE  /orders/**              any of: orders:write admin
  3  GET              /users/{owner}/profile  scopes: profile; owner: {owner}=sub; fields: profile:contact profile:likes billing
"
    );
}

#[test]
fn shadowed_route_is_a_warning() {
    let config = load(&with(
        "[[route]]\nmethods = [\"GET\"]\npath = \"/orders/{id}\"\nscopes = [\"a\"]\n\
         [[route]]\nmethods = [\"GET\"]\npath = \"/orders/42\"\nscopes = [\"b\"]\n",
    ))
    .unwrap();
    assert_eq!(
        config.warnings,
        ["route[1] (GET /orders/42) can never match: route[0] (GET /orders/{id}) matches every request it would"]
    );
    assert!(config.describe().contains(
        "  1  GET      /orders/42    scopes: b  (never matches: shadowed by route[0])\n"
    ));
    assert!(config.describe().ends_with(
        "warning: route[1] (GET /orders/42) can never match: route[0] (GET /orders/{id}) matches every request it would\n"
    ));
}

#[test]
fn owner_param_must_be_a_parameter_of_the_path() {
    let text = with(
        "[[route]]\npath = \"/users/{user}/{tab}\"\nscopes = [\"a\"]\n\
         owner = { param = \"owner\", claim = \"sub\" }\n",
    );
    assert_eq!(
        error(&text),
        r#"config/scopegate.toml:12:19: route[0].owner.param: "owner" is not a parameter of "/users/{user}/{tab}"; expected one of user, tab"#
    );
    let config = load(&text.replace("\"owner\", claim", "\"user\", claim")).unwrap();
    let owner = config.routes.routes()[0].owner.clone().unwrap();
    assert_eq!(
        (owner.param.as_str(), owner.claim.as_str()),
        ("user", "sub")
    );
}

#[test]
fn field_rule_for_a_required_scope_is_a_warning() {
    let config = load(&with(
        "[[route]]\npath = \"/me\"\nscopes = [\"profile\"]\n[route.fields]\n\"name\" = \"profile\"\n",
    ))
    .unwrap();
    assert_eq!(
        config.warnings,
        [
            r#"route[0].fields.name never removes anything: every token on this route has scope "profile""#
        ]
    );
}

#[test]
fn no_routes_is_valid_with_a_warning() {
    let config = load(MINIMAL).unwrap();
    assert_eq!(
        config.describe(),
        "config/scopegate.toml: valid; 0 routes, tried in this order (first match wins)\n\
         warning: no routes: every request is refused\n"
    );
}

#[test]
fn secret_file_is_read_relative_to_the_config_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("client-secret"), "s3cr3t-value\r\n").unwrap();
    let config_path = dir.path().join("scopegate.toml");
    let text = MINIMAL.replace(
        "client_secret_env = \"PATH\"",
        "client_secret_file = \"client-secret\"",
    );
    std::fs::write(&config_path, &text).unwrap();
    let config = Config::load(&config_path).unwrap();
    assert_eq!(
        config
            .introspection
            .as_ref()
            .unwrap()
            .client_secret
            .expose(),
        "s3cr3t-value"
    );
    assert!(!format!("{config:?}").contains("s3cr3t-value"));
}

#[test]
fn empty_secret_file_is_an_error_naming_the_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"\n").unwrap();
    let path = file.path().display().to_string();
    let text = MINIMAL.replace(
        "client_secret_env = \"PATH\"",
        &format!("client_secret_file = {path:?}"),
    );
    assert_eq!(
        error(&text),
        format!("config/scopegate.toml:7:22: introspection.client_secret_file: {path:?} is empty")
    );
}

#[test]
fn a_secret_never_appears_in_a_message() {
    const SECRET: &str = "s3cr3t-value";
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{SECRET}").unwrap();
    let secret_file = format!(
        "client_secret_file = {:?}",
        file.path().display().to_string()
    );
    let with_secret_file = MINIMAL.replace("client_secret_env = \"PATH\"", &secret_file);
    let texts = [
        // an inline secret is an unknown key, reported without its value
        MINIMAL.replace(
            "client_secret_env = \"PATH\"",
            &format!("client_secret = \"{SECRET}\""),
        ),
        // ... also when the value is not even a string
        MINIMAL.replace(
            "client_secret_env = \"PATH\"",
            &format!("client_secret = [\"{SECRET}\"]"),
        ),
        // a syntax error on a secret's line: no snippet
        MINIMAL.replace(
            "client_secret_env = \"PATH\"",
            &format!("client_secret = \"{SECRET}"),
        ),
        // a secret file that was read, then another problem
        format!("{with_secret_file}[[route]]\npath = \"/a\"\n"),
        // a secret file passed where a secret was expected
        with_secret_file.replace("client_id = \"scopegate\"", "client_id = \"\""),
    ];
    for text in &texts {
        let message = error(text);
        assert!(!message.contains(SECRET), "{message}");
    }
    assert_eq!(
        error(&texts[0]),
        "config/scopegate.toml:7:1: introspection.client_secret: unknown key; expected one of endpoint, client_id, client_secret_file, client_secret_env, auth_method, timeout, ca_file, expected_issuer, expected_audience, cache"
    );
    assert_eq!(
        error(&texts[2]),
        "config/scopegate.toml:7:30: invalid basic string"
    );
}

#[test]
fn relative_tls_and_ca_files_resolve_against_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["tls.crt", "tls.key", "ca.pem"] {
        std::fs::write(dir.path().join(name), "pem").unwrap();
    }
    let text = with("[listen]\n[listen.tls]\ncert = \"tls.crt\"\nkey = \"tls.key\"\n").replace(
        "url = \"http://127.0.0.1:3000\"",
        "url = \"https://10.0.0.1\"\nca_file = \"ca.pem\"",
    );
    let config = Config::from_toml(&dir.path().join("scopegate.toml"), &text).unwrap();
    let tls = config.listen.tls.unwrap();
    assert_eq!(tls.cert, dir.path().join("tls.crt"));
    assert_eq!(tls.key, dir.path().join("tls.key"));
    assert_eq!(
        config.upstream.as_ref().unwrap().ca_file,
        Some(dir.path().join("ca.pem"))
    );

    let missing = Config::from_toml(
        &dir.path().join("scopegate.toml"),
        &text.replace("tls.key", "nope.key"),
    )
    .unwrap_err();
    let expected = format!(
        "{}:13:7: listen.tls.key: cannot read {:?}: No such file or directory (os error 2)",
        dir.path().join("scopegate.toml").display(),
        dir.path().join("nope.key").display()
    );
    assert_eq!(missing.to_string(), expected);
}

#[test]
fn sizes_and_durations_parse_as_documented() {
    use crate::config::units::{parse_duration, parse_size};
    let sizes = [
        ("512", 512),
        ("16KB", 16_000),
        ("64KiB", 65_536),
        ("1MiB", 1 << 20),
        ("2 mb", 2_000_000),
        ("1GiB", 1 << 30),
    ];
    for (text, bytes) in sizes {
        assert_eq!(parse_size(text), Ok(bytes), "{text}");
    }
    for text in [
        "",
        "KiB",
        "0",
        "1.5KiB",
        "-1",
        "12XB",
        "99999999999999999999GiB",
    ] {
        assert!(parse_size(text).is_err(), "{text}");
    }
    let durations = [
        ("250ms", 250),
        ("2s", 2000),
        ("5m", 300_000),
        ("1h 30m", 5_400_000),
        ("0s", 0),
    ];
    for (text, millis) in durations {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_millis(millis)),
            "{text}"
        );
    }
    for text in ["", "30", "2 sec onds", "-1s"] {
        assert!(parse_duration(text).is_err(), "{text}");
    }
}

#[test]
fn admin_token_file_is_read_relative_to_the_config_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("admin-token"), "adm1n-t0ken\n\n").unwrap();
    let config_path = dir.path().join("scopegate.toml");
    let text = format!("{MINIMAL}[admin]\ntoken_file = \"admin-token\"\n");
    std::fs::write(&config_path, &text).unwrap();
    let config = Config::load(&config_path).unwrap();
    let token = config.admin.token.as_ref().map(|t| t.expose());
    assert_eq!(token, Some("adm1n-t0ken"));
    assert!(!format!("{config:?}").contains("adm1n-t0ken"));
    assert!(load(MINIMAL).unwrap().admin.token.is_none());
}

#[test]
fn admin_token_file_missing_or_empty_is_an_error_naming_the_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"\r\n").unwrap();
    let path = file.path().display().to_string();
    assert_eq!(
        error(&format!("{MINIMAL}[admin]\ntoken_file = {path:?}\n")),
        format!("config/scopegate.toml:10:14: admin.token_file: {path:?} is empty")
    );
    assert_eq!(
        error(&format!(
            "{MINIMAL}[admin]\ntoken_file = \"no-such-token\"\n"
        )),
        r#"config/scopegate.toml:10:14: admin.token_file: cannot read "config/no-such-token": No such file or directory (os error 2)"#
    );
}

/// docs/reference.md#jwt-access-tokens: `[[jwt]]` defaults, the `typ` normalization, and `[introspection]` optional.
#[test]
fn jwt_tables_get_their_defaults_and_introspection_becomes_optional() {
    let text = "[upstream]\nurl = \"http://127.0.0.1:3000\"\n\n[[jwt]]\nissuer = \"https://a.test/\"\naudience = \"api\"\njwks_uri = \"https://a.test/jwks\"\n\n[[jwt]]\nissuer = \"https://b.test\"\naudience = \"api\"\nmetadata_url = \"https://b.test/.well-known/openid-configuration\"\nalgorithms = [\"EdDSA\", \"PS256\"]\ntyp = [\"application/AT+JWT\", \"JWT\"]\nscope_claim = \"scp\"\nleeway = \"5s\"\njwks_refresh = \"1m\"\ntimeout = \"500ms\"\n";
    let config = load(text).unwrap();
    assert!(config.introspection.is_none());
    assert_eq!(config.cache(), crate::config::CacheConfig::default());
    let [a, b] = &config.jwt[..] else {
        panic!("two tables")
    };
    assert_eq!(a.issuer, "https://a.test/");
    assert_eq!(
        a.algorithms,
        [
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::Algorithm::ES256
        ]
    );
    assert_eq!(a.typ, ["at+jwt"]);
    assert_eq!(a.scope_claim, "scope");
    assert_eq!(a.leeway, Duration::from_secs(30));
    assert_eq!(a.jwks_refresh, Duration::from_secs(300));
    assert_eq!(a.timeout, Duration::from_secs(2));
    assert!(matches!(a.keys, crate::config::JwksSource::JwksUri(_)));
    assert!(matches!(b.keys, crate::config::JwksSource::Metadata(_)));
    assert_eq!(
        b.algorithms,
        [
            jsonwebtoken::Algorithm::EdDSA,
            jsonwebtoken::Algorithm::PS256
        ]
    );
    assert_eq!(b.typ, ["at+jwt", "jwt"]);
    assert_eq!(b.scope_claim, "scp");
    assert_eq!(b.leeway, Duration::from_secs(5));
    assert_eq!(b.timeout, Duration::from_millis(500));
}
