//! Autoscaling rules: an HPA targets a workload in the manifests, within sane bounds, on CPU
//! utilisation that the target's requests make computable, and owns its target's replicas.

use super::{Manifests, container_name, containers, push, scales};
use crate::findings::rule;
use crate::findings::{Finding, Rule};
use crate::manifest::{Object, of_kind};
use crate::yaml::Node;

rule!(
    HPA_TARGET,
    "DC030",
    Error,
    "an HPA whose scaleTargetRef names no workload in the manifests never scales anything",
    "set scaleTargetRef to the app Deployment's apiVersion, kind and name"
);
rule!(
    HPA_BOUNDS,
    "DC031",
    Error,
    "minReplicas must not exceed maxReplicas, and fewer than 2 minimum replicas means an outage on every pod restart",
    "use minReplicas >= 2 and maxReplicas >= minReplicas"
);
rule!(
    HPA_CPU_METRIC,
    "DC032",
    Error,
    "an HPA without a CPU utilisation target has nothing to scale on for a CPU-bound web app",
    "add a Resource metric for cpu with target.type Utilization (e.g. averageUtilization: 70)"
);
rule!(
    HPA_NEEDS_REQUESTS,
    "DC033",
    Error,
    "CPU utilisation is usage divided by the request: without CPU requests the HPA shows <unknown> and never scales",
    "set resources.requests.cpu on every container of the target workload"
);
rule!(
    HPA_OWNS_REPLICAS,
    "DC034",
    Warning,
    "an HPA owns its target's replica count: a spec.replicas in the manifest resets it on every apply, scaling away pods under load until the HPA reacts",
    "remove spec.replicas from the manifest (the HPA owns the count; every `kubectl apply` resets it to that value until the HPA reacts; when migrating, see the Kubernetes docs \"Migrating Deployments and StatefulSets to horizontal autoscaling\")"
);

pub const RULES: [Rule; 5] = [
    HPA_TARGET,
    HPA_BOUNDS,
    HPA_CPU_METRIC,
    HPA_NEEDS_REQUESTS,
    HPA_OWNS_REPLICAS,
];

/// DC030, DC031, DC032, DC033, for every HorizontalPodAutoscaler.
pub(super) fn hpas(m: &Manifests, out: &mut Vec<Finding>) {
    let (objects, workloads) = (m.objects, &m.workloads);
    for hpa in of_kind(objects, "HorizontalPodAutoscaler") {
        let spec = hpa.node.get("spec");
        let target = spec.and_then(|s| s.get("scaleTargetRef"));
        let kind = target
            .and_then(|t| t.get("kind"))
            .and_then(Node::as_str)
            .unwrap_or_default();
        let name = target
            .and_then(|t| t.get("name"))
            .and_then(Node::as_str)
            .unwrap_or_default();
        let line = target.map_or(hpa.node.line, |t| t.line);
        let workload = workloads
            .iter()
            .find(|w| w.object.kind == kind && w.object.name == name);
        match workload {
            None => push(
                out,
                &HPA_TARGET,
                hpa,
                line,
                format!("scaleTargetRef {kind}/{name} is not in these manifests"),
            ),
            Some(w) => {
                let without: Vec<String> = containers(w.pod_spec)
                    .iter()
                    .filter(|c| c.path(&["resources", "requests", "cpu"]).is_none())
                    .map(container_name)
                    .collect();
                if !without.is_empty() {
                    push(
                        out,
                        &HPA_NEEDS_REQUESTS,
                        hpa,
                        line,
                        format!(
                            "{kind}/{name} has no CPU request on container(s) {}",
                            without.join(", ")
                        ),
                    );
                }
            }
        }
        let min_node = spec.and_then(|s| s.get("minReplicas"));
        let min = min_node.and_then(Node::as_i64).unwrap_or(1);
        let max_node = spec.and_then(|s| s.get("maxReplicas"));
        let max = max_node.and_then(Node::as_i64);
        let bounds_line = min_node.or(max_node).map_or(hpa.node.line, |n| n.line);
        if let Some(max) = max
            && min > max
        {
            push(
                out,
                &HPA_BOUNDS,
                hpa,
                bounds_line,
                format!("minReplicas {min} is above maxReplicas {max}"),
            );
        } else if min < 2 {
            push(
                out,
                &HPA_BOUNDS,
                hpa,
                bounds_line,
                format!(
                    "minReplicas is {min}{}",
                    if min_node.is_none() {
                        " (the default)"
                    } else {
                        ""
                    }
                ),
            );
        }
        let v1_cpu = spec
            .and_then(|s| s.get("targetCPUUtilizationPercentage"))
            .is_some();
        let v2_cpu = spec
            .and_then(|s| s.get("metrics"))
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .any(|m| {
                m.path(&["resource", "name"]).and_then(Node::as_str) == Some("cpu")
                    && m.path(&["resource", "target", "averageUtilization"])
                        .is_some()
            });
        if !(v1_cpu || v2_cpu) {
            push(
                out,
                &HPA_CPU_METRIC,
                hpa,
                spec.map_or(hpa.node.line, |s| s.line),
                "no CPU averageUtilization target".into(),
            );
        }
    }
}

/// DC034: a Deployment or StatefulSet that an HPA scales must leave `spec.replicas` to the HPA.
pub(super) fn hpa_owned_replicas(m: &Manifests, out: &mut Vec<Finding>) {
    let objects = m.objects;
    let hpas: Vec<&Object> = of_kind(objects, "HorizontalPodAutoscaler").collect();
    for workload in objects
        .iter()
        .filter(|o| matches!(o.kind.as_str(), "Deployment" | "StatefulSet"))
    {
        let Some(replicas) = workload.node.path(&["spec", "replicas"]) else {
            continue;
        };
        let Some(hpa) = hpas.iter().find(|hpa| scales(hpa, workload)) else {
            continue;
        };
        push(
            out,
            &HPA_OWNS_REPLICAS,
            workload,
            replicas.line,
            format!(
                "spec.replicas is {} but {} scales this {}",
                replicas.scalar_text().unwrap_or_default(),
                hpa.id(),
                workload.kind
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::k8s::tests::objects;
    use crate::profile::Profile;

    fn hpa_owned_replicas(text: &str) -> Vec<(u64, String)> {
        let objects = objects(text);
        let profile = Profile::built_in("reference").unwrap();
        let mut out = Vec::new();
        super::hpa_owned_replicas(&Manifests::new(&objects, &profile), &mut out);
        out.into_iter().map(|f| (f.line, f.message)).collect()
    }

    const HPA_FOR_MONGODB: &str = "\
kind: HorizontalPodAutoscaler
metadata: {name: db, namespace: prod}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: mongodb}
";

    #[test]
    fn replicas_of_an_hpa_target_are_flagged_at_their_line() {
        let stack = format!(
            "kind: StatefulSet\nmetadata: {{name: mongodb, namespace: prod}}\nspec:\n  replicas: 3\n---\n{HPA_FOR_MONGODB}"
        );
        assert_eq!(
            hpa_owned_replicas(&stack),
            [(
                4,
                "spec.replicas is 3 but HorizontalPodAutoscaler/db scales this StatefulSet".into()
            )]
        );
    }

    #[test]
    fn replicas_without_an_hpa_on_that_workload_are_left_alone() {
        for workload in [
            // The HPA owns the count: nothing to flag.
            "kind: StatefulSet\nmetadata: {name: mongodb, namespace: prod}\nspec: {}",
            // Same name, other kind or namespace: another object.
            "kind: Deployment\nmetadata: {name: mongodb, namespace: prod}\nspec: {replicas: 3}",
            "kind: StatefulSet\nmetadata: {name: mongodb, namespace: dev}\nspec: {replicas: 3}",
        ] {
            let stack = format!("{workload}\n---\n{HPA_FOR_MONGODB}");
            let findings = hpa_owned_replicas(&stack);
            assert!(findings.is_empty(), "{workload}: {findings:?}");
        }
    }

    #[test]
    fn an_object_without_a_namespace_may_share_the_hpas() {
        let stack = format!(
            "kind: StatefulSet\nmetadata: {{name: mongodb}}\nspec: {{replicas: 1}}\n---\n{HPA_FOR_MONGODB}"
        );
        assert_eq!(hpa_owned_replicas(&stack).len(), 1);
    }
}
