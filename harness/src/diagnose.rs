//! What a person needs when a cluster scenario fails: workload conditions, pod phases and
//! container states with reasons, PVCs, the HPA, the last events, the last log lines of failing
//! containers (and of the previous container after a restart), and hints for the known
//! patterns of this kind of deployment.

use serde::Serialize;

use crate::cluster::{Cluster, EventInfo, HpaState, PodState, PvcState, WorkloadKind, describe};
use crate::scenario::Target;

/// Log lines kept per container.
pub const LOG_LINES: i64 = 50;
/// Events kept (the most recent).
const EVENTS: usize = 20;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Diagnosis {
    pub workloads: Vec<String>,
    pub pods: String,
    pub pvcs: Vec<String>,
    pub hpa: Option<String>,
    pub events: Vec<String>,
    /// `pod/container` (or `pod/container (previous)`) and its last lines.
    pub logs: Vec<(String, String)>,
    pub hints: Vec<String>,
    /// What could not be collected (RBAC, say), so a short report is not mistaken for a clean one.
    pub gaps: Vec<String>,
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for hint in &self.hints {
            writeln!(f, "hint: {hint}")?;
        }
        for workload in &self.workloads {
            writeln!(f, "workload: {workload}")?;
        }
        writeln!(f, "pods: {}", self.pods)?;
        for pvc in &self.pvcs {
            writeln!(f, "pvc: {pvc}")?;
        }
        if let Some(hpa) = &self.hpa {
            writeln!(f, "hpa: {hpa}")?;
        }
        for event in &self.events {
            writeln!(f, "event: {event}")?;
        }
        for (source, lines) in &self.logs {
            writeln!(f, "--- last log lines of {source} ---")?;
            writeln!(f, "{}", lines.trim_end())?;
        }
        for gap in &self.gaps {
            writeln!(f, "not collected: {gap}")?;
        }
        Ok(())
    }
}

fn any_reason(pods: &[PodState], reasons: &[&str]) -> Vec<String> {
    pods.iter()
        .filter(|p| {
            p.waiting
                .iter()
                .chain(&p.last_terminated)
                .any(|w| reasons.iter().any(|r| w.ends_with(r)))
        })
        .map(|p| p.name.clone())
        .collect()
}

/// Turns the known failure patterns into advice.
pub fn hints(
    pods: &[PodState],
    events: &[EventInfo],
    hpa: Option<&HpaState>,
    pvcs: &[PvcState],
    logs: &str,
) -> Vec<String> {
    let mut hints = Vec::new();
    let pulling = any_reason(
        pods,
        &["ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull"],
    );
    if !pulling.is_empty() {
        hints.push(format!(
            "{}: the image cannot be pulled. On kind, load a locally built image with `kind load \
             docker-image IMAGE` (minikube: `minikube image load IMAGE`); with imagePullPolicy: \
             Never it must already be on the node; otherwise push it to a registry the cluster can reach",
            pulling.join(", ")
        ));
    }
    let crashing = any_reason(pods, &["CrashLoopBackOff", "Error"]);
    if !crashing.is_empty() {
        if logs.contains("localhost:27017") || logs.contains("127.0.0.1:27017") {
            hints.push(format!(
                "{}: the app connects to localhost:27017, which inside a pod is the pod itself; \
                 point it at the MongoDB Service name",
                crashing.join(", ")
            ));
        } else {
            hints.push(format!(
                "{}: the container keeps crashing; its previous logs are below",
                crashing.join(", ")
            ));
        }
    }
    let oom = any_reason(pods, &["OOMKilled"]);
    if !oom.is_empty() {
        hints.push(format!(
            "{}: OOMKilled, the memory limit is too low for the process",
            oom.join(", ")
        ));
    }
    if any_reason(pods, &["CreateContainerConfigError"]).len()
        + events
            .iter()
            .filter(|e| e.message.contains("secret") && e.message.contains("not found"))
            .count()
        > 0
    {
        hints.push(
            "a Secret or key the pod references does not exist (CreateContainerConfigError)".into(),
        );
    }
    if let Some(hpa) = hpa
        && hpa.cpu_percent.is_none()
    {
        hints.push(crate::scenario::hpa::unknown_cpu_hint(hpa));
    }
    for pvc in pvcs.iter().filter(|p| p.phase == "Pending") {
        hints.push(format!(
            "PersistentVolumeClaim {} is Pending: {}",
            pvc.name,
            if pvc.storage_class.is_none() {
                "no storageClassName and no default StorageClass (kind ships `standard`; `kubectl get storageclass`)".to_string()
            } else {
                "the StorageClass cannot provision a volume (see the claim's events)".to_string()
            }
        ));
    }
    if events
        .iter()
        .any(|e| e.reason == "FailedScheduling" && e.message.contains("Insufficient"))
    {
        hints.push("pods cannot be scheduled: their requests exceed what the nodes have free (FailedScheduling: Insufficient cpu/memory)".into());
    }
    if events
        .iter()
        .any(|e| e.reason == "Unhealthy" && e.message.contains("connection refused"))
    {
        hints.push("a probe gets connection refused: it points at a port nothing listens on, or the app binds 127.0.0.1 instead of 0.0.0.0".into());
    }
    hints
}

/// Collects everything about the target's app and database. Never fails: what cannot be read
/// is listed in `gaps`.
pub async fn collect<C: Cluster>(target: &Target<C>) -> Diagnosis {
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let mut diagnosis = Diagnosis::default();
    for (kind, name) in [
        (WorkloadKind::Deployment, &profile.app.deployment),
        (WorkloadKind::StatefulSet, &profile.database.statefulset),
    ] {
        match cluster.workload(namespace, kind, name).await {
            Ok(Some(state)) => diagnosis
                .workloads
                .push(format!("{kind} {}", state.summary())),
            Ok(None) => diagnosis
                .workloads
                .push(format!("{kind} {name} does not exist")),
            Err(error) => diagnosis.gaps.push(error.to_string()),
        }
    }
    let mut pods = Vec::new();
    for selector in [target.app_selector(), target.db_selector()] {
        match cluster.pods(namespace, &selector).await {
            Ok(found) => pods.extend(found),
            Err(error) => diagnosis.gaps.push(error.to_string()),
        }
    }
    diagnosis.pods = describe(&pods);
    let pvcs = cluster.pvcs(namespace).await.unwrap_or_else(|e| {
        diagnosis.gaps.push(e.to_string());
        Vec::new()
    });
    diagnosis.pvcs = pvcs
        .iter()
        .map(|p| {
            format!(
                "{} {} ({})",
                p.name,
                p.phase,
                p.storage_class.as_deref().unwrap_or("no class")
            )
        })
        .collect();
    let hpa = match cluster.hpa(namespace, &profile.hpa.name).await {
        Ok(hpa) => hpa,
        Err(error) => {
            diagnosis.gaps.push(error.to_string());
            None
        }
    };
    diagnosis.hpa = hpa.as_ref().map(|h| {
        format!(
            "{} -> {}: {}/{} replicas (min {}, max {}), CPU {} of target {}",
            h.name,
            h.target,
            h.current,
            h.desired,
            h.min,
            h.max,
            h.cpu_percent
                .map_or("<unknown>".into(), |c| format!("{c}%")),
            h.cpu_target.map_or("?".into(), |c| format!("{c}%"))
        )
    });
    let events = cluster.events(namespace).await.unwrap_or_else(|e| {
        diagnosis.gaps.push(e.to_string());
        Vec::new()
    });
    diagnosis.events = events
        .iter()
        .rev()
        .take(EVENTS)
        .rev()
        .map(|e| {
            format!(
                "{} {} {} (x{}): {}",
                e.kind, e.object, e.reason, e.count, e.message
            )
        })
        .collect();
    let mut all_logs = String::new();
    for pod in pods.iter().filter(|p| !p.ready || p.restarts > 0) {
        let containers: Vec<String> = pod
            .waiting
            .iter()
            .chain(&pod.last_terminated)
            .filter_map(|w| w.split(':').next().map(str::to_string))
            .chain([profile.app.container.clone()])
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for container in containers.into_iter().filter(|c| seen.insert(c.clone())) {
            for previous in [false, true] {
                if previous && pod.restarts == 0 {
                    continue;
                }
                if let Ok(lines) = cluster
                    .logs(namespace, &pod.name, &container, previous, LOG_LINES)
                    .await
                    && !lines.trim().is_empty()
                {
                    all_logs.push_str(&lines);
                    let source = format!(
                        "{}/{container}{}",
                        pod.name,
                        if previous { " (previous)" } else { "" }
                    );
                    diagnosis.logs.push((source, lines));
                }
            }
        }
    }
    diagnosis.hints = hints(&pods, &events, hpa.as_ref(), &pvcs, &all_logs);
    diagnosis
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::{ScriptedCluster, pod};
    use crate::scenario::tests::target;

    fn waiting(name: &str, reason: &str) -> PodState {
        let mut p = pod(name, name, false);
        p.waiting = vec![format!("app: {reason}")];
        p
    }

    #[test]
    fn known_patterns_become_hints() {
        let pods = [
            waiting("app-a", "ImagePullBackOff"),
            waiting("app-b", "CrashLoopBackOff"),
        ];
        let pvcs = [PvcState {
            name: "data-mongodb-0".into(),
            phase: "Pending".into(),
            storage_class: None,
        }];
        let hpa = HpaState {
            name: "web".into(),
            ..HpaState::default()
        };
        let found = hints(
            &pods,
            &[],
            Some(&hpa),
            &pvcs,
            "MongoServerSelectionError: connect ECONNREFUSED 127.0.0.1:27017",
        );
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found[0].starts_with("app-a: the image cannot be pulled")
                && found[0].contains("kind load docker-image")
        );
        assert!(found[1].contains("app-b: the app connects to localhost:27017"));
        assert!(found[2].contains("metrics-server"));
        assert!(found[3].contains("no default StorageClass"));
        assert!(hints(&[pod("a", "a", true)], &[], None, &[], "").is_empty());
    }

    #[tokio::test]
    async fn collects_states_events_and_the_logs_of_failing_containers() {
        let mut crashed = waiting("app-a", "CrashLoopBackOff");
        crashed.restarts = 4;
        let target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(
                "app.kubernetes.io/name=deploycheck-app".into(),
                vec![crashed, pod("app-b", "b", true)],
            );
            s.logs.insert(
                "app-a/app/previous".into(),
                "error: cannot connect to localhost:27017\n".into(),
            );
            s.events.push(EventInfo {
                object: "Pod/app-a".into(),
                kind: "Warning".into(),
                reason: "BackOff".into(),
                message: "Back-off restarting failed container".into(),
                count: 7,
            });
        }));
        let diagnosis = collect(&target).await;
        let text = diagnosis.to_string();
        assert!(
            text.contains("hint: app-a: the app connects to localhost:27017"),
            "{text}"
        );
        assert!(
            text.contains("--- last log lines of app-a/app (previous) ---"),
            "{text}"
        );
        assert!(
            text.contains("event: Warning Pod/app-a BackOff (x7)"),
            "{text}"
        );
        assert!(
            text.contains("workload: Deployment deploycheck-app does not exist"),
            "{text}"
        );
        assert!(diagnosis.gaps.is_empty());
    }
}
