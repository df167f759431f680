//! Rules over Kubernetes objects, one file per family: [`workloads`] (images, the database's
//! StatefulSet, availability), [`probes`], [`resources_security`] (requests and limits,
//! security context, credentials, database auth), [`networking`] (Services and the database
//! host), [`autoscaling`] (HPAs), [`storage`] (the database's volume), [`releases`] (blue-green
//! and canary) and [`monitoring`] (scrape configuration and dashboards).
//!
//! This file holds what the families share: the view of the manifests every rule reads
//! ([`Manifests`], its [`Workload`]s and [`Container`]s), the helpers over pod templates and
//! connection strings, and the registration. Adding a rule is a `rule!` and a function in its
//! family's file, and one line in [`CONTAINER_CHECKS`] or [`MANIFEST_CHECKS`].

use std::collections::BTreeMap;

use crate::findings::{Finding, Rule, finding};
use crate::manifest::Object;
use crate::profile::Profile;
use crate::strategy::selects;
use crate::yaml::Node;

mod autoscaling;
mod monitoring;
mod networking;
mod probes;
mod releases;
mod resources_security;
mod storage;
mod workloads;

/// Every family's rules; [`rules`] lists them by id.
const FAMILIES: [&[Rule]; 8] = [
    &workloads::RULES,
    &probes::RULES,
    &resources_security::RULES,
    &networking::RULES,
    &autoscaling::RULES,
    &storage::RULES,
    &releases::RULES,
    &monitoring::RULES,
];

/// A rule over one container of a workload.
type ContainerCheck = fn(&Manifests, &Container, &mut Vec<Finding>);

/// A rule over the manifests as a whole.
type ManifestCheck = fn(&Manifests, &mut Vec<Finding>);

/// Run for every container (init containers included) of every workload, in this order.
const CONTAINER_CHECKS: [ContainerCheck; 7] = [
    workloads::image,                       // DC050, DC051
    resources_security::resources,          // DC020, DC021
    resources_security::resource_bounds,    // DC022
    resources_security::security_context,   // DC060, DC061, DC062
    resources_security::credentials_in_env, // DC002
    networking::database_host,              // DC001
    probes::probes,                         // DC010, DC011, DC012, DC013
];

/// Run once, after the container checks.
const MANIFEST_CHECKS: [ManifestCheck; 12] = [
    resources_security::database_auth,             // DC003
    storage::database_data,                        // DC004
    workloads::database_statefulset,               // DC005
    autoscaling::hpas,                             // DC030, DC031, DC032, DC033
    autoscaling::hpa_owned_replicas,               // DC034
    networking::services,                          // DC040, DC041
    workloads::availability,                       // DC070, DC071
    resources_security::credentials_in_configmaps, // DC002, after those in env
    releases::releases,                            // DC090 to DC096
    monitoring::monitors,                          // DC100 to DC106
    monitoring::scrape_annotations,                // DC107, DC108
    monitoring::dashboard_queries,                 // DC109 to DC112
];

/// The Kubernetes rules, by id.
pub fn rules() -> impl Iterator<Item = &'static Rule> {
    let mut rules: Vec<&'static Rule> = FAMILIES.into_iter().flatten().collect();
    rules.sort_by_key(|rule| rule.id);
    rules.into_iter()
}

/// Runs every Kubernetes rule.
pub fn check(objects: &[Object], profile: &Profile) -> Vec<Finding> {
    let manifests = Manifests::new(objects, profile);
    let mut out = Vec::new();
    for container in manifests.containers() {
        for check in CONTAINER_CHECKS {
            check(&manifests, &container, &mut out);
        }
    }
    for check in MANIFEST_CHECKS {
        check(&manifests, &mut out);
    }
    out
}

/// The manifests as every rule reads them: the objects and what is derived from them once.
struct Manifests<'a> {
    objects: &'a [Object],
    profile: &'a Profile,
    workloads: Vec<Workload<'a>>,
    services: Vec<&'a Object>,
    /// The release strategy the Deployments and Services form, if any.
    release: Option<crate::strategy::Release>,
}

impl<'a> Manifests<'a> {
    fn new(objects: &'a [Object], profile: &'a Profile) -> Manifests<'a> {
        let mut manifests = Manifests {
            objects,
            profile,
            workloads: workloads(objects, profile),
            services: objects.iter().filter(|o| o.kind == "Service").collect(),
            release: None,
        };
        manifests.release = crate::strategy::recognise(
            &manifests.sides(),
            &manifests.routes(),
            &profile.app.service,
        );
        manifests
    }

    /// The largest `minReplicas` of the HPAs that scale `workload`.
    fn hpa_minimum(&self, workload: &Object) -> Option<i64> {
        crate::manifest::of_kind(self.objects, "HorizontalPodAutoscaler")
            .filter(|h| scales(h, workload))
            .map(|h| {
                h.node
                    .path(&["spec", "minReplicas"])
                    .and_then(Node::as_i64)
                    .unwrap_or(1)
            })
            .max()
    }

    /// The app Deployments as release sides. A side an HPA scales runs at least the HPA's
    /// `minReplicas` (its own `replicas` is then usually left out: the HPA owns it).
    fn sides(&self) -> Vec<crate::strategy::Side> {
        self.workloads
            .iter()
            // Only the app's Deployments (by the profile's labels, or reading the database) can
            // be its release's sides: a Prometheus beside a Grafana differ in one label too.
            .filter(|w| w.object.kind == "Deployment" && !w.is_database)
            .filter(|w| {
                let app = &self.profile.app.labels;
                w.is_app || app.is_empty() || selects(app, &w.pod_labels)
            })
            .map(|w| {
                let own = w
                    .object
                    .node
                    .path(&["spec", "replicas"])
                    .and_then(Node::as_i64)
                    .unwrap_or(1);
                crate::strategy::Side {
                    name: w.object.name.clone(),
                    labels: w.pod_labels.clone(),
                    replicas: own.max(self.hpa_minimum(w.object).unwrap_or(0)) as i32,
                }
            })
            .collect()
    }

    /// The Services with a selector, as release routes.
    fn routes(&self) -> Vec<crate::strategy::Route> {
        self.services
            .iter()
            .filter_map(|s| {
                Some(crate::strategy::Route {
                    name: s.name.clone(),
                    selector: labels(Some(s.node.path(&["spec", "selector"])?)),
                })
            })
            .collect()
    }

    /// Whether Deployment `name` is the canary side of a canary release (one replica is what
    /// a canary is for, not an availability problem).
    fn is_canary(&self, name: &str) -> bool {
        self.release
            .as_ref()
            .is_some_and(|r| r.kind == crate::strategy::Kind::Canary && r.sides[1].name == name)
    }

    /// Every container of every workload, init containers after the others.
    fn containers(&self) -> impl Iterator<Item = Container<'_>> {
        self.workloads.iter().flat_map(|workload| {
            all_containers(workload.pod_spec).map(move |node| Container {
                workload,
                node,
                name: container_name(node),
                is_init: !containers(workload.pod_spec)
                    .iter()
                    .any(|c| std::ptr::eq(c, node)),
            })
        })
    }
}

/// A Pod-owning object and its pod template.
struct Workload<'a> {
    object: &'a Object,
    pod_spec: &'a Node,
    pod_labels: BTreeMap<String, String>,
    is_database: bool,
    is_app: bool,
}

/// One container of a workload.
struct Container<'a> {
    workload: &'a Workload<'a>,
    node: &'a Node,
    /// Its name, or `?`.
    name: String,
    /// An init container (it runs to completion, so it needs no probes).
    is_init: bool,
}

const WORKLOAD_KINDS: [&str; 7] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Pod",
];

pub(super) fn pod_template(object: &Object) -> Option<(&Node, Option<&Node>)> {
    let node = &object.node;
    match object.kind.as_str() {
        "Pod" => Some((node.get("spec")?, node.path(&["metadata", "labels"]))),
        "CronJob" => {
            let template = node.path(&["spec", "jobTemplate", "spec", "template"])?;
            Some((
                template.get("spec")?,
                template.path(&["metadata", "labels"]),
            ))
        }
        kind if WORKLOAD_KINDS.contains(&kind) => {
            let template = node.path(&["spec", "template"])?;
            Some((
                template.get("spec")?,
                template.path(&["metadata", "labels"]),
            ))
        }
        _ => None,
    }
}

fn labels(node: Option<&Node>) -> BTreeMap<String, String> {
    node.map(|n| {
        n.entries()
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.scalar_text()?)))
            .collect()
    })
    .unwrap_or_default()
}

fn containers(pod_spec: &Node) -> &[Node] {
    pod_spec
        .get("containers")
        .map(Node::items)
        .unwrap_or_default()
}

pub(super) fn all_containers(pod_spec: &Node) -> impl Iterator<Item = &Node> {
    containers(pod_spec).iter().chain(
        pod_spec
            .get("initContainers")
            .map(Node::items)
            .unwrap_or_default(),
    )
}

pub(super) fn container_name(container: &Node) -> String {
    container
        .get("name")
        .and_then(Node::as_str)
        .unwrap_or("?")
        .to_string()
}

fn image_repository(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last)
}

fn is_mongo_image(container: &Node) -> bool {
    container
        .get("image")
        .and_then(Node::as_str)
        .is_some_and(|image| image_repository(image).starts_with("mongo"))
}

/// The MongoDB containers of a database workload (init containers aside).
fn database_containers<'a>(w: &Workload<'a>) -> Vec<&'a Node> {
    containers(w.pod_spec)
        .iter()
        .filter(|c| is_mongo_image(c))
        .collect()
}

fn env_mentions_database(container: &Node) -> bool {
    container
        .get("env")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .any(|env| {
            let name = env.get("name").and_then(Node::as_str).unwrap_or_default();
            let value = env.get("value").and_then(Node::as_str).unwrap_or_default();
            let upper = name.to_ascii_uppercase();
            (upper.contains("MONGO") && !upper.starts_with("MONGO_INITDB"))
                || upper == "DB_HOST"
                || upper == "DATABASE_URL"
                || value.starts_with("mongodb://")
                || value.starts_with("mongodb+srv://")
        })
}

fn workloads<'a>(objects: &'a [Object], profile: &Profile) -> Vec<Workload<'a>> {
    objects
        .iter()
        .filter_map(|object| {
            let (pod_spec, pod_labels) = pod_template(object)?;
            let is_database = object.name == profile.database.statefulset
                || containers(pod_spec).iter().any(is_mongo_image);
            let is_app = !is_database
                && (object.name == profile.app.deployment
                    || containers(pod_spec).iter().any(env_mentions_database));
            Some(Workload {
                object,
                pod_spec,
                pod_labels: labels(pod_labels),
                is_database,
                is_app,
            })
        })
        .collect()
}

/// Whether `hpa`'s scaleTargetRef names `workload`. An object without a namespace lands in
/// whichever one it is applied to, so it may share the other's.
fn scales(hpa: &Object, workload: &Object) -> bool {
    let target = |key: &str| {
        hpa.node
            .path(&["spec", "scaleTargetRef", key])
            .and_then(Node::as_str)
    };
    let same_namespace = match (&hpa.namespace, &workload.namespace) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    target("kind") == Some(workload.kind.as_str())
        && target("name") == Some(workload.name.as_str())
        && same_namespace
}

/// `matchLabels` of a label selector (matchExpressions are not evaluated).
fn match_labels(selector: Option<&Node>) -> BTreeMap<String, String> {
    labels(selector.and_then(|s| s.get("matchLabels")))
}

fn push(out: &mut Vec<Finding>, rule: &'static Rule, object: &Object, line: u64, message: String) {
    out.push(finding(rule, &object.origin, line, object.id(), message));
}

fn declared_ports(container: &Node) -> Vec<(Option<i64>, Option<String>)> {
    container
        .get("ports")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            (
                p.get("containerPort").and_then(Node::as_i64),
                p.get("name").and_then(Node::as_str).map(str::to_string),
            )
        })
        .collect()
}

/// Host names in a `mongodb://` URI.
fn uri_hosts(uri: &str) -> Vec<String> {
    let Some(rest) = uri
        .strip_prefix("mongodb://")
        .or_else(|| uri.strip_prefix("mongodb+srv://"))
    else {
        return Vec::new();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = authority.rsplit('@').next().unwrap_or_default();
    hosts
        .split(',')
        .map(|h| {
            if let Some(end) = h.find(']') {
                h[..=end].to_string()
            } else {
                h.split(':').next().unwrap_or(h).to_string()
            }
        })
        .filter(|h| !h.is_empty())
        .collect()
}

fn uri_has_password(uri: &str) -> bool {
    !uri_hosts(uri).is_empty()
        && uri
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
            .and_then(|authority| authority.rsplit_once('@'))
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn uri_hosts_and_passwords() {
        assert_eq!(uri_hosts("mongodb://u:p@mongodb:27017/db?x=1"), ["mongodb"]);
        assert_eq!(uri_hosts("mongodb://a:1,b:2/"), ["a", "b"]);
        assert_eq!(uri_hosts("mongodb://[::1]:27017"), ["[::1]"]);
        assert!(uri_has_password("mongodb://u:p@h/"));
        assert!(!uri_has_password("mongodb://u@h/"));
        assert!(!uri_has_password("mongodb://h/"));
    }

    /// The objects of `text`, as `manifest::load` reads them from `stack.yaml`.
    pub(in crate::lint) fn objects(text: &str) -> Vec<Object> {
        crate::yaml::parse_documents(text)
            .unwrap()
            .into_iter()
            .map(|node| {
                let text = |path: &[&str]| node.path(path).and_then(Node::as_str).map(String::from);
                Object {
                    kind: text(&["kind"]).unwrap(),
                    api_version: text(&["apiVersion"]).unwrap_or_default(),
                    name: text(&["metadata", "name"]).unwrap_or_default(),
                    namespace: text(&["metadata", "namespace"]),
                    origin: "stack.yaml".into(),
                    node,
                }
            })
            .collect()
    }

    #[test]
    fn image_repositories() {
        assert_eq!(image_repository("docker.io/library/mongo:7.0"), "mongo");
        assert_eq!(image_repository("mongo@sha256:abc"), "mongo");
        assert_eq!(image_repository("registry:5000/team/app:1"), "app");
    }
}
