//! Why an image could not be checked: one sentence per cause, naming the input.

use std::path::PathBuf;

use super::osv;

/// Why an image could not be checked. Each message is one sentence that names the input.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: no such file or directory")]
    Missing { path: PathBuf },
    #[error("{path}: cannot read it: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a container image: {reason}")]
    NotAnImage { path: PathBuf, reason: String },
    #[error("{path}: {what} is truncated or corrupt: {detail}")]
    Truncated {
        path: PathBuf,
        what: String,
        detail: String,
    },
    #[error(
        "{path}: the image needs {name}, which the archive does not contain (saved incompletely?)"
    )]
    MissingBlob { path: PathBuf, name: String },
    #[error(
        "{path}: {name} does not match its digest {expected} (it hashes to {actual}): the archive is corrupt"
    )]
    Digest {
        path: PathBuf,
        name: String,
        expected: String,
        actual: String,
    },
    #[error("{path}: {what} is not valid JSON: {message}")]
    Json {
        path: PathBuf,
        what: String,
        message: String,
    },
    #[error("{path}: {what} is malformed: {message}")]
    Invalid {
        path: PathBuf,
        what: String,
        message: String,
    },
    #[error("{path}: layer {index} ({name}) cannot be read: {message}")]
    Layer {
        path: PathBuf,
        /// 1-based.
        index: usize,
        name: String,
        message: String,
    },
    #[error("{path}: {message}")]
    Platform { path: PathBuf, message: String },
    #[error("--vuln-db: {0}")]
    VulnDb(#[source] osv::OsvError),
}
