//! `deploycheck metrics`: the real reference service's exposition is clean and its request
//! counter counts; each broken exposition fires exactly its rule; apps whose counter never
//! moves, double counts or is missing fail for that reason; `api` carries the same checks,
//! skipped when the profile names no metrics route; `lint --metrics` refuses a bad sample.

#[path = "support/candidate_app.rs"]
mod candidate_app;
#[path = "support/deploycheck_process.rs"]
mod deploycheck_process;
#[path = "support/output.rs"]
mod output;
#[path = "support/reference_service.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use deploycheck::metrics;
use deploycheck_process::deploycheck_within;
use output::{assert_contains_all, assert_exit_saying, text};
use serde::Deserialize;
use serde_json::Value;

async fn deploycheck(args: &[&str]) -> Output {
    deploycheck_within(Duration::from_secs(120), args).await
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metrics")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

fn rules_fired(findings: &[deploycheck::findings::Finding]) -> BTreeSet<String> {
    findings.iter().map(|f| f.rule.to_string()).collect()
}

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    what: String,
    #[serde(default = "default_file")]
    file: String,
    replace: String,
    with: String,
    expect: BTreeSet<String>,
}

fn default_file() -> String {
    "good.prom".into()
}

#[test]
fn the_correct_expositions_raise_nothing() {
    for file in ["good.prom", "good.openmetrics"] {
        let findings = metrics::check(&fixture(file), file);
        assert!(findings.is_empty(), "{file}: {findings:#?}");
    }
}

#[test]
fn every_rule_fires_on_its_mistake_and_only_there() {
    let cases: Cases = toml::from_str(&fixture("broken.toml")).unwrap();
    let mut covered = BTreeSet::new();
    for case in cases.case {
        let good = fixture(&case.file);
        assert!(
            good.contains(&case.replace),
            "{}: `{}` is not in {}",
            case.what,
            case.replace,
            case.file
        );
        let broken = good.replace(&case.replace, &case.with);
        let findings = metrics::check(&broken, &case.file);
        assert_eq!(
            rules_fired(&findings),
            case.expect,
            "{}:\n{findings:#?}",
            case.what
        );
        assert!(
            findings.iter().all(|f| f.line > 0),
            "{}: a finding without a line",
            case.what
        );
        covered.extend(case.expect);
    }
    let catalogue: BTreeSet<String> = metrics::static_catalogue()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    let uncovered: Vec<&String> = catalogue.difference(&covered).collect();
    assert!(uncovered.is_empty(), "rules without a case: {uncovered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_service_is_clean_and_its_counter_counts_exactly_the_requests() {
    let url = support::reference_service("metrics").await;
    let out = deploycheck(&[
        "--profile",
        "reference",
        "metrics",
        "--url",
        &format!("{url}/metrics"),
        "--format",
        "json",
    ])
    .await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["findings"], Value::Array(vec![]), "{report:#}");
    assert_eq!(report["format"], "OpenMetrics 1.0");
    let counter = &report["counter"];
    assert_eq!(counter["verdict"], "pass", "{counter:#}");
    assert_eq!(counter["counter"], "http_requests_total");
    assert_eq!(counter["sent"], 20);
    // Judged on `route="/"`, where nothing but our requests arrives: exactly 20.
    assert_eq!(counter["rose"], 20.0, "{counter:#}");
    assert!(
        counter["detail"].as_str().unwrap().contains("route=\"/\""),
        "{counter:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_without_a_path_gets_the_profiles_metrics_route_and_reports_as_sarif_and_junit() {
    let url = support::reference_service("metrics_sarif").await;
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("out/metrics.sarif");
    let junit = dir.path().join("out/metrics.xml");
    let out = deploycheck(&[
        "--profile",
        "reference",
        "metrics",
        "--url",
        &url,
        "--requests",
        "5",
        "--sarif",
        sarif.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ])
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert_contains_all(
        &stdout,
        &[
            &format!("{url}/metrics  OpenMetrics 1.0"),
            "request counter `http_requests_total`: PASS  `http_requests_total` rose by 5 after 5 requests to `/`",
            "no findings",
        ],
    );
    let sarif: Value = serde_json::from_str(&std::fs::read_to_string(sarif).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"], Value::Array(vec![]));
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        metrics::catalogue().len()
    );
    let junit = std::fs::read_to_string(junit).unwrap();
    assert!(
        junit.contains(&format!(
            "tests=\"{}\" failures=\"0\"",
            metrics::catalogue().len()
        )),
        "{junit}"
    );
}

/// An app on `GET /` whose `/metrics` shows a request counter that rises by `step` per request
/// to `/` (0: never).
async fn app_counting(step: u64) -> String {
    let count = Arc::new(AtomicU64::new(5));
    let counted = count.clone();
    let router = Router::new()
        .route(
            "/",
            get(move || {
                counted.fetch_add(step, Ordering::SeqCst);
                async { "hi" }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let value = count.load(Ordering::SeqCst);
                async move {
                    format!(
                        "# HELP http_requests_total Requests.\n\
                         # TYPE http_requests_total counter\n\
                         http_requests_total{{path=\"/\"}} {value}\n"
                    )
                }
            }),
        );
    candidate_app::serve(router).await
}

async fn metrics_json(url: &str, extra: &[&str]) -> (Output, Value) {
    let mut args = vec![
        "--profile",
        "reference",
        "metrics",
        "--url",
        url,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = deploycheck(&args).await;
    let report = json_of(&out);
    (out, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_that_never_moves_fails_with_its_fix() {
    let url = app_counting(0).await;
    let (out, report) = metrics_json(&format!("{url}/metrics"), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let counter = &report["counter"];
    assert_eq!(counter["verdict"], "fail");
    let detail = counter["detail"].as_str().unwrap();
    assert!(
        detail
            .starts_with("the counter `http_requests_total` did not move after 20 requests to `/`"),
        "{detail}"
    );
    assert!(detail.contains("middleware"), "{detail}");
    // The exposition itself is clean: the counter is the one failure, as DM020.
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["DM020"], "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_that_counts_each_request_twice_fails() {
    let url = app_counting(2).await;
    let (out, report) = metrics_json(&format!("{url}/metrics"), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let detail = report["counter"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("rose by 40 after 20 requests to `/`"),
        "{detail}"
    );
    assert!(detail.contains("more than once"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_counts_right_passes_even_with_its_own_counter_name() {
    let url = app_counting(1).await;
    let (out, report) = metrics_json(
        &format!("{url}/metrics"),
        &["--counter", "http_requests_total"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["counter"]["rose"], 20.0, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_the_app_does_not_have_is_named_with_the_ones_it_has() {
    let url = app_counting(1).await;
    let (out, report) = metrics_json(
        &format!("{url}/metrics"),
        &["--counter", "flask_http_request_total"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let detail = report["counter"]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("the counter `flask_http_request_total` is not in the exposition, which has `http_requests_total`"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_route_that_is_not_there_is_dm001_and_no_counter_check() {
    let url = app_counting(1).await;
    let (out, report) = metrics_json(&format!("{url}/prometheus"), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    let finding = &report["findings"][0];
    assert_eq!(finding["rule"], "DM001");
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("answered 404 Not Found"),
        "{finding:#}"
    );
    assert_eq!(report["counter"]["verdict"], "skip");
}

#[tokio::test]
async fn an_unreachable_url_is_a_usage_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = deploycheck(&[
        "metrics",
        "--url",
        &format!("http://127.0.0.1:{port}/metrics"),
    ])
    .await;
    assert_exit_saying(&out, 2, "nothing was checked");
}

#[tokio::test]
async fn a_url_without_a_path_under_a_profile_without_a_metrics_route_is_a_usage_error() {
    // Checked before anything is sent: the address below need not answer.
    let out = deploycheck(&[
        "--profile",
        "flask-mongo",
        "metrics",
        "--url",
        "http://127.0.0.1:1",
    ])
    .await;
    assert_exit_saying(
        &out,
        2,
        "give the whole URL, e.g. --url http://127.0.0.1:1/metrics",
    );
}

#[tokio::test]
async fn a_saved_file_is_checked_by_its_text_and_fails_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.prom");
    std::fs::write(
        &file,
        fixture("good.prom").replace(
            "db_errors_total{operation=\"insert\"} 0",
            "db_errors_total{operation=\"insert\"} -1",
        ),
    )
    .unwrap();
    let out = deploycheck(&["metrics", "--file", file.to_str().unwrap()]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_contains_all(
        &stdout,
        &[
            "DM014  db_errors_total: counter sample `db_errors_total`{operation=\"insert\"} is -1",
            "request counter: SKIP  a saved exposition is checked by its text only",
            "1 error, 0 warnings, 0 notes",
        ],
    );
    // Warnings pass by default and fail with --fail-on warning.
    let warned = dir.path().join("warned.prom");
    std::fs::write(
        &warned,
        fixture("good.prom").replace("db_errors_total", "db_errors"),
    )
    .unwrap();
    let out = deploycheck(&["metrics", "--file", warned.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = deploycheck(&[
        "metrics",
        "--file",
        warned.to_str().unwrap(),
        "--fail-on",
        "warning",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

#[tokio::test]
async fn rules_lists_the_catalogue() {
    let out = deploycheck(&["metrics", "--rules"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for rule in metrics::catalogue() {
        assert!(stdout.contains(rule.id), "{} missing: {stdout}", rule.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_checks_the_metrics_when_the_profile_names_a_route_and_skips_them_otherwise() {
    let url = support::reference_service("metrics_api").await;
    let out = deploycheck(&[
        "--profile",
        "reference",
        "api",
        "--url",
        &url,
        "--format",
        "json",
    ])
    .await;
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let checks = report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    let verdict = |checks: &[Value], name: &str| -> Value {
        checks
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {checks:#?}"))
            .clone()
    };
    let exposition = verdict(&checks, "the metrics route serves a valid exposition");
    assert_eq!(exposition["verdict"], "pass", "{exposition:#}");
    let counter = verdict(&checks, "the request counter counts requests");
    assert_eq!(counter["verdict"], "pass", "{counter:#}");

    let out = deploycheck(&[
        "--profile",
        "flask-mongo",
        "api",
        "--url",
        &url,
        "--format",
        "json",
    ])
    .await;
    let report = json_of(&out);
    let checks = report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    for name in [
        "the metrics route serves a valid exposition",
        "the request counter counts requests",
    ] {
        let check = verdict(&checks, name);
        assert_eq!(check["verdict"], "skip", "{check:#}");
        assert_eq!(
            check["detail"],
            "the profile names no metrics route ([monitoring] metrics_path)"
        );
    }
}

#[tokio::test]
async fn lint_refuses_a_metrics_sample_that_does_not_parse_or_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint/good");
    let bad = dir.path().join("bad.prom");
    std::fs::write(&bad, "# HELP up Up.\nup{ 1\n").unwrap();
    let out = deploycheck(&[
        "lint",
        "--metrics",
        bad.to_str().unwrap(),
        manifests.to_str().unwrap(),
    ])
    .await;
    assert_exit_saying(&out, 2, "not a metrics exposition: line 2:");
    let empty = dir.path().join("empty.prom");
    std::fs::write(&empty, "\n").unwrap();
    let out = deploycheck(&[
        "lint",
        "--metrics",
        empty.to_str().unwrap(),
        manifests.to_str().unwrap(),
    ])
    .await;
    assert_exit_saying(&out, 2, "holds no metrics");
}
