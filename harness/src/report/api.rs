//! Renders `deploycheck api` outcomes: human text with the evidence of each failure, or JSON.

use std::fmt::Write as _;

use crate::api::{Outcome, Verdict};

pub fn human(outcomes: &[Outcome], base_url: &str, colour: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    };
    let mut out = format!("API contract of {base_url}\n");
    for o in outcomes {
        let mark = match o.verdict {
            Verdict::Pass => paint("32", "PASS"),
            Verdict::Fail => paint("31", "FAIL"),
            Verdict::Skip => paint("33", "SKIP"),
        };
        let _ = writeln!(out, "  {mark}  {}  ({} ms)", o.check, o.elapsed_ms);
        match o.verdict {
            Verdict::Pass => {}
            Verdict::Skip => {
                let _ = writeln!(out, "        skipped: {}", o.detail);
            }
            Verdict::Fail => {
                let _ = writeln!(out, "        why:      {}", o.detail);
                let _ = writeln!(out, "        sent:     {}", o.sent);
                let _ = writeln!(out, "        received: {}", o.received);
                let _ = writeln!(out, "        hint:     {}", o.hint);
            }
        }
    }
    let count = |v: Verdict| outcomes.iter().filter(|o| o.verdict == v).count();
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped",
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Skip)
    );
    out
}

pub fn json(outcomes: &[Outcome], base_url: &str) -> String {
    let value = serde_json::json!({ "url": base_url, "checks": outcomes });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}
