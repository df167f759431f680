//! Runs the Gherkin specification in `features/` (the readable definition of "a working
//! deployment") under `cargo test`. Scenarios whose steps are not defined fail: nothing is
//! silently skipped. Choose scenarios with `cargo test --test features -- --tags @static`.

#[path = "../support/lint_cases.rs"]
mod lint_cases;
mod steps;

use std::path::Path;

use clap::Parser as _;
use cucumber::World as _;
use steps::DeployWorld;

/// libtest's flags that `cargo test -- ...` forwards to every test binary; cucumber's CLI does
/// not know them, so they are dropped (with their value where they take one).
const LIBTEST_FLAGS: [&str; 9] = [
    "--nocapture",
    "--show-output",
    "--quiet",
    "-q",
    "--exact",
    "--ignored",
    "--include-ignored",
    "--test",
    "--bench",
];
const LIBTEST_FLAGS_WITH_VALUE: [&str; 4] = ["--test-threads", "--color", "--skip", "--logfile"];

fn cucumber_args() -> Vec<String> {
    let mut args = Vec::new();
    let mut skip_value = false;
    for arg in std::env::args() {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let name = arg.split('=').next().unwrap_or_default();
        if LIBTEST_FLAGS.contains(&arg.as_str()) {
            continue;
        }
        if LIBTEST_FLAGS_WITH_VALUE.contains(&name) {
            skip_value = !arg.contains('=');
            continue;
        }
        args.push(arg);
    }
    args
}

/// Whether a scenario (or its feature) carries `tag`.
fn tagged(
    feature: &cucumber::gherkin::Feature,
    scenario: &cucumber::gherkin::Scenario,
    tag: &str,
) -> bool {
    feature.tags.iter().chain(&scenario.tags).any(|t| t == tag)
}

#[tokio::main]
async fn main() {
    let features = Path::new(env!("CARGO_MANIFEST_DIR")).join("../features");
    let opts = cucumber::cli::Opts::<_, _, _, cucumber::cli::Empty>::parse_from(cucumber_args());
    let with_cluster = cfg!(feature = "e2e");
    let slow = std::env::var_os("DEPLOYCHECK_SLOW").is_some();
    if !with_cluster {
        println!(
            "@cluster scenarios are not run: they need a cluster and `cargo test --features e2e` \
             (their logic is tested against a fake in the library's unit tests)"
        );
    }
    let run = DeployWorld::cucumber()
        .with_cli(opts)
        .fail_on_skipped()
        .filter_run(features, move |feature, _, scenario| {
            (with_cluster || !tagged(feature, scenario, "cluster"))
                && (slow || !tagged(feature, scenario, "slow"))
        });
    #[cfg(not(feature = "e2e"))]
    let writer = run.await;
    // With a cluster, Ctrl-C/SIGTERM still deletes the namespace the run created.
    #[cfg(feature = "e2e")]
    let writer = tokio::select! {
        writer = run => writer,
        () = app::server::shutdown_signal() => {
            eprintln!("interrupted: deleting what this run created in the cluster");
            steps::cluster::finish().await;
            std::process::exit(130);
        }
    };
    #[cfg(feature = "e2e")]
    steps::cluster::finish().await;
    use cucumber::writer::Stats as _;
    if writer.execution_has_failed() {
        let failed = writer.failed_steps();
        let parsing = writer.parsing_errors();
        let hooks = writer.hook_errors();
        eprintln!("{failed} step(s) failed, {parsing} parsing error(s), {hooks} hook error(s)");
        std::process::exit(1);
    }
}
