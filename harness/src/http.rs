//! HTTP clients for deploycheck's own requests (not the load's), below everything that sends
//! them: the cluster scenarios and the in-cluster load's integrity check share one.

use std::time::Duration;

/// A short client: 10 s for a whole request, enough for any single check, never a hang.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a default reqwest client builds")
}
