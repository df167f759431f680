//! Turns results into what people and tools read. Logic never prints; it returns data that
//! these renderers format.

pub mod api;
pub mod cluster;
pub mod html;
pub mod image;
pub mod lint;
pub mod load;
pub mod local;
pub mod metrics;

use std::fmt::Write as _;

use crate::findings::{Finding, Severity};

/// Escapes text for XML attribute values and element content.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A duration in seconds with one decimal, as the console and the HTML page show it.
pub fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// `text` in the ANSI colour `code` when `colour`, else as it is.
fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// How many findings are errors, warnings and notes, in that order.
fn severity_counts(findings: &[Finding]) -> (usize, usize, usize) {
    let of = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    (
        of(Severity::Error),
        of(Severity::Warning),
        of(Severity::Info),
    )
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// A finding as the human reports show it: `lead` (the line number, where there is one), its
/// severity, rule, object and message, then its fix on a line indented by `fix_indent`.
fn write_finding(out: &mut String, lead: &str, fix_indent: usize, f: &Finding, colour: bool) {
    let severity = match f.severity {
        Severity::Error => paint(colour, "31", "error  "),
        Severity::Warning => paint(colour, "33", "warning"),
        Severity::Info => paint(colour, "36", "info   "),
    };
    let _ = writeln!(
        out,
        "  {lead}{severity}  {}  {}: {}",
        f.rule, f.object, f.message
    );
    let fix = paint(colour, "2", &format!("fix: {}", f.hint));
    let _ = writeln!(out, "{:fix_indent$}{fix}", "");
}

/// The closing line of the human reports: `no findings`, or the count of each severity.
fn findings_summary(findings: &[Finding], colour: bool) -> String {
    if findings.is_empty() {
        return paint(colour, "32", "no findings");
    }
    let (errors, warnings, infos) = severity_counts(findings);
    format!(
        "{}, {}, {}",
        plural(errors, "error"),
        plural(warnings, "warning"),
        plural(infos, "note")
    )
}

/// A rolling restart that only warned, after 48.14 s: its `detail`, and its one `advice`.
#[cfg(test)]
fn warned_rolling(detail: &str, advice: &str) -> crate::scenario::ScenarioOutcome {
    let mut outcome = crate::scenario::ScenarioOutcome::from_findings(
        "rolling",
        detail.into(),
        Vec::new(),
        vec![advice.into()],
    );
    outcome.duration_ms = 48_140;
    outcome
}

/// Asserts that `text` holds each of `parts`, showing the whole text where one is missing.
#[cfg(test)]
fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is missing from:\n{text}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            super::xml_escape("a<b>&\"'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}\n"
        );
    }
}
