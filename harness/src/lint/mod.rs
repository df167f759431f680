//! Static checks of manifests and Dockerfiles: a catalogue of rules with stable ids.

mod dockerfile;
mod k8s;
mod references;

use serde::Serialize;

use crate::manifest::Inputs;
use crate::profile::Profile;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One entry of the catalogue. Ids never change meaning once published.
#[derive(Debug, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    /// Why it matters, in one line.
    pub why: &'static str,
    /// What to change.
    pub hint: &'static str,
}

/// A rule that fired, and where.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// File (or `<stdin>`, `DIR (kustomize)`) and 1-based line.
    pub origin: String,
    pub line: u64,
    /// `Kind/name`, or the Dockerfile's path.
    pub object: String,
    pub message: String,
    pub hint: &'static str,
}

/// Runs every rule over everything loaded. Findings come sorted by origin and line.
pub fn run(inputs: &Inputs, profile: &Profile) -> Vec<Finding> {
    let mut findings = k8s::check(&inputs.objects, profile);
    findings.extend(references::check(&inputs.objects));
    for dockerfile in &inputs.dockerfiles {
        findings.extend(dockerfile::check(dockerfile));
    }
    findings.sort_by(|a, b| (&a.origin, a.line, a.rule).cmp(&(&b.origin, b.line, b.rule)));
    findings
}

/// The whole catalogue, for `deploycheck lint --rules` and the docs.
pub fn catalogue() -> Vec<&'static Rule> {
    k8s::RULES
        .iter()
        .chain(references::RULES.iter())
        .chain(dockerfile::RULES.iter())
        .collect()
}

pub(crate) fn finding(
    rule: &'static Rule,
    origin: &str,
    line: u64,
    object: String,
    message: String,
) -> Finding {
    Finding {
        rule: rule.id,
        severity: rule.severity,
        origin: origin.to_string(),
        line,
        object,
        message,
        hint: rule.hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_documented() {
        let rules = catalogue();
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "duplicate rule id");
        for rule in rules {
            assert!(!rule.why.is_empty() && !rule.hint.is_empty(), "{}", rule.id);
        }
    }
}
