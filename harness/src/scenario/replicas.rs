//! Replica management: enough app pods are Ready; one is deleted; a replacement becomes Ready
//! before the deadline; the Service's endpoints follow; with two or more replicas a prober
//! through the Service sees no failed request. Measures time to recovery.

use std::time::Instant;

use super::{ScenarioOutcome, Target, start_prober, stop_prober};
use crate::cluster::safety::Destructive;
use crate::cluster::{Cluster, PodState, WaitError, describe};

pub const SPEC: super::Spec = super::Spec::destructive(
    "replicas",
    "a deleted app pod is replaced without failed requests",
);

const ID: &str = SPEC.id;
/// The least time given to the endpoints to follow, even when the pods took the whole deadline.
const ENDPOINTS_AT_LEAST: std::time::Duration = std::time::Duration::from_secs(10);

/// Pods that serve: Ready and not terminating.
pub fn serving(pods: &[PodState]) -> usize {
    pods.iter().filter(|p| p.ready && !p.deleting).count()
}

/// The victim is gone or terminating, and `min` other pods serve.
pub fn replaced(pods: &[PodState], victim_uid: &str, min: usize) -> bool {
    let victim_gone = pods.iter().all(|p| p.uid != victim_uid || p.deleting);
    let others = pods
        .iter()
        .filter(|p| p.uid != victim_uid && p.ready && !p.deleting)
        .count();
    victim_gone && others >= min
}

/// Runs the scenario; `base_url` reaches the app's Service (a forwarder over its endpoints).
pub async fn replace_one_pod<C: Cluster>(target: &Target<C>, base_url: &str) -> ScenarioOutcome {
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let selector = target.app_selector();
    let min_ready = profile.app.min_replicas as usize;
    let deadline = profile.cluster.recovery;
    // An HPA may still be raising a Deployment that asks for fewer replicas: wait for enough
    // ready pods under the deadline before judging.
    let enough = |pods: &[PodState]| serving(pods) >= min_ready.max(1);
    let pods = match cluster
        .wait_pods(namespace, &selector, &enough, deadline)
        .await
    {
        Ok(pods) => pods,
        Err(WaitError::Timeout { .. }) => {
            let pods = cluster.pods(namespace, &selector).await.unwrap_or_default();
            return ScenarioOutcome::fail(
                ID,
                format!(
                    "only {} of the required {min_ready} pods matching `{selector}` are ready \
                     after {} s: {}; {}",
                    serving(&pods),
                    deadline.as_secs(),
                    describe(&pods),
                    super::endpoints::explain(target, &profile.app.service, min_ready).await
                ),
            );
        }
        Err(WaitError::Cluster(error)) => return ScenarioOutcome::fail(ID, error.to_string()),
    };
    if let Destructive::Refused(reason) = &target.destructive {
        return ScenarioOutcome::skip(ID, reason.clone());
    }
    let victim = pods
        .iter()
        .find(|p| p.ready && !p.deleting)
        .expect("at least one pod serves")
        .clone();
    let probe = start_prober(base_url, &profile.app.health_path, deadline * 2);
    let started = Instant::now();
    target
        .faults
        .record(super::ledger::Fault::DeletedPod(victim.name.clone()));
    if let Err(error) = cluster.delete_pod(namespace, &victim.name).await {
        return ScenarioOutcome::fail(ID, error.to_string());
    }
    let condition = |pods: &[PodState]| replaced(pods, &victim.uid, min_ready.max(1));
    let waited = cluster
        .wait_pods(namespace, &selector, &condition, deadline)
        .await;
    let recovery = started.elapsed();
    let mut mismatches = Vec::new();
    let mut serving_now = String::new();
    match waited {
        Ok(pods) => serving_now = describe(&pods),
        Err(WaitError::Timeout { last_seen, .. }) => mismatches.push(format!(
            "deleted {}; no replacement was ready within {} s. Last seen: {last_seen}",
            victim.name,
            deadline.as_secs()
        )),
        Err(WaitError::Cluster(error)) => mismatches.push(error.to_string()),
    }
    // The EndpointSlice controller follows pod conditions some time later: both claims (the
    // deleted pod left the Service, enough others are in it) are waits, never one read.
    let followed =
        |endpoints: &[String]| !endpoints.contains(&victim.name) && endpoints.len() >= min_ready;
    let remaining = deadline
        .saturating_sub(started.elapsed())
        .max(ENDPOINTS_AT_LEAST);
    match cluster
        .wait_endpoints(namespace, &profile.app.service, &followed, remaining)
        .await
    {
        Ok(_) => {}
        Err(WaitError::Timeout { .. }) => {
            let endpoints = cluster
                .ready_endpoints(namespace, &profile.app.service)
                .await
                .unwrap_or_default();
            if endpoints.contains(&victim.name) {
                mismatches.push(format!(
                    "Service {} still sends traffic to the deleted pod {} after {} s",
                    profile.app.service,
                    victim.name,
                    remaining.as_secs()
                ));
            } else if mismatches.is_empty() {
                mismatches
                    .push(super::endpoints::explain(target, &profile.app.service, min_ready).await);
            }
        }
        Err(WaitError::Cluster(error)) => mismatches.push(error.to_string()),
    }
    let stats = stop_prober(probe).await;
    // With one replica a request must fail while it is replaced; from two on, none need to.
    let mut advice = Vec::new();
    if let Some(stats) = &stats
        && min_ready >= 2
        && let Some(finding) =
            super::failed_requests(profile, ID, stats, "while a pod was replaced")
    {
        finding.sort_into(&mut mismatches, &mut advice);
    }
    let failed = stats.as_ref().map_or(0, |s| s.failed);
    let mut outcome = ScenarioOutcome::from_findings(
        ID,
        format!(
            "deleted {}; pods serve again after {} ms{}: {serving_now}",
            victim.name,
            recovery.as_millis(),
            if failed == 0 {
                " with no failed request"
            } else {
                ""
            }
        ),
        mismatches,
        advice,
    )
    .with_recovery(recovery);
    outcome.requests = stats;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::{ScriptedCluster, pod};
    use crate::scenario::tests::target;

    const APP: &str = "app.kubernetes.io/name=deploycheck-app";

    fn two_ready() -> Vec<PodState> {
        vec![pod("app-a", "a", true), pod("app-b", "b", true)]
    }

    fn terminating(mut p: PodState) -> PodState {
        p.deleting = true;
        p
    }

    fn scripted(script: Vec<Vec<PodState>>, endpoints: Vec<&str>) -> ScriptedCluster {
        ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(APP.into(), two_ready());
            s.pod_script.insert(APP.into(), script.into());
            s.endpoints.insert(
                "deploycheck-app".into(),
                [endpoints.into_iter().map(String::from).collect()].into(),
            );
        })
    }

    #[test]
    fn conditions() {
        let pods = two_ready();
        assert_eq!(serving(&pods), 2);
        assert!(!replaced(&pods, "a", 2), "the victim still serves");
        let after = vec![
            terminating(pod("app-a", "a", true)),
            pod("app-b", "b", true),
            pod("app-c", "c", true),
        ];
        assert!(replaced(&after, "a", 2));
        let not_yet = vec![pod("app-b", "b", true), pod("app-c", "c", false)];
        assert!(!replaced(&not_yet, "a", 2));
    }

    #[tokio::test]
    async fn a_replacement_that_becomes_ready_passes_with_a_recovery_time() {
        let target = target(scripted(
            vec![
                vec![
                    terminating(pod("app-a", "a", true)),
                    pod("app-b", "b", true),
                ],
                vec![pod("app-b", "b", true), pod("app-c", "c", false)],
                vec![pod("app-b", "b", true), pod("app-c", "c", true)],
            ],
            vec!["app-b", "app-c"],
        ));
        let outcome = replace_one_pod(&target, &crate::testing::healthy_app().await).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(outcome.recovery_ms.is_some());
        assert!(
            outcome
                .detail
                .starts_with("deleted app-a; pods serve again"),
            "{}",
            outcome.detail
        );
        assert_eq!(target.cluster.calls(), ["delete pod ns/app-a"]);
    }

    #[tokio::test]
    async fn a_replacement_that_never_gets_ready_fails_with_what_was_seen() {
        let target = target(scripted(
            vec![vec![pod("app-b", "b", true), pod("app-c", "c", false)]],
            vec!["app-b"],
        ));
        let outcome = replace_one_pod(&target, &crate::testing::healthy_app().await).await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Fail,
            "no replacement was ready within 180 s",
        );
        crate::testing::assert_said(&outcome, "app-c (Pending, not ready, 0 restarts)");
    }

    #[tokio::test]
    async fn endpoints_that_keep_the_deleted_pod_and_failed_requests_fail() {
        let target = target(scripted(
            vec![vec![pod("app-b", "b", true), pod("app-c", "c", true)]],
            vec!["app-a", "app-b", "app-c"],
        ));
        // Nothing listens: every prober request fails.
        let url = crate::testing::closed_url();
        let outcome = replace_one_pod(&target, &url).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(outcome.mismatches.len(), 2, "{:?}", outcome.mismatches);
        assert!(outcome.mismatches[0].contains("still sends traffic to the deleted pod app-a"));
        assert!(outcome.mismatches[1].contains("requests through the Service failed"));
    }

    /// The slices still list the deleted pod for a moment after the pods have moved on.
    #[tokio::test]
    async fn endpoints_that_lag_behind_the_pods_still_pass() {
        let target = target(
            scripted(
                vec![vec![pod("app-b", "b", true), pod("app-c", "c", true)]],
                vec![],
            )
            .with(|s| {
                s.endpoints.insert(
                    "deploycheck-app".into(),
                    [
                        vec!["app-a".to_string(), "app-b".to_string()],
                        vec!["app-b".to_string()],
                        vec!["app-b".to_string(), "app-c".to_string()],
                    ]
                    .into(),
                );
            }),
        );
        let outcome = replace_one_pod(&target, &crate::testing::healthy_app().await).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
    }

    /// A Deployment at `replicas: 1` whose HPA (min 2) raises it a moment later: the
    /// scenario waits for the second pod instead of blaming the Service's selector.
    #[tokio::test]
    async fn a_deployment_the_hpa_is_still_raising_is_waited_for() {
        let target = target(
            scripted(
                vec![vec![pod("app-b", "b", true), pod("app-c", "c", true)]],
                vec!["app-b", "app-c"],
            )
            .with(|s| {
                s.pods.insert(APP.into(), vec![pod("app-a", "a", true)]);
                s.pod_script.insert(
                    APP.into(),
                    [
                        vec![pod("app-a", "a", true), pod("app-b", "b", false)],
                        two_ready(),
                        vec![pod("app-b", "b", true), pod("app-c", "c", true)],
                    ]
                    .into(),
                );
            }),
        );
        let outcome = replace_one_pod(&target, &crate::testing::healthy_app().await).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
    }

    #[tokio::test]
    async fn too_few_ready_pods_fail_before_anything_is_deleted() {
        let target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(
                APP.into(),
                vec![pod("app-a", "a", true), pod("app-b", "b", false)],
            );
        }));
        let outcome = replace_one_pod(&target, "http://127.0.0.1:9").await;
        crate::testing::assert_begins(&outcome, Verdict::Fail, "only 1 of the required 2 pods");
        assert!(target.cluster.calls().is_empty());
    }

    #[tokio::test]
    async fn a_remote_context_is_skipped_with_the_reason_and_nothing_is_deleted() {
        let target = target(ScriptedCluster::new("gke_p_z_prod").with(|s| {
            s.pods.insert(APP.into(), two_ready());
        }));
        let outcome = replace_one_pod(&target, "http://127.0.0.1:9").await;
        crate::testing::assert_says(&outcome, Verdict::Skip, "--allow-destructive");
        assert!(target.cluster.calls().is_empty());
    }

    #[tokio::test]
    async fn a_forbidden_delete_fails_with_the_api_message() {
        let target = target(scripted(vec![], vec![]).with(|s| {
            s.forbidden.insert("delete_pod");
        }));
        let outcome = replace_one_pod(&target, "http://127.0.0.1:9").await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Fail,
            "delete pod in namespace `ns` is forbidden",
        );
    }

    /// The replacement goes well, but every request through the Service fails (nothing
    /// listens at the URL): the stack has no graceful shutdown.
    async fn replaced_with_failed_requests(
        requirement: crate::profile::Requirement,
    ) -> ScenarioOutcome {
        let mut target = target(scripted(
            vec![vec![pod("app-b", "b", true), pod("app-c", "c", true)]],
            vec!["app-b", "app-c"],
        ));
        target.profile.cluster.zero_failed_requests.replicas = requirement;
        replace_one_pod(&target, &crate::testing::closed_url()).await
    }

    #[tokio::test]
    async fn failed_requests_fail_when_the_profile_requires_none() {
        let outcome = replaced_with_failed_requests(crate::profile::Requirement::Required).await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert_eq!(outcome.mismatches.len(), 1, "{:?}", outcome.mismatches);
        assert!(
            outcome.mismatches[0].contains("failed while a pod was replaced")
                && outcome.mismatches[0].contains("cluster.zero_failed_requests.replicas"),
            "{}",
            outcome.mismatches[0]
        );
    }

    #[tokio::test]
    async fn failed_requests_only_warn_with_the_fix_when_the_profile_advises() {
        let outcome = replaced_with_failed_requests(crate::profile::Requirement::Advised).await;
        assert_eq!(outcome.verdict, Verdict::Warn, "{outcome:?}");
        assert!(outcome.mismatches.is_empty());
        let advice = &outcome.advice[0];
        assert!(
            advice.contains("failed while a pod was replaced")
                && advice.contains("preStop")
                && advice.contains("terminationGracePeriodSeconds"),
            "{advice}"
        );
        assert!(
            outcome
                .detail
                .starts_with("deleted app-a; pods serve again after "),
            "{}",
            outcome.detail
        );
        assert!(!outcome.detail.contains("with no failed request"));
    }
}
