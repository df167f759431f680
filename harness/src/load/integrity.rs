//! Acknowledged-write integrity: after the load, every write the app acknowledged is looked
//! for in one whole read of `GET /data`.

use std::collections::BTreeSet;
use std::time::Duration;

use super::record::Recorder;

/// Reads the whole of `GET /data` once and looks for every acknowledged marker.
pub(super) async fn check_integrity(base_url: &str, recorder: &Recorder) -> Option<Vec<String>> {
    let acknowledged = recorder
        .acknowledged
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if acknowledged.is_empty() {
        return Some(Vec::new());
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .ok()?;
    let documents: serde_json::Value = http
        .get(format!("{}/data", base_url.trim_end_matches('/')))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let found: BTreeSet<&str> = documents
        .as_array()?
        .iter()
        .filter_map(|d| d.get("deploycheck_load")?.as_str())
        .collect();
    Some(
        acknowledged
            .into_iter()
            .filter(|m| !found.contains(m.as_str()))
            .collect(),
    )
}
