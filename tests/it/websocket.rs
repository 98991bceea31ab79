//! docs/reference.md#operations: WebSocket upgrades are authorized, then tunnelled; a tunnel closes at `exp`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::support::*;

fn config() -> TestConfig {
    TestConfig::new().route(Route::new("/ws/**").methods(&["GET"]).scopes(&["chat"]))
}

async fn connect(
    h: &Harness,
    token: Option<&str>,
) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, WsError> {
    let mut req = format!("ws://{}/ws/room", h.proxy_addr)
        .into_client_request()
        .unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let tcp = tokio::net::TcpStream::connect(h.proxy_addr).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::client_async(req, tcp),
    )
    .await
    .expect("websocket handshake timed out")
    .map(|(ws, _)| ws)
}

/// `Ok` once the server closed `ws` (end, error or Close frame) within `within`.
async fn closes_within(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    within: Duration,
) -> Result<(), tokio::time::error::Elapsed> {
    tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
}

#[tokio::test]
async fn authorized_upgrade_is_tunnelled_and_echoes() {
    let h = Harness::standard(config()).await;
    h.auth_server
        .token("t-chat", active().scope("chat").sub("alice").exp_in(600));
    let mut ws = connect(&h, Some("t-chat")).await.expect("upgrade refused");
    for msg in ["hello", "world"] {
        ws.send(Message::Text(msg.into())).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(3), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, Message::Text(msg.into()));
    }
    let up = h.upstream.single();
    assert_eq!(up.header("x-auth-subject"), Some("alice"));
    assert!(up.header("authorization").is_none());
    assert!(up
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket")));
}

#[tokio::test]
async fn unauthorized_upgrade_is_refused_and_not_forwarded() {
    let h = Harness::standard(config()).await;
    h.auth_server
        .token("t-other", active().scope("orders:read").exp_in(600));
    for (token, status) in [
        (None, 401),
        (Some("t-other"), 403),
        (Some("t-inactive"), 401),
    ] {
        match connect(&h, token).await {
            Err(WsError::Http(resp)) => assert_eq!(resp.status().as_u16(), status, "{token:?}"),
            Err(e) => panic!("{token:?}: unexpected error {e}"),
            Ok(_) => panic!("{token:?}: upgrade accepted"),
        }
    }
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn tunnel_is_closed_when_token_expires() {
    let h = Harness::standard(config()).await;
    h.auth_server
        .token("t-brief", active().scope("chat").sub("alice").exp_in(2));
    let mut ws = connect(&h, Some("t-brief")).await.expect("upgrade refused");
    ws.send(Message::Text("before".into())).await.unwrap();
    assert!(ws.next().await.unwrap().is_ok());
    // exp is at most 2 s away; the tunnel must be gone shortly after.
    let closed = closes_within(&mut ws, Duration::from_secs(5)).await;
    assert!(closed.is_ok(), "tunnel outlived its token");
}

#[tokio::test]
async fn tunnel_of_a_token_without_exp_is_closed_after_the_cache_ttl() {
    let h = Harness::standard(config().cache("ttl", "\"2s\"")).await;
    h.auth_server
        .token("t-forever", active().scope("chat").sub("alice"));
    let mut ws = connect(&h, Some("t-forever"))
        .await
        .expect("upgrade refused");
    ws.send(Message::Text("before".into())).await.unwrap();
    assert!(ws.next().await.unwrap().is_ok());
    let closed = closes_within(&mut ws, Duration::from_secs(5)).await;
    assert!(
        closed.is_ok(),
        "a tunnel without exp lived past the cache ttl"
    );
}

/// docs/reference.md#limits: a tunnel counts against `max_connections` until it closes (the slot
/// is not released when hyper hands the upgraded connection over).
#[tokio::test]
async fn tunnel_holds_a_connection_slot_until_it_closes() {
    let h = Harness::standard(config().listen("max_connections", "1")).await;
    h.auth_server
        .token("t-chat", active().scope("chat").sub("alice").exp_in(600));
    let mut ws = connect(&h, Some("t-chat")).await.expect("upgrade refused");
    ws.send(Message::Text("hold".into())).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::Text("hold".into()));
    // Well past header_read_timeout (1s): the tunnel, not an idle connection, holds it.
    let second = tokio::spawn(h.get("/ws/room").try_send());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        !second.is_finished(),
        "a second client was served while the only slot was held by a tunnel: {:?}",
        second.await
    );
    ws.close(None).await.unwrap();
    drop(ws);
    let r = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("second client not served after the tunnel closed")
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 401, "{}", r.text());
}

#[tokio::test]
async fn tunnel_is_closed_when_a_purge_evicts_its_token() {
    let h = Harness::standard(config()).await;
    h.auth_server
        .token("t-chat", active().scope("chat").sub("alice").exp_in(600));
    h.auth_server
        .token("t-other", active().scope("chat").sub("bob").exp_in(600));
    let mut ws = connect(&h, Some("t-chat")).await.expect("upgrade refused");
    let mut other = connect(&h, Some("t-other")).await.expect("upgrade refused");
    // A purge of someone else leaves the tunnel open.
    let r = h
        .admin_post("/cache/purge", r#"{"subject":"bob"}"#)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    ws.send(Message::Text("still here".into())).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .expect("tunnel closed by another subject's purge")
        .unwrap()
        .unwrap();
    assert_eq!(echoed, Message::Text("still here".into()));
    let gone = closes_within(&mut other, Duration::from_secs(3)).await;
    assert!(gone.is_ok(), "purged subject's tunnel stayed open");

    let digest = sha256_hex("t-chat");
    let r = h
        .admin_post("/cache/purge", &format!(r#"{{"token_sha256":"{digest}"}}"#))
        .send()
        .await;
    assert_eq!(r.status, 200);
    let closed = closes_within(&mut ws, Duration::from_secs(3)).await;
    assert!(closed.is_ok(), "tunnel outlived the purge of its token");
}
