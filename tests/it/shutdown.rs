//! docs/reference.md#operations: SIGTERM / SIGINT close the listener, finish in-flight requests, exit 0.

use std::time::Duration;

use crate::support::*;

async fn graceful(sig: &str) {
    let h = Harness::standard(TestConfig::standard()).await;
    h.upstream.script(
        "/orders/1",
        Reply::json(r#"{"slow":true}"#).delay(Duration::from_millis(1200)),
    );
    let inflight = tokio::spawn(h.get("/orders/1").bearer("t-read").send());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.upstream.requests().len(), 1, "request not in flight yet");
    h.signal(sig);
    let r = inflight.await.unwrap();
    assert_eq!(r.status, 200, "in-flight request cut: {}", r.text());
    assert_eq!(r.text(), r#"{"slow":true}"#);
    let status = h
        .wait_exit(Duration::from_secs(8))
        .await
        .expect("did not exit after signal");
    assert_eq!(status.code(), Some(0), "logs:\n{}", h.logs().join("\n"));
}

#[tokio::test]
async fn sigterm_finishes_inflight_request_and_exits_0() {
    graceful("TERM").await;
}

#[tokio::test]
async fn sigint_finishes_inflight_request_and_exits_0() {
    graceful("INT").await;
}

#[tokio::test]
async fn sigterm_closes_listener() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.signal("TERM");
    h.wait_exit(Duration::from_secs(8))
        .await
        .expect("did not exit");
    assert!(tokio::net::TcpStream::connect(h.proxy_addr).await.is_err());
}
