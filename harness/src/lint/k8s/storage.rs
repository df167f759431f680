//! Storage rules: MongoDB keeps /data/db on a PersistentVolumeClaim.

use super::{Manifests, container_name, database_containers, push};
use crate::findings::rule;
use crate::findings::{Finding, Rule};
use crate::manifest::Object;
use crate::yaml::Node;

rule!(
    DB_ON_PVC,
    "DC004",
    Error,
    "MongoDB data outside a PersistentVolumeClaim is lost whenever the pod is deleted or rescheduled",
    "mount a PVC at /data/db, preferably from the StatefulSet's volumeClaimTemplates"
);

pub const RULES: [Rule; 1] = [DB_ON_PVC];

/// DC004: every MongoDB container mounts a PVC at /data/db.
pub(super) fn database_data(m: &Manifests, out: &mut Vec<Finding>) {
    for w in m.workloads.iter().filter(|w| w.is_database) {
        let object = w.object;
        for container in database_containers(w) {
            let name = container_name(container);
            let data_mount = container
                .get("volumeMounts")
                .map(Node::items)
                .unwrap_or_default()
                .iter()
                .find(|m| {
                    m.get("mountPath").and_then(Node::as_str).is_some_and(|p| {
                        p.trim_end_matches('/') == "/data/db" || p.starts_with("/bitnami/mongodb")
                    })
                });
            match data_mount {
                None => push(
                    out,
                    &DB_ON_PVC,
                    object,
                    container.line,
                    format!(
                        "container `{name}` mounts nothing at /data/db: data lives in the container and dies with it"
                    ),
                ),
                Some(mount) => {
                    let volume = mount.get("name").and_then(Node::as_str).unwrap_or_default();
                    if let Some(problem) = volume_problem(object, w.pod_spec, volume) {
                        push(
                            out,
                            &DB_ON_PVC,
                            object,
                            mount.line,
                            format!("container `{name}` keeps /data/db on {problem}"),
                        );
                    }
                }
            }
        }
    }
}

/// Why the named pod volume is not persistent, if it is not.
fn volume_problem(object: &Object, pod_spec: &Node, volume: &str) -> Option<String> {
    let claim_templates = object
        .node
        .path(&["spec", "volumeClaimTemplates"])
        .map(Node::items)
        .unwrap_or_default();
    if claim_templates
        .iter()
        .any(|t| t.path(&["metadata", "name"]).and_then(Node::as_str) == Some(volume))
    {
        return None;
    }
    let declared = pod_spec
        .get("volumes")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .find(|v| v.get("name").and_then(Node::as_str) == Some(volume));
    match declared {
        Some(v) if v.get("persistentVolumeClaim").is_some() => None,
        Some(v) if v.get("emptyDir").is_some() => {
            Some(format!("emptyDir volume `{volume}`, deleted with the pod"))
        }
        Some(v) if v.get("hostPath").is_some() => Some(format!(
            "hostPath volume `{volume}`, tied to one node and lost when the pod moves"
        )),
        Some(_) => Some(format!(
            "volume `{volume}`, which is not a PersistentVolumeClaim"
        )),
        None => Some(format!("volume `{volume}`, which is not declared")),
    }
}
