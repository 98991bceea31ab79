//! docs/reference.md#forwarding forwarding: hop-by-hop, X-Forwarded-*, re-routing headers, trailers, Host,
//! 502/504, streaming both directions, upstream path prefix.

use std::time::Duration;

use crate::support::*;

fn public_all() -> TestConfig {
    TestConfig::new().route(Route::public("/**"))
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_including_connection_named_ones() {
    let h = Harness::standard(public_all()).await;
    let req = "GET /x HTTP/1.1\r\nHost: x\r\nConnection: X-Custom-Hop, keep-alive\r\nX-Custom-Hop: 1\r\n\
Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Keep: yes\r\n\r\n";
    let resp = h.raw(req.as_bytes()).await;
    assert_eq!(raw_status(&resp), 200, "{resp}");
    let up = h.upstream.single();
    for name in [
        "x-custom-hop",
        "keep-alive",
        "te",
        "proxy-connection",
        "upgrade",
    ] {
        assert!(
            up.header(name).is_none(),
            "{name} forwarded: {:?}",
            up.headers
        );
    }
    if let Some(c) = up.header("connection") {
        assert!(!c.to_ascii_lowercase().contains("x-custom-hop"), "{c}");
    }
    assert_eq!(up.header("x-keep"), Some("yes"));
}

#[tokio::test]
async fn x_forwarded_headers_are_set_and_client_copies_replaced() {
    let h = Harness::standard(public_all()).await;
    let r = h
        .get("/x")
        .header("host", "api.example.test")
        .header("x-forwarded-for", "1.2.3.4")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.test")
        .send()
        .await;
    assert_eq!(r.status, 200);
    let up = h.upstream.single();
    assert_eq!(up.header_all("x-forwarded-for"), vec!["127.0.0.1"]);
    assert_eq!(up.header_all("x-forwarded-proto"), vec!["http"]);
    assert_eq!(up.header_all("x-forwarded-host"), vec!["api.example.test"]);
}

#[tokio::test]
async fn trusted_forwarded_headers_are_appended_and_kept() {
    let h = Harness::standard(public_all().listen("trust_forwarded_headers", "true")).await;
    let r = h
        .get("/x")
        .header("host", "api.example.test")
        .header("x-forwarded-for", "1.2.3.4")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "front.test")
        .send()
        .await;
    assert_eq!(r.status, 200);
    let up = h.upstream.single();
    assert_eq!(
        up.header_all("x-forwarded-for").join(", "),
        "1.2.3.4, 127.0.0.1"
    );
    assert_eq!(up.header_all("x-forwarded-proto"), vec!["https"]);
    assert_eq!(up.header_all("x-forwarded-host"), vec!["front.test"]);
}

#[tokio::test]
async fn rerouting_and_method_override_headers_are_removed() {
    let h = Harness::standard(TestConfig::standard()).await;
    let r = h
        .get("/orders/1")
        .bearer("t-read")
        .header("x-original-url", "/admin")
        .header("x-rewrite-url", "/admin")
        .header("x-http-method-override", "DELETE")
        .header("x-http-method", "DELETE")
        .header("x-method-override", "DELETE")
        .send()
        .await;
    assert_eq!(r.status, 200);
    let up = h.upstream.single();
    assert_eq!(up.method, "GET");
    assert_eq!(up.target, "/orders/1");
    for name in [
        "x-original-url",
        "x-rewrite-url",
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ] {
        assert!(!up.has_header_like(name), "{name} forwarded");
    }
}

#[tokio::test]
async fn request_trailers_are_dropped() {
    let h = Harness::standard(public_all()).await;
    let req = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Method\r\nConnection: close\r\n\r\n\
5\r\nhello\r\n0\r\nX-Method: DELETE\r\n\r\n";
    let resp = h.raw(req.as_bytes()).await;
    assert_eq!(raw_status(&resp), 200, "{resp}");
    let up = h.upstream.single();
    assert_eq!(up.body_text(), "hello");
    assert!(
        up.trailers.is_empty(),
        "trailers forwarded: {:?}",
        up.trailers
    );
    assert!(up.header("x-method").is_none());
}

#[tokio::test]
async fn host_is_upstream_authority_by_default() {
    let h = Harness::standard(public_all()).await;
    assert_eq!(
        h.get("/x")
            .header("host", "api.example.test")
            .send()
            .await
            .status,
        200
    );
    assert_eq!(
        h.upstream.single().header_all("host"),
        vec![h.upstream.addr.to_string()]
    );
}

#[tokio::test]
async fn preserve_host_passes_client_host() {
    let h = Harness::standard(public_all().upstream("preserve_host", "true")).await;
    assert_eq!(
        h.get("/x")
            .header("host", "api.example.test")
            .send()
            .await
            .status,
        200
    );
    assert_eq!(
        h.upstream.single().header_all("host"),
        vec!["api.example.test"]
    );
}

#[tokio::test]
async fn dead_upstream_is_502() {
    let h = Harness::standard(TestConfig::standard().upstream_url(&dead_url())).await;
    h.get("/orders/1")
        .bearer("t-read")
        .send()
        .await
        .assert_error(502, "bad_gateway", None);
}

#[tokio::test]
async fn slow_upstream_is_504() {
    let h = Harness::standard(TestConfig::standard().upstream("timeout", "\"300ms\"")).await;
    h.upstream.script(
        "/orders/1",
        Reply::json("{}").delay(Duration::from_millis(1500)),
    );
    let started = tokio::time::Instant::now();
    h.get("/orders/1")
        .bearer("t-read")
        .send()
        .await
        .assert_error(504, "gateway_timeout", None);
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn upstream_url_path_is_a_prefix() {
    // The URL needs the mock's port, so build the harness by hand.
    let up = Upstream::start().await;
    let auth = AuthServer::start().await;
    add_standard_tokens(&auth);
    let cfg = TestConfig::standard().upstream_url(&format!("{}/base", up.url()));
    let h = Harness::start_with(cfg, auth, up).await;
    assert_eq!(
        h.get("/orders/1?x=1").bearer("t-read").send().await.status,
        200
    );
    assert_eq!(h.upstream.single().target, "/base/orders/1?x=1");
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn large_request_body_streams_to_upstream_intact() {
    let h = Harness::standard(public_all()).await;
    let body = pattern(8 * 1024 * 1024 + 17);
    let r = h
        .post("/upload")
        .header("content-type", "application/octet-stream")
        .body(body.clone())
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let up = h.upstream.single();
    assert_eq!(up.body.len(), body.len());
    assert!(up.body.as_ref() == body.as_slice(), "body corrupted");
}

#[tokio::test]
async fn large_response_body_streams_to_client_intact() {
    let h = Harness::standard(public_all()).await;
    let body = pattern(8 * 1024 * 1024 + 5);
    h.upstream.script(
        "/download",
        Reply::new(200)
            .header("content-type", "application/octet-stream")
            .body(body.clone())
            .chunked(64 * 1024),
    );
    let r = h.get("/download").send().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), body.len());
    assert!(r.body.as_ref() == body.as_slice(), "body corrupted");
}

#[tokio::test]
async fn upstream_status_and_headers_pass_through() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.upstream.script(
        "/orders/7",
        Reply::text("gone")
            .header("x-upstream", "1")
            .header("content-type", "text/plain"),
    );
    let mut reply = Reply::text("gone");
    reply.status = 410;
    h.upstream
        .script("/orders/7", reply.header("x-upstream", "1"));
    let r = h.get("/orders/7").bearer("t-read").send().await;
    assert_eq!(r.status, 410);
    assert_eq!(r.text(), "gone");
    assert_eq!(r.header("x-upstream").as_deref(), Some("1"));
}

/// A raw HTTP/1.1 upstream that counts its TCP connections and answers every request
/// `200 ok`; with `close_after_each`, it closes the connection after each answer
/// without saying so (as a server whose keep-alive timeout races the next request).
async fn counting_upstream(
    close_after_each: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let conns = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // GETs without bodies: one answer per complete head.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        if close_after_each {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, conns)
}

#[tokio::test]
async fn upstream_connections_are_kept_alive_and_reused() {
    let (url, conns) = counting_upstream(false).await;
    let h = Harness::standard(public_all().upstream_url(&url)).await;
    for i in 0..20 {
        let r = h.get(&format!("/x/{i}")).send().await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.body, "ok");
    }
    // One client asking one at a time: one upstream connection per worker at most.
    let opened = conns.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=2).contains(&opened),
        "{opened} upstream connections for 20 requests"
    );
}

#[tokio::test]
async fn an_upstream_that_closes_idle_connections_costs_no_request() {
    let (url, conns) = counting_upstream(true).await;
    let h = Harness::standard(public_all().upstream_url(&url)).await;
    for i in 0..20 {
        let r = h.get(&format!("/x/{i}")).send().await;
        assert_eq!(r.status, 200, "request {i}: {:?}", r.body);
        // Sometimes the close arrives before the next request, sometimes after it
        // was handed to the closing connection (which gives it back unsent).
        if i % 2 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let opened = conns.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        opened, 20,
        "one connection per request, as the upstream closes each"
    );
}
