//! A scripted [`Cluster`] for testing scenario logic without a cluster (test builds only, so it
//! can never stand in for the real one). Each call to `wait_pods` walks the script's snapshots
//! in order, as a watch would deliver them; running out of script is the deadline passing.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use super::{Cluster, ClusterError, PodState, WaitError};

pub struct ScriptedCluster {
    pub context: String,
    /// What `pods` answers.
    pub current: Vec<PodState>,
    /// What the watch sees after a change, in order.
    pub script: Mutex<VecDeque<Vec<PodState>>>,
    /// Pods deleted so far.
    pub deleted: Mutex<Vec<String>>,
    /// Makes `delete_pod` fail, as RBAC would.
    pub forbid_delete: bool,
    /// Namespaces created so far.
    pub created: Mutex<Vec<String>>,
}

impl ScriptedCluster {
    pub fn new(context: &str, current: Vec<PodState>, script: Vec<Vec<PodState>>) -> Self {
        Self {
            context: context.into(),
            current,
            script: Mutex::new(script.into()),
            deleted: Mutex::default(),
            forbid_delete: false,
            created: Mutex::default(),
        }
    }
}

/// A pod in a given state, for scripts.
pub fn pod(name: &str, uid: &str, ready: bool) -> PodState {
    PodState {
        name: name.into(),
        uid: uid.into(),
        phase: if ready { "Running" } else { "Pending" }.into(),
        ready,
        deleting: false,
        restarts: 0,
    }
}

impl Cluster for ScriptedCluster {
    fn context(&self) -> &str {
        &self.context
    }

    async fn pods(&self, _namespace: &str, _selector: &str) -> Result<Vec<PodState>, ClusterError> {
        Ok(self.current.clone())
    }

    async fn delete_pod(&self, namespace: &str, name: &str) -> Result<(), ClusterError> {
        if self.forbid_delete {
            return Err(ClusterError::Api {
                action: format!("deleting pod {name}"),
                namespace: namespace.into(),
                reason: "pods \"x\" is forbidden: User \"ci\" cannot delete resource \"pods\""
                    .into(),
            });
        }
        self.deleted.lock().unwrap().push(name.into());
        Ok(())
    }

    async fn create_namespace(&self, name: &str) -> Result<(), ClusterError> {
        self.created.lock().unwrap().push(name.into());
        Ok(())
    }

    async fn wait_pods(
        &self,
        _namespace: &str,
        _selector: &str,
        done: &(dyn Fn(&[PodState]) -> bool + Sync),
        deadline: Duration,
    ) -> Result<Vec<PodState>, WaitError> {
        let mut last_seen = self.current.clone();
        while let Some(snapshot) = self.script.lock().unwrap().pop_front() {
            if done(&snapshot) {
                return Ok(snapshot);
            }
            last_seen = snapshot;
        }
        Err(WaitError::Timeout {
            waited: deadline,
            last_seen,
        })
    }
}
