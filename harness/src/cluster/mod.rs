//! The only module that talks to Kubernetes (through kube-rs). Scenario logic sees the narrow
//! [`Cluster`] interface, so it is tested against a scripted fake; [`KubeCluster`] is the real
//! thing. Also: connecting to a chosen context, and the policy for destructive steps.

#[cfg(test)]
pub mod fake;
mod kube_cluster;
pub mod safety;

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Serialize;

pub use kube_cluster::KubeCluster;

/// What scenarios need to know about a pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
}

/// A wait that ended without its condition.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("not reached within {waited:?}; last seen: {}", describe(.last_seen))]
    Timeout {
        waited: Duration,
        last_seen: Vec<PodState>,
    },
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
            format!(
                "{} ({}{}{}, {} restarts)",
                p.name,
                p.phase,
                if p.ready { ", ready" } else { ", not ready" },
                if p.deleting { ", terminating" } else { "" },
                p.restarts
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
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

/// The narrow interface scenario logic uses. Every wait has a deadline.
pub trait Cluster {
    /// The kube context, for the destructive-step policy and messages.
    fn context(&self) -> &str;

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

    /// Creates `name` labelled [`MANAGED_BY`].
    fn create_namespace(&self, name: &str)
    -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Watches the matching pods until `done` holds for them, at most `deadline`.
    fn wait_pods(
        &self,
        namespace: &str,
        selector: &str,
        done: &(dyn Fn(&[PodState]) -> bool + Sync),
        deadline: Duration,
    ) -> impl Future<Output = Result<Vec<PodState>, WaitError>> + Send;
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
    #[error("{action} in namespace `{namespace}` failed: {reason}")]
    Api {
        action: String,
        namespace: String,
        reason: String,
    },
}

/// A client for `context` (default: the kubeconfig's current context), and that context's name.
///
/// # Errors
/// A missing kubeconfig, an unknown context, or a context kube-rs cannot turn into a client.
pub async fn connect(context: Option<&str>) -> Result<(kube::Client, String), ClusterError> {
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
) -> Result<(kube::Client, String), ClusterError> {
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
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| ClusterError::Config {
            context: name.clone(),
            reason: e.to_string(),
        })?;
    let client = kube::Client::try_from(config).map_err(|e| ClusterError::Config {
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
