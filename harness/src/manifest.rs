//! Loads what `lint` reads: YAML files, directories, kustomize directories, stdin, Dockerfiles.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::inputs::{
    is_dockerfile, is_kustomization, is_kustomization_file, is_yaml, looks_like_image,
};
use crate::yaml::{self, Node};

/// One Kubernetes object and where it was read.
#[derive(Clone, Debug)]
pub struct Object {
    pub kind: String,
    pub api_version: String,
    pub name: String,
    pub namespace: Option<String>,
    /// File (or `<stdin>`, or `DIR (kustomize)`) the object came from.
    pub origin: String,
    pub node: Node,
}

impl Object {
    /// `Kind/name`, as kubectl prints it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// The objects of `kind`, in the order they were read.
pub fn of_kind<'a>(objects: &'a [Object], kind: &'a str) -> impl Iterator<Item = &'a Object> {
    objects.iter().filter(move |o| o.kind == kind)
}

/// A Dockerfile and the context directory next to it (for `.dockerignore`).
#[derive(Clone, Debug)]
pub struct Dockerfile {
    pub path: PathBuf,
    pub text: String,
}

/// Everything read from the inputs.
#[derive(Debug, Default)]
pub struct Inputs {
    pub objects: Vec<Object>,
    pub dockerfiles: Vec<Dockerfile>,
    /// Container images given as inputs (tarballs, OCI layouts), for the image rules.
    pub images: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: no such file or directory")]
    Missing { path: PathBuf },
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: malformed YAML: {message}")]
    Yaml { origin: String, message: String },
    #[error(
        "{dir}: is a kustomize directory, and rendering it needs `kubectl` (1.27+ has kustomize \
         v5 built in): {source}"
    )]
    NoKubectl {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir}: `kubectl kustomize` failed: {stderr}")]
    Kustomize { dir: PathBuf, stderr: String },
    #[error("{path}: found no Kubernetes manifests (*.yaml, *.yml) or Dockerfile")]
    Empty { path: PathBuf },
}

/// Reads every input. `-` reads YAML from standard input.
///
/// # Errors
/// The first input that is missing, unreadable, malformed, or that kustomize cannot render.
pub fn load(inputs: &[PathBuf]) -> Result<Inputs, LoadError> {
    let mut loaded = Inputs::default();
    for input in inputs {
        if input.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| LoadError::Read {
                    path: input.clone(),
                    source,
                })?;
            loaded.objects.extend(objects_in(&text, "<stdin>")?);
            continue;
        }
        // Only a path given by name: a tarball lying in a manifest directory is no input.
        if looks_like_image(input) {
            loaded.images.push(input.clone());
            continue;
        }
        let before = (loaded.objects.len(), loaded.dockerfiles.len());
        let mut kustomizations = Vec::new();
        load_path(input, &mut loaded, &mut kustomizations)?;
        // Rendering is a kubectl process each and dominates lint's time: run them together.
        let rendered: Vec<Result<String, LoadError>> = std::thread::scope(|scope| {
            let renders: Vec<_> = kustomizations
                .iter()
                .map(|dir| scope.spawn(move || kustomize(dir)))
                .collect();
            renders
                .into_iter()
                .map(|r| r.join().expect("rendering does not panic"))
                .collect()
        });
        for (dir, text) in kustomizations.iter().zip(rendered) {
            let origin = format!("{} (kustomize)", dir.display());
            loaded.objects.extend(objects_in(&text?, &origin)?);
        }
        if (loaded.objects.len(), loaded.dockerfiles.len()) == before {
            return Err(LoadError::Empty {
                path: input.clone(),
            });
        }
    }
    Ok(loaded)
}

/// Reads `path`; kustomize directories are only collected, for rendering in parallel.
fn load_path(
    path: &Path,
    loaded: &mut Inputs,
    kustomizations: &mut Vec<PathBuf>,
) -> Result<(), LoadError> {
    let metadata = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            LoadError::Missing { path: path.into() }
        } else {
            LoadError::Read {
                path: path.into(),
                source,
            }
        }
    })?;
    if metadata.is_dir() {
        if is_kustomization(path) {
            kustomizations.push(path.to_path_buf());
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|source| LoadError::Read {
                path: path.into(),
                source,
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let hidden = entry
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') || n == "target");
            if hidden {
                continue;
            }
            if entry.is_dir() || is_yaml(&entry) || is_dockerfile(&entry) {
                load_path(&entry, loaded, kustomizations)?;
            }
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.into(),
        source,
    })?;
    if is_dockerfile(path) {
        loaded.dockerfiles.push(Dockerfile {
            path: path.into(),
            text,
        });
    } else if !is_kustomization_file(path) {
        loaded
            .objects
            .extend(objects_in(&text, &path.display().to_string())?);
    }
    Ok(())
}

fn objects_in(text: &str, origin: &str) -> Result<Vec<Object>, LoadError> {
    let documents = yaml::parse_documents(text).map_err(|e| LoadError::Yaml {
        origin: origin.into(),
        message: e.to_string(),
    })?;
    let mut objects = Vec::new();
    for document in documents {
        // A `List` (what `kubectl get -o yaml` prints) holds its objects in `items`.
        if document.get("kind").and_then(Node::as_str) == Some("List") {
            for item in document.get("items").map(Node::items).unwrap_or_default() {
                objects.extend(object(item.clone(), origin));
            }
        } else {
            objects.extend(object(document, origin));
        }
    }
    Ok(objects)
}

/// `None` for documents that are no Kubernetes object (no kind), which lint ignores.
fn object(node: Node, origin: &str) -> Option<Object> {
    let text = |path: &[&str]| node.path(path).and_then(Node::as_str).map(str::to_string);
    Some(Object {
        kind: text(&["kind"])?,
        api_version: text(&["apiVersion"]).unwrap_or_default(),
        name: text(&["metadata", "name"]).unwrap_or_default(),
        namespace: text(&["metadata", "namespace"]),
        origin: origin.into(),
        node,
    })
}

fn kustomize(dir: &Path) -> Result<String, LoadError> {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|source| LoadError::NoKubectl {
            dir: dir.into(),
            source,
        })?;
    if !output.status.success() {
        return Err(LoadError::Kustomize {
            dir: dir.into(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn reads_directories_recursively_with_lists_and_dockerfiles() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a.yaml",
            "kind: Service\napiVersion: v1\nmetadata: {name: web}\n---\nkind: List\nitems:\n  - kind: ConfigMap\n    metadata: {name: cm}\n",
        );
        write(
            dir.path(),
            "nested/b.yml",
            "kind: Deployment\nmetadata:\n  name: web\n  namespace: prod\n",
        );
        write(dir.path(), "notes.txt", "kind: Secret\n");
        write(dir.path(), "app/Dockerfile", "FROM scratch\n");
        write(dir.path(), "values.yaml", "replicas: 3\n");
        let loaded = load(&[dir.path().to_path_buf()]).unwrap();
        let ids: Vec<String> = loaded.objects.iter().map(Object::id).collect();
        assert_eq!(ids, ["Service/web", "ConfigMap/cm", "Deployment/web"]);
        assert_eq!(loaded.objects[2].namespace.as_deref(), Some("prod"));
        assert!(loaded.objects[2].origin.ends_with("nested/b.yml"));
        assert_eq!(loaded.dockerfiles.len(), 1);
    }

    #[test]
    fn errors_say_which_input_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load(&[dir.path().join("nope.yaml")]).unwrap_err();
        assert!(
            missing
                .to_string()
                .ends_with("nope.yaml: no such file or directory")
        );
        let bad = write(dir.path(), "bad.yaml", "kind: [Service\n");
        let error = load(&[bad]).unwrap_err().to_string();
        assert!(error.contains("bad.yaml: malformed YAML"), "{error}");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let error = load(&[empty]).unwrap_err().to_string();
        assert!(error.contains("found no Kubernetes manifests"), "{error}");
    }
}
