//! The one error type handlers return, and how each variant becomes an HTTP answer.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Seconds a client should wait before retrying while the database is unavailable.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Every way a request can fail. Client mistakes are 4xx with a sentence that says what to fix;
/// database trouble is 503 with `Retry-After`; details of server-side causes go to the log only.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{}", unsupported_media_type(.0))]
    UnsupportedMediaType(Option<String>),
    /// Over the body limit, which the variant carries so the error needs no other module.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Unprocessable(String),
    #[error("no route for {method} {path}")]
    NotFound { method: String, path: String },
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// The database did not answer in time or refused us; the inner text is for the log only.
    #[error("the database is unavailable, try again shortly")]
    DatabaseUnavailable(String),
}

fn unsupported_media_type(found: &Option<String>) -> String {
    match found {
        None => "missing Content-Type: send the body as application/json".into(),
        Some(ct) => format!("unsupported Content-Type {ct:?}: send the body as application/json"),
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AppError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let AppError::DatabaseUnavailable(detail) = &self {
            tracing::warn!(%detail, "database unavailable");
        }
        let mut response = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}
