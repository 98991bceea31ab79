//! Fixtures: the standard tokens, digests, and a URL where nothing listens.

use super::*;

/// Hex SHA-256 of a raw token (the purge key of docs/reference.md#introspection-cache).
pub fn sha256_hex(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A loopback URL on which nothing listens: connecting is refused at once.
///
/// The port stays bound, but never listening, for the life of the test binary, so no
/// other test (or process) can be handed it and start answering there: binding and
/// dropping a port instead would race with every other `127.0.0.1:0` bind.
pub fn dead_url() -> String {
    static HELD: Mutex<Vec<tokio::net::TcpSocket>> = Mutex::new(Vec::new());
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    HELD.lock().unwrap().push(socket);
    format!("http://127.0.0.1:{port}")
}

// === standard fixtures ===

/// Tokens used across modules (all expire in an hour).
pub fn add_standard_tokens(auth: &AuthServer) {
    auth.token(
        "t-read",
        active()
            .scope("orders:read")
            .sub("alice")
            .client_id("app-1")
            .username("alice.s")
            .exp_in(3600),
    );
    auth.token(
        "t-write",
        active()
            .scope("orders:write")
            .sub("alice")
            .client_id("app-1")
            .exp_in(3600),
    );
    auth.token(
        "t-admin",
        active().scope("admin orders:read").sub("root").exp_in(3600),
    );
    auth.token(
        "t-profile",
        active().scope("profile").sub("alice").exp_in(3600),
    );
    auth.token(
        "t-profile-all",
        active()
            .scope("profile profile:contact profile:likes billing")
            .sub("alice")
            .exp_in(3600),
    );
    auth.token("t-inactive", inactive());
}

impl Harness {
    /// `Harness::start` plus the standard tokens.
    pub async fn standard(config: TestConfig) -> Harness {
        let h = Harness::start(config).await;
        add_standard_tokens(&h.auth_server);
        h
    }
}
