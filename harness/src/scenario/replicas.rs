//! Replica management: enough app pods are Ready; one is deleted; a replacement becomes Ready
//! before the deadline. Measures time to recovery.

use std::time::{Duration, Instant};

use super::ScenarioOutcome;
use crate::api::Verdict;
use crate::cluster::safety::Destructive;
use crate::cluster::{Cluster, PodState, WaitError, describe};

const SCENARIO: &str = "a deleted app pod is replaced";

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

/// Runs the scenario on the pods that `selector` picks in `namespace`.
pub async fn replace_one_pod(
    cluster: &impl Cluster,
    namespace: &str,
    selector: &str,
    min_ready: usize,
    deadline: Duration,
    destructive: &Destructive,
) -> ScenarioOutcome {
    let pods = match cluster.pods(namespace, selector).await {
        Ok(pods) => pods,
        Err(error) => return ScenarioOutcome::new(SCENARIO, Verdict::Fail, error.to_string()),
    };
    if serving(&pods) < min_ready {
        return ScenarioOutcome::new(
            SCENARIO,
            Verdict::Fail,
            format!(
                "only {} of the required {min_ready} pods matching `{selector}` are ready: {}",
                serving(&pods),
                describe(&pods)
            ),
        );
    }
    if let Destructive::Refused(reason) = destructive {
        return ScenarioOutcome::new(SCENARIO, Verdict::Skip, reason.clone());
    }
    let victim = pods
        .iter()
        .find(|p| p.ready && !p.deleting)
        .expect("at least min_ready >= 1 pods serve")
        .clone();
    let started = Instant::now();
    if let Err(error) = cluster.delete_pod(namespace, &victim.name).await {
        return ScenarioOutcome::new(SCENARIO, Verdict::Fail, error.to_string());
    }
    let condition = |pods: &[PodState]| replaced(pods, &victim.uid, min_ready);
    match cluster
        .wait_pods(namespace, selector, &condition, deadline)
        .await
    {
        Ok(pods) => {
            let recovery = started.elapsed();
            let mut outcome = ScenarioOutcome::new(
                SCENARIO,
                Verdict::Pass,
                format!(
                    "deleted {}; {} pods serve again after {} ms: {}",
                    victim.name,
                    serving(&pods),
                    recovery.as_millis(),
                    describe(&pods)
                ),
            );
            outcome.recovery_ms = Some(recovery.as_millis() as u64);
            outcome
        }
        Err(WaitError::Timeout { waited, last_seen }) => ScenarioOutcome::new(
            SCENARIO,
            Verdict::Fail,
            format!(
                "deleted {}; no replacement was ready within {} s. Last seen: {}. Check the \
                 pods' events (image pull, probes, resources) with kubectl describe",
                victim.name,
                waited.as_secs(),
                describe(&last_seen)
            ),
        ),
        Err(WaitError::Cluster(error)) => {
            ScenarioOutcome::new(SCENARIO, Verdict::Fail, error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::{ScriptedCluster, pod};
    use crate::cluster::safety::decide;

    const DEADLINE: Duration = Duration::from_secs(60);

    /// The scenario on `ns`, selector `app=web`, two pods required.
    async fn run(cluster: &ScriptedCluster, policy: &Destructive) -> ScenarioOutcome {
        replace_one_pod(cluster, "ns", "app=web", 2, DEADLINE, policy).await
    }

    fn two_ready() -> Vec<PodState> {
        vec![pod("app-a", "a", true), pod("app-b", "b", true)]
    }

    fn terminating(mut p: PodState) -> PodState {
        p.deleting = true;
        p
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
        let cluster = ScriptedCluster::new(
            "kind-kind",
            two_ready(),
            vec![
                vec![
                    terminating(pod("app-a", "a", true)),
                    pod("app-b", "b", true),
                ],
                vec![pod("app-b", "b", true), pod("app-c", "c", false)],
                vec![pod("app-b", "b", true), pod("app-c", "c", true)],
            ],
        );
        let outcome = run(&cluster, &decide("kind-kind", false)).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(outcome.recovery_ms.is_some());
        assert!(
            outcome
                .detail
                .starts_with("deleted app-a; 2 pods serve again"),
            "{}",
            outcome.detail
        );
        assert_eq!(*cluster.deleted.lock().unwrap(), ["app-a"]);
    }

    #[tokio::test]
    async fn a_replacement_that_never_gets_ready_fails_with_what_was_seen() {
        let cluster = ScriptedCluster::new(
            "kind-kind",
            two_ready(),
            vec![vec![pod("app-b", "b", true), pod("app-c", "c", false)]],
        );
        let outcome = run(&cluster, &Destructive::Allowed).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .detail
                .contains("no replacement was ready within 60 s"),
            "{}",
            outcome.detail
        );
        assert!(
            outcome
                .detail
                .contains("app-c (Pending, not ready, 0 restarts)"),
            "{}",
            outcome.detail
        );
    }

    #[tokio::test]
    async fn too_few_ready_pods_fail_before_anything_is_deleted() {
        let cluster = ScriptedCluster::new(
            "kind-kind",
            vec![pod("app-a", "a", true), pod("app-b", "b", false)],
            vec![],
        );
        let outcome = run(&cluster, &Destructive::Allowed).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome.detail.starts_with("only 1 of the required 2 pods"),
            "{}",
            outcome.detail
        );
        assert!(cluster.deleted.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_remote_context_is_skipped_with_the_reason_and_nothing_is_deleted() {
        let cluster = ScriptedCluster::new("gke_p_z_prod", two_ready(), vec![]);
        let policy = decide(cluster.context(), false);
        let outcome = run(&cluster, &policy).await;
        assert_eq!(outcome.verdict, Verdict::Skip);
        assert!(
            outcome.detail.contains("--allow-destructive"),
            "{}",
            outcome.detail
        );
        assert!(cluster.deleted.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_forbidden_delete_fails_with_the_api_message() {
        let mut cluster = ScriptedCluster::new("kind-kind", two_ready(), vec![]);
        cluster.forbid_delete = true;
        let outcome = run(&cluster, &Destructive::Allowed).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .detail
                .contains("deleting pod app-a in namespace `ns` failed"),
            "{}",
            outcome.detail
        );
        assert!(outcome.detail.contains("forbidden"), "{}", outcome.detail);
    }
}
