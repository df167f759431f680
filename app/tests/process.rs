//! The real binary: configuration errors, start-up without a database, JSON logs without the
//! password, and SIGTERM draining an in-flight request before exiting 0.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

const BINARY: &str = env!("CARGO_BIN_EXE_deploycheck-app");

struct Running {
    child: Child,
    addr: String,
    logs: Arc<Mutex<Vec<String>>>,
}

/// Starts the binary on a free loopback port and waits for its "listening" log line.
async fn start(vars: &[(&str, &str)]) -> Running {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .env("PORT", "0")
        .env("BIND_ADDR", "127.0.0.1")
        .env("LOG_FORMAT", "json")
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the binary starts");
    let stderr = child.stderr.take().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let sink = logs.clone();
    tokio::spawn(async move {
        let mut addr_tx = Some(addr_tx);
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["message"] == "listening"
                && let Some(tx) = addr_tx.take()
            {
                let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_string());
            }
            sink.lock().unwrap().push(line);
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(20), addr_rx)
        .await
        .expect("a listening line within 20 s")
        .expect("the binary logged its address");
    Running { child, addr, logs }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn sigterm(&self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the process exits after SIGTERM")
            .unwrap()
            .code()
    }

    fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

async fn status(request: reqwest::RequestBuilder) -> reqwest::StatusCode {
    request.send().await.unwrap().status()
}

/// `POST /data` with a small JSON document.
fn post_a_document(http: &reqwest::Client, app: &Running) -> reqwest::RequestBuilder {
    http.post(app.url("/data"))
        .json(&serde_json::json!({"a": 1}))
}

fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().to_string()
}

#[tokio::test]
async fn invalid_configuration_exits_2_with_one_clear_line_and_no_password() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "set MONGODB_URI, or MONGODB_HOST"),
        (
            &[("MONGODB_HOST", "db"), ("PORT", "eighty")],
            "PORT must be",
        ),
        (
            &[
                ("MONGODB_HOST", "db"),
                ("MONGODB_PASSWORD", "hunter2-secret"),
            ],
            "MONGODB_USERNAME and MONGODB_PASSWORD go together",
        ),
        (
            &[("MONGODB_URI", "mongodb://u:hunter2-secret@db:99999/")],
            "the port must be an integer between 1 and 65535",
        ),
    ];
    for (vars, expected) in cases {
        let output = Command::new(BINARY)
            .env_clear()
            .envs(vars.iter().copied())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(10), output)
            .await
            .unwrap_or_else(|_| panic!("{vars:?} should make the binary exit, not serve"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{vars:?}: {stderr}");
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert!(!stderr.contains("hunter2-secret"), "{stderr}");
        let error_lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("deploycheck-app:"))
            .collect();
        assert_eq!(error_lines.len(), 1, "one clear line: {stderr}");
    }
}

#[tokio::test]
async fn serves_health_without_a_database_and_exits_0_on_sigterm() {
    let mut app = start(&[
        ("MONGODB_HOST", "127.0.0.1"),
        ("MONGODB_PORT", &closed_port()),
        ("DB_TIMEOUT_MS", "500"),
        ("READY_TIMEOUT_MS", "500"),
    ])
    .await;
    let http = reqwest::Client::new();
    assert_eq!(status(http.get(app.url("/health"))).await, 200);
    assert_eq!(status(http.get(app.url("/ready"))).await, 503);
    assert_eq!(status(post_a_document(&http, &app)).await, 503);
    app.sigterm();
    assert_eq!(app.exit_code().await, Some(0));
}

#[tokio::test]
async fn logs_are_json_lines_per_request_and_never_contain_the_password() {
    let db = support::unique_db("logs");
    let secret = "never-log-this-7f3a";
    let server = devdb::MongoServer::managed(&[devdb::User {
        name: "app".into(),
        password: "the-right-one".into(),
        db: db.clone(),
        role: devdb::Role::ReadWrite,
    }])
    .await
    .unwrap();
    let mut app = start(&[
        ("MONGODB_HOST", "127.0.0.1"),
        ("MONGODB_PORT", &server.port().to_string()),
        ("MONGODB_USERNAME", "app"),
        ("MONGODB_PASSWORD", secret),
        ("MONGODB_DATABASE", &db),
    ])
    .await;
    let http = reqwest::Client::new();
    assert_eq!(status(http.get(app.url("/ready"))).await, 503);
    assert_eq!(status(post_a_document(&http, &app)).await, 503);
    assert_eq!(status(http.get(app.url("/health"))).await, 200);
    app.sigterm();
    assert_eq!(app.exit_code().await, Some(0));

    let logs = app.log_text();
    assert!(
        !logs.contains(secret),
        "the password leaked into the logs:\n{logs}"
    );
    let requests: Vec<Value> = logs
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("every log line is JSON"))
        .filter(|e| e["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 3, "one line per request:\n{logs}");
    for event in &requests {
        assert!(event["latency_ms"].as_f64().is_some(), "{event}");
        assert!(event["status"].as_u64().is_some(), "{event}");
        assert!(event["route"].as_str().is_some(), "{event}");
    }
    assert!(logs.contains("credentials"), "the log says why: {logs}");
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_request_then_exits_0() {
    let server = devdb::MongoServer::process_wide().unwrap();
    let db = support::unique_db("drain");
    let mut app = start(&[("MONGODB_URI", &server.uri()), ("MONGODB_DATABASE", &db)]).await;

    let body = br#"{"in": "flight"}"#;
    let mut stream = tokio::net::TcpStream::connect(&app.addr).await.unwrap();
    let head = format!(
        "POST /data HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.sigterm();
    // Wait until the server stopped accepting: new connections are refused (bounded).
    let mut refused = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if tokio::net::TcpStream::connect(&app.addr).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the listener still accepts after SIGTERM");

    stream.write_all(&body[5..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the in-flight request is answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("Data inserted"), "{answer}");
    assert_eq!(app.exit_code().await, Some(0));

    let client = mongodb::Client::with_uri_str(server.uri()).await.unwrap();
    let stored = client
        .database(&db)
        .collection::<mongodb::bson::Document>("data")
        .count_documents(mongodb::bson::doc! {"in": "flight"})
        .await
        .unwrap();
    assert_eq!(stored, 1);
}
