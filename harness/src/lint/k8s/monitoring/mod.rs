//! Monitoring rules: what Prometheus is told to scrape reaches the app, and what the dashboards
//! ask for is what the app exposes. A mistake here raises no error anywhere: the target is
//! missing or down and the panels say `No data`, so these rules say why before it is deployed.
//!
//! - prometheus-operator monitors: a ServiceMonitor selects Services by their own labels and
//!   names one of their ports; a PodMonitor selects pod templates and names a containerPort;
//!   each carries the labels the Prometheus selects monitors by (kube-prometheus-stack's
//!   default is `release: <helm release>`).
//! - `prometheus.io/*` annotations (the convention of Prometheus's example Kubernetes
//!   configuration): the port is one the pods declare, the path is the app's metrics route.
//! - Grafana dashboards (a ConfigMap labelled `grafana_dashboard`, the label the Grafana chart's
//!   sidecar discovers, or any ConfigMap value that is dashboard JSON): the JSON parses, every
//!   Prometheus query parses, and the metrics it names are the app's documented series
//!   (`profile.monitoring.series`, which `lint --metrics FILE` replaces with a real sample's).
//!   Series the app never exposes by design are not checked: Prometheus's own per-target series
//!   (`up`, `scrape_*`, `ALERTS`), recording rules (names with `:`), and the series of other
//!   exporters, by prefix (`dashboards.rs` lists them). Client-library runtime series (`process_`,
//!   `go_`, `python_`) are checked like any other: they are the app's own, and the reference
//!   app exposes none (a real sample given with `--metrics` shows them where an app does).
//!
//! One file per concern: [`monitors`] (DC100–DC106), [`scrape`] (DC107, DC108) and
//! [`dashboards`] (DC109–DC112); this file holds the registration and what they share.

use super::labels;
use crate::findings::Rule;
use crate::manifest::Object;
use crate::strategy::Labels;

mod dashboards;
mod monitors;
mod scrape;

pub(super) use dashboards::dashboard_queries;
pub(super) use monitors::monitors;
pub(super) use scrape::scrape_annotations;

pub const RULES: [Rule; 13] = [
    monitors::SERVICE_MONITOR_SELECTOR,
    monitors::SERVICE_MONITOR_PORT,
    monitors::PORT_BY_NUMBER,
    monitors::POD_MONITOR_SELECTOR,
    monitors::POD_MONITOR_PORT,
    monitors::MONITOR_NOT_SELECTED,
    monitors::MONITOR_RELEASE_LABEL,
    scrape::SCRAPE_PORT,
    scrape::SCRAPE_PATH,
    dashboards::DASHBOARD_JSON,
    dashboards::DASHBOARD_QUERY,
    dashboards::DASHBOARD_METRIC,
    dashboards::DASHBOARD_UNCHECKED,
];

fn describe_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    shown.join(",")
}

fn object_labels(object: &Object) -> Labels {
    labels(object.node.path(&["metadata", "labels"]))
}

#[cfg(test)]
mod tests {
    use super::super::tests::objects;
    use crate::profile::Profile;

    /// The monitoring findings (DC1xx) of `text`, as (rule, message).
    pub(super) fn rules_fired(text: &str, profile: &Profile) -> Vec<(String, String)> {
        let objects = objects(text);
        super::super::check(&objects, profile)
            .into_iter()
            .filter(|f| f.rule.as_bytes()[2] == b'1')
            .map(|f| (f.rule.to_string(), f.message))
            .collect()
    }

    pub(super) fn reference() -> Profile {
        Profile::built_in("reference").unwrap()
    }

    /// An app Deployment with scrape annotations, and its labelled Service with a named port.
    pub(super) const APP: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    metadata:
      labels: {app: web}
      annotations: {prometheus.io/scrape: \"true\", prometheus.io/port: \"5000\", prometheus.io/path: /metrics}
    spec:
      containers:
        - name: web
          image: web:1
          ports: [{name: http, containerPort: 5000}]
          env: [{name: MONGODB_HOST, value: mongodb}]
---
apiVersion: v1
kind: Service
metadata: {name: web, labels: {app: web}}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
";

    /// [`APP`] and `extra`.
    pub(super) fn with(extra: &str) -> String {
        format!("{APP}---\n{extra}")
    }
}
