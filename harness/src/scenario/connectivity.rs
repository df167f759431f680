//! Service-name connectivity: the database host the app is configured with (read from the
//! live Deployment) is a Service in the namespace, resolves and accepts TCP from inside the
//! cluster, and a write through the app's Service reads back, proving app -> database by name.
//! Right after a rollout a name may still be negatively cached, so both are retried for a
//! bounded window; a write that never gets through says first whether the Service has a ready
//! endpoint at all, and why not.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};
use tokio::time::Instant;

use super::{ScenarioOutcome, Target, endpoints};
use crate::cluster::safety::Destructive;
use crate::cluster::{Cluster, Ephemeral, WorkloadKind};

pub const SPEC: super::Spec =
    super::Spec::reading("connectivity", "the app reaches MongoDB by Service name");

const ID: &str = SPEC.id;

/// A bounded retry: attempts until one needs no retry or `window` has passed since the first
/// began, pausing `first_pause` after a failure and doubling up to `max_pause` (never past the
/// window's end, where one last attempt is made).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    pub window: Duration,
    pub first_pause: Duration,
    pub max_pause: Duration,
}

/// How long the name check and the first write through the app keep trying. CoreDNS's `cache`
/// plugin keeps a negative answer for up to 30 s, `cluster.local` included, where the Corefile
/// does not turn that off (older kubeadm defaults, k3s, older minikube): a lookup of the
/// headless database Service made before its pod was Ready answers NXDOMAIN that long, to the
/// helper and to the app alike. 45 s covers that TTL plus a lookup and a helper pod's start.
/// Not a profile setting: it depends on the cluster's DNS, not on the stack under test.
pub const DNS_SETTLE: Retry = Retry {
    window: Duration::from_secs(45),
    first_pause: Duration::from_secs(1),
    max_pause: Duration::from_secs(8),
};

/// The last attempt of a [`retry`], how many were made, and the time from the first one's
/// start to the last one's end.
struct Tried<T> {
    last: T,
    tries: u32,
    took: Duration,
}

/// Runs `attempt` until `again` says its result needs no retry or the window has passed.
async fn retry<T, Fut: Future<Output = T>>(
    policy: Retry,
    mut attempt: impl FnMut() -> Fut,
    mut again: impl FnMut(&T) -> bool,
) -> Tried<T> {
    let started = Instant::now();
    let mut pause = policy.first_pause;
    let mut tries = 0;
    loop {
        let last = attempt().await;
        tries += 1;
        let took = started.elapsed();
        if !again(&last) || took >= policy.window {
            return Tried { last, tries, took };
        }
        tokio::time::sleep(pause.min(policy.window - took)).await;
        pause = (pause * 2).min(policy.max_pause);
    }
}

/// ` (resolved after 31.2 s and 6 lookups: a negative DNS answer was cached)`, or nothing
/// when the first lookup resolved.
fn settled_after(tries: u32, took: Duration) -> String {
    if tries <= 1 {
        String::new()
    } else {
        format!(
            " (resolved after {:.1} s and {tries} lookups: a negative DNS answer was cached)",
            took.as_secs_f64()
        )
    }
}

/// Where the app's database address comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbAddress {
    /// A literal in an env var or argument.
    Literal {
        source: String,
        host: String,
    },
    /// In a Secret, which the harness does not read.
    FromSecret {
        source: String,
    },
    Unknown,
}

/// The host part of a MongoDB URI (the first host of a seed list).
pub fn uri_host(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("mongodb://")
        .or_else(|| uri.strip_prefix("mongodb+srv://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let hosts = authority.rsplit('@').next()?;
    let host = hosts.split(',').next()?;
    Some(strip_port(host))
}

fn strip_port(host: &str) -> String {
    host.rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(host, _)| host)
        .to_string()
}

fn looks_like_db_host_var(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    (name.contains("MONGO") || name.contains("DB") || name.contains("DATABASE"))
        && (name.ends_with("HOST") || name.ends_with("HOSTNAME") || name.ends_with("SERVER"))
}

fn looks_like_uri_var(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    (name.contains("MONGO") || name.contains("DB") || name.contains("DATABASE"))
        && (name.contains("URI") || name.contains("URL"))
}

/// Finds the database address in the app container's env and args.
pub fn db_address(template: &PodTemplateSpec, container: &str) -> DbAddress {
    let Some(container) = app_container(template, container) else {
        return DbAddress::Unknown;
    };
    let mut from_secret = None;
    for var in container.env.iter().flatten() {
        match (&var.value, &var.value_from) {
            (Some(value), _) => {
                if let Some(host) = uri_host(value) {
                    return DbAddress::Literal {
                        source: format!("env {}", var.name),
                        host,
                    };
                }
                if looks_like_db_host_var(&var.name) {
                    return DbAddress::Literal {
                        source: format!("env {}", var.name),
                        host: strip_port(value),
                    };
                }
            }
            (None, Some(from))
                if looks_like_uri_var(&var.name) || looks_like_db_host_var(&var.name) =>
            {
                if let Some(secret) = &from.secret_key_ref {
                    from_secret.get_or_insert(format!(
                        "env {} (Secret {} key {})",
                        var.name, secret.name, secret.key
                    ));
                }
            }
            _ => {}
        }
    }
    for arg in container
        .args
        .iter()
        .flatten()
        .chain(container.command.iter().flatten())
    {
        if let Some(host) = arg.split('=').find_map(uri_host) {
            return DbAddress::Literal {
                source: "args".into(),
                host,
            };
        }
    }
    from_secret.map_or(DbAddress::Unknown, |source| DbAddress::FromSecret {
        source,
    })
}

pub fn app_container<'a>(template: &'a PodTemplateSpec, name: &str) -> Option<&'a Container> {
    let containers = &template.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name == name)
        .or_else(|| containers.first())
}

/// Addresses that bypass Service discovery: loopback, IP literals.
pub fn not_a_name(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok()
}

/// The helper's script: resolve and connect the way the app would (libc, search domains).
pub fn helper_script(host: &str, port: u16) -> String {
    format!(
        "nslookup {host} 2>&1 | tail -n 3; \
         if nc -z -w 5 {host} {port} 2>&1; then echo 'deploycheck: connected to {host}:{port}'; \
         else echo 'deploycheck: could not connect to {host}:{port}'; exit 1; fi"
    )
}

fn unresolved(output: &str) -> bool {
    output.contains("bad address") || output.contains("can't resolve")
}

/// Retries the connection from an ephemeral container inside a ready app pod, which has the
/// app's network identity (what a NetworkPolicy admits). It stays in that pod's spec, so only
/// where destructive steps are allowed. Returns the pod, or why that did not prove anything.
async fn from_app_pod<C: Cluster>(target: &Target<C>, host: &str) -> Result<String, String> {
    if let Destructive::Refused(_) = target.destructive {
        return Err(String::new());
    }
    let (namespace, profile) = (&target.namespace, &target.profile);
    let pods = target
        .cluster
        .pods(namespace, &target.app_selector())
        .await
        .map_err(|e| format!("; {e}"))?;
    let pod = pods
        .iter()
        .find(|p| p.ready && !p.deleting)
        .ok_or("; no ready app pod to retry from")?;
    let script = helper_script(host, profile.database.port);
    let spec = Ephemeral {
        pod: &pod.name,
        target_container: &profile.app.container,
        image: &profile.cluster.helper_image,
        run_as_user: None,
        script: &script,
    };
    match target
        .cluster
        .run_ephemeral(namespace, &spec, profile.cluster.recovery)
        .await
    {
        Ok(run) if run.succeeded() => Ok(pod.name.clone()),
        Ok(run) => Err(format!(
            "; from inside app pod {} too: {}",
            pod.name,
            run.output.trim()
        )),
        Err(error) => Err(format!("; {error}")),
    }
}

/// Runs the scenario; `base_url` reaches the app's Service (a forwarder). The name check and
/// the first write retry for [`DNS_SETTLE`].
pub async fn service_name<C: Cluster>(target: &Target<C>, base_url: &str) -> ScenarioOutcome {
    service_name_within(target, base_url, DNS_SETTLE).await
}

/// [`service_name`] with the retry policy as a parameter (tests use milliseconds).
async fn service_name_within<C: Cluster>(
    target: &Target<C>,
    base_url: &str,
    policy: Retry,
) -> ScenarioOutcome {
    let cluster = &*target.cluster;
    let (namespace, profile) = (&target.namespace, &target.profile);
    let template = match target
        .template(WorkloadKind::Deployment, &profile.app.deployment)
        .await
    {
        Ok(template) => template,
        Err(error) => return ScenarioOutcome::fail(ID, error),
    };
    let mut mismatches = Vec::new();
    let mut notes = Vec::new();
    let host = match db_address(&template, &profile.app.container) {
        DbAddress::Literal { source, host } => {
            notes.push(format!("the app's database host is `{host}` ({source})"));
            host
        }
        DbAddress::FromSecret { source } => {
            notes.push(format!(
                "the database address is in {source}; checked the profile's Service `{}`",
                profile.database.service
            ));
            profile.database.service.clone()
        }
        DbAddress::Unknown => {
            notes.push(format!(
                "no database address in the app's env or args; checked the profile's Service `{}`",
                profile.database.service
            ));
            profile.database.service.clone()
        }
    };
    if not_a_name(&host) {
        mismatches.push(format!(
            "the app connects to `{host}`, not a Service name: inside a pod that is the pod \
             itself (or an address that changes); use the Service name `{}`",
            profile.database.service
        ));
    } else {
        // `mongodb`, `mongodb.ns.svc...`, or a pod behind a headless Service: `mongodb-0.mongodb-headless`.
        let labels: Vec<&str> = host.split('.').collect();
        let mut found = None;
        for candidate in labels.iter().take(2) {
            match cluster.service(namespace, candidate).await {
                Ok(Some(service)) => {
                    found = Some(service);
                    break;
                }
                Ok(None) => {}
                Err(error) => {
                    mismatches.push(error.to_string());
                    break;
                }
            }
        }
        if found.is_none() && mismatches.is_empty() {
            mismatches.push(format!(
                "`{host}` is not a Service in namespace `{namespace}`"
            ));
        }
        let script = helper_script(&host, profile.database.port);
        let (image, script, deadline) = (
            &profile.cluster.helper_image,
            &script,
            profile.cluster.recovery,
        );
        // Each lookup is a fresh helper pod: a negative answer cached by CoreDNS expires
        // there, not in a process that keeps running.
        let Tried {
            last: run,
            tries,
            took,
        } = retry(
            policy,
            move || cluster.run_helper(namespace, image, script, deadline),
            |run| matches!(run, Ok(run) if !run.succeeded() && unresolved(&run.output)),
        )
        .await;
        match run {
            Ok(run) if run.succeeded() => notes.push(format!(
                "from a pod in the namespace `{host}` resolves{} and port {} accepts connections",
                settled_after(tries, took),
                profile.database.port
            )),
            Ok(run) if unresolved(&run.output) => mismatches.push(format!(
                "`{host}` does not resolve inside the cluster: still not after {:.1} s and \
                 {tries} lookup(s), longer than a negative DNS answer is cached (30 s); helper \
                 output: {}",
                took.as_secs_f64(),
                run.output.trim()
            )),
            Ok(run) => match from_app_pod(target, &host).await {
                Ok(pod) => notes.push(format!(
                    "a helper pod could not connect to `{host}` (a NetworkPolicy admits only the \
                     app's pods, probably), but from inside app pod {pod} it resolves and port {} \
                     accepts connections",
                    profile.database.port
                )),
                Err(why) => mismatches.push(format!(
                    "`{host}` resolves but port {} refuses or drops connections (is MongoDB \
                     listening on 0.0.0.0? does a NetworkPolicy let the app in?); helper output: \
                     {}{why}",
                    profile.database.port,
                    run.output.trim()
                )),
            },
            Err(error) => mismatches.push(format!("the helper pod failed: {error}")),
        }
    }
    let marker = crate::unique_marker("connectivity");
    let marker = &marker;
    // The app's own first lookup of its database may be negatively cached too.
    let mut first_error = None;
    let Tried { last, tries, took } = retry(
        policy,
        move || async move {
            super::write_marker(base_url, marker).await?;
            super::read_marker(base_url, marker).await
        },
        |trip: &Result<bool, String>| match trip {
            Err(error) => {
                first_error.get_or_insert_with(|| error.clone());
                true
            }
            Ok(_) => false,
        },
    )
    .await;
    match last {
        Ok(true) if tries <= 1 => notes.push("a write through the app's Service reads back".into()),
        Ok(true) => notes.push(format!(
            "a write through the app's Service reads back after {:.1} s and {tries} tries (the \
             first: {}; the app's own lookup of its database may have been negatively cached)",
            took.as_secs_f64(),
            first_error.unwrap_or_default()
        )),
        Ok(false) => mismatches.push(format!(
            "POST /data was acknowledged but GET /data does not list {marker}"
        )),
        Err(error) => {
            let tried = format!(
                "{error} (tried {tries} time(s) over {:.1} s)",
                took.as_secs_f64()
            );
            // No ready endpoint is the cause, whatever the request saw: say that first.
            mismatches.push(
                match endpoints::shortfall(target, &profile.app.service, 1).await {
                    Some(why) => format!("{why}; {tried}"),
                    None => tried,
                },
            );
        }
    }
    ScenarioOutcome::from_mismatches(ID, notes.join("; "), mismatches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::ScriptedCluster;
    use crate::cluster::{HelperRun, ServiceInfo};
    use crate::scenario::tests::target;

    fn template(env: serde_json::Value) -> PodTemplateSpec {
        serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "app", "image": "i", "env": env}]}
        }))
        .unwrap()
    }

    #[test]
    fn finds_the_host_in_uris_host_vars_and_secrets() {
        let cases = [
            (
                serde_json::json!([{"name": "MONGO_URI", "value": "mongodb://u:p@mongodb:27017/db?authSource=admin"}]),
                Some("mongodb"),
            ),
            (
                serde_json::json!([{"name": "MONGODB_HOST", "value": "mongodb.shop.svc.cluster.local"}]),
                Some("mongodb.shop.svc.cluster.local"),
            ),
            (
                serde_json::json!([{"name": "DB_HOST", "value": "localhost:27017"}]),
                Some("localhost"),
            ),
            (
                serde_json::json!([{"name": "X", "value": "mongodb://a:1,b:2/?replicaSet=rs"}]),
                Some("a"),
            ),
            (
                serde_json::json!([{"name": "GREETING", "value": "hello"}]),
                None,
            ),
        ];
        for (env, expected) in cases {
            match (db_address(&template(env.clone()), "app"), expected) {
                (DbAddress::Literal { host, .. }, Some(expected)) => assert_eq!(host, expected),
                (DbAddress::Unknown, None) => {}
                (other, _) => panic!("{env}: {other:?}"),
            }
        }
        let secret = template(
            serde_json::json!([{"name": "MONGO_URI", "valueFrom": {"secretKeyRef": {"name": "db", "key": "uri"}}}]),
        );
        assert_eq!(
            db_address(&secret, "app"),
            DbAddress::FromSecret {
                source: "env MONGO_URI (Secret db key uri)".into()
            }
        );
        assert!(not_a_name("localhost") && not_a_name("10.0.0.3") && !not_a_name("mongodb"));
    }

    /// The app's environment naming the database by its Service.
    fn by_service_name() -> serde_json::Value {
        serde_json::json!([{"name": "MONGODB_HOST", "value": "mongodb"}])
    }

    fn cluster_with(env: serde_json::Value, helper: HelperRun) -> ScriptedCluster {
        ScriptedCluster::new("kind-kind").with(|s| {
            s.templates.insert(
                (WorkloadKind::Deployment, "deploycheck-app".into()),
                template(env),
            );
            s.services.insert(
                "mongodb".into(),
                ServiceInfo {
                    name: "mongodb".into(),
                    kind: "ClusterIP".into(),
                    ports: vec![27017],
                    headless: false,
                    ..ServiceInfo::default()
                },
            );
            s.helper_runs.push_back(helper);
        })
    }

    #[tokio::test]
    async fn the_reference_app_reaches_its_database_by_name() {
        let stack = crate::demo::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let target = target(cluster_with(by_service_name(), connected()));
        let outcome = service_name(&target, &stack.url).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{outcome:?}");
        assert!(
            outcome
                .detail
                .contains("a write through the app's Service reads back")
        );
        let scripts = target.cluster.scripts.lock().unwrap().clone();
        assert!(
            scripts[0].contains("nc -z -w 5 mongodb 27017"),
            "{scripts:?}"
        );
        stack.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_network_policy_that_admits_only_the_app_is_retried_from_an_app_pod() {
        let stack = crate::demo::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let refused = HelperRun {
            exit_code: Some(1),
            output: "deploycheck: could not connect to mongodb:27017".into(),
        };
        let cluster = cluster_with(by_service_name(), refused.clone()).with(|s| {
            s.helper_runs.push_back(HelperRun {
                exit_code: Some(0),
                output: "deploycheck: connected".into(),
            });
            s.pods.insert(
                "app.kubernetes.io/name=deploycheck-app".into(),
                vec![crate::cluster::fake::pod("app-a", "a", true)],
            );
        });
        let target = target(cluster);
        let outcome = service_name(&target, &stack.url).await;
        crate::testing::assert_says(
            &outcome,
            Verdict::Pass,
            "from inside app pod app-a it resolves",
        );
        assert_eq!(
            target.cluster.calls(),
            [
                "helper busybox:1.36",
                "ephemeral busybox:1.36 in app-a/app as None"
            ]
        );

        // On a remote context nothing is added to the app's pods: the failure stands.
        let mut cluster = cluster_with(by_service_name(), refused);
        cluster.context = "gke_prod".into();
        let remote = super::super::tests::target(cluster);
        let outcome = service_name(&remote, &stack.url).await;
        crate::testing::assert_says(&outcome, Verdict::Fail, "resolves but port 27017 refuses");
        assert_eq!(remote.cluster.calls(), ["helper busybox:1.36"]);
        stack.shutdown().await.unwrap();
    }

    /// Milliseconds instead of seconds, and at most 4 attempts: after pauses of 50, 100 and
    /// (cut at the window's end) 50 ms the window has passed.
    const QUICK: Retry = Retry {
        window: Duration::from_millis(200),
        first_pause: Duration::from_millis(50),
        max_pause: Duration::from_millis(100),
    };

    /// Pauses of milliseconds in a window no test outlasts: every scripted retry is made.
    const PATIENT: Retry = Retry {
        window: Duration::from_secs(10),
        first_pause: Duration::from_millis(1),
        max_pause: Duration::from_millis(5),
    };

    /// The helper's run when the database's port answers.
    fn connected() -> HelperRun {
        HelperRun {
            exit_code: Some(0),
            output: "deploycheck: connected to mongodb:27017".into(),
        }
    }

    /// Mismatch `index` of the outcome says `text`.
    #[track_caller]
    fn assert_mismatch(outcome: &ScenarioOutcome, index: usize, text: &str) {
        assert!(
            outcome.mismatches[index].contains(text),
            "{:?}",
            outcome.mismatches
        );
    }

    /// The outcome fails with exactly one mismatch: that one.
    #[track_caller]
    fn sole_mismatch(outcome: &ScenarioOutcome) -> &str {
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        let [mismatch] = &outcome.mismatches[..] else {
            panic!("{:?}", outcome.mismatches);
        };
        mismatch
    }

    fn bad_address(host: &str) -> HelperRun {
        HelperRun {
            exit_code: Some(1),
            output: format!(
                "** server can't find {host}.ns.svc.cluster.local: NXDOMAIN\nnc: bad address '{host}'"
            ),
        }
    }

    #[tokio::test]
    async fn localhost_an_unresolvable_name_and_a_dead_app_are_all_reported() {
        // Nothing listens here: the app is down.
        let url = crate::testing::closed_url();
        let target = target(cluster_with(
            serde_json::json!([{"name": "MONGO_URI", "value": "mongodb://localhost:27017"}]),
            HelperRun::default(),
        ));
        let outcome = service_name_within(&target, &url, QUICK).await;
        assert_eq!(outcome.verdict, Verdict::Fail);
        assert_mismatch(&outcome, 0, "connects to `localhost`, not a Service name");
        assert_mismatch(&outcome, 1, "POST /data failed");

        let target = super::super::tests::target(
            cluster_with(
                serde_json::json!([{"name": "MONGODB_HOST", "value": "mongo-db"}]),
                bad_address("mongo-db"),
            )
            .with(|s| s.helper_runs.extend(vec![bad_address("mongo-db"); 4])),
        );
        let outcome = service_name_within(&target, &url, QUICK).await;
        assert_mismatch(&outcome, 0, "`mongo-db` is not a Service in namespace `ns`");
        assert_mismatch(&outcome, 1, "does not resolve inside the cluster");
    }

    #[test]
    fn the_dns_window_outlasts_a_cached_negative_answer() {
        // CoreDNS's default negative TTL, with room for a lookup after it.
        assert!(DNS_SETTLE.window >= Duration::from_secs(30) + DNS_SETTLE.max_pause);
        assert!(DNS_SETTLE.max_pause <= Duration::from_secs(10));
    }

    #[tokio::test]
    async fn a_negative_dns_answer_cached_for_a_while_is_waited_out() {
        let url = app_failing_first(0).await;
        let cluster = cluster_with(by_service_name(), bad_address("mongodb")).with(|s| {
            s.helper_runs.push_back(bad_address("mongodb"));
            s.helper_runs.push_back(connected());
        });
        let target = target(cluster);
        let outcome = service_name_within(&target, &url, PATIENT).await;
        let resolved = "from a pod in the namespace `mongodb` resolves (resolved after 0.";
        let cached = " s and 3 lookups: a negative DNS answer was cached) and port 27017";
        crate::testing::assert_says(&outcome, Verdict::Pass, resolved);
        crate::testing::assert_said(&outcome, cached);
        assert_eq!(target.cluster.calls(), ["helper busybox:1.36"; 3]);
    }

    #[tokio::test]
    async fn a_name_that_never_resolves_fails_after_the_window_with_the_last_answer() {
        let url = app_failing_first(0).await;
        let cluster = cluster_with(by_service_name(), bad_address("mongodb"))
            .with(|s| s.helper_runs.extend(vec![bad_address("mongodb"); 4]));
        let target = target(cluster);
        let outcome = service_name_within(&target, &url, QUICK).await;
        let mismatch = sole_mismatch(&outcome);
        assert!(
            mismatch
                .starts_with("`mongodb` does not resolve inside the cluster: still not after 0.")
                && mismatch.ends_with(
                    "helper output: ** server can't find \
                    mongodb.ns.svc.cluster.local: NXDOMAIN\nnc: bad address 'mongodb'"
                ),
            "{mismatch}"
        );
        let lookups = target.cluster.calls().len();
        assert!((2..=4).contains(&lookups), "bounded retries: {lookups}");
        assert!(
            mismatch.contains(&format!(" s and {lookups} lookup(s)")),
            "{mismatch}"
        );
    }

    /// An app whose first `failures` writes answer 503 (its own lookup of the database is
    /// negatively cached), then stores and lists what it is sent.
    async fn app_failing_first(failures: usize) -> String {
        use axum::routing::get;
        use std::sync::{Arc, Mutex};
        let state = Arc::new(Mutex::new((0, Vec::<String>::new())));
        let (posts, gets) = (state.clone(), state);
        crate::testing::serve(axum::Router::new().route(
            "/data",
            get(move || async move { format!("{:?}", gets.lock().unwrap().1) }).post(
                move |body: String| async move {
                    let mut state = posts.lock().unwrap();
                    state.0 += 1;
                    if state.0 <= failures {
                        return (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "lookup mongodb: no such host".to_string(),
                        );
                    }
                    state.1.push(body);
                    (axum::http::StatusCode::CREATED, "stored".to_string())
                },
            ),
        ))
        .await
    }

    #[tokio::test]
    async fn the_first_write_is_retried_while_the_apps_own_lookup_is_cached() {
        let url = app_failing_first(2).await;
        let target = target(cluster_with(by_service_name(), connected()));
        let outcome = service_name_within(&target, &url, PATIENT).await;
        let read_back = "a write through the app's Service reads back after 0.";
        let retried = " s and 3 tries (the first: POST /data answered 503 Service Unavailable: \
                       lookup mongodb: no such host; the app's own lookup";
        crate::testing::assert_says(&outcome, Verdict::Pass, read_back);
        crate::testing::assert_said(&outcome, retried);

        // A write that never gets through fails with the last answer.
        let url = app_failing_first(usize::MAX).await;
        let target = super::super::tests::target(cluster_with(by_service_name(), connected()));
        let outcome = service_name_within(&target, &url, QUICK).await;
        assert_eq!(outcome.verdict, Verdict::Fail, "{outcome:?}");
        assert!(
            outcome.mismatches[0].contains("POST /data answered 503 Service Unavailable")
                && outcome.mismatches[0].contains(" time(s) over 0."),
            "{:?}",
            outcome.mismatches
        );
    }

    #[tokio::test]
    async fn a_service_whose_selector_matches_no_pod_is_named_before_the_failed_write() {
        // The forwarder to a Service without endpoints drops the connection: nothing listens.
        let url = crate::testing::closed_url();
        let cluster = cluster_with(by_service_name(), connected()).with(|s| {
            s.services.insert(
                "deploycheck-app".into(),
                ServiceInfo {
                    name: "deploycheck-app".into(),
                    kind: "NodePort".into(),
                    ports: vec![5000],
                    selector: [("app".to_string(), "flask".to_string())].into(),
                    ..ServiceInfo::default()
                },
            );
            let mut pod = crate::cluster::fake::pod("app-a", "a", true);
            pod.labels = [
                ("app".to_string(), "flask-app".to_string()),
                (
                    "app.kubernetes.io/name".to_string(),
                    "deploycheck-app".to_string(),
                ),
            ]
            .into();
            s.pods
                .insert("app.kubernetes.io/name=deploycheck-app".into(), vec![pod]);
        });
        let target = target(cluster);
        let outcome = service_name_within(&target, &url, QUICK).await;
        let mismatch = sole_mismatch(&outcome);
        assert!(
            mismatch.starts_with(
                "Service deploycheck-app has 0 ready endpoints, fewer than 1: its selector \
                 `app=flask` matches no pod; the app's pods carry \
                 `app=flask-app,app.kubernetes.io/name=deploycheck-app` (app-a): app=flask-app \
                 where the selector wants app=flask; POST /data failed: "
            ),
            "{mismatch}"
        );
        // The selector is named first: that is the cause, the failed request its effect.
        assert!(
            outcome
                .detail
                .starts_with("1 problem(s): Service deploycheck-app has 0")
        );
    }
}
