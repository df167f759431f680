//! The monitoring variant, `k8s/overlays/monitoring`: it renders with `kubectl kustomize`
//! without a warning into known Kubernetes types with no unknown field and nothing
//! cluster-scoped (the harness applies it into a namespace of its own); the app's pods carry
//! the annotations Prometheus's discovery keeps; Prometheus, Grafana's datasource, its
//! dashboard and the variant's profile agree on every name, port, interval and query; the two
//! fit beside dev on a 2-CPU node; and `deploycheck lint` finds nothing to warn about.

#[path = "support/rendered.rs"]
mod rendered;

use std::collections::BTreeMap;

use deploycheck::findings::Severity;
use deploycheck::profile::Profile;
use deploycheck::{lint, manifest, yaml};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container};
use serde_json::Value;

use rendered::{DEPRECATED_KUSTOMIZE_FIELDS, Labels, RECOMMENDED_LABELS, k8s_dir, selects};

const OVERLAY: &str = "overlays/monitoring";

/// The variant rendered and typed (a kind the tests do not know fails, ClusterRoles and
/// Namespaces included: deploycheck applies only namespaced objects, into a namespace of its
/// own).
type Variant = rendered::Rendered;

fn render() -> Variant {
    let variant = rendered::render(OVERLAY);
    assert!(
        variant.namespaced.is_empty(),
        "like dev, the variant applies into any namespace: {:?}",
        variant.namespaced
    );
    for (kind, name, labels) in &variant.labels {
        for label in RECOMMENDED_LABELS {
            assert!(
                labels.contains_key(label),
                "{kind}/{name} lacks label {label}"
            );
        }
    }
    variant
}

impl Variant {
    fn deployment(&self, name: &str) -> &Deployment {
        self.deployments
            .iter()
            .find(|d| d.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no Deployment {name}"))
    }

    fn pod_labels(&self, deployment: &str) -> Labels {
        let template = &self.deployment(deployment).spec.as_ref().unwrap().template;
        template.metadata.as_ref().unwrap().labels.clone().unwrap()
    }

    fn container(&self, deployment: &str) -> &Container {
        let spec = self.deployment(deployment).spec.as_ref().unwrap();
        &spec.template.spec.as_ref().unwrap().containers[0]
    }

    fn service_port(&self, name: &str) -> i32 {
        let service = self
            .services
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no Service {name}"));
        service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port
    }

    /// The one ConfigMap whose generated name starts with `prefix`, and its data.
    fn config_map(&self, prefix: &str) -> (&ConfigMap, &BTreeMap<String, String>) {
        let found: Vec<&ConfigMap> = self
            .config_maps
            .iter()
            .filter(|c| {
                c.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(&format!("{prefix}-")))
            })
            .collect();
        assert_eq!(found.len(), 1, "ConfigMaps named {prefix}-<hash>");
        (found[0], found[0].data.as_ref().expect("data"))
    }

    /// A YAML file of a ConfigMap, as JSON.
    fn yaml_file(&self, prefix: &str, key: &str) -> Value {
        let (_, data) = self.config_map(prefix);
        let text = data
            .get(key)
            .unwrap_or_else(|| panic!("{prefix} has no {key}"));
        yaml::parse_documents(text).expect("valid YAML")[0].to_json()
    }

    fn dashboard(&self) -> (&ConfigMap, Value) {
        let (config_map, data) = self.config_map("grafana-dashboard-deploycheck-app");
        let text = data
            .get("deploycheck-app.json")
            .expect("the dashboard file");
        (
            config_map,
            serde_json::from_str(text).expect("dashboard JSON"),
        )
    }
}

fn variant_profile() -> Profile {
    Profile::from_file(&k8s_dir().join(OVERLAY).join("deploycheck.toml"))
        .expect("the variant's profile loads")
}

fn env<'a>(container: &'a Container, name: &str) -> Option<&'a str> {
    container
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)?
        .value
        .as_deref()
}

#[test]
fn the_variant_renders_into_known_namespaced_types() {
    let variant = render();
    assert_eq!(variant.deployments.len(), 3, "app, Prometheus, Grafana");
    assert_eq!(variant.accounts.len(), 1);
    assert_eq!(variant.roles.len(), 1);
    assert_eq!(variant.bindings.len(), 1);
}

#[test]
fn the_app_pods_carry_the_annotations_prometheus_keeps() {
    let variant = render();
    let template = &variant
        .deployment("deploycheck-app")
        .spec
        .as_ref()
        .unwrap()
        .template;
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .expect("annotations");
    let profile = variant_profile();
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(
        annotations["prometheus.io/port"],
        profile.app.port.to_string()
    );
    assert_eq!(
        annotations["prometheus.io/path"],
        profile.monitoring.metrics_path
    );

    let config = variant.yaml_file("prometheus-config", "prometheus.yml");
    let interval = config["global"]["scrape_interval"].as_str().unwrap();
    assert_eq!(
        deploycheck::profile::parse_duration(interval).unwrap(),
        profile.monitoring.scrape_interval,
        "the profile's scrape interval is what check waits for"
    );
    let jobs = config["scrape_configs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(
        job["job_name"], "deploycheck-app",
        "the dashboard's `up{{job=...}}`"
    );
    let discovery = &job["kubernetes_sd_configs"][0];
    assert_eq!(discovery["role"], "pod");
    assert_eq!(
        discovery["namespaces"]["own_namespace"], true,
        "the Role allows its own namespace only"
    );
    let relabel = job["relabel_configs"].as_array().unwrap();
    let keeps = relabel.iter().any(|r| {
        r["action"] == "keep"
            && r["source_labels"][0] == "__meta_kubernetes_pod_annotation_prometheus_io_scrape"
            && r["regex"] == "true"
    });
    assert!(keeps, "only annotated pods are scraped");
    for (source, target) in [
        ("__meta_kubernetes_pod_name", "pod"),
        ("__meta_kubernetes_namespace", "namespace"),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_path",
            "__metrics_path__",
        ),
    ] {
        assert!(
            relabel
                .iter()
                .any(|r| r["source_labels"][0] == source && r["target_label"] == target),
            "{source} → {target}"
        );
    }
    assert!(
        relabel.iter().any(|r| r["target_label"] == "__address__"
            && r["source_labels"][0] == "__meta_kubernetes_pod_annotation_prometheus_io_port"),
        "the annotated port is the one scraped"
    );
}

#[test]
fn prometheus_reads_only_its_own_namespace() {
    let variant = render();
    let role = &variant.roles[0];
    for rule in role.rules.as_ref().unwrap() {
        assert_eq!(rule.api_groups.as_deref(), Some(&[String::new()][..]));
        for verb in &rule.verbs {
            assert!(["get", "list", "watch"].contains(&verb.as_str()), "{verb}");
        }
    }
    let binding = &variant.bindings[0];
    assert_eq!(binding.role_ref.kind, "Role");
    assert_eq!(binding.role_ref.name, role.metadata.name.clone().unwrap());
    let subject = &binding.subjects.as_ref().unwrap()[0];
    assert_eq!(subject.kind, "ServiceAccount");
    assert_eq!(
        subject.namespace, None,
        "a namespace here would tie it to one; unset, it is the binding's"
    );
    let pod = variant
        .deployment("prometheus")
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .clone()
        .unwrap();
    assert_eq!(pod.service_account_name, Some(subject.name.clone()));
    assert_eq!(
        variant.accounts[0].metadata.name,
        Some(subject.name.clone())
    );
    assert_eq!(
        pod.automount_service_account_token,
        Some(true),
        "discovery needs the token"
    );
    let container = variant.container("prometheus");
    assert_eq!(container.image.as_deref(), Some("prom/prometheus:v2.55.1"));
    let args = container.args.clone().unwrap();
    assert!(args.contains(&"--storage.tsdb.retention.time=2h".to_string()));
    let probe = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(
        probe(&container.readiness_probe).as_deref(),
        Some("/-/ready")
    );
    assert_eq!(
        probe(&container.liveness_probe).as_deref(),
        Some("/-/healthy")
    );
}

#[test]
fn grafana_shows_the_app_dashboard_from_prometheus() {
    let variant = render();
    let profile = variant_profile();
    let datasources = variant.yaml_file("grafana-provisioning", "datasources.yaml");
    let datasource = &datasources["datasources"][0];
    assert_eq!(datasource["type"], "prometheus");
    assert_eq!(datasource["isDefault"], true);
    assert_eq!(
        datasource["url"],
        format!(
            "http://{}:{}",
            profile.monitoring.prometheus_service,
            variant.service_port(&profile.monitoring.prometheus_service)
        )
    );
    assert_eq!(
        i64::from(variant.service_port(&profile.monitoring.prometheus_service)),
        i64::from(profile.monitoring.prometheus_port)
    );
    assert_eq!(
        i64::from(variant.service_port(&profile.monitoring.grafana_service)),
        i64::from(profile.monitoring.grafana_port)
    );

    let (config_map, dashboard) = variant.dashboard();
    let labels = config_map.metadata.labels.as_ref().unwrap();
    assert_eq!(
        labels.get("grafana_dashboard").map(String::as_str),
        Some("1"),
        "the label the Grafana chart's sidecar discovers"
    );
    assert_eq!(dashboard["uid"], profile.monitoring.dashboard.as_str());
    assert_eq!(dashboard["title"], "deploycheck app");
    let panels: Vec<(String, String)> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(
                p["targets"][0]["datasource"]["uid"], datasource["uid"],
                "{}: the provisioned datasource",
                p["title"]
            );
            (
                p["title"].as_str().unwrap().to_string(),
                p["targets"][0]["expr"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("Request rate", "sum(rate(http_requests_total[1m]))"),
        (
            "Error ratio",
            r#"(sum(rate(http_requests_total{status=~"5.."}[1m])) or vector(0)) / sum(rate(http_requests_total[1m]))"#,
        ),
        (
            "p95 latency",
            "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        ),
        ("Pods scraped", r#"count(up{job="deploycheck-app"} == 1)"#),
    ]
    .map(|(t, e)| (t.to_string(), e.to_string()));
    assert_eq!(panels, expected);

    // The provider reads the directory the dashboard ConfigMap is mounted at.
    let providers = variant.yaml_file("grafana-provisioning", "dashboards.yaml");
    let path = providers["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let grafana = variant.deployment("grafana").spec.as_ref().unwrap();
    let pod = grafana.template.spec.as_ref().unwrap();
    let volume = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| {
            v.config_map.as_ref().map(|c| c.name.as_str()) == config_map.metadata.name.as_deref()
        })
        .expect("a volume of the dashboard ConfigMap");
    let mount = pod.containers[0]
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == volume.name)
        .expect("mounted");
    assert_eq!(mount.mount_path, path);
    let container = variant.container("grafana");
    assert_eq!(env(container, "GF_AUTH_ANONYMOUS_ENABLED"), Some("true"));
    assert_eq!(env(container, "GF_AUTH_ANONYMOUS_ORG_ROLE"), Some("Viewer"));
}

#[test]
fn prometheus_and_grafana_fit_beside_dev_on_a_two_cpu_node() {
    let variant = render();
    for name in ["prometheus", "grafana"] {
        let container = variant.container(name);
        let resources = container.resources.as_ref().unwrap();
        let requests = resources.requests.as_ref().unwrap();
        let cpu = deploycheck::quantity::cpu_millis(&requests["cpu"].0).unwrap();
        assert!(cpu <= 100, "{name} requests {cpu}m CPU");
        assert!(
            resources
                .limits
                .as_ref()
                .is_some_and(|l| l.contains_key("cpu") && l.contains_key("memory"))
        );
        let image = container.image.as_deref().unwrap();
        assert!(
            image
                .rsplit_once(':')
                .is_some_and(|(_, tag)| tag != "latest"),
            "{image} is pinned"
        );
    }
}

#[test]
fn the_profiles_services_select_prometheus_and_grafana() {
    let profile = variant_profile();
    let variant = render();
    for (service, deployment) in [
        (&profile.monitoring.prometheus_service, "prometheus"),
        (&profile.monitoring.grafana_service, "grafana"),
    ] {
        let selector = variant
            .services
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(service.as_str()))
            .and_then(|s| s.spec.as_ref()?.selector.clone())
            .unwrap_or_else(|| panic!("no Service {service} with a selector"));
        assert!(
            selects(&selector, &variant.pod_labels(deployment)),
            "Service {service} selects the {deployment} pods"
        );
        assert!(
            !selects(&selector, &variant.pod_labels("deploycheck-app")),
            "Service {service} keeps off the app's pods"
        );
    }
}

#[test]
fn prometheus_and_grafana_are_not_taken_for_a_release() {
    // Deployments beside the app are never two sides of a release, whatever their labels:
    // the variant leaves `[strategy] kind` at auto and lint states no strategy.
    assert_eq!(
        variant_profile().strategy.kind,
        deploycheck::profile::StrategyKind::Auto
    );
    let inputs = manifest::load(&[k8s_dir().join(OVERLAY)]).expect("renders");
    let stated: Vec<String> = lint::run(&inputs, &variant_profile())
        .iter()
        .filter(|f| f.rule == "DC090")
        .map(|f| f.message.clone())
        .collect();
    assert!(stated.is_empty(), "{stated:?}");
}

#[test]
fn lint_finds_nothing_to_warn_about() {
    let inputs = manifest::load(&[k8s_dir().join(OVERLAY)]).expect("renders");
    for profile in [Profile::built_in("reference").unwrap(), variant_profile()] {
        let findings: Vec<String> = lint::run(&inputs, &profile)
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .map(|f| format!("{} {}:{} {}", f.rule, f.origin, f.line, f.message))
            .collect();
        assert!(findings.is_empty(), "{findings:#?}");
    }
}

#[test]
fn only_current_kustomize_fields() {
    let text = std::fs::read_to_string(k8s_dir().join(OVERLAY).join("kustomization.yaml")).unwrap();
    for deprecated in DEPRECATED_KUSTOMIZE_FIELDS {
        assert!(!text.contains(deprecated), "uses deprecated {deprecated}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("namespace:")),
        "like dev, applies into any namespace"
    );
}
