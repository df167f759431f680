//! An app whose `GET /data` returns every document, at a fine 0.1 ms per document, passes
//! while its list grows past what an absolute latency gate allows: an SLO for every route
//! judges a whole-list read per 1,000 documents. (One load run per process.)

#[path = "support/candidate_app.rs"]
mod candidate_app;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use candidate_app::{Documents, insert, serve_app};
use deploycheck::load::{self, Basis, ListRead, Mix, Route, Settings, SloVerdict};
use serde_json::{Value, json};

/// What one document costs the app to list.
const PER_DOCUMENT: Duration = Duration::from_micros(100);
/// Documents stored before the load, so an answer takes 400 ms or more from the start.
const SEEDED: usize = 4000;

async fn list(State(store): State<Documents>) -> axum::Json<Value> {
    let documents = store.lock().unwrap().clone();
    tokio::time::sleep(PER_DOCUMENT * documents.len() as u32).await;
    axum::Json(Value::Array(documents))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_list_at_a_fine_cost_per_document_passes() {
    let seeded = (0..SEEDED).map(|n| json!({ "seed": n })).collect();
    let documents = Arc::new(Mutex::new(seeded));
    let url = serve_app("hello", get(list).post(insert), documents).await;

    let summary = load::run(&Settings {
        base_url: url,
        users: 8,
        hatch_rate: 8,
        duration: Duration::from_secs(3),
        mix: Mix::Mixed,
        // The global form, and the per-document form naming the list.
        slos: load::parse_slos("p95<250ms,GET /data:p95<250ms/1000docs,errors<1%").unwrap(),
        rate: Some(100),
        list_read: ListRead::Whole,
        goose_html: None,
    })
    .await
    .unwrap();

    let list = &summary.routes[&Route::List];
    let documents = list.list.as_ref().expect("GET /data counts documents");
    assert!(documents.documents_min >= SEEDED as u64, "{documents:#?}");
    assert!(
        documents.documents_max > documents.documents_min,
        "the load's writes grew the list: {documents:#?}"
    );
    assert!(
        list.latency_ms.p95 > 250.0,
        "an absolute 250 ms gate would have failed it: {list:#?}"
    );
    let judged: Vec<_> = summary
        .slos
        .iter()
        .filter(|r| r.route == Some(Route::List) && r.basis != Basis::ErrorRate)
        .collect();
    assert_eq!(judged.len(), 2, "{:#?}", summary.slos);
    for result in judged {
        assert_eq!(result.basis, Basis::LatencyPer1000Documents, "{result:#?}");
        assert_eq!(result.verdict, SloVerdict::Met, "{result:#?}");
    }
    assert!(summary.passed(), "{summary:#?}");
}
