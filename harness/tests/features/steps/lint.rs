//! Steps for `static.feature`: lint a stack, make one mistake, read the findings.

use std::collections::BTreeSet;
use std::path::Path;

use cucumber::{given, then, when};
use deploycheck::profile::Profile;
use deploycheck::{findings, lint, manifest};

use super::DeployWorld;
use crate::lint_cases;

#[given("a correct stack")]
fn correct_stack(world: &mut DeployWorld) {
    let dir = lint_cases::correct_stack();
    world.lint_paths = vec![dir.path().to_path_buf()];
    world.scratch = Some(dir);
}

#[given(expr = "the manifests in {string}")]
#[given(expr = "the file {string}")]
fn file(world: &mut DeployWorld, path: String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    world.lint_paths = vec![root.join(path)];
}

#[given(expr = "the mistake {string}")]
fn mistake(world: &mut DeployWorld, what: String) {
    let dir = world.scratch.as_ref().expect("a correct stack first");
    lint_cases::case(&what).apply(dir.path());
}

#[when("it is linted")]
fn linted(world: &mut DeployWorld) {
    lint_with(world, "flask-mongo".into());
}

#[when(expr = "they are linted with the {string} profile")]
fn lint_with(world: &mut DeployWorld, profile: String) {
    let inputs = manifest::load(&world.lint_paths).expect("inputs load");
    world.findings = lint::run(
        &inputs,
        &Profile::built_in(&profile).expect("built-in profile"),
    );
}

#[then("there are no error findings")]
fn no_errors(world: &mut DeployWorld) {
    let errors: Vec<_> = world
        .findings
        .iter()
        .filter(|f| f.severity == findings::Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[then("there are no findings")]
fn no_findings(world: &mut DeployWorld) {
    assert!(world.findings.is_empty(), "{:#?}", world.findings);
}

#[then(expr = "exactly the rules {word} fire, each at a line")]
fn exactly(world: &mut DeployWorld, rules: String) {
    let expected: BTreeSet<&str> = rules.split(',').collect();
    let fired: BTreeSet<&str> = world.findings.iter().map(|f| f.rule).collect();
    assert_eq!(fired, expected, "{:#?}", world.findings);
    assert!(
        world.findings.iter().all(|f| f.line > 0),
        "{:#?}",
        world.findings
    );
}
