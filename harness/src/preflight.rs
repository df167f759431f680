//! The preflight of `check --deploy`: the rendered manifests read against what the cluster has,
//! before anything is applied, so a stack that cannot deploy here fails in a second with every
//! cause at once instead of after a rollout deadline (or an apply that stops at the first).
//!
//! Pure: [`wanted`] says what the manifests ask of the cluster (StorageClasses, fixed
//! nodePorts, images a node must already hold), the caller reads only those facts, and
//! [`judge`] turns both into [`Finding`]s. [`clear_node_ports`] is `--node-ports auto`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::cluster::{NodeInfo, NodePortUse, StorageClassInfo};
use crate::imageref::{PullPolicy, default_pull_policy};

/// What to do with the fixed `nodePort`s of the manifests' Services.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum NodePorts {
    /// Keep them; a nodePort another Service of the cluster already holds is an error.
    #[default]
    Fixed,
    /// Clear them in the throw-away namespace: the API server allocates free ones.
    Auto,
}

/// How much a finding weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Level {
    /// The apply would fail or the stack could never roll out: nothing is applied.
    Error,
    /// Likely to fail, but the cluster may still manage (a registry may serve the image).
    Hint,
    /// What the preflight did or could not do (a check not done, a nodePort cleared).
    Note,
}

/// One thing the preflight found, a sentence with the fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    pub message: String,
}

impl Finding {
    fn error(message: String) -> Self {
        Self {
            level: Level::Error,
            message,
        }
    }

    fn hint(message: String) -> Self {
        Self {
            level: Level::Hint,
            message,
        }
    }

    fn note(message: String) -> Self {
        Self {
            level: Level::Note,
            message,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level {
            Level::Hint => write!(f, "hint: {}", self.message),
            Level::Error | Level::Note => f.write_str(&self.message),
        }
    }
}

/// A PersistentVolumeClaim the manifests create, directly or from a StatefulSet's template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `PersistentVolumeClaim data` or `claim template `data` of StatefulSet mongodb`.
    pub owner: String,
    /// `None`: no class named (the default applies). `Some("")` never appears: that asks for
    /// no dynamic provisioning, which the cluster's classes do not decide.
    pub class: Option<String>,
}

/// A `nodePort` a Service of the manifests fixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedNodePort {
    pub service: String,
    /// Its index in `spec.ports`.
    pub index: usize,
    pub port: i64,
}

/// A container (or init container) whose image a node must already hold, or should.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUse {
    /// The image as the manifest writes it.
    pub image: String,
    /// `Deployment web, container app`.
    pub user: String,
    pub policy: PullPolicy,
}

/// What the manifests ask of the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    pub claims: Vec<Claim>,
    /// StorageClasses the manifests create themselves.
    pub own_classes: BTreeSet<String>,
    pub node_ports: Vec<FixedNodePort>,
    /// Only images pulled `IfNotPresent` or `Never`: with `Always` the node's copy does not
    /// matter.
    pub images: Vec<ImageUse>,
}

/// What the cluster answered to one read the preflight made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read<T> {
    Answered(T),
    /// The user of this context may not make it; the API server's reason.
    Forbidden(String),
}

/// The cluster's side, read only where [`Wanted`] needs it (`None`: not read).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The kube context, for the command that loads an image on a local cluster.
    pub context: String,
    pub storage_classes: Option<Read<Vec<StorageClassInfo>>>,
    pub node_ports: Option<Read<Vec<NodePortUse>>>,
    pub nodes: Option<Read<Vec<NodeInfo>>>,
}

impl Wanted {
    pub fn needs_storage_classes(&self) -> bool {
        self.claims.iter().any(|c| match &c.class {
            None => true,
            Some(class) => !self.own_classes.contains(class),
        })
    }

    pub fn needs_node_ports(&self) -> bool {
        !self.node_ports.is_empty()
    }

    pub fn needs_nodes(&self) -> bool {
        !self.images.is_empty()
    }
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// The pod spec of a workload (or a Pod), with the kind that carries it.
fn pod_spec(object: &Value) -> Option<&Value> {
    let spec = &object["spec"];
    let pod = match object["kind"].as_str()? {
        "Pod" => spec,
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => &spec["template"]["spec"],
        "CronJob" => &spec["jobTemplate"]["spec"]["template"]["spec"],
        _ => return None,
    };
    pod.is_object().then_some(pod)
}

/// The class a claim names: `spec.storageClassName`, else the beta annotation older manifests
/// still use; `None` when neither is set.
fn claim_class(claim: &Value) -> Option<String> {
    claim["spec"]["storageClassName"]
        .as_str()
        .or_else(|| {
            claim["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"].as_str()
        })
        .map(str::to_string)
}

/// A claim some class must provision; `None` for one no class decides: `storageClassName: ""`
/// (no dynamic provisioning) or a claim bound to a named volume.
fn claim(owner: String, claim: &Value) -> Option<Claim> {
    if claim["spec"]["volumeName"]
        .as_str()
        .is_some_and(|v| !v.is_empty())
    {
        return None;
    }
    match claim_class(claim) {
        Some(class) if class.is_empty() => None,
        class => Some(Claim { owner, class }),
    }
}

/// What `manifests` ask of the cluster.
pub fn wanted(manifests: &[Value]) -> Wanted {
    let mut wanted = Wanted::default();
    for object in manifests {
        let kind = object["kind"].as_str().unwrap_or_default();
        let name = name_of(object);
        match kind {
            "PersistentVolumeClaim" => {
                wanted
                    .claims
                    .extend(claim(format!("PersistentVolumeClaim {name}"), object));
            }
            "StatefulSet" => {
                for template in object["spec"]["volumeClaimTemplates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    wanted.claims.extend(claim(
                        format!(
                            "claim template `{}` of StatefulSet {name}",
                            name_of(template)
                        ),
                        template,
                    ));
                }
            }
            "StorageClass" => {
                wanted.own_classes.insert(name.to_string());
            }
            "Service" => {
                for (index, port) in object["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if let Some(node_port) = port["nodePort"].as_i64().filter(|p| *p != 0) {
                        wanted.node_ports.push(FixedNodePort {
                            service: name.to_string(),
                            index,
                            port: node_port,
                        });
                    }
                }
            }
            _ => {}
        }
        let Some(pod) = pod_spec(object) else {
            continue;
        };
        for container in ["initContainers", "containers"]
            .iter()
            .flat_map(|key| pod[*key].as_array().into_iter().flatten())
        {
            let Some(image) = container["image"].as_str().filter(|i| !i.is_empty()) else {
                continue;
            };
            let policy = match container["imagePullPolicy"].as_str() {
                Some("Always") => PullPolicy::Always,
                Some("Never") => PullPolicy::Never,
                Some("IfNotPresent") => PullPolicy::IfNotPresent,
                _ => default_pull_policy(image),
            };
            if policy != PullPolicy::Always {
                wanted.images.push(ImageUse {
                    image: image.to_string(),
                    user: format!(
                        "{kind} {name}, container {}",
                        container["name"].as_str().unwrap_or_default()
                    ),
                    policy,
                });
            }
        }
    }
    wanted
}

/// `--node-ports auto`: removes every fixed `nodePort` from the manifests' Services (the API
/// server then allocates free ones) and says which, one note each.
pub fn clear_node_ports(manifests: &mut [Value]) -> Vec<Finding> {
    let mut notes = Vec::new();
    for object in manifests
        .iter_mut()
        .filter(|o| o["kind"].as_str() == Some("Service"))
    {
        let name = name_of(object).to_string();
        let Some(ports) = object["spec"]["ports"].as_array_mut() else {
            continue;
        };
        for (index, port) in ports.iter_mut().enumerate() {
            let Some(fields) = port.as_object_mut() else {
                continue;
            };
            if let Some(node_port) = fields.remove("nodePort").and_then(|p| p.as_i64()) {
                notes.push(Finding::note(format!(
                    "Service {name}: nodePort {node_port} (spec.ports[{index}]) cleared \
                     (--node-ports auto); the API server allocates a free one"
                )));
            }
        }
    }
    notes
}

/// `(the cluster has: a, b; default: a)`, for StorageClass errors.
fn classes_said(classes: &[StorageClassInfo]) -> String {
    if classes.is_empty() {
        return "the cluster has no StorageClass".into();
    }
    let names: Vec<&str> = classes.iter().map(|c| c.name.as_str()).collect();
    let defaults: Vec<&str> = classes
        .iter()
        .filter(|c| c.default)
        .map(|c| c.name.as_str())
        .collect();
    format!(
        "the cluster has: {}; {}",
        names.join(", "),
        if defaults.is_empty() {
            "no default".to_string()
        } else {
            format!("default: {}", defaults.join(", "))
        }
    )
}

/// How to put `image` on the nodes of the cluster behind `context`, when it is a local one
/// whose tool does that; `None` elsewhere (only a registry helps there).
fn load_command(context: &str, image: &str) -> Option<String> {
    if let Some(cluster) = context.strip_prefix("kind-") {
        return Some(format!("kind load docker-image {image} --name {cluster}"));
    }
    if let Some(cluster) = context.strip_prefix("k3d-") {
        return Some(format!("k3d image import {image} -c {cluster}"));
    }
    if context == "minikube" {
        return Some(format!("minikube image load {image}"));
    }
    None
}

/// A kubelet reports at most this many images per node (`--node-status-max-images`, largest
/// first), so a node listing this many names or more may hold images it does not list.
pub use crate::cluster::NODE_STATUS_MAX_IMAGES;

/// Everything the manifests ask that the cluster does not have, and what could not be checked.
pub fn judge(wanted: &Wanted, facts: &Facts) -> Vec<Finding> {
    let mut findings = Vec::new();
    if wanted.needs_storage_classes() {
        storage_classes(wanted, facts, &mut findings);
    }
    node_ports(wanted, facts, &mut findings);
    if wanted.needs_nodes() {
        images(wanted, facts, &mut findings);
    }
    findings
}

/// What the cluster answered, if it was asked; a refusal to list `listed` is noted, with the API
/// server's reason, as leaving `unchecked` unchecked.
fn answered<'a, T>(
    read: &'a Option<Read<T>>,
    unchecked: &str,
    listed: &str,
    findings: &mut Vec<Finding>,
) -> Option<&'a T> {
    match read {
        Some(Read::Answered(value)) => Some(value),
        Some(Read::Forbidden(reason)) => {
            findings.push(Finding::note(format!(
                "{unchecked} not checked: the user of this context may not list {listed} \
                 ({reason})"
            )));
            None
        }
        None => None,
    }
}

fn storage_classes(wanted: &Wanted, facts: &Facts, findings: &mut Vec<Finding>) {
    let Some(classes) = answered(&facts.storage_classes, "StorageClasses", "them", findings) else {
        return;
    };
    let has_default = classes.iter().any(|c| c.default);
    for claim in &wanted.claims {
        match &claim.class {
            Some(class)
                if !wanted.own_classes.contains(class)
                    && !classes.iter().any(|c| &c.name == class) =>
            {
                findings.push(Finding::error(format!(
                    "{} names StorageClass `{class}`, which the cluster does not have ({}): \
                     its claim would stay Pending",
                    claim.owner,
                    classes_said(classes)
                )));
            }
            None if !has_default => findings.push(Finding::error(format!(
                "{} names no StorageClass and the cluster has no default one ({}): its claim \
                 would stay Pending; set storageClassName",
                claim.owner,
                classes_said(classes)
            ))),
            _ => {}
        }
    }
}

fn node_ports(wanted: &Wanted, facts: &Facts, findings: &mut Vec<Finding>) {
    // Two Services of the manifests on one port collide whatever the cluster holds.
    let mut first: BTreeMap<i64, &FixedNodePort> = BTreeMap::new();
    for fixed in &wanted.node_ports {
        if let Some(earlier) = first.get(&fixed.port) {
            findings.push(Finding::error(format!(
                "Service {}: nodePort {} (spec.ports[{}]) is also set by Service {} \
                 (spec.ports[{}]) of the same manifests, and only one can hold it: change one, \
                 or pass --node-ports auto to let the API server choose free ones",
                fixed.service, fixed.port, fixed.index, earlier.service, earlier.index
            )));
        } else {
            first.insert(fixed.port, fixed);
        }
    }
    let Some(in_use) = answered(
        &facts.node_ports,
        "nodePorts in use",
        "the Services of every namespace",
        findings,
    ) else {
        return;
    };
    for fixed in &wanted.node_ports {
        for holder in in_use.iter().filter(|u| i64::from(u.port) == fixed.port) {
            findings.push(Finding::error(format!(
                "Service {}: nodePort {} (spec.ports[{}]) is already allocated to Service {}, \
                 so the apply would fail (\"provided port is already allocated\"): pass \
                 --node-ports auto to let the API server choose a free one in the throw-away \
                 namespace, or change the port",
                fixed.service, fixed.port, fixed.index, holder.service
            )));
        }
    }
}

fn images(wanted: &Wanted, facts: &Facts, findings: &mut Vec<Finding>) {
    let Some(nodes) = answered(&facts.nodes, "images on the nodes", "nodes", findings) else {
        return;
    };
    if nodes.iter().all(|n| n.images.is_empty()) {
        findings.push(Finding::note(
            "images on the nodes not checked: no node lists any image".into(),
        ));
        return;
    }
    let complete = nodes.iter().all(NodeInfo::images_complete);
    // One finding per image and policy, naming every container that uses it.
    let mut missing: BTreeMap<(&str, PullPolicy), Vec<&str>> = BTreeMap::new();
    for used in &wanted.images {
        if !nodes.iter().any(|n| n.has_image(&used.image)) {
            missing
                .entry((used.image.as_str(), used.policy))
                .or_default()
                .push(&used.user);
        }
    }
    for ((image, policy), users) in missing {
        let load = load_command(&facts.context, image).map_or_else(
            || "push it to a registry the nodes can pull from".to_string(),
            |command| format!("load it with `{command}`"),
        );
        let subject = format!(
            "image {image} ({}; imagePullPolicy {policy}) is on no node",
            users.join("; ")
        );
        findings.push(match policy {
            // Never with the image on no node is ErrImageNeverPull: the pods cannot start.
            // That is certain only when every node's list is complete; a node at the
            // kubelet's cap may hold it unlisted, so then it stays a hint.
            PullPolicy::Never if complete => Finding::error(format!(
                "{subject}, and Never forbids pulling it, so its pods cannot start \
                 (ErrImageNeverPull): {load}"
            )),
            PullPolicy::Never => Finding::hint(format!(
                "{subject} that lists it (a node lists at most {NODE_STATUS_MAX_IMAGES} \
                 images, so it may be there unlisted); with Never its pods cannot start \
                 without it: {load}"
            )),
            // A registry may still serve it: only a hint.
            PullPolicy::IfNotPresent | PullPolicy::Always => Finding::hint(format!(
                "{subject}: the kubelet will pull it from its registry, and its pods will not \
                 start if it cannot; {load}"
            )),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str, default: bool) -> StorageClassInfo {
        StorageClassInfo {
            name: name.into(),
            default,
            provisioner: "rancher.io/local-path".into(),
        }
    }

    fn node(images: &[&str]) -> NodeInfo {
        NodeInfo {
            name: "kind-control-plane".into(),
            images: images.iter().map(|i| i.to_string()).collect(),
            ..NodeInfo::default()
        }
    }

    /// The flask-mongo stack of run-2: a NodePort Service on 30500, a StatefulSet whose claim
    /// template names `class` (none when `None`), an app image pulled `policy`.
    fn stack(class: Option<&str>, policy: Option<&str>) -> Vec<Value> {
        let mut claim = json!({
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        });
        if let Some(class) = class {
            claim["spec"]["storageClassName"] = json!(class);
        }
        let mut app = json!({"name": "app", "image": "flask-app:1.0"});
        if let Some(policy) = policy {
            app["imagePullPolicy"] = json!(policy);
        }
        vec![
            json!({"kind": "Service", "metadata": {"name": "flask-app"}, "spec": {
                "type": "NodePort",
                "ports": [{"port": 5000, "targetPort": 5000, "nodePort": 30500}]
            }}),
            json!({"kind": "Deployment", "metadata": {"name": "flask-app"}, "spec": {
                "template": {"spec": {"containers": [app]}}
            }}),
            json!({"kind": "StatefulSet", "metadata": {"name": "mongodb"}, "spec": {
                "template": {"spec": {"containers": [{"name": "mongodb", "image": "mongo:7.0"}]}},
                "volumeClaimTemplates": [claim]
            }}),
        ]
    }

    /// A kind cluster that has what [`stack`] needs: the default class `standard`, the two
    /// images on its node as containerd names them, no Service on 30500.
    fn kind_facts() -> Facts {
        Facts {
            context: "kind-lab".into(),
            storage_classes: Some(Read::Answered(vec![class("standard", true)])),
            node_ports: Some(Read::Answered(vec![NodePortUse {
                port: 30080,
                service: "ingress/nginx".into(),
            }])),
            nodes: Some(Read::Answered(vec![node(&[
                "docker.io/library/flask-app:1.0",
                "docker.io/library/mongo:7.0",
                "docker.io/library/mongo@sha256:0123",
                "registry.k8s.io/pause:3.10",
            ])])),
        }
    }

    fn messages(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_stack_the_cluster_has_everything_for_gives_no_finding() {
        for class in [Some("standard"), None] {
            let manifests = stack(class, Some("IfNotPresent"));
            let wanted = wanted(&manifests);
            assert!(wanted.needs_storage_classes() && wanted.needs_node_ports());
            assert_eq!(judge(&wanted, &kind_facts()), [], "class {class:?}");
        }
        // Never, with the image loaded, is fine too.
        let never = stack(Some("standard"), Some("Never"));
        assert_eq!(judge(&super::wanted(&never), &kind_facts()), []);
    }

    #[test]
    fn what_the_manifests_ask_of_the_cluster() {
        let wanted = wanted(&stack(Some("fast-ssd"), None));
        assert_eq!(
            wanted.claims,
            [Claim {
                owner: "claim template `data` of StatefulSet mongodb".into(),
                class: Some("fast-ssd".into())
            }]
        );
        assert_eq!(
            wanted.node_ports,
            [FixedNodePort {
                service: "flask-app".into(),
                index: 0,
                port: 30500
            }]
        );
        // Both tags are not `latest`, so both default to IfNotPresent.
        assert_eq!(
            wanted.images,
            [
                ImageUse {
                    image: "flask-app:1.0".into(),
                    user: "Deployment flask-app, container app".into(),
                    policy: PullPolicy::IfNotPresent
                },
                ImageUse {
                    image: "mongo:7.0".into(),
                    user: "StatefulSet mongodb, container mongodb".into(),
                    policy: PullPolicy::IfNotPresent
                }
            ]
        );
    }

    #[test]
    fn a_storage_class_the_cluster_lacks_is_an_error_naming_what_it_has() {
        let wanted = wanted(&stack(Some("fast-ssd"), Some("IfNotPresent")));
        let facts = Facts {
            storage_classes: Some(Read::Answered(vec![
                class("standard", true),
                class("premium", false),
            ])),
            ..kind_facts()
        };
        assert_eq!(
            judge(&wanted, &facts),
            [Finding::error(
                "claim template `data` of StatefulSet mongodb names StorageClass `fast-ssd`, \
                 which the cluster does not have (the cluster has: standard, premium; default: \
                 standard): its claim would stay Pending"
                    .into()
            )]
        );
        // A claim of its own, on a cluster with no class at all.
        let claim = [
            json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"storageClassName": "fast-ssd"}}),
        ];
        let facts = Facts {
            storage_classes: Some(Read::Answered(Vec::new())),
            ..kind_facts()
        };
        assert_eq!(
            messages(&judge(&super::wanted(&claim), &facts)),
            [
                "PersistentVolumeClaim data names StorageClass `fast-ssd`, which the cluster does \
              not have (the cluster has no StorageClass): its claim would stay Pending"
            ]
        );
    }

    #[test]
    fn a_claim_without_a_class_needs_a_default_one() {
        let wanted = wanted(&stack(None, Some("IfNotPresent")));
        let facts = Facts {
            storage_classes: Some(Read::Answered(vec![class("premium", false)])),
            ..kind_facts()
        };
        assert_eq!(
            messages(&judge(&wanted, &facts)),
            [
                "claim template `data` of StatefulSet mongodb names no StorageClass and the \
              cluster has no default one (the cluster has: premium; no default): its claim \
              would stay Pending; set storageClassName"
            ]
        );
    }

    #[test]
    fn an_empty_class_a_bound_volume_or_a_class_of_the_manifests_ask_nothing() {
        let no_classes = Facts {
            storage_classes: Some(Read::Answered(Vec::new())),
            ..kind_facts()
        };
        let manifests = [
            // "": no dynamic provisioning; the cluster's classes do not decide it.
            json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "static"},
                "spec": {"storageClassName": ""}}),
            json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "bound"},
                "spec": {"volumeName": "pv-1"}}),
            json!({"kind": "StorageClass", "metadata": {"name": "mine"}}),
            json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "own"},
                "spec": {"storageClassName": "mine"}}),
        ];
        let wanted = wanted(&manifests);
        assert!(!wanted.needs_storage_classes(), "{wanted:?}");
        assert_eq!(judge(&wanted, &no_classes), []);
    }

    #[test]
    fn a_node_port_another_service_holds_is_an_error_that_names_it_and_the_fix() {
        let wanted = wanted(&stack(Some("standard"), Some("IfNotPresent")));
        let facts = Facts {
            node_ports: Some(Read::Answered(vec![
                NodePortUse {
                    port: 30500,
                    service: "deploycheck-s6ghhu/flask-app".into(),
                },
                NodePortUse {
                    port: 30501,
                    service: "shop/web".into(),
                },
            ])),
            ..kind_facts()
        };
        assert_eq!(
            messages(&judge(&wanted, &facts)),
            [
                "Service flask-app: nodePort 30500 (spec.ports[0]) is already allocated to Service \
              deploycheck-s6ghhu/flask-app, so the apply would fail (\"provided port is already \
              allocated\"): pass --node-ports auto to let the API server choose a free one in \
              the throw-away namespace, or change the port"
            ]
        );
    }

    #[test]
    fn two_services_of_the_manifests_on_one_node_port_collide() {
        let manifests = [
            json!({"kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": [{"nodePort": 30500}]}}),
            json!({"kind": "Service", "metadata": {"name": "b"}, "spec": {"ports": [{"port": 1}, {"nodePort": 30500}]}}),
        ];
        assert_eq!(
            messages(&judge(&wanted(&manifests), &kind_facts())),
            [
                "Service b: nodePort 30500 (spec.ports[1]) is also set by Service a (spec.ports[0]) \
              of the same manifests, and only one can hold it: change one, or pass --node-ports \
              auto to let the API server choose free ones"
            ]
        );
    }

    #[test]
    fn node_ports_auto_clears_every_fixed_port_and_says_which() {
        let mut manifests = stack(Some("standard"), Some("IfNotPresent"));
        manifests.push(
            json!({"kind": "Service", "metadata": {"name": "admin"}, "spec": {
                "type": "NodePort", "ports": [{"port": 80}, {"port": 81, "nodePort": 30081}]
            }}),
        );
        let notes = clear_node_ports(&mut manifests);
        assert_eq!(
            messages(&notes),
            [
                "Service flask-app: nodePort 30500 (spec.ports[0]) cleared (--node-ports auto); \
                 the API server allocates a free one",
                "Service admin: nodePort 30081 (spec.ports[1]) cleared (--node-ports auto); the \
                 API server allocates a free one"
            ]
        );
        assert!(notes.iter().all(|n| n.level == Level::Note));
        assert_eq!(
            manifests[0]["spec"]["ports"],
            json!([{"port": 5000, "targetPort": 5000}])
        );
        assert_eq!(
            manifests[3]["spec"]["ports"],
            json!([{"port": 80}, {"port": 81}])
        );
        // Nothing fixed is left to collide, wherever the cluster holds 30500.
        assert!(!wanted(&manifests).needs_node_ports());
    }

    #[test]
    fn images_pulled_always_are_not_the_nodes_business() {
        // `Always` images are not the nodes' business; no tag means `Always`.
        let manifests = [json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "x:1", "imagePullPolicy": "Always"}]
        }})];
        assert!(!wanted(&manifests).needs_nodes());
    }

    #[test]
    fn an_image_on_no_node_is_a_hint_with_if_not_present_and_an_error_with_never() {
        let facts = Facts {
            nodes: Some(Read::Answered(vec![node(&["docker.io/library/mongo:7.0"])])),
            ..kind_facts()
        };
        assert_eq!(
            judge(&wanted(&stack(Some("standard"), None)), &facts),
            [Finding::hint(
                "image flask-app:1.0 (Deployment flask-app, container app; imagePullPolicy \
                 IfNotPresent) is on no node: the kubelet will pull it from its registry, and \
                 its pods will not start if it cannot; load it with `kind load docker-image \
                 flask-app:1.0 --name lab`"
                    .into()
            )]
        );
        assert_eq!(
            judge(&wanted(&stack(Some("standard"), Some("Never"))), &facts),
            [Finding::error(
                "image flask-app:1.0 (Deployment flask-app, container app; imagePullPolicy \
                 Never) is on no node, and Never forbids pulling it, so its pods cannot start \
                 (ErrImageNeverPull): load it with `kind load docker-image flask-app:1.0 --name \
                 lab`"
                    .into()
            )]
        );
        // Off a local cluster, only a registry helps.
        let remote = Facts {
            context: "gke_shop".into(),
            ..facts.clone()
        };
        assert_eq!(
            messages(&judge(&wanted(&stack(Some("standard"), None)), &remote)),
            [
                "hint: image flask-app:1.0 (Deployment flask-app, container app; imagePullPolicy \
              IfNotPresent) is on no node: the kubelet will pull it from its registry, and its \
              pods will not start if it cannot; push it to a registry the nodes can pull from"
            ]
        );
    }

    #[test]
    fn a_node_at_the_kubelets_image_cap_makes_never_a_hint_only() {
        let mut images: Vec<String> = (0..NODE_STATUS_MAX_IMAGES)
            .map(|i| format!("docker.io/library/big-{i}:1"))
            .collect();
        images.push("docker.io/library/mongo:7.0".into());
        let facts = Facts {
            context: "minikube".into(),
            nodes: Some(Read::Answered(vec![NodeInfo {
                images,
                ..NodeInfo::default()
            }])),
            ..kind_facts()
        };
        assert_eq!(
            judge(&wanted(&stack(Some("standard"), Some("Never"))), &facts),
            [Finding::hint(
                "image flask-app:1.0 (Deployment flask-app, container app; imagePullPolicy \
                 Never) is on no node that lists it (a node lists at most 50 images, so it may \
                 be there unlisted); with Never its pods cannot start without it: load it with \
                 `minikube image load flask-app:1.0`"
                    .into()
            )]
        );
    }

    #[test]
    fn init_containers_and_every_workload_kind_are_read() {
        let manifests = [
            json!({"kind": "CronJob", "metadata": {"name": "backup"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                "initContainers": [{"name": "wait", "image": "k3d-reg:5000/tools:1", "imagePullPolicy": "IfNotPresent"}],
                "containers": [{"name": "dump", "image": "mongo:7.0"}]
            }}}}}}),
            json!({"kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {"template": {"spec": {
                "containers": [{"name": "agent", "image": "agent:2"}]
            }}}}),
        ];
        let facts = Facts {
            context: "k3d-dev".into(),
            ..kind_facts()
        };
        assert_eq!(
            messages(&judge(&wanted(&manifests), &facts)),
            [
                "hint: image agent:2 (DaemonSet agent, container agent; imagePullPolicy \
                 IfNotPresent) is on no node: the kubelet will pull it from its registry, and \
                 its pods will not start if it cannot; load it with `k3d image import agent:2 \
                 -c dev`",
                "hint: image k3d-reg:5000/tools:1 (CronJob backup, container wait; \
                 imagePullPolicy IfNotPresent) is on no node: the kubelet will pull it from its \
                 registry, and its pods will not start if it cannot; load it with `k3d image \
                 import k3d-reg:5000/tools:1 -c dev`"
            ]
        );
    }

    #[test]
    fn a_read_the_user_may_not_make_is_said_as_not_checked_never_passed() {
        let manifests = stack(Some("fast-ssd"), Some("Never"));
        fn forbidden<T>(what: &str) -> Option<Read<T>> {
            Some(Read::Forbidden(format!("User \"ci\" cannot list {what}")))
        }
        let facts = Facts {
            context: "kind-lab".into(),
            storage_classes: forbidden("storageclasses"),
            node_ports: forbidden("services"),
            nodes: forbidden("nodes"),
        };
        let findings = judge(&wanted(&manifests), &facts);
        assert_eq!(
            messages(&findings),
            [
                "StorageClasses not checked: the user of this context may not list them (User \
                 \"ci\" cannot list storageclasses)",
                "nodePorts in use not checked: the user of this context may not list the \
                 Services of every namespace (User \"ci\" cannot list services)",
                "images on the nodes not checked: the user of this context may not list nodes \
                 (User \"ci\" cannot list nodes)"
            ]
        );
        assert!(findings.iter().all(|f| f.level == Level::Note));
        // Nodes that list no image prove nothing either.
        let blind = Facts {
            nodes: Some(Read::Answered(vec![node(&[])])),
            ..kind_facts()
        };
        assert_eq!(
            messages(&judge(
                &wanted(&stack(Some("standard"), Some("Never"))),
                &blind
            )),
            ["images on the nodes not checked: no node lists any image"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let manifests = stack(Some("fast-ssd"), Some("Never"));
        let facts = Facts {
            node_ports: Some(Read::Answered(vec![NodePortUse {
                port: 30500,
                service: "ci-2/flask-app".into(),
            }])),
            nodes: Some(Read::Answered(vec![node(&[
                "docker.io/library/busybox:1.36",
            ])])),
            ..kind_facts()
        };
        let findings = judge(&wanted(&manifests), &facts);
        let levels: Vec<Level> = findings.iter().map(|f| f.level).collect();
        assert_eq!(
            levels,
            [Level::Error, Level::Error, Level::Error, Level::Hint],
            "{findings:#?}"
        );
        assert!(findings[0].message.contains("`fast-ssd`"));
        assert!(findings[1].message.contains("ci-2/flask-app"));
        assert!(findings[2].message.starts_with("image flask-app:1.0 "));
        assert!(findings[3].message.starts_with("image mongo:7.0 "));
    }
}
