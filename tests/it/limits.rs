//! docs/reference.md#limits: header size 431, two Host 400, CL+TE 400, header read timeout.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

fn public_all() -> TestConfig {
    TestConfig::new().route(Route::public("/**"))
}

#[tokio::test]
async fn oversized_headers_are_431_and_not_forwarded() {
    let h = Harness::standard(public_all().listen("max_header_bytes", "\"4KiB\"")).await;
    let req = format!(
        "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(6000)
    );
    let resp = h.raw(req.as_bytes()).await;
    assert_eq!(raw_status(&resp), 431, "{resp}");
    let ok = format!(
        "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(2000)
    );
    assert_eq!(raw_status(&h.raw(ok.as_bytes()).await), 200);
    assert_eq!(h.upstream.requests().len(), 1);
}

#[tokio::test]
async fn default_header_limit_is_16kib() {
    let h = Harness::standard(public_all()).await;
    let many: String = (0..40)
        .map(|i| format!("X-H{i}: {}\r\n", "b".repeat(500)))
        .collect();
    let req = format!("GET /x HTTP/1.1\r\nHost: x\r\n{many}Connection: close\r\n\r\n");
    assert_eq!(raw_status(&h.raw(req.as_bytes()).await), 431);
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn two_host_headers_are_400() {
    let h = Harness::standard(public_all()).await;
    let resp = h
        .raw(b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n")
        .await;
    assert_eq!(raw_status(&resp), 400, "{resp}");
    assert!(h.upstream.requests().is_empty());
}

/// RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding is either
/// refused or processed by Transfer-Encoding alone, and the connection is closed after
/// the response. scopegate (hyper) does the latter: the bytes after the chunked body
/// (the smuggling attempt) are never parsed as a request, and the forwarded request
/// carries no Content-Length.
#[tokio::test]
async fn content_length_with_transfer_encoding_never_smuggles_a_second_request() {
    let h = Harness::standard(public_all()).await;
    let req =
        "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = h.raw(req.as_bytes()).await;
    let status = raw_status(&resp);
    assert!(status == 400 || status == 200, "{resp}");
    assert_eq!(
        resp.matches("HTTP/1.1 ").count(),
        1,
        "exactly one response, then close: {resp}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = h.upstream.requests();
    assert!(seen.iter().all(|r| r.target != "/smuggled"), "{seen:#?}");
    for r in &seen {
        assert!(
            r.header("content-length").is_none_or(|v| v == "0"),
            "{r:#?}"
        );
    }
}

#[tokio::test]
async fn partial_header_block_is_closed_after_header_read_timeout() {
    let h = Harness::standard(public_all()).await;
    let mut s = TcpStream::connect(h.proxy_addr).await.unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut buf = Vec::new();
    let res = tokio::time::timeout(Duration::from_secs(4), s.read_to_end(&mut buf)).await;
    assert!(
        res.is_ok(),
        "connection still open after 4s with header_read_timeout = 1s"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "closed too early: {:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(text.is_empty() || raw_status(&text) == 408, "{text}");
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn idle_connection_is_closed_after_header_read_timeout() {
    let h = Harness::standard(public_all()).await;
    let mut s = TcpStream::connect(h.proxy_addr).await.unwrap();
    let mut buf = Vec::new();
    let res = tokio::time::timeout(Duration::from_secs(4), s.read_to_end(&mut buf)).await;
    assert!(res.is_ok(), "idle connection still open after 4s");
}

#[tokio::test]
async fn keep_alive_connection_idle_after_a_request_is_closed() {
    let h = Harness::standard(public_all()).await;
    let mut s = TcpStream::connect(h.proxy_addr).await.unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let first = read_response(&mut s, Duration::from_secs(3)).await;
    assert_eq!(raw_status(&first), 200, "{first}");
    let mut buf = Vec::new();
    let res = tokio::time::timeout(Duration::from_secs(4), s.read_to_end(&mut buf)).await;
    assert!(
        res.is_ok(),
        "idle keep-alive connection still open after 4s"
    );
}
