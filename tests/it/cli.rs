//! docs/reference.md#command-line: `--version`, `--help`, `check` (exit codes, route table, error location),
//! `$SCOPEGATE_CONFIG`, `--config` before or after the subcommand.

use crate::support::*;

/// Renders `config` into a temp dir against throwaway mocks; returns (dir, path, text).
async fn write_config(config: &TestConfig) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let auth = AuthServer::start().await;
    let up = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = config.write(dir.path(), &auth, &up);
    let text = std::fs::read_to_string(&path).unwrap();
    (dir, path, text)
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle in config")
        + 1
}

#[test]
fn version_prints_name_and_version_and_exits_0() {
    let out = run_cli(&["--version"], &[], None);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("scopegate"), "{out:?}");
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")), "{out:?}");
}

#[test]
fn help_lists_subcommands_and_exits_0() {
    let out = run_cli(&["--help"], &[], None);
    assert_eq!(out.code, Some(0), "{out:?}");
    for sub in ["serve", "check", "demo"] {
        assert!(
            out.stdout.contains(sub),
            "--help lacks {sub}: {}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn check_valid_config_prints_routes_in_match_order_and_exits_0() {
    let (_d, path, _) = write_config(&TestConfig::standard()).await;
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert_eq!(out.code, Some(0), "{out:?}");
    let pos: Vec<usize> = [
        "/health",
        "/orders/{id}",
        "/orders/**",
        "/users/{owner}/profile",
    ]
    .iter()
    .map(|p| {
        out.stdout
            .find(p)
            .unwrap_or_else(|| panic!("route {p} missing from: {}", out.stdout))
    })
    .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "routes not in file order: {}",
        out.stdout
    );
    assert!(!out.stdout.contains(CLIENT_SECRET) && !out.stderr.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn check_unknown_key_exits_1_with_file_line_col_and_key() {
    let cfg = TestConfig::standard().upstream("timout", "\"2s\"");
    let (_d, path, text) = write_config(&cfg).await;
    let line = line_of(&text, "timout");
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert_eq!(out.code, Some(1), "{out:?}");
    let prefix = format!("{}:{line}:", path.display());
    assert!(
        out.stderr.contains(&prefix),
        "expected `{prefix}COL:` in stderr: {}",
        out.stderr
    );
    let after = &out.stderr[out.stderr.find(&prefix).unwrap() + prefix.len()..];
    assert!(
        after.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "no column after {prefix}: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("timout"),
        "key not named: {}",
        out.stderr
    );
    assert!(!out.stderr.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn check_bad_duration_names_key_path_and_line() {
    let cfg = TestConfig::standard().upstream("timeout", "\"2 fortnights\"");
    let (_d, path, text) = write_config(&cfg).await;
    let line = line_of(&text, "2 fortnights");
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&format!("{}:{line}:", path.display())),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("upstream.timeout"),
        "key path missing: {}",
        out.stderr
    );
}

#[tokio::test]
async fn check_public_route_with_scopes_is_invalid() {
    let mut r = Route::public("/x");
    r.scopes = vec!["a".into()];
    let (_d, path, _) = write_config(&TestConfig::new().route(r)).await;
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("route"), "{}", out.stderr);
}

#[tokio::test]
async fn check_shadowed_route_is_a_warning_not_an_error() {
    let cfg = TestConfig::new()
        .route(Route::new("/orders/**").scopes(&["a"]))
        .route(Route::new("/orders/{id}").methods(&["GET"]).scopes(&["b"]));
    let (_d, path, _) = write_config(&cfg).await;
    let out = run_cli(&["check", "--config", path.to_str().unwrap()], &[], None);
    assert_eq!(out.code, Some(0), "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr).to_lowercase();
    assert!(all.contains("shadow"), "no shadowing warning: {all}");
}

#[tokio::test]
async fn check_reads_scopegate_config_env_when_no_flag() {
    let (_d, path, _) = write_config(&TestConfig::standard()).await;
    let out = run_cli(
        &["check"],
        &[("SCOPEGATE_CONFIG", path.to_str().unwrap())],
        None,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("/orders/{id}"), "{}", out.stdout);

    let (_d2, bad, _) = write_config(&TestConfig::standard().upstream("bogus", "1")).await;
    let out = run_cli(
        &["check"],
        &[("SCOPEGATE_CONFIG", bad.to_str().unwrap())],
        None,
    );
    assert_eq!(out.code, Some(1), "{out:?}");
}

#[tokio::test]
async fn check_config_flag_accepted_before_subcommand() {
    let (_d, path, _) = write_config(&TestConfig::standard()).await;
    let out = run_cli(&["--config", path.to_str().unwrap(), "check"], &[], None);
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[tokio::test]
async fn check_default_path_is_config_scopegate_toml_in_cwd() {
    let (dir, path, _) = write_config(&TestConfig::standard()).await;
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::copy(&path, dir.path().join("config/scopegate.toml")).unwrap();
    std::fs::copy(
        dir.path().join("client-secret"),
        dir.path().join("config/client-secret"),
    )
    .unwrap();
    let out = run_cli(&["check"], &[], Some(dir.path()));
    assert_eq!(out.code, Some(0), "{out:?}");
}

#[test]
fn check_missing_file_exits_1() {
    let out = run_cli(
        &["check", "--config", "/nonexistent/scopegate.toml"],
        &[],
        None,
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("/nonexistent/scopegate.toml"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn serve_with_invalid_config_exits_nonzero_with_location() {
    let cfg = TestConfig::standard().introspection("auth_method", "\"client_secret_jwt\"");
    let (_d, path, text) = write_config(&cfg).await;
    let line = line_of(&text, "client_secret_jwt");
    let out = run_cli(&["serve", "--config", path.to_str().unwrap()], &[], None);
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(
        out.stderr.contains(&format!("{}:{line}:", path.display())),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("introspection.auth_method"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn serve_reads_client_secret_from_env_when_configured() {
    let cfg = TestConfig::standard().client_secret_env("SG_TEST_SECRET");
    let auth = AuthServer::start().await;
    add_standard_tokens(&auth);
    let up = Upstream::start().await;
    let h = Harness::try_start_with(
        cfg,
        auth,
        up,
        &[("SG_TEST_SECRET", &format!("{CLIENT_SECRET}\n"))],
    )
    .await
    .unwrap();
    let r = h.get("/orders/1").bearer("t-read").send().await;
    assert_eq!(r.status, 200, "{}", r.text());
}
