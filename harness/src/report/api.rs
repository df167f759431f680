//! Renders `deploycheck api` outcomes: human text with the evidence of each failure, or JSON.

use std::fmt::Write as _;

use crate::api::{Outcome, Verdict};

pub fn human(outcomes: &[Outcome], base_url: &str, colour: bool) -> String {
    let paint = |code: &str, text: &str| super::paint(colour, code, text);
    let mut out = format!("API contract of {base_url}\n");
    for o in outcomes {
        let mark = match o.verdict {
            Verdict::Pass => paint("32", "PASS"),
            Verdict::Warn => paint("35", "WARN"),
            Verdict::Fail => paint("31", "FAIL"),
            Verdict::Skip => paint("33", "SKIP"),
        };
        let _ = writeln!(out, "  {mark}  {}  ({} ms)", o.check, o.elapsed_ms);
        match o.verdict {
            Verdict::Pass => {}
            Verdict::Skip => {
                let _ = writeln!(out, "        skipped: {}", o.detail);
            }
            Verdict::Warn => {
                let _ = writeln!(out, "        advice:   {}", o.detail);
                let _ = writeln!(out, "        hint:     {}", o.hint);
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
    // No contract check warns today; the count appears once one does, so the usual line stays.
    let warned = match count(Verdict::Warn) {
        0 => String::new(),
        n => format!("{n} warned, "),
    };
    let _ = writeln!(
        out,
        "{} passed, {warned}{} failed, {} skipped",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::assert_contains_all;

    fn outcome(check: &'static str, verdict: Verdict) -> Outcome {
        Outcome {
            check,
            verdict,
            detail: "the greeting has no time zone".into(),
            sent: "GET /".into(),
            received: "200 Welcome".into(),
            hint: "add an offset or Z",
            elapsed_ms: 3,
        }
    }

    #[test]
    fn a_warning_shows_its_advice_and_is_counted_only_when_present() {
        let text = human(
            &[
                outcome("greeting", Verdict::Warn),
                outcome("health", Verdict::Pass),
            ],
            "http://127.0.0.1:5000",
            false,
        );
        assert_contains_all(
            &text,
            &[
                "  WARN  greeting  (3 ms)\n",
                "        advice:   the greeting has no time zone\n",
            ],
        );
        assert!(
            text.ends_with("1 passed, 1 warned, 0 failed, 0 skipped\n"),
            "{text}"
        );
        let clean = human(&[outcome("health", Verdict::Pass)], "u", false);
        assert!(
            clean.ends_with("1 passed, 0 failed, 0 skipped\n"),
            "{clean}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&json(&[outcome("greeting", Verdict::Warn)], "u")).unwrap();
        assert_eq!(json["checks"][0]["verdict"], "warn");
    }
}
