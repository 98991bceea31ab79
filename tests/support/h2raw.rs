//! A raw HTTP/2 client (RFC 9113 frames written and read by hand) for the tests that
//! must do what a well-behaved client library never does: open more streams than the
//! server allows, reset streams as fast as they are opened, or watch exactly which
//! frames (GOAWAY, RST_STREAM) the server sends and when.
//!
//! Requests are encoded with HPACK literals only (RFC 7541 §6.2.2, no Huffman, no
//! dynamic table), so no decoder state is needed; response header blocks are not
//! decoded except for the one-byte `:status: 200` (static index 8, `0x88`) that h2
//! writes for a 200.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// RFC 9113 §7 error codes.
pub const NO_ERROR: u32 = 0x0;
pub const CANCEL: u32 = 0x8;
pub const REFUSED_STREAM: u32 = 0x7;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2).
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The last stream id of a GOAWAY frame.
    pub fn last_stream_id(&self) -> Option<u32> {
        (self.kind == GOAWAY).then(|| {
            u32::from_be_bytes([
                self.payload[0],
                self.payload[1],
                self.payload[2],
                self.payload[3],
            ]) & 0x7fff_ffff
        })
    }

    /// `(identifier, value)` pairs of a SETTINGS frame.
    pub fn settings(&self) -> Vec<(u16, u32)> {
        self.payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }

    /// A response HEADERS frame whose block starts with `:status: 200` (indexed).
    pub fn is_status_200(&self) -> bool {
        self.kind == HEADERS && self.payload.first() == Some(&0x88)
    }

    pub fn ends_stream(&self) -> bool {
        matches!(self.kind, DATA | HEADERS) && self.flags & END_STREAM != 0
    }
}

/// What [`RawH2::next_frame`] saw instead of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server closed the connection (EOF or reset).
    Closed,
    /// Nothing arrived in time.
    Timeout,
}

pub struct RawH2 {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    /// Answer PINGs and SETTINGS automatically (a live, well-behaved peer).
    pub auto_ack: bool,
}

impl RawH2 {
    /// h2c prior knowledge: connects and sends the preface and an empty SETTINGS.
    pub async fn connect(addr: std::net::SocketAddr) -> RawH2 {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let _ = tcp.set_nodelay(true);
        Self::handshake(Box::new(tcp)).await
    }

    /// Sends the preface and an empty SETTINGS on an established stream (TLS with h2).
    pub async fn handshake(io: Box<dyn Io>) -> RawH2 {
        let mut raw = RawH2 {
            io,
            buf: Vec::new(),
            auto_ack: true,
        };
        let mut hello = PREFACE.to_vec();
        hello.extend(frame(SETTINGS, 0, 0, &[]));
        raw.send(&hello).await.expect("send preface");
        raw
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Reads the next frame, answering PING and SETTINGS when `auto_ack` is set (the
    /// answered frame is still returned).
    pub async fn next_frame(&mut self, within: Duration) -> Result<Frame, End> {
        let frame = tokio::time::timeout(within, self.read_frame())
            .await
            .map_err(|_| End::Timeout)??;
        if self.auto_ack && frame.flags & ACK == 0 {
            let answer = match frame.kind {
                PING => Some(self::frame(PING, ACK, 0, &frame.payload)),
                SETTINGS => Some(self::frame(SETTINGS, ACK, 0, &[])),
                _ => None,
            };
            if let Some(answer) = answer {
                // A peer that already closed is reported by the next read.
                let _ = self.send(&answer).await;
            }
        }
        Ok(frame)
    }

    async fn read_frame(&mut self) -> Result<Frame, End> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes([
                            self.buf[5],
                            self.buf[6],
                            self.buf[7],
                            self.buf[8],
                        ]) & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    return Ok(f);
                }
            }
            let mut chunk = [0u8; 16384];
            match self.io.read(&mut chunk).await {
                Ok(0) | Err(_) => return Err(End::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads frames until `pred` matches one (returned with everything read before
    /// it) or `within` has passed / the connection closed (`Err` with what was read).
    pub async fn read_until(
        &mut self,
        within: Duration,
        pred: impl Fn(&Frame) -> bool,
    ) -> Result<(Frame, Vec<Frame>), (End, Vec<Frame>)> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Ok(f) if pred(&f) => return Ok((f, seen)),
                Ok(f) => seen.push(f),
                Err(e) => return Err((e, seen)),
            }
        }
    }

    /// The server's first SETTINGS frame (not an ACK).
    pub async fn server_settings(&mut self) -> Frame {
        match self
            .read_until(Duration::from_secs(5), |f| {
                f.kind == SETTINGS && f.flags & ACK == 0
            })
            .await
        {
            Ok((f, _)) => f,
            Err((e, seen)) => panic!("no SETTINGS from the server ({e:?}); frames: {seen:?}"),
        }
    }
}

/// One frame on the wire.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frame size");
    assert!(
        len < 1 << 14,
        "frame larger than the default SETTINGS_MAX_FRAME_SIZE"
    );
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A HEADERS frame (END_HEADERS) for `method path` on `authority`, plain `http`.
pub fn request(
    stream: u32,
    method: &str,
    path: &str,
    authority: &str,
    end_stream: bool,
) -> Vec<u8> {
    let mut block = Vec::new();
    match method {
        "GET" => block.push(0x82),
        "POST" => block.push(0x83),
        other => literal(&mut block, 2, other),
    }
    block.push(0x86); // :scheme http
    literal(&mut block, 4, path);
    literal(&mut block, 1, authority);
    let flags = END_HEADERS | if end_stream { END_STREAM } else { 0 };
    frame(HEADERS, flags, stream, &block)
}

/// RST_STREAM with `code`.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// A PING (not an ACK) with `data`.
pub fn ping(data: [u8; 8]) -> Vec<u8> {
    frame(PING, 0, 0, &data)
}

/// RFC 7541 §6.2.2 literal header field without indexing, indexed name.
fn literal(block: &mut Vec<u8>, name_index: u8, value: &str) {
    assert!(name_index < 15 && value.len() < 127, "short literals only");
    block.push(name_index);
    block.push(u8::try_from(value.len()).expect("short"));
    block.extend_from_slice(value.as_bytes());
}

/// `VmRSS` of a process in KiB, from `/proc/<pid>/status`.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
