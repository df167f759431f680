//! Renders a `deploycheck local` report: the contract, the load, the restart, one verdict.

use std::fmt::Write as _;

use crate::api::Verdict;
use crate::local::{LoadStep, LocalReport};

pub fn human(report: &LocalReport, colour: bool) -> String {
    let mut out = super::api::human(&report.api, &report.url, colour);
    out.push('\n');
    match &report.load {
        LoadStep::Ran(summary) => out.push_str(&super::load::human(summary)),
        LoadStep::Skipped { reason } => {
            let _ = writeln!(out, "load: SKIP ({reason})");
        }
        LoadStep::Failed { reason } => {
            let _ = writeln!(out, "load: FAIL ({reason})");
        }
    }
    out.push('\n');
    let r = &report.restart;
    let mark = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Warn => "WARN",
        Verdict::Fail => "FAIL",
        Verdict::Skip => "SKIP",
    };
    let _ = writeln!(out, "database restart: {mark}  {}", r.detail);
    let _ = writeln!(
        out,
        "\n{}",
        if report.passed() {
            "local check PASSED"
        } else {
            "local check FAILED"
        }
    );
    out
}

pub fn json(report: &LocalReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
}
