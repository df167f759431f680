//! Persistence: a marker written through the app survives the deletion of the database pod
//! (its replacement, a new UID, mounts the same claim) and the deletion and re-creation of
//! the whole StatefulSet (claims are kept). Records time to recovery and the requests that
//! failed meanwhile.

use std::time::Instant;

use super::{ScenarioOutcome, Target, Undo, start_prober, stop_prober};
use crate::cluster::safety::Destructive;
use crate::cluster::{
    Cluster, ClusterError, Labels, PodState, WaitError, WorkloadKind, WorkloadState,
};

pub const SPEC: super::Spec =
    super::Spec::destructive("persistence", "data survives the database pod's deletion");
pub const RECREATE: super::Spec =
    super::Spec::destructive("recreate", "data survives the StatefulSet's re-creation");

/// The named pod is back with a new UID, ready, not terminating.
pub fn replaced_pod(pods: &[PodState], name: &str, old_uid: &str) -> bool {
    pods.iter()
        .any(|p| p.name == name && p.uid != old_uid && p.ready && !p.deleting)
}

/// The database path: what users lose while the database is away.
const PROBED: &str = "/data";

/// Deletes the database pod and reads the marker back from its replacement.
pub async fn pod_deletion<C: Cluster>(target: &Target<C>, base_url: &str) -> ScenarioOutcome {
    const ID: &str = SPEC.id;
    if let Destructive::Refused(reason) = &target.destructive {
        return ScenarioOutcome::skip(ID, reason.clone());
    }
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let deadline = profile.cluster.recovery;
    let marker = crate::unique_marker("persistence");
    if let Err(error) = super::write_marker(base_url, &marker).await {
        return ScenarioOutcome::fail(ID, format!("could not write the marker: {error}"));
    }
    let pods = match cluster.pods(namespace, &target.db_selector()).await {
        Ok(pods) => pods,
        Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
    };
    let Some(old) = pods
        .iter()
        .find(|p| p.name == profile.database.pod)
        .cloned()
    else {
        return ScenarioOutcome::fail(
            ID,
            format!(
                "no pod {} among the database pods: {}",
                profile.database.pod,
                crate::cluster::describe(&pods)
            ),
        );
    };
    let probe = start_prober(base_url, PROBED, deadline * 2);
    let started = Instant::now();
    target
        .faults
        .record(super::ledger::Fault::DeletedPod(old.name.clone()));
    if let Err(error) = cluster.delete_pod(namespace, &old.name).await {
        return ScenarioOutcome::fail(ID, error.to_string());
    }
    let back = |pods: &[PodState]| replaced_pod(pods, &old.name, &old.uid);
    let waited = cluster
        .wait_pods(namespace, &target.db_selector(), &back, deadline)
        .await;
    let mut mismatches = Vec::new();
    match waited {
        Ok(pods) => {
            let new = pods
                .iter()
                .find(|p| p.name == old.name)
                .expect("the condition found it");
            if new.claims != old.claims {
                mismatches.push(format!(
                    "the replacement mounts {:?}, the deleted pod mounted {:?}",
                    new.claims, old.claims
                ));
            }
        }
        Err(WaitError::Timeout { last_seen, .. }) => mismatches.push(format!(
            "deleted {}; no ready replacement within {} s; last seen: {last_seen}",
            old.name,
            deadline.as_secs()
        )),
        Err(WaitError::Cluster(error)) => mismatches.push(error.to_string()),
    }
    if mismatches.is_empty()
        && let Err(error) = super::await_marker(base_url, &marker, deadline).await
    {
        mismatches.push(error);
    }
    let recovery = started.elapsed();
    let stats = stop_prober(probe).await;
    let failed = stats.as_ref().map_or(0, |s| s.failed);
    let mut outcome = ScenarioOutcome::from_mismatches(
        ID,
        format!(
            "deleted {}; the replacement mounted the same claim and the marker read back after \
             {} ms; {failed} request(s) failed meanwhile",
            old.name,
            recovery.as_millis()
        ),
        mismatches,
    )
    .with_recovery(recovery);
    outcome.requests = stats;
    outcome
}

/// Deletes the StatefulSet (claims stay), applies it again, and reads the marker back.
pub async fn statefulset_recreation<C: Cluster>(
    target: &Target<C>,
    base_url: &str,
) -> ScenarioOutcome {
    const ID: &str = RECREATE.id;
    if let Destructive::Refused(reason) = &target.destructive {
        return ScenarioOutcome::skip(ID, reason.clone());
    }
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let name = &profile.database.statefulset;
    let deadline = profile.cluster.recovery;
    let marker = crate::unique_marker("recreate");
    if let Err(error) = super::write_marker(base_url, &marker).await {
        return ScenarioOutcome::fail(ID, format!("could not write the marker: {error}"));
    }
    let manifest = match cluster
        .manifest(namespace, WorkloadKind::StatefulSet, name)
        .await
    {
        Ok(Some(manifest)) => manifest,
        Ok(None) => return ScenarioOutcome::fail(ID, format!("StatefulSet {name} does not exist")),
        Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
    };
    let probe = start_prober(base_url, PROBED, deadline * 3);
    let started = Instant::now();
    let mut mismatches = Vec::new();
    let undo = Undo::Apply(manifest.clone());
    target.remember(undo.clone());
    target
        .faults
        .record(super::ledger::Fault::DatabaseRecreated);
    match cluster
        .delete_workload(namespace, WorkloadKind::StatefulSet, name, deadline)
        .await
    {
        Ok(()) => {}
        Err(WaitError::Cluster(error @ ClusterError::Forbidden { .. })) => {
            target.forget(&undo);
            return ScenarioOutcome::fail(ID, error.to_string());
        }
        Err(error) => mismatches.push(format!("StatefulSet {name} did not go away: {error}")),
    }
    // The claims must outlive the StatefulSet, or the data went with it.
    let none_left = |pods: &[PodState]| pods.is_empty();
    if mismatches.is_empty()
        && let Err(error) = cluster
            .wait_pods(namespace, &target.db_selector(), &none_left, deadline)
            .await
    {
        mismatches.push(format!("the StatefulSet's pods did not go away: {error}"));
    }
    // Put it back whatever happened above: without it there is no database.
    match cluster
        .apply(
            namespace,
            std::slice::from_ref(&manifest),
            Labels::AsTheyWere,
        )
        .await
    {
        Err(error) => mismatches.push(format!("re-applying the StatefulSet failed: {error}")),
        Ok(_) => {
            target.forget(&undo);
            let ready = |w: &WorkloadState| w.rolled_out() && w.desired > 0;
            match cluster
                .wait_workload(namespace, WorkloadKind::StatefulSet, name, &ready, deadline)
                .await
            {
                Ok(_) if mismatches.is_empty() => {
                    if let Err(error) = super::await_marker(base_url, &marker, deadline).await {
                        mismatches.push(error);
                    }
                }
                Ok(_) => {}
                Err(error) => mismatches.push(format!("the re-created StatefulSet: {error}")),
            }
        }
    }
    let recovery = started.elapsed();
    let stats = stop_prober(probe).await;
    let mut outcome = ScenarioOutcome::from_mismatches(
        ID,
        format!(
            "deleted and re-applied StatefulSet {name}; the marker read back after {} ms",
            recovery.as_millis()
        ),
        mismatches,
    )
    .with_recovery(recovery);
    outcome.requests = stats;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::{ScriptedCluster, pod, workload};
    use crate::scenario::tests::target;

    const DB: &str = "app.kubernetes.io/name=mongodb";

    fn db_pod(uid: &str, ready: bool) -> PodState {
        let mut p = pod("mongodb-0", uid, ready);
        p.claims = vec!["data-mongodb-0".into()];
        p
    }

    #[test]
    fn a_replacement_needs_a_new_uid_and_readiness() {
        assert!(!replaced_pod(&[db_pod("old", true)], "mongodb-0", "old"));
        assert!(!replaced_pod(&[db_pod("new", false)], "mongodb-0", "old"));
        assert!(replaced_pod(&[db_pod("new", true)], "mongodb-0", "old"));
    }

    #[tokio::test]
    async fn the_marker_survives_a_deleted_database_pod() {
        let stack = crate::demo::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(DB.into(), vec![db_pod("old", true)]);
            s.pod_script.insert(
                DB.into(),
                [
                    vec![],
                    vec![db_pod("new", false)],
                    vec![db_pod("new", true)],
                ]
                .into(),
            );
        }));
        let outcome = pod_deletion(&target, &stack.url).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(outcome.recovery_ms.is_some());
        assert_eq!(outcome.requests.as_ref().unwrap().failed, 0);
        assert_eq!(target.cluster.calls(), ["delete pod ns/mongodb-0"]);
        stack.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_replacement_on_another_claim_and_one_never_ready_fail() {
        let stack = crate::demo::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let mut elsewhere = db_pod("new", true);
        elsewhere.claims = vec!["scratch".into()];
        let target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(DB.into(), vec![db_pod("old", true)]);
            s.pod_script.insert(DB.into(), [vec![elsewhere]].into());
        }));
        let outcome = pod_deletion(&target, &stack.url).await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Fail,
            "the replacement mounts [\"scratch\"]",
        );

        let target = super::super::tests::target(ScriptedCluster::new("kind-kind").with(|s| {
            s.pods.insert(DB.into(), vec![db_pod("old", true)]);
            s.pod_script
                .insert(DB.into(), [vec![db_pod("new", false)]].into());
        }));
        let outcome = pod_deletion(&target, &stack.url).await;
        crate::testing::assert_said(
            &outcome,
            "no ready replacement within 180 s; last seen: mongodb-0 (Pending, not ready",
        );
        stack.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn the_statefulset_is_deleted_reapplied_and_the_marker_reads_back() {
        let stack = crate::demo::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.workloads.insert(
                (WorkloadKind::StatefulSet, "mongodb".into()),
                workload("mongodb", 1, 0),
            );
            s.workload_script.insert(
                (WorkloadKind::StatefulSet, "mongodb".into()),
                [workload("mongodb", 1, 1)].into(),
            );
            s.pod_script.insert(DB.into(), [vec![]].into());
        }));
        let outcome = statefulset_recreation(&target, &stack.url).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            target.pending_undo.lock().unwrap().is_empty(),
            "a finished scenario leaves no fault"
        );
        assert_eq!(
            target.cluster.calls(),
            [
                "delete StatefulSet/mongodb",
                "apply ns: StatefulSet/mongodb (as it was)"
            ]
        );
        stack.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn remote_contexts_skip_and_touch_nothing() {
        let target = target(ScriptedCluster::new("arn:aws:eks:prod"));
        let outcome = pod_deletion(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Skip);
        let outcome = statefulset_recreation(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Skip);
        assert!(target.cluster.calls().is_empty());
    }
}
