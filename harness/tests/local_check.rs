//! `deploycheck local`: the whole part-1 check on the reference stack with the command's own
//! defaults, an app that errors failing its load, a skipped restart that is reported as
//! skipped, a failing restart command, and data lost across a restart.

use std::process::Output;
use std::sync::{Arc, Mutex};

use assert_cmd::cargo::CommandCargoExt as _;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use deploycheck::api::Verdict;
use deploycheck::profile::Profile;
use serde_json::Value;

async fn deploycheck(args: &[&str]) -> Output {
    let command = std::process::Command::cargo_bin("deploycheck").unwrap();
    let mut command = tokio::process::Command::from(command);
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MONGODB_URI");
    tokio::time::timeout(std::time::Duration::from_secs(240), command.output())
        .await
        .expect("deploycheck local finishes")
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A candidate-like app whose "database" is a vector the test can wipe.
fn app(store: Arc<Mutex<Vec<Value>>>) -> Router {
    async fn insert(
        State(s): State<Arc<Mutex<Vec<Value>>>>,
        axum::Json(d): axum::Json<Value>,
    ) -> (axum::http::StatusCode, &'static str) {
        s.lock().unwrap().push(d);
        (
            axum::http::StatusCode::CREATED,
            r#"{"status":"Data inserted"}"#,
        )
    }
    async fn list(State(s): State<Arc<Mutex<Vec<Value>>>>) -> axum::Json<Value> {
        axum::Json(Value::Array(s.lock().unwrap().clone()))
    }
    Router::new()
        .route("/", get(|| async { "hi" }))
        .route("/data", get(list).post(insert))
        .with_state(store)
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

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
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
    assert!(
        stdout.contains("11 passed, 0 failed, 0 skipped"),
        "{stdout}"
    );
    assert!(
        stdout.contains("lost") && stdout.contains(", 0 lost"),
        "{stdout}"
    );
    // The reference profile's SLOs, judged per route, and the list read one page at a time.
    let profile = Profile::built_in("reference").unwrap();
    for slo in profile.load.slo.split(',') {
        assert!(stdout.contains(&format!("SLO {slo}")), "{slo}: {stdout}");
    }
    assert!(!stdout.contains("MISSED"), "{stdout}");
    assert!(
        stdout.contains("read one page (/data?limit=100)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("database restart: PASS  recovered in"),
        "{stdout}"
    );
    assert!(
        stdout.contains("all 5 acknowledged writes are still there"),
        "{stdout}"
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
        (
            axum::http::StatusCode::CREATED,
            r#"{"status":"Data inserted"}"#,
        )
    }
    async fn list(State(store): State<Store>) -> axum::Json<Value> {
        axum::Json(Value::Array(store.lock().unwrap().1.clone()))
    }
    let router = Router::new()
        .route("/", get(|| async { "hi" }))
        .route("/data", get(list).post(flaky_insert))
        .with_state(Store::default());
    let url = serve(router).await;
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
    let url = serve(app(Arc::default())).await;
    let out = check_candidate(&url, &[]).await;
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("database restart: SKIP  no --db-restart command was given"),
        "{stdout}"
    );
    assert!(
        stdout.contains("load: SKIP (--skip-load was given)"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_restart_command_fails_the_check_with_its_output() {
    let url = serve(app(Arc::default())).await;
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
    assert!(
        stdout.contains("database restart: FAIL  the database restart failed"),
        "{stdout}"
    );
    assert!(stdout.contains("No such container: mongodb"), "{stdout}");
}

#[tokio::test]
async fn db_restart_needs_a_url() {
    let out = deploycheck(&["local", "--db-restart", "true"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--url"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_lost_across_the_restart_fail_with_a_hint() {
    let store: Arc<Mutex<Vec<Value>>> = Arc::default();
    let url = serve(app(store.clone())).await;
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
