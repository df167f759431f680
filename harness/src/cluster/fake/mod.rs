//! A scripted [`Cluster`] for testing scenario logic without a cluster (test builds only, so it
//! can never stand in for the real one). Reads answer from [`State`]; each wait walks that
//! selector's or workload's scripted snapshots in order, as a watch would deliver them, and
//! running out of script is the deadline passing. Every change is recorded in `calls`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::PodTemplateSpec;

mod fixtures;
pub mod monitoring;
mod promql;
mod reactions;

pub use fixtures::{pod, reference_rolled_out, workload};
pub use reactions::LivenessOnDatabase;

use super::{
    Cluster, ClusterError, ConfigKind, EndpointCondition, Ephemeral, EventCondition, EventInfo,
    HelperRun, HpaState, Labels, NamespaceGone, NodeInfo, NodePortUse, PodCondition, PodMetrics,
    PodState, PvcState, ServiceInfo, StorageClassInfo, Tunnel, WaitError, WorkloadCondition,
    WorkloadKind, WorkloadState, describe,
};

#[derive(Default)]
pub struct State {
    pub namespaces: BTreeSet<String>,
    /// What `pods` answers, by selector.
    pub pods: BTreeMap<String, Vec<PodState>>,
    /// Successive answers of `pods` for a selector, before `pods` (the last one repeats): a
    /// pod that restarts while a scenario reads.
    pub pod_reads: BTreeMap<String, VecDeque<Vec<PodState>>>,
    /// What a pod watch sees after a change, by selector.
    pub pod_script: BTreeMap<String, VecDeque<Vec<PodState>>>,
    pub workloads: BTreeMap<(WorkloadKind, String), WorkloadState>,
    pub workload_script: BTreeMap<(WorkloadKind, String), VecDeque<WorkloadState>>,
    pub templates: BTreeMap<(WorkloadKind, String), PodTemplateSpec>,
    pub pvcs: Vec<PvcState>,
    /// Successive answers of `hpa`; the last one repeats.
    pub hpa: VecDeque<HpaState>,
    pub services: BTreeMap<String, ServiceInfo>,
    /// The ready endpoints of each Service, as the EndpointSlice controller publishes them:
    /// `ready_endpoints` answers the front (one read, then the next), `wait_endpoints` walks
    /// the queue as a watch would; the last one stays. A queue that starts with pods already
    /// unready in `pods` is an EndpointSlice lagging behind the pod conditions, as on a real
    /// cluster.
    pub endpoints: BTreeMap<String, VecDeque<Vec<String>>>,
    pub events: Vec<EventInfo>,
    /// Successive answers of `events` (the last repeats); `events` when empty.
    pub event_script: VecDeque<Vec<EventInfo>>,
    /// What the metrics API answers, by selector; unset selectors answer no samples.
    pub metrics: BTreeMap<String, PodMetrics>,
    /// By `pod/container`, and `pod/container/previous`.
    pub logs: BTreeMap<String, String>,
    /// Results of `run_helper` and `run_ephemeral`, in order.
    pub helper_runs: VecDeque<HelperRun>,
    /// Where a tunnel to a pod leads (a server on loopback).
    pub tunnels: BTreeMap<String, SocketAddr>,
    /// Finalizers that keep a namespace from going away.
    pub stuck_finalizers: Vec<String>,
    /// Pod watches never see their condition (a wait in progress when the run is interrupted).
    pub pods_never_settle: bool,
    /// Method names that answer 403.
    pub forbidden: BTreeSet<&'static str>,
    /// Method names that answer 403 once this many calls of them have succeeded (RBAC changed
    /// in the middle of a run).
    pub forbidden_after: BTreeMap<&'static str, usize>,
    pub unreachable: bool,
    pub storage_classes: Vec<StorageClassInfo>,
    pub nodes: Vec<NodeInfo>,
    /// Keys of Secrets and ConfigMaps that exist.
    pub config: BTreeMap<(ConfigKind, String), Vec<String>>,
    /// nodePorts held by Services anywhere in the cluster.
    pub node_ports: Vec<NodePortUse>,
    /// How long the cluster takes to deliver one scripted snapshot to a wait (virtual time:
    /// see [`ScriptedCluster::elapsed`]).
    pub tick: Duration,
    /// Pods whose liveness probe reads the database: the kubelet restarts them when the
    /// database goes away.
    pub liveness_on_database: Option<LivenessOnDatabase>,
    /// Deployments whose pods stop at once when scaled down (no preStop pause, no graceful
    /// shutdown): their connections go to this address (a server that drops them) while the
    /// Services' endpoints still list them for one more read.
    pub abrupt_shutdown: BTreeMap<String, SocketAddr>,
}

impl State {
    /// What one read of the events sees: the script's next answer (the last one repeats), or
    /// `events` when nothing is scripted.
    fn next_events(&mut self) -> Vec<EventInfo> {
        match pop_or_last(&mut self.event_script) {
            Some(events) => events,
            None => self.events.clone(),
        }
    }
}

pub struct ScriptedCluster {
    pub context: String,
    pub state: Mutex<State>,
    /// Virtual time: a wait that times out advances it by its deadline, every scripted
    /// snapshot a wait delivers by `State::tick`. Nothing sleeps.
    pub clock: Mutex<Duration>,
    /// Every changing call, e.g. `delete pod ns/app-a`, `scale StatefulSet/mongodb=0`.
    pub calls: Mutex<Vec<String>>,
    /// Scripts `run_helper` / `run_ephemeral` were given.
    pub scripts: Mutex<Vec<String>>,
}

impl ScriptedCluster {
    pub fn new(context: &str) -> Self {
        Self {
            context: context.into(),
            state: Mutex::new(State {
                tick: Duration::from_secs(1),
                ..State::default()
            }),
            clock: Mutex::default(),
            calls: Mutex::default(),
            scripts: Mutex::default(),
        }
    }

    /// Runs `f` on the state, for setting up a test.
    pub fn with(self, f: impl FnOnce(&mut State)) -> Self {
        f(&mut self.state.lock().unwrap());
        self
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// The changing calls of one kind: `calls_of("scale")`.
    pub fn calls_of(&self, kind: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with(kind))
            .collect()
    }

    fn advance(&self, by: Duration) {
        *self.clock.lock().unwrap() += by;
    }

    /// A wait's end on the virtual clock: `delivered` snapshots took a tick each; a timeout
    /// took the whole deadline.
    fn waited<T, E>(&self, delivered: usize, result: &Result<T, E>, deadline: Duration) {
        let tick = self.state.lock().unwrap().tick;
        let spent = match result {
            Ok(_) => tick * delivered as u32,
            Err(_) => deadline.max(tick * delivered as u32),
        };
        self.advance(spent);
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    /// What the scripted state holds, after the checks every call makes (reachable, allowed).
    fn read<T>(
        &self,
        method: &'static str,
        namespace: &str,
        pick: impl FnOnce(&State) -> T,
    ) -> Result<T, ClusterError> {
        self.check(method, namespace)?;
        Ok(pick(&self.state.lock().unwrap()))
    }

    fn check(&self, method: &'static str, namespace: &str) -> Result<(), ClusterError> {
        let mut state = self.state.lock().unwrap();
        if let Some(left) = state.forbidden_after.get_mut(method) {
            if *left == 0 {
                state.forbidden.insert(method);
            } else {
                *left -= 1;
            }
        }
        if state.unreachable {
            return Err(ClusterError::Unreachable {
                context: self.context.clone(),
                reason: "tcp connect error: Connection refused (os error 111)".into(),
            });
        }
        if state.forbidden.contains(method) {
            return Err(ClusterError::Forbidden {
                action: method.replace('_', " "),
                namespace: namespace.into(),
                reason: format!("User \"ci\" cannot {method} in the namespace"),
            });
        }
        Ok(())
    }
}

/// The `pods` key that answers for any Job's pods (Job names are random).
pub const ANY_JOB: &str = "batch.kubernetes.io/job-name=*";

/// The name of the one pod in a [`quiet`] snapshot.
const QUIET: &str = "<no change before the deadline>";

/// A pod-script entry meaning: the watch sees no change before its deadline (the wait in
/// progress times out, the next wait carries on with the rest of the script). For waits whose
/// timeout is the good outcome, such as watching a pod stay healthy for a while.
pub fn quiet() -> Vec<PodState> {
    vec![pod(QUIET, QUIET, false)]
}

fn is_quiet(snapshot: &[PodState]) -> bool {
    matches!(snapshot, [p] if p.name == QUIET)
}

/// What a watch delivers: the current value first, then the scripted snapshots in order (each
/// becoming the current value), until `done` holds. Running out of script, or reaching a
/// `pause` entry (consumed), is the deadline passing: `Err` carries the last value seen.
fn replay<K: Ord + Clone, T: Clone>(
    current: &mut BTreeMap<K, T>,
    script: &mut BTreeMap<K, VecDeque<T>>,
    key: &K,
    done: impl Fn(&T) -> bool,
    pause: impl Fn(&T) -> bool,
) -> (usize, Result<T, Option<T>>) {
    let mut last = current.get(key).cloned();
    if let Some(value) = &last
        && done(value)
    {
        return (0, Ok(value.clone()));
    }
    let mut delivered = 0;
    while let Some(snapshot) = script.get_mut(key).and_then(VecDeque::pop_front) {
        if pause(&snapshot) {
            return (delivered, Err(last));
        }
        delivered += 1;
        current.insert(key.clone(), snapshot.clone());
        if done(&snapshot) {
            return (delivered, Ok(snapshot));
        }
        last = Some(snapshot);
    }
    (delivered, Err(last))
}

fn pop_or_last<T: Clone>(queue: &mut VecDeque<T>) -> Option<T> {
    if queue.len() > 1 {
        queue.pop_front()
    } else {
        queue.front().cloned()
    }
}

impl Cluster for ScriptedCluster {
    fn context(&self) -> &str {
        &self.context
    }

    fn elapsed(&self) -> Duration {
        *self.clock.lock().unwrap()
    }

    async fn storage_classes(&self) -> Result<Vec<StorageClassInfo>, ClusterError> {
        self.read("storage_classes", "", |s| s.storage_classes.clone())
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        self.read("nodes", "", |s| s.nodes.clone())
    }

    async fn config_keys(
        &self,
        namespace: &str,
        kind: ConfigKind,
        name: &str,
    ) -> Result<Option<Vec<String>>, ClusterError> {
        self.read("config_keys", namespace, |s| {
            s.config.get(&(kind, name.to_string())).cloned()
        })
    }

    async fn node_ports_in_use(&self) -> Result<Vec<NodePortUse>, ClusterError> {
        self.read("node_ports_in_use", "", |s| s.node_ports.clone())
    }

    async fn version(&self) -> Result<String, ClusterError> {
        self.check("version", "")?;
        Ok("v1.33.1".into())
    }

    async fn namespace_exists(&self, name: &str) -> Result<bool, ClusterError> {
        self.read("namespace_exists", name, |s| s.namespaces.contains(name))
    }

    async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.check("create_namespace", name)?;
        self.record(format!("create namespace {name}"));
        self.state.lock().unwrap().namespaces.insert(name.into());
        Ok(())
    }

    async fn delete_namespace(
        &self,
        name: &str,
        _deadline: Duration,
    ) -> Result<NamespaceGone, ClusterError> {
        self.check("delete_namespace", name)?;
        self.record(format!("delete namespace {name}"));
        let mut state = self.state.lock().unwrap();
        if !state.stuck_finalizers.is_empty() {
            return Ok(NamespaceGone::Stuck {
                finalizers: state.stuck_finalizers.clone(),
                conditions: Vec::new(),
            });
        }
        state.namespaces.remove(name);
        Ok(NamespaceGone::Deleted)
    }

    async fn apply(
        &self,
        namespace: &str,
        objects: &[serde_json::Value],
        labels: Labels,
    ) -> Result<Vec<String>, ClusterError> {
        self.check("apply", namespace)?;
        let applied: Vec<String> = objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap_or_default(),
                    o["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect();
        let how = match labels {
            Labels::Ours => "",
            Labels::AsTheyWere => " (as it was)",
        };
        self.record(format!("apply {namespace}: {}{how}", applied.join(", ")));
        Ok(applied)
    }

    async fn manifest(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<serde_json::Value>, ClusterError> {
        self.check("manifest", namespace)?;
        let exists = self
            .state
            .lock()
            .unwrap()
            .workloads
            .contains_key(&(kind, name.into()));
        Ok(exists.then(|| {
            serde_json::json!({"apiVersion": "apps/v1", "kind": kind.to_string(), "metadata": {"name": name}})
        }))
    }

    async fn delete_workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        _deadline: Duration,
    ) -> Result<(), WaitError> {
        self.check("delete_workload", namespace)?;
        self.record(format!("delete {kind}/{name}"));
        Ok(())
    }

    async fn workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<WorkloadState>, ClusterError> {
        self.read("workload", namespace, |s| {
            s.workloads.get(&(kind, name.into())).cloned()
        })
    }

    async fn wait_workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        done: WorkloadCondition<'_>,
        deadline: Duration,
    ) -> Result<WorkloadState, WaitError> {
        self.check("wait_workload", namespace)?;
        let (delivered, result) = {
            let mut state = self.state.lock().unwrap();
            let State {
                workloads,
                workload_script,
                ..
            } = &mut *state;
            replay(
                workloads,
                workload_script,
                &(kind, name.to_string()),
                done,
                |_| false,
            )
        };
        self.waited(delivered, &result, deadline);
        // The fake always reads before it can time out, so "does not exist" is what it found.
        result.map_err(|last| WaitError::Timeout {
            waited: deadline,
            last_seen: last.map_or_else(|| format!("{name} does not exist"), |s| s.summary()),
        })
    }

    async fn pod_template(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<PodTemplateSpec>, ClusterError> {
        self.read("pod_template", namespace, |s| {
            s.templates.get(&(kind, name.into())).cloned()
        })
    }

    async fn scale(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        replicas: i32,
    ) -> Result<(), ClusterError> {
        self.check("scale", namespace)?;
        self.record(format!("scale {kind}/{name}={replicas}"));
        let mut state = self.state.lock().unwrap();
        match kind {
            WorkloadKind::StatefulSet if replicas == 0 => state.database_went_away(),
            WorkloadKind::Deployment => state.scale_deployment(name, replicas),
            _ => {}
        }
        Ok(())
    }

    async fn restart(&self, namespace: &str, deployment: &str) -> Result<(), ClusterError> {
        self.check("restart", namespace)?;
        self.record(format!("restart Deployment/{deployment}"));
        Ok(())
    }

    async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodState>, ClusterError> {
        let scripted = self
            .state
            .lock()
            .unwrap()
            .pod_reads
            .get_mut(selector)
            .and_then(pop_or_last);
        if let Some(next) = scripted {
            self.check("pods", namespace)?;
            return Ok(next);
        }
        self.read("pods", namespace, |state| {
            let pods = state.pods.get(selector).or_else(|| {
                selector
                    .starts_with("batch.kubernetes.io/job-name=")
                    .then(|| state.pods.get(ANY_JOB))
                    .flatten()
            });
            match pods {
                Some(pods) => pods.clone(),
                // An unscripted selector matches as the API server would: the pods of every
                // scripted selector whose labels it selects (pods without labels never match).
                None => {
                    let wanted: BTreeMap<String, String> = selector
                        .split(',')
                        .filter_map(|pair| pair.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    let mut found: Vec<PodState> = Vec::new();
                    for pod in state.pods.values().flatten() {
                        if crate::strategy::selects(&wanted, &pod.labels)
                            && !found.iter().any(|f| f.uid == pod.uid)
                        {
                            found.push(pod.clone());
                        }
                    }
                    found
                }
            }
        })
    }

    async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        self.check("delete_pod", namespace)?;
        self.record(format!("delete pod {namespace}/{name}"));
        let mut state = self.state.lock().unwrap();
        let of_database = state.liveness_on_database.as_ref().is_some_and(|d| {
            state
                .pods
                .get(&d.database)
                .is_some_and(|pods| pods.iter().any(|p| p.name == name))
        });
        if of_database {
            state.database_went_away();
        }
        Ok(())
    }

    async fn delete_job(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        self.check("delete_job", namespace)?;
        self.record(format!("delete job {namespace}/{name}"));
        Ok(())
    }

    async fn wait_pods(
        &self,
        namespace: &str,
        selector: &str,
        done: PodCondition<'_>,
        deadline: Duration,
    ) -> Result<Vec<PodState>, WaitError> {
        self.check("wait_pods", namespace)?;
        if self.state.lock().unwrap().pods_never_settle {
            std::future::pending::<()>().await;
        }
        let (delivered, result) = {
            let mut state = self.state.lock().unwrap();
            let State {
                pods, pod_script, ..
            } = &mut *state;
            // No pods yet is a state too (the watch sees an empty list); a Job's pods come from
            // the any-Job entry, as `pods` answers them.
            let any_job = selector
                .starts_with("batch.kubernetes.io/job-name=")
                .then(|| pods.get(ANY_JOB).cloned())
                .flatten();
            pods.entry(selector.into())
                .or_insert_with(|| any_job.unwrap_or_default());
            replay(
                pods,
                pod_script,
                &selector.to_string(),
                |p: &Vec<PodState>| done(p),
                |p: &Vec<PodState>| is_quiet(p),
            )
        };
        self.waited(delivered, &result, deadline);
        result.map_err(|last| WaitError::Timeout {
            waited: deadline,
            last_seen: describe(&last.unwrap_or_default()),
        })
    }

    async fn pvcs(&self, namespace: &str) -> Result<Vec<PvcState>, ClusterError> {
        self.read("pvcs", namespace, |s| s.pvcs.clone())
    }

    async fn hpa(&self, namespace: &str, _name: &str) -> Result<Option<HpaState>, ClusterError> {
        self.check("hpa", namespace)?;
        Ok(pop_or_last(&mut self.state.lock().unwrap().hpa))
    }

    async fn service(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ServiceInfo>, ClusterError> {
        self.read("service", namespace, |s| s.services.get(name).cloned())
    }

    async fn services(&self, namespace: &str) -> Result<Vec<ServiceInfo>, ClusterError> {
        self.read("services", namespace, |s| {
            s.services.values().cloned().collect()
        })
    }

    /// The EndpointSlice controller follows at once: the Service's ready endpoints become the
    /// ready pods (of every scripted selector) the new selector matches.
    async fn set_selector(
        &self,
        namespace: &str,
        service: &str,
        selector: &BTreeMap<String, String>,
    ) -> Result<(), ClusterError> {
        self.check("set_selector", namespace)?;
        let shown: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.record(format!("selector Service/{service}={}", shown.join(",")));
        let mut state = self.state.lock().unwrap();
        if let Some(info) = state.services.get_mut(service) {
            info.selector = selector.clone();
        }
        let ready = state.ready_endpoints_of(selector);
        state.endpoints.insert(service.into(), [ready].into());
        Ok(())
    }

    async fn deployments(
        &self,
        namespace: &str,
    ) -> Result<Vec<crate::strategy::Side>, ClusterError> {
        self.read("deployments", namespace, |s| {
            s.workloads
                .iter()
                .filter(|((kind, _), _)| *kind == WorkloadKind::Deployment)
                .map(|((kind, name), w)| crate::strategy::Side {
                    name: name.clone(),
                    labels: s
                        .templates
                        .get(&(*kind, name.clone()))
                        .and_then(|t| t.metadata.as_ref()?.labels.clone())
                        .unwrap_or_default(),
                    replicas: w.desired,
                })
                .collect()
        })
    }

    async fn ready_endpoints(
        &self,
        namespace: &str,
        service: &str,
    ) -> Result<Vec<String>, ClusterError> {
        self.check("ready_endpoints", namespace)?;
        Ok(self
            .state
            .lock()
            .unwrap()
            .endpoints
            .get_mut(service)
            .and_then(pop_or_last)
            .unwrap_or_default())
    }

    async fn wait_endpoints(
        &self,
        namespace: &str,
        service: &str,
        done: EndpointCondition<'_>,
        deadline: Duration,
    ) -> Result<Vec<String>, WaitError> {
        self.check("wait_endpoints", namespace)?;
        let mut state = self.state.lock().unwrap();
        let queue = state.endpoints.entry(service.into()).or_default();
        loop {
            let current = queue.front().cloned().unwrap_or_default();
            if done(&current) {
                return Ok(current);
            }
            if queue.len() > 1 {
                queue.pop_front();
            } else {
                self.advance(deadline);
                return Err(WaitError::Timeout {
                    waited: deadline,
                    last_seen: super::endpoints_seen(service, &current),
                });
            }
        }
    }

    async fn pod_metrics(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<PodMetrics, ClusterError> {
        self.read("pod_metrics", namespace, |s| {
            s.metrics
                .get(selector)
                .cloned()
                .unwrap_or(PodMetrics::Samples(Vec::new()))
        })
    }

    async fn events(&self, namespace: &str) -> Result<Vec<EventInfo>, ClusterError> {
        self.check("events", namespace)?;
        Ok(self.state.lock().unwrap().next_events())
    }

    async fn wait_events(
        &self,
        namespace: &str,
        done: EventCondition<'_>,
        deadline: Duration,
    ) -> Result<Vec<EventInfo>, WaitError> {
        self.check("wait_events", namespace)?;
        // Walks the event script as successive reads would see it; the last answer stays.
        loop {
            let (events, more) = {
                let mut state = self.state.lock().unwrap();
                let more = state.event_script.len() > 1;
                (state.next_events(), more)
            };
            if done(&events) {
                return Ok(events);
            }
            if !more {
                self.advance(deadline);
                return Err(WaitError::Timeout {
                    waited: deadline,
                    last_seen: format!("{} event(s), none of them the one awaited", events.len()),
                });
            }
        }
    }

    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        _tail: i64,
    ) -> Result<String, ClusterError> {
        self.check("logs", namespace)?;
        let key = if previous {
            format!("{pod}/{container}/previous")
        } else {
            format!("{pod}/{container}")
        };
        Ok(self
            .state
            .lock()
            .unwrap()
            .logs
            .get(&key)
            .cloned()
            .unwrap_or_default())
    }

    async fn run_helper(
        &self,
        namespace: &str,
        image: &str,
        script: &str,
        _deadline: Duration,
    ) -> Result<HelperRun, ClusterError> {
        self.check("run_helper", namespace)?;
        self.record(format!("helper {image}"));
        self.scripts.lock().unwrap().push(script.into());
        Ok(self
            .state
            .lock()
            .unwrap()
            .helper_runs
            .pop_front()
            .expect("the test scripted a helper run"))
    }

    async fn run_ephemeral(
        &self,
        namespace: &str,
        spec: &Ephemeral<'_>,
        _deadline: Duration,
    ) -> Result<HelperRun, ClusterError> {
        let Ephemeral {
            pod,
            target_container: container,
            image,
            run_as_user,
            script,
        } = *spec;
        self.check("run_ephemeral", namespace)?;
        self.record(format!(
            "ephemeral {image} in {pod}/{container} as {run_as_user:?}"
        ));
        self.scripts.lock().unwrap().push(script.into());
        Ok(self
            .state
            .lock()
            .unwrap()
            .helper_runs
            .pop_front()
            .expect("the test scripted an ephemeral run"))
    }

    async fn tunnel(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> Result<Box<dyn Tunnel>, ClusterError> {
        self.check("tunnel", namespace)?;
        let address = self.state.lock().unwrap().tunnels.get(pod).copied();
        let address = address.ok_or_else(|| ClusterError::Api {
            action: format!("port-forwarding to {pod}:{port}"),
            namespace: namespace.into(),
            reason: "pod not found".into(),
        })?;
        let stream =
            tokio::net::TcpStream::connect(address)
                .await
                .map_err(|e| ClusterError::Api {
                    action: format!("port-forwarding to {pod}:{port}"),
                    namespace: namespace.into(),
                    reason: e.to_string(),
                })?;
        Ok(Box::new(stream))
    }
}
