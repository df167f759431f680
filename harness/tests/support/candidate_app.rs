//! Stand-ins for a candidate's app, written in the tests: a greeting on `GET /` and `/data`
//! handlers, each test's own where it wants the app to fail in its own way, served on
//! loopback.
#![allow(dead_code)] // each test binary uses part of this module

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get};
use serde_json::Value;

/// The app's "database": a vector the test can read and wipe.
pub type Documents = Arc<Mutex<Vec<Value>>>;

/// What the reference app answers to a write it stored.
pub const INSERTED: (StatusCode, &str) = (StatusCode::CREATED, r#"{"status":"Data inserted"}"#);

/// `POST /data` that stores every document.
pub async fn insert(
    State(documents): State<Documents>,
    axum::Json(document): axum::Json<Value>,
) -> (StatusCode, &'static str) {
    documents.lock().unwrap().push(document);
    INSERTED
}

/// `GET /data`: every stored document.
pub async fn list(State(documents): State<Documents>) -> axum::Json<Value> {
    axum::Json(Value::Array(documents.lock().unwrap().clone()))
}

/// Serves `router` on a free loopback port for the rest of the test's runtime; its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// Serves an app that answers `GET /` with `greeting` and `/data` with `data`, over `state`.
pub async fn serve_app<S: Clone + Send + Sync + 'static>(
    greeting: &'static str,
    data: MethodRouter<S>,
    state: S,
) -> String {
    let router = Router::new()
        .route("/", get(move || async move { greeting }))
        .route("/data", data)
        .with_state(state);
    serve(router).await
}
