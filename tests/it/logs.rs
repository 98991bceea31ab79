//! docs/reference.md#errors/§6: tokens and the client secret never appear in logs; one JSON line per request
//! with method, route, status, outcome.

use std::time::Duration;

use crate::support::auth_server::AuthMode;
use crate::support::*;

#[tokio::test]
async fn no_token_or_client_secret_in_any_log_line() {
    let h = Harness::standard(TestConfig::standard()).await;
    let secret_tokens = [
        "tok-HDR-8f1e2d",
        "tok-QRY-77aa01",
        "tok-FORM-c0ffee",
        "tok-BAD-deadbeef",
    ];
    h.auth_server.token(
        secret_tokens[0],
        active().scope("orders:read").sub("alice").exp_in(600),
    );
    h.auth_server.token(
        secret_tokens[1],
        active().scope("orders:read").sub("alice").exp_in(600),
    );
    h.auth_server.token(
        secret_tokens[2],
        active().scope("orders:write").sub("alice").exp_in(600),
    );
    h.get("/orders/1").bearer(secret_tokens[0]).send().await;
    h.get(&format!("/orders/1?access_token={}", secret_tokens[1]))
        .send()
        .await;
    h.post("/orders/1")
        .form(&[("access_token", secret_tokens[2])])
        .send()
        .await;
    h.get("/orders/1").bearer(secret_tokens[3]).send().await;
    h.get("/orders/1")
        .header("authorization", &format!("Bearer {} x", secret_tokens[3]))
        .send()
        .await;
    h.get(&format!("/orders/1?access_token={0}", secret_tokens[3]))
        .bearer(secret_tokens[3])
        .send()
        .await;
    h.auth_server.set_mode(AuthMode::Garbage);
    h.get("/orders/1").bearer("tok-GARBAGE-11").send().await;
    h.auth_server.set_mode(AuthMode::Status500);
    h.get("/orders/1").bearer("tok-500-22").send().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = h.logs();
    assert!(!logs.is_empty());
    for line in &logs {
        for t in secret_tokens
            .iter()
            .chain(&["tok-GARBAGE-11", "tok-500-22"])
        {
            assert!(!line.contains(t), "token {t} logged: {line}");
        }
        assert!(
            !line.contains(CLIENT_SECRET),
            "client secret logged: {line}"
        );
    }
}

fn as_text(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

#[tokio::test]
async fn one_info_line_per_request_with_route_status_outcome() {
    let h = Harness::standard(TestConfig::standard()).await;
    assert_eq!(h.get("/orders/1").bearer("t-read").send().await.status, 200);
    assert_eq!(h.get("/orders/1").send().await.status, 401);
    assert_eq!(h.get("/nowhere").send().await.status, 403);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let lines: Vec<_> = h
            .log_json()
            .into_iter()
            .filter(|v| field(v, "outcome").is_some())
            .collect();
        if lines.len() >= 3 || tokio::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(lines.len(), 3, "request lines: {lines:#?}");
    let want = [
        ("/orders/{id}", "200", "allowed"),
        ("/orders/{id}", "401", "unauthenticated"),
        ("none", "403", "no_route"),
    ];
    for (line, (route, status, outcome)) in lines.iter().zip(want) {
        assert_eq!(
            line.get("level").and_then(|l| l.as_str()),
            Some("INFO"),
            "{line}"
        );
        assert_eq!(as_text(field(line, "route")), route, "{line}");
        assert_eq!(as_text(field(line, "status")), status, "{line}");
        assert_eq!(as_text(field(line, "outcome")), outcome, "{line}");
        assert_eq!(as_text(field(line, "method")), "GET", "{line}");
    }
    assert_eq!(as_text(field(&lines[0], "subject")), "alice");
}
