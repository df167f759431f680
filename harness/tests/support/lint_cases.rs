//! The lint fixtures: a correct stack in `fixtures/lint/good/`, and the mistakes of
//! `fixtures/lint/broken.toml`, each applied to a fresh copy of it.
#![allow(dead_code)] // each test binary uses part of this module

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Clone, Deserialize)]
pub struct Case {
    pub expect: BTreeSet<String>,
    pub what: String,
    /// The built-in profile the case is linted with: flask-mongo, the challenge's stack,
    /// unless a rule needs what only another documents (the reference's metrics route and
    /// series).
    #[serde(default = "flask_mongo")]
    pub profile: String,
    edits: Vec<Edit>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Clone, Deserialize)]
struct Edit {
    file: String,
    replace: String,
    with: String,
}

fn flask_mongo() -> String {
    "flask-mongo".into()
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

pub fn all_cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("broken.toml")).expect("broken.toml");
    toml::from_str::<Cases>(&text)
        .expect("broken.toml parses")
        .case
}

pub fn case(what: &str) -> Case {
    all_cases()
        .into_iter()
        .find(|c| c.what == what)
        .unwrap_or_else(|| panic!("no case {what:?} in broken.toml"))
}

/// A fresh copy of the correct stack.
pub fn correct_stack() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(fixtures().join("good")).expect("good/") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}

impl Case {
    /// Makes this case's mistake in a copy of the correct stack.
    pub fn apply(&self, dir: &Path) {
        for edit in &self.edits {
            let path = dir.join(&edit.file);
            let original = std::fs::read_to_string(&path).expect("fixture file");
            assert!(
                original.contains(&edit.replace),
                "{}: {:?} is not in good/{}",
                self.what,
                edit.replace,
                edit.file
            );
            std::fs::write(&path, original.replacen(&edit.replace, &edit.with, 1)).expect("write");
        }
        for file in &self.remove {
            std::fs::remove_file(dir.join(file)).expect("remove");
        }
    }
}
