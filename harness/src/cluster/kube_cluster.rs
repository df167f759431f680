//! [`Cluster`] over kube-rs: pods, namespaces, and watch-based waits with deadlines.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;

use super::{Cluster, ClusterError, MANAGED_BY, PodState, WaitError};

/// The real cluster behind a kube client.
pub struct KubeCluster {
    client: kube::Client,
    context: String,
}

impl KubeCluster {
    pub fn new(client: kube::Client, context: String) -> Self {
        Self { client, context }
    }
}

/// Our view of a pod.
pub fn pod_state(pod: &Pod) -> PodState {
    let status = pod.status.as_ref();
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
        restarts: status
            .and_then(|s| s.container_statuses.as_ref())
            .map(|c| c.iter().map(|c| c.restart_count).sum())
            .unwrap_or(0),
    }
}

fn api_error(action: &str, namespace: &str, error: impl std::fmt::Display) -> ClusterError {
    ClusterError::Api {
        action: action.into(),
        namespace: namespace.into(),
        reason: error.to_string(),
    }
}

impl Cluster for KubeCluster {
    fn context(&self) -> &str {
        &self.context
    }

    async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodState>, ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| api_error(&format!("listing pods {selector}"), namespace, e))?;
        Ok(list.items.iter().map(pod_state).collect())
    }

    async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        api.delete(name, &DeleteParams::default())
            .await
            .map(drop)
            .map_err(|e| api_error(&format!("deleting pod {name}"), namespace, e))
    }

    async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {MANAGED_BY.0: MANAGED_BY.1}}
        }))
        .expect("a valid Namespace");
        api.create(&PostParams::default(), &namespace)
            .await
            .map(drop)
            .map_err(|e| api_error("creating the namespace", name, e))
    }

    async fn wait_pods(
        &self,
        namespace: &str,
        selector: &str,
        done: &(dyn Fn(&[PodState]) -> bool + Sync),
        deadline: Duration,
    ) -> Result<Vec<PodState>, WaitError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let mut stream = watcher(api, watcher::Config::default().labels(selector)).boxed();
        // Pods by uid, kept current from the watch events.
        let mut pods: BTreeMap<String, PodState> = BTreeMap::new();
        let mut initial: BTreeMap<String, PodState> = BTreeMap::new();
        let watch = async {
            while let Some(event) = stream.next().await {
                let event = event
                    .map_err(|e| api_error(&format!("watching pods {selector}"), namespace, e))?;
                match event {
                    watcher::Event::Init => initial.clear(),
                    watcher::Event::InitApply(pod) => {
                        let state = pod_state(&pod);
                        initial.insert(state.uid.clone(), state);
                    }
                    watcher::Event::InitDone => pods = std::mem::take(&mut initial),
                    watcher::Event::Apply(pod) => {
                        let state = pod_state(&pod);
                        pods.insert(state.uid.clone(), state);
                    }
                    watcher::Event::Delete(pod) => {
                        pods.remove(pod.metadata.uid.as_deref().unwrap_or_default());
                    }
                }
                let current: Vec<PodState> = pods.values().cloned().collect();
                if done(&current) {
                    return Ok(current);
                }
            }
            Err(api_error(
                &format!("watching pods {selector}"),
                namespace,
                "the watch ended",
            ))
        };
        match tokio::time::timeout(deadline, watch).await {
            Ok(result) => result.map_err(WaitError::from),
            Err(_) => Err(WaitError::Timeout {
                waited: deadline,
                last_seen: pods.values().cloned().collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use tower_test::mock;

    /// A client whose every request the test answers, after checking its shape.
    fn mocked() -> (KubeCluster, mock::Handle<Request<Body>, Response<Body>>) {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        (KubeCluster::new(client, "kind-test".into()), handle)
    }

    async fn body_json(request: Request<Body>) -> serde_json::Value {
        let bytes = request.into_body().collect_bytes().await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn respond(send: mock::SendResponse<Response<Body>>, json: serde_json::Value) {
        send.send_response(
            Response::builder()
                .body(Body::from(serde_json::to_vec(&json).unwrap()))
                .unwrap(),
        );
    }

    #[tokio::test]
    async fn delete_pod_sends_a_delete_for_that_pod_in_that_namespace() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::DELETE);
            assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/pods/web-1");
            respond(
                send,
                serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1"}}),
            );
        });
        cluster.delete_pod("shop", "web-1").await.unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn create_namespace_posts_a_namespace_labelled_as_ours() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::POST);
            assert_eq!(request.uri().path(), "/api/v1/namespaces");
            let body = body_json(request).await;
            assert_eq!(body["metadata"]["name"], "deploycheck-abc123");
            assert_eq!(
                body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "deploycheck"
            );
            respond(
                send,
                serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "deploycheck-abc123"}}),
            );
        });
        cluster
            .create_namespace("deploycheck-abc123")
            .await
            .unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_api_error_names_the_action_and_namespace() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (_, send) = handle.next_request().await.expect("a request");
            send.send_response(
                Response::builder()
                    .status(403)
                    .body(Body::from(
                        serde_json::to_vec(&serde_json::json!({
                            "kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "message": "pods \"web-1\" is forbidden: User \"ci\" cannot delete resource \"pods\"",
                            "reason": "Forbidden", "code": 403
                        }))
                        .unwrap(),
                    ))
                    .unwrap(),
            );
        });
        let error = cluster
            .delete_pod("shop", "web-1")
            .await
            .unwrap_err()
            .to_string();
        server.await.unwrap();
        assert!(
            error.starts_with("deleting pod web-1 in namespace `shop` failed"),
            "{error}"
        );
        assert!(error.contains("forbidden"), "{error}");
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
}
