//! `deploycheck local`: the whole part-1 check on the reference stack with the command's own
//! defaults, an app that errors failing its load, a skipped restart that is reported as
//! skipped, a failing restart command, and data lost across a restart.

#[path = "support/candidate_app.rs"]
mod candidate_app;
#[path = "support/deploycheck_process.rs"]
mod deploycheck_process;
#[path = "support/output.rs"]
mod output;

use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use candidate_app::{Documents, INSERTED, insert, list, serve_app};
use deploycheck::api::Verdict;
use deploycheck::profile::Profile;
use deploycheck_process::deploycheck_within;
use output::{assert_contains_all, assert_exit_saying, text};
use serde_json::Value;

async fn deploycheck(args: &[&str]) -> Output {
    deploycheck_within(std::time::Duration::from_secs(240), args).await
}

/// Serves a candidate-like app whose "database" is `documents`; its base URL.
async fn serve_candidate(documents: Documents) -> String {
    serve_app("hi", get(list).post(insert), documents).await
}

/// `deploycheck --profile flask-mongo local --url URL --skip-load EXTRA...`
async fn check_candidate(url: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--profile",
        "flask-mongo",
        "local",
        "--url",
        url,
        "--skip-load",
    ];
    args.extend_from_slice(extra);
    deploycheck(&args).await
}

#[tokio::test]
async fn the_reference_stack_passes_part_one_including_a_database_restart() {
    // Exactly what the README tells a newcomer to run: no flag loosens anything.
    let out = deploycheck(&["local"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert_contains_all(
        &stdout,
        &[
            "13 passed, 0 failed, 0 skipped",
            "the request counter counts requests",
            "lost",
            ", 0 lost",
        ],
    );
    // The reference profile's SLOs, judged per route, and the list read one page at a time.
    let profile = Profile::built_in("reference").unwrap();
    for slo in profile.load.slo.split(',') {
        assert!(stdout.contains(&format!("SLO {slo}")), "{slo}: {stdout}");
    }
    assert!(!stdout.contains("MISSED"), "{stdout}");
    assert_contains_all(
        &stdout,
        &[
            "read one page (/data?limit=100)",
            "database restart: PASS  recovered in",
            "all 5 acknowledged writes are still there",
        ],
    );
    assert!(stdout.ends_with("local check PASSED\n"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_fails_some_writes_fails_the_load_of_local() {
    type Store = Arc<Mutex<(u64, Vec<Value>)>>;
    async fn flaky_insert(
        State(store): State<Store>,
        axum::Json(document): axum::Json<Value>,
    ) -> (axum::http::StatusCode, &'static str) {
        let mut store = store.lock().unwrap();
        store.0 += 1;
        if store.0 % 10 == 0 {
            // One write in ten: a pool that is too small, a timeout, a crash in a handler.
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops");
        }
        store.1.push(document);
        INSERTED
    }
    async fn list(State(store): State<Store>) -> axum::Json<Value> {
        axum::Json(Value::Array(store.lock().unwrap().1.clone()))
    }
    let url = serve_app("hi", get(list).post(flaky_insert), Store::default()).await;
    let out = deploycheck(&["--profile", "flask-mongo", "local", "--url", &url]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let write_errors = stdout
        .lines()
        .find(|l| l.contains("SLO errors<1%") && l.contains("POST /data"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(write_errors.contains("MISSED"), "{write_errors}");
    assert!(
        stdout.contains(", 0 lost"),
        "it errs, it does not lose: {stdout}"
    );
    assert!(stdout.ends_with("local check FAILED\n"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_restart_command_the_restart_is_skipped_not_passed() {
    let url = serve_candidate(Documents::default()).await;
    let out = check_candidate(&url, &[]).await;
    let stdout = text(&out.stdout);
    assert_contains_all(
        &stdout,
        &[
            "database restart: SKIP  no --db-restart command was given",
            "load: SKIP (--skip-load was given)",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_restart_command_fails_the_check_with_its_output() {
    let url = serve_candidate(Documents::default()).await;
    let out = check_candidate(
        &url,
        &[
            "--db-restart",
            "echo 'Error: No such container: mongodb' >&2; exit 1",
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_contains_all(
        &stdout,
        &[
            "database restart: FAIL  the database restart failed",
            "No such container: mongodb",
        ],
    );
}

#[tokio::test]
async fn db_restart_needs_a_url() {
    let out = deploycheck(&["local", "--db-restart", "true"]).await;
    assert_exit_saying(&out, 2, "--url");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_lost_across_the_restart_fail_with_a_hint() {
    let store = Documents::default();
    let url = serve_candidate(store.clone()).await;
    let wipe = store.clone();
    let restart = Some(async move || {
        wipe.lock().unwrap().clear(); // a database without a persistent volume
        Ok(())
    });
    let report = deploycheck::local::run(
        &url,
        &Profile::built_in("flask-mongo").unwrap(),
        None,
        restart,
        "",
    )
    .await
    .unwrap();
    assert_eq!(report.restart.verdict, Verdict::Fail, "{report:#?}");
    assert_eq!(report.restart.lost, 5);
    assert!(
        report.restart.detail.contains("persistent volume"),
        "{}",
        report.restart.detail
    );
    assert!(!report.passed());
}
