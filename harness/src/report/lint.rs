//! Renders lint findings: human text, JSON, JUnit XML, SARIF 2.1.0.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use super::{findings_summary, paint, plural, severity_counts, write_finding, xml_escape};
use crate::findings::{Finding, Rule, Severity};

/// What was read, for the summary line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scope {
    pub objects: usize,
    pub dockerfiles: usize,
}

/// Findings grouped by file, each with its hint, then one summary line.
pub fn human(findings: &[Finding], scope: Scope, colour: bool) -> String {
    let mut out = String::new();
    let mut by_origin: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for finding in findings {
        by_origin.entry(&finding.origin).or_default().push(finding);
    }
    for (origin, findings) in by_origin {
        let _ = writeln!(out, "{}", paint(colour, "1", origin));
        for f in findings {
            write_finding(&mut out, &format!("{:>5}  ", f.line), 24, f, colour);
        }
    }
    let _ = writeln!(
        out,
        "{} ({} and {} read)",
        findings_summary(findings, colour),
        plural(scope.objects, "object"),
        plural(scope.dockerfiles, "Dockerfile")
    );
    out
}

pub fn json(findings: &[Finding], scope: Scope) -> String {
    let (errors, warnings, infos) = severity_counts(findings);
    let value = json!({
        "findings": findings,
        "summary": {
            "errors": errors,
            "warnings": warnings,
            "infos": infos,
            "objects": scope.objects,
            "dockerfiles": scope.dockerfiles,
        },
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// One test case per rule: CI dashboards then list what was checked, not only what failed,
/// and each failure carries the full text of every finding of its rule.
pub fn junit(findings: &[Finding], rules: &[&Rule]) -> String {
    junit_by_rule("lint", "lint", findings, rules, |f| {
        format!("{}:{} ", f.origin, f.line)
    })
}

/// The JUnit document `lint` and `image` share: suite `deploycheck COMMAND` holding `suite`,
/// one test case of class `command` per rule, each finding's text led by its `location`.
pub(super) fn junit_by_rule(
    command: &str,
    suite: &str,
    findings: &[Finding],
    rules: &[&Rule],
    location: impl Fn(&Finding) -> String,
) -> String {
    let failures = rules
        .iter()
        .filter(|r| findings.iter().any(|f| f.rule == r.id))
        .count();
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"deploycheck {command}\" tests=\"{}\" failures=\"{failures}\">",
        rules.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
        xml_escape(suite),
        rules.len()
    );
    for rule in rules {
        let mine: Vec<&Finding> = findings.iter().filter(|f| f.rule == rule.id).collect();
        let name = xml_escape(&format!("{} {}", rule.id, rule.why));
        if mine.is_empty() {
            let _ = writeln!(
                out,
                "    <testcase classname=\"{command}\" name=\"{name}\"/>"
            );
            continue;
        }
        let _ = writeln!(
            out,
            "    <testcase classname=\"{command}\" name=\"{name}\">"
        );
        let text: String = mine
            .iter()
            .map(|f| {
                format!(
                    "{}{} {}: {}\nfix: {}\n",
                    location(f),
                    f.severity.as_str(),
                    f.object,
                    f.message,
                    f.hint
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "      <failure message=\"{}\" type=\"{}\">{}</failure>",
            xml_escape(&format!("{} finding(s): {}", mine.len(), mine[0].message)),
            rule.severity.as_str(),
            xml_escape(&text)
        );
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// SARIF 2.1.0, as GitHub code scanning reads it.
pub fn sarif(findings: &[Finding], rules: &[&Rule]) -> String {
    let level = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    let rule_index: BTreeMap<&str, usize> =
        rules.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
    let value = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "deploycheck",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|r| json!({
                    "id": r.id,
                    "shortDescription": {"text": r.why},
                    "help": {"text": r.hint},
                    "defaultConfiguration": {"level": level(r.severity)},
                })).collect::<Vec<_>>(),
            }},
            "results": findings.iter().map(|f| json!({
                "ruleId": f.rule,
                "ruleIndex": rule_index.get(f.rule),
                "level": level(f.severity),
                "message": {"text": format!("{}: {} (fix: {})", f.object, f.message, f.hint)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.origin.trim_end_matches(" (kustomize)")},
                    "region": {"startLine": f.line.max(1)},
                }}],
            })).collect::<Vec<_>>(),
        }],
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint;
    use crate::report::assert_contains_all;

    fn sample() -> Vec<Finding> {
        let rule = lint::catalogue()[0];
        vec![Finding {
            rule: rule.id,
            severity: rule.severity,
            origin: "k8s/app.yaml".into(),
            line: 12,
            object: "Deployment/web".into(),
            message: "container `web` MONGODB_HOST: `localhost` <is> the app's own pod".into(),
            hint: rule.hint,
        }]
    }

    #[test]
    fn human_groups_by_file_and_summarises() {
        let text = human(
            &sample(),
            Scope {
                objects: 3,
                dockerfiles: 1,
            },
            false,
        );
        assert!(text.starts_with("k8s/app.yaml\n"), "{text}");
        assert_contains_all(
            &text,
            &[
                "     12  error    DC001  Deployment/web: container",
                "fix: set the host",
            ],
        );
        assert!(
            text.ends_with("1 error, 0 warnings, 0 notes (3 objects and 1 Dockerfile read)\n"),
            "{text}"
        );
        let clean = human(
            &[],
            Scope {
                objects: 2,
                dockerfiles: 0,
            },
            false,
        );
        assert_eq!(clean, "no findings (2 objects and 0 Dockerfiles read)\n");
        assert!(human(&sample(), Scope::default(), true).contains("\x1b[31m"));
    }

    #[test]
    fn junit_has_a_case_per_rule_and_the_failure_text() {
        let rules = lint::catalogue();
        let xml = junit(&sample(), &rules);
        assert!(
            xml.contains(&format!("tests=\"{}\" failures=\"1\"", rules.len())),
            "{xml}"
        );
        assert!(
            xml.contains("k8s/app.yaml:12 error Deployment/web"),
            "{xml}"
        );
        assert!(xml.contains("&lt;is&gt;"), "escaped: {xml}");
        assert_eq!(xml.matches("<testcase ").count(), rules.len());
    }

    #[test]
    fn sarif_points_at_file_and_line() {
        let rules = lint::catalogue();
        let value: serde_json::Value = serde_json::from_str(&sarif(&sample(), &rules)).unwrap();
        let result = &value["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "DC001");
        assert_eq!(result["level"], "error");
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "k8s/app.yaml");
        assert_eq!(location["region"]["startLine"], 12);
        assert_eq!(
            value["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            rules.len()
        );
    }

    #[test]
    fn json_is_parseable_with_a_summary() {
        let value: serde_json::Value =
            serde_json::from_str(&json(&sample(), Scope::default())).unwrap();
        assert_eq!(value["summary"]["errors"], 1);
        assert_eq!(value["findings"][0]["line"], 12);
    }
}
