//! An app that takes 300 ms per write fails the write SLO `deploycheck local` applies, while
//! its other routes pass: the gate is per route, so a fast `GET /` cannot hide a slow write.
//! The app stands in for a candidate's slow submission. (One load run per process: Goose
//! installs process-wide handlers.)

#[path = "support/candidate_app.rs"]
mod candidate_app;

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use candidate_app::{Documents, insert, list, serve_app};
use deploycheck::load::{self, Route, SloVerdict};
use deploycheck::profile::Profile;
use serde_json::Value;

async fn slow_insert(
    documents: State<Documents>,
    document: axum::Json<Value>,
) -> (axum::http::StatusCode, &'static str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    insert(documents, document).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_ms_write_fails_the_write_slo_of_the_local_defaults() {
    let url = serve_app("hello", get(list).post(slow_insert), Documents::default()).await;

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
