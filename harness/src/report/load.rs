//! Renders a [`LoadSummary`]: human text or JSON.

use std::fmt::Write as _;

use crate::load::LoadSummary;

pub fn human(s: &LoadSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "load on {}: {} users, mix {:?}, {:.1} s",
        s.url, s.users, s.mix, s.duration_s
    );
    let _ = writeln!(
        out,
        "  requests   {}  ({:.0} req/s), errors {:.2}%",
        s.requests, s.throughput_rps, s.error_rate_percent
    );
    let statuses: Vec<String> = s
        .by_status
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(out, "  statuses   {}", statuses.join(", "));
    let l = &s.latency_ms;
    let _ = writeln!(
        out,
        "  latency ms p50 {:.2}  p90 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        l.p50, l.p90, l.p95, l.p99, l.max
    );
    match &s.latency_ms_co_corrected {
        Some(c) => {
            let _ = writeln!(
                out,
                "  CO-corrected p50 {:.2}  p90 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}  (Goose back-filled stalls)",
                c.p50, c.p90, c.p95, c.p99, c.max
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  CO-corrected same as above: no user stalled, Goose back-filled nothing"
            );
        }
    }
    for (route, l) in &s.latency_ms_by_route {
        let _ = writeln!(
            out,
            "    {route:<11} p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
            l.p50, l.p95, l.p99, l.max
        );
    }
    if s.integrity_checked {
        let _ = writeln!(
            out,
            "  integrity  {} acknowledged writes, {} lost{}",
            s.acknowledged_writes,
            s.lost_writes,
            if s.lost_examples.is_empty() {
                String::new()
            } else {
                format!(" (e.g. {})", s.lost_examples.join(", "))
            }
        );
    } else {
        let _ = writeln!(
            out,
            "  integrity  NOT CHECKED: GET /data could not be read after the run; {} acknowledged writes count as unverified",
            s.acknowledged_writes
        );
    }
    for slo in &s.slos {
        let _ = writeln!(
            out,
            "  SLO {:<14} {}  (actual {:.2})",
            slo.slo,
            if slo.met { "met" } else { "MISSED" },
            slo.actual
        );
    }
    let _ = writeln!(out, "{}", if s.passed() { "PASS" } else { "FAIL" });
    out
}

pub fn json(s: &LoadSummary) -> String {
    serde_json::to_string_pretty(s).unwrap_or_default() + "\n"
}
