//! Black-box harness: spawns the real `scopegate` binary against in-process mocks.
//!
//! `Harness::start(TestConfig)` starts a mock authorization server and an echo upstream on
//! 127.0.0.1:0, renders the config to TOML (so the real loader runs), runs
//! `scopegate serve --config PATH --log-format json`, reads the bound addresses from the
//! `listening` log lines and waits for `GET /readyz` = 200. Every wait is bounded and fails
//! loudly with the captured stderr.

pub mod auth_server;
pub mod config;
pub mod h2raw;
pub mod jwks;
pub mod oidc;
pub mod redis;
pub mod upstream;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use auth_server::{active, inactive, AuthServer};
pub use config::{Route, TestConfig};
pub use upstream::{Reply, Upstream};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_scopegate");

/// Client secret written by every `TestConfig`; must never appear in a log line.
pub const CLIENT_SECRET: &str = "sg-secret-Q7x9Vb2k";

/// Bound on any single wait in the harness.
const START_TIMEOUT: Duration = Duration::from_secs(15);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

mod client;
mod fixtures;
mod harness;
mod prom;
mod raw;

pub use client::*;
pub use fixtures::*;
pub use harness::*;
pub use prom::*;
pub use raw::*;
