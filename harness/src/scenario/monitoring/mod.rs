//! Monitoring that is proven, not assumed. Every ready app pod's metrics route (reached through
//! a tunnel to that pod alone) must serve an exposition that parses and breaks none of
//! promtool's rules; requests sent through the app's Service must raise each pod's request
//! counter by the requests that pod answered. Where the profile names a Prometheus, its
//! `/api/v1/targets` must show every app pod `up` without a `lastError` within two scrape
//! intervals, and its request counter must rise by the requests sent once it has scraped them.
//! Where it names a Grafana, `/api/health` must be ok, the dashboard must be found through
//! `/api/search`, and every panel's query must return data through the Grafana data source
//! proxy. What the profile does not name is said as not checked; without a metrics route the
//! scenario is skipped.

mod grafana;
mod prometheus;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ScenarioOutcome, Target};
use crate::cluster::{Cluster, PodState, WaitError};
use crate::exposition::{self, Exposition};
use crate::findings::Severity;
use crate::forward::Forwarder;
use crate::metrics::{self, Delta};
use crate::profile::Monitoring;

pub const SPEC: super::Spec = super::Spec::reading(
    "monitoring",
    "the app's metrics count what it serves, and Prometheus and Grafana show them",
);

const ID: &str = SPEC.id;

/// Requests sent through the Service: enough for every pod of an HPA's range to answer a few,
/// few enough to be nothing to the app.
pub const REQUESTS: u32 = 20;

/// Where the requests go: the greeting, which every app of the challenge serves and no probe
/// or scraper asks for.
const PATH: &str = "/";

/// What Prometheus asks a target for: OpenMetrics first, the text format otherwise.
const ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Prometheus's discovery manager hands new target sets to the scrape loops at most every 5 s
/// (its `updatert`), and a first scrape falls anywhere in the interval after that: two scrape
/// intervals plus this covers a pod that Prometheus has only just been told about.
const DISCOVERY_BATCH: Duration = Duration::from_secs(5);

/// Other requests the idle window may have missed that can still fall in the sending interval
/// (a kubelet probes every ten seconds), as `deploycheck metrics` allows.
const UNSEEN_TRAFFIC: f64 = 2.0;

/// Timing and credentials of one run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Pause between two reads of Prometheus's API.
    pub poll: Duration,
    /// Added to two scrape intervals for every wait on Prometheus.
    pub margin: Duration,
    /// The shortest window in which the counters are watched without our requests.
    pub idle: Duration,
    /// Longest wait for one HTTP answer.
    pub timeout: Duration,
    /// `user:password` for Grafana (`DEPLOYCHECK_GRAFANA_AUTH`); none: anonymous.
    pub grafana_auth: Option<String>,
}

impl Settings {
    /// For the profile's scrape interval, with Grafana's credentials from the environment.
    pub fn new(monitoring: &Monitoring) -> Self {
        Self {
            poll: (monitoring.scrape_interval / 5)
                .clamp(Duration::from_millis(200), Duration::from_secs(2)),
            margin: DISCOVERY_BATCH,
            idle: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            grafana_auth: std::env::var("DEPLOYCHECK_GRAFANA_AUTH")
                .ok()
                .filter(|v| !v.is_empty()),
        }
    }

    /// How long Prometheus has for anything it must have scraped.
    fn scrapes(&self, monitoring: &Monitoring) -> Duration {
        monitoring.scrape_interval * 2 + self.margin
    }
}

/// Runs the scenario with `requests` sent through the Service.
pub async fn proven<C: Cluster + Send + 'static>(
    target: &Target<C>,
    requests: u32,
) -> ScenarioOutcome {
    let settings = Settings::new(&target.profile.monitoring);
    proven_with(target, requests, &settings).await
}

/// What was found: what held (for the verdict's detail), what did not, what is advised.
#[derive(Default)]
struct Findings {
    held: Vec<String>,
    mismatches: Vec<String>,
    advice: Vec<String>,
    /// What the profile does not name, said whatever the verdict.
    not_checked: Vec<String>,
}

/// [`proven`] with its timing and Grafana's credentials given.
pub async fn proven_with<C: Cluster + Send + 'static>(
    target: &Target<C>,
    requests: u32,
    settings: &Settings,
) -> ScenarioOutcome {
    let monitoring = &target.profile.monitoring;
    if monitoring.metrics_path.is_empty() {
        return ScenarioOutcome::skip(
            ID,
            "the profile names no metrics route ([monitoring] metrics_path)",
        );
    }
    let pods = match ready_app_pods(target).await {
        Ok(pods) => pods,
        Err(problem) => return ScenarioOutcome::fail(ID, problem),
    };
    let mut found = Findings::default();
    let app = app_metrics(target, &pods, requests, settings, &mut found).await;
    if monitoring.prometheus_service.is_empty() {
        found.not_checked.push(
            "Prometheus not checked: the profile names none ([monitoring] prometheus_service)"
                .into(),
        );
    }
    if monitoring.grafana_service.is_empty() {
        found.not_checked.push(
            "Grafana not checked: the profile names none ([monitoring] grafana_service)".into(),
        );
    } else {
        grafana::grafana(target, settings, &app.names, &mut found).await;
    }
    let Findings {
        mut held,
        mismatches,
        advice,
        not_checked,
    } = found;
    let failed = !mismatches.is_empty();
    if !failed {
        held.extend(not_checked.iter().cloned());
    }
    let mut outcome = ScenarioOutcome::from_findings(ID, held.join("; "), mismatches, advice);
    if failed && !not_checked.is_empty() {
        outcome.detail = format!("{}; {}", outcome.detail, not_checked.join("; "));
    }
    outcome
}

/// The app's ready pods, or why there is nothing to scrape.
async fn ready_app_pods<C: Cluster>(target: &Target<C>) -> Result<Vec<PodState>, String> {
    let selector = target.app_selector();
    let pods = target
        .cluster
        .pods(&target.namespace, &selector)
        .await
        .map_err(|e| e.to_string())?;
    let ready: Vec<PodState> = pods
        .iter()
        .filter(|p| p.ready && !p.deleting)
        .cloned()
        .collect();
    if ready.is_empty() {
        return Err(format!(
            "no ready app pod ({selector}) to scrape: {}",
            crate::cluster::describe(&pods)
        ));
    }
    Ok(ready)
}

/// What the app part leaves for the others: every metric name the pods expose.
struct AppMetrics {
    names: BTreeSet<String>,
}

/// The pods' expositions and rules, the counters against the requests, and (between the
/// idle window and the requests, where it is named) Prometheus.
async fn app_metrics<C: Cluster + Send + 'static>(
    target: &Target<C>,
    pods: &[PodState],
    requests: u32,
    settings: &Settings,
    found: &mut Findings,
) -> AppMetrics {
    let monitoring = &target.profile.monitoring;
    let path = &monitoring.metrics_path;
    let counter = &monitoring.request_counter;
    let mut ports = BTreeMap::new();
    for pod in pods {
        let port = PodPort::open(
            target.cluster.clone(),
            &target.namespace,
            &pod.name,
            target.profile.app.port,
        )
        .await;
        match port {
            Ok(port) => {
                ports.insert(pod.name.clone(), port);
            }
            Err(error) => found.mismatches.push(format!("pod {}: {error}", pod.name)),
        }
    }
    let http = client(settings.timeout, false);
    let idle_started = Instant::now();
    let first = scrape_all(&http, &ports, path).await;
    let mut names = BTreeSet::new();
    for (_, exposition) in first.values().flatten() {
        names.extend(exposition.names());
    }
    check_expositions(&first, path, pods.len(), found);

    let prometheus = if monitoring.prometheus_service.is_empty() {
        None
    } else {
        prometheus::prometheus_before(target, pods, settings, found).await
    };
    if counter.is_empty() {
        found.held.push(
            "no request counter checked: the profile names none ([monitoring] request_counter)"
                .into(),
        );
        return AppMetrics { names };
    }

    // The window since the first scrape is idle (Prometheus's targets were read meanwhile);
    // it is the background's yardstick, so it is never shorter than `settings.idle`.
    if let Some(rest) = settings.idle.checked_sub(idle_started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let second = scrape_all(&http, &ports, path).await;
    let idle = idle_started.elapsed();
    let sent = send(target, requests, settings).await;
    let third = scrape_all(&http, &ports, path).await;
    for (_, exposition) in third.values().flatten() {
        names.extend(exposition.names());
    }
    match &sent.error {
        Some(error) => found.mismatches.push(error.clone()),
        None if sent.answered == 0 => found.mismatches.push(format!(
            "none of the {requests} requests to `{PATH}` through Service {} got an answer \
             (first failure: {}): nothing to count",
            target.profile.app.service,
            sent.failures.first().cloned().unwrap_or_default()
        )),
        None => {}
    }
    let changed = restarted(target, pods).await;
    let scrapes = [&first, &second, &third];
    let counted = judge_counters(target, &scrapes, idle, &sent, &changed, found);
    if let Some(prometheus) = prometheus {
        match expected_in_prometheus(&changed, &counted, &sent) {
            Ok((expected, what)) => {
                prometheus::prometheus_after(
                    target,
                    pods,
                    &prometheus,
                    expected,
                    &what,
                    &third,
                    settings,
                    found,
                )
                .await;
            }
            Err(why) => found.held.push(why),
        }
    }
    AppMetrics { names }
}

/// Each pod's exposition against promtool's rules: an error is a mismatch, a warning advice.
fn check_expositions(first: &Scrapes, path: &str, ready: usize, found: &mut Findings) {
    let mut parsed = 0;
    for (pod, answer) in first {
        let (text, _) = match answer {
            Ok(answer) => answer,
            Err(problem) => {
                found.mismatches.push(format!("pod {pod}: {problem}"));
                continue;
            }
        };
        parsed += 1;
        for finding in metrics::check(text, &format!("{pod}{path}")) {
            let said = format!(
                "pod {pod}'s {path}: {} line {}: {} ({})",
                finding.rule, finding.line, finding.message, finding.hint
            );
            if finding.severity == Severity::Error {
                found.mismatches.push(said);
            } else {
                found.advice.push(said);
            }
        }
    }
    if parsed > 0 {
        found.held.push(format!(
            "{parsed} of {ready} ready pods serve {path} that parses{}",
            if found.mismatches.is_empty() && found.advice.is_empty() {
                " and breaks none of promtool's rules"
            } else {
                ""
            }
        ));
    }
}

/// What the pods' own counters showed of the requests.
struct Counted {
    /// Every pod judged counted what it answered.
    all: bool,
    /// The rise the pods' counters showed, at most what each answered.
    rise: f64,
}

/// Each pod's counter against the requests it answered, beyond the background its idle window
/// shows (`scrapes`: before the idle window, before the requests, after them). A pod that
/// restarted or was replaced meanwhile is said and not judged: its counter started again.
fn judge_counters<C: Cluster>(
    target: &Target<C>,
    scrapes: &[&Scrapes; 3],
    idle: Duration,
    sent: &Sent,
    changed: &BTreeMap<String, String>,
    found: &mut Findings,
) -> Counted {
    let monitoring = &target.profile.monitoring;
    let service = &target.profile.app.service;
    let mut counted = Counted {
        all: sent.answered > 0,
        rise: 0.0,
    };
    let mut rises = Vec::new();
    for pod in scrapes[0].iter().filter(|(_, a)| a.is_ok()).map(|(p, _)| p) {
        if let Some(change) = changed.get(pod) {
            found.held.push(format!(
                "pod {pod} {change} between the scrapes: its counter started again, so it is \
                 not judged"
            ));
            counted.all = false;
            continue;
        }
        let read = scrapes.map(|s| s.get(pod));
        let [
            Some(Ok((_, idle_start))),
            Some(Ok((_, before))),
            Some(Ok((_, after))),
        ] = read
        else {
            if let Some(problem) = read.into_iter().flatten().find_map(|a| a.as_ref().err()) {
                found.mismatches.push(format!("pod {pod}: {problem}"));
            }
            counted.all = false;
            continue;
        };
        let answered = sent.by_pod.get(pod).copied().unwrap_or(0);
        let delta = metrics::delta(
            std::slice::from_ref(before),
            std::slice::from_ref(after),
            &monitoring.request_counter,
            PATH,
        );
        let window = Window {
            start: idle_start,
            end: before,
            took: idle,
        };
        let allowed = background(&delta, &window, &monitoring.metrics_path, sent);
        counted.rise += risen(&delta).min(answered as f64);
        match metrics::judge(answered, &delta, allowed) {
            Ok(_) => rises.push(format!("{pod} +{}", metrics::counter::count(risen(&delta)))),
            Err(problem) => {
                counted.all = false;
                found.mismatches.push(format!(
                    "pod {pod} answered {answered} of the {} requests sent through Service \
                     {service}, but {problem}",
                    sent.answered
                ));
            }
        }
    }
    if !rises.is_empty() {
        found.held.push(format!(
            "{} requests to `{PATH}` through Service {service}: `{}` rose by what each pod \
             answered ({})",
            sent.answered,
            monitoring.request_counter,
            rises.join(", ")
        ));
    }
    counted
}

/// What Prometheus's counter must rise by, and how to say it; or why it is not judged.
/// Prometheus can show only what the pods counted: the requests sent when every pod counted
/// its own, else what the pods' counters showed (their failure is the cause, already said);
/// nothing certain when a counter started again.
fn expected_in_prometheus(
    changed: &BTreeMap<String, String>,
    counted: &Counted,
    sent: &Sent,
) -> Result<(f64, String), String> {
    if !changed.is_empty() {
        let list: Vec<String> = changed.iter().map(|(p, c)| format!("{p} {c}")).collect();
        Err(format!(
            "Prometheus's counter not judged: {} between the scrapes, so its sum started again",
            list.join(", ")
        ))
    } else if counted.all {
        Ok((
            sent.answered as f64,
            format!("the {} requests sent", sent.answered),
        ))
    } else if counted.rise > 0.0 {
        Ok((
            counted.rise,
            format!(
                "the {} of them the pods counted",
                metrics::counter::count(counted.rise)
            ),
        ))
    } else {
        Err("Prometheus's counter not judged: the pods' own counters did not move".into())
    }
}

/// The rise that was judged: on the path's series when there are some, else in total.
fn risen(delta: &Delta) -> f64 {
    delta.on_path.as_ref().map_or(delta.all, |(_, rise)| *rise)
}

/// A pod's idle window: its scrapes at the start and the end, and how long it lasted.
struct Window<'a> {
    start: &'a Exposition,
    end: &'a Exposition,
    took: Duration,
}

/// Requests other than ours that the pod may have counted while ours were sent: the idle
/// window's rate on the same series (less our own scrape where it counts as one of them),
/// scaled to the sending time; the traffic too sparse for the window to see; and every
/// request of ours that failed in transit (the app may still have counted it).
fn background(delta: &Delta, idle: &Window<'_>, metrics_path: &str, sent: &Sent) -> f64 {
    let labels: Vec<(&str, &str)> = delta
        .on_path
        .iter()
        .map(|(label, _)| (label.as_str(), PATH))
        .collect();
    let own_scrape = if delta.on_path.is_some() && metrics_path != PATH {
        0.0
    } else {
        1.0
    };
    let idle_rise = metrics::increase(
        std::slice::from_ref(idle.start),
        std::slice::from_ref(idle.end),
        &delta.counter,
        &labels,
    );
    let per_second = (idle_rise - own_scrape).max(0.0) / idle.took.as_secs_f64().max(1e-3);
    own_scrape
        + (per_second * sent.took.as_secs_f64()).ceil()
        + UNSEEN_TRAFFIC
        + sent.failed() as f64
}

/// How each pod that was scraped changed since `pods` was read: `restarted (0 → 1)` or
/// `was replaced`.
async fn restarted<C: Cluster>(target: &Target<C>, pods: &[PodState]) -> BTreeMap<String, String> {
    let now = target
        .cluster
        .pods(&target.namespace, &target.app_selector())
        .await
        .unwrap_or_default();
    pods.iter()
        .filter_map(|before| {
            let change = match now.iter().find(|p| p.name == before.name) {
                None => "went away".to_string(),
                Some(after) if after.uid != before.uid => "was replaced".to_string(),
                Some(after) if after.restarts != before.restarts => format!(
                    "restarted ({} → {} restarts)",
                    before.restarts, after.restarts
                ),
                Some(_) => return None,
            };
            Some((before.name.clone(), change))
        })
        .collect()
}

fn client(timeout: Duration, fresh_connections: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder().timeout(timeout);
    let builder = if fresh_connections {
        // Every request on a new connection: the forwarder, like kube-proxy, picks a pod per
        // connection, so the requests spread over the pods.
        builder.pool_max_idle_per_host(0)
    } else {
        builder
    };
    builder.build().expect("a reqwest client builds")
}

/// A local port whose every connection is a new tunnel to one pod's port.
struct PodPort {
    base: String,
    /// Why the last tunnel could not be opened.
    failure: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PodPort {
    async fn open<C: Cluster + Send + 'static>(
        cluster: Arc<C>,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot bind a local port to forward to it: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("cannot bind a local port to forward to it: {e}"))?;
        let failure = Arc::new(Mutex::new(None));
        let (namespace, pod, seen) = (namespace.to_string(), pod.to_string(), failure.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut local, _)) = listener.accept().await {
                let (cluster, namespace, pod, seen) = (
                    cluster.clone(),
                    namespace.clone(),
                    pod.clone(),
                    seen.clone(),
                );
                tokio::spawn(async move {
                    match cluster.tunnel(&namespace, &pod, port).await {
                        Ok(mut remote) => {
                            let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
                        }
                        Err(error) => *seen.lock().unwrap() = Some(error.to_string()),
                    }
                });
            }
        });
        Ok(Self {
            base: format!("http://{address}"),
            failure,
            task,
        })
    }

    /// The metrics text at `path` and its parse, or what went wrong, in a sentence.
    async fn scrape(
        &self,
        http: &reqwest::Client,
        path: &str,
    ) -> Result<(String, Exposition), String> {
        let answer = http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT, ACCEPT)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) => {
                let cause = self.failure.lock().unwrap().clone().unwrap_or_else(|| {
                    crate::http::describe_transport(&error, Duration::from_secs(10))
                });
                return Err(format!("GET {path} failed: {cause}"));
            }
        };
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(format!(
                "GET {path} answered {status}: the app serves no metrics there (a metrics \
                 route elsewhere goes in [monitoring] metrics_path)"
            ));
        }
        match exposition::parse(&text) {
            Ok(exposition) => Ok((text, exposition)),
            Err(error) => Err(format!(
                "{path} is not a metrics exposition Prometheus can read: line {}: {} ({})",
                error.line,
                error.message,
                metrics::rules::PARSE.hint
            )),
        }
    }
}

impl Drop for PodPort {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Scrapes = BTreeMap<String, Result<(String, Exposition), String>>;

/// One scrape of every pod, at the same moment as far as possible.
async fn scrape_all(
    http: &reqwest::Client,
    ports: &BTreeMap<String, PodPort>,
    path: &str,
) -> Scrapes {
    let scrapes = ports
        .iter()
        .map(|(pod, port)| async move { (pod.clone(), port.scrape(http, path).await) });
    futures::future::join_all(scrapes)
        .await
        .into_iter()
        .collect()
}

/// The requests sent through the Service.
struct Sent {
    answered: u64,
    /// Requests that got an answer, by the pod the forwarder sent them to.
    by_pod: BTreeMap<String, u64>,
    failures: Vec<String>,
    requests: u64,
    took: Duration,
    /// The Service could not be forwarded to at all.
    error: Option<String>,
}

impl Sent {
    fn failed(&self) -> u64 {
        self.requests - self.answered
    }
}

/// `requests` GETs of [`PATH`] through the app's Service, one connection each, in order.
async fn send<C: Cluster + Send + 'static>(
    target: &Target<C>,
    requests: u32,
    settings: &Settings,
) -> Sent {
    let service = &target.profile.app.service;
    let started = Instant::now();
    let mut sent = Sent {
        answered: 0,
        by_pod: BTreeMap::new(),
        failures: Vec::new(),
        requests: u64::from(requests),
        took: Duration::ZERO,
        error: None,
    };
    let forwarder = match forward_to(
        target,
        service,
        "the app's, per the profile",
        target.profile.app.port,
    )
    .await
    {
        Ok(forwarder) => forwarder,
        Err(problem) => {
            sent.error = Some(problem);
            return sent;
        }
    };
    let http = client(settings.timeout, true);
    let url = format!("{}{PATH}", forwarder.base_url());
    for _ in 0..requests {
        match http.get(&url).send().await {
            // Read to the end, so the app has finished (and counted) the request.
            Ok(answer) => {
                let _ = answer.bytes().await;
                sent.answered += 1;
            }
            Err(error) => sent
                .failures
                .push(crate::http::describe_transport(&error, settings.timeout)),
        }
    }
    sent.took = started.elapsed();
    // Connections per pod: with one request per connection, requests per pod. A failed
    // request may have opened a connection too; failures are allowed for as background.
    sent.by_pod = forwarder.connections();
    sent
}

/// A Service forwarded to (`whose` says where the profile names it), or why not. `deploy`
/// waits for the app and its database only: a Prometheus or Grafana beside them may still be
/// pulling its image, so its endpoints are awaited as long as a rollout may take.
async fn forward_to<C: Cluster + Send + 'static>(
    target: &Target<C>,
    service: &str,
    whose: &str,
    port: u16,
) -> Result<Forwarder, String> {
    let cluster = &target.cluster;
    let namespace = &target.namespace;
    let info = match cluster.service(namespace, service).await {
        Ok(Some(info)) => info,
        Ok(None) => {
            return Err(format!(
                "Service {service} ({whose}) does not exist in namespace `{namespace}`"
            ));
        }
        Err(error) => return Err(error.to_string()),
    };
    let port = pod_port(&info, port)
        .map_err(|problem| format!("Service {service} ({whose}) {problem}"))?;
    let ready = |endpoints: &[String]| !endpoints.is_empty();
    let deadline = target.profile.cluster.rollout;
    match cluster
        .wait_endpoints(namespace, service, &ready, deadline)
        .await
    {
        Ok(_) => {}
        Err(WaitError::Timeout { waited, .. }) => {
            let pods = if info.selector.is_empty() {
                Vec::new()
            } else {
                let selector = super::selector(&info.selector);
                cluster.pods(namespace, &selector).await.unwrap_or_default()
            };
            return Err(format!(
                "Service {service} ({whose}) has no ready endpoints after {} s: its pods are \
                 not running or not Ready ({})",
                waited.as_secs(),
                crate::cluster::describe(&pods)
            ));
        }
        Err(WaitError::Cluster(error)) => return Err(error.to_string()),
    }
    Forwarder::start(cluster.clone(), namespace, service, port)
        .await
        .map_err(|e| e.to_string())
}

/// The pod port behind the Service's `port`, which is what a port-forward reaches: its numeric
/// `targetPort` (the Grafana chart's Service maps 80 to 3000), else the port itself (a named
/// `targetPort`, or none).
fn pod_port(info: &crate::cluster::ServiceInfo, port: u16) -> Result<u16, String> {
    if info.ports.is_empty() {
        return Ok(port);
    }
    let Some(at) = info.ports.iter().position(|p| *p == i32::from(port)) else {
        let ports: Vec<String> = info.ports.iter().map(i32::to_string).collect();
        return Err(format!(
            "has no port {port} (its ports: {}): set the profile's port to one of them",
            ports.join(", ")
        ));
    };
    Ok(info
        .target_ports
        .get(at)
        .and_then(|t| t.parse().ok())
        .unwrap_or(port))
}

/// GET `url` (with basic auth when given) as JSON, or what went wrong with the status.
async fn get_json(http: &reqwest::Client, url: &str, auth: Option<&str>) -> Result<Value, String> {
    let mut request = http.get(url);
    if let Some(login) = auth {
        let (user, password) = login.split_once(':').unwrap_or((login, ""));
        request = request.basic_auth(user, Some(password));
    }
    let answer = request
        .send()
        .await
        .map_err(|e| crate::http::describe_transport(&e, Duration::from_secs(10)))?;
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    let json: Result<Value, _> = serde_json::from_str(&text);
    match (status.is_success(), json) {
        (true, Ok(json)) => Ok(json),
        (true, Err(_)) => Err(format!(
            "answered {status} with no JSON: {}",
            shorten(&text)
        )),
        (false, Ok(json)) => Err(format!(
            "answered {status}: {}",
            json["error"]
                .as_str()
                .or(json["message"].as_str())
                .map_or_else(|| shorten(&text), str::to_string)
        )),
        (false, Err(_)) => Err(format!("answered {status}: {}", shorten(&text))),
    }
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::Verdict;
    use crate::cluster::fake::ScriptedCluster;
    use crate::cluster::fake::monitoring::{
        Counting, Grafana, Monitoring, Prometheus, Scrape, Serve, monitored, recorded,
    };
    use crate::scenario::tests::target;
    use crate::testing::{assert_begins, assert_not_said, assert_said};

    const POD_0: &str = "deploycheck-app-0";
    const POD_1: &str = "deploycheck-app-1";

    /// Loopback answers in milliseconds: a wait that can only time out should not cost the
    /// real default's seconds. Prometheus's waits last two scrape intervals of 250 ms.
    fn quick() -> Settings {
        Settings {
            poll: Duration::from_millis(20),
            margin: Duration::ZERO,
            idle: Duration::ZERO,
            timeout: Duration::from_secs(5),
            grafana_auth: None,
        }
    }

    /// The reference profile naming the stack's Prometheus, Grafana and dashboard.
    fn monitored_target(state: crate::cluster::fake::State) -> Target<ScriptedCluster> {
        let mut target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        let m = &mut target.profile.monitoring;
        m.prometheus_service = "prometheus".into();
        m.grafana_service = "grafana".into();
        m.dashboard = "deploycheck-app".into();
        m.scrape_interval = Duration::from_millis(250);
        target
    }

    async fn run(monitoring: &Monitoring) -> ScenarioOutcome {
        let target = monitored_target(monitored(monitoring).await);
        proven_with(&target, REQUESTS, &quick()).await
    }

    /// The dashboard recorded for the stack, with `from` replaced by `to` in its queries.
    fn dashboard_with(from: &str, to: &str) -> Value {
        recorded::json(&recorded::DASHBOARD.replace(from, to))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_monitored_stack_passes_every_check() {
        let outcome = run(&Monitoring::default()).await;
        assert_begins(
            &outcome,
            Verdict::Pass,
            "2 of 2 ready pods serve /metrics that parses and breaks none of promtool's rules; \
             Prometheus: every app pod is a target `up` after ",
        );
        assert_said(
            &outcome,
            "20 requests to `/` through Service deploycheck-app: `http_requests_total` rose by \
             what each pod answered (deploycheck-app-0 +10, deploycheck-app-1 +10)",
        );
        assert_said(
            &outcome,
            "Prometheus's sum of `http_requests_total{route=\"/\"}` rose by 20 within ",
        );
        assert_said(
            &outcome,
            "Grafana: dashboard `deploycheck app`: 4 panel(s) return data through the data \
             source proxy",
        );
        assert!(outcome.mismatches.is_empty() && outcome.advice.is_empty());
    }

    /// Without a relabelling to `pod`, a target is still the pod's by its discovered labels.
    /// `k8s/overlays/monitoring` as written: its profile, and its dashboard's panels over the
    /// app's metrics, pass against the fake's pods, Prometheus and Grafana.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_monitoring_overlays_profile_and_dashboard_pass() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/overlays/monitoring");
        let state = monitored(&Monitoring {
            grafana: Some(Grafana::of_the_monitoring_overlay()),
            ..Monitoring::default()
        })
        .await;
        let mut target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        target.profile = crate::profile::Profile::resolve(None, &dir).unwrap();
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{}", outcome.detail);
        assert_said(
            &outcome,
            "Grafana: dashboard `deploycheck app`: 4 panel(s) return data",
        );
    }

    #[test]
    fn a_service_port_is_forwarded_to_the_pod_port_behind_it() {
        let service = |ports: Vec<i32>, target_ports: Vec<&str>| crate::cluster::ServiceInfo {
            name: "grafana".into(),
            kind: "ClusterIP".into(),
            ports,
            headless: false,
            selector: BTreeMap::new(),
            target_ports: target_ports.into_iter().map(String::from).collect(),
        };
        // The Grafana chart: Service port 80, container port 3000.
        assert_eq!(pod_port(&service(vec![80], vec!["3000"]), 80), Ok(3000));
        assert_eq!(
            pod_port(&service(vec![9090], vec!["http-web"]), 9090),
            Ok(9090)
        );
        assert_eq!(
            pod_port(&service(vec![80], vec!["3000"]), 3000),
            Err("has no port 3000 (its ports: 80): set the profile's port to one of them".into())
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn targets_without_a_pod_label_are_matched_by_their_discovered_pod_name() {
        let outcome = run(&Monitoring {
            prometheus: Some(Prometheus {
                pod_label: false,
                ..Prometheus::default()
            }),
            ..Monitoring::default()
        })
        .await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{}", outcome.detail);
        assert_said(&outcome, "Prometheus: every app pod is a target `up`");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_counter_that_never_moves_fails_naming_the_pod() {
        let mut monitoring = Monitoring::default();
        monitoring.pods[1].1 = Serve::Fake(Counting::Frozen);
        let outcome = run(&monitoring).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): pod deploycheck-app-1 answered 10 of the 20 requests sent through \
             Service deploycheck-app, but the counter `http_requests_total` did not move after \
             10 requests to `/` (series with route=\"/\"): count every request",
        );
        // Prometheus saw what the pods counted, and is judged against that: the pod's
        // counter is the one cause, not repeated as Prometheus's.
        assert_eq!(outcome.mismatches.len(), 1, "{:?}", outcome.mismatches);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_target_down_fails_with_its_last_error() {
        let error = "Get \"http://10.244.0.18:5000/metrics\": context deadline exceeded";
        let outcome = run(&Monitoring {
            prometheus: Some(Prometheus {
                scrapes: [(POD_1.to_string(), Scrape::Down(error.into()))].into(),
                ..Prometheus::default()
            }),
            ..Monitoring::default()
        })
        .await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            &format!(
                "1 problem(s): Prometheus: pod deploycheck-app-1's target \
                 http://10.244.0.18:5000/metrics is down: lastError: {error} (within 0.5 s)"
            ),
        );
        // The query would only repeat it.
        assert_not_said(&outcome, "Prometheus's sum");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pod_prometheus_does_not_discover_fails_saying_what_it_did_discover() {
        let outcome = run(&Monitoring {
            prometheus: Some(Prometheus {
                scrapes: [(POD_0.to_string(), Scrape::Missing)].into(),
                ..Prometheus::default()
            }),
            ..Monitoring::default()
        })
        .await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): Prometheus: no target for pod deploycheck-app-0: Prometheus \
             discovered 1 target(s) (jobs: deploycheck-app); check its kubernetes_sd_configs",
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panel_querying_a_metric_the_app_lacks_fails_naming_the_closest() {
        let outcome = run(&Monitoring {
            grafana: Some(Grafana {
                dashboards: vec![dashboard_with(
                    "\"expr\": \"sum(rate(http_requests_total[$__rate_interval]))\"",
                    "\"expr\": \"sum(rate(http_request_total[$__rate_interval]))\"",
                )],
                ..Grafana::default()
            }),
            ..Monitoring::default()
        })
        .await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): Grafana: panel `Request rate` of `deploycheck app` returned no data \
             for `sum(rate(http_request_total[$__rate_interval]))` (sent as \
             `sum(rate(http_request_total[4s]))`): it names `http_request_total` (closest the \
             app has: `http_requests_total`), which the app does not expose",
        );
        // The other three panels return data.
        assert_eq!(outcome.mismatches.len(), 1, "{:?}", outcome.mismatches);
    }

    /// A query over metrics the app has that still returns nothing: the filter is the cause.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panel_whose_filter_matches_nothing_fails_saying_so() {
        let outcome = run(&Monitoring {
            grafana: Some(Grafana {
                dashboards: vec![dashboard_with(" or vector(0)", "")],
                ..Grafana::default()
            }),
            ..Monitoring::default()
        })
        .await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): Grafana: panel `Error ratio` of `deploycheck app` returned no data",
        );
        assert_said(
            &outcome,
            "write `... or vector(0)` where no series means zero",
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dashboard_that_is_not_there_fails_listing_those_that_are() {
        let mut target = monitored_target(monitored(&Monitoring::default()).await);
        target.profile.monitoring.dashboard = "shop".into();
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): Grafana: no dashboard with uid or title `shop` ([monitoring] \
             dashboard) in its search (dashboards: `deploycheck app` (uid deploycheck-app)): \
             provision it",
        );
    }

    /// With no dashboard named, those whose queries name the request counter are checked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_dashboard_named_those_over_the_counter_are_checked() {
        let mut target = monitored_target(monitored(&Monitoring::default()).await);
        target.profile.monitoring.dashboard = String::new();
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{}", outcome.detail);
        assert_said(&outcome, "Grafana: dashboard `deploycheck app`: 4 panel(s)");
        let mut other = monitored_target(
            monitored(&Monitoring {
                grafana: Some(Grafana {
                    dashboards: vec![dashboard_with("http_requests_total", "nginx_requests")],
                    ..Grafana::default()
                }),
                ..Monitoring::default()
            })
            .await,
        );
        other.profile.monitoring.dashboard = String::new();
        let outcome = proven_with(&other, REQUESTS, &quick()).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): Grafana: no dashboard queries `http_requests_total` (dashboards: \
             `deploycheck app` (uid deploycheck-app))",
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grafana_without_anonymous_access_fails_with_how_to_log_in() {
        let monitoring = Monitoring {
            grafana: Some(Grafana {
                login: Some("viewer:s3cret".into()),
                ..Grafana::default()
            }),
            ..Monitoring::default()
        };
        let target = monitored_target(monitored(&monitoring).await);
        let anonymous = proven_with(&target, REQUESTS, &quick()).await;
        assert_begins(
            &anonymous,
            Verdict::Fail,
            "1 problem(s): Grafana: /api/search answered 401 Unauthorized: Unauthorized: it does \
             not let anonymous users view dashboards: set DEPLOYCHECK_GRAFANA_AUTH=user:password",
        );
        let wrong = Settings {
            grafana_auth: Some("viewer:guess".into()),
            ..quick()
        };
        let refused = proven_with(&target, REQUESTS, &wrong).await;
        assert_said(&refused, "it refused the login in DEPLOYCHECK_GRAFANA_AUTH");
        let right = Settings {
            grafana_auth: Some("viewer:s3cret".into()),
            ..quick()
        };
        let logged_in = proven_with(&target, REQUESTS, &right).await;
        assert_eq!(logged_in.verdict, Verdict::Pass, "{}", logged_in.detail);
    }

    /// A Viewer may not list data sources: the default one is read from the frontend settings.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_default_data_source_is_found_where_data_sources_cannot_be_listed() {
        let outcome = run(&Monitoring {
            grafana: Some(Grafana {
                datasources_forbidden: true,
                ..Grafana::default()
            }),
            ..Monitoring::default()
        })
        .await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{}", outcome.detail);
        assert_said(&outcome, "4 panel(s) return data");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grafana_whose_database_fails_fails() {
        let outcome = run(&Monitoring {
            grafana: Some(Grafana {
                database: "failing".into(),
                ..Grafana::default()
            }),
            ..Monitoring::default()
        })
        .await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): Grafana: /api/health answered 503 Service Unavailable: its database \
             is `failing`, so it cannot read its dashboards or users",
        );
    }

    #[tokio::test]
    async fn no_metrics_route_is_a_skip_that_says_what_was_looked_for() {
        let mut target = target(ScriptedCluster::new("kind-kind"));
        target.profile.monitoring.metrics_path = String::new();
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_begins(
            &outcome,
            Verdict::Skip,
            "the profile names no metrics route ([monitoring] metrics_path)",
        );
    }

    /// The reference profile names neither: the app's metrics are proven, the rest is said.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_the_profile_does_not_name_is_said_as_not_checked() {
        let state = monitored(&Monitoring {
            prometheus: None,
            grafana: None,
            ..Monitoring::default()
        })
        .await;
        let target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{}", outcome.detail);
        assert_said(
            &outcome,
            "Prometheus not checked: the profile names none ([monitoring] prometheus_service); \
             Grafana not checked: the profile names none ([monitoring] grafana_service)",
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prometheus_service_that_does_not_exist_fails_saying_so() {
        let state = monitored(&Monitoring {
            prometheus: None,
            grafana: None,
            ..Monitoring::default()
        })
        .await;
        let mut target = monitored_target(state);
        target.profile.monitoring.grafana_service = String::new();
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): Prometheus: Service prometheus ([monitoring] prometheus_service) does \
             not exist in namespace `ns`",
        );
    }

    /// `deploy` does not wait for Prometheus: its endpoints are awaited as long as a rollout
    /// may take (the fake's clock, nothing sleeps), and a Prometheus never Ready is said so.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prometheus_never_ready_fails_after_the_rollout_deadline() {
        let mut state = monitored(&Monitoring {
            grafana: None,
            ..Monitoring::default()
        })
        .await;
        state
            .endpoints
            .insert("prometheus".into(), [Vec::new()].into());
        let selector = "app.kubernetes.io/name=prometheus".to_string();
        state.pods.get_mut(&selector).unwrap()[0].ready = false;
        let mut target = monitored_target(state);
        target.profile.monitoring.grafana_service = String::new();
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        let rollout = target.profile.cluster.rollout;
        assert_begins(
            &outcome,
            Verdict::Fail,
            &format!(
                "1 problem(s): Prometheus: Service prometheus ([monitoring] prometheus_service) \
                 has no ready endpoints after {} s: its pods are not running or not Ready \
                 (prometheus-0 (Running, not ready, 0 restarts))",
                rollout.as_secs()
            ),
        );
        assert!(target.cluster.elapsed() >= rollout);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_app_service_that_does_not_exist_fails_saying_so() {
        let mut state = monitored(&Monitoring {
            prometheus: None,
            grafana: None,
            ..Monitoring::default()
        })
        .await;
        state.services.remove("deploycheck-app");
        let target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): Service deploycheck-app (the app's, per the profile) does not exist \
             in namespace `ns`",
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metrics_that_break_promtools_rules_fail_with_the_rule_and_line() {
        let broken = "# TYPE http_requests_total counter\n\
                      http_requests_total{route=\"/\"} 1\n\
                      http_requests_total{route=\"/\"} 2\n";
        let mut monitoring = Monitoring {
            prometheus: None,
            grafana: None,
            ..Monitoring::default()
        };
        monitoring.pods[0].1 = Serve::Fake(Counting::Serves(broken.into()));
        let state = monitored(&monitoring).await;
        let target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "2 problem(s): pod deploycheck-app-0's /metrics: DM012 line 3: ",
        );
        // Its counter is then judged as it is: it never moves.
        assert_said(
            &outcome,
            "pod deploycheck-app-0 answered 10 of the 20 requests",
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_metrics_route_that_is_not_an_exposition_fails_with_its_line() {
        let mut monitoring = Monitoring {
            prometheus: None,
            grafana: None,
            ..Monitoring::default()
        };
        monitoring.pods[1].1 = Serve::Fake(Counting::Serves("<html>metrics</html>\n".into()));
        let state = monitored(&monitoring).await;
        let target = target(ScriptedCluster::new("kind-kind").with(|s| *s = state));
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_begins(
            &outcome,
            Verdict::Fail,
            "1 problem(s): pod deploycheck-app-1: /metrics is not a metrics exposition \
             Prometheus can read: line 1: ",
        );
        // What was not checked is said whatever the verdict.
        assert_said(
            &outcome,
            "Prometheus not checked: the profile names none ([monitoring] prometheus_service)",
        );
    }

    /// A pod that restarts between the scrapes is said, not misjudged.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pod_that_restarts_between_the_scrapes_is_not_judged() {
        let mut state = monitored(&Monitoring::default()).await;
        let selector = "app.kubernetes.io/name=deploycheck-app".to_string();
        let before = state.pods[&selector].clone();
        let mut after = before.clone();
        after[1].restarts = 1;
        state.pod_reads.insert(selector, [before, after].into());
        let target = monitored_target(state);
        let outcome = proven_with(&target, REQUESTS, &quick()).await;
        assert_eq!(outcome.verdict, Verdict::Pass, "{}", outcome.detail);
        assert_said(
            &outcome,
            "pod deploycheck-app-1 restarted (0 → 1 restarts) between the scrapes: its counter \
             started again, so it is not judged",
        );
        assert_said(&outcome, "(deploycheck-app-0 +10)");
        assert_said(&outcome, "Prometheus's counter not judged");
    }

    /// The reference service itself, on a real database, behind a pod of the fake: its own
    /// `/metrics` parses, breaks no rule, counts the requests, and Prometheus and Grafana
    /// read it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reference_service_passes() {
        let stack = crate::demo::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let address = stack.url.trim_start_matches("http://").parse().unwrap();
        let outcome = run(&Monitoring {
            pods: vec![(POD_0.into(), Serve::At(address))],
            ..Monitoring::default()
        })
        .await;
        assert_begins(
            &outcome,
            Verdict::Pass,
            "1 of 1 ready pods serve /metrics that parses and breaks none of promtool's rules",
        );
        assert_said(&outcome, "(deploycheck-app-0 +20)");
        assert_said(&outcome, "4 panel(s) return data");
    }
}
