//! deploycheck: deploys a web-app + MongoDB stack and proves that it really works.
//!
//! The binary is a thin shell over [`cli::run`]; every subcommand is a library function so
//! tests and the cucumber steps call the same code the CLI does.

pub mod api;
pub mod blockers;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod demo;
pub mod diagnose;
pub mod exposition;
pub mod findings;
pub mod forward;
pub mod hpa_cpu;
pub mod http;
pub mod image;
pub mod imageref;
pub mod incluster;
pub mod inputs;
pub mod lint;
pub mod load;
pub mod local;
pub mod manifest;
pub mod metrics;
pub mod preflight;
pub mod probe;
pub mod profile;
pub mod promql;
pub mod quantity;
pub mod rawhttp;
pub mod report;
pub mod scenario;
pub mod spelling;
pub mod strategy;
#[cfg(test)]
mod testing;
pub mod timestamp;
pub mod yaml;

/// A marker no other run (in this or another process) produces, for data a check writes and
/// later looks for.
pub fn unique_marker(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Process exit codes, documented in README.md.
pub mod exit {
    /// Every check passed (or the command did its job).
    pub const OK: u8 = 0;
    /// A check failed.
    pub const FAILED: u8 = 1;
    /// Usage, configuration or I/O error: nothing was checked.
    pub const USAGE: u8 = 2;
}
