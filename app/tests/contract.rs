//! The HTTP contract against a real MongoDB-wire server: every route, every bad input.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::TestApp;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn content_type(response: &reqwest::Response) -> &str {
    response.headers()["content-type"].to_str().unwrap()
}

#[tokio::test]
async fn greeting_is_plain_text_with_the_current_utc_time() {
    let app = TestApp::start().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/plain"));
    let text = response.text().await.unwrap();
    let stamp = text
        .split_whitespace()
        .find_map(|word| OffsetDateTime::parse(word, &Rfc3339).ok())
        .unwrap_or_else(|| panic!("no RFC 3339 time in {text:?}"));
    assert_eq!(stamp.offset(), time::UtcOffset::UTC, "{text}");
    let skew = (OffsetDateTime::now_utc() - stamp).abs();
    assert!(
        skew < time::Duration::seconds(5),
        "time is {skew} off: {text}"
    );
}

#[tokio::test]
async fn post_then_get_round_trip_keeps_order_and_hides_ids() {
    let app = TestApp::start().await;
    assert_eq!(app.all_documents().await, Vec::<Value>::new());
    let mut ids = Vec::new();
    for n in 0..3 {
        let response = app
            .post_json(&json!({"n": n, "nested": {"list": [1, "two", null, 3.5]}}))
            .await;
        assert_eq!(response.status(), 201);
        assert!(content_type(&response).starts_with("application/json"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "Data inserted");
        let id = body["id"].as_str().expect("id is a string").to_string();
        assert!(
            id.len() == 24 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "ids are unique");
    let documents = app.all_documents().await;
    assert_eq!(
        documents,
        (0..3)
            .map(|n| json!({"n": n, "nested": {"list": [1, "two", null, 3.5]}}))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn get_data_pages_with_limit_and_skip_and_rejects_bad_values() {
    let app = TestApp::start().await;
    for n in 0..5 {
        assert_eq!(app.post_json(&json!({ "n": n })).await.status(), 201);
    }
    assert_eq!(
        app.get_json("/data?limit=2&skip=1").await,
        (200, json!([{"n": 1}, {"n": 2}]))
    );
    assert_eq!(app.get_json("/data?skip=10").await, (200, json!([])));
    for query in ["limit=0", "limit=-1", "limit=abc", "skip=-1", "skip=1.5"] {
        let response = app
            .http
            .get(app.url(&format!("/data?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("must be"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn get_data_streams_more_documents_than_one_batch() {
    let app = TestApp::start().await;
    let total = 300; // more than two cursor batches
    for n in 0..total {
        assert_eq!(app.post_json(&json!({ "n": n })).await.status(), 201);
    }
    let documents = app.all_documents().await;
    assert_eq!(documents.len(), total);
    for (n, document) in documents.iter().enumerate() {
        assert_eq!(document, &json!({ "n": n }));
    }
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = TestApp::start().await;
    assert_eq!(
        app.get_json("/health").await,
        (
            200,
            json!({"status": "healthy", "version": env!("CARGO_PKG_VERSION")})
        )
    );
    assert_eq!(
        app.get_json("/ready").await,
        (200, json!({"status": "ready"}))
    );

    app.post_json(&json!({"a": 1})).await;
    app.get("/nope").await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(content_type(&metrics).starts_with("application/openmetrics-text; version=1.0.0"));
    let text = metrics.text().await.unwrap();
    for expected in [
        "http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1",
        "http_requests_total{method=\"POST\",route=\"/data\",status=\"201\"} 1",
        "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "http_request_duration_seconds_count{method=\"POST\",route=\"/data\"} 1",
        "db_errors_total{operation=\"insert\"} 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

/// What a bad request sends, and the status it must get.
struct BadInput {
    name: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    message: &'static str,
}

fn bad_inputs() -> Vec<BadInput> {
    let case = |name, content_type, body: &str, status, message| BadInput {
        name,
        content_type,
        body: body.as_bytes().to_vec(),
        status,
        message,
    };
    let json = Some("application/json");
    let mut oversized = br#"{"big":""#.to_vec();
    oversized.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    oversized.extend(br#""}"#);
    vec![
        case("invalid JSON", json, "{\"a\": ", 400, "not valid JSON"),
        case("single quotes", json, "{'a': 1}", 400, "not valid JSON"),
        case("empty body", json, "", 400, "empty"),
        case("array", json, "[1,2]", 422, "expected a JSON object"),
        case("string", json, "\"hello\"", 422, "expected a JSON object"),
        case("number", json, "42", 422, "expected a JSON object"),
        case("null", json, "null", 422, "expected a JSON object"),
        case(
            "operator key",
            json,
            r#"{"$where": "sleep(1000)"}"#,
            422,
            "starts with `$`",
        ),
        case(
            "nested operator",
            json,
            r#"{"user": {"$ne": null}}"#,
            422,
            "starts with `$`",
        ),
        case(
            "operator in array",
            json,
            r#"{"a": [{"$gt": 1}]}"#,
            422,
            "starts with `$`",
        ),
        case("dotted key", json, r#"{"a.b": 1}"#, 422, "contains `.`"),
        case("reserved _id", json, r#"{"_id": "x"}"#, 422, "_id"),
        case(
            "huge integer",
            json,
            r#"{"n": 18446744073709551615}"#,
            422,
            "64-bit",
        ),
        case(
            "no content type",
            None,
            r#"{"a": 1}"#,
            415,
            "missing Content-Type",
        ),
        case(
            "text/plain",
            Some("text/plain"),
            r#"{"a": 1}"#,
            415,
            "unsupported Content-Type",
        ),
        case(
            "form",
            Some("application/x-www-form-urlencoded"),
            "a=1",
            415,
            "unsupported",
        ),
        BadInput {
            name: "over 1 MiB",
            content_type: json,
            body: oversized,
            status: 413,
            message: "larger than",
        },
    ]
}

#[tokio::test]
async fn every_bad_input_gets_a_specific_4xx_with_a_json_error_and_stores_nothing() {
    let app = TestApp::start().await;
    assert_eq!(app.post_json(&json!({"kept": true})).await.status(), 201);
    for case in bad_inputs() {
        let mut request = app.http.post(app.url("/data")).body(case.body.clone());
        if let Some(ct) = case.content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), case.status, "{}", case.name);
        assert!(
            content_type(&response).starts_with("application/json"),
            "{}",
            case.name
        );
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(case.message),
            "{}: {error:?} lacks {:?}",
            case.name,
            case.message
        );
    }
    assert_eq!(app.all_documents().await, vec![json!({"kept": true})]);
}

#[tokio::test]
async fn an_oversized_chunked_body_is_cut_off_with_413() {
    let app = TestApp::start().await;
    let chunks = (0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024]));
    let response = app
        .http
        .post(app.url("/data"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), 413),
        // The server may answer and close before the client finished sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert!(app.all_documents().await.is_empty());
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = TestApp::start().await;
    assert_eq!(
        app.get_json("/missing").await,
        (404, json!({"error": "no route for GET /missing"}))
    );
    let wrong = app.http.delete(app.url("/data")).send().await.unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "method DELETE is not allowed on /data"
    );
}

#[tokio::test]
async fn two_hundred_concurrent_posts_are_all_stored() {
    let app = TestApp::start().await;
    let posts = (0..200).map(|n| {
        let http = app.http.clone();
        let url = app.url("/data");
        tokio::spawn(async move {
            http.post(url)
                .json(&json!({ "n": n }))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    });
    let statuses = futures::future::join_all(posts).await;
    for status in statuses {
        assert_eq!(status.unwrap().unwrap(), 201);
    }
    let documents = app.all_documents().await;
    assert_eq!(documents.len(), 200);
    let mut seen: Vec<i64> = documents.iter().map(|d| d["n"].as_i64().unwrap()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_slow_client_cannot_hold_a_request_forever() {
    // REQUEST_TIMEOUT_MS bounds the whole request, including a body that never arrives.
    let server = devdb::MongoServer::process_wide().unwrap();
    let db = support::unique_db("slow");
    let app = TestApp::start_with(support::config(&[
        ("MONGODB_URI", &server.uri()),
        ("MONGODB_DATABASE", &db),
        ("REQUEST_TIMEOUT_MS", "500"),
    ]))
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /data HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{\"a\"",
        )
        .await
        .unwrap();
    let mut answer = vec![0; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("the server answers a stalled upload")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// Posts `body_len` bytes as `content_type` on a fresh connection the way most clients do: the
/// whole request first, then the answer, read to the end. Returns how the upload went, the
/// answer as text, and how the connection ended (`Ok` for a close, an error for a reset).
async fn post_then_read(
    app: &TestApp,
    content_type: &str,
    body_len: usize,
) -> (std::io::Result<()>, String, std::io::Result<()>) {
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST /data HTTP/1.1\r\nhost: x\r\ncontent-type: {content_type}\r\ncontent-length: {body_len}\r\n\r\n{{\"big\":\""
    )
    .into_bytes();
    request.resize(request.len() + body_len - 10, b'x');
    request.extend_from_slice(b"\"}");
    let upload = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the connection ends after the answer")
        .map(drop);
    (upload, String::from_utf8_lossy(&answer).into_owned(), end)
}

#[tokio::test]
async fn an_answer_sent_before_the_body_was_read_ends_with_a_clean_close() {
    // 12 MiB is more than loopback socket buffers hold: had the server closed with the rest
    // unread, the kernel would reset the connection under the client's upload, and a reset can
    // destroy an answer the client has not read yet.
    let app = TestApp::start().await;
    for (content_type, status) in [("application/json", "413"), ("text/plain", "415")] {
        let (upload, answer, end) = post_then_read(&app, content_type, 12 * 1024 * 1024).await;
        let case = format!("{content_type} -> {status}");
        upload.unwrap_or_else(|e| panic!("{case}: the upload was cut: {e}"));
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{case}: {answer}"
        );
        let head = answer
            .split("\r\n\r\n")
            .next()
            .unwrap()
            .to_ascii_lowercase();
        assert!(head.contains("\r\nconnection: close"), "{case}: {head}");
        end.unwrap_or_else(|e| panic!("{case}: reset instead of closed: {e}"));
    }
}

#[tokio::test]
async fn an_answer_given_after_the_whole_body_keeps_the_connection_open() {
    // Only early answers close: a 400 after reading every byte leaves the connection reusable.
    let app = TestApp::start().await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /data HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 6\r\n\r\n{\"a\": \
              GET /health HTTP/1.1\r\nhost: x\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answers = String::new();
    let mut chunk = [0; 4096];
    while answers.matches("HTTP/1.1 ").count() < 2 || !answers.ends_with('}') {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("both answers arrive")
            .unwrap();
        assert_ne!(n, 0, "the connection closed after: {answers}");
        answers.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert!(answers.starts_with("HTTP/1.1 400 "), "{answers}");
    assert!(
        !answers.to_ascii_lowercase().contains("connection: close"),
        "{answers}"
    );
    assert!(answers.contains("HTTP/1.1 200 "), "{answers}");
}
