//! Rules over Kubernetes objects: database wiring, probes, resources, HPA, Services, images,
//! security context, availability.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{Finding, Rule, Severity, finding};
use crate::manifest::Object;
use crate::profile::Profile;
use crate::quantity::{cpu_millis, memory_bytes};
use crate::yaml::Node;

macro_rules! rule {
    ($name:ident, $id:literal, $severity:ident, $why:literal, $hint:literal) => {
        pub const $name: Rule = Rule {
            id: $id,
            severity: Severity::$severity,
            why: $why,
            hint: $hint,
        };
    };
}

rule!(
    DB_HOST,
    "DC001",
    Error,
    "the app must reach MongoDB by its Service name: localhost is the app's own pod and pod IPs change on every restart",
    "set the host to the MongoDB Service name (e.g. `mongodb`, or `mongodb.<namespace>.svc.cluster.local`)"
);
rule!(
    SECRET_CREDENTIALS,
    "DC002",
    Error,
    "database credentials written into a manifest end up in git, in `kubectl describe` and in every log of the object",
    "move them into a Secret and reference them with `valueFrom.secretKeyRef` or `envFrom.secretRef`"
);
rule!(
    MONGO_AUTH,
    "DC003",
    Error,
    "MongoDB without authentication lets anything that reaches port 27017 read and drop every database",
    "set MONGO_INITDB_ROOT_USERNAME and MONGO_INITDB_ROOT_PASSWORD from a Secret (the official image then starts with --auth)"
);
rule!(
    DB_ON_PVC,
    "DC004",
    Error,
    "MongoDB data outside a PersistentVolumeClaim is lost whenever the pod is deleted or rescheduled",
    "mount a PVC at /data/db, preferably from the StatefulSet's volumeClaimTemplates"
);
rule!(
    DB_STATEFULSET,
    "DC005",
    Warning,
    "a database needs a stable identity and its own volume per replica, which a StatefulSet with a headless Service gives",
    "run MongoDB as a StatefulSet whose serviceName names a Service with `clusterIP: None`"
);
rule!(
    PROBES,
    "DC010",
    Error,
    "without a liveness probe a hung process is never restarted; without a readiness probe traffic reaches pods that cannot serve",
    "add livenessProbe (e.g. GET /health) and readinessProbe (e.g. GET /ready) to every long-running container"
);
rule!(
    PROBE_PORT,
    "DC011",
    Error,
    "a probe on a port the container does not expose always fails: the pod never becomes Ready or restarts forever",
    "point the probe at a declared containerPort (by number or name)"
);
rule!(
    LIVENESS_IS_READINESS,
    "DC012",
    Warning,
    "a liveness probe identical to readiness restarts every app pod when the database has an outage, which cannot help",
    "keep liveness on a check of the process alone (/health) and readiness on one that checks the database (/ready)"
);
rule!(
    RESOURCES,
    "DC020",
    Error,
    "without requests the scheduler overcommits nodes and the HPA cannot compute utilisation; without limits one pod can starve the node",
    "set resources.requests and resources.limits for cpu and memory on every container"
);
rule!(
    LIMITS_BELOW_REQUESTS,
    "DC021",
    Error,
    "Kubernetes rejects a container whose limit is below its request",
    "raise the limit to at least the request"
);
rule!(
    RESOURCES_BOUNDS,
    "DC022",
    Warning,
    "a limit above what the profile allows hides a leak and crowds out other workloads",
    "lower the limit, or raise app.resources.max_limits_* in the profile if it is intended"
);
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
rule!(
    SERVICE_SELECTOR,
    "DC040",
    Error,
    "a Service whose selector matches no pod has no endpoints: every connection is refused",
    "make spec.selector a subset of the pod template's labels"
);
rule!(
    SERVICE_TARGET_PORT,
    "DC041",
    Error,
    "a Service forwarding to a port the pods do not expose gives connection refused",
    "set targetPort to a containerPort (number or name) of the selected pods"
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
    RUN_AS_NON_ROOT,
    "DC060",
    Error,
    "a container running as root turns any code execution bug into root in the container",
    "set securityContext.runAsNonRoot: true with a numeric runAsUser (pod or container level)"
);
rule!(
    PRIVILEGE_ESCALATION,
    "DC061",
    Warning,
    "allowPrivilegeEscalation defaults to true: setuid binaries can gain privileges",
    "set securityContext.allowPrivilegeEscalation: false on every container"
);
rule!(
    READ_ONLY_ROOT,
    "DC062",
    Warning,
    "a writable root filesystem lets an attacker drop tools or alter the app in place",
    "set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the app must write"
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

pub const RULES: [Rule; 25] = [
    DB_HOST,
    SECRET_CREDENTIALS,
    MONGO_AUTH,
    DB_ON_PVC,
    DB_STATEFULSET,
    PROBES,
    PROBE_PORT,
    LIVENESS_IS_READINESS,
    RESOURCES,
    LIMITS_BELOW_REQUESTS,
    RESOURCES_BOUNDS,
    HPA_TARGET,
    HPA_BOUNDS,
    HPA_CPU_METRIC,
    HPA_NEEDS_REQUESTS,
    HPA_OWNS_REPLICAS,
    SERVICE_SELECTOR,
    SERVICE_TARGET_PORT,
    IMAGE_TAG,
    PULL_NEVER,
    RUN_AS_NON_ROOT,
    PRIVILEGE_ESCALATION,
    READ_ONLY_ROOT,
    APP_REPLICAS,
    PDB,
];

/// A Pod-owning object and its pod template.
struct Workload<'a> {
    object: &'a Object,
    pod_spec: &'a Node,
    pod_labels: BTreeMap<String, String>,
    is_database: bool,
    is_app: bool,
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

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `matchLabels` of a label selector (matchExpressions are not evaluated).
fn match_labels(selector: Option<&Node>) -> BTreeMap<String, String> {
    labels(selector.and_then(|s| s.get("matchLabels")))
}

/// Runs every Kubernetes rule.
pub fn check(objects: &[Object], profile: &Profile) -> Vec<Finding> {
    let workloads = workloads(objects, profile);
    let services: Vec<&Object> = objects.iter().filter(|o| o.kind == "Service").collect();
    let mut out = Vec::new();
    for workload in &workloads {
        check_workload(workload, &services, objects, &mut out);
        for container in all_containers(workload.pod_spec) {
            check_resource_bounds(workload.object, container, profile, &mut out);
        }
    }
    check_hpas(objects, &workloads, &mut out);
    check_hpa_owned_replicas(objects, &mut out);
    check_services(&services, &workloads, &mut out);
    check_availability(objects, &workloads, &mut out);
    check_configmaps(objects, &mut out);
    out
}

fn push(out: &mut Vec<Finding>, rule: &'static Rule, object: &Object, line: u64, message: String) {
    out.push(finding(rule, &object.origin, line, object.id(), message));
}

fn check_workload(w: &Workload, services: &[&Object], objects: &[Object], out: &mut Vec<Finding>) {
    let object = w.object;
    let long_running = !matches!(object.kind.as_str(), "Job" | "CronJob");
    let pod_security = w.pod_spec.get("securityContext");

    for container in all_containers(w.pod_spec) {
        let name = container_name(container);
        let is_init = !containers(w.pod_spec)
            .iter()
            .any(|c| std::ptr::eq(c, container));
        check_image(object, container, &name, out);
        check_resources(object, container, &name, out);
        check_security(object, container, &name, pod_security, out);
        check_env(w, container, &name, services, objects, out);
        if long_running && !is_init {
            check_probes(w, container, &name, out);
        }
    }
    if w.is_database {
        check_database(w, services, out);
    }
}

fn check_image(object: &Object, container: &Node, name: &str, out: &mut Vec<Finding>) {
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

fn check_resources(object: &Object, container: &Node, name: &str, out: &mut Vec<Finding>) {
    let resources = container.get("resources");
    let line = resources.map_or(container.line, |r| r.line);
    let value = |section: &str, key: &str| {
        resources
            .and_then(|r| r.path(&[section, key]))
            .and_then(Node::scalar_text)
    };
    let mut missing = Vec::new();
    for (section, key) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "cpu"),
        ("limits", "memory"),
    ] {
        if value(section, key).is_none() {
            missing.push(format!("{section}.{key}"));
        }
    }
    if !missing.is_empty() {
        push(
            out,
            &RESOURCES,
            object,
            line,
            format!("container `{name}` has no {}", missing.join(", ")),
        );
    }
    for (key, parse) in [
        ("cpu", cpu_millis as fn(&str) -> Option<u64>),
        ("memory", memory_bytes),
    ] {
        if let (Some(request), Some(limit)) = (value("requests", key), value("limits", key))
            && let (Some(r), Some(l)) = (parse(&request), parse(&limit))
            && l < r
        {
            push(
                out,
                &LIMITS_BELOW_REQUESTS,
                object,
                line,
                format!(
                    "container `{name}` limits.{key} {limit} is below requests.{key} {request}"
                ),
            );
        }
    }
}

fn check_resource_bounds(
    object: &Object,
    container: &Node,
    profile: &Profile,
    out: &mut Vec<Finding>,
) {
    let name = container_name(container);
    let Some(limits) = container.path(&["resources", "limits"]) else {
        return;
    };
    let bounds = &profile.app.resources;
    if let (Some(cpu), Some(max)) = (
        limits.get("cpu").and_then(Node::scalar_text),
        cpu_millis(&bounds.max_limits_cpu),
    ) && cpu_millis(&cpu).is_some_and(|c| c > max)
    {
        push(
            out,
            &RESOURCES_BOUNDS,
            object,
            limits.line,
            format!(
                "container `{name}` limits.cpu {cpu} exceeds the profile's {}",
                bounds.max_limits_cpu
            ),
        );
    }
    if let (Some(memory), Some(max)) = (
        limits.get("memory").and_then(Node::scalar_text),
        memory_bytes(&bounds.max_limits_memory),
    ) && memory_bytes(&memory).is_some_and(|m| m > max)
    {
        push(
            out,
            &RESOURCES_BOUNDS,
            object,
            limits.line,
            format!(
                "container `{name}` limits.memory {memory} exceeds the profile's {}",
                bounds.max_limits_memory
            ),
        );
    }
}

fn check_security(
    object: &Object,
    container: &Node,
    name: &str,
    pod_security: Option<&Node>,
    out: &mut Vec<Finding>,
) {
    let own = container.get("securityContext");
    let setting = |key: &str| {
        own.and_then(|s| s.get(key))
            .or_else(|| pod_security.and_then(|s| s.get(key)))
    };
    let line = own.map_or(container.line, |s| s.line);
    let non_root = setting("runAsNonRoot").and_then(Node::as_bool) == Some(true);
    let user = setting("runAsUser").and_then(Node::as_i64);
    let root_possible = !non_root && user.is_none_or(|u| u <= 0);
    if root_possible || user == Some(0) {
        push(
            out,
            &RUN_AS_NON_ROOT,
            object,
            line,
            format!(
                "container `{name}` may run as root (no runAsNonRoot: true, no non-zero runAsUser)"
            ),
        );
    }
    // These two only exist at container level.
    let container_setting = |key: &str| own.and_then(|s| s.get(key)).and_then(Node::as_bool);
    if container_setting("allowPrivilegeEscalation") != Some(false) {
        push(
            out,
            &PRIVILEGE_ESCALATION,
            object,
            line,
            format!("container `{name}` does not set allowPrivilegeEscalation: false"),
        );
    }
    if container_setting("readOnlyRootFilesystem") != Some(true) {
        push(
            out,
            &READ_ONLY_ROOT,
            object,
            line,
            format!("container `{name}` does not set readOnlyRootFilesystem: true"),
        );
    }
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

/// The handler of a probe, for comparing liveness with readiness.
fn probe_handler(probe: &Node) -> Option<String> {
    ["httpGet", "tcpSocket", "grpc", "exec"]
        .iter()
        .find_map(|kind| probe.get(kind).map(|h| format!("{kind}:{}", h.to_json())))
}

fn check_probes(w: &Workload, container: &Node, name: &str, out: &mut Vec<Finding>) {
    let object = w.object;
    let liveness = container.get("livenessProbe");
    let readiness = container.get("readinessProbe");
    let missing: Vec<&str> = [("livenessProbe", liveness), ("readinessProbe", readiness)]
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| *n)
        .collect();
    if !missing.is_empty() {
        push(
            out,
            &PROBES,
            object,
            container.line,
            format!("container `{name}` has no {}", missing.join(" and ")),
        );
    }
    let ports = declared_ports(container);
    for (kind, probe) in [
        ("livenessProbe", liveness),
        ("readinessProbe", readiness),
        ("startupProbe", container.get("startupProbe")),
    ] {
        let Some(probe) = probe else { continue };
        let Some(port) = ["httpGet", "tcpSocket", "grpc"]
            .iter()
            .find_map(|h| probe.path(&[h, "port"]))
        else {
            continue;
        };
        let exposed = match port.as_i64() {
            Some(number) => ports.is_empty() || ports.iter().any(|(p, _)| *p == Some(number)),
            None => {
                let wanted = port.scalar_text().unwrap_or_default();
                ports
                    .iter()
                    .any(|(_, n)| n.as_deref() == Some(wanted.as_str()))
            }
        };
        if !exposed {
            let declared: Vec<String> = ports
                .iter()
                .map(|(p, n)| match (p, n) {
                    (Some(p), Some(n)) => format!("{p} ({n})"),
                    (Some(p), None) => p.to_string(),
                    (None, Some(n)) => n.clone(),
                    (None, None) => "?".into(),
                })
                .collect();
            push(
                out,
                &PROBE_PORT,
                object,
                port.line,
                format!(
                    "container `{name}` {kind} uses port {} but the container declares {}",
                    port.scalar_text().unwrap_or_default(),
                    if declared.is_empty() {
                        "no ports".to_string()
                    } else {
                        declared.join(", ")
                    }
                ),
            );
        }
    }
    if w.is_app
        && let (Some(l), Some(r)) = (liveness, readiness)
        && probe_handler(l).is_some()
        && probe_handler(l) == probe_handler(r)
    {
        push(
            out,
            &LIVENESS_IS_READINESS,
            object,
            l.line,
            format!("container `{name}` uses the same check for liveness and readiness"),
        );
    }
}

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "localhost.localdomain", "ip6-localhost"];

/// Why `host` is not a Service name, if it is not.
fn host_problem(host: &str, services: &[&Object]) -> Option<String> {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    if LOOPBACK_NAMES.contains(&host.to_ascii_lowercase().as_str()) {
        return Some(format!("`{host}` is the app's own pod, not the database"));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(if ip.is_loopback() {
            format!("`{host}` is the app's own pod, not the database")
        } else {
            format!(
                "`{host}` is an IP address; pod and cluster IPs change when objects are re-created"
            )
        });
    }
    if services.is_empty() {
        return None; // Nothing to compare with: the Services may live in another file.
    }
    let short = host.split('.').next().unwrap_or(host);
    let known = services.iter().any(|s| s.name == short);
    (!known).then(|| {
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        format!(
            "`{host}` is not a Service in these manifests (Services: {})",
            names.join(", ")
        )
    })
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

fn is_credential_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "_PWD", "SECRET", "TOKEN"]
        .iter()
        .any(|w| upper.contains(w))
        || (upper.contains("MONGO") && (upper.ends_with("USERNAME") || upper.ends_with("_USER")))
}

fn is_host_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    (upper.contains("MONGO") && upper.ends_with("HOST")) || upper == "DB_HOST"
}

fn check_env(
    w: &Workload,
    container: &Node,
    name: &str,
    services: &[&Object],
    objects: &[Object],
    out: &mut Vec<Finding>,
) {
    let object = w.object;
    for env in container.get("env").map(Node::items).unwrap_or_default() {
        let var = env.get("name").and_then(Node::as_str).unwrap_or_default();
        let literal = env.get("value");
        let text = literal.and_then(Node::scalar_text);
        let line = literal.map_or(env.line, |v| v.line);
        if let Some(value) = text.as_deref().filter(|v| !v.is_empty()) {
            if is_credential_name(var) {
                push(
                    out,
                    &SECRET_CREDENTIALS,
                    object,
                    line,
                    format!("container `{name}` sets {var} as a literal value"),
                );
            } else if uri_has_password(value) {
                push(
                    out,
                    &SECRET_CREDENTIALS,
                    object,
                    line,
                    format!("container `{name}` has a password inside the {var} connection string"),
                );
            }
        }
        if !w.is_app {
            continue;
        }
        // The value may also come from a ConfigMap in the same manifests.
        let value = text.or_else(|| config_map_value(env, objects));
        let Some(value) = value else { continue };
        let hosts = if value.contains("://") {
            uri_hosts(&value)
        } else if is_host_name(var) {
            vec![value.clone()]
        } else {
            Vec::new()
        };
        for host in hosts {
            if let Some(problem) = host_problem(&host, services) {
                push(
                    out,
                    &DB_HOST,
                    object,
                    line,
                    format!("container `{name}` {var}: {problem}"),
                );
            }
        }
    }
}

fn config_map_value(env: &Node, objects: &[Object]) -> Option<String> {
    let reference = env.path(&["valueFrom", "configMapKeyRef"])?;
    let map = reference.get("name").and_then(Node::as_str)?;
    let key = reference.get("key").and_then(Node::as_str)?;
    objects
        .iter()
        .find(|o| o.kind == "ConfigMap" && o.name == map)?
        .node
        .path(&["data", key])?
        .scalar_text()
}

fn check_configmaps(objects: &[Object], out: &mut Vec<Finding>) {
    for object in objects.iter().filter(|o| o.kind == "ConfigMap") {
        for (key, value) in object
            .node
            .get("data")
            .map(Node::entries)
            .unwrap_or_default()
        {
            if value.as_str().is_some_and(uri_has_password) {
                push(
                    out,
                    &SECRET_CREDENTIALS,
                    object,
                    value.line,
                    format!("ConfigMap key `{key}` holds a connection string with a password"),
                );
            }
        }
    }
}

fn check_database(w: &Workload, services: &[&Object], out: &mut Vec<Finding>) {
    let object = w.object;
    let database_containers: Vec<&Node> = containers(w.pod_spec)
        .iter()
        .filter(|c| is_mongo_image(c))
        .collect();
    for container in &database_containers {
        let name = container_name(container);
        let env_names: Vec<&str> = container
            .get("env")
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e.get("name").and_then(Node::as_str))
            .collect();
        let has_env_from_secret = container
            .get("envFrom")
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .any(|e| e.get("secretRef").is_some());
        let root_user = env_names.contains(&"MONGO_INITDB_ROOT_USERNAME")
            && (env_names.contains(&"MONGO_INITDB_ROOT_PASSWORD")
                || env_names.contains(&"MONGO_INITDB_ROOT_PASSWORD_FILE"));
        let auth_flag = ["command", "args"].iter().any(|key| {
            container
                .get(key)
                .map(Node::items)
                .unwrap_or_default()
                .iter()
                .any(|a| a.as_str().is_some_and(|s| s.contains("--auth")))
        });
        if !(root_user || auth_flag || has_env_from_secret) {
            push(
                out,
                &MONGO_AUTH,
                object,
                container.line,
                format!(
                    "container `{name}` starts MongoDB without MONGO_INITDB_ROOT_USERNAME/PASSWORD or --auth"
                ),
            );
        }

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
    if database_containers.is_empty() {
        return;
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

fn check_hpas(objects: &[Object], workloads: &[Workload], out: &mut Vec<Finding>) {
    for hpa in objects
        .iter()
        .filter(|o| o.kind == "HorizontalPodAutoscaler")
    {
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

/// A Deployment or StatefulSet that an HPA scales must leave `spec.replicas` to the HPA.
fn check_hpa_owned_replicas(objects: &[Object], out: &mut Vec<Finding>) {
    let hpas: Vec<&Object> = objects
        .iter()
        .filter(|o| o.kind == "HorizontalPodAutoscaler")
        .collect();
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

fn check_services(services: &[&Object], workloads: &[Workload], out: &mut Vec<Finding>) {
    if workloads.is_empty() {
        return;
    }
    for service in services {
        let Some(selector_node) = service.node.path(&["spec", "selector"]) else {
            continue; // Selector-less Services point at manual Endpoints.
        };
        let selector = labels(Some(selector_node));
        let selected: Vec<&Workload> = workloads
            .iter()
            .filter(|w| selects(&selector, &w.pod_labels))
            .collect();
        if selected.is_empty() {
            let shown: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            push(
                out,
                &SERVICE_SELECTOR,
                service,
                selector_node.line,
                format!("selector {} matches no pod template", shown.join(",")),
            );
            continue;
        }
        for port in service
            .node
            .path(&["spec", "ports"])
            .map(Node::items)
            .unwrap_or_default()
        {
            let target = port.get("targetPort").or_else(|| port.get("port"));
            let Some(target) = target else { continue };
            let exposed_by_all = selected.iter().all(|w| {
                let ports: Vec<_> = containers(w.pod_spec)
                    .iter()
                    .flat_map(declared_ports)
                    .collect();
                ports.is_empty()
                    || match target.as_i64() {
                        Some(number) => ports.iter().any(|(p, _)| *p == Some(number)),
                        None => {
                            let wanted = target.scalar_text().unwrap_or_default();
                            ports
                                .iter()
                                .any(|(_, n)| n.as_deref() == Some(wanted.as_str()))
                        }
                    }
            });
            if !exposed_by_all {
                push(
                    out,
                    &SERVICE_TARGET_PORT,
                    service,
                    target.line,
                    format!(
                        "targetPort {} is not a containerPort of the selected pods",
                        target.scalar_text().unwrap_or_default()
                    ),
                );
            }
        }
    }
}

fn check_availability(objects: &[Object], workloads: &[Workload], out: &mut Vec<Finding>) {
    let hpas: Vec<&Object> = objects
        .iter()
        .filter(|o| o.kind == "HorizontalPodAutoscaler")
        .collect();
    let pdbs: Vec<&Object> = objects
        .iter()
        .filter(|o| o.kind == "PodDisruptionBudget")
        .collect();
    for w in workloads
        .iter()
        .filter(|w| w.is_app && w.object.kind == "Deployment")
    {
        let replicas_node = w.object.node.path(&["spec", "replicas"]);
        let replicas = replicas_node.and_then(Node::as_i64).unwrap_or(1);
        let hpa_min = hpas
            .iter()
            .find(|h| {
                h.node
                    .path(&["spec", "scaleTargetRef", "name"])
                    .and_then(Node::as_str)
                    == Some(w.object.name.as_str())
            })
            .map(|h| {
                h.node
                    .path(&["spec", "minReplicas"])
                    .and_then(Node::as_i64)
                    .unwrap_or(1)
            });
        if replicas < 2 && hpa_min.is_none_or(|m| m < 2) {
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

    #[test]
    fn host_problems() {
        assert!(host_problem("localhost", &[]).unwrap().contains("own pod"));
        assert!(host_problem("127.0.0.1", &[]).unwrap().contains("own pod"));
        assert!(host_problem("[::1]", &[]).unwrap().contains("own pod"));
        assert!(
            host_problem("10.1.2.3", &[])
                .unwrap()
                .contains("IP address")
        );
        assert_eq!(
            host_problem("mongodb", &[]),
            None,
            "no Services to compare with"
        );
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

    fn hpa_owned_replicas(text: &str) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        check_hpa_owned_replicas(&objects(text), &mut out);
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

    #[test]
    fn image_repositories() {
        assert_eq!(image_repository("docker.io/library/mongo:7.0"), "mongo");
        assert_eq!(image_repository("mongo@sha256:abc"), "mongo");
        assert_eq!(image_repository("registry:5000/team/app:1"), "app");
    }
}
