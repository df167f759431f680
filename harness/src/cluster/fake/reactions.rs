//! How the scripted cluster answers a change, as Kubernetes' own parts would: the Deployment
//! and EndpointSlice controllers following a scale or a selector change, and the kubelet
//! restarting pods whose liveness probe depends on a database that went away.

use std::collections::BTreeMap;

use super::State;
use crate::cluster::{EventInfo, PodState, ServiceInfo, WorkloadKind};

/// A stack whose app liveness probe reads the database (the seed-style Flask stack of the
/// real cluster): deleting a database pod, or scaling a StatefulSet to zero, restarts each
/// dependent pod once, with the kubelet's probe failure and kill events.
#[derive(Clone, Debug)]
pub struct LivenessOnDatabase {
    /// Selector of the pods whose liveness depends on the database.
    pub dependents: String,
    /// Selector of the database's pods.
    pub database: String,
    /// The dependent container's name.
    pub container: String,
    /// What the probe asks, as the kubelet words it: `Get "http://10.0.0.5:5000/data"`.
    pub probe: String,
}

impl State {
    /// A Deployment scaled, as its controller and the EndpointSlice controller answer: its pods
    /// (those its template's labels match) go unready and terminating at zero and come back
    /// above it, and every Service over them follows. Deployments without a scripted template
    /// are only recorded.
    pub(super) fn scale_deployment(&mut self, name: &str, replicas: i32) {
        let key = (WorkloadKind::Deployment, name.to_string());
        let Some(labels) = self
            .templates
            .get(&key)
            .and_then(|t| t.metadata.as_ref()?.labels.clone())
        else {
            return;
        };
        let up = replicas > 0;
        if let Some(w) = self.workloads.get_mut(&key) {
            let count = if up { replicas } else { 0 };
            (w.desired, w.ready, w.available, w.updated, w.total) =
                (replicas, count, count, count, count);
        }
        let mut theirs = Vec::new();
        for pod in self.pods.values_mut().flatten() {
            if crate::strategy::selects(&labels, &pod.labels) {
                pod.ready = up;
                pod.deleting = !up;
                theirs.push(pod.name.clone());
            }
        }
        let abrupt = (!up)
            .then(|| self.abrupt_shutdown.get(name).copied())
            .flatten();
        if let Some(dropping) = abrupt {
            for pod in &theirs {
                self.tunnels.insert(pod.clone(), dropping);
            }
        }
        let services: Vec<ServiceInfo> = self
            .services
            .values()
            .filter(|s| crate::strategy::selects(&s.selector, &labels))
            .cloned()
            .collect();
        for service in services {
            let ready = self.ready_endpoints_of(&service.selector);
            let queue = self.endpoints.entry(service.name.clone()).or_default();
            let stale = queue.back().cloned().unwrap_or_default();
            queue.clear();
            if abrupt.is_some() {
                queue.push_back(stale);
            }
            queue.push_back(ready);
        }
    }

    /// The ready pods (of every scripted selector) that `selector` matches, once each: what a
    /// Service with that selector has as ready endpoints.
    pub fn ready_endpoints_of(&self, selector: &BTreeMap<String, String>) -> Vec<String> {
        let mut ready: Vec<String> = self
            .pods
            .values()
            .flatten()
            .filter(|p| p.ready && !p.deleting && crate::strategy::selects(selector, &p.labels))
            .map(|p| p.name.clone())
            .collect();
        ready.sort();
        ready.dedup();
        ready
    }

    /// The kubelet's answer to a database outage when liveness reads the database.
    pub(super) fn database_went_away(&mut self) {
        let Some(dependency) = self.liveness_on_database.clone() else {
            return;
        };
        let restart = |pods: &mut Vec<PodState>| {
            for pod in pods.iter_mut() {
                pod.restarts += 1;
            }
        };
        let mut names = Vec::new();
        if let Some(pods) = self.pods.get_mut(&dependency.dependents) {
            restart(pods);
            names = pods.iter().map(|p| p.name.clone()).collect();
        }
        if let Some(script) = self.pod_script.get_mut(&dependency.dependents) {
            script.iter_mut().for_each(restart);
        }
        let events: Vec<EventInfo> = names
            .iter()
            .flat_map(|pod| {
                let event = |kind: &str, reason: &str, message: String, count| EventInfo {
                    object: format!("Pod/{pod}"),
                    kind: kind.into(),
                    reason: reason.into(),
                    message,
                    count,
                    ..EventInfo::default()
                };
                [
                    event(
                        "Warning",
                        "Unhealthy",
                        format!(
                            "Liveness probe failed: {}: dial tcp: i/o timeout",
                            dependency.probe
                        ),
                        3,
                    ),
                    event(
                        "Normal",
                        "Killing",
                        format!(
                            "Container {} failed liveness probe, will be restarted",
                            dependency.container
                        ),
                        1,
                    ),
                ]
            })
            .collect();
        self.events.extend(events.iter().cloned());
        for snapshot in self.event_script.iter_mut() {
            snapshot.extend(events.iter().cloned());
        }
    }
}
