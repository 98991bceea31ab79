//! Raw HTTP/1: byte-exact requests and a bounded response reader, for what a
//! well-behaved client cannot send.

use super::*;

// === raw TCP ===

/// Writes `bytes`, then reads one response (by Content-Length / chunked / EOF), bounded.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_response(&mut s, Duration::from_secs(5)).await
}

/// Reads one HTTP/1 response from `s` (or whatever arrives before EOF / `within`).
pub async fn read_response(s: &mut TcpStream, within: Duration) -> String {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let body = &buf[end + 4..];
            if head.starts_with("http/1.1 1") && !head.starts_with("http/1.1 101") {
                // interim response: drop it and keep reading
                buf = body.to_vec();
                continue;
            }
            let cl = head.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if let Some(cl) = cl {
                if body.len() >= cl {
                    break;
                }
            } else if head
                .lines()
                .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"))
            {
                if find(body, b"0\r\n\r\n").is_some() {
                    break;
                }
            } else if head.starts_with("http/1.1 204") || head.starts_with("http/1.1 304") {
                break;
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The status code of a raw response text (0 when there is none).
pub fn raw_status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
