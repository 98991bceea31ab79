//! Issue 8: every way found to make a response skip the field filter, or to make the
//! upstream act on another method, path, host or client than the one authorized —
//! each test named for the attack, asserting both ends.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::*;

const PROFILE: &str = r#"{"name":"Alice","contact":{"email":"a@x.test"},"likes":["tea"],"items":[{"id":1,"price":5}]}"#;

fn profile(h: &Harness, reply: Reply) {
    h.upstream.script("/users/alice/profile", reply);
}

// === field filter: tunnels, ranges, content negotiation ===

#[tokio::test]
async fn websocket_upgrade_on_fields_route_without_every_field_scope_is_403_and_not_forwarded() {
    let h = Harness::standard(TestConfig::standard()).await;
    profile(&h, Reply::json(PROFILE));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await;
    r.assert_error(
        403,
        "insufficient_scope",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="profile profile:contact profile:likes billing""#),
    );
    assert!(!r.text().contains("a@x.test"));
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn upgrade_ignored_by_backend_with_every_field_scope_gets_the_document() {
    let h = Harness::standard(TestConfig::standard()).await;
    profile(&h, Reply::json(PROFILE));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile-all")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), PROFILE);
}

#[tokio::test]
async fn range_requests_reach_a_fields_route_without_range_headers() {
    let h = Harness::standard(TestConfig::standard()).await;
    profile(&h, Reply::json(PROFILE));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .header("range", "bytes=0-200,0-0")
        .header("if-range", "\"v1\"")
        .header("range_", "x")
        .header("if_range", "\"v1\"")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("a@x.test"));
    let up = h.upstream.single();
    assert!(!up.has_header_like("range"));
    assert!(!up.has_header_like("if-range"));
    assert!(!up.has_header_like("if_range"));
    assert_eq!(up.header("accept-encoding"), Some("identity"));
}

#[tokio::test]
async fn partial_content_json_cutting_out_a_nested_object_is_502() {
    let h = Harness::standard(TestConfig::standard()).await;
    profile(
        &h,
        Reply::new(206)
            .header("content-type", "application/json")
            .header("content-range", "bytes 27-50/90")
            .body(r#"{"email":"a@x.test"}"#),
    );
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    r.assert_error(502, "bad_gateway", None);
    assert!(!r.text().contains("a@x.test"));
}

#[tokio::test]
async fn multipart_byteranges_answer_is_502() {
    let h = Harness::standard(TestConfig::standard()).await;
    let body = format!("--b\r\nContent-Type: application/json\r\nContent-Range: bytes 0-200/300\r\n\r\n{PROFILE}\r\n--b--\r\n");
    profile(
        &h,
        Reply::new(206)
            .header("content-type", "multipart/byteranges; boundary=b")
            .body(body),
    );
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    r.assert_error(502, "bad_gateway", None);
    assert!(!r.text().contains("a@x.test"));
}

#[tokio::test]
async fn negotiated_html_xml_or_csv_answers_are_502_never_passed_unfiltered() {
    let h = Harness::standard(TestConfig::standard()).await;
    for (accept, ctype, body) in [
        (
            "text/html",
            "text/html",
            "<dl><dt>contact</dt><dd>a@x.test</dd></dl>",
        ),
        (
            "application/xml",
            "application/xml",
            "<p><contact>a@x.test</contact></p>",
        ),
        ("text/csv", "text/csv", "name,contact\nAlice,a@x.test\n"),
        ("*/*", "application/octet-stream", "a@x.test"),
    ] {
        profile(&h, Reply::new(200).header("content-type", ctype).body(body));
        let r = h
            .get("/users/alice/profile")
            .bearer("t-profile")
            .header("accept", accept)
            .send()
            .await;
        r.assert_error(502, "bad_gateway", None);
        assert!(!r.text().contains("a@x.test"), "{ctype}");
    }
    profile(&h, Reply::new(200).body("a@x.test"));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    r.assert_error(502, "bad_gateway", None);
}

#[tokio::test]
async fn non_json_answers_that_carry_no_protected_document_pass() {
    let h = Harness::standard(TestConfig::standard()).await;
    // An empty 2xx, a non-2xx page, and any answer for a token with every field scope.
    profile(&h, Reply::new(200).header("content-type", "text/html"));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());

    profile(
        &h,
        Reply::new(404)
            .header("content-type", "text/html")
            .body("<h1>no</h1>"),
    );
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "<h1>no</h1>");

    profile(
        &h,
        Reply::new(200)
            .header("content-type", "text/html")
            .body("<b>a@x.test</b>"),
    );
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile-all")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "<b>a@x.test</b>");
}

// === re-method, re-route and client spoofing through header spellings ===

#[tokio::test]
async fn underscore_spellings_of_method_override_and_rewrite_headers_never_reach_upstream() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .post("/orders/1")
        .bearer("t-write")
        .header("X_HTTP_Method_Override", "DELETE")
        .header("x_http_method", "DELETE")
        .header("X_Method_Override", "DELETE")
        .header("X_Original_URL", "/admin")
        .header("X_Rewrite_Url", "/admin")
        .header("x-original-uri", "/admin")
        .header("x_forwarded_uri", "/admin")
        .header("X_Forwarded_For", "10.9.9.9")
        .header("X_Forwarded_Host", "evil.example")
        .header("x_forwarded_proto", "https")
        .header("transfer_encoding", "chunked")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let up = h.upstream.single();
    for name in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x-original-url",
        "x-rewrite-url",
        "x-original-uri",
        "x-forwarded-uri",
        "transfer-encoding",
    ] {
        assert!(!up.has_header_like(name), "{name} reached the upstream");
    }
    assert_eq!(up.method, "POST");
    // Only scopegate's own, canonical values remain.
    assert_eq!(up.header_all("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(up.header_all("x-forwarded-proto"), ["http"]);
    assert_eq!(
        up.header_all("x-forwarded-host"),
        [h.proxy_addr.to_string().as_str()]
    );
    assert_eq!(
        up.headers
            .iter()
            .filter(|(k, _)| k
                .to_ascii_lowercase()
                .replace('_', "-")
                .starts_with("x-forwarded"))
            .count(),
        3
    );
}

#[tokio::test]
async fn client_sent_forwarded_real_ip_port_prefix_server_are_removed() {
    let h = Harness::standard(TestConfig::standard()).await;
    let spoofed = [
        ("forwarded", "for=10.0.0.1;proto=https;host=evil.example"),
        ("x-real-ip", "10.0.0.1"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/admin"),
        ("x-forwarded-server", "evil.example"),
        ("x-forwarded-ssl", "on"),
        ("true-client-ip", "10.0.0.1"),
        ("x_real_ip", "10.0.0.1"),
    ];
    let mut req = h.get("/health");
    for (k, v) in spoofed {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.status, 200);
    let up = h.upstream.single();
    for (k, _) in spoofed {
        assert!(!up.has_header_like(k), "{k} reached the upstream");
    }
}

#[tokio::test]
async fn trusted_forwarding_headers_keep_only_canonical_spellings() {
    let h =
        Harness::standard(TestConfig::standard().listen("trust_forwarded_headers", "true")).await;
    let r = h
        .get("/health")
        .header("forwarded", "for=10.0.0.1")
        .header("x-real-ip", "10.0.0.1")
        .header("x-forwarded-for", "10.0.0.1")
        .header("x_forwarded_for", "10.6.6.6")
        .header("x_real_ip", "10.6.6.6")
        .send()
        .await;
    assert_eq!(r.status, 200);
    let up = h.upstream.single();
    assert_eq!(up.header("forwarded"), Some("for=10.0.0.1"));
    assert_eq!(up.header("x-real-ip"), Some("10.0.0.1"));
    assert_eq!(up.header_all("x-forwarded-for"), ["10.0.0.1, 127.0.0.1"]);
    assert!(!up.headers.iter().any(|(k, _)| k.contains('_')));
    assert!(!up.headers.iter().any(|(_, v)| v.contains("10.6.6.6")));
}

#[tokio::test]
async fn public_route_with_forward_false_drops_bearer_and_query_tokens() {
    let h = Harness::standard(TestConfig::standard().forward_token(false)).await;
    let r = h
        .get("/health?a=1&access_token=t-read&access%5Ftoken=t-write&b=2")
        .bearer("t-read")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control").as_deref(), Some("private"));
    let up = h.upstream.single();
    assert!(up.header("authorization").is_none());
    assert_eq!(up.target, "/health?a=1&b=2");
}

#[tokio::test]
async fn public_route_keeps_other_authorization_schemes() {
    let h = Harness::standard(TestConfig::standard().forward_token(false)).await;
    let r = h
        .get("/health")
        .header("authorization", "Basic dTpw")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        h.upstream.single().header("authorization"),
        Some("Basic dTpw")
    );
}

#[tokio::test]
async fn percent_encoded_access_token_name_answer_is_private() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h.get("/orders/1?access%5Ftoken=t-read").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control").as_deref(), Some("private"));
    let r = h.get("/orders/1?%61ccess_token=nope-unknown").send().await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("cache-control").as_deref(), Some("private"));
}

#[tokio::test]
async fn http11_request_without_host_is_400_and_not_forwarded() {
    let h = Harness::standard(TestConfig::standard()).await;
    let resp = send_raw(h.proxy_addr, b"GET /health HTTP/1.1\r\n\r\n").await;
    assert_eq!(raw_status(&resp), 400, "{resp}");
    assert!(h.upstream.requests().is_empty());
    // HTTP/1.0 has no such rule.
    let resp = send_raw(h.proxy_addr, b"GET /health HTTP/1.0\r\n\r\n").await;
    assert_eq!(raw_status(&resp), 200, "{resp}");
}

// === HTTP/2: `:authority` vs `host`, answering early ===

async fn h2_client(h: &Harness) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(h.proxy_addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client.ready().await.unwrap()
}

async fn read_h2_body(mut body: h2::RecvStream) -> Result<Vec<u8>, h2::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[tokio::test]
async fn h2_host_field_disagreeing_with_authority_is_400_and_not_forwarded() {
    let h = Harness::standard(TestConfig::standard().upstream("preserve_host", "true")).await;
    let mut client = h2_client(&h).await;
    let req = http::Request::get(format!("http://{}/health", h.proxy_addr))
        .header("host", "evil.example")
        .body(())
        .unwrap();
    let (rsp, _) = client.send_request(req, true).unwrap();
    let rsp = rsp.await.unwrap();
    assert_eq!(rsp.status(), 400);
    assert!(h.upstream.requests().is_empty());

    // Agreeing fields pass; the upstream's Host and X-Forwarded-Host come from :authority.
    let authority = h.proxy_addr.to_string();
    let req = http::Request::get(format!("http://{authority}/health"))
        .header("host", authority.as_str())
        .body(())
        .unwrap();
    let (rsp, _) = client.send_request(req, true).unwrap();
    assert_eq!(rsp.await.unwrap().status(), 200);
    let up = h.upstream.single();
    assert_eq!(up.header("host"), Some(authority.as_str()));
    assert_eq!(up.header("x-forwarded-host"), Some(authority.as_str()));
}

/// A client that sends HEADERS, waits for the answer, then sends its body.
async fn answer_before_body(h: &Harness, path: &str, headers: &[(&str, &str)], body_len: usize) {
    let mut client = h2_client(h).await;
    let mut req = http::Request::post(format!("http://{}{path}", h.proxy_addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .header("content-length", body_len.to_string())
        .body(())
        .unwrap();
    let (rsp, mut send) = client.send_request(req, false).unwrap();
    let rsp = tokio::time::timeout(Duration::from_secs(5), rsp)
        .await
        .expect("no answer before the body was sent")
        .expect("answer lost");
    let status = rsp.status();
    let body = read_h2_body(rsp.into_body())
        .await
        .expect("answer body reset");
    assert!(!body.is_empty(), "status {status} with an empty body");
    // The body goes after the answer was read; the stream must end without an error.
    send.reserve_capacity(body_len);
    let sent = send.send_data(Bytes::from(vec![b'a'; body_len]), true);
    assert!(sent.is_ok(), "sending the body failed: {sent:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(reason) = tokio::time::timeout(
        Duration::from_millis(100),
        futures_util::future::poll_fn(|cx| send.poll_reset(cx)),
    )
    .await
    .ok()
    .and_then(Result::ok)
    {
        assert_eq!(reason, h2::Reason::NO_ERROR, "stream reset with an error");
    }
}

#[tokio::test]
async fn h2_client_still_sending_its_body_reads_a_401() {
    let h = Harness::standard(TestConfig::standard()).await;
    answer_before_body(
        &h,
        "/orders/1",
        &[("content-type", "application/json")],
        8000,
    )
    .await;
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn h2_client_still_sending_an_oversize_form_reads_the_413() {
    let h = Harness::standard(TestConfig::standard().token("max_form_body", "\"1KiB\"")).await;
    answer_before_body(
        &h,
        "/orders/1",
        &[("content-type", "application/x-www-form-urlencoded")],
        20_000,
    )
    .await;
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn http1_client_still_sending_its_body_reads_the_401_and_keeps_its_connection() {
    let h = Harness::standard(TestConfig::standard()).await;
    let mut s = TcpStream::connect(h.proxy_addr).await.unwrap();
    s.write_all(b"POST /orders/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&[b'a'; 1000]).await.unwrap();
    let first = read_response(&mut s, Duration::from_secs(5)).await;
    assert_eq!(raw_status(&first), 401, "{first}");
    s.write_all(&[b'a'; 59_000])
        .await
        .expect("rest of the body refused");
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let second = read_response(&mut s, Duration::from_secs(5)).await;
    assert_eq!(raw_status(&second), 200, "{second}");
    assert_eq!(h.upstream.requests().len(), 1, "only /health is forwarded");
}

#[tokio::test]
async fn method_override_parameter_in_query_or_form_is_400_and_not_forwarded() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .post("/orders/1?_method=DELETE")
        .bearer("t-write")
        .send()
        .await;
    r.assert_error(400, "invalid_request", None);
    let r = h.post("/health?%5Fmethod=delete").send().await;
    assert_eq!(
        r.status, 400,
        "public routes too: the backend may route by method"
    );
    let r = h
        .post("/orders/1")
        .form(&[("_method", "DELETE"), ("access_token", "t-write")])
        .send()
        .await;
    r.assert_error(400, "invalid_request", None);
    assert!(h.upstream.requests().is_empty());
    // Naming the request's own method changes nothing and passes.
    let r = h
        .post("/orders/1?_method=post")
        .bearer("t-write")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}
