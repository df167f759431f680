//! Workload rules: pinned images, the database as a StatefulSet behind a headless Service, and
//! an app that survives a deploy or a node drain (replicas, PodDisruptionBudget).

use super::{Container, Manifests, database_containers, match_labels, push, selects};
use crate::findings::rule;
use crate::findings::{Finding, Rule};
use crate::manifest::{Object, of_kind};
use crate::yaml::Node;

rule!(
    DB_STATEFULSET,
    "DC005",
    Warning,
    "a database needs a stable identity and its own volume per replica, which a StatefulSet with a headless Service gives",
    "run MongoDB as a StatefulSet whose serviceName names a Service with `clusterIP: None`"
);
rule!(
    IMAGE_TAG,
    "DC050",
    Error,
    "an image without a tag or with `latest` changes under you: two pods of one Deployment can run different code",
    "pin a version tag (or a digest)"
);
rule!(
    PULL_NEVER,
    "DC051",
    Warning,
    "`imagePullPolicy: Never` only works where the image was loaded by hand (kind load, minikube image load)",
    "use IfNotPresent with an image pushed to a registry for anything but a local cluster"
);
rule!(
    APP_REPLICAS,
    "DC070",
    Warning,
    "a single app replica means downtime on every deploy, node drain or crash",
    "run at least 2 replicas (or an HPA with minReplicas >= 2)"
);
rule!(
    PDB,
    "DC071",
    Warning,
    "without a PodDisruptionBudget a node drain may evict every app pod at once",
    "add a PodDisruptionBudget with minAvailable: 1 selecting the app pods"
);

pub const RULES: [Rule; 5] = [DB_STATEFULSET, IMAGE_TAG, PULL_NEVER, APP_REPLICAS, PDB];

/// DC050, DC051: a pinned image, pulled from a registry.
pub(super) fn image(_: &Manifests, c: &Container, out: &mut Vec<Finding>) {
    let (object, container, name) = (c.workload.object, c.node, &c.name);
    if let Some(image_node) = container.get("image") {
        let image = image_node.as_str().unwrap_or_default();
        let last = image.rsplit('/').next().unwrap_or(image);
        let tag = last.split_once(':').map(|(_, tag)| tag);
        if !image.contains('@') && matches!(tag, None | Some("latest")) {
            let what = if tag.is_none() {
                "has no tag"
            } else {
                "uses `latest`"
            };
            push(
                out,
                &IMAGE_TAG,
                object,
                image_node.line,
                format!("container `{name}` image `{image}` {what}"),
            );
        }
    } else {
        push(
            out,
            &IMAGE_TAG,
            object,
            container.line,
            format!("container `{name}` has no image"),
        );
    }
    if let Some(policy) = container.get("imagePullPolicy")
        && policy.as_str() == Some("Never")
    {
        push(
            out,
            &PULL_NEVER,
            object,
            policy.line,
            format!("container `{name}` has imagePullPolicy: Never"),
        );
    }
}

/// DC005: MongoDB runs as a StatefulSet whose serviceName is a headless Service.
pub(super) fn database_statefulset(m: &Manifests, out: &mut Vec<Finding>) {
    let services = &m.services;
    for w in m.workloads.iter().filter(|w| w.is_database) {
        let object = w.object;
        if database_containers(w).is_empty() {
            continue;
        }
        if object.kind != "StatefulSet" {
            push(
                out,
                &DB_STATEFULSET,
                object,
                object.node.line,
                format!("MongoDB runs as a {}, not a StatefulSet", object.kind),
            );
        } else if !services.is_empty() {
            let service_name = object.node.path(&["spec", "serviceName"]);
            let name = service_name.and_then(Node::as_str).unwrap_or_default();
            let headless = services.iter().any(|s| {
                s.name == name
                    && s.node.path(&["spec", "clusterIP"]).and_then(Node::as_str) == Some("None")
            });
            if !headless {
                let line = service_name.map_or(object.node.line, |n| n.line);
                push(
                    out,
                    &DB_STATEFULSET,
                    object,
                    line,
                    if name.is_empty() {
                        "the StatefulSet has no spec.serviceName".into()
                    } else {
                        format!(
                            "spec.serviceName `{name}` is not a headless Service (clusterIP: None) in these manifests"
                        )
                    },
                );
            }
        }
    }
}

/// DC070, DC071: the app Deployment keeps two replicas and a PodDisruptionBudget.
pub(super) fn availability(m: &Manifests, out: &mut Vec<Finding>) {
    let (objects, workloads) = (m.objects, &m.workloads);
    let pdbs: Vec<&Object> = of_kind(objects, "PodDisruptionBudget").collect();
    for w in workloads
        .iter()
        .filter(|w| w.is_app && w.object.kind == "Deployment")
    {
        let replicas_node = w.object.node.path(&["spec", "replicas"]);
        let replicas = replicas_node.and_then(Node::as_i64).unwrap_or(1);
        let hpa_min = m.hpa_minimum(w.object);
        if replicas < 2 && hpa_min.is_none_or(|m| m < 2) && !m.is_canary(&w.object.name) {
            push(
                out,
                &APP_REPLICAS,
                w.object,
                replicas_node.map_or(w.object.node.line, |n| n.line),
                format!("{} replica(s) and no HPA keeping at least 2", replicas),
            );
        }
        let protected = pdbs.iter().any(|p| {
            selects(
                &match_labels(p.node.path(&["spec", "selector"])),
                &w.pod_labels,
            )
        });
        if !protected {
            push(
                out,
                &PDB,
                w.object,
                w.object.node.line,
                "no PodDisruptionBudget selects these pods".into(),
            );
        }
    }
}
