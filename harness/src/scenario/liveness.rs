//! Probe-driven self-healing, liveness: freeze the app process (SIGSTOP from an ephemeral
//! container, which needs no shell in the app image) and see the kubelet restart it because
//! the liveness probe failed.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::ledger::{Fault, Window, evidence};
use super::{ScenarioOutcome, Target, connectivity::app_container, start_prober, stop_prober};
use crate::cluster::safety::Destructive;
use crate::cluster::{Cluster, Ephemeral, EventInfo, PodState, WaitError, WorkloadKind};

pub const SPEC: super::Spec = super::Spec::destructive(
    "liveness",
    "a frozen app is restarted by its liveness probe",
);

/// Stops every process the helper may signal except itself and PID 1, then counts the stopped
/// ones. When the pod shares one process namespace, PID 1 is the pause container and the app is
/// frozen. Otherwise the app *is* PID 1 of its own namespace, and the kernel ignores SIGSTOP
/// sent to a namespace's init from inside it: the count is 0 and the scenario says so.
pub const FREEZE_SCRIPT: &str = "kill -STOP -1 2>/dev/null; sleep 1; n=0; \
    for s in /proc/[0-9]*/status; do grep -q '^State:.*stopped' \"$s\" 2>/dev/null && n=$((n+1)); done; \
    echo \"deploycheck: stopped $n\"";

/// Lets the frozen processes run again (the helper's own user, as the freeze).
pub const THAW_SCRIPT: &str = "kill -CONT -1 2>/dev/null; echo \"deploycheck: thawed\"";

/// The count the freeze script printed.
pub fn stopped_count(output: &str) -> Option<u32> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix("deploycheck: stopped "))
        .and_then(|n| n.trim().parse().ok())
}

/// Missing probes of the app container, as mismatches.
pub fn missing_probes(template: &PodTemplateSpec, container: &str) -> Vec<String> {
    let Some(app) = app_container(template, container) else {
        return vec![format!("no container {container} in the pod template")];
    };
    let mut missing = Vec::new();
    if app.liveness_probe.is_none() {
        missing.push(format!(
            "container {} has no livenessProbe: a hung process is never restarted",
            app.name
        ));
    }
    if app.readiness_probe.is_none() {
        missing.push(format!(
            "container {} has no readinessProbe: traffic reaches pods that cannot serve",
            app.name
        ));
    }
    missing
}

/// How long the app must stay healthy before it is frozen: the time its liveness probe needs
/// to restart it (`periodSeconds × failureThreshold`), so a probe that fails on a healthy app
/// shows up before the freeze rather than being mistaken for its effect.
pub fn healthy_window(template: &PodTemplateSpec, container: &str) -> Duration {
    let probe = app_container(template, container).and_then(|c| c.liveness_probe.as_ref());
    let period = probe.and_then(|p| p.period_seconds).unwrap_or(10).max(1) as u64;
    let threshold = probe.and_then(|p| p.failure_threshold).unwrap_or(3).max(1) as u64;
    Duration::from_secs(period * threshold)
}

/// ` (events: ...)` for a pod's probe failures and kills, or nothing.
fn evidence_text(events: &[EventInfo], pod: &str) -> String {
    let lines = evidence(events, pod);
    if lines.is_empty() {
        String::new()
    } else {
        format!(" (events: {})", lines.join("; "))
    }
}

fn run_as_user(template: &PodTemplateSpec, container: &str) -> Option<i64> {
    let app = app_container(template, container)?;
    app.security_context
        .as_ref()
        .and_then(|s| s.run_as_user)
        .or_else(|| {
            template
                .spec
                .as_ref()?
                .security_context
                .as_ref()?
                .run_as_user
        })
}

/// Freezes one app pod and waits for the liveness restart; `base_url` reaches the app's Service
/// (a prober counts what users saw meanwhile).
pub async fn liveness_restart<C: Cluster>(target: &Target<C>, base_url: &str) -> ScenarioOutcome {
    const ID: &str = SPEC.id;
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let template = match target
        .template(WorkloadKind::Deployment, &profile.app.deployment)
        .await
    {
        Ok(template) => template,
        Err(error) => return ScenarioOutcome::fail(ID, error),
    };
    let missing = missing_probes(&template, &profile.app.container);
    if !missing.is_empty() {
        return ScenarioOutcome::from_mismatches(ID, String::new(), missing);
    }
    if let Destructive::Refused(reason) = &target.destructive {
        return ScenarioOutcome::skip(ID, reason.clone());
    }
    let selector = target.app_selector();
    let pods = match cluster.pods(namespace, &selector).await {
        Ok(pods) => pods,
        Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
    };
    let deadline = profile.cluster.recovery;
    // Healthy first: a container that restarts, or whose liveness probe fails, before anything
    // is done to it would make any restart seen later prove nothing about the freeze. The
    // earlier scenarios' windows may already have shown a pod healthy for long enough, with
    // no fault of ours in between that could explain or hide a probe failure: only what is
    // missing of the span is watched now.
    let watched = healthy_window(&template, &profile.app.container).min(deadline);
    let events_before = cluster.events(namespace).await.unwrap_or_default();
    let (victim, window, observed) =
        match super::ledger::healthy_since(target, &pods, &events_before) {
            Some((pod, checkpoint)) => (
                pod.clone(),
                checkpoint.window,
                Some((
                    cluster.elapsed().saturating_sub(checkpoint.at),
                    checkpoint.scenario,
                )),
            ),
            None => {
                let Some(victim) = pods.iter().find(|p| p.ready && !p.deleting).cloned() else {
                    return ScenarioOutcome::fail(
                        ID,
                        format!(
                            "no ready app pod to freeze: {}",
                            crate::cluster::describe(&pods)
                        ),
                    );
                };
                let window = Window::from_reads(0, &events_before, [&victim], &[]);
                (victim, window, None)
            }
        };
    let already_seen = observed.as_ref().map_or(Duration::ZERO, |(seen, _)| *seen);
    let watch_now = watched.saturating_sub(already_seen);
    let healthy_note = match &observed {
        Some((_, scenario)) => format!(
            "; healthy for {} s before the freeze: observed since `{scenario}` started (no restart, \
             no liveness failure, no fault of ours that could explain one){}",
            (already_seen + watch_now).as_secs(),
            if watch_now.is_zero() {
                String::new()
            } else {
                format!(", {} s of it watched now", watch_now.as_secs())
            }
        ),
        None => format!(
            "; healthy for {} s before the freeze (watched)",
            watch_now.as_secs()
        ),
    };
    let restarted_alone = |pods: &[PodState]| {
        pods.iter()
            .any(|p| p.uid == victim.uid && p.restarts > victim.restarts)
    };
    let watch = if watch_now.is_zero() {
        Err(WaitError::Timeout {
            waited: Duration::ZERO,
            last_seen: String::new(),
        })
    } else {
        cluster
            .wait_pods(namespace, &selector, &restarted_alone, watch_now)
            .await
    };
    match watch {
        Ok(_) => {
            let events = window.new_events(&cluster.events(namespace).await.unwrap_or_default());
            return ScenarioOutcome::fail(
                ID,
                format!(
                    "{} restarted by itself while deploycheck watched it for {} s before freezing \
                     anything{}: the liveness probe fails on a healthy app (check its port and path)",
                    victim.name,
                    (already_seen + watch_now).as_secs(),
                    evidence_text(&events, &victim.name)
                ),
            );
        }
        Err(WaitError::Timeout { .. }) => {}
        Err(WaitError::Cluster(error)) => return ScenarioOutcome::fail(ID, error.to_string()),
    }
    let events_at_freeze = cluster.events(namespace).await.unwrap_or_default();
    let already_failing: Vec<String> =
        evidence(&window.new_events(&events_at_freeze), &victim.name)
            .into_iter()
            .filter(|e| e.starts_with("Liveness probe failed"))
            .collect();
    if !already_failing.is_empty() {
        return ScenarioOutcome::fail(
            ID,
            format!(
                "the liveness probe of {} failed before deploycheck froze anything ({}): it fails \
                 on a healthy app (check its port, path and timeoutSeconds)",
                victim.name,
                already_failing.join("; ")
            ),
        );
    }
    let at_freeze = Window::from_reads(0, &events_at_freeze, [&victim], &[]);
    // Failed requests are part of what the fault cost, not a verdict: a frozen pod stays in the
    // endpoints until readiness notices.
    let probe = start_prober(base_url, &profile.app.health_path, deadline * 2);
    let started = Instant::now();
    target.faults.record(Fault::FrozePod(victim.name.clone()));
    // Freeze and thaw run as the app's own user in an ephemeral container sharing its
    // process namespace (no privilege, no shell in the app image needed).
    let user = run_as_user(&template, &profile.app.container);
    let signal = |script: &'static str| {
        let victim = &victim.name;
        async move {
            let spec = Ephemeral {
                pod: victim,
                target_container: &profile.app.container,
                image: &profile.cluster.helper_image,
                run_as_user: user,
                script,
            };
            cluster
                .run_ephemeral(namespace, &spec, Duration::from_secs(60).min(deadline))
                .await
        }
    };
    let freeze = signal(FREEZE_SCRIPT).await;
    match freeze {
        Ok(run) => match stopped_count(&run.output) {
            Some(0) => {
                return ScenarioOutcome::skip(
                    ID,
                    format!(
                        "could not freeze the app in {}: it runs as PID 1 of its own process \
                         namespace, where the kernel ignores SIGSTOP from inside; set \
                         `shareProcessNamespace: true` in the pod spec to let this check run",
                        victim.name
                    ),
                );
            }
            Some(_) => {}
            None => {
                return ScenarioOutcome::fail(
                    ID,
                    format!(
                        "the freeze helper ({}) did not run to the end: {}",
                        profile.cluster.helper_image,
                        run.output.trim()
                    ),
                );
            }
        },
        Err(error) => return ScenarioOutcome::fail(ID, error.to_string()),
    }
    // Once the kubelet has decided to restart the container (its liveness Killing event), the
    // freeze has proved what it can. A stopped process cannot act on SIGTERM, so the kubelet
    // would wait out the whole grace period before SIGKILL; thawed, the app shuts down as it
    // would (preStop, drain) and the restart comes that much sooner.
    let frozen_at = cluster.elapsed();
    let victim_object = format!("Pod/{}", victim.name);
    let killing = |events: &[EventInfo]| {
        at_freeze.new_events(events).iter().any(|e| {
            e.object == victim_object && e.reason == "Killing" && e.message.contains("liveness")
        })
    };
    let restarted = |pods: &[PodState]| {
        pods.iter()
            .any(|p| p.name == victim.name && p.restarts > victim.restarts && p.ready)
    };
    // Whichever comes first: events may be dropped or late, and a restart seen without its
    // kill event must not wait for that event.
    let killed = tokio::select! {
        biased;
        killed = cluster.wait_events(namespace, &killing, deadline) => killed.is_ok(),
        _ = cluster.wait_pods(namespace, &selector, &restarted, deadline) => false,
    };
    let thawed = killed && signal(THAW_SCRIPT).await.is_ok_and(|run| run.succeeded());
    let left = deadline.saturating_sub(cluster.elapsed().saturating_sub(frozen_at));
    let mut mismatches = Vec::new();
    if let Err(error) = cluster
        .wait_pods(namespace, &selector, &restarted, left)
        .await
    {
        mismatches.push(format!(
            "froze {}; the kubelet did not restart it into Ready: {error}; check the liveness \
             probe's path, port, periodSeconds and failureThreshold",
            victim.name
        ));
    }
    let recovery = started.elapsed();
    if mismatches.is_empty() {
        // The restart must follow the freeze: a liveness failure that happened after it.
        let events = at_freeze.new_events(&cluster.events(namespace).await.unwrap_or_default());
        let liveness_event = evidence(&events, &victim.name)
            .iter()
            .any(|e| e.starts_with("Liveness probe failed"));
        if !liveness_event {
            mismatches.push(format!(
                "{} restarted, but no event since the freeze says its liveness probe failed (did \
                 it crash instead?)",
                victim.name
            ));
        }
    }
    let mut outcome = ScenarioOutcome::from_mismatches(
        ID,
        format!(
            "froze {}; its liveness probe failed, the kubelet restarted it and it was Ready again \
             after {} ms{}{healthy_note}",
            victim.name,
            recovery.as_millis(),
            if thawed {
                " (thawed once the kubelet had decided to restart it, so it shut down by itself \
                 instead of waiting out its grace period)"
            } else {
                ""
            }
        ),
        mismatches,
    )
    .with_recovery(recovery);
    outcome.requests = stop_prober(probe).await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::HelperRun;
    use crate::cluster::fake::{ScriptedCluster, pod, quiet};
    use crate::scenario::tests::target;

    const APP: &str = "app.kubernetes.io/name=deploycheck-app";

    fn template(probes: bool) -> PodTemplateSpec {
        let mut container = serde_json::json!({"name": "app", "image": "i", "securityContext": {"runAsUser": 65532}});
        if probes {
            container["livenessProbe"] =
                serde_json::json!({"httpGet": {"path": "/health", "port": 5000}});
            container["readinessProbe"] =
                serde_json::json!({"httpGet": {"path": "/ready", "port": 5000}});
        }
        serde_json::from_value(serde_json::json!({"spec": {"containers": [container]}})).unwrap()
    }

    fn restarted(name: &str) -> PodState {
        let mut p = pod(name, name, true);
        p.restarts = 1;
        p
    }

    fn freezable(output: &str, events: Vec<EventInfo>) -> ScriptedCluster {
        ScriptedCluster::new("kind-kind").with(|s| {
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                template(true),
            );
            s.pods.insert(
                APP.into(),
                vec![pod("app-a", "app-a", true), pod("app-b", "app-b", true)],
            );
            s.pod_script.insert(
                APP.into(),
                [
                    // Healthy while watched before the freeze.
                    quiet(),
                    vec![pod("app-a", "app-a", false), pod("app-b", "app-b", true)],
                    vec![restarted("app-a"), pod("app-b", "app-b", true)],
                ]
                .into(),
            );
            s.helper_runs.push_back(HelperRun {
                exit_code: Some(0),
                output: output.into(),
            });
            // Before the watch, after it (the freeze), after the restart.
            s.event_script = [Vec::new(), Vec::new(), events].into();
        })
    }

    fn liveness_event() -> EventInfo {
        EventInfo {
            object: "Pod/app-a".into(),
            kind: "Warning".into(),
            reason: "Unhealthy".into(),
            message: "Liveness probe failed: Get \"http://10.244.0.7:5000/health\": context deadline exceeded".into(),
            count: 3,
            ..EventInfo::default()
        }
    }

    #[test]
    fn the_freeze_count_is_read_from_the_output() {
        assert_eq!(stopped_count("x\ndeploycheck: stopped 2\n"), Some(2));
        assert_eq!(stopped_count("sh: not found"), None);
        assert_eq!(missing_probes(&template(true), "app"), Vec::<String>::new());
        assert_eq!(missing_probes(&template(false), "app").len(), 2);
    }

    #[tokio::test]
    async fn a_frozen_app_restarted_by_liveness_passes() {
        let target = target(freezable("deploycheck: stopped 1", vec![liveness_event()]));
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(
            target.cluster.calls(),
            ["ephemeral busybox:1.36 in app-a/app as Some(65532)"]
        );
    }

    /// The kubelet's liveness kill of the frozen pod is the moment to thaw it: it then shuts
    /// down by itself (preStop, SIGTERM) instead of waiting out its grace period for SIGKILL.
    #[tokio::test]
    async fn a_frozen_app_is_thawed_once_the_kubelet_decided_to_restart_it() {
        let killing = EventInfo {
            id: "app-a.killing".into(),
            object: "Pod/app-a".into(),
            kind: "Normal".into(),
            reason: "Killing".into(),
            message: "Container app failed liveness probe, will be restarted".into(),
            count: 1,
            ..EventInfo::default()
        };
        let target = target(
            freezable(
                "deploycheck: stopped 1",
                vec![liveness_event(), killing.clone()],
            )
            .with(|s| {
                s.event_script = [
                    Vec::new(),
                    Vec::new(),
                    vec![liveness_event()],
                    vec![liveness_event(), killing],
                ]
                .into();
                s.helper_runs.push_back(HelperRun {
                    exit_code: Some(0),
                    output: "deploycheck: thawed".into(),
                });
            }),
        );
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert_eq!(
            target.cluster.calls(),
            [
                "ephemeral busybox:1.36 in app-a/app as Some(65532)",
                "ephemeral busybox:1.36 in app-a/app as Some(65532)"
            ]
        );
        assert_eq!(
            target.cluster.scripts.lock().unwrap().as_slice(),
            [FREEZE_SCRIPT, THAW_SCRIPT]
        );
        crate::testing::assert_said(
            &outcome,
            "(thawed once the kubelet had decided to restart it",
        );
    }

    /// The earlier scenarios' windows already showed app-a healthy for 45 s, with no fault of
    /// ours in between: the 30 s watch before the freeze costs nothing (issue 15 §4), and the
    /// report says what the window was.
    #[tokio::test]
    async fn an_earlier_scenarios_window_serves_as_the_healthy_watch() {
        let target = target(
            freezable("deploycheck: stopped 1", vec![liveness_event()]).with(|s| {
                // No watch before the freeze: its quiet() entry is not there to be consumed.
                s.pod_script.get_mut(APP).unwrap().pop_front();
            }),
        );
        let pods = [pod("app-a", "app-a", true), pod("app-b", "app-b", true)];
        target.checkpoints.record(super::super::ledger::Checkpoint {
            window: Window::from_reads(0, &[], &pods, &[]),
            at: target.cluster.elapsed(),
            scenario: "replicas".into(),
        });
        *target.cluster.clock.lock().unwrap() += Duration::from_secs(45);
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome.detail.ends_with(
                "; healthy for 45 s before the freeze: observed since `replicas` started (no \
                 restart, no liveness failure, no fault of ours that could explain one)"
            ),
            "{}",
            outcome.detail
        );
    }

    /// A database outage since the checkpoint could explain (or hide) a liveness failure of a
    /// probe that depends on the database: the pod is watched again, as without a checkpoint.
    #[tokio::test]
    async fn a_database_outage_since_the_window_means_watching_again() {
        let target = target(freezable("deploycheck: stopped 1", vec![liveness_event()]));
        let pods = [pod("app-a", "app-a", true), pod("app-b", "app-b", true)];
        target.checkpoints.record(super::super::ledger::Checkpoint {
            window: Window::from_reads(0, &[], &pods, &[]),
            at: target.cluster.elapsed(),
            scenario: "recreate".into(),
        });
        target.faults.record(Fault::DatabaseRecreated);
        *target.cluster.clock.lock().unwrap() += Duration::from_secs(45);
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome
                .detail
                .ends_with("; healthy for 30 s before the freeze (watched)"),
            "{}",
            outcome.detail
        );
    }

    /// A liveness probe on a port nothing listens on: the container restarts every ~30 s by
    /// itself. That restart must not pass for the effect of a freeze.
    #[tokio::test]
    async fn a_container_that_restarts_by_itself_fails_before_anything_is_frozen() {
        let target = target(freezable("deploycheck: stopped 1", vec![]).with(|s| {
            s.pod_script.insert(
                APP.into(),
                [vec![restarted("app-a"), pod("app-b", "app-b", true)]].into(),
            );
            s.event_script = [
                Vec::new(),
                vec![EventInfo {
                    object: "Pod/app-a".into(),
                    reason: "Unhealthy".into(),
                    message: "Liveness probe failed: Get \"http://10.0.0.5:5001/health\": dial tcp 10.0.0.5:5001: connect: connection refused".into(),
                    count: 3,
                    ..EventInfo::default()
                }],
            ]
            .into();
        }));
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            outcome
                .detail
                .starts_with("app-a restarted by itself while deploycheck watched it for 30 s")
                && outcome.detail.contains("5001: connect: connection refused"),
            "{}",
            outcome.detail
        );
        assert!(target.cluster.calls().is_empty(), "nothing may be frozen");
    }

    /// The restart seen after the freeze must come with a liveness failure after the freeze;
    /// an old liveness event (from before) proves nothing.
    #[tokio::test]
    async fn a_liveness_event_from_before_the_freeze_does_not_count() {
        let target = target(freezable("deploycheck: stopped 1", vec![]).with(|s| {
            let old = [liveness_event()];
            s.event_script = [old.to_vec(), old.to_vec(), old.to_vec()].into();
        }));
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Fail,
            "no event since the freeze says its liveness probe failed",
        );
    }

    #[tokio::test]
    async fn an_app_that_is_pid_1_is_skipped_with_the_fix() {
        let outcome = liveness_restart(
            &target(freezable("deploycheck: stopped 0", vec![])),
            "http://127.0.0.1:9",
        )
        .await;
        crate::testing::assert_says(&outcome, Verdict::Skip, "shareProcessNamespace: true");
    }

    #[tokio::test]
    async fn a_restart_without_a_liveness_event_and_missing_probes_fail() {
        let outcome = liveness_restart(
            &target(freezable("deploycheck: stopped 1", vec![])),
            "http://127.0.0.1:9",
        )
        .await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Fail,
            "no event since the freeze says its liveness probe failed",
        );

        let no_probes = ScriptedCluster::new("kind-kind").with(|s| {
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                template(false),
            );
        });
        let outcome = liveness_restart(&target(no_probes), "http://127.0.0.1:9").await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(outcome.mismatches.len(), 2);
    }

    #[tokio::test]
    async fn a_probe_that_never_recovers_fails_with_what_was_seen() {
        let target = target(freezable("deploycheck: stopped 1", vec![]).with(|s| {
            s.pod_script.insert(
                APP.into(),
                [
                    quiet(),
                    vec![pod("app-a", "app-a", false), pod("app-b", "app-b", true)],
                ]
                .into(),
            );
        }));
        let outcome = liveness_restart(&target, "http://127.0.0.1:9").await;
        crate::testing::assert_says(&outcome, Verdict::Fail, "did not restart it into Ready");
        crate::testing::assert_said(&outcome, "app-a (Pending, not ready");
    }
}
