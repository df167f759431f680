//! What Goose's users record while the load runs (per-route hdrhistograms, statuses,
//! acknowledged writes), and the summary that record adds up to.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::judge::judge;
use super::list_read::{ListRead, per_1000_documents};
use super::mix::Route;
use super::pace::Pacer;
use super::settings::Settings;
use super::summary::{ListSummary, LoadSummary, RouteSummary, percent, percentiles};

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// What one route's requests recorded.
pub(super) struct RouteRecord {
    latency: Histogram<u64>,
    per_1000_documents: Histogram<u64>,
    requests: u64,
    failed: u64,
    /// Smallest and largest answer, in documents.
    documents: Option<(u64, u64)>,
}

impl Default for RouteRecord {
    fn default() -> Self {
        Self {
            latency: new_histogram(),
            per_1000_documents: new_histogram(),
            requests: 0,
            failed: 0,
            documents: None,
        }
    }
}

/// Everything the transactions record, shared between Goose's users.
#[derive(Default)]
pub(super) struct Recorder {
    pub(super) routes: Mutex<BTreeMap<Route, RouteRecord>>,
    pub(super) statuses: Mutex<BTreeMap<String, u64>>,
    pub(super) acknowledged: Mutex<Vec<String>>,
    pub(super) sequence: AtomicU64,
    pub(super) run_id: String,
    pub(super) pacer: Option<Pacer>,
}

impl Recorder {
    pub(super) fn record(
        &self,
        route: Route,
        elapsed: Duration,
        status: Option<u16>,
        documents: Option<u64>,
    ) {
        let micros = elapsed.as_micros().clamp(1, 3_600_000_000) as u64;
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let record = routes.entry(route).or_default();
        let _ = record.latency.record(micros);
        record.requests += 1;
        if !status.is_some_and(|s| (200..300).contains(&s)) {
            record.failed += 1;
        }
        if let Some(n) = documents {
            let _ = record
                .per_1000_documents
                .record(per_1000_documents(micros, n));
            record.documents = Some(match record.documents {
                None => (n, n),
                Some((min, max)) => (min.min(n), max.max(n)),
            });
        }
        drop(routes);
        let key = status.map_or_else(|| "transport error".to_string(), |s| s.to_string());
        *self
            .statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
    }
}

pub(super) fn summarise(
    settings: &Settings,
    recorder: &Recorder,
    elapsed: Duration,
    lost: Option<Vec<String>>,
) -> LoadSummary {
    let records = recorder.routes.lock().unwrap_or_else(|p| p.into_inner());
    let mut all = new_histogram();
    for record in records.values() {
        let _ = all.add(&record.latency);
    }
    let routes: BTreeMap<Route, RouteSummary> = records
        .iter()
        .map(|(route, record)| {
            let list = (*route == Route::List).then(|| {
                let (documents_min, documents_max) = record.documents.unwrap_or_default();
                let answers_counted = record.per_1000_documents.len();
                ListSummary {
                    path: settings.list_read.path(),
                    read: settings.list_read.clone(),
                    answers_counted,
                    documents_min,
                    documents_max,
                    per_1000_documents_ms: (answers_counted > 0)
                        .then(|| percentiles(&record.per_1000_documents)),
                    paging_ignored: matches!(
                        settings.list_read,
                        ListRead::Page { size, .. } if documents_max > u64::from(size)
                    ),
                }
            });
            let summary = RouteSummary {
                requests: record.requests,
                failed: record.failed,
                error_rate_percent: percent(record.failed, record.requests),
                latency_ms: percentiles(&record.latency),
                list,
            };
            (*route, summary)
        })
        .collect();
    drop(records);
    let by_status = recorder
        .statuses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let requests: u64 = by_status.values().sum();
    let failed: u64 = by_status
        .iter()
        .filter(|(status, _)| !status.starts_with('2'))
        .map(|(_, n)| n)
        .sum();
    let duration_s = elapsed.as_secs_f64();
    let throughput_rps = if duration_s > 0.0 {
        requests as f64 / duration_s
    } else {
        0.0
    };
    let slos = judge(&settings.slos, settings.mix, &routes, duration_s);
    let acknowledged_writes = recorder
        .acknowledged
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .len();
    let (integrity_checked, lost) = match lost {
        Some(lost) => (true, lost),
        None => (false, Vec::new()),
    };
    LoadSummary {
        url: settings.base_url.clone(),
        mix: settings.mix,
        users: settings.users,
        rate: settings.rate,
        missed_slots: recorder
            .pacer
            .as_ref()
            .map_or(0, |p| p.missed.load(Ordering::Relaxed)),
        duration_s,
        requests,
        throughput_rps,
        error_rate_percent: percent(failed, requests),
        by_status,
        latency_ms: percentiles(&all),
        latency_ms_co_corrected: None,
        routes,
        acknowledged_writes,
        lost_writes: if integrity_checked {
            lost.len()
        } else {
            acknowledged_writes
        },
        lost_examples: lost.into_iter().take(10).collect(),
        integrity_checked,
        slos,
    }
}
