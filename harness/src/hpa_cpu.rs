//! Why an HPA reports CPU `<unknown>`, said only after its premise was read from the objects:
//! the metrics API is missing or not ready, it has no sample for new pods yet, a container has
//! no CPU request, or the pods are not Ready (the HPA leaves unready pods out). Used by the HPA
//! scenario before it loads anything and by the diagnostics of a failed scenario.

use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::cluster::{Cluster, HpaState, PodMetrics, PodState, WorkloadKind};

/// Why an HPA reports CPU `<unknown>`, after asking the metrics API which of the causes it is:
/// the API is not served (no metrics-server) or not available (not ready), it serves but has
/// no sample for the app's pods yet (new pods wait for their first scrape), or it has samples
/// and the HPA still cannot compute a utilisation (no CPU request on the containers).
/// What the `<unknown>` CPU explanation may claim, read from the objects before it is said.
#[derive(Clone, Debug, Default)]
pub struct CpuPremise {
    /// App containers without a CPU request; `None`: the pod template could not be read.
    pub without_request: Option<Vec<String>>,
    /// App pods that are not Ready, and all app pods.
    pub unready: usize,
    pub pods: usize,
}

impl CpuPremise {
    /// Reads the app Deployment's template and the pods `app_selector` matches.
    pub async fn read<C: Cluster>(
        cluster: &C,
        namespace: &str,
        deployment: &str,
        app_selector: &str,
    ) -> Self {
        let template = cluster
            .pod_template(namespace, WorkloadKind::Deployment, deployment)
            .await
            .ok()
            .flatten();
        let pods = cluster
            .pods(namespace, app_selector)
            .await
            .unwrap_or_default();
        Self::of(template.as_ref(), &pods)
    }

    pub fn of(template: Option<&PodTemplateSpec>, app_pods: &[PodState]) -> Self {
        let live: Vec<&PodState> = app_pods.iter().filter(|p| !p.deleting).collect();
        Self {
            without_request: template.and_then(|t| t.spec.as_ref()).map(|spec| {
                spec.containers
                    .iter()
                    .filter(|c| {
                        !c.resources
                            .as_ref()
                            .and_then(|r| r.requests.as_ref())
                            .is_some_and(|r| r.contains_key("cpu"))
                    })
                    .map(|c| c.name.clone())
                    .collect()
            }),
            unready: live.iter().filter(|p| !p.ready).count(),
            pods: live.len(),
        }
    }
}

pub fn unknown_cpu_hint(
    hpa: &HpaState,
    metrics: &Result<PodMetrics, String>,
    premise: &CpuPremise,
) -> String {
    let conditions: Vec<String> = hpa
        .conditions
        .iter()
        .filter(|c| c.status != "True")
        .map(ToString::to_string)
        .collect();
    let conditions = if conditions.is_empty() {
        String::new()
    } else {
        format!(" (HPA conditions: {})", conditions.join("; "))
    };
    let cause = match metrics {
        Ok(PodMetrics::Unavailable(reason)) => format!(
            "the metrics API (metrics.k8s.io) does not answer ({reason}): metrics-server is missing or not ready (`kubectl get apiservice v1beta1.metrics.k8s.io`; on kind install it with --kubelet-insecure-tls)"
        ),
        Ok(PodMetrics::Samples(samples)) if samples.is_empty() => "metrics-server answers but has no sample for the app's pods yet: new pods get their first one within about a minute (its resolution); if this lasts, check `kubectl top pods` and metrics-server's logs"
            .to_string(),
        Ok(PodMetrics::Samples(samples)) => match (&premise.without_request, premise.unready) {
            (Some(missing), _) if !missing.is_empty() => format!(
                "metrics-server reports {} of the app's pods, yet the HPA cannot compute a utilisation: every container of the pods needs a CPU request (utilisation is a share of it), and {} has none",
                samples.len(),
                missing.join(", ")
            ),
            (_, unready) if unready > 0 => format!(
                "{unready} of the {} app pods are not Ready and the HPA leaves unready pods out of its average, so it has no sample to use: the cause is why the pods are not ready, not the metrics",
                premise.pods
            ),
            (None, _) => format!(
                "metrics-server reports {} of the app's pods, yet the HPA cannot compute a utilisation; the pod template could not be read to check that every container has a CPU request",
                samples.len()
            ),
            (Some(_), _) => format!(
                "metrics-server reports {} of the app's pods, every container has a CPU request and every pod is Ready: the HPA computes a utilisation at its next sync (15 s) unless its conditions below say otherwise",
                samples.len()
            ),
        },
        Err(error) => format!(
            "the metrics API could not be asked ({error}): metrics-server may be missing or not ready, or the containers have no CPU request"
        ),
    };
    format!(
        "HPA {} reports CPU <unknown>: {cause}{conditions}",
        hpa.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::pod;

    #[test]
    fn unknown_cpu_names_the_cause_the_metrics_api_shows() {
        let hpa = HpaState {
            name: "web".into(),
            ..HpaState::default()
        };
        let premise = CpuPremise {
            without_request: Some(vec!["app".into()]),
            unready: 0,
            pods: 1,
        };
        let missing = unknown_cpu_hint(
            &hpa,
            &Ok(PodMetrics::Unavailable("404 not found".into())),
            &premise,
        );
        assert!(
            missing.contains("metrics-server is missing or not ready"),
            "{missing}"
        );
        let no_sample = unknown_cpu_hint(&hpa, &Ok(PodMetrics::Samples(Vec::new())), &premise);
        assert!(
            no_sample.contains("answers but has no sample for the app's pods yet")
                && !no_sample.contains("missing"),
            "{no_sample}"
        );
        let sampled = unknown_cpu_hint(
            &hpa,
            &Ok(PodMetrics::Samples(vec![crate::cluster::PodUsage {
                pod: "web-a".into(),
                cpu_millis: 3,
                memory_bytes: 1,
            }])),
            &premise,
        );
        assert!(
            sampled.contains("needs a CPU request") && sampled.contains("and app has none"),
            "{sampled}"
        );
    }

    /// run-2 (`broken/readiness-wrong-path.txt`): every container had a CPU request; the HPA
    /// had no sample because the pods were unready ("did not receive metrics for targeted pods
    /// (pods might be unready)"). The hint's premise is read from the objects first.
    #[test]
    fn unknown_cpu_never_blames_requests_that_are_there() {
        let hpa = HpaState {
            name: "flask-app".into(),
            conditions: vec![crate::cluster::Condition {
                kind: "ScalingActive".into(),
                status: "False".into(),
                reason: "FailedGetResourceMetric".into(),
                message: "the HPA was unable to compute the replica count: failed to get cpu utilization: did not receive metrics for targeted pods (pods might be unready)".into(),
            }],
            ..HpaState::default()
        };
        let template: PodTemplateSpec =
            serde_json::from_value(serde_json::json!({"spec": {"containers": [{
                "name": "flask-app", "resources": {"requests": {"cpu": "200m"}}
            }]}}))
            .unwrap();
        let pods = [
            pod("flask-app-a", "a", false),
            pod("flask-app-b", "b", false),
        ];
        let premise = CpuPremise::of(Some(&template), &pods);
        assert_eq!(premise.without_request, Some(Vec::new()));
        let samples = Ok(PodMetrics::Samples(vec![crate::cluster::PodUsage {
            pod: "flask-app-a".into(),
            cpu_millis: 3,
            memory_bytes: 1,
        }]));
        let hint = unknown_cpu_hint(&hpa, &samples, &premise);
        assert!(!hint.contains("CPU request"), "{hint}");
        assert!(
            hint.contains("2 of the 2 app pods are not Ready")
                && hint.contains("the cause is why the pods are not ready"),
            "{hint}"
        );
        // Ready pods, requests set: nothing is blamed.
        let ready = [pod("flask-app-a", "a", true)];
        let hint = unknown_cpu_hint(&hpa, &samples, &CpuPremise::of(Some(&template), &ready));
        assert!(!hint.contains("needs a CPU request"), "{hint}");
    }
}
