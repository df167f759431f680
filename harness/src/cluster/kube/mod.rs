//! [`Cluster`] over kube-rs: server-side apply, workloads, pods, helpers and waits with
//! deadlines. Every wait is a watch (`kube::runtime`) wrapped in a timeout. One file per
//! concern; this one holds the client, how its errors are classified, and the one `Cluster`
//! impl, each of whose methods is its concern's inherent method of the same name.

/// Flattens a Kubernetes condition list: every kind has its own condition type, with the same
/// field names. (Defined before the modules below, which use it.)
macro_rules! flat_conditions {
    ($list:expr) => {
        $list
            .into_iter()
            .flatten()
            .map(|c| $crate::cluster::Condition {
                kind: c.type_,
                status: c.status,
                reason: c.reason.unwrap_or_default(),
                message: c.message.unwrap_or_default(),
            })
            .collect::<Vec<_>>()
    };
}

mod apply;
mod events;
mod helpers;
mod jobs;
mod metrics;
mod namespaces;
mod pods;
mod port_forward;
mod reads;
mod services;
#[cfg(test)]
mod testing;
mod watch;
mod workloads;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kube::Api;
use kube::api::ListParams;

use super::{
    Cluster, ClusterError, ConfigKind, EndpointCondition, Ephemeral, EventCondition, EventInfo,
    HelperRun, HpaState, Labels, NamespaceGone, NodeInfo, NodePortUse, PodCondition, PodMetrics,
    PodState, PvcState, ServiceInfo, StorageClassInfo, Tunnel, WaitError, WorkloadCondition,
    WorkloadKind, WorkloadState,
};

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

    /// Every object of kind `K` in the cluster (of every namespace, for a namespaced kind).
    async fn list_all<K: Readable>(&self, action: &str) -> Result<Vec<K>, ClusterError> {
        Api::<K>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .map(|list| list.items)
            .map_err(|e| self.error(action, "", e))
    }

    /// The objects of kind `K` in `namespace` that `params` select.
    async fn list_in<K: Readable<Scope = NamespaceResourceScope>>(
        &self,
        namespace: &str,
        params: &ListParams,
        action: &str,
    ) -> Result<Vec<K>, ClusterError> {
        Api::<K>::namespaced(self.client.clone(), namespace)
            .list(params)
            .await
            .map(|list| list.items)
            .map_err(|e| self.error(action, namespace, e))
    }

    /// The object of kind `K` named `name` in `namespace` as `view` sees it; `None` when there
    /// is none. An error names the kind as `what` (`HPA`, `Secret`).
    async fn get_in<K: Readable<Scope = NamespaceResourceScope>, V>(
        &self,
        namespace: &str,
        what: impl std::fmt::Display,
        name: &str,
        view: impl FnOnce(K) -> V,
    ) -> Result<Option<V>, ClusterError> {
        Api::<K>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map(|object| object.map(view))
            .map_err(|e| self.error(&format!("reading {what} {name}"), namespace, e))
    }
}

/// What a kind needs for [`KubeCluster::list_all`], [`KubeCluster::list_in`] and
/// [`KubeCluster::get_in`]: every k8s-openapi type has it.
trait Readable:
    kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned
{
}

impl<K> Readable for K where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned
{
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

/// Each `fn name(&self, arg: Type, ..) -> Output;` becomes that [`Cluster`] method, calling the
/// inherent method of the same name in its concern's file (an inherent method is found before
/// a trait's, so none of them calls itself).
macro_rules! delegate {
    ($(fn $name:ident(&self $(, $arg:ident: $type:ty)*) -> $output:ty;)*) => {
        $(async fn $name(&self $(, $arg: $type)*) -> $output {
            self.$name($($arg),*).await
        })*
    };
}

impl Cluster for KubeCluster {
    fn context(&self) -> &str {
        &self.context
    }

    fn elapsed(&self) -> Duration {
        self.made.elapsed()
    }

    delegate! {
        // reads.rs
        fn version(&self) -> Result<String, ClusterError>;
        fn storage_classes(&self) -> Result<Vec<StorageClassInfo>, ClusterError>;
        fn nodes(&self) -> Result<Vec<NodeInfo>, ClusterError>;
        fn config_keys(&self, namespace: &str, kind: ConfigKind, name: &str)
            -> Result<Option<Vec<String>>, ClusterError>;
        fn pvcs(&self, namespace: &str) -> Result<Vec<PvcState>, ClusterError>;
        // namespaces.rs
        fn namespace_exists(&self, name: &str) -> Result<bool, ClusterError>;
        fn create_namespace(&self, name: &str) -> Result<(), ClusterError>;
        fn delete_namespace(&self, name: &str, deadline: Duration)
            -> Result<NamespaceGone, ClusterError>;
        // apply.rs
        fn apply(&self, namespace: &str, objects: &[serde_json::Value], labels: Labels)
            -> Result<Vec<String>, ClusterError>;
        // workloads.rs
        fn manifest(&self, namespace: &str, kind: WorkloadKind, name: &str)
            -> Result<Option<serde_json::Value>, ClusterError>;
        fn delete_workload(&self, namespace: &str, kind: WorkloadKind, name: &str,
            deadline: Duration) -> Result<(), WaitError>;
        fn workload(&self, namespace: &str, kind: WorkloadKind, name: &str)
            -> Result<Option<WorkloadState>, ClusterError>;
        fn wait_workload(&self, namespace: &str, kind: WorkloadKind, name: &str,
            done: WorkloadCondition<'_>, deadline: Duration) -> Result<WorkloadState, WaitError>;
        fn pod_template(&self, namespace: &str, kind: WorkloadKind, name: &str)
            -> Result<Option<PodTemplateSpec>, ClusterError>;
        fn scale(&self, namespace: &str, kind: WorkloadKind, name: &str, replicas: i32)
            -> Result<(), ClusterError>;
        fn restart(&self, namespace: &str, deployment: &str) -> Result<(), ClusterError>;
        fn deployments(&self, namespace: &str)
            -> Result<Vec<crate::strategy::Side>, ClusterError>;
        // pods.rs
        fn pods(&self, namespace: &str, selector: &str) -> Result<Vec<PodState>, ClusterError>;
        fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), ClusterError>;
        fn wait_pods(&self, namespace: &str, selector: &str, done: PodCondition<'_>,
            deadline: Duration) -> Result<Vec<PodState>, WaitError>;
        // jobs.rs
        fn delete_job(&self, namespace: &str, name: &str) -> Result<(), ClusterError>;
        // services.rs
        fn service(&self, namespace: &str, name: &str) -> Result<Option<ServiceInfo>, ClusterError>;
        fn services(&self, namespace: &str) -> Result<Vec<ServiceInfo>, ClusterError>;
        fn set_selector(&self, namespace: &str, service: &str,
            selector: &BTreeMap<String, String>) -> Result<(), ClusterError>;
        fn ready_endpoints(&self, namespace: &str, service: &str)
            -> Result<Vec<String>, ClusterError>;
        fn wait_endpoints(&self, namespace: &str, service: &str, done: EndpointCondition<'_>,
            deadline: Duration) -> Result<Vec<String>, WaitError>;
        fn node_ports_in_use(&self) -> Result<Vec<NodePortUse>, ClusterError>;
        // metrics.rs
        fn pod_metrics(&self, namespace: &str, selector: &str) -> Result<PodMetrics, ClusterError>;
        fn hpa(&self, namespace: &str, name: &str) -> Result<Option<HpaState>, ClusterError>;
        // events.rs
        fn events(&self, namespace: &str) -> Result<Vec<EventInfo>, ClusterError>;
        fn wait_events(&self, namespace: &str, done: EventCondition<'_>, deadline: Duration)
            -> Result<Vec<EventInfo>, WaitError>;
        fn logs(&self, namespace: &str, pod: &str, container: &str, previous: bool, tail: i64)
            -> Result<String, ClusterError>;
        // helpers.rs
        fn run_helper(&self, namespace: &str, image: &str, script: &str, deadline: Duration)
            -> Result<HelperRun, ClusterError>;
        fn run_ephemeral(&self, namespace: &str, spec: &Ephemeral<'_>, deadline: Duration)
            -> Result<HelperRun, ClusterError>;
        // port_forward.rs
        fn tunnel(&self, namespace: &str, pod: &str, port: u16)
            -> Result<Box<dyn Tunnel>, ClusterError>;
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{delete, get, mocked, scripted};
    use super::*;

    /// An error's text begins with `start` and names `part`.
    #[track_caller]
    fn assert_says(text: &str, start: &str, part: &str) {
        assert!(text.starts_with(start), "{text}");
        assert!(text.contains(part), "{text}");
    }

    #[tokio::test]
    async fn an_api_error_names_the_action_and_namespace() {
        let message = "pods \"web-1\" is forbidden: User \"ci\" cannot delete resource \"pods\"";
        let script =
            [delete("/api/v1/namespaces/shop/pods/web-1").status(403, "Forbidden", message)];
        let call = async |c: &KubeCluster| Cluster::delete_pod(c, "shop", "web-1").await;
        let error = scripted(script, call).await.unwrap_err().to_string();
        let forbidden = "deleting pod web-1 in namespace `shop` is forbidden";
        assert_says(&error, forbidden, "forbidden");
    }

    #[tokio::test]
    async fn a_403_status_is_forbidden() {
        let message = "pods is forbidden: User \"ci\" cannot list resource \"pods\" in API group \"\" in the namespace \"shop\"";
        let script = [get("/api/v1/namespaces/shop/pods")
            .query("labelSelector", "app=web")
            .status(403, "Forbidden", message)];
        let call = async |c: &KubeCluster| Cluster::pods(c, "shop", "app=web").await;
        let error = scripted(script, call).await.unwrap_err();
        assert!(matches!(error, ClusterError::Forbidden { .. }), "{error:?}");
        let text = error.to_string();
        let listing = "listing pods app=web in namespace `shop` is forbidden: pods is forbidden";
        assert_says(&text, listing, "is forbidden");
    }

    #[tokio::test]
    async fn a_failed_connection_is_unreachable() {
        let refused = "tcp connect error: Connection refused (os error 111)";
        let script = [get("/api/v1/namespaces/shop/pods").refused(refused)];
        let call = async |c: &KubeCluster| Cluster::pods(c, "shop", "app=web").await;
        let error = scripted(script, call).await.unwrap_err();
        let unreachable = matches!(error, ClusterError::Unreachable { .. });
        assert!(unreachable, "{error:?}");
        let text = error.to_string();
        let context = "cannot reach the cluster of context `kind-test`";
        assert_says(&text, context, "Connection refused");
    }

    #[tokio::test]
    async fn a_gone_server_is_unreachable() {
        let (cluster, handle) = mocked();
        drop(handle);
        let call = Cluster::delete_pod(&cluster, "shop", "web-1");
        let result = tokio::time::timeout(Duration::from_secs(5), call).await;
        let error = result.expect("the call returns").unwrap_err();
        let unreachable = matches!(error, ClusterError::Unreachable { .. });
        assert!(unreachable, "{error:?}");
        let context = "cannot reach the cluster of context `kind-test`";
        assert!(error.to_string().starts_with(context), "{error}");
    }
}
