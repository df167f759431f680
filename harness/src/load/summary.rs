//! Our own figures of a run: percentiles, each route's share, the list's answers, the whole.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::list_read::ListRead;
use super::mix::{Mix, Route};
use super::slo::{Metric, SloResult};

#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// The value of a latency metric (0 for errors and rps, which are not latencies).
    pub fn get(&self, metric: Metric) -> f64 {
        match metric {
            Metric::P50 => self.p50,
            Metric::P90 => self.p90,
            Metric::P95 => self.p95,
            Metric::P99 => self.p99,
            Metric::Max => self.max,
            Metric::Errors | Metric::Rps => 0.0,
        }
    }
}

/// One route's share of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RouteSummary {
    pub requests: u64,
    /// Requests without a 2xx answer (including transport errors).
    pub failed: u64,
    pub error_rate_percent: f64,
    /// Milliseconds, body included: what the closed-loop users saw.
    pub latency_ms: Percentiles,
    /// `GET /data` only: how many documents its answers held.
    pub list: Option<ListSummary>,
}

/// How `GET /data` was read, and what its answers held.
#[derive(Clone, Debug, Serialize)]
pub struct ListSummary {
    /// What the mix requested, e.g. `/data` or `/data?limit=100`.
    pub path: String,
    pub read: ListRead,
    /// Answers that were JSON arrays, whose documents could be counted.
    pub answers_counted: u64,
    pub documents_min: u64,
    pub documents_max: u64,
    /// Each answer's latency scaled to 1,000 documents (an answer of fewer counts as 1,000), ms.
    pub per_1000_documents_ms: Option<Percentiles>,
    /// A page was asked for, but an answer held more documents than the page size.
    pub paging_ignored: bool,
}

impl ListSummary {
    /// Whether the answers grew with the data the run wrote: the whole list was read.
    pub fn grows(&self) -> bool {
        matches!(self.read, ListRead::Whole) || self.paging_ignored
    }
}

/// Our own summary of a run; Goose's types stop at [`run`](super::run).
#[derive(Clone, Debug, Serialize)]
pub struct LoadSummary {
    pub url: String,
    pub mix: Mix,
    pub users: usize,
    /// The pace asked for, requests per second; `None`: as fast as the users went.
    pub rate: Option<u32>,
    /// Paced runs: slots that passed with every user still busy, i.e. requests the pace asked
    /// for that were never sent (the paced form of coordinated omission).
    pub missed_slots: u64,
    pub duration_s: f64,
    pub requests: u64,
    pub throughput_rps: f64,
    /// Requests without a 2xx answer (including transport errors), in percent.
    pub error_rate_percent: f64,
    pub by_status: BTreeMap<String, u64>,
    /// Every route together, milliseconds: context only, the SLOs judge each route.
    pub latency_ms: Percentiles,
    /// The same, corrected for coordinated omission by Goose (requests a stalled user did not
    /// send are back-filled at its average cadence). `None` when Goose back-filled nothing (no
    /// user stalled, so the raw numbers are the corrected ones) and in a paced run, where a
    /// user's cadence is the pace's, not the app's: there `missed_slots` counts omissions.
    pub latency_ms_co_corrected: Option<Percentiles>,
    /// Keyed by route (`GET /`, `POST /data`, `GET /data`): the routes the mix sent.
    pub routes: BTreeMap<Route, RouteSummary>,
    pub acknowledged_writes: usize,
    pub lost_writes: usize,
    /// Up to 10 markers of acknowledged writes that could not be read back.
    pub lost_examples: Vec<String>,
    pub integrity_checked: bool,
    pub slos: Vec<SloResult>,
}

impl LoadSummary {
    /// Every SLO met and no acknowledged write lost.
    pub fn passed(&self) -> bool {
        self.slos.iter().all(SloResult::met) && self.lost_writes == 0 && self.requests > 0
    }
}

pub(super) fn percentiles(histogram: &Histogram<u64>) -> Percentiles {
    if histogram.is_empty() {
        return Percentiles::default();
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        p50: ms(0.50),
        p90: ms(0.90),
        p95: ms(0.95),
        p99: ms(0.99),
        max: histogram.max() as f64 / 1000.0,
    }
}

pub(super) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}
