//! Resource usage: pod CPU and memory from the metrics API, and HorizontalPodAutoscalers.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Api;
use kube::api::{DynamicObject, ListParams};

use super::KubeCluster;
use crate::cluster::{ClusterError, HpaState, PodMetrics, PodUsage};

/// CPU and memory summed over a PodMetrics object's containers.
pub fn pod_usage(object: &DynamicObject) -> PodUsage {
    let mut usage = PodUsage {
        pod: object.metadata.name.clone().unwrap_or_default(),
        ..PodUsage::default()
    };
    for container in object.data["containers"].as_array().into_iter().flatten() {
        let of = |key: &str| {
            container["usage"][key]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        usage.cpu_millis += crate::quantity::cpu_millis(&of("cpu")).unwrap_or(0);
        usage.memory_bytes += crate::quantity::memory_bytes(&of("memory")).unwrap_or(0);
    }
    usage
}

pub fn hpa_state(hpa: &HorizontalPodAutoscaler) -> HpaState {
    let spec = hpa.spec.clone().unwrap_or_default();
    let status = hpa.status.clone().unwrap_or_default();
    let cpu_target = spec.metrics.iter().flatten().find_map(|m| {
        let resource = m.resource.as_ref()?;
        (resource.name == "cpu").then_some(resource.target.average_utilization)?
    });
    let cpu_percent = status.current_metrics.iter().flatten().find_map(|m| {
        let resource = m.resource.as_ref()?;
        (resource.name == "cpu").then_some(resource.current.average_utilization)?
    });
    HpaState {
        name: hpa.metadata.name.clone().unwrap_or_default(),
        target: format!(
            "{}/{}",
            spec.scale_target_ref.kind, spec.scale_target_ref.name
        ),
        min: spec.min_replicas.unwrap_or(1),
        max: spec.max_replicas,
        current: status.current_replicas.unwrap_or(0),
        desired: status.desired_replicas,
        cpu_percent,
        cpu_target,
        conditions: flat_conditions!(status.conditions),
    }
}

impl KubeCluster {
    pub(super) async fn pod_metrics(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<PodMetrics, ClusterError> {
        let resource = kube::discovery::ApiResource {
            group: "metrics.k8s.io".into(),
            version: "v1beta1".into(),
            api_version: "metrics.k8s.io/v1beta1".into(),
            kind: "PodMetrics".into(),
            plural: "pods".into(),
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        match api.list(&ListParams::default().labels(selector)).await {
            Ok(list) => Ok(PodMetrics::Samples(
                list.items.iter().map(pod_usage).collect(),
            )),
            // 404: nothing serves the group (no metrics-server); 503: the APIService is
            // registered but its backend does not answer (metrics-server not ready).
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 503 => {
                Ok(PodMetrics::Unavailable(format!(
                    "{} {}",
                    status.code,
                    if status.message.is_empty() {
                        status.reason.clone()
                    } else {
                        status.message.clone()
                    }
                )))
            }
            Err(error) => Err(self.error("reading pod metrics", namespace, error)),
        }
    }

    pub(super) async fn hpa(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<HpaState>, ClusterError> {
        self.get_in(namespace, "HPA", name, |hpa| hpa_state(&hpa))
            .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{get, list, scripted};
    use super::*;
    use crate::cluster::{Cluster, Condition};

    #[test]
    fn hpa_state_reads_cpu_target_and_current_utilisation() {
        let hpa: HorizontalPodAutoscaler = serde_json::from_value(serde_json::json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 6,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory",
                        "target": {"type": "Utilization", "averageUtilization": 80}}},
                    {"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70}}}
                ]
            },
            "status": {
                "currentReplicas": 2,
                "desiredReplicas": 4,
                "lastScaleTime": "2026-01-05T10:00:00Z",
                "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "memory",
                        "current": {"averageUtilization": 40, "averageValue": "20Mi"}}},
                    {"type": "Resource", "resource": {"name": "cpu",
                        "current": {"averageUtilization": 142, "averageValue": "142m"}}}
                ],
                "conditions": [
                    {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale",
                     "message": "the HPA controller was able to update the target scale to 4",
                     "lastTransitionTime": "2026-01-05T10:00:00Z"}
                ]
            }
        }))
        .unwrap();
        assert_eq!(
            hpa_state(&hpa),
            HpaState {
                name: "web".into(),
                target: "Deployment/web".into(),
                min: 2,
                max: 6,
                current: 2,
                desired: 4,
                cpu_percent: Some(142),
                cpu_target: Some(70),
                conditions: vec![Condition {
                    kind: "AbleToScale".into(),
                    status: "True".into(),
                    reason: "SucceededRescale".into(),
                    message: "the HPA controller was able to update the target scale to 4".into(),
                }],
            }
        );
    }

    #[test]
    fn hpa_state_without_current_metrics_has_unknown_cpu() {
        let hpa: HorizontalPodAutoscaler = serde_json::from_value(serde_json::json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70}}}]
            },
            "status": {
                "currentReplicas": 1,
                "desiredReplicas": 1,
                "conditions": [
                    {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
                     "message": "unable to get metrics for resource cpu",
                     "lastTransitionTime": "2026-01-05T10:00:00Z"}
                ]
            }
        }))
        .unwrap();
        let state = hpa_state(&hpa);
        assert_eq!(state.cpu_percent, None);
        assert_eq!(state.cpu_target, Some(70));
        assert_eq!(
            (state.min, state.max, state.current, state.desired),
            (1, 5, 1, 1)
        );
        assert_eq!(state.conditions[0].reason, "FailedGetResourceMetric");
    }

    #[tokio::test]
    async fn pod_metrics_lists_the_metrics_api_and_sums_containers() {
        let samples = list(json!([{
            "metadata": {"name": "mongodb-0"}, "timestamp": "2026-11-29T10:00:00Z", "window": "15s",
            "containers": [
                {"name": "mongodb", "usage": {"cpu": "935123456n", "memory": "200Mi"}},
                {"name": "exporter", "usage": {"cpu": "5m", "memory": "10Mi"}}
            ]
        }]));
        let script = [get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods")
            .query("labelSelector", "app=mongodb")
            .answer(samples)];
        let call = async |c: &KubeCluster| Cluster::pod_metrics(c, "shop", "app=mongodb").await;
        let metrics = scripted(script, call).await.unwrap();
        assert_eq!(
            metrics,
            PodMetrics::Samples(vec![PodUsage {
                pod: "mongodb-0".into(),
                cpu_millis: 940,
                memory_bytes: 210 * 1024 * 1024,
            }])
        );
    }

    #[tokio::test]
    async fn a_metrics_api_nobody_serves_is_unavailable_not_an_error() {
        let path = "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods";
        let unable = "the server is currently unable to handle the request";
        for code in [404, 503] {
            let script = [get(path).status(code, "ServiceUnavailable", unable)];
            let call = async |c: &KubeCluster| Cluster::pod_metrics(c, "shop", "app=web").await;
            let metrics = scripted(script, call).await.unwrap();
            let expected = format!("{code} the server is currently unable to handle the request");
            assert_eq!(metrics, PodMetrics::Unavailable(expected));
        }
    }
}
