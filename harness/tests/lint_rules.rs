//! Every lint rule fires on its broken fixture, and a correct stack raises nothing.
//!
//! `fixtures/lint/good/` is a complete, correct stack. Each case in `fixtures/lint/broken.toml`
//! copies it and makes one mistake; exactly the rules the case names must then fire, so a rule
//! is shown to catch its mistake and every other rule to stay quiet about a correct stack.

#[path = "support/lint_cases.rs"]
mod lint_cases;

use std::collections::BTreeSet;
use std::path::Path;

use deploycheck::findings::Finding;
use deploycheck::profile::Profile;
use deploycheck::{lint, manifest};

fn lint_dir(dir: &Path, profile: &str) -> Vec<Finding> {
    let inputs = manifest::load(&[dir.to_path_buf()]).expect("fixture loads");
    lint::run(&inputs, &Profile::built_in(profile).unwrap())
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
    let findings = lint_dir(&lint_cases::fixtures().join("good"), "flask-mongo");
    assert!(findings.is_empty(), "\n{}", describe(&findings));
}

#[test]
fn every_rule_fires_on_its_mistake_and_only_there() {
    let mut covered = BTreeSet::new();
    for case in lint_cases::all_cases() {
        let dir = lint_cases::correct_stack();
        case.apply(dir.path());
        let findings = lint_dir(dir.path(), &case.profile);
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
