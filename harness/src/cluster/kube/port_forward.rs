//! A byte stream to a pod's port (a port-forward).

use super::KubeCluster;
use crate::cluster::{ClusterError, Tunnel};

impl KubeCluster {
    pub(super) async fn tunnel(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> Result<Box<dyn Tunnel>, ClusterError> {
        let action = format!("port-forwarding to {pod}:{port}");
        let mut forwarder = self
            .pods_api(namespace)
            .portforward(pod, &[port])
            .await
            .map_err(|e| self.error(&action, namespace, e))?;
        // The forwarder's task runs on its own; the stream lives as long as the caller keeps it.
        let stream = forwarder
            .take_stream(port)
            .ok_or_else(|| ClusterError::Api {
                action,
                namespace: namespace.into(),
                reason: "no stream for the port".into(),
            })?;
        Ok(Box::new(stream))
    }
}
