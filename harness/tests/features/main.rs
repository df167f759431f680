//! Runs the Gherkin specification in `features/` (the readable definition of "a working
//! deployment") under `cargo test`. Scenarios whose steps are not defined fail: nothing is
//! silently skipped. Choose scenarios with `cargo test --test features -- --tags @static`.

#[path = "../support/lint_cases.rs"]
mod lint_cases;
mod steps;

use std::path::Path;

use cucumber::World as _;
use steps::DeployWorld;

#[tokio::main]
async fn main() {
    let features = Path::new(env!("CARGO_MANIFEST_DIR")).join("../features");
    DeployWorld::cucumber()
        .fail_on_skipped()
        .run_and_exit(features)
        .await;
}
