//! Which clusters destructive steps (pod deletion, fault injection) may touch.
//!
//! Pure functions, so the policy is tested without a cluster. The harness refuses destructive
//! steps on any context that does not clearly name a local, throw-away cluster, unless the
//! user passed `--allow-destructive`.

/// Context names (or prefixes ending in `-`) that local cluster tools create.
const LOCAL_CONTEXTS: [&str; 7] = [
    "kind-",
    "k3d-",
    "minikube",
    "docker-desktop",
    "rancher-desktop",
    "orbstack",
    "colima",
];

/// Whether `context` names a cluster on this machine, by the tools' own naming.
pub fn is_local_context(context: &str) -> bool {
    LOCAL_CONTEXTS.iter().any(|local| {
        if local.ends_with('-') {
            context.starts_with(local) && context.len() > local.len()
        } else {
            context == *local || context.starts_with(&format!("{local}-"))
        }
    })
}

/// The verdict on a destructive step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destructive {
    Allowed,
    /// Skip the step; the text says why and how to allow it.
    Refused(String),
}

/// Decides whether destructive steps may run on `context`.
pub fn decide(context: &str, allow_destructive: bool) -> Destructive {
    if allow_destructive || is_local_context(context) {
        Destructive::Allowed
    } else {
        Destructive::Refused(format!(
            "context `{context}` does not look like a local cluster (kind-*, k3d-*, minikube, \
             docker-desktop, rancher-desktop, orbstack, colima); pass --allow-destructive to \
             delete pods and inject faults there"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_tools_are_recognised_by_their_naming() {
        for local in [
            "kind-kind",
            "kind-deploycheck",
            "k3d-dev",
            "minikube",
            "minikube-2",
            "docker-desktop",
            "rancher-desktop",
            "orbstack",
        ] {
            assert!(is_local_context(local), "{local}");
        }
        for remote in [
            "kind",
            "kind-",
            "arn:aws:eks:eu-west-1:123:cluster/prod",
            "gke_project_zone_prod",
            "prod-minikube",
            "my-kind-cluster",
            "",
        ] {
            assert!(!is_local_context(remote), "{remote}");
        }
    }

    #[test]
    fn remote_contexts_need_the_flag() {
        assert_eq!(decide("kind-kind", false), Destructive::Allowed);
        assert_eq!(decide("gke_p_z_prod", true), Destructive::Allowed);
        match decide("gke_p_z_prod", false) {
            Destructive::Refused(reason) => {
                assert!(reason.contains("gke_p_z_prod") && reason.contains("--allow-destructive"));
            }
            Destructive::Allowed => panic!("a remote context must be refused"),
        }
    }
}
