//! States of a stack that will not resolve without a change to its manifests or to the
//! cluster: a Secret key that does not exist, an image no node has and none may pull, a crash
//! loop, an OOM kill, a StorageClass the cluster lacks, a pod no node can take, a probe still
//! failing after its own start-up allowance. A wait that sees one ends with it as the verdict
//! instead of spending its whole deadline; the deadline stays the ceiling for slow progress.
//!
//! [`find`] is pure: it reads [`Facts`] gathered from the cluster ([`gather`]) and says each
//! blocker once, with the kubelet's or controller's own words and the fix. Only what was read
//! is said: a fact that could not be read leaves its rule silent (the deadline then decides).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};
use serde::Serialize;

use crate::cluster::{
    Cluster, ConfigKind, EventInfo, NodeInfo, PodMetrics, PodState, PodUsage, PvcState,
    StorageClassInfo, WorkloadKind,
};
use crate::imageref::default_pull_policy;

mod probes;

pub use probes::{describe_probe, probe_allowance};
use probes::{failing_probe, liveness_kills};

/// How long a container may sit in `CreateContainerConfigError` before it counts: the kubelet
/// reports it at once, and a Secret applied in the same batch may land a moment later.
pub const CONFIG_GRACE: Duration = Duration::from_secs(10);
/// How long a Secret or ConfigMap that does not exist at all may take to appear: a controller
/// (External Secrets, Sealed Secrets) may be about to create it.
pub const MISSING_OBJECT_GRACE: Duration = Duration::from_secs(30);
/// How long an image pull may stay in back-off: one more attempt after the first back-off,
/// so a registry that failed once (a timeout, a rate limit lifted) is not a verdict.
pub const PULL_GRACE: Duration = Duration::from_secs(20);
/// Added to a probe's own start-up allowance before its failures are certain.
pub const PROBE_MARGIN: Duration = Duration::from_secs(10);

/// Everything the rules read, gathered in one pass.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub pods: Vec<PodState>,
    pub events: Vec<EventInfo>,
    pub pvcs: Vec<PvcState>,
    /// The workloads' pod templates, by workload name.
    pub templates: Vec<(String, PodTemplateSpec)>,
    /// `None`: not read (not needed, or the read failed).
    pub storage_classes: Option<Vec<StorageClassInfo>>,
    pub nodes: Option<Vec<NodeInfo>>,
    /// Keys of the Secrets and ConfigMaps named in a configuration error; `None` inside: the
    /// object does not exist. Absent from the map: not read.
    pub config_keys: BTreeMap<(ConfigKind, String), Option<Vec<String>>>,
    /// What the metrics API saw of the pods, for OOM kills.
    pub usage: Vec<PodUsage>,
    /// Paths the profile says the app serves (health, ready), to compare probes with.
    pub served_paths: Vec<String>,
    /// Workloads not rolled out yet. A pod whose failures may only mean that another of them
    /// (its database) is still starting is not judged until they are.
    pub unsettled: Vec<String>,
}

impl Facts {
    /// Every workload but the pod's own has rolled out: what the pod depends on is up, so its
    /// failures are its own.
    fn dependencies_ready(&self, pod: &str) -> bool {
        self.unsettled
            .iter()
            .all(|workload| pod.starts_with(&format!("{workload}-")))
    }
}

/// A state that will not resolve by itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// The state's name as the cluster says it (`CreateContainerConfigError`, `Unschedulable`).
    pub state: String,
    /// The pods or claims in that state.
    pub subjects: Vec<String>,
    /// One sentence: what the cluster said, why it will not resolve, and the fix.
    pub cause: String,
    /// How long the state must last, on the waiting side's clock, before it is certain.
    pub grace: Duration,
}

impl Blocker {
    /// What identifies this blocker across two observations (for its grace period).
    pub fn key(&self) -> String {
        format!("{}|{}", self.state, self.cause)
    }

    /// `pods: cause`, for reports.
    pub fn sentence(&self) -> String {
        format!("{}: {}", self.subjects.join(", "), self.cause)
    }
}

/// Every blocker the facts show, root causes first: a claim that cannot bind comes before the
/// pod that cannot be scheduled for want of it, and is the only thing said about that pod.
pub fn find(facts: &Facts) -> Vec<Blocker> {
    let mut found: Vec<Blocker> = Vec::new();
    let mut add = |state: &str, subject: &str, cause: String, grace: Duration| {
        if let Some(same) = found
            .iter_mut()
            .find(|b| b.state == state && b.cause == cause)
        {
            if !same.subjects.iter().any(|s| s == subject) {
                same.subjects.push(subject.to_string());
            }
        } else {
            found.push(Blocker {
                state: state.into(),
                subjects: vec![subject.into()],
                cause,
                grace,
            });
        }
    };
    let mut claim_blocked = false;
    for pvc in facts.pvcs.iter().filter(|p| p.phase == "Pending") {
        if let Some(cause) = pending_claim(pvc, facts.storage_classes.as_deref()) {
            claim_blocked = true;
            add(
                "PersistentVolumeClaim Pending",
                &format!("PersistentVolumeClaim {}", pvc.name),
                cause,
                Duration::ZERO,
            );
        }
    }
    for pod in facts.pods.iter().filter(|p| !p.deleting) {
        let template = template_of(facts, &pod.name);
        if let Some(message) = &pod.unschedulable
            && !(claim_blocked && message.contains("PersistentVolumeClaim"))
            && let Some(cause) = unschedulable(message, template, facts.nodes.as_deref())
        {
            add("Unschedulable", &pod.name, cause, Duration::ZERO);
        }
        for container in &pod.containers {
            let spec = template.and_then(|t| container_spec(t, &container.name));
            if let Some((state, cause, grace)) = container_blocker(facts, pod, container, spec) {
                add(&state, &pod.name, cause, grace);
            }
        }
        if let Some(cause) = failing_probe(facts, pod, template) {
            add("probe failing", &pod.name, cause, Duration::ZERO);
        }
    }
    found
}

/// The pod template of the workload a pod belongs to (Deployment pods are
/// `name-<hash>-<suffix>`, StatefulSet pods `name-<ordinal>`).
fn template_of<'a>(facts: &'a Facts, pod: &str) -> Option<&'a PodTemplateSpec> {
    facts
        .templates
        .iter()
        .filter(|(workload, _)| pod.starts_with(&format!("{workload}-")))
        .max_by_key(|(workload, _)| workload.len())
        .map(|(_, template)| template)
}

fn container_spec<'a>(template: &'a PodTemplateSpec, name: &str) -> Option<&'a Container> {
    let spec = template.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

fn pending_claim(pvc: &PvcState, classes: Option<&[StorageClassInfo]>) -> Option<String> {
    let classes = classes?;
    let listed = if classes.is_empty() {
        "none".to_string()
    } else {
        classes
            .iter()
            .map(|c| {
                if c.default {
                    format!("{} (default)", c.name)
                } else {
                    c.name.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match pvc.storage_class.as_deref() {
        Some("") => None,
        Some(class) if !classes.iter().any(|c| c.name == class) => Some(format!(
            "Pending: it asks for StorageClass `{class}`, which this cluster does not have \
             (its classes: {listed}); name one of those in storageClassName, or leave it out \
             to get the default"
        )),
        None if !classes.iter().any(|c| c.default) => Some(format!(
            "Pending: it names no StorageClass and the cluster has no default one (its classes: \
             {listed}); name a class in storageClassName or mark one as default"
        )),
        _ => None,
    }
}

/// The node reasons of a scheduling failure (`0/1 nodes are available: 1 Insufficient cpu, 1
/// node(s) didn't match ...`), with how many nodes each applies to.
fn node_reasons(message: &str) -> Option<(u32, Vec<(u32, String)>)> {
    let rest = message.split("0/").nth(1)?;
    let (total, rest) = rest.split_once(" nodes are available: ")?;
    let total: u32 = total.trim().parse().ok()?;
    // "... . preemption: ..." follows on newer schedulers.
    let reasons = rest.split(". preemption:").next()?.trim_end_matches('.');
    let parsed = reasons
        .split(", ")
        .filter_map(|r| {
            let (count, reason) = r.trim().split_once(' ')?;
            Some((count.parse().ok()?, reason.to_string()))
        })
        .collect();
    Some((total, parsed))
}

fn requests(template: &PodTemplateSpec) -> (u64, u64) {
    let mut cpu = 0;
    let mut memory = 0;
    for container in template.spec.iter().flat_map(|s| &s.containers) {
        let requested = container
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref());
        if let Some(requested) = requested {
            cpu += requested
                .get("cpu")
                .and_then(|q| crate::quantity::cpu_millis(&q.0))
                .unwrap_or(0);
            memory += requested
                .get("memory")
                .and_then(|q| crate::quantity::memory_bytes(&q.0))
                .unwrap_or(0);
        }
    }
    (cpu, memory)
}

/// A scheduling failure that no waiting and no autoscaler of this cluster's node shape will
/// fix: every node is ruled out by a selector or affinity, or the pod asks for more than any
/// node can allocate at all. "Insufficient cpu" on a node that could hold the pod once others
/// leave is not certain, and says nothing here.
fn unschedulable(
    message: &str,
    template: Option<&PodTemplateSpec>,
    nodes: Option<&[NodeInfo]>,
) -> Option<String> {
    let (total, reasons) = node_reasons(message)?;
    let (cpu, memory) = template.map(requests).unwrap_or_default();
    let nodes = nodes.unwrap_or_default();
    let largest_cpu = nodes.iter().map(|n| n.allocatable_cpu_millis).max();
    let largest_memory = nodes.iter().map(|n| n.allocatable_memory_bytes).max();
    let mut certain = 0;
    let mut why = Vec::new();
    for (count, reason) in &reasons {
        let permanent = if reason.contains("didn't match Pod's node affinity/selector") {
            why.push(format!(
                "{count} node(s) do not match its nodeSelector/affinity"
            ));
            true
        } else if reason == "Insufficient cpu" && largest_cpu.is_some_and(|l| cpu > l) {
            why.push(format!(
                "it requests {cpu}m CPU and the largest node can allocate {}m",
                largest_cpu.unwrap_or_default()
            ));
            true
        } else if reason == "Insufficient memory" && largest_memory.is_some_and(|l| memory > l) {
            why.push(format!(
                "it requests {} MiB of memory and the largest node can allocate {} MiB",
                memory >> 20,
                largest_memory.unwrap_or_default() >> 20
            ));
            true
        } else {
            false
        };
        if permanent {
            certain += count;
        }
    }
    (total > 0 && certain >= total).then(|| {
        format!(
            "Unschedulable ({}): {}; no node of this cluster can ever take it: lower the \
             requests or fix the nodeSelector/affinity",
            message.trim(),
            why.join("; ")
        )
    })
}

/// The nodes that have `image`; `None` when that is not known: the nodes could not be read,
/// or none lists it and one lists the kubelet's cap (it may hold the image unlisted).
pub fn nodes_with(image: &str, nodes: Option<&[NodeInfo]>) -> Option<Vec<String>> {
    let nodes = nodes?;
    let on: Vec<String> = nodes
        .iter()
        .filter(|n| n.has_image(image))
        .map(|n| n.name.clone())
        .collect();
    // "On no node" is only read when every node's list is whole (below the kubelet's cap).
    (!on.is_empty() || nodes.iter().all(NodeInfo::images_complete)).then_some(on)
}

fn pull_policy(image: &str, spec: Option<&Container>) -> String {
    spec.and_then(|c| c.image_pull_policy.clone())
        .unwrap_or_else(|| default_pull_policy(image).to_string())
}

fn container_blocker(
    facts: &Facts,
    pod: &PodState,
    container: &crate::cluster::ContainerInfo,
    spec: Option<&Container>,
) -> Option<(String, String, Duration)> {
    let name = &container.name;
    let message = container.waiting_message.as_deref().unwrap_or_default();
    if container.last_reason.as_deref() == Some("OOMKilled") {
        return Some((
            "OOMKilled".into(),
            oom(facts, pod, container, spec),
            Duration::ZERO,
        ));
    }
    let reason = container.waiting_reason.as_deref()?;
    let image = spec
        .and_then(|c| c.image.clone())
        .unwrap_or_else(|| container.image.clone());
    let cause = match reason {
        "CreateContainerConfigError" => {
            let missing = missing_config(message, &facts.config_keys);
            let object_missing = parse_config_error(message).is_some_and(|(kind, name, _)| {
                !matches!(facts.config_keys.get(&(kind, name)), Some(Some(_)))
            });
            return Some((
                reason.into(),
                format!(
                    "container {name} cannot be created (CreateContainerConfigError: {message}){missing}"
                ),
                if object_missing {
                    MISSING_OBJECT_GRACE
                } else {
                    CONFIG_GRACE
                },
            ));
        }
        "InvalidImageName" => format!(
            "container {name} has an invalid image reference `{image}` (InvalidImageName: \
             {message}); fix the image name"
        ),
        "ErrImageNeverPull" => {
            image_cause(reason, name, &image, message, spec, facts.nodes.as_deref())
        }
        "ImagePullBackOff" => {
            return Some((
                reason.into(),
                image_cause(reason, name, &image, message, spec, facts.nodes.as_deref()),
                PULL_GRACE,
            ));
        }
        "CrashLoopBackOff" => {
            if liveness_kills(&facts.events, &pod.name) > 0 {
                // The liveness rule names this one with its probe.
                return None;
            }
            if !facts.dependencies_ready(&pod.name) {
                // An app that exits while its database starts may run once it is up.
                return None;
            }
            let last = match (&container.last_reason, container.last_exit_code) {
                (Some(reason), Some(code)) => {
                    format!("; its last run ended {reason} (exit code {code})")
                }
                (Some(reason), None) => format!("; its last run ended {reason}"),
                _ => String::new(),
            };
            format!(
                "container {name} keeps crashing (CrashLoopBackOff, {} restart(s){last}); its \
                 previous logs below say why",
                container.restarts
            )
        }
        _ => return None,
    };
    Some((reason.into(), cause, Duration::ZERO))
}

fn image_cause(
    reason: &str,
    container: &str,
    image: &str,
    message: &str,
    spec: Option<&Container>,
    nodes: Option<&[NodeInfo]>,
) -> String {
    let policy = pull_policy(image, spec);
    let said = if message.is_empty() {
        reason.to_string()
    } else {
        format!("{reason}: {message}")
    };
    let load = format!(
        "load it onto the node (kind: `kind load docker-image {image}`; minikube: `minikube \
         image load {image}`)"
    );
    match nodes_with(image, nodes) {
        None => format!(
            "container {container} cannot get image `{image}` ({said}; imagePullPolicy: \
             {policy}); whether a node has it is not known (the nodes could not be read, or one \
             lists the kubelet's cap of images)"
        ),
        Some(on) if on.is_empty() && reason == "ErrImageNeverPull" => format!(
            "container {container} cannot start: image `{image}` is on no node and \
             imagePullPolicy is Never ({said}); {load}, or let the kubelet pull it from a registry"
        ),
        Some(on) if on.is_empty() => format!(
            "container {container} cannot get image `{image}`: no node has it and the registry \
             does not serve it ({said}); push it to a registry the cluster can reach, or {load} \
             with imagePullPolicy: IfNotPresent"
        ),
        Some(on) => format!(
            "container {container} cannot get image `{image}` although node {} has it: \
             imagePullPolicy {policy} makes the kubelet ask the registry, which does not serve it \
             ({said}); set imagePullPolicy: IfNotPresent",
            on.join(", ")
        ),
    }
}

/// `couldn't find key k in Secret ns/name` and `secret "name" not found`, with the keys the
/// object does have.
fn missing_config(
    message: &str,
    keys: &BTreeMap<(ConfigKind, String), Option<Vec<String>>>,
) -> String {
    let Some((kind, name, key)) = parse_config_error(message) else {
        return "; check the Secrets and ConfigMaps the pod references".into();
    };
    let fix = match &key {
        Some(key) => format!("fix the key the pod references or add `{key}` to {kind} {name}"),
        None => format!(
            "create {kind} {name} before the pods start, or fix the name the pod references"
        ),
    };
    match keys.get(&(kind, name.clone())) {
        Some(Some(present)) if key.is_some() => format!(
            "; {kind} {name} has {}: {fix}",
            if present.is_empty() {
                "no keys".to_string()
            } else {
                format!("the keys {}", present.join(", "))
            }
        ),
        Some(None) => format!("; {kind} {name} does not exist: {fix}"),
        _ => format!(": {fix}"),
    }
}

/// (kind, name, key) from the kubelet's configuration error.
pub fn parse_config_error(message: &str) -> Option<(ConfigKind, String, Option<String>)> {
    let message = message.trim_start_matches("Error: ");
    if let Some(rest) = message.strip_prefix("couldn't find key ") {
        let (key, rest) = rest.split_once(" in ")?;
        let (kind, object) = rest.split_once(' ')?;
        let kind = match kind {
            "Secret" => ConfigKind::Secret,
            "ConfigMap" => ConfigKind::ConfigMap,
            _ => return None,
        };
        let name = object.rsplit('/').next()?.trim().to_string();
        return Some((kind, name, Some(key.to_string())));
    }
    for (prefix, kind) in [
        ("secret \"", ConfigKind::Secret),
        ("configmap \"", ConfigKind::ConfigMap),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (name, tail) = rest.split_once('"')?;
            if tail.contains("not found") {
                return Some((kind, name.to_string(), None));
            }
        }
    }
    None
}

fn oom(
    facts: &Facts,
    pod: &PodState,
    container: &crate::cluster::ContainerInfo,
    spec: Option<&Container>,
) -> String {
    let limit = spec
        .and_then(|c| {
            c.resources
                .as_ref()?
                .limits
                .as_ref()?
                .get("memory")
                .cloned()
        })
        .map_or_else(
            || "no memory limit set".to_string(),
            |q| format!("memory limit {}", q.0),
        );
    let usage = facts
        .usage
        .iter()
        .find(|u| u.pod == pod.name)
        .map(|u| {
            format!(
                "; the metrics API last saw the pod use {} MiB",
                u.memory_bytes >> 20
            )
        })
        .unwrap_or_default();
    let when = if pod.ready || container.ready {
        "under its work"
    } else {
        "before it ever became ready, so the limit is below what the app needs to start"
    };
    format!(
        "container {} was OOMKilled {when} ({limit}{usage}, {} restart(s)); raise \
         resources.limits.memory or make the app use less",
        container.name, container.restarts
    )
}

/// Which extra reads the cheap facts call for, so a healthy rollout costs three lists a round.
fn needs(facts: &Facts) -> (bool, bool, Vec<(ConfigKind, String)>) {
    let storage = facts.pvcs.iter().any(|p| p.phase == "Pending");
    let waiting = |reasons: &[&str]| {
        facts.pods.iter().any(|p| {
            p.containers.iter().any(|c| {
                c.waiting_reason
                    .as_deref()
                    .is_some_and(|r| reasons.contains(&r))
            })
        })
    };
    let nodes = waiting(&["ErrImageNeverPull", "ImagePullBackOff"])
        || facts.pods.iter().any(|p| p.unschedulable.is_some());
    let config = facts
        .pods
        .iter()
        .flat_map(|p| &p.containers)
        .filter_map(|c| parse_config_error(c.waiting_message.as_deref()?))
        .map(|(kind, name, _)| (kind, name))
        .collect();
    (storage, nodes, config)
}

/// The pod templates of the workloads that exist, by workload name. They do not change while
/// a rollout is watched, so a wait reads them once.
pub async fn templates<C: Cluster>(
    cluster: &C,
    namespace: &str,
    workloads: &[(WorkloadKind, String)],
) -> Vec<(String, PodTemplateSpec)> {
    let mut found = Vec::new();
    for (kind, name) in workloads {
        if let Ok(Some(template)) = cluster.pod_template(namespace, *kind, name).await {
            found.push((name.clone(), template));
        }
    }
    found
}

/// Reads the facts about the pods matching `selectors`, in `namespace`, beside the workloads'
/// `templates`. What cannot be read is left out (its rules stay silent).
pub async fn gather<C: Cluster>(
    cluster: &C,
    namespace: &str,
    selectors: &[String],
    templates: Vec<(String, PodTemplateSpec)>,
    served_paths: &[String],
) -> Facts {
    let mut facts = Facts {
        served_paths: served_paths.to_vec(),
        templates,
        ..Facts::default()
    };
    for selector in selectors {
        if let Ok(pods) = cluster.pods(namespace, selector).await {
            facts.pods.extend(pods);
        }
    }
    facts.events = cluster.events(namespace).await.unwrap_or_default();
    facts.pvcs = cluster.pvcs(namespace).await.unwrap_or_default();
    let (storage, nodes, config) = needs(&facts);
    if storage {
        facts.storage_classes = cluster.storage_classes().await.ok();
    }
    if nodes {
        facts.nodes = cluster.nodes().await.ok();
    }
    for (kind, name) in config {
        if let Ok(keys) = cluster.config_keys(namespace, kind, &name).await {
            facts.config_keys.insert((kind, name), keys);
        }
    }
    let oom = facts.pods.iter().any(|p| {
        p.containers
            .iter()
            .any(|c| c.last_reason.as_deref() == Some("OOMKilled"))
    });
    if oom {
        for selector in selectors {
            if let Ok(PodMetrics::Samples(samples)) = cluster.pod_metrics(namespace, selector).await
            {
                facts.usage.extend(samples);
            }
        }
    }
    facts
}

/// Remembers since when each blocker has been seen, on the waiting side's clock, so a state is
/// certain only once it has lasted its grace period.
#[derive(Debug, Default)]
pub struct Persistence {
    first_seen: BTreeMap<String, Duration>,
}

impl Persistence {
    /// The blockers of this observation that have lasted their grace; forgets those gone.
    pub fn certain(&mut self, blockers: Vec<Blocker>, now: Duration) -> Vec<Blocker> {
        let keys: Vec<String> = blockers.iter().map(Blocker::key).collect();
        self.first_seen.retain(|k, _| keys.contains(k));
        blockers
            .into_iter()
            .filter(|b| {
                let since = *self.first_seen.entry(b.key()).or_insert(now);
                now.saturating_sub(since) >= b.grace
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nodes_with_an_image_are_found_by_containerds_name() {
        let nodes = [NodeInfo {
            name: "lab".into(),
            images: vec!["docker.io/library/deploycheck-app:0.1.0".into()],
            ..NodeInfo::default()
        }];
        assert_eq!(
            nodes_with("deploycheck-app:0.1.0", Some(&nodes)),
            Some(vec!["lab".to_string()])
        );
        assert_eq!(
            nodes_with("deploycheck-app:0.2.0", Some(&nodes)),
            Some(Vec::new())
        );
        assert_eq!(nodes_with("deploycheck-app:0.1.0", None), None);
    }

    #[test]
    fn the_kubelets_configuration_errors_name_the_object_and_key() {
        assert_eq!(
            parse_config_error("couldn't find key mongodb-password in Secret ns/mongodb-secret"),
            Some((
                ConfigKind::Secret,
                "mongodb-secret".into(),
                Some("mongodb-password".into())
            ))
        );
        assert_eq!(
            parse_config_error("Error: couldn't find key url in ConfigMap ns/app-config"),
            Some((
                ConfigKind::ConfigMap,
                "app-config".into(),
                Some("url".into())
            ))
        );
        assert_eq!(
            parse_config_error("secret \"mongodb-secret\" not found"),
            Some((ConfigKind::Secret, "mongodb-secret".into(), None))
        );
        assert_eq!(
            parse_config_error("configmap \"app-config\" not found"),
            Some((ConfigKind::ConfigMap, "app-config".into(), None))
        );
        assert_eq!(parse_config_error("something else"), None);
    }

    /// A Secret that does not exist at all is said so, with the fix.
    #[test]
    fn a_secret_that_does_not_exist_is_named() {
        let keys = [((ConfigKind::Secret, "mongodb-secret".to_string()), None)].into();
        assert_eq!(
            missing_config("secret \"mongodb-secret\" not found", &keys),
            "; Secret mongodb-secret does not exist: create Secret mongodb-secret before the pods start, or fix the name the pod references"
        );
    }

    #[test]
    fn a_blocker_is_certain_only_after_its_grace_and_forgotten_when_gone() {
        let blocker = Blocker {
            state: "CreateContainerConfigError".into(),
            subjects: vec!["a".into()],
            cause: "x".into(),
            grace: Duration::from_secs(10),
        };
        let mut persistence = Persistence::default();
        assert!(
            persistence
                .certain(vec![blocker.clone()], Duration::from_secs(1))
                .is_empty()
        );
        assert!(
            persistence
                .certain(vec![blocker.clone()], Duration::from_secs(8))
                .is_empty()
        );
        assert_eq!(
            persistence
                .certain(vec![blocker.clone()], Duration::from_secs(11))
                .len(),
            1
        );
        // Gone for a round: the grace starts again.
        assert!(
            persistence
                .certain(Vec::new(), Duration::from_secs(12))
                .is_empty()
        );
        assert!(
            persistence
                .certain(vec![blocker], Duration::from_secs(13))
                .is_empty()
        );
    }

    #[test]
    fn a_node_affinity_nothing_matches_is_certain_and_a_busy_node_is_not() {
        let message = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
        let cause = unschedulable(message, None, None).unwrap();
        assert!(
            cause.contains("3 node(s) do not match its nodeSelector/affinity"),
            "{cause}"
        );
        assert_eq!(
            unschedulable(
                "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.",
                None,
                None
            ),
            None
        );
    }

    /// A node listing the kubelet's cap of images may hold one it does not list: "no node has
    /// it" is not said then.
    #[test]
    fn a_node_at_the_kubelets_image_cap_leaves_the_image_unknown() {
        let full = NodeInfo {
            name: "lab".into(),
            images: (0..crate::cluster::NODE_STATUS_MAX_IMAGES)
                .map(|i| format!("docker.io/library/other-{i}:1"))
                .collect(),
            ..NodeInfo::default()
        };
        assert_eq!(
            nodes_with("deploycheck-app:0.1.0", Some(std::slice::from_ref(&full))),
            None
        );
        let mut listed = full;
        listed.images[0] = "docker.io/library/deploycheck-app:0.1.0".into();
        assert_eq!(
            nodes_with("deploycheck-app:0.1.0", Some(&[listed])),
            Some(vec!["lab".to_string()])
        );
    }
}
