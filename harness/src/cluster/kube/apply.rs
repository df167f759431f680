//! Server-side apply of manifests into the namespace, with the kind found through discovery,
//! and what makes a live object applicable again.

use std::collections::BTreeMap;

use kube::Api;
use kube::api::{DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::Scope;

use super::KubeCluster;
use crate::cluster::{ClusterError, Labels, MANAGED_BY};

/// Field manager for server-side apply, so `kubectl` shows who owns which field.
pub const FIELD_MANAGER: &str = "deploycheck";

impl KubeCluster {
    /// Resolves a manifest's apiVersion/kind through discovery.
    pub(super) async fn resource_for(
        &self,
        object: &serde_json::Value,
        cache: &mut BTreeMap<(String, String), (kube::discovery::ApiResource, Scope)>,
    ) -> Result<(kube::discovery::ApiResource, Scope), ClusterError> {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        if let Some(found) = cache.get(&(api_version.clone(), kind.clone())) {
            return Ok(found.clone());
        }
        let (group, version) = api_version
            .split_once('/')
            .unwrap_or(("", api_version.as_str()));
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| match self.error("discovering", "", e) {
                ClusterError::Api { reason, .. } => ClusterError::Manifest {
                    object: format!("{kind} ({api_version})"),
                    reason: format!("the cluster does not serve this kind: {reason}"),
                },
                other => other,
            })?;
        let found = (resource, capabilities.scope);
        cache.insert((api_version, kind), found.clone());
        Ok(found)
    }
}

impl KubeCluster {
    pub(super) async fn apply(
        &self,
        namespace: &str,
        objects: &[serde_json::Value],
        labels: Labels,
    ) -> Result<Vec<String>, ClusterError> {
        let mut cache = BTreeMap::new();
        let mut applied = Vec::new();
        for object in objects {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let label = format!("{kind}/{name}");
            let (resource, scope) = self.resource_for(object, &mut cache).await?;
            if scope != Scope::Namespaced {
                return Err(ClusterError::Manifest {
                    object: label,
                    reason: "it is cluster-scoped, and deploycheck only changes objects inside \
                             its namespace; create it yourself or drop it from the manifests"
                        .into(),
                });
            }
            let mut object = object.clone();
            object["metadata"]["namespace"] = namespace.into();
            if labels == Labels::Ours {
                object["metadata"]["labels"][MANAGED_BY.0] = MANAGED_BY.1.into();
            }
            let dynamic: DynamicObject =
                serde_json::from_value(object).map_err(|e| ClusterError::Manifest {
                    object: label.clone(),
                    reason: e.to_string(),
                })?;
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), namespace, &resource);
            api.patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&dynamic),
            )
            .await
            .map_err(|e| self.error(&format!("applying {label}"), namespace, e))?;
            applied.push(label);
        }
        Ok(applied)
    }
}

/// Strips what the server owns from a live object so it can be applied again.
pub fn reapplicable(mut object: serde_json::Value) -> serde_json::Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    for claim in object["spec"]["volumeClaimTemplates"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(claim) = claim.as_object_mut() {
            claim.remove("status");
        }
    }
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for key in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "ownerReferences",
        ] {
            metadata.remove(key);
        }
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(|a| a.as_object_mut())
        {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{Exchange, get, patch, scripted};
    use super::*;
    use crate::cluster::Cluster;

    /// Discovery's answer: `group_version` serves `kind` as `plural`.
    fn discovery(group_version: &str, plural: &str, kind: &str, namespaced: bool) -> Exchange {
        get(&format!("/apis/{group_version}")).answer(json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{"name": plural, "singularName": kind.to_lowercase(), "kind": kind,
                "namespaced": namespaced, "verbs": ["create", "get", "list", "patch", "watch"]}]
        }))
    }

    #[tokio::test]
    async fn apply_discovers_the_kind_then_server_side_applies_it_into_the_namespace() {
        let manifest = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "somewhere-else", "labels": {"app": "web", "tier": "front"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
        });
        let labels =
            json!({"app": "web", "tier": "front", "app.kubernetes.io/managed-by": "deploycheck"});
        let script = [
            discovery("apps/v1", "deployments", "Deployment", true),
            patch("/apis/apps/v1/namespaces/shop/deployments/web")
                .query("fieldManager", "deploycheck")
                .query("force", "true")
                .content_type("application/apply-patch+yaml")
                .has(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "shop"},
                    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "nginx:1.27"}]}}}}))
                .body(move |body| assert_eq!(body["metadata"]["labels"], labels))
                .echo(),
        ];
        let call =
            async |c: &KubeCluster| Cluster::apply(c, "shop", &[manifest], Labels::Ours).await;
        let applied = scripted(script, call).await.unwrap();
        assert_eq!(applied, vec!["Deployment/web".to_string()]);
    }

    #[tokio::test]
    async fn restoring_an_object_keeps_its_labels_as_they_were() {
        let manifest = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "labels": {"app.kubernetes.io/managed-by": "Helm"}},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "mongo:7.0"}]}}}
        });
        let labels = json!({"app.kubernetes.io/managed-by": "Helm"});
        let script = [
            discovery("apps/v1", "statefulsets", "StatefulSet", true),
            patch("/apis/apps/v1/namespaces/shop/statefulsets/db")
                .body(move |body| assert_eq!(body["metadata"]["labels"], labels))
                .echo(),
        ];
        let as_they_were = Labels::AsTheyWere;
        let call =
            async |c: &KubeCluster| Cluster::apply(c, "shop", &[manifest], as_they_were).await;
        scripted(script, call).await.unwrap();
    }

    #[tokio::test]
    async fn apply_refuses_a_cluster_scoped_object_and_sends_no_patch() {
        let manifest = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
        });
        // Discovery only: `scripted` fails on any request after it.
        let rbac = "rbac.authorization.k8s.io/v1";
        let script = [discovery(rbac, "clusterroles", "ClusterRole", false)];
        let call =
            async |c: &KubeCluster| Cluster::apply(c, "shop", &[manifest], Labels::Ours).await;
        match scripted(script, call).await {
            Err(error @ ClusterError::Manifest { .. }) => {
                let text = error.to_string();
                assert!(text.contains("ClusterRole/reader"), "{text}");
                assert!(text.contains("cluster-scoped"), "{text}");
            }
            other => panic!("expected a Manifest error, got {other:?}"),
        }
    }

    #[test]
    fn reapplicable_strips_what_the_server_owns_and_keeps_the_rest() {
        let claim = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}}
        });
        let mut live_claim = claim.clone();
        live_claim["status"] = json!({"phase": "Pending"});
        let live = json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {
                "name": "mongo",
                "namespace": "shop",
                "uid": "0b6c1c4e-1111-2222-3333-444455556666",
                "resourceVersion": "12345",
                "generation": 4,
                "creationTimestamp": "2026-01-05T10:00:00Z",
                "labels": {"app": "mongo", "app.kubernetes.io/managed-by": "deploycheck"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "team": "data"
                },
                "managedFields": [{"manager": "deploycheck", "operation": "Apply"}]
            },
            "spec": {
                "replicas": 3,
                "serviceName": "mongo",
                "volumeClaimTemplates": [live_claim]
            },
            "status": {"replicas": 3, "readyReplicas": 3}
        });
        assert_eq!(
            reapplicable(live),
            json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {
                    "name": "mongo",
                    "namespace": "shop",
                    "labels": {"app": "mongo", "app.kubernetes.io/managed-by": "deploycheck"},
                    "annotations": {"team": "data"}
                },
                "spec": {
                    "replicas": 3,
                    "serviceName": "mongo",
                    "volumeClaimTemplates": [claim]
                }
            })
        );
    }
}
