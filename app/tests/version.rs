//! The release that answered: `X-App-Version` on every response (routes, 404s, errors),
//! `"version"` in `/health`, both from `APP_VERSION` with the crate version as the default.
//! Blue-green and canary rollouts (k8s/overlays/bluegreen, k8s/overlays/canary) rely on it.

mod support;

use std::process::Stdio;
use std::time::Duration;

use app::config::{ConfigError, DEFAULT_VERSION};
use serde_json::{Value, json};
use support::{TestApp, config, unique_db};
use tokio::io::{AsyncBufReadExt as _, BufReader};

const CRATE_VERSION: &str = env!("CARGO_PKG_VERSION");

fn version_of(response: &reqwest::Response) -> String {
    let values: Vec<_> = response
        .headers()
        .get_all("x-app-version")
        .iter()
        .map(|v| v.to_str().expect("ASCII").to_string())
        .collect();
    assert_eq!(
        values.len(),
        1,
        "{} {}: exactly one X-App-Version, got {values:?}",
        response.status(),
        response.url().path()
    );
    values.into_iter().next().unwrap()
}

/// The app on the process-wide test database with `APP_VERSION` set (or not).
async fn start(version: Option<&str>) -> TestApp {
    let server = devdb::MongoServer::process_wide().expect("a MongoDB-wire server");
    let db = unique_db("version");
    let uri = server.uri();
    let mut vars = vec![("MONGODB_URI", uri.as_str()), ("MONGODB_DATABASE", &db)];
    if let Some(version) = version {
        vars.push(("APP_VERSION", version));
    }
    TestApp::start_with(config(&vars)).await
}

/// Every kind of answer carries the header: success, created, 404, 405, 4xx errors.
async fn assert_every_answer_says(app: &TestApp, expected: &str) {
    let root = app.get("/").await;
    assert_eq!(root.status(), 200);
    assert_eq!(version_of(&root), expected, "GET /");
    assert!(root.text().await.unwrap().starts_with("Welcome"));

    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    assert_eq!(version_of(&health), expected, "GET /health");

    let missing = app.get("/no/such/route").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(version_of(&missing), expected, "404");
    let body: Value = missing.json().await.unwrap();
    assert!(body["error"].is_string(), "404 body unchanged: {body}");

    let created = app.post_json(&json!({"from": expected})).await;
    assert_eq!(created.status(), 201);
    assert_eq!(version_of(&created), expected, "POST /data");
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["status"], "Data inserted", "{body}");
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "status and id only: {body}"
    );

    let not_allowed = app.http.delete(app.url("/data")).send().await.unwrap();
    assert_eq!(not_allowed.status(), 405);
    assert_eq!(version_of(&not_allowed), expected, "405");

    let not_json = app
        .http
        .post(app.url("/data"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    assert_eq!(version_of(&not_json), expected, "415");

    let bad_query = app.get("/data?limit=0").await;
    assert_eq!(bad_query.status(), 400);
    assert_eq!(version_of(&bad_query), expected, "400");

    for path in ["/data", "/ready", "/metrics"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(version_of(&response), expected, "{path}");
    }
}

#[tokio::test]
async fn every_response_carries_the_crate_version_by_default() {
    assert_eq!(DEFAULT_VERSION, CRATE_VERSION);
    let app = start(None).await;
    assert_every_answer_says(&app, CRATE_VERSION).await;
}

#[tokio::test]
async fn app_version_overrides_the_header() {
    let app = start(Some("blue")).await;
    assert_every_answer_says(&app, "blue").await;
}

#[tokio::test]
async fn health_reports_the_version_next_to_its_status() {
    let app = start(None).await;
    assert_eq!(
        app.get_json("/health").await,
        (200, json!({"status": "healthy", "version": CRATE_VERSION}))
    );
    let app = start(Some("canary")).await;
    assert_eq!(
        app.get_json("/health").await,
        (200, json!({"status": "healthy", "version": "canary"}))
    );
    // The other bodies keep their shape.
    assert_eq!(
        app.get_json("/ready").await,
        (200, json!({"status": "ready"}))
    );
}

#[test]
fn app_version_is_read_trimmed_and_validated() {
    let base = [("MONGODB_HOST", "db")];
    let with = |version: &str| {
        let vars: Vec<_> = base
            .iter()
            .copied()
            .chain([("APP_VERSION", version)])
            .collect();
        let map: std::collections::HashMap<_, _> = vars
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        app::Config::from_lookup(|name| map.get(name).cloned())
    };
    assert_eq!(config(&base).version, CRATE_VERSION);
    assert_eq!(with("").unwrap().version, CRATE_VERSION, "empty is unset");
    assert_eq!(with(" green\n").unwrap().version, "green");
    assert_eq!(with("1.2.3+sha.abc").unwrap().version, "1.2.3+sha.abc");
    for bad in ["two words", "caf\u{e9}", "x".repeat(129).as_str()] {
        let error = with(bad).expect_err(bad);
        assert!(
            matches!(
                error,
                ConfigError::Invalid {
                    name: "APP_VERSION",
                    ..
                }
            ),
            "{bad:?}: {error}"
        );
    }
}

/// The real binary reads `APP_VERSION` from its process environment.
#[tokio::test]
async fn the_binary_reports_app_version_from_its_environment() {
    let server = devdb::MongoServer::process_wide().expect("a MongoDB-wire server");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_deploycheck-app"))
        .env_clear()
        .env("PORT", "0")
        .env("BIND_ADDR", "127.0.0.1")
        .env("LOG_FORMAT", "json")
        .env("MONGODB_URI", server.uri())
        .env("MONGODB_DATABASE", unique_db("version_bin"))
        .env("APP_VERSION", "green")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["message"] == "listening"
            {
                return event["addr"].as_str().unwrap().to_string();
            }
        }
        panic!("the binary exited before listening");
    })
    .await
    .expect("a listening line within 20 s");
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(version_of(&health), "green");
    let body: Value = health.json().await.unwrap();
    assert_eq!(body, json!({"status": "healthy", "version": "green"}));
    let root = http.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(version_of(&root), "green");
    child.kill().await.unwrap();
}
