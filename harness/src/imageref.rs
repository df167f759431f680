//! Container image references as the cluster sees them: how the API server defaults
//! `imagePullPolicy`, and how containerd names an image in a node's `status.images`, so an
//! image in a manifest can be looked for on the nodes (the preflight before an apply, and the
//! verdict on a pod that cannot get its image).

use std::fmt;

/// `imagePullPolicy`, as written or as the API server defaults it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        })
    }
}

/// The policy the API server gives a container that names none: `Always` for `:latest` or no
/// tag (and no digest), else `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> PullPolicy {
    let (name, digest) = split_digest(image);
    match split_tag(name).1 {
        Some("latest") => PullPolicy::Always,
        None if digest.is_none() => PullPolicy::Always,
        _ => PullPolicy::IfNotPresent,
    }
}

fn split_digest(image: &str) -> (&str, Option<&str>) {
    match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    }
}

/// `repo:tag` into the repository and the tag; a `:` before the last `/` is a registry port.
fn split_tag(name: &str) -> (&str, Option<&str>) {
    match name.rfind(':') {
        Some(i) if !name[i + 1..].contains('/') => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    }
}

/// An image reference as containerd lists it in a node's `status.images[].names`:
/// `docker.io/library/` before a bare Docker Hub name, `docker.io/` before `user/img`,
/// `:latest` when no tag is given. A digest decides on its own (`repo@sha256:...`, the tag
/// dropped), as the runtime resolves such a reference by its digest.
pub fn normalise_image(image: &str) -> String {
    let (name, digest) = split_digest(image);
    let (repository, tag) = split_tag(name);
    // Docker's rule: the first path component is a registry when it looks like a host.
    let (domain, path) = match repository.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first, rest.to_string())
        }
        _ => ("docker.io", repository.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    match digest {
        Some(digest) => format!("{domain}/{path}@{digest}"),
        None => format!("{domain}/{path}:{}", tag.unwrap_or("latest")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_compare_the_way_containerd_names_them() {
        for (written, listed) in [
            (
                "deploycheck-app:0.1.0",
                "docker.io/library/deploycheck-app:0.1.0",
            ),
            ("user/img:1", "docker.io/user/img:1"),
            ("nginx", "docker.io/library/nginx:latest"),
            (
                "docker.io/library/nginx:1.25",
                "docker.io/library/nginx:1.25",
            ),
            (
                "index.docker.io/library/nginx:1.25",
                "docker.io/library/nginx:1.25",
            ),
            ("docker.io/nginx:1.25", "docker.io/library/nginx:1.25"),
            ("localhost/app:1", "localhost/app:1"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            (
                "registry.example.com/flask-mongodb-app:1.0.3",
                "registry.example.com/flask-mongodb-app:1.0.3",
            ),
            ("ghcr.io/org/team/app:v2", "ghcr.io/org/team/app:v2"),
            ("mongo@sha256:0123", "docker.io/library/mongo@sha256:0123"),
            // Tag and digest: the digest decides.
            (
                "mongo:7.0@sha256:0123",
                "docker.io/library/mongo@sha256:0123",
            ),
            (
                "quay.io:443/org/app@sha256:ab",
                "quay.io:443/org/app@sha256:ab",
            ),
        ] {
            assert_eq!(normalise_image(written), listed, "{written}");
            assert_eq!(
                normalise_image(listed),
                listed,
                "{listed} is already normal"
            );
        }
        assert_ne!(
            normalise_image("mongo:7.0"),
            normalise_image("mongo@sha256:0123")
        );
    }

    #[test]
    fn pull_policy_defaults_like_the_api_server() {
        assert_eq!(default_pull_policy("nginx"), PullPolicy::Always);
        assert_eq!(default_pull_policy("nginx:latest"), PullPolicy::Always);
        assert_eq!(
            default_pull_policy("localhost:5000/nginx"),
            PullPolicy::Always
        );
        assert_eq!(default_pull_policy("nginx:1.25"), PullPolicy::IfNotPresent);
        assert_eq!(
            default_pull_policy("nginx@sha256:ab"),
            PullPolicy::IfNotPresent
        );
    }
}
