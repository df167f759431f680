//! Why a Service has fewer ready endpoints than a check needs, in one sentence: its selector
//! matches no pod (and which labels the pods do carry), the workload asks for fewer replicas
//! (and whether an HPA is changing that), matching pods are not Ready (and why), or the
//! EndpointSlices have not caught up with Ready pods yet.

use std::collections::BTreeMap;

use super::{Target, selector};
use crate::cluster::{
    Cluster, HpaState, PodState, ServiceInfo, WorkloadKind, WorkloadState, describe,
};

/// What was read about a Service and the pods it should route to.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    pub service: &'a ServiceInfo,
    /// Names of the pods behind its ready endpoints.
    pub ready: &'a [String],
    /// How many ready endpoints the check needs.
    pub need: usize,
    /// The pods its selector matches.
    pub matching: &'a [PodState],
    /// Whose pods the Service is for, for the sentence: `app`, `database`.
    pub whose: &'a str,
    /// Those pods, found by the profile's labels rather than the Service's selector.
    pub profile_pods: &'a [PodState],
    /// The workload that should run them, when it could be read.
    pub workload: Option<(WorkloadKind, &'a WorkloadState)>,
    /// The HPA of the profile, when there is one; ignored unless it targets `workload`.
    pub hpa: Option<&'a HpaState>,
}

/// One sentence on the Service's ready endpoints and, when there are fewer than needed, the
/// cause: no selector, a selector that matches no pod (with the labels the pods do carry), a
/// workload that asks for fewer replicas (and what its HPA is doing about it), matching pods
/// that are not Ready (with their state), or Ready pods the EndpointSlices do not list yet.
pub fn cause(seen: &Observed<'_>) -> String {
    let mut text = headline(seen.service, seen.ready, seen.need);
    if seen.ready.len() >= seen.need {
        return text;
    }
    let service = seen.service;
    text.push_str(": ");
    if service.selector.is_empty() {
        text.push_str(
            "it has no selector, so Kubernetes chooses no pod for it (its EndpointSlices are \
             written by hand, or it is an ExternalName Service)",
        );
        text.push_str(&profile_pods_labels(service, seen.whose, seen.profile_pods));
        return text;
    }
    let wanted = selector(&service.selector);
    if seen.matching.is_empty() {
        text.push_str(&selector_misses(service, seen.whose, seen.profile_pods));
        if seen.profile_pods.is_empty()
            && let Some(replicas) = replicas(seen)
        {
            text.push_str(&format!("; {replicas}"));
        }
        return text;
    }
    let matched = seen.matching.len();
    text.push_str(&format!(
        "its selector `{wanted}` matches {matched} {}",
        plural(matched, "pod", "pods")
    ));
    let short_of_replicas = seen
        .workload
        .is_some_and(|(_, w)| usize::try_from(w.desired).unwrap_or(0) < seen.need);
    if (matched < seen.need || short_of_replicas)
        && let Some(replicas) = replicas(seen)
    {
        text.push_str(&format!("; {replicas}"));
    }
    let not_ready: Vec<PodState> = seen
        .matching
        .iter()
        .filter(|p| !p.ready || p.deleting)
        .cloned()
        .collect();
    if !not_ready.is_empty() {
        text.push_str(&format!(
            "; {} of them {} not Ready: {}",
            not_ready.len(),
            plural(not_ready.len(), "is", "are"),
            describe(&not_ready)
        ));
    }
    let lagging: Vec<&str> = seen
        .matching
        .iter()
        .filter(|p| p.ready && !p.deleting && !seen.ready.contains(&p.name))
        .map(|p| p.name.as_str())
        .collect();
    if !lagging.is_empty() {
        text.push_str(&format!(
            "; {} {} Ready but not yet a ready endpoint (the EndpointSlice controller lags \
             pod conditions)",
            lagging.join(", "),
            plural(lagging.len(), "is", "are")
        ));
    }
    let unmatched: Vec<PodState> = seen
        .profile_pods
        .iter()
        .filter(|p| seen.matching.iter().all(|m| m.name != p.name))
        .cloned()
        .collect();
    if !unmatched.is_empty() {
        text.push_str(&format!(
            "; the {}'s {} {} {} not matched, carrying",
            seen.whose,
            plural(unmatched.len(), "pod", "pods"),
            unmatched
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            plural(unmatched.len(), "is", "are"),
        ));
        text.push_str(&label_sets(&service.selector, &unmatched));
    }
    text
}

/// `Service web has 1 ready endpoint (web-a), fewer than 2`.
fn headline(service: &ServiceInfo, ready: &[String], need: usize) -> String {
    let mut text = format!(
        "Service {} has {} ready {}",
        service.name,
        ready.len(),
        plural(ready.len(), "endpoint", "endpoints")
    );
    if !ready.is_empty() {
        text.push_str(&format!(" ({})", ready.join(", ")));
    }
    if ready.len() < need {
        text.push_str(&format!(", fewer than {need}"));
    }
    text
}

/// `its selector `a=b` matches no pod; the app's pods carry ...`: what a Service whose
/// selector matches none of `whose` pods (found by the profile's labels) misses, and how.
pub fn selector_misses(service: &ServiceInfo, whose: &str, profile_pods: &[PodState]) -> String {
    format!(
        "its selector `{}` matches no pod{}",
        selector(&service.selector),
        profile_pods_labels(service, whose, profile_pods)
    )
}

/// `; the app's pods carry ...`, or that there are none.
fn profile_pods_labels(service: &ServiceInfo, whose: &str, profile_pods: &[PodState]) -> String {
    if profile_pods.is_empty() {
        return format!("; no {whose} pod exists either");
    }
    format!(
        "; the {whose}'s pods carry{}",
        label_sets(&service.selector, profile_pods)
    )
}

/// ` `a=1,b=2` (web-a, web-b): a=1 where the selector wants a=x` for each distinct label set.
fn label_sets(wanted: &BTreeMap<String, String>, pods: &[PodState]) -> String {
    let mut sets: BTreeMap<String, (Vec<&str>, Vec<String>)> = BTreeMap::new();
    for pod in pods {
        let entry = sets
            .entry(selector(&pod.labels))
            .or_insert_with(|| (Vec::new(), differences(wanted, &pod.labels)));
        entry.0.push(&pod.name);
    }
    sets.into_iter()
        .map(|(labels, (names, differences))| {
            let labels = if labels.is_empty() {
                "no labels".to_string()
            } else {
                format!("`{labels}`")
            };
            let mut text = format!(" {labels} ({})", names.join(", "));
            if !differences.is_empty() {
                text.push_str(&format!(": {}", differences.join(", ")));
            }
            text
        })
        .collect::<Vec<_>>()
        .join(" and")
}

/// What keeps `labels` from matching `wanted`, label by label.
fn differences(
    wanted: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|(key, value)| match labels.get(key) {
            Some(have) if have == value => None,
            Some(have) => Some(format!(
                "{key}={have} where the selector wants {key}={value}"
            )),
            None => Some(format!(
                "no {key} label where the selector wants {key}={value}"
            )),
        })
        .collect()
}

/// `Deployment web asks for 1 replica and HPA web (min 2) is raising it to 2`.
fn replicas(seen: &Observed<'_>) -> Option<String> {
    let (kind, workload) = seen.workload?;
    let desired = workload.desired;
    let mut text = format!(
        "{kind} {} asks for {desired} {}",
        workload.name,
        plural(usize::try_from(desired).unwrap_or(0), "replica", "replicas")
    );
    if let Some(hpa) = seen
        .hpa
        .filter(|h| h.target == format!("{kind}/{}", workload.name))
    {
        let name = &hpa.name;
        let min = hpa.min;
        if hpa.desired > desired {
            text.push_str(&format!(
                " and HPA {name} (min {min}) is raising it to {}",
                hpa.desired
            ));
        } else if hpa.desired > 0 && hpa.desired < desired {
            text.push_str(&format!(
                " and HPA {name} (min {min}) is lowering it to {}",
                hpa.desired
            ));
        } else if min > desired {
            text.push_str(&format!(
                " and HPA {name} (min {min}) has yet to raise it to {min}"
            ));
        }
    }
    if workload.ready < desired || !workload.observed {
        text.push_str(&format!(" ({})", workload.summary()));
    }
    Some(text)
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// What the Service's ready endpoints are and, when fewer than `need`, why (see [`cause`]),
/// read through the cluster: the Service, the pods its selector matches, its ready endpoints,
/// the pods by the profile's labels, the workload behind them and (for the app) the HPA. The
/// database's Service is explained with the StatefulSet, any other with the app's Deployment.
/// Never fails: what could not be read is said in the sentence.
pub async fn explain<C: Cluster>(target: &Target<C>, service: &str, need: usize) -> String {
    report(target, service, need).await.1
}

/// [`explain`], but `None` when the Service has at least `need` ready endpoints.
pub async fn shortfall<C: Cluster>(
    target: &Target<C>,
    service: &str,
    need: usize,
) -> Option<String> {
    let (enough, text) = report(target, service, need).await;
    (!enough).then_some(text)
}

/// Whether the Service has `need` ready endpoints, and the sentence.
async fn report<C: Cluster>(target: &Target<C>, service: &str, need: usize) -> (bool, String) {
    let (cluster, namespace, profile) = (&*target.cluster, &target.namespace, &target.profile);
    let info = match cluster.service(namespace, service).await {
        Ok(Some(info)) => info,
        Ok(None) => {
            return (
                false,
                format!("Service {service} does not exist in namespace `{namespace}`"),
            );
        }
        Err(error) => {
            return (
                false,
                format!("Service {service} could not be read: {error}"),
            );
        }
    };
    let ready = match cluster.ready_endpoints(namespace, service).await {
        Ok(ready) => ready,
        Err(error) => {
            return (
                false,
                format!("the ready endpoints of Service {service} could not be read: {error}"),
            );
        }
    };
    if ready.len() >= need {
        return (true, headline(&info, &ready, need));
    }
    let matching = if info.selector.is_empty() {
        Vec::new()
    } else {
        let wanted = selector(&info.selector);
        match cluster.pods(namespace, &wanted).await {
            Ok(pods) => pods,
            Err(error) => {
                return (
                    false,
                    format!(
                        "{}; the pods its selector `{wanted}` matches could not be listed: {error}",
                        headline(&info, &ready, need)
                    ),
                );
            }
        }
    };
    let database = service == profile.database.service;
    let (whose, profile_selector, kind, workload_name) = if database {
        (
            "database",
            target.db_selector(),
            WorkloadKind::StatefulSet,
            &profile.database.statefulset,
        )
    } else {
        (
            "app",
            target.app_selector(),
            WorkloadKind::Deployment,
            &profile.app.deployment,
        )
    };
    let mut unread = Vec::new();
    let mut missing = String::new();
    let profile_pods = match cluster.pods(namespace, &profile_selector).await {
        Ok(pods) => pods,
        Err(error) => {
            unread.push(format!("the {whose}'s pods: {error}"));
            Vec::new()
        }
    };
    let workload = match cluster.workload(namespace, kind, workload_name).await {
        Ok(Some(workload)) => Some(workload),
        Ok(None) => {
            // Worth saying only when no pod runs either.
            if profile_pods.is_empty() {
                missing = format!("; {kind} {workload_name} does not exist");
            }
            None
        }
        Err(error) => {
            unread.push(format!("{kind} {workload_name}: {error}"));
            None
        }
    };
    let hpa = if database || profile.hpa.name.is_empty() {
        None
    } else {
        match cluster.hpa(namespace, &profile.hpa.name).await {
            Ok(hpa) => hpa,
            Err(error) => {
                unread.push(format!("HPA {}: {error}", profile.hpa.name));
                None
            }
        }
    };
    let mut text = cause(&Observed {
        service: &info,
        ready: &ready,
        need,
        matching: &matching,
        whose,
        profile_pods: &profile_pods,
        workload: workload.as_ref().map(|w| (kind, w)),
        hpa: hpa.as_ref(),
    });
    text.push_str(&missing);
    if !unread.is_empty() {
        text.push_str(&format!("; could not read {}", unread.join("; ")));
    }
    (false, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::{ScriptedCluster, pod, reference_rolled_out, workload};
    use crate::scenario::tests::target;

    const APP: &str = "app.kubernetes.io/name=deploycheck-app";

    fn labelled(name: &str, ready: bool, labels: &[(&str, &str)]) -> PodState {
        PodState {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..pod(name, name, ready)
        }
    }

    fn app_pod(name: &str, ready: bool) -> PodState {
        labelled(
            name,
            ready,
            &[
                ("app.kubernetes.io/name", "deploycheck-app"),
                ("pod-template-hash", "5d9f"),
            ],
        )
    }

    fn web(selector: &[(&str, &str)]) -> ServiceInfo {
        ServiceInfo {
            name: "web".into(),
            kind: "ClusterIP".into(),
            ports: vec![80],
            selector: selector
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ServiceInfo::default()
        }
    }

    /// What was read about `service` when nothing else was: no endpoints, pods, workload or
    /// HPA, with one endpoint needed.
    fn nothing_but(service: &ServiceInfo) -> Observed<'_> {
        Observed {
            service,
            ready: &[],
            need: 1,
            matching: &[],
            whose: "app",
            profile_pods: &[],
            workload: None,
            hpa: None,
        }
    }

    /// The reference stack rolled out, but for the workload of `kind` that `state` names.
    fn rolled_out_but(kind: WorkloadKind, state: WorkloadState) -> ScriptedCluster {
        ScriptedCluster::new("kind-kind").with(|s| {
            reference_rolled_out(s);
            s.workloads.insert((kind, state.name.clone()), state);
        })
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_selector_that_matches_no_pod_names_the_labels_the_pods_carry() {
        let service = web(&[("app", "flask")]);
        let pods = [
            labelled(
                "web-a",
                true,
                &[("app", "flask-app"), ("pod-template-hash", "5d9f")],
            ),
            labelled(
                "web-b",
                true,
                &[("app", "flask-app"), ("pod-template-hash", "5d9f")],
            ),
        ];
        let text = cause(&Observed {
            profile_pods: &pods,
            ..nothing_but(&service)
        });
        assert_eq!(
            text,
            "Service web has 0 ready endpoints, fewer than 1: its selector `app=flask` matches \
             no pod; the app's pods carry `app=flask-app,pod-template-hash=5d9f` (web-a, web-b): \
             app=flask-app where the selector wants app=flask"
        );
    }

    #[test]
    fn no_pods_at_all_points_at_the_workload() {
        let service = web(&[("app", "web")]);
        let deployment = WorkloadState {
            conditions: vec![crate::cluster::Condition {
                kind: "ReplicaFailure".into(),
                status: "True".into(),
                reason: "FailedCreate".into(),
                message: "exceeded quota".into(),
            }],
            ..workload("web", 2, 0)
        };
        let seen = Observed {
            workload: Some((WorkloadKind::Deployment, &deployment)),
            ..nothing_but(&service)
        };
        let text = cause(&seen);
        assert!(
            text.contains("matches no pod; no app pod exists either; Deployment web asks for 2 replicas (web: 0/2 ready")
                && text.contains("ReplicaFailure=True (FailedCreate): exceeded quota"),
            "{text}"
        );
        let bare = cause(&Observed {
            service: &web(&[]),
            workload: None,
            ..seen
        });
        assert!(bare.contains("it has no selector"), "{bare}");
    }

    #[test]
    fn too_few_replicas_names_the_workload_and_what_its_hpa_is_doing() {
        let service = web(&[("app", "web")]);
        let matching = [labelled("web-a", true, &[("app", "web")])];
        let deployment = workload("web", 1, 1);
        let hpa = HpaState {
            name: "web".into(),
            target: "Deployment/web".into(),
            min: 2,
            max: 5,
            current: 1,
            desired: 2,
            ..HpaState::default()
        };
        let seen = Observed {
            ready: &names(&["web-a"]),
            need: 2,
            matching: &matching,
            profile_pods: &matching,
            workload: Some((WorkloadKind::Deployment, &deployment)),
            hpa: Some(&hpa),
            ..nothing_but(&service)
        };
        assert_eq!(
            cause(&seen),
            "Service web has 1 ready endpoint (web-a), fewer than 2: its selector `app=web` \
             matches 1 pod; Deployment web asks for 1 replica and HPA web (min 2) is raising it \
             to 2"
        );
        // Before the HPA has acted; and an HPA aimed at something else, which says nothing
        // about this Deployment.
        let idle = HpaState {
            desired: 1,
            ..hpa.clone()
        };
        let other = HpaState {
            target: "Deployment/api".into(),
            ..hpa.clone()
        };
        for (hpa, end) in [
            (&idle, "HPA web (min 2) has yet to raise it to 2"),
            (&other, "Deployment web asks for 1 replica"),
        ] {
            let text = cause(&Observed {
                hpa: Some(hpa),
                ..seen
            });
            assert!(text.ends_with(end), "{text}");
        }
    }

    #[test]
    fn matching_pods_that_are_not_ready_are_described() {
        let service = web(&[("app", "web")]);
        let mut waiting = labelled("web-b", false, &[("app", "web")]);
        waiting.phase = "Running".into();
        waiting.waiting = vec!["app: CrashLoopBackOff".into()];
        let matching = [labelled("web-a", true, &[("app", "web")]), waiting];
        let deployment = workload("web", 2, 1);
        let text = cause(&Observed {
            ready: &names(&["web-a"]),
            need: 2,
            matching: &matching,
            profile_pods: &matching,
            workload: Some((WorkloadKind::Deployment, &deployment)),
            ..nothing_but(&service)
        });
        assert_eq!(
            text,
            "Service web has 1 ready endpoint (web-a), fewer than 2: its selector `app=web` \
             matches 2 pods; 1 of them is not Ready: web-b (Running, not ready, 0 restarts, \
             app: CrashLoopBackOff)"
        );
    }

    #[test]
    fn ready_pods_missing_from_the_endpoints_are_a_lag_and_unmatched_pods_are_named() {
        let service = web(&[("app", "web"), ("track", "stable")]);
        let matching = [
            labelled("web-a", true, &[("app", "web"), ("track", "stable")]),
            labelled("web-b", true, &[("app", "web"), ("track", "stable")]),
        ];
        let all = [
            matching[0].clone(),
            matching[1].clone(),
            labelled("web-c", true, &[("app", "web")]),
        ];
        let text = cause(&Observed {
            ready: &names(&["web-a"]),
            need: 3,
            matching: &matching,
            profile_pods: &all,
            ..nothing_but(&service)
        });
        assert!(
            text.contains("; web-b is Ready but not yet a ready endpoint"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "; the app's pod web-c is not matched, carrying `app=web` (web-c): no track label \
                 where the selector wants track=stable"
            ),
            "{text}"
        );
    }

    #[test]
    fn enough_endpoints_is_a_plain_count() {
        let service = web(&[("app", "web")]);
        let text = cause(&Observed {
            ready: &names(&["web-a", "web-b"]),
            need: 2,
            ..nothing_but(&service)
        });
        assert_eq!(text, "Service web has 2 ready endpoints (web-a, web-b)");
    }

    #[tokio::test]
    async fn explain_reads_the_service_its_pods_the_deployment_and_the_hpa() {
        let app = workload("deploycheck-app", 1, 1);
        let cluster = rolled_out_but(WorkloadKind::Deployment, app).with(|s| {
            s.hpa = [HpaState {
                name: "deploycheck-app".into(),
                target: "Deployment/deploycheck-app".into(),
                min: 2,
                max: 5,
                current: 1,
                desired: 2,
                ..HpaState::default()
            }]
            .into();
            s.pods.insert(APP.into(), vec![app_pod("app-a", true)]);
            s.endpoints
                .insert("deploycheck-app".into(), [names(&["app-a"])].into());
        });
        let target = target(cluster);
        let text = explain(&target, "deploycheck-app", 2).await;
        assert_eq!(
            text,
            "Service deploycheck-app has 1 ready endpoint (app-a), fewer than 2: its selector \
             `app.kubernetes.io/name=deploycheck-app` matches 1 pod; Deployment deploycheck-app \
             asks for 1 replica and HPA deploycheck-app (min 2) is raising it to 2"
        );
        assert_eq!(shortfall(&target, "deploycheck-app", 1).await, None);
        assert_eq!(
            explain(&target, "deploycheck-app", 1).await,
            "Service deploycheck-app has 1 ready endpoint (app-a)"
        );
    }

    #[tokio::test]
    async fn explain_names_a_selector_that_matches_no_pod() {
        let cluster = ScriptedCluster::new("kind-kind").with(|s| {
            reference_rolled_out(s);
            s.services.get_mut("deploycheck-app").unwrap().selector =
                [("app".to_string(), "flask".to_string())].into();
            s.pods.insert(
                APP.into(),
                vec![app_pod("app-a", true), app_pod("app-b", true)],
            );
        });
        let text = explain(&target(cluster), "deploycheck-app", 1).await;
        assert_eq!(
            text,
            "Service deploycheck-app has 0 ready endpoints, fewer than 1: its selector \
             `app=flask` matches no pod; the app's pods carry \
             `app.kubernetes.io/name=deploycheck-app,pod-template-hash=5d9f` (app-a, app-b): no \
             app label where the selector wants app=flask"
        );
    }

    #[tokio::test]
    async fn explain_never_fails() {
        let missing = explain(
            &target(ScriptedCluster::new("kind-kind")),
            "deploycheck-app",
            1,
        )
        .await;
        assert_eq!(
            missing,
            "Service deploycheck-app does not exist in namespace `ns`"
        );
        let forbidden = ScriptedCluster::new("kind-kind").with(|s| {
            reference_rolled_out(s);
            s.forbidden.insert("pods");
        });
        let text = explain(&target(forbidden), "deploycheck-app", 1).await;
        assert_eq!(
            text,
            "Service deploycheck-app has 0 ready endpoints, fewer than 1; the pods its selector \
             `app.kubernetes.io/name=deploycheck-app` matches could not be listed: pods in \
             namespace `ns` is forbidden: User \"ci\" cannot pods in the namespace; the user of \
             this context needs a Role that grants it"
        );
        let no_hpa = ScriptedCluster::new("kind-kind").with(|s| {
            reference_rolled_out(s);
            s.forbidden.insert("hpa");
        });
        let text = explain(&target(no_hpa), "deploycheck-app", 1).await;
        assert!(
            text.contains("matches no pod; no app pod exists either; Deployment deploycheck-app asks for 2 replicas")
                && text.contains("; could not read HPA deploycheck-app: hpa in namespace `ns` is forbidden"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_database_service_is_explained_with_its_statefulset() {
        let cluster = rolled_out_but(WorkloadKind::StatefulSet, workload("mongodb", 0, 0));
        let text = explain(&target(cluster), "mongodb", 1).await;
        assert_eq!(
            text,
            "Service mongodb has 0 ready endpoints, fewer than 1: its selector \
             `app.kubernetes.io/name=mongodb` matches no pod; no database pod exists either; \
             StatefulSet mongodb asks for 0 replicas"
        );
    }
}
