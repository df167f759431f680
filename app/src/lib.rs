//! Reference Axum + MongoDB service for the classic DevOps take-home: `GET /`, `POST /data`,
//! `GET /data`, `/health`, `/ready`, `/metrics`.

pub mod config;
pub mod document;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod unread_body;

pub use config::Config;
pub use routes::{AppState, VERSION_HEADER, app};
pub use server::{ServeError, run, serve, shutdown_signal};
pub use store::Store;
