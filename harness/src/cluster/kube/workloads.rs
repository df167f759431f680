//! Deployments and StatefulSets: their rollout state, reading, waiting for, scaling,
//! restarting and deleting them, each written once for both kinds.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::runtime::wait::{await_condition, conditions};

use super::KubeCluster;
use super::apply::reapplicable;
use super::watch::wait_error;
use crate::cluster::{ClusterError, WaitError, WorkloadCondition, WorkloadKind, WorkloadState};

/// Rollout status of a Deployment or a StatefulSet: the same fields under different types.
macro_rules! workload_state {
    ($object:expr) => {{
        let object = $object;
        let status = object.status.clone().unwrap_or_default();
        let generation = object.metadata.generation.unwrap_or(0);
        WorkloadState {
            name: object.metadata.name.clone().unwrap_or_default(),
            desired: object.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            // `i32` on a StatefulSet, `Option<i32>` on a Deployment.
            total: Option::<i32>::from(status.replicas).unwrap_or(0),
            observed: status.observed_generation.unwrap_or(0) >= generation,
            conditions: flat_conditions!(status.conditions),
        }
    }};
}

pub fn deployment_state(deployment: &Deployment) -> WorkloadState {
    workload_state!(deployment)
}

pub fn statefulset_state(statefulset: &StatefulSet) -> WorkloadState {
    workload_state!(statefulset)
}

/// What Deployments and StatefulSets share, so each workload operation is written once.
trait Workload:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + serde::Serialize
    + Send
    + Sync
    + 'static
{
    fn state(&self) -> WorkloadState;
    fn into_template(self) -> Option<PodTemplateSpec>;
}

impl Workload for Deployment {
    fn state(&self) -> WorkloadState {
        deployment_state(self)
    }

    fn into_template(self) -> Option<PodTemplateSpec> {
        self.spec.map(|s| s.template)
    }
}

impl Workload for StatefulSet {
    fn state(&self) -> WorkloadState {
        statefulset_state(self)
    }

    fn into_template(self) -> Option<PodTemplateSpec> {
        self.spec.map(|s| s.template)
    }
}

/// Evaluates `$body` with `$K` standing for the k8s-openapi type of the workload kind.
macro_rules! with_workload_type {
    ($kind:expr, $K:ident => $body:expr) => {
        match $kind {
            WorkloadKind::Deployment => {
                type $K = Deployment;
                $body
            }
            WorkloadKind::StatefulSet => {
                type $K = StatefulSet;
                $body
            }
        }
    };
}

impl KubeCluster {
    fn workloads<K: Workload>(&self, namespace: &str) -> Api<K> {
        Api::namespaced(self.client.clone(), namespace)
    }

    async fn wait_workload_of<K: Workload>(
        &self,
        namespace: &str,
        name: &str,
        done: WorkloadCondition<'_>,
        deadline: Duration,
    ) -> Result<WorkloadState, WaitError> {
        // `None`: the watch has delivered nothing yet; `Some(None)`: it read that the object
        // does not exist.
        let last = Mutex::new(None::<Option<WorkloadState>>);
        let condition = |object: Option<&K>| {
            let state = object.map(Workload::state);
            let reached = state.as_ref().is_some_and(done);
            *last.lock().unwrap() = Some(state);
            reached
        };
        let result = tokio::time::timeout(
            deadline,
            await_condition(self.workloads::<K>(namespace), name, condition),
        )
        .await;
        let last = last.lock().unwrap().clone();
        match result {
            Ok(Ok(_)) => Ok(last.flatten().expect("the condition saw the object")),
            Ok(Err(e)) => Err(WaitError::Cluster(self.error(
                &format!("watching {name}"),
                namespace,
                wait_error(e),
            ))),
            Err(_) => {
                // A wait always reads the cluster before it times out: with no time left the
                // watch may never have delivered, and nothing may be said of an unread object.
                let seen = match last {
                    Some(seen) => seen,
                    None => self
                        .workloads::<K>(namespace)
                        .get_opt(name)
                        .await
                        .map_err(|e| self.error(&format!("reading {name}"), namespace, e))?
                        .as_ref()
                        .map(Workload::state),
                };
                if let Some(state) = &seen
                    && done(state)
                {
                    return Ok(state.clone());
                }
                Err(WaitError::Timeout {
                    waited: deadline,
                    last_seen: seen
                        .map_or_else(|| format!("{name} does not exist"), |s| s.summary()),
                })
            }
        }
    }

    /// Deletes in the foreground (the object goes only after its pods, so "gone" means "pods
    /// gone too") and waits until it is gone.
    async fn delete_and_wait<K: Workload>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<(), kube::Error> {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..DeleteParams::default()
        };
        let api = self.workloads::<K>(namespace);
        let uid = api
            .delete(name, &params)
            .await?
            .left()
            .and_then(|object| object.meta().uid.clone())
            .unwrap_or_default();
        await_condition(api, name, conditions::is_deleted(&uid))
            .await
            .map(drop)
            .map_err(wait_error)
    }

    async fn manifest_of<K: Workload>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>, kube::Error> {
        let Some(object) = self.workloads::<K>(namespace).get_opt(name).await? else {
            return Ok(None);
        };
        let mut value = serde_json::to_value(object).map_err(kube::Error::SerdeError)?;
        value["apiVersion"] = K::api_version(&()).into();
        value["kind"] = K::kind(&()).into();
        Ok(Some(reapplicable(value)))
    }
}

impl KubeCluster {
    pub(super) async fn manifest(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<serde_json::Value>, ClusterError> {
        with_workload_type!(kind, K => self.manifest_of::<K>(namespace, name).await)
            .map_err(|e| self.error(&format!("reading {kind} {name}"), namespace, e))
    }

    pub(super) async fn delete_workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        deadline: Duration,
    ) -> Result<(), WaitError> {
        let deleted = with_workload_type!(kind, K => {
            tokio::time::timeout(deadline, self.delete_and_wait::<K>(namespace, name)).await
        });
        match deleted {
            Ok(result) => result.map_err(|e| {
                WaitError::Cluster(self.error(&format!("deleting {kind} {name}"), namespace, e))
            }),
            Err(_) => Err(WaitError::Timeout {
                waited: deadline,
                last_seen: format!("{kind} {name} still terminating (finalizers or stuck pods)"),
            }),
        }
    }

    pub(super) async fn workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<WorkloadState>, ClusterError> {
        with_workload_type!(kind, K => self.get_in(namespace, kind, name, |w: K| w.state()).await)
    }

    pub(super) async fn wait_workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        done: WorkloadCondition<'_>,
        deadline: Duration,
    ) -> Result<WorkloadState, WaitError> {
        with_workload_type!(kind, K => {
            self.wait_workload_of::<K>(namespace, name, done, deadline).await
        })
    }

    pub(super) async fn pod_template(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<PodTemplateSpec>, ClusterError> {
        with_workload_type!(kind, K => self.get_in(namespace, kind, name, K::into_template).await)
            .map(Option::flatten)
    }

    pub(super) async fn deployments(
        &self,
        namespace: &str,
    ) -> Result<Vec<crate::strategy::Side>, ClusterError> {
        let deployments: Vec<Deployment> = self
            .list_in(
                namespace,
                &kube::api::ListParams::default(),
                "listing Deployments",
            )
            .await?;
        Ok(deployments
            .into_iter()
            .map(|d| {
                let spec = d.spec.unwrap_or_default();
                crate::strategy::Side {
                    name: d.metadata.name.unwrap_or_default(),
                    labels: spec
                        .template
                        .metadata
                        .and_then(|m| m.labels)
                        .unwrap_or_default(),
                    // Unset, the API server defaults it to 1.
                    replicas: spec.replicas.unwrap_or(1),
                }
            })
            .collect())
    }

    pub(super) async fn scale(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        replicas: i32,
    ) -> Result<(), ClusterError> {
        let patch = Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}}));
        with_workload_type!(kind, K => {
            self.workloads::<K>(namespace)
                .patch_scale(name, &PatchParams::default(), &patch)
                .await
                .map(drop)
        })
        .map_err(|e| {
            self.error(
                &format!("scaling {kind} {name} to {replicas}"),
                namespace,
                e,
            )
        })
    }

    pub(super) async fn restart(
        &self,
        namespace: &str,
        deployment: &str,
    ) -> Result<(), ClusterError> {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let patch = Patch::Merge(serde_json::json!({"spec": {"template": {"metadata": {
            "annotations": {"kubectl.kubernetes.io/restartedAt": now}
        }}}}));
        Api::<Deployment>::namespaced(self.client.clone(), namespace)
            .patch(deployment, &PatchParams::default(), &patch)
            .await
            .map(drop)
            .map_err(|e| self.error(&format!("restarting {deployment}"), namespace, e))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{ApiRequest, patch, routed, scripted};
    use super::*;
    use crate::cluster::Cluster;

    #[tokio::test]
    async fn deployments_lists_the_namespace_with_pod_labels_and_replicas() {
        let script = [
            super::super::testing::get("/apis/apps/v1/namespaces/shop/deployments").answer(
                super::super::testing::list(json!([
                    {"metadata": {"name": "web-blue"}, "spec": {"replicas": 3,
                      "selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web", "version": "blue"}}}}},
                    {"metadata": {"name": "web-green"}, "spec": {
                      "selector": {"matchLabels": {"app": "web"}},
                      "template": {"metadata": {"labels": {"app": "web", "version": "green"}}}}}
                ])),
            ),
        ];
        let call = async |c: &KubeCluster| Cluster::deployments(c, "shop").await;
        let sides = scripted(script, call).await.unwrap();
        let seen: Vec<_> = sides
            .iter()
            .map(|s| (s.name.as_str(), s.labels["version"].as_str(), s.replicas))
            .collect();
        assert_eq!(seen, [("web-blue", "blue", 3), ("web-green", "green", 1)]);
    }

    #[tokio::test]
    async fn scale_merge_patches_the_scale_subresource_of_a_statefulset() {
        let script = [patch("/apis/apps/v1/namespaces/shop/statefulsets/mongo/scale")
            .content_type("application/merge-patch+json")
            .body(|body| assert_eq!(*body, json!({"spec": {"replicas": 0}})))
            .answer(json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "mongo"},
                "spec": {"replicas": 0}, "status": {"replicas": 3}}))];
        let kind = WorkloadKind::StatefulSet;
        let call = async |c: &KubeCluster| Cluster::scale(c, "shop", kind, "mongo", 0).await;
        scripted(script, call).await.unwrap();
    }

    #[tokio::test]
    async fn restart_sets_a_restarted_at_annotation_on_the_pod_template() {
        let web =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        let script = [patch("/apis/apps/v1/namespaces/shop/deployments/web")
            .content_type("application/merge-patch+json")
            .body(|body| {
                let annotations = body["spec"]["template"]["metadata"]["annotations"]
                    .as_object()
                    .unwrap_or_else(|| panic!("no template annotations in {body}"));
                assert_eq!(annotations.len(), 1, "{body}");
                let stamp = annotations["kubectl.kubernetes.io/restartedAt"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no restartedAt in {body}"));
                let rfc3339 = &time::format_description::well_known::Rfc3339;
                let when = time::OffsetDateTime::parse(stamp, rfc3339)
                    .unwrap_or_else(|e| panic!("{stamp} is not RFC 3339: {e}"));
                let age = time::OffsetDateTime::now_utc() - when;
                let now = age >= time::Duration::ZERO && age < time::Duration::minutes(1);
                assert!(now, "{stamp} is not now");
            })
            .answer(web)];
        let call = async |c: &KubeCluster| Cluster::restart(c, "shop", "web").await;
        scripted(script, call).await.unwrap();
    }

    fn deployment(generation: i64, observed_generation: i64) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "generation": generation},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:2"}]}}
            },
            "status": {
                "observedGeneration": observed_generation,
                "replicas": 3,
                "readyReplicas": 3,
                "availableReplicas": 3,
                "updatedReplicas": 3,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "message": "ReplicaSet \"web-5d4f\" has successfully progressed."}
                ]
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_deployment_whose_latest_spec_is_not_observed_is_not_rolled_out() {
        let state = deployment_state(&deployment(3, 2));
        assert_eq!(
            (state.desired, state.ready, state.available, state.updated),
            (3, 3, 3, 3)
        );
        assert!(!state.observed);
        assert!(!state.rolled_out());
        assert!(
            state.summary().contains("latest spec not yet observed"),
            "{}",
            state.summary()
        );
        assert_eq!(state.conditions.len(), 2);
        // The same counts with the spec observed are a finished rollout.
        let state = deployment_state(&deployment(3, 3));
        assert!(state.observed && state.rolled_out(), "{state:?}");
    }

    #[test]
    fn a_ready_statefulset_is_rolled_out() {
        let statefulset: StatefulSet = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "mongo", "generation": 2},
            "spec": {
                "replicas": 3,
                "serviceName": "mongo",
                "selector": {"matchLabels": {"app": "mongo"}},
                "template": {"metadata": {"labels": {"app": "mongo"}},
                    "spec": {"containers": [{"name": "mongo", "image": "mongo:8"}]}}
            },
            "status": {
                "observedGeneration": 2,
                "replicas": 3,
                "readyReplicas": 3,
                "availableReplicas": 3,
                "currentReplicas": 3,
                "updatedReplicas": 3,
                "currentRevision": "mongo-7c9",
                "updateRevision": "mongo-7c9"
            }
        }))
        .unwrap();
        let state = statefulset_state(&statefulset);
        assert_eq!(
            state,
            WorkloadState {
                name: "mongo".into(),
                desired: 3,
                ready: 3,
                available: 3,
                updated: 3,
                total: 3,
                observed: true,
                conditions: vec![],
            }
        );
        assert!(state.rolled_out());
    }

    /// run-2: a wait with no time left never read the cluster and said "mongodb does not
    /// exist" of a ready StatefulSet. With a zero deadline the wait now reads the object once
    /// and judges what it read.
    #[tokio::test]
    async fn a_wait_with_no_time_left_reads_the_workload_before_it_says_anything() {
        let mongodb = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "mongodb", "generation": 1},
            "spec": {"replicas": 1, "selector": {}, "serviceName": "mongodb", "template": {}},
            "status": {"replicas": 1, "readyReplicas": 0, "availableReplicas": 0,
                       "currentReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1}});
        // The read is answered; the watch's list, cut short by the deadline, is not.
        let path = "/apis/apps/v1/namespaces/shop/statefulsets/mongodb";
        let route =
            move |request: &ApiRequest| (request.uri().path() == path).then(|| mongodb.clone());
        let kind = WorkloadKind::StatefulSet;
        let done = |w: &WorkloadState| w.rolled_out();
        let call = async |c: &KubeCluster| {
            Cluster::wait_workload(c, "shop", kind, "mongodb", &done, Duration::ZERO).await
        };
        let error = routed(route, call).await.unwrap_err();
        let WaitError::Timeout { last_seen, .. } = error else {
            panic!("{error}")
        };
        assert_eq!(last_seen, "mongodb: 0/1 ready, 1 updated, 0 available");
    }
}
