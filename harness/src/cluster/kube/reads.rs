//! Reads of what surrounds the namespace, for preflight and fail-fast verdicts: the server
//! version, StorageClasses, nodes, Secret and ConfigMap keys, PersistentVolumeClaims.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{ConfigMap, Node, PersistentVolumeClaim, Secret};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::ListParams;

use super::KubeCluster;
use crate::cluster::{ClusterError, ConfigKind, NodeInfo, PvcState, StorageClassInfo};

/// Our view of a node.
pub fn node_info(node: &Node) -> NodeInfo {
    let status = node.status.as_ref();
    let allocatable = status.and_then(|s| s.allocatable.as_ref());
    let quantity = |key: &str| allocatable.and_then(|a| a.get(key)).map(|q| q.0.clone());
    NodeInfo {
        name: node.metadata.name.clone().unwrap_or_default(),
        images: status
            .and_then(|s| s.images.as_ref())
            .into_iter()
            .flatten()
            .flat_map(|i| i.names.clone().unwrap_or_default())
            .collect(),
        allocatable_cpu_millis: quantity("cpu")
            .and_then(|q| crate::quantity::cpu_millis(&q))
            .unwrap_or_default(),
        allocatable_memory_bytes: quantity("memory")
            .and_then(|q| crate::quantity::memory_bytes(&q))
            .unwrap_or_default(),
    }
}

/// The keys of an object's two maps (data and stringData, data and binaryData), sorted, once;
/// an unset map has none.
fn sorted_keys<A, B>(
    first: Option<BTreeMap<String, A>>,
    second: Option<BTreeMap<String, B>>,
) -> Vec<String> {
    let first = first.into_iter().flat_map(BTreeMap::into_keys);
    let second = second.into_iter().flat_map(BTreeMap::into_keys);
    let keys: BTreeSet<String> = first.chain(second).collect();
    keys.into_iter().collect()
}

impl KubeCluster {
    pub(super) async fn version(&self) -> Result<String, ClusterError> {
        self.client
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .map_err(|e| match self.error("reading the server version", "", e) {
                ClusterError::Api { reason, .. } => ClusterError::Unreachable {
                    context: self.context.clone(),
                    reason,
                },
                other => other,
            })
    }

    pub(super) async fn storage_classes(&self) -> Result<Vec<StorageClassInfo>, ClusterError> {
        let classes: Vec<StorageClass> = self.list_all("listing StorageClasses").await?;
        Ok(classes
            .into_iter()
            .map(|class| StorageClassInfo {
                default: class
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                    .is_some_and(|v| v == "true"),
                name: class.metadata.name.unwrap_or_default(),
                provisioner: class.provisioner,
            })
            .collect())
    }

    pub(super) async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let nodes: Vec<Node> = self.list_all("listing nodes").await?;
        Ok(nodes.iter().map(node_info).collect())
    }

    pub(super) async fn config_keys(
        &self,
        namespace: &str,
        kind: ConfigKind,
        name: &str,
    ) -> Result<Option<Vec<String>>, ClusterError> {
        // Keys only: the values are read by the API call but never kept or shown.
        match kind {
            ConfigKind::Secret => {
                let keys = |s: Secret| sorted_keys(s.data, s.string_data);
                self.get_in(namespace, kind, name, keys).await
            }
            ConfigKind::ConfigMap => {
                let keys = |c: ConfigMap| sorted_keys(c.data, c.binary_data);
                self.get_in(namespace, kind, name, keys).await
            }
        }
    }

    pub(super) async fn pvcs(&self, namespace: &str) -> Result<Vec<PvcState>, ClusterError> {
        let listing = "listing PersistentVolumeClaims";
        let claims: Vec<PersistentVolumeClaim> = self
            .list_in(namespace, &ListParams::default(), listing)
            .await?;
        Ok(claims
            .iter()
            .map(|pvc| PvcState {
                name: pvc.metadata.name.clone().unwrap_or_default(),
                phase: pvc
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_else(|| "Unknown".into()),
                storage_class: pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()),
            })
            .collect())
    }
}
