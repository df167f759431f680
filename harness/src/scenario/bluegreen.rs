//! Blue-green: the live Service's endpoints hold only the live side; the idle side is Ready
//! (and answers through the preview Service, if there is one); switching the live Service's
//! selector to the idle side while a prober sends requests on fresh connections loses no
//! request and moves every answer to the new side within `strategy.follow`; switching back
//! (the rollback) does the same. The Service is left as it was found.

use std::collections::BTreeMap;
use std::time::Duration;

use super::release::{self, Prober};
use super::{ScenarioOutcome, Target, Undo};
use crate::cluster::{Cluster, WorkloadKind};
use crate::forward::Forwarder;
use crate::strategy::{Kind, Release};

pub const SPEC: super::Spec = super::Spec::destructive(
    "bluegreen",
    "a blue-green switch and its rollback move every answer and lose none",
);

const ID: &str = SPEC.id;

pub async fn switch_and_back<C: Cluster + Send + 'static>(
    target: &Target<C>,
    base_url: &str,
) -> ScenarioOutcome {
    let release = match release::recognise(target, ID, Kind::BlueGreen).await {
        Ok(release) => release,
        Err(outcome) => return outcome,
    };
    match before_the_switch(target, &release).await {
        Ok(()) => switch(target, &release, base_url).await,
        Err(problem) => ScenarioOutcome::fail(ID, problem),
    }
}

/// The live Service over exactly the live side, the idle side Ready (and served by the
/// preview Service, if any): what must hold before a switch can be safe.
async fn before_the_switch<C: Cluster + Send + 'static>(
    target: &Target<C>,
    release: &Release,
) -> Result<(), String> {
    let cluster = &*target.cluster;
    let namespace = &target.namespace;
    let Some(live) = &release.live else {
        return Err(format!(
            "no Service selects either side by `{}`: {}",
            release.label,
            release.describe()
        ));
    };
    let selected = release.selected_by(live);
    if selected.len() != 1 {
        return Err(format!(
            "the live Service {} selects {} of the two sides ({} and {}): a blue-green live \
             Service must select exactly one; put `{}: {}` in its selector",
            live.name,
            if selected.is_empty() {
                "neither"
            } else {
                "both"
            },
            release.sides[0].name,
            release.sides[1].name,
            release.label,
            release.version(0)
        ));
    }
    let live_pods = release::ready_pods(target, release, 0).await?;
    let endpoints = cluster
        .ready_endpoints(namespace, &live.name)
        .await
        .map_err(|e| e.to_string())?;
    if endpoints.is_empty() || endpoints.iter().any(|e| !live_pods.contains(e)) {
        return Err(format!(
            "the live Service {}'s ready endpoints ({}) are not the live side {}'s ready pods \
             ({})",
            live.name,
            release::names(&endpoints),
            release.sides[0].name,
            release::names(&live_pods)
        ));
    }
    let idle = &release.sides[1];
    let state = cluster
        .workload(namespace, WorkloadKind::Deployment, &idle.name)
        .await
        .map_err(|e| e.to_string())?;
    let idle_pods = release::ready_pods(target, release, 1).await?;
    match state {
        Some(w) if w.desired > 0 && w.ready >= w.desired && !idle_pods.is_empty() => {}
        Some(w) => {
            return Err(format!(
                "the idle side {} is not Ready ({}/{} ready): switching to it would leave users \
                 without service; fix it (see its pods' events) before a switch",
                idle.name, w.ready, w.desired
            ));
        }
        None => return Err(format!("Deployment {} does not exist", idle.name)),
    }
    if let Some(preview) = &release.preview {
        let endpoints = cluster
            .ready_endpoints(namespace, &preview.name)
            .await
            .map_err(|e| e.to_string())?;
        if endpoints.is_empty() || endpoints.iter().any(|e| !idle_pods.contains(e)) {
            return Err(format!(
                "the preview Service {}'s ready endpoints ({}) are not the idle side {}'s ready \
                 pods ({}): the preview must show the release about to go live",
                preview.name,
                release::names(&endpoints),
                idle.name,
                release::names(&idle_pods)
            ));
        }
        let port = target.profile.app.port;
        let forwarder = Forwarder::start(target.cluster.clone(), namespace, &preview.name, port)
            .await
            .map_err(|e| e.to_string())?;
        let url = format!("{}{}", forwarder.base_url(), target.profile.app.health_path);
        let header = &target.profile.strategy.version_header;
        let answer = crate::http::client().get(&url).send().await.map_err(|e| {
            format!(
                "GET {} through the preview Service {} failed: {}",
                target.profile.app.health_path,
                preview.name,
                crate::http::describe_transport(&e, Duration::from_secs(10))
            )
        })?;
        let version = answer
            .headers()
            .get(header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if !answer.status().is_success() {
            return Err(format!(
                "the preview Service {} answers {} on {}",
                preview.name,
                answer.status().as_u16(),
                target.profile.app.health_path
            ));
        }
        if !header.is_empty() && version.as_deref() != Some(release.version(1)) {
            return Err(format!(
                "the preview Service {} is answered by {} ({header}: {}), not the idle side {}",
                preview.name,
                version.as_deref().unwrap_or("a release without the header"),
                version.as_deref().unwrap_or("-"),
                release.version(1)
            ));
        }
    }
    Ok(())
}

/// Reads the live Service back: `; Service x left as found`, or a mismatch that says where it
/// was left and how to put it back (said only from what was read).
async fn left_as_found<C: Cluster>(
    target: &Target<C>,
    release: &Release,
    mismatches: &mut Vec<String>,
) -> String {
    let live = release.live.as_ref().expect("checked");
    let namespace = &target.namespace;
    match target.cluster.service(namespace, &live.name).await {
        Ok(Some(now)) if now.selector == live.selector => {
            format!("; Service {} left as found", live.name)
        }
        Ok(Some(now)) => {
            let shown = |s: &BTreeMap<String, String>| super::selector(s);
            mismatches.push(format!(
                "the Service {} is left selecting {} instead of {}: put it back with `kubectl -n \
                 {namespace} patch service {} --type merge -p '{{\"spec\":{{\"selector\":\
                 {{\"{}\":\"{}\"}}}}}}'`",
                live.name,
                shown(&now.selector),
                shown(&live.selector),
                live.name,
                release.label,
                release.version(0)
            ));
            String::new()
        }
        Ok(None) => {
            mismatches.push(format!("the Service {} is gone", live.name));
            String::new()
        }
        Err(error) => {
            mismatches.push(format!(
                "could not read the Service {} back to see it was left as found: {error}",
                live.name
            ));
            String::new()
        }
    }
}

/// The live selector pointed at `side`'s value of the version label.
fn selector_for(release: &Release, side: usize) -> BTreeMap<String, String> {
    let mut selector = release.live.as_ref().expect("checked").selector.clone();
    selector.insert(release.label.clone(), release.version(side).to_string());
    selector
}

/// One switch of the live Service to `to`: the endpoints, then the answers, follow.
async fn switch_to<C: Cluster>(
    target: &Target<C>,
    release: &Release,
    prober: &Prober,
    to: usize,
) -> Result<(Duration, Option<Duration>), String> {
    let cluster = &*target.cluster;
    let settings = &target.profile.strategy;
    let live = release.live.as_ref().expect("checked");
    let new_pods = release::ready_pods(target, release, to).await?;
    let since = prober.now();
    cluster
        .set_selector(&target.namespace, &live.name, &selector_for(release, to))
        .await
        .map_err(|e| e.to_string())?;
    let on_new_side =
        |pods: &[String]| !pods.is_empty() && pods.iter().all(|p| new_pods.contains(p));
    cluster
        .wait_endpoints(&target.namespace, &live.name, &on_new_side, settings.follow)
        .await
        .map_err(|e| format!("the live Service's endpoints did not follow: {e}"))?;
    let endpoints = prober.now().saturating_sub(since);
    if settings.version_header.is_empty() {
        return Ok((endpoints, None));
    }
    let answers = prober
        .until_all_from(release.version(to), since, settings.follow)
        .await?;
    Ok((endpoints, Some(answers)))
}

async fn switch<C: Cluster + Send + 'static>(
    target: &Target<C>,
    release: &Release,
    base_url: &str,
) -> ScenarioOutcome {
    let settings = &target.profile.strategy;
    let live = release.live.as_ref().expect("checked before");
    let found = Undo::Selector {
        service: live.name.clone(),
        selector: live.selector.clone(),
    };
    target.remember(found.clone());
    let max = settings.follow * 4 + Duration::from_secs(10);
    let prober = Prober::start(
        base_url,
        &target.profile.app.health_path,
        &settings.version_header,
        settings.probe_rate,
        max,
    );
    let mut mismatches = Vec::new();
    let mut measured = Vec::new();
    for (to, step) in [(1, "switch"), (0, "rollback")] {
        match switch_to(target, release, &prober, to).await {
            Ok((endpoints, answers)) => measured.push(format!(
                "{step} to {}: endpoints followed in {} ms{}",
                release.version(to),
                endpoints.as_millis(),
                answers
                    .map(|a| format!(
                        ", every answer from {} after {} ms",
                        release.version(to),
                        a.as_millis()
                    ))
                    .unwrap_or_default()
            )),
            Err(problem) => {
                mismatches.push(format!("{step} to {}: {problem}", release.version(to)));
                break;
            }
        }
    }
    let answers = prober.stop().await;
    if mismatches.is_empty() {
        target.forget(&found);
    } else {
        // A step failed midway: leave the Service as it was found all the same.
        let restored = target.undo_pending().await;
        mismatches.extend(restored.into_iter().filter(|r| r.starts_with("could not")));
    }
    let mut advice = Vec::new();
    if let Some(failed) = release::failures(&answers) {
        super::lost_requests(
            settings.zero_failed_requests,
            "strategy.zero_failed_requests",
            format!("{failed} during the switch and the rollback"),
            "when the Service switches",
        )
        .sort_into(&mut mismatches, &mut advice);
    }
    let left = left_as_found(target, release, &mut mismatches).await;
    let attribution = if settings.version_header.is_empty() {
        " (no version header in the profile: answers were not attributed, only the endpoints \
         followed, which is weaker)"
            .to_string()
    } else {
        String::new()
    };
    ScenarioOutcome::from_findings(
        ID,
        format!(
            "{}; {}; {} requests on fresh connections{attribution}{left}",
            release.describe(),
            measured.join("; "),
            answers.len(),
        ),
        mismatches,
        advice,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::api::Verdict;
    use crate::cluster::ServiceInfo;
    use crate::cluster::fake::{ScriptedCluster, State, pod, workload};
    use crate::scenario::tests::target;
    use crate::testing::{assert_begins, assert_said};

    const NAME: (&str, &str) = ("app.kubernetes.io/name", "deploycheck-app");

    fn labels(version: &str) -> BTreeMap<String, String> {
        release::testing::labels(&[NAME, ("version", version)])
    }

    /// The reference blue-green variant rolled out: blue live, green idle behind the preview.
    async fn blue_green(live: &str, green_ready: i32) -> State {
        let mut s = State::default();
        for (version, ready) in [("blue", 2), ("green", green_ready)] {
            let name = format!("deploycheck-app-{version}");
            s.workloads.insert(
                (WorkloadKind::Deployment, name.clone()),
                workload(&name, 2, ready),
            );
            let template = serde_json::json!({"metadata": {"labels": labels(version)}});
            s.templates.insert(
                (WorkloadKind::Deployment, name),
                serde_json::from_value(template).unwrap(),
            );
            let pods: Vec<_> = ["a", "b"]
                .iter()
                .enumerate()
                .map(|(i, suffix)| {
                    let mut p = pod(&format!("{version}-{suffix}"), suffix, (i as i32) < ready);
                    p.labels = labels(version);
                    p
                })
                .collect();
            for p in &pods {
                s.tunnels
                    .insert(p.name.clone(), release::testing::release_pod(version).await);
            }
            s.pods
                .insert(crate::scenario::selector(&labels(version)), pods);
        }
        let service = |name: &str, version: &str| ServiceInfo {
            name: name.into(),
            kind: "ClusterIP".into(),
            ports: vec![5000],
            target_ports: vec!["http".into()],
            headless: false,
            selector: labels(version),
        };
        s.services
            .insert("deploycheck-app".into(), service("deploycheck-app", live));
        s.services.insert(
            "deploycheck-app-preview".into(),
            service("deploycheck-app-preview", "green"),
        );
        let ready_of = |version: &str| -> Vec<String> {
            (0..if version == "green" { green_ready } else { 2 })
                .map(|i| format!("{version}-{}", ["a", "b"][i as usize]))
                .collect()
        };
        s.endpoints
            .insert("deploycheck-app".into(), [ready_of(live)].into());
        s.endpoints
            .insert("deploycheck-app-preview".into(), [ready_of("green")].into());
        s
    }

    async fn run(state: State) -> (ScenarioOutcome, Arc<ScriptedCluster>) {
        let mut target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        // Loopback answers within milliseconds; a broken side should not cost the default 30 s.
        target.profile.strategy.follow = Duration::from_secs(3);
        let cluster = target.cluster.clone();
        let app = Forwarder::start(cluster.clone(), "ns", "deploycheck-app", 5000)
            .await
            .unwrap();
        let outcome = switch_and_back(&target, &app.base_url()).await;
        assert!(
            target.pending_undo.lock().unwrap().is_empty(),
            "no fault outlives the scenario"
        );
        (outcome, cluster)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reference_variant_switches_and_rolls_back_without_a_failed_request() {
        let (outcome, cluster) = run(blue_green("blue", 2).await).await;
        assert_begins(
            &outcome,
            Verdict::Pass,
            "blue-green by label `version`: live Service deploycheck-app → deploycheck-app-blue \
             (blue), idle deploycheck-app-green (green), preview Service deploycheck-app-preview; \
             switch to green: endpoints followed in ",
        );
        assert_said(&outcome, "every answer from green after");
        assert_said(&outcome, "rollback to blue: endpoints followed in");
        assert_said(&outcome, "Service deploycheck-app left as found");
        assert_eq!(
            cluster.calls_of("selector"),
            [
                "selector Service/deploycheck-app=app.kubernetes.io/name=deploycheck-app,version=green",
                "selector Service/deploycheck-app=app.kubernetes.io/name=deploycheck-app,version=blue",
            ]
        );
        let live = &cluster.state.lock().unwrap().services["deploycheck-app"];
        assert_eq!(live.selector, labels("blue"), "left as found");
    }

    /// `k8s/overlays/bluegreen` as rendered, with the profile next to it, passes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_rendered_reference_variant_passes() {
        let state = release::testing::rolled_out_variant("bluegreen").await;
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/overlays/bluegreen");
        let mut target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        target.profile = crate::profile::Profile::resolve(None, &dir).unwrap();
        let app = Forwarder::start(target.cluster.clone(), "ns", "deploycheck-app", 5000)
            .await
            .unwrap();
        let outcome = switch_and_back(&target, &app.base_url()).await;
        assert_begins(
            &outcome,
            Verdict::Pass,
            "blue-green by label `version`: live Service deploycheck-app → deploycheck-app-blue \
             (blue), idle deploycheck-app-green (green), preview Service deploycheck-app-preview",
        );
        assert_said(&outcome, "every answer from blue after");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_live_selector_over_both_sides_fails_before_anything_is_switched() {
        let mut state = blue_green("blue", 2).await;
        state
            .services
            .get_mut("deploycheck-app")
            .unwrap()
            .selector
            .remove("version");
        let (outcome, cluster) = run(state).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "the live Service deploycheck-app selects both of the two sides \
             (deploycheck-app-blue and deploycheck-app-green): a blue-green live Service must \
             select exactly one; put `version: blue` in its selector",
        );
        assert!(cluster.calls_of("selector").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_green_side_that_is_not_ready_fails_before_the_switch() {
        let (outcome, cluster) = run(blue_green("blue", 0).await).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "the idle side deploycheck-app-green is not Ready (0/2 ready): switching to it would \
             leave users without service",
        );
        assert!(cluster.calls_of("selector").is_empty());
    }

    /// Green's pods are Ready but refuse connections (a broken release the readiness probe
    /// does not see): the switch loses requests and its answers never come from green.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_switch_that_drops_requests_fails_and_leaves_the_service_as_found() {
        let mut state = blue_green("blue", 2).await;
        // Without a preview Service, nothing shows it before the switch.
        state.services.remove("deploycheck-app-preview");
        for pod in ["green-a", "green-b"] {
            state
                .tunnels
                .insert(pod.into(), crate::testing::closed_address());
        }
        let (outcome, cluster) = run(state).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "2 problem(s): switch to green: answers did not all come from green within 3 s of the \
             change",
        );
        assert_said(
            &outcome,
            "during the switch and the rollback; the profile requires none \
             (strategy.zero_failed_requests)",
        );
        let live = &cluster.state.lock().unwrap().services["deploycheck-app"];
        assert_eq!(live.selector, labels("blue"), "left as found");
    }

    /// The switch works, then deploycheck loses the right to change the Service: the rollback
    /// fails, and so does putting it back; the verdict says where the Service was left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rollback_that_leaves_the_service_on_the_new_side_fails_saying_so() {
        let mut state = blue_green("blue", 2).await;
        state.forbidden_after.insert("set_selector", 1);
        let mut target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        target.profile.strategy.follow = Duration::from_secs(3);
        let app = Forwarder::start(target.cluster.clone(), "ns", "deploycheck-app", 5000)
            .await
            .unwrap();
        let outcome = switch_and_back(&target, &app.base_url()).await;
        assert_begins(&outcome, Verdict::Fail, "3 problem(s): rollback to blue: ");
        assert_said(
            &outcome,
            "the Service deploycheck-app is left selecting \
             app.kubernetes.io/name=deploycheck-app,version=green instead of \
             app.kubernetes.io/name=deploycheck-app,version=blue: put it back with `kubectl -n ns \
             patch service deploycheck-app --type merge -p \
             '{\"spec\":{\"selector\":{\"version\":\"blue\"}}}'`",
        );
        crate::testing::assert_not_said(&outcome, "left as found");
    }

    /// Both release scenarios change live traffic: on a context that is not clearly local
    /// they skip with the reason and touch nothing.
    #[tokio::test]
    async fn remote_contexts_skip_both_release_scenarios_and_touch_nothing() {
        let target = target(ScriptedCluster::new("arn:aws:eks:prod"));
        let blue_green = switch_and_back(&target, "http://127.0.0.1:9").await;
        let canary = crate::scenario::canary::split_and_abort(&target, "http://127.0.0.1:9").await;
        assert_eq!(
            (blue_green.verdict, canary.verdict),
            (Verdict::Skip, Verdict::Skip)
        );
        assert!(target.cluster.calls().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deployments_without_the_apps_labels_are_not_its_release() {
        // Two tools beside the app (a Prometheus, a Grafana) that differ in one label with a
        // Service over one of them: switching their Service would be a fault in someone
        // else's stack.
        let mut state = blue_green("blue", 2).await;
        for version in ["blue", "green"] {
            let mut labels = labels(version);
            labels.remove("app.kubernetes.io/name");
            labels.insert("app.kubernetes.io/part-of".into(), "monitoring".into());
            state.templates.insert(
                (
                    WorkloadKind::Deployment,
                    format!("deploycheck-app-{version}"),
                ),
                serde_json::from_value(serde_json::json!({"metadata": {"labels": labels}}))
                    .unwrap(),
            );
        }
        for service in state.services.values_mut() {
            service.selector.remove("app.kubernetes.io/name");
            service
                .selector
                .insert("app.kubernetes.io/part-of".into(), "monitoring".into());
        }
        let (outcome, cluster) = run(state).await;
        assert_begins(
            &outcome,
            Verdict::Skip,
            "no blue-green release: of the app's Deployments (pods labelled \
             app.kubernetes.io/name=deploycheck-app: none)",
        );
        assert!(cluster.calls_of("selector").is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_canary_stack_is_skipped_with_what_it_is() {
        let mut state = blue_green("blue", 2).await;
        state.services.remove("deploycheck-app-preview");
        let service = state.services.get_mut("deploycheck-app").unwrap();
        service.selector.remove("version");
        for version in ["blue", "green"] {
            let key = (
                WorkloadKind::Deployment,
                format!("deploycheck-app-{version}"),
            );
            let track = if version == "blue" {
                "stable"
            } else {
                "canary"
            };
            let mut labels = labels(version);
            labels.remove("version");
            labels.insert("track".into(), track.into());
            state.templates.insert(
                key,
                serde_json::from_value(serde_json::json!({"metadata": {"labels": labels}}))
                    .unwrap(),
            );
        }
        let (outcome, _) = run(state).await;
        assert_begins(
            &outcome,
            Verdict::Skip,
            "the stack is a canary release, not blue-green: canary by label `track`",
        );
    }
}
