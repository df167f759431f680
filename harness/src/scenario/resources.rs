//! Resources and security of the live objects: every container has requests and limits within
//! the profile, pods are Burstable or Guaranteed and were never OOMKilled, containers run as
//! non-root, credentials come from Secrets, and MongoDB refuses a client without credentials.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};

use super::{ScenarioOutcome, Target};
use crate::cluster::{Cluster, WorkloadKind};
use crate::profile::Profile;
use crate::quantity::{cpu_millis, memory_bytes};

pub const SPEC: super::Spec =
    super::Spec::reading("resources", "resources and security settings hold");

const ID: &str = SPEC.id;

/// Requests/limits, non-root and plain-text credentials of one workload's containers.
pub fn template_mismatches(
    workload: &str,
    template: &PodTemplateSpec,
    profile: &Profile,
) -> Vec<String> {
    let Some(spec) = &template.spec else {
        return vec![format!("{workload} has no pod spec")];
    };
    let pod_non_root = spec
        .security_context
        .as_ref()
        .is_some_and(|s| s.run_as_non_root == Some(true) || s.run_as_user.is_some_and(|u| u > 0));
    let max_cpu = cpu_millis(&profile.app.resources.max_limits_cpu).unwrap_or(u64::MAX);
    let max_memory = memory_bytes(&profile.app.resources.max_limits_memory).unwrap_or(u64::MAX);
    let mut mismatches = Vec::new();
    for container in spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
    {
        let at = format!("{workload} container {}", container.name);
        let resources = container.resources.clone().unwrap_or_default();
        for (kind, values) in [
            ("requests", &resources.requests),
            ("limits", &resources.limits),
        ] {
            for resource in ["cpu", "memory"] {
                if values.as_ref().and_then(|v| v.get(resource)).is_none() {
                    mismatches.push(format!("{at} has no {resource} {kind}"));
                }
            }
        }
        let limits = resources.limits.unwrap_or_default();
        if let Some(cpu) = limits.get("cpu").and_then(|q| cpu_millis(&q.0))
            && cpu > max_cpu
        {
            mismatches.push(format!(
                "{at} may use {} CPU, above the profile's {}",
                limits["cpu"].0, profile.app.resources.max_limits_cpu
            ));
        }
        if let Some(memory) = limits.get("memory").and_then(|q| memory_bytes(&q.0))
            && memory > max_memory
        {
            mismatches.push(format!(
                "{at} may use {} of memory, above the profile's {}",
                limits["memory"].0, profile.app.resources.max_limits_memory
            ));
        }
        let non_root = container
            .security_context
            .as_ref()
            .map(|s| (s.run_as_non_root, s.run_as_user))
            .map_or(pod_non_root, |(non_root, user)| match (non_root, user) {
                (_, Some(0)) | (Some(false), None) => false,
                (Some(true), _) | (_, Some(_)) => true,
                (None, None) => pod_non_root,
            });
        if !non_root {
            mismatches.push(format!(
                "{at} may run as root: set runAsNonRoot: true (and a runAsUser) in its securityContext"
            ));
        }
        mismatches.extend(plain_text_credentials(&at, container));
    }
    mismatches
}

/// Whether a container gets anything from a Secret (an env var or a whole Secret).
pub fn uses_a_secret(container: &Container) -> bool {
    container.env.iter().flatten().any(|v| {
        v.value_from
            .as_ref()
            .is_some_and(|f| f.secret_key_ref.is_some())
    }) || container
        .env_from
        .iter()
        .flatten()
        .any(|e| e.secret_ref.is_some())
}

fn plain_text_credentials(at: &str, container: &Container) -> Vec<String> {
    container
        .env
        .iter()
        .flatten()
        .filter_map(|var| {
            let value = var.value.as_deref()?;
            let name = var.name.to_ascii_uppercase();
            let secret_name = ["PASSWORD", "PASSWD", "SECRET", "TOKEN"]
                .iter()
                .any(|word| name.contains(word));
            let uri_with_password = value.starts_with("mongodb")
                && value
                    .split('@')
                    .next()
                    .is_some_and(|creds| creds.contains(':') && value.contains('@'));
            (secret_name && !value.is_empty() || uri_with_password).then(|| {
                format!(
                    "{at} gets credentials in plain text in env {}: use valueFrom.secretKeyRef",
                    var.name
                )
            })
        })
        .collect()
}

/// What a MongoDB server said to a client without credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Unauthenticated {
    Refused,
    Answered(Vec<String>),
    Unreachable(String),
}

/// Connects to `address` without credentials and asks for the collections of `database`.
pub async fn try_unauthenticated(address: std::net::SocketAddr, database: &str) -> Unauthenticated {
    let uri = format!(
        "mongodb://{address}/?directConnection=true&serverSelectionTimeoutMS=5000&connectTimeoutMS=5000"
    );
    let client = match mongodb::Client::with_uri_str(&uri).await {
        Ok(client) => client,
        Err(error) => return Unauthenticated::Unreachable(error.to_string()),
    };
    let result = tokio::time::timeout(
        Duration::from_secs(15),
        client.database(database).list_collection_names(),
    )
    .await;
    match result {
        Ok(Ok(names)) => Unauthenticated::Answered(names),
        Ok(Err(error)) => match *error.kind {
            mongodb::error::ErrorKind::Command(ref command)
                if command.code == 13 || command.code_name == "Unauthorized" =>
            {
                Unauthenticated::Refused
            }
            mongodb::error::ErrorKind::Authentication { .. } => Unauthenticated::Refused,
            _ => Unauthenticated::Unreachable(error.to_string()),
        },
        Err(_) => Unauthenticated::Unreachable("no answer within 15 s".into()),
    }
}

/// Runs the scenario; `database` is a local address that reaches MongoDB (a forwarder).
// Read-only, so it runs beside `connectivity` before anything is broken; an OOMKill under
// later load is caught there as a restart deploycheck did not cause.
pub async fn limits_and_security<C: Cluster>(
    target: &Target<C>,
    database: std::net::SocketAddr,
) -> ScenarioOutcome {
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let mut mismatches = Vec::new();
    for (kind, name) in [
        (WorkloadKind::Deployment, &profile.app.deployment),
        (WorkloadKind::StatefulSet, &profile.database.statefulset),
    ] {
        match target.template(kind, name).await {
            Ok(template) => {
                mismatches.extend(template_mismatches(
                    &format!("{kind} {name}"),
                    &template,
                    profile,
                ));
                let container =
                    super::connectivity::app_container(&template, &profile.app.container);
                if kind == WorkloadKind::Deployment && !container.is_some_and(uses_a_secret) {
                    mismatches.push(format!(
                        "the app container of {name} takes nothing from a Secret: the database \
                         credentials must reach it through env valueFrom.secretKeyRef or envFrom.secretRef"
                    ));
                }
            }
            Err(error) => mismatches.push(error),
        }
    }
    for selector in [target.app_selector(), target.db_selector()] {
        match cluster.pods(namespace, &selector).await {
            Ok(pods) => {
                for pod in pods {
                    if pod.qos_class == "BestEffort" {
                        mismatches.push(format!(
                            "pod {} is BestEffort: it is evicted first under pressure",
                            pod.name
                        ));
                    }
                    if pod.last_terminated.iter().any(|r| r.ends_with("OOMKilled")) {
                        mismatches.push(format!(
                            "pod {} was OOMKilled ({}): its memory limit is too low",
                            pod.name,
                            pod.last_terminated.join(", ")
                        ));
                    }
                }
            }
            Err(error) => mismatches.push(error.to_string()),
        }
    }
    match try_unauthenticated(database, "admin").await {
        Unauthenticated::Refused => {}
        Unauthenticated::Answered(collections) => mismatches.push(format!(
            "MongoDB listed the collections of `admin` ({}) to a client without credentials: \
             authentication is off (set MONGO_INITDB_ROOT_USERNAME/PASSWORD or --auth)",
            collections.join(", ")
        )),
        Unauthenticated::Unreachable(error) => mismatches.push(format!(
            "could not reach MongoDB through a port-forward to check authentication: {error}"
        )),
    }
    ScenarioOutcome::from_mismatches(
        ID,
        "requests and limits set and within bounds, no BestEffort or OOMKilled pod, non-root, \
         credentials from Secrets, MongoDB refuses clients without credentials"
            .into(),
        mismatches,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::{ScriptedCluster, pod};
    use crate::scenario::tests::target;

    fn template(container: serde_json::Value) -> PodTemplateSpec {
        serde_json::from_value(serde_json::json!({
            "spec": {"securityContext": {"runAsNonRoot": true, "runAsUser": 999}, "containers": [container]}
        }))
        .unwrap()
    }

    fn good_container() -> serde_json::Value {
        serde_json::json!({
            "name": "app", "image": "i",
            "resources": {"requests": {"cpu": "200m", "memory": "250Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}},
            "env": [{"name": "MONGODB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
        })
    }

    #[test]
    fn credentials_from_a_secret_are_recognised() {
        let container =
            |value: serde_json::Value| -> Container { serde_json::from_value(value).unwrap() };
        assert!(uses_a_secret(&container(good_container())));
        assert!(uses_a_secret(&container(
            serde_json::json!({"name": "a", "envFrom": [{"secretRef": {"name": "db"}}]})
        )));
        assert!(!uses_a_secret(&container(
            serde_json::json!({"name": "a", "env": [{"name": "MONGODB_HOST", "value": "mongodb"}]})
        )));
    }

    #[test]
    fn a_good_template_has_no_mismatch_and_each_mistake_is_named() {
        let profile = Profile::built_in("reference").unwrap();
        assert_eq!(
            template_mismatches("D", &template(good_container()), &profile),
            Vec::<String>::new()
        );
        let mut bad = good_container();
        bad["resources"] = serde_json::json!({"limits": {"cpu": "4", "memory": "500Mi"}});
        bad["securityContext"] = serde_json::json!({"runAsUser": 0});
        bad["env"] = serde_json::json!([{"name": "MONGO_URI", "value": "mongodb://root:hunter2@mongodb:27017"}]);
        let found = template_mismatches("D", &template(bad), &profile);
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].contains("no cpu requests") && found[1].contains("no memory requests"));
        assert!(found[2].contains("4 CPU, above the profile's 2"));
        assert!(found[3].contains("may run as root"));
        assert!(found[4].contains("plain text in env MONGO_URI"));
    }

    #[tokio::test]
    async fn a_database_with_auth_refuses_and_one_without_answers() {
        let server = devdb::MongoServer::managed(&[devdb::User {
            name: "root".into(),
            password: "pw".into(),
            db: "admin".into(),
            role: devdb::Role::Root,
        }])
        .await
        .unwrap();
        let address: std::net::SocketAddr = format!("127.0.0.1:{}", server.port()).parse().unwrap();
        assert_eq!(
            try_unauthenticated(address, "admin").await,
            Unauthenticated::Refused
        );

        let open = devdb::MongoServer::managed(&[]).await.unwrap();
        let address: std::net::SocketAddr = format!("127.0.0.1:{}", open.port()).parse().unwrap();
        assert!(matches!(
            try_unauthenticated(address, "admin").await,
            Unauthenticated::Answered(_)
        ));
    }

    #[tokio::test]
    async fn best_effort_and_oom_killed_pods_are_reported() {
        let address = crate::testing::closed_address();
        let mut oom = pod("app-a", "a", true);
        oom.last_terminated = vec!["app: OOMKilled".into()];
        let mut best_effort = pod("mongodb-0", "m", true);
        best_effort.qos_class = "BestEffort".into();
        let target = target(ScriptedCluster::new("kind-kind").with(|s| {
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                template(good_container()),
            );
            s.templates.insert(
                (WorkloadKind::StatefulSet, "mongodb".into()),
                template(good_container()),
            );
            s.pods
                .insert("app.kubernetes.io/name=deploycheck-app".into(), vec![oom]);
            s.pods
                .insert("app.kubernetes.io/name=mongodb".into(), vec![best_effort]);
        }));
        let outcome = limits_and_security(&target, address).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_eq!(outcome.mismatches.len(), 3, "{:#?}", outcome.mismatches);
        assert!(outcome.mismatches[0].contains("app-a was OOMKilled"));
        assert!(outcome.mismatches[1].contains("mongodb-0 is BestEffort"));
        assert!(outcome.mismatches[2].contains("could not reach MongoDB"));
    }
}
