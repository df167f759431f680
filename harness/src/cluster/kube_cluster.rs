//! [`Cluster`] over kube-rs: server-side apply, workloads, pods, helpers and waits with
//! deadlines. Every wait is a watch (`kube::runtime`) wrapped in a timeout.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, Node, PersistentVolumeClaim, Pod, PodTemplateSpec, Secret, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{
    DeleteParams, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch, PatchParams,
    PostParams, PropagationPolicy,
};
use kube::discovery::Scope;
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher;

use super::{
    Cluster, ClusterError, Condition, ConfigKind, ContainerInfo, EndpointCondition, Ephemeral,
    EventCondition, EventInfo, HelperRun, HpaState, Labels, MANAGED_BY, NamespaceGone, NodeInfo,
    NodePortUse, PodCondition, PodMetrics, PodState, PodUsage, PvcState, ServiceInfo,
    StorageClassInfo, Tunnel, WaitError, WorkloadCondition, WorkloadKind, WorkloadState,
};

/// Field manager for server-side apply, so `kubectl` shows who owns which field.
pub const FIELD_MANAGER: &str = "deploycheck";

/// The real cluster behind a kube client.
pub struct KubeCluster {
    client: kube::Client,
    context: String,
    made: std::time::Instant,
}

impl KubeCluster {
    pub fn new(client: kube::Client, context: String) -> Self {
        Self {
            client,
            context,
            made: std::time::Instant::now(),
        }
    }

    /// Classifies a kube error: unreachable, forbidden, or anything else with its message.
    fn error(&self, action: &str, namespace: &str, error: kube::Error) -> ClusterError {
        match &error {
            kube::Error::Api(status) if status.code == 403 => ClusterError::Forbidden {
                action: action.into(),
                namespace: namespace.into(),
                reason: status.message.clone(),
            },
            kube::Error::Api(status) => ClusterError::Api {
                action: action.into(),
                namespace: namespace.into(),
                reason: if status.message.is_empty() {
                    error.to_string()
                } else {
                    status.message.clone()
                },
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => ClusterError::Unreachable {
                context: self.context.clone(),
                reason: error_chain(&error),
            },
            _ => ClusterError::Api {
                action: action.into(),
                namespace: namespace.into(),
                reason: error_chain(&error),
            },
        }
    }

    fn pods_api(&self, namespace: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Resolves a manifest's apiVersion/kind through discovery.
    async fn resource_for(
        &self,
        object: &serde_json::Value,
        cache: &mut BTreeMap<(String, String), (kube::discovery::ApiResource, Scope)>,
    ) -> Result<(kube::discovery::ApiResource, Scope), ClusterError> {
        let api_version = object["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        if let Some(found) = cache.get(&(api_version.clone(), kind.clone())) {
            return Ok(found.clone());
        }
        let (group, version) = api_version
            .split_once('/')
            .unwrap_or(("", api_version.as_str()));
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let (resource, capabilities) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| match self.error("discovering", "", e) {
                ClusterError::Api { reason, .. } => ClusterError::Manifest {
                    object: format!("{kind} ({api_version})"),
                    reason: format!("the cluster does not serve this kind: {reason}"),
                },
                other => other,
            })?;
        let found = (resource, capabilities.scope);
        cache.insert((api_version, kind), found.clone());
        Ok(found)
    }
}

/// An error and its causes on one line (`a: b: c`), which is where kube hides the useful part.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!(": {cause_text}"));
        }
        source = cause.source();
    }
    text
}

/// Our view of a pod.
pub fn pod_state(pod: &Pod) -> PodState {
    let status = pod.status.as_ref();
    let containers = status
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default();
    PodState {
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        phase: status
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into()),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        restarts: containers.iter().map(|c| c.restart_count).sum(),
        qos_class: status.and_then(|s| s.qos_class.clone()).unwrap_or_default(),
        waiting: containers
            .iter()
            .filter_map(|c| {
                let reason = c.state.as_ref()?.waiting.as_ref()?.reason.clone()?;
                Some(format!("{}: {reason}", c.name))
            })
            .collect(),
        last_terminated: containers
            .iter()
            .filter_map(|c| {
                let reason = c.last_state.as_ref()?.terminated.as_ref()?.reason.clone()?;
                Some(format!("{}: {reason}", c.name))
            })
            .collect(),
        claims: pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .map(|volumes| {
                volumes
                    .iter()
                    .filter_map(|v| Some(v.persistent_volume_claim.as_ref()?.claim_name.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0.into()),
        running_since: containers
            .iter()
            .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref())
            .map(|t| std::time::SystemTime::from(t.0))
            .max(),
        containers: containers.iter().map(container_info).collect(),
        unschedulable: status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| {
                c.iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            })
            .map(|c| {
                format!(
                    "{}: {}",
                    c.reason.as_deref().unwrap_or("Unschedulable"),
                    c.message.as_deref().unwrap_or_default()
                )
            }),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
    }
}

fn container_info(status: &k8s_openapi::api::core::v1::ContainerStatus) -> ContainerInfo {
    let waiting = status.state.as_ref().and_then(|s| s.waiting.as_ref());
    let last = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref());
    ContainerInfo {
        name: status.name.clone(),
        image: status.image.clone(),
        ready: status.ready,
        restarts: status.restart_count,
        waiting_reason: waiting.and_then(|w| w.reason.clone()),
        waiting_message: waiting.and_then(|w| w.message.clone()),
        last_reason: last.and_then(|t| t.reason.clone()),
        last_exit_code: last.map(|t| t.exit_code),
        running_since: status
            .state
            .as_ref()
            .and_then(|s| s.running.as_ref()?.started_at.as_ref())
            .map(|t| t.0.into()),
    }
}

/// Our view of an event.
fn event_info(e: Event) -> EventInfo {
    EventInfo {
        object: format!(
            "{}/{}",
            e.involved_object.kind.unwrap_or_default(),
            e.involved_object.name.unwrap_or_default()
        ),
        kind: e.type_.unwrap_or_default(),
        reason: e.reason.unwrap_or_default(),
        message: e.message.unwrap_or_default(),
        count: e
            .count
            .or_else(|| e.series.as_ref().and_then(|s| s.count))
            .unwrap_or(1),
        // Legacy events repeat through lastTimestamp, events.k8s.io ones through their
        // series.
        last_seen: e
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.series.as_ref()?.last_observed_time.as_ref().map(|t| t.0))
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .map(Into::into),
        id: e.metadata.name.unwrap_or_default(),
    }
}

/// The keys of an object's two maps (data and stringData, data and binaryData), sorted, once.
fn sorted_keys(
    first: impl Iterator<Item = String>,
    second: impl Iterator<Item = String>,
) -> Vec<String> {
    let keys: std::collections::BTreeSet<String> = first.chain(second).collect();
    keys.into_iter().collect()
}

/// Our view of a node.
pub fn node_info(node: &Node) -> NodeInfo {
    let status = node.status.as_ref();
    let allocatable = status.and_then(|s| s.allocatable.as_ref());
    let quantity = |key: &str| allocatable.and_then(|a| a.get(key)).map(|q| q.0.clone());
    NodeInfo {
        name: node.metadata.name.clone().unwrap_or_default(),
        images: status
            .and_then(|s| s.images.as_ref())
            .into_iter()
            .flatten()
            .flat_map(|i| i.names.clone().unwrap_or_default())
            .collect(),
        allocatable_cpu_millis: quantity("cpu")
            .and_then(|q| crate::quantity::cpu_millis(&q))
            .unwrap_or_default(),
        allocatable_memory_bytes: quantity("memory")
            .and_then(|q| crate::quantity::memory_bytes(&q))
            .unwrap_or_default(),
    }
}

/// Names of the pods behind the ready endpoints of a Service's slices, sorted, once each.
pub fn ready_pods<'a>(slices: impl IntoIterator<Item = &'a EndpointSlice>) -> Vec<String> {
    let mut pods: Vec<String> = slices
        .into_iter()
        .flat_map(|slice| &slice.endpoints)
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))
        .filter_map(|e| e.target_ref.as_ref()?.name.clone())
        .collect();
    pods.sort();
    pods.dedup();
    pods
}

/// CPU and memory summed over a PodMetrics object's containers.
pub fn pod_usage(object: &DynamicObject) -> PodUsage {
    let mut usage = PodUsage {
        pod: object.metadata.name.clone().unwrap_or_default(),
        ..PodUsage::default()
    };
    for container in object.data["containers"].as_array().into_iter().flatten() {
        let of = |key: &str| {
            container["usage"][key]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        usage.cpu_millis += crate::quantity::cpu_millis(&of("cpu")).unwrap_or(0);
        usage.memory_bytes += crate::quantity::memory_bytes(&of("memory")).unwrap_or(0);
    }
    usage
}

/// Flattens a Kubernetes condition list: every kind has its own condition type, with the same
/// field names.
macro_rules! flat_conditions {
    ($list:expr) => {
        $list
            .into_iter()
            .flatten()
            .map(|c| Condition {
                kind: c.type_,
                status: c.status,
                reason: c.reason.unwrap_or_default(),
                message: c.message.unwrap_or_default(),
            })
            .collect::<Vec<_>>()
    };
}

/// Rollout status of a Deployment or a StatefulSet: the same fields under different types.
macro_rules! workload_state {
    ($object:expr) => {{
        let object = $object;
        let status = object.status.clone().unwrap_or_default();
        let generation = object.metadata.generation.unwrap_or(0);
        WorkloadState {
            name: object.metadata.name.clone().unwrap_or_default(),
            desired: object.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            // `i32` on a StatefulSet, `Option<i32>` on a Deployment.
            total: Option::<i32>::from(status.replicas).unwrap_or(0),
            observed: status.observed_generation.unwrap_or(0) >= generation,
            conditions: flat_conditions!(status.conditions),
        }
    }};
}

pub fn deployment_state(deployment: &Deployment) -> WorkloadState {
    workload_state!(deployment)
}

pub fn statefulset_state(statefulset: &StatefulSet) -> WorkloadState {
    workload_state!(statefulset)
}

/// What Deployments and StatefulSets share, so each workload operation is written once.
trait Workload:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + std::fmt::Debug
    + serde::de::DeserializeOwned
    + serde::Serialize
    + Send
    + Sync
    + 'static
{
    fn state(&self) -> WorkloadState;
    fn into_template(self) -> Option<PodTemplateSpec>;
}

impl Workload for Deployment {
    fn state(&self) -> WorkloadState {
        deployment_state(self)
    }

    fn into_template(self) -> Option<PodTemplateSpec> {
        self.spec.map(|s| s.template)
    }
}

impl Workload for StatefulSet {
    fn state(&self) -> WorkloadState {
        statefulset_state(self)
    }

    fn into_template(self) -> Option<PodTemplateSpec> {
        self.spec.map(|s| s.template)
    }
}

/// Evaluates `$body` with `$K` standing for the k8s-openapi type of the workload kind.
macro_rules! with_workload_type {
    ($kind:expr, $K:ident => $body:expr) => {
        match $kind {
            WorkloadKind::Deployment => {
                type $K = Deployment;
                $body
            }
            WorkloadKind::StatefulSet => {
                type $K = StatefulSet;
                $body
            }
        }
    };
}

pub fn hpa_state(hpa: &HorizontalPodAutoscaler) -> HpaState {
    let spec = hpa.spec.clone().unwrap_or_default();
    let status = hpa.status.clone().unwrap_or_default();
    let cpu_target = spec.metrics.iter().flatten().find_map(|m| {
        let resource = m.resource.as_ref()?;
        (resource.name == "cpu").then_some(resource.target.average_utilization)?
    });
    let cpu_percent = status.current_metrics.iter().flatten().find_map(|m| {
        let resource = m.resource.as_ref()?;
        (resource.name == "cpu").then_some(resource.current.average_utilization)?
    });
    HpaState {
        name: hpa.metadata.name.clone().unwrap_or_default(),
        target: format!(
            "{}/{}",
            spec.scale_target_ref.kind, spec.scale_target_ref.name
        ),
        min: spec.min_replicas.unwrap_or(1),
        max: spec.max_replicas,
        current: status.current_replicas.unwrap_or(0),
        desired: status.desired_replicas,
        cpu_percent,
        cpu_target,
        conditions: flat_conditions!(status.conditions),
    }
}

/// Restricted-profile security settings, so helpers run in namespaces that enforce the
/// `restricted` Pod Security Standard.
fn restricted_security(run_as_user: Option<i64>) -> serde_json::Value {
    let mut context = serde_json::json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": true,
    });
    match run_as_user {
        Some(0) => {
            context["runAsNonRoot"] = false.into();
            context["runAsUser"] = 0.into();
        }
        Some(uid) => context["runAsUser"] = uid.into(),
        None => context["runAsUser"] = 65534.into(),
    }
    context
}

/// Strips what the server owns from a live object so it can be applied again.
pub fn reapplicable(mut object: serde_json::Value) -> serde_json::Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    for claim in object["spec"]["volumeClaimTemplates"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some(claim) = claim.as_object_mut() {
            claim.remove("status");
        }
    }
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for key in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "ownerReferences",
        ] {
            metadata.remove(key);
        }
        if let Some(annotations) = metadata
            .get_mut("annotations")
            .and_then(|a| a.as_object_mut())
        {
            annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    object
}

/// A short random suffix for helper names.
fn suffix() -> String {
    super::throwaway_namespace_name()["deploycheck-".len()..].to_string()
}

impl KubeCluster {
    fn workloads<K: Workload>(&self, namespace: &str) -> Api<K> {
        Api::namespaced(self.client.clone(), namespace)
    }

    async fn wait_workload_of<K: Workload>(
        &self,
        namespace: &str,
        name: &str,
        done: WorkloadCondition<'_>,
        deadline: Duration,
    ) -> Result<WorkloadState, WaitError> {
        // `None`: the watch has delivered nothing yet; `Some(None)`: it read that the object
        // does not exist.
        let last = Mutex::new(None::<Option<WorkloadState>>);
        let condition = |object: Option<&K>| {
            let state = object.map(Workload::state);
            let reached = state.as_ref().is_some_and(done);
            *last.lock().unwrap() = Some(state);
            reached
        };
        let result = tokio::time::timeout(
            deadline,
            await_condition(self.workloads::<K>(namespace), name, condition),
        )
        .await;
        let last = last.lock().unwrap().clone();
        match result {
            Ok(Ok(_)) => Ok(last.flatten().expect("the condition saw the object")),
            Ok(Err(e)) => Err(WaitError::Cluster(self.error(
                &format!("watching {name}"),
                namespace,
                wait_error(e),
            ))),
            Err(_) => {
                // A wait always reads the cluster before it times out: with no time left the
                // watch may never have delivered, and nothing may be said of an unread object.
                let seen = match last {
                    Some(seen) => seen,
                    None => self
                        .workloads::<K>(namespace)
                        .get_opt(name)
                        .await
                        .map_err(|e| self.error(&format!("reading {name}"), namespace, e))?
                        .as_ref()
                        .map(Workload::state),
                };
                if let Some(state) = &seen
                    && done(state)
                {
                    return Ok(state.clone());
                }
                Err(WaitError::Timeout {
                    waited: deadline,
                    last_seen: seen
                        .map_or_else(|| format!("{name} does not exist"), |s| s.summary()),
                })
            }
        }
    }

    /// Deletes in the foreground (the object goes only after its pods, so "gone" means "pods
    /// gone too") and waits until it is gone.
    async fn delete_and_wait<K: Workload>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<(), kube::Error> {
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..DeleteParams::default()
        };
        let api = self.workloads::<K>(namespace);
        let uid = api
            .delete(name, &params)
            .await?
            .left()
            .and_then(|object| object.meta().uid.clone())
            .unwrap_or_default();
        await_condition(api, name, conditions::is_deleted(&uid))
            .await
            .map(drop)
            .map_err(wait_error)
    }

    async fn manifest_of<K: Workload>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<serde_json::Value>, kube::Error> {
        let Some(object) = self.workloads::<K>(namespace).get_opt(name).await? else {
            return Ok(None);
        };
        let mut value = serde_json::to_value(object).map_err(kube::Error::SerdeError)?;
        value["apiVersion"] = K::api_version(&()).into();
        value["kind"] = K::kind(&()).into();
        Ok(Some(reapplicable(value)))
    }

    /// Waits until a pod's phase or one of its (ephemeral) containers satisfies `done`.
    async fn wait_pod(
        &self,
        namespace: &str,
        name: &str,
        done: impl Fn(&Pod) -> bool + Send,
        deadline: Duration,
    ) -> Result<Option<Pod>, ClusterError> {
        let condition = move |p: Option<&Pod>| p.is_some_and(&done);
        match tokio::time::timeout(
            deadline,
            await_condition(self.pods_api(namespace), name, condition),
        )
        .await
        {
            Ok(Ok(pod)) => Ok(pod),
            Ok(Err(e)) => {
                Err(self.error(&format!("watching pod {name}"), namespace, wait_error(e)))
            }
            Err(_) => Ok(None),
        }
    }
}

/// What [`KubeCluster::watch_list`] watches: a list of `K` kept by `key` as `V`, and how the
/// current list is presented to the condition.
struct WatchedList<'a, Key, View, Present> {
    action: String,
    namespace: &'a str,
    config: watcher::Config,
    key: Key,
    view: View,
    present: Present,
}

impl KubeCluster {
    /// Watches a list until `done` holds for it, at most `deadline`. Nothing is judged before
    /// the initial list is complete (an empty map at `Init` is not "none"), and a wait always
    /// reads before it times out: with no complete list by then, `read` lists once, and the
    /// timeout says what that read found (`describe`).
    async fn watch_list<K, V, T, Key, View, Present, Read>(
        &self,
        api: Api<K>,
        watched: WatchedList<'_, Key, View, Present>,
        done: impl Fn(&T) -> bool,
        read: impl FnOnce() -> Read,
        describe: impl Fn(&T) -> String,
        deadline: Duration,
    ) -> Result<T, WaitError>
    where
        K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
        Key: Fn(&K) -> String,
        View: Fn(K) -> V,
        Present: Fn(&BTreeMap<String, V>) -> T,
        Read: Future<Output = Result<T, ClusterError>>,
    {
        let WatchedList {
            action,
            namespace,
            config,
            key,
            view,
            present,
        } = watched;
        let mut stream = watcher(api, config).boxed();
        let mut current: BTreeMap<String, V> = BTreeMap::new();
        let mut initial: BTreeMap<String, V> = BTreeMap::new();
        let mut listed = false;
        let watch = async {
            while let Some(event) = stream.next().await {
                let event = event.map_err(|e| self.error(&action, namespace, probe_error(e)))?;
                match event {
                    watcher::Event::Init => initial.clear(),
                    watcher::Event::InitApply(object) => {
                        initial.insert(key(&object), view(object));
                    }
                    watcher::Event::InitDone => {
                        current = std::mem::take(&mut initial);
                        listed = true;
                    }
                    watcher::Event::Apply(object) => {
                        current.insert(key(&object), view(object));
                    }
                    watcher::Event::Delete(object) => {
                        current.remove(&key(&object));
                    }
                }
                if listed {
                    let presented = present(&current);
                    if done(&presented) {
                        return Ok(presented);
                    }
                }
            }
            Err(ClusterError::Api {
                action: action.clone(),
                namespace: namespace.into(),
                reason: "the watch ended".into(),
            })
        };
        match tokio::time::timeout(deadline, watch).await {
            Ok(result) => result.map_err(WaitError::from),
            Err(_) => {
                let seen = if listed {
                    present(&current)
                } else {
                    read().await?
                };
                if done(&seen) {
                    return Ok(seen);
                }
                Err(WaitError::Timeout {
                    waited: deadline,
                    last_seen: describe(&seen),
                })
            }
        }
    }
}

fn wait_error(error: kube::runtime::wait::Error) -> kube::Error {
    match error {
        kube::runtime::wait::Error::ProbeFailed(e) => probe_error(e),
    }
}

fn probe_error(error: watcher::Error) -> kube::Error {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        watcher::Error::WatchError(status) => kube::Error::Api(status),
        other => kube::Error::Service(Box::new(other)),
    }
}

/// Exit code of a terminated container, and whether it has terminated.
fn terminated(
    statuses: Option<&Vec<k8s_openapi::api::core::v1::ContainerStatus>>,
    container: &str,
) -> Option<i32> {
    statuses?
        .iter()
        .find(|c| c.name == container)?
        .state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| t.exit_code)
}

impl Cluster for KubeCluster {
    fn context(&self) -> &str {
        &self.context
    }

    fn elapsed(&self) -> Duration {
        self.made.elapsed()
    }

    async fn storage_classes(&self) -> Result<Vec<StorageClassInfo>, ClusterError> {
        let api: Api<StorageClass> = Api::all(self.client.clone());
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| self.error("listing StorageClasses", "", e))?;
        Ok(list
            .items
            .into_iter()
            .map(|class| StorageClassInfo {
                default: class
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                    .is_some_and(|v| v == "true"),
                name: class.metadata.name.unwrap_or_default(),
                provisioner: class.provisioner,
            })
            .collect())
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| self.error("listing nodes", "", e))?;
        Ok(list.items.iter().map(node_info).collect())
    }

    async fn config_keys(
        &self,
        namespace: &str,
        kind: ConfigKind,
        name: &str,
    ) -> Result<Option<Vec<String>>, ClusterError> {
        let action = format!("reading {kind} {name}");
        // Keys only: the values are read by the API call but never kept or shown.
        let keys = match kind {
            ConfigKind::Secret => Api::<Secret>::namespaced(self.client.clone(), namespace)
                .get_opt(name)
                .await
                .map(|s| {
                    s.map(|s| {
                        sorted_keys(
                            s.data.unwrap_or_default().into_keys(),
                            s.string_data.unwrap_or_default().into_keys(),
                        )
                    })
                }),
            ConfigKind::ConfigMap => Api::<ConfigMap>::namespaced(self.client.clone(), namespace)
                .get_opt(name)
                .await
                .map(|c| {
                    c.map(|c| {
                        sorted_keys(
                            c.data.unwrap_or_default().into_keys(),
                            c.binary_data.unwrap_or_default().into_keys(),
                        )
                    })
                }),
        };
        keys.map_err(|e| self.error(&action, namespace, e))
    }

    async fn node_ports_in_use(&self) -> Result<Vec<NodePortUse>, ClusterError> {
        let api: Api<Service> = Api::all(self.client.clone());
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| self.error("listing Services of every namespace", "", e))?;
        Ok(list
            .items
            .iter()
            .flat_map(|s| {
                let service = format!(
                    "{}/{}",
                    s.metadata.namespace.as_deref().unwrap_or_default(),
                    s.metadata.name.as_deref().unwrap_or_default()
                );
                s.spec
                    .iter()
                    .flat_map(|spec| spec.ports.iter().flatten())
                    .filter_map(move |p| {
                        Some(NodePortUse {
                            port: p.node_port?,
                            service: service.clone(),
                        })
                    })
            })
            .collect())
    }

    async fn version(&self) -> Result<String, ClusterError> {
        self.client
            .apiserver_version()
            .await
            .map(|v| v.git_version)
            .map_err(|e| match self.error("reading the server version", "", e) {
                ClusterError::Api { reason, .. } => ClusterError::Unreachable {
                    context: self.context.clone(),
                    reason,
                },
                other => other,
            })
    }

    async fn namespace_exists(&self, name: &str) -> Result<bool, ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.get_opt(name).await {
            Ok(found) => Ok(found.is_some()),
            // A namespaced Role cannot read the Namespace object; whether the namespace
            // exists then shows in listing pods there.
            Err(kube::Error::Api(status)) if status.code == 403 => self
                .pods_api(name)
                .list(&ListParams::default().limit(1))
                .await
                .map(|_| true)
                .map_err(|e| self.error("listing pods", name, e)),
            Err(e) => Err(self.error("reading the namespace", name, e)),
        }
    }

    async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let namespace: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {MANAGED_BY.0: MANAGED_BY.1}}
        }))
        .expect("a valid Namespace");
        api.create(&PostParams::default(), &namespace)
            .await
            .map(drop)
            .map_err(|e| self.error("creating the namespace", name, e))
    }

    async fn delete_namespace(
        &self,
        name: &str,
        deadline: Duration,
    ) -> Result<NamespaceGone, ClusterError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let deleting = api
            .delete(name, &DeleteParams::background())
            .await
            .map_err(|e| self.error("deleting the namespace", name, e))?;
        let Some(uid) = deleting.left().map(|n| n.metadata.uid.unwrap_or_default()) else {
            return Ok(NamespaceGone::Deleted);
        };
        match tokio::time::timeout(
            deadline,
            await_condition(api.clone(), name, conditions::is_deleted(&uid)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(NamespaceGone::Deleted),
            Ok(Err(e)) => Err(self.error("watching the namespace", name, wait_error(e))),
            Err(_) => {
                let namespace = api
                    .get_opt(name)
                    .await
                    .map_err(|e| self.error("reading the namespace", name, e))?;
                let Some(namespace) = namespace else {
                    return Ok(NamespaceGone::Deleted);
                };
                Ok(NamespaceGone::Stuck {
                    finalizers: namespace
                        .spec
                        .and_then(|s| s.finalizers)
                        .unwrap_or_default(),
                    conditions: flat_conditions!(namespace.status.and_then(|s| s.conditions)),
                })
            }
        }
    }

    async fn apply(
        &self,
        namespace: &str,
        objects: &[serde_json::Value],
        labels: Labels,
    ) -> Result<Vec<String>, ClusterError> {
        let mut cache = BTreeMap::new();
        let mut applied = Vec::new();
        for object in objects {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let label = format!("{kind}/{name}");
            let (resource, scope) = self.resource_for(object, &mut cache).await?;
            if scope != Scope::Namespaced {
                return Err(ClusterError::Manifest {
                    object: label,
                    reason: "it is cluster-scoped, and deploycheck only changes objects inside \
                             its namespace; create it yourself or drop it from the manifests"
                        .into(),
                });
            }
            let mut object = object.clone();
            object["metadata"]["namespace"] = namespace.into();
            if labels == Labels::Ours {
                object["metadata"]["labels"][MANAGED_BY.0] = MANAGED_BY.1.into();
            }
            let dynamic: DynamicObject =
                serde_json::from_value(object).map_err(|e| ClusterError::Manifest {
                    object: label.clone(),
                    reason: e.to_string(),
                })?;
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.client.clone(), namespace, &resource);
            api.patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&dynamic),
            )
            .await
            .map_err(|e| self.error(&format!("applying {label}"), namespace, e))?;
            applied.push(label);
        }
        Ok(applied)
    }

    async fn manifest(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<serde_json::Value>, ClusterError> {
        with_workload_type!(kind, K => self.manifest_of::<K>(namespace, name).await)
            .map_err(|e| self.error(&format!("reading {kind} {name}"), namespace, e))
    }

    async fn delete_workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        deadline: Duration,
    ) -> Result<(), WaitError> {
        let deleted = with_workload_type!(kind, K => {
            tokio::time::timeout(deadline, self.delete_and_wait::<K>(namespace, name)).await
        });
        match deleted {
            Ok(result) => result.map_err(|e| {
                WaitError::Cluster(self.error(&format!("deleting {kind} {name}"), namespace, e))
            }),
            Err(_) => Err(WaitError::Timeout {
                waited: deadline,
                last_seen: format!("{kind} {name} still terminating (finalizers or stuck pods)"),
            }),
        }
    }

    async fn workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<WorkloadState>, ClusterError> {
        with_workload_type!(kind, K => {
            self.workloads::<K>(namespace)
                .get_opt(name)
                .await
                .map(|object| object.as_ref().map(Workload::state))
        })
        .map_err(|e| self.error(&format!("reading {kind} {name}"), namespace, e))
    }

    async fn wait_workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        done: WorkloadCondition<'_>,
        deadline: Duration,
    ) -> Result<WorkloadState, WaitError> {
        with_workload_type!(kind, K => {
            self.wait_workload_of::<K>(namespace, name, done, deadline).await
        })
    }

    async fn pod_template(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<PodTemplateSpec>, ClusterError> {
        with_workload_type!(kind, K => {
            self.workloads::<K>(namespace)
                .get_opt(name)
                .await
                .map(|object| object.and_then(Workload::into_template))
        })
        .map_err(|e| self.error(&format!("reading {kind} {name}"), namespace, e))
    }

    async fn scale(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        replicas: i32,
    ) -> Result<(), ClusterError> {
        let patch = Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}}));
        with_workload_type!(kind, K => {
            self.workloads::<K>(namespace)
                .patch_scale(name, &PatchParams::default(), &patch)
                .await
                .map(drop)
        })
        .map_err(|e| {
            self.error(
                &format!("scaling {kind} {name} to {replicas}"),
                namespace,
                e,
            )
        })
    }

    async fn restart(&self, namespace: &str, deployment: &str) -> Result<(), ClusterError> {
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let patch = Patch::Merge(serde_json::json!({"spec": {"template": {"metadata": {
            "annotations": {"kubectl.kubernetes.io/restartedAt": now}
        }}}}));
        Api::<Deployment>::namespaced(self.client.clone(), namespace)
            .patch(deployment, &PatchParams::default(), &patch)
            .await
            .map(drop)
            .map_err(|e| self.error(&format!("restarting {deployment}"), namespace, e))
    }

    async fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodState>, ClusterError> {
        let list = self
            .pods_api(namespace)
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| self.error(&format!("listing pods {selector}"), namespace, e))?;
        Ok(list.items.iter().map(pod_state).collect())
    }

    async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        self.pods_api(namespace)
            .delete(name, &DeleteParams::default())
            .await
            .map(drop)
            .map_err(|e| self.error(&format!("deleting pod {name}"), namespace, e))
    }

    async fn delete_job(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        let api: Api<k8s_openapi::api::batch::v1::Job> =
            Api::namespaced(self.client.clone(), namespace);
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(self.error(&format!("deleting Job {name}"), namespace, error)),
        }
    }

    async fn wait_pods(
        &self,
        namespace: &str,
        selector: &str,
        done: PodCondition<'_>,
        deadline: Duration,
    ) -> Result<Vec<PodState>, WaitError> {
        let watched = WatchedList {
            action: format!("watching pods {selector}"),
            namespace,
            config: watcher::Config::default().labels(selector),
            // By uid: a replacement pod with the same name is another pod.
            key: |pod: &Pod| pod.metadata.uid.clone().unwrap_or_default(),
            view: |pod: Pod| pod_state(&pod),
            present: |pods: &BTreeMap<String, PodState>| pods.values().cloned().collect(),
        };
        self.watch_list(
            self.pods_api(namespace),
            watched,
            |pods: &Vec<PodState>| done(pods),
            || self.pods(namespace, selector),
            |pods| super::describe(pods),
            deadline,
        )
        .await
    }

    async fn pvcs(&self, namespace: &str) -> Result<Vec<PvcState>, ClusterError> {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| self.error("listing PersistentVolumeClaims", namespace, e))?;
        Ok(list
            .items
            .iter()
            .map(|pvc| PvcState {
                name: pvc.metadata.name.clone().unwrap_or_default(),
                phase: pvc
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_else(|| "Unknown".into()),
                storage_class: pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()),
            })
            .collect())
    }

    async fn hpa(&self, namespace: &str, name: &str) -> Result<Option<HpaState>, ClusterError> {
        let api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), namespace);
        api.get_opt(name)
            .await
            .map(|h| h.as_ref().map(hpa_state))
            .map_err(|e| self.error(&format!("reading HPA {name}"), namespace, e))
    }

    async fn service(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ServiceInfo>, ClusterError> {
        let api: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        let service = api
            .get_opt(name)
            .await
            .map_err(|e| self.error(&format!("reading Service {name}"), namespace, e))?;
        Ok(service.map(|s| {
            let spec = s.spec.unwrap_or_default();
            ServiceInfo {
                name: s.metadata.name.unwrap_or_default(),
                kind: spec.type_.unwrap_or_else(|| "ClusterIP".into()),
                ports: spec.ports.iter().flatten().map(|p| p.port).collect(),
                headless: spec.cluster_ip.as_deref() == Some("None"),
                target_ports: spec
                    .ports
                    .iter()
                    .flatten()
                    .map(|p| match &p.target_port {
                        Some(IntOrString::Int(port)) => port.to_string(),
                        Some(IntOrString::String(name)) => name.clone(),
                        // Unset, it is the port itself.
                        None => p.port.to_string(),
                    })
                    .collect(),
                selector: spec.selector.unwrap_or_default(),
            }
        }))
    }

    async fn ready_endpoints(
        &self,
        namespace: &str,
        service: &str,
    ) -> Result<Vec<String>, ClusterError> {
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), namespace);
        let slices = api
            .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
            .await
            .map_err(|e| self.error(&format!("listing endpoints of {service}"), namespace, e))?;
        Ok(ready_pods(&slices.items))
    }

    async fn wait_endpoints(
        &self,
        namespace: &str,
        service: &str,
        done: EndpointCondition<'_>,
        deadline: Duration,
    ) -> Result<Vec<String>, WaitError> {
        let watched = WatchedList {
            action: format!("watching endpoints of {service}"),
            namespace,
            config: watcher::Config::default()
                .labels(&format!("kubernetes.io/service-name={service}")),
            // A Service may have several slices: keep each by name, judge their union.
            key: |slice: &EndpointSlice| slice.metadata.name.clone().unwrap_or_default(),
            view: |slice: EndpointSlice| slice,
            present: |slices: &BTreeMap<String, EndpointSlice>| ready_pods(slices.values()),
        };
        self.watch_list(
            Api::namespaced(self.client.clone(), namespace),
            watched,
            |ready: &Vec<String>| done(ready),
            || self.ready_endpoints(namespace, service),
            |ready| super::endpoints_seen(service, ready),
            deadline,
        )
        .await
    }

    async fn pod_metrics(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<PodMetrics, ClusterError> {
        let resource = kube::discovery::ApiResource {
            group: "metrics.k8s.io".into(),
            version: "v1beta1".into(),
            api_version: "metrics.k8s.io/v1beta1".into(),
            kind: "PodMetrics".into(),
            plural: "pods".into(),
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        match api.list(&ListParams::default().labels(selector)).await {
            Ok(list) => Ok(PodMetrics::Samples(
                list.items.iter().map(pod_usage).collect(),
            )),
            // 404: nothing serves the group (no metrics-server); 503: the APIService is
            // registered but its backend does not answer (metrics-server not ready).
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 503 => {
                Ok(PodMetrics::Unavailable(format!(
                    "{} {}",
                    status.code,
                    if status.message.is_empty() {
                        status.reason.clone()
                    } else {
                        status.message.clone()
                    }
                )))
            }
            Err(error) => Err(self.error("reading pod metrics", namespace, error)),
        }
    }

    async fn events(&self, namespace: &str) -> Result<Vec<EventInfo>, ClusterError> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let events = api
            .list(&ListParams::default())
            .await
            .map_err(|e| self.error("listing events", namespace, e))?
            .items;
        let mut events: Vec<EventInfo> = events.into_iter().map(event_info).collect();
        events.sort_by_key(|e| e.last_seen);
        Ok(events)
    }

    async fn wait_events(
        &self,
        namespace: &str,
        done: EventCondition<'_>,
        deadline: Duration,
    ) -> Result<Vec<EventInfo>, WaitError> {
        let watched = WatchedList {
            action: "watching events".into(),
            namespace,
            config: watcher::Config::default(),
            // One Event object per aggregated series.
            key: |event: &Event| event.metadata.name.clone().unwrap_or_default(),
            view: event_info,
            present: |events: &BTreeMap<String, EventInfo>| {
                let mut list: Vec<EventInfo> = events.values().cloned().collect();
                list.sort_by_key(|e| e.last_seen);
                list
            },
        };
        self.watch_list(
            Api::namespaced(self.client.clone(), namespace),
            watched,
            |events: &Vec<EventInfo>| done(events),
            || self.events(namespace),
            |events| format!("{} event(s), none of them the one awaited", events.len()),
            deadline,
        )
        .await
    }

    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        tail: i64,
    ) -> Result<String, ClusterError> {
        let params = LogParams {
            container: Some(container.into()),
            previous,
            tail_lines: Some(tail),
            ..LogParams::default()
        };
        self.pods_api(namespace)
            .logs(pod, &params)
            .await
            .map_err(|e| self.error(&format!("reading logs of {pod}/{container}"), namespace, e))
    }

    async fn run_helper(
        &self,
        namespace: &str,
        image: &str,
        script: &str,
        deadline: Duration,
    ) -> Result<HelperRun, ClusterError> {
        let name = format!("deploycheck-helper-{}", suffix());
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {
                MANAGED_BY.0: MANAGED_BY.1,
                "app.kubernetes.io/component": "deploycheck-helper"
            }},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "helper",
                    "image": image,
                    "command": ["sh", "-c", script],
                    "securityContext": restricted_security(None),
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "100m", "memory": "64Mi"}
                    }
                }]
            }
        }))
        .expect("a valid helper Pod");
        let api = self.pods_api(namespace);
        api.create(&PostParams::default(), &pod)
            .await
            .map_err(|e| self.error("creating a helper pod", namespace, e))?;
        let ended = self
            .wait_pod(
                namespace,
                &name,
                |p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.phase.as_deref())
                        .is_some_and(|phase| phase == "Succeeded" || phase == "Failed")
                },
                deadline,
            )
            .await;
        let output = self.logs(namespace, &name, "helper", false, 200).await;
        // Always removed, whatever happened above.
        let _ = api
            .delete(&name, &DeleteParams::default().grace_period(0))
            .await;
        let pod = ended?;
        let exit_code = pod
            .as_ref()
            .and_then(|p| terminated(p.status.as_ref()?.container_statuses.as_ref(), "helper"));
        let mut output = output.unwrap_or_else(|e| format!("(no output: {e})"));
        if pod.is_none() {
            output.push_str(&format!(
                "\n(helper pod {name} with image {image} did not finish within {} s)",
                deadline.as_secs()
            ));
        }
        Ok(HelperRun { exit_code, output })
    }

    async fn run_ephemeral(
        &self,
        namespace: &str,
        spec: &Ephemeral<'_>,
        deadline: Duration,
    ) -> Result<HelperRun, ClusterError> {
        let Ephemeral {
            pod,
            target_container: container,
            image,
            run_as_user,
            script,
        } = *spec;
        let name = format!("deploycheck-{}", suffix());
        let patch = serde_json::json!({"spec": {"ephemeralContainers": [{
            "name": name,
            "image": image,
            "command": ["sh", "-c", script],
            "targetContainerName": container,
            "securityContext": restricted_security(run_as_user),
        }]}});
        self.pods_api(namespace)
            .patch_ephemeral_containers(pod, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .map_err(|e| {
                self.error(
                    &format!("adding an ephemeral container to {pod}"),
                    namespace,
                    e,
                )
            })?;
        let finished = self
            .wait_pod(
                namespace,
                pod,
                |p| {
                    terminated(
                        p.status
                            .as_ref()
                            .and_then(|s| s.ephemeral_container_statuses.as_ref()),
                        &name,
                    )
                    .is_some()
                },
                deadline,
            )
            .await?;
        let exit_code = finished.as_ref().and_then(|p| {
            terminated(
                p.status.as_ref()?.ephemeral_container_statuses.as_ref(),
                &name,
            )
        });
        let output = self
            .logs(namespace, pod, &name, false, 200)
            .await
            .unwrap_or_else(|e| format!("(no output: {e})"));
        Ok(HelperRun { exit_code, output })
    }

    async fn tunnel(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> Result<Box<dyn Tunnel>, ClusterError> {
        let action = format!("port-forwarding to {pod}:{port}");
        let mut forwarder = self
            .pods_api(namespace)
            .portforward(pod, &[port])
            .await
            .map_err(|e| self.error(&action, namespace, e))?;
        // The forwarder's task runs on its own; the stream lives as long as the caller keeps it.
        let stream = forwarder
            .take_stream(port)
            .ok_or_else(|| ClusterError::Api {
                action,
                namespace: namespace.into(),
                reason: "no stream for the port".into(),
            })?;
        Ok(Box::new(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use tower_test::mock;

    /// A client whose every request the test answers, after checking its shape.
    fn mocked() -> (KubeCluster, mock::Handle<Request<Body>, Response<Body>>) {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        (KubeCluster::new(client, "kind-test".into()), handle)
    }

    async fn body_json(request: Request<Body>) -> serde_json::Value {
        let bytes = request.into_body().collect_bytes().await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn respond(send: mock::SendResponse<Response<Body>>, json: serde_json::Value) {
        send.send_response(
            Response::builder()
                .body(Body::from(serde_json::to_vec(&json).unwrap()))
                .unwrap(),
        );
    }

    #[tokio::test]
    async fn delete_pod_sends_a_delete_for_that_pod_in_that_namespace() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::DELETE);
            assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/pods/web-1");
            respond(
                send,
                serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1"}}),
            );
        });
        cluster.delete_pod("shop", "web-1").await.unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn create_namespace_posts_a_namespace_labelled_as_ours() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::POST);
            assert_eq!(request.uri().path(), "/api/v1/namespaces");
            let body = body_json(request).await;
            assert_eq!(body["metadata"]["name"], "deploycheck-abc123");
            assert_eq!(
                body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "deploycheck"
            );
            respond(
                send,
                serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "deploycheck-abc123"}}),
            );
        });
        cluster
            .create_namespace("deploycheck-abc123")
            .await
            .unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_api_error_names_the_action_and_namespace() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (_, send) = handle.next_request().await.expect("a request");
            send.send_response(
                Response::builder()
                    .status(403)
                    .body(Body::from(
                        serde_json::to_vec(&serde_json::json!({
                            "kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "message": "pods \"web-1\" is forbidden: User \"ci\" cannot delete resource \"pods\"",
                            "reason": "Forbidden", "code": 403
                        }))
                        .unwrap(),
                    ))
                    .unwrap(),
            );
        });
        let error = cluster
            .delete_pod("shop", "web-1")
            .await
            .unwrap_err()
            .to_string();
        server.await.unwrap();
        assert!(
            error.starts_with("deleting pod web-1 in namespace `shop` is forbidden"),
            "{error}"
        );
        assert!(error.contains("forbidden"), "{error}");
    }

    #[test]
    fn pod_state_reads_readiness_termination_and_restarts() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "app-1", "uid": "u1", "deletionTimestamp": "2026-11-23T06:00:00Z"},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [
                    {"name": "app", "restartCount": 2, "ready": true, "image": "i", "imageID": "", "started": true},
                    {"name": "side", "restartCount": 1, "ready": true, "image": "i", "imageID": "", "started": true}
                ]
            }
        }))
        .unwrap();
        assert_eq!(
            pod_state(&pod),
            PodState {
                name: "app-1".into(),
                uid: "u1".into(),
                phase: "Running".into(),
                ready: true,
                deleting: true,
                restarts: 3,
                containers: ["app", "side"]
                    .iter()
                    .zip([2, 1])
                    .map(|(name, restarts)| ContainerInfo {
                        name: (*name).into(),
                        image: "i".into(),
                        ready: true,
                        restarts,
                        ..ContainerInfo::default()
                    })
                    .collect(),
                ..PodState::default()
            }
        );
        let pending: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        let state = pod_state(&pending);
        assert_eq!(
            (state.phase.as_str(), state.ready, state.restarts),
            ("Unknown", false, 0)
        );
    }

    /// What a fail-fast verdict quotes: the kubelet's waiting reason and message, how the
    /// previous run ended, and the scheduler's reason (verbatim from run-2's cluster).
    #[test]
    fn pod_state_keeps_the_kubelets_and_the_schedulers_words() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "flask-app-9966c57d5-g8jzm"},
            "spec": {"nodeName": "lab", "containers": [{"name": "flask-app"}]},
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 Insufficient cpu."}],
                "containerStatuses": [{
                    "name": "flask-app", "restartCount": 4, "ready": false,
                    "image": "registry.example.com/flask-mongodb-app:1.0.3", "imageID": "",
                    "state": {"waiting": {"reason": "CreateContainerConfigError",
                        "message": "couldn't find key mongodb-password in Secret deploycheck-s415ja/mongodb-secret"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}
                }]
            }
        }))
        .unwrap();
        let state = pod_state(&pod);
        assert_eq!(state.node.as_deref(), Some("lab"));
        assert_eq!(
            state.unschedulable.as_deref(),
            Some("Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.")
        );
        assert_eq!(
            state.containers,
            [ContainerInfo {
                name: "flask-app".into(),
                image: "registry.example.com/flask-mongodb-app:1.0.3".into(),
                ready: false,
                restarts: 4,
                waiting_reason: Some("CreateContainerConfigError".into()),
                waiting_message: Some(
                    "couldn't find key mongodb-password in Secret deploycheck-s415ja/mongodb-secret"
                        .into()
                ),
                last_reason: Some("OOMKilled".into()),
                last_exit_code: Some(137),
                running_since: None,
            }]
        );
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "lab"},
            "status": {
                "allocatable": {"cpu": "2", "memory": "8039936Ki"},
                "images": [{"names": ["docker.io/library/deploycheck-app:0.1.0", "sha256:abc"], "sizeBytes": 1}]
            }
        }))
        .unwrap();
        assert_eq!(
            node_info(&node),
            NodeInfo {
                name: "lab".into(),
                images: vec![
                    "docker.io/library/deploycheck-app:0.1.0".into(),
                    "sha256:abc".into()
                ],
                allocatable_cpu_millis: 2000,
                allocatable_memory_bytes: 8039936 * 1024,
            }
        );
    }

    /// The decoded query pairs of a request (`?&a=b` as kube writes it included).
    fn query_of(request: &Request<Body>) -> BTreeMap<String, String> {
        fn decode(text: &str) -> String {
            let bytes = text.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' if i + 2 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8(out).unwrap()
        }
        request
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(key), decode(value))
            })
            .collect()
    }

    fn content_type(request: &Request<Body>) -> String {
        request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    fn respond_status(
        send: mock::SendResponse<Response<Body>>,
        code: u16,
        json: serde_json::Value,
    ) {
        send.send_response(
            Response::builder()
                .status(code)
                .body(Body::from(serde_json::to_vec(&json).unwrap()))
                .unwrap(),
        );
    }

    fn respond_text(send: mock::SendResponse<Response<Body>>, text: &str) {
        send.send_response(
            Response::builder()
                .header(http::header::CONTENT_TYPE, "text/plain")
                .body(Body::from(text.as_bytes().to_vec()))
                .unwrap(),
        );
    }

    /// Asserts that the client sends nothing more (it may also have gone away).
    async fn no_further_request(handle: &mut mock::Handle<Request<Body>, Response<Body>>) {
        if let Ok(Some((request, _))) =
            tokio::time::timeout(Duration::from_millis(500), handle.next_request()).await
        {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }

    fn api_resource_list(group_version: &str, resource: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": [resource]
        })
    }

    #[tokio::test]
    async fn apply_discovers_the_kind_then_server_side_applies_it_into_the_namespace() {
        let manifest = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "somewhere-else",
                "labels": {"app": "web", "tier": "front"}
            },
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}
                }
            }
        });
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a discovery request");
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(request.uri().path(), "/apis/apps/v1");
            respond(
                send,
                api_resource_list(
                    "apps/v1",
                    serde_json::json!({
                        "name": "deployments", "singularName": "deployment", "namespaced": true,
                        "kind": "Deployment",
                        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]
                    }),
                ),
            );

            let (request, send) = handle.next_request().await.expect("an apply request");
            assert_eq!(request.method(), http::Method::PATCH);
            assert_eq!(
                request.uri().path(),
                "/apis/apps/v1/namespaces/shop/deployments/web"
            );
            let query = query_of(&request);
            assert_eq!(
                query.get("fieldManager").map(String::as_str),
                Some("deploycheck")
            );
            assert_eq!(query.get("force").map(String::as_str), Some("true"));
            assert_eq!(content_type(&request), "application/apply-patch+yaml");
            let body = body_json(request).await;
            assert_eq!(body["apiVersion"], "apps/v1");
            assert_eq!(body["kind"], "Deployment");
            assert_eq!(body["metadata"]["name"], "web");
            assert_eq!(body["metadata"]["namespace"], "shop");
            assert_eq!(
                body["metadata"]["labels"],
                serde_json::json!({
                    "app": "web",
                    "tier": "front",
                    "app.kubernetes.io/managed-by": "deploycheck"
                })
            );
            assert_eq!(body["spec"]["replicas"], 2);
            assert_eq!(
                body["spec"]["template"]["spec"]["containers"][0]["image"],
                "nginx:1.27"
            );
            respond(send, body);
            no_further_request(&mut handle).await;
        });
        let applied = cluster.apply("shop", &[manifest], Labels::Ours).await;
        server.await.unwrap();
        assert_eq!(applied.unwrap(), vec!["Deployment/web".to_string()]);
    }

    #[tokio::test]
    async fn restoring_an_object_keeps_its_labels_as_they_were() {
        let manifest = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "labels": {"app.kubernetes.io/managed-by": "Helm"}},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "mongo:7.0"}]}}}
        });
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (_, send) = handle.next_request().await.expect("a discovery request");
            respond(
                send,
                api_resource_list(
                    "apps/v1",
                    serde_json::json!({
                        "name": "statefulsets", "singularName": "statefulset", "namespaced": true,
                        "kind": "StatefulSet", "verbs": ["create", "get", "patch"]
                    }),
                ),
            );
            let (request, send) = handle.next_request().await.expect("an apply request");
            assert_eq!(
                request.uri().path(),
                "/apis/apps/v1/namespaces/shop/statefulsets/db"
            );
            let body = body_json(request).await;
            assert_eq!(
                body["metadata"]["labels"],
                serde_json::json!({"app.kubernetes.io/managed-by": "Helm"})
            );
            respond(send, body);
        });
        cluster
            .apply("shop", &[manifest], Labels::AsTheyWere)
            .await
            .unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn apply_refuses_a_cluster_scoped_object_and_sends_no_patch() {
        let manifest = serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]
        });
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a discovery request");
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(request.uri().path(), "/apis/rbac.authorization.k8s.io/v1");
            respond(
                send,
                api_resource_list(
                    "rbac.authorization.k8s.io/v1",
                    serde_json::json!({
                        "name": "clusterroles", "singularName": "clusterrole", "namespaced": false,
                        "kind": "ClusterRole",
                        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]
                    }),
                ),
            );
            no_further_request(&mut handle).await;
        });
        let result = cluster.apply("shop", &[manifest], Labels::Ours).await;
        server.await.unwrap();
        match result {
            Err(error @ ClusterError::Manifest { .. }) => {
                let text = error.to_string();
                assert!(text.contains("ClusterRole/reader"), "{text}");
                assert!(text.contains("cluster-scoped"), "{text}");
            }
            other => panic!("expected a Manifest error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn scale_merge_patches_the_scale_subresource_of_a_statefulset() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::PATCH);
            assert_eq!(
                request.uri().path(),
                "/apis/apps/v1/namespaces/shop/statefulsets/mongo/scale"
            );
            assert_eq!(content_type(&request), "application/merge-patch+json");
            assert_eq!(
                body_json(request).await,
                serde_json::json!({"spec": {"replicas": 0}})
            );
            respond(
                send,
                serde_json::json!({
                    "apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": {"name": "mongo", "namespace": "shop"},
                    "spec": {"replicas": 0}, "status": {"replicas": 3}
                }),
            );
        });
        let result = cluster
            .scale("shop", WorkloadKind::StatefulSet, "mongo", 0)
            .await;
        server.await.unwrap();
        result.unwrap();
    }

    #[tokio::test]
    async fn restart_sets_a_restarted_at_annotation_on_the_pod_template() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::PATCH);
            assert_eq!(
                request.uri().path(),
                "/apis/apps/v1/namespaces/shop/deployments/web"
            );
            assert_eq!(content_type(&request), "application/merge-patch+json");
            let body = body_json(request).await;
            let annotations = body["spec"]["template"]["metadata"]["annotations"]
                .as_object()
                .unwrap_or_else(|| panic!("no template annotations in {body}"));
            assert_eq!(annotations.len(), 1, "{body}");
            let stamp = annotations["kubectl.kubernetes.io/restartedAt"]
                .as_str()
                .unwrap_or_else(|| panic!("no restartedAt in {body}"));
            let when =
                time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|e| panic!("{stamp} is not RFC 3339: {e}"));
            let age = time::OffsetDateTime::now_utc() - when;
            assert!(
                age >= time::Duration::ZERO && age < time::Duration::minutes(1),
                "{stamp} is not now"
            );
            respond(
                send,
                serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
            );
        });
        let result = cluster.restart("shop", "web").await;
        server.await.unwrap();
        result.unwrap();
    }

    #[tokio::test]
    async fn run_ephemeral_adds_a_restricted_container_waits_for_it_and_reads_its_log() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a patch request");
            assert_eq!(request.method(), http::Method::PATCH);
            assert_eq!(
                request.uri().path(),
                "/api/v1/namespaces/shop/pods/web-1/ephemeralcontainers"
            );
            assert_eq!(
                content_type(&request),
                "application/strategic-merge-patch+json"
            );
            let body = body_json(request).await;
            let containers = body["spec"]["ephemeralContainers"]
                .as_array()
                .unwrap_or_else(|| panic!("no ephemeralContainers in {body}"));
            assert_eq!(containers.len(), 1, "{body}");
            let container = &containers[0];
            let name = container["name"].as_str().unwrap().to_string();
            assert!(name.starts_with("deploycheck-"), "{name}");
            assert_eq!(container["targetContainerName"], "app");
            assert_eq!(container["image"], "busybox:1.37");
            assert_eq!(
                container["command"],
                serde_json::json!(["sh", "-c", "kill -TERM 1"])
            );
            let security = &container["securityContext"];
            assert_eq!(security["runAsUser"], 1000);
            assert_eq!(security["runAsNonRoot"], true);
            assert_eq!(security["allowPrivilegeEscalation"], false);
            assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
            assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");

            let pod = serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "7"},
                "spec": {"containers": [{"name": "app", "image": "web:1"}]},
                "status": {
                    "phase": "Running",
                    "ephemeralContainerStatuses": [{
                        "name": name, "image": "busybox:1.37", "imageID": "", "ready": false,
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
                    }]
                }
            });
            respond(send, pod.clone());

            let (request, send) = handle.next_request().await.expect("a list request");
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/pods");
            let query = query_of(&request);
            assert_eq!(
                query.get("fieldSelector").map(String::as_str),
                Some("metadata.name=web-1"),
                "{}",
                request.uri()
            );
            assert!(!query.contains_key("watch"), "{}", request.uri());
            respond(
                send,
                serde_json::json!({
                    "kind": "PodList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": "1"}, "items": [pod]
                }),
            );

            let (request, send) = handle.next_request().await.expect("a log request");
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(
                request.uri().path(),
                "/api/v1/namespaces/shop/pods/web-1/log"
            );
            let query = query_of(&request);
            assert_eq!(query.get("container"), Some(&name), "{}", request.uri());
            assert_eq!(query.get("tailLines").map(String::as_str), Some("200"));
            assert!(!query.contains_key("previous"), "{}", request.uri());
            respond_text(send, "sent TERM to 1\n");
            no_further_request(&mut handle).await;
        });
        let spec = Ephemeral {
            pod: "web-1",
            target_container: "app",
            image: "busybox:1.37",
            run_as_user: Some(1000),
            script: "kill -TERM 1",
        };
        let run = tokio::time::timeout(
            Duration::from_secs(20),
            cluster.run_ephemeral("shop", &spec, Duration::from_secs(10)),
        )
        .await;
        server.await.unwrap();
        let run = run.expect("run_ephemeral returns").unwrap();
        assert_eq!(
            run,
            HelperRun {
                exit_code: Some(0),
                output: "sent TERM to 1\n".into()
            }
        );
    }

    #[tokio::test]
    async fn run_helper_creates_a_labelled_restricted_pod_reads_its_log_and_deletes_it() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a create request");
            assert_eq!(request.method(), http::Method::POST);
            assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/pods");
            let body = body_json(request).await;
            let name = body["metadata"]["name"].as_str().unwrap().to_string();
            assert!(name.starts_with("deploycheck-helper-"), "{name}");
            assert_eq!(
                body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "deploycheck"
            );
            assert_eq!(
                body["metadata"]["labels"]["app.kubernetes.io/component"],
                "deploycheck-helper"
            );
            assert_eq!(body["spec"]["restartPolicy"], "Never");
            assert_eq!(body["spec"]["automountServiceAccountToken"], false);
            let container = &body["spec"]["containers"][0];
            assert_eq!(container["image"], "busybox:1.36");
            assert_eq!(
                container["command"],
                serde_json::json!(["sh", "-c", "nc -z mongodb 27017"])
            );
            assert_eq!(container["securityContext"]["runAsNonRoot"], true);
            assert_eq!(
                container["securityContext"]["allowPrivilegeEscalation"],
                false
            );
            assert!(
                container["resources"]["limits"]["memory"].is_string(),
                "{body}"
            );
            let mut pod = body.clone();
            pod["apiVersion"] = "v1".into();
            pod["kind"] = "Pod".into();
            pod["metadata"]["namespace"] = "shop".into();
            pod["metadata"]["resourceVersion"] = "3".into();
            pod["status"] = serde_json::json!({
                "phase": "Succeeded",
                "containerStatuses": [{
                    "name": "helper", "image": "busybox:1.36", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"terminated": {"exitCode": 0}}
                }]
            });
            respond(send, pod.clone());

            let (request, send) = handle.next_request().await.expect("a list request");
            assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/pods");
            assert_eq!(
                query_of(&request).get("fieldSelector").map(String::as_str),
                Some(format!("metadata.name={name}").as_str())
            );
            respond(
                send,
                serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "3"}, "items": [pod]}),
            );

            let (request, send) = handle.next_request().await.expect("a log request");
            assert_eq!(
                request.uri().path(),
                format!("/api/v1/namespaces/shop/pods/{name}/log")
            );
            respond_text(send, "deploycheck: connected to mongodb:27017\n");

            let (request, send) = handle.next_request().await.expect("a delete request");
            assert_eq!(request.method(), http::Method::DELETE);
            assert_eq!(
                request.uri().path(),
                format!("/api/v1/namespaces/shop/pods/{name}")
            );
            let body = body_json(request).await;
            assert_eq!(body["gracePeriodSeconds"], 0, "{body}");
            respond(send, pod);
            no_further_request(&mut handle).await;
        });
        let run = tokio::time::timeout(
            Duration::from_secs(20),
            cluster.run_helper(
                "shop",
                "busybox:1.36",
                "nc -z mongodb 27017",
                Duration::from_secs(10),
            ),
        )
        .await;
        server.await.unwrap();
        let run = run.expect("run_helper returns").unwrap();
        assert_eq!(
            run,
            HelperRun {
                exit_code: Some(0),
                output: "deploycheck: connected to mongodb:27017\n".into()
            }
        );
    }

    #[test]
    fn restricted_security_runs_as_root_only_when_asked() {
        let root = restricted_security(Some(0));
        assert_eq!(
            (&root["runAsUser"], &root["runAsNonRoot"]),
            (&0.into(), &false.into())
        );
        let default = restricted_security(None);
        assert_eq!(
            (&default["runAsUser"], &default["runAsNonRoot"]),
            (&65534.into(), &true.into())
        );
    }

    #[tokio::test]
    async fn delete_namespace_that_is_already_gone_is_deleted() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::DELETE);
            assert_eq!(
                request.uri().path(),
                "/api/v1/namespaces/deploycheck-abc123"
            );
            assert_eq!(body_json(request).await["propagationPolicy"], "Background");
            respond(
                send,
                serde_json::json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": "deploycheck-abc123", "kind": "namespaces", "uid": "u1"}
                }),
            );
            no_further_request(&mut handle).await;
        });
        let result = cluster
            .delete_namespace("deploycheck-abc123", Duration::from_secs(5))
            .await;
        server.await.unwrap();
        assert_eq!(result.unwrap(), NamespaceGone::Deleted);
    }

    #[test]
    fn hpa_state_reads_cpu_target_and_current_utilisation() {
        let hpa: HorizontalPodAutoscaler = serde_json::from_value(serde_json::json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 6,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "memory",
                        "target": {"type": "Utilization", "averageUtilization": 80}}},
                    {"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70}}}
                ]
            },
            "status": {
                "currentReplicas": 2,
                "desiredReplicas": 4,
                "lastScaleTime": "2026-01-05T10:00:00Z",
                "currentMetrics": [
                    {"type": "Resource", "resource": {"name": "memory",
                        "current": {"averageUtilization": 40, "averageValue": "20Mi"}}},
                    {"type": "Resource", "resource": {"name": "cpu",
                        "current": {"averageUtilization": 142, "averageValue": "142m"}}}
                ],
                "conditions": [
                    {"type": "AbleToScale", "status": "True", "reason": "SucceededRescale",
                     "message": "the HPA controller was able to update the target scale to 4",
                     "lastTransitionTime": "2026-01-05T10:00:00Z"}
                ]
            }
        }))
        .unwrap();
        assert_eq!(
            hpa_state(&hpa),
            HpaState {
                name: "web".into(),
                target: "Deployment/web".into(),
                min: 2,
                max: 6,
                current: 2,
                desired: 4,
                cpu_percent: Some(142),
                cpu_target: Some(70),
                conditions: vec![Condition {
                    kind: "AbleToScale".into(),
                    status: "True".into(),
                    reason: "SucceededRescale".into(),
                    message: "the HPA controller was able to update the target scale to 4".into(),
                }],
            }
        );
    }

    #[test]
    fn hpa_state_without_current_metrics_has_unknown_cpu() {
        let hpa: HorizontalPodAutoscaler = serde_json::from_value(serde_json::json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70}}}]
            },
            "status": {
                "currentReplicas": 1,
                "desiredReplicas": 1,
                "conditions": [
                    {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
                     "message": "unable to get metrics for resource cpu",
                     "lastTransitionTime": "2026-01-05T10:00:00Z"}
                ]
            }
        }))
        .unwrap();
        let state = hpa_state(&hpa);
        assert_eq!(state.cpu_percent, None);
        assert_eq!(state.cpu_target, Some(70));
        assert_eq!(
            (state.min, state.max, state.current, state.desired),
            (1, 5, 1, 1)
        );
        assert_eq!(state.conditions[0].reason, "FailedGetResourceMetric");
    }

    fn deployment(generation: i64, observed_generation: i64) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "generation": generation},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:2"}]}}
            },
            "status": {
                "observedGeneration": observed_generation,
                "replicas": 3,
                "readyReplicas": 3,
                "availableReplicas": 3,
                "updatedReplicas": 3,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability."},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "message": "ReplicaSet \"web-5d4f\" has successfully progressed."}
                ]
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_deployment_whose_latest_spec_is_not_observed_is_not_rolled_out() {
        let state = deployment_state(&deployment(3, 2));
        assert_eq!(
            (state.desired, state.ready, state.available, state.updated),
            (3, 3, 3, 3)
        );
        assert!(!state.observed);
        assert!(!state.rolled_out());
        assert!(
            state.summary().contains("latest spec not yet observed"),
            "{}",
            state.summary()
        );
        assert_eq!(state.conditions.len(), 2);
        // The same counts with the spec observed are a finished rollout.
        let state = deployment_state(&deployment(3, 3));
        assert!(state.observed && state.rolled_out(), "{state:?}");
    }

    #[test]
    fn a_ready_statefulset_is_rolled_out() {
        let statefulset: StatefulSet = serde_json::from_value(serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "mongo", "generation": 2},
            "spec": {
                "replicas": 3,
                "serviceName": "mongo",
                "selector": {"matchLabels": {"app": "mongo"}},
                "template": {"metadata": {"labels": {"app": "mongo"}},
                    "spec": {"containers": [{"name": "mongo", "image": "mongo:8"}]}}
            },
            "status": {
                "observedGeneration": 2,
                "replicas": 3,
                "readyReplicas": 3,
                "availableReplicas": 3,
                "currentReplicas": 3,
                "updatedReplicas": 3,
                "currentRevision": "mongo-7c9",
                "updateRevision": "mongo-7c9"
            }
        }))
        .unwrap();
        let state = statefulset_state(&statefulset);
        assert_eq!(
            state,
            WorkloadState {
                name: "mongo".into(),
                desired: 3,
                ready: 3,
                available: 3,
                updated: 3,
                total: 3,
                observed: true,
                conditions: vec![],
            }
        );
        assert!(state.rolled_out());
    }

    #[test]
    fn reapplicable_strips_what_the_server_owns_and_keeps_the_rest() {
        let live = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {
                "name": "mongo",
                "namespace": "shop",
                "uid": "0b6c1c4e-1111-2222-3333-444455556666",
                "resourceVersion": "12345",
                "generation": 4,
                "creationTimestamp": "2026-01-05T10:00:00Z",
                "labels": {"app": "mongo", "app.kubernetes.io/managed-by": "deploycheck"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "team": "data"
                },
                "managedFields": [{"manager": "deploycheck", "operation": "Apply"}]
            },
            "spec": {
                "replicas": 3,
                "serviceName": "mongo",
                "volumeClaimTemplates": [{
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}},
                    "status": {"phase": "Pending"}
                }]
            },
            "status": {"replicas": 3, "readyReplicas": 3}
        });
        assert_eq!(
            reapplicable(live),
            serde_json::json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {
                    "name": "mongo",
                    "namespace": "shop",
                    "labels": {"app": "mongo", "app.kubernetes.io/managed-by": "deploycheck"},
                    "annotations": {"team": "data"}
                },
                "spec": {
                    "replicas": 3,
                    "serviceName": "mongo",
                    "volumeClaimTemplates": [{
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}
                    }]
                }
            })
        );
    }

    #[tokio::test]
    async fn a_403_status_is_forbidden() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/pods");
            assert_eq!(
                query_of(&request).get("labelSelector").map(String::as_str),
                Some("app=web")
            );
            respond_status(
                send,
                403,
                serde_json::json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "pods is forbidden: User \"ci\" cannot list resource \"pods\" in API group \"\" in the namespace \"shop\"",
                    "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403
                }),
            );
        });
        let result = cluster.pods("shop", "app=web").await;
        server.await.unwrap();
        let error = result.unwrap_err();
        assert!(matches!(error, ClusterError::Forbidden { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.starts_with(
                "listing pods app=web in namespace `shop` is forbidden: pods is forbidden"
            ),
            "{text}"
        );
        assert!(text.contains("is forbidden"), "{text}");
    }

    #[tokio::test]
    async fn a_failed_connection_is_unreachable() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/pods");
            send.send_error(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "tcp connect error: Connection refused (os error 111)",
            ));
        });
        let result = cluster.pods("shop", "app=web").await;
        server.await.unwrap();
        let error = result.unwrap_err();
        assert!(
            matches!(error, ClusterError::Unreachable { .. }),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.starts_with("cannot reach the cluster of context `kind-test`"),
            "{text}"
        );
        assert!(text.contains("Connection refused"), "{text}");
    }

    #[tokio::test]
    async fn a_gone_server_is_unreachable() {
        let (cluster, handle) = mocked();
        drop(handle);
        let error =
            tokio::time::timeout(Duration::from_secs(5), cluster.delete_pod("shop", "web-1"))
                .await
                .expect("the call returns")
                .unwrap_err();
        assert!(
            matches!(error, ClusterError::Unreachable { .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .starts_with("cannot reach the cluster of context `kind-test`"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn pod_metrics_lists_the_metrics_api_and_sums_containers() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(
                request.uri().path(),
                "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods"
            );
            assert_eq!(
                query_of(&request).get("labelSelector").map(String::as_str),
                Some("app=mongodb")
            );
            respond(
                send,
                serde_json::json!({
                    "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetricsList", "metadata": {},
                    "items": [{
                        "metadata": {"name": "mongodb-0"},
                        "timestamp": "2026-11-29T10:00:00Z", "window": "15s",
                        "containers": [
                            {"name": "mongodb", "usage": {"cpu": "935123456n", "memory": "200Mi"}},
                            {"name": "exporter", "usage": {"cpu": "5m", "memory": "10Mi"}}
                        ]
                    }]
                }),
            );
        });
        let metrics = cluster.pod_metrics("shop", "app=mongodb").await.unwrap();
        server.await.unwrap();
        assert_eq!(
            metrics,
            PodMetrics::Samples(vec![PodUsage {
                pod: "mongodb-0".into(),
                cpu_millis: 940,
                memory_bytes: 210 * 1024 * 1024,
            }])
        );
    }

    #[tokio::test]
    async fn a_metrics_api_nobody_serves_is_unavailable_not_an_error() {
        for code in [404, 503] {
            let (cluster, mut handle) = mocked();
            let server = tokio::spawn(async move {
                let (_, send) = handle.next_request().await.expect("a request");
                respond_status(
                    send,
                    code,
                    serde_json::json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "the server is currently unable to handle the request",
                        "reason": "ServiceUnavailable", "code": code
                    }),
                );
            });
            let metrics = cluster.pod_metrics("shop", "app=web").await.unwrap();
            server.await.unwrap();
            assert_eq!(
                metrics,
                PodMetrics::Unavailable(format!(
                    "{code} the server is currently unable to handle the request"
                ))
            );
        }
    }

    #[tokio::test]
    async fn events_carry_their_series_name_count_and_last_time() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/events");
            respond(
                send,
                serde_json::json!({
                    "apiVersion": "v1", "kind": "EventList", "metadata": {},
                    "items": [
                        {
                            "metadata": {"name": "web-1.17a8"},
                            "involvedObject": {"kind": "Pod", "name": "web-1"},
                            "type": "Warning", "reason": "Unhealthy",
                            "message": "Liveness probe failed", "count": 3,
                            "lastTimestamp": "2026-11-29T10:00:30Z"
                        },
                        {
                            "metadata": {"name": "web.17a9"},
                            "involvedObject": {"kind": "HorizontalPodAutoscaler", "name": "web"},
                            "type": "Warning", "reason": "FailedGetResourceMetric",
                            "message": "did not receive metrics",
                            "eventTime": "2026-11-29T10:00:00.000000Z",
                            "series": {"count": 4, "lastObservedTime": "2026-11-29T10:00:40.000000Z"}
                        }
                    ]
                }),
            );
        });
        let events = cluster.events("shop").await.unwrap();
        server.await.unwrap();
        let at = |text: &str| {
            Some(std::time::SystemTime::from(
                text.parse::<k8s_openapi::jiff::Timestamp>().unwrap(),
            ))
        };
        assert_eq!(events.len(), 2);
        assert_eq!(
            (events[0].id.as_str(), events[0].count, events[0].last_seen),
            ("web-1.17a8", 3, at("2026-11-29T10:00:30Z"))
        );
        assert_eq!(
            (events[1].id.as_str(), events[1].count, events[1].last_seen),
            ("web.17a9", 4, at("2026-11-29T10:00:40Z"))
        );
    }

    #[tokio::test]
    async fn wait_endpoints_watches_the_services_slices_and_judges_their_union() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(
                request.uri().path(),
                "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices"
            );
            assert_eq!(
                query_of(&request).get("labelSelector").map(String::as_str),
                Some("kubernetes.io/service-name=web")
            );
            let endpoint = |pod: &str, ready: bool| {
                serde_json::json!({
                    "addresses": ["10.0.0.1"], "conditions": {"ready": ready},
                    "targetRef": {"kind": "Pod", "name": pod}
                })
            };
            respond(
                send,
                serde_json::json!({
                    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList",
                    "metadata": {"resourceVersion": "7"},
                    "items": [
                        {"metadata": {"name": "web-abc"}, "addressType": "IPv4",
                         "endpoints": [endpoint("web-1", true), endpoint("web-2", false)]},
                        {"metadata": {"name": "web-def"}, "addressType": "IPv4",
                         "endpoints": [endpoint("web-3", true)]}
                    ]
                }),
            );
        });
        let both = |pods: &[String]| pods == ["web-1", "web-3"];
        let pods = cluster
            .wait_endpoints("shop", "web", &both, Duration::from_secs(5))
            .await
            .unwrap();
        server.await.unwrap();
        assert_eq!(pods, ["web-1", "web-3"]);
    }

    /// run-2: a wait with no time left never read the cluster and said "mongodb does not
    /// exist" of a ready StatefulSet. With a zero deadline the wait now reads the object once
    /// and judges what it read.
    #[tokio::test]
    async fn a_wait_with_no_time_left_reads_the_workload_before_it_says_anything() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let mut unanswered = Vec::new();
            loop {
                let (request, send) = handle.next_request().await.expect("a request");
                if request.uri().path() == "/apis/apps/v1/namespaces/shop/statefulsets/mongodb" {
                    respond(
                        send,
                        serde_json::json!({
                            "apiVersion": "apps/v1", "kind": "StatefulSet",
                            "metadata": {"name": "mongodb", "generation": 1},
                            "spec": {"replicas": 1, "selector": {}, "serviceName": "mongodb", "template": {}},
                            "status": {"replicas": 1, "readyReplicas": 0, "availableReplicas": 0,
                                       "currentReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1}
                        }),
                    );
                    break;
                }
                // The watch's list, cut short by the deadline.
                unanswered.push(send);
            }
        });
        let error = cluster
            .wait_workload(
                "shop",
                WorkloadKind::StatefulSet,
                "mongodb",
                &|w: &WorkloadState| w.rolled_out(),
                Duration::ZERO,
            )
            .await
            .unwrap_err();
        server.await.unwrap();
        let WaitError::Timeout { last_seen, .. } = error else {
            panic!("{error}")
        };
        assert_eq!(last_seen, "mongodb: 0/1 ready, 1 updated, 0 available");
    }

    /// The same for pods and endpoints: with no time left, "no pods" or "no ready endpoints"
    /// is only said after a list that found none; here the list finds one of each.
    #[tokio::test]
    async fn waits_for_pods_and_endpoints_with_no_time_left_still_read_once() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            // Every list gets the same answer, whether it is a watch's own (if the watch gets
            // that far before its zero deadline is noticed) or the read after the deadline;
            // the watch requests themselves are never answered.
            let mut watches = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                if query_of(&request).get("watch").map(String::as_str) == Some("true") {
                    watches.push(send);
                    continue;
                }
                let answer = if request.uri().path().ends_with("/pods") {
                    serde_json::json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
                        "items": [{"metadata": {"name": "web-1", "uid": "u1"}, "status": {"phase": "Running"}}]})
                } else {
                    serde_json::json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList",
                        "metadata": {"resourceVersion": "1"},
                        "items": [{"metadata": {"name": "web-abc"}, "addressType": "IPv4", "endpoints": [
                            {"addresses": ["10.0.0.1"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "web-1"}}]}]})
                };
                respond(send, answer);
            }
        });
        let never = |_: &[PodState]| false;
        let error = cluster
            .wait_pods("shop", "app=web", &never, Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "not reached within 0 s; last seen: web-1 (Running, not ready, 0 restarts)"
        );
        let none = |ready: &[String]| ready.is_empty();
        let error = cluster
            .wait_endpoints("shop", "web", &none, Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "not reached within 0 s; last seen: Service web routed to web-1"
        );
        drop(cluster);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn wait_events_watches_the_namespaces_events_until_the_one_awaited() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let mut watches = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/events");
                if query_of(&request).get("watch").map(String::as_str) == Some("true") {
                    watches.push(send);
                    continue;
                }
                respond(
                    send,
                    serde_json::json!({"apiVersion": "v1", "kind": "EventList", "metadata": {"resourceVersion": "3"},
                        "items": [{"metadata": {"name": "web-1.killing"}, "involvedObject": {"kind": "Pod", "name": "web-1"},
                            "reason": "Killing", "type": "Normal", "count": 1,
                            "message": "Container app failed liveness probe, will be restarted"}]}),
                );
            }
        });
        let killed = |events: &[EventInfo]| events.iter().any(|e| e.reason == "Killing");
        let events = cluster
            .wait_events("shop", &killed, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(events[0].object, "Pod/web-1");
        assert_eq!(events[0].id, "web-1.killing");
        drop(cluster);
        server.await.unwrap();
    }

    #[test]
    fn pod_state_reads_labels_and_when_its_containers_started() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "labels": {"app": "web"}, "creationTimestamp": "2026-11-29T10:00:00Z"},
            "status": {"containerStatuses": [
                {"name": "app", "image": "i", "imageID": "", "ready": true, "restartCount": 1,
                 "state": {"running": {"startedAt": "2026-11-29T10:01:00Z"}}},
                {"name": "side", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                 "state": {"running": {"startedAt": "2026-11-29T10:00:05Z"}}}
            ]}
        }))
        .unwrap();
        let state = pod_state(&pod);
        let at = |text: &str| {
            Some(std::time::SystemTime::from(
                text.parse::<k8s_openapi::jiff::Timestamp>().unwrap(),
            ))
        };
        assert_eq!(state.labels["app"], "web");
        assert_eq!(state.created, at("2026-11-29T10:00:00Z"));
        assert_eq!(state.running_since, at("2026-11-29T10:01:00Z"));
    }

    #[tokio::test]
    async fn delete_job_takes_its_pods_along_and_a_gone_job_is_fine() {
        let (cluster, mut handle) = mocked();
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.expect("a request");
            assert_eq!(request.method(), http::Method::DELETE);
            assert_eq!(
                request.uri().path(),
                "/apis/batch/v1/namespaces/shop/jobs/deploycheck-load-abc"
            );
            let body = body_json(request).await;
            assert_eq!(body["propagationPolicy"], "Background");
            respond(
                send,
                serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "deploycheck-load-abc"}}),
            );
            let (_, send) = handle.next_request().await.expect("a request");
            respond_status(
                send,
                404,
                serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "jobs.batch \"deploycheck-load-abc\" not found", "reason": "NotFound", "code": 404}),
            );
        });
        cluster
            .delete_job("shop", "deploycheck-load-abc")
            .await
            .unwrap();
        cluster
            .delete_job("shop", "deploycheck-load-abc")
            .await
            .unwrap();
        server.await.unwrap();
    }
}
