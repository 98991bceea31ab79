//! Golden error messages (docs/reference.md#command-line): `file:line:col: key: what was expected`, one line
//! per problem, for each kind of mistake.

use super::{error, with, MINIMAL, PUBLIC_ROUTE};
use crate::filter::FieldRules;
use crate::policy::RoutePattern;

/// A valid `[[jwt]]` table (4 lines), for the cases that change one key.
const JWT: &str = "[[jwt]]\nissuer = \"https://i.test\"\naudience = \"api\"\njwks_uri = \"https://i.test/jwks\"\n";

/// Each case: config text and the exact message.
#[test]
fn bad_configs_have_exact_messages() {
    let pattern_error = RoutePattern::parse("orders").unwrap_err();
    let field_error = FieldRules::compile(vec![(String::new(), "scope".into())]).unwrap_err();
    let cases: Vec<(String, String)> = vec![
        // unknown keys, top-level and nested
        (
            format!("colour = \"blue\"\n{MINIMAL}"),
            "config/scopegate.toml:1:1: colour: unknown key; expected one of listen, admin, decision, upstream, introspection, token, identity, jwt, route".into(),
        ),
        (
            format!("[listen]\nadress = \"0.0.0.0:8080\"\n{MINIMAL}"),
            "config/scopegate.toml:2:1: listen.adress: unknown key; expected one of addr, tls, header_read_timeout, max_connections, shutdown_grace, max_header_bytes, trust_forwarded_headers, max_concurrent_streams, workers".into(),
        ),
        (
            with("[[route]]\npath = \"/a\"\nscope = [\"a\"]\n"),
            "config/scopegate.toml:11:1: route[0].scope: unknown key; expected one of path, methods, public, scopes, scopes_any, owner, fields, introspect".into(),
        ),
        // single values
        (
            MINIMAL.replace("url = \"http://127.0.0.1:3000\"", "url = \"http://127.0.0.1:3000\"\ntimeout = \"30\""),
            r#"config/scopegate.toml:3:11: upstream.timeout: invalid duration "30": expected a number with a unit, like "250ms", "2s" or "5m""#.into(),
        ),
        (
            MINIMAL.replace("url = \"http://127.0.0.1:3000\"", "url = \"http://127.0.0.1:3000\"\ntimeout = 30"),
            r#"config/scopegate.toml:3:11: upstream.timeout: invalid duration 30: expected a number with a unit, like "250ms", "2s" or "5m""#.into(),
        ),
        (
            MINIMAL.replace("url = \"http://127.0.0.1:3000\"", "url = \"http://127.0.0.1:3000\"\ntimeout = \"0s\""),
            r#"config/scopegate.toml:3:11: upstream.timeout: invalid timeout "0s": must be greater than 0s"#.into(),
        ),
        (
            with("[token]\nmax_form_body = \"64 kilobytes\"\n"),
            r#"config/scopegate.toml:10:17: token.max_form_body: invalid size "64 kilobytes": expected a number of bytes with an optional unit, like "512", "64KiB" or "1MiB" (KB = 1000, KiB = 1024)"#.into(),
        ),
        (
            MINIMAL.replace("http://127.0.0.1:3000", "ftp://files.example.com"),
            r#"config/scopegate.toml:2:7: upstream.url: invalid URL "ftp://files.example.com": the scheme is "ftp"; expected http or https"#.into(),
        ),
        (
            MINIMAL.replace("http://127.0.0.1:3000", "http://127.0.0.1:3000/api?x=1"),
            r#"config/scopegate.toml:2:7: upstream.url: invalid URL "http://127.0.0.1:3000/api?x=1": a query (?...) is not allowed; the path is the prefix of every forwarded path"#.into(),
        ),
        (
            MINIMAL.replace("http://127.0.0.1:4000/introspect", "https://user:hunter2@as.example.com/introspect"),
            r#"config/scopegate.toml:5:12: introspection.endpoint: invalid URL "https://***@as.example.com/introspect": credentials in the URL are not allowed"#.into(),
        ),
        (
            with("[listen]\nmax_header_bytes = \"512\"\n"),
            "config/scopegate.toml:10:20: listen.max_header_bytes: 512 bytes is out of range: expected at least 1KiB and at most 1MiB".into(),
        ),
        (
            with("[listen]\nmax_connections = 0\n"),
            "config/scopegate.toml:10:19: listen.max_connections: invalid count 0: must be greater than 0".into(),
        ),
        (
            with("[listen]\naddr = \"localhost:8080\"\n"),
            r#"config/scopegate.toml:10:8: listen.addr: invalid address "localhost:8080": expected an IP address and a port, like "0.0.0.0:8080""#.into(),
        ),
        (
            with("[listen]\naddr = \"0.0.0.0:9090\"\n[admin]\naddr = \"127.0.0.1:9090\"\n"),
            "config/scopegate.toml:12:8: admin.addr: 127.0.0.1:9090 collides with listen.addr 0.0.0.0:9090; expected another port".into(),
        ),
        (
            MINIMAL.replace("client_secret_env = \"PATH\"", "client_secret_env = \"PATH\"\nauth_method = \"basic\""),
            r#"config/scopegate.toml:8:15: introspection.auth_method: unknown value "basic"; expected one of client_secret_basic, client_secret_post"#.into(),
        ),
        (
            with("[token]\nrealm = \"my \\\"api\\\"\"\n"),
            r#"config/scopegate.toml:10:9: token.realm: invalid realm "my \"api\"": a realm cannot contain '"', '\' or control characters"#.into(),
        ),
        (
            with("[token]\nsources = []\n"),
            "config/scopegate.toml:10:11: token.sources: expected at least one of header, form, query".into(),
        ),
        (
            with("[token]\nsources = [\"header\", \"header\"]\n"),
            r#"config/scopegate.toml:10:22: token.sources[1]: "header" is listed twice"#.into(),
        ),
        (
            with("[token]\nsources = [\"cookie\"]\n"),
            r#"config/scopegate.toml:10:12: token.sources[0]: unknown value "cookie"; expected one of header, form, query"#.into(),
        ),
        // missing keys
        (
            MINIMAL.replace("client_id = \"scopegate\"\n", ""),
            "config/scopegate.toml:4:1: introspection: missing key client_id".into(),
        ),
        (
            MINIMAL.replace("[upstream]\nurl = \"http://127.0.0.1:3000\"\n", ""),
            "config/scopegate.toml:1:1: missing key upstream; expected [upstream], or [decision] to answer decisions only".into(),
        ),
        // [[jwt]] (docs/reference.md#jwt-access-tokens)
        (
            with(&format!("{JWT}algorithms = [\"RS256\", \"HS256\"]\n")),
            r#"config/scopegate.toml:13:24: jwt[0].algorithms[1]: "HS256" is not allowed: a shared secret cannot be published in a JWKS and invites key confusion; expected one of RS256, RS384, RS512, PS256, ES256, ES384, EdDSA"#.into(),
        ),
        (
            with(&format!("{JWT}algorithms = [\"none\"]\n")),
            r#"config/scopegate.toml:13:15: jwt[0].algorithms[0]: "none" is not allowed: an unsigned token proves nothing; expected one of RS256, RS384, RS512, PS256, ES256, ES384, EdDSA"#.into(),
        ),
        (
            with(&JWT.replace("audience = \"api\"\n", "")),
            "config/scopegate.toml:9:1: jwt[0]: missing key audience; expected the audience (aud) this proxy's tokens are for".into(),
        ),
        (
            with(&format!("{JWT}metadata_url = \"https://i.test/.well-known/openid-configuration\"\n")),
            "config/scopegate.toml:13:16: jwt[0].metadata_url: jwks_uri is set too; expected exactly one of the two".into(),
        ),
        (
            with(&JWT.replace("jwks_uri = \"https://i.test/jwks\"\n", "")),
            "config/scopegate.toml:9:1: jwt[0]: missing key jwks_uri or metadata_url; expected exactly one of the two".into(),
        ),
        (
            format!("[upstream]\nurl = \"http://127.0.0.1:3000\"\n\n{JWT}\n[[route]]\npath = \"/a\"\nscopes = [\"a\"]\nintrospect = true\n"),
            "config/scopegate.toml:12:14: route[0].introspect: needs [introspection]: a JWT on this route is also checked at the introspection endpoint; add [introspection] or remove this key".into(),
        ),
        (
            "[upstream]\nurl = \"http://127.0.0.1:3000\"\n".into(),
            "config/scopegate.toml: introspection: missing table [introspection]; expected [introspection], one or more [[jwt]] tables, or both".into(),
        ),
        // the client secret: exactly one source, readable
        (
            MINIMAL.replace("client_secret_env = \"PATH\"", "client_secret_file = \"secret\"\nclient_secret_env = \"PATH\""),
            "config/scopegate.toml:8:21: introspection.client_secret_env: client_secret_file is set too; expected exactly one of the two".into(),
        ),
        (
            MINIMAL.replace("client_secret_env = \"PATH\"\n", ""),
            "config/scopegate.toml:4:1: introspection: missing key client_secret_file or client_secret_env".into(),
        ),
        (
            MINIMAL.replace("\"PATH\"", "\"SCOPEGATE_TEST_CERTAINLY_UNSET_VARIABLE\""),
            "config/scopegate.toml:7:21: introspection.client_secret_env: environment variable SCOPEGATE_TEST_CERTAINLY_UNSET_VARIABLE is not set".into(),
        ),
        (
            MINIMAL.replace("client_secret_env = \"PATH\"", "client_secret_file = \"no-such-secret\""),
            r#"config/scopegate.toml:7:22: introspection.client_secret_file: cannot read "config/no-such-secret": No such file or directory (os error 2)"#.into(),
        ),
        // routes
        (
            with("[[route]]\npath = \"/health\"\npublic = true\nscopes = [\"a\"]\n"),
            "config/scopegate.toml:12:10: route[0].scopes: not allowed on a public route (public = true needs no token); remove one of the two".into(),
        ),
        (
            with("[[route]]\npath = \"/health\"\npublic = true\n[route.fields]\nsecret = \"a\"\n"),
            "config/scopegate.toml:12:1: route[0].fields: not allowed on a public route (public = true needs no token); remove one of the two".into(),
        ),
        (
            with("[[route]]\npath = \"/orders\"\n"),
            "config/scopegate.toml:9:1: route[0].scopes: expected at least one scope, or public = true".into(),
        ),
        (
            with("[[route]]\npath = \"/orders\"\nscopes = []\n"),
            "config/scopegate.toml:11:10: route[0].scopes: expected at least one scope, or public = true".into(),
        ),
        (
            with("[[route]]\npath = \"/orders\"\nscopes = [\"a\"]\nscopes_any = []\n"),
            "config/scopegate.toml:12:14: route[0].scopes_any: expected at least one scope; leave scopes_any out if none is needed".into(),
        ),
        (
            with("[[route]]\npath = \"/orders\"\nscopes = [\"orders read\"]\n"),
            r#"config/scopegate.toml:11:11: route[0].scopes[0]: invalid scope "orders read": a scope cannot contain spaces, quotes, backslashes or control characters"#.into(),
        ),
        (
            with("[[route]]\npath = \"/orders\"\nscopes = [\"\"]\n"),
            r#"config/scopegate.toml:11:11: route[0].scopes[0]: empty scope: expected a scope name like "orders:read""#.into(),
        ),
        (
            with(&format!("{PUBLIC_ROUTE}[[route]]\nmethods = [\"GET\", \"POST\"]\npath = \"/a\"\nscopes = [\"x\"]\n[[route]]\nmethods = [\"POST\", \"GET\"]\npath = \"/a\"\npublic = true\n")),
            "config/scopegate.toml:18:8: route[2]: same methods and path as route[1] (POST,GET /a); a route can never match after an identical one".into(),
        ),
        (
            with("[[route]]\npath = \"/users/me/profile\"\nscopes = [\"a\"]\nowner = { param = \"owner\", claim = \"sub\" }\n"),
            r#"config/scopegate.toml:12:19: route[0].owner.param: "owner" is not a parameter of "/users/me/profile", which has none"#.into(),
        ),
        (
            with("[[route]]\nmethods = [\"get\"]\npath = \"/a\"\npublic = true\n"),
            r#"config/scopegate.toml:10:12: route[0].methods[0]: invalid method "get": methods are case-sensitive; expected "GET""#.into(),
        ),
        (
            with("[[route]]\nmethods = [\"GET /\"]\npath = \"/a\"\npublic = true\n"),
            r#"config/scopegate.toml:10:12: route[0].methods[0]: invalid method "GET /": expected an HTTP method like "GET" or "POST""#.into(),
        ),
        (
            with("[[route]]\nmethods = []\npath = \"/a\"\npublic = true\n"),
            "config/scopegate.toml:10:11: route[0].methods: expected at least one method; leave methods out to allow any method".into(),
        ),
        (
            with("[[route]]\nmethods = [\"GET\", \"GET\"]\npath = \"/a\"\npublic = true\n"),
            r#"config/scopegate.toml:10:19: route[0].methods[1]: "GET" is listed twice"#.into(),
        ),
        (
            with("[[route]]\npath = \"orders\"\npublic = true\n"),
            format!(r#"config/scopegate.toml:10:8: route[0].path: invalid route path "orders": {pattern_error}"#),
        ),
        (
            with("[[route]]\npath = \"/a\"\nscopes = [\"a\"]\n[route.fields]\n\"\" = \"b\"\n"),
            format!(r#"config/scopegate.toml:13:1: route[0].fields."": invalid field path "": {field_error}"#),
        ),
        // identity headers
        (
            with("[identity]\nsubject = \"X Auth\"\n"),
            r#"config/scopegate.toml:10:11: identity.subject: invalid header name "X Auth": expected letters, digits and "-", like "X-Auth-Subject""#.into(),
        ),
        (
            with("[identity.claims]\ntenant = \"X-Forwarded-User\"\n"),
            r#"config/scopegate.toml:10:10: identity.claims.tenant: header "X-Forwarded-User" cannot carry identity: it is a hop-by-hop, framing, routing or credential header"#.into(),
        ),
        (
            with("[identity]\nscope = \"Transfer_Encoding\"\n"),
            r#"config/scopegate.toml:10:9: identity.scope: header "Transfer_Encoding" cannot carry identity: it is a hop-by-hop, framing, routing or credential header"#.into(),
        ),
        (
            with("[identity.claims]\ntenant = \"x_auth_subject\"\n"),
            "config/scopegate.toml:10:10: identity.claims.tenant: header x_auth_subject is already used by identity.subject (default); expected a distinct header (compared ignoring case, with _ as -)".into(),
        ),
        // TOML syntax: toml's message, the position, the line with a caret
        (
            with("[[route]]\npath = \"/a\nscopes = [\"a\"]\n"),
            "config/scopegate.toml:10:11: invalid basic string\n   |\n10 | path = \"/a\n   |           ^".into(),
        ),
    ];
    let mut failures = Vec::new();
    for (text, expected) in &cases {
        let actual = error(text);
        if &actual != expected {
            failures.push(format!(
                "config:\n{text}\nexpected: {expected}\n  actual: {actual}\n"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_cross_field_problem_is_reported_at_once_in_file_order() {
    let text = with(
        "[token]\nsources = []\n[[route]]\npath = \"/a\"\n[[route]]\npath = \"/b\"\npublic = true\nscopes = [\"x\"]\n",
    );
    assert_eq!(
        error(&text),
        "config/scopegate.toml:10:11: token.sources: expected at least one of header, form, query
config/scopegate.toml:11:1: route[0].scopes: expected at least one scope, or public = true
config/scopegate.toml:16:10: route[1].scopes: not allowed on a public route (public = true needs no token); remove one of the two"
    );
}
