//! Grafana dashboards in ConfigMaps: the JSON parses, every Prometheus query parses (see
//! [`crate::promql`]), and the metrics it names are the app's series.

use std::collections::BTreeSet;

use super::super::{Manifests, push};
use super::object_labels;
use crate::findings::Finding;
use crate::findings::rule;
use crate::manifest::Object;
use crate::yaml::Node;

rule!(
    DASHBOARD_JSON,
    "DC109",
    Error,
    "a dashboard whose JSON does not parse is skipped by Grafana's provisioning: the dashboard never appears",
    "fix the JSON at the place the message names (`python3 -m json.tool FILE` shows it too)"
);
rule!(
    DASHBOARD_QUERY,
    "DC110",
    Error,
    "a panel whose query is not valid PromQL shows an error instead of data",
    "fix the expression at the place the message names (try it in Prometheus's /graph page)"
);
rule!(
    DASHBOARD_METRIC,
    "DC111",
    Error,
    "a panel querying a metric the app does not expose shows `No data` forever, and nothing says why",
    "query the app's own series (the message names the closest); they are the profile's monitoring.series, or a real sample's with `lint --metrics FILE`"
);
rule!(
    DASHBOARD_UNCHECKED,
    "DC112",
    Info,
    "dashboard queries are checked against the app's series only when they are known, and this profile lists none",
    "pass `lint --metrics FILE` with a sample of the app's metrics (`curl -s URL/metrics > FILE`), or list monitoring.series in the profile"
);

/// Series Prometheus writes itself for every target or rule: never the app's.
const PROMETHEUS_SERIES: [&str; 10] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
    "ALERTS",
    "ALERTS_FOR_STATE",
];

/// Prefixes of other exporters' series (kube-state-metrics, cAdvisor, the kubelet, node
/// exporter, the API server, etcd, CoreDNS, the monitoring stack itself): a dashboard may
/// show them beside the app's, and they are never the app's to expose.
const OTHER_EXPORTERS: [&str; 12] = [
    "kube_",
    "kubelet_",
    "kubeproxy_",
    "container_",
    "machine_",
    "node_",
    "apiserver_",
    "etcd_",
    "coredns_",
    "prometheus_",
    "alertmanager_",
    "grafana_",
];

/// The sample names a metric family exposes besides its own name (counters, histograms,
/// summaries, info and gauge histograms, in Prometheus text and OpenMetrics).
const FAMILY_SUFFIXES: [&str; 8] = [
    "_total", "_bucket", "_sum", "_count", "_created", "_info", "_gcount", "_gsum",
];

/// One query of a dashboard panel.
struct Query {
    panel: String,
    expr: String,
}

/// A dashboard found in a ConfigMap.
struct Dashboard<'a> {
    config_map: &'a Object,
    key: String,
    line: u64,
    title: String,
    queries: Vec<Query>,
}

/// The Prometheus queries of a dashboard's panels, rows' nested panels and old-style rows
/// included. Targets of another datasource type (Loki, server-side expressions) are left out.
fn queries(dashboard: &serde_json::Value) -> Vec<Query> {
    fn datasource_type(value: &serde_json::Value) -> Option<&str> {
        value.get("datasource")?.get("type")?.as_str()
    }
    fn walk(panels: &[serde_json::Value], inherited: Option<&str>, out: &mut Vec<Query>) {
        for panel in panels {
            let title = panel
                .get("title")
                .and_then(|t| t.as_str())
                .unwrap_or("untitled")
                .to_string();
            let panel_type = datasource_type(panel).or(inherited);
            for target in panel
                .get("targets")
                .and_then(|t| t.as_array())
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let kind = datasource_type(target).or(panel_type);
                let prometheus = kind.is_none_or(|k| k == "prometheus" || k == "datasource");
                if let Some(expr) = target.get("expr").and_then(|e| e.as_str())
                    && prometheus
                    && !expr.trim().is_empty()
                {
                    out.push(Query {
                        panel: title.clone(),
                        expr: expr.to_string(),
                    });
                }
            }
            if let Some(nested) = panel.get("panels").and_then(|p| p.as_array()) {
                walk(nested, panel_type, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(panels) = dashboard.get("panels").and_then(|p| p.as_array()) {
        walk(panels, None, &mut out);
    }
    for row in dashboard
        .get("rows")
        .and_then(|r| r.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(panels) = row.get("panels").and_then(|p| p.as_array()) {
            walk(panels, None, &mut out);
        }
    }
    out
}

/// The dashboard inside a JSON document: itself, or its `dashboard` (the HTTP API's shape).
fn dashboard_json(document: &serde_json::Value) -> Option<&serde_json::Value> {
    let has_panels = |d: &serde_json::Value| {
        d.get("panels").is_some_and(|p| p.is_array()) || d.get("rows").is_some_and(|r| r.is_array())
    };
    if has_panels(document) {
        Some(document)
    } else {
        document.get("dashboard").filter(|d| has_panels(d))
    }
}

/// The dashboards of the ConfigMaps, with DC109 for the JSON of a labelled one that does not
/// parse (an unlabelled ConfigMap's value is a dashboard only if it is dashboard JSON).
fn dashboards<'a>(m: &Manifests<'a>, out: &mut Vec<Finding>) -> Vec<Dashboard<'a>> {
    let mut found = Vec::new();
    for config_map in m.objects.iter().filter(|o| o.kind == "ConfigMap") {
        let labelled = object_labels(config_map).contains_key("grafana_dashboard");
        for (key, value) in config_map
            .node
            .get("data")
            .map(Node::entries)
            .unwrap_or_default()
        {
            let Some(text) = value.as_str() else { continue };
            let document = match serde_json::from_str::<serde_json::Value>(text) {
                Ok(document) => document,
                Err(error) if labelled => {
                    push(
                        out,
                        &DASHBOARD_JSON,
                        config_map,
                        value.line,
                        format!("dashboard `{key}` is not valid JSON: {error} of its text"),
                    );
                    continue;
                }
                Err(_) => continue,
            };
            let Some(dashboard) = dashboard_json(&document) else {
                continue;
            };
            found.push(Dashboard {
                config_map,
                key: key.clone(),
                line: value.line,
                title: dashboard
                    .get("title")
                    .and_then(|t| t.as_str())
                    .unwrap_or(key)
                    .to_string(),
                queries: queries(dashboard),
            });
        }
    }
    found
}

/// The sample names the app exposes: each documented family, the samples its suffixes name,
/// and a counter's `_created` (OpenMetrics names a counter family without `_total`).
fn known_series(series: &[String]) -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    for family in series {
        known.insert(family.clone());
        match family.strip_suffix("_total") {
            Some(root) => {
                known.insert(format!("{root}_created"));
            }
            None => known.extend(FAMILY_SUFFIXES.iter().map(|s| format!("{family}{s}"))),
        }
    }
    known
}

/// Series the app never exposes by design: Prometheus's own, recording rules', other exporters'.
fn not_the_apps(name: &str) -> bool {
    PROMETHEUS_SERIES.contains(&name)
        || name.contains(':')
        || OTHER_EXPORTERS.iter().any(|p| name.starts_with(p))
}

/// The known name closest to `name` (edit distance at most a third of its length), among
/// those with the same sample suffix first: `x_bucket` is closer to `x_seconds_bucket` than to
/// `x_seconds`, whatever the count of letters says.
fn closest<'a>(name: &str, known: &'a BTreeSet<String>) -> Option<&'a str> {
    let best = |candidates: &mut dyn Iterator<Item = &'a String>| {
        candidates
            .map(|k| (crate::spelling::edit_distance(name, k), k))
            .filter(|(d, _)| *d <= (name.len() / 3).max(2))
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k.as_str())
    };
    FAMILY_SUFFIXES
        .iter()
        .find(|s| name.ends_with(*s))
        .and_then(|s| best(&mut known.iter().filter(|k| k.ends_with(s))))
        .or_else(|| best(&mut known.iter()))
}

/// DC109–DC112: dashboards parse, and their queries parse and name the app's series.
pub(in crate::lint::k8s) fn dashboard_queries(m: &Manifests, out: &mut Vec<Finding>) {
    let series = &m.profile.monitoring.series;
    let known = known_series(series);
    for dashboard in dashboards(m, out) {
        let Dashboard {
            config_map,
            key,
            line,
            title,
            queries,
        } = &dashboard;
        let mut checked = 0;
        for query in queries {
            let names = match crate::promql::metric_names(&query.expr) {
                Ok(names) => names,
                Err(error) => {
                    push(
                        out,
                        &DASHBOARD_QUERY,
                        config_map,
                        *line,
                        format!(
                            "dashboard {title:?} ({key}), panel {:?}: `{}` does not parse: {error}",
                            query.panel, query.expr
                        ),
                    );
                    continue;
                }
            };
            checked += 1;
            if series.is_empty() {
                continue;
            }
            for name in names {
                if known.contains(&name) || not_the_apps(&name) {
                    continue;
                }
                let suggestion = closest(&name, &known)
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                push(
                    out,
                    &DASHBOARD_METRIC,
                    config_map,
                    *line,
                    format!(
                        "dashboard {title:?} ({key}), panel {:?} queries `{name}`, which the app does not expose ({suggestion}the app's series: {})",
                        query.panel,
                        series.join(", ")
                    ),
                );
            }
        }
        if series.is_empty() && checked > 0 {
            push(
                out,
                &DASHBOARD_UNCHECKED,
                config_map,
                *line,
                format!(
                    "dashboard {title:?} ({key}): {checked} quer{} not checked against the app's series: the profile lists none (pass `lint --metrics FILE`)",
                    if checked == 1 { "y" } else { "ies" }
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{reference, rules_fired, with};
    use super::*;

    #[test]
    fn queries_come_from_rows_and_skip_other_datasources() {
        let dashboard: serde_json::Value = serde_json::from_str(
            r#"{"panels": [
                {"title": "a", "targets": [{"expr": "x"}]},
                {"type": "row", "panels": [{"title": "b", "targets": [{"expr": "y"}]}]},
                {"title": "logs", "datasource": {"type": "loki"}, "targets": [{"expr": "{app=\"web\"} |= \"error\""}]},
                {"title": "mixed", "datasource": {"type": "datasource", "uid": "-- Mixed --"},
                 "targets": [{"expr": "z", "datasource": {"type": "prometheus"}}, {"expr": "$A * 2", "datasource": {"type": "__expr__"}}]}
            ],
            "rows": [{"panels": [{"title": "old", "targets": [{"expr": "w"}, {"expr": ""}]}]}]}"#,
        )
        .unwrap();
        let found: Vec<(String, String)> = queries(&dashboard)
            .into_iter()
            .map(|q| (q.panel, q.expr))
            .collect();
        assert_eq!(
            found,
            [("a", "x"), ("b", "y"), ("mixed", "z"), ("old", "w")]
                .map(|(p, e)| (p.to_string(), e.to_string()))
        );
    }

    #[test]
    fn known_series_cover_family_samples_and_others_are_not_the_apps() {
        let known = known_series(&[
            "http_requests_total".to_string(),
            "http_request_duration_seconds".to_string(),
        ]);
        for name in [
            "http_requests_total",
            "http_requests_created",
            "http_request_duration_seconds_bucket",
            "http_request_duration_seconds_count",
        ] {
            assert!(known.contains(name), "{name}");
        }
        assert!(!known.contains("http_request_total"));
        assert_eq!(
            closest("http_request_total", &known),
            Some("http_requests_total")
        );
        assert_eq!(
            closest("http_request_duration_bucket", &known),
            Some("http_request_duration_seconds_bucket")
        );
        assert_eq!(closest("completely_else", &known), None);
        for name in [
            "up",
            "ALERTS",
            "kube_pod_info",
            "container_cpu_usage_seconds_total",
            "job:x:rate5m",
        ] {
            assert!(not_the_apps(name), "{name}");
        }
        for name in [
            "process_resident_memory_bytes",
            "go_goroutines",
            "http_request_total",
        ] {
            assert!(!not_the_apps(name), "{name}");
        }
    }

    #[test]
    fn dashboards_in_unlabelled_config_maps_are_found_by_their_json() {
        let text = with(
            r#"apiVersion: v1
kind: ConfigMap
metadata: {name: dashboards}
data:
  app.json: '{"title": "App", "panels": [{"title": "rate", "targets": [{"expr": "rate(http_request_total[1m])"}]}]}'
  settings.json: '{"theme": "dark"}'
  notes.txt: 'not json at all'
"#,
        );
        let fired = rules_fired(&text, &reference());
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].0, "DC111");
        assert!(
            fired[0]
                .1
                .contains("\"App\" (app.json), panel \"rate\" queries `http_request_total`")
                && fired[0].1.contains("did you mean `http_requests_total`?"),
            "{fired:?}"
        );
        let mut unknown = reference();
        unknown.monitoring.series.clear();
        let fired = rules_fired(&text, &unknown);
        assert!(
            fired.len() == 1 && fired[0].0 == "DC112" && fired[0].1.contains("1 query not checked"),
            "{fired:?}"
        );
    }
}
