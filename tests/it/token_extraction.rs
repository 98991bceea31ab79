//! docs/reference.md#token-extraction / RFC 6750 §2: header, form and query tokens; malformed and duplicate
//! tokens; `Cache-Control: private`; `forward = false` stripping.

use crate::support::*;

const NO_TOKEN: &str = r#"Bearer realm="api""#;
const INVALID_REQUEST: &str = r#"Bearer realm="api", error="invalid_request""#;

#[track_caller]
fn assert_invalid_request(r: &Resp) {
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.error().as_deref(),
        Some("invalid_request"),
        "{}",
        r.text()
    );
    let w = r.www_authenticate().expect("WWW-Authenticate on token 400");
    assert_eq!(
        w, INVALID_REQUEST,
        "WWW-Authenticate (docs/reference.md#errors, exactly)"
    );
}

#[tokio::test]
async fn header_scheme_is_case_insensitive() {
    let h = Harness::standard(TestConfig::standard()).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = h
            .get("/orders/1")
            .header("authorization", &format!("{scheme} t-read"))
            .send()
            .await;
        assert_eq!(r.status, 200, "{scheme}: {}", r.text());
    }
    assert_eq!(h.upstream.requests().len(), 4);
}

#[tokio::test]
async fn malformed_credential_is_401_invalid_token_and_not_forwarded() {
    let h = Harness::standard(TestConfig::standard()).await;
    for value in [
        "Bearer ",
        "Bearer t-read extra",
        "Bearer t-r\u{e9}ad",
        "Bearer  ",
    ] {
        let r = h
            .get("/orders/1")
            .header("authorization", value)
            .send()
            .await;
        r.assert_invalid_token();
    }
    // non-ASCII bytes straight on the wire
    let resp = h
        .raw(b"GET /orders/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\xffread\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw_status(&resp), 401, "{resp}");
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn missing_token_is_401_with_bare_challenge() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h.get("/orders/1").send().await;
    r.assert_error(401, "unauthorized", Some(NO_TOKEN));
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn basic_scheme_is_not_a_bearer_token() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .get("/orders/1")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await;
    r.assert_error(401, "unauthorized", Some(NO_TOKEN));
    assert_eq!(h.auth_server.calls(), 0);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn two_authorization_headers_are_400() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .get("/orders/1")
        .bearer("t-read")
        .bearer("t-read")
        .send()
        .await;
    assert_invalid_request(&r);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn form_body_token_is_accepted_and_field_stripped() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .post("/orders/1")
        .form(&[
            ("b", "2"),
            ("access_token", "t-write"),
            ("a", "1"),
            ("c", "x y"),
        ])
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let up = h.upstream.single();
    assert_eq!(
        up.body_text(),
        "b=2&a=1&c=x+y",
        "other fields, in order, unchanged"
    );
    assert_eq!(up.header("content-length"), Some("13"));
    assert!(up.header("authorization").is_none());
    assert_eq!(h.auth_server.received()[0].param("token"), Some("t-write"));
}

#[tokio::test]
async fn form_with_charset_parameter_is_read() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .post("/orders/1")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body("access_token=t-write")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.upstream.single().body_text(), "");
}

#[tokio::test]
async fn form_over_max_form_body_is_413_even_with_header_token() {
    let h = Harness::standard(TestConfig::standard().token("max_form_body", "\"1KiB\"")).await;
    let big = "x".repeat(2048);
    let r = h
        .post("/orders/1")
        .bearer("t-write")
        .form(&[("data", &big)])
        .send()
        .await;
    r.assert_error(413, "payload_too_large", None);
    assert!(h.upstream.requests().is_empty());
}

/// A client that never finishes its form body gets 408 after `header_read_timeout`
/// (1 s in tests) instead of holding the request open; nothing is forwarded.
#[tokio::test]
async fn trickled_form_body_times_out_with_408_and_is_not_forwarded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::standard(TestConfig::standard()).await;
    let mut s = tokio::net::TcpStream::connect(h.proxy_addr).await.unwrap();
    s.write_all(
        b"POST /orders/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t-write\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\na=1",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered within 5 s")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(raw_status(&text), 408, "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn form_body_under_limit_with_header_token_is_forwarded_unchanged() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .post("/orders/1")
        .bearer("t-write")
        .form(&[("z", "1"), ("a", "%/&")])
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(h.upstream.single().body_text(), "z=1&a=%25%2F%26");
}

#[tokio::test]
async fn get_with_form_content_type_body_is_not_a_token_source() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .get("/orders/1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("access_token=t-read")
        .send()
        .await;
    r.assert_error(401, "unauthorized", Some(NO_TOKEN));
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn query_token_is_accepted_stripped_and_answer_is_cache_control_private() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .get("/orders/1?z=%2F1&access_token=t-read&a=b+c&q")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control").as_deref(), Some("private"));
    assert_eq!(
        h.upstream.single().target,
        "/orders/1?z=%2F1&a=b+c&q",
        "rest of the query byte-identical"
    );
}

#[tokio::test]
async fn query_token_errors_also_carry_cache_control_private() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.upstream.script("/orders/1", Reply::text("ok"));
    let cases = [
        ("/orders/1?access_token=t-inactive", 401),
        ("/orders/1?access_token=nope", 401),
        ("/nowhere?access_token=t-read", 403),
        ("/orders/1?access_token=t-read&access_token=t-read", 400),
    ];
    for (target, status) in cases {
        let r = h.get(target).send().await;
        assert_eq!(r.status, status, "{target}: {}", r.text());
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("private"),
            "{target}"
        );
    }
    let r = h.get("/orders/1?access_token=t-read").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("private"),
        "even over an upstream answer"
    );
}

#[tokio::test]
async fn token_in_two_places_is_400_and_not_forwarded() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .get("/orders/1?access_token=t-read")
        .bearer("t-read")
        .send()
        .await;
    assert_invalid_request(&r);
    let r = h
        .post("/orders/1")
        .bearer("t-write")
        .form(&[("access_token", "t-write")])
        .send()
        .await;
    assert_invalid_request(&r);
    let r = h
        .post("/orders/1?access_token=t-write")
        .form(&[("access_token", "t-write")])
        .send()
        .await;
    assert_invalid_request(&r);
    assert!(h.upstream.requests().is_empty());
    assert_eq!(h.auth_server.calls(), 0);
}

#[tokio::test]
async fn duplicate_token_parameter_is_400() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .get("/orders/1?access_token=t-read&access_token=t-read")
        .send()
        .await;
    assert_invalid_request(&r);
    let r = h
        .post("/orders/1")
        .form(&[("access_token", "t-write"), ("access_token", "t-write")])
        .send()
        .await;
    assert_invalid_request(&r);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn forward_false_strips_authorization_header() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h.get("/orders/1").bearer("t-read").send().await;
    assert_eq!(r.status, 200);
    assert!(!h.upstream.single().has_header_like("authorization"));
}

#[tokio::test]
async fn forward_true_passes_token_in_every_source() {
    let h = Harness::standard(TestConfig::standard().forward_token(true)).await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    assert_eq!(
        h.upstream.requests()[0].header("authorization"),
        Some("Bearer t-read")
    );
    assert_eq!(
        h.get("/orders/1?x=1&access_token=t-read")
            .send()
            .await
            .status,
        200
    );
    assert_eq!(
        h.upstream.requests()[1].target,
        "/orders/1?x=1&access_token=t-read"
    );
    let r = h
        .post("/orders/1")
        .form(&[("a", "1"), ("access_token", "t-write")])
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        h.upstream.requests()[2].body_text(),
        "a=1&access_token=t-write"
    );
}

#[tokio::test]
async fn disabled_source_is_ignored() {
    let h = Harness::standard(TestConfig::standard().sources(&["header"])).await;
    let r = h.get("/orders/1?access_token=t-read").send().await;
    r.assert_error(401, "unauthorized", Some(NO_TOKEN));
    let r = h
        .post("/orders/1")
        .form(&[("access_token", "t-write")])
        .send()
        .await;
    r.assert_error(401, "unauthorized", Some(NO_TOKEN));
    assert!(h.upstream.requests().is_empty());
    assert_eq!(h.auth_server.calls(), 0);
}

#[tokio::test]
async fn custom_realm_is_used_in_challenge() {
    let h = Harness::standard(TestConfig::standard().token("realm", "\"orders\"")).await;
    let r = h.get("/orders/1").send().await;
    r.assert_error(401, "unauthorized", Some(r#"Bearer realm="orders""#));
}
