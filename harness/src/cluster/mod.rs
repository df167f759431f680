//! The only module that talks to Kubernetes (through kube-rs). Scenario logic sees the narrow
//! [`Cluster`] interface, so it is tested against a scripted fake; [`KubeCluster`] is the real
//! thing. Also: connecting to a chosen context, and the policy for destructive steps.

#[cfg(test)]
pub mod fake;
mod kube;
pub mod safety;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde::Serialize;

pub use self::kube::KubeCluster;

/// What scenarios need to know about a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PodState {
    pub name: String,
    pub uid: String,
    pub phase: String,
    /// The Ready condition is True.
    pub ready: bool,
    /// Marked for deletion (terminating).
    pub deleting: bool,
    /// Restarts summed over the pod's containers.
    pub restarts: i32,
    /// `Guaranteed`, `Burstable` or `BestEffort` (empty until the API server sets it).
    pub qos_class: String,
    /// `container: reason` for containers waiting with a reason (ImagePullBackOff, ...).
    pub waiting: Vec<String>,
    /// `container: reason` for containers whose previous run ended (OOMKilled, Error, ...).
    pub last_terminated: Vec<String>,
    /// PersistentVolumeClaims the pod mounts.
    pub claims: Vec<String>,
    /// The pod's labels, to say why a Service's selector does or does not match it.
    pub labels: BTreeMap<String, String>,
    /// When the API server created the pod (the cluster's clock).
    pub created: Option<SystemTime>,
    /// When the most recently started container began running (the cluster's clock): the
    /// start-up allowance of its probes counts from here.
    pub running_since: Option<SystemTime>,
    /// Each container's state in detail, for verdicts that quote the kubelet's own words.
    pub containers: Vec<ContainerInfo>,
    /// `PodScheduled=False`: the scheduler's reason and message (e.g. `Unschedulable: 0/1
    /// nodes are available: 1 Insufficient cpu.`).
    pub unschedulable: Option<String>,
    /// The node it was scheduled to.
    pub node: Option<String>,
}

/// One container of a pod, as the kubelet reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ContainerInfo {
    pub name: String,
    /// The image as the pod spec names it.
    pub image: String,
    pub ready: bool,
    pub restarts: i32,
    /// Why it is not running (`CreateContainerConfigError`, `ImagePullBackOff`, ...).
    pub waiting_reason: Option<String>,
    /// The kubelet's message for that (`couldn't find key k in Secret ns/s`).
    pub waiting_message: Option<String>,
    /// How its previous run ended (`OOMKilled`, `Error`, `Completed`), and with which code.
    pub last_reason: Option<String>,
    pub last_exit_code: Option<i32>,
    /// When its current run began (the cluster's clock).
    pub running_since: Option<SystemTime>,
}

/// Deployments and StatefulSets, the workloads scenarios roll out, scale and restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
        })
    }
}

/// A status condition of any object, flattened.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.kind, self.status)?;
        if !self.reason.is_empty() {
            write!(f, " ({})", self.reason)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// Rollout status of a Deployment or StatefulSet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkloadState {
    pub name: String,
    /// `spec.replicas`.
    pub desired: i32,
    pub ready: i32,
    /// For StatefulSets: the pods available; for Deployments: `availableReplicas`.
    pub available: i32,
    /// Pods running the current template.
    pub updated: i32,
    /// All pods the controller counts, old template included (`status.replicas`).
    pub total: i32,
    /// The controller has seen the latest spec (`observedGeneration >= generation`).
    pub observed: bool,
    pub conditions: Vec<Condition>,
}

impl WorkloadState {
    /// Every desired pod runs the current template, is ready and available, and no pod of an
    /// older template is left (what `kubectl rollout status` waits for).
    pub fn rolled_out(&self) -> bool {
        self.observed
            && self.total <= self.updated
            && self.updated >= self.desired
            && self.ready >= self.desired
            && self.available >= self.desired
    }

    /// `3/3 ready, 3 updated, 3 available`, for messages.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{}: {}/{} ready, {} updated, {} available",
            self.name, self.ready, self.desired, self.updated, self.available
        );
        if self.total > self.updated {
            text.push_str(&format!(
                ", {} still on the old template",
                self.total - self.updated
            ));
        }
        if !self.observed {
            text.push_str(", latest spec not yet observed");
        }
        for condition in &self.conditions {
            if condition.status != "True" || condition.kind == "ReplicaFailure" {
                text.push_str(&format!("; {condition}"));
            }
        }
        text
    }
}

/// A PersistentVolumeClaim's binding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PvcState {
    pub name: String,
    /// `Bound`, `Pending`, `Lost`.
    pub phase: String,
    pub storage_class: Option<String>,
}

/// What the HPA controller currently believes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HpaState {
    pub name: String,
    /// `Deployment/name`.
    pub target: String,
    pub min: i32,
    pub max: i32,
    pub current: i32,
    pub desired: i32,
    /// Average CPU utilisation in percent of requests; `None` is kubectl's `<unknown>`.
    pub cpu_percent: Option<i32>,
    pub cpu_target: Option<i32>,
    pub conditions: Vec<Condition>,
}

/// A Service as the scenarios see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`.
    pub kind: String,
    pub ports: Vec<i32>,
    pub headless: bool,
    /// `spec.selector`: which pods it routes to (empty: none are chosen by labels).
    pub selector: BTreeMap<String, String>,
    /// Each port's `targetPort` (a number or a port name), in the order of `ports`.
    pub target_ports: Vec<String>,
}

/// A StorageClass, for claims that name one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StorageClassInfo {
    pub name: String,
    /// Annotated `storageclass.kubernetes.io/is-default-class: "true"`.
    pub default: bool,
    pub provisioner: String,
}

/// A node, for images it holds and what it can schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    pub name: String,
    /// Every name of every image the node has (`status.images[].names`): what `kind load`
    /// and `imagePullPolicy: Never` rely on.
    pub images: Vec<String>,
    pub allocatable_cpu_millis: u64,
    pub allocatable_memory_bytes: u64,
}

/// How many images the kubelet reports in a node's status at most (`nodeStatusMaxImages`):
/// a node listing that many may hold more, unlisted.
pub const NODE_STATUS_MAX_IMAGES: usize = 50;

impl NodeInfo {
    /// The node lists `image`, compared as containerd names it (`app:1` is
    /// `docker.io/library/app:1`).
    pub fn has_image(&self, image: &str) -> bool {
        let wanted = crate::imageref::normalise_image(image);
        self.images
            .iter()
            .any(|listed| crate::imageref::normalise_image(listed) == wanted)
    }

    /// Its list is the whole truth: below the kubelet's cap, an image not listed is not there.
    pub fn images_complete(&self) -> bool {
        self.images.len() < NODE_STATUS_MAX_IMAGES
    }
}

/// Secrets and ConfigMaps, whose keys a pod may reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ConfigKind {
    Secret,
    ConfigMap,
}

impl std::fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Secret => "Secret",
            Self::ConfigMap => "ConfigMap",
        })
    }
}

/// A nodePort some Service of the cluster holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodePortUse {
    pub port: i32,
    /// `namespace/name` of the Service holding it.
    pub service: String,
}

/// One event, flattened for the diagnostics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    /// The Event object's name: one name per aggregated series, so a rising `count` under the
    /// same name is the same thing happening again. Empty in hand-written fixtures.
    pub id: String,
    /// `Pod/name`.
    pub object: String,
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    /// When it last happened (the cluster's clock).
    pub last_seen: Option<SystemTime>,
}

impl EventInfo {
    /// What identifies a series of this event across two reads of the event list.
    pub fn key(&self) -> String {
        if self.id.is_empty() {
            format!("{}|{}|{}", self.object, self.reason, self.message)
        } else {
            self.id.clone()
        }
    }
}

/// CPU and memory a pod uses, as the metrics API reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PodUsage {
    pub pod: String,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// What the metrics API (`metrics.k8s.io`, served by metrics-server) answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PodMetrics {
    /// The API is not served or not available; why, in the API server's words.
    Unavailable(String),
    /// The API answers; one sample per matching pod that has one (new pods have none yet).
    Samples(Vec<PodUsage>),
}

/// The end of a short-lived helper (pod or ephemeral container).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HelperRun {
    pub exit_code: Option<i32>,
    pub output: String,
}

impl HelperRun {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Whether applied objects get the [`MANAGED_BY`] label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labels {
    /// Objects deploycheck creates: labelled as ours.
    Ours,
    /// Someone's object put back as it was: its labels stay exactly as they were.
    AsTheyWere,
}

/// An ephemeral container to add to a running pod.
#[derive(Clone, Debug)]
pub struct Ephemeral<'a> {
    pub pod: &'a str,
    /// Whose process namespace it joins.
    pub target_container: &'a str,
    pub image: &'a str,
    /// The target's user, so it may signal the target's processes without privileges.
    pub run_as_user: Option<i64>,
    /// Run with `sh -c`.
    pub script: &'a str,
}

/// How a namespace deletion ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum NamespaceGone {
    Deleted,
    /// Still terminating at the deadline; what holds it.
    Stuck {
        finalizers: Vec<String>,
        conditions: Vec<Condition>,
    },
}

/// A byte stream to a pod's port (a port-forward).
pub trait Tunnel: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Tunnel for T {}

/// A wait that ended without its condition.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("not reached within {} s; last seen: {last_seen}", .waited.as_secs())]
    Timeout { waited: Duration, last_seen: String },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// `name (Running, ready, 0 restarts)` for each pod, for failure messages.
pub fn describe(pods: &[PodState]) -> String {
    if pods.is_empty() {
        return "no pods".into();
    }
    pods.iter()
        .map(|p| {
            let mut text = format!(
                "{} ({}{}{}, {} restarts",
                p.name,
                p.phase,
                if p.ready { ", ready" } else { ", not ready" },
                if p.deleting { ", terminating" } else { "" },
                p.restarts
            );
            for reason in p.waiting.iter().chain(&p.last_terminated) {
                text.push_str(&format!(", {reason}"));
            }
            text.push(')');
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What an endpoint wait saw last, for its timeout message.
pub fn endpoints_seen(service: &str, ready: &[String]) -> String {
    if ready.is_empty() {
        format!("Service {service} had no ready endpoints")
    } else {
        format!("Service {service} routed to {}", ready.join(", "))
    }
}

/// Label on everything the harness creates, so its objects are recognisable and nothing else
/// is ever cleaned up by mistake.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "deploycheck");

/// A fresh name for a throw-away namespace: `deploycheck-` and six random characters.
pub fn throwaway_namespace_name() -> String {
    use std::hash::{BuildHasher as _, RandomState};
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bits = RandomState::new().hash_one(std::time::SystemTime::now());
    let suffix: String = (0..6)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize] as char;
            bits /= ALPHABET.len() as u64;
            c
        })
        .collect();
    format!("deploycheck-{suffix}")
}

/// A condition over pods, for [`Cluster::wait_pods`].
pub type PodCondition<'a> = &'a (dyn Fn(&[PodState]) -> bool + Sync);
/// A condition over the pods behind a Service's ready endpoints, for
/// [`Cluster::wait_endpoints`].
pub type EndpointCondition<'a> = &'a (dyn Fn(&[String]) -> bool + Sync);
/// A condition over the namespace's events, for [`Cluster::wait_events`].
pub type EventCondition<'a> = &'a (dyn Fn(&[EventInfo]) -> bool + Sync);
/// A condition over a workload, for [`Cluster::wait_workload`].
pub type WorkloadCondition<'a> = &'a (dyn Fn(&WorkloadState) -> bool + Sync);

/// The narrow interface scenario logic uses. Every wait has a deadline. Nothing here reaches
/// outside the namespace it is given, except creating and deleting a namespace.
pub trait Cluster: Sync {
    /// The kube context, for the destructive-step policy and messages.
    fn context(&self) -> &str;

    /// Time on the clock every deadline of this client is measured with: monotonic, since the
    /// client was made. The fake's is virtual (its waits advance it), so tests can say how
    /// long a verdict took without sleeping.
    fn elapsed(&self) -> Duration;

    /// The API server's version (`v1.33.1`); the cheapest proof that the cluster answers.
    fn version(&self) -> impl Future<Output = Result<String, ClusterError>> + Send;

    fn namespace_exists(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<bool, ClusterError>> + Send;

    /// Creates `name` labelled [`MANAGED_BY`].
    fn create_namespace(&self, name: &str)
    -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Deletes `name` and waits until it is gone, at most `deadline`.
    fn delete_namespace(
        &self,
        name: &str,
        deadline: Duration,
    ) -> impl Future<Output = Result<NamespaceGone, ClusterError>> + Send;

    /// Server-side applies `objects` (JSON manifests) into `namespace`, as field manager
    /// `deploycheck`. Returns `Kind/name` of each.
    fn apply(
        &self,
        namespace: &str,
        objects: &[serde_json::Value],
        labels: Labels,
    ) -> impl Future<Output = Result<Vec<String>, ClusterError>> + Send;

    /// A workload's live manifest without status and server-set metadata, ready to re-apply.
    fn manifest(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> impl Future<Output = Result<Option<serde_json::Value>, ClusterError>> + Send;

    /// Deletes a workload and waits until it and its pods are gone (PersistentVolumeClaims
    /// stay), at most `deadline`.
    fn delete_workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        deadline: Duration,
    ) -> impl Future<Output = Result<(), WaitError>> + Send;

    fn workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> impl Future<Output = Result<Option<WorkloadState>, ClusterError>> + Send;

    /// Watches a workload until `done` holds, at most `deadline`.
    fn wait_workload(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        done: WorkloadCondition<'_>,
        deadline: Duration,
    ) -> impl Future<Output = Result<WorkloadState, WaitError>> + Send;

    /// The pod template of a workload.
    fn pod_template(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
    ) -> impl Future<Output = Result<Option<PodTemplateSpec>, ClusterError>> + Send;

    fn scale(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        replicas: i32,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// What `kubectl rollout restart` does: a new template annotation.
    fn restart(
        &self,
        namespace: &str,
        deployment: &str,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Pods in `namespace` matching the label `selector`.
    fn pods(
        &self,
        namespace: &str,
        selector: &str,
    ) -> impl Future<Output = Result<Vec<PodState>, ClusterError>> + Send;

    fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Deletes a Job and its pods (background propagation: the call does not wait for them).
    /// A Job that is already gone is not an error.
    fn delete_job(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Watches the matching pods until `done` holds for them, at most `deadline`.
    fn wait_pods(
        &self,
        namespace: &str,
        selector: &str,
        done: PodCondition<'_>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<PodState>, WaitError>> + Send;

    fn pvcs(
        &self,
        namespace: &str,
    ) -> impl Future<Output = Result<Vec<PvcState>, ClusterError>> + Send;

    fn hpa(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<HpaState>, ClusterError>> + Send;

    fn service(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<ServiceInfo>, ClusterError>> + Send;

    /// Every Service of the namespace.
    fn services(
        &self,
        namespace: &str,
    ) -> impl Future<Output = Result<Vec<ServiceInfo>, ClusterError>> + Send;

    /// Replaces a Service's selector as a whole (a blue-green switch; keys not in `selector`
    /// go).
    fn set_selector(
        &self,
        namespace: &str,
        service: &str,
        selector: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Every Deployment of the namespace as a release side: name, pod template labels,
    /// `spec.replicas`.
    fn deployments(
        &self,
        namespace: &str,
    ) -> impl Future<Output = Result<Vec<crate::strategy::Side>, ClusterError>> + Send;

    /// Names of the pods behind a Service's ready endpoints (from its EndpointSlices).
    fn ready_endpoints(
        &self,
        namespace: &str,
        service: &str,
    ) -> impl Future<Output = Result<Vec<String>, ClusterError>> + Send;

    /// Watches a Service's EndpointSlices until `done` holds for the names of the pods behind
    /// its ready endpoints, at most `deadline`. The EndpointSlice controller updates slices
    /// some time after a pod's Ready condition changes, so every claim about endpoints is a
    /// wait, never a single read.
    fn wait_endpoints(
        &self,
        namespace: &str,
        service: &str,
        done: EndpointCondition<'_>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<String>, WaitError>> + Send;

    /// Current CPU and memory of the matching pods, from the metrics API.
    fn pod_metrics(
        &self,
        namespace: &str,
        selector: &str,
    ) -> impl Future<Output = Result<PodMetrics, ClusterError>> + Send;

    /// The cluster's StorageClasses (a cluster-scoped read; nothing is changed).
    fn storage_classes(
        &self,
    ) -> impl Future<Output = Result<Vec<StorageClassInfo>, ClusterError>> + Send;

    /// The cluster's nodes: images they hold and what they can allocate (a read).
    fn nodes(&self) -> impl Future<Output = Result<Vec<NodeInfo>, ClusterError>> + Send;

    /// The keys (never the values) of a Secret or ConfigMap; `None` when it does not exist.
    fn config_keys(
        &self,
        namespace: &str,
        kind: ConfigKind,
        name: &str,
    ) -> impl Future<Output = Result<Option<Vec<String>>, ClusterError>> + Send;

    /// The nodePorts held by Services in every namespace (a read: nodePorts are cluster-wide).
    fn node_ports_in_use(
        &self,
    ) -> impl Future<Output = Result<Vec<NodePortUse>, ClusterError>> + Send;

    /// Recent events in the namespace, oldest first.
    fn events(
        &self,
        namespace: &str,
    ) -> impl Future<Output = Result<Vec<EventInfo>, ClusterError>> + Send;

    /// Watches the namespace's events until `done` holds for them (oldest first), at most
    /// `deadline`.
    fn wait_events(
        &self,
        namespace: &str,
        done: EventCondition<'_>,
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<EventInfo>, WaitError>> + Send;

    /// The last `tail` lines of a container's log (of its previous run with `previous`).
    fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        previous: bool,
        tail: i64,
    ) -> impl Future<Output = Result<String, ClusterError>> + Send;

    /// Runs `script` with `sh -c` in a short-lived pod of `image` labelled [`MANAGED_BY`],
    /// returns its exit code and output, and deletes the pod.
    fn run_helper(
        &self,
        namespace: &str,
        image: &str,
        script: &str,
        deadline: Duration,
    ) -> impl Future<Output = Result<HelperRun, ClusterError>> + Send;

    /// Runs a script in an ephemeral container added to a pod; returns when it has ended.
    fn run_ephemeral(
        &self,
        namespace: &str,
        spec: &Ephemeral<'_>,
        deadline: Duration,
    ) -> impl Future<Output = Result<HelperRun, ClusterError>> + Send;

    /// A byte stream to `port` of `pod` (a port-forward).
    fn tunnel(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
    ) -> impl Future<Output = Result<Box<dyn Tunnel>, ClusterError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no usable kubeconfig ({0}); set KUBECONFIG or create ~/.kube/config (kind and minikube write one)"
    )]
    NoKubeconfig(String),
    #[error("context `{wanted}` is not in the kubeconfig (available: {available})")]
    UnknownContext { wanted: String, available: String },
    #[error("the kubeconfig has no current context; pass --context (available: {0})")]
    NoCurrentContext(String),
    #[error("cannot use context `{context}`: {reason}")]
    Config { context: String, reason: String },
    #[error(
        "cannot reach the cluster of context `{context}` ({reason}); is it running? \
         (`kind get clusters`, `minikube status`, `kubectl cluster-info`)"
    )]
    Unreachable { context: String, reason: String },
    #[error(
        "{action} in namespace `{namespace}` is forbidden: {reason}; \
         the user of this context needs a Role that grants it"
    )]
    Forbidden {
        action: String,
        namespace: String,
        reason: String,
    },
    #[error("{action} in namespace `{namespace}` failed: {reason}")]
    Api {
        action: String,
        namespace: String,
        reason: String,
    },
    #[error("cannot apply {object}: {reason}")]
    Manifest { object: String, reason: String },
}

/// A client for `context` (default: the kubeconfig's current context), and that context's name.
///
/// # Errors
/// A missing kubeconfig, an unknown context, or a context kube-rs cannot turn into a client.
pub async fn connect(context: Option<&str>) -> Result<(::kube::Client, String), ClusterError> {
    let kubeconfig = Kubeconfig::read().map_err(|e| ClusterError::NoKubeconfig(e.to_string()))?;
    client_for(kubeconfig, context).await
}

/// [`connect`] with an already loaded kubeconfig (tests, or `--kubeconfig`).
///
/// # Errors
/// See [`connect`].
pub async fn client_for(
    kubeconfig: Kubeconfig,
    context: Option<&str>,
) -> Result<(::kube::Client, String), ClusterError> {
    let available = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let name = match context {
        Some(wanted) => {
            if !kubeconfig.contexts.iter().any(|c| c.name == wanted) {
                return Err(ClusterError::UnknownContext {
                    wanted: wanted.into(),
                    available,
                });
            }
            wanted.to_string()
        }
        None => kubeconfig
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or(ClusterError::NoCurrentContext(available))?,
    };
    let options = KubeConfigOptions {
        context: Some(name.clone()),
        ..KubeConfigOptions::default()
    };
    let config = ::kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| ClusterError::Config {
            context: name.clone(),
            reason: e.to_string(),
        })?;
    let client = ::kube::Client::try_from(config).map_err(|e| ClusterError::Config {
        context: name.clone(),
        reason: e.to_string(),
    })?;
    Ok((client, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: kind-deploycheck
clusters:
  - name: kind-deploycheck
    cluster:
      server: https://127.0.0.1:6443
      insecure-skip-tls-verify: true
contexts:
  - name: kind-deploycheck
    context: {cluster: kind-deploycheck, user: kind-deploycheck}
  - name: prod
    context: {cluster: kind-deploycheck, user: kind-deploycheck}
users:
  - name: kind-deploycheck
    user: {token: not-a-real-token}
"#;

    /// Building a client must not panic: with two rustls crypto providers compiled in,
    /// kube's `Client::try_from` panics at run time (DESIGN.md §8). One provider is used.
    #[tokio::test]
    async fn a_client_builds_for_the_current_and_a_named_context() {
        let kubeconfig = Kubeconfig::from_yaml(KUBECONFIG).unwrap();
        let (_, name) = client_for(kubeconfig.clone(), None).await.unwrap();
        assert_eq!(name, "kind-deploycheck");
        let (_, name) = client_for(kubeconfig, Some("prod")).await.unwrap();
        assert_eq!(name, "prod");
    }

    #[tokio::test]
    async fn an_unknown_context_lists_the_available_ones() {
        let kubeconfig = Kubeconfig::from_yaml(KUBECONFIG).unwrap();
        let error = client_for(kubeconfig, Some("staging")).await.err().unwrap();
        assert_eq!(
            error.to_string(),
            "context `staging` is not in the kubeconfig (available: kind-deploycheck, prod)"
        );
    }

    #[test]
    fn a_rollout_is_done_only_when_no_old_pod_is_left() {
        let midway = WorkloadState {
            name: "web".into(),
            desired: 2,
            ready: 3,
            available: 3,
            updated: 2,
            total: 3,
            observed: true,
            conditions: Vec::new(),
        };
        assert!(!midway.rolled_out());
        assert_eq!(
            midway.summary(),
            "web: 3/2 ready, 2 updated, 3 available, 1 still on the old template"
        );
        let done = WorkloadState {
            ready: 2,
            available: 2,
            total: 2,
            ..midway.clone()
        };
        assert!(done.rolled_out());
        let unobserved = WorkloadState {
            observed: false,
            ..done
        };
        assert!(!unobserved.rolled_out());
    }

    #[test]
    fn throwaway_names_are_valid_and_differ() {
        let a = throwaway_namespace_name();
        assert!(
            a.starts_with("deploycheck-") && a.len() == "deploycheck-".len() + 6,
            "{a}"
        );
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        let names: std::collections::BTreeSet<String> =
            (0..20).map(|_| throwaway_namespace_name()).collect();
        assert!(names.len() > 15, "names repeat: {names:?}");
    }

    #[tokio::test]
    async fn no_current_context_says_what_to_do() {
        let text = KUBECONFIG.replace("current-context: kind-deploycheck", "");
        let error = client_for(Kubeconfig::from_yaml(&text).unwrap(), None)
            .await
            .err()
            .unwrap();
        assert!(error.to_string().contains("pass --context"), "{error}");
    }
}
