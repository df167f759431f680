//! What the cluster says about the namespace: its events (read and watched) and container
//! logs.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::Api;
use kube::api::{ListParams, LogParams};
use kube::runtime::watcher;

use super::KubeCluster;
use super::watch::WatchedList;
use crate::cluster::{ClusterError, EventCondition, EventInfo, WaitError};

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

impl KubeCluster {
    pub(super) async fn events(&self, namespace: &str) -> Result<Vec<EventInfo>, ClusterError> {
        let events: Vec<Event> = self
            .list_in(namespace, &ListParams::default(), "listing events")
            .await?;
        let mut events: Vec<EventInfo> = events.into_iter().map(event_info).collect();
        events.sort_by_key(|e| e.last_seen);
        Ok(events)
    }

    pub(super) async fn wait_events(
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

    pub(super) async fn logs(
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
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    use super::super::testing::{ApiRequest, get, is_watch, list, routed, scripted};
    use super::*;
    use crate::cluster::Cluster;

    #[tokio::test]
    async fn events_carry_their_series_name_count_and_last_time() {
        let script = [get("/api/v1/namespaces/shop/events").answer(list(json!([
            {"metadata": {"name": "web-1.17a8"}, "involvedObject": {"kind": "Pod", "name": "web-1"},
             "type": "Warning", "reason": "Unhealthy", "message": "Liveness probe failed", "count": 3,
             "lastTimestamp": "2026-11-29T10:00:30Z"},
            {"metadata": {"name": "web.17a9"}, "involvedObject": {"kind": "HorizontalPodAutoscaler", "name": "web"},
             "type": "Warning", "reason": "FailedGetResourceMetric", "message": "did not receive metrics",
             "eventTime": "2026-11-29T10:00:00.000000Z",
             "series": {"count": 4, "lastObservedTime": "2026-11-29T10:00:40.000000Z"}}
        ])))];
        let call = async |c: &KubeCluster| Cluster::events(c, "shop").await;
        let events = scripted(script, call).await.unwrap();
        let at = |text: &str| Some(SystemTime::from(text.parse::<Timestamp>().unwrap()));
        assert_eq!(events.len(), 2);
        let seen = |e: &EventInfo| (e.id.clone(), e.count, e.last_seen);
        assert_eq!(
            seen(&events[0]),
            ("web-1.17a8".into(), 3, at("2026-11-29T10:00:30Z"))
        );
        assert_eq!(
            seen(&events[1]),
            ("web.17a9".into(), 4, at("2026-11-29T10:00:40Z"))
        );
    }

    #[tokio::test]
    async fn wait_events_watches_the_namespaces_events_until_the_one_awaited() {
        let events = list(json!([{
            "metadata": {"name": "web-1.killing"}, "involvedObject": {"kind": "Pod", "name": "web-1"},
            "reason": "Killing", "type": "Normal", "count": 1,
            "message": "Container app failed liveness probe, will be restarted"
        }]));
        let route = move |request: &ApiRequest| {
            assert_eq!(request.uri().path(), "/api/v1/namespaces/shop/events");
            (!is_watch(request)).then(|| events.clone())
        };
        let killed = |events: &[EventInfo]| events.iter().any(|e| e.reason == "Killing");
        let deadline = Duration::from_secs(5);
        let call = async |c: &KubeCluster| Cluster::wait_events(c, "shop", &killed, deadline).await;
        let events = routed(route, call).await.unwrap();
        assert_eq!(events[0].object, "Pod/web-1");
        assert_eq!(events[0].id, "web-1.killing");
    }
}
