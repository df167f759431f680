//! Cluster scenarios as library functions over the [`crate::cluster::Cluster`] interface.
//! Each returns a [`ScenarioOutcome`]; the cucumber steps and the CLI render it.

pub mod replicas;

use serde::Serialize;

use crate::api::Verdict;

/// The result of one scenario, with what a person needs when it failed.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioOutcome {
    pub scenario: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// For fault scenarios: from the fault to recovery.
    pub recovery_ms: Option<u64>,
}

impl ScenarioOutcome {
    fn new(scenario: &'static str, verdict: Verdict, detail: impl Into<String>) -> Self {
        Self {
            scenario,
            verdict,
            detail: detail.into(),
            recovery_ms: None,
        }
    }
}
