//! Static checks of manifests and Dockerfiles: a catalogue of rules with stable ids.

mod dockerfile;
mod k8s;
mod references;

use crate::findings::{Catalogue, Finding};
use crate::manifest::Inputs;
use crate::profile::Profile;

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
pub fn catalogue() -> Catalogue {
    k8s::rules()
        .chain(references::RULES.iter())
        .chain(dockerfile::RULES.iter())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::ids::{DOCKERFILE, MANIFEST};

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
            // The image rules' range (`DI`) stays theirs.
            assert!(
                rule.id.starts_with(MANIFEST) || rule.id.starts_with(DOCKERFILE),
                "lint uses {}",
                rule.id
            );
        }
    }
}
