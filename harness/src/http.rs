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

/// A transport error in words: refused, timed out, or the connection dropped.
pub fn describe_transport(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        format!(
            "no answer within {} s (the request hung)",
            timeout.as_secs()
        )
    } else if error.is_connect() {
        "connection refused or unreachable: is the app running and the port forwarded?".into()
    } else {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        format!("the connection dropped ({text})")
    }
}
