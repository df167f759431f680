//! Deploy and roll out: apply the manifests (when deploying), then the app Deployment is
//! available, the database StatefulSet ready, its PersistentVolumeClaims bound and the HPA
//! present. Every unmet condition is listed, not only the first.

use std::time::Instant;

use super::{ScenarioOutcome, Target};
use crate::cluster::{Cluster, Labels, WaitError, WorkloadKind, WorkloadState};

const ID: &str = "deploy";

/// Applies `manifests` (if any) into the target namespace and waits for the rollout.
pub async fn roll_out<C: Cluster>(
    target: &Target<C>,
    manifests: Option<&[serde_json::Value]>,
) -> ScenarioOutcome {
    let cluster = &*target.cluster;
    let namespace = &target.namespace;
    let profile = &target.profile;
    let started = Instant::now();
    let mut applied = 0;
    if let Some(manifests) = manifests {
        match cluster.apply(namespace, manifests, Labels::Ours).await {
            Ok(objects) => applied = objects.len(),
            Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
        }
    }
    let deadline = profile.cluster.rollout;
    let mut mismatches = Vec::new();
    let workloads = [
        (WorkloadKind::Deployment, profile.app.deployment.as_str()),
        (
            WorkloadKind::StatefulSet,
            profile.database.statefulset.as_str(),
        ),
    ];
    // Both roll out at once; the second wait gets what is left of the deadline.
    for (kind, name) in workloads {
        let left = deadline.saturating_sub(started.elapsed());
        let rolled_out = |w: &WorkloadState| w.rolled_out() && w.desired > 0;
        match cluster
            .wait_workload(namespace, kind, name, &rolled_out, left)
            .await
        {
            Ok(_) => {}
            Err(WaitError::Timeout { last_seen, .. }) => mismatches.push(format!(
                "{kind} {name} not rolled out within {} s ({last_seen})",
                deadline.as_secs()
            )),
            Err(WaitError::Cluster(error)) => mismatches.push(error.to_string()),
        }
    }
    match cluster.pvcs(namespace).await {
        Ok(pvcs) => {
            let database_claims: Vec<_> = pvcs
                .iter()
                .filter(|p| p.name.ends_with(&format!("-{}", profile.database.pod)))
                .collect();
            if database_claims.is_empty() {
                mismatches.push(format!(
                    "no PersistentVolumeClaim for {} (expected one from the StatefulSet's \
                     volumeClaimTemplates): the data lives only as long as the pod",
                    profile.database.pod
                ));
            }
            for pvc in pvcs.iter().filter(|p| p.phase != "Bound") {
                mismatches.push(format!(
                    "PersistentVolumeClaim {} is {} (storage class: {})",
                    pvc.name,
                    pvc.phase,
                    pvc.storage_class
                        .as_deref()
                        .unwrap_or("none, and no default")
                ));
            }
        }
        Err(error) => mismatches.push(error.to_string()),
    }
    match cluster.hpa(namespace, &profile.hpa.name).await {
        Ok(Some(hpa)) => {
            let expected = format!("Deployment/{}", profile.app.deployment);
            if hpa.target != expected {
                mismatches.push(format!(
                    "HPA {} scales {} instead of {expected}",
                    hpa.name, hpa.target
                ));
            }
        }
        Ok(None) => mismatches.push(format!("HPA {} does not exist", profile.hpa.name)),
        Err(error) => mismatches.push(error.to_string()),
    }
    let verb = if manifests.is_some() {
        format!("applied {applied} objects; ")
    } else {
        String::new()
    };
    ScenarioOutcome::from_mismatches(
        ID,
        format!(
            "{verb}{} and {} rolled out, claims bound, HPA {} present after {} s",
            profile.app.deployment,
            profile.database.statefulset,
            profile.hpa.name,
            started.elapsed().as_secs()
        ),
        mismatches,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::{ScriptedCluster, reference_rolled_out, workload};
    use crate::scenario::tests::target;

    /// The reference stack whose app becomes ready as the rollout is watched.
    fn healthy(cluster: ScriptedCluster) -> ScriptedCluster {
        cluster.with(|s| {
            reference_rolled_out(s);
            s.workloads.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                workload("deploycheck-app", 2, 0),
            );
            s.workload_script.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                [
                    workload("deploycheck-app", 2, 1),
                    workload("deploycheck-app", 2, 2),
                ]
                .into(),
            );
        })
    }

    #[tokio::test]
    async fn applies_and_passes_once_everything_is_rolled_out() {
        let target = target(healthy(ScriptedCluster::new("kind-kind")));
        let manifests =
            [serde_json::json!({"kind": "Deployment", "metadata": {"name": "deploycheck-app"}})];
        let outcome = roll_out(&target, Some(&manifests)).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.detail.starts_with("applied 1 objects"),
            "{}",
            outcome.detail
        );
        assert_eq!(
            target.cluster.calls(),
            ["apply ns: Deployment/deploycheck-app"]
        );
    }

    #[tokio::test]
    async fn every_mismatch_is_listed() {
        let cluster = healthy(ScriptedCluster::new("kind-kind")).with(|s| {
            s.workload_script.clear();
            s.workloads.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                workload("deploycheck-app", 2, 1),
            );
            s.pvcs[0].phase = "Pending".into();
            s.pvcs[0].storage_class = None;
            s.hpa[0].target = "Deployment/other".into();
        });
        let outcome = roll_out(&target(cluster), None).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(outcome.mismatches.len(), 3, "{:?}", outcome.mismatches);
        assert!(outcome.mismatches[0].contains("Deployment deploycheck-app not rolled out"));
        assert!(
            outcome.mismatches[0].contains("1/2 ready"),
            "{}",
            outcome.mismatches[0]
        );
        assert!(outcome.mismatches[1].contains("is Pending (storage class: none, and no default)"));
        assert!(outcome.mismatches[2].contains("scales Deployment/other"));
    }

    #[tokio::test]
    async fn a_forbidden_apply_fails_with_the_reason() {
        let cluster = healthy(ScriptedCluster::new("kind-kind")).with(|s| {
            s.forbidden.insert("apply");
        });
        let outcome = roll_out(&target(cluster), Some(&[serde_json::json!({})])).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .detail
                .starts_with("apply in namespace `ns` is forbidden"),
            "{}",
            outcome.detail
        );
    }
}
