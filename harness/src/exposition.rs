//! The Prometheus text exposition format and OpenMetrics, parsed: metric families with their
//! TYPE, HELP and UNIT, and their samples with labels and line numbers.
//!
//! The parser is lenient where the two formats differ (blank lines, spaces, a trailing comma
//! in a label set) and strict where a scraper would reject the text: a malformed sample, a
//! second TYPE or HELP for one name, a TYPE after the samples it types, anything after
//! `# EOF`. It keeps what the checks need (names, labels, values, lines) and skips exemplars
//! and timestamps after validating their shape.

use std::collections::{BTreeSet, HashMap, HashSet};

/// Which text format the exposition was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (no `# EOF`).
    Prometheus,
    /// OpenMetrics 1.0 (ends in `# EOF`).
    OpenMetrics,
}

/// A family's TYPE; `untyped` (Prometheus) and a family without TYPE are [`Kind::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl Kind {
    /// The word the TYPE line uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::GaugeHistogram => "gaugehistogram",
            Kind::Summary => "summary",
            Kind::Info => "info",
            Kind::StateSet => "stateset",
            Kind::Unknown => "unknown",
        }
    }

    fn from_type_word(word: &str) -> Option<Kind> {
        Some(match word {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "gaugehistogram" => Kind::GaugeHistogram,
            "summary" => Kind::Summary,
            "info" => Kind::Info,
            "stateset" => Kind::StateSet,
            "unknown" | "untyped" => Kind::Unknown,
            _ => return None,
        })
    }

    /// The suffixes a sample of a family of this kind may add to the family's name (the bare
    /// name is always allowed: a Prometheus-text counter is typed under its `_total` name).
    pub fn sample_suffixes(self) -> &'static [&'static str] {
        match self {
            Kind::Counter => &["_total", "_created"],
            Kind::Histogram => &["_bucket", "_sum", "_count", "_created"],
            Kind::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
            Kind::Summary => &["_sum", "_count", "_created"],
            Kind::Info => &["_info"],
            Kind::Gauge | Kind::StateSet | Kind::Unknown => &[],
        }
    }
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's own name (`http_requests_total`, `x_bucket`), not the family's.
    pub name: String,
    /// In the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// 1-based line.
    pub line: u64,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A metric family: its metadata and its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    /// Unescaped; `Some("")` for a HELP line without text.
    pub help: Option<String>,
    pub unit: Option<String>,
    /// 1-based line of its first TYPE, HELP, UNIT or sample.
    pub line: u64,
    pub samples: Vec<Sample>,
}

/// A parsed exposition, families in the order they first appear.
#[derive(Clone, Debug, PartialEq)]
pub struct Exposition {
    pub format: Format,
    pub families: Vec<Family>,
}

/// Why the text is not an exposition, and on which line.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based.
    pub line: u64,
    pub message: String,
}

fn error(line: u64, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// Parses a Prometheus text (0.0.4) or OpenMetrics (1.0) exposition; the format is
/// OpenMetrics when the text ends in `# EOF`.
///
/// # Errors
///
/// The first line a scraper would reject, with its 1-based number.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut builder = Builder::default();
    let mut eof_line = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index as u64 + 1;
        let content = raw.trim_end_matches('\r');
        if let Some(eof) = eof_line {
            if content.trim().is_empty() {
                continue;
            }
            return Err(error(
                line,
                format!("content after `# EOF` (line {eof}): OpenMetrics ends at `# EOF`"),
            ));
        }
        let trimmed = content.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if comment.trim() == "EOF" {
                eof_line = Some(line);
            } else {
                builder.metadata(comment, line)?;
            }
            continue;
        }
        let sample = parse_sample(trimmed, line)?;
        builder.sample(sample);
    }
    Ok(Exposition {
        format: if eof_line.is_some() {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        },
        families: builder.families,
    })
}

#[derive(Default)]
struct Builder {
    families: Vec<Family>,
    by_name: HashMap<String, usize>,
    /// Families that had a TYPE line.
    typed: HashSet<usize>,
}

impl Builder {
    /// A `#` line: HELP, TYPE or UNIT; any other comment is skipped, as Prometheus does.
    fn metadata(&mut self, comment: &str, line: u64) -> Result<(), ParseError> {
        let comment = comment.trim_start_matches([' ', '\t']);
        let (keyword, rest) = split_word(comment);
        if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
            return Ok(());
        }
        let (name, rest) = split_word(rest);
        if name.is_empty() {
            return Err(error(line, format!("`# {keyword}` without a metric name")));
        }
        if !is_metric_name(name) {
            return Err(error(
                line,
                format!("invalid metric name `{name}` in `# {keyword}`"),
            ));
        }
        let index = self.family_index(name, line);
        let family = &mut self.families[index];
        match keyword {
            "HELP" => {
                if family.help.is_some() {
                    return Err(error(
                        line,
                        format!("second HELP line for metric name `{name}`"),
                    ));
                }
                family.help = Some(unescape_help(rest));
            }
            "TYPE" => {
                let word = rest.trim();
                let kind = Kind::from_type_word(word).ok_or_else(|| {
                    error(
                        line,
                        format!(
                            "unknown metric type `{word}` for `{name}` (counter, gauge, \
                             histogram, gaugehistogram, summary, info, stateset, unknown)"
                        ),
                    )
                })?;
                if !self.typed.insert(index) || !family.samples.is_empty() {
                    return Err(error(
                        line,
                        format!(
                            "second TYPE line for metric name `{name}`, or TYPE reported after \
                             samples"
                        ),
                    ));
                }
                family.kind = kind;
            }
            _ => {
                if family.unit.is_some() {
                    return Err(error(
                        line,
                        format!("second UNIT line for metric name `{name}`"),
                    ));
                }
                family.unit = Some(rest.trim().to_string());
            }
        }
        Ok(())
    }

    fn family_index(&mut self, name: &str, line: u64) -> usize {
        if let Some(&index) = self.by_name.get(name) {
            return index;
        }
        self.families.push(Family {
            name: name.to_string(),
            kind: Kind::Unknown,
            help: None,
            unit: None,
            line,
            samples: Vec::new(),
        });
        self.by_name
            .insert(name.to_string(), self.families.len() - 1);
        self.families.len() - 1
    }

    fn sample(&mut self, sample: Sample) {
        let index = self
            .by_name
            .get(&sample.name)
            .copied()
            .or_else(|| {
                self.families.iter().position(|family| {
                    family.kind.sample_suffixes().iter().any(|suffix| {
                        sample.name.strip_suffix(suffix) == Some(family.name.as_str())
                    })
                })
            })
            .unwrap_or_else(|| self.family_index(&sample.name, sample.line));
        self.families[index].samples.push(sample);
    }
}

/// The first word and the rest after one run of blanks.
fn split_word(text: &str) -> (&str, &str) {
    match text.find([' ', '\t']) {
        Some(at) => (&text[..at], text[at..].trim_start_matches([' ', '\t'])),
        None => (text, ""),
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// HELP text: `\\` and `\n` in both formats, `\"` in OpenMetrics; any other backslash stays.
fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A cursor over one sample line.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
    line: u64,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn blanks(&mut self) -> bool {
        let start = self.at;
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.at += 1;
        }
        self.at > start
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.at;
        while let Some(c) = self.peek() {
            if !keep(c) {
                break;
            }
            self.at += c.len_utf8();
        }
        &self.text[start..self.at]
    }

    fn token(&mut self) -> &'a str {
        self.take_while(|c| c != ' ' && c != '\t')
    }

    fn fail(&self, message: impl Into<String>) -> ParseError {
        error(self.line, message)
    }

    /// `{name="value",...}` with the cursor on `{`.
    fn labels(&mut self) -> Result<Vec<(String, String)>, ParseError> {
        self.at += 1;
        let mut labels: Vec<(String, String)> = Vec::new();
        loop {
            self.blanks();
            if self.peek() == Some('}') {
                self.at += 1;
                return Ok(labels);
            }
            let name = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
            if !is_label_name(name) {
                let found = self
                    .peek()
                    .map_or("the end of the line".into(), |c| format!("`{c}`"));
                return Err(self.fail(format!(
                    "expected a label name at column {}, found {found}",
                    self.at + 1
                )));
            }
            self.blanks();
            if self.peek() != Some('=') {
                return Err(self.fail(format!("expected `=` after label name `{name}`")));
            }
            self.at += 1;
            self.blanks();
            if self.peek() != Some('"') {
                return Err(self.fail(format!("expected a quoted value for label `{name}`")));
            }
            self.at += 1;
            let value = self.label_value(name)?;
            if labels.iter().any(|(n, _)| n == name) {
                return Err(self.fail(format!("duplicate label name `{name}`")));
            }
            labels.push((name.to_string(), value));
            self.blanks();
            match self.peek() {
                Some(',') => self.at += 1,
                Some('}') => {}
                _ => {
                    return Err(self.fail(format!(
                        "expected `,` or `}}` after the value of label `{name}`"
                    )));
                }
            }
        }
    }

    /// The rest of a quoted label value, cursor after the opening quote.
    fn label_value(&mut self, name: &str) -> Result<String, ParseError> {
        let mut value = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.fail(format!("the value of label `{name}` is not closed by `\"`")));
            };
            self.at += c.len_utf8();
            match c {
                '"' => return Ok(value),
                '\\' => {
                    let Some(escaped) = self.peek() else {
                        return Err(
                            self.fail(format!("the value of label `{name}` ends in a lone `\\`"))
                        );
                    };
                    self.at += escaped.len_utf8();
                    match escaped {
                        'n' => value.push('\n'),
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        other => {
                            return Err(self.fail(format!(
                                "invalid escape `\\{other}` in the value of label `{name}` \
                                 (only \\\\, \\\" and \\n)"
                            )));
                        }
                    }
                }
                '\n' => {
                    return Err(self.fail(format!("a raw newline in the value of label `{name}`")));
                }
                c => value.push(c),
            }
        }
    }
}

/// A float as both formats write it: `1`, `-2.5e3`, `+Inf`, `-Inf`, `NaN`.
pub fn parse_value(text: &str) -> Option<f64> {
    // Rust accepts `infinity` and `nan` in any case, as Go's ParseFloat does; it also
    // accepts nothing Go rejects except these spellings.
    text.parse::<f64>().ok()
}

fn parse_sample(text: &str, line: u64) -> Result<Sample, ParseError> {
    let mut cursor = Cursor { text, at: 0, line };
    let name = cursor.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if !is_metric_name(name) {
        let shown = cursor.token();
        return Err(error(
            line,
            format!("invalid metric name `{name}{shown}`: names match [a-zA-Z_:][a-zA-Z0-9_:]*"),
        ));
    }
    let blank_after_name = cursor.blanks();
    let labels = if cursor.peek() == Some('{') {
        cursor.labels()?
    } else if blank_after_name || cursor.peek().is_none() {
        Vec::new()
    } else {
        let found = cursor.peek().unwrap_or(' ');
        return Err(error(
            line,
            format!(
                "unexpected `{found}` after metric name `{name}`: names match [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
        ));
    };
    cursor.blanks();
    let value_text = cursor.token();
    if value_text.is_empty() {
        return Err(error(line, format!("sample `{name}` has no value")));
    }
    let value = parse_value(value_text).ok_or_else(|| {
        error(
            line,
            format!("`{value_text}` is not a number (sample `{name}`)"),
        )
    })?;
    cursor.blanks();
    if cursor.peek().is_some_and(|c| c != '#') {
        let stamp = cursor.token();
        if stamp.parse::<f64>().is_err() {
            return Err(error(
                line,
                format!("`{stamp}` is not a timestamp (sample `{name}`)"),
            ));
        }
        cursor.blanks();
    }
    if cursor.peek() == Some('#') {
        exemplar(&mut cursor, name)?;
    }
    cursor.blanks();
    if let Some(c) = cursor.peek() {
        return Err(error(
            line,
            format!("unexpected `{c}` after the value of sample `{name}`"),
        ));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
        line,
    })
}

/// ` # {labels} value [timestamp]`, cursor on `#`: checked for shape, then dropped.
fn exemplar(cursor: &mut Cursor<'_>, name: &str) -> Result<(), ParseError> {
    cursor.at += 1;
    cursor.blanks();
    if cursor.peek() != Some('{') {
        return Err(cursor.fail(format!(
            "an exemplar of sample `{name}` must start with `# {{`"
        )));
    }
    cursor.labels()?;
    cursor.blanks();
    let value = cursor.token();
    if parse_value(value).is_none() {
        return Err(cursor.fail(format!(
            "the exemplar of sample `{name}` has no valid value (`{value}`)"
        )));
    }
    cursor.blanks();
    if cursor.peek().is_some() {
        let stamp = cursor.token();
        if stamp.parse::<f64>().is_err() {
            return Err(cursor.fail(format!(
                "`{stamp}` is not a timestamp (exemplar of sample `{name}`)"
            )));
        }
    }
    Ok(())
}

impl Exposition {
    /// Family by its name or by one of its sample names (OpenMetrics counter `x` has samples
    /// `x_total`).
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name).or_else(|| {
            self.families
                .iter()
                .find(|f| f.samples.iter().any(|s| s.name == name))
        })
    }

    /// Every family name and every sample name (so `http_requests`, `http_requests_total`,
    /// `..._bucket` all appear).
    pub fn names(&self) -> BTreeSet<String> {
        self.families
            .iter()
            .flat_map(|f| {
                std::iter::once(f.name.clone()).chain(f.samples.iter().map(|s| s.name.clone()))
            })
            .collect()
    }

    /// Every sample called `metric`, or, for a counter family called `metric` whose samples
    /// carry `_total`, those.
    pub fn samples(&self, metric: &str) -> Vec<&Sample> {
        let named = |name: &str| -> Vec<&Sample> {
            self.families
                .iter()
                .flat_map(|f| f.samples.iter())
                .filter(|s| s.name == name)
                .collect()
        };
        let direct = named(metric);
        if !direct.is_empty() {
            return direct;
        }
        let counter = self
            .families
            .iter()
            .any(|f| f.name == metric && f.kind == Kind::Counter);
        if counter {
            named(&format!("{metric}_total"))
        } else {
            direct
        }
    }

    /// Sum of the samples called `metric` (or, for a counter family called `metric` without
    /// `_total`, its `_total` samples) whose labels include every (name, value) of `matching`;
    /// None when no sample of that name exists at all.
    pub fn total(&self, metric: &str, matching: &[(&str, &str)]) -> Option<f64> {
        let samples = self.samples(metric);
        if samples.is_empty() {
            return None;
        }
        Some(
            samples
                .iter()
                .filter(|s| {
                    matching
                        .iter()
                        .all(|(name, value)| s.label(name) == Some(*value))
                })
                .map(|s| s.value)
                .sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What prometheus-client 0.26 writes for the reference app (app/src/metrics.rs).
    const REFERENCE: &str = "\
# HELP http_requests HTTP requests by method, route and status.
# TYPE http_requests counter
http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 3
http_requests_total{method=\"POST\",route=\"/data\",status=\"503\"} 1
# HELP http_request_duration_seconds Time from request to response headers.
# TYPE http_request_duration_seconds histogram
# UNIT http_request_duration_seconds seconds
http_request_duration_seconds_sum{method=\"GET\",route=\"/\"} 0.5
http_request_duration_seconds_count{method=\"GET\",route=\"/\"} 3
http_request_duration_seconds_bucket{le=\"0.5\",method=\"GET\",route=\"/\"} 2
http_request_duration_seconds_bucket{le=\"+Inf\",method=\"GET\",route=\"/\"} 3
# EOF
";

    #[test]
    fn reads_the_reference_apps_openmetrics() {
        let exposition = parse(REFERENCE).unwrap();
        assert_eq!(exposition.format, Format::OpenMetrics);
        let names: Vec<_> = exposition.families.iter().map(|f| &f.name).collect();
        assert_eq!(names, ["http_requests", "http_request_duration_seconds"]);
        let requests = &exposition.families[0];
        assert_eq!(requests.kind, Kind::Counter);
        assert_eq!(
            requests.help.as_deref(),
            Some("HTTP requests by method, route and status.")
        );
        assert_eq!(requests.line, 1);
        assert_eq!(requests.samples.len(), 2);
        assert_eq!(requests.samples[1].line, 4);
        assert_eq!(requests.samples[1].label("status"), Some("503"));
        let latency = &exposition.families[1];
        assert_eq!(latency.kind, Kind::Histogram);
        assert_eq!(latency.unit.as_deref(), Some("seconds"));
        assert_eq!(latency.samples.len(), 4);
        assert_eq!(latency.samples[3].value, 3.0);
    }

    #[test]
    fn totals_a_counter_by_family_or_sample_name_and_labels() {
        let exposition = parse(REFERENCE).unwrap();
        assert_eq!(exposition.total("http_requests", &[]), Some(4.0));
        assert_eq!(exposition.total("http_requests_total", &[]), Some(4.0));
        assert_eq!(
            exposition.total("http_requests_total", &[("route", "/")]),
            Some(3.0)
        );
        assert_eq!(
            exposition.total("http_requests", &[("route", "/"), ("status", "503")]),
            Some(0.0)
        );
        assert_eq!(exposition.total("requests_total", &[]), None);
        // A histogram is not a counter: its family name does not stand for `_total`.
        assert_eq!(exposition.total("http_request_duration_seconds", &[]), None);
    }

    #[test]
    fn names_hold_families_and_samples() {
        let names = parse(REFERENCE).unwrap().names();
        for name in [
            "http_requests",
            "http_requests_total",
            "http_request_duration_seconds",
            "http_request_duration_seconds_bucket",
            "http_request_duration_seconds_count",
        ] {
            assert!(names.contains(name), "{name} missing from {names:?}");
        }
        assert!(!names.contains("http_request_duration_seconds_total"));
    }

    #[test]
    fn family_is_found_by_sample_name() {
        let exposition = parse(REFERENCE).unwrap();
        assert_eq!(
            exposition.family("http_requests_total").unwrap().name,
            "http_requests"
        );
        assert_eq!(
            exposition
                .family("http_request_duration_seconds_bucket")
                .unwrap()
                .name,
            "http_request_duration_seconds"
        );
        assert!(exposition.family("nope").is_none());
    }

    #[test]
    fn prometheus_text_with_untyped_samples_escapes_and_timestamps() {
        let text = "\
# A comment that is neither HELP nor TYPE.
# HELP requests_total Requests, \\\\ and a\\nnewline.
# TYPE requests_total counter
requests_total{path=\"/a\\\"b\\\\c\\nd\",} 12 1700000000000

temperature{room=\"x\"}   -3.5e1
up 1
free_space +Inf
ratio NaN
low -Inf
";
        let exposition = parse(text).unwrap();
        assert_eq!(exposition.format, Format::Prometheus);
        let requests = exposition.family("requests_total").unwrap();
        assert_eq!(requests.kind, Kind::Counter);
        assert_eq!(
            requests.help.as_deref(),
            Some("Requests, \\ and a\nnewline.")
        );
        assert_eq!(requests.samples[0].label("path"), Some("/a\"b\\c\nd"));
        assert_eq!(requests.samples[0].value, 12.0);
        let temperature = exposition.family("temperature").unwrap();
        assert_eq!(temperature.kind, Kind::Unknown);
        assert_eq!(temperature.help, None);
        assert_eq!(temperature.line, 6);
        assert_eq!(temperature.samples[0].value, -35.0);
        assert_eq!(exposition.total("free_space", &[]), Some(f64::INFINITY));
        assert!(exposition.total("ratio", &[]).unwrap().is_nan());
        assert_eq!(exposition.total("low", &[]), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn exemplars_are_skipped() {
        let text = "\
# TYPE hits counter
hits_total{a=\"b\"} 3 # {trace_id=\"abc\"} 1.0 1700000000.5
hits_created 1700000000.0
# TYPE lat histogram
lat_bucket{le=\"+Inf\"} 3 # {trace_id=\"x\"} 0.2
lat_count 3
lat_sum 0.4
# EOF
";
        let exposition = parse(text).unwrap();
        assert_eq!(exposition.families.len(), 2);
        assert_eq!(exposition.total("hits", &[]), Some(3.0));
        assert_eq!(exposition.families[0].samples.len(), 2);
        assert_eq!(exposition.families[1].samples.len(), 3);
    }

    #[test]
    fn a_suffix_the_family_kind_does_not_admit_starts_its_own_family() {
        let text = "# TYPE temp gauge\ntemp 1\ntemp_total 2\n";
        let exposition = parse(text).unwrap();
        let names: Vec<_> = exposition.families.iter().map(|f| &f.name).collect();
        assert_eq!(names, ["temp", "temp_total"]);
        assert_eq!(exposition.families[1].kind, Kind::Unknown);
    }

    #[test]
    fn untyped_is_unknown() {
        let exposition = parse("# TYPE x untyped\nx 1\n").unwrap();
        assert_eq!(exposition.families[0].kind, Kind::Unknown);
    }

    fn error_of(text: &str) -> ParseError {
        parse(text).expect_err("should not parse")
    }

    #[test]
    fn errors_carry_the_line_and_say_what_is_wrong() {
        let cases: &[(&str, u64, &str)] = &[
            ("up 1\n# EOF\nup 2\n", 3, "after `# EOF`"),
            ("# TYPE x counter\n# TYPE x gauge\n", 2, "second TYPE"),
            ("x 1\n# TYPE x gauge\n", 2, "after samples"),
            ("# HELP x a\n# HELP x b\n", 2, "second HELP"),
            ("# TYPE x thing\n", 1, "unknown metric type `thing`"),
            ("\n\n1x 1\n", 3, "invalid metric name"),
            ("x{a=\"1\" 2\n", 1, "expected `,` or `}`"),
            ("x{a=\"1} 2\n", 1, "not closed"),
            ("x{a=1} 2\n", 1, "quoted value"),
            ("x{a=\"\\t\"} 2\n", 1, "invalid escape"),
            ("x{a=\"1\",a=\"2\"} 2\n", 1, "duplicate label name `a`"),
            ("x{1a=\"1\"} 2\n", 1, "label name"),
            ("x\n", 1, "no value"),
            ("x one\n", 1, "not a number"),
            ("x 1 soon\n", 1, "not a timestamp"),
            ("x 1 # trace 1\n", 1, "exemplar"),
            ("# HELP\n", 1, "without a metric name"),
            ("# TYPE x-y counter\n", 1, "invalid metric name"),
        ];
        for (text, line, words) in cases {
            let err = error_of(text);
            assert_eq!(err.line, *line, "{text:?}: {err}");
            assert!(err.message.contains(words), "{text:?}: {err}");
        }
    }

    #[test]
    fn comments_and_blank_lines_after_eof_do_not_count_as_content_but_a_comment_does() {
        assert!(parse("up 1\n# EOF\n\n").is_ok());
        assert_eq!(error_of("up 1\n# EOF\n# x\n").line, 3);
    }

    #[test]
    fn value_spellings_match_gos_parse_float() {
        for (text, value) in [
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("1e3", 1000.0),
        ] {
            assert_eq!(parse_value(text), Some(value));
        }
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("0x10"), None);
        assert_eq!(parse_value(""), None);
    }
}
