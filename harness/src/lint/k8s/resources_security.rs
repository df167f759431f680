//! Resource and security rules: requests and limits (within the profile's bounds), a
//! restrictive security context, credentials kept out of manifests, and MongoDB with auth.

use super::{Container, Manifests, container_name, database_containers, push, uri_has_password};
use crate::findings::rule;
use crate::findings::{Finding, Rule};
use crate::quantity::{cpu_millis, memory_bytes};
use crate::yaml::Node;

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

pub const RULES: [Rule; 8] = [
    SECRET_CREDENTIALS,
    MONGO_AUTH,
    RESOURCES,
    LIMITS_BELOW_REQUESTS,
    RESOURCES_BOUNDS,
    RUN_AS_NON_ROOT,
    PRIVILEGE_ESCALATION,
    READ_ONLY_ROOT,
];

/// DC020, DC021: requests and limits for cpu and memory, limits not below requests.
pub(super) fn resources(_: &Manifests, c: &Container, out: &mut Vec<Finding>) {
    let (object, container, name) = (c.workload.object, c.node, &c.name);
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

/// DC022: limits within the profile's bounds.
pub(super) fn resource_bounds(m: &Manifests, c: &Container, out: &mut Vec<Finding>) {
    let (object, container, name) = (c.workload.object, c.node, &c.name);
    let Some(limits) = container.path(&["resources", "limits"]) else {
        return;
    };
    let bounds = &m.profile.app.resources;
    for (key, bound, parse) in [
        (
            "cpu",
            &bounds.max_limits_cpu,
            cpu_millis as fn(&str) -> Option<u64>,
        ),
        ("memory", &bounds.max_limits_memory, memory_bytes),
    ] {
        if let (Some(limit), Some(ceiling)) =
            (limits.get(key).and_then(Node::scalar_text), parse(bound))
            && parse(&limit).is_some_and(|l| l > ceiling)
        {
            push(
                out,
                &RESOURCES_BOUNDS,
                object,
                limits.line,
                format!("container `{name}` limits.{key} {limit} exceeds the profile's {bound}"),
            );
        }
    }
}

/// DC060, DC061, DC062: not root, no privilege escalation, a read-only root filesystem.
pub(super) fn security_context(_: &Manifests, c: &Container, out: &mut Vec<Finding>) {
    let (object, container, name) = (c.workload.object, c.node, &c.name);
    let pod_security = c.workload.pod_spec.get("securityContext");
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

fn is_credential_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "_PWD", "SECRET", "TOKEN"]
        .iter()
        .any(|w| upper.contains(w))
        || (upper.contains("MONGO") && (upper.ends_with("USERNAME") || upper.ends_with("_USER")))
}

/// DC002: no credential, and no connection string with a password, as a literal env value.
pub(super) fn credentials_in_env(_: &Manifests, c: &Container, out: &mut Vec<Finding>) {
    let (object, container, name) = (c.workload.object, c.node, &c.name);
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
    }
}

/// DC002: no connection string with a password in a ConfigMap.
pub(super) fn credentials_in_configmaps(m: &Manifests, out: &mut Vec<Finding>) {
    for object in m.objects.iter().filter(|o| o.kind == "ConfigMap") {
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

/// DC003: MongoDB starts with root credentials or `--auth`.
pub(super) fn database_auth(m: &Manifests, out: &mut Vec<Finding>) {
    for w in m.workloads.iter().filter(|w| w.is_database) {
        let object = w.object;
        for container in database_containers(w) {
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
        }
    }
}
