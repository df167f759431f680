//! Jobs: deleting one with its pods.

use kube::Api;
use kube::api::{DeleteParams, PropagationPolicy};

use super::KubeCluster;
use crate::cluster::ClusterError;

impl KubeCluster {
    pub(super) async fn delete_job(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        let api: Api<k8s_openapi::api::batch::v1::Job> =
            Api::namespaced(self.client.clone(), namespace);
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(self.error(&format!("deleting Job {name}"), namespace, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{delete, scripted};
    use super::*;
    use crate::cluster::Cluster;

    #[tokio::test]
    async fn delete_job_takes_its_pods_along_and_a_gone_job_is_fine() {
        let job = "deploycheck-load-abc";
        let path = "/apis/batch/v1/namespaces/shop/jobs/deploycheck-load-abc";
        let deleting = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": job}});
        let not_found = "jobs.batch \"deploycheck-load-abc\" not found";
        let script = [
            delete(path)
                .has(json!({"propagationPolicy": "Background"}))
                .answer(deleting),
            delete(path).status(404, "NotFound", not_found),
        ];
        let call = async |c: &KubeCluster| {
            Cluster::delete_job(c, "shop", job).await.unwrap();
            Cluster::delete_job(c, "shop", job).await.unwrap();
        };
        scripted(script, call).await;
    }
}
