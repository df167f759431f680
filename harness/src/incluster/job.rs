//! The Job that runs the load workers: one Indexed Job, `parallelism = completions = pods`,
//! each pod a `deploycheck load-worker` of the harness image, labelled as ours, under the
//! restricted Pod Security Standard, with requests so it is schedulable and limits so it
//! cannot starve the node, never retried (a worker that dies is reported, not replaced), and
//! garbage-collected by the cluster if deploycheck itself is killed.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::MANAGED_BY;

/// The `app.kubernetes.io/component` of load workers, for cleanup after an interrupt.
pub const COMPONENT: &str = "deploycheck-load";
/// The workers' container.
pub const CONTAINER: &str = "load";
/// Label the Job controller puts on its pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// What the workers do, all pods together.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadPlan {
    /// The app's Service by name, as the workers reach it: `http://SERVICE:PORT`.
    pub service: String,
    pub port: u16,
    pub image: String,
    pub pods: usize,
    /// `GET /,POST /data` or a named mix the worker knows.
    pub mix: String,
    /// Connections of all pods together at each step of the ramp.
    pub ramp: Vec<usize>,
    pub step: Duration,
    pub duration: Duration,
    pub reconnect_every: u64,
    pub window: Duration,
}

impl LoadPlan {
    /// The URL the workers load, by Service name: in-cluster load only ever targets the
    /// cluster's own Service addresses.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.service, self.port)
    }

    /// Each pod's share of the connections at every step (at least one).
    pub fn per_pod_ramp(&self) -> Vec<usize> {
        let pods = self.pods.max(1);
        self.ramp.iter().map(|c| c.div_ceil(pods).max(1)).collect()
    }
}

fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs().max(1))
}

/// The Job manifest for `plan`, named `name`.
pub fn manifest(name: &str, plan: &LoadPlan) -> Value {
    let labels = json!({
        MANAGED_BY.0: MANAGED_BY.1,
        "app.kubernetes.io/component": COMPONENT,
    });
    let connections = plan
        .per_pod_ramp()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let args = vec![
        "load-worker".to_string(),
        "--url".into(),
        plan.url(),
        "--mix".into(),
        plan.mix.clone(),
        "--connections".into(),
        connections,
        "--step".into(),
        seconds(plan.step),
        "--duration".into(),
        seconds(plan.duration),
        "--reconnect-every".into(),
        plan.reconnect_every.to_string(),
        "--window".into(),
        seconds(plan.window),
    ];
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "parallelism": plan.pods,
            "completions": plan.pods,
            "completionMode": "Indexed",
            // A worker that dies is reported as missing, never silently replaced.
            "backoffLimit": 0,
            // The cluster removes it even if deploycheck is killed before its cleanup.
            "ttlSecondsAfterFinished": 600,
            "activeDeadlineSeconds": plan.duration.as_secs() + 300,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [{
                        "name": CONTAINER,
                        "image": plan.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": args,
                        "resources": {
                            "requests": {"cpu": "250m", "memory": "64Mi"},
                            "limits": {"cpu": "1", "memory": "256Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }],
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LoadPlan {
        LoadPlan {
            service: "deploycheck-app".into(),
            port: 5000,
            image: "deploycheck:0.1.0".into(),
            pods: 2,
            mix: "GET /".into(),
            ramp: vec![8, 16, 33],
            step: Duration::from_secs(30),
            duration: Duration::from_secs(240),
            reconnect_every: 100,
            window: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_job_is_ours_restricted_bounded_and_never_retried() {
        let job = manifest("deploycheck-load-abc", &plan());
        assert_eq!(
            job["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "deploycheck"
        );
        assert_eq!(
            job["metadata"]["labels"]["app.kubernetes.io/component"],
            COMPONENT
        );
        let spec = &job["spec"];
        assert_eq!(
            (
                &spec["parallelism"],
                &spec["completions"],
                &spec["backoffLimit"]
            ),
            (&json!(2), &json!(2), &json!(0))
        );
        assert_eq!(spec["completionMode"], "Indexed");
        assert_eq!(spec["ttlSecondsAfterFinished"], 600);
        assert_eq!(spec["activeDeadlineSeconds"], 540);
        let pod = &spec["template"]["spec"];
        assert_eq!(
            spec["template"]["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "deploycheck"
        );
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let container = &pod["containers"][0];
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"],
            false
        );
        assert_eq!(
            container["securityContext"]["capabilities"]["drop"],
            json!(["ALL"])
        );
        assert_eq!(container["resources"]["requests"]["cpu"], "250m");
        assert_eq!(container["resources"]["limits"]["memory"], "256Mi");
        assert_eq!(
            container["args"],
            json!([
                "load-worker",
                "--url",
                "http://deploycheck-app:5000",
                "--mix",
                "GET /",
                "--connections",
                "4,8,17",
                "--step",
                "30s",
                "--duration",
                "240s",
                "--reconnect-every",
                "100",
                "--window",
                "5s"
            ])
        );
    }
}
