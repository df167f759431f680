//! `deploycheck lint`, `api` and `load` as a user runs them: exit codes, messages, formats.

#[path = "support/output.rs"]
mod output;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use assert_cmd::cargo::CommandCargoExt as _;
use output::{assert_contains_all, assert_exit_saying, text};

fn deploycheck(args: &[&str], dir: &Path) -> Output {
    Command::cargo_bin("deploycheck")
        .unwrap()
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn good() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint/good")
}

/// Runs each `(args, expected)` in `dir` and asserts that it exits 2 saying `expected`.
fn assert_each_exits_2_saying(cases: &[(&[&str], &str)], dir: &Path) {
    for (args, expected) in cases {
        let out = deploycheck(args, dir);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// A copy of the correct stack with one edit, in a temporary directory.
fn broken(replace: &str, with: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(good()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let stack = dir.path().join("stack.yaml");
    let original = std::fs::read_to_string(&stack).unwrap();
    assert!(original.contains(replace));
    std::fs::write(&stack, original.replacen(replace, with, 1)).unwrap();
    dir
}

#[test]
fn clean_input_exits_0() {
    let out = deploycheck(&["lint", good().to_str().unwrap()], Path::new("."));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no findings"));
}

#[test]
fn an_error_finding_exits_1_with_file_line_and_hint() {
    let dir = broken("value: mongodb\n", "value: localhost\n");
    let out = deploycheck(&["lint", "."], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_contains_all(
        &text(&out.stdout),
        &[
            "stack.yaml",
            "25  error    DC001  Deployment/web",
            "fix: set the host to the MongoDB Service name",
        ],
    );
}

#[test]
fn fail_on_decides_whether_warnings_fail() {
    let dir = broken(
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: false",
    );
    assert_eq!(
        deploycheck(&["lint", "."], dir.path()).status.code(),
        Some(0)
    );
    let strict = deploycheck(&["lint", "--fail-on", "warning", "."], dir.path());
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn machine_formats_parse() {
    let dir = broken("image: example/web:1.2.3", "image: example/web");
    let json = deploycheck(&["lint", "--format", "json", "."], dir.path());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["findings"][0]["rule"], "DC050");
    let sarif = deploycheck(&["lint", "--format", "sarif", "."], dir.path());
    let value: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap();
    assert_eq!(value["version"], "2.1.0");
    assert_eq!(value["runs"][0]["results"][0]["ruleId"], "DC050");
    let junit = text(&deploycheck(&["lint", "--format", "junit", "."], dir.path()).stdout);
    assert!(
        junit.contains("<failure message=\"1 finding(s): container `web` image"),
        "{junit}"
    );
}

#[test]
fn reads_standard_input() {
    let mut child = Command::cargo_bin("deploycheck")
        .unwrap()
        .args(["lint", "-"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: busybox\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("<stdin>\n"), "{stdout}");
    assert!(stdout.contains("DC050  Pod/p"), "{stdout}");
}

#[test]
fn usage_and_input_errors_exit_2_with_a_specific_message() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "kind: [Service\n").unwrap();
    std::fs::write(dir.path().join("typo.toml"), "[app]\nhelth_path = \"/h\"\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["lint", "missing.yaml"],
            "missing.yaml: no such file or directory",
        ),
        (&["lint", "bad.yaml"], "bad.yaml: malformed YAML"),
        (
            &["lint", "--profile", "typo.toml", "bad.yaml"],
            "typo.toml: unknown key `app.helth_path` (did you mean `health_path`?)",
        ),
        (
            &["lint", "--profile", "nonesuch", "x"],
            "unknown profile \"nonesuch\"",
        ),
        (&["lint"], "required"),
        (&["lint", "--format", "xml", "."], "invalid value 'xml'"),
        (&["lint", "--no-such-flag"], "unexpected argument"),
    ];
    assert_each_exits_2_saying(cases, dir.path());
}

#[test]
fn rules_lists_the_catalogue() {
    let out = deploycheck(&["lint", "--rules"], Path::new("."));
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    for id in ["DC001", "DC071", "DF005"] {
        assert!(stdout.contains(id), "{stdout}");
    }
}

#[test]
fn api_usage_errors_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["api"], "--url"),
        (&["api", "--url", "ftp://x"], "expected http://HOST:PORT"),
        (
            &["api", "--url", "http://127.0.0.1:1"],
            "cannot reach http://127.0.0.1:1",
        ),
        (
            &["api", "--url", "http://127.0.0.1:1", "--timeout", "soon"],
            "not a duration",
        ),
    ];
    assert_each_exits_2_saying(cases, Path::new("."));
}

#[test]
fn load_refuses_what_it_must_not_do() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["load", "--url", "http://10.0.0.1:5000", "--duration", "1s"],
            "load runs target loopback only",
        ),
        (
            &["load", "--url", "http://127.0.0.1:1", "--users", "5000"],
            "--users must be between 1 and 1000",
        ),
        (
            &["load", "--url", "http://127.0.0.1:1", "--duration", "2h"],
            "--duration must be between",
        ),
        (
            &["load", "--url", "http://127.0.0.1:1", "--slo", "p95<fast"],
            "SLO \"p95<fast\"",
        ),
        (
            &["load", "--url", "http://127.0.0.1:1", "--mix", "everything"],
            "invalid value 'everything'",
        ),
    ];
    assert_each_exits_2_saying(cases, Path::new("."));
}

#[test]
fn load_on_an_unreachable_app_sends_nothing() {
    let out = deploycheck(
        &["load", "--url", "http://127.0.0.1:1", "--duration", "1s"],
        Path::new("."),
    );
    assert_exit_saying(&out, 2, "no load was sent");
}

#[test]
fn config_is_the_same_as_profile() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("mine.toml"), "[app]\nbogus = 1\n").unwrap();
    let out = deploycheck(&["lint", "--config", "mine.toml", "x"], dir.path());
    assert_exit_saying(&out, 2, "mine.toml: unknown key `app.bogus`");
}

/// `load --in-cluster` needs nothing local and loads nothing before its gates and cluster are
/// known: a per-route SLO (the workers merge every route) and a missing kubeconfig are each one
/// sentence and exit 2; `--url` and `--in-cluster` exclude each other.
#[test]
fn in_cluster_load_refuses_what_it_cannot_judge_or_reach_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let route = deploycheck(
        &["load", "--in-cluster", "--slo", "POST /data:p95<250ms"],
        dir.path(),
    );
    assert_exit_saying(
        &route,
        2,
        "in-cluster load merges every route into one histogram",
    );
    let unreachable = Command::cargo_bin("deploycheck")
        .unwrap()
        .args(["load", "--in-cluster"])
        .current_dir(dir.path())
        .env("KUBECONFIG", dir.path().join("missing"))
        .output()
        .unwrap();
    assert_exit_saying(&unreachable, 2, "no usable kubeconfig");
    let both = deploycheck(
        &["load", "--in-cluster", "--url", "http://127.0.0.1:1"],
        dir.path(),
    );
    assert_eq!(both.status.code(), Some(2));
}
