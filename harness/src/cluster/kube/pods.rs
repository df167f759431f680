//! Pods: our view of one, listing, deleting and watching the pods a selector matches.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kube::api::{DeleteParams, ListParams};
use kube::runtime::watcher;

use super::KubeCluster;
use super::watch::WatchedList;
use crate::cluster::{ClusterError, ContainerInfo, PodCondition, PodState, WaitError};

/// Our view of a pod.
pub fn pod_state(pod: &Pod) -> PodState {
    let status = pod.status.as_ref();
    let containers = status
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    PodState {
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        phase: status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into()),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        restarts: containers.iter().map(|c| c.restart_count).sum(),
        qos_class: status.and_then(|s| s.qos_class.clone()).unwrap_or_default(),
        waiting: reasons(&containers, |c| {
            c.state.as_ref()?.waiting.as_ref()?.reason.clone()
        }),
        last_terminated: reasons(&containers, |c| {
            c.last_state.as_ref()?.terminated.as_ref()?.reason.clone()
        }),
        claims: pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .map(|volumes| {
                volumes
                    .iter()
                    .filter_map(|v| Some(v.persistent_volume_claim.as_ref()?.claim_name.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0.into()),
        running_since: containers
            .iter()
            .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
            .map(|t| std::time::SystemTime::from(t.0))
            .max(),
        containers: containers.iter().map(container_info).collect(),
        unschedulable: status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| {
                c.iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            })
            .map(|c| {
                format!(
                    "{}: {}",
                    c.reason.as_deref().unwrap_or("Unschedulable"),
                    c.message.as_deref().unwrap_or_default()
                )
            }),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
    }
}

/// `container: reason` for each container that `reason_of` finds a reason in.
fn reasons(
    containers: &[ContainerStatus],
    reason_of: impl Fn(&ContainerStatus) -> Option<String>,
) -> Vec<String> {
    let reason = |c: &ContainerStatus| Some(format!("{}: {}", c.name, reason_of(c)?));
    containers.iter().filter_map(reason).collect()
}

fn container_info(status: &ContainerStatus) -> ContainerInfo {
    let waiting = status.state.as_ref().and_then(|s| s.waiting.as_ref());
    let last = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref());
    ContainerInfo {
        name: status.name.clone(),
        image: status.image.clone(),
        ready: status.ready,
        restarts: status.restart_count,
        waiting_reason: waiting.and_then(|w| w.reason.clone()),
        waiting_message: waiting.and_then(|w| w.message.clone()),
        last_reason: last.and_then(|t| t.reason.clone()),
        last_exit_code: last.map(|t| t.exit_code),
        running_since: status
            .state
            .as_ref()
            .and_then(|s| s.running.as_ref()?.started_at.as_ref())
            .map(|t| t.0.into()),
    }
}

impl KubeCluster {
    pub(super) async fn pods(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Vec<PodState>, ClusterError> {
        let matching = ListParams::default().labels(selector);
        let listing = format!("listing pods {selector}");
        let pods: Vec<Pod> = self.list_in(namespace, &matching, &listing).await?;
        Ok(pods.iter().map(pod_state).collect())
    }

    pub(super) async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        self.pods_api(namespace)
            .delete(name, &DeleteParams::default())
            .await
            .map(drop)
            .map_err(|e| self.error(&format!("deleting pod {name}"), namespace, e))
    }

    pub(super) async fn wait_pods(
        &self,
        namespace: &str,
        selector: &str,
        done: PodCondition<'_>,
        deadline: Duration,
    ) -> Result<Vec<PodState>, WaitError> {
        let watched = WatchedList {
            action: format!("watching pods {selector}"),
            namespace,
            config: watcher::Config::default().labels(selector),
            // By uid: a replacement pod with the same name is another pod.
            key: |pod: &Pod| pod.metadata.uid.clone().unwrap_or_default(),
            view: |pod: Pod| pod_state(&pod),
            present: |pods: &BTreeMap<String, PodState>| pods.values().cloned().collect(),
        };
        self.watch_list(
            self.pods_api(namespace),
            watched,
            |pods: &Vec<PodState>| done(pods),
            || self.pods(namespace, selector),
            |pods| crate::cluster::describe(pods),
            deadline,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Node;
    use serde_json::json;

    use super::super::reads::node_info;
    use super::super::testing::{delete, scripted};
    use super::*;
    use crate::cluster::{Cluster, NodeInfo};

    #[tokio::test]
    async fn delete_pod_sends_a_delete_for_that_pod_in_that_namespace() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1"}});
        let script = [delete("/api/v1/namespaces/shop/pods/web-1").answer(pod)];
        let call = async |c: &KubeCluster| Cluster::delete_pod(c, "shop", "web-1").await;
        scripted(script, call).await.unwrap();
    }

    #[test]
    fn pod_state_reads_readiness_termination_and_restarts() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "app-1", "uid": "u1", "deletionTimestamp": "2026-11-23T06:00:00Z"},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [
                    {"name": "app", "restartCount": 2, "ready": true, "image": "i", "imageID": "", "started": true},
                    {"name": "side", "restartCount": 1, "ready": true, "image": "i", "imageID": "", "started": true}
                ]
            }
        }))
        .unwrap();
        assert_eq!(
            pod_state(&pod),
            PodState {
                name: "app-1".into(),
                uid: "u1".into(),
                phase: "Running".into(),
                ready: true,
                deleting: true,
                restarts: 3,
                containers: ["app", "side"]
                    .iter()
                    .zip([2, 1])
                    .map(|(name, restarts)| ContainerInfo {
                        name: (*name).into(),
                        image: "i".into(),
                        ready: true,
                        restarts,
                        ..ContainerInfo::default()
                    })
                    .collect(),
                ..PodState::default()
            }
        );
        let pending: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        let state = pod_state(&pending);
        assert_eq!(
            (state.phase.as_str(), state.ready, state.restarts),
            ("Unknown", false, 0)
        );
    }

    /// What a fail-fast verdict quotes: the kubelet's waiting reason and message, how the
    /// previous run ended, and the scheduler's reason (verbatim from run-2's cluster).
    #[test]
    fn pod_state_keeps_the_kubelets_and_the_schedulers_words() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "flask-app-9966c57d5-g8jzm"},
            "spec": {"nodeName": "lab", "containers": [{"name": "flask-app"}]},
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient cpu."}],
                "containerStatuses": [{
                    "name": "flask-app", "restartCount": 4, "ready": false,
                    "image": "registry.example.com/flask-mongodb-app:1.0.3", "imageID": "",
                    "state": {"waiting": {"reason": "CreateContainerConfigError",
                        "message": "couldn't find key mongodb-password in Secret deploycheck-s415ja/mongodb-secret"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
                }]
            }
        }))
        .unwrap();
        let state = pod_state(&pod);
        assert_eq!(state.node.as_deref(), Some("lab"));
        assert_eq!(
            state.unschedulable.as_deref(),
            Some("Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.")
        );
        assert_eq!(
            state.containers,
            [ContainerInfo {
                name: "flask-app".into(),
                image: "registry.example.com/flask-mongodb-app:1.0.3".into(),
                ready: false,
                restarts: 4,
                waiting_reason: Some("CreateContainerConfigError".into()),
                waiting_message: Some(
                    "couldn't find key mongodb-password in Secret deploycheck-s415ja/mongodb-secret"
                        .into()
                ),
                last_reason: Some("OOMKilled".into()),
                last_exit_code: Some(137),
                running_since: None,
            }]
        );
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "lab"},
            "status": {
                "allocatable": {"cpu": "2", "memory": "8039936Ki"},
                "images": [{"names": ["docker.io/library/deploycheck-app:0.1.0", "sha256:abc"], "sizeBytes": 1}]
            }
        }))
        .unwrap();
        assert_eq!(
            node_info(&node),
            NodeInfo {
                name: "lab".into(),
                images: vec![
                    "docker.io/library/deploycheck-app:0.1.0".into(),
                    "sha256:abc".into()
                ],
                allocatable_cpu_millis: 2000,
                allocatable_memory_bytes: 8039936 * 1024,
            }
        );
    }

    #[test]
    fn pod_state_reads_labels_and_when_its_containers_started() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "labels": {"app": "web"}, "creationTimestamp": "2026-11-29T10:00:00Z"},
            "status": {"containerStatuses": [
                {"name": "app", "image": "i", "imageID": "", "ready": true, "restartCount": 1,
                 "state": {"running": {"startedAt": "2026-11-29T10:01:00Z"}}},
                {"name": "side", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                 "state": {"running": {"startedAt": "2026-11-29T10:00:05Z"}}}
            ]}
        }))
        .unwrap();
        let state = pod_state(&pod);
        let at = |text: &str| {
            Some(std::time::SystemTime::from(
                text.parse::<k8s_openapi::jiff::Timestamp>().unwrap(),
            ))
        };
        assert_eq!(state.labels["app"], "web");
        assert_eq!(state.created, at("2026-11-29T10:00:00Z"));
        assert_eq!(state.running_since, at("2026-11-29T10:01:00Z"));
    }
}
