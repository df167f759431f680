//! Service and networking rules: the app reaches MongoDB by a Service name, and every Service
//! selects pods and forwards to a port they expose.

use std::net::IpAddr;

use super::{
    Container, Manifests, Workload, containers, declared_ports, labels, push, selects, uri_hosts,
};
use crate::findings::rule;
use crate::findings::{Finding, Rule};
use crate::manifest::Object;
use crate::yaml::Node;

rule!(
    DB_HOST,
    "DC001",
    Error,
    "the app must reach MongoDB by its Service name: localhost is the app's own pod and pod IPs change on every restart",
    "set the host to the MongoDB Service name (e.g. `mongodb`, or `mongodb.<namespace>.svc.cluster.local`)"
);
rule!(
    SERVICE_SELECTOR,
    "DC040",
    Error,
    "a Service whose selector matches no pod has no endpoints: every connection is refused",
    "make spec.selector a subset of the pod template's labels"
);
rule!(
    SERVICE_TARGET_PORT,
    "DC041",
    Error,
    "a Service forwarding to a port the pods do not expose gives connection refused",
    "set targetPort to a containerPort (number or name) of the selected pods"
);

pub const RULES: [Rule; 3] = [DB_HOST, SERVICE_SELECTOR, SERVICE_TARGET_PORT];

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "localhost.localdomain", "ip6-localhost"];

/// Why `host` is not a Service name, if it is not.
fn host_problem(host: &str, services: &[&Object]) -> Option<String> {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    if LOOPBACK_NAMES.contains(&host.to_ascii_lowercase().as_str()) {
        return Some(format!("`{host}` is the app's own pod, not the database"));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(if ip.is_loopback() {
            format!("`{host}` is the app's own pod, not the database")
        } else {
            format!(
                "`{host}` is an IP address; pod and cluster IPs change when objects are re-created"
            )
        });
    }
    if services.is_empty() {
        return None; // Nothing to compare with: the Services may live in another file.
    }
    let short = host.split('.').next().unwrap_or(host);
    let known = services.iter().any(|s| s.name == short);
    (!known).then(|| {
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        format!(
            "`{host}` is not a Service in these manifests (Services: {})",
            names.join(", ")
        )
    })
}

fn is_host_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    (upper.contains("MONGO") && upper.ends_with("HOST")) || upper == "DB_HOST"
}

fn config_map_value(env: &Node, objects: &[Object]) -> Option<String> {
    let reference = env.path(&["valueFrom", "configMapKeyRef"])?;
    let map = reference.get("name").and_then(Node::as_str)?;
    let key = reference.get("key").and_then(Node::as_str)?;
    objects
        .iter()
        .find(|o| o.kind == "ConfigMap" && o.name == map)?
        .node
        .path(&["data", key])?
        .scalar_text()
}

/// DC001: the app's database host (an env value, a URI or a ConfigMap key) is a Service name.
pub(super) fn database_host(m: &Manifests, c: &Container, out: &mut Vec<Finding>) {
    let (w, container, name) = (c.workload, c.node, &c.name);
    let (services, objects) = (&m.services, m.objects);
    let object = w.object;
    if !w.is_app {
        return;
    }
    for env in container.get("env").map(Node::items).unwrap_or_default() {
        let var = env.get("name").and_then(Node::as_str).unwrap_or_default();
        let literal = env.get("value");
        let text = literal.and_then(Node::scalar_text);
        let line = literal.map_or(env.line, |v| v.line);
        // The value may also come from a ConfigMap in the same manifests.
        let value = text.or_else(|| config_map_value(env, objects));
        let Some(value) = value else { continue };
        let hosts = if value.contains("://") {
            uri_hosts(&value)
        } else if is_host_name(var) {
            vec![value.clone()]
        } else {
            Vec::new()
        };
        for host in hosts {
            if let Some(problem) = host_problem(&host, services) {
                push(
                    out,
                    &DB_HOST,
                    object,
                    line,
                    format!("container `{name}` {var}: {problem}"),
                );
            }
        }
    }
}

/// DC040, DC041: each Service selects pod templates, and forwards to a port they declare.
pub(super) fn services(m: &Manifests, out: &mut Vec<Finding>) {
    let (services, workloads) = (&m.services, &m.workloads);
    if workloads.is_empty() {
        return;
    }
    for service in services {
        let Some(selector_node) = service.node.path(&["spec", "selector"]) else {
            continue; // Selector-less Services point at manual Endpoints.
        };
        let selector = labels(Some(selector_node));
        let selected: Vec<&Workload> = workloads
            .iter()
            .filter(|w| selects(&selector, &w.pod_labels))
            .collect();
        if selected.is_empty() {
            let shown: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            push(
                out,
                &SERVICE_SELECTOR,
                service,
                selector_node.line,
                format!("selector {} matches no pod template", shown.join(",")),
            );
            continue;
        }
        for port in service
            .node
            .path(&["spec", "ports"])
            .map(Node::items)
            .unwrap_or_default()
        {
            let target = port.get("targetPort").or_else(|| port.get("port"));
            let Some(target) = target else { continue };
            let exposed_by_all = selected.iter().all(|w| {
                let ports: Vec<_> = containers(w.pod_spec)
                    .iter()
                    .flat_map(declared_ports)
                    .collect();
                ports.is_empty()
                    || match target.as_i64() {
                        Some(number) => ports.iter().any(|(p, _)| *p == Some(number)),
                        None => {
                            let wanted = target.scalar_text().unwrap_or_default();
                            ports
                                .iter()
                                .any(|(_, n)| n.as_deref() == Some(wanted.as_str()))
                        }
                    }
            });
            if !exposed_by_all {
                push(
                    out,
                    &SERVICE_TARGET_PORT,
                    service,
                    target.line,
                    format!(
                        "targetPort {} is not a containerPort of the selected pods",
                        target.scalar_text().unwrap_or_default()
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_problems() {
        assert!(host_problem("localhost", &[]).unwrap().contains("own pod"));
        assert!(host_problem("127.0.0.1", &[]).unwrap().contains("own pod"));
        assert!(host_problem("[::1]", &[]).unwrap().contains("own pod"));
        assert!(
            host_problem("10.1.2.3", &[])
                .unwrap()
                .contains("IP address")
        );
        assert_eq!(
            host_problem("mongodb", &[]),
            None,
            "no Services to compare with"
        );
    }
}
