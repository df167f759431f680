//! The reference manifests in `k8s/`, rendered with `kubectl kustomize` and typed: a document of
//! a kind the tests do not know, or with a field its Kubernetes type does not know, fails.
//! Also the small accessors the manifest tests read the typed objects with.
#![allow(dead_code)] // each test binary uses part of this module

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use deploycheck::yaml;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, Namespace, PodSpec, PodTemplateSpec, Secret, Service,
    ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub type Labels = BTreeMap<String, String>;

/// The labels every rendered object carries.
pub const RECOMMENDED_LABELS: [&str; 4] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
];

/// Kustomization fields kustomize v5 deprecates: no kustomization under `k8s/` may use one.
pub const DEPRECATED_KUSTOMIZE_FIELDS: [&str; 6] = [
    "commonLabels:",
    "patchesStrategicMerge:",
    "patchesJson6902:",
    "vars:",
    "bases:",
    "imageTags:",
];

pub fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s")
}

/// Every rendered object, typed.
#[derive(Default)]
pub struct Rendered {
    /// The directory under `k8s/` it was rendered from.
    pub name: String,
    pub deployments: Vec<Deployment>,
    pub statefulsets: Vec<StatefulSet>,
    pub services: Vec<Service>,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    pub pdbs: Vec<PodDisruptionBudget>,
    pub policies: Vec<NetworkPolicy>,
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
    pub namespaces: Vec<Namespace>,
    pub accounts: Vec<ServiceAccount>,
    pub roles: Vec<Role>,
    pub bindings: Vec<RoleBinding>,
    /// `Kind/name` of every object that names its own namespace.
    pub namespaced: Vec<String>,
    /// (kind, name, labels) of every object.
    pub labels: Vec<(String, String, Labels)>,
}

/// Deserialises `value` as `T` and fails on any field `T` does not know: the typed value,
/// serialised again, must be the document itself.
fn typed<T: DeserializeOwned + serde::Serialize>(value: &Value, what: &str) -> T {
    let object: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{what} does not parse as its kind: {e}"));
    let again = serde_json::to_value(&object).unwrap();
    if let Some(path) = first_difference(value, &again, String::new()) {
        panic!("{what}: field `{path}` is unknown to the Kubernetes API (misspelt or misplaced?)");
    }
    object
}

fn first_difference(original: &Value, typed: &Value, path: String) -> Option<String> {
    match (original, typed) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(key, value)| {
            let here = format!("{path}.{key}");
            match b.get(key) {
                None if value.is_null() => None,
                None => Some(here),
                Some(other) => first_difference(value, other, here),
            }
        }),
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, format!("{path}[{i}]"))),
        _ => None,
    }
}

/// Renders `k8s/{dir}`, which must succeed without a warning, and types every document.
pub fn render(dir: &str) -> Rendered {
    let path = k8s_dir().join(dir);
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("these tests need kubectl (1.27+, kustomize v5 built in) on PATH: {e}")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubectl kustomize {dir} failed: {stderr}"
    );
    assert!(
        stderr.trim().is_empty(),
        "kubectl kustomize {dir} warned: {stderr}"
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut rendered = Rendered {
        name: dir.to_string(),
        ..Rendered::default()
    };
    for document in yaml::parse_documents(&text).expect("rendered YAML parses") {
        let value = document.to_json();
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let what = format!("{dir}: {kind}/{name}");
        let labels = value["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        rendered.labels.push((kind.clone(), name.clone(), labels));
        if !value["metadata"]["namespace"].is_null() {
            rendered.namespaced.push(format!("{kind}/{name}"));
        }
        match (
            value["apiVersion"].as_str().unwrap_or_default(),
            kind.as_str(),
        ) {
            ("apps/v1", "Deployment") => rendered.deployments.push(typed(&value, &what)),
            ("apps/v1", "StatefulSet") => rendered.statefulsets.push(typed(&value, &what)),
            ("v1", "Service") => rendered.services.push(typed(&value, &what)),
            ("autoscaling/v2", "HorizontalPodAutoscaler") => {
                rendered.hpas.push(typed(&value, &what))
            }
            ("policy/v1", "PodDisruptionBudget") => rendered.pdbs.push(typed(&value, &what)),
            ("networking.k8s.io/v1", "NetworkPolicy") => {
                rendered.policies.push(typed(&value, &what))
            }
            ("v1", "ConfigMap") => rendered.config_maps.push(typed(&value, &what)),
            ("v1", "Secret") => rendered.secrets.push(typed(&value, &what)),
            ("v1", "Namespace") => rendered.namespaces.push(typed(&value, &what)),
            ("v1", "ServiceAccount") => rendered.accounts.push(typed(&value, &what)),
            ("rbac.authorization.k8s.io/v1", "Role") => rendered.roles.push(typed(&value, &what)),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                rendered.bindings.push(typed(&value, &what))
            }
            (api, kind) => {
                panic!("{dir}: unexpected {api} {kind} {name}: add it to this test deliberately")
            }
        }
    }
    rendered
}

pub fn one<'a, T>(items: &'a [T], what: &str, overlay: &str) -> &'a T {
    assert_eq!(items.len(), 1, "{overlay}: expected exactly one {what}");
    &items[0]
}

pub fn pod_spec<'a>(spec: Option<&'a PodSpec>, what: &str) -> &'a PodSpec {
    spec.unwrap_or_else(|| panic!("{what} has no pod spec"))
}

pub fn quantity(container: &Container, section: &str, resource: &str) -> String {
    let resources = container.resources.as_ref().expect("resources");
    let map = if section == "requests" {
        &resources.requests
    } else {
        &resources.limits
    };
    map.as_ref()
        .and_then(|m| m.get(resource))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| panic!("container {} has no {section}.{resource}", container.name))
}

/// The variable `name` of `container`'s environment, if it sets one.
pub fn env<'a>(container: &'a Container, name: &str) -> Option<&'a EnvVar> {
    container
        .env
        .as_ref()
        .and_then(|env| env.iter().find(|e| e.name == name))
}

/// The variable `name` of `container`'s environment, which it must set.
pub fn env_value<'a>(container: &'a Container, name: &str) -> &'a EnvVar {
    env(container, name).unwrap_or_else(|| panic!("container {} has no env {name}", container.name))
}

pub fn service_named<'a>(services: &'a [Service], name: &str) -> Option<&'a Service> {
    services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
}

/// The Service's selector: empty when it has none.
pub fn service_selector(service: &Service) -> Labels {
    service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default()
}

pub fn template_labels(template: &PodTemplateSpec) -> Labels {
    template.metadata.as_ref().unwrap().labels.clone().unwrap()
}

pub fn match_labels(selector: &Option<LabelSelector>) -> Option<Labels> {
    selector.as_ref().and_then(|s| s.match_labels.clone())
}

/// A selector picks pods only when it names labels and they all match: the harness's own rule.
pub use deploycheck::strategy::selects;
