//! Namespaces: whether one exists, creating it labelled as ours, deleting it and waiting
//! until it is gone (or saying what holds it).

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};

use super::KubeCluster;
use super::watch::wait_error;
use crate::cluster::{ClusterError, MANAGED_BY, NamespaceGone};

impl KubeCluster {
    pub(super) async fn namespace_exists(&self, name: &str) -> Result<bool, ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.get_opt(name).await {
            Ok(found) => Ok(found.is_some()),
            // A namespaced Role cannot read the Namespace object; whether the namespace
            // exists then shows in listing pods there.
            Err(kube::Error::Api(status)) if status.code == 403 => self
                .pods_api(name)
                .list(&ListParams::default().limit(1))
                .await
                .map(|_| true)
                .map_err(|e| self.error("listing pods", name, e)),
            Err(e) => Err(self.error("reading the namespace", name, e)),
        }
    }

    pub(super) async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {MANAGED_BY.0: MANAGED_BY.1}}
        }))
        .expect("a valid Namespace");
        api.create(&PostParams::default(), &namespace)
            .await
            .map(drop)
            .map_err(|e| self.error("creating the namespace", name, e))
    }

    pub(super) async fn delete_namespace(
        &self,
        name: &str,
        deadline: Duration,
    ) -> Result<NamespaceGone, ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let deleting = api
            .delete(name, &DeleteParams::background())
            .await
            .map_err(|e| self.error("deleting the namespace", name, e))?;
        let Some(uid) = deleting.left().map(|n| n.metadata.uid.unwrap_or_default()) else {
            return Ok(NamespaceGone::Deleted);
        };
        match tokio::time::timeout(
            deadline,
            await_condition(api.clone(), name, conditions::is_deleted(&uid)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(NamespaceGone::Deleted),
            Ok(Err(e)) => Err(self.error("watching the namespace", name, wait_error(e))),
            Err(_) => {
                let namespace = api
                    .get_opt(name)
                    .await
                    .map_err(|e| self.error("reading the namespace", name, e))?;
                let Some(namespace) = namespace else {
                    return Ok(NamespaceGone::Deleted);
                };
                Ok(NamespaceGone::Stuck {
                    finalizers: namespace
                        .spec
                        .and_then(|s| s.finalizers)
                        .unwrap_or_default(),
                    conditions: flat_conditions!(namespace.status.and_then(|s| s.conditions)),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{delete, post, scripted};
    use super::*;
    use crate::cluster::Cluster;

    #[tokio::test]
    async fn create_namespace_posts_a_namespace_labelled_as_ours() {
        let script = [post("/api/v1/namespaces")
            .has(json!({"metadata": {"name": "deploycheck-abc123",
                "labels": {"app.kubernetes.io/managed-by": "deploycheck"}}}))
            .echo()];
        let call = async |c: &KubeCluster| Cluster::create_namespace(c, "deploycheck-abc123").await;
        scripted(script, call).await.unwrap();
    }

    #[tokio::test]
    async fn delete_namespace_that_is_already_gone_is_deleted() {
        let gone = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": "deploycheck-abc123", "kind": "namespaces", "uid": "u1"}});
        let script = [delete("/api/v1/namespaces/deploycheck-abc123")
            .has(json!({"propagationPolicy": "Background"}))
            .answer(gone)];
        let (name, deadline) = ("deploycheck-abc123", Duration::from_secs(5));
        let call = async |c: &KubeCluster| Cluster::delete_namespace(c, name, deadline).await;
        let gone = scripted(script, call).await.unwrap();
        assert_eq!(gone, NamespaceGone::Deleted);
    }
}
