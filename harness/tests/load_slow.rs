//! An app that takes 300 ms per write fails the write SLO `deploycheck local` applies, while
//! its other routes pass: the gate is per route, so a fast `GET /` cannot hide a slow write.
//! The app stands in for a candidate's slow submission. (One load run per process: Goose
//! installs process-wide handlers.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use deploycheck::load::{self, Route, SloVerdict};
use deploycheck::profile::Profile;
use serde_json::Value;

type Store = Arc<Mutex<Vec<Value>>>;

async fn slow_insert(
    State(store): State<Store>,
    axum::Json(document): axum::Json<Value>,
) -> (axum::http::StatusCode, &'static str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.lock().unwrap().push(document);
    (
        axum::http::StatusCode::CREATED,
        r#"{"status":"Data inserted"}"#,
    )
}

async fn list(State(store): State<Store>) -> axum::Json<Value> {
    axum::Json(Value::Array(store.lock().unwrap().clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_ms_write_fails_the_write_slo_of_the_local_defaults() {
    let router = Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/data", get(list).post(slow_insert))
        .with_state(Store::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    // What `deploycheck local` runs, shortened: the reference profile's users, pace and SLOs.
    let profile = Profile::built_in("reference").unwrap();
    let settings =
        load::Settings::for_local(&url, &profile.load, Some(Duration::from_secs(3)), None).unwrap();
    let summary = load::run(&settings).await.unwrap();

    let write = summary
        .slos
        .iter()
        .find(|r| r.route == Some(Route::Write) && r.slo.starts_with("POST /data:p95"))
        .unwrap_or_else(|| panic!("the profile gates POST /data: {summary:#?}"));
    assert_eq!(write.verdict, SloVerdict::Missed, "{write:#?}");
    assert!(write.actual.unwrap() >= 300.0, "{write:#?}");
    for other in summary
        .slos
        .iter()
        .filter(|r| r.route != Some(Route::Write))
    {
        assert_eq!(other.verdict, SloVerdict::Met, "{other:#?}");
    }
    assert_eq!(summary.lost_writes, 0, "slow, not lossy: {summary:#?}");
    assert!(!summary.passed());
}
