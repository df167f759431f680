//! The HTTP contract: routes, handlers, and the per-request log and metrics middleware.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt as _;
use mongodb::bson::Bson;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tower_http::timeout::TimeoutLayer;

use crate::config::DEFAULT_VERSION;
use crate::document::{JsonDocument, MAX_BODY_BYTES};
use crate::error::{AppError, RETRY_AFTER_SECS};
use crate::metrics::{Metrics, UNMATCHED_ROUTE};
use crate::store::{Store, StoreError};
use crate::unread_body::close_after_unread_body;

/// Names the release that answered, on every response (blue-green and canary rollouts).
pub const VERSION_HEADER: HeaderName = HeaderName::from_static("x-app-version");

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// Set once shutdown begins, so readiness fails while in-flight requests drain.
    pub draining: Arc<AtomicBool>,
    /// The release reported in `X-App-Version` and `/health`; the crate version unless
    /// [`AppState::with_version`] says otherwise (`serve` uses `Config::version`).
    pub version: Arc<str>,
}

impl AppState {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            metrics: Arc::default(),
            draining: Arc::default(),
            version: DEFAULT_VERSION.into(),
        }
    }

    /// Reports `version` instead (visible ASCII, as `Config` validates `APP_VERSION`).
    #[must_use]
    pub fn with_version(mut self, version: impl Into<Arc<str>>) -> Self {
        self.version = version.into();
        self
    }

    fn db_error(&self, error: StoreError) -> AppError {
        let operation = match &error {
            StoreError::Timeout { operation, .. } | StoreError::Failed { operation, .. } => {
                operation
            }
            StoreError::InvalidUri(_) => "connect",
        };
        self.metrics.observe_db_error(operation);
        AppError::DatabaseUnavailable(error.to_string())
    }
}

/// The whole service as a `Router`, so tests can drive it without a socket.
pub fn app(state: AppState, request_timeout: std::time::Duration) -> Router {
    let version = HeaderValue::from_str(&state.version).unwrap_or_else(|_| {
        tracing::warn!(version = %state.version, "version is not a valid header value");
        HeaderValue::from_static(DEFAULT_VERSION)
    });
    Router::new()
        .route("/", get(root))
        .route("/data", get(list_data).post(insert_data))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // DB calls time out sooner (503) on their own, so what this bound catches in practice
        // is a client that stalls mid-request: a 408, the client's side of the contract.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        // Outside the timeout, so a 408 for a stalled upload says `Connection: close` too.
        .layer(middleware::from_fn(close_after_unread_body))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        // Outermost, so every answer says which release gave it: 404s, 405s, 408s, 413s too.
        .layer(middleware::from_fn_with_state(version, stamp_version))
        .with_state(state)
}

async fn root() -> impl IntoResponse {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let now = now.format(&Rfc3339).unwrap_or_else(|_| now.to_string());
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Welcome to the deploycheck reference service! The current time is: {now}\n"),
    )
}

async fn insert_data(
    State(state): State<AppState>,
    JsonDocument(document): JsonDocument,
) -> Result<impl IntoResponse, AppError> {
    let id = state
        .store
        .insert(document)
        .await
        .map_err(|e| state.db_error(e))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "status": "Data inserted", "id": id.to_hex() })),
    ))
}

#[derive(Deserialize)]
struct ListParams {
    limit: Option<String>,
    skip: Option<String>,
}

/// Streams `[doc, doc, ...]` straight from the cursor, so memory stays flat however large the
/// collection grows. `limit` and `skip` page through it when a client wants less.
async fn list_data(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let Query(params) =
        params.map_err(|e| AppError::BadRequest(format!("invalid query string: {e}")))?;
    let limit = match params.limit.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                return Err(AppError::BadRequest(format!(
                    "limit must be a whole number of at least 1 (omit it for every document); got {v:?}"
                )));
            }
        },
    };
    let skip = match params.skip.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= i64::MAX as u64)
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "skip must be a whole number of at least 0; got {v:?}"
                ))
            })?,
    };
    let documents = state
        .store
        .list(skip, limit)
        .await
        .map_err(|e| state.db_error(e))?;

    let metrics = state.metrics.clone();
    let items = documents.map(move |item| match item {
        Ok(document) => {
            let json = Bson::Document(document).into_relaxed_extjson();
            serde_json::to_vec(&json)
                .map(Bytes::from)
                .map_err(std::io::Error::other)
        }
        Err(error) => {
            // Headers are gone already: abort the body so the client sees a broken
            // response instead of a valid-looking, truncated array.
            metrics.observe_db_error("find");
            tracing::warn!(%error, "GET /data stream aborted");
            Err(std::io::Error::other(error.to_string()))
        }
    });
    // An empty chunk marks the end; documents are never empty (`{}` at least).
    let end = futures::stream::once(async { Ok(Bytes::new()) });
    let body = items.chain(end).scan(false, |opened, chunk| {
        let chunk = chunk.map(|json| {
            let was_opened = std::mem::replace(opened, true);
            match (json.is_empty(), was_opened) {
                (true, true) => Bytes::from_static(b"]"),
                (true, false) => Bytes::from_static(b"[]"),
                (false, opened) => {
                    let mut framed = Vec::with_capacity(json.len() + 1);
                    framed.push(if opened { b',' } else { b'[' });
                    framed.extend_from_slice(&json);
                    Bytes::from(framed)
                }
            }
        });
        futures::future::ready(Some(chunk))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    Json(json!({ "status": "healthy", "version": &*state.version }))
}

async fn ready(State(state): State<AppState>) -> Response {
    let unavailable = |reason: String| {
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": reason })),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        response
    };
    if state.draining.load(Ordering::Relaxed) {
        return unavailable("shutting down".into());
    }
    match state.store.check_ready().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(error) => {
            state.metrics.observe_db_error("readiness check");
            tracing::warn!(%error, "not ready");
            unavailable(error.reason())
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
}

async fn not_found(request: Request) -> AppError {
    AppError::NotFound {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
    }
}

async fn method_not_allowed(request: Request) -> AppError {
    AppError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
    }
}

/// `X-App-Version` on every response.
async fn stamp_version(
    State(version): State<HeaderValue>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(VERSION_HEADER, version);
    response
}

/// One log line and one metrics sample per request.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_string());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .observe_request(method.as_str(), &route, status, elapsed);
    tracing::info!(
        method = %method,
        path = %path,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}
