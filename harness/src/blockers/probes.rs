//! Probes whose failures are certain: the kubelet restarted a container for its liveness
//! probe, a liveness probe is refused or answered 404 while the app is Ready, a readiness probe
//! still fails past its own start-up allowance; each compared with what the app serves.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, PodTemplateSpec, Probe};

use super::{Facts, PROBE_MARGIN};
use crate::cluster::{EventInfo, PodState};

pub(super) fn liveness_kills(events: &[EventInfo], pod: &str) -> i32 {
    events
        .iter()
        .filter(|e| {
            e.object == format!("Pod/{pod}")
                && e.reason == "Killing"
                && e.message.contains("failed liveness probe")
        })
        .map(|e| e.count)
        .sum()
}

/// `initialDelaySeconds + periodSeconds × failureThreshold`, the Kubernetes defaults filled in.
pub fn probe_allowance(probe: Option<&Probe>) -> Duration {
    Duration::from_secs(probe.map_or(0, |p| {
        let delay = p.initial_delay_seconds.unwrap_or(0).max(0) as u64;
        let period = p.period_seconds.unwrap_or(10).max(1) as u64;
        let threshold = p.failure_threshold.unwrap_or(3).max(1) as u64;
        delay + period * threshold
    }))
}

/// A port as written: a number or a port name.
fn port_text(port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    match port {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => p.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    }
}

/// The port an HTTP or TCP probe asks, as written (a number or a port name).
fn probe_port(probe: &Probe) -> Option<String> {
    probe
        .http_get
        .as_ref()
        .map(|h| &h.port)
        .or(probe.tcp_socket.as_ref().map(|t| &t.port))
        .map(port_text)
}

/// `GET :5000/healthz`, for messages.
pub fn describe_probe(probe: &Probe) -> String {
    if let Some(http) = &probe.http_get {
        format!(
            "GET :{}{}",
            port_text(&http.port),
            http.path.as_deref().unwrap_or("/")
        )
    } else if let Some(tcp) = &probe.tcp_socket {
        format!("TCP :{}", port_text(&tcp.port))
    } else if let Some(exec) = &probe.exec {
        format!(
            "exec {}",
            exec.command.clone().unwrap_or_default().join(" ")
        )
    } else {
        "grpc".into()
    }
}

/// What the probe asks compared with what the container serves: a path the profile does not
/// know, a port the container does not declare.
fn compare_probe(probe: &Probe, container: &Container, served: &[String]) -> String {
    let mut said = Vec::new();
    let ports: Vec<String> = container
        .ports
        .iter()
        .flatten()
        .flat_map(|p| {
            [Some(p.container_port.to_string()), p.name.clone()]
                .into_iter()
                .flatten()
        })
        .collect();
    if let Some(port) = probe_port(probe)
        && !ports.is_empty()
        && !ports.contains(&port)
    {
        let declared: Vec<String> = container
            .ports
            .iter()
            .flatten()
            .map(|p| p.container_port.to_string())
            .collect();
        said.push(format!(
            "port {port} is not a port of the container (it declares {})",
            declared.join(", ")
        ));
    }
    if let Some(path) = probe.http_get.as_ref().and_then(|h| h.path.as_deref())
        && !served.is_empty()
        && !served.iter().any(|s| s == path)
    {
        said.push(format!(
            "the app serves {} (the profile's health and ready paths), not {path}",
            served.join(" and ")
        ));
    }
    if said.is_empty() {
        "check the probe's port and path against what the app serves".into()
    } else {
        said.join("; ")
    }
}

/// A probe whose failures are certain: the kubelet restarted the container for its liveness
/// probe (nothing of deploycheck's touched it), a liveness probe is refused or answered 404
/// while the container is ready (the app runs; the probe asks the wrong place), or a probe
/// still fails after the container ran past the probe's start-up allowance and a margin.
pub(super) fn failing_probe(
    facts: &Facts,
    pod: &PodState,
    template: Option<&PodTemplateSpec>,
) -> Option<String> {
    let of_pod = |prefix: &str| -> Vec<&EventInfo> {
        facts
            .events
            .iter()
            .filter(|e| {
                e.object == format!("Pod/{}", pod.name)
                    && e.reason == "Unhealthy"
                    && e.message.starts_with(prefix)
            })
            .collect()
    };
    let container =
        template.and_then(|t| {
            t.spec.as_ref()?.containers.iter().find(|c| {
                pod.containers.is_empty() || pod.containers.iter().any(|s| s.name == c.name)
            })
        })?;
    let startup = probe_allowance(container.startup_probe.as_ref());
    let quote = |events: &[&EventInfo]| {
        events
            .iter()
            .rev()
            .take(1)
            .map(|e| format!("{} (x{})", e.message.trim(), e.count))
            .collect::<Vec<_>>()
            .join("")
    };
    let past_allowance =
        |event: &EventInfo, allowance: Duration| match (event.last_seen, pod.running_since) {
            (Some(seen), Some(since)) => seen
                .duration_since(since)
                .is_ok_and(|running| running > startup + allowance + PROBE_MARGIN),
            _ => false,
        };
    if let Some(liveness) = &container.liveness_probe {
        let failures = of_pod("Liveness probe failed");
        let kills = liveness_kills(&facts.events, &pod.name);
        // A 404 says the path is not served. A refusal says the port is closed, but while the
        // app starts its port is closed too: it counts only when the Ready container's
        // readiness probe asks another port, the one it does listen on.
        let other_port =
            container.readiness_probe.as_ref().and_then(probe_port) != probe_port(liveness);
        let wrong_place = |e: &&EventInfo| {
            e.message.contains("statuscode: 404")
                || (other_port && e.message.contains("connection refused"))
        };
        if kills > 0 || (pod.ready && failures.iter().any(wrong_place)) {
            let restarted = if kills > 0 {
                format!("the kubelet restarted the container {kills} time(s) for it; ")
            } else {
                "the container is ready, so the app runs; ".into()
            };
            let said = quote(&failures);
            let said = if said.is_empty() {
                String::new()
            } else {
                format!("{said}; ")
            };
            return Some(format!(
                "the liveness probe of {} ({}) fails on a healthy app: {said}{restarted}{}",
                container.name,
                describe_probe(liveness),
                compare_probe(liveness, container, &facts.served_paths)
            ));
        }
    }
    if let Some(readiness) = &container.readiness_probe
        && !pod.ready
    {
        // While a dependency still starts, an unready app may only be waiting for it (a 503,
        // a timeout, even a port not yet opened); a 404 says the path is not served at all.
        let dependencies_ready = facts.dependencies_ready(&pod.name);
        let failures: Vec<&EventInfo> = of_pod("Readiness probe failed")
            .into_iter()
            .filter(|e| dependencies_ready || e.message.contains("statuscode: 404"))
            .collect();
        let allowance = probe_allowance(Some(readiness));
        if let Some(last) = failures.last()
            && past_allowance(last, allowance)
        {
            let running = match (last.last_seen, pod.running_since) {
                (Some(seen), Some(since)) => seen.duration_since(since).unwrap_or_default(),
                _ => Duration::ZERO,
            };
            return Some(format!(
                "the readiness probe of {} ({}) still fails {} s after the container started, \
                 past its start-up allowance of {} s: {}; {}",
                container.name,
                describe_probe(readiness),
                running.as_secs(),
                (startup + allowance).as_secs(),
                quote(&failures),
                compare_probe(readiness, container, &facts.served_paths)
            ));
        }
    }
    None
}
