//! Renders a [`LoadSummary`]: human text or JSON.

use std::fmt::Write as _;

use crate::load::{Basis, ListRead, ListSummary, LoadSummary, SloResult, SloVerdict};

pub fn human(s: &LoadSummary) -> String {
    let mut out = String::new();
    let pace = match s.rate {
        Some(rate) => format!("paced at {rate} req/s"),
        None => "unpaced".to_string(),
    };
    let _ = writeln!(
        out,
        "load on {}: {} users, mix {}, {pace}, {:.1} s",
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
        "  latency ms p50 {:.2}  p90 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}  (every route together; the SLOs judge each route)",
        l.p50, l.p90, l.p95, l.p99, l.max
    );
    match &s.latency_ms_co_corrected {
        _ if s.rate.is_some() && s.missed_slots == 0 => {
            let _ = writeln!(
                out,
                "  pace held  every request went out on its slot: nothing omitted"
            );
        }
        _ if s.rate.is_some() => {
            let _ = writeln!(
                out,
                "  pace fell behind: {} slots passed with every user busy (requests the pace asked for, never sent)",
                s.missed_slots
            );
        }
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
    for (route, r) in &s.routes {
        let l = &r.latency_ms;
        let _ = writeln!(
            out,
            "    {:<11} p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}  ({} requests, errors {:.2}%)",
            route.as_str(),
            l.p50,
            l.p95,
            l.p99,
            l.max,
            r.requests,
            r.error_rate_percent
        );
        if let Some(list) = &r.list {
            let _ = writeln!(out, "                {}", list_rule(list));
        }
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
    let width = s.slos.iter().map(|r| r.slo.len()).max().unwrap_or(0);
    for slo in &s.slos {
        let _ = writeln!(out, "  SLO {}", slo_line(slo, width));
    }
    let _ = writeln!(out, "{}", if s.passed() { "PASS" } else { "FAIL" });
    out
}

/// Which rule judged `GET /data`, in one sentence.
fn list_rule(list: &ListSummary) -> String {
    let sizes = if list.answers_counted == 0 {
        "no answer was a JSON array, so no document was counted".to_string()
    } else {
        // Per 1,000 documents only where it is the rule: a page of fewer counts as 1,000.
        let per_1000 = list
            .per_1000_documents_ms
            .as_ref()
            .filter(|_| list.grows())
            .map(|p| format!(", p95 {:.2} ms per 1,000 documents", p.p95))
            .unwrap_or_default();
        format!(
            "answers of {}..{} documents{per_1000}",
            list.documents_min, list.documents_max
        )
    };
    match &list.read {
        ListRead::Page { size, .. } if list.paging_ignored => format!(
            "read one page ({}): {sizes}. The app ignored the page size {size}, so this was a \
             whole-list read: an SLO for every route judges it per 1,000 documents",
            list.path
        ),
        ListRead::Page { .. } => format!(
            "read one page ({}), as a client of an app that pages would: {sizes}; judged like any route",
            list.path
        ),
        ListRead::Whole => format!(
            "read whole (the contract's GET /data): {sizes}. Its cost grows with what this run \
             wrote, so an SLO for every route judges it per 1,000 documents (an answer of fewer \
             counts as 1,000)"
        ),
    }
}

fn slo_line(r: &SloResult, width: usize) -> String {
    let route = r.route.map_or("whole run", |route| route.as_str());
    let mark = match r.verdict {
        SloVerdict::Met => "met",
        SloVerdict::Missed => "MISSED",
        SloVerdict::Skipped => "skipped",
    };
    let actual = match (r.actual, r.basis) {
        (Some(actual), Basis::ErrorRate) => format!("  (actual {actual:.2}%)"),
        (Some(actual), basis) => format!("  (actual {actual:.2} {})", basis.unit()),
        (None, _) => String::new(),
    };
    let note = r
        .note
        .as_ref()
        .map(|n| format!("  ({n})"))
        .unwrap_or_default();
    format!(
        "{:<width$}  {route:<11} {mark}{actual}{note}",
        r.slo,
        width = width
    )
}

pub fn json(s: &LoadSummary) -> String {
    serde_json::to_string_pretty(s).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Percentiles, Route};

    fn result(slo: &str, route: Option<Route>, basis: Basis, actual: Option<f64>) -> SloResult {
        SloResult {
            slo: slo.into(),
            route,
            basis,
            threshold: 250.0,
            actual,
            verdict: SloVerdict::Met,
            note: None,
        }
    }

    #[test]
    fn each_slo_line_names_its_route_and_unit() {
        let per_doc = result(
            "p95<250ms",
            Some(Route::List),
            Basis::LatencyPer1000Documents,
            Some(61.5),
        );
        assert_eq!(
            slo_line(&per_doc, 12),
            "p95<250ms     GET /data   met  (actual 61.50 ms per 1,000 documents)"
        );
        let errors = result("errors<1%", Some(Route::Write), Basis::ErrorRate, Some(0.0));
        assert_eq!(
            slo_line(&errors, 9),
            "errors<1%  POST /data  met  (actual 0.00%)"
        );
        let mut skipped = result(
            "POST /data:p95<250ms",
            Some(Route::Write),
            Basis::Latency,
            None,
        );
        skipped.verdict = SloVerdict::Skipped;
        skipped.note = Some("the get-root mix sends no POST /data".into());
        assert_eq!(
            slo_line(&skipped, 20),
            "POST /data:p95<250ms  POST /data  skipped  (the get-root mix sends no POST /data)"
        );
    }

    #[test]
    fn the_list_line_says_which_rule_applied() {
        let list = |read: ListRead, documents_max: u64, paging_ignored: bool| ListSummary {
            path: read.path(),
            read,
            answers_counted: 40,
            documents_min: 3,
            documents_max,
            per_1000_documents_ms: Some(Percentiles {
                p95: 12.0,
                ..Percentiles::default()
            }),
            paging_ignored,
        };
        let page = ListRead::Page {
            param: "limit".into(),
            size: 100,
        };
        let text = list_rule(&list(page.clone(), 100, false));
        assert!(
            text.starts_with("read one page (/data?limit=100)")
                && text.ends_with("judged like any route"),
            "{text}"
        );
        assert!(text.contains("answers of 3..100 documents;"), "{text}");
        let text = list_rule(&list(page, 700, true));
        assert!(text.contains("ignored the page size 100"), "{text}");
        let text = list_rule(&list(ListRead::Whole, 700, false));
        assert!(text.contains("judges it per 1,000 documents"), "{text}");
        assert!(text.contains("p95 12.00 ms per 1,000 documents"), "{text}");
    }
}
