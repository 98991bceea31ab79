//! docs/reference.md#path-safety: unsafe paths → 400 and never forwarded; safe paths forwarded byte for byte.

use crate::support::*;

async fn harness() -> Harness {
    Harness::standard(TestConfig::new().route(Route::public("/**"))).await
}

const UNSAFE: &[&str] = &[
    "/a/../b",
    "/a/./b",
    "/a/..",
    "/..",
    "/a/%2e%2e/b",
    "/a/%2E%2E/b",
    "/a/.%2e/b",
    "/a/%2e/b",
    "/a%2fb",
    "/a%2Fb",
    "/a%5cb",
    "/a%5Cb",
    "/a\\b",
    "/a%00b",
    "/a%25b",
    "/a%252e%252e/b",
    "/a//b",
    "//a",
    "/a/..;/b",
    "/a/..;jsessionid=1/b",
    "/a/.;/b",
    "/a/%u002e%u002e/b",
    "/a/%c0%ae%c0%ae/b",
    "/a/%c0%af",
    "/a/%ff",
    "/a/%ef%bc%8e%ef%bc%8e/b",
    "/a%ef%bc%8fb",
    "/a%ef%bc%bcb",
];

#[tokio::test]
async fn unsafe_paths_are_400_invalid_request_and_never_forwarded() {
    let h = harness().await;
    let mut failures = Vec::new();
    for p in UNSAFE {
        let resp = h
            .raw(format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
            .await;
        let head = resp
            .split("\r\n\r\n")
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if raw_status(&resp) != 400
            || !resp.contains("invalid_request")
            || head.contains("www-authenticate")
        {
            failures.push(format!("{p}: {resp}"));
        }
    }
    assert!(
        failures.is_empty(),
        "unsafe paths not rejected as expected:\n{}",
        failures.join("\n---\n")
    );
    assert!(
        h.upstream.requests().is_empty(),
        "forwarded: {:#?}",
        h.upstream.requests()
    );
}

#[tokio::test]
async fn raw_full_width_lookalikes_are_400_and_never_forwarded() {
    let h = harness().await;
    for p in ["/a/\u{FF0E}\u{FF0E}/b", "/a\u{FF0F}b", "/a\u{FF3C}b"] {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(p.as_bytes());
        req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let resp = h.raw(&req).await;
        assert_eq!(raw_status(&resp), 400, "{p}: {resp}");
    }
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn unsafe_path_is_rejected_before_token_checks() {
    let h = harness().await;
    let r = h.get("/a/%2e%2e/admin").bearer("t-read").send().await;
    r.assert_error(400, "invalid_request", None);
    assert_eq!(h.auth_server.calls(), 0);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn safe_paths_are_forwarded_byte_for_byte() {
    let h = harness().await;
    let safe = [
        "/a/b",
        "/a/b/",
        "/a/b%20c",
        "/files/na%C3%AFve.txt",
        "/files/na%c3%afve.txt",
        "/a/.well-known/x",
        "/a/b.c..d",
        "/a/b;v=1",
        "/a/%7Euser",
        "/a/b?x=%2F..%2F&y=..&z",
        "/a/b?",
        "/",
    ];
    for p in safe {
        h.upstream.clear();
        let r = h.get(p).send().await;
        assert_eq!(r.status, 200, "{p}: {}", r.text());
        assert_eq!(h.upstream.single().target, p, "target rewritten");
    }
}

#[tokio::test]
async fn fragment_is_never_forwarded() {
    let h = harness().await;
    let resp = h
        .raw(b"GET /a/b#frag HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    match raw_status(&resp) {
        200 => assert_eq!(h.upstream.single().target, "/a/b"),
        400 => assert!(h.upstream.requests().is_empty()),
        other => panic!("unexpected status {other}: {resp}"),
    }
}
