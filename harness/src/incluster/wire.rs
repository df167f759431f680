//! The load worker's output protocol (one JSON line per window, then one final line with the
//! totals) and the exact merge of several workers' results.
//!
//! Histograms travel in hdrhistogram's V2 format with deflate, base64-encoded, so they survive
//! a pod log and merge with `Histogram::add`: the merged percentiles are those of every sample
//! of every worker, never an average of per-worker percentiles (which has no meaning).

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

/// Every protocol line starts with this; anything else in a pod's log is ignored.
pub const LINE_PREFIX: &str = "deploycheck-load ";

/// Highest latency a histogram tracks, in microseconds (one hour): far above any timeout, so no
/// sample is ever clamped in practice.
pub const HISTOGRAM_HIGH_MICROS: u64 = 3_600_000_000;

/// Significant digits of every histogram: 0.1% precision at any latency.
pub const HISTOGRAM_SIGFIG: u8 = 3;

/// An empty histogram of microseconds as workers record and the merge accumulates.
pub fn new_histogram() -> Histogram<u64> {
    let mut histogram = Histogram::new_with_bounds(1, HISTOGRAM_HIGH_MICROS, HISTOGRAM_SIGFIG)
        .expect("constant bounds are valid");
    // A worker of another version may track higher values; growing beats refusing to merge.
    histogram.auto(true);
    histogram
}

/// One line of a worker's output: a window's figures, or (with `last`) the whole run's.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkerLine {
    /// Pod name (HOSTNAME) or a given name; POST markers are `<worker>-<seq>`.
    pub worker: String,
    /// True on the final line: totals of the whole run.
    pub last: bool,
    /// Seconds since the worker started, at the end of this window.
    pub seconds: f64,
    /// Length of this window (the whole run when `last`).
    pub window_seconds: f64,
    /// Concurrency at the end of the window.
    pub connections: usize,
    /// Requests completed in this window (the whole run when `last`).
    pub requests: u64,
    /// Of those, requests without a 2xx answer (transport errors included).
    pub failed: u64,
    /// Failure kind ("status 503", "timeout", "connect", "dropped", ...) to count.
    pub errors: BTreeMap<String, u64>,
    /// hdrhistogram V2 + deflate, base64, microseconds, of this window (whole run when last).
    pub histogram: String,
    /// On the last line: inclusive ranges of sequence numbers of POSTs answered 2xx.
    pub acknowledged: Vec<(u64, u64)>,
}

/// A protocol line that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the line is not valid worker JSON: {source}")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error("the histogram is not valid base64: {source}")]
    Base64 {
        #[source]
        source: base64::DecodeError,
    },
    #[error("the histogram is not an hdrhistogram V2 encoding: {source}")]
    Histogram {
        #[source]
        source: hdrhistogram::serialization::DeserializeError,
    },
}

impl WorkerLine {
    /// [`LINE_PREFIX`] followed by compact JSON, on one line (no newline).
    pub fn to_line(&self) -> String {
        // Cannot fail: string keys, plain numbers and strings (serde_json writes a non-finite
        // float as null rather than failing).
        let json = serde_json::to_string(self).expect("a WorkerLine always serialises");
        format!("{LINE_PREFIX}{json}")
    }

    /// Reads one log line. `None` when it is not a protocol line at all (the worker's other
    /// output, kubelet noise); `Some(Err)` when it is one but cannot be read.
    ///
    /// A timestamp before the prefix (`kubectl logs --timestamps`) is allowed.
    pub fn parse(line: &str) -> Option<Result<Self, WireError>> {
        let line = line.trim();
        let json = match line.strip_prefix(LINE_PREFIX) {
            Some(json) => json,
            None => {
                let (first, rest) = line.split_once(' ')?;
                if first.is_empty() || first.starts_with('{') {
                    return None;
                }
                rest.trim_start().strip_prefix(LINE_PREFIX)?
            }
        };
        Some(serde_json::from_str(json).map_err(|source| WireError::Json { source }))
    }

    /// The line's histogram, decoded.
    ///
    /// # Errors
    /// When the text is not base64 of an hdrhistogram V2 (deflate or plain) encoding.
    pub fn histogram(&self) -> Result<Histogram<u64>, WireError> {
        decode_histogram(&self.histogram)
    }
}

/// hdrhistogram V2 with deflate, base64 (standard alphabet, padded): the form HdrHistogram's
/// other implementations read too.
pub fn encode_histogram(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail, and u64 counts always fit the format; should that ever
    // change, an empty text fails loudly at decode time instead of carrying wrong figures.
    if V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .is_err()
    {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The inverse of [`encode_histogram`].
///
/// # Errors
/// When the text is not base64 of an hdrhistogram V2 (deflate or plain) encoding.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, WireError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|source| WireError::Base64 { source })?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|source| WireError::Histogram { source })
}

/// Every protocol line found in one pod's log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerLog {
    /// Window lines, in log order.
    pub windows: Vec<WorkerLine>,
    /// The final line, if the worker got to print it.
    pub last: Option<WorkerLine>,
    /// One sentence per protocol line that could not be read ("line 7: ...").
    pub malformed: Vec<String>,
}

/// Reads every protocol line of a pod's log; other lines are ignored. A line whose histogram
/// does not decode is malformed too, so the merge only meets readable histograms.
pub fn read_log(log: &str) -> WorkerLog {
    let mut result = WorkerLog::default();
    for (index, text) in log.lines().enumerate() {
        let line = match WorkerLine::parse(text) {
            None => continue,
            Some(Ok(line)) => line,
            Some(Err(error)) => {
                result
                    .malformed
                    .push(format!("line {}: {error}", index + 1));
                continue;
            }
        };
        if let Err(error) = line.histogram() {
            result
                .malformed
                .push(format!("line {}: {error}", index + 1));
            continue;
        }
        if line.last {
            // A second final line would only come from a restarted container; the latest run
            // is the one the pod ended with.
            result.last = Some(line);
        } else {
            result.windows.push(line);
        }
    }
    result
}

/// One worker's figures in the merged result.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkerSummary {
    pub worker: String,
    /// It printed its final line: these are its whole run's totals.
    pub complete: bool,
    pub requests: u64,
    pub failed: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Several workers' results as one.
#[derive(Clone, Debug)]
pub struct Merged {
    /// Every sample of every worker, microseconds.
    pub total: Histogram<u64>,
    pub requests: u64,
    pub failed: u64,
    pub errors: BTreeMap<String, u64>,
    /// The longest worker's run, in seconds.
    pub seconds: f64,
    /// One entry per worker given, reported or not, in the order given.
    pub per_worker: Vec<WorkerSummary>,
    /// One sentence per worker whose figures are not its whole run (no final line, never
    /// reported, unreadable lines).
    pub incomplete: Vec<String>,
    /// Per complete worker, its name as it marks its writes (`<worker>-<seq>`) and the ranges of
    /// sequence numbers of its POSTs answered 2xx. Workers without a final line are absent:
    /// their acknowledged writes are unknown (said in `incomplete`).
    pub acknowledged: Vec<(String, Vec<(u64, u64)>)>,
}

impl Merged {
    /// Requests per second over the longest worker's run (0 when nothing ran).
    pub fn rps(&self) -> f64 {
        rate(self.requests, self.seconds)
    }
}

fn rate(requests: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        requests as f64 / seconds
    } else {
        0.0
    }
}

fn millis(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    if histogram.is_empty() {
        0.0
    } else {
        histogram.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Adds `source` into `total`; `false` when it does not decode or fit.
fn add_line(total: &mut Histogram<u64>, line: &WorkerLine) -> bool {
    line.histogram()
        .ok()
        .is_some_and(|histogram| total.add(&histogram).is_ok())
}

fn add_errors(into: &mut BTreeMap<String, u64>, errors: &BTreeMap<String, u64>) {
    for (kind, count) in errors {
        *into.entry(kind.clone()).or_default() += count;
    }
}

/// Merges the logs of several workers (`(pod or worker name, its log)`) exactly: histograms
/// with `Histogram::add`, counts summed.
///
/// A worker with a final line contributes that line's totals (never also its windows, which
/// it already sums). A worker without one contributes the sum of its windows and is named in
/// `incomplete`; so is a worker that never reported. No worker is silently dropped.
pub fn merge(logs: &[(String, WorkerLog)]) -> Merged {
    let mut merged = Merged {
        total: new_histogram(),
        requests: 0,
        failed: 0,
        errors: BTreeMap::new(),
        seconds: 0.0,
        per_worker: Vec::with_capacity(logs.len()),
        incomplete: Vec::new(),
        acknowledged: Vec::new(),
    };
    for (name, log) in logs {
        let mut own = new_histogram();
        let mut unreadable = 0usize;
        let (requests, failed, seconds, run_seconds) = if let Some(last) = &log.last {
            if !add_line(&mut own, last) {
                unreadable += 1;
            }
            add_errors(&mut merged.errors, &last.errors);
            merged
                .acknowledged
                .push((last.worker.clone(), last.acknowledged.clone()));
            (
                last.requests,
                last.failed,
                last.seconds,
                last.window_seconds,
            )
        } else {
            let mut requests = 0;
            let mut failed = 0;
            let mut run_seconds = 0.0;
            for window in &log.windows {
                if !add_line(&mut own, window) {
                    unreadable += 1;
                }
                add_errors(&mut merged.errors, &window.errors);
                requests += window.requests;
                failed += window.failed;
                run_seconds += window.window_seconds;
            }
            let seconds = log.windows.iter().map(|w| w.seconds).fold(0.0, f64::max);
            let mut sentence = if log.windows.is_empty() {
                format!("{name}: never reported")
            } else {
                format!(
                    "{name}: no final result line (it died or was stopped); its {} windows are counted",
                    log.windows.len()
                )
            };
            if !log.malformed.is_empty() {
                sentence.push_str(&format!(
                    "; {} unreadable protocol lines ignored ({})",
                    log.malformed.len(),
                    log.malformed[0]
                ));
            }
            merged.incomplete.push(sentence);
            (requests, failed, seconds, run_seconds)
        };
        if unreadable > 0 {
            // Only reachable with logs not made by `read_log`, which sets such lines aside.
            merged.incomplete.push(format!(
                "{name}: {unreadable} histograms could not be read; their requests are counted but their latencies are not"
            ));
        }
        // Cannot fail: `merged.total` grows to whatever `own` holds.
        let _ = merged.total.add(&own);
        merged.requests += requests;
        merged.failed += failed;
        merged.seconds = merged.seconds.max(seconds);
        merged.per_worker.push(WorkerSummary {
            worker: name.clone(),
            complete: log.last.is_some(),
            requests,
            failed,
            rps: rate(requests, run_seconds),
            p50_ms: millis(&own, 0.50),
            p95_ms: millis(&own, 0.95),
            p99_ms: millis(&own, 0.99),
            max_ms: if own.is_empty() {
                0.0
            } else {
                own.max() as f64 / 1000.0
            },
        });
    }
    merged
}

/// Per-time-bucket figures across workers, for a timeline: `(bucket end in seconds, requests,
/// requests per second, merged p95 in ms, connections summed)`, only for buckets some window
/// ends in, in time order.
///
/// A window belongs to the bucket its end falls in (`(k-1)·bucket < end ≤ k·bucket`). Each
/// worker's rate is its requests over the seconds its windows cover in that bucket, and the
/// workers' rates are summed, so a bucket longer or shorter than a window reads right. Its
/// connections are those of its latest window in the bucket. Times are seconds since each
/// worker started: a Job starts its pods within seconds of each other.
pub fn timeline(logs: &[(String, WorkerLog)], bucket: f64) -> Vec<(f64, u64, f64, f64, usize)> {
    struct PerWorker {
        requests: u64,
        seconds: f64,
        connections: usize,
        latest_end: f64,
    }
    struct Bucket {
        histogram: Histogram<u64>,
        workers: BTreeMap<usize, PerWorker>,
    }
    if !(bucket > 0.0 && bucket.is_finite()) {
        return Vec::new();
    }
    let mut buckets: BTreeMap<u64, Bucket> = BTreeMap::new();
    for (worker, (_, log)) in logs.iter().enumerate() {
        for window in &log.windows {
            let index = (window.seconds / bucket).ceil().max(1.0) as u64;
            let entry = buckets.entry(index).or_insert_with(|| Bucket {
                histogram: new_histogram(),
                workers: BTreeMap::new(),
            });
            add_line(&mut entry.histogram, window);
            let figures = entry.workers.entry(worker).or_insert(PerWorker {
                requests: 0,
                seconds: 0.0,
                connections: 0,
                latest_end: f64::NEG_INFINITY,
            });
            figures.requests += window.requests;
            figures.seconds += window.window_seconds;
            if window.seconds >= figures.latest_end {
                figures.latest_end = window.seconds;
                figures.connections = window.connections;
            }
        }
    }
    buckets
        .into_iter()
        .map(|(index, bucket_figures)| {
            let workers = bucket_figures.workers.values();
            let requests = workers.clone().map(|w| w.requests).sum();
            let rps = workers.clone().map(|w| rate(w.requests, w.seconds)).sum();
            let connections = workers.map(|w| w.connections).sum();
            (
                index as f64 * bucket,
                requests,
                rps,
                millis(&bucket_figures.histogram, 0.95),
                connections,
            )
        })
        .collect()
}

/// A worker line for tests elsewhere: `requests` with latencies `micros`, a 5 s window (or a
/// whole run when `last`).
#[cfg(test)]
pub fn test_line(
    worker: &str,
    last: bool,
    requests: u64,
    micros: &[u64],
    connections: usize,
) -> WorkerLine {
    let mut histogram = new_histogram();
    for m in micros {
        histogram.record(*m).unwrap();
    }
    WorkerLine {
        worker: worker.into(),
        last,
        seconds: 5.0,
        window_seconds: 5.0,
        connections,
        requests,
        failed: 0,
        errors: BTreeMap::new(),
        histogram: encode_histogram(&histogram),
        acknowledged: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: reproducible pseudo-random samples without a crate.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }

        /// A latency in microseconds spread over six decades, as real runs are (mostly fast,
        /// a long tail).
        fn latency(&mut self) -> u64 {
            let decade = 10u64.pow(self.below(6) as u32 + 1);
            1 + self.below(decade)
        }
    }

    fn histogram_of(samples: &[u64]) -> Histogram<u64> {
        let mut histogram = new_histogram();
        for &sample in samples {
            histogram.record(sample).unwrap();
        }
        histogram
    }

    fn line(worker: &str, last: bool, seconds: f64, samples: &[u64]) -> WorkerLine {
        WorkerLine {
            worker: worker.into(),
            last,
            seconds,
            window_seconds: if last { seconds } else { 1.0 },
            connections: 4,
            requests: samples.len() as u64,
            failed: 0,
            errors: BTreeMap::new(),
            histogram: encode_histogram(&histogram_of(samples)),
            acknowledged: Vec::new(),
        }
    }

    fn log_of(lines: &[WorkerLine]) -> WorkerLog {
        let text: Vec<String> = lines.iter().map(WorkerLine::to_line).collect();
        read_log(&text.join("\n"))
    }

    #[test]
    fn a_histogram_survives_the_line_format() {
        let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
        let samples: Vec<u64> = (0..5_000).map(|_| random.latency()).collect();
        let mut original = line("load-a", true, 10.0, &samples);
        original.errors.insert("status 503".into(), 3);
        original.failed = 3;
        original.acknowledged = vec![(0, 1023), (1025, 2047)];
        let text = original.to_line();
        assert!(
            text.starts_with(LINE_PREFIX) && !text.contains('\n'),
            "{text}"
        );
        // V2 + deflate's cookie (0x1c849314) in base64, as HdrHistogram's interval logs have it.
        assert!(original.histogram.starts_with("HISTFAAA"), "{text}");
        let read = WorkerLine::parse(&text).unwrap().unwrap();
        assert_eq!(read, original);
        let histogram = read.histogram().unwrap();
        assert_eq!(histogram, histogram_of(&samples));
        assert_eq!(histogram.len(), 5_000);
        assert_eq!(histogram.max(), histogram_of(&samples).max());
    }

    #[test]
    fn an_empty_histogram_survives_the_line_format() {
        let empty = new_histogram();
        let decoded = decode_histogram(&encode_histogram(&empty)).unwrap();
        assert!(decoded.is_empty());
    }

    #[test]
    fn merging_worker_histograms_equals_recording_every_sample_in_one() {
        let mut random = XorShift(42);
        for case in 0..100 {
            let workers = 1 + random.below(6) as usize;
            let mut all = Vec::new();
            let mut logs = Vec::new();
            for worker in 0..workers {
                // Some workers send nothing at all; some finish, some only left windows.
                let windows = random.below(4) as usize;
                let complete = random.below(3) > 0;
                let mut lines = Vec::new();
                let mut everything = Vec::new();
                for window in 0..windows {
                    let count = random.below(300) as usize;
                    let samples: Vec<u64> = (0..count).map(|_| random.latency()).collect();
                    everything.extend_from_slice(&samples);
                    lines.push(line("w", false, (window + 1) as f64, &samples));
                }
                if complete {
                    lines.push(line("w", true, windows as f64, &everything));
                }
                all.extend_from_slice(&everything);
                logs.push((format!("w{worker}"), log_of(&lines)));
            }
            let merged = merge(&logs);
            let expected = histogram_of(&all);
            assert_eq!(merged.total, expected, "case {case}");
            assert_eq!(merged.total.len(), all.len() as u64, "case {case}");
            assert_eq!(merged.requests, all.len() as u64, "case {case}");
            for quantile in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                assert_eq!(
                    merged.total.value_at_quantile(quantile),
                    expected.value_at_quantile(quantile),
                    "case {case}, q{quantile}"
                );
            }
            assert_eq!(merged.per_worker.len(), workers, "case {case}");
        }
    }

    #[test]
    fn a_worker_with_a_final_line_counts_its_totals_not_also_its_windows() {
        let lines = [
            line("load-a", false, 1.0, &[100, 200]),
            line("load-a", false, 2.0, &[300]),
            line("load-a", true, 2.0, &[100, 200, 300]),
        ];
        let merged = merge(&[("load-a".into(), log_of(&lines))]);
        assert_eq!(merged.requests, 3);
        assert_eq!(merged.total.len(), 3);
        assert!(merged.incomplete.is_empty(), "{:?}", merged.incomplete);
        assert!(merged.per_worker[0].complete);
        assert_eq!(merged.acknowledged, vec![("load-a".to_string(), vec![])]);
    }

    #[test]
    fn a_missing_final_line_leaves_the_result_incomplete_with_its_windows_counted() {
        let mut first = line("load-x-2", false, 5.0, &[1_000, 2_000]);
        first.failed = 1;
        first.errors.insert("timeout".into(), 1);
        let complete = [
            line("load-x-1", false, 5.0, &[500]),
            line("load-x-1", true, 5.0, &[500]),
        ];
        let logs = [
            ("load-x-1".to_string(), log_of(&complete)),
            (
                "load-x-2".to_string(),
                log_of(&[first, line("load-x-2", false, 10.0, &[3_000])]),
            ),
        ];
        let merged = merge(&logs);
        assert_eq!(merged.requests, 4);
        assert_eq!(merged.failed, 1);
        assert_eq!(merged.errors.get("timeout"), Some(&1));
        assert_eq!(merged.total.len(), 4);
        assert_eq!(merged.seconds, 10.0);
        assert_eq!(
            merged.incomplete,
            vec![
                "load-x-2: no final result line (it died or was stopped); its 2 windows are counted"
                    .to_string()
            ]
        );
        assert!(!merged.per_worker[1].complete);
        assert_eq!(merged.per_worker[1].requests, 3);
        // Its writes are unknown, so it is not listed as having acknowledged none.
        assert_eq!(merged.acknowledged.len(), 1);
    }

    #[test]
    fn a_worker_that_never_reported_is_named() {
        let logs = [
            (
                "load-x-1".to_string(),
                log_of(&[line("load-x-1", true, 1.0, &[10])]),
            ),
            (
                "load-x-3".to_string(),
                read_log("standard_init_linux.go: exec user process caused: exec format error"),
            ),
        ];
        let merged = merge(&logs);
        assert_eq!(
            merged.incomplete,
            vec!["load-x-3: never reported".to_string()]
        );
        assert_eq!(merged.per_worker.len(), 2);
        assert_eq!(merged.per_worker[1].requests, 0);
        assert_eq!(merged.requests, 1);
    }

    #[test]
    fn malformed_lines_are_set_aside_and_said() {
        let good = line("w", false, 1.0, &[10]).to_line();
        let mut bad_histogram = line("w", true, 1.0, &[10]);
        bad_histogram.histogram = "not base64!".into();
        let mut not_hdr = line("w", true, 1.0, &[10]);
        not_hdr.histogram = base64::engine::general_purpose::STANDARD.encode(b"hello");
        let log = [
            "starting".to_string(),
            good,
            format!("{LINE_PREFIX}{{\"worker\": "),
            bad_histogram.to_line(),
            not_hdr.to_line(),
        ]
        .join("\n");
        let read = read_log(&log);
        assert_eq!(read.windows.len(), 1);
        assert!(read.last.is_none());
        assert_eq!(read.malformed.len(), 3, "{:?}", read.malformed);
        assert!(
            read.malformed[0].starts_with("line 3: "),
            "{:?}",
            read.malformed
        );
        assert!(read.malformed[1].contains("base64"), "{:?}", read.malformed);
        assert!(
            read.malformed[2].contains("hdrhistogram"),
            "{:?}",
            read.malformed
        );
        let merged = merge(&[("w-1".into(), read)]);
        assert_eq!(merged.requests, 1);
        assert_eq!(merged.incomplete.len(), 1);
        assert!(
            merged.incomplete[0].contains("3 unreadable protocol lines ignored (line 3: "),
            "{:?}",
            merged.incomplete
        );
    }

    #[test]
    fn only_protocol_lines_are_read_with_or_without_a_timestamp() {
        let text = line("w", false, 1.0, &[10]).to_line();
        assert!(WorkerLine::parse("deploycheck-loader started").is_none());
        assert!(WorkerLine::parse("").is_none());
        assert!(WorkerLine::parse("{\"worker\":1} deploycheck-load {}").is_none());
        assert!(WorkerLine::parse(&text).unwrap().is_ok());
        assert!(WorkerLine::parse(&format!("{text}\r")).unwrap().is_ok());
        let stamped = format!("2026-01-02T03:04:05.123456789Z {text}");
        assert!(WorkerLine::parse(&stamped).unwrap().is_ok());
    }

    #[test]
    fn a_histogram_from_a_non_deflate_v2_encoder_is_read_too() {
        let mut bytes = Vec::new();
        hdrhistogram::serialization::V2Serializer::new()
            .serialize(&histogram_of(&[1, 2, 3]), &mut bytes)
            .unwrap();
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(decode_histogram(&text).unwrap().len(), 3);
    }

    #[test]
    fn a_timeline_sums_requests_and_rates_and_merges_latencies_per_bucket() {
        let worker = |name: &str, latency: u64| {
            let windows: Vec<WorkerLine> = (1..=4)
                .map(|s| {
                    let mut window = line(name, false, s as f64, &[latency; 10]);
                    window.connections = s;
                    window
                })
                .collect();
            (name.to_string(), log_of(&windows))
        };
        let logs = [worker("a", 1_000), worker("b", 9_000)];
        let points = timeline(&logs, 2.0);
        assert_eq!(points.len(), 2, "{points:?}");
        let (end, requests, rps, p95, connections) = points[0];
        assert_eq!(end, 2.0);
        assert_eq!(requests, 40);
        // Each worker: 20 requests over the 2 s its windows cover; two workers.
        assert!((rps - 20.0).abs() < 1e-9, "{rps}");
        // Half the samples at 1 ms, half at 9 ms: p95 is the slow half's.
        assert!((p95 - 9.0).abs() < 0.01, "{p95}");
        // The latest window in the bucket of each worker (connections 2 each).
        assert_eq!(connections, 4);
        assert_eq!(points[1].0, 4.0);
        assert_eq!(points[1].4, 8);
        // Buckets shorter than a window still give the window's rate.
        let fine = timeline(&logs, 0.5);
        assert_eq!(fine.len(), 4);
        assert!((fine[0].2 - 20.0).abs() < 1e-9, "{fine:?}");
        assert!(timeline(&logs, 0.0).is_empty());
    }
}
