//! Scripts run inside the cluster: in a short-lived helper pod, or in an ephemeral container
//! added to a running pod, both under the `restricted` Pod Security Standard.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;

use super::KubeCluster;
use super::watch::wait_error;
use crate::cluster::{ClusterError, Ephemeral, HelperRun, MANAGED_BY};

/// Restricted-profile security settings, so helpers run in namespaces that enforce the
/// `restricted` Pod Security Standard.
fn restricted_security(run_as_user: Option<i64>) -> serde_json::Value {
    let mut context = serde_json::json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": true,
    });
    match run_as_user {
        Some(0) => {
            context["runAsNonRoot"] = false.into();
            context["runAsUser"] = 0.into();
        }
        Some(uid) => context["runAsUser"] = uid.into(),
        None => context["runAsUser"] = 65534.into(),
    }
    context
}

/// A short random suffix for helper names.
fn suffix() -> String {
    crate::cluster::throwaway_namespace_name()["deploycheck-".len()..].to_string()
}

/// Exit code of a terminated container, and whether it has terminated.
fn terminated(
    statuses: Option<&Vec<k8s_openapi::api::core::v1::ContainerStatus>>,
    container: &str,
) -> Option<i32> {
    statuses?
        .iter()
        .find(|c| c.name == container)?
        .state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| t.exit_code)
}

impl KubeCluster {
    /// Waits until a pod's phase or one of its (ephemeral) containers satisfies `done`.
    async fn wait_pod(
        &self,
        namespace: &str,
        name: &str,
        done: impl Fn(&Pod) -> bool + Send,
        deadline: Duration,
    ) -> Result<Option<Pod>, ClusterError> {
        let condition = move |p: Option<&Pod>| p.is_some_and(&done);
        match tokio::time::timeout(
            deadline,
            await_condition(self.pods_api(namespace), name, condition),
        )
        .await
        {
            Ok(Ok(pod)) => Ok(pod),
            Ok(Err(e)) => {
                Err(self.error(&format!("watching pod {name}"), namespace, wait_error(e)))
            }
            Err(_) => Ok(None),
        }
    }
}

impl KubeCluster {
    pub(super) async fn run_helper(
        &self,
        namespace: &str,
        image: &str,
        script: &str,
        deadline: Duration,
    ) -> Result<HelperRun, ClusterError> {
        let name = format!("deploycheck-helper-{}", suffix());
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {
                MANAGED_BY.0: MANAGED_BY.1,
                "app.kubernetes.io/component": "deploycheck-helper"
            }},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "helper",
                    "image": image,
                    "command": ["sh", "-c", script],
                    "securityContext": restricted_security(None),
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "100m", "memory": "64Mi"}
                    }
                }]
            }
        }))
        .expect("a valid helper Pod");
        let api = self.pods_api(namespace);
        api.create(&PostParams::default(), &pod)
            .await
            .map_err(|e| self.error("creating a helper pod", namespace, e))?;
        let ended = self
            .wait_pod(
                namespace,
                &name,
                |p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.phase.as_deref())
                        .is_some_and(|phase| phase == "Succeeded" || phase == "Failed")
                },
                deadline,
            )
            .await;
        let output = self.logs(namespace, &name, "helper", false, 200).await;
        // Always removed, whatever happened above.
        let _ = api
            .delete(&name, &DeleteParams::default().grace_period(0))
            .await;
        let pod = ended?;
        let exit_code = pod
            .as_ref()
            .and_then(|p| terminated(p.status.as_ref()?.container_statuses.as_ref(), "helper"));
        let mut output = output.unwrap_or_else(|e| format!("(no output: {e})"));
        if pod.is_none() {
            output.push_str(&format!(
                "\n(helper pod {name} with image {image} did not finish within {} s)",
                deadline.as_secs()
            ));
        }
        Ok(HelperRun { exit_code, output })
    }

    pub(super) async fn run_ephemeral(
        &self,
        namespace: &str,
        spec: &Ephemeral<'_>,
        deadline: Duration,
    ) -> Result<HelperRun, ClusterError> {
        let pod = spec.pod;
        let name = format!("deploycheck-{}", suffix());
        let patch = serde_json::json!({"spec": {"ephemeralContainers": [{
            "name": name,
            "image": spec.image,
            "command": ["sh", "-c", spec.script],
            "targetContainerName": spec.target_container,
            "securityContext": restricted_security(spec.run_as_user),
        }]}});
        self.pods_api(namespace)
            .patch_ephemeral_containers(pod, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .map_err(|e| {
                self.error(
                    &format!("adding an ephemeral container to {pod}"),
                    namespace,
                    e,
                )
            })?;
        let finished = self
            .wait_pod(
                namespace,
                pod,
                |p| {
                    terminated(
                        p.status
                            .as_ref()
                            .and_then(|s| s.ephemeral_container_statuses.as_ref()),
                        &name,
                    )
                    .is_some()
                },
                deadline,
            )
            .await?;
        let exit_code = finished.as_ref().and_then(|p| {
            terminated(
                p.status.as_ref()?.ephemeral_container_statuses.as_ref(),
                &name,
            )
        });
        let output = self
            .logs(namespace, pod, &name, false, 200)
            .await
            .unwrap_or_else(|e| format!("(no output: {e})"));
        Ok(HelperRun { exit_code, output })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{delete, get, list, patch, post, scripted};
    use super::*;
    use crate::cluster::Cluster;

    #[tokio::test]
    async fn run_ephemeral_adds_a_restricted_container_waits_for_it_and_reads_its_log() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "uid": "u1"},
            "status": {"phase": "Running", "ephemeralContainerStatuses": [{"name": "{name}", "image": "busybox:1.37",
                "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]}});
        let script = [
            patch("/api/v1/namespaces/shop/pods/web-1/ephemeralcontainers")
                .content_type("application/strategic-merge-patch+json")
                .has(json!({"spec": {"ephemeralContainers": [{
                    "targetContainerName": "app", "image": "busybox:1.37", "command": ["sh", "-c", "kill -TERM 1"],
                    "securityContext": {"runAsUser": 1000, "runAsNonRoot": true, "allowPrivilegeEscalation": false,
                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}]}}))
                .body(|body| {
                    let name = body["spec"]["ephemeralContainers"][0]["name"].as_str().unwrap();
                    assert!(name.starts_with("deploycheck-"), "{name}");
                })
                .capture("name", "/spec/ephemeralContainers/0/name")
                .answer(pod.clone()),
            get("/api/v1/namespaces/shop/pods")
                .query("fieldSelector", "metadata.name=web-1")
                .no_query("watch")
                .answer(list(json!([pod]))),
            get("/api/v1/namespaces/shop/pods/web-1/log")
                .query("container", "{name}")
                .query("tailLines", "200")
                .no_query("previous")
                .text("sent TERM to 1\n"),
        ];
        let spec = Ephemeral {
            pod: "web-1",
            target_container: "app",
            image: "busybox:1.37",
            run_as_user: Some(1000),
            script: "kill -TERM 1",
        };
        let call = async |c: &KubeCluster| {
            let run = Cluster::run_ephemeral(c, "shop", &spec, Duration::from_secs(10));
            tokio::time::timeout(Duration::from_secs(20), run).await
        };
        let run = scripted(script, call)
            .await
            .expect("run_ephemeral returns")
            .unwrap();
        assert_eq!(
            (run.exit_code, run.output.as_str()),
            (Some(0), "sent TERM to 1\n")
        );
    }

    #[tokio::test]
    async fn run_helper_creates_a_labelled_restricted_pod_reads_its_log_and_deletes_it() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "{name}"},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "helper", "image": "busybox:1.36",
                "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]}});
        let script = [
            post("/api/v1/namespaces/shop/pods")
                .has(json!({
                    "metadata": {"labels": {"app.kubernetes.io/managed-by": "deploycheck",
                        "app.kubernetes.io/component": "deploycheck-helper"}},
                    "spec": {"restartPolicy": "Never", "automountServiceAccountToken": false, "containers": [{
                        "image": "busybox:1.36", "command": ["sh", "-c", "nc -z mongodb 27017"],
                        "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}}]}
                }))
                .body(|body| {
                    let name = body["metadata"]["name"].as_str().unwrap();
                    assert!(name.starts_with("deploycheck-helper-"), "{name}");
                    let memory = &body["spec"]["containers"][0]["resources"]["limits"]["memory"];
                    assert!(memory.is_string(), "{body}");
                })
                .capture("name", "/metadata/name")
                .answer(pod.clone()),
            get("/api/v1/namespaces/shop/pods")
                .query("fieldSelector", "metadata.name={name}")
                .answer(list(json!([pod]))),
            get("/api/v1/namespaces/shop/pods/{name}/log").text("deploycheck: connected to mongodb:27017\n"),
            delete("/api/v1/namespaces/shop/pods/{name}")
                .has(json!({"gracePeriodSeconds": 0}))
                .answer(pod),
        ];
        let call = async |c: &KubeCluster| {
            let script = "nc -z mongodb 27017";
            let run =
                Cluster::run_helper(c, "shop", "busybox:1.36", script, Duration::from_secs(10));
            tokio::time::timeout(Duration::from_secs(20), run).await
        };
        let run = scripted(script, call)
            .await
            .expect("run_helper returns")
            .unwrap();
        let output = "deploycheck: connected to mongodb:27017\n";
        assert_eq!((run.exit_code, run.output.as_str()), (Some(0), output));
    }

    #[test]
    fn restricted_security_runs_as_root_only_when_asked() {
        let root = restricted_security(Some(0));
        assert_eq!(
            (&root["runAsUser"], &root["runAsNonRoot"]),
            (&0.into(), &false.into())
        );
        let default = restricted_security(None);
        assert_eq!(
            (&default["runAsUser"], &default["runAsNonRoot"]),
            (&65534.into(), &true.into())
        );
    }
}
