//! Rolling restart with zero failed requests: what `kubectl rollout restart` does, while a
//! prober sends requests through the Service. A restart that does not finish fails; failed
//! requests fail it or only warn, as the profile's `cluster.zero_failed_requests.rolling` says.

use std::time::Instant;

use super::{ScenarioOutcome, Target, failed_requests};
use crate::cluster::safety::Destructive;
use crate::cluster::{Cluster, WorkloadKind, WorkloadState};
use crate::probe::{DriveConfig, Driver};

pub const SPEC: super::Spec =
    super::Spec::destructive("rolling", "a rolling restart fails no request");

const ID: &str = SPEC.id;

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
    target.faults.record(super::ledger::Fault::RestartedApp);
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
    let mut advice = Vec::new();
    if let Some(finding) = failed_requests(profile, ID, &stats, "during the rolling restart") {
        finding.sort_into(&mut mismatches, &mut advice);
    }
    // What held; the advice (if any) says how many requests failed.
    let held = match stats.failed {
        0 => format!(
            "{name} restarted in {} ms; {} requests, none failed",
            took.as_millis(),
            stats.requests
        ),
        _ => format!("{name} restarted in {} ms", took.as_millis()),
    };
    ScenarioOutcome::from_findings(ID, held, mismatches, advice)
        .with_recovery(took)
        .with_requests(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::{ScriptedCluster, workload};
    use crate::profile::Requirement;
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

    /// A restart that completes while every request fails (nothing listens at the URL).
    async fn restart_with_failed_requests(requirement: Requirement) -> ScenarioOutcome {
        let mut target = target(restarting());
        target.profile.cluster.zero_failed_requests.rolling = requirement;
        restart_without_errors(&target, &crate::testing::closed_url()).await
    }

    #[tokio::test]
    async fn failed_requests_fail_the_restart_when_the_profile_requires_none() {
        let outcome = restart_with_failed_requests(Requirement::Required).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert!(
            outcome
                .detail
                .contains("requests through the Service failed during the rolling restart")
                && outcome
                    .detail
                    .contains("the profile requires none (cluster.zero_failed_requests.rolling)"),
            "{}",
            outcome.detail
        );
        assert!(outcome.advice.is_empty());
    }

    #[tokio::test]
    async fn failed_requests_only_warn_with_the_fix_when_the_profile_advises() {
        let outcome = restart_with_failed_requests(Requirement::Advised).await;
        assert_eq!(outcome.verdict, Verdict::Warn, "{outcome:?}");
        assert!(outcome.mismatches.is_empty());
        assert_eq!(outcome.advice.len(), 1);
        let advice = &outcome.advice[0];
        assert!(
            advice.contains("requests through the Service failed during the rolling restart")
                && advice.contains("preStop")
                && advice.contains("SIGTERM")
                && advice.contains("terminationGracePeriodSeconds"),
            "{advice}"
        );
        assert!(
            outcome.detail.starts_with("deploycheck-app restarted in "),
            "{}",
            outcome.detail
        );
        assert!(
            outcome.detail.ends_with(advice.as_str()),
            "{}",
            outcome.detail
        );
        assert!(outcome.requests.is_some_and(|r| r.failed > 0));
    }
}
