//! The Prometheus part of the `monitoring` scenario: every app pod a target `up` without a
//! `lastError` within two scrape intervals, and the request counter, as Prometheus has it,
//! rising by the requests sent once it has scraped them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::Value;

use super::{Findings, PATH, Scrapes, Settings, client, forward_to, get_json};
use crate::cluster::{Cluster, PodState};
use crate::exposition::Exposition;
use crate::forward::Forwarder;
use crate::metrics;
use crate::scenario::Target;

/// A query's vector: each series' labels and value.
type Samples = Vec<(BTreeMap<String, String>, f64)>;

/// Prometheus reached through its Service, and the counter as it read it before the requests.
pub(super) struct Prometheus {
    forwarder: Forwarder,
    before: Samples,
}

/// Every app pod a target `up`, then the counter as Prometheus has it; `None` when Prometheus
/// cannot be asked (what is wrong is in `found`).
pub(super) async fn prometheus_before<C: Cluster + Send + 'static>(
    target: &Target<C>,
    pods: &[PodState],
    settings: &Settings,
    found: &mut Findings,
) -> Option<Prometheus> {
    let monitoring = &target.profile.monitoring;
    let forwarder = match forward_to(
        target,
        &monitoring.prometheus_service,
        "[monitoring] prometheus_service",
        monitoring.prometheus_port,
    )
    .await
    {
        Ok(forwarder) => forwarder,
        Err(problem) => {
            found.mismatches.push(format!("Prometheus: {problem}"));
            return None;
        }
    };
    let http = client(settings.timeout, false);
    let names: Vec<String> = pods.iter().map(|p| p.name.clone()).collect();
    let url = format!("{}/api/v1/targets?state=active", forwarder.base_url());
    let started = Instant::now();
    let deadline = settings.scrapes(monitoring);
    loop {
        let last = match get_json(&http, &url, None).await {
            Ok(answer) => Ok(targets_of(&answer, &names)),
            Err(problem) => Err(problem),
        };
        if let Ok(targets) = &last
            && targets.problems.is_empty()
        {
            found.held.push(format!(
                "Prometheus: every app pod is a target `up` after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            break;
        }
        if started.elapsed() >= deadline {
            let within = format!("within {} s", deadline.as_secs_f64());
            match last {
                Ok(targets) => {
                    for problem in targets.problems {
                        found
                            .mismatches
                            .push(format!("Prometheus: {problem} ({within})"));
                    }
                }
                Err(problem) => found.mismatches.push(format!(
                    "Prometheus: /api/v1/targets did not answer {within}: {problem}"
                )),
            }
            // The query would only repeat it: a consequence, not a second problem.
            return None;
        }
        tokio::time::sleep(settings.poll).await;
    }
    if monitoring.request_counter.is_empty() {
        return None;
    }
    match counter_series(&http, &forwarder.base_url(), &monitoring.request_counter).await {
        Ok(before) => Some(Prometheus { forwarder, before }),
        Err(problem) => {
            found.mismatches.push(format!(
                "Prometheus: the query over the request counter failed: {problem}"
            ));
            None
        }
    }
}

/// The targets of the app's pods as `/api/v1/targets` lists them.
#[derive(Debug, Default, PartialEq)]
pub struct Targets {
    /// Pods that are a target `up` with no `lastError`.
    pub up: Vec<String>,
    /// For every other pod, what is wrong.
    pub problems: Vec<String>,
}

/// Which of `pods` are a target `up` without `lastError` in an answer of `/api/v1/targets`: a
/// target belongs to a pod by its `pod` label (a relabelling of `__meta_kubernetes_pod_name`),
/// else by its discovered `__meta_kubernetes_pod_name`. A pod with several targets (one per
/// declared port) is up when every one of them is: Prometheus's `up` for each is what alerts
/// and dashboards read.
pub fn targets_of(answer: &Value, pods: &[String]) -> Targets {
    let active = answer["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let pod_of = |t: &Value| {
        t["labels"]["pod"]
            .as_str()
            .or(t["discoveredLabels"]["__meta_kubernetes_pod_name"].as_str())
            .map(str::to_string)
    };
    let mut targets = Targets::default();
    for pod in pods {
        let of_pod: Vec<&Value> = active
            .iter()
            .filter(|t| pod_of(t).as_deref() == Some(pod))
            .collect();
        if of_pod.is_empty() {
            let jobs: BTreeSet<&str> = active
                .iter()
                .filter_map(|t| t["labels"]["job"].as_str().or(t["scrapePool"].as_str()))
                .collect();
            targets.problems.push(format!(
                "no target for pod {pod}: Prometheus discovered {} target(s) (jobs: {}); check \
                 its kubernetes_sd_configs (role: pod, this namespace), its relabelling (keep \
                 the app's pods, copy __meta_kubernetes_pod_name to `pod`) and the pods' \
                 prometheus.io annotations",
                active.len(),
                if jobs.is_empty() {
                    "none".to_string()
                } else {
                    jobs.into_iter().collect::<Vec<_>>().join(", ")
                }
            ));
            continue;
        }
        let mut up = true;
        for entry in of_pod {
            let health = entry["health"].as_str().unwrap_or("unknown");
            let error = entry["lastError"].as_str().unwrap_or_default();
            if health == "up" && error.is_empty() {
                continue;
            }
            up = false;
            targets.problems.push(format!(
                "pod {pod}'s target {} is {health}{}",
                entry["scrapeUrl"].as_str().unwrap_or("?"),
                if error.is_empty() {
                    " (not scraped yet)".to_string()
                } else {
                    format!(": lastError: {error}")
                }
            ));
        }
        if up {
            targets.up.push(pod.clone());
        }
    }
    targets
}

/// The request counter's series as Prometheus has them now (the name a query uses: a counter
/// family `x` of OpenMetrics is stored as `x_total`).
async fn counter_series(
    http: &reqwest::Client,
    base: &str,
    counter: &str,
) -> Result<Samples, String> {
    let mut found = query(http, base, counter).await?;
    if found.is_empty() && !counter.ends_with("_total") {
        found = query(http, base, &format!("{counter}_total")).await?;
    }
    Ok(found)
}

/// An instant query's vector: each series' labels and value.
async fn query(http: &reqwest::Client, base: &str, expr: &str) -> Result<Samples, String> {
    let url = reqwest::Url::parse_with_params(&format!("{base}/api/v1/query"), [("query", expr)])
        .map_err(|e| e.to_string())?;
    let answer = get_json(http, url.as_str(), None).await?;
    vector(&answer)
}

/// The samples of a query answer (`data.result`), or why it is not one.
pub(super) fn vector(answer: &Value) -> Result<Samples, String> {
    if answer["status"] != "success" {
        return Err(format!(
            "{}: {}",
            answer["errorType"].as_str().unwrap_or("error"),
            answer["error"].as_str().unwrap_or("no error text")
        ));
    }
    let result = &answer["data"]["result"];
    if answer["data"]["resultType"] == "scalar" {
        let value = result[1].as_str().and_then(parse_float).unwrap_or(f64::NAN);
        return Ok(vec![(BTreeMap::new(), value)]);
    }
    Ok(result
        .as_array()
        .into_iter()
        .flatten()
        .map(|sample| {
            let labels = serde_json::from_value(sample["metric"].clone()).unwrap_or_default();
            let value = sample["value"][1]
                .as_str()
                .and_then(parse_float)
                .unwrap_or(f64::NAN);
            (labels, value)
        })
        .collect())
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// The sum over the series of our pods (by their `pod` label, where Prometheus has one; a
/// shared Prometheus also scrapes other apps with the same counter) whose `label` is [`PATH`]
/// (every series without a path label).
fn sum_for(series: &Samples, pods: &[String], label: Option<&str>) -> f64 {
    let labelled = series.iter().any(|(l, _)| l.contains_key("pod"));
    series
        .iter()
        .filter(|(l, _)| !labelled || l.get("pod").is_some_and(|p| pods.contains(p)))
        .filter(|(l, _)| label.is_none_or(|label| l.get(label).map(String::as_str) == Some(PATH)))
        .map(|(_, v)| v)
        .sum()
}

/// After the requests: Prometheus's counter must rise by what was sent once it has scraped.
#[allow(clippy::too_many_arguments)]
pub(super) async fn prometheus_after<C: Cluster + Send + 'static>(
    target: &Target<C>,
    pods: &[PodState],
    prometheus: &Prometheus,
    expected: f64,
    what: &str,
    third: &Scrapes,
    settings: &Settings,
    found: &mut Findings,
) {
    let monitoring = &target.profile.monitoring;
    let counter = &monitoring.request_counter;
    // The path label as the app's own exposition shows it.
    let after: Vec<Exposition> = third
        .values()
        .filter_map(|a| a.as_ref().ok().map(|(_, e)| e.clone()))
        .collect();
    let label = metrics::delta(&after, &after, counter, PATH)
        .on_path
        .map(|(label, _)| label);
    let names: Vec<String> = pods.iter().map(|p| p.name.clone()).collect();
    let selector = match &label {
        Some(label) => format!("{counter}{{{label}=\"{PATH}\"}}"),
        None => counter.clone(),
    };
    let before = sum_for(&prometheus.before, &names, label.as_deref());
    let http = client(settings.timeout, false);
    let started = Instant::now();
    let deadline = settings.scrapes(monitoring);
    let rise = loop {
        let rise = match counter_series(&http, &prometheus.forwarder.base_url(), counter).await {
            Ok(series) => sum_for(&series, &names, label.as_deref()) - before,
            Err(problem) => {
                found.mismatches.push(format!(
                    "Prometheus: the query over the request counter failed: {problem}"
                ));
                return;
            }
        };
        if rise + 1e-6 >= expected {
            found.held.push(format!(
                "Prometheus's sum of `{selector}` rose by {} within {:.1} s of the requests",
                metrics::counter::count(rise),
                started.elapsed().as_secs_f64(),
            ));
            return;
        }
        if started.elapsed() >= deadline {
            break rise;
        }
        tokio::time::sleep(settings.poll).await;
    };
    found.mismatches.push(format!(
        "Prometheus: its sum of `{selector}` rose by {}, not by {what}, within {} s (two \
         scrape intervals of {} s and {} s more): it does not scrape every pod at [monitoring] \
         scrape_interval, or it scrapes another port or path than the one that counts",
        metrics::counter::count(rise),
        deadline.as_secs_f64(),
        monitoring.scrape_interval.as_secs_f64(),
        settings.margin.as_secs_f64(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::monitoring::recorded;

    #[test]
    fn targets_are_read_from_the_recorded_answers() {
        let recorded_2_42 = recorded::json(recorded::TARGETS_2_42);
        let pods = [
            "deploycheck-app-6f9c8d7b5-x2k4q".to_string(),
            "deploycheck-app-6f9c8d7b5-q7w8e".to_string(),
            "deploycheck-app-6f9c8d7b5-zzzzz".to_string(),
        ];
        let targets = targets_of(&recorded_2_42, &pods);
        assert_eq!(targets.up, [pods[0].clone()]);
        assert_eq!(
            targets.problems[0],
            "pod deploycheck-app-6f9c8d7b5-q7w8e's target http://127.0.0.1:9/metrics is down: \
             lastError: Get \"http://127.0.0.1:9/metrics\": dial tcp 127.0.0.1:9: connect: \
             connection refused"
        );
        assert!(
            targets.problems[1].starts_with(
                "no target for pod deploycheck-app-6f9c8d7b5-zzzzz: Prometheus discovered 2 \
                 target(s) (jobs: deploycheck-app)"
            ),
            "{}",
            targets.problems[1]
        );
        let v3 = recorded::json(recorded::TARGETS_3);
        let pods = [
            "deploycheck-app-7c9d6b5f4-2xk8p".to_string(),
            "deploycheck-app-7c9d6b5f4-9qv4m".to_string(),
        ];
        let targets = targets_of(&v3, &pods);
        assert_eq!(targets.up, [pods[0].clone()]);
        assert!(
            targets.problems[0]
                .ends_with("is down: lastError: server returned HTTP status 404 Not Found"),
            "{}",
            targets.problems[0]
        );
        // A target not scraped yet is not up, and says so.
        let mut fresh = v3.clone();
        fresh["data"]["activeTargets"][0]["health"] = "unknown".into();
        assert!(
            targets_of(&fresh, &pods[..1]).problems[0].ends_with("is unknown (not scraped yet)")
        );
    }
    #[test]
    fn recorded_query_answers_are_read_as_vectors() {
        let sum = vector(&recorded::json(recorded::QUERY_SUM)).unwrap();
        assert_eq!(sum, [(BTreeMap::new(), 20.0)]);
        assert!(
            vector(&recorded::json(recorded::QUERY_EMPTY))
                .unwrap()
                .is_empty()
        );
        let error = vector(&recorded::json(recorded::QUERY_BAD_DATA)).unwrap_err();
        assert!(
            error.starts_with("bad_data: invalid parameter \"query\""),
            "{error}"
        );
    }
}
