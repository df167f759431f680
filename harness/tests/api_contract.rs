//! `deploycheck api` judges the contract, not one implementation: the reference app passes,
//! a correct app written differently passes, and a wrong app fails on exactly what is wrong.
//!
//! The "different" and "wrong" apps below stand in for candidates' submissions (the system
//! under check), so they keep their documents in memory; the reference app runs on a real
//! MongoDB-wire server.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use candidate_app::{Documents, list, serve};
use deploycheck::api::{self, Outcome, Target, Verdict};
use deploycheck::profile::Profile;
use serde_json::{Value, json};

#[path = "support/candidate_app.rs"]
mod candidate_app;
#[path = "support/reference_service.rs"]
mod support;

async fn run(base_url: String, profile: &str) -> BTreeMap<&'static str, Outcome> {
    let target = Target {
        base_url,
        timeout: Duration::from_secs(3),
    };
    api::check(&target, &Profile::built_in(profile).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.check, o))
        .collect()
}

/// `routes` served with a 4 MiB body limit over an empty store, checked as flask-mongo.
async fn check_app(routes: Router<Documents>) -> BTreeMap<&'static str, Outcome> {
    let app = routes
        .layer(axum::extract::DefaultBodyLimit::max(4 * 1024 * 1024))
        .with_state(Documents::default());
    run(serve(app).await, "flask-mongo").await
}

fn verdicts(outcomes: &BTreeMap<&'static str, Outcome>, verdict: Verdict) -> Vec<&'static str> {
    outcomes
        .values()
        .filter(|o| o.verdict == verdict)
        .map(|o| o.check)
        .collect()
}

#[tokio::test]
async fn the_reference_app_passes_every_check() {
    let url = support::reference_service("api").await;
    let outcomes = run(url, "reference").await;
    assert_eq!(
        verdicts(&outcomes, Verdict::Fail),
        Vec::<&str>::new(),
        "{outcomes:#?}"
    );
    assert_eq!(verdicts(&outcomes, Verdict::Skip), Vec::<&str>::new());
    assert_eq!(outcomes.len(), 11);
}

/// A correct app that differs from ours everywhere the challenge allows.
fn different_but_correct() -> Router<Documents> {
    async fn greet() -> String {
        // Python's str(datetime.now()) in a zone 5:30 ahead, no zone printed.
        let local = time::OffsetDateTime::now_utc() + time::Duration::minutes(330);
        format!(
            "Hello from Flask! It is now {} {:02}:{:02}:{:02}.480123",
            local.date(),
            local.hour(),
            local.minute(),
            local.second()
        )
    }
    async fn insert(State(store): State<Documents>, headers: HeaderMap, body: Bytes) -> Response {
        if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "json only").into_response();
        }
        if body.len() > 1024 * 1024 {
            return (StatusCode::PAYLOAD_TOO_LARGE, "too big").into_response();
        }
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) if !map.keys().any(|k| k.starts_with('$')) => {
                store.lock().unwrap().push(Value::Object(map));
                // 200, not 201, and extra fields: both allowed.
                axum::Json(json!({"message": "Data inserted", "ok": true, "count": 1}))
                    .into_response()
            }
            _ => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "bad"}))).into_response(),
        }
    }
    Router::new()
        .route("/", get(greet))
        .route("/data", get(list).post(insert))
        .route("/health", get(|| async { "OK" }))
}

#[tokio::test]
async fn a_correct_app_written_differently_passes() {
    let outcomes = check_app(different_but_correct()).await;
    assert_eq!(
        verdicts(&outcomes, Verdict::Fail),
        Vec::<&str>::new(),
        "{outcomes:#?}"
    );
    assert_eq!(
        verdicts(&outcomes, Verdict::Skip),
        ["GET /ready answers 2xx"],
        "no readiness path in this profile is a skip, never a pass"
    );
}

/// The usual mistakes, each in one place.
fn wrong() -> Router<Documents> {
    async fn insert(State(store): State<Documents>, body: Bytes) -> Response {
        if body.len() > 1024 * 1024 {
            tokio::time::sleep(Duration::from_secs(30)).await; // hangs
        }
        match serde_json::from_slice::<Value>(&body) {
            // Crashes on bad JSON, stores anything else including arrays and operators.
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Traceback ...").into_response(),
            Ok(value) => {
                let mut stored = value.clone();
                if let Value::Object(map) = &mut stored {
                    map.insert("_id".into(), json!({"$oid": "65f0c0ffee"}));
                }
                store.lock().unwrap().push(stored);
                (
                    StatusCode::CREATED,
                    axum::Json(json!({"status": "Data inserted"})),
                )
                    .into_response()
            }
        }
    }
    Router::new()
        .route("/", get(|| async { "Welcome to the app" }))
        .route("/data", get(list).post(insert))
        .route("/health", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
}

#[tokio::test]
async fn a_wrong_app_fails_on_exactly_its_mistakes_with_evidence() {
    let outcomes = check_app(wrong()).await;
    let mut failed = verdicts(&outcomes, Verdict::Fail);
    failed.sort_unstable();
    let mut expected = vec![
        "GET / greets with the current time",
        "GET /health answers 2xx",
        "GET /data returns the stored object",
        "invalid JSON is refused with a 4xx",
        "a JSON value that is not an object is refused with a 4xx",
        "a body over 1 MiB is refused with a 4xx",
        "a wrong content type is refused with a 4xx",
        "a missing content type is refused with a 4xx",
        "operator keys ($-prefixed) are refused with a 4xx",
    ];
    expected.sort_unstable();
    assert_eq!(failed, expected, "{outcomes:#?}");

    let greeting = &outcomes["GET / greets with the current time"];
    assert_eq!(greeting.detail, "no date and time found in the greeting");
    assert!(
        greeting.received.contains("Welcome to the app"),
        "{greeting:?}"
    );
    let invalid = &outcomes["invalid JSON is refused with a 4xx"];
    assert!(
        invalid
            .detail
            .contains("status 500: the server failed on a client mistake")
    );
    assert!(
        invalid.sent.starts_with("POST /data {\"a\": "),
        "{invalid:?}"
    );
    let ids = &outcomes["GET /data returns the stored object"];
    assert!(ids.detail.contains("`_id`"), "{ids:?}");
    let hang = &outcomes["a body over 1 MiB is refused with a 4xx"];
    assert!(hang.detail.contains("hung"), "{hang:?}");
    let operators = &outcomes["operator keys ($-prefixed) are refused with a 4xx"];
    assert!(
        operators
            .detail
            .contains("status 201: the bad input was accepted")
    );
}

#[tokio::test]
async fn an_unreachable_app_is_one_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Target {
        base_url: format!("http://127.0.0.1:{port}"),
        timeout: Duration::from_secs(2),
    };
    let error = api::check(&target, &Profile::built_in("reference").unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot reach"), "{error}");
    assert!(error.contains("nothing was checked"), "{error}");
}
