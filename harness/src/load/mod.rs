//! `deploycheck load`: Goose drives the users; latencies go into our own hdrhistograms per route
//! (Goose keeps millisecond buckets, too coarse on loopback); every acknowledged write is
//! checked afterwards; per-route SLO gates decide the verdict. Loopback targets only, bounded
//! in users, rate and time.
//!
//! `GET /data` is judged for what it is. The challenge's contract returns every document, so
//! while the load writes, each read costs more than the one before: every answer's documents
//! are counted, and an SLO that applies to every route judges a whole-list read per 1,000
//! documents. An app that pages says so in its profile (`list_read = "limit=100"`) and the
//! mix then reads one page, the way a real client would; a page is judged like any route.
//!
//! The files, bottom to top; each uses only the ones listed before it:
//! - `mix`: the routes and the mixes that weigh them;
//! - `list_read`: how `GET /data` is read, its documents counted and scaled per 1,000;
//! - `slo`: SLO clauses and what judging one yields;
//! - `summary`: our own figures of a run;
//! - `judge`: SLOs judged against those figures;
//! - `settings`: the profile's `[load]` under a command's overrides;
//! - `pace`: requests spaced evenly to hold a rate;
//! - `record`: what the users record, and the summary it adds up to;
//! - `integrity`: every acknowledged write read back;
//! - `goose`: the run itself, where Goose's types stop.

mod goose;
mod integrity;
mod judge;
mod list_read;
mod mix;
mod pace;
mod record;
mod settings;
mod slo;
mod summary;

pub use goose::{LoadError, MAX_DURATION, MAX_RATE, MAX_USERS, run};
pub use judge::judge;
pub use list_read::{ListRead, MAX_PAGE};
pub use mix::{Mix, Route};
pub use settings::{Overrides, Settings, SettingsError};
pub use slo::{Basis, Metric, Slo, SloError, SloResult, SloVerdict, parse_slos};
pub use summary::{ListSummary, LoadSummary, Percentiles, RouteSummary};
