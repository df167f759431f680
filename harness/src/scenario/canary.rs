//! Canary: with N stable and M canary pods ready behind the Service, the canary's share of
//! answers over `strategy.canary_samples` requests on fresh connections lies within a
//! statistical bound of M/(N+M); taking the canary to zero replicas (the abort) while a prober
//! runs loses no request and returns every answer to stable within `strategy.follow`; the
//! canary is then scaled back to what it was.
//!
//! The bound: each fresh connection picks one of the N+M ready endpoints (kube-proxy picks at
//! random; deploycheck's forwarder, which follows the Service's EndpointSlices, in turn), so
//! the canary count over S requests is at most binomial(S, p) with p = M/(N+M), whose standard
//! deviation is sqrt(p(1-p)/S) as a share. Four of them (a correct stack falls outside with a
//! probability near 6 in 100,000) plus 1/S for rounding is the allowed distance.

use std::time::Duration;

use super::release::{self, Prober};
use super::{ScenarioOutcome, Target, Undo};
use crate::cluster::{Cluster, WorkloadKind, WorkloadState};
use crate::forward::Forwarder;
use crate::strategy::{Kind, Release};

pub const SPEC: super::Spec = super::Spec::destructive(
    "canary",
    "a canary gets its share of the traffic and an abort loses no request",
);

const ID: &str = SPEC.id;

/// Standard deviations of the binomial share allowed between measured and expected.
const SIGMAS: f64 = 4.0;

pub async fn split_and_abort<C: Cluster + Send + 'static>(
    target: &Target<C>,
    _base_url: &str,
) -> ScenarioOutcome {
    let release = match release::recognise(target, ID, Kind::Canary).await {
        Ok(release) => release,
        Err(outcome) => return outcome,
    };
    let Some(live) = release.live.clone() else {
        return ScenarioOutcome::fail(
            ID,
            format!("no Service selects either track: {}", release.describe()),
        );
    };
    if let [only] = release.selected_by(&live)[..] {
        return ScenarioOutcome::fail(
            ID,
            format!(
                "Service {} selects only {} (`{}: {}`): {} gets no traffic; drop `{}` from the \
                 Service's selector and keep only the labels both Deployments share",
                live.name,
                release.sides[only].name,
                release.label,
                release.version(only),
                release.sides[1 - only].name,
                release.label
            ),
        );
    }
    // A forwarder of its own: its connection counts per pod belong to this scenario.
    let port = target.profile.app.port;
    let forwarder =
        match Forwarder::start(target.cluster.clone(), &target.namespace, &live.name, port).await {
            Ok(forwarder) => forwarder,
            Err(error) => {
                return ScenarioOutcome::fail(ID, format!("cannot port-forward: {error}"));
            }
        };
    let split = match measure_split(target, &release, &live.name, &forwarder).await {
        Ok(split) => split,
        Err(problem) => return ScenarioOutcome::fail(ID, problem),
    };
    let (mut mismatches, mut advice) = (Vec::new(), Vec::new());
    if let Some(problem) = &split.problem {
        mismatches.push(problem.clone());
    }
    let abort = abort(target, &release, &live.name, &forwarder.base_url()).await;
    let abort_text = match abort {
        Ok(Abort { text, failed }) => {
            if let Some(failed) = failed {
                super::lost_requests(
                    target.profile.strategy.zero_failed_requests,
                    "strategy.zero_failed_requests",
                    format!("{failed} while the canary was taken to zero"),
                    "when canary pods go away",
                )
                .sort_into(&mut mismatches, &mut advice);
            }
            text
        }
        Err(problem) => {
            mismatches.push(format!("abort: {problem}"));
            String::new()
        }
    };
    ScenarioOutcome::from_findings(
        ID,
        format!("{}; {}; {abort_text}", release.describe(), split.text),
        mismatches,
        advice,
    )
}

struct Split {
    text: String,
    problem: Option<String>,
}

/// Sends the samples and compares the canary's share with its share of ready endpoints.
async fn measure_split<C: Cluster + Send + 'static>(
    target: &Target<C>,
    release: &Release,
    service: &str,
    forwarder: &Forwarder,
) -> Result<Split, String> {
    let settings = &target.profile.strategy;
    let stable = release::ready_pods(target, release, 0).await?;
    let canary = release::ready_pods(target, release, 1).await?;
    let endpoints = target
        .cluster
        .ready_endpoints(&target.namespace, service)
        .await
        .map_err(|e| e.to_string())?;
    let n = endpoints.iter().filter(|e| stable.contains(e)).count();
    let m = endpoints.iter().filter(|e| canary.contains(e)).count();
    if m == 0 {
        return Err(format!(
            "the canary receives no traffic: none of {}'s ready pods ({}) is a ready endpoint of \
             Service {service} (endpoints: {})",
            release.sides[1].name,
            release::names(&canary),
            release::names(&endpoints)
        ));
    }
    if n == 0 {
        return Err(format!(
            "stable receives no traffic: none of {}'s ready pods ({}) is a ready endpoint of \
             Service {service} (endpoints: {})",
            release.sides[0].name,
            release::names(&stable),
            release::names(&endpoints)
        ));
    }
    let samples = settings.canary_samples.max(1);
    let before = forwarder.connections();
    // The samples go out within about a second, each on a new connection.
    let prober = Prober::start_counted(
        &forwarder.base_url(),
        &target.profile.app.health_path,
        &settings.version_header,
        samples,
        Duration::from_secs(30),
        samples as usize,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while prober.answers().len() < samples as usize && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answers = prober.stop().await;
    let good: Vec<&release::Answer> = answers.iter().filter(|a| a.release.is_ok()).collect();
    let (canary_answers, attributed, how) = if settings.version_header.is_empty() {
        // Weaker: the forwarder knows which pod each connection reached, not what answered.
        let after = forwarder.connections();
        let opened = |pods: &[String]| -> u64 {
            pods.iter()
                .map(|p| after.get(p).unwrap_or(&0) - before.get(p).unwrap_or(&0))
                .sum()
        };
        let (to_canary, to_stable) = (opened(&canary), opened(&stable));
        (
            to_canary,
            to_canary + to_stable,
            "connections per pod (no version header in the profile: which pod a connection \
             reached, not which release answered, is weaker)",
        )
    } else {
        let from_canary = good
            .iter()
            .filter(|a| {
                a.release.as_ref().ok().and_then(|r| r.as_deref()) == Some(release.version(1))
            })
            .count() as u64;
        (
            from_canary,
            good.len() as u64,
            "the version header of each answer",
        )
    };
    if attributed == 0 {
        return Err(format!(
            "no request through Service {service} was answered ({})",
            release::failures(&answers).unwrap_or_else(|| "none sent".into())
        ));
    }
    let expected = m as f64 / (n + m) as f64;
    let share = canary_answers as f64 / attributed as f64;
    let bound =
        SIGMAS * (expected * (1.0 - expected) / attributed as f64).sqrt() + 1.0 / attributed as f64;
    let text = format!(
        "the canary answered {canary_answers} of {attributed} requests on fresh connections \
         ({:.1}%), expected {:.1}% = {m} of {} ready endpoints, bound ±{:.1}% ({SIGMAS}σ of a \
         binomial over {attributed}), by {how}",
        share * 100.0,
        expected * 100.0,
        n + m,
        bound * 100.0
    );
    let problem = ((share - expected).abs() > bound).then(|| {
        format!(
            "the canary's share of answers ({:.1}%) is outside {:.1}% ± {:.1}%: traffic does \
             not split by ready pods (a client or proxy keeping connections to one side, or \
             pods answering for the wrong release)",
            share * 100.0,
            expected * 100.0,
            bound * 100.0
        )
    });
    Ok(Split { text, problem })
}

struct Abort {
    text: String,
    failed: Option<String>,
}

/// Scales the canary to zero while probing, waits for the endpoints and the answers to return
/// to stable, and scales it back.
async fn abort<C: Cluster>(
    target: &Target<C>,
    release: &Release,
    service: &str,
    base_url: &str,
) -> Result<Abort, String> {
    let cluster = &*target.cluster;
    let namespace = &target.namespace;
    let settings = &target.profile.strategy;
    let canary = &release.sides[1];
    let replicas = cluster
        .workload(namespace, WorkloadKind::Deployment, &canary.name)
        .await
        .map_err(|e| e.to_string())?
        .map_or(canary.replicas, |w| w.desired);
    let canary_pods = release::ready_pods(target, release, 1).await?;
    let prober = Prober::start(
        base_url,
        &target.profile.app.health_path,
        &settings.version_header,
        settings.probe_rate,
        settings.follow * 2 + Duration::from_secs(10),
    );
    let undo = Undo::Scale {
        kind: WorkloadKind::Deployment,
        name: canary.name.clone(),
        replicas,
    };
    target.remember(undo.clone());
    let since = prober.now();
    let result = async {
        cluster
            .scale(namespace, WorkloadKind::Deployment, &canary.name, 0)
            .await
            .map_err(|e| e.to_string())?;
        let no_canary =
            |pods: &[String]| !pods.is_empty() && !pods.iter().any(|p| canary_pods.contains(p));
        cluster
            .wait_endpoints(namespace, service, &no_canary, settings.follow)
            .await
            .map_err(|e| format!("the Service's endpoints kept canary pods: {e}"))?;
        let endpoints = prober.now().saturating_sub(since);
        let answers = if settings.version_header.is_empty() {
            None
        } else {
            Some(
                prober
                    .until_all_from(release.version(0), since, settings.follow)
                    .await?,
            )
        };
        Ok::<_, String>((endpoints, answers))
    }
    .await;
    let answers = prober.stop().await;
    // Put the canary back as it was, whatever happened.
    let restored = target.undo_pending().await;
    let back = |w: &WorkloadState| w.desired == replicas && w.rolled_out();
    let rolled_back = cluster
        .wait_workload(
            namespace,
            WorkloadKind::Deployment,
            &canary.name,
            &back,
            target.profile.cluster.rollout,
        )
        .await;
    let (endpoints, followed) = result?;
    if let Some(problem) = restored.iter().find(|r| r.starts_with("could not")) {
        return Err(problem.clone());
    }
    if let Err(error) = rolled_back {
        return Err(format!(
            "the canary did not come back to {replicas} replica(s): {error}"
        ));
    }
    Ok(Abort {
        text: format!(
            "abort (canary scaled to 0): endpoints left the canary in {} ms{}, {} requests; \
             canary back to {replicas} replica(s)",
            endpoints.as_millis(),
            followed
                .map(|a| format!(
                    ", every answer from {} after {} ms",
                    release.version(0),
                    a.as_millis()
                ))
                .unwrap_or_default(),
            answers.len()
        ),
        failed: release::failures(&answers),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::Verdict;
    use crate::cluster::ServiceInfo;
    use crate::cluster::fake::{ScriptedCluster, State, pod, workload};
    use crate::scenario::release::testing::{dropping_pod, labels, release_pod};
    use crate::scenario::tests::target;
    use crate::testing::{assert_begins, assert_said};

    const NAME: (&str, &str) = ("app.kubernetes.io/name", "deploycheck-app");

    /// How the reference canary's verdict begins.
    const REFERENCE_SPLIT: &str = "canary by label `track`: stable deploycheck-app (stable) × 3, \
         canary deploycheck-app-canary (canary) × 1, Service deploycheck-app; the canary answered ";

    fn track(track: &str) -> BTreeMap<String, String> {
        labels(&[NAME, ("track", track)])
    }

    /// The reference canary variant rolled out: three stable pods, one canary, one Service over
    /// both tracks. `answers_as` is what the canary's pods say they are.
    async fn canary_stack(selector: BTreeMap<String, String>, answers_as: &'static str) -> State {
        let mut s = State::default();
        for (name, side, replicas, version) in [
            ("deploycheck-app", "stable", 3, "stable"),
            ("deploycheck-app-canary", "canary", 1, answers_as),
        ] {
            s.workloads.insert(
                (WorkloadKind::Deployment, name.into()),
                workload(name, replicas, replicas),
            );
            let template = serde_json::json!({"metadata": {"labels": track(side)}});
            s.templates.insert(
                (WorkloadKind::Deployment, name.into()),
                serde_json::from_value(template).unwrap(),
            );
            let mut pods = Vec::new();
            for i in 0..replicas {
                let mut p = pod(&format!("{side}-{i}"), &format!("{side}{i}"), true);
                p.labels = track(side);
                s.tunnels.insert(p.name.clone(), release_pod(version).await);
                pods.push(p);
            }
            s.pods.insert(crate::scenario::selector(&track(side)), pods);
        }
        let service = ServiceInfo {
            name: "deploycheck-app".into(),
            kind: "ClusterIP".into(),
            ports: vec![5000],
            target_ports: vec!["http".into()],
            headless: false,
            selector: selector.clone(),
        };
        s.endpoints.insert(
            "deploycheck-app".into(),
            [s.ready_endpoints_of(&selector)].into(),
        );
        s.services.insert("deploycheck-app".into(), service);
        s
    }

    async fn run(state: State) -> (ScenarioOutcome, std::sync::Arc<ScriptedCluster>) {
        let mut target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        target.profile.strategy.follow = Duration::from_secs(3);
        target.profile.strategy.canary_samples = 200;
        let outcome = split_and_abort(&target, "http://127.0.0.1:9").await;
        assert!(target.pending_undo.lock().unwrap().is_empty());
        (outcome, target.cluster.clone())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reference_variant_splits_by_ready_pods_and_aborts_without_a_failed_request() {
        let (outcome, cluster) = run(canary_stack(labels(&[NAME]), "canary").await).await;
        assert_begins(&outcome, Verdict::Pass, REFERENCE_SPLIT);
        assert_said(&outcome, "of 200 requests on fresh connections");
        assert_said(
            &outcome,
            "expected 25.0% = 1 of 4 ready endpoints, bound ±12.7% (4σ of a binomial over 200), \
             by the version header of each answer",
        );
        assert_said(&outcome, "every answer from stable after");
        assert_said(&outcome, "canary back to 1 replica(s)");
        assert_eq!(
            cluster.calls_of("scale"),
            [
                "scale Deployment/deploycheck-app-canary=0",
                "scale Deployment/deploycheck-app-canary=1"
            ]
        );
    }

    /// `k8s/overlays/canary` as rendered passes with the reference profile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_rendered_reference_variant_passes() {
        let state = crate::scenario::release::testing::rolled_out_variant("canary").await;
        let (outcome, _) = run(state).await;
        assert_begins(&outcome, Verdict::Pass, REFERENCE_SPLIT);
        assert_said(&outcome, "expected 25.0% = 1 of 4 ready endpoints");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_canary_its_service_does_not_select_receives_no_traffic() {
        let (outcome, cluster) = run(canary_stack(track("stable"), "canary").await).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "Service deploycheck-app selects only deploycheck-app (`track: stable`): \
             deploycheck-app-canary gets no traffic; drop `track` from the Service's selector",
        );
        assert!(cluster.calls_of("scale").is_empty());
    }

    /// The canary's pods answer as stable: the Service splits, but not into the release it
    /// should, and the share says so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_share_outside_the_bound_fails_with_the_numbers() {
        let (outcome, _) = run(canary_stack(labels(&[NAME]), "stable").await).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): the canary's share of answers (0.0%) is outside 25.0% ± 12.7%: \
             traffic does not split by ready pods",
        );
    }

    /// Without a preStop pause or graceful shutdown, canary pods die while the Service still
    /// lists them: the abort loses requests.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abort_that_drops_requests_fails() {
        let mut state = canary_stack(labels(&[NAME]), "canary").await;
        state
            .abrupt_shutdown
            .insert("deploycheck-app-canary".into(), dropping_pod().await);
        let (outcome, cluster) = run(state).await;
        assert_begins(&outcome, Verdict::Fail, "1 problem(s): ");
        assert_said(
            &outcome,
            "while the canary was taken to zero; the profile requires none \
             (strategy.zero_failed_requests)",
        );
        assert!(
            cluster
                .calls()
                .contains(&"scale Deployment/deploycheck-app-canary=1".to_string())
        );
    }
}
