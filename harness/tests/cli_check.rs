//! `deploycheck check` as a user runs it without a usable cluster: every way of not being able
//! to check is one sentence and exit 2, and nothing is created. The exit code of a run that did
//! check (warnings, `--strict`) needs a cluster end to end, so its decision is tested directly.

use std::path::Path;
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt as _;

/// A kubeconfig whose only context points at a closed loopback port.
const UNREACHABLE: &str = r#"
apiVersion: v1
kind: Config
current-context: kind-gone
clusters:
  - name: gone
    cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}
contexts:
  - name: kind-gone
    context: {cluster: gone, user: u}
users:
  - name: u
    user: {token: not-a-token}
"#;

fn check(args: &[&str], kubeconfig: &Path) -> Output {
    Command::cargo_bin("deploycheck")
        .unwrap()
        .arg("check")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `check ARGS`, asserts that it exited 2 (it could not check), and returns its stderr.
fn refused(args: &[&str], kubeconfig: &Path) -> String {
    let output = check(args, kubeconfig);
    let said = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{said}");
    said
}

fn kubeconfig(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("config");
    std::fs::write(&path, UNREACHABLE).unwrap();
    path
}

#[test]
fn an_unreachable_cluster_is_one_sentence_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let text = refused(&[], &kubeconfig(&dir));
    assert!(
        text.starts_with("deploycheck check: cannot reach the cluster of context `kind-gone`"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn an_unknown_context_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        refused(&["--context", "prod"], &kubeconfig(&dir)).trim(),
        "deploycheck check: context `prod` is not in the kubeconfig (available: kind-gone)"
    );
}

#[test]
fn missing_kubeconfig_and_missing_manifests_say_what_to_do() {
    let said = refused(&[], Path::new("/nonexistent/kubeconfig"));
    assert!(
        said.contains("set KUBECONFIG or create ~/.kube/config"),
        "{said}"
    );

    let dir = tempfile::tempdir().unwrap();
    let said = refused(&["--deploy", "no/such/overlay"], &kubeconfig(&dir));
    assert!(
        said.contains("no/such/overlay: no such file or directory"),
        "{said}"
    );
}

#[test]
fn scenario_selection_is_checked_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        refused(&["--only", "hpa,dns"], &kubeconfig(&dir)).trim(),
        "deploycheck check: unknown scenario `dns` (see --list)"
    );

    let output = check(&["--list"], &kubeconfig(&dir));
    assert_eq!(output.status.code(), Some(0));
    let listed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(listed.lines().count(), 13, "{listed}");
    assert!(listed.starts_with("deploy "), "{listed}");
    assert!(
        listed.contains("\nbluegreen ") && listed.contains("\ncanary "),
        "the release scenarios are listed: {listed}"
    );
    assert!(listed.contains("\nmonitoring "), "{listed}");

    let output = check(&["--deploy", "x", "--namespace", "shop"], &kubeconfig(&dir));
    assert_eq!(
        output.status.code(),
        Some(2),
        "--deploy and --namespace exclude each other"
    );
}

#[test]
fn node_ports_is_fixed_or_auto_and_only_with_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let said = refused(&["--node-ports", "auto"], &kubeconfig(&dir));
    assert!(
        said.starts_with(
            "error: the following required arguments were not provided:\n  --deploy <DIR>"
        ),
        "{said}"
    );

    let said = refused(
        &["--deploy", "no/such/overlay", "--node-ports", "sometimes"],
        &kubeconfig(&dir),
    );
    assert!(
        said.starts_with(
            "error: invalid value 'sometimes' for '--node-ports <fixed|auto>'\n  \
             [possible values: fixed, auto]"
        ),
        "{said}"
    );

    // Both values parse: the run gets as far as reading the manifests.
    for value in ["fixed", "auto"] {
        let output = check(
            &["--deploy", "no/such/overlay", "--node-ports", value],
            &kubeconfig(&dir),
        );
        assert_eq!(output.status.code(), Some(2), "{value}");
        assert_eq!(
            stderr(&output).trim(),
            "deploycheck check: no/such/overlay: no such file or directory",
            "{value}"
        );
    }

    let output = check(&["--help"], &kubeconfig(&dir));
    // Words only: clap wraps the help to the terminal's width.
    let help = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for expected in [
        "--node-ports <fixed|auto>",
        "[default: fixed]",
        "- fixed: Keep them; a nodePort another Service of the cluster already holds is an error",
        "- auto: Clear them in the throw-away namespace: the API server allocates free ones",
    ] {
        assert!(help.contains(expected), "{expected}: {help}");
    }
}

#[test]
fn strict_is_accepted_and_nothing_checked_is_still_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    refused(&["--strict"], &kubeconfig(&dir));
    let output = check(&["--strict", "--list"], &kubeconfig(&dir));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// The exit code of a finished run, decided without a cluster: a warning's requirement held,
/// so it exits 0 unless `--strict`; a failure is 1 either way; a skip is never a failure.
#[test]
fn warnings_exit_0_unless_strict() {
    use deploycheck::api::Verdict;
    use deploycheck::check::CheckReport;
    use deploycheck::cli::check_exit_code;
    use deploycheck::scenario::ScenarioOutcome;

    let report = |verdicts: &[(&'static str, Verdict)]| CheckReport {
        context: "kind-kind".into(),
        namespace: "shop".into(),
        deployed: false,
        scenarios: verdicts
            .iter()
            .map(|(id, verdict)| ScenarioOutcome::new(id, *verdict, "detail"))
            .collect(),
        cleanup: String::new(),
        interrupted: false,
        seconds: 1.0,
        restarts: Vec::new(),
    };
    let warned = report(&[
        ("deploy", Verdict::Pass),
        ("replicas", Verdict::Warn),
        ("hpa", Verdict::Skip),
    ]);
    assert_eq!(check_exit_code(&warned, false), 0);
    assert_eq!(check_exit_code(&warned, true), 1);
    let failed = report(&[("deploy", Verdict::Pass), ("rolling", Verdict::Fail)]);
    assert_eq!(check_exit_code(&failed, false), 1);
    let mut interrupted = report(&[("deploy", Verdict::Pass)]);
    interrupted.interrupted = true;
    assert_eq!(check_exit_code(&interrupted, false), 1);
}
