//! Probe-driven self-healing, readiness: take the database away (scale to 0) and see the app
//! leave the Service's endpoints (or answer 503, as the profile declares); bring it back and
//! see everything Ready again with no manual step.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::ledger::Fault;
use super::{
    ScenarioOutcome, Target, Undo, connectivity::app_container, replicas::serving, start_prober,
    stop_prober,
};
use crate::cluster::safety::Destructive;
use crate::cluster::{Cluster, PodState, WaitError, WorkloadKind, WorkloadState};
use crate::profile::DbDown;

pub const SPEC: super::Spec =
    super::Spec::destructive("readiness", "readiness follows the database");

/// How long the app's readiness probe takes to mark a pod unready once its dependency is
/// gone: `periodSeconds × failureThreshold + timeoutSeconds` and a margin. `None` when the
/// container or its readiness probe is missing (nothing bounds the wait but the deadline).
pub fn readiness_reaction(template: &PodTemplateSpec, container: &str) -> Option<Duration> {
    let probe = app_container(template, container)?
        .readiness_probe
        .as_ref()?;
    let period = probe.period_seconds.unwrap_or(10).max(1) as u64;
    let threshold = probe.failure_threshold.unwrap_or(3).max(1) as u64;
    let timeout = probe.timeout_seconds.unwrap_or(1).max(1) as u64;
    Some(Duration::from_secs(period * threshold + timeout) + crate::blockers::PROBE_MARGIN)
}

/// Scales the database to zero, checks the app's reaction, restores the database (always),
/// and waits for everything to be Ready again.
pub async fn readiness_follows_database<C: Cluster>(
    target: &Target<C>,
    base_url: &str,
) -> ScenarioOutcome {
    const ID: &str = SPEC.id;
    if let Destructive::Refused(reason) = &target.destructive {
        return ScenarioOutcome::skip(ID, reason.clone());
    }
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let statefulset = &profile.database.statefulset;
    let deadline = profile.cluster.recovery;
    let replicas = match cluster
        .workload(namespace, WorkloadKind::StatefulSet, statefulset)
        .await
    {
        Ok(Some(w)) => w.desired.max(1),
        Ok(None) => {
            return ScenarioOutcome::fail(ID, format!("StatefulSet {statefulset} does not exist"));
        }
        Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
    };
    let probe = start_prober(base_url, "/data", deadline * 4);
    let undo = Undo::Scale {
        kind: WorkloadKind::StatefulSet,
        name: statefulset.clone(),
        replicas,
    };
    target.remember(undo.clone());
    target.faults.record(Fault::DatabaseDown);
    if let Err(error) = cluster
        .scale(namespace, WorkloadKind::StatefulSet, statefulset, 0)
        .await
    {
        target.forget(&undo);
        return ScenarioOutcome::fail(ID, error.to_string());
    }
    let mut mismatches = Vec::new();
    let app_selector = target.app_selector();
    let none = |pods: &[PodState]| pods.is_empty();
    let down = Instant::now();
    match cluster
        .wait_pods(namespace, &target.db_selector(), &none, deadline)
        .await
    {
        Err(error) => mismatches.push(format!("the database pods did not go away: {error}")),
        Ok(_) => {
            match profile.cluster.db_down {
                DbDown::Unready => {
                    let unready = |pods: &[PodState]| !pods.is_empty() && serving(pods) == 0;
                    // The probe's own reaction time bounds the wait: past it, pods still Ready
                    // will stay so (their readiness does not follow the database).
                    let reaction = match target
                        .template(WorkloadKind::Deployment, &profile.app.deployment)
                        .await
                    {
                        Ok(template) => readiness_reaction(&template, &profile.app.container),
                        Err(_) => None,
                    };
                    let bound = reaction.map_or(deadline, |r| r.min(deadline));
                    match cluster.wait_pods(namespace, &app_selector, &unready, bound).await {
                        // The EndpointSlice controller follows the pod conditions some time
                        // later: wait for the slices too, never read them once.
                        Ok(_) => {
                            let empty = |endpoints: &[String]| endpoints.is_empty();
                            match cluster
                                .wait_endpoints(namespace, &profile.app.service, &empty, deadline)
                                .await
                            {
                                Ok(_) => {}
                                Err(WaitError::Timeout { last_seen, waited }) => {
                                    mismatches.push(format!(
                                        "with the database down every app pod was unready, yet \
                                         Service {} still routed traffic {} s later ({last_seen})",
                                        profile.app.service,
                                        waited.as_secs()
                                    ));
                                }
                                Err(WaitError::Cluster(error)) => mismatches.push(error.to_string()),
                            }
                        }
                        Err(error) => mismatches.push(format!(
                            "with the database down the app pods stayed Ready{} ({error}); a \
                             readiness probe that checks the database takes them out of the Service \
                             (or set cluster.db_down = \"503\" if the app answers 503 instead)",
                            match reaction {
                                Some(r) if r < deadline => format!(
                                    " past the {} s their readiness probe needs to react \
                                     (periodSeconds × failureThreshold + timeoutSeconds, plus a \
                                     {} s margin)",
                                    r.as_secs(),
                                    crate::blockers::PROBE_MARGIN.as_secs()
                                ),
                                _ => String::new(),
                            }
                        )),
                    }
                }
                DbDown::ServiceUnavailable => {
                    if let Err(error) = await_status(base_url, 503, deadline).await {
                        mismatches.push(format!("with the database down, {error}"));
                    }
                }
            }
        }
    }
    let noticed = down.elapsed();
    // Restore whatever happened above.
    let restored = Instant::now();
    if let Err(error) = cluster
        .scale(namespace, WorkloadKind::StatefulSet, statefulset, replicas)
        .await
    {
        mismatches.push(format!("restoring the database failed: {error}"));
    } else {
        target.forget(&undo);
        let ready = |w: &WorkloadState| w.rolled_out() && w.ready >= replicas;
        if let Err(error) = cluster
            .wait_workload(
                namespace,
                WorkloadKind::StatefulSet,
                statefulset,
                &ready,
                deadline,
            )
            .await
        {
            mismatches.push(format!("the database did not come back: {error}"));
        }
        let min = profile.app.min_replicas as usize;
        let all_ready = |pods: &[PodState]| serving(pods) >= min.max(1);
        if let Err(error) = cluster
            .wait_pods(namespace, &app_selector, &all_ready, deadline)
            .await
        {
            mismatches.push(format!(
                "the app did not become Ready again by itself after the database returned: {error}"
            ));
        }
    }
    let recovery = restored.elapsed();
    let requests = stop_prober(probe).await;
    let mut outcome = ScenarioOutcome::from_mismatches(
        ID,
        format!(
            "database down: the app reacted within {} ms; database back: everything Ready after \
             {} ms, no manual step",
            noticed.as_millis(),
            recovery.as_millis()
        ),
        mismatches,
    )
    .with_recovery(recovery);
    outcome.requests = requests;
    outcome
}

/// Polls `GET /data` until it answers `status`.
async fn await_status(base_url: &str, status: u16, deadline: Duration) -> Result<(), String> {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < deadline {
        match crate::http::client()
            .get(format!("{base_url}/data"))
            .send()
            .await
        {
            Ok(response) if response.status().as_u16() == status => return Ok(()),
            Ok(response) => last = format!("answered {}", response.status()),
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!(
        "GET /data never answered {status} within {} s (last: {last})",
        deadline.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::{ScriptedCluster, pod, workload};
    use crate::scenario::tests::target;

    const APP: &str = "app.kubernetes.io/name=deploycheck-app";
    const DB: &str = "app.kubernetes.io/name=mongodb";

    fn database_away(app_reacts: bool) -> ScriptedCluster {
        let app_after_db_down = if app_reacts {
            vec![pod("app-a", "a", false), pod("app-b", "b", false)]
        } else {
            vec![pod("app-a", "a", true), pod("app-b", "b", true)]
        };
        ScriptedCluster::new("kind-kind").with(|s| {
            let key = (WorkloadKind::StatefulSet, "mongodb".to_string());
            s.workloads.insert(key.clone(), workload("mongodb", 1, 0));
            s.workload_script
                .insert(key, [workload("mongodb", 1, 1)].into());
            s.pod_script.insert(DB.into(), [vec![]].into());
            s.pod_script.insert(
                APP.into(),
                [
                    app_after_db_down,
                    vec![pod("app-a", "a", true), pod("app-b", "b", true)],
                ]
                .into(),
            );
            s.endpoints
                .insert("deploycheck-app".into(), [vec![]].into());
        })
    }

    #[tokio::test]
    async fn readiness_drops_pods_while_the_database_is_down_and_restores_them() {
        let target = target(database_away(true));
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(
            target.cluster.calls(),
            ["scale StatefulSet/mongodb=0", "scale StatefulSet/mongodb=1"]
        );
    }

    #[tokio::test]
    async fn an_app_declared_to_answer_503_must_do_so_while_the_database_is_down() {
        use axum::http::StatusCode;
        let answers_503 = crate::testing::serve(axum::Router::new().route(
            "/data",
            axum::routing::get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        ))
        .await;
        let answers_200 = crate::testing::serve(
            axum::Router::new().route("/data", axum::routing::get(|| async { "[]" })),
        )
        .await;
        for (url, passes) in [(answers_503, true), (answers_200, false)] {
            let mut target = target(database_away(false));
            target.profile.cluster.db_down = DbDown::ServiceUnavailable;
            target.profile.cluster.recovery = Duration::from_secs(2);
            let outcome = readiness_follows_database(&target, &url).await;
            assert_eq!(outcome.verdict == Verdict::Pass, passes, "{outcome:?}");
            if !passes {
                crate::testing::assert_said(&outcome, "GET /data never answered 503");
            }
            assert_eq!(
                target.cluster.calls().last().unwrap(),
                "scale StatefulSet/mongodb=1"
            );
        }
    }

    /// What the real cluster showed (run-1): the pods' Ready condition flips first and the
    /// EndpointSlices follow a moment later. A single read of the slices right after the pods
    /// went unready saw them still routed; the scenario must wait for the slices.
    #[tokio::test]
    async fn endpoint_slices_that_lag_behind_the_pods_still_pass() {
        let target = target(database_away(true).with(|s| {
            s.endpoints.insert(
                "deploycheck-app".into(),
                [
                    vec!["app-a".to_string(), "app-b".to_string()],
                    vec!["app-b".to_string()],
                    vec![],
                ]
                .into(),
            );
        }));
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
    }

    #[tokio::test]
    async fn a_service_that_keeps_routing_to_unready_pods_fails_with_what_it_routed_to() {
        let target = target(database_away(true).with(|s| {
            s.endpoints
                .insert("deploycheck-app".into(), [vec!["app-a".to_string()]].into());
        }));
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Fail,
            "Service deploycheck-app still routed traffic 180 s later (Service deploycheck-app routed to app-a)",
        );
        assert_eq!(
            target.cluster.calls().last().unwrap(),
            "scale StatefulSet/mongodb=1"
        );
    }

    /// A readiness probe that reacts in 2 × 5 s (+ 3 s timeout): pods still Ready past that
    /// and the margin will stay so. The verdict comes then, not at the 180 s deadline (the
    /// fake's clock, not a sleep).
    #[tokio::test]
    async fn pods_that_stay_ready_past_their_probes_reaction_fail_without_waiting_the_deadline() {
        let fast_probe: PodTemplateSpec = serde_json::from_value(serde_json::json!({"spec": {"containers": [{
            "name": "app", "image": "i",
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 5000}, "periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 3}
        }]}}))
        .unwrap();
        assert_eq!(
            readiness_reaction(&fast_probe, "app"),
            Some(Duration::from_secs(23))
        );
        let target = target(database_away(false).with(|s| {
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                fast_probe,
            );
        }));
        let before = target.cluster.elapsed();
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Fail,
            "the app pods stayed Ready past the 23 s their readiness probe needs to react",
        );
        let reacting = target.cluster.elapsed() - before;
        assert!(reacting < Duration::from_secs(60), "{reacting:?}");
        assert_eq!(
            target.cluster.calls().last().unwrap(),
            "scale StatefulSet/mongodb=1"
        );
    }

    #[tokio::test]
    async fn pods_that_stay_ready_fail_and_the_database_is_still_restored() {
        let target = target(database_away(false));
        let outcome = readiness_follows_database(&target, "http://127.0.0.1:9").await;
        crate::testing::assert_says(&outcome, Verdict::Fail, "the app pods stayed Ready");
        assert_eq!(
            target.cluster.calls().last().unwrap(),
            "scale StatefulSet/mongodb=1"
        );
    }
}
