//! The HTTP contract of the challenge, checked against a running app (`deploycheck api`).
//!
//! Tolerant where the challenge leaves room (200 or 201 for POST, extra fields, any greeting
//! wording that carries the current time, any time format and zone) and strict where a real
//! client would break (wrong status class, 5xx for a client mistake, a hang, a dropped
//! connection, a lost write, operator keys stored).

use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::profile::Profile;
use crate::timestamp;

/// How far the greeting's time may be from this machine's clock.
pub const TIME_TOLERANCE: Duration = Duration::from_secs(120);

/// How a check ended (DESIGN.md §6c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    /// The challenge's requirement holds; a best practice does not, and the advice says how
    /// to fix it. Counts as a failure only under `--strict`.
    Warn,
    Fail,
    /// The check could not run; the detail says why. Never counted as a pass by a gate.
    Skip,
}

impl Verdict {
    /// Whether this verdict fails a run: a failure always, a warning only when `strict`.
    pub fn fails(self, strict: bool) -> bool {
        match self {
            Verdict::Fail => true,
            Verdict::Warn => strict,
            Verdict::Pass | Verdict::Skip => false,
        }
    }
}

/// One check's result, with the evidence a person needs to act on a failure.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub check: &'static str,
    pub verdict: Verdict,
    /// For a pass, what was seen; for a failure, what was wrong; for a skip, why.
    pub detail: String,
    /// The request, e.g. `POST /data {"a":1}`.
    pub sent: String,
    /// Status and the start of the body, or the transport error.
    pub received: String,
    pub hint: &'static str,
    pub elapsed_ms: u64,
}

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct Target {
    pub base_url: String,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot build an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("cannot reach {url}: {reason}; nothing was checked")]
    Unreachable { url: String, reason: String },
}

/// What came back from one request.
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    /// Status, content type and the start of the body on one line (HTML error pages included).
    fn summary(&self) -> String {
        let flat = self.body.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut body: String = flat.chars().take(300).collect();
        if flat.chars().count() > 300 {
            body.push('…');
        }
        format!("{} ({}) {body}", self.status, self.content_type)
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

struct Checker<'a> {
    http: reqwest::Client,
    target: &'a Target,
    profile: &'a Profile,
    outcomes: Vec<Outcome>,
}

/// Runs every check of the contract; never stops at the first failure.
///
/// # Errors
/// Only for an unusable URL or HTTP client; an unreachable app is a failed check, not an error.
pub async fn check(target: &Target, profile: &Profile) -> Result<Vec<Outcome>, ApiError> {
    let url = reqwest::Url::parse(&target.base_url).map_err(|e| ApiError::BadUrl {
        url: target.base_url.clone(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ApiError::BadUrl {
            url: target.base_url.clone(),
            reason: "expected http://HOST:PORT".into(),
        });
    }
    let http = reqwest::Client::builder()
        .timeout(target.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ApiError::Client)?;
    // One clear sentence for an app that is not there, instead of every check failing alike.
    if let Err(error) = http.get(url.clone()).send().await
        && (error.is_connect() || error.is_timeout())
    {
        return Err(ApiError::Unreachable {
            url: target.base_url.clone(),
            reason: describe_transport(&error, target.timeout),
        });
    }
    let mut checker = Checker {
        http,
        target,
        profile,
        outcomes: Vec::new(),
    };
    checker.greeting().await;
    checker.health().await;
    checker.ready().await;
    checker.round_trip().await;
    checker.bad_inputs().await;
    Ok(checker.outcomes)
}

impl Checker<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.target.base_url.trim_end_matches('/'))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, String> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| describe_transport(&e, self.target.timeout))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .to_string();
        let body = response.text().await.map_err(|e| {
            format!(
                "{status} but the body broke off: {}",
                describe_transport(&e, self.target.timeout)
            )
        })?;
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    fn record(
        &mut self,
        check: &'static str,
        verdict: Verdict,
        detail: String,
        (sent, received): (String, String),
        hint: &'static str,
        started: Instant,
    ) {
        self.outcomes.push(Outcome {
            check,
            verdict,
            detail,
            sent,
            received,
            hint,
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
    }

    async fn greeting(&mut self) {
        const CHECK: &str = "GET / greets with the current time";
        const HINT: &str = "return 200 with a message that includes the current time, e.g. datetime.now(timezone.utc).isoformat()";
        let started = Instant::now();
        let sent = "GET /".to_string();
        let reply = match self.send(reqwest::Method::GET, "/", None, None).await {
            Ok(reply) => reply,
            Err(error) => {
                return self.record(
                    CHECK,
                    Verdict::Fail,
                    format!("no answer: {error}"),
                    (sent, error),
                    HINT,
                    started,
                );
            }
        };
        let received = reply.summary();
        let verdict = if reply.status != 200 {
            Err(format!("status {} instead of 200", reply.status))
        } else {
            let wanted = &self.profile.app.greeting_contains;
            match timestamp::find(&reply.body) {
                _ if !wanted.is_empty() && !reply.body.contains(wanted.as_str()) => Err(format!(
                    "the greeting does not contain {wanted:?} (profile app.greeting_contains)"
                )),
                None => Err("no date and time found in the greeting".to_string()),
                Some(found) => {
                    let off = found.distance_from(OffsetDateTime::now_utc());
                    if off.whole_seconds().unsigned_abs() > TIME_TOLERANCE.as_secs() {
                        Err(format!(
                            "the time in the greeting is {} s away from now",
                            off.whole_seconds()
                        ))
                    } else {
                        Ok(format!(
                            "time within {} s of now",
                            off.whole_seconds().abs()
                        ))
                    }
                }
            }
        };
        match verdict {
            Ok(detail) => self.record(
                CHECK,
                Verdict::Pass,
                detail,
                (sent, received),
                HINT,
                started,
            ),
            Err(detail) => self.record(
                CHECK,
                Verdict::Fail,
                detail,
                (sent, received),
                HINT,
                started,
            ),
        }
    }

    async fn health(&mut self) {
        const CHECK: &str = "GET /health answers 2xx";
        const HINT: &str = "serve a cheap liveness endpoint that does not depend on the database";
        let path = self.profile.app.health_path.clone();
        self.expect_2xx(CHECK, &path, HINT).await;
    }

    async fn ready(&mut self) {
        const CHECK: &str = "GET /ready answers 2xx";
        const HINT: &str =
            "serve a readiness endpoint that checks the database with its credentials";
        let path = self.profile.app.ready_path.clone();
        if path.is_empty() {
            let started = Instant::now();
            return self.record(
                CHECK,
                Verdict::Skip,
                "the profile declares no readiness path (app.ready_path)".into(),
                (String::new(), String::new()),
                HINT,
                started,
            );
        }
        self.expect_2xx(CHECK, &path, HINT).await;
    }

    async fn expect_2xx(&mut self, check: &'static str, path: &str, hint: &'static str) {
        let started = Instant::now();
        let sent = format!("GET {path}");
        match self.send(reqwest::Method::GET, path, None, None).await {
            Err(error) => self.record(
                check,
                Verdict::Fail,
                format!("no answer: {error}"),
                (sent, error),
                hint,
                started,
            ),
            Ok(reply) if (200..300).contains(&reply.status) => {
                let received = reply.summary();
                self.record(
                    check,
                    Verdict::Pass,
                    format!("status {}", reply.status),
                    (sent, received),
                    hint,
                    started,
                )
            }
            Ok(reply) => {
                let received = reply.summary();
                self.record(
                    check,
                    Verdict::Fail,
                    format!("status {} instead of 2xx", reply.status),
                    (sent, received),
                    hint,
                    started,
                )
            }
        }
    }

    async fn round_trip(&mut self) {
        const POST: &str = "POST /data stores a JSON object";
        const POST_HINT: &str =
            "insert the request's JSON into MongoDB and answer 201 (or 200) with a JSON body";
        const GET: &str = "GET /data returns the stored object";
        const GET_HINT: &str = "return every stored document as a JSON array, with _id excluded (projection {\"_id\": 0})";
        let marker = crate::unique_marker("deploycheck");
        let document =
            json!({"deploycheck_marker": marker, "nested": {"n": 1, "list": [1, "two"]}});
        let started = Instant::now();
        let sent = format!("POST /data {document}");
        let posted = self
            .send(
                reqwest::Method::POST,
                "/data",
                Some("application/json"),
                Some(document.to_string().into_bytes()),
            )
            .await;
        match posted {
            Err(error) => {
                self.record(
                    POST,
                    Verdict::Fail,
                    format!("no answer: {error}"),
                    (sent, error),
                    POST_HINT,
                    started,
                );
                return;
            }
            Ok(reply) => {
                let received = reply.summary();
                if !matches!(reply.status, 200 | 201) {
                    self.record(
                        POST,
                        Verdict::Fail,
                        format!("status {} instead of 201 or 200", reply.status),
                        (sent, received),
                        POST_HINT,
                        started,
                    );
                    return;
                }
                if reply.json().is_none() {
                    self.record(
                        POST,
                        Verdict::Fail,
                        "the answer is not JSON".into(),
                        (sent, received),
                        POST_HINT,
                        started,
                    );
                    return;
                }
                self.record(
                    POST,
                    Verdict::Pass,
                    format!("status {}", reply.status),
                    (sent, received),
                    POST_HINT,
                    started,
                );
            }
        }

        let started = Instant::now();
        let sent = "GET /data".to_string();
        let reply = match self.send(reqwest::Method::GET, "/data", None, None).await {
            Ok(reply) => reply,
            Err(error) => {
                return self.record(
                    GET,
                    Verdict::Fail,
                    format!("no answer: {error}"),
                    (sent, error),
                    GET_HINT,
                    started,
                );
            }
        };
        let received = reply.summary();
        let result = match (reply.status, reply.json()) {
            (200, Some(Value::Array(items))) => {
                match items.iter().find(|item| item.get("deploycheck_marker") == Some(&json!(marker))) {
                    None => Err(format!("the document posted a moment ago is not among the {} returned", items.len())),
                    Some(item) if item.get("_id").is_some() => {
                        Err("documents include `_id` (ObjectIds are not JSON; the contract excludes them)".into())
                    }
                    Some(item) if item.get("nested") != document.get("nested") => {
                        Err(format!("the stored document changed: sent {document}, got {item}"))
                    }
                    Some(_) => Ok(format!("found the marker among {} documents", items.len())),
                }
            }
            (200, Some(other)) => Err(format!("expected a JSON array, got {}", kind(&other))),
            (200, None) => Err("the answer is not JSON".into()),
            (status, _) => Err(format!("status {status} instead of 200")),
        };
        match result {
            Ok(detail) => self.record(
                GET,
                Verdict::Pass,
                detail,
                (sent, received),
                GET_HINT,
                started,
            ),
            Err(detail) => self.record(
                GET,
                Verdict::Fail,
                detail,
                (sent, received),
                GET_HINT,
                started,
            ),
        }
    }

    async fn bad_inputs(&mut self) {
        const HINT: &str = "validate the body and answer 400/413/415/422 with an error message; a client mistake must never be a 5xx, a hang or a dropped connection";
        let oversized = {
            let mut body = br#"{"big":""#.to_vec();
            body.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
            body.extend(br#""}"#);
            body
        };
        let cases: [(&'static str, Option<&str>, Vec<u8>, &str); 6] = [
            (
                "invalid JSON is refused with a 4xx",
                Some("application/json"),
                b"{\"a\": ".to_vec(),
                "{\"a\": ",
            ),
            (
                "a JSON value that is not an object is refused with a 4xx",
                Some("application/json"),
                b"[1, 2]".to_vec(),
                "[1, 2]",
            ),
            (
                "a body over 1 MiB is refused with a 4xx",
                Some("application/json"),
                oversized,
                "{\"big\": \"x…\"} (2 MiB)",
            ),
            (
                "a wrong content type is refused with a 4xx",
                Some("text/plain"),
                br#"{"a": 1}"#.to_vec(),
                "{\"a\": 1} as text/plain",
            ),
            (
                "a missing content type is refused with a 4xx",
                None,
                br#"{"a": 1}"#.to_vec(),
                "{\"a\": 1} without Content-Type",
            ),
            (
                "operator keys ($-prefixed) are refused with a 4xx",
                Some("application/json"),
                br#"{"$where": "sleep(100)"}"#.to_vec(),
                "{\"$where\": \"sleep(100)\"}",
            ),
        ];
        for (check, content_type, body, shown) in cases {
            let started = Instant::now();
            let sent = format!("POST /data {shown}");
            match self
                .send(reqwest::Method::POST, "/data", content_type, Some(body))
                .await
            {
                Ok(reply) if (400..500).contains(&reply.status) => {
                    let received = reply.summary();
                    self.record(
                        check,
                        Verdict::Pass,
                        format!("status {}", reply.status),
                        (sent, received),
                        HINT,
                        started,
                    );
                }
                Ok(reply) => {
                    let received = reply.summary();
                    let detail = if reply.status >= 500 {
                        format!(
                            "status {}: the server failed on a client mistake",
                            reply.status
                        )
                    } else {
                        format!("status {}: the bad input was accepted", reply.status)
                    };
                    self.record(
                        check,
                        Verdict::Fail,
                        detail,
                        (sent, received),
                        HINT,
                        started,
                    );
                }
                Err(error) => self.record(
                    check,
                    Verdict::Fail,
                    format!("no answer: {error}"),
                    (sent, error),
                    HINT,
                    started,
                ),
            }
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A transport error in words: refused, timed out, or the connection dropped.
pub(crate) fn describe_transport(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        format!(
            "no answer within {} s (the request hung)",
            timeout.as_secs()
        )
    } else if error.is_connect() {
        "connection refused or unreachable: is the app running and the port forwarded?".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        format!("the connection dropped ({text})")
    }
}
