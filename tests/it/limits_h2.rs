//! docs/reference.md#limits for HTTP/2: a connection with no open stream for
//! `header_read_timeout` is closed with GOAWAY whether or not it answers PINGs (so idle
//! h2 connections cannot hold every `max_connections` slot), streams per connection
//! are bounded, and rapid resets (CVE-2023-44487) do not pin memory.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::support::h2raw::{self, End, Frame, RawH2};
use crate::support::*;

fn public_all() -> TestConfig {
    TestConfig::new().route(Route::public("/**"))
}

fn authority(h: &Harness) -> String {
    h.proxy_addr.to_string()
}

/// An h2 client connection (the `h2` crate, which answers PINGs) that has made one
/// request, plus a task that pings the server every 200 ms and a handle that resolves
/// when the connection ends.
struct PingingClient {
    send: h2::client::SendRequest<Bytes>,
    closed: tokio::task::JoinHandle<Result<(), h2::Error>>,
    pinger: tokio::task::JoinHandle<()>,
}

impl PingingClient {
    async fn open(h: &Harness) -> PingingClient {
        let tcp = TcpStream::connect(h.proxy_addr).await.unwrap();
        let (send, mut conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
        let mut ping = conn.ping_pong().expect("ping_pong");
        let closed = tokio::spawn(conn);
        let pinger = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if ping.ping(h2::Ping::opaque()).await.is_err() {
                    return;
                }
            }
        });
        let mut client = PingingClient {
            send,
            closed,
            pinger,
        };
        assert_eq!(client.get(h, "/first").await, 200);
        client
    }

    async fn get(&mut self, h: &Harness, path: &str) -> u16 {
        let req = http::Request::get(format!("http://{}{path}", authority(h)))
            .body(())
            .unwrap();
        let mut ready = self.send.clone().ready().await.expect("h2 ready");
        let (rsp, _) = ready.send_request(req, true).expect("send_request");
        let rsp = tokio::time::timeout(Duration::from_secs(5), rsp)
            .await
            .expect("h2 response in time")
            .expect("h2 response");
        let status = rsp.status().as_u16();
        let mut body = rsp.into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("h2 body");
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        status
    }
}

#[tokio::test]
async fn idle_h2c_connections_that_keep_pinging_cannot_lock_other_clients_out() {
    let h = Harness::standard(public_all().listen("max_connections", "5")).await;
    let mut idle = vec![PingingClient::open(&h).await];
    let first_idle = Instant::now();
    for _ in 1..5 {
        idle.push(PingingClient::open(&h).await);
    }
    // Every slot is taken; a sixth client waits in the kernel's accept queue until an
    // idle connection is closed (at header_read_timeout = 1s after its last stream).
    let sixth = tokio::time::timeout(Duration::from_secs(6), h.get("/sixth").try_send()).await;
    let waited = first_idle.elapsed();
    let sixth = sixth
        .expect("a sixth client was kept out by five idle h2 connections that only ping")
        .expect("sixth request");
    assert_eq!(sixth.status, 200, "{}", sixth.text());
    // Not before the first idle connection's timeout: the slots really were full.
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    for client in idle {
        let end = tokio::time::timeout(Duration::from_secs(5), client.closed)
            .await
            .expect("idle h2 connection still open 5s after header_read_timeout")
            .unwrap();
        assert_graceful(end);
        client.pinger.abort();
        drop(client.send);
    }
    let up = h.upstream.requests();
    assert_eq!(up.len(), 6, "{up:#?}");
}

/// The server ended the connection with a GOAWAY(NO_ERROR): `Ok` for the client, or
/// the I/O error of a PING it was writing as the server closed (no protocol error).
fn assert_graceful(end: Result<(), h2::Error>) {
    if let Err(e) = &end {
        assert!(e.is_io() && e.reason().is_none(), "{e:?}");
    }
}

/// Reads frames, sending our own PING every 200 ms, until a GOAWAY arrives.
async fn wait_for_goaway(raw: &mut RawH2, within: Duration) -> (Frame, Vec<Frame>) {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "no GOAWAY within {within:?}; frames: {seen:?}"
        );
        match raw.next_frame(Duration::from_millis(200)).await {
            Ok(f) if f.kind == h2raw::GOAWAY => return (f, seen),
            Ok(f) => seen.push(f),
            Err(End::Timeout) => {
                let _ = raw.send(&h2raw::ping(*b"stillup!")).await;
            }
            Err(End::Closed) => panic!("closed without GOAWAY; frames: {seen:?}"),
        }
    }
}

/// After the GOAWAY, the server closes the connection (it has no stream to finish).
async fn expect_closed(raw: &mut RawH2, within: Duration) {
    match raw.read_until(within, |_| false).await {
        Err((End::Closed, _)) => {}
        other => panic!("connection not closed after GOAWAY: {other:?}"),
    }
}

#[tokio::test]
async fn idle_h2c_connection_gets_goaway_after_header_read_timeout() {
    let h = Harness::standard(public_all()).await;
    let mut raw = RawH2::connect(h.proxy_addr).await;
    let started = Instant::now();
    let (goaway, seen) = wait_for_goaway(&mut raw, Duration::from_secs(5)).await;
    let after = started.elapsed();
    assert_eq!(goaway.error_code(), Some(h2raw::NO_ERROR), "{goaway:?}");
    assert!(
        after >= Duration::from_millis(800) && after < Duration::from_secs(4),
        "GOAWAY after {after:?}, header_read_timeout = 1s"
    );
    // Our PINGs were answered the whole time: the connection was live, only idle.
    assert!(
        seen.iter()
            .any(|f| f.kind == h2raw::PING && f.flags & h2raw::ACK != 0),
        "{seen:?}"
    );
    expect_closed(&mut raw, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn h2c_connection_idle_after_a_request_gets_goaway() {
    let h = Harness::standard(public_all()).await;
    let mut raw = RawH2::connect(h.proxy_addr).await;
    raw.send(&h2raw::request(1, "GET", "/x", &authority(&h), true))
        .await
        .unwrap();
    let (end, before) = raw
        .read_until(Duration::from_secs(5), |f| f.stream == 1 && f.ends_stream())
        .await
        .expect("response");
    assert!(
        before.iter().chain([&end]).any(Frame::is_status_200),
        "{before:?}"
    );
    let done = Instant::now();
    let (goaway, _) = wait_for_goaway(&mut raw, Duration::from_secs(5)).await;
    assert!(
        done.elapsed() >= Duration::from_millis(500),
        "{:?}",
        done.elapsed()
    );
    assert_eq!(goaway.error_code(), Some(h2raw::NO_ERROR));
    expect_closed(&mut raw, Duration::from_secs(3)).await;
}

/// Sends `GET path` on stream 1 and reads its whole answer, asserting that no GOAWAY
/// arrives meanwhile; returns how long the answer took.
async fn long_stream_is_not_cut(h: &Harness, path: &str) -> Duration {
    let mut raw = RawH2::connect(h.proxy_addr).await;
    let started = Instant::now();
    raw.send(&h2raw::request(1, "GET", path, &authority(h), true))
        .await
        .unwrap();
    let (_, before) = raw
        .read_until(Duration::from_secs(10), |f| {
            f.stream == 1 && f.ends_stream()
        })
        .await
        .unwrap_or_else(|(e, seen)| panic!("slow answer cut off ({e:?}): {seen:?}"));
    let took = started.elapsed();
    assert!(
        before.iter().all(|f| f.kind != h2raw::GOAWAY),
        "GOAWAY while a stream was open: {before:?}"
    );
    assert!(before.iter().any(Frame::is_status_200), "{before:?}");
    // The connection is still usable: a second stream is served.
    raw.send(&h2raw::request(3, "GET", "/again", &authority(h), true))
        .await
        .unwrap();
    let (_, more) = raw
        .read_until(Duration::from_secs(5), |f| f.stream == 3 && f.ends_stream())
        .await
        .unwrap_or_else(|(e, seen)| panic!("second stream not served ({e:?}): {seen:?}"));
    assert!(more.iter().all(|f| f.kind != h2raw::GOAWAY), "{more:?}");
    // ...and once idle, it is closed as usual.
    let (goaway, _) = wait_for_goaway(&mut raw, Duration::from_secs(5)).await;
    assert_eq!(goaway.error_code(), Some(h2raw::NO_ERROR));
    took
}

#[tokio::test]
async fn h2c_connection_waiting_for_a_slow_upstream_is_not_closed() {
    let h = Harness::standard(public_all().upstream("timeout", "\"10s\"")).await;
    h.upstream.script(
        "/slow",
        Reply::text("late").delay(Duration::from_millis(2500)),
    );
    let took = long_stream_is_not_cut(&h, "/slow").await;
    assert!(took >= Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn h2c_connection_streaming_a_slow_body_is_not_closed() {
    let h = Harness::standard(public_all()).await;
    h.upstream.script(
        "/trickle",
        Reply::text("abcdef").trickle(1, Duration::from_millis(500)),
    );
    let took = long_stream_is_not_cut(&h, "/trickle").await;
    assert!(took >= Duration::from_millis(2500), "{took:?}");
}

#[tokio::test]
async fn h2_streams_per_connection_are_bounded_by_max_concurrent_streams() {
    // The default is advertised in the server's SETTINGS.
    let h = Harness::standard(public_all()).await;
    let mut raw = RawH2::connect(h.proxy_addr).await;
    let settings = raw.server_settings().await.settings();
    assert!(
        settings.contains(&(h2raw::SETTINGS_MAX_CONCURRENT_STREAMS, 256)),
        "{settings:?}"
    );
    drop(raw);
    drop(h);

    // And enforced: streams beyond the limit are refused (RST_STREAM REFUSED_STREAM,
    // RFC 9113 §5.1.2) and never reach the upstream; the others are answered.
    let h = Harness::standard(
        public_all()
            .listen("max_concurrent_streams", "8")
            .upstream("timeout", "\"10s\""),
    )
    .await;
    h.upstream.script(
        "/slow",
        Reply::text("late").delay(Duration::from_millis(1500)),
    );
    let mut raw = RawH2::connect(h.proxy_addr).await;
    let settings = raw.server_settings().await.settings();
    assert!(
        settings.contains(&(h2raw::SETTINGS_MAX_CONCURRENT_STREAMS, 8)),
        "{settings:?}"
    );
    let mut burst = Vec::new();
    let ids: Vec<u32> = (0..20).map(|i| 1 + 2 * i).collect();
    for &id in &ids {
        burst.extend(h2raw::request(id, "GET", "/slow", &authority(&h), true));
    }
    raw.send(&burst).await.unwrap();
    let mut refused = Vec::new();
    let mut answered = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(8);
    while refused.len() + answered.len() < ids.len() && Instant::now() < deadline {
        match raw.next_frame(Duration::from_secs(1)).await {
            Ok(f) if f.kind == h2raw::RST_STREAM => {
                assert_eq!(f.error_code(), Some(h2raw::REFUSED_STREAM), "{f:?}");
                refused.push(f.stream);
            }
            Ok(f) if f.ends_stream() => answered.push(f.stream),
            Ok(f) if f.kind == h2raw::GOAWAY => panic!("GOAWAY: {f:?}"),
            Ok(_) | Err(End::Timeout) => {}
            Err(End::Closed) => panic!("closed"),
        }
    }
    refused.sort_unstable();
    answered.sort_unstable();
    assert_eq!(answered, ids[..8], "the first 8 streams are served");
    assert_eq!(refused, ids[8..], "the 12 beyond the limit are refused");
    assert_eq!(h.upstream.requests().len(), 8);
}

/// CVE-2023-44487: 10,000 streams opened and reset at once. h2 counts remotely reset
/// streams the server has not accepted yet (`max_pending_accept_reset_streams`, 64
/// here) and answers a flood with GOAWAY ENHANCE_YOUR_CALM; either way the process
/// must not keep the streams (RSS bounded), must not forward them all, and must keep
/// serving other clients.
#[tokio::test]
async fn h2_rapid_reset_flood_does_not_pin_memory() {
    let h = Harness::standard(public_all().upstream("timeout", "\"10s\"")).await;
    h.upstream
        .script("/slow", Reply::text("late").delay(Duration::from_secs(2)));
    // Warm up allocator and pools so the baseline is the serving steady state.
    for _ in 0..20 {
        assert_eq!(h.get("/warm").h2().send().await.status, 200);
    }
    let before = h2raw::rss_kib(h.pid());

    const STREAMS: u32 = 10_000;
    let mut raw = RawH2::connect(h.proxy_addr).await;
    raw.server_settings().await;
    let mut flood = Vec::new();
    for i in 0..STREAMS {
        let id = 1 + 2 * i;
        flood.extend(h2raw::request(id, "GET", "/slow", &authority(&h), true));
        flood.extend(h2raw::rst_stream(id, h2raw::CANCEL));
    }
    // The server may close mid-flood: a failed write is part of the expected outcome.
    let sent = raw.send(&flood).await.is_ok();
    let outcome = raw
        .read_until(Duration::from_secs(10), |f| f.kind == h2raw::GOAWAY)
        .await;
    let peak = h2raw::rss_kib(h.pid());
    let goaway = match outcome {
        Ok((goaway, _)) => Some(goaway),
        Err((End::Closed, _)) => None,
        Err((End::Timeout, seen)) => panic!(
            "the connection neither closed nor sent GOAWAY after {STREAMS} resets (sent all: {sent}); last frames: {:?}",
            &seen[seen.len().saturating_sub(5)..]
        ),
    };
    if let Some(goaway) = &goaway {
        assert_eq!(
            goaway.error_code(),
            Some(h2raw::ENHANCE_YOUR_CALM),
            "{goaway:?}"
        );
        // The connection is torn down after the GOAWAY.
        assert!(matches!(
            raw.read_until(Duration::from_secs(3), |_| false).await,
            Err((End::Closed, _))
        ));
    }
    // Memory: bounded, not per stream (10,000 streams kept would be tens of MiB).
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 8 * 1024,
        "RSS grew by {growth} KiB ({before} -> {peak} KiB) during {STREAMS} resets"
    );
    // Work: at most what max_concurrent_streams lets through, not one per reset.
    let forwarded = h.upstream.requests().len() - 20;
    assert!(
        forwarded <= 256,
        "{forwarded} of {STREAMS} reset streams were forwarded"
    );
    // Other clients are still served.
    let r = h.get("/after").h2().send().await;
    assert_eq!(r.status, 200);
    eprintln!(
        "rapid reset: goaway={:?} forwarded={forwarded} rss {before} -> {peak} KiB",
        goaway.and_then(|g| g.error_code())
    );
}

/// The slower variant: each batch of streams is reset only after the server has
/// accepted them and started forwarding, so it is the proxy's own work that the resets
/// cancel. Every reset stream must be dropped with its upstream request; the
/// connection keeps serving, or is closed with ENHANCE_YOUR_CALM, and memory stays flat.
#[tokio::test]
async fn h2_streams_reset_after_accept_are_released() {
    let h = Harness::standard(public_all().upstream("timeout", "\"10s\"")).await;
    h.upstream
        .script("/slow", Reply::text("late").delay(Duration::from_secs(2)));
    for _ in 0..20 {
        assert_eq!(h.get("/warm").h2().send().await.status, 200);
    }
    let before = h2raw::rss_kib(h.pid());
    let mut raw = RawH2::connect(h.proxy_addr).await;
    raw.server_settings().await;
    let mut id = 1;
    let mut goaway = None;
    'rounds: for _ in 0..50 {
        let first = id;
        let mut batch = Vec::new();
        for _ in 0..20 {
            batch.extend(h2raw::request(id, "GET", "/slow", &authority(&h), true));
            id += 2;
        }
        if raw.send(&batch).await.is_err() {
            break;
        }
        // Let the server accept and start each stream, then cancel them all.
        loop {
            match raw.next_frame(Duration::from_millis(20)).await {
                Ok(f) if f.kind == h2raw::GOAWAY => {
                    goaway = Some(f);
                    break 'rounds;
                }
                Ok(_) => {}
                Err(End::Timeout) => break,
                Err(End::Closed) => break 'rounds,
            }
        }
        let resets: Vec<u8> = (first..id)
            .step_by(2)
            .flat_map(|i| h2raw::rst_stream(i, h2raw::CANCEL))
            .collect();
        if raw.send(&resets).await.is_err() {
            break;
        }
    }
    let peak = h2raw::rss_kib(h.pid());
    let growth = peak.saturating_sub(before);
    assert!(
        growth < 8 * 1024,
        "RSS grew by {growth} KiB ({before} -> {peak} KiB)"
    );
    match &goaway {
        Some(g) => assert_eq!(g.error_code(), Some(h2raw::ENHANCE_YOUR_CALM), "{g:?}"),
        None => {
            // Still serving on the same connection.
            raw.send(&h2raw::request(id, "GET", "/ok", &authority(&h), true))
                .await
                .unwrap();
            let (_, seen) = raw
                .read_until(Duration::from_secs(5), |f| {
                    f.stream == id && f.ends_stream()
                })
                .await
                .unwrap_or_else(|(e, seen)| panic!("not served after resets ({e:?}): {seen:?}"));
            assert!(seen.iter().any(Frame::is_status_200), "{seen:?}");
        }
    }
    let r = h.get("/after").h2().send().await;
    assert_eq!(r.status, 200);
    eprintln!(
        "resets after accept: {} streams, goaway={:?}, upstream saw {}, rss {before} -> {peak} KiB",
        (id - 1) / 2,
        goaway.and_then(|g| g.error_code()),
        h.upstream.requests().len() - 20
    );
}

/// A client that starts the HTTP/2 preface and stops: hyper-util's version detection
/// would wait for the rest forever.
#[tokio::test]
async fn incomplete_h2c_preface_is_closed_after_header_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::standard(public_all()).await;
    let mut s = TcpStream::connect(h.proxy_addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let res = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(
        res.is_ok(),
        "connection with a partial preface still open 5s after a 1s header_read_timeout"
    );
    assert!(started.elapsed() >= Duration::from_millis(800));
}

// === TLS (h2 via ALPN) ===

async fn tls_harness(config: TestConfig) -> (Harness, rustls::pki_types::CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_der = ck.cert.der().clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), ck.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), ck.key_pair.serialize_pem()).unwrap();
    let mut cfg = config;
    cfg.tls = Some((
        dir.path().join("tls.crt").display().to_string(),
        dir.path().join("tls.key").display().to_string(),
    ));
    let auth = AuthServer::start().await;
    add_standard_tokens(&auth);
    let h = Harness::start_with(cfg, auth, Upstream::start().await).await;
    let _kept = dir.keep(); // the binary reads the files at start and on reload
    (h, cert_der)
}

async fn tls_connect(
    h: &Harness,
    cert: &rustls::pki_types::CertificateDer<'static>,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(h.proxy_addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(alpn));
    stream
}

#[tokio::test]
async fn idle_tls_h2_connection_gets_goaway_after_header_read_timeout() {
    let (h, cert) = tls_harness(public_all()).await;
    let tls = tls_connect(&h, &cert, b"h2").await;
    let mut raw = RawH2::handshake(Box::new(tls)).await;
    raw.send(&h2raw::request(1, "GET", "/x", "localhost", true))
        .await
        .unwrap();
    let (_, before) = raw
        .read_until(Duration::from_secs(5), |f| f.stream == 1 && f.ends_stream())
        .await
        .expect("response over TLS h2");
    assert!(before.iter().any(Frame::is_status_200), "{before:?}");
    let done = Instant::now();
    let (goaway, _) = wait_for_goaway(&mut raw, Duration::from_secs(5)).await;
    assert!(done.elapsed() >= Duration::from_millis(500));
    assert_eq!(goaway.error_code(), Some(h2raw::NO_ERROR));
    expect_closed(&mut raw, Duration::from_secs(3)).await;
}

/// A TLS client that completes the handshake and then sends nothing is closed like a
/// plain one (the HTTP version detection after the handshake has no timer of its own).
#[tokio::test]
async fn tls_connection_silent_after_handshake_is_closed() {
    use tokio::io::AsyncReadExt;
    let (h, cert) = tls_harness(public_all()).await;
    let mut tls = tls_connect(&h, &cert, b"h2").await;
    let started = Instant::now();
    let mut buf = Vec::new();
    let res = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut buf)).await;
    assert!(
        res.is_ok(),
        "silent TLS connection still open 5s after a 1s header_read_timeout"
    );
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn idle_tls_h2_connections_cannot_lock_other_clients_out() {
    let (h, cert) = tls_harness(public_all().listen("max_connections", "2")).await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        let tls = tls_connect(&h, &cert, b"h2").await;
        let (send, mut conn) = h2::client::handshake(tls).await.expect("h2 over TLS");
        let mut ping = conn.ping_pong().expect("ping_pong");
        let closed = tokio::spawn(conn);
        let pinger = tokio::spawn(async move {
            while ping.ping(h2::Ping::opaque()).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        idle.push((send, closed, pinger));
    }
    let third = tokio::time::timeout(Duration::from_secs(6), async {
        let tls = tls_connect(&h, &cert, b"http/1.1").await;
        let req = Req::new(h.proxy_addr, "GET", "/third")
            .header("host", "localhost")
            .build();
        send_on(hyper_util::rt::TokioIo::new(tls), req, false).await
    })
    .await
    .expect("a third client was kept out by two idle TLS h2 connections")
    .unwrap();
    assert_eq!(third.status, 200);
    for (send, closed, pinger) in idle {
        let end = tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("idle TLS h2 connection not closed")
            .unwrap();
        assert_graceful(end);
        pinger.abort();
        drop(send);
    }
}
