//! The real `deploycheck` binary, run as a user runs it: plain output, and no `MONGODB_URI` of
//! the developer's shell leaking into the run.
#![allow(dead_code)] // each test binary uses part of this module

use std::process::Output;
use std::time::Duration;

/// Runs `deploycheck ARGS`, failing the test if it has not finished within `limit`.
pub async fn deploycheck_within(limit: Duration, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_deploycheck"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MONGODB_URI");
    tokio::time::timeout(limit, command.output())
        .await
        .expect("deploycheck finishes")
        .expect("deploycheck runs")
}
