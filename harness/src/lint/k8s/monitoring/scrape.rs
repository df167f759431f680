//! `prometheus.io/*` annotations, the convention of Prometheus's example Kubernetes
//! configuration: on a pod template or a Service, the port is one the pods declare and the path
//! is the app's metrics route.

use super::super::{Manifests, Workload, containers, declared_ports, labels, push, selects};
use crate::findings::Finding;
use crate::findings::rule;
use crate::manifest::Object;
use crate::yaml::Node;

rule!(
    SCRAPE_PORT,
    "DC107",
    Error,
    "`prometheus.io/scrape: \"true\"` with a `prometheus.io/port` the pods do not declare, or with no port at all, sends every scrape where nothing is known to listen: the target is down",
    "set `prometheus.io/port` to the containerPort that serves metrics (e.g. \"5000\"), declared in the container's ports"
);
rule!(
    SCRAPE_PATH,
    "DC108",
    Warning,
    "a `prometheus.io/path` other than the app's metrics route makes every scrape fail (404): the target is down",
    "set `prometheus.io/path` to the app's metrics route (the profile's monitoring.metrics_path, e.g. /metrics), or correct the profile"
);

/// The annotations of a workload's pod template.
fn template_annotations(object: &Object) -> Option<&Node> {
    let node = &object.node;
    match object.kind.as_str() {
        "Pod" => node.path(&["metadata", "annotations"]),
        "CronJob" => node.path(&[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "metadata",
            "annotations",
        ]),
        _ => node.path(&["spec", "template", "metadata", "annotations"]),
    }
}

fn scraped(annotations: Option<&Node>) -> Option<&Node> {
    let annotations = annotations?;
    let scrape = annotations.get("prometheus.io/scrape")?.scalar_text()?;
    (scrape == "true").then_some(annotations)
}

/// DC107, DC108: `prometheus.io/*` annotations on pod templates and Services.
pub(in crate::lint::k8s) fn scrape_annotations(m: &Manifests, out: &mut Vec<Finding>) {
    for w in &m.workloads {
        let Some(annotations) = scraped(template_annotations(w.object)) else {
            continue;
        };
        let ports: Vec<(Option<i64>, Option<String>)> = containers(w.pod_spec)
            .iter()
            .flat_map(declared_ports)
            .collect();
        let declared: Vec<String> = ports
            .iter()
            .filter_map(|(number, _)| number.map(|n| n.to_string()))
            .collect();
        let problem = match annotations.get("prometheus.io/port") {
            Some(port) => match port.as_i64() {
                Some(number) if ports.iter().any(|(p, _)| *p == Some(number)) => None,
                Some(number) => Some((
                    port.line,
                    format!(
                        "prometheus.io/port \"{number}\" is not a containerPort of the pod (declared: {})",
                        if declared.is_empty() {
                            "none".into()
                        } else {
                            declared.join(", ")
                        }
                    ),
                )),
                None => Some((
                    port.line,
                    format!(
                        "prometheus.io/port {:?} is not a port number",
                        port.scalar_text().unwrap_or_default()
                    ),
                )),
            },
            None if declared.is_empty() => Some((
                annotations.line,
                "prometheus.io/scrape is \"true\" but there is no prometheus.io/port and no container declares a port: Prometheus scrapes the pod's address without one (port 80)".into(),
            )),
            None => None,
        };
        if let Some((line, message)) = problem {
            push(out, &SCRAPE_PORT, w.object, line, message);
        }
        if w.is_app {
            metrics_path(m, w.object, annotations, out);
        }
    }
    for service in &m.services {
        let Some(annotations) = scraped(service.node.path(&["metadata", "annotations"])) else {
            continue;
        };
        let service_ports = service
            .node
            .path(&["spec", "ports"])
            .map(Node::items)
            .unwrap_or_default();
        let selector = labels(service.node.path(&["spec", "selector"]));
        let behind: Vec<&Workload> = m
            .workloads
            .iter()
            .filter(|w| selects(&selector, &w.pod_labels))
            .collect();
        // A named targetPort stands for the number the selected pods give that name.
        let resolve = |name: &str| -> Vec<i64> {
            behind
                .iter()
                .flat_map(|w| containers(w.pod_spec).iter().flat_map(declared_ports))
                .filter(|(_, n)| n.as_deref() == Some(name))
                .filter_map(|(p, _)| p)
                .collect()
        };
        let named_targets = service_ports
            .iter()
            .filter_map(|p| p.get("targetPort"))
            .any(|t| t.as_i64().is_none());
        if named_targets && behind.is_empty() {
            continue; // What a named targetPort stands for is in pods these manifests lack.
        }
        let numbers: Vec<i64> = service_ports
            .iter()
            .flat_map(|p| {
                let mut numbers: Vec<i64> =
                    p.get("port").and_then(Node::as_i64).into_iter().collect();
                if let Some(target) = p.get("targetPort") {
                    match target.as_i64() {
                        Some(n) => numbers.push(n),
                        None => numbers.extend(resolve(&target.scalar_text().unwrap_or_default())),
                    }
                }
                numbers
            })
            .collect();
        let problem = match annotations.get("prometheus.io/port") {
            Some(port) => match port.as_i64() {
                Some(number) if numbers.contains(&number) => None,
                _ => Some((
                    port.line,
                    format!(
                        "prometheus.io/port {:?} is neither a port nor a targetPort of the Service (ports: {})",
                        port.scalar_text().unwrap_or_default(),
                        if numbers.is_empty() {
                            "none".into()
                        } else {
                            numbers
                                .iter()
                                .map(i64::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                )),
            },
            None if service_ports.is_empty() => Some((
                annotations.line,
                "prometheus.io/scrape is \"true\" but the Service has no ports and no prometheus.io/port".into(),
            )),
            None => None,
        };
        if let Some((line, message)) = problem {
            push(out, &SCRAPE_PORT, service, line, message);
        }
        if behind.iter().any(|w| w.is_app) {
            metrics_path(m, service, annotations, out);
        }
    }
}

/// DC108, for an object whose scrapes reach the app.
fn metrics_path(m: &Manifests, object: &Object, annotations: &Node, out: &mut Vec<Finding>) {
    let expected = &m.profile.monitoring.metrics_path;
    if let Some(path) = annotations.get("prometheus.io/path")
        && let Some(text) = path.scalar_text()
        && !expected.is_empty()
        && &text != expected
    {
        push(
            out,
            &SCRAPE_PATH,
            object,
            path.line,
            format!("prometheus.io/path {text:?} is not the app's metrics route {expected:?}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{APP, reference, rules_fired};

    #[test]
    fn the_app_with_scrape_annotations_raises_nothing() {
        assert_eq!(rules_fired(APP, &reference()), []);
    }

    #[test]
    fn a_scraped_service_names_its_port_or_target_port() {
        let service = APP.replace(
            "metadata: {name: web, labels: {app: web}}",
            "metadata: {name: web, labels: {app: web}, annotations: {prometheus.io/scrape: \"true\", prometheus.io/port: \"5000\"}}",
        );
        assert_eq!(
            rules_fired(&service, &reference()),
            [],
            "targetPort http is 5000"
        );
        let wrong = service.replace(
            "prometheus.io/port: \"5000\"}}",
            "prometheus.io/port: \"9100\"}}",
        );
        let fired = rules_fired(&wrong, &reference());
        assert!(
            fired.len() == 1 && fired[0].0 == "DC107" && fired[0].1.contains("ports: 80, 5000"),
            "{fired:?}"
        );
    }
}
