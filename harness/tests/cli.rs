//! The `deploycheck` binary as a user runs it.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt as _;

fn deploycheck() -> Command {
    Command::cargo_bin("deploycheck").expect("the binary is built")
}

#[test]
fn help_lists_the_commands_and_exit_codes() {
    let output = deploycheck().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("demo"), "{help}");
    assert!(help.contains("Exit codes"), "{help}");
}

#[test]
fn unknown_subcommands_and_flags_are_usage_errors() {
    for args in [
        &["frobnicate"][..],
        &["demo", "--no-such-flag"],
        &["demo", "--port", "http"],
    ] {
        let output = deploycheck().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error:"), "{args:?}: {stderr}");
    }
}

#[test]
fn demo_serves_the_reference_api_on_a_real_database_and_stops_on_sigint() {
    let mut child = deploycheck()
        .args(["demo", "--port", "0"])
        .env_remove("MONGODB_URI")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("service:") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(180))
        .expect("the demo prints its URL");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{url}/ready")).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "never ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let posted = http
            .post(format!("{url}/data"))
            .json(&serde_json::json!({"from": "demo test"}))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 201);
        let listed: serde_json::Value = http
            .get(format!("{url}/data"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed, serde_json::json!([{"from": "demo test"}]));
    });

    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "demo ignored SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(exit.code(), Some(0));
}
