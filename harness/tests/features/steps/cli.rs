//! Steps for `load.feature` and `local.feature`. They run the real `deploycheck` binary:
//! Goose installs process-wide handlers, so each load gets a process of its own, and the
//! command a user types is what gets exercised.

#[path = "../../support/deploycheck_process.rs"]
mod deploycheck_process;

use std::process::Output;

use cucumber::{then, when};
use serde_json::Value;

use super::DeployWorld;
use deploycheck_process::deploycheck_within;

async fn deploycheck(args: &[&str]) -> Output {
    deploycheck_within(std::time::Duration::from_secs(300), args).await
}

/// Runs `deploycheck ARGS --json FILE` and keeps the JSON report.
async fn with_json_report(world: &mut DeployWorld, args: &[&str]) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let path = file.path().display().to_string();
    let mut all = args.to_vec();
    all.extend(["--json", &path]);
    let output = deploycheck(&all).await;
    world.report = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    world.output = Some(output);
}

fn report(world: &DeployWorld) -> &Value {
    let output = world.output.as_ref().expect("a command ran");
    world.report.as_ref().unwrap_or_else(|| {
        panic!(
            "no JSON report; stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[when(expr = "{int} users load it for {int} seconds with the {string} mix and the SLOs {string}")]
async fn load(world: &mut DeployWorld, users: usize, seconds: u64, mix: String, slos: String) {
    let url = world.base_url.clone().expect("an app first");
    let (users, seconds) = (users.to_string(), format!("{seconds}s"));
    with_json_report(
        world,
        &[
            "load",
            "--url",
            &url,
            "--users",
            &users,
            "--hatch-rate",
            &users,
            "--duration",
            &seconds,
            "--mix",
            &mix,
            "--slo",
            &slos,
        ],
    )
    .await;
}

/// Asserts every SLO result of a load summary was met.
fn all_met(summary: &Value) {
    let slos = summary["slos"].as_array().expect("slos");
    assert!(!slos.is_empty(), "no SLO was evaluated: {summary}");
    for slo in slos {
        assert_eq!(slo["verdict"], "met", "{slo}");
    }
}

#[then("every SLO is met")]
fn slos_met(world: &mut DeployWorld) {
    all_met(report(world));
}

#[then("every acknowledged write is readable afterwards")]
fn nothing_lost(world: &mut DeployWorld) {
    let report = report(world);
    assert_eq!(report["integrity_checked"], true, "{report}");
    assert!(
        report["acknowledged_writes"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert_eq!(report["lost_writes"], 0, "{report}");
}

#[then(expr = "latency percentiles are reported for {string}, {string} and {string}")]
fn percentiles(world: &mut DeployWorld, a: String, b: String, c: String) {
    let by_route = &report(world)["routes"];
    for route in [a, b, c] {
        let p99 = by_route[&route]["latency_ms"]["p99"]
            .as_f64()
            .unwrap_or_else(|| panic!("no p99 for {route}: {by_route}"));
        assert!(p99 > 0.0, "{route}: {by_route}");
    }
}

#[when(expr = "a load against {string} is asked for")]
async fn load_elsewhere(world: &mut DeployWorld, url: String) {
    world.output = Some(deploycheck(&["load", "--url", &url, "--duration", "1s"]).await);
}

#[then(expr = "it is refused with {string}")]
fn refused(world: &mut DeployWorld, message: String) {
    let output = world.output.as_ref().expect("a command ran");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&message), "{stderr}");
}

#[when("the local check runs on the reference stack")]
async fn local_reference(world: &mut DeployWorld) {
    // The command exactly as a newcomer types it: its defaults are the ones under test.
    with_json_report(world, &["local"]).await;
}

#[when("the local check runs against it without a restart command")]
async fn local_without_restart(world: &mut DeployWorld) {
    let url = world.base_url.clone().expect("an app first");
    with_json_report(world, &["local", "--url", &url, "--skip-load"]).await;
}

#[then("the contract passes")]
fn contract_passes(world: &mut DeployWorld) {
    let checks = report(world)["api"].as_array().expect("api checks").clone();
    assert!(!checks.is_empty());
    for check in checks {
        assert_eq!(check["verdict"], "pass", "{check}");
    }
}

#[then(expr = "the load meets the {string} profile's SLOs on every route")]
fn load_meets_profile(world: &mut DeployWorld, profile: String) {
    let load = &report(world)["load"];
    assert_eq!(load["outcome"], "ran", "{load}");
    all_met(load);
    // Judged against the profile's own clauses, not a looser set of the feature's.
    let profile = deploycheck::profile::Profile::built_in(&profile).expect("a built-in profile");
    let judged: std::collections::BTreeSet<&str> = load["slos"]
        .as_array()
        .expect("slos")
        .iter()
        .filter_map(|r| r["slo"].as_str())
        .collect();
    let asked: std::collections::BTreeSet<&str> = profile.load.slo.split(',').collect();
    assert_eq!(judged, asked, "{load}");
    for route in ["GET /", "POST /data", "GET /data"] {
        assert!(
            load["slos"]
                .as_array()
                .expect("slos")
                .iter()
                .any(|r| r["route"] == route),
            "no SLO judged {route}: {load}"
        );
    }
}

#[then(expr = "the list route is read one page at a time with {string}")]
fn list_paged(world: &mut DeployWorld, path: String) {
    let list = &report(world)["load"]["routes"]["GET /data"]["list"];
    assert_eq!(list["path"], path.as_str(), "{list}");
    assert_eq!(list["paging_ignored"], false, "{list}");
}

#[then("the database restart passes with every acknowledged write still there")]
fn restart_passes(world: &mut DeployWorld) {
    let restart = &report(world)["restart"];
    assert_eq!(restart["verdict"], "pass", "{restart}");
    assert!(
        restart["acknowledged_before"].as_u64().unwrap_or(0) > 0,
        "{restart}"
    );
    assert_eq!(restart["lost"], 0, "{restart}");
    assert!(restart["recovery_ms"].as_u64().is_some(), "{restart}");
    let output = world.output.as_ref().expect("a command ran");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[then(expr = "the database restart is skipped because {string}")]
fn restart_skipped(world: &mut DeployWorld, reason: String) {
    let restart = &report(world)["restart"];
    assert_eq!(restart["verdict"], "skip", "{restart}");
    assert!(
        restart["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(&reason),
        "{restart}"
    );
}
