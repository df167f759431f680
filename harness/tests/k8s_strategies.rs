//! The release-strategy overlays, `k8s/overlays/bluegreen` and `k8s/overlays/canary`: each
//! renders with `kubectl kustomize` without a warning into known Kubernetes types with no
//! unknown field; the blue-green live Service selects exactly one side and the preview Service
//! the other; the canary's one Service selects both tracks; every app Deployment keeps the
//! base's probes, resources, preStop and zero-unavailable rollout; and `deploycheck lint` finds
//! no error in either, recognising the release each one implements.
//!
//! The rendering helpers are `support/rendered.rs`, shared with `k8s_manifests.rs`.

#[path = "support/rendered.rs"]
mod rendered;

use std::collections::BTreeMap;

use deploycheck::findings::Severity;
use deploycheck::profile::Profile;
use deploycheck::{lint, manifest};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use rendered::{
    DEPRECATED_KUSTOMIZE_FIELDS, Labels, RECOMMENDED_LABELS, Rendered, env, k8s_dir, selects,
    service_named, service_selector,
};

const BLUEGREEN: &str = "overlays/bluegreen";
const CANARY: &str = "overlays/canary";

/// Renders `k8s/{dir}` (see `rendered::render`), in which every object carries the
/// recommended labels and none is a Namespace: these overlays apply into any namespace.
fn render(dir: &str) -> Rendered {
    let rendered = rendered::render(dir);
    for (kind, name, labels) in &rendered.labels {
        let what = format!("{dir}: {kind}/{name}");
        for label in RECOMMENDED_LABELS {
            assert!(labels.contains_key(label), "{what} lacks label {label}");
        }
        if kind == "Namespace" {
            panic!("{dir}: unexpected v1 {kind} {name}: add it to this test deliberately")
        }
    }
    rendered
}

impl Rendered {
    fn deployment(&self, name: &str) -> &Deployment {
        self.deployments
            .iter()
            .find(|d| d.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no Deployment {name}"))
    }

    fn service(&self, name: &str) -> &Service {
        service_named(&self.services, name).unwrap_or_else(|| panic!("no Service {name}"))
    }

    /// The app Deployments: every Deployment (MongoDB is a StatefulSet).
    fn app_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .deployments
            .iter()
            .map(|d| d.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Names of the app Deployments whose pods `selector` selects.
    fn selected_by(&self, selector: &Labels) -> Vec<String> {
        let mut names: Vec<String> = self
            .deployments
            .iter()
            .filter(|d| selects(selector, &pod_labels(d)))
            .map(|d| d.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        names
    }

    fn service_selects(&self, service: &str) -> Vec<String> {
        self.selected_by(&service_selector(self.service(service)))
    }

    /// The one HPA: its target's name and its minimum.
    fn hpa(&self) -> (String, i32) {
        assert_eq!(self.hpas.len(), 1, "one HPA");
        let spec = self.hpas[0].spec.as_ref().unwrap();
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        (
            spec.scale_target_ref.name.clone(),
            spec.min_replicas.unwrap_or(1),
        )
    }

    /// The fewest pods Deployment `name` runs: the HPA's minimum if it scales it, else its
    /// `replicas` (1 when unset).
    fn min_pods(&self, name: &str) -> i32 {
        let (target, min) = self.hpa();
        let replicas = self.deployment(name).spec.as_ref().unwrap().replicas;
        if target == name {
            assert_eq!(
                replicas, None,
                "{name}: the HPA owns the count, so no spec.replicas"
            );
            min
        } else {
            replicas.unwrap_or(1)
        }
    }
}

fn pod_labels(deployment: &Deployment) -> Labels {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

fn deployment_selector(deployment: &Deployment) -> Labels {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
}

fn app_container(deployment: &Deployment) -> &Container {
    let pod = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a pod spec");
    assert_eq!(pod.containers.len(), 1, "one app container");
    &pod.containers[0]
}

fn app_version(deployment: &Deployment) -> String {
    env(app_container(deployment), "APP_VERSION")
        .and_then(|e| e.value.clone())
        .unwrap_or_else(|| {
            panic!(
                "{:?} sets no APP_VERSION",
                deployment.metadata.name.as_deref()
            )
        })
}

/// Each Deployment selects its own pods and no other's: two controllers over the same pods
/// fight over them, and an HPA would average the other side's CPU in.
fn assert_disjoint_controllers(r: &Rendered, overlay: &str) {
    for deployment in &r.deployments {
        let name = deployment.metadata.name.clone().unwrap();
        assert_eq!(
            r.selected_by(&deployment_selector(deployment)),
            std::slice::from_ref(&name),
            "{overlay}: Deployment {name} must select its own pods only"
        );
    }
}

/// Every app pod is under exactly one PodDisruptionBudget (the eviction API refuses pods under
/// two), and a drain can still make progress: each side runs more pods than its PDB keeps.
fn assert_pdbs(r: &Rendered, overlay: &str) {
    for deployment in &r.deployments {
        let name = deployment.metadata.name.clone().unwrap();
        let labels = pod_labels(deployment);
        let covering: Vec<&PodDisruptionBudget> = r
            .pdbs
            .iter()
            .filter(|p| {
                let selector = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .and_then(|s| s.match_labels.clone())
                    .unwrap_or_default();
                selects(&selector, &labels)
            })
            .collect();
        assert_eq!(
            covering.len(),
            1,
            "{overlay}: the pods of {name} must be under exactly one PDB"
        );
        let Some(IntOrString::Int(min_available)) =
            covering[0].spec.as_ref().unwrap().min_available.clone()
        else {
            panic!("{overlay}: PDB minAvailable must be a count");
        };
        let pods: i32 = r
            .selected_by(
                &covering[0]
                    .spec
                    .as_ref()
                    .unwrap()
                    .selector
                    .as_ref()
                    .unwrap()
                    .match_labels
                    .clone()
                    .unwrap(),
            )
            .iter()
            .map(|d| r.min_pods(d))
            .sum();
        assert!(
            pods > min_available,
            "{overlay}: {name}: {pods} pod(s) under a PDB keeping {min_available}: a drain could never evict them"
        );
    }
}

/// What every app Deployment keeps from the base, however the overlay derived it.
fn assert_app_deployments_keep_the_base(r: &Rendered, overlay: &str) {
    let secrets: Vec<&str> = r
        .secrets
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    let services: Vec<&str> = r
        .services
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    for deployment in &r.deployments {
        let name = deployment.metadata.name.as_deref().unwrap();
        let o = format!("{overlay}: {name}");
        let spec = deployment.spec.as_ref().unwrap();
        let strategy = spec.strategy.as_ref().expect("a strategy");
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"), "{o}");
        let rolling = strategy.rolling_update.as_ref().expect("rollingUpdate");
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(0)), "{o}");
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(1)), "{o}");

        let app = app_container(deployment);
        let http_path = |probe: &Option<k8s_openapi::api::core::v1::Probe>, what: &str| {
            let http = probe
                .as_ref()
                .and_then(|p| p.http_get.as_ref())
                .unwrap_or_else(|| panic!("{o}: no HTTP {what}"));
            assert_eq!(http.port, IntOrString::String("http".into()), "{o}: {what}");
            http.path.clone().unwrap_or_default()
        };
        assert_eq!(http_path(&app.liveness_probe, "livenessProbe"), "/health");
        assert_eq!(http_path(&app.readiness_probe, "readinessProbe"), "/ready");
        assert_eq!(http_path(&app.startup_probe, "startupProbe"), "/health");

        let resources = app.resources.as_ref().expect("resources");
        let quantity = |map: &Option<BTreeMap<String, _>>, key: &str| {
            map.as_ref()
                .and_then(
                    |m: &BTreeMap<
                        String,
                        k8s_openapi::apimachinery::pkg::api::resource::Quantity,
                    >| m.get(key),
                )
                .map(|q| q.0.clone())
                .unwrap_or_else(|| panic!("{o}: no {key}"))
        };
        assert_eq!(quantity(&resources.requests, "cpu"), "200m", "{o}");
        assert_eq!(quantity(&resources.requests, "memory"), "250Mi", "{o}");
        assert_eq!(quantity(&resources.limits, "cpu"), "500m", "{o}");
        assert_eq!(quantity(&resources.limits, "memory"), "500Mi", "{o}");

        let pre_stop = app
            .lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref())
            .and_then(|h| h.sleep.as_ref())
            .map(|s| s.seconds);
        assert_eq!(pre_stop, Some(5), "{o}: preStop sleep");
        let pod = spec.template.spec.as_ref().unwrap();
        assert_eq!(pod.termination_grace_period_seconds, Some(35), "{o}");
        assert_eq!(pod.share_process_namespace, Some(true), "{o}");
        assert_eq!(
            app.image_pull_policy.as_deref(),
            Some("IfNotPresent"),
            "{o}: dev's settings carry over"
        );
        assert_eq!(app.image.as_deref(), Some("deploycheck-app:0.1.0"), "{o}");

        for var in ["MONGODB_USERNAME", "MONGODB_PASSWORD"] {
            let secret = env(app, var)
                .and_then(|e| e.value_from.as_ref())
                .and_then(|v| v.secret_key_ref.as_ref())
                .map(|s| s.name.as_str())
                .unwrap_or_else(|| panic!("{o}: {var} must come from a Secret"));
            assert!(
                secrets.contains(&secret),
                "{o}: {var} reads Secret {secret}, which is not rendered (rendered: {secrets:?})"
            );
        }
        let host = env(app, "MONGODB_HOST")
            .and_then(|e| e.value.as_deref())
            .unwrap_or_default();
        assert!(
            services.contains(&host),
            "{o}: MONGODB_HOST {host} is no rendered Service"
        );
    }
    // MongoDB and its NetworkPolicy come along once, and the policy admits every app pod.
    assert_eq!(r.statefulsets.len(), 1, "{overlay}: one MongoDB");
    assert_eq!(r.config_maps.len(), 1, "{overlay}: one init script");
    assert_eq!(r.secrets.len(), 1, "{overlay}: one dev Secret");
    assert_eq!(r.policies.len(), 1, "{overlay}: one NetworkPolicy");
    let policy = r.policies[0].spec.as_ref().unwrap();
    let from = policy.ingress.as_ref().unwrap()[0].from.as_ref().unwrap();
    for deployment in &r.deployments {
        assert!(
            from.iter().any(|peer| {
                peer.pod_selector
                    .as_ref()
                    .and_then(|s| s.match_labels.clone())
                    .is_some_and(|l| selects(&l, &pod_labels(deployment)))
            }),
            "{overlay}: the NetworkPolicy must let {:?} reach MongoDB",
            deployment.metadata.name
        );
    }
}

#[test]
fn blue_green_live_service_selects_exactly_one_side_and_the_preview_the_other() {
    let r = render(BLUEGREEN);
    assert_eq!(
        r.app_names(),
        ["deploycheck-app-blue", "deploycheck-app-green"]
    );
    for side in ["blue", "green"] {
        let deployment = r.deployment(&format!("deploycheck-app-{side}"));
        assert_eq!(
            pod_labels(deployment).get("version").map(String::as_str),
            Some(side)
        );
        assert_eq!(
            deployment_selector(deployment)
                .get("version")
                .map(String::as_str),
            Some(side),
            "{side}: the selector includes the side"
        );
        assert_eq!(app_version(deployment), side);
    }
    assert_disjoint_controllers(&r, BLUEGREEN);

    assert_eq!(r.services.len(), 4, "live, preview and MongoDB's two");
    let live = service_selector(r.service("deploycheck-app"));
    assert_eq!(
        live.get("app.kubernetes.io/name").map(String::as_str),
        Some("deploycheck-app")
    );
    assert_eq!(live.get("version").map(String::as_str), Some("blue"));
    assert_eq!(
        r.service_selects("deploycheck-app"),
        ["deploycheck-app-blue"]
    );
    assert_eq!(
        r.service_selects("deploycheck-app-preview"),
        ["deploycheck-app-green"]
    );
    // Both Services serve the same named port of the pods; dev's NodePort stays with live.
    for (name, kind) in [
        ("deploycheck-app", "NodePort"),
        ("deploycheck-app-preview", "ClusterIP"),
    ] {
        let spec = r.service(name).spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some(kind), "{name}");
        let port = &spec.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.port, port.target_port.clone()),
            (5000, Some(IntOrString::String("http".into()))),
            "{name}"
        );
    }

    // The HPA scales the live side; the idle side runs at least as many pods, ready for the
    // switch.
    let (target, min) = r.hpa();
    assert_eq!(target, "deploycheck-app-blue");
    assert!(min >= 2);
    assert!(r.min_pods("deploycheck-app-green") >= min);
    assert_pdbs(&r, BLUEGREEN);
}

#[test]
fn the_canary_service_selects_both_tracks_with_stable_the_larger() {
    let r = render(CANARY);
    assert_eq!(r.app_names(), ["deploycheck-app", "deploycheck-app-canary"]);
    let stable = r.deployment("deploycheck-app");
    let canary = r.deployment("deploycheck-app-canary");
    for (deployment, track) in [(stable, "stable"), (canary, "canary")] {
        assert_eq!(
            pod_labels(deployment).get("track").map(String::as_str),
            Some(track)
        );
        assert_eq!(
            deployment_selector(deployment)
                .get("track")
                .map(String::as_str),
            Some(track)
        );
        assert_eq!(app_version(deployment), track);
    }
    assert_disjoint_controllers(&r, CANARY);

    assert_eq!(r.services.len(), 3, "the app's and MongoDB's two");
    let selector = service_selector(r.service("deploycheck-app"));
    assert!(
        !selector.contains_key("track"),
        "the Service selects only the shared labels: {selector:?}"
    );
    assert_eq!(
        r.service_selects("deploycheck-app"),
        ["deploycheck-app", "deploycheck-app-canary"]
    );

    let (target, _) = r.hpa();
    assert_eq!(target, "deploycheck-app", "the HPA scales stable");
    assert_eq!(canary.spec.as_ref().unwrap().replicas, Some(1));
    assert!(
        r.min_pods("deploycheck-app") > r.min_pods("deploycheck-app-canary"),
        "stable must stay larger than the canary"
    );
    assert_pdbs(&r, CANARY);
}

#[test]
fn every_app_deployment_keeps_probes_resources_and_the_safe_rollout() {
    for overlay in [BLUEGREEN, CANARY] {
        let r = render(overlay);
        assert_eq!(r.deployments.len(), 2, "{overlay}");
        assert_app_deployments_keep_the_base(&r, overlay);
    }
}

#[test]
fn lint_finds_no_error_and_recognises_each_release() {
    let profile = Profile::built_in("reference").unwrap();
    for (overlay, kind) in [(BLUEGREEN, "blue-green"), (CANARY, "canary")] {
        let inputs = manifest::load(&[k8s_dir().join(overlay)]).expect("renders");
        let findings = lint::run(&inputs, &profile);
        let errors: Vec<String> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| format!("{} {}:{} {}", f.rule, f.origin, f.line, f.message))
            .collect();
        assert!(errors.is_empty(), "{overlay}: {errors:#?}");
        // The HPA owns the count of the Deployment it scales (DC034 is a warning).
        let dc034: Vec<&String> = findings
            .iter()
            .filter(|f| f.rule == "DC034")
            .map(|f| &f.message)
            .collect();
        assert!(dc034.is_empty(), "{overlay}: {dc034:#?}");
        let recognised: Vec<&String> = findings
            .iter()
            .filter(|f| f.rule == "DC090")
            .map(|f| &f.message)
            .collect();
        assert!(
            recognised.len() == 1 && recognised[0].starts_with(kind),
            "{overlay}: lint should recognise {kind}: {recognised:#?}"
        );
    }
}

#[test]
fn only_current_kustomize_fields() {
    for overlay in [BLUEGREEN, CANARY] {
        let mut files = vec![k8s_dir().join(overlay).join("kustomization.yaml")];
        for entry in std::fs::read_dir(k8s_dir().join(overlay)).unwrap() {
            let path = entry.unwrap().path().join("kustomization.yaml");
            if path.exists() {
                files.push(path);
            }
        }
        assert!(files.len() >= 2, "{overlay}: its sub-kustomizations");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for deprecated in DEPRECATED_KUSTOMIZE_FIELDS {
                assert!(
                    !text.contains(deprecated),
                    "{} uses deprecated {deprecated}",
                    file.display()
                );
            }
            assert!(
                !text.lines().any(|l| l.starts_with("namespace:")),
                "{}: like dev, applies into any namespace",
                file.display()
            );
        }
    }
}
