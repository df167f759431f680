//! Renders a [`CheckReport`]: console lines as scenarios finish, a summary, JUnit XML (one test
//! case per scenario, with the failure text and diagnostics inside) and JSON. A warning is a
//! passed test case in JUnit: the requirement held, and CI should not go red unless `--strict`
//! says so (the exit code carries that).

use super::{seconds, xml_escape};
use crate::api::Verdict;
use crate::check::{CheckReport, Event};
use crate::cluster::safety::Destructive;
use crate::scenario::ScenarioOutcome;

fn mark(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Warn => "WARN",
        Verdict::Fail => "FAIL",
        Verdict::Skip => "SKIP",
    }
}

/// Progress as it happens: a banner, each scenario as it starts and ends, the cleanup.
pub fn event(event: &Event<'_>) -> String {
    match event {
        Event::Started {
            context,
            namespace,
            deploying,
            destructive,
        } => {
            let mut text = format!(
                "deploycheck check: context {context}, namespace {namespace}{}\n",
                if *deploying {
                    " (created for this run)"
                } else {
                    ""
                }
            );
            if let Destructive::Refused(reason) = destructive {
                text.push_str(&format!(
                    "destructive scenarios will be skipped: {reason}\n"
                ));
            }
            text
        }
        Event::Preflight(findings) => findings
            .iter()
            .map(|finding| format!("preflight: {finding}\n"))
            .collect(),
        Event::Running(id) => format!("...   {id}\n"),
        Event::Finished(outcome) => line(outcome),
        Event::Interrupted => {
            "interrupted: stopping the scenarios and cleaning up (interrupt again to skip the \
             cleanup)\n"
                .into()
        }
        Event::CleaningUp(namespace) => format!("cleaning up {namespace}\n"),
    }
}

/// One scenario, as printed when it finishes.
pub fn line(outcome: &ScenarioOutcome) -> String {
    let mut text = format!(
        "{}  {:<12} {}  ({})\n      {}\n",
        mark(outcome.verdict),
        outcome.id,
        outcome.title,
        seconds(outcome.duration_ms),
        outcome.detail
    );
    if outcome.mismatches.len() > 1 {
        for mismatch in &outcome.mismatches {
            text.push_str(&format!("      - {mismatch}\n"));
        }
    }
    // A warning's detail already ends with its one piece of advice; anything more is listed.
    if outcome.verdict != Verdict::Warn || outcome.advice.len() > 1 {
        for advice in &outcome.advice {
            text.push_str(&format!("      advice: {advice}\n"));
        }
    }
    if let Some(ms) = outcome.recovery_ms {
        text.push_str(&format!("      recovery: {ms} ms\n"));
    }
    if let Some(requests) = &outcome.requests {
        text.push_str(&format!(
            "      requests: {} sent, {} failed, p95 {:.1} ms\n",
            requests.requests, requests.failed, requests.p95_ms
        ));
    }
    if !outcome.timeline.is_empty() {
        text.push_str(
            "      t(s)  replicas  desired  cpu%   req/s    p95(ms)  failed  connections\n",
        );
        for p in &outcome.timeline {
            text.push_str(&format!(
                "      {:>4.0}  {:>8}  {:>7}  {:>4}  {:>7.0}  {:>8.1}  {:>6}  {:>11}\n",
                p.seconds,
                p.replicas,
                p.desired,
                p.cpu_percent.map_or("?".into(), |c| c.to_string()),
                p.rps,
                p.p95_ms,
                p.failed,
                p.connections.map_or("-".into(), |c| c.to_string())
            ));
        }
    }
    if let Some(diagnostics) = &outcome.diagnostics {
        for line in diagnostics.lines() {
            text.push_str(&format!("      | {line}\n"));
        }
    }
    text
}

/// The closing summary.
pub fn summary(report: &CheckReport) -> String {
    let count = |v| report.scenarios.iter().filter(|s| s.verdict == v).count();
    let mut text = format!(
        "\n{} passed, {} warned, {} failed, {} skipped in {:.0} s (context {}, namespace {})\n",
        count(Verdict::Pass),
        count(Verdict::Warn),
        count(Verdict::Fail),
        count(Verdict::Skip),
        report.seconds,
        report.context,
        report.namespace
    );
    if report.interrupted {
        text.push_str("interrupted before the scenarios finished\n");
    }
    if let Some(restarts) = report.restart_summary() {
        text.push_str(&format!("{restarts}\n"));
    }
    text.push_str(&format!("cleanup: {}\n", report.cleanup));
    text
}

pub fn json(report: &CheckReport) -> String {
    serde_json::to_string_pretty(report).expect("reports serialize") + "\n"
}

pub fn junit(report: &CheckReport) -> String {
    let count = |v| report.scenarios.iter().filter(|s| s.verdict == v).count();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"deploycheck cluster\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        report.scenarios.len(),
        count(Verdict::Fail),
        count(Verdict::Skip),
        report.seconds
    );
    for outcome in &report.scenarios {
        xml.push_str(&format!(
            "    <testcase classname=\"cluster\" name=\"{}: {}\" time=\"{:.3}\">\n",
            xml_escape(outcome.id),
            xml_escape(outcome.title),
            outcome.duration_ms as f64 / 1000.0
        ));
        match outcome.verdict {
            Verdict::Fail => xml.push_str(&format!(
                "      <failure message=\"{}\">{}</failure>\n",
                xml_escape(&outcome.detail),
                xml_escape(&line(outcome))
            )),
            Verdict::Skip => xml.push_str(&format!(
                "      <skipped message=\"{}\"/>\n",
                xml_escape(&outcome.detail)
            )),
            // JUnit has no warning: a passed case whose output (below) carries the advice.
            Verdict::Pass | Verdict::Warn => {}
        }
        xml.push_str(&format!(
            "      <system-out>{}</system-out>\n    </testcase>\n",
            xml_escape(&line(outcome))
        ));
    }
    xml.push_str(&format!(
        "    <system-out>{}</system-out>\n  </testsuite>\n</testsuites>\n",
        xml_escape(&summary(report))
    ));
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{assert_contains_all, warned_rolling};

    /// A stack whose app has no graceful shutdown, under a profile that only advises it.
    fn warned() -> ScenarioOutcome {
        warned_rolling(
            "app restarted in 41200 ms",
            "2 of 140 requests failed: add a preStop pause",
        )
    }

    fn report() -> CheckReport {
        let mut deploy = ScenarioOutcome::pass("deploy", "rolled out");
        deploy.duration_ms = 15_234;
        let mut failed = ScenarioOutcome::fail("replicas", "deleted app-a; no replacement <ready>");
        failed.diagnostics = Some("hint: the image cannot be pulled".into());
        failed.duration_ms = 180_500;
        CheckReport {
            context: "kind-kind".into(),
            namespace: "deploycheck-abc123".into(),
            deployed: true,
            scenarios: vec![
                deploy,
                failed,
                ScenarioOutcome::skip("hpa", "no metrics"),
                warned(),
            ],
            cleanup: "deleted namespace `deploycheck-abc123`".into(),
            interrupted: false,
            seconds: 42.0,
            restarts: Vec::new(),
        }
    }

    #[test]
    fn junit_has_one_case_per_scenario_with_the_failure_text_and_diagnostics() {
        let xml = junit(&report());
        assert_eq!(xml.matches("<testcase ").count(), 4);
        assert_contains_all(
            &xml,
            &[
                "tests=\"4\" failures=\"1\" skipped=\"1\" time=\"42.000\"",
                "<failure message=\"deleted app-a; no replacement &lt;ready&gt;\">",
                "hint: the image cannot be pulled",
                "<skipped message=\"no metrics\"/>",
            ],
        );
    }

    #[test]
    fn junit_times_each_case_and_keeps_a_warning_as_a_pass_with_its_advice() {
        let xml = junit(&report());
        assert_contains_all(
            &xml,
            &[
                "name=\"deploy: the stack rolls out\" time=\"15.234\">",
                "name=\"hpa: the HPA scales up under load\" time=\"0.000\">",
            ],
        );
        let case = xml.split("<testcase ").nth(4).unwrap();
        assert!(
            case.starts_with("classname=\"cluster\" name=\"rolling: "),
            "{case}"
        );
        assert!(case.contains(" time=\"48.140\">"), "{case}");
        assert!(
            !case.contains("<failure") && !case.contains("<skipped"),
            "{case}"
        );
        assert_contains_all(
            case,
            &[
                "<system-out>WARN  rolling ",
                "advice: 2 of 140 requests failed: add a preStop pause",
            ],
        );
    }

    #[test]
    fn a_line_shows_the_verdict_the_duration_and_the_advice() {
        assert_eq!(
            line(&report().scenarios[0]),
            "PASS  deploy       the stack rolls out  (15.2 s)\n      rolled out\n"
        );
        assert_eq!(
            line(&warned()),
            "WARN  rolling      a rolling restart fails no request  (48.1 s)\n      app restarted in \
             41200 ms; advice: 2 of 140 requests failed: add a preStop pause\n"
        );
        // Several pieces of advice, or advice next to a failure, are listed one per line.
        let failed = ScenarioOutcome::from_findings(
            "rolling",
            "restarted".into(),
            vec!["the restart did not finish".into()],
            vec!["add a preStop pause".into()],
        );
        let text = line(&failed);
        assert!(text.starts_with("FAIL  rolling "), "{text}");
        assert!(
            text.ends_with("      advice: add a preStop pause\n"),
            "{text}"
        );
    }

    #[test]
    fn progress_says_where_it_runs_and_what_will_be_skipped() {
        let refused = Destructive::Refused("context `gke` does not look local".into());
        let text = event(&Event::Started {
            context: "gke",
            namespace: "shop",
            deploying: false,
            destructive: &refused,
        });
        assert_eq!(
            text,
            "deploycheck check: context gke, namespace shop\ndestructive scenarios will be skipped: context `gke` does not look local\n"
        );
        assert_eq!(event(&Event::Running("hpa")), "...   hpa\n");
    }

    #[test]
    fn preflight_notes_and_hints_are_one_line_each() {
        let mut manifests = vec![
            serde_json::json!({"kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": [{"port": 80, "nodePort": 30500}]}}),
        ];
        let mut findings = crate::preflight::clear_node_ports(&mut manifests);
        let pod = [serde_json::json!({"kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app", "image": "web:1"}]}})];
        let facts = crate::preflight::Facts {
            context: "kind-kind".into(),
            nodes: Some(crate::preflight::Read::Answered(vec![
                crate::cluster::NodeInfo {
                    images: vec!["docker.io/library/mongo:7.0".into()],
                    ..Default::default()
                },
            ])),
            ..Default::default()
        };
        findings.extend(crate::preflight::judge(
            &crate::preflight::wanted(&pod),
            &facts,
        ));
        assert_eq!(
            event(&Event::Preflight(&findings)),
            "preflight: Service web: nodePort 30500 (spec.ports[0]) cleared (--node-ports auto); \
             the API server allocates a free one\n\
             preflight: hint: image web:1 (Pod p, container app; imagePullPolicy IfNotPresent) is \
             on no node: the kubelet will pull it from its registry, and its pods will not start \
             if it cannot; load it with `kind load docker-image web:1 --name kind`\n"
        );
    }

    #[test]
    fn the_summary_counts_and_says_what_cleanup_did() {
        let text = summary(&report());
        assert!(
            text.contains("1 passed, 1 warned, 1 failed, 1 skipped in 42 s"),
            "{text}"
        );
        assert!(text.contains("cleanup: deleted namespace"), "{text}");
        // Scenarios ran after deploy, so restarts were watched: none is a statement too.
        assert!(text.contains("\nrestarts: 0\ncleanup:"), "{text}");
        let mut undeployed = report();
        undeployed.scenarios.truncate(1);
        assert!(!summary(&undeployed).contains("restarts:"));
    }

    #[test]
    fn json_carries_verdicts_advice_and_durations() {
        let parsed: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(parsed["scenarios"][1]["verdict"], "fail");
        let warned = &parsed["scenarios"][3];
        assert_eq!(warned["verdict"], "warn");
        assert_eq!(
            warned["advice"][0],
            "2 of 140 requests failed: add a preStop pause"
        );
        assert_eq!(warned["duration_ms"], 48_140);
        assert_eq!(parsed["scenarios"][2]["duration_ms"], 0);
    }
}
