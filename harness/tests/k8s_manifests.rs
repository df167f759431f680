//! The reference manifests in `k8s/`: every overlay renders with `kubectl kustomize` without a
//! warning, every document is a known Kubernetes type with no unknown or misspelt field, and
//! the properties the design promises hold on the rendered objects, so an edit that drops one
//! fails here. Also: `deploycheck lint` raises no error on any of them.

#[path = "support/rendered.rs"]
mod rendered;

use deploycheck::findings::{Finding, Severity};
use deploycheck::profile::Profile;
use deploycheck::{lint, manifest};

use rendered::{
    DEPRECATED_KUSTOMIZE_FIELDS, RECOMMENDED_LABELS, Rendered, env_value, k8s_dir, match_labels,
    one, pod_spec, quantity, render, selects, service_named, service_selector, template_labels,
};

const OVERLAYS: [&str; 3] = ["dev", "preprod", "prod"];

fn check_overlay(r: &Rendered) {
    let o = r.name.trim_start_matches("overlays/");
    let deployment = one(&r.deployments, "Deployment", o);
    let statefulset = one(&r.statefulsets, "StatefulSet", o);
    let app_name = deployment.metadata.name.clone().unwrap();
    let db_name = statefulset.metadata.name.clone().unwrap();

    // App: replicas, strategy, probes, resources, secrets, security.
    let spec = deployment.spec.as_ref().unwrap();
    // The HPA owns the count (its minReplicas is asserted below): a spec.replicas would be reset
    // on every apply.
    assert_eq!(spec.replicas, None, "{o}: app replicas belong to the HPA");
    let strategy = spec.strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"), "{o}");
    let max_unavailable = strategy
        .rolling_update
        .as_ref()
        .unwrap()
        .max_unavailable
        .as_ref();
    assert_eq!(
        max_unavailable,
        Some(&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0)),
        "{o}: maxUnavailable must be 0"
    );
    let pod = pod_spec(spec.template.spec.as_ref(), "the app");
    let app = one(&pod.containers, "app container", o);
    let http_port = app
        .ports
        .as_ref()
        .and_then(|ports| ports.iter().find(|p| p.name.as_deref() == Some("http")))
        .unwrap_or_else(|| panic!("{o}: app has no port named http"));
    assert_eq!(http_port.container_port, 5000, "{o}");
    let probe_path = |probe: &Option<k8s_openapi::api::core::v1::Probe>, what: &str| {
        let http = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("{o}: app has no HTTP {what}"));
        assert_eq!(
            http.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into()),
            "{o}: {what} must use the declared port"
        );
        http.path.clone().unwrap_or_default()
    };
    assert_eq!(
        probe_path(&app.liveness_probe, "livenessProbe"),
        "/health",
        "{o}"
    );
    assert_eq!(
        probe_path(&app.readiness_probe, "readinessProbe"),
        "/ready",
        "{o}"
    );
    assert_eq!(quantity(app, "requests", "cpu"), "200m", "{o}");
    assert_eq!(quantity(app, "requests", "memory"), "250Mi", "{o}");
    assert_eq!(quantity(app, "limits", "cpu"), "500m", "{o}");
    assert_eq!(quantity(app, "limits", "memory"), "500Mi", "{o}");
    for secret_var in ["MONGODB_USERNAME", "MONGODB_PASSWORD"] {
        let var = env_value(app, secret_var);
        assert!(var.value.is_none(), "{o}: {secret_var} must not be literal");
        let reference = var
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .unwrap_or_else(|| panic!("{o}: {secret_var} must come from a secretKeyRef"));
        let secret_name = reference.name.as_str();
        let generated = r
            .secrets
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some(secret_name));
        assert!(
            generated || (o != "dev" && secret_name == "mongodb-credentials"),
            "{o}: {secret_var} names Secret {secret_name}, which is neither rendered nor the documented external one"
        );
    }
    assert!(
        r.secrets.is_empty() || o == "dev",
        "{o}: only dev may carry a Secret in git"
    );
    let host = env_value(app, "MONGODB_HOST")
        .value
        .clone()
        .unwrap_or_default();
    let db_service = service_named(&r.services, &host)
        .unwrap_or_else(|| panic!("{o}: MONGODB_HOST {host:?} is not a rendered Service"));
    let db_pod_labels = template_labels(&statefulset.spec.as_ref().unwrap().template);
    assert!(
        selects(&service_selector(db_service), &db_pod_labels),
        "{o}: Service {host} does not select the MongoDB pods"
    );
    let pod_security = pod.security_context.as_ref().expect("pod securityContext");
    assert_eq!(pod_security.run_as_non_root, Some(true), "{o}");
    assert!(
        pod_security.run_as_user.is_some_and(|u| u > 0),
        "{o}: numeric non-root user"
    );
    assert_eq!(
        pod_security
            .seccomp_profile
            .as_ref()
            .map(|s| s.type_.as_str()),
        Some("RuntimeDefault"),
        "{o}"
    );
    let security = app
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(security.allow_privilege_escalation, Some(false), "{o}");
    assert_eq!(security.read_only_root_filesystem, Some(true), "{o}");
    assert_eq!(
        security.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_string()]),
        "{o}"
    );
    // The liveness scenario freezes the app with SIGSTOP, which the kernel ignores for a PID
    // namespace's init: the app must not be PID 1.
    assert_eq!(pod.share_process_namespace, Some(true), "{o}");
    let grace = pod.termination_grace_period_seconds.unwrap_or(30);
    let pre_stop = app
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|h| h.sleep.as_ref())
        .map(|s| s.seconds)
        .unwrap_or_else(|| panic!("{o}: app needs a preStop sleep"));
    let drain_ms: i64 = env_value(app, "SHUTDOWN_TIMEOUT_MS")
        .value
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        grace * 1000 > pre_stop * 1000 + drain_ms,
        "{o}: grace period {grace}s must exceed preStop + drain"
    );
    let image = app.image.as_deref().unwrap();
    assert!(
        image.contains("@sha256:") || (image.contains(':') && !image.ends_with(":latest")),
        "{o}: image {image} must be pinned"
    );

    // App Service, HPA, PDB.
    let app_service = service_named(&r.services, &app_name)
        .unwrap_or_else(|| panic!("{o}: no Service named like the app"));
    let app_labels = template_labels(&spec.template);
    assert!(
        selects(&service_selector(app_service), &app_labels),
        "{o}: app Service does not select the app pods"
    );
    let service_spec = app_service.spec.as_ref().unwrap();
    if o == "dev" {
        assert_eq!(service_spec.type_.as_deref(), Some("NodePort"), "{o}");
        assert_eq!(
            service_spec.ports.as_ref().unwrap()[0].node_port,
            Some(30500),
            "{o}"
        );
        assert_eq!(
            app.image_pull_policy.as_deref(),
            Some("IfNotPresent"),
            "{o}"
        );
    } else {
        assert_eq!(service_spec.type_.as_deref(), Some("ClusterIP"), "{o}");
    }
    let hpa = one(&r.hpas, "HPA", o).spec.as_ref().unwrap();
    assert_eq!(hpa.scale_target_ref.kind, "Deployment", "{o}");
    assert_eq!(
        hpa.scale_target_ref.name, app_name,
        "{o}: HPA must target the rendered Deployment"
    );
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(2), 5), "{o}");
    let cpu = hpa
        .metrics
        .as_ref()
        .and_then(|m| {
            m.iter()
                .find_map(|m| m.resource.as_ref().filter(|r| r.name == "cpu"))
        })
        .expect("a CPU metric");
    assert_eq!(cpu.target.average_utilization, Some(70), "{o}");
    let scale_down = hpa.behavior.as_ref().and_then(|b| b.scale_down.as_ref());
    assert!(
        scale_down
            .and_then(|s| s.stabilization_window_seconds)
            .is_some_and(|w| w > 0),
        "{o}: scale-down needs a stabilisation window"
    );
    let pdb = one(&r.pdbs, "PodDisruptionBudget", o)
        .spec
        .as_ref()
        .unwrap();
    assert_eq!(
        pdb.min_available,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1)),
        "{o}"
    );
    assert!(
        selects(
            &match_labels(&pdb.selector).unwrap_or_default(),
            &app_labels
        ),
        "{o}: PDB does not select the app pods"
    );

    // MongoDB: StatefulSet with a headless Service, auth from the Secret, data on a PVC.
    let sts = statefulset.spec.as_ref().unwrap();
    assert_eq!(sts.replicas, Some(1), "{o}");
    let headless = service_named(&r.services, sts.service_name.as_deref().unwrap_or_default())
        .unwrap_or_else(|| panic!("{o}: serviceName is not a rendered Service"));
    assert_eq!(
        headless.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some("None"),
        "{o}: headless"
    );
    let db_pod = pod_spec(sts.template.spec.as_ref(), "MongoDB");
    let mongo = one(&db_pod.containers, "MongoDB container", o);
    let mongo_image = mongo.image.as_deref().unwrap();
    assert!(
        mongo_image.starts_with("mongo:") && !mongo_image.ends_with(":latest"),
        "{o}: {mongo_image}"
    );
    for var in [
        "MONGO_INITDB_ROOT_USERNAME",
        "MONGO_INITDB_ROOT_PASSWORD",
        "MONGO_APP_USERNAME",
        "MONGO_APP_PASSWORD",
    ] {
        assert!(
            env_value(mongo, var)
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
                .is_some(),
            "{o}: {var} must come from the Secret"
        );
    }
    for probe in [&mongo.liveness_probe, &mongo.readiness_probe] {
        let command = probe
            .as_ref()
            .and_then(|p| p.exec.as_ref())
            .and_then(|e| e.command.clone())
            .unwrap_or_default();
        assert!(
            command.first().is_some_and(|c| c == "mongosh"),
            "{o}: MongoDB probes must ask the database"
        );
    }
    assert!(
        mongo
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .is_some(),
        "{o}: MongoDB limits"
    );
    let data_mount = mongo
        .volume_mounts
        .as_ref()
        .and_then(|m| m.iter().find(|m| m.mount_path == "/data/db"))
        .unwrap_or_else(|| panic!("{o}: nothing at /data/db"));
    let templates = sts
        .volume_claim_templates
        .as_ref()
        .expect("volumeClaimTemplates");
    assert!(
        templates
            .iter()
            .any(|t| t.metadata.name.as_deref() == Some(data_mount.name.as_str())),
        "{o}: /data/db must come from volumeClaimTemplates"
    );
    let storage = templates[0]
        .spec
        .as_ref()
        .unwrap()
        .resources
        .as_ref()
        .unwrap()
        .requests
        .as_ref()
        .unwrap()["storage"]
        .0
        .clone();
    let expected_storage = match o {
        "dev" => "1Gi",
        "preprod" => "5Gi",
        _ => "20Gi",
    };
    assert_eq!(storage, expected_storage, "{o}: storage");
    let init = db_pod
        .volumes
        .as_ref()
        .and_then(|v| v.iter().find_map(|v| v.config_map.as_ref()))
        .expect("the init script volume");
    let script = r
        .config_maps
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(init.name.as_str()))
        .and_then(|c| c.data.as_ref())
        .and_then(|d| d.get("init-app-user.js"))
        .unwrap_or_else(|| panic!("{o}: the init script ConfigMap is not rendered"));
    assert!(
        script.contains("readWrite") && script.contains("process.env.MONGO_APP_PASSWORD"),
        "{o}"
    );

    // NetworkPolicy: MongoDB pods accept 27017 from app pods only.
    let policy = one(&r.policies, "NetworkPolicy", o).spec.as_ref().unwrap();
    let target = match_labels(&policy.pod_selector).unwrap_or_default();
    assert!(
        selects(&target, &db_pod_labels),
        "{o}: NetworkPolicy must select MongoDB pods"
    );
    let rules = policy.ingress.as_ref().expect("ingress rules");
    assert_eq!(rules.len(), 1, "{o}");
    let from = rules[0].from.as_ref().expect("a from clause");
    assert!(
        from.iter().all(|peer| {
            peer.namespace_selector.is_none()
                && peer.ip_block.is_none()
                && match_labels(&peer.pod_selector).is_some_and(|l| selects(&l, &app_labels))
        }),
        "{o}: only app pods may reach MongoDB"
    );
    assert_eq!(
        rules[0].ports.as_ref().unwrap()[0].port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(27017))
    );

    // Labels everywhere, and namespaces per environment.
    for (kind, name, labels) in &r.labels {
        for label in RECOMMENDED_LABELS {
            assert!(
                labels.contains_key(label),
                "{o}: {kind}/{name} lacks label {label}"
            );
        }
    }
    match o {
        "dev" => assert!(r.namespaces.is_empty(), "dev applies into any namespace"),
        env => {
            let expected = format!("deploycheck-{env}");
            assert_eq!(
                one(&r.namespaces, "Namespace", o).metadata.name.as_deref(),
                Some(expected.as_str())
            );
            assert!(
                app_name.ends_with(&format!("-{env}")) && db_name.ends_with(&format!("-{env}")),
                "{o}: name suffix"
            );
            assert!(
                r.deployments[0].metadata.namespace.as_deref() == Some(expected.as_str()),
                "{o}: objects must live in {expected}"
            );
        }
    }
}

#[test]
fn every_overlay_renders_into_known_types_with_the_promised_properties() {
    for overlay in OVERLAYS {
        check_overlay(&render(&format!("overlays/{overlay}")));
    }
}

#[test]
fn the_base_sets_no_namespace() {
    let base = render("base");
    for deployment in &base.deployments {
        assert!(deployment.metadata.namespace.is_none());
    }
    for (kind, name, _) in &base.labels {
        assert_ne!(kind, "Namespace", "{name}");
    }
    let text = std::fs::read_to_string(k8s_dir().join("base/kustomization.yaml")).unwrap();
    assert!(!text.lines().any(|l| l.starts_with("namespace:")));
}

/// The base and every overlay, as directories under `k8s/`.
const KUSTOMIZATIONS: [&str; 4] = ["base", "overlays/dev", "overlays/preprod", "overlays/prod"];

/// Each kustomization with the findings `keep` picks of linting it under the reference profile.
fn lint_each_kustomization(keep: impl Fn(&Finding) -> bool) -> Vec<(&'static str, Vec<Finding>)> {
    let profile = Profile::built_in("reference").unwrap();
    KUSTOMIZATIONS
        .into_iter()
        .map(|dir| {
            let inputs = manifest::load(&[k8s_dir().join(dir)]).expect("renders");
            let findings = lint::run(&inputs, &profile)
                .into_iter()
                .filter(&keep)
                .collect();
            (dir, findings)
        })
        .collect()
}

#[test]
fn lint_finds_no_error_in_any_overlay() {
    for (overlay, errors) in lint_each_kustomization(|f| f.severity == Severity::Error) {
        let errors: Vec<String> = errors
            .iter()
            .map(|f| format!("{} {}:{} {}", f.rule, f.origin, f.line, f.message))
            .collect();
        assert!(errors.is_empty(), "{overlay}: {errors:#?}");
    }
}

/// The errors-only test above would not notice DC034 (a warning) firing: the reference
/// manifests leave the app's replica count to its HPA, as the rule asks.
#[test]
fn lint_leaves_the_app_replica_count_to_the_hpa() {
    for (overlay, findings) in lint_each_kustomization(|f| f.rule == "DC034") {
        let findings: Vec<String> = findings
            .iter()
            .map(|f| format!("{}:{} {}", f.origin, f.line, f.message))
            .collect();
        assert!(findings.is_empty(), "{overlay}: {findings:#?}");
    }
}

#[test]
fn no_deprecated_kustomize_fields() {
    for dir in KUSTOMIZATIONS {
        let text = std::fs::read_to_string(k8s_dir().join(dir).join("kustomization.yaml")).unwrap();
        for deprecated in DEPRECATED_KUSTOMIZE_FIELDS {
            assert!(
                !text.contains(deprecated),
                "{dir} uses deprecated {deprecated}"
            );
        }
    }
}
