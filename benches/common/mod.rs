//! Fixtures shared by the benches (`mod common;`): a current-thread runtime with
//! in-process authorization servers on 127.0.0.1:0, and an `Introspector` for them.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each bench uses a part of these fixtures"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use scopegate::internals::config::{AuthMethod, CacheConfig, IntrospectionConfig, Secret};
use scopegate::internals::introspect::{Health, Introspector};
use scopegate::internals::metrics::Metrics;
use scopegate::internals::token::{parse_authorization, BearerToken};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// A current-thread runtime: the benches drive it with `block_on`.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The demo authorization server (RFC 7662 endpoint for `demo-read` etc., and the
/// JWKS of `demo_jwt`), client `demo` / `demo-secret`.
pub fn demo_server(rt: &Runtime) -> SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(scopegate::internals::demo::auth_server::serve(
        listener,
        "demo".into(),
        "demo-secret".into(),
    ));
    addr
}

/// What [`any_token_server`] answers for every token: active, with the claims of the
/// demo JWT (`iss`, `aud`, `sub`, `scope`, `client_id`, `exp` an hour ahead).
pub fn answer(iss: &str, aud: &str) -> String {
    serde_json::json!({
        "active": true,
        "iss": iss,
        "aud": aud,
        "sub": "alice",
        "scope": "orders:read orders:write profile",
        "client_id": "web-app",
        "exp": scopegate::internals::introspect::now_unix() + 3600,
        "iat": scopegate::internals::introspect::now_unix(),
    })
    .to_string()
}

/// A minimal RFC 7662 endpoint that answers [`answer`] for any token (HTTP/1.1,
/// keep-alive, no client authentication check): for benches with many distinct tokens.
/// With `jwks`, `GET /jwks` answers it.
pub fn any_token_server(rt: &Runtime, iss: &str, aud: &str, jwks: Option<String>) -> SocketAddr {
    let (iss, aud) = (iss.to_owned(), aud.to_owned());
    answering_server(rt, move || answer(&iss, &aud), jwks)
}

/// The same endpoint, answering `answer()` (called once per request) for any token.
pub fn answering_server(
    rt: &Runtime,
    answer: impl Fn() -> String + Send + Sync + 'static,
    jwks: Option<String>,
) -> SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    let jwks = jwks.unwrap_or_default();
    rt.spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                break;
            };
            let (answer, jwks) = (answer.clone(), jwks.clone());
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                loop {
                    // Head, then the body by Content-Length.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + length);
                    let body = if head.starts_with("get /jwks ") {
                        jwks.clone()
                    } else {
                        answer()
                    };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if conn.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// An `Introspector` for `http://{addr}/introspect` (client `demo` / `demo-secret`,
/// default cache), and the metrics it counts hits and misses in.
pub fn introspector(addr: SocketAddr, cache: CacheConfig) -> (Introspector, Arc<Metrics>) {
    let config = IntrospectionConfig {
        endpoint: format!("http://{addr}/introspect").parse().unwrap(),
        client_id: "demo".into(),
        client_secret: Secret::new("demo-secret"),
        auth_method: AuthMethod::ClientSecretBasic,
        timeout: Duration::from_secs(2),
        ca_file: None,
        expected_issuer: None,
        expected_audience: None,
        cache,
    };
    let metrics = Arc::new(Metrics::new().unwrap());
    let introspector = Introspector::new(
        &config,
        None,
        Arc::new(scopegate::internals::claims::Needs::all()),
        Arc::clone(&metrics),
        Arc::new(Health::default()),
    )
    .unwrap();
    (introspector, metrics)
}

/// `token` as the pipeline's `BearerToken` (parsed from an `Authorization` header).
pub fn bearer(token: &str) -> BearerToken {
    parse_authorization(&HeaderValue::try_from(format!("Bearer {token}")).unwrap())
        .unwrap()
        .unwrap()
}

/// A realistic JSON list response of at least `size` bytes (overshoot < one order): a
/// top-level array of orders, each with a nested `customer.contact` object, line items
/// with a `price`, and an `internal_note`. The field-filter benches remove those three.
pub fn orders_document(size: usize) -> Vec<u8> {
    let mut orders = Vec::new();
    let mut len = 2;
    let mut i = 0u64;
    while len < size {
        let order = serde_json::json!({
            "id": format!("ord_{i:08}"),
            "status": if i % 3 == 0 { "shipped" } else { "open" },
            "created_at": "2024-05-01T12:34:56Z",
            "customer": {
                "id": 1000 + i,
                "name": "Zoë Example",
                "contact": { "email": "zoe@example.com", "phone": "+1 555 0100" }
            },
            "items": [
                { "sku": "A-1", "qty": 2, "price": 19.99 },
                { "sku": "B-22", "qty": 1, "price": 5.5 }
            ],
            "internal_note": "call before delivery",
            "total": 45.48
        });
        len += serde_json::to_vec(&order).unwrap().len() + 1;
        orders.push(order);
        i += 1;
    }
    serde_json::to_vec(&serde_json::Value::Array(orders)).unwrap()
}

/// The rules that go with [`orders_document`], as `[route.fields]` (path, scope) pairs.
pub const ORDERS_FIELDS: &[(&str, &str)] = &[
    ("[].customer.contact", "profile:contact"),
    ("[].items[].price", "billing"),
    ("[].internal_note", "admin"),
];
