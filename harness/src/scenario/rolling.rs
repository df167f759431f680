//! Rolling restart with zero failed requests: what `kubectl rollout restart` does, while a
//! prober sends requests through the Service.

use std::time::Instant;

use super::{ScenarioOutcome, Target};
use crate::cluster::safety::Destructive;
use crate::cluster::{Cluster, WorkloadKind, WorkloadState};
use crate::probe::{DriveConfig, Driver};

const ID: &str = "rolling";

pub async fn restart_without_errors<C: Cluster>(
    target: &Target<C>,
    base_url: &str,
) -> ScenarioOutcome {
    if let Destructive::Refused(reason) = &target.destructive {
        return ScenarioOutcome::skip(ID, reason.clone());
    }
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let name = &profile.app.deployment;
    let deadline = profile.cluster.rollout;
    let probe = match Driver::start(DriveConfig::prober(
        base_url,
        &profile.app.health_path,
        deadline,
    )) {
        Ok(probe) => probe,
        Err(error) => {
            return ScenarioOutcome::fail(ID, format!("cannot start the prober: {error}"));
        }
    };
    let started = Instant::now();
    let mut mismatches = Vec::new();
    if let Err(error) = cluster.restart(namespace, name).await {
        mismatches.push(error.to_string());
    } else {
        let rolled_out = |w: &WorkloadState| w.rolled_out();
        if let Err(error) = cluster
            .wait_workload(
                namespace,
                WorkloadKind::Deployment,
                name,
                &rolled_out,
                deadline,
            )
            .await
        {
            mismatches.push(format!("the restart did not finish: {error}"));
        }
    }
    let took = started.elapsed();
    let stats = probe.stop().await;
    if stats.failed > 0 {
        mismatches.push(format!(
            "{} of {} requests failed during the rolling restart (first: {}); check \
             maxUnavailable, readiness, a preStop pause and graceful shutdown on SIGTERM",
            stats.failed,
            stats.requests,
            stats.failures.join("; ")
        ));
    }
    let requests = stats.requests;
    ScenarioOutcome::from_mismatches(
        ID,
        format!(
            "{name} restarted in {} ms; {requests} requests, none failed",
            took.as_millis()
        ),
        mismatches,
    )
    .with_recovery(took)
    .with_requests(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::{ScriptedCluster, workload};
    use crate::scenario::tests::target;

    fn restarting() -> ScriptedCluster {
        let key = (WorkloadKind::Deployment, "deploycheck-app".to_string());
        let mut midway = workload("deploycheck-app", 2, 2);
        midway.updated = 1;
        ScriptedCluster::new("kind-kind").with(|s| {
            s.workloads.insert(key.clone(), {
                let mut w = workload("deploycheck-app", 2, 2);
                w.observed = false;
                w
            });
            s.workload_script
                .insert(key, [midway, workload("deploycheck-app", 2, 2)].into());
        })
    }

    #[tokio::test]
    async fn a_clean_restart_passes() {
        let target = target(restarting());
        let outcome = restart_without_errors(&target, &crate::testing::healthy_app().await).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(
            target.cluster.calls(),
            ["restart Deployment/deploycheck-app"]
        );
    }

    #[tokio::test]
    async fn failed_requests_fail_the_restart() {
        let url = crate::testing::closed_url();
        let target = target(restarting());
        // Give the prober time to see the (dead) app before the scripted rollout completes.
        let outcome = {
            let run = restart_without_errors(&target, &url);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            run.await
        };
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .detail
                .contains("requests failed during the rolling restart"),
            "{}",
            outcome.detail
        );
    }
}
