//! Renders a metrics report: human text (the rules' findings with their fixes, then the
//! request counter's verdict), JSON, JUnit XML and SARIF, the last two shared with `lint`.

use std::fmt::Write as _;

use serde_json::json;

use super::{findings_summary, paint, severity_counts, write_finding};
use crate::findings::{Finding, Rule};
use crate::metrics::{MetricsReport, Verdict};

/// The source and what it held, each finding with its fix, the counter's verdict, a summary.
pub fn human(report: &MetricsReport, colour: bool) -> String {
    let mut out = String::new();
    let held = match report.format {
        Some(format) => format!(
            "{format}, {} families, {} samples",
            report.families, report.samples
        ),
        None => "no exposition".to_string(),
    };
    let _ = writeln!(out, "{}  {held}", paint(colour, "1", &report.source));
    let rule_findings: Vec<Finding> = report.rule_findings().cloned().collect();
    for f in &rule_findings {
        write_finding(&mut out, &format!("{:>5}  ", f.line), 24, f, colour);
    }
    let counter = &report.counter;
    let verdict = match counter.verdict {
        Verdict::Pass => paint(colour, "32", "PASS"),
        Verdict::Fail => paint(colour, "31", "FAIL"),
        Verdict::Skip => paint(colour, "33", "SKIP"),
    };
    let named = if counter.counter.is_empty() {
        String::new()
    } else {
        format!(" `{}`", counter.counter)
    };
    let _ = writeln!(out, "request counter{named}: {verdict}  {}", counter.detail);
    // The counter's failure is a DM020 error: counted here, so the summary agrees with the
    // exit code.
    let _ = writeln!(out, "{}", findings_summary(&report.findings, colour));
    out
}

pub fn json(report: &MetricsReport) -> String {
    let (errors, warnings, infos) = severity_counts(&report.findings);
    let value = json!({
        "source": report.source,
        "format": report.format,
        "families": report.families,
        "samples": report.samples,
        "findings": report.findings,
        "counter": report.counter,
        "summary": {
            "errors": errors,
            "warnings": warnings,
            "infos": infos,
        },
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// One test case per rule checked, as `lint` and `image` do.
pub fn junit(report: &MetricsReport, rules: &[&Rule]) -> String {
    super::lint::junit_by_rule("metrics", &report.source, &report.findings, rules, |f| {
        format!("{}:{} ", f.origin, f.line)
    })
}

/// SARIF 2.1.0 with the exposition's URL or file as the artifact.
pub fn sarif(report: &MetricsReport, rules: &[&Rule]) -> String {
    super::lint::sarif(&report.findings, rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics;
    use crate::report::assert_contains_all;

    fn broken() -> MetricsReport {
        metrics::check_text(
            "# TYPE requests counter\nrequests 3\nlatency_ms 1 <x>\n",
            "saved.prom",
        )
    }

    fn reported() -> MetricsReport {
        metrics::check_text(
            "# TYPE requests counter\nrequests 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n",
            "saved.prom",
        )
    }

    #[test]
    fn human_shows_findings_with_fixes_the_counter_and_a_summary() {
        let text = human(&reported(), false);
        assert!(
            text.starts_with("saved.prom  Prometheus text 0.0.4, 2 families, 2 samples\n"),
            "{text}"
        );
        assert_contains_all(
            &text,
            &[
                "      1  warning  DM002  requests: no help text",
                "      2  warning  DM003  requests: counter metrics should have \"_total\" suffix",
                "fix: give every metric a HELP text",
                "request counter: SKIP  a saved exposition is checked by its text only",
            ],
        );
        assert!(text.ends_with("0 errors, 2 warnings, 0 notes\n"), "{text}");
        let unparsed = human(&broken(), false);
        assert_contains_all(
            &unparsed,
            &["saved.prom  no exposition", "3  error    DM001"],
        );
    }

    #[test]
    fn json_carries_findings_counter_and_summary() {
        let value: serde_json::Value = serde_json::from_str(&json(&reported())).unwrap();
        assert_eq!(value["summary"]["warnings"], 2);
        assert_eq!(value["findings"][0]["rule"], "DM002");
        assert_eq!(value["counter"]["verdict"], "skip");
        assert_eq!(value["format"], "Prometheus text 0.0.4");
    }

    #[test]
    fn junit_and_sarif_list_the_rules_checked() {
        let report = reported();
        let rules = report.catalogue();
        let xml = junit(&report, &rules);
        assert!(
            xml.contains(&format!("tests=\"{}\" failures=\"2\"", rules.len())),
            "{xml}"
        );
        assert!(xml.contains("saved.prom:2 warning requests"), "{xml}");
        let value: serde_json::Value = serde_json::from_str(&sarif(&report, &rules)).unwrap();
        let results = value["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(
            results[1]["locations"][0]["physicalLocation"]["region"]["startLine"],
            2
        );
    }
}
