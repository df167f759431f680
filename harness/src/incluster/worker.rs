//! What a load worker pod runs: closed-loop connections on the app's Service, ramped in steps,
//! reopened every so often, with a window line and a final line of figures printed through a
//! callback in the [`wire`](super::wire) protocol.
//!
//! One tokio task per connection. Each task records into a histogram and counters of its own
//! behind a mutex only it and the window collector touch (so a request never waits on another
//! connection's bookkeeping); the collector drains them every window.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::wire::{WorkerLine, encode_histogram, new_histogram};

/// Upper bounds that keep a worker finite and its pod schedulable.
pub const MAX_CONNECTIONS: usize = 10_000;
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// POST sequence numbers are handed to connections in blocks of this size, so one
/// connection's acknowledged writes stay one range (a failed POST splits it) and the final
/// line stays short.
const SEQUENCE_BLOCK: u64 = 1024;

/// After a refused connection a task waits this long before trying again: an app that is down
/// must not turn the worker into a busy loop that counts millions of refusals.
const CONNECT_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Pod name (HOSTNAME) or a given name; it marks the worker's writes (`<name>-<seq>`).
    pub name: String,
    /// `http://SERVICE:PORT`.
    pub base_url: String,
    /// The mix, used in turn (each connection starts at its own offset).
    pub requests: Vec<Request>,
    /// Concurrency per step (ramp), e.g. `[4, 8, 16]`; the last holds to the end.
    pub steps: Vec<usize>,
    /// Length of each step.
    pub step: Duration,
    /// Hard bound: no request is started after it, and those in flight are abandoned (counted
    /// neither as answered nor as failed).
    pub duration: Duration,
    /// Hard bound on requests started.
    pub max_requests: u64,
    /// Open a new connection after this many requests (0: never), so kube-proxy, which
    /// balances per connection, spreads load onto pods the HPA adds.
    pub reconnect_every: u64,
    /// How often a window line is printed.
    pub window: Duration,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

/// One request of the mix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Get(String),
    /// Sends `{"deploycheck_load": "<name>-<seq>"}` as JSON and counts a 2xx as acknowledged.
    Post(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("mix {text:?}: {reason}")]
    BadMix { text: String, reason: String },
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error(
        "refusing to load {url}: in-cluster load targets a Service by its name (http://web:8080, \
         http://web.NAMESPACE.svc.cluster.local:8080) or loopback, {reason}"
    )]
    NotServiceName { url: String, reason: String },
    #[error("{0}")]
    Bounds(String),
    #[error("cannot build an HTTP client: {source}")]
    Client {
        #[source]
        source: reqwest::Error,
    },
}

/// Parses a mix: a named one (`get-root`, `read`, `write`, `mixed`, as `deploycheck load`
/// means them) or a comma-separated list such as `GET /,GET /data,POST /data`.
///
/// # Errors
/// An unknown name, method or a path that does not start with `/`.
pub fn parse_mix(text: &str) -> Result<Vec<Request>, WorkerError> {
    let bad = |reason: String| WorkerError::BadMix {
        text: text.to_string(),
        reason,
    };
    let root = || Request::Get("/".into());
    let read = || Request::Get("/data".into());
    let write = || Request::Post("/data".into());
    match text.trim().to_ascii_lowercase().as_str() {
        "get-root" => return Ok(vec![root()]),
        "read" => return Ok(vec![read()]),
        "write" => return Ok(vec![write()]),
        // 60% GET /, 30% POST /data, 10% GET /data, interleaved so every stretch of a
        // connection's turn carries the same mix.
        "mixed" => {
            return Ok(vec![
                root(),
                write(),
                root(),
                root(),
                write(),
                root(),
                read(),
                root(),
                write(),
                root(),
            ]);
        }
        _ => {}
    }
    let requests = text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (method, path) = part
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad(format!("{part:?}: expected METHOD PATH, e.g. GET /data")))?;
            let path = path.trim();
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(bad(format!(
                    "{part:?}: the path must start with / and hold no spaces"
                )));
            }
            match method.to_ascii_uppercase().as_str() {
                "GET" => Ok(Request::Get(path.into())),
                "POST" => Ok(Request::Post(path.into())),
                other => Err(bad(format!(
                    "{part:?}: method {other} is not sent (GET or POST)"
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if requests.is_empty() {
        return Err(bad(
            "no request: name a mix (get-root, read, write, mixed) or list requests such as \
             \"GET /,POST /data\""
                .into(),
        ));
    }
    Ok(requests)
}

/// Accepts only a Service name (`web`, `web.ns`, `web.ns.svc`, `web.ns.svc.cluster.local`) or
/// loopback (for tests): a worker inside someone's cluster must not be pointed at another
/// machine, and an IP literal bypasses the Service kube-proxy balances.
///
/// # Errors
/// A malformed URL, a scheme other than http(s), an IP literal other than loopback, or a name
/// that cannot be a Service's.
pub fn check_target(base_url: &str) -> Result<(), WorkerError> {
    let parsed = reqwest::Url::parse(base_url).map_err(|e| WorkerError::BadUrl {
        url: base_url.into(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(WorkerError::BadUrl {
            url: base_url.into(),
            reason: "expected http://SERVICE:PORT".into(),
        });
    }
    let refuse = |reason: String| WorkerError::NotServiceName {
        url: base_url.into(),
        reason,
    };
    let Some(host) = parsed.host_str() else {
        return Err(WorkerError::BadUrl {
            url: base_url.into(),
            reason: "no host: expected http://SERVICE:PORT".into(),
        });
    };
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return loopback_or(ip, refuse);
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" {
        return Ok(());
    }
    let labels: Vec<&str> = name.split('.').collect();
    // SERVICE, SERVICE.NAMESPACE, or SERVICE.NAMESPACE.svc[.CLUSTER-DOMAIN].
    if labels.len() <= 2 || labels[2] == "svc" {
        Ok(())
    } else {
        Err(refuse(format!(
            "and {name} is not one (a Service's name reads SERVICE.NAMESPACE.svc...)"
        )))
    }
}

fn loopback_or(ip: IpAddr, refuse: impl FnOnce(String) -> WorkerError) -> Result<(), WorkerError> {
    if ip.is_loopback() {
        Ok(())
    } else {
        Err(refuse(format!(
            "not the IP address {ip} (a pod or ClusterIP address bypasses the name, and \
             pods the HPA adds would never be reached by it)"
        )))
    }
}

fn check_options(options: &WorkerOptions) -> Result<(), WorkerError> {
    check_target(&options.base_url)?;
    let bound = |ok: bool, message: &str| {
        if ok {
            Ok(())
        } else {
            Err(WorkerError::Bounds(message.to_string()))
        }
    };
    bound(!options.requests.is_empty(), "the mix holds no request")?;
    bound(
        !options.steps.is_empty(),
        "give at least one concurrency step",
    )?;
    bound(
        options
            .steps
            .iter()
            .all(|&c| (1..=MAX_CONNECTIONS).contains(&c)),
        &format!("each concurrency step must be between 1 and {MAX_CONNECTIONS}"),
    )?;
    bound(
        !options.duration.is_zero() && options.duration <= MAX_DURATION,
        &format!(
            "the duration must be more than zero and at most {} h",
            MAX_DURATION.as_secs() / 3600
        ),
    )?;
    bound(
        options.max_requests > 0,
        "the request bound must be more than zero",
    )?;
    bound(
        !options.step.is_zero() && !options.window.is_zero() && !options.timeout.is_zero(),
        "step, window and timeout must be more than zero",
    )?;
    // The name goes into every write's marker and every line: a pod name (a DNS label) fits.
    bound(
        !options.name.is_empty()
            && options
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "the worker's name must be letters, digits, '-', '_' or '.' (a pod name)",
    )
}

/// A failure, as the lines count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Failure {
    Status(u16),
    Timeout,
    Connect,
    /// The connection closed or reset under a request: a pod went away, a proxy cut it.
    Dropped,
    /// Anything else the client reports (a malformed answer, a body that broke off).
    Other,
}

impl Failure {
    fn kind(self) -> String {
        match self {
            Failure::Status(status) => format!("status {status}"),
            Failure::Timeout => "timeout".into(),
            Failure::Connect => "connect".into(),
            Failure::Dropped => "dropped".into(),
            Failure::Other => "other".into(),
        }
    }

    fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            return Failure::Timeout;
        }
        if error.is_connect() {
            return Failure::Connect;
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                if matches!(
                    io.kind(),
                    ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
                ) {
                    return Failure::Dropped;
                }
            }
            // hyper's own error for a connection that closed mid-exchange has no kind to
            // match on, only its message.
            let text = cause.to_string();
            if text.contains("connection closed") || text.contains("connection reset") {
                return Failure::Dropped;
            }
            source = cause.source();
        }
        Failure::Other
    }
}

/// What one connection has recorded since the collector last drained it.
struct Slot {
    histogram: Histogram<u64>,
    requests: u64,
    failed: u64,
    errors: BTreeMap<Failure, u64>,
    /// Inclusive ranges of acknowledged POST sequence numbers, ascending.
    acknowledged: Vec<(u64, u64)>,
}

impl Slot {
    fn new() -> Self {
        Slot {
            histogram: new_histogram(),
            requests: 0,
            failed: 0,
            errors: BTreeMap::new(),
            acknowledged: Vec::new(),
        }
    }

    fn record(&mut self, micros: u64, failure: Option<Failure>) {
        // Values above the histogram's range grow it (auto-resize); none is lost.
        let _ = self.histogram.record(micros.max(1));
        self.requests += 1;
        if let Some(failure) = failure {
            self.failed += 1;
            *self.errors.entry(failure).or_default() += 1;
        }
    }

    fn acknowledge(&mut self, seq: u64) {
        match self.acknowledged.last_mut() {
            Some((_, end)) if *end + 1 == seq => *end = seq,
            _ => self.acknowledged.push((seq, seq)),
        }
    }
}

/// Figures gathered from every slot: one window's, or the whole run's.
struct Totals {
    histogram: Histogram<u64>,
    requests: u64,
    failed: u64,
    errors: BTreeMap<String, u64>,
}

impl Totals {
    fn new() -> Self {
        Totals {
            histogram: new_histogram(),
            requests: 0,
            failed: 0,
            errors: BTreeMap::new(),
        }
    }

    fn add(&mut self, other: &Totals) {
        let _ = self.histogram.add(&other.histogram);
        self.requests += other.requests;
        self.failed += other.failed;
        for (kind, count) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += count;
        }
    }
}

/// State every connection task shares; touched once per request at most (atomics).
struct Shared {
    options: WorkerOptions,
    base: reqwest::Url,
    deadline: Instant,
    /// Connections with an index below this send; the others wait.
    target: AtomicUsize,
    stop: AtomicBool,
    wake: tokio::sync::Notify,
    started_requests: AtomicU64,
    next_block: AtomicU64,
}

impl Shared {
    fn target(&self) -> usize {
        self.target.load(Ordering::Acquire)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

fn client(timeout: Duration) -> Result<reqwest::Client, WorkerError> {
    reqwest::Client::builder()
        // One connection per client: this task's. A proxy variable in the pod must not send
        // Service traffic elsewhere.
        .pool_max_idle_per_host(1)
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .user_agent(concat!("deploycheck-load/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| WorkerError::Client { source })
}

/// One connection: closed loop, one request after the other, until the deadline, the request
/// bound, or a stop.
async fn connection(
    index: usize,
    shared: Arc<Shared>,
    slot: Arc<Mutex<Slot>>,
    http: reqwest::Client,
) {
    let options = &shared.options;
    let mix = &options.requests;
    let mut turn = index % mix.len();
    let mut on_this_connection = 0u64;
    let mut sequences = 0..0;
    let urls: Vec<reqwest::Url> = mix
        .iter()
        .map(|request| {
            let path = match request {
                Request::Get(path) | Request::Post(path) => path,
            };
            shared
                .base
                .join(path)
                .unwrap_or_else(|_| shared.base.clone())
        })
        .collect();
    loop {
        if shared.stopped() {
            return;
        }
        if index >= shared.target() {
            // Paused by a lower step: wait for a higher one or the end.
            let notified = shared.wake.notified();
            if shared.stopped() || index < shared.target() {
                continue;
            }
            notified.await;
            continue;
        }
        if shared.started_requests.fetch_add(1, Ordering::Relaxed) >= options.max_requests {
            return;
        }
        let request = &mix[turn];
        let url = urls[turn].clone();
        turn = (turn + 1) % mix.len();
        on_this_connection += 1;
        // The last request on a connection asks the server to close it; the next request opens
        // a fresh one, which kube-proxy may send to another pod.
        let close = options.reconnect_every > 0 && on_this_connection >= options.reconnect_every;
        if close {
            on_this_connection = 0;
        }
        let (builder, seq) = match request {
            Request::Get(_) => (http.get(url), None),
            Request::Post(_) => {
                if sequences.is_empty() {
                    let start = shared
                        .next_block
                        .fetch_add(SEQUENCE_BLOCK, Ordering::Relaxed);
                    sequences = start..start + SEQUENCE_BLOCK;
                }
                let seq = sequences.next().unwrap_or_default();
                let body = format!("{{\"deploycheck_load\":\"{}-{seq}\"}}", options.name);
                (
                    http.post(url)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body),
                    Some(seq),
                )
            }
        };
        let builder = if close {
            builder.header(reqwest::header::CONNECTION, "close")
        } else {
            builder
        };
        let started = Instant::now();
        let answer_by = started + options.timeout;
        let limit = answer_by.min(shared.deadline);
        let exchange = async {
            let response = builder.send().await?;
            let status = response.status().as_u16();
            // The whole body counts in the latency, as a real client reads it.
            response.bytes().await?;
            Ok::<u16, reqwest::Error>(status)
        };
        let outcome = tokio::time::timeout_at(limit, exchange).await;
        let micros = started.elapsed().as_micros().min(u64::MAX as u128) as u64;
        let failure = match outcome {
            // The run ended under this request: abandoned, neither answered nor failed.
            Err(_) if limit < answer_by => return,
            Err(_) => Some(Failure::Timeout),
            Ok(Ok(status)) if (200..300).contains(&status) => None,
            Ok(Ok(status)) => Some(Failure::Status(status)),
            Ok(Err(error)) => Some(Failure::of(&error)),
        };
        {
            let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
            slot.record(micros, failure);
            if let (Some(seq), None) = (seq, failure) {
                slot.acknowledge(seq);
            }
        }
        if failure == Some(Failure::Connect) {
            tokio::time::sleep_until((Instant::now() + CONNECT_BACKOFF).min(shared.deadline)).await;
        }
    }
}

/// Drains every slot into one set of figures; acknowledged ranges go to `acknowledged`.
fn drain(slots: &[Arc<Mutex<Slot>>], acknowledged: &mut Vec<(u64, u64)>) -> Totals {
    let mut totals = Totals::new();
    for slot in slots {
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        let _ = totals.histogram.add(&slot.histogram);
        slot.histogram.reset();
        totals.requests += std::mem::take(&mut slot.requests);
        totals.failed += std::mem::take(&mut slot.failed);
        for (failure, count) in std::mem::take(&mut slot.errors) {
            *totals.errors.entry(failure.kind()).or_default() += count;
        }
        acknowledged.append(&mut slot.acknowledged);
    }
    totals
}

/// Sorted, adjacent and overlapping ranges joined.
fn coalesce(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut joined: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match joined.last_mut() {
            Some((_, last)) if start <= last.saturating_add(1) => *last = (*last).max(end),
            _ => joined.push((start, end)),
        }
    }
    joined
}

/// Runs the load; see [`run_until`].
///
/// # Errors
/// Invalid options or target, or no HTTP client; failed requests are figures, not errors.
pub async fn run(
    options: &WorkerOptions,
    out: &mut (dyn FnMut(&str) + Send),
) -> Result<WorkerLine, WorkerError> {
    run_until(options, out, std::future::pending()).await
}

/// Runs the load until its duration or request bound, or until `stop` completes (SIGTERM when
/// the Job is deleted), whichever comes first. Passes a window line (without newline) to `out`
/// every `window`, a last partial window if it holds requests, then the final line, which it
/// also returns. The window lines sum to the final line.
///
/// # Errors
/// Invalid options or target, or no HTTP client; failed requests are figures, not errors.
pub async fn run_until(
    options: &WorkerOptions,
    out: &mut (dyn FnMut(&str) + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<WorkerLine, WorkerError> {
    check_options(options)?;
    let base = reqwest::Url::parse(&options.base_url).map_err(|e| WorkerError::BadUrl {
        url: options.base_url.clone(),
        reason: e.to_string(),
    })?;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        options: options.clone(),
        base,
        deadline: start + options.duration,
        target: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        wake: tokio::sync::Notify::new(),
        started_requests: AtomicU64::new(0),
        next_block: AtomicU64::new(0),
    });
    let mut slots: Vec<Arc<Mutex<Slot>>> = Vec::new();
    let mut tasks = JoinSet::new();
    let set_target = |target: usize,
                      slots: &mut Vec<Arc<Mutex<Slot>>>,
                      tasks: &mut JoinSet<()>|
     -> Result<(), WorkerError> {
        while slots.len() < target {
            let slot = Arc::new(Mutex::new(Slot::new()));
            slots.push(slot.clone());
            let http = client(options.timeout)?;
            tasks.spawn(connection(slots.len() - 1, shared.clone(), slot, http));
        }
        shared.target.store(target, Ordering::Release);
        shared.wake.notify_waiters();
        Ok(())
    };
    set_target(options.steps[0], &mut slots, &mut tasks)?;

    let mut whole = Totals::new();
    let mut acknowledged = Vec::new();
    let mut window_started = start;
    let mut step_index = 0;
    let mut next_step = start + options.step;
    let mut windows = tokio::time::interval_at(start + options.window, options.window);
    windows.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let line =
        |totals: &Totals, now: Instant, window_started: Instant, connections: usize| WorkerLine {
            worker: options.name.clone(),
            last: false,
            seconds: (now - start).as_secs_f64(),
            window_seconds: (now - window_started).as_secs_f64(),
            connections,
            requests: totals.requests,
            failed: totals.failed,
            errors: totals.errors.clone(),
            histogram: encode_histogram(&totals.histogram),
            acknowledged: Vec::new(),
        };
    // Tasks leave early only once the request bound is spent; at the deadline they leave on
    // their own too, and that must not read as a drop in concurrency.
    let connections = |shared: &Shared, tasks: &JoinSet<()>| {
        if shared.started_requests.load(Ordering::Relaxed) >= options.max_requests {
            shared.target().min(tasks.len())
        } else {
            shared.target()
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = windows.tick() => {
                let now = Instant::now();
                let totals = drain(&slots, &mut acknowledged);
                out(&line(&totals, now, window_started, connections(&shared, &tasks)).to_line());
                whole.add(&totals);
                window_started = now;
            }
            _ = tokio::time::sleep_until(next_step), if step_index + 1 < options.steps.len() => {
                step_index += 1;
                next_step += options.step;
                set_target(options.steps[step_index], &mut slots, &mut tasks)?;
            }
            _ = tokio::time::sleep_until(shared.deadline) => break,
            () = &mut stop => break,
            Some(_) = tasks.join_next() => {
                // Tasks end on their own only when the request bound is spent.
                if tasks.is_empty() {
                    break;
                }
            }
        }
    }
    // The concurrency that sent the last requests, not the zero left once they stop.
    let final_connections = connections(&shared, &tasks);
    shared.stop.store(true, Ordering::Release);
    shared.wake.notify_waiters();
    // Requests still in flight are abandoned: the run's bound is its duration.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}

    let now = Instant::now();
    let totals = drain(&slots, &mut acknowledged);
    if totals.requests > 0 {
        out(&line(&totals, now, window_started, final_connections).to_line());
    }
    whole.add(&totals);
    let mut last = line(&whole, now, start, final_connections);
    last.last = true;
    last.acknowledged = coalesce(acknowledged);
    out(&last.to_line());
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incluster::wire::{self, WorkerLog};
    use crate::testing::{closed_url, serve};

    fn options(base_url: String) -> WorkerOptions {
        WorkerOptions {
            name: "test-worker".into(),
            base_url,
            requests: vec![Request::Get("/".into())],
            steps: vec![2],
            step: Duration::from_secs(60),
            duration: Duration::from_millis(600),
            max_requests: 100_000,
            reconnect_every: 10,
            window: Duration::from_millis(200),
            timeout: Duration::from_secs(2),
        }
    }

    async fn run_collecting(options: &WorkerOptions) -> (WorkerLine, Vec<String>) {
        let mut lines = Vec::new();
        let last = run(options, &mut |line: &str| lines.push(line.to_string()))
            .await
            .unwrap();
        (last, lines)
    }

    fn read(lines: &[String]) -> WorkerLog {
        wire::read_log(&lines.join("\n"))
    }

    #[test]
    fn named_mixes_mean_what_the_local_load_means() {
        assert_eq!(
            parse_mix("get-root").unwrap(),
            vec![Request::Get("/".into())]
        );
        assert_eq!(
            parse_mix("read").unwrap(),
            vec![Request::Get("/data".into())]
        );
        assert_eq!(
            parse_mix("WRITE").unwrap(),
            vec![Request::Post("/data".into())]
        );
        let mixed = parse_mix("mixed").unwrap();
        let count = |r: Request| mixed.iter().filter(|m| **m == r).count();
        assert_eq!(count(Request::Get("/".into())), 6);
        assert_eq!(count(Request::Post("/data".into())), 3);
        assert_eq!(count(Request::Get("/data".into())), 1);
    }

    #[test]
    fn listed_mixes_are_parsed_in_order() {
        assert_eq!(
            parse_mix("GET /, get /data ,POST /data").unwrap(),
            vec![
                Request::Get("/".into()),
                Request::Get("/data".into()),
                Request::Post("/data".into()),
            ]
        );
    }

    #[test]
    fn bad_mixes_say_what_is_wrong() {
        for (text, expected) in [
            ("", "no request"),
            ("heavy", "expected METHOD PATH"),
            ("DELETE /data", "method DELETE"),
            ("GET data", "must start with /"),
            ("GET /a b", "must start with /"),
        ] {
            let error = parse_mix(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn only_service_names_and_loopback_are_targets() {
        for url in [
            "http://web:8080",
            "http://web",
            "http://web.shop:80",
            "http://web.shop.svc:80",
            "http://web.shop.svc.cluster.local:8080",
            "http://web.shop.svc.cluster.local.:8080",
            "https://web.shop.svc",
            "http://127.0.0.1:5000",
            "http://[::1]:5000",
            "http://localhost:5000",
        ] {
            assert!(check_target(url).is_ok(), "{url}: {:?}", check_target(url));
        }
        let error = check_target("http://10.96.0.12:80")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("not the IP address 10.96.0.12") && error.contains("by its name"),
            "{error}"
        );
        let error = check_target("http://[fd00::1]:80").unwrap_err().to_string();
        assert!(error.contains("not the IP address fd00::1"), "{error}");
        let error = check_target("http://www.example.com")
            .unwrap_err()
            .to_string();
        assert!(error.contains("www.example.com is not one"), "{error}");
        let error = check_target("ftp://web").unwrap_err().to_string();
        assert!(error.contains("expected http://SERVICE:PORT"), "{error}");
        let error = check_target("web:8080/x y").unwrap_err().to_string();
        assert!(error.starts_with("invalid URL"), "{error}");
    }

    #[test]
    fn ranges_are_joined_when_adjacent_or_overlapping() {
        assert_eq!(
            coalesce(vec![
                (1024, 2047),
                (0, 1023),
                (3000, 3000),
                (2048, 2050),
                (5, 6)
            ]),
            vec![(0, 2050), (3000, 3000)]
        );
        assert!(coalesce(Vec::new()).is_empty());
    }

    #[tokio::test]
    async fn bad_options_are_refused_before_any_request() {
        let url = closed_url();
        type Change = fn(&mut WorkerOptions);
        let cases: [(Change, &str); 8] = [
            (|o| o.steps = vec![], "at least one"),
            (|o| o.steps = vec![4, 0], "between 1 and"),
            (|o| o.duration = Duration::ZERO, "duration"),
            (|o| o.max_requests = 0, "request bound"),
            (|o| o.window = Duration::ZERO, "window"),
            (|o| o.requests.clear(), "no request"),
            (|o| o.name = "a\"b".into(), "a pod name"),
            (
                |o| o.base_url = "http://192.168.1.10".into(),
                "not the IP address",
            ),
        ];
        for (change, expected) in cases {
            let mut options = options(url.clone());
            change(&mut options);
            let mut printed = 0;
            let error = run(&options, &mut |_| printed += 1).await.unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
            assert_eq!(printed, 0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_prints_windows_that_sum_to_its_final_line() {
        let url =
            serve(axum::Router::new().route("/", axum::routing::get(|| async { "hi" }))).await;
        let (last, lines) = run_collecting(&options(url)).await;
        assert!(last.last && last.requests > 10, "{last:?}");
        assert_eq!(last.failed, 0, "{last:?}");
        assert!(last.seconds >= 0.6 && last.seconds < 1.5, "{last:?}");
        let log = read(&lines);
        assert!(log.malformed.is_empty(), "{:?}", log.malformed);
        assert_eq!(log.last.as_ref(), Some(&last));
        assert!(log.windows.len() >= 2, "{lines:?}");
        let windows: u64 = log.windows.iter().map(|w| w.requests).sum();
        assert_eq!(windows, last.requests);
        assert_eq!(last.histogram().unwrap().len(), last.requests);
        assert_eq!(log.windows[0].connections, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_reopen_after_the_given_number_of_requests() {
        use std::sync::atomic::AtomicUsize;
        let opened = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
        let counter = opened.clone();
        // Count accepted connections by wrapping the listener.
        let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let mut options = options(url);
        options.steps = vec![1];
        options.reconnect_every = 5;
        options.max_requests = 50;
        options.duration = Duration::from_secs(5);
        let (last, _) = run_collecting(&options).await;
        assert_eq!(last.requests, 50, "{last:?}");
        assert_eq!(opened.load(Ordering::Relaxed), 10);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steps_raise_the_concurrency() {
        let url =
            serve(axum::Router::new().route("/", axum::routing::get(|| async { "hi" }))).await;
        let mut options = options(url);
        options.steps = vec![1, 3];
        options.step = Duration::from_millis(250);
        options.window = Duration::from_millis(100);
        let (_, lines) = run_collecting(&options).await;
        let log = read(&lines);
        assert_eq!(log.windows[0].connections, 1, "{:?}", log.windows);
        assert_eq!(log.windows.last().unwrap().connections, 3);
        assert_eq!(log.last.unwrap().connections, 3);
        assert!(
            log.windows.iter().any(|w| w.connections == 3),
            "{:?}",
            log.windows
                .iter()
                .map(|w| w.connections)
                .collect::<Vec<_>>()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_are_counted_by_kind_and_only_2xx_posts_are_acknowledged() {
        use axum::http::StatusCode;
        let calls = Arc::new(AtomicU64::new(0));
        let seen = calls.clone();
        let router = axum::Router::new()
            .route(
                "/data",
                axum::routing::post(move |body: String| {
                    let calls = seen.clone();
                    async move {
                        assert!(
                            body.starts_with("{\"deploycheck_load\":\"test-worker-"),
                            "{body}"
                        );
                        // Every fourth write fails.
                        if calls.fetch_add(1, Ordering::Relaxed) % 4 == 3 {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::CREATED
                        }
                    }
                }),
            )
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "late"
                }),
            );
        let url = serve(router).await;
        let mut options = options(url);
        options.steps = vec![1];
        options.requests =
            parse_mix("POST /data,POST /data,POST /data,POST /data,GET /slow").unwrap();
        options.timeout = Duration::from_millis(100);
        options.max_requests = 10;
        options.duration = Duration::from_secs(5);
        let (last, _) = run_collecting(&options).await;
        assert_eq!(last.requests, 10, "{last:?}");
        assert_eq!(last.errors.get("status 503"), Some(&2), "{last:?}");
        assert_eq!(last.errors.get("timeout"), Some(&2), "{last:?}");
        assert_eq!(last.failed, 4);
        // Sequences 0..=7 sent; the 4th and 8th writes (3 and 7) failed.
        assert_eq!(last.acknowledged, vec![(0, 2), (4, 6)]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_port_counts_connect_failures_without_spinning() {
        let mut options = options(closed_url());
        options.steps = vec![1];
        options.duration = Duration::from_millis(300);
        let (last, _) = run_collecting(&options).await;
        assert!(last.requests >= 1, "{last:?}");
        // 50 ms apart: a handful, not thousands.
        assert!(last.requests <= 10, "{last:?}");
        assert_eq!(last.errors.get("connect"), Some(&last.requests), "{last:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_ends_the_run_with_its_final_line() {
        let url =
            serve(axum::Router::new().route("/", axum::routing::get(|| async { "hi" }))).await;
        let mut options = options(url);
        options.duration = Duration::from_secs(30);
        let mut lines = Vec::new();
        let started = std::time::Instant::now();
        let last = run_until(
            &options,
            &mut |line: &str| lines.push(line.to_string()),
            tokio::time::sleep(Duration::from_millis(300)),
        )
        .await
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(last.last && last.requests > 0, "{last:?}");
        assert_eq!(read(&lines).last, Some(last));
    }
}
