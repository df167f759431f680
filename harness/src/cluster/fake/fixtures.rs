//! The states scripts are made of: a pod, a workload, and the reference stack rolled out.

use super::State;
use crate::cluster::{
    HpaState, NodeInfo, PodState, PvcState, ServiceInfo, StorageClassInfo, WorkloadKind,
    WorkloadState,
};

/// A pod in a given state, for scripts.
pub fn pod(name: &str, uid: &str, ready: bool) -> PodState {
    PodState {
        name: name.into(),
        uid: uid.into(),
        phase: if ready { "Running" } else { "Pending" }.into(),
        ready,
        qos_class: "Burstable".into(),
        ..PodState::default()
    }
}

/// A workload with `ready` of `desired` pods, all updated and available.
pub fn workload(name: &str, desired: i32, ready: i32) -> WorkloadState {
    WorkloadState {
        name: name.into(),
        desired,
        ready,
        available: ready,
        updated: desired,
        total: desired,
        observed: true,
        conditions: Vec::new(),
    }
}

/// The reference stack rolled out: both workloads ready, the database's claim bound, the HPA
/// aimed at the app, both Services (the mongodb one with its port).
pub fn reference_rolled_out(s: &mut State) {
    s.workloads.insert(
        (WorkloadKind::Deployment, "deploycheck-app".into()),
        workload("deploycheck-app", 2, 2),
    );
    s.workloads.insert(
        (WorkloadKind::StatefulSet, "mongodb".into()),
        workload("mongodb", 1, 1),
    );
    s.pvcs = vec![PvcState {
        name: "data-mongodb-0".into(),
        phase: "Bound".into(),
        storage_class: Some("standard".into()),
    }];
    // What kind and run-2's cluster have: one default class, one node with the images loaded.
    s.storage_classes = vec![StorageClassInfo {
        name: "standard".into(),
        default: true,
        provisioner: "rancher.io/local-path".into(),
    }];
    s.nodes = vec![NodeInfo {
        name: "kind-control-plane".into(),
        images: vec![
            "docker.io/library/deploycheck-app:0.1.0".into(),
            "docker.io/library/mongo:7.0".into(),
            "docker.io/library/busybox:1.36".into(),
        ],
        allocatable_cpu_millis: 2000,
        allocatable_memory_bytes: 8 << 30,
    }];
    s.hpa = [HpaState {
        name: "deploycheck-app".into(),
        target: "Deployment/deploycheck-app".into(),
        ..HpaState::default()
    }]
    .into();
    s.services.insert(
        "deploycheck-app".into(),
        ServiceInfo {
            name: "deploycheck-app".into(),
            kind: "NodePort".into(),
            ports: vec![5000],
            target_ports: vec!["http".into()],
            headless: false,
            selector: [(
                "app.kubernetes.io/name".to_string(),
                "deploycheck-app".to_string(),
            )]
            .into(),
        },
    );
    s.services.insert(
        "mongodb".into(),
        ServiceInfo {
            name: "mongodb".into(),
            kind: "ClusterIP".into(),
            ports: vec![27017],
            target_ports: vec!["27017".into()],
            headless: false,
            selector: [("app.kubernetes.io/name".to_string(), "mongodb".to_string())].into(),
        },
    );
}
