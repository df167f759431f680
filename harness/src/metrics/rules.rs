//! The rules `promtool check metrics` applies (client_golang's promlint), plus the consistency
//! a scraper relies on (unique series, cumulative histograms, counters that do not go
//! negative), each with a stable `DM` id.
//!
//! promlint reads the Prometheus text format, where a counter family is named `x_total`; in
//! OpenMetrics the family is `x` and its samples `x_total`. The `_total` rule therefore reads
//! the counter's sample names, and every other rule the family name, so both formats of one
//! metric get the same findings.

use std::collections::{BTreeMap, BTreeSet};

use crate::exposition::{Exposition, Family, Format, Kind, Sample, parse_value};
use crate::findings::rule;
use crate::findings::{Finding, Rule, finding};

rule!(
    PARSE,
    "DM001",
    Error,
    "Prometheus fails the whole scrape on one malformed line: every metric of the target goes missing",
    "serve the Prometheus text format (0.0.4) or OpenMetrics with a 200 on the metrics route, from a client library's encoder rather than by hand; `curl -s URL/metrics` shows the line"
);
rule!(
    HELP,
    "DM002",
    Warning,
    "without HELP, whoever reads a dashboard or an alert cannot tell what the metric counts",
    "give every metric a HELP text (the description argument of the client library)"
);
rule!(
    COUNTER_TOTAL,
    "DM003",
    Warning,
    "a counter without `_total` is not recognisable as one in PromQL, so rate() is forgotten or misapplied",
    "name the counter's samples `..._total` (client libraries add it when the metric is a Counter)"
);
rule!(
    NON_COUNTER_TOTAL,
    "DM004",
    Warning,
    "`_total` promises a counter: rate() over a gauge that goes down reads as resets and gives nonsense",
    "drop `_total` from the name, or make the metric a counter if it only ever goes up"
);
rule!(
    RESERVED,
    "DM005",
    Warning,
    "`_bucket`, `_count`, `_sum`, `le` and `quantile` belong to histograms and summaries; elsewhere they collide with their series and mislead queries",
    "rename the metric or label, or make it the histogram or summary it imitates"
);
rule!(
    TIMESTAMP,
    "DM006",
    Warning,
    "`_timestamp_seconds` names a point in time, which only a gauge can hold",
    "make the metric a gauge, or drop `_timestamp_seconds` from its name"
);
rule!(
    BASE_UNITS,
    "DM007",
    Warning,
    "mixed units (milliseconds here, seconds there) make queries and dashboards wrong by factors of 1000",
    "use base units: seconds, bytes, meters, ratio (0-1) instead of milli/micro/minutes/hours, kilo/mega/bits, percent"
);
rule!(
    ABBREVIATED_UNITS,
    "DM008",
    Warning,
    "`_ms`, `_s`, `_kb` and the like are ambiguous and hide a unit's scale",
    "spell the base unit out: `_seconds`, `_bytes`"
);
rule!(
    TYPE_IN_NAME,
    "DM009",
    Warning,
    "the metric's TYPE already says what it is; a type in the name goes stale when the type changes",
    "drop `_counter`, `_gauge`, `_histogram` or `_summary` from the name"
);
rule!(
    CAMEL_CASE,
    "DM010",
    Warning,
    "Prometheus names are snake_case; a camelCase name or label is one a query will misspell",
    "write metric and label names in snake_case (`httpRequests` -> `http_requests`)"
);
rule!(
    COLON,
    "DM011",
    Warning,
    "`:` is reserved for recording rules, so an exported name with one collides with them",
    "replace `:` with `_` in the metric name"
);
rule!(
    DUPLICATE,
    "DM012",
    Error,
    "the same series twice in one scrape: Prometheus keeps one and drops the other, so a value is silently lost",
    "give each series its own label values, or register the metric once (not once per worker, request or import)"
);
rule!(
    HISTOGRAM,
    "DM013",
    Error,
    "a histogram whose buckets are not cumulative, lack `+Inf` or disagree with `_count` makes histogram_quantile() and rates wrong",
    "let the client library render histograms; by hand: cumulative buckets per label set, a numeric `le`, an `le=\"+Inf\"` bucket equal to `_count`"
);
rule!(
    NEGATIVE_COUNTER,
    "DM014",
    Error,
    "a counter below zero reads as a reset on every scrape, so rate() and increase() are wrong",
    "count only upward with a counter (inc by a non-negative amount); use a gauge for what goes down"
);

rule!(
    COUNTER_MOVES,
    "DM020",
    Error,
    "a request counter that does not rise by the requests sent makes every rate, dashboard and alert built on it lie",
    "count every request once, in the HTTP middleware of the process that serves it, and name that counter in [monitoring] request_counter"
);

/// The rules over an exposition's text, in id order.
pub const RULES: [Rule; 14] = [
    PARSE,
    HELP,
    COUNTER_TOTAL,
    NON_COUNTER_TOTAL,
    RESERVED,
    TIMESTAMP,
    BASE_UNITS,
    ABBREVIATED_UNITS,
    TYPE_IN_NAME,
    CAMEL_CASE,
    COLON,
    DUPLICATE,
    HISTOGRAM,
    NEGATIVE_COUNTER,
];

/// Every rule over a parsed exposition, findings ordered by line, then id.
pub fn check(exposition: &Exposition, origin: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for family in &exposition.families {
        let mut add = |rule: &'static Rule, line: u64, message: String| {
            findings.push(finding(rule, origin, line, family.name.clone(), message));
        };
        help(family, &mut add);
        counter_total(family, exposition.format, &mut add);
        reserved(family, &mut add);
        units(family, &mut add);
        names(family, &mut add);
        negative(family, &mut add);
        histogram(family, &mut add);
    }
    duplicates(exposition, origin, &mut findings);
    findings.sort_by_key(|f| (f.line, f.rule));
    findings
}

type Add<'a> = dyn FnMut(&'static Rule, u64, String) + 'a;

fn help(family: &Family, add: &mut Add<'_>) {
    if family.help.as_deref().is_none_or(str::is_empty) {
        add(&HELP, family.line, "no help text".into());
    }
}

fn counter_total(family: &Family, format: Format, add: &mut Add<'_>) {
    let ends_total = family.name.ends_with("_total");
    match family.kind {
        Kind::Counter => {
            let bad: Vec<&Sample> = family
                .samples
                .iter()
                .filter(|s| !s.name.ends_with("_total") && !s.name.ends_with("_created"))
                .collect();
            if let Some(first) = bad.first() {
                add(
                    &COUNTER_TOTAL,
                    first.line,
                    format!(
                        "counter metrics should have \"_total\" suffix: sample `{}`",
                        first.name
                    ),
                );
            } else if family.samples.is_empty() && !ends_total && format == Format::Prometheus {
                // A counter without samples yet: only its name tells, and in the Prometheus
                // text format the name is the samples' name (in OpenMetrics it is not).
                add(
                    &COUNTER_TOTAL,
                    family.line,
                    "counter metrics should have \"_total\" suffix".into(),
                );
            }
        }
        Kind::Unknown => {}
        kind => {
            if ends_total {
                add(
                    &NON_COUNTER_TOTAL,
                    family.line,
                    format!(
                        "non-counter metrics should not have \"_total\" suffix (it is a {})",
                        kind.as_str()
                    ),
                );
            }
        }
    }
    if family.name.ends_with("_timestamp_seconds")
        && !matches!(family.kind, Kind::Gauge | Kind::Unknown)
    {
        add(
            &TIMESTAMP,
            family.line,
            format!(
                "non-gauge metrics should not have \"_timestamp_seconds\" suffix (it is a {})",
                family.kind.as_str()
            ),
        );
    }
}

fn reserved(family: &Family, add: &mut Add<'_>) {
    let kind = family.kind;
    // promlint leaves untyped metrics alone: without a TYPE, `x_count` may be anything.
    if kind == Kind::Unknown {
        return;
    }
    let histogram = matches!(kind, Kind::Histogram | Kind::GaugeHistogram);
    let summary = kind == Kind::Summary;
    let name = &family.name;
    if !histogram && name.ends_with("_bucket") {
        add(
            &RESERVED,
            family.line,
            "non-histogram metrics should not have \"_bucket\" suffix".into(),
        );
    }
    for suffix in ["_count", "_sum"] {
        if !histogram && !summary && name.ends_with(suffix) {
            add(
                &RESERVED,
                family.line,
                format!(
                    "non-histogram and non-summary metrics should not have \"{suffix}\" suffix"
                ),
            );
        }
    }
    for (label, allowed, what) in [
        ("le", histogram, "non-histogram"),
        ("quantile", summary, "non-summary"),
    ] {
        if allowed {
            continue;
        }
        if let Some(sample) = family.samples.iter().find(|s| s.label(label).is_some()) {
            add(
                &RESERVED,
                sample.line,
                format!("{what} metrics should not have \"{label}\" label"),
            );
        }
    }
}

/// promlint's units: each base unit, and what a non-base unit should be instead.
const UNITS: &[(&str, &str)] = &[
    ("amperes", "amperes"),
    ("bytes", "bytes"),
    ("celsius", "celsius"),
    ("grams", "grams"),
    ("joules", "joules"),
    ("kelvin", "kelvin"),
    ("meters", "meters"),
    ("metres", "metres"),
    ("seconds", "seconds"),
    ("volts", "volts"),
    ("minutes", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("weeks", "seconds"),
    ("kelvins", "kelvin"),
    ("fahrenheit", "celsius"),
    ("rankine", "celsius"),
    ("inches", "meters"),
    ("yards", "meters"),
    ("miles", "meters"),
    ("bits", "bytes"),
    ("calories", "joules"),
    ("pounds", "grams"),
    ("ounces", "grams"),
    // Not promlint's: Prometheus's naming guide asks for ratios (0-1) over percentages.
    ("percent", "ratio"),
    ("percentage", "ratio"),
];

const UNIT_PREFIXES: &[&str] = &[
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
];

const UNIT_ABBREVIATIONS: &[&str] = &[
    "s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb", "m", "h", "d",
];

/// The first word of `name` that is a unit (with or without a prefix), and its base unit.
fn unit_of(name: &str) -> Option<(&str, &'static str)> {
    name.split('_').find_map(|word| {
        UNITS.iter().find_map(|(unit, base)| {
            let bare = word == *unit;
            let prefixed = UNIT_PREFIXES
                .iter()
                .any(|p| word.strip_prefix(p) == Some(unit));
            (bare || prefixed).then_some((word, *base))
        })
    })
}

/// `_word_` inside `name` or `_word` at its end, case-insensitive.
fn has_word(name: &str, word: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains(&format!("_{word}_")) || name.ends_with(&format!("_{word}"))
}

fn units(family: &Family, add: &mut Add<'_>) {
    if let Some((unit, base)) = unit_of(&family.name)
        && unit != base
    {
        add(
            &BASE_UNITS,
            family.line,
            format!("use base unit \"{base}\" instead of \"{unit}\""),
        );
    }
    if let Some(abbreviation) = UNIT_ABBREVIATIONS
        .iter()
        .find(|a| has_word(&family.name, a))
    {
        add(
            &ABBREVIATED_UNITS,
            family.line,
            format!("metric names should not contain abbreviated units (`_{abbreviation}`)"),
        );
    }
}

fn is_camel_case(name: &str) -> bool {
    name.as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase())
}

fn names(family: &Family, add: &mut Add<'_>) {
    for kind in [
        "counter",
        "gauge",
        "summary",
        "histogram",
        "gauge_histogram",
    ] {
        if has_word(&family.name, kind) {
            add(
                &TYPE_IN_NAME,
                family.line,
                format!("metric name should not include type '{kind}'"),
            );
        }
    }
    if family.name.contains(':') {
        add(
            &COLON,
            family.line,
            "metric names should not contain ':'".into(),
        );
    }
    if is_camel_case(&family.name) {
        add(
            &CAMEL_CASE,
            family.line,
            "metric names should be written in 'snake_case' not 'camelCase'".into(),
        );
    }
    let mut seen = BTreeSet::new();
    for sample in &family.samples {
        for (label, _) in &sample.labels {
            if is_camel_case(label) && seen.insert(label.as_str()) {
                add(
                    &CAMEL_CASE,
                    sample.line,
                    format!(
                        "label names should be written in 'snake_case' not 'camelCase': `{label}`"
                    ),
                );
            }
        }
    }
}

fn negative(family: &Family, add: &mut Add<'_>) {
    if family.kind != Kind::Counter {
        return;
    }
    for sample in &family.samples {
        if sample.name.ends_with("_total") && sample.value < 0.0 {
            add(
                &NEGATIVE_COUNTER,
                sample.line,
                format!(
                    "counter sample `{}`{} is {}: counters never go below zero",
                    sample.name,
                    label_set(&sample.labels, None),
                    sample.value
                ),
            );
        }
    }
}

/// `{a="1",b="2"}` sorted by name, leaving out `skip`; empty for no labels.
fn label_set(labels: &[(String, String)], skip: Option<&str>) -> String {
    let mut sorted: Vec<&(String, String)> = labels
        .iter()
        .filter(|(n, _)| Some(n.as_str()) != skip)
        .collect();
    if sorted.is_empty() {
        return String::new();
    }
    sorted.sort();
    let inner: Vec<String> = sorted
        .iter()
        .map(|(n, v)| format!("{n}={}", quoted(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn quoted(value: &str) -> String {
    format!("{value:?}")
}

/// One histogram series: its buckets (le text, le value, count, line) and its `_count`.
#[derive(Default)]
struct Series<'a> {
    line: u64,
    buckets: Vec<(&'a str, f64, f64, u64)>,
    count: Option<f64>,
}

fn histogram(family: &Family, add: &mut Add<'_>) {
    let (count_suffix, count_name) = match family.kind {
        Kind::Histogram => ("_count", "`_count`"),
        Kind::GaugeHistogram => ("_gcount", "`_gcount`"),
        _ => return,
    };
    let bucket_name = format!("{}_bucket", family.name);
    let count_sample = format!("{}{count_suffix}", family.name);
    let mut series: BTreeMap<String, Series<'_>> = BTreeMap::new();
    for sample in &family.samples {
        if sample.name == bucket_name {
            let Some(le) = sample.label("le") else {
                add(
                    &HISTOGRAM,
                    sample.line,
                    format!("bucket `{bucket_name}` without an `le` label"),
                );
                continue;
            };
            let Some(bound) = parse_value(le).filter(|b| !b.is_nan()) else {
                add(
                    &HISTOGRAM,
                    sample.line,
                    format!("bucket bound le={} is not a number", quoted(le)),
                );
                continue;
            };
            let entry = series
                .entry(label_set(&sample.labels, Some("le")))
                .or_insert_with(|| Series {
                    line: sample.line,
                    ..Series::default()
                });
            entry.buckets.push((le, bound, sample.value, sample.line));
        } else if sample.name == count_sample {
            let entry = series
                .entry(label_set(&sample.labels, None))
                .or_insert_with(|| Series {
                    line: sample.line,
                    ..Series::default()
                });
            entry.count = Some(sample.value);
        }
    }
    for (labels, mut one) in series {
        let shown = if labels.is_empty() {
            "without labels".to_string()
        } else {
            labels.clone()
        };
        one.buckets.sort_by(|a, b| a.1.total_cmp(&b.1));
        let Some(&(_, _, infinite, inf_line)) = one.buckets.iter().find(|b| b.1 == f64::INFINITY)
        else {
            add(
                &HISTOGRAM,
                one.line,
                format!("series {shown} has no le=\"+Inf\" bucket"),
            );
            continue;
        };
        if let Some(pair) = one.buckets.windows(2).find(|w| w[1].2 < w[0].2) {
            let (low, high) = (&pair[0], &pair[1]);
            add(
                &HISTOGRAM,
                high.3,
                format!(
                    "series {shown}: bucket le={} counts {} but le={} below it counts {}: buckets are cumulative and never decrease",
                    quoted(high.0),
                    high.2,
                    quoted(low.0),
                    low.2
                ),
            );
        }
        if let Some(count) = one.count
            && count != infinite
        {
            add(
                &HISTOGRAM,
                inf_line,
                format!(
                    "series {shown}: the le=\"+Inf\" bucket counts {infinite} but {count_name} is {count}; they must be equal"
                ),
            );
        }
    }
}

fn duplicates(exposition: &Exposition, origin: &str, findings: &mut Vec<Finding>) {
    let mut seen: BTreeMap<(String, String), u64> = BTreeMap::new();
    for family in &exposition.families {
        for sample in &family.samples {
            let key = (sample.name.clone(), label_set(&sample.labels, None));
            match seen.get(&key) {
                Some(first) => findings.push(finding(
                    &DUPLICATE,
                    origin,
                    sample.line,
                    family.name.clone(),
                    format!(
                        "metric not unique: `{}{}` is on line {first} and again here",
                        key.0, key.1
                    ),
                )),
                None => {
                    seen.insert(key, sample.line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::parse;

    fn fired(text: &str) -> Vec<(&'static str, u64, String)> {
        let exposition = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        check(&exposition, "test.prom")
            .into_iter()
            .map(|f| (f.rule, f.line, f.message))
            .collect()
    }

    fn ids(text: &str) -> Vec<&'static str> {
        fired(text).into_iter().map(|(id, _, _)| id).collect()
    }

    const GOOD: &str = "\
# HELP http_requests Requests.
# TYPE http_requests counter
http_requests_total{route=\"/\"} 3
http_requests_created{route=\"/\"} 1.7e9
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{route=\"/\",le=\"0.1\"} 1
latency_seconds_bucket{route=\"/\",le=\"1\"} 3
latency_seconds_bucket{route=\"/\",le=\"+Inf\"} 3
latency_seconds_count{route=\"/\"} 3
latency_seconds_sum{route=\"/\"} 1.2
# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds summary
rpc_seconds{quantile=\"0.5\"} 0.1
rpc_seconds_count 2
rpc_seconds_sum 0.3
# EOF
";

    #[test]
    fn a_good_exposition_raises_nothing() {
        assert_eq!(fired(GOOD), vec![]);
    }

    #[test]
    fn promlints_messages_and_lines() {
        let cases: &[(&str, &str, u64, &str)] = &[
            ("# TYPE up gauge\nup 1\n", "DM002", 1, "no help text"),
            (
                "# HELP requests r\n# TYPE requests counter\nrequests 1\n",
                "DM003",
                3,
                "counter metrics should have \"_total\" suffix: sample `requests`",
            ),
            (
                "# HELP open_total o\n# TYPE open_total gauge\nopen_total 1\n",
                "DM004",
                1,
                "non-counter metrics should not have \"_total\" suffix (it is a gauge)",
            ),
            (
                "# HELP x_count c\n# TYPE x_count gauge\nx_count 1\n",
                "DM005",
                1,
                "non-histogram and non-summary metrics should not have \"_count\" suffix",
            ),
            (
                "# HELP x g\n# TYPE x gauge\nx{quantile=\"0.5\"} 1\n",
                "DM005",
                3,
                "non-summary metrics should not have \"quantile\" label",
            ),
            (
                "# HELP boot_timestamp_seconds b\n# TYPE boot_timestamp_seconds summary\nboot_timestamp_seconds_sum 1\n",
                "DM006",
                1,
                "non-gauge metrics should not have \"_timestamp_seconds\" suffix (it is a summary)",
            ),
            (
                "# HELP latency_milliseconds l\n# TYPE latency_milliseconds gauge\nlatency_milliseconds 1\n",
                "DM007",
                1,
                "use base unit \"seconds\" instead of \"milliseconds\"",
            ),
            (
                "# HELP cpu_percent c\n# TYPE cpu_percent gauge\ncpu_percent 1\n",
                "DM007",
                1,
                "use base unit \"ratio\" instead of \"percent\"",
            ),
            (
                "# HELP latency_ms l\n# TYPE latency_ms gauge\nlatency_ms 1\n",
                "DM008",
                1,
                "metric names should not contain abbreviated units (`_ms`)",
            ),
            (
                "# HELP jobs_gauge j\n# TYPE jobs_gauge gauge\njobs_gauge 1\n",
                "DM009",
                1,
                "metric name should not include type 'gauge'",
            ),
            (
                "# HELP x g\n# TYPE x gauge\nx{statusCode=\"200\"} 1\n",
                "DM010",
                3,
                "label names should be written in 'snake_case' not 'camelCase': `statusCode`",
            ),
            (
                "# HELP job:up g\n# TYPE job:up gauge\njob:up 1\n",
                "DM011",
                1,
                "metric names should not contain ':'",
            ),
            (
                "# HELP x g\n# TYPE x gauge\nx{a=\"1\",b=\"2\"} 1\nx{b=\"2\",a=\"1\"} 2\n",
                "DM012",
                4,
                "metric not unique: `x{a=\"1\",b=\"2\"}` is on line 3 and again here",
            ),
            (
                "# HELP r r\n# TYPE r counter\nr_total -1\n",
                "DM014",
                3,
                "counter sample `r_total` is -1: counters never go below zero",
            ),
        ];
        for (text, id, line, message) in cases {
            let found = fired(text);
            assert_eq!(found, vec![(*id, *line, message.to_string())], "{text}");
        }
    }

    #[test]
    fn camel_case_metric_names() {
        assert_eq!(
            ids("# HELP httpRequests h\n# TYPE httpRequests gauge\nhttpRequests 1\n"),
            ["DM010"]
        );
    }

    #[test]
    fn units_are_words_not_substrings() {
        // promlint: "thermometers" is no meter, "kilometers" is.
        assert!(unit_of("room_thermometers").is_none());
        assert_eq!(unit_of("run_kilometers"), Some(("kilometers", "meters")));
        assert_eq!(unit_of("size_megabytes"), Some(("megabytes", "bytes")));
        assert_eq!(
            unit_of("request_duration_seconds"),
            Some(("seconds", "seconds"))
        );
    }

    #[test]
    fn untyped_metrics_skip_the_type_rules() {
        // Without TYPE, promlint does not know the type, so neither do we.
        assert_eq!(
            ids("# HELP a_total a\na_total 1\n# HELP b_count b\nb_count 1\n"),
            Vec::<&str>::new()
        );
    }

    fn histogram_with(buckets: &str, count: &str) -> String {
        format!(
            "# HELP h h\n# TYPE h histogram\n{buckets}h_count{{r=\"a\"}} {count}\nh_sum{{r=\"a\"}} 1\n"
        )
    }

    #[test]
    fn histogram_consistency_per_label_set() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "h_bucket{r=\"a\",le=\"1\"} 2\n",
                "2",
                "series {r=\"a\"} has no le=\"+Inf\" bucket",
            ),
            (
                "h_bucket{r=\"a\",le=\"1\"} 3\nh_bucket{r=\"a\",le=\"2\"} 2\nh_bucket{r=\"a\",le=\"+Inf\"} 3\n",
                "3",
                "series {r=\"a\"}: bucket le=\"2\" counts 2 but le=\"1\" below it counts 3",
            ),
            (
                "h_bucket{r=\"a\",le=\"+Inf\"} 3\n",
                "4",
                "the le=\"+Inf\" bucket counts 3 but `_count` is 4",
            ),
            (
                "h_bucket{r=\"a\",le=\"soon\"} 3\nh_bucket{r=\"a\",le=\"+Inf\"} 3\n",
                "3",
                "bucket bound le=\"soon\" is not a number",
            ),
            (
                "h_bucket{r=\"a\"} 3\nh_bucket{r=\"a\",le=\"+Inf\"} 3\n",
                "3",
                "without an `le` label",
            ),
        ];
        for (buckets, count, words) in cases {
            let text = histogram_with(buckets, count);
            let found = fired(&text);
            assert_eq!(found.len(), 1, "{text}\n{found:?}");
            assert_eq!(found[0].0, "DM013", "{text}");
            assert!(found[0].2.contains(words), "{text}\n{}", found[0].2);
        }
        // Another label set's buckets do not stand in for this one's.
        let text = "# HELP h h\n# TYPE h histogram\nh_bucket{r=\"b\",le=\"+Inf\"} 1\nh_count{r=\"b\"} 1\nh_count{r=\"a\"} 1\n";
        assert_eq!(
            fired(text)[0].2,
            "series {r=\"a\"} has no le=\"+Inf\" bucket"
        );
    }

    #[test]
    fn buckets_out_of_order_on_the_page_are_sorted_by_le_first() {
        let text = histogram_with(
            "h_bucket{r=\"a\",le=\"+Inf\"} 3\nh_bucket{r=\"a\",le=\"10\"} 3\nh_bucket{r=\"a\",le=\"2\"} 1\n",
            "3",
        );
        assert_eq!(fired(&text), vec![]);
    }

    #[test]
    fn a_prometheus_text_counter_is_named_with_total() {
        let text = "# HELP hits_total h\n# TYPE hits_total counter\nhits_total 1\n";
        assert_eq!(fired(text), vec![]);
        // Declared but never observed: only the name can tell, and only in the Prometheus
        // format, where a counter's family and samples share the name.
        assert_eq!(ids("# HELP hits h\n# TYPE hits counter\n"), ["DM003"]);
        assert_eq!(
            ids("# HELP hits h\n# TYPE hits counter\n# EOF\n"),
            Vec::<&str>::new()
        );
    }
}
