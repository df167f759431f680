//! One HTTP/1.1 request on a connection of its own, with the answer read while the body is
//! still being written: a server may answer (413) and stop reading long before a large upload
//! ends, and an ordinary client then reports its failed write instead of the answer.
//!
//! Plain `http://` only; enough of HTTP/1.1 to judge an answer (status line, headers, a body
//! framed by `Content-Length`, chunked or by the close), nothing more.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Url;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// More of an answer's body than this is not read: the checks show its first few hundred bytes.
pub const MAX_ANSWER_BODY: usize = 64 * 1024;

/// A head longer than this is not an HTTP answer worth waiting for.
const MAX_HEAD: usize = 64 * 1024;

/// Body bytes handed to the socket per write, so a cut upload says how far it got.
const WRITE_CHUNK: usize = 64 * 1024;

/// The server's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// At most [`MAX_ANSWER_BODY`] bytes.
    pub body: Vec<u8>,
    /// How the upload ended when it did not end normally: the server answered and stopped
    /// reading (it cut the upload), or answered before the last byte was sent.
    pub upload: Upload,
}

/// What became of the request body.
#[derive(Debug, PartialEq, Eq)]
pub enum Upload {
    /// Every byte was handed to the connection.
    Complete,
    /// The answer came while the body was still being written; writing stopped there.
    Unfinished { sent: usize, total: usize },
    /// The server stopped reading (closed or reset the connection) after `sent` bytes.
    Cut {
        sent: usize,
        total: usize,
        reason: String,
    },
}

impl Answer {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no answer could be read.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error("only http:// URLs can be sent this way, not {0}")]
    Scheme(String),
    #[error("connection refused or unreachable ({0}): is the app running and the port forwarded?")]
    Connect(#[source] io::Error),
    #[error("no answer within {} s (the request hung)", .0.as_secs())]
    Timeout(Duration),
    #[error("the server reset the connection without answering ({}; {source})", sent_of(*.sent, *.total))]
    Reset {
        sent: usize,
        total: usize,
        #[source]
        source: io::Error,
    },
    #[error("the server closed the connection without answering ({})", sent_of(*.sent, *.total))]
    Closed { sent: usize, total: usize },
    #[error("the answer broke off after {received} bytes: {reason}")]
    BrokeOff { received: usize, reason: String },
    #[error("the answer is not HTTP/1.x: {0}")]
    Malformed(String),
}

fn sent_of(sent: usize, total: usize) -> String {
    if sent >= total {
        format!("after the whole request body, {}", size(total))
    } else {
        format!("after {} of the {} request body", size(sent), size(total))
    }
}

/// Bytes in the unit a person reads at a glance.
pub fn size(bytes: usize) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..1_048_576 => format!("{:.0} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / MIB),
    }
}

/// Sends `method url` with `headers` and `body` on a new connection and reads the answer while
/// writing; the connection is closed afterwards. `timeout` bounds the whole exchange.
///
/// # Errors
/// When the URL is not `http://`, the connection cannot be made, or no complete answer
/// arrives (reset, closed, broken off, not HTTP, or too slow).
pub async fn send(
    method: &str,
    url: &Url,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<Answer, RawError> {
    if url.scheme() != "http" {
        return Err(RawError::Scheme(url.scheme().to_string()));
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    // `Host` is written as the URL has it (brackets and explicit port included).
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut target = url.path().to_string();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {authority}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));

    let address = host.trim_start_matches('[').trim_end_matches(']');
    tokio::time::timeout(timeout, async {
        let stream = TcpStream::connect((address, port))
            .await
            .map_err(RawError::Connect)?;
        let (reader, writer) = stream.into_split();
        exchange(reader, writer, head.as_bytes(), body).await
    })
    .await
    .map_err(|_| RawError::Timeout(timeout))?
}

/// Writes the request and reads the answer at the same time; the answer decides.
async fn exchange(
    mut reader: OwnedReadHalf,
    mut writer: OwnedWriteHalf,
    head: &[u8],
    body: &[u8],
) -> Result<Answer, RawError> {
    // Atomic only so the future stays `Send`; one task touches it.
    let sent = AtomicUsize::new(0);
    let upload = async {
        writer.write_all(head).await?;
        for chunk in body.chunks(WRITE_CHUNK) {
            writer.write_all(chunk).await?;
            sent.fetch_add(chunk.len(), Ordering::Relaxed);
        }
        writer.flush().await
    };
    let answer = read_answer(&mut reader);
    tokio::pin!(upload, answer);
    let mut uploaded: Option<io::Result<()>> = None;
    let read = loop {
        tokio::select! {
            read = &mut answer => break read,
            result = &mut upload, if uploaded.is_none() => uploaded = Some(result),
        }
    };
    let (sent, total) = (sent.load(Ordering::Relaxed), body.len());
    match read {
        Ok(parsed) => Ok(Answer {
            status: parsed.status,
            headers: parsed.headers,
            body: parsed.body,
            upload: match uploaded {
                Some(Ok(())) => Upload::Complete,
                None => Upload::Unfinished { sent, total },
                Some(Err(error)) => Upload::Cut {
                    sent,
                    total,
                    reason: error.to_string(),
                },
            },
        }),
        Err(Failure::Nothing(None)) => Err(RawError::Closed { sent, total }),
        Err(Failure::Nothing(Some(source))) => Err(RawError::Reset {
            sent,
            total,
            source,
        }),
        Err(Failure::Partial { received, reason }) => Err(RawError::BrokeOff { received, reason }),
        Err(Failure::Malformed(reason)) => Err(RawError::Malformed(reason)),
    }
}

/// How reading an answer failed.
enum Failure {
    /// Not one byte came: closed (`None`) or reset (`Some`).
    Nothing(Option<io::Error>),
    Partial {
        received: usize,
        reason: String,
    },
    Malformed(String),
}

async fn read_answer(reader: &mut OwnedReadHalf) -> Result<Parsed, Failure> {
    let mut buffer = Vec::new();
    let mut chunk = vec![0; 16 * 1024];
    loop {
        let ended = match reader.read(&mut chunk).await {
            Ok(0) => true,
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                false
            }
            // Linux hands over what arrived before a reset first, so this is what the server
            // really sent: nothing, or part of an answer.
            Err(error) if buffer.is_empty() => return Err(Failure::Nothing(Some(error))),
            Err(error) => {
                return match parse(&buffer, true) {
                    Parse::Done(parsed) => Ok(parsed),
                    _ => Err(Failure::Partial {
                        received: buffer.len(),
                        reason: error.to_string(),
                    }),
                };
            }
        };
        match parse(&buffer, ended) {
            Parse::Done(parsed) => return Ok(parsed),
            Parse::Bad(reason) => return Err(Failure::Malformed(reason)),
            Parse::Need if !ended => {}
            Parse::Need if buffer.is_empty() => return Err(Failure::Nothing(None)),
            Parse::Need => {
                return Err(Failure::Partial {
                    received: buffer.len(),
                    reason: "the connection closed".into(),
                });
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum Parse {
    /// More bytes are needed.
    Need,
    Done(Parsed),
    Bad(String),
}

/// Parses the final answer at the start of `bytes` (interim 1xx answers skipped); `ended` says
/// the connection has closed, which ends a body framed by the close.
fn parse(mut bytes: &[u8], ended: bool) -> Parse {
    loop {
        let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            if bytes.len() > MAX_HEAD {
                return Parse::Bad(format!("no end of the head in the first {MAX_HEAD} bytes"));
            }
            if !bytes.is_empty() && !b"HTTP/".starts_with(&bytes[..bytes.len().min(5)]) {
                return Parse::Bad(format!("it starts with {:?}", preview(bytes)));
            }
            return Parse::Need;
        };
        let head = String::from_utf8_lossy(&bytes[..head_end]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = match status_line.split(' ').collect::<Vec<_>>()[..] {
            [version, code, ..] if version.starts_with("HTTP/1.") => match code.parse::<u16>() {
                Ok(code) if (100..600).contains(&code) => code,
                _ => return Parse::Bad(format!("status line {status_line:?}")),
            },
            _ => return Parse::Bad(format!("status line {status_line:?}")),
        };
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        let rest = &bytes[head_end + 4..];
        // 100 Continue and friends come before the real answer (101 would switch protocols).
        if (100..200).contains(&status) && status != 101 {
            bytes = rest;
            continue;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let chunked =
            header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = if matches!(status, 101 | 204 | 304) {
            Some(Vec::new())
        } else if chunked {
            match dechunk(rest) {
                Ok(body) => body,
                Err(reason) => return Parse::Bad(reason),
            }
        } else if let Some(length) = header("content-length") {
            let Ok(length) = length.parse::<usize>() else {
                return Parse::Bad(format!("Content-Length {length:?}"));
            };
            let wanted = length.min(MAX_ANSWER_BODY);
            (rest.len() >= wanted).then(|| rest[..wanted].to_vec())
        } else if ended || rest.len() >= MAX_ANSWER_BODY {
            Some(rest[..rest.len().min(MAX_ANSWER_BODY)].to_vec())
        } else {
            None
        };
        return match body {
            Some(body) => Parse::Done(Parsed {
                status,
                headers,
                body,
            }),
            None => Parse::Need,
        };
    }
}

/// The body of a chunked answer once its last chunk (or [`MAX_ANSWER_BODY`]) has arrived.
fn dechunk(mut bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        if body.len() >= MAX_ANSWER_BODY {
            body.truncate(MAX_ANSWER_BODY);
            return Ok(Some(body));
        }
        let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&bytes[..line_end]);
        let digits = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(digits, 16)
            .map_err(|_| format!("chunk size {:?}", preview(&bytes[..line_end])))?;
        if size == 0 {
            // Trailers may follow; the connection is not reused, so they do not matter.
            return Ok(Some(body));
        }
        let data = &bytes[line_end + 2..];
        if data.len() < size + 2 {
            let partial = &data[..data.len().min(size)];
            if body.len() + partial.len() >= MAX_ANSWER_BODY {
                body.extend_from_slice(partial);
                body.truncate(MAX_ANSWER_BODY);
                return Ok(Some(body));
            }
            return Ok(None);
        }
        body.extend_from_slice(&data[..size]);
        bytes = &data[size + 2..];
    }
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Parse {
        Parse::Done(Parsed {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        })
    }

    #[test]
    fn a_body_framed_by_content_length_is_complete_at_its_length() {
        let answer = b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}";
        assert_eq!(
            parse(&answer[..answer.len() - 1], false),
            Parse::Need,
            "one byte short"
        );
        assert_eq!(
            parse(answer, false),
            done(
                413,
                &[
                    ("content-type", "application/json"),
                    ("content-length", "7")
                ],
                b"{\"a\":1}"
            )
        );
    }

    #[test]
    fn a_chunked_body_is_complete_at_its_last_chunk() {
        let answer = b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n4;x=y\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse(&answer[..answer.len() - 7], false), Parse::Need);
        assert_eq!(
            parse(answer, false),
            done(400, &[("transfer-encoding", "chunked")], b"{\"a\":1}")
        );
    }

    #[test]
    fn a_body_without_framing_ends_with_the_connection() {
        let answer = b"HTTP/1.0 415 Unsupported Media Type\r\n\r\njson only";
        assert_eq!(parse(answer, false), Parse::Need);
        assert_eq!(parse(answer, true), done(415, &[], b"json only"));
    }

    #[test]
    fn interim_answers_are_skipped() {
        let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 422 Unprocessable Entity\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            parse(answer, false),
            done(422, &[("content-length", "0")], b"")
        );
    }

    #[test]
    fn a_long_body_is_cut_at_the_cap() {
        let mut answer = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 999999\r\n\r\n".to_vec();
        answer.resize(answer.len() + MAX_ANSWER_BODY, b'x');
        let Parse::Done(parsed) = parse(&answer, false) else {
            panic!("complete at the cap");
        };
        assert_eq!(parsed.body.len(), MAX_ANSWER_BODY);
    }

    #[test]
    fn what_is_not_http_is_said_early() {
        assert!(matches!(parse(b"SSH-2.0-OpenSSH", false), Parse::Bad(_)));
        assert!(
            matches!(parse(b"HTTP/1.1 abc\r\n\r\n", false), Parse::Bad(reason) if reason.contains("status line"))
        );
        assert_eq!(parse(b"HTT", false), Parse::Need);
    }

    #[test]
    fn sizes_read_at_a_glance() {
        assert_eq!(size(10), "10 B");
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(2 * 1024 * 1024 + 10), "2.0 MiB");
    }
}
