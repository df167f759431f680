//! Starts the reference app in-process on a loopback port against a real MongoDB-wire server.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use app::{AppState, Config, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<Result<(), app::ServeError>>>,
}

/// A database name no other test in this process or a concurrent one uses.
pub fn unique_db(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn config(vars: &[(&str, &str)]) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|name| map.get(name).cloned()).expect("test configuration is valid")
}

impl TestApp {
    /// The app on the process-wide test database, in a database of its own.
    pub async fn start() -> Self {
        let server = devdb::MongoServer::process_wide().expect("a MongoDB-wire server");
        let db = unique_db("contract");
        Self::start_with(config(&[
            ("MONGODB_URI", &server.uri()),
            ("MONGODB_DATABASE", &db),
        ]))
        .await
    }

    pub async fn start_with(mut config: Config) -> Self {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let store = Store::new(&config).await.expect("store");
        let listener = TcpListener::bind(config.listen).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app::serve(listener, AppState::new(store), &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn post_json(&self, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url("/data"))
            .json(body)
            .send()
            .await
            .expect("POST /data answered")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// Status and JSON body of `GET path`.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        let body = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {path} is not JSON: {e}"));
        (status, body)
    }

    pub async fn all_documents(&self) -> Vec<serde_json::Value> {
        let response = self.http.get(self.url("/data")).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET /data");
        response.json().await.expect("GET /data is a JSON array")
    }

    /// Polls `/ready` until it answers 200, or panics with the last answer after `deadline`.
    pub async fn wait_ready(&self, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        let mut last = String::new();
        while tokio::time::Instant::now() < until {
            match self.http.get(self.url("/ready")).send().await {
                Ok(r) if r.status() == 200 => return,
                Ok(r) => last = format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("/ready not 200 within {deadline:?}; last answer: {last}");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
