//! Step glue, one module per domain concept. Steps only call the library; logic lives there.

mod api;
mod cli;
#[cfg(feature = "e2e")]
pub mod cluster;
mod lint;

use std::collections::BTreeMap;

use deploycheck::api::Outcome;
use deploycheck::findings::Finding;

/// State of one scenario.
#[derive(Debug, Default, cucumber::World)]
pub struct DeployWorld {
    /// Inputs to lint, and a temporary copy of fixtures that is deleted with the scenario.
    pub lint_paths: Vec<std::path::PathBuf>,
    pub scratch: Option<tempfile::TempDir>,
    pub findings: Vec<Finding>,
    /// The app under check.
    pub base_url: Option<String>,
    pub server: Option<tokio::task::JoinHandle<()>>,
    pub outcomes: BTreeMap<&'static str, Outcome>,
    /// The last `deploycheck` run, and its JSON report when it wrote one.
    pub output: Option<std::process::Output>,
    pub report: Option<serde_json::Value>,
    /// The `@cluster` overlay the scenario runs on (`dev` when it names none).
    #[cfg(feature = "e2e")]
    pub variant: Option<String>,
}

impl Drop for DeployWorld {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
