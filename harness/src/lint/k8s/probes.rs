//! Probe rules: every long-running container has liveness and readiness probes, on a port it
//! declares, and a liveness probe does not restart a container for a database outage (the
//! same check as readiness, a route that reads the database, a database client's command).

use super::{Container, Manifests, declared_ports, push};
use crate::findings::rule;
use crate::findings::{Finding, Rule};
use crate::yaml::Node;

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
    LIVENESS_READS_DATABASE,
    "DC013",
    Warning,
    "a liveness probe that reads the database fails whenever the database is away: the kubelet then restarts every app pod, which cannot help and loses their in-flight requests",
    "probe the process alone (e.g. GET /health that does not touch the database) and leave the database to readiness"
);

pub const RULES: [Rule; 4] = [
    PROBES,
    PROBE_PORT,
    LIVENESS_IS_READINESS,
    LIVENESS_READS_DATABASE,
];

/// The contract's data route: every request on it reads or writes the database.
const DATA_ROUTE: &str = "/data";

/// Database clients a probe command may run; with a remote host they make the probe depend on
/// the database.
const DATABASE_CLIENTS: [&str; 7] = [
    "mongosh",
    "mongo",
    "psql",
    "pg_isready",
    "mysql",
    "mysqladmin",
    "redis-cli",
];

/// The handler of a probe, for comparing liveness with readiness.
fn probe_handler(probe: &Node) -> Option<String> {
    ["httpGet", "tcpSocket", "grpc", "exec"]
        .iter()
        .find_map(|kind| probe.get(kind).map(|h| format!("{kind}:{}", h.to_json())))
}

/// DC010, DC011, DC012, DC013, for the containers of long-running workloads (not Jobs, not init
/// containers).
pub(super) fn probes(m: &Manifests, c: &Container, out: &mut Vec<Finding>) {
    let (w, container, name) = (c.workload, c.node, &c.name);
    let object = w.object;
    let long_running = !matches!(object.kind.as_str(), "Job" | "CronJob");
    if !long_running || c.is_init {
        return;
    }
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
        return;
    }
    if let Some(liveness) = liveness
        && !w.is_database
        && let Some(reads) = reads_database(m, w.is_app, liveness)
    {
        push(
            out,
            &LIVENESS_READS_DATABASE,
            object,
            liveness.line,
            format!("container `{name}` liveness probe {reads}"),
        );
    }
}

/// How a liveness probe depends on the database, if it does: an HTTP probe of the app on a
/// route the profile knows reads the database (the data route, the ready path), or a command
/// that runs a database client against another host.
fn reads_database(m: &Manifests, is_app: bool, probe: &Node) -> Option<String> {
    if let Some(path) = probe
        .path(&["httpGet", "path"])
        .and_then(|p| p.scalar_text())
    {
        let ready = &m.profile.app.ready_path;
        let route = path.split('?').next().unwrap_or_default();
        return (is_app && (route == DATA_ROUTE || (!ready.is_empty() && route == ready))).then(
            || format!("asks GET {path}, a route that reads the database, so every database outage restarts the app"),
        );
    }
    let command: Vec<String> = probe
        .path(&["exec", "command"])?
        .items()
        .iter()
        .filter_map(|n| n.scalar_text())
        .collect();
    let script = command.join(" ");
    let words: Vec<&str> = script.split_whitespace().collect();
    let client = words.iter().find_map(|w| {
        let program = w.rsplit('/').next().unwrap_or(w);
        DATABASE_CLIENTS.contains(&program).then_some(program)
    })?;
    let host = remote_host(&words)?;
    Some(format!(
        "runs `{client}` against `{host}`, so every outage of that database restarts this container"
    ))
}

/// The first host a command names (`--host H`, `-h H`, `--host=H`, or a connection URI) that is
/// not this pod itself.
fn remote_host(words: &[&str]) -> Option<String> {
    let local = |host: &str| matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]" | "");
    let mut hosts = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let word = word.trim_matches(|c| c == '\'' || c == '"');
        if matches!(word, "--host" | "-h" | "-H")
            && let Some(next) = words.get(i + 1)
        {
            hosts.push(next.trim_matches(|c| c == '\'' || c == '"').to_string());
        } else if let Some(value) = word.strip_prefix("--host=") {
            hosts.push(value.to_string());
        } else if let Some((_, rest)) = word.split_once("://") {
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let host = authority.rsplit('@').next().unwrap_or_default();
            hosts.push(host.to_string());
        }
    }
    hosts
        .into_iter()
        .map(|h| match h.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && !host.is_empty() => {
                host.to_string()
            }
            _ => h,
        })
        .find(|h| !local(h))
}

#[cfg(test)]
mod tests {
    use super::remote_host;

    #[test]
    fn a_database_client_command_depends_on_the_host_it_names_unless_local() {
        let host = |command: &str| remote_host(&command.split_whitespace().collect::<Vec<_>>());
        assert_eq!(host("mongosh --quiet --eval db.adminCommand('ping')"), None);
        assert_eq!(host("mongosh mongodb://localhost:27017 --eval ping"), None);
        assert_eq!(host("mongosh --host=127.0.0.1 --eval ping"), None);
        assert_eq!(
            host("mongosh \"mongodb://app:secret@mongodb:27017/app?authSource=admin\" --eval ping")
                .as_deref(),
            Some("mongodb")
        );
        assert_eq!(
            host("pg_isready -h postgres.db.svc -p 5432").as_deref(),
            Some("postgres.db.svc")
        );
        assert_eq!(
            host("redis-cli --host redis:6379 ping").as_deref(),
            Some("redis")
        );
    }
}
