//! Echo upstream on 127.0.0.1:0, hand-rolled HTTP/1.1 so that it records the request
//! exactly as it arrived on the wire: method, raw request-target, headers in order with
//! their case and duplicates, and the (de-chunked) body. Answers with a JSON echo unless
//! a path is scripted; WebSocket upgrades are accepted and echoed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Raw request-target (path and query) as on the wire.
    pub target: String,
    pub version: String,
    /// In wire order, original case, duplicates kept.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Trailer lines of a chunked body.
    pub trailers: Vec<(String, String)>,
}

impl Recorded {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// All values of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// Whether any header's name, lower-cased with `_` mapped to `-`, equals `name`.
    pub fn has_header_like(&self, name: &str) -> bool {
        let want = name.to_ascii_lowercase().replace('_', "-");
        self.headers
            .iter()
            .any(|(k, _)| k.to_ascii_lowercase().replace('_', "-") == want)
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A scripted answer for one path.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub delay: Duration,
    /// Send the body chunked, in pieces of this size.
    pub chunked: Option<usize>,
    /// Pause before each chunk of a chunked body (a slow, long-running answer).
    pub chunk_delay: Duration,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            chunked: None,
            chunk_delay: Duration::ZERO,
        }
    }
    pub fn json(body: &str) -> Self {
        Reply::new(200)
            .header("content-type", "application/json")
            .body(body.to_string())
    }
    pub fn text(body: &str) -> Self {
        Reply::new(200)
            .header("content-type", "text/plain")
            .body(body.to_string())
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
    pub fn body(mut self, b: impl Into<Bytes>) -> Self {
        self.body = b.into();
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    pub fn chunked(mut self, piece: usize) -> Self {
        self.chunked = Some(piece);
        self
    }
    /// Chunked in pieces of `piece` bytes, each sent after `pause`.
    pub fn trickle(mut self, piece: usize, pause: Duration) -> Self {
        self.chunked = Some(piece);
        self.chunk_delay = pause;
        self
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    scripts: HashMap<String, Reply>,
}

#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // Like real servers (hyper, nginx `tcp_nodelay on`): the head and the
                // body below are separate writes, and without TCP_NODELAY the body waits
                // for the ACK of the head, which the proxy delays ~40 ms (Nagle and
                // delayed ACK), whichever cache level answered.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_conn(stream, st.clone()));
            }
        });
        Upstream { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Scripts the answer for an exact path (query ignored).
    pub fn script(&self, path: &str, reply: Reply) -> &Self {
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(path.to_string(), reply);
        self
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The only request received (panics unless there is exactly one).
    #[track_caller]
    pub fn single(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(
            r.len(),
            1,
            "expected exactly one upstream request, got {r:#?}"
        );
        r.into_iter().next().unwrap()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}

async fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 65536];
    match s.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

async fn read_line(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(i) = super::find(buf, b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..i]).into_owned();
            buf.drain(..i + 2);
            return Some(line);
        }
        if !read_more(s, buf).await {
            return None;
        }
    }
}

async fn serve_conn(mut s: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    loop {
        // head
        let end = loop {
            if let Some(i) = super::find(&buf, b"\r\n\r\n") {
                break i;
            }
            if !read_more(&mut s, &mut buf).await {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_string();
        let mut parts = request_line.splitn(3, ' ');
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let version = parts.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| {
                l.split_once(':')
                    .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            })
            .collect();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };

        // body
        let mut body = Vec::new();
        let mut trailers = Vec::new();
        let chunked =
            get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if chunked {
            loop {
                let Some(size_line) = read_line(&mut s, &mut buf).await else {
                    return;
                };
                let size =
                    usize::from_str_radix(size_line.split(';').next().unwrap_or("0").trim(), 16)
                        .unwrap_or(0);
                if size == 0 {
                    loop {
                        let Some(t) = read_line(&mut s, &mut buf).await else {
                            return;
                        };
                        if t.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = t.split_once(':') {
                            trailers.push((k.to_string(), v.trim().to_string()));
                        }
                    }
                    break;
                }
                while buf.len() < size + 2 {
                    if !read_more(&mut s, &mut buf).await {
                        return;
                    }
                }
                body.extend_from_slice(&buf[..size]);
                buf.drain(..size + 2);
            }
        } else if let Some(cl) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            while buf.len() < cl {
                if !read_more(&mut s, &mut buf).await {
                    return;
                }
            }
            body.extend_from_slice(&buf[..cl]);
            buf.drain(..cl);
        }
        let rec = Recorded {
            method: method.clone(),
            target: target.clone(),
            version,
            headers: headers.clone(),
            body: Bytes::from(body),
            trailers,
        };
        let path = target.split('?').next().unwrap_or("").to_string();
        let script = {
            let mut st = state.lock().unwrap();
            st.requests.push(rec.clone());
            st.scripts.get(&path).cloned()
        };

        // A scripted path answers like an ordinary REST backend that ignores upgrades.
        if script.is_none() && get("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
            websocket(s, get("sec-websocket-key").unwrap_or_default()).await;
            return;
        }

        let reply = script.unwrap_or_else(|| {
            let echo = json!({
                "method": rec.method,
                "target": rec.target,
                "headers": rec.headers,
                "body_len": rec.body.len(),
            });
            Reply::json(&echo.to_string())
        });
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        let mut out = format!("HTTP/1.1 {} X\r\n", reply.status);
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        let has = |n: &str| reply.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        let close = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        match reply.chunked {
            Some(_) if !has("transfer-encoding") => out.push_str("transfer-encoding: chunked\r\n"),
            None if !has("content-length") => {
                out.push_str(&format!("content-length: {}\r\n", reply.body.len()))
            }
            _ => {}
        }
        out.push_str("\r\n");
        if s.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        let ok = match reply.chunked {
            Some(piece) => {
                let mut ok = true;
                for c in reply.body.chunks(piece.max(1)) {
                    if !reply.chunk_delay.is_zero() {
                        tokio::time::sleep(reply.chunk_delay).await;
                    }
                    let frame = [format!("{:x}\r\n", c.len()).as_bytes(), c, b"\r\n"].concat();
                    if s.write_all(&frame).await.is_err() {
                        ok = false;
                        break;
                    }
                }
                ok && s.write_all(b"0\r\n\r\n").await.is_ok()
            }
            None => method == "HEAD" || s.write_all(&reply.body).await.is_ok(),
        };
        if !ok || close {
            return;
        }
    }
}

async fn websocket(mut s: TcpStream, key: String) {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if s.write_all(resp.as_bytes()).await.is_err() {
        return;
    }
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        s,
        tokio_tungstenite::tungstenite::protocol::Role::Server,
        None,
    )
    .await;
    while let Some(Ok(msg)) = ws.next().await {
        if msg.is_text() || msg.is_binary() {
            if ws.send(msg).await.is_err() {
                break;
            }
        } else if msg.is_close() {
            break;
        }
    }
}
