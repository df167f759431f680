//! Monitoring as the scripted cluster serves it: app pods whose `/metrics` is the reference
//! app's own registry (`app::metrics::Metrics`) counting the requests they answer, a
//! Prometheus that really scrapes them and answers `/api/v1/targets` and `/api/v1/query` in
//! the shapes recorded from a real one (`tests/fixtures/monitoring/`), and a Grafana whose
//! health, search, dashboard, data sources and data source proxy answer as Grafana 11's HTTP
//! API does. Each runs on loopback and is the tunnel of a pod behind its Service, so a
//! scenario reaches them exactly as it reaches a cluster's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State as Shared};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::State;
use super::promql::{self, Labels, Series};
use crate::cluster::{ServiceInfo, WorkloadKind};

/// The recorded and transcribed answers the fakes are built from.
pub mod recorded {
    pub const TARGETS_2_42: &str =
        include_str!("../../../tests/fixtures/monitoring/prometheus/targets-2.42.json");
    pub const TARGETS_3: &str =
        include_str!("../../../tests/fixtures/monitoring/prometheus/targets-3-kubernetes-sd.json");
    pub const QUERY_SUM: &str =
        include_str!("../../../tests/fixtures/monitoring/prometheus/query-sum.json");
    pub const QUERY_EMPTY: &str =
        include_str!("../../../tests/fixtures/monitoring/prometheus/query-empty.json");
    pub const QUERY_BAD_DATA: &str =
        include_str!("../../../tests/fixtures/monitoring/prometheus/query-bad-data.json");
    pub const HEALTH: &str = include_str!("../../../tests/fixtures/monitoring/grafana/health.json");
    pub const SEARCH: &str = include_str!("../../../tests/fixtures/monitoring/grafana/search.json");
    pub const DASHBOARD: &str =
        include_str!("../../../tests/fixtures/monitoring/grafana/dashboard.json");
    pub const DASHBOARD_NOT_FOUND: &str =
        include_str!("../../../tests/fixtures/monitoring/grafana/dashboard-not-found.json");
    pub const DATASOURCES: &str =
        include_str!("../../../tests/fixtures/monitoring/grafana/datasources.json");
    pub const FRONTEND_SETTINGS: &str =
        include_str!("../../../tests/fixtures/monitoring/grafana/frontend-settings.json");
    pub const UNAUTHORIZED: &str =
        include_str!("../../../tests/fixtures/monitoring/grafana/unauthorized.json");
    pub const FORBIDDEN_DATASOURCES: &str =
        include_str!("../../../tests/fixtures/monitoring/grafana/forbidden-datasources.json");

    pub fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).expect("a fixture is JSON")
    }
}

/// How a fake app pod's request counter behaves.
#[derive(Clone, Debug, PartialEq)]
pub enum Counting {
    /// Every request it answers is counted, as the reference app counts it.
    Counts,
    /// The counter shows the requests of an earlier life and never moves again.
    Frozen,
    /// `/metrics` answers this text instead of the registry's.
    Serves(String),
}

/// What serves a pod's port.
#[derive(Clone, Debug)]
pub enum Serve {
    /// A fake app pod.
    Fake(Counting),
    /// A real server on loopback (the reference service, say).
    At(SocketAddr),
}

/// A fake app pod: `/`, `/health` and `/metrics`, every request observed (or not) in the
/// reference app's own metrics registry.
pub async fn app_pod(counting: Counting) -> SocketAddr {
    let metrics = Arc::new(app::metrics::Metrics::default());
    if counting == Counting::Frozen {
        for _ in 0..3 {
            metrics.observe_request("GET", "/", 200, std::time::Duration::from_millis(1));
        }
    }
    let text = match &counting {
        Counting::Serves(text) => Some(text.clone()),
        _ => None,
    };
    let counts = counting == Counting::Counts;
    let router = Router::new()
        .route("/", get(|| async { "Welcome to deploycheck (fake pod)" }))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/metrics",
            get({
                let metrics = metrics.clone();
                move || async move {
                    let body = text.unwrap_or_else(|| metrics.render());
                    ([(header::CONTENT_TYPE, app::metrics::CONTENT_TYPE)], body)
                }
            }),
        )
        .layer(axum::middleware::from_fn(
            move |request: Request, next: axum::middleware::Next| {
                let metrics = metrics.clone();
                async move {
                    let started = Instant::now();
                    let route = request
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
                    let method = request.method().to_string();
                    let response = next.run(request).await;
                    if counts {
                        metrics.observe_request(
                            &method,
                            &route,
                            response.status().as_u16(),
                            started.elapsed(),
                        );
                    }
                    response
                }
            },
        ));
    address(crate::testing::serve(router).await)
}

fn address(url: String) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("a loopback address")
}

/// How Prometheus sees one app pod.
#[derive(Clone, Debug, PartialEq)]
pub enum Scrape {
    /// Discovered and scraped.
    Up,
    /// Discovered, never scraped successfully: `lastError` says why.
    Down(String),
    /// Not discovered at all (no annotation, a relabelling that drops it).
    Missing,
}

/// The Prometheus of a scripted stack.
#[derive(Clone, Debug)]
pub struct Prometheus {
    /// By pod name; pods not named are scraped.
    pub scrapes: BTreeMap<String, Scrape>,
    /// The relabelling copies `__meta_kubernetes_pod_name` to a `pod` label (else the pod
    /// shows only in the discovered labels).
    pub pod_label: bool,
    pub job: String,
}

impl Default for Prometheus {
    fn default() -> Self {
        Self {
            scrapes: BTreeMap::new(),
            pod_label: true,
            job: "deploycheck-app".into(),
        }
    }
}

/// The Grafana of a scripted stack.
#[derive(Clone, Debug)]
pub struct Grafana {
    /// Each as `GET /api/dashboards/uid/<uid>` answers it (`{"dashboard": .., "meta": ..}`).
    pub dashboards: Vec<Value>,
    /// `user:password` it requires; `None`: anonymous Viewer access is on.
    pub login: Option<String>,
    /// `/api/datasources` answers 403, as it does for a Viewer.
    pub datasources_forbidden: bool,
    /// What `/api/health` says of the database.
    pub database: String,
}

impl Grafana {
    /// Showing only the dashboard `k8s/overlays/monitoring` provisions, from its own JSON file.
    pub fn of_the_monitoring_overlay() -> Self {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../k8s/overlays/monitoring/grafana/deploycheck-app.json");
        let text = std::fs::read_to_string(&file).expect("the overlay's dashboard is readable");
        Self {
            dashboards: vec![json!({"dashboard": recorded::json(&text), "meta": {}})],
            ..Self::default()
        }
    }
}

impl Default for Grafana {
    fn default() -> Self {
        Self {
            dashboards: vec![recorded::json(recorded::DASHBOARD)],
            login: None,
            datasources_forbidden: false,
            database: "ok".into(),
        }
    }
}

/// A monitored stack to script.
#[derive(Clone, Debug)]
pub struct Monitoring {
    /// The app's pods, by name, and what serves each.
    pub pods: Vec<(String, Serve)>,
    pub prometheus: Option<Prometheus>,
    pub grafana: Option<Grafana>,
}

impl Default for Monitoring {
    /// Two counting app pods, scraped by a Prometheus, shown by a Grafana with the dashboard.
    fn default() -> Self {
        Self {
            pods: ["deploycheck-app-0", "deploycheck-app-1"]
                .map(|name| (name.to_string(), Serve::Fake(Counting::Counts)))
                .into(),
            prometheus: Some(Prometheus::default()),
            grafana: Some(Grafana::default()),
        }
    }
}

/// The app's pods' labels (the reference profile's selector).
pub const APP_LABELS: (&str, &str) = ("app.kubernetes.io/name", "deploycheck-app");

/// The reference stack rolled out (see [`super::reference_rolled_out`]) with `monitoring`
/// (see [`install`]).
pub async fn monitored(monitoring: &Monitoring) -> State {
    let mut s = State::default();
    super::reference_rolled_out(&mut s);
    install(&mut s, monitoring).await;
    s
}

/// `monitoring` served in `s`: its app pods Ready behind the app Service `deploycheck-app`,
/// each tunnel leading to what serves it; Prometheus and Grafana each one pod behind Services
/// `prometheus` (9090) and `grafana` (3000). What `s` said of these pods, endpoints and
/// Services before is replaced; the rest (the app Service itself, the database) is left.
pub async fn install(s: &mut State, monitoring: &Monitoring) {
    let mut pods = Vec::new();
    let mut targets = Vec::new();
    for (index, (name, serve)) in monitoring.pods.iter().enumerate() {
        let address = match serve {
            Serve::Fake(counting) => app_pod(counting.clone()).await,
            Serve::At(address) => *address,
        };
        s.tunnels.insert(name.clone(), address);
        let mut p = super::pod(name, &format!("uid-{name}"), true);
        p.labels = [(APP_LABELS.0.to_string(), APP_LABELS.1.to_string())].into();
        pods.push(p);
        targets.push(Target {
            pod: name.clone(),
            address,
            ip: format!("10.244.0.{}", 17 + index),
        });
    }
    s.endpoints.insert(
        "deploycheck-app".into(),
        [pods.iter().map(|p| p.name.clone()).collect()].into(),
    );
    s.pods
        .insert(format!("{}={}", APP_LABELS.0, APP_LABELS.1), pods);
    let prometheus = match &monitoring.prometheus {
        Some(script) => {
            let address = prometheus(script.clone(), targets).await;
            behind_service(s, "prometheus", 9090, address);
            Some(address)
        }
        None => None,
    };
    if let Some(script) = &monitoring.grafana {
        let upstream = prometheus.unwrap_or_else(crate::testing::closed_address);
        let address = grafana(script.clone(), upstream).await;
        behind_service(s, "grafana", 3000, address);
    }
}

/// `name-0` Ready behind Service `name`, its tunnel leading to `address`.
fn behind_service(s: &mut State, name: &str, port: i32, address: SocketAddr) {
    let labels: BTreeMap<String, String> =
        [("app.kubernetes.io/name".to_string(), name.to_string())].into();
    let pod_name = format!("{name}-0");
    let mut p = super::pod(&pod_name, &format!("uid-{pod_name}"), true);
    p.labels = labels.clone();
    s.pods.insert(crate::scenario::selector(&labels), vec![p]);
    s.tunnels.insert(pod_name.clone(), address);
    s.endpoints.insert(name.into(), [vec![pod_name]].into());
    s.workloads.insert(
        (WorkloadKind::Deployment, name.into()),
        super::workload(name, 1, 1),
    );
    s.services.insert(
        name.into(),
        ServiceInfo {
            name: name.into(),
            kind: "ClusterIP".into(),
            ports: vec![port],
            target_ports: vec![port.to_string()],
            headless: false,
            selector: labels,
        },
    );
}

/// A pod as Prometheus's Kubernetes discovery finds it.
#[derive(Clone, Debug)]
struct Target {
    pod: String,
    /// Where its port really is (loopback).
    address: SocketAddr,
    /// The pod IP Prometheus would scrape.
    ip: String,
}

/// What Prometheus knows of one target after its last scrape.
#[derive(Clone, Debug, Default)]
struct Scraped {
    health: &'static str,
    error: String,
    at: Option<SystemTime>,
    took: f64,
}

/// The fake's scrape interval: its clock advances by one interval per scrape, so what a
/// range (`[5m]`) covers does not depend on how fast a test runs.
const TICK: f64 = 1.0;

struct Prom {
    script: Prometheus,
    targets: Vec<Target>,
    /// Scrapes so far; the clock is this many ticks.
    scrapes: u64,
    series: BTreeMap<Labels, Vec<(f64, f64)>>,
    last: BTreeMap<String, Scraped>,
}

type PromState = Arc<tokio::sync::Mutex<Prom>>;

/// A Prometheus that scrapes `targets` (as its script says) on every API request, so what it
/// answers is what the pods served a moment ago.
async fn prometheus(script: Prometheus, targets: Vec<Target>) -> SocketAddr {
    let state: PromState = Arc::new(tokio::sync::Mutex::new(Prom {
        script,
        targets,
        scrapes: 0,
        series: BTreeMap::new(),
        last: BTreeMap::new(),
    }));
    let router = Router::new()
        .route("/api/v1/targets", get(targets_answer))
        .route("/api/v1/query", get(query_answer).post(query_answer))
        .with_state(state);
    address(crate::testing::serve(router).await)
}

impl Prom {
    fn labels_of(&self, target: &Target) -> Labels {
        let mut labels: Labels = [
            ("job".to_string(), self.script.job.clone()),
            ("instance".to_string(), format!("{}:5000", target.ip)),
            ("namespace".to_string(), "ns".to_string()),
        ]
        .into();
        if self.script.pod_label {
            labels.insert("pod".into(), target.pod.clone());
        }
        labels
    }

    fn now(&self) -> f64 {
        self.scrapes as f64 * TICK
    }

    fn scrape_of(&self, pod: &str) -> Scrape {
        self.script.scrapes.get(pod).cloned().unwrap_or(Scrape::Up)
    }

    /// One scrape of every discovered target, as the scrape loop would have done by now.
    async fn scrape(&mut self) {
        self.scrapes += 1;
        let now = self.now();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("a client");
        for target in self.targets.clone() {
            let url = format!("http://{}:5000/metrics", target.ip);
            let started = Instant::now();
            let outcome = match self.scrape_of(&target.pod) {
                Scrape::Missing => continue,
                Scrape::Down(error) => Err(error),
                Scrape::Up => fetch(&client, target.address, &url).await,
            };
            let took = started.elapsed().as_secs_f64();
            let labels = self.labels_of(&target);
            let mut up = labels.clone();
            up.insert("__name__".into(), "up".into());
            let scraped = match outcome {
                Ok(samples) => {
                    for (sample_labels, value) in samples {
                        let mut all = labels.clone();
                        all.extend(sample_labels);
                        self.series.entry(all).or_default().push((now, value));
                    }
                    self.series.entry(up).or_default().push((now, 1.0));
                    Scraped {
                        health: "up",
                        ..Scraped::default()
                    }
                }
                Err(error) => {
                    self.series.entry(up).or_default().push((now, 0.0));
                    Scraped {
                        health: "down",
                        error,
                        ..Scraped::default()
                    }
                }
            };
            self.last.insert(
                target.pod.clone(),
                Scraped {
                    at: Some(SystemTime::now()),
                    took,
                    ..scraped
                },
            );
        }
    }
}

/// The samples of `/metrics` at `address`, or the error as Prometheus words it (for `url`).
async fn fetch(
    client: &reqwest::Client,
    address: SocketAddr,
    url: &str,
) -> Result<Vec<(Labels, f64)>, String> {
    let response = client
        .get(format!("http://{address}/metrics"))
        .send()
        .await
        .map_err(|_| {
            let host = url
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default();
            format!("Get \"{url}\": dial tcp {host}: connect: connection refused")
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("server returned HTTP status {status}"));
    }
    let text = response.text().await.map_err(|e| e.to_string())?;
    let exposition = crate::exposition::parse(&text).map_err(|e| e.to_string())?;
    Ok(exposition
        .families
        .iter()
        .flat_map(|f| &f.samples)
        .map(|s| {
            let mut labels: Labels = s.labels.iter().cloned().collect();
            labels.insert("__name__".into(), s.name.clone());
            (labels, s.value)
        })
        .collect())
}

async fn targets_answer(Shared(state): Shared<PromState>) -> Response {
    let mut prom = state.lock().await;
    prom.scrape().await;
    let template = recorded::json(recorded::TARGETS_3)["data"]["activeTargets"][0].clone();
    let interval = format!("{TICK}s");
    let mut active = Vec::new();
    for target in &prom.targets {
        if prom.scrape_of(&target.pod) == Scrape::Missing {
            continue;
        }
        let last = prom.last.get(&target.pod).cloned().unwrap_or_default();
        let mut entry = template.clone();
        let discovered = &mut entry["discoveredLabels"];
        discovered["__address__"] = json!(format!("{}:5000", target.ip));
        discovered["__meta_kubernetes_pod_ip"] = json!(target.ip);
        discovered["__meta_kubernetes_pod_name"] = json!(target.pod);
        discovered["__meta_kubernetes_namespace"] = json!("ns");
        discovered["__scrape_interval__"] = json!(interval);
        discovered["job"] = json!(prom.script.job);
        entry["labels"] = serde_json::to_value(prom.labels_of(target)).expect("labels");
        entry["scrapePool"] = json!(prom.script.job);
        let url = format!("http://{}:5000/metrics", target.ip);
        entry["scrapeUrl"] = json!(url);
        entry["globalUrl"] = json!(url);
        entry["health"] = json!(last.health);
        entry["lastError"] = json!(last.error);
        entry["lastScrape"] = json!(
            last.at
                .map(|t| {
                    time::OffsetDateTime::from(t)
                        .format(&time::format_description::well_known::Rfc3339)
                        .expect("a time formats")
                })
                .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
        );
        entry["lastScrapeDuration"] = json!(last.took);
        entry["scrapeInterval"] = json!(interval);
        active.push(entry);
    }
    let dropped = prom
        .targets
        .iter()
        .filter(|t| prom.scrape_of(&t.pod) == Scrape::Missing)
        .count();
    axum::Json(json!({
        "status": "success",
        "data": {
            "activeTargets": active,
            "droppedTargets": [],
            "droppedTargetCounts": {prom.script.job.clone(): dropped},
        }
    }))
    .into_response()
}

/// The query of a GET's query string or a POST's form body.
fn query_parameter(raw: Option<&str>, body: &str) -> Option<String> {
    [raw.unwrap_or_default(), body].iter().find_map(|text| {
        reqwest::Url::parse(&format!("http://x/?{text}"))
            .ok()?
            .query_pairs()
            .find(|(k, _)| k == "query")
            .map(|(_, v)| v.into_owned())
    })
}

/// A sample value as Prometheus writes it (`20`, `0.5`, `NaN`, `+Inf`).
fn prometheus_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        value.to_string()
    }
}

async fn query_answer(
    Shared(state): Shared<PromState>,
    RawQuery(raw): RawQuery,
    body: String,
) -> Response {
    let mut prom = state.lock().await;
    prom.scrape().await;
    let Some(query) = query_parameter(raw.as_deref(), &body) else {
        return bad_data(
            "invalid parameter \"query\": unknown position: parse error: no expression found in input",
        );
    };
    let series: Vec<Series> = prom
        .series
        .iter()
        .map(|(labels, points)| Series {
            labels: labels.clone(),
            points: points.clone(),
        })
        .collect();
    let now = prom.now();
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    match promql::evaluate(&query, &series, now) {
        Ok(promql::Value::Scalar(v)) => axum::Json(json!({
            "status": "success",
            "data": {"resultType": "scalar", "result": [stamp, prometheus_float(v)]}
        }))
        .into_response(),
        Ok(promql::Value::Vector(samples)) => axum::Json(json!({
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": samples
                    .into_iter()
                    .map(|(metric, v)| json!({"metric": metric, "value": [stamp, prometheus_float(v)]}))
                    .collect::<Vec<_>>(),
            }
        }))
        .into_response(),
        Err(error) => bad_data(&format!("invalid parameter \"query\": {error}")),
    }
}

fn bad_data(error: &str) -> Response {
    let mut answer = recorded::json(recorded::QUERY_BAD_DATA);
    answer["error"] = json!(error);
    (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response()
}

struct Graf {
    script: Grafana,
    prometheus: SocketAddr,
}

type GrafState = Arc<Mutex<Graf>>;

/// A Grafana 11 over the Prometheus at `prometheus`: its data source `prometheus` proxies there.
async fn grafana(script: Grafana, prometheus: SocketAddr) -> SocketAddr {
    let state: GrafState = Arc::new(Mutex::new(Graf { script, prometheus }));
    let router = Router::new()
        .route("/api/search", get(search))
        .route("/api/dashboards/uid/{uid}", get(dashboard))
        .route("/api/datasources", get(datasources))
        .route("/api/frontend/settings", get(frontend_settings))
        .route(
            "/api/datasources/proxy/uid/{uid}/{*rest}",
            get(proxy).post(proxy),
        )
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), login))
        // Health answers everyone: it is what load balancers and probes ask.
        .route("/api/health", get(health))
        .with_state(state);
    address(crate::testing::serve(router).await)
}

async fn login(
    Shared(state): Shared<GrafState>,
    headers: HeaderMap,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    use base64::Engine as _;
    let required = state.lock().unwrap().script.login.clone();
    if let Some(login) = required {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(login)
        );
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(recorded::json(recorded::UNAUTHORIZED)),
            )
                .into_response();
        }
    }
    next.run(request).await
}

async fn health(Shared(state): Shared<GrafState>) -> Response {
    let database = state.lock().unwrap().script.database.clone();
    let mut answer = recorded::json(recorded::HEALTH);
    answer["database"] = json!(database);
    let status = if database == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(answer)).into_response()
}

async fn search(Shared(state): Shared<GrafState>, RawQuery(raw): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        reqwest::Url::parse(&format!("http://x/?{}", raw.unwrap_or_default()))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
    let wanted = |key: &'static str| {
        pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let query = wanted("query").next().unwrap_or_default().to_lowercase();
    let uids: Vec<&str> = wanted("dashboardUIDs").collect();
    let template = recorded::json(recorded::SEARCH)[0].clone();
    let hits: Vec<Value> = state
        .lock()
        .unwrap()
        .script
        .dashboards
        .iter()
        .map(|d| &d["dashboard"])
        .filter(|d| {
            let title = d["title"].as_str().unwrap_or_default();
            let uid = d["uid"].as_str().unwrap_or_default();
            title.to_lowercase().contains(&query) && (uids.is_empty() || uids.contains(&uid))
        })
        .map(|d| {
            let mut hit = template.clone();
            let uid = d["uid"].as_str().unwrap_or_default();
            hit["uid"] = d["uid"].clone();
            hit["id"] = d["id"].clone();
            hit["title"] = d["title"].clone();
            hit["tags"] = d["tags"].clone();
            hit["uri"] = json!(format!("db/{uid}"));
            hit["url"] = json!(format!("/d/{uid}/{uid}"));
            hit
        })
        .collect();
    axum::Json(hits).into_response()
}

async fn dashboard(Shared(state): Shared<GrafState>, Path(uid): Path<String>) -> Response {
    let found = state
        .lock()
        .unwrap()
        .script
        .dashboards
        .iter()
        .find(|d| d["dashboard"]["uid"] == uid.as_str())
        .cloned();
    match found {
        Some(answer) => axum::Json(answer).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(recorded::json(recorded::DASHBOARD_NOT_FOUND)),
        )
            .into_response(),
    }
}

async fn datasources(Shared(state): Shared<GrafState>) -> Response {
    if state.lock().unwrap().script.datasources_forbidden {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(recorded::json(recorded::FORBIDDEN_DATASOURCES)),
        )
            .into_response();
    }
    axum::Json(recorded::json(recorded::DATASOURCES)).into_response()
}

async fn frontend_settings() -> Response {
    axum::Json(recorded::json(recorded::FRONTEND_SETTINGS)).into_response()
}

/// `/api/datasources/proxy/uid/<uid>/<rest>` relayed to the Prometheus behind data source
/// `prometheus`, as Grafana's proxy does for a `proxy`-access data source.
async fn proxy(
    Shared(state): Shared<GrafState>,
    Path((uid, rest)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: String,
) -> Response {
    let known = recorded::json(recorded::DATASOURCES)
        .as_array()
        .is_some_and(|all| all.iter().any(|d| d["uid"] == uid.as_str()));
    if !known {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Data source not found"})),
        )
            .into_response();
    }
    let upstream = state.lock().unwrap().prometheus;
    let mut url = format!("http://{upstream}/{rest}");
    if let Some(raw) = raw {
        url.push('?');
        url.push_str(&raw);
    }
    let client = reqwest::Client::new();
    let request = if body.is_empty() {
        client.get(&url)
    } else {
        client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
    };
    match request.send().await {
        Ok(answer) => {
            let status =
                StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let text = answer.text().await.unwrap_or_default();
            (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
        }
        Err(error) => (
            StatusCode::BAD_GATEWAY,
            axum::Json(json!({"message": format!("Bad Gateway: {error}")})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_is_json_of_the_recorded_shape() {
        let targets = recorded::json(recorded::TARGETS_2_42);
        let first = &targets["data"]["activeTargets"][0];
        for key in [
            "discoveredLabels",
            "labels",
            "scrapePool",
            "scrapeUrl",
            "globalUrl",
            "lastError",
            "lastScrape",
            "lastScrapeDuration",
            "health",
            "scrapeInterval",
            "scrapeTimeout",
        ] {
            assert!(
                first.get(key).is_some(),
                "{key} missing from the 2.42 answer"
            );
            assert!(
                recorded::json(recorded::TARGETS_3)["data"]["activeTargets"][0]
                    .get(key)
                    .is_some(),
                "{key} missing from the 3 answer"
            );
        }
        assert_eq!(
            recorded::json(recorded::QUERY_SUM)["data"]["resultType"],
            "vector"
        );
        assert_eq!(
            recorded::json(recorded::QUERY_EMPTY)["data"]["result"],
            json!([])
        );
        for text in [
            recorded::HEALTH,
            recorded::SEARCH,
            recorded::DASHBOARD,
            recorded::DASHBOARD_NOT_FOUND,
            recorded::DATASOURCES,
            recorded::FRONTEND_SETTINGS,
            recorded::UNAUTHORIZED,
            recorded::FORBIDDEN_DATASOURCES,
        ] {
            recorded::json(text);
        }
    }

    /// The fake Prometheus counts what the fake pods answered: its query moves with them.
    #[tokio::test]
    async fn the_fake_prometheus_sees_what_the_pods_answered() {
        let state = monitored(&Monitoring::default()).await;
        let prometheus = format!("http://{}", state.tunnels["prometheus-0"]);
        let pod = format!("http://{}", state.tunnels["deploycheck-app-0"]);
        let query = |q: &'static str| {
            let url = format!("{prometheus}/api/v1/query");
            async move {
                let url = reqwest::Url::parse_with_params(&url, [("query", q)]).unwrap();
                let answer: Value = reqwest::Client::new()
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                answer["data"]["result"].clone()
            }
        };
        assert_eq!(
            query("sum(http_requests_total{route=\"/\"})").await,
            json!([])
        );
        for _ in 0..3 {
            reqwest::get(&pod).await.unwrap();
        }
        let result = query("sum(http_requests_total{route=\"/\"})").await;
        assert_eq!(result[0]["value"][1], "3", "{result}");
        let up = query("count(up{job=\"deploycheck-app\"} == 1)").await;
        assert_eq!(up[0]["value"][1], "2", "{up}");
    }

    #[tokio::test]
    async fn grafana_asks_for_a_login_when_anonymous_access_is_off() {
        let monitoring = Monitoring {
            grafana: Some(Grafana {
                login: Some("admin:secret".into()),
                ..Grafana::default()
            }),
            ..Monitoring::default()
        };
        let state = monitored(&monitoring).await;
        let grafana = format!("http://{}", state.tunnels["grafana-0"]);
        let client = reqwest::Client::new();
        let search = client
            .get(format!("{grafana}/api/search"))
            .send()
            .await
            .unwrap();
        assert_eq!(search.status(), 401);
        let health = client
            .get(format!("{grafana}/api/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let logged_in = client
            .get(format!("{grafana}/api/search"))
            .basic_auth("admin", Some("secret"))
            .send()
            .await
            .unwrap();
        assert_eq!(logged_in.status(), 200);
    }
}
