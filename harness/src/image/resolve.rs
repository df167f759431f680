//! Which blobs make the image: manifest.json (docker-archive) or index.json (OCI), the
//! platform chosen from a multi-arch index, the config (size and digest checked) and the
//! ordered layers.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::config::{ImageConfig, Platform};
use super::error::ImageError;
use super::source::{Store, hex, normalize};

/// How the image was stored, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `docker save` / `podman save`: manifest.json, configs and layer tars in one tarball.
    DockerArchive,
    /// An OCI image layout in one tarball (`podman save --format oci-archive`, skopeo).
    OciArchive,
    /// An OCI image layout directory (oci-layout, index.json, blobs/).
    OciLayout,
    /// An unpacked `docker save` tarball.
    DockerDirectory,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::DockerArchive => "docker-archive",
            Format::OciArchive => "oci-archive",
            Format::OciLayout => "oci-layout",
            Format::DockerDirectory => "docker-archive directory",
        }
    }
}

/// The digest a blob name carries (`blobs/sha256/<hex>`, or `<hex>.json` in old archives).
fn digest_from_name(name: &str) -> Option<String> {
    let name = normalize(name);
    let hex = if let Some(rest) = name.strip_prefix("blobs/sha256/") {
        rest
    } else {
        name.strip_suffix(".json")?
    };
    is_sha256_hex(hex).then(|| format!("sha256:{hex}"))
}

fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One layer blob of the image, in order from the base.
#[derive(Clone, Debug)]
pub struct LayerRef {
    /// Name in the store (archive member or path under the layout).
    pub name: String,
    /// `sha256:<hex>` of the blob as stored, when the manifest or its name says.
    pub digest: Option<String>,
    /// Size the manifest promises, when it does.
    pub size: Option<u64>,
}

/// The image an input holds, resolved down to its config and layers.
#[derive(Debug)]
pub struct Resolved {
    pub format: Format,
    pub tags: Vec<String>,
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
    /// Why a platform other than the requested default was read, if one was.
    pub platform_note: Option<String>,
}

/// Finds the image in `store`: manifest.json (docker-archive) or index.json (OCI), then the
/// platform's manifest, its config (digest checked) and its layers.
///
/// `platform` is `Some` when the user asked for one: then nothing else is accepted. Without
/// it, linux/amd64 is preferred and an index with a single other platform is read as that.
///
/// # Errors
/// Not an image, missing blobs, malformed JSON, digest or size mismatches, no such platform.
pub fn resolve(store: &Store, platform: Option<&Platform>) -> Result<Resolved, ImageError> {
    let has_manifest = store.contains("manifest.json");
    let has_index = store.contains("index.json");
    let resolved = if has_manifest && (platform.is_none() || !has_index) {
        resolve_docker(store)?
    } else if has_index {
        resolve_oci(store, platform)?
    } else {
        return Err(ImageError::NotAnImage {
            path: store.path().into(),
            reason: match store {
                Store::Tar { .. } => "the archive holds neither manifest.json (docker-archive) nor index.json (OCI)".into(),
                Store::Dir { .. } => "the directory holds neither index.json (OCI image layout) nor manifest.json (an unpacked `docker save`)".into(),
            },
        });
    };
    if let Some(wanted) = platform {
        let actual = resolved.config.platform();
        if !actual.satisfies(wanted) {
            return Err(ImageError::Platform {
                path: store.path().into(),
                message: format!("the image is {actual}, not {wanted}"),
            });
        }
    }
    Ok(resolved)
}

fn invalid(store: &Store, what: &str, message: impl Into<String>) -> ImageError {
    ImageError::Invalid {
        path: store.path().into(),
        what: what.into(),
        message: message.into(),
    }
}

fn resolve_docker(store: &Store) -> Result<Resolved, ImageError> {
    let (_, manifest) = store.read_json("manifest.json", "the manifest")?;
    let images = manifest
        .as_array()
        .ok_or_else(|| invalid(store, "manifest.json", "it is not a list of images"))?;
    let image = match images.as_slice() {
        [one] => one,
        [] => return Err(invalid(store, "manifest.json", "it lists no image")),
        many => {
            let tags: Vec<String> = many
                .iter()
                .flat_map(|i| tags_of(i.get("RepoTags")))
                .collect();
            return Err(invalid(
                store,
                "manifest.json",
                format!(
                    "it holds {} images ({}); save one image per tarball",
                    many.len(),
                    if tags.is_empty() {
                        "untagged".into()
                    } else {
                        tags.join(", ")
                    }
                ),
            ));
        }
    };
    let config_name = image
        .get("Config")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(store, "manifest.json", "its image has no Config"))?;
    let layer_names = image
        .get("Layers")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(store, "manifest.json", "its image has no Layers list"))?;
    let config = read_config(store, config_name, digest_from_name(config_name), None)?;
    let mut layers = Vec::new();
    for name in layer_names {
        let name = name
            .as_str()
            .ok_or_else(|| invalid(store, "manifest.json", "a layer name is not a string"))?;
        layers.push(LayerRef {
            name: name.into(),
            digest: digest_from_name(name),
            size: None,
        });
    }
    let format = match store {
        Store::Tar { .. } => Format::DockerArchive,
        Store::Dir { .. } => Format::DockerDirectory,
    };
    Ok(Resolved {
        format,
        tags: tags_of(image.get("RepoTags")),
        config,
        layers,
        platform_note: None,
    })
}

fn tags_of(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A descriptor: what a manifest or index says about a blob.
#[derive(Clone, Debug)]
struct Descriptor {
    digest: String,
    size: Option<u64>,
    platform: Option<Platform>,
    tag: Option<String>,
    attestation: bool,
}

impl Descriptor {
    fn parse(store: &Store, value: &Value, what: &str) -> Result<Descriptor, ImageError> {
        let digest = value
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(store, what, "a descriptor has no digest"))?;
        let annotations = value.get("annotations");
        let annotation = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let platform = value.get("platform").and_then(Platform::from_json);
        Ok(Descriptor {
            digest: digest.into(),
            size: value.get("size").and_then(Value::as_u64),
            attestation: annotation("vnd.docker.reference.type").as_deref()
                == Some("attestation-manifest")
                || platform
                    .as_ref()
                    .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown"),
            tag: annotation("io.containerd.image.name")
                .or_else(|| annotation("org.opencontainers.image.ref.name")),
            platform,
        })
    }

    fn blob_name(&self) -> Option<String> {
        let (algorithm, hex) = self.digest.split_once(':')?;
        let safe = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        (safe(algorithm) && safe(hex)).then(|| format!("blobs/{algorithm}/{hex}"))
    }
}

/// Reads a small blob by descriptor, checking its size and (sha256) digest.
fn read_descriptor(
    store: &Store,
    descriptor: &Descriptor,
    what: &str,
) -> Result<(Vec<u8>, Value), ImageError> {
    let name = descriptor.blob_name().ok_or_else(|| {
        invalid(
            store,
            what,
            format!("`{}` is not a digest", descriptor.digest),
        )
    })?;
    let (bytes, value) = store.read_json(&name, what)?;
    check_size(store, &name, descriptor.size, bytes.len() as u64)?;
    check_digest(store, &name, Some(&descriptor.digest), &bytes)?;
    Ok((bytes, value))
}

pub fn check_size(
    store: &Store,
    name: &str,
    expected: Option<u64>,
    actual: u64,
) -> Result<(), ImageError> {
    match expected {
        Some(expected) if expected != actual => Err(ImageError::Truncated {
            path: store.path().into(),
            what: name.into(),
            detail: format!("the manifest says {expected} bytes but it has {actual}"),
        }),
        _ => Ok(()),
    }
}

fn check_digest(
    store: &Store,
    name: &str,
    expected: Option<&str>,
    bytes: &[u8],
) -> Result<(), ImageError> {
    let Some(expected_hex) = expected.and_then(|d| d.strip_prefix("sha256:")) else {
        return Ok(());
    };
    let actual = hex(&Sha256::digest(bytes));
    if !actual.eq_ignore_ascii_case(expected_hex) {
        return Err(ImageError::Digest {
            path: store.path().into(),
            name: name.into(),
            expected: format!("sha256:{expected_hex}"),
            actual: format!("sha256:{actual}"),
        });
    }
    Ok(())
}

fn read_config(
    store: &Store,
    name: &str,
    digest: Option<String>,
    size: Option<u64>,
) -> Result<ImageConfig, ImageError> {
    let (bytes, value) = store.read_json(name, "the image config")?;
    check_size(store, name, size, bytes.len() as u64)?;
    check_digest(store, name, digest.as_deref(), &bytes)?;
    ImageConfig::from_json(&value)
        .map_err(|message| invalid(store, &format!("the image config ({name})"), message))
}

fn resolve_oci(store: &Store, platform: Option<&Platform>) -> Result<Resolved, ImageError> {
    let (_, index) = store.read_json("index.json", "the index")?;
    let mut candidates = Vec::new();
    collect_manifests(store, &index, None, &mut candidates, 0)?;
    let chosen = choose(store, &candidates, platform)?;
    let (descriptor, note) = chosen;
    let (_, manifest) = read_descriptor(store, &descriptor, "the image manifest")?;
    let config = manifest
        .get("config")
        .ok_or_else(|| invalid(store, "the image manifest", "it has no config"))
        .and_then(|c| Descriptor::parse(store, c, "the image manifest"))?;
    let config_name = config.blob_name().ok_or_else(|| {
        invalid(
            store,
            "the image manifest",
            "its config digest is malformed",
        )
    })?;
    let image_config = read_config(store, &config_name, Some(config.digest), config.size)?;
    let mut layers = Vec::new();
    for layer in manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(store, "the image manifest", "it has no layers list"))?
    {
        let layer = Descriptor::parse(store, layer, "the image manifest")?;
        layers.push(LayerRef {
            name: layer.blob_name().ok_or_else(|| {
                invalid(store, "the image manifest", "a layer digest is malformed")
            })?,
            digest: Some(layer.digest),
            size: layer.size,
        });
    }
    let format = match store {
        Store::Tar { .. } => Format::OciArchive,
        Store::Dir { .. } => Format::OciLayout,
    };
    Ok(Resolved {
        format,
        tags: descriptor.tag.into_iter().collect(),
        config: image_config,
        layers,
        platform_note: note,
    })
}

/// Flattens nested indexes (an index of indexes, as docker 25+ writes) into image manifests.
fn collect_manifests(
    store: &Store,
    index: &Value,
    inherited_tag: Option<&str>,
    out: &mut Vec<Descriptor>,
    depth: usize,
) -> Result<(), ImageError> {
    if depth > 4 {
        return Err(invalid(store, "index.json", "indexes nest too deeply"));
    }
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(store, "the index", "it has no manifests list"))?;
    for value in manifests {
        let mut descriptor = Descriptor::parse(store, value, "the index")?;
        if descriptor.tag.is_none() {
            descriptor.tag = inherited_tag.map(str::to_string);
        }
        if descriptor.attestation {
            continue;
        }
        let media_type = value.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let nested_index = media_type.ends_with("image.index.v1+json")
            || media_type.ends_with("manifest.list.v2+json");
        if nested_index {
            // Other platforms' blobs are often absent (a single-platform save of a
            // multi-arch image): only an index that is present can be followed.
            if descriptor
                .blob_name()
                .is_some_and(|name| store.contains(&name))
            {
                let (_, nested) = read_descriptor(store, &descriptor, "an image index")?;
                collect_manifests(store, &nested, descriptor.tag.as_deref(), out, depth + 1)?;
            }
        } else {
            out.push(descriptor);
        }
    }
    Ok(())
}

fn choose(
    store: &Store,
    candidates: &[Descriptor],
    platform: Option<&Platform>,
) -> Result<(Descriptor, Option<String>), ImageError> {
    let present: Vec<&Descriptor> = candidates
        .iter()
        .filter(|d| d.blob_name().is_some_and(|name| store.contains(&name)))
        .collect();
    let listing = |list: &[&Descriptor]| -> String {
        let mut names: Vec<String> = list
            .iter()
            .map(|d| {
                d.platform
                    .as_ref()
                    .map_or("an image without platform".into(), ToString::to_string)
            })
            .collect();
        names.dedup();
        names.join(", ")
    };
    let wanted = platform.cloned().unwrap_or_else(Platform::default_target);
    let matching: Vec<&Descriptor> = candidates
        .iter()
        .filter(|d| d.platform.as_ref().is_some_and(|p| p.satisfies(&wanted)))
        .collect();
    if let Some(first) = matching
        .iter()
        .find(|d| present.iter().any(|p| std::ptr::eq(*p, **d)))
    {
        return Ok(((*first).clone(), None));
    }
    if platform.is_some()
        && let Some(first) = matching.first()
    {
        // Asked for by name: reading it reports its blob as missing, which is the truth.
        return Ok(((*first).clone(), None));
    }
    if platform.is_none() {
        // No linux/amd64 entry: an index of one image (with or without a platform) is that
        // image, which is what a user saving a single-arch arm64 image means.
        if let [only] = present.as_slice() {
            let note = only
                .platform
                .as_ref()
                .map(|p| format!("the archive has no {wanted} image; read its only one, {p}"));
            return Ok(((*only).clone(), note));
        }
        if candidates.len() == 1 && candidates[0].platform.is_none() {
            return Ok((candidates[0].clone(), None));
        }
    } else if candidates.len() == 1 && candidates[0].platform.is_none() {
        // An index entry without a platform: the config says (checked by the caller).
        return Ok((candidates[0].clone(), None));
    }
    if candidates.is_empty() {
        return Err(invalid(store, "the index", "it lists no image manifest"));
    }
    Err(ImageError::Platform {
        path: store.path().into(),
        message: format!(
            "it has no {wanted} image (it has {}); choose one with --platform",
            listing(&candidates.iter().collect::<Vec<_>>())
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_come_from_blob_names() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_from_name(&format!("blobs/sha256/{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            digest_from_name(&format!("{hex}.json")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(digest_from_name("abc/layer.tar"), None);
    }
}
