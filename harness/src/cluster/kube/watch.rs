//! The one way a list is waited for: a watch judged once its initial list is complete, read
//! once more before it times out; and how watch errors become kube errors.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use kube::Api;
use kube::runtime::watcher;

use super::KubeCluster;
use crate::cluster::{ClusterError, WaitError};

/// What [`KubeCluster::watch_list`] watches: a list of `K` kept by `key` as `V`, and how the
/// current list is presented to the condition.
pub(super) struct WatchedList<'a, Key, View, Present> {
    pub(super) action: String,
    pub(super) namespace: &'a str,
    pub(super) config: watcher::Config,
    pub(super) key: Key,
    pub(super) view: View,
    pub(super) present: Present,
}

impl KubeCluster {
    /// Watches a list until `done` holds for it, at most `deadline`. Nothing is judged before
    /// the initial list is complete (an empty map at `Init` is not "none"), and a wait always
    /// reads before it times out: with no complete list by then, `read` lists once, and the
    /// timeout says what that read found (`describe`).
    pub(super) async fn watch_list<K, V, T, Key, View, Present, Read>(
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

pub(super) fn wait_error(error: kube::runtime::wait::Error) -> kube::Error {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{ApiRequest, is_watch, list, routed};
    use super::*;
    use crate::cluster::{Cluster, PodState};

    /// The same for pods and endpoints: with no time left, "no pods" or "no ready endpoints"
    /// is only said after a list that found none; here the list finds one of each.
    #[tokio::test]
    async fn waits_for_pods_and_endpoints_with_no_time_left_still_read_once() {
        let pods = list(json!([
            {"metadata": {"name": "web-1", "uid": "u1"}, "status": {"phase": "Running"}}
        ]));
        let slices = list(json!([{
            "metadata": {"name": "web-abc"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true},
                "targetRef": {"kind": "Pod", "name": "web-1"}}]
        }]));
        // Every list gets the same answer, whether it is a watch's own (if the watch gets that
        // far before its zero deadline is noticed) or the read after the deadline; the watch
        // requests themselves are never answered.
        let route = move |request: &ApiRequest| match request.uri().path() {
            _ if is_watch(request) => None,
            path if path.ends_with("/pods") => Some(pods.clone()),
            _ => Some(slices.clone()),
        };
        let (never, none) = (|_: &[PodState]| false, |ready: &[String]| ready.is_empty());
        let call = async |c: &KubeCluster| {
            let pods = Cluster::wait_pods(c, "shop", "app=web", &never, Duration::ZERO).await;
            let endpoints = Cluster::wait_endpoints(c, "shop", "web", &none, Duration::ZERO).await;
            (pods, endpoints)
        };
        let (pods, endpoints) = routed(route, call).await;
        let pods_seen = "not reached within 0 s; last seen: web-1 (Running, not ready, 0 restarts)";
        assert_eq!(pods.unwrap_err().to_string(), pods_seen);
        let endpoints_seen = "not reached within 0 s; last seen: Service web routed to web-1";
        assert_eq!(endpoints.unwrap_err().to_string(), endpoints_seen);
    }
}
