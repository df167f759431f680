//! What the release scenarios (`bluegreen`, `canary`) share: the release recognised in the
//! cluster as the profile's `[strategy]` allows, the ready pods of each side, and a prober that
//! sends requests on fresh connections (kube-proxy, like our forwarder, picks a backend per
//! connection) and attributes every answer to the release named by the version header.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{ScenarioOutcome, Target, selector};
use crate::cluster::Cluster;
use crate::profile::StrategyKind;
use crate::strategy::{self, Kind, Release, Route};

/// The release of the namespace if it is of `wanted` kind and destructive steps are allowed
/// (both scenarios change the live traffic); otherwise the outcome that says why the scenario
/// does not run (a skip) or cannot (a failure to read).
pub async fn recognise<C: Cluster>(
    target: &Target<C>,
    id: &'static str,
    wanted: Kind,
) -> Result<Release, ScenarioOutcome> {
    if let crate::cluster::safety::Destructive::Refused(reason) = &target.destructive {
        return Err(ScenarioOutcome::skip(id, reason.clone()));
    }
    let settings = &target.profile.strategy;
    let insisted = match settings.kind {
        StrategyKind::None => {
            return Err(ScenarioOutcome::skip(
                id,
                "the profile's strategy.kind is \"none\"",
            ));
        }
        StrategyKind::Auto => None,
        StrategyKind::BlueGreen => Some(Kind::BlueGreen),
        StrategyKind::Canary => Some(Kind::Canary),
    };
    if let Some(kind) = insisted
        && kind != wanted
    {
        return Err(ScenarioOutcome::skip(
            id,
            format!("the profile's strategy.kind is {kind}, not {wanted}"),
        ));
    }
    let cluster = &*target.cluster;
    let namespace = &target.namespace;
    let fail = |error: crate::cluster::ClusterError| ScenarioOutcome::fail(id, error.to_string());
    let mut sides = cluster.deployments(namespace).await.map_err(fail)?;
    let routes: Vec<Route> = cluster
        .services(namespace)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|s| Route {
            name: s.name,
            selector: s.selector,
        })
        .collect();
    if !settings.deployments.is_empty() {
        if let Some(missing) = settings
            .deployments
            .iter()
            .find(|name| !sides.iter().any(|s| &s.name == *name))
        {
            return Err(ScenarioOutcome::fail(
                id,
                format!("strategy.deployments names Deployment {missing}, which does not exist"),
            ));
        }
        sides.retain(|s| settings.deployments.contains(&s.name));
    } else {
        // Only the app's Deployments can be its release's sides: a Prometheus beside a Grafana
        // (or a frontend beside a backend) differ in one label too.
        let app_labels = &target.profile.app.labels;
        sides.retain(|s| app_labels.is_empty() || strategy::selects(app_labels, &s.labels));
    }
    let Some(mut release) = strategy::recognise(&sides, &routes, &target.profile.app.service)
    else {
        let names: Vec<&str> = sides.iter().map(|s| s.name.as_str()).collect();
        return Err(ScenarioOutcome::skip(
            id,
            format!(
                "no {wanted} release: of the app's Deployments (pods labelled {}: {}), no two \
                 differ in one pod label with a Service over them",
                target
                    .profile
                    .app
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        ));
    };
    if !settings.label.is_empty() && settings.label != release.label {
        return Err(ScenarioOutcome::fail(
            id,
            format!(
                "strategy.label is `{}` but the sides differ in `{}` ({})",
                settings.label,
                release.label,
                release.describe()
            ),
        ));
    }
    match insisted {
        Some(kind) => release.kind = kind,
        None if release.kind != wanted => {
            return Err(ScenarioOutcome::skip(
                id,
                format!(
                    "the stack is a {} release, not {wanted}: {}",
                    release.kind,
                    release.describe()
                ),
            ));
        }
        None => {}
    }
    if !settings.preview_service.is_empty() {
        release.preview = routes
            .iter()
            .find(|r| r.name == settings.preview_service)
            .cloned();
    }
    Ok(release)
}

/// The names of a side's ready pods.
pub async fn ready_pods<C: Cluster>(
    target: &Target<C>,
    release: &Release,
    side: usize,
) -> Result<Vec<String>, String> {
    let pods = target
        .cluster
        .pods(&target.namespace, &selector(&release.sides[side].labels))
        .await
        .map_err(|e| e.to_string())?;
    Ok(pods
        .iter()
        .filter(|p| p.ready && !p.deleting)
        .map(|p| p.name.clone())
        .collect())
}

/// One answer of the prober: when it came, and the release that gave it (`Ok(None)`: a good
/// answer without the version header) or why it failed.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub at: Duration,
    pub release: Result<Option<String>, String>,
}

/// Requests at a steady rate, each on a new connection, until stopped or bounded.
pub struct Prober {
    answers: Arc<Mutex<Vec<Answer>>>,
    started: Instant,
    task: tokio::task::JoinHandle<()>,
}

impl Prober {
    /// GET `path` `rate` times a second, reading the answering release from `header` (empty:
    /// none); at most `max` long and `rate × max` requests.
    pub fn start(base_url: &str, path: &str, header: &str, rate: u32, max: Duration) -> Self {
        let limit = (u64::from(rate.max(1)) * max.as_secs().max(1)) as usize;
        Self::start_counted(base_url, path, header, rate, max, limit)
    }

    /// [`Prober::start`] that sends `limit` requests at most.
    pub fn start_counted(
        base_url: &str,
        path: &str,
        header: &str,
        rate: u32,
        max: Duration,
        limit: usize,
    ) -> Self {
        let answers = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let url = format!("{}{path}", base_url.trim_end_matches('/'));
        let header = header.to_string();
        let rate = rate.max(1);
        let sink = answers.clone();
        let task = tokio::spawn(async move {
            let timeout = Duration::from_secs(5);
            // No idle connection is kept: every request is routed afresh.
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .pool_max_idle_per_host(0)
                .build()
                .expect("a reqwest client builds");
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
            let mut requests = tokio::task::JoinSet::new();
            for _ in 0..limit {
                tick.tick().await;
                if started.elapsed() >= max {
                    break;
                }
                let (client, url, header, sink) =
                    (client.clone(), url.clone(), header.clone(), sink.clone());
                requests.spawn(async move {
                    let release = match client.get(&url).send().await {
                        Ok(response) if response.status().is_success() => Ok(response
                            .headers()
                            .get(header.as_str())
                            .filter(|_| !header.is_empty())
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)),
                        Ok(response) => Err(format!("HTTP {}", response.status().as_u16())),
                        Err(error) => Err(crate::http::describe_transport(&error, timeout)),
                    };
                    let at = started.elapsed();
                    sink.lock().unwrap().push(Answer { at, release });
                });
            }
            while requests.join_next().await.is_some() {}
        });
        Self {
            answers,
            started,
            task,
        }
    }

    /// Time since the prober started: answers are stamped with it.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn answers(&self) -> Vec<Answer> {
        let mut answers = self.answers.lock().unwrap().clone();
        answers.sort_by_key(|a| a.at);
        answers
    }

    /// Waits until every good answer since `since` has come from `release` for `settled`
    /// answers in a row; returns how long after `since` the first of them came.
    pub async fn until_all_from(
        &self,
        release: &str,
        since: Duration,
        follow: Duration,
    ) -> Result<Duration, String> {
        const SETTLED: usize = 5;
        let deadline = since + follow;
        loop {
            let answers: Vec<Answer> = self
                .answers()
                .into_iter()
                .filter(|a| a.at >= since && a.release.is_ok())
                .collect();
            let tail = answers
                .iter()
                .rev()
                .take_while(|a| a.release.as_ref().ok().and_then(|r| r.as_deref()) == Some(release))
                .count();
            if tail >= SETTLED {
                let first = &answers[answers.len() - tail];
                return Ok(first.at.saturating_sub(since));
            }
            if self.now() >= deadline {
                let others = answers
                    .iter()
                    .filter(|a| a.release.as_ref().ok().and_then(|r| r.as_deref()) != Some(release))
                    .count();
                return Err(format!(
                    "answers did not all come from {release} within {} s of the change ({others} \
                     of {} good answers since came from another release)",
                    follow.as_secs(),
                    answers.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops sending and returns every answer, in time order.
    pub async fn stop(self) -> Vec<Answer> {
        let answers = self.answers();
        self.task.abort();
        let _ = self.task.await;
        answers
    }
}

/// Pod names for a sentence: `a, b`, or `none`.
pub fn names(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Failed answers as a sentence: `2 of 140 requests failed (first: +3.1s HTTP 502; ...)`.
pub fn failures(answers: &[Answer]) -> Option<String> {
    let failed: Vec<String> = answers
        .iter()
        .filter_map(|a| {
            a.release
                .as_ref()
                .err()
                .map(|e| format!("+{:.1}s {e}", a.at.as_secs_f64()))
        })
        .collect();
    (!failed.is_empty()).then(|| {
        format!(
            "{} of {} requests failed (first: {})",
            failed.len(),
            answers.len(),
            failed
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

#[cfg(test)]
pub mod testing {
    use std::collections::BTreeMap;

    /// Labels from pairs.
    pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A pod of one release: a loopback server that names its version on every answer.
    pub async fn release_pod(version: &'static str) -> std::net::SocketAddr {
        let router = axum::Router::new()
            .fallback(move || async move { ([("X-App-Version", version)], "ok") });
        let url = crate::testing::serve(router).await;
        url.trim_start_matches("http://").parse().unwrap()
    }

    /// The fake cluster as the rendered reference variant `k8s/overlays/{variant}` leaves it
    /// rolled out: every Deployment with its replicas (or its HPA's minimum) of Ready pods, each
    /// a loopback server answering as its `APP_VERSION`, and every Service with the ready
    /// endpoints its selector matches.
    pub async fn rolled_out_variant(variant: &str) -> crate::cluster::fake::State {
        use crate::cluster::fake::{pod, workload};
        use crate::cluster::{ServiceInfo, WorkloadKind};
        let overlay = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../k8s/overlays")
            .join(variant);
        let objects = crate::check::load_manifests(&overlay).expect("the overlay renders");
        let of = |kind: &'static str| objects.iter().filter(move |o| o["kind"] == kind);
        let mut s = crate::cluster::fake::State::default();
        for deployment in of("Deployment") {
            let name = deployment["metadata"]["name"].as_str().unwrap().to_string();
            let hpa_minimum = of("HorizontalPodAutoscaler")
                .find(|h| h["spec"]["scaleTargetRef"]["name"] == name.as_str())
                .and_then(|h| h["spec"]["minReplicas"].as_i64());
            let replicas = deployment["spec"]["replicas"]
                .as_i64()
                .or(hpa_minimum)
                .unwrap_or(1) as i32;
            let template = &deployment["spec"]["template"];
            let labels: BTreeMap<String, String> =
                serde_json::from_value(template["metadata"]["labels"].clone()).unwrap();
            let version = template["spec"]["containers"][0]["env"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["name"] == "APP_VERSION")
                .and_then(|e| e["value"].as_str())
                .unwrap_or("0.1.0")
                .to_string();
            let version: &'static str = Box::leak(version.into_boxed_str());
            s.workloads.insert(
                (WorkloadKind::Deployment, name.clone()),
                workload(&name, replicas, replicas),
            );
            s.templates.insert(
                (WorkloadKind::Deployment, name.clone()),
                serde_json::from_value(template.clone()).unwrap(),
            );
            let mut pods = Vec::new();
            for i in 0..replicas {
                let mut p = pod(&format!("{name}-{i}"), &format!("{name}{i}"), true);
                p.labels = labels.clone();
                s.tunnels.insert(p.name.clone(), release_pod(version).await);
                pods.push(p);
            }
            s.pods.insert(crate::scenario::selector(&labels), pods);
        }
        for service in of("Service") {
            let name = service["metadata"]["name"].as_str().unwrap().to_string();
            let selector: BTreeMap<String, String> =
                serde_json::from_value(service["spec"]["selector"].clone()).unwrap_or_default();
            s.endpoints
                .insert(name.clone(), [s.ready_endpoints_of(&selector)].into());
            s.services.insert(
                name.clone(),
                ServiceInfo {
                    name,
                    kind: "ClusterIP".into(),
                    ports: vec![5000],
                    target_ports: vec!["http".into()],
                    headless: false,
                    selector,
                },
            );
        }
        s
    }

    /// A pod whose process is gone mid-connection: it accepts and closes at once.
    pub async fn dropping_pod() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                drop(connection);
            }
        });
        address
    }
}
