//! How the mix reads `GET /data` (the whole list or one page), and how an answer's documents
//! are counted and its latency scaled to 1,000 of them.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Largest page `list_read` may ask for.
pub const MAX_PAGE: u32 = 100_000;

/// How the mix reads `GET /data`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "read")]
pub enum ListRead {
    /// Every document, as the challenge's contract defines `GET /data`.
    Whole,
    /// One page, `GET /data?PARAM=SIZE`, for an app that pages.
    Page { param: String, size: u32 },
}

impl ListRead {
    /// The path and query the mix requests.
    pub fn path(&self) -> String {
        match self {
            ListRead::Whole => "/data".into(),
            ListRead::Page { param, size } => format!("/data?{param}={size}"),
        }
    }
}

impl fmt::Display for ListRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListRead::Whole => f.write_str("whole"),
            ListRead::Page { param, size } => write!(f, "{param}={size}"),
        }
    }
}

impl FromStr for ListRead {
    type Err = String;
    /// `whole`, or `PARAM=SIZE` such as `limit=100`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let usage = || {
            format!(
                "{text:?}: use \"whole\" (every document) or PARAM=SIZE for an app that pages, \
                 e.g. \"limit=100\" for GET /data?limit=100"
            )
        };
        if text.eq_ignore_ascii_case("whole") {
            return Ok(ListRead::Whole);
        }
        let (param, size) = text.split_once('=').ok_or_else(usage)?;
        let param = param.trim().trim_start_matches('?');
        let valid_name = !param.is_empty()
            && param
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        let size = size.trim().parse::<u32>().ok();
        match size {
            Some(size @ 1..=MAX_PAGE) if valid_name => Ok(ListRead::Page {
                param: param.to_string(),
                size,
            }),
            Some(_) if valid_name => Err(format!(
                "{text:?}: the page size must be between 1 and {MAX_PAGE}"
            )),
            _ => Err(usage()),
        }
    }
}

/// An answer's latency scaled to 1,000 documents; an answer of fewer counts as 1,000, so a
/// small list is held to the same budget as a list of 1,000 rather than to a fraction of it.
pub(super) fn per_1000_documents(micros: u64, documents: u64) -> u64 {
    (micros.saturating_mul(1000) / documents.max(1000)).max(1)
}

/// The number of elements of a JSON array, without building them.
pub(super) fn count_documents(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(body)
        .ok()
        .map(|items| items.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_reads_are_whole_or_one_page() {
        assert_eq!("whole".parse::<ListRead>().unwrap(), ListRead::Whole);
        let page: ListRead = "limit=100".parse().unwrap();
        assert_eq!(page.path(), "/data?limit=100");
        assert_eq!(page.to_string(), "limit=100");
        assert_eq!(
            "?per_page = 20".parse::<ListRead>().unwrap().path(),
            "/data?per_page=20"
        );
        for bad in [
            "",
            "limit",
            "limit=0",
            "limit=x",
            "=5",
            "a b=3",
            "limit=1000000",
        ] {
            let error = bad.parse::<ListRead>().unwrap_err();
            assert!(error.starts_with(&format!("{:?}", bad.trim())), "{error}");
        }
    }

    #[test]
    fn latency_per_1000_documents_holds_small_lists_to_the_budget_of_1000() {
        assert_eq!(per_1000_documents(50_000, 0), 50_000);
        assert_eq!(per_1000_documents(50_000, 400), 50_000);
        assert_eq!(per_1000_documents(500_000, 5000), 100_000);
        assert_eq!(count_documents(b"[{\"a\":1},{},[1,2]]"), Some(3));
        assert_eq!(count_documents(b"[]"), Some(0));
        assert_eq!(count_documents(b"{\"error\":1}"), None);
    }
}
