//! What a run of `deploycheck` printed, as the tests read it.
#![allow(dead_code)] // each test binary uses part of this module

use std::process::Output;

/// Printed bytes as text, anything not UTF-8 replaced.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that `text` holds each of `parts`, showing the whole text where one is missing.
pub fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is missing from:\n{text}");
    }
}

/// Asserts that the run exited with `code` and said `expected` on stderr, showing its stderr
/// where not.
pub fn assert_exit_saying(output: &Output, code: i32, expected: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
}
