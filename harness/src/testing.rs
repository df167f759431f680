//! Loopback scaffolding shared by unit tests (test builds only): serving a router on a free
//! port, and an address where nothing listens.

use std::net::SocketAddr;

use crate::api::Verdict;
use crate::scenario::ScenarioOutcome;

/// The outcome has `verdict` and its detail says `text` (anywhere in it).
#[track_caller]
pub fn assert_says(outcome: &ScenarioOutcome, verdict: Verdict, text: &str) {
    assert_eq!(outcome.verdict, verdict, "{outcome:?}");
    assert!(outcome.detail.contains(text), "{}", outcome.detail);
}

/// The outcome's detail says `text`.
#[track_caller]
pub fn assert_said(outcome: &ScenarioOutcome, text: &str) {
    assert!(outcome.detail.contains(text), "{}", outcome.detail);
}

/// The outcome's detail does not say `text`.
#[track_caller]
pub fn assert_not_said(outcome: &ScenarioOutcome, text: &str) {
    assert!(!outcome.detail.contains(text), "{}", outcome.detail);
}

/// The outcome has `verdict` and its detail begins with `text`.
#[track_caller]
pub fn assert_begins(outcome: &ScenarioOutcome, verdict: Verdict, text: &str) {
    assert_eq!(outcome.verdict, verdict, "{outcome:?}");
    assert!(outcome.detail.starts_with(text), "{}", outcome.detail);
}

/// Serves `router` on a free loopback port for the rest of the test; returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

/// An app whose `/health` always answers 200, standing in for healthy pods.
pub async fn healthy_app() -> String {
    serve(axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }))).await
}

/// A loopback address nothing listens on (a port just released): connections are refused.
pub fn closed_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// [`closed_address`] as a base URL: an app that is down.
pub fn closed_url() -> String {
    format!("http://{}", closed_address())
}
