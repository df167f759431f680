//! `deploycheck load-worker` as the in-cluster Job runs it, here as three processes against the
//! reference service on loopback and a real database: their lines merge into exactly the sum of
//! their counts, and every write they were told was stored can be read back.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use deploycheck::incluster::wire::{self, WorkerLog};

const WORKERS: usize = 3;

#[path = "support/reference_service.rs"]
mod support;

fn worker(url: &str, name: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_deploycheck"));
    command
        .args(["load-worker", "--url", url, "--mix", "mixed"])
        .args(["--connections", "2,4", "--step", "1s", "--duration", "2s"])
        .args([
            "--window",
            "500ms",
            "--timeout",
            "5s",
            "--reconnect-every",
            "25",
        ])
        .args(["--max-requests", "200000", "--name", name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_merge_to_the_sum_of_their_counts_and_lose_no_write() {
    let url = support::reference_service("load_worker").await;
    let run = deploycheck::unique_marker("lw");
    let names: Vec<String> = (0..WORKERS).map(|i| format!("{run}-w{i}")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|name| worker(&url, name).spawn().unwrap())
        .collect();
    let mut logs: Vec<(String, WorkerLog)> = Vec::new();
    for (name, child) in names.iter().zip(children) {
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("a 2 s worker ends well within a minute")
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            output.status.success(),
            "{name}: {:?}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let log = wire::read_log(&stdout);
        assert!(log.malformed.is_empty(), "{name}: {:?}", log.malformed);
        logs.push((name.clone(), log));
    }

    let mut sum = 0;
    for (name, log) in &logs {
        let last = log
            .last
            .as_ref()
            .expect("every worker printed its final line");
        assert_eq!(&last.worker, name);
        assert!(last.requests > 20, "{name}: {last:?}");
        assert_eq!(last.failed, 0, "{name}: {last:?}");
        assert!(
            last.seconds >= 2.0 && last.seconds < 10.0,
            "{name}: {last:?}"
        );
        let windows: u64 = log.windows.iter().map(|w| w.requests).sum();
        assert_eq!(windows, last.requests, "{name}: windows sum to the total");
        assert!(
            log.windows.iter().any(|w| w.connections == 4),
            "{name}: the second step ran"
        );
        sum += last.requests;
    }
    let merged = wire::merge(&logs);
    assert!(merged.incomplete.is_empty(), "{:?}", merged.incomplete);
    assert_eq!(merged.requests, sum);
    assert_eq!(merged.total.len(), sum);
    assert_eq!(merged.failed, 0);
    assert_eq!(merged.per_worker.len(), WORKERS);
    assert!(
        merged
            .per_worker
            .iter()
            .all(|w| w.complete && w.p50_ms > 0.0)
    );

    // Every write a worker saw acknowledged is in GET /data.
    let documents: serde_json::Value = reqwest::get(format!("{url}/data"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: BTreeSet<&str> = documents
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.get("deploycheck_load")?.as_str())
        .collect();
    let mut acknowledged = 0;
    for (name, ranges) in &merged.acknowledged {
        assert!(!ranges.is_empty(), "{name} acknowledged no write");
        for &(start, end) in ranges {
            for seq in start..=end {
                let marker = format!("{name}-{seq}");
                assert!(stored.contains(marker.as_str()), "{marker} was lost");
                acknowledged += 1;
            }
        }
    }
    assert_eq!(merged.acknowledged.len(), WORKERS);
    assert!(acknowledged > 0);
}

#[test]
fn a_target_that_is_not_a_service_name_exits_2_with_the_reason() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_deploycheck"))
        .args([
            "load-worker",
            "--url",
            "http://10.96.0.10:80",
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not the IP address 10.96.0.10"), "{stderr}");
    assert!(output.stdout.is_empty());

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_deploycheck"))
        .args(["load-worker", "--url", "http://web", "--mix", "PUT /x"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("method PUT"));
}

#[test]
fn the_worker_is_not_offered_in_help() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_deploycheck"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("load-worker"));
}
