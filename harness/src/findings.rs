//! The findings model every static checker shares: rules with stable ids and severities, the
//! findings they raise, and the catalogue the reports list.
//!
//! It sits below every checker (`lint` for manifests and Dockerfiles, `image`) and below
//! `report`, which renders findings as text, JSON, JUnit and SARIF: a checker registers its
//! rules in a [`Catalogue`] and returns [`Finding`]s, and no checker imports another.

use serde::Serialize;

/// How bad a finding is; `--fail-on` compares against it.
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

/// Declares a rule of a checker's catalogue, as a `pub const`:
/// `rule!(NAME, "DC001", Error, "why it matters", "what to change");`
macro_rules! rule {
    ($name:ident, $id:literal, $severity:ident, $why:literal, $hint:literal) => {
        pub const $name: $crate::findings::Rule = $crate::findings::Rule {
            id: $id,
            severity: $crate::findings::Severity::$severity,
            why: $why,
            hint: $hint,
        };
    };
}
pub(crate) use rule;

/// A checker's rules, in the order `--rules`, JUnit and SARIF list them.
pub type Catalogue = Vec<&'static Rule>;

/// The id prefix each checker owns. An id, once published, keeps its meaning and its checker,
/// so two checkers never publish the same id.
pub mod ids {
    /// `lint`: Kubernetes manifests.
    pub const MANIFEST: &str = "DC";
    /// `lint`: Dockerfiles.
    pub const DOCKERFILE: &str = "DF";
    /// `image`: container images.
    pub const IMAGE: &str = "DI";
    /// `metrics`: an app's metrics exposition and its request counter.
    pub const METRICS: &str = "DM";
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

/// A finding of `rule`, with the rule's id, severity and hint.
pub fn finding(
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
    fn each_checker_owns_its_own_id_prefix() {
        let mut prefixes = [ids::MANIFEST, ids::DOCKERFILE, ids::IMAGE, ids::METRICS];
        prefixes.sort_unstable();
        assert!(prefixes.windows(2).all(|w| !w[1].starts_with(w[0])));
    }
}
