//! Whether a request counter counts: how much it rose between two sets of scrapes, and the
//! verdict on that rise against the requests sent. Pure functions, so the URL driver and the
//! cluster's `monitoring` scenario (one scrape per pod) judge alike.

use std::collections::BTreeSet;

use crate::exposition::{Exposition, Kind};

/// The labels that name a request's route, in the order they are preferred when several carry
/// the path (`route` is the reference app's, `handler` Prometheus's own, `path` and `endpoint`
/// common exporters', `uri` Spring's).
const PATH_LABELS: [&str; 7] = [
    "route",
    "path",
    "handler",
    "endpoint",
    "uri",
    "url",
    "http_route",
];

/// What a request counter did between two sets of scrapes (one exposition per pod/target).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Delta {
    pub counter: String,
    /// The path the requests were sent to.
    pub path: String,
    /// The rise over every series of the counter, summed over the targets.
    pub all: f64,
    /// When a label of the counter carries the path as its value (`route="/"`): that label and
    /// the rise of the series that carry it.
    pub on_path: Option<(String, f64)>,
    /// No scrape after the requests has a sample of the counter.
    pub missing: bool,
    /// When `missing`: the counters the scrapes do have (or every family, if no counter), so
    /// the failure can name the right one.
    pub present: Vec<String>,
}

/// How much `counter` rose from `before` to `after`, in total and on the series whose path
/// label is `path`.
///
/// `before[i]` and `after[i]` are scrapes of the same target; an `after` without a `before`
/// (a pod that came up in between) counts from zero, and a target whose counter fell (it
/// restarted) counts its new value, as Prometheus's `increase()` does.
pub fn delta(before: &[Exposition], after: &[Exposition], counter: &str, path: &str) -> Delta {
    let missing = !after.iter().any(|e| e.total(counter, &[]).is_some());
    let on_path = path_label(after, counter, path).map(|label| {
        let rise = increase(before, after, counter, &[(&label, path)]);
        (label, rise)
    });
    Delta {
        counter: counter.to_string(),
        path: path.to_string(),
        all: increase(before, after, counter, &[]),
        on_path,
        missing,
        present: if missing { present(after) } else { Vec::new() },
    }
}

/// The rise of the samples of `counter` matching `labels`, summed over the targets.
pub fn increase(
    before: &[Exposition],
    after: &[Exposition],
    counter: &str,
    labels: &[(&str, &str)],
) -> f64 {
    after
        .iter()
        .enumerate()
        .map(|(i, later)| {
            let now = later.total(counter, labels).unwrap_or(0.0);
            let then = before
                .get(i)
                .and_then(|e| e.total(counter, labels))
                .unwrap_or(0.0);
            if now >= then { now - then } else { now }
        })
        .sum()
}

/// The label of `counter`'s samples whose value is `path`, preferring [`PATH_LABELS`].
fn path_label(after: &[Exposition], counter: &str, path: &str) -> Option<String> {
    let carrying: BTreeSet<&str> = after
        .iter()
        .flat_map(|e| e.samples(counter))
        .flat_map(|s| s.labels.iter())
        .filter(|(_, value)| value == path)
        .map(|(name, _)| name.as_str())
        .collect();
    PATH_LABELS
        .iter()
        .find(|l| carrying.contains(*l))
        .copied()
        .or_else(|| carrying.first().copied())
        .map(str::to_string)
}

/// The counters of the scrapes by the name a query uses, else every family.
fn present(after: &[Exposition]) -> Vec<String> {
    let mut counters = BTreeSet::new();
    let mut families = BTreeSet::new();
    for family in after.iter().flat_map(|e| &e.families) {
        families.insert(family.name.clone());
        match family.kind {
            Kind::Counter => {
                counters.extend(
                    family
                        .samples
                        .iter()
                        .filter(|s| s.name.ends_with("_total"))
                        .map(|s| s.name.clone()),
                );
                if family.samples.is_empty() {
                    counters.insert(family.name.clone());
                }
            }
            Kind::Unknown if family.name.ends_with("_total") => {
                counters.insert(family.name.clone());
            }
            _ => {}
        }
    }
    if counters.is_empty() {
        families.into_iter().collect()
    } else {
        counters.into_iter().collect()
    }
}

/// A count as people write it: `20`, not `20.0`; a fraction only when there is one.
pub fn count(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// Counters are floats; a sum of integers read back may be off in the last bits.
const EPSILON: f64 = 1e-6;

/// Ok(detail) or Err(failure with the fix): the counter must rise by `sent` (the requests to
/// `path`), beyond what `background` (requests counted in the same interval that were not
/// ours: probes, scrapes, other clients) explains.
///
/// The series whose path label is the sent path are judged when there are any (they must
/// rise by `sent`, up to `background` more); otherwise the counter's total is.
pub fn judge(sent: u64, delta: &Delta, background: f64) -> Result<String, String> {
    let counter = &delta.counter;
    let path = &delta.path;
    if delta.missing {
        let present = if delta.present.is_empty() {
            "no metric at all".to_string()
        } else {
            let names: Vec<String> = delta.present.iter().map(|n| format!("`{n}`")).collect();
            names.join(", ")
        };
        return Err(format!(
            "the counter `{counter}` is not in the exposition, which has {present}: set \
             [monitoring] request_counter (or --counter) to the counter of HTTP requests served, \
             or add one to the app"
        ));
    }
    let (risen, scope) = match &delta.on_path {
        Some((label, rise)) => (*rise, format!("series with {label}={path:?}")),
        None => (delta.all, "all series".to_string()),
    };
    let sent_f = sent as f64;
    let background = background.max(0.0);
    let allowed = sent_f + background;
    let requests = format!(
        "{sent} request{} to `{path}`",
        if sent == 1 { "" } else { "s" }
    );
    if risen.abs() <= EPSILON && sent > 0 {
        return Err(format!(
            "the counter `{counter}` did not move after {requests} ({scope}): count every \
             request in the app's HTTP middleware (or use the framework's exporter), and serve \
             the metrics from the process that serves the requests (with several worker \
             processes, the client library's multiprocess mode)"
        ));
    }
    if risen + EPSILON < sent_f {
        return Err(format!(
            "the counter `{counter}` rose by {} after {requests} ({scope}): {} of them were not \
             counted; count every request whatever its route and status, in every worker \
             process, and scrape a single replica (a Service spreads the requests over pods \
             whose counters are not all read)",
            count(risen),
            count(sent_f - risen)
        ));
    }
    if risen > allowed + EPSILON {
        return Err(format!(
            "the counter `{counter}` rose by {} after {requests} ({scope}), more than the {sent} \
             sent and {} other requests seen in the same interval explain: it counts something \
             else too, or each request more than once (two middlewares, a counter incremented \
             both before and after the handler)",
            count(risen),
            count(background)
        ));
    }
    Ok(format!(
        "`{counter}` rose by {} after {requests} ({scope}; other traffic in the interval: up to {})",
        count(risen),
        count(background)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::parse;

    fn scrape(root: u64, data: u64) -> Exposition {
        parse(&format!(
            "# TYPE http_requests counter\n\
             http_requests_total{{method=\"GET\",route=\"/\",status=\"200\"}} {root}\n\
             http_requests_total{{method=\"GET\",route=\"/data\",status=\"200\"}} {data}\n\
             # EOF\n"
        ))
        .unwrap()
    }

    fn unlabelled(value: u64) -> Exposition {
        parse(&format!(
            "# TYPE flask_http_request_total counter\nflask_http_request_total {value}\n"
        ))
        .unwrap()
    }

    #[test]
    fn delta_judges_the_path_label_and_the_total() {
        let d = delta(
            &[scrape(3, 5)],
            &[scrape(23, 7)],
            "http_requests_total",
            "/",
        );
        assert_eq!(d.all, 22.0);
        assert_eq!(d.on_path, Some(("route".to_string(), 20.0)));
        assert!(!d.missing);
        // By its OpenMetrics family name too.
        let d = delta(&[scrape(3, 5)], &[scrape(23, 7)], "http_requests", "/");
        assert_eq!(d.on_path, Some(("route".to_string(), 20.0)));
    }

    #[test]
    fn delta_sums_pods_counts_new_pods_from_zero_and_resets_as_increase_does() {
        let before = [scrape(10, 0), scrape(4, 0)];
        // Pod 2 restarted (4 -> 1), pod 3 is new.
        let after = [scrape(15, 0), scrape(1, 0), scrape(2, 0)];
        let d = delta(&before, &after, "http_requests_total", "/");
        assert_eq!(d.on_path, Some(("route".to_string(), 5.0 + 1.0 + 2.0)));
    }

    #[test]
    fn a_counter_that_appears_only_after_the_requests_counts_from_zero() {
        let empty = parse("# TYPE http_requests counter\n# EOF\n").unwrap();
        let d = delta(&[empty], &[scrape(20, 0)], "http_requests_total", "/");
        assert!(!d.missing);
        assert_eq!(judge(20, &d, 0.0), Ok("`http_requests_total` rose by 20 after 20 requests to `/` (series with route=\"/\"; other traffic in the interval: up to 0)".into()));
    }

    #[test]
    fn without_a_path_label_the_total_is_judged() {
        let d = delta(
            &[unlabelled(7)],
            &[unlabelled(28)],
            "flask_http_request_total",
            "/",
        );
        assert_eq!(d.on_path, None);
        assert_eq!(d.all, 21.0);
        let detail = judge(20, &d, 1.0).unwrap();
        assert!(
            detail.contains("rose by 21") && detail.contains("all series"),
            "{detail}"
        );
        // The scrape between counts: without it as background, 21 is one too many.
        assert!(judge(20, &d, 0.0).is_err());
    }

    #[test]
    fn a_counter_that_never_moves_fails_with_the_fix() {
        let d = delta(&[scrape(3, 0)], &[scrape(3, 0)], "http_requests_total", "/");
        let failure = judge(20, &d, 2.0).unwrap_err();
        assert!(
            failure.starts_with(
                "the counter `http_requests_total` did not move after 20 requests to `/`"
            ),
            "{failure}"
        );
        assert!(failure.contains("middleware"), "{failure}");
    }

    #[test]
    fn background_on_the_path_does_not_excuse_a_short_count() {
        // Probes on `/` could only add to the count, never hide our requests.
        let d = delta(
            &[scrape(0, 0)],
            &[scrape(15, 0)],
            "http_requests_total",
            "/",
        );
        let failure = judge(20, &d, 10.0).unwrap_err();
        assert!(
            failure.contains("rose by 15 after 20 requests"),
            "{failure}"
        );
        assert!(failure.contains("5 of them were not counted"), "{failure}");
    }

    #[test]
    fn a_rise_beyond_what_background_explains_fails() {
        let d = delta(
            &[scrape(0, 0)],
            &[scrape(40, 0)],
            "http_requests_total",
            "/",
        );
        let failure = judge(20, &d, 3.0).unwrap_err();
        assert!(failure.contains("rose by 40"), "{failure}");
        assert!(failure.contains("more than once"), "{failure}");
        assert!(judge(20, &d, 20.0).is_ok(), "20 other requests explain it");
    }

    #[test]
    fn a_missing_counter_names_the_counters_that_are_there() {
        let d = delta(&[scrape(0, 0)], &[scrape(20, 0)], "requests_total", "/");
        assert!(d.missing);
        let failure = judge(20, &d, 0.0).unwrap_err();
        assert!(
            failure.starts_with("the counter `requests_total` is not in the exposition, which has `http_requests_total`"),
            "{failure}"
        );
        let gauge_only = parse("# TYPE up gauge\nup 1\n").unwrap();
        let d = delta(&[], &[gauge_only], "requests_total", "/");
        assert_eq!(d.present, ["up"]);
    }

    #[test]
    fn another_path_label_is_found_when_route_is_absent() {
        let before = parse("x_total{handler=\"/\"} 1\nx_total{handler=\"/metrics\"} 4\n").unwrap();
        let after = parse("x_total{handler=\"/\"} 6\nx_total{handler=\"/metrics\"} 5\n").unwrap();
        let d = delta(&[before], &[after], "x_total", "/");
        assert_eq!(d.on_path, Some(("handler".to_string(), 5.0)));
        assert_eq!(d.all, 6.0);
        assert!(judge(5, &d, 0.0).is_ok());
    }

    #[test]
    fn counts_print_without_a_decimal_point() {
        assert_eq!(count(20.0), "20");
        assert_eq!(count(2.5), "2.5");
    }
}
