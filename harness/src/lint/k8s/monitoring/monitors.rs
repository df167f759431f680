//! ServiceMonitors and PodMonitors (prometheus-operator): each selects Services or pods of
//! these manifests, names a port they have, and is loaded by the Prometheus (its monitor and
//! namespace selectors), or carries kube-prometheus-stack's `release` label when no Prometheus
//! object is among the manifests.

use super::super::{
    Manifests, Workload, containers, declared_ports, labels, match_labels, push, selects,
};
use super::{describe_labels, object_labels};
use crate::findings::Finding;
use crate::findings::rule;
use crate::manifest::Object;
use crate::strategy::Labels;
use crate::yaml::{Node, Value};

rule!(
    SERVICE_MONITOR_SELECTOR,
    "DC100",
    Error,
    "a ServiceMonitor whose selector matches no Service gives Prometheus no target: the app is never scraped and every panel stays empty",
    "make the ServiceMonitor's spec.selector match the app Service's own metadata.labels (a ServiceMonitor selects Services by their labels, not by their selector)"
);
rule!(
    SERVICE_MONITOR_PORT,
    "DC101",
    Error,
    "a ServiceMonitor endpoint's `port` is the name of a Service port: a name the selected Services lack, or a number, gives no target",
    "name the Service port (e.g. `name: http`) and reference the name in the endpoint: `port: http`"
);
rule!(
    PORT_BY_NUMBER,
    "DC102",
    Warning,
    "a monitor endpoint that picks the pod's port by number (`targetPort: 5000`) bypasses port names and breaks silently when the number changes; PodMonitor's targetPort is deprecated",
    "name the port (the Service port or the containerPort, e.g. `name: http`) and reference the name: `port: http`"
);
rule!(
    POD_MONITOR_SELECTOR,
    "DC103",
    Error,
    "a PodMonitor whose selector matches no pod gives Prometheus no target: the app is never scraped",
    "make the PodMonitor's spec.selector match the app's pod template labels"
);
rule!(
    POD_MONITOR_PORT,
    "DC104",
    Error,
    "a PodMonitor endpoint's `port` is the name of a containerPort: a name the selected pods lack, or a number, gives no target",
    "name the containerPort (e.g. `name: http`) and reference the name in the endpoint: `port: http`"
);
rule!(
    MONITOR_NOT_SELECTED,
    "DC105",
    Error,
    "a Prometheus loads only the monitors its serviceMonitorSelector / podMonitorSelector (and their namespace selectors) match; any other monitor is ignored without an error",
    "give the monitor the labels the Prometheus selects (its spec.serviceMonitorSelector or podMonitorSelector), or widen that selector (`{}` selects every monitor)"
);
rule!(
    MONITOR_RELEASE_LABEL,
    "DC106",
    Warning,
    "kube-prometheus-stack's Prometheus selects only monitors labelled `release: <its Helm release name>` by default (`serviceMonitorSelectorNilUsesHelmValues: true`); a monitor without that label is ignored without an error",
    "label the monitor `release: <your kube-prometheus-stack release name>`, or install the chart with `prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false` (podMonitorSelectorNilUsesHelmValues for PodMonitors)"
);

/// prometheus-operator's API group.
const OPERATOR_GROUP: &str = "monitoring.coreos.com/";

fn is_operator(object: &Object, kind: &str) -> bool {
    object.kind == kind && object.api_version.starts_with(OPERATOR_GROUP)
}

/// Whether a Kubernetes label selector (`matchLabels` and `matchExpressions`) matches
/// `labels`. Unlike a Service's selector, an empty label selector matches everything.
fn selector_matches(selector: &Node, labels: &Labels) -> bool {
    let wanted = match_labels(Some(selector));
    let expressions = selector
        .get("matchExpressions")
        .map(Node::items)
        .unwrap_or_default();
    (wanted.is_empty() || selects(&wanted, labels))
        && expressions.iter().all(|e| {
            let key = e.get("key").and_then(Node::as_str).unwrap_or_default();
            let values: Vec<String> = e
                .get("values")
                .map(Node::items)
                .unwrap_or_default()
                .iter()
                .filter_map(Node::scalar_text)
                .collect();
            let value = labels.get(key);
            match e.get("operator").and_then(Node::as_str).unwrap_or_default() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// A selector as `a=b,c In (d, e)`, or `{}`.
fn describe_selector(selector: &Node) -> String {
    let mut parts: Vec<String> = match_labels(Some(selector))
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector
        .get("matchExpressions")
        .map(Node::items)
        .unwrap_or_default()
    {
        let key = e.get("key").and_then(Node::as_str).unwrap_or("?");
        let operator = e.get("operator").and_then(Node::as_str).unwrap_or("?");
        let values: Vec<String> = e
            .get("values")
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .filter_map(Node::scalar_text)
            .collect();
        parts.push(format!("{key} {operator} ({})", values.join(", ")));
    }
    if parts.is_empty() {
        "{}".into()
    } else {
        parts.join(",")
    }
}

/// The line of the object's labels, or of its metadata.
fn labels_line(object: &Object) -> u64 {
    object
        .node
        .path(&["metadata", "labels"])
        .or_else(|| object.node.get("metadata"))
        .map_or(object.node.line, |n| n.line)
}

/// Whether two objects may end up in one namespace: an object without a namespace lands in
/// whichever one it is applied to.
fn may_share_namespace(a: &Object, b: &Object) -> bool {
    match (&a.namespace, &b.namespace) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Whether a monitor's targets can be judged from these manifests: its namespaceSelector
/// keeps to its own namespace. `any: true` or other namespaces mean Services these
/// manifests may not hold.
fn judged_here(monitor: &Object) -> bool {
    let Some(selector) = monitor.node.path(&["spec", "namespaceSelector"]) else {
        return true;
    };
    if selector.get("any").and_then(Node::as_bool) == Some(true) {
        return false;
    }
    let names: Vec<String> = selector
        .get("matchNames")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(Node::scalar_text)
        .collect();
    names.is_empty()
        || names
            .iter()
            .all(|n| monitor.namespace.as_deref() == Some(n))
}

/// The monitor's endpoints, under `spec.<key>`.
fn endpoints<'a>(monitor: &'a Object, key: &str) -> &'a [Node] {
    monitor
        .node
        .path(&["spec", key])
        .map(Node::items)
        .unwrap_or_default()
}

/// DC100–DC106: ServiceMonitors and PodMonitors reach the app, and a Prometheus loads them.
pub(in crate::lint::k8s) fn monitors(m: &Manifests, out: &mut Vec<Finding>) {
    for monitor in m.objects {
        if is_operator(monitor, "ServiceMonitor") {
            service_monitor(m, monitor, out);
            selected_by_prometheus(m, monitor, "serviceMonitor", out);
        } else if is_operator(monitor, "PodMonitor") {
            pod_monitor(m, monitor, out);
            selected_by_prometheus(m, monitor, "podMonitor", out);
        }
    }
}

/// DC100, DC101, DC102.
fn service_monitor(m: &Manifests, monitor: &Object, out: &mut Vec<Finding>) {
    let Some(selector) = monitor.node.path(&["spec", "selector"]) else {
        return;
    };
    // Without a Service in them, these manifests are only part of the stack.
    if !judged_here(monitor) || m.services.is_empty() {
        return;
    }
    let selected: Vec<&Object> = m
        .services
        .iter()
        .copied()
        .filter(|s| may_share_namespace(monitor, s))
        .filter(|s| selector_matches(selector, &object_labels(s)))
        .collect();
    if selected.is_empty() {
        let services: Vec<String> = m
            .services
            .iter()
            .map(|s| format!("{} ({})", s.name, describe_labels(&object_labels(s))))
            .collect();
        // The usual slip: the monitor copies the Service's own selector (the pod labels).
        let by_pod_labels: Vec<&str> = m
            .services
            .iter()
            .filter(|s| {
                s.node
                    .path(&["spec", "selector"])
                    .is_some_and(|pods| selector_matches(selector, &labels(Some(pods))))
            })
            .map(|s| s.name.as_str())
            .collect();
        push(
            out,
            &SERVICE_MONITOR_SELECTOR,
            monitor,
            selector.line,
            format!(
                "selector {} matches the labels of no Service (Services and their labels: {}){}",
                describe_selector(selector),
                if services.is_empty() {
                    "none".into()
                } else {
                    services.join("; ")
                },
                if by_pod_labels.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; it matches the pod selector of Service {}, but a ServiceMonitor reads a Service's own labels",
                        by_pod_labels.join(", ")
                    )
                }
            ),
        );
        return;
    }
    let ports: Vec<&Node> = selected
        .iter()
        .flat_map(|s| {
            s.node
                .path(&["spec", "ports"])
                .map(Node::items)
                .unwrap_or_default()
        })
        .collect();
    let names: Vec<String> = ports
        .iter()
        .filter_map(|p| p.get("name").and_then(Node::scalar_text))
        .collect();
    let shown: Vec<String> = ports
        .iter()
        .map(|p| {
            let number = p
                .get("port")
                .and_then(Node::scalar_text)
                .unwrap_or_default();
            match p.get("name").and_then(Node::scalar_text) {
                Some(name) => format!("{number} named `{name}`"),
                None => format!("{number} without a name"),
            }
        })
        .collect();
    let service_names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
    for endpoint in endpoints(monitor, "endpoints") {
        if let Some(port) = endpoint.get("port") {
            let wanted = port.scalar_text().unwrap_or_default();
            if names.contains(&wanted) {
                continue;
            }
            let what = if wanted.parse::<i64>().is_ok() {
                format!("endpoint `port: {wanted}` is a number, but `port` names a Service port")
            } else {
                format!("endpoint `port: {wanted}` is not the name of a port")
            };
            push(
                out,
                &SERVICE_MONITOR_PORT,
                monitor,
                port.line,
                format!(
                    "{what} of Service {} (its ports: {})",
                    service_names.join(", "),
                    shown.join(", ")
                ),
            );
        } else if let Some(target) = endpoint.get("targetPort")
            && let Some(number) = target.as_i64()
        {
            push(
                out,
                &PORT_BY_NUMBER,
                monitor,
                target.line,
                format!(
                    "endpoint `targetPort: {number}` picks the pod's port by number behind Service {}",
                    service_names.join(", ")
                ),
            );
        }
    }
}

/// DC103, DC104, DC102.
fn pod_monitor(m: &Manifests, monitor: &Object, out: &mut Vec<Finding>) {
    let Some(selector) = monitor.node.path(&["spec", "selector"]) else {
        return;
    };
    if !judged_here(monitor) || m.workloads.is_empty() {
        return;
    }
    let selected: Vec<&Workload> = m
        .workloads
        .iter()
        .filter(|w| may_share_namespace(monitor, w.object))
        .filter(|w| selector_matches(selector, &w.pod_labels))
        .collect();
    if selected.is_empty() {
        let pods: Vec<String> = m
            .workloads
            .iter()
            .map(|w| format!("{} ({})", w.object.id(), describe_labels(&w.pod_labels)))
            .collect();
        push(
            out,
            &POD_MONITOR_SELECTOR,
            monitor,
            selector.line,
            format!(
                "selector {} matches no pod template (pod labels: {})",
                describe_selector(selector),
                if pods.is_empty() {
                    "no workloads".into()
                } else {
                    pods.join("; ")
                }
            ),
        );
        return;
    }
    let ports: Vec<(Option<i64>, Option<String>)> = selected
        .iter()
        .flat_map(|w| containers(w.pod_spec).iter().flat_map(declared_ports))
        .collect();
    let shown: Vec<String> = ports
        .iter()
        .map(|(number, name)| {
            let number = number.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
            match name {
                Some(name) => format!("{number} named `{name}`"),
                None => format!("{number} without a name"),
            }
        })
        .collect();
    let workloads: Vec<String> = selected.iter().map(|w| w.object.id()).collect();
    for endpoint in endpoints(monitor, "podMetricsEndpoints") {
        if let Some(port) = endpoint.get("port") {
            let wanted = port.scalar_text().unwrap_or_default();
            if ports
                .iter()
                .any(|(_, n)| n.as_deref() == Some(wanted.as_str()))
            {
                continue;
            }
            let what = if wanted.parse::<i64>().is_ok() {
                format!("endpoint `port: {wanted}` is a number, but `port` names a containerPort")
            } else {
                format!("endpoint `port: {wanted}` is not the name of a containerPort")
            };
            push(
                out,
                &POD_MONITOR_PORT,
                monitor,
                port.line,
                format!(
                    "{what} of {} (declared: {})",
                    workloads.join(", "),
                    if shown.is_empty() {
                        "no ports".into()
                    } else {
                        shown.join(", ")
                    }
                ),
            );
        } else if let Some(target) = endpoint.get("targetPort") {
            push(
                out,
                &PORT_BY_NUMBER,
                monitor,
                target.line,
                format!(
                    "endpoint `targetPort: {}` is deprecated in a PodMonitor; name the containerPort of {} and use `port`",
                    target.scalar_text().unwrap_or_default(),
                    workloads.join(", ")
                ),
            );
        }
    }
}

/// DC105, DC106: `kind` is `serviceMonitor` or `podMonitor`, as the Prometheus fields spell it.
fn selected_by_prometheus(m: &Manifests, monitor: &Object, kind: &str, out: &mut Vec<Finding>) {
    let monitor_labels = object_labels(monitor);
    let prometheuses: Vec<&Object> = m
        .objects
        .iter()
        .filter(|o| is_operator(o, "Prometheus") || is_operator(o, "PrometheusAgent"))
        .collect();
    if prometheuses.is_empty() {
        if !monitor_labels.contains_key("release") {
            push(
                out,
                &MONITOR_RELEASE_LABEL,
                monitor,
                labels_line(monitor),
                format!(
                    "{} has no `release` label (its labels: {}); kube-prometheus-stack's default {kind}Selector is `matchLabels: {{release: <helm release name>}}`",
                    monitor.id(),
                    describe_labels(&monitor_labels)
                ),
            );
        }
        return;
    }
    let reasons: Vec<String> = prometheuses
        .iter()
        .map(|p| {
            why_not_selected(m, p, monitor, &monitor_labels, kind)
                .map(|why| format!("{}: {why}", p.id()))
        })
        .collect::<Option<_>>()
        .unwrap_or_default();
    if !reasons.is_empty() {
        push(
            out,
            &MONITOR_NOT_SELECTED,
            monitor,
            labels_line(monitor),
            format!(
                "no Prometheus loads {} (labels: {}): {}",
                monitor.id(),
                describe_labels(&monitor_labels),
                reasons.join("; ")
            ),
        );
    }
}

/// Why `prometheus` does not load `monitor`, or `None` when it does or the manifests cannot
/// tell (a namespace selector over Namespaces that are not among them).
fn why_not_selected(
    m: &Manifests,
    prometheus: &Object,
    monitor: &Object,
    monitor_labels: &Labels,
    kind: &str,
) -> Option<String> {
    let field = format!("{kind}Selector");
    let selector = prometheus
        .node
        .path(&["spec", &field])
        .filter(|s| s.value != Value::Null);
    let Some(selector) = selector else {
        return Some(format!(
            "its spec.{field} is not set, which selects no monitor (`{{}}` selects all)"
        ));
    };
    if !selector_matches(selector, monitor_labels) {
        return Some(format!(
            "its spec.{field} {} does not match",
            describe_selector(selector)
        ));
    }
    let namespace_field = format!("{kind}NamespaceSelector");
    let namespace_selector = prometheus
        .node
        .path(&["spec", &namespace_field])
        .filter(|s| s.value != Value::Null);
    match (
        namespace_selector,
        &prometheus.namespace,
        &monitor.namespace,
    ) {
        (None, Some(own), Some(theirs)) if own != theirs => Some(format!(
            "its spec.{namespace_field} is not set, which keeps to its own namespace {own}, and the monitor is in {theirs}"
        )),
        (Some(selector), _, Some(theirs)) => {
            let namespace = m
                .objects
                .iter()
                .find(|o| o.kind == "Namespace" && &o.name == theirs)?;
            (!selector_matches(selector, &object_labels(namespace))).then(|| {
                format!(
                    "its spec.{namespace_field} {} does not match Namespace {theirs}",
                    describe_selector(selector)
                )
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{reference, rules_fired, with};
    use super::*;

    #[test]
    fn label_selectors_evaluate_expressions() {
        let selector = &crate::yaml::parse_documents(
            "matchLabels: {app: web}\nmatchExpressions:\n  - {key: tier, operator: In, values: [a, b]}\n  - {key: canary, operator: DoesNotExist}\n",
        )
        .unwrap()[0];
        let labels = |pairs: &[(&str, &str)]| -> Labels {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(selector_matches(
            selector,
            &labels(&[("app", "web"), ("tier", "a")])
        ));
        assert!(!selector_matches(
            selector,
            &labels(&[("app", "web"), ("tier", "c")])
        ));
        assert!(!selector_matches(
            selector,
            &labels(&[("app", "web"), ("tier", "a"), ("canary", "1")])
        ));
        let empty = &crate::yaml::parse_documents("{}").unwrap()[0];
        assert!(selector_matches(empty, &labels(&[])), "{{}} selects all");
        assert_eq!(
            describe_selector(selector),
            "app=web,tier In (a, b),canary DoesNotExist ()"
        );
    }

    #[test]
    fn a_service_monitor_in_another_namespace_selector_is_not_judged() {
        let monitor = "\
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web, labels: {release: kps}}
spec:
  namespaceSelector: {any: true}
  selector: {matchLabels: {app: other}}
  endpoints: [{port: metrics}]
";
        assert_eq!(rules_fired(&with(monitor), &reference()), []);
        let own = monitor.replace("  namespaceSelector: {any: true}\n", "");
        let fired = rules_fired(&with(&own), &reference());
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].0, "DC100");
        assert!(fired[0].1.contains("web (app=web)"), "{fired:?}");
    }

    #[test]
    fn a_prometheus_without_a_monitor_selector_loads_none() {
        let text = with(
            "\
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: main}
spec: {}
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  podMetricsEndpoints: [{port: http}]
",
        );
        let fired = rules_fired(&text, &reference());
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].0, "DC105");
        assert!(
            fired[0].1.contains("podMonitorSelector is not set"),
            "{fired:?}"
        );
        let everything = text.replace("spec: {}", "spec: {podMonitorSelector: {}}");
        assert_eq!(rules_fired(&everything, &reference()), []);
    }

    #[test]
    fn a_prometheus_in_another_namespace_needs_a_namespace_selector() {
        let text = with(
            "\
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: main, namespace: monitoring}
spec: {serviceMonitorSelector: {}}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  endpoints: [{port: http}]
",
        );
        let fired = rules_fired(&text, &reference());
        assert!(
            fired.len() == 1 && fired[0].1.contains("keeps to its own namespace monitoring"),
            "{fired:?}"
        );
        let labelled = text.replace(
            "spec: {serviceMonitorSelector: {}}",
            "spec: {serviceMonitorSelector: {}, serviceMonitorNamespaceSelector: {matchLabels: {team: shop}}}",
        ) + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: other}}\n";
        let fired = rules_fired(&labelled, &reference());
        assert!(
            fired.len() == 1 && fired[0].1.contains("does not match Namespace shop"),
            "{fired:?}"
        );
        let matching = labelled.replace("team: other", "team: shop");
        assert_eq!(rules_fired(&matching, &reference()), []);
    }
}
