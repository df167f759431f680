//! Answers sent before the request body was read (413, 415, 404 on a POST, 408): they say
//! `Connection: close`, and the rest of the body is read and dropped in the background, within
//! bounds, so the connection ends with a close after the answer instead of a reset.
//!
//! Why both: hyper gives up on a connection whose request body the handler did not read, and
//! closes it after the answer without saying so. A client that keeps the connection for its
//! next request then races that close and loses the request ("connection closed before message
//! completed"); `Connection: close` tells it not to reuse it. And a socket closed with unread
//! bytes is reset by the kernel: the client, still uploading, gets "broken pipe" instead of
//! reading the 413, and a reset may discard an answer it has received but not yet read
//! (RFC 9112 §9.6). Reading the rest of the upload lets hyper close with a FIN once it ends.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes, HttpBody as _};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use futures::{Stream, StreamExt as _};

use crate::document::MAX_BODY_BYTES;

/// Most of an unread body read after an early answer: room for a client that sends a body
/// many times the limit, not for one that streams forever.
pub const DRAIN_MAX_BYTES: usize = 16 * MAX_BODY_BYTES;

/// Longest time spent reading an unread body after an early answer (a stalled client included);
/// the connection is then closed as hyper would have.
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(5);

/// Middleware: `Connection: close` on an answer given before the request body was read to
/// its end, and that body drained (bounded) once the handler has let go of it.
pub async fn close_after_unread_body(request: Request, next: Next) -> Response {
    // No body (GET, Content-Length: 0): nothing can be left unread. HTTP/2 closes streams,
    // not connections, and forbids the header.
    if request.body().is_end_stream() || request.version() > Version::HTTP_11 {
        return next.run(request).await;
    }
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let read_to_end = Arc::new(AtomicBool::new(false));
    let watch = read_to_end.clone();
    let request = request.map(|body| {
        Body::from_stream(Watched {
            body: Some(body.into_data_stream()),
            read_to_end: watch,
            polled: false,
            expects_continue,
        })
    });
    let mut response = next.run(request).await;
    if !read_to_end.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The request body as the handler sees it; notes whether it was read to its end, and if it was
/// not, drains the rest when dropped.
struct Watched {
    body: Option<BodyDataStream>,
    read_to_end: Arc<AtomicBool>,
    polled: bool,
    /// The client waits for `100 Continue` before it sends the body.
    expects_continue: bool,
}

impl Stream for Watched {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.polled = true;
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let next = body.poll_next_unpin(cx);
        // An error means the connection broke: nothing is left to drain either.
        if matches!(next, Poll::Ready(None | Some(Err(_)))) {
            self.read_to_end.store(true, Ordering::Release);
            self.body = None;
        }
        next
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let Some(body) = self.body.take() else {
            return;
        };
        // Reading now would make hyper send `100 Continue` and invite the very upload that
        // was refused; left alone, hyper skips it and the client, told to close, sends nothing.
        if self.expects_continue && !self.polled {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body));
        }
    }
}

/// Reads and drops what is left of a body, within [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`].
async fn drain(mut body: BodyDataStream) {
    let read = tokio::time::timeout(DRAIN_MAX_TIME, async {
        let mut read = 0;
        while let Some(Ok(chunk)) = body.next().await {
            read += chunk.len();
            if read > DRAIN_MAX_BYTES {
                return Err(read);
            }
        }
        Ok(read)
    })
    .await;
    match read {
        Ok(Ok(bytes)) => tracing::debug!(bytes, "drained an unread request body"),
        Ok(Err(bytes)) => {
            tracing::debug!(bytes, "unread request body too large to drain; closing")
        }
        Err(_) => {
            tracing::debug!(limit = ?DRAIN_MAX_TIME, "unread request body still arriving; closing")
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::routing::post;
    use tower::ServiceExt as _;

    use super::*;

    fn router() -> Router {
        Router::new()
            .route(
                "/read",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route(
                "/ignore",
                post(|| async { StatusCode::UNSUPPORTED_MEDIA_TYPE }),
            )
            .layer(axum::middleware::from_fn(close_after_unread_body))
    }

    async fn connection_header(path: &str, body: &'static str) -> Option<String> {
        let request = Request::post(path).body(Body::from(body)).unwrap();
        let response = router().oneshot(request).await.unwrap();
        let value = response.headers().get(header::CONNECTION)?;
        Some(value.to_str().unwrap().to_string())
    }

    #[tokio::test]
    async fn only_an_answer_given_before_the_body_was_read_says_close() {
        assert_eq!(
            connection_header("/ignore", "{\"a\":1}").await.as_deref(),
            Some("close")
        );
        assert_eq!(connection_header("/read", "{\"a\":1}").await, None);
        assert_eq!(
            connection_header("/ignore", "").await,
            None,
            "no body, nothing unread"
        );
    }
}
