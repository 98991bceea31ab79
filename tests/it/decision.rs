//! docs/reference.md#decision-mode decision mode: `/nginx`, `/forward-auth` and `/envoy/…` on the decision
//! listener — the original method and URI rules, refusals identical to the proxy
//! listener's, identity headers on 200, `decisions_total`, decision-only configs —
//! and real NGINX and Caddy in front (see `front` below).

use crate::support::*;

mod front;

/// The standard routes with both listeners, so answers can be compared side by side.
async fn both() -> Harness {
    Harness::standard(TestConfig::standard().decision()).await
}

/// `/nginx` asking about `method target`.
fn nginx(h: &Harness, method: &str, target: &str) -> Req {
    h.decide("GET", "/nginx")
        .header("x-original-method", method)
        .header("x-original-uri", target)
}

/// `/forward-auth` asking about `method target`, the way Traefik and Caddy ask.
fn forward_auth(h: &Harness, method: &str, target: &str) -> Req {
    h.decide("GET", "/forward-auth")
        .header("x-forwarded-method", method)
        .header("x-forwarded-uri", target)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "api.example.com")
}

/// Envoy's HTTP `ext_authz` check request for `method target` with
/// `path_prefix: "/envoy"`: the original method, `/envoy` + the original path and query,
/// the original headers (Host included), no body.
fn envoy(h: &Harness, method: &str, target: &str) -> Req {
    h.decide(method, &format!("/envoy{target}"))
        .header("host", "api.example.com")
        .header("x-forwarded-proto", "https")
        .header("x-request-id", "7f2a6c1e-envoy")
        .header("x-envoy-expected-rq-timeout-ms", "200")
        .header("content-length", "0")
}

/// What a client sees of a refusal: everything but the per-request id.
fn seen(r: &Resp) -> (u16, Option<String>, Option<String>, Option<String>, String) {
    (
        r.status,
        r.header("www-authenticate"),
        r.header("content-type"),
        r.header("cache-control"),
        r.text(),
    )
}

#[tokio::test]
async fn allowed_is_200_empty_with_the_identity_headers() {
    let h = both().await;
    for req in [
        nginx(&h, "GET", "/orders/1"),
        forward_auth(&h, "GET", "/orders/1"),
        envoy(&h, "GET", "/orders/1"),
    ] {
        let r = req.bearer("t-read").send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.body.is_empty(), "body: {}", r.text());
        assert_eq!(r.header("x-auth-subject").as_deref(), Some("alice"));
        assert_eq!(r.header("x-auth-scope").as_deref(), Some("orders:read"));
        assert_eq!(r.header("x-auth-client-id").as_deref(), Some("app-1"));
        assert_eq!(r.header("x-auth-username").as_deref(), Some("alice.s"));
        assert_eq!(r.header("cache-control"), None);
    }
    // Nothing was forwarded, and the token was introspected once (then cached).
    assert!(h.upstream.requests().is_empty());
    assert_eq!(h.auth_server.calls(), 1);
}

#[tokio::test]
async fn the_original_method_and_uri_are_what_is_authorized() {
    let h = both().await;
    // t-read may GET /orders/{id} but not DELETE it: the decision request's own method
    // (GET) must not be what is authorized.
    let r = nginx(&h, "DELETE", "/orders/1")
        .bearer("t-read")
        .send()
        .await;
    r.assert_error(
        403,
        "insufficient_scope",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="orders:write admin""#),
    );
    let r = forward_auth(&h, "POST", "/orders/1")
        .bearer("t-write")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Envoy: the check request's own method is the original one.
    let r = envoy(&h, "DELETE", "/orders/1")
        .bearer("t-write")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = envoy(&h, "GET", "/orders/1").bearer("t-write").send().await;
    assert_eq!(r.status, 403, "{}", r.text());
    // Owner binding reads the original path.
    let r = nginx(&h, "GET", "/users/bob/profile")
        .bearer("t-profile")
        .send()
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = nginx(&h, "GET", "/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn missing_method_or_uri_headers_are_400() {
    let h = both().await;
    let cases = [
        h.decide("GET", "/nginx").header("x-original-method", "GET"),
        h.decide("GET", "/nginx")
            .header("x-original-uri", "/orders/1"),
        h.decide("GET", "/forward-auth")
            .header("x-forwarded-method", "GET"),
        h.decide("GET", "/forward-auth")
            .header("x-forwarded-uri", "/orders/1"),
        // The other endpoint's headers do not count.
        h.decide("GET", "/nginx")
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-uri", "/orders/1"),
        // Two values are ambiguous.
        nginx(&h, "GET", "/orders/1").header("x-original-uri", "/health"),
        // Not an origin-form target.
        nginx(&h, "GET", "http://evil.example/orders/1"),
        nginx(&h, "GET", "orders/1"),
        // Not an endpoint.
        h.decide("GET", "/orders/1"),
        h.decide("GET", "/envoy"),
    ];
    for req in cases {
        let r = req.bearer("t-read").send().await;
        r.assert_error(400, "invalid_request", None);
        assert!(r.header("x-auth-subject").is_none());
    }
    assert_eq!(h.auth_server.calls(), 0, "nothing is introspected");
    let m = h.metrics().await;
    assert_eq!(
        m.value(
            "scopegate_decisions_total",
            &[("route", "none"), ("outcome", "invalid_request")]
        ),
        10.0
    );
}

#[tokio::test]
async fn unsafe_original_uris_are_400_like_on_the_proxy_listener() {
    let h = both().await;
    for target in [
        "/orders/../admin",
        "/orders/%2e%2e/admin",
        "/orders%2F1",
        "//orders/1",
        "/orders/1/.",
        "/orders/..;x/1",
        "/orders/%251",
    ] {
        let proxied = h.get(target).bearer("t-read").send().await;
        proxied.assert_error(400, "invalid_request", None);
        for req in [
            nginx(&h, "GET", target),
            forward_auth(&h, "GET", target),
            envoy(&h, "GET", target),
        ] {
            let r = req.bearer("t-read").send().await;
            assert_eq!(seen(&r), seen(&proxied), "{target}");
        }
    }
    assert!(h.upstream.requests().is_empty());
    assert_eq!(h.auth_server.calls(), 0);
}

#[tokio::test]
async fn refusals_are_identical_to_the_proxy_listeners() {
    let h = both().await;
    h.auth_server.token(
        "t-expired",
        active().scope("orders:read").sub("alice").exp_in(-10),
    );
    // (method, target, Authorization)
    let cases: [(&str, &str, Option<&str>); 9] = [
        ("GET", "/orders/1", None),
        ("GET", "/orders/1", Some("Bearer t-inactive")),
        ("GET", "/orders/1", Some("Bearer t-expired")),
        ("GET", "/orders/1", Some("Bearer not a token")),
        ("DELETE", "/orders/1", Some("Bearer t-read")),
        ("GET", "/users/bob/profile", Some("Bearer t-profile")),
        ("GET", "/nowhere", Some("Bearer t-read")),
        (
            "GET",
            "/orders/1?access_token=t-read",
            Some("Bearer t-read"),
        ),
        ("GET", "/orders/1?access_token=t-read&access_token=x", None),
    ];
    for (method, target, auth) in cases {
        let with = |req: Req| match auth {
            Some(a) => req.header("authorization", a),
            None => req,
        };
        let proxied = with(h.request(method, target)).send().await;
        assert!(
            proxied.status >= 400,
            "{method} {target}: {}",
            proxied.status
        );
        for (name, req) in [
            ("nginx", nginx(&h, method, target)),
            ("forward-auth", forward_auth(&h, method, target)),
            ("envoy", envoy(&h, method, target)),
        ] {
            let r = with(req).send().await;
            assert_eq!(seen(&r), seen(&proxied), "{name}: {method} {target}");
            assert!(r.header("x-auth-subject").is_none());
        }
    }
    assert!(h.upstream.requests().is_empty());
}

#[tokio::test]
async fn as_outage_is_503_like_on_the_proxy_listener() {
    let h = both().await;
    h.auth_server.set_mode(auth_server::AuthMode::Status500);
    let proxied = h.get("/orders/1").bearer("t-read").send().await;
    assert_eq!(proxied.status, 503);
    let r = nginx(&h, "GET", "/orders/1").bearer("t-read").send().await;
    assert_eq!(seen(&r), seen(&proxied));
    assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    let m = h.metrics().await;
    assert_eq!(
        m.value(
            "scopegate_decisions_total",
            &[("route", "/orders/{id}"), ("outcome", "as_unavailable")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_query_token_in_the_original_uri_is_used_and_answers_are_private() {
    let h = both().await;
    for req in [
        nginx(&h, "GET", "/orders/1?access_token=t-read&page=2"),
        forward_auth(&h, "GET", "/orders/1?access_token=t-read&page=2"),
        envoy(&h, "GET", "/orders/1?access_token=t-read&page=2"),
    ] {
        let r = req.send().await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-auth-subject").as_deref(), Some("alice"));
        assert_eq!(r.header("cache-control").as_deref(), Some("private"));
    }
    // Refused query-token answers are private too, exactly like the proxy's.
    let proxied = h.get("/orders/1?access_token=t-inactive").send().await;
    assert_eq!(proxied.header("cache-control").as_deref(), Some("private"));
    for req in [
        nginx(&h, "GET", "/orders/1?access_token=t-inactive"),
        envoy(&h, "GET", "/orders/1?access_token=t-inactive"),
    ] {
        let r = req.send().await;
        r.assert_invalid_token();
        assert_eq!(seen(&r), seen(&proxied));
    }
    // A query token on the decision request itself (not in the original URI) is not
    // the original request's: /nginx?access_token=… is not read.
    let r = h
        .decide("GET", "/nginx?access_token=t-read")
        .header("x-original-method", "GET")
        .header("x-original-uri", "/orders/1")
        .send()
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let m = h.metrics().await;
    assert_eq!(
        m.value("scopegate_token_source_total", &[("source", "query")]),
        6.0
    );
}

#[tokio::test]
async fn client_sent_identity_headers_are_not_echoed_back() {
    let h = both().await;
    h.auth_server.token(
        "t-lean",
        active().scope("orders:read").sub("alice").exp_in(600),
    );
    for req in [
        nginx(&h, "GET", "/orders/1"),
        forward_auth(&h, "GET", "/orders/1"),
        envoy(&h, "GET", "/orders/1"),
    ] {
        let r = req
            .bearer("t-lean")
            .header("x-auth-subject", "mallory")
            .header("x-auth-username", "mallory")
            .header("x_auth_client_id", "evil")
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header_all("x-auth-subject"), vec!["alice"]);
        // Absent claims are absent, never the client's copy.
        assert!(r.header("x-auth-username").is_none());
        assert!(r.header("x-auth-client-id").is_none());
        assert!(r.header("x_auth_client_id").is_none());
    }
    // A public route answers 200 with no identity header at all.
    let r = nginx(&h, "GET", "/health")
        .bearer("t-read")
        .header("x-auth-subject", "mallory")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-auth-subject").is_none() && r.header("x-auth-scope").is_none());
}

#[tokio::test]
async fn envoy_checks_over_h2c_and_keep_alive() {
    let h = both().await;
    // Envoy may speak HTTP/2 to the authorization cluster.
    let r = h
        .decide("POST", "/envoy/orders/9?x=1")
        .h2()
        .header("x-forwarded-proto", "https")
        .bearer("t-write")
        .send()
        .await;
    assert_eq!(r.version, http::Version::HTTP_2);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-auth-scope").as_deref(), Some("orders:write"));
    // HTTP/1.1 keep-alive: two checks on one connection.
    let addr = h.decision_addr.unwrap();
    let two = "GET /envoy/orders/1 HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer t-read\r\n\r\n\
               GET /envoy/orders/1 HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n";
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut s, two.as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("HTTP/1.1 401"), "{out}");
}

#[tokio::test]
async fn decisions_are_counted_in_decisions_total_not_requests_total() {
    let h = both().await;
    nginx(&h, "GET", "/orders/1").bearer("t-read").send().await;
    forward_auth(&h, "GET", "/orders/1")
        .bearer("t-read")
        .send()
        .await;
    envoy(&h, "GET", "/orders/1").send().await;
    nginx(&h, "GET", "/health").send().await;
    nginx(&h, "GET", "/nowhere").bearer("t-read").send().await;
    h.get("/orders/1").bearer("t-read").send().await;
    let m = h.metrics().await;
    let d = |route: &str, outcome: &str| {
        m.value(
            "scopegate_decisions_total",
            &[("route", route), ("outcome", outcome)],
        )
    };
    assert_eq!(d("/orders/{id}", "allowed"), 2.0);
    assert_eq!(d("/orders/{id}", "unauthenticated"), 1.0);
    assert_eq!(d("/health", "public"), 1.0);
    assert_eq!(d("none", "no_route"), 1.0);
    // Label sets are pre-resolved per route, and never `upstream_error`.
    assert!(m
        .get(
            "scopegate_decisions_total",
            &[("route", "/orders/**"), ("outcome", "forbidden")]
        )
        .is_some());
    assert!(m
        .label_sets("scopegate_decisions_total")
        .iter()
        .all(|l| l.iter().all(|(_, v)| v != "upstream_error")));
    // Only the proxied request is in requests_total.
    let r = |outcome: &str| {
        m.value(
            "scopegate_requests_total",
            &[("route", "/orders/{id}"), ("outcome", outcome)],
        )
    };
    assert_eq!(r("allowed"), 1.0);
    assert_eq!(r("unauthenticated"), 0.0);
    // One log line per decision, with the original method.
    let line = h
        .wait_log("a decision log line", |v| {
            field(v, "listener").and_then(|l| l.as_str()) == Some("decision")
                && field(v, "outcome").and_then(|o| o.as_str()) == Some("no_route")
        })
        .await;
    assert_eq!(field(&line, "method").and_then(|m| m.as_str()), Some("GET"));
    assert_eq!(field(&line, "status").and_then(|s| s.as_u64()), Some(403));
}

#[tokio::test]
async fn decision_only_runs_without_upstream_or_proxy_listener() {
    let h = Harness::standard(TestConfig::standard().decision_only()).await;
    let r = nginx(&h, "PUT", "/orders/3").bearer("t-write").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-auth-subject").as_deref(), Some("alice"));
    let logs = h.logs().join("\n");
    assert!(
        !logs.contains(r#""listener":"proxy""#),
        "a proxy listener was started: {logs}"
    );
    // The fields route gets the check warning at start-up too.
    assert!(logs.contains("fields cannot apply"), "{logs}");
}

#[tokio::test]
async fn check_warns_about_fields_routes_in_decision_mode() {
    let auth = AuthServer::start().await;
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = TestConfig::standard()
        .decision_only()
        .write(dir.path(), &auth, &up);
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("warning: route[3] /users/{owner}/profile: fields cannot apply"),
        "{}",
        out.stdout
    );
    // Without [decision] there is no such warning, and [upstream] is required.
    let path = TestConfig::standard().write(dir.path(), &auth, &up);
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert!(
        !out.stdout.contains("fields cannot apply"),
        "{}",
        out.stdout
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let cut = text
        .split("\n[introspection]")
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let without_upstream = format!(
        "{}\n[introspection]{}",
        cut[0].split("\n[upstream]").next().unwrap(),
        cut[1]
    );
    std::fs::write(&path, without_upstream).unwrap();
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("missing key upstream"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn decision_table_is_strict_and_its_addr_must_differ_from_the_others() {
    let auth = AuthServer::start().await;
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = TestConfig::standard().decision();
    let path = cfg.write(dir.path(), &auth, &up);
    let text = std::fs::read_to_string(&path).unwrap();
    let check = |text: &str| {
        std::fs::write(&path, text).unwrap();
        run_cli(&["check", "--config", path.to_str().unwrap()], &[], None)
    };
    let line_of = |text: &str, needle: &str| text.lines().position(|l| l == needle).unwrap() + 1;
    let p = path.display().to_string();

    let unknown = text.replace("[decision]\n", "[decision]\nport = 1\n");
    let out = check(&unknown);
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = line_of(&unknown, "port = 1");
    assert!(
        out.stderr
            .contains(&format!("{p}:{line}:1: decision.port: unknown key")),
        "{}",
        out.stderr
    );

    // Same port as the admin listener.
    let clash = text
        .replace(
            "[admin]\naddr = \"127.0.0.1:0\"",
            "[admin]\naddr = \"127.0.0.1:19090\"",
        )
        .replace(
            "[decision]\naddr = \"127.0.0.1:0\"",
            "[decision]\naddr = \"0.0.0.0:19090\"",
        );
    let out = check(&clash);
    assert_eq!(out.code, Some(1), "{out:?}");
    let line = line_of(&clash, "addr = \"0.0.0.0:19090\"");
    assert!(
        out.stderr.contains(&format!(
            "{p}:{line}:8: decision.addr: 0.0.0.0:19090 collides with admin.addr 127.0.0.1:19090"
        )),
        "{}",
        out.stderr
    );
    // Same port as the proxy listener.
    let clash = text
        .replace(
            "[listen]\naddr = \"127.0.0.1:0\"",
            "[listen]\naddr = \"127.0.0.1:18080\"",
        )
        .replace(
            "[decision]\naddr = \"127.0.0.1:0\"",
            "[decision]\naddr = \"127.0.0.1:18080\"",
        );
    let out = check(&clash);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("decision.addr: 127.0.0.1:18080 collides with listen.addr 127.0.0.1:18080"),
        "{}",
        out.stderr
    );
    // Without [upstream] the proxy listener does not run, so its address is free.
    let decision_only = TestConfig::standard()
        .decision_only()
        .render(&auth, &up)
        .replace(
            "[decision]\naddr = \"127.0.0.1:0\"",
            "[decision]\naddr = \"0.0.0.0:8080\"",
        );
    let out = check(&decision_only);
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[tokio::test]
async fn reload_applies_new_routes_but_cannot_add_or_remove_listeners() {
    let h = Harness::standard(TestConfig::standard().decision_only()).await;
    let reloads = |result: &'static str| {
        let h = &h;
        async move {
            h.metrics()
                .await
                .value("scopegate_config_reloads_total", &[("result", result)])
        }
    };
    let wait_for = |result: &'static str, n: f64| {
        let reloads = &reloads;
        async move {
            for _ in 0..100 {
                if reloads(result).await >= n {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("no {result} reload counted");
        }
    };
    // A new public route is applied to the decision listener.
    h.rewrite_config(
        &TestConfig::standard()
            .decision_only()
            .route(Route::public("/status")),
    );
    h.signal("HUP");
    wait_for("ok", 1.0).await;
    let r = nginx(&h, "GET", "/status").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Adding [upstream] (a proxy listener) is refused; the old config keeps serving.
    h.rewrite_config(&TestConfig::standard().decision());
    h.signal("HUP");
    wait_for("error", 1.0).await;
    h.wait_log("the rejected reload", |v| {
        v.to_string()
            .contains("adding or removing [upstream] needs a restart")
    })
    .await;
    let r = nginx(&h, "GET", "/status").send().await;
    assert_eq!(r.status, 200, "old config must keep serving: {}", r.text());
}
