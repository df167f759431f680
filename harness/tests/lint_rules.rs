//! Every lint rule fires on its broken fixture, and a correct stack raises nothing.
//!
//! `fixtures/lint/good/` is a complete, correct stack. Each case in `fixtures/lint/broken.toml`
//! copies it and makes one mistake; exactly the rules the case names must then fire, so a rule
//! is shown to catch its mistake and every other rule to stay quiet about a correct stack.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use deploycheck::lint::{self, Finding};
use deploycheck::manifest;
use deploycheck::profile::Profile;
use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    expect: BTreeSet<String>,
    what: String,
    edits: Vec<Edit>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Deserialize)]
struct Edit {
    file: String,
    replace: String,
    with: String,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

fn lint_dir(dir: &Path) -> Vec<Finding> {
    let inputs = manifest::load(&[dir.to_path_buf()]).expect("fixture loads");
    lint::run(&inputs, &Profile::built_in("flask-mongo").unwrap())
}

fn describe(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  {} {}:{} {}", f.rule, f.origin, f.line, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_correct_stack_raises_nothing() {
    let findings = lint_dir(&fixtures().join("good"));
    assert!(findings.is_empty(), "\n{}", describe(&findings));
}

#[test]
fn every_rule_fires_on_its_mistake_and_only_there() {
    let text = std::fs::read_to_string(fixtures().join("broken.toml")).unwrap();
    let cases: Cases = toml::from_str(&text).expect("broken.toml parses");
    let mut covered = BTreeSet::new();
    for case in &cases.case {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(fixtures().join("good")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        for edit in &case.edits {
            let path = dir.path().join(&edit.file);
            let original = std::fs::read_to_string(&path).unwrap();
            assert!(
                original.contains(&edit.replace),
                "{}: {:?} is not in good/{}",
                case.what,
                edit.replace,
                edit.file
            );
            std::fs::write(&path, original.replacen(&edit.replace, &edit.with, 1)).unwrap();
        }
        for file in &case.remove {
            std::fs::remove_file(dir.path().join(file)).unwrap();
        }
        let findings = lint_dir(dir.path());
        let fired: BTreeSet<String> = findings.iter().map(|f| f.rule.to_string()).collect();
        assert_eq!(
            fired,
            case.expect,
            "{}:\n{}",
            case.what,
            describe(&findings)
        );
        assert!(
            findings.iter().all(|f| f.line > 0),
            "{}: a finding without a line",
            case.what
        );
        covered.extend(fired);
    }
    let catalogue: BTreeSet<String> = lint::catalogue().iter().map(|r| r.id.to_string()).collect();
    let uncovered: Vec<&String> = catalogue.difference(&covered).collect();
    assert!(
        uncovered.is_empty(),
        "rules without a broken fixture: {uncovered:?}"
    );
}
