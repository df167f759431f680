//! Probe rules: every long-running container has liveness and readiness probes, on a port it
//! declares, and the app's liveness does not restart it for a database outage.

use super::{Container, Manifests, declared_ports, push};
use crate::findings::{Finding, Rule};
use crate::yaml::Node;

rule!(
    PROBES,
    "DC010",
    Error,
    "without a liveness probe a hung process is never restarted; without a readiness probe traffic reaches pods that cannot serve",
    "add livenessProbe (e.g. GET /health) and readinessProbe (e.g. GET /ready) to every long-running container"
);
rule!(
    PROBE_PORT,
    "DC011",
    Error,
    "a probe on a port the container does not expose always fails: the pod never becomes Ready or restarts forever",
    "point the probe at a declared containerPort (by number or name)"
);
rule!(
    LIVENESS_IS_READINESS,
    "DC012",
    Warning,
    "a liveness probe identical to readiness restarts every app pod when the database has an outage, which cannot help",
    "keep liveness on a check of the process alone (/health) and readiness on one that checks the database (/ready)"
);

pub const RULES: [Rule; 3] = [PROBES, PROBE_PORT, LIVENESS_IS_READINESS];

/// The handler of a probe, for comparing liveness with readiness.
fn probe_handler(probe: &Node) -> Option<String> {
    ["httpGet", "tcpSocket", "grpc", "exec"]
        .iter()
        .find_map(|kind| probe.get(kind).map(|h| format!("{kind}:{}", h.to_json())))
}

/// DC010, DC011, DC012, for the containers of long-running workloads (not Jobs, not init
/// containers).
pub(super) fn probes(_: &Manifests, c: &Container, out: &mut Vec<Finding>) {
    let (w, container, name) = (c.workload, c.node, &c.name);
    let object = w.object;
    let long_running = !matches!(object.kind.as_str(), "Job" | "CronJob");
    if !long_running || c.is_init {
        return;
    }
    let liveness = container.get("livenessProbe");
    let readiness = container.get("readinessProbe");
    let missing: Vec<&str> = [("livenessProbe", liveness), ("readinessProbe", readiness)]
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        push(
            out,
            &PROBES,
            object,
            container.line,
            format!("container `{name}` has no {}", missing.join(" and ")),
        );
    }
    let ports = declared_ports(container);
    for (kind, probe) in [
        ("livenessProbe", liveness),
        ("readinessProbe", readiness),
        ("startupProbe", container.get("startupProbe")),
    ] {
        let Some(probe) = probe else { continue };
        let Some(port) = ["httpGet", "tcpSocket", "grpc"]
            .iter()
            .find_map(|h| probe.path(&[h, "port"]))
        else {
            continue;
        };
        let exposed = match port.as_i64() {
            Some(number) => ports.is_empty() || ports.iter().any(|(p, _)| *p == Some(number)),
            None => {
                let wanted = port.scalar_text().unwrap_or_default();
                ports
                    .iter()
                    .any(|(_, n)| n.as_deref() == Some(wanted.as_str()))
            }
        };
        if !exposed {
            let declared: Vec<String> = ports
                .iter()
                .map(|(p, n)| match (p, n) {
                    (Some(p), Some(n)) => format!("{p} ({n})"),
                    (Some(p), None) => p.to_string(),
                    (None, Some(n)) => n.clone(),
                    (None, None) => "?".into(),
                })
                .collect();
            push(
                out,
                &PROBE_PORT,
                object,
                port.line,
                format!(
                    "container `{name}` {kind} uses port {} but the container declares {}",
                    port.scalar_text().unwrap_or_default(),
                    if declared.is_empty() {
                        "no ports".to_string()
                    } else {
                        declared.join(", ")
                    }
                ),
            );
        }
    }
    if w.is_app
        && let (Some(l), Some(r)) = (liveness, readiness)
        && probe_handler(l).is_some()
        && probe_handler(l) == probe_handler(r)
    {
        push(
            out,
            &LIVENESS_IS_READINESS,
            object,
            l.line,
            format!("container `{name}` uses the same check for liveness and readiness"),
        );
    }
}
