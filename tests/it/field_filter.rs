//! docs/reference.md#field-filtering: JSON fields removed unless the token has their scope; arrays, root arrays,
//! `+json`, non-JSON untouched, unfilterable JSON → 502, Content-Length recomputed.

use serde_json::{json, Value};

use crate::support::*;

const PROFILE: &str = r#"{"name":"Alice","contact":{"email":"a@x.test"},"likes":["tea"],"items":[{"id":1,"price":5},{"id":2,"price":7}]}"#;

#[track_caller]
fn assert_len_matches(r: &Resp) {
    if let Some(cl) = r.header("content-length") {
        assert_eq!(
            cl.parse::<usize>().unwrap(),
            r.body.len(),
            "Content-Length stale"
        );
    }
}

#[tokio::test]
async fn fields_without_scope_are_removed() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.upstream
        .script("/users/alice/profile", Reply::json(PROFILE));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"name":"Alice","items":[{"id":1},{"id":2}]})
    );
    assert_len_matches(&r);
}

#[tokio::test]
async fn fields_with_scope_are_kept() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.upstream
        .script("/users/alice/profile", Reply::json(PROFILE));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile-all")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::from_str::<Value>(PROFILE).unwrap());
    assert_len_matches(&r);
}

#[tokio::test]
async fn partial_scopes_keep_only_covered_fields() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.auth_server.token(
        "t-likes",
        active()
            .scope("profile profile:likes")
            .sub("alice")
            .exp_in(600),
    );
    h.upstream
        .script("/users/alice/profile", Reply::json(PROFILE));
    let r = h.get("/users/alice/profile").bearer("t-likes").send().await;
    assert_eq!(
        r.json(),
        json!({"name":"Alice","likes":["tea"],"items":[{"id":1},{"id":2}]})
    );
}

fn list_config() -> TestConfig {
    TestConfig::new()
        .route(
            Route::new("/list")
                .scopes(&["orders:read"])
                .field("[].price", "billing")
                .field("[].meta.cost", "billing"),
        )
        .route(
            Route::new("/doc")
                .scopes(&["orders:read"])
                .field("a.b", "billing")
                .field("a.c[].d", "billing"),
        )
}

#[tokio::test]
async fn root_array_elements_are_filtered() {
    let h = Harness::standard(list_config()).await;
    h.upstream.script(
        "/list",
        Reply::json(r#"[{"id":1,"price":5,"meta":{"cost":1,"k":2}},{"id":2},3]"#),
    );
    let r = h.get("/list").bearer("t-read").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!([{"id":1,"meta":{"k":2}},{"id":2},3]));
    assert_len_matches(&r);
}

#[tokio::test]
async fn nested_paths_are_filtered() {
    let h = Harness::standard(list_config()).await;
    h.upstream.script(
        "/doc",
        Reply::json(r#"{"a":{"b":1,"x":2,"c":[{"d":1,"e":2},{"e":3}]},"b":4}"#),
    );
    let r = h.get("/doc").bearer("t-read").send().await;
    assert_eq!(r.json(), json!({"a":{"x":2,"c":[{"e":2},{"e":3}]},"b":4}));
}

#[tokio::test]
async fn plus_json_content_type_is_filtered() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.upstream.script(
        "/users/alice/profile",
        Reply::new(200)
            .header("content-type", "application/vnd.api+json; charset=utf-8")
            .body(PROFILE.to_string()),
    );
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    assert_eq!(
        r.json(),
        json!({"name":"Alice","items":[{"id":1},{"id":2}]})
    );
    assert_len_matches(&r);
}

#[tokio::test]
async fn chunked_json_response_is_filtered_with_content_length() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.upstream
        .script("/users/alice/profile", Reply::json(PROFILE).chunked(7));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    assert_eq!(
        r.json(),
        json!({"name":"Alice","items":[{"id":1},{"id":2}]})
    );
    assert_len_matches(&r);
}

// The contract changed with issue 8 (a 2xx in another format may be the same data):
// a non-JSON 2xx that would need filtering is 502; with every field scope it passes.
#[tokio::test]
async fn non_json_response_is_502_unless_the_token_sees_every_field() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.upstream
        .script("/users/alice/profile", Reply::text(PROFILE));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    r.assert_error(502, "bad_gateway", None);
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile-all")
        .send()
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), PROFILE);
}

#[tokio::test]
async fn invalid_json_is_502_never_passed_unfiltered() {
    let h = Harness::standard(TestConfig::standard()).await;
    h.upstream.script(
        "/users/alice/profile",
        Reply::json(r#"{"name":"Alice","contact":{"email":"#),
    );
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    r.assert_error(502, "bad_gateway", None);
    assert!(!r.text().contains("email"));
}

#[tokio::test]
async fn json_over_buffer_bound_is_502() {
    let h =
        Harness::standard(TestConfig::standard().upstream("max_filtered_body", "\"1KiB\"")).await;
    let big = json!({"name": "x".repeat(4096), "contact": "secret@x"}).to_string();
    h.upstream.script("/users/alice/profile", Reply::json(&big));
    let r = h
        .get("/users/alice/profile")
        .bearer("t-profile")
        .send()
        .await;
    r.assert_error(502, "bad_gateway", None);
    assert!(!r.text().contains("secret@x"));
}

#[tokio::test]
async fn route_without_fields_passes_json_unchanged() {
    let h = Harness::standard(TestConfig::standard()).await;
    let body = r#"{"contact":1,  "likes" : 2}"#;
    h.upstream.script("/orders/1", Reply::json(body));
    let r = h.get("/orders/1").bearer("t-read").send().await;
    assert_eq!(r.text(), body, "byte-identical");
}
