//! An app that acknowledges writes and then loses some fails the load check, however fast it
//! is. The app here stands in for a candidate's buggy submission (the system under check).

#[path = "support/candidate_app.rs"]
mod candidate_app;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use candidate_app::{INSERTED, serve_app};
use deploycheck::load::{self, ListRead, Mix, Settings};
use serde_json::Value;

type Store = Arc<Mutex<(u64, Vec<Value>)>>;

async fn insert(
    State(store): State<Store>,
    axum::Json(document): axum::Json<Value>,
) -> (axum::http::StatusCode, &'static str) {
    let mut guard = store.lock().unwrap();
    guard.0 += 1;
    if guard.0 % 3 != 0 {
        guard.1.push(document); // every third acknowledged write is silently dropped
    }
    INSERTED
}

async fn list(State(store): State<Store>) -> axum::Json<Value> {
    axum::Json(Value::Array(store.lock().unwrap().1.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_acknowledged_writes_fail_the_run() {
    let url = serve_app("hello", get(list).post(insert), Store::default()).await;

    let summary = load::run(&Settings {
        base_url: url,
        users: 2,
        hatch_rate: 2,
        duration: Duration::from_secs(2),
        mix: Mix::Write,
        slos: load::parse_slos("errors<1%").unwrap(),
        rate: None,
        list_read: ListRead::Whole,
        goose_html: None,
    })
    .await
    .unwrap();
    assert!(summary.acknowledged_writes >= 3, "{summary:#?}");
    assert_eq!(
        summary.lost_writes,
        summary.acknowledged_writes / 3,
        "{summary:#?}"
    );
    assert!(!summary.lost_examples.is_empty());
    assert!(
        summary.slos.iter().all(|s| s.met()),
        "fast and error-free, yet it lost data"
    );
    assert!(!summary.passed());
}
