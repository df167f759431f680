//! A bounded HTTP driver: the continuous availability prober that counts failed requests
//! during faults, and the CPU load for the HPA scenario. Every run is bounded in time and in
//! requests. It records into hdrhistogram so windows (for the HPA timeline) and whole runs
//! have exact percentiles.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::task::JoinHandle;

/// What to send and how hard.
#[derive(Clone, Debug)]
pub struct DriveConfig {
    pub base_url: String,
    /// GET paths, used in turn.
    pub paths: Vec<String>,
    /// Concurrent workers.
    pub workers: usize,
    /// Pause between one worker's requests (zero: as fast as answers come).
    pub pause: Duration,
    /// Hard bounds: the run stops at whichever comes first.
    pub max_duration: Duration,
    pub max_requests: u64,
    /// A worker opens a new connection after this many requests (0: never), so a round-robin
    /// forwarder spreads the load and pods the HPA adds get traffic soon (a kept-alive
    /// connection stays on the pod it first reached); fewer reconnects keep port-forward
    /// set-up cost out of the load.
    pub reconnect_every: u64,
    pub timeout: Duration,
}

impl DriveConfig {
    /// A prober: two workers, each sending a request every 100 ms on `path`.
    pub fn prober(base_url: &str, path: &str, max_duration: Duration) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').into(),
            paths: vec![path.into()],
            workers: 2,
            pause: Duration::from_millis(100),
            max_duration,
            max_requests: 100_000,
            // Like a new client each time: every request is routed by the current endpoints,
            // and a server closing a kept-alive connection during a drain is not mistaken for
            // a failed request.
            reconnect_every: 1,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Counts and latencies of a run or a window of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DriveStats {
    pub requests: u64,
    pub failed: u64,
    /// The first failures, with the time since the start of the run.
    pub failures: Vec<String>,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub seconds: f64,
}

impl DriveStats {
    pub fn rps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }
}

const KEPT_FAILURES: usize = 10;

struct Record {
    started: Instant,
    total: Histogram<u64>,
    window: Histogram<u64>,
    window_started: Instant,
    window_requests: u64,
    window_failed: u64,
    requests: u64,
    failed: u64,
    failures: Vec<String>,
}

impl Record {
    fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds");
        Self {
            started: Instant::now(),
            total: histogram(),
            window: histogram(),
            window_started: Instant::now(),
            window_requests: 0,
            window_failed: 0,
            requests: 0,
            failed: 0,
            failures: Vec::new(),
        }
    }

    fn add(&mut self, micros: u64, failure: Option<String>) {
        self.requests += 1;
        self.window_requests += 1;
        let _ = self.total.record(micros.max(1));
        let _ = self.window.record(micros.max(1));
        if let Some(failure) = failure {
            self.failed += 1;
            self.window_failed += 1;
            if self.failures.len() < KEPT_FAILURES {
                self.failures.push(format!(
                    "+{:.1}s {failure}",
                    self.started.elapsed().as_secs_f64()
                ));
            }
        }
    }
}

fn stats(histogram: &Histogram<u64>, requests: u64, failed: u64, seconds: f64) -> DriveStats {
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    DriveStats {
        requests,
        failed,
        failures: Vec::new(),
        p50_ms: ms(0.5),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        max_ms: histogram.max() as f64 / 1000.0,
        seconds,
    }
}

/// A run in progress.
pub struct Driver {
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    workers: Vec<JoinHandle<()>>,
}

impl Driver {
    /// Starts the workers.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn start(config: DriveConfig) -> Result<Self, reqwest::Error> {
        let build = {
            let timeout = config.timeout;
            move || reqwest::Client::builder().timeout(timeout).build()
        };
        // Fails here, not in a worker, if the client cannot be built at all.
        build()?;
        let stop = Arc::new(AtomicBool::new(false));
        let record = Arc::new(Mutex::new(Record::new()));
        let deadline = Instant::now() + config.max_duration;
        let workers = (0..config.workers.max(1))
            .map(|worker| {
                let (stop, record, config) = (stop.clone(), record.clone(), config.clone());
                tokio::spawn(async move {
                    let Ok(mut client) = build() else { return };
                    let mut sent_on_connection = 0;
                    let mut turn = worker;
                    // Every worker sends at least one request, so a stop that comes early
                    // never yields a vacuous "nothing failed".
                    while (turn == worker || !stop.load(Ordering::Relaxed))
                        && Instant::now() < deadline
                    {
                        if record.lock().unwrap().requests >= config.max_requests {
                            break;
                        }
                        let path = &config.paths[turn % config.paths.len()];
                        turn += 1;
                        if config.reconnect_every > 0
                            && sent_on_connection >= config.reconnect_every
                        {
                            // Dropping the client closes its pooled connections.
                            if let Ok(fresh) = build() {
                                client = fresh;
                            }
                            sent_on_connection = 0;
                        }
                        sent_on_connection += 1;
                        let sent = Instant::now();
                        let failure = match client
                            .get(format!("{}{path}", config.base_url))
                            .send()
                            .await
                        {
                            Ok(response) => {
                                let status = response.status();
                                match response.bytes().await {
                                    Ok(_) if status.is_success() => None,
                                    Ok(_) => Some(format!("GET {path} answered {status}")),
                                    Err(e) => Some(format!("GET {path}: body cut off: {e}")),
                                }
                            }
                            Err(e) => Some(format!(
                                "GET {path}: {}",
                                crate::http::describe_transport(&e, config.timeout)
                            )),
                        };
                        let micros = sent.elapsed().as_micros() as u64;
                        record.lock().unwrap().add(micros, failure);
                        if !config.pause.is_zero() {
                            tokio::time::sleep(config.pause).await;
                        }
                    }
                })
            })
            .collect();
        Ok(Self {
            stop,
            record,
            workers,
        })
    }

    /// Stats since the previous window (for timelines), and starts a new window.
    pub fn window(&self) -> DriveStats {
        let mut record = self.record.lock().unwrap();
        let seconds = record.window_started.elapsed().as_secs_f64();
        let window = stats(
            &record.window,
            record.window_requests,
            record.window_failed,
            seconds,
        );
        record.window.reset();
        record.window_requests = 0;
        record.window_failed = 0;
        record.window_started = Instant::now();
        window
    }

    /// Stops the workers (after their request in flight) and returns the whole run.
    pub async fn stop(self) -> DriveStats {
        self.stop.store(true, Ordering::Relaxed);
        self.finish().await
    }

    /// Waits until the run reaches one of its bounds and returns it.
    pub async fn finish(mut self) -> DriveStats {
        for worker in std::mem::take(&mut self.workers) {
            let _ = worker.await;
        }
        let record = self.record.lock().unwrap();
        let mut total = stats(
            &record.total,
            record.requests,
            record.failed,
            record.started.elapsed().as_secs_f64(),
        );
        total.failures = record.failures.clone();
        total
    }
}

impl Drop for Driver {
    /// An abandoned run (an interrupted check) stops its workers instead of loading on.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for worker in &self.workers {
            worker.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    /// A loopback app whose `/flaky` fails every other request.
    async fn server() -> String {
        let flips = Arc::new(AtomicBool::new(false));
        let app = axum::Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/flaky",
                get(move || {
                    let fail = !flips.fetch_xor(true, Ordering::Relaxed);
                    async move {
                        if fail {
                            axum::http::StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            axum::http::StatusCode::OK
                        }
                    }
                }),
            );
        crate::testing::serve(app).await
    }

    fn config(base_url: String, path: &str, max_requests: u64) -> DriveConfig {
        DriveConfig {
            base_url,
            paths: vec![path.into()],
            workers: 1,
            pause: Duration::ZERO,
            max_duration: Duration::from_secs(20),
            max_requests,
            reconnect_every: 1,
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn a_healthy_app_has_no_failures_and_the_run_is_bounded_by_count() {
        let driver = Driver::start(config(server().await, "/ok", 50)).unwrap();
        let stats = driver.finish().await;
        assert_eq!((stats.requests, stats.failed), (50, 0), "{stats:?}");
        assert!(stats.p50_ms > 0.0 && stats.p50_ms <= stats.max_ms);
    }

    #[tokio::test]
    async fn errors_and_refused_connections_count_as_failures_with_their_text() {
        let driver = Driver::start(config(server().await, "/flaky", 10)).unwrap();
        let stats = driver.finish().await;
        assert_eq!((stats.requests, stats.failed), (10, 5), "{stats:?}");
        assert!(stats.failures[0].contains("503"), "{:?}", stats.failures);

        // Nothing listens on this port once the listener is dropped.
        let url = crate::testing::closed_url();
        let driver = Driver::start(config(url, "/ok", 3)).unwrap();
        let stats = driver.finish().await;
        assert_eq!((stats.requests, stats.failed), (3, 3), "{stats:?}");
    }

    #[tokio::test]
    async fn windows_split_the_run() {
        let mut config = config(server().await, "/ok", 1_000_000);
        config.pause = Duration::from_millis(5);
        let driver = Driver::start(config).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let first = driver.window();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let second = driver.window();
        let total = driver.stop().await;
        assert!(first.requests > 0 && second.requests > 0);
        assert!(total.requests >= first.requests + second.requests);
        assert!(second.rps() > 0.0);
    }
}
