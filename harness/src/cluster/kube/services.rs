//! Services and their endpoints: a Service's ports and selector, the pods behind its ready
//! endpoints (read and watched), and the nodePorts held cluster-wide.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::watcher;

use super::KubeCluster;
use super::watch::WatchedList;
use crate::cluster::{ClusterError, EndpointCondition, NodePortUse, ServiceInfo, WaitError};

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

/// Our view of a Service.
fn service_info(service: Service) -> ServiceInfo {
    let spec = service.spec.unwrap_or_default();
    ServiceInfo {
        name: service.metadata.name.unwrap_or_default(),
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
}

/// The label selector of a Service's EndpointSlices.
fn service_name_label(service: &str) -> String {
    format!("kubernetes.io/service-name={service}")
}

impl KubeCluster {
    pub(super) async fn service(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ServiceInfo>, ClusterError> {
        self.get_in(namespace, "Service", name, service_info).await
    }

    pub(super) async fn services(&self, namespace: &str) -> Result<Vec<ServiceInfo>, ClusterError> {
        let services: Vec<Service> = self
            .list_in(namespace, &ListParams::default(), "listing Services")
            .await?;
        Ok(services.into_iter().map(service_info).collect())
    }

    /// A merge patch that names every key of the current selector the new one lacks as `null`
    /// (a merge patch keeps what it does not name), so the selector is replaced whole.
    pub(super) async fn set_selector(
        &self,
        namespace: &str,
        service: &str,
        selector: &BTreeMap<String, String>,
    ) -> Result<(), ClusterError> {
        let action = format!("changing the selector of Service {service}");
        let current = self
            .service(namespace, service)
            .await?
            .ok_or_else(|| ClusterError::Api {
                action: action.clone(),
                namespace: namespace.into(),
                reason: format!("Service {service} does not exist"),
            })?
            .selector;
        let mut merged: serde_json::Map<String, serde_json::Value> = current
            .keys()
            .filter(|key| !selector.contains_key(*key))
            .map(|key| (key.clone(), serde_json::Value::Null))
            .collect();
        merged.extend(selector.iter().map(|(k, v)| (k.clone(), v.clone().into())));
        let patch = Patch::Merge(serde_json::json!({"spec": {"selector": merged}}));
        Api::<Service>::namespaced(self.client.clone(), namespace)
            .patch(service, &PatchParams::default(), &patch)
            .await
            .map(drop)
            .map_err(|e| self.error(&action, namespace, e))
    }

    pub(super) async fn ready_endpoints(
        &self,
        namespace: &str,
        service: &str,
    ) -> Result<Vec<String>, ClusterError> {
        let of_service = ListParams::default().labels(&service_name_label(service));
        let listing = format!("listing endpoints of {service}");
        let slices: Vec<EndpointSlice> = self.list_in(namespace, &of_service, &listing).await?;
        Ok(ready_pods(&slices))
    }

    pub(super) async fn wait_endpoints(
        &self,
        namespace: &str,
        service: &str,
        done: EndpointCondition<'_>,
        deadline: Duration,
    ) -> Result<Vec<String>, WaitError> {
        let watched = WatchedList {
            action: format!("watching endpoints of {service}"),
            namespace,
            config: watcher::Config::default().labels(&service_name_label(service)),
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
            |ready| crate::cluster::endpoints_seen(service, ready),
            deadline,
        )
        .await
    }

    pub(super) async fn node_ports_in_use(&self) -> Result<Vec<NodePortUse>, ClusterError> {
        let services: Vec<Service> = self.list_all("listing Services of every namespace").await?;
        Ok(services
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
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{get, list, patch, scripted};
    use super::*;
    use crate::cluster::Cluster;

    #[tokio::test]
    async fn services_lists_the_namespace_and_set_selector_replaces_it_whole() {
        let script = [get("/api/v1/namespaces/shop/services").answer(list(json!([
            {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web", "version": "blue"},
             "ports": [{"port": 80, "targetPort": "http"}]}}
        ])))];
        let call = async |c: &KubeCluster| Cluster::services(c, "shop").await;
        let services = scripted(script, call).await.unwrap();
        assert_eq!(
            (
                services[0].name.as_str(),
                services[0].selector.get("version")
            ),
            ("web", Some(&"blue".to_string()))
        );
        let green: BTreeMap<String, String> = [
            ("app".into(), "web".into()),
            ("version".into(), "green".into()),
        ]
        .into();
        let blue = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web", "version": "blue", "slot": "a"}}});
        let script = [
            get("/api/v1/namespaces/shop/services/web").answer(blue.clone()),
            patch("/api/v1/namespaces/shop/services/web")
                .content_type("application/merge-patch+json")
                .body(|body| {
                    assert_eq!(
                        *body,
                        json!({"spec": {"selector": {"app": "web", "version": "green", "slot": null}}})
                    )
                })
                .answer(blue),
        ];
        let call = async |c: &KubeCluster| Cluster::set_selector(c, "shop", "web", &green).await;
        scripted(script, call).await.unwrap();
    }

    #[tokio::test]
    async fn wait_endpoints_watches_the_services_slices_and_judges_their_union() {
        let endpoint = |pod: &str, ready: bool| {
            let target = json!({"kind": "Pod", "name": pod});
            json!({"addresses": ["10.0.0.1"], "conditions": {"ready": ready}, "targetRef": target})
        };
        let slices = list(json!([
            {"metadata": {"name": "web-abc"}, "addressType": "IPv4",
             "endpoints": [endpoint("web-1", true), endpoint("web-2", false)]},
            {"metadata": {"name": "web-def"}, "addressType": "IPv4", "endpoints": [endpoint("web-3", true)]}
        ]));
        let path = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices";
        let script = [get(path)
            .query("labelSelector", "kubernetes.io/service-name=web")
            .answer(slices)];
        let both = |pods: &[String]| pods == ["web-1", "web-3"];
        let wait = Duration::from_secs(5);
        let call =
            async |c: &KubeCluster| Cluster::wait_endpoints(c, "shop", "web", &both, wait).await;
        assert_eq!(scripted(script, call).await.unwrap(), ["web-1", "web-3"]);
    }
}
